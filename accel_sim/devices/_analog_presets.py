"""Published device presets for the ``analog`` programming-error model: SONOS and RRAM.

All functions take normalised target conductances ``g = G / Gmax`` (Gmax = 1, Gmin =
1 / on_off_ratio, the convention of :mod:`accel_sim.devices._analog_core`) and return
quantities in the same normalised units. The physical scale of each device (Gmax, or the
maximum cell current for SONOS) is a keyword argument defaulting to the value the source
suggests; only it, not the on/off ratio, enters the normalisation, because the physical
conductance is simply ``G = g * Gmax`` (CrossSim's affine map
``G = Gmin + (Gmax - Gmin) (g - gmin) / (1 - gmin)`` reduces to this when
``Gmin = Gmax * gmin``). Likewise CrossSim's ``sigma_G / (Gmax - Gmin) * Grange_norm`` equals
``sigma_G / Gmax``. The on/off ratio only decides which ``g`` occur (``g >= 1/on_off_ratio``).

The numbers were read from Sandia's CrossSim (https://github.com/sandialabs/cross-sim), release
3.2.0, commit ``0a2eb1eda183326ef4d98d792995c721105d3726`` (2026-04-03), files
``simulator/devices/custom/SONOS.py``, ``RRAM_Milo.py``, ``RRAM_Wan.py`` and
``simulator/devices/readme.md``. These are the device models of Xiao et al., "On the accuracy
of analog neural network inference accelerators", IEEE Circuits and Systems Magazine 22(4),
2022. The implementation here is independent; only facts (forms, constants, units) were taken.

SONOS (``sonos_*``)
-------------------
Source: V. Agrawal et al., "Subthreshold operation of SONOS analog memory to enable accurate
low-power neural network inference", IEDM 2022, pp. 21.7.1-21.7.4 (40 nm SONOS charge-trap
memory, statistics of 128K cells), via CrossSim ``simulator/devices/custom/SONOS.py`` (class
``SONOS``). The model works on the cell current I in nA (current and conductance are
interchangeable, the drain bias being fixed):

* Mapping: ``I = g * Imax``. CrossSim's suggestion is on/off ratio 1e7, "~0 to 16 uS", i.e.
  ``Imax = 1600 nA`` (16 uS x 0.1 V read, the value hard-coded in CrossSim 3.0); the
  programming-error/variability fit is accepted for ``Imax <= 3200 nA`` and the drift fit for
  ``Imax < 1800 nA`` (CrossSim raises otherwise; so do these functions). Default
  ``i_max_na = 1600``.
* Programming error / device-to-device variability (paper Fig. 10(a)), a saturating exponential
  ``sigma_I(I, t) = max(A(t) (1 - exp(-I / B(t))), 0)`` nA with (t in days)

  ====  ==========  ==========
  t     A [nA]      B [nA]
  ====  ==========  ==========
  0     19.88665    176.3115
  1     25.59102    186.85544
  2     28.72753    193.56834
  3     31.04318    198.90332
  4     33.76214    204.77023
  5     34.57909    207.34309
  ====  ==========  ==========

  and ``sigma_g = sigma_I / Imax``. At t = 0 this is the programming error. For t > 0 CrossSim
  applies the drift model *instead of* programming error: the spread at time t (which already
  contains the programming error) is evaluated at the drifted mean current, i.e.
  ``g(t) = sonos_drift(g, t) + N(0, 1) * sonos_sigma(sonos_drift(g, t), t)``.
* Mean drift (paper Fig. 10(b)): ``I(t) = I + D_t(I)``, ``D_t(I) = sum_{i=0}^{10} p_i(t) I^i``
  (I and D in nA), a 10th-degree polynomial fitted at t = 1..5 days (``SONOS_DRIFT_POLY``),
  ``D_0 = 0``. High states lose current (about -41 nA, -2.5 %, at 1600 nA after 5 days), the
  lowest states gain a few nA. The change is not monotone in time for states below ~553 nA
  (fitting noise of a few nA between consecutive days); above that (up to 1800 nA) the mean
  decreases monotonically with time.
* Between the measured days, the coefficients p_i, A and B are interpolated linearly (as
  CrossSim does), so ``D_t`` is linear in t on [0, 1 day]. Beyond 5 days CrossSim extrapolates
  the last segment linearly and warns that this is not accurate; here that requires
  ``extrapolate=True``, otherwise a ValueError is raised.
* Read noise (paper Fig. 11(b)), not time dependent: ``sigma_read = A_n (1 - exp(-I / B_n))``
  nA with ``A_n = 12.58037``, ``B_n = 215.36557`` (CrossSim's docstring says this models the
  "variance", but its code uses it as the standard deviation; so do we).
* Units conversion done here: CrossSim's time is in days; these functions take seconds,
  ``t_days = t_s / 86400``. The drifted mean is clipped at 0 (CrossSim clips the final noisy
  value at 0; the mean of the lowest states can dip ~0.02 nA below 0 at t = 3 days).
* Note: CrossSim 3.0/3.1 (commits 20c408a, 601222e) carried a different set of drift
  polynomials; release 3.2.0 replaced them. A and B did not change.

RRAM (``rram_*``)
-----------------
CrossSim has two RRAM programming-error presets and neither models drift or relaxation, so
there is no ``rram_drift``.

* ``rram_sigma`` (default RRAM preset, the ``RRAMMilo`` model that CrossSim's device readme
  lists as its RRAM reference): V. Milo et al., "Optimized programming algorithms for
  multilevel RRAM in hardware neural networks", IEEE IRPS 2021, via CrossSim
  ``simulator/devices/custom/RRAM_Milo.py``. Linear fit to the paper's Fig. 4 (IGVVA-100
  programming algorithm): ``sigma_G = max(-0.009107 G + 4.782321, 0)`` uS with G in uS.
  Suggested on/off ratio 4.5 (50 to 225 uS); CrossSim requires Gmax <= 225 uS and
  Gmin >= 50 uS. Default ``gmax_us = 225``; ``sigma_g = sigma_G / gmax_us``. For
  ``g * gmax_us < 50 uS`` (on/off ratio above 4.5) the fit is evaluated outside the measured
  range (linear extrapolation, up to 4.78 uS at G = 0): an assumption, not data.
* ``rram_wan_sigma`` (alternative): W. Wan et al., "A compute-in-memory chip based on resistive
  random-access memory", Nature 608, 504-512 (2022), via CrossSim
  ``simulator/devices/custom/RRAM_Wan.py`` (added in CrossSim 3.1). Cubic fit to Extended Data
  Fig. 3 (t = 1 s after programming, so it includes fast relaxation):
  ``sigma_G = max(1.536e-4 G^3 - 1.167e-2 G^2 + 2.374e-1 G + 1.053, 0)`` uS, G in uS,
  valid for Gmax <= 39.26 uS (CrossSim's check; no on/off ratio is suggested). Default
  ``gmax_us = 39.26``.

For the record, IBM aihwkit has an independent fit to the same Wan et al. data with drift
(``aihwkit.inference.noise.reram.ReRamWan2022NoiseModel``: 4th-order polynomials at 1 s,
1 day and 2 days); it is not used here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RRAM_MILO_GMAX_US",
    "RRAM_MILO_GMIN_US",
    "RRAM_MILO_ON_OFF_RATIO",
    "RRAM_MILO_SIGMA_COEFF",
    "RRAM_WAN_GMAX_US",
    "RRAM_WAN_SIGMA_COEFF",
    "SECONDS_PER_DAY",
    "SONOS_DRIFT_IMAX_NA",
    "SONOS_DRIFT_POLY",
    "SONOS_DRIFT_T_MAX_S",
    "SONOS_IMAX_NA",
    "SONOS_ON_OFF_RATIO",
    "SONOS_PROG_IMAX_NA",
    "SONOS_READ_AB",
    "SONOS_SIGMA_AB",
    "rram_sigma",
    "rram_wan_sigma",
    "sonos_drift",
    "sonos_read_sigma",
    "sonos_sigma",
]

SECONDS_PER_DAY = 86_400.0

# ====================================================================== SONOS (Agrawal 2022)
#: Default maximum cell current in nA (CrossSim: on/off 1e7, "~0 to 16 uS" at 0.1 V).
SONOS_IMAX_NA = 1600.0
#: Suggested on/off ratio (CrossSim SONOS.py docstring).
SONOS_ON_OFF_RATIO = 1e7
#: Largest Imax (nA) the variability fit accepts (CrossSim raises above it).
SONOS_PROG_IMAX_NA = 3200.0
#: Imax (nA) must stay below this for the drift fit (CrossSim raises at or above it).
SONOS_DRIFT_IMAX_NA = 1800.0
#: Last measured time; beyond it the fits are extrapolations.
SONOS_DRIFT_T_MAX_S = 5 * SECONDS_PER_DAY

#: Measurement times of the fits, in days.
_SONOS_T_DAYS = np.arange(6, dtype=np.float64)

#: Rows t = 0..5 days: (A, B) in nA of sigma_I = A (1 - exp(-I / B)) (paper Fig. 10(a)).
SONOS_SIGMA_AB = np.array(
    [
        [19.88665, 176.3115],
        [25.59102, 186.85544],
        [28.72753, 193.56834],
        [31.04318, 198.90332],
        [33.76214, 204.77023],
        [34.57909, 207.34309],
    ]
)

#: Rows t = 0..5 days: p_0..p_10 of the mean drift D_t(I) = sum p_i I^i, I and D in nA
#: (paper Fig. 10(b); CrossSim 3.2.0 values; row 0 is no drift by definition).
SONOS_DRIFT_POLY = np.array(
    [
        [0.0] * 11,
        [1.72684e-01, 5.72552e-02, -6.85715e-04, 3.50271e-06, -9.37682e-09, 1.40575e-11,
         -1.19803e-14, 5.41293e-18, -8.85448e-22, -1.66869e-25, 5.95180e-29],
        [2.50712e-01, 6.62195e-02, -6.83218e-04, 2.99442e-06, -6.78255e-09, 7.70482e-12,
         -3.04983e-15, -2.15919e-18, 2.94617e-21, -1.23359e-24, 1.85329e-28],
        [-1.75300e-02, 9.76883e-02, -9.63791e-04, 4.55551e-06, -1.22391e-08, 1.93786e-11,
         -1.85899e-14, 1.07659e-17, -3.58211e-21, 5.96785e-25, -3.30410e-29],
        [4.03338e-02, 1.03111e-01, -1.04740e-03, 4.83961e-06, -1.28132e-08, 1.99484e-11,
         -1.85139e-14, 1.00008e-17, -2.84944e-21, 3.01008e-25, 1.18747e-29],
        [3.19927e-01, 1.06596e-01, -1.04054e-03, 4.50290e-06, -1.10352e-08, 1.56477e-11,
         -1.27592e-14, 5.45513e-18, -7.26841e-22, -2.43893e-25, 7.14608e-29],
    ]
)

#: (A_n, B_n) in nA of the read-noise sigma A_n (1 - exp(-I / B_n)) (paper Fig. 11(b)).
SONOS_READ_AB = (12.58037, 215.36557)


def _interp_rows(table: np.ndarray, t_s: float, extrapolate: bool) -> np.ndarray:
    """Row of ``table`` (one row per day 0..5) linearly interpolated at ``t_s`` seconds.

    Beyond the last day the last segment is extended linearly if ``extrapolate``.
    """
    t_s = float(t_s)
    if not np.isfinite(t_s) or t_s < 0.0:
        raise ValueError(f"time since programming must be finite and >= 0 s, got {t_s}")
    if t_s > SONOS_DRIFT_T_MAX_S and not extrapolate:
        raise ValueError(
            f"SONOS drift/variability data end at 5 days ({SONOS_DRIFT_T_MAX_S:g} s); "
            f"got {t_s:g} s (pass extrapolate=True to extend the last segment linearly)"
        )
    t_d = t_s / SECONDS_PER_DAY
    k = min(int(np.floor(t_d)), len(_SONOS_T_DAYS) - 2)
    w = t_d - _SONOS_T_DAYS[k]
    return table[k] + w * (table[k + 1] - table[k])


def _check_imax(i_max_na: float, limit: float, what: str, strict: bool) -> float:
    i_max_na = float(i_max_na)
    bad = i_max_na >= limit if strict else i_max_na > limit
    if not i_max_na > 0.0 or bad:
        rel = "<" if strict else "<="
        raise ValueError(f"SONOS {what} fit needs 0 < i_max_na {rel} {limit:g} nA, "
                         f"got {i_max_na:g}")
    return i_max_na


def _saturating_sigma(current_na: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.maximum(a * -np.expm1(-current_na / b), 0.0)


def sonos_sigma(g: np.ndarray, t_s: float = 0.0, *, i_max_na: float = SONOS_IMAX_NA,
                extrapolate: bool = False) -> np.ndarray:
    """Standard deviation of the SONOS cell conductance, normalised to Gmax.

    ``sigma_g = A(t) (1 - exp(-g Imax / B(t))) / Imax`` (Agrawal et al., IEDM 2022, Fig. 10(a);
    constants from CrossSim ``SONOS.py``, see the module docstring).

    Args:
        g: Normalised conductances at which to evaluate (targets at t = 0; for t > 0 pass the
            drifted means ``sonos_drift(g, t_s)``, as CrossSim does).
        t_s: Time since programming in seconds; 0 gives the programming error, t > 0 the total
            spread measured at that time (programming error included).
        i_max_na: Cell current at g = 1, in nA (<= 3200 nA).
        extrapolate: Allow t_s beyond 5 days (linear extrapolation, not validated).

    Returns:
        Non-negative sigma in units of Gmax, same shape as ``g``.
    """
    i_max_na = _check_imax(i_max_na, SONOS_PROG_IMAX_NA, "variability", strict=False)
    a, b = _interp_rows(SONOS_SIGMA_AB, t_s, extrapolate)
    current = np.asarray(g, dtype=np.float64) * i_max_na
    return _saturating_sigma(current, a, b) / i_max_na


def sonos_drift(g: np.ndarray, t_s: float, *, i_max_na: float = SONOS_IMAX_NA,
                extrapolate: bool = False) -> np.ndarray:
    """Mean normalised SONOS conductance ``t_s`` seconds after programming to target ``g``.

    ``g(t) = max(I + D_t(I), 0) / Imax`` with ``I = g Imax`` in nA and ``D_t`` the
    10th-degree drift polynomial of Agrawal et al., IEDM 2022, Fig. 10(b) (coefficients from
    CrossSim ``SONOS.py``), linearly interpolated between the measured days 0..5.

    Args:
        g: Normalised target conductances.
        t_s: Time since programming in seconds (0 returns ``g`` unchanged).
        i_max_na: Cell current at g = 1, in nA (< 1800 nA for the drift fit).
        extrapolate: Allow t_s beyond 5 days (linear extrapolation, not validated).

    Returns:
        Drifted mean conductances in units of Gmax, same shape as ``g``.
    """
    i_max_na = _check_imax(i_max_na, SONOS_DRIFT_IMAX_NA, "drift", strict=True)
    poly = _interp_rows(SONOS_DRIFT_POLY, t_s, extrapolate)
    g = np.asarray(g, dtype=np.float64)
    if not poly.any():
        return g.copy()
    current = g * i_max_na
    shift = np.polynomial.polynomial.polyval(current, poly)
    return np.maximum(current + shift, 0.0) / i_max_na


def sonos_read_sigma(g: np.ndarray, *, i_max_na: float = SONOS_IMAX_NA) -> np.ndarray:
    """Per-read noise sigma of a SONOS cell, normalised to Gmax (time independent).

    ``sigma = A_n (1 - exp(-g Imax / B_n)) / Imax``, ``A_n = 12.58037`` nA,
    ``B_n = 215.36557`` nA (Agrawal et al., IEDM 2022, Fig. 11(b), via CrossSim ``SONOS.py``).
    """
    i_max_na = _check_imax(i_max_na, SONOS_PROG_IMAX_NA, "read-noise", strict=False)
    a, b = SONOS_READ_AB
    current = np.asarray(g, dtype=np.float64) * i_max_na
    return _saturating_sigma(current, a, b) / i_max_na


# ====================================================================== RRAM
#: Milo et al., IRPS 2021, Fig. 4 (IGVVA-100): sigma_G = max(c1 G + c0, 0) uS, G in uS.
RRAM_MILO_SIGMA_COEFF = (4.782321, -0.009107)  # (c0, c1)
RRAM_MILO_GMAX_US = 225.0
RRAM_MILO_GMIN_US = 50.0
RRAM_MILO_ON_OFF_RATIO = RRAM_MILO_GMAX_US / RRAM_MILO_GMIN_US  # 4.5

#: Wan et al., Nature 2022, Extended Data Fig. 3 (t = 1 s):
#: sigma_G = max(c0 + c1 G + c2 G^2 + c3 G^3, 0) uS, G in uS.
RRAM_WAN_SIGMA_COEFF = (1.053, 2.374e-1, -1.167e-2, 1.536e-4)  # (c0, c1, c2, c3)
RRAM_WAN_GMAX_US = 39.26


def _poly_sigma(g: np.ndarray, gmax_us: float, coeff: tuple[float, ...], limit_us: float,
                name: str) -> np.ndarray:
    gmax_us = float(gmax_us)
    if not 0.0 < gmax_us <= limit_us:
        raise ValueError(f"{name} fit needs 0 < gmax_us <= {limit_us:g} uS, got {gmax_us:g}")
    conductance_us = np.asarray(g, dtype=np.float64) * gmax_us
    sigma_us = np.polynomial.polynomial.polyval(conductance_us, coeff)
    return np.maximum(sigma_us, 0.0) / gmax_us


def rram_sigma(g: np.ndarray, *, gmax_us: float = RRAM_MILO_GMAX_US) -> np.ndarray:
    """Programming-error sigma of the RRAM preset (Milo et al., IRPS 2021), normalised to Gmax.

    ``sigma_g = max(4.782321 - 0.009107 g Gmax, 0) / Gmax`` with Gmax in uS (linear fit to
    Fig. 4, IGVVA-100 algorithm, from CrossSim ``RRAM_Milo.py``). Measured for 50..225 uS
    (on/off 4.5); below 50 uS the line is extrapolated. No drift is modelled.

    Args:
        g: Normalised target conductances.
        gmax_us: Physical Gmax in uS (<= 225 uS).

    Returns:
        Non-negative sigma in units of Gmax, same shape as ``g``.
    """
    return _poly_sigma(g, gmax_us, RRAM_MILO_SIGMA_COEFF, RRAM_MILO_GMAX_US, "RRAM (Milo)")


def rram_wan_sigma(g: np.ndarray, *, gmax_us: float = RRAM_WAN_GMAX_US) -> np.ndarray:
    """Programming-error sigma of the Wan et al. (Nature 2022) RRAM, normalised to Gmax.

    ``sigma_G = max(1.536e-4 G^3 - 1.167e-2 G^2 + 0.2374 G + 1.053, 0)`` uS with
    ``G = g Gmax`` in uS (cubic fit to Extended Data Fig. 3 at t = 1 s, from CrossSim
    ``RRAM_Wan.py``); ``sigma_g = sigma_G / Gmax``.

    Args:
        g: Normalised target conductances.
        gmax_us: Physical Gmax in uS (<= 39.26 uS).

    Returns:
        Non-negative sigma in units of Gmax, same shape as ``g``.
    """
    return _poly_sigma(g, gmax_us, RRAM_WAN_SIGMA_COEFF, RRAM_WAN_GMAX_US, "RRAM (Wan)")
