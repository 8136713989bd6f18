"""Example exploration (Python API): systolic array for ResNet-50 under an area budget.

Copy and edit: objectives, constraints, the searched parameters and the budget are plain
Python values. The study lives in ``OUTDIR/study.db``; re-running continues it.

Usage: ``python experiments/explore_systolic.py [-o results/explore_systolic] [--trials 150]``
"""

from __future__ import annotations

import argparse

from accel_sim.explore import Constraint, Explorer, ExploreSpec, Objective, pareto_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="results/explore_systolic")
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("--area", type=float, default=25.0, help="area budget, mm^2")
    args = ap.parse_args()

    spec = ExploreSpec(
        workloads=("resnet50",),
        device="systolic",
        objectives=(Objective.parse("latency"), Objective.parse("energy")),
        constraints=(Constraint.parse(f"area_mm2<={args.area}"),),
        space={"rows": "8:256", "cols": "8:256", "dataflow": "", "ifmap_sram_kb": "16:4096",
               "filter_sram_kb": "16:4096", "bandwidth": "4:128"},
        fixed={"ofmap_sram_kb": "256"},
        trials=args.trials, sampler="tpe", seed=0, output=args.output,
        study=f"systolic_area{args.area:g}")
    result = Explorer(spec).run()
    print(pareto_table(result.data))
    print(f"outputs: {', '.join(sorted(result.paths.values()))}")


if __name__ == "__main__":
    main()
