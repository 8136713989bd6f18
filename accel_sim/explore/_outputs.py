"""Exploration outputs: tables (computed from the study) and plots (drawn from the tables)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from .._plotting import subplots
from .._units import axis_label, column_label, metric_unit
from ._pareto import hypervolume_history, pareto_mask

__all__ = ["ExplorationData", "collect", "draw_hypervolume", "draw_pareto", "hypervolume_figure",
           "importance_figure", "parallel_figure", "param_importances", "pareto_figure",
           "pareto_table", "write_outputs", "write_study_plots"]


@dataclass(frozen=True)
class ExplorationData:
    """Everything the output files and plots show, computed from a study.

    Attributes:
        objectives: Objective names.
        directions: ``minimize``/``maximize`` per objective.
        rows: One dict per trial (number, state, parameters, metrics, constraints, feasible).
        values: (n_complete, n_objectives) objective values of complete trials, in trial order.
        numbers: Trial numbers of those rows.
        feasible: Feasibility of those rows.
        front: Mask of the feasible non-dominated rows.
        reference: Hypervolume reference point in the objectives' own directions.
        hv: Hypervolume after each complete trial (minimisation space, see ``reference``), in
            the product of the objectives' units.
        units: Unit per objective name and per ``param_<name>`` column, where known better
            than :func:`accel_sim._units.metric_unit` does (parameters: the device's
            declaration; ``accuracy``: the workload's task).
    """

    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    values: np.ndarray
    numbers: np.ndarray
    feasible: np.ndarray
    front: np.ndarray
    reference: np.ndarray
    hv: np.ndarray
    units: Mapping[str, str] = field(default_factory=dict)

    def unit(self, name: str) -> str:
        """Unit of an objective, ``param_<name>`` column or metric (``""`` when unknown)."""
        if name in self.units:
            return self.units[name]
        return "" if name.startswith("param_") else metric_unit(name)

    def hypervolume_unit(self) -> str:
        """Unit of the hypervolume: the product of the objectives' units."""
        units = [self.unit(o) for o in self.objectives]
        if not all(units):
            return "product of the objectives' units"
        return "*".join(f"({u})" if len(units) > 1 and any(c in u for c in " /*") else u
                        for u in units)


def _feasible(t: FrozenTrial) -> bool:
    return all(v <= 0 for v in t.constraints.values()) if t.constraints else True


def _row(t: FrozenTrial, objectives: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
    if "device" in t.params:  # a cross-family study
        row["device"] = t.params["device"]
    row.update({f"param_{k}": v for k, v in t.params.items()})
    if t.values is not None:
        row.update({f"objective_{n}": v for n, v in zip(objectives, t.values, strict=True)})
    metrics = t.user_attrs.get("metrics", {})
    row.update({k: v for k, v in metrics.items()})
    for k, v in t.constraints.items():
        row[f"constraint_{k}"] = v
    row["feasible"] = _feasible(t) if t.state is TrialState.COMPLETE else ""
    for key in ("fidelity", "stopped", "sampler_time_s", "eval_time_s", "worker", "invalid",
                "failed"):
        if key in t.user_attrs:
            row[key] = t.user_attrs[key]
    if "retry_of" in t.user_attrs or "failed_trial" in t.system_attrs:
        row["retry_of"] = t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial"))
    return row


def _units(study: optuna.Study, objectives: Sequence[str]) -> dict[str, str]:
    """Units of the metrics and parameters of a study made by accel-sim explore, from the
    declarations of the device (or the server) that produced them."""
    desc = study.user_attrs.get("accel_sim", {})
    workloads = [str(w) for w in desc.get("workloads", [])]
    task = "dqn" if any(w.split(":")[0] == "replay" for w in workloads) else "classification"
    metrics = desc.get("metrics") or list(objectives)
    table = None
    units: dict[str, str] = {}
    try:
        from .._registry import get_device

        names = [d.strip() for d in str(desc["device"]).split(",")]
        for name in reversed(names):  # the first listed device's declarations win
            cls = get_device(name)
            config = cls.Config
            table = cls.metric_table()
            if desc.get("serve"):
                from ..serving import SERVING_METRICS, ServingEvaluator

                config = ServingEvaluator(cls).config_cls
                table = SERVING_METRICS
            units.update({n: table[n].unit for n in table if "*" not in n})
            prefix = f"{name}." if len(names) > 1 else ""
            units.update({f"param_{prefix}{s.name}": s.unit for s in config.specs() if s.unit})
    except Exception:  # a study of another tool, or a device not installed here: names only
        pass
    units.update({o: metric_unit(m, task=task, metrics=table)
                  for o, m in zip(objectives, metrics, strict=False)})
    if "accuracy" in units:
        units["accuracy"] = metric_unit("accuracy", task=task)
    return units


def collect(study: optuna.Study, objectives: Sequence[str], directions: Sequence[str]
            ) -> ExplorationData:
    """Tables of a study: trials, Pareto front, hypervolume history."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows = tuple(_row(t, objectives) for t in trials)
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.values is not None]
    k = len(objectives)
    values = np.array([t.values for t in done], dtype=float).reshape(len(done), k)
    feasible = np.array([_feasible(t) for t in done], dtype=bool)
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    mins = values * sign
    front = np.zeros(len(done), bool)
    if feasible.any():
        idx = np.flatnonzero(feasible)
        front[idx[pareto_mask(mins[idx])]] = True
        worst = mins[idx].max(axis=0)
        span = worst - mins[idx].min(axis=0)
        ref_min = worst + np.where(span > 0, 0.1 * span, np.maximum(np.abs(worst) * 0.01, 1e-12))
    else:
        ref_min = np.full(k, np.nan)
    hv = (hypervolume_history(mins, feasible, ref_min) if feasible.any()
          else np.zeros(len(done)))
    return ExplorationData(tuple(objectives), tuple(directions), rows, values,
                           np.array([t.number for t in done], dtype=int), feasible, front,
                           ref_min * sign, hv, _units(study, objectives))


def _write_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys or ["trial"])
        w.writeheader()
        w.writerows(rows)


def write_outputs(data: ExplorationData, outdir: str | os.PathLike[str], *,
                  plots: bool = True) -> dict[str, str]:
    """Write trials.csv, pareto.csv, hypervolume.csv (and pareto.png, hypervolume.png)."""
    outdir = os.fspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    paths = {name: os.path.join(outdir, name) for name in (
        "trials.csv", "pareto.csv", "hypervolume.csv", "pareto.png", "hypervolume.png")}
    _write_csv(paths["trials.csv"], data.rows)
    by_number = {r["trial"]: r for r in data.rows}
    front_rows = [by_number[int(n)] for n in data.numbers[data.front]]
    front_rows.sort(key=lambda r: r.get(f"objective_{data.objectives[0]}", 0.0))
    if front_rows and "device" in front_rows[0]:
        front_rows = _with_regions(front_rows, data)
    _write_csv(paths["pareto.csv"], front_rows)
    hv_rows = []
    for n, hv in zip(data.numbers, data.hv, strict=True):
        row: dict[str, Any] = {"trial": int(n), "hypervolume": float(hv)}
        row.update({f"ref_{o}": float(r) for o, r in zip(data.objectives, data.reference,
                                                         strict=True)})
        hv_rows.append(row)
    _write_csv(paths["hypervolume.csv"], hv_rows)
    if plots:
        draw_pareto(data, paths["pareto.png"])
        draw_hypervolume(data, paths["hypervolume.png"])
    else:
        paths.pop("pareto.png")
        paths.pop("hypervolume.png")
    return paths


def _with_regions(front: list[dict[str, Any]], data: ExplorationData
                  ) -> list[dict[str, Any]]:
    """Front rows (sorted by the first objective) with ``region``: the range of the first
    objective over which the row's family holds the front without interruption."""
    first = data.objectives[0]
    key = f"objective_{first}"
    unit = data.unit(first)
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(front):
        j = i
        while j + 1 < len(front) and front[j + 1]["device"] == front[i]["device"]:
            j += 1
        text = (f"{front[i]['device']} wins {first} {front[i][key]:.4g}..{front[j][key]:.4g}"
                + (f" {unit}" if unit else ""))
        out.extend({"device": r["device"], "region": text, **r} for r in front[i:j + 1])
        i = j + 1
    return out


def _devices_of(data: ExplorationData) -> np.ndarray | None:
    """The device of every complete trial of a cross-family study (else None)."""
    by_number = {r["trial"]: r for r in data.rows}
    if not data.rows or "device" not in data.rows[0]:
        return None
    return np.array([str(by_number[int(n)].get("device", "")) for n in data.numbers])


def _label(data: ExplorationData, i: int) -> str:
    name = data.objectives[i]
    return axis_label(name, data.directions[i], unit=data.unit(name))


def pareto_figure(data: ExplorationData) -> Any:
    """The figure of :func:`draw_pareto` (a matplotlib Figure, not registered with
    pyplot)."""
    k = len(data.objectives)
    v, feas, front = data.values, data.feasible, data.front
    devices = _devices_of(data)
    if k == 1:
        fig, ax = subplots(figsize=(6, 4))
        ax.plot(data.numbers, v[:, 0], ".", color="0.6", label="trials")
        ax.plot(data.numbers[front], v[front, 0], "o", color="C3", label="best")
        ax.set_xlabel("trial")
        ax.set_ylabel(_label(data, 0))
        ax.legend()
    else:
        n = k - 1 if k > 2 else 1
        fig, axes = subplots(n, n, figsize=(4.2 * n + 1, 3.8 * n + 0.5), squeeze=False)
        for i in range(n):
            for j in range(n):
                ax = axes[i][j]
                xi, yi = (0, 1) if k == 2 else (j, i + 1)
                if k > 2 and j > i:
                    ax.axis("off")
                    continue
                ax.scatter(v[~feas, xi], v[~feas, yi], s=8, c="0.8", label="infeasible")
                if devices is None:
                    ax.scatter(v[feas, xi], v[feas, yi], s=10, c="C0", alpha=0.6,
                               label="feasible")
                for c, name in enumerate(sorted(set(devices)) if devices is not None else ()):
                    sel = feas & (devices == name)
                    ax.scatter(v[sel, xi], v[sel, yi], s=12, c=f"C{c}", alpha=0.7,
                               label=f"{name} (feasible)")
                order = np.argsort(v[front, xi])
                # two objectives: the front is a line; more: a pair's projection of the
                # front is a cloud (points dominated in this pair, not in all objectives)
                ax.plot(v[front, xi][order], v[front, yi][order], "o-" if k == 2 else "o",
                        c="k" if devices is not None else "C3", ms=4, lw=0.8,
                        mfc="none" if devices is not None else None,
                        label="Pareto front" if k == 2
                        else "Pareto front (all objectives)")
                for axis, setter in ((v[:, xi], ax.set_xscale), (v[:, yi], ax.set_yscale)):
                    if len(axis) and np.all(axis > 0) and axis.max() / axis.min() > 100:
                        setter("log")
                ax.set_xlabel(_label(data, xi))
                ax.set_ylabel(_label(data, yi))
                if i == 0 and j == 0:
                    ax.legend(fontsize=8)
    fig.suptitle(f"{len(data.values)} trials, {int(data.front.sum())} on the Pareto front")
    fig.tight_layout()
    return fig


def draw_pareto(data: ExplorationData, path: str) -> None:
    """Two objectives: all trials and the front; three or more: a pairwise matrix."""
    pareto_figure(data).savefig(path, dpi=110)


def hypervolume_figure(data: ExplorationData) -> Any:
    """The figure of :func:`draw_hypervolume` (a matplotlib Figure, not registered with
    pyplot)."""
    fig, ax = subplots(figsize=(6, 4))
    ax.step(data.numbers, data.hv, where="post")
    ax.set_xlabel("trial")
    ax.set_ylabel(axis_label("hypervolume", "maximize", unit=data.hypervolume_unit()))
    ref = ", ".join(f"{o}={r:.3g}" + (f" {data.unit(o)}" if data.unit(o) else "")
                    for o, r in zip(data.objectives, data.reference, strict=True))
    ax.set_title(f"volume dominated by the feasible front up to the reference point\n"
                 f"reference: {ref}", fontsize=9)
    fig.tight_layout()
    return fig


def draw_hypervolume(data: ExplorationData, path: str) -> None:
    """Hypervolume of the feasible front after each trial."""
    hypervolume_figure(data).savefig(path, dpi=110)


def _axis_values(rows: Sequence[Mapping[str, Any]], col: str
                 ) -> tuple[np.ndarray, list[str] | None]:
    """Numeric values of a column over ``rows`` (categories: their index, with the labels)."""
    raw = [r.get(col) for r in rows]
    present = [v for v in raw if v not in (None, "")]
    try:
        [float(v) for v in present]
    except (TypeError, ValueError):
        labels = sorted({str(v) for v in present})
        return np.array([labels.index(str(v)) if v not in (None, "") else np.nan
                         for v in raw], float), labels
    # a parameter of another device in a cross-family study is missing: NaN, off the line
    return np.array([float(v) if v not in (None, "") else np.nan for v in raw]), None


def parallel_figure(data: ExplorationData) -> Any:
    """Parallel coordinates of the Pareto front: one axis per searched parameter and per
    objective, each scaled to its own range over the front (labels give the ends, with
    units); one line per front design, coloured by the first objective."""
    by_number = {r["trial"]: r for r in data.rows}
    front = [by_number[int(n)] for n in data.numbers[data.front]]
    params = sorted({k for r in front for k in r if k.startswith("param_")})
    cols = params + [f"objective_{o}" for o in data.objectives]
    fig, ax = subplots(figsize=(max(6.0, 1.5 * len(cols) + 1), 4.6))
    if not front:
        ax.text(0.5, 0.5, "no feasible design", ha="center", va="center")
        ax.axis("off")
        return fig
    scaled, ticks = [], []
    for col in cols:
        v, labels = _axis_values(front, col)
        if np.all(np.isnan(v)):
            v = np.zeros(len(v))
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        scaled.append((v - lo) / (hi - lo) if hi > lo else np.full(len(v), 0.5))
        name = col.split("_", 1)[1]
        unit = data.unit(name if col.startswith("objective_") else col)
        fmt = (lambda x, labels=labels: labels[int(x)]) if labels else (lambda x: f"{x:.3g}")
        ticks.append((f"{name}\n[{unit}]" if unit else name, fmt(lo), fmt(hi)))
    y = np.array(scaled).T  # (designs, axes)
    x = np.arange(len(cols))
    color = y[:, len(params)] if len(cols) > len(params) else np.zeros(len(y))
    cmap = matplotlib_colormap("viridis")
    for row, c in zip(y, color, strict=True):
        ax.plot(x, row, "-", color=cmap(float(c)), alpha=0.7, lw=1.2)
    for i, (_, lo_text, hi_text) in enumerate(ticks):
        ax.axvline(i, color="0.3", lw=0.8)
        ax.text(i, -0.06, lo_text, ha="center", va="top", fontsize=7)
        ax.text(i, 1.04, hi_text, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [t[0] for t in ticks], fontsize=8)
    ax.set_xlabel("searched parameters, then objectives [unit under each name]")
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_ylabel("position on each axis between its\nfront minimum and maximum [fraction]")
    ax.set_title(f"Pareto front: {len(front)} designs (colour: {data.objectives[0]}, dark = "
                 "low)", fontsize=9)
    fig.tight_layout()
    return fig


def matplotlib_colormap(name: str) -> Any:
    """A matplotlib colormap by name (imported lazily, like every plot)."""
    import matplotlib

    return matplotlib.colormaps[name]


def param_importances(study: optuna.Study, data: ExplorationData, *, seed: int = 0
                      ) -> list[dict[str, Any]]:
    """fANOVA importance of every searched parameter for every objective (Optuna's
    evaluator; needs scikit-learn): rows (objective, parameter, importance), importance
    being the parameter's share of the objective's variance over the complete trials."""
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values is not None]
    if len(done) < 2:
        return []
    from .._progress import track

    rows: list[dict[str, Any]] = []
    for i, objective in enumerate(track(data.objectives, desc="fANOVA importances",
                                        unit="objective")):
        values = np.array([t.values[i] for t in done], float)
        if np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).mean())):
            continue  # a constant objective: no variance to share out

        def target(t: FrozenTrial, i: int = i) -> float:
            return float(t.values[i])

        try:
            imp = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed),
                                        target=target, normalize=True)
        except (RuntimeError, ValueError):  # e.g. the forest finds no variance either
            continue
        rows.extend({"objective": objective, "parameter": p, "importance": float(v)}
                    for p, v in imp.items())
    return rows


def importance_figure(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Horizontal bars of :func:`param_importances`, one group per objective."""
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    params = sorted({r["parameter"] for r in rows})
    fig, ax = subplots(figsize=(6.5, 0.5 * len(params) * max(1, len(objectives)) / 2 + 1.8))
    height = 0.8 / max(1, len(objectives))
    for j, objective in enumerate(objectives):
        vals = {r["parameter"]: r["importance"] for r in rows if r["objective"] == objective}
        ax.barh(np.arange(len(params)) + j * height, [vals.get(p, 0.0) for p in params],
                height=height, label=objective)
    ax.set_yticks(np.arange(len(params)) + 0.4 - height / 2, params)
    ax.set_ylabel("searched parameter [name]")
    ax.set_xlabel("importance (fANOVA) [fraction of the objective's variance]")
    ax.set_title("parameter importances over the complete trials", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_study_plots(study: optuna.Study, data: ExplorationData,
                      outdir: str | os.PathLike[str]) -> tuple[dict[str, str], list[str]]:
    """``parallel.png`` (the front in parallel coordinates) and ``importance.csv`` /
    ``importance.png`` (fANOVA); returns the paths and notes (e.g. scikit-learn missing)."""
    outdir = os.fspath(outdir)
    paths = {"parallel.png": os.path.join(outdir, "parallel.png")}
    parallel_figure(data).savefig(paths["parallel.png"], dpi=110)
    notes: list[str] = []
    try:
        rows = param_importances(study, data)
    except ImportError:
        notes.append("parameter importances need scikit-learn: pip install "
                     "'accel-sim[importance]'")
        return paths, notes
    if not rows:
        notes.append("no parameter importances: fewer than 2 complete trials, or every "
                     "objective constant")
        return paths, notes
    skipped = sorted(set(data.objectives) - {r["objective"] for r in rows})
    if skipped:
        notes.append(f"no importances for {', '.join(skipped)}: constant over the trials")
    paths["importance.csv"] = os.path.join(outdir, "importance.csv")
    _write_csv(paths["importance.csv"], rows)
    paths["importance.png"] = os.path.join(outdir, "importance.png")
    importance_figure(rows).savefig(paths["importance.png"], dpi=110)
    return paths, notes


def pareto_table(data: ExplorationData, limit: int = 20) -> str:
    """The Pareto front as a text table (parameters and objectives)."""
    by_number = {r["trial"]: r for r in data.rows}
    rows = [by_number[int(n)] for n in data.numbers[data.front]]
    if not rows:
        return "no feasible trial yet"
    rows.sort(key=lambda r: r[f"objective_{data.objectives[0]}"])
    params = sorted({k for r in rows for k in r if k.startswith("param_")})
    cols = ["trial", *params, *(f"objective_{o}" for o in data.objectives)]

    def head(col: str) -> str:
        if col.startswith("param_"):
            return column_label(col.removeprefix("param_"), data.unit(col))
        if col.startswith("objective_"):
            name = col.removeprefix("objective_")
            return column_label(name, data.unit(name))
        return col

    heads = [head(c) for c in cols]

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    table = [heads] + [[fmt(r.get(c, "")) for c in cols] for r in rows[:limit]]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
             for row in table]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in pareto.csv")
    return "\n".join(lines)


def metrics_json(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Summary metrics that can be stored in a study (finite numbers and booleans)."""
    out: dict[str, Any] = {}
    for k, v in summary.items():
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, (int, float)) and np.isfinite(v):
            out[k] = float(v)
    json.dumps(out)
    return out
