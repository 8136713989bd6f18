"""What users see: units on every header, axis and printed figure; progress bars on slow work
(drawn when forced or on a terminal, never with -q or into a pipe)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from accel_sim import make_device, progress_enabled
from accel_sim._progress import progress_bar, track
from accel_sim._registry import available_devices
from accel_sim._units import ACCURACY_UNITS, axis_label, column_label, metric_unit
from accel_sim.cli import main
from accel_sim.errors import ConfigError
from accel_sim.explore._spec import OBJECTIVE_ALIASES

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "reproductions"


# ---------------------------------------------------------------------- units
@pytest.mark.parametrize("name, unit", [
    ("latency_s", "s"), ("tbt_p99_s", "s"), ("energy_j", "J"), ("energy_sram_j", "J"),
    ("area_mm2", "mm^2"), ("power_w", "W"), ("edp_js", "J*s"), ("throughput_tops", "TOPS"),
    ("throughput_tok_s", "tok/s"), ("throughput_req_s", "req/s"),
    ("energy_per_token_j", "J/token"), ("energy_dynamic_per_token_j", "J/token"),
    ("dram_bytes", "B"), ("onchip_mib", "MiB"), ("effective_gflops", "GFLOP/s"),
    ("peak_fp16_tflops", "TFLOP/s"), ("hbm_gbps", "GB/s"),
    ("cycles", "cycles"), ("stall_cycles", "cycles"), ("macs", "MACs"),
    ("executed_macs", "MACs"), ("flops", "FLOPs"), ("utilization", "fraction"),
    ("sram_ifmap_reads", "words"), ("violation_fpga_dsp", "fraction over the limit"),
    ("objective_latency", "s"), ("ref_energy", "J"), ("latency", "s"), ("area", "mm^2"),
    ("no_such_metric", ""),
])
def test_metric_unit(name, unit):
    assert metric_unit(name) == unit


def test_declared_units_come_first():
    """A device's declaration gives the unit of a name the naming convention does not know."""
    from accel_sim import get_device

    assert metric_unit("gflops_per_w") == "W"  # the convention reads the suffix only
    sat = get_device("sat").metric_table()
    assert metric_unit("gflops_per_w", metrics=sat) == "GFLOP/s/W"
    assert metric_unit("objective_gflops_per_w", metrics=sat) == "GFLOP/s/W"
    assert metric_unit("mapping_efficiency") == ""
    assert metric_unit("mapping_efficiency",
                       metrics=get_device("systolic").metric_table()) == "fraction"


def test_accuracy_unit_depends_on_the_task():
    assert metric_unit("accuracy") == ACCURACY_UNITS["classification"] == "fraction correct"
    assert metric_unit("accuracy", task="dqn") == "mean episode return"
    with pytest.raises(ConfigError, match="task"):
        metric_unit("accuracy", task="regression")


def test_objective_aliases_have_the_unit_of_their_metric():
    for alias, (metric, _) in OBJECTIVE_ALIASES.items():
        assert metric_unit(alias) == metric_unit(metric) != "", alias


@pytest.mark.parametrize("args, label", [
    (("latency", "minimize"), "latency [s] (lower is better)"),
    (("throughput_tok_s", "maximize"), "throughput_tok_s [tok/s] (higher is better)"),
    (("energy_j", None), "energy_j [J]"),
    (("no_such_metric", "minimize"), "no_such_metric (lower is better)"),
])
def test_axis_label(args, label):
    assert axis_label(*args) == label


def test_axis_label_rejects_a_bad_direction_and_takes_a_unit():
    with pytest.raises(ConfigError, match="direction"):
        axis_label("latency", "min")
    assert column_label("util", "%") == "util [%]"
    assert axis_label("x", "maximize", unit="ratio") == "x [ratio] (higher is better)"


def _summaries():
    """Summary metrics of every built-in device (small workloads) and of a serving run."""
    from accel_sim.serving import ServeConfig, serve
    from workloads import load_workload

    replay = "replay:capacity=1000,batch=32"
    llm = "llm_iteration:model=mixtral_8x7b,batch=8,kv_len=512"
    out = {}
    for name, cls in available_devices().items():
        if not cls.__module__.startswith("accel_sim."):
            continue  # a test plug-in
        if name in ("amper", "per_gpu", "per_cpu"):
            wl = replay
        elif name in ("systolic", "gpu", "analog", "sat", "learning_group"):
            wl = "dqn_mlp"  # not a digits network: no accuracy training in this test
        else:
            wl = llm
        out[name] = make_device(name).evaluate(load_workload(wl)).summary()
    out["serve"] = dict(serve(ServeConfig(requests=20, batch=8, lin=64, lout=16),
                              "duplex").summary)
    return out


def test_every_numeric_metric_of_every_device_has_a_unit():
    """From the producer's declarations (the device's metric table, the server's)."""
    from accel_sim.serving import SERVING_METRICS

    tables = {name: cls.metric_table() for name, cls in available_devices().items()}
    tables["serve"] = SERVING_METRICS
    missing = {(dev, k) for dev, s in _summaries().items() for k, v in s.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k != "seed" and not metric_unit(k, metrics=tables[dev])}
    assert not missing, sorted(missing)


# ---------------------------------------------------------------------- explore outputs
def _labels(fig):
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.axison]


def test_explore_plots_and_table_carry_units_and_directions(tmp_path, capsys):
    import optuna

    from accel_sim.explore._outputs import (
        collect,
        hypervolume_figure,
        pareto_figure,
        pareto_table,
    )

    out = tmp_path / "ex"
    assert main(["explore", "-w", "digits_mlp", "-d", "systolic", "--objectives",
                 "latency,energy,area", "--space", "rows=8:64", "cols=8:64", "--trials", "8",
                 "--sampler", "random", "--seed", "1", "-q", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    from accel_sim.explore._storage import journal_storage

    study = optuna.load_study(study_name="explore",
                              storage=journal_storage(str(out / "study.journal")))
    data = collect(study, ["latency", "energy", "area"], ["minimize"] * 3)
    fig = pareto_figure(data)
    labels = {lab for pair in _labels(fig) for lab in pair}
    plt.close(fig)
    for want in ("latency [s] (lower is better)", "energy [J] (lower is better)",
                 "area [mm^2] (lower is better)"):
        assert want in labels
    fig = hypervolume_figure(data)
    (_, ylabel), = _labels(fig)
    plt.close(fig)
    assert ylabel == "hypervolume [s*J*mm^2] (higher is better)"
    table = pareto_table(data)
    head = table.splitlines()[0]
    assert "latency [s]" in head and "energy [J]" in head and "area [mm^2]" in head
    spec = make_device("systolic").Config.spec("rows")
    assert f"rows [{spec.unit}]" in head  # parameters: the device's declared unit
    assert head in printed  # the CLI prints the same table
    # CSV column names stay as they were
    with open(out / "pareto.csv") as fh:
        assert {"objective_latency", "latency_s", "param_rows"} <= set(next(csv.reader(fh)))


def test_explore_accuracy_unit_follows_the_workload():
    import optuna

    from accel_sim.explore._outputs import collect, pareto_figure

    study = optuna.create_study(directions=["minimize", "maximize"])
    study.set_user_attr("accel_sim", {"device": "amper", "workloads": [
        "replay:capacity=1000,batch=32,env=cartpole"], "metrics": ["latency_s", "accuracy"]})
    for lat, acc in ((1e-6, 20.0), (2e-6, 30.0), (3e-6, 25.0)):
        t = study.ask()
        t.suggest_int("k", 1, 4)
        study.tell(t, [lat, acc])
    data = collect(study, ["latency", "accuracy"], ["minimize", "maximize"])
    fig = pareto_figure(data)
    (xlabel, ylabel), = _labels(fig)
    plt.close(fig)
    assert xlabel == "latency [s] (lower is better)"
    assert ylabel == "accuracy [mean episode return] (higher is better)"


# ---------------------------------------------------------------------- reproduction plots
def _read(path: Path) -> list[dict]:
    def conv(v: str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f

    with open(path, newline="") as fh:
        return [{k: conv(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _figures(monkeypatch, draw) -> list:
    """The figures ``draw()`` saves (recorded instead of written)."""
    saved: list = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda fig, *a, **k: saved.append(fig))
    before = set(plt.get_fignums())
    draw()
    assert saved
    assert set(plt.get_fignums()) == before  # library figures stay out of pyplot
    return saved


def _has_unit(label: str) -> bool:
    return "[" in label and "]" in label


def _check_units(figs) -> list[str]:
    """Every axes with data has a y label with a unit; the lowest one an x label with a unit."""
    ylabels = []
    for fig in figs:
        axes = [ax for ax in fig.axes if ax.axison and (ax.lines or ax.patches
                                                         or ax.collections)]
        assert axes
        for ax in axes:
            assert _has_unit(ax.get_ylabel()), ax.get_ylabel()
            ylabels.append(ax.get_ylabel())
        lowest = min(axes, key=lambda a: a.get_position().y0)
        assert _has_unit(lowest.get_xlabel()), lowest.get_xlabel()
        plt.close(fig)
    return ylabels


def test_duplex_plots_have_units_and_readable_labels(monkeypatch):
    from accel_sim.reproduce import duplex

    src = DOCS / "duplex"
    grid = _read(src / "throughput.csv")
    figs = _figures(monkeypatch, lambda: (
        duplex._plot_opb(_read(src / "opb.csv"), "x.png"),
        duplex._plot_throughput(grid, "x.png"),
        duplex._plot_energy(grid, "x.png"),
        duplex._plot_load(_read(src / "load.csv"), "x.png")))
    thr = figs[1]
    assert len(thr.axes) == len({r["model"] for r in grid})  # one panel per model
    for ax in thr.axes:  # tick labels are lengths, not 45 concatenated conditions
        assert {t.get_text() for t in ax.get_xticklabels()} <= {str(r["lin"]) for r in grid}
    assert "higher is better" in thr._suptitle.get_text()
    ylabels = _check_units(figs)
    assert any("lower is better" in y for y in ylabels)


def test_analog_xiao_plot_units_and_flat_panels_explained(monkeypatch):
    from accel_sim.reproduce import analog_xiao

    ideal = 0.98
    sweeps = {"adc_bits": {"proportional": {3: 0.2, 6: 0.9, 8: ideal}},
              "rows": {"proportional, 8 bits/cell": {72: ideal, 1152: ideal + 1 / 450}},
              "prog_error": {"proportional, independent": {0.0: ideal, 0.2: 0.3}},
              "slices": {"proportional": {1: ideal, 8: ideal}},
              "rp_norm": {"proportional": {0.0: ideal, 1e-3: 0.1}}}
    fig = analog_xiao._figure(sweeps, ideal, 450)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 5
    for ax in panels:
        assert _has_unit(ax.get_xlabel()) and "higher is better" in ax.get_ylabel()
    titles = [ax.get_title() for ax in panels]
    assert [("flat" in t) for t in titles] == [False, True, False, True, False]
    texts = " ".join(t.get_text() for ax in panels for t in ax.texts)
    assert "512 rows" in texts  # why the rows panel is flat
    plt.close(fig)


@pytest.mark.parametrize("name", ["amper", "sat", "learning-group"])
def test_reproduction_plots_have_units(monkeypatch, name, tmp_path):
    from accel_sim.reproduce import amper, learning_group, sat

    src = DOCS / name
    if name == "amper":
        draw = lambda: amper._plots(_read(src / "latency.csv"),  # noqa: E731
                                    _read(src / "learning.csv"), str(tmp_path))
    elif name == "sat":
        acc = [tuple(r.values()) for r in _read(src / "accuracy.csv")]
        draw = lambda: sat._plots(_read(src / "speedups.csv"), acc, str(tmp_path))  # noqa: E731
    else:
        acc = [tuple(r.values()) for r in _read(src / "accuracy.csv")]
        draw = lambda: learning_group._plots(_read(src / "sweep.csv"), acc,  # noqa: E731
                                             str(tmp_path))
    _check_units(_figures(monkeypatch, draw))


# ---------------------------------------------------------------------- CLI tables
def test_run_prints_units_and_accuracy_of_analog_digits(tmp_path, capsys):
    assert main(["run", "-w", "digits_mlp", "-d", "analog", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    for col in ("MACs", "cycles", "latency [s]", "energy [J]", "util [%]"):
        assert col in head
    assert "area:" in out and "mm^2" in out
    acc = json.loads((tmp_path / "summary.json").read_text())["accuracy"]
    line = next(x for x in out.splitlines() if x.startswith("accuracy:"))
    assert f"{acc:.4f}" in line and "fraction correct" in line


@pytest.mark.parametrize("device", ["per_cpu", "per_gpu", "amper"])
def test_replay_devices_print_no_utilisation(tmp_path, capsys, device):
    assert main(["run", "-w", "replay:capacity=1000,batch=32", "-d", device,
                 "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert "latency [s]" in head and "energy [J]" in head
    assert "util" not in out and "MACs" not in head
    with open(tmp_path / "layers.csv") as fh:  # still in the file
        assert "utilization" in next(csv.reader(fh))


def test_serve_summary_lines_carry_units(tmp_path, capsys):
    assert main(["serve", "-m", "mixtral_8x7b", "-d", "duplex", "--batch", "8", "--lin", "64",
                 "--lout", "16", "--requests", "20", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for unit in ("tok/s", "J/token", " W", "requests", "tokens", " s "):
        assert unit in out, unit
    s = json.loads((tmp_path / "summary.json").read_text())
    assert f"{s['throughput_tok_s']:,.1f} tok/s" in out


def test_help_says_which_modes_are_slow(capsys):
    for cmd in ("scalesim", "serve", "reproduce", "run"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split()).lower()
        assert "-q" in text and ("slow" in text or "minutes" in text), cmd
    with pytest.raises(SystemExit):
        main(["scalesim", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "demand matrices" in text


# ---------------------------------------------------------------------- progress
SERVE = ["serve", "-m", "mixtral_8x7b", "-d", "duplex", "--batch", "16", "--lin", "64",
         "--lout", "32", "--requests", "200"]


def test_progress_bar_when_forced_none_with_q_or_into_a_pipe(tmp_path, capsys):
    with progress_enabled(True):
        assert main([*SERVE, "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "serve mixtral_8x7b on duplex" in err and "/200" in err and "req" in err
    with progress_enabled(True):
        assert main([*SERVE, "-q", "-o", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""
    assert main([*SERVE, "-o", str(tmp_path / "c")]) == 0  # auto: stderr is not a terminal
    assert capsys.readouterr().err == ""


def test_exact_scalesim_memory_model_shows_progress_per_layer(tmp_path, capsys, shared):
    topo = tmp_path / "topo.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n"
                    "c1, 16, 16, 3, 3, 8, 16, 1,\nc2, 14, 14, 3, 3, 16, 16, 1,\n")
    cfg = shared / "data" / "scalesim" / "configs" / "scale.cfg"
    args = ["scalesim", "-c", str(cfg), "-t", str(topo), "-o", str(tmp_path / "o")]
    with progress_enabled(True):
        assert main(args) == 0
    cap = capsys.readouterr()
    assert "SCALE-Sim memory model" in cap.err and "/2 " in cap.err and "layer" in cap.err
    assert "2 layers" in cap.out and "cycles" in cap.out
    with progress_enabled(True):
        assert main([*args, "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_only_the_outermost_bar_is_drawn(capsys):
    with progress_enabled(True):
        with progress_bar(2, desc="outer-bar") as bar:
            assert list(track(range(3), desc="inner-bar")) == [0, 1, 2]
            bar.update(2)
        assert list(track(range(2), desc="after-bar")) == [0, 1]
    err = capsys.readouterr().err
    assert "outer-bar" in err and "after-bar" in err and "inner-bar" not in err


def test_dqn_accuracy_evaluation_shows_progress(capsys):
    from accel_sim.replay import learning_return

    with progress_enabled(True):
        r = learning_return("cartpole", "uniform", (), capacity=500, batch=16, steps=1000,
                            runs=1, seed=12345)
    assert math.isfinite(r)
    err = capsys.readouterr().err
    assert "DQN cartpole" in err and "1000/1000" in err


def test_hypervolume_unit_is_the_product_of_the_objective_units():
    from accel_sim.explore._outputs import ExplorationData

    empty = np.zeros((0, 2))
    data = ExplorationData(("latency", "throughput_tok_s"), ("minimize", "maximize"), (),
                           empty, np.zeros(0, int), np.zeros(0, bool), np.zeros(0, bool),
                           np.zeros(2), np.zeros(0))
    assert data.hypervolume_unit() == "s*(tok/s)"
    unknown = ExplorationData(("latency", "mystery"), ("minimize", "minimize"), (), empty,
                              np.zeros(0, int), np.zeros(0, bool), np.zeros(0, bool),
                              np.zeros(2), np.zeros(0))
    assert unknown.hypervolume_unit() == "product of the objectives' units"


def test_library_plots_leave_the_callers_backend_alone(tmp_path, monkeypatch):
    """Explore outputs and reproduction plots draw on plain Figures: a notebook's or GUI's
    matplotlib backend is not switched (no matplotlib.use in library code)."""
    import matplotlib

    from accel_sim.explore import Explorer, ExploreSpec

    old = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        Explorer(ExploreSpec(workloads="digits_mlp", device="systolic", trials=3,
                             output=str(tmp_path / "e"), space={"rows": "4:16"})
                 ).run(progress=False)
        assert (tmp_path / "e" / "pareto.png").stat().st_size > 1000
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(old)
