"""Symbolic dimensions of ONNX inputs: bound by the user (--dim, YAML dims, Python dims=),
never silently taken as 1."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

from accel_sim.errors import WorkloadError
from workloads import load_workload


def _transformer_ffn(tmp_path, static: bool = False) -> str:
    """x[batch, seq, 64] @ W1[64, 256] -> Relu -> @ W2[256, 64]; scores x @ x^T per batch."""
    from onnx import TensorProto, helper

    shape = [2, 16, 64] if static else ["batch", "seq", 64]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, None)
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [64, 256], [0.0] * 64 * 256)
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [256, 64], [0.0] * 256 * 64)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="act"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
        helper.make_node("Transpose", ["x"], ["xt"], name="t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x", "xt"], ["s"], name="scores"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y, s], initializer=[w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / ("static.onnx" if static else "dyn.onnx")
    onnx.save(model, str(path))
    return str(path)


def test_unbound_symbolic_dims_are_an_error_naming_them(tmp_path):
    path = _transformer_ffn(tmp_path)
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    msg = str(info.value)
    assert "symbolic dimension(s) batch, seq" in msg and "--dim batch=N --dim seq=N" in msg
    with pytest.raises(WorkloadError, match="seq"):
        load_workload(path, dims={"batch": 2})


def test_bound_dims_give_the_static_model(tmp_path):
    dyn = load_workload(_transformer_ffn(tmp_path), dims={"batch": 2, "seq": 16})
    static = load_workload(_transformer_ffn(tmp_path, static=True))
    shape = [(lay.name, lay.op, lay.m, lay.n, lay.k, lay.groups) for lay in dyn]
    assert shape == [(lay.name, lay.op, lay.m, lay.n, lay.k, lay.groups) for lay in static]
    fc1 = dyn[0]
    assert (fc1.m, fc1.n, fc1.k) == (2 * 16, 256, 64)  # batch*seq rows, not 1
    scores = next(lay for lay in dyn if lay.name == "scores")
    assert (scores.m, scores.n, scores.k, scores.groups) == (16, 16, 64, 2)
    assert dyn.macs == 2 * 16 * (64 * 256 * 2 + 16 * 64)


@pytest.mark.parametrize("dims,needle", [
    ({"batch": 2, "seq": 16, "heads": 4}, "--dim heads: no such symbolic dimension (the "
                                          "model's: batch, seq)"),
    ({"batch": 0, "seq": 16}, "--dim batch=0: expected an integer in [1, 2147483647]"),
    ({"batch": "two", "seq": 16}, "--dim batch='two': expected an integer >= 1"),
    ({"batch": 1.5, "seq": 16}, "expected an integer in"),
])
def test_bad_dims(tmp_path, dims, needle):
    with pytest.raises(WorkloadError) as info:
        load_workload(_transformer_ffn(tmp_path), dims=dims)
    assert needle in str(info.value)


def test_dims_on_other_workloads_are_refused():
    with pytest.raises(WorkloadError, match=r"symbolic dimensions of \.onnx models only"):
        load_workload("resnet18", dims={"batch": 1})


def test_cli_dim_flag_and_yaml_dims(tmp_path):
    path = _transformer_ffn(tmp_path)
    base = [sys.executable, "-m", "accel_sim"]
    res = subprocess.run([*base, "run", "-w", path, "-d", "systolic", "-o",
                          str(tmp_path / "o")], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and "--dim batch=N --dim seq=N" in res.stderr
    res = subprocess.run([*base, "run", "-w", path, "-d", "systolic", "--dim", "batch=2",
                          "--dim", "seq=16", "-o", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    import json

    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["macs"] == 2 * 16 * (64 * 256 * 2 + 16 * 64)
    res = subprocess.run([*base, "run", "-w", path, "-d", "systolic", "--dim", "batch=2",
                          "--dim", "batch=4", "-o", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "--dim batch: given twice" in res.stderr
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"workload: {path}\ndevice: systolic\ndims:\n  batch: 2\n  seq: 16\n"
                    "trials: 2\nobjectives: [latency, energy]\n")
    res = subprocess.run([*base, "explore", str(spec), "-q", "-o", str(tmp_path / "e")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    # resuming with other dims is refused: the study was made for other layer shapes
    res = subprocess.run([*base, "explore", str(spec), "--dim", "seq=32", "-q", "-o",
                          str(tmp_path / "e")], capture_output=True, text=True)
    assert res.returncode == 2 and "dims: study has" in res.stderr, res.stderr


def test_dims_go_to_the_onnx_workloads_that_have_them(tmp_path):
    """Several workloads: each ONNX model gets the dimensions it has, the others none; a
    name no model has is an error."""
    from workloads import load_workloads

    dyn = _transformer_ffn(tmp_path)
    traces = load_workloads([dyn, "digits_mlp"], dims={"batch": 2, "seq": 16})
    assert traces[0][0].m == 32 and traces[1].name == "digits_mlp"
    with pytest.raises(WorkloadError, match="no such symbolic dimension"):
        load_workloads([dyn, "digits_mlp"], dims={"batch": 2, "seq": 16, "heads": 4})
    with pytest.raises(WorkloadError, match="no workload is one"):
        load_workloads(["digits_mlp"], dims={"batch": 2})
    res = subprocess.run([sys.executable, "-m", "accel_sim", "explore", "-w",
                          f"{dyn},digits_mlp", "-d", "systolic", "--dim", "batch=2", "--dim",
                          "seq=16", "--trials", "2", "-q", "-o", str(tmp_path / "e")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("attrs, needle", [
    ({"strides": [0, 0]}, "strides=[0, 0] must be 2 integers >= 1"),
    ({"dilations": [1, 0]}, "dilations=[1, 0] must be 2 integers >= 1"),
    ({"pads": [0, -1, 0, 0]}, "pads=[0, -1, 0, 0] must be 4 integers >= 0"),
])
def test_conv_attributes_out_of_range_are_one_error(tmp_path, attrs, needle):
    """A Conv with a zero stride once divided by zero (found by tests/test_fuzz.py)."""
    from onnx import TensorProto, helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4]),
                      helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 1, 1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(WorkloadError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_workload(str(path))
