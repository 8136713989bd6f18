"""The explorer's search space, derived from a device's declared configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

from .._params import Config, ParamSpec
from ..errors import ConfigError

__all__ = ["Dimension", "FamilyConfig", "FamilySpace", "SearchSpace"]

#: The distributions a search space uses.
Distribution: TypeAlias = IntDistribution | FloatDistribution | CategoricalDistribution


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its declaration, its distribution and its activity condition."""

    spec: ParamSpec
    distribution: Distribution

    @property
    def name(self) -> str:
        """Parameter name."""
        return self.spec.name


def _parse_override(spec: ParamSpec, text: str, owner: str) -> Distribution:
    """``lo:hi`` (numeric narrowing) or ``v1,v2,...`` (a subset of values)."""
    t = text.strip()
    where = f"--space {spec.name}={text}"
    if not t:
        raise ConfigError(f"{where}: empty; give lo:hi or v1,v2,...")
    if ":" in t:
        if spec.type not in (int, float) or spec.choices is not None:
            raise ConfigError(f"{where}: a range needs a numeric parameter; {spec.name} is "
                              f"{spec.allowed()}")
        lo_t, _, hi_t = t.partition(":")
        lo, hi = spec.parse(lo_t, owner), spec.parse(hi_t, owner)
        if lo >= hi:
            raise ConfigError(f"{where}: empty or inverted range (need lo < hi within "
                              f"{spec.allowed()})")
        if spec.type is int:
            return IntDistribution(lo, hi, log=spec.log and lo >= 1)
        return FloatDistribution(lo, hi, log=spec.log and lo > 0)
    values = []
    for item in t.split(","):
        if not item.strip():
            raise ConfigError(f"{where}: empty value in the list")
        v = spec.parse(item, owner)
        if v not in values:
            values.append(v)
    return CategoricalDistribution(values)


def _declared(spec: ParamSpec) -> Distribution | None:
    if not spec.has_search_range:
        return None
    if spec.choices is not None:
        return CategoricalDistribution(list(spec.choices))
    if spec.type is bool:
        return CategoricalDistribution([False, True])
    assert spec.low is not None and spec.high is not None  # has_search_range
    if spec.type is int:
        step = int(spec.step or 1)
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log and step == 1,
                               step=step)
    return FloatDistribution(float(spec.low), float(spec.high),
                             log=spec.log and spec.low > 0 and spec.step is None,
                             step=spec.step)


def parse_fixed(config_cls: type[Config], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """``-s`` values of ``config_cls`` parsed (text) or validated (Python values)."""
    owner = config_cls.__name__
    out: dict[str, Any] = {}
    for key, value in fixed.items():
        spec = config_cls.spec(key)
        out[key] = (spec.parse(value, owner) if isinstance(value, str) and spec.type is not str
                    else spec.validate(value, owner))
    return out


def _suggest(trial: BaseTrial, name: str, d: Distribution) -> Any:
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, CategoricalDistribution)
    return trial.suggest_categorical(name, d.choices)


class SearchSpace:
    """Distributions for a device's parameters, derived from its ``Config`` declaration.

    Args:
        config_cls: The device's configuration class.
        overrides: ``--space`` entries: parameter name -> ``"lo:hi"``, ``"v1,v2,..."`` or
            ``""`` (the declared range). When given, only these parameters are searched.
        fixed: ``-s`` values (strings or Python values), never searched.

    Without overrides, every parameter declared with ``search=True`` (and not fixed) is
    searched over its declared range or choices (log scale where declared). Parameters with
    ``active_if`` are suggested only when their parent takes one of the listed values.
    """

    def __init__(self, config_cls: type[Config], overrides: Mapping[str, str] | None = None,
                 fixed: Mapping[str, Any] | None = None) -> None:
        self.config_cls = config_cls
        owner = config_cls.__name__
        self.fixed: dict[str, Any] = parse_fixed(config_cls, fixed or {})
        overrides = dict(overrides or {})
        both = set(overrides) & set(self.fixed)
        if both:
            raise ConfigError(f"parameter(s) {', '.join(sorted(both))} both searched (--space) "
                              "and fixed (-s)")
        dims: list[Dimension] = []
        for spec in config_cls.specs():
            if spec.name in self.fixed:
                continue
            if overrides:
                if spec.name not in overrides:
                    continue
                text = overrides[spec.name]
                dist = _parse_override(spec, text, owner) if text else _declared(spec)
                if dist is None:
                    raise ConfigError(f"--space {spec.name}: no declared range; give lo:hi or "
                                      "a list of values")
            else:
                if not spec.search:
                    continue
                dist = _declared(spec)
                if dist is None:
                    continue
            dims.append(Dimension(spec, dist))
        for key in overrides:
            config_cls.spec(key)  # unknown names raise with the list of known ones
        if not dims:
            raise ConfigError(f"{owner}: nothing to search (every parameter is fixed)")
        self.dimensions: tuple[Dimension, ...] = tuple(dims)

    def describe(self) -> dict[str, str]:
        """Each searched parameter's distribution as text (``rows=int 8..256 log``), the way
        a study stores its search space."""
        out = {}
        for dim in self.dimensions:
            d = dim.distribution
            if isinstance(d, CategoricalDistribution):
                text = ",".join(str(c) for c in d.choices)
            else:
                kind = "int" if isinstance(d, IntDistribution) else "float"
                text = f"{kind} {d.low:g}..{d.high:g}"
                if d.log:
                    text += " log"
                if d.step not in (None, 1):
                    text += f" step {d.step:g}"
            out[dim.name] = text
        return out

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the searched parameters."""
        return tuple(d.name for d in self.dimensions)

    def defaults(self) -> dict[str, Any]:
        """The declared defaults of the configuration."""
        return {s.name: s.default for s in self.config_cls.specs()}

    def param_spec(self, name: str) -> ParamSpec:
        """The declaration of a parameter."""
        return self.config_cls.spec(name)

    def _active(self, dim: Dimension, values: Mapping[str, Any]) -> bool:
        if dim.spec.active_if is None:
            return True
        parent, allowed = dim.spec.active_if
        value = values.get(parent, self.fixed.get(parent,
                                                  self.config_cls.spec(parent).default))
        return value in allowed

    def suggest(self, trial: BaseTrial, prefix: str = "") -> dict[str, Any]:
        """Suggest a configuration (define-by-run: inactive parameters are not suggested); the
        trial's parameters are named ``prefix + name``, the returned keys ``name``."""
        values: dict[str, Any] = {}
        for dim in self.dimensions:
            if self._active(dim, values):
                values[dim.name] = _suggest(trial, prefix + dim.name, dim.distribution)
        return values

    def config(self, params: Mapping[str, Any]) -> Config:
        """A validated configuration from searched values plus the fixed ones."""
        known = {k: v for k, v in params.items() if k in self.names}
        return self.config_cls(**self.fixed, **known)

    def grid(self) -> dict[str, Sequence[Any]]:
        """Values per parameter for the grid sampler (categorical dimensions only)."""
        grid: dict[str, Sequence[Any]] = {}
        for dim in self.dimensions:
            d = dim.distribution
            if isinstance(d, CategoricalDistribution):
                grid[dim.name] = list(d.choices)
            elif isinstance(d, IntDistribution) and (d.high - d.low) // d.step <= 64 and (
                    not d.log):
                grid[dim.name] = list(range(d.low, d.high + 1, d.step))
            else:
                raise ConfigError(
                    f"--sampler grid needs finite values for {dim.name}: give "
                    f"--space {dim.name}=v1,v2,...")
        return grid


@dataclass(frozen=True)
class FamilyConfig:
    """A design of a cross-family study: the device's name and its configuration."""

    device: str
    config: Config


class FamilySpace:
    """One search space over several devices (``-d systolic,gpu,analog``): the device is a
    categorical choice and each device's declared space is conditional on it, its
    parameters named ``device.parameter`` (``systolic.rows``).

    Args:
        spaces: Per device name, the configuration class.
        overrides: ``--space`` entries; each applies to the devices that declare it (an entry
            no device declares is an error). A device declaring none of them is still a
            choice, at its defaults and fixed values.
        fixed: ``-s`` values; each applies to the devices that declare it (an error if none
            does).
    """

    DEVICE = "device"

    def __init__(self, classes: Mapping[str, type[Config]],
                 overrides: Mapping[str, str] | None = None,
                 fixed: Mapping[str, Any] | None = None) -> None:
        overrides, fixed = dict(overrides or {}), dict(fixed or {})
        names = list(classes)
        self._fixed: dict[str, dict[str, Any]] = {}  # devices with nothing to search
        for what, keys in (("-s", fixed), ("--space", overrides)):
            for key in keys:
                if not any(key in {s.name for s in c.specs()} for c in classes.values()):
                    raise ConfigError(f"{what} {key}: no listed device declares it "
                                      f"({', '.join(names)})")
        self.spaces: dict[str, SearchSpace | None] = {}
        for name, cls in classes.items():
            declared = {s.name for s in cls.specs()}
            mine = {k: v for k, v in overrides.items() if k in declared}
            own_fixed = {k: v for k, v in fixed.items() if k in declared}
            space: SearchSpace | None = None
            if mine or not overrides:
                try:
                    space = SearchSpace(cls, mine, own_fixed)
                except ConfigError as exc:
                    if "nothing to search" not in str(exc):
                        raise
            self.spaces[name] = space  # None: searched only as a choice, at its fixed values
            if space is None:
                self._fixed[name] = parse_fixed(cls, own_fixed)
        self.classes = dict(classes)
        self.device_dimension = CategoricalDistribution(names)
        self.fixed: dict[str, Any] = {}
        for name in names:
            sp = self.spaces[name]
            values = sp.fixed if sp is not None else self._fixed[name]
            self.fixed.update({f"{name}.{k}": v for k, v in values.items()})

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """The device choice, then every device's dimensions under ``device.name``."""
        import dataclasses

        dims = [Dimension(ParamSpec(self.DEVICE, str, next(iter(self.classes)),
                                    choices=tuple(self.classes)), self.device_dimension)]
        for name, space in self.spaces.items():
            for d in space.dimensions if space is not None else ():
                dims.append(Dimension(dataclasses.replace(d.spec, name=f"{name}.{d.name}"),
                                      d.distribution))
        return tuple(dims)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the searched parameters (``device`` and ``device.parameter``)."""
        return tuple(d.name for d in self.dimensions)

    def describe(self) -> dict[str, str]:
        """The device choice and each device's dimensions, as text."""
        out = {self.DEVICE: ",".join(self.classes)}
        for name, space in self.spaces.items():
            if space is not None:
                out.update({f"{name}.{k}": v for k, v in space.describe().items()})
        return out

    def defaults(self) -> dict[str, Any]:
        """The declared defaults of every device, under ``device.name``."""
        return {f"{n}.{s.name}": s.default for n, c in self.classes.items() for s in c.specs()}

    def param_spec(self, name: str) -> ParamSpec:
        """The declaration behind a searched name."""
        if name == self.DEVICE:
            return next(d.spec for d in self.dimensions if d.name == name)
        device, _, key = name.partition(".")
        if device not in self.classes:
            raise ConfigError(f"{name}: not a parameter of a listed device")
        return self.classes[device].spec(key)

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """The device, then its parameters (define-by-run: the others are not suggested)."""
        device = trial.suggest_categorical(self.DEVICE, list(self.classes))
        values: dict[str, Any] = {self.DEVICE: device}
        space = self.spaces[device]
        if space is not None:
            for key, v in space.suggest(trial, prefix=f"{device}.").items():
                values[f"{device}.{key}"] = v
        return values

    def config(self, params: Mapping[str, Any]) -> FamilyConfig:
        """The device named in ``params`` (default: the first listed) and its validated
        configuration."""
        device = str(params.get(self.DEVICE, next(iter(self.classes))))
        if device not in self.classes:
            raise ConfigError(f"device {device!r} is not one of {', '.join(self.classes)}")
        mine = {k.partition(".")[2]: v for k, v in params.items()
                if k.startswith(device + ".")}
        space = self.spaces[device]
        if space is None:
            return FamilyConfig(device, self.classes[device](**self._fixed[device]))
        return FamilyConfig(device, space.config(mine))

    def grid(self) -> dict[str, Sequence[Any]]:
        raise ConfigError("--sampler grid cannot search several devices (their parameters "
                          "are conditional on the device): use tpe, nsga2 or random")
