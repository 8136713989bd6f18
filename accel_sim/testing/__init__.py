"""Reusable tests for plug-ins: devices, serving systems and workloads.

Subclass the contract in your test suite (pytest collects it)::

    from accel_sim.testing import DeviceContract, ServingSystemContract, WorkloadContract

    class TestMyDevice(DeviceContract):
        device_class = MyDevice

    class TestMyServingSystem(ServingSystemContract):
        device_class = MyServingSystem

    class TestMyWorkload(WorkloadContract):
        workload_name = "my_workload"

Every built-in passes them; so must a third-party one. They need pytest (the extra
``accel-sim[testing]``).
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401  (the contract classes are pytest test classes)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("accel_sim.testing needs pytest: pip install 'accel-sim[testing]'"
                      ) from exc

from ._contract import DeviceContract, check_figures, contract_traces, edge_traces
from ._serving import ServingSystemContract
from ._workload import WorkloadContract

__all__ = ["DeviceContract", "ServingSystemContract", "WorkloadContract", "check_figures",
           "contract_traces", "edge_traces"]
