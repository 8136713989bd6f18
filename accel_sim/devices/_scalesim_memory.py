"""Exact replica of SCALE-Sim v3's memory timing for one layer (``memory_model="scalesim"``).

A re-implementation of the SCALE-Sim v3 (PyPI ``scalesim==3.0.0``) timing model for a single
layer, written from an analysis of its source (no SCALE-Sim code is imported or copied) and
checked against 155 SCALE-Sim runs (``tests/data/scalesim_golden.csv``) with zero difference.

Goal: reproduce the numbers of COMPUTE_REPORT.csv (Total Cycles (incl. prefetch), Total Cycles,
Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %) and the access counts /
start-stop cycles of DETAILED_ACCESS_REPORT.csv and the averages of BANDWIDTH_REPORT.csv, without
simulating every cycle.

How it works (see scalesim_model.md for the full derivation)
-----------------------------------------------------------
* Compute part is closed form: the layer becomes a GEMM (M ofmap pixels, N filters, K window);
  per dataflow (Sr, Sc, T) = OS (M, N, K), WS (K, N, M), IS (K, M, N);
  folds = ceil(Sr/AR) * ceil(Sc/AC); rows-per-fold L_f = T+AR+AC-2 (OS) or 2AR+AC+T-2 (WS/IS);
  the systolic "demand" stream has L = folds * L_f rows (one row == one cycle when not stalled).
* Memory part.  SCALE-Sim walks the L demand rows; row i is issued at cycle i + (stalls so far);
  the row's stall is max(ifmap stall, filter stall, ofmap stall).  Stalls only arise at a few
  "event" rows:
    - ifmap / filter read buffer (USER bandwidth mode only): an address that is not in the
      current "active window" of the double-buffered SRAM forces a new prefetch;
    - ofmap write buffer (both modes): when the buffer occupancy exceeds the drain half a
      drain is launched; if the buffer fills up while a drain is in flight the array waits.
  We therefore run an *event-driven* loop: between two events everything advances by one cycle
  per row (located with numpy cumsum / searchsorted / vectorised window tests); only event rows
  are processed element by element (<= array-width elements).  Rows without events cost nothing.
* "Total Cycles (incl. prefetch)" = DRAM-OFMAP-stop-cycle - min(DRAM-IFMAP-start, DRAM-FILTER-start)
  i.e. the initial SRAM fill (which SCALE-Sim places at negative cycles) + compute + stalls +
  the final OFMAP drain tail.

Public entry points
-------------------
    scalesim_layer(M, N, K, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                   bandwidth_mode='USER', bandwidth=10, ifmap_dram_bw=10, filter_dram_bw=10,
                   word_bytes=1, conv=None) -> ScaleSimLayer
    scalesim_conv_layer(H, W, R, S, C, F, stride, ...) -> ScaleSimLayer   (conv wrapper)
    conv_to_gemm(H, W, R, S, C, F, stride) -> (M, N, K)

Cost: the event model builds the demand matrices (memory O(cycles x array width)); use it for
SCALE-Sim-compatible runs, and the vectorised analytic model of ``systolic`` for sweeps. The
memory is estimated before anything is allocated (:func:`memory_estimate`) and a layer that
would need more than is available is refused (:func:`accel_sim._memory.require_memory`).
"""
# ruff: noqa: E741
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .._memory import require_memory
from ._systolic_core import compute_cycles, fold_cycles, spatio_temporal

__all__ = ['ScaleSimLayer', 'compute_cycles_closed_form', 'conv_to_gemm', 'scalesim_conv_layer',
           'scalesim_layer']


# ----------------------------------------------------------------------------------------------
# Layer geometry
# ----------------------------------------------------------------------------------------------
def conv_to_gemm(H: int, W: int, R: int, S: int, C: int, F: int, stride: int
                 ) -> tuple[int, int, int, int, int]:
    """SCALE-Sim view of a conv layer: ofmap dims ceil((H-R+s)/s) (no padding), M = Eh*Ew,
    N = F (filters), K = R*S*C (window).  Returns (M, N, K, Eh, Ew)."""
    eh = math.ceil((H - R + stride) / stride)
    ew = math.ceil((W - S + stride) / stride)
    return eh * ew, F, R * S * C, eh, ew


def _spatio_temporal(df: str, M: int, N: int, K: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) of the GEMM M x N x K for dataflow ``df``."""
    sr, sc, t = spatio_temporal(np.asarray(M), np.asarray(N), np.asarray(K), df)
    return int(sr), int(sc), int(t)


def _rows_per_fold(df: str, AR: int, AC: int, T: int) -> int:
    """Demand rows (cycles) of one fold."""
    return int(fold_cycles(np.asarray(T), AR, AC, df))


def compute_cycles_closed_form(M: int, N: int, K: int, rows: int, cols: int, dataflow: str
                               ) -> int:
    """'Total Cycles' without stalls: ceil(Sr/AR)*ceil(Sc/AC)*rows_per_fold - 1."""
    return int(compute_cycles(np.asarray(M), np.asarray(N), np.asarray(K), rows, cols,
                              dataflow))


# ----------------------------------------------------------------------------------------------
# Operand address matrices (same address scheme as SCALE-Sim; offsets are irrelevant because the
# three buffers are independent, only equality of addresses matters)
# ----------------------------------------------------------------------------------------------
def _operand_matrices(M: int, N: int, K: int, conv: tuple[int, ...] | None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return A (M x K ifmap addresses, -1 = out of image), Fm (K x N), O (M x N)."""
    if conv is None:
        A = np.arange(M * K, dtype=np.int64).reshape(M, K)
    else:
        H, W, R, S, C, F, s = conv
        _, _, _, _eh, ew = conv_to_gemm(H, W, R, S, C, F, s)
        i = np.arange(M)[:, None]
        j = np.arange(K)[None, :]
        orow, ocol = np.divmod(i, ew)
        irow, icol = orow * s, ocol * s
        crow, rem = np.divmod(j, S * C)
        ccol, ch = np.divmod(rem, C)
        valid = (crow + irow < H) & (ccol + icol < W)
        A = np.where(valid, ((irow + crow) * W + icol + ccol) * C + ch, -1).astype(np.int64)
    Fm = (np.arange(N, dtype=np.int64)[None, :] * K + np.arange(K, dtype=np.int64)[:, None])
    O = np.arange(M * N, dtype=np.int64).reshape(M, N)
    return A, Fm, O


def _fold_iter(df: str, M: int, N: int, K: int, AR: int, AC: int
               ) -> Iterator[tuple[int, int, int, int, int]]:
    """Folds in SCALE-Sim order (column fold outer, row fold inner)."""
    Sr, Sc, _T = _spatio_temporal(df, M, N, K)
    rf, cf = -(-Sr // AR), -(-Sc // AC)
    for fc in range(cf):
        for fr in range(rf):
            yield fc * rf + fr, fr * AR, min(AR, Sr - fr * AR), fc * AC, min(AC, Sc - fc * AC)


def _demand_matrices(df: str, A: np.ndarray, Fm: np.ndarray, O: np.ndarray, AR: int, AC: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the three demand matrices (rows = cycles) exactly as SCALE-Sim lays them out.
    Returns (ifmap_dem, filter_dem, ofmap_dem) with -1 for 'no request'."""
    M, K = A.shape
    N = Fm.shape[1]
    Sr, Sc, T = _spatio_temporal(df, M, N, K)
    Lf = _rows_per_fold(df, AR, AC, T)
    nf = -(-Sr // AR) * -(-Sc // AC)
    L = nf * Lf
    w_if = AC if df == 'is' else AR
    w_f = AR if df == 'is' else AC
    dif = np.full((L, w_if), -1, dtype=np.int64)
    dfl = np.full((L, w_f), -1, dtype=np.int64)
    dof = np.full((L, AC), -1, dtype=np.int64)
    for f, r0, ru, c0, cu in _fold_iter(df, M, N, K, AR, AC):
        b = f * Lf
        if df == 'os':   # Sr=M rows, Sc=N cols, T=K
            t = np.arange(K)[:, None]
            r = np.arange(ru)[None, :]
            dif[b + t + r, r] = A[r0 + r, t]
            c = np.arange(cu)[None, :]
            dfl[b + t + c, c] = Fm[t, c0 + c]
            rr = np.arange(ru)[:, None]
            dof[b + (K - 1) + (AR - 1 - rr) + c, c] = O[r0 + rr, c0 + c]
        elif df == 'ws':  # Sr=K, Sc=N, T=M
            t = np.arange(M)[:, None]
            r = np.arange(ru)[None, :]
            dif[b + AR + t + r, r] = A[t, r0 + r]
            rr = np.arange(ru)[:, None]
            c = np.arange(cu)[None, :]
            dfl[b + (AR - 1 - rr), c] = Fm[r0 + rr, c0 + c]
            dof[b + 2 * AR - 1 + t + c, c] = O[t, c0 + c]
        else:             # is: Sr=K, Sc=M, T=N
            rr = np.arange(ru)[:, None]
            c = np.arange(cu)[None, :]
            dif[b + (AR - 1 - rr), c] = A[c0 + c, r0 + rr]
            t = np.arange(N)[:, None]
            r = np.arange(ru)[None, :]
            dfl[b + AR + t + r, r] = Fm[r0 + r, t]
            dof[b + 2 * AR - 1 + t + c, c] = O[c0 + c, t]
    return dif, dfl, dof


def _diag_order(nr: int, nc: int) -> np.ndarray:
    """Flat indices of an nr x nc matrix in SCALE-Sim's anti-diagonal prefetch order:
    diagonals d = row+col ascending, inside a diagonal row descending."""
    r, c = np.divmod(np.arange(nr * nc), nc)
    order = np.lexsort((-r, r + c))
    return order


def _prefetch_streams(df: str, A: np.ndarray, Fm: np.ndarray, AR: int, AC: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Ifmap and filter SRAM fill order (flat, -1 = padding) as SCALE-Sim builds them."""
    M, K = A.shape
    N = Fm.shape[1]

    def stack(nblocks, h, w, fill):  # fill(block, P-block view) writes into (h x w) block
        P = np.full((nblocks * h, w), -1, dtype=np.int64)
        for bidx in range(nblocks):
            fill(bidx, P[bidx * h:(bidx + 1) * h])
        return P

    if df == 'os':
        rf, cf = -(-M // AR), -(-N // AC)

        def fi(b, blk):
            ru = min(AR, M - b * AR)
            blk[:, :ru] = A[b * AR:b * AR + ru, :].T

        def ff(b, blk):
            cu = min(AC, N - b * AC)
            blk[:, :cu] = Fm[:, b * AC:b * AC + cu]
        Pi, Pf = stack(rf, K, AR, fi), stack(cf, K, AC, ff)
        return Pi.ravel()[_diag_order(*Pi.shape)], Pf.ravel()[_diag_order(*Pf.shape)]
    if df == 'ws':
        rf, cf = -(-K // AR), -(-N // AC)

        def fi_ws(b, blk):
            ku = min(AR, K - b * AR)
            blk[:, :ku] = A[:, b * AR:b * AR + ku]

        def ff_ws(b, blk):
            cu = min(AC, N - b * AC)
            blk[:, :cu] = Fm[:, b * AC:b * AC + cu]
        Pi, Pf = stack(rf, M, AR, fi_ws), stack(cf, K, AC, ff_ws)
        return Pi.ravel()[_diag_order(*Pi.shape)], Pf.ravel()
    # is
    rf, cf = -(-K // AR), -(-M // AC)

    def fi_is(b, blk):
        mu = min(AC, M - b * AC)
        blk[:, :mu] = A[b * AC:b * AC + mu, :].T

    def ff_is(b, blk):
        ku = min(AR, K - b * AR)
        blk[:, :ku] = Fm[b * AR:b * AR + ku, :].T
    Pi, Pf = stack(cf, K, AC, fi_is), stack(rf, N, AR, ff_is)
    return Pi.ravel(), Pf.ravel()[_diag_order(*Pf.shape)]


# ----------------------------------------------------------------------------------------------
# USER-bandwidth read buffer (double buffered SRAM with explicit prefetch stream)
# ----------------------------------------------------------------------------------------------
class _UserReadBuffer:
    """Model of SCALE-Sim's USER-mode read buffer.

    SRAM of E = floor(kB*1024/word) words, active half A = ceil(E/2), prefetch half P = E - A.
    The fill stream (prefetch order) is cut into 'lines' of eps = ceil(E/100) valid words
    (there are n_valid//eps + 1 lines, the last may be empty).  The active window is NA
    consecutive lines (mod number of lines), NA = min(nl, ceil(A/eps)), it moves by
    NP = min(nl - NA, ceil(P/eps)) lines on every miss ("new prefetch").
    DRAM timing: the k-th new prefetch completes at cycle  -1 + k*(ceil(P/bw) + 1)
    (a back-to-back chain that does not depend on when the miss happened).
    On a miss at request time x (x = issue cycle + 1 + accumulated offset within the row):
        x <- Pk            if Pk <= x     (sic: time can move backwards)
        x <- 2*Pk - x      if Pk >  x     (the stall is counted twice)
    The row's stall contribution of this buffer is x_final - cycle - 1.
    """

    def __init__(self, fill_stream: np.ndarray, demand: np.ndarray, size_bytes: int, bw: int,
                 word_bytes: int = 1) -> None:
        E = math.floor(size_bytes / word_bytes)
        self.E = E
        self.A = math.ceil(E * 0.5)
        self.P = E - self.A
        self.bw = bw
        eps = math.ceil(E / 100)
        valid = fill_stream >= 0
        vaddr = fill_stream[valid]
        nvalid = vaddr.size
        self.nl = nvalid // eps + 1
        self.NA = min(self.nl, math.ceil(self.A / eps))
        self.NP = min(self.nl - self.NA, math.ceil(self.P / eps))
        self.nreq = math.ceil(self.P / bw)          # DRAM rows per new prefetch
        nrows_fetch = math.ceil(fill_stream.size / bw)
        self.nl0 = min(math.ceil(self.A / bw), nrows_fetch)  # rows of the initial fill
        self.k = 0            # number of new prefetches done
        self.s = 0            # first line of the active window
        self.never_miss = (self.nl <= self.NA)
        # demand stream (flattened row-major, -1 removed) with its row index
        rr, cc = np.nonzero(demand >= 0)
        self.ent_row = rr
        ent_addr = demand[rr, cc]
        self.pos = 0
        self.n_ent = ent_addr.size
        if self.never_miss:
            return
        # occupancy table: for every demanded address the (deduplicated) lines holding it
        line_of = np.arange(nvalid) // eps
        amax = int(max(vaddr.max(), ent_addr.max())) + 1
        a_sorted, l_sorted = _distinct_pairs(vaddr, line_of, self.nl + 1,
                                             packed=amax * (self.nl + 1) < 2**63)
        counts = np.bincount(a_sorted, minlength=amax)
        maxocc = int(counts.max())
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        occ = np.full((amax, maxocc), -1, dtype=np.int64)
        slot = np.arange(a_sorted.size) - starts[a_sorted]
        occ[a_sorted, slot] = l_sorted
        self.ent_occ = occ[ent_addr]                   # n_ent x maxocc
        if maxocc == 1:
            self.ent_occ = self.ent_occ[:, 0]

    def _hit_mask(self, lo: int, hi: int) -> np.ndarray:
        o = self.ent_occ[lo:hi]
        inwin = ((o - self.s) % self.nl < self.NA) & (o >= 0)
        if inwin.ndim == 2:
            inwin = inwin.any(axis=1)
        return inwin

    def next_event_row(self) -> float:
        """Row index of the next demand entry that misses (inf if none)."""
        if self.never_miss:
            return np.inf
        lo = self.pos
        chunk = 4096
        while lo < self.n_ent:
            hi = min(self.n_ent, lo + chunk)
            h = self._hit_mask(lo, hi)
            if not h.all():
                return int(self.ent_row[lo + int(np.argmin(h))])
            lo = hi
            chunk *= 2
        return np.inf

    def skip_to_row(self, row: int) -> None:
        """Entries of rows < row are all hits: just advance the pointer."""
        self.pos = int(np.searchsorted(self.ent_row, row, side='left'))

    def process_row(self, row: int, cycle: int) -> tuple[int, int]:
        """Process every entry of demand row `row` issued at `cycle`; return the stall value."""
        x = cycle + 1
        if self.never_miss:
            return 0, x
        self.pos = int(np.searchsorted(self.ent_row, row, side='left'))
        end = int(np.searchsorted(self.ent_row, row, side='right'))
        for e in range(self.pos, end):
            while not self._hit_mask(e, e + 1)[0]:
                self.k += 1
                self.s = (self.s + self.NP) % self.nl
                Pk = -1 + self.k * (self.nreq + 1)
                x = Pk if Pk <= x else 2 * Pk - x
        self.pos = end
        return x - cycle - 1, x

    # DRAM statistics
    def dram_reads(self) -> int:
        return (self.nl0 + self.k * self.nreq) * self.bw

    def dram_start_stop(self) -> tuple[int, int]:
        stop = -1 + self.k * (self.nreq + 1)
        return -self.nl0, stop


def _distinct_pairs(addr: np.ndarray, line: np.ndarray, lines: int, packed: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (address, line) pairs sorted by address then line (``0 <= line < lines``).

    ``packed``: one ``np.unique`` of ``addr * lines + line`` (fast); the caller passes False when
    that int64 key would wrap around, and the same pairs come from a two-key sort."""
    if packed:
        return np.divmod(np.unique(addr * lines + line), lines)
    order = np.lexsort((line, addr))
    a_s, l_s = addr[order], line[order]
    new = np.ones(a_s.size, dtype=bool)
    new[1:] = (a_s[1:] != a_s[:-1]) | (l_s[1:] != l_s[:-1])
    return a_s[new], l_s[new]


# ----------------------------------------------------------------------------------------------
# CALC (estimate bandwidth) read buffer: never stalls; only its DRAM start matters for timing.
# ----------------------------------------------------------------------------------------------
def _calc_read_dram_start(demand: np.ndarray, size_bytes: int, first_req_cycle: int,
                          word_bytes: int = 1, bw: int = 10) -> tuple[int, int, int]:
    """First DRAM cycle of the estimate-bandwidth read buffer.
    items = floor(E/100) words per set, 50 sets per half.  If the number of distinct addresses
    demanded reaches 50*items, the first (active-half) fill is placed just before the first
    request:  start = first_req_cycle - ceil(50*items/bw).  Otherwise everything is fetched up
    front at the end of the run: start = -ceil(ceil(U/items)*items/bw)."""
    E = math.floor(size_bytes / word_bytes)
    items = E // 100
    U = np.unique(demand[demand >= 0]).size
    if 50 * items <= U:
        return first_req_cycle - math.ceil(50 * items / bw), U, items
    nsets = -(-U // items)
    return -math.ceil(nsets * items / bw), U, items


def _calc_read_buffer_full(demand_rows_cycles: np.ndarray, demand: np.ndarray, size_bytes: int,
                           word_bytes: int = 1, bw: int = 10) -> tuple[int, int, int]:
    """Exact (per-address, slow) replica of the estimate-bandwidth buffer bookkeeping, used only
    to obtain DRAM read counts / stop cycles in CALC mode.  demand_rows_cycles[i] = issue cycle."""
    E = math.floor(size_bytes / word_bytes)
    items = E // 100
    nact, npre = 50, 50
    sets: list[set[Any]] = []
    cur: set[Any] = set()
    cur_id = 0
    rd_s, rd_e = 0, nact - 1
    pf_s = pf_e = -1
    last_ps, last_pe = -2, -1
    first = None
    done = False
    reads = 0
    trace = []   # (first_cycle, last_cycle)

    def prefetch(s_idx, e_idx, start, end, bwp):
        nonlocal reads
        n = sum(len(sets[i]) for i in range(s_idx, e_idx + 1))
        reads += n
        trace.append((start + 1, end + 1))

    rows = np.nonzero((demand >= 0).any(axis=1))[0]
    for r in rows:
        cyc = int(demand_rows_cycles[r])
        if first is None:
            first = cyc
        for a in demand[r]:
            if a < 0:
                continue
            hi = min(cur_id, rd_e + 1)
            if any(a in sets[i] for i in range(rd_s, hi)):
                continue
            if a in cur:
                continue
            cur.add(a)
            if len(cur) == items:
                sets.append(cur)
                cur = set()
                cur_id += 1
                if cur_id == rd_e + 1:
                    if not done:
                        last_pe = first - 2
                        cn = math.ceil(npre * items / bw)
                        last_ps = last_pe - cn + 1
                        prefetch(0, nact - 1, last_ps, last_pe, bw)
                        pf_s = rd_e + 1
                        pf_e = pf_s + npre - 1
                        done = True
                    else:
                        prefetch(pf_s, pf_e, last_ps, last_pe, None)
                        pf_s += npre
                        pf_e += npre
                    for j in range(npre):
                        sets[rd_s + j] = set()
                    rd_s += npre
                    rd_e += npre
                    last_ps = last_pe + 1
                    last_pe = cyc
    # complete_all_prefetches
    if len(cur) > 0:
        sets.append(cur)
    else:
        cur_id -= 1
    if not done:
        last_pe = -2
        ns = cur_id + 1
        cn = math.ceil(ns * items / bw)
        last_ps = last_pe - cn + 1
        prefetch(0, ns - 1, last_ps, last_pe, bw)
    else:
        pf_e = cur_id
        prefetch(pf_s, pf_e, last_ps, last_pe, None)
    return reads, trace[0][0], trace[-1][1]


# ----------------------------------------------------------------------------------------------
# OFMAP write buffer (both modes)
# ----------------------------------------------------------------------------------------------
class _WriteBuffer:
    """Model of SCALE-Sim's ofmap write buffer.

    W = floor(kB*1024/word) words, active = ceil(W/2), drain half D = W - active.  Written words
    are packed into DRAM 'rows' of bw words; a row is closed when full or when a drain starts
    (the partial row is closed then).  After each stored word (issue time t):
      * if t <  drain_end and free <= 0 : the array waits until drain_end (stall);
      * elif t >= drain_end and free < W - D : start a drain of up to ceil(D/bw) rows at t,
        one row per cycle -> drain_end = t + rows - 1; free += rows*bw - (#empty slots of
        the LAST drained row only)   (partial rows in the middle are counted as full).
    At the end all remaining rows are drained back to back from the last row's cycle.
    """

    def __init__(self, size_bytes: int, bw: int, word_bytes: int = 1) -> None:
        self.W = math.floor(size_bytes / word_bytes)
        self.Act = math.ceil(self.W * 0.5)
        self.D = self.W - self.Act
        self.bw = bw
        self.lines_per_drain = math.ceil(self.D / bw)
        self.free = self.W
        self.drain_end = 0
        self.line_idx = 0           # words in the currently open row
        self.rows: deque[list[int]] = deque()  # closed, not yet drained rows: [count, nrows]
        self.n_rows_pending = 0
        self.accesses = 0
        self.dram_min: int | None = None    # first and last DRAM write cycle [cycle]
        self.dram_max: int | None = None

    # rows bookkeeping --------------------------------------------------------------------
    def _push_rows(self, count: int, n: int) -> None:
        if n <= 0:
            return
        if self.rows and self.rows[-1][0] == count:
            self.rows[-1][1] += n
        else:
            self.rows.append([count, n])
        self.n_rows_pending += n

    def store_bulk(self, n: int) -> None:
        """Store n words without any event."""
        tot = self.line_idx + n
        full = tot // self.bw
        self._push_rows(self.bw, full)
        self.line_idx = tot - full * self.bw
        self.free -= n

    def _force_close(self) -> None:
        if self.line_idx > 0:
            self._push_rows(self.line_idx, 1)
            self.line_idx = 0

    def _drain(self, start: int) -> int:
        n = min(self.lines_per_drain, self.n_rows_pending)
        taken = 0
        last_count = None
        while taken < n:
            cnt, k = self.rows[0]
            use = min(k, n - taken)
            taken += use
            last_count = cnt
            if use == k:
                self.rows.popleft()
            else:
                self.rows[0][1] -= use
        self.n_rows_pending -= n
        assert last_count is not None, "a drain takes at least one row"
        data = n * self.bw - (self.bw - last_count)
        self.accesses += data
        self.free += data
        end = start + n - 1
        self.dram_min = start if self.dram_min is None else min(self.dram_min, start)
        self.dram_max = end if self.dram_max is None else max(self.dram_max, end)
        return end

    # event search --------------------------------------------------------------------------
    def next_event(self, counts_cum: np.ndarray, row_lo: int, S: int) -> float:
        """First row >= row_lo (given per-row cumulative counts from row_lo) where an event
        happens assuming no other event and constant stall S.  Returns row index or inf."""
        # counts_cum[j] = words stored in rows row_lo .. row_lo+j (inclusive)
        if counts_cum.size == 0:
            return np.inf
        cand = np.inf
        # (a) free <= 0 while t < drain_end -> n >= free
        if self.free >= 1:
            j = int(np.searchsorted(counts_cum, self.free, side='left'))
            if j < counts_cum.size and row_lo + j + S < self.drain_end:
                cand = row_lo + j
        else:
            # already full: any stored word while t < drain_end stalls
            j = int(np.searchsorted(counts_cum, 1, side='left'))
            if j < counts_cum.size and row_lo + j + S < self.drain_end:
                cand = row_lo + j
        # (b) free < Act while t >= drain_end  -> n >= free - Act + 1
        need = max(self.free - self.Act + 1, 1)
        j = int(np.searchsorted(counts_cum, need, side='left'))
        if j < counts_cum.size:
            # rows from j on satisfy the occupancy condition; also need t >= drain_end
            jt = max(j, self.drain_end - S - row_lo)
            if jt < counts_cum.size:
                # the row must actually store a word (counts_cum increases)
                prev = counts_cum[jt - 1] if jt > 0 else 0
                if counts_cum[jt] > prev:
                    cand = min(cand, row_lo + jt)
                else:
                    k = int(np.searchsorted(counts_cum, prev + 1, side='left'))
                    if k < counts_cum.size:
                        cand = min(cand, row_lo + k)
        return cand

    def process_row(self, n: int, cycle: int) -> int:
        """Exact word-by-word processing of one row with n words issued at `cycle`.
        Returns the row's ofmap stall (offset)."""
        cur = cycle
        off = 0
        for _ in range(n):
            self.line_idx += 1
            self.free -= 1
            if self.line_idx == self.bw:
                self._push_rows(self.bw, 1)
                self.line_idx = 0
            if cur < self.drain_end:
                if not self.free > 0:
                    off += max(self.drain_end - cur, 0)
                    cur = self.drain_end
            elif self.free < self.W - self.D:
                self._force_close()
                self.drain_end = self._drain(cur)
        return off

    def dram_span(self) -> tuple[int, int]:
        """First and last cycle of the DRAM writes [cycle] (after :meth:`finish`)."""
        assert self.dram_min is not None and self.dram_max is not None, "nothing drained"
        return self.dram_min, self.dram_max

    def finish(self, last_cycle: int) -> None:
        self._force_close()
        c = last_cycle
        while self.n_rows_pending > 0:
            self.drain_end = self._drain(c)
            c = self.drain_end + 1


# ----------------------------------------------------------------------------------------------
# Memory estimate
# ----------------------------------------------------------------------------------------------
def memory_estimate(M: int, N: int, K: int, rows: int, cols: int, dataflow: str,
                    conv: tuple[int, ...] | None = None, user: bool = True) -> tuple[int, int]:
    """Peak bytes of :func:`scalesim_layer`: ``(closed form, event model)``.

    The closed form holds the operand address matrices (``M x K`` ifmap, ``K x N`` filter,
    ``M x N`` ofmap, int64; the conv im2col build needs about four ``M x K`` int64 temporaries)
    and per-fold utilisation arrays; the event model adds the three demand matrices (``L``
    cycles x their widths, int64) with their masks and, in USER mode, the prefetch streams with
    their anti-diagonal sort keys and the read buffers' demand entries and address tables.
    Every array is counted with the bytes of its dtype and the temporaries numpy creates for
    it, plus a 25 % margin; made without allocating. Against the peak traced by tracemalloc
    (GEMM and conv layers, every dataflow, USER and CALC) it is 1.3x to 2.6x the real peak.
    """
    df = dataflow.lower()
    sr, sc, t = _spatio_temporal(df, M, N, K)
    rf, cf = -(-sr // rows), -(-sc // cols)
    nfold = rf * cf
    length = nfold * _rows_per_fold(df, rows, cols, t)
    mk, kn, mn = M * K, K * N, M * N
    closed = 32 * nfold + (36 if conv is not None else 8) * mk + 8 * (kn + mn)
    closed += (1 if user else 26) * mk
    w_if = cols if df == "is" else rows
    w_f = rows if df == "is" else cols
    event = 8 * length * (w_if + w_f + cols) + length * (cols + 16)
    if df == "os":
        n_if, n_f, reads = rf * rows * K, cf * cols * K, cf * mk + rf * kn
    elif df == "ws":
        n_if, n_f, reads = rf * rows * M, cf * cols * K, cf * mk + kn
    else:
        n_if, n_f, reads = cf * cols * K, rf * rows * N, mk + cf * kn
    if user:
        # an im2col address recurs in up to dup windows: the read buffer's occupancy table
        # keeps one line per occurrence for every demanded entry
        dup = 1 if conv is None else -(-conv[2] // conv[6]) * -(-conv[3] // conv[6])
        addr_if = conv[0] * conv[1] * conv[4] if conv is not None else mk  # largest address
        event += (length * (w_if + w_f) + (24 + 8 * dup) * reads + 128 * (n_if + n_f)
                  + (16 + 8 * dup) * (addr_if + kn))
    else:
        event += length * (w_if + w_f) + 24 * reads
    margin = 1.25  # temporaries not itemised above (index arrays of fancy indexing, sorts)
    return int(margin * closed), int(margin * (closed + event))


def _require(estimate: int, layer: str, part: str) -> None:
    require_memory(estimate, f"layer {layer!r}: the exact SCALE-Sim memory model ({part})",
                   "use memory_model=analytic (accel-sim run: -s memory_model=analytic; "
                   "accel-sim scalesim: --memory-model analytic)")


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ScaleSimLayer:
    """SCALE-Sim 3.0.0 report values of one layer (:func:`scalesim_layer`).

    Cycles are array clock cycles counted as SCALE-Sim counts them: the run starts at cycle 0
    and the initial SRAM fill lies at negative cycles. Reads and writes are in words,
    bandwidths in words/cycle. A figure the path taken does not produce is ``None``: the
    closed form gives no SRAM start/stop cycles, and in CALC mode the ifmap/filter DRAM stop
    cycles and read counts (with their bandwidths) need ``exact_calc_dram``.
    """

    #: COMPUTE_REPORT "Total Cycles": compute and stalls [cycles].
    compute_cycles: int
    #: "Total Cycles" without stalls, folds x rows per fold - 1 [cycles].
    compute_cycles_no_stall: int
    #: "Stall Cycles" [cycles].
    stall_cycles: int
    #: "Total Cycles (incl. prefetch)": last OFMAP DRAM write - first ifmap/filter DRAM
    #: read [cycles].
    total_cycles_incl_prefetch: int
    #: "Overall Util %": MACs / (compute cycles x PEs) [%].
    overall_util_pct: float
    #: "Mapping Efficiency %": mean share of the PEs a fold maps [%].
    mapping_eff_pct: float
    #: "Compute Util %": mean busy share of the PEs within a fold [%].
    compute_util_pct: float
    #: SRAM accesses of the array [words].
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    #: BANDWIDTH_REPORT SRAM averages: accesses / compute cycles [words/cycle].
    avg_ifmap_sram_bw: float
    avg_filter_sram_bw: float
    avg_ofmap_sram_bw: float
    #: DETAILED_ACCESS_REPORT SRAM first and last access [cycle] (event model only).
    sram_ifmap_start_cycle: int | None = None
    sram_ifmap_stop_cycle: int | None = None
    sram_filter_start_cycle: int | None = None
    sram_filter_stop_cycle: int | None = None
    sram_ofmap_start_cycle: int | None = None
    sram_ofmap_stop_cycle: int | None = None
    #: DRAM reads of the ifmap buffer: first and last cycle [cycle], words [words] and their
    #: rate over that span [words/cycle].
    dram_ifmap_start_cycle: int
    dram_ifmap_stop_cycle: int | None = None
    dram_ifmap_reads: int | None = None
    avg_ifmap_dram_bw: float | None = None
    #: The same for the filter buffer.
    dram_filter_start_cycle: int
    dram_filter_stop_cycle: int | None = None
    dram_filter_reads: int | None = None
    avg_filter_dram_bw: float | None = None
    #: DRAM writes of the OFMAP buffer: first and last cycle [cycle], words [words] and their
    #: rate over that span [words/cycle].
    dram_ofmap_start_cycle: int
    dram_ofmap_stop_cycle: int
    dram_ofmap_writes: int
    avg_ofmap_dram_bw: float
    #: Demand rows processed one by one (stall events; 0 on the closed-form path).
    n_events: int
    #: ``"closed_form"`` (no stall can happen) or ``"event_model"``.
    path: str


@dataclass(frozen=True)
class _Folds:
    """Compute-side closed forms of one layer on an ``AR`` x ``AC`` array."""

    df: str
    AR: int
    AC: int
    T: int             # temporal extent of a fold [cycles]
    rf: int            # row folds
    cf: int            # column folds
    Lf: int            # demand rows per fold
    L: int             # demand rows of the layer (one cycle each when not stalled)
    macs: int
    mapping_eff: float  # mean mapped share of the PEs [fraction]
    compute_util: float  # mean busy share of the PEs [fraction]
    sram_if: int       # SRAM reads and writes [words]
    sram_f: int
    sram_of: int


def _folds(df: str, M: int, N: int, K: int, AR: int, AC: int) -> _Folds:
    """Folds, demand rows, utilisations and SRAM access counts of the GEMM M x N x K."""
    Sr, Sc, T = _spatio_temporal(df, M, N, K)
    rf, cf = -(-Sr // AR), -(-Sc // AC)
    nfold = rf * cf
    Lf = _rows_per_fold(df, AR, AC, T)
    ru = np.minimum(AR, Sr - np.arange(rf) * AR)          # used rows per row fold
    cu = np.minimum(AC, Sc - np.arange(cf) * AC)          # used cols per col fold
    used = (cu[:, None] * ru[None, :]).ravel()            # fc outer, fr inner
    mapping_eff = float(np.mean(used / (AR * AC)))
    cyc_fold = Lf if df == 'os' else 2 * AR + 2 * AC + T - 3
    compute_util = float(np.mean(used * T / (AR * AC * cyc_fold)))
    if df == 'os':
        sram_if, sram_f = cf * M * K, rf * K * N
        sram_of = M * N + nfold * (AR + AC)   # SCALE-Sim adds AR+AC per fold (sic)
    elif df == 'ws':
        sram_if, sram_f, sram_of = cf * M * K, K * N, rf * M * N
    else:
        sram_if, sram_f, sram_of = M * K, cf * K * N, rf * M * N
    return _Folds(df, AR, AC, T, rf, cf, Lf, nfold * Lf, M * N * K, mapping_eff, compute_util,
                  sram_if, sram_f, sram_of)


@dataclass(frozen=True)
class _ReadDram:
    """DRAM fill of a read buffer: first and last cycle [cycle] and words read [words]
    (``None``: not modelled on this path)."""

    start: int
    stop: int | None = None
    reads: int | None = None


@dataclass(frozen=True)
class _WriteDram:
    """DRAM drain of the OFMAP buffer: first and last cycle [cycle], words written [words]."""

    start: int
    stop: int
    writes: int


def _layer_result(f: _Folds, compute_cycles: int, stall_cycles: int, rd_if: _ReadDram,
                  rd_f: _ReadDram, wr: _WriteDram, n_events: int, path: str,
                  sram_cycles: tuple[int, ...] | None = None) -> ScaleSimLayer:
    """Assemble the report values; SRAM averages use ``compute_cycles`` ("Total Cycles"),
    DRAM averages the span of the buffer's own DRAM trace (stop - start + 1).
    ``sram_cycles``: first and last SRAM access of ifmap, filter and OFMAP [cycle]."""
    span = max(compute_cycles, 1)  # a single 1-cycle fold takes 0 cycles: rates per 1 cycle

    def avg_read(rd: _ReadDram) -> float | None:
        if rd.reads is None or rd.stop is None:
            return None
        return rd.reads / (rd.stop - rd.start + 1)

    sram: tuple[int | None, ...] = sram_cycles or (None,) * 6
    return ScaleSimLayer(
        compute_cycles=compute_cycles, compute_cycles_no_stall=f.L - 1,
        stall_cycles=stall_cycles,
        total_cycles_incl_prefetch=int(wr.stop - min(rd_if.start, rd_f.start)),
        overall_util_pct=f.macs * 100.0 / (span * f.AR * f.AC),
        mapping_eff_pct=f.mapping_eff * 100.0, compute_util_pct=f.compute_util * 100.0,
        sram_ifmap_reads=f.sram_if, sram_filter_reads=f.sram_f, sram_ofmap_writes=f.sram_of,
        avg_ifmap_sram_bw=f.sram_if / span, avg_filter_sram_bw=f.sram_f / span,
        avg_ofmap_sram_bw=f.sram_of / span,
        sram_ifmap_start_cycle=sram[0], sram_ifmap_stop_cycle=sram[1],
        sram_filter_start_cycle=sram[2], sram_filter_stop_cycle=sram[3],
        sram_ofmap_start_cycle=sram[4], sram_ofmap_stop_cycle=sram[5],
        dram_ifmap_start_cycle=rd_if.start, dram_ifmap_stop_cycle=rd_if.stop,
        dram_ifmap_reads=rd_if.reads, avg_ifmap_dram_bw=avg_read(rd_if),
        dram_filter_start_cycle=rd_f.start, dram_filter_stop_cycle=rd_f.stop,
        dram_filter_reads=rd_f.reads, avg_filter_dram_bw=avg_read(rd_f),
        dram_ofmap_start_cycle=wr.start, dram_ofmap_stop_cycle=wr.stop,
        dram_ofmap_writes=wr.writes,
        avg_ofmap_dram_bw=wr.writes / (wr.stop - wr.start + 1),
        n_events=n_events, path=path)


# ----------------------------------------------------------------------------------------------
# Main entry point
# ----------------------------------------------------------------------------------------------
def scalesim_layer(M: int, N: int, K: int, rows: int, cols: int, dataflow: str, ifmap_kb: int,
                   filter_kb: int, ofmap_kb: int,
                   bandwidth_mode: str = 'USER', bandwidth: int = 10, ifmap_dram_bw: int = 10,
                   filter_dram_bw: int = 10, word_bytes: int = 1,
                   conv: tuple[int, ...] | None = None, exact_calc_dram: bool = False,
                   fast: bool = True, layer: str = "?") -> ScaleSimLayer:
    """Reproduce SCALE-Sim 3.0.0 COMPUTE / BANDWIDTH / DETAILED_ACCESS report values for one
    layer.

    M, N, K        : GEMM view (M = ofmap pixels, N = filters, K = R*S*C)
    rows, cols     : ArrayHeight (AR), ArrayWidth (AC)
    dataflow       : 'os' | 'ws' | 'is'
    *_kb           : SRAM sizes in kB (SCALE-Sim config values, ints)
    bandwidth_mode : 'USER' or 'CALC' ([run_presets] InterfaceBandwidth)
    bandwidth      : USER mode: first value of 'Bandwidth' -> OFMAP drain words/cycle only.
    ifmap_dram_bw, filter_dram_bw : USER mode: [layout] IfmapSRAMBankBandwidth /
                     FilterSRAMBankBandwidth (SCALE-Sim uses these for the ifmap/filter DRAM
                     fill rate; default config value 10).  Ignored in CALC mode (fixed 10).
    word_bytes     : SCALE-Sim hard-codes 1; kept as a parameter for what-if studies.
    conv           : optional (H, W, R, S, C, F, stride) to use conv (im2col) ifmap addresses
                     (duplicates matter for the SRAM hit logic); M,N,K must match conv_to_gemm.
    exact_calc_dram: in CALC mode also replicate the estimate-buffer bookkeeping to get the
                     ifmap/filter DRAM read counts and stop cycles (slow python loop).
    fast           : try the pure closed form first (valid when no SRAM miss and no OFMAP drain
                     can happen during the run, i.e. stalls are provably 0); falls back to the
                     exact event-driven model otherwise.  The closed form does not return the
                     SRAM start/stop cycles (and CALC-mode DRAM read counts).
    layer          : layer name for the error raised when the memory the model needs
                     (:func:`memory_estimate`) exceeds what is available (ResourceError).
    """
    df = dataflow.lower()
    AR, AC = int(rows), int(cols)
    user = bandwidth_mode.upper() == 'USER'
    mem_event = _require_layer_memory(M, N, K, AR, AC, df, conv, user, ofmap_kb, word_bytes,
                                      fast, layer)
    f = _folds(df, M, N, K, AR, AC)
    A, Fm, O = _operand_matrices(M, N, K, conv)
    if fast:
        r = _closed_form_no_event(f, M, N, K, A, user, ifmap_kb, filter_kb, ofmap_kb,
                                  bandwidth, ifmap_dram_bw, filter_dram_bw, word_bytes)
        if r is not None:
            return r
    _require(mem_event, layer, f"demand matrices of {f.L:,} cycles")
    return _event_model(f, A, Fm, O, user, ifmap_kb, filter_kb, ofmap_kb, bandwidth,
                        ifmap_dram_bw, filter_dram_bw, word_bytes, exact_calc_dram)


def _require_layer_memory(M: int, N: int, K: int, AR: int, AC: int, df: str,
                          conv: tuple[int, ...] | None, user: bool, ofmap_kb: int,
                          word_bytes: int, fast: bool, layer: str) -> int:
    """Refuse a layer whose model would not fit the available memory before allocating:
    the event model's needs when it will surely run (no fast path, or an OFMAP drain during
    the run rules the closed form out), the closed form's always. Returns the event model's
    estimate [bytes]."""
    Sr, Sc, T = _spatio_temporal(df, M, N, K)
    rf, cf = -(-Sr // AR), -(-Sc // AC)
    mem_closed, mem_event = memory_estimate(M, N, K, AR, AC, df, conv, user)
    w_of = M * N if df == 'os' else rf * M * N
    words_of = math.floor(ofmap_kb * 1024 / word_bytes)
    if not fast or w_of > words_of - math.ceil(words_of * 0.5):
        _require(mem_event, layer, "demand matrices of "
                 f"{rf * cf * _rows_per_fold(df, AR, AC, T):,} cycles")
    _require(mem_closed, layer, "operand address matrices")
    return mem_event


# ----------------------------------------------------------------------------------------------
# Closed form (no stall possible)
# ----------------------------------------------------------------------------------------------
def _closed_form_no_event(f: _Folds, M: int, N: int, K: int, A: np.ndarray, user: bool,
                          ifmap_kb: int, filter_kb: int, ofmap_kb: int, bandwidth: int,
                          ifmap_dram_bw: int, filter_dram_bw: int, word_bytes: int
                          ) -> ScaleSimLayer | None:
    """Pure closed form, returns None when an event (read miss / ofmap drain) may occur."""
    df, L = f.df, f.L
    # words written to the ofmap buffer (demand entries): OS M*N, WS/IS row_folds*M*N
    w_of = M * N if df == 'os' else f.rf * M * N
    Wo = math.floor(ofmap_kb * 1024 / word_bytes)
    Do = Wo - math.ceil(Wo * 0.5)
    if w_of > Do:
        return None                      # a drain starts during the run -> use event model
    of_bw = bandwidth if user else f.AC
    of_rows = -(-w_of // of_bw)
    # final drain starts at the last row's cycle
    wr = _WriteDram(start=L - 1, stop=L - 2 + of_rows, writes=w_of)
    if user:
        reads = _user_fill_closed_form(f, M, N, K, A, ifmap_kb, filter_kb, ifmap_dram_bw,
                                       filter_dram_bw, word_bytes)
        if reads is None:
            return None
    else:
        reads = _calc_fill_closed_form(f, N, K, A, ifmap_kb, filter_kb, word_bytes)
    return _layer_result(f, L - 1, 0, reads[0], reads[1], wr, 0, 'closed_form')


def _user_fill_closed_form(f: _Folds, M: int, N: int, K: int, A: np.ndarray, ifmap_kb: int,
                           filter_kb: int, ifmap_dram_bw: int, filter_dram_bw: int,
                           word_bytes: int) -> tuple[_ReadDram, _ReadDram] | None:
    """USER mode: the initial fill of the ifmap and filter buffers, which then never miss;
    None when the active window is smaller than the fill stream (misses possible)."""
    AR, AC = f.AR, f.AC
    nv_if = int((A >= 0).sum())          # valid ifmap words in the fill stream (= all of A)
    nv_f = K * N
    # fill-stream sizes including padding (-1) words
    if f.df == 'os':
        n_if, n_f = f.rf * AR * K, f.cf * AC * K
    elif f.df == 'ws':
        n_if, n_f = f.rf * AR * M, f.cf * AC * K
    else:
        n_if, n_f = f.cf * AC * K, f.rf * AR * N
    out = []
    for kb, nv, n, bw in ((ifmap_kb, nv_if, n_if, ifmap_dram_bw),
                          (filter_kb, nv_f, n_f, filter_dram_bw)):
        E = math.floor(kb * 1024 / word_bytes)
        Aa = math.ceil(E * 0.5)
        eps = math.ceil(E / 100)
        if nv // eps + 1 > math.ceil(Aa / eps):
            return None              # window smaller than the stream -> misses possible
        nl0 = -(-min(Aa, n) // bw)
        out.append(_ReadDram(start=-nl0, stop=-1, reads=nl0 * bw))
    return out[0], out[1]


def _calc_fill_closed_form(f: _Folds, N: int, K: int, A: np.ndarray, ifmap_kb: int,
                           filter_kb: int, word_bytes: int) -> tuple[_ReadDram, _ReadDram]:
    """CALC mode: first DRAM cycle of the ifmap and filter buffers (see
    :func:`_calc_read_dram_start`) without the demand matrices."""
    # first demand row holding a valid address (A[0,0] is always valid)
    ku0 = min(f.AR, K)
    if f.df == 'os':
        fr_if, fr_f = 0, 0
    elif f.df == 'ws':
        fr_if, fr_f = f.AR, f.AR - ku0
    else:
        fr_if, fr_f = f.AR - ku0, f.AR
    U_if = int(np.unique(A[A >= 0]).size)
    out = []
    for kb, U, fr in ((ifmap_kb, U_if, fr_if), (filter_kb, K * N, fr_f)):
        E = math.floor(kb * 1024 / word_bytes)
        items = E // 100
        if 50 * items <= U:
            st = fr - math.ceil(50 * items / 10)
        else:
            st = -math.ceil(-(-U // items) * items / 10)
        out.append(_ReadDram(start=st))
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------
# Event-driven model
# ----------------------------------------------------------------------------------------------
@dataclass
class _EventRun:
    """Outcome of the event loop over the demand rows."""

    #: (row, stall accumulated before the row, stall of the row) per event row [cycles].
    events: list[tuple[int, int, int]] = field(default_factory=list)
    #: event row -> serviced cycles of its [ifmap, filter, ofmap] requests [cycle].
    ev_out: dict[int, list[int]] = field(default_factory=dict)
    stall: int = 0          # accumulated stall cycles
    last_of_out: int = 0    # cycle of the last row's OFMAP writes ('Total Cycles')

    @cached_property
    def _event_stalls(self) -> tuple[np.ndarray, np.ndarray]:
        """Event rows and the stall accumulated up to each, inclusive [cycles] (read once
        the loop is over)."""
        ev_rows = np.array([e[0] for e in self.events], dtype=np.int64)
        ev_cum = np.cumsum([e[2] for e in self.events]) if self.events else np.zeros(0)
        return ev_rows, ev_cum

    def issue_cycle(self, row: int) -> int:
        """Cycle at which demand row ``row`` is issued."""
        ev_rows, ev_cum = self._event_stalls
        k = int(np.searchsorted(ev_rows, row, side='left'))   # events strictly before row
        return row + (int(ev_cum[k - 1]) if k > 0 else 0)

    def sram_cycle(self, row: int, which: int) -> int:
        """Serviced cycle of row ``row``'s SRAM requests of operand ``which`` (0 ifmap,
        1 filter, 2 OFMAP): reads take 1 hit cycle unless the row had an event."""
        if row in self.ev_out:
            return int(self.ev_out[row][which])
        return self.issue_cycle(row) + (1 if which < 2 else 0)


def _event_loop(L: int, of_counts: np.ndarray, wb: _WriteBuffer,
                readers: list[_UserReadBuffer]) -> _EventRun:
    """Walk the ``L`` demand rows: between two events every row takes one cycle (bulk
    stores); event rows are processed element by element and may stall."""
    run = _EventRun()
    S = 0                     # accumulated stall cycles
    i = 0                     # next row to process
    cum_all = np.cumsum(of_counts)
    while i < L:
        # next event row among the buffers
        base = cum_all[i - 1] if i > 0 else 0
        nxt = min([r.next_event_row() for r in readers]
                  + [np.inf, wb.next_event(cum_all[i:] - base, i, S)])
        if nxt == np.inf:
            # no more events: bulk store the rest
            wb.store_bulk(int(cum_all[-1] - base))
            for r in readers:
                r.skip_to_row(L)
            run.last_of_out = (L - 1) + S
            break
        row = int(nxt)
        if row > i:
            wb.store_bulk(int(cum_all[row - 1] - base))
            for r in readers:
                r.skip_to_row(row)
        cyc = row + S
        outs = [r.process_row(row, cyc) for r in readers]
        st = [o[0] for o in outs]
        st.append(wb.process_row(int(of_counts[row]), cyc))
        stall = int(max(st))
        if row == L - 1:
            run.last_of_out = cyc + st[-1]
        run.events.append((row, S, stall))
        # serviced ('trace') cycles of this row: reads = cycle + 1 + own offset, ofmap = cycle +
        # ofmap offset.  Needed for the SRAM start/stop columns when they fall on event rows.
        reads_out = [o[1] for o in outs] if readers else [cyc + 1, cyc + 1]
        run.ev_out[row] = [*reads_out, cyc + st[-1]]
        S += stall
        i = row + 1
    run.stall = S
    return run


def _first_last_rows(dm: np.ndarray) -> tuple[int, int]:
    """First and last row of a demand matrix with a valid address."""
    v = np.nonzero((dm >= 0).any(axis=1))[0]
    return int(v[0]), int(v[-1])


def _event_model(f: _Folds, A: np.ndarray, Fm: np.ndarray, O: np.ndarray, user: bool,
                 ifmap_kb: int, filter_kb: int, ofmap_kb: int, bandwidth: int,
                 ifmap_dram_bw: int, filter_dram_bw: int, word_bytes: int,
                 exact_calc_dram: bool) -> ScaleSimLayer:
    """The exact event-driven model over the demand matrices."""
    dif, dfl, dof = _demand_matrices(f.df, A, Fm, O, f.AR, f.AC)
    of_bw = bandwidth if user else f.AC
    wb = _WriteBuffer(ofmap_kb * 1024, of_bw, word_bytes)
    readers: list[_UserReadBuffer] = []
    if user:
        pi, pf = _prefetch_streams(f.df, A, Fm, f.AR, f.AC)
        readers = [_UserReadBuffer(pi, dif, ifmap_kb * 1024, ifmap_dram_bw, word_bytes),
                   _UserReadBuffer(pf, dfl, filter_kb * 1024, filter_dram_bw, word_bytes)]
    run = _event_loop(f.L, (dof >= 0).sum(axis=1), wb, readers)
    total_cycles = int(run.last_of_out)            # 'Total Cycles' column (= L-1+S normally)
    wb.finish(run.last_of_out)
    if user:
        rd_if, rd_f = (_ReadDram(*r.dram_start_stop(), r.dram_reads()) for r in readers)
    else:
        rd_if = _calc_read_dram(run, dif, ifmap_kb, word_bytes, exact_calc_dram, f.L)
        rd_f = _calc_read_dram(run, dfl, filter_kb, word_bytes, exact_calc_dram, f.L)
    # SRAM start/stop cycles as reported = serviced cycle of the first / last demand row that
    # has a valid address (reads: issue cycle + 1 hit latency unless the row had an event)
    sram = tuple(run.sram_cycle(row, which)
                 for which, dm in enumerate((dif, dfl, dof)) for row in _first_last_rows(dm))
    of_start, of_stop = wb.dram_span()
    return _layer_result(f, total_cycles, int(run.stall), rd_if, rd_f,
                         _WriteDram(of_start, of_stop, wb.accesses), len(run.events),
                         'event_model', sram)


def _calc_read_dram(run: _EventRun, demand: np.ndarray, kb: int, word_bytes: int,
                    exact: bool, L: int) -> _ReadDram:
    """CALC mode: DRAM start of a read buffer; with ``exact`` also its reads and stop
    (:func:`_calc_read_buffer_full`)."""
    first, _ = _first_last_rows(demand)
    start, _, _ = _calc_read_dram_start(demand, kb * 1024, run.issue_cycle(first), word_bytes)
    if not exact:
        return _ReadDram(start)
    st_row = np.zeros(L, dtype=np.int64)
    for (r_, _, st_) in run.events:
        st_row[r_] = st_
    cyc_of_row = np.arange(L) + np.concatenate(([0], np.cumsum(st_row)[:-1]))
    reads, _start2, stop = _calc_read_buffer_full(cyc_of_row, demand, kb * 1024, word_bytes)
    return _ReadDram(start, stop, reads)


def scalesim_conv_layer(H: int, W: int, R: int, S: int, C: int, F: int, stride: int, rows: int,
                        cols: int, dataflow: str, ifmap_kb: int, filter_kb: int, ofmap_kb: int,
                        depthwise: bool = False, **kw: Any
                        ) -> ScaleSimLayer | list[ScaleSimLayer]:
    """Conv layer wrapper.  depthwise=True mimics SCALE-Sim's handling of layers whose name
    contains 'DP': the layer is run C times with Channels=1 (and the given filter count); the
    per-channel results are returned as a list (SCALE-Sim reports them as separate layers)."""
    if depthwise:
        return [scalesim_layer(*conv_to_gemm(H, W, R, S, 1, F, stride)[:3], rows, cols,
                               dataflow, ifmap_kb, filter_kb, ofmap_kb,
                               conv=(H, W, R, S, 1, F, stride), **kw) for _ in range(C)]
    M, N, K, _, _ = conv_to_gemm(H, W, R, S, C, F, stride)
    return scalesim_layer(M, N, K, rows, cols, dataflow, ifmap_kb, filter_kb, ofmap_kb,
                          conv=(H, W, R, S, C, F, stride), **kw)
