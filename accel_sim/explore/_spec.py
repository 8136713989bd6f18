"""What an exploration is: workloads, device, objectives, constraints, space, budget, storage."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["OBJECTIVE_ALIASES", "Constraint", "ExploreSpec", "Objective", "load_spec_file"]

#: Objective names and the summary metric each one reads, with its natural direction.
OBJECTIVE_ALIASES: dict[str, tuple[str, str]] = {
    "latency": ("latency_s", "minimize"),
    "energy": ("energy_j", "minimize"),
    "area": ("area_mm2", "minimize"),
    "edp": ("edp_js", "minimize"),
    "accuracy": ("accuracy", "maximize"),
    "throughput": ("throughput_tops", "maximize"),
    "power": ("power_w", "minimize"),
}
_MAXIMISED_METRICS = {"accuracy", "throughput_tops", "utilization", "throughput_tok_s"}
SAMPLERS = ("tpe", "gp", "nsga2", "random", "grid")


@dataclass(frozen=True)
class Objective:
    """An objective: its name as given, the summary metric it reads and its direction."""

    name: str
    metric: str
    direction: str  # "minimize" or "maximize"

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``latency``, ``energy``, ``area``, ``edp``, ``accuracy``, ... or any summary metric
        name (maximised for accuracy/throughput/utilization, minimised otherwise)."""
        name = text.strip()
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ConfigError(f"--objectives: {text!r} is not an objective name")
        if name in OBJECTIVE_ALIASES:
            metric, direction = OBJECTIVE_ALIASES[name]
        else:
            metric = name
            direction = "maximize" if name in _MAXIMISED_METRICS else "minimize"
        return cls(name, metric, direction)

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


@dataclass(frozen=True)
class ExploreSpec:
    """A complete exploration request (the flags of ``accel-sim explore`` or a YAML file).

    Attributes:
        workloads: Workload arguments; metrics are totals over all of them.
        device: Device name.
        objectives: Objectives in order.
        constraints: Constraints on summary metrics.
        space: ``--space`` overrides (name -> ``lo:hi``, ``v1,v2`` or ``""``).
        fixed: ``-s`` fixed parameters (name -> value text).
        trials: Completed trials wanted in the study.
        sampler: tpe, gp, nsga2, random or grid.
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
        dims: Sizes of the symbolic dimensions of ONNX workloads (``--dim batch=1``).
        serve: Explore LLM serving: each trial runs :func:`accel_sim.llm.serve` on the device
            (an xPU/PIM system) with the serving scenario's parameters (``model``, ``batch``,
            ``lin``, ``lout``, ``rate``, ``requests``, ...) searchable or fixed like the
            device's; objectives read the serving summary (``throughput_tok_s``,
            ``tbt_p99_s``, ``energy_per_token_j``, ...). No workloads.
    """

    workloads: tuple[str, ...] = ()
    device: str = ""
    objectives: tuple[Objective, ...] = field(default_factory=lambda: (
        Objective.parse("latency"), Objective.parse("energy")))
    constraints: tuple[Constraint, ...] = ()
    space: Mapping[str, str] = field(default_factory=dict)
    fixed: Mapping[str, str] = field(default_factory=dict)
    trials: int = 100
    sampler: str = "tpe"
    seed: int | None = 0
    storage: str | None = None
    study: str = "explore"
    workers: int = 1
    output: str = "results/explore"
    warm_start: str | None = None
    heartbeat_s: float = 10.0
    training: bool = False
    serve: bool = False
    dims: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._coerce()
        if not self.device:
            raise ConfigError("explore: give a device (-d)")
        if not self.workloads and not self.serve:
            raise ConfigError("explore: give at least one workload (-w), or --serve")
        if self.serve and (self.workloads or self.training):
            raise ConfigError("explore --serve takes no workloads (-w) or --training: the "
                              "serving scenario is set with -s/--space (model=, lin=, ...)")
        if not self.objectives:
            raise ConfigError("explore: give at least one objective (--objectives)")
        names = [o.metric for o in self.objectives]
        if len(set(names)) != len(names):
            raise ConfigError(f"--objectives: repeated objective in {', '.join(names)}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler {self.sampler!r}: one of {', '.join(SAMPLERS)}")
        if not 1 <= self.trials <= 10_000_000:
            raise ConfigError(f"--trials {self.trials}: must be in [1, 10000000]")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(
                self.seed, int) or not 0 <= self.seed <= 2**32 - 1):
            raise ConfigError(f"--seed {self.seed!r}: must be an integer in [0, 4294967295]")
        if not 1 <= self.workers <= 1024:
            raise ConfigError(f"--workers {self.workers}: must be in [1, 1024]")
        if not 0.1 <= self.heartbeat_s <= 3600:
            raise ConfigError(f"--heartbeat {self.heartbeat_s}: must be in [0.1, 3600] s")
        if not re.fullmatch(r"[\w.\-]+", self.study):
            raise ConfigError(f"--study {self.study!r}: letters, digits, '_', '-', '.' only")
        object.__setattr__(self, "space", dict(self.space))
        object.__setattr__(self, "fixed", dict(self.fixed))
        object.__setattr__(self, "dims", dict(self.dims))

    def _coerce(self) -> None:
        """Python-API convenience and type checks (one-line errors, never a TypeError)."""
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        wl = self.workloads
        if isinstance(wl, (str, os.PathLike)):
            wl = (wl,)
        if not isinstance(wl, Sequence) or not all(isinstance(w, (str, os.PathLike))
                                                   for w in wl):
            raise ConfigError(f"ExploreSpec.workloads={self.workloads!r}: expected workload "
                              "arguments (strings)")
        put("workloads", tuple(os.fspath(w) for w in wl))
        for name in ("device", "sampler", "study", "output"):
            v = getattr(self, name)
            if isinstance(v, os.PathLike):
                v = os.fspath(v)
            if not isinstance(v, str):
                raise ConfigError(f"ExploreSpec.{name}={v!r}: expected text")
            put(name, v)
        for name in ("storage", "warm_start"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, os.PathLike)):
                raise ConfigError(f"ExploreSpec.{name}={v!r}: expected text or None")
            put(name, None if v is None else os.fspath(v))
        objs = self.objectives
        if isinstance(objs, (str, Objective)):
            objs = (objs,)
        if not isinstance(objs, Iterable):
            raise ConfigError(f"ExploreSpec.objectives={objs!r}: expected objective names")
        put("objectives", tuple(o if isinstance(o, Objective) else Objective.parse(_text(
            o, "objectives")) for o in objs))
        cons = self.constraints
        if isinstance(cons, (str, Constraint)):
            cons = (cons,)
        if not isinstance(cons, Iterable):
            raise ConfigError(f"ExploreSpec.constraints={cons!r}: expected constraints "
                              "such as 'area_mm2<=50'")
        put("constraints", tuple(c if isinstance(c, Constraint) else Constraint.parse(_text(
            c, "constraints")) for c in cons))
        for name in ("trials", "workers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"--{name} {v!r}: expected an integer")
        hb = self.heartbeat_s
        if isinstance(hb, bool) or not isinstance(hb, (int, float)) or hb != hb:
            raise ConfigError(f"--heartbeat {hb!r}: expected a number of seconds")
        for name in ("space", "fixed", "dims"):
            v = getattr(self, name)
            if not isinstance(v, Mapping):
                raise ConfigError(f"ExploreSpec.{name}={v!r}: expected a mapping")
        for name in ("training", "serve"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"ExploreSpec.{name}={getattr(self, name)!r}: expected "
                                  "True or False")

    def replace(self, **changes: Any) -> ExploreSpec:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """What identifies the study (stored in its user attributes; the explorer adds the
        parsed search space and fixed values)."""
        out = {"device": self.device, "workloads": list(self.workloads),
                "objectives": [o.name for o in self.objectives],
                "metrics": [o.metric for o in self.objectives],
                "directions": [o.direction for o in self.objectives],
                "constraints": [c.name for c in self.constraints]}
        out["sampler"] = self.sampler
        out["seed"] = self.seed
        if self.training:  # absent when false: studies made before the flag stay resumable
            out["training"] = True
        if self.serve:
            out["serve"] = True
        if self.dims:
            out["dims"] = {k: str(v) for k, v in sorted(self.dims.items())}
        return out


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"ExploreSpec.{what}: {value!r} is not text")
    return value


def _as_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    raise ConfigError(f"spec file: {key} must be a list or a comma-separated string")


def _as_mapping(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if isinstance(v, Sequence) and not isinstance(v, str):
                v = ",".join(str(x) for x in v)
            elif v is None:
                v = ""
            out[str(k)] = str(v)
        return out
    raise ConfigError(f"spec file: {key} must be a mapping of parameter -> value")


_SPEC_KEYS = {"workload", "workloads", "device", "objectives", "constraints", "constraint",
              "space", "set", "fixed", "trials", "sampler", "seed", "storage", "study",
              "workers", "output", "warm_start", "heartbeat", "training", "serve", "dims"}


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
    unknown = set(data) - _SPEC_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(sorted(_SPEC_KEYS))}")
    for a, b in (("workload", "workloads"), ("constraint", "constraints"), ("set", "fixed")):
        if a in data and b in data:
            raise ConfigError(f"{path}: give {a} or {b}, not both")
    out: dict[str, Any] = {}
    wl = data.get("workloads", data.get("workload"))
    if wl is not None:
        out["workloads"] = tuple(_as_list(wl, "workloads"))
    for key in ("device", "sampler", "storage", "study", "output", "warm_start"):
        if data.get(key) is not None:
            out[key] = str(data[key])
    for key in ("trials", "workers", "seed"):
        if data.get(key) is not None:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise ConfigError(f"{path}: {key} must be an integer")
            out[key] = data[key]
    for key in ("training", "serve"):
        if data.get(key) is not None:
            if not isinstance(data[key], bool):
                raise ConfigError(f"{path}: {key} must be true or false")
            out[key] = data[key]
    if data.get("heartbeat") is not None:
        hb = data["heartbeat"]
        if isinstance(hb, bool) or not isinstance(hb, (int, float)):
            raise ConfigError(f"{path}: heartbeat must be a number of seconds")
        out["heartbeat_s"] = float(hb)
    if data.get("objectives") is not None:
        out["objectives"] = tuple(Objective.parse(o)
                                  for o in _as_list(data["objectives"], "objectives"))
    cons = data.get("constraints", data.get("constraint"))
    if cons is not None:
        items = [cons] if isinstance(cons, str) else list(cons)
        out["constraints"] = tuple(Constraint.parse(str(c)) for c in items)
    if data.get("space") is not None:
        out["space"] = _as_mapping(data["space"], "space")
    fixed = data.get("set", data.get("fixed"))
    if fixed is not None:
        out["fixed"] = _as_mapping(fixed, "set")
    if data.get("dims") is not None:
        out["dims"] = _as_mapping(data["dims"], "dims")
    return out
