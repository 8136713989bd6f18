"""Units of metric names and the labels that show them ("latency [s] (lower is better)").

A metric's unit is declared where the metric is produced (:class:`accel_sim.Metric`: the
report's, a device's ``metrics``, the server's); :func:`metric_unit` reads a table of such
declarations when given one. Without one it falls back on the naming convention: names carry
their unit as a suffix (``latency_s``, ``energy_j``, ``area_mm2``, ...), a few common names
have none (``macs``, ``utilization``, ``accuracy``, ...), and the objective aliases of
``accel-sim explore`` (``latency`` -> ``latency_s``) have their metric's. Every table header and
plot axis of accel_sim is made with :func:`axis_label` or :func:`column_label`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError
from .tasks import Classification, DqnLearning

if TYPE_CHECKING:
    from ._metrics import MetricTable

__all__ = ["ACCURACY_UNITS", "DIRECTION_WORDS", "axis_label", "column_label", "direction_word",
           "metric_unit"]

#: Meaning of the ``accuracy`` metric per task: the digits networks (analog, sat,
#: learning_group) report the fraction of test images classified correctly; the replay devices
#: (amper, per_gpu, per_cpu) the mean return of the final DQN training episodes.
ACCURACY_UNITS = {t.kind: t.accuracy_unit for t in (Classification, DqnLearning)}

#: Suffix -> unit, longest first (``energy_per_token_j`` before ``_j``).
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_per_token_j", "J/token"),
    ("_gflops_per_w", "GFLOP/s/W"),
    ("_tok_s", "tok/s"),
    ("_req_s", "req/s"),
    ("_tflops", "TFLOP/s"),
    ("_gflops", "GFLOP/s"),
    ("_tops", "TOPS"),
    ("_gbps", "GB/s"),
    ("_mm2", "mm^2"),
    ("_bytes", "B"),
    ("_mib", "MiB"),
    ("_cycles", "cycles"),
    ("_macs", "MACs"),
    ("_fraction", "fraction"),
    ("_reads", "words"),
    ("_writes", "words"),
    ("_js", "J*s"),
    ("_j", "J"),
    ("_w", "W"),
    ("_s", "s"),
)

#: Names without a unit suffix.
_NAMES: dict[str, str] = {
    # every report
    "macs": "MACs", "flops": "FLOPs", "cycles": "cycles", "utilization": "fraction",
    "accuracy": ACCURACY_UNITS["classification"], "feasible": "bool",
    # objective aliases of accel-sim explore (accel_sim.explore.OBJECTIVE_ALIASES)
    "latency": "s", "energy": "J", "area": "mm^2", "edp": "J*s", "throughput": "TOPS",
    "power": "W",
    # explore tables
    "hypervolume": "", "trial": "", "sampler_time_s": "s", "eval_time_s": "s",
}

#: Direction -> the words shown on axes and headers.
DIRECTION_WORDS = {"minimize": "lower is better", "maximize": "higher is better"}


def metric_unit(name: str, *, task: str = "classification",
                metrics: MetricTable | None = None) -> str:
    """The unit of a summary metric or column name; ``""`` when unknown.

    ``metrics``: the declarations of whoever produced the figure (e.g.
    ``Device.metric_table()``), read first. ``violation_*`` and ``constraint_*`` are the
    relative excess over a limit (fraction, > 0 infeasible); ``objective_<name>`` and
    ``ref_<name>`` have the unit of ``<name>``. ``task`` chooses the meaning of ``accuracy``
    (a key of :data:`ACCURACY_UNITS`).
    """
    if task not in ACCURACY_UNITS:
        raise ConfigError(f"metric_unit task={task!r}: expected one of "
                          f"{', '.join(ACCURACY_UNITS)}")
    if name == "accuracy":
        return ACCURACY_UNITS[task]
    if metrics is not None and name in metrics:
        return metrics[name].unit
    if name in _NAMES:
        return _NAMES[name]
    for prefix in ("objective_", "ref_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return metric_unit(name[len(prefix):], task=task, metrics=metrics)
    if name.startswith(("violation_", "constraint_")):
        return "fraction over the limit"
    for suffix, unit in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return unit
    return ""


def direction_word(direction: str | None) -> str:
    """``"lower is better"`` (minimize), ``"higher is better"`` (maximize) or ``""``."""
    if direction is None:
        return ""
    if direction not in DIRECTION_WORDS:
        raise ConfigError(f"direction {direction!r}: expected minimize or maximize")
    return DIRECTION_WORDS[direction]


def column_label(name: str, unit: str | None = None, *, task: str = "classification") -> str:
    """``name [unit]`` (just ``name`` when it has no unit); ``unit`` overrides the lookup."""
    unit = metric_unit(name, task=task) if unit is None else unit
    return f"{name} [{unit}]" if unit else name


def axis_label(name: str, direction: str | None = None, *, unit: str | None = None,
               task: str = "classification") -> str:
    """Axis label with unit and direction, e.g. ``latency [s] (lower is better)``.

    Args:
        name: Metric, column or objective name (``latency``, ``energy_j``, ...).
        direction: ``minimize``, ``maximize`` or ``None`` (no direction shown).
        unit: Unit to show instead of :func:`metric_unit`'s.
        task: Meaning of ``accuracy`` (see :data:`ACCURACY_UNITS`).
    """
    label = column_label(name, unit, task=task)
    word = direction_word(direction)
    return f"{label} ({word})" if word else label
