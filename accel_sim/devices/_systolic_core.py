"""Closed-form, vectorised timing of a systolic array (SCALE-Sim v3 compatible).

A layer is a GEMM ``(M, N, K)``: ``M`` ofmap pixels, ``N`` filters, ``K`` window (R*S*C). Each
dataflow maps two of the dimensions onto the array (the *spatial* dimensions ``Sr`` on the rows
and ``Sc`` on the columns) and streams the third (``T``) through it:

==========  ===============  ==========================================
dataflow    (Sr, Sc, T)       cycles of one fold (fill + stream + drain)
==========  ===============  ==========================================
``os``      (M, N, K)         T + AR + AC - 2
``ws``      (K, N, M)         2*AR + AC + T - 2  (AR cycles to load weights)
``is``      (K, M, N)         2*AR + AC + T - 2
==========  ===============  ==========================================

With ``folds = ceil(Sr/AR) * ceil(Sc/AC)``, SCALE-Sim's "Total Cycles" without stalls is
``folds * fold_cycles - 1`` (the last output is written one cycle before the next fold would
start). Source: SCALE-Sim v3 (scalesim-project/scale-sim-v3), compute/systolic_*.py, checked
against its reports (``../shared/data/scalesim/reference``, zero difference).

The *double-buffered* timing is the realistic alternative: weights (ws), inputs (is) or
outputs (os) of the next fold are loaded/drained while the current fold streams, so consecutive
folds overlap and only the first fill and the last drain are exposed:
``fill + folds * max(T, AR) + AR + AC - 2`` with ``fill = AR`` for ws/is and 0 for os.

Arithmetic is float64, not int64: products such as folds x cycles per fold reach 2**65 within
the IR's limits (2**53 folds of a ``batch*m = 2**53`` GEMM on a 1 x 4096 array, 4096 cycles
each), where int64 wraps around silently (a negative cycle count). Every count up to 2**53 is
exact in float64, and floor division of such integers is exact too.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: Sizes: per-layer arrays, or one layer's integers.
_Size = TypeVar("_Size", np.ndarray, int)

DATAFLOWS = ("os", "ws", "is")


def ceil_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Elementwise ceiling division of non-negative integer values (int or float arrays)."""
    return -(-np.asarray(a) // b)


def _f64(*arrays: np.ndarray | int) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, np.float64) for a in arrays)


def spatio_temporal(m: _Size, n: _Size, k: _Size, dataflow: str) -> tuple[_Size, _Size, _Size]:
    """(Sr, Sc, T) of each GEMM for a dataflow."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")


def fold_counts(sr: np.ndarray, sc: np.ndarray, rows: int | np.ndarray, cols: int | np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Row folds ``ceil(Sr/AR)`` and column folds ``ceil(Sc/AC)``."""
    return ceil_div(sr, rows), ceil_div(sc, cols)


def fold_cycles(t: np.ndarray | int, rows: int | np.ndarray, cols: int | np.ndarray,
                dataflow: str) -> np.ndarray | int:
    """Cycles of one fold in SCALE-Sim's model."""
    if dataflow == "os":
        return t + rows + cols - 2
    return 2 * rows + cols + t - 2


def compute_cycles(m: np.ndarray | int, n: np.ndarray | int, k: np.ndarray | int,
                   rows: int | np.ndarray, cols: int | np.ndarray, dataflow: str,
                   timing: str = "scalesim") -> np.ndarray:
    """Stall-free cycles of each GEMM (float64), SCALE-Sim's or double-buffered timing."""
    m, n, k = _f64(m, n, k)
    sr, sc, t = spatio_temporal(m, n, k, dataflow)
    fr, fc = fold_counts(sr, sc, rows, cols)
    folds = fr * fc
    if timing == "scalesim":
        return folds * fold_cycles(t, rows, cols, dataflow) - 1
    fill = 0 if dataflow == "os" else rows
    return fill + folds * np.maximum(t, rows) + rows + cols - 2


def utilisation_terms(m: np.ndarray, n: np.ndarray, k: np.ndarray, rows: int | np.ndarray,
                      cols: int | np.ndarray, dataflow: str) -> tuple[np.ndarray, np.ndarray]:
    """(mapping efficiency, compute utilisation) as SCALE-Sim defines them, as fractions.

    Mapping efficiency: mean over folds of the fraction of PEs holding a mapped element,
    ``Sr*Sc / (folds_r*AR * folds_c*AC)``. Compute utilisation: mapping efficiency times the
    fraction of a fold's cycles spent streaming ``T`` (SCALE-Sim counts ``T + AR + AC - 2``
    cycles per fold for os and ``T + 2*AR + 2*AC - 3`` for ws/is in this ratio).
    """
    m, n, k = _f64(m, n, k)
    sr, sc, t = spatio_temporal(m, n, k, dataflow)
    fr, fc = fold_counts(sr, sc, rows, cols)
    mapping = (sr * sc) / (fr * rows * fc * cols)
    denom = t + rows + cols - 2 if dataflow == "os" else t + 2 * rows + 2 * cols - 3
    return mapping, mapping * t / denom


def sram_accesses(m: np.ndarray, n: np.ndarray, k: np.ndarray, rows: int | np.ndarray,
                  cols: int | np.ndarray, dataflow: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words read from the ifmap and filter SRAMs and written to the ofmap SRAM (float64).

    Each fold reads its stationary operand once and streams the moving operand through every
    used row (or column), so operands are re-read once per fold along the other dimension:

    * os: ifmap ``M*K*ceil(N/AC)``, filter ``N*K*ceil(M/AR)``, ofmap ``M*N``;
    * ws: ifmap ``M*K*ceil(N/AC)``, filter ``K*N``, ofmap ``M*N*ceil(K/AR)`` (partial sums);
    * is: ifmap ``M*K``, filter ``N*K*ceil(M/AC)``, ofmap ``M*N*ceil(K/AR)``.
    """
    m, n, k = _f64(m, n, k)
    if dataflow == "os":
        return m * k * ceil_div(n, cols), n * k * ceil_div(m, rows), m * n
    if dataflow == "ws":
        return m * k * ceil_div(n, cols), k * n, m * n * ceil_div(k, rows)
    return m * k, n * k * ceil_div(m, cols), m * n * ceil_div(k, rows)
