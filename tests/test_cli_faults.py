"""The command line under bad input and real signals: one line and exit 2 for every bad
input, one line and 128 + signal for SIGINT/SIGTERM, no process left behind, nothing lost."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _procs import descendants, none_alive

import accel_sim
from accel_sim.devices.systolic import SystolicArray, SystolicConfig
from accel_sim.errors import AccelSimError

PY = [sys.executable, "-m", "accel_sim"]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------- bad input, CLI
@pytest.mark.parametrize("args,needle", [
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16", "-j", "0"],
     "-j/--jobs 0: must be an integer >= 1"),
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16", "-j", "-1"],
     "-j/--jobs -1: must be an integer >= 1"),
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16", "rows=32"],
     "--grid rows: given twice"),
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,8"],
     "--grid rows: value '8' is given twice"),
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16", "-s", "cols=8",
      "-s", "cols=16"], "-s cols: given twice"),
    (["sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16",
      "--max-points", "0"], "--max-points 0: must be >= 1"),
    (["sweep", "-w", "resnet18", "-d", "analog", "--grid", "weight_bits=4,8",
      "weight_slices=1,8"], "grid point (weight_bits=4, weight_slices=8)"),
    (["run", "-w", "resnet18", "-d", "systolic", "-s", "rows=8", "-s", "rows=64"],
     "-s rows: given twice (rows=8 and rows=64)"),
    (["run", "-w", "resnet18:batch=2,batch=4", "-d", "systolic"], "batch is given twice"),
    (["run", "-w", "resnet18", "-d", "systolic", "--dim", "batch=1"],
     "symbolic dimensions of .onnx models only"),
])
def test_bad_input_is_one_line(tmp_path, args, needle):
    out = tmp_path / "out.csv" if args[0] == "sweep" else tmp_path / "out"
    res = _run(*args, "-o", str(out))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: error: "), res.stderr
    assert needle in lines[0]
    assert not out.exists() and not Path(str(out) + ".part").exists()


def test_huge_grid_is_refused_with_its_count_and_time(tmp_path):
    values = ",".join(str(v) for v in range(1, 1001))
    t0 = time.monotonic()
    res = _run("sweep", "-w", "resnet18", "-d", "systolic", "--grid", f"rows={values}",
               f"cols={values}", f"bandwidth={values}", f"ifmap_sram_kb={values}", "-o",
               str(tmp_path / "s.csv"))
    took = time.monotonic() - t0
    assert res.returncode == 2, res.stderr
    assert "1,000,000,000,000 points, more than --max-points 1,000,000" in res.stderr
    assert "estimated" in res.stderr and "worker(s)" in res.stderr
    assert took < 60  # counted, never materialised
    assert not (tmp_path / "s.csv").exists()


def test_max_points_can_be_raised_and_rows_stream_in_grid_order(tmp_path):
    out = tmp_path / "s.csv"
    res = _run("sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16,32",
               "cols=8,16", "--max-points", "6", "-j", "2", "-q", "-o", str(out))
    assert res.returncode == 0, res.stderr
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["rows"], r["cols"]) for r in rows] == [
        (r, c) for r in ("8", "16", "32") for c in ("8", "16")]
    # each row equals a direct evaluation of its configuration
    trace = accel_sim.simulate  # noqa: F841 (documenting the comparison below)
    from workloads import load_workload

    tr = load_workload("resnet18")
    for r in rows:
        rep = SystolicArray(SystolicConfig(rows=int(r["rows"]), cols=int(r["cols"]))
                            ).evaluate(tr)
        assert float(r["latency_s"]) == pytest.approx(rep.latency_s, rel=1e-12)
    res = _run("sweep", "-w", "resnet18", "-d", "systolic", "--grid", "rows=8,16,32",
               "cols=8,16", "--max-points", "5", "-o", str(tmp_path / "t.csv"))
    assert res.returncode == 2 and "6 points, more than --max-points 5" in res.stderr


# ---------------------------------------------------------------------- Python API misuse
def _trace():
    from workloads import load_workload

    return load_workload("digits_mlp")


@pytest.mark.parametrize("call,needle", [
    (lambda: accel_sim.simulate(None, "systolic"), "workload must be a name"),
    (lambda: accel_sim.simulate("resnet18", 123), "device must be a device name"),
    (lambda: accel_sim.simulate("resnet18", "systolic", ["rows"]), "must be a mapping"),
    (lambda: accel_sim.make_device("systolic", 5), "must be a mapping"),
    (lambda: accel_sim.get_device(None), "a device name must be text"),
    (lambda: SystolicArray("rows=8"), "takes a SystolicConfig, got str"),
    (lambda: SystolicArray().evaluate("resnet18"), "evaluates an accel_sim.Trace, got str"),
    (lambda: SystolicArray().evaluate(None), "evaluates an accel_sim.Trace"),
    (lambda: SystolicArray().evaluate_many(_trace(), [None]), "takes SystolicConfig"),
    (lambda: SystolicConfig(rows="8"), "expected an integer"),
    (lambda: accel_sim.Trace("t", None), "layers must be a sequence of Layer"),
    (lambda: accel_sim.training_trace(None), "training_trace takes an accel_sim.Trace"),
    (lambda: accel_sim.run_sweep(None, SystolicArray, []), "trace must be an accel_sim.Trace"),
    (lambda: accel_sim.run_sweep(_trace(), SystolicArray, [None]), "must be SystolicConfig"),
    (lambda: accel_sim.run_sweep(_trace(), SystolicArray, [SystolicConfig()], jobs=0),
     "-j/--jobs 0"),
    (lambda: accel_sim.grid_configs(SystolicArray, {"rows": 8}), "expected a list of values"),
    (lambda: accel_sim.grid_configs("systolic", {"rows": list(range(1, 2001)),
                                                 "cols": list(range(1, 2001))}),
     "more than max_points=1,000,000"),
])
def test_python_api_misuse_raises_project_errors(call, needle):
    with pytest.raises(AccelSimError) as info:
        call()
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_grid_configs_takes_a_device_name():
    cfgs = accel_sim.grid_configs("systolic", {"rows": [8, 16]}, {"cols": "32"})
    assert [(c.rows, c.cols) for c in cfgs] == [(8, 32), (16, 32)]


# ---------------------------------------------------------------------- signals
def _interrupt(cmd: list[str], ready, sig: int, group: bool) -> tuple[int, str, float, set]:
    """Run ``cmd``, send ``sig`` once ``ready(pid)`` holds; returns (status, stderr, seconds
    from the signal to the exit, the command's descendants when signalled)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ready(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        family = descendants(proc.pid)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err, time.monotonic() - t0, family
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("sig,status,group", [(signal.SIGINT, 130, True),
                                              (signal.SIGTERM, 143, False)])
def test_sweep_stops_its_workers_and_keeps_the_rows_done(tmp_path, sig, status, group):
    out = tmp_path / "s.csv"
    values = ",".join(str(v) for v in range(1, 301))
    cmd = [*PY, "sweep", "-w", "resnet50", "-d", "systolic", "--grid", f"rows={values}",
           f"cols={values}", "-j", "2", "-q", "-o", str(out)]
    part = Path(str(out) + ".part")

    def ready(_pid: int) -> bool:
        return part.exists() and part.stat().st_size > 10_000

    code, err, took, family = _interrupt(cmd, ready, sig, group)
    assert code == status, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: interrupted ("), err
    assert "of 90,000 configurations to" in lines[0]
    assert took < 15
    assert none_alive(family), "a sweep worker outlived the command"
    with open(out) as fh:  # the finished rows are kept, and each is whole
        rows = list(csv.DictReader(fh))
    assert 0 < len(rows) < 90_000 and all(r["feasible"] in ("True", "False") for r in rows)
    kept = int(lines[0].split("wrote ")[1].split(" of")[0].replace(",", ""))
    assert kept == len(rows)


def test_serve_interrupted_is_one_line(tmp_path):
    cmd = [*PY, "serve", "-m", "mixtral_8x7b", "-d", "xpu", "--batch", "128", "--lin", "4096",
           "--lout", "512", "--rate", "8", "--requests", "200000", "-o", str(tmp_path / "s")]
    start = time.monotonic()
    code, err, took, _ = _interrupt(cmd, lambda _pid: time.monotonic() - start > 8,
                                    signal.SIGINT, True)
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "\r" not in ln]
    assert lines == ["accel-sim: interrupted (SIGINT)"], err
    assert took < 15


@pytest.mark.parametrize("args", [
    ["run", "-w", "resnet50:batch=4", "-d", "systolic", "-s", "rows=128", "-s", "cols=128",
     "-s", "memory_model=scalesim"],
    ["reproduce", "analog-xiao", "--quick"],
])
def test_long_commands_interrupted_are_one_line(tmp_path, args):
    cmd = [*PY, *args, "-o", str(tmp_path / "o")]
    start = time.monotonic()
    code, err, took, family = _interrupt(cmd, lambda _pid: time.monotonic() - start > 6,
                                         signal.SIGTERM, False)
    assert code == 143, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["accel-sim: interrupted (SIGTERM)"], err
    assert took < 15
    assert none_alive(family)


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("kind", ["explore", "sweep"])
def test_ctrl_c_while_workers_start_is_one_line(tmp_path, kind, delay):
    """Ctrl-C reaches the whole process group, workers included, also while they start
    (Python still importing): still one line, exit 130, nothing left running. ``delay``
    counts from the first child process (the pool's), so every case has one."""
    values = ",".join(str(v) for v in range(1, 301))
    if kind == "explore":
        args = ["explore", "-w", "resnet50", "-d", "systolic", "--trials", "3000",
                "--workers", "2", "-q", "-o", str(tmp_path / "e")]
    else:
        args = ["sweep", "-w", "resnet50", "-d", "systolic", "--grid", f"rows={values}",
                f"cols={values}", "-j", "2", "-q", "-o", str(tmp_path / "s.csv")]
    first: list[float] = []

    def ready(pid: int) -> bool:
        if not first and descendants(pid):
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] >= delay

    code, err, took, family = _interrupt([*PY, *args], ready, signal.SIGINT, True)
    assert family, "no child process had started"
    assert code == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: interrupted (SIGINT)"), err
    assert took < 15
    assert none_alive(family)
