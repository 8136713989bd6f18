"""Mixture-of-experts routing: per-expert token counts of every MoE layer in every step.

Each token picks ``top_k`` *distinct* experts. Expert probabilities per layer come from a
policy:

* ``uniform``: every expert equally likely (the Duplex evaluation's assumption);
* ``zipf``: expert popularity ``p ~ 1 / rank^s`` with a random (seeded) rank order per layer;
* ``trace``: per-layer expert frequencies read from a file (a recorded routing trace).

A token's experts are drawn without replacement in proportion to ``p`` (sequential, i.e.
Plackett-Luce; for ``uniform`` a uniform random ``top_k``-subset). Sampling is exact per token up
to ``exact_tokens`` tokens in a step; above it the per-layer counts are drawn from a multinomial
over ``tokens * top_k`` picks with each expert's inclusion probability (estimated once from
exact draws), which keeps the mean exact and the spread within a few percent of the exact
sampler at such sizes (prefill steps of thousands of tokens).

All randomness comes from the seed: a numba splitmix64 stream whose state lives in the router.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numba
import numpy as np

from ..errors import ConfigError
from ._model import ROUTING_POLICIES

__all__ = ["ROUTING_POLICIES", "Router"]



@numba.njit(cache=True, inline="always")
def _next(state: np.ndarray) -> float:
    """splitmix64 (Steele et al. 2014): one uniform double in [0, 1)."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _route_tokens(cdf: np.ndarray, tokens: int, top_k: int, state: np.ndarray,
                  out: np.ndarray, uniform: bool) -> None:
    """Add the expert counts of ``tokens`` tokens to ``out[layer, expert]``.

    ``cdf[layer]`` is the cumulative expert distribution (last entry 1). Distinct experts per
    token: a pick already taken is redrawn (after 64 rejections, the remaining mass is walked).
    ``uniform``: the j-th pick is uniform over the experts not chosen yet (same distribution,
    no search).
    """
    n_layers, n_exp = cdf.shape
    chosen = np.empty(top_k, dtype=np.int64)
    if uniform:
        for lay in range(n_layers):
            for _ in range(tokens):
                for j in range(top_k):
                    r = int(_next(state) * (n_exp - j))
                    # the r-th expert (0-based) among those not chosen: walk the sorted picks
                    e = r
                    for i in range(j):  # chosen[:j] kept sorted
                        if chosen[i] <= e:
                            e += 1
                    pos = j
                    while pos > 0 and chosen[pos - 1] > e:
                        chosen[pos] = chosen[pos - 1]
                        pos -= 1
                    chosen[pos] = e
                    out[lay, e] += 1
        return
    for lay in range(n_layers):
        c = cdf[lay]
        for _ in range(tokens):
            for j in range(top_k):
                e = -1
                for _attempt in range(64):
                    u = _next(state)
                    cand = int(np.searchsorted(c, u, side="right"))
                    if cand >= n_exp:
                        cand = n_exp - 1
                    dup = False
                    for i in range(j):
                        if chosen[i] == cand:
                            dup = True
                            break
                    if not dup:
                        e = cand
                        break
                if e < 0:  # walk the mass of the experts not chosen yet
                    free = 0.0
                    for x in range(n_exp):
                        taken = False
                        for i in range(j):
                            if chosen[i] == x:
                                taken = True
                        if not taken:
                            free += c[x] - (c[x - 1] if x > 0 else 0.0)
                    u = _next(state) * free
                    acc = 0.0
                    for x in range(n_exp):
                        taken = False
                        for i in range(j):
                            if chosen[i] == x:
                                taken = True
                        if taken:
                            continue
                        e = x
                        acc += c[x] - (c[x - 1] if x > 0 else 0.0)
                        if acc > u:
                            break
                chosen[j] = e
                out[lay, e] += 1


@numba.njit(cache=True)
def _route_steps(cdf: np.ndarray, tokens: int, top_k: int, state: np.ndarray,
                 out: np.ndarray, uniform: bool) -> None:
    for s in range(out.shape[0]):
        _route_tokens(cdf, tokens, top_k, state, out[s], uniform)


@dataclass
class Router:
    """Draws per-expert token counts for the MoE layers of a model.

    Args:
        experts: Experts per MoE layer.
        top_k: Experts per token (distinct), ``1 <= top_k <= experts``.
        layers: MoE layers.
        policy: ``uniform``, ``zipf`` or ``trace``.
        zipf_s: Zipf exponent (``zipf`` only), > 0.
        trace_path: File of expert frequencies (``trace`` only): a CSV with columns
            ``layer, expert, weight`` or a ``.npy`` array ``[layers, experts]`` (a 1-D array is
            used for every layer). Weights are normalised per layer.
        seed: Seed of the routing stream.
        exact_tokens: Largest step routed token by token (see module docstring).
    """

    experts: int
    top_k: int
    layers: int
    policy: str = "uniform"
    zipf_s: float = 1.0
    trace_path: str | None = None
    seed: int = 0
    exact_tokens: int = 4096
    probs: np.ndarray = field(init=False, repr=False)
    _cdf: np.ndarray = field(init=False, repr=False)
    _state: np.ndarray = field(init=False, repr=False)
    _rng: np.random.Generator = field(init=False, repr=False)
    _inclusion: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.experts, (int, np.integer)) or self.experts < 1:
            raise ConfigError(f"experts={self.experts!r}: must be an integer >= 1")
        if not isinstance(self.top_k, (int, np.integer)) or not 1 <= self.top_k <= self.experts:
            raise ConfigError(f"top_k={self.top_k!r}: must be in [1, experts={self.experts}]")
        if not isinstance(self.layers, (int, np.integer)) or self.layers < 1:
            raise ConfigError(f"layers={self.layers!r}: must be an integer >= 1")
        if self.policy not in ROUTING_POLICIES:
            raise ConfigError(f"routing={self.policy!r}: one of {', '.join(ROUTING_POLICIES)}")
        if self.exact_tokens < 1:
            raise ConfigError(f"exact_tokens={self.exact_tokens}: must be >= 1")
        rng = np.random.default_rng(self.seed)
        if self.policy == "uniform":
            probs = np.full((self.layers, self.experts), 1.0 / self.experts)
        elif self.policy == "zipf":
            if not (np.isfinite(self.zipf_s) and self.zipf_s > 0):
                raise ConfigError(f"zipf_s={self.zipf_s!r}: must be a number > 0")
            base = 1.0 / np.arange(1, self.experts + 1) ** self.zipf_s
            probs = np.stack([base[rng.permutation(self.experts)]
                              for _ in range(self.layers)])
        else:
            probs = _load_trace(self.trace_path, self.layers, self.experts)
        probs = probs / probs.sum(axis=1, keepdims=True)
        self.probs = probs
        cdf = np.cumsum(probs, axis=1)
        cdf[:, -1] = 1.0
        self._cdf = np.ascontiguousarray(cdf)
        self._state = np.array([rng.integers(0, 2**63, dtype=np.uint64)], dtype=np.uint64)
        self._rng = rng

    def counts(self, tokens: int) -> np.ndarray:
        """Tokens routed to each expert in one step: int64 array ``[layers, experts]``; every
        row sums to ``tokens * top_k`` and no entry exceeds ``tokens``."""
        if tokens < 0:
            raise ConfigError(f"tokens={tokens}: must be >= 0")
        out = np.zeros((self.layers, self.experts), dtype=np.int64)
        if tokens == 0:
            return out
        if tokens <= self.exact_tokens or self.top_k == self.experts:
            _route_tokens(self._cdf, int(tokens), self.top_k, self._state, out,
                          self.policy == "uniform")
            return out
        pi = self.inclusion()
        out[:] = self._rng.multinomial(tokens * self.top_k, pi / self.top_k)
        for lay in np.flatnonzero((out > tokens).any(axis=1)):
            c = out[lay]
            while (c > tokens).any():  # an expert cannot receive a token twice
                c = np.minimum(c, tokens)
                spare = tokens * self.top_k - c.sum()
                free = np.where(c < tokens, pi[lay], 0.0)
                c = c + self._rng.multinomial(spare, free / free.sum())
            out[lay] = c
        return out

    def counts_many(self, tokens: int, steps: int) -> np.ndarray:
        """Counts of ``steps`` steps of ``tokens`` tokens each: int64
        ``[steps, layers, experts]`` (the same stream as ``steps`` calls of :meth:`counts`)."""
        if steps < 0:
            raise ConfigError(f"steps={steps}: must be >= 0")
        if tokens < 0:
            raise ConfigError(f"tokens={tokens}: must be >= 0")
        if tokens and (tokens <= self.exact_tokens or self.top_k == self.experts):
            out = np.zeros((steps, self.layers, self.experts), dtype=np.int64)
            _route_steps(self._cdf, int(tokens), self.top_k, self._state, out,
                         self.policy == "uniform")
            return out
        return np.stack([self.counts(int(tokens)) for _ in range(steps)]) if steps else \
            np.zeros((0, self.layers, self.experts), dtype=np.int64)

    def inclusion(self) -> np.ndarray:
        """Probability that a token is routed to each expert, ``[layers, experts]`` (sums to
        ``top_k`` per layer): exact for ``uniform`` and ``top_k = 1`` or ``experts``, otherwise
        estimated from 20,000 exact draws per layer of a stream separate from the steps'."""
        if self._inclusion is None:
            if self.top_k == self.experts:
                inc = np.ones_like(self.probs)
            elif self.policy == "uniform" or self.top_k == 1:
                inc = self.probs * self.top_k
            else:
                n = 20_000
                tmp = np.zeros_like(self.probs, dtype=np.int64)
                state = np.array([np.uint64(self.seed) ^ np.uint64(0xA5A5A5A5)], dtype=np.uint64)
                _route_tokens(self._cdf, n, self.top_k, state, tmp, False)
                inc = tmp / n
            self._inclusion = inc
        return self._inclusion


def _load_trace(path: str | None, layers: int, experts: int) -> np.ndarray:
    if not path:
        raise ConfigError("routing=trace needs routing_trace=PATH (CSV layer,expert,weight or "
                          ".npy [layers, experts])")
    if not os.path.exists(path):
        raise ConfigError(f"routing_trace={path!r}: file not found")
    if path.endswith(".npy"):
        arr = np.load(path, allow_pickle=False).astype(float)
        if arr.ndim == 1:
            arr = np.broadcast_to(arr, (layers, arr.size)).copy()
        if arr.ndim != 2 or arr.shape[1] != experts:
            raise ConfigError(f"routing_trace={path!r}: shape {arr.shape}, expected "
                              f"[{layers}, {experts}] or [{experts}]")
        if arr.shape[0] != layers:
            arr = arr[np.arange(layers) % arr.shape[0]]
    else:
        arr = np.zeros((layers, experts))
        seen = np.zeros(layers, dtype=bool)
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"layer", "expert", "weight"} <= set(
                    reader.fieldnames):
                raise ConfigError(f"routing_trace={path!r}: needs columns layer, expert, weight")
            for i, row in enumerate(reader, start=2):
                try:
                    lay, exp, w = int(row["layer"]), int(row["expert"]), float(row["weight"])
                except ValueError:
                    raise ConfigError(f"{path}:{i}: layer and expert must be integers, weight "
                                      "a number") from None
                if not (0 <= lay < layers and 0 <= exp < experts):
                    raise ConfigError(f"{path}:{i}: layer {lay} / expert {exp} out of range "
                                      f"[0, {layers}) / [0, {experts})")
                arr[lay, exp] += w
                seen[lay] = True
        if not seen.any():
            raise ConfigError(f"routing_trace={path!r}: no rows")
        arr[~seen] = arr[seen].mean(axis=0)  # layers absent from the trace: the mean profile
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise ConfigError(f"routing_trace={path!r}: weights must be finite and >= 0")
    if (arr.sum(axis=1) <= 0).any():
        raise ConfigError(f"routing_trace={path!r}: a layer has zero total weight")
    return arr
