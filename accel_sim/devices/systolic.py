from __future__ import annotations
from dataclasses import dataclass
from .._device import Device
from .._params import Config, param
@dataclass(frozen=True)
class SystolicConfig(Config):
    rows: int = param(32, low=1, high=4096)
class SystolicArray(Device):
    name = "systolic"
    Config = SystolicConfig
    def evaluate(self, trace):
        raise NotImplementedError
