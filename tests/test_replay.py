"""Replay buffers: sum-tree PER sampling statistics, weights, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim.errors import ConfigError
from accel_sim.replay import PrioritizedReplay, UniformReplay


def _filled(buf, n):
    buf.add(obs=np.arange(n, dtype=np.float32)[:, None], action=np.arange(n) % 3)
    return buf


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_sampling_frequencies_match_priorities_to_the_alpha(alpha):
    n = 50
    buf = _filled(PrioritizedReplay(64, seed=1, alpha=alpha, eps=1e-9), n)
    pr = np.random.default_rng(0).uniform(0.1, 5.0, n)
    buf.update_priorities(np.arange(n), pr)
    want = pr**alpha / (pr**alpha).sum()
    draws = 400_000
    counts = np.zeros(n)
    for _ in range(draws // 32):
        idx, _ = buf.sample(32)
        counts += np.bincount(idx, minlength=n)
    freq = counts / counts.sum()
    # stratified sampling is less variable than multinomial: the binomial sd is an upper bound
    sd = np.sqrt(want * (1 - want) / counts.sum())
    assert np.all(np.abs(freq - want) < 5 * sd)
    assert np.allclose(buf.probabilities(np.arange(n)), want)


def test_importance_weights():
    buf = _filled(PrioritizedReplay(16, alpha=1.0, beta=0.5, eps=1e-12), 4)
    buf.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]))
    idx, w = buf.sample(4)
    p = np.array([1, 2, 3, 4]) / 10
    want = (4 * p[idx]) ** -0.5 / (4 * p.min()) ** -0.5
    assert np.allclose(w, want)
    assert w.max() <= 1.0
    _, wu = _filled(UniformReplay(8), 8).sample(5)
    assert np.array_equal(wu, np.ones(5))


def test_new_transitions_get_the_max_priority():
    buf = _filled(PrioritizedReplay(8, alpha=1.0, eps=1e-12), 2)
    buf.update_priorities(np.array([0]), np.array([7.0]))
    buf.add(obs=np.zeros((1, 1), np.float32), action=np.zeros(1, int))
    assert buf.probabilities(np.array([2]))[0] == pytest.approx(
        buf.probabilities(np.array([0]))[0])


def test_ring_overwrites_oldest_and_fields_follow():
    buf = UniformReplay(4)
    idx = _filled(buf, 6).add(obs=np.full((1, 1), 9.0, np.float32), action=np.array([1]))
    assert len(buf) == 4 and idx.tolist() == [2]
    assert buf.fields(np.array([0, 1, 2]))["obs"][:, 0].tolist() == [4.0, 5.0, 9.0]


@pytest.mark.parametrize("cls", [UniformReplay, PrioritizedReplay])
def test_same_seed_same_samples(cls):
    a, b, c = (_filled(cls(100, seed=s), 80) for s in (5, 5, 6))
    sa, sb, sc = a.sample(32), b.sample(32), c.sample(32)
    assert np.array_equal(sa[0], sb[0]) and np.array_equal(sa[1], sb[1])
    assert not np.array_equal(sa[0], sc[0])


def test_bad_input_is_rejected_without_corrupting_the_buffer():
    buf = _filled(PrioritizedReplay(16, seed=0), 10)
    buf.update_priorities(np.arange(10), np.linspace(1, 2, 10))
    before = (buf.tree.sums.copy(), buf.size, buf.max_priority)
    with pytest.raises(ConfigError, match=r"batch=11 .*\[1, 10\]"):
        buf.sample(11)
    with pytest.raises(ConfigError, match="finite and >= 0"):
        buf.update_priorities(np.array([0, 1]), np.array([1.0, -1.0]))
    with pytest.raises(ConfigError, match="finite and >= 0"):
        buf.update_priorities(np.array([0, 1]), np.array([np.nan, 1.0]))
    with pytest.raises(ConfigError, match="indices"):
        buf.update_priorities(np.array([3, 12]), np.array([1.0, 1.0]))
    with pytest.raises(ConfigError, match="same leading batch"):
        buf.add(obs=np.zeros((2, 1), np.float32), action=np.zeros(3, int))
    with pytest.raises(ConfigError, match="shape"):
        buf.add(obs=np.zeros((2, 5), np.float32), action=np.zeros(2, int))
    assert np.array_equal(buf.tree.sums, before[0])
    assert (buf.size, buf.max_priority) == before[1:]
    with pytest.raises(ConfigError, match="capacity"):
        PrioritizedReplay(0)
    with pytest.raises(ConfigError, match="batch"):
        _filled(UniformReplay(4), 4).sample(0)
    with pytest.raises(ConfigError, match="alpha"):
        PrioritizedReplay(4, alpha=1.5)
