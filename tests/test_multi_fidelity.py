"""Multi-fidelity exploration (``explore --multi-fidelity``): successive halving on the
accuracy's training budget, with a promotion rule for several objectives."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest

from accel_sim import training_trace
from accel_sim.cli import main
from accel_sim.devices.sat import SatConfig, SparseTrainingArray
from accel_sim.errors import ConfigError
from accel_sim.explore._pareto import crowding_distance, nondominated_rank, promotable
from accel_sim.tasks import Classification
from workloads import load_workload

# five points (minimisation): A, B, C non-dominated; D dominated by C only; E by C and D
POINTS = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]])


def test_ranks_and_crowding_by_hand():
    assert nondominated_rank(POINTS).tolist() == [0, 0, 0, 1, 2]
    # front {A, B, C}: A and C are extremes (inf); B's neighbours span the whole range of
    # both objectives: (3 - 1) / (3 - 1) + (5 - 3) / (5 - 3) = 2
    assert crowding_distance(POINTS[:3]).tolist() == [math.inf, 2.0, math.inf]


def test_promotion_rule_by_hand():
    # eta = 3 over 5 rows: the best max(1, 5 // 3) = 1 go on; A and C tie at the top (front
    # 0, infinite crowding), so neither counts against the other; B has two better rows
    assert [promotable(POINTS, i, 3) for i in range(5)] == [True, False, True, False, False]
    # eta = 2: the best 2; B still has A and C ahead of it
    assert [promotable(POINTS, i, 2) for i in range(5)] == [True, False, True, False, False]
    # a lone first trial always goes on; a dominated second one does not
    assert promotable(POINTS[:1], 0, 3)
    assert not promotable(np.array([[1.0, 1.0], [2.0, 2.0]]), 1, 3)
    with pytest.raises(ValueError):
        promotable(POINTS, 5, 3)


# TPE: in these 14 trials it comes back to a scheme it measured in full, which the cache
# test below needs (the GP sampler's 10 random start-up trials leave it no room to)
ARGS = ["explore", "-w", "digits_mlp", "-d", "sat", "--training", "--objectives",
        "latency,energy,accuracy", "-s", "train_epochs=9", "--space", "mode", "n", "m",
        "rows=4:32", "cols=4:32", "--multi-fidelity", "--sampler", "tpe", "-q"]


def _trials(out):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    return optuna.load_study(study_name="explore", storage=storage).get_trials()


def test_successive_halving_study(tmp_path):
    out = tmp_path / "mf"
    assert main([*ARGS, "--trials", "14", "--seed", "1", "-o", str(out)]) == 0
    trials = _trials(out)
    done = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    stopped = [t for t in trials if "stopped" in t.user_attrs]
    assert stopped and done
    assert len(done) + len(stopped) == 14  # stopped trials use their place in the budget
    # fidelities: 9 epochs x 1/27, 1/9, 1/3 -> 1, 1, 3 epochs; a completed feasible trial
    # carries the full-fidelity accuracy, exactly what `run` measures for its design
    trace = training_trace(load_workload("digits_mlp"))
    for t in done:
        feasible = all(v <= 0 for v in t.constraints.values())
        if not feasible:
            assert t.user_attrs["fidelity"] < 1.0  # infeasible: done at the rung that said so
            continue
        assert t.user_attrs["fidelity"] == 1.0
        cfg = SatConfig.from_mapping({**t.params, "train_epochs": 9})
        full = SparseTrainingArray(cfg).evaluate(trace).extra["accuracy"]
        assert t.user_attrs["metrics"]["accuracy"] == full
    # the rule, re-derived: at each rung a trial went on exactly when it ranked in the top
    # third of the trials measured there before it (one worker: lower trial numbers)
    checked = 0
    for rung in range(3):
        key = f"mf_rung_{rung}"
        at = sorted((t for t in trials if key in t.user_attrs), key=lambda t: t.number)
        for i, t in enumerate(at):
            went_on = (f"mf_rung_{rung + 1}" in t.user_attrs if rung < 2 else
                       t.user_attrs.get("fidelity") == 1.0)
            pts = np.array([s.user_attrs[key] for s in at[:i + 1]])
            assert went_on == promotable(pts, i, 3), (rung, t.number)
            checked += 1
    assert checked > 10
    # a trial skips the rungs (and completes at full fidelity) exactly when an earlier trial
    # had measured its design's full-fidelity accuracy (sat's accuracy_params: mode, n, m):
    # the cache held it, so measuring less would save nothing
    acc_key = ("mode", "n", "m")
    skipped = 0
    for t in trials:
        if "invalid" in t.user_attrs:
            continue
        cached = any(s.number < t.number and s.user_attrs.get("fidelity") == 1.0
                     and all(s.params.get(k) == t.params.get(k) for k in acc_key)
                     for s in trials)
        assert ("mf_rung_0" not in t.user_attrs) == cached or (
            not cached and t.user_attrs.get("fidelity", 1.0) < 1.0), t.number
        if cached:
            assert t.user_attrs["fidelity"] == 1.0
            skipped += 1
    assert skipped >= 1
    # the cache holds the lower fidelities apart from the full ones
    lines = [json.loads(json.loads(x)["key"]) for x in
             (tmp_path / "accuracy_cache.jsonl").read_text().splitlines()]
    assert {x.get("fraction", 1.0) for x in lines} >= {1 / 27, 1.0}
    # trials.csv says at which fidelity each row's accuracy was measured
    header = (out / "trials.csv").read_text().splitlines()[0].split(",")
    assert "fidelity" in header and "stopped" in header
    # the same command again has nothing left to run: stopped trials count
    assert main([*ARGS, "--trials", "14", "--seed", "1", "-o", str(out)]) == 0
    assert len(_trials(out)) == len(trials)


@pytest.mark.parametrize("argv, words", [
    (["-w", "digits_mlp", "-d", "sat", "--objectives", "latency,energy"],
     "give accuracy as an objective or constraint"),
    (["-w", "digits_mlp", "-d", "analog", "--objectives", "latency,accuracy"],
     "measures accuracy at lower fidelities"),
    (["-w", "digits_mlp", "-d", "sat", "--objectives", "latency,accuracy", "--reduction",
      "1"], "reduction"),
])
def test_bad_multi_fidelity_input_is_one_line(tmp_path, capsys, argv, words):
    code = main(["explore", *argv, "--multi-fidelity", "--trials", "2", "-o",
                 str(tmp_path / "x"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err and err.startswith("accel-sim: error:")


def test_hyperband_brackets_by_hand():
    """Four brackets over 3 rungs at ETA 3 get ceil(4 / (s + 1) x 3^s) = 27, 12, 6, 4 trials
    of every 49 (Li et al. 2018), interleaved: the first trials visit every bracket."""
    from accel_sim.explore import ExploreSpec, Objective

    spec = ExploreSpec(workloads=("digits_mlp",), device="sat", multi_fidelity=True,
                       brackets=4, objectives=(Objective.parse("latency"),
                                               Objective.parse("accuracy")))
    seq = [spec.bracket_of(i) for i in range(49)]
    assert [seq.count(s) for s in (3, 2, 1, 0)] == [27, 12, 6, 4]
    assert set(seq[:6]) == {0, 1, 2, 3}
    assert [spec.bracket_of(i + 49) for i in range(49)] == seq  # the deal repeats
    one = ExploreSpec(workloads=("digits_mlp",), device="sat", multi_fidelity=True,
                      objectives=spec.objectives)
    assert {one.bracket_of(i) for i in range(20)} == {3}  # default: halving from 1/27


def test_a_bracket_study_starts_some_trials_higher(tmp_path):
    out = tmp_path / "hb"
    assert main([*ARGS, "--brackets", "4", "--trials", "10", "--seed", "2", "-o",
                 str(out)]) == 0
    trials = _trials(out)
    for t in trials:
        if "bracket" not in t.user_attrs:
            continue  # an invalid design
        b = t.user_attrs["bracket"]
        rungs = {k for k in t.user_attrs if k.startswith("mf_")}
        # bracket b measures at most its b lower fidelities, under keys of its own
        assert all(k.startswith(f"mf_b{b}_rung_") for k in rungs)
        assert len(rungs) <= b
        if b == 0 and "stopped" not in t.user_attrs:
            assert not rungs  # the full-fidelity bracket measures nothing lower
    assert {t.user_attrs.get("bracket") for t in trials} >= {0, 3}
    code = main([*ARGS, "--brackets", "5", "--trials", "2", "-o", str(tmp_path / "x")])
    assert code == 2


def test_a_promotion_trains_on_from_the_lower_fidelity_checkpoint(monkeypatch):
    """Lower fidelities are checkpoints of the full training (its learning-rate schedule), so
    1/3, 2/3 and then full fidelity train the epochs of one full training, and the full
    accuracy is exactly that of one uninterrupted training."""
    from accel_sim.sparse import NM, TrainingRun, sparse_train, training_accuracy

    training_accuracy.cache_clear()
    trained: list[int] = []
    real = TrainingRun.advance

    def counted(self, to_epoch=None):
        start = self.epoch
        out = real(self, to_epoch)
        trained.append(self.epoch - start)
        return out

    monkeypatch.setattr(TrainingRun, "advance", counted)
    task = Classification("digits_mlp")
    dev = SparseTrainingArray(SatConfig(mode="transposable", n=2, m=4, train_epochs=6, seed=3))
    low = [dev.accuracy_at(task, f) for f in (1 / 3, 2 / 3)]
    full = dev.accuracy(task)
    assert trained == [2, 2, 2]  # epochs 1-2, 3-4, 5-6: one training
    trained.clear()
    ref = sparse_train("digits_mlp", NM(2, 4, scheme="transposable"), seed=3, epochs=6)
    assert trained == [6] and full == ref.test_accuracy
    # the checkpoints are the uninterrupted training's own epochs 2 and 4
    run = TrainingRun("digits_mlp", NM(2, 4, scheme="transposable"), seed=3, epochs=6)
    assert low == [run.advance(2).result().test_accuracy,
                   run.advance(4).result().test_accuracy]
    # a checkpoint before the one a kept training reached trains again, from the start
    trained.clear()
    for at in (4, 2):
        assert training_accuracy("digits_mlp", NM(2, 4, scheme="transposable"), 4, 6, at) > 0
    assert trained == [4, 2]


@pytest.mark.parametrize("at", [0, 7, 2.5, True])
def test_a_checkpoint_outside_the_training_is_refused(at):
    from accel_sim.sparse import Dense, training_accuracy

    with pytest.raises(ConfigError, match=r"at_epoch=.*must be an integer in \[1, 6\]"):
        training_accuracy("digits_mlp", Dense(), 0, 6, at)
