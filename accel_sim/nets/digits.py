"""scikit-learn's 8x8 digits and numpy forward passes of ``digits_mlp`` / ``digits_cnn``.

Runtime code (numpy only) for accuracy studies: a hardware model replaces every weight
multiplication through the ``matmul`` hook of :func:`forward`; biases, ReLU and max-pooling
stay digital (exact float32).

Conventions (shared with ``experiments/train_digits.py``, which trains the shipped weights):

* Inputs ``X`` are ``(batch, 64)`` float32 in [0, 1] (pixel value / 16), pixel ``r * 8 + c``
  of the row-major 8x8 image; activations of the CNN are NHWC ``(batch, h, w, channels)``.
* Weights are in GEMM layout ``W`` ``(k, n)`` and biases ``b`` ``(n,)``; a layer computes
  ``A @ W + b`` with ``A`` ``(rows, k)``. Parameter keys are ``"<layer>.W"``/``"<layer>.b"``.
* Convolutions (3x3, stride 1, zero padding 1) use :func:`im2col`: row ``(b * H + y) * W + x``
  of ``A`` is output pixel ``(y, x)`` of image ``b``; column ``(dy * 3 + dx) * C_in + c`` is input
  pixel ``(y + dy - 1, x + dx - 1)`` channel ``c``. So ``W.reshape(3, 3, C_in, C_out)`` is the
  kernel in HWIO layout, ``W[(dy * 3 + dx) * C_in + c, o]``.
* The CNN's ``fc`` layer flattens ``(4, 4, 32)`` in (h, w, c) order: input ``(y * 4 + x) * 32 + c``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "CHANNELS",
    "HIDDEN",
    "LAYERS",
    "NETWORKS",
    "MatmulHook",
    "accuracy",
    "forward",
    "im2col",
    "load_digits",
    "load_weights",
    "maxpool2",
    "split",
    "weight_shapes",
    "weights_info",
]

MatmulHook = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
"""``matmul(layer_name, A, W) -> A @ W`` with ``A`` ``(rows, k)`` and ``W`` ``(k, n)``."""

NETWORKS = ("digits_mlp", "digits_cnn")
"""Names of the networks with shipped weights (also the names of their workloads)."""

LAYERS: dict[str, tuple[str, ...]] = {
    "digits_mlp": ("fc1", "fc2"),
    "digits_cnn": ("conv1", "conv2", "fc"),
}
"""The weight layers of each network, in execution order."""

HIDDEN = 64  # digits_mlp hidden width (workload default)
CHANNELS = 16  # digits_cnn first conv channels (workload default; conv2 has twice as many)


def weight_shapes(name: str) -> dict[str, tuple[int, int]]:
    """GEMM shapes ``(k, n)`` of the weight layers of ``name``, in execution order."""
    if name == "digits_mlp":
        return {"fc1": (64, HIDDEN), "fc2": (HIDDEN, 10)}
    if name == "digits_cnn":
        return {"conv1": (9, CHANNELS), "conv2": (9 * CHANNELS, 2 * CHANNELS),
                "fc": (16 * 2 * CHANNELS, 10)}
    raise ValueError(f"unknown digits network {name!r}; expected one of {NETWORKS}")


_DATA = "data"


def _data_file(filename: str) -> Traversable:
    return resources.files("accel_sim.nets").joinpath(_DATA).joinpath(filename)


def _load_npz(filename: str) -> dict[str, np.ndarray]:
    with resources.as_file(_data_file(filename)) as path, np.load(path) as z:
        return {k: z[k] for k in z.files}


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits: ``X`` ``(1797, 64)`` float32 in [0, 1], labels ``y`` ``(1797,)`` int64."""
    z = _load_npz("digits.npz")
    X = z["X"].astype(np.float32) / np.float32(16.0)
    return X, z["y"].astype(np.int64)


def split(seed: int = 0, test_fraction: float = 0.25
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed random train/test split ``(Xtr, ytr, Xte, yte)`` (not stratified).

    A permutation from ``np.random.default_rng(seed)``; its first ``ceil(test_fraction * n)``
    samples are the test set (450 of 1797 for the defaults), the rest the training set.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    X, y = load_digits()
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = math.ceil(test_fraction * len(y))
    te, tr = perm[:n_test], perm[n_test:]
    return X[tr], y[tr], X[te], y[te]


def load_weights(name: str) -> dict[str, np.ndarray]:
    """The shipped float32 weights of ``name`` (``"<layer>.W"`` ``(k, n)``, ``"<layer>.b"``)."""
    _check_name(name)
    return _load_npz(f"{name}.npz")


def weights_info() -> dict[str, Any]:
    """Training metadata of the shipped weights (``digits_weights.json``), keyed by network."""
    return json.loads(_data_file("digits_weights.json").read_text(encoding="utf-8"))


def im2col(x: np.ndarray, r: int = 3, pad: int = 1) -> np.ndarray:
    """Patches of an NHWC tensor for an ``r x r`` stride-1 convolution with zero padding ``pad``.

    Returns ``(batch * oh * ow, r * r * C)``; rows are output pixels ``(b, y, x)`` row-major,
    columns ``(dy, dx, c)`` row-major (see the module docstring).
    """
    b, h, w, c = x.shape
    oh, ow = h + 2 * pad - r + 1, w + 2 * pad - r + 1
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = np.empty((b, oh, ow, r, r, c), dtype=x.dtype)
    for dy in range(r):
        for dx in range(r):
            cols[:, :, :, dy, dx, :] = xp[:, dy:dy + oh, dx:dx + ow, :]
    return cols.reshape(b * oh * ow, r * r * c)


def maxpool2(x: np.ndarray) -> np.ndarray:
    """2x2 max-pooling with stride 2 of an NHWC tensor with even height and width."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _numpy_matmul(layer: str, A: np.ndarray, W: np.ndarray) -> np.ndarray:
    return A @ W


def _check_name(name: str) -> None:
    if name not in LAYERS:
        raise ValueError(f"unknown digits network {name!r}; expected one of {NETWORKS}")


def forward(name: str, params: Mapping[str, np.ndarray], X: np.ndarray,
            matmul: MatmulHook | None = None) -> np.ndarray:
    """Logits ``(batch, 10)`` of network ``name`` for inputs ``X`` ``(batch, 64)`` in [0, 1].

    Every weight multiplication goes through ``matmul(layer, A, W)`` (default ``A @ W``); the
    bias is added to its result. Convolutions are lowered with :func:`im2col`, so the hook sees
    ``A`` ``(batch * 64, 9)`` / ``(batch * 16, 144)`` for ``conv1`` / ``conv2``.
    """
    _check_name(name)
    mm = _numpy_matmul if matmul is None else matmul
    X = np.asarray(X, dtype=np.float32).reshape(-1, 64)
    batch = X.shape[0]

    def dense(layer: str, A: np.ndarray) -> np.ndarray:
        out = np.asarray(mm(layer, A, params[f"{layer}.W"]), dtype=np.float32)
        return out + params[f"{layer}.b"]

    if name == "digits_mlp":
        h = np.maximum(dense("fc1", X), 0.0)
        return dense("fc2", h)

    x = X.reshape(batch, 8, 8, 1)
    c1 = params["conv1.W"].shape[1]
    h = np.maximum(dense("conv1", im2col(x)), 0.0).reshape(batch, 8, 8, c1)
    h = maxpool2(h)
    c2 = params["conv2.W"].shape[1]
    h = np.maximum(dense("conv2", im2col(h)), 0.0).reshape(batch, 4, 4, c2)
    return dense("fc", h.reshape(batch, 16 * c2))


def accuracy(name: str, params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray,
             matmul: MatmulHook | None = None) -> float:
    """Fraction of samples whose arg-max logit (:func:`forward`) equals the label."""
    logits = forward(name, params, X, matmul)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))
