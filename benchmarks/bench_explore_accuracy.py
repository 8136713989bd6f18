"""Exploration with accuracy in the loop: cost and front quality, as ratios measured in one run.

Problem (the README's example, issue 17 item 1): ``accel-sim explore -w digits_mlp -d sat
--training --objectives latency,energy,accuracy --trials 50``, each command a fresh process as
a user runs it.

1. Reference cost: one full-accuracy ``accel-sim run -w digits_mlp -d sat --training`` (the
   default design: 2:8 BDWP training of the digits MLP for 100 epochs), wall time, the median
   of three runs (a single run varied from 2.0 to 3.5 s on the same code and machine).
2. ``before``: the explorer as it was, ``--accuracy-cache off`` (every trial measures its
   accuracy; the training is memoised in the process only): wall time for seed 0.
3. Fronts of the reference explorer, full fidelity, for every seed: the default sampler with
   ``--ignore-cost``, whose trials do not depend on the time a trial takes. Numbers do not
   depend on the cache (the tests check that a cached accuracy equals a measured one), so
   these runs share one accuracy cache to save time; their wall time is not a figure of this
   benchmark.
4. ``--multi-fidelity`` (defaults: reduction 3, 3 rungs: 1/27, 1/9, 1/3 of the epochs, then
   all), each seed with an empty cache (a first study's cost): with 1 and 2 worker processes,
   and with 4 Hyperband brackets (the last starting at full fidelity); and the full-fidelity
   explorer with an empty cache per seed, with the default sampler and with ``--sampler tpe``
   (the default before ``parego``).
5. Front quality: hypervolume of each run's feasible full-fidelity trials in (log10 latency,
   log10 energy, -accuracy), the reference point the worst of all fronts plus 5 % of the range;
   ratio to the reference explorer's run of the same seed. Medians over the seeds.

Usage: ``python benchmarks/bench_explore_accuracy.py [--seeds 5] [--variants
mf,mf_w2,mf_hb4,full,full_tpe]``
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: The variants compared (extra flags): multi-fidelity ones, and full-fidelity ones timed with
#: an empty cache (``full``: the default sampler; ``full_nocost``: it without weighing a
#: trial's cost; ``full_tpe``: the sampler that was the default before ``parego``).
VARIANTS = {"mf": ["--multi-fidelity"], "mf_w2": ["--multi-fidelity", "--workers", "2"],
            "mf_hb4": ["--multi-fidelity", "--brackets", "4"], "full": [],
            "full_nocost": ["--ignore-cost"], "full_tpe": ["--sampler", "tpe"]}
TRIALS = 50
#: The reference explorer whose fronts the others are compared with: the default sampler
#: without weighing a trial's cost (``--ignore-cost``), whose trials depend on the seed alone,
#: so a shared accuracy cache makes its runs faster without changing them.
REFERENCE = ["--ignore-cost"]
EXPLORE = ["-m", "accel_sim", "explore", "-w", "digits_mlp", "-d", "sat", "--training",
           "--objectives", "latency,energy,accuracy", "--trials", str(TRIALS), "-q"]


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def _front(out: Path) -> np.ndarray:
    """(log10 latency, log10 energy, -accuracy) of the feasible full-fidelity trials (the run
    must have completed its 50 trials itself: a study it resumed would time nothing)."""
    with open(out / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # --trials counts completed trials and those stopped at a lower fidelity
    ran = sum(r["state"] == "COMPLETE" or bool(r.get("stopped")) for r in rows)
    if ran != TRIALS:
        raise SystemExit(f"{out}: {ran} complete or stopped trials, expected {TRIALS}")
    pts = [[np.log10(float(r["latency_s"])), np.log10(float(r["energy_j"])),
            -float(r["accuracy"])] for r in rows
           if r["state"] == "COMPLETE" and r["feasible"] == "True"
           and float(r.get("fidelity") or 1.0) == 1.0]
    return np.array(pts).reshape(-1, 3)


def main() -> None:
    from accel_sim.explore import hypervolume

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="variants to run, of " + ", ".join(VARIANTS))
    args = ap.parse_args()
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"--variants: unknown {', '.join(sorted(unknown))}; of {', '.join(VARIANTS)}")
    variants = {n: VARIANTS[n] for n in args.variants.split(",")}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runs = [_timed(["-m", "accel_sim", "run", "-w", "digits_mlp", "-d", "sat",
                        "--training", "-o", str(tmp / f"run{i}")]) for i in range(3)]
        t_run = float(np.median(runs))
        print(f"one full-accuracy run (accel-sim run -w digits_mlp -d sat --training): "
              f"{t_run:.1f} s (median of 3: {', '.join(f'{t:.1f}' for t in runs)} s)")
        t_before = _timed([*EXPLORE, "--seed", "0", "--accuracy-cache", "off", "-o",
                           str(tmp / "before")])
        print(f"explore, 50 trials, full fidelity, no cache (seed 0): {t_before:.1f} s = "
              f"{t_before / t_run:.1f}x the run")
        fronts: dict[tuple[str, int], np.ndarray] = {}
        times: dict[tuple[str, int], float] = {}
        shared = tmp / "shared_cache.jsonl"
        for seed in range(args.seeds):
            # the reference fronts get folders of their own: a variant writing into the same
            # folder would resume that finished study and run no trial
            out = tmp / f"reference_{seed}"
            _timed([*EXPLORE, "--seed", str(seed), *REFERENCE, "--accuracy-cache", str(shared),
                    "-o", str(out)])
            fronts["reference", seed] = _front(out)
            for name, extra in variants.items():
                out = tmp / f"{name}_{seed}"
                times[name, seed] = _timed([
                    *EXPLORE, "--seed", str(seed), *extra,
                    "--accuracy-cache", str(tmp / f"{name}_{seed}.jsonl"), "-o", str(out)])
                fronts[name, seed] = _front(out)
            print(f"seed {seed}: " + ", ".join(f"{n} {times[n, seed]:.1f} s" for n in variants),
                  flush=True)
        every = np.vstack([f for f in fronts.values() if len(f)])
        ref = every.max(axis=0) + 0.05 * (every.max(axis=0) - every.min(axis=0))
        print(f"\nreference point (log10 s, log10 J, -accuracy): {np.round(ref, 4).tolist()}")
        print("| explorer | wall time, median [s] | / one run | HV / reference (--ignore-cost) HV, "
              "median (min-max) | feasible full-fidelity trials, median |")
        print("|---|---|---|---|---|")
        print(f"| full fidelity, no cache (seed 0) | {t_before:.1f} | {t_before / t_run:.1f}x "
              "| 1 | — |")
        for name, extra in variants.items():
            label = " ".join(extra) if "--multi-fidelity" in extra else \
                " ".join(["full fidelity, empty cache", *extra])
            t = float(np.median([times[name, s] for s in range(args.seeds)]))
            ratio = [hypervolume(fronts[name, s], ref) / hypervolume(fronts["reference", s], ref)
                     for s in range(args.seeds)]
            n = float(np.median([len(fronts[name, s]) for s in range(args.seeds)]))
            print(f"| {label} | {t:.1f} | {t / t_run:.1f}x | {np.median(ratio):.3f} "
                  f"({min(ratio):.3f}-{max(ratio):.3f}) | {n:.0f} |")
        if "full" in variants and "full_tpe" in variants:  # the default against the old one
            ratio = [hypervolume(fronts["full", s], ref) / hypervolume(fronts["full_tpe", s], ref)
                     for s in range(args.seeds)]
            print(f"\ndefault / --sampler tpe (the default before), full fidelity, HV per seed: "
                  f"median {np.median(ratio):.3f} ({min(ratio):.3f}-{max(ratio):.3f})")


if __name__ == "__main__":
    main()
