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

Implementation (numba): one bucket of transitions per code in a shared pool (swap-remove and
append, a full bucket moves to the pool's end with twice the room, the pool is repacked when
full), so a priority update is O(1); a pick finds the code of a uniform rank in the candidate
window by binary search over the cumulative code counts, O(b). The per-query windows and the
per-code probabilities are recomputed, O(2^b b), when the codes changed since the last sample.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import ConfigError
from ._buffers import ReplayBuffer, _positive_int, priority_exponents

__all__ = ["AmperFrReplay", "AmperKReplay", "AmperReplay"]

MAX_PRIORITY_BITS = 16


@njit(cache=True, nogil=True)
def _write(pool, base, cnt, cap, top, pos, codes, idx, new_codes):  # pragma: no cover
    """Move entries ``idx`` to buckets ``new_codes``: swap-remove from the old bucket, append
    to the new one (a full bucket is copied to the pool's end with twice the room). Returns
    how many moves were done: fewer when the pool is full (the caller compacts, resumes)."""
    for t in range(idx.shape[0]):
        i, b = idx[t], new_codes[t]
        a = codes[i]
        if a == b:
            continue
        grow = cnt[b] == cap[b]
        if grow and top[0] + max(2 * cap[b], 16) > pool.shape[0]:
            return t
        if a >= 0:  # swap-remove from bucket a
            j = pool[base[a] + cnt[a] - 1]
            pool[base[a] + pos[i]] = j
            pos[j] = pos[i]
            cnt[a] -= 1
        if grow:
            new_cap = max(2 * cap[b], 16)
            at = top[0]
            for q in range(cnt[b]):
                pool[at + q] = pool[base[b] + q]
            base[b], cap[b] = at, new_cap
            top[0] = at + new_cap
        pool[base[b] + cnt[b]] = i
        pos[i] = cnt[b]
        cnt[b] += 1
        codes[i] = b
    return idx.shape[0]


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _table(cum, levels, lo, hi):  # pragma: no cover - compiled
    """Candidate-set sizes per query, the valid queries, and P(one transition) per code by
    the specification (difference array over the code ranges); also the smallest P of an
    occupied code."""
    n = np.empty(levels, np.int64)
    valid = np.empty(levels, np.int64)
    nv = 0
    for v in range(levels):
        n[v] = cum[hi[v] + 1] - cum[lo[v]] if hi[v] >= lo[v] else 0
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
        if cum[c + 1] > cum[c]:
            p_min = min(p_min, per_code[c])
    return valid[:nv], per_code, p_min


@njit(cache=True, nogil=True)
def _draw(pool, base, cum, codes, lo, hi, valid, per_code, p_min, beta, u, idx, w):
    # pragma: no cover - compiled
    batch = idx.shape[0]
    for t in range(batch):
        v = valid[min(int(u[t] * valid.shape[0]), valid.shape[0] - 1)]
        first = cum[lo[v]]
        n = cum[hi[v] + 1] - first
        target = first + min(int(u[batch + t] * n), n - 1)
        a, b = lo[v], hi[v]  # the code c with cum[c] <= target < cum[c + 1]
        while a < b:
            mid = (a + b + 1) // 2
            if cum[mid] <= target:
                a = mid
            else:
                b = mid - 1
        i = pool[base[a] + target - cum[a]]
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
        self.alpha, self.beta, self.eps = priority_exponents(alpha, beta, eps)
        self.levels = 1 << self.priority_bits
        # per-code buckets: bucket c is pool[base[c] : base[c] + cnt[c]] (room: cap[c])
        self._pool = np.empty(2 * self.capacity + 16 * self.levels, np.int64)
        self._base = np.zeros(self.levels, np.int64)
        self._cnt = np.zeros(self.levels, np.int64)
        self._cap = np.zeros(self.levels, np.int64)
        self._top = np.zeros(1, np.int64)
        self._pos = np.zeros(self.capacity, np.int64)
        self.codes = np.full(self.capacity, -1, np.int64)  # -1: empty slot
        self.scale = 1.0  # largest (p + eps)^alpha written so far
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self._cum = np.zeros(self.levels + 1, np.int64)

    # ------------------------------------------------------------------ writes
    def _on_add(self, idx: np.ndarray) -> None:
        self._move(idx, np.full(len(idx), self.levels - 1, np.int64))

    def _move(self, idx: np.ndarray, codes: np.ndarray) -> None:
        done = 0
        while True:
            done += _write(self._pool, self._base, self._cnt, self._cap, self._top, self._pos,
                           self.codes, idx[done:], codes[done:])
            if done == idx.shape[0]:
                break
            self._compact()
        self._table = None

    def _compact(self) -> None:
        """Repack the buckets at the pool's start with room for growth (rarely needed)."""
        cnt = self._cnt
        cap = np.maximum(16, cnt + cnt // 2)
        need = int(cap.sum())
        pool = np.empty(max(self._pool.shape[0], 2 * need), np.int64)
        base = np.concatenate(([0], np.cumsum(cap)[:-1]))
        for c in np.flatnonzero(cnt):
            pool[base[c]:base[c] + cnt[c]] = self._pool[self._base[c]:self._base[c] + cnt[c]]
        self._pool, self._base, self._cap = pool, base, cap
        self._top[0] = need

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        idx = np.asarray(indices)
        p = np.asarray(priorities)
        if (idx.ndim == 1 and p.shape == idx.shape and idx.dtype == np.int64
                and p.dtype == np.float64 and self._write_priorities(idx, p)):
            return
        super().update_priorities(indices, priorities)  # validates, raises on bad input

    def _update(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        if not self._write_priorities(idx, np.ascontiguousarray(priorities, np.float64)):
            raise AssertionError("validated priorities were rejected")

    def _write_priorities(self, idx: np.ndarray, p: np.ndarray) -> bool:
        """Check and write in one compiled pass; False (nothing written) on bad input."""
        status, _, scale, codes = _check_codes(idx, p, self.size, self.alpha, self.eps,
                                               self.scale, self.levels)
        if status != 0:
            return False
        self.scale = scale
        self._move(idx, codes)
        return True

    # ------------------------------------------------------------------ sampling
    @property
    def histogram(self) -> np.ndarray:
        """Stored transitions per code (length ``2^priority_bits``)."""
        return self._cnt.copy()

    def _ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per query code: the candidate code range [lo, hi]."""
        raise NotImplementedError

    def _spec_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Query ranges [lo, hi], valid queries, P(one transition) per code, smallest P."""
        if self._table is None:
            cum = np.zeros(self.levels + 1, np.int64)
            np.cumsum(self._cnt, out=cum[1:])
            self._cum = cum
            lo, hi = self._ranges()
            valid, per_code, p_min = _table(cum, self.levels, lo, hi)
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
        _draw(self._pool, self._base, self._cum, self.codes, lo, hi, valid, per_code, p_min,
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
        return _ranges_k(self._cum, self.levels, min(self.k, self.size))


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
