"""Declared, validated parameters: the single source of a device's settings and search space.

A device configuration is a frozen dataclass whose fields are declared with :func:`param`::

    @dataclass(frozen=True)
    class MyConfig(Config):
        rows: int = param(32, low=1, high=4096, unit="PEs", doc="Array height.", log=True)

Each declaration carries type, unit, range or choices and default. The same table validates
values at construction (:meth:`Config.__post_init__`), parses command-line strings
(:meth:`Config.from_strings`), lists parameters for ``accel-sim devices``, generates invalid
values for tests (:meth:`ParamSpec.invalid_values`) and defines the explorer's search space.

Application settings (the serving scenario, an exploration) are declared the same way; their
fields may also be lists (``tuple[str, ...]``, or a tuple of a type with a ``parse(text)``
class method) and maps (``Mapping[str, str]``), and declare how they appear on the command line
and in files (``flag``, ``short``, ``key``, ``aliases``): :mod:`accel_sim._options` generates
the ``argparse`` flags and reads YAML mappings from the declaration.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError, UnknownNameError

__all__ = ["Config", "ParamSpec", "param"]

_META_KEY = "accel_sim"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """Declaration of one configuration parameter.

    Attributes:
        name: Field name, the key used on the command line (``-s name=value``).
        type: One of ``int``, ``float``, ``bool``, ``str``.
        default: Default value.
        unit: Physical unit ("" when dimensionless).
        doc: One-line description, including the source of a default constant.
        low, high: Inclusive numeric bounds (``None``: unbounded on that side).
        choices: Allowed values for categorical parameters.
        log: Search on a log scale (numeric parameters).
        step: Grid step for integer/float search (``None``: continuous or unit step).
        search: Whether the explorer searches this parameter by default. Technology constants
            are declared with ``search=False``: they are fixed unless a user asks for them.
        active_if: ``(other_name, allowed_values)``: the parameter only matters when another
            parameter takes one of these values (a conditional search-space parameter).
        optional: ``None`` is allowed and means "derive from other parameters" (e.g. presets).
        kind: ``"value"`` (one value of ``type``), ``"list"`` (a tuple of them) or ``"map"``
            (a mapping of text keys to values, e.g. ``-s key=value``).
        flag, short: Command-line flags (default: ``--name`` with ``_`` as ``-``; no short).
        key, aliases: Key in a settings file (default: ``name``) and other accepted keys.
        metavar: Placeholder shown in ``--help``.
        split: How one text gives the items of a list (default: at commas).
        merge: Maps given in a file and by flags merge key by key (``False``: flags replace).
    """

    name: str
    type: type
    default: Any
    unit: str = ""
    doc: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    step: float | None = None
    search: bool = True
    active_if: tuple[str, tuple[Any, ...]] | None = None
    optional: bool = False
    kind: str = "value"
    flag: str | None = None
    short: str | None = None
    key: str | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    split: Callable[[str], list[str]] | None = None
    merge: bool = True

    @property
    def cli_flag(self) -> str:
        """The long command-line flag, e.g. ``--warm-start``."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def file_key(self) -> str:
        """The key in a settings file."""
        return self.key or self.name

    @property
    def has_search_range(self) -> bool:
        """Whether the declaration bounds a search by itself: choices, a bool, or a number
        with both bounds (otherwise the explorer needs ``--space``)."""
        return (self.choices is not None or self.type is bool
                or (self.type in (int, float) and self.low is not None
                    and self.high is not None))

    @property
    def parses_items(self) -> bool:
        """Whether list items are objects of a type that parses text (``type.parse``)."""
        return self.type not in (int, float, bool, str)

    # ------------------------------------------------------------------ description
    def allowed(self) -> str:
        """Human-readable allowed range, used in error messages and listings."""
        if self.kind == "map":
            return "a mapping of name -> value"
        if self.kind == "list" and self.parses_items:
            return f"a list of {self.type.__name__.lower()}s"
        if self.choices is not None:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        elif self.type is bool:
            text = "true or false"
        elif self.low is not None or self.high is not None:
            lo = "-inf" if self.low is None else _fmt(self.low)
            hi = "inf" if self.high is None else _fmt(self.high)
            text = f"{self.type.__name__} in [{lo}, {hi}]"
        else:
            text = self.type.__name__
        if self.optional:
            text += " (or unset)"
        return text

    # ------------------------------------------------------------------ validation
    def _where(self, owner: str, label: str | None) -> str:
        if label is not None:
            return label
        return f"{owner}.{self.name}" if owner else self.name

    def validate(self, value: Any, owner: str = "", *, label: str | None = None) -> Any:
        """Return ``value`` coerced to the declared type, or raise :class:`ConfigError`.

        Errors name ``label`` when given (e.g. the flag), else ``owner.name``.
        """
        where = self._where(owner, label)
        if self.kind == "list":
            return self._validate_list(value, where)
        if self.kind == "map":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}={value!r}: expected a mapping of name -> value")
            if not all(isinstance(k, str) for k in value):
                raise ConfigError(f"{where}: names must be text, got {list(value)!r}")
            return dict(value)
        return self._validate_value(value, where)

    def _validate_list(self, value: Any, where: str) -> tuple[Any, ...]:
        if isinstance(value, (str, os.PathLike)) or (self.parses_items
                                                     and isinstance(value, self.type)):
            value = (value,)
        if not isinstance(value, Iterable) or isinstance(value, Mapping):
            raise ConfigError(f"{where}={value!r}: expected {self.allowed()}")
        out = []
        for item in value:
            if self.parses_items:
                if isinstance(item, self.type):
                    out.append(item)
                elif isinstance(item, str):
                    out.append(self.type.parse(item))  # type: ignore[attr-defined]
                else:
                    raise ConfigError(f"{where}: {item!r} is not text")
            else:
                out.append(self._validate_value(item, where))
        return tuple(out)

    def _validate_value(self, value: Any, where: str) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{where}: a value is required ({self.allowed()})")
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int,)) and value in (0, 1):
                return bool(value)
            raise ConfigError(f"{where}={value!r}: expected true or false")
        if self.type is int:
            whole = (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(float(value))
                and float(value).is_integer()
            )
            if whole:
                value = int(value)
            else:
                raise ConfigError(f"{where}={value!r}: expected an integer, {self.allowed()}")
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    value = float(value)  # numpy scalars
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"{where}={value!r}: expected a number, {self.allowed()}"
                    ) from None
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{where}={value!r}: must be finite, {self.allowed()}")
        elif self.type is str and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if self.type is str and not isinstance(value, str):
            raise ConfigError(f"{where}={value!r}: expected text, {self.allowed()}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{where}={value!r} is not allowed: {self.allowed()}")
        if self.low is not None and value < self.low:
            raise ConfigError(f"{where}={value!r} is out of range: {self.allowed()}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{where}={value!r} is out of range: {self.allowed()}")
        return value

    def parse(self, text: str, owner: str = "", *, label: str | None = None) -> Any:
        """Parse a command-line string to a validated value (a list: its items, split at
        commas or by ``split``; a map: one ``key=value`` pair)."""
        where = self._where(owner, label)
        if self.kind == "list":
            items = (self.split or _split_commas)(text)
            if self.parses_items:
                return self._validate_list(items, where)
            return tuple(self._parse_value(t, text, where) for t in items)
        if self.kind == "map":
            return parse_pairs([text], where)
        return self._parse_value(text.strip(), text, where)

    def _parse_value(self, t: str, text: str, where: str) -> Any:
        t = t.strip()
        if self.optional and t.lower() in {"none", ""}:
            return None
        if self.type is bool:
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ConfigError(f"{where}={text!r}: expected true or false")
        if self.type in (int, float):
            try:
                num = float(t)
            except ValueError:
                raise ConfigError(
                    f"{where}={text!r} is not a number: {self.allowed()}"
                ) from None
            if self.type is int:
                if not num.is_integer():
                    raise ConfigError(f"{where}={text!r}: expected an integer, {self.allowed()}")
                return self._validate_value(int(num), where)
            return self._validate_value(num, where)
        return self._validate_value(t, where)

    def invalid_values(self) -> list[Any]:
        """Values this parameter must reject (for contract tests)."""
        bad: list[Any] = []
        if self.kind == "map":
            return [["not", "a", "mapping"], 5]
        if self.kind == "list":
            return [5, [None]]
        if self.choices is not None:
            bad.append("__not_a_choice__")
        elif self.type is bool:
            bad.append("maybe")
        elif self.type in (int, float):
            if self.low is not None:
                bad.append(self.low - (1 if self.type is int else max(abs(self.low), 1.0) * 0.5))
            if self.high is not None:
                bad.append(self.high + (1 if self.type is int else max(abs(self.high), 1.0)))
            bad.append("abc")
            if self.type is int:
                bad.append(1.5)
            else:
                bad.append(float("nan"))
        if not self.optional:
            bad.append(None)
        return bad


def _split_commas(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_pairs(items: Iterable[str], where: str, *, bare: bool = False) -> dict[str, str]:
    """``key=value`` texts as a dict (``bare``: a lone ``key`` gives ``""``); a key given twice
    is an error naming ``where`` (no silent last-wins)."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not key or not (eq or bare):
            form = "KEY, KEY=VALUE" if bare else "key=value"
            raise ConfigError(f"{where} {item!r}: expected {form}")
        if key in out:
            raise ConfigError(f"{where} {key}: given twice ({key}={out[key]} and "
                              f"{key}={value.strip()}); give it once")
        out[key] = value.strip()
    return out


def _fmt(x: float) -> str:
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:g}"


def param(
    default: Any,
    *,
    unit: str = "",
    doc: str = "",
    low: float | None = None,
    high: float | None = None,
    choices: Iterable[Any] | None = None,
    log: bool = False,
    step: float | None = None,
    search: bool = True,
    active_if: tuple[str, Iterable[Any]] | None = None,
    optional: bool = False,
    flag: str | None = None,
    short: str | None = None,
    key: str | None = None,
    aliases: Iterable[str] = (),
    metavar: str | None = None,
    split: Callable[[str], list[str]] | None = None,
    merge: bool = True,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare a configuration field: use it as the default of a field of a frozen
    dataclass deriving from :class:`Config`.

    The declaration is the single source of the parameter's validation (at construction),
    command-line parsing (``-s name=value``), listing (``accel-sim devices NAME``), test values
    (:meth:`ParamSpec.invalid_values`) and search space (``accel-sim explore``). The field's
    type annotation (``int``, ``float``, ``bool``, ``str``, or ``X | None`` with
    ``optional=True``) is its type.

    Args:
        default: The value when none is given; must itself be valid (``Config()`` with no
            arguments must construct).
        unit: Physical unit, shown in listings and errors (``"MHz"``, ``"pJ"``, ``"kB"``;
            ``""`` for dimensionless).
        doc: One line saying what the parameter is and, for a constant, where its default
            comes from (paper, datasheet, measurement).
        low, high: Inclusive bounds of a numeric parameter (``None``: unbounded on that
            side). Values outside raise :class:`~accel_sim.errors.ConfigError` naming the
            range; the explorer searches ``[low, high]`` when both are set.
        choices: The allowed values of a categorical parameter (any other value is an
            error); the explorer searches them all.
        log: Search a numeric parameter on a log scale (sizes, bandwidths, capacities that
            span decades). Needs ``low > 0``.
        step: Grid step of a numeric search (``None``: every integer, or continuous).
        search: Whether ``explore`` searches the parameter by default. Declare technology
            constants and model switches with ``search=False``: they stay at their value
            unless the user names them with ``--space``. A parameter without both bounds or
            choices is never searched by default.
        active_if: ``(other_name, values)``: the parameter only matters when parameter
            ``other_name`` takes one of ``values``; the explorer suggests it only then (a
            conditional search space).
        optional: ``None`` is allowed and means "derive it" (e.g. from a preset or from the
            trace); on the command line ``none`` or an empty value gives ``None``.
        flag, short, key, aliases, metavar, split, merge: How an application setting appears
            on the command line and in settings files (see :class:`ParamSpec`).
        default_factory: Makes the default of a map (``dict``); ``default`` is then ignored.

    Example::

        @dataclass(frozen=True)
        class MyConfig(Config):
            rows: int = param(32, low=1, high=4096, log=True, unit="PEs",
                              doc="Array height.")
            clock_mhz: float = param(1000.0, low=1.0, high=10000.0, unit="MHz",
                                     search=False, doc="Clock (TPU v1: 700 MHz).")
    """
    meta = {
        "unit": unit,
        "doc": doc,
        "low": low,
        "high": high,
        "choices": tuple(choices) if choices is not None else None,
        "log": log,
        "step": step,
        "search": search,
        "active_if": (active_if[0], tuple(active_if[1])) if active_if else None,
        "optional": optional,
        "flag": flag,
        "short": short,
        "key": key,
        "aliases": tuple(aliases),
        "metavar": metavar,
        "split": split,
        "merge": merge,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory,
                                 metadata={_META_KEY: meta})
    return dataclasses.field(default=default, metadata={_META_KEY: meta})


_TYPE_NAMES = {"int": int, "float": float, "bool": bool, "str": str}
C = TypeVar("C", bound="Config")


@dataclass(frozen=True)
class Config:
    """Base of declared settings (device configurations, the serving scenario, an
    exploration): a frozen dataclass validated at construction.

    Subclasses declare each field with :func:`param`. Invalid values raise
    :class:`~accel_sim.errors.ConfigError` naming the field and its allowed range. Subclasses may
    override :meth:`_check` for cross-field rules (call ``super()._check()``).
    """

    _specs_cache: ClassVar[dict[type, tuple[ParamSpec, ...]]] = {}

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for spec in self.specs():
            value = spec.validate(getattr(self, spec.name), owner)
            object.__setattr__(self, spec.name, value)
        self._check()

    def _check(self) -> None:
        """Cross-field validation hook (raise ConfigError)."""

    # ------------------------------------------------------------------ declaration
    @classmethod
    def specs(cls) -> tuple[ParamSpec, ...]:
        """The declared parameters, in field order."""
        cached = Config._specs_cache.get(cls)
        if cached is not None:
            return cached
        out = []
        import typing

        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata.get(_META_KEY)
            if meta is None:
                raise TypeError(f"{cls.__name__}.{f.name} must be declared with accel_sim param()")
            kind, typ = _kind_and_type(hints[f.name])
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else f.default)
            out.append(ParamSpec(name=f.name, type=typ, default=default, kind=kind, **meta))
        result = tuple(out)
        Config._specs_cache[cls] = result
        return result

    @classmethod
    def spec(cls, name: str) -> ParamSpec:
        """The declaration of one parameter (UnknownNameError lists the known names)."""
        for s in cls.specs():
            if s.name == name:
                return s
        known = ", ".join(s.name for s in cls.specs())
        raise UnknownNameError(f"unknown parameter {name!r} of {cls.__name__}; known: {known}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls: type[C], values: Mapping[str, Any]) -> C:
        """Build from a mapping of Python values; unknown keys raise UnknownNameError."""
        for key in values:
            cls.spec(key)
        return cls(**values)

    @classmethod
    def from_strings(cls: type[C], values: Mapping[str, str]) -> C:
        """Build from command-line strings (``-s key=value``), parsing each by its declaration."""
        parsed = {k: cls.spec(k).parse(v, cls.__name__) for k, v in values.items()}
        return cls(**parsed)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated)."""
        for key in changes:
            self.spec(key)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Field values as a plain dict."""
        return {s.name: getattr(self, s.name) for s in self.specs()}


def _kind_and_type(typ: Any) -> tuple[str, type]:
    """``("list", X)`` for ``tuple[X, ...]``, ``("map", str)`` for ``Mapping[str, ...]``, else
    ``("value", base type)``."""
    import collections.abc
    import typing

    origin = typing.get_origin(typ)
    if origin is tuple:
        args = typing.get_args(typ)
        item = args[0]
        if item in (int, float, bool, str):
            return "list", item
        if isinstance(item, type) and callable(getattr(item, "parse", None)):
            return "list", item
        raise TypeError(f"unsupported list item type {item!r} (needs a parse(text) method)")
    if origin in (dict, collections.abc.Mapping, typing.Mapping):
        return "map", str
    return "value", _base_type(typ)


def _base_type(typ: Any) -> type:
    """Map annotations such as ``int``, ``float | None`` or ``Literal[...]`` to a base type."""
    import types
    import typing

    if isinstance(typ, str):
        typ = _TYPE_NAMES[typ]
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        return _base_type(args[0])
    if origin is typing.Literal:
        return type(typing.get_args(typ)[0])
    if typ in (int, float, bool, str):
        return typ
    raise TypeError(f"unsupported parameter type {typ!r}")
