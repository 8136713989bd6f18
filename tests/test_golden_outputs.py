"""Outputs of `run`, `sweep`, `scalesim`, `serve`, `explore --seed` and `reproduce --quick`
stay byte-identical to stored golden copies (timing columns aside).

The golden files in ``tests/golden/`` are the outputs of these commands at the commit that
closed issue 12 (before the issue-13 redesign, which must not change a number). Regenerate
them only for a change that is meant to change results, and say so in the changelog:

    ACCEL_SIM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_outputs.py
    ACCEL_SIM_UPDATE_GOLDEN=1 python -m pytest tests -k reproduction_writes

Compared: every CSV and JSON a case writes, after dropping the columns/keys that measure
wall time on this machine (:data:`TIMING`). Plots are not compared (their bytes depend on the
matplotlib version); their data is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _golden import assert_matches_golden

from accel_sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACCEL_SIM_SHARED", ROOT.parent / "shared"))


# ---------------------------------------------------------------------- cases
def _cases() -> dict[str, list[str]]:
    topo = SHARED / "data" / "topologies"
    cfg = SHARED / "data" / "scalesim" / "configs"
    return {
        "run-resnet18-systolic": ["run", "-w", "resnet18", "-d", "systolic"],
        "run-resnet50-systolic-8bit": ["run", "-w", "resnet50:bits=8,batch=2", "-d", "systolic",
                                       "-s", "rows=64", "-s", "cols=64", "-s", "dataflow=os"],
        "run-alexnet-exact": ["run", "-w", str(topo / "alexnet.csv"), "-d", "systolic",
                              "-s", "memory_model=scalesim"],
        "run-onnx-resnet18": ["run", "-w", str(SHARED / "data" / "onnx" / "resnet18.onnx"),
                              "-d", "systolic", "-s", "rows=64", "-s", "cols=64"],
        "run-bert-gpu": ["run", "-w", "bert_base:seq_len=128,batch=8", "-d", "gpu",
                         "-s", "preset=a100"],
        "run-resnet18-gpu-training": ["run", "-w", "resnet18", "-d", "gpu", "--training"],
        "run-digits-analog": ["run", "-w", "digits_cnn", "-d", "analog", "-s", "adc_bits=6",
                              "-s", "prog_error_model=pcm", "-s", "prog_error_sigma=1"],
        "run-resnet18-analog": ["run", "-w", "resnet18", "-d", "analog"],
        "run-digits-sat": ["run", "-w", "digits_mlp", "-d", "sat", "--training",
                           "-s", "mode=bdwp", "-s", "n=2", "-s", "m=8"],
        "run-resnet18-sat": ["run", "-w", "resnet18:batch=32", "-d", "sat", "-s", "mode=bdwp",
                             "-s", "n=2", "-s", "m=8", "--training"],
        "run-ic3net-learning-group": ["run", "-w", "ic3net:agents=4,batch=1", "-d",
                                      "learning_group", "-s", "groups=4", "--training"],
        "run-digits-learning-group": ["run", "-w", "digits_mlp", "-d", "learning_group",
                                      "-s", "groups=2", "--training"],
        "run-replay-amper": ["run", "-w", "replay:capacity=1000000,batch=32", "-d", "amper",
                             "-s", "search=fr", "-s", "radius=2"],
        "run-replay-per-gpu": ["run", "-w", "replay:capacity=100000,batch=64", "-d",
                               "per_gpu"],
        "run-replay-per-cpu": ["run", "-w", "replay:capacity=100000,batch=64", "-d",
                               "per_cpu"],
        "run-replay-dqn-amper": ["run", "-w", "replay:capacity=10000,batch=32,env=cartpole,"
                                 "dqn_steps=2000,runs=1", "-d", "amper"],
        "run-llm-duplex": ["run", "-w", "llm_iteration:model=glam,batch=64,kv_len=2048", "-d",
                           "duplex", "-s", "devices=8"],
        "run-llm-xpu": ["run", "-w", "llm_iteration:model=mixtral_8x7b,batch=32,kv_len=1024",
                        "-d", "xpu"],
        "run-llama-bank-pim": ["run", "-w", "llm_iteration:model=llama3_70b,batch=16,"
                               "kv_len=4096", "-d", "bank_pim", "-s", "devices=8"],
        "sweep-systolic": ["sweep", "-w", "resnet18", "-d", "systolic", "--grid",
                           "rows=16,32", "cols=16,64", "dataflow=os,ws", "-j", "1"],
        "sweep-analog": ["sweep", "-w", "resnet18", "-d", "analog", "--grid", "adc_bits=4,8",
                         "rows=128,256", "-j", "2"],
        "scalesim-alexnet": ["scalesim", "-c", str(cfg / "scale.cfg"), "-t",
                             str(topo / "alexnet.csv")],
        "serve-duplex-closed": ["serve", "-m", "mixtral_8x7b", "-d", "duplex", "--devices", "4",
                                "--batch", "16", "--lin", "128", "--lout", "64", "--requests",
                                "200"],
        "serve-xpu-poisson": ["serve", "-m", "llama3_70b", "-d", "xpu", "--devices", "4",
                              "--batch", "32", "--lin", "512", "--lout", "128", "--rate", "4",
                              "--requests", "100", "--seed", "3"],
        "explore-systolic": ["explore", "-w", "resnet18", "-d", "systolic", "--objectives",
                             "latency,energy,area", "--constraint", "area_mm2<=20",
                             "--trials", "15", "--seed", "3"],
        "explore-serve": ["explore", "--serve", "-d", "duplex", "-s", "model=mixtral_8x7b",
                          "-s", "lin=128", "-s", "lout=32", "-s", "requests=40", "--space",
                          "batch=8:64", "co_processing", "--objectives",
                          "throughput_tok_s,tbt_p99_s", "--trials", "6", "--seed", "1"],
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_golden(name, tmp_path):
    args = CASES[name]
    out = tmp_path / "out"
    if args[0] == "sweep":
        argv = [*args, "-q", "-o", str(out / "sweep.csv")]
    else:
        argv = [*args, "-q", "-o", str(out)]
    assert main(argv) == 0
    assert_matches_golden(out, name)


def test_duplex_reproduction_matches_golden(tmp_path):
    """The quick Duplex reproduction (the other reproductions are compared in the tests
    that run them already: test_analog, test_learning_group, test_replay_devices,
    test_sat)."""
    assert main(["reproduce", "duplex", "--quick", "-q", "-o", str(tmp_path)]) == 0
    assert_matches_golden(tmp_path, "reproduce-duplex")
