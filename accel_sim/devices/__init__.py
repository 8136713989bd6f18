"""Built-in devices. Each is an entry point of the group ``accel_sim.devices`` in accel_sim's
package metadata (``setup.cfg``), found and imported one at a time by
:mod:`accel_sim._registry`, exactly like a third-party device. The class names below are
loaded on first use (``from accel_sim.devices import SystolicArray``)."""

from __future__ import annotations

from .._lazy import lazy_names

#: Class name -> submodule.
_CLASSES = {
    "AmperTcam": "amper", "AnalogArray": "analog", "GpuRoofline": "gpu",
    "LearningGroup": "learning_group", "PerCpu": "per", "PerGpu": "per",
    "SparseTrainingArray": "sat", "SystolicArray": "systolic",
    "BankGroupPimSystem": "llm_system", "BankPimSystem": "llm_system",
    "DuplexSystem": "llm_system", "LogicPimSystem": "llm_system", "XpuSystem": "llm_system",
}

__all__ = sorted(_CLASSES)

__getattr__, __dir__ = lazy_names(__name__, _CLASSES)
