"""The device plug-in API: one abstract base class (the registry that finds devices through
entry points is :mod:`accel_sim._registry`)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from ._ir import DNN_OPS, OpKind, Trace
from ._metrics import Metric, MetricTable
from ._params import Config
from ._report import REPORT_METRICS, Report
from .errors import ConfigError, WorkloadError
from .tasks import Task

__all__ = ["AccuracyCache", "C", "Device"]


C = TypeVar("C", bound=Config)


class AccuracyCache(Protocol):
    """A store of accuracies by :meth:`Device.accuracy_key` (e.g. the explorer's file)."""

    def get(self, key: str) -> float | None:
        """The stored accuracy, or ``None``."""

    def put(self, key: str, value: float) -> None:
        """Store an accuracy."""


class Device(abc.ABC, Generic[C]):
    """A hardware model that evaluates layer traces.

    Contract (checked for every device by :class:`accel_sim.testing.DeviceContract`):

    1. Class attributes: ``name`` (unique lowercase identifier, the registry key and the
       ``-d`` argument) and ``Config``, a frozen dataclass deriving from
       :class:`accel_sim.Config` whose every field is declared with :func:`accel_sim.param`
       (type, unit, range or choices, default). ``Config()`` with no arguments is valid. The
       explorer derives its search space from this declaration only.
    2. ``Device(config=None)`` takes an instance of ``Config`` (``None``: defaults) and nothing
       else; it does not mutate the config. Build from strings or mappings with
       :meth:`from_params`.
    3. ``evaluate(trace)`` returns a :class:`Report` with one row per trace layer, in order,
       with finite, non-negative ``macs, flops, cycles, latency_s, energy_j`` and
       ``utilization`` in [0, 1]; ``macs`` and ``flops`` equal the trace's; energy columns
       ``energy_<component>_j`` sum to ``energy_j``. Every figure of a report (columns, area,
       extras) is finite and non-negative: :class:`Report` refuses others with
       :class:`~accel_sim.errors.NumericError`. At the edges of the IR's range
       (:func:`accel_sim.testing.edge_traces`) a device returns such a report or raises a
       one-line :class:`~accel_sim.errors.AccelSimError` (e.g. ``ResourceError`` for work that
       would not fit in memory).
    4. It is pure and reproducible: the same config and trace give the same report; stochastic
       models take their seed from the config.
    5. A design that cannot run a workload (a layer does not fit, resources exceed the board)
       is reported in ``Report.violations`` (value > 0), not raised, so that an optimiser can
       learn the feasible region. Only input that cannot be interpreted raises
       :class:`~accel_sim.errors.AccelSimError`.
    6. No global side effects: no printing, logging configuration, process exit or changes to
       numpy's global random state.

    7. ``supported_ops`` lists the op kinds the device models (default: neural-network ops,
       :data:`~accel_sim._ir.DNN_OPS`); ``evaluate`` raises
       :class:`~accel_sim.errors.WorkloadError` for a trace with other ops (call
       :meth:`require_supported` first).
    8. Functional work: ``supported_tasks`` lists the :mod:`accel_sim.tasks` types the device
       measures, and :meth:`accuracy` (the one accuracy hook) measures one. ``evaluate`` puts
       :meth:`task_metrics` (``{"accuracy": ...}`` when the trace's task is a supported one)
       in the report's ``extra``. Other tasks are not measured; :meth:`task_note` says so in
       one line. ``accuracy_params`` names the configuration parameters the accuracy depends
       on (``None``: all); an :class:`AccuracyCache` set as ``accuracy_cache`` then serves
       every configuration that differs from a measured one only elsewhere
       (:meth:`accuracy_values`, which a device may override to give configurations that
       train identically one set of values). A device whose
       accuracy comes from training sets ``multi_fidelity`` and implements
       :meth:`accuracy_at` (the accuracy after a fraction of the training budget: fewer
       epochs or DQN steps); ``accuracy_fraction`` (default 1) makes :meth:`task_metrics`
       measure at that fraction (the explorer's successive halving).
    9. Metrics: ``metrics`` declares (:class:`~accel_sim.Metric`: unit, direction) every
       column and extra the device adds to the report's summary beyond
       :data:`~accel_sim._report.REPORT_METRICS`; :meth:`metric_table` is what tables, plots
       and the explorer read.

    Optional: override :meth:`evaluate_many` to evaluate many configurations at once
    (vectorised); the default loops over :meth:`evaluate`.
    """

    name: ClassVar[str]
    Config: ClassVar[type[Config]]
    description: ClassVar[str] = ""
    supported_ops: ClassVar[frozenset[OpKind]] = DNN_OPS
    supported_tasks: ClassVar[frozenset[type[Task]]] = frozenset()
    metrics: ClassVar[tuple[Metric, ...]] = ()
    accuracy_params: ClassVar[frozenset[str] | None] = None
    multi_fidelity: ClassVar[bool] = False
    low_fidelity: ClassVar[str] = ""
    """How :meth:`accuracy_at` lowers the fidelity, in words (``multi_fidelity`` devices; part
    of the accuracy key below full fidelity)."""

    config: C
    """The configuration, an instance of the device's ``Config`` (typed by ``Device[C]``)."""
    accuracy_cache: AccuracyCache | None = None
    """Where :meth:`task_metrics` looks accuracies up and stores them (``None``: nowhere)."""
    accuracy_fraction: float = 1.0
    """Share of the training budget :meth:`task_metrics` measures accuracy with (< 1 only on
    ``multi_fidelity`` devices)."""

    def __init__(self, config: C | None = None) -> None:
        if config is None:
            self.config = cast(C, self.Config())
            return
        if not isinstance(config, self.Config):
            raise ConfigError(
                f"device {self.name!r} takes a {self.Config.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    def report(self, trace: Trace, columns: Mapping[str, Any], *,
               area_mm2: float | None = None, extra: Mapping[str, float] | None = None,
               violations: Mapping[str, float] | None = None) -> Report:
        """The :class:`Report` of ``trace``: names, op kinds, phases, ``macs`` and ``flops``
        come from the trace; ``columns`` gives the rest (at least ``cycles, latency_s,
        energy_j, utilization``)."""
        cols = trace.columns
        return Report(
            device=self.name, workload=trace.name, names=trace.names,
            ops=tuple(lay.op.value for lay in trace.layers),
            phases=tuple(lay.phase.value for lay in trace.layers),
            columns={"macs": cols["macs"], "flops": cols["flops"], **columns},
            area_mm2=area_mm2, extra=dict(extra or {}), violations=dict(violations or {}))

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> Device[Any]:
        """Build from a mapping of values; strings are parsed by each parameter's declaration."""
        if params is not None and not isinstance(params, Mapping):
            raise ConfigError(f"parameters of device {cls.name!r} must be a mapping of name "
                              f"-> value, got {type(params).__name__}")
        params = dict(params or {})
        values = {
            k: (cls.Config.spec(k).parse(v, cls.name) if isinstance(v, str)
                and cls.Config.spec(k).type is not str else v)
            for k, v in params.items()
        }
        # ``Config`` is a ClassVar, which cannot mention ``C``: the instance is this class's.
        return cls(cast(C, cls.Config.from_mapping(values)))

    @classmethod
    def metric_table(cls) -> MetricTable:
        """Every metric this device's summaries may hold: the report's, the accuracy of its
        supported tasks (their unit when they agree) and its own ``metrics``."""
        accuracy = [m for t in sorted(cls.supported_tasks, key=lambda t: t.kind)
                    if (m := t.accuracy_metric()) is not None]
        if len({m.unit for m in accuracy}) > 1:
            accuracy = [Metric("accuracy", "", "maximize", doc="Accuracy of the trace's task "
                               "(unit: " + ", ".join(f"{t.kind}: {t.accuracy_unit}" for t in
                                                     cls.supported_tasks) + ").")]
        return REPORT_METRICS | MetricTable([*accuracy[:1], *cls.metrics])

    @classmethod
    def accepts(cls, trace: Trace) -> bool:
        """Whether every op of ``trace`` is one this device models."""
        return all(lay.op in cls.supported_ops for lay in trace.layers)

    def require_supported(self, trace: Trace) -> None:
        """Raise :class:`WorkloadError` for anything but a :class:`Trace`, and naming the first
        op kind this device does not model."""
        if not isinstance(trace, Trace):
            raise WorkloadError(f"device {self.name!r} evaluates an accel_sim.Trace, got "
                                f"{type(trace).__name__} (build one with "
                                "workloads.load_workload)")
        for lay in trace.layers:
            if lay.op not in self.supported_ops:
                hint = ""
                if _devices_supporting is not None:  # set by the registry (see below)
                    hint = f"; devices that do: {', '.join(_devices_supporting(lay.op))}"
                raise WorkloadError(
                    f"device {self.name!r} does not model {lay.op.value} ops (layer "
                    f"{lay.name!r} of {trace.name!r}){hint}")

    # ------------------------------------------------------------------ tasks
    def accuracy(self, task: Task) -> float:
        """The accuracy of ``task`` on this configuration (its unit: ``task.accuracy_unit``).

        Devices that list task types in ``supported_tasks`` implement it; it is only called
        with one of them.
        """
        raise NotImplementedError(f"device {self.name!r} declares supported_tasks but does "
                                  "not implement accuracy()")

    def accuracy_at(self, task: Task, fraction: float) -> float:
        """The accuracy of ``task`` measured with ``fraction`` (in (0, 1]) of the full
        training budget: a cheaper, lower-fidelity estimate for ``fraction`` < 1 (1: exactly
        :meth:`accuracy`). ``multi_fidelity`` devices implement it; others only take 1."""
        if fraction >= 1.0:
            return self.accuracy(task)
        raise ConfigError(f"device {self.name!r} measures accuracy at full fidelity only "
                          f"(asked for {fraction:g} of its budget)")

    def supports_task(self, task: Task | None) -> bool:
        """Whether ``task`` is one this device measures."""
        return task is not None and isinstance(task, tuple(self.supported_tasks))

    def task_metrics(self, trace: Trace) -> dict[str, float]:
        """``{"accuracy": ...}`` for a trace whose task this device measures (and has an
        accuracy), else ``{}``."""
        task = trace.task
        if not self.supports_task(task) or not task.accuracy_unit:  # type: ignore[union-attr]
            return {}
        fraction = float(self.accuracy_fraction)
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"accuracy_fraction={fraction!r}: must be in (0, 1]")

        def measure() -> float:
            if fraction < 1.0:
                return float(self.accuracy_at(task, fraction))  # type: ignore[arg-type]
            return float(self.accuracy(task))  # type: ignore[arg-type]

        cache = self.accuracy_cache
        if cache is None:
            return {"accuracy": measure()}
        key = self.accuracy_key(task, fraction)  # type: ignore[arg-type]
        value = cache.get(key)
        if value is None:
            value = measure()
            cache.put(key, value)
        return {"accuracy": value}

    def accuracy_values(self) -> dict[str, Any]:
        """The values of the ``accuracy_params`` (all parameters when ``None``) by name: what
        :meth:`accuracy_key` keys on. A device whose different configurations measure the same
        accuracy by construction (e.g. a mask that keeps every weight trains as dense) may map
        them to one set of values."""
        values = self.config.to_dict()
        names = sorted(values if self.accuracy_params is None else self.accuracy_params)
        return {n: values[n] for n in names}

    def accuracy_key(self, task: Task, fraction: float = 1.0) -> str:
        """What the accuracy of ``task`` on this configuration depends on, as canonical JSON:
        the device, the task (type and fields), the ``accuracy_params`` values, the share of
        the training budget when below 1 and the accel_sim version (a new release measures
        again)."""
        import dataclasses
        import json

        fields: dict[str, Any] = (dataclasses.asdict(task) if dataclasses.is_dataclass(task)
                                  else {})
        from ._version import __version__

        item: dict[str, Any] = {"device": self.name, "task": [type(task).__name__, fields],
                                "params": self.accuracy_values(),
                                "accel_sim": __version__}
        if fraction < 1.0:
            item["fraction"] = float(fraction)
            item["low_fidelity"] = self.low_fidelity
        return json.dumps(item, sort_keys=True, default=str)

    def task_note(self, trace: Trace) -> str | None:
        """One line when the trace carries a task with an accuracy that this device does not
        measure (``None`` otherwise)."""
        task = trace.task
        if task is None or not task.accuracy_unit or self.supports_task(task):
            return None
        return (f"device {self.name!r} does not measure {task.kind} tasks ({task.describe()})"
                "; no accuracy is reported")

    @abc.abstractmethod
    def evaluate(self, trace: Trace) -> Report:
        """Evaluate every layer of ``trace`` on this device (see the class contract)."""

    def evaluate_many(self, trace: Trace, configs: Sequence[C]) -> list[Report]:
        """Evaluate ``trace`` under many configurations of this device class."""
        return [type(self)(c).evaluate(trace) for c in configs]


#: Names of the registered devices that model an op kind. The registry
#: (:mod:`accel_sim._registry`, a layer above) installs it when it is imported, so that
#: :meth:`Device.require_supported` can name the devices that fit without importing it.
_devices_supporting: Callable[[OpKind], list[str]] | None = None
