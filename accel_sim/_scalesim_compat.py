"""SCALE-Sim compatibility: read its .cfg files, write its COMPUTE_REPORT.csv.

``accel-sim scalesim -c CONFIG.cfg -t TOPOLOGY.csv -o DIR`` runs the ``systolic`` device with
the configuration SCALE-Sim would use and writes ``DIR/COMPUTE_REPORT.csv`` with SCALE-Sim's
columns, one row per SCALE-Sim layer (a ``DP`` depthwise layer gives one row per channel, as
SCALE-Sim reports it).

Config semantics follow SCALE-Sim v3 (``scale_config.py``): ``Bandwidth`` (first value) is the
OFMAP drain rate in USER mode; the ifmap/filter fill rates are ``[layout]``
``IfmapSRAMBankBandwidth``/``FilterSRAMBankBandwidth`` (SCALE-Sim refuses a config without
``[layout]``; here they default to 10 words/cycle, SCALE-Sim's shipped value). In CALC mode
fills run at 10 words/cycle and drains at ArrayWidth. Word size is one byte, as in SCALE-Sim.
"""

from __future__ import annotations

import configparser
import math
import os
from typing import Any

from ._ir import OpKind, Trace
from .devices.systolic import SystolicArray, SystolicConfig
from .errors import ConfigError

__all__ = ["COMPUTE_REPORT_COLUMNS", "read_scalesim_config", "run_scalesim_compatible"]

COMPUTE_REPORT_COLUMNS = ("LayerID", "Total Cycles (incl. prefetch)", "Total Cycles",
                          "Stall Cycles", "Overall Util %", "Mapping Efficiency %",
                          "Compute Util %")
_ARCH = "architecture_presets"


def read_scalesim_config(path: str | os.PathLike[str], *,
                         memory_model: str = "scalesim") -> SystolicConfig:
    """A :class:`SystolicConfig` equivalent to a SCALE-Sim .cfg file."""
    path = os.fspath(path)
    cp = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            cp.read_file(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a SCALE-Sim config ({exc.message.splitlines()[0]})"
                          ) from None

    def get(section: str, key: str, default: str | None = None) -> str:
        if cp.has_option(section, key):
            return cp.get(section, key).strip()
        if default is not None:
            return default
        raise ConfigError(f"{path}: [{section}] {key} is missing")

    def as_int(section: str, key: str, param: str, default: str | None = None) -> int:
        """The first value of ``key`` as the SystolicConfig parameter ``param``: a whole
        number within its declared range (``32.5``, ``inf``, ``nan`` are errors)."""
        text = get(section, key, default).split(",")[0].strip()
        try:
            return SystolicConfig.spec(param).parse(text)
        except ConfigError as exc:
            raise ConfigError(f"{path}: [{section}] {key}: {exc}") from None

    def check_unused(section: str, key: str) -> None:
        """A value SCALE-Sim ignores in this mode must still be a whole number >= 1."""
        if not cp.has_option(section, key):
            return
        text = cp.get(section, key).split(",")[0].strip()
        try:
            num = float(text)
        except ValueError:
            num = math.nan
        if not (math.isfinite(num) and num.is_integer() and num >= 1):
            raise ConfigError(f"{path}: [{section}] {key}={text!r}: expected a whole number "
                              ">= 1 (unused with InterfaceBandwidth CALC, but it must be valid)")

    mode = get("run_presets", "InterfaceBandwidth").upper()
    if mode not in ("USER", "CALC"):
        raise ConfigError(f"{path}: [run_presets] InterfaceBandwidth={mode!r}: expected USER "
                          "or CALC")
    dataflow = get(_ARCH, "Dataflow").lower()
    values: dict[str, Any] = dict(
        dataflow=dataflow,
        rows=as_int(_ARCH, "ArrayHeight", "rows"),
        cols=as_int(_ARCH, "ArrayWidth", "cols"),
        ifmap_sram_kb=as_int(_ARCH, "IfmapSramSzkB", "ifmap_sram_kb"),
        filter_sram_kb=as_int(_ARCH, "FilterSramSzkB", "filter_sram_kb"),
        ofmap_sram_kb=as_int(_ARCH, "OfmapSramSzkB", "ofmap_sram_kb"),
        interface_bandwidth=mode.lower(),
        word_bytes=1,
        memory_model=memory_model,
    )
    if mode == "USER":
        values["bandwidth"] = as_int(_ARCH, "Bandwidth", "bandwidth")
        fill_if = as_int("layout", "IfmapSRAMBankBandwidth", "fill_bandwidth", "10")
        fill_f = as_int("layout", "FilterSRAMBankBandwidth", "fill_bandwidth", "10")
        if fill_if != fill_f:
            raise ConfigError(
                f"{path}: [layout] IfmapSRAMBankBandwidth={fill_if} and "
                f"FilterSRAMBankBandwidth={fill_f} differ; accel_sim models one fill rate")
        values["fill_bandwidth"] = fill_if
    else:
        for section, key in ((_ARCH, "Bandwidth"), ("layout", "IfmapSRAMBankBandwidth"),
                             ("layout", "FilterSRAMBankBandwidth")):
            check_unused(section, key)
    try:
        return SystolicConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _rows(trace: Trace, report) -> list[list[object]]:
    cols = report.columns
    out: list[list[object]] = []
    for i, lay in enumerate(trace.layers):
        if not lay.op.is_matmul:
            continue
        copies = lay.groups if lay.op is OpKind.GROUPED_CONV else 1
        div = lay.groups * lay.repeat
        row = [
            round(cols["cycles_incl_prefetch"][i] / div),
            round(cols["cycles"][i] / div),
            round(cols["stall_cycles"][i] / div),
            100.0 * cols["utilization"][i],
            100.0 * cols["mapping_efficiency"][i],
            100.0 * cols["compute_utilization"][i],
        ]
        out.extend([list(row) for _ in range(copies)])
    for idx, row in enumerate(out):
        row.insert(0, idx)
    return out


def run_scalesim_compatible(config: str | os.PathLike[str],
                            topology: str | os.PathLike[str], outdir: str | os.PathLike[str],
                            *, gemm: bool = False, memory_model: str = "scalesim") -> str:
    """Run a SCALE-Sim config and topology; returns the path of COMPUTE_REPORT.csv."""
    from workloads import read_topology

    cfg = read_scalesim_config(config, memory_model=memory_model)
    trace = read_topology(topology, gemm=True if gemm else None)
    report = SystolicArray(cfg).evaluate(trace)
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(os.fspath(outdir), "COMPUTE_REPORT.csv")
    with open(path, "w") as fh:
        fh.write(", ".join(COMPUTE_REPORT_COLUMNS) + ",\n")
        for row in _rows(trace, report):
            fh.write(", ".join(str(v) for v in row) + ",\n")
    return path
