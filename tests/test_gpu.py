"""GPU roofline: contract, and roofline behaviour against hand-computed figures."""

from __future__ import annotations

import math

import pytest

from accel_sim import Layer, OpKind, SparsityPattern, Trace, simulate
from accel_sim.devices.gpu import GPU_SPECS, GpuConfig, GpuRoofline
from accel_sim.testing import DeviceContract


class TestGpuContract(DeviceContract):
    device_class = GpuRoofline

    def configs(self):
        return [GpuConfig(), GpuConfig(preset="a100", compute_efficiency=0.5)]


def _one(layer: Layer, **cfg) -> float:
    return GpuRoofline(GpuConfig(kernel_overhead_us=0.0, **cfg)).evaluate(
        Trace("t", (layer,))).latency_s


def test_large_gemm_is_compute_bound_at_peak_times_efficiency():
    lay = Layer("g", OpKind.GEMM, m=8192, n=8192, k=8192)
    t = _one(lay, preset="h100", compute_efficiency=0.7)
    expected = 2 * 8192**3 / (989.4e12 * 0.7)
    assert math.isclose(t, expected, rel_tol=1e-12)


def test_gemv_is_memory_bound_at_bandwidth():
    lay = Layer("v", OpKind.GEMM, m=1, n=8192, k=8192)
    t = _one(lay, preset="a100", memory_efficiency=0.85)
    assert math.isclose(t, lay.bytes / (2039e9 * 0.85), rel_tol=1e-12)


def test_int8_uses_int8_peak_and_24_sparsity_doubles_it():
    dense = Layer("g", OpKind.GEMM, m=8192, n=8192, k=8192, input_bits=8, weight_bits=8)
    sparse = dense.with_(sparsity=SparsityPattern.NM, sparsity_n=2, sparsity_m=4)
    t_dense, t_sparse = _one(dense), _one(sparse)
    assert math.isclose(t_dense, 2 * 8192**3 / (1978.9e12 * 0.7), rel_tol=1e-12)
    assert math.isclose(t_dense / t_sparse, 2.0, rel_tol=1e-9)
    assert math.isclose(_one(sparse, sparse_tensor_cores=False), t_dense, rel_tol=1e-12)


def test_h100_faster_than_a100_on_resnet50():
    a = simulate("resnet50:batch=64", "gpu", {"preset": "a100"})
    h = simulate("resnet50:batch=64", "gpu", {"preset": "h100"})
    assert h.latency_s < a.latency_s
    assert a.area_mm2 == GPU_SPECS["a100"].die_mm2


def test_energy_per_flop_is_positive_and_below_board_power():
    for spec in GPU_SPECS.values():
        assert 0 < spec.pj_per_flop < spec.board_w / (spec.fp16_tflops * 1e12) * 1e12


@pytest.mark.parametrize("bad", [{"preset": "v100"}, {"compute_efficiency": 0.0},
                                 {"memory_efficiency": 1.5}, {"kernel_overhead_us": -1}])
def test_bad_config(bad):
    from accel_sim.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(bad))):
        GpuConfig(**bad)
