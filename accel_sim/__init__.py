"""accel_sim: cycle-approximate accelerator simulator and design-space explorer.

The package's public names are loaded on first use (PEP 562), so importing one module of the
project (``accel_sim._ir`` from a workload, one device from the registry) does not import the
rest of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names
from .errors import (
    AccelSimError,
    ConfigError,
    Interrupted,
    NumericError,
    ResourceError,
    UnknownNameError,
    WorkloadError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from ._device import Device
    from ._ir import ConvShape, Layer, OpKind, Phase, SparsityPattern, Trace, training_trace
    from ._metrics import Metric, MetricTable
    from ._params import Config, ParamSpec, param
    from ._progress_tqdm import progress_enabled, set_progress
    from ._registry import available_devices, get_device, make_device, register_device
    from ._report import Report
    from ._scalesim_compat import read_scalesim_config, run_scalesim_compatible
    from ._simulate import simulate
    from ._sweep import Grid, grid_configs, iter_sweep, run_sweep, write_rows_csv

from ._version import __version__ as __version__

#: Public name -> the module (under accel_sim) that defines it.
_LAZY = {
    "Device": "_device",
    "ConvShape": "_ir", "Layer": "_ir", "OpKind": "_ir", "Phase": "_ir",
    "SparsityPattern": "_ir", "Trace": "_ir", "training_trace": "_ir",
    "Metric": "_metrics", "MetricTable": "_metrics",
    "Config": "_params", "ParamSpec": "_params", "param": "_params",
    "progress_enabled": "_progress_tqdm", "set_progress": "_progress_tqdm",
    "available_devices": "_registry", "get_device": "_registry", "make_device": "_registry",
    "register_device": "_registry",
    "Report": "_report",
    "read_scalesim_config": "_scalesim_compat", "run_scalesim_compatible": "_scalesim_compat",
    "simulate": "_simulate",
    "Grid": "_sweep", "grid_configs": "_sweep", "iter_sweep": "_sweep", "run_sweep": "_sweep",
    "write_rows_csv": "_sweep",
}

__all__ = [
    "AccelSimError",
    "Config",
    "ConfigError",
    "ConvShape",
    "Device",
    "Grid",
    "Interrupted",
    "Layer",
    "Metric",
    "MetricTable",
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
    "read_scalesim_config",
    "register_device",
    "run_scalesim_compatible",
    "run_sweep",
    "set_progress",
    "simulate",
    "training_trace",
    "write_rows_csv",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
