"""The device registry: every device, built-in or third-party, comes through the entry-point
group ``accel_sim.devices``, and a device's module is imported only when that device is asked
for.

Built-in devices are declared in accel_sim's own package metadata (``setup.cfg``,
``[options.entry_points]``) exactly like a plug-in's, so there is one list of devices. Classes
can also be registered at run time with :func:`register_device` (tests, notebooks). The
package must be installed (``pip install -e .``) for its entry points to exist.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from . import _device
from ._device import Device
from ._ir import OpKind
from .errors import AccelSimError, ConfigError, UnknownNameError

__all__ = ["ENTRY_POINT_GROUP", "available_devices", "device_names", "devices_measuring",
           "devices_supporting", "get_device", "make_device", "register_device"]

ENTRY_POINT_GROUP = "accel_sim.devices"

_registered: dict[str, type[Device]] = {}  # register_device() and loaded entry points
_load_errors: dict[str, str] = {}
_points: dict[str, EntryPoint] | None = None


def _entry_points() -> dict[str, EntryPoint]:
    """Entry points of the group by name (read once). Where a plug-in reuses a built-in's
    name, the built-in's entry point wins."""
    global _points
    if _points is None:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found and not ep.value.startswith("accel_sim."):
                continue
            found[ep.name] = ep
        _points = found
    return _points


def register_device(cls: type[Device]) -> type[Device]:
    """Register a device class under ``cls.name`` (also usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        raise TypeError(f"{cls!r} is not a Device subclass")
    _registered[cls.name] = cls
    return cls


def _load(name: str) -> type[Device] | None:
    """The class of entry point ``name`` (``None``, with the reason kept, if it fails)."""
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        cls = ep.load()
    except Exception as exc:  # a broken plug-in must not hide the others: reported by name
        _load_errors[name] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"accel_sim device plug-in {name!r} ({ep.value}) failed to load: {exc}",
                      RuntimeWarning, stacklevel=3)
        return None
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        _load_errors[name] = f"{ep.value} is not a Device subclass"
        warnings.warn(f"accel_sim device plug-in {name!r}: {ep.value} is not a Device",
                      RuntimeWarning, stacklevel=3)
        return None
    if cls.name != name:
        _load_errors[name] = f"entry point name differs from {cls.__name__}.name"
        warnings.warn(f"accel_sim device plug-in {name!r}: class name attribute is "
                      f"{cls.name!r}", RuntimeWarning, stacklevel=3)
        return None
    _registered[name] = cls
    return cls


def device_names() -> list[str]:
    """Names of every device, without importing any of them."""
    return sorted(set(_entry_points()) | set(_registered))


def get_device(name: str) -> type[Device]:
    """The device class registered under ``name`` (imports that device's module only)."""
    if not isinstance(name, str):
        raise UnknownNameError(f"a device name must be text (e.g. 'systolic'), got "
                               f"{type(name).__name__}")
    cls = _registered.get(name) or _load(name)
    if cls is not None:
        return cls
    if name in _load_errors:
        raise UnknownNameError(f"device {name!r} failed to load: {_load_errors[name]}")
    raise UnknownNameError(f"unknown device {name!r}; available: "
                           f"{', '.join(device_names())}")


def available_devices() -> dict[str, type[Device]]:
    """Every device that loads, by name (imports all of them)."""
    out = {}
    for name in device_names():
        cls = _registered.get(name) or _load(name)
        if cls is not None:
            out[name] = cls
    return out


def devices_supporting(op: OpKind) -> list[str]:
    """Names of the devices that model op kind ``op``."""
    return sorted(n for n, c in available_devices().items() if op in c.supported_ops)


def devices_measuring(task_type: type) -> list[str]:
    """Names of the devices whose ``supported_tasks`` include ``task_type``."""
    return sorted(n for n, c in available_devices().items()
                  if any(issubclass(task_type, t) for t in c.supported_tasks))


def make_device(device: str | Device | type[Device],
                params: Mapping[str, Any] | None = None) -> Device:
    """A device instance from a name, a class or an instance (``params`` for name/class)."""
    if isinstance(device, Device):
        if params:
            raise AccelSimError("pass parameters in the device's Config, not beside an instance")
        return device
    if isinstance(device, str):
        cls = get_device(device)
    elif isinstance(device, type) and issubclass(device, Device):
        cls = device
    else:
        raise ConfigError(f"device must be a device name (e.g. 'systolic'), a Device class or "
                          f"instance, got {type(device).__name__}")
    return cls.from_params(params)


# Device.require_supported names the devices that fit through this hook (the base class is a
# layer below the registry and does not import it).
_device._devices_supporting = devices_supporting
