"""Loading on first use: packages whose public names load when asked for (PEP 562: importing
one module of a package, ``accel_sim.explore._spec`` for the CLI's flags, does not import the
rest of it), and entry-point groups whose plug-ins load when asked for (:class:`PluginGroup`,
behind the device and workload registries)."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

__all__ = ["PluginGroup", "lazy_names"]

T = TypeVar("T")


def lazy_names(package: str, names: Mapping[str, str],
               moved: Mapping[str, tuple[str, str]] | None = None
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: The package's ``__name__``.
        names: Public name -> submodule (relative, e.g. ``"_run"``) that defines it.
        moved: Deprecated name -> (module that now defines it, its new home for the warning).
    """
    moved = dict(moved or {})

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(f".{names[name]}", package), name)
            vars(sys.modules[package])[name] = value  # later lookups are plain reads
            return value
        if name in moved:
            module, new = moved[name]
            warnings.warn(f"{package}.{name} is deprecated; use {new}", DeprecationWarning,
                          stacklevel=2)
            return getattr(importlib.import_module(module), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__


class PluginGroup(Generic[T]):
    """The entry points of group ``group`` by name, each loaded on first use.

    Where a plug-in reuses a built-in's name (an entry point whose value starts with
    ``builtin``), the built-in wins. ``make(name, loaded object)`` turns what an entry point
    names into the registered value, raising when it is not one. A plug-in that fails to load
    is remembered with the reason (:attr:`errors`) and reported with a ``RuntimeWarning``
    naming it (errors of a ``quiet`` type are only remembered), so a broken plug-in does not
    hide the others.
    """

    def __init__(self, group: str, builtin: str, kind: str, make: Callable[[str, Any], T],
                 quiet: tuple[type[Exception], ...] = ()) -> None:
        self.group, self.builtin, self.kind, self.make, self.quiet = (group, builtin, kind,
                                                                      make, quiet)
        self.loaded: dict[str, T] = {}
        self.errors: dict[str, str] = {}
        self._points: dict[str, EntryPoint] | None = None

    def points(self) -> dict[str, EntryPoint]:
        """The group's entry points by name (read once)."""
        if self._points is None:
            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=self.group):
                if ep.name in found and not ep.value.startswith(self.builtin):
                    continue  # a plug-in reusing a built-in's name: the built-in wins
                found[ep.name] = ep
            self._points = found
        return self._points

    def get(self, name: str) -> T | None:
        """The value of entry point ``name`` (``None``: no such entry point, or it failed to
        load; the reason is then in :attr:`errors`)."""
        hit = self.loaded.get(name)
        if hit is not None:
            return hit
        ep = self.points().get(name)
        if ep is None:
            return None
        try:
            value = self.make(name, ep.load())
        except self.quiet as exc:
            self.errors[name] = str(exc)
            return None
        except Exception as exc:  # a broken plug-in must not hide the others: reported by name
            self.errors[name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"accel_sim {self.kind} plug-in {name!r} ({ep.value}) failed to "
                          f"load: {exc}", RuntimeWarning, stacklevel=3)
            return None
        self.loaded[name] = value
        return value
