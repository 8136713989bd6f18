"""Importer of ONNX graphs: Conv (incl. grouped/depthwise), Gemm and MatMul.

Weights are never needed: shapes come from initializer dimensions and ONNX shape inference,
so graphs whose weights live in absent external files load fine. Ops that carry no MACs
(activations, pooling, reshapes, ...) are skipped and listed in the trace metadata under
``skipped_ops``; an op that would carry MACs but is not supported, or an op ONNX does not know,
raises :class:`~accel_sim.errors.WorkloadError` naming the node.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from accel_sim._ir import ConvShape, Layer, OpKind, Trace
from accel_sim.errors import WorkloadError

__all__ = ["onnx_dim_names", "read_onnx"]

#: Ops with multiply-accumulates that the importer does not translate (yet).
_UNSUPPORTED_MAC_OPS = {
    "ConvTranspose", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul",
    "Einsum", "LSTM", "GRU", "RNN", "Attention", "DeformConv",
}


def read_onnx(path: str | os.PathLike[str], dims: Mapping[str, int | str] | None = None
              ) -> Trace:
    """Read an ONNX model file into a trace.

    Args:
        path: The ``.onnx`` file.
        dims: Values of the graph inputs' symbolic dimensions (``{"batch": 1, "seq": 128}``;
            CLI ``--dim batch=1 --dim seq=128``). Every symbolic dimension must be bound: an
            unbound one is an error naming it, never taken as 1. A name the model does not
            have is an error too.
    """
    dims = _check_dims(path, dims)
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:  # pragma: no cover - depends on the environment
        raise WorkloadError(
            "reading .onnx workloads needs the 'onnx' package: pip install 'accel-sim[onnx]'"
        ) from None
    path = os.fspath(path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for corrupt files
        raise WorkloadError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    _bind_dims(path, model, dims)
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:
        raise WorkloadError(f"{path}: ONNX shape inference failed: "
                            f"{' '.join(str(exc).split())}") from None
    g = inferred.graph
    shapes: dict[str, list[int | None]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None
                               for d in tt.shape.dim]
    weights = {t.name: list(t.dims) for t in g.initializer}
    shapes.update({k: list(v) for k, v in weights.items()})
    for node in g.node:  # Constant nodes carry shapes too
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(a.t.dims)
                    weights[node.output[0]] = list(a.t.dims)

    layers: list[Layer] = []
    skipped: Counter[str] = Counter()
    for idx, node in enumerate(g.node):
        where = f"{path}: node {idx} ({node.name or node.op_type})"
        op = node.op_type
        if node.domain not in ("", "ai.onnx") or not onnx.defs.has(op):
            qual = f"{node.domain}::{op}" if node.domain else op
            raise WorkloadError(f"{where}: unknown ONNX op {qual}; supported: Conv, Gemm, "
                                "MatMul (ops without MACs are skipped)")
        if op in _UNSUPPORTED_MAC_OPS:
            raise WorkloadError(f"{where}: ONNX op {op} carries MACs but is not supported; "
                                "supported: Conv, Gemm, MatMul")
        name = node.name or f"{op.lower()}{idx}"
        if op == "Conv":
            layers.append(_conv(where, name, node, shapes))
        elif op == "Gemm":
            layers.append(_gemm(where, name, node, shapes))
        elif op == "MatMul":
            layers.append(_matmul(where, name, node, shapes, weights))
        else:
            skipped[op] += 1
    if not layers:
        raise WorkloadError(f"{path}: no Conv, Gemm or MatMul nodes")
    base = os.path.splitext(os.path.basename(path))[0]
    return Trace(base, tuple(layers), {"source": path, "format": "onnx",
                                       "skipped_ops": dict(sorted(skipped.items()))})


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            if a.ints:
                return list(a.ints)
            if a.type == a.INT:
                return a.i
            if a.type == a.FLOAT:
                return a.f
            if a.type == a.STRING:
                return a.s.decode()
    return default


def _shape(where: str, shapes: dict, name: str, what: str) -> list[int | None]:
    if name not in shapes:
        raise WorkloadError(f"{where}: the shape of {what} {name!r} is unknown "
                            "(no value_info and shape inference could not derive it)")
    return shapes[name]


def _dim(d: int | None, where: str = "", what: str = "") -> int:
    """A concrete dimension; an unknown one (symbolic after binding, or computed at run time)
    is an error."""
    if d is None or d <= 0:
        raise WorkloadError(f"{where}: a dimension of {what or 'an operand'} is unknown after "
                            "binding the symbolic dimensions (it is computed at run time); "
                            "export the model with static shapes")
    return int(d)


def _check_dims(path: Any, dims: Mapping[str, int | str] | None) -> dict[str, int]:
    if dims is None:
        return {}
    if not isinstance(dims, Mapping):
        raise WorkloadError(f"{os.fspath(path)}: dims must map dimension names to sizes, got "
                            f"{type(dims).__name__}")
    out = {}
    for k, v in dims.items():
        if isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                raise WorkloadError(f"--dim {k}={v!r}: expected an integer >= 1") from None
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**31 - 1:
            raise WorkloadError(f"--dim {k}={v!r}: expected an integer in [1, 2147483647]")
        out[str(k)] = v
    return out


def onnx_dim_names(path: str | os.PathLike[str]) -> list[str]:
    """The symbolic dimension names of an ONNX model's inputs (no shape inference)."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - depends on the environment
        raise WorkloadError("reading .onnx workloads needs the 'onnx' package: pip install "
                            "'accel-sim[onnx]'") from None
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WorkloadError(f"{path}: no such workload file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for corrupt files
        raise WorkloadError(f"{path}: not a readable ONNX model ({type(exc).__name__})"
                            ) from None
    return sorted(symbolic_dims(model))


def symbolic_dims(model: Any) -> dict[str, list[str]]:
    """Symbolic dimension name -> the graph inputs that use it."""
    weights = {t.name for t in model.graph.initializer}
    found: dict[str, list[str]] = {}
    for vi in model.graph.input:
        if vi.name in weights or not vi.type.tensor_type.HasField("shape"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param:
                found.setdefault(d.dim_param, []).append(vi.name)
    return found


def _bind_dims(path: str, model: Any, dims: Mapping[str, int]) -> None:
    """Replace the graph inputs' symbolic dimensions by their values (in place)."""
    found = symbolic_dims(model)
    unknown = sorted(set(dims) - set(found))
    if unknown:
        have = ", ".join(sorted(found)) or "none"
        raise WorkloadError(f"{path}: --dim {', '.join(unknown)}: no such symbolic dimension "
                            f"(the model's: {have})")
    missing = sorted(set(found) - set(dims))
    if missing:
        example = " ".join(f"--dim {m}=N" for m in missing)
        raise WorkloadError(
            f"{path}: symbolic dimension(s) {', '.join(missing)} (of input(s) "
            f"{', '.join(sorted({i for m in missing for i in found[m]}))}) are not bound; "
            f"give them, e.g. {example} (YAML: dims:, Python: dims={{...}})")
    weights = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in weights or not vi.type.tensor_type.HasField("shape"):
            continue
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_param") and d.dim_param:
                d.dim_value = dims[d.dim_param]
            elif not d.HasField("dim_value") or d.dim_value <= 0:
                raise WorkloadError(f"{path}: input {vi.name!r} dimension {i} has neither a "
                                    "size nor a name; export the model with static shapes")


def _conv(where: str, name: str, node, shapes: dict) -> Layer:
    x = _shape(where, shapes, node.input[0], "input")
    w = _shape(where, shapes, node.input[1], "weight")
    if len(x) != 4 or len(w) != 4:
        raise WorkloadError(f"{where}: only 2-D Conv is supported (input rank {len(x)})")
    batch, cin, h, wd = (_dim(d, where, "the input") for d in x)
    cout, cin_g, kh, kw = (_dim(d, where, "the weight") for d in w)
    group = int(_attr(node, "group", 1))
    strides = _attr(node, "strides", [1, 1])
    dil = _attr(node, "dilations", [1, 1])
    pads = _attr(node, "pads", [0, 0, 0, 0])
    for label, vals, least in (("strides", strides, 1), ("dilations", dil, 1),
                               ("pads", pads, 0)):
        if len(vals) != (4 if label == "pads" else 2) or any(int(v) < least for v in vals):
            raise WorkloadError(f"{where}: {label}={list(vals)} must be "
                                f"{4 if label == 'pads' else 2} integers >= {least}")
    if group < 1:
        raise WorkloadError(f"{where}: group={group} must be >= 1")
    if _attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        # SAME_UPPER/LOWER: output = ceil(in / stride); read it from inference below
        pads = None
    if cin_g * group != cin:
        raise WorkloadError(f"{where}: weight has {cin_g} channels per group x {group} groups, "
                            f"input has {cin}")
    out = shapes.get(node.output[0])
    if out and len(out) == 4 and out[2] and out[3]:
        oh, ow = int(out[2]), int(out[3])
    elif pads is not None:
        ekh, ekw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
        oh = (h + pads[0] + pads[2] - ekh) // strides[0] + 1
        ow = (wd + pads[1] + pads[3] - ekw) // strides[1] + 1
    else:
        raise WorkloadError(f"{where}: cannot determine the output size")
    pad = (pads[0] if pads else 0)
    try:
        shape = ConvShape(h, wd, kh, kw, cin, cout, int(strides[0]), int(pad), group)
    except WorkloadError as exc:
        raise WorkloadError(f"{where}: {exc}") from None
    return Layer(name=name, op=OpKind.GROUPED_CONV if group > 1 else OpKind.CONV,
                 m=oh * ow, n=cout // group, k=kh * kw * cin_g, groups=group, batch=batch,
                 conv=shape)


def _gemm(where: str, name: str, node, shapes: dict) -> Layer:
    b = _shape(where, shapes, node.input[1], "B")
    if len(b) != 2:
        raise WorkloadError(f"{where}: Gemm B must be 2-D, got rank {len(b)}")
    k, n = (_dim(d, where, "B") for d in (reversed(b) if _attr(node, "transB", 0) else b))
    a = shapes.get(node.input[0])
    if a is not None and len(a) == 2:
        m = _dim(a[1] if _attr(node, "transA", 0) else a[0], where, "A")
    else:
        out = _shape(where, shapes, node.output[0], "output")
        m = _dim(out[0], where, "the output")
    return Layer(name=name, op=OpKind.GEMM, m=m, n=n, k=k)


def _matmul(where: str, name: str, node, shapes: dict, weights: dict) -> Layer:
    a = _shape(where, shapes, node.input[0], "A")
    b = _shape(where, shapes, node.input[1], "B")
    if len(a) < 1 or len(b) < 1:
        raise WorkloadError(f"{where}: MatMul operands need rank >= 1")
    a2 = [1, *a] if len(a) == 1 else a
    b2 = [*b, 1] if len(b) == 1 else b
    m, k = _dim(a2[-2], where, "A"), _dim(a2[-1], where, "A")
    k2, n = _dim(b2[-2], where, "B"), _dim(b2[-1], where, "B")
    if k != k2:
        raise WorkloadError(f"{where}: MatMul inner dimensions differ ({k} vs {k2})")
    a_batch = math.prod(_dim(d, where, "A") for d in a2[:-2])
    b_batch = math.prod(_dim(d, where, "B") for d in b2[:-2])
    if node.input[1] in weights and b_batch == 1:
        # activation x weight: the batch dimensions of A become rows
        return Layer(name=name, op=OpKind.GEMM, m=m * a_batch, n=n, k=k)
    groups = max(a_batch, b_batch)
    return Layer(name=name, op=OpKind.ATTN_SCORE, m=m, n=n, k=k, groups=groups)
