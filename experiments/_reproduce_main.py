"""Shared command line of the ``experiments/reproduce_*.py`` scripts."""

from __future__ import annotations

import argparse

from accel_sim.reproduce import get_reproduction


def main(name: str, description: str) -> None:
    """Run reproduction ``name`` (``--quick``, ``-o DIR``) and print its comparison table."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-o", "--output", default=f"results/{name}")
    args = ap.parse_args()
    rows = get_reproduction(name)(args.output, quick=args.quick)
    with open(f"{args.output}/comparison.md") as fh:
        print(fh.read())
    print(f"{sum(r.ok for r in rows)}/{len(rows)} within tolerance")
