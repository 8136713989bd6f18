"""Reusable tests for device plug-ins.

Subclass :class:`DeviceContract` in your test suite (pytest collects it)::

    from accel_sim.testing import DeviceContract

    class TestMyDevice(DeviceContract):
        device_class = MyDevice

Every built-in device passes it; so must a third-party one.
"""

from __future__ import annotations

from ._contract import DeviceContract, check_figures, contract_traces, edge_traces

__all__ = ["DeviceContract", "check_figures", "contract_traces", "edge_traces"]
