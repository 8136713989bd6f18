"""Registry of built-in workloads and parsing of workload arguments."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from accel_sim._ir import Layer, Trace
from accel_sim._params import Config
from accel_sim.errors import UnknownNameError, WorkloadError

__all__ = ["WorkloadInfo", "list_workloads", "load_workload", "load_workloads",
           "parse_workload_spec"]


@dataclass(frozen=True)
class WorkloadInfo:
    """A built-in workload: its name, parameter declaration, description and builder."""

    name: str
    params: type[Config]
    description: str
    build: Callable[[Config], Iterable[Layer]]

    def trace(self, params: Config | None = None) -> Trace:
        """Build the trace for the given parameters (defaults if ``None``)."""
        p = params if params is not None else self.params()
        meta = {"workload": self.name, **p.to_dict()}
        built = self.build(p)
        task = None
        if isinstance(built, Trace):  # a builder may return a trace with metadata and a task
            meta = {**built.metadata, **meta}
            task = built.task
        return Trace(self.name, tuple(built), meta, task)


_WORKLOADS: dict[str, WorkloadInfo] = {}


def workload(name: str, params: type[Config], description: str):
    """Decorator registering a builder ``f(params) -> iterable of Layer`` under ``name``."""

    def deco(fn: Callable[[Config], Iterable[Layer]]):
        _WORKLOADS[name] = WorkloadInfo(name, params, description, fn)
        return fn

    return deco


def list_workloads() -> dict[str, WorkloadInfo]:
    """The built-in workloads by name."""
    return dict(sorted(_WORKLOADS.items()))


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
                   dims: Mapping[str, int] | None = None) -> list[Trace]:
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


def load_workload(spec: str | os.PathLike[str], *, dims: Mapping[str, int] | None = None,
                  **params: object) -> Trace:
    """Build a trace from a workload argument.

    ``spec`` is a built-in name with optional parameters (``"bert_base:seq_len=128,batch=8"``)
    or the path of a SCALE-Sim topology ``.csv`` or an ``.onnx`` file. Keyword arguments give
    parameters as Python values (they override those in the string). ``dims`` binds the
    symbolic dimensions of an ONNX model's inputs (``{"batch": 1, "seq": 128}``).
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
    if name not in _WORKLOADS:
        raise UnknownNameError(
            f"unknown workload {name!r}; built-ins: {', '.join(sorted(_WORKLOADS))} "
            "(or a path to a .csv/.onnx file)"
        )
    info = _WORKLOADS[name]
    cfg_cls = info.params
    values = {k: cfg_cls.spec(k).parse(v, name) for k, v in str_params.items()}
    for k, v in params.items():
        cfg_cls.spec(k)
        values[k] = v
    return info.trace(cfg_cls(**values))
