"""The contract of a serving system (:class:`accel_sim.llm.ServingSystem`), as pytest tests.

Every test is parametrised over the cases it checks (model presets, scenarios), so a failure
names its case, e.g. ``test_step_costs[llama3_70b-decode]``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from .._device import Device
from ..llm import ServingSystem, get_model, is_serving_system
from ..llm._routing import Router

#: Model presets checked by default: a MoE model with GQA and a dense one.
MODELS = ("mixtral_8x7b", "llama3_70b")


def _router(model: str):
    m = get_model(model)
    return Router(m.experts, m.top_k, m.moe_layers, seed=0) if m.is_moe else None


class ServingSystemContract:
    """Contract tests of a serving system. Set ``device_class`` (a :class:`accel_sim.Device`
    subclass implementing :class:`accel_sim.llm.ServingSystem`); optionally override
    :meth:`device` (the configuration checked; it must hold the presets in :data:`MODELS`)."""

    device_class: ClassVar[type[Device]]

    def device(self) -> Device:
        """The device checked (default: default configuration)."""
        return self.device_class()

    def _system(self) -> ServingSystem:
        """:meth:`device`, a serving system."""
        dev = self.device()
        assert is_serving_system(dev), "serving_layout, max_batch and step_costs are required"
        return dev

    # ---------------------------------------------------------------- declaration
    def test_implements_the_protocol(self) -> None:
        assert issubclass(self.device_class, Device)
        assert is_serving_system(self.device_class), (
            "serving_layout, max_batch and step_costs are required")

    @pytest.mark.parametrize("model", MODELS)
    def test_layout(self, model: str) -> None:
        lay = self._system().serving_layout(get_model(model))
        assert isinstance(lay.devices, int) and lay.devices >= 1
        assert math.isfinite(lay.idle_power_w) and lay.idle_power_w >= 0

    @pytest.mark.parametrize("model", MODELS)
    def test_max_batch(self, model: str) -> None:
        """An integer >= 0 that does not grow when requests get longer."""
        dev, m = self._system(), get_model(model)
        fits = [dev.max_batch(m, t) for t in (64, 512, 4096, 32768)]
        assert all(isinstance(f, int) and f >= 0 for f in fits), fits
        assert fits == sorted(fits, reverse=True), fits

    # ---------------------------------------------------------------- iteration costs
    @pytest.mark.parametrize("case", ["decode", "prefill", "mixed"])
    @pytest.mark.parametrize("model", MODELS)
    def test_step_costs(self, model: str, case: str) -> None:
        """One finite, non-negative entry per iteration; latency > 0."""
        dev = self._system()
        costs = dev.step_costs(get_model(model), _router(model))
        sum_kv = np.array([256.0, 1024.0, 4096.0])
        n_decode, prefill = {"decode": (8, ()), "prefill": (0, (128,)),
                             "mixed": (8, (128, 64))}[case]
        if n_decode == 0:
            sum_kv = np.zeros(3)
        out = costs.steps(n_decode, sum_kv, prefill)
        for name in ("latency_s", "energy_j", "offload_s"):
            arr = np.asarray(getattr(out, name))
            assert arr.shape == (3,), f"{name} has shape {arr.shape}, expected (3,)"
            assert np.all(np.isfinite(arr)) and np.all(arr >= 0), f"{name}: {arr}"
        assert np.all(out.latency_s > 0)

    @pytest.mark.parametrize("model", ["llama3_70b"])
    def test_longer_context_costs_at_least_as_much(self, model: str) -> None:
        """Decode attention reads the KV cache: a longer context never makes an iteration
        faster (a dense model: MoE routing draws new expert counts every iteration)."""
        costs = self._system().step_costs(get_model(model), _router(model))
        lat = costs.steps(16, np.array([16 * 128.0, 16 * 1024.0, 16 * 8192.0])).latency_s
        assert np.all(np.diff(lat) >= -1e-15), lat

    @pytest.mark.parametrize("model", ["llama3_70b"])
    def test_chunked_prefill_serves(self, model: str) -> None:
        """Chunked prefill and a paged cache work on the system; a coster that takes the
        optional ``context`` never prices a chunk cheaper after more of its prompt is
        cached."""
        import inspect

        from ..serving import ServeConfig, serve

        dev, m = self._system(), get_model(model)
        steps: Any = dev.step_costs(m, _router(model)).steps  # the optional 4th parameter
        if "context" in inspect.signature(steps).parameters:
            lat = [float(steps(0, np.zeros(1), (256,), context=(c,)).latency_s[0])
                   for c in (0, 1024, 4096)]
            assert lat == sorted(lat), lat
        cfg = ServeConfig(model=model, batch=8, lin=700, lout=8, requests=12, rate=20.0,
                          scheduler="sarathi", chunk_size=256, block_size=16)
        s = serve(cfg, dev).summary
        assert s["output_tokens"] == 12 * 8 and math.isfinite(s["ttft_p99_s"])

    # ---------------------------------------------------------------- served end to end
    @pytest.mark.parametrize("mode", ["closed_loop", "poisson"])
    @pytest.mark.parametrize("model", MODELS)
    def test_serves_a_small_scenario(self, model: str, mode: str) -> None:
        """`serve` runs on the system; metrics are finite and the same seed gives the same
        numbers."""
        from ..serving import SERVING_METRICS, ServeConfig, serve

        dev, m = self._system(), get_model(model)
        fit = dev.max_batch(m, 64 + 16)
        assert fit >= 1, (f"{model} does not fit the configuration checked (max_batch = 0): "
                          "override device() with one that holds it")
        cfg = ServeConfig(model=model, batch=min(8, fit), lin=64, lout=16, requests=24,
                          rate=50.0 if mode == "poisson" else None, seed=3)
        a, b = serve(cfg, dev).summary, serve(cfg, dev).summary
        assert a == b
        for key in ("throughput_tok_s", "ttft_p50_s", "tbt_p50_s", "e2e_p99_s",
                    "energy_per_token_j"):
            assert math.isfinite(a[key]) and a[key] > 0, (key, a[key])
        assert a["output_tokens"] == 24 * 16
        numeric = [k for k, v in a.items() if isinstance(v, (int, float))]
        assert not SERVING_METRICS.undeclared(numeric), SERVING_METRICS.undeclared(numeric)

    def test_explored_with_serving_parameters(self) -> None:
        """`explore --serve` searches the device's and the scenario's parameters together."""
        from ..serving import ServingEvaluator

        ev = ServingEvaluator(self.device_class)
        names = {s.name for s in ev.config_cls.specs()}
        assert {"batch", "lin", "lout", "model"} <= names
        assert {s.name for s in self.device_class.Config.specs()} <= names
