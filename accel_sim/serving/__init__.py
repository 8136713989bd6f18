"""LLM serving: the continuous-batching server (simpy) over any device that implements
:class:`accel_sim.llm.ServingSystem`, its scenario (:class:`ServeConfig`) and results, and the
explorer's adapter (``explore --serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from ._config import ServeConfig
    from ._serve import (
        REQUEST_COLUMNS,
        SERVING_METRICS,
        ServeResult,
        ServingEvaluator,
        serve,
        serving_devices,
    )

__all__ = ["REQUEST_COLUMNS", "SERVING_METRICS", "ServeConfig", "ServeResult",
           "ServingEvaluator", "serve", "serving_devices"]

__getattr__, __dir__ = lazy_names(__name__, {
    "ServeConfig": "_config", "REQUEST_COLUMNS": "_serve", "SERVING_METRICS": "_serve",
    "ServeResult": "_serve", "ServingEvaluator": "_serve", "serve": "_serve",
    "serving_devices": "_serve",
})
