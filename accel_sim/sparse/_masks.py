"""N:M and transposable N:M sparsity masks.

Background: Hubara et al., "Accelerated Sparse Neural Training: A Provable and Efficient Method
to Find N:M Transposable Masks", NeurIPS 2021 (arXiv 2102.08124).

* An N:M mask keeps the N largest-magnitude weights in every group of M consecutive weights
  along the reduction dimension (:func:`nm_mask`).
* A transposable N:M mask keeps exactly N entries in every row *and* every column of each
  M x M block, so both ``W`` and ``W.T`` are N:M (:func:`transposable_mask`). The best mask of
  a block (largest kept ``sum |w|``) is a min-cost flow: source -> row (capacity N), row ->
  column (capacity 1, cost ``-|w|``), column -> sink (capacity N).

  - ``method="optimal"`` solves that flow exactly for every block with successive shortest
    augmenting paths (Bellman-Ford on the residual graph, N*M augmentations per block), compiled
    with numba and run over all blocks in one call.
  - In training, :class:`TransposableSearch` keeps each weight's mask and its blocks'
    shortest-path distances from step to step: the weights move a little, so the previous
    distances are feasible potentials and one Bellman-Ford pass usually shows that a block
    is still optimal; blocks that are not get their negative cycles cancelled.
  - ``method="greedy"`` is the paper's 2-approximation: visit the entries of a block by
    decreasing ``|w|`` and keep one while its row and its column hold fewer than N entries.
    This often stops short of N per row/column (when the rows and columns still short of N
    only meet in already kept entries: about 16 % of random 4 x 4 blocks at 2:4, 55 % of 8 x 8
    blocks at 4:8); such blocks are completed with augmenting paths of fewest edges, among
    those the one of largest magnitude gain, so the result is always a full transposable mask.
    The paper's 1/2 bound is proven for the greedy selection itself; for completed blocks it
    is checked by the tests (random blocks, and an adversarial search stayed above 0.76).

* :func:`mask_diversity` counts transposable and row-wise N:M masks of one M x M block.
"""

from __future__ import annotations

import math
import operator
from typing import SupportsIndex, cast

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from accel_sim.errors import ConfigError

__all__ = ["mask_diversity", "nm_mask", "transposable_mask"]

METHODS = ("optimal", "greedy")
_REL_TOL = 1e-12  # relaxation threshold of the shortest-path search, relative to max |w| of a block

# ---------------------------------------------------------------------------------------------
# validation


def _check_int(name: str, value: object, low: int) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        iv = operator.index(cast(SupportsIndex, value))  # TypeError if it is not one
    except TypeError:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}") from None
    if iv < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {iv}")
    return iv


def _check_nm(n: object, m: object) -> tuple[int, int]:
    mi = _check_int("m", m, 1)
    ni = _check_int("n", n, 1)
    if ni > mi:
        raise ConfigError(f"n must be in [1, m] = [1, {mi}], got n={ni}")
    return ni, mi


def _magnitudes(w: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(w)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ConfigError(f"w must be a numeric array, got dtype {arr.dtype}")
    mag = np.abs(arr).astype(np.float64, copy=False)
    if not np.isfinite(mag).all():
        what = "NaN" if np.isnan(mag).any() else "inf"
        raise ConfigError(f"w contains {what}; all weights must be finite")
    return mag


def _check_divisible(name: str, size: int, m: int) -> None:
    if size % m:
        raise ConfigError(
            f"{name} = {size} is not a multiple of m = {m}; "
            "pad the matrix to a multiple of m or choose another m"
        )


# ---------------------------------------------------------------------------------------------
# row-wise N:M


def nm_mask(w: ArrayLike, n: int, m: int, axis: int = 0) -> NDArray[np.bool_]:
    """Row-wise N:M mask: keep the ``n`` largest ``|w|`` of every ``m`` consecutive weights.

    Groups run along ``axis``, the reduction dimension (axis 0 of a GEMM weight of shape
    ``(k, n_out)``), whose length must be a multiple of ``m``. Ties keep the lower index.
    Returns a bool array of the shape of ``w``.
    """
    n, m = _check_nm(n, m)
    mag = _magnitudes(w)
    if mag.ndim == 0:
        raise ConfigError("w must have at least one dimension, got a scalar")
    try:
        ax = operator.index(axis)
    except TypeError:
        raise ConfigError(f"axis must be an integer, got {axis!r}") from None
    if not -mag.ndim <= ax < mag.ndim:
        raise ConfigError(f"axis must be in [{-mag.ndim}, {mag.ndim - 1}], got {ax}")
    _check_divisible(f"w.shape[{ax}]", mag.shape[ax], m)
    moved = np.moveaxis(mag, ax, 0)  # groups down the columns of a 2-D view
    flat = np.ascontiguousarray(moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:]))))
    mask = np.empty(flat.shape, dtype=bool)
    _top_n_down(flat, n, m, mask)
    return np.moveaxis(mask.reshape(moved.shape), 0, ax)


# ---------------------------------------------------------------------------------------------
# kernels


@njit(cache=True)
def _top_n_down(a, n, m, out):  # pragma: no cover - compiled
    """Row-wise N:M along axis 0 of the 2-D magnitudes ``a``: in every column, each group of
    ``m`` consecutive rows keeps its ``n`` largest (ties to the lower row); a last group of
    ``r < m`` rows keeps its ``min(n, r)`` largest, as when it is zero-padded to ``m``. The
    inner loop runs along a row (contiguous, branch-free: vectorised)."""
    rows, cols = a.shape
    ahead = np.empty(cols, np.int64)
    for r0 in range(0, rows, m):
        r1 = min(r0 + m, rows)
        for j in range(r0, r1):
            ahead[:] = 0
            for k in range(r0, r1):
                before = k < j
                for c in range(cols):
                    u = a[k, c]
                    v = a[j, c]
                    ahead[c] += (u > v) | ((u == v) & before)
            for c in range(cols):
                out[j, c] = ahead[c] < n


def padded_nm_mask_2d(mag: NDArray[np.floating], n: int, m: int, axis: int
                      ) -> NDArray[np.bool_]:
    """N:M mask of the finite 2-D magnitudes ``mag`` along ``axis`` (0 or 1) as if that axis
    were zero-padded to a multiple of ``m`` and the mask cropped back: a tail group of ``r``
    weights keeps ``min(n, r)``."""
    a = np.ascontiguousarray(mag if axis == 0 else mag.T)
    out = np.empty(a.shape, dtype=bool)
    _top_n_down(a, n, m, out)
    return out if axis == 0 else out.T


# (one M x M block: a = |w|, x = mask, rc / cc = kept per row / column)


@njit(cache=True)
def _relax(a, x, dr, dc, pr, pc, tol):  # pragma: no cover - compiled
    """One Bellman-Ford pass over the residual graph of mask ``x``: row -> column over an
    unkept entry at cost ``-a``, column -> row over a kept one at ``+a`` (``dr``/``dc``:
    distances of rows/columns, ``pr``/``pc``: their predecessors). Returns the last node
    relaxed (row ``i``: ``i``, column ``j``: ``m + j``), -1 if none."""
    m = a.shape[0]
    last = -1
    for i in range(m):
        di = dr[i]
        if di == np.inf:
            continue
        for j in range(m):
            if not x[i, j]:
                c = di - a[i, j]
                if c < dc[j] - tol:
                    dc[j] = c
                    pc[j] = i
                    last = m + j
    for j in range(m):
        dj = dc[j]
        if dj == np.inf:
            continue
        for i in range(m):
            if x[i, j]:
                c = dj + a[i, j]
                if c < dr[i] - tol:
                    dr[i] = c
                    pr[i] = j
                    last = i
    return last


@njit(cache=True)
def _ssp_augment(a, x, rc, cc, n, tol):  # pragma: no cover - compiled
    """One min-cost augmentation (source -> rows -> columns -> sink); False if none found."""
    m = a.shape[0]
    inf = np.inf
    dr = np.full(m, inf)
    dc = np.full(m, inf)
    pr = np.full(m, -1, np.int64)  # column a row was reached from (-1: from the source)
    pc = np.full(m, -1, np.int64)  # row a column was reached from
    for i in range(m):
        if rc[i] < n:
            dr[i] = 0.0
    converged = False
    for _ in range(2 * m + 2):
        if _relax(a, x, dr, dc, pr, pc, tol) < 0:
            converged = True
            break
    if not converged:
        return False
    end = -1
    best = inf
    for j in range(m):
        if cc[j] < n and dc[j] < best:
            best = dc[j]
            end = j
    if end < 0:
        return False
    # collect the path first (rows and columns alternate), then flip it
    rows = np.empty(m, np.int64)
    cols = np.empty(m + 1, np.int64)
    j = end
    k = 0
    while True:
        i = pc[j]
        if i < 0 or k >= m:
            return False
        rows[k] = i
        cols[k] = j
        k += 1
        j = pr[i]
        if j < 0:
            break
    for t in range(k):
        x[rows[t], cols[t]] = True
        if t + 1 < k:
            x[rows[t], cols[t + 1]] = False
    rc[rows[k - 1]] += 1
    cc[end] += 1
    return True


@njit(cache=True)
def _bfs_augment(a, x, rc, cc, n):  # pragma: no cover - compiled
    """One augmentation along a fewest-edge path, of largest gain among those; False if none.

    Every walk that follows the BFS layers is a shortest path, hence simple, so this works on
    any partial mask (the residual graph of a greedy mask may have negative cycles).
    """
    m = a.shape[0]
    lr = np.full(m, -1, np.int64)
    lc = np.full(m, -1, np.int64)
    gr = np.full(m, -np.inf)
    gc = np.full(m, -np.inf)
    pr = np.full(m, -1, np.int64)
    pc = np.full(m, -1, np.int64)
    for i in range(m):
        if rc[i] < n:
            lr[i] = 0
            gr[i] = 0.0
    level = 0
    end = -1
    while end < 0:
        grown = False
        for i in range(m):
            if lr[i] != level:
                continue
            for j in range(m):
                if not x[i, j] and (lc[j] == -1 or lc[j] == level + 1):
                    lc[j] = level + 1
                    grown = True
                    g = gr[i] + a[i, j]
                    if g > gc[j]:
                        gc[j] = g
                        pc[j] = i
        if not grown:
            return False
        best = -np.inf
        for j in range(m):
            if lc[j] == level + 1 and cc[j] < n and gc[j] > best:
                best = gc[j]
                end = j
        if end >= 0:
            break
        grown = False
        for j in range(m):
            if lc[j] != level + 1:
                continue
            for i in range(m):
                if x[i, j] and (lr[i] == -1 or lr[i] == level + 2):
                    lr[i] = level + 2
                    grown = True
                    g = gc[j] - a[i, j]
                    if g > gr[i]:
                        gr[i] = g
                        pr[i] = j
        if not grown:
            return False
        level += 2
    j = end
    cc[end] += 1
    while True:
        i = pc[j]
        x[i, j] = True
        jn = pr[i]
        if jn < 0:
            rc[i] += 1
            break
        x[i, jn] = False
        j = jn
    return True


@njit(cache=True)
def _optimal_blocks(a, n, out):  # pragma: no cover - compiled
    """Exact masks of all blocks ``a[b]``; returns the index of a failed block or -1."""
    nb, m = a.shape[0], a.shape[1]
    rc = np.zeros(m, np.int64)
    cc = np.zeros(m, np.int64)
    for b in range(nb):
        rc[:] = 0
        cc[:] = 0
        tol = _REL_TOL * a[b].max()
        for _ in range(n * m):
            if not _ssp_augment(a[b], out[b], rc, cc, n, tol):
                return b
    return -1


@njit(cache=True)
def _relax_block(a, x, b, pot, pr, pc, tol):  # pragma: no cover - compiled
    """:func:`_relax` on block ``b`` of the 3-D ``a`` and ``x``, with the distances of its rows
    and columns in ``pot[b, :m]`` and ``pot[b, m:]`` (indexed, not sliced: no array views in
    the per-block loop)."""
    m = a.shape[1]
    last = -1
    for i in range(m):
        di = pot[b, i]
        if di == np.inf:
            continue
        for j in range(m):
            if not x[b, i, j]:
                c = di - a[b, i, j]
                if c < pot[b, m + j] - tol:
                    pot[b, m + j] = c
                    pc[j] = i
                    last = m + j
    for j in range(m):
        dj = pot[b, m + j]
        if dj == np.inf:
            continue
        for i in range(m):
            if x[b, i, j]:
                c = dj + a[b, i, j]
                if c < pot[b, i] - tol:
                    pot[b, i] = c
                    pr[i] = j
                    last = i
    return last


@njit(cache=True)
def _improve_blocks_from(a, out, pot):  # pragma: no cover - compiled
    """Make the feasible masks ``out[b]`` optimal by cancelling the negative cycles of their
    residual graphs (a transposable mask of the largest kept ``sum |w|`` has none): Bellman-Ford
    from every node at once, each block's distances (rows, then columns) starting in ``pot[b]``
    and left there. Any finite start is valid (a virtual source reaching every node); the
    previous training step's final distances are feasible potentials for weights that moved a
    little, so one pass usually shows that a block has no negative cycle. A block still
    relaxing after 2M passes has one: walking back 2M predecessors lands on it, and flipping
    its edges (row -> column kept, column -> row dropped) grows the kept sum."""
    m = a.shape[1]
    pr = np.empty(m, np.int64)
    pc = np.empty(m, np.int64)
    for b in range(a.shape[0]):
        top = 0.0
        for i in range(m):
            for j in range(m):
                if a[b, i, j] > top:
                    top = a[b, i, j]
        tol = _REL_TOL * top
        for _ in range(m ** 3):
            pr[:] = -1
            pc[:] = -1
            last = -1
            for _ in range(2 * m):
                last = _relax_block(a, out, b, pot, pr, pc, tol)
                if last < 0:
                    break
            if last < 0:
                break  # no negative cycle: optimal
            u = last  # walk back 2m steps to land on the cycle, then flip it
            for _ in range(2 * m):
                u = pc[u - m] if u >= m else m + pr[u]
            start = u
            while True:
                if u >= m:
                    p = pc[u - m]
                    out[b, p, u - m] = True
                else:
                    p = m + pr[u]
                    out[b, u, p - m] = False
                u = p
                if u == start:
                    break


@njit(cache=True)
def _greedy_blocks(a, order, n, out):  # pragma: no cover - compiled
    """Greedy masks of all blocks (``order[b]``: flat indices by decreasing ``|w|``)."""
    nb, m = a.shape[0], a.shape[1]
    rc = np.zeros(m, np.int64)
    cc = np.zeros(m, np.int64)
    full = n * m
    for b in range(nb):
        rc[:] = 0
        cc[:] = 0
        kept = 0
        for t in range(m * m):
            e = order[b, t]
            i = e // m
            j = e - i * m
            if rc[i] < n and cc[j] < n:
                out[b, i, j] = True
                rc[i] += 1
                cc[j] += 1
                kept += 1
                if kept == full:
                    break
        while kept < full:
            if not _bfs_augment(a[b], out[b], rc, cc, n):
                return b
            kept += 1
    return -1


# ---------------------------------------------------------------------------------------------
# transposable N:M


def transposable_mask(
    w: ArrayLike, n: int, m: int, method: str = "optimal",
    start: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Transposable N:M mask of a 2-D matrix: exactly ``n`` kept per row and column of every
    ``m x m`` block, so ``w * mask`` and its transpose are both N:M.

    ``method="optimal"`` maximises the kept ``sum |w|`` of every block exactly (min-cost flow);
    ``method="greedy"`` is the 2-approximation by decreasing ``|w|`` (completed to exactly ``n``
    per row and column where it stops short). Both dimensions must be multiples of ``m``; ties
    are broken deterministically. Returns a bool array of the shape of ``w``.

    ``start`` (optimal only): a transposable N:M mask of the same shape to begin from, e.g.
    the previous training step's; it is made optimal by cancelling the negative cycles of its
    residual graph, which is far cheaper than a search from scratch when the weights changed a
    little. The result is an optimum either way (the same mask when the optimum is unique).
    """
    n, m = _check_nm(n, m)
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    mag = _magnitudes(w)
    if mag.ndim != 2:
        raise ConfigError(f"w must be a 2-D matrix, got {mag.ndim} dimension(s) {mag.shape}")
    rows, cols = mag.shape
    _check_divisible("w.shape[0]", rows, m)
    _check_divisible("w.shape[1]", cols, m)
    if n == m:  # the one transposable M:M mask keeps everything
        if start is not None and method == "optimal" and not (
                np.shape(start) == (rows, cols) and np.asarray(start, dtype=bool).all()):
            raise ConfigError(f"start is not a transposable {n}:{m} mask of shape "
                              f"{(rows, cols)}")
        return np.ones((rows, cols), dtype=bool)
    blocks = _to_blocks(mag, m)
    out = np.zeros(blocks.shape, dtype=bool)
    if start is not None and method == "optimal" and blocks.shape[0]:
        st = np.asarray(start, dtype=bool)
        if st.shape != (rows, cols):
            raise ConfigError(f"start must have the shape of w {(rows, cols)}, got {st.shape}")
        out = _to_blocks(st, m)
        if not ((out.sum(axis=1) == n).all() and (out.sum(axis=2) == n).all()):
            raise ConfigError(f"start is not a transposable {n}:{m} mask")
        _improve_blocks_from(blocks, out, np.zeros((blocks.shape[0], 2 * m)))
        return _from_blocks(out, rows, cols)
    if blocks.shape[0]:
        if method == "optimal":
            failed = _optimal_blocks(blocks, n, out)
        else:
            flat = blocks.reshape(-1, m * m)
            order = np.argsort(-flat, axis=1, kind="stable").astype(np.int64, copy=False)
            failed = _greedy_blocks(blocks, order, n, out)
        if failed >= 0:  # pragma: no cover - would be a bug
            raise RuntimeError(f"{method} mask search failed on block {failed}")
    return _from_blocks(out, rows, cols)


def _to_blocks(mag: np.ndarray, m: int) -> np.ndarray:
    """The ``m x m`` blocks of a matrix whose dimensions are multiples of ``m``, ``(nb, m, m)``
    in row-major block order."""
    rows, cols = mag.shape
    return np.ascontiguousarray(mag.reshape(rows // m, m, cols // m, m).transpose(0, 2, 1, 3)
                                ).reshape(-1, m, m)


def _from_blocks(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The ``rows x cols`` matrix of :func:`_to_blocks`' blocks."""
    m = blocks.shape[1]
    return np.ascontiguousarray(blocks.reshape(rows // m, cols // m, m, m).transpose(0, 2, 1, 3)
                                ).reshape(rows, cols)


class TransposableSearch:
    """The optimal transposable N:M masks of one weight over training steps: the first step
    searches from scratch (:func:`transposable_mask`), each later one starts from the previous
    mask and the previous step's shortest-path distances, so most blocks are shown optimal in
    one Bellman-Ford pass. Every mask is an optimum (the same as a search from scratch when the
    optimum is unique). ``w`` must be finite with both dimensions multiples of ``m``."""

    def __init__(self, n: int, m: int) -> None:
        self.n, self.m = _check_nm(n, m)
        self._out: NDArray[np.bool_] | None = None
        self._pot: NDArray[np.float64] | None = None

    def __call__(self, mag: NDArray[np.float64]) -> NDArray[np.bool_]:
        n, m = self.n, self.m
        rows, cols = mag.shape
        if n == m:
            return np.ones((rows, cols), dtype=bool)
        blocks = _to_blocks(mag, m)
        if self._out is None or self._out.shape != blocks.shape:
            out = np.zeros(blocks.shape, dtype=bool)
            if blocks.shape[0] and _optimal_blocks(blocks, n, out) >= 0:  # pragma: no cover
                raise RuntimeError("optimal mask search failed")
            self._out, self._pot = out, np.zeros((blocks.shape[0], 2 * m))
        assert self._pot is not None
        _improve_blocks_from(blocks, self._out, self._pot)
        return _from_blocks(self._out, rows, cols)


# ---------------------------------------------------------------------------------------------
# diversity


def mask_diversity(n: int, m: int) -> tuple[int, int]:
    """(number of transposable ``m x m`` masks with exactly ``n`` per row and column, number of
    row-wise N:M masks of one block = ``C(m, n) ** m``), e.g. ``(90, 1296)`` at 2:4.

    The first count is exact: a dynamic programme over rows whose state is how many columns
    hold 0, 1, ..., n kept entries (columns are interchangeable).
    """
    n, m = _check_nm(n, m)
    states: dict[tuple[int, ...], int] = {(m,) + (0,) * n: 1}
    for _ in range(m):
        nxt: dict[tuple[int, ...], int] = {}
        for hist, ways in states.items():
            for take, mult in _spread(hist, n):
                new = list(hist)
                for c, k in enumerate(take):
                    new[c] -= k
                    new[c + 1] += k
                key = tuple(new)
                nxt[key] = nxt.get(key, 0) + ways * mult
        states = nxt
    transposable = states.get((0,) * n + (m,), 0)
    return transposable, math.comb(m, n) ** m


def _spread(hist: tuple[int, ...], n: int) -> list[tuple[tuple[int, ...], int]]:
    """Ways to pick ``n`` columns for one row: (how many from each count class < n, ways)."""
    out: list[tuple[tuple[int, ...], int]] = []

    def rec(c: int, left: int, take: list[int], mult: int) -> None:
        if c == n:  # classes 0..n-1 only: full columns take no more
            if left == 0:
                out.append((tuple(take), mult))
            return
        for k in range(min(left, hist[c]) + 1):
            take.append(k)
            rec(c + 1, left - k, take, mult * math.comb(hist[c], k))
            take.pop()

    rec(0, n, [], 1)
    return out
