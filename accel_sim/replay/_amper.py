"""AMPER: prioritized replay by nearest-neighbour search over quantised priorities.

AMPER (Li, Kazemi, Laguna, Hu, ICCAD 2022) keeps the priorities of the replay memory in a TCAM
and replaces the sum-tree traversal of PER by searches: a random query, a candidate set built by
a k-nearest-neighbour (AMPER-k) or fixed-radius (AMPER-fr) search, and a uniform pick from the
candidate set. The full text of the paper was not available to us; this module implements the
following specification, which is ours where the abstract is silent:

1. **Codes.** Transition ``i`` has priority ``p_i = (|delta_i| + eps)^alpha`` (as in PER) and is
   stored as the ``b``-bit code ``c_i = min(2^b - 1, floor(p_i / s * 2^b))`` (``b`` =
   ``priority_bits``), ``s`` the largest ``p`` written so far. Codes are written when a
   transition is added (with the largest priority so far: code ``2^b - 1``) or its priority
   updated; a later growth of ``s`` does not rewrite older codes (the TCAM is not re-scanned).
2. **Query.** Each of the ``batch`` draws takes a query code ``v`` uniform on
   ``{0, ..., 2^b - 1}`` (the URNG).
3. **Candidate set.** AMPER-k: all transitions with ``|c_i - v| <= d_k(v)``, ``d_k(v)`` the
   smallest distance that holds at least ``min(k, N)`` transitions (ties at the boundary are
   all included: one TCAM search returns every matching row). AMPER-fr: all transitions with
   ``|c_i - v| <= r``; an empty set is discarded and a new query drawn.
4. **Pick.** One transition uniformly from the candidate set.

So ``P(i) = 1/|V| * sum over v in V with c_i in C(v) of 1/|C(v)|``, ``V`` the queries with a
non-empty candidate set; :meth:`AmperReplay.probabilities` evaluates it exactly. Importance
weights are PER's, ``w_i = (N P(i))^-beta`` normalised by the largest over stored transitions.

Implementation: the transitions are kept grouped by code in one array (a counting-sort layout:
code ``c`` occupies ``members[start[c]:start[c + 1]]``), so a candidate set is one contiguous
range and a pick is O(1); moving a transition between codes ``a`` and ``b`` costs ``|a - b|``
swaps (numba). The per-code candidate ranges are recomputed from the code histogram, O(2^b b),
when the codes changed since the last sample.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import ConfigError
from ._buffers import ReplayBuffer, _positive_int

__all__ = ["AmperFrReplay", "AmperKReplay", "AmperReplay"]

_JIT = {"cache": True, "nogil": True}
MAX_PRIORITY_BITS = 16


@njit(**_JIT)
def _move(members, pos, start, codes, i, new):  # pragma: no cover - compiled
    """Move entry ``i`` from its bucket to bucket ``new`` keeping buckets contiguous."""
    old = codes[i]
    while old > new:  # swap to the front of bucket `old`, then it joins bucket old - 1
        p, f = pos[i], start[old]
        j = members[f]
        members[f], members[p] = i, j
        pos[i], pos[j] = f, p
        start[old] = f + 1
        old -= 1
    while old < new:  # swap to the back of bucket `old`, then it joins bucket old + 1
        p, b = pos[i], start[old + 1] - 1
        j = members[b]
        members[b], members[p] = i, j
        pos[i], pos[j] = b, p
        start[old + 1] = b
        old += 1
    codes[i] = new


@njit(**_JIT)
def _write(members, pos, start, codes, idx, new_codes):  # pragma: no cover - compiled
    for t in range(idx.shape[0]):
        _move(members, pos, start, codes, idx[t], new_codes[t])


@njit(**_JIT)
def _check_codes(idx, prio, size, alpha, eps, scale, levels):  # pragma: no cover
    """Validate indices and priorities; return (status, bad position, new scale, codes).
    Status 0 ok, 1 bad index, 2 bad priority."""
    n = idx.shape[0]
    vals = np.empty(n)
    best = scale
    for t in range(n):
        if idx[t] < 0 or idx[t] >= size:
            return 1, t, scale, np.empty(0, np.int64)
        p = prio[t]
        if not (p >= 0.0) or p == np.inf:
            return 2, t, scale, np.empty(0, np.int64)
        vals[t] = (p + eps) ** alpha
        best = max(best, vals[t])
    out = np.empty(n, np.int64)
    for t in range(n):
        out[t] = min(levels - 1, int(vals[t] / best * levels))
    return 0, -1, best, out


@njit(**_JIT)
def _ranges_k(cum, levels, k):  # pragma: no cover - compiled
    """For each query code v: [lo, hi] of the smallest window |c - v| <= d with >= k entries
    (``cum[c]``: entries with a code below ``c``)."""
    lo = np.empty(levels, np.int64)
    hi = np.empty(levels, np.int64)
    for v in range(levels):
        a, b = 0, levels - 1  # smallest d in [a, b] with count(d) >= k
        while a < b:
            d = (a + b) // 2
            if cum[min(v + d + 1, levels)] - cum[max(v - d, 0)] >= k:
                b = d
            else:
                a = d + 1
        lo[v] = max(v - a, 0)
        hi[v] = min(v + a, levels - 1)
    return lo, hi


@njit(**_JIT)
def _table(start, levels, lo, hi):  # pragma: no cover - compiled
    """Candidate-set sizes per query, the valid queries, and P(one transition) per code by
    the specification (difference array over the code ranges); also the smallest P of an
    occupied code."""
    n = np.empty(levels, np.int64)
    valid = np.empty(levels, np.int64)
    nv = 0
    for v in range(levels):
        n[v] = start[hi[v] + 1] - start[lo[v]] if hi[v] >= lo[v] else 0
        if n[v] > 0:
            valid[nv] = v
            nv += 1
    diff = np.zeros(levels + 1)
    for t in range(nv):
        v = valid[t]
        diff[lo[v]] += 1.0 / n[v]
        diff[hi[v] + 1] -= 1.0 / n[v]
    per_code = np.empty(levels)
    acc, p_min = 0.0, np.inf
    for c in range(levels):
        acc += diff[c]
        per_code[c] = acc / max(nv, 1)
        if start[c + 1] > start[c]:
            p_min = min(p_min, per_code[c])
    return valid[:nv], per_code, p_min


@njit(**_JIT)
def _draw(members, start, codes, lo, hi, valid, per_code, p_min, beta, u, idx, w):
    # pragma: no cover - compiled
    batch = idx.shape[0]
    for t in range(batch):
        v = valid[min(int(u[t] * valid.shape[0]), valid.shape[0] - 1)]
        first = start[lo[v]]
        n = start[hi[v] + 1] - first
        i = members[first + min(int(u[batch + t] * n), n - 1)]
        idx[t] = i
        w[t] = (per_code[codes[i]] / p_min) ** (-beta)


class AmperReplay(ReplayBuffer):
    """Base of the AMPER buffers (see the module docs for the sampling specification).

    Args:
        capacity, seed: See :class:`ReplayBuffer`.
        priority_bits: Bits ``b`` of a stored priority code, in [1, 16].
        alpha: Priority exponent, in [0, 1].
        beta: Importance-weight exponent, in [0, 1]; settable.
        eps: Added to every priority (> 0).
    """

    prioritized = True

    def __init__(self, capacity: int, seed: int = 0, *, priority_bits: int = 8,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6) -> None:
        super().__init__(capacity, seed)
        self.priority_bits = _positive_int("priority_bits", priority_bits)
        if self.priority_bits > MAX_PRIORITY_BITS:
            raise ConfigError(f"priority_bits must be in [1, {MAX_PRIORITY_BITS}], got "
                              f"{priority_bits!r}")
        for name, v in (("alpha", alpha), ("beta", beta)):
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ConfigError(f"{name} must be in [0, 1], got {v!r}")
        if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
            raise ConfigError(f"eps must be > 0, got {eps!r}")
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self.levels = 1 << self.priority_bits
        # bucket `levels` holds the unused slots
        self._members = np.arange(self.capacity, dtype=np.int64)
        self._pos = np.arange(self.capacity, dtype=np.int64)
        self._start = np.zeros(self.levels + 2, np.int64)
        self._start[-1] = self.capacity
        self.codes = np.full(self.capacity, self.levels, np.int64)
        self.scale = 1.0  # largest (p + eps)^alpha written so far
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None

    # ------------------------------------------------------------------ writes
    def _on_add(self, idx: np.ndarray) -> None:
        _write(self._members, self._pos, self._start, self.codes, idx,
               np.full(len(idx), self.levels - 1, np.int64))
        self._table = None

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        idx = np.asarray(indices)
        p = np.asarray(priorities)
        if (idx.ndim == 1 and p.shape == idx.shape and idx.dtype == np.int64
                and p.dtype == np.float64):
            status, _, scale, codes = _check_codes(idx, p, self.size, self.alpha, self.eps,
                                                   self.scale, self.levels)
            if status == 0:
                self.scale = scale
                _write(self._members, self._pos, self._start, self.codes, idx, codes)
                self._table = None
                return
        super().update_priorities(indices, priorities)  # validates, raises on bad input

    def _update(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        self.update_priorities(idx, np.ascontiguousarray(priorities, np.float64))

    # ------------------------------------------------------------------ sampling
    @property
    def histogram(self) -> np.ndarray:
        """Stored transitions per code (length ``2^priority_bits``)."""
        return np.diff(self._start[:self.levels + 1])

    def _ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per query code: the candidate code range [lo, hi]."""
        raise NotImplementedError

    def _spec_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Query ranges [lo, hi], valid queries, P(one transition) per code, smallest P."""
        if self._table is None:
            lo, hi = self._ranges()
            valid, per_code, p_min = _table(self._start, self.levels, lo, hi)
            self._table = (lo, hi, valid, per_code, p_min)
        return self._table

    def probabilities(self, indices: np.ndarray) -> np.ndarray:
        """Sampling probability ``P(i)`` of stored transitions by the specification."""
        idx = self._check_indices(indices)
        if self.size == 0:
            return np.zeros(0)
        return self._spec_table()[3][self.codes[idx]]

    def _sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi, valid, per_code, p_min = self._spec_table()
        idx = np.empty(batch, np.int64)
        w = np.empty(batch)
        _draw(self._members, self._start, self.codes, lo, hi, valid, per_code, p_min,
              self.beta, self.rng.random(2 * batch), idx, w)
        return idx, w


class AmperKReplay(AmperReplay):
    """AMPER-k: candidate set = the ``k`` nearest codes to a random query (ties included).

    Args:
        capacity, seed, priority_bits, alpha, beta, eps: See :class:`AmperReplay`.
        k: Neighbours per search (>= 1; a buffer holding fewer offers all it holds).
    """

    def __init__(self, capacity: int, seed: int = 0, *, k: int = 32, priority_bits: int = 8,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6) -> None:
        super().__init__(capacity, seed, priority_bits=priority_bits, alpha=alpha, beta=beta,
                         eps=eps)
        self.k = _positive_int("k", k)

    def _ranges(self) -> tuple[np.ndarray, np.ndarray]:
        return _ranges_k(self._start, self.levels, min(self.k, self.size))


class AmperFrReplay(AmperReplay):
    """AMPER-fr: candidate set = the codes within ``radius`` of a random query.

    Args:
        capacity, seed, priority_bits, alpha, beta, eps: See :class:`AmperReplay`.
        radius: Search radius in code units, in [0, 2^priority_bits - 1].
    """

    def __init__(self, capacity: int, seed: int = 0, *, radius: int = 2,
                 priority_bits: int = 8, alpha: float = 0.6, beta: float = 0.4,
                 eps: float = 1e-6) -> None:
        super().__init__(capacity, seed, priority_bits=priority_bits, alpha=alpha, beta=beta,
                         eps=eps)
        self.radius = _positive_int("radius", radius, low=0)
        if self.radius > self.levels - 1:
            raise ConfigError(f"radius must be in [0, {self.levels - 1}] (2^priority_bits - 1),"
                              f" got {radius!r}")
        self._fixed: tuple[np.ndarray, np.ndarray] | None = None

    def _ranges(self) -> tuple[np.ndarray, np.ndarray]:
        if self._fixed is None:
            v = np.arange(self.levels)
            self._fixed = (np.maximum(v - self.radius, 0),
                           np.minimum(v + self.radius, self.levels - 1))
        return self._fixed
