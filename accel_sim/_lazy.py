"""Packages whose public names load on first use (PEP 562): importing one module of a
package (``accel_sim.explore._spec`` for the CLI's flags) does not import the rest of it."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


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
