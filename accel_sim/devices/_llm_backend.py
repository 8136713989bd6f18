"""Serving backends: the software stack's kernels, collectives and runtime overhead.

The roofline of :mod:`accel_sim.devices._llm_cost` prices an operator as if its kernel were
ideal. A serving *backend* says how the stack that runs the model departs from that:

* its **attention kernel** (:class:`AttentionKernel`): whether decode attention reads each
  KV head once per GQA group or once per query head, whether the KV cache is paged (the last
  block of every request is read in full, and the kernel pays a latency penalty), and at what
  share of the HBM bandwidth it streams the cache;
* its **collectives** (:class:`Collective`): an all-reduce costs ``alpha + 2 (n-1)/n x bytes /
  busbw`` with ``alpha`` the per-call latency and ``busbw`` the bus bandwidth NCCL reaches,
  both measured on the xPU's own system (:data:`NCCL`);
* its **per-iteration runtime overhead** (scheduling, sampling, input preparation and
  launches that do not overlap the GPU's work): ``overhead_s + overhead_per_request_s x
  requests`` per iteration.

The ``ideal`` backend (the default of every serving system) is the convention of LLMSimulator
and the Duplex paper: GQA-aware fused attention at the xPU's memory efficiency, ring
collectives limited by link latency and bandwidth only, and no runtime overhead.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

_Num = np.ndarray | float

__all__ = ["BACKENDS", "GEMM_TILE_TOKENS", "NCCL", "PRECISIONS", "AttentionKernel", "Collective",
           "Precision", "ServingBackend"]


@dataclass(frozen=True)
class AttentionKernel:
    """How a backend's decode attention kernel moves the KV cache.

    Attributes:
        name: Kernel name.
        kv_reads: ``"per_kv_head"`` (GQA-aware: each KV head is read once for its group of
            query heads) or ``"per_query_head"`` (one thread block per query head, each reading
            its KV head: the KV traffic is multiplied by the GQA group; the blocks of one
            group run side by side, so DRAM serves the first read and the L2 cache the
            others, at the xPU's L2 bandwidth when it is known, else DRAM serves them all).
        block_tokens: KV-cache page size, tokens (0: contiguous cache). The last page of a
            request is read in full: ``(block_tokens - 1) / 2`` extra tokens per request and
            layer on average.
        latency_factor: Kernel time over that of a contiguous kernel moving the same bytes
            (block-table lookups, branches, variable lengths).
        source: Where the kernel's behaviour is documented.
    """

    name: str
    kv_reads: str
    block_tokens: int
    latency_factor: float
    source: str

    def __post_init__(self) -> None:
        if self.kv_reads not in ("per_kv_head", "per_query_head"):
            raise ValueError(f"kv_reads={self.kv_reads!r}: per_kv_head or per_query_head")

    def reread(self, group: int) -> int:
        """Times each KV element is read from DRAM per decode step (``group``: query heads per
        KV head)."""
        return group if self.kv_reads == "per_query_head" else 1

    @property
    def waste_tokens(self) -> float:
        """Mean tokens read beyond a request's context (its last page), tokens."""
        return (self.block_tokens - 1) / 2.0 if self.block_tokens > 1 else 0.0

    def decode_bytes(self, nbytes: _Num, score: np.ndarray | bool, m: _Num, n: _Num, k: _Num,
                     groups: _Num, batch: _Num, bits: _Num, mb: float = 1.0,
                     l2_ratio: float = 0.0) -> np.ndarray:
        """DRAM-equivalent bytes of decode attention rows under this kernel, from the bytes
        ``nbytes`` of the ideal fused kernel (arrays or scalars; the rows' IR fields:
        ``score`` marks score rows, ``m`` is the GQA group, the KV length is ``n`` (score)
        or ``k`` (context); ``mb`` micro-batches share the rows): each request's last page
        read in full; per query head, the K or V read ``m`` times: from DRAM, or (with
        ``l2_ratio`` = DRAM / L2 bandwidth > 0) once from DRAM and ``m`` times through L2,
        whichever takes longer, counted as ``max(1, m x l2_ratio)`` DRAM reads."""
        d = np.where(score, k, n).astype(float)
        kv = groups * batch * n * k * bits / 8.0 / mb
        waste = groups * batch * self.waste_tokens * d * bits / 8.0 / mb
        reread = m if self.kv_reads == "per_query_head" else 1.0
        if self.kv_reads == "per_query_head" and l2_ratio > 0:
            reread = np.maximum(1.0, np.asarray(m, dtype=float) * l2_ratio)
        return nbytes + (reread * (kv + waste) - kv)


@dataclass(frozen=True)
class Collective:
    """Measured NCCL all-reduce of one xPU system: ``alpha + 2 (n-1)/n x bytes / busbw``.

    Attributes:
        alpha_us: Per-call latency, us: the median of the measured times of 4-GPU all-reduces
            of at most 64 KiB.
        busbw_gbs: Bus bandwidth of a 4-GPU all-reduce of 65 MB, GB/s
            (``2 (n-1)/n x bytes / time``).
        source: The measurement.
    """

    alpha_us: float
    busbw_gbs: float
    source: str

    def allreduce_s(self, nbytes: np.ndarray | float, group: int) -> np.ndarray:
        """Time of an all-reduce of ``nbytes`` (array) over ``group`` devices, s."""
        b = np.asarray(nbytes, dtype=float)
        if group <= 1:
            return np.zeros_like(b)
        t = self.alpha_us * 1e-6 + 2.0 * (group - 1) / group * b / (self.busbw_gbs * 1e9)
        return np.where(b > 0, t, 0.0)


_VIDUR = ("Vidur (Agrawal et al., MLSys 2024), measured profiles in microsoft/vidur "
          "data/profiling/network/{}/all_reduce.csv (torch.distributed + NCCL, DGX {})")
#: Measured all-reduce per xPU preset. H200 shares the H100's NVLink 4 and NVSwitch and takes
#: its figures; B200 (NVLink 5, twice the bandwidth) takes the H100's latency and twice its bus
#: bandwidth (an assumption: no published measurement at hand).
NCCL = MappingProxyType({
    "a100": Collective(20.5, 164.7, _VIDUR.format("a100_dgx", "A100: 4 GPUs, 65.0 MB in "
                                                               "592 us")),
    "h100": Collective(38.0, 315.6, _VIDUR.format("h100_dgx", "H100: 4 GPUs, 65.0 MB in "
                                                               "309 us")),
    "h200": Collective(38.0, 315.6, "as h100 (same NVLink 4 / NVSwitch)"),
    "b200": Collective(38.0, 631.2, "h100's latency, twice its bus bandwidth (NVLink 5; "
                                    "assumption)"),
})


@dataclass(frozen=True)
class ServingBackend:
    """A serving software stack (see the module docstring).

    Attributes:
        name: Backend name (the ``backend`` parameter of the serving systems).
        attention: Its decode attention kernel; ``None``: the ideal fused kernel.
        nccl: Whether all-reduces take the measured NCCL cost (:data:`NCCL`) instead of the
            link model.
        overhead_s: Runtime overhead per iteration, s.
        overhead_per_request_s: Runtime overhead per request in the iteration, s.
        prefill_overhead_s: Further overhead of an iteration that prefills prompts (context
            phase set-up), s.
        source: Where the figures come from.
        gemm_tile_tokens: Rows (tokens) of the thread-block tile its tensor-core GEMM kernels
            compute whole: a GEMM over ``M`` tokens per device costs the compute of
            ``ceil(M / tile) x tile`` (:data:`GEMM_TILE_TOKENS`; 1: the ideal roofline).
    """

    name: str
    attention: AttentionKernel | None
    nccl: bool
    overhead_s: float
    overhead_per_request_s: float
    prefill_overhead_s: float
    source: str
    gemm_tile_tokens: int = 1

    @property
    def has_overhead(self) -> bool:
        """Whether any runtime overhead is charged."""
        return bool(self.overhead_s or self.overhead_per_request_s or self.prefill_overhead_s)

    def iteration_overhead_s(self, requests: int, prefills: int) -> float:
        """Runtime overhead of an iteration with ``requests`` requests, ``prefills`` of them
        prefilling, s."""
        return (self.overhead_s + self.overhead_per_request_s * requests
                + (self.prefill_overhead_s if prefills else 0.0))


#: TensorRT-LLM's context-phase overhead, s (charged on each iteration that prefills):
#: calibrated on ONE published point, the first-token latency of Llama-2-70B FP16 at batch 1
#: and 128 input tokens on 4x A100-SXM4-80GB (TP4), 47 ms (TensorRT-LLM v0.6.1 performance
#: overview), minus what the ``trtllm_mmha`` model gives for that iteration without it
#: (``tests/test_serving_backends.py`` re-derives it). TensorRT-LLM's overhead per generation
#: step is not published; it is 0 here (the decode-heavy rows of ``reproduce gpu-serving`` say
#: what that leaves out). Every other row is a prediction.
TRTLLM_OVERHEAD_S = 14.85e-3

#: Tokens per GEMM thread-block tile of the CUDA backends: the M (token) side of the
#: tensor-core tiles cuBLAS and CUTLASS run on Ampere and Hopper (CUTLASS's default sm80 /
#: sm90 tensor-op tiles are 128 x 128 and 128 x 256; a partial tile costs a whole one).
#: Vidur's measured cuBLAS GEMM times of Llama-2-70B's projections on A100 and H100
#: (microsoft/vidur data/profiling/compute/{a100,h100}/meta-llama/Llama-2-70b-hf/mlp.csv)
#: step at multiples of 128 tokens (A100 TP4 ffn_up: 202 us at 128, 296 at 192, 307 at 256,
#: 393 at 384); ``tests/test_gemm_profile.py`` compares the model with them.
GEMM_TILE_TOKENS = 128

_MMHA = AttentionKernel(
    "trtllm_mmha", "per_query_head", 0, 1.0,
    "TensorRT-LLM <= 0.6 masked multi-head attention: one thread block per (request, query "
    "head), reading that head's K and V from the contiguous cache (GQA groups re-read their "
    "KV head); the XQA kernel that reads it once per group came later")
_XQA = AttentionKernel(
    "trtllm_xqa", "per_kv_head", 64, 1.0,
    "TensorRT-LLM >= 0.8 XQA kernel: GQA-aware, paged KV cache with tokens_per_block=64 (the "
    "default); no latency penalty measured for its paging (assumption)")
_VLLM = AttentionKernel(
    "vllm_paged", "per_query_head", 16, 1.23,
    "vLLM PagedAttention v1/v2 kernel: one thread block per (request, query head); block size "
    "16 tokens (the default); 20-26 % higher kernel latency than FasterTransformer's "
    "contiguous kernel (Kwon et al., SOSP 2023, Sec. 7.4, Fig. 18a): 1.23, the midpoint")

#: Backends by name.
BACKENDS = MappingProxyType({
    "ideal": ServingBackend(
        "ideal", None, False, 0.0, 0.0, 0.0,
        "LLMSimulator / Duplex (MICRO 2024) convention: ideal kernels, no runtime overhead"),
    "trtllm_mmha": ServingBackend(
        "trtllm_mmha", _MMHA, True, 0.0, 0.0, TRTLLM_OVERHEAD_S,
        "TensorRT-LLM 0.6 (static batching, MMHA); overhead: TRTLLM_OVERHEAD_S",
        GEMM_TILE_TOKENS),
    "trtllm": ServingBackend(
        "trtllm", _XQA, True, 0.0, 0.0, TRTLLM_OVERHEAD_S,
        "TensorRT-LLM >= 0.8 (in-flight batching, XQA, paged KV); overhead as trtllm_mmha "
        "(same runtime; assumption)", GEMM_TILE_TOKENS),
    "vllm": ServingBackend(
        "vllm", _VLLM, True, 1.43e-3, 42.7e-6, 0.0,
        "vLLM (PagedAttention); CPU overhead per iteration from Vidur's measured vLLM "
        "profile (microsoft/vidur data/profiling/a100/cpu_overheads.csv, Llama-2-70B TP4: "
        "schedule + sampler + prepare inputs + process outputs = 1.77 ms at batch 8, 6.89 ms "
        "at batch 128: 1.43 ms + 42.7 us per request)", GEMM_TILE_TOKENS),
})


@dataclass(frozen=True)
class Precision:
    """A serving precision: stored bits and the tensor-core peak the GEMMs run at.

    Attributes:
        name: ``fp16``, ``bf16``, ``fp8``, ``int8`` or ``int4`` (weight-only).
        weight_bits: Bits of a stored weight.
        act_bits: Bits of the activations between operators (GEMM outputs, norms, residual
            stream, all-reduces).
        peak: The xPU peak GEMMs run at: ``fp16``, ``fp8`` or ``int8`` (of the GPU spec).
        kv_bits: Bits of a KV-cache element.
    """

    name: str
    weight_bits: int
    act_bits: int
    peak: str
    kv_bits: int


#: Precisions by name. FP8 (E4M3, per-tensor scales, as MLPerf's TensorRT-LLM submissions)
#: stores FP8 weights and an FP8 KV cache and runs the GEMMs on FP8 tensor cores; only the
#: GEMMs' inputs are quantised: each GEMM writes FP16 and the all-reduce after a row-parallel
#: GEMM moves FP16 (``FP8Linear`` / ``FP8RowLinear`` of ``tensorrt_llm/quantization/layers.py``,
#: TensorRT-LLM 0.8-0.10: ``quantize(x, scale, 'fp8')`` before the GEMM, output in the model's
#: dtype, then ``allreduce``). INT8 is W8A8 (SmoothQuant: ``SmoothQuantRowLinear`` of the same
#: file likewise all-reduces the GEMM's FP16 output) with an INT8 KV cache on INT8 tensor
#: cores; INT4 is weight-only (W4A16, AWQ/GPTQ): weights are dequantised to FP16 in the GEMM,
#: activations and KV cache stay FP16. A GEMM's 8-bit input is counted at the activations'
#: 16 bits (the quantise step reads them at 16 bits).
PRECISIONS = MappingProxyType({
    "fp16": Precision("fp16", 16, 16, "fp16", 16),
    "bf16": Precision("bf16", 16, 16, "fp16", 16),
    "fp8": Precision("fp8", 8, 16, "fp8", 8),
    "int8": Precision("int8", 8, 16, "int8", 8),
    "int4": Precision("int4", 4, 16, "fp16", 16),
})
