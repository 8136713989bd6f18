"""LearningGroup (``learning_group``): sparse training with learnable weight grouping on an FPGA.

Source design: J. Yang, J. Kim, J.-Y. Kim, "LearningGroup: A Real-Time Sparse Training on FPGA
via Learnable Weight Grouping for Multi-Agent Reinforcement Learning", FPT 2022 (arXiv
2210.16624): Alveo U280 at 175 MHz, FP16, 3 cores (one per SLR) x 264 vector units (VU: FP16
multiplier, adder, 4:1 mux, 4 accumulators; a core handles up to 4 rows at once), the OSEL
on-chip sparse encoder, 36.3 W. Constants not in ``../shared/REFERENCES.md`` (the paper's
full text was not available to us) are our assumptions, marked as such per parameter.

Model (cycle-approximate, per layer of a forward or training trace):

* **Grouping.** With ``groups = G`` a ``K x N`` weight keeps ``mask[i, j] = [g(i) == h(j)]``:
  rows and columns are split into ``G`` balanced groups (sizes differ by at most one; the
  functional FLGW keeps its learned groups within a few % of balanced, see
  :mod:`accel_sim.sparse`), so a row of group ``g`` has ``|h^-1(g)|`` nonzeros and the
  density is ``~1/G``. Layers narrower than ``G`` (``min(K, N) < G``: the 1-5-way heads of
  IC3Net) run dense.
* **Row pass.** Every sparse GEMM is processed row by row of the weight operand: forward
  ``Y = X @ W`` over the ``K`` rows of ``W`` (row length ``N``), backward-data ``dX = dY @
  W^T`` over the ``N`` rows of ``W^T`` (the transposed mask), backward-weight ``dW = X^T dY``
  at the mask's nonzeros over the ``K`` rows, once per input vector (``A x B`` of them).
  As the paper's abstract describes ("each core handles multiple sparse rows of the weight
  matrix simultaneously with vector processing units"), a core packs whole rows onto its
  ``vus_per_core`` VUs, one FP16 MAC per VU and cycle: rows of ``r <= VUs`` nonzeros go
  ``floor(VUs / r)`` to a cycle, longer rows take ``floor(r / VUs)`` full cycles and pack
  their remainder (``rows_per_core`` caps the rows per cycle if set). What is lost: the VUs
  a cycle's whole rows cannot fill (e.g. 264 - 2 x 128 = 8), the tail cycle of a pass, and
  the load imbalance between cores. Row-level load balancing: rows sorted by nonzeros (the
  OSEL tuples' workload field) are dealt round-robin to the cores; the busiest core sets
  the time. The weight is stored in whichever orientation (rows of ``W`` or
  of ``W^T``) is faster for the pass (narrow heads: ``W^T``, our mapping choice). Each layer
  pays ``pipeline_cycles`` of fill.
* **OSEL.** Masks change every iteration, so each sparse layer's rows are encoded to
  (bitvector, workload, index) tuples for its forward and backward-data passes. The masks
  of an iteration are known when it starts (IG/OG were updated at the end of the previous
  one), so each core's encoder runs ahead of its VUs through the whole iteration, layer
  after layer: a layer starts when the previous one has finished *and* its own rows are
  encoded (``start_i = max(end_{i-1}, encoded_i)``, ``encoded_i`` the encoder's cumulative
  time). The encoder stalls the VUs only where it falls behind; a layer's ``cycles`` include
  that stall. (Our reading of "loop": the paper reports only the encoder's own speedup.) Without
  OSEL every row costs a miss: scanning its bitvector ``ceil(L / osel_scan_bits)`` cycles plus
  the tuple write (``osel_hit_cycles``); with OSEL rows of the same group reuse the cached
  tuple: ``G`` misses and ``rows - G`` hits. Charged on training traces only (an inference
  mask is encoded once, offline).
* **Update.** RMSprop on the kept weights (``update_flops_per_weight`` vector operations per
  weight) and the IG/OG update: ``igog_flops_per_nnz`` per kept weight (straight-through
  gradient of the kept entries) plus ``igog_flops_per_entry`` per IG/OG entry (softmax
  backward and RMSprop), all on the VUs at one operation per VU and cycle.
* **Vector ops** (activations, LSTM gates, communication mean): one operation per VU and cycle.
* **Energy** = constant board power x latency. The paper's own figures imply one power:
  both ends of its efficiency range are its throughput range over 36.25 W (257.40 / 36.25 =
  7.10 and 3629.48 / 36.25 = 100.12 GFLOPS/W), so a dynamic part growing with activity would
  contradict them; the static/dynamic split of the design is not published.
* **Resources**: DSPs, LUTs, flip-flops per VU and on-chip memory (FP16 weights, gradients,
  RMSprop state, IG/OG, activations kept for backprop) against the board (violations, not
  errors: the explorer learns the feasible region).

``flops`` are dense-equivalent (the trace's), so ``flops / latency`` is the effective
throughput the paper reports; ``utilization`` counts the MACs actually executed.

Precision: a fixed format, FP16 (the paper's datapath, above). The trace's ``input_bits``,
``weight_bits`` and ``output_bits`` do not change the model: on-chip memory counts weights,
gradients, optimiser state and kept activations at FP16 (:data:`FP16_BYTES`) whatever
precision the trace was built with; timing counts MACs and energy is board power x time.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._device import Device
from .._ir import Layer, Phase, Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..errors import ConfigError
from ..tasks import Classification, Task
from ._fidelity import FewerEpochs
from ._fpga import BOARDS, FpgaBoard, Resources, violations

if TYPE_CHECKING:
    from ..sparse._training import Scheme


__all__ = ["LearningGroup", "LearningGroupConfig"]

#: Bytes of one FP16 value: the datapath's fixed format (the trace's bits are not used).
FP16_BYTES = 2


@dataclass(frozen=True)
class LearningGroupConfig(Config):
    """Configuration of the LearningGroup FPGA sparse-training datapath."""

    groups: int = param(1, low=1, high=16, unit="groups",
                        doc="FLGW groups G (density 1/G; 1 = dense). Paper: G = 1-16.")
    cores: int = param(3, low=1, high=12, unit="cores",
                       doc="Cores (paper: 3, one per U280 SLR).")
    vus_per_core: int = param(264, low=8, high=2048, log=True, unit="VUs",
                              doc="Vector units per core, one FP16 MAC each per cycle "
                                  "(paper: 264).")
    rows_per_core: int | None = param(None, low=1, high=4096, optional=True, unit="rows",
                                      search=False,
                                      doc="Cap on the rows a core starts per cycle; unset: as "
                                          "many rows as their nonzeros fill its VUs (the "
                                          "paper's allocation). 4 reproduces our earlier "
                                          "issue-limited model.")
    clock_mhz: float = param(175.0, low=50.0, high=800.0, unit="MHz", search=False,
                             doc="Clock (paper: 175 MHz).")
    board: str = param("u280", choices=tuple(BOARDS), search=False,
                       doc="FPGA board (paper: Alveo U280).")
    osel: bool = param(True, doc="On-chip sparse encoder with cached row tuples.")
    osel_scan_bits: int = param(32, low=1, high=4096, unit="bit/cycle", search=False,
                                doc="Mask bits the encoder scans per cycle on a miss "
                                    "(assumption: a 32-bit datapath).")
    osel_hit_cycles: int = param(1, low=1, high=64, unit="cycles", search=False,
                                 doc="Cycles to emit a cached tuple (and the tuple write of a "
                                     "miss) (assumption).")
    pipeline_cycles: int = param(2, low=0, high=1000, unit="cycles", search=False,
                                 doc="Fill/drain of the VU pipeline per layer pass. "
                                     "Calibrated (the model's one fitted constant) on the "
                                     "paper's dense 257.4 GFLOPS (A=4, B=1): 2 cycles, below "
                                     "the datapath's ~8 stages, so consecutive passes overlap "
                                     "most of their fill.")
    update_flops_per_weight: int = param(6, low=1, high=64, unit="ops", search=False,
                                         doc="RMSprop per weight: v = rho v + (1-rho) g^2 (3), "
                                             "w -= lr g / sqrt(v + eps) (3) (paper: RMSprop).")
    igog_flops_per_nnz: int = param(3, low=0, high=64, unit="ops", search=False,
                                    doc="IG/OG gradient per kept weight: g*w and two "
                                        "accumulations (assumption).")
    igog_flops_per_entry: int = param(10, low=0, high=256, unit="ops", search=False,
                                      doc="Per IG/OG entry: softmax backward (4) and RMSprop "
                                          "(6) (assumption).")
    power_w: float = param(36.3, low=0.1, high=500.0, unit="W", search=False,
                           doc="Board power, constant (paper: 36.3 W).")
    dsp_per_vu: int = param(2, low=0, high=16, search=False,
                            doc="DSP48E2 per VU: FP16 multiplier and adder, one each "
                                "(assumption).")
    lut_per_vu: int = param(600, low=0, high=100_000, search=False,
                            doc="LUTs per VU: 4:1 mux, 4 accumulators, control "
                                "(assumption).")
    ff_per_vu: int = param(900, low=0, high=100_000, search=False,
                           doc="Flip-flops per VU (assumption).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of the functional FLGW training (accuracy metric).")
    train_epochs: int | None = param(None, low=1, high=10_000, optional=True, search=False,
                                     doc="Epochs of the functional training (default: those "
                                         "of the shipped dense weights).")

    @property
    def vus(self) -> int:
        """Vector units in total."""
        return self.cores * self.vus_per_core

    @property
    def peak_gflops(self) -> float:
        """Peak FP16 throughput, GFLOP/s (2 FLOP per VU and cycle)."""
        return 2.0 * self.vus * self.clock_mhz * 1e-3


def _row_profile(rows: int, length: int, groups: int) -> tuple[int, int, int]:
    """Nonzeros per row under balanced grouping (row group g meets column group g), in closed
    form: ``(c, hi, lo)``, the ``c`` rows with most nonzeros have ``hi`` each, the others ``lo``.

    Rows and columns are split into ``groups`` sizes differing by at most one, largest first
    (``divmod``); the ``e_L`` column groups of ``b_L + 1`` columns meet the rows of the first
    ``e_L`` row groups. O(1) memory, whatever the layer size (the rows are never listed).
    """
    if groups <= 1:
        return rows, length, length
    b_len, e_len = divmod(length, groups)
    b_rows, e_rows = divmod(rows, groups)
    return e_len * b_rows + min(e_len, e_rows), b_len + 1, b_len


def _nnz(rows: int, length: int, groups: int) -> int:
    """Nonzeros of a ``rows x length`` weight under balanced grouping."""
    c, hi, lo = _row_profile(rows, length, groups)
    return c * hi + (rows - c) * lo


def _dealt(count: int, core: int, cores: int) -> int:
    """Indices ``i`` in ``[0, count)`` with ``i % cores == core``."""
    return max(0, (count - core + cores - 1) // cores)


def _is_grouped(shape: tuple[int, int] | None, groups: int) -> bool:
    """Whether a weight of ``shape = (K, N)`` is grouped: G > 1 and both dimensions >= G."""
    return shape is not None and groups > 1 and min(shape) >= groups


def _packed_cycles(count: int, length: int, vus: int, cap: int | None) -> float:
    """Cycles for ``count`` rows of ``length`` nonzeros on ``vus`` VUs (fractional: a cycle
    left part-full is filled by the next rows of the pass).

    A row of ``q x vus + r`` nonzeros takes ``q`` full cycles and a remainder of ``r``;
    remainders are packed whole, ``floor(vus / r)`` to a cycle (at most ``cap`` rows)."""
    if count == 0 or length == 0:
        return 0.0
    q, r = divmod(length, vus)
    per_cycle = vus // r if r else 0
    if cap is not None and per_cycle:
        per_cycle = min(per_cycle, cap)
    return count * q + (count / per_cycle if per_cycle else 0.0)


@functools.lru_cache(maxsize=8192)
def _row_pass(rows: int, length: int, groups: int, cores: int, cap: int | None, vus: int
              ) -> tuple[int, int]:
    """(cycles of the busiest core per input vector, nonzeros) of one row pass.

    Rows sorted by nonzeros (the OSEL workload field) are dealt round-robin to the cores
    (row-level load balancing); each core packs whole rows onto its VUs, as many per cycle as
    their nonzeros fill (:func:`_packed_cycles`), one nonzero per VU and cycle.
    """
    c, hi, lo = _row_profile(rows, length, groups)
    busiest = 0
    for core in range(cores):
        count = _dealt(rows, core, cores)
        high = _dealt(c, core, cores)  # sorted rows: the c rows of hi nonzeros come first
        t = _packed_cycles(high, hi, vus, cap) + _packed_cycles(count - high, lo, vus, cap)
        busiest = max(busiest, math.ceil(t - 1e-9))
    return busiest, c * hi + (rows - c) * lo


@functools.lru_cache(maxsize=8192)
def _osel(rows: int, length: int, groups: int, osel: bool, scan_bits: int, hit: int) -> int:
    """Cycles to encode the rows of one mask."""
    if groups <= 1:
        return 0
    miss = -(-length // scan_bits) + hit
    if not osel:
        return rows * miss
    distinct = min(groups, rows)
    return distinct * miss + (rows - distinct) * hit


class LearningGroup(FewerEpochs, Device[LearningGroupConfig]):
    """LearningGroup FPGA datapath (see the module docstring for the model)."""

    name = "learning_group"
    Config = LearningGroupConfig
    description = "LearningGroup FPGA sparse training with learnable weight grouping (FLGW)"
    metrics = (
        Metric("dsp", "DSP slices", "minimize",
               doc="DSP slices of the design."),
        Metric("lut", "LUTs", "minimize",
               doc="LUTs of the design."),
        Metric("onchip_mib", "MiB", "minimize",
               doc="On-chip memory of the design."),
        Metric("encode_cycles", "cycles", "minimize",
               doc="Cycles of the sparse-index encoder."),
        Metric("effective_gflops", "GFLOP/s", "maximize",
               doc="Dense-equivalent FLOPs per second."),
        Metric("peak_gflops", "GFLOP/s", "maximize",
               doc="Peak of the design."),
        Metric("gflops_per_w", "GFLOP/s/W", "maximize",
               doc="Effective throughput per board watt."),
        Metric("power_w", "W", "minimize",
               doc="Board power."),
        Metric("weight_density", "fraction", None,
               doc="Share of weights kept by the group pruning."),
    )
    supported_tasks = frozenset({Classification})

    #: The FLGW training's parameters (``training_scheme``).
    accuracy_params = frozenset({"groups", "seed", "train_epochs"})

    def accuracy(self, task: Task) -> float:
        """Test accuracy of a digits network trained with FLGW at this configuration's
        groups (dense at 1 group)."""
        assert isinstance(task, Classification)
        from ..sparse._training import sparse_training_accuracy

        cfg = self.config
        return sparse_training_accuracy(task.network, self.training_scheme(), cfg.seed,
                                        cfg.train_epochs)

    def training_scheme(self) -> Scheme:
        """The training's sparsity scheme: FLGW with ``groups`` groups (1: dense)."""
        from ..sparse._training import FLGW, Dense

        return FLGW(self.config.groups) if self.config.groups > 1 else Dense()

    @property
    def board(self) -> FpgaBoard:
        """The configured board."""
        return BOARDS[self.config.board]

    def resources(self, trace: Trace | None = None) -> tuple[Resources, float]:
        """(logic resources, on-chip bytes) of the datapath; bytes 0 without a trace."""
        cfg = self.config
        need = Resources(dsp=cfg.vus * cfg.dsp_per_vu, lut=cfg.vus * cfg.lut_per_vu,
                         ff=cfg.vus * cfg.ff_per_vu)
        return need, (0.0 if trace is None else _onchip_bytes(cfg, trace))

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        work = _layer_work(cfg, trace, _forward_shapes(cfg, trace))
        latency = work.cycles / (cfg.clock_mhz * 1e6)
        energy = latency * cfg.power_w
        util = np.where(work.cycles > 0,
                        work.executed / np.maximum(work.cycles * cfg.vus, 1.0), 0.0)
        logic, onchip = self.resources(trace)
        extra = _extra_metrics(cfg, trace, work, latency, logic, onchip)
        extra.update(self.task_metrics(trace))
        return self.report(
            trace, {"cycles": work.cycles, "latency_s": latency, "energy_j": energy,
                    "energy_board_j": energy, "utilization": np.clip(util, 0.0, 1.0),
                    "encode_cycles": work.encode},
            extra=extra, violations=self._violations(logic, onchip))

    def _violations(self, logic: Resources, onchip: float) -> dict[str, float]:
        """DSPs, LUTs, flip-flops and on-chip bytes over the board's (> 0: infeasible)."""
        board = self.board
        viol = {f"fpga_{k}": v for k, v in violations(board, logic).items()
                if k in ("dsp", "lut", "ff")}
        viol["fpga_onchip_memory"] = onchip / board.onchip_bytes - 1.0
        return viol


def _forward_shapes(cfg: LearningGroupConfig, trace: Trace) -> dict[str, tuple[int, int]]:
    """``(K, N)`` of each forward weight layer by name.

    Raises:
        ConfigError: ``groups`` > 1 and no weight layer of the trace is wide enough to group.
    """
    weighted = [lay for lay in trace.layers if lay.op.has_weights
                and lay.phase is Phase.FORWARD]
    if cfg.groups > 1 and weighted and not any(_is_grouped((lay.k, lay.n), cfg.groups)
                                               for lay in weighted):
        widest = max(min(lay.k, lay.n) for lay in weighted)
        raise ConfigError(
            f"LearningGroupConfig.groups={cfg.groups} is larger than the rows or columns of "
            f"every weight layer of {trace.name!r}: allowed range [1, {widest}]")
    return {lay.name: (lay.k, lay.n) for lay in weighted}


@dataclass(frozen=True)
class _LayerWork:
    """Time and work of each layer of a trace on the datapath."""

    cycles: np.ndarray    # layer time [cycles]
    executed: np.ndarray  # MACs or vector operations actually executed
    encode: np.ndarray    # OSEL encoding of the layer's masks [cycles]
    kept: float           # kept forward weights, over all instances
    total_w: float        # forward weights, over all instances


def _layer_work(cfg: LearningGroupConfig, trace: Trace,
                fwd_shape: dict[str, tuple[int, int]]) -> _LayerWork:
    """Per layer: update and vector ops on the VUs, GEMMs as row passes overlapped with the
    OSEL encoding (training traces only), plus the pipeline fill."""
    training = bool(trace.metadata.get("training")) or any(
        lay.phase is not Phase.FORWARD for lay in trace.layers)
    n = len(trace)
    cycles = np.zeros(n)
    executed = np.zeros(n)  # MACs or vector operations actually executed
    encode = np.zeros(n)
    kept = 0.0
    total_w = 0.0
    for i, lay in enumerate(trace.layers):
        shape = fwd_shape.get(lay.source or lay.name)
        grouped = _is_grouped(shape, cfg.groups)
        if lay.phase is Phase.UPDATE or not lay.op.is_matmul:
            ops = (_update_ops(cfg, lay, shape, grouped) if lay.phase is Phase.UPDATE
                   else lay.flops)
            executed[i] = ops
            cycles[i] = math.ceil(ops / cfg.vus) + cfg.pipeline_cycles
            continue
        g = cfg.groups if grouped and lay.op.has_weights else 1
        compute, executed[i], encode[i], kept_i, total_i = _gemm_work(cfg, lay, g, training)
        cycles[i] = compute + cfg.pipeline_cycles
        if lay.phase is Phase.FORWARD and lay.op.has_weights:
            kept += kept_i
            total_w += total_i
    return _LayerWork(_with_encoder_stalls(cycles, encode), executed, encode, kept, total_w)


def _with_encoder_stalls(cycles: np.ndarray, encode: np.ndarray) -> np.ndarray:
    """Layer times once the encoder, running ahead through the iteration, is waited for:
    ``end_i = max(end_{i-1}, cumsum(encode)_i) + cycles_i``; returns ``end_i - end_{i-1}``."""
    if not encode.any():
        return cycles
    ready = np.cumsum(encode)
    end = np.empty_like(cycles)
    t = 0.0
    for i, (c, r) in enumerate(zip(cycles, ready, strict=True)):
        t = max(t, r) + c
        end[i] = t
    return np.diff(end, prepend=0.0)


def _update_ops(cfg: LearningGroupConfig, lay: Layer, shape: tuple[int, int] | None,
                grouped: bool) -> int:
    """Vector operations of an update layer: RMSprop on the kept weights and, when grouped,
    the IG/OG update."""
    k_s, n_s = shape if shape is not None else (lay.m, lay.n)
    nnz = _nnz(k_s, n_s, cfg.groups if grouped else 1)
    ops = nnz * cfg.update_flops_per_weight
    if grouped:
        ops += nnz * cfg.igog_flops_per_nnz
        ops += (k_s + n_s) * cfg.groups * cfg.igog_flops_per_entry
    return ops * lay.groups * lay.repeat


def _gemm_work(cfg: LearningGroupConfig, lay: Layer, g: int, training: bool
               ) -> tuple[int, int, int, int, int]:
    """A GEMM layer with ``g`` groups as row passes: (compute cycles, MACs executed, OSEL
    encode cycles, kept weights, weights), over all instances."""
    reps = lay.repeat * lay.groups
    if lay.phase is Phase.BACKWARD_WEIGHT:
        rows, length, vectors = lay.m, lay.n, lay.k * lay.batch
    else:
        rows, length, vectors = lay.k, lay.n, lay.m * lay.batch
    per_vec, nnz = min(
        _row_pass(rows, length, g, cfg.cores, cfg.rows_per_core, cfg.vus_per_core),
        _row_pass(length, rows, g, cfg.cores, cfg.rows_per_core, cfg.vus_per_core))
    encode = 0
    if training and g > 1 and lay.phase in (Phase.FORWARD, Phase.BACKWARD_DATA):
        encode = reps * _osel(-(-rows // cfg.cores), length, g, cfg.osel,
                              cfg.osel_scan_bits, cfg.osel_hit_cycles)
    return (reps * vectors * per_vec, reps * vectors * nnz, encode, reps * nnz,
            reps * rows * length)


def _extra_metrics(cfg: LearningGroupConfig, trace: Trace, work: _LayerWork,
                   latency: np.ndarray, logic: Resources, onchip: float) -> dict[str, float]:
    """Whole-trace metrics: peak and effective GFLOP/s, power, weight density, resources."""
    extra: dict[str, float] = {
        "peak_gflops": cfg.peak_gflops,
        "power_w": cfg.power_w,
        "weight_density": work.kept / work.total_w if work.total_w else 1.0,
        "dsp": float(logic.dsp), "lut": float(logic.lut), "onchip_mib": onchip / 2**20,
    }
    tot_lat = float(latency.sum())
    if tot_lat > 0:
        extra["effective_gflops"] = trace.flops / tot_lat * 1e-9
        extra["gflops_per_w"] = extra["effective_gflops"] / cfg.power_w
    return extra


def _onchip_bytes(cfg: LearningGroupConfig, trace: Trace) -> float:
    """FP16 weights, gradients and RMSprop state, IG/OG (x3), kept activations (all FP16,
    whatever the trace's bits)."""
    total = 0.0
    for lay in trace.layers:
        if lay.phase is not Phase.FORWARD:
            continue
        if lay.op.has_weights:
            w = lay.groups * lay.k * lay.n
            total += 3 * FP16_BYTES * w
            if _is_grouped((lay.k, lay.n), cfg.groups):
                total += 3 * FP16_BYTES * lay.groups * (lay.k + lay.n) * cfg.groups
        total += lay.input_bytes / lay.input_bits * 8 * FP16_BYTES
    return total


