"""Reproductions of published results: ``accel-sim reproduce NAME [--quick] -o DIR``.

Each reproduction writes ``DIR/comparison.csv`` (quantity, condition, paper, accel_sim,
rel_error, tolerance, ok), ``DIR/comparison.md`` and its plots.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import UnknownNameError
from ._common import Comparison, write_comparison

__all__ = ["DESCRIPTIONS", "REPRODUCTIONS", "Comparison", "get_reproduction", "write_comparison"]

#: name -> module (each has ``run(outdir: str, quick: bool) -> list[Comparison]``).
REPRODUCTIONS = {
    "amper": "accel_sim.reproduce.amper",
    "analog-xiao": "accel_sim.reproduce.analog_xiao",
    "duplex": "accel_sim.reproduce.duplex",
    "gpu-serving": "accel_sim.reproduce.gpu_serving",
    "learning-group": "accel_sim.reproduce.learning_group",
    "sat": "accel_sim.reproduce.sat",
}


#: name -> what it compares (listed by ``accel-sim reproduce --help``).
DESCRIPTIONS = {
    "amper": "AMPER (ICCAD 2022): replay latency/energy, speedup over GPU PER at 1e3..1e6 "
             "entries, DQN learning with uniform, PER, AMPER-k, AMPER-fr",
    "analog-xiao": "Xiao et al. (CAS Magazine 2022): analog accuracy vs ADC bits, "
                   "programming error, read noise, drift, IR drop on the digits networks",
    "duplex": "Duplex (MICRO 2024): Op/B, throughput, TBT, E2E latency and energy of xPU+PIM "
              "LLM serving vs H100; GPU tokens/s vs TensorRT-LLM measurements",
    "gpu-serving": "GPU LLM serving vs measured TensorRT-LLM (v0.6.1, v0.15) and MLPerf "
                   "Inference v4.0 (DGX-H100, llama2-70b, FP8) throughput and latency",
    "learning-group": "LearningGroup (FPT 2022): U280 throughput, utilisation, speedup vs "
                      "groups, Titan RTX comparison, FLGW accuracy",
    "sat": "SAT/BDWP (TCAD 2023): N:M training speedup against the ideal bound, N:M "
           "training accuracy",
}


def get_reproduction(name: str) -> Callable[..., list[Comparison]]:
    """The ``run`` function of a reproduction."""
    if name not in REPRODUCTIONS:
        raise UnknownNameError(f"unknown reproduction {name!r}; available: "
                               f"{', '.join(sorted(REPRODUCTIONS))}")
    return importlib.import_module(REPRODUCTIONS[name]).run
