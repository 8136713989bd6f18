"""Sum-tree prioritized replay (PER, Schaul et al. 2016) on a GPU (``per_gpu``) and a CPU
(``per_cpu``): the baselines of AMPER.

A sum tree over ``N`` leaves has ``D = ceil(log2 N)`` levels below the root. Sampling one
transition walks root -> leaf: ``D`` dependent reads of a left child's sum. Updating (or
inserting) one priority writes its leaf and walks leaf -> root recomputing ``D`` parents from
their children (sum tree and min tree, the min tree giving the largest importance weight).
Tree level ``l`` holds ``2^l`` nodes; a level is served by the smallest cache that holds the
levels above it and itself (8-byte nodes, sum and min trees): random accesses to a level whose
working set fits a cache hit in that cache.

**per_gpu**: the batch runs in parallel (one thread per transition; ``waves`` when the batch
exceeds the resident threads), so a walk costs ``D`` dependent memory latencies, not ``B D``.
``impl="per_level"`` is a framework implementation (one vectorised tensor op per tree level,
as in PyTorch/TensorFlow sum trees): ``D`` + fixed kernel launches per operation;
``impl="fused"`` is one CUDA kernel per operation. Sampling ends with a device-to-host copy of
indices and weights (a synchronisation). Energy: board power x latency.

Default GPU constants (assumptions, A100-40GB class; the AMPER paper's GPU is not known to
us): 4 us per dependent small-kernel launch (as the ``gpu`` device), L2 hit 200 ns, DRAM
480 ns (pointer-chase latencies of A100-class GPUs), 40 MB L2, 108 SMs x 2048 threads,
10 us synchronisation + PCIe copy, 100 W board power while running latency-bound kernels
(idle ~50 W, TDP 250-400 W).

**per_cpu**: our numba sum tree (:class:`accel_sim.replay.PrioritizedReplay`) on one core:
a fixed software cost per call (Python dispatch, argument checks, array allocation), then per
transition and level the cache or DRAM latency of the level plus ``node_ns`` of arithmetic;
walks of different transitions are independent and overlap ``mlp`` ways in the out-of-order
core. Defaults: this machine (AMD EPYC, Zen 4 class: 32 KiB L1d and 1 MiB L2 per core,
32 MiB L3, ``lscpu``) with Zen 4 load-to-use latencies (AMD software optimisation guide:
4 / 14 / 50 cycles at ~3.1 GHz; DRAM ~100 ns) and a 3072-entry L2 data TLB of 4 KiB pages;
the per-call cost is the time of our buffer at 32 slots on this machine, per kind of call
(``benchmarks/bench_replay.py``). The cost model is checked against our sum tree measured on
this machine in ``benchmarks/bench_replay.py``.

Accuracy (``replay`` workload with ``env`` set): the mean final DQN return with the functional
PER buffer (alpha 0.6, beta 0.4 -> 1), the same for both platforms.

Precision: a fixed format, 8-byte tree nodes (``NODE_BYTES``: float64 sums and minima, as our
sum tree stores them); the trace's bits are not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._device import Device
from .._ir import REPLAY_OPS, Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..tasks import DqnLearning, Task
from ._fidelity import FewerSteps
from ._replay_common import learning_accuracy, replay_columns, tree_depth

__all__ = ["PerCpu", "PerCpuConfig", "PerGpu", "PerGpuConfig", "level_latency_ns"]

NODE_BYTES = 8.0
TREES = 2  # sum tree and min tree


def level_latency_ns(depth: np.ndarray, caches: list[tuple[float, float]],
                     memory_ns: float) -> np.ndarray:
    """Sum over levels ``0..depth`` of each level's access latency.

    ``caches``: (capacity in bytes, latency in ns), smallest first. Level ``l`` is served by
    the first cache holding the ``TREES`` trees' levels ``0..l`` (``2^(l+1)`` nodes each).
    """
    depth = np.asarray(depth, np.float64)
    out = np.zeros_like(depth)
    top = int(depth.max()) if depth.size else 0
    for lev in range(top + 1):
        size = TREES * NODE_BYTES * 2.0 ** (lev + 1)
        lat = next((ns for cap, ns in caches if size <= cap), memory_ns)
        out += np.where(lev <= depth, lat, 0.0)
    return out


@dataclass(frozen=True)
class PerGpuConfig(Config):
    """Sum-tree PER on a GPU (constants: A100-class assumptions, see module docs)."""

    impl: str = param("per_level", choices=("per_level", "fused"),
                      doc="per_level: one tensor op (kernel) per tree level; fused: one "
                          "kernel per operation.")
    launch_us: float = param(4.0, low=0.0, high=100.0, unit="us",
                             doc="Launch overhead of one dependent small kernel.")
    sample_kernels: int = param(4, low=1, high=64, search=False,
                                doc="Fixed kernels per sample (random numbers, leaf gather, "
                                    "min-tree read, weights).")
    update_kernels: int = param(2, low=1, high=64, search=False,
                                doc="Fixed kernels per update/insert (leaf scatter, max "
                                    "priority).")
    l2_ns: float = param(200.0, low=1.0, high=5000.0, unit="ns", search=False,
                         doc="L2 hit latency.")
    dram_ns: float = param(480.0, low=1.0, high=5000.0, unit="ns", search=False,
                           doc="DRAM (HBM) access latency.")
    l2_mb: float = param(40.0, low=0.5, high=1024.0, unit="MB", search=False,
                         doc="L2 capacity.")
    threads: int = param(108 * 2048, low=32, high=1 << 24, search=False,
                         doc="Resident threads (SMs x threads per SM).")
    sync_us: float = param(10.0, low=0.0, high=1000.0, unit="us", search=False,
                           doc="Synchronisation and PCIe copy of a sampled batch to the host.")
    power_w: float = param(100.0, low=1.0, high=1000.0, unit="W", search=False,
                           doc="Board power while running the replay kernels.")
    clock_mhz: float = param(1410.0, low=100.0, high=5000.0, unit="MHz", search=False,
                             doc="SM clock (cycles column).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of the functional DQN runs (accuracy metric).")


class PerGpu(FewerSteps, Device[PerGpuConfig]):
    """Sum-tree PER on a GPU (see the module docs)."""

    name = "per_gpu"
    Config = PerGpuConfig
    description = "Sum-tree prioritized replay on a GPU (AMPER's baseline)"
    metrics = (
        Metric("tree_depth", "levels", None,
               doc="Levels of the sum tree."),
        Metric("kernels", "kernel launches", "minimize",
               doc="GPU kernels launched."),
    )
    supported_ops = REPLAY_OPS
    supported_tasks = frozenset({DqnLearning})

    def accuracy(self, task: Task) -> float:
        """Mean final DQN return of a :class:`~accel_sim.tasks.DqnLearning` task with a
        sum-tree PER buffer."""
        assert isinstance(task, DqnLearning)
        return learning_accuracy(task, "per", {}, self.config.seed)

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        m, cap, is_smp, _ = replay_columns(trace)
        depth = tree_depth(cap)
        walk_ns = level_latency_ns(depth, [(cfg.l2_mb * 1e6, cfg.l2_ns)], cfg.dram_ns)
        waves = np.ceil(m / cfg.threads)
        fixed = np.where(is_smp, cfg.sample_kernels, cfg.update_kernels)
        kernels = fixed + (depth if cfg.impl == "per_level" else 0.0)
        # sampling reads each level once; an update reads the sibling and writes the parent
        mem_ns = np.where(is_smp, walk_ns, 2.0 * walk_ns) * waves
        latency = (kernels * cfg.launch_us * 1e-6 + mem_ns * 1e-9
                   + np.where(is_smp, cfg.sync_us * 1e-6, 0.0))
        util = np.clip(m / (waves * cfg.threads), 0.0, 1.0)
        return _report(self, trace, latency, cfg.power_w, cfg.clock_mhz, util,
                       {"kernels": kernels})


@dataclass(frozen=True)
class PerCpuConfig(Config):
    """Our numba sum tree on one CPU core (constants: this machine, see module docs)."""

    call_insert_us: float = param(8.0, low=0.0, high=1000.0, unit="us", search=False,
                                  doc="Software cost of one add call (measured, 32 slots).")
    call_sample_us: float = param(10.0, low=0.0, high=1000.0, unit="us", search=False,
                                  doc="Software cost of one sample call: random numbers, "
                                      "weights (measured, 32 slots).")
    call_update_us: float = param(2.5, low=0.0, high=1000.0, unit="us", search=False,
                                  doc="Software cost of one update call (measured, 32 slots).")
    tlb_mib: float = param(12.0, low=0.1, high=1 << 20, unit="MiB", search=False,
                           doc="Reach of the second-level data TLB (Zen 4: 3072 x 4 KiB).")
    page_walk_ns: float = param(30.0, low=0.0, high=1000.0, unit="ns", search=False,
                                doc="Page walk on a TLB miss (assumption).")
    node_ns: float = param(1.5, low=0.0, high=100.0, unit="ns", search=False,
                           doc="Arithmetic per tree node visited (compare, subtract, branch).")
    mlp: float = param(1.0, low=1.0, high=16.0, search=False,
                       doc="Independent walks overlapped by the out-of-order core.")
    l1_kib: float = param(32.0, low=1.0, high=4096.0, unit="KiB", search=False,
                          doc="L1 data cache per core.")
    l2_kib: float = param(1024.0, low=16.0, high=65536.0, unit="KiB", search=False,
                          doc="L2 cache per core.")
    l3_mib: float = param(32.0, low=0.5, high=4096.0, unit="MiB", search=False,
                          doc="Last-level cache.")
    l1_ns: float = param(1.3, low=0.1, high=100.0, unit="ns", search=False,
                         doc="L1 load-to-use latency (4 cycles).")
    l2_ns: float = param(4.5, low=0.1, high=100.0, unit="ns", search=False,
                         doc="L2 latency (14 cycles).")
    l3_ns: float = param(16.0, low=0.1, high=500.0, unit="ns", search=False,
                         doc="L3 latency (50 cycles).")
    dram_ns: float = param(100.0, low=1.0, high=2000.0, unit="ns", search=False,
                           doc="DRAM latency.")
    power_w: float = param(5.0, low=0.1, high=500.0, unit="W", search=False,
                           doc="Power of one busy core with its share of the uncore "
                               "(assumption).")
    clock_mhz: float = param(3100.0, low=100.0, high=6000.0, unit="MHz", search=False,
                             doc="Core clock (cycles column).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of the functional DQN runs (accuracy metric).")


class PerCpu(FewerSteps, Device[PerCpuConfig]):
    """Sum-tree PER on one CPU core (see the module docs)."""

    name = "per_cpu"
    Config = PerCpuConfig
    description = "Sum-tree prioritized replay on a CPU core (our numba sum tree)"
    metrics = (
        Metric("tree_depth", "levels", None,
               doc="Levels of the sum tree."),
    )
    supported_ops = REPLAY_OPS
    supported_tasks = frozenset({DqnLearning})

    def accuracy(self, task: Task) -> float:
        """Mean final DQN return of a :class:`~accel_sim.tasks.DqnLearning` task with our sum
        tree (the buffer this device models)."""
        assert isinstance(task, DqnLearning)
        return learning_accuracy(task, "per", {}, self.config.seed)

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        m, cap, is_smp, is_ins = replay_columns(trace)
        depth = tree_depth(cap)
        caches = [(cfg.l1_kib * 1024, cfg.l1_ns), (cfg.l2_kib * 1024, cfg.l2_ns),
                  (cfg.l3_mib * 1024**2, cfg.l3_ns)]
        walk_ns = (level_latency_ns(depth, caches, cfg.dram_ns)
                   + level_latency_ns(depth, [(cfg.tlb_mib * 1024**2, 0.0)],
                                      cfg.page_walk_ns)) / cfg.mlp
        nodes = depth + 1
        # an update walks both trees (two independent loads per level, overlapped)
        per_item = walk_ns + np.where(is_smp, 1.0, 2.0) * nodes * cfg.node_ns
        call_us = np.where(is_smp, cfg.call_sample_us,
                           np.where(is_ins, cfg.call_insert_us, cfg.call_update_us))
        latency = call_us * 1e-6 + m * per_item * 1e-9
        util = np.zeros_like(latency)  # one core of a latency-bound walk: no peak to compare
        return _report(self, trace, latency, cfg.power_w, cfg.clock_mhz, util, {})


def _report(device: Device[Any], trace: Trace, latency: np.ndarray, power_w: float,
            clock_mhz: float, util: np.ndarray, more: dict[str, np.ndarray]) -> Report:
    """Report of a platform drawing ``power_w`` while busy, cycles counted at ``clock_mhz``."""
    energy = latency * power_w
    cycles = np.ceil(latency * clock_mhz * 1e6)
    return device.report(
        trace, {"cycles": cycles, "latency_s": latency, "energy_j": energy,
                "utilization": util, "tree_depth": tree_depth(trace.columns["n"]), **more},
        extra=device.task_metrics(trace))
