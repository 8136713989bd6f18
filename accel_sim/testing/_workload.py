"""The contract of a workload plug-in (entry-point group ``accel_sim.workloads``), as pytest
tests."""

from __future__ import annotations

from typing import ClassVar

import pytest

from .._ir import Trace
from .._params import Config
from ..errors import AccelSimError


class WorkloadContract:
    """Contract tests of a workload. Set ``workload_name`` (its entry-point name)."""

    workload_name: ClassVar[str]

    def _workload(self):
        from workloads import get_workload

        return get_workload(self.workload_name)

    def test_registered_and_listed(self) -> None:
        from workloads import list_workloads, workload_names

        assert self.workload_name in workload_names()
        assert self.workload_name in list_workloads()
        wl = self._workload()
        assert wl.name == self.workload_name and wl.description
        assert issubclass(wl.params, Config)

    def test_defaults_build_a_trace(self) -> None:
        tr = self._workload()()
        assert isinstance(tr, Trace) and len(tr) > 0
        assert tr.name == self.workload_name
        assert tr.metadata["workload"] == self.workload_name
        assert tr.macs >= 0 and tr.flops >= 0

    def test_built_by_name_with_parameters(self) -> None:
        """``-w NAME:key=value`` gives the trace of the same values passed in Python."""
        from workloads import load_workload

        wl = self._workload()
        values = wl.params().to_dict()
        text = ",".join(f"{k}={v}" for k, v in values.items() if v is not None)
        spec = f"{self.workload_name}:{text}" if text else self.workload_name
        assert load_workload(spec) == wl(**{k: v for k, v in values.items()})

    def test_rejects_unknown_and_invalid_parameters(self) -> None:
        from workloads import load_workload

        with pytest.raises(AccelSimError):
            load_workload(f"{self.workload_name}:no_such_parameter_xyz=1")
        for spec in self._workload().params.specs():
            for bad in spec.invalid_values():
                if isinstance(bad, str) and "," not in bad and "=" not in bad:
                    with pytest.raises(AccelSimError) as info:
                        load_workload(f"{self.workload_name}:{spec.name}={bad}")
                    assert spec.name in str(info.value)

    def test_deterministic(self) -> None:
        wl = self._workload()
        assert wl() == wl() and wl().columns["macs"].tolist() == wl().columns["macs"].tolist()
