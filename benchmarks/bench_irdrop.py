"""Speed of the IR-drop crossbar solver against a plain numpy MVM, measured in one run.

Cases (random G uniform in [0, 1], inputs uniform in [0, 1], float64, default ``tol = 1e-9``):

* 1024x1024, bit-line parasitics only (``rp_row = 0``, exact direct solve), ``rp_col`` (rp_norm)
  1e-5, 1e-4, 1e-3.
* 256x256 and 1024x1024 with both wires resistive, ``rp_row = rp_col`` (rp_norm_row = rp_norm)
  1e-5, 1e-4, 1e-3 (two-grid cycles; ``cycles`` is the ``sweeps`` statistic).

each for batches of 1 and 64 input vectors. Each case is timed against ``V @ G`` on the same
data: one warm-up call each (numba compiles or loads its cache there), then ``--repeats``
rounds of one solver call and a loop of numpy calls (enough for about 2 ms, averaged, after
one untimed call, so numpy runs with warm caches), alternating so that both see the same
load; reported: medians per MVM (time of a call / batch size) and their ratio. Target of
issue 15: the 1024x1024 IR-drop MVM with both wires at most 200x a numpy matvec (one input
vector) and converging at rp 1e-4 (CrossSim's solver is about 24,500x and diverges there). A
batch of 64 shares the setup (line factors, coarse-grid factorisation) but each vector still
needs its own cycles, while numpy's ``V @ G`` becomes a matrix product several times faster
per vector than a matvec, so the batch ratios are higher.

``--threads`` (default 1) sets the BLAS and numba thread counts before numpy is imported, so
both sides use the same number of cores; the machine's load average is printed because other
processes on the cores distort the timings. ``--only both`` or ``--only bitline`` runs half of
the cases; ``--batches 1`` skips the batches of 64.

Usage: ``python benchmarks/bench_irdrop.py [--repeats 7] [--threads 1] [--only both]
[--batches 1,64]``
"""

from __future__ import annotations

import argparse
import os
import time

BITLINE = tuple((1024, 1024, rp, 0.0) for rp in (1e-5, 1e-4, 1e-3))  # (rows, cols, rp_col, rp_row)
BOTH = tuple((n, n, rp, rp) for n in (256, 1024) for rp in (1e-5, 1e-4, 1e-3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=("both", "bitline"), default=None)
    ap.add_argument("--batches", default="1,64", help="comma-separated batch sizes")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    from accel_sim.devices import solve_crossbar_stats

    cases = {"both": BOTH, "bitline": BITLINE, None: BITLINE + BOTH}[args.only]
    batches = [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, repeats {args.repeats}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'array':>9} {'rp_col':>6} {'rp_row':>6} {'batch':>5} {'cycles':>6} "
          f"{'IR-drop/MVM':>12} {'numpy/MVM':>11} {'ratio':>7}")
    for rows, cols, rp_col, rp_row in cases:
        G = rng.uniform(0.0, 1.0, (rows, cols))
        for batch in batches:
            V = rng.uniform(0.0, 1.0, (batch, rows))
            # warm-up (compilation)
            _, stats = solve_crossbar_stats(G, V, rp_col, rp_row)
            t0 = time.perf_counter()
            _ = V @ G
            inner = max(1, int(2e-3 / max(time.perf_counter() - t0, 1e-7)))
            t_ir, t_np = [], []
            for _rep in range(args.repeats):
                t0 = time.perf_counter()
                solve_crossbar_stats(G, V, rp_col, rp_row)
                t_ir.append((time.perf_counter() - t0) / batch)
                _ = V @ G  # untimed: G back in cache after the solver's work space
                t1 = time.perf_counter()
                for _i in range(inner):
                    _ = V @ G
                t2 = time.perf_counter()
                t_np.append((t2 - t1) / (inner * batch))
            ir, mm = float(np.median(t_ir)), float(np.median(t_np))
            print(f"{rows:>4}x{cols:<4} {rp_col:>6.0e} {rp_row:>6.0e} {batch:>5} "
                  f"{int(stats['sweeps']):>6} {ir * 1e3:>9.3f} ms {mm * 1e3:>8.4f} ms "
                  f"{ir / mm:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
