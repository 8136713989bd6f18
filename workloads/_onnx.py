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

from accel_sim import ConvShape, Layer, OpKind, Trace
from accel_sim.errors import WorkloadError

__all__ = ["read_onnx"]

#: Ops with multiply-accumulates that the importer does not translate (yet).
_UNSUPPORTED_MAC_OPS = {
    "ConvTranspose", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul",
    "Einsum", "LSTM", "GRU", "RNN", "Attention", "DeformConv",
}


def read_onnx(path: str | os.PathLike[str]) -> Trace:
    """Read an ONNX model file into a trace (batch dimensions that are symbolic count as 1)."""
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
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception as exc:
        raise WorkloadError(f"{path}: ONNX shape inference failed: {exc}") from None
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


def _dim(d: int | None) -> int:
    return 1 if d is None or d == 0 else int(d)


def _conv(where: str, name: str, node, shapes: dict) -> Layer:
    x = _shape(where, shapes, node.input[0], "input")
    w = _shape(where, shapes, node.input[1], "weight")
    if len(x) != 4 or len(w) != 4:
        raise WorkloadError(f"{where}: only 2-D Conv is supported (input rank {len(x)})")
    batch, cin, h, wd = (_dim(d) for d in x)
    cout, cin_g, kh, kw = (int(d) for d in w)
    group = int(_attr(node, "group", 1))
    strides = _attr(node, "strides", [1, 1])
    dil = _attr(node, "dilations", [1, 1])
    pads = _attr(node, "pads", [0, 0, 0, 0])
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
    k, n = (int(d) for d in (reversed(b) if _attr(node, "transB", 0) else b))
    a = shapes.get(node.input[0])
    if a is not None and len(a) == 2:
        m = _dim(a[1] if _attr(node, "transA", 0) else a[0])
    else:
        out = shapes.get(node.output[0])
        m = _dim(out[0]) if out else 1
    return Layer(name=name, op=OpKind.GEMM, m=m, n=n, k=k)


def _matmul(where: str, name: str, node, shapes: dict, weights: dict) -> Layer:
    a = _shape(where, shapes, node.input[0], "A")
    b = _shape(where, shapes, node.input[1], "B")
    if len(a) < 1 or len(b) < 1:
        raise WorkloadError(f"{where}: MatMul operands need rank >= 1")
    a2 = [1, *a] if len(a) == 1 else a
    b2 = [*b, 1] if len(b) == 1 else b
    m, k = _dim(a2[-2]), _dim(a2[-1])
    k2, n = _dim(b2[-2]), _dim(b2[-1])
    if k != k2:
        raise WorkloadError(f"{where}: MatMul inner dimensions differ ({k} vs {k2})")
    a_batch = math.prod(_dim(d) for d in a2[:-2])
    b_batch = math.prod(_dim(d) for d in b2[:-2])
    if node.input[1] in weights and b_batch == 1:
        # activation x weight: the batch dimensions of A become rows
        return Layer(name=name, op=OpKind.GEMM, m=m * a_batch, n=n, k=k)
    groups = max(a_batch, b_batch)
    return Layer(name=name, op=OpKind.ATTN_SCORE, m=m, n=n, k=k, groups=groups)
