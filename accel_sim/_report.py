"""Immutable, summable simulation results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ._metrics import Metric, MetricTable
from .errors import AccelSimError, NumericError

__all__ = ["REPORT_METRICS", "Report"]

#: Per-layer columns every report has (units: cycles in device clock cycles, latency in s,
#: energy in J, utilization as a fraction of peak in [0, 1]).
REQUIRED_COLUMNS = ("macs", "flops", "cycles", "latency_s", "energy_j", "utilization")
#: ``extra`` metrics that may be negative: ``accuracy`` is the mean DQN episode return on
#: replay workloads with ``env=`` (Acrobot-v1 returns lie in [-500, 0]).
SIGNED_EXTRAS = frozenset({"accuracy"})
#: The summary metrics every report produces (:meth:`Report.summary`), and the families of
#: energy components and violations; devices declare their other columns and extras.
REPORT_METRICS = MetricTable([
    Metric("macs", "MACs", doc="Multiply-accumulates of the trace."),
    Metric("flops", "FLOPs", doc="Floating-point operations of the trace (2 per MAC)."),
    Metric("cycles", "cycles", doc="Device clock cycles."),
    Metric("latency_s", "s", doc="Time to run the trace."),
    Metric("energy_j", "J", doc="Energy of the trace."),
    Metric("area_mm2", "mm^2", doc="Silicon area (where modelled)."),
    Metric("utilization", "fraction", "maximize",
           doc="Work done over the peak the device could do in the same time."),
    Metric("edp_js", "J*s", doc="Energy-delay product."),
    Metric("throughput_tops", "TOPS", "maximize", doc="FLOPs per second, 1e12/s."),
    Metric("feasible", "bool", None, doc="Whether no violation is positive."),
    Metric("energy_*_j", "J", doc="One energy component (they sum to energy_j)."),
    Metric("violation_*", "fraction over the limit", None,
           doc="Relative excess over a resource limit (> 0: infeasible)."),
])
_ENERGY_PREFIX = "energy_"
_ENERGY_SUFFIX = "_j"


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _freeze(arr: Any) -> np.ndarray:
    a = np.array(arr, dtype=np.float64)  # copy: callers keep their buffers
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Report:
    """Result of evaluating a trace on a device: per-layer table plus totals.

    A report is immutable. Reports add up: ``r1 + r2`` concatenates the layer tables (a
    workload run after another on the same hardware), sums cycles, latency and energy, and keeps
    the larger area (the same silicon executes both). Per-layer energy components are columns
    named ``energy_<component>_j`` that sum to ``energy_j``.

    Every figure is checked when the report is built: columns, area and ``extra`` metrics must
    be finite and non-negative, violations finite; otherwise :class:`~accel_sim.NumericError`
    names the device, the figure and the layer (so no NaN, infinite or negative number is ever
    written). No column is exempt: a quantity that can be negative by nature is reported as a
    non-negative magnitude or belongs in ``violations``.

    Attributes:
        device: Device name.
        workload: Workload (trace) name.
        names: Layer names.
        ops: Layer op kinds (strings).
        phases: Layer phases (strings).
        columns: Per-layer numeric columns (read-only float64 arrays), at least
            ``macs, flops, cycles, latency_s, energy_j, utilization``.
        area_mm2: Silicon area in mm^2, ``None`` if the device does not model area.
        extra: Non-additive scalar metrics (e.g. ``accuracy``, ``peak_tops``).
        violations: Constraint name -> amount by which it is violated (> 0 infeasible,
            <= 0 satisfied); e.g. a layer that does not fit on-chip memory.
    """

    device: str
    workload: str
    names: tuple[str, ...]
    ops: tuple[str, ...]
    phases: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    area_mm2: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)
    violations: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(self.ops) != n or len(self.phases) != n:
            raise AccelSimError("report: names, ops and phases must have one entry per layer")
        cols = {k: _freeze(v) for k, v in self.columns.items()}
        for name in REQUIRED_COLUMNS:
            if name not in cols:
                raise AccelSimError(f"report of {self.device!r} lacks the column {name!r}")
        for name, arr in cols.items():
            if arr.shape != (n,):
                raise AccelSimError(
                    f"report of {self.device!r}: column {name!r} has shape {arr.shape}, "
                    f"expected ({n},)"
                )
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "phases", tuple(self.phases))
        object.__setattr__(self, "columns", MappingProxyType(cols))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        object.__setattr__(self, "violations", MappingProxyType(dict(self.violations)))
        self._check_numbers()

    def _check_numbers(self) -> None:
        """Refuse NaN, infinite or negative figures (:class:`NumericError` naming the device,
        the figure and the layer): every column, the area and every ``extra`` metric must be
        finite and >= 0, except the :data:`SIGNED_EXTRAS` (finite); ``violations`` must be
        finite (negative means satisfied)."""
        where = f"report of {self.device!r} on {self.workload!r}"
        for name, arr in self.columns.items():
            bad = ~np.isfinite(arr) | (arr < 0)
            if bad.any():
                i = int(np.argmax(bad))
                raise NumericError(
                    f"{where}: column {name!r} is {float(arr[i])!r} at layer {self.names[i]!r} "
                    f"({int(bad.sum())} of {len(arr)} layers); every figure must be finite and "
                    ">= 0 (a bug of the device model)")
        scalars = [("area_mm2", self.area_mm2, False)] if self.area_mm2 is not None else []
        scalars += [(f"extra {k!r}", v, k in SIGNED_EXTRAS) for k, v in self.extra.items()]
        for name, value, signed in scalars:
            v = _as_float(value)
            if v is None or not math.isfinite(v) or (v < 0 and not signed):
                raise NumericError(f"{where}: {name} is {value!r}; every figure must be finite "
                                   "and >= 0 (a bug of the device model)")
        for k, value in self.violations.items():
            v = _as_float(value)
            if v is None or not math.isfinite(v):
                raise NumericError(f"{where}: violation {k!r} is {value!r}; it must be finite "
                                   "(> 0 violated, <= 0 satisfied)")

    # ------------------------------------------------------------------ totals
    def _total(self, name: str) -> float:
        return float(self.columns[name].sum())

    @property
    def macs(self) -> float:
        """Total dense MACs."""
        return self._total("macs")

    @property
    def flops(self) -> float:
        """Total dense FLOPs."""
        return self._total("flops")

    @property
    def cycles(self) -> float:
        """Total cycles (device clock)."""
        return self._total("cycles")

    @property
    def latency_s(self) -> float:
        """Total latency in seconds (layers run one after another)."""
        return self._total("latency_s")

    @property
    def energy_j(self) -> float:
        """Total energy in joules."""
        return self._total("energy_j")

    @property
    def utilization(self) -> float:
        """Latency-weighted mean utilization in [0, 1]."""
        lat = self.columns["latency_s"]
        tot = lat.sum()
        if tot <= 0:
            return 0.0
        return float((self.columns["utilization"] * lat).sum() / tot)

    @property
    def energy_breakdown(self) -> dict[str, float]:
        """Energy per component in joules (component name -> J)."""
        return {
            k[len(_ENERGY_PREFIX):-len(_ENERGY_SUFFIX)]: float(v.sum())
            for k, v in self.columns.items()
            if k.startswith(_ENERGY_PREFIX) and k.endswith(_ENERGY_SUFFIX) and k != "energy_j"
        }

    @property
    def feasible(self) -> bool:
        """Whether every constraint is satisfied."""
        return all(v <= 0 for v in self.violations.values())

    def summary(self) -> dict[str, Any]:
        """Scalar metrics (the keys of ``summary.json`` and of sweep/explore tables).

        Always: ``macs, flops, cycles, latency_s, energy_j, utilization, edp_js,
        throughput_tops, feasible``; ``area_mm2`` where modelled; ``energy_<c>_j`` per
        component; sums of the device's other per-layer columns; the ``extra`` metrics.
        """
        out: dict[str, Any] = {
            "macs": self.macs,
            "flops": self.flops,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
        }
        if self.area_mm2 is not None:
            out["area_mm2"] = float(self.area_mm2)
        out["utilization"] = self.utilization
        out["edp_js"] = self.energy_j * self.latency_s
        out["throughput_tops"] = (
            self.flops / self.latency_s / 1e12 if self.latency_s > 0 else 0.0
        )
        for k, v in self.columns.items():
            if k not in out and k != "utilization":
                out[k] = float(v.sum())
        out.update({k: float(v) for k, v in self.extra.items()})
        for k, amount in self.violations.items():
            out[f"violation_{k}"] = float(amount)
        out["feasible"] = self.feasible
        return out

    def layer_rows(self) -> list[dict[str, Any]]:
        """The per-layer table as rows (``layer, op, phase`` then the numeric columns)."""
        keys = list(REQUIRED_COLUMNS) + [k for k in self.columns if k not in REQUIRED_COLUMNS]
        rows = []
        for i, name in enumerate(self.names):
            row: dict[str, Any] = {"layer": name, "op": self.ops[i], "phase": self.phases[i]}
            for k in keys:
                v = float(self.columns[k][i])
                row[k] = int(v) if k in ("macs", "cycles") and v.is_integer() else v
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ algebra
    def __add__(self, other: Report) -> Report:
        if not isinstance(other, Report):
            return NotImplemented
        keys = list(self.columns) + [k for k in other.columns if k not in self.columns]
        n1, n2 = len(self.names), len(other.names)
        cols = {
            k: np.concatenate([
                self.columns[k] if k in self.columns else np.zeros(n1),
                other.columns[k] if k in other.columns else np.zeros(n2),
            ])
            for k in keys
        }
        areas = [a for a in (self.area_mm2, other.area_mm2) if a is not None]
        extra = {k: v for k, v in self.extra.items()
                 if k in other.extra and math.isclose(v, other.extra[k])}
        viol = dict(self.violations)
        for k, v in other.violations.items():
            viol[k] = max(viol.get(k, -math.inf), v)
        device = self.device if self.device == other.device else f"{self.device}+{other.device}"
        workload = (self.workload if self.workload == other.workload
                    else f"{self.workload}+{other.workload}")
        return Report(device, workload, self.names + other.names, self.ops + other.ops,
                      self.phases + other.phases, cols, max(areas) if areas else None,
                      extra, viol)

    def __radd__(self, other: Any) -> Report:
        if other == 0:  # sum() starts from 0
            return self
        return NotImplemented

    def __len__(self) -> int:
        return len(self.names)
