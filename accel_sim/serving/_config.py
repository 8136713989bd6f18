"""The serving scenario, declared with :func:`~accel_sim.param` (the flags of ``accel-sim
serve`` and the serving parameters of ``explore --serve`` are generated from it)."""

from __future__ import annotations

from dataclasses import dataclass

from .._params import Config, param
from ..errors import ConfigError
from ..llm._model import MODELS, ROUTING_POLICIES

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig(Config):
    """A serving scenario (the flags of ``accel-sim serve``)."""

    model: str = param("mixtral_8x7b", choices=tuple(MODELS), search=False, short="-m",
                       metavar="MODEL", doc="Served model preset.")
    batch: int = param(64, low=1, high=65536, log=True, unit="requests",
                       doc="Most requests in flight (batch cap of continuous batching).")
    lin: int = param(512, low=1, high=1 << 20, unit="tokens", search=False,
                     doc="Prompt (input) length of every request.")
    lout: int = param(512, low=1, high=1 << 20, unit="tokens", search=False,
                      doc="Output length of every request (the prefill yields the first).")
    rate: float | None = param(None, low=1e-6, high=1e7, optional=True, unit="req/s",
                               search=False,
                               doc="Poisson arrival rate (unset: closed loop).")
    requests: int = param(1000, low=1, high=10_000_000, search=False,
                          doc="Requests to serve.")
    seed: int = param(0, low=0, high=2**63 - 1, search=False,
                      doc="Seed of arrivals and routing.")
    routing: str = param("uniform", choices=ROUTING_POLICIES, search=False,
                         doc="MoE routing: uniform, zipf or trace.")
    zipf_s: float = param(1.0, low=1e-3, high=10.0, search=False,
                          doc="Zipf exponent of expert popularity (routing=zipf).")
    routing_trace: str | None = param(None, optional=True, search=False,
                                      doc="Expert-frequency file (routing=trace): CSV layer,"
                                          "expert,weight or .npy [layers, experts].")
    prefill: str = param("mixed", choices=("mixed", "separate"), search=False,
                         doc="mixed: prompts join the decode iteration; separate: prefill "
                             "iterations run alone.")

    def _check(self) -> None:
        if self.routing == "trace" and not self.routing_trace:
            raise ConfigError("routing=trace needs routing_trace=PATH")
