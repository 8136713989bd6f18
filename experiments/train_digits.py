"""Train ``digits_mlp`` and ``digits_cnn`` on the 8x8 digits in plain numpy (shipped weights).

Backprop written out by hand, softmax cross-entropy, Adam with a cosine learning-rate decay,
mini-batches of 32 drawn from a ``np.random.default_rng(seed)`` permutation per epoch: the
result is deterministic for a given seed (and numpy/BLAS build). Training uses the training
split of ``accel_sim.nets.digits.split()`` (seed 0, 1347 samples); the 450 test samples are only
evaluated once at the end. Layouts (GEMM weights, im2col ordering, NHWC) are those of
``accel_sim.nets.digits``. Writes ``OUTDIR/digits_mlp.npz``, ``OUTDIR/digits_cnn.npz`` (float32)
and ``OUTDIR/digits_weights.json`` (accuracies and training settings).

Usage: ``python experiments/train_digits.py [--seed 0] [--epochs N] [-o accel_sim/nets/data]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from accel_sim.nets.digits import LAYERS, accuracy, split
from accel_sim.nets.digits_train import forward_cached, init_params  # noqa: F401 (re-exported)
from accel_sim.sparse import sparse_train

Params = dict[str, np.ndarray]

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "accel_sim" / "nets" / "data"
DEFAULTS: dict[str, dict[str, float]] = {
    "digits_mlp": {"epochs": 100, "lr": 2e-3},
    "digits_cnn": {"epochs": 30, "lr": 2e-3},
}
BATCH_SIZE = 32


def train(name: str, seed: int = 0, epochs: int | None = None, lr: float | None = None,
          batch_size: int = BATCH_SIZE, max_batches: int | None = None,
          data: tuple[np.ndarray, np.ndarray] | None = None) -> Params:
    """Train network ``name`` densely from a seeded initialisation; float32 parameters.

    The loop is :func:`accel_sim.sparse.sparse_train` with the dense scheme (Adam, cosine
    learning-rate decay to 0, mini-batches from a seeded permutation per epoch).
    """
    if name not in LAYERS:
        raise ValueError(f"unknown network {name!r}")
    return sparse_train(name, seed=seed, epochs=epochs, lr=lr, batch_size=batch_size,
                        max_batches=max_batches, data=data).params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="initialisation/shuffling seed")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs for both networks (default: per network)")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)

    Xtr, ytr, Xte, yte = split()
    meta: dict[str, dict] = {}
    for name in LAYERS:
        t0 = time.perf_counter()
        p = train(name, seed=args.seed, epochs=args.epochs, data=(Xtr, ytr))
        secs = time.perf_counter() - t0
        np.savez_compressed(out / f"{name}.npz", **cast(dict[str, Any], p))
        meta[name] = {
            "test_accuracy": round(accuracy(name, p, Xte, yte), 6),
            "train_accuracy": round(accuracy(name, p, Xtr, ytr), 6),
            "n_test": len(yte),
            "n_train": len(ytr),
            "split": "accel_sim.nets.digits.split(seed=0, test_fraction=0.25)",
            "epochs": int(DEFAULTS[name]["epochs"] if args.epochs is None else args.epochs),
            "seed": args.seed,
            "lr": DEFAULTS[name]["lr"],
            "lr_schedule": "cosine to 0",
            "optimizer": "Adam(0.9, 0.999, 1e-8)",
            "batch_size": BATCH_SIZE,
            "parameters": int(sum(a.size for a in p.values())),
            "shapes": {k: "x".join(map(str, a.shape)) for k, a in p.items()},
            "train_seconds": round(secs, 1),
            "numpy": np.__version__,
            "date": datetime.date.today().isoformat(),
        }
        print(f"{name}: test acc {meta[name]['test_accuracy']:.4f}, "
              f"train acc {meta[name]['train_accuracy']:.4f}, "
              f"{meta[name]['parameters']} params, {secs:.1f} s")
    (out / "digits_weights.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
