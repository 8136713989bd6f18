"""Mapping pass, performance model and functional simulation of ``analog``.

Conventions: conductances are normalised to Gmax = 1 (Gmin = 1 / on_off_ratio); input
voltages are normalised to [0, 1] (or [-1, 1] for signed inputs); a weight matrix W (k x n) in
GEMM layout is tiled along k onto row tiles of ``rows`` cells; each weight column occupies
``devices x slices`` physical columns (devices: 2 for the differential mappings, 1 for offset
mappings) plus, for ``offset_unit_column``, one reference column per array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._ir import Trace

if TYPE_CHECKING:
    from .analog import AnalogConfig

COUNTS = ("arrays", "row_tiles", "col_tiles", "input_phases", "adc_conversions", "mvms")


# ====================================================================== mapping pass
@dataclass(frozen=True)
class MappingPlan:
    """Per-layer counts of the mapping (arrays over the trace's layers; zeros for layers that
    do not use the arrays: vector ops and activation-activation matmuls).

    Counts that multiply several layer dimensions (arrays, MVMs, ADC conversions) are float64:
    in int64 the conversions ``row_tiles * n * slices * phases * batch * m * groups * repeat``
    wrapped around to negative values (negative ADC energy) on large layers; float64 is exact
    up to 2**53 and never wraps."""

    on_array: np.ndarray  # layer uses crossbars (has weights)
    k: np.ndarray  # weight rows (reduction length)
    n: np.ndarray  # weight columns
    row_tiles: np.ndarray
    col_tiles: np.ndarray
    arrays: np.ndarray  # arrays holding the layer's weights (all groups and repeats)
    mvms: np.ndarray  # input vectors per inference (batch * m * groups * repeat)
    input_phases: int  # analog reads per input vector
    outputs_per_phase: np.ndarray  # digitised values per input vector and phase
    adc_conversions: np.ndarray  # per inference


def devices_per_weight(mapping: str) -> int:
    """Physical devices holding one weight slice."""
    return 2 if mapping in ("proportional", "differential") else 1


def mapping_pass(cfg: AnalogConfig, trace: Trace) -> MappingPlan:
    """Tile every weight layer onto ``rows x cols`` arrays and count reads and conversions."""
    c = trace.columns
    on = c["has_weights"] & c["is_matmul"]
    k = np.where(on, c["k"], 0)
    n = np.where(on, c["n"], 0)
    dev = devices_per_weight(cfg.mapping)
    ref = 1 if cfg.mapping == "offset_unit_column" else 0
    phys_cols = n * dev * cfg.weight_slices
    row_tiles = np.where(on, -(-k // cfg.rows), 0)
    col_tiles = np.where(on, -(-phys_cols // (cfg.cols - ref)), 0)
    f = {name: c[name].astype(np.float64) for name in ("m", "batch", "groups", "repeat")}
    copies = f["groups"] * f["repeat"]  # distinct weight matrices of the layer
    arrays = row_tiles * col_tiles * copies
    vectors = f["batch"] * f["m"] * f["groups"] * f["repeat"]
    mvms = np.where(on, vectors, 0.0)
    phases = cfg.input_bits if cfg.bit_serial else 1
    # one conversion per weight column, slice and row tile (the differential pair is read as
    # one current), plus the reference column of every array for offset_unit_column
    tiles_f = row_tiles.astype(np.float64)
    outputs = tiles_f * n * cfg.weight_slices + ref * tiles_f * col_tiles
    conversions = outputs * phases * vectors
    return MappingPlan(on, k, n, row_tiles, col_tiles, arrays, mvms, phases, outputs,
                       np.where(on, conversions, 0.0))


# ====================================================================== performance
#: Andrulis et al., "Modeling analog-digital-converter energy and area for compute-in-memory
#: accelerator design" (arXiv 2404.06553, 2024): a regression over the Murmann ADC survey
#: (hwcomponents-adc, adc_data/model.yaml at 246af7e). Schreier figure of merit vs sample
#: rate (dB, ln Hz), its cap per ENOB, the technology / ENOB / residual energy terms (ln) and
#: the area regression (ln um^2 on ln nm, ln Hz, ln pJ).
_SURVEY_FOMS = (213.7806687348118, -2.8719030399529957)
_SURVEY_FOMS_CAP0, _SURVEY_FOMS_CAP_STEP = 128.3068287398817, 3.2205115109775654
_SURVEY_ENERGY = (26.0496215686518, 1.8800369206815004, -2.8291256050594527,
                  -1.4702022133784405)
_SURVEY_AREA = (1.3461916439910742, 0.9932794744745022, 0.18071538424508238,
                0.29912426192653485)
#: Technology node of the survey ADC (nm): NeuroSim's 22 nm, like the other constants.
SURVEY_NODE_NM = 22.0
#: The survey holds few converters below 4 effective bits; lower resolutions are priced as 4.
SURVEY_MIN_BITS = 4
#: NeuroSim V1.4 SarADC.cpp (22 nm LP, lines 214-216): core power (0.538 B + 4.3753) uW.
_SAR_UW = (0.538, 4.3753)
#: NeuroSim V1.4 multilevel sense amp (22 nm, Ron 100 kOhm, 0.55 V read): energy per reference
#: level (its 5-bit conversion, 67.9 fJ with column and reference currents, / 31) and area
#: per reference level (9 minimum transistors per sense amp: 52 um^2 per 5-bit ADC / 31).
MLSA_FJ_PER_LEVEL, MLSA_UM2_PER_LEVEL = 2.19, 1.68


def adc_time_ns(cfg: AnalogConfig) -> float:
    """Latency of one conversion (ns): (bits + 1) x ``adc_latency_ns_per_bit``."""
    return (cfg.adc_bits + 1) * cfg.adc_latency_ns_per_bit


def _survey(bits: int, rate_hz: float) -> tuple[float, float]:
    """Energy (fJ) and area (um^2) of a standalone ADC from the survey regression."""
    enob = float(max(bits, SURVEY_MIN_BITS))
    foms = _SURVEY_FOMS[0] + _SURVEY_FOMS[1] * math.log(rate_hz)
    foms = min(foms, _SURVEY_FOMS_CAP0 + _SURVEY_FOMS_CAP_STEP * min(math.ceil(enob), 20))
    sndr = 6.02 * enob + 1.76
    a, b, c, d = _SURVEY_ENERGY
    pj = 0.5 * 10.0 ** ((sndr - foms) / 10.0) * math.exp(
        a + b * math.log(SURVEY_NODE_NM) + c * math.log(enob) + d)
    i, t, f, e = _SURVEY_AREA
    um2 = math.exp(i + t * math.log(SURVEY_NODE_NM) + f * math.log(rate_hz) + e * math.log(pj))
    return pj * 1e3, um2


def adc_energy_fj(cfg: AnalogConfig) -> float:
    """Energy of one ADC conversion (fJ) under ``adc_type`` (or ``adc_fj`` when set)."""
    if cfg.adc_fj > 0:
        return cfg.adc_fj
    b = cfg.adc_bits
    if cfg.adc_type == "mlsa":
        return MLSA_FJ_PER_LEVEL * (2.0 ** b - 1.0)
    if cfg.adc_type == "survey":
        return _survey(b, 1e9 / adc_time_ns(cfg))[0]
    # the core's power over NeuroSim's own conversion time, (bits + 1) ns: a faster clock
    # setting does not make a conversion cheaper
    return (_SAR_UW[0] * b + _SAR_UW[1]) * (b + 1.0)  # uW x ns = fJ


def adc_area_um2(cfg: AnalogConfig) -> float:
    """Area of one ADC (um^2) under ``adc_type``."""
    b = cfg.adc_bits
    if cfg.adc_type == "mlsa":
        return MLSA_UM2_PER_LEVEL * (2.0 ** b - 1.0)
    if cfg.adc_type == "survey":
        return _survey(b, 1e9 / adc_time_ns(cfg))[1]
    return cfg.adc_area_um2 * 2.0 ** (b - 8)


def array_area_um2(cfg: AnalogConfig) -> dict[str, float]:
    """Area of one array by part (um^2): cells, ADCs, other periphery."""
    adcs = -(-cfg.cols // cfg.cols_per_adc)
    return {"cells": cfg.rows * cfg.cols * cfg.cell_area_um2,
            "adc": adcs * adc_area_um2(cfg), "periphery": cfg.array_periph_um2}


def performance(cfg: AnalogConfig, plan: MappingPlan, trace: Trace) -> dict[str, Any]:
    """Cycles (1 GHz reference clock), latency, energy by component and area."""
    c = trace.columns
    on = plan.on_array
    adcs_per_array = -(-cfg.cols // cfg.cols_per_adc)
    # digitised values per array and phase, converted by the array's ADCs in sequence
    per_array = np.where(plan.arrays > 0,
                         -(-plan.outputs_per_phase // np.maximum(
                             plan.row_tiles.astype(np.float64) * plan.col_tiles, 1.0)), 0.0)
    conv_rounds = -(-per_array // adcs_per_array)
    t_adc_ns = adc_time_ns(cfg)
    t_phase_ns = cfg.integration_ns + conv_rounds * t_adc_ns
    t_mvm_ns = plan.input_phases * t_phase_ns
    # all arrays of a layer work in parallel on one input vector; vectors follow each other
    t_array_ns = plan.mvms * t_mvm_ns
    # layers without weights run on a digital vector unit (digital_fj_per_op per operation,
    # one operation per ns per lane, cols lanes)
    digital_ops = np.where(on, 0.0, c["flops"])
    t_digital_ns = digital_ops / cfg.cols
    latency_ns = np.where(on, t_array_ns, t_digital_ns)
    dev = devices_per_weight(cfg.mapping)
    kf, nf = plan.k.astype(np.float64), plan.n.astype(np.float64)
    cells_read = plan.mvms * kf * nf * dev * cfg.weight_slices  # per input phase
    act = cfg.input_activity
    e_adc = plan.adc_conversions * adc_energy_fj(cfg) * 1e-15
    e_dac = (plan.mvms * plan.input_phases * kf * plan.col_tiles * act * cfg.dac_fj_per_row
             * 1e-15)
    # a driven cell conducts; its mean conductance is taken as half of Gmax (first order)
    e_cells = cells_read * plan.input_phases * act * 0.5 * cfg.cell_read_fj * 1e-15
    e_digital = (plan.adc_conversions + digital_ops) * cfg.digital_fj_per_op * 1e-15
    layer_um2 = sum(array_area_um2(cfg).values()) * plan.arrays
    area_um2 = float(layer_um2.sum())
    # partial sums leave an array once per input vector, row tile and weight column (after
    # the shift-adds over slices and input bits) and cross the arrays of their weight matrix
    # to be added up: about the side of the square they fill (per layer, so layer reports
    # add up; per copy of the matrix, so groups and repeats cost what separate layers do)
    sums_out = plan.mvms * plan.row_tiles * nf
    copies = np.maximum(c["groups"].astype(np.float64) * c["repeat"], 1.0)
    wire_mm = np.sqrt(layer_um2 / copies * 1e-6)
    e_interconnect = sums_out * cfg.interconnect_fj_per_output_mm * wire_mm * 1e-15
    # activations at the device's input precision (the trace's bits are not used)
    act_bytes = (c["input_bytes"] / c["input_bits"] + c["output_bytes"] / c["output_bits"]
                 ) * cfg.input_bits
    e_buffer = act_bytes * cfg.buffer_fj_per_byte * 1e-15
    energy = e_adc + e_dac + e_cells + e_digital + e_interconnect + e_buffer
    used = kf * nf * dev * cfg.weight_slices * c["groups"] * c["repeat"]
    util = np.where(plan.arrays > 0, used / np.maximum(plan.arrays * cfg.rows * cfg.cols, 1),
                    np.where(on, 0.0, 1.0))
    out: dict[str, Any] = {
        "cycles": np.ceil(latency_ns), "latency_s": latency_ns * 1e-9, "energy_j": energy,
        "energy_adc_j": e_adc, "energy_dac_j": e_dac, "energy_cells_j": e_cells,
        "energy_digital_j": e_digital, "energy_interconnect_j": e_interconnect,
        "energy_buffer_j": e_buffer, "utilization": util,
        "area_mm2": area_um2 * 1e-6,
        "arrays": plan.arrays.astype(float), "row_tiles": plan.row_tiles.astype(float),
        "col_tiles": plan.col_tiles.astype(float),
        "input_phases": np.where(on, plan.input_phases, 0).astype(float),
        "adc_conversions": plan.adc_conversions.astype(float),
        "mvms": plan.mvms.astype(float),
    }
    return out


# ====================================================================== conductances
#: Joshi et al., Nature Communications 11, 2473 (2020): PCM programming noise
#: sigma(G_T) = max(c0 + c1 g + c2 g^2, 0) uS with g = G_T / Gmax, Gmax = 25 uS.
PCM_PROG_COEFF = (0.26348, 1.9650, -1.1731)
PCM_GMAX_US = 25.0
PCM_DRIFT_NU = 0.05
PCM_DRIFT_T0_S = 20.0


def program(g: np.ndarray, cfg: AnalogConfig, rng: np.random.Generator) -> np.ndarray:
    """Programmed conductances: target ``g`` plus programming error, then drift."""
    model, alpha = cfg.prog_error_model, cfg.prog_error_sigma
    if model == "none" and cfg.drift_time_s <= PCM_DRIFT_T0_S:
        return g  # exact targets (unclipped: the unquantised reference may exceed [0, 1])
    if model == "sonos":  # error and drift measured together (Agrawal et al., IEDM 2022)
        from ._analog_presets import sonos_drift, sonos_sigma

        t = cfg.drift_time_s
        mean = np.clip(sonos_drift(np.clip(g, 0.0, 1.0), t), 0.0, None)
        out = mean + rng.normal(0.0, 1.0, g.shape) * (alpha * sonos_sigma(mean, t))
        return np.maximum(out, 0.0)
    if model == "rram":  # Milo et al., IRPS 2021 (CrossSim's RRAM model); no drift model
        from ._analog_presets import rram_sigma

        g = g + rng.normal(0.0, 1.0, g.shape) * (alpha * rram_sigma(np.clip(g, 0.0, 1.0)))
        return np.maximum(g, 0.0)
    if model == "independent":
        g = g + rng.normal(0.0, alpha, g.shape)
    elif model == "proportional":
        g = g + rng.normal(0.0, 1.0, g.shape) * (alpha * g)
    elif model == "pcm":
        c0, c1, c2 = PCM_PROG_COEFF
        sigma = np.maximum(c0 + c1 * g + c2 * g * g, 0.0) / PCM_GMAX_US
        g = g + rng.normal(0.0, 1.0, g.shape) * (alpha * sigma)
    g = np.maximum(g, 0.0)
    if cfg.drift_time_s > PCM_DRIFT_T0_S:
        g = g * (cfg.drift_time_s / PCM_DRIFT_T0_S) ** (-PCM_DRIFT_NU)
    return g


@dataclass
class _Slices:
    """Per-slice programmed matrices of one layer, padded to whole row tiles."""

    pos: np.ndarray  # (S, T, rows, n) G+ (differential) or G (offset)
    neg: np.ndarray | None  # (S, T, rows, n) G- for the differential mappings
    ref: np.ndarray | None  # (S, T, rows) reference column (unit-column mapping)


class AnalogLayer:
    """One weight matrix programmed onto crossbars; ``mvm`` simulates its analog product.

    Args:
        w: Weights (k, n) in GEMM layout.
        cfg: Device configuration.
        rng: Generator for programming error (and, later, read noise).
    """

    def __init__(self, w: np.ndarray, cfg: AnalogConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        w = np.asarray(w, dtype=np.float64)
        self.k, self.n = w.shape
        self.w_scale = float(np.max(np.abs(w))) or 1.0
        self.gmin = 1.0 / cfg.on_off_ratio
        self.delta = 1.0 - self.gmin
        S, bps = cfg.weight_slices, cfg.bits_per_slice
        self.S, self.bps = S, bps
        self.lslice = (1 << bps) - 1
        self.L = (1 << cfg.weight_bits) - 1
        rows = cfg.rows
        self.T = -(-self.k // rows)
        pad = self.T * rows - self.k
        self.signed = cfg.mapping in ("proportional", "differential")
        wn = w / self.w_scale  # in [-1, 1]
        if self.signed:
            mag = np.abs(wn) * self.L
            level = mag if not cfg.quantize else np.rint(mag)
            sign = np.sign(wn)
        else:  # offset: zero at level 2^(b-1), weights on the symmetric grid +-(2^(b-1) - 1)
            half = 1 << (cfg.weight_bits - 1)
            self.q_half = max(half - 1, 1)
            m = wn * self.q_half
            level = (m if not cfg.quantize else np.rint(m)) + half
            sign = np.ones_like(wn)
        digits = self._slice(level)  # (S, k, n), LSB slice first
        lvl = np.pad(digits, ((0, 0), (0, pad), (0, 0)))  # zero rows: unused cells at Gmin
        sgn = np.pad(sign, ((0, pad), (0, 0)))
        valid = np.pad(np.ones((self.k, 1)), ((0, pad), (0, 0)))[:, 0]
        frac = lvl / self.lslice
        g_of = self.gmin + self.delta * frac
        if cfg.mapping == "proportional":
            gp = np.where(sgn > 0, g_of, self.gmin)
            gn = np.where(sgn < 0, g_of, self.gmin)
        elif cfg.mapping == "differential":
            mid = (1.0 + self.gmin) / 2.0
            gp = mid + self.delta / 2.0 * frac * sgn
            gn = mid - self.delta / 2.0 * frac * sgn
        else:
            gp, gn = g_of, None
        shape = (S, self.T, rows, self.n)
        gp = program(gp.reshape(shape), cfg, rng)
        gn = program(gn.reshape(shape), cfg, rng) if gn is not None else None
        ref = None
        # the offset (the level of a zero weight, 2^(bits-1)) split into slice digits
        half = 1 << (cfg.weight_bits - 1)
        self.offset_digits = np.array([(half >> (s * bps)) & self.lslice for s in range(S)],
                                      dtype=float)
        if cfg.mapping == "offset_unit_column":  # a reference column at the offset level
            g_ref = self.gmin + self.delta * self.offset_digits / self.lslice
            ref = program(np.broadcast_to(g_ref[:, None, None], (S, self.T, rows)).copy(),
                          cfg, rng)
        self.slices = _Slices(gp, gn, ref)
        self.valid_rows = valid.reshape(self.T, rows)
        self.x_scale = 1.0
        self.x_signed = False
        self.adc_lo: np.ndarray | None = None  # (S,) calibrated ranges
        self.adc_hi: np.ndarray | None = None
        self._eff: np.ndarray | None = None  # programmed G+ - G- per slice and tile
        self._g2: np.ndarray | None = None  # G+^2 + G-^2 (proportional read noise)
        self._matrix: np.ndarray | None = None  # whole-layer matrix when reads are linear

    def _slice(self, level: np.ndarray) -> np.ndarray:
        if self.S == 1:
            return level[None]
        if not self.cfg.quantize:
            # unquantised: split the value exactly, the top slice takes the remainder
            out = np.zeros((self.S, *level.shape))
            rest = level.copy()
            for s in range(self.S - 1):
                out[s] = np.mod(rest, self.lslice + 1)
                rest = np.floor(rest / (self.lslice + 1))
            out[-1] = rest
            return out
        q = level.astype(np.int64)
        return np.stack([(q >> (s * self.bps)) & self.lslice for s in range(self.S)]).astype(
            float)

    # ------------------------------------------------------------------ input quantisation
    def calibrate_inputs(self, a: np.ndarray) -> None:
        """Input range of the layer from calibration activations."""
        self.x_signed = bool(np.any(a < 0))
        self.x_scale = float(np.max(np.abs(a))) or 1.0

    def calibrate(self, a: np.ndarray) -> None:
        """Input range and, with calibrated ADC ranges and quantisation on, the ADC ranges
        from calibration activations ``a`` (B, k)."""
        self.calibrate_inputs(a)
        if self.cfg.adc_range == "calibrated" and self.cfg.quantize:
            self.calibrate_adc(self._inputs(a))

    def _inputs(self, a: np.ndarray) -> np.ndarray:
        v = np.clip(a / self.x_scale, -1.0 if self.x_signed else 0.0, 1.0)
        if self.cfg.quantize:
            lx = (1 << (self.cfg.input_bits - (1 if self.x_signed else 0))) - 1
            v = np.rint(v * lx) / lx
        return v

    # ------------------------------------------------------------------ analog read
    def _read(self, v: np.ndarray) -> np.ndarray:
        """Pre-ADC column currents (S, B, T, n) for normalised inputs v (B, k); offset
        mappings return the currents minus their zero-level offset where it is digital.

        Read noise (``read_noise_model``): each device's cell reads ``max(G + s z, 0)`` with
        ``s = sigma`` (independent, Gmax units) or ``sigma x G`` (proportional). Where no cell
        with an input can go below 0 (``G / s >= 4.75`` for all, a clipping probability below
        1e-6 per cell) the noise of a column is one Gaussian of variance ``sum v^2 s^2`` per
        device (exact); otherwise every cell is drawn and clipped (:mod:`._analog_noise`).
        With IR drop the noise is added to the solved currents as that Gaussian (the noisy
        network is not re-solved per read)."""
        cfg, sl = self.cfg, self.slices
        rows = cfg.rows
        vb = np.pad(v, ((0, 0), (0, self.T * rows - self.k))).reshape(len(v), self.T, rows)
        devices = [sl.pos] if sl.neg is None else [sl.pos, sl.neg]
        sigma = cfg.read_noise_sigma
        prop = cfg.read_noise_model == "proportional"
        irdrop = cfg.rp_norm > 0 or cfg.rp_norm_row > 0
        if sigma > 0 and not irdrop and self._clips(v, devices):
            from ._analog_noise import noisy_reads

            y = np.empty((self.S, len(v), self.T, self.n))
            for s in range(self.S):
                for t in range(self.T):
                    y[s, :, t] = noisy_reads(vb[:, t], devices[0][s, t], sigma, prop, self.rng)
                    if len(devices) > 1:
                        y[s, :, t] -= noisy_reads(vb[:, t], devices[1][s, t], sigma, prop,
                                                  self.rng)
            return y
        if irdrop:  # per-device currents through the parasitic network
            from ._irdrop import solve_crossbar

            def tile_mvm(g: np.ndarray) -> np.ndarray:  # (S, T, rows, n) -> (S, B, T, n)
                out = np.empty((self.S, len(v), self.T, self.n))
                for s in range(self.S):
                    for t in range(self.T):
                        out[s, :, t] = solve_crossbar(g[s, t], vb[:, t], cfg.rp_norm,
                                                      cfg.rp_norm_row)
                return out

            y = tile_mvm(sl.pos)
            if sl.neg is not None:
                y = y - tile_mvm(sl.neg)
        else:  # linear: the differential pair reads as one difference matrix
            g = self._diff()
            y = np.empty((self.S, len(v), self.T, self.n))
            for s in range(self.S):
                for t in range(self.T):
                    y[s, :, t] = vb[:, t] @ g[s, t]
        if sigma > 0:  # one Gaussian per column and device
            v2 = vb * vb
            if prop:
                if self._g2 is None:  # sum of the devices' squared conductances (fixed)
                    self._g2 = sum(d * d for d in devices)
                var = np.empty_like(y)
                for s in range(self.S):
                    for t in range(self.T):
                        var[s, :, t] = v2[:, t] @ self._g2[s, t]
                y = y + self.rng.normal(0.0, 1.0, y.shape) * (sigma * np.sqrt(var))
            else:
                norm = np.sqrt(np.einsum("btr->bt", v2) * len(devices))
                y = y + self.rng.normal(0.0, 1.0, y.shape) * (sigma * norm[None, :, :, None])
        return y

    def _clips(self, v: np.ndarray, devices: list[np.ndarray]) -> bool:
        """Whether read noise can take a cell with an input below 0 conductance (a chance of
        at least 1e-6 per read: ``G / s < 4.75``)."""
        cfg = self.cfg
        if cfg.read_noise_model == "proportional":
            return cfg.read_noise_sigma > 1.0 / 4.75
        rows = cfg.rows
        used = np.zeros(self.T * rows, dtype=bool)
        used[:self.k] = np.any(v != 0, axis=0)
        used = used.reshape(self.T, rows)
        g_low = min(float(np.min(d[:, used], initial=np.inf)) for d in devices)
        return g_low < 4.75 * cfg.read_noise_sigma

    def _diff(self) -> np.ndarray:
        if self._eff is None:
            sl = self.slices
            self._eff = sl.pos - sl.neg if sl.neg is not None else sl.pos
        return self._eff

    def _adc(self, y: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        if not cfg.quantize:
            return y
        lo, hi = self._range()
        lo = lo[:, None, None, None]
        hi = hi[:, None, None, None]
        steps = (1 << cfg.adc_bits) - 1
        step = (hi - lo) / steps
        return lo + np.rint((np.clip(y, lo, hi) - lo) / step) * step

    def _range(self) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        if cfg.adc_range == "calibrated" and self.adc_lo is not None:
            return self.adc_lo, self.adc_hi  # type: ignore[return-value]
        # every input at full scale, every cell at Gmax: over the rows a tile uses, or over
        # the whole array height (adc_max_range)
        used = min(self.k, cfg.rows)
        vmax = float(cfg.rows if cfg.adc_max_range == "array" else used)
        if (cfg.adc_max_range == "aligned" and self.S > 1 and not self.signed
                and cfg.mapping.startswith("offset")):
            return self._aligned_range(used)
        if self.signed:
            span = self.delta * vmax
            return np.full(self.S, -span), np.full(self.S, span)
        lo = -vmax if self.x_signed else 0.0
        return np.full(self.S, lo), np.full(self.S, vmax)

    def _aligned_range(self, used: int) -> tuple[np.ndarray, np.ndarray]:
        """CrossSim's max range of a bit-sliced offset core (simulator/circuits/adc, MAX
        option): the rows used rounded to a power of 2, times 2^b / (2^b - 1) for b bits per
        slice, times the ADC-code and input-level corrections that make one ADC step a
        multiple of the smallest cell current (inputs at ``input_bits`` levels; bit-serial
        planes are 0/1 and need no input correction)."""
        cfg = self.cfg
        wb, adc = 2.0 ** self.bps, 2.0 ** cfg.adc_bits
        y = 2.0 ** float(np.round(np.log2(used))) * wb / (wb - 1.0)
        n_in = cfg.input_bits - (1 if self.x_signed else 0)
        if not cfg.bit_serial and n_in > 0:
            y *= 2.0 ** n_in / (2.0 ** n_in - 1.0)
        if self.x_signed:
            y *= (adc - 2.0) / adc
            return np.full(self.S, -y), np.full(self.S, y)
        y *= (adc - 1.0) / adc
        return np.zeros(self.S), np.full(self.S, y)

    def _bit_planes(self, v: np.ndarray) -> tuple[list[np.ndarray], int]:
        """Signed binary input planes (LSB first) of bit-serial inputs and the level count."""
        lx = (1 << (self.cfg.input_bits - (1 if self.x_signed else 0))) - 1
        q = np.rint(np.abs(v) * lx).astype(np.int64)
        sgn = np.sign(v)
        return [((q >> b) & 1) * sgn for b in range(lx.bit_length())], lx

    def calibrate_adc(self, v: np.ndarray) -> None:
        """Calibrated ADC ranges per slice from a percentile of pre-ADC values."""
        if self.cfg.bit_serial:
            planes, _ = self._bit_planes(v)
            y = np.concatenate([self._read(p) for p in planes], axis=1)
        else:
            y = self._read(v)
        p = self.cfg.adc_percentile
        if self.signed:
            hi = np.percentile(np.abs(y).reshape(self.S, -1), p, axis=1)
            hi = np.maximum(hi, 1e-12)
            self.adc_lo, self.adc_hi = -hi, hi
        else:
            flat = y.reshape(self.S, -1)
            self.adc_lo = np.percentile(flat, 100.0 - p, axis=1)
            self.adc_hi = np.maximum(np.percentile(flat, p, axis=1), self.adc_lo + 1e-12)

    def _combine(self, y: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Digital shift-add of slices and row tiles, back to the layer's units (B, n)."""
        base = float(self.lslice + 1)
        weights = base ** np.arange(self.S)  # slice significance
        cfg = self.cfg
        if self.signed:
            levels = y / self.delta * self.lslice  # weight levels x inputs
            total = np.einsum("s,sbtn->bn", weights, levels)
            return total * (self.w_scale / self.L) * self.x_scale
        rows = cfg.rows
        vb = np.pad(v, ((0, 0), (0, self.T * rows - self.k))).reshape(len(v), self.T, rows)
        if cfg.mapping == "offset_unit_column":  # read and digitised like any column
            ref = self.slices.ref
            assert ref is not None  # programmed for this mapping
            refc = np.einsum("btr,str->sbt", vb, ref)[..., None]
            zero = self._adc(np.broadcast_to(refc, y.shape).copy())
        else:  # exact digital offset from the input sum
            g_off = self.gmin + self.delta * self.offset_digits / self.lslice
            zero = g_off[:, None, None, None] * vb.sum(axis=2)[None, :, :, None]
        levels = (y - zero) / self.delta * self.lslice  # (u - offset) levels x inputs
        centred = np.einsum("s,sbtn->bn", weights, levels)
        # w / w_scale = (u - 2^(b-1)) / (2^(b-1) - 1): a zero weight is the offset level
        return centred / self.q_half * self.w_scale * self.x_scale

    def _linear(self) -> bool:
        """No per-read effect: the whole layer is one precomputed effective matrix."""
        c = self.cfg
        return (not c.quantize and c.read_noise_sigma == 0 and c.rp_norm == 0
                and c.rp_norm_row == 0)

    def mvm(self, a: np.ndarray) -> np.ndarray:
        """Simulated ``a @ w`` for activations a (B, k)."""
        v = self._inputs(a)
        cfg = self.cfg
        if self._linear():
            if self._matrix is None:
                eye = np.eye(self.k)
                self._matrix = self._combine(self._read(eye), eye) / self.x_scale
            return (v @ self._matrix) * self.x_scale
        if cfg.bit_serial and cfg.quantize:  # one read and one conversion per input bit
            planes, lx = self._bit_planes(v)
            out = np.zeros((len(a), self.n))
            for bit, plane in enumerate(planes):
                out += self._combine(self._adc(self._read(plane)), plane) * (2.0 ** bit / lx)
            return out
        return self._combine(self._adc(self._read(v)), v)
