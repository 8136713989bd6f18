"""Workload frontend: built-in models, SCALE-Sim CSV and ONNX importers, argument syntax."""

from __future__ import annotations

import csv
import math

import pytest

from accel_sim import OpKind
from accel_sim.errors import ConfigError, UnknownNameError, WorkloadError
from workloads import list_workloads, load_workload, parse_workload_spec, read_topology


def _mmacs(trace) -> float:
    return trace.macs / 1e6


def test_every_builtin_builds_with_defaults():
    names = set(list_workloads())
    assert {"resnet18", "resnet50", "mobilenet_v2", "bert_base", "gpt2", "llama",
            "mixtral_8x7b", "dqn_mlp", "ic3net", "digits_mlp", "digits_cnn", "replay"} <= names
    for name in names:
        tr = load_workload(name)
        replay = [lay.op.is_replay for lay in tr]
        assert len(tr) > 0
        if any(replay):  # replay-memory traces hold replay ops only, no arithmetic
            assert all(replay) and tr.macs == 0
        else:
            assert tr.macs > 0


# torchvision's model documentation lists these "GFLOPS" (multiply-adds, batch 1, 224x224):
# resnet18 1.81, resnet50 4.09, mobilenet_v2 0.30; they are rounded to 2 decimals.
@pytest.mark.parametrize("name,gmacs", [("resnet18", 1.81), ("resnet50", 4.09),
                                        ("mobilenet_v2", 0.30)])
def test_cnn_macs_match_torchvision_docs(name, gmacs):
    assert load_workload(name).macs / 1e9 == pytest.approx(gmacs, abs=0.006)


def test_builtin_resnet18_equals_onnx_resnet18_layer_by_layer(shared):
    ours = load_workload("resnet18").filter(matmul_only=True)
    onnx_tr = load_workload(str(shared / "data/onnx/resnet18.onnx"))
    assert [(lay.m, lay.n, lay.k, lay.groups) for lay in ours] == [
        (lay.m, lay.n, lay.k, lay.groups) for lay in onnx_tr]


def test_bert_macs_match_closed_form():
    s, h, f, n = 128, 768, 3072, 12
    per_layer = 4 * s * h * h + 2 * s * h * f + 2 * s * s * h
    tr = load_workload("bert_base:seq_len=128,batch=8")
    assert tr.macs == 8 * (n * per_layer + h * h)
    assert all(lay.batch == 8 for lay in tr)


def test_llama_gqa_shapes_and_macs():
    tr = load_workload("llama", seq_len=64, layers=2, hidden=256, heads=8, kv_heads=2, ffn=512,
                       vocab=1000)
    by = {lay.name: lay for lay in tr}
    hd = 32
    assert by["block.k_proj"].n == 2 * hd  # kv_heads * head_dim
    score = by["block.attn_score"]
    assert (score.groups, score.m, score.n, score.k) == (2, 4 * 64, 64, hd)
    s, h, kv, f = 64, 256, 2 * hd, 512
    per_layer = s * h * (2 * h + 2 * kv) + 3 * s * h * f + 2 * s * s * h
    assert tr.macs == 2 * per_layer + h * 1000


def test_decode_stage_has_one_token_and_kv_length():
    tr = load_workload("llama:stage=decode,seq_len=1000,batch=4")
    score = next(lay for lay in tr if lay.name == "block.attn_score")
    assert score.m == 4 and score.n == 1001 and score.batch == 4  # 4 query heads per KV head


def test_mixtral_uniform_routing():
    tr = load_workload("mixtral_8x7b:stage=decode,batch=32")
    up = next(lay for lay in tr if lay.name == "block.expert_up")
    assert up.op is OpKind.MOE_EXPERT and up.groups == 8 and up.m == 32 * 2 // 8


def test_ic3net_rows_are_agents():
    tr = load_workload("ic3net:agents=4,batch=2")
    lstm = next(lay for lay in tr if lay.op is OpKind.LSTM)
    assert (lstm.m, lstm.batch, lstm.n, lstm.k) == (4, 2, 512, 256)


def test_spec_parsing_and_errors():
    assert parse_workload_spec("bert_base:seq_len=128,batch=8") == (
        "bert_base", {"seq_len": "128", "batch": "8"})
    with pytest.raises(UnknownNameError, match="unknown workload"):
        load_workload("resnet1000")
    with pytest.raises(UnknownNameError, match="seqlen"):
        load_workload("bert_base:seqlen=3")
    with pytest.raises(WorkloadError, match="key=value"):
        load_workload("bert_base:128")
    with pytest.raises(ConfigError, match=r"bert_base.batch=0 is out of range: int in \[1, "):
        load_workload("bert_base:batch=0")
    with pytest.raises(WorkloadError, match="no such"):
        load_workload("/nonexistent/topology.csv")


# ---------------------------------------------------------------------- SCALE-Sim CSV
def _reference_rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("ref", ["google256_os_Resnet18", "scale32_ws_alexnet",
                                 "google256_os_vit_s"])
def test_topology_import_matches_scalesim_view(shared, ref):
    topo = ref.split("_", 2)[2]
    tr = read_topology(shared / f"data/topologies/{topo}.csv")
    rows = _reference_rows(shared / f"data/scalesim/reference/{ref}.csv")
    assert len(rows) == len(tr)
    for lay, row in zip(tr, rows, strict=True):
        assert lay.name == row["layer"]
        assert (lay.m, lay.n, lay.k) == (int(row["M_ofmap_px"]), int(row["N_filters"]),
                                         int(row["K_window"]))
        assert lay.macs == int(row["macs"])


def test_every_shared_topology_imports(shared):
    files = sorted((shared / "data/topologies").glob("*.csv"))
    assert len(files) == 11
    for f in files:
        tr = read_topology(f)
        assert tr.macs > 0
    assert len(read_topology(shared / "data/topologies/Resnet50.csv")) == 54


def test_depthwise_marker(tmp_path):
    p = tmp_path / "dw.csv"
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,"
                 " Num Filter, Strides,\nConv_DP1,10,10,3,3,8,1,1,\n")
    lay = read_topology(p)[0]
    assert lay.op is OpKind.GROUPED_CONV and lay.groups == 8 and (lay.m, lay.n, lay.k) == (
        64, 1, 9)


def test_gemm_sparsity_column(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Layer,M,N,K,\nL0,4,8,16,2:4\n")
    lay = read_topology(p)[0]
    assert (lay.sparsity_n, lay.sparsity_m, lay.weight_density) == (2, 4, 0.5)


CONV_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
             "Num Filter, Strides,\n")


@pytest.mark.parametrize("body,match", [
    ("Conv1,224,224,3,3,3,\n", r":2: conv row needs 8 values"),
    ("Conv1,224,224,3,3,3,64,x,\n", r":2: Strides='x' is not an integer"),
    ("Conv1,224,0,3,3,3,64,1,\n", r":2: IFMAP Width=0 must be >= 1"),
    ("Conv1,2,2,3,3,3,64,1,\n", r":2: filter 3x3 is larger"),
    ("Conv1,8,8,3,3,3,-4,1,\n", r":2: Num Filter=-4 must be >= 1"),
])
def test_malformed_conv_rows(tmp_path, body, match):
    p = tmp_path / "bad.csv"
    p.write_text(CONV_HEAD + "Conv0,8,8,3,3,3,4,1,\n" + body.replace("Conv1", "Conv1", 1))
    # the bad row is line 3 (header, one good row)
    with pytest.raises(WorkloadError, match=match.replace(":2:", ":3:")):
        read_topology(p)


@pytest.mark.parametrize("text,match", [
    ("Layer,M,N,K,\nL0,4,8,\n", "GEMM row needs"),
    ("Layer,M,N,K,\nL0,4,8,0\n", "K=0"),
    ("Layer,M,N,K,\nL0,4,8,16,5:4\n", "N:M"),
    ("foo,bar\n1,2\n", "unrecognised header"),
    ("", "empty"),
    ("Layer,M,N,K,\n,,,\n", "no layers"),
])
def test_malformed_gemm_files(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(WorkloadError, match=match):
        read_topology(p)


# ---------------------------------------------------------------------- ONNX
# Independent counts from shared/data/onnx/README.md (onnx shape inference, batch 1).
@pytest.mark.parametrize("name,layers,macs", [("alexnet", 8, 654_560_384),
                                              ("resnet18", 21, 1_814_073_344)])
def test_onnx_layer_counts_and_macs(shared, name, layers, macs):
    tr = load_workload(str(shared / f"data/onnx/{name}.onnx"))
    assert len(tr) == layers and tr.macs == macs
    assert sum(tr.metadata["skipped_ops"].values()) > 0  # Relu etc. reported, not fatal


def _onnx_model(tmp_path, op_type, domain="", wshape=(4, 4, 3, 3), **attrs):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, list(wshape), [0.0] * math.prod(wshape))
    inputs = ["x", "w"] if op_type in ("Conv", "ConvTranspose") else ["x"]
    node = helper.make_node(op_type, inputs, ["y"], name="n0", domain=domain, **attrs)
    graph = helper.make_graph([node], "g", [x], [y], initializer=[w])
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return str(path)


def test_onnx_depthwise_conv(tmp_path):
    tr = load_workload(_onnx_model(tmp_path, "Conv", wshape=(4, 1, 3, 3), group=4,
                                   pads=[1, 1, 1, 1], strides=[2, 2]))
    lay = tr[0]
    assert lay.op is OpKind.GROUPED_CONV
    assert (lay.groups, lay.m, lay.n, lay.k) == (4, 16, 1, 9)
    assert lay.macs == 4 * 16 * 9


def test_onnx_group_mismatch_is_a_clear_error(tmp_path):
    with pytest.raises(WorkloadError, match="4 channels per group x 4 groups, input has 4"):
        load_workload(_onnx_model(tmp_path, "Conv", group=4))


def test_onnx_unknown_op_is_a_clear_error(tmp_path):
    with pytest.raises(WorkloadError, match=r"node 0 \(n0\): unknown ONNX op com.acme::Frobnicate"):
        load_workload(_onnx_model(tmp_path, "Frobnicate", domain="com.acme"))


def test_onnx_unsupported_mac_op_is_a_clear_error(tmp_path):
    with pytest.raises(WorkloadError, match="ConvTranspose carries MACs but is not supported"):
        load_workload(_onnx_model(tmp_path, "ConvTranspose"))


def test_onnx_without_mac_ops_is_an_error(tmp_path):
    with pytest.raises(WorkloadError, match="no Conv, Gemm or MatMul"):
        load_workload(_onnx_model(tmp_path, "Relu"))


def test_onnx_corrupt_file(tmp_path):
    p = tmp_path / "broken.onnx"
    p.write_bytes(b"\x00\x01not a protobuf at all" * 3)
    with pytest.raises(WorkloadError, match=r"broken\.onnx"):
        load_workload(str(p))



# ---------------------------------------------------------------------- contract
def _contract_classes():
    """One WorkloadContract test class per built-in workload (named after it)."""
    from accel_sim.testing import WorkloadContract
    from workloads import workload_names

    for name in workload_names():
        cls = type(f"TestWorkload_{name}", (WorkloadContract,), {"workload_name": name})
        globals()[cls.__name__] = cls


_contract_classes()


def test_llm_iteration_offers_every_model_preset():
    """`-w llm_iteration:model=...` accepts exactly the presets `serve` knows."""
    from accel_sim.llm import MODELS
    from workloads._models import LlmIterationParams

    spec = {s.name: s for s in LlmIterationParams.specs()}["model"]
    assert spec.choices is not None
    assert sorted(spec.choices) == sorted(MODELS)
    assert load_workload("llm_iteration:model=llama2_70b,batch=2").task is not None
