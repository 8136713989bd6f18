"""Sum-tree prioritized replay: our buffer vs ``cpprb`` (C++/Cython) in the same run.

Both buffers hold ``N`` transitions (obs 4 floats, action, reward), alpha 0.6, beta 0.4. Timed:
one ``sample(32)`` (indices and importance weights) and one ``update_priorities`` of 32 random
priorities, median over many calls, for N = 1e3, 1e4, 1e5, 1e6. Needs ``pip install cpprb``.

Second table: the replay operations of one DQN training step on a full buffer of 1e6
transitions (add 1, sample 64, update the 64 priorities with fresh |N(0, 1)| TD errors) for
PER, AMPER-k (k 32) and AMPER-fr (radius 2), 8-bit codes, and the wall time of a DQN run
(CartPole-v1, 4000 steps, batch 64) on each of those prefilled buffers, with the uniform
buffer as the reference (ratio = time / PER's time; <= 1: AMPER is not slower).

Usage: ``python benchmarks/bench_replay.py [--no-cpprb]``
"""

from __future__ import annotations

from functools import partial

import numpy as np
from _timing import median_time

from accel_sim.replay import (
    AmperFrReplay,
    AmperKReplay,
    DQNConfig,
    PrioritizedReplay,
    UniformReplay,
    train_dqn,
)

BATCH = 32


def _data(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"obs": rng.random((n, 4)).astype(np.float32),
            "act": rng.integers(0, 2, n).astype(np.float32),
            "rew": rng.random(n).astype(np.float32)}


def main() -> None:
    import sys

    if "--no-cpprb" not in sys.argv:
        vs_cpprb()
    dqn_step()


def vs_cpprb() -> None:
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

        t_s = median_time(partial(ours.sample, BATCH))
        r_s = median_time(partial(ref.sample, BATCH, beta=0.4))
        t_u = median_time(partial(ours.update_priorities, idx, pri))
        r_u = median_time(partial(ref.update_priorities, idx, pri))
        print(f"{n:>9,} | {t_s * 1e6:11.1f} {r_s * 1e6:9.1f} {r_s / t_s:6.2f} | "
              f"{t_u * 1e6:11.1f} {r_u * 1e6:9.1f} {r_u / t_u:6.2f}")



def dqn_step(n: int = 1_000_000) -> None:
    import time

    rng = np.random.default_rng(0)
    data: dict[str, np.ndarray] = {"obs": rng.standard_normal((n, 4)).astype(np.float32),
            "action": rng.integers(0, 2, n), "reward": np.ones(n, np.float32),
            "next_obs": rng.standard_normal((n, 4)).astype(np.float32),
            "done": np.zeros(n, np.float32)}
    td = np.abs(rng.standard_normal(n))
    makers = {"uniform": lambda: UniformReplay(n, seed=0),
              "per": lambda: PrioritizedReplay(n, seed=0),
              "amper-k": lambda: AmperKReplay(n, seed=0, k=32),
              "amper-fr": lambda: AmperFrReplay(n, seed=0, radius=2)}
    one = {k: v[:1] for k, v in data.items()}
    step_us, run_s = {}, {}
    for name, make in makers.items():
        buf = make()
        buf.add(**data)
        buf.update_priorities(np.arange(n), td)
        r = np.random.default_rng(1)

        def step(buf=buf, r=r) -> None:
            buf.add(**one)
            idx, _ = buf.sample(64)
            buf.update_priorities(idx, np.abs(r.standard_normal(64)))

        step_us[name] = median_time(step) * 1e6
        times = []
        for _ in range(3):
            buf = make()
            buf.add(**data)
            buf.update_priorities(np.arange(n), td)
            t0 = time.perf_counter()
            train_dqn("cartpole", buf, seed=0, config=DQNConfig(steps=4000, warmup=1000))
            times.append(time.perf_counter() - t0)
        run_s[name] = sorted(times)[1]
    print(f"\nfull buffer of {n:,}: replay step (add 1, sample 64, update 64) and DQN run "
          "(CartPole, 4000 steps)")
    print(f"{'buffer':>9} | {'step us':>8} {'/ PER':>6} | {'DQN run s':>9} {'/ PER':>6}")
    for name in makers:
        print(f"{name:>9} | {step_us[name]:8.1f} {step_us[name] / step_us['per']:6.2f} | "
              f"{run_s[name]:9.2f} {run_s[name] / run_s['per']:6.2f}")


if __name__ == "__main__":
    main()
