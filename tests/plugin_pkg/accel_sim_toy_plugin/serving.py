"""A third-party serving system: accelerators as plain rooflines, served by ``accel-sim serve``
and explored by ``accel-sim explore --serve`` through :class:`accel_sim.llm.ServingSystem`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_sim import Config, Device, Report, Trace, param
from accel_sim.llm import LlmModel, Router, ServingLayout, StepCosts


@dataclass(frozen=True)
class ToyServerConfig(Config):
    """Identical accelerators sharing the work evenly."""

    devices: int = param(4, low=1, high=64, unit="devices", doc="Accelerators.")
    tflops: float = param(400.0, low=1.0, high=10_000.0, unit="TFLOP/s",
                          doc="Compute of one accelerator.")
    bandwidth_tbs: float = param(2.0, low=0.1, high=100.0, unit="TB/s",
                                 doc="Memory bandwidth of one accelerator.")
    memory_gib: float = param(80.0, low=1.0, high=4096.0, unit="GiB", search=False,
                              doc="Memory of one accelerator.")
    busy_w: float = param(600.0, low=1.0, high=5000.0, unit="W", search=False,
                          doc="Power of one busy accelerator.")
    idle_w: float = param(100.0, low=0.0, high=5000.0, unit="W", search=False,
                          doc="Power of one idle accelerator.")


class ToyServer(Device):
    """Rooflines: time = max(FLOPs / compute, bytes / bandwidth) over all accelerators."""

    name = "toy_server"
    description = "Toy LLM server: identical roofline accelerators"
    Config = ToyServerConfig

    def _rates(self) -> tuple[float, float]:
        c = self.config
        return c.devices * c.tflops * 1e12, c.devices * c.bandwidth_tbs * 1e12

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)
        col, cfg = trace.columns, self.config
        flops_s, bytes_s = self._rates()
        nbytes = col["input_bytes"] + col["weight_bytes"] + col["output_bytes"]
        latency = np.maximum(col["flops"] / flops_s, nbytes / bytes_s)
        energy = latency * cfg.busy_w * cfg.devices
        util = np.where(latency > 0, col["flops"] / flops_s / np.where(latency > 0, latency, 1),
                        0.0)
        return Report(
            device=self.name, workload=trace.name, names=trace.names,
            ops=tuple(lay.op.value for lay in trace),
            phases=tuple(lay.phase.value for lay in trace),
            columns={"macs": col["macs"], "flops": col["flops"], "cycles": np.ceil(latency * 1e9),
                     "latency_s": latency, "energy_j": energy,
                     "utilization": np.clip(util, 0.0, 1.0)})

    # ---------------------------------------------------------- the ServingSystem protocol
    def serving_layout(self, model: LlmModel) -> ServingLayout:
        return ServingLayout(devices=self.config.devices,
                             idle_power_w=self.config.idle_w * self.config.devices)

    def max_batch(self, model: LlmModel, tokens_per_request: int) -> int:
        free = self.config.devices * self.config.memory_gib * 2**30 - model.weight_bytes
        if free <= 0:
            return 0
        return int(free // (tokens_per_request * model.kv_bytes_per_token))

    def step_costs(self, model: LlmModel, router: Router | None) -> ToySteps:
        return ToySteps(self, model)


class ToySteps:
    """Iteration costs: every weight read once, the KV cache read by decode attention."""

    def __init__(self, server: ToyServer, model: LlmModel) -> None:
        self.server, self.model = server, model
        self.flops_s, self.bytes_s = server._rates()

    def steps(self, n_decode: int, sum_kv: np.ndarray, prefill: tuple[int, ...] = ()
              ) -> StepCosts:
        m, cfg = self.model, self.server.config
        sum_kv = np.atleast_1d(np.asarray(sum_kv, dtype=float))
        tokens = n_decode + sum(prefill)
        params = m.weight_bytes / m.bytes_per_element
        flops = 2.0 * params * tokens + 4.0 * m.layers * m.hidden * sum_kv
        nbytes = m.weight_bytes + (sum_kv + sum(prefill)) * m.kv_bytes_per_token
        latency = np.maximum(flops / self.flops_s, nbytes / self.bytes_s)
        energy = latency * cfg.busy_w * cfg.devices
        return StepCosts(latency, energy, np.zeros_like(latency))
