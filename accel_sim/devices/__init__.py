"""Built-in devices. Each is an entry point of the group ``accel_sim.devices`` in accel_sim's
package metadata (``setup.cfg``), found and imported one at a time by
:mod:`accel_sim._registry`, exactly like a third-party device. The class names below are
loaded on first use (``from accel_sim.devices import SystolicArray``), and so are the circuit
models of the analog device: :class:`AnalogLayer` (one weight matrix programmed onto
crossbars, its simulated MVM) and the IR-drop crossbar solver :func:`solve_crossbar` (with
:func:`solve_crossbar_stats`, which also returns its sweep count; :class:`IRDropError`)."""

from __future__ import annotations

import importlib
from typing import Any

#: Device class name -> submodule.
_CLASSES = {
    "AmperTcam": "amper", "AnalogArray": "analog", "GpuRoofline": "gpu",
    "LearningGroup": "learning_group", "PerCpu": "per", "PerGpu": "per",
    "SparseTrainingArray": "sat", "SystolicArray": "systolic",
    "BankGroupPimSystem": "llm_system", "BankPimSystem": "llm_system",
    "DuplexSystem": "llm_system", "LogicPimSystem": "llm_system", "XpuSystem": "llm_system",
}
#: Other public name -> submodule.
_MODELS = {
    "AnalogLayer": "_analog_core", "IRDropError": "_irdrop", "solve_crossbar": "_irdrop",
    "solve_crossbar_stats": "_irdrop",
}

__all__ = sorted([*_CLASSES, *_MODELS])


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name) or _MODELS.get(name)
    if module is None:
        raise AttributeError(f"module 'accel_sim.devices' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
