"""LLM serving: model presets, per-iteration operators, MoE routing and the serving simulator."""

from __future__ import annotations

from ._model import MODELS, LlmModel, get_model
from ._ops import balanced_counts, iteration_trace, layer_traffic, op_intensity
from ._routing import ROUTING_POLICIES, Router
from ._serve import REQUEST_COLUMNS, ServeConfig, ServeResult, serve
from ._step import StepModel

__all__ = ["MODELS", "REQUEST_COLUMNS", "ROUTING_POLICIES", "LlmModel", "Router", "ServeConfig",
           "ServeResult", "StepModel", "balanced_counts", "get_model", "iteration_trace",
           "layer_traffic", "op_intensity", "serve"]
