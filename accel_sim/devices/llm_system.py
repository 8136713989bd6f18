"""xPU and PIM systems for LLM serving: ``xpu``, ``logic_pim``, ``bankgroup_pim``, ``bank_pim``,
``duplex`` (Yun et al., MICRO 2024).

A system is ``devices`` identical devices. Each device is an xPU (an H100- or A100-class
processor with five HBM stacks) and, for the PIM systems, processing-in-memory units in those
stacks:

* **Logic-PIM** (Duplex): units on the HBM logic die with 4x the TSVs: 4x the xPU's DRAM
  bandwidth, 8 FLOP per byte of it (13.4 TB/s and 107 TFLOPS per H100-class device).
* **BankGroup-PIM**: the same bandwidth and compute as Logic-PIM, with units on the DRAM dies
  (so a longer, costlier data path: 2.68 pJ/bit instead of 1.81).
* **Bank-PIM**: a unit per bank: 16x bandwidth, 1 FLOP per byte (53.6 TB/s, 53.6 TFLOPS).

Every operator takes ``max(FLOPs / F, bytes / B) + overhead`` on the unit it runs on (per device,
after the parallel split below); energy = DRAM read energy per bit of the unit's data path +
row activations + arithmetic, plus the xPU's idle power for the time it runs.

**Placement** (``placement="opb"``): attention and expert operators run on PIM when their Op/B
(FLOP per byte) is below ``opb_threshold``; everything else (QKV/output projections, dense FFN,
router, norms, LM head) stays on the xPU. The default threshold is where the two rooflines cross,
``F_pim / B_xpu``: below it PIM is faster, above it the xPU (LLMSimulator picks the faster unit
per operator; without overheads the two rules agree). ``placement="xpu"`` keeps everything on the
xPU.

**Co-processing** (``co_processing=true``, Duplex): the xPU and PIM run at the same time: within
an MoE layer the experts with the most tokens run on the xPU and the rest on PIM, split to
minimise the slower side; decode attention (on PIM) overlaps prefill attention (on the xPU).
Without it, operators run one after another whatever unit they are on.

**Parallelism.** ``pp`` pipeline stages of ``S = devices / pp`` devices each (blocks split evenly).
Within a stage, attention and dense layers are tensor-parallel over ``tp`` devices (Megatron:
an all-reduce after the attention output and the FFN down projection; KV heads split over
``min(tp, kv_heads)``) and data-parallel over ``S / tp`` groups (requests split); experts are
spread over the stage (expert parallelism over ``S / expert_tp`` groups, each expert
tensor-parallel over ``expert_tp`` devices), with an all-to-all dispatch and combine. Ring
all-reduce: ``2 (n-1) (latency + bytes / n / bandwidth)``; all-to-all: each device sends the
tokens routed off it. Groups within a node use NVLink, larger ones InfiniBand. Pipeline:
``microbatches`` M; an iteration takes ``(M + K - 1) / K`` times the sum of the per-micro-batch
layer times (GPipe bubble ``(K-1)/(M+K-1)``), plus one stage-to-stage transfer per slot.

Attention is fused (FlashAttention/FlashDecoding): the score matrix stays on chip, so attention
moves Q, K, V and its output only (:func:`accel_sim.llm.activation_bytes`).

Trace conventions (row names) are those of :func:`accel_sim.llm.iteration_trace`; other traces
get tensor-parallel splits without communication.

Precision: the trace's bits set every byte count (weights, activations, KV cache, collectives;
an :class:`accel_sim.llm.LlmModel`'s ``bits``, ``weight_bits`` and ``kv_bits`` build its
traces; attention rows move their operands at ``kv_bits``). Unless
``precision`` is set, arithmetic has a fixed format, FP16: the xPU runs at its FP16 tensor-core
peak and PIM units are FP16 MAC arrays (Duplex), at 0.23 pJ/FLOP (LLMSimulator's FP16 MAC),
whatever the trace's bits. ``precision`` (fp16, bf16, fp8, int8, int4 weight-only) serves a
model at those stored bits and runs the xPU's GEMMs at the matching FP8 or INT8 peak
(:data:`accel_sim.devices._llm_backend.PRECISIONS`); FP8 and INT8 quantise the weights, the
KV cache and the GEMMs' inputs only: activations between operators, GEMM outputs and
all-reduces stay FP16, as in TensorRT-LLM.

Serving backend (``backend``): how the software stack departs from ideal kernels: decode
attention kernel, measured NCCL all-reduce, runtime overhead per iteration
(:mod:`accel_sim.devices._llm_backend`); ``ideal`` (the default) is LLMSimulator's convention.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .._device import Device
from .._ir import OpKind, Trace
from .._memory import require_memory
from .._metrics import Metric
from .._params import Config, param
from .._report import Report
from ..errors import ConfigError
from ..llm._model import LlmModel
from ..llm._ops import activation_bytes
from ..llm._routing import Router
from ..llm._system import ServingLayout
from ..tasks import LlmIteration
from ._llm_backend import BACKENDS, NCCL, PRECISIONS, ServingBackend
from ._llm_cost import (
    ATTN,
    DENSE,
    EXPERT,
    MOE_PLACE,
    MOE_SPLIT,
    MOE_XPU,
    VECTOR,
    Unit,
    moe_layer_times,
    tile_rows,
)
from .gpu import GPU_SPECS

if TYPE_CHECKING:
    from ._llm_step import StepModel

__all__ = ["PIM_SPECS", "BankGroupPimSystem", "BankPimSystem", "DuplexConfig", "DuplexSystem",
           "Layout", "LlmSystem", "LogicPimSystem", "PimSpec", "PimSystemConfig", "RowCosts",
           "XpuSystem", "XpuSystemConfig"]

#: Arithmetic energy of every unit: 0.46 pJ per FP16 MAC (LLMSimulator ``src/dram/power.h``;
#: units synthesised at 7 nm, ASAP7), i.e. 0.23 pJ/FLOP.
PJ_PER_FLOP = 0.23
#: HBM3 row activation: 0.909 nJ per activation of a 1 KiB row (LLMSimulator ``power.h``, from
#: FGDRAM, MICRO 2017; 32 columns x 32 B per activation).
ACT_NJ = 0.909
ROW_BYTES = 1024.0
#: DRAM-to-xPU energy: 3.48 pJ/bit (cell 0.44 + column-to-bank-group 1.01 + bank-group-to-GIO 1.23
#: + TSV 0.5 + interposer 0.3; Duplex, MICRO 2024).
XPU_PJ_PER_BIT = 3.48
#: Peak memory of the MoE kernel per expert of a layer, B: about a dozen 8-byte entries (token
#: counts and their micro-batch split, the expert-to-group map, per-expert times and order).
MOE_BYTES_PER_EXPERT = 96


@dataclass(frozen=True)
class PimSpec:
    """A PIM architecture, relative to its host's HBM.

    Attributes:
        bandwidth_x: Internal bandwidth / the xPU's DRAM bandwidth.
        op_per_byte: Peak FLOPs per byte of internal bandwidth.
        pj_per_bit: DRAM-to-unit read energy, pJ/bit.
        source: Where the figures come from.
    """

    bandwidth_x: float
    op_per_byte: float
    pj_per_bit: float
    source: str


PIM_SPECS = MappingProxyType({
    "logic": PimSpec(4.0, 8.0, 1.81, "Duplex (MICRO 2024): 4x TSVs -> 4x bandwidth, 8 FLOP/B "
                                     "(32 modules x 512 FP16 MACs at 650 MHz per stack); 1.81 "
                                     "pJ/bit (cell to power-TSV area + TSV)"),
    "bankgroup": PimSpec(4.0, 8.0, 2.68, "Duplex: same bandwidth and compute as Logic-PIM with "
                                         "units on the DRAM die; 2.68 pJ/bit (cell + column mux "
                                         "+ bank-group to GIO)"),
    "bank": PimSpec(16.0, 1.0, 0.73, "Duplex: one unit per bank, 16x bandwidth, Op/B 1; "
                                     "0.73 pJ/bit"),
})

_ROW_PARALLEL = ("blocks.attn_out", "dense.ffn_down")
#: Vector operators on a column-parallel (tensor-split) activation: each device holds 1/tp of
#: the FFN's intermediate (Megatron-LM's tensor parallelism), so their work splits over tp.
_TP_SPLIT_VECTOR = ("dense.ffn_act",)
_EXPERT_RE = re.compile(r"^(?P<layer>.+)\.expert_(?P<part>up|down)\.c(?P<c>\d+)$")
_ROUTER_RE = re.compile(r"^(?P<layer>.+)\.router$")


@dataclass(frozen=True)
class XpuSystemConfig(Config):
    """An xPU-only serving system (the GPU baseline)."""

    xpu: str = param("h100", choices=("h100", "a100", "h200", "b200"),
                     doc="xPU preset: datasheet FLOPS, HBM bandwidth and capacity, NVLink "
                         "(gpu.py).")
    backend: str = param("ideal", choices=tuple(BACKENDS), search=False,
                         doc="Serving software stack: attention kernel, collectives and "
                             "runtime overhead (ideal: LLMSimulator's convention; "
                             "trtllm_mmha: TensorRT-LLM 0.6; trtllm: TensorRT-LLM >= 0.8 "
                             "(XQA, paged); vllm: PagedAttention).")
    precision: str | None = param(None, choices=tuple(PRECISIONS), optional=True,
                                  search=False,
                                  doc="Serving precision of a served model: stored bits of "
                                      "weights and KV cache (activations are 16-bit), and "
                                      "the tensor-core peak (fp16, bf16, fp8, int8, int4 = "
                                      "weight-only W4A16; unset: the model's bits at the FP16 "
                                      "peak).")
    devices: int = param(4, low=1, high=1024, log=True, doc="Devices in the system.")
    tp: int | None = param(None, low=1, high=1024, optional=True, search=False,
                           doc="Tensor-parallel degree of attention and dense layers (unset: "
                               "the stage's devices, at most devices_per_node).")
    expert_tp: int | None = param(None, low=1, high=1024, optional=True, search=False,
                                  doc="Devices sharing one expert (unset: stage devices / "
                                      "experts when larger than 1, else 1 = pure expert "
                                      "parallelism).")
    pp: int = param(1, low=1, high=64, search=False, doc="Pipeline stages.")
    microbatches: int | None = param(None, low=1, high=1024, optional=True, search=False,
                                     doc="Micro-batches per iteration under pipelining "
                                         "(unset: pp).")
    devices_per_node: int = param(8, low=1, high=256, search=False,
                                  doc="Devices joined by NVLink (DGX H100: 8).")
    compute_efficiency: float = param(
        0.7, low=0.01, high=1.0, unit="fraction", search=False,
        doc="Fraction of the xPU's FP16 peak reached by GEMMs (cuBLAS 0.6-0.8; assumption, as "
            "the gpu device).")
    memory_efficiency: float = param(
        0.75, low=0.01, high=1.0, unit="fraction", search=False,
        doc="Fraction of HBM bandwidth the xPU sustains (LLMSimulator's expert-split rule "
            "assumes 0.75).")
    op_overhead_us: float = param(
        2.0, low=0.0, high=1000.0, unit="us", search=False,
        doc="Fixed time per xPU operator (kernel gap under CUDA graphs, ~1-3 us; assumption).")
    nvlink_gbs: float | None = param(None, low=1.0, high=1e5, optional=True, unit="GB/s",
                                     search=False,
                                     doc="NVLink bandwidth per direction (unset: the xPU "
                                         "preset's: A100 300, H100/H200 450, B200 900).")
    nvlink_latency_us: float = param(0.8, low=0.0, high=1000.0, unit="us", search=False,
                                     doc="Per-step link latency (LLMSimulator nvlink_gen 4).")
    ib_gbs: float = param(50.0, low=0.1, high=1e5, unit="GB/s", search=False,
                          doc="InfiniBand bandwidth per device between nodes (400 Gb/s).")
    ib_latency_us: float = param(0.13, low=0.0, high=1000.0, unit="us", search=False,
                                 doc="InfiniBand latency (LLMSimulator infiniband_gen 400).")
    memory_gib: float | None = param(None, low=1.0, high=1e6, optional=True, unit="GiB",
                                     search=False,
                                     doc="Memory per device (unset: the preset's, 80 GiB).")
    memory_utilization: float = param(
        0.9, low=0.1, high=1.0, unit="fraction", search=False,
        doc="Share of memory for weights and KV cache (vLLM gpu_memory_utilization default).")
    static_power: bool = param(True, search=False,
                               doc="Charge the xPU's idle power for the time it runs.")

    def _check(self) -> None:
        if self.precision is not None:
            prec = PRECISIONS[self.precision]
            spec = GPU_SPECS[self.xpu]
            if prec.peak == "fp8" and spec.fp8_tflops <= 0:
                have = ", ".join(k for k, v in GPU_SPECS.items() if v.fp8_tflops > 0)
                raise ConfigError(f"precision=fp8 needs FP8 tensor cores; xpu={self.xpu} has "
                                  f"none (allowed xpu: {have})")
        if self.devices % self.pp:
            raise ConfigError(f"pp={self.pp} must divide devices={self.devices}")
        stage = self.devices // self.pp
        if self.tp is not None and stage % self.tp:
            raise ConfigError(f"tp={self.tp} must divide the devices of a stage "
                              f"(devices / pp = {stage})")
        if self.expert_tp is not None and stage % self.expert_tp:
            raise ConfigError(f"expert_tp={self.expert_tp} must divide the devices of a stage "
                              f"(devices / pp = {stage})")


@dataclass(frozen=True)
class PimSystemConfig(XpuSystemConfig):
    """An xPU plus PIM in its HBM stacks."""

    placement: str = param("opb", choices=("opb", "xpu"),
                           doc="opb: attention and experts run on PIM when their Op/B is below "
                               "opb_threshold; xpu: nothing on PIM.")
    opb_threshold: float | None = param(
        None, low=0.0, high=1e6, optional=True, unit="FLOP/B", search=False,
        doc="Op/B below which attention and experts go to PIM (unset: the roofline crossover "
            "F_pim / B_xpu).")
    co_processing: bool = param(False, doc="Run the xPU and PIM at the same time (experts "
                                           "split, decode/prefill attention overlapped).")
    pim_compute_efficiency: float = param(
        1.0, low=0.01, high=1.0, unit="fraction", search=False,
        doc="Fraction of PIM peak FLOPS reached (fixed-function GEMV/GEMM units; Duplex).")
    pim_memory_efficiency: float = param(
        0.91, low=0.01, high=1.0, unit="fraction", search=False,
        doc="Fraction of internal bandwidth left by refresh (HBM3 tRFC ~350 ns per tREFI "
            "3.9 us).")
    pim_overhead_us: float = param(1.0, low=0.0, high=1000.0, unit="us", search=False,
                                   doc="Fixed time per PIM operator (command issue and "
                                       "synchronisation with the xPU; assumption).")


@dataclass(frozen=True)
class DuplexConfig(PimSystemConfig):
    """Duplex: xPU plus Logic-PIM with co-processing."""

    co_processing: bool = param(True, doc="Run the xPU and Logic-PIM at the same time "
                                          "(experts split, decode/prefill attention "
                                          "overlapped).")


@dataclass(frozen=True)
class Layout:
    """How a system's devices are used.

    Attributes:
        devices: Devices in the system.
        stages: Pipeline stages (K).
        stage: Devices per stage (S).
        tp: Tensor-parallel degree of attention and dense layers.
        dp: Data-parallel groups per stage (``S / tp``).
        expert_tp: Devices per expert.
        ep: Expert-parallel groups per stage (``S / expert_tp``).
        microbatches: Micro-batches per iteration (M).
    """

    devices: int
    stages: int
    stage: int
    tp: int
    dp: int
    expert_tp: int
    ep: int
    microbatches: int

    @property
    def bubble(self) -> float:
        """GPipe bubble fraction ``(K-1) / (M+K-1)``."""
        k, m = self.stages, self.microbatches
        return (k - 1) / (m + k - 1)


@dataclass(frozen=True)
class RowCosts:
    """What :meth:`LlmSystem.costs` gives for a trace's rows.

    Attributes:
        columns: Per-row report columns (``cycles, latency_s, energy_j, utilization,
            energy_dynamic_j, energy_static_j, comm_s, pim_s, on_pim``).
        layout: The parallel layout the rows were costed with.
    """

    columns: dict[str, np.ndarray]
    layout: Layout


class LlmSystem(Device[XpuSystemConfig]):
    """Base of the serving systems (see the module docstring); subclasses set ``pim_kind``.

    Implements :class:`accel_sim.llm.ServingSystem` (``serving_layout``, ``max_batch``,
    ``step_costs``), so :func:`accel_sim.serving.serve` serves it.
    """

    Config: ClassVar[type[Config]] = XpuSystemConfig
    pim_kind: ClassVar[str | None] = None
    metrics = (
        Metric("comm_s", "s", "minimize",
               doc="Time of the collectives (tensor/expert parallel) on the critical path."),
        Metric("pim_s", "s", "minimize",
               doc="Time of the operators placed on the PIM."),
        Metric("on_pim", "layers", None,
               doc="Operators placed on the PIM (1 per row)."),
        Metric("opb_threshold", "FLOP/B", None,
               doc="Op/B below which an operator runs on the PIM."),
        Metric("pipeline_bubble", "fraction", "minimize",
               doc="Share of the iteration lost to pipeline bubbles."),
        Metric("devices", "devices", None,
               doc="Devices of the system."),
    )

    # ------------------------------------------------------------------ hardware
    @property
    def l2_ratio(self) -> float:
        """xPU DRAM over L2 read bandwidth (0: the preset has no L2 figure): how much DRAM
        time one byte read through L2 is worth (the per-query-head decode kernel)."""
        s = self.spec
        return s.hbm_gbps / s.l2_gbs if s.l2_gbs > 0 else 0.0

    @property
    def spec(self):
        """The xPU's datasheet figures (:data:`accel_sim.devices.gpu.GPU_SPECS`)."""
        return GPU_SPECS[self.config.xpu]

    def xpu_unit(self) -> Unit:
        """Effective rates of the xPU."""
        hit = self.__dict__.get("_xpu_unit")
        if hit is not None:
            return hit
        c, s = self.config, self.spec
        self.__dict__["_xpu_unit"] = unit = Unit(
            "xpu", self.peak_tflops * 1e12 * c.compute_efficiency,
            s.hbm_gbps * 1e9 * c.memory_efficiency, c.op_overhead_us * 1e-6, XPU_PJ_PER_BIT,
            PJ_PER_FLOP, ROW_BYTES, ACT_NJ)
        return unit

    @property
    def peak_tflops(self) -> float:
        """Tensor-core peak the GEMMs run at, TFLOP/s: FP16, or that of ``precision``."""
        peak = PRECISIONS[self.config.precision].peak if self.config.precision else "fp16"
        s = self.spec
        return {"fp16": s.fp16_tflops, "fp8": s.fp8_tflops, "int8": s.int8_tops}[peak]

    @property
    def backend(self) -> ServingBackend:
        """The serving software stack (:data:`~accel_sim.devices._llm_backend.BACKENDS`)."""
        return BACKENDS[self.config.backend]

    def served_model(self, model: LlmModel) -> LlmModel:
        """``model`` at the system's ``precision`` (the model itself when unset)."""
        prec = self.config.precision
        if prec is None:
            return model
        p = PRECISIONS[prec]
        wbits = None if p.weight_bits == p.act_bits else p.weight_bits
        kv = None if p.kv_bits == p.act_bits else p.kv_bits
        if model.bits == p.act_bits and model.weight_bits == wbits and model.kv_bits == kv:
            return model
        return dataclasses.replace(model, bits=p.act_bits, weight_bits=wbits, kv_bits=kv)

    @property
    def pim_config(self) -> PimSystemConfig:
        """The configuration of a system with PIM (``pim_kind`` set), whose ``Config`` is a
        :class:`PimSystemConfig`."""
        c = self.config
        if not isinstance(c, PimSystemConfig):
            raise TypeError(f"{type(self).__name__} has {self.pim_kind} PIM but its config is a "
                            f"{type(c).__name__}, not a PimSystemConfig")
        return c

    def pim_unit(self) -> Unit | None:
        """Effective rates of the device's PIM units together (``None``: no PIM)."""
        if self.pim_kind is None:
            return None
        hit = self.__dict__.get("_pim_unit")
        if hit is not None:
            return hit
        c, p = self.pim_config, PIM_SPECS[self.pim_kind]
        bw = self.spec.hbm_gbps * 1e9 * p.bandwidth_x
        self.__dict__["_pim_unit"] = unit = Unit(
            self.pim_kind, bw * p.op_per_byte * c.pim_compute_efficiency,
            bw * c.pim_memory_efficiency, c.pim_overhead_us * 1e-6, p.pj_per_bit, PJ_PER_FLOP,
            ROW_BYTES, ACT_NJ)
        return unit

    @property
    def offloads(self) -> bool:
        """Whether attention and experts may run on PIM."""
        return self.pim_kind is not None and self.pim_config.placement == "opb"

    @property
    def co_processing(self) -> bool:
        """Whether the xPU and PIM run concurrently."""
        return self.offloads and bool(self.pim_config.co_processing)

    def threshold(self) -> float:
        """Op/B below which attention and experts run on PIM (0 when nothing offloads)."""
        if not self.offloads:
            return 0.0
        threshold = self.pim_config.opb_threshold
        if threshold is not None:
            return float(threshold)
        pim = self.pim_unit()
        assert pim is not None
        return pim.flops / self.xpu_unit().bandwidth

    @property
    def static_w(self) -> float:
        """Idle power of one device charged while it runs, W."""
        return self.spec.static_w if self.config.static_power else 0.0

    def layout(self, experts: int = 0) -> Layout:
        """Parallel layout for a model with ``experts`` experts per MoE layer."""
        c = self.config
        stage = c.devices // c.pp
        tp = c.tp if c.tp is not None else math.gcd(stage, c.devices_per_node)
        if c.expert_tp is not None:
            etp = c.expert_tp
        elif experts and stage > experts and stage % experts == 0:
            etp = stage // experts
        else:
            etp = 1
        m = c.microbatches if c.microbatches is not None else c.pp
        return Layout(c.devices, c.pp, stage, tp, stage // tp, etp, stage // etp, m)

    # ------------------------------------------------------------------ memory
    def memory_bytes(self) -> float:
        """Usable memory per device, B."""
        gib = self.config.memory_gib if self.config.memory_gib is not None else \
            self.spec.memory_gib
        return gib * 2.0**30 * self.config.memory_utilization

    def weights_per_device(self, model) -> float:
        """Weight bytes one device holds (``model``: an :class:`accel_sim.llm.LlmModel`)."""
        lay = self.layout(model.experts)
        experts = model.moe_layers * model.experts * model.ffn_params * model.bytes_per_weight
        rest = model.weight_bytes - experts
        return rest / (lay.tp * lay.stages) + experts / (lay.stage * lay.stages)

    def kv_bytes_per_token_per_device(self, model) -> float:
        """KV-cache bytes one token of a request puts on each device that holds it."""
        lay = self.layout(model.experts)
        return model.kv_bytes_per_token / lay.stages / min(lay.tp, model.kv_heads)

    # ------------------------------------------------------------------ serving protocol
    def serving_layout(self, model: LlmModel) -> ServingLayout:
        """Devices used for ``model`` and their idle power (:class:`ServingSystem`)."""
        lay = self.layout(model.experts)
        return ServingLayout(devices=lay.devices, idle_power_w=self.static_w * lay.devices)

    def step_costs(self, model: LlmModel, router: Router | None) -> StepModel:
        """The iteration-cost model of ``model`` at the system's precision
        (:class:`ServingSystem`)."""
        from ._llm_step import StepModel

        return StepModel(self.served_model(model), self, router)

    def max_batch(self, model, tokens_per_request: int) -> int:
        """Requests of ``tokens_per_request`` tokens (prompt + output) whose KV cache fits (at
        the system's precision)."""
        if tokens_per_request < 1:
            raise ConfigError(f"tokens per request={tokens_per_request}: must be >= 1")
        model = self.served_model(model)
        free = self.memory_bytes() - self.weights_per_device(model)
        if free <= 0:
            return 0
        per_req = tokens_per_request * self.kv_bytes_per_token_per_device(model)
        return self.layout(model.experts).dp * int(free // per_req)

    # ------------------------------------------------------------------ communication
    @property
    def nvlink_gbs(self) -> float:
        """NVLink bandwidth per direction, GB/s (``nvlink_gbs`` or the xPU preset's)."""
        c = self.config
        return c.nvlink_gbs if c.nvlink_gbs is not None else self.spec.nvlink_gbs

    def _link(self, group: int) -> tuple[float, float]:
        c = self.config
        if group <= c.devices_per_node:
            return self.nvlink_gbs * 1e9, c.nvlink_latency_us * 1e-6
        return c.ib_gbs * 1e9, c.ib_latency_us * 1e-6

    @property
    def _call_s(self) -> float:
        """Per-call latency of a collective under the backend, s (0 for the link model)."""
        return NCCL[self.config.xpu].alpha_us * 1e-6 if self.backend.nccl else 0.0

    def allreduce_time(self, nbytes: np.ndarray | float, group: int) -> np.ndarray:
        """All-reduce of ``nbytes`` over ``group`` devices, s: the measured NCCL cost
        (:data:`~accel_sim.devices._llm_backend.NCCL`) within a node under a backend with
        ``nccl``, else a ring, ``2 (n-1) (latency + bytes / n / bandwidth)`` (plus the NCCL
        per-call latency across nodes)."""
        b = np.asarray(nbytes, dtype=float)
        if group <= 1:
            return np.zeros_like(b)
        if self.backend.nccl and group <= self.config.devices_per_node:
            return NCCL[self.config.xpu].allreduce_s(b, group)
        bw, lat = self._link(group)
        return np.where(b > 0, self._call_s + 2.0 * (group - 1) * (lat + b / group / bw), 0.0)

    def alltoall_time(self, tokens: np.ndarray | float, model_hidden: int, top_k: int,
                      bytes_per_element: float, lay: Layout) -> np.ndarray:
        """MoE dispatch plus combine for ``tokens`` tokens in one stage, s.

        Each device sends the picks of its ``1 / S`` of the tokens that go to the other expert
        groups, ``(ep - 1) / ep`` of them; experts shared by ``expert_tp`` devices add an
        all-reduce of their outputs.
        """
        t = np.asarray(tokens, dtype=float)
        out = np.zeros_like(t)
        vol = t * top_k * model_hidden * bytes_per_element
        if lay.ep > 1:
            bw, lat = self._link(lay.stage)
            send = vol / lay.stage * (lay.ep - 1) / lay.ep
            out = out + np.where(t > 0, 2.0 * (self._call_s + lat + send / bw), 0.0)
        if lay.expert_tp > 1:
            out = out + self.allreduce_time(vol / lay.ep, lay.expert_tp)
        return out

    def p2p_time(self, nbytes: np.ndarray | float, lay: Layout) -> np.ndarray:
        """Stage-to-stage activation transfer over the slowest link, s."""
        b = np.asarray(nbytes, dtype=float)
        if lay.stages <= 1:
            return np.zeros_like(b)
        bw, lat = self._link(lay.devices)
        return np.where(b > 0, lat + b / bw, 0.0)

    # ------------------------------------------------------------------ operators
    def _place(self, flops: np.ndarray, nbytes: np.ndarray,
               offloadable: np.ndarray | np.bool_) -> np.ndarray:
        """True where an operator runs on PIM (Op/B rule)."""
        if not self.offloads:
            return np.zeros(np.shape(flops), dtype=bool)
        b = np.asarray(nbytes, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            opb = np.where(b > 0, np.asarray(flops, dtype=float) / np.where(b > 0, b, 1.0),
                           np.inf)
        return np.asarray(offloadable, dtype=bool) & (opb < self.threshold())

    def moe_mode(self) -> int:
        """Mode of :func:`moe_layer_times` for this system."""
        if not self.offloads:
            return MOE_XPU
        return MOE_SPLIT if self.co_processing else MOE_PLACE

    def moe_times(self, counts: np.ndarray, expert_ops: np.ndarray, lay: Layout
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Time of MoE layers and the work on each unit.

        Args:
            counts: ``[rows, experts]`` tokens per expert.
            expert_ops: ``[ops, 3]`` per expert operator: FLOPs per token, weight bytes,
                activation bytes per token (whole expert, before the ``expert_tp`` split).
            lay: Parallel layout.

        Returns:
            ``time[rows]`` (s) and ``work[rows, 4]``: FLOPs and bytes on the xPU and on PIM,
            summed over all devices.
        """
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        ops = np.asarray(expert_ops, dtype=float) / lay.expert_tp
        x = self.xpu_unit()
        p = self.pim_unit() or x
        rows, n_exp = counts.shape
        group_of = (np.arange(n_exp) % lay.ep).astype(np.int64)
        t = np.empty(rows)
        work = np.empty((rows, 4))
        moe_layer_times(counts, group_of, lay.ep, np.ascontiguousarray(ops[:, 0]),
                        np.ascontiguousarray(ops[:, 1]), np.ascontiguousarray(ops[:, 2]),
                        np.array([x.flops, x.bandwidth, x.overhead_s,
                                  float(self.backend.gemm_tile_tokens)]),
                        np.array([p.flops, p.bandwidth, p.overhead_s,
                                  float(self.backend.gemm_tile_tokens) if p is x else 1.0]),
                        self.moe_mode(), self.threshold(), t, work)
        return t, work * lay.expert_tp

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        ops = [lay_.op for lay_ in trace.layers]
        cols = trace.columns
        task = trace.task if isinstance(trace.task, LlmIteration) else None
        out = self.costs(trace.names, ops, cols, task)
        if task is not None and self.backend.has_overhead:
            # the backend's runtime overhead of this iteration, charged on its last row
            extra = self.backend.iteration_overhead_s(
                task.decode_requests + task.prefill_requests, task.prefill_requests)
            c = out.columns
            c["latency_s"][-1] += extra
            e = self.static_w * out.layout.devices * extra
            c["energy_static_j"][-1] += e
            c["energy_j"][-1] += e
            c["cycles"][-1] = np.ceil(c["latency_s"][-1] * self.spec.clock_mhz * 1e6)
        violations = {}
        need = self._memory_need(trace)
        if need is not None:
            violations["memory"] = need / self.memory_bytes() - 1.0
        lay = out.layout
        return self.report(
            trace, out.columns,
            extra={"devices": float(lay.devices), "opb_threshold": self.threshold(),
                   "pipeline_bubble": lay.bubble},
            violations=violations)

    def costs(self, names: tuple[str, ...], ops: list[OpKind], cols,
              task: LlmIteration | None) -> RowCosts:
        """Per-row cost columns of :meth:`evaluate` from a trace's columnar view (``cols``: the
        keys of :attr:`Trace.columns`), its op kinds and names, and its LLM iteration task
        (``None``: a trace of other operators, with no MoE routing)."""
        experts = task.experts if task is not None else 0
        top_k = task.top_k if task is not None else 0
        lay = self.layout(experts)
        x, p = self.xpu_unit(), self.pim_unit()
        mb = lay.microbatches
        n = len(names)
        rep = cols["repeat"].astype(float)
        flops = cols["flops"] / rep / mb  # one instance, one micro-batch
        wbytes = cols["weight_bytes"]
        score = np.array([o is OpKind.ATTN_SCORE for o in ops])
        context = np.array([o is OpKind.ATTN_CONTEXT for o in ops])
        attn = score | context
        abytes = activation_bytes(score, context, cols["input_bytes"], cols["output_bytes"],
                                  cols["m"], cols["k"], cols["groups"], cols["batch"],
                                  cols["repeat"], cols["input_bits"]) / rep / mb
        expert = np.array([o is OpKind.MOE_EXPERT for o in ops])
        vector = ~cols["is_matmul"]
        split = np.array([nm in _TP_SPLIT_VECTOR for nm in names], dtype=bool)
        kind = np.where(attn, ATTN, np.where(expert, EXPERT,
                                             np.where(vector & ~split, VECTOR, DENSE)))
        kv_heads = int(cols["groups"][attn].min()) if attn.any() else lay.tp
        kernel = self.backend.attention
        decode = None
        if kernel is not None:  # the backend's decode attention kernel
            decode = attn & np.array([".decode." in nm for nm in names], dtype=bool)
            abytes = np.where(decode, kernel.decode_bytes(
                abytes, score, cols["m"], cols["n"], cols["k"], cols["groups"],
                cols["batch"], cols["input_bits"], mb, self.l2_ratio), abytes)
        f_dev, b_dev = self.split_rows(kind, flops, wbytes, abytes, lay, kv_heads)
        f_time = None
        tile = self.backend.gemm_tile_tokens
        if tile > 1:  # GEMMs compute whole tiles of rows (tokens per device and micro-batch)
            m_dev = cols["m"] * cols["batch"] / (mb * lay.dp)
            dense = (kind == DENSE) & cols["is_matmul"] & (m_dev > 0)
            pad = np.where(dense, tile_rows(m_dev, tile) / np.where(dense, m_dev, 1.0), 1.0)
            f_time = f_dev * pad
        on_pim, t_one, e_one = self.run_rows(f_dev, b_dev, attn, decode, f_time)
        t_row = t_one * rep
        e_row = e_one * rep * lay.stage
        pim_time = np.where(on_pim, t_row, 0.0)
        # experts: one kernel call per MoE layer (rows grouped by name)
        groups: dict[str, dict[str, list[int]]] = {}
        for i in np.flatnonzero(expert).tolist():
            mt = _EXPERT_RE.match(names[i])
            key, part = (mt["layer"], mt["part"]) if mt else (f"#{i}", "up")
            groups.setdefault(key, {"up": [], "down": []})[part].append(i)
        known = task.expert_counts if task is not None else None
        for key, rows in groups.items():
            ups, downs = rows["up"], rows["down"]
            n_experts = sum(int(cols["groups"][i]) for i in ups)
            require_memory(MOE_BYTES_PER_EXPERT * n_experts,
                           f"layer {names[ups[0]]!r}: the MoE kernel ({n_experts:,} experts)",
                           "model fewer experts (groups) per expert layer")
            counts = np.concatenate([np.full(int(cols["groups"][i]), cols["m"][i]) for i in ups])
            layer_no = key[3:] if key.startswith("moe") else ""
            if known is not None and layer_no.isdigit() and int(layer_no) < len(known):
                exact = np.asarray(known[int(layer_no)], dtype=np.int64)
                if np.array_equal(np.sort(exact[exact > 0]), np.sort(counts)):
                    counts = exact  # expert identities: each expert on its own device group
            ops_arr = [self._expert_op(cols, ups[0])]
            if downs:
                ops_arr.append(self._expert_op(cols, downs[0]))
            c_mb = _split_counts(counts.astype(np.int64), mb, top_k)
            t_l, work = self.moe_times(c_mb[None, :], np.array(ops_arr), lay)
            e_l = x.energy(work[0, 0], work[0, 1]) + (
                p.energy(work[0, 2], work[0, 3]) if p else 0.0)
            members = ups + downs
            share = cols["weight_bytes"][members] / cols["weight_bytes"][members].sum()
            t_row[members] = t_l[0] * share
            e_row[members] = e_l * share
            busy = work[0, 3] / max(work[0, 1] + work[0, 3], 1e-30)
            pim_time[members] = t_l[0] * share * busy
        # attention co-processing: decode attention on PIM overlaps prefill attention on xPU
        if self.co_processing:
            pim_attn = attn & on_pim
            xpu_attn = attn & ~on_pim
            sp, sx = t_row[pim_attn].sum(), t_row[xpu_attn].sum()
            if sp > 0 and sx > 0:
                t_row[pim_attn] *= max(sp - sx, 0.0) / sp
        # communication
        comm = np.zeros(n)
        out_b = cols["output_bytes"] / rep / mb
        for i, nm in enumerate(names):
            if nm in _ROW_PARALLEL:
                comm[i] = self.allreduce_time(out_b[i] / lay.dp, lay.tp) * rep[i]
            elif _ROUTER_RE.match(nm) and top_k:
                tok = cols["m"][i] * cols["batch"][i] / mb
                comm[i] = self.alltoall_time(tok, int(cols["k"][i]), top_k,
                                             cols["output_bits"][i] / 8.0, lay)
        scale = (mb + lay.stages - 1) / lay.stages
        latency = (t_row + comm) * scale
        if lay.stages > 1:
            hidden = int((task.hidden if task is not None else 0) or cols["n"][-1])
            tokens = float(task.tokens if task is not None else cols["m"][0] * cols["batch"][0])
            xfer = (mb + lay.stages - 1) * float(
                self.p2p_time(tokens / mb * hidden * cols["output_bits"][-1] / 8.0, lay))
            comm[-1] += xfer / scale
            latency[-1] += xfer
        e_dyn = e_row * mb
        e_static = self.static_w * lay.devices * latency
        peak = lay.devices * (x.flops + (p.flops if p else 0.0))
        util = np.where(latency > 0, cols["flops"] / peak / np.where(latency > 0, latency, 1.0),
                        0.0)
        return RowCosts({
            "cycles": np.ceil(latency * self.spec.clock_mhz * 1e6),
            "latency_s": latency, "energy_j": e_dyn + e_static,
            "utilization": np.clip(util, 0.0, 1.0),
            "energy_dynamic_j": e_dyn, "energy_static_j": e_static,
            "comm_s": comm * scale, "pim_s": pim_time * scale,
            "on_pim": on_pim.astype(float)}, lay)

    def split_rows(self, kind: np.ndarray | int, flops: np.ndarray,
                   wbytes: np.ndarray | float, abytes: np.ndarray, lay: Layout, kv_heads: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """FLOPs and bytes one device of a stage handles for one operator instance.

        ``kind``: :data:`DENSE` (weights split over ``tp``, tokens over the ``dp`` groups; also
        the vector operators on a tensor-split activation, ``_TP_SPLIT_VECTOR``),
        :data:`VECTOR` (replicated over ``tp``), :data:`ATTN` (requests over ``dp``, query heads
        over ``tp``, KV over ``min(tp, kv_heads)``); experts go through :meth:`moe_times`.
        """
        kvs = max(1, min(lay.tp, kv_heads))
        # divisors of FLOPs, weight bytes and activation bytes per kind (inf drops a term)
        order = [DENSE, VECTOR, ATTN, EXPERT]
        div = np.empty((3, 4))
        div[:, order] = ((lay.stage, lay.dp, lay.dp * lay.tp, np.inf),
                         (lay.tp, np.inf, np.inf, np.inf),
                         (lay.stage, lay.dp, lay.dp * kvs, np.inf))
        f_div, w_div, a_div = div[:, np.asarray(kind)]
        return flops / f_div, wbytes / w_div + abytes / a_div

    def run_rows(self, f_dev: np.ndarray, b_dev: np.ndarray, offloadable: np.ndarray | np.bool_,
                 decode: np.ndarray | None = None, f_time: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Placement, time (s) and energy per device (J) of operators given per-device work
        (``decode``: the decode attention rows, timed with the backend kernel's latency
        factor where they run on the xPU; ``f_time``: the FLOPs the xPU's kernels compute,
        whole GEMM tiles included, when they differ from ``f_dev``)."""
        x, p = self.xpu_unit(), self.pim_unit()
        on_pim = self._place(f_dev, b_dev, offloadable)
        t = x.time(f_dev if f_time is None else f_time, b_dev)
        e = x.energy(f_dev, b_dev)
        if p is not None:
            t = np.where(on_pim, p.time(f_dev, b_dev), t)
            e = np.where(on_pim, p.energy(f_dev, b_dev), e)
        kernel = self.backend.attention
        if decode is not None and kernel is not None and kernel.latency_factor != 1.0:
            # the GPU kernel's inefficiency; attention placed on the PIM does not run it
            t = np.where(decode & ~on_pim, t * kernel.latency_factor, t)
        return on_pim, t, e

    @staticmethod
    def _expert_op(cols, i: int) -> tuple[float, float, float]:
        """FLOPs per token, weight bytes, activation bytes per token of one expert operator."""
        n, k = float(cols["n"][i]), float(cols["k"][i])
        return (2.0 * n * k, float(cols["weight_bytes"][i]) / float(cols["groups"][i]),
                (k + n) * float(cols["input_bits"][i]) / 8.0)

    def _memory_need(self, trace: Trace) -> float | None:
        """Bytes one device needs for the trace's weights and KV cache (``None``: unknown)."""
        from ..llm._model import MODELS

        task = trace.task
        if not isinstance(task, LlmIteration):
            return None
        model = MODELS.get(task.model)
        if model is None:
            return None
        lay = self.layout(model.experts)
        # the trace's own bits (precision, weight-only quantisation) scale the preset's sizes
        kv = float(task.kv_tokens) * self.kv_bytes_per_token_per_device(model) \
            * (task.kv_bytes_per_token / model.kv_bytes_per_token)
        weights = self.weights_per_device(model) * (task.weight_bytes / model.weight_bytes)
        return weights + kv / lay.dp


def _split_counts(counts: np.ndarray, mb: int, top_k: int) -> np.ndarray:
    """Expert counts of one of ``mb`` micro-batches: ``ceil(tokens / mb) x top_k`` picks given
    to the experts in proportion to ``counts`` (largest remainders; ties to the first)."""
    if mb == 1:
        return counts
    k = max(top_k, 1)
    tokens = -(-int(counts.sum()) // k)
    picks = -(-tokens // mb) * k
    share = counts * (picks / max(int(counts.sum()), 1))
    out = np.floor(share).astype(np.int64)
    rest = picks - int(out.sum())
    if rest > 0:
        order = np.argsort(-(share - out), kind="stable")
        out[order[:rest]] += 1
    return out


class XpuSystem(LlmSystem):
    """xPU-only system (GPU baseline for LLM serving)."""

    name = "xpu"
    Config = XpuSystemConfig
    description = "xPU (H100/A100-class) LLM-serving system: TP/EP/PP over NVLink/IB"


class LogicPimSystem(LlmSystem):
    """xPU plus Logic-PIM, operators placed by Op/B, no co-processing by default."""

    name = "logic_pim"
    Config = PimSystemConfig
    pim_kind = "logic"
    description = "xPU + Logic-PIM (HBM logic die, 4x BW, 8 FLOP/B), Op/B placement"


class BankGroupPimSystem(LlmSystem):
    """xPU plus BankGroup-PIM."""

    name = "bankgroup_pim"
    Config = PimSystemConfig
    pim_kind = "bankgroup"
    description = "xPU + BankGroup-PIM (4x BW, 8 FLOP/B, units on the DRAM die)"


class BankPimSystem(LlmSystem):
    """xPU plus Bank-PIM (AttAcc/NeuPIMs-style)."""

    name = "bank_pim"
    Config = PimSystemConfig
    pim_kind = "bank"
    description = "xPU + Bank-PIM (16x BW, 1 FLOP/B), Op/B placement"


class DuplexSystem(LlmSystem):
    """Duplex: xPU plus Logic-PIM with co-processing (Yun et al., MICRO 2024)."""

    name = "duplex"
    Config = DuplexConfig
    pim_kind = "logic"
    description = "Duplex: xPU + Logic-PIM with expert and attention co-processing"
