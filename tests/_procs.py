"""Process helpers of the fault tests (Linux ``/proc``): descendants of a process, whether a
process is alive (not a zombie), and polling until a condition holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def descendants(pid: int) -> set[int]:
    """Live descendant pids of ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (exists and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(cond: Callable[[], bool], timeout: float = 120.0, step: float = 0.2) -> bool:
    """Poll ``cond`` every ``step`` s until it holds (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def none_alive(family: set[int], timeout: float = 10.0) -> bool:
    """Whether every process of ``family`` has exited within ``timeout`` s."""
    return wait_for(lambda: not any(alive(p) for p in family), timeout, 0.05)
