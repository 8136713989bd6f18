"""LLM serving: model presets, per-iteration operators, MoE routing and the serving simulator."""

from __future__ import annotations

from ._model import MODELS, LlmModel, get_model
from ._ops import balanced_counts, iteration_trace, op_intensity
from ._routing import ROUTING_POLICIES, Router

__all__ = ["MODELS", "ROUTING_POLICIES", "LlmModel", "Router", "balanced_counts", "get_model",
           "iteration_trace", "op_intensity"]
