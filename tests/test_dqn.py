"""DQN on gymnasium tasks: it learns, it is reproducible, devices report the learning metric."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim import make_device
from accel_sim.errors import ConfigError
from accel_sim.replay import (
    AmperFrReplay,
    DQNConfig,
    PrioritizedReplay,
    UniformReplay,
    final_return,
    make_buffer,
    train_dqn,
)
from workloads import load_workload


def test_dqn_learns_cartpole():
    # a random policy averages ~22 on CartPole-v1; 10k steps of DQN reach ~90-150
    curves = [train_dqn("cartpole", UniformReplay(10_000, seed=s), seed=s,
                        config=DQNConfig(steps=10_000)) for s in (0, 1)]
    first = np.mean([c.returns[:20].mean() for c in curves])
    assert first < 35
    assert final_return(curves) > 2.5 * first


@pytest.mark.parametrize("make", [lambda s: PrioritizedReplay(5000, seed=s),
                                  lambda s: AmperFrReplay(5000, seed=s, radius=1)])
def test_same_seed_same_learning_curve(make):
    cfg = DQNConfig(steps=2500, warmup=500)
    a, b = (train_dqn("acrobot", make(3), seed=3, config=cfg) for _ in range(2))
    assert np.array_equal(a.returns, b.returns) and np.array_equal(a.end_steps, b.end_steps)
    assert a.returns.size >= 4 and np.all(a.returns <= 0)  # Acrobot returns are in [-500, 0]


def test_prioritized_buffers_get_td_errors_and_annealed_beta():
    buf = PrioritizedReplay(5000, seed=0)
    train_dqn("cartpole", buf, seed=0, config=DQNConfig(steps=2000, warmup=500))
    assert buf.beta == pytest.approx(0.4 + 0.6 * 1999 / 2000)
    p = buf.probabilities(np.arange(len(buf)))
    assert p.max() / p.min() > 10  # priorities were updated from TD errors


def test_device_accuracy_is_the_learning_metric():
    tr = load_workload("replay:capacity=5000,batch=32,env=cartpole,dqn_steps=2000,runs=1")
    r1 = make_device("amper", {"search": "fr", "radius": 1}).evaluate(tr)
    want = final_return([train_dqn("cartpole", make_buffer("amper-fr", 5000, 0, radius=1,
                                                           priority_bits=8), seed=0,
                                   config=DQNConfig(steps=2000, batch=32, capacity=5000,
                                                    warmup=500))])
    assert r1.extra["accuracy"] == pytest.approx(want)
    assert "accuracy" in make_device("per_gpu").evaluate(tr).extra
    assert "accuracy" not in make_device("per_gpu").evaluate(
        load_workload("replay:capacity=5000,batch=32")).extra


@pytest.mark.parametrize("kw,match", [
    ({"steps": 0}, r"DQNConfig.steps must be an integer >= 1"),
    ({"warmup": 10}, r"DQNConfig.warmup must be in \[batch=64"),
    ({"gamma": 1.5}, r"DQNConfig.gamma must be in \[0.0, 1.0\]"),
])
def test_bad_dqn_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        DQNConfig(**kw)


def test_unknown_env_and_buffer():
    with pytest.raises(ConfigError, match="env='pong'"):
        train_dqn("pong", UniformReplay(10))
    with pytest.raises(ConfigError, match="buffer kind 'sumtree'"):
        make_buffer("sumtree", 10)
