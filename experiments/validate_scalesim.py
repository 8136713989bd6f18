"""Validation of ``systolic`` against SCALE-Sim v3 reference runs.

Runs every reference of ``../shared/data/scalesim/reference`` (7 config x topology runs, 51
layers) with both memory models and writes, in ``-o OUTDIR`` (default
``results/validate_scalesim``):

* ``comparison.csv``: per layer and model: reference, accel_sim, relative error, for "Total
  Cycles" and "Total Cycles (incl. prefetch)";
* ``comparison.md``: the table "SCALE-Sim vs accel_sim" with the largest relative errors;
* ``scalesim_vs_accel_sim.png``: accel_sim against SCALE-Sim cycles, one point per layer;
* ``golden.csv`` and a second table: the 155 single-layer SCALE-Sim runs of
  ``tests/data/scalesim_golden.csv`` (75 of them stall), where the analytic model's stall
  estimate is measured against SCALE-Sim.

Usage: ``python experiments/validate_scalesim.py [-o OUTDIR]``
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACCEL_SIM_SHARED", ROOT.parent / "shared"))
REFERENCES = ["google256_os_Resnet18", "google256_os_alexnet", "google256_os_vit_s",
              "scale32_is_vit_s", "scale32_os_vit_s", "scale32_ws_alexnet", "scale32_ws_vit_s"]


def run(outdir: Path) -> list[dict]:
    from accel_sim import read_scalesim_config, write_rows_csv
    from accel_sim.devices.systolic import SystolicArray
    from workloads import read_topology

    rows: list[dict] = []
    for ref in REFERENCES:
        cfg_name, dataflow, topo = ref.split("_", 2)
        text = (SHARED / "data/scalesim/configs" /
                ("google.cfg" if cfg_name == "google256" else "scale.cfg")).read_text()
        text = text.replace("Dataflow : ws", f"Dataflow : {dataflow}")
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as tmp:
            tmp.write(text)
        trace = read_topology(SHARED / f"data/topologies/{topo}.csv")
        with open(SHARED / f"data/scalesim/reference/{ref}.csv") as fh:
            want = list(csv.DictReader(fh))
        for model in ("analytic", "scalesim"):
            cfg = read_scalesim_config(tmp.name, memory_model=model)
            cols = SystolicArray(cfg).evaluate(trace).columns
            for i, w in enumerate(want):
                for qty, ours, theirs in (
                        ("total_cycles", cols["cycles"][i], w["compute_cycles"]),
                        ("total_cycles_incl_prefetch", cols["cycles_incl_prefetch"][i],
                         w["total_cycles_incl_prefetch"])):
                    ref_v = float(theirs)
                    rows.append({"run": ref, "layer": w["layer"], "memory_model": model,
                                 "quantity": qty, "scalesim": ref_v, "accel_sim": float(ours),
                                 "rel_error": abs(float(ours) - ref_v) / ref_v})
        os.unlink(tmp.name)
    outdir.mkdir(parents=True, exist_ok=True)
    write_rows_csv(outdir / "comparison.csv", rows)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| memory model | quantity | layers | exact | max rel. error | mean rel. error |",
             "|---|---|---|---|---|---|"]
    for model in ("analytic", "scalesim"):
        for qty in ("total_cycles", "total_cycles_incl_prefetch"):
            sel = [r for r in rows if r["memory_model"] == model and r["quantity"] == qty]
            errs = [r["rel_error"] for r in sel]
            lines.append(f"| {model} | {qty} | {len(sel)} | {sum(e == 0 for e in errs)} | "
                         f"{max(errs):.2%} | {sum(errs) / len(errs):.3%} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, qty in zip(axes, ("total_cycles", "total_cycles_incl_prefetch"), strict=True):
        for model, marker in (("analytic", "o"), ("scalesim", "x")):
            sel = [r for r in rows if r["memory_model"] == model and r["quantity"] == qty]
            ax.loglog([r["scalesim"] for r in sel], [r["accel_sim"] for r in sel], marker,
                      label=f"memory_model={model}", alpha=0.7)
        lo = min(r["scalesim"] for r in rows)
        hi = max(r["scalesim"] for r in rows)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="equal")
        ax.set_xlabel(f"SCALE-Sim 3.0.0 {qty}")
        ax.set_ylabel(f"accel_sim {qty}")
        ax.legend()
    fig.suptitle("systolic vs SCALE-Sim: 51 reference layers, 7 runs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def golden(outdir: Path) -> str:
    """Analytic vs exact memory model on the 155 golden SCALE-Sim runs."""
    import sys

    import numpy as np

    from accel_sim import write_rows_csv

    sys.path.insert(0, str(ROOT / "tests"))  # the golden-case loader of the test suite
    from test_systolic import golden_case, golden_rows

    out = []
    for r in golden_rows():
        for model in ("analytic", "scalesim"):
            c = golden_case(r, model)
            ref = float(r["compute_cycles"])
            out.append({"case": r["case_id"], "memory_model": model,
                        "scalesim_stall_cycles": float(r["stall_cycles"]),
                        "scalesim_total_cycles": ref, "accel_sim_total_cycles": c["cycles"][0],
                        "estimated": c["memory_estimated"][0],
                        "rel_error": abs(c["cycles"][0] - ref) / ref})
    write_rows_csv(outdir / "golden.csv", out)
    lines = ["| memory model | runs | SCALE-Sim stalls | exact | median rel. error "
             "(stalling runs) | max rel. error |", "|---|---|---|---|---|---|"]
    for model in ("analytic", "scalesim"):
        sel = [o for o in out if o["memory_model"] == model]
        stall = [o["rel_error"] for o in sel if o["scalesim_stall_cycles"] > 0]
        lines.append(f"| {model} | {len(sel)} | {len(stall)} | "
                     f"{sum(o['rel_error'] == 0 for o in sel)} | {np.median(stall):.1%} | "
                     f"{max(o['rel_error'] for o in sel):.1%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="results/validate_scalesim")
    out = Path(ap.parse_args().output)
    rows = run(out)
    md = ("# SCALE-Sim vs accel_sim (systolic)\n\n## 51 reference layers\n\n" + table(rows)
          + "\n\n## 155 single-layer runs, Total Cycles\n\n" + golden(out) + "\n")
    (out / "comparison.md").write_text(md)
    plot(rows, out / "scalesim_vs_accel_sim.png")
    print(md)
    print(f"wrote {out}/comparison.csv, comparison.md, scalesim_vs_accel_sim.png")


if __name__ == "__main__":
    main()
