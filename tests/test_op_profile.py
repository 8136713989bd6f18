"""Operator profiles (``serve --op-profile``): file validation, interpolation and the iteration
latency, with every expected figure derived by hand from the profile rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accel_sim.devices.llm_system import XpuSystem, XpuSystemConfig
from accel_sim.errors import ConfigError
from accel_sim.llm import LlmModel
from accel_sim.llm._system import StepCosts
from accel_sim.serving._profile import OpProfile, ProfiledSteps, write_profile

HEADER = "operator,tokens,context,devices,seconds\n"

# dense: 1 ms at 1 token, 3 ms at 101 tokens -> slope 2e-5 s per token.
# attn_prefill grid (tokens 10, 110) x (context 0, 100): 0.1, 0.3 / 1.1, 2.1 ms.
# attn_decode grid (requests 1, 11) x (mean KV 0, 1000): 0.01, 0.11 / 0.02, 1.22 ms.
# lm_head: 0.5 ms at 1 logit, 0.7 ms at 11 -> slope 2e-5 s per logit; overhead: 2 ms flat.
TINY = HEADER + """\
dense,1,0,1,0.001
dense,101,0,1,0.003
attn_prefill,10,0,1,0.0001
attn_prefill,10,100,1,0.0003
attn_prefill,110,0,1,0.0011
attn_prefill,110,100,1,0.0021
attn_decode,1,0,1,0.00001
attn_decode,1,1000,1,0.00011
attn_decode,11,0,1,0.00002
attn_decode,11,1000,1,0.00122
lm_head,1,0,1,0.0005
lm_head,11,0,1,0.0007
overhead,1,0,1,0.002
"""
LAYERS2 = LlmModel(name="two", layers=2, hidden=256, heads=4, kv_heads=2, head_dim=64,
                   ffn=512, vocab=1000)


def _file(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class _Flat:
    """A step coster of constant latency and energy per iteration; records its calls."""

    def __init__(self, latency_s: float = 0.01, energy_j: float = 5.0) -> None:
        self.latency_s, self.energy_j = latency_s, energy_j
        self.calls: list[tuple] = []

    def steps(self, n_decode, sum_kv, prefill=(), context=()):
        self.calls.append((n_decode, tuple(np.atleast_1d(sum_kv)), prefill, context))
        n = np.atleast_1d(sum_kv).size
        return StepCosts(np.full(n, self.latency_s), np.full(n, self.energy_j), np.ones(n))


def _steps(tmp_path: Path, text: str = TINY, inner=None, devices: int = 1) -> ProfiledSteps:
    return ProfiledSteps(OpProfile.load(_file(tmp_path, text)), inner or _Flat(), LAYERS2,
                         devices)


# ---------------------------------------------------------------------------- interpolation
def test_interior_points(tmp_path):
    prof = OpProfile.load(_file(tmp_path, TINY))
    # dense(51): halfway between 1 ms and 3 ms.
    assert float(prof.latency("dense", 51)) == pytest.approx(0.002)
    # attn_prefill(35, 20): wt = (35-10)/100 = 0.25, wc = 20/100 = 0.2;
    # 0.75*0.8*0.1 + 0.75*0.2*0.3 + 0.25*0.8*1.1 + 0.25*0.2*2.1 ms
    # = 0.06 + 0.045 + 0.22 + 0.105 = 0.43 ms.
    assert float(prof.latency("attn_prefill", 35, 20)) == pytest.approx(0.43e-3)
    # at a measured point: the measurement itself.
    assert float(prof.latency("attn_decode", 11, 1000)) == pytest.approx(1.22e-3)


def test_extrapolated_points(tmp_path):
    prof = OpProfile.load(_file(tmp_path, TINY))
    # dense(201): 3 ms + 100 tokens * 2e-5 s = 5 ms.
    assert float(prof.latency("dense", 201)) == pytest.approx(0.005)
    # attn_prefill(60, 200): wt = 0.5, wc = 2 (beyond context 100);
    # tokens 10: -1*0.1 + 2*0.3 = 0.5 ms; tokens 110: -1*1.1 + 2*2.1 = 3.1 ms; mean 1.8 ms.
    assert float(prof.latency("attn_prefill", 60, 200)) == pytest.approx(1.8e-3)
    # lm_head(31): 0.7 ms + 20 * 2e-5 s = 1.1 ms; overhead (one point) is constant.
    assert float(prof.latency("lm_head", 31)) == pytest.approx(1.1e-3)
    assert float(prof.latency("overhead", 500)) == pytest.approx(2e-3)


def test_extrapolation_clipped_at_smallest_measurement(tmp_path):
    """A falling measurement extrapolated past zero stops at the operator's smallest value."""
    text = HEADER + "dense,10,0,1,0.002\ndense,20,0,1,0.001\n"
    prof = OpProfile.load(_file(tmp_path, text))
    # slope -1e-4 s per token; 15 tokens: 1.5 ms (interpolated);
    # 25 tokens: 1 ms - 5 * 1e-4 s = 0.5 ms, 40 tokens: 2 ms - 30 * 1e-4 s = -1 ms:
    # both clipped to the smallest measurement, 1 ms.
    vals = prof.latency("dense", np.array([15.0, 25.0, 40.0]))
    assert vals == pytest.approx([1.5e-3, 1e-3, 1e-3])
    assert np.all(np.isfinite(vals))


def test_tables_are_read_only(tmp_path):
    prof = OpProfile.load(_file(tmp_path, TINY))
    tab = prof.table("attn_prefill")
    assert tab.seconds.shape == (2, 2)
    with pytest.raises(ValueError):
        tab.seconds[0, 0] = 1.0
    with pytest.raises(TypeError):
        prof.tables[("dense", 1)] = tab


# ---------------------------------------------------------------------------- iterations
def test_iteration_latency_by_hand(tmp_path):
    """layers=2, 11 decode requests (mean KV 0, 500, 1000) and one 60-token chunk with 50
    tokens cached:
    dense(71) = 1 ms + 70 * 2e-5 s = 2.4 ms; attn_prefill(60, 50) = mean of the 4 = 0.9 ms;
    attn_decode(11, 0 / 500 / 1000) = 0.02 / 0.62 / 1.22 ms;
    lm_head(12) = 0.7 ms + 2e-5 s = 0.72 ms; overhead(12) = 2 ms.
    latency = 2 * (2.4 + 0.9 + decode) + 0.72 + 2 = 9.36 / 10.56 / 11.76 ms."""
    steps = _steps(tmp_path)
    out = steps.steps(11, np.array([0.0, 11 * 500.0, 11 * 1000.0]), (60,), (50,))
    assert out.latency_s == pytest.approx([9.36e-3, 10.56e-3, 11.76e-3])
    assert out.offload_s.tolist() == [0.0, 0.0, 0.0]


def test_decode_only_and_prefill_only(tmp_path):
    steps = _steps(tmp_path)
    # 1 request, KV 1000: 2 * (1 ms + 0.11 ms) + lm_head(1) 0.5 ms + 2 ms = 4.72 ms.
    assert steps.steps(1, np.array([1000.0])).latency_s == pytest.approx([4.72e-3])
    # one whole 110-token prompt: dense(110) = 1 ms + 109 * 2e-5 s = 3.18 ms,
    # attn_prefill(110, 0) = 1.1 ms: 2 * 4.28 ms + 0.5 ms + 2 ms = 11.06 ms.
    assert steps.steps(0, np.array([0.0]), (110,)).latency_s == pytest.approx([11.06e-3])
    # nothing to do: nothing charged.
    assert steps.steps(0, np.zeros(2)).latency_s.tolist() == [0.0, 0.0]


def test_optional_operators_left_out(tmp_path):
    text = "".join(line + "\n" for line in TINY.splitlines()
                   if not line.startswith(("lm_head", "overhead")))
    # 1 request, KV 1000: 2 * (1 ms + 0.11 ms) = 2.22 ms.
    assert _steps(tmp_path, text).steps(1, np.array([1000.0])).latency_s == \
        pytest.approx([2.22e-3])


def test_vectorised_over_sum_kv(tmp_path):
    steps = _steps(tmp_path)
    kv = np.linspace(0.0, 30000.0, 41)
    many = steps.steps(7, kv, (35, 10), (20, 0)).latency_s
    one = [float(steps.steps(7, np.array([k]), (35, 10), (20, 0)).latency_s[0]) for k in kv]
    assert many.shape == kv.shape
    assert many == pytest.approx(one, rel=1e-12)
    assert np.all(np.diff(many) > 0)  # more KV, more decode attention


def test_context_of_prefill_chunks(tmp_path):
    """A chunk's cached context changes its attention: attn_prefill(60, 50) - (60, 0)
    = 0.9 ms - mean(0.1, 1.1) ms = 0.3 ms per block, 0.6 ms for 2 layers."""
    inner = _Flat()
    steps = _steps(tmp_path, inner=inner)
    whole = steps.steps(0, np.array([0.0]), (60,)).latency_s[0]
    zero = steps.steps(0, np.array([0.0]), (60,), (0,)).latency_s[0]
    chunk = steps.steps(0, np.array([0.0]), (60,), (50,)).latency_s[0]
    assert zero == whole
    assert chunk - whole == pytest.approx(0.6e-3)
    assert inner.calls[-1] == (0, (0.0,), (60,), (50,))  # the context reaches the inner coster
    with pytest.raises(ValueError, match="context has 1 entries for 2"):
        steps.steps(0, np.array([0.0]), (60, 10), (50,))


def test_energy_keeps_the_inner_mean_power(tmp_path):
    """The inner coster says 10 ms and 5 J per iteration (500 W); the profile's 4.72 ms
    (test_decode_only_and_prefill_only) then costs 500 W * 4.72 ms = 2.36 J."""
    out = _steps(tmp_path, inner=_Flat(0.01, 5.0)).steps(1, np.array([1000.0, 1000.0]))
    assert out.energy_j == pytest.approx([2.36, 2.36])


def test_over_the_analytical_step_model(tmp_path):
    """Over a real xPU step model: latency from the profile, energy at its mean power."""
    dev = XpuSystem(XpuSystemConfig(devices=1))
    inner = dev.step_costs(LAYERS2, None)
    steps = ProfiledSteps(OpProfile.load(_file(tmp_path, TINY)), inner, LAYERS2,
                          dev.serving_layout(LAYERS2).devices)
    kv = np.array([100.0, 5000.0])
    ref = inner.steps(3, kv, (60,))
    out = steps.steps(3, kv, (60,))
    # 3 requests + a 60-token prompt: dense(63) = 1 ms + 62 * 2e-5 s = 2.24 ms;
    # attn_prefill(60, 0) = 0.6 ms; attn_decode(3, c): wt = 0.2 between requests 1 and 11,
    # 0.01 + 0.2 * 0.01 = 0.012 ms at c=0, 0.11 + 0.2 * 1.11 = 0.332 ms at c=1000.
    dec = [0.012e-3 + (c / 1000) * 0.32e-3 for c in kv / 3]
    # lm_head(4) = 0.5 ms + 3 * 2e-5 s = 0.56 ms; overhead 2 ms.
    want = [2 * (2.24e-3 + 0.6e-3 + d) + 0.56e-3 + 2e-3 for d in dec]
    assert out.latency_s == pytest.approx(want)
    assert out.energy_j / out.latency_s == pytest.approx(ref.energy_j / ref.latency_s)
    assert not np.any(out.offload_s)


def test_device_count_selects_rows(tmp_path):
    # the same profile measured on 8 devices at a quarter of the time
    rows = TINY.splitlines()[1:]
    eight = [",".join([*r.split(",")[:3], "8", repr(float(r.split(",")[4]) / 4)])
             for r in rows]
    text = TINY + "\n".join(eight) + "\n"
    one = _steps(tmp_path, text, devices=1).steps(1, np.array([1000.0])).latency_s[0]
    eight_s = _steps(tmp_path, text, devices=8).steps(1, np.array([1000.0])).latency_s[0]
    assert one == pytest.approx(4.72e-3)
    assert eight_s == pytest.approx(4.72e-3 / 4)
    with pytest.raises(ConfigError, match=r"no rows for devices=4 .*the profile has "
                                          r"devices=1, 8$"):
        _steps(tmp_path, text, devices=4)
    with pytest.raises(ConfigError, match="has devices=1, 8; say which"):
        OpProfile.load(_file(tmp_path, text)).latency("dense", 3)


# ---------------------------------------------------------------------------- bad files
def _replace(old: str, new: str) -> str:
    assert old in TINY
    return TINY.replace(old, new, 1)


BAD = {
    "missing column": ("operator,tokens,context,seconds\ndense,1,0,0.001\n",
                       "missing column(s) devices; the header must name operator,tokens,"),
    "empty file": ("", "empty file; expected a header operator,tokens,context,devices,seconds"),
    "header only": (HEADER, "no data rows"),
    "unknown operator": (_replace("overhead,1", "attn,1"),
                         "line 14: unknown operator 'attn'; allowed: dense, attn_prefill"),
    "tokens text": (_replace("dense,101,", "dense,many,"),
                    "line 3: tokens='many' must be an integer >= 1"),
    "tokens zero": (_replace("dense,1,", "dense,0,"), "line 2: tokens='0' must be an integer"),
    "tokens fraction": (_replace("dense,101,", "dense,10.5,"),
                        "line 3: tokens='10.5' must be an integer >= 1"),
    "context negative": (_replace("attn_decode,1,0,", "attn_decode,1,-5,"),
                         "line 8: context='-5' must be an integer >= 0"),
    "devices zero": (_replace("dense,1,0,1,", "dense,1,0,0,"),
                     "line 2: devices='0' must be an integer >= 1"),
    "seconds zero": (_replace(",0.001\n", ",0\n"),
                     "line 2: seconds='0' must be a finite number > 0"),
    "seconds negative": (_replace(",0.003\n", ",-0.003\n"),
                         "line 3: seconds='-0.003' must be a finite number > 0"),
    "seconds nan": (_replace(",0.003\n", ",nan\n"), "line 3: seconds='nan' must be a finite"),
    "seconds inf": (_replace(",0.003\n", ",inf\n"), "line 3: seconds='inf' must be a finite"),
    "seconds text": (_replace(",0.003\n", ",fast\n"), "line 3: seconds='fast' must be"),
    "value missing": (_replace(",0.003\n", "\n"), "line 3: no value for seconds"),
    "dense with context": (_replace("dense,101,0,", "dense,101,128,"),
                           "line 3: dense must have context=0"),
    "duplicate": (TINY + "attn_prefill,110,100,1,0.002\n",
                  "line 15: duplicate row attn_prefill tokens=110, context=100, devices=1 "
                  "(first on line 7)"),
    "hole": (TINY.replace("attn_prefill,110,100,1,0.0021\n", ""),
             "attn_prefill has a hole at tokens=110, context=100 (the tokens x context points "
             "must form a full grid)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile(tmp_path, case):
    text, fragment = BAD[case]
    path = _file(tmp_path, text, "x.csv")
    with pytest.raises(ConfigError) as info:
        OpProfile.load(path)
    msg = str(info.value)
    assert fragment in msg
    assert msg.startswith(f"op profile {path}")
    assert "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"op profile .*nope\.csv: file not found"):
        OpProfile.load(tmp_path / "nope.csv")


def test_not_a_text_file(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"operator,tokens\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot be read as a UTF-8 CSV file"):
        OpProfile.load(path)


def test_hole_names_the_first_missing_point_and_device_count(tmp_path):
    """Points (512, 0), (512, 2048), (1024, 0) at devices 2 (devices 1 complete): the hole
    is (512, 1024) — the grid is tokens {512, 1024} x context {0, 1024, 2048}."""
    text = HEADER + "".join(
        f"attn_prefill,{t},{c},{d},0.001\n" for d in (1, 2)
        for t, c in ((512, 0), (512, 1024), (512, 2048), (1024, 0), (1024, 1024),
                     (1024, 2048)) if not (d == 2 and (t, c) in ((512, 1024), (1024, 2048))))
    with pytest.raises(ConfigError, match=r"attn_prefill has a hole at tokens=512, "
                                          r"context=1024, devices=2 \(the tokens x context"):
        OpProfile.load(_file(tmp_path, text))


@pytest.mark.parametrize("op", ["dense", "attn_prefill", "attn_decode"])
def test_required_operator_missing(tmp_path, op):
    text = "".join(line + "\n" for line in TINY.splitlines() if not line.startswith(op + ","))
    with pytest.raises(ConfigError, match=f"no {op} rows for devices=1; a profile needs "
                                          "dense, attn_prefill, attn_decode"):
        _steps(tmp_path, text)


def test_extra_columns_blank_lines_and_spaces(tmp_path):
    text = ("note, operator ,tokens,context,devices,seconds,gpu\n"
            "a,dense,1,0,1,0.001,h100\n\n"
            "b, dense ,101, 0 ,1,3e-3,h100\n")
    prof = OpProfile.load(_file(tmp_path, text))
    assert float(prof.latency("dense", 51)) == pytest.approx(0.002)


# ---------------------------------------------------------------------------- write_profile
class _Additive:
    """A coster of the profile's own form (2 layers, no per-iteration terms), in s:
    dense(T) = 1e-4 + 2e-6 T; attn_prefill(p, c) = 1e-8 p (p / 2 + c);
    attn_decode(D, c) = 5e-9 D c (with S = D c). Energy: 300 W."""

    layers = 2

    def steps(self, n_decode, sum_kv, prefill=(), context=()):
        sum_kv = np.atleast_1d(np.asarray(sum_kv, dtype=float))
        context = context or (0,) * len(prefill)
        tokens = n_decode + sum(prefill)
        block = (1e-4 + 2e-6 * tokens) if tokens else 0.0
        block += sum(1e-8 * p * (p / 2 + c) for p, c in zip(prefill, context, strict=True))
        lat = self.layers * (block + 5e-9 * sum_kv * (n_decode > 0))
        return StepCosts(lat, 300.0 * lat, np.zeros_like(lat))


def test_write_profile_round_trip(tmp_path):
    path = tmp_path / "sampled.csv"
    src = _Additive()
    write_profile(path, src, LAYERS2, 4, tokens=(1, 16, 128), contexts=(0, 64, 512))
    prof = OpProfile.load(path)
    assert prof.device_counts == (4,)
    # the rows are the coster's parts: attn_prefill(16, 64) = 1e-8 * 16 * (8 + 64)
    assert float(prof.latency("attn_prefill", 16, 64, 4)) == pytest.approx(1.152e-5)
    steps = ProfiledSteps(prof, src, LAYERS2, 4)
    kv = np.array([16 * 64.0, 16 * 300.0, 16 * 512.0])
    for args in ((16, kv, (), ()), (0, kv[:1], (128,), (512,)), (16, kv, (128, 16), (64, 0))):
        got, ref = steps.steps(*args), src.steps(*args)
        assert got.latency_s == pytest.approx(ref.latency_s, rel=1e-9)
        assert got.energy_j == pytest.approx(ref.energy_j, rel=1e-9)


def test_write_profile_refuses_a_coster_that_does_not_split(tmp_path):
    """A flat coster: every iteration 10 ms, so attention comes out 0 s."""
    with pytest.raises(ConfigError, match="attn_decode at tokens=1, context=64 comes out 0 s"):
        write_profile(tmp_path / "flat.csv", _Flat(), LAYERS2, 1, tokens=(1,),
                      contexts=(0, 64))
    assert not (tmp_path / "flat.csv").exists()
