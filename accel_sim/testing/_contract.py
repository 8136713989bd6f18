"""The device contract test class (see :class:`accel_sim.Device` for the contract)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import pytest

from .. import _memory
from .._device import Device
from .._ir import MAX_DIM, ConvShape, Layer, OpKind, SparsityPattern, Trace, training_trace
from .._metrics import Metric
from .._params import Config
from .._registry import get_device
from .._report import REQUIRED_COLUMNS, SIGNED_EXTRAS, Report
from ..errors import AccelSimError, ConfigError, NumericError
from ..tasks import Classification, DqnLearning, Task

#: Memory the edge-of-range test lets a device use (it stands in for a small machine, so that
#: huge layers are refused quickly and the test never depends on the machine it runs on).
EDGE_TEST_MEMORY = 2**30


def contract_traces() -> list[Trace]:
    """Small traces covering every op kind, odd shapes, sparsity and a training step."""
    conv = ConvShape(14, 14, 3, 3, 8, 16, 1, 1)
    dw = ConvShape(14, 14, 3, 3, 16, 16, 2, 1, groups=16)
    layers = (
        Layer("conv", OpKind.CONV, m=conv.ofmap_h * conv.ofmap_w, n=16, k=72, conv=conv),
        Layer("dw", OpKind.GROUPED_CONV, m=dw.ofmap_h * dw.ofmap_w, n=1, k=9, groups=16,
              conv=dw),
        Layer("fc", OpKind.GEMM, m=1, n=10, k=784, batch=3),
        Layer("odd", OpKind.GEMM, m=37, n=53, k=71),
        Layer("score", OpKind.ATTN_SCORE, m=16, n=16, k=8, groups=4, batch=2),
        Layer("ctx", OpKind.ATTN_CONTEXT, m=16, n=8, k=16, groups=4, batch=2),
        Layer("moe", OpKind.MOE_EXPERT, m=5, n=32, k=16, groups=8),
        Layer("lstm", OpKind.LSTM, m=4, n=64, k=32, repeat=3),
        Layer("sparse", OpKind.GEMM, m=8, n=16, k=32, sparsity=SparsityPattern.NM,
              sparsity_n=2, sparsity_m=4),
        Layer("act", OpKind.ELEMENTWISE, m=16, n=32, k=1),
        Layer("norm", OpKind.NORM, m=16, n=32, k=1),
        Layer("softmax", OpKind.SOFTMAX, m=16, n=16, k=1, groups=4),
        Layer("pool", OpKind.POOL, m=49, n=16, k=4),
    )
    fwd = Trace("contract", layers)
    gemm_only = Trace("contract_gemm", tuple(lay for lay in layers if lay.op.is_matmul))
    return [fwd, gemm_only, training_trace(gemm_only), Trace("one", (layers[3],)),
            *_replay_traces()]


def _replay_traces() -> list[Trace]:
    def step(name: str, capacity: int, batch: int, inserts: int) -> Trace:
        return Trace(name, (
            Layer("insert", OpKind.REPLAY_INSERT, m=inserts, n=capacity, k=1),
            Layer("sample", OpKind.REPLAY_SAMPLE, m=batch, n=capacity, k=1),
            Layer("update", OpKind.REPLAY_UPDATE, m=batch, n=capacity, k=1)))

    small = step("replay_small", 1000, 32, 1)
    return [small, step("replay_large", 1_000_003, 256, 4), small[1:2]]


def edge_traces() -> list[Trace]:
    """One-layer traces at the edges of the IR's allowed range (see :mod:`accel_sim._ir`):
    the smallest layers of every kind, each dimension at :data:`~accel_sim._ir.MAX_DIM`, and
    layers whose MACs, FLOPs or bits moved approach the 2**53 count limit; plus a trace whose
    totals reach the limit."""
    big = MAX_DIM
    one_bit: dict[str, Any] = dict(input_bits=1, weight_bits=1, output_bits=1)
    nm: dict[str, Any] = dict(sparsity=SparsityPattern.NM, sparsity_n=2, sparsity_m=4)
    unit: dict[str, Any] = dict(m=1, n=1, k=1)
    conv = ConvShape(2**15, 2**15, 3, 3, 2**10, 2**9)
    layers = [
        Layer("gemm_1", OpKind.GEMM, m=1, n=1, k=1),
        Layer("conv_1", OpKind.CONV, m=1, n=1, k=1, conv=ConvShape(1, 1, 1, 1, 1, 1)),
        Layer("dw_1", OpKind.GROUPED_CONV, m=1, n=1, k=1, groups=2,
              conv=ConvShape(1, 1, 1, 1, 2, 2, groups=2)),
        Layer("score_1", OpKind.ATTN_SCORE, m=1, n=1, k=1),
        Layer("ctx_1", OpKind.ATTN_CONTEXT, m=1, n=1, k=1),
        Layer("moe_1", OpKind.MOE_EXPERT, m=1, n=1, k=1),
        Layer("lstm_1", OpKind.LSTM, m=1, n=1, k=1),
        Layer("act_1", OpKind.ELEMENTWISE, m=1, n=1, k=1, **one_bit),
        Layer("norm_1", OpKind.NORM, m=1, n=1, k=1),
        Layer("softmax_1", OpKind.SOFTMAX, m=1, n=1, k=1),
        Layer("pool_1", OpKind.POOL, m=1, n=1, k=1),
        *(Layer(f"gemm_max_{f}", OpKind.GEMM, **{**unit, f: big})
          for f in ("m", "n", "k", "groups", "batch", "repeat")),
        Layer("gemm_max_macs", OpKind.GEMM, m=2**18, n=2**18, k=2**17),
        Layer("gemm_max_mk", OpKind.GEMM, m=big, n=1, k=2**21, **one_bit),
        Layer("gemm_max_nk", OpKind.GEMM, m=1, n=big, k=2**21, **one_bit),
        Layer("gemm_max_mn", OpKind.GEMM, m=2**21, n=big, k=1, **one_bit),
        Layer("gemm_max_batch_m", OpKind.GEMM, m=big, n=1, k=1, batch=2**21, **one_bit),
        Layer("gemm_max_groups_repeat", OpKind.GEMM, m=1, n=1, k=1, groups=big,
              repeat=2**20, **one_bit),
        Layer("gemm_max_nm", OpKind.GEMM, m=2**18, n=2**18, k=2**17, **nm),
        Layer("conv_max", OpKind.CONV, m=conv.ofmap_h * conv.ofmap_w, n=2**9,
              k=9 * 2**10, conv=conv),
        Layer("score_max", OpKind.ATTN_SCORE, m=2**20, n=2**20, k=2**13),
        Layer("ctx_max", OpKind.ATTN_CONTEXT, m=2**20, n=2**13, k=2**20),
        Layer("moe_max", OpKind.MOE_EXPERT, m=2**20, n=2**16, k=2**16, groups=2),
        Layer("moe_max_experts", OpKind.MOE_EXPERT, m=1, n=1, k=1, groups=big),
        Layer("lstm_max", OpKind.LSTM, m=2**18, n=2**18, k=2**17),
        Layer("act_max", OpKind.ELEMENTWISE, m=big, n=2**17, k=1),
        Layer("norm_max", OpKind.NORM, m=big, n=2**17, k=1),
        Layer("pool_max", OpKind.POOL, m=2**20, n=2**10, k=2**16),
        Layer("insert_1", OpKind.REPLAY_INSERT, m=1, n=1, k=1),
        Layer("sample_1", OpKind.REPLAY_SAMPLE, m=1, n=1, k=1),
        Layer("update_1", OpKind.REPLAY_UPDATE, m=1, n=1, k=1),
        Layer("sample_max_capacity", OpKind.REPLAY_SAMPLE, m=2**22, n=big, k=1),
        Layer("insert_max", OpKind.REPLAY_INSERT, m=big, n=2**22, k=1),
        Layer("update_max", OpKind.REPLAY_UPDATE, m=big, n=2**22, k=1),
    ]
    # 2**52 MACs each: the trace totals 2**53
    half: dict[str, Any] = dict(m=2**18, n=2**18, k=2**16)
    totals = Trace("edge_totals", (Layer("half_a", OpKind.GEMM, **half),
                                   Layer("half_b", OpKind.GEMM, **half)))
    return [Trace(f"edge_{lay.name}", (lay,)) for lay in layers] + [totals]


def check_figures(report: Report, where: str) -> None:
    """Assert every figure of ``report``'s summary is finite and non-negative (violations and
    ``SIGNED_EXTRAS``: finite) and utilization is at most 1 (a figure that wrapped around can
    stay positive, but it then claims more than the peak). Its columns are finite and
    non-negative by construction (:class:`Report` refuses others)."""
    util = report.columns["utilization"]
    assert np.all(util <= 1.0 + 1e-9), f"{where}: utilization {util.max()!r} > 1"
    for key, value in report.summary().items():
        if key == "feasible":
            continue
        v = float(value)
        assert math.isfinite(v), f"{where}: {key}={value!r} is not finite"
        if not key.startswith("violation_") and key not in SIGNED_EXTRAS:
            assert v >= 0, f"{where}: {key}={value!r} is negative"


class DeviceContract:
    """Contract tests every device passes. Set ``device_class``; optionally override
    :meth:`configs` to test more configurations than the default one."""

    device_class: ClassVar[type[Device]]

    # ---------------------------------------------------------------- fixtures
    def configs(self) -> list[Config]:
        """Configurations to check (default: the defaults only)."""
        return [self.device_class.Config()]

    def traces(self) -> list[Trace]:
        """Traces to check (default: the :func:`contract_traces` whose ops the device
        models; the second one has several layers)."""
        return [t for t in contract_traces() if self.device_class.accepts(t)]

    def _reports(self) -> list[tuple[Trace, Report]]:
        out = []
        for cfg in self.configs():
            dev = self.device_class(cfg)
            for tr in self.traces():
                out.append((tr, dev.evaluate(tr)))
        return out

    # ---------------------------------------------------------------- declaration
    def test_declaration(self) -> None:
        cls = self.device_class
        assert isinstance(cls.name, str) and cls.name == cls.name.lower() and cls.name
        assert issubclass(cls.Config, Config)
        assert dataclasses.is_dataclass(cls.Config)
        assert cls.Config.__dataclass_params__.frozen  # type: ignore[attr-defined]
        specs = cls.Config.specs()
        assert specs, "a device declares at least one parameter"
        for s in specs:
            assert s.doc, f"{cls.name}.{s.name} has no doc"
            if s.choices is None and s.type in (int, float):
                assert s.low is not None and s.high is not None, (
                    f"{cls.name}.{s.name} needs a declared range")
            if s.active_if is not None:
                cls.Config.spec(s.active_if[0])

    def test_registered(self) -> None:
        assert get_device(self.device_class.name) is self.device_class

    def test_config_is_frozen(self) -> None:
        cfg = self.device_class.Config()
        name = cfg.specs()[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(cfg, name, getattr(cfg, name))

    def test_rejects_invalid_values(self) -> None:
        cls = self.device_class
        for s in cls.Config.specs():
            for bad in s.invalid_values():
                with pytest.raises(ConfigError) as info:
                    if isinstance(bad, str):
                        cls.Config.from_strings({s.name: bad})
                    else:
                        cls.Config(**{s.name: bad})
                assert s.name in str(info.value), f"error for {s.name}={bad!r} must name it"

    def test_rejects_unknown_parameter(self) -> None:
        with pytest.raises(AccelSimError):
            self.device_class.from_params({"no_such_parameter_xyz": 1})

    def test_strings_round_trip(self) -> None:
        cfg = self.device_class.Config()
        as_text = {k: str(v) for k, v in cfg.to_dict().items() if v is not None}
        assert self.device_class.Config.from_strings(as_text) == cfg

    def test_rejects_wrong_config_type(self) -> None:
        with pytest.raises(ConfigError):
            self.device_class(object())

    # ---------------------------------------------------------------- evaluation
    def test_report_shape_and_values(self) -> None:
        for tr, rep in self._reports():
            assert isinstance(rep, Report)
            assert rep.names == tr.names
            assert len(rep) == len(tr)
            for col in REQUIRED_COLUMNS:
                arr = rep.columns[col]
                assert np.all(np.isfinite(arr)), f"{col} not finite"
                assert np.all(arr >= 0), f"{col} negative"
            assert np.all(rep.columns["utilization"] <= 1.0 + 1e-9)
            np.testing.assert_allclose(rep.columns["macs"], tr.columns["macs"])
            np.testing.assert_allclose(rep.columns["flops"], tr.columns["flops"])
            assert rep.latency_s > 0

    def test_energy_components_sum(self) -> None:
        for _, rep in self._reports():
            comps = [v for k, v in rep.columns.items()
                     if k.startswith("energy_") and k.endswith("_j") and k != "energy_j"]
            if comps:
                np.testing.assert_allclose(np.sum(comps, axis=0), rep.columns["energy_j"],
                                           rtol=1e-9, atol=1e-30)

    def test_deterministic(self) -> None:
        for cfg in self.configs():
            tr = self.traces()[0]
            a = self.device_class(cfg).evaluate(tr)
            b = self.device_class(cfg).evaluate(tr)
            for k in a.columns:
                np.testing.assert_array_equal(a.columns[k], b.columns[k])

    def test_accuracy_params_are_parameters(self) -> None:
        names = self.device_class.accuracy_params
        if names is not None:  # what an accuracy cache keys on must be configuration fields
            declared = {s.name for s in self.device_class.Config.specs()}
            assert names <= declared, sorted(names - declared)

    def test_layers_add_up(self) -> None:
        dev = self.device_class(self.configs()[0])
        tr = self.traces()[1]
        whole = dev.evaluate(tr)
        parts = [dev.evaluate(tr[i:i + 1]) for i in range(len(tr))]
        total = sum(parts[1:], parts[0])
        assert math.isclose(total.latency_s, whole.latency_s, rel_tol=1e-9)
        assert math.isclose(total.energy_j, whole.energy_j, rel_tol=1e-9)

    def test_rejects_ops_it_does_not_model(self) -> None:
        other = [k for k in OpKind if k not in self.device_class.supported_ops]
        assert self.traces(), "the device accepts at least one contract trace"
        if other:  # a device modelling every op kind has nothing to reject
            tr = Trace("foreign", (Layer("x", other[0], m=4, n=8, k=1),))
            with pytest.raises(AccelSimError, match=other[0].value):
                self.device_class().evaluate(tr)

    def test_summary_keys(self) -> None:
        s = self.device_class().evaluate(self.traces()[0]).summary()
        for key in ("macs", "flops", "cycles", "latency_s", "energy_j", "feasible"):
            assert key in s

    def test_metrics_are_declared(self) -> None:
        """Every summary metric and column has a declaration (unit, direction):
        ``Device.metrics`` for the device's own, :data:`accel_sim._report.REPORT_METRICS`
        for the rest."""
        table = self.device_class.metric_table()
        for m in self.device_class.metrics:
            assert isinstance(m, Metric), f"{self.device_class.name}.metrics holds {m!r}"
        for trace, report in [*self._reports(), *[
                (t, self.device_class().evaluate(t)) for t in self.task_traces()]]:
            names = [*report.summary(), *report.columns]
            missing = table.undeclared(names)
            assert not missing, (f"{self.device_class.name}: undeclared metric(s) "
                                 f"{', '.join(sorted(set(missing)))} on {trace.name!r}: "
                                 "declare them in the device's `metrics`")

    def test_no_global_random_state_change(self) -> None:
        np.random.seed(1234)
        before = np.random.get_state(legacy=False)["state"]["key"].copy()
        self.device_class().evaluate(self.traces()[0])
        assert np.array_equal(np.random.get_state(legacy=False)["state"]["key"], before)

    def edge_traces(self) -> list[Trace]:
        """Edge-of-range traces to check (default: the :func:`edge_traces` the device accepts)."""
        return [t for t in edge_traces() if self.device_class.accepts(t)]

    def test_edges_of_the_ir_range(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """At the edges of the IR's range every figure is finite and non-negative, or the
        device raises a one-line AccelSimError (e.g. a layer needing more memory than
        :data:`EDGE_TEST_MEMORY`); never another exception, never garbage (a NumericError,
        the Report refusing a NaN, infinite or negative figure, fails the test)."""
        real = _memory.available_memory
        monkeypatch.setattr(_memory, "available_memory",
                            lambda: min(real() or EDGE_TEST_MEMORY, EDGE_TEST_MEMORY))
        for cfg in self.configs():
            dev = self.device_class(cfg)
            for tr in self.edge_traces():
                where = f"{self.device_class.name} on {tr.name}"
                try:
                    rep = dev.evaluate(tr)
                except NumericError as exc:  # the Report caught garbage: a device bug
                    pytest.fail(f"{where}: {exc}")
                except AccelSimError as exc:
                    text = str(exc)
                    assert text and "\n" not in text, f"{where}: error is not one line: {text!r}"
                    continue
                except Exception as exc:
                    pytest.fail(f"{where}: {type(exc).__name__}: {exc} (only AccelSimError may "
                                "be raised)")
                check_figures(rep, where)

    # ---------------------------------------------------------------- tasks
    def task_traces(self) -> list[Trace]:
        """Traces carrying each task type the device measures (default: ``digits_mlp`` for
        :class:`~accel_sim.tasks.Classification`, forward and training step; a short
        CartPole DQN for :class:`~accel_sim.tasks.DqnLearning`)."""
        from workloads import load_workload

        out: list[Trace] = []
        for t in self.device_class.supported_tasks:
            if issubclass(Classification, t):
                fwd = load_workload("digits_mlp:batch=8")
                out += [fwd, training_trace(fwd)]
            elif issubclass(DqnLearning, t):
                out.append(load_workload("replay:capacity=2000,batch=16,env=cartpole,"
                                         "dqn_steps=2000,runs=1"))
        return [tr for tr in out if self.device_class.accepts(tr)]

    def test_declared_tasks(self) -> None:
        """Task types are :class:`accel_sim.tasks.Task` subclasses, and a device that
        declares any implements the accuracy hook."""
        cls = self.device_class
        for t in cls.supported_tasks:
            assert isinstance(t, type) and issubclass(t, Task), t
        if cls.supported_tasks:
            assert cls.accuracy is not Device.accuracy, "supported_tasks needs accuracy()"

    def test_accuracy_of_supported_tasks(self) -> None:
        """The report of a trace with a supported task has a finite ``accuracy`` (a fraction
        in [0, 1] for a classification) from the accuracy hook."""
        dev = self.device_class(self.configs()[0])
        for tr in self.task_traces():
            rep = dev.evaluate(tr)
            assert "accuracy" in rep.extra, f"{tr.name}: no accuracy for {tr.task}"
            acc = rep.extra["accuracy"]
            assert math.isfinite(acc)
            if isinstance(tr.task, Classification):
                assert 0.0 <= acc <= 1.0
            assert acc == dev.accuracy(tr.task)  # type: ignore[arg-type]
            assert dev.task_note(tr) is None

    def test_lower_fidelity_accuracy(self) -> None:
        """A ``multi_fidelity`` device measures a finite accuracy with a third of its training
        budget, reports it through ``accuracy_fraction``, and at fraction 1 measures exactly
        :meth:`~accel_sim.Device.accuracy`; others refuse a fraction below 1 in one line."""
        dev = self.device_class(self.configs()[0])
        for tr in self.task_traces()[:1]:
            task = tr.task
            if not dev.multi_fidelity:
                with pytest.raises(AccelSimError) as info:
                    dev.accuracy_at(task, 0.5)  # type: ignore[arg-type]
                assert "\n" not in str(info.value)
                continue
            low = dev.accuracy_at(task, 1 / 3)  # type: ignore[arg-type]
            assert math.isfinite(low)
            if isinstance(task, Classification):
                assert 0.0 <= low <= 1.0
            assert dev.accuracy_at(task, 1.0) == dev.accuracy(task)  # type: ignore[arg-type]
            lowered = self.device_class(self.configs()[0])
            lowered.accuracy_fraction = 1 / 3
            assert lowered.evaluate(tr).extra["accuracy"] == low

    def test_other_tasks_are_not_measured(self) -> None:
        """A task the device does not declare gets no accuracy, and ``task_note`` says so in
        one line."""
        tr = self.traces()[0]
        for task in (Classification("digits_mlp"), DqnLearning("cartpole", 100, 4, 2000, 1)):
            if self.device_class().supports_task(task):
                continue
            rep = self.device_class().evaluate(Trace(tr.name, tr.layers, task=task))
            assert "accuracy" not in rep.extra
            note = self.device_class().task_note(Trace(tr.name, tr.layers, task=task))
            assert note and "\n" not in note

    def test_evaluate_many_matches_evaluate(self) -> None:
        cfgs = self.configs()
        tr = self.traces()[0]
        many = self.device_class(cfgs[0]).evaluate_many(tr, cfgs)
        assert len(many) == len(cfgs)
        for cfg, rep in zip(cfgs, many, strict=True):
            one = self.device_class(cfg).evaluate(tr)
            np.testing.assert_allclose(rep.columns["cycles"], one.columns["cycles"])
            np.testing.assert_allclose(rep.columns["energy_j"], one.columns["energy_j"])
