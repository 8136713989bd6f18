"""Progress bars for long work: on a terminal by default, silent otherwise or when switched off.

Library code that can run for more than a few seconds wraps its loop in :func:`track` or
:func:`progress_bar` (tqdm on standard error). Whether bars are drawn is one setting:

* ``None`` (default, "auto"): only when standard error is a terminal;
* ``False``: never (``accel-sim ... -q``, or ``accel_sim.set_progress(False)``);
* ``True``: always, also into a file or pipe.

The setting is a context variable, so :func:`progress_enabled` changes it for a block only.
Only the outermost bar is drawn: a loop that runs inside another one's bar (a serving
simulation inside a reproduction, the exact memory model inside an exploration) stays silent,
so bars never stack up.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["progress_bar", "progress_enabled", "set_progress", "show_progress", "track"]

_SETTING: ContextVar[bool | None] = ContextVar("accel_sim_progress", default=None)
T = TypeVar("T")
_OPEN = [0]  # bars being drawn in this process
_BAR_CLASS: list[type] = []


def set_progress(enabled: bool | None) -> None:
    """Draw progress bars always (``True``), never (``False``) or on a terminal (``None``)."""
    if enabled is not None and not isinstance(enabled, bool):
        from .errors import ConfigError

        raise ConfigError(f"set_progress({enabled!r}): expected True, False or None")
    _SETTING.set(enabled)


@contextlib.contextmanager
def progress_enabled(enabled: bool | None) -> Iterator[None]:
    """The progress setting for the duration of a ``with`` block."""
    token = _SETTING.set(enabled)
    try:
        yield
    finally:
        _SETTING.reset(token)


def show_progress() -> bool:
    """Whether a progress bar started now would be drawn."""
    setting = _SETTING.get()
    if setting is not None:
        return setting
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def _bar_class() -> type:
    """tqdm that counts the bars being drawn (an inner bar stays hidden)."""
    if not _BAR_CLASS:
        from tqdm import tqdm

        class _Bar(tqdm):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._counted = not self.disable
                if self._counted:
                    _OPEN[0] += 1

            def close(self) -> None:
                if getattr(self, "_counted", False):
                    self._counted = False
                    _OPEN[0] -= 1
                super().close()

        _BAR_CLASS.append(_Bar)
    return _BAR_CLASS[0]


def _draw() -> bool:
    return _OPEN[0] == 0 and show_progress()


def progress_bar(total: float | None = None, *, desc: str = "", unit: str = "it",
                 leave: bool = False, **kwargs: Any) -> Any:
    """A tqdm bar on standard error, disabled unless :func:`show_progress` and no other bar is
    being drawn (use as a context manager; ``update(n)`` advances it)."""
    return _bar_class()(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                        disable=not _draw(), dynamic_ncols=True, **kwargs)


def track(iterable: Iterable[T], *, total: float | None = None, desc: str = "",
          unit: str = "it", leave: bool = False) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar (see :func:`progress_bar`)."""
    if not _draw():
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, desc=desc, unit=unit, leave=leave) as bar:
        for item in iterable:
            yield item
            bar.update(1)
