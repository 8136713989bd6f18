"""8x8 digits data, shipped weights, numpy forward passes with a matmul hook, training."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from workloads import load_workload
from workloads._digits import (
    LAYERS,
    NETWORKS,
    accuracy,
    forward,
    im2col,
    load_digits,
    load_weights,
    split,
    weights_info,
)

ROOT = Path(__file__).resolve().parents[1]
MIN_ACCURACY = {"digits_mlp": 0.95, "digits_cnn": 0.97}


@pytest.fixture(scope="module")
def train_mod() -> ModuleType:
    """``experiments/train_digits.py`` imported as a module."""
    path = ROOT / "experiments" / "train_digits.py"
    spec = importlib.util.spec_from_file_location("_train_digits", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _rows(X: np.ndarray, y: np.ndarray) -> list[bytes]:
    return sorted(map(bytes, np.column_stack([X * 16, y]).astype(np.uint8)))


def _weight_layers(name: str):
    return [lay for lay in load_workload(name).layers if lay.op.has_weights]


def test_data_shapes_and_range():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.unique(X * 16), np.arange(17))
    assert np.array_equal(np.unique(y), np.arange(10))
    assert np.bincount(y).min() >= 170  # roughly balanced classes


def test_split_deterministic_disjoint_complete():
    X, y = load_digits()
    a, b = split(), split()
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(u, v)
    Xtr, ytr, Xte, yte = a
    assert len(yte) == 450 and len(ytr) == 1797 - 450
    assert Xtr.shape == (1347, 64) and Xte.shape == (450, 64)
    # Some digits are duplicated, so compare multisets of (pixels, label) rows: train + test
    # must be exactly the full data set.
    assert _rows(np.vstack([Xtr, Xte]), np.concatenate([ytr, yte])) == _rows(X, y)
    other = split(seed=1)
    assert not np.array_equal(other[3], yte)
    with pytest.raises(ValueError):
        split(test_fraction=0.0)


def test_split_indices_disjoint():
    # The same permutation the split uses: disjoint and covering all indices.
    perm = np.random.default_rng(0).permutation(1797)
    te, tr = perm[:450], perm[450:]
    assert not set(te) & set(tr) and len(set(te) | set(tr)) == 1797
    X, y = load_digits()
    Xtr, ytr, Xte, yte = split()
    assert np.array_equal(Xte, X[te]) and np.array_equal(yte, y[te])
    assert np.array_equal(Xtr, X[tr]) and np.array_equal(ytr, y[tr])


@pytest.mark.parametrize("name", NETWORKS)
def test_weights_match_workload_shapes(name):
    params = load_weights(name)
    layers = _weight_layers(name)
    assert tuple(lay.name for lay in layers) == LAYERS[name]
    assert set(params) == {f"{lay.name}.{s}" for lay in layers for s in "Wb"}
    for lay in layers:
        W, b = params[f"{lay.name}.W"], params[f"{lay.name}.b"]
        assert W.shape == (lay.k, lay.n), lay.name
        assert b.shape == (lay.n,)
        assert W.dtype == np.float32 and b.dtype == np.float32
        assert np.all(np.isfinite(W))


@pytest.mark.parametrize("name", NETWORKS)
def test_shipped_float_accuracy(name):
    _, _, Xte, yte = split()
    acc = accuracy(name, load_weights(name), Xte, yte)
    assert acc >= MIN_ACCURACY[name]
    assert acc == pytest.approx(weights_info()[name]["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("name", NETWORKS)
def test_matmul_hook_sees_every_weight_layer(name):
    params = load_weights(name)
    X = split()[2][:7]
    calls: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []

    def hook(layer: str, A: np.ndarray, W: np.ndarray) -> np.ndarray:
        calls.append((layer, A.shape, W.shape))
        assert W is params[f"{layer}.W"]
        return A @ W

    out = forward(name, params, X, matmul=hook)
    assert out.shape == (7, 10)
    expected = [(lay.name, (7 * lay.m, lay.k), (lay.k, lay.n)) for lay in _weight_layers(name)]
    assert calls == expected
    assert np.array_equal(out, forward(name, params, X))

    # The hook's result is used: zeroing the last layer's product leaves only its bias.
    last = LAYERS[name][-1]

    def zero_last(layer: str, A: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.zeros((A.shape[0], W.shape[1])) if layer == last else A @ W

    zeroed = forward(name, params, X, matmul=zero_last)
    assert np.allclose(zeroed, np.broadcast_to(params[f"{last}.b"], (7, 10)))


def test_im2col_matches_direct_convolution():
    rng = np.random.default_rng(3)
    b, h, w, cin, cout = 2, 5, 4, 3, 2
    x = rng.standard_normal((b, h, w, cin))
    kernel = rng.standard_normal((3, 3, cin, cout))  # HWIO
    got = (im2col(x) @ kernel.reshape(9 * cin, cout)).reshape(b, h, w, cout)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = np.zeros((b, h, w, cout))
    for yy in range(h):
        for xx in range(w):
            ref[:, yy, xx] = np.einsum("bijc,ijco->bo", xp[:, yy:yy + 3, xx:xx + 3], kernel)
    assert np.allclose(got, ref)


def test_unknown_network():
    with pytest.raises(ValueError):
        load_weights("digits_rnn")
    with pytest.raises(ValueError):
        forward("digits_rnn", {}, np.zeros((1, 64)))


@pytest.mark.parametrize("name", NETWORKS)
def test_training_forward_matches_runtime_forward(train_mod, name):
    params = load_weights(name)
    X = split()[2][:16]
    logits, _ = train_mod.forward_cached(name, params, X)
    assert np.allclose(logits, forward(name, params, X), atol=1e-5)


@pytest.mark.parametrize("name", NETWORKS)
def test_training_reproducible(train_mod, name):
    def run(seed: int) -> dict[str, np.ndarray]:
        return train_mod.train(name, seed=seed, epochs=2, max_batches=3)

    a, b, c = run(0), run(0), run(1)
    assert set(a) == set(load_weights(name))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert all(a[k].dtype == np.float32 for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    init = train_mod.init_params(name, np.random.default_rng(0))
    assert not np.array_equal(a[f"{LAYERS[name][0]}.W"], init[f"{LAYERS[name][0]}.W"])
