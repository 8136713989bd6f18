"""Built-in devices (registered on import; third-party devices come through entry points)."""

from __future__ import annotations

from .._device import register_device
from .amper import AmperTcam
from .analog import AnalogArray
from .gpu import GpuRoofline
from .learning_group import LearningGroup
from .llm_system import (
    BankGroupPimSystem,
    BankPimSystem,
    DuplexSystem,
    LogicPimSystem,
    XpuSystem,
)
from .per import PerCpu, PerGpu
from .sat import SparseTrainingArray
from .systolic import SystolicArray

register_device(SystolicArray)
register_device(GpuRoofline)
register_device(AnalogArray)
register_device(LearningGroup)
register_device(SparseTrainingArray)
register_device(AmperTcam)
register_device(PerGpu)
register_device(PerCpu)
for _cls in (XpuSystem, LogicPimSystem, BankGroupPimSystem, BankPimSystem, DuplexSystem):
    register_device(_cls)

__all__ = ["AnalogArray", "BankGroupPimSystem", "BankPimSystem", "DuplexSystem", "GpuRoofline",
           "LearningGroup", "LogicPimSystem", "SparseTrainingArray", "SystolicArray",
           "XpuSystem"]
