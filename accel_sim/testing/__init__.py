"""Reusable tests for device plug-ins.

Subclass :class:`DeviceContract` in your test suite (pytest collects it)::

    from accel_sim.testing import DeviceContract

    class TestMyDevice(DeviceContract):
        device_class = MyDevice

Every built-in device passes it; so must a third-party one. It needs pytest (the extra
``accel-sim[testing]``).
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401  (the contract classes are pytest test classes)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("accel_sim.testing needs pytest: pip install 'accel-sim[testing]'"
                      ) from exc

from ._contract import DeviceContract, check_figures, contract_traces, edge_traces

__all__ = ["DeviceContract", "check_figures", "contract_traces", "edge_traces"]
