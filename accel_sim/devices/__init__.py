"""Built-in devices (registered on import; third-party devices come through entry points)."""

from __future__ import annotations

from .._device import register_device
from .gpu import GpuRoofline
from .systolic import SystolicArray

register_device(SystolicArray)
register_device(GpuRoofline)

__all__ = ["GpuRoofline", "SystolicArray"]
