"""Memory guard: refuse work whose memory, computed beforehand, exceeds what is available.

Models whose arrays grow with a layer's size (the exact SCALE-Sim memory model builds demand
matrices of cycles x array width; the MoE kernel of the serving devices keeps one entry per
expert) estimate their peak memory before allocating and call :func:`require_memory`, which
raises a one-line :class:`~accel_sim.errors.ResourceError` with the estimate, what is
available and what to do instead, rather than letting numpy die with ``Unable to allocate``
(or the machine swap).

Available memory is ``MemAvailable`` of ``/proc/meminfo`` (Linux: memory that new allocations
can get without swapping, page cache included); elsewhere ``os.sysconf`` free physical pages
(``SC_AVPHYS_PAGES`` x ``SC_PAGE_SIZE``); if neither can be read the check is skipped.
"""

from __future__ import annotations

import os

from .errors import ResourceError

__all__ = ["available_memory", "require_memory"]

GIB = float(2**30)


def available_memory() -> int | None:
    """Bytes of memory available to this process now, or ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    parts = line.split()
                    scale = 1024 if len(parts) > 2 and parts[2].lower() == "kb" else 1
                    return int(parts[1]) * scale
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    if pages < 0 or size <= 0:
        return None
    return int(pages) * int(size)


def require_memory(estimate_bytes: float, what: str, instead: str) -> None:
    """Raise :class:`ResourceError` if ``estimate_bytes`` exceed the available memory.

    Args:
        estimate_bytes: Peak memory the work would allocate, B.
        what: What needs it, naming the layer (``"layer 'conv1': the exact SCALE-Sim memory
            model"``).
        instead: What the user can do instead (``"use memory_model=analytic"``).
    """
    avail = available_memory()
    if avail is None or estimate_bytes <= avail:
        return
    raise ResourceError(f"{what} needs about {estimate_bytes / GIB:,.1f} GiB of memory, "
                        f"{avail / GIB:,.1f} GiB available; {instead}")
