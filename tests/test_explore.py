"""Explorer: space derivation, objectives and constraints, outputs, resume, warm start,
workers, YAML specs and bad input."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FixedTrial, TrialState

from accel_sim import Config, get_device, param
from accel_sim.cli import main
from accel_sim.devices.systolic import SystolicConfig
from accel_sim.errors import AccelSimError, ConfigError
from accel_sim.explore import (
    Constraint,
    ExploreSpec,
    Objective,
    SearchSpace,
    hypervolume,
    pareto_mask,
)


def _study(folder, name="explore"):
    """The study in an explore output folder, read through its journal (no lock taken)."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = folder / "study.journal"
    assert path.exists(), f"no study.journal in {folder}"
    return optuna.load_study(study_name=name,
                             storage=JournalStorage(JournalFileBackend(str(path))))


# ---------------------------------------------------------------------- space
def test_space_comes_from_the_declaration():
    space = SearchSpace(SystolicConfig)
    searchable = [s.name for s in SystolicConfig.specs() if s.search]
    assert list(space.names) == searchable
    dims = {d.name: d.distribution for d in space.dimensions}
    assert dims["dataflow"] == CategoricalDistribution(["os", "ws", "is"])
    assert dims["rows"] == IntDistribution(1, 4096, log=True)
    assert "clock_mhz" not in dims and "memory_model" not in dims  # search=False constants


def test_space_subset_narrowing_choices_and_fixed():
    space = SearchSpace(SystolicConfig, {"rows": "8:64", "cols": "16,32", "dataflow": ""},
                        {"ifmap_sram_kb": "128"})
    assert space.names == ("dataflow", "rows", "cols")
    dims = {d.name: d.distribution for d in space.dimensions}
    assert dims["rows"] == IntDistribution(8, 64, log=True)
    assert dims["cols"] == CategoricalDistribution([16, 32])
    cfg = space.config(space.suggest(FixedTrial({"dataflow": "os", "rows": 10, "cols": 32})))
    assert (cfg.rows, cfg.cols, cfg.ifmap_sram_kb) == (10, 32, 128)


@pytest.mark.parametrize("overrides,fixed,needle", [
    ({"rows": "64:8"}, {}, "empty or inverted range"),
    ({"rows": "8:8"}, {}, "empty or inverted range"),
    ({"rows": "0:8"}, {}, "rows=0 is out of range: int in [1, 4096]"),
    ({"rows": "8:99999"}, {}, "out of range"),
    ({"dataflow": "os:ws"}, {}, "a range needs a numeric parameter"),
    ({"dataflow": "os,xs"}, {}, "dataflow='xs' is not allowed"),
    ({"rowz": "8:16"}, {}, "unknown parameter 'rowz'"),
    ({"rows": "8:16"}, {"rows": "8"}, "both searched"),
    ({"cols": ""}, {"bandwidth": "abc"}, "is not a number"),
])
def test_space_bad_input(overrides, fixed, needle):
    with pytest.raises(AccelSimError) as info:
        SearchSpace(SystolicConfig, overrides, fixed)
    assert needle in str(info.value)


@dataclass(frozen=True)
class _CondConfig(Config):
    """A configuration with a conditional parameter."""

    mode: str = param("a", choices=("a", "b"), doc="Mode.")
    b_only: int = param(1, low=1, high=8, active_if=("mode", ("b",)), doc="Used in mode b.")


def test_conditional_parameters_are_suggested_only_when_active():
    space = SearchSpace(_CondConfig)
    assert space.suggest(FixedTrial({"mode": "a", "b_only": 3})) == {"mode": "a"}
    assert space.suggest(FixedTrial({"mode": "b", "b_only": 3})) == {"mode": "b", "b_only": 3}


# ---------------------------------------------------------------------- objectives
def test_objectives_and_constraints_parse():
    assert Objective.parse("latency") == Objective("latency", "latency_s", "minimize")
    assert Objective.parse("accuracy").direction == "maximize"
    # other metrics take the direction their producer declares
    assert Objective.parse("stall_cycles") == Objective("stall_cycles", "stall_cycles", None)
    systolic = get_device("systolic").metric_table()
    assert Objective.parse("stall_cycles").resolved(systolic).direction == "minimize"
    assert Objective.parse("mapping_efficiency").resolved(systolic).direction == "maximize"
    with pytest.raises(ConfigError, match="'feasible' is not an objective"):
        Objective.parse("feasible").resolved(systolic)
    spec = ExploreSpec(workloads=("resnet18",), device="systolic",
                       objectives=("latency", "compute_utilization"))
    assert [o.direction for o in spec.objectives] == ["minimize", "maximize"]
    served = ExploreSpec(device="duplex", serve=True,
                         objectives=("throughput_req_s", "energy_per_token_j"))
    assert [o.direction for o in served.objectives] == ["maximize", "minimize"]
    c = Constraint.parse("area <= 50")
    assert (c.metric, c.op, c.bound, c.name) == ("area_mm2", "<=", 50.0, "area_mm2<=50")
    assert c.violation({"area_mm2": 60.0}) == 10.0
    assert Constraint.parse("utilization>=0.5").violation({"utilization": 0.7}) < 0
    for bad in ("area", "area=50", "<=3", "area<=fifty"):
        with pytest.raises(ConfigError, match="expected METRIC<=VALUE"):
            Constraint.parse(bad)


# ---------------------------------------------------------------------- pareto/HV
def test_pareto_mask_and_hypervolume_2d():
    pts = np.array([[1, 3], [2, 2], [3, 1], [3, 3], [2, 2]], float)
    assert pareto_mask(pts).tolist() == [True, True, True, False, False]
    # union of boxes up to (4, 4): 3 + 2*2 ... computed by hand: 1*1 + 2*2 + 3*3 - overlaps
    assert hypervolume(pts, np.array([4.0, 4.0])) == pytest.approx(6.0)
    assert hypervolume(pts, np.array([0.5, 0.5])) == 0.0


def test_pareto_mask_large_inputs_agree_with_all_pairs():
    rng = np.random.default_rng(7)
    pts = rng.integers(0, 10, size=(3000, 3)).astype(float)
    big = pareto_mask(pts)  # lexicographic sweep (more than 1024 points)
    small = np.unique(pts, axis=0)  # at most 10^3 distinct points: the all-pairs path
    assert len(small) <= 1000
    front = {tuple(x) for x in pts[big]}
    assert front == {tuple(x) for x in small[pareto_mask(small)]}
    assert len(front) == int(big.sum())  # one of each set of equal points


@pytest.mark.parametrize("dims", [3, 4])
def test_hypervolume_matches_cell_counting(dims):
    rng = np.random.default_rng(dims)
    pts = rng.integers(0, 6, size=(12, dims)).astype(float)
    ref = np.full(dims, 6.0)
    cells = itertools.product(range(6), repeat=dims)
    count = sum(1 for c in cells if np.any(np.all(pts <= np.array(c), axis=1)))
    assert hypervolume(pts, ref) == pytest.approx(count)


# ---------------------------------------------------------------------- end to end
def _explore(tmp_path, *extra, trials=12, out="ex"):
    return main(["explore", "-w", "resnet18", "-d", "systolic", "--objectives",
                 "latency,energy,area", "--constraint", "area_mm2<=20", "--trials", str(trials),
                 "--seed", "3", "-q", "-o", str(tmp_path / out), *extra])


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_explore_writes_outputs_and_resumes(tmp_path, capsys):
    assert _explore(tmp_path) == 0
    out = tmp_path / "ex"
    for name in ("trials.csv", "pareto.csv", "hypervolume.csv", "pareto.png",
                 "hypervolume.png", "study.journal"):
        assert (out / name).exists(), name
    trials = _rows(out / "trials.csv")
    assert len(trials) == 12 and all(r["state"] == "COMPLETE" for r in trials)
    for r in trials:
        assert float(r["objective_latency"]) == float(r["latency_s"])
        assert (r["feasible"] == "True") == (float(r["area_mm2"]) <= 20)
        assert float(r["sampler_time_s"]) >= 0
    front = _rows(out / "pareto.csv")
    assert front and all(r["feasible"] == "True" for r in front)
    pts = np.array([[float(r[f"objective_{o}"]) for o in ("latency", "energy", "area")]
                    for r in front])
    assert pareto_mask(pts).all()
    hv = _rows(out / "hypervolume.csv")
    vals = [float(r["hypervolume"]) for r in hv]
    assert vals == sorted(vals) and vals[-1] > 0
    assert {"ref_latency", "ref_energy", "ref_area"} <= set(hv[0])
    printed = capsys.readouterr().out
    assert "Pareto" in printed or "latency" in printed
    first = {r["trial"]: r["param_rows"] for r in trials}
    # same command, bigger budget: continues the study
    assert _explore(tmp_path, trials=16) == 0
    trials2 = _rows(out / "trials.csv")
    assert len(trials2) == 16
    assert {r["trial"]: r["param_rows"] for r in trials2[:12]} == first
    # a budget the study already meets runs nothing, and says so
    capsys.readouterr()
    assert _explore(tmp_path, trials=10) == 0
    printed = capsys.readouterr().out
    assert "(0 completed now" in printed
    assert "already holds 16 complete trials, at least --trials 10" in printed
    assert len(_rows(out / "trials.csv")) == 16
    # redraw from the study
    for name in ("pareto.png", "trials.csv"):
        (out / name).unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "pareto.png").exists() and len(_rows(out / "trials.csv")) == 16


def test_plot_draws_the_front_in_parallel_coordinates_and_importances(tmp_path, monkeypatch):
    """`accel-sim plot` adds parallel.png (one axis per parameter and objective, with units)
    and fANOVA importances: shares of each objective's variance that sum to 1; the systolic
    array's area does not depend on its dataflow."""
    import matplotlib.figure

    assert _explore(tmp_path, "--space", "rows=8:256", "cols=8:256", "dataflow",
                    trials=30) == 0
    out = tmp_path / "ex"
    saved: list = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, path, **k: (saved.append((fig, str(path))),
                                                real(fig, path, **k)))
    assert main(["plot", str(out)]) == 0
    figs = {os.path.basename(p): f for f, p in saved}
    ticks = [t.get_text() for t in figs["parallel.png"].axes[0].get_xticklabels()]
    assert "rows\n[PEs]" in ticks and "latency\n[s]" in ticks and "area\n[mm^2]" in ticks
    imp = _rows(out / "importance.csv")
    by: dict[str, dict[str, float]] = {}
    for r in imp:
        by.setdefault(r["objective"], {})[r["parameter"]] = float(r["importance"])
    assert set(by) == {"latency", "energy", "area"}
    for vals in by.values():
        assert sum(vals.values()) == pytest.approx(1.0) and min(vals.values()) >= 0
    assert by["area"]["dataflow"] < 0.1 < by["area"]["rows"] + by["area"]["cols"]
    assert (out / "importance.png").exists() and (out / "parallel.png").exists()


def test_importances_skip_a_constant_objective_and_axes_keep_numbers(tmp_path):
    import optuna

    from accel_sim.explore import collect
    from accel_sim.explore._outputs import _axis_values, write_study_plots

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) ** 2 + t.suggest_int("y", 1, 4),
                              2.0), n_trials=12)
    data = collect(study, ["a", "b"], ["minimize", "minimize"])
    paths, notes = write_study_plots(study, data, tmp_path)
    assert "importance.csv" in paths and any("no importances for b" in n for n in notes)
    assert {r["objective"] for r in _rows(tmp_path / "importance.csv")} == {"a"}
    # a parameter missing on some rows (another device's) keeps its axis numeric
    v, labels = _axis_values([{"p": 128}, {"p": 1024}, {"p": None}, {"p": 16}], "p")
    assert labels is None and np.isnan(v[2]) and list(v[[0, 1, 3]]) == [128, 1024, 16]


def test_same_seed_same_trials(tmp_path):
    assert _explore(tmp_path, out="a") == 0
    assert _explore(tmp_path, out="b") == 0
    a = [r["param_rows"] for r in _rows(tmp_path / "a" / "trials.csv")]
    b = [r["param_rows"] for r in _rows(tmp_path / "b" / "trials.csv")]
    assert a == b


def test_other_objectives_refused_and_study_untouched(tmp_path):
    assert _explore(tmp_path) == 0
    before = len(_study(tmp_path / "ex").trials)
    res = subprocess.run([sys.executable, "-m", "accel_sim", "explore", "-w", "resnet18", "-d",
                          "systolic", "--objectives", "latency,area", "--trials", "20", "-q",
                          "-o", str(tmp_path / "ex")], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "was made with other settings" in res.stderr and len(res.stderr.splitlines()) == 1
    assert "objectives: study has latency,energy,area, asked latency,area" in res.stderr
    assert len(_study(tmp_path / "ex").trials) == before


@pytest.mark.parametrize("args,needle", [
    (["--objectives", "latency,accuracy"], "objective metric 'accuracy' is not produced by "
                                           "device 'systolic'"),
    (["--objectives", "latency,speed"], "objective metric 'speed' is not produced"),
    (["--constraint", "power_w<=3"], "constraint metric 'power_w' is not produced"),
    (["--constraint", "area=3"], "expected METRIC<=VALUE"),
    (["--space", "rows=64:8"], "empty or inverted range"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "cannot open the storage"),
    (["--storage", "sqlite:////nonexistent/dir/x.db"], "cannot open the storage"),
    (["--sampler", "grid"], "--sampler grid needs finite values"),
    (["--trials", "0"], "--trials=0 is out of range: int in [1, 10000000]"),
    (["--trials", "many"], "--trials='many' is not a number"),
    (["--heartbeat", "0"], "--heartbeat=0.0 is out of range: float in [0.1, 3600]"),
    (["--objectives", "latency,feasible"], "'feasible' is not an objective"),
    (["--objectives", "latency,latency"], "repeated objective"),
    (["--warm-start", "/nonexistent/trials.csv"], "cannot read"),
    (["--warm-start", "no_such_study"], "no such study, folder or .csv file"),
    (["--workers", "2", "--storage", "sqlite:///x.db"], "SQLite does not take concurrent"),
    (["--workers", "2", "--storage", "sqlite"], "--storage sqlite does not take concurrent"),
    (["--seed", "-1"], "--seed=-1 is out of range: int in [0, 4294967295]"),
    (["--seed", "4294967296"], "out of range: int in [0, 4294967295]"),
    (["--objectives", ""], "give at least one objective with --objectives"),
    (["--objectives", ","], "give at least one objective"),
    (["-s", "rows=8", "-s", "rows=64"], "-s rows: given twice"),
    (["--space", "rows=8:16", "rows=32:64"], "--space rows: given twice"),
    (["--warm-start", "MISSING"], "--warm-start MISSING: no such study, folder or .csv file"),
])
def test_explore_bad_input(tmp_path, args, needle):
    res = subprocess.run([sys.executable, "-m", "accel_sim", "explore", "-w", "resnet18", "-d",
                          "systolic", "-q", "-o", str(tmp_path / "o"), *args],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    # a refused run creates nothing: no output folder, no study file
    assert not (tmp_path / "o").exists(), sorted(os.listdir(tmp_path / "o"))


def test_plot_bad_input(tmp_path):
    res = subprocess.run([sys.executable, "-m", "accel_sim", "plot", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "no study.db or study.journal" in res.stderr


def test_grid_sampler_and_yaml_spec(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "workload: resnet18\ndevice: systolic\nobjectives: [latency, energy]\n"
        "space:\n  rows: [16, 32]\n  cols: [16, 32]\n  dataflow: [os, ws]\n"
        "sampler: grid\ntrials: 100\nseed: 1\n")
    assert main(["explore", str(spec), "--trials", "8", "-q", "-o", str(tmp_path / "g")]) == 0
    rows = _rows(tmp_path / "g" / "trials.csv")
    combos = {(r["param_rows"], r["param_cols"], r["param_dataflow"]) for r in rows}
    assert len(rows) == 8 and len(combos) == 8  # the whole 2x2x2 grid, each point once


def test_warm_start_from_previous_output(tmp_path):
    assert _explore(tmp_path, out="src") == 0
    front = _rows(tmp_path / "src" / "pareto.csv")
    assert main(["explore", "-w", "resnet18", "-d", "systolic", "--objectives",
                 "latency,energy,area", "--constraint", "area_mm2<=10", "--trials",
                 str(len(front) + 2), "--seed", "9", "-q", "-o", str(tmp_path / "dst"),
                 "--warm-start", str(tmp_path / "src")]) == 0
    trials = _study(tmp_path / "dst").trials
    seeded = [t for t in trials if "warm_start" in t.user_attrs]
    assert len(seeded) == len(front)
    assert [t.number for t in seeded] == list(range(len(front)))  # evaluated first
    want = {(r["param_rows"], r["param_cols"], r["param_dataflow"]) for r in front}
    got = {(str(t.params["rows"]), str(t.params["cols"]), t.params["dataflow"])
           for t in seeded}
    assert got == want


def test_two_local_workers_share_a_journal_study(tmp_path):
    n = 60  # enough trials that the second worker is up before the first one is done
    assert _explore(tmp_path, "--workers", "2", trials=n, out="w2") == 0
    out = tmp_path / "w2"
    assert (out / "study.journal").exists() and not (out / "study.db").exists()
    rows = _rows(out / "trials.csv")
    done = [r for r in rows if r["state"] == "COMPLETE"]
    states = sorted((r["trial"], r["state"], r.get("worker"), r.get("failed", "")) for r in rows)
    # exactly the budget: the workers reserve a slot before they ask for a trial
    assert len(done) == n, states
    assert not [r for r in rows if r["state"] in ("RUNNING", "WAITING")], states
    assert {r["worker"] for r in done} == {"0", "1"}, states


def _completed(folder) -> int:
    """Complete trials in an explore folder's journal, read without a lock (0 before the
    study exists)."""
    try:
        study = _study(folder)
    except (AssertionError, KeyError):
        return 0
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def test_sigkill_loses_no_completed_trial_and_resume_finishes(tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "accel_sim", "explore", "-w", "resnet50", "-d", "systolic",
           "--objectives", "latency,energy", "--trials", "400", "-q", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        time.sleep(0.3)
        done = _completed(out)
        if done >= 15:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert done >= 15, proc.stderr.read().decode()
    kept = {t.number: t.params for t in _study(out).get_trials(states=(TrialState.COMPLETE,))}
    assert len(kept) >= done
    assert main(["explore", "-w", "resnet50", "-d", "systolic", "--objectives",
                 "latency,energy", "--trials", str(len(kept) + 5), "-q", "-o", str(out)]) == 0
    study = _study(out)
    after = {t.number: t.params for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert len(after) == len(kept) + 5
    assert all(after[n] == p for n, p in kept.items())
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    for t in study.get_trials(states=(TrialState.FAIL,)):  # a killed trial is run again
        assert any(u.user_attrs.get("retry_of") == t.number for u in study.trials)


def test_trials_csv_metrics_are_json_numbers(tmp_path):
    assert _explore(tmp_path, trials=3) == 0
    study = _study(tmp_path / "ex")
    metrics = study.trials[0].user_attrs["metrics"]
    json.dumps(metrics)
    assert metrics["macs"] > 0 and "energy_dram_j" in metrics
    assert os.path.getsize(tmp_path / "ex" / "pareto.png") > 1000


def test_explore_training_flag_evaluates_a_training_step(tmp_path):
    from accel_sim.explore import Explorer, ExploreSpec

    spec = ExploreSpec(workloads=("digits_mlp",), device="sat", training=True, trials=3,
                       output=str(tmp_path / "o"), sampler="random",
                       fixed={"mode": "dense"})
    ev = Explorer(spec)
    phases = {lay.phase.value for t in ev.evaluator.traces for lay in t.layers}
    assert {"backward_data", "backward_weight", "update"} <= phases
    assert spec.describe()["training"] is True
    assert "training" not in spec.replace(training=False).describe()


def test_storage_open_retries_while_another_process_creates_the_schema(monkeypatch, tmp_path):
    from accel_sim.explore import _storage as _run

    calls = []

    class OperationalError(Exception):
        pass

    def flaky(url, **kwargs):
        calls.append(url)
        if len(calls) < 3:
            raise OperationalError("(sqlite3.OperationalError) table trial_values already exists")
        return "storage"

    monkeypatch.setattr(_run, "HeartbeatRDBStorage", flaky)
    monkeypatch.setattr(_run.time, "sleep", lambda s: None)
    assert _run.rdb_storage(f"sqlite:///{tmp_path}/s.db", 5.0) == "storage" and len(calls) == 3

    def broken(url, **kwargs):
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(_run, "HeartbeatRDBStorage", broken)
    with pytest.raises(ConfigError, match="unable to open database file"):
        _run.rdb_storage(f"sqlite:///{tmp_path}/s.db", 5.0)
