"""What an exploration is: workloads, device, objectives, constraints, space, budget, storage."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._metrics import Direction, MetricTable
from .._options import from_file
from .._params import Config, param
from ..errors import ConfigError

__all__ = ["OBJECTIVE_ALIASES", "Constraint", "ExploreSpec", "Objective", "load_spec_file",
           "split_workloads"]

#: Objective names and the summary metric each one reads, with its natural direction.
OBJECTIVE_ALIASES: dict[str, tuple[str, Direction]] = {
    "latency": ("latency_s", "minimize"),
    "energy": ("energy_j", "minimize"),
    "area": ("area_mm2", "minimize"),
    "edp": ("edp_js", "minimize"),
    "accuracy": ("accuracy", "maximize"),
    "throughput": ("throughput_tops", "maximize"),
    "power": ("power_w", "minimize"),
}
SAMPLERS = ("parego", "tpe", "gp", "nsga2", "random", "grid")


@dataclass(frozen=True)
class Objective:
    """An objective: its name as given, the summary metric it reads and its direction
    (``None`` until resolved against the metrics' declarations, :meth:`resolved`)."""

    name: str
    metric: str
    direction: Direction | None = None

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``latency``, ``energy``, ``area``, ``edp``, ``accuracy``, ... or any summary metric
        name (its direction comes from the metric's declaration: :meth:`resolved`)."""
        name = text.strip()
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ConfigError(f"--objectives: {text!r} is not an objective name")
        if name in OBJECTIVE_ALIASES:
            metric, direction = OBJECTIVE_ALIASES[name]
            return cls(name, metric, direction)
        return cls(name, name)

    def resolved(self, metrics: MetricTable) -> Objective:
        """This objective with the direction its metric declares (unchanged when the metric is
        not declared: the explorer then finds it is not produced, or refuses it)."""
        if self.metric not in metrics:
            return self
        declared = metrics[self.metric]
        if declared.direction is None:
            raise ConfigError(f"--objectives: {self.metric!r} is not an objective "
                              f"({declared.doc.rstrip('.') or 'no direction declared'})")
        if self.direction is not None and self.direction != declared.direction:
            raise ConfigError(f"--objectives: {self.name!r} is to {self.direction} but metric "
                              f"{self.metric!r} declares {declared.direction}")
        return dataclasses.replace(self, direction=declared.direction)

    def value(self, summary: Mapping[str, Any]) -> float:
        """The objective's value in a summary."""
        return float(summary[self.metric])


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (or ``>=``); violation amount ``metric - bound`` (``bound -
    metric``), feasible when <= 0."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*",
                         text)
        if not m:
            raise ConfigError(f"--constraint {text!r}: expected METRIC<=VALUE or "
                              "METRIC>=VALUE, e.g. area_mm2<=50")
        metric = m.group(1)
        if metric in OBJECTIVE_ALIASES:
            metric = OBJECTIVE_ALIASES[metric][0]
        try:
            bound = float(m.group(3))
        except ValueError:
            raise ConfigError(f"--constraint {text!r}: {m.group(3)!r} is not a number") from None
        return cls(metric, m.group(2), bound)

    @property
    def name(self) -> str:
        """Canonical text, e.g. ``area_mm2<=50``."""
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, summary: Mapping[str, Any]) -> float:
        """Amount of violation (> 0 infeasible)."""
        v = float(summary[self.metric])
        return v - self.bound if self.op in ("<=", "<") else self.bound - v


def split_workloads(text: str) -> list[str]:
    """Split ``a,b`` into workloads, keeping ``name:k=v,k2=v2`` parameters together."""
    parts: list[str] = []
    for piece in text.split(","):
        if parts and "=" in piece and ":" in parts[-1] and ":" not in piece:
            parts[-1] += "," + piece
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]


def _one(text: str) -> list[str]:
    return [text]


@dataclass(frozen=True)
class ExploreSpec(Config):
    """A complete exploration request: the flags of ``accel-sim explore`` and the keys of its
    YAML spec file, both generated from these declarations (:mod:`accel_sim._options`).

    Attributes:
        workloads: Workload arguments; metrics are totals over all of them.
        device: Device name.
        objectives: Objectives in order.
        constraints: Constraints on summary metrics.
        space: ``--space`` overrides (name -> ``lo:hi``, ``v1,v2`` or ``""``).
        fixed: ``-s`` fixed parameters (name -> value text).
        trials: Completed trials wanted in the study.
        sampler: parego, tpe, gp, nsga2, random or grid.
        seed: Sampler seed (``None``: nondeterministic).
        storage: Optuna storage URL or journal file path (``None``: embedded in ``output``).
        study: Study name.
        workers: Worker processes on this machine.
        output: Output directory.
        warm_start: A previous study name, output folder or CSV whose Pareto designs seed a new
            study.
        heartbeat_s: Heartbeat interval of RDB storages (dead workers' trials are retried
            after 2 intervals).
        training: Evaluate a training step of every workload (``training_trace``).
        serve: Explore LLM serving: each trial runs :func:`accel_sim.serving.serve` on the
            device (a serving system) with the serving scenario's parameters (``model``,
            ``batch``, ``lin``, ``lout``, ``rate``, ``requests``, ...) searchable or fixed like
            the device's; objectives read the serving summary (``throughput_tok_s``,
            ``tbt_p99_s``, ``energy_per_token_j``, ...). No workloads.
        dims: Sizes of the symbolic dimensions of ONNX workloads (``--dim batch=1``).

    Objective directions come from the metrics' declarations (the device's
    :meth:`~accel_sim.Device.metric_table`, or :data:`~accel_sim.serving.SERVING_METRICS`
    with ``serve``), resolved at construction.
    """

    workloads: tuple[str, ...] = param(
        (), short="-w", flag="--workload", aliases=("workload",), split=split_workloads,
        metavar="NAME[:key=value,...]", search=False,
        doc="Workload(s), comma-separated or repeated: a built-in or plug-in name with "
            "parameters, or a .csv/.onnx path; metrics are totals over all of them.")
    device: str = param("", short="-d", search=False, metavar="DEVICE[,DEVICE...]",
                        doc="Device to explore (accel-sim devices lists them); several, "
                            "comma-separated, for a cross-family study (the device is then "
                            "searched too).")
    objectives: tuple[Objective, ...] = param(
        (Objective("latency", "latency_s", "minimize"),
         Objective("energy", "energy_j", "minimize")), search=False,
        metavar="latency,energy[,area,accuracy,edp,...]",
        doc="Objectives: latency, energy, area, edp, accuracy, throughput, power or any "
            "summary metric (direction from its declaration); default latency,energy.")
    constraints: tuple[Constraint, ...] = param(
        (), flag="--constraint", aliases=("constraint",), split=_one,
        metavar="METRIC<=VALUE", search=False,
        doc="Constraint on a summary metric (repeatable), e.g. area_mm2<=50.")
    space: Mapping[str, str] = param(
        None, default_factory=dict, merge=False, metavar="KEY[=LO:HI|=V1,V2]", search=False,
        doc="Search only these parameters (optionally narrowed).")
    fixed: Mapping[str, str] = param(
        None, default_factory=dict, short="-s", flag="--set", aliases=("set",),
        metavar="KEY=VALUE", search=False, doc="Fixed parameter (repeatable).")
    trials: int = param(100, low=1, high=10_000_000, search=False, metavar="N",
                        doc="Complete trials wanted in the study.")
    sampler: str = param("parego", choices=SAMPLERS, search=False,
                         doc="parego: Gaussian-process Bayesian optimisation for small "
                             "budgets (numpy); tpe: multivariate TPE; gp: Optuna's GP "
                             "sampler (PyTorch); nsga2; random; grid.")
    seed: int | None = param(0, low=0, high=2**32 - 1, optional=True, search=False,
                             metavar="N",
                             doc="Sampler seed (none: nondeterministic).")
    storage: str | None = param(None, optional=True, search=False,
                                doc="journal (default: OUTDIR/study.journal), sqlite "
                                    "(OUTDIR/study.db), a .journal file or a database URL "
                                    "(postgresql://...).")
    study: str = param("explore", search=False, doc="Study name.")
    workers: int = param(1, low=1, high=1024, search=False, metavar="N",
                         doc="Worker processes on this machine.")
    output: str = param("results/explore", short="-o", search=False,
                        doc="Output directory.")
    warm_start: str | None = param(None, optional=True, metavar="STUDY_OR_CSV", search=False,
                                   doc="Seed a new study with the Pareto designs of a study, "
                                       "folder or CSV.")
    heartbeat_s: float = param(10.0, low=0.1, high=3600.0, unit="s", flag="--heartbeat",
                               key="heartbeat", search=False, metavar="SECONDS",
                               doc="Heartbeat interval of RDB storages.")
    training: bool = param(False, search=False,
                           doc="Evaluate a training step of every workload.")
    serve: bool = param(False, search=False,
                        doc="Explore LLM serving (device: a serving system such as xpu or "
                            "duplex; scenario parameters model, batch, lin, lout, rate, "
                            "requests via -s/--space; objectives e.g. "
                            "throughput_tok_s,energy_per_token_j,tbt_p99_s).")
    accuracy_cache: str | None = param(
        None, optional=True, metavar="FILE|off", search=False,
        doc="File of measured accuracies, keyed by the parameters each device's accuracy "
            "depends on, shared by studies (default: accuracy_cache.jsonl beside the output "
            "folder, used when an objective or constraint is accuracy; off: no cache).")
    ignore_cost: bool = param(
        False, search=False,
        doc="parego: rank candidates by expected improvement alone. By default, with "
            "accuracy an objective or constraint, a candidate whose accuracy setting (the "
            "device's accuracy parameters) no trial has measured must promise its "
            "measurement's cost (its acquisition is divided by the decade of the measured "
            "time ratio of such trials to the others: expected improvement per second) and "
            "the random start-up reuses measured settings once five are measured.")
    multi_fidelity: bool = param(
        False, search=False,
        doc="Successive halving on accuracy: measure it first with 1/ETA^RUNGS of the "
            "training budget (epochs, DQN steps), go on to the next fidelity (x ETA) only "
            "while the trial ranks in the top 1/ETA of the trials measured at its fidelity "
            "(non-dominated sorting, then crowding distance), and stop the others as PRUNED; "
            "completed trials always carry the full-fidelity accuracy.")
    reduction: int = param(3, low=2, high=16, search=False, metavar="ETA",
                           doc="Reduction factor ETA of --multi-fidelity.")
    rungs: int = param(3, low=1, high=8, search=False,
                       doc="Lower fidelities of --multi-fidelity (1/ETA^RUNGS ... 1/ETA of "
                           "the budget).")
    brackets: int = param(1, low=1, high=9, search=False,
                          doc="Hyperband brackets of --multi-fidelity (at most RUNGS + 1): "
                              "bracket s starts at 1/ETA^s of the budget, s = RUNGS, "
                              "RUNGS - 1, ... (the last of RUNGS + 1 at full fidelity, a "
                              "hedge against misleading low fidelities); trials are dealt to "
                              "them in Hyperband's proportions, each bracket halving on its "
                              "own; 1: successive halving from the lowest fidelity only.")
    dims: Mapping[str, str] = param(
        None, default_factory=dict, flag="--dim", metavar="NAME=SIZE", search=False,
        doc="Size of a symbolic dimension of an .onnx model's inputs, e.g. --dim batch=1 "
            "(repeatable).")

    @property
    def devices(self) -> tuple[str, ...]:
        """The device names (one, or several for a cross-family study)."""
        return tuple(d.strip() for d in self.device.split(","))

    def _check(self) -> None:
        if not self.device:
            raise ConfigError("explore: give a device (-d)")
        listed = self.devices
        if any(not d for d in listed) or len(set(listed)) != len(listed):
            raise ConfigError(f"-d {self.device}: give each device once, comma-separated")
        if not self.workloads and not self.serve:
            raise ConfigError("explore: give at least one workload (-w), or --serve")
        if self.serve and (self.workloads or self.training):
            raise ConfigError("explore --serve takes no workloads (-w) or --training: the "
                              "serving scenario is set with -s/--space (model=, lin=, ...)")
        if not self.objectives:
            raise ConfigError("explore: give at least one objective with --objectives "
                              "(latency, energy, area, edp, accuracy, throughput or a metric)")
        names = [o.metric for o in self.objectives]
        if len(set(names)) != len(names):
            raise ConfigError(f"--objectives: repeated objective in {', '.join(names)}")
        if not re.fullmatch(r"[\w.\-]+", self.study):
            raise ConfigError(f"--study {self.study!r}: letters, digits, '_', '-', '.' only")
        object.__setattr__(self, "objectives", tuple(
            o.resolved(self.metric_table()) for o in self.objectives))
        if self.multi_fidelity:
            self._check_multi_fidelity()

    @property
    def measures_accuracy(self) -> bool:
        """Whether ``accuracy`` is an objective or a constraint."""
        return "accuracy" in {o.metric for o in self.objectives} | {
            c.metric for c in self.constraints}

    def _check_multi_fidelity(self) -> None:
        from .._registry import get_device

        if not self.measures_accuracy:
            raise ConfigError("--multi-fidelity measures accuracy at lower fidelities: give "
                              "accuracy as an objective or constraint")
        if self.brackets > self.rungs + 1:
            raise ConfigError(f"--brackets {self.brackets}: at most --rungs + 1 = "
                              f"{self.rungs + 1}")
        if self.serve or not any(get_device(d).multi_fidelity for d in self.devices):
            raise ConfigError(f"--multi-fidelity: no listed device ({self.device}) measures "
                              "accuracy at lower fidelities; devices that do train for it "
                              "(sat, learning_group, amper, per_gpu, per_cpu)")

    def metric_table(self) -> MetricTable:
        """The declared metrics the objectives and constraints may name."""
        from .._registry import get_device

        devices = [get_device(d) for d in self.devices]
        if self.serve:
            from ..serving import SERVING_METRICS

            return SERVING_METRICS
        table = devices[-1].metric_table()
        for dev in reversed(devices[:-1]):  # the first listed device's declaration wins
            table = table | dev.metric_table()
        return table

    def directions(self) -> list[Direction]:
        """``minimize``/``maximize`` per objective (an objective on a metric nobody declared
        is refused here, naming where to declare it)."""
        out: list[Direction] = []
        for o in self.objectives:
            if o.direction is None:
                raise ConfigError(
                    f"objective metric {o.metric!r} of device {self.device!r} declares no "
                    "direction: add accel_sim.Metric(name, unit, 'minimize' or 'maximize') to "
                    "the device's metrics")
            out.append(o.direction)
        return out

    def describe(self) -> dict[str, Any]:
        """What identifies the study (stored in its user attributes; the explorer adds the
        parsed search space and fixed values)."""
        out: dict[str, Any] = {"device": self.device, "workloads": list(self.workloads),
                "objectives": [o.name for o in self.objectives],
                "metrics": [o.metric for o in self.objectives],
                "directions": [o.direction for o in self.objectives],  # None: undeclared
                "constraints": [c.name for c in self.constraints]}
        out["sampler"] = self.sampler
        out["seed"] = self.seed
        if self.training:  # absent when false: studies made before the flag stay resumable
            out["training"] = True
        if self.serve:
            out["serve"] = True
        if self.dims:
            out["dims"] = {k: str(v) for k, v in sorted(self.dims.items())}
        if self.multi_fidelity:
            out["multi_fidelity"] = {"reduction": self.reduction, "rungs": self.rungs}
            if self.brackets > 1:
                out["multi_fidelity"]["brackets"] = self.brackets
        return out

    @property
    def fractions(self) -> tuple[float, ...]:
        """Shares of the training budget of the lower fidelities, lowest first (empty
        without ``multi_fidelity``)."""
        if not self.multi_fidelity:
            return ()
        return tuple(float(self.reduction) ** -r for r in range(self.rungs, 0, -1))

    def bracket_of(self, number: int) -> int:
        """Hyperband bracket ``s`` of trial ``number`` (it starts at ``1 / reduction**s`` of
        the budget; 0: full fidelity). Bracket ``s`` gets a share ``ceil((R + 1) / (s + 1) x
        ETA**s)`` of the trials (Li et al., JMLR 2018), dealt by smooth weighted round robin so
        that consecutive trials visit every bracket."""
        top = self.rungs
        if not self.multi_fidelity or self.brackets <= 1:
            return top
        brackets = range(top, top - self.brackets, -1)
        weights = {b: math.ceil((top + 1) / (b + 1) * self.reduction ** b) for b in brackets}
        total = sum(weights.values())
        credit = dict.fromkeys(weights, 0)
        pick = top
        for _ in range(number % total + 1):
            for b in credit:
                credit[b] += weights[b]
            pick = max(credit, key=lambda b: (credit[b], b))
            credit[pick] -= total
        return pick


def _strict_loader(yaml: Any) -> type:
    """PyYAML's SafeLoader, refusing a key given twice in one mapping (YAML itself forbids
    it; PyYAML would keep the last value silently)."""

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} is given twice (line "
                            f"{seen[key].start_mark.line + 1} and line "
                            f"{key_node.start_mark.line + 1})", key_node.start_mark)
                    seen[key] = key_node
                except TypeError:  # unhashable key: let PyYAML report it
                    pass
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def load_spec_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML spec file into keyword arguments of :class:`ExploreSpec` (unvalidated)."""
    path = os.fspath(path)
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("YAML spec files need PyYAML: pip install 'accel-sim[yaml]'") from None
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_strict_loader(yaml))  # a SafeLoader
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) YAML file") from None
    except yaml.YAMLError as exc:
        text = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML ({text})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of explore options")
    device = data.get("device")
    if isinstance(device, list) and device and all(isinstance(d, str) for d in device):
        data = {**data, "device": ",".join(device)}  # a cross-family study as a YAML list
    return from_file(ExploreSpec, data, path)
