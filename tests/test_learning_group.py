"""The ``learning_group`` device: FLGW datapath on the U280."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accel_sim import make_device
from accel_sim._ir import training_trace
from accel_sim.devices.learning_group import (
    LearningGroup,
    LearningGroupConfig,
    _osel,
    _row_pass,
)
from accel_sim.errors import AccelSimError, ConfigError
from accel_sim.sparse import FLGW, sparse_training_accuracy
from accel_sim.testing import DeviceContract
from workloads import load_workload


class TestLearningGroupContract(DeviceContract):
    device_class = LearningGroup

    def configs(self):
        return [LearningGroupConfig(), LearningGroupConfig(groups=4),
                LearningGroupConfig(groups=8, osel=False, cores=1, vus_per_core=64)]


def _ic3(a=4, b=1, train=True):
    tr = load_workload(f"ic3net:agents={a},batch={b}")
    return training_trace(tr) if train else tr


def test_peak_is_the_papers_277_gflops():
    assert LearningGroupConfig().peak_gflops == pytest.approx(277.2)


@pytest.mark.parametrize("g", [1, 2, 4, 8, 16])
def test_throughput_never_exceeds_peak_times_g(g):
    r = make_device("learning_group", {"groups": g}).evaluate(_ic3(10, 32))
    assert r.extra["effective_gflops"] <= 277.2 * g
    assert np.all(r.columns["utilization"] <= 1.0)
    # grouped weights keep ~1/G (heads narrower than G stay dense)
    assert 1 / g <= r.extra["weight_density"] <= 1 / g + 0.02


def test_sparser_is_never_slower_for_inference():
    lat = [make_device("learning_group", {"groups": g}).evaluate(_ic3(train=False)).latency_s
           for g in (1, 2, 4, 8, 16)]
    assert all(b <= a for a, b in itertools.pairwise(lat))
    assert lat[0] / lat[1] <= 2.0


def test_row_pass_packs_rows_onto_the_vus():
    # dense 256 x 512 on 3 cores x 264 VUs: 86 rows on the busiest core; a 512-nonzero row
    # is one full cycle (264) and a 248 remainder, one remainder per cycle: 2 cycles a row
    cyc, nnz = _row_pass(256, 512, 1, 3, None, 264)
    assert nnz == 256 * 512 and cyc == 86 * 2
    # G = 4: rows of 128 nonzeros, floor(264 / 128) = 2 to a cycle: 43 cycles
    cyc, nnz = _row_pass(256, 512, 4, 3, None, 264)
    assert nnz == 256 * 128 and cyc == 43
    # G = 16: rows of 32, 8 to a cycle: ceil(86 / 8) = 11 cycles (the 4-row issue limit of
    # our earlier model gave ceil(86 / 4) = 22)
    cyc, nnz = _row_pass(256, 512, 16, 3, None, 264)
    assert nnz == 256 * 32 and cyc == 11
    assert _row_pass(256, 512, 16, 3, 4, 264)[0] == 22
    # load balancing: uneven rows (G = 3 on 10 columns: 4, 3, 3) spread to equalise
    cyc, nnz = _row_pass(9, 10, 3, 3, 1, 1)
    assert nnz == 3 * 4 + 6 * 3 and cyc == 10
    # mixed lengths share cycles: 2 rows of 5 and 1 of 4 on 10 VUs take 1.4 -> 2 cycles
    assert _row_pass(3, 14, 3, 1, None, 10)[0] == 2


@pytest.mark.parametrize("g", [1, 4, 16])
def test_cycles_of_a_small_sparse_layer_by_hand(g):
    """A 48 x 64 forward GEMM, 3 input vectors, on 3 cores x 16 VUs, 2 cycles of fill.

    Rows (of W) are dealt 16 per core. G=1: 64 nonzeros per row = 4 full cycles each, 64
    cycles per vector per core. G=4: 16 per row, one row per cycle: 16 cycles. G=16: 4 per
    row, 4 rows per cycle: 4 cycles. The transposed orientation (64 rows of 48) is no better
    here (22 rows per core: G=1 66, G=4 22, G=16 ceil(22 x 3 / 16) = 5 cycles)."""
    from accel_sim._ir import Layer, OpKind, Trace

    tr = Trace("t", (Layer("fc", OpKind.GEMM, m=3, n=64, k=48),))
    cfg = {"groups": g, "cores": 3, "vus_per_core": 16, "pipeline_cycles": 2}
    r = make_device("learning_group", cfg).evaluate(tr)
    cycles = {1: 64, 4: 16, 16: 4}[g] * 3 + 2
    assert r.cycles == cycles
    assert float(r.columns["utilization"][0]) == pytest.approx(
        3 * 48 * 64 / g / (cycles * 48))


def test_encoder_runs_ahead_and_stalls_only_when_behind():
    from accel_sim.devices.learning_group import _with_encoder_stalls

    # encoding 5, 0, 20 cycles ahead of layers of 10, 3, 4: the first waits 5 (ends at 15),
    # the second runs 15-18, the third waits for its rows (encoded at 25): 7 + 4 cycles
    out = _with_encoder_stalls(np.array([10.0, 3.0, 4.0]), np.array([5.0, 0.0, 20.0]))
    np.testing.assert_allclose(out, [15.0, 3.0, 11.0])
    np.testing.assert_allclose(_with_encoder_stalls(np.array([4.0]), np.zeros(1)), [4.0])


def test_osel_cuts_encoding_on_a_128x512_mask():
    without = _osel(128, 512, 16, False, 32, 1)
    with_ = _osel(128, 512, 16, True, 32, 1)
    assert without == 128 * 17 and with_ == 16 * 17 + 112
    assert without / with_ == pytest.approx(5.67, abs=0.01)  # paper: up to 5.72x
    tr = _ic3()
    on = make_device("learning_group", {"groups": 16}).evaluate(tr)
    off = make_device("learning_group", {"groups": 16, "osel": False}).evaluate(tr)
    assert off.columns["encode_cycles"].sum() > 3 * on.columns["encode_cycles"].sum()
    assert off.latency_s > on.latency_s
    # inference: masks are encoded offline
    inf = make_device("learning_group", {"groups": 16}).evaluate(_ic3(train=False))
    assert inf.columns["encode_cycles"].sum() == 0


def test_energy_is_constant_power_times_latency():
    r = make_device("learning_group", {"groups": 4}).evaluate(_ic3())
    assert r.energy_j == pytest.approx(36.3 * r.latency_s)
    assert r.extra["gflops_per_w"] == pytest.approx(r.extra["effective_gflops"] / 36.3)


def test_board_too_small_is_a_violation():
    big = make_device("learning_group", {"cores": 12, "vus_per_core": 2048})
    r = big.evaluate(_ic3())
    assert r.violations["fpga_dsp"] > 0 and not r.feasible
    assert make_device("learning_group").evaluate(_ic3()).feasible
    huge = load_workload("ic3net:agents=4,batch=1,hidden=4096")
    assert make_device("learning_group").evaluate(huge).violations["fpga_onchip_memory"] > 0


def test_groups_larger_than_every_layer_is_an_error():
    tr = load_workload("digits_mlp:hidden=8")
    with pytest.raises(ConfigError, match=r"groups=16 .*allowed range \[1, 8\]"):
        make_device("learning_group", {"groups": 16}).evaluate(tr)


@pytest.mark.parametrize("spec", ["ic3net:agents=0", "ic3net:batch=0"])
def test_zero_agents_or_batch_is_an_error(spec):
    field = spec.split(":")[1].split("=")[0]
    with pytest.raises(AccelSimError, match=field):
        load_workload(spec)


def test_accuracy_metric_on_digits():
    tr = training_trace(load_workload("digits_mlp"))
    r = make_device("learning_group", {"groups": 4}).evaluate(tr)
    assert r.extra["accuracy"] == sparse_training_accuracy("digits_mlp", FLGW(4), 0, None)
    assert 0.9 <= r.extra["accuracy"] <= 1.0
    assert "accuracy" not in make_device("learning_group").evaluate(_ic3()).extra


def test_reproduction_writes_the_comparison_table_and_plots(tmp_path):
    import csv

    from accel_sim.cli import main

    assert main(["reproduce", "learning-group", "--quick", "-o", str(tmp_path)]) == 0
    from _golden import assert_matches_golden

    assert_matches_golden(tmp_path, "reproduce-learning-group")
    with open(tmp_path / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:7] == ["quantity", "condition", "paper", "accel_sim", "rel_error",
                                 "tolerance", "ok"]
    for name in ("throughput_vs_groups.png", "speedup_vs_groups.png", "accuracy_vs_groups.png",
                 "sweep.csv", "accuracy.csv", "comparison.md"):
        assert (tmp_path / name).exists()
    got = {(r["quantity"], r["condition"]): float(r["accel_sim"]) for r in rows}
    assert got[("peak throughput (GFLOPS)", "3 cores x 264 VUs x 2 FLOP x 175 MHz")] == \
        pytest.approx(277.2)
    # sparse beats dense at A=4, B=1 and stays below G x dense
    dense = got[("dense effective throughput (GFLOPS)", "A=4, B=1, G=1, inference")]
    g4 = got[("sparse effective throughput (GFLOPS)", "A=4, B=1, G=4, inference")]
    assert dense < g4 < 4 * dense
