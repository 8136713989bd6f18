"""Speed of the analog functional simulation, as ratios to plain numpy in the same run.

A 1024x1024 weight matrix on one 1024-row array (proportional mapping, one slice), float64:
time per MVM relative to ``x @ W`` in numpy, unbatched (one input vector) and batched (64
vectors), for: ideal; ADC + DAC + programming error; plus read noise (proportional: one
Gaussian per output, exact; independent: cells near 0 conductance clip, so every cell is drawn,
numba); plus IR drop (bit line at rp_norm 1e-5 and 1e-4; both wires at 1e-4, the iterative
solver); bit-serial inputs with an ADC per bit. Then the time of a full
digits test-set accuracy evaluation (450 images) with every non-ideality on.

Usage: ``python benchmarks/bench_analog.py``
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
from _timing import median_time

from accel_sim import simulate
from accel_sim.devices import AnalogLayer
from accel_sim.devices.analog import AnalogConfig

CASES: dict[str, dict[str, Any]] = {
    "ideal": dict(quantize=False),
    "ADC + DAC + programming error": dict(prog_error_model="independent",
                                          prog_error_sigma=0.02),
    "+ read noise 1 % proportional": dict(prog_error_model="independent",
                                          prog_error_sigma=0.02, read_noise_sigma=0.01,
                                          read_noise_model="proportional"),
    "+ read noise 1 % independent": dict(prog_error_model="independent",
                                         prog_error_sigma=0.02, read_noise_sigma=0.01),
    "+ IR drop rp_norm 1e-5": dict(prog_error_model="independent", prog_error_sigma=0.02,
                                   read_noise_sigma=0.01, rp_norm=1e-5),
    "+ IR drop rp_norm 1e-4": dict(prog_error_model="independent", prog_error_sigma=0.02,
                                   read_noise_sigma=0.01, rp_norm=1e-4),
    "+ IR drop both wires 1e-4": dict(prog_error_model="independent", prog_error_sigma=0.02,
                                      read_noise_sigma=0.01, rp_norm=1e-4, rp_norm_row=1e-4),
    "bit-serial, ADC per input bit": dict(bit_serial=True, dac_bits=1,
                                          prog_error_model="independent",
                                          prog_error_sigma=0.02),
}


def main() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1024, 1024))
    for batch in (1, 64):
        x = np.abs(rng.normal(size=(batch, 1024)))
        t_ref = median_time(partial(np.matmul, x, w))
        print(f"batch {batch}: numpy x @ W {t_ref * 1e6:.1f} us")
        for label, kw in CASES.items():
            cfg = AnalogConfig(rows=1024, cols=1024, **kw)
            lay = AnalogLayer(w, cfg, np.random.default_rng(1))
            lay.calibrate(x)
            t = median_time(partial(lay.mvm, x), repeat=3)
            print(f"  {label:<32} {t * 1e6:10.1f} us per call = {t / t_ref:8.1f}x numpy")
    full = dict(prog_error_model="independent", prog_error_sigma=0.05, read_noise_sigma=0.01,
                rp_norm=1e-4, rows=72)
    for name in ("digits_mlp", "digits_cnn"):
        t0 = time.perf_counter()
        acc = simulate(name, "analog", full).summary()["accuracy"]
        print(f"{name}: 450-image accuracy {acc:.3f} with every non-ideality in "
              f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
