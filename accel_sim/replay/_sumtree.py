"""Sum tree and min tree over a fixed number of leaves (numba kernels).

A tree with ``L`` leaves (a power of two >= capacity) is one float64 array of ``2 L``
entries: node ``i`` has children ``2 i`` and ``2 i + 1``, leaf ``j`` is node ``L + j``, the root
is node 1. The sum tree stores the sum of its leaves in each node (prefix-sum search for
sampling); the min tree the minimum (the smallest sampling probability, for importance
weights). Unused leaves hold 0 (sum) and +inf (min).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["SumMinTree"]



@njit(cache=True, nogil=True)
def _set(sums, mins, leaves, idx, values):  # pragma: no cover - compiled
    for t in range(idx.shape[0]):
        node = leaves + idx[t]
        sums[node] = values[t]
        mins[node] = values[t]
        node //= 2
        while node >= 1:
            a = 2 * node
            sums[node] = sums[a] + sums[a + 1]
            mins[node] = min(mins[a], mins[a + 1])
            node //= 2


@njit(cache=True, nogil=True)
def _check_set_pow(sums, mins, leaves, size, idx, prio, alpha, eps):  # pragma: no cover
    """Validate (indices in [0, size), priorities finite and >= 0), then set leaves to
    ``(p + eps) ** alpha``. Returns (status, position of the first bad entry, max of p + eps):
    status 0 ok, 1 bad index, 2 bad priority; nothing is written unless the status is 0."""
    best = 0.0
    for t in range(idx.shape[0]):
        if idx[t] < 0 or idx[t] >= size:
            return 1, t, 0.0
        p = prio[t]
        if not (p >= 0.0) or p == np.inf:
            return 2, t, 0.0
        best = max(best, p + eps)
    vals = np.empty(idx.shape[0])
    for t in range(idx.shape[0]):
        vals[t] = (prio[t] + eps) ** alpha
    _set(sums, mins, leaves, idx, vals)
    return 0, -1, best


@njit(cache=True, nogil=True)
def _find(sums, leaves, size, targets, out):  # pragma: no cover - compiled
    for t in range(targets.shape[0]):
        u = targets[t]
        node = 1
        while node < leaves:
            left = 2 * node
            if u < sums[left]:
                node = left
            else:
                u -= sums[left]
                node = left + 1
        j = node - leaves
        # rounding can walk past the last used leaf or onto a zero leaf: step back to the
        # nearest leaf with mass
        if j >= size:
            j = size - 1
        while j > 0 and sums[leaves + j] <= 0.0:
            j -= 1
        out[t] = j


class SumMinTree:
    """Sum and min trees over ``capacity`` leaves (float64)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self.sums = np.zeros(2 * self.leaves)
        self.mins = np.full(2 * self.leaves, np.inf)

    @property
    def total(self) -> float:
        """Sum of all leaves."""
        return float(self.sums[1])

    @property
    def min(self) -> float:
        """Smallest leaf that was set."""
        return float(self.mins[1])

    def set(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Set leaves ``idx`` to ``values`` (later entries win for repeated indices)."""
        _set(self.sums, self.mins, self.leaves, np.ascontiguousarray(idx, np.int64),
             np.ascontiguousarray(values, np.float64))

    def set_priorities(self, idx: np.ndarray, priorities: np.ndarray, size: int,
                       alpha: float, eps: float) -> tuple[int, int, float]:
        """Checked ``set(idx, (priorities + eps) ** alpha)`` in one compiled pass; see
        :func:`_check_set_pow` for the returned (status, bad position, max priority)."""
        return _check_set_pow(self.sums, self.mins, self.leaves, size, idx, priorities, alpha,
                              eps)

    def get(self, idx: np.ndarray) -> np.ndarray:
        """Leaf values."""
        return self.sums[self.leaves + np.asarray(idx, np.int64)]

    def find(self, targets: np.ndarray, size: int) -> np.ndarray:
        """For each target in ``[0, total)``: the leaf whose prefix-sum interval holds it."""
        out = np.empty(len(targets), np.int64)
        _find(self.sums, self.leaves, size, np.ascontiguousarray(targets, np.float64), out)
        return out
