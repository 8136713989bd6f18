"""AMPER (``amper``): prioritized replay by search in TCAM arrays.

Source design: M. Li, A. Kazemi, A. F. Laguna, X. S. Hu, "Associative Memory Based Experience
Replay for Deep Reinforcement Learning", ICCAD 2022 (arXiv 2207.07791): priorities in TCAM
arrays, a uniform random number generator (URNG), a candidate-set buffer, AMPER-k and AMPER-fr
sampling. Only the abstract was available to us; the array organisation and the search
procedure below are our documented reading (the functional twin is
:mod:`accel_sim.replay._amper`, whose specification this hardware executes). Circuit constants
are the defaults of the same group's CAMASim cost model (``CAMASim/performance/
cost_config.json``, 45 nm 2FeFET TCAM from Eva-CAM), per 64-row x 64-bit subarray: search
2.6 ns / 1.28 pJ, interconnect 0.175 ns / 0.225 pJ, peripheral 1.467 ns / 1.6 pJ, row write
20 ns / 23.5 pJ, adder/comparator 0.244 ns / 1.33 fJ, register 4.5 fJ; CAMASim adds 10 % for
global interconnect (128-row subarrays: search 4.2 ns / 2.56 pJ, interconnect 0.277 ns /
0.367 pJ, write 20 ns / 47 pJ).

Organisation: one transition per TCAM row; a row stores its ``priority_bits``-bit code plus
``tag_bits`` (valid bit); ``ceil(capacity / rows)`` of the ``arrays`` subarrays are active
(more transitions than rows: a ``tcam_rows`` violation). Subarray search and write energies
scale with the stored width over the 64-bit subarray of the constants.

Per operation (all sequential on one TCAM port):

* **insert / update**: one row write per transition (code of the new priority), plus the
  peripheral and interconnect delay of addressing the row.
* **sample**: for each of the ``batch`` draws, the URNG makes a query code ``v``; the
  candidate set ``C(v)`` is built by TCAM searches with masked (don't-care) low bits: the code
  window ``[v - d, v + d]`` is covered by ternary prefixes (exact prefix count, averaged over
  ``v``), one search each, the match lines latched into the candidate-set buffer and counted by
  an adder tree (6 levels per 64-row subarray, ``log2`` of the active subarrays above).
  AMPER-fr searches its window once (``d = radius``). AMPER-k finds the smallest window with
  ``k`` matches by exponential search (``d = 0, 1, 3, 7, ...`` until the match count reaches
  ``k``) and binary refinement, plus a final latch at ``d_k`` unless the last probe was there;
  the prefix count of each probe is evaluated at the probed ``d`` on the path towards ``d_k``,
  with ``d_k`` estimated for transitions spread evenly over the codes
  (``(2 d_k + 1) N / 2^b >= k``). The pick: the URNG draws ``r`` below the match count, a
  comparator walk down the count tree finds the subarray and a priority encoder the row.

Cycles are counted at ``clock_mhz`` (the controller clock), each step rounded up to whole
cycles. The TCAM is non-volatile (FeFET): no standby power is charged. The transition data
themselves live in ordinary memory in both AMPER and PER and are not modelled.

Accuracy (``replay`` workload with ``env`` set): the mean final DQN return with the
functional AMPER buffer of this configuration (alpha 0.6, see :mod:`accel_sim.replay`).

Precision: the device's ``priority_bits`` (the stored code width) wins; the trace's bits
(``replay`` traces carry 32-bit priorities) are not used.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .._device import Device
from .._ir import REPLAY_OPS, Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..errors import ConfigError
from ..tasks import DqnLearning, Task
from ._fidelity import FewerSteps
from ._replay_common import learning_accuracy, replay_columns

__all__ = ["AmperConfig", "AmperTcam", "mean_prefixes", "search_plan"]

#: CAMASim TCAM subarray constants by rows: (search ns, search pJ, interconnect ns,
#: interconnect pJ, peripheral ns, peripheral pJ, write ns, write pJ), 64-bit words.
TCAM = {
    64: (2.6, 1.28, 0.175, 0.225, 1.46667, 1.60, 20.0, 23.5),
    128: (4.2, 2.56, 0.277, 0.367, 1.46667, 1.60, 20.0, 47.0),
}
CONST_WIDTH = 64  # bits per row of the constants' subarray
ADDER_NS, ADDER_PJ = 0.244, 1.33e-3  # CAMASim adder (comparator: same delay)
REGISTER_PJ = 4.5e-3  # CAMASim register (per bit latched)
GLOBAL_IC = 1.10  # CAMASim: +10 % for global interconnect
URNG_BITS = 32  # LFSR width; one clock per number, one register write per bit


@njit(cache=True)
def _prefixes(lo: int, hi: int) -> int:  # pragma: no cover - compiled
    """Ternary prefixes (aligned power-of-two blocks) that exactly cover [lo, hi]."""
    count = 0
    while lo <= hi:
        size = lo & -lo if lo > 0 else 1 << 30
        while lo + size - 1 > hi:
            size >>= 1
        lo += size
        count += 1
    return count


@njit(cache=True)
def _mean_prefixes(levels: int, d: int) -> float:  # pragma: no cover - compiled
    total = 0
    for v in range(levels):
        total += _prefixes(max(v - d, 0), min(v + d, levels - 1))
    return total / levels


@functools.lru_cache(maxsize=4096)
def mean_prefixes(bits: int, d: int) -> float:
    """TCAM searches to cover the code window ``[v - d, v + d]``, averaged over ``v``."""
    return float(_mean_prefixes(1 << bits, min(d, (1 << bits) - 1)))


@functools.lru_cache(maxsize=4096)
def search_plan(bits: int, search: str, k: int, radius: int, capacity: int) -> float:
    """Mean TCAM searches per sampled transition (see the module docs)."""
    levels = 1 << bits
    if search == "fr":
        return mean_prefixes(bits, radius)
    per_code = max(capacity, 1) / levels
    target = min(k, capacity)
    d_k = min(levels - 1, max(0, math.ceil((target / per_code - 1.0) / 2.0)))
    # exponential search d = 0, 1, 3, 7, ... until the window holds k, then binary refinement
    total, last, prev, d = mean_prefixes(bits, 0), 0, -1, 0
    while d < d_k:
        prev, d = d, min(2 * d + 1, levels - 1)
        total, last = total + mean_prefixes(bits, d), d
    lo, hi = prev + 1, d
    while lo < hi:
        mid = (lo + hi) // 2
        total, last = total + mean_prefixes(bits, mid), mid
        if mid >= d_k:
            hi = mid
        else:
            lo = mid + 1
    if last != d_k:  # latch the candidate set at d_k
        total += mean_prefixes(bits, d_k)
    return total


@dataclass(frozen=True)
class AmperConfig(Config):
    """Configuration of the AMPER TCAM replay memory."""

    search: str = param("k", choices=("k", "fr"),
                        doc="AMPER-k (k nearest codes) or AMPER-fr (fixed radius).")
    k: int = param(32, low=1, high=4096, log=True, active_if=("search", ("k",)),
                   unit="transitions", doc="Neighbours per search (AMPER-k).")
    radius: int = param(2, low=0, high=64, active_if=("search", ("fr",)),
                        unit="code steps", doc="Search radius (AMPER-fr), <= 2^priority_bits "
                                               "- 1.")
    priority_bits: int = param(8, low=1, high=16, unit="bit",
                               doc="Bits of a stored priority code (search width); wins "
                                   "over the trace's bits (not used).")
    tag_bits: int = param(1, low=0, high=16, unit="bit", search=False,
                          doc="Extra bits per row (valid bit).")
    rows: int = param(64, choices=(64, 128), unit="rows",
                      doc="Rows per TCAM subarray (CAMASim's TCAM_64 / TCAM_128).")
    arrays: int = param(16384, low=1, high=1 << 20, log=True, unit="subarrays", search=False,
                        doc="TCAM subarrays on the chip (default: 1M rows of 64).")
    clock_mhz: float = param(1000.0, low=100.0, high=4000.0, unit="MHz", search=False,
                             doc="Controller clock (assumption: 1 GHz at 45 nm).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of the functional DQN runs (accuracy metric).")

    def _check(self) -> None:
        if self.radius > (1 << self.priority_bits) - 1:
            raise ConfigError(f"AmperConfig.radius={self.radius} must be in [0, "
                              f"{(1 << self.priority_bits) - 1}] (2^priority_bits - 1)")

    @property
    def width(self) -> int:
        """Stored bits per row."""
        return self.priority_bits + self.tag_bits


class AmperTcam(FewerSteps, Device[AmperConfig]):
    """AMPER replay memory on TCAM arrays (see the module docs for the model)."""

    name = "amper"
    Config = AmperConfig
    description = "AMPER: prioritized replay by TCAM search (AMPER-k / AMPER-fr)"
    metrics = (
        Metric("rows", "rows", "minimize",
               doc="TCAM rows of the design (arrays x rows)."),
        Metric("searches", "searches", "minimize",
               doc="TCAM searches of the sample ops."),
        Metric("searches_per_sample", "searches", "minimize",
               doc="Searches per sampled transition."),
    )
    supported_ops = REPLAY_OPS
    supported_tasks = frozenset({DqnLearning})

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        t_sub, e_sub, t_ic, e_ic, t_per, e_per, t_wr, e_wr = TCAM[cfg.rows]
        scale = cfg.width / CONST_WIDTH
        clk = cfg.clock_mhz * 1e-3  # cycles per ns
        m, cap, is_smp, _ = replay_columns(trace)  # inserts and updates share the write model
        active = np.ceil(cap / cfg.rows)
        levels_up = np.ceil(np.log2(np.maximum(active, 1.0)))
        adder_levels = math.log2(cfg.rows) + levels_up

        def cycles(ns: np.ndarray | float) -> np.ndarray:
            return np.ceil(np.asarray(ns) * clk)

        # one search: subarray + interconnect + peripheral, match count up the adder tree
        search_ns = (t_sub + t_ic + t_per + adder_levels * ADDER_NS) * GLOBAL_IC
        search_pj = (active * ((e_sub * scale + e_ic + e_per) + (cfg.rows - 1) * ADDER_PJ
                               + cfg.rows * REGISTER_PJ)) * GLOBAL_IC
        searches = np.array([search_plan(cfg.priority_bits, cfg.search, cfg.k, cfg.radius,
                                         int(n)) for n in cap])
        pick_ns = adder_levels * ADDER_NS  # comparator walk + priority encoder
        pick_pj = adder_levels * ADDER_PJ + 2 * URNG_BITS * REGISTER_PJ  # 2 random numbers
        draw_cycles = (2 + searches * cycles(search_ns) + cycles(pick_ns))  # 2 URNG clocks
        write_cycles = cycles((t_wr + t_ic + t_per) * GLOBAL_IC)
        write_pj = (e_wr * scale + e_ic + e_per) * GLOBAL_IC

        cyc = np.where(is_smp, m * draw_cycles, m * write_cycles)
        latency = cyc / (cfg.clock_mhz * 1e6)
        e_search = np.where(is_smp, m * searches * search_pj, 0.0) * 1e-12
        e_periph = np.where(is_smp, m * pick_pj, 0.0) * 1e-12
        e_write = np.where(is_smp, 0.0, m * write_pj) * 1e-12
        energy = e_search + e_periph + e_write
        util = np.clip(active / cfg.arrays, 0.0, 1.0)
        over = float((active.max() - cfg.arrays) / cfg.arrays) if len(trace) else -1.0
        extra: dict[str, float] = {
            "searches_per_sample": float(searches[is_smp].mean()) if is_smp.any() else 0.0,
            "rows": float(cfg.arrays * cfg.rows)}
        extra.update(self.task_metrics(trace))
        return self.report(
            trace, {"cycles": cyc, "latency_s": latency, "energy_j": energy,
                    "energy_search_j": e_search, "energy_periph_j": e_periph,
                    "energy_write_j": e_write, "utilization": util,
                    "searches": np.where(is_smp, m * searches, 0.0)},
            extra=extra, violations={"tcam_rows": over})

    def accuracy(self, task: Task) -> float:
        """Mean final DQN return of a :class:`~accel_sim.tasks.DqnLearning` task with an
        AMPER buffer of this configuration."""
        assert isinstance(task, DqnLearning)
        cfg = self.config
        return learning_accuracy(task, "amper-k" if cfg.search == "k" else "amper-fr",
                                 self._buffer_options(), cfg.seed)

    def _buffer_options(self) -> dict[str, float]:
        cfg = self.config
        opts: dict[str, float] = {"priority_bits": cfg.priority_bits}
        if cfg.search == "k":
            opts["k"] = cfg.k
        else:
            opts["radius"] = cfg.radius
        return opts
