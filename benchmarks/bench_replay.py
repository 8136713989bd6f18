"""Sum-tree prioritized replay: our buffer vs ``cpprb`` (C++/Cython) in the same run.

Both buffers hold ``N`` transitions (obs 4 floats, action, reward), alpha 0.6, beta 0.4. Timed:
one ``sample(32)`` (indices and importance weights) and one ``update_priorities`` of 32 random
priorities, median over many calls, for N = 1e3, 1e4, 1e5, 1e6. Needs ``pip install cpprb``.

Usage: ``python benchmarks/bench_replay.py``
"""

from __future__ import annotations

import numpy as np
from _timing import median_time

from accel_sim.replay import PrioritizedReplay

BATCH = 32


def _data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"obs": rng.random((n, 4)).astype(np.float32),
            "act": rng.integers(0, 2, n).astype(np.float32),
            "rew": rng.random(n).astype(np.float32)}


def main() -> None:
    from cpprb import PrioritizedReplayBuffer

    rng = np.random.default_rng(1)
    print(f"{'N':>9} | {'sample ours':>11} {'cpprb':>9} {'ratio':>6} | "
          f"{'update ours':>11} {'cpprb':>9} {'ratio':>6}   (us per call; ratio = cpprb / ours)")
    for n in (1_000, 10_000, 100_000, 1_000_000):
        data = _data(n)
        ours = PrioritizedReplay(n, seed=0, alpha=0.6, beta=0.4)
        ours.add(**data)
        ours.update_priorities(np.arange(n), rng.random(n) + 0.01)
        ref = PrioritizedReplayBuffer(n, {"obs": {"shape": 4}, "act": {}, "rew": {}},
                                      alpha=0.6)
        ref.add(**data)
        ref.update_priorities(np.arange(n), rng.random(n) + 0.01)
        idx = rng.integers(0, n, BATCH)
        pri = rng.random(BATCH) + 0.01

        t_s = median_time(lambda b=ours: b.sample(BATCH))
        r_s = median_time(lambda b=ref: b.sample(BATCH, beta=0.4))
        t_u = median_time(lambda b=ours, i=idx, q=pri: b.update_priorities(i, q))
        r_u = median_time(lambda b=ref, i=idx, q=pri: b.update_priorities(i, q))
        print(f"{n:>9,} | {t_s * 1e6:11.1f} {r_s * 1e6:9.1f} {r_s / t_s:6.2f} | "
              f"{t_u * 1e6:11.1f} {r_u * 1e6:9.1f} {r_u / t_u:6.2f}")


if __name__ == "__main__":
    main()
