"""Cross-family studies: ``explore -d systolic,analog`` searches the device and each
device's declared space conditional on it; the front is over all families."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from accel_sim.cli import main


def _explore(tmp_path, *args, trials=16, out="fam"):
    return main(["explore", *args, "--trials", str(trials), "--seed", "0", "-q", "-o",
                 str(tmp_path / out)])


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _front(points: np.ndarray) -> set[int]:
    """Indices of the non-dominated rows (minimisation), by brute force."""
    keep = set()
    for i, p in enumerate(points):
        if not any(np.all(q <= p) and np.any(q < p) for q in points):
            keep.add(i)
    return keep


def test_cross_family_study_searches_both_devices_and_one_front(tmp_path):
    assert _explore(tmp_path, "-w", "resnet18", "-d", "systolic,analog", "--objectives",
                    "latency,energy", "--space", "rows=16:256", "cols=16:256", "adc_bits=4:8",
                    "-s", "dataflow=ws") == 0
    out = tmp_path / "fam"
    trials = _rows(out / "trials.csv")
    assert len(trials) == 16 and {r["device"] for r in trials} == {"systolic", "analog"}
    for r in trials:  # each trial holds its own device's parameters only
        mine = {k for k, v in r.items() if k.startswith("param_") and v not in ("", None)}
        other = "analog" if r["device"] == "systolic" else "systolic"
        assert f"param_{r['device']}.rows" in mine and not any(other + "." in k for k in mine)
    assert all(r["param_analog.adc_bits"] in ("", "4", "5", "6", "7", "8") for r in trials)
    # the front, recomputed here from every feasible complete trial of both families
    done = [r for r in trials if r["state"] == "COMPLETE" and r["feasible"] == "True"]
    pts = np.array([[float(r["objective_latency"]), float(r["objective_energy"])]
                    for r in done])
    expected = {done[i]["trial"] for i in _front(pts)}
    pareto = _rows(out / "pareto.csv")
    assert {r["trial"] for r in pareto} == expected
    lat = [float(r["objective_latency"]) for r in pareto]
    assert lat == sorted(lat)
    for r in pareto:  # each row names the family that wins its stretch of the first axis
        assert r["region"].startswith(f"{r['device']} wins latency ") and r["region"].endswith(
            " s")
    # -s dataflow applies to the device that declares it; the stored settings say so
    import optuna

    from accel_sim.explore._storage import journal_storage
    study = optuna.load_study(study_name="explore",
                              storage=journal_storage(str(out / "study.journal")))
    desc = study.user_attrs["accel_sim"]
    assert desc["device"] == "systolic,analog"
    assert desc["fixed"] == {"systolic.dataflow": "ws"}
    assert desc["space"]["device"] == "systolic,analog"
    assert {"systolic.rows", "analog.rows", "analog.adc_bits"} <= set(desc["space"])
    assert (out / "pareto.png").exists()


def test_yaml_lists_the_devices(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("workloads: [resnet18]\ndevice: [systolic, analog]\ntrials: 6\n"
                    f"output: {tmp_path / 'y'}\n")
    assert main(["explore", str(spec), "-q"]) == 0
    assert {r["device"] for r in _rows(tmp_path / "y" / "trials.csv")} <= {"systolic",
                                                                          "analog"}


@pytest.mark.parametrize("args", [
    ["-w", "replay:capacity=10000,batch=32", "-d", "amper,per_gpu,per_cpu", "--objectives",
     "latency,energy"],
    ["--serve", "-d", "xpu,duplex", "-s", "model=llama2_7b", "-s", "requests=64",
     "--objectives", "throughput_tok_s,energy_per_token_j"],
])
def test_replay_and_serving_families(tmp_path, args):
    assert _explore(tmp_path, *args, trials=8) == 0
    trials = _rows(tmp_path / "fam" / "trials.csv")
    assert len(trials) == 8 and len({r["device"] for r in trials}) >= 2
    assert _rows(tmp_path / "fam" / "pareto.csv")


@pytest.mark.parametrize(("args", "needle"), [
    (["-w", "resnet18", "-d", "systolic,nosuch"], "unknown device 'nosuch'"),
    (["-w", "resnet18", "-d", "systolic,amper"], "device 'amper' cannot run workload(s) "
                                                 "resnet18"),
    (["-w", "resnet18", "-d", "systolic,analog", "-s", "foo=1"],
     "-s foo: no listed device declares it (systolic, analog)"),
    (["-w", "resnet18", "-d", "systolic,analog", "--space", "foo=1:2"],
     "--space foo: no listed device declares it"),
    (["-w", "resnet18", "-d", "systolic,systolic"], "give each device once"),
    (["-w", "resnet18", "-d", "systolic,analog", "--sampler", "grid"],
     "--sampler grid cannot search several devices"),
])
def test_bad_family_input_is_one_line(tmp_path, capsys, args, needle):
    assert _explore(tmp_path, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("accel-sim: error:") and needle in err[0], err
    assert not (tmp_path / "fam" / "trials.csv").exists()
