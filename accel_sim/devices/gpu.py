"""GPU roofline baseline (A100, H100).

Per layer: ``time = max(FLOPs / (peak * compute_efficiency), bytes / (bandwidth *
memory_efficiency)) + kernel_overhead``. ``bytes`` is the layer's compulsory traffic (inputs,
weights and outputs moved once: the roofline assumes on-chip reuse is perfect). The peak is
chosen by the layer's operand precision: <= 8 bits uses the INT8 tensor-core peak, <= 16 bits
the FP16 tensor-core peak (dense), wider the FP32 CUDA-core peak; vector ops (elementwise,
norm, softmax, pooling) use the FP32 CUDA-core peak. 2:4 (or 1:2) N:M weights use the sparse
tensor-core peak (2x). Energy = static power x time + FLOPs x energy/FLOP + bits x energy/bit,
with energy/FLOP derived from the board power (see :class:`GpuSpec`).

Precision comes from the trace, per layer (the device has no precision setting): the operand
bits choose the peak and the energy per operation (Horowitz's INT8 / FP16 / FP32 ratios), and
the bytes moved are the layer's operands at their bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from .._device import Device
from .._ir import SparsityPattern, Trace
from .._metrics import Metric
from .._params import Config, param
from .._report import Report

__all__ = ["GPU_SPECS", "GpuConfig", "GpuRoofline", "GpuSpec"]


@dataclass(frozen=True)
class GpuSpec:
    """Datasheet figures of one GPU.

    Attributes:
        fp32_tflops: FP32 CUDA-core peak, TFLOP/s.
        fp16_tflops: FP16/BF16 tensor-core dense peak, TFLOP/s.
        int8_tops: INT8 tensor-core dense peak, TOP/s.
        hbm_gbps: DRAM (HBM or GDDR) bandwidth, GB/s (1e9 B/s).
        clock_mhz: Boost clock, MHz (converts latency to cycles).
        board_w: Board power limit (TDP), W.
        static_w: Idle power, W (typical nvidia-smi reading at idle; an assumption).
        hbm_pj_per_bit: DRAM-to-SM energy per bit (HBM or GDDR), pJ.
        die_mm2: Die area, mm^2.
        source: Where the numbers come from.
        memory_gib: Device memory capacity, GiB (2^30 B).
        fp8_tflops: FP8 tensor-core dense peak, TFLOP/s (0: no FP8 tensor cores).
        nvlink_gbs: NVLink bandwidth per direction, GB/s (0: no NVLink).
        l2_gbs: L2 cache read bandwidth, GB/s (0: unknown).
    """

    fp32_tflops: float
    fp16_tflops: float
    int8_tops: float
    hbm_gbps: float
    clock_mhz: float
    board_w: float
    static_w: float
    hbm_pj_per_bit: float
    die_mm2: float
    source: str
    memory_gib: float = 0.0
    fp8_tflops: float = 0.0
    nvlink_gbs: float = 0.0
    l2_gbs: float = 0.0

    @property
    def pj_per_flop(self) -> float:
        """Dynamic energy per FP16 FLOP, pJ: the board power left after static power and HBM
        at full bandwidth, divided by the FP16 dense peak (a first-principles upper bound)."""
        hbm_w = self.hbm_gbps * 1e9 * 8 * self.hbm_pj_per_bit * 1e-12
        return (self.board_w - self.static_w - hbm_w) / (self.fp16_tflops * 1e12) * 1e12


GPU_SPECS = MappingProxyType({
    "a100": GpuSpec(
        fp32_tflops=19.5, fp16_tflops=312.0, int8_tops=624.0, hbm_gbps=2039.0,
        clock_mhz=1410.0, board_w=400.0, static_w=55.0, hbm_pj_per_bit=3.48, die_mm2=826.0,
        source="NVIDIA A100 datasheet (80GB SXM4) and A100 whitepaper; HBM pJ/bit as the GPU "
               "path of Duplex (MICRO 2024) Table; idle power: assumption; NVLink 3: 600 GB/s "
               "bidirectional, 300 per direction; L2 read bandwidth 7,219 GB/s (5,120 B/clk x "
               "1,410 MHz, 2.3x V100's per the whitepaper; Table 3 of PMC10448217)",
        memory_gib=80.0, nvlink_gbs=300.0, l2_gbs=7219.0),
    "h100": GpuSpec(
        fp32_tflops=66.9, fp16_tflops=989.4, int8_tops=1978.9, hbm_gbps=3352.0,
        clock_mhz=1980.0, board_w=700.0, static_w=90.0, hbm_pj_per_bit=3.48, die_mm2=814.0,
        source="NVIDIA H100 SXM5 datasheet and Hopper whitepaper (989.4 TFLOPS FP16 dense, "
               "3.352 TB/s per Duplex, MICRO 2024; 1978.9 TFLOPS FP8 dense); idle power: "
               "assumption; NVLink 4: 900 GB/s bidirectional, 450 per direction; L2 read "
               "bandwidth 8,986 GB/s (Table 3 of PMC10448217)",
        memory_gib=80.0, fp8_tflops=1978.9, nvlink_gbs=450.0, l2_gbs=8986.0),
    "h200": GpuSpec(
        fp32_tflops=66.9, fp16_tflops=989.4, int8_tops=1978.9, hbm_gbps=4800.0,
        clock_mhz=1980.0, board_w=700.0, static_w=90.0, hbm_pj_per_bit=3.48, die_mm2=814.0,
        source="NVIDIA H200 SXM datasheet (H100's GH100 die and Tensor Core peaks; 141 GB "
               "HBM3e at 4.8 TB/s; up to 700 W; NVLink 900 GB/s bidirectional); idle power and "
               "HBM pJ/bit as the H100 (assumptions); L2 as the H100 (same die)",
        memory_gib=141e9 / 2**30, fp8_tflops=1978.9, nvlink_gbs=450.0, l2_gbs=8986.0),
    "b200": GpuSpec(
        fp32_tflops=80.0, fp16_tflops=2250.0, int8_tops=4500.0, hbm_gbps=8000.0,
        clock_mhz=1965.0, board_w=1000.0, static_w=120.0, hbm_pj_per_bit=3.48, die_mm2=1600.0,
        source="NVIDIA HGX/DGX B200 datasheet, per GPU: 2.25 PFLOPS FP16/BF16 and 4.5 PFLOPS "
               "FP8 and INT8 dense (half the sparse figures), 180 GB HBM3e at 8 TB/s, 1000 W, "
               "NVLink 5 1.8 TB/s bidirectional; FP32 80 TFLOPS, clock, idle power, HBM "
               "pJ/bit and die area (two reticle-sized dies) are assumptions",
        memory_gib=180e9 / 2**30, fp8_tflops=4500.0, nvlink_gbs=900.0),
    "titan_rtx": GpuSpec(
        fp32_tflops=16.3, fp16_tflops=130.5, int8_tops=261.0, hbm_gbps=672.0,
        clock_mhz=1770.0, board_w=280.0, static_w=20.0, hbm_pj_per_bit=7.5, die_mm2=754.0,
        source="NVIDIA Titan RTX specifications and Turing whitepaper (TU102: 16.3 TFLOPS "
               "FP32, 130.5 TFLOPS FP16 tensor, 24 GB GDDR6 at 672 GB/s, 280 W); GDDR6 "
               "energy ~7.5 pJ/bit and idle power: assumptions", memory_gib=24.0),
})


#: Energy of a multiply-add relative to FP16, by operand width: Horowitz, ISSCC 2014 (45 nm):
#: INT8 mult+add 0.2+0.03 pJ, FP16 1.1+0.4 pJ, FP32 3.7+0.9 pJ.
_REL_OP_ENERGY = {8: 0.23 / 1.5, 16: 1.0, 32: 4.6 / 1.5}


@dataclass(frozen=True)
class GpuConfig(Config):
    """Configuration of the GPU roofline model."""

    preset: str = param("h100", choices=tuple(GPU_SPECS), doc="GPU model (datasheet figures).")
    compute_efficiency: float = param(
        0.7, low=0.01, high=1.0, unit="fraction",
        doc="Fraction of tensor peak reached by large GEMMs (cuBLAS typically 0.6-0.8; "
            "assumption).")
    memory_efficiency: float = param(
        0.85, low=0.01, high=1.0, unit="fraction",
        doc="Fraction of HBM bandwidth reached by streaming kernels (STREAM-like ~0.85-0.9).")
    kernel_overhead_us: float = param(
        4.0, low=0.0, high=1000.0, unit="us",
        doc="Fixed launch/synchronisation time per layer (kernel launch ~3-5 us without "
            "CUDA graphs).")
    sparse_tensor_cores: bool = param(
        True, doc="Use the 2x sparse tensor-core peak for 2:4 (or 1:2) N:M weights.")


class GpuRoofline(Device[GpuConfig]):
    """Roofline model of a data-centre GPU (see module docstring)."""

    name = "gpu"
    Config = GpuConfig
    description = "GPU roofline baseline (A100, H100, Titan RTX presets)"
    metrics = (
        Metric("compute_bound", "layers", None,
               doc="Layers whose roofline time is compute-bound (1 per layer)."),
        Metric("dram_bytes", "B", "minimize",
               doc="DRAM traffic."),
        Metric("hbm_gbps", "GB/s", None,
               doc="HBM bandwidth of the GPU (datasheet)."),
        Metric("peak_fp16_tflops", "TFLOP/s", None,
               doc="FP16 tensor peak of the GPU (datasheet)."),
    )

    @property
    def spec(self) -> GpuSpec:
        """Datasheet figures of the configured preset."""
        return GPU_SPECS[self.config.preset]

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        cfg, spec = self.config, self.spec
        cols = trace.columns
        bits = np.maximum(cols["input_bits"], cols["weight_bits"])
        peak_tflops = np.where(bits <= 8, spec.int8_tops,
                               np.where(bits <= 16, spec.fp16_tflops, spec.fp32_tflops))
        if cfg.sparse_tensor_cores:
            sparse24 = np.array([
                lay.sparsity is SparsityPattern.NM and lay.sparsity_n * 2 <= lay.sparsity_m
                and lay.sparsity_m in (2, 4) for lay in trace.layers])
            peak_tflops = np.where(sparse24 & (bits <= 16), 2.0 * peak_tflops, peak_tflops)
        peak_tflops = np.where(cols["is_matmul"], peak_tflops, spec.fp32_tflops)
        flops = cols["flops"]
        nbytes = cols["input_bytes"] + cols["weight_bytes"] + cols["output_bytes"]
        t_compute = flops / (peak_tflops * 1e12 * cfg.compute_efficiency)
        t_memory = nbytes / (spec.hbm_gbps * 1e9 * cfg.memory_efficiency)
        latency = np.maximum(t_compute, t_memory) + cfg.kernel_overhead_us * 1e-6
        e_static = spec.static_w * latency
        rel = np.where(bits <= 8, _REL_OP_ENERGY[8],
                       np.where(bits <= 16, _REL_OP_ENERGY[16], _REL_OP_ENERGY[32]))
        e_compute = flops * spec.pj_per_flop * 1e-12 * rel
        e_dram = nbytes * 8 * spec.hbm_pj_per_bit * 1e-12
        util = np.where(latency > 0, flops / (peak_tflops * 1e12) / latency, 0.0)
        return self.report(
            trace, {
                "cycles": np.ceil(latency * spec.clock_mhz * 1e6),
                "latency_s": latency,
                "energy_j": e_static + e_compute + e_dram,
                "utilization": np.clip(util, 0.0, 1.0),
                "energy_static_j": e_static,
                "energy_compute_j": e_compute,
                "energy_dram_j": e_dram,
                "compute_bound": (t_compute >= t_memory).astype(float),
                "dram_bytes": nbytes,
            },
            area_mm2=spec.die_mm2,
            extra={"peak_fp16_tflops": spec.fp16_tflops, "hbm_gbps": spec.hbm_gbps},
        )

