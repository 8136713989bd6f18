"""Progress of long work, reported through a callback the application installs.

Library code that can run for more than a few seconds wraps its loop in :func:`track` or
:func:`progress_bar`. What that shows is up to the application: it installs a *bar factory*
(:func:`install`; the command line installs tqdm bars on standard error, see
:mod:`accel_sim._progress_tqdm`). With none installed, the default, nothing is shown: library
code has no output of its own.

The factory is held in a context variable, so :func:`installed` changes it for a block only.
Only the outermost bar is shown: a loop inside another one's bar (a serving simulation inside
a reproduction, the exact memory model inside an exploration) reports nothing, so bars never
stack up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

__all__ = ["Bar", "BarFactory", "current", "install", "installed", "progress_bar", "reporting",
           "track"]

T = TypeVar("T")


class Bar(Protocol):
    """What a progress bar offers the library (tqdm's names)."""

    disable: bool
    n: float
    postfix: Any

    def update(self, n: float = 1) -> Any: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...
    def refresh(self) -> Any: ...
    def close(self) -> Any: ...
    def __enter__(self) -> Bar: ...
    def __exit__(self, *exc: Any) -> Any: ...


#: ``factory(total=..., desc=..., unit=..., leave=..., initial=...) -> Bar``.
BarFactory = Callable[..., Bar]


class _NullBar:
    """A bar that shows nothing (no factory installed, or an inner loop)."""

    disable = True
    postfix: Any = None

    def __init__(self, total: float | None = None, initial: float = 0, **_: Any) -> None:
        self.total, self.n = total, initial

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s or None

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_FACTORY: ContextVar[BarFactory | None] = ContextVar("accel_sim_progress", default=None)
_OPEN = [0]  # bars being shown in this process


def install(factory: BarFactory | None) -> None:
    """Show progress with ``factory`` from now on (``None``: show nothing)."""
    _FACTORY.set(factory)


@contextlib.contextmanager
def installed(factory: BarFactory | None) -> Iterator[None]:
    """``factory`` for the duration of a ``with`` block."""
    token = _FACTORY.set(factory)
    try:
        yield
    finally:
        _FACTORY.reset(token)


def current() -> BarFactory | None:
    """The installed factory (``None``: none)."""
    return _FACTORY.get()


def reporting() -> bool:
    """Whether a bar started now would be shown."""
    return _OPEN[0] == 0 and _FACTORY.get() is not None


class _Counted:
    """Wraps a shown bar so that the bars inside it stay silent until it closes."""

    def __init__(self, bar: Bar) -> None:
        self._bar = bar
        self._open = True
        _OPEN[0] += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_bar", "_open"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._bar, name, value)

    def close(self) -> None:
        if self._open:
            self._open = False
            _OPEN[0] -= 1
        self._bar.close()

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: float | None = None, *, desc: str = "", unit: str = "it",
                 leave: bool = False, initial: float = 0) -> Any:
    """A bar from the installed factory, or a silent one (use as a context manager;
    ``update(n)`` advances it)."""
    factory = _FACTORY.get()
    if factory is None or _OPEN[0]:
        return _NullBar(total=total, initial=initial)
    bar = factory(total=total, desc=desc, unit=unit, leave=leave, initial=initial)
    if getattr(bar, "disable", False):
        return bar
    return _Counted(bar)


def track(iterable: Iterable[T], *, total: float | None = None, desc: str = "",
          unit: str = "it", leave: bool = False) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar (see :func:`progress_bar`)."""
    if not reporting():
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, desc=desc, unit=unit, leave=leave) as bar:
        for item in iterable:
            yield item
            bar.update(1)
