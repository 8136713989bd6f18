"""The device registry: every device, built-in or third-party, comes through the entry-point
group ``accel_sim.devices``, and a device's module is imported only when that device is asked
for.

Built-in devices are declared in accel_sim's own package metadata (``setup.cfg``,
``[options.entry_points]``) exactly like a plug-in's, so there is one list of devices. Classes
can also be registered at run time with :func:`register_device` (tests, notebooks). The
package must be installed (``pip install -e .``) for its entry points to exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _device
from ._device import Device
from ._ir import OpKind
from ._lazy import PluginGroup
from .errors import AccelSimError, ConfigError, UnknownNameError

__all__ = ["ENTRY_POINT_GROUP", "available_devices", "device_names", "devices_measuring",
           "devices_supporting", "get_device", "make_device", "register_device"]

ENTRY_POINT_GROUP = "accel_sim.devices"

_registered: dict[str, type[Device]] = {}  # register_device()


def _device_class(name: str, obj: Any) -> type[Device]:
    """What a device entry point names, checked."""
    if not (isinstance(obj, type) and issubclass(obj, Device)):
        raise TypeError(f"{obj!r} is not a Device subclass")
    if obj.name != name:
        raise TypeError(f"its class's name attribute is {obj.name!r}")
    return obj


_PLUGINS: PluginGroup[type[Device]] = PluginGroup(ENTRY_POINT_GROUP, "accel_sim.", "device",
                                                  _device_class)


def register_device(cls: type[Device]) -> type[Device]:
    """Register a device class under ``cls.name`` (also usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Device)):
        raise TypeError(f"{cls!r} is not a Device subclass")
    _registered[cls.name] = cls
    return cls


def _lookup(name: str) -> type[Device] | None:
    return _registered.get(name) or _PLUGINS.get(name)


def device_names() -> list[str]:
    """Names of every device, without importing any of them."""
    return sorted(set(_PLUGINS.points()) | set(_registered))


def get_device(name: str) -> type[Device]:
    """The device class registered under ``name`` (imports that device's module only)."""
    if not isinstance(name, str):
        raise UnknownNameError(f"a device name must be text (e.g. 'systolic'), got "
                               f"{type(name).__name__}")
    cls = _lookup(name)
    if cls is not None:
        return cls
    if name in _PLUGINS.errors:
        raise UnknownNameError(f"device {name!r} failed to load: {_PLUGINS.errors[name]}")
    raise UnknownNameError(f"unknown device {name!r}; available: "
                           f"{', '.join(device_names())}")


def available_devices() -> dict[str, type[Device]]:
    """Every device that loads, by name (imports all of them)."""
    out = {}
    for name in device_names():
        cls = _lookup(name)
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
