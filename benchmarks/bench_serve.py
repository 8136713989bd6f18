"""Speed of the LLM serving simulator, with the naive per-iteration path measured in the same run.

Mixtral-8x7B on 4 devices (the ``xpu`` and ``duplex`` systems, default configs):

1. Wall time of ``serve`` for 10,000 requests: closed loop (batch 64, lin 512, lout 512) and
   Poisson arrivals (batch 128, lin 4096, lout 512, 8 req/s); simulated iterations and
   iterations per wall second. A small warm-up run per device comes first, so numba
   compilation (routing and MoE kernels) is not timed.
2. Reference: the naive path, one ``iteration_trace(model, decode_kv=[...],
   expert_counts=router.counts(64))`` plus ``device.evaluate(trace)`` per iteration, timed on a
   sample of decode iterations at batch 64 with the closed-loop run's own KV lengths (the
   batch runs in lockstep there: all 64 requests at ``lin + made`` tokens, made spread over
   1..lout-1), then extrapolated to the closed-loop run's iteration count. The naive time
   covers the cost model only (no event loop, admission or metrics), so it is a lower bound on
   a naive simulator. Ratios: naive / vectorised per iteration and for the whole run (the same
   number, as the naive run is extrapolated from the per-iteration time). The mean simulated
   latency of those decode iterations is printed for both paths as a check that they compute
   the same thing. They differ by routing noise and, on expert-parallel layouts, by the
   expert-to-device assignment: a trace keeps only how many experts got each count (rows
   ``moe<i>.expert_up.c<c>``), so ``evaluate`` places experts in count order while ``serve``
   keeps each expert's index (about 1 % of the iteration on duplex, 0.01 % on xpu).
3. Routing: ``Router.counts_many(64, 1000)`` (numba) vs 1000 calls of a vectorised numpy
   reference that draws top-2 distinct experts per token by argsort of random keys and counts
   them with ``bincount``.
4. Chunked prefill and paged KV (issue 14's goal: >= 1,000 requests simulated per wall second):
   ``--scheduler sarathi --chunk-size 512 --block-size 16``, Llama-3-8B on one H100 (``xpu``,
   ``devices=1``), Poisson arrivals, 10,000 requests, for two length mixes: the shipped
   conversation trace (``--trace conversations``: prompts of 2,375 tokens on average, so about
   five chunked iterations per prompt) at 4 req/s, and lognormal lengths (means 512 / 256
   tokens, sigma 1) at 20 req/s. Reference: every iteration priced with a full trace
   evaluation (``iteration_trace`` + ``device.evaluate``), timed on a sample of the run's own
   iterations (their decode count, mean KV length and prefill tokens) and extrapolated to the
   run's iteration count (cost model only: a lower bound on such a simulator).

Times are medians of ``--repeat`` runs (serve, passes over the naive sample) or of 5 (routing).

Usage: ``python benchmarks/bench_serve.py [--quick] [--requests N] [--repeat R] [--sample S]
[--sections 1,2,3,4]``
(``--quick``: 2,000 requests, one repeat, a 50-iteration naive sample; well under a minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import cast

import numba
import numpy as np
from _timing import median_time

from accel_sim import get_device
from accel_sim.devices.llm_system import LlmSystem
from accel_sim.llm import Router, ServingSystem, get_model, iteration_trace
from accel_sim.serving import ServeConfig, serve

MODEL = "mixtral_8x7b"
DEVICES = ("xpu", "duplex")
BATCH = 64


def closed_cfg(requests: int) -> ServeConfig:
    return ServeConfig(model=MODEL, batch=BATCH, lin=512, lout=512, requests=requests)


def poisson_cfg(requests: int) -> ServeConfig:
    return ServeConfig(model=MODEL, batch=128, lin=4096, lout=512, rate=8.0, requests=requests)


def numpy_counts(rng: np.random.Generator, tokens: int, layers: int, experts: int,
                 top_k: int) -> np.ndarray:
    """Reference router: ``top_k`` distinct uniform experts per token and layer (the first
    ``top_k`` of a random permutation = argsort of random keys), counted per expert."""
    keys = rng.random((layers, tokens, experts))
    picks = np.argsort(keys, axis=-1)[..., :top_k]
    flat = picks + (np.arange(layers) * experts)[:, None, None]
    return np.bincount(flat.ravel(), minlength=layers * experts).reshape(layers, experts)


def timed_serve(cfg: ServeConfig, device, repeat: int):
    times, res = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = serve(cfg, device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2,000 requests, 1 repeat, 50-iteration naive sample")
    ap.add_argument("--requests", type=int, default=None, help="requests per serve run")
    ap.add_argument("--repeat", type=int, default=None, help="serve runs per case (median)")
    ap.add_argument("--sample", type=int, default=None,
                    help="decode iterations timed on the naive path")
    ap.add_argument("--sections", default="1,2,3,4",
                    help="comma-separated sections to run (default all: 1,2,3,4)")
    args = ap.parse_args()
    sections = {int(x) for x in args.sections.split(",")}
    requests = args.requests or (2_000 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 3)
    sample = args.sample or (50 if args.quick else 200)

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    if sections & {1, 2, 3}:
        moe_sections(requests, repeat, sample)
    if 4 in sections:
        chunked(requests, repeat, sample)


def moe_sections(requests: int, repeat: int, sample: int) -> None:
    """Sections 1-3: Mixtral serve runs, the naive per-iteration path, routing."""
    model = get_model(MODEL)
    devices = {name: cast(LlmSystem, get_device(name)()) for name in DEVICES}
    closed, poisson = closed_cfg(requests), poisson_cfg(requests)

    # warm-up: numba compilation and caches of both code paths, not timed
    for dev in devices.values():
        system = cast(ServingSystem, dev)
        serve(ServeConfig(model=MODEL, batch=8, lin=64, lout=16, requests=32), system)
        serve(ServeConfig(model=MODEL, batch=8, lin=64, lout=16, rate=50.0, requests=32),
              system)
        iteration_trace(model, decode_kv=[65] * 8)
    Router(model.experts, model.top_k, model.moe_layers, seed=1).counts_many(BATCH, 2)

    # 1. serve
    print(f"\n1. serve(), {MODEL} on {devices['xpu'].config.devices} devices, {requests:,} "
          f"requests, median of {repeat} (after an untimed warm-up: numba compilation "
          "excluded)")
    print(f"{'device':>7} {'run':<36} | {'wall s':>7} {'iterations':>10} {'it/s':>9} "
          f"{'us/it':>7} | {'sim makespan s':>14}")
    runs = {}
    for name, dev in devices.items():
        for label, cfg in (("closed loop b64 lin512 lout512", closed),
                           ("poisson 8/s b128 lin4096 lout512", poisson)):
            wall, res = timed_serve(cfg, dev, repeat)
            its = int(res.summary["iterations"])
            runs[name, cfg.rate is None] = (wall, res)
            print(f"{name:>7} {label:<36} | {wall:7.2f} {its:10,} {its / wall:9,.0f} "
                  f"{wall / its * 1e6:7.1f} | {res.summary['makespan_s']:14,.1f}")

    # 2. naive per-iteration path
    print(f"\n2. naive path: iteration_trace + router.counts({BATCH}) + device.evaluate per "
          f"iteration, {sample} decode iterations at batch {BATCH} (closed-loop KV lengths, "
          f"median of {repeat} passes), extrapolated to the closed-loop run")
    print(f"{'device':>7} | {'naive us/it':>11} {'serve us/it':>11} {'ratio':>7} | "
          f"{'naive run s':>11} {'serve run s':>11} {'ratio':>7} | "
          f"{'sim ms/it naive':>15} {'serve':>7}")
    lin, lout = closed.lin, closed.lout
    made = 1 + (np.arange(sample) * (lout - 1)) // sample
    for name, dev in devices.items():
        router = Router(model.experts, model.top_k, model.moe_layers, seed=1)
        lat = np.empty(sample)
        passes = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for i, mk in enumerate(made):
                trace = iteration_trace(model, decode_kv=[lin + int(mk)] * BATCH,
                                        expert_counts=router.counts(BATCH))
                lat[i] = dev.evaluate(trace).columns["latency_s"].sum()
            passes.append((time.perf_counter() - t0) / sample)
        naive_it = float(np.median(passes))
        wall, res = runs[name, True]
        its = res.iterations
        iters = int(res.summary["iterations"])
        vec_it = wall / iters
        dec = (its["decode"] == BATCH) & (its["prefill_tokens"] == 0)
        sim_serve = float(its["latency_s"][dec].mean())
        print(f"{name:>7} | {naive_it * 1e6:11.0f} {vec_it * 1e6:11.1f} "
              f"{naive_it / vec_it:7.0f} | {naive_it * iters:11,.0f} {wall:11.2f} "
              f"{naive_it * iters / wall:7.0f} | {lat.mean() * 1e3:15.3f} "
              f"{sim_serve * 1e3:7.3f}")

    # 3. routing
    steps = 1000
    router = Router(model.experts, model.top_k, model.moe_layers, seed=2)
    rng = np.random.default_rng(2)
    t_router = median_time(lambda: router.counts_many(BATCH, steps), repeat=5, number=1)

    def reference() -> None:
        for _ in range(steps):
            numpy_counts(rng, BATCH, model.moe_layers, model.experts, model.top_k)

    t_ref = median_time(reference, repeat=5, number=1)
    c_router = router.counts_many(BATCH, steps)
    c_ref = np.stack([numpy_counts(rng, BATCH, model.moe_layers, model.experts, model.top_k)
                      for _ in range(steps)])
    print(f"\n3. routing: {steps} steps of {BATCH} tokens, {model.moe_layers} layers, "
          f"{model.experts} experts, top-{model.top_k} distinct (median of 5)")
    print(f"  {f'Router.counts_many({BATCH}, {steps})':<34} {t_router * 1e3:9.2f} ms")
    print(f"  {f'numpy argsort reference x {steps}':<34} {t_ref * 1e3:9.2f} ms   "
          f"ratio numpy / Router {t_ref / t_router:.1f}")
    print(f"  tokens per expert: Router mean {c_router.mean():.3f} std {c_router.std():.3f}; "
          f"numpy mean {c_ref.mean():.3f} std {c_ref.std():.3f}")




def chunked(requests: int, repeat: int, sample: int) -> None:
    """Section 4: chunked prefill and paged KV, requests simulated per wall second."""
    dev = cast(LlmSystem, get_device("xpu").from_params({"devices": "1"}))
    system = cast(ServingSystem, dev)
    mixes = (("conversations trace, 4 req/s", {"trace": "conversations", "rate": 4.0}),
             ("lognormal 512/256 sigma 1, 20 req/s",
              {"length_dist": "lognormal", "length_spread": 1.0, "lin": 512, "lout": 256,
               "rate": 20.0}))
    common = {"model": "llama3_8b", "batch": 256, "scheduler": "sarathi", "chunk_size": 512,
              "block_size": 16}
    print(f"\n4. chunked prefill + paged KV: llama3_8b on 1 x H100, sarathi (512-token "
          f"budget), 16-token blocks, {requests:,} requests, median of {repeat}")
    print(f"{'mix':<36} | {'wall s':>7} {'req/s':>7} {'iterations':>10} {'it/s':>8} | "
          f"{'naive us/it':>11} {'naive run s':>11} {'ratio':>6} | {'preempt':>7} "
          f"{'KV peak':>7}")
    model = get_model("llama3_8b")
    for label, mix in mixes:
        cfg = ServeConfig(requests=requests, **common, **mix)  # type: ignore[arg-type]
        serve(ServeConfig(requests=64, **common, **mix), system)  # type: ignore[arg-type]
        wall, res = timed_serve(cfg, system, repeat)
        its = res.iterations
        iters = int(res.summary["iterations"])
        rng = np.random.default_rng(0)
        pick = rng.choice(iters, size=min(sample, iters), replace=False)
        t0 = time.perf_counter()
        for i in pick:
            d, p = int(its["decode"][i]), int(its["prefill_tokens"][i])
            kv = max(int(its["kv_tokens"][i]) // max(d, 1), 1)
            trace = iteration_trace(model, decode_kv=[kv] * d, prefill=[p] if p else [])
            dev.evaluate(trace)
        naive_it = (time.perf_counter() - t0) / pick.size
        s = res.summary
        print(f"{label:<36} | {wall:7.2f} {requests / wall:7,.0f} {iters:10,} "
              f"{iters / wall:8,.0f} | {naive_it * 1e6:11.0f} {naive_it * iters:11,.1f} "
              f"{naive_it * iters / wall:6.0f} | {s['preemptions']:7,} "
              f"{s['kv_peak_fraction']:7.0%}")


if __name__ == "__main__":
    main()
