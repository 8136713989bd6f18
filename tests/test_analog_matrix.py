"""The public array API: ``from accel_sim.analog import AnalogMatrix``."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim.analog import AnalogMatrix
from accel_sim.devices.analog import AnalogConfig
from accel_sim.errors import AccelSimError, ConfigError

W = np.random.default_rng(0).normal(size=(12, 70))  # outputs x inputs
X = np.random.default_rng(1).uniform(-1, 1, size=(6, 70))


@pytest.mark.parametrize("mapping", ["proportional", "differential", "offset_digital",
                                     "offset_unit_column"])
def test_unquantised_product_is_exact(mapping):
    A = AnalogMatrix(W, {"quantize": False, "mapping": mapping, "rows": 32})
    np.testing.assert_allclose(A @ X, X @ W.T, rtol=0, atol=1e-9)  # batch: rows are inputs
    np.testing.assert_allclose(A @ X[0], W @ X[0], rtol=0, atol=1e-9)  # one vector
    assert A.shape == (12, 70) and A.ideal is not W and np.array_equal(A.ideal, W)
    assert not A.ideal.flags.writeable


def test_quantised_product_errors_shrink_with_adc_bits():
    errs = []
    for bits in (4, 8, 12):
        A = AnalogMatrix(W, {"adc_bits": bits, "input_bits": 8, "dac_bits": 8}).calibrate(X)
        errs.append(np.abs(A @ X - X @ W.T).mean())
    assert errs[0] > errs[1] > errs[2]


def test_config_or_mapping_and_seeded_noise():
    cfg = AnalogConfig(read_noise_sigma=0.05, read_noise_model="proportional",
                       prog_error_model="independent", prog_error_sigma=0.02)
    a, b = AnalogMatrix(W, cfg, seed=3), AnalogMatrix(W, cfg.to_dict(), seed=3)
    np.testing.assert_array_equal(a @ X, b @ X)  # same seed, same numbers
    c = AnalogMatrix(W, cfg, seed=4)
    assert not np.array_equal(a @ X, c @ X)
    first, second = a @ X, a @ X
    assert not np.array_equal(first, second)  # read noise is fresh on every product


@pytest.mark.parametrize(("args", "kwargs", "fragment"), [
    ((W, {"rows": 3}), {}, "rows=3 is out of range"),
    ((W, {"nope": 1}), {}, "nope"),
    ((np.ones(5),), {}, "2-D matrix"),
    ((W * np.nan,), {}, "NaN"),
    ((W,), {"x_max": 0.0}, "x_max"),
])
def test_bad_arguments_are_config_errors(args, kwargs, fragment):
    with pytest.raises(AccelSimError, match=fragment):
        AnalogMatrix(*args, **kwargs)


def test_bad_inputs_are_config_errors():
    A = AnalogMatrix(W)
    with pytest.raises(ConfigError, match="70 inputs"):
        _ = A @ np.ones(5)
    with pytest.raises(ConfigError, match="NaN"):
        _ = A @ (X * np.nan)
