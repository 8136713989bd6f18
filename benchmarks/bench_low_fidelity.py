"""How well a lower-fidelity accuracy ranks the training schemes: checkpoints vs shorter runs.

``explore --multi-fidelity`` decides promotions on the accuracy after a fraction of the
training (sat, learning_group). Two ways to measure it:

* ``checkpoint`` (what the devices do): the accuracy after E epochs of the full training, with
  the full training's cosine learning-rate schedule; a promotion trains on from there, so a
  design promoted to full fidelity costs one full training.
* ``short run`` (the devices before): a complete training of E epochs (its schedule decays to
  zero at E); a promotion trains again from the start.

For every digits-MLP scheme of the sat search space (dense, and BDWP and transposable N:M at
11 (N, M) pairs each) it trains both at the rungs of the default successive halving (E = 4,
11 and 33 of 100 epochs) and the full training, and prints the Spearman rank correlation of
each rung's accuracies with the full accuracies (1: the rung ranks the schemes exactly as
full training does). No time is measured; a run takes about 5 minutes on one core.

Usage: ``python benchmarks/bench_low_fidelity.py``
"""

from __future__ import annotations

import numpy as np

from accel_sim.sparse import NM, Dense, Scheme, TrainingRun, sparse_train

PAIRS = ((1, 2), (1, 4), (2, 4), (3, 4), (1, 8), (2, 8), (4, 8), (6, 8), (2, 16), (4, 16),
         (8, 16))
RUNGS = (4, 11, 33)


def _ranks(x: list[float]) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank."""
    a = np.asarray(x, dtype=float)
    order = np.argsort(a, kind="stable")
    r = np.empty(len(a))
    r[order] = np.arange(1, len(a) + 1)
    for v in np.unique(a):
        r[a == v] = r[a == v].mean()
    return r


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (Pearson's on the tie-averaged ranks)."""
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def main() -> None:
    schemes: list[Scheme] = [Dense()] + [NM(n, m, scheme=s) for s in ("bdwp", "transposable")
                                         for n, m in PAIRS]
    full: list[float] = []
    ckpt: dict[int, list[float]] = {e: [] for e in RUNGS}
    short: dict[int, list[float]] = {e: [] for e in RUNGS}
    print("| scheme | full accuracy | checkpoint @4, @11, @33 epochs | short run of 4, 11, 33 "
          "epochs |")
    print("|---|---|---|---|")
    for scheme in schemes:
        run = TrainingRun("digits_mlp", scheme)
        for e in RUNGS:
            ckpt[e].append(run.advance(e).result().test_accuracy)
            short[e].append(sparse_train("digits_mlp", scheme, epochs=e).test_accuracy)
        full.append(run.advance().result().test_accuracy)
        print(f"| {scheme.label} | {full[-1]:.4f} | "
              + ", ".join(f"{ckpt[e][-1]:.4f}" for e in RUNGS) + " | "
              + ", ".join(f"{short[e][-1]:.4f}" for e in RUNGS) + " |", flush=True)
    print("\n| rung (epochs of 100) | Spearman rho, checkpoint | Spearman rho, short run |")
    print("|---|---|---|")
    for e in RUNGS:
        rc = spearman(ckpt[e], full)
        rs = spearman(short[e], full)
        print(f"| {e} | {rc:.3f} | {rs:.3f} |")
    print(f"\n{len(schemes)} schemes; accuracies are fractions of the 450 test digits; "
          f"mean full accuracy {np.mean(full):.4f}")


if __name__ == "__main__":
    main()
