"""Command-line flags and settings-file keys generated from :func:`~accel_sim.param`
declarations.

An application's settings (the serving scenario, an exploration) are a :class:`Config` like a
device's; these functions turn its declaration into ``argparse`` options
(:func:`add_options`), read the parsed flags back (:func:`from_args`) and read a settings-file
mapping (:func:`from_file`), so each option is declared once: its type, range, unit, default,
help text, flag and file key.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping
from typing import Any

from ._params import Config, ParamSpec, _fmt, parse_pairs
from .errors import ConfigError

__all__ = ["add_options", "from_args", "from_file", "help_text", "merge"]


def help_text(spec: ParamSpec, *, show_default: bool = True) -> str:
    """``--help`` text of a declared option: its doc, range and unit, and default."""
    parts = [spec.doc.rstrip(".")] if spec.doc else []
    if spec.kind == "value" and spec.choices is not None:
        parts.append(spec.allowed())
    elif spec.kind == "value" and spec.type in (int, float):
        parts.append(spec.allowed() + (f" {spec.unit}" if spec.unit else ""))
    elif spec.unit:
        parts.append(spec.unit)
    if (show_default and spec.kind == "value" and spec.type is not bool
            and spec.default not in (None, "")):
        default = (_fmt(spec.default) if isinstance(spec.default, (int, float))
                   else str(spec.default))
        parts.append(f"default {default}")
    return "; ".join(parts).replace("%", "%%")


def add_options(parser: argparse.ArgumentParser, cls: type[Config], *,
                required: Collection[str] = ()) -> None:
    """Add one flag per declared field of ``cls`` (``required``: flags that must be given).

    Flags store raw text under the field's name and are absent from the namespace unless
    given (:func:`from_args` parses them), so a settings file's values stay where no flag is
    given. Booleans are switches; lists take comma-separated items and may repeat; maps take
    ``key=value`` items, one per flag (repeat it), or several after one flag when declared with
    ``merge=False`` (flags then replace the file's map).
    """
    for spec in cls.specs():
        flags = [f for f in (spec.short, spec.cli_flag) if f]
        kw: dict[str, Any] = {"dest": spec.name, "default": argparse.SUPPRESS,
                              "help": help_text(spec,
                                                show_default=spec.name not in required)}
        if spec.name in required:
            kw["required"] = True
        if spec.kind == "value" and spec.type is bool:
            kw["action"] = "store_true"
        else:
            if spec.metavar:
                kw["metavar"] = spec.metavar
            if spec.kind == "value":
                pass  # choices and ranges are checked by the declaration: one-line errors
            elif spec.merge:
                kw["action"] = "append"
            else:  # items replace the file's: several may follow one flag
                kw["action"], kw["nargs"] = "extend", "+"
        parser.add_argument(*flags, **kw)


def from_args(cls: type[Config], args: argparse.Namespace) -> dict[str, Any]:
    """The values of the flags given (added by :func:`add_options`), parsed and validated
    by their declarations; errors name the flag."""
    out: dict[str, Any] = {}
    for spec in cls.specs():
        if not hasattr(args, spec.name):
            continue
        raw = getattr(args, spec.name)
        label = spec.cli_flag
        if spec.kind == "value" and spec.type is bool:
            out[spec.name] = bool(raw)
        elif spec.kind == "map":
            items = raw if isinstance(raw, list) else [raw]
            out[spec.name] = parse_pairs(items, spec.short or label, bare=not spec.merge)
        elif spec.kind == "list":
            items = raw if isinstance(raw, list) else [raw]
            parsed: list[Any] = []
            for text in items:
                parsed.extend(spec.parse(text, label=label))
            out[spec.name] = spec.validate(tuple(parsed), label=label)
        else:
            out[spec.name] = spec.parse(raw, label=label)
    return out


def merge(cls: type[Config], base: Mapping[str, Any],
          override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` (flags) over ``base`` (a file): maps declared with ``merge`` combine key
    by key, everything else is replaced."""
    out = dict(base)
    for spec in cls.specs():
        if spec.name not in override:
            continue
        value = override[spec.name]
        if spec.kind == "map" and spec.merge and spec.name in out:
            value = {**out[spec.name], **value}
        out[spec.name] = value
    return out


def from_file(cls: type[Config], data: Mapping[Any, Any], source: str) -> dict[str, Any]:
    """Keyword arguments of ``cls`` from a settings-file mapping (parsed YAML): keys are the
    declared ``key``/``aliases``; values are checked by type (lists may be comma-separated
    text, map values are kept as text). Errors start with ``source``."""
    specs = {s.name: s for s in cls.specs()}
    owner: dict[str, ParamSpec] = {}
    for s in specs.values():
        for k in (s.file_key, *s.aliases):
            owner[k] = s
    unknown = sorted(str(k) for k in data if k not in owner)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(owner))}")
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in data.items():
        spec = owner[key]
        if spec.name in given:
            raise ConfigError(f"{source}: give {given[spec.name]} or {key}, not both")
        given[spec.name] = key
        if value is None:
            continue
        out[spec.name] = _file_value(spec, value, f"{source}: {key}")
    return out


def _file_value(spec: ParamSpec, value: Any, label: str) -> Any:
    if spec.kind == "map":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{label} must be a mapping of name -> value")
        return {str(k): _map_text(v) for k, v in value.items()}
    if spec.kind == "list":
        if isinstance(value, str):
            return spec.parse(value, label=label)
        if not isinstance(value, list):
            raise ConfigError(f"{label} must be a list or a comma-separated text")
        return spec.validate(tuple(str(v) for v in value), label=label)
    if spec.type is bool and not isinstance(value, bool):
        raise ConfigError(f"{label} must be true or false, got {value!r}")
    if spec.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{label} must be an integer, {spec.allowed()}; got {value!r}")
    if spec.type is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{label} must be a number, {spec.allowed()}"
                          f"{' ' + spec.unit if spec.unit else ''}; got {value!r}")
    if spec.type is str:
        value = str(value)
    return spec.validate(value, label=label)


def _map_text(value: Any) -> str:
    """A settings-file map value as text (lists as ``a,b``; ``None`` as empty)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(x) for x in value)
    return str(value)
