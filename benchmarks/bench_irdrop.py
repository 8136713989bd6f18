"""Speed of the IR-drop crossbar solver against a plain numpy MVM, measured in one run.

Cases (random G uniform in [0, 1], inputs uniform in [0, 1], float64):

* 1024x1024, bit-line parasitics only (``rp_row = 0``, exact direct solve), ``rp_col`` (rp_norm)
  1e-5, 1e-4, 1e-3; batches of 1 and 64 input vectors.
* 256x256, ``rp_row = rp_col = 1e-4`` (iterative line relaxation); batches of 1 and 64; at the
  default ``tol = 1e-9`` and, for comparison, at ``tol = 1e-6`` (still far below an ADC's
  resolution).

Each case is timed against ``V @ G`` on the same data: one warm-up call each (numba compiles or
loads its cache there), then ``--repeats`` rounds of one solver call and a loop of numpy calls
(enough for about 2 ms, averaged, so numpy runs with warm caches), alternating so that both see
the same load; reported: medians per MVM (time of a call / batch size) and their ratio.
Target of the issue: the 1024x1024 IR-drop MVM at most 200x a numpy matvec (CrossSim's solver
is about 24,500x).

``--threads`` (default 1) sets the BLAS and numba thread counts before numpy is imported, so
both sides use the same number of cores; the machine's load average is printed because other
processes on the cores distort the timings.

Usage: ``python benchmarks/bench_irdrop.py [--repeats 9] [--threads 1]``
"""

from __future__ import annotations

import argparse
import os
import time

CASES = (  # (rows, cols, rp_col, rp_row, tol)
    (1024, 1024, 1e-5, 0.0, 1e-9),
    (1024, 1024, 1e-4, 0.0, 1e-9),
    (1024, 1024, 1e-3, 0.0, 1e-9),
    (256, 256, 1e-4, 1e-4, 1e-9),
    (256, 256, 1e-4, 1e-4, 1e-6),
)
BATCHES = (1, 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    from accel_sim.devices import solve_crossbar_stats

    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, repeats {args.repeats}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'array':>9} {'rp_col':>6} {'rp_row':>6} {'tol':>5} {'batch':>5} {'sweeps':>6} "
          f"{'IR-drop/MVM':>12} {'numpy/MVM':>11} {'ratio':>7}")
    for rows, cols, rp_col, rp_row, tol in CASES:
        G = rng.uniform(0.0, 1.0, (rows, cols))
        for batch in BATCHES:
            V = rng.uniform(0.0, 1.0, (batch, rows))
            # warm-up (compilation)
            _, stats = solve_crossbar_stats(G, V, rp_col, rp_row, tol=tol, max_iter=1000)
            t0 = time.perf_counter()
            _ = V @ G
            inner = max(1, int(2e-3 / max(time.perf_counter() - t0, 1e-7)))
            t_ir, t_np = [], []
            for _rep in range(args.repeats):
                t0 = time.perf_counter()
                solve_crossbar_stats(G, V, rp_col, rp_row, tol=tol, max_iter=1000)
                t1 = time.perf_counter()
                for _i in range(inner):
                    _ = V @ G
                t2 = time.perf_counter()
                t_ir.append((t1 - t0) / batch)
                t_np.append((t2 - t1) / (inner * batch))
            ir, mm = float(np.median(t_ir)), float(np.median(t_np))
            print(f"{rows:>4}x{cols:<4} {rp_col:>6.0e} {rp_row:>6.0e} {tol:>5.0e} {batch:>5} "
                  f"{int(stats['sweeps']):>6} {ir * 1e3:>9.3f} ms {mm * 1e3:>8.4f} ms "
                  f"{ir / mm:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
