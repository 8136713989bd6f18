"""Numeric safety (issue 12, found by fuzzing): the IR's limits, the Report's finiteness check,
the memory guard, and bad inputs that used to give tracebacks or silent garbage."""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accel_sim import (
    AccelSimError,
    ConvShape,
    Layer,
    NumericError,
    OpKind,
    Report,
    ResourceError,
    Trace,
    WorkloadError,
    _memory,
    available_devices,
    training_trace,
)
from accel_sim._ir import MAX_COUNT, MAX_DIM
from accel_sim.cli import main
from accel_sim.devices._scalesim_memory import memory_estimate, scalesim_layer
from accel_sim.testing._contract import EDGE_TEST_MEMORY, check_figures, edge_traces

SCALE_CFG = "data/scalesim/configs/scale.cfg"
OUTPUTS = ("layers.csv", "summary.json", "COMPUTE_REPORT.csv")


# ====================================================================== bad inputs via the CLI
def _cfg(shared: Path, edits: list[tuple[str, str]]) -> str:
    """The shared SCALE-Sim scale.cfg (CALC mode, 32 x 32, ws) with some lines edited."""
    text = (shared / SCALE_CFG).read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return text


GEMM_SMALL = "Layer,M,N,K\ng,64,64,64\n"
#: 2**24 x 1 x 2**24: 2**48 MACs (within the IR's limits) for which the exact SCALE-Sim memory
#: model needs petabytes (its ifmap address matrix alone has 2**48 int64 words, 2 PiB): more
#: than any machine has, so the refusal does not depend on the machine.
GEMM_HUGE_MEMORY = f"Layer,M,N,K\nhuge,{2**24},1,{2**24}\n"
CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,\n")

# (id, files: name -> text, or a list of (old, new) edits of the shared scale.cfg; argv with
# {file} placeholders; the message fragment expected)
BAD_INPUTS = [
    ("gemm_1e12_systolic",
     {"w.csv": "Layer,M,N,K\nbig,1000000000000,1000000000000,1000000000000\n"},
     ["run", "-w", "{w.csv}", "-d", "systolic", "-o", "{out}"],
     "w.csv:2: layer 'big': m=1000000000000 out of range [1, 2147483647]"),
    ("gemm_1e12_analog",
     {"w.csv": "Layer,M,N,K\nbig,1000000000000,1000000000000,1000000000000\n"},
     ["run", "-w", "{w.csv}", "-d", "analog", "-o", "{out}"],
     "m=1000000000000 out of range [1, 2147483647] (2**31 - 1, the IR's dimension limit)"),
    ("gemm_1e12_learning_group",  # used to allocate 7.28 TiB
     {"w.csv": "Layer,M,N,K\nbig,1,1,1000000000000\n"},
     ["run", "-w", "{w.csv}", "-d", "learning_group", "-o", "{out}"],
     "layer 'big': k=1000000000000 out of range"),
    ("gemm_1e20_overflow",  # used to raise OverflowError building the trace columns
     {"w.csv": "Layer,M,N,K\nbig,100000000000000000000,1,1\n"},
     ["run", "-w", "{w.csv}", "-d", "systolic", "-o", "{out}"],
     "m=100000000000000000000 out of range"),
    ("conv_1e12_overflow",  # ofmap 1e24 pixels: used to raise OverflowError
     {"c.csv": CONV_HEADER + "c1,1000000000000,1000000000000,3,3,3,64,1,\n"},
     ["run", "-w", "{c.csv}", "-d", "systolic", "-o", "{out}"],
     "c.csv:2: layer 'c1': conv.ifmap_h=1000000000000 out of range"),
    ("gemm_macs_over_2_53",
     {"w.csv": f"Layer,M,N,K\nwide,{MAX_DIM},{MAX_DIM},1\n"},
     ["run", "-w", "{w.csv}", "-d", "gpu", "-o", "{out}"],
     "layer 'wide': MACs = repeat*groups*batch*m*n*k = 4.612e+18 exceeds the IR's limit "
     "2**53"),
    ("scalesim_height_inf",
     {"c.cfg": [("ArrayHeight:    32", "ArrayHeight: inf")], "t.csv": GEMM_SMALL},
     ["scalesim", "-c", "{c.cfg}", "-t", "{t.csv}", "-o", "{out}"],
     "[architecture_presets] ArrayHeight: rows='inf': expected an integer, int in [1, 4096]"),
    ("scalesim_height_fraction",
     {"c.cfg": [("ArrayHeight:    32", "ArrayHeight: 32.5")], "t.csv": GEMM_SMALL},
     ["scalesim", "-c", "{c.cfg}", "-t", "{t.csv}", "-o", "{out}"],
     "rows='32.5': expected an integer, int in [1, 4096]"),
    ("scalesim_bandwidth_nan_calc",
     {"c.cfg": [("Bandwidth : 10", "Bandwidth : nan")], "t.csv": GEMM_SMALL},
     ["scalesim", "-c", "{c.cfg}", "-t", "{t.csv}", "-o", "{out}"],
     "[architecture_presets] Bandwidth='nan': expected a whole number >= 1"),
    ("scalesim_bandwidth_nan_user",
     {"c.cfg": [("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER"),
                ("Bandwidth : 10", "Bandwidth : nan")], "t.csv": GEMM_SMALL},
     ["scalesim", "-c", "{c.cfg}", "-t", "{t.csv}", "-o", "{out}"],
     "bandwidth='nan': expected an integer, int in [1, 4096]"),
    ("exact_memory_model_run",  # used to die with "Unable to allocate ... GiB"
     {"w.csv": GEMM_HUGE_MEMORY},
     ["run", "-w", "{w.csv}", "-d", "systolic", "-s", "memory_model=scalesim", "-o", "{out}"],
     "layer 'huge': the exact SCALE-Sim memory model (demand matrices of 8,796,142,305,280 "
     "cycles) needs about"),
    ("exact_memory_model_scalesim",
     {"c.cfg": [], "t.csv": GEMM_HUGE_MEMORY},
     ["scalesim", "-c", "{c.cfg}", "-t", "{t.csv}", "-o", "{out}"],
     "--memory-model analytic"),
]


def _materialise(tmp_path: Path, shared: Path, files: dict, argv: list[str]) -> tuple[list[str],
                                                                                       Path]:
    paths = {}
    for name, content in files.items():
        if isinstance(content, list):
            content = _cfg(shared, content)
        (tmp_path / name).write_text(content)
        paths[name] = str(tmp_path / name)
    out = tmp_path / "out"
    subst = {"{out}": str(out), **{f"{{{k}}}": v for k, v in paths.items()}}
    return [subst.get(a, a) for a in argv], out


@pytest.mark.parametrize("files,argv,fragment", [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_error_and_writes_nothing(tmp_path, shared, capsys, files, argv,
                                                        fragment):
    args, out = _materialise(tmp_path, shared, files, argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(args)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("accel-sim: error: "), captured.err
    assert fragment in lines[0]
    assert "Traceback" not in captured.err and not caught, [str(w.message) for w in caught]
    assert not any((out / name).exists() for name in OUTPUTS)


def test_bad_inputs_in_a_subprocess(tmp_path, shared):
    """End to end: the real interpreter prints one line, no traceback, no warning."""
    for files, argv, fragment in (BAD_INPUTS[0][1:], BAD_INPUTS[-2][1:]):
        args, out = _materialise(tmp_path, shared, files, argv)
        res = subprocess.run([sys.executable, "-m", "accel_sim", *args], capture_output=True,
                             text=True)
        assert res.returncode == 2
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("accel-sim: error: ")
        assert fragment in res.stderr and not out.exists()


# ====================================================================== IR limits
@pytest.mark.parametrize("field", ["m", "n", "k", "groups", "batch", "repeat"])
def test_every_dimension_is_limited_to_2_31_minus_1(field):
    lay = Layer("x", OpKind.GEMM, **{**dict(m=1, n=1, k=1), field: MAX_DIM})
    assert getattr(lay, field) == MAX_DIM
    with pytest.raises(WorkloadError) as info:
        Layer("big", OpKind.GEMM, **{**dict(m=1, n=1, k=1), field: MAX_DIM + 1})
    msg = str(info.value)
    assert msg == (f"layer 'big': {field}=2147483648 out of range [1, 2147483647] (2**31 - 1, "
                   "the IR's dimension limit)")


def test_macs_limit_is_2_53_exactly():
    lay = Layer("x", OpKind.GEMM, m=2**18, n=2**18, k=2**17)
    assert lay.macs == MAX_COUNT == 2**53
    assert float(lay.macs) == lay.macs and lay.flops == 2.0**54
    with pytest.raises(WorkloadError, match=r"layer 'y': MACs = repeat\*groups\*batch\*m\*n\*k = "
                       r"1\.801e\+16 exceeds the IR's limit 2\*\*53 = 9007199254740992"):
        Layer("y", OpKind.GEMM, m=2**18, n=2**18, k=2**17, repeat=2)


def test_byte_counts_are_exact_at_the_bit_limit():
    # 3-bit operands: bytes are fractional; every bit count <= 2**53 keeps them exact
    lay = Layer("x", OpKind.ELEMENTWISE, m=2**26 - 1, n=2**24, k=1, input_bits=3,
                output_bits=3)
    elems = (2**26 - 1) * 2**24
    assert lay.input_bytes * 8 == elems * 3 and lay.output_bytes * 8 == elems * 3
    with pytest.raises(WorkloadError, match="bits moved"):
        Layer("x", OpKind.ELEMENTWISE, m=2**26, n=2**24, k=1, input_bits=64)


def test_vector_flops_are_limited():
    with pytest.raises(WorkloadError, match=r"layer 'n': FLOPs = 1\.126e\+16 exceeds"):
        Layer("n", OpKind.NORM, m=2**31 - 1, n=2**20, k=1, input_bits=1, output_bits=1)


def test_trace_totals_are_limited():
    half = Layer("h", OpKind.GEMM, m=2**18, n=2**18, k=2**16)
    assert Trace("t", (half, half)).macs == MAX_COUNT
    with pytest.raises(WorkloadError, match=r"trace 't': total MACs \(sum over its layers\)"):
        Trace("t", (half, half, half))
    with pytest.raises(WorkloadError, match="total MACs"):
        training_trace(Trace("t", (half,)))  # forward + two backward GEMMs: 3 x 2**52
    with pytest.raises(WorkloadError, match="total MACs"):
        Trace("a", (half, half)) + Trace("b", (half,))


def test_conv_dimensions_are_limited():
    with pytest.raises(WorkloadError, match=r"conv.ifmap_h=2147483648 out of range"):
        ConvShape(2**31, 1, 1, 1, 1, 1)
    with pytest.raises(WorkloadError, match="padded input"):
        ConvShape(MAX_DIM, 1, 1, 1, 1, 1, padding=1)


def test_the_negative_latency_input_is_refused():
    """Before the limits, systolic returned latency_s = -1e-09 for this layer: its
    ceil(n/32) * ceil(k/32) = 2**64 folds wrapped to 0 in int64 and cycles = 0 - 1."""
    with pytest.raises(WorkloadError, match=r"layer 'x': n=137438953472 out of range"):
        Layer("x", OpKind.GEMM, m=1, n=2**37, k=2**37)


# ====================================================================== the Report check
def _report(**over) -> Report:
    cols: dict[str, Any] = {
        "macs": [1.0, 2.0], "flops": [2.0, 4.0], "cycles": [1.0, 1.0],
        "latency_s": [1e-9, 1e-9], "energy_j": [1e-12, 1e-12], "utilization": [1.0, 1.0]}
    cols.update(over.pop("columns", {}))
    return Report("dev", "wl", ("a", "b"), ("gemm", "gemm"), ("forward", "forward"), cols,
                  **over)


@pytest.mark.parametrize("column,value,shown", [
    ("energy_j", math.nan, "nan"), ("cycles", math.inf, "inf"),
    ("energy_dram_j", -639204593.8, "-639204593.8"), ("latency_s", -1e-9, "-1e-09"),
])
def test_report_refuses_nan_inf_and_negative_figures(column, value, shown):
    with pytest.raises(NumericError) as info:
        _report(columns={column: [1.0, value]})
    assert str(info.value).startswith(
        f"report of 'dev' on 'wl': column '{column}' is {shown} at layer 'b' (1 of 2 layers)")
    assert isinstance(info.value, AccelSimError) and "\n" not in str(info.value)


def test_report_checks_area_extras_and_violations():
    with pytest.raises(NumericError, match=r"report of 'dev' on 'wl': area_mm2 is -1\.0"):
        _report(area_mm2=-1.0)
    with pytest.raises(NumericError, match="extra 'peak_tops' is nan"):
        _report(extra={"peak_tops": math.nan})
    with pytest.raises(NumericError, match="violation 'memory' is inf"):
        _report(violations={"memory": math.inf})
    ok = _report(area_mm2=0.0, violations={"memory": -0.5})  # satisfied: negative by design
    assert ok.feasible and ok.summary()["violation_memory"] == -0.5
    assert (ok + ok).energy_j == pytest.approx(4e-12)


# ====================================================================== memory guard
def test_available_memory_reads_meminfo_then_sysconf(monkeypatch):
    avail = _memory.available_memory()
    with open("/proc/meminfo") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
    assert avail is not None and abs(avail - kb * 1024) < 2**30  # the machine moves a little

    def no_proc(*args, **kwargs):
        raise OSError("no /proc")

    monkeypatch.setattr(_memory, "open", no_proc, raising=False)
    fallback = _memory.available_memory()
    assert fallback is not None and fallback > 0


def test_require_memory_refuses_with_the_estimate(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: 2 * 2**30)
    _memory.require_memory(2**30, "layer 'a': x", "do y")
    with pytest.raises(ResourceError) as info:
        _memory.require_memory(3.5 * 2**30, "layer 'a': the model", "do y instead")
    assert str(info.value) == ("layer 'a': the model needs about 3.5 GiB of memory, 2.0 GiB "
                               "available; do y instead")
    monkeypatch.setattr(_memory, "available_memory", lambda: None)
    _memory.require_memory(1e30, "layer 'a': x", "do y")  # unknown: no check


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("mode", ["USER", "CALC"])
@pytest.mark.parametrize("conv", [None, (16, 16, 3, 3, 4, 16, 1)])
def test_scalesim_memory_estimate_bounds_the_measured_peak(dataflow, mode, conv):
    """The estimate is an upper bound of the peak numpy allocation (traced) within 3x (1 kB
    SRAMs force the event model)."""
    m, n, k = (196, 16, 36) if conv else (80, 96, 48)
    tracemalloc.start()
    try:
        res = scalesim_layer(m, n, k, 8, 8, dataflow, 1, 1, 1, bandwidth_mode=mode, conv=conv,
                             bandwidth=2, ifmap_dram_bw=2, filter_dram_bw=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.path == "event_model"
    estimate = memory_estimate(m, n, k, 8, 8, dataflow, conv, mode == "USER")[1]
    assert peak <= estimate <= 3 * peak


def test_exact_memory_model_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: 2**30)
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError, match=r"layer 'g': the exact SCALE-Sim memory model "
                           r"\(demand matrices of [\d,]+ cycles\) needs about"):
            scalesim_layer(4096, 4096, 4096, 32, 32, "ws", 64, 64, 64, layer="g")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_occupancy_pairs_without_the_packed_int64_key():
    """The read buffer packs (address, line) into ``address * lines + line``; where that
    would wrap around in int64 a two-key sort gives the same pairs."""
    from accel_sim.devices._scalesim_memory import _distinct_pairs

    rng = np.random.default_rng(5)
    addr = rng.integers(0, 50, 2000)
    line = np.arange(2000) // 7
    lines = int(line.max()) + 1
    for a, b in zip(_distinct_pairs(addr, line, lines, packed=True),
                    _distinct_pairs(addr, line, lines, packed=False), strict=True):
        np.testing.assert_array_equal(a, b)


def test_moe_kernel_refuses_too_many_experts(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: 2**30)
    dev = available_devices()["duplex"]()
    tr = Trace("t", (Layer("moe0.expert_up.c1", OpKind.MOE_EXPERT, m=1, n=8, k=8,
                           groups=2**27),))
    with pytest.raises(ResourceError, match=r"layer 'moe0.expert_up.c1': the MoE kernel "
                       r"\(134,217,728 experts\) needs about 12\.0 GiB"):
        dev.evaluate(tr)


# ====================================================================== device fixes
def test_learning_group_row_pass_closed_form_equals_listing_the_rows():
    """The closed form (O(1) memory; it replaced arrays of one entry per weight row, 7.28 TiB
    for a 1e12-row layer) equals the row-by-row reference on random small shapes."""
    from accel_sim.devices.learning_group import _nnz, _row_pass

    def split(total, parts):
        base, extra = divmod(total, parts)
        return np.array([base + 1] * extra + [base] * (parts - extra), dtype=np.int64)

    def reference(rows, length, groups, cores, per_core, vus):
        nnz = (np.full(rows, length) if groups <= 1
               else np.repeat(split(length, groups), split(rows, groups)))
        nnz = np.sort(nnz)[::-1]
        # each row: its full cycles plus a share 1 / (rows per cycle) of a packed cycle
        full, rem = np.divmod(nnz, vus)
        fit = np.minimum(vus // np.maximum(rem, 1), per_core)
        cost = full + np.where(rem > 0, 1.0 / fit, 0.0)
        time = np.zeros(cores)
        np.add.at(time, np.arange(rows) % cores, cost)
        return int(np.ceil(time - 1e-9).max()), int(nnz.sum())

    rng = np.random.default_rng(12)
    for _ in range(2000):
        args = (int(rng.integers(1, 200)), int(rng.integers(1, 200)), int(rng.integers(1, 17)),
                int(rng.integers(1, 13)), int(rng.integers(1, 17)), int(rng.integers(1, 300)))
        assert _row_pass.__wrapped__(*args) == reference(*args), args
        assert _nnz(*args[:3]) == reference(*args)[1]


def test_analog_adc_conversions_are_exact_at_the_limit():
    """The cause of the negative ADC energy: the conversion count, a product of eight factors
    (row tiles, n, slices, phases, batch, m, groups, repeat), wrapped around in int64 (on the
    1e12 layer: -6.96e18 conversions). It is now float64 and equals the exact count."""
    dev = available_devices()["analog"].from_params(dict(
        rows=8, cols=8, weight_bits=8, weight_slices=8, cell_bits=1, bit_serial=True,
        input_bits=16, mapping="offset_unit_column"))
    lay = Layer("g", OpKind.GEMM, m=2**18, n=2**18, k=2**17)
    rep = dev.evaluate(Trace("t", (lay,)))
    row_tiles, col_tiles = -(-lay.k // 8), -(-(lay.n * 8) // 7)
    exact = (row_tiles * lay.n * 8 + row_tiles * col_tiles) * 16 * lay.m
    assert exact > MAX_COUNT  # beyond float64's exact integers: one rounding, no wrap
    assert rep.columns["adc_conversions"][0] == float(exact)
    assert rep.columns["energy_adc_j"][0] > 0


def _extreme_configs(cls, corners: int = 12) -> list:
    """Defaults; every numeric parameter at its low and its high end one at a time; four
    corners (all low, all high, and alternating low/high in declaration order, e.g. rows = 1
    with cols = 4096, and the reverse), each with every value of every choice parameter; and
    seeded random corners (every numeric parameter at an end, every choice at random)."""
    specs = [s for s in cls.Config.specs() if s.type in (int, float, bool, str)]
    numeric = [s for s in specs if s.choices is None and s.type in (int, float)
               and s.low is not None and s.high is not None]
    choice = [s for s in specs if s.choices is not None or s.type is bool]
    wanted: list[dict[str, Any]] = [{}]
    wanted += [{s.name: v} for s in numeric for v in (s.low, s.high)]
    patterns = [lambda i: 0, lambda i: 1, lambda i: i % 2, lambda i: 1 - i % 2]
    for pick in patterns:
        corner = {s.name: (s.low, s.high)[pick(i)] for i, s in enumerate(numeric)}
        wanted.append(corner)
        for s in choice:
            opts = s.choices if s.choices is not None else (False, True)
            wanted += [{**corner, s.name: v} for v in opts]
    rng = np.random.default_rng(2024)
    for _ in range(corners):
        d = {s.name: (s.low, s.high)[int(rng.integers(2))] for s in numeric}
        for s in choice:
            opts = s.choices if s.choices is not None else (False, True)
            d[s.name] = opts[int(rng.integers(len(opts)))]
        wanted.append(d)
    out = []
    for d in wanted:
        d = {k: (int(v) if cls.Config.spec(k).type is int and isinstance(v, float) else v)
             for k, v in d.items()}
        try:
            out.append(cls.Config(**d))
        except AccelSimError:
            continue  # a combination the device's own checks refuse (e.g. dac_bits < input_bits)
    return out


@pytest.mark.parametrize("name", sorted(n for n, c in available_devices().items()
                                         if c.__module__.startswith("accel_sim.")))
def test_builtin_devices_at_extreme_configs_and_edge_traces(name, monkeypatch):
    """Every built-in device, at the ends of its parameter ranges, on the IR's edge traces:
    finite non-negative figures or a one-line AccelSimError, and no numpy overflow warning.
    (Plug-ins run the contract's edge test instead.)"""
    cls = available_devices()[name]
    real = _memory.available_memory
    monkeypatch.setattr(_memory, "available_memory",
                        lambda: min(real() or EDGE_TEST_MEMORY, EDGE_TEST_MEMORY))
    configs = _extreme_configs(cls)
    assert len(configs) > 10
    traces = [t for t in edge_traces() if cls.accepts(t)]
    evaluated = 0
    for tr in traces:
        for cfg in configs:
            where = f"{name} {cfg} on {tr.name}"
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                try:
                    rep = cls(cfg).evaluate(tr)
                except NumericError as exc:  # garbage refused by the Report: a device bug
                    pytest.fail(f"{where}: {exc}")
                except AccelSimError as exc:
                    assert "\n" not in str(exc), where
                    continue
            check_figures(rep, where)
            evaluated += 1
    assert evaluated >= len(traces)
