"""LLM serving as an event simulation (simpy): replicas, batching policies, KV memory.

Requests (lengths fixed, drawn from a length distribution or read from a trace; see
:mod:`accel_sim.serving._requests`) arrive (Poisson at ``rate`` req/s, at a trace's times, or
closed-loop: ``batch`` requests per replica from time 0 and every finished request replaced
at once on its replica) and a router sends each to one of ``replicas`` copies of the serving
system (``round_robin``, ``least_outstanding``: fewest waiting plus running, or ``random``).
Each replica runs iterations (iteration-level scheduling); at the start of each its batching
policy (:mod:`accel_sim.serving._policy`: ``orca``, ``vllm``, ``sarathi``, ``static``) picks
the decodes, the prompt chunks and the admissions, under the batch cap and the KV memory
(reserved per request, or paged with preemption).

Runs of decode-only iterations between two events (a completion, the next arrival when it
could be admitted, or the next KV shortage) are costed in one vectorised call to the system's
step-cost model (the :class:`~accel_sim.llm.ServingSystem` protocol: any device that
implements it is served); simpy keeps the clock, the arrival process and the admission
decisions.

Metrics: throughput = output tokens / (last finish - first arrival); time to first token
(TTFT) = first token - arrival; time between tokens (TBT) = gap between consecutive tokens of a
request, over all tokens (a preemption's stall included); end-to-end latency = finish -
arrival; energy per output token = all energy (iterations plus the devices' idle power while a
replica waits) / output tokens.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import os
import typing
from collections import deque
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
from ._policy import Batch, KvCache, ReplicaState, SchedulerPolicy, make_policy
from ._requests import RequestSet, draw_lengths, load_trace

__all__ = ["ITERATION_COLUMNS", "REQUEST_COLUMNS", "SERVING_METRICS", "IterationLog",
           "Recorder", "ServeConfig", "ServeResult", "ServingEvaluator", "serve",
           "serving_devices"]

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
    Metric("lin", "tokens", None, doc="Prompt length (mean, when lengths vary)."),
    Metric("lout", "tokens", None, doc="Output length (mean, when lengths vary)."),
    Metric("replicas", "replicas", None, doc="Replicas of the serving system."),
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
    Metric("kv_capacity_tokens", "tokens", None, doc="KV room of one replica."),
    Metric("kv_peak_fraction", "fraction", None, doc="Highest KV use of a replica / room."),
    Metric("preemptions", "preemptions", _LAT, doc="Requests preempted (paged KV)."),
    Metric("queue_peak", "requests", None, doc="Longest queue of a replica."),
])


#: Columns of the per-request CSV.
REQUEST_COLUMNS = ("request", "arrival_s", "first_token_s", "finish_s", "lin", "lout",
                   "ttft_s", "e2e_s", "tbt_mean_s", "tbt_max_s", "replica", "preemptions")
#: Columns of the per-iteration CSV.
ITERATION_COLUMNS = ("replica", "start_s", "latency_s", "decode", "prefill_requests",
                     "prefill_tokens", "kv_tokens", "queue", "energy_j", "pim_s")


@dataclass(frozen=True)
class ServeResult:
    """Outcome of :func:`serve`.

    Attributes:
        summary: Scalar metrics (:data:`SERVING_METRICS`, plus the scenario's names).
        requests: Per-request columns (:data:`REQUEST_COLUMNS`), read-only arrays.
        iterations: Per-iteration columns (:data:`ITERATION_COLUMNS`).
        blocks: Iterations per logged block (a run of decode-only iterations is one block;
            the timeline trace draws one slice per block).
    """

    summary: MappingProxyType
    requests: MappingProxyType
    iterations: MappingProxyType = field(repr=False)
    blocks: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))

    def write(self, out: str | os.PathLike[str], *, timeline: bool = True) -> dict[str, str]:
        """Write ``summary.json``, ``requests.csv``, ``iterations.csv`` and (``timeline``)
        the Chrome/Perfetto trace ``trace.json`` and the plot ``timeline.png`` into
        ``out``."""
        os.makedirs(out, exist_ok=True)
        paths = {"summary": os.path.join(out, "summary.json"),
                 "requests": os.path.join(out, "requests.csv"),
                 "iterations": os.path.join(out, "iterations.csv")}
        with open(paths["summary"], "w", encoding="utf-8") as fh:
            json.dump(dict(self.summary), fh, indent=2, sort_keys=False)
            fh.write("\n")
        _write_columns(paths["requests"], self.requests)
        _write_columns(paths["iterations"], self.iterations)
        if timeline:
            from ._timeline import plot_timeline, write_chrome_trace

            paths["trace"] = write_chrome_trace(os.path.join(out, "trace.json"), self)
            paths["timeline"] = plot_timeline(os.path.join(out, "timeline.png"), self)
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


def _request_set(cfg: ServeConfig) -> RequestSet:
    """The requests of ``cfg``: a trace's first ``requests`` rows, or drawn lengths."""
    if cfg.trace is not None:
        reqs = load_trace(cfg.trace).take(cfg.requests)
        if reqs.arrival_s is not None and cfg.rate is not None:
            raise ConfigError(f"trace {cfg.trace} has arrival_s; give no rate (or drop the "
                              "column to draw Poisson arrivals)")
        return reqs
    rng = np.random.default_rng([cfg.seed, 0x5E1])  # apart from the arrivals' stream
    lin = draw_lengths(cfg.length_dist, cfg.lin, cfg.length_spread, cfg.requests, rng)
    lout = draw_lengths(cfg.length_dist, cfg.lout, cfg.length_spread, cfg.requests, rng)
    return RequestSet(lin, lout)


def _accepts_context(steps: StepCoster) -> bool:
    try:
        return "context" in inspect.signature(steps.steps).parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin or C callable
        return False


def serve(config: ServeConfig, device: ServingSystem | Device | str = "duplex", *,
          model: LlmModel | None = None, cap_to_memory: bool = False,
          requests: RequestSet | None = None,
          scheduler: SchedulerPolicy | None = None) -> ServeResult:
    """Simulate serving ``config.requests`` requests on ``config.replicas`` copies of
    ``device``.

    Args:
        config: Serving scenario.
        device: A device implementing :class:`~accel_sim.llm.ServingSystem` (instance or
            registered name; another device is refused with :class:`ConfigError`).
        model: Overrides ``config.model`` with a custom architecture.
        cap_to_memory: When ``batch`` does not fit the KV memory (reserved KV, fixed
            lengths), serve with the largest batch that does (and report
            ``kv_memory_violation`` > 0) instead of raising.
        requests: The requests' lengths (and arrivals), instead of ``config``'s.
        scheduler: A batching policy object, instead of ``config``'s (e.g. a user's).

    Raises:
        ConfigError: ``batch`` does not fit the memory (the message says the largest that
            does), a request does not fit alone, the weights alone do not fit, or the device
            is not an LLM serving system.
    """
    if not isinstance(config, ServeConfig):
        raise ConfigError(f"serve: config must be a ServeConfig, got {type(config).__name__}")
    dev = get_device(device)() if isinstance(device, str) else device
    if not is_serving_system(dev):
        raise _not_serving(getattr(dev, "name", type(dev).__name__))
    m = model if model is not None else get_model(config.model)
    reqs = requests if requests is not None else _request_set(config)
    if len(reqs) != config.requests:
        raise ConfigError(f"requests: {len(reqs)} given, config says {config.requests}")
    policy = scheduler if scheduler is not None else make_policy(config.policy_name,
                                                                 config.token_budget)
    layout = dev.serving_layout(m)
    per_req = reqs.lin + reqs.lout
    longest = int(per_req.max())
    if config.block_size is not None and config.block_size > longest:
        raise ConfigError(f"block_size={config.block_size} tokens is above the longest "
                          f"request's context (lin+lout = {longest} tokens)")
    if not policy.chunked and policy.token_budget is not None \
            and int(reqs.lin.max()) > policy.token_budget:
        raise ConfigError(f"a prompt of {int(reqs.lin.max())} tokens is longer than "
                          f"max_batched_tokens={policy.token_budget} (raise it, or chunk "
                          "prompts with --scheduler sarathi)")
    capacity = dev.max_batch(m, 1)
    one = dev.max_batch(m, longest)
    served = getattr(dev, "served_model", None)
    stored = served(m) if callable(served) else m  # at the system's precision
    if one < 1:
        worst = int(np.argmax(per_req))
        raise ConfigError(
            f"model {m.name} ({stored.weight_bytes / 2**30:.1f} GiB of weights) leaves no room "
            f"for request {worst} of lin+lout={longest} tokens on {layout.devices} x {dev.name} "
            f"(KV room: {capacity} tokens); use more devices or shorter requests")
    mean_len = int(np.ceil(per_req.mean()))
    fit = dev.max_batch(m, mean_len)
    violation = 0.0
    cap = config.batch
    if config.block_size is None and reqs.fixed:
        violation = config.batch / fit - 1.0
        if violation > 0 and not cap_to_memory:
            raise ConfigError(
                f"batch={config.batch} does not fit the KV memory of {layout.devices} x "
                f"{dev.name} for {m.name} at lin+lout={longest} tokens: at most {fit} "
                "requests fit (or page the KV cache: --block-size 16)")
        cap = min(config.batch, fit)
    costers = []
    for i in range(config.replicas):
        router = None
        if m.is_moe:
            router = Router(m.experts, m.top_k, m.moe_layers, policy=config.routing,
                            zipf_s=config.zipf_s, trace_path=config.routing_trace,
                            seed=config.seed + i)
        coster = dev.step_costs(m, router)
        if config.op_profile is not None:
            from ._profile import OpProfile, ProfiledSteps

            coster = ProfiledSteps(OpProfile.load(config.op_profile), coster, m,
                                   layout.devices)
        costers.append(coster)
    kv_bytes = stored.kv_bytes_per_token
    swap_s = kv_bytes / (layout.devices * config.swap_gbs * 1e9)
    with progress_bar(config.requests, desc=f"serve {m.name} on {dev.name}",
                      unit="req") as bar:
        if not bar.disable and _FIRST_RUN:  # numba kernels load (or compile) on first use
            bar.set_postfix_str("loading kernels (compiled on the first run ever)")
        recorder = Recorder(config, reqs)
        sim = _Server(config, reqs, costers, policy, _Memory(cap, capacity, swap_s),
                      layout.idle_power_w, recorder, None if bar.disable else bar)
        sim.run()
    _FIRST_RUN.clear()
    kv = KvCache(capacity, config.block_size)  # whole blocks of one replica
    return recorder.result(m, dev.name, layout, cap, fit, violation, policy.name,
                           kv.total * kv.block)


#: Non-empty until the first serving run of this process ends (the progress note).
_FIRST_RUN = [True]


@dataclass(frozen=True)
class _Memory:
    """Per-replica limits: batch cap (requests), KV room (tokens), swap time (s/token)."""

    cap: int
    kv_tokens: int
    swap_s_per_token: float


@dataclass
class IterationLog:
    """Iterations as they are simulated: one array entry per iteration, in blocks.

    Attributes:
        replica: Replica that ran it.
        start_s, latency_s: Start time and duration, s.
        decode: Requests decoding one token.
        prefill_requests, prefill_tokens: Prompts (or prompt chunks) prefilled and their
            tokens.
        kv_tokens: KV cache in use (allocated blocks x block size, or reserved tokens).
        queue: Requests waiting at the start.
        energy_j: Energy, J.
        pim_s: Time the system's offload unit was busy, s.
    """

    replica: list[np.ndarray] = field(default_factory=list)
    start_s: list[np.ndarray] = field(default_factory=list)
    latency_s: list[np.ndarray] = field(default_factory=list)
    decode: list[np.ndarray] = field(default_factory=list)
    prefill_requests: list[np.ndarray] = field(default_factory=list)
    prefill_tokens: list[np.ndarray] = field(default_factory=list)
    kv_tokens: list[np.ndarray] = field(default_factory=list)
    queue: list[np.ndarray] = field(default_factory=list)
    energy_j: list[np.ndarray] = field(default_factory=list)
    pim_s: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rows: list[tuple[float, ...]] = []  # single iterations not yet in the arrays
        self._sizes: list[int] = []

    def add(self, replica: int, start: float, latency: float, energy: float, pim: float,
            decode: int, prefill_requests: int, prefill_tokens: int, kv_tokens: int,
            queue: int) -> None:
        """One iteration (kept as a row until the next block or :meth:`columns`)."""
        self._rows.append((replica, start, latency, decode, prefill_requests, prefill_tokens,
                           kv_tokens, queue, energy, pim))
        self._sizes.append(1)

    def _flush(self) -> None:
        if not self._rows:
            return
        cols = list(zip(*self._rows, strict=True))
        self._rows = []
        for f, vals in zip(dataclasses.fields(self), cols, strict=True):
            kind = np.float64 if f.name in ("start_s", "latency_s", "energy_j", "pim_s") \
                else np.int64
            getattr(self, f.name).append(np.array(vals, dtype=kind))

    def append(self, replica: int, start: float, cost: StepCosts, decode: int,
               prefill_requests: int, prefill_tokens: int, kv_tokens: np.ndarray | int,
               queue: int) -> None:
        """A block of consecutive iterations starting at ``start``."""
        self._flush()
        lat = cost.latency_s
        n = lat.size

        def full(v: int) -> np.ndarray:
            return np.full(n, v, dtype=np.int64)

        self.replica.append(full(replica))
        self.start_s.append(start + np.concatenate([[0.0], np.cumsum(lat)[:-1]]))
        self.latency_s.append(lat)
        self.decode.append(full(decode))
        self.prefill_requests.append(full(prefill_requests))
        self.prefill_tokens.append(full(prefill_tokens))
        self.kv_tokens.append(np.broadcast_to(np.asarray(kv_tokens, dtype=np.int64), (n,)))
        self.queue.append(full(queue))
        self.energy_j.append(cost.energy_j)
        self.pim_s.append(cost.offload_s)
        self._sizes.append(n)

    def columns(self) -> dict[str, np.ndarray]:
        """The log as columns (``iterations.csv``)."""
        self._flush()
        return {f.name: (np.concatenate(getattr(self, f.name)) if getattr(self, f.name)
                         else np.zeros(0)) for f in dataclasses.fields(self)}

    def blocks(self) -> np.ndarray:
        """Iterations per logged block (a run of decode-only iterations is one block)."""
        return np.array(self._sizes, dtype=np.int64)


class Recorder:
    """Metrics collection: token times of every request, gaps between tokens, the iteration
    log and the idle time; :meth:`result` turns them into the serving metrics."""

    def __init__(self, cfg: ServeConfig, reqs: RequestSet) -> None:
        n = cfg.requests
        self.cfg = cfg
        self.lin = np.array(reqs.lin, dtype=np.int64)
        self.lout = np.array(reqs.lout, dtype=np.int64)
        self.fixed = reqs.fixed
        self.arrival = np.full(n, np.nan)
        self.first = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        self.last_token = np.full(n, np.nan)
        self.tbt_max = np.zeros(n)
        self.made = np.zeros(n, dtype=np.int64)  # tokens produced
        self.replica = np.zeros(n, dtype=np.int64)
        self.preemptions = np.zeros(n, dtype=np.int64)
        self.gap_vals: list[np.ndarray] = []  # gaps between tokens (value, weight)
        self.gap_wts: list[np.ndarray] = []
        self.log = IterationLog()
        self.idle_s = 0.0
        #: How requests arrive: ``trace`` (given times), ``poisson`` or ``closed_loop``.
        self.mode = ("trace" if reqs.arrival_s is not None else
                     "poisson" if cfg.rate is not None else "closed_loop")

    def arrived(self, rid: int, now: float, replica: int) -> None:
        self.arrival[rid] = now
        self.replica[rid] = replica

    def tokens(self, now: float, rids: np.ndarray) -> None:
        """Requests ``rids`` made one token each at ``now`` (their first, or a next)."""
        if not rids.size:
            return
        fresh = self.made[rids] == 0
        first, more = rids[fresh], rids[~fresh]
        self.first[first] = now
        if more.size:
            gaps = now - self.last_token[more]
            self.gap_vals.append(gaps)
            self.gap_wts.append(np.ones(more.size))
            self.tbt_max[more] = np.maximum(self.tbt_max[more], gaps)
        self.made[rids] += 1
        self.last_token[rids] = now

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
               violation: float, scheduler: str, kv_capacity: int) -> ServeResult:
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
        lin: float | int = int(self.lin[0]) if self.fixed else float(self.lin.mean())
        lout: float | int = int(self.lout[0]) if self.fixed else float(self.lout.mean())
        kv_frac = its["kv_tokens"] / kv_capacity if kv_capacity > 0 else its["kv_tokens"] * 0.0
        summary: dict[str, Any] = {
            "model": model.name, "device": device, "devices": layout.devices,
            "batch": cfg.batch, "batch_cap": cap, "max_batch_kv": fit,
            "lin": lin, "lout": lout,
            "rate": cfg.rate, "mode": self.mode,
            "requests": cfg.requests, "seed": cfg.seed, "routing": cfg.routing,
            "prefill": cfg.prefill, "scheduler": scheduler,
            "kv": "reserve" if cfg.block_size is None else "paged",
            "replicas": cfg.replicas,
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
            "kv_capacity_tokens": kv_capacity,
            "kv_peak_fraction": float(kv_frac.max()) if kv_frac.size else 0.0,
            "preemptions": int(self.preemptions.sum()),
            "queue_peak": int(its["queue"].max()) if its["queue"].size else 0,
        }
        reqs = {"request": np.arange(cfg.requests), "arrival_s": self.arrival,
                "first_token_s": self.first, "finish_s": self.finish, "lin": self.lin,
                "lout": self.lout, "ttft_s": ttft, "e2e_s": e2e, "tbt_mean_s": tbt_mean,
                "tbt_max_s": np.where(self.lout > 1, self.tbt_max, np.nan),
                "replica": self.replica, "preemptions": self.preemptions}
        for arr in list(reqs.values()) + list(its.values()):
            arr.setflags(write=False)
        return ServeResult(MappingProxyType(summary), MappingProxyType(reqs),
                           MappingProxyType(its), self.log.blocks())


class _Replica:
    """One serving system: its queue, running requests, KV memory and step costs."""

    def __init__(self, index: int, steps: StepCoster, state: ReplicaState) -> None:
        self.index = index
        self.steps = steps
        self.context = _accepts_context(steps)
        self.vector = self.context and bool(getattr(steps, "vector_context", False))
        self.state = state
        self.wake: simpy.Event | None = None
        self.idle_since = 0.0  # when it last ran out of work, s
        self.last_step_s = 1e-3  # latest decode-step time (s): sizes the next block's chunks

    @property
    def outstanding(self) -> int:
        return len(self.state.waiting) + len(self.state.running)


class _Server:
    """The simulation engine: simpy keeps the clock and the arrivals; for each replica the
    policy (:class:`SchedulerPolicy`) plans iterations, the system's :class:`StepCoster`
    prices them and the :class:`Recorder` collects the metrics."""

    def __init__(self, cfg: ServeConfig, reqs: RequestSet, costers: list[StepCoster],
                 policy: SchedulerPolicy, mem: _Memory, idle_w: float, recorder: Recorder,
                 bar: Any = None) -> None:
        self.cfg, self.policy, self.mem, self.rec = cfg, policy, mem, recorder
        self.idle_w = idle_w
        self.bar = bar  # progress bar (requests finished) or None
        n = cfg.requests
        rng = np.random.default_rng(cfg.seed)
        if reqs.arrival_s is not None:
            self.schedule: np.ndarray | None = np.asarray(reqs.arrival_s, dtype=float)
        elif cfg.rate is not None:
            self.schedule = np.cumsum(rng.exponential(1.0 / cfg.rate, size=n))
        else:
            self.schedule = None
        self.route_rng = np.random.default_rng([cfg.seed, 0x0A7E])
        self.env = simpy.Environment()
        rec = recorder
        self.pre_need = rec.lin.copy()
        self.pre_done = np.zeros(n, dtype=np.int64)
        self.held = np.zeros(n, dtype=np.int64)
        self.swapped = np.zeros(n, dtype=bool)
        self.replicas = [
            _Replica(i, c, ReplicaState(
                cap=mem.cap, kv=KvCache(mem.kv_tokens, cfg.block_size), lin=rec.lin,
                lout=rec.lout, made=rec.made, pre_need=self.pre_need, pre_done=self.pre_done,
                held=self.held, swapped=self.swapped, waiting=deque(), running=[]))
            for i, c in enumerate(costers)]
        self.issued = 0
        self.done = 0
        self._rr = 0

    # ------------------------------------------------------------------ arrivals
    def _route(self) -> _Replica:
        reps, how = self.replicas, self.cfg.router
        if len(reps) == 1:
            return reps[0]
        if how == "round_robin":
            rep = reps[self._rr % len(reps)]
            self._rr += 1
            return rep
        if how == "random":
            return reps[int(self.route_rng.integers(len(reps)))]
        return min(reps, key=lambda r: (r.outstanding, r.index))  # least_outstanding

    def _arrive(self, rid: int, rep: _Replica | None = None) -> None:
        rep = rep if rep is not None else self._route()
        self.rec.arrived(rid, self.env.now, rep.index)
        rep.state.waiting.append(rid)
        if rep.wake is not None and not rep.wake.triggered:
            rep.wake.succeed()

    def _source(self):
        assert self.schedule is not None
        for rid in range(self.cfg.requests):
            yield self.env.timeout(max(self.schedule[rid] - self.env.now, 0.0))
            self.issued += 1
            self._arrive(rid)

    def _next_arrival(self) -> float:
        """Time to the next arrival, s (inf: none)."""
        if self.schedule is None or self.issued >= self.cfg.requests:
            return np.inf
        return float(self.schedule[self.issued]) - self.env.now

    # ------------------------------------------------------------------ engine
    def run(self) -> None:
        if self.schedule is None:  # closed loop: fill every replica's batch at time 0
            for _ in range(min(self.mem.cap * len(self.replicas), self.cfg.requests)):
                self._arrive(self.issued)
                self.issued += 1
        else:
            self.env.process(self._source())
        for rep in self.replicas:
            self.env.process(self._engine(rep))
        self.env.run()
        t0 = float(np.nanmin(self.rec.arrival))
        for rep in self.replicas:  # out of work before the others finished: idle to the end
            if rep.wake is not None:
                self.rec.idle_s += self.env.now - max(rep.idle_since, t0)

    def _finish(self, rep: _Replica, rids: list[int]) -> None:
        now, st = self.env.now, rep.state
        for rid in rids:
            self.rec.finished(rid, now)
            st.running.remove(rid)
            st.kv.used -= int(self.held[rid])
            self.held[rid] = 0
            self.done += 1
            if self.schedule is None and self.issued < self.cfg.requests:
                self._arrive(self.issued, rep)  # a closed-loop client stays on its replica
                self.issued += 1
        if self.bar is not None:  # once per completion event, not per token
            if self.bar.postfix:
                self.bar.set_postfix_str("", refresh=False)
            self.bar.update(len(rids))

    def _engine(self, rep: _Replica):
        cfg, env, st = self.cfg, self.env, rep.state
        while self.done < cfg.requests:
            if not st.running and not st.waiting:
                rep.wake = env.event()
                rep.idle_since = env.now
                started = self.issued >= 1  # idle between requests, not before the first one
                yield rep.wake
                rep.wake = None
                if started:
                    self.rec.idle_s += env.now - rep.idle_since
                continue
            preempted, swap_out = self._make_room(rep)
            batch = self.policy.plan(st)
            if batch.decode and not batch.chunks and not batch.admit and not preempted:
                yield from self._decode_block(rep, batch.decode)
            elif (self.fuse_chunks and rep.vector and self.policy.chunked
                  and len(batch.chunks) == 1 and not batch.admit and not preempted
                  and (k := self._chunk_run_length(rep, batch)) > 1):
                yield from self._chunk_run(rep, batch, k)
            elif batch.decode or batch.chunks:
                yield from self._iteration(rep, batch, swap_out)
            else:  # pragma: no cover - the up-front checks make every request fit alone
                raise RuntimeError(f"replica {rep.index}: nothing can run (waiting "
                                   f"{len(st.waiting)}, running {len(st.running)})")

    #: Price runs of identical chunked-prefill iterations in one call (same numbers as one by
    #: one; tests switch it off to check that).
    fuse_chunks = True

    def _growth(self, kv: KvCache, run: np.ndarray, t: np.ndarray, n: int) -> np.ndarray | None:
        """Cumulative new KV blocks the requests ``run`` (KV length ``t`` at the first step)
        need over ``n`` decode steps (``None``: none, or the cache is not paged)."""
        if not kv.paged or n <= 1 or not run.size:
            return None
        first = self.held[run] * kv.block - t + 1  # step at which the next block is due
        cnt = np.maximum(0, -(-(n - first) // kv.block))
        if not cnt.sum():
            return None
        at = np.repeat(first, cnt) + kv.block * (
            np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        return np.cumsum(np.bincount(at, minlength=n)[:n])

    def _chunk_run_length(self, rep: _Replica, batch: Batch) -> int:
        """How many iterations repeat ``batch``'s shape: the same decodes and one prompt taking
        the whole token budget without finishing (no admission can happen: the budget is
        spent), until a decode finishes or the KV cache runs short."""
        (r, take), = batch.chunks
        left = int(self.pre_need[r] - self.pre_done[r])
        if take >= left:
            return 1
        k = -(-left // take) - 1  # iterations whose chunk leaves some of the prompt
        run = np.array(batch.decode, dtype=np.int64)
        rec = self.rec
        if run.size:
            k = min(k, int((rec.lout[run] - rec.made[run]).min()))
            growth = self._growth(rep.state.kv, run, rec.lin[run] + rec.made[run], k)
            if growth is not None and growth[-1] > rep.state.kv.free:
                k = int(np.searchsorted(growth, rep.state.kv.free, side="right"))
        return k

    def _chunk_run(self, rep: _Replica, batch: Batch, k: int):
        """``k`` iterations of ``batch``'s shape (see :meth:`_chunk_run_length`)."""
        env, rec, st, kv = self.env, self.rec, rep.state, rep.state.kv
        (r, take), = batch.chunks
        run = np.array(batch.decode, dtype=np.int64)
        d = run.size
        t = rec.lin[run] + rec.made[run]
        steps = np.arange(k, dtype=float)
        sum_kv = float(t.sum()) + d * steps
        context = float(self.pre_done[r]) + take * steps
        cost = rep.steps.steps(d, sum_kv, (take,), context=(context,))  # type: ignore[call-arg]
        growth = self._growth(kv, run, t, k)
        kv_tok: np.ndarray | int = kv.used * kv.block
        if growth is not None:
            kv_tok = (kv.used + growth) * kv.block
        start = env.now
        queue = len(st.waiting)
        yield env.timeout(float(cost.latency_s.sum()))
        rec.log.append(rep.index, start, cost, d, 1, take, kv_tok, queue)
        self.pre_done[r] += k * take
        if d:
            if kv.paged and k > 1:
                new = kv.blocks(t + k - 1)
                kv.used += int((new - self.held[run]).clip(min=0).sum())
                self.held[run] = np.maximum(new, self.held[run])
            rec.decode_block(start, env.now, run, cost.latency_s)
            ended = [int(x) for x in run if rec.made[x] >= rec.lout[x]]
            if ended:
                self._finish(rep, ended)

    def _make_room(self, rep: _Replica) -> tuple[int, int]:
        """Give every decoding request the KV block of its next token, preempting the most
        recently admitted running requests while memory is short; returns the preemptions
        and the tokens swapped out."""
        st, kv, rec = rep.state, rep.state.kv, self.rec
        if not kv.paged:
            return 0, 0
        preempted = swap_out = 0
        while True:
            dec = np.array(st.decoding(), dtype=np.int64)
            grow = kv.blocks(rec.lin[dec] + rec.made[dec]) - self.held[dec]
            need = int(np.maximum(grow, 0).sum())
            if need <= kv.free:
                break
            victim = st.running.pop()
            kv.used -= int(self.held[victim])
            self.held[victim] = 0
            rec.preemptions[victim] += 1
            preempted += 1
            decoding = self.pre_done[victim] >= self.pre_need[victim] and rec.made[victim] > 0
            if self.cfg.preemption == "swap" and decoding:
                self.swapped[victim] = True
                swap_out += int(rec.lin[victim] + rec.made[victim] - 1)
            else:  # recompute: prefill the prompt and the tokens made so far again
                self.pre_need[victim] = rec.lin[victim] + rec.made[victim]
                self.pre_done[victim] = 0
            st.waiting.appendleft(victim)
        if dec.size:
            kv.used += need
            self.held[dec] += np.maximum(grow, 0)
        return preempted, swap_out

    def _admit(self, rep: _Replica, admit: tuple[int, ...]) -> int:
        """Move ``admit`` from the queue to the running list with their KV; returns the
        tokens swapped in."""
        st = rep.state
        swap_in = 0
        for r in admit:
            head = st.waiting.popleft()
            assert head == r, "a policy admits from the head of the queue, in order"
            need = st.admit_blocks(r)
            st.kv.used += need
            self.held[r] = need
            if self.swapped[r]:
                swap_in += int(self.rec.lin[r] + self.rec.made[r] - 1)
                self.swapped[r] = False
            st.running.append(r)
        return swap_in

    def _kv_tokens(self, rep: _Replica) -> int:
        return rep.state.kv.used * rep.state.kv.block

    def _iteration(self, rep: _Replica, batch: Batch, swap_out: int):
        """One iteration: ``batch``'s prompt chunks and decodes."""
        env, rec, st = self.env, self.rec, rep.state
        queue = len(st.waiting)
        swap_in = self._admit(rep, batch.admit)
        dec = np.array(batch.decode, dtype=np.int64)
        sum_kv = float((rec.lin[dec] + rec.made[dec]).sum()) if dec.size else 0.0
        prompts = tuple(t for _, t in batch.chunks)
        context = tuple(int(self.pre_done[r]) for r, _ in batch.chunks)
        if rep.context and any(context):
            cost = rep.steps.steps(dec.size, np.array([sum_kv]), prompts,  # type: ignore[call-arg]
                                   context=context)
        else:
            cost = rep.steps.steps(dec.size, np.array([sum_kv]), prompts)
        swap = (swap_in + swap_out) * self.mem.swap_s_per_token
        if swap > 0:
            cost = StepCosts(cost.latency_s + swap, cost.energy_j + self.idle_w * swap,
                             cost.offload_s)
        start = env.now
        yield env.timeout(float(cost.latency_s[0]))
        rec.log.add(rep.index, start, float(cost.latency_s[0]), float(cost.energy_j[0]),
                    float(cost.offload_s[0]), dec.size, len(prompts), sum(prompts),
                    self._kv_tokens(rep), queue)
        made = []  # prompts whose last chunk ran: they made a token
        for r, t in batch.chunks:
            self.pre_done[r] += t
            if self.pre_done[r] >= self.pre_need[r]:
                made.append(r)
        rec.tokens(env.now, np.concatenate([dec, np.array(made, dtype=np.int64)]))
        ended = [r for r in st.running if rec.made[r] >= rec.lout[r]]
        if ended:
            self._finish(rep, ended)

    def _decode_block(self, rep: _Replica, decode: tuple[int, ...]):
        """Decode iterations until the next completion, the next admissible arrival or the
        next KV shortage."""
        env, rec, st, kv = self.env, self.rec, rep.state, rep.state.kv
        run = np.array(decode, dtype=np.int64)
        left = rec.lout[run] - rec.made[run]
        n = int(left.min())
        d = run.size
        t = rec.lin[run] + rec.made[run]  # KV length of each request's first step here
        queue = len(st.waiting)
        growth = self._growth(kv, run, t, n)  # blocks each later step needs
        if growth is not None and growth[-1] > kv.free:  # stop before a shortage
            n = int(np.searchsorted(growth, kv.free, side="right"))
        t_next = self._next_arrival() if self.policy.admits_on_arrival(st) else np.inf
        kv0 = float(t.sum())
        # cost steps in growing chunks until the block ends or passes the next arrival
        parts: list[StepCosts] = []
        done, elapsed = 0, 0.0
        chunk = n if not np.isfinite(t_next) else max(
            2, min(n, int(t_next / rep.last_step_s) + 2))
        while done < n and elapsed < t_next:
            k = min(chunk, n - done)
            sum_kv = kv0 + d * np.arange(done, done + k, dtype=float)
            cost = rep.steps.steps(d, sum_kv)
            parts.append(cost)
            done += k
            elapsed += float(cost.latency_s.sum())
            chunk *= 2
        lat, energy, pim = (np.concatenate([getattr(p, f) for p in parts])
                            for f in ("latency_s", "energy_j", "offload_s"))
        rep.last_step_s = float(lat[-1])
        ends = np.cumsum(lat)
        if np.isfinite(t_next):
            cut = int(np.searchsorted(ends, t_next, side="left"))
            n = min(done, cut + 1)
        else:
            n = done
        lat, energy, pim, ends = lat[:n], energy[:n], pim[:n], ends[:n]
        kv_tok: np.ndarray | int = kv.used * kv.block
        if growth is not None:  # blocks in use during each step
            kv_tok = (kv.used + growth[:n]) * kv.block
        start = env.now
        yield env.timeout(float(ends[-1]))
        rec.log.append(rep.index, start, StepCosts(lat, energy, pim), d, 0, 0, kv_tok, queue)
        if kv.paged and n > 1:
            new = kv.blocks(t + n - 1)
            kv.used += int((new - self.held[run]).clip(min=0).sum())
            self.held[run] = np.maximum(new, self.held[run])
        rec.decode_block(start, env.now, run, lat)
        ended = [int(r) for r in run if rec.made[r] >= rec.lout[r]]
        if ended:
            self._finish(rep, ended)


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
