"""Workload frontend: built-in networks and importers that produce layer traces.

>>> from workloads import load_workload
>>> trace = load_workload("bert_base:seq_len=128,batch=8")
"""

from __future__ import annotations

from accel_sim.nets.digits import accuracy as digits_accuracy
from accel_sim.nets.digits import forward as digits_forward
from accel_sim.nets.digits import load_digits, load_weights
from accel_sim.nets.digits import split as digits_split

from ._onnx import onnx_dim_names, read_onnx
from ._registry import (
    Workload,
    WorkloadInfo,
    get_workload,
    list_workloads,
    load_workload,
    load_workloads,
    parse_workload_spec,
    workload,
    workload_names,
)
from ._scalesim import read_topology

__all__ = [
    "Workload",
    "WorkloadInfo",
    "digits_accuracy",
    "digits_forward",
    "digits_split",
    "get_workload",
    "list_workloads",
    "load_digits",
    "load_weights",
    "load_workload",
    "load_workloads",
    "onnx_dim_names",
    "parse_workload_spec",
    "read_onnx",
    "read_topology",
    "workload",
    "workload_names",
]
