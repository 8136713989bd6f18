"""LLM serving: the continuous-batching server (simpy) over any device that implements
:class:`accel_sim.llm.ServingSystem`, its scenario (:class:`ServeConfig`) and results, and the
explorer's adapter (``explore --serve``)."""

from __future__ import annotations

from ._serve import (
    REQUEST_COLUMNS,
    ServeConfig,
    ServeResult,
    ServingEvaluator,
    serve,
    serving_devices,
)

__all__ = ["REQUEST_COLUMNS", "ServeConfig", "ServeResult", "ServingEvaluator", "serve",
           "serving_devices"]
