"""Cartesian sweeps of device parameters, parallel over processes, vectorised per chunk."""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ._device import Device, get_device
from ._ir import Trace
from ._params import Config
from .errors import ConfigError

__all__ = ["grid_configs", "run_sweep", "write_rows_csv"]


def grid_configs(device: type[Device], grid: Mapping[str, Sequence[Any]],
                 fixed: Mapping[str, Any] | None = None) -> list[Config]:
    """Validated configurations of the cartesian product of ``grid`` (plus ``fixed``).

    Values may be strings (parsed by each parameter's declaration) or Python values.
    """
    fixed = dict(fixed or {})
    cfg_cls = device.Config
    for key in list(grid) + list(fixed):
        cfg_cls.spec(key)
    overlap = set(grid) & set(fixed)
    if overlap:
        raise ConfigError(f"parameter(s) {', '.join(sorted(overlap))} given both in the grid "
                          "and as fixed values")

    def conv(key: str, v: Any) -> Any:
        spec = cfg_cls.spec(key)
        return spec.parse(v, device.name) if isinstance(v, str) else spec.validate(v,
                                                                                   device.name)

    keys = list(grid)
    values = []
    for k in keys:
        vals = [conv(k, v) for v in grid[k]]
        if not vals:
            raise ConfigError(f"--grid {k}= has no values")
        values.append(vals)
    base = {k: conv(k, v) for k, v in fixed.items()}
    return [cfg_cls(**base, **dict(zip(keys, combo, strict=True)))
            for combo in itertools.product(*values)]


# ---------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(device_name: str, trace: Trace) -> None:
    from ._progress import set_progress

    set_progress(False)  # the parent draws the bar
    _WORKER["device"] = get_device(device_name)
    _WORKER["trace"] = trace


def _eval_chunk(configs: list[Config]) -> list[dict[str, Any]]:
    return _rows(_WORKER["device"], _WORKER["trace"], configs)


def _rows(device: type[Device], trace: Trace, configs: Sequence[Config]) -> list[dict[str, Any]]:
    reports = device(configs[0]).evaluate_many(trace, configs)
    return [{**c.to_dict(), **r.summary()} for c, r in zip(configs, reports, strict=True)]


def run_sweep(trace: Trace, device: type[Device], configs: Sequence[Config], *,
              jobs: int | None = None, chunk_size: int | None = None,
              progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Evaluate ``trace`` for every config; rows hold the parameters then the summary metrics.

    Args:
        jobs: Worker processes (``None``: all cores; 1: in this process).
        chunk_size: Configurations per task (``None``: about 4 tasks per worker, at most 2000).
        progress: Called with the number of configurations finished after each chunk.
    """
    if not configs:
        return []
    jobs = (os.cpu_count() or 1) if jobs is None else max(1, jobs)
    n = len(configs)
    if chunk_size is None:
        chunk_size = max(1, min(2000, -(-n // (4 * jobs))))
    chunks = [list(configs[i:i + chunk_size]) for i in range(0, n, chunk_size)]
    rows: list[dict[str, Any]] = []
    if jobs == 1 or len(chunks) == 1:
        for ch in chunks:
            rows.extend(_rows(device, trace, ch))
            if progress:
                progress(len(ch))
        return rows
    with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), initializer=_init_worker,
                             initargs=(device.name, trace)) as pool:
        for ch, out in zip(chunks, pool.map(_eval_chunk, chunks), strict=True):
            rows.extend(out)
            if progress:
                progress(len(ch))
    return rows


def write_rows_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write dict rows to CSV with the union of keys as header (first-seen order)."""
    keys: list[str] = []
    seen: set[str] = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    parent = os.path.dirname(os.fspath(path))
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
