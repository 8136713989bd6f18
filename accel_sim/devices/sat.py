"""SAT (``sat``): a systolic training accelerator with dense and N:M sparse modes (BDWP).

Source design: C. Fang, W. Sun, A. Zhou, Z. Wang, "Efficient N:M Sparse DNN Training Using
Algorithm, Architecture, and Dataflow Co-Design", IEEE TCAD 2023 (arXiv 2309.13015): BDWP
(N:M weights in the forward and backward passes), SAT with dense and N:M sparse modes, a
sparse online reduction engine, OS/WS dataflow switching, interleave mapping, pre-generated
N:M weights and offline scheduling, mixed-precision weight update, on a Xilinx VCU1525. Only
the abstract was available to us: the array size, clock, engine widths and energies below are
our documented assumptions (marked per parameter), not the paper's figures.

Model, per layer of a training trace (see :func:`accel_sim.training_trace`):

* **GEMMs** use the systolic fold model of :mod:`._systolic_core` (SCALE-Sim's, or with
  ``interleave`` the double-buffered one in which consecutive folds overlap). In dense mode a
  GEMM takes exactly the cycles of the ``systolic`` device with the same array, dataflow and
  timing and an ideal memory. In N:M mode (``mode`` ``bdwp`` or ``transposable``) the forward
  GEMM ``X @ W`` and the backward-data GEMM ``dY @ W^T`` stream only the kept weights: the
  reduction ``K`` becomes ``ceil(K / M) * N`` (``K`` zero-padded to a multiple of ``M``; each
  PE's M:1 multiplexer picks the activation of its weight). The weight-gradient GEMM stays
  dense (BDWP). ``dataflow="switch"`` runs each GEMM in the faster of OS and WS (the offline
  scheduler's choice).
* **Memory**: each GEMM moves its inputs, (compressed) weights and outputs once over DRAM at
  the board's bandwidth x ``dram_efficiency``; a GEMM takes ``max(compute, DRAM)`` cycles.
* **Sparse online reduction engine (SORE)** builds N:M weights from the dense master weights:
  ``sore_lanes`` lanes, ``M`` cycles per group of ``M`` (a top-N selection). BDWP builds two
  masks per layer and iteration (along ``K`` for the forward GEMM, along ``N`` for the
  backward-data GEMM); a transposable mask serves both (one build of ``M x M`` blocks at
  ``M^2`` cycles each: the same work as one row-wise build). With ``pregenerate`` the engine
  produces the N:M weights tile by tile ahead of the array, so a build overlaps its GEMM and
  only ``max(0, build - GEMM)`` is exposed (per layer, so layer reports still add up);
  without it the build runs before the GEMM.
* **Update engine** (``update_lanes`` FP16 lanes, FP32 master weights): ``update_flops`` per
  weight, and DRAM traffic of FP32 master weight and momentum (read and write) plus FP16
  gradient and weight copy; vector ops (activations, pooling) also run here.
* **Energy**: MACs executed x ``mac_pj``, SRAM words x ``sram_pj_per_byte``, DRAM bytes x
  ``dram_pj_per_byte``, plus ``static_w`` x latency.
* **Resources**: DSPs and LUTs per PE (the sparse mode adds an M:1 multiplexer per PE), block
  RAM for the three buffers, against the board (violations).

Precision: a fixed format, FP16 operands (:data:`WORD_BYTES`) with FP32 master weights and
momentum in the update. The abstract states a mixed-precision weight update; FP16 for the
array is our assumption, as are the FP16 MAC energy, DSPs per PE and lanes above. The trace's
``input_bits``, ``weight_bits`` and ``output_bits`` do not change the model: GEMM and vector-op
DRAM traffic counts the trace's elements at FP16, whatever precision the trace was built with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._device import Device
from .._ir import Phase, Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..errors import ConfigError
from ..tasks import Classification, Task
from . import _systolic_core as core
from ._fidelity import FewerEpochs
from ._fpga import BOARDS, FpgaBoard, Resources, violations

if TYPE_CHECKING:
    from ..sparse._training import Scheme


__all__ = ["SatConfig", "SparseTrainingArray"]

MODES = ("dense", "bdwp", "transposable")
WORD_BYTES = 2  # FP16 operands (fixed: the trace's bits are not used)


@dataclass(frozen=True)
class SatConfig(Config):
    """Configuration of the SAT systolic training accelerator."""

    mode: str = param("bdwp", choices=MODES,
                      doc="dense; bdwp: N:M weights in forward and backward-data GEMMs (two "
                          "masks); transposable: one transposable N:M mask for both.")
    n: int = param(2, low=1, high=8, active_if=("mode", ("bdwp", "transposable")),
                   doc="N of N:M (kept weights per group), <= m.")
    m: int = param(8, choices=(2, 4, 8, 16), active_if=("mode", ("bdwp", "transposable")),
                   doc="M of N:M (group size).")
    rows: int = param(32, low=4, high=256, log=True, unit="PEs",
                      doc="Array rows (assumption: 32).")
    cols: int = param(32, low=4, high=256, log=True, unit="PEs",
                      doc="Array columns (assumption: 32).")
    dataflow: str = param("switch", choices=("os", "ws", "switch"),
                          doc="GEMM dataflow; switch: per GEMM the faster of OS and WS.")
    interleave: bool = param(True, doc="Interleave mapping: consecutive folds overlap "
                                       "(double-buffered timing); off: SCALE-Sim fold timing.")
    pregenerate: bool = param(True, doc="Build N:M weights tile by tile ahead of the array, "
                                        "overlapped with the GEMM (hidden unless longer).")
    sore_lanes: int = param(32, low=1, high=1024, log=True, unit="lanes",
                            doc="Sparse online reduction engine lanes (assumption: 32).")
    update_lanes: int = param(64, low=1, high=4096, log=True, unit="lanes", search=False,
                              doc="FP16 lanes of the update/vector engine (assumption).")
    update_flops: int = param(5, low=1, high=64, unit="ops", search=False,
                              doc="Update ops per weight: SGD with momentum and weight decay "
                                  "(v = mu v + g + wd w: 3, w -= lr v: 2).")
    clock_mhz: float = param(200.0, low=50.0, high=800.0, unit="MHz", search=False,
                             doc="Clock (assumption: 200 MHz on the VCU1525).")
    board: str = param("vcu1525", choices=tuple(BOARDS), search=False,
                       doc="FPGA board (paper: VCU1525).")
    dram_efficiency: float = param(0.8, low=0.05, high=1.0, search=False,
                                   doc="Fraction of the board's DRAM bandwidth achieved.")
    buffer_kb: int = param(512, low=16, high=1 << 16, log=True, unit="kB", search=False,
                           doc="Each of the input, weight and output buffers (assumption).")
    mac_pj: float = param(8.0, low=0.0, high=1000.0, unit="pJ", search=False,
                          doc="FP16 MAC on a DSP48E2 incl. routing (assumption).")
    sram_pj_per_byte: float = param(2.5, low=0.0, high=1000.0, unit="pJ/B", search=False,
                                    doc="Block RAM access per byte (assumption).")
    dram_pj_per_byte: float = param(120.0, low=0.0, high=10_000.0, unit="pJ/B", search=False,
                                    doc="DDR4 access per byte (~15 pJ/bit).")
    static_w: float = param(10.0, low=0.0, high=500.0, unit="W", search=False,
                            doc="Static and board power (assumption).")
    dsp_per_pe: int = param(2, low=0, high=16, search=False,
                            doc="DSP48E2 per FP16 MAC PE (assumption).")
    lut_per_pe: int = param(350, low=0, high=100_000, search=False,
                            doc="LUTs per dense PE (assumption).")
    lut_per_mux_input: int = param(16, low=0, high=10_000, search=False,
                                   doc="LUTs per input of a PE's M:1 FP16 multiplexer "
                                       "(sparse modes; assumption).")
    seed: int = param(0, low=0, high=2**31 - 1, search=False,
                      doc="Seed of the functional sparse training (accuracy metric).")
    train_epochs: int | None = param(None, low=1, high=10_000, optional=True, search=False,
                                     doc="Epochs of the functional training (default: those "
                                         "of the shipped dense weights).")

    def _check(self) -> None:
        if self.mode != "dense" and self.n > self.m:
            raise ConfigError(f"SatConfig.n={self.n} must be in [1, m] = [1, {self.m}]")

    @property
    def sparse(self) -> bool:
        """Whether N:M sparse mode is on."""
        return self.mode != "dense"

    @property
    def peak_gflops(self) -> float:
        """Dense peak, GFLOP/s."""
        return 2.0 * self.rows * self.cols * self.clock_mhz * 1e-3


def _gemm_cycles(cfg: SatConfig, m: np.ndarray, n: np.ndarray, k: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, SRAM words) per GEMM instance for the configured dataflow."""
    timing = "double_buffered" if cfg.interleave else "scalesim"
    flows = ("os", "ws") if cfg.dataflow == "switch" else (cfg.dataflow,)
    best: np.ndarray | None = None
    words: np.ndarray | None = None
    for df in flows:
        c = core.compute_cycles(m, n, k, cfg.rows, cfg.cols, df, timing)
        w_if, w_f, w_of = core.sram_accesses(m, n, k, cfg.rows, cfg.cols, df)
        w = w_if + w_f + w_of
        if best is None or words is None:
            best, words = c, w
        else:
            better = c < best
            best = np.where(better, c, best)
            words = np.where(better, w, words)
    assert best is not None and words is not None, "at least one dataflow"
    return best, words


class SparseTrainingArray(FewerEpochs, Device[SatConfig]):
    """SAT: systolic training with dense / N:M BDWP / transposable modes (see module docs)."""

    name = "sat"
    Config = SatConfig
    description = "SAT: systolic N:M sparse training accelerator (BDWP) on an FPGA"
    metrics = (
        Metric("executed_macs", "MACs", "minimize",
               doc="MACs executed by the array (N:M sparse, padded)."),
        Metric("gemm_cycles", "cycles", "minimize",
               doc="Cycles of the GEMM engine."),
        Metric("sore_cycles", "cycles", "minimize",
               doc="Cycles of the sparse-pruning (SORE) unit."),
        Metric("sore_exposed_cycles", "cycles", "minimize",
               doc="SORE cycles not hidden behind the GEMMs."),
        Metric("padded_fraction", "fraction", "minimize",
               doc="Share of the sparse GEMMs' reduction dimension padded to a multiple "
                   "of M."),
        Metric("effective_gflops", "GFLOP/s", "maximize",
               doc="Dense-equivalent FLOPs per second."),
        Metric("peak_gflops", "GFLOP/s", "maximize",
               doc="Peak of the design."),
        Metric("gflops_per_w", "GFLOP/s/W", "maximize",
               doc="Effective throughput per watt."),
    )
    supported_tasks = frozenset({Classification})

    #: The training scheme's parameters (``training_scheme``).
    accuracy_params = frozenset({"mode", "n", "m", "seed", "train_epochs"})

    def accuracy(self, task: Task) -> float:
        """Test accuracy of a digits network trained with this configuration's scheme
        (dense or N:M; :func:`accel_sim.sparse.sparse_training_accuracy`)."""
        assert isinstance(task, Classification)
        from ..sparse._training import sparse_training_accuracy

        cfg = self.config
        return sparse_training_accuracy(task.network, self.training_scheme(), cfg.seed,
                                        cfg.train_epochs)

    def training_scheme(self) -> Scheme:
        """The training's sparsity scheme: dense, or N:M in ``mode`` (an M:M mask keeps every
        weight: dense)."""
        from ..sparse._training import NM, Dense

        cfg = self.config
        return Dense() if _trains_dense(cfg) else NM(cfg.n, cfg.m, scheme=cfg.mode)

    def accuracy_values(self) -> dict[str, Any]:
        """The training scheme's values; dense mode and every M:M mask (which keeps every
        weight and so trains exactly as dense, bit for bit: ``tests/test_accuracy_cache.py``)
        are one scheme, ``mode="dense"`` without ``n`` and ``m``."""
        values = super().accuracy_values()
        if _trains_dense(self.config):
            values.update(mode="dense", n=None, m=None)
        return values

    @property
    def board(self) -> FpgaBoard:
        """The configured board."""
        return BOARDS[self.config.board]

    def resources(self) -> Resources:
        """DSPs, LUTs and block RAMs of the datapath."""
        cfg = self.config
        pes = cfg.rows * cfg.cols
        mux = cfg.m * cfg.lut_per_mux_input if cfg.sparse else 0
        bram = 3 * math.ceil(cfg.buffer_kb * 8 / 36)
        return Resources(dsp=pes * cfg.dsp_per_pe + cfg.update_lanes * 2,
                         lut=pes * (cfg.lut_per_pe + mux) + cfg.sore_lanes * 2000,
                         bram_36kb=bram)

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg = self.config
        cost = _layer_costs(cfg, self.board, trace)
        latency = cost.cycles / (cfg.clock_mhz * 1e6)
        energy = _energy(cfg, cost, latency)
        total = energy["energy_compute_j"] + energy["energy_sram_j"] + \
            energy["energy_dram_j"] + energy["energy_static_j"]
        pes = cfg.rows * cfg.cols
        util = np.where(cost.cycles > 0, cost.macs / np.maximum(cost.cycles * pes, 1.0), 0.0)
        viol = {f"fpga_{key}": v for key, v in violations(self.board, self.resources()).items()
                if key in ("dsp", "lut", "bram_36kb")}
        extra = _extra_metrics(cfg, trace, cost, latency, total)
        extra.update(self.task_metrics(trace))
        return self.report(
            trace, {"cycles": cost.cycles, "latency_s": latency, "energy_j": total, **energy,
                    "utilization": np.clip(util, 0.0, 1.0), "gemm_cycles": cost.gemm_cycles,
                    "sore_cycles": cost.sore, "sore_exposed_cycles": cost.exposed,
                    "executed_macs": cost.macs},
            extra=extra, violations=viol)


@dataclass(frozen=True)
class _LayerCosts:
    """Work and time of each layer of a trace on SAT (arrays over the layers)."""

    sparse_gemm: np.ndarray  # N:M GEMMs (weighted forward and backward-data ones) [bool]
    gemm_cycles: np.ndarray  # array cycles of the GEMMs [cycles]
    sram_words: np.ndarray   # SRAM words the array moves [words]
    macs: np.ndarray         # MACs executed (kept weights only in N:M GEMMs)
    update_ops: np.ndarray   # update and vector-engine operations
    dram_bytes: np.ndarray   # DRAM traffic [B]
    sore: np.ndarray         # N:M weight builds of the SORE [cycles]
    exposed: np.ndarray      # build cycles not hidden behind the layer [cycles]
    cycles: np.ndarray       # layer time [cycles]


def _layer_costs(cfg: SatConfig, board: FpgaBoard, trace: Trace) -> _LayerCosts:
    """Per layer: array GEMMs, update/vector engine and DRAM overlapped (the slowest sets the
    time), then the SORE's N:M weight builds (hidden with ``pregenerate`` unless longer)."""
    c = trace.columns
    mm = c["is_matmul"]
    is_fwd, is_bd, is_upd = (np.array([lay.phase is p for lay in trace.layers])
                             for p in (Phase.FORWARD, Phase.BACKWARD_DATA, Phase.UPDATE))
    sparse_gemm = mm & c["has_weights"] & (is_fwd | is_bd) & cfg.sparse
    reps = (c["groups"] * c["repeat"]).astype(np.float64)
    compute, sram_words, macs_exec = _gemm_costs(cfg, c, sparse_gemm, reps)
    in_bytes, w_bytes, out_bytes = _fp16_bytes(c)
    gemm_bytes = np.where(mm, in_bytes + _weight_bytes(cfg, w_bytes, sparse_gemm) + out_bytes,
                          0.0)
    # update engine: weights (update layers) and vector ops
    upd_w = np.where(is_upd, (c["m"] * c["n"] * reps).astype(np.float64), 0.0)
    upd_ops = upd_w * cfg.update_flops + np.where(~mm & ~is_upd, c["flops"], 0.0)
    upd_bytes = upd_w * (4 + 4 + 4 + 4 + 2 + 2) + np.where(
        ~mm & ~is_upd, in_bytes + out_bytes, 0.0)
    vector = np.ceil(upd_ops / cfg.update_lanes)
    dram_bytes = gemm_bytes + upd_bytes
    bpc = board.dram_gbps * 1e9 * cfg.dram_efficiency / (cfg.clock_mhz * 1e6)
    busy = np.maximum(compute + vector, np.ceil(dram_bytes / bpc))
    sore = _sore_cycles(cfg, c, sparse_gemm, is_fwd, reps)
    exposed = np.maximum(sore - busy, 0.0) if cfg.pregenerate and cfg.sparse else sore
    return _LayerCosts(sparse_gemm, compute, sram_words, macs_exec, upd_ops, dram_bytes, sore,
                       exposed, busy + exposed)


def _gemm_costs(cfg: SatConfig, c: Mapping[str, np.ndarray], sparse_gemm: np.ndarray,
                reps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(array cycles, SRAM words, MACs executed) of each layer's GEMMs (0 elsewhere): N:M
    GEMMs reduce over ``ceil(K / M) * N`` kept weights."""
    mm = c["is_matmul"]
    m_rows = c["batch"] * c["m"]
    k = c["k"]
    k_eff = np.where(sparse_gemm, -(-k // cfg.m) * cfg.n, k) if cfg.sparse else k
    gemm, words = _gemm_cycles(cfg, m_rows, c["n"], k_eff)
    compute = np.where(mm, gemm * reps, 0.0)
    sram_words = np.where(mm, words * reps, 0.0)
    macs_exec = np.where(mm, reps * m_rows * c["n"] * k_eff, 0.0)
    return compute, sram_words, macs_exec


def _weight_bytes(cfg: SatConfig, w_bytes: np.ndarray, sparse_gemm: np.ndarray) -> np.ndarray:
    """DRAM bytes of the weights [B]: FP16, compressed in N:M GEMMs to the kept values plus
    ``log2(M)``-bit indices."""
    if not cfg.sparse:
        return w_bytes
    idx_bits = math.log2(cfg.m)
    per_kept = WORD_BYTES + idx_bits / 8
    return np.where(sparse_gemm, w_bytes * (cfg.n / cfg.m) * per_kept / WORD_BYTES, w_bytes)


def _sore_cycles(cfg: SatConfig, c: Mapping[str, np.ndarray], sparse_gemm: np.ndarray,
                 is_fwd: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Cycles of the SORE's N:M weight builds for the sparse GEMMs (0 in dense mode)."""
    if not cfg.sparse:
        return np.zeros(len(sparse_gemm))
    weights = np.where(sparse_gemm, c["k"] * c["n"] * reps, 0.0)
    # bdwp: forward mask on the forward GEMM, backward mask on the backward-data GEMM;
    # transposable: one M x M block build (M^2 cycles each) on the forward GEMM
    builds = np.where(is_fwd, 1.0, 0.0) if cfg.mode == "transposable" else 1.0
    sore = np.ceil(weights / cfg.m * builds / cfg.sore_lanes) * cfg.m
    return np.where(sparse_gemm, sore, 0.0)


def _energy(cfg: SatConfig, cost: _LayerCosts, latency: np.ndarray) -> dict[str, np.ndarray]:
    """Energy of each layer by component [J]: MACs and update ops, SRAM, DRAM, static."""
    return {
        "energy_compute_j": cost.macs * cfg.mac_pj * 1e-12
        + cost.update_ops * cfg.mac_pj * 0.5e-12,
        "energy_sram_j": cost.sram_words * WORD_BYTES * cfg.sram_pj_per_byte * 1e-12,
        "energy_dram_j": cost.dram_bytes * cfg.dram_pj_per_byte * 1e-12,
        "energy_static_j": latency * cfg.static_w,
    }


def _extra_metrics(cfg: SatConfig, trace: Trace, cost: _LayerCosts, latency: np.ndarray,
                   energy: np.ndarray) -> dict[str, float]:
    """Whole-trace metrics: peak and effective GFLOP/s, GFLOP/s per W and, in N:M mode, the
    share of zero padding added to the reductions."""
    extra: dict[str, float] = {"peak_gflops": cfg.peak_gflops}
    tot = float(latency.sum())
    if tot > 0:
        extra["effective_gflops"] = trace.flops / tot * 1e-9
        if energy.sum() > 0:  # zero with every energy constant set to 0
            extra["gflops_per_w"] = trace.flops / float(energy.sum()) * 1e-9
    if cfg.sparse:
        kk = trace.columns["k"][cost.sparse_gemm]
        extra["padded_fraction"] = (float(((-(-kk // cfg.m)) * cfg.m - kk).sum() / kk.sum())
                                    if kk.size else 0.0)
    return extra


def _fp16_bytes(c: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input, weight and output bytes of each layer with its elements stored at FP16
    (``WORD_BYTES``), from the trace's byte counts at the trace's own bits."""
    return tuple(c[f"{name}_bytes"] * (8.0 * WORD_BYTES) / c[f"{name}_bits"]
                 for name in ("input", "weight", "output"))


def _trains_dense(cfg: SatConfig) -> bool:
    """Whether ``cfg``'s training is dense training: dense mode, or an M:M mask (all kept)."""
    return not cfg.sparse or cfg.n == cfg.m


