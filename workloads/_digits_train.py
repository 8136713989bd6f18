"""Moved to :mod:`accel_sim.nets.digits_train`; re-exported for older imports."""

from __future__ import annotations

from accel_sim.nets.digits_train import *  # noqa: F403
from accel_sim.nets.digits_train import __all__  # noqa: F401
