"""Speed of the systolic model, as ratios measured in one run.

1. ResNet-50 (SCALE-Sim topology, 54 layers) on ``systolic``: time per evaluation in-process,
   against a plain numpy 256x256 float32 matmul timed in the same run.
2. A 10,000-configuration sweep of ResNet-50 on 2 worker processes.
3. Side by side with SCALE-Sim 3.0.0 itself (``--scalesim``; installs it into its own venv,
   ``.bench/scalesim-venv``, on first use): the same config and topology, wall-time ratio and
   the difference in "Total Cycles" per layer (must be zero).

Usage::

    python benchmarks/bench_systolic.py [--scalesim] [--config google|scale] [--topology vit_s]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _timing import median_time

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACCEL_SIM_SHARED", ROOT.parent / "shared"))
VENV = ROOT / ".bench" / "scalesim-venv"


def bench_in_process() -> None:
    from accel_sim.devices.systolic import SystolicArray, SystolicConfig
    from workloads import read_topology

    trace = read_topology(SHARED / "data/topologies/Resnet50.csv")
    dev = SystolicArray(SystolicConfig(rows=128, cols=128))
    dev.evaluate(trace)  # warm the per-trace cache
    t_eval = median_time(lambda: dev.evaluate(trace), number=20)
    a = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    t_mm = median_time(lambda: a @ a, number=200)
    print(f"ResNet-50 on systolic (analytic): {t_eval * 1e3:.3f} ms per evaluation "
          f"= {t_eval / t_mm:.1f}x a numpy 256x256 float32 matmul ({t_mm * 1e6:.1f} us)")


def bench_sweep(n_configs: int = 10_000, jobs: int = 2) -> None:
    from accel_sim import grid_configs, run_sweep
    from accel_sim.devices.systolic import SystolicArray
    from workloads import read_topology

    trace = read_topology(SHARED / "data/topologies/Resnet50.csv")
    side = [8, 12, 16, 24, 32, 48, 64, 96, 128, 256]
    grid: dict[str, list[Any]] = {"rows": side, "cols": side, "dataflow": ["os", "ws", "is"],
            "ifmap_sram_kb": [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
            "bandwidth": [4, 8, 16, 32]}
    configs = grid_configs(SystolicArray, grid)[:n_configs]
    t0 = time.perf_counter()
    rows = run_sweep(trace, SystolicArray, configs, jobs=jobs)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_sweep(trace, SystolicArray, configs[:500], jobs=1)
    per_cfg_serial = (time.perf_counter() - t1) / 500
    print(f"sweep of {len(rows)} ResNet-50 configurations on {jobs} processes: {dt:.2f} s "
          f"({dt / len(rows) * 1e6:.0f} us per configuration; serial "
          f"{per_cfg_serial * 1e6:.0f} us; speed-up {per_cfg_serial * len(rows) / dt:.2f}x)")


def _ensure_scalesim() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        print("installing scalesim==3.0.0 into", VENV, "...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "scalesim==3.0.0", "numpy<2",
                        "pandas<3"], check=True)
    return py


_RUNNER = """
import sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
t0 = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=gemm == '1')
s.run_scale(top_path=out)
print('WALL', time.perf_counter() - t0)
"""


def bench_scalesim(config: str, topology: str) -> None:
    from accel_sim import run_scalesim_compatible
    from workloads import read_topology

    py = _ensure_scalesim()
    cfg = SHARED / f"data/scalesim/configs/{config}.cfg"
    topo = SHARED / f"data/topologies/{topology}.csv"
    gemm = read_topology(topo).metadata["format"] == "gemm"
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([str(py), "-c", _RUNNER, str(cfg), str(topo),
                              str(SHARED / "data/scalesim/layouts/test.csv"), tmp,
                              "1" if gemm else "0"], capture_output=True, text=True, check=True)
        wall = float(res.stdout.split("WALL")[-1])
        report = next(Path(tmp).glob("*/COMPUTE_REPORT.csv"))
        with open(report) as fh:
            theirs = [[x.strip() for x in row] for row in csv.reader(fh)][1:]
        for model in ("analytic", "scalesim"):
            out = Path(tmp) / model
            run_scalesim_compatible(cfg, topo, out, gemm=gemm, memory_model=model)
            t_ours = median_time(partial(run_scalesim_compatible, cfg, topo, out, gemm=gemm,
                                         memory_model=model), repeat=3, number=3)
            with open(out / "COMPUTE_REPORT.csv") as fh:
                ours = [[x.strip() for x in row] for row in csv.reader(fh)][1:]
            diff_total = sum(abs(int(a[2]) - int(b[2])) for a, b in zip(ours, theirs,
                                                                        strict=True))
            diff_incl = sum(abs(int(a[1]) - int(b[1])) for a, b in zip(ours, theirs,
                                                                       strict=True))
            print(f"{config} {topology} ({len(ours)} layers): SCALE-Sim {wall:.1f} s, "
                  f"accel-sim scalesim --memory-model {model} {t_ours * 1e3:.2f} ms: "
                  f"{wall / t_ours:,.0f}x faster; |Total Cycles difference| = {diff_total}, "
                  f"|incl. prefetch difference| = {diff_incl}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalesim", action="store_true", help="also run SCALE-Sim itself")
    ap.add_argument("--config", default="google", choices=("google", "scale"))
    ap.add_argument("--topology", default="vit_s")
    ap.add_argument("--configs", type=int, default=10_000)
    args = ap.parse_args()
    bench_in_process()
    bench_sweep(args.configs)
    if args.scalesim:
        bench_scalesim(args.config, args.topology)


if __name__ == "__main__":
    main()
