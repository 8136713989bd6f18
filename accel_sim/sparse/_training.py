"""Sparse training of the digits networks in numpy: dense, N:M (BDWP, transposable) and FLGW.

A :class:`Scheme` says, every iteration, which weights the forward GEMM and the backward-data
GEMM use; the weight-gradient GEMM and the master weights stay dense (FP32 master weights, as
in SAT and in SR-STE-style training: pruned weights keep receiving gradients and can return).

* :class:`Dense` -- no sparsity.
* :class:`NM` with ``scheme="bdwp"`` -- bidirectional weight pruning (Fang et al., TCAD 2023):
  the forward GEMM ``Y = X @ W_f`` uses ``W`` pruned N:M along its reduction dimension ``k``;
  the backward-data GEMM ``dX = dY @ W_b.T`` reduces over ``n``, so it uses ``W`` pruned N:M
  along ``n`` (a second mask, built from the same dense weights). Both GEMMs are N:M on the
  hardware; the weight-gradient GEMM is dense.
* :class:`NM` with ``scheme="transposable"`` -- one transposable N:M mask (Hubara et al. 2021)
  serves both GEMMs (``W`` is N:M along ``k`` and along ``n``).
* :class:`NM` with ``scheme="forward"`` -- N:M in the forward GEMM only; backward-data uses the
  same (not N:M along ``n``) weights: the usual SR-STE-style baseline.
* :class:`FLGW` -- fully learnable weight grouping (LearningGroup, Yang et al., FPT 2022): a
  layer's ``W (k x n)`` has trainable ``IG (k x G)`` and ``OG (G x n)``; ``mask[i, j]`` is 1
  iff ``argmax IG[i, :] == argmax OG[:, j]``, rebuilt every iteration; the backward-data GEMM
  uses the same mask transposed (``dX = dY @ (W * mask).T``). Only kept weights are trained
  (the hardware computes weight gradients at the mask's nonzeros). ``IG``/``OG`` learn through
  the straight-through relaxation ``mask ~ softmax(IG) @ softmax(OG)`` (softmax over groups)
  with the gradient taken through the kept entries only, as in fully learnable group
  convolution (Wang et al., CVPR 2019), plus a group-balance penalty (:attr:`FLGW.balance`)
  that keeps the density near ``1/G``.

Dimensions that are not a multiple of ``M`` are zero-padded to the next multiple (the padded
entries are never kept while a real entry of the group is available; a tail group of ``r < M``
real weights keeps ``min(N, r)`` of them). Layers listed in ``dense_layers`` stay dense: by
default the CNN's first convolution (9 weights per filter on a 1-channel image; most N:M
training work keeps the first layer dense). FLGW groups a layer only if both its dimensions are
at least ``G``; narrower layers (the 10-way classifier at G > 10) stay dense.

The loop is the one that trains the shipped weights (Adam, cosine learning-rate decay,
mini-batches of 32 from a seeded permutation): with :class:`Dense` it reproduces them.
"""

from __future__ import annotations

import abc
import functools
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._progress import track
from ..errors import ConfigError
from ._masks import (
    METHODS,
    TransposableSearch,
    _check_nm,
    nm_mask,
    padded_nm_mask_2d,
    transposable_mask,
)

__all__ = [
    "FLGW",
    "NM",
    "Dense",
    "Scheme",
    "TrainResult",
    "TrainingRun",
    "flgw_mask",
    "padded_nm_mask",
    "padded_transposable_mask",
    "sparse_train",
    "sparse_training_accuracy",
    "training_accuracy",
]

Params = dict[str, np.ndarray]

#: Epochs and learning rates of the shipped dense weights (experiments/train_digits.py).
DEFAULT_EPOCHS = {"digits_mlp": 100, "digits_cnn": 30}
DEFAULT_LR = {"digits_mlp": 2e-3, "digits_cnn": 2e-3}
BATCH_SIZE = 32
NM_SCHEMES = ("bdwp", "transposable", "forward")


# ---------------------------------------------------------------------------------------------
# masks with padding


def _pad_axis(a: np.ndarray, m: int, axis: int) -> np.ndarray:
    """``a`` zero-padded at the end of ``axis`` to a multiple of ``m`` (``a`` itself if it
    is one)."""
    extra = (-a.shape[axis]) % m
    if not extra:
        return a
    shape = list(a.shape)
    shape[axis] += extra
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, k) for k in a.shape)] = a
    return out


def padded_nm_mask(w: np.ndarray, n: int, m: int, axis: int = 0) -> np.ndarray:
    """:func:`nm_mask` along ``axis`` after zero-padding it to a multiple of ``m``; the mask
    is cropped back to ``w``'s shape (a tail group of ``r`` weights keeps ``min(n, r)``)."""
    arr = np.asarray(w)
    if arr.ndim == 2 and axis in (0, 1) and arr.dtype in (np.float32, np.float64):
        mag = np.abs(arr)  # exact, so the order and the ties are those of float64
        if np.isfinite(mag).all():
            n, m = _check_nm(n, m)
            return padded_nm_mask_2d(mag, n, m, axis)
    mag = np.abs(np.asarray(w, dtype=np.float64))  # the general path, with nm_mask's checks
    full = nm_mask(_pad_axis(mag, m, axis), n, m, axis=axis)
    return np.take(full, np.arange(mag.shape[axis]), axis=axis)


def padded_transposable_mask(w: np.ndarray, n: int, m: int, method: str = "optimal",
                             memo: dict[str, Any] | None = None, key: str = ""
                             ) -> np.ndarray:
    """:func:`transposable_mask` of ``w`` zero-padded to multiples of ``m`` in both
    dimensions, cropped back to ``w``'s shape. With ``memo`` (one dict per training), the
    optimal search of each step starts from the previous step's mask and shortest-path
    distances, kept in ``memo[key]`` (:class:`~accel_sim.sparse._masks.TransposableSearch`)."""
    mag = np.abs(np.asarray(w, dtype=np.float64))
    rows, cols = mag.shape
    padded = _pad_axis(_pad_axis(mag, m, 0), m, 1)
    if memo is None or method != "optimal" or not np.isfinite(mag).all():
        return transposable_mask(padded, n, m, method=method)[:rows, :cols]
    search = memo.get(key)
    if not isinstance(search, TransposableSearch) or (search.n, search.m) != (n, m):
        search = memo[key] = TransposableSearch(n, m)
    return search(padded)[:rows, :cols]


def flgw_mask(ig: np.ndarray, og: np.ndarray) -> np.ndarray:
    """FLGW mask of a ``(k, n)`` weight: ``mask[i, j] = argmax ig[i] == argmax og[:, j]``.

    ``ig`` is ``(k, G)``, ``og`` is ``(G, n)``. The density is ``sum_g r_g c_g / (k n)`` for
    ``r_g`` rows and ``c_g`` columns in group ``g``: ``1/G`` when groups are balanced.
    """
    ig = np.asarray(ig)
    og = np.asarray(og)
    if ig.ndim != 2 or og.ndim != 2 or ig.shape[1] != og.shape[0]:
        raise ConfigError(f"ig must be (k, G) and og (G, n) with the same G; got {ig.shape} "
                          f"and {og.shape}")
    g = ig.shape[1]
    k, n = ig.shape[0], og.shape[1]
    if not 1 <= g <= min(k, n):
        raise ConfigError(f"groups G={g} must be in [1, min(rows, columns)] = [1, {min(k, n)}] "
                          f"for a {k} x {n} weight")
    return np.argmax(ig, axis=1)[:, None] == np.argmax(og, axis=0)[None, :]


# ---------------------------------------------------------------------------------------------
# schemes


@dataclass(frozen=True)
class Scheme(abc.ABC):
    """How a training iteration sparsifies each weight (see the module docstring).

    Attributes:
        dense_layers: Layers kept dense (default: ``conv1``, the CNN's first convolution).
    """

    dense_layers: tuple[str, ...] = field(default=("conv1",), kw_only=True)

    def applies(self, layer: str, shape: tuple[int, int]) -> bool:
        """Whether ``layer`` with weight shape ``(k, n)`` is sparsified."""
        return layer not in self.dense_layers

    def init_state(self, shapes: dict[str, tuple[int, int]], rng: np.random.Generator
                   ) -> Params:
        """Extra trainable tensors (FLGW: IG/OG), keyed ``"<layer>.<name>"``."""
        return {}

    @abc.abstractmethod
    def masks(self, layer: str, w: np.ndarray, state: Params
              ) -> tuple[np.ndarray, np.ndarray]:
        """(forward mask, backward-data mask), bool ``(k, n)`` each."""

    def step_masks(self, layer: str, w: np.ndarray, state: Params, memo: dict[str, Any]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`masks` within a training run: ``memo`` (one dict per run) may keep what a
        scheme reuses from step to step to find the same masks faster."""
        return self.masks(layer, w, state)

    def state_grads(self, layer: str, w: np.ndarray, g_eff: np.ndarray, state: Params
                    ) -> Params:
        """Gradients of the extra tensors given ``dL/dW_eff`` of the forward weights."""
        return {}

    def weight_grad(self, g_eff: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Gradient applied to the master weights (default: dense, straight-through)."""
        return g_eff

    @property
    def label(self) -> str:
        """Short name for tables, e.g. ``2:8 bdwp``."""
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Dense(Scheme):
    """No sparsity."""

    dense_layers: tuple[str, ...] = field(default=(), kw_only=True)

    def applies(self, layer: str, shape: tuple[int, int]) -> bool:
        return False

    def masks(self, layer: str, w: np.ndarray, state: Params
              ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - never sparsified
        one = np.ones(w.shape, dtype=bool)
        return one, one


@dataclass(frozen=True)
class NM(Scheme):
    """N:M sparse training.

    Attributes:
        n, m: Keep ``n`` of every ``m`` weights (``1 <= n <= m``).
        scheme: ``bdwp`` (two masks: along ``k`` forward, along ``n`` backward),
            ``transposable`` (one mask for both) or ``forward`` (forward only).
        method: Transposable mask search: ``optimal`` or ``greedy``.
    """

    n: int = 2
    m: int = 4
    scheme: str = "bdwp"
    method: str = "optimal"

    def __post_init__(self) -> None:
        for name in ("n", "m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"NM.{name} must be an integer >= 1, got {v!r}")
        if self.n > self.m:
            raise ConfigError(f"NM.n must be in [1, m] = [1, {self.m}], got n={self.n}")
        if self.scheme not in NM_SCHEMES:
            raise ConfigError(f"NM.scheme must be one of {', '.join(NM_SCHEMES)}, "
                              f"got {self.scheme!r}")
        if self.method not in METHODS:
            raise ConfigError(f"NM.method must be one of {', '.join(METHODS)}, "
                              f"got {self.method!r}")

    def masks(self, layer: str, w: np.ndarray, state: Params
              ) -> tuple[np.ndarray, np.ndarray]:
        if self.scheme == "transposable":
            mk = padded_transposable_mask(w, self.n, self.m, self.method)
            return mk, mk
        fwd = padded_nm_mask(w, self.n, self.m, axis=0)
        if self.scheme == "forward":
            return fwd, fwd
        return fwd, padded_nm_mask(w, self.n, self.m, axis=1)

    def step_masks(self, layer: str, w: np.ndarray, state: Params, memo: dict[str, Any]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The optimal transposable mask starts from the previous step's (the same optimum,
        found by cancelling the few negative cycles the weight update made)."""
        if self.scheme != "transposable":
            return self.masks(layer, w, state)
        mk = padded_transposable_mask(w, self.n, self.m, self.method, memo, layer)
        return mk, mk

    @property
    def label(self) -> str:
        return f"{self.n}:{self.m} {self.scheme}"


@dataclass(frozen=True)
class FLGW(Scheme):
    """Fully learnable weight grouping with ``groups`` groups (density ``1/groups``).

    Attributes:
        groups: G >= 1.
        temperature: Softmax temperature of the straight-through relaxation.
        init_scale: IG/OG start as a balanced one-hot assignment (row ``i`` in group
            ``i mod G`` after a seeded permutation) times ``init_scale`` plus unit-variance
            noise times ``init_scale / 10``. Small values let the argmax move: with gradients
            through the kept entries only, 1.0 freezes the initial grouping on the digits MLP
            (0 % of mask entries change at G = 4), 0.01 lets 31 % change.
        balance: Weight of a group-balance penalty ``balance * G * sum_g (mean_i P[i, g] -
            1/G)^2`` on the soft assignments ``P`` (rows) and ``Q`` (columns); 0 disables it.
            Our choice, not from the paper (digits MLP, seed 0: density 0.232 / 0.121 at G =
            4 / 8 without it, 0.253 / 0.126 with 0.3).
    """

    groups: int = 2
    temperature: float = 1.0
    init_scale: float = 0.01
    balance: float = 0.3

    def __post_init__(self) -> None:
        g = self.groups
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1:
            raise ConfigError(f"FLGW.groups must be an integer >= 1, got {g!r}")
        if not self.temperature > 0:
            raise ConfigError(f"FLGW.temperature must be > 0, got {self.temperature!r}")

    def applies(self, layer: str, shape: tuple[int, int]) -> bool:
        return (self.groups > 1 and layer not in self.dense_layers
                and min(shape) >= self.groups)

    def init_state(self, shapes: dict[str, tuple[int, int]], rng: np.random.Generator
                   ) -> Params:
        st: Params = {}
        g, s = self.groups, self.init_scale
        for layer, (k, n) in shapes.items():
            if not self.applies(layer, (k, n)):
                continue
            rows = rng.permutation(k) % g
            cols = rng.permutation(n) % g
            ig = np.eye(g, dtype=np.float32)[rows] * s
            og = np.eye(g, dtype=np.float32)[cols].T * s
            st[f"{layer}.IG"] = ig + rng.standard_normal(ig.shape).astype(np.float32) * s / 10
            st[f"{layer}.OG"] = og + rng.standard_normal(og.shape).astype(np.float32) * s / 10
        return st

    def masks(self, layer: str, w: np.ndarray, state: Params
              ) -> tuple[np.ndarray, np.ndarray]:
        mk = flgw_mask(state[f"{layer}.IG"], state[f"{layer}.OG"])
        return mk, mk  # backward-data: dY @ (W * mask).T, the transposed mask

    def state_grads(self, layer: str, w: np.ndarray, g_eff: np.ndarray, state: Params
                    ) -> Params:
        ig, og = state[f"{layer}.IG"], state[f"{layer}.OG"]
        t = self.temperature
        p = _softmax(ig / t, axis=1)
        q = _softmax(og / t, axis=0)
        # dL/dmask with W_eff = W * mask, through the kept entries only (the hardware computes
        # weight gradients at the mask's nonzeros)
        ds = g_eff * w * flgw_mask(ig, og)
        dp = ds @ q.T
        dq = p.T @ ds
        if self.balance:
            g = self.groups
            dp = dp + 2 * self.balance * g * (p.mean(axis=0, keepdims=True) - 1 / g) / p.shape[0]
            dq = dq + 2 * self.balance * g * (q.mean(axis=1, keepdims=True) - 1 / g) / q.shape[1]
        dig = p * (dp - (dp * p).sum(axis=1, keepdims=True)) / t
        dog = q * (dq - (dq * q).sum(axis=0, keepdims=True)) / t
        return {f"{layer}.IG": dig.astype(np.float32), f"{layer}.OG": dog.astype(np.float32)}

    def weight_grad(self, g_eff: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return g_eff * mask  # LearningGroup trains the kept weights only

    @property
    def label(self) -> str:
        return f"flgw G={self.groups}"


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# training loop


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`sparse_train`.

    Attributes:
        params: Trained master weights and biases (float32).
        masks: Forward masks of the sparsified layers at the end of training.
        test_accuracy: Accuracy of the masked network on the 450 test digits (fraction).
        density: Kept fraction of the sparsified layers' weights (forward masks).
        weight_density: Kept fraction of all weights (dense layers count as kept).
    """

    params: Params
    masks: dict[str, np.ndarray]
    test_accuracy: float
    density: float
    weight_density: float

    def effective_params(self) -> Params:
        """Weights as the forward pass uses them (masked)."""
        out = dict(self.params)
        for layer, mk in self.masks.items():
            out[f"{layer}.W"] = self.params[f"{layer}.W"] * mk
        return out


def _check_network(network: str) -> None:
    if network not in DEFAULT_EPOCHS:
        raise ConfigError(f"network must be one of {', '.join(DEFAULT_EPOCHS)}, "
                          f"got {network!r}")


class TrainingRun:
    """A training of ``network`` under ``scheme`` for ``epochs`` epochs that stops after any
    epoch and goes on later (:meth:`advance`), with the weights, Adam moments, step count,
    mini-batch order and mask warm starts carried over: advancing to epoch 4, then 11, then
    ``epochs`` gives exactly the weights of one uninterrupted run (the learning-rate schedule is
    always the full run's). :func:`sparse_train` is one run advanced to its end.

    Args: those of :func:`sparse_train`.
    """

    def __init__(self, network: str, scheme: Scheme | None = None, *, seed: int = 0,
                 epochs: int | None = None, lr: float | None = None,
                 batch_size: int = BATCH_SIZE, max_batches: int | None = None,
                 data: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        from ..nets.digits import split, weight_shapes
        from ..nets.digits_train import init_params

        _check_network(network)
        scheme = Dense() if scheme is None else scheme
        if not isinstance(scheme, Scheme):
            raise ConfigError(f"scheme must be a Scheme (Dense, NM, FLGW), got {scheme!r}")
        epochs = DEFAULT_EPOCHS[network] if epochs is None else epochs
        lr = DEFAULT_LR[network] if lr is None else lr
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ConfigError(f"epochs must be an integer >= 1, got {epochs!r}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ConfigError(f"lr must be > 0, got {lr!r}")
        shapes = weight_shapes(network)
        if isinstance(scheme, FLGW) and scheme.groups > 1 and not any(
                scheme.applies(la, s) for la, s in shapes.items()):
            widest = max(min(s) for la, s in shapes.items() if la not in scheme.dense_layers)
            raise ConfigError(f"FLGW.groups={scheme.groups} is larger than every layer of "
                              f"{network}: allowed range [1, {widest}]")
        X, y = (split()[:2] if data is None else data)
        self.network, self.scheme, self.epochs, self.lr = network, scheme, int(epochs), lr
        self.batch_size = batch_size
        self._X, self._y = np.asarray(X, dtype=np.float32), y
        self._rng = np.random.default_rng(seed)
        self.params: Params = init_params(network, self._rng)
        self._shapes = shapes
        self._sparse = [la for la, s in shapes.items() if scheme.applies(la, s)]
        self._state = scheme.init_state({la: shapes[la] for la in self._sparse},
                                        np.random.default_rng([seed, 1]))
        trainable = {**self.params, **self._state}
        self._m1 = {k: np.zeros_like(v) for k, v in trainable.items()}
        self._m2 = {k: np.zeros_like(v) for k, v in trainable.items()}
        n_batches = math.ceil(len(y) / batch_size)
        self._n_batches = n_batches if max_batches is None else min(n_batches, max_batches)
        self._step = 0
        self._memo: dict[str, Any] = {}  # what the scheme reuses between steps (warm starts)
        #: Epochs trained so far.
        self.epoch = 0

    def advance(self, to_epoch: int | None = None) -> TrainingRun:
        """Train on to the end of epoch ``to_epoch`` (default: the last); returns ``self``."""
        from ..nets.digits_train import backward, forward_cached, softmax_xent

        to = self.epochs if to_epoch is None else int(to_epoch)
        if not self.epoch <= to <= self.epochs:
            raise ConfigError(f"to_epoch={to_epoch!r}: must be in [{self.epoch}, "
                              f"{self.epochs}] (epochs done .. epochs of the run)")
        scheme, p, state, sparse = self.scheme, self.params, self._state, self._sparse
        X, y, rng, memo = self._X, self._y, self._rng, self._memo
        m1, m2, bs, lr = self._m1, self._m2, self.batch_size, self.lr
        b1, b2, eps = 0.9, 0.999, 1e-8
        total = self.epochs * self._n_batches
        for _ in track(range(self.epoch, to), total=to - self.epoch,
                       desc=f"sparse training {self.network} ({scheme.label})", unit="epoch"):
            perm = rng.permutation(len(y))
            for i in range(self._n_batches):
                idx = perm[i * bs:(i + 1) * bs]
                pf, pb = dict(p), dict(p)
                fmasks: dict[str, np.ndarray] = {}
                for la in sparse:
                    mf, mb = scheme.step_masks(la, p[f"{la}.W"], state, memo)
                    fmasks[la] = mf
                    pf[f"{la}.W"] = p[f"{la}.W"] * mf
                    pb[f"{la}.W"] = p[f"{la}.W"] * mb
                logits, cache = forward_cached(self.network, pf, X[idx])
                _, dlogits = softmax_xent(logits, y[idx])
                grads = backward(self.network, pf, cache, dlogits,
                                 p_bwd=pb if sparse else None)
                for la in sparse:
                    g_eff = grads[f"{la}.W"]
                    grads.update(scheme.state_grads(la, p[f"{la}.W"], g_eff, state))
                    grads[f"{la}.W"] = scheme.weight_grad(g_eff, fmasks[la])
                self._step += 1
                step = self._step
                lr_t = 0.5 * lr * (1.0 + math.cos(math.pi * (step - 1) / total))
                corr = math.sqrt(1.0 - b2**step) / (1.0 - b1**step)
                for k in list(m1):
                    g = grads[k]
                    val = p[k] if k in p else state[k]
                    m1[k] = b1 * m1[k] + (1.0 - b1) * g
                    m2[k] = b2 * m2[k] + (1.0 - b2) * g * g
                    new = (val - lr_t * corr * m1[k] / (np.sqrt(m2[k]) + eps)).astype(np.float32)
                    if k in p:
                        p[k] = new
                    else:
                        state[k] = new
            self.epoch += 1
        return self

    def result(self) -> TrainResult:
        """The weights, masks and test accuracy after the epochs trained so far."""
        from ..nets.digits import accuracy, split

        scheme, p = self.scheme, dict(self.params)
        masks = {la: scheme.masks(la, p[f"{la}.W"], self._state)[0] for la in self._sparse}
        result = TrainResult(params=p, masks=masks, test_accuracy=0.0, density=1.0,
                             weight_density=1.0)
        _, _, Xte, yte = split()
        acc = accuracy(self.network, result.effective_params(), Xte, yte)
        kept = sum(int(mk.sum()) for mk in masks.values())
        size = sum(mk.size for mk in masks.values())
        total_w = sum(k * n for k, n in self._shapes.values())
        return TrainResult(params=p, masks=masks, test_accuracy=acc,
                           density=kept / size if size else 1.0,
                           weight_density=(total_w - size + kept) / total_w)


def sparse_train(network: str, scheme: Scheme | None = None, *, seed: int = 0,
                 epochs: int | None = None, lr: float | None = None,
                 batch_size: int = BATCH_SIZE, max_batches: int | None = None,
                 data: tuple[np.ndarray, np.ndarray] | None = None) -> TrainResult:
    """Train ``network`` (``digits_mlp`` or ``digits_cnn``) from a seeded start under ``scheme``.

    Args:
        network: Digits network name.
        scheme: Sparsity scheme (default :class:`Dense`).
        seed: Seed of the initialisation, the mini-batch order and FLGW's IG/OG.
        epochs, lr: Defaults: those of the shipped weights (MLP 100, CNN 30 epochs; 2e-3).
        batch_size: Mini-batch size.
        max_batches: Stop each epoch after this many batches (quick runs).
        data: ``(X, y)`` to train on; the training split of ``digits_split()`` by default.
    """
    return TrainingRun(network, scheme, seed=seed, epochs=epochs, lr=lr, batch_size=batch_size,
                       max_batches=max_batches, data=data).advance().result()


def epochs_at(network: str, epochs: int | None, fraction: float) -> int:
    """Epochs of a run with ``fraction`` of the training budget ``epochs`` (``None``: the
    network's default), at least one."""
    _check_network(network)
    full = DEFAULT_EPOCHS[network] if epochs is None else epochs
    return full if fraction >= 1.0 else max(1, round(full * fraction))


#: Trainings stopped before their last epoch by :func:`training_accuracy`, by (network,
#: scheme, seed, epochs), the most recently used last; at most ``_MAX_RUNS`` are kept.
_RUNS: OrderedDict[tuple[str, Scheme, int, int | None], TrainingRun] = OrderedDict()
_MAX_RUNS = 32


@functools.lru_cache(maxsize=1024)
def training_accuracy(network: str, scheme: Scheme, seed: int = 0, epochs: int | None = None,
                      at_epoch: int | None = None) -> float:
    """Test accuracy after ``at_epoch`` epochs (default: all) of the ``epochs``-epoch training
    of ``network`` under ``scheme``: a checkpoint of that one run, whose learning-rate schedule
    is the full run's (not a shorter run). Memoised; the trainings stopped early stay in
    memory (the 32 most recent), so a later call for a later epoch of the same training goes
    on from where it stopped: asking for 4, 11, 33 and 100 epochs trains 100 epochs, and the
    last is exactly :func:`sparse_train`'s accuracy (the explorer's successive halving)."""
    key = (network, scheme, seed, epochs)
    run = _RUNS.pop(key, None)
    if run is None:
        run = TrainingRun(network, scheme, seed=seed, epochs=epochs)
    at = run.epochs if at_epoch is None else at_epoch
    if isinstance(at, bool) or not isinstance(at, (int, np.integer)) or not 1 <= at <= run.epochs:
        raise ConfigError(f"at_epoch={at_epoch!r}: must be an integer in [1, {run.epochs}] "
                          "(the epochs of the training)")
    if run.epoch > at:  # an earlier checkpoint of a run already past it: train again
        run = TrainingRun(network, scheme, seed=seed, epochs=epochs)
    acc = run.advance(at).result().test_accuracy
    if run.epoch < run.epochs:
        _RUNS[key] = run
        while len(_RUNS) > _MAX_RUNS:
            _RUNS.popitem(last=False)
    return acc


def sparse_training_accuracy(network: str, scheme: Scheme, seed: int = 0,
                             epochs: int | None = None) -> float:
    """Test accuracy after :func:`sparse_train` (memoised: devices call it per evaluation; it
    goes on from a checkpoint :func:`training_accuracy` left)."""
    return training_accuracy(network, scheme, seed, epochs)

