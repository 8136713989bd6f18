"""Roofline units, placement and the MoE kernel shared by the xPU/PIM serving devices.

Every operator on a processing unit takes ``max(FLOPs / F, bytes / B) + overhead`` where ``F`` and
``B`` are the unit's *effective* compute rate and bandwidth (peak x efficiency). Energy is
``bytes x 8 x e_bit + bytes / row x e_act + FLOPs x e_flop`` (DRAM read path, row activations,
arithmetic). Constants and their sources are in :mod:`accel_sim.devices.llm_system`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["ATTN", "DENSE", "EXPERT", "VECTOR", "Unit", "tile_rows"]

#: Row kinds of a serving iteration: weights split over tensor parallelism (DENSE), replicated
#: vector operators (VECTOR), attention (ATTN), MoE experts (EXPERT).
DENSE, VECTOR, ATTN, EXPERT = 0, 1, 2, 3


@dataclass(frozen=True)
class Unit:
    """Effective rates of one processing unit of one device.

    Attributes:
        name: ``xpu`` or the PIM kind.
        flops: Effective compute rate, FLOP/s (peak x compute efficiency).
        bandwidth: Effective memory bandwidth, B/s (peak x memory efficiency).
        overhead_s: Fixed time per operator (kernel launch or PIM command issue), s.
        pj_per_bit: DRAM-to-unit read energy, pJ/bit.
        pj_per_flop: Arithmetic energy, pJ/FLOP.
        row_bytes: DRAM row (page) size, B.
        act_nj: Energy of one row activation, nJ.
    """

    name: str
    flops: float
    bandwidth: float
    overhead_s: float
    pj_per_bit: float
    pj_per_flop: float
    row_bytes: float
    act_nj: float

    def time(self, flops: np.ndarray | float, nbytes: np.ndarray | float) -> np.ndarray:
        """Time of operators with these FLOPs and bytes, s (0 for empty operators)."""
        f = np.asarray(flops, dtype=float)
        b = np.asarray(nbytes, dtype=float)
        t = np.maximum(f / self.flops, b / self.bandwidth) + self.overhead_s
        return np.where((f > 0) | (b > 0), t, 0.0)

    def energy(self, flops: np.ndarray | float, nbytes: np.ndarray | float) -> np.ndarray:
        """Dynamic energy of operators, J: DRAM reads, row activations, arithmetic."""
        f = np.asarray(flops, dtype=float)
        b = np.asarray(nbytes, dtype=float)
        return (b * 8.0 * self.pj_per_bit * 1e-12 + b / self.row_bytes * self.act_nj * 1e-9
                + f * self.pj_per_flop * 1e-12)

    @property
    def ridge(self) -> float:
        """Op/B (FLOP per byte) at which the unit turns compute-bound."""
        return self.flops / self.bandwidth


def tile_rows(tokens: np.ndarray | float, tile: int) -> np.ndarray:
    """Rows a GEMM over ``tokens`` rows computes when its kernel works in whole ``tile``-row
    thread-block tiles: ``ceil(tokens / tile) x tile`` (``tile`` 1: ``tokens``)."""
    m = np.asarray(tokens, dtype=float)
    return np.ceil(m / tile) * tile if tile > 1 else m


#: MoE modes of :func:`moe_layer_times`.
MOE_XPU, MOE_PLACE, MOE_SPLIT = 0, 1, 2


@numba.njit(cache=True)
def _expert_time(c: float, fpt: np.ndarray, wb: np.ndarray, apt: np.ndarray, flops: float,
                 bw: float, ovh: float, tile: float) -> float:
    """Time of one expert (its operators in sequence) with ``c`` tokens on one unit whose
    GEMMs compute whole ``tile``-token tiles (:func:`tile_rows`)."""
    if c <= 0.0:
        return 0.0
    cq = np.ceil(c / tile) * tile if tile > 1.0 else c
    t = 0.0
    for j in range(fpt.shape[0]):
        tc = cq * fpt[j] / flops
        tm = (wb[j] + c * apt[j]) / bw
        t += (tc if tc > tm else tm) + ovh
    return t


@numba.njit(cache=True)
def _operator_totals(fpt: np.ndarray, wb: np.ndarray, apt: np.ndarray
                     ) -> tuple[float, float, float]:
    """An expert's weight bytes, FLOPs per token and activation bytes per token, summed over
    its operators."""
    w_total = 0.0
    f_tok = 0.0
    a_tok = 0.0
    for j in range(fpt.shape[0]):
        w_total += wb[j]
        f_tok += fpt[j]
        a_tok += apt[j]
    return w_total, f_tok, a_tok


@numba.njit(cache=True)
def _xpu_time(m: int, tx: np.ndarray) -> float:
    """``MOE_XPU``: the group's ``m`` experts one after the other on the xPU [s]."""
    t = 0.0
    for i in range(m):
        t += tx[i]
    return t


@numba.njit(cache=True)
def _placed_time(counts: np.ndarray, r: int, order: np.ndarray, m: int, tx: np.ndarray,
                 tp: np.ndarray, w_total: float, f_tok: float, a_tok: float, threshold: float,
                 on_pim: np.ndarray) -> float:
    """``MOE_PLACE``: each expert on the unit its Op/B selects (PIM below ``threshold``),
    one after the other; marks ``on_pim`` and returns the group's time [s]."""
    t = 0.0
    for i in range(m):
        c = float(counts[r, order[i]])
        opb = c * f_tok / (w_total + c * a_tok)
        if opb < threshold:
            on_pim[i] = True
            t += tp[i]
        else:
            t += tx[i]
    return t


@numba.njit(cache=True)
def _sort_by_tokens(counts: np.ndarray, r: int, order: np.ndarray, m: int, tx: np.ndarray,
                    tp: np.ndarray) -> None:
    """Sort the group's ``m`` experts (with their times) by tokens, most first (insertion
    sort: ``m`` is small; stable)."""
    for i in range(1, m):
        kt = tx[i]
        kp = tp[i]
        ko = order[i]
        kc = counts[r, ko]
        j = i - 1
        while j >= 0 and counts[r, order[j]] < kc:
            tx[j + 1] = tx[j]
            tp[j + 1] = tp[j]
            order[j + 1] = order[j]
            j -= 1
        tx[j + 1] = kt
        tp[j + 1] = kp
        order[j + 1] = ko


@numba.njit(cache=True)
def _split_time(m: int, tx: np.ndarray, tp: np.ndarray, on_pim: np.ndarray) -> float:
    """``MOE_SPLIT`` over experts sorted by tokens: the first ``k`` on the xPU while the rest
    run on PIM, ``k`` minimising the slower side; marks ``on_pim`` and returns the group's
    time [s]."""
    sum_p = 0.0
    for i in range(m):
        sum_p += tp[i]
    best = sum_p  # all on PIM
    best_k = 0
    sx = 0.0
    sp = sum_p
    for k in range(1, m + 1):
        sx += tx[k - 1]
        sp -= tp[k - 1]
        cand = sx if sx > sp else sp
        if cand < best:
            best = cand
            best_k = k
    for i in range(best_k, m):
        on_pim[i] = True
    return best


@numba.njit(cache=True)
def _add_work(counts: np.ndarray, r: int, order: np.ndarray, m: int, on_pim: np.ndarray,
              w_total: float, f_tok: float, a_tok: float, fx: float, bx: float, fp: float,
              bp: float) -> tuple[float, float, float, float]:
    """FLOPs and bytes on the xPU (``fx``, ``bx``) and on PIM (``fp``, ``bp``) with the
    group's added (per device of the group)."""
    for i in range(m):
        c = float(counts[r, order[i]])
        f = c * f_tok
        b = w_total + c * a_tok
        if on_pim[i]:
            fp += f
            bp += b
        else:
            fx += f
            bx += b
    return fx, bx, fp, bp


@numba.njit(cache=True)
def moe_layer_times(counts: np.ndarray, group_of: np.ndarray, n_groups: int,
                    fpt: np.ndarray, wb: np.ndarray, apt: np.ndarray,
                    x_rate: np.ndarray, p_rate: np.ndarray, mode: int, threshold: float,
                    out_time: np.ndarray, out_work: np.ndarray) -> None:
    """Time of MoE layers and the work each unit does.

    Args:
        counts: ``[rows, experts]`` tokens routed to each expert (one row per layer instance).
        group_of: ``[experts]`` the device group holding each expert (expert parallelism).
        n_groups: Device groups.
        fpt, wb, apt: Per expert operator (up, down, ...): FLOPs per token, weight bytes, and
            activation bytes per token, per device of the group (already divided by the expert's
            tensor-parallel degree).
        x_rate, p_rate: ``[flops, bandwidth, overhead_s, tile]`` of the xPU and the PIM unit
            (``tile``: tokens per GEMM tile, :func:`tile_rows`; 1 for none).
        mode: ``MOE_XPU`` (all experts on the xPU), ``MOE_PLACE`` (each expert on the unit its
            Op/B selects: PIM when below ``threshold``; units run one after the other) or
            ``MOE_SPLIT`` (co-processing: per group, the experts with the most tokens run on
            the xPU while the rest run on PIM at the same time; the split minimises the slower
            side).
        out_time: ``[rows]`` layer time = the slowest device group, s.
        out_work: ``[rows, 4]`` FLOPs and bytes on the xPU and on PIM, summed over groups (per
            device of a group).
    """
    rows, n_exp = counts.shape
    w_total, f_tok, a_tok = _operator_totals(fpt, wb, apt)
    tx = np.zeros(n_exp)
    tp = np.zeros(n_exp)
    order = np.empty(n_exp, dtype=np.int64)
    for r in range(rows):
        worst = 0.0
        fx = 0.0
        bx = 0.0
        fp = 0.0
        bp = 0.0
        for g in range(n_groups):
            m = 0
            for e in range(n_exp):
                if group_of[e] == g and counts[r, e] > 0:
                    c = float(counts[r, e])
                    tx[m] = _expert_time(c, fpt, wb, apt, x_rate[0], x_rate[1], x_rate[2],
                                         x_rate[3])
                    tp[m] = _expert_time(c, fpt, wb, apt, p_rate[0], p_rate[1], p_rate[2],
                                         p_rate[3])
                    order[m] = e
                    m += 1
            on_pim = np.zeros(m, dtype=np.bool_)
            if mode == MOE_XPU:
                t = _xpu_time(m, tx)
            elif mode == MOE_PLACE:
                t = _placed_time(counts, r, order, m, tx, tp, w_total, f_tok, a_tok, threshold,
                                 on_pim)
            else:
                _sort_by_tokens(counts, r, order, m, tx, tp)
                t = _split_time(m, tx, tp, on_pim)
            fx, bx, fp, bp = _add_work(counts, r, order, m, on_pim, w_total, f_tok, a_tok,
                                       fx, bx, fp, bp)
            if t > worst:
                worst = t
        out_time[r] = worst
        out_work[r, 0] = fx
        out_work[r, 1] = bx
        out_work[r, 2] = fp
        out_work[r, 3] = bp


def split_time(t_x: np.ndarray, t_p: np.ndarray) -> np.ndarray:
    """Time of two independent operator sets run concurrently on the xPU and on PIM."""
    return np.maximum(t_x, t_p)
