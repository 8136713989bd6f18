"""The accel-sim command line: outputs, and one clear line with exit status 2 on bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from accel_sim.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accel_sim", *args], capture_output=True,
                          text=True)


def test_workloads_and_devices_listings(capsys):
    assert main(["workloads"]) == 0
    out = capsys.readouterr().out
    assert "bert_base:" in out and "seq_len=128" in out
    assert main(["devices"]) == 0
    out = capsys.readouterr().out.splitlines()
    from accel_sim import available_devices

    # one line per device, then a hint
    listed = [ln.split()[0] for ln in out if ln and not ln.startswith("Parameters")]
    assert listed == list(available_devices())
    assert all("searched by explore)" in ln for ln in out[:len(listed)])
    assert main(["devices", "systolic"]) == 0
    out = capsys.readouterr().out
    for text in ("systolic:", "dataflow=ws", "one of os, ws, is", "[PEs]"):
        assert text in out
    # explore's default space is what the listing marks "searched"
    from accel_sim.devices.systolic import SystolicConfig
    from accel_sim.explore import SearchSpace

    marked = {ln.split("=")[0].strip() for ln in out.splitlines()
              if ln.startswith("    ") and not ln.startswith("        ") and " searched " in ln}
    assert marked == set(SearchSpace(SystolicConfig).names)
    assert main(["devices", "gpu"]) == 0
    assert "preset=" in capsys.readouterr().out


def test_run_writes_layers_csv_and_summary_json(tmp_path, capsys):
    assert main(["run", "-w", "resnet18", "-d", "gpu", "-s", "preset=a100",
                 "-o", str(tmp_path)]) == 0
    with open(tmp_path / "layers.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 23
    for col in ("layer", "op", "macs", "cycles", "latency_s", "energy_j"):
        assert col in rows[0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("macs", "flops", "cycles", "latency_s", "energy_j", "area_mm2"):
        assert key in summary
    assert summary["macs"] == sum(int(r["macs"]) for r in rows)
    assert summary["config"]["preset"] == "a100"
    assert "total" in capsys.readouterr().out


def test_run_training_step(tmp_path):
    assert main(["run", "-w", "digits_mlp", "-d", "gpu", "--training", "-o", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["macs"] == 3 * (64 * 64 + 64 * 10)


def test_sweep_writes_one_row_per_configuration(tmp_path):
    out = tmp_path / "sweep.csv"
    assert main(["sweep", "-w", "resnet18", "-d", "gpu", "--grid", "preset=a100,h100",
                 "compute_efficiency=0.5,0.7,0.9", "-s", "kernel_overhead_us=0", "-q",
                 "-j", "2", "-o", str(out)]) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    assert {r["preset"] for r in rows} == {"a100", "h100"}
    assert all(r["kernel_overhead_us"] == "0.0" for r in rows)
    for key in ("macs", "cycles", "latency_s", "energy_j"):
        assert key in rows[0]
    lat = {(r["preset"], r["compute_efficiency"]): float(r["latency_s"]) for r in rows}
    assert lat[("h100", "0.9")] < lat[("h100", "0.5")]


@pytest.mark.parametrize("args,needle", [
    (["run", "-w", "resnet18", "-d", "tpu9000", "-o", "x"], "unknown device 'tpu9000'"),
    (["run", "-w", "resnet18", "-d", "gpu", "-s", "preset=v100", "-o", "x"],
     "preset='v100' is not allowed: one of a100, h100"),
    (["run", "-w", "resnet18", "-d", "gpu", "-s", "compute_efficiency=2", "-o", "x"],
     "compute_efficiency=2.0 is out of range: float in [0.01, 1]"),
    (["run", "-w", "resnet18", "-d", "gpu", "-s", "speed=3", "-o", "x"],
     "unknown parameter 'speed'"),
    (["run", "-w", "resnet18", "-d", "gpu", "-s", "preset", "-o", "x"], "expected key=value"),
    (["run", "-w", "resnet18:batch=-2", "-d", "gpu", "-o", "x"], "batch=-2 is out of range"),
    (["run", "-w", "nosuchnet", "-d", "gpu", "-o", "x"], "unknown workload 'nosuchnet'"),
    (["run", "-w", "missing.onnx", "-d", "gpu", "-o", "x"], "missing.onnx: no such workload"),
    (["sweep", "-w", "resnet18", "-d", "gpu", "--grid", "preset=a100,x", "-o", "x.csv"],
     "preset='x' is not allowed"),
    (["sweep", "-w", "resnet18", "-d", "gpu", "--grid", "compute_efficiency=", "-o", "x.csv"],
     "has no values"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    res = subprocess.run([sys.executable, "-m", "accel_sim", *args], capture_output=True,
                         text=True, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: error:"), res.stderr
    assert needle in lines[0]


def test_malformed_topology_names_file_and_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Layer,M,N,K,\nL0,4,8,16,\nL1,4,zero,16,\n")
    res = _cli("run", "-w", str(p), "-d", "gpu", "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{p}:3: N='zero' is not an integer" in res.stderr
