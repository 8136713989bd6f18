"""Text the command line prints: tables and summary lines, every figure with its unit.

Rules (also in README "Command line"):

* Every column header and figure carries its unit (:mod:`accel_sim._units`); MACs and cycles
  are their own units.
* The ``util [%]`` and ``MACs`` columns are printed only when the workload has arithmetic
  (FLOPs > 0): utilisation is the share of the device's peak compute rate, which means nothing
  for work without arithmetic (the replay devices' traces: insert, sample, update). The column
  stays in ``layers.csv``.
* ``accuracy`` is printed when the report has it, with its meaning: the fraction of the digits
  test images classified correctly (analog, sat, learning_group) or the mean return of the
  final DQN training episodes (replay workloads with ``env``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

from ._units import ACCURACY_UNITS, column_label
from .tasks import DqnLearning, Task

__all__ = ["accuracy_line", "layer_table", "scalesim_summary", "serve_summary",
           "shows_utilization"]


def shows_utilization(report: Any) -> bool:
    """Whether utilisation (share of peak compute) means anything for this report: the
    workload has arithmetic."""
    return report.flops > 0 or report.macs > 0


def layer_table(report: Any, limit: int = 60) -> str:
    """The per-layer table of ``accel-sim run`` with a totals line, area and feasibility."""
    arith = shows_utilization(report)
    cols: list[tuple[str, str, int]] = [("cycles", "cycles", 14),
                                        ("latency_s", column_label("latency", "s"), 13),
                                        ("energy_j", column_label("energy", "J"), 13)]
    if arith:
        cols.insert(0, ("macs", "MACs", 14))
        cols.append(("utilization", column_label("util", "%"), 8))

    def cell(key: str, value: float, width: int) -> str:
        if key in ("macs", "cycles"):
            return f"{value:>{width},.0f}"
        if key == "utilization":
            return f"{100.0 * value:>{width}.1f}"
        return f"{value:>{width}.4e}"

    head = f"{'layer':<32} {'op':<13} " + " ".join(f"{h:>{w}}" for _, h, w in cols)
    lines = [head, "-" * len(head)]
    rows = report.layer_rows()
    for r in rows[:limit]:
        lines.append(f"{r['layer'][:32]:<32} {r['op'][:13]:<13} "
                     + " ".join(cell(k, r[k], w) for k, _, w in cols))
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more layers in layers.csv")
    s = report.summary()
    lines.append("-" * len(head))
    lines.append(f"{'total':<46} " + " ".join(cell(k, s[k], w) for k, _, w in cols))
    if arith:
        lines.append("util: share of the device's peak compute rate (latency-weighted in the "
                     "total)")
    if "area_mm2" in s:
        lines.append(f"area: {s['area_mm2']:.3f} mm^2")
    if not report.feasible:
        bad = ", ".join(f"{k} ({v:+.1%} over the limit)" for k, v in report.violations.items()
                        if v > 0)
        lines.append(f"INFEASIBLE: {bad}")
    return "\n".join(lines)


def accuracy_line(summary: Mapping[str, Any], task: Task | None) -> str | None:
    """``accuracy: ... (meaning)`` when the summary has an accuracy, else ``None``.

    ``task`` is the trace's (a ``replay`` workload's accuracy is a DQN return).
    """
    if "accuracy" not in summary:
        return None
    acc = float(summary["accuracy"])
    if isinstance(task, DqnLearning):
        from .replay import DQNConfig

        return (f"accuracy: {acc:.4g} ({ACCURACY_UNITS['dqn']} of DQN on "
                f"{task.env}: the last {DQNConfig.final_episodes} training "
                f"episodes, averaged over {task.runs} runs of {task.steps} steps)")
    return (f"accuracy: {acc:.4f} ({ACCURACY_UNITS['classification']}: share of the digits "
            "test images classified correctly)")


def serve_summary(s: Mapping[str, Any]) -> str:
    """The summary lines of ``accel-sim serve``."""
    mode = (f"Poisson arrivals at {s['rate']:g} req/s" if s.get("rate") is not None
            else "trace arrivals" if s.get("mode") == "trace" else "closed loop")
    varied = isinstance(s["lin"], float) or isinstance(s["lout"], float)
    lengths = (f"mean {s['lin']:.0f} + {s['lout']:.0f}" if varied
               else f"{s['lin']} + {s['lout']}")
    reps = s.get("replicas", 1)
    where = f"{reps} replicas of " if reps != 1 else ""
    kv = s.get("kv", "reserve")
    extra = ""
    if kv == "paged":
        extra = (f", paged KV {s['kv_capacity_tokens']:,} tokens per replica, peak "
                 f"{s['kv_peak_fraction']:.0%}, {s['preemptions']:,} preemptions")
    return "\n".join([
        f"{s['model']} on {where}{s['devices']} x {s['device']}: {s['requests']} requests of "
        f"{lengths} tokens ({mode}), scheduler {s.get('scheduler', 'orca')}, batch cap "
        f"{s['batch_cap']} requests (the KV memory fits {s['max_batch_kv']}{extra})",
        f"  throughput  {s['throughput_tok_s']:,.1f} tok/s   energy "
        f"{s['energy_per_token_j']:.4g} J/token   power {s['power_w']:,.0f} W",
        f"  TTFT p50    {s['ttft_p50_s']:.4g} s   TBT p50 {s['tbt_p50_s']:.4g} s   TBT p99 "
        f"{s['tbt_p99_s']:.4g} s   E2E p50 {s['e2e_p50_s']:.4g} s",
        f"  makespan    {s['makespan_s']:.4g} s (simulated)   {s['iterations']:,} iterations, "
        f"mean decode "
        f"batch {s['mean_decode_batch']:.1f} requests",
    ])


def scalesim_summary(path: str) -> str:
    """One line on a written COMPUTE_REPORT.csv: layers and cycle totals."""
    with open(path, newline="") as fh:
        rows = [[c.strip() for c in r] for r in csv.reader(fh)]
    head, body = rows[0], [r for r in rows[1:] if r and r[0]]
    col = {name: i for i, name in enumerate(head)}

    def total(name: str) -> int:
        return sum(int(float(r[col[name]])) for r in body)

    return (f"wrote {path}: {len(body)} layers, {total('Total Cycles'):,} cycles "
            f"({total('Total Cycles (incl. prefetch)'):,} incl. prefetch, "
            f"{total('Stall Cycles'):,} stall), in array clock cycles")
