"""Systolic-array device ``systolic``, compatible with SCALE-Sim v3.

Timing per GEMM (see :mod:`._systolic_core`): SCALE-Sim's fold model, exact against its
reports ("Total Cycles" = stall-free cycles + stalls). Memory (``memory_model``):

* ``analytic`` (default, vectorised): SCALE-Sim's double-buffered SRAM and DRAM model in closed
  form. Exact (stalls, "Total Cycles (incl. prefetch)", DRAM counts) whenever no SRAM refill
  and no mid-layer OFMAP drain happens, i.e. whenever each operand's fill stream fits the
  active half of its SRAM and the OFMAP fits its drain half. Otherwise a bandwidth-bound
  estimate: the DRAM time of the refills (and drains) beyond the compute time becomes stalls.
* ``scalesim``: the exact event-driven replica of SCALE-Sim's buffers
  (:mod:`._scalesim_memory`), zero difference on 155 SCALE-Sim runs; slower (it builds the
  demand matrices), for SCALE-Sim-compatible studies.
* ``ideal``: unlimited bandwidth, no stalls, no prefetch time.

``timing="double_buffered"`` replaces SCALE-Sim's fold timing by one where the next fold's
stationary operand loads while the current fold streams (a realistic design; stalls are then
taken from the analytic bandwidth model).

A layer's GEMM is ``(batch*m, n, k)``; its ``groups`` (e.g. depthwise channels, attention
heads, experts) and ``repeat`` run one after another, as SCALE-Sim runs a ``DP`` layer channel
by channel. Vector ops (elementwise, norm, softmax, pooling) run on a post-processing vector
unit as wide as the array (``cols`` lanes, one operation per lane per cycle).

Word size (precision): the array has one hardware word of 1, 2 or 4 bytes per evaluation. An
explicit ``word_bytes`` wins; unset (the default) it comes from the trace: the widest operand
of its matmul layers (``max(input_bits, weight_bits)``; ``input_bits`` for attention, whose
operands are both activations), rounded up to 1, 2 or 4 bytes (4-bit operands run on an 8-bit
array); a trace wider than 32 bits is a :class:`~accel_sim.errors.WorkloadError` unless
``word_bytes`` is set. The PEs are built for that word, so every layer runs at it: narrower
layers of a mixed-precision trace are padded to the word (SRAM capacity, SRAM and DRAM traffic
are counted in words of that size, as SCALE-Sim does with its fixed 1-byte word). The word sets
the energy per MAC and per vector add, the SRAM capacity in words, the bytes of every SRAM and
DRAM word, and the PE area. ``bandwidth`` stays in words/cycle (SCALE-Sim's unit). SCALE-Sim's
word is one byte: ``accel-sim scalesim`` sets ``word_bytes=1`` and SCALE-Sim topology CSVs read
as 8-bit operands, so both keep SCALE-Sim's word.

Energy: MACs x ``mac_pj`` (by word size); SRAM words x word bytes x energy per byte of that
SRAM (scaled with the square root of its size); DRAM words x word bytes x ``dram_pj_per_byte``;
vector operations x add energy (by word size). Area: PEs x ``pe_area_um2`` (scaled with word
size squared) + SRAM capacity x ``sram_mm2_per_mib``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._device import Device
from .._ir import Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..errors import ConfigError, WorkloadError
from . import _systolic_core as core

__all__ = ["SystolicArray", "SystolicConfig", "trace_word_bytes"]

#: Energy of one multiply-accumulate by word size, pJ (Horowitz, "Computing's energy problem",
#: ISSCC 2014, 45 nm): int8 multiply 0.2 + 32-bit accumulate 0.1; fp16 1.1 + 0.4; fp32 3.7 + 0.9.
MAC_PJ = {1: 0.3, 2: 1.5, 4: 4.6}
#: Energy of one add (vector unit), pJ (same source): int8 0.03, fp16 0.4, fp32 0.9.
ADD_PJ = {1: 0.03, 2: 0.4, 4: 0.9}


#: Word of a trace at the IR's default precision (``Layer`` operands are 16-bit by default),
#: used by :attr:`SystolicArray.area_mm2` when ``word_bytes`` is unset.
DEFAULT_WORD_BYTES = 2


@dataclass(frozen=True)
class SystolicConfig(Config):
    """Configuration of the systolic array (SCALE-Sim names in brackets)."""

    dataflow: str = param("ws", choices=core.DATAFLOWS,
                          doc="Dataflow: output, weight or input stationary [Dataflow].")
    rows: int = param(32, low=1, high=4096, log=True, unit="PEs",
                      doc="Array height AR [ArrayHeight].")
    cols: int = param(32, low=1, high=4096, log=True, unit="PEs",
                      doc="Array width AC [ArrayWidth].")
    ifmap_sram_kb: int = param(64, low=1, high=1 << 20, log=True, unit="kB",
                               doc="Input SRAM, double-buffered [IfmapSramSzkB].")
    filter_sram_kb: int = param(64, low=1, high=1 << 20, log=True, unit="kB",
                                doc="Weight SRAM, double-buffered [FilterSramSzkB].")
    ofmap_sram_kb: int = param(64, low=1, high=1 << 20, log=True, unit="kB",
                               doc="Output SRAM, double-buffered [OfmapSramSzkB].")
    bandwidth: int = param(10, low=1, high=4096, log=True, unit="words/cycle",
                           doc="DRAM bandwidth: OFMAP drain rate [Bandwidth], and the "
                               "input/weight fill rate unless fill_bandwidth is set.")
    word_bytes: int | None = param(
        None, choices=(1, 2, 4), optional=True, unit="B", search=False,
        doc="Hardware word size; unset: from the trace (widest matmul operand, rounded up to "
            "1, 2 or 4 B); set: wins over the trace's bits (SCALE-Sim: 1). Sets energy per "
            "MAC and add, SRAM words, SRAM/DRAM bytes and PE area. Not searched by default: "
            "precision trades accuracy, which this device does not model.")
    fill_bandwidth: int | None = param(
        None, low=1, high=1 << 16, optional=True, search=False, unit="words/cycle",
        doc="Input/weight DRAM fill rate if it differs from bandwidth (SCALE-Sim USER mode "
            "reads it from [layout] IfmapSRAMBankBandwidth).")
    interface_bandwidth: str = param(
        "user", choices=("user", "calc"), search=False,
        doc="SCALE-Sim InterfaceBandwidth: user = given bandwidth; calc = fills at 10 "
            "words/cycle that never stall, OFMAP drains at cols words/cycle.")
    memory_model: str = param("analytic", choices=("analytic", "scalesim", "ideal"),
                              search=False, doc="Memory timing model (see module docs).")
    timing: str = param("scalesim", choices=("scalesim", "double_buffered"), search=False,
                        doc="Fold timing: SCALE-Sim's, or double-buffered stationary operand.")
    clock_mhz: float = param(1000.0, low=1.0, high=10000.0, unit="MHz", search=False,
                             doc="Clock frequency (TPU v1: 700 MHz; 1 GHz assumed).")
    mac_pj: float | None = param(
        None, low=0.0, high=1000.0, optional=True, search=False, unit="pJ",
        doc="Energy per MAC; unset: Horowitz ISSCC 2014 (45 nm) by the effective word size: "
            "0.3 (int8), 1.5 (fp16), 4.6 (fp32).")
    sram_pj_per_byte_8kb: float = param(
        1.25, low=0.0, high=1000.0, unit="pJ/B", search=False,
        doc="SRAM access energy per byte of an 8 kB SRAM (Horowitz 2014: 10 pJ per 64-bit "
            "access), scaled by sqrt(size / 8 kB) (his 32 kB: 20 pJ, 1 MB: 100 pJ).")
    dram_pj_per_byte: float = param(
        162.5, low=0.0, high=10000.0, unit="pJ/B", search=False,
        doc="DRAM access energy (Horowitz 2014: 1.3-2.6 nJ per 64-bit access; lower end).")
    pe_area_um2: float = param(
        1212.0, low=0.0, high=1e6, unit="um^2", search=False,
        doc="Area of one 8-bit MAC PE: TPU v1 matrix unit, 24% of a 331 mm^2 die for 65,536 "
            "MACs at 28 nm (Jouppi et al., ISCA 2017); scaled by the word size in bytes^2.")
    sram_mm2_per_mib: float = param(
        4.0, low=0.0, high=1e4, unit="mm^2/MiB", search=False,
        doc="SRAM area: TPU v1 unified buffer, 29% of the die for 24 MiB (28 nm).")

    @property
    def fill_rate(self) -> int:
        """Input/weight DRAM fill rate in words/cycle (CALC mode: 10, as SCALE-Sim)."""
        if self.interface_bandwidth == "calc":
            return 10
        return self.fill_bandwidth if self.fill_bandwidth is not None else self.bandwidth

    @property
    def drain_rate(self) -> int:
        """OFMAP DRAM drain rate in words/cycle (CALC mode: cols, as SCALE-Sim)."""
        return self.cols if self.interface_bandwidth == "calc" else self.bandwidth


# ---------------------------------------------------------------------- layer geometry
def _conv_counts(h: int, r: int, s: int) -> tuple[int, int, int]:
    """(output size, valid im2col positions, distinct input rows) along one axis in SCALE-Sim's
    view: output ceil((h - r + s) / s); windows may run past the input (those entries are not
    fetched)."""
    e = -(-(h - r + s) // s)
    full = (h - r) // s + 1  # windows entirely inside
    valid = full * r + (e - full) * max(0, h - full * s)
    distinct = valid if s >= r else min(h, (e - 1) * s + r)
    return e, valid, distinct


def _geometry(trace: Trace) -> dict[str, np.ndarray]:
    """Per-layer GEMM dims and ifmap address counts (valid im2col words, distinct words)."""
    n_layers = len(trace)
    m_eff = np.empty(n_layers, np.int64)
    valid = np.empty(n_layers, np.int64)
    distinct = np.empty(n_layers, np.int64)
    conv_args: list[tuple[int, ...] | None] = []
    for i, lay in enumerate(trace.layers):
        m_eff[i] = lay.batch * lay.m
        valid[i] = distinct[i] = m_eff[i] * lay.k
        arg = None
        c = lay.conv
        if c is not None and c.padding == 0 and c.ceil_mode and lay.op.is_matmul:
            ch = c.channels // c.groups
            eh, vh, dh = _conv_counts(c.ifmap_h, c.filter_h, c.stride)
            ew, vw, dw = _conv_counts(c.ifmap_w, c.filter_w, c.stride)
            if eh * ew == lay.m and c.filter_h * c.filter_w * ch == lay.k:
                valid[i] = lay.batch * vh * vw * ch
                distinct[i] = lay.batch * dh * dw * ch
                if lay.batch == 1:  # SCALE-Sim's im2col addresses (duplicates matter)
                    arg = (c.ifmap_h, c.ifmap_w, c.filter_h, c.filter_w, ch, lay.n, c.stride)
        conv_args.append(arg)
    out = {"m": m_eff, "valid_if": valid, "distinct_if": distinct}
    for a in out.values():
        a.setflags(write=False)
    out["conv"] = conv_args  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------------- word size
#: Hardware word sizes in bytes, narrowest first.
WORD_SIZES = (1, 2, 4)


def _operand_bits(trace: Trace) -> tuple[int, str]:
    """(widest operand in bits, name of the first layer that has it): over the matmul layers
    (``max(input_bits, weight_bits)``, ``input_bits`` for ops without weights), or over the
    vector ops' inputs and outputs when the trace has no matmul layer."""
    mm = [lay for lay in trace.layers if lay.op.is_matmul]
    if mm:
        widths = [(max(lay.input_bits, lay.weight_bits) if lay.op.has_weights
                   else lay.input_bits, lay.name) for lay in mm]
    else:
        widths = [(max(lay.input_bits, lay.output_bits), lay.name) for lay in trace.layers]
    bits = max(w for w, _ in widths)
    return bits, next(name for w, name in widths if w == bits)


def trace_word_bytes(trace: Trace) -> int:
    """Hardware word (1, 2 or 4 bytes) a trace asks of the array: its widest matmul operand
    rounded up to a word (see the module docstring). Raises :class:`WorkloadError` for
    operands wider than 32 bits."""

    def build(tr: Trace) -> int:
        bits, name = _operand_bits(tr)
        for wb in WORD_SIZES:
            if bits <= 8 * wb:
                return wb
        raise WorkloadError(
            f"layer {name!r} of {tr.name!r}: {bits}-bit operands are wider than systolic's "
            f"widest word (32 bits, word_bytes in 1, 2, 4); set -s word_bytes=N to override "
            "the trace's precision")

    return trace.derived("systolic.word_bytes", build)


# ---------------------------------------------------------------------- the device
class SystolicArray(Device[SystolicConfig]):
    """Systolic array with SCALE-Sim v3 compatible timing and a first-principles energy/area
    model (see module docstring)."""

    name = "systolic"
    Config = SystolicConfig
    description = "Systolic array (SCALE-Sim v3 compatible: os/ws/is, SRAM and DRAM model)"
    metrics = (
        Metric("compute_cycles", "cycles", "minimize",
               doc="Cycles with the array computing (no stalls)."),
        Metric("stall_cycles", "cycles", "minimize",
               doc="Cycles stalled on DRAM."),
        Metric("cycles_incl_prefetch", "cycles", "minimize",
               doc="Cycles including the first fill of the SRAMs."),
        Metric("compute_utilization", "fraction", "maximize",
               doc="Busy PEs over all PEs while computing."),
        Metric("mapping_efficiency", "fraction", "maximize",
               doc="Used PEs of the folds over all PEs."),
        Metric("memory_estimated", "layers", None,
               doc="Layers whose memory stalls come from the analytic model."),
        Metric("sram_ifmap_reads", "words", "minimize",
               doc="Input-feature-map SRAM reads."),
        Metric("sram_filter_reads", "words", "minimize",
               doc="Filter SRAM reads."),
        Metric("sram_ofmap_writes", "words", "minimize",
               doc="Output-feature-map SRAM writes."),
        Metric("dram_ifmap_reads", "words", "minimize",
               doc="Input-feature-map DRAM reads."),
        Metric("dram_filter_reads", "words", "minimize",
               doc="Filter DRAM reads."),
        Metric("dram_ofmap_writes", "words", "minimize",
               doc="Output-feature-map DRAM writes."),
        Metric("peak_tops", "TOPS", None,
               doc="Peak of the array at the layer precision."),
        Metric("word_bytes_used", "B", None,
               doc="Bytes per word of the layer precision."),
    )

    @property
    def area_mm2(self) -> float:
        """PE array plus SRAM area in mm^2 at the configured ``word_bytes``; unset (the word
        comes from the trace), at the IR's default 16-bit operands (a 2-byte word). A
        workload's own area: :meth:`area_for` or ``Report.area_mm2``."""
        wb = self.config.word_bytes or DEFAULT_WORD_BYTES
        return float(_area_mm2(_Batch([self.config], wb))[0, 0])

    def word_bytes_for(self, trace: Trace) -> int:
        """Effective hardware word in bytes: ``word_bytes`` if set, else the trace's
        (:func:`trace_word_bytes`)."""
        wb = self.config.word_bytes
        return trace_word_bytes(trace) if wb is None else wb

    def area_for(self, trace: Trace) -> float:
        """PE array plus SRAM area in mm^2 with the word size used for ``trace``."""
        return float(_area_mm2(_Batch([self.config], self.word_bytes_for(trace)))[0, 0])

    def evaluate(self, trace: Trace) -> Report:
        return self.evaluate_many(trace, [self.config])[0]

    def evaluate_many(self, trace: Trace, configs: Sequence[SystolicConfig]) -> list[Report]:
        """Evaluate many configurations at once: configurations that share the categorical
        settings are broadcast together over (configurations x layers) numpy arrays."""
        self.require_supported(trace)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, c in enumerate(configs):
            if not isinstance(c, SystolicConfig):
                raise ConfigError(f"systolic takes SystolicConfig, got {type(c).__name__}")
            wb = trace_word_bytes(trace) if c.word_bytes is None else c.word_bytes
            key: tuple[Any, ...] = (c.dataflow, c.interface_bandwidth, c.memory_model, c.timing,
                                    wb)
            if c.memory_model == "scalesim":
                key += (i,)  # the exact model runs per configuration
            groups.setdefault(key, []).append(i)
        out: list[Report | None] = [None] * len(configs)
        for key, idx in groups.items():
            batch = _Batch([configs[i] for i in idx], key[4])
            for j, rep in zip(idx, _evaluate_batch(self.name, trace, batch), strict=True):
                out[j] = rep
        return out  # type: ignore[return-value]


class _Batch:
    """Configurations sharing categorical settings (and the effective word size
    ``word_bytes``): numeric fields as (C, 1) arrays."""

    _NUMERIC = ("rows", "cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "bandwidth",
                "fill_rate", "drain_rate", "clock_mhz", "sram_pj_per_byte_8kb",
                "dram_pj_per_byte", "pe_area_um2", "sram_mm2_per_mib")
    # the _NUMERIC fields, set in __init__
    rows: np.ndarray
    cols: np.ndarray
    ifmap_sram_kb: np.ndarray
    filter_sram_kb: np.ndarray
    ofmap_sram_kb: np.ndarray
    bandwidth: np.ndarray
    fill_rate: np.ndarray
    drain_rate: np.ndarray
    clock_mhz: np.ndarray
    sram_pj_per_byte_8kb: np.ndarray
    dram_pj_per_byte: np.ndarray
    pe_area_um2: np.ndarray
    sram_mm2_per_mib: np.ndarray

    def __init__(self, configs: list[SystolicConfig], word_bytes: int) -> None:
        c0 = configs[0]
        self.size = len(configs)
        self.dataflow = c0.dataflow
        self.interface_bandwidth = c0.interface_bandwidth
        self.memory_model = c0.memory_model
        self.timing = c0.timing
        self.word_bytes = word_bytes
        self.configs = configs
        for name in self._NUMERIC:
            setattr(self, name, np.array([getattr(c, name) for c in configs])[:, None])
        self.mac_pj = np.array([MAC_PJ[word_bytes] if c.mac_pj is None else c.mac_pj
                                for c in configs])[:, None]


def _area_mm2(b: _Batch) -> np.ndarray:
    pes = b.rows * b.cols * b.pe_area_um2 * b.word_bytes**2 * 1e-6
    srams = (b.ifmap_sram_kb + b.filter_sram_kb + b.ofmap_sram_kb) / 1024 * b.sram_mm2_per_mib
    return pes + srams


def _evaluate_batch(name: str, trace: Trace, b: _Batch) -> list[Report]:
    cols_in = trace.columns
    geo = trace.derived("systolic.geometry", _geometry)
    mm = cols_in["is_matmul"]
    m, n, k = geo["m"], cols_in["n"], cols_in["k"]
    times = cols_in["groups"] * cols_in["repeat"]  # sequential instances per layer
    per = _analytic_instance(b, m, n, k, geo["valid_if"], geo["distinct_if"])
    shape = (b.size, len(trace))
    per = {key: np.broadcast_to(v, shape) for key, v in per.items()}
    if b.memory_model == "scalesim":
        per = _exact_instances(b.configs[0], b.word_bytes, m, n, k, geo["conv"], per, mm,
                               trace.names)
    # SCALE-Sim's "Total Cycles" is folds x cycles per fold - 1 (the last output is written a
    # cycle before a next fold would start): 0 for a single one-cycle fold (a 1 x 1 os array,
    # K = 1), where SCALE-Sim divides by it. A GEMM instance takes at least one cycle.
    idle = per["cycles"] == 0
    if idle.any():
        per = {**per, "cycles": np.where(idle, 1.0, per["cycles"]),
               "compute_cycles": np.where(idle, 1.0, per["compute_cycles"])}
    # vector ops: elementwise work spread over cols lanes
    vec_cycles = np.ceil(cols_in["flops"] / b.cols)
    cyc = np.where(mm, per["cycles"], vec_cycles) * times
    compute = np.where(mm, per["compute_cycles"], vec_cycles) * times
    incl = np.where(mm, per["cycles_incl_prefetch"], vec_cycles) * times
    stall = np.where(mm, per["stall_cycles"], 0.0) * times

    def col(key: str) -> np.ndarray:
        return np.where(mm, per[key], 0.0) * times

    sram_if, sram_f, sram_of = (col("sram_ifmap_reads"), col("sram_filter_reads"),
                                col("sram_ofmap_writes"))
    dram_if, dram_f, dram_of = (col("dram_ifmap_reads"), col("dram_filter_reads"),
                                col("dram_ofmap_writes"))
    wb = b.word_bytes
    # vector ops read inputs and write outputs through the ofmap SRAM
    vec_words = np.where(mm, 0.0, (cols_in["input_bytes"] + cols_in["output_bytes"])
                         / (cols_in["output_bits"] / 8.0))
    e_mac = cols_in["macs"] * b.mac_pj * 1e-12
    e_vec = np.broadcast_to(np.where(mm, 0.0, cols_in["flops"]) * ADD_PJ[wb] * 1e-12, shape)

    def sram_pj(kb: np.ndarray) -> np.ndarray:
        return b.sram_pj_per_byte_8kb * np.sqrt(kb / 8.0)

    e_sram = wb * 1e-12 * (sram_if * sram_pj(b.ifmap_sram_kb)
                           + sram_f * sram_pj(b.filter_sram_kb)
                           + (sram_of + vec_words) * sram_pj(b.ofmap_sram_kb))
    e_dram = wb * 1e-12 * b.dram_pj_per_byte * (dram_if + dram_f + dram_of)
    latency = cyc / (b.clock_mhz * 1e6)
    pes = b.rows * b.cols
    util = np.where(mm, cols_in["macs"] / np.maximum(cyc, 1) / pes,
                    np.minimum(1.0, cols_in["flops"] / np.maximum(cyc, 1) / b.cols))
    table = {
        "cycles": cyc, "latency_s": latency, "energy_j": e_mac + e_vec + e_sram + e_dram,
        "utilization": util, "energy_mac_j": e_mac, "energy_vector_j": e_vec,
        "energy_sram_j": e_sram, "energy_dram_j": e_dram, "compute_cycles": compute,
        "stall_cycles": stall, "cycles_incl_prefetch": incl,
        "memory_estimated": np.where(mm, per["memory_estimated"], 0.0),
        "mapping_efficiency": np.where(mm, per["mapping_efficiency"], 0.0),
        "compute_utilization": np.where(mm, per["compute_utilization"], 0.0),
        "sram_ifmap_reads": sram_if, "sram_filter_reads": sram_f,
        "sram_ofmap_writes": sram_of, "dram_ifmap_reads": dram_if,
        "dram_filter_reads": dram_f, "dram_ofmap_writes": dram_of,
    }
    table = {key: np.broadcast_to(v, shape) for key, v in table.items()}
    ops = tuple(lay.op.value for lay in trace.layers)
    phases = tuple(lay.phase.value for lay in trace.layers)
    area = _area_mm2(b)[:, 0]
    peak = (2 * pes * b.clock_mhz * 1e6 / 1e12)[:, 0]
    return [
        Report(device=name, workload=trace.name, names=trace.names, ops=ops, phases=phases,
               columns={"macs": cols_in["macs"], "flops": cols_in["flops"],
                        **{key: v[j] for key, v in table.items()}},
               area_mm2=float(area[j]),
               extra={"peak_tops": float(peak[j]), "word_bytes_used": float(b.word_bytes)})
        for j in range(b.size)
    ]


# ---------------------------------------------------------------------- analytic memory
def _analytic_instance(cfg: _Batch, m: np.ndarray, n: np.ndarray, k: np.ndarray,
                       valid_if: np.ndarray, distinct_if: np.ndarray) -> dict[str, Any]:
    """Timing and access counts of one GEMM instance per layer (vectorised over layers).

    float64 throughout (see :mod:`._systolic_core`): exact up to 2**53, no int64 wrap-around
    beyond."""
    df, ar, ac = cfg.dataflow, cfg.rows, cfg.cols
    m = np.maximum(np.asarray(m, np.float64), 1.0)
    n, k = np.asarray(n, np.float64), np.asarray(k, np.float64)
    valid_if = np.asarray(valid_if, np.float64)
    distinct_if = np.asarray(distinct_if, np.float64)
    sr, sc, t = core.spatio_temporal(m, n, k, df)
    fr, fc = core.fold_counts(sr, sc, ar, ac)
    folds = fr * fc
    length = folds * core.fold_cycles(t, ar, ac, df)  # SCALE-Sim demand rows
    if cfg.timing == "scalesim":
        compute = length - 1
    else:
        compute = core.compute_cycles(m, n, k, ar, ac, df, timing="double_buffered")
    mapping, comp_util = core.utilisation_terms(m, n, k, ar, ac, df)
    sram_if, sram_f, sram_of = core.sram_accesses(m, n, k, ar, ac, df)
    if cfg.memory_model == "ideal":
        zeros = np.zeros_like(compute)
        out = _pack(compute, zeros, compute, mapping, comp_util, sram_if, sram_f, sram_of,
                    distinct_if, k * n, m * n)
        out["memory_estimated"] = np.zeros(compute.shape)
        return out

    wb = cfg.word_bytes
    # fill streams (with padding of partial folds) and OFMAP words written to the buffer
    if df == "os":
        n_if, n_f, w_of = fr * ar * k, fc * ac * k, m * n
    elif df == "ws":
        n_if, n_f, w_of = fr * ar * m, fc * ac * k, fr * m * n
    else:
        n_if, n_f, w_of = fc * ac * k, fr * ar * n, fr * m * n
    nv_f = k * n
    e_if, e_f, e_of = (kb * 1024 // wb for kb in (cfg.ifmap_sram_kb, cfg.filter_sram_kb,
                                                  cfg.ofmap_sram_kb))
    a_if, a_f = -(-e_if // 2), -(-e_f // 2)
    d_of = e_of - (-(-e_of // 2))
    fill, drain = cfg.fill_rate, cfg.drain_rate

    # ---- stalls: exact 0 when no refill and no mid-layer drain can happen
    if cfg.interface_bandwidth == "user":
        eps_if, eps_f = -(-e_if // 100), -(-e_f // 100)
        miss_if = valid_if // eps_if + 1 > -(-a_if // eps_if)
        miss_f = nv_f // eps_f + 1 > -(-a_f // eps_f)
    else:
        miss_if = miss_f = np.zeros(m.shape, bool)
    mid_drain = w_of > d_of
    # Where refills happen, SCALE-Sim's prefetches complete on a fixed chain, the k-th at
    # k * tau - 1 (tau = ceil(P / fill) + 1 cycles per prefetch of P words), while the demand
    # sweeps the operand's stream once per fold of the other dimension. With the demand spread
    # evenly over the layer's rows, the k-th refill is needed at row (A + (k-1) P) / r; the
    # array waits for the largest lag of the chain behind the demand (at k = 1 or k = K).
    p_if, p_f = e_if - a_if, e_f - a_f
    passes_if = fc if df in ("os", "ws") else np.ones_like(fc)
    passes_f = fr if df in ("os", "is") else np.ones_like(fr)
    s_if, refill_if = _refill_lag(miss_if, valid_if * passes_if, a_if, p_if, fill, length)
    s_f, refill_f = _refill_lag(miss_f, nv_f * passes_f, a_f, p_f, fill, length)
    s_of = np.where(mid_drain, np.maximum(0, -(-(w_of - d_of) // drain) - length), 0)
    stall = np.maximum(np.maximum(s_if, s_f), s_of)
    cycles = compute + stall

    # ---- prefetch before the layer and OFMAP tail after it
    tail = -(-np.minimum(w_of, d_of) // drain)
    if cfg.interface_bandwidth == "user":
        pre = np.maximum(-(-np.minimum(a_if, n_if) // fill), -(-np.minimum(a_f, n_f) // fill))
        dram_if = np.where(miss_if, a_if + refill_if, np.minimum(a_if, n_if))
        dram_f = np.where(miss_f, a_f + refill_f, np.minimum(a_f, n_f))
    else:
        items_if, items_f = e_if // 100, e_f // 100
        first_if: int | np.ndarray
        first_f: int | np.ndarray
        if df == "os":
            first_if, first_f = 0, 0
        elif df == "ws":
            first_if, first_f = ar, ar - np.minimum(ar, k)
        else:
            first_if, first_f = ar - np.minimum(ar, k), ar
        start_if = _calc_start(distinct_if, items_if, first_if)
        start_f = _calc_start(nv_f, items_f, first_f)
        pre = -np.minimum(start_if, start_f)
        dram_if, dram_f = distinct_if, nv_f
    incl = cycles - 1 + tail + pre
    out = _pack(cycles, stall, incl, mapping, comp_util, sram_if, sram_f, sram_of,
                dram_if, dram_f, w_of)
    out["memory_estimated"] = (miss_if | miss_f | mid_drain).astype(np.float64)
    return out


def _refill_lag(miss: np.ndarray, consumed: np.ndarray, active: np.ndarray,
                prefetch: np.ndarray, fill: np.ndarray, rows: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(stall estimate, words refetched) of a read buffer whose stream does not fit."""
    prefetch = np.maximum(prefetch, 1)
    tau = -(-prefetch // fill) + 1
    n_pref = np.where(miss, np.maximum(1, -(-(consumed - active) // prefetch)), 0)
    rate = consumed / np.maximum(rows, 1)  # words demanded per row
    first = tau - 1 - active / rate
    last = n_pref * tau - 1 - (active + (n_pref - 1) * prefetch) / rate
    lag = np.where(miss, np.maximum(0.0, np.maximum(first, last)), 0.0)
    return np.ceil(lag), n_pref * prefetch


def _calc_start(distinct: np.ndarray, items: np.ndarray, first_row: int | np.ndarray
                ) -> np.ndarray:
    """First DRAM cycle of SCALE-Sim's CALC-mode read buffer (sets of ``items`` words, 50 sets
    per half, 10 words/cycle): just before the first request if the operand fills the active
    half, otherwise everything is fetched before cycle 0."""
    big = distinct >= 50 * items
    before_first = first_row - core.ceil_div(50 * items, 10)
    up_front = -core.ceil_div(core.ceil_div(distinct, items) * items, 10)
    return np.where(big, before_first, up_front)


def _pack(cycles, stall, incl, mapping, comp_util, sram_if, sram_f, sram_of, dram_if, dram_f,
          dram_of) -> dict[str, Any]:
    return {
        "cycles": np.asarray(cycles, np.float64), "stall_cycles": np.asarray(stall, np.float64),
        "compute_cycles": np.asarray(cycles - stall, np.float64),
        "cycles_incl_prefetch": np.asarray(incl, np.float64),
        "mapping_efficiency": mapping, "compute_utilization": comp_util,
        "sram_ifmap_reads": sram_if, "sram_filter_reads": sram_f, "sram_ofmap_writes": sram_of,
        "dram_ifmap_reads": dram_if, "dram_filter_reads": dram_f, "dram_ofmap_writes": dram_of,
    }


def _exact_instances(cfg: SystolicConfig, word_bytes: int, m, n, k, conv,
                     analytic: dict[str, Any], mm, names: tuple[str, ...]) -> dict[str, Any]:
    """Replace the analytic memory figures by SCALE-Sim's exact event model, layer by layer."""
    from .._progress import track
    from ._scalesim_memory import ScaleSimLayer, scalesim_layer

    out = {key: np.array(v, dtype=np.float64) for key, v in analytic.items()}  # copies
    cache: dict[tuple, ScaleSimLayer] = {}
    gemms = np.flatnonzero(mm)
    for i in track(gemms, desc="SCALE-Sim memory model", unit="layer"):
        key = (int(m[i]), int(n[i]), int(k[i]), conv[i])
        if key not in cache:
            cache[key] = scalesim_layer(
                int(m[i]), int(n[i]), int(k[i]), cfg.rows, cfg.cols, cfg.dataflow,
                cfg.ifmap_sram_kb, cfg.filter_sram_kb, cfg.ofmap_sram_kb,
                bandwidth_mode=cfg.interface_bandwidth.upper(), bandwidth=cfg.bandwidth,
                ifmap_dram_bw=cfg.fill_rate, filter_dram_bw=cfg.fill_rate,
                word_bytes=word_bytes, conv=conv[i], layer=names[i])
        r = cache[key]
        out["memory_estimated"][:, i] = 0.0
        out["cycles"][:, i] = r.compute_cycles
        out["stall_cycles"][:, i] = r.stall_cycles
        out["compute_cycles"][:, i] = r.compute_cycles - r.stall_cycles
        out["cycles_incl_prefetch"][:, i] = r.total_cycles_incl_prefetch
        for name, value in (("dram_ifmap_reads", r.dram_ifmap_reads),
                            ("dram_filter_reads", r.dram_filter_reads),
                            ("dram_ofmap_writes", r.dram_ofmap_writes)):
            if value is not None:
                out[name][:, i] = value
    return out
