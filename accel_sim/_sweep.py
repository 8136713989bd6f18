"""Cartesian sweeps of device parameters: counted before they run, never materialised,
streamed in order, parallel over processes and vectorised per chunk.

A :class:`Grid` holds the validated values of each swept parameter and knows its size
without building a configuration; :func:`iter_sweep` evaluates it chunk by chunk (at most a
few chunks in flight, so memory does not grow with the grid) and :func:`run_sweep` collects
the rows. Worker processes die with their parent and ignore Ctrl-C: the parent stops them.
"""

from __future__ import annotations

import collections
import csv
import itertools
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._device import Device
from ._ir import Trace
from ._params import Config
from .errors import AccelSimError, ConfigError

__all__ = ["DEFAULT_MAX_POINTS", "Grid", "grid_configs", "iter_sweep", "run_sweep",
           "write_rows_csv"]

#: Largest grid ``accel-sim sweep`` runs without ``--max-points``.
DEFAULT_MAX_POINTS = 1_000_000


def _device_class(device: Any) -> type[Device]:
    """A device class, or a device name resolved to its class (anything else: an error)."""
    if isinstance(device, str):
        from ._registry import get_device

        return get_device(device)
    if not (isinstance(device, type) and issubclass(device, Device)):
        raise ConfigError(f"sweep: device must be a Device class, got {device!r}")
    return device


def _values(device: type[Device], key: str, raw: Any) -> Any:
    spec = device.Config.spec(key)
    if isinstance(raw, str):
        return spec.parse(raw, device.name)
    return spec.validate(raw, device.name)


@dataclass(frozen=True)
class Grid:
    """The cartesian product of parameter values of one device, plus fixed values.

    Attributes:
        device: The device class.
        keys: Swept parameter names, in order (the last one varies fastest).
        values: Validated values of each swept parameter.
        fixed: Validated values of the fixed parameters.
    """

    device: type[Device]
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    fixed: Mapping[str, Any]

    @classmethod
    def build(cls, device: type[Device], grid: Mapping[str, Sequence[Any]],
              fixed: Mapping[str, Any] | None = None) -> Grid:
        """Validate every value (strings are parsed by each parameter's declaration)."""
        device = _device_class(device)
        if not isinstance(grid, Mapping):
            raise ConfigError(f"sweep: the grid must map parameter names to value lists, "
                              f"got {type(grid).__name__}")
        fixed = dict(fixed or {})
        for key in list(grid) + list(fixed):
            device.Config.spec(key)  # unknown names list the known ones
        overlap = set(grid) & set(fixed)
        if overlap:
            raise ConfigError(f"parameter(s) {', '.join(sorted(overlap))} given both in the "
                              "grid and as fixed values")
        keys = tuple(grid)
        values = []
        for k in keys:
            raw = grid[k]
            if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
                raise ConfigError(f"--grid {k}: expected a list of values, got {raw!r}")
            vals: list[Any] = []
            for v in raw:
                parsed = _values(device, k, v)
                if parsed in vals:
                    raise ConfigError(f"--grid {k}: value {v!r} is given twice")
                vals.append(parsed)
            if not vals:
                raise ConfigError(f"--grid {k}= has no values")
            values.append(tuple(vals))
        base = {k: _values(device, k, v) for k, v in fixed.items()}
        return cls(device, keys, tuple(values), base)

    @property
    def size(self) -> int:
        """Number of configurations (an exact Python integer, however large)."""
        return math.prod(len(v) for v in self.values)

    def shape(self) -> str:
        """``rows 4 x cols 3 = 12 points``."""
        dims = " x ".join(f"{k} {len(v)}" for k, v in zip(self.keys, self.values, strict=True))
        return f"{dims} = {self.size:,} points"

    def points(self) -> Iterator[tuple[Any, ...]]:
        """The value tuples in order (lazily)."""
        return itertools.product(*self.values)

    def config(self, point: Sequence[Any]) -> Config:
        """The validated configuration of one value tuple (cross-field rules raise
        :class:`ConfigError` naming the combination)."""
        values = dict(zip(self.keys, point, strict=True))
        try:
            return self.device.Config(**self.fixed, **values)
        except ConfigError as exc:
            combo = ", ".join(f"{k}={v}" for k, v in values.items())
            raise ConfigError(f"grid point ({combo}): {exc}") from None

    def configs(self) -> Iterator[Config]:
        """Every configuration, built one at a time."""
        return (self.config(p) for p in self.points())


def grid_configs(device: type[Device], grid: Mapping[str, Sequence[Any]],
                 fixed: Mapping[str, Any] | None = None, *,
                 max_points: int = DEFAULT_MAX_POINTS) -> list[Config]:
    """Validated configurations of the cartesian product of ``grid`` (plus ``fixed``), as a
    list; grids above ``max_points`` are refused (iterate :meth:`Grid.configs` instead)."""
    g = Grid.build(device, grid, fixed)
    if g.size > max_points:
        raise ConfigError(f"the grid has {g.shape()}, more than max_points={max_points:,}")
    return list(g.configs())


# ---------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _init_worker(device: type[Device], trace: Trace, grid: Grid | None) -> None:
    # never raise here: multiprocessing.Pool would start a new worker forever
    try:
        from . import _progress
        from ._procs import worker_signals

        worker_signals()  # a forkserver's child: dies with the forkserver, which exits
        _progress.install(None)  # with this process; the parent draws the bar
        _WORKER.update(device=device, trace=trace, grid=grid)
    except BaseException as exc:  # reported by the first task instead
        _WORKER["error"] = exc


def _ready(_: int) -> bool:
    return "error" not in _WORKER


def _eval_chunk(items: list[Any]) -> list[dict[str, Any]]:
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _chunk_rows(_WORKER["device"], _WORKER["trace"], _WORKER["grid"], items)


def _rows(device: type[Device], trace: Trace, configs: Sequence[Config]) -> list[dict[str, Any]]:
    reports = device(configs[0]).evaluate_many(trace, configs)
    return [{**c.to_dict(), **r.summary()} for c, r in zip(configs, reports, strict=True)]


def _chunk_rows(device: type[Device], trace: Trace, grid: Grid | None,
                items: list[Any]) -> list[dict[str, Any]]:
    """The rows of one chunk of grid points or configurations (in this process, a pool
    worker or a Dask worker, which imports accel_sim like any module)."""
    return _rows(device, trace, [grid.config(p) for p in items] if grid is not None else items)


def _check_jobs(jobs: int | None) -> int:
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"-j/--jobs {jobs!r}: must be an integer >= 1 (default: all cores)")
    return jobs


def _work(trace: Trace, device: Any, configs: Sequence[Config] | Grid
          ) -> tuple[type[Device], Grid | None, Iterator[Any], int]:
    """A sweep's device class, grid (or ``None``), items (grid points or configurations) and
    count, the arguments checked."""
    if not isinstance(trace, Trace):
        raise ConfigError(f"sweep: trace must be an accel_sim.Trace, got {type(trace).__name__}")
    device = _device_class(device)
    if isinstance(configs, Grid):
        return device, configs, configs.points(), configs.size
    given = list(configs)
    for c in given:
        if not isinstance(c, device.Config):
            raise ConfigError(f"sweep: configurations of {device.name!r} must be "
                              f"{device.Config.__name__}, got {type(c).__name__}")
    return device, None, iter(given), len(given)


def _default_chunk(n: int, workers: int) -> int:
    """Configurations per task: about 4 tasks per worker, at most 2000."""
    return max(1, min(2000, -(-n // (4 * workers))))


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to ``size`` items, in order."""
    return iter(lambda: list(itertools.islice(items, size)), [])


def iter_sweep(trace: Trace, device: type[Device], configs: Sequence[Config] | Grid, *,
               jobs: int | None = None, chunk_size: int | None = None,
               scheduler: str | None = None) -> Iterator[list[dict[str, Any]]]:
    """Evaluate ``trace`` for every configuration; yields the rows chunk by chunk, in order.

    Rows hold the parameters then the summary metrics. ``configs`` is a sequence of
    configurations or a :class:`Grid` (whose configurations are built in the workers).

    Args:
        jobs: Worker processes (``None``: all cores; 1: in this process). Not used with
            ``scheduler``.
        chunk_size: Configurations per task (``None``: about 4 tasks per worker, at most 2000).
        scheduler: Address of a running Dask distributed scheduler (``tcp://HOST:PORT``): the
            chunks run on its workers (extra ``dask``); same rows, same order.
    """
    device, grid, items, n = _work(trace, device, configs)
    if scheduler is not None:
        yield from _iter_dask(trace, device, grid, items, n, scheduler, chunk_size)
        return
    jobs = _check_jobs(jobs)
    if n == 0:
        return
    if chunk_size is None:
        chunk_size = _default_chunk(n, jobs)
    chunks = _chunks(items, chunk_size)
    if jobs == 1 or n <= chunk_size:
        for ch in chunks:
            yield _chunk_rows(device, trace, grid, ch)
        return
    import multiprocessing

    ctx = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    if ctx.get_start_method() == "forkserver":  # workers fork with these already imported
        ctx.set_forkserver_preload(["accel_sim._sweep", device.__module__])
    workers = min(jobs, -(-n // chunk_size))
    from ._procs import children_start_blocked, deferred_interrupts

    # a signal while the pool starts is raised once it exists (and so can be terminated);
    # the workers take it only after their own handlers are set
    pool = None
    try:
        with deferred_interrupts(), children_start_blocked():
            pool = ctx.Pool(workers, initializer=_init_worker, initargs=(device, trace, grid))
        pool.map(_ready, range(workers), chunksize=1)
        pending: collections.deque[Any] = collections.deque()
        for ch in itertools.islice(chunks, 2 * workers):
            pending.append(pool.apply_async(_eval_chunk, (ch,)))
        while pending:
            rows = pending.popleft().get()
            for ch in itertools.islice(chunks, 1):
                pending.append(pool.apply_async(_eval_chunk, (ch,)))
            yield rows
        pool.close()
    except BaseException:
        if pool is not None:
            pool.terminate()  # Ctrl-C, SIGTERM, an error in a chunk: stop every worker now
        raise
    finally:
        if pool is not None:
            pool.join()


#: Seconds to wait for the Dask scheduler, and for its first worker.
DASK_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^tcp://[^\s/:]+:\d{1,5}$")


def _iter_dask(trace: Trace, device: type[Device], grid: Grid | None, items: Iterator[Any],
               n: int, scheduler: str, chunk_size: int | None
               ) -> Iterator[list[dict[str, Any]]]:
    """:func:`iter_sweep` on a Dask distributed cluster: chunks submitted a few per worker
    thread ahead, their rows yielded in submission order; on any exit the pending chunks are
    cancelled (the cluster's workers belong to the user and keep running)."""
    if not isinstance(scheduler, str) or not _ADDRESS.match(scheduler):
        raise ConfigError(f"--scheduler {scheduler!r}: expected the address of a Dask "
                          "scheduler, tcp://HOST:PORT")
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs Dask distributed: pip install "
                          "'accel-sim[dask]'") from None
    if n == 0:
        return
    try:
        client = Client(scheduler, timeout=DASK_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"--scheduler {scheduler}: cannot reach the Dask scheduler within "
                          f"{DASK_TIMEOUT_S:g} s ({type(exc).__name__})") from None
    pending: collections.deque[Any] = collections.deque()
    try:
        try:
            client.wait_for_workers(1, timeout=DASK_TIMEOUT_S)
        except TimeoutError:
            raise ConfigError(f"--scheduler {scheduler}: no Dask worker joined within "
                              f"{DASK_TIMEOUT_S:g} s (start some with: dask worker "
                              f"{scheduler})") from None
        threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
        threads = max(1, threads)
        if chunk_size is None:
            chunk_size = _default_chunk(n, threads)
        chunks = _chunks(items, chunk_size)
        trace_f, grid_f = client.scatter([trace, grid], broadcast=True)
        for ch in itertools.islice(chunks, 2 * threads):
            pending.append(client.submit(_chunk_rows, device, trace_f, grid_f, ch, pure=False))
        while pending:
            rows = pending.popleft().result()
            for ch in itertools.islice(chunks, 1):
                pending.append(client.submit(_chunk_rows, device, trace_f, grid_f, ch,
                                             pure=False))
            yield rows
    finally:
        for fut in pending:
            fut.cancel()
        client.close()


def run_sweep(trace: Trace, device: type[Device], configs: Sequence[Config] | Grid, *,
              jobs: int | None = None, chunk_size: int | None = None,
              progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Evaluate ``trace`` for every config; rows hold the parameters then the summary metrics.

    Args:
        jobs: Worker processes (``None``: all cores; 1: in this process).
        chunk_size: Configurations per task (``None``: about 4 tasks per worker, at most 2000).
        progress: Called with the number of configurations finished after each chunk.
    """
    rows: list[dict[str, Any]] = []
    for chunk in iter_sweep(trace, device, configs, jobs=jobs, chunk_size=chunk_size):
        rows.extend(chunk)
        if progress:
            progress(len(chunk))
    return rows


# ---------------------------------------------------------------------- CSV
def write_rows_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write dict rows to CSV with the union of keys as header (first-seen order)."""
    with RowWriter(path) as w:
        w.write(rows)


class RowWriter:
    """Rows streamed to a CSV file as they come (a context manager).

    The header is the union of the keys, in first-seen order. Rows go to ``PATH.part`` and
    the file is renamed to ``PATH`` when the writer closes (also after an interruption, so
    completed rows are kept); after an error other than an interruption the partial file is
    removed. A key first seen after the header was written makes the file be rewritten once
    at the end with the full header.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.tmp = self.path + ".part"
        self.keys: list[str] = []
        self._seen: set[str] = set()
        self._late = False
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._fh = open(self.tmp, "w", newline="")  # noqa: SIM115 (closed in close())
        self._w: csv.DictWriter | None = None

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows."""
        rows = list(rows)
        for r in rows:
            for k in r:
                if k not in self._seen:
                    self._seen.add(k)
                    self.keys.append(k)
                    self._late = self._late or self._w is not None
        if self._w is None:
            self._w = csv.DictWriter(self._fh, fieldnames=list(self.keys), restval="",
                                     extrasaction="ignore")
            self._w.writeheader()
        if self._late:  # keep every value: write the late keys' rows in full at the end
            self._w.fieldnames = list(self.keys)
        self._w.writerows(rows)

    def close(self, keep: bool = True) -> None:
        """Finish the file (``keep=False``: remove it)."""
        if self._fh.closed:
            return
        if self._w is None:
            csv.DictWriter(self._fh, fieldnames=self.keys or ["config"]).writeheader()
        self._fh.close()
        if not keep:
            os.unlink(self.tmp)
            return
        if self._late:
            with open(self.tmp, newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                data = list(reader)
            with open(self.tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(self.keys)
                for row in data:
                    w.writerow(row + [""] * (len(self.keys) - len(row)))
        os.replace(self.tmp, self.path)

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        keep = exc_type is None or issubclass(exc_type, KeyboardInterrupt)
        self.close(keep=keep)


def estimate_seconds(trace: Trace, grid: Grid, jobs: int, sample: int = 16) -> float:
    """Wall time of the whole grid, s, from the time of its first ``sample`` points here."""
    import time

    pts = list(itertools.islice(grid.points(), sample))
    t0 = time.perf_counter()
    try:
        _rows(grid.device, trace, [grid.config(p) for p in pts])
    except AccelSimError:
        return math.nan
    per = (time.perf_counter() - t0) / len(pts)
    return per * grid.size / max(1, jobs)
