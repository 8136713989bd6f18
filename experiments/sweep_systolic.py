"""Example sweep (Python API): systolic array shape x dataflow on ResNet-50.

Copy and edit: change the workload, the grid or the fixed parameters. Writes
``OUTDIR/sweep.csv`` and ``OUTDIR/sweep.png`` (latency vs energy, coloured by dataflow).

Usage: ``python experiments/sweep_systolic.py [-o results/sweep_systolic]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from accel_sim import get_device, grid_configs, run_sweep, write_rows_csv
from workloads import load_workload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="results/sweep_systolic")
    out = Path(ap.parse_args().output)
    out.mkdir(parents=True, exist_ok=True)

    trace = load_workload("resnet50:batch=1")
    device = get_device("systolic")
    sides = [8, 16, 32, 64, 128, 256]
    configs = grid_configs(device, {"rows": sides, "cols": sides,
                                    "dataflow": ["os", "ws", "is"]},
                           fixed={"ifmap_sram_kb": 512, "filter_sram_kb": 512,
                                  "ofmap_sram_kb": 256, "bandwidth": 32})
    rows = run_sweep(trace, device, configs, jobs=2)
    write_rows_csv(out / "sweep.csv", rows)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for df, marker in (("os", "o"), ("ws", "s"), ("is", "^")):
        sel = [r for r in rows if r["dataflow"] == df]
        ax.scatter([r["latency_s"] for r in sel], [r["energy_j"] for r in sel],
                   marker=marker, label=df, alpha=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("energy (J)")
    ax.set_title(f"systolic on ResNet-50: {len(rows)} configurations")
    ax.legend(title="dataflow")
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=110)
    best = min(rows, key=lambda r: r["edp_js"])
    print(f"{len(rows)} configurations; lowest EDP: {best['rows']}x{best['cols']} "
          f"{best['dataflow']}, {best['latency_s'] * 1e3:.2f} ms, {best['energy_j'] * 1e3:.2f} mJ")
    print(f"wrote {out}/sweep.csv and {out}/sweep.png")


if __name__ == "__main__":
    main()
