"""Reproductions of published results: ``accel-sim reproduce NAME [--quick] -o DIR``.

Each reproduction writes ``DIR/comparison.csv`` (quantity, condition, paper, accel_sim,
rel_error, tolerance, ok), ``DIR/comparison.md`` and its plots.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import UnknownNameError
from ._common import Comparison, write_comparison

__all__ = ["REPRODUCTIONS", "Comparison", "get_reproduction", "write_comparison"]

#: name -> module (each has ``run(outdir: str, quick: bool) -> list[Comparison]``).
REPRODUCTIONS = {
    "amper": "accel_sim.reproduce.amper",
    "analog-xiao": "accel_sim.reproduce.analog_xiao",
    "duplex": "accel_sim.reproduce.duplex",
    "learning-group": "accel_sim.reproduce.learning_group",
    "sat": "accel_sim.reproduce.sat",
}


def get_reproduction(name: str) -> Callable[..., list[Comparison]]:
    """The ``run`` function of a reproduction."""
    if name not in REPRODUCTIONS:
        raise UnknownNameError(f"unknown reproduction {name!r}; available: "
                               f"{', '.join(sorted(REPRODUCTIONS))}")
    return importlib.import_module(REPRODUCTIONS[name]).run
