"""A third-party workload: a plain function with annotated keyword parameters."""

from __future__ import annotations

import itertools

from accel_sim import Layer, OpKind, Trace


def toy_mlp(batch: int = 1, hidden: int = 256, layers: int = 2, bits: int = 16) -> Trace:
    """Toy MLP: ``layers`` hidden layers of ``hidden`` units on 64 inputs, 10 outputs."""
    widths = [64] + [hidden] * layers + [10]
    out = []
    for i, (k, n) in enumerate(itertools.pairwise(widths)):
        out.append(Layer(f"fc{i}", OpKind.GEMM, m=1, n=n, k=k, batch=batch, input_bits=bits,
                         weight_bits=bits, output_bits=bits))
        out.append(Layer(f"act{i}", OpKind.ELEMENTWISE, m=1, n=n, k=1, batch=batch))
    return Trace("toy_mlp", tuple(out))
