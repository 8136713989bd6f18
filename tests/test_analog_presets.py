"""analog device presets: SONOS (Agrawal et al., IEDM 2022) and RRAM (Milo et al., IRPS 2021;
Wan et al., Nature 2022) as modelled in Sandia CrossSim 3.2.0 (commit 0a2eb1ed,
simulator/devices/custom/{SONOS,RRAM_Milo,RRAM_Wan}.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from accel_sim.devices._analog_presets import (
    SECONDS_PER_DAY,
    SONOS_DRIFT_T_MAX_S,
    rram_sigma,
    rram_wan_sigma,
    sonos_drift,
    sonos_read_sigma,
    sonos_sigma,
)

G = np.linspace(0.0, 1.0, 1001)
DAY = SECONDS_PER_DAY
TIMES_S = [0.0, 0.5 * DAY, 1 * DAY, 2 * DAY, 2.7 * DAY, 3 * DAY, 4 * DAY, 5 * DAY]


# ---------------------------------------------------------------- finite and non-negative
@pytest.mark.parametrize("t_s", TIMES_S)
@pytest.mark.parametrize("i_max_na", [100.0, 1600.0, 1799.0])
def test_sonos_sigma_and_drift_finite_non_negative(t_s, i_max_na):
    s = sonos_sigma(G, t_s, i_max_na=i_max_na)
    assert s.shape == G.shape and np.all(np.isfinite(s)) and np.all(s >= 0.0)
    d = sonos_drift(G, t_s, i_max_na=i_max_na)
    assert d.shape == G.shape and np.all(np.isfinite(d)) and np.all(d >= 0.0)


@pytest.mark.parametrize(
    "fn, scales",
    [(sonos_read_sigma, {"i_max_na": [100.0, 1600.0, 3200.0]}),
     (rram_sigma, {"gmax_us": [10.0, 100.0, 225.0]}),
     (rram_wan_sigma, {"gmax_us": [5.0, 20.0, 39.26]})],
)
def test_sigmas_finite_non_negative(fn, scales):
    (name, values), = scales.items()
    for v in values:
        s = fn(G, **{name: v})
        assert s.shape == G.shape and np.all(np.isfinite(s)) and np.all(s >= 0.0)
    assert fn(np.zeros((2, 3))).shape == (2, 3)


# ---------------------------------------------------------------- values read from the source
def test_sonos_programming_error_values():
    # CrossSim SONOS.py, t = 0: A = 19.88665 nA, B = 176.3115 nA, sigma_I = A (1 - exp(-I/B));
    # Imax = 1600 nA (on/off 1e7, "~0 to 16 uS"), sigma_g = sigma_I / Imax.
    assert sonos_sigma(np.array([1.0]))[0] == pytest.approx(
        19.88665 * (1 - math.exp(-1600 / 176.3115)) / 1600, rel=1e-12)
    assert sonos_sigma(np.array([1.0]))[0] == pytest.approx(0.0124277, rel=1e-5)
    # sigma(0) = 0: the saturating exponential vanishes for an empty cell.
    assert sonos_sigma(np.array([0.0]))[0] == 0.0
    # t = 2 days: A = 28.72753 nA, B = 193.56834 nA; at I = 800 nA (g = 0.5).
    assert sonos_sigma(np.array([0.5]), 2 * DAY)[0] == pytest.approx(0.0176668, rel=1e-5)


def test_sonos_read_noise_value():
    # CrossSim SONOS.py read_noise: A_noise = 12.58037 nA, B_noise = 215.36557 nA; I = 1600 nA.
    assert sonos_read_sigma(np.array([1.0]))[0] == pytest.approx(0.00785806, rel=1e-5)


def test_sonos_drift_values():
    # CrossSim 3.2.0 SONOS.py, t = 5 days polynomial at I = 1600 nA: D = -40.698 nA, so
    # g(5 d) = (1600 - 40.698) / 1600.
    assert sonos_drift(np.array([1.0]), 5 * DAY)[0] == pytest.approx(
        (1600 - 40.69845) / 1600, rel=1e-6)
    # t = 1 day polynomial at I = 800 nA: D = -3.8268 nA.
    assert sonos_drift(np.array([0.5]), 1 * DAY)[0] == pytest.approx(
        (800 - 3.826779) / 1600, rel=1e-7)


def test_rram_milo_values():
    # CrossSim RRAM_Milo.py (Milo et al. IRPS 2021 Fig. 4, IGVVA-100):
    # sigma_G = -0.009107 G + 4.782321 uS; Gmax = 225 uS, Gmin = 50 uS (on/off 4.5).
    assert rram_sigma(np.array([1.0]))[0] == pytest.approx(2.733246 / 225, rel=1e-9)
    assert rram_sigma(np.array([50 / 225]))[0] == pytest.approx(4.326971 / 225, rel=1e-9)
    # Smaller Gmax: same fit in uS, normalised by the new Gmax (G = 0.5 * 100 uS = 50 uS).
    assert rram_sigma(np.array([0.5]), gmax_us=100.0)[0] == pytest.approx(4.326971 / 100)
    # Error grows as the conductance decreases (negative slope).
    s = rram_sigma(G)
    assert np.all(np.diff(s) < 0)


def test_rram_wan_values():
    # CrossSim RRAM_Wan.py (Wan et al. Nature 2022 Ext. Data Fig. 3, t = 1 s), G in uS:
    # sigma_G = 1.536e-4 G^3 - 1.167e-2 G^2 + 0.2374 G + 1.053 uS, Gmax <= 39.26 uS.
    assert rram_wan_sigma(np.array([0.0]))[0] == pytest.approx(1.053 / 39.26, rel=1e-12)
    g20 = 1.536e-4 * 20**3 - 1.167e-2 * 20**2 + 0.2374 * 20 + 1.053  # 2.3618 uS at 20 uS
    assert rram_wan_sigma(np.array([1.0]), gmax_us=20.0)[0] == pytest.approx(g20 / 20.0)
    assert g20 == pytest.approx(2.3618, abs=1e-9)


# ---------------------------------------------------------------- drift properties
def test_sonos_drift_identity_at_zero_and_continuous():
    assert np.array_equal(sonos_drift(G, 0.0), G)
    # Coefficients are interpolated linearly from D_0 = 0, so tiny t gives tiny changes.
    assert np.max(np.abs(sonos_drift(G, 1.0) - G)) < 1e-6
    # Sigma at t -> 0 tends to the programming error.
    assert np.allclose(sonos_sigma(G, 1.0), sonos_sigma(G), rtol=1e-5, atol=1e-12)


def test_sonos_drift_linear_interpolation_between_days():
    # Half-way between day 1 and day 2 the mean drift is the average of the two fits.
    g = np.linspace(0.05, 1.0, 20)
    mid = sonos_drift(g, 1.5 * DAY)
    avg = 0.5 * (sonos_drift(g, 1 * DAY) + sonos_drift(g, 2 * DAY))
    assert np.allclose(mid, avg, rtol=0, atol=1e-12)


def test_sonos_drift_monotone_in_time_for_programmed_states():
    # High states lose current monotonically over the 5 measured days (I >= ~553 nA at
    # Imax = 1600 nA, i.e. g >= 0.35); the lowest states move by only a few nA either way.
    g = np.linspace(0.35, 1.0, 131)
    ts = np.linspace(0.0, SONOS_DRIFT_T_MAX_S, 41)
    traj = np.stack([sonos_drift(g, t) for t in ts])
    assert np.all(np.diff(traj, axis=0) <= 1e-15)
    assert np.all(traj[-1] < g)
    # Low states: |drift| stays below 5 nA (about 0.3 % of Gmax) over the window.
    low = np.linspace(0.0, 0.3, 61)
    for t in ts:
        assert np.max(np.abs(sonos_drift(low, t) - low)) * 1600 < 5.0


def test_sonos_drift_preserves_state_order_and_spread_grows():
    for t in TIMES_S:
        assert np.all(np.diff(sonos_drift(G, t)) > 0)
    # The variability amplitude A(t) grows with time: sigma at full scale increases.
    s = [sonos_sigma(np.array([1.0]), t)[0] for t in TIMES_S]
    assert all(b > a for a, b in itertools.pairwise(s))


# ---------------------------------------------------------------- range checks
def test_sonos_time_and_scale_limits():
    with pytest.raises(ValueError, match="5 days"):
        sonos_drift(G, 6 * DAY)
    with pytest.raises(ValueError, match="5 days"):
        sonos_sigma(G, 6 * DAY)
    with pytest.raises(ValueError):
        sonos_drift(G, -1.0)
    with pytest.raises(ValueError, match="1800"):
        sonos_drift(G, DAY, i_max_na=1800.0)
    with pytest.raises(ValueError, match="3200"):
        sonos_sigma(G, i_max_na=3300.0)
    # Drift limit does not apply to the programming error alone.
    assert np.all(np.isfinite(sonos_sigma(G, i_max_na=3200.0)))
    # Opt-in extrapolation past 5 days is continuous at the boundary.
    end = sonos_drift(G, SONOS_DRIFT_T_MAX_S)
    assert np.allclose(sonos_drift(G, SONOS_DRIFT_T_MAX_S + 1.0, extrapolate=True), end,
                       atol=1e-6)
    assert np.all(np.isfinite(sonos_drift(G, 6 * DAY, extrapolate=True)))


def test_rram_scale_limits():
    with pytest.raises(ValueError, match="225"):
        rram_sigma(G, gmax_us=300.0)
    with pytest.raises(ValueError, match=r"39\.26"):
        rram_wan_sigma(G, gmax_us=40.0)
    with pytest.raises(ValueError):
        rram_sigma(G, gmax_us=0.0)
