"""Explorer under faults and misuse: resumed studies with other settings, warm starts larger
than the budget, Ctrl-C and SIGTERM, SIGKILL with workers, two explores on one folder,
damaged or binary inputs. Signals are real signals sent to real subprocesses."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from _procs import alive, descendants, wait_for
from optuna.trial import TrialState

from accel_sim.cli import main

BASE = ["-w", "resnet18", "-d", "systolic", "--objectives", "latency,energy,area",
        "--constraint", "area_mm2<=20"]


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accel_sim", *args], capture_output=True,
                          text=True, timeout=timeout)


def _study(folder: Path, name: str = "explore") -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return optuna.load_study(study_name=name, storage=JournalStorage(
        JournalFileBackend(str(folder / "study.journal"))))


def _states(folder: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in _study(folder).get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _one_error_line(res: subprocess.CompletedProcess, needle: str) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: error: "), res.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------- resume
@pytest.mark.parametrize("change,needle", [
    (["--space", "rows=8:64", "cols=8:64"], "space: study has"),
    (["-s", "bandwidth=32"], "fixed: study has {}, asked {bandwidth=32}"),
    (["--seed", "4"], "seed: study has 3, asked 4"),
    (["--sampler", "random"], "sampler: study has parego, asked random"),
    (["--constraint", "area_mm2<=30"], "constraints: study has area_mm2<=20, asked "),
    (["-w", "resnet50"], "workloads: study has resnet18, asked resnet50"),
])
def test_resume_with_other_settings_names_what_changed(tmp_path, change, needle):
    out = tmp_path / "ex"
    assert main(["explore", *BASE, "--trials", "4", "--seed", "3", "-q", "-o", str(out)]) == 0
    before = _states(out)
    args = ["explore", *BASE, "--trials", "8", "--seed", "3", "-q", "-o", str(out)]
    # the change replaces the flag of the same name (argparse keeps the last --seed/...;
    # -w and --constraint repeat, so the old one is dropped)
    if change[0] == "--constraint":
        args = [a for a in args if a not in ("--constraint", "area_mm2<=20")]
    if change[0] == "-w":
        args = [a for a in args if a not in ("-w", "resnet18")]
    res = _cli(*args, *change)
    line = _one_error_line(res, "was made with other settings")
    assert needle in line and "use another -o or --study" in line
    assert _states(out) == before  # the study is untouched


def test_resume_with_the_same_settings_continues(tmp_path):
    out = tmp_path / "ex"
    args = ["explore", *BASE, "--space", "rows=8:64", "cols=8:64", "-s", "bandwidth=32",
            "--seed", "5", "-q", "-o", str(out)]
    assert main([*args, "--trials", "4"]) == 0
    first = [t.params for t in _study(out).trials]
    assert main([*args, "--trials", "7"]) == 0
    trials = _study(out).trials
    assert [t.params for t in trials[:4]] == first and len(trials) == 7
    assert {"rows", "cols"} >= set(trials[-1].params)


# ---------------------------------------------------------------------- warm start
def test_warm_start_larger_than_the_budget_says_what_it_queued(tmp_path, capsys):
    src = tmp_path / "src"
    assert main(["explore", *BASE, "--trials", "40", "--seed", "1", "-q", "-o",
                 str(src)]) == 0
    front = _rows(src / "pareto.csv")
    assert len(front) > 3
    capsys.readouterr()
    budget = 3
    dst = tmp_path / "dst"
    assert main(["explore", *BASE, "--trials", str(budget), "--seed", "2", "-q", "-o",
                 str(dst), "--warm-start", str(src)]) == 0
    printed = capsys.readouterr().out
    assert f"warm start: {budget} of {len(front)} Pareto design(s)" in printed
    assert f"({budget} completed now" in printed
    states = _states(dst)
    assert states == {"COMPLETE": budget}  # nothing WAITING or RUNNING is left behind
    seeded = [t for t in _study(dst).trials if "warm_start" in t.user_attrs]
    assert len(seeded) == budget
    # spread along the front: the first and the last design of pareto.csv are among them
    key = ("rows", "cols", "dataflow")
    ends = {tuple(str(front[i][f"param_{k}"]) for k in key) for i in (0, -1)}
    got = {tuple(str(t.params[k]) for k in key) for t in seeded}
    assert ends <= got


# ---------------------------------------------------------------------- signals
def _complete(folder: Path) -> int:
    if not (folder / "study.journal").exists():
        return 0
    try:
        return _states(folder).get("COMPLETE", 0)
    except KeyError:
        return 0


@pytest.mark.parametrize("sig,status,workers", [
    (signal.SIGINT, 130, 1),
    (signal.SIGTERM, 143, 1),
    (signal.SIGINT, 130, 2),
    (signal.SIGTERM, 143, 2),
])
def test_explore_stops_cleanly_on_a_signal(tmp_path, sig, status, workers):
    out = tmp_path / "x"
    cmd = [sys.executable, "-m", "accel_sim", "explore", "-w", "resnet50", "-d", "systolic",
           "--objectives", "latency,energy", "--trials", "5000", "--workers", str(workers),
           "-q", "-o", str(out)]
    # its own process group: Ctrl-C at a terminal reaches the whole group, workers included
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert wait_for(lambda: _complete(out) >= 5), proc.stderr.read()
        family = descendants(proc.pid)
        if workers > 1:
            assert len(family) >= workers
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        t0 = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == status, stderr
    assert took < 15, f"took {took:.1f} s to stop"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("accel-sim: interrupted ("), stderr
    assert "Traceback" not in stderr and "complete trial(s)" in lines[0]
    assert wait_for(lambda: not any(alive(p) for p in family), timeout=10), \
        "a worker outlived the command"
    states = _states(out)
    assert "RUNNING" not in states and "WAITING" not in states, states
    rows = _rows(out / "trials.csv")  # the outputs of what completed were written
    assert sum(r["state"] == "COMPLETE" for r in rows) == states["COMPLETE"] >= 5
    assert (out / "pareto.csv").exists()


def test_sigkill_with_workers_leaves_no_process_and_rerun_finishes_exactly(tmp_path):
    out = tmp_path / "k"
    n = 60
    cmd = [sys.executable, "-m", "accel_sim", "explore", "-w", "resnet50", "-d", "systolic",
           "--objectives", "latency,energy", "--trials", str(n), "--workers", "2", "-q",
           "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert wait_for(lambda: _complete(out) >= 8), proc.stderr.read()
        family = descendants(proc.pid)
        assert len(family) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # the workers die with their parent
    assert wait_for(lambda: not any(alive(p) for p in family), timeout=10)
    res = _cli(*cmd[3:])
    assert res.returncode == 0, res.stderr
    states = _states(out)
    assert states.get("COMPLETE") == n
    assert "RUNNING" not in states and "WAITING" not in states, states
    for t in _study(out).get_trials(states=(TrialState.FAIL,)):
        assert t.user_attrs.get("failed") or any(
            u.user_attrs.get("retry_of") == t.number for u in _study(out).trials)


def test_second_explore_on_a_busy_folder_refuses(tmp_path):
    out = tmp_path / "busy"
    cmd = [sys.executable, "-m", "accel_sim", "explore", "-w", "resnet50", "-d", "systolic",
           "--objectives", "latency,energy", "--trials", "5000", "-q", "-o", str(out)]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        assert wait_for(lambda: _complete(out) >= 2), first.stderr.read()
        before = _complete(out)
        res = _cli(*cmd[3:])
        line = _one_error_line(res, "is in use by another explore")
        assert str(out) in line and f"pid {first.pid}" in line
        assert first.poll() is None  # the first one runs on, finishing trials
        assert wait_for(lambda: _complete(out) > before)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143
    assert "RUNNING" not in _states(out)


# ---------------------------------------------------------------------- bad files
def test_plot_on_a_damaged_study_file_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "study.db").write_bytes(b"this is not a database\n" * 10)
    _one_error_line(_cli("plot", str(tmp_path / "a")), "not a SQLite database")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "study.journal").write_bytes(b"\x00\xff{not json\n" * 3)
    _one_error_line(_cli("plot", str(tmp_path / "b")), "study.journal")


@pytest.mark.parametrize("content,needle", [
    (b"\xff\xfe\x00\x01binary\x00", "not a text (UTF-8) YAML file"),
    (b"workload: resnet18\ndevice: systolic\ntrials: 3\ntrials: 5\n",
     "key 'trials' is given twice (line 3 and line 4)"),
    (b"workload: resnet18\ndevice: systolic\nspace:\n  rows: 8:16\n  rows: 32:64\n",
     "key 'rows' is given twice"),
    (b"workload: resnet18\nworkloads: [resnet50]\ndevice: systolic\n",
     "give workload or workloads, not both"),
    (b"workload: resnet18\ndevice: systolic\nheartbeat: fast\n",
     "heartbeat must be a number, float in [0.1, 3600] s; got 'fast'"),
    (b"workload: resnet18\ndevice: systolic\nobjectives: []\n",
     "give at least one objective"),
])
def test_bad_yaml_specs(tmp_path, content, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    _one_error_line(_cli("explore", str(spec), "-q", "-o", str(tmp_path / "o")), needle)
    assert not (tmp_path / "o").exists()


def test_python_api_misuse_gives_project_errors(tmp_path):
    from accel_sim.errors import AccelSimError
    from accel_sim.explore import Explorer, ExploreSpec

    for bad in (dict(workloads=("resnet18",), device="systolic", trials="5"),
                dict(workloads=("resnet18",), device="systolic", seed=-1),
                dict(workloads=("resnet18",), device=7),
                dict(workloads=(None,), device="systolic"),
                dict(workloads=("resnet18",), device="systolic", objectives=(3,)),
                dict(workloads=("resnet18",), device="systolic", objectives=3),
                dict(workloads=("resnet18",), device="systolic", constraints=5),
                dict(workloads=("resnet18",), device="systolic", space=["rows"])):
        with pytest.raises(AccelSimError):
            ExploreSpec(**bad)
    with pytest.raises(AccelSimError, match="Explorer takes an ExploreSpec"):
        Explorer({"device": "systolic"})  # type: ignore[arg-type]
    # strings are accepted where the Python API reads naturally
    spec = ExploreSpec(workloads="resnet18", device="systolic",
                       objectives=("latency", "energy"), constraints="area_mm2<=5",
                       output=tmp_path / "o")
    assert spec.workloads == ("resnet18",) and spec.constraints[0].name == "area_mm2<=5"


def test_designs_an_interruption_kept_from_running_run_on_resume(tmp_path):
    """Stopped in the middle of a warm start: the trial in flight and the designs still
    queued are failed (nothing stays RUNNING or WAITING), and the resumed study runs every
    one of them."""
    from accel_sim.errors import Interrupted
    from accel_sim.explore import Explorer, ExploreSpec

    src = tmp_path / "src"
    assert main(["explore", *BASE, "--trials", "40", "--seed", "1", "-q", "-o",
                 str(src)]) == 0
    front = _rows(src / "pareto.csv")
    assert len(front) >= 5
    spec = ExploreSpec(workloads=("resnet18",), device="systolic",
                       objectives=("latency", "energy", "area"), constraints="area_mm2<=20",
                       trials=len(front) + 3, seed=2, output=str(tmp_path / "dst"),
                       warm_start=str(src))
    ex = Explorer(spec)
    ex.check_metrics()  # its one evaluation of the default design is not a trial

    class StopAtThird:
        """The explorer's evaluator, interrupted (as SIGTERM does) in the third trial."""

        def __init__(self, inner):
            self.inner, self.space, self.calls = inner, inner.space, 0

        def __call__(self, config):
            self.calls += 1
            if self.calls == 3:
                raise Interrupted(15)
            return self.inner(config)

    ex.evaluator = StopAtThird(ex.evaluator)
    with pytest.raises(Interrupted) as info:
        ex.run(progress=False)
    assert "explore stopped with 2 complete trial(s)" in info.value.detail
    dst = tmp_path / "dst"
    states = _states(dst)
    assert states == {"COMPLETE": 2, "FAIL": len(front) - 2}, states
    fails = _study(dst).get_trials(states=(TrialState.FAIL,))
    assert {t.user_attrs["failed"] for t in fails} == {"interrupted", "not run: interrupted"}
    # the same command again: every warm-start design runs, then the sampler's trials
    res = Explorer(spec).run(progress=False)
    assert any("queued again" in n or "resuming" in n for n in res.notes), res.notes
    done = _study(dst).get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == spec.trials
    seeded = {tuple(sorted(t.params.items())) for t in done if "warm_start" in t.user_attrs}
    assert len(seeded) == len(front)
    assert not _study(dst).get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


def test_plot_of_a_missing_journal_creates_nothing(tmp_path):
    _one_error_line(_cli("plot", "explore", "--storage", str(tmp_path / "none.journal")),
                    "no such journal file")
    assert not list(tmp_path.iterdir())


def test_an_existing_sqlite_study_is_resumed_as_sqlite(tmp_path):
    out = tmp_path / "db"
    assert main(["explore", *BASE, "--trials", "3", "--storage", "sqlite", "-q", "-o",
                 str(out)]) == 0
    assert (out / "study.db").exists() and not (out / "study.journal").exists()
    assert main(["explore", *BASE, "--trials", "5", "-q", "-o", str(out)]) == 0  # no --storage
    assert not (out / "study.journal").exists()
    res = _cli("explore", *BASE, "--trials", "6", "--workers", "2", "-q", "-o", str(out))
    _one_error_line(res, "holds a SQLite study (study.db), and SQLite does not take "
                         "concurrent workers")
