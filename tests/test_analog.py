"""analog: mapping counts, ideal equality with numpy, non-ideality statistics, accuracy, bad
input, contract."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim import Layer, OpKind, Trace, simulate
from accel_sim.devices._analog_core import PCM_PROG_COEFF, AnalogLayer, mapping_pass, program
from accel_sim.devices.analog import MAPPINGS, AnalogArray, AnalogConfig
from accel_sim.errors import ConfigError
from accel_sim.testing import DeviceContract


class TestAnalogContract(DeviceContract):
    device_class = AnalogArray

    def configs(self):
        return [AnalogConfig(),
                AnalogConfig(mapping="offset_unit_column", weight_slices=2, rows=64, cols=64,
                             bit_serial=True, dac_bits=1),
                AnalogConfig(mapping="differential", prog_error_model="pcm",
                             prog_error_sigma=1.0, read_noise_sigma=0.01, rp_norm=1e-4)]


def _layer(w, a, **kw):
    cfg = AnalogConfig(**kw)
    lay = AnalogLayer(w, cfg, np.random.default_rng(0))
    lay.calibrate_inputs(a)
    if cfg.quantize and cfg.adc_range == "calibrated":
        lay.calibrate_adc(lay._inputs(a))
    return lay


W = np.random.default_rng(1).normal(size=(300, 40))
A = np.abs(np.random.default_rng(2).normal(size=(16, 300)))
A_SIGNED = np.random.default_rng(3).normal(size=(16, 300))


@pytest.mark.parametrize("mapping", MAPPINGS)
@pytest.mark.parametrize("slices", [1, 2, 4])
def test_ideal_configuration_equals_numpy(mapping, slices):
    for a in (A, A_SIGNED):
        lay = _layer(W, a, mapping=mapping, weight_slices=slices, quantize=False, rows=128)
        np.testing.assert_allclose(lay.mvm(a), a @ W, rtol=0, atol=1e-6 * np.abs(a @ W).max())


def test_quantised_error_shrinks_with_bits():
    errs = []
    for bits in (2, 4, 8):
        lay = _layer(W, A, weight_bits=bits, input_bits=bits, dac_bits=bits, adc_bits=bits + 4,
                     rows=512)
        errs.append(np.abs(lay.mvm(A) - A @ W).max())
    assert errs[0] > errs[1] > errs[2]


def test_bit_serial_matches_parallel_inputs_without_adc_loss():
    par = _layer(W, A, adc_bits=16, rows=512)
    ser = _layer(W, A, adc_bits=16, rows=512, bit_serial=True, dac_bits=1)
    np.testing.assert_allclose(ser.mvm(A), par.mvm(A), atol=2e-3 * np.abs(A @ W).max())


def test_mapping_pass_counts():
    tr = Trace("t", (Layer("fc", OpKind.GEMM, m=5, n=40, k=300, batch=2, groups=3),
                     Layer("relu", OpKind.ELEMENTWISE, m=5, n=40, k=1)))
    cfg = AnalogConfig(rows=128, cols=64, weight_slices=2, mapping="proportional")
    p = mapping_pass(cfg, tr)
    assert p.row_tiles.tolist() == [3, 0]  # ceil(300 / 128)
    assert p.col_tiles.tolist() == [3, 0]  # ceil(40 * 2 devices * 2 slices / 64)
    assert p.arrays.tolist() == [27, 0]  # 3 x 3 tiles x 3 groups
    assert p.mvms.tolist() == [30, 0]  # batch 2 x 5 rows x 3 groups
    assert p.adc_conversions.tolist() == [3 * 40 * 2 * 30, 0]
    ser = mapping_pass(cfg.replace(bit_serial=True, dac_bits=1, mapping="offset_unit_column"),
                       tr)
    # 1 device per slice + a reference column per array; 8 input bits -> 8 conversions each
    assert ser.col_tiles.tolist() == [2, 0]  # ceil(40 * 2 / 63)
    assert ser.adc_conversions.tolist() == [(3 * 40 * 2 + 3 * 2) * 8 * 30, 0]


def test_performance_scales_with_conversions_and_area_with_arrays():
    tr = Trace("t", (Layer("fc", OpKind.GEMM, m=64, n=256, k=1024),))
    base = AnalogArray(AnalogConfig(rows=256, cols=256)).evaluate(tr)
    serial = AnalogArray(AnalogConfig(rows=256, cols=256, bit_serial=True, dac_bits=1)
                         ).evaluate(tr)
    assert serial.latency_s > 4 * base.latency_s
    assert serial.energy_breakdown["adc"] == pytest.approx(8 * base.energy_breakdown["adc"])
    small = AnalogArray(AnalogConfig(rows=64, cols=64)).evaluate(tr)
    assert small.summary()["arrays"] == 16 * 8 and base.summary()["arrays"] == 4 * 2


def test_programming_error_statistics():
    g = np.full(200_000, 0.6)
    rng = np.random.default_rng(5)
    ind = program(g, AnalogConfig(prog_error_model="independent", prog_error_sigma=0.05), rng)
    assert np.std(ind - g) == pytest.approx(0.05, rel=0.02)
    prop = program(g, AnalogConfig(prog_error_model="proportional", prog_error_sigma=0.05), rng)
    assert np.std(prop - g) == pytest.approx(0.05 * 0.6, rel=0.02)
    pcm = program(g, AnalogConfig(prog_error_model="pcm", prog_error_sigma=1.0), rng)
    c0, c1, c2 = PCM_PROG_COEFF
    assert np.std(pcm - g) == pytest.approx((c0 + c1 * 0.6 + c2 * 0.36) / 25.0, rel=0.02)
    drift = program(g, AnalogConfig(drift_time_s=2000.0), rng)
    np.testing.assert_allclose(drift, g * (2000.0 / 20.0) ** -0.05)
    from accel_sim.devices._analog_presets import rram_sigma, sonos_drift, sonos_sigma

    rram = program(g, AnalogConfig(prog_error_model="rram", prog_error_sigma=1.0), rng)
    assert np.std(rram - g) == pytest.approx(rram_sigma(np.array([0.6]))[0], rel=0.02)
    t = 3 * 86400.0
    sonos = program(g, AnalogConfig(prog_error_model="sonos", prog_error_sigma=1.0,
                                    drift_time_s=t), rng)
    mean = sonos_drift(np.array([0.6]), t)[0]
    assert np.mean(sonos) == pytest.approx(mean, abs=1e-3)
    assert np.std(sonos) == pytest.approx(sonos_sigma(np.array([mean]), t)[0], rel=0.02)


def _rectified_var(mu, s):
    """Variance of max(X, 0) for X ~ N(mu, s^2) (closed form of the rectified Gaussian)."""
    from math import erf, exp, pi, sqrt

    mu, s = np.broadcast_arrays(np.asarray(mu, float), np.asarray(s, float))
    out = np.zeros(mu.shape)
    for idx in np.ndindex(mu.shape):
        m, sd = float(mu[idx]), float(s[idx])
        a = m / sd
        cdf, pdf = 0.5 * (1 + erf(a / sqrt(2))), exp(-a * a / 2) / sqrt(2 * pi)
        e1 = m * cdf + sd * pdf
        e2 = (m * m + sd * sd) * cdf + m * sd * pdf
        out[idx] = e2 - e1 * e1
    return out


def test_read_noise_is_resampled_per_read_with_the_configured_sigma():
    """Proportional at 2 %: no cell can reach 0, one Gaussian per column of variance
    sigma^2 sum_i v_i^2 (G+_i^2 + G-_i^2), exact."""
    lay = _layer(W, A, read_noise_sigma=0.02, read_noise_model="proportional",
                 quantize=False, rows=512)
    v = lay._inputs(A[:1])
    ys = np.stack([lay._read(v)[0, 0, 0] for _ in range(4000)])
    gp, gn = lay.slices.pos[0, 0, :300, 0], lay.slices.neg[0, 0, :300, 0]
    expected = 0.02 * np.sqrt(np.sum(v[0] ** 2 * (gp ** 2 + gn ** 2)))
    assert np.std(ys[:, 0]) == pytest.approx(expected, rel=0.05)
    assert not np.allclose(ys[0], ys[1])


@pytest.mark.parametrize("model", ["independent", "proportional"])
def test_read_noise_clipped_at_zero_has_the_rectified_variance(model):
    """When noise can take a cell below 0 every cell is drawn and clipped: a column's
    variance is sum_i v_i^2 Var[max(G_i + s_i z, 0)] (s = sigma, or sigma x G), smaller than
    the unclipped sigma^2 sum v_i^2 (1 or G_i^2); its mean rises by the clipped tails."""
    sigma = 0.3 if model == "independent" else 0.5
    lay = _layer(W[:64, :4], A[:, :64], read_noise_sigma=sigma, read_noise_model=model,
                 quantize=False, rows=64, mapping="offset_digital", on_off_ratio=10.0)
    v = lay._inputs(A[:1, :64])
    g = lay.slices.pos[0, 0]  # (64, 4)
    ys = np.stack([lay._read(v)[0, 0, 0] for _ in range(6000)])
    s = sigma if model == "independent" else sigma * g
    want = np.sum(v[0, :, None] ** 2 * _rectified_var(g, s), axis=0)
    unclipped = np.sum(v[0, :, None] ** 2 * np.broadcast_to(s, g.shape) ** 2, axis=0)
    np.testing.assert_allclose(ys.var(axis=0), want, rtol=0.06)
    assert (want < 0.97 * unclipped).all()  # the clipping is visible at this sigma
    assert (ys.mean(axis=0) > v[0] @ g).all()  # clipped tails only add current


def test_digits_accuracy_metric_and_trends():
    ideal = simulate("digits_mlp", "analog", {"quantize": False}).summary()["accuracy"]
    base = simulate("digits_mlp", "analog").summary()["accuracy"]
    noisy = simulate("digits_mlp", "analog", {"prog_error_model": "independent",
                                              "prog_error_sigma": 0.3}).summary()["accuracy"]
    assert ideal >= 0.95 and base >= ideal - 0.02
    assert noisy < base - 0.05
    again = simulate("digits_mlp", "analog", {"prog_error_model": "independent",
                                              "prog_error_sigma": 0.3}).summary()["accuracy"]
    assert again == noisy  # same seed, same numbers
    cnn = simulate("digits_cnn", "analog", {"eval_samples": 200}).summary()["accuracy"]
    assert cnn >= 0.95
    assert "accuracy" not in simulate("resnet18", "analog").summary()


@pytest.mark.parametrize("bad,needle", [
    ({"weight_bits": 7, "weight_slices": 2}, "weight_bits=7 is not divisible into "
                                             "weight_slices=2"),
    ({"adc_bits": 0}, "adc_bits=0 is out of range: int in [1, 16]"),
    ({"rows": 0}, "rows=0 is out of range"),
    ({"cols": 0}, "cols=0 is out of range"),
    ({"prog_error_sigma": -0.1}, "prog_error_sigma=-0.1 is out of range"),
    ({"read_noise_sigma": -1.0}, "read_noise_sigma=-1.0 is out of range"),
    ({"mapping": "twos_complement"}, "mapping='twos_complement' is not allowed: one of "
                                     "proportional, differential"),
    ({"prog_error_model": "mram"}, "prog_error_model='mram' is not allowed"),
    ({"prog_error_model": "sonos", "drift_time_s": 1e6}, "covers [0, 432000] s"),
    ({"prog_error_model": "rram", "drift_time_s": 10.0}, "no drift model"),
    ({"weight_bits": 8, "weight_slices": 2, "cell_bits": 2}, "cell_bits=2"),
    ({"input_bits": 8, "dac_bits": 4}, "dac_bits=4 < input_bits=8"),
    ({"prog_error_sigma": 0.1}, "needs a prog_error_model"),
])
def test_bad_config(bad, needle):
    with pytest.raises(ConfigError) as info:
        AnalogConfig(**bad)
    assert needle in str(info.value)


def test_accuracy_is_an_explorable_objective(tmp_path):
    from accel_sim.cli import main

    assert main(["explore", "-w", "digits_mlp", "-d", "analog", "--objectives",
                 "accuracy,energy", "--space", "adc_bits=2:8", "mapping", "--trials", "4",
                 "-q", "-o", str(tmp_path / "ex")]) == 0
    import csv

    with open(tmp_path / "ex" / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    for r in rows:
        assert 0.0 <= float(r["objective_accuracy"]) <= 1.0
        assert float(r["objective_accuracy"]) == float(r["accuracy"])


def test_reproduction_writes_the_comparison_table_and_plots(tmp_path):
    import csv

    from accel_sim.cli import main

    assert main(["reproduce", "analog-xiao", "--quick", "-o", str(tmp_path)]) == 0
    from _golden import assert_matches_golden

    assert_matches_golden(tmp_path, "reproduce-analog-xiao")
    with open(tmp_path / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:7] == ["quantity", "condition", "paper", "accel_sim", "rel_error",
                                 "tolerance", "ok"]
    assert len(rows) >= 7
    for name in ("accuracy_sweeps.png", "sweeps.csv", "comparison.md", "vgg8_breakdown.csv",
                 "vgg8_breakdown.png"):
        assert (tmp_path / name).exists()
    # the trend that must show: offset needs at least as many ADC bits as proportional (on
    # the quick run's 150 images both need the same; the full run's 450 give offset 1 more)
    extra = next(r for r in rows if r["quantity"].startswith("extra ADC bits"))
    assert float(extra["accel_sim"]) >= 0


def test_adc_max_range_follows_the_rows_a_layer_uses():
    """adc_range=max: every input at full scale and every cell at Gmax over the rows used:
    a 64-row layer on a 1152-row array spans 64 x (Gmax - Gmin), not 1152 x."""
    w = np.random.default_rng(4).normal(size=(64, 8))
    a = np.abs(np.random.default_rng(5).normal(size=(4, 64)))
    lay = _layer(w, a, adc_range="max", rows=1152)
    lo, hi = lay._range()
    delta = 1.0 - 1.0 / 1000.0
    np.testing.assert_allclose(hi, [64 * delta])
    np.testing.assert_allclose(lo, [-64 * delta])
    wide = _layer(w, a, adc_range="max", rows=1152, adc_max_range="array")
    np.testing.assert_allclose(wide._range()[1], [1152 * delta])
    tall = _layer(W, A, adc_range="max", rows=128)  # 300 rows over 128-row tiles
    np.testing.assert_allclose(tall._range()[1], [128 * delta])
    # a range 18x tighter resolves the layer's products better
    err = np.abs(lay.mvm(a) - a @ w).mean()
    assert err < np.abs(wide.mvm(a) - a @ w).mean()


def test_adc_max_range_aligned_is_crosssims_bit_sliced_offset_convention():
    """CrossSim's max range of a bit-sliced offset core (simulator/circuits/adc set_limits):
    256 rows x 2^2/(2^2 - 1) (2-bit slices) x 255/256 (8-bit ADC) x 256/255 (8-bit inputs)
    = 341.33, so one ADC step is 341.33 / 255 = 1.3386 = 4 x (1/3 cell level) x 256/255."""
    w = np.random.default_rng(6).normal(size=(256, 8))
    a = np.abs(np.random.default_rng(7).normal(size=(4, 256)))
    cfg = {"adc_range": "max", "rows": 1152, "mapping": "offset_digital", "weight_slices": 4,
           "cell_bits": 2}
    lo, hi = _layer(w, a, adc_max_range="aligned", **cfg)._range()
    np.testing.assert_allclose(hi, np.full(4, 256 * 4 / 3 * 255 / 256 * 256 / 255))
    np.testing.assert_allclose(lo, np.zeros(4))
    # 300 rows round to 256; signed inputs: +-256 x 4/3 x 254/256 x 128/127
    lo_s, hi_s = _layer(np.vstack([w, w[:44]]), np.hstack([a, a[:, :44]]) - 0.5,
                        adc_max_range="aligned", **cfg)._range()
    np.testing.assert_allclose(hi_s, np.full(4, 256 * 4 / 3 * 254 / 256 * 128 / 127))
    np.testing.assert_allclose(lo_s, -hi_s)
    # bit-serial planes are 0/1: no input correction
    ser = _layer(w, a, adc_max_range="aligned", bit_serial=True, dac_bits=1, **cfg)._range()
    np.testing.assert_allclose(ser[1], np.full(4, 256 * 4 / 3 * 255 / 256))
    # the default stays the rows used; without slicing, aligned is the rows used as well
    np.testing.assert_allclose(_layer(w, a, **cfg)._range()[1], np.full(4, 256.0))
    one = _layer(w, a, adc_max_range="aligned", adc_range="max", mapping="offset_digital")
    np.testing.assert_allclose(one._range()[1], [256.0])


@pytest.mark.parametrize("bits", [4, 8])
def test_offset_mapping_stores_a_zero_weight_as_zero(bits):
    """Offset mappings put weights on the grid (u - 2^(b-1)) / (2^(b-1) - 1): zero is the
    offset level itself (it used to read back as +1 / (2^b - 1)); with the digital offset it
    reads back as exactly 0 (the unit-column mapping digitises its reference column, so its
    zero is exact to the ADC's step)."""
    w = np.array([[0.0, 1.0, -1.0], [0.5, 0.0, -0.25], [0.0, 0.0, 0.0]])
    lay = _layer(w, np.ones((1, 3)), mapping="offset_digital", weight_bits=bits, rows=8)
    half = 1 << (bits - 1)
    level = (lay.slices.pos[0, 0, :3] - lay.gmin) / lay.delta * lay.lslice  # stored levels
    np.testing.assert_allclose(level[w == 0], half, atol=1e-9)
    eye = np.eye(3)
    got = lay._combine(lay._read(eye), eye)  # every weight, without the ADC
    want = np.rint(w * (half - 1)) / (half - 1)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert np.all(got[w == 0] == pytest.approx(0.0, abs=1e-12))
