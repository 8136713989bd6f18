"""LLMs as functional models: presets, per-iteration operator traces, MoE routing, and the
:class:`ServingSystem` protocol a device implements to be served.

The serving simulator itself is :mod:`accel_sim.serving` (``serve``, ``ServeConfig``,
``ServeResult``); importing those names from here still works but is deprecated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._model import MODELS, ROUTING_POLICIES, LlmModel, get_model
    from ._ops import (
        activation_bytes,
        balanced_counts,
        iteration_trace,
        layer_traffic,
        op_intensity,
    )
    from ._routing import Router
    from ._system import (
        ServingLayout,
        ServingSystem,
        StepCoster,
        StepCosts,
        is_serving_system,
    )

__all__ = ["MODELS", "ROUTING_POLICIES", "LlmModel", "Router", "ServingLayout", "ServingSystem",
           "StepCoster", "StepCosts", "activation_bytes", "balanced_counts", "get_model",
           "is_serving_system", "iteration_trace", "layer_traffic", "op_intensity"]

__getattr__, __dir__ = lazy_names(__name__, {
    "MODELS": "_model", "ROUTING_POLICIES": "_model", "LlmModel": "_model",
    "get_model": "_model", "activation_bytes": "_ops", "balanced_counts": "_ops",
    "iteration_trace": "_ops", "layer_traffic": "_ops", "op_intensity": "_ops",
    "Router": "_routing", "ServingLayout": "_system", "ServingSystem": "_system",
    "StepCoster": "_system", "StepCosts": "_system", "is_serving_system": "_system",
}, moved={  # names that moved: name -> (module, new home shown in the warning)
    "serve": ("accel_sim.serving", "accel_sim.serving.serve"),
    "ServeConfig": ("accel_sim.serving", "accel_sim.serving.ServeConfig"),
    "ServeResult": ("accel_sim.serving", "accel_sim.serving.ServeResult"),
    "REQUEST_COLUMNS": ("accel_sim.serving", "accel_sim.serving.REQUEST_COLUMNS"),
    "StepModel": ("accel_sim.devices._llm_step",
                  "ServingSystem.step_costs(model, router) of a device"),
})
