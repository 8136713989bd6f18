"""The serving scenario, declared with :func:`~accel_sim.param` (the flags of ``accel-sim
serve`` and the serving parameters of ``explore --serve`` are generated from it)."""

from __future__ import annotations

from dataclasses import dataclass

from .._params import Config, param
from ..errors import ConfigError
from ..llm._model import MODELS, ROUTING_POLICIES
from ._policy import SCHEDULERS
from ._requests import LENGTH_DISTS, SHIPPED_TRACES, check_spread

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
                             "iterations run alone (with scheduler unset: orca / vllm).")
    scheduler: str | None = param(None, choices=tuple(SCHEDULERS), optional=True,
                                  search=False,
                                  doc="Batching policy: vllm (prefill first), sarathi "
                                      "(chunked prefill), orca (prompts join decodes), "
                                      "static (a batch runs to completion); unset: orca, or "
                                      "vllm with prefill=separate.")
    chunk_size: int = param(512, low=1, high=1 << 20, unit="tokens", search=False,
                            doc="Token budget of an iteration under scheduler=sarathi "
                                "(decodes plus prompt chunks; Sarathi-Serve's 512).")
    max_batched_tokens: int | None = param(
        None, low=1, high=1 << 22, optional=True, unit="tokens", search=False,
        doc="Tokens one iteration may process under orca, vllm and static (vLLM's "
            "max_num_batched_tokens, TensorRT-LLM's max_num_tokens): whole prompts are "
            "admitted while they fit beside the decodes; unset: no limit (sarathi: "
            "chunk_size).")
    block_size: int | None = param(None, low=1, high=1 << 16, optional=True,
                                   unit="tokens", search=False,
                                   doc="Paged KV cache: blocks of this many tokens allocated "
                                       "as requests grow, preempting when memory runs out "
                                       "(vLLM's 16); unset: each request reserves lin + "
                                       "lout up front.")
    preemption: str = param("recompute", choices=("recompute", "swap"), search=False,
                            doc="What a preempted request does (paged KV): recompute its KV "
                                "on readmission, or swap it to host memory and back.")
    swap_gbs: float = param(25.0, low=1e-3, high=1e4, unit="GB/s", search=False,
                            doc="Host link per device for swapping (PCIe 4.0 x16: 32 GB/s "
                                "raw, about 25 GB/s achieved).")
    trace: str | None = param(None, optional=True, search=False, metavar="FILE.csv",
                              doc="Request trace: CSV with lin, lout and optional arrival_s "
                                  f"columns, or a shipped trace ({', '.join(SHIPPED_TRACES)}"
                                  "); the first --requests rows are served (repeated if "
                                  "fewer).")
    length_dist: str = param("fixed", choices=LENGTH_DISTS, search=False,
                             doc="Distribution of prompt and output lengths (means lin and "
                                 "lout).")
    length_spread: float = param(0.5, low=1e-6, high=20.0, search=False,
                                 doc="Spread of length_dist: uniform half-width / mean (0-1), "
                                     "lognormal sigma of ln L (0-3), zipf exponent (2-20).")
    replicas: int = param(1, low=1, high=4096, unit="replicas", search=False,
                          doc="Replicas of the serving system (each of --devices devices).")
    router: str = param("round_robin", choices=("round_robin", "least_outstanding",
                                                "random"), search=False,
                        doc="How arrivals are sent to replicas.")
    op_profile: str | None = param(None, optional=True, search=False, metavar="FILE.csv",
                                   doc="Measured operator times (operator, tokens, context, "
                                       "devices, seconds) replacing the analytical timing.")

    def _check(self) -> None:
        if self.routing == "trace" and not self.routing_trace:
            raise ConfigError("routing=trace needs routing_trace=PATH")
        if self.scheduler is not None and self.prefill != "mixed":
            raise ConfigError(f"prefill={self.prefill} applies only with scheduler unset "
                              "(scheduler=vllm runs prefills alone)")
        check_spread(self.length_dist, self.length_spread)
        if self.trace is not None and self.length_dist != "fixed":
            raise ConfigError("give request lengths once: --trace or --length-dist")
        if self.replicas > self.requests:
            raise ConfigError(f"replicas={self.replicas} is more than requests="
                              f"{self.requests} (a replica would serve nothing)")

    @property
    def token_budget(self) -> int | None:
        """Tokens per iteration of the scheduler used (chunk_size under sarathi)."""
        return self.chunk_size if self.policy_name == "sarathi" else self.max_batched_tokens

    @property
    def policy_name(self) -> str:
        """The scheduler used (``scheduler``, or the one ``prefill`` implies)."""
        if self.scheduler is not None:
            return self.scheduler
        return "vllm" if self.prefill == "separate" else "orca"
