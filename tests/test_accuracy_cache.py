"""The explorer's accuracy cache: accuracies keyed by the parameters each device declares its
accuracy depends on, in a file beside the study that later studies reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel_sim.cli import main
from accel_sim.devices.analog import AnalogArray, AnalogConfig
from accel_sim.devices.sat import SatConfig, SparseTrainingArray
from accel_sim.explore._accuracy_cache import FileAccuracyCache
from accel_sim.tasks import Classification

ARGS = ["explore", "-w", "digits_mlp", "-d", "sat", "--objectives", "latency,accuracy",
        "--space", "rows=4:64", "cols=4:64", "-s", "n=2", "-s", "m=8", "-q"]


def _study(tmp_path, out, *extra, trials=6, seed=0):
    return main([*ARGS, *extra, "--trials", str(trials), "--seed", str(seed), "-o",
                 str(tmp_path / out)])


def test_a_second_study_reuses_the_cache_and_a_changed_parameter_misses(tmp_path,
                                                                       monkeypatch):
    assert _study(tmp_path, "a", "-s", "train_epochs=1") == 0
    path = tmp_path / "accuracy_cache.jsonl"  # beside the study's folder
    lines = path.read_text().splitlines()
    # six designs differing in rows and cols only: one measurement, keyed by the declared
    # accuracy parameters
    assert len(lines) == 1
    key = json.loads(json.loads(lines[0])["key"])
    assert key["device"] == "sat" and set(key["params"]) == {"mode", "n", "m", "seed",
                                                              "train_epochs"}
    calls: list[int] = []
    real = SparseTrainingArray.accuracy

    def counted(self, task):
        calls.append(self.config.train_epochs)
        return real(self, task)

    monkeypatch.setattr(SparseTrainingArray, "accuracy", counted)
    # another study of the same workload (other folder, other seed) reads it back
    assert _study(tmp_path, "b", "-s", "train_epochs=1", seed=5) == 0
    assert calls == []
    # a changed accuracy parameter misses: measured once, then stored
    assert _study(tmp_path, "c", "-s", "train_epochs=2", trials=3) == 0
    assert calls == [2] and len(path.read_text().splitlines()) == 2
    # --accuracy-cache off: the device measures every design (the default design that
    # checks the metrics, then the 2 trials; its training is memoised in the process)
    assert _study(tmp_path, "d", "-s", "train_epochs=2", "--accuracy-cache", "off",
                  trials=2) == 0
    assert calls[1:] == [2, 2, 2], calls


def test_the_key_holds_only_the_declared_parameters():
    task = Classification("digits_mlp")
    a = AnalogArray(AnalogConfig(adc_bits=6)).accuracy_key(task)
    assert a == AnalogArray(AnalogConfig(adc_bits=6, adc_type="survey")).accuracy_key(task)
    assert a != AnalogArray(AnalogConfig(adc_bits=7)).accuracy_key(task)
    assert "digits_mlp" in a and "adc_type" not in a


def test_sat_mm_masks_share_the_dense_key_because_they_train_as_dense():
    from accel_sim.sparse._training import NM, Dense, sparse_train

    task = Classification("digits_mlp")

    def key(**kw):
        return SparseTrainingArray(SatConfig(**kw)).accuracy_key(task)

    dense = key(mode="dense")
    # dense mode ignores n and m; an M:M mask keeps every weight
    assert dense == key(mode="dense", n=4, m=4) == key(mode="bdwp", n=4, m=4) \
        == key(mode="transposable", n=8, m=8)
    assert len({dense, key(mode="bdwp", n=2, m=4), key(mode="transposable", n=2, m=4),
                key(mode="bdwp", n=3, m=4)}) == 4
    # what the shared key relies on: M:M training is dense training, bit for bit
    for net in ("digits_mlp", "digits_cnn"):
        ref = sparse_train(net, Dense(), epochs=1, max_batches=12)
        for scheme in (NM(4, 4, scheme="bdwp"), NM(2, 2, scheme="transposable")):
            got = sparse_train(net, scheme, epochs=1, max_batches=12)
            assert all(np.array_equal(ref.params[k], got.params[k]) for k in ref.params)
            assert got.test_accuracy == ref.test_accuracy


def test_file_cache_survives_a_cut_line_and_other_writers(tmp_path):
    path = tmp_path / "c.jsonl"
    one, two = FileAccuracyCache(path), FileAccuracyCache(path)
    one.put("k1", 0.5)
    assert two.get("k1") == 0.5  # appended by another process: read on the miss
    with open(path, "a") as fh:
        fh.write('{"key": "k2", "accur')  # a write cut by a kill
    three = FileAccuracyCache(path)
    assert three.get("k1") == 0.5 and three.get("k2") is None
    one.put("k3", float("nan"))  # never stored
    assert FileAccuracyCache(path).get("k3") is None


@pytest.mark.parametrize("device", ["analog", "sat", "learning_group"])
def test_declared_accuracy_parameters_exist(device):
    from accel_sim._registry import get_device

    cls = get_device(device)
    names = {s.name for s in cls.Config.specs()}
    assert cls.accuracy_params and cls.accuracy_params <= names


@pytest.mark.parametrize("content", [b'{"op_code": 0, "worker_id": "x"}\n', b"\xff\xfe\x00binary"])
def test_a_file_that_is_not_a_cache_is_refused(tmp_path, content):
    from accel_sim.errors import ConfigError

    path = tmp_path / "other.journal"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not an accuracy cache"):
        FileAccuracyCache(path)
    assert path.read_bytes() == content  # untouched
