"""A third-party package for accel_sim: a device with an accuracy, a serving system and a
workload, each plugged in through an entry point (see ``pyproject.toml``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_sim import Config, Device, Report, Trace, param
from accel_sim.nets import forward, load_weights, split
from accel_sim.tasks import Classification, Task


@dataclass(frozen=True)
class ToyConfig(Config):
    """Configuration of the toy MAC array."""

    macs_per_cycle: int = param(64, low=1, high=1 << 20, unit="MAC/cycle", doc="MAC units.")
    clock_mhz: float = param(500.0, low=1.0, high=5000.0, unit="MHz", doc="Clock.")
    pj_per_mac: float = param(1.0, low=0.0, high=100.0, unit="pJ", doc="Energy per MAC.")
    weight_bits: int = param(8, low=2, high=16, unit="bit", doc="Stored weight precision.")


class ToyMacArray(Device):
    """Toy device: cycles = ceil(MACs / units) (vector ops: one element per unit per cycle)."""

    name = "toy_mac_array"
    description = "Toy MAC array: one MAC per unit per cycle"
    Config = ToyConfig
    supported_tasks = frozenset({Classification})  # it measures the digits networks

    def evaluate(self, trace: Trace) -> Report:
        self.require_supported(trace)  # neural-network ops only (Device.supported_ops)
        c, cfg = trace.columns, self.config
        work = np.where(c["is_matmul"], c["macs"], c["flops"])
        cycles = np.maximum(1.0, np.ceil(work / cfg.macs_per_cycle))
        energy = c["macs"] * cfg.pj_per_mac * 1e-12
        return Report(
            device=self.name, workload=trace.name, names=trace.names,
            ops=tuple(lay.op.value for lay in trace),
            phases=tuple(lay.phase.value for lay in trace),
            columns={"macs": c["macs"], "flops": c["flops"], "cycles": cycles,
                     "latency_s": cycles / (cfg.clock_mhz * 1e6),
                     "energy_j": energy, "energy_mac_j": energy,
                     "utilization": work / (cycles * cfg.macs_per_cycle)},
            area_mm2=None,  # or the silicon area in mm^2
            extra=self.task_metrics(trace),  # {"accuracy": ...} for a supported task
            violations={},  # e.g. {"sram": need / have - 1}: > 0 means infeasible
        )

    def accuracy(self, task: Task) -> float:
        """Test accuracy of the digits network with its weights stored at weight_bits."""
        assert isinstance(task, Classification)
        levels = 2 ** (self.config.weight_bits - 1) - 1

        def matmul(layer: str, a: np.ndarray, w: np.ndarray) -> np.ndarray:
            scale = float(np.abs(w).max()) / levels
            return a @ (np.round(w / scale) * scale)

        _, _, x_test, y_test = split()
        logits = forward(task.network, load_weights(task.network), x_test, matmul=matmul)
        return float(np.mean(np.argmax(logits, axis=1) == y_test))
