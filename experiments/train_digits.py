"""Train ``digits_mlp`` and ``digits_cnn`` on the 8x8 digits in plain numpy (shipped weights).

Backprop written out by hand, softmax cross-entropy, Adam with a cosine learning-rate decay,
mini-batches of 32 drawn from a ``np.random.default_rng(seed)`` permutation per epoch: the
result is deterministic for a given seed (and numpy/BLAS build). Training uses the training
split of ``workloads._digits.split()`` (seed 0, 1347 samples); the 450 test samples are only
evaluated once at the end. Layouts (GEMM weights, im2col ordering, NHWC) are those of
``workloads._digits``. Writes ``OUTDIR/digits_mlp.npz``, ``OUTDIR/digits_cnn.npz`` (float32)
and ``OUTDIR/digits_weights.json`` (accuracies and training settings).

Usage: ``python experiments/train_digits.py [--seed 0] [--epochs N] [-o workloads/data]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import numpy as np

from workloads._digits import LAYERS, accuracy, im2col, maxpool2, split

Params = dict[str, np.ndarray]

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "workloads" / "data"
DEFAULTS: dict[str, dict[str, float]] = {
    "digits_mlp": {"epochs": 100, "lr": 2e-3},
    "digits_cnn": {"epochs": 30, "lr": 2e-3},
}
BATCH_SIZE = 32
HIDDEN = 64  # digits_mlp hidden width (workload default)
CHANNELS = 16  # digits_cnn first conv channels (workload default; conv2 has twice as many)


def init_params(name: str, rng: np.random.Generator) -> Params:
    """He-normal weights (GEMM layout ``(k, n)``), zero biases, float32."""
    if name == "digits_mlp":
        shapes = {"fc1": (64, HIDDEN), "fc2": (HIDDEN, 10)}
    elif name == "digits_cnn":
        shapes = {"conv1": (9, CHANNELS), "conv2": (9 * CHANNELS, 2 * CHANNELS),
                  "fc": (16 * 2 * CHANNELS, 10)}
    else:
        raise ValueError(f"unknown network {name!r}")
    p: Params = {}
    for layer, (k, n) in shapes.items():
        p[f"{layer}.W"] = (rng.standard_normal((k, n)) * math.sqrt(2.0 / k)).astype(np.float32)
        p[f"{layer}.b"] = np.zeros(n, dtype=np.float32)
    return p


def forward_cached(name: str, p: Params, X: np.ndarray) -> tuple[np.ndarray, dict]:
    """Logits and the intermediates the backward pass needs (same maths as ``forward``)."""
    B = X.shape[0]
    if name == "digits_mlp":
        z1 = X @ p["fc1.W"] + p["fc1.b"]
        h1 = np.maximum(z1, 0.0)
        return h1 @ p["fc2.W"] + p["fc2.b"], {"X": X, "z1": z1, "h1": h1}
    c1, c2 = p["conv1.W"].shape[1], p["conv2.W"].shape[1]
    A1 = im2col(X.reshape(B, 8, 8, 1))
    z1 = (A1 @ p["conv1.W"] + p["conv1.b"]).reshape(B, 8, 8, c1)
    h1 = np.maximum(z1, 0.0)
    q1 = maxpool2(h1)
    A2 = im2col(q1)
    z2 = (A2 @ p["conv2.W"] + p["conv2.b"]).reshape(B, 4, 4, c2)
    f = np.maximum(z2, 0.0).reshape(B, 16 * c2)
    logits = f @ p["fc.W"] + p["fc.b"]
    return logits, {"A1": A1, "z1": z1, "h1": h1, "A2": A2, "z2": z2, "f": f}


def col2im(cols: np.ndarray, shape: tuple[int, int, int, int], r: int = 3,
           pad: int = 1) -> np.ndarray:
    """Adjoint of ``im2col``: sums patch gradients back onto an NHWC tensor of ``shape``."""
    b, h, w, c = shape
    oh, ow = h + 2 * pad - r + 1, w + 2 * pad - r + 1
    cols = cols.reshape(b, oh, ow, r, r, c)
    out = np.zeros((b, h + 2 * pad, w + 2 * pad, c), dtype=cols.dtype)
    for dy in range(r):
        for dx in range(r):
            out[:, dy:dy + oh, dx:dx + ow, :] += cols[:, :, :, dy, dx, :]
    return out[:, pad:pad + h, pad:pad + w, :]


def _maxpool2_backward(h: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """Routes the pooled gradient to the first maximum of each 2x2 window."""
    b, hh, ww, c = h.shape
    win = h.reshape(b, hh // 2, 2, ww // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    win = win.reshape(b, hh // 2, ww // 2, c, 4)
    onehot = np.arange(4) == np.argmax(win, axis=-1)[..., None]
    g = onehot * dq[..., None]
    g = g.reshape(b, hh // 2, ww // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return g.reshape(b, hh, ww, c).astype(h.dtype)


def backward(name: str, p: Params, cache: dict, dlogits: np.ndarray) -> Params:
    """Gradients of the loss w.r.t. every parameter given ``dloss/dlogits``."""
    g: Params = {}
    if name == "digits_mlp":
        g["fc2.W"] = cache["h1"].T @ dlogits
        g["fc2.b"] = dlogits.sum(0)
        dz1 = (dlogits @ p["fc2.W"].T) * (cache["z1"] > 0)
        g["fc1.W"] = cache["X"].T @ dz1
        g["fc1.b"] = dz1.sum(0)
        return g
    c1, c2 = p["conv1.W"].shape[1], p["conv2.W"].shape[1]
    B = dlogits.shape[0]
    g["fc.W"] = cache["f"].T @ dlogits
    g["fc.b"] = dlogits.sum(0)
    dz2 = ((dlogits @ p["fc.W"].T).reshape(B, 4, 4, c2) * (cache["z2"] > 0)).reshape(-1, c2)
    g["conv2.W"] = cache["A2"].T @ dz2
    g["conv2.b"] = dz2.sum(0)
    dq1 = col2im(dz2 @ p["conv2.W"].T, (B, 4, 4, c1))
    dz1 = (_maxpool2_backward(cache["h1"], dq1) * (cache["z1"] > 0)).reshape(-1, c1)
    g["conv1.W"] = cache["A1"].T @ dz1
    g["conv1.b"] = dz1.sum(0)
    return g


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.mean(np.log(prob[np.arange(n), y] + 1e-12)))
    d = prob
    d[np.arange(n), y] -= 1.0
    return loss, (d / n).astype(np.float32)


def train(name: str, seed: int = 0, epochs: int | None = None, lr: float | None = None,
          batch_size: int = BATCH_SIZE, max_batches: int | None = None,
          data: tuple[np.ndarray, np.ndarray] | None = None) -> Params:
    """Train network ``name`` from a seeded initialisation; returns float32 parameters.

    Args:
        name: ``"digits_mlp"`` or ``"digits_cnn"``.
        seed: Seed of the initialisation and of the mini-batch order.
        epochs, lr: Defaults from :data:`DEFAULTS`. The learning rate decays with a cosine
            from ``lr`` to 0 over all steps.
        batch_size: Mini-batch size.
        max_batches: Stop each epoch after this many batches (for quick tests).
        data: ``(X, y)`` to train on; the training split of ``split()`` by default.
    """
    if name not in LAYERS:
        raise ValueError(f"unknown network {name!r}")
    epochs = int(DEFAULTS[name]["epochs"] if epochs is None else epochs)
    lr = float(DEFAULTS[name]["lr"] if lr is None else lr)
    X, y = (split()[:2] if data is None else data)
    X = np.asarray(X, dtype=np.float32)
    rng = np.random.default_rng(seed)
    p = init_params(name, rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(val) for k, val in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    n_batches = math.ceil(len(y) / batch_size)
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)
    total, step = epochs * n_batches, 0
    for _ in range(epochs):
        perm = rng.permutation(len(y))
        for i in range(n_batches):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            logits, cache = forward_cached(name, p, X[idx])
            _, dlogits = softmax_xent(logits, y[idx])
            grads = backward(name, p, cache, dlogits)
            step += 1
            lr_t = 0.5 * lr * (1.0 + math.cos(math.pi * (step - 1) / total))
            corr = math.sqrt(1.0 - b2**step) / (1.0 - b1**step)
            for k in p:
                m[k] = b1 * m[k] + (1.0 - b1) * grads[k]
                v[k] = b2 * v[k] + (1.0 - b2) * grads[k] * grads[k]
                p[k] = (p[k] - lr_t * corr * m[k] / (np.sqrt(v[k]) + eps)).astype(np.float32)
    return p


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
        np.savez_compressed(out / f"{name}.npz", **p)
        meta[name] = {
            "test_accuracy": round(accuracy(name, p, Xte, yte), 6),
            "train_accuracy": round(accuracy(name, p, Xtr, ytr), 6),
            "n_test": len(yte),
            "n_train": len(ytr),
            "split": "workloads._digits.split(seed=0, test_fraction=0.25)",
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
