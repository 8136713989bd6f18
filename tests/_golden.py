"""Golden-output comparison shared by the tests (see tests/test_golden_outputs.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("ACCEL_SIM_UPDATE_GOLDEN") == "1"

#: Columns and keys that measure this machine's wall time, not a simulated quantity.
TIMING = frozenset({"sampler_time_s", "eval_time_s", "wall_s", "measured_us", "measured_s",
                    "python_us", "ours_us", "elapsed_s"})


def _normalise(path: Path, drop_rows: tuple[str, ...] = ()) -> str:
    """The file's text without its timing columns (CSV) or keys (JSON), and without CSV rows
    whose first cell starts with one of ``drop_rows``."""
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
        return json.dumps(_drop(data), indent=1, sort_keys=True)
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return ""
        keep = [i for i, name in enumerate(rows[0]) if name not in TIMING]
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        for r in rows:
            if r and drop_rows and r[0].startswith(drop_rows):
                continue
            w.writerow([r[i] if i < len(r) else "" for i in keep])
        return out.getvalue()
    return text


def _drop(data):
    if isinstance(data, dict):
        return {k: _drop(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [_drop(v) for v in data]
    return data


def assert_matches_golden(outdir: Path, name: str, skip: frozenset[str] = frozenset(),
                          drop_rows: tuple[str, ...] = ()) -> None:
    """Every CSV/JSON under ``outdir`` equals ``tests/golden/<name>/`` (or, with
    ACCEL_SIM_UPDATE_GOLDEN=1, becomes it). ``skip``: file names not compared; ``drop_rows``:
    prefixes of CSV rows not compared (both for measurements of this machine, documented at
    the call)."""
    files = sorted(p for p in outdir.rglob("*") if p.suffix in (".csv", ".json")
                   and p.name not in skip)
    assert files, f"{outdir} holds no CSV or JSON output"
    gold = GOLDEN / name
    if UPDATE:
        if gold.exists():
            shutil.rmtree(gold)
        for p in files:
            dst = gold / p.relative_to(outdir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(_normalise(p, drop_rows))
        return
    assert gold.is_dir(), f"no golden outputs for {name}: generate them (module docstring)"
    want = sorted(p.relative_to(gold) for p in gold.rglob("*") if p.is_file())
    have = [p.relative_to(outdir) for p in files]
    assert have == want, f"{name}: files differ: {sorted(set(have) ^ set(want))}"
    for rel in want:
        got, exp = _normalise(outdir / rel, drop_rows), (gold / rel).read_text()
        if got != exp:
            diff = next(i for i, (a, b) in enumerate(zip(got.splitlines(), exp.splitlines(),
                                                         strict=False)) if a != b) \
                if got.splitlines()[:1] == exp.splitlines()[:1] else 0
            line_g = got.splitlines()[diff] if diff < len(got.splitlines()) else "(none)"
            line_e = exp.splitlines()[diff] if diff < len(exp.splitlines()) else "(none)"
            pytest.fail(f"{name}/{rel} differs from its golden copy at line {diff + 1}:\n"
                        f"  now:    {line_g[:300]}\n  golden: {line_e[:300]}")


