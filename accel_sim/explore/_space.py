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

__all__ = ["Dimension", "SearchSpace"]

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
        self.fixed: dict[str, Any] = {}
        for key, value in (fixed or {}).items():
            spec = config_cls.spec(key)
            self.fixed[key] = (spec.parse(value, owner) if isinstance(value, str)
                               and spec.type is not str else spec.validate(value, owner))
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

    def _active(self, dim: Dimension, values: Mapping[str, Any]) -> bool:
        if dim.spec.active_if is None:
            return True
        parent, allowed = dim.spec.active_if
        value = values.get(parent, self.fixed.get(parent,
                                                  self.config_cls.spec(parent).default))
        return value in allowed

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Suggest a configuration (define-by-run: inactive parameters are not suggested)."""
        values: dict[str, Any] = {}
        for dim in self.dimensions:
            if self._active(dim, values):
                values[dim.name] = _suggest(trial, dim.name, dim.distribution)
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
