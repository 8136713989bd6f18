"""Pareto fronts and exact hypervolume (minimisation)."""

from __future__ import annotations

import numpy as np

__all__ = ["crowding_distance", "hypervolume", "hypervolume_history", "nondominated_rank",
           "pareto_mask", "promotable"]


def _dominance(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(le, dom)`` over all pairs of rows: ``le[j, i]`` when row j is <= row i in every
    objective, ``dom[j, i]`` when row j dominates row i (minimisation)."""
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)
    return le, le & lt


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (minimisation; of equal points
    only one is kept)."""
    p = np.asarray(points, dtype=float)
    if p.ndim != 2:
        raise ValueError("points must be a 2-D array (n_points, n_objectives)")
    n = len(p)
    if n <= 1024:  # all pairs at once
        le, dom = _dominance(p)
        dominated = dom.any(axis=0)
        duplicate = np.triu(le & le.T, k=1).any(axis=0)
        return ~(dominated | duplicate)
    # Many points: visit them in lexicographic order. A point can only be dominated by one
    # visited before it, so the front is built by appending points no front member covers.
    order = np.lexsort(p.T[::-1])
    front = np.empty((n, p.shape[1]))
    size = 0
    mask = np.zeros(n, bool)
    for i in order:
        if size and np.any(np.all(front[:size] <= p[i], axis=1)):
            continue
        front[size] = p[i]
        size += 1
        mask[i] = True
    return mask


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Points not strictly better than the reference in every objective contribute nothing.
    Dimension-sweep algorithm: exact; O(n log n) for 2 objectives, O(n^2 log n) for 3.
    """
    p = np.asarray(points, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if p.size == 0:
        return 0.0
    if p.ndim != 2 or p.shape[1] != ref.shape[0]:
        raise ValueError("points (n, d) and reference (d,) disagree")
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    return float(_hv(p[pareto_mask(p)], ref))


def _hv2d(p: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by 2-D points (dominated points allowed): sweep along x keeping the
    running minimum of y."""
    order = np.lexsort((p[:, 1], p[:, 0]))
    x = p[order, 0]
    y = np.minimum.accumulate(p[order, 1])
    nxt = np.append(x[1:], ref[0])
    return float(np.sum((nxt - x) * (ref[1] - y)))


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    d = p.shape[1]
    if d == 1:
        return float(ref[0] - p[:, 0].min())
    if d == 2:
        return _hv2d(p, ref)
    p = p[np.argsort(p[:, -1], kind="stable")]
    z = np.append(p[:, -1], ref[-1])
    total = 0.0
    for i in range(len(p)):
        if z[i + 1] > z[i]:
            sub = p[: i + 1, :-1]
            if d > 3:
                sub = sub[pareto_mask(sub)]
            total += (z[i + 1] - z[i]) * _hv(sub, ref[:-1])
    return total


def hypervolume_history(points: np.ndarray, feasible: np.ndarray, reference: np.ndarray
                        ) -> np.ndarray:
    """Hypervolume of the feasible points among the first i+1, for every i."""
    p = np.asarray(points, dtype=float)
    out = np.zeros(len(p))
    front = np.zeros((0, p.shape[1] if p.ndim == 2 else 0))
    hv = 0.0
    for i in range(len(p)):
        if feasible[i] and np.all(np.isfinite(p[i])):
            cand = np.vstack([front, p[i]])
            mask = pareto_mask(cand)
            if mask[-1]:
                front = cand[mask]
                hv = hypervolume(front, reference)
        out[i] = hv
    return out


def nondominated_rank(points: np.ndarray) -> np.ndarray:
    """Front index of every row of ``points`` (minimisation): 0 for the non-dominated rows,
    1 for those only the first front dominates, and so on (NSGA-II's sorting; equal rows share
    a front)."""
    p = np.asarray(points, dtype=float)
    n = len(p)
    _, dom = _dominance(p)
    rank = np.full(n, -1, dtype=int)
    left = np.ones(n, bool)
    front = 0
    while left.any():
        current = left & ~dom[left].any(axis=0)
        rank[current] = front
        left &= ~current
        front += 1
    return rank


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of every row within ``points`` (one front): per objective,
    the gap between a row's neighbours over the objective's range, summed; the extremes of
    each objective get infinity."""
    p = np.asarray(points, dtype=float)
    n, k = p.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(p[:, j], kind="stable")
        span = p[order[-1], j] - p[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (p[order[2:], j] - p[order[:-2], j]) / span
    return dist


def promotable(points: np.ndarray, index: int, reduction: int) -> bool:
    """Successive halving's promotion test for several objectives (minimisation): whether
    row ``index`` is among the best ``max(1, n // reduction)`` of the ``n`` rows, ordered by
    front index and, within a front, by decreasing crowding distance (NSGA-II's selection,
    as multi-objective ASHA, Schmucker et al. 2021, uses it). Rows that tie with it do not
    count against it."""
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or not 0 <= index < len(p):
        raise ValueError("points (n, d) and a row index in [0, n)")
    if reduction < 2:
        raise ValueError("reduction must be >= 2")
    rank = nondominated_rank(p)
    same = rank == rank[index]
    crowd = np.zeros(len(p))
    crowd[same] = crowding_distance(p[same])
    better = (rank < rank[index]) | (same & (crowd > crowd[index]))
    return int(better.sum()) < max(1, len(p) // reduction)
