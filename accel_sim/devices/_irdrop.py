"""IR drop of an analog in-memory-computing crossbar: exact column currents with wire parasitics.

Background: Xiao et al., "On the Accuracy of Analog Neural Network Inference Accelerators",
IEEE CAS Magazine 2022, and Sandia's CrossSim, whose iterative solver was reported to diverge on
1024-row arrays at ``rp_norm = 1e-4``; here the bit-line-only case is solved directly.

Circuit (normalised units: conductances in units of Gmax, so ``G`` is mostly in [0, 1];
voltages in volts; currents in units of Gmax x 1 V; ``rp = Rp * Gmax`` is dimensionless;
``rr = rp_row``, ``rc = rp_col``; ``(i, j)`` row nodes, ``[i, j]`` column nodes)::

    V_0 -rr- (0,0) -rr- (0,1) -rr- ... -rr- (0,C-1)     row 0 (word line), right end open:
               |          |                    |        the top row, farthest from the amps
              G_00       G_01                G_0,C-1
               |          |                    |
             [0,0]      [0,1]      ...      [0,C-1]     column nodes of row 0
               rc         rc                   rc       down to [1, j], and so on
    V_i -rr- (i,0) -rr- ...                             row i: the same, cells G_ij
              ...
             [R-1,0]    [R-1,1]    ...      [R-1,C-1]   column nodes of row R-1
               rc         rc                   rc
              SA_0       SA_1      ...      SA_C-1      sense amps: virtual ground (0 V);
                                                        output I_j = current into SA_j

* Row ``i`` (word line) is driven at its left end by ``V_i`` through one wire segment of
  resistance ``rp_row`` (conductance ``1/rp_row``) into row node ``(i, 0)``; row node ``(i, j)``
  connects to ``(i, j+1)`` through ``1/rp_row``; the right end ``(i, C-1)`` is open. With
  ``rp_row = 0`` the row wire is ideal and every row node is at ``V_i``.
* Cell ``(i, j)`` is the conductance ``G_ij`` between row node ``(i, j)`` and column node
  ``[i, j]``.
* Column ``j`` (bit line): column node ``[i, j]`` connects to ``[i+1, j]`` through ``1/rp_col``
  and the last node ``[R-1, j]`` connects to the sense amplifier's virtual ground (0 V) through
  one more segment ``1/rp_col``. Row 0 is the top of the array, the farthest from the sense amps:
  its current crosses ``R`` column segments. The output ``I_j`` is the current into the virtual
  ground of column ``j``.

So every cell has its own segment on both wires (the driver and the sense amp each sit one
segment away from the nearest cell). With ``rp_col = rp_row = 0`` the output is the ideal MVM
``I = V @ G``; with positive ``rp`` and non-negative ``V`` it is smaller in every column that
conducts.

Algorithm. All line solves are tridiagonal and use the Thomas algorithm in a cancellation-free
form: the elimination from the open end of a line keeps ``e = 1 - p`` (``p`` the multiplier,
``p = 1 / (1 + e_prev + rp * G)``) instead of ``p`` itself, and the column elimination carries the
current flowing down the column (in current units) rather than a node voltage divided by
``rp_col``, so the result keeps full relative precision for any ``rp`` down to 0 (no ``1/rp``
is ever formed).

* ``rp_row = 0``: the columns are independent. The elimination from the top of a column down to
  the sense amp ends with exactly the output current, ``q_i = (G_ij V_i + q_{i-1}) p_ij``,
  ``I_j = q_{R-1}``, so no back substitution and no iteration is needed.
* ``rp_row > 0``: two-grid cycles. The unknowns are the row-node voltages ``u`` and the
  column-node voltages ``w``; the nodal matrix ``A`` (driven nodes eliminated) is symmetric
  positive definite. A cycle is

  1. a line Gauss-Seidel sweep: every row line solved exactly given ``w`` (plus the coarse
     correction of step 2 of the previous cycle), then every column line given the new ``u``.
     The column elimination ends with the output currents, exact given ``u``;
  2. a coarse-grid correction: the residual left by the sweep (row nodes only:
     ``G (w_new - w_used)``) is restricted to bilinear functions ``Z`` on a grid of
     ``ncy x ncx`` nodes on each layer, the Galerkin system ``Z^T A Z`` (9-point couplings
     within and between the layers) is solved, and its column-layer part, interpolated, is
     added to ``w`` for the next sweep (its row-layer part would be overwritten by the next
     row solves).

  The sweep removes within a cycle every error that varies along either wire over less than
  the decay length ``l = 1 / sqrt(rp mean(G))`` (the distance over which a wire and the
  crossing wires exchange current); errors smooth along both wires over ``l`` are where
  ``u`` and ``w`` move together through the mesh of both wires, and line relaxation alone
  shrinks them only slowly (the former adaptive line SOR needed 51 sweeps at 1024x1024 and
  ``rp = 1e-4``, 144 at 1e-3). The coarse grid resolves them: ``_COARSE_PER_LENGTH`` nodes per
  ``l`` along each axis (at least 2, at most the array's; fewer if the banded Cholesky
  factorisation of the coarse operator would cost more than ``_COARSE_COST`` flops per cell).
  A cycle then contracts the error by a factor of about 0.002 at ``rp = 1e-5``, 0.004 at
  1e-4 and 0.03 at 1e-3 (1024x1024, where the cost bound limits the grid to 34 x 39), so
  4 to 6 cycles reach ``tol = 1e-9``. The first cycle starts from the coarse
  grid's solution for the drivers. The line factors, the coarse operator (assembled from row
  sums of ``G`` taken with the factors, one pass over ``G``) and its factorisation are shared
  by the vectors of a batch, which are solved in turn.

  Stopping: the change of a cycle is the larger of the largest change of a column-node
  voltage relative to ``max|V|`` and the largest change of an output current relative to the
  largest output current (the latter matters when the drop is large and the currents are far
  below ``|V| @ G``). A vector has converged when the change times ``rate / (1 - rate)`` is at
  most ``tol``, ``rate`` being the observed contraction (the larger of the last two ratios of
  changes, clipped to ``[_RATE_FLOOR, _RATE_CAP]``): the estimated error left after the cycle.
  A row solve averages the column-node voltages (maximum principle), so the row-node voltages
  are as accurate as the column-node voltages.

  Layout: the row lines of ``_BLK`` consecutive rows are eliminated side by side (their
  factors are stored transposed in blocks; the block's right-hand sides and solutions are
  transposed in cache-sized tiles), and the column lines run across the rows, so both
  directions vectorise without transposing whole arrays.

  Also tried (prototypes, 1024x1024, iterations to 1e-10 at rp 1e-5 / 1e-4 / 1e-3): conjugate
  gradients on the row nodes (column nodes eliminated by column solves) preconditioned with
  the row-line solve, 8 / 17 / 44; the same with an additive coarse-grid term, 11 / 14 / 16;
  each iteration costs more than a cycle (an operator application and a line solve). Row
  lines split into pieces eliminated side by side (no transposes, but a fix-up pass per row
  and recurrences that numba did not vectorise) measured slower than the blocks used here.

The kernels are compiled with numba (``cache=True``) and run on one core. Parallel variants
(``prange`` over column blocks or batch vectors) were measured 1.8x faster on an idle two-core
machine but 2-20x slower as soon as other processes (such as the simulator's own worker
processes) load the cores, so parallelism is left to the caller's processes.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from accel_sim.errors import AccelSimError, ConfigError

__all__ = ["IRDropError", "solve_crossbar", "solve_crossbar_stats"]

# The kernels below use error_model="numpy": no ZeroDivisionError check on float division,
# which lets LLVM vectorise the divisions (the divisors here are >= 1).
_CHUNK = 256  # columns per block of the direct (rp_row = 0) kernel
_BLK = 16  # rows per block of the row-line solves (vectorised across a block's rows)
_RATE_CAP = 0.9  # largest contraction rate used in the remaining-error estimate
_RATE_FLOOR = 0.01  # smallest contraction rate used in the remaining-error estimate
_COARSE_PER_LENGTH = 6.0  # coarse nodes per decay length 1 / sqrt(rp * mean(G)) of a line
_COARSE_COST = 8.0  # coarse factorisation flops at most this times rows * cols
_TINY = 1e-150  # coarse factor entries below this are set to 0 (no denormal numbers)
_WORK_KEEP_BYTES = 32 * 2**20  # keep (per thread) work spaces up to this size between calls
_work = threading.local()

# result codes of the kernels
_OK, _NOT_CONVERGED, _NOT_FINITE, _BAD_NEGATIVE, _BAD_NONFINITE = 0, 1, 2, 3, 4


class IRDropError(AccelSimError):
    """The IR-drop solver did not converge, or its solution is not finite."""


# ---------------------------------------------------------------------------------------------
# kernels


@njit(cache=True, error_model="numpy")
def _columns_direct(G: NDArray[np.float64], V: NDArray[np.float64], rc: float,
                    out: NDArray[np.float64]) -> int:
    """Column currents ``out`` (batch, cols) for ideal rows (rp_row = 0), exact.

    Per column, top to bottom: ``p_i = 1 / (1 + e_{i-1} + rc G_i)``, ``e_i = (e_{i-1} + rc G_i)
    p_i`` (``e_{-1} = 0``), ``q_i = (G_i V_i + q_{i-1}) p_i``; the output is ``q_{R-1}``.
    Blocks of ``_CHUNK`` columns keep the batch's partial currents in cache. Also checks ``G``
    on the way (cheaper than separate passes): returns :func:`_check_code` of it.
    """
    rows, cols = G.shape
    batch = V.shape[0]
    n_blocks = (cols + _CHUNK - 1) // _CHUNK
    code = _OK
    for blk in range(n_blocks):
        j0 = blk * _CHUNK
        n = min(_CHUNK, cols - j0)
        e = np.zeros(n)
        p = np.empty(n)
        h = np.empty(n)
        nan = np.zeros(n)  # sum of G * 0: NaN iff some G is NaN or infinite
        lo = np.zeros(n)  # running minimum of min(G, 0)
        q = np.zeros((batch, n))
        for i in range(rows):
            g = G[i, j0:j0 + n]
            for k in range(n):
                gk = g[k]
                nan[k] += gk * 0.0
                lo[k] = gk if gk < lo[k] else lo[k]
                a = rc * gk
                d = 1.0 / (1.0 + e[k] + a)
                e[k] = (e[k] + a) * d
                p[k] = d
                h[k] = gk * d
            for b in range(batch):
                v = V[b, i]
                qb = q[b]
                for k in range(n):
                    qb[k] = h[k] * v + p[k] * qb[k]
        out[:, j0:j0 + n] = q
        code = max(code, _check_code(nan, lo))
    return code


@njit(cache=True, error_model="numpy")
def _check_code(nan: NDArray[np.float64], lo: NDArray[np.float64]) -> int:
    """``_BAD_NONFINITE`` if any ``nan`` is NaN, else ``_BAD_NEGATIVE`` if any ``lo < 0``."""
    s = 0.0
    m = 0.0
    for k in range(nan.shape[0]):
        s += nan[k]
        m = lo[k] if lo[k] < m else m
    if not math.isfinite(s):
        return _BAD_NONFINITE
    return _BAD_NEGATIVE if m < 0.0 else _OK


@njit(cache=True, error_model="numpy")
def _check_matrix(G: NDArray[np.float64]) -> int:
    """:func:`_check_code` of a whole matrix (finite, non-negative), one vectorised pass."""
    rows, cols = G.shape
    nan = np.zeros(cols)
    lo = np.zeros(cols)
    for i in range(rows):
        g = G[i]
        for k in range(cols):
            gk = g[k]
            nan[k] += gk * 0.0
            lo[k] = gk if gk < lo[k] else lo[k]
    return _check_code(nan, lo)


@njit(cache=True, error_model="numpy")
def _add_row(g: NDArray[np.float64], a: float, acc: NDArray[np.float64]) -> None:
    """``acc += a * g`` (a kernel of its own: vectorised whatever the caller)."""
    for j in range(g.shape[0]):
        acc[j] += a * g[j]


@njit(cache=True, error_model="numpy")
def _setup(G: NDArray[np.float64], rr: float, rc: float, PrB: NDArray[np.float64],
           Pc: NDArray[np.float64], ylo: NDArray[np.int64], yhi: NDArray[np.int64],
           ty: NDArray[np.float64], Gacc: NDArray[np.float64]) -> int:
    """The elimination factors of the row and column lines and the cells' coarse row sums;
    returns :func:`_check_code` of ``G``.

    ``PrB`` (blocks, cols, _BLK): row factor of cell ``(i0 + k, j)`` at
    ``[i0 // _BLK, j, k]`` (rows past the last: 0), so that the lines of a block's rows are
    eliminated side by side: ``P = 1 / (1 + e_prev + rr G)``, ``e = (e_prev + rr G) P`` from
    the open end ``j = cols-1``. Column factors ``Pc`` (rows, cols) the same from the top of
    each column with ``rc``. ``Gacc`` (ncy + 1, 2, cols): if not empty, the cells summed over
    the rows with the coarse weights ``a_I a_I`` (``[I, 0]``) and ``a_I a_I+1`` (``[I, 1]``).
    """
    rows, cols = G.shape
    coarse = Gacc.shape[0] > 0
    e = np.zeros(_BLK)
    ec = np.zeros(cols)
    nan = np.zeros(cols)  # sum of G * 0: NaN iff some G is NaN or infinite
    lo = np.zeros(cols)  # running minimum of min(G, 0)
    A0 = np.zeros(cols)
    A1 = np.zeros(cols)
    A2 = np.zeros(cols)
    for i0 in range(0, rows, _BLK):
        nb = min(_BLK, rows - i0)
        blk = i0 // _BLK
        P = PrB[blk]
        for j0 in range(0, cols, 8):  # rr G of the block's rows, transposed in tiles
            j1 = min(j0 + 8, cols)
            for k in range(nb):
                for j in range(j0, j1):
                    P[j, k] = rr * G[i0 + k, j]
            for k in range(nb, _BLK):
                for j in range(j0, j1):
                    P[j, k] = 0.0
        for k in range(_BLK):
            e[k] = 0.0
        for j in range(cols - 1, -1, -1):  # from the open end, all the block's rows at once
            for k in range(_BLK):
                a = P[j, k]
                d = 1.0 / (1.0 + e[k] + a)
                e[k] = (e[k] + a) * d
                P[j, k] = d
        for i in range(i0, i0 + nb):
            for j in range(cols):
                g = G[i, j]
                nan[j] += g * 0.0
                lo[j] = g if g < lo[j] else lo[j]
                a = rc * g
                d = 1.0 / (1.0 + ec[j] + a)
                ec[j] = (ec[j] + a) * d
                Pc[i, j] = d
            if coarse:  # sums over the rows between two coarse rows: G, t G, t^2 G
                _add_row(G[i], 1.0, A0)
                _add_row(G[i], ty[i], A1)
                _add_row(G[i], ty[i] * ty[i], A2)
                ci = ylo[i]
                if i == rows - 1 or ylo[i + 1] != ci:
                    for j in range(cols):  # a_lo^2 = (1 - t)^2, a_hi^2 = t^2, a_lo a_hi
                        Gacc[ci, 0, j] += A0[j] - 2.0 * A1[j] + A2[j]
                        Gacc[yhi[i], 0, j] += A2[j]
                        Gacc[ci, 1, j] += A1[j] - A2[j]
                        A0[j] = 0.0
                        A1[j] = 0.0
                        A2[j] = 0.0
    return _check_code(nan, lo)


@njit(cache=True, error_model="numpy")
def _coarse_cells(Gacc: NDArray[np.float64], xlo: NDArray[np.int64], xhi: NDArray[np.int64],
                  tx: NDArray[np.float64], gt: NDArray[np.float64]) -> None:
    """``gt[I, d, J, 1 + J' - J] = sum_ij G_ij z_IJ(i, j) z_(I+d)J'(i, j)`` from the row sums
    ``Gacc`` of :func:`_setup` (index ``ncx`` or ``ncy``: the zero outside the grid)."""
    ncy, _, ncx, _ = gt.shape
    gt[:] = 0.0
    for p in range(Gacc.shape[2]):
        cj1, cj2, t = xlo[p], xhi[p], tx[p]
        w11, w22, w12 = (1.0 - t) * (1.0 - t), t * t, t * (1.0 - t)
        for ci in range(ncy):
            for d in range(2):
                g = Gacc[ci, d, p]
                if cj1 < ncx:
                    gt[ci, d, cj1, 1] += w11 * g
                if cj2 < ncx:
                    gt[ci, d, cj2, 1] += w22 * g
                if cj1 < ncx and cj2 < ncx:  # J2 = J1 + 1
                    gt[ci, d, cj1, 2] += w12 * g
                    gt[ci, d, cj2, 0] += w12 * g


@njit(cache=True, error_model="numpy")
def _coarse_factor(My: NDArray[np.float64], Ky: NDArray[np.float64], Mx: NDArray[np.float64],
                   Kx: NDArray[np.float64], gt: NDArray[np.float64], cr: float, cc: float,
                   cg: float, L: NDArray[np.float64]) -> bool:
    """Assemble and factor (banded Cholesky, in place in ``L``) the coarse-grid operator.

    The coarse operator is the Galerkin product ``Z^T A Z`` of the nodal matrix ``A`` with
    the bilinear functions ``Z`` on both layers (row nodes and column nodes), scaled:
    ``cr My (x) Kx + cg Gt`` (row layer), ``cc Ky (x) Mx + cg Gt`` (column layer), ``-cg Gt``
    between them. Unknown ``2 * node + layer``; ``node = I * ncx + J`` if ``ncx <= ncy``, else
    ``J * ncy + I``. ``L[b, d]`` (n, bw + 1) holds the entry ``(b + d, b)`` (column storage of
    the lower band). Returns whether the factorisation succeeded (positive, finite pivots).
    """
    ncy, ncx = My.shape[0], Mx.shape[0]
    n, w1 = L.shape
    bw = w1 - 1
    L[:] = 0.0
    row_major = ncx <= ncy
    for ci in range(ncy):
        for cj in range(ncx):
            a = 2 * (ci * ncx + cj if row_major else cj * ncy + ci)
            for di in range(-1, 2):
                ci2 = ci + di
                if ci2 < 0 or ci2 >= ncy:
                    continue
                for dj in range(-1, 2):
                    cj2 = cj + dj
                    if cj2 < 0 or cj2 >= ncx:
                        continue
                    b = 2 * (ci2 * ncx + cj2 if row_major else cj2 * ncy + ci2)
                    if b > a:
                        continue
                    g = gt[ci, di, cj, 1 + dj] if di >= 0 else gt[ci2, 1, cj2, 1 - dj]
                    L[b, a - b] = cr * My[ci, ci2] * Kx[cj, cj2] + cg * g  # (u_a, u_b)
                    L[b + 1, a - b] = cc * Ky[ci, ci2] * Mx[cj, cj2] + cg * g  # (w_a, w_b)
                    L[b, a + 1 - b] = -cg * g  # (w_a, u_b)
                    if b < a:
                        L[b + 1, a - b - 1] = -cg * g  # (u_a, w_b)
    for k in range(n):  # right-looking: scale column k, update the band to its right
        d = L[k, 0]
        if not (d > 0.0 and math.isfinite(d)):
            return False
        d = math.sqrt(d)
        L[k, 0] = d
        m = min(bw, n - 1 - k)
        Lk = L[k]
        for t in range(1, m + 1):
            x = Lk[t] / d
            # the factor decays away from the diagonal: flush what would become denormal
            # numbers (very slow arithmetic) to zero
            Lk[t] = x if abs(x) > _TINY else 0.0
        for t in range(1, m + 1):
            f = Lk[t]
            if f != 0.0:
                Lj = L[k + t]
                for e in range(m - t + 1):
                    Lj[e] -= f * Lk[t + e]
    return True


@njit(cache=True, error_model="numpy")
def _coarse_solve(L: NDArray[np.float64], rhs: NDArray[np.float64], x: NDArray[np.float64],
                  cw: NDArray[np.float64]) -> None:
    """Solve the coarse system for the right-hand side ``rhs`` (ncy, ncx) on the row layer
    (zero on the column layer); the column layer's part of the solution goes to ``cw``."""
    ncy, ncx = rhs.shape
    n, w1 = L.shape
    bw = w1 - 1
    row_major = ncx <= ncy
    x[:] = 0.0
    for ci in range(ncy):
        for cj in range(ncx):
            x[2 * (ci * ncx + cj if row_major else cj * ncy + ci)] = rhs[ci, cj]
    for k in range(n):  # L y = b
        xk = x[k] / L[k, 0]
        x[k] = xk
        Lk = L[k]
        for t in range(1, min(bw, n - 1 - k) + 1):
            x[k + t] -= Lk[t] * xk
    for k in range(n - 1, -1, -1):  # L^T x = y
        Lk = L[k]
        s = x[k]
        for t in range(1, min(bw, n - 1 - k) + 1):
            s -= Lk[t] * x[k + t]
        x[k] = s / Lk[0]
    for ci in range(ncy):
        for cj in range(ncx):
            cw[ci, cj] = x[2 * (ci * ncx + cj if row_major else cj * ncy + ci) + 1]


@njit(cache=True, error_model="numpy")
def _prolong(cw: NDArray[np.float64], xlo: NDArray[np.int64], xhi: NDArray[np.int64],
             tx: NDArray[np.float64], X: NDArray[np.float64]) -> None:
    """``X[I]`` (ncy + 1, cols) = the coarse row ``cw[I]`` interpolated along the rows;
    ``X[ncy] = 0`` (the zero outside the grid)."""
    ncy, ncx = cw.shape
    for p in range(X.shape[1]):
        cj1, cj2, t = xlo[p], xhi[p], tx[p]
        for ci in range(ncy):
            x = 0.0
            if cj1 < ncx:
                x += (1.0 - t) * cw[ci, cj1]
            if cj2 < ncx:
                x += t * cw[ci, cj2]
            X[ci, p] = x
        X[ncy, p] = 0.0


@njit(cache=True, error_model="numpy")
def _restrict(Racc: NDArray[np.float64], xlo: NDArray[np.int64], xhi: NDArray[np.int64],
              tx: NDArray[np.float64], scale: float, rhs: NDArray[np.float64]) -> None:
    """``rhs = scale Z^T r`` from the row sums ``Racc[I] = sum_i a_I(i) r_i`` (the transpose
    of :func:`_prolong`)."""
    ncy, ncx = rhs.shape
    rhs[:] = 0.0
    for p in range(Racc.shape[1]):
        cj1, cj2, t = xlo[p], xhi[p], tx[p]
        for ci in range(ncy):
            x = scale * Racc[ci, p]
            if cj1 < ncx:
                rhs[ci, cj1] += (1.0 - t) * x
            if cj2 < ncx:
                rhs[ci, cj2] += t * x


@njit(cache=True, error_model="numpy")
def _block_in(G: NDArray[np.float64], W: NDArray[np.float64], i0: int, r0: int, rr: float,
              Wl: NDArray[np.float64]) -> None:
    """``Wl[j, k] = rr G[i0 + k, j] W[r0 + k, j]`` for the rows ``i0 + k`` of a block, transposed
    in tiles (``W``: the column-node voltages, ``r0 = i0``, or a buffer of the block's rows,
    ``r0 = 0``)."""
    cols = G.shape[1]
    nb = min(Wl.shape[1], G.shape[0] - i0)
    for j0 in range(0, cols, 8):
        j1 = min(j0 + 8, cols)
        for k in range(nb):
            for j in range(j0, j1):
                Wl[j, k] = rr * G[i0 + k, j] * W[r0 + k, j]


@njit(cache=True, error_model="numpy")
def _block_lines(P: NDArray[np.float64], v: NDArray[np.float64], i0: int,
                 Wl: NDArray[np.float64], q: NDArray[np.float64]) -> None:
    """Solve the row lines of a block side by side: ``Wl`` (cols, _BLK) holds the right-hand
    sides ``rr G w`` on entry and the row-node voltages on exit; ``P`` the block's factors."""
    cols, nk = Wl.shape
    nb = min(nk, v.shape[0] - i0)
    for k in range(nk):
        q[k] = 0.0
    for j in range(cols - 1, -1, -1):  # elimination from the open end
        for k in range(nk):
            x = P[j, k] * (Wl[j, k] + q[k])
            q[k] = x
            Wl[j, k] = x
    for k in range(nk):
        q[k] = v[i0 + k] if k < nb else 0.0  # the drivers
    for j in range(cols):  # substitution from the driver end
        for k in range(nk):
            x = P[j, k] * q[k] + Wl[j, k]
            q[k] = x
            Wl[j, k] = x


@njit(cache=True, error_model="numpy")
def _block_out(Wl: NDArray[np.float64], nb: int, Cb: NDArray[np.float64]) -> None:
    """``Cb[k, j] = Wl[j, k]`` for the block's ``nb`` rows, in tiles."""
    cols = Wl.shape[0]
    for j0 in range(0, cols, 8):
        j1 = min(j0 + 8, cols)
        for k in range(nb):
            for j in range(j0, j1):
                Cb[k, j] = Wl[j, k]


@njit(cache=True, error_model="numpy")
def _column_step(p: NDArray[np.float64], g: NDArray[np.float64], u: NDArray[np.float64],
                 carry: NDArray[np.float64], t: NDArray[np.float64]) -> None:
    """One row of the columns' downward elimination: ``carry = p (g u + carry)``, ``t = carry``."""
    for j in range(carry.shape[0]):
        x = p[j] * (g[j] * u[j] + carry[j])
        carry[j] = x
        t[j] = x


@njit(cache=True, error_model="numpy")
def _sweep_down(G: NDArray[np.float64], PrB: NDArray[np.float64], Pc: NDArray[np.float64],
                rr: float, v: NDArray[np.float64], w: NDArray[np.float64], w_zero: bool,
                T: NDArray[np.float64], X: NDArray[np.float64], corr: bool,
                ylo: NDArray[np.int64], yhi: NDArray[np.int64], ty: NDArray[np.float64],
                Wl: NDArray[np.float64], Cb: NDArray[np.float64], q: NDArray[np.float64],
                carry: NDArray[np.float64]) -> None:
    """First half of a cycle, top to bottom in blocks of ``_BLK`` rows: solve the row lines
    given the column-node voltages ``w`` (zero if ``w_zero``) plus ``X`` interpolated to the
    row if ``corr``, then run the column lines' downward elimination on those rows (``T``,
    ``carry``: currents; ``carry`` ends with the output currents). The block's lines are
    solved side by side in the buffer ``Wl`` (cols, _BLK), transposed in tiles from and to
    ``Cb`` (_BLK, cols). (Each step is a kernel of its own: LLVM vectorises them better.)"""
    rows, cols = G.shape
    for j in range(cols):
        carry[j] = 0.0
    for i0 in range(0, rows, _BLK):
        nb = min(_BLK, rows - i0)
        if corr or w_zero:  # the column-node voltages seen by the block's rows
            for k in range(nb):
                i = i0 + k
                t_ = ty[i]
                lo, hi = ylo[i], yhi[i]
                if not corr:
                    Cb[k] = 0.0
                elif w_zero:
                    for j in range(cols):
                        Cb[k, j] = (1.0 - t_) * X[lo, j] + t_ * X[hi, j]
                else:
                    for j in range(cols):
                        Cb[k, j] = w[i, j] + (1.0 - t_) * X[lo, j] + t_ * X[hi, j]
            _block_in(G, Cb, i0, 0, rr, Wl)
        else:
            _block_in(G, w, i0, i0, rr, Wl)
        if nb < _BLK:
            Wl[:, nb:] = 0.0
        _block_lines(PrB[i0 // _BLK], v, i0, Wl, q)
        _block_out(Wl, nb, Cb)
        for k in range(nb):  # column elimination over the block's rows
            _column_step(Pc[i0 + k], G[i0 + k], Cb[k], carry, T[i0 + k])


@njit(cache=True, error_model="numpy")
def _sweep_up(G: NDArray[np.float64], Pc: NDArray[np.float64], rc: float,
              w: NDArray[np.float64], w_zero: bool, T: NDArray[np.float64],
              carry: NDArray[np.float64], coarse: bool, Racc: NDArray[np.float64],
              ylo: NDArray[np.int64], yhi: NDArray[np.int64], ty: NDArray[np.float64],
              xw: NDArray[np.float64], r: NDArray[np.float64], dmax: NDArray[np.float64]
              ) -> float:
    """Second half of a cycle, bottom to top: the column lines' back substitution gives the
    new column-node voltages, stored in ``w`` (old values: zero if ``w_zero``); returns the
    largest change of ``w``. If ``coarse``, ``Racc`` receives the row sums (weights ``a_I``)
    of ``G (w_new - w_old)``, for :func:`_restrict`."""
    rows, cols = G.shape
    if coarse:
        Racc[:] = 0.0
        S0 = r[cols:2 * cols]  # sums over the rows between two coarse rows: G dw, t G dw
        S1 = r[2 * cols:]
        S0[:] = 0.0
        S1[:] = 0.0
    d = r[:cols]
    for j in range(cols):
        xw[j] = rc * carry[j]
        dmax[j] = 0.0
    for i in range(rows - 1, -1, -1):
        if i < rows - 1:
            for j in range(cols):
                xw[j] = Pc[i, j] * xw[j] + rc * T[i, j]
        if w_zero:
            for j in range(cols):
                d[j] = xw[j]
        else:
            for j in range(cols):
                d[j] = xw[j] - w[i, j]
        for j in range(cols):
            w[i, j] = xw[j]
        for j in range(cols):
            ad = abs(d[j])
            dmax[j] = ad if ad > dmax[j] else dmax[j]
        if coarse:
            t_ = ty[i]
            for j in range(cols):
                x = G[i, j] * d[j]
                S0[j] += x
                S1[j] += t_ * x
            lo, hi = ylo[i], yhi[i]
            if i == 0 or ylo[i - 1] != lo:  # Racc[lo] += sum (1 - t) x, Racc[hi] += sum t x
                for j in range(cols):
                    Racc[lo, j] += S0[j] - S1[j]
                    S0[j] = 0.0
                for j in range(cols):
                    Racc[hi, j] += S1[j]
                    S1[j] = 0.0
    m = 0.0
    for j in range(cols):
        m = dmax[j] if dmax[j] > m else m
    return m


@njit(cache=True, error_model="numpy")
def _correct_residual(Racc: NDArray[np.float64], Gacc: NDArray[np.float64],
                      X: NDArray[np.float64]) -> None:
    """``Racc[I] -= sum_i a_I(i) G_i sum_I' a_I'(i) X[I']``: the part of the residual's row
    sums that comes from the coarse correction ``X`` of the column-node voltages, from the
    cells' row sums ``Gacc`` (the correction is not applied to the stored voltages)."""
    ncy = X.shape[0] - 1
    for ci in range(ncy):
        for j in range(X.shape[1]):
            x = Gacc[ci, 0, j] * X[ci, j] + Gacc[ci, 1, j] * X[ci + 1, j]
            if ci > 0:
                x += Gacc[ci - 1, 1, j] * X[ci - 1, j]
            Racc[ci, j] -= x


@njit(cache=True, error_model="numpy")
def _two_grid(G: NDArray[np.float64], PrB: NDArray[np.float64], Pc: NDArray[np.float64],
              V: NDArray[np.float64], rr: float, rc: float, tol: float, max_iter: int,
              w: NDArray[np.float64], T: NDArray[np.float64], L: NDArray[np.float64],
              coarse: bool, scale: float,
              xlo: NDArray[np.int64], xhi: NDArray[np.int64], tx: NDArray[np.float64],
              ylo: NDArray[np.int64], yhi: NDArray[np.int64], ty: NDArray[np.float64],
              Gacc: NDArray[np.float64], ncy: int, ncx: int, out: NDArray[np.float64],
              info: NDArray[np.float64]) -> int:
    """Two-grid cycles for the vectors of ``V`` in turn (module doc), given the factors.

    Returns a failure code; ``info`` = [failing vector, cycles, final relative change,
    largest number of cycles used].
    """
    rows, cols = G.shape
    batch = V.shape[0]
    Wl = np.empty((cols, _BLK))
    Cb = np.empty((_BLK, cols))
    q = np.empty(_BLK)
    carry = np.empty(cols)
    xw = np.empty(cols)
    r = np.empty(3 * cols)
    dmax = np.empty(cols)
    prev = np.empty(cols)
    X = np.zeros((ncy + 1, cols))
    Racc = np.zeros((ncy + 1, cols))
    rhs = np.zeros((ncy, ncx))
    cw = np.zeros((ncy, ncx))
    xc = np.empty(L.shape[0])
    hist = np.zeros(3)
    max_cycles = 0
    for b in range(batch):
        v = V[b]
        vmax = 0.0
        for i in range(rows):
            vmax = max(vmax, abs(v[i]))
        if vmax == 0.0:
            out[b] = 0.0
            continue
        w_zero = True  # w = 0 before the first cycle
        corr = False
        if coarse:  # start from the coarse grid's solution: the drivers inject V / rr into
            rhs[:] = 0.0  # the nodes (i, 0)
            cj1, cj2, t = xlo[0], xhi[0], tx[0]
            for i in range(rows):
                x = scale * v[i] / rr
                for ci, a in ((ylo[i], 1.0 - ty[i]), (yhi[i], ty[i])):
                    if ci < ncy:
                        if cj1 < ncx:
                            rhs[ci, cj1] += a * (1.0 - t) * x
                        if cj2 < ncx:
                            rhs[ci, cj2] += a * t * x
            _coarse_solve(L, rhs, xc, cw)
            _prolong(cw, xlo, xhi, tx, X)
            corr = True
        delta = 0.0
        done = False
        k = 0
        for k in range(1, max_iter + 1):
            _sweep_down(G, PrB, Pc, rr, v, w, w_zero, T, X, corr, ylo, yhi, ty, Wl, Cb, q,
                        carry)
            d_out = 0.0
            i_max = 0.0
            s = 0.0
            for j in range(cols):
                x = carry[j]
                s += x
                if k > 1:
                    d_out = max(d_out, abs(x - prev[j]))
                i_max = max(i_max, abs(x))
                prev[j] = x
                out[b, j] = x
            dw = _sweep_up(G, Pc, rc, w, w_zero, T, carry, coarse, Racc, ylo, yhi, ty, xw, r,
                           dmax)
            w_zero = False
            delta = dw / vmax
            if i_max > 0.0:
                delta = max(delta, d_out / i_max if k > 1 else 1.0)
            if not (math.isfinite(delta) and math.isfinite(s)):
                info[0] = b
                info[1] = k
                info[2] = delta
                return _NOT_FINITE
            if delta == 0.0:
                done = True
                break
            hist[k % 3] = delta
            if k >= 3:
                lam = max(delta / hist[(k - 1) % 3], hist[(k - 1) % 3] / hist[(k - 2) % 3])
            elif k == 2:
                lam = delta / hist[1]
            else:
                lam = _RATE_CAP
            rate = min(max(lam, _RATE_FLOOR), _RATE_CAP)
            if delta * rate / (1.0 - rate) <= tol:
                done = True
                break
            if coarse:
                if corr:
                    _correct_residual(Racc, Gacc, X)
                _restrict(Racc, xlo, xhi, tx, scale, rhs)
                _coarse_solve(L, rhs, xc, cw)
                _prolong(cw, xlo, xhi, tx, X)
                corr = True
        max_cycles = max(max_cycles, k)
        info[3] = max_cycles
        if not done:
            info[0] = b
            info[1] = k
            info[2] = delta
            return _NOT_CONVERGED
    return _OK


# ---------------------------------------------------------------------------------------------
# layout, coarse grid and work space


class _Tables(NamedTuple):
    """The bilinear coarse functions ``z_IJ(i, j) = a_I(i) b_J(j)`` of a ``rows x cols`` array
    (``ncy x ncx`` nodes) and their 1-D products.

    The coarse nodes sit on cells, so every wire segment lies between two neighbouring coarse
    nodes and the coarse operator couples only neighbours (9-point stencils). Along a row
    (``ncx`` nodes; the driver side is a fixed zero one node spacing before the first node,
    the last node sits on the open end) ``b_xlo[j] = 1 - tx[j]``, ``b_xhi[j] = tx[j]``; along a
    column (``ncy`` nodes on the first and the last row) ``a_ylo[i] = 1 - ty[i]``,
    ``a_yhi[i] = ty[i]``; index ``ncx`` / ``ncy`` stands for the zero outside the grid.
    ``Mx = B^T B``, ``Kx = B^T T_row B`` (``T_row``: the row wire's Laplacian, one segment to
    the driver, open end), ``My = A^T A``, ``Ky = A^T T_col A`` (``T_col``: the column wire's,
    open top, one segment to the sense amp)."""

    xlo: NDArray[np.int64]
    xhi: NDArray[np.int64]
    tx: NDArray[np.float64]
    ylo: NDArray[np.int64]
    yhi: NDArray[np.int64]
    ty: NDArray[np.float64]
    Mx: NDArray[np.float64]
    Kx: NDArray[np.float64]
    My: NDArray[np.float64]
    Ky: NDArray[np.float64]


def _interp(nodes: NDArray[np.float64], index: NDArray[np.int64], n: int, dummy: int
            ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64],
                       NDArray[np.float64]]:
    """Linear interpolation between the nodes at the sorted integer positions ``nodes``
    (coarse index ``index[k]``, -1 for a fixed zero) at the points ``0 .. n-1``: the lower and
    upper node (``dummy`` for the fixed zero), the upper node's weight, and the dense matrix
    (n, number of coarse nodes)."""
    f = np.arange(n, dtype=np.float64)
    m = np.clip(np.searchsorted(nodes, f, side="right") - 1, 0, len(nodes) - 2)
    t = (f - nodes[m]) / (nodes[m + 1] - nodes[m])
    lo, hi = index[m], index[m + 1]
    M = np.zeros((n, dummy + 1))
    M[np.arange(n), np.where(lo < 0, dummy, lo)] += 1.0 - t
    M[np.arange(n), np.where(hi < 0, dummy, hi)] += t
    return np.where(lo < 0, dummy, lo), np.where(hi < 0, dummy, hi), t, M[:, :dummy]


@functools.lru_cache(maxsize=16)
def _tables(rows: int, cols: int, ncy: int, ncx: int) -> _Tables:
    """:class:`_Tables` of a ``rows x cols`` array with ``ncy x ncx`` coarse nodes."""
    # along the rows: a fixed zero at j = -1 (the driver), nodes up to the open end
    xn = np.round(-1.0 + cols / ncx * np.arange(ncx + 1))
    xlo, xhi, tx, B = _interp(xn, np.arange(-1, ncx, dtype=np.int64), cols, ncx)
    Dx = np.vstack([B[:1], np.diff(B, axis=0)])  # segment to the driver, then the row wire
    # along the columns: nodes on the first and the last row
    if ncy == 1:
        ylo, yhi, ty, A = (np.zeros(rows, np.int64), np.ones(rows, np.int64), np.zeros(rows),
                           np.ones((rows, 1)))
    else:
        yn = np.round((rows - 1) / (ncy - 1) * np.arange(ncy, dtype=np.float64))
        ylo, yhi, ty, A = _interp(yn, np.arange(ncy, dtype=np.int64), rows, ncy)
    Dy = np.vstack([np.diff(A, axis=0), A[-1:]])  # the column wire, then the sense amp
    return _Tables(xlo, xhi, tx, ylo, yhi, ty, B.T @ B, Dx.T @ Dx, A.T @ A, Dy.T @ Dy)


def _coarse_size(rows: int, cols: int, rr: float, rc: float, g_mean: float) -> tuple[int, int]:
    """Coarse nodes (ncy, ncx): ``_COARSE_PER_LENGTH`` per decay length of a line (the
    distance over which a line and the lines crossing it exchange their current), at least
    2, at most the fine nodes, and few enough that the banded factorisation of the coarse
    operator costs at most ``_COARSE_COST`` flops per cell."""
    def count(n: int, rp: float) -> int:
        return min(n, max(2, math.ceil(_COARSE_PER_LENGTH * n * math.sqrt(rp * g_mean))))

    ncy, ncx = count(rows, rc), count(cols, rr)
    budget = _COARSE_COST * rows * cols
    while ncy * ncx > 4:
        bw = 2 * min(ncy, ncx) + 3
        if ncy * ncx * bw * bw <= budget:  # 2 ncy ncx unknowns, bw^2 / 2 flops each
            break
        if ncy * rows >= ncx * cols or ncx <= 2:
            ncy = max(2, ncy * 7 // 8)
        else:
            ncx = max(2, ncx * 7 // 8)
    return ncy, ncx


def _work_space(rows: int, cols: int) -> NDArray[np.float64]:
    """Work space of :func:`_coupled` (4 arrays of rows x cols, one with the rows rounded up
    to blocks);
    the last one of each thread is kept if it is small.

    Fresh large arrays cost page faults (about 1 ms for a 256x256 array's 2.5 MB), comparable
    to a few cycles.
    """
    n = (-(-rows // _BLK) * _BLK + 3 * rows) * cols
    ws = getattr(_work, "ws", None)
    if ws is None or ws.shape != (n,):
        ws = np.empty(n)
        _work.ws = ws if ws.nbytes <= _WORK_KEEP_BYTES else None
    return ws


def _coupled(g: NDArray[np.float64], v: NDArray[np.float64], rc: float, rr: float, tol: float,
             max_iter: int, out: NDArray[np.float64], info: NDArray[np.float64]) -> int:
    """Column currents ``out`` (batch, cols) with row and column parasitics (rr > 0).

    Returns a failure code (0 = all converged; :func:`_check_code` of ``G`` first);
    ``info`` = [failing vector, cycles, final relative change, largest number of cycles
    used, coarse nodes per layer].
    """
    rows, cols = g.shape
    coarse = rc > 0.0
    ncy, ncx = 1, 2
    if coarse:  # sized by the mean conductance of a sample of the rows
        g_mean = float(np.mean(g[::8]))
        g_mean = g_mean if math.isfinite(g_mean) and g_mean > 0.0 else 0.0
        ncy, ncx = _coarse_size(rows, cols, rr, rc, g_mean)
    tab = _tables(rows, cols, ncy, ncx)
    blocks = -(-rows // _BLK)
    ws = _work_space(rows, cols)
    PrB = ws[:blocks * _BLK * cols].reshape(blocks, cols, _BLK)
    Pc, w, T = ws[blocks * _BLK * cols:].reshape(3, rows, cols)
    Gacc = np.zeros((ncy + 1, 2, cols) if coarse else (0, 2, cols))
    code = _setup(g, rr, rc, PrB, Pc, tab.ylo, tab.yhi, tab.ty, Gacc)
    if code != _OK:
        return code
    scale = max(rr, rc)  # the coarse equations are in units of 1 / scale
    L = np.empty((2 * ncy * ncx, 2 * min(ncy, ncx) + 4))
    if coarse:
        gt = np.empty((ncy, 2, ncx, 3))
        _coarse_cells(Gacc, tab.xlo, tab.xhi, tab.tx, gt)
        coarse = _coarse_factor(tab.My, tab.Ky, tab.Mx, tab.Kx, gt, scale / rr, scale / rc,
                                scale, L)
    info[4] = ncy * ncx if coarse else 0
    return _two_grid(g, PrB, Pc, v, rr, rc, tol, max_iter, w, T, L, coarse, scale, tab.xlo,
                     tab.xhi, tab.tx, tab.ylo, tab.yhi, tab.ty, Gacc, ncy, ncx, out, info)


# ---------------------------------------------------------------------------------------------
# public API


def _as_float_array(x: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be an array of real numbers ({exc})") from None
    return np.ascontiguousarray(a)


def _as_rp(x: float, name: str) -> float:
    try:
        r = float(x)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number >= 0, got {x!r}") from None
    if not (math.isfinite(r) and r >= 0.0):
        raise ConfigError(f"{name} must be a finite number >= 0, got {x!r}")
    return r


def solve_crossbar(G: ArrayLike, V: ArrayLike, rp_col: float, rp_row: float = 0.0, *,
                   tol: float = 1e-9, max_iter: int = 1000) -> NDArray[np.float64]:
    """Column currents of a crossbar with parasitic wire resistance (circuit in the module doc).

    Args:
        G: cell conductances (rows, cols), normalised to Gmax (>= 0, finite).
        V: row input voltages in volts, one vector (rows,) or a batch (batch, rows).
        rp_col: ``rp_norm``, resistance of one bit-line (column) segment times Gmax (>= 0).
        rp_row: ``rp_row_norm``, resistance of one word-line (row) segment times Gmax (>= 0);
            0 means ideal row wires and drivers.
        tol: convergence tolerance on node voltages, relative to ``max|V|``, and on the
            output currents, relative to the largest (rp_row > 0 only).
        max_iter: maximum number of two-grid cycles ("sweeps", rp_row > 0 only).

    Returns:
        Currents into the sense amplifiers in units of Gmax x 1 V: (batch, cols), or (cols,)
        for a 1-D ``V``. With ``rp_col = rp_row = 0`` this is ``V @ G``.

    With ``rp_row > 0`` the solver needs 4 arrays of rows x cols float64 of work space (32 MB
    for 1024x1024) and takes 4-6 two-grid cycles ("sweeps") at ``rp_norm = rp_norm_row``
    between 1e-5 and 1e-3 (more with strong parasitics: about 40 at 0.1 on 512x512).

    Raises:
        ConfigError: invalid arguments (the message names the argument).
        IRDropError: the iteration did not converge within ``max_iter`` cycles, or the
            solution is not finite.
    """
    return _solve(G, V, rp_col, rp_row, tol, max_iter)[0]


def solve_crossbar_stats(G: ArrayLike, V: ArrayLike, rp_col: float, rp_row: float = 0.0, *,
                         tol: float = 1e-9, max_iter: int = 1000
                         ) -> tuple[NDArray[np.float64], dict[str, float]]:
    """:func:`solve_crossbar` (same arguments and errors) plus the solver's statistics:
    ``sweeps``, the most two-grid cycles (each one line sweep) any input vector needed (0 for
    the direct solve, ``rp_row = 0``), and ``coarse_nodes``, the coarse grid's nodes per
    layer (0 without one: the direct solve, or ideal columns, ``rp_col = 0``)."""
    return _solve(G, V, rp_col, rp_row, tol, max_iter)


def _solve(G: ArrayLike, V: ArrayLike, rp_col: float, rp_row: float, tol: float, max_iter: int
           ) -> tuple[NDArray[np.float64], dict[str, float]]:
    """:func:`solve_crossbar` plus the statistics of :func:`solve_crossbar_stats`."""
    rc = _as_rp(rp_col, "rp_col (rp_norm)")
    rr = _as_rp(rp_row, "rp_row (rp_row_norm)")
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise ConfigError(f"tol must be a positive number, got {tol!r}") from None
    if not (math.isfinite(tol) and tol > 0.0):
        raise ConfigError(f"tol must be a positive number, got {tol!r}")
    try:
        max_iter = operator.index(max_iter)
    except TypeError:
        raise ConfigError(f"max_iter must be an integer >= 1, got {max_iter!r}") from None
    if max_iter < 1:
        raise ConfigError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    g = _as_float_array(G, "G")
    if g.ndim != 2 or g.shape[0] == 0 or g.shape[1] == 0:
        raise ConfigError(f"G must be a non-empty 2-D array (rows, cols), got shape {g.shape}")
    v = _as_float_array(V, "V")
    if not np.all(np.isfinite(v)):
        raise ConfigError("V contains NaN or infinite values")
    rows, cols = g.shape
    if v.ndim not in (1, 2) or v.shape[-1] != rows:
        raise ConfigError(f"V must have shape ({rows},) or (batch, {rows}) to match G of shape "
                          f"{g.shape}, got {v.shape}")
    single = v.ndim == 1
    v2 = v.reshape(1, rows) if single else v
    out = np.empty((v2.shape[0], cols))
    info = np.zeros(5)
    if rr == 0.0:
        code = _columns_direct(g, v2, rc, out)
    elif v2.shape[0]:
        code = _coupled(g, v2, rc, rr, tol, max_iter, out, info)
    else:
        code = _check_matrix(g)
    if code == _BAD_NONFINITE:
        raise ConfigError("G contains NaN or infinite values")
    if code == _BAD_NEGATIVE:
        raise ConfigError(f"G must not have negative conductances (min {g.min():g})")
    if rr == 0.0:
        if not np.all(np.isfinite(out)):
            raise IRDropError(f"IR-drop solution is not finite for rp_norm (rp_col)={rc:g} on a "
                              f"{rows}x{cols} array: check the magnitudes of G and V")
    elif code != _OK:
        what = ("did not converge" if code == _NOT_CONVERGED
                else "diverged (non-finite node voltages)")
        raise IRDropError(
            f"IR-drop solver {what} for rp_norm (rp_col)={rc:g}, rp_row_norm (rp_row)={rr:g} "
            f"on a {rows}x{cols} array: input vector {int(info[0])}, {int(info[1])} sweeps "
            f"(max_iter={max_iter}), final relative change {info[2]:.3g} (tol={tol:g}); "
            f"lower rp_norm/rp_row_norm, use smaller arrays or raise max_iter")
    stats = {"sweeps": float(info[3]), "coarse_nodes": float(info[4])}
    return (out[0] if single else out), stats
