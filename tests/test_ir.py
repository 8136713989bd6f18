"""Layer-trace IR: validation, derived sizes, columnar view, training traces."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim import ConvShape, Layer, OpKind, Phase, SparsityPattern, Trace, training_trace
from accel_sim.errors import WorkloadError


def test_macs_flops_bytes_of_a_gemm():
    lay = Layer("fc", OpKind.GEMM, m=4, n=5, k=6, batch=2, groups=3, repeat=7,
                input_bits=8, weight_bits=4, output_bits=16)
    assert lay.macs == 7 * 3 * 2 * 4 * 5 * 6
    assert lay.flops == 2 * lay.macs
    assert lay.input_bytes == 7 * 3 * 2 * 4 * 6 * 1.0
    assert lay.weight_bytes == 3 * 6 * 5 * 0.5
    assert lay.output_bytes == 7 * 3 * 2 * 4 * 5 * 2.0


def test_conv_input_bytes_use_the_ifmap_not_im2col():
    c = ConvShape(8, 8, 3, 3, 4, 16, stride=1, padding=1)
    lay = Layer("c", OpKind.CONV, m=c.ofmap_h * c.ofmap_w, n=16, k=36, conv=c, input_bits=8)
    assert (c.ofmap_h, c.ofmap_w) == (8, 8)
    assert lay.input_bytes == 8 * 8 * 4


def test_conv_output_size_floor_and_ceil():
    assert ConvShape(224, 224, 11, 11, 3, 96, 4).ofmap_h == 54  # PyTorch floor
    assert ConvShape(224, 224, 11, 11, 3, 96, 4, ceil_mode=True).ofmap_h == 55  # SCALE-Sim


def test_nm_sparsity_sets_density_and_attention_has_no_weights():
    lay = Layer("s", OpKind.GEMM, m=2, n=8, k=8, sparsity=SparsityPattern.NM, sparsity_n=2,
                sparsity_m=8)
    assert lay.weight_density == 0.25
    att = Layer("a", OpKind.ATTN_SCORE, m=4, n=4, k=2, groups=2)
    assert att.weight_bytes == 0 and not att.op.has_weights
    assert att.input_bytes == 2 * (4 * 2 + 2 * 4) * 2


@pytest.mark.parametrize("field,value", [("m", 0), ("n", -3), ("k", 0), ("batch", 0),
                                         ("groups", -1), ("repeat", 0), ("m", 2.5),
                                         ("input_bits", 0), ("weight_bits", 65),
                                         ("act_density", 0.0), ("act_density", 1.5)])
def test_invalid_dimensions_are_rejected_naming_the_field(field, value):
    kw = dict(name="bad", op=OpKind.GEMM, m=1, n=1, k=1)
    kw[field] = value
    with pytest.raises(WorkloadError, match=field):
        Layer(**kw)


def test_invalid_sparsity_and_conv():
    with pytest.raises(WorkloadError, match="N:M"):
        Layer("x", OpKind.GEMM, m=1, n=1, k=1, sparsity="nm", sparsity_n=3, sparsity_m=2)
    with pytest.raises(WorkloadError, match="dense"):
        Layer("x", OpKind.GEMM, m=1, n=1, k=1, weight_density=0.5)
    with pytest.raises(WorkloadError, match="op"):
        Layer("x", "not_an_op", m=1, n=1, k=1)
    with pytest.raises(WorkloadError, match="groups"):
        ConvShape(8, 8, 3, 3, 6, 8, groups=4)
    with pytest.raises(WorkloadError, match="larger"):
        ConvShape(2, 2, 3, 3, 1, 1)
    with pytest.raises(WorkloadError, match="no layers"):
        Trace("empty", ())


def test_trace_columns_totals_and_slicing():
    layers = (Layer("a", OpKind.GEMM, m=2, n=3, k=4), Layer("b", OpKind.NORM, m=2, n=3, k=1),
              Layer("c", OpKind.CONV, m=9, n=2, k=3, batch=2))
    tr = Trace("t", layers, {"x": 1})
    cols = tr.columns
    np.testing.assert_array_equal(cols["m"], [2, 2, 9])
    np.testing.assert_array_equal(cols["macs"], [24, 0, 108])
    assert tr.macs == 132 and tr.flops == 2 * 132 + 5 * 6
    assert not cols["m"].flags.writeable
    assert tr[1:].names == ("b", "c")
    assert len(tr + tr) == 6
    with pytest.raises(TypeError):
        tr.metadata["x"] = 2  # read-only


def test_training_trace_shapes():
    fc = Layer("fc", OpKind.GEMM, m=7, n=5, k=3, batch=4, groups=2)
    att = Layer("s", OpKind.ATTN_SCORE, m=6, n=6, k=8, groups=2, batch=3)
    act = Layer("r", OpKind.ELEMENTWISE, m=7, n=5, k=1)
    tr = training_trace(Trace("t", (fc, att, act)))
    by = {lay.name: lay for lay in tr}
    bd, bw, up = by["fc.bwd_data"], by["fc.bwd_weight"], by["fc.update"]
    # dX[M,K] = dY[M,N] W^T[N,K]
    assert (bd.m, bd.n, bd.k, bd.batch, bd.groups) == (7, 3, 5, 4, 2)
    assert bd.phase is Phase.BACKWARD_DATA
    # dW[K,N] = X^T[K, B*M] dY[B*M, N]
    assert (bw.m, bw.n, bw.k, bw.batch, bw.groups) == (3, 5, 28, 1, 2)
    assert bw.phase is Phase.BACKWARD_WEIGHT
    assert (up.m, up.n, up.groups, up.op, up.phase) == (3, 5, 2, OpKind.ELEMENTWISE,
                                                        Phase.UPDATE)
    assert bd.macs == fc.macs == bw.macs
    # attention: gradients for both operands
    sa, sb = by["s.bwd_a"], by["s.bwd_b"]
    assert (sa.m, sa.n, sa.k) == (6, 8, 6) and (sb.m, sb.n, sb.k) == (8, 6, 6)
    assert sa.macs == sb.macs == att.macs
    assert by["r.bwd"].phase is Phase.BACKWARD_DATA
    # backward layers come in reverse order, updates last
    names = tr.names
    assert names.index("r.bwd") < names.index("s.bwd_a") < names.index("fc.bwd_data")
    assert names[-1] == "fc.update"
    assert tr.metadata["training"] is True


def test_training_keeps_nm_weights_in_backward_data_only():
    fc = Layer("fc", OpKind.GEMM, m=4, n=8, k=8, sparsity="nm", sparsity_n=2, sparsity_m=4)
    by = {lay.name: lay for lay in training_trace(Trace("t", (fc,)))}
    assert by["fc.bwd_data"].sparsity is SparsityPattern.NM
    assert by["fc.bwd_weight"].sparsity is SparsityPattern.DENSE
    assert by["fc.bwd_weight"].weight_density == 1.0
