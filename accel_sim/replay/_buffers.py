"""Replay buffers with one API: uniform and prioritized (sum tree).

``add(**fields)`` stores a batch of transitions (each field an array whose first dimension is
the batch; arrays of the first call fix the dtypes and shapes) in a ring of ``capacity``
slots and returns their indices. ``sample(batch)`` returns ``(indices, weights)``;
``update_priorities(indices, priorities)`` sets the priorities of sampled transitions.
``fields(indices)`` returns the stored data. Every call validates its arguments before it
changes anything, so a rejected call never corrupts the buffer.

Prioritized replay (Schaul et al., ICLR 2016, proportional variant): transition ``i`` is drawn
with probability ``P(i) = p_i^alpha / sum_j p_j^alpha`` by stratified prefix-sum search in a
sum tree (one uniform draw in each of ``batch`` equal segments of the total); importance
weights ``w_i = (N P(i))^-beta / max_j (N P(j))^-beta`` with the maximum over the whole buffer
(from a min tree). New transitions get the largest priority seen so far.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping

import numpy as np

from ..errors import ConfigError
from ._sumtree import SumMinTree

__all__ = ["PrioritizedReplay", "ReplayBuffer", "UniformReplay"]


def _positive_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def priority_exponents(alpha: float, beta: float, eps: float) -> tuple[float, float, float]:
    """Validated PER settings: alpha and beta in [0, 1], eps > 0 and finite."""
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ConfigError(f"{name} must be in [0, 1], got {v!r}")
    if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
        raise ConfigError(f"eps must be > 0, got {eps!r}")
    return float(alpha), float(beta), float(eps)


class ReplayBuffer(abc.ABC):
    """Base class: ring storage of transitions and the sampling API (see module docs).

    Args:
        capacity: Slots (>= 1).
        seed: Seed of the sampling generator (same seed, same calls: same samples).
    """

    #: Whether sampling follows the priorities (callers then update them and anneal beta).
    prioritized: bool = False
    #: Importance-weight exponent of a prioritized buffer (which sets it; callers anneal it).
    beta: float

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = _positive_int("capacity", capacity)
        self.rng = np.random.default_rng(seed)
        self.size = 0
        self._next = 0
        self._data: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self.size

    # ------------------------------------------------------------------ storage
    def add(self, **fields: np.ndarray) -> np.ndarray:
        """Store a batch of transitions; returns their slot indices (oldest overwritten)."""
        if not fields:
            raise ConfigError("add: give at least one field, e.g. add(obs=..., action=...)")
        arrays = {k: np.asarray(v) for k, v in fields.items()}
        n = {k: (a.shape[0] if a.ndim else -1) for k, a in arrays.items()}
        if len(set(n.values())) != 1 or -1 in n.values():
            raise ConfigError(f"add: every field needs the same leading batch dimension, got "
                              f"{n}")
        count = next(iter(n.values()))
        if count == 0:
            return np.empty(0, np.int64)
        if self._data:
            if set(arrays) != set(self._data):
                raise ConfigError(f"add: fields {sorted(arrays)} differ from the stored "
                                  f"{sorted(self._data)}")
            for k, a in arrays.items():
                if a.shape[1:] != self._data[k].shape[1:]:
                    raise ConfigError(f"add: field {k!r} has shape {a.shape[1:]} per "
                                      f"transition, the buffer stores {self._data[k].shape[1:]}")
        else:
            self._data = {k: np.zeros((self.capacity, *a.shape[1:]), a.dtype)
                          for k, a in arrays.items()}
        idx = (self._next + np.arange(count)) % self.capacity
        if count > self.capacity:  # only the last `capacity` survive
            keep = slice(count - self.capacity, count)
            idx, arrays = idx[keep], {k: a[keep] for k, a in arrays.items()}
        for k, a in arrays.items():
            self._data[k][idx] = a
        self._on_add(idx)
        self._next = (self._next + count) % self.capacity
        self.size = min(self.capacity, self.size + count)
        return idx

    def fields(self, indices: np.ndarray) -> Mapping[str, np.ndarray]:
        """Stored fields of the transitions at ``indices``."""
        idx = self._check_indices(indices)
        return {k: v[idx] for k, v in self._data.items()}

    # ------------------------------------------------------------------ sampling
    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``batch`` slot indices and their importance weights (float64, max 1)."""
        batch = _positive_int("batch", batch)
        if batch > self.size:
            raise ConfigError(f"batch={batch} is larger than the buffer's contents "
                              f"({self.size} transitions): allowed range [1, {self.size}]")
        return self._sample(batch)

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set priorities (>= 0, finite) of stored transitions; uniform buffers ignore them."""
        idx = self._check_indices(indices)
        self._validate_priorities(idx, priorities)

    def _validate_priorities(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        p = np.asarray(priorities, np.float64)
        if p.shape != idx.shape:
            raise ConfigError(f"update_priorities: {p.shape[0] if p.ndim else 'a scalar'} "
                              f"priorities for {idx.shape[0]} indices")
        if not np.isfinite(p).all() or (p < 0).any():
            bad = p[~np.isfinite(p) | (p < 0)][0]
            raise ConfigError(f"priorities must be finite and >= 0, got {bad}")
        self._update(idx, p)


    def _check_indices(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ConfigError("indices must be a 1-D integer array")
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ConfigError(f"indices must be in [0, {self.size - 1}] (stored transitions), "
                              f"got {idx.min()}..{idx.max()}")
        return idx.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ hooks
    def _on_add(self, idx: np.ndarray) -> None:  # noqa: B027 (optional hook)
        """New slots ``idx`` were written (default: nothing to do)."""

    @abc.abstractmethod
    def _sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample from a non-empty buffer (arguments validated)."""

    def _update(self, idx: np.ndarray, priorities: np.ndarray) -> None:  # noqa: B027
        """Priorities validated (default: ignored, as by uniform sampling)."""


class UniformReplay(ReplayBuffer):
    """Uniform sampling with replacement; weights are 1."""

    def _sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rng.integers(0, self.size, batch), np.ones(batch)


class PrioritizedReplay(ReplayBuffer):
    """Proportional prioritized replay on a sum tree (Schaul et al. 2016).

    Args:
        capacity, seed: See :class:`ReplayBuffer`.
        alpha: Priority exponent (paper: 0.6), in [0, 1].
        beta: Importance-weight exponent (paper: 0.4 annealed to 1), in [0, 1]; settable.
        eps: Added to every priority so none is exactly 0 (> 0).
    """

    prioritized = True

    def __init__(self, capacity: int, seed: int = 0, alpha: float = 0.6, beta: float = 0.4,
                 eps: float = 1e-6) -> None:
        super().__init__(capacity, seed)
        self.alpha, self.beta, self.eps = priority_exponents(alpha, beta, eps)
        self.tree = SumMinTree(self.capacity)
        self.max_priority = 1.0

    def _on_add(self, idx: np.ndarray) -> None:
        self.tree.set(idx, np.full(len(idx), self.max_priority ** self.alpha))

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        # hot path: one compiled pass validates, then writes (nothing written on bad input)
        idx = np.asarray(indices)
        p = np.asarray(priorities)
        if (idx.ndim == 1 and p.shape == idx.shape and idx.dtype == np.int64
                and p.dtype == np.float64):
            status, _, best = self.tree.set_priorities(idx, p, self.size, self.alpha,
                                                        self.eps)
            if status == 0:
                self.max_priority = max(self.max_priority, best)
                return
        super().update_priorities(indices, priorities)

    def _update(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        p = priorities + self.eps
        if p.size:
            self.max_priority = max(self.max_priority, float(p.max()))
        self.tree.set(idx, p ** self.alpha)

    def probabilities(self, indices: np.ndarray) -> np.ndarray:
        """Sampling probabilities ``P(i)`` of stored transitions."""
        return self.tree.get(self._check_indices(indices)) / self.tree.total

    def _sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        total = self.tree.total
        targets = (np.arange(batch) + self.rng.random(batch)) * (total / batch)
        idx = self.tree.find(targets, self.size)
        p = self.tree.get(idx) / total
        p_min = self.tree.min / total
        w = (p / p_min) ** (-self.beta)
        return idx, w
