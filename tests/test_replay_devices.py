"""Replay-memory devices: contract, scaling laws of the models, the replay workload."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accel_sim import make_device
from accel_sim.devices.amper import AmperTcam, mean_prefixes, search_plan
from accel_sim.devices.per import PerCpu, PerGpu
from accel_sim.errors import ConfigError, WorkloadError
from accel_sim.testing import DeviceContract
from workloads import load_workload


class TestAmperContract(DeviceContract):
    device_class = AmperTcam

    def configs(self):
        cfg = AmperTcam.Config()
        return [cfg, cfg.replace(search="fr", radius=3, priority_bits=6, rows=128)]


class TestPerGpuContract(DeviceContract):
    device_class = PerGpu

    def configs(self):
        cfg = PerGpu.Config()
        return [cfg, cfg.replace(impl="fused")]


class TestPerCpuContract(DeviceContract):
    device_class = PerCpu


def _step(capacity: int, batch: int, **kw):
    return load_workload(f"replay:capacity={capacity},batch={batch}", **kw)


def test_replay_workload_layers_and_validation():
    tr = _step(1000, 32)
    assert [(lay.op.value, lay.m, lay.n) for lay in tr] == [
        ("replay_insert", 1, 1000), ("replay_sample", 32, 1000), ("replay_update", 32, 1000)]
    assert tr.macs == 0 and tr.flops == 0
    with pytest.raises(ConfigError, match=r"batch=64 must be in \[1, capacity\] = \[1, 10\]"):
        _step(10, 64)
    with pytest.raises(WorkloadError, match="devices that do: amper, per_cpu, per_gpu"):
        make_device("systolic").evaluate(tr)
    with pytest.raises(WorkloadError, match=r"does not model conv ops .*: "
                       r"analog, bank_pim, bankgroup_pim, duplex, gpu"):
        make_device("amper").evaluate(load_workload("resnet18") + tr)


def test_prefix_counts_are_exact():
    # [v-d, v+d] covers 2d+1 codes; a window of one code is one prefix
    assert mean_prefixes(8, 0) == 1.0
    assert mean_prefixes(4, 15) == 1.0  # the whole range: one all-don't-care search
    # brute force for 4 bits, d = 1: count the aligned blocks greedily
    def blocks(lo, hi):
        n = 0
        while lo <= hi:
            size = 1
            while lo % (2 * size) == 0 and lo + 2 * size - 1 <= hi:
                size *= 2
            lo += size
            n += 1
        return n
    want = np.mean([blocks(max(v - 1, 0), min(v + 1, 15)) for v in range(16)])
    assert mean_prefixes(4, 1) == pytest.approx(want)


def test_amper_k_searches_grow_as_the_buffer_thins_out():
    # fewer transitions per code -> wider windows to collect k -> more searches
    dense, sparse = search_plan(8, "k", 32, 0, 1_000_000), search_plan(8, "k", 32, 0, 1_000)
    assert dense == pytest.approx(1.0)  # 3906 per code: the query's own code holds k
    assert sparse > 3 * dense


def test_amper_sample_latency_is_linear_in_batch_and_flat_in_capacity():
    dev = make_device("amper", {"search": "fr"})
    a, b = (dev.evaluate(_step(1_000_000, n)).columns["latency_s"][1] for n in (32, 256))
    assert b / a == pytest.approx(8.0, rel=0.01)
    small = dev.evaluate(_step(4096, 32)).columns["latency_s"][1]
    # one search covers every array in parallel; only the match-count tree grows (log2)
    assert 1.0 < a / small < 1.5


def test_amper_rows_exceeding_the_chip_are_a_violation():
    rep = make_device("amper", {"arrays": 100}).evaluate(_step(100_000, 32))
    assert rep.violations["tcam_rows"] == pytest.approx((1563 - 100) / 100)
    assert not rep.feasible


def test_per_gpu_latency_follows_tree_depth_and_kernels():
    dev = PerGpu()
    cfg = dev.config
    for cap in (1_000, 1_000_000):
        rep = dev.evaluate(_step(cap, 32))
        d = math.ceil(math.log2(cap))
        lat = rep.columns["latency_s"][1]
        kernels = (cfg.sample_kernels + d) * cfg.launch_us * 1e-6
        # all levels hit L2 (the whole tree is < 40 MB): d + 1 L2 latencies, plus the copy
        assert lat == pytest.approx(kernels + (d + 1) * cfg.l2_ns * 1e-9 + cfg.sync_us * 1e-6)
    fused = PerGpu(cfg.replace(impl="fused")).evaluate(_step(1_000_000, 32))
    assert fused.latency_s < dev.evaluate(_step(1_000_000, 32)).latency_s / 3


def test_per_cpu_levels_move_down_the_memory_hierarchy():
    cpu = PerCpu()
    small = cpu.evaluate(_step(1_000, 256)).columns["latency_s"][1]
    big = cpu.evaluate(_step(1_000_000, 256)).columns["latency_s"][1]
    call = cpu.config.call_sample_us * 1e-6
    # per transition: 11 L1 levels at 1e3; at 1e6 levels spill to L2 and L3 (and past the TLB)
    assert (big - call) / (small - call) > 3


def test_amper_beats_gpu_per_at_large_buffers():
    tr = _step(1_000_000, 32)
    assert make_device("per_gpu").evaluate(tr).latency_s > 50 * make_device(
        "amper").evaluate(tr).latency_s


def test_reproduction_writes_the_comparison_table_and_plots(tmp_path):
    import csv

    from accel_sim.cli import main

    assert main(["reproduce", "amper", "--quick", "-o", str(tmp_path)]) == 0
    from _golden import assert_matches_golden

    assert_matches_golden(  # the per_cpu check is timed on this machine: not compared
        tmp_path, "reproduce-amper", skip=frozenset({"cpu_check.csv"}),
        drop_rows=("per_cpu model vs our sum tree measured",))
    with open(tmp_path / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:7] == ["quantity", "condition", "paper", "accel_sim", "rel_error",
                                 "tolerance", "ok"]
    for name in ("speedup.png", "latency.png", "energy.png", "learning_curves.png",
                 "latency.csv", "learning.csv", "cpu_check.csv", "comparison.md"):
        assert (tmp_path / name).exists()
    with open(tmp_path / "latency.csv") as fh:
        lat = list(csv.DictReader(fh))
    assert len(lat) == 4 * 4 * 4  # capacities x batches x designs
    with open(tmp_path / "learning.csv") as fh:
        learn = list(csv.DictReader(fh))
    assert {(r["env"], r["buffer"]) for r in learn} == {
        (e, b) for e in ("cartpole", "acrobot") for b in ("uniform", "per", "amper-k",
                                                          "amper-fr")}


@pytest.mark.parametrize("device", ["amper", "per_gpu"])
def test_acrobot_accuracy_is_a_negative_return_and_is_reported(device, tmp_path):
    """Acrobot-v1 returns lie in [-500, 0]: the report's accuracy (mean final DQN return) is
    negative, finite, and reaches summary.json through the CLI."""
    import json

    from accel_sim.cli import main

    out = tmp_path / "o"
    assert main(["run", "-w", "replay:env=acrobot,dqn_steps=2000,runs=1,capacity=1000,batch=32",
                 "-d", device, "-q", "-o", str(out)]) == 0
    acc = json.loads((out / "summary.json").read_text())["accuracy"]
    assert -500.0 <= acc < 0.0
