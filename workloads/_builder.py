"""A small helper that accumulates layers of a network defined in code."""

from __future__ import annotations

from accel_sim._ir import ConvShape, Layer, OpKind


class NetBuilder:
    """Accumulates :class:`~accel_sim.Layer` objects with shared batch and precision.

    Args:
        batch: Inputs per inference (images, sequences).
        bits: Precision of inputs, weights and outputs in bits.
    """

    def __init__(self, batch: int, bits: int) -> None:
        self.batch = batch
        self.bits = bits
        self.layers: list[Layer] = []

    def _add(self, **kw) -> Layer:
        kw.setdefault("batch", self.batch)
        lay = Layer(input_bits=self.bits, weight_bits=self.bits, output_bits=self.bits, **kw)
        self.layers.append(lay)
        return lay

    def conv(self, name: str, h: int, w: int, cin: int, cout: int, r: int, *, stride: int = 1,
             pad: int | None = None, groups: int = 1, s: int | None = None) -> tuple[int, int]:
        """A conv layer (``pad`` defaults to ``r // 2``); returns the output (h, w)."""
        s = r if s is None else s
        pad = r // 2 if pad is None else pad
        shape = ConvShape(h, w, r, s, cin, cout, stride, pad, groups)
        oh, ow = shape.ofmap_h, shape.ofmap_w
        self._add(name=name, op=OpKind.GROUPED_CONV if groups > 1 else OpKind.CONV,
                  m=oh * ow, n=cout // groups, k=r * s * cin // groups, groups=groups,
                  conv=shape)
        return oh, ow

    def pool(self, name: str, h: int, w: int, c: int, r: int, *, stride: int,
             pad: int = 0) -> tuple[int, int]:
        """A max/avg pooling layer; returns the output (h, w)."""
        oh = (h + 2 * pad - r) // stride + 1
        ow = (w + 2 * pad - r) // stride + 1
        self._add(name=name, op=OpKind.POOL, m=oh * ow, n=c, k=r * r)
        return oh, ow

    def linear(self, name: str, rows: int, k_in: int, n_out: int, *, op: OpKind = OpKind.GEMM,
               groups: int = 1, repeat: int = 1, batch: int | None = None) -> Layer:
        """A linear layer ``[rows, k_in] @ [k_in, n_out]`` per batch element."""
        return self._add(name=name, op=op, m=rows, n=n_out, k=k_in, groups=groups,
                         repeat=repeat, batch=self.batch if batch is None else batch)

    def matmul(self, name: str, op: OpKind, m: int, n: int, k: int, *, groups: int,
               repeat: int = 1) -> Layer:
        """An activation-activation matmul (attention)."""
        return self._add(name=name, op=op, m=m, n=n, k=k, groups=groups, repeat=repeat)

    def vector(self, name: str, op: OpKind, rows: int, cols: int, *, repeat: int = 1,
               groups: int = 1) -> Layer:
        """An elementwise/norm/softmax op over ``rows x cols`` elements per batch element."""
        return self._add(name=name, op=op, m=rows, n=cols, k=1, repeat=repeat, groups=groups)


def ceil_div(a: int, b: int) -> int:
    """Integer ceiling of a / b."""
    return -(-a // b)

