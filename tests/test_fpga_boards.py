"""FPGA board presets and the resource fit."""

from __future__ import annotations

import pytest

from accel_sim import simulate
from accel_sim.devices._fpga import BOARDS, Resources, check_fit, violations
from accel_sim.errors import ConfigError


def test_board_capacities():
    u280 = BOARDS["u280"]
    assert (u280.dsp, u280.slr) == (9024, 3)
    assert u280.onchip_bytes == pytest.approx((70.875 + 270) * 2**20 / 8)
    assert BOARDS["vcu1525"].dsp == 6840


def test_fit_and_rejection():
    ok = Resources(dsp=3 * 264 * 2, lut=500_000, bram_36kb=1000)
    assert all(v <= 0 for v in violations(BOARDS["u280"], ok).values())
    check_fit("u280", ok, "3 cores")
    too_big = Resources(dsp=9000, uram_288kb=2000)
    v = violations(BOARDS["vcu1525"], too_big)
    assert v["dsp"] == pytest.approx(9000 / 6840 - 1) and v["uram_288kb"] > 0
    with pytest.raises(ConfigError, match=r"does not fit board vcu1525 \(XCVU9P\): dsp 9,000 > "
                                          r"6,840, uram_288kb 2,000 > 960"):
        check_fit("vcu1525", too_big, "the datapath")


def test_titan_rtx_preset():
    t = simulate("resnet50:batch=64", "gpu", {"preset": "titan_rtx"})
    h = simulate("resnet50:batch=64", "gpu", {"preset": "h100"})
    assert t.latency_s > h.latency_s and t.area_mm2 == 754.0
