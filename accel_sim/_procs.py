"""Worker processes that die with their parent, and signals that stop a run cleanly.

* :func:`die_with_parent` (first call in every worker process): on Linux the kernel sends the
  worker SIGKILL when its parent exits, however the parent ends (SIGKILL included), so no
  worker outlives the command that started it. Elsewhere it only checks that the parent is
  still there at start.
* :func:`interruptible`: within the block, SIGINT (Ctrl-C) and SIGTERM raise
  :class:`~accel_sim.errors.Interrupted` in the main thread, so that cleanup code (``finally``,
  ``except Interrupted``) runs; the previous handlers are restored afterwards.
* :func:`deferred_interrupts`: a critical section (e.g. one write to a study) that a signal
  does not cut in half: the interruption is raised when the section ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from .errors import Interrupted

__all__ = ["children_start_blocked", "deferred_interrupts", "die_with_parent", "interruptible",
           "unblock_stop_signals", "worker_signals"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have this process killed (SIGKILL) when its parent exits.

    Args:
        parent_pid: The parent's pid as the parent saw it; if this process has already been
            re-parented (the parent died before this call), it exits at once.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone


def worker_signals(parent_pid: int | None = None) -> None:
    """Set up a pool worker: dies with its parent, ignores Ctrl-C (the parent stops the
    pool), ends at once on SIGTERM; then takes the signals :func:`children_start_blocked`
    held back."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    unblock_stop_signals()


@contextlib.contextmanager
def children_start_blocked() -> Iterator[None]:
    """Start child processes inside this block: SIGINT and SIGTERM are blocked in the calling
    thread, and the mask is inherited across ``fork`` and ``exec``, so a Ctrl-C during a
    child's start-up (Python importing its modules) waits until the child has installed its
    own handlers and calls :func:`unblock_stop_signals`, instead of printing a traceback. In
    this process a signal that arrived meanwhile is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    # multiprocessing's resource tracker, started on first use, unblocks SIGINT and SIGTERM
    # in the calling thread after spawning itself (CPython 3.10/3.11): start it first
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unblock_stop_signals() -> None:
    """Take SIGINT and SIGTERM again (in a child started by :func:`children_start_blocked`,
    once its handlers are set)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


class _Guard(threading.local):
    depth = 0
    pending: int | None = None


_guard = _Guard()


def _raise(signum: int, frame: FrameType | None) -> None:
    if _guard.depth:
        if _guard.pending is None:
            _guard.pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only;
    elsewhere the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for s in _STOP_SIGNALS:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A section no signal cuts short: an interruption inside is raised at its end (only
    where :func:`interruptible` handlers are installed)."""
    _guard.depth += 1
    try:
        yield
    finally:
        _guard.depth -= 1
        if _guard.depth == 0 and _guard.pending is not None:
            signum, _guard.pending = _guard.pending, None
            raise Interrupted(signum)
