"""Precision: who wins between the trace's bits and a device's own setting (docs/design.md,
"Precision: who wins").

* ``systolic`` takes its hardware word from the trace unless ``word_bytes`` is set.
* ``gpu`` takes the precision of every layer from the trace.
* ``analog`` (its ``input_bits``/``weight_bits``), ``amper`` (``priority_bits``) and the
  fixed-format devices (``sat``, ``learning_group``: FP16; ``per_gpu``/``per_cpu``: 8-byte
  nodes) ignore the trace's bits; the LLM systems take bytes from the trace and compute in
  FP16. The tests pin these documented behaviours.

Expected values are derived from the model's documented formulas (Horowitz energies, TPU v1 PE
area x word^2), not copied from our output.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel_sim import Layer, OpKind, Trace, make_device, simulate, training_trace
from accel_sim.devices import systolic as sysmod
from accel_sim.devices.systolic import SystolicArray, SystolicConfig, trace_word_bytes
from accel_sim.errors import WorkloadError
from workloads import load_workload, read_topology


def _assert_same(a, b) -> None:
    """Two reports are identical: every column, area, extras and violations."""
    assert a.columns.keys() == b.columns.keys()
    for key in a.columns:
        np.testing.assert_array_equal(a.columns[key], b.columns[key], err_msg=key)
    assert a.area_mm2 == b.area_mm2
    assert dict(a.extra) == dict(b.extra)
    assert dict(a.violations) == dict(b.violations)


# ---------------------------------------------------------------------- systolic
#: Multiply-accumulate energy by word size, pJ, from the source (Horowitz, ISSCC 2014, 45 nm):
#: multiply + 32-bit accumulate; int8 0.2 + 0.1, fp16 1.1 + 0.4, fp32 3.7 + 0.9.
HOROWITZ_MAC_PJ = {1: 0.2 + 0.1, 2: 1.1 + 0.4, 4: 3.7 + 0.9}


@pytest.fixture(scope="module")
def resnet_by_bits():
    return {b: load_workload(f"resnet50:bits={b}") for b in (8, 16, 32)}


def test_systolic_word_follows_the_trace(resnet_by_bits):
    reps = {b: simulate(tr, "systolic") for b, tr in resnet_by_bits.items()}
    words = {b: r.extra["word_bytes_used"] for b, r in reps.items()}
    assert words == {8: 1, 16: 2, 32: 4}
    cfg = SystolicConfig()
    srams = 3 * 64 / 1024 * cfg.sram_mm2_per_mib
    for b, r in reps.items():
        wb = b // 8
        # MAC energy: Horowitz by word size; PE area: TPU v1 PE x word^2
        assert r.energy_breakdown["mac"] == pytest.approx(r.macs * HOROWITZ_MAC_PJ[wb] * 1e-12)
        assert r.area_mm2 == pytest.approx(32 * 32 * cfg.pe_area_um2 * 1e-6 * wb**2 + srams)
    e = [reps[b].energy_j for b in (8, 16, 32)]
    assert e[0] < e[1] < e[2]
    for part in ("sram", "dram", "vector"):
        p = [reps[b].energy_breakdown[part] for b in (8, 16, 32)]
        assert p[0] < p[1] < p[2], part
    # compute timing does not depend on the word; stalls do (SRAMs hold fewer words)
    comp = [reps[b].columns["compute_cycles"].sum() for b in (8, 16, 32)]
    assert comp[0] == comp[1] == comp[2]
    stalls = [reps[b].columns["stall_cycles"].sum() for b in (8, 16, 32)]
    assert stalls[0] < stalls[1] < stalls[2]


def test_sram_capacity_is_counted_in_words_of_the_trace():
    # 3000 weight words fit the active half of an 8 kB filter SRAM at 1 B (4096 words), not
    # at 2 B (2048 words): the second needs refills (more DRAM reads) and is an estimate
    def run(bits: int):
        lay = Layer("g", OpKind.GEMM, m=64, n=30, k=100, input_bits=bits, weight_bits=bits,
                    output_bits=bits)
        cfg = SystolicConfig(filter_sram_kb=8, ifmap_sram_kb=1024, ofmap_sram_kb=1024)
        return SystolicArray(cfg).evaluate(Trace("t", (lay,))).columns

    one, two = run(8), run(16)
    assert one["memory_estimated"][0] == 0 and two["memory_estimated"][0] == 1
    assert one["dram_filter_reads"][0] == 32 * 100  # once, n padded to a 32-column fold
    assert two["dram_filter_reads"][0] > 32 * 100


def test_explicit_word_bytes_wins_over_the_trace(resnet_by_bits):
    for wb in (1, 2, 4):
        dev = SystolicArray(SystolicConfig(word_bytes=wb))
        reps = [dev.evaluate(tr) for tr in resnet_by_bits.values()]
        for r in reps[1:]:
            for key in ("cycles", "energy_j", "stall_cycles", "dram_ifmap_reads"):
                np.testing.assert_array_equal(r.columns[key], reps[0].columns[key])
            assert r.area_mm2 == reps[0].area_mm2
        assert reps[0].extra["word_bytes_used"] == wb
        # the explicit word equals the word a trace of that precision gives by itself
        auto = SystolicArray().evaluate(resnet_by_bits[8 * wb])
        np.testing.assert_array_equal(auto.columns["energy_j"], reps[0].columns["energy_j"])
        assert auto.area_mm2 == reps[0].area_mm2


def test_word_is_the_widest_matmul_operand_rounded_up():
    def tr(*layers):
        return Trace("t", tuple(layers))

    g = Layer("g", OpKind.GEMM, m=4, n=4, k=4, input_bits=8, weight_bits=8, output_bits=32)
    assert trace_word_bytes(tr(g)) == 1  # outputs do not widen the PEs
    assert trace_word_bytes(tr(g.with_(input_bits=4, weight_bits=4))) == 1
    assert trace_word_bytes(tr(g, g.with_(name="h", weight_bits=12))) == 2
    assert trace_word_bytes(tr(g.with_(weight_bits=24))) == 4
    # attention has no weights: its operands are the inputs
    att = Layer("a", OpKind.ATTN_SCORE, m=4, n=4, k=4, input_bits=8, weight_bits=32)
    assert trace_word_bytes(tr(att)) == 1
    # vector ops do not count when there is a matmul; alone, their widest operand does
    act = Layer("relu", OpKind.ELEMENTWISE, m=4, n=4, k=1, input_bits=32, weight_bits=32,
                output_bits=32)
    assert trace_word_bytes(tr(g, act)) == 1
    assert trace_word_bytes(tr(act.with_(input_bits=8, output_bits=16))) == 2


def test_operands_wider_than_32_bits_need_an_explicit_word():
    wide = Trace("wide", (Layer("ok", OpKind.GEMM, m=4, n=4, k=4),
                          Layer("fp64", OpKind.GEMM, m=4, n=4, k=4, input_bits=64)))
    with pytest.raises(WorkloadError, match=r"layer 'fp64' of 'wide': 64-bit .*32 bits") as e:
        SystolicArray().evaluate(wide)
    assert "\n" not in str(e.value)
    rep = SystolicArray(SystolicConfig(word_bytes=4)).evaluate(wide)
    assert rep.extra["word_bytes_used"] == 4


def test_area_of_a_device_without_a_word_is_at_the_default_precision(resnet_by_bits):
    dev = SystolicArray()  # word_bytes unset: the IR's default 16-bit operands
    assert dev.area_mm2 == SystolicArray(SystolicConfig(word_bytes=2)).area_mm2
    assert dev.area_mm2 != SystolicArray(SystolicConfig(word_bytes=1)).area_mm2
    tr = resnet_by_bits[16]
    assert dev.area_for(tr) == dev.evaluate(tr).area_mm2 == dev.area_mm2
    tr8 = resnet_by_bits[8]
    assert dev.area_for(tr8) == dev.evaluate(tr8).area_mm2 < dev.area_mm2


def test_evaluate_many_groups_by_effective_word(resnet_by_bits, monkeypatch):
    tr = resnet_by_bits[16]
    cfgs = [SystolicConfig(), SystolicConfig(word_bytes=2, rows=64),
            SystolicConfig(word_bytes=1), SystolicConfig(cols=16, mac_pj=2.0)]
    calls = []
    real = sysmod._evaluate_batch

    def spy(name, trace, batch):
        calls.append((batch.word_bytes, batch.size))
        return real(name, trace, batch)

    monkeypatch.setattr(sysmod, "_evaluate_batch", spy)
    many = SystolicArray().evaluate_many(tr, cfgs)
    # unset and explicit 2 share one vectorised batch on a 16-bit trace
    assert sorted(calls) == [(1, 1), (2, 3)]
    monkeypatch.setattr(sysmod, "_evaluate_batch", real)
    for cfg, rep in zip(cfgs, many, strict=True):
        _assert_same(rep, SystolicArray(cfg).evaluate(tr))


# ---------------------------------------------------------------------- SCALE-Sim
def test_scalesim_topology_on_systolic_keeps_scalesims_word(shared, tmp_path):
    from accel_sim._scalesim_compat import read_scalesim_config
    from accel_sim.cli import main

    gemm = tmp_path / "gemm.csv"  # small enough for the exact memory model
    gemm.write_text("Layer,M,N,K,\nfc1,300,70,500,\nfc2,64,700,90,\n")
    topo = shared / "data/topologies/vit_s.csv"
    config = shared / "data/scalesim/configs/scale.cfg"
    for model, path in (("analytic", topo), ("scalesim", gemm)):
        trace = read_topology(path)
        assert {(lay.input_bits, lay.weight_bits, lay.output_bits) for lay in trace} == {
            (8, 8, 8)}
        compat = read_scalesim_config(config, memory_model=model)
        assert compat.word_bytes == 1
        want = SystolicArray(compat).evaluate(trace)
        _assert_same(SystolicArray(compat.replace(word_bytes=None)).evaluate(trace), want)
        # a 16-bit trace would widen the word, unless the word is set as `scalesim` does
        wide = trace.with_precision(16)
        assert SystolicArray(compat.replace(word_bytes=None)).evaluate(wide).energy_j > \
            want.energy_j
        _assert_same(SystolicArray(compat).evaluate(wide), want)
    # the command line: run -w topology.csv with the config's values, word unset
    compat = read_scalesim_config(config, memory_model="analytic")
    want = SystolicArray(compat).evaluate(read_topology(topo))
    sets = [x for k, v in compat.to_dict().items() if v is not None and k != "word_bytes"
            for x in ("-s", f"{k}={v}")]
    assert main(["run", "-w", str(topo), "-d", "systolic", *sets, "-o", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["config"]["word_bytes"] is None and s["word_bytes_used"] == 1
    assert (s["cycles"], s["energy_j"]) == (want.cycles, pytest.approx(want.energy_j))


# ---------------------------------------------------------------------- gpu
def test_gpu_follows_trace_bits(resnet_by_bits):
    reps = {b: simulate(tr, "gpu") for b, tr in resnet_by_bits.items()}
    lat = [reps[b].latency_s for b in (8, 16, 32)]
    en = [reps[b].energy_j for b in (8, 16, 32)]
    assert lat[0] < lat[1] < lat[2] and en[0] < en[1] < en[2]
    traffic = {b: reps[b].columns["dram_bytes"].sum() for b in reps}
    assert traffic[8] == pytest.approx(traffic[16] / 2) == pytest.approx(traffic[32] / 4)


# ---------------------------------------------------------------------- device wins / fixed
@pytest.mark.parametrize("device,workload,training", [
    ("analog", "dqn_mlp", False),
    ("analog", "resnet18", False),
    ("sat", "dqn_mlp", True),
    ("learning_group", "ic3net", True),
])
def test_fixed_format_devices_ignore_trace_bits(device, workload, training):
    reps = []
    for bits in (8, 16):
        tr = load_workload(f"{workload}:bits={bits}")
        reps.append(simulate(training_trace(tr) if training else tr, device))
    _assert_same(*reps)


@pytest.mark.parametrize("device", ["amper", "per_gpu", "per_cpu"])
def test_replay_devices_ignore_trace_bits(device):
    tr = load_workload("replay:capacity=100000,batch=64")
    _assert_same(simulate(tr, device), simulate(tr.with_precision(8), device))


def test_llm_systems_take_bytes_from_the_trace_and_compute_in_fp16():
    def one(m: int, bits: int) -> Trace:
        return Trace("t", (Layer("g", OpKind.GEMM, m=m, n=8192, k=8192, input_bits=bits,
                                 weight_bits=bits, output_bits=bits),))

    xpu, gpu = make_device("xpu", {"devices": 1}), make_device("gpu")
    # compute-bound GEMM: FP16 arithmetic whatever the bits (gpu switches to the INT8 peak)
    big8, big16 = xpu.evaluate(one(8192, 8)), xpu.evaluate(one(8192, 16))
    assert big8.latency_s == pytest.approx(big16.latency_s, rel=1e-12)
    assert gpu.evaluate(one(8192, 8)).latency_s < gpu.evaluate(one(8192, 16)).latency_s
    # memory-bound GEMV: half the bytes at 8 bits
    gemv8, gemv16 = xpu.evaluate(one(1, 8)), xpu.evaluate(one(1, 16))
    assert gemv8.latency_s < gemv16.latency_s
    assert gemv8.energy_breakdown["dynamic"] < gemv16.energy_breakdown["dynamic"]
