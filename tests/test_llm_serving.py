"""LLM serving on xPU/PIM systems (Duplex, MICRO 2024): models, operators, routing, devices,
the iteration model, the serving simulator and the ``serve`` command.

Golden numbers are derived here by hand from the documented constants (H100 989.4 TFLOPS FP16
and 3.352 TB/s; Logic-PIM 4x bandwidth at 8 FLOP/B; Bank-PIM 16x at 1 FLOP/B; HBM read path
3.48 pJ/bit, 0.909 nJ per 1 KiB row, 0.23 pJ/FLOP; ../shared/REFERENCES.md "PIM/xPU").
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from accel_sim.cli import main
from accel_sim.devices._llm_step import StepModel
from accel_sim.devices.llm_system import (
    BankGroupPimSystem,
    BankPimSystem,
    DuplexSystem,
    LlmSystem,
    LogicPimSystem,
    PimSystemConfig,
    XpuSystem,
    XpuSystemConfig,
)
from accel_sim.errors import ConfigError
from accel_sim.llm import (
    MODELS,
    LlmModel,
    Router,
    balanced_counts,
    get_model,
    iteration_trace,
    op_intensity,
)
from accel_sim.serving import REQUEST_COLUMNS, ServeConfig, serve
from accel_sim.testing import DeviceContract, ServingSystemContract

# ---------------------------------------------------------------------- documented constants
H100_FLOPS = 989.4e12  # FP16 dense, FLOP/s
H100_BW = 3352e9  # HBM3, B/s
H100_GIB = 80.0
XPU_PJ_BIT = 3.48
PIM_PJ_BIT = {"logic": 1.81, "bankgroup": 2.68, "bank": 0.73}
ACT_NJ_PER_KIB_ROW = 0.909
PJ_PER_FLOP = 0.23
FP16 = 2  # bytes per element

LLM_SYSTEMS = (XpuSystem, LogicPimSystem, BankGroupPimSystem, BankPimSystem, DuplexSystem)


def _tiny() -> LlmModel:
    return LlmModel(name="tiny", layers=2, hidden=256, heads=4, kv_heads=2, head_dim=64,
                    ffn=512, gated=True, experts=0, top_k=0, vocab=1000)


def _ideal_xpu(**kw) -> XpuSystem:
    cfg = dict(devices=1, compute_efficiency=1.0, memory_efficiency=1.0, op_overhead_us=0.0,
               static_power=False)
    cfg.update(kw)
    return XpuSystem(XpuSystemConfig(**cfg))


def _balanced_router(router: Router, model: LlmModel) -> None:
    """Make ``router`` return the evenly spread counts (what iteration_trace assumes)."""
    router.counts_many = lambda tokens, steps: np.stack(  # type: ignore[method-assign]
        [balanced_counts(model, tokens)] * steps)


# ====================================================================== 1. Op/B formulas
GQA = [("mixtral_8x7b", 4), ("grok1", 6), ("llama3_70b", 8), ("glam", 1), ("opt_66b", 1)]


@pytest.mark.parametrize(("name", "group"), GQA)
def test_decode_attention_opb_approaches_gqa_group(name, group):
    m = get_model(name)
    assert m.group == group == m.heads // m.kv_heads
    prev = 0.0
    for kv in (16, 256, 4096, 65536):
        tr = iteration_trace(m, decode_kv=[kv] * 3)
        rows = [lay for lay in tr if ".decode." in lay.name]
        assert [r.name.split(".")[1] for r in rows] == ["attn_score", "attn_context"]
        # per KV head: FLOPs 2*g*L*d; fused traffic moves Q (g*d) + K (L*d), or V (L*d) + O
        # (g*d); the score matrix stays on chip -> Op/B = g*L / (g + L), below g, -> g
        hand = group * kv / (group + kv)
        for r in rows:
            assert op_intensity(r) == pytest.approx(hand, rel=1e-12)
            assert op_intensity(r) <= group
        both = sum(r.flops for r in rows) / sum(r.flops / op_intensity(r) for r in rows)
        assert both == pytest.approx(hand, rel=1e-12)
        assert both > prev  # grows with the KV length
        prev = both
        if kv >= 4096:
            assert both == pytest.approx(group, rel=0.05)
        if kv >= 65536:
            assert both == pytest.approx(group, rel=0.001)


@pytest.mark.parametrize(("batch", "per_expert"), [(32, 8), (128, 32)])
def test_moe_expert_opb_is_tokens_per_expert(batch, per_expert):
    m = get_model("mixtral_8x7b")
    assert batch * m.top_k // m.experts == per_expert  # T * top_k / E
    tr = iteration_trace(m, decode_kv=[300] * batch)
    experts = [lay for lay in tr if ".expert_" in lay.name]
    assert len(experts) == 2 * m.moe_layers  # balanced: one count value -> up and down rows
    up_n = 2 * 14336  # gate + up of the SwiGLU expert
    for lay in experts:
        assert lay.m == per_expert and lay.groups == 8
        n, k = (up_n, 4096) if ".expert_up." in lay.name else (4096, 14336)
        c = per_expert
        hand = c * n * k / (c * k + k * n + c * n)  # 2cnk FLOPs / 2(ck + kn + cn) bytes
        assert op_intensity(lay) == pytest.approx(hand, rel=1e-12)
        assert op_intensity(lay) == pytest.approx(per_expert, rel=0.03)
        assert op_intensity(lay) < per_expert


@pytest.mark.parametrize("tokens", [1, 4, 16])
def test_dense_gemm_opb_is_tokens_for_small_batches(tokens):
    for name in ("mixtral_8x7b", "llama3_70b"):
        tr = iteration_trace(name, decode_kv=[100] * tokens)
        rows = {lay.name: lay for lay in tr}
        names = ["blocks.qkv", "blocks.attn_out", "lm_head"]
        if name == "llama3_70b":
            names += ["dense.ffn_up", "dense.ffn_down"]
        for nm in names:
            opb = op_intensity(rows[nm])
            assert opb == pytest.approx(tokens, rel=0.02), nm
            assert opb < tokens


# ====================================================================== 2. sizes
@pytest.mark.parametrize(("name", "kv_bytes"), [
    ("mixtral_8x7b", 2 * 32 * 8 * 128 * 2),
    ("glam", 2 * 32 * 32 * 128 * 2),
    ("grok1", 2 * 64 * 8 * 128 * 2),
    ("opt_66b", 2 * 64 * 72 * 128 * 2),
    ("llama3_70b", 2 * 80 * 8 * 128 * 2),
])
def test_kv_bytes_per_token(name, kv_bytes):
    assert get_model(name).kv_bytes_per_token == kv_bytes


def test_mixtral_kv_is_128_kib():
    assert MODELS["mixtral_8x7b"].kv_bytes_per_token == 128 * 1024


@pytest.mark.parametrize(("name", "published"), [
    ("mixtral_8x7b", 46.7e9), ("grok1", 314e9), ("opt_66b", 66e9), ("llama3_70b", 70.6e9),
    ("glam", 143e9)])
def test_parameter_counts_match_published(name, published):
    m = get_model(name)
    assert m.params == pytest.approx(published, rel=0.02)
    assert m.weight_bytes == 2 * m.params  # FP16


def test_mixtral_parameter_count_by_hand():
    attn = 4096 * (32 * 128 + 2 * 8 * 128) + 32 * 128 * 4096
    experts = 8 * 3 * 4096 * 14336
    router = 4096 * 8
    embed = 2 * 32000 * 4096
    assert MODELS["mixtral_8x7b"].params == 32 * (attn + experts + router) + embed


def test_model_max_batch_by_hand():
    m = _tiny()
    # weights: 2 x (attention 256*(256+2*128) + 256*256, FFN 3*256*512) + 2 * 1000 * 256
    params = 2 * (256 * (256 + 256) + 256 * 256 + 3 * 256 * 512) + 2 * 1000 * 256
    assert m.params == params
    kv = 2 * 2 * 2 * 64 * 2
    assert m.kv_bytes_per_token == kv
    mem = 10e6
    assert m.max_batch(mem, 100) == int((mem - 2 * params) // (kv * 100))
    assert m.max_batch(2 * params, 100) == 0
    with pytest.raises(ConfigError, match="tokens_per_request"):
        m.max_batch(mem, 0)


def test_model_validation_names_the_parameter():
    with pytest.raises(ConfigError, match="top_k"):
        LlmModel(experts=8, top_k=9)
    with pytest.raises(ConfigError, match="kv_heads"):
        LlmModel(heads=32, kv_heads=5)
    with pytest.raises(ConfigError, match="top_k"):
        LlmModel(experts=8, top_k=0)


# ====================================================================== 3. batch cap
MIX_ATTN = 4096 * (32 * 128 + 2 * 8 * 128) + 32 * 128 * 4096
MIX_EXPERTS = 32 * 8 * 3 * 4096 * 14336  # parameters in experts
MIX_OTHER = 32 * MIX_ATTN + 32 * 4096 * 8 + 2 * 32000 * 4096  # attention, routers, embeddings
MIX_KV = 2 * 32 * 8 * 128 * 2


def _mixtral_fit(tokens, *, devices, pp=1, tp, dp, stage):
    mem = H100_GIB * 2**30 * 0.9
    w_dev = MIX_OTHER * FP16 / (tp * pp) + MIX_EXPERTS * FP16 / (stage * pp)
    kv_dev = MIX_KV / pp / min(tp, 8)
    return dp * int((mem - w_dev) // (tokens * kv_dev))


@pytest.mark.parametrize(("kw", "shape"), [
    (dict(devices=4), dict(devices=4, tp=4, dp=1, stage=4)),  # tp = gcd(4, 8)
    (dict(devices=8, pp=2), dict(devices=8, pp=2, tp=4, dp=1, stage=4)),
    (dict(devices=8, tp=4), dict(devices=8, tp=4, dp=2, stage=8)),
])
@pytest.mark.parametrize("tokens", [1024, 4096 + 512])
def test_max_batch_mixtral_by_hand(kw, shape, tokens):
    m = get_model("mixtral_8x7b")
    assert m.params == MIX_OTHER + MIX_EXPERTS
    dev = XpuSystem(XpuSystemConfig(**kw))
    expected = _mixtral_fit(tokens, **shape)
    assert expected > 0
    assert dev.max_batch(m, tokens) == expected


def test_serve_rejects_batch_that_does_not_fit():
    fit = _mixtral_fit(1024, devices=4, tp=4, dp=1, stage=4)
    with pytest.raises(ConfigError, match=f"at most {fit} requests fit"):
        serve(ServeConfig(batch=fit + 1, lin=512, lout=512, requests=10), "duplex")


def test_serve_cap_to_memory_reports_violation():
    lin, lout = 8192, 8
    fit = _mixtral_fit(lin + lout, devices=4, tp=4, dp=1, stage=4)
    cfg = ServeConfig(batch=fit + 1, lin=lin, lout=lout, requests=40)
    res = serve(cfg, "xpu", cap_to_memory=True)
    s = res.summary
    assert s["max_batch_kv"] == fit
    assert s["batch_cap"] == fit
    assert s["kv_memory_violation"] > 0
    assert s["kv_memory_violation"] == pytest.approx((fit + 1) / fit - 1, rel=1e-12)


def test_serve_rejects_weights_that_do_not_fit():
    with pytest.raises(ConfigError, match="more devices"):
        serve(ServeConfig(lin=512, lout=512, requests=4), XpuSystem(XpuSystemConfig(devices=1)))


# ====================================================================== 4. routing
def test_uniform_routing_statistics():
    T, E, k, layers, steps = 64, 8, 2, 4, 2000
    r = Router(E, k, layers, seed=3)
    c = r.counts_many(T, steps)
    assert c.shape == (steps, layers, E)
    assert (c.sum(axis=2) == T * k).all()
    assert c.min() >= 0 and c.max() <= T
    p = k / E
    x = c.reshape(-1, E).astype(float)  # 8000 samples per expert
    # the mean count is T*k/E = 16; its standard error is sqrt(12 / 8000) ~ 0.04: allow 0.2
    assert np.allclose(x.mean(axis=0), T * p, atol=0.2)
    # each token includes an expert with probability k/E, independently across tokens:
    # Binomial(T, k/E), variance T p (1-p) = 12; the sample variance over 8000 draws has a
    # relative standard error ~ sqrt(2/8000) = 1.6 %: allow 8 %
    assert np.allclose(x.var(axis=0, ddof=1), T * p * (1 - p), rtol=0.08)
    # top_k distinct experts per token: with one token every count is 0 or 1
    one = r.counts_many(1, 500)
    assert one.max() == 1 and (one.sum(axis=2) == k).all()


def test_counts_many_is_the_counts_stream():
    a, b = Router(8, 2, 3, seed=11), Router(8, 2, 3, seed=11)
    many = a.counts_many(40, 5)
    single = np.stack([b.counts(40) for _ in range(5)])
    np.testing.assert_array_equal(many, single)
    assert not np.array_equal(Router(8, 2, 3, seed=12).counts_many(40, 5), many)


def _plackett_luce_inclusion(p: np.ndarray) -> np.ndarray:
    """P(expert e among the top 2 drawn without replacement in proportion to p)."""
    return np.array([p[e] + sum(p[j] * p[e] / (1 - p[j]) for j in range(p.size) if j != e)
                     for e in range(p.size)])


def test_zipf_routing_follows_popularity():
    E, k, s = 8, 2, 1.0
    r = Router(E, k, 2, policy="zipf", zipf_s=s, seed=5)
    base = 1.0 / np.arange(1, E + 1) ** s
    for lay in range(2):  # each layer: the Zipf probabilities in some order
        np.testing.assert_allclose(np.sort(r.probs[lay]), np.sort(base / base.sum()))
    T, steps = 256, 200
    c = r.counts_many(T, steps)
    assert (c.sum(axis=2) == T * k).all() and c.max() <= T
    freq = c.sum(axis=0) / (T * steps)  # [layers, experts], per token
    for lay in range(2):
        p = r.probs[lay]
        order = np.argsort(-p)
        assert freq[lay, order[0]] > freq[lay, order[-1]]
        # ordered by popularity (adjacent inclusion gaps are >= 6 standard errors here)
        assert np.all(np.diff(freq[lay, order]) < 0)
        np.testing.assert_allclose(freq[lay], _plackett_luce_inclusion(p), rtol=0.03)


def test_trace_routing_from_csv(tmp_path):
    path = tmp_path / "routing.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["layer", "expert", "weight"])
        w.writerows([[0, 0, 1.0], [0, 3, 3.0], [1, 1, 2.0], [1, 2, 2.0]])
    r = Router(4, 1, 3, policy="trace", trace_path=str(path), seed=0)
    np.testing.assert_allclose(r.probs[0], [0.25, 0, 0, 0.75])
    np.testing.assert_allclose(r.probs[1], [0, 0.5, 0.5, 0])
    # layer 2 is absent: the mean profile of the layers present
    np.testing.assert_allclose(r.probs[2], [0.125, 0.25, 0.25, 0.375])
    T, steps = 100, 100
    c = r.counts_many(T, steps)
    assert (c.sum(axis=2) == T).all()
    assert c[:, 0, 1].sum() == 0 and c[:, 0, 2].sum() == 0  # weight 0: never picked
    assert c[:, 1, 0].sum() == 0 and c[:, 1, 3].sum() == 0
    share = c[:, 0, 3].sum() / (T * steps)
    assert share == pytest.approx(0.75, abs=0.02)  # 10,000 draws: SE 0.004


def test_trace_routing_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("layer,expert,weight\n0,9,1\n")
    with pytest.raises(ConfigError, match="out of range"):
        Router(4, 1, 2, policy="trace", trace_path=str(bad))
    with pytest.raises(ConfigError, match="routing_trace"):
        Router(4, 1, 2, policy="trace", trace_path=None)


def test_multinomial_routing_path_keeps_rows_exact():
    T, E, k, layers, steps = 1000, 8, 2, 4, 200
    r = Router(E, k, layers, seed=9, exact_tokens=64)
    c = r.counts_many(T, steps)
    assert (c.sum(axis=2) == T * k).all() and c.max() <= T and c.min() >= 0
    mean = c.reshape(-1, E).mean(axis=0)
    np.testing.assert_allclose(mean, T * k / E, rtol=0.02)  # SE ~0.05 % of 250
    # skewed: the top expert's inclusion is close to 1, so draws exceed T and are clipped
    z = Router(4, 3, 2, policy="zipf", zipf_s=3.0, seed=1, exact_tokens=16)
    cz = z.counts_many(500, 50)
    assert (cz.sum(axis=2) == 500 * 3).all() and cz.max() <= 500
    np.testing.assert_allclose(cz.mean(axis=0) / 500, z.inclusion(), atol=0.03)


def test_router_rejects_top_k_above_experts():
    with pytest.raises(ConfigError, match="top_k"):
        Router(8, 9, 1)


# ====================================================================== 5. placement
@pytest.mark.parametrize(("cls", "bw_x", "opb"), [
    (LogicPimSystem, 4.0, 8.0), (DuplexSystem, 4.0, 8.0), (BankGroupPimSystem, 4.0, 8.0),
    (BankPimSystem, 16.0, 1.0)])
def test_default_threshold_is_roofline_crossover(cls, bw_x, opb):
    dev = cls()
    hand = H100_BW * bw_x * opb * 1.0 / (H100_BW * 0.75)  # F_pim / B_xpu at the defaults
    assert dev.threshold() == pytest.approx(hand, rel=1e-12)
    assert dev.threshold() == pytest.approx(dev.pim_unit().flops / dev.xpu_unit().bandwidth,
                                            rel=1e-12)


def test_unit_ridges():
    x = XpuSystem(XpuSystemConfig(compute_efficiency=1.0, memory_efficiency=1.0)).xpu_unit()
    assert x.ridge == pytest.approx(989.4 / 3.352, rel=1e-12)
    assert x.ridge == pytest.approx(295, rel=0.001)
    ideal = dict(pim_compute_efficiency=1.0, pim_memory_efficiency=1.0)
    logic = LogicPimSystem(PimSystemConfig(**ideal)).pim_unit()
    assert logic.ridge == pytest.approx(8.0, rel=1e-12)
    assert logic.bandwidth == pytest.approx(13.408e12, rel=1e-12)  # 13.4 TB/s
    assert logic.flops == pytest.approx(107.264e12, rel=1e-12)  # ~107 TFLOPS
    bank = BankPimSystem(PimSystemConfig(**ideal)).pim_unit()
    assert bank.ridge == pytest.approx(1.0, rel=1e-12)
    assert bank.bandwidth == pytest.approx(53.632e12, rel=1e-12)
    # refresh takes 9 % of the PIM bandwidth by default: the ridge rises to 8 / 0.91
    assert LogicPimSystem().pim_unit().ridge == pytest.approx(8 / 0.91, rel=1e-12)


@pytest.mark.parametrize("cls", [DuplexSystem, LogicPimSystem, BankPimSystem])
def test_placement_at_the_threshold(cls):
    dev = cls()
    thr = dev.threshold()
    b = np.array([1e6, 1e6, 1e6])
    f = b * thr * np.array([1 - 1e-6, 1 + 1e-6, 1 - 1e-6])
    on_pim, t, e = dev.run_rows(f, b, np.array([True, True, False]))
    assert on_pim.tolist() == [True, False, False]
    x, p = dev.xpu_unit(), dev.pim_unit()
    np.testing.assert_allclose(t, [p.time(f[0], b[0]), x.time(f[1], b[1]), x.time(f[2], b[2])],
                               rtol=1e-12)
    np.testing.assert_allclose(e, [p.energy(f[0], b[0]), x.energy(f[1], b[1]),
                                   x.energy(f[2], b[2])], rtol=1e-12)
    # PIM energy per byte: its own data path (pJ/bit) plus row activations
    kind = cls.pim_kind
    hand = 1e6 * 8 * PIM_PJ_BIT[kind] * 1e-12 + 1e6 / 1024 * ACT_NJ_PER_KIB_ROW * 1e-9 \
        + f[0] * PJ_PER_FLOP * 1e-12
    assert e[0] == pytest.approx(hand, rel=1e-12)


@pytest.mark.parametrize("cls", [DuplexSystem, LogicPimSystem, BankPimSystem])
def test_placement_xpu_keeps_everything_on_the_xpu(cls):
    dev = cls(cls.Config(placement="xpu"))
    assert dev.threshold() == 0.0
    b = np.full(3, 1e6)
    on_pim, t, _ = dev.run_rows(b * 1e-3, b, np.ones(3, dtype=bool))
    assert not on_pim.any()
    np.testing.assert_allclose(t, dev.xpu_unit().time(b * 1e-3, b))
    rep = dev.evaluate(iteration_trace("mixtral_8x7b", decode_kv=[512] * 32))
    assert rep.columns["on_pim"].sum() == 0 and rep.summary()["pim_s"] == 0


def test_explicit_threshold_is_used():
    dev = DuplexSystem(DuplexSystem.Config(opb_threshold=5.0))
    assert dev.threshold() == 5.0
    on_pim, _, _ = dev.run_rows(np.array([4.9e6, 5.1e6]), np.array([1e6, 1e6]),
                                np.array([True, True]))
    assert on_pim.tolist() == [True, False]


def test_decode_attention_goes_to_pim_prefill_attention_stays():
    rep = DuplexSystem().evaluate(iteration_trace("mixtral_8x7b", decode_kv=[1024] * 8,
                                                  prefill=[512]))
    placed = dict(zip(rep.names, rep.columns["on_pim"], strict=True))
    # decode Op/B ~ 4 < 42.7; prefill score Op/B = g p keys / (g p + keys) = 4*512*257 /
    # (2048 + 257) ~ 228 > 42.7; projections never offload
    assert placed["blocks.attn_score.decode.L1024"] == 1
    assert placed["blocks.attn_context.decode.L1024"] == 1
    assert placed["blocks.attn_score.prefill.P512"] == 0
    assert placed["blocks.attn_context.prefill.P512"] == 0
    assert placed["blocks.qkv"] == 0 and placed["lm_head"] == 0
    assert rep.columns["on_pim"].sum() == 2


# ====================================================================== 6. hand-computed step
def _tiny_rows():
    """(kind, FLOPs, weight bytes, activation bytes, instances) of each row of one decode step
    of the tiny model with 2 requests of KV length 16 (rows of accel_sim/llm/_ops.py; FP16;
    attention fused: the score matrix never reaches DRAM)."""
    T, L, g, d, kvh, h, ffn, V, q = 2, 16, 2, 64, 2, 256, 512, 1000, 4 * 64
    kv = 2 * 2 * 64  # K and V projection widths
    return [
        ("vec", 5 * T * h, 0, FP16 * (T * h + T * h), 2),  # attn_norm: 5 FLOP per element
        ("dense", 2 * T * (q + kv) * h, FP16 * h * (q + kv), FP16 * (T * h + T * (q + kv)), 2),
        ("attn", 2 * kvh * 2 * g * L * d, 0, FP16 * kvh * 2 * (g * d + L * d), 2),  # Q, K
        ("attn", 2 * kvh * 2 * g * d * L, 0, FP16 * kvh * 2 * (L * d + g * d), 2),  # V, O
        ("dense", 2 * T * h * q, FP16 * q * h, FP16 * (T * q + T * h), 2),  # attn_out
        ("vec", T * h, 0, FP16 * (T * h + T * h), 4),  # residual adds, 2 per block
        ("vec", 5 * T * h, 0, FP16 * (T * h + T * h), 2),  # ffn_norm
        ("dense", 2 * T * 2 * ffn * h, FP16 * h * 2 * ffn, FP16 * (T * h + T * 2 * ffn), 2),
        ("split", T * ffn, 0, FP16 * (T * ffn + T * ffn), 2),  # activation (of ffn_up's part)
        ("dense", 2 * T * h * ffn, FP16 * ffn * h, FP16 * (T * ffn + T * h), 2),  # down
        ("vec", 5 * T * h, 0, FP16 * (T * h + T * h), 1),  # final_norm
        ("dense", 2 * T * V * h, FP16 * h * V, FP16 * (T * h + T * V), 1),  # lm_head
    ]


def _xpu_energy(f, b):
    return b * 8 * XPU_PJ_BIT * 1e-12 + b / 1024 * ACT_NJ_PER_KIB_ROW * 1e-9 \
        + f * PJ_PER_FLOP * 1e-12


def _tiny_single_device():
    """Hand latency and energy of the tiny decode step on one ideal H100 (no overhead)."""
    rows = _tiny_rows()
    lat = sum(n * max(f / H100_FLOPS, (w + a) / H100_BW) for _, f, w, a, n in rows)
    energy = sum(n * _xpu_energy(f, w + a) for _, f, w, a, n in rows)
    return lat, energy


@pytest.mark.parametrize("overhead_us", [0.0, 3.0])
def test_tiny_decode_step_by_hand(overhead_us):
    m = _tiny()
    dev = _ideal_xpu(op_overhead_us=overhead_us)
    rows = _tiny_rows()
    instances = sum(r[-1] for r in rows)
    assert instances == 24
    latency, energy = _tiny_single_device()
    latency += instances * overhead_us * 1e-6
    trace = iteration_trace(m, decode_kv=[16, 16])
    assert len(trace) == len(rows)
    assert trace.flops == sum(n * f for _, f, _, _, n in rows)
    s = dev.evaluate(trace).summary()
    assert s["latency_s"] == pytest.approx(latency, rel=1e-9)
    assert s["energy_j"] == pytest.approx(energy, rel=1e-9)
    lat, en, pim = StepModel(m, dev, None).steps(2, np.array([32.0]))
    assert lat[0] == pytest.approx(latency, rel=1e-9)
    assert en[0] == pytest.approx(energy, rel=1e-9)
    assert pim[0] == 0


def test_tiny_step_static_power_is_idle_watts_times_latency():
    m = _tiny()
    on = _ideal_xpu(static_power=True)
    off = _ideal_xpu()
    tr = iteration_trace(m, decode_kv=[16, 16])
    a, b = on.evaluate(tr), off.evaluate(tr)
    assert a.latency_s == b.latency_s
    assert a.energy_j - b.energy_j == pytest.approx(90.0 * a.latency_s, rel=1e-9)  # H100 idle


def test_tiny_tensor_parallel_step_by_hand():
    """2 devices, tp = gcd(2, 8) = 2: GEMM FLOPs and weights halve (Megatron), activations of
    GEMMs are split over the stage, attention over min(tp, kv_heads) = 2, vector ops are
    replicated except the FFN activation, which works on ffn_up's column-parallel output (each
    device holds half of it); an NVLink ring all-reduce follows attn_out and ffn_down."""
    m = _tiny()
    dev = _ideal_xpu(devices=2)
    lay = dev.layout()
    assert (lay.tp, lay.dp, lay.stage, lay.stages) == (2, 1, 2, 1)
    lat = energy = 0.0
    for kind, f, w, a, n in _tiny_rows():
        if kind == "dense":
            f_d, b_d = f / 2, w / 2 + a / 2
        elif kind in ("attn", "split"):
            f_d, b_d = f / 2, a / 2
        else:
            f_d, b_d = f, a
        lat += n * max(f_d / H100_FLOPS, b_d / H100_BW)
        energy += 2 * n * _xpu_energy(f_d, b_d)  # both devices
    out = 2 * 256 * FP16  # output of attn_out / ffn_down: T x hidden
    ring = 2 * (2 - 1) * (0.8e-6 + out / 2 / 450e9)  # NVLink 450 GB/s, 0.8 us per step
    lat += 2 * 2 * ring  # two row-parallel GEMMs in each of 2 blocks
    s = dev.evaluate(iteration_trace(m, decode_kv=[16, 16])).summary()
    assert s["latency_s"] == pytest.approx(lat, rel=1e-9)
    assert s["energy_j"] == pytest.approx(energy, rel=1e-9)
    assert s["comm_s"] == pytest.approx(4 * ring, rel=1e-9)
    step = StepModel(m, dev, None).steps(2, np.array([32.0]))
    assert step.latency_s[0] == pytest.approx(lat, rel=1e-9)


def test_tiny_pipeline_step_by_hand():
    """pp = 2 stages of one device, M = 2 micro-batches: (M + K - 1) / K x the per-micro-batch
    layer times, plus M + K - 1 stage-to-stage transfers; each micro-batch re-reads weights."""
    m = _tiny()
    dev = _ideal_xpu(devices=2, pp=2, microbatches=2)
    # 4 decode requests in 2 micro-batches: each micro-batch is the 2-request step
    per_mb_lat, per_mb_energy = _tiny_single_device()
    xfer = 0.8e-6 + 2 * 256 * FP16 / 450e9  # 2 tokens x hidden over NVLink
    lat = (2 + 2 - 1) / 2 * per_mb_lat + (2 + 2 - 1) * xfer
    s = dev.evaluate(iteration_trace(m, decode_kv=[16] * 4)).summary()
    assert s["latency_s"] == pytest.approx(lat, rel=1e-9)
    assert s["energy_j"] == pytest.approx(2 * per_mb_energy, rel=1e-9)
    assert s["pipeline_bubble"] == pytest.approx(1 / 3, rel=1e-12)
    step = StepModel(m, dev, None).steps(4, np.array([64.0]))
    assert step.latency_s[0] == pytest.approx(lat, rel=1e-9)
    assert step.energy_j[0] == pytest.approx(2 * per_mb_energy, rel=1e-9)


def test_collective_times_by_hand():
    dev = XpuSystem()
    assert dev.allreduce_time(1e6, 4) == pytest.approx(2 * 3 * (0.8e-6 + 1e6 / 4 / 450e9))
    assert dev.allreduce_time(1e6, 16) == pytest.approx(2 * 15 * (0.13e-6 + 1e6 / 16 / 50e9))
    assert dev.allreduce_time(1e6, 1) == 0
    lay = dev.layout(8)  # 4 devices, experts spread over them
    assert (lay.ep, lay.expert_tp) == (4, 1)
    vol = 64 * 2 * 4096 * 2.0  # 64 tokens x top-2 x hidden x FP16
    hand = 2 * (0.8e-6 + vol / 4 * (3 / 4) / 450e9)  # dispatch + combine, 3/4 off-device
    assert dev.alltoall_time(64, 4096, 2, 2.0, lay) == pytest.approx(hand, rel=1e-12)


def test_prefill_attention_is_causal():
    m = get_model("mixtral_8x7b")
    tr = iteration_trace(m, prefill=[5])
    score = next(lay for lay in tr if lay.name == "blocks.attn_score.prefill.P5")
    # query i attends i + 1 keys: mean (1 + ... + 5) / 5 = 3
    assert (score.m, score.n, score.k) == (4 * 5, 3, 128)
    assert score.flops == 2 * 32 * 8 * (4 * 5) * 3 * 128  # blocks x KV heads x GEMM


def test_iteration_trace_rejects_bad_inputs():
    m = get_model("mixtral_8x7b")
    with pytest.raises(ConfigError, match="empty iteration"):
        iteration_trace(m)
    with pytest.raises(ConfigError, match="decode_kv"):
        iteration_trace(m, decode_kv=[0])
    bad = balanced_counts(m, 4)
    bad[0, 0] += 1
    with pytest.raises(ConfigError, match="expert_counts"):
        iteration_trace(m, decode_kv=[10] * 4, expert_counts=bad)
    with pytest.raises(ConfigError, match="expert_counts"):
        iteration_trace(m, decode_kv=[10] * 4, expert_counts=np.zeros((2, 8), dtype=int))
    assert balanced_counts(m, 3).tolist()[0] == [1, 1, 1, 1, 1, 1, 0, 0]  # 6 picks


# ====================================================================== 7. consistency
LAYOUTS = {"4dev": dict(devices=4), "pp2_mb4_8dev": dict(devices=8, pp=2, microbatches=4)}
ITERATIONS = {"decode": ([700] * 24, ()), "decode+prefill": ([700] * 24, (256,)),
              "prefills": ([300] * 8, (128, 128, 64))}


@pytest.mark.parametrize("cls", [XpuSystem, DuplexSystem, BankPimSystem])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("it", list(ITERATIONS))
def test_step_model_equals_evaluate(cls, layout, it):
    m = get_model("mixtral_8x7b")
    dev = cls(cls.Config(**LAYOUTS[layout]))
    router = Router(m.experts, m.top_k, m.moe_layers, seed=0)
    _balanced_router(router, m)
    dec, pre = ITERATIONS[it]
    lat, en, pim = StepModel(m, dev, router).steps(len(dec), np.array([float(sum(dec))]), pre)
    rep = dev.evaluate(iteration_trace(m, decode_kv=dec, prefill=pre))
    assert lat[0] == pytest.approx(rep.latency_s, rel=1e-9)
    assert en[0] == pytest.approx(rep.energy_j, rel=1e-9)
    assert pim[0] == pytest.approx(rep.summary()["pim_s"], rel=1e-9, abs=1e-15)
    if cls is XpuSystem:
        assert pim[0] == 0
    else:
        assert pim[0] > 0  # decode attention (Op/B ~ 4) runs on PIM


def test_step_model_equals_evaluate_for_skewed_counts():
    """The same explicit expert counts through both paths. Expert e lives on device e % ep, so
    with two hot experts (0 and 4) device 0 holds both; the trace passed to evaluate must keep
    that (expert_counts is indexed by expert)."""
    m = get_model("mixtral_8x7b")
    dev = XpuSystem()
    counts = np.tile(np.array([30, 2, 2, 2, 30, 2, 2, 2]), (m.moe_layers, 1))  # 36 tokens x 2
    router = Router(m.experts, m.top_k, m.moe_layers, seed=0)
    router.counts_many = lambda tokens, steps: np.stack([counts] * steps)  # type: ignore
    lat, _, _ = StepModel(m, dev, router).steps(36, np.array([36 * 100.0]))
    rep = dev.evaluate(iteration_trace(m, decode_kv=[100] * 36, expert_counts=counts))
    assert lat[0] == pytest.approx(rep.latency_s, rel=1e-9)


def test_step_model_vectorised_over_steps():
    m = get_model("mixtral_8x7b")
    dev = DuplexSystem()
    router = Router(m.experts, m.top_k, m.moe_layers, seed=0)
    _balanced_router(router, m)
    sm = StepModel(m, dev, router)
    kv = np.array([16 * 300.0, 16 * 301.0, 16 * 302.0])
    lat, en, _ = sm.steps(16, kv)
    for i, L in enumerate((300, 301, 302)):
        rep = dev.evaluate(iteration_trace(m, decode_kv=[L] * 16))
        assert lat[i] == pytest.approx(rep.latency_s, rel=1e-9)
        assert en[i] == pytest.approx(rep.energy_j, rel=1e-9)
    assert lat[0] < lat[1] < lat[2]  # longer KV, more attention traffic


# ====================================================================== 8. co-processing
@pytest.mark.parametrize(("dec", "pre"), [([512] * 32, ()), ([512] * 32, (512,)),
                                          ([2048] * 128, ()), ([1024] * 64, (256, 1024)),
                                          ([64] * 4, (2048,))])
def test_duplex_never_slower_than_logic_pim(dec, pre):
    tr = iteration_trace("mixtral_8x7b", decode_kv=dec, prefill=pre)
    d = DuplexSystem().evaluate(tr).latency_s
    lp = LogicPimSystem().evaluate(tr).latency_s
    assert d <= lp * (1 + 1e-12)
    if pre:  # decode attention on PIM overlaps prefill attention on the xPU
        assert d < lp


def _expert_time(c, unit, ovh):
    """Mixtral expert with c tokens on one unit: up (gate+up) then down, roofline each."""
    up = (2.0 * 28672 * 4096 * c, FP16 * (28672 * 4096 + c * (4096 + 28672)))
    down = (2.0 * 4096 * 14336 * c, FP16 * (4096 * 14336 + c * (14336 + 4096)))
    return sum(max(f / unit[0], b / unit[1]) + ovh for f, b in (up, down))


def test_expert_split_beats_placement_on_skewed_counts():
    m = get_model("mixtral_8x7b")
    duplex, logic = DuplexSystem(), LogicPimSystem()
    lay = duplex.layout(m.experts)
    assert lay.ep == 4 and lay.expert_tp == 1  # expert e on device e % 4
    counts = np.array([[500, 420, 300, 260, 20, 12, 8, 4]])  # hot experts (a prefill)
    ops = np.array([[2.0 * 28672 * 4096, 28672 * 4096 * 2.0, (4096 + 28672) * 2.0],
                    [2.0 * 4096 * 14336, 4096 * 14336 * 2.0, (14336 + 4096) * 2.0]])
    t_split, _ = duplex.moe_times(counts, ops, lay)
    t_place, _ = logic.moe_times(counts, ops, lay)
    x = (H100_FLOPS * 0.7, H100_BW * 0.75)  # default efficiencies
    p = (H100_BW * 4 * 8, H100_BW * 4 * 0.91)
    thr = H100_BW * 4 * 8 / (H100_BW * 0.75)
    place, split = 0.0, 0.0
    for g in range(4):  # device g holds experts g (hot) and g + 4 (cold)
        hot, cold = counts[0, g], counts[0, g + 4]
        tx = {c: _expert_time(c, x, 2e-6) for c in (hot, cold)}
        tp = {c: _expert_time(c, p, 1e-6) for c in (hot, cold)}
        opb = {c: c * 2 * 176160768 / (2 * 176160768 + c * 2 * 51200) for c in (hot, cold)}
        place = max(place, sum(tp[c] if opb[c] < thr else tx[c] for c in (hot, cold)))
        split = max(split, min(tp[hot] + tp[cold], max(tx[hot], tp[cold]), tx[hot] + tx[cold]))
    assert t_place[0] == pytest.approx(place, rel=1e-9)
    assert t_split[0] == pytest.approx(split, rel=1e-9)
    assert t_split[0] < t_place[0]
    # balanced decode counts on an xPU-only system: all experts in sequence on the xPU
    xs = XpuSystem()
    t_x, work = xs.moe_times(np.array([[8] * 8]), ops, lay)
    assert t_x[0] == pytest.approx(2 * _expert_time(8, x, 2e-6), rel=1e-9)
    assert work[0, 2] == 0 and work[0, 3] == 0


# ====================================================================== 9. serving
CLOSED = dict(batch=16, lin=64, lout=32, requests=48, seed=1)


@pytest.fixture(scope="module")
def closed_loop():
    return serve(ServeConfig(**CLOSED), "duplex")


def _poisson(seed, prefill="mixed"):
    return serve(ServeConfig(batch=32, lin=256, lout=128, requests=200, rate=40.0, seed=seed,
                             prefill=prefill), "duplex")


def test_serve_is_deterministic(closed_loop):
    again = serve(ServeConfig(**CLOSED), "duplex")
    assert dict(again.summary) == dict(closed_loop.summary)
    for k in REQUEST_COLUMNS:
        np.testing.assert_array_equal(again.requests[k], closed_loop.requests[k])


def test_poisson_seed_changes_arrivals():
    a, b, c = _poisson(0), _poisson(0), _poisson(1)
    np.testing.assert_array_equal(a.requests["arrival_s"], b.requests["arrival_s"])
    assert dict(a.summary) == dict(b.summary)
    assert not np.array_equal(a.requests["arrival_s"], c.requests["arrival_s"])
    # mean inter-arrival 1/rate = 25 ms: 200 arrivals end near 5 s (SE ~ 0.35 s)
    assert a.requests["arrival_s"].max() == pytest.approx(200 / 40.0, rel=0.25)
    assert np.all(np.diff(a.requests["arrival_s"]) >= 0)


def test_closed_loop_metrics(closed_loop):
    s, r, its = closed_loop.summary, closed_loop.requests, closed_loop.iterations
    tokens = CLOSED["requests"] * CLOSED["lout"]
    assert s["output_tokens"] == tokens
    assert s["mode"] == "closed_loop" and s["batch_cap"] == CLOSED["batch"]
    makespan = float(r["finish_s"].max()) - float(r["arrival_s"].min())
    assert s["makespan_s"] == pytest.approx(makespan, rel=1e-12)
    assert s["throughput_tok_s"] == pytest.approx(tokens / makespan, rel=1e-12)
    # a closed loop never idles: the makespan is the sum of the iteration latencies
    assert its["latency_s"].sum() == pytest.approx(makespan, rel=1e-9)
    assert s["idle_s"] == 0
    assert np.all(r["first_token_s"] >= r["arrival_s"])
    assert np.all(r["finish_s"] >= r["first_token_s"])
    assert np.all(r["ttft_s"] == r["first_token_s"] - r["arrival_s"])
    assert np.all(r["arrival_s"][: CLOSED["batch"]] == 0.0)
    # every request makes lout tokens: lout - 1 gaps after the first
    np.testing.assert_allclose(r["tbt_mean_s"], (r["finish_s"] - r["first_token_s"])
                               / (CLOSED["lout"] - 1), rtol=1e-12)
    assert np.all(r["tbt_max_s"] >= r["tbt_mean_s"] * (1 - 1e-12))
    assert its["decode"].max() <= CLOSED["batch"]


def test_closed_loop_first_wave_ttft_is_first_iteration(closed_loop):
    m = get_model("mixtral_8x7b")
    r, its = closed_loop.requests, closed_loop.iterations
    first = float(its["latency_s"][0])
    wave = r["ttft_s"][: CLOSED["batch"]]
    np.testing.assert_allclose(wave, first, rtol=1e-12)
    assert its["decode"][0] == 0 and its["prefill_tokens"][0] == CLOSED["batch"] * CLOSED["lin"]
    # the same iteration costed independently: prompts only, the router's first draw
    router = Router(m.experts, m.top_k, m.moe_layers, seed=CLOSED["seed"])
    lat, _, _ = StepModel(m, DuplexSystem(), router).steps(
        0, np.array([0.0]), (CLOSED["lin"],) * CLOSED["batch"])
    assert first == pytest.approx(float(lat[0]), rel=1e-12)
    # later requests wait for a slot: their TTFT is longer
    assert r["ttft_s"][CLOSED["batch"]:].min() > first


def test_poisson_requests_are_causal():
    res = _poisson(2)
    r = res.requests
    assert np.all(r["first_token_s"] >= r["arrival_s"])
    assert np.all(r["finish_s"] >= r["first_token_s"])
    assert res.summary["mode"] == "poisson"
    assert res.summary["throughput_tok_s"] == pytest.approx(
        200 * 128 / (r["finish_s"].max() - r["arrival_s"].min()), rel=1e-12)


def test_token_and_gap_accounting():
    for res, n, lin, lout in ((_poisson(3), 200, 256, 128),
                              (_poisson(3, prefill="separate"), 200, 256, 128)):
        s, r, its = res.summary, res.requests, res.iterations
        assert its["decode"].sum() == n * (lout - 1)  # every token after the first
        assert its["prefill_tokens"].sum() == n * lin
        # TBT mean over all gaps = total decode span / gaps
        gaps = (r["finish_s"] - r["first_token_s"]).sum() / (n * (lout - 1))
        assert s["tbt_mean_s"] == pytest.approx(gaps, rel=1e-9)
        assert s["tbt_p50_s"] <= s["tbt_p99_s"] <= np.max(r["tbt_max_s"]) * (1 + 1e-12)
        starts, lat = its["start_s"], its["latency_s"]
        assert np.all(starts[1:] >= starts[:-1] + lat[:-1] - 1e-9)  # one iteration at a time


def test_sparse_poisson_throughput_window():
    """At 0.5 req/s the server idles between requests: throughput still counts from the first
    arrival to the last finish, not the busy time."""
    res = serve(ServeConfig(batch=8, lin=64, lout=16, requests=6, rate=0.5, seed=4), "duplex")
    s, r, its = res.summary, res.requests, res.iterations
    window = r["finish_s"].max() - r["arrival_s"].min()
    assert s["throughput_tok_s"] == pytest.approx(6 * 16 / window, rel=1e-12)
    assert its["latency_s"].sum() < 0.5 * window  # mostly idle
    assert s["idle_s"] > 0
    # a lone request is never queued: its first token comes one prefill iteration after arrival
    assert np.all(r["ttft_s"] <= its["latency_s"].max() * 2)


def test_poisson_idle_time_is_inside_the_makespan():
    """The idle power is charged over the same window as the makespan (first arrival to last
    finish): busy + idle time = makespan, and the static energy is at most the idle power of
    every device over the makespan."""
    res = serve(ServeConfig(batch=8, lin=64, lout=16, requests=6, rate=0.05, seed=0), "duplex")
    s, its = res.summary, res.iterations
    assert res.requests["arrival_s"].min() > 1.0  # the first request comes late
    assert its["latency_s"].sum() + s["idle_s"] == pytest.approx(s["makespan_s"], rel=1e-9)
    assert s["energy_static_j"] <= 4 * 90.0 * s["makespan_s"] * (1 + 1e-9)


def test_serve_writes_files(closed_loop, tmp_path):
    paths = closed_loop.write(tmp_path / "out")
    with open(paths["requests"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == REQUEST_COLUMNS
    assert len(rows) == 1 + CLOSED["requests"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for key in ("throughput_tok_s", "ttft_p50_s", "tbt_p50_s", "tbt_p99_s", "e2e_p50_s",
                "energy_per_token_j"):
        assert math.isfinite(summary[key]) and summary[key] > 0, key
    assert summary["energy_per_token_j"] == pytest.approx(
        summary["energy_j"] / (CLOSED["requests"] * CLOSED["lout"]), rel=1e-12)
    assert summary["tbt_p99_s"] >= summary["tbt_p50_s"]
    assert float(rows[1][REQUEST_COLUMNS.index("finish_s")]) == pytest.approx(
        closed_loop.requests["finish_s"][0], rel=1e-8)


def test_separate_prefill_raises_tail_tbt():
    mixed, sep = _poisson(0), _poisson(0, prefill="separate")
    np.testing.assert_array_equal(mixed.requests["arrival_s"], sep.requests["arrival_s"])
    # separate: a running request waits through whole prefill iterations, then decodes
    assert sep.summary["tbt_p99_s"] > mixed.summary["tbt_p99_s"]
    # no decode ever rides along a prefill iteration in separate mode
    its = sep.iterations
    assert np.all(its["decode"][its["prefill_tokens"] > 0] == 0)
    assert np.any(mixed.iterations["decode"][mixed.iterations["prefill_tokens"] > 0] > 0)


def test_serve_dense_model_and_custom_model():
    res = serve(ServeConfig(batch=4, lin=32, lout=8, requests=8), _ideal_xpu(),
                model=_tiny())
    assert res.summary["model"] == "tiny"
    assert res.summary["output_tokens"] == 8 * 8
    # first wave: one prefill iteration of 4 prompts of 32 tokens, with nothing else running
    lat, _, _ = StepModel(_tiny(), _ideal_xpu(), None).steps(0, np.array([0.0]), (32,) * 4)
    np.testing.assert_allclose(res.requests["ttft_s"][:4], lat[0], rtol=1e-12)


def test_serve_rejects_non_llm_device():
    with pytest.raises(ConfigError, match="not an LLM serving system"):
        serve(ServeConfig(requests=2), "gpu")


# ====================================================================== 10. contract
class TestXpuContract(DeviceContract):
    device_class = XpuSystem


class TestLogicPimContract(DeviceContract):
    device_class = LogicPimSystem


class TestBankGroupPimContract(DeviceContract):
    device_class = BankGroupPimSystem


class TestBankPimContract(DeviceContract):
    device_class = BankPimSystem


class TestDuplexContract(DeviceContract):
    device_class = DuplexSystem

    def configs(self):
        return [DuplexSystem.Config(), DuplexSystem.Config(devices=8, pp=2, microbatches=4),
                DuplexSystem.Config(placement="xpu")]


class TestXpuServing(ServingSystemContract):
    device_class = XpuSystem


class TestLogicPimServing(ServingSystemContract):
    device_class = LogicPimSystem


class TestBankGroupPimServing(ServingSystemContract):
    device_class = BankGroupPimSystem


class TestBankPimServing(ServingSystemContract):
    device_class = BankPimSystem


class TestDuplexServing(ServingSystemContract):
    device_class = DuplexSystem

    def device(self):
        return DuplexSystem(DuplexSystem.Config(devices=8, pp=2, microbatches=4))


def test_all_llm_systems_are_llm_systems():
    for cls in LLM_SYSTEMS:
        assert issubclass(cls, LlmSystem)
    assert {c.name for c in LLM_SYSTEMS} == {"xpu", "logic_pim", "bankgroup_pim", "bank_pim",
                                             "duplex"}


# ====================================================================== 11-12. CLI
def _cli(tmp_path, *args):
    return main(["serve", *args, "-o", str(tmp_path / "out")])


@pytest.mark.parametrize(("args", "needle"), [
    (["-m", "nosuch", "-d", "duplex"], "model"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--devices", "0"], "devices"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--rate", "-1"], "rate"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--lin", "-1"], "lin"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--lout", "-5"], "lout"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--requests", "0"], "requests"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "-s", "tp=3"], "tp"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--devices", "6", "-s", "tp=4"], "tp"),
    (["-m", "mixtral_8x7b", "-d", "gpu"], "gpu"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--devices", "1"], "devices"),
    (["-m", "mixtral_8x7b", "-d", "duplex", "--routing", "trace"], "routing_trace"),
])
def test_cli_serve_user_errors(tmp_path, capsys, args, needle):
    assert _cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("accel-sim: error:")
    assert needle in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_cli_serve_batch_too_large(tmp_path, capsys):
    fit = _mixtral_fit(32768 + 32768, devices=4, tp=4, dp=1, stage=4)
    assert _cli(tmp_path, "-m", "mixtral_8x7b", "-d", "duplex", "--lin", "32768", "--lout",
                "32768", "--batch", str(fit + 1)) == 2
    err = capsys.readouterr().err
    assert "batch" in err and f"at most {fit}" in err


def test_cli_serve_writes_outputs(tmp_path, capsys):
    rc = _cli(tmp_path, "-m", "mixtral_8x7b", "-d", "duplex", "--batch", "8", "--lin", "64",
              "--lout", "16", "--requests", "20", "--seed", "3")
    assert rc == 0
    out = capsys.readouterr().out
    assert "throughput" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["requests"] == 20 and summary["batch_cap"] == 8
    assert summary["device"] == "duplex" and summary["devices"] == 4
    assert summary["output_tokens"] == 20 * 16
    with open(tmp_path / "out" / "requests.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == REQUEST_COLUMNS and len(rows) == 21
    # the same scenario through the API gives the same summary
    api = serve(ServeConfig(batch=8, lin=64, lout=16, requests=20, seed=3), "duplex")
    assert summary["throughput_tok_s"] == pytest.approx(api.summary["throughput_tok_s"],
                                                        rel=1e-12)


def test_cli_serve_device_parameters(tmp_path, capsys):
    rc = _cli(tmp_path, "-m", "llama3_70b", "-d", "xpu", "--devices", "8", "-s", "tp=4",
              "--batch", "4", "--lin", "32", "--lout", "4", "--requests", "4")
    assert rc == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["devices"] == 8 and summary["model"] == "llama3_70b"
    assert _cli(tmp_path, "-m", "llama3_70b", "-d", "xpu", "--devices", "8", "-s",
                "devices=8") == 2
    assert "once" in capsys.readouterr().err
