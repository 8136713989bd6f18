"""Backpropagation of ``digits_mlp`` / ``digits_cnn`` in numpy (training maths only).

The training loop (optimiser, sparsity) lives in :mod:`accel_sim.sparse`; this module holds
the network-specific parts: initialisation, a forward pass that keeps what the backward pass
needs, and the backward pass. Layouts are those of :mod:`accel_sim.nets.digits`.

The backward pass takes the weights of the forward pass (``p``) and, separately, the weights
of the backward-data GEMMs (``p_bwd``): sparse training schemes such as BDWP use different
sparse versions of ``W`` in the two (``dX = dY @ W_bwd.T``). Weight gradients are with respect
to the weights the forward pass used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .digits import CHANNELS, HIDDEN, im2col, maxpool2, weight_shapes

__all__ = ["CHANNELS", "HIDDEN", "backward", "forward_cached", "init_params", "softmax_xent",
           "weight_shapes"]

Params = dict[str, np.ndarray]


def init_params(name: str, rng: np.random.Generator) -> Params:
    """He-normal weights (GEMM layout ``(k, n)``), zero biases, float32."""
    p: Params = {}
    for layer, (k, n) in weight_shapes(name).items():
        p[f"{layer}.W"] = (rng.standard_normal((k, n)) * math.sqrt(2.0 / k)).astype(np.float32)
        p[f"{layer}.b"] = np.zeros(n, dtype=np.float32)
    return p


def forward_cached(name: str, p: Mapping[str, np.ndarray], X: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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


def backward(name: str, p: Mapping[str, np.ndarray], cache: Mapping[str, np.ndarray],
             dlogits: np.ndarray, p_bwd: Mapping[str, np.ndarray] | None = None) -> Params:
    """Gradients of the loss w.r.t. every parameter given ``dloss/dlogits``.

    ``p_bwd`` (default ``p``) supplies the weights of the backward-data GEMMs.
    """
    q = p if p_bwd is None else p_bwd
    g: Params = {}
    if name == "digits_mlp":
        g["fc2.W"] = cache["h1"].T @ dlogits
        g["fc2.b"] = dlogits.sum(0)
        dz1 = (dlogits @ q["fc2.W"].T) * (cache["z1"] > 0)
        g["fc1.W"] = cache["X"].T @ dz1
        g["fc1.b"] = dz1.sum(0)
        return g
    c1, c2 = p["conv1.W"].shape[1], p["conv2.W"].shape[1]
    B = dlogits.shape[0]
    g["fc.W"] = cache["f"].T @ dlogits
    g["fc.b"] = dlogits.sum(0)
    dz2 = ((dlogits @ q["fc.W"].T).reshape(B, 4, 4, c2) * (cache["z2"] > 0)).reshape(-1, c2)
    g["conv2.W"] = cache["A2"].T @ dz2
    g["conv2.b"] = dz2.sum(0)
    dq1 = col2im(dz2 @ q["conv2.W"].T, (B, 4, 4, c1))
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
