"""AMPER buffers: sampling distribution against the specification, weights, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from accel_sim.errors import ConfigError
from accel_sim.replay import AmperFrReplay, AmperKReplay


def _spec_probabilities(codes: np.ndarray, levels: int, k: int | None,
                        radius: int | None) -> np.ndarray:
    """P(i) by brute force over every query code (the module's written specification)."""
    n = codes.size
    p = np.zeros(n)
    valid = 0
    for v in range(levels):
        dist = np.abs(codes - v)
        # AMPER-k: the k-th smallest distance, ties included; AMPER-fr: the radius
        d = np.sort(dist)[min(k, n) - 1] if k is not None else radius
        cand = dist <= d
        if cand.any():
            valid += 1
            p[cand] += 1.0 / cand.sum()
    return p / valid


def _filled(buf, n, seed=0, low=0.01, high=5.0):
    buf.add(obs=np.arange(n, dtype=np.float32)[:, None])
    pr = np.random.default_rng(seed).uniform(low, high, n)
    buf.update_priorities(np.arange(n), pr)
    return buf


@pytest.mark.parametrize("make", [
    lambda: AmperKReplay(64, seed=3, k=1, priority_bits=4, alpha=1.0),
    lambda: AmperKReplay(64, seed=3, k=7, priority_bits=5, alpha=0.6),
    lambda: AmperFrReplay(64, seed=3, radius=0, priority_bits=5, alpha=1.0),
    lambda: AmperFrReplay(64, seed=3, radius=2, priority_bits=4, alpha=0.6),
])
def test_sampling_frequencies_match_the_specification(make):
    buf = _filled(make(), 50)
    k = getattr(buf, "k", None)
    r = getattr(buf, "radius", None)
    want = _spec_probabilities(buf.codes[:50], buf.levels, k, r)
    assert np.allclose(buf.probabilities(np.arange(50)), want)
    counts = np.zeros(50)
    for _ in range(4000):
        idx, _ = buf.sample(50)
        counts += np.bincount(idx, minlength=50)
    freq = counts / counts.sum()
    sd = np.sqrt(want * (1 - want) / counts.sum())  # independent draws: binomial
    assert np.all(np.abs(freq - want) < 5 * sd + 1e-12)


def test_codes_quantise_priorities_against_the_running_maximum():
    buf = AmperKReplay(8, priority_bits=3, alpha=1.0, eps=1e-12)
    buf.add(obs=np.zeros((4, 1)))
    assert buf.codes[:4].tolist() == [7, 7, 7, 7]  # new transitions: the top code
    buf.update_priorities(np.arange(4), np.array([1.0, 0.5, 0.2, 0.0]))
    assert buf.codes[:4].tolist() == [7, 4, 1, 0]  # floor(p / 1 * 8), clipped to 7
    buf.update_priorities(np.array([3]), np.array([4.0]))  # scale grows; others keep codes
    assert buf.scale == pytest.approx(4.0)
    assert buf.codes[:4].tolist() == [7, 4, 1, 7]


@pytest.mark.parametrize("capacity", [40, 3000])
def test_buckets_stay_consistent_under_adds_updates_and_ring_overwrites(capacity):
    buf = AmperFrReplay(capacity, seed=1, radius=1, priority_bits=6)
    rng = np.random.default_rng(2)
    for _ in range(300):  # enough traffic to outgrow buckets and repack the pool
        buf.add(obs=rng.random((rng.integers(1, 40), 2)))
        idx, _ = buf.sample(min(32, len(buf)))
        buf.update_priorities(idx, rng.exponential(1.0, idx.size) * rng.choice([0.01, 1, 9]))
    seen = []
    for c in range(buf.levels):
        members = buf._pool[buf._base[c]:buf._base[c] + buf._cnt[c]]
        assert np.all(buf.codes[members] == c)
        assert np.array_equal(buf._pos[members], np.arange(members.size))
        seen.extend(members.tolist())
    assert sorted(seen) == list(range(len(buf)))
    assert buf.histogram.sum() == len(buf) == capacity


def test_importance_weights_follow_the_specification():
    buf = _filled(AmperKReplay(32, seed=0, k=3, priority_bits=4, beta=0.7), 20)
    idx, w = buf.sample(20)
    p = buf.probabilities(np.arange(20))
    assert np.allclose(w, (p[idx] / p.min()) ** -0.7) and w.max() <= 1.0


@pytest.mark.parametrize("cls,kw", [(AmperKReplay, {"k": 4}), (AmperFrReplay, {"radius": 1})])
def test_same_seed_same_samples(cls, kw):
    a, b, c = (_filled(cls(64, seed=s, **kw), 50) for s in (4, 4, 5))
    sa, sb, sc = a.sample(32), b.sample(32), c.sample(32)
    assert np.array_equal(sa[0], sb[0]) and np.array_equal(sa[1], sb[1])
    assert not np.array_equal(sa[0], sc[0])


@pytest.mark.parametrize("make,match", [
    (lambda: AmperKReplay(16, priority_bits=0), r"priority_bits must be an integer >= 1"),
    (lambda: AmperKReplay(16, priority_bits=17), r"priority_bits must be in \[1, 16\]"),
    (lambda: AmperKReplay(16, k=0), r"k must be an integer >= 1"),
    (lambda: AmperFrReplay(16, radius=-1), r"radius must be an integer >= 0"),
    (lambda: AmperFrReplay(16, radius=8, priority_bits=3), r"radius must be in \[0, 7\]"),
    (lambda: AmperFrReplay(0), r"capacity must be an integer >= 1"),
])
def test_bad_configuration(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_rejected_calls_leave_the_buffer_unchanged():
    buf = _filled(AmperKReplay(16, seed=0, k=2), 10)
    before = (buf.codes.copy(), buf._cnt.copy(), buf._pool.copy(), buf.scale, len(buf))
    with pytest.raises(ConfigError, match=r"batch=11 .*\[1, 10\]"):
        buf.sample(11)
    with pytest.raises(ConfigError, match="finite and >= 0"):
        buf.update_priorities(np.array([0, 1]), np.array([1.0, -1.0]))
    with pytest.raises(ConfigError, match="finite and >= 0"):
        buf.update_priorities(np.array([0, 1]), np.array([9.0, np.nan]))
    with pytest.raises(ConfigError, match=r"indices must be in \[0, 9\]"):
        buf.update_priorities(np.array([3, 12]), np.array([1.0, 1.0]))
    after = (buf.codes, buf._cnt, buf._pool, buf.scale, len(buf))
    for x, y in zip(before, after, strict=True):
        assert np.array_equal(x, y)
