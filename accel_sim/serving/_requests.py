"""The requests a serving run serves: prompt and output lengths (fixed, drawn from a length
distribution, or read from a trace file) and, optionally, arrival times.

Length distributions (``length_dist``) keep the mean at ``lin`` / ``lout`` tokens and draw the
prompt and output lengths independently; ``length_spread`` sets how far they spread:

* ``fixed``: every request has ``lin`` / ``lout`` tokens (the spread is not used);
* ``uniform``: uniform on ``mean x [1 - s, 1 + s]``, ``0 < s < 1``;
* ``lognormal``: ``ln L`` normal with standard deviation ``s`` and the mean kept
  (``mu = ln(mean) - s^2 / 2``), ``0 < s <= 3``;
* ``zipf``: ``L = ceil(unit x K)`` with ``P(K = k) ~ k^-s`` (``s > 2``, so the mean is
  finite) and ``unit = mean x zeta(s) / zeta(s - 1)`` (the untruncated mean is ``mean``).

Every length is rounded to an integer and clipped to ``[1, 2^20]`` tokens.

A trace file is a CSV with columns ``lin`` and ``lout`` (tokens, integers >= 1) and optionally
``arrival_s`` (seconds, non-decreasing, >= 0); extra columns are ignored. The name
``conversations`` is the trace shipped with accel_sim (``accel_sim/serving/data/``, see its
README for the provenance).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..errors import ConfigError

__all__ = ["LENGTH_DISTS", "MAX_TOKENS", "SHIPPED_TRACES", "RequestSet", "check_spread",
           "draw_lengths", "load_trace", "trace_path"]

#: Length distributions of ``length_dist``.
LENGTH_DISTS = ("fixed", "uniform", "lognormal", "zipf")
#: Longest prompt or output, tokens.
MAX_TOKENS = 1 << 20
#: Traces shipped as package data (name -> file in ``accel_sim/serving/data``).
SHIPPED_TRACES = {"conversations": "conversations.csv"}


@dataclass(frozen=True)
class RequestSet:
    """Lengths (tokens) and optional arrival times (s) of the requests, read-only arrays."""

    lin: np.ndarray
    lout: np.ndarray
    arrival_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        for a in (self.lin, self.lout, self.arrival_s):
            if a is not None:
                a.setflags(write=False)

    def __len__(self) -> int:
        return int(self.lin.size)

    @property
    def fixed(self) -> bool:
        """Whether every request has the same prompt and output length."""
        return bool((self.lin == self.lin[0]).all() and (self.lout == self.lout[0]).all())

    def take(self, n: int) -> RequestSet:
        """The first ``n`` requests, the set repeated as often as needed (a repeat's arrivals
        are shifted by the trace's span plus its mean gap)."""
        reps = -(-n // len(self))
        lin = np.tile(self.lin, reps)[:n]
        lout = np.tile(self.lout, reps)[:n]
        arr = None
        if self.arrival_s is not None:
            a = self.arrival_s
            gap = float(a[-1] - a[0]) / max(a.size - 1, 1)
            period = float(a[-1] - a[0]) + (gap if gap > 0 else 1.0)
            arr = (a[None, :] + period * np.arange(reps)[:, None]).ravel()[:n]
        return RequestSet(lin.astype(np.int64), lout.astype(np.int64), arr)


def _zeta(s: float) -> float:
    """Riemann zeta for ``s > 1`` (direct sum plus the Euler-Maclaurin tail, rel. err. <1e-9)."""
    n = 1000
    k = np.arange(1, n, dtype=float)
    return float(np.sum(k ** -s) + n ** (1 - s) / (s - 1) + 0.5 * n ** -s
                 + s / 12.0 * n ** (-s - 1))


def check_spread(dist: str, spread: float) -> None:
    """Raise :class:`ConfigError` when ``spread`` is outside the range of ``dist``."""
    ranges = {"uniform": (0.0, 1.0, "0 < length_spread < 1"),
              "lognormal": (0.0, 3.0, "0 < length_spread <= 3"),
              "zipf": (2.0, 20.0, "2 < length_spread <= 20")}
    if dist not in ranges:
        return
    lo, hi, text = ranges[dist]
    ok = lo < spread < hi if dist == "uniform" else lo < spread <= hi
    if not ok:
        raise ConfigError(f"length_spread={spread:g}: {dist} needs {text}")


def draw_lengths(dist: str, mean: int, spread: float, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``n`` lengths (tokens, int64) of mean ``mean`` from ``dist`` (module docstring)."""
    if dist not in LENGTH_DISTS:
        raise ConfigError(f"length_dist={dist!r}: one of {', '.join(LENGTH_DISTS)}")
    check_spread(dist, spread)
    if dist == "fixed":
        return np.full(n, mean, dtype=np.int64)
    if dist == "uniform":
        x = rng.uniform(mean * (1 - spread), mean * (1 + spread), size=n)
    elif dist == "lognormal":
        x = rng.lognormal(math.log(mean) - spread ** 2 / 2, spread, size=n)
    else:
        unit = mean * _zeta(spread) / _zeta(spread - 1)
        k = rng.zipf(spread, size=n).astype(float)
        x = np.ceil(unit * np.minimum(k, MAX_TOKENS))
    return np.clip(np.rint(x), 1, MAX_TOKENS).astype(np.int64)


def trace_path(name: str) -> str:
    """The file of a trace: a shipped trace's name or a path."""
    if name in SHIPPED_TRACES:
        return str(resources.files("accel_sim.serving").joinpath("data", SHIPPED_TRACES[name]))
    return name


def load_trace(name: str) -> RequestSet:
    """Read a request trace (module docstring); one-line :class:`ConfigError` on bad input."""
    path = trace_path(name)
    label = f"trace {name}"
    if not os.path.isfile(path):
        shipped = ", ".join(SHIPPED_TRACES)
        raise ConfigError(f"{label}: no such file (give a CSV path or a shipped trace: "
                          f"{shipped})")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read it ({exc})") from None
    if not rows:
        raise ConfigError(f"{label}: empty file (expected a header with lin, lout)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("lin", "lout") if c not in header]
    if missing:
        raise ConfigError(f"{label}: missing column {', '.join(missing)} (columns: "
                          "arrival_s (optional), lin, lout)")
    cols = {c: header.index(c) for c in ("arrival_s", "lin", "lout") if c in header}
    body = rows[1:]
    if not body:
        raise ConfigError(f"{label}: no requests after the header")
    out: dict[str, list[float]] = {c: [] for c in cols}
    for line, row in enumerate(body, start=2):
        for c, i in cols.items():
            text = row[i].strip() if i < len(row) else ""
            if not text:
                raise ConfigError(f"{label}, line {line}: {c} is missing")
            try:
                v = float(text)
            except ValueError:
                raise ConfigError(f"{label}, line {line}: {c}={text!r} is not a number"
                                  ) from None
            if c == "arrival_s":
                if not (math.isfinite(v) and v >= 0):
                    raise ConfigError(f"{label}, line {line}: arrival_s={text} must be a "
                                      "finite time >= 0 s")
            elif not (v.is_integer() and 1 <= v <= MAX_TOKENS):
                raise ConfigError(f"{label}, line {line}: {c}={text} must be an integer in "
                                  f"[1, {MAX_TOKENS}] tokens")
            out[c].append(v)
    arrival = None
    if "arrival_s" in out:
        arrival = np.array(out["arrival_s"])
        back = np.flatnonzero(np.diff(arrival) < 0)
        if back.size:
            raise ConfigError(f"{label}, line {int(back[0]) + 3}: arrival_s goes back in time "
                              "(arrivals must be non-decreasing)")
    return RequestSet(np.array(out["lin"], dtype=np.int64),
                      np.array(out["lout"], dtype=np.int64), arrival)
