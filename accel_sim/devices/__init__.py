"""Built-in devices. Each is an entry point of the group ``accel_sim.devices`` in accel_sim's
package metadata (``setup.cfg``), found and imported one at a time by
:mod:`accel_sim._registry`, exactly like a third-party device. The class names below are
loaded on first use (``from accel_sim.devices import SystolicArray``), and so are the circuit
models of the analog device: :class:`AnalogLayer` (one weight matrix programmed onto
crossbars, its simulated MVM) and the IR-drop crossbar solver :func:`solve_crossbar` (with
:func:`solve_crossbar_stats`, which also returns its sweep count; :class:`IRDropError`)."""

from __future__ import annotations

from .._lazy import lazy_names

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

__getattr__, __dir__ = lazy_names(__name__, {**_CLASSES, **_MODELS})
