"""accel_sim: cycle-approximate accelerator simulator and design-space explorer."""

from __future__ import annotations

from ._device import Device, available_devices, get_device, make_device, register_device
from ._ir import ConvShape, Layer, OpKind, Phase, SparsityPattern, Trace, training_trace
from ._params import Config, ParamSpec, param
from ._progress import progress_enabled, set_progress
from ._report import Report
from ._simulate import simulate
from ._sweep import Grid, grid_configs, iter_sweep, run_sweep
from .errors import (
    AccelSimError,
    ConfigError,
    NumericError,
    ResourceError,
    UnknownNameError,
    WorkloadError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AccelSimError",
    "Config",
    "ConfigError",
    "ConvShape",
    "Device",
    "Grid",
    "Layer",
    "NumericError",
    "OpKind",
    "ParamSpec",
    "Phase",
    "Report",
    "ResourceError",
    "SparsityPattern",
    "Trace",
    "UnknownNameError",
    "WorkloadError",
    "available_devices",
    "get_device",
    "grid_configs",
    "iter_sweep",
    "make_device",
    "param",
    "progress_enabled",
    "register_device",
    "run_sweep",
    "set_progress",
    "simulate",
    "training_trace",
]
