"""Reproduce Xiao et al. 2022 (analog accuracy trends) on the digits networks.

Same as ``accel-sim reproduce analog-xiao [--quick] -o DIR``; see
``accel_sim/reproduce/analog_xiao.py`` for what is compared and why we differ.

Usage: ``python experiments/reproduce_analog_xiao.py [--quick] [-o results/analog-xiao]``
"""

from __future__ import annotations

import argparse

from accel_sim.reproduce import get_reproduction


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-o", "--output", default="results/analog-xiao")
    args = ap.parse_args()
    rows = get_reproduction("analog-xiao")(args.output, quick=args.quick)
    with open(f"{args.output}/comparison.md") as fh:
        print(fh.read())
    print(f"{sum(r.ok for r in rows)}/{len(rows)} within tolerance")


if __name__ == "__main__":
    main()
