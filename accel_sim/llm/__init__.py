"""LLMs as functional models: presets, per-iteration operator traces, MoE routing, and the
:class:`ServingSystem` protocol a device implements to be served.

The serving simulator itself is :mod:`accel_sim.serving` (``serve``, ``ServeConfig``,
``ServeResult``); importing those names from here still works but is deprecated.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ._model import MODELS, LlmModel, get_model
from ._ops import activation_bytes, balanced_counts, iteration_trace, layer_traffic, op_intensity
from ._routing import ROUTING_POLICIES, Router
from ._system import ServingLayout, ServingSystem, StepCoster, StepCosts, is_serving_system

__all__ = ["MODELS", "ROUTING_POLICIES", "LlmModel", "Router", "ServingLayout", "ServingSystem",
           "StepCoster", "StepCosts", "activation_bytes", "balanced_counts", "get_model",
           "is_serving_system", "iteration_trace", "layer_traffic", "op_intensity"]

#: Names that moved: name -> (module, new home shown in the warning).
_MOVED = {
    "serve": ("accel_sim.serving", "accel_sim.serving.serve"),
    "ServeConfig": ("accel_sim.serving", "accel_sim.serving.ServeConfig"),
    "ServeResult": ("accel_sim.serving", "accel_sim.serving.ServeResult"),
    "REQUEST_COLUMNS": ("accel_sim.serving", "accel_sim.serving.REQUEST_COLUMNS"),
    "StepModel": ("accel_sim.devices._llm_step",
                  "ServingSystem.step_costs(model, router) of a device"),
}


def __getattr__(name: str) -> Any:
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module 'accel_sim.llm' has no attribute {name!r}")
    module, new = moved
    warnings.warn(f"accel_sim.llm.{name} is deprecated; use {new}", DeprecationWarning,
                  stacklevel=2)
    return getattr(importlib.import_module(module), name)
