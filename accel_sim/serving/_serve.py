"""Continuous-batching LLM server as an event simulation (simpy).

Requests arrive (Poisson at ``rate`` req/s, or closed-loop: ``batch`` requests from time 0 and
every finished request replaced at once) and wait in a queue. The server runs iterations
(iteration-level scheduling, Orca/vLLM style). At the start of an iteration it admits waiting
requests while fewer than the batch cap are running; the cap is ``batch``, which must fit the
KV memory with every request's full ``lin + lout`` tokens reserved (no preemption). An
iteration prefills the admitted prompts (producing their first token) and, with
``prefill="mixed"``, advances every running request by one token; with ``prefill="separate"``
a prefill iteration runs alone and the running requests wait (LLMSimulator's scheduler).

Runs of decode-only iterations between two events (a completion, or the next arrival when there
is room) are costed in one vectorised call to the system's step-cost model (the
:class:`~accel_sim.llm.ServingSystem` protocol: any device that implements it is served); simpy
keeps the clock, the arrival process and the admission decisions.

Metrics: throughput = output tokens / (last finish - first arrival); time to first token
(TTFT) = first token - arrival; time between tokens (TBT) = gap between consecutive tokens of a
request, over all tokens; end-to-end latency = finish - arrival; energy per output token =
all energy (iterations plus the devices' idle power while the server waits) / output tokens.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import simpy

from .._device import Device
from .._metrics import Direction, Metric, MetricTable
from .._params import Config
from .._progress import progress_bar
from .._registry import available_devices, get_device
from ..errors import ConfigError
from ..llm._model import LlmModel, get_model
from ..llm._routing import Router
from ..llm._system import (
    ServingLayout,
    ServingSystem,
    StepCoster,
    StepCosts,
    is_serving_system,
)
from ._config import ServeConfig

__all__ = ["REQUEST_COLUMNS", "SERVING_METRICS", "IterationLog", "Recorder", "Scheduler",
           "ServeConfig", "ServeResult", "ServingEvaluator", "serve", "serving_devices"]

_LAT: Direction = "minimize"
#: The numeric metrics of a serving summary (:meth:`Recorder.result`), with units and
#: directions; the text entries (``model``, ``device``, ``mode``, ``routing``, ``prefill``)
#: name the scenario.
SERVING_METRICS = MetricTable([
    Metric("devices", "devices", None, doc="Devices of the system."),
    Metric("batch", "requests", None, doc="Batch cap asked for."),
    Metric("batch_cap", "requests", None, doc="Batch cap used (capped to the KV memory "
                                                "when exploring)."),
    Metric("max_batch_kv", "requests", None, doc="Most requests whose full KV cache fits."),
    Metric("lin", "tokens", None, doc="Prompt length."),
    Metric("lout", "tokens", None, doc="Output length."),
    Metric("rate", "req/s", None, doc="Poisson arrival rate (unset: closed loop)."),
    Metric("requests", "requests", None, doc="Requests served."),
    Metric("seed", "", None, doc="Seed of arrivals and routing."),
    Metric("output_tokens", "tokens", None, doc="Output tokens of all requests."),
    Metric("makespan_s", "s", _LAT, doc="First arrival to last finish."),
    Metric("throughput_tok_s", "tok/s", "maximize", doc="Output tokens per second."),
    Metric("throughput_req_s", "req/s", "maximize", doc="Requests finished per second."),
    Metric("ttft_p50_s", "s", _LAT, doc="Median time to first token."),
    Metric("ttft_p99_s", "s", _LAT, doc="99th-percentile time to first token."),
    Metric("tbt_p50_s", "s", _LAT, doc="Median time between tokens."),
    Metric("tbt_p99_s", "s", _LAT, doc="99th-percentile time between tokens."),
    Metric("tbt_mean_s", "s", _LAT, doc="Mean time between tokens."),
    Metric("e2e_p50_s", "s", _LAT, doc="Median end-to-end request latency."),
    Metric("e2e_p99_s", "s", _LAT, doc="99th-percentile end-to-end request latency."),
    Metric("energy_j", "J", doc="Energy of the run, idle power included."),
    Metric("energy_per_token_j", "J/token", doc="Energy per output token."),
    Metric("energy_static_j", "J", doc="Idle (static) power over the makespan."),
    Metric("energy_dynamic_per_token_j", "J/token", doc="Energy above idle per output token."),
    Metric("power_w", "W", doc="Mean power."),
    Metric("iterations", "iterations", None, doc="Iterations run."),
    Metric("mean_decode_batch", "requests", None, doc="Decode batch averaged over time."),
    Metric("pim_busy_fraction", "fraction", None, doc="Share of busy time on the PIM."),
    Metric("idle_s", "s", _LAT, doc="Time the server waited with no request."),
    Metric("kv_memory_violation", "fraction over the limit", None,
           doc="Relative excess of the KV cache over memory (> 0: infeasible)."),
])


#: Columns of the per-request CSV.
REQUEST_COLUMNS = ("request", "arrival_s", "first_token_s", "finish_s", "lin", "lout",
                   "ttft_s", "e2e_s", "tbt_mean_s", "tbt_max_s")


@dataclass(frozen=True)
class ServeResult:
    """Outcome of :func:`serve`.

    Attributes:
        summary: Scalar metrics (see :meth:`ServeResult.summary` keys in the module docstring).
        requests: Per-request columns (:data:`REQUEST_COLUMNS`), read-only arrays.
        iterations: Per-iteration columns ``start_s, latency_s, decode, prefill_tokens,
            energy_j, pim_s``.
    """

    summary: MappingProxyType
    requests: MappingProxyType
    iterations: MappingProxyType = field(repr=False)

    def write(self, out: str | os.PathLike[str]) -> dict[str, str]:
        """Write ``summary.json``, ``requests.csv`` and ``iterations.csv`` into ``out``."""
        os.makedirs(out, exist_ok=True)
        paths = {"summary": os.path.join(out, "summary.json"),
                 "requests": os.path.join(out, "requests.csv"),
                 "iterations": os.path.join(out, "iterations.csv")}
        with open(paths["summary"], "w", encoding="utf-8") as fh:
            json.dump(dict(self.summary), fh, indent=2, sort_keys=False)
            fh.write("\n")
        _write_columns(paths["requests"], self.requests)
        _write_columns(paths["iterations"], self.iterations)
        return paths


def _write_columns(path: str, cols: MappingProxyType) -> None:
    names = list(cols)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        arrays = [cols[n] for n in names]
        for row in zip(*arrays, strict=True):
            w.writerow([int(v) if isinstance(v, (np.integer,)) else f"{float(v):.9g}"
                        for v in row])


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` of ``values`` repeated ``weights`` times (NaN when empty)."""
    if values.size == 0 or weights.sum() <= 0:
        return float("nan")
    return float(np.quantile(values, q, weights=weights, method="inverted_cdf"))


def serving_devices() -> list[str]:
    """Names of the registered devices that implement :class:`~accel_sim.llm.ServingSystem`."""
    return sorted(n for n, c in available_devices().items() if is_serving_system(c))


def _not_serving(name: str, what: str = "serve") -> ConfigError:
    return ConfigError(f"{what}: device {name!r} is not an LLM serving system (it does not "
                       "implement accel_sim.llm.ServingSystem); use one of "
                       f"{', '.join(serving_devices())}")


def serve(config: ServeConfig, device: ServingSystem | Device | str = "duplex", *,
          model: LlmModel | None = None, cap_to_memory: bool = False) -> ServeResult:
    """Simulate serving ``config.requests`` requests on ``device``.

    Args:
        config: Serving scenario.
        device: A device implementing :class:`~accel_sim.llm.ServingSystem` (instance or
            registered name; another device is refused with :class:`ConfigError`).
        model: Overrides ``config.model`` with a custom architecture.
        cap_to_memory: When ``batch`` does not fit the KV memory, serve with the largest batch
            that does (and report ``kv_memory_violation`` > 0) instead of raising.

    Raises:
        ConfigError: ``batch`` does not fit the memory (the message says the largest that
            does), the weights alone do not fit, or the device is not an LLM serving system.
    """
    if not isinstance(config, ServeConfig):
        raise ConfigError(f"serve: config must be a ServeConfig, got {type(config).__name__}")
    dev = get_device(device)() if isinstance(device, str) else device
    if not is_serving_system(dev):
        raise _not_serving(getattr(dev, "name", type(dev).__name__))
    m = model if model is not None else get_model(config.model)
    per_req = config.lin + config.lout
    layout = dev.serving_layout(m)
    fit = dev.max_batch(m, per_req)
    if fit < 1:
        raise ConfigError(
            f"model {m.name} ({m.weight_bytes / 2**30:.1f} GiB of weights) leaves no room for "
            f"one request of lin+lout={per_req} tokens on {layout.devices} x {dev.name}; "
            "use more devices")
    violation = config.batch / fit - 1.0
    if violation > 0 and not cap_to_memory:
        raise ConfigError(
            f"batch={config.batch} does not fit the KV memory of {layout.devices} x "
            f"{dev.name} for {m.name} at lin+lout={per_req} tokens: at most {fit} requests fit")
    cap = min(config.batch, fit)
    router = None
    if m.is_moe:
        router = Router(m.experts, m.top_k, m.moe_layers, policy=config.routing,
                        zipf_s=config.zipf_s, trace_path=config.routing_trace,
                        seed=config.seed)
    with progress_bar(config.requests, desc=f"serve {m.name} on {dev.name}",
                      unit="req") as bar:
        if not bar.disable and _FIRST_RUN:  # numba kernels load (or compile) on first use
            bar.set_postfix_str("loading kernels (compiled on the first run ever)")
        recorder = Recorder(config)
        sim = _Server(config, dev.step_costs(m, router), Scheduler(cap, config.prefill),
                      recorder, None if bar.disable else bar)
        sim.run()
    _FIRST_RUN.clear()
    return recorder.result(m, dev.name, layout, cap, fit, violation)


#: Non-empty until the first serving run of this process ends (the progress note).
_FIRST_RUN = [True]


@dataclass(frozen=True)
class Scheduler:
    """Admission and batching policy: iteration-level continuous batching (Orca/vLLM).

    At the start of an iteration the waiting requests are admitted in arrival order while
    fewer than ``cap`` run (no preemption: every admitted request keeps its KV memory to the
    end). ``prefill="mixed"``: the running requests decode one token in the same iteration
    as the admitted prompts; ``"separate"``: a prefill iteration runs alone.
    """

    cap: int
    prefill: str = "mixed"

    def admit(self, waiting: list[int], running: list[int]) -> list[int]:
        """The waiting requests to admit now (in order)."""
        room = self.cap - len(running)
        return waiting[:room] if room > 0 else []

    def decode_with_prefill(self, running: list[int]) -> list[int]:
        """The running requests that decode in an iteration that prefills."""
        return [] if self.prefill == "separate" else list(running)

    def has_room(self, running: list[int]) -> bool:
        """Whether an arrival could be admitted now."""
        return len(running) < self.cap


@dataclass
class IterationLog:
    """Iterations as they are simulated: one array entry per iteration, in blocks.

    Attributes:
        start_s, latency_s: Start time and duration, s.
        decode: Requests decoding one token.
        prefill_tokens: Prompt tokens prefilled.
        energy_j: Energy, J.
        pim_s: Time the system's offload unit was busy, s.
    """

    start_s: list[np.ndarray] = field(default_factory=list)
    latency_s: list[np.ndarray] = field(default_factory=list)
    decode: list[np.ndarray] = field(default_factory=list)
    prefill_tokens: list[np.ndarray] = field(default_factory=list)
    energy_j: list[np.ndarray] = field(default_factory=list)
    pim_s: list[np.ndarray] = field(default_factory=list)

    def append(self, start: float, cost: StepCosts, decode: int, prefill_tokens: int) -> None:
        """A block of consecutive iterations starting at ``start``."""
        lat = cost.latency_s
        n = lat.size
        self.start_s.append(start + np.concatenate([[0.0], np.cumsum(lat)[:-1]]))
        self.latency_s.append(lat)
        self.decode.append(np.full(n, decode, dtype=np.int64))
        self.prefill_tokens.append(np.full(n, prefill_tokens, dtype=np.int64))
        self.energy_j.append(cost.energy_j)
        self.pim_s.append(cost.offload_s)

    def columns(self) -> dict[str, np.ndarray]:
        """The log as columns (``iterations.csv``)."""
        return {f.name: (np.concatenate(getattr(self, f.name)) if getattr(self, f.name)
                         else np.zeros(0)) for f in dataclasses.fields(self)}


class Recorder:
    """Metrics collection: token times of every request, gaps between tokens, the iteration
    log and the idle time; :meth:`result` turns them into the serving metrics."""

    def __init__(self, cfg: ServeConfig) -> None:
        n = cfg.requests
        self.cfg = cfg
        self.lin = np.full(n, cfg.lin, dtype=np.int64)
        self.lout = np.full(n, cfg.lout, dtype=np.int64)
        self.arrival = np.full(n, np.nan)
        self.first = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        self.last_token = np.full(n, np.nan)
        self.tbt_max = np.zeros(n)
        self.made = np.zeros(n, dtype=np.int64)  # tokens produced
        self.gap_vals: list[np.ndarray] = []  # gaps between tokens (value, weight)
        self.gap_wts: list[np.ndarray] = []
        self.log = IterationLog()
        self.idle_s = 0.0

    def arrived(self, rid: int, now: float) -> None:
        self.arrival[rid] = now

    def iteration(self, now: float, decode: np.ndarray, admitted: list[int]) -> None:
        """An iteration that ended at ``now``: ``decode`` made one token, ``admitted``
        their first."""
        if decode.size:
            gaps = now - self.last_token[decode]
            self.gap_vals.append(gaps)
            self.gap_wts.append(np.ones(decode.size))
            self.tbt_max[decode] = np.maximum(self.tbt_max[decode], gaps)
            self.made[decode] += 1
            self.last_token[decode] = now
        adm = np.array(admitted, dtype=np.int64)
        self.first[adm] = now
        self.last_token[adm] = now
        self.made[adm] = 1

    def decode_block(self, start: float, now: float, run: np.ndarray, lat: np.ndarray) -> None:
        """``lat.size`` decode iterations from ``start`` to ``now``, each making one token of
        every request in ``run``."""
        n, d = lat.size, run.size
        first_gap = start + lat[0] - self.last_token[run]
        self.gap_vals.append(first_gap)
        self.gap_wts.append(np.ones(d))
        if n > 1:
            self.gap_vals.append(lat[1:])
            self.gap_wts.append(np.full(n - 1, float(d)))
        block_max = float(lat[1:].max()) if n > 1 else 0.0
        self.tbt_max[run] = np.maximum(self.tbt_max[run], np.maximum(first_gap, block_max))
        self.made[run] += n
        self.last_token[run] = now

    def finished(self, rid: int, now: float) -> None:
        self.finish[rid] = now

    def result(self, model: LlmModel, device: str, layout: ServingLayout, cap: int, fit: int,
               violation: float) -> ServeResult:
        """The serving metrics (see the module docstring)."""
        cfg = self.cfg
        its = self.log.columns()
        tokens = int(self.lout.sum())
        t0 = float(np.nanmin(self.arrival))
        makespan = float(np.nanmax(self.finish)) - t0
        ttft = self.first - self.arrival
        e2e = self.finish - self.arrival
        with np.errstate(invalid="ignore", divide="ignore"):
            tbt_mean = np.where(self.lout > 1, (self.finish - self.first)
                                / np.maximum(self.lout - 1, 1), np.nan)
        gv = np.concatenate(self.gap_vals) if self.gap_vals else np.zeros(0)
        gw = np.concatenate(self.gap_wts) if self.gap_wts else np.zeros(0)
        e_idle = layout.idle_power_w * self.idle_s
        energy = float(its["energy_j"].sum()) + e_idle
        busy = float(its["latency_s"].sum())
        dec_tokens = its["decode"].astype(float)
        summary: dict[str, Any] = {
            "model": model.name, "device": device, "devices": layout.devices,
            "batch": cfg.batch, "batch_cap": cap, "max_batch_kv": fit,
            "lin": cfg.lin, "lout": cfg.lout,
            "rate": cfg.rate, "mode": "poisson" if cfg.rate is not None else "closed_loop",
            "requests": cfg.requests, "seed": cfg.seed, "routing": cfg.routing,
            "prefill": cfg.prefill,
            "output_tokens": tokens, "makespan_s": makespan,
            "throughput_tok_s": tokens / makespan if makespan > 0 else float("nan"),
            "throughput_req_s": cfg.requests / makespan if makespan > 0 else float("nan"),
            "ttft_p50_s": float(np.median(ttft)), "ttft_p99_s": float(np.quantile(ttft, 0.99)),
            "tbt_p50_s": _weighted_quantile(gv, gw, 0.5),
            "tbt_p99_s": _weighted_quantile(gv, gw, 0.99),
            "tbt_mean_s": float(np.average(gv, weights=gw)) if gw.sum() > 0 else float("nan"),
            "e2e_p50_s": float(np.median(e2e)), "e2e_p99_s": float(np.quantile(e2e, 0.99)),
            "energy_j": energy, "energy_per_token_j": energy / tokens,
            "energy_static_j": layout.idle_power_w * (busy + self.idle_s),
            "energy_dynamic_per_token_j": (energy - layout.idle_power_w
                                           * (busy + self.idle_s)) / tokens,
            "power_w": energy / makespan if makespan > 0 else float("nan"),
            "iterations": int(its["latency_s"].size),
            "mean_decode_batch": float(np.average(dec_tokens, weights=its["latency_s"]))
            if busy > 0 else 0.0,
            "pim_busy_fraction": float(its["pim_s"].sum() / busy) if busy > 0 else 0.0,
            "idle_s": self.idle_s,
            "kv_memory_violation": violation,
        }
        reqs = {"request": np.arange(cfg.requests), "arrival_s": self.arrival,
                "first_token_s": self.first, "finish_s": self.finish, "lin": self.lin,
                "lout": self.lout, "ttft_s": ttft, "e2e_s": e2e, "tbt_mean_s": tbt_mean,
                "tbt_max_s": np.where(self.lout > 1, self.tbt_max, np.nan)}
        for arr in list(reqs.values()) + list(its.values()):
            arr.setflags(write=False)
        return ServeResult(MappingProxyType(summary), MappingProxyType(reqs),
                           MappingProxyType(its))


class _Server:
    """The simulation engine: simpy keeps the clock and the arrivals; the
    :class:`Scheduler` decides admissions, the system's :class:`StepCoster` prices iterations,
    the :class:`Recorder` collects the metrics."""

    def __init__(self, cfg: ServeConfig, steps: StepCoster, scheduler: Scheduler,
                 recorder: Recorder, bar: Any = None) -> None:
        self.cfg, self.steps, self.scheduler, self.rec = cfg, steps, scheduler, recorder
        self.bar = bar  # progress bar (requests finished) or None
        n = cfg.requests
        rng = np.random.default_rng(cfg.seed)
        if cfg.rate is not None:
            self.schedule: np.ndarray | None = np.cumsum(rng.exponential(1.0 / cfg.rate, size=n))
        else:
            self.schedule = None
        self.env = simpy.Environment()
        self.waiting: list[int] = []
        self.running: list[int] = []
        self.issued = 0
        self.done = 0
        self.wake: simpy.Event | None = None
        self.last_step_s = 1e-3  # latest decode-step time (s): sizes the next block's chunks

    # ------------------------------------------------------------------ arrivals
    def _arrive(self, rid: int) -> None:
        self.rec.arrived(rid, self.env.now)
        self.waiting.append(rid)
        if self.wake is not None and not self.wake.triggered:
            self.wake.succeed()

    def _source(self):
        assert self.schedule is not None
        for rid in range(self.cfg.requests):
            yield self.env.timeout(max(self.schedule[rid] - self.env.now, 0.0))
            self.issued += 1
            self._arrive(rid)

    # ------------------------------------------------------------------ engine
    def run(self) -> None:
        if self.schedule is None:  # closed loop: fill the batch at time 0
            for _ in range(min(self.scheduler.cap, self.cfg.requests)):
                self._arrive(self.issued)
                self.issued += 1
        else:
            self.env.process(self._source())
        self.env.process(self._engine())
        self.env.run()

    def _finish(self, rids: list[int]) -> None:
        now = self.env.now
        for rid in rids:
            self.rec.finished(rid, now)
            self.running.remove(rid)
            self.done += 1
            if self.schedule is None and self.issued < self.cfg.requests:
                self._arrive(self.issued)
                self.issued += 1
        if self.bar is not None:  # once per completion event, not per token
            if self.bar.postfix:
                self.bar.set_postfix_str("", refresh=False)
            self.bar.update(len(rids))

    def _engine(self):
        cfg, env = self.cfg, self.env
        while self.done < cfg.requests:
            if not self.running and not self.waiting:
                self.wake = env.event()
                t0 = env.now
                started = self.issued >= 1  # idle between requests, not before the first one
                yield self.wake
                self.wake = None
                if started:
                    self.rec.idle_s += env.now - t0
                continue
            admit = self.scheduler.admit(self.waiting, self.running)
            if admit:
                del self.waiting[:len(admit)]
                decode = self.scheduler.decode_with_prefill(self.running)
                yield from self._iteration(admit, decode)
            else:
                yield from self._decode_block()

    def _iteration(self, admit: list[int], decode: list[int]):
        """One iteration: prefill ``admit`` and advance ``decode`` by one token."""
        env, rec = self.env, self.rec
        prompts = tuple(int(rec.lin[r]) for r in admit)
        dec = np.array(decode, dtype=np.int64)
        sum_kv = float((rec.lin[dec] + rec.made[dec]).sum()) if dec.size else 0.0
        cost = self.steps.steps(dec.size, np.array([sum_kv]), prompts)
        start = env.now
        yield env.timeout(float(cost.latency_s[0]))
        rec.log.append(start, cost, dec.size, sum(prompts))
        rec.iteration(env.now, dec, admit)
        self.running.extend(admit)
        ended = [int(r) for r in self.running if rec.made[r] >= rec.lout[r]]
        if ended:
            self._finish(ended)

    def _decode_block(self):
        """Decode iterations until the next completion or the next admissible arrival."""
        env, rec = self.env, self.rec
        run = np.array(self.running, dtype=np.int64)
        left = rec.lout[run] - rec.made[run]
        n = int(left.min())
        d = run.size
        kv0 = float((rec.lin[run] + rec.made[run]).sum())
        t_next = np.inf
        if self.schedule is not None and self.scheduler.has_room(self.running) \
                and self.issued < self.cfg.requests:
            t_next = float(self.schedule[self.issued]) - env.now
        # cost steps in growing chunks until the block ends or passes the next arrival
        parts: list[StepCosts] = []
        done, elapsed = 0, 0.0
        chunk = n if not np.isfinite(t_next) else max(
            2, min(n, int(t_next / self.last_step_s) + 2))
        while done < n and elapsed < t_next:
            k = min(chunk, n - done)
            sum_kv = kv0 + d * np.arange(done, done + k, dtype=float)
            cost = self.steps.steps(d, sum_kv)
            parts.append(cost)
            done += k
            elapsed += float(cost.latency_s.sum())
            chunk *= 2
        lat, energy, pim = (np.concatenate([getattr(p, f) for p in parts])
                            for f in ("latency_s", "energy_j", "offload_s"))
        self.last_step_s = float(lat[-1])
        ends = np.cumsum(lat)
        if np.isfinite(t_next):
            cut = int(np.searchsorted(ends, t_next, side="left"))
            n = min(done, cut + 1)
        else:
            n = done
        lat, energy, pim, ends = lat[:n], energy[:n], pim[:n], ends[:n]
        start = env.now
        yield env.timeout(float(ends[-1]))
        rec.log.append(start, StepCosts(lat, energy, pim), d, 0)
        rec.decode_block(start, env.now, run, lat)
        ended = [int(r) for r in run if rec.made[r] >= rec.lout[r]]
        if ended:
            self._finish(ended)


class ServingEvaluator:
    """Explorer adapter: one configuration of ``device_cls`` plus a serving scenario ->
    the serving summary and the KV-memory violation.

    ``config_cls`` is a frozen config holding the device's parameters and those of
    :class:`ServeConfig` (derived from both declarations, so the explorer's search space and
    ``-s`` values cover both).
    """

    def __init__(self, device_cls: type) -> None:
        if not (isinstance(device_cls, type) and issubclass(device_cls, Device)
                and is_serving_system(device_cls)):
            raise _not_serving(getattr(device_cls, "name", "?"), "explore --serve")
        self.device_cls = device_cls
        dev_fields = {f.name for f in dataclasses.fields(device_cls.Config)}
        clash = dev_fields & {f.name for f in dataclasses.fields(ServeConfig)}
        if clash:  # pragma: no cover - a device declaring a serving parameter's name
            raise ConfigError(f"device {device_cls.name!r} parameters {sorted(clash)} clash "
                              "with serving parameters")
        hints = typing.get_type_hints(ServeConfig)
        extra = [(f.name, hints[f.name], dataclasses.field(default=f.default,
                                                           metadata=f.metadata))
                 for f in dataclasses.fields(ServeConfig)]
        self.config_cls = typing.cast(type[Config], dataclasses.make_dataclass(
            f"{device_cls.Config.__name__}Serving", extra, bases=(device_cls.Config,),
            frozen=True))
        self._dev_fields = dev_fields

    @staticmethod
    def metric_table() -> MetricTable:
        """The metrics of its summaries: :data:`SERVING_METRICS`."""
        return SERVING_METRICS

    def __call__(self, config: Config) -> tuple[dict[str, Any], float]:
        values = config.to_dict()
        dev = self.device_cls(self.device_cls.Config(
            **{k: v for k, v in values.items() if k in self._dev_fields}))
        scenario = ServeConfig(**{k: v for k, v in values.items() if k not in self._dev_fields})
        result = serve(scenario, dev, cap_to_memory=True)
        summary = {k: v for k, v in result.summary.items() if isinstance(v, (int, float))
                   and not isinstance(v, bool) and v is not None}
        return summary, max(float(result.summary["kv_memory_violation"]), 0.0)
