"""The top-level entry point: evaluate a trace on a device."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._device import Device
from ._ir import Trace
from ._registry import make_device
from ._report import Report

__all__ = ["simulate"]


def simulate(trace: Trace | str | os.PathLike[str], device: str | Device | type[Device],
             params: Mapping[str, Any] | None = None) -> Report:
    """Evaluate ``trace`` on ``device`` and return the :class:`Report`.

    Args:
        trace: A :class:`Trace`, or a workload argument (``"resnet50:batch=4"``, a path to a
            SCALE-Sim .csv or an .onnx file) resolved by :func:`workloads.load_workload`.
        device: A device instance, class or registered name.
        params: Device parameters when ``device`` is a name or class (strings are parsed).
    """
    if not isinstance(trace, Trace):
        from workloads import load_workload

        trace = load_workload(trace)
    return make_device(device, params).evaluate(trace)
