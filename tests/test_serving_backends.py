"""Serving backends, precisions and presets (issue 14, timing fidelity), derived by hand.

Hand derivations use the datasheet figures of ``accel_sim.devices.gpu.GPU_SPECS`` and the
defaults of the xPU system (compute efficiency 0.7, memory efficiency 0.75, 2 us per
operator), written out here rather than read back from the code under test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from _golden import assert_matches_golden

from accel_sim import get_device
from accel_sim.devices._llm_backend import BACKENDS, NCCL, TRTLLM_OVERHEAD_S
from accel_sim.errors import ConfigError
from accel_sim.llm import MODELS, iteration_trace
from accel_sim.llm._model import PUBLISHED_PARAMS
from accel_sim.serving import ServeConfig, serve

XPU = get_device("xpu")

H100_BW = 3352e9 * 0.75  # B/s: datasheet HBM x memory efficiency
H100_L2 = 8986e9  # B/s: L2 read bandwidth (Table 3 of PMC10448217)
OVH = 2e-6  # s per xPU operator


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_model_presets_match_published_sizes(name):
    """Parameter counts of the presets within 1 % of the published model sizes."""
    assert MODELS[name].params == pytest.approx(PUBLISHED_PARAMS[name], rel=0.01)


def _decode_attention_s(backend: str, kv_len: int) -> float:
    """The step model's decode attention time for one llama3_8b request on one H100."""
    dev = XPU(XPU.Config(xpu="h100", devices=1, backend=backend))
    step = dev.step_costs(MODELS["llama3_8b"], None)
    lat, _, _ = step.attention(1, np.array([float(kv_len)]))
    return float(lat[0])


@pytest.mark.parametrize("kv_len", [1024, 4096])
def test_decode_attention_by_hand(kv_len):
    """llama3_8b: 32 layers, 32 query heads over 8 KV heads (group 4), head_dim 128, FP16.
    Per layer, the score kernel moves Q (32 x 128 x 2 B = 8192 B) and K (8 heads x L x 256 B),
    the context kernel V (same as K) and the output (8192 B); both are memory-bound."""
    kv = 8 * kv_len * 128 * 2  # B of K (or of V) per layer, read once
    ideal = 32 * 2 * ((8192 + kv) / H100_BW + OVH)
    assert _decode_attention_s("ideal", kv_len) == pytest.approx(ideal, rel=1e-9)
    # TensorRT-LLM 0.6 MMHA: every query head reads its KV head, K and V x group 4: once
    # from DRAM, 4 times through L2 (4 x 3352 / 8986 = 1.49 DRAM reads' worth of time)
    reads = 4 * 3352e9 / H100_L2
    mmha = 32 * 2 * ((8192 + reads * kv) / H100_BW + OVH)
    assert _decode_attention_s("trtllm_mmha", kv_len) == pytest.approx(mmha, rel=1e-9)
    # XQA with 64-token pages: read once, plus (64 - 1) / 2 tokens of the last page
    waste = 8 * 31.5 * 128 * 2
    xqa = 32 * 2 * ((8192 + kv + waste) / H100_BW + OVH)
    assert _decode_attention_s("trtllm", kv_len) == pytest.approx(xqa, rel=1e-9)
    # vLLM: per query head (through L2 as above), 16-token pages, 1.23x the kernel time
    waste16 = 8 * 7.5 * 128 * 2
    vllm = 32 * 2 * ((8192 + reads * (kv + waste16)) / H100_BW + OVH) * 1.23
    assert _decode_attention_s("vllm", kv_len) == pytest.approx(vllm, rel=1e-9)
    # without an L2 figure (b200 preset) the re-reads come from DRAM
    dev = XPU(XPU.Config(xpu="b200", devices=1, backend="trtllm_mmha"))
    step = dev.step_costs(MODELS["llama3_8b"], None)
    b200 = float(step.attention(1, np.array([float(kv_len)]))[0][0])
    assert b200 == pytest.approx(32 * 2 * ((8192 + 4 * kv) / (8000e9 * 0.75) + OVH), rel=1e-9)
    # every kernel's cost grows with the context (the code's values, not the formulas above)
    for backend in ("ideal", "trtllm_mmha", "trtllm", "vllm"):
        assert _decode_attention_s(backend, 4 * kv_len) > 1.8 * _decode_attention_s(backend,
                                                                                     kv_len)


@pytest.mark.parametrize("nbytes", [64 * 1024, 64 * 2**20])
def test_allreduce_by_hand(nbytes):
    """NCCL on 4 A100s (Vidur's measurement): 20.5 us + 2 (4-1)/4 x bytes / 164.7 GB/s; the
    ideal backend: ring over NVLink 3 (300 GB/s per direction, 0.8 us per step)."""
    nccl = XPU(XPU.Config(xpu="a100", devices=4, backend="trtllm"))
    want = 20.5e-6 + 1.5 * nbytes / 164.7e9
    assert float(nccl.allreduce_time(nbytes, 4)) == pytest.approx(want, rel=1e-12)
    ideal = XPU(XPU.Config(xpu="a100", devices=4))
    ring = 2 * 3 * (0.8e-6 + nbytes / 4 / 300e9)
    assert float(ideal.allreduce_time(nbytes, 4)) == pytest.approx(ring, rel=1e-12)
    assert NCCL["a100"].alpha_us == 20.5


def test_a100_nvlink_is_300():
    dev = XPU(XPU.Config(xpu="a100"))
    assert dev.nvlink_gbs == 300.0
    assert XPU(XPU.Config(xpu="h100")).nvlink_gbs == 450.0
    assert XPU(XPU.Config(xpu="a100", nvlink_gbs=600.0)).nvlink_gbs == 600.0


def test_precision_changes_peak_and_bytes():
    model = MODELS["llama2_70b"]
    fp16 = XPU(XPU.Config(xpu="h100", devices=8))
    fp8 = XPU(XPU.Config(xpu="h100", devices=8, precision="fp8"))
    int4 = XPU(XPU.Config(xpu="h100", devices=8, precision="int4"))
    assert fp8.xpu_unit().flops == pytest.approx(1978.9e12 * 0.7)
    assert fp16.xpu_unit().flops == pytest.approx(989.4e12 * 0.7)
    assert int4.xpu_unit().flops == fp16.xpu_unit().flops  # W4A16 dequantises to FP16
    assert fp8.served_model(model).weight_bytes == pytest.approx(model.weight_bytes / 2)
    assert fp8.served_model(model).kv_bytes_per_token == pytest.approx(
        model.kv_bytes_per_token / 2)
    m4 = int4.served_model(model)
    assert m4.weight_bytes == pytest.approx(model.weight_bytes / 4)
    assert m4.kv_bytes_per_token == model.kv_bytes_per_token
    # smaller weights and KV leave room for more requests
    assert fp8.max_batch(model, 2048) > 2 * fp16.max_batch(model, 2048)
    # the trace's weights shrink too
    tr = iteration_trace(m4, decode_kv=[100])
    qkv = next(lay for lay in tr.layers if lay.name == "blocks.qkv")
    assert qkv.weight_bits == 4 and qkv.input_bits == 16


def test_fp8_quantises_gemm_inputs_not_the_activations_between_them():
    """TensorRT-LLM's FP8 (``FP8RowLinear``): FP8 weights and KV cache, FP16 GEMM outputs, so
    the all-reduce after a row-parallel GEMM moves FP16; derived by hand for a TP2 H100
    iteration of 64 decode tokens."""
    model = MODELS["llama2_70b"]
    dev = XPU(XPU.Config(xpu="h100", devices=2, tp=2, precision="fp8", backend="trtllm"))
    m8 = dev.served_model(model)
    assert (m8.bits, m8.stored_weight_bits, m8.kv_cache_bits) == (16, 8, 8)
    tr = iteration_trace(m8, decode_kv=[1000] * 64)
    rows = {lay.name: lay for lay in tr.layers}
    score = rows["blocks.attn_score.decode.L1000"]
    assert score.input_bits == 8  # the KV cache is read at 8 bits
    assert rows["blocks.attn_out"].output_bits == 16
    comm = dict(zip(tr.names, dev.evaluate(tr).columns["comm_s"], strict=True))
    nccl = NCCL["h100"]
    # 64 tokens x 8192 hidden x 2 B, over 2 GPUs: alpha + 2 (n-1)/n x bytes / busbw, 80 layers
    one = nccl.alpha_us * 1e-6 + 1.0 * 64 * 8192 * 2 / (nccl.busbw_gbs * 1e9)
    assert comm["blocks.attn_out"] == pytest.approx(80 * one, rel=1e-9)
    fp16 = XPU(XPU.Config(xpu="h100", devices=2, tp=2, backend="trtllm"))
    comm16 = dict(zip(tr.names, fp16.evaluate(iteration_trace(model, decode_kv=[1000] * 64))
                      .columns["comm_s"], strict=True))
    assert comm16["blocks.attn_out"] == pytest.approx(comm["blocks.attn_out"], rel=1e-12)


def test_fp8_on_a100_is_refused():
    with pytest.raises(ConfigError, match=r"precision=fp8 needs FP8 tensor cores; xpu=a100"):
        XPU.Config(xpu="a100", precision="fp8")


@pytest.mark.parametrize("backend", ["trtllm_mmha", "trtllm", "vllm"])
def test_run_and_serve_price_an_iteration_alike(backend):
    """`run` of an iteration trace and the server's step model agree (mixed iteration:
    three decode requests and one prompt), overhead included."""
    dev = XPU(XPU.Config(xpu="a100", devices=4, backend=backend))
    model = MODELS["llama2_70b"]
    kv = [300, 300, 300]
    rep = dev.evaluate(iteration_trace(model, decode_kv=kv, prefill=[128]))
    step = dev.step_costs(model, None).steps(3, np.array([900.0]), (128,))
    assert float(step.latency_s[0]) == pytest.approx(rep.latency_s, rel=1e-9)


def test_vllm_overhead_grows_with_the_batch():
    """Vidur's measured vLLM CPU overhead: 1.43 ms + 42.7 us per request per iteration."""
    be = BACKENDS["vllm"]
    assert be.iteration_overhead_s(8, 0) == pytest.approx(1.43e-3 + 8 * 42.7e-6)
    assert be.iteration_overhead_s(128, 1) == pytest.approx(1.43e-3 + 128 * 42.7e-6)


def test_trtllm_overhead_is_calibrated_on_one_point():
    """TRTLLM_OVERHEAD_S makes the first-token latency of Llama-2-70B at batch 1, 128 input
    tokens on 4 A100s (TP4) the published 47 ms: re-derived from the model without it."""
    dev = XPU(XPU.Config(xpu="a100", devices=4, backend="trtllm_mmha"))
    s = serve(ServeConfig(model="llama2_70b", batch=1, lin=128, lout=1, requests=1), dev)
    without = float(s.summary["ttft_p50_s"]) - TRTLLM_OVERHEAD_S
    assert 47e-3 - without == pytest.approx(TRTLLM_OVERHEAD_S, rel=1e-3)


def test_ideal_backend_is_the_default_and_unchanged():
    """The default (ideal) backend charges no overhead and no NCCL latency."""
    dev = XPU(XPU.Config())
    assert dev.backend.name == "ideal" and not dev.backend.has_overhead
    cfg = dataclasses.asdict(dev.config)
    assert cfg["backend"] == "ideal" and cfg["precision"] is None


def test_gpu_serving_reproduction(tmp_path):
    """`reproduce gpu-serving --quick` writes its table; its numbers are golden."""
    from accel_sim.cli import main

    assert main(["reproduce", "gpu-serving", "--quick", "-q", "-o", str(tmp_path)]) == 0
    text = (tmp_path / "comparison.csv").read_text()
    assert text.splitlines()[0].startswith("quantity,condition,paper,accel_sim,rel_error,"
                                           "tolerance,ok")
    assert (tmp_path / "comparison.png").stat().st_size > 0
    assert_matches_golden(tmp_path, "reproduce-gpu-serving")


def test_memory_violation_follows_the_traces_bits():
    """`run` sizes weights and KV cache at the trace's bits: a W4A16 trace of Llama-2-70B
    needs a quarter of the FP16 weights (it was sized at 16 bits, from the preset)."""
    model = MODELS["llama2_70b"]
    dev = XPU(XPU.Config(xpu="h100", devices=1))
    kv = [4096] * 8
    need16 = dev._memory_need(iteration_trace(model, decode_kv=kv))
    w4 = dataclasses.replace(model, weight_bits=4)
    need4 = dev._memory_need(iteration_trace(w4, decode_kv=kv))
    kv_bytes = 8 * 4096 * model.kv_bytes_per_token
    assert need16 == pytest.approx(model.weight_bytes + kv_bytes, rel=1e-12)
    assert need4 == pytest.approx(model.weight_bytes / 4 + kv_bytes, rel=1e-12)


def test_trtllm_bench_engine_limits_by_hand():
    """trtllm-bench's tuning rule for Llama-3-70B FP16 on 4 GPUs of 80 GiB: KV per token
    2 x 80 layers x 8 heads x 128 x 2 B = 327,680 B; the weights (2 B per parameter) leave
    4 x 80 GiB - 2 x params; 0.95 of that holds 269.8 requests of 128 + 2048 tokens (rounded
    up to 128s: 384; budget 269.8 x 1.0625 = 287 -> the 2,048 floor) and 2,293 of 128 + 128
    (256s: 2,304; budget 4,586 -> 512s: 4,608)."""
    from accel_sim.reproduce.gpu_serving import trtllm_bench_engine

    model = MODELS["llama3_70b"]
    free = 0.95 * (4 * 80 * 2**30 - 2 * model.params)
    assert free / (327_680 * 2176) == pytest.approx(269.8, abs=0.1)
    assert free / (327_680 * 256) == pytest.approx(2293.2, abs=0.1)
    assert trtllm_bench_engine(model, 4, 80.0, 128, 2048) == (384, 2048)
    assert trtllm_bench_engine(model, 4, 80.0, 128, 128) == (2304, 4608)
    # Mixtral on 2 GPUs: 2 x 32 x max(2, 8) x 128 x 2 = 131,072 B per token
    mix = MODELS["mixtral_8x7b"]
    n = 0.95 * (2 * 80 * 2**30 - 2 * mix.params) / (131_072 * 256)
    assert trtllm_bench_engine(mix, 2, 80.0, 128, 128) == (
        256 * math.ceil(n / 256), 512 * math.ceil(2 * n / 512))
