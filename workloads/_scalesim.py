"""Importer of SCALE-Sim topology CSVs (conv and GEMM formats)."""

from __future__ import annotations

import csv
import os
from typing import Any

from accel_sim._ir import ConvShape, Layer, OpKind, SparsityPattern, Trace
from accel_sim.errors import WorkloadError

__all__ = ["read_topology"]

#: Operand precision of SCALE-Sim topologies: SCALE-Sim's word is one byte.
SCALESIM_BITS = 8
_BITS: dict[str, Any] = {"input_bits": SCALESIM_BITS, "weight_bits": SCALESIM_BITS,
         "output_bits": SCALESIM_BITS}

_CONV_FIELDS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")


def _int(path: str, line: int, field: str, text: str) -> int:
    t = text.strip()
    try:
        value = int(t)
    except ValueError:
        raise WorkloadError(
            f"{path}:{line}: {field}={t!r} is not an integer (expected an integer >= 1)"
        ) from None
    if value < 1:
        raise WorkloadError(f"{path}:{line}: {field}={value} must be >= 1")
    return value


def read_topology(path: str | os.PathLike[str], *, gemm: bool | None = None) -> Trace:
    """Read a SCALE-Sim topology CSV into a trace.

    Args:
        path: The CSV file.
        gemm: ``True`` for the GEMM format (``Layer,M,N,K[,N:M]``), ``False`` for the conv format
            (``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
            Num Filter, Strides``), ``None`` to detect it from the header.

    Conv layers keep SCALE-Sim's view: no padding and ``ofmap = ceil((H - R + s) / s)``;
    GEMM layers become ``m = M`` (ofmap pixels), ``n = N`` (filters), ``k = K`` (window).
    Layers whose name contains ``DP`` are depthwise: one 2-D filter per channel, which SCALE-Sim
    runs as one 1-filter convolution per channel (``groups = channels``). Blank rows are
    skipped; columns after the last required one are ignored.

    Precision: SCALE-Sim's word is one byte, so every operand is 8 bits (``input_bits``,
    ``weight_bits`` and ``output_bits`` = :data:`SCALESIM_BITS`); ``systolic`` then runs the
    topology with SCALE-Sim's word size, and other devices see 8-bit operands. Change it with
    :meth:`accel_sim.Trace.with_precision`.
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise WorkloadError(f"{path}: not a text CSV file") from None
    if not rows:
        raise WorkloadError(f"{path}: empty topology file")
    header = [c.strip().lower() for c in rows[0]]
    is_gemm_header = header[1:4] == ["m", "n", "k"]
    is_conv_header = len(header) >= 8 and header[1] == "ifmap height"
    if gemm is None:
        if not (is_gemm_header or is_conv_header):
            raise WorkloadError(
                f"{path}:1: unrecognised header {rows[0][:4]!r}; expected 'Layer,M,N,K' (GEMM) "
                "or 'Layer name, IFMAP Height, ...' (conv)"
            )
        gemm = is_gemm_header
    layers: list[Layer] = []
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        name = cells[0] or f"layer{len(layers)}"
        try:
            layers.append(_gemm_row(path, line, name, cells) if gemm
                          else _conv_row(path, line, name, cells))
        except WorkloadError as exc:  # limits of the IR: name the file, line and layer
            text = str(exc)
            if text.startswith(path):
                raise
            prefix = "" if text.startswith("layer ") else f"layer {name!r}: "
            raise WorkloadError(f"{path}:{line}: {prefix}{text}") from None
    if not layers:
        raise WorkloadError(f"{path}: no layers after the header")
    base = os.path.splitext(os.path.basename(path))[0]
    try:
        return Trace(base, tuple(layers), {"source": path, "format": "gemm" if gemm else "conv"})
    except WorkloadError as exc:
        raise WorkloadError(f"{path}: {exc}") from None


def _gemm_row(path: str, line: int, name: str, cells: list[str]) -> Layer:
    if len(cells) < 4 or not all(cells[1:4]):
        raise WorkloadError(f"{path}:{line}: GEMM row needs Layer,M,N,K; got {cells[:5]!r}")
    m, n, k = (_int(path, line, f, c) for f, c in zip("MNK", cells[1:4], strict=True))
    kw: dict[str, Any] = {}
    if len(cells) > 4 and cells[4]:
        sn, colon, sm = cells[4].partition(":")
        try:
            nn, mm = int(sn), int(sm)
        except ValueError:
            nn = mm = 0
        if not colon or not 1 <= nn <= mm:
            raise WorkloadError(
                f"{path}:{line}: sparsity {cells[4]!r} must be N:M with 1 <= N <= M"
            )
        kw = dict(sparsity=SparsityPattern.NM, sparsity_n=nn, sparsity_m=mm)
    return Layer(name=name, op=OpKind.GEMM, m=m, n=n, k=k, **_BITS, **kw)


def _conv_row(path: str, line: int, name: str, cells: list[str]) -> Layer:
    if len(cells) < 8 or not all(cells[1:8]):
        raise WorkloadError(
            f"{path}:{line}: conv row needs 8 values (name, {', '.join(_CONV_FIELDS)}); "
            f"got {len([c for c in cells[:8] if c])}"
        )
    h, w, r, s, c, f, st = (_int(path, line, fld, v)
                            for fld, v in zip(_CONV_FIELDS, cells[1:8], strict=True))
    if r > h or s > w:
        raise WorkloadError(
            f"{path}:{line}: filter {r}x{s} is larger than the ifmap {h}x{w}"
        )
    depthwise = "DP" in name
    groups = c if depthwise else 1
    filters = c * f if depthwise else f
    shape = ConvShape(h, w, r, s, c, filters, st, 0, groups, ceil_mode=True)
    return Layer(
        name=name, op=OpKind.GROUPED_CONV if depthwise else OpKind.CONV,
        m=shape.ofmap_h * shape.ofmap_w, n=filters // groups, k=r * s * (c // groups),
        groups=groups, conv=shape, **_BITS,
    )
