"""systolic: SCALE-Sim v3 compatibility against real SCALE-Sim runs, and model behaviour.

Golden numbers: ``tests/data/scalesim_golden.csv`` (155 SCALE-Sim 3.0.0 runs, see
tests/data/README.md) and ``../shared/data/scalesim/reference`` (51 layers). Tolerance: none
(cycle counts must be equal; percentages to 1e-9 relative).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from accel_sim import ConvShape, Layer, OpKind, Trace, simulate
from accel_sim.devices.systolic import SystolicArray, SystolicConfig
from accel_sim.testing import DeviceContract
from workloads import load_workload, read_topology

GOLDEN = Path(__file__).parent / "data" / "scalesim_golden.csv"


class TestSystolicContract(DeviceContract):
    device_class = SystolicArray

    def configs(self):
        return [SystolicConfig(),
                SystolicConfig(dataflow="os", rows=16, cols=8, ifmap_sram_kb=2,
                               interface_bandwidth="calc", word_bytes=2),
                SystolicConfig(dataflow="is", rows=7, cols=9, ifmap_sram_kb=1,
                               filter_sram_kb=1, ofmap_sram_kb=1, bandwidth=2),
                SystolicConfig(memory_model="scalesim", rows=8, cols=8),
                SystolicConfig(timing="double_buffered", memory_model="ideal")]


def golden_rows():
    """The 155 single-layer SCALE-Sim runs that did not fail (shared with
    experiments/validate_scalesim.py)."""
    with open(GOLDEN) as fh:
        return [r for r in csv.DictReader(fh) if not r["error"]]


#: SCALE-Sim's word is one byte: the golden layers carry 8-bit operands (as read_topology
#: gives them), so the default systolic derives SCALE-Sim's 1-byte word from the trace.
BITS8 = {"input_bits": 8, "weight_bits": 8, "output_bits": 8}


def golden_case(r, memory_model):
    """Columns of ``systolic`` with ``memory_model`` on the golden run ``r`` (a row of
    golden_rows)."""
    user = r["bandwidth_mode"] == "USER"
    cfg = SystolicConfig(
        dataflow=r["dataflow"], rows=int(r["rows"]), cols=int(r["cols"]),
        ifmap_sram_kb=int(r["ifmap_kb"]), filter_sram_kb=int(r["filter_kb"]),
        ofmap_sram_kb=int(r["ofmap_kb"]),
        bandwidth=int(float(r["bandwidth"])) if user else 10,
        fill_bandwidth=int(float(r["ifmap_filter_dram_bw"])) if user else None,
        interface_bandwidth="user" if user else "calc", memory_model=memory_model)
    if r["layer_type"] == "gemm":
        lay = Layer("g", OpKind.GEMM, m=int(r["M"]), n=int(r["N"]), k=int(r["K"]), **BITS8)
    else:
        h, w, rr, s, c, f, st = (int(r[x]) for x in ("H", "W", "R", "S", "C", "filters",
                                                     "stride"))
        cs = ConvShape(h, w, rr, s, c, f, st, 0, 1, ceil_mode=True)
        lay = Layer("c", OpKind.CONV, m=cs.ofmap_h * cs.ofmap_w, n=f, k=rr * s * c, conv=cs,
                    **BITS8)
    return SystolicArray(cfg).evaluate(Trace("t", (lay,))).columns


def test_golden_set_is_complete():
    rows = golden_rows()
    assert len(rows) == 155
    assert sum(float(r["stall_cycles"]) > 0 for r in rows) == 75


@pytest.mark.parametrize("chunk", range(5))
def test_exact_memory_model_equals_scalesim_on_155_runs(chunk):
    rows = golden_rows()[chunk::5]
    for r in rows:
        c = golden_case(r, "scalesim")
        got = (c["cycles"][0], c["stall_cycles"][0], c["cycles_incl_prefetch"][0])
        want = (float(r["compute_cycles"]), float(r["stall_cycles"]),
                float(r["total_cycles_incl_prefetch"]))
        assert got == want, r["case_id"]
        assert math.isclose(100 * c["utilization"][0], float(r["overall_util_pct"]),
                            rel_tol=1e-9), r["case_id"]
        assert math.isclose(100 * c["compute_utilization"][0], float(r["compute_util_pct"]),
                            rel_tol=1e-9), r["case_id"]
        assert c["dram_ofmap_writes"][0] == float(r["dram_ofmap_writes"]), r["case_id"]


def test_analytic_model_is_exact_wherever_it_does_not_estimate():
    exact = estimated = 0
    for r in golden_rows():
        c = golden_case(r, "analytic")
        # stall-free cycles and utilisation columns are always exact
        assert c["compute_cycles"][0] == float(r["compute_cycles"]) - float(r["stall_cycles"])
        assert math.isclose(100 * c["mapping_efficiency"][0], float(r["mapping_eff_pct"]),
                            rel_tol=1e-9)
        assert math.isclose(100 * c["compute_utilization"][0], float(r["compute_util_pct"]),
                            rel_tol=1e-9)
        assert c["sram_ifmap_reads"][0] == float(r["sram_ifmap_reads"])
        assert c["sram_filter_reads"][0] == float(r["sram_filter_reads"])
        if c["memory_estimated"][0] == 0:
            exact += 1
            assert c["cycles"][0] == float(r["compute_cycles"]), r["case_id"]
            assert c["stall_cycles"][0] == 0.0 == float(r["stall_cycles"])
            assert c["cycles_incl_prefetch"][0] == float(r["total_cycles_incl_prefetch"]), (
                r["case_id"])
        else:
            estimated += 1
    # every stalling SCALE-Sim case is flagged as an estimate; the rest are exact
    assert exact >= 44 and exact + estimated == 155


REFERENCES = ["google256_os_Resnet18", "google256_os_alexnet", "google256_os_vit_s",
              "scale32_is_vit_s", "scale32_os_vit_s", "scale32_ws_alexnet", "scale32_ws_vit_s"]


def _reference_config(shared, ref, tmp_path):
    cfg_name, dataflow, _ = ref.split("_", 2)
    text = (shared / "data/scalesim/configs" /
            ("google.cfg" if cfg_name == "google256" else "scale.cfg")).read_text()
    if cfg_name == "scale32":
        text = text.replace("Dataflow : ws", f"Dataflow : {dataflow}")
    path = tmp_path / "run.cfg"
    path.write_text(text)
    return path


@pytest.mark.parametrize("ref", REFERENCES)
def test_cli_scalesim_reproduces_reference_reports(shared, ref, tmp_path):
    from accel_sim.cli import main

    topo = shared / f"data/topologies/{ref.split('_', 2)[2]}.csv"
    assert main(["scalesim", "-c", str(_reference_config(shared, ref, tmp_path)),
                 "-t", str(topo), "-o", str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "COMPUTE_REPORT.csv") as fh:
        header = fh.readline()
        ours = [[x.strip() for x in line.split(",")[:-1]] for line in fh]
    assert header.startswith("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall "
                             "Cycles, Overall Util %, Mapping Efficiency %, Compute Util %")
    with open(shared / f"data/scalesim/reference/{ref}.csv") as fh:
        want = list(csv.DictReader(fh))
    assert len(ours) == len(want)
    for row, w in zip(ours, want, strict=True):
        assert int(row[2]) == int(w["compute_cycles"]), w["layer"]
        assert int(row[1]) == int(w["total_cycles_incl_prefetch"]), w["layer"]
        assert int(row[3]) == int(w["stall_cycles"])
        for i, col in ((4, "overall_util_pct"), (5, "mapping_eff_pct"),
                       (6, "compute_util_pct")):
            assert float(row[i]) == pytest.approx(float(w[col]), abs=6e-4)  # 3 decimals


@pytest.mark.parametrize("ref", REFERENCES)
def test_analytic_total_cycles_equal_reference(shared, ref, tmp_path):
    from accel_sim._scalesim_compat import read_scalesim_config

    cfg = read_scalesim_config(_reference_config(shared, ref, tmp_path),
                               memory_model="analytic")
    trace = read_topology(shared / f"data/topologies/{ref.split('_', 2)[2]}.csv")
    got = SystolicArray(cfg).evaluate(trace).columns["cycles"]
    with open(shared / f"data/scalesim/reference/{ref}.csv") as fh:
        want = [float(r["compute_cycles"]) for r in csv.DictReader(fh)]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 200), (200, 3), (17, 5), (128, 128)])
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_compute_cycles_closed_form_any_shape(rows, cols, dataflow):
    m, n, k = 97, 61, 43
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    per_fold = t + rows + cols - 2 if dataflow == "os" else 2 * rows + cols + t - 2
    expected = math.ceil(sr / rows) * math.ceil(sc / cols) * per_fold - 1
    cfg = SystolicConfig(dataflow=dataflow, rows=rows, cols=cols, memory_model="ideal")
    rep = SystolicArray(cfg).evaluate(Trace("t", (Layer("g", OpKind.GEMM, m=m, n=n, k=k),)))
    assert rep.columns["cycles"][0] == expected
    assert rep.columns["utilization"][0] == pytest.approx(m * n * k / (expected * rows * cols))


def test_double_buffered_timing_hides_weight_loads():
    lay = Layer("g", OpKind.GEMM, m=256, n=128, k=512)
    tr = Trace("t", (lay,))
    base = SystolicConfig(dataflow="ws", rows=32, cols=32, memory_model="ideal")
    slow = SystolicArray(base).evaluate(tr).cycles
    fast = SystolicArray(base.replace(timing="double_buffered")).evaluate(tr).cycles
    folds = (512 // 32) * (128 // 32)
    assert slow == folds * (2 * 32 + 32 + 256 - 2) - 1
    assert fast == 32 + folds * 256 + 32 + 32 - 2
    assert fast < slow


def test_groups_batch_and_repeat_scale_cycles():
    one = Layer("g", OpKind.GEMM, m=50, n=40, k=30)
    dev = SystolicArray(SystolicConfig(memory_model="ideal"))
    c1 = dev.evaluate(Trace("t", (one,))).cycles
    c6 = dev.evaluate(Trace("t", (one.with_(groups=2, repeat=3),))).cycles
    assert c6 == 6 * c1
    batched = dev.evaluate(Trace("t", (one.with_(batch=4),))).cycles
    assert batched == dev.evaluate(Trace("t", (one.with_(m=200),))).cycles


def test_small_srams_cost_dram_energy_and_area_follows_config():
    tr = load_workload("resnet18")
    big = simulate(tr, "systolic", {"ifmap_sram_kb": 4096, "filter_sram_kb": 4096})
    small = simulate(tr, "systolic", {"ifmap_sram_kb": 2, "filter_sram_kb": 2})
    assert small.energy_breakdown["dram"] > big.energy_breakdown["dram"]
    assert small.cycles >= big.cycles
    assert big.area_mm2 > small.area_mm2
    cfg = SystolicConfig(rows=64, cols=64, word_bytes=1, ifmap_sram_kb=1024,
                         filter_sram_kb=1024, ofmap_sram_kb=1024)
    assert SystolicArray(cfg).area_mm2 == pytest.approx(64 * 64 * 1212e-6 + 3 * 4.0)


def test_vector_ops_run_on_the_vector_unit():
    lay = Layer("relu", OpKind.ELEMENTWISE, m=100, n=64, k=1)
    rep = SystolicArray(SystolicConfig(cols=32)).evaluate(Trace("t", (lay,)))
    assert rep.cycles == math.ceil(6400 / 32) and rep.macs == 0
    assert rep.energy_breakdown["vector"] > 0


def test_resnet50_depthwise_and_training_traces_evaluate():
    for tr in (load_workload("mobilenet_v2"), load_workload("resnet50")):
        rep = simulate(tr, "systolic")
        assert rep.cycles > 0 and 0 < rep.utilization <= 1
    from accel_sim import training_trace

    train = simulate(training_trace(load_workload("resnet18")), "systolic")
    fwd = simulate(load_workload("resnet18"), "systolic")
    assert train.macs == pytest.approx(3 * fwd.macs)
    assert train.latency_s > 2 * fwd.latency_s


@pytest.mark.parametrize("text,needle", [
    ("[general]\nrun_name=x\n[run_presets]\nInterfaceBandwidth: USER\n", "Dataflow is missing"),
    ("[general]\nrun_name=x\n[run_presets]\nInterfaceBandwidth: FAST\n",
     "InterfaceBandwidth='FAST'"),
    ("not an ini file", "not a SCALE-Sim config"),
])
def test_bad_scalesim_config(tmp_path, text, needle, shared):
    import subprocess
    import sys

    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    res = subprocess.run([sys.executable, "-m", "accel_sim", "scalesim", "-c", str(cfg), "-t",
                          str(shared / "data/topologies/vit_s.csv"), "-o", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert needle in res.stderr and str(cfg) in res.stderr


def test_out_of_range_array_is_rejected(shared, tmp_path):
    from accel_sim._scalesim_compat import read_scalesim_config
    from accel_sim.errors import ConfigError

    text = (shared / "data/scalesim/configs/scale.cfg").read_text().replace(
        "ArrayHeight:    32", "ArrayHeight:    0")
    cfg = tmp_path / "zero.cfg"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"rows=0 is out of range: int in \[1, 4096\]"):
        read_scalesim_config(cfg)
