"""Progress bars on standard error with tqdm: what the command line installs
(:mod:`accel_sim._progress`), and what :func:`set_progress` installs for Python users.

* ``set_progress(None)`` ("auto"): bars when standard error is a terminal;
* ``set_progress(True)``: always, also into a file or pipe;
* ``set_progress(False)``: never (the library's default, and ``accel-sim ... -q``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from . import _progress

__all__ = ["progress_enabled", "set_progress", "tqdm_factory"]


def _terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def tqdm_factory(always: bool = False) -> _progress.BarFactory:
    """A factory of tqdm bars on standard error (``always``: also when it is no terminal)."""
    from tqdm import tqdm

    def make(**kwargs: Any) -> Any:
        return tqdm(file=sys.stderr, dynamic_ncols=True,
                    disable=not (always or _terminal()), **kwargs)

    return make


def _factory(enabled: bool | None) -> _progress.BarFactory | None:
    if enabled is not None and not isinstance(enabled, bool):
        from .errors import ConfigError

        raise ConfigError(f"set_progress({enabled!r}): expected True, False or None")
    return None if enabled is False else tqdm_factory(always=bool(enabled))


def set_progress(enabled: bool | None) -> None:
    """Draw progress bars always (``True``), never (``False``, the default) or on a terminal
    (``None``)."""
    _progress.install(_factory(enabled))


@contextlib.contextmanager
def progress_enabled(enabled: bool | None) -> Iterator[None]:
    """The progress setting of :func:`set_progress` for the duration of a ``with`` block."""
    with _progress.installed(_factory(enabled)):
        yield
