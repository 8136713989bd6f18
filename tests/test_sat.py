"""The ``sat`` device: systolic training with dense, N:M BDWP and transposable modes."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim import make_device
from accel_sim._ir import Phase, training_trace
from accel_sim.devices import _systolic_core as core
from accel_sim.devices.sat import SatConfig, SparseTrainingArray
from accel_sim.errors import ConfigError
from accel_sim.sparse import NM, sparse_training_accuracy
from accel_sim.testing import DeviceContract
from workloads import load_workload


class TestSatContract(DeviceContract):
    device_class = SparseTrainingArray

    def configs(self):
        return [SatConfig(), SatConfig(mode="dense"),
                SatConfig(mode="transposable", n=2, m=4, dataflow="ws", interleave=False,
                          pregenerate=False)]


@pytest.fixture(scope="module")
def resnet_train():
    return training_trace(load_workload("resnet18"))


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@pytest.mark.parametrize("interleave", [True, False])
def test_dense_mode_agrees_with_systolic(resnet_train, dataflow, interleave):
    sat = make_device("sat", {"mode": "dense", "dataflow": dataflow, "interleave": interleave,
                              "rows": 16, "cols": 32}).evaluate(resnet_train)
    sys_ = make_device("systolic", {
        "dataflow": dataflow, "rows": 16, "cols": 32, "memory_model": "ideal",
        "timing": "double_buffered" if interleave else "scalesim"}).evaluate(resnet_train)
    mm = resnet_train.columns["is_matmul"]
    assert mm.sum() > 50
    assert np.array_equal(sat.columns["gemm_cycles"][mm], sys_.columns["compute_cycles"][mm])


@pytest.mark.parametrize(("n", "m"), [(1, 4), (2, 8), (3, 16)])
def test_sparse_gemms_stream_only_kept_weights(resnet_train, n, m):
    sat = make_device("sat", {"mode": "bdwp", "n": n, "m": m, "dataflow": "ws"})
    r = sat.evaluate(resnet_train)
    c = resnet_train.columns
    for i, lay in enumerate(resnet_train.layers):
        if not lay.op.is_matmul:
            continue
        k = lay.k
        if lay.op.has_weights and lay.phase in (Phase.FORWARD, Phase.BACKWARD_DATA):
            k = -(-k // m) * n  # zero-padded to a multiple of M, N kept per group
        want = core.compute_cycles(np.array([lay.batch * lay.m]), np.array([lay.n]),
                                   np.array([k]), 32, 32, "ws", "double_buffered")[0]
        assert r.columns["gemm_cycles"][i] == want * c["groups"][i] * c["repeat"][i]


@pytest.mark.parametrize("wl", ["resnet18", "resnet50", "bert_base"])
def test_speedup_is_below_the_ideal_bdwp_bound(wl):
    tr = training_trace(load_workload(wl))
    dense = make_device("sat", {"mode": "dense"}).evaluate(tr).latency_s
    speed = {}
    for n, m in [(1, 4), (2, 8), (1, 8), (4, 8), (2, 4)]:
        speed[(n, m)] = dense / make_device("sat", {"n": n, "m": m}).evaluate(tr).latency_s
        bound = 3 / (2 * n / m + 1)  # forward + backward-data sparse, weight gradient dense
        assert 1.0 < speed[(n, m)] <= bound
    assert speed[(1, 8)] > speed[(2, 8)] > speed[(4, 8)]
    # same density; 2:8 carries 3-bit indices instead of 2-bit ones
    assert speed[(2, 8)] == pytest.approx(speed[(1, 4)], rel=0.01)
    assert speed[(2, 8)] <= speed[(1, 4)]


def test_transposable_halves_the_reduction_engine_work(resnet_train):
    b = make_device("sat", {"mode": "bdwp", "n": 2, "m": 4}).evaluate(resnet_train)
    t = make_device("sat", {"mode": "transposable", "n": 2, "m": 4}).evaluate(resnet_train)
    assert t.columns["sore_cycles"].sum() == pytest.approx(b.columns["sore_cycles"].sum() / 2,
                                                           rel=0.01)
    assert t.latency_s <= b.latency_s


def test_pregeneration_hides_the_reduction_engine(resnet_train):
    on = make_device("sat", {"pregenerate": True}).evaluate(resnet_train)
    off = make_device("sat", {"pregenerate": False}).evaluate(resnet_train)
    assert on.columns["sore_exposed_cycles"].sum() < 0.5 * off.columns["sore_cycles"].sum()
    assert on.latency_s < off.latency_s


def test_switch_is_never_slower_than_either_dataflow(resnet_train):
    lat = {df: make_device("sat", {"dataflow": df}).evaluate(resnet_train).latency_s
           for df in ("os", "ws", "switch")}
    assert lat["switch"] <= min(lat["os"], lat["ws"])


def test_n_greater_than_m_is_an_error():
    with pytest.raises(ConfigError, match=r"SatConfig.n=5 must be in \[1, m\] = \[1, 4\]"):
        SatConfig(n=5, m=4)
    SatConfig(mode="dense", n=5, m=4)  # inactive in dense mode


def test_indivisible_reduction_is_zero_padded():
    tr = training_trace(load_workload("digits_cnn"))  # conv1: k = 9
    r = make_device("sat", {"n": 2, "m": 8}).evaluate(tr)
    assert r.extra["padded_fraction"] > 0
    i = tr.names.index("conv1")
    want = core.compute_cycles(np.array([64]), np.array([16]), np.array([4]), 32, 32, "ws",
                               "double_buffered")[0]
    want = min(want, core.compute_cycles(np.array([64]), np.array([16]), np.array([4]), 32,
                                         32, "os", "double_buffered")[0])
    assert r.columns["gemm_cycles"][i] == want


def test_board_too_small_is_a_violation(resnet_train):
    r = make_device("sat", {"rows": 128, "cols": 128}).evaluate(resnet_train)
    assert r.violations["fpga_dsp"] > 0 and not r.feasible
    assert make_device("sat").evaluate(resnet_train).feasible


def test_accuracy_metric_on_digits():
    tr = training_trace(load_workload("digits_mlp"))
    r = make_device("sat", {"n": 2, "m": 4}).evaluate(tr)
    assert r.extra["accuracy"] == sparse_training_accuracy("digits_mlp", NM(2, 4), 0, None)
    assert r.extra["accuracy"] > 0.94


def test_reproduction_writes_the_comparison_table_and_plots(tmp_path):
    import csv

    from accel_sim.cli import main

    assert main(["reproduce", "sat", "--quick", "-o", str(tmp_path)]) == 0
    from _golden import assert_matches_golden

    assert_matches_golden(tmp_path, "reproduce-sat")
    with open(tmp_path / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:7] == ["quantity", "condition", "paper", "accel_sim", "rel_error",
                                 "tolerance", "ok"]
    for name in ("speedup_vs_nm.png", "accuracy_vs_density.png", "speedups.csv",
                 "accuracy.csv", "comparison.md"):
        assert (tmp_path / name).exists()
    with open(tmp_path / "speedups.csv") as fh:
        speed = list(csv.DictReader(fh))
    assert all(float(r["speedup"]) <= float(r["ideal_bound"]) for r in speed)
    s28 = [float(r["speedup"]) for r in speed if (r["mode"], r["n"], r["m"]) == ("bdwp", "2", "8")]
    assert all(1.0 < s <= 2.0 for s in s28)
