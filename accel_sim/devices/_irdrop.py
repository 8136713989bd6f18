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
* ``rp_row > 0``: block (line) successive over-relaxation. One sweep solves every row line given
  the column-node voltages, then every column line given the new row-node voltages (each line
  exactly), and relaxes both with the factor ``omega``. The row/column split makes the nodal
  matrix (symmetric positive definite) 2-cyclic, so the sweep converges for ``0 < omega < 2``
  and Young's theory gives the optimal factor ``omega = 2 / (1 + sqrt(1 - mu^2))`` from the
  block-Jacobi spectral radius ``mu``. ``omega`` starts at 1 (Gauss-Seidel) and is raised
  adaptively: once the ratio ``lam`` of successive sweep changes has settled, ``mu^2`` is
  estimated as ``(lam + omega - 1)^2 / (lam * omega^2)`` (Hageman & Young's adaptive SOR);
  ``omega`` only grows and stays below 2. The batch's later vectors start from the factor found
  for the previous one (the iteration matrix does not depend on ``V``). The change of a sweep is
  the larger of the largest change of any node voltage relative to ``max|V|`` and the largest
  change of an output current relative to the largest output current (the latter matters when
  the drop is large and the currents are far below ``|V| @ G``). A vector has converged when
  that change, and the change times the estimated remaining-error factor ``lam / (1 - lam)``
  (``lam`` the observed contraction rate, capped at 0.9), are both at most ``tol``. The output is
  the current of the last column solve.

The kernels are compiled with numba (``cache=True``) and run on one core. Parallel variants
(``prange`` over column blocks or batch vectors) were measured 1.8x faster on an idle two-core
machine but 2-20x slower as soon as other processes (such as the simulator's own worker
processes) load the cores, so parallelism is left to the caller's processes.
"""

from __future__ import annotations

import math
import operator
import threading

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from accel_sim.errors import AccelSimError, ConfigError

__all__ = ["IRDropError", "solve_crossbar", "solve_crossbar_stats"]

# The kernels below use error_model="numpy": no ZeroDivisionError check on float division,
# which lets LLVM vectorise the divisions (the divisors here are >= 1).
_CHUNK = 256  # columns per block of the direct (rp_row = 0) kernel
_RATE_CAP = 0.9  # largest contraction rate used in the remaining-error estimate
_OMEGA_MAX = 1.95  # upper bound of the relaxation factor
_WINDOW = 5  # sweeps over which the contraction rate is measured
_N_WORK = 11  # arrays of rows x cols in the work space of the coupled solver
_WORK_KEEP_BYTES = 32 * 2**20  # keep (per thread) work spaces up to this size between calls
_work = threading.local()

# result codes of the kernels
_OK, _NOT_CONVERGED, _NOT_FINITE, _BAD_NEGATIVE, _BAD_NONFINITE = 0, 1, 2, 3, 4


class IRDropError(AccelSimError):
    """The IR-drop solver did not converge, or its solution is not finite."""


# ---------------------------------------------------------------------------------------------
# kernels


@njit(cache=True, error_model="numpy")
def _transpose(a: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """``out[:] = a.T`` for C-contiguous arrays, in blocks of 8 rows (vectorised stores)."""
    rows, cols = a.shape
    r8 = rows - rows % 8
    for i0 in range(0, r8, 8):
        for j in range(cols):
            for k in range(8):
                out[j, i0 + k] = a[i0 + k, j]
    for i in range(r8, rows):
        for j in range(cols):
            out[j, i] = a[i, j]


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
def _line_factors(GL: NDArray[np.float64], rp: float, P: NDArray[np.float64],
                  H: NDArray[np.float64], scale: float, reverse: bool) -> None:
    """Elimination factors of the lines of ``GL`` (one line per column, running along axis 0).

    The elimination starts at index 0 (or at the last index if ``reverse``):
    ``P = 1 / (1 + e_prev + rp G)``, ``e = (e_prev + rp G) P``, ``H = scale * G * P``.
    """
    n_steps, n_lines = GL.shape
    e = np.zeros(n_lines)
    for t in range(n_steps):
        s = n_steps - 1 - t if reverse else t
        g = GL[s]
        ps = P[s]
        hs = H[s]
        for k in range(n_lines):
            a = rp * g[k]
            d = 1.0 / (1.0 + e[k] + a)
            e[k] = (e[k] + a) * d
            ps[k] = d
            hs[k] = scale * g[k] * d


@njit(cache=True, error_model="numpy")
def _column_sweep(u: NDArray[np.float64], Pc: NDArray[np.float64], Hc: NDArray[np.float64],
                  rc: float, w: NDArray[np.float64], T: NDArray[np.float64], omega: float,
                  out: NDArray[np.float64], carry: NDArray[np.float64],
                  dmax: NDArray[np.float64]) -> float:
    """Solve every column line given row-node voltages ``u`` (rows, cols); relax into ``w``.

    ``out`` receives the column currents; returns the largest ``|change|`` of ``w``.
    Work arrays: ``T`` (rows, cols), ``carry`` and ``dmax`` (>= cols).
    """
    rows, cols = u.shape
    for j in range(cols):
        carry[j] = 0.0
    for i in range(rows):  # downward elimination: carry = current in the segment below node i
        h = Hc[i]
        p = Pc[i]
        ui = u[i]
        t = T[i]
        for j in range(cols):
            x = h[j] * ui[j] + p[j] * carry[j]
            carry[j] = x
            t[j] = x
    for j in range(cols):
        out[j] = carry[j]
        carry[j] = rc * carry[j]  # voltage of the last node
        dmax[j] = 0.0
    for i in range(rows - 1, -1, -1):  # upward substitution of the node voltages
        p = Pc[i]
        t = T[i]
        wi = w[i]
        if i < rows - 1:
            for j in range(cols):
                carry[j] = p[j] * carry[j] + rc * t[j]
        for j in range(cols):
            d = omega * (carry[j] - wi[j])
            wi[j] += d
            ad = abs(d)
            dmax[j] = ad if ad > dmax[j] else dmax[j]
    m = 0.0
    for j in range(cols):
        m = dmax[j] if dmax[j] > m else m
    return m


@njit(cache=True, error_model="numpy")
def _row_sweep(wT: NDArray[np.float64], PrT: NDArray[np.float64], ArT: NDArray[np.float64],
               v: NDArray[np.float64], uT: NDArray[np.float64], QT: NDArray[np.float64],
               omega: float, carry: NDArray[np.float64], dmax: NDArray[np.float64]) -> float:
    """Solve every row line given column-node voltages ``wT`` (cols, rows); relax into ``uT``.

    Transposed layout (axis 0 runs along the row wire) so that all rows advance together.
    Returns the largest ``|change|`` of ``uT``. Work arrays: ``QT`` (cols, rows), ``carry`` and
    ``dmax`` (>= rows).
    """
    cols, rows = wT.shape
    for i in range(rows):
        carry[i] = 0.0
    for j in range(cols - 1, -1, -1):  # elimination from the open (right) end
        a = ArT[j]
        p = PrT[j]
        wj = wT[j]
        q = QT[j]
        for i in range(rows):
            x = a[i] * wj[i] + p[i] * carry[i]
            carry[i] = x
            q[i] = x
    for i in range(rows):
        carry[i] = v[i]  # the driver
        dmax[i] = 0.0
    for j in range(cols):  # substitution from the driver end
        p = PrT[j]
        q = QT[j]
        uj = uT[j]
        for i in range(rows):
            x = p[i] * carry[i] + q[i]
            carry[i] = x
            d = omega * (x - uj[i])
            uj[i] += d
            ad = abs(d)
            dmax[i] = ad if ad > dmax[i] else dmax[i]
    m = 0.0
    for i in range(rows):
        m = dmax[i] if dmax[i] > m else m
    return m


@njit(cache=True, error_model="numpy")
def _relax(Pc: NDArray[np.float64], Hc: NDArray[np.float64], PrT: NDArray[np.float64],
           ArT: NDArray[np.float64], V: NDArray[np.float64], rc: float, tol: float,
           max_iter: int, out: NDArray[np.float64], info: NDArray[np.float64],
           ws: NDArray[np.float64]) -> int:
    """Line relaxation of the vectors of ``V`` in turn, given the elimination factors.

    ``ws`` (6, rows * cols) is work space. Returns a failure code and fills ``info`` as
    :func:`_coupled` describes.
    """
    rows, cols = Pc.shape
    batch = V.shape[0]
    u = ws[0].reshape((rows, cols))
    w = ws[1].reshape((rows, cols))
    T = ws[2].reshape((rows, cols))
    uT = ws[3].reshape((cols, rows))
    wT = ws[4].reshape((cols, rows))
    QT = ws[5].reshape((cols, rows))
    n = max(rows, cols)
    carry = np.empty(n)
    dmax = np.empty(n)
    hist = np.zeros(_WINDOW)  # relative changes of the last sweeps (ring buffer)
    prev = np.empty(cols)  # output currents of the previous sweep
    omega0 = 1.0
    max_sweeps = 0
    for b in range(batch):
        v = V[b]
        vmax = 0.0
        for i in range(rows):
            vmax = max(vmax, abs(v[i]))
        if vmax == 0.0:
            out[b] = 0.0
            continue
        for i in range(rows):
            u[i] = v[i]
        _transpose(u, uT)
        w[:] = 0.0
        _column_sweep(u, Pc, Hc, rc, w, T, 1.0, out[b], carry, dmax)  # rp_row = 0 solution
        prev[:] = out[b]
        omega = omega0
        last_change = 0  # sweep after which omega was last changed
        delta = 0.0
        done = False
        k = 0
        for k in range(1, max_iter + 1):
            _transpose(w, wT)
            du = _row_sweep(wT, PrT, ArT, v, uT, QT, omega, carry, dmax)
            _transpose(uT, u)
            dw = _column_sweep(u, Pc, Hc, rc, w, T, omega, out[b], carry, dmax)
            d_out = 0.0
            i_max = 0.0
            s = 0.0
            for j in range(cols):
                x = out[b, j]
                s += x
                d_out = max(d_out, abs(x - prev[j]))
                i_max = max(i_max, abs(x))
                prev[j] = x
            delta = max(du, dw) / vmax
            if i_max > 0.0:
                delta = max(delta, d_out / i_max)
            if not (math.isfinite(delta) and math.isfinite(s)):
                info[0] = b
                info[1] = k
                info[2] = delta
                return _NOT_FINITE
            if delta == 0.0:
                done = True
                break
            hist[k % _WINDOW] = delta
            # contraction rate: geometric mean over the window (robust to the oscillation of
            # over-relaxed sweeps), else the last ratio, else the cap
            if k >= _WINDOW:
                lam = (delta / hist[(k - _WINDOW + 1) % _WINDOW]) ** (1.0 / (_WINDOW - 1))
            elif k > 1:
                lam = delta / hist[(k - 1) % _WINDOW]
            else:
                lam = _RATE_CAP
            rate = min(max(lam, 0.0), _RATE_CAP)
            if delta <= tol and delta * rate / (1.0 - rate) <= tol:
                done = True
                break
            # adaptive SOR: raise omega only while clearly under-relaxed (a dominant real
            # eigenvalue lam > omega - 1, steady over the window); over-relaxed sweeps contract
            # by omega - 1 on average and leave omega alone
            if k - last_change >= _WINDOW and lam < 1.0 and lam > omega - 1.0 + 0.1 * (2.0 - omega):
                steady = True
                for m in range(1, _WINDOW):
                    r = hist[(k - m + 1) % _WINDOW] / hist[(k - m) % _WINDOW]
                    steady = steady and abs(r - lam) <= 0.1 * (1.0 - lam)
                if steady:
                    mu2 = (lam + omega - 1.0) ** 2 / (lam * omega * omega)
                    if mu2 < 1.0:
                        new = min(2.0 / (1.0 + math.sqrt(1.0 - mu2)), _OMEGA_MAX)
                        if new > omega + 1e-3:
                            omega = new
                            last_change = k
        max_sweeps = max(max_sweeps, k)
        info[3] = max_sweeps
        info[4] = omega
        if not done:
            info[0] = b
            info[1] = k
            info[2] = delta
            return _NOT_CONVERGED
        omega0 = omega
    return _OK


@njit(cache=True, error_model="numpy")
def _coupled(G: NDArray[np.float64], V: NDArray[np.float64], rc: float, rr: float, tol: float,
             max_iter: int, out: NDArray[np.float64], info: NDArray[np.float64],
             ws: NDArray[np.float64]) -> int:
    """Column currents ``out`` (batch, cols) with row and column parasitics (rr > 0).

    ``ws`` (_N_WORK, rows * cols) is work space. Returns a failure code (0 = all converged);
    ``info`` = [failing vector, sweeps, final relative change, largest number of sweeps used,
    last relaxation factor].
    """
    rows, cols = G.shape
    GT = ws[0].reshape((cols, rows))
    _transpose(G, GT)
    Pc = ws[1].reshape((rows, cols))
    Hc = ws[2].reshape((rows, cols))
    _line_factors(G, rc, Pc, Hc, 1.0, False)
    PrT = ws[3].reshape((cols, rows))
    ArT = ws[4].reshape((cols, rows))
    _line_factors(GT, rr, PrT, ArT, rr, True)  # row lines: from the open end j = cols-1
    return _relax(Pc, Hc, PrT, ArT, V, rc, tol, max_iter, out, info, ws[5:])


def _work_space(rows: int, cols: int) -> NDArray[np.float64]:
    """Work space of :func:`_coupled`; the last one of each thread is kept if it is small.

    Fresh large arrays cost page faults (about 1 ms for a 256x256 array's 5 MB), comparable to
    several sweeps.
    """
    ws = getattr(_work, "ws", None)
    if ws is None or ws.shape != (_N_WORK, rows * cols):
        ws = np.empty((_N_WORK, rows * cols))
        _work.ws = ws if ws.nbytes <= _WORK_KEEP_BYTES else None
    return ws


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
        tol: convergence tolerance on node voltages, relative to ``max|V|`` (rp_row > 0 only).
        max_iter: maximum number of line-relaxation sweeps (rp_row > 0 only).

    Returns:
        Currents into the sense amplifiers in units of Gmax x 1 V: (batch, cols), or (cols,)
        for a 1-D ``V``. With ``rp_col = rp_row = 0`` this is ``V @ G``.

    With ``rp_row > 0`` the solver needs 11 arrays of rows x cols float64 of work space (88 MB
    for 1024x1024); a 256x256 MVM takes about 10-15 sweeps at ``rp_norm = 1e-4``.

    Raises:
        ConfigError: invalid arguments (the message names the argument).
        IRDropError: the iteration did not converge within ``max_iter`` sweeps, or the
            solution is not finite.
    """
    return _solve(G, V, rp_col, rp_row, tol, max_iter)[0]


def solve_crossbar_stats(G: ArrayLike, V: ArrayLike, rp_col: float, rp_row: float = 0.0, *,
                         tol: float = 1e-9, max_iter: int = 1000
                         ) -> tuple[NDArray[np.float64], dict[str, float]]:
    """:func:`solve_crossbar` (same arguments and errors) plus the solver's statistics:
    ``sweeps``, the most line-relaxation sweeps any input vector needed (0 for the direct
    solve, ``rp_row = 0``), and ``omega``, the last relaxation factor."""
    return _solve(G, V, rp_col, rp_row, tol, max_iter)


def _solve(G: ArrayLike, V: ArrayLike, rp_col: float, rp_row: float, tol: float, max_iter: int
           ) -> tuple[NDArray[np.float64], dict[str, float]]:
    """:func:`solve_crossbar` plus statistics: ``sweeps`` (the largest number of sweeps any
    vector needed; 0 for the direct solve) and ``omega`` (the last relaxation factor)."""
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
    info[4] = 1.0
    code = _columns_direct(g, v2, rc, out) if rr == 0.0 else _check_matrix(g)
    if code == _BAD_NONFINITE:
        raise ConfigError("G contains NaN or infinite values")
    if code == _BAD_NEGATIVE:
        raise ConfigError(f"G must not have negative conductances (min {g.min():g})")
    if rr == 0.0:
        if not np.all(np.isfinite(out)):
            raise IRDropError(f"IR-drop solution is not finite for rp_norm (rp_col)={rc:g} on a "
                              f"{rows}x{cols} array: check the magnitudes of G and V")
    elif v2.shape[0]:
        code = _coupled(g, v2, rc, rr, tol, max_iter, out, info, _work_space(rows, cols))
        if code != _OK:
            what = ("did not converge" if code == _NOT_CONVERGED
                    else "diverged (non-finite node voltages)")
            raise IRDropError(
                f"IR-drop solver {what} for rp_norm (rp_col)={rc:g}, rp_row_norm (rp_row)={rr:g} "
                f"on a {rows}x{cols} array: input vector {int(info[0])}, {int(info[1])} sweeps "
                f"(max_iter={max_iter}), final relative change {info[2]:.3g} (tol={tol:g}); "
                f"lower rp_norm/rp_row_norm, use smaller arrays or raise max_iter")
    stats = {"sweeps": float(info[3]), "omega": float(info[4])}
    return (out[0] if single else out), stats
