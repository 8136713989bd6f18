"""The workload registry and the parsing of workload arguments.

Every named workload, built-in or third-party, is an entry point of the group
``accel_sim.workloads``: a callable that takes keyword parameters and returns an
:class:`accel_sim.Trace` (or its layers). The built-ins are declared in accel_sim's own package
metadata (``setup.cfg``) like a plug-in's, and a workload's module is imported only when that
workload (or the list of them) is asked for.

A plug-in can be a plain function with annotated keyword parameters and defaults::

    def my_net(batch: int = 1, hidden: int = 256, act: str = "relu") -> Trace: ...

Its values are then parsed and checked by type (``-w my_net:batch=8,hidden=512``); declaring
ranges, units and docs as for device parameters is optional: give the function a ``params``
attribute holding an :class:`accel_sim.Config` subclass, or build it with :func:`workload`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from accel_sim._ir import Layer, Trace
from accel_sim._lazy import PluginGroup
from accel_sim._params import Config, param
from accel_sim.errors import AccelSimError, UnknownNameError, WorkloadError

__all__ = ["ENTRY_POINT_GROUP", "Workload", "WorkloadInfo", "get_workload", "list_workloads",
           "load_workload", "load_workloads", "parse_workload_spec", "workload",
           "workload_from_callable", "workload_names"]

ENTRY_POINT_GROUP = "accel_sim.workloads"


@dataclass(frozen=True)
class Workload:
    """A named workload: its parameter declaration, description and builder.

    Calling it with keyword parameters (Python values, checked against ``params``) returns
    the trace: ``resnet50(batch=4)``.

    Attributes:
        name: The ``-w`` name.
        params: The parameters, a :class:`accel_sim.Config` subclass (defaults: ``params()``).
        description: One line for ``accel-sim workloads``.
        build: ``build(params) -> Trace | iterable of Layer``.
    """

    name: str
    params: type[Config]
    description: str
    build: Callable[[Config], Iterable[Layer] | Trace]

    def __call__(self, **values: Any) -> Trace:
        return self.trace(self.params.from_mapping(values))

    def trace(self, params: Config | None = None) -> Trace:
        """Build the trace for the given parameters (defaults if ``None``)."""
        p = params if params is not None else self.params()
        meta = {"workload": self.name, **p.to_dict()}
        built = self.build(p)
        task = None
        if isinstance(built, Trace):  # a builder may return a trace with metadata and a task
            meta = {**built.metadata, **meta}
            task = built.task
        elif not isinstance(built, Iterable):
            raise WorkloadError(f"workload {self.name!r} returned {type(built).__name__}, not "
                                "a Trace or its layers")
        return Trace(self.name, tuple(built), meta, task)


#: The former name of :class:`Workload`.
WorkloadInfo = Workload


_P = TypeVar("_P", bound=Config)


def workload(name: str, params: type[_P], description: str
             ) -> Callable[[Callable[[_P], Iterable[Layer] | Trace]], Workload]:
    """Decorator turning a builder ``f(params) -> Trace | layers`` into a :class:`Workload`
    (list it under the entry-point group ``accel_sim.workloads`` to make it a ``-w`` name)."""

    def deco(fn: Callable[[_P], Iterable[Layer] | Trace]) -> Workload:
        # the Workload calls its builder with instances of ``params`` only
        build = cast(Callable[[Config], Iterable[Layer] | Trace], fn)
        return Workload(name, params, description, build)

    return deco


_TYPES = {int, float, bool, str}


def workload_from_callable(name: str, obj: Any) -> Workload:
    """The :class:`Workload` of an entry point: a :class:`Workload` as it is, or a plain
    function whose keyword parameters (annotated ``int``, ``float``, ``bool``, ``str``, or one
    of those ``| None``, each with a default) become its declared parameters."""
    if isinstance(obj, Workload):
        return obj if obj.name == name else dataclasses.replace(obj, name=name)
    if not callable(obj):
        raise WorkloadError(f"workload plug-in {name!r}: {obj!r} is not callable")
    doc = inspect.getdoc(obj) or ""
    description = getattr(obj, "description", "") or (doc.splitlines()[0] if doc else name)
    declared = getattr(obj, "params", None)
    if isinstance(declared, type) and issubclass(declared, Config):
        return Workload(name, declared, description, lambda p: obj(**p.to_dict()))
    try:
        hints = typing.get_type_hints(obj)
    except Exception as exc:
        raise WorkloadError(f"workload plug-in {name!r}: cannot read its annotations ({exc})"
                            ) from None
    fields = []
    for pname, prm in inspect.signature(obj).parameters.items():
        if prm.kind not in (prm.KEYWORD_ONLY, prm.POSITIONAL_OR_KEYWORD):
            raise WorkloadError(f"workload plug-in {name!r}: parameter {pname!r} must be a "
                                "keyword parameter")
        if prm.default is prm.empty:
            raise WorkloadError(f"workload plug-in {name!r}: parameter {pname!r} needs a "
                                "default")
        typ = hints.get(pname)
        base, optional = _plain_type(typ)
        if base is None:
            raise WorkloadError(f"workload plug-in {name!r}: parameter {pname!r} must be "
                                f"annotated int, float, bool or str (or one | None), got {typ}")
        fields.append((pname, base | None if optional else base,
                       param(prm.default, optional=optional, search=False)))
    cls = dataclasses.make_dataclass(f"{name}_params", fields, bases=(Config,), frozen=True)
    return Workload(name, cls, description, lambda p: obj(**p.to_dict()))


def _plain_type(typ: Any) -> tuple[type | None, bool]:
    if typ in _TYPES:
        return typ, False
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if len(args) == 1 and args[0] in _TYPES and len(typing.get_args(typ)) == 2:
            return args[0], True
    return None, False


# ---------------------------------------------------------------------- registry
_PLUGINS: PluginGroup[Workload] = PluginGroup(
    ENTRY_POINT_GROUP, "workloads.", "workload", workload_from_callable, quiet=(AccelSimError,))


def workload_names() -> list[str]:
    """Every workload name, without importing any of them."""
    return sorted(_PLUGINS.points())


def get_workload(name: str) -> Workload:
    """The workload registered under ``name`` (imports its module only)."""
    wl = _PLUGINS.get(name)
    if wl is not None:
        return wl
    if name in _PLUGINS.errors:
        raise UnknownNameError(f"workload {name!r} failed to load: {_PLUGINS.errors[name]}")
    raise UnknownNameError(f"unknown workload {name!r}; known: {', '.join(workload_names())} "
                           "(or a path to a .csv/.onnx file)")


def list_workloads() -> dict[str, Workload]:
    """Every workload that loads, by name."""
    out = {}
    for name in workload_names():
        wl = _PLUGINS.get(name)
        if wl is not None:
            out[name] = wl
    return out


def parse_workload_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` into the name and a dict of strings."""
    name, _, rest = spec.partition(":")
    params: dict[str, str] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise WorkloadError(
                    f"workload {spec!r}: expected name:key=value[,key=value...], got {item!r}"
                )
            key = key.strip()
            if key in params:
                raise WorkloadError(f"workload {spec!r}: {key} is given twice")
            params[key] = value.strip()
    return name.strip(), params


def load_workloads(specs: Iterable[str | os.PathLike[str]], *,
                   dims: Mapping[str, int | str] | None = None) -> list[Trace]:
    """Several workload arguments; ``dims`` binds the symbolic dimensions of the ``.onnx``
    ones, each model getting the names it has (a name no model has is an error, and
    ``dims`` without any ``.onnx`` workload too)."""
    specs = list(specs)
    if not dims:
        return [load_workload(s) for s in specs]
    models = [os.fspath(s) for s in specs if isinstance(s, (str, os.PathLike))
              and os.fspath(s).lower().endswith(".onnx")]
    if not models:
        raise WorkloadError("--dim binds symbolic dimensions of .onnx models only; no "
                            "workload is one")
    from ._onnx import onnx_dim_names

    names = {m: set(onnx_dim_names(m)) for m in models}
    known = set().union(*names.values())
    unknown = sorted(set(dims) - known)
    if unknown:
        raise WorkloadError(f"--dim {', '.join(unknown)}: no such symbolic dimension in "
                            f"{', '.join(models)} (theirs: {', '.join(sorted(known)) or 'none'})")
    out = []
    for s in specs:
        text = os.fspath(s) if isinstance(s, (str, os.PathLike)) else s
        mine = names.get(text) if isinstance(text, str) else None
        if mine is None:
            out.append(load_workload(s))
        else:
            out.append(load_workload(s, dims={k: v for k, v in dims.items() if k in mine}))
    return out


def load_workload(spec: str | os.PathLike[str], *,
                  dims: Mapping[str, int | str] | None = None, **params: object) -> Trace:
    """Build a trace from a workload argument.

    ``spec`` is a built-in name with optional parameters (``"bert_base:seq_len=128,batch=8"``)
    or the path of a SCALE-Sim topology ``.csv`` or an ``.onnx`` file. Keyword arguments give
    parameters as Python values (they override those in the string). ``dims`` binds the
    symbolic dimensions of an ONNX model's inputs (``{"batch": 1, "seq": 128}``; strings are
    parsed, as ``--dim`` gives them).
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise WorkloadError(f"workload must be a name (e.g. 'resnet50:batch=4') or a .csv/.onnx "
                            f"path, got {type(spec).__name__}")
    text = os.fspath(spec)
    if not isinstance(text, str):
        raise WorkloadError(f"workload path {text!r} must be text, not bytes")
    low = text.lower()
    if dims and not low.endswith(".onnx"):
        raise WorkloadError(f"{text}: --dim binds symbolic dimensions of .onnx models only")
    if low.endswith(".csv") or low.endswith(".onnx"):
        if params:
            raise WorkloadError(f"{text}: file workloads take no parameters")
        if not os.path.isfile(text):
            raise WorkloadError(f"{text}: no such workload file")
        if low.endswith(".csv"):
            from ._scalesim import read_topology

            return read_topology(text)
        from ._onnx import read_onnx

        return read_onnx(text, dims=dims)
    name, str_params = parse_workload_spec(text)
    info = get_workload(name)
    cfg_cls = info.params
    values = {k: cfg_cls.spec(k).parse(v, name) for k, v in str_params.items()}
    for k, v in params.items():
        cfg_cls.spec(k)
        values[k] = v
    return info.trace(cfg_cls(**values))
