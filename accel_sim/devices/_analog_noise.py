"""Per-cell read noise with conductances clipped at 0 (numba), the path of
:meth:`accel_sim.devices._analog_core.AnalogLayer._read` when clipping matters.

A read of cell ``(i, j)`` sees ``max(G_ij + s_ij z, 0)`` with ``z`` standard normal, fresh per
cell and per read, and ``s_ij = sigma`` (``independent``, in units of Gmax) or ``sigma x G_ij``
(``proportional``). The column current is ``sum_i v_i max(G_ij + s_ij z_ij, 0)``: exact in
distribution (one draw per cell with a non-zero input), unlike one Gaussian per column, which
cannot clip.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["noisy_reads"]


@numba.njit(cache=True)
def _reads(v: np.ndarray, g: np.ndarray, sigma: float, proportional: bool,
           seed: int) -> np.ndarray:  # pragma: no cover - compiled
    np.random.seed(seed)
    batch, rows = v.shape
    cols = g.shape[1]
    out = np.zeros((batch, cols))
    for b in range(batch):
        for i in range(rows):
            vi = v[b, i]
            if vi == 0.0:
                continue
            for j in range(cols):
                gij = g[i, j]
                s = sigma * gij if proportional else sigma
                x = gij + s * np.random.standard_normal()
                if x > 0.0:
                    out[b, j] += vi * x
    return out


def noisy_reads(v: np.ndarray, g: np.ndarray, sigma: float, proportional: bool,
                rng: np.random.Generator) -> np.ndarray:
    """Column currents ``(batch, cols)`` of inputs ``v`` ``(batch, rows)`` on conductances
    ``g`` ``(rows, cols)`` with per-cell read noise clipped at 0 (module docstring); the draw
    is seeded from ``rng``."""
    seed = int(rng.integers(0, 2**31 - 1))
    return _reads(np.ascontiguousarray(v, dtype=np.float64),
                  np.ascontiguousarray(g, dtype=np.float64), float(sigma), bool(proportional),
                  seed)
