"""Fuzzing the inputs a user controls: SCALE-Sim CSVs, ONNX files, YAML explore specs and
device parameters generated from their declarations.

Property, for every generated input: the command or call either succeeds with finite,
non-negative figures, or fails with exactly one ``accel-sim: error:`` line (an
:class:`~accel_sim.errors.AccelSimError` in Python) - never a traceback or a silently
wrong figure. No Hypothesis deadline is set: it is checked only after an example returns,
so it cannot stop a hang, and it fails slow examples on a busy machine. Hypothesis runs
derandomised, so CI sees the same examples every time; a failure prints the smallest input
that shows it.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accel_sim
from accel_sim.cli import main
from accel_sim.errors import AccelSimError

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _cli(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; returns (status, stderr). Any exception escaping
    ``main`` is a traceback the user would see, and fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0)
    return status, err.getvalue()


def _check_outcome(status: int, stderr: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if status == 0:
        return
    assert status == 2, (status, stderr)
    assert len(lines) == 1 and lines[0].startswith("accel-sim: error: "), stderr


def _finite_nonnegative(summary: dict, where: str) -> None:
    for key, value in summary.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key.startswith("violation_") or key == "accuracy":  # a DQN return can be < 0
            assert math.isfinite(value), (where, key, value)
            continue
        assert math.isfinite(value) and value >= 0, (where, key, value)


def _check_run_output(out: Path, where: str) -> None:
    summary = json.loads((out / "summary.json").read_text())
    _finite_nonnegative(summary, where)


# ---------------------------------------------------------------------- CSV topologies
# Generators draw from a seeded random.Random (Hypothesis provides it, derandomised), so the
# share of malformed pieces is explicit: mostly well-formed inputs with targeted damage.
_BAD_TOKENS = ["0", "-1", "-5", "32.5", "1e3", "nan", "inf", "-inf", "", " ", "0x10", "1_000",
               "٣", "３２", "1e400", "NaN", "+8", "7 ", "abc", str(2**31), str(10**12),
               str(10**30), "\x00", "€"]
_GEMM_HEAD = "Layer,M,N,K"
_CONV_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
              "Num Filter, Strides")


def _good_int(rnd) -> int:
    """Dimensions across scales: small, large, and near the IR's limits."""
    r = rnd.random()
    if r < 0.6:
        return rnd.randint(1, 64)
    if r < 0.9:
        return rnd.randint(1, 100_000)
    return rnd.choice([2**31 - 1, 2**24, 10**6, 2**17])


def _cell(rnd, good: int, bad_p: float) -> str:
    return rnd.choice(_BAD_TOKENS) if rnd.random() < bad_p else str(good)


def _csv_text_from(rnd) -> str:
    r = rnd.random()
    head = (_GEMM_HEAD if r < 0.45 else _CONV_HEAD if r < 0.85 else _GEMM_HEAD + ",N:M"
            if r < 0.95 else rnd.choice(["a,b,c", "", "Layer,N,M,K"]))
    conv = head == _CONV_HEAD
    bad_p = rnd.choice([0.0, 0.0, 0.05, 0.2])
    rows = []
    for i in range(rnd.randint(1, 4)):
        name = rnd.choice([f"l{i}", f"DP{i}"]) if rnd.random() > 0.05 else rnd.choice(
            ["", "x,y", '"q"'])
        if conv:
            h, w = _good_int(rnd) % 300 + 1, _good_int(rnd) % 300 + 1
            vals = [h, w, rnd.randint(1, h), rnd.randint(1, w), _good_int(rnd),
                    _good_int(rnd), rnd.randint(1, 4)]
        else:
            vals = [_good_int(rnd) for _ in range(3)]
        cells = [_cell(rnd, v, bad_p) for v in vals]
        if rnd.random() < bad_p:  # a missing or an extra cell
            cells = cells[:-1] if rnd.random() < 0.5 else [*cells, rnd.choice(_BAD_TOKENS)]
        if head.endswith("N:M") and rnd.random() < 0.5:
            cells.append(rnd.choice(["2:4", "1:8", "4:2", "0:4", "a:b", ":", "1:1"]))
        rows.append(",".join([name, *cells]))
    return "\n".join([head, *rows]) + rnd.choice(["", "\n", "\n\n"])


@FUZZ
@given(rnd=st.randoms(use_true_random=False),
       device=st.sampled_from(["systolic", "gpu", "analog", "sat", "learning_group"]),
       exact=st.booleans())
def test_fuzz_topology_csv(rnd, device, exact):
    text = _csv_text_from(rnd)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "topo.csv"
        path.write_text(text, encoding="utf-8")
        out = Path(tmp) / "out"
        argv = ["run", "-w", str(path), "-d", device, "-o", str(out)]
        if exact and device == "systolic":  # the exact memory model must refuse, not die
            argv += ["-s", "memory_model=scalesim"]
        status, err = _cli(argv)
        _check_outcome(status, err)
        if status == 0:
            _check_run_output(out, text)


@FUZZ
@given(data=st.binary(max_size=200))
def test_fuzz_binary_files_as_workloads_and_specs(data):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("w.csv", "w.onnx"):
            path = Path(tmp) / name
            path.write_bytes(data)
            _check_outcome(*_cli(["run", "-w", str(path), "-d", "systolic", "-o",
                                  str(Path(tmp) / "o")]))
        spec = Path(tmp) / "spec.yaml"
        spec.write_bytes(data)
        status, err = _cli(["explore", str(spec), "-q", "-o", str(Path(tmp) / "e")])
        _check_outcome(status, err)
        assert status == 2  # binary junk is never a complete spec


# ---------------------------------------------------------------------- ONNX
def _onnx_from(rnd) -> tuple[bytes, list[str]]:
    """A one-node model (mostly consistent shapes, sometimes damaged) and its symbolic
    dimension names."""
    from onnx import TensorProto, helper

    r = rnd.random()
    op = ("MatMul" if r < 0.35 else "Gemm" if r < 0.6 else "Conv" if r < 0.9 else
          rnd.choice(["Relu", "ConvTranspose", "Einsum"]))
    names: list[str] = []

    def dim():
        if rnd.random() < 0.3:
            name = rnd.choice(["batch", "seq"])
            names.append(name)
            return name
        if rnd.random() < 0.05:
            return rnd.choice([0, -1, None])
        return rnd.randint(1, 48)

    attrs: dict = {}
    if op in ("Conv", "ConvTranspose"):
        g = rnd.choice([1, 1, 2, 4]) if rnd.random() > 0.05 else rnd.choice([0, 3, 5])
        c, f = max(1, g) * rnd.randint(1, 4), max(1, g) * rnd.randint(1, 4)
        kh, kw = rnd.randint(1, 5), rnd.randint(1, 5)
        xshape = [dim(), c, rnd.randint(kh, 40), rnd.randint(kw, 40)]
        wshape = [f, max(1, c // max(1, g)), kh, kw]
        attrs["group"] = g
        if rnd.random() < 0.5:
            attrs["strides"] = [rnd.randint(1, 3) if rnd.random() > 0.05 else 0] * 2
        if rnd.random() < 0.5:
            attrs["pads"] = [rnd.randint(0, 2) if rnd.random() > 0.05 else -1] * 4
    elif op == "Gemm":
        k, n = rnd.randint(1, 64), rnd.randint(1, 64)
        xshape = [dim(), k]
        attrs["transB"] = rnd.randint(0, 1)
        wshape = [n, k] if attrs["transB"] else [k, n]
    else:
        k, n = rnd.randint(1, 64), rnd.randint(1, 64)
        xshape = [dim() for _ in range(rnd.randint(0, 2))] + [dim(), k]
        wshape = [k, n]
    if rnd.random() < 0.1:  # an inconsistent weight
        wshape = [rnd.randint(0, 9) for _ in range(rnd.randint(1, 4))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, wshape, [0.0] * math.prod(wshape))
    inputs = ["x"] if op == "Relu" else ["x", "w"]
    node = helper.make_node(op, inputs, ["y"], name="n0", **attrs)
    graph = helper.make_graph([node], "g", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString()
    if rnd.random() < 0.1:  # a damaged file
        cut = rnd.randint(0, len(data))
        data = data[:cut] + bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 8)))
    return data, sorted(set(names))


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_fuzz_onnx(rnd):
    data, names = _onnx_from(rnd)
    dims = {n: rnd.randint(1, 16) for n in names}  # what a user binds
    if rnd.random() < 0.15:  # a forgotten, unknown or out-of-range dimension
        key = rnd.choice(["batch", "seq", "x"])
        dims[key] = rnd.choice([-1, 0, 5, 2**31])
        if names and rnd.random() < 0.5:
            dims.pop(names[0], None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(data)
        out = Path(tmp) / "out"
        argv = ["run", "-w", str(path), "-d", "systolic", "-o", str(out)]
        for k, v in dims.items():
            argv += ["--dim", f"{k}={v}"]
        status, err = _cli(argv)
        _check_outcome(status, err)
        if status == 0:
            _check_run_output(out, repr(data[:40]))


# ---------------------------------------------------------------------- YAML specs
_SPEC_KEYS = ["workload", "workloads", "device", "objectives", "constraints", "constraint",
              "space", "set", "fixed", "trials", "sampler", "seed", "storage", "study",
              "workers", "output", "warm_start", "heartbeat", "training", "serve", "dims",
              "bogus"]
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["resnet18", "systolic", "latency,energy", "area<=5",
                                     "rows=8:16", "tpe", "grid", "", "x" * 3, "-1"]),
                    st.text(max_size=8))
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["rows", "cols", "dataflow", "batch", "zz"]), inner, max_size=3)), max_leaves=6)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(_SPEC_KEYS), _VALUE, max_size=6))
def test_fuzz_yaml_spec(doc):
    import yaml

    from accel_sim.explore import ExploreSpec, load_spec_file

    doc = {**doc, "trials": 1} if "trials" in doc and doc["trials"] in (None,) else doc
    doc = {"workload": "resnet18", "device": "systolic", **doc}  # fuzzed keys override the core
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(yaml.safe_dump(doc))
        try:
            kw = load_spec_file(spec)
            s = ExploreSpec(**{**kw, "output": os.path.join(tmp, "o")})
        except AccelSimError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(s.trials, int) and s.objectives


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["device", "objectives", "space", "set", "dims",
                                            "sampler", "seed", "constraints"]),
                           _VALUE, max_size=4))
def test_fuzz_yaml_spec_runs_or_refuses(doc):
    """Specs around a runnable core (resnet18 on systolic, 2 trials) through the CLI."""
    import yaml
    doc = {"workload": "resnet18", "device": "systolic", "trials": 2, **doc}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(yaml.safe_dump(doc))
        status, err = _cli(["explore", str(spec), "-q", "-o", str(Path(tmp) / "e")])
        _check_outcome(status, err)
        if status == 2:
            assert not (Path(tmp) / "e").exists()  # refused before creating anything


# ---------------------------------------------------------------------- parameters
def _value_strategy(spec) -> st.SearchStrategy:
    """Texts for one declared parameter: valid values at and inside its range, the values
    the declaration says it must reject, and noise."""
    valid: list[st.SearchStrategy] = []
    if spec.choices is not None:
        valid.append(st.sampled_from([str(c) for c in spec.choices]))
    elif spec.type is bool:
        valid.append(st.sampled_from(["true", "false"]))
    elif spec.type is int and spec.low is not None and spec.high is not None:
        lo, hi = int(spec.low), int(spec.high)
        valid.append(st.sampled_from([lo, hi, (lo + hi) // 2]).map(str))
        valid.append(st.integers(lo, hi).map(str))
    elif spec.type is float and spec.low is not None and spec.high is not None:
        valid.append(st.sampled_from([spec.low, spec.high]).map(repr))
        valid.append(st.floats(spec.low, spec.high, allow_nan=False).map(repr))
    invalid = st.sampled_from([str(v) for v in spec.invalid_values()] or ["?"])
    noise = st.sampled_from(["", "nan", "inf", "-1", "1e308", "abc", "1.5", "none", "0"])
    return st.one_of(*valid, invalid, noise) if valid else st.one_of(invalid, noise)


def _device_cases():
    for name, cls in accel_sim.available_devices().items():
        if name.startswith("toy"):
            continue
        yield name, cls


@pytest.mark.parametrize("name,cls", list(_device_cases()), ids=lambda x: x
                         if isinstance(x, str) else "")
def test_fuzz_device_parameters(name, cls):
    """Up to four parameters at once, each from its declaration, through ``run``."""
    from workloads import load_workload

    specs = cls.Config.specs()
    with tempfile.TemporaryDirectory() as tmp:
        tdir = Path(tmp)
        workload = str(tdir / "w.csv")
        _write_contract_csv(Path(workload))
        for candidate in (workload, "replay:capacity=1000,batch=32",
                          "llm_iteration:model=mixtral_8x7b,batch=4,kv_len=128"):
            if cls.accepts(load_workload(candidate)):
                workload = candidate
                break

        @settings(max_examples=40, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(st.sampled_from(specs), min_size=1, max_size=4, unique_by=lambda s:
                        s.name).flatmap(lambda ss: st.tuples(*[st.tuples(
                            st.just(s.name), _value_strategy(s)) for s in ss])))
        def run(pairs):
            argv = ["run", "-w", workload, "-d", name, "-o", str(tdir / "o")]
            for key, value in pairs:
                argv += ["-s", f"{key}={value}"]
            status, err = _cli(argv)
            _check_outcome(status, err)
            if status == 0:
                _check_run_output(tdir / "o", f"{name} {pairs}")

        run()


def _write_contract_csv(path: Path) -> None:
    """A small GEMM topology (rows x cols x depth of assorted sizes)."""
    path.write_text("Layer,M,N,K\nfc,1,10,784\nodd,37,53,71\nbig,512,512,512\n")
