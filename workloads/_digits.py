"""The digits networks moved to :mod:`accel_sim.nets.digits` (functional models, shared by the
devices' accuracy and the workloads); this module re-exports them for older imports."""

from __future__ import annotations

from accel_sim.nets.digits import *  # noqa: F403
from accel_sim.nets.digits import __all__  # noqa: F401
