"""Comparison rows "paper vs accel_sim" and their files."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Comparison", "save_axes", "write_comparison"]


@dataclass(frozen=True)
class Comparison:
    """One published figure against ours.

    ``rel_error`` is |accel_sim - paper| / |paper|, or the absolute difference when the paper's
    figure is 0; ``ok`` says whether it is within ``tolerance`` (same convention). ``note``
    says why we disagree where we do.
    """

    quantity: str
    condition: str
    paper: float
    accel_sim: float
    tolerance: float
    note: str = ""

    @property
    def rel_error(self) -> float:
        if not math.isfinite(self.accel_sim):
            return math.inf
        diff = abs(self.accel_sim - self.paper)
        return diff / abs(self.paper) if self.paper != 0 else diff

    @property
    def ok(self) -> bool:
        return self.rel_error <= self.tolerance


def write_comparison(rows: Sequence[Comparison], outdir: str, title: str) -> str:
    """Write comparison.csv and comparison.md; returns the markdown table."""
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "comparison.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["quantity", "condition", "paper", "accel_sim", "rel_error", "tolerance",
                    "ok", "note"])
        for r in rows:
            w.writerow([r.quantity, r.condition, r.paper, r.accel_sim, r.rel_error,
                        r.tolerance, r.ok, r.note])
    lines = [f"# {title}", "", "| quantity | condition | paper | accel_sim | rel. error | "
             "tolerance | ok | note |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.quantity} | {r.condition} | {r.paper:g} | {r.accel_sim:.4g} | "
                     f"{r.rel_error:.3g} | {r.tolerance:g} | {'yes' if r.ok else 'NO'} | "
                     f"{r.note} |")
    md = "\n".join(lines) + "\n"
    with open(os.path.join(outdir, "comparison.md"), "w") as fh:
        fh.write(md)
    return md


def save_axes(fig: Any, ax: Any, xlabel: str, ylabel: str, path: str,
              legend_size: float | None = 8) -> None:
    """Label ``ax``, add its legend (``None``: default size), save ``fig`` to ``path`` as a
    100-dpi PNG (figures are :mod:`accel_sim._plotting` ones, not pyplot's: nothing to
    close)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend_size is None:
        ax.legend()
    else:
        ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
