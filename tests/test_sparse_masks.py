"""sparse: row-wise N:M masks, transposable N:M masks (optimal min-cost flow and greedy
2-approximation, Hubara et al., NeurIPS 2021), mask diversity, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from accel_sim.errors import ConfigError
from accel_sim.sparse import mask_diversity, nm_mask, transposable_mask

METHODS = ("optimal", "greedy")


def _blocks(a: np.ndarray, m: int) -> np.ndarray:
    """(R, C) -> (R/m * C/m, m, m) blocks in row-major block order."""
    r, c = a.shape
    return a.reshape(r // m, m, c // m, m).transpose(0, 2, 1, 3).reshape(-1, m, m)


def _side_by_side(blocks: np.ndarray) -> np.ndarray:
    """(B, m, m) -> (m, B*m) matrix whose blocks are ``blocks`` in order."""
    b, m, _ = blocks.shape
    return blocks.transpose(1, 0, 2).reshape(m, b * m)


def _kept(blocks: np.ndarray, n: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the blocks and their kept magnitude per block."""
    m = blocks.shape[1]
    mask = _blocks(transposable_mask(_side_by_side(blocks), n, m, method), m)
    return mask, (np.abs(blocks) * mask).sum(axis=(1, 2))


def _all_transposable(n: int, m: int) -> np.ndarray:
    """Every m x m 0/1 matrix with n ones per row and per column, by brute force."""
    rows = [np.isin(np.arange(m), c) for c in itertools.combinations(range(m), n)]
    out = [np.array(p) for p in itertools.product(rows, repeat=m)]
    return np.array([p for p in out if (p.sum(axis=0) == n).all()])


def _lp_optimum(blocks: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One batched LP (HiGHS) over all blocks; the constraint matrix is totally unimodular."""
    b, m, _ = blocks.shape
    nv = b * m * m
    var = np.arange(nv).reshape(b, m, m)
    row_con = np.broadcast_to((np.arange(b)[:, None] * m + np.arange(m))[:, :, None], (b, m, m))
    col_con = b * m + np.broadcast_to((np.arange(b)[:, None] * m + np.arange(m))[:, None, :],
                                      (b, m, m))
    a_eq = sparse.csr_matrix(
        (np.ones(2 * nv), (np.r_[row_con.ravel(), col_con.ravel()], np.r_[var.ravel(),
                                                                          var.ravel()])),
        shape=(2 * b * m, nv))
    res = linprog(-np.abs(blocks).ravel(), A_eq=a_eq, b_eq=np.full(2 * b * m, n), bounds=(0, 1),
                  method="highs")
    assert res.status == 0
    x = res.x.reshape(b, m, m)
    assert np.allclose(x, np.round(x), atol=1e-7)  # integral optimum
    mask = np.round(x).astype(bool)
    return mask, (np.abs(blocks) * mask).sum(axis=(1, 2))


def _reference_greedy(block: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """The paper's greedy, plainly: (mask, whether it reached n per row and column)."""
    m = block.shape[0]
    mask = np.zeros((m, m), bool)
    for e in np.argsort(-np.abs(block).ravel(), kind="stable"):
        i, j = divmod(int(e), m)
        if mask[i].sum() < n and mask[:, j].sum() < n:
            mask[i, j] = True
    return mask, bool((mask.sum(axis=0) == n).all() and (mask.sum(axis=1) == n).all())


def _assert_transposable(mask: np.ndarray, n: int, m: int) -> None:
    b = _blocks(mask, m)
    assert (b.sum(axis=1) == n).all()
    assert (b.sum(axis=2) == n).all()


# ---------------------------------------------------------------------------------------------
# row-wise N:M


@pytest.mark.parametrize(("n", "m"), [(1, 2), (2, 4), (1, 4), (4, 8), (3, 8), (4, 4)])
def test_nm_mask_counts_and_largest(n, m):
    rng = np.random.default_rng(n * 10 + m)
    w = rng.standard_normal((8 * m, 12))
    mask = nm_mask(w, n, m)
    assert mask.shape == w.shape and mask.dtype == bool
    g = np.abs(w).reshape(8, m, 12)
    gm = mask.reshape(8, m, 12)
    assert (gm.sum(axis=1) == n).all()
    kept_min = np.where(gm, g, np.inf).min(axis=1)
    dropped_max = np.where(gm, -np.inf, g).max(axis=1)
    assert (kept_min >= dropped_max).all()
    # the kept set is the top-n by magnitude
    assert np.array_equal(np.sort(np.where(gm, g, 0), axis=1)[:, m - n:],
                          np.sort(g, axis=1)[:, m - n:])


def test_nm_mask_axis_and_ndim():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 8))
    assert np.array_equal(nm_mask(w, 2, 4, axis=1), nm_mask(w.T, 2, 4, axis=0).T)
    assert np.array_equal(nm_mask(w, 2, 4, axis=-1), nm_mask(w, 2, 4, axis=1))
    w3 = rng.standard_normal((3, 8, 5))
    m3 = nm_mask(w3, 2, 4, axis=1)
    for k in range(3):
        assert np.array_equal(m3[k], nm_mask(w3[k], 2, 4, axis=0))
    assert nm_mask(np.array([1.0, -3.0, 2.0, 0.5]), 2, 4).tolist() == [False, True, True, False]


def test_nm_mask_ties_are_stable():
    w = np.ones((8, 3))
    mask = nm_mask(w, 2, 4)
    assert mask[[0, 1, 4, 5]].all() and not mask[[2, 3, 6, 7]].any()
    assert nm_mask(np.array([[1.0, -1.0, 2.0, -2.0]]), 1, 4, axis=1).tolist() == [
        [False, False, True, False]]
    assert np.array_equal(nm_mask(np.arange(8) % 2, 1, 2), [False, True] * 4)


def _stable_sort_nm(w, n, m, axis):
    """The documented rule, spelled out: zero-pad ``axis`` to a multiple of ``m``, keep the
    first ``n`` of each group in a stable sort by decreasing ``|w|``, crop."""
    a = np.moveaxis(np.abs(np.asarray(w, dtype=np.float64)), axis, -1)
    size = a.shape[-1]
    a = np.concatenate([a, np.zeros((*a.shape[:-1], -size % m))], axis=-1)
    g = a.reshape(*a.shape[:-1], -1, m)
    keep = np.argsort(-g, axis=-1, kind="stable")[..., :n]
    out = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(out, keep, True, axis=-1)
    return np.moveaxis(out.reshape(a.shape)[..., :size], -1, axis)


def test_compiled_padded_nm_mask_is_the_stable_sort_rule():
    """The training's compiled N:M masks (any shape, tails, both axes, float32/64, many ties)
    are exactly the stable-sort rule of :func:`nm_mask`, and so are ``nm_mask``'s own."""
    from accel_sim.sparse import padded_nm_mask

    rng = np.random.default_rng(7)
    for t in range(600):
        shape = tuple(int(x) for x in rng.integers(1, 40, size=2))
        m = int(rng.choice([2, 4, 8, 16]))
        n, axis = int(rng.integers(1, m + 1)), int(rng.integers(0, 2))
        w = (rng.integers(-3, 4, size=shape) if t % 2 else rng.standard_normal(shape))
        w = w.astype(np.float32 if t % 3 else np.float64)
        want = _stable_sort_nm(w, n, m, axis)
        assert np.array_equal(padded_nm_mask(w, n, m, axis=axis), want)
        if shape[axis] % m == 0:
            assert np.array_equal(nm_mask(w, n, m, axis=axis), want)


# ---------------------------------------------------------------------------------------------
# transposable N:M


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "m", "shape"), [(2, 4, (16, 32)), (4, 8, (32, 16)),
                                               (1, 4, (8, 8)), (2, 8, (16, 24)),
                                               (3, 3, (9, 6)), (1, 1, (3, 2))])
def test_transposable_rows_and_columns(method, n, m, shape):
    rng = np.random.default_rng(7)
    w = rng.standard_normal(shape).astype(np.float32)
    mask = transposable_mask(w, n, m, method)
    assert mask.shape == w.shape and mask.dtype == bool
    _assert_transposable(mask, n, m)
    # W and W^T masked are both N:M along the reduction dimension (at most N nonzeros)
    wm = w * mask
    for mat in (wm, wm.T):
        nz = (mat != 0).reshape(mat.shape[0] // m, m, mat.shape[1]).sum(axis=1)
        assert (nz <= n).all()
        assert np.array_equal(nm_mask(mat, n, m) & (mat != 0), mat != 0)


@pytest.mark.parametrize("method", METHODS)
def test_transposable_ties_zeros_and_ints(method):
    for w in (np.zeros((8, 8)), np.ones((8, 8)), np.arange(64).reshape(8, 8) % 3 - 1):
        mask = transposable_mask(w, 2, 4, method)
        _assert_transposable(mask, 2, 4)
        assert np.array_equal(mask, transposable_mask(w.copy(), 2, 4, method))  # deterministic
    assert transposable_mask(np.zeros((0, 4)), 2, 4, method).shape == (0, 4)


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4), (2, 8)])
def test_greedy_half_of_optimal(n, m):
    rng = np.random.default_rng(100 + n * m)
    blocks = np.concatenate([rng.standard_normal((250, m, m)),  # and heavy-tailed, tie-heavy
                             rng.lognormal(0.0, 2.0, (150, m, m)),
                             rng.integers(0, 3, (100, m, m)).astype(float)])
    _, opt = _kept(blocks, n, "optimal")
    _, greedy = _kept(blocks, n, "greedy")
    assert (greedy >= 0.5 * opt - 1e-12).all()
    assert (opt >= greedy * (1 - 1e-12)).all()
    assert greedy.sum() > 0.9 * opt.sum()


def test_optimal_equals_brute_force_2of4():
    masks = _all_transposable(2, 4)
    assert len(masks) == 90
    rng = np.random.default_rng(3)
    blocks = np.concatenate([rng.standard_normal((400, 4, 4)),
                             rng.integers(-2, 3, (100, 4, 4)).astype(float)])
    mask, kept = _kept(blocks, 2, "optimal")
    best = np.abs(blocks).reshape(-1, 16) @ masks.reshape(90, 16).T.astype(float)
    np.testing.assert_allclose(kept, best.max(axis=1), rtol=1e-12)
    # continuous random weights: the optimum is unique, so the masks match too
    arg = masks[best[:400].argmax(axis=1)]
    assert np.array_equal(mask[:400], arg)


@pytest.mark.parametrize(("n", "m"), [(4, 8), (2, 8), (3, 6)])
def test_optimal_equals_lp(n, m):
    rng = np.random.default_rng(11)
    blocks = np.concatenate([rng.standard_normal((150, m, m)),
                             rng.integers(0, 4, (50, m, m)).astype(float)])
    mask, kept = _kept(blocks, n, "optimal")
    lp_mask, lp_kept = _lp_optimum(blocks, n)
    np.testing.assert_allclose(kept, lp_kept, rtol=1e-10)
    assert np.array_equal(mask[:150], lp_mask[:150])  # unique optimum for continuous weights


def test_greedy_matches_paper_when_complete_and_completes_otherwise():
    rng = np.random.default_rng(5)
    blocks = rng.standard_normal((300, 4, 4))
    mask, _ = _kept(blocks, 2, "greedy")
    incomplete = 0
    for b in range(len(blocks)):
        ref, complete = _reference_greedy(blocks[b], 2)
        if complete:
            assert np.array_equal(mask[b], ref)
        else:
            incomplete += 1
    assert 0 < incomplete < len(blocks)
    # the paper's greedy stalls here at 5 of 6 entries: rows/columns 0, 1 fill first
    w = np.array([[9.0, 8.0, 0.1], [7.0, 6.0, 0.2], [0.3, 0.4, 5.0]])
    ref, complete = _reference_greedy(w, 2)
    assert not complete and ref.sum() == 5
    mask = transposable_mask(w, 2, 3, "greedy")
    _assert_transposable(mask, 2, 3)
    opt = transposable_mask(w, 2, 3, "optimal")
    assert (w * mask).sum() >= 0.5 * (w * opt).sum()


@pytest.mark.parametrize("method", METHODS)
def test_transposable_speed_smoke(method):
    w = np.random.default_rng(0).standard_normal((256, 256))
    mask = transposable_mask(w, 2, 4, method)
    _assert_transposable(mask, 2, 4)


@pytest.mark.parametrize("n, m", [(1, 4), (2, 4), (3, 8), (6, 16), (16, 16)])
def test_warm_start_finds_the_same_optimum(n, m):
    """From the previous step's mask (weights moved a little) or from any transposable mask
    (a cyclic one), cancelling negative cycles ends at the optimum of a search from scratch
    (continuous weights: the optimum is unique)."""
    rng = np.random.default_rng(n * 100 + m)
    w = rng.standard_normal((2 * m, 3 * m))
    before = transposable_mask(w, n, m)
    w2 = w + 0.05 * rng.standard_normal(w.shape)
    best = transposable_mask(w2, n, m)
    assert np.array_equal(transposable_mask(w2, n, m, start=before), best)
    i, j = np.indices(w.shape)
    cyclic = ((j % m - i % m) % m) < n  # n per row and column of every block
    assert np.array_equal(transposable_mask(w2, n, m, start=cyclic), best)


@pytest.mark.parametrize("n, m", [(1, 2), (1, 4), (2, 4), (3, 8), (6, 16), (16, 16)])
def test_training_search_follows_the_optimum_step_by_step(n, m):
    """The training's search (previous mask and shortest-path distances kept from step to
    step) gives, at every step of a random walk of the weights (small and large steps, and
    ties from rounding), a mask whose kept sum is the optimum of a search from scratch, and
    the same mask wherever the weights are continuous (unique optimum)."""
    from accel_sim.sparse._masks import TransposableSearch

    rng = np.random.default_rng(n * 100 + m)
    w = rng.standard_normal((2 * m, 3 * m))
    search = TransposableSearch(n, m)
    for step in range(40):
        w = w + (0.5 if step % 10 == 9 else 0.02) * rng.standard_normal(w.shape)
        mag = np.abs(np.round(w, 1) if step % 7 == 6 else w)
        got, best = search(mag), transposable_mask(mag, n, m)
        for b in range(2):  # rows and columns of every block keep exactly n
            counts = got.reshape(2, m, 3, m).sum(axis=3 - 2 * b)
            assert (counts == n).all()
        assert (mag * got).sum() == pytest.approx((mag * best).sum(), rel=1e-12)
        if step % 7 != 6:
            assert np.array_equal(got, best)


def test_warm_start_refuses_a_start_that_is_not_a_mask():
    w = np.random.default_rng(0).standard_normal((8, 8))
    with pytest.raises(ConfigError, match="not a transposable 2:4 mask"):
        transposable_mask(w, 2, 4, start=np.ones((8, 8), bool))
    with pytest.raises(ConfigError, match="shape"):
        transposable_mask(w, 2, 4, start=np.ones((4, 8), bool))


# ---------------------------------------------------------------------------------------------
# diversity


def test_mask_diversity_2of4():
    assert mask_diversity(2, 4) == (90, 1296)


@pytest.mark.parametrize(("n", "m"), [(1, 2), (1, 3), (2, 3), (1, 4), (3, 4), (2, 2), (1, 1)])
def test_mask_diversity_brute_force(n, m):
    assert mask_diversity(n, m) == (len(_all_transposable(n, m)), math.comb(m, n) ** m)


def test_mask_diversity_larger():
    assert mask_diversity(4, 8) == (116963796250, 70**8)
    for m in range(1, 9):
        assert mask_diversity(1, m)[0] == math.factorial(m)  # permutation matrices
        assert mask_diversity(m, m) == (1, 1)
        if m > 1:  # complements of permutation matrices
            assert mask_diversity(m - 1, m)[0] == math.factorial(m)
    assert mask_diversity(2, 5)[0] == 2040  # OEIS A001499
    assert mask_diversity(3, 6)[0] == 297200  # OEIS A001501


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(("n", "m", "match"), [
    (0, 4, "n must be an integer >= 1"), (-1, 4, "n must be"), (5, 4, r"n must be in \[1, m\]"),
    (1, 0, "m must be an integer >= 1"), (2.0, 4, "n must be an integer"),
    (True, 4, "n must be an integer"), (2, "4", "m must be an integer")])
def test_bad_n_m(n, m, match):
    w = np.ones((8, 8))
    with pytest.raises(ConfigError, match=match):
        nm_mask(w, n, m)
    with pytest.raises(ConfigError, match=match):
        transposable_mask(w, n, m)
    with pytest.raises(ConfigError, match=match):
        mask_diversity(n, m)


def test_bad_inputs():
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConfigError, match=r"w.shape\[0\] = 6 is not a multiple of m = 4.*pad"):
        nm_mask(np.ones((6, 4)), 2, 4)
    with pytest.raises(ConfigError, match=r"w.shape\[1\] = 10 .*choose another m"):
        transposable_mask(np.ones((8, 10)), 2, 4)
    with pytest.raises(ConfigError, match="2-D matrix"):
        transposable_mask(np.ones((4, 4, 4)), 2, 4)
    with pytest.raises(ConfigError, match="2-D matrix"):
        transposable_mask(np.ones(16), 2, 4)
    w = np.ones((8, 8))
    w[3, 5] = np.nan
    for fn in (nm_mask, transposable_mask):
        with pytest.raises(ConfigError, match="NaN"):
            fn(w, 2, 4)
    with pytest.raises(ConfigError, match="inf"):
        transposable_mask(np.full((4, 4), np.inf), 2, 4)
    with pytest.raises(ConfigError, match="method must be one of 'optimal', 'greedy'"):
        transposable_mask(np.ones((8, 8)), 2, 4, method="lp")
    with pytest.raises(ConfigError, match=r"axis must be in \[-2, 1\]"):
        nm_mask(np.ones((8, 8)), 2, 4, axis=2)
    with pytest.raises(ConfigError, match="scalar"):
        nm_mask(np.float64(1.0), 1, 1)
    with pytest.raises(ConfigError, match="numeric"):
        nm_mask(np.array(["a", "b"]), 1, 2)


def test_transposable_m_of_m_keeps_everything():
    w = np.random.default_rng(3).standard_normal((8, 12))
    for method in METHODS:
        assert transposable_mask(w, 4, 4, method=method).all()
    assert transposable_mask(w, 4, 4, start=np.ones((8, 12), bool)).all()
    with pytest.raises(ConfigError, match="start is not a transposable 4:4 mask"):
        transposable_mask(w, 4, 4, start=np.eye(8, 12, dtype=bool))
