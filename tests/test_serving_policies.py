"""Serving mechanisms derived by hand: chunked prefill, paged KV with preemption, routers,
length distributions and traces, the timeline outputs, measured operator profiles and the
one-line errors of bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from accel_sim.llm import LlmModel, ServingLayout, StepCosts, get_model
from accel_sim.serving import ServeConfig, serve
from accel_sim.serving._policy import SCHEDULERS, SchedulerPolicy
from accel_sim.serving._requests import RequestSet, draw_lengths, load_trace

STEP_S = 1e-3  # the stub's iteration time, s


class _Steps:
    """Every iteration takes STEP_S; records what it was asked to price."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def steps(self, n_decode, sum_kv, prefill=(), context=()):
        sum_kv = np.atleast_1d(np.asarray(sum_kv, dtype=float))
        for _ in range(sum_kv.size):
            self.calls.append((n_decode, tuple(prefill), tuple(context)))
        lat = np.full(sum_kv.size, STEP_S)
        return StepCosts(lat, lat * 100.0, np.zeros_like(lat))


@dataclass
class _Stub:
    """A serving system with ``kv_tokens`` tokens of KV room and constant iteration time."""

    kv_tokens: int
    name: str = "stub"

    def __post_init__(self) -> None:
        self.costs = _Steps()

    def serving_layout(self, model: LlmModel) -> ServingLayout:
        return ServingLayout(devices=1, idle_power_w=50.0)

    def max_batch(self, model: LlmModel, tokens_per_request: int) -> int:
        return self.kv_tokens // tokens_per_request

    def step_costs(self, model, router):
        return self.costs


def _cfg(**kw) -> ServeConfig:
    base = {"model": "llama3_8b", "batch": 8, "requests": 2, "lin": 16, "lout": 33}
    base.update(kw)
    return ServeConfig(**base)


def _reqs(lin, lout, arrival=None) -> RequestSet:
    return RequestSet(np.array(lin, dtype=np.int64), np.array(lout, dtype=np.int64),
                      None if arrival is None else np.array(arrival, dtype=float))


# ---------------------------------------------------------------- chunked prefill
def test_chunked_prefill_schedule_of_three_requests():
    """sarathi, budget 256 tokens, prompts 300, 200, 100, two output tokens each, all at t=0.

    it 1: r0 takes 256 (44 left), budget spent.
    it 2: r0's last 44 (context 256), r1's whole 200, r2's first 12: r0 and r1 make token 1.
    it 3: r0, r1 decode (2 of the budget), r2's last 88 (context 12): r0, r1 finish, r2 token 1.
    it 4: r2 decodes its second token and finishes.
    """
    dev = _Stub(kv_tokens=10_000)
    res = serve(_cfg(requests=3, scheduler="sarathi", chunk_size=256), dev,
                requests=_reqs([300, 200, 100], [2, 2, 2]))
    assert dev.costs.calls == [(0, (256,), ()), (0, (44, 200, 12), (256, 0, 0)),
                               (2, (88,), (12,)), (1, (), ())]
    its = res.iterations
    assert its["prefill_tokens"].tolist() == [256, 256, 88, 0]
    assert its["prefill_requests"].tolist() == [1, 3, 1, 0]
    assert its["decode"].tolist() == [0, 0, 2, 1]
    r = res.requests
    assert r["ttft_s"].tolist() == pytest.approx([2 * STEP_S, 2 * STEP_S, 3 * STEP_S])
    assert r["finish_s"].tolist() == pytest.approx([3 * STEP_S, 3 * STEP_S, 4 * STEP_S])


def test_orca_and_vllm_batch_whole_prompts():
    """orca: the second arrival's prompt joins the first's decodes; vllm: it runs alone."""
    reqs = _reqs([10, 10], [4, 4], arrival=[0.0, 0.0015])
    its = {}
    for name in ("orca", "vllm"):
        res = serve(_cfg(scheduler=name), _Stub(kv_tokens=10_000), requests=reqs)
        its[name] = list(zip(res.iterations["decode"].tolist(),
                             res.iterations["prefill_tokens"].tolist(), strict=True))
    # r0 prefills at 0 (1 ms), decodes at 1 ms (ends 2 ms), then r1 (arrived 1.5 ms) joins;
    # r0 needs 3 decodes, r1 4 after its prompt
    assert its["orca"] == [(0, 10), (1, 0), (1, 10), (2, 0), (1, 0), (1, 0)]
    assert its["vllm"] == [(0, 10), (1, 0), (0, 10), (2, 0), (2, 0), (1, 0)]


def test_static_batching_admits_a_batch_only_when_the_last_one_finished():
    dev = _Stub(kv_tokens=10_000)
    res = serve(_cfg(requests=4, batch=2, scheduler="static"), dev,
                requests=_reqs([8, 8, 8, 8], [3, 1, 3, 3]))
    # batch {0, 1}: prefill (1 ms; r1 done), 2 decodes -> r0 done at 3 ms; then {2, 3}
    assert res.requests["finish_s"].tolist() == pytest.approx([3e-3, 1e-3, 6e-3, 6e-3])
    assert res.requests["first_token_s"][2] == pytest.approx(4e-3)


# ---------------------------------------------------------------- paged KV, preemption
@pytest.mark.parametrize("mode", ["recompute", "swap"])
def test_preemption_under_a_tiny_kv_budget(mode):
    """64 tokens of KV in 16-token blocks (4 blocks); two requests of 16 + 33 tokens, vllm.

    it 1: both prompts (1 block each). Decode with m tokens made writes entry 16 + m: 2 blocks
    each for m = 1..16 (16 iterations, 4 blocks used). At m = 17 each needs a 3rd block: 6 > 4,
    so r1 (admitted last) is preempted and r0 decodes alone for m = 17..32 (16 iterations).
    r1 comes back needing 3 blocks (33 tokens): recompute prefills them (making token 18) and
    decodes 15 more; swap brings its 32 KV entries back and decodes 16. 49 iterations.
    """
    dev = _Stub(kv_tokens=64)
    gbs = 2.0
    res = serve(_cfg(scheduler="vllm", block_size=16, preemption=mode, swap_gbs=gbs), dev)
    s = res.summary
    assert s["preemptions"] == 1 and s["kv_capacity_tokens"] == 64
    assert res.requests["preemptions"].tolist() == [0, 1]
    swap = 0.0
    if mode == "swap":
        swap = 32 * get_model("llama3_8b").kv_bytes_per_token / (gbs * 1e9)
    assert s["iterations"] == 49
    assert res.requests["finish_s"].tolist() == pytest.approx(
        [33 * STEP_S + swap, 49 * STEP_S + 2 * swap])
    # r1's 17th token at 17 ms, its 18th when it runs again, after r0 finished
    assert res.requests["tbt_max_s"][1] == pytest.approx(17 * STEP_S + 2 * swap)
    its = res.iterations
    assert its["kv_tokens"].max() == 64
    if mode == "recompute":
        assert (0, (33,), ()) in dev.costs.calls
    else:
        assert all(p == () for _, p, _ in dev.costs.calls[1:])


def test_reserved_kv_never_preempts_and_refuses_a_batch_that_does_not_fit():
    with pytest.raises(Exception, match="at most 1 requests fit"):
        serve(_cfg(), _Stub(kv_tokens=64))
    res = serve(_cfg(batch=1), _Stub(kv_tokens=64))
    assert res.summary["preemptions"] == 0 and res.summary["kv"] == "reserve"


# ---------------------------------------------------------------- replicas and routers
def test_round_robin_sends_request_i_to_replica_i_mod_r():
    res = serve(_cfg(requests=40, replicas=4, rate=500.0, lout=4, lin=8), _Stub(10_000),
                requests=None)
    assert res.requests["replica"].tolist() == [i % 4 for i in range(40)]


def test_least_outstanding_picks_a_least_loaded_replica():
    """Re-derive each choice from the per-request table: outstanding = arrived before and
    not finished yet, per replica; the choice is a minimum (lowest index on ties)."""
    res = serve(_cfg(requests=200, replicas=3, rate=2000.0, lout=5, lin=8,
                     router="least_outstanding"), _Stub(10_000))
    arr, fin, rep = (res.requests[k] for k in ("arrival_s", "finish_s", "replica"))
    order = np.argsort(arr, kind="stable")
    for i in order:
        before = (arr < arr[i]) & (fin > arr[i])
        load = [int((before & (rep == k)).sum()) for k in range(3)]
        assert rep[i] == int(np.argmin(load)), (i, load, rep[i])
    counts = np.bincount(rep, minlength=3)
    assert counts.min() >= 0.25 * 200, counts  # the load is spread


def test_random_router_is_seeded_and_spreads():
    a = serve(_cfg(requests=300, replicas=3, rate=100.0, lout=2, lin=4, router="random"),
              _Stub(10_000))
    b = serve(_cfg(requests=300, replicas=3, rate=100.0, lout=2, lin=4, router="random"),
              _Stub(10_000))
    assert a.requests["replica"].tolist() == b.requests["replica"].tolist()
    counts = np.bincount(a.requests["replica"], minlength=3)
    assert (abs(counts - 100) < 35).all(), counts  # binomial sd ~8.2 requests


# ---------------------------------------------------------------- sarathi vs vllm
def test_sarathi_lowers_p99_time_between_tokens_on_long_prompts():
    """Long prompts stall every running decode for a whole prefill under vllm; chunks of
    512 tokens bound the stall (Agrawal et al., OSDI'24), at some cost in TTFT."""
    kw = {"model": "llama3_8b", "batch": 64, "requests": 150, "lin": 4096, "lout": 128,
          "length_dist": "lognormal", "length_spread": 0.6, "rate": 3.0, "block_size": 16}
    out = {}
    for name in ("vllm", "sarathi"):
        out[name] = serve(ServeConfig(scheduler=name, **kw),
                          _xpu()).summary
    v, s = out["vllm"], out["sarathi"]
    assert s["tbt_p99_s"] < 0.5 * v["tbt_p99_s"], (s["tbt_p99_s"], v["tbt_p99_s"])
    assert s["ttft_p50_s"] > v["ttft_p50_s"]  # the trade-off: prompts take several iterations


def _xpu():
    from accel_sim import get_device

    return get_device("xpu").from_params({"devices": "1"})


# ---------------------------------------------------------------- chunk attention cost
def test_chunk_attention_grows_with_its_cached_context():
    """A chunk of p tokens after c cached ones: each query attends c + ceil((p+1)/2) keys
    (score and context rows: 2 x 2 x heads x p x keys x head_dim FLOPs per block)."""
    dev = _xpu()
    m = get_model("llama3_8b")
    sm = dev.step_costs(m, None)
    p, c = 256, 1024
    rows = sm._prefill_rows(p, c)
    keys = c + (p + 2) // 2
    want = 2 * m.kv_heads * (m.group * p) * keys * m.head_dim
    assert [f for f, _ in rows] == [want, want]
    base = sm.steps(0, np.zeros(1), (p,)).latency_s[0]
    later = sm.steps(0, np.zeros(1), (p,), context=(c,)).latency_s[0]
    assert later > base
    assert sm.steps(0, np.zeros(1), (p,), context=(0,)).latency_s[0] == base


# ---------------------------------------------------------------- requests
@pytest.mark.parametrize(("dist", "spread"), [("uniform", 0.5), ("lognormal", 0.8),
                                              ("zipf", 3.0)])
def test_length_distributions_keep_the_mean(dist, spread):
    rng = np.random.default_rng(1)
    x = draw_lengths(dist, 500, spread, 200_000, rng)
    assert x.min() >= 1 and x.dtype == np.int64
    # zipf(3) has an infinite variance: its sample mean converges slowly (tolerance 10 %)
    assert x.mean() == pytest.approx(500, rel=0.1 if dist == "zipf" else 0.01)
    if dist == "uniform":
        assert x.min() >= 250 and x.max() <= 750


def test_same_seed_same_lengths_and_numbers():
    kw = {"model": "llama3_8b", "requests": 50, "length_dist": "lognormal", "rate": 50.0}
    a = serve(ServeConfig(seed=3, **kw), _Stub(100_000))
    b = serve(ServeConfig(seed=3, **kw), _Stub(100_000))
    c = serve(ServeConfig(seed=4, **kw), _Stub(100_000))
    assert a.requests["lin"].tolist() == b.requests["lin"].tolist()
    assert a.summary["makespan_s"] == b.summary["makespan_s"]
    assert a.requests["lin"].tolist() != c.requests["lin"].tolist()


def test_trace_arrivals_and_repeats(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arrival_s,lin,lout,user\n0.5,10,3,a\n0.75,20,2,b\n1.0,30,1,c\n")
    res = serve(_cfg(requests=5, trace=str(path)), _Stub(10_000))
    r = res.requests
    assert r["lin"].tolist() == [10, 20, 30, 10, 20]
    # the repeat starts one span (0.5 s) plus one mean gap (0.25 s) later
    assert r["arrival_s"].tolist() == pytest.approx([0.5, 0.75, 1.0, 1.25, 1.5])
    assert res.summary["mode"] == "trace"


def test_shipped_conversation_trace_loads():
    t = load_trace("conversations")
    assert len(t) >= 1000 and t.arrival_s is None
    assert (t.lin >= 1).all() and (t.lout >= 1).all()
    assert 1000 < np.median(t.lin) < 2500  # fitted to a published median of 1730 tokens


# ---------------------------------------------------------------- outputs
def test_trace_json_and_timeline_png(tmp_path):
    res = serve(_cfg(requests=6, scheduler="sarathi", chunk_size=8, block_size=4,
                     lin=10, lout=5, rate=100.0, replicas=2), _Stub(10_000))
    paths = res.write(tmp_path)
    data = json.loads((tmp_path / "trace.json").read_text())
    slices = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == res.blocks.size
    assert sum(e["dur"] for e in slices) == pytest.approx(
        res.iterations["latency_s"].sum() * 1e6)
    assert {e["pid"] for e in slices} == {0, 1}
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert set(paths) >= {"trace", "timeline"}


def test_op_profile_replaces_the_iteration_time(tmp_path):
    """Constant profile: dense 10 us, prompt-chunk attention 2 us, decode attention 3 us per
    block; llama3_8b has 32 blocks, so a prefill iteration takes 32 x 12 us, a decode one
    32 x 13 us."""
    path = tmp_path / "p.csv"
    path.write_text("operator,tokens,context,devices,seconds\n"
                    "dense,1,0,1,1e-5\nattn_prefill,1,0,1,2e-6\nattn_decode,1,1,1,3e-6\n")
    res = serve(ServeConfig(model="llama3_8b", requests=1, lin=100, lout=3, batch=1,
                            op_profile=str(path)), _xpu())
    assert res.iterations["latency_s"].tolist() == pytest.approx(
        [32 * 12e-6, 32 * 13e-6, 32 * 13e-6])


# ---------------------------------------------------------------- one-line errors
def _bad(tmp_path, *args):
    res = subprocess.run([sys.executable, "-m", "accel_sim", "serve", "-d", "xpu", "-m",
                          "llama3_8b", "--devices", "1", "--requests", "20", "-q", "-o",
                          str(tmp_path / "out"), *args], capture_output=True, text=True)
    return res.returncode, res.stderr.strip().splitlines()


@pytest.mark.parametrize(("case", "args", "fragment"), [
    ("negative", ["--trace", "{neg}"], "lin=-5 must be an integer in [1,"),
    ("missing", ["--trace", "{miss}"], "line 3: lout is missing"),
    ("chunk0", ["--scheduler", "sarathi", "--chunk-size", "0"], "--chunk-size=0 is out of"),
    ("block", ["--block-size", "4096", "--lin", "100", "--lout", "100"],
     "above the longest request's context"),
    ("replicas", ["--replicas", "21"], "replicas=21 is more than requests=20"),
    ("scheduler", ["--scheduler", "fifo"], "--scheduler='fifo' is not allowed"),
    ("profile", ["--op-profile", "{holes}"], "has a hole at tokens=512, context=1024"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, args, fragment):
    files = {"neg": "lin,lout\n100,20\n-5,10\n", "miss": "lin,lout\n100,20\n10,\n",
             "holes": "operator,tokens,context,devices,seconds\n"
                      "dense,1,0,1,1e-4\ndense,512,0,1,1e-3\n"
                      "attn_prefill,128,0,1,1e-5\nattn_prefill,512,0,1,4e-5\n"
                      "attn_prefill,128,1024,1,2e-5\nattn_decode,1,128,1,1e-6\n"}
    paths = {}
    for k, text in files.items():
        paths[k] = tmp_path / f"{k}.csv"
        paths[k].write_text(text)
    args = [a.format(**{k: str(v) for k, v in paths.items()}) for a in args]
    code, err = _bad(tmp_path, *args)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("accel-sim: error: ") and fragment in err[0], err


def test_a_user_policy_plugs_in():
    class Lifo(SchedulerPolicy):
        """Serves the newest waiting request first (a policy that overrides plan)."""

        name = "lifo"

        def plan(self, state):
            if state.waiting and not state.running:
                newest = state.waiting[-1]
                state.waiting.remove(newest)
                state.waiting.appendleft(newest)
            return super().plan(state)

    # all arrive at 0; r0 starts alone, then the newest waiting (r2) goes before r1
    res = serve(_cfg(requests=3, batch=1), _Stub(10_000), scheduler=Lifo(),
                requests=_reqs([4, 4, 4], [1, 1, 1], arrival=[0.0, 0.0, 0.0]))
    assert res.summary["scheduler"] == "lifo"
    assert res.requests["finish_s"].tolist() == pytest.approx([1e-3, 3e-3, 2e-3])
    assert set(SCHEDULERS) == {"vllm", "sarathi", "orca", "static"}


def test_requests_csv_has_replica_and_preemption_columns(tmp_path):
    res = serve(_cfg(requests=4, replicas=2, rate=10.0), _Stub(10_000))
    res.write(tmp_path, timeline=False)
    with open(tmp_path / "requests.csv", newline="") as fh:
        head = next(csv.reader(fh))
    assert head[-2:] == ["replica", "preemptions"]


def test_fused_chunk_runs_give_the_numbers_of_one_iteration_at_a_time(monkeypatch):
    """Runs of identical chunked-prefill iterations are priced in one call; the result must
    be the iteration-by-iteration one (to rounding)."""
    from accel_sim.serving._serve import _Server

    cfg = ServeConfig(model="llama3_8b", requests=60, lin=3000, lout=60, rate=4.0,
                      length_dist="lognormal", length_spread=0.5, scheduler="sarathi",
                      chunk_size=256, block_size=16, batch=32)
    fused = serve(cfg, _xpu())
    monkeypatch.setattr(_Server, "fuse_chunks", False)
    single = serve(cfg, _xpu())
    assert fused.blocks.size < 0.7 * single.blocks.size  # the fusion did happen
    for k in ("latency_s", "decode", "prefill_tokens", "kv_tokens", "energy_j"):
        assert fused.iterations[k] == pytest.approx(single.iterations[k], rel=1e-12), k
    for k in ("first_token_s", "finish_s", "tbt_max_s"):
        assert fused.requests[k] == pytest.approx(single.requests[k], rel=1e-12), k
    assert fused.summary["tbt_p99_s"] == pytest.approx(single.summary["tbt_p99_s"], rel=1e-12)


def test_max_batched_tokens_admits_whole_prompts_that_fit():
    """orca, 20 tokens per iteration, three 10-token prompts waiting (closed loop): the first
    iteration admits two (20 tokens); the next, 2 decodes + the third prompt (12 tokens)."""
    res = serve(_cfg(requests=3, scheduler="orca", max_batched_tokens=20), _Stub(10_000),
                requests=_reqs([10, 10, 10], [3, 3, 3]))
    its = res.iterations
    assert its["prefill_tokens"].tolist()[:2] == [20, 10]
    assert its["decode"].tolist()[:2] == [0, 2]
    with pytest.raises(Exception, match="longer than max_batched_tokens=8"):
        serve(_cfg(requests=3, max_batched_tokens=8), _Stub(10_000),
              requests=_reqs([10, 10, 10], [3, 3, 3]))
