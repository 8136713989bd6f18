"""``accel-sim explore --serve``: serving scenario and device parameters searched together."""

from __future__ import annotations

import csv

import pytest

from accel_sim import get_device, make_device
from accel_sim.cli import main
from accel_sim.errors import ConfigError
from accel_sim.explore import ExploreSpec
from accel_sim.llm import MODELS
from accel_sim.serving import ServeConfig, ServingEvaluator, serve


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_explore_serve_searches_batch_and_device_and_reports_serving_metrics(tmp_path):
    out = tmp_path / "ex"
    argv = ["explore", "--serve", "-d", "duplex", "-s", "model=mixtral_8x7b", "-s", "lin=2048",
            "-s", "lout=16", "-s", "requests=24", "--space", "batch=8:4096", "co_processing",
            "--objectives", "throughput_tok_s,tbt_p99_s", "--sampler", "random",
            "--trials", "8", "--seed", "3", "-q", "-o", str(out)]
    assert main(argv) == 0
    trials = _rows(out / "trials.csv")
    assert len(trials) == 8 and all(r["state"] == "COMPLETE" for r in trials)
    fit = make_device("duplex").max_batch(MODELS["mixtral_8x7b"], 2048 + 16)
    seen = set()
    for r in trials:
        batch = int(r["param_batch"])
        co = r["param_co_processing"] == "True"
        # the objective is the serving summary of that scenario, re-run here
        cfg = ServeConfig(model="mixtral_8x7b", batch=batch, lin=2048, lout=16, requests=24)
        ref = serve(cfg, make_device("duplex", {"co_processing": co}),
                    cap_to_memory=True).summary
        assert float(r["objective_throughput_tok_s"]) == pytest.approx(
            ref["throughput_tok_s"], rel=1e-9)
        # batches beyond the KV memory are infeasible designs, not errors
        assert (r["feasible"] == "True") == (batch <= fit)
        seen.add(batch <= fit)
    assert seen == {True, False}  # the seed gives both kinds


def test_serving_evaluator_rejects_non_llm_devices_and_workloads():
    with pytest.raises(ConfigError, match="not an LLM serving system"):
        ServingEvaluator(get_device("systolic"))
    with pytest.raises(ConfigError, match="takes no workloads"):
        ExploreSpec(workloads=("resnet18",), device="duplex", serve=True)
    with pytest.raises(ConfigError, match="-w"):
        ExploreSpec(device="duplex")
