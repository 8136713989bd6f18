"""What a device must offer to serve an LLM: the :class:`ServingSystem` protocol.

The continuous-batching server (:func:`accel_sim.serving.serve`) and ``explore --serve`` use
a device only through these methods, so a third-party device that implements them (besides
the :class:`accel_sim.Device` contract) is served and explored like the built-in xPU/PIM
systems. :class:`accel_sim.testing.ServingSystemContract` checks an implementation.

Call protocol, per serving run:

1. ``serving_layout(model)`` once: the devices the system uses for ``model`` and their power
   while idle (the server charges it while no request is in flight).
2. ``max_batch(model, lin + lout)`` once: how many requests' KV caches fit (the batch cap).
3. ``step_costs(model, router)`` once: an object whose ``steps(n_decode, sum_kv, prefill,
   context)`` costs a run of iterations, vectorised over ``sum_kv`` (one entry per iteration),
   called many times while the simulation advances. ``context`` (tokens of each prompt chunk
   already cached) is passed only under chunked prefill or recompute; a coster whose ``steps``
   has no ``context`` parameter is still served, each chunk priced as a prompt of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, overload, runtime_checkable

import numpy as np

from ._model import LlmModel
from ._routing import Router

__all__ = ["ServingLayout", "ServingSystem", "StepCoster", "StepCosts"]


@dataclass(frozen=True)
class ServingLayout:
    """How a system serves one model.

    Attributes:
        devices: Devices in the system.
        idle_power_w: Power of all of them while idle, W (the server charges it for the time
            no iteration runs; an iteration's own energy is in :class:`StepCosts`).
    """

    devices: int
    idle_power_w: float


@dataclass(frozen=True)
class StepCosts:
    """Costs of a run of iterations, one entry per iteration.

    Attributes:
        latency_s: Wall time of each iteration, s.
        energy_j: Energy of each iteration (dynamic plus the devices' power while it runs), J.
        offload_s: Time each iteration keeps an offload unit (PIM) busy, s (zeros for a
            system without one): the summary's ``pim_busy_fraction``.
    """

    latency_s: np.ndarray
    energy_j: np.ndarray
    offload_s: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        """``latency, energy, offload = costs`` (the three arrays in that order)."""
        return iter((self.latency_s, self.energy_j, self.offload_s))


class StepCoster(Protocol):
    """Costs of serving iterations of one model on one system (see the module docstring)."""

    def steps(self, n_decode: int, sum_kv: np.ndarray, prefill: tuple[int, ...] = ()
              ) -> StepCosts:
        """Iterations in which ``n_decode`` requests decode one token each, their KV lengths
        summing to ``sum_kv[i]`` tokens in iteration ``i``, and the prompts (or prompt
        chunks) ``prefill`` (tokens each) are prefilled: one :class:`StepCosts` entry per
        ``sum_kv`` entry. Optionally a fourth parameter ``context: tuple[int, ...] = ()``:
        tokens of each chunk's prompt already in the KV cache."""
        ...


@runtime_checkable
class ServingSystem(Protocol):
    """A device that can serve an LLM (implemented by :class:`accel_sim.devices.llm_system.
    LlmSystem` and its five systems)."""

    name: str

    def serving_layout(self, model: LlmModel) -> ServingLayout:
        """The devices used for ``model`` and their idle power."""
        ...

    def max_batch(self, model: LlmModel, tokens_per_request: int) -> int:
        """Requests of ``tokens_per_request`` tokens (prompt + output) whose KV cache fits next
        to the weights (0: not even one; the weights alone may not fit)."""
        ...

    def step_costs(self, model: LlmModel, router: Router | None) -> StepCoster:
        """The iteration-cost model of ``model`` (``router``: expert routing of a MoE model,
        ``None`` for a dense one)."""
        ...


@overload
def is_serving_system(obj: type[Any]) -> bool: ...
@overload
def is_serving_system(obj: object) -> TypeGuard[ServingSystem]: ...


def is_serving_system(obj: object) -> bool:
    """Whether a device class or instance implements :class:`ServingSystem` (for an instance,
    a type guard)."""
    return all(callable(getattr(obj, m, None))
               for m in ("serving_layout", "max_batch", "step_costs"))
