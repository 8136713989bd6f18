"""Measured operator timings in place of the analytical ones (``serve --op-profile FILE.csv``).

A profile is a CSV file (header, one row per measurement, extra columns ignored)::

    operator,tokens,context,devices,seconds
    dense,512,0,1,0.00041
    attn_prefill,512,1024,1,0.00012
    attn_decode,64,2048,1,0.00009

``operator`` is one of

* ``dense``: everything of ONE transformer block that depends only on the token count
  (projections, FFN/MoE, norms, tensor-parallel all-reduces) for ``tokens`` tokens;
  ``context`` must be 0;
* ``attn_prefill``: attention of one prompt chunk of ``tokens`` tokens with ``context`` tokens
  already in the KV cache, one block;
* ``attn_decode``: attention of a decode batch of ``tokens`` requests whose mean KV length is
  ``context``, one block;
* ``lm_head`` (optional): LM head and sampling of ``tokens`` logits, the whole iteration;
  ``context`` 0;
* ``overhead`` (optional): runtime overhead of an iteration of ``tokens`` requests, the whole
  iteration; ``context`` 0.

``devices`` is the number of devices the measurement used (a run uses the rows whose count is
the serving system's), ``seconds`` the measured time, s. An iteration with ``D`` decode
requests whose KV lengths sum to ``S`` and prompt chunks ``p_i`` (``c_i`` tokens cached) takes

    layers * (dense(T) + sum_i attn_prefill(p_i, c_i) + attn_decode(D, S / D))
    + lm_head(D + P) + overhead(D + P),      T = D + sum_i p_i, P = number of chunks

(a term whose count is 0 is left out). Between measurements, ``dense``, ``lm_head`` and
``overhead`` are piecewise linear in ``tokens`` and ``attn_*`` bilinear on the (tokens,
context) grid; beyond them, linear extrapolation from the two nearest points of each axis,
clipped below at the smallest time measured for that operator. An axis measured at one value
only is constant along it.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..errors import ConfigError
from ..llm._model import LlmModel
from ..llm._system import StepCoster, StepCosts

__all__ = ["COLUMNS", "OPERATORS", "REQUIRED_OPERATORS", "OpProfile", "OpTable",
           "ProfiledSteps", "write_profile"]

#: Columns a profile must have, in the order :func:`write_profile` writes them.
COLUMNS = ("operator", "tokens", "context", "devices", "seconds")
#: Operators a profile may hold.
OPERATORS = ("dense", "attn_prefill", "attn_decode", "lm_head", "overhead")
#: Operators a profile must hold for the serving system's device count.
REQUIRED_OPERATORS = ("dense", "attn_prefill", "attn_decode")
_NO_CONTEXT = ("dense", "lm_head", "overhead")  # operators whose context must be 0


def _frozen(values: np.ndarray) -> np.ndarray:
    arr = np.array(values, dtype=float)
    arr.flags.writeable = False
    return arr


def _axis(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``i0, i1`` and weight ``w`` with ``x = (1 - w) grid[i0] + w grid[i1]``: the
    enclosing segment inside the grid, the nearest end segment outside it (``w`` < 0 or > 1:
    linear extrapolation); a one-point grid gives ``i0 = i1 = 0, w = 0`` (constant)."""
    if grid.size == 1:
        zero = np.zeros(x.shape, dtype=np.intp)
        return zero, zero, np.zeros(x.shape)
    i0 = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    i1 = i0 + 1
    return i0, i1, (x - grid[i0]) / (grid[i1] - grid[i0])


@dataclass(frozen=True, eq=False)
class OpTable:
    """The measurements of one operator at one device count (read-only arrays).

    Attributes:
        operator: One of :data:`OPERATORS`.
        devices: Device count of the measurements.
        tokens: Measured token (or request) counts, ascending.
        context: Measured context lengths, tokens, ascending (``[0]`` for ``dense``,
            ``lm_head`` and ``overhead``).
        seconds: Measured times, s, shape ``(len(tokens), len(context))``.
    """

    operator: str
    devices: int
    tokens: np.ndarray
    context: np.ndarray
    seconds: np.ndarray

    def __post_init__(self) -> None:
        for name in ("tokens", "context", "seconds"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def floor_s(self) -> float:
        """Smallest measured time, s: the lower clip of extrapolated values."""
        return float(self.seconds.min())

    def latency(self, tokens: np.ndarray | float, context: np.ndarray | float = 0.0
                ) -> np.ndarray:
        """Interpolated time, s, at ``tokens`` and ``context`` (array-likes, broadcast)."""
        t, c = np.broadcast_arrays(np.asarray(tokens, dtype=float),
                                   np.asarray(context, dtype=float))
        i0, i1, wt = _axis(self.tokens, t)
        j0, j1, wc = _axis(self.context, c)
        v = self.seconds
        low = (1.0 - wc) * v[i0, j0] + wc * v[i0, j1]
        high = (1.0 - wc) * v[i1, j0] + wc * v[i1, j1]
        return np.maximum((1.0 - wt) * low + wt * high, self.floor_s)


@dataclass(frozen=True)
class OpProfile:
    """A validated operator profile (see the module docstring for the file format).

    Attributes:
        path: The file it was read from (named in error messages).
        tables: ``(operator, devices)`` -> its :class:`OpTable`.
    """

    path: str
    tables: Mapping[tuple[str, int], OpTable]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OpProfile:
        """Read and validate a profile CSV; every problem is a one-line :class:`ConfigError`
        naming the file, the line or operator and what is allowed."""
        name = os.fspath(path)
        rows = _read_rows(name)
        where = f"op profile {name}"
        points: dict[tuple[str, int], dict[tuple[int, int], float]] = {}
        first_line: dict[tuple[str, int, int, int], int] = {}
        for line, row in rows:
            at = f"{where}, line {line}"
            op = row["operator"]
            if op not in OPERATORS:
                raise ConfigError(f"{at}: unknown operator {op!r}; allowed: "
                                  f"{', '.join(OPERATORS)}")
            tokens = _integer(at, "tokens", row["tokens"], 1)
            context = _integer(at, "context", row["context"], 0)
            devices = _integer(at, "devices", row["devices"], 1)
            seconds = _seconds(at, row["seconds"])
            if op in _NO_CONTEXT and context != 0:
                raise ConfigError(f"{at}: {op} must have context=0 (it does not depend on the "
                                  f"context), got context={context}")
            key = (op, tokens, context, devices)
            if key in first_line:
                raise ConfigError(f"{at}: duplicate row {op} tokens={tokens}, "
                                  f"context={context}, devices={devices} (first on line "
                                  f"{first_line[key]})")
            first_line[key] = line
            points.setdefault((op, devices), {})[(tokens, context)] = seconds
        if not points:
            raise ConfigError(f"{where}: no data rows; expected a header "
                              f"{','.join(COLUMNS)} and one row per measurement")
        several = len({d for _, d in points}) > 1
        tables = {}
        for (op, devices), pts in sorted(points.items(), key=lambda kv: kv[0]):
            tokens_axis = sorted({t for t, _ in pts})
            context_axis = sorted({c for _, c in pts})
            for t in tokens_axis:
                for c in context_axis:
                    if (t, c) not in pts:
                        dev = f", devices={devices}" if several else ""
                        raise ConfigError(
                            f"{where}: {op} has a hole at tokens={t}, context={c}{dev} (the "
                            "tokens x context points must form a full grid)")
            grid = np.array([[pts[(t, c)] for c in context_axis] for t in tokens_axis])
            tables[(op, devices)] = OpTable(op, devices, np.array(tokens_axis),
                                            np.array(context_axis), grid)
        return cls(name, MappingProxyType(tables))

    @property
    def device_counts(self) -> tuple[int, ...]:
        """Device counts measured in the profile, ascending."""
        return tuple(sorted({d for _, d in self.tables}))

    def has(self, operator: str, devices: int) -> bool:
        """Whether the profile measured ``operator`` on ``devices`` devices."""
        return (operator, devices) in self.tables

    def require(self, devices: int) -> None:
        """Check that the profile can time a system of ``devices`` devices: rows of that count
        for every operator of :data:`REQUIRED_OPERATORS` (:class:`ConfigError` if not)."""
        where = f"op profile {self.path}"
        counts = self.device_counts
        if devices not in counts:
            raise ConfigError(f"{where}: no rows for devices={devices} (the serving system's "
                              f"device count); the profile has devices="
                              f"{', '.join(map(str, counts))}")
        for op in REQUIRED_OPERATORS:
            if not self.has(op, devices):
                raise ConfigError(f"{where}: no {op} rows for devices={devices}; a profile "
                                  f"needs {', '.join(REQUIRED_OPERATORS)} (lm_head and "
                                  "overhead are optional)")

    def table(self, operator: str, devices: int | None = None) -> OpTable:
        """The measurements of ``operator`` on ``devices`` devices (``None``: the profile's
        only device count)."""
        if devices is None:
            counts = self.device_counts
            if len(counts) != 1:
                raise ConfigError(f"op profile {self.path}: has devices="
                                  f"{', '.join(map(str, counts))}; say which")
            devices = counts[0]
        hit = self.tables.get((operator, devices))
        if hit is None:
            raise ConfigError(f"op profile {self.path}: no {operator} rows for "
                              f"devices={devices}")
        return hit

    def latency(self, operator: str, tokens: np.ndarray | float,
                context: np.ndarray | float = 0.0, devices: int | None = None) -> np.ndarray:
        """Interpolated time of ``operator``, s (per block for ``dense`` and ``attn_*``, per
        iteration for ``lm_head`` and ``overhead``), vectorised over ``tokens`` and
        ``context``."""
        return self.table(operator, devices).latency(tokens, context)


def _read_rows(path: str) -> list[tuple[int, dict[str, str]]]:
    """``(line number, {column: stripped text})`` of the data rows (blank lines skipped)."""
    where = f"op profile {path}"
    if not os.path.exists(path):
        raise ConfigError(f"{where}: file not found")
    out = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ConfigError(f"{where}: empty file; expected a header "
                                  f"{','.join(COLUMNS)}")
            index = {h.strip(): i for i, h in reversed(list(enumerate(header)))}
            missing = [c for c in COLUMNS if c not in index]
            if missing:
                raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}; the "
                                  f"header must name {','.join(COLUMNS)}")
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                line = reader.line_num
                row = {}
                for col in COLUMNS:
                    i = index[col]
                    text = cells[i].strip() if i < len(cells) else ""
                    if not text:
                        raise ConfigError(f"{where}, line {line}: no value for {col}")
                    row[col] = text
                out.append((line, row))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{where}: cannot be read as a UTF-8 CSV file "
                          f"({type(exc).__name__}: {exc})".replace("\n", " ")) from None
    return out


def _integer(at: str, column: str, text: str, low: int) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and value >= low):
        raise ConfigError(f"{at}: {column}={text!r} must be an integer >= {low}")
    return int(value)


def _seconds(at: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{at}: seconds={text!r} must be a finite number > 0")
    return value


def _inner_steps(inner: StepCoster, n_decode: int, sum_kv: np.ndarray,
                 prefill: tuple[int, ...], context: tuple[int, ...]) -> StepCosts:
    """``inner.steps``, passing ``context`` only for chunked prefill (so that a coster of the
    three-argument protocol still serves whole prompts)."""
    if any(context):
        steps: Callable[..., StepCosts] = inner.steps
        return steps(n_decode, sum_kv, prefill, context)
    return inner.steps(n_decode, sum_kv, prefill)


class ProfiledSteps:
    """Iteration costs from an :class:`OpProfile` (implements :class:`accel_sim.llm.
    StepCoster`).

    The latency comes from the profile (module docstring). The profile has no power, so the
    energy of an iteration is ``inner``'s energy scaled by profiled / analytical latency (the
    analytical model's mean power over the profiled time); ``offload_s`` is 0 (a profile does
    not say what ran on an offload unit).

    Args:
        profile: The measurements.
        inner: The analytical costs of the same model and system (for the energy).
        model: The served model (its ``layers`` blocks).
        devices: The serving system's device count (selects the profile rows).
    """

    def __init__(self, profile: OpProfile, inner: StepCoster, model: LlmModel,
                 devices: int) -> None:
        profile.require(devices)
        self.profile = profile
        self.inner = inner
        self.layers = int(model.layers)
        self.devices = int(devices)
        self._dense = profile.table("dense", devices)
        self._prefill = profile.table("attn_prefill", devices)
        self._decode = profile.table("attn_decode", devices)
        self._per_iteration = [profile.table(op, devices) for op in ("lm_head", "overhead")
                               if profile.has(op, devices)]
        self._fixed: dict[tuple[int, tuple[int, ...], tuple[int, ...]],
                          tuple[float, float]] = {}

    def _fixed_s(self, n_decode: int, prefill: tuple[int, ...], context: tuple[int, ...]
                 ) -> tuple[float, float]:
        """Per block: dense + prefill attention, s; per iteration: LM head + overhead, s."""
        key = (n_decode, prefill, context)
        hit = self._fixed.get(key)
        if hit is None:
            tokens = n_decode + sum(prefill)
            block = float(self._dense.latency(tokens)) if tokens else 0.0
            if prefill:
                block += float(self._prefill.latency(np.array(prefill), np.array(context)).sum())
            requests = n_decode + len(prefill)
            once = sum(float(t.latency(requests)) for t in self._per_iteration) if requests \
                else 0.0
            hit = (block, once)
            if len(self._fixed) < 65536:
                self._fixed[key] = hit
        return hit

    def steps(self, n_decode: int, sum_kv: np.ndarray, prefill: tuple[int, ...] = (),
              context: tuple[int, ...] = ()) -> StepCosts:
        """Iterations with ``n_decode`` decode requests (KV lengths summing to ``sum_kv[i]``
        tokens in iteration ``i``) and the prompt chunks ``prefill`` (tokens each; ``context``:
        tokens of each already cached, empty for whole prompts): latency (s), energy (J) and
        offload time (s, zeros) per iteration."""
        sum_kv = np.atleast_1d(np.asarray(sum_kv, dtype=float))
        prefill = tuple(int(p) for p in prefill)
        context = tuple(int(c) for c in context) if context else (0,) * len(prefill)
        if len(context) != len(prefill):
            raise ValueError(f"context has {len(context)} entries for {len(prefill)} prompt "
                             "chunks")
        block, once = self._fixed_s(n_decode, prefill, context)
        per_block = np.full(sum_kv.shape, block)
        if n_decode:
            per_block = per_block + self._decode.latency(n_decode, sum_kv / n_decode)
        latency = self.layers * per_block + once
        inner = _inner_steps(self.inner, n_decode, sum_kv, prefill, context)
        inner_s = np.asarray(inner.latency_s, dtype=float)
        ratio = np.divide(latency, inner_s, out=np.ones_like(latency), where=inner_s > 0)
        energy = np.asarray(inner.energy_j, dtype=float) * ratio
        return StepCosts(latency, energy, np.zeros_like(latency))


def write_profile(path: str | os.PathLike[str], inner_steps: StepCoster, model: LlmModel,
                  devices: int, tokens: Sequence[int] = (1, 8, 64, 512, 2048),
                  contexts: Sequence[int] = (0, 256, 1024, 4096)) -> None:
    """Write a profile CSV sampled from a step coster: NOT measured data (an example of the
    format and a round-trip check of :class:`ProfiledSteps`).

    Whole iterations do not say how their time splits into operators, so the split assumes
    the profile's own additive form without per-iteration terms, where attention over an
    empty KV cache costs nothing (``L``: the coster's latency, ``l``: ``model.layers``):

    * ``dense(T) = L(T decode requests, empty caches) / l`` (everything that is not attention,
      LM head and overhead included: no ``lm_head`` or ``overhead`` rows are written);
    * ``attn_decode(D, c) = (L(D decode requests, KV c each) - L(D, empty caches)) / l``,
      for the ``contexts`` > 0;
    * ``attn_prefill(p, c) = (L(one chunk of p tokens, c cached) - L(p, empty caches)) / l``.

    For a coster of that form the profile reproduces it at the sampled points; for another
    (the analytical step model, whose LM head scales with the logits) the split can come out
    <= 0 s, refused with a :class:`ConfigError`.

    Args:
        path: The CSV file to write.
        inner_steps: The coster sampled.
        model: The served model (its ``layers``).
        devices: Value of the ``devices`` column.
        tokens: Token (request) counts sampled, >= 1.
        contexts: Context lengths sampled, tokens, >= 0 (``attn_decode`` uses those > 0).
    """
    layers = int(model.layers)
    tokens = sorted({int(t) for t in tokens})
    contexts = sorted({int(c) for c in contexts})
    if not tokens or tokens[0] < 1:
        raise ConfigError(f"write_profile: tokens={tokens} must be integers >= 1")
    if not contexts or contexts[0] < 0:
        raise ConfigError(f"write_profile: contexts={contexts} must be integers >= 0")
    decode_ctx = np.array([c for c in contexts if c > 0], dtype=float)
    if not decode_ctx.size:
        raise ConfigError(f"write_profile: contexts={contexts} needs a value > 0 "
                          "(attn_decode)")
    rows: list[tuple[str, int, int, float]] = []
    for t in tokens:
        empty = float(inner_steps.steps(t, np.zeros(1)).latency_s[0])
        rows.append(("dense", t, 0, empty / layers))
        decode = np.asarray(inner_steps.steps(t, t * decode_ctx).latency_s, dtype=float)
        rows += [("attn_decode", t, int(c), (lat - empty) / layers)
                 for c, lat in zip(decode_ctx, decode, strict=True)]
        for c in contexts:
            chunk = _inner_steps(inner_steps, 0, np.zeros(1), (t,), (c,))
            rows.append(("attn_prefill", t, c, (float(chunk.latency_s[0]) - empty) / layers))
    for op, t, c, s in rows:
        if not (math.isfinite(s) and s > 0):
            raise ConfigError(f"write_profile: {op} at tokens={t}, context={c} comes out "
                              f"{s:.3g} s (must be > 0): the coster does not split into the "
                              "profile's operators this way (see write_profile)")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(COLUMNS)
        out.writerows((op, t, c, int(devices), repr(float(s))) for op, t, c, s in rows)
