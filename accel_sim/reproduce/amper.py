"""AMPER (Li, Kazemi, Laguna, Hu, ICCAD 2022) vs accel_sim's ``amper``, ``per_gpu``, ``per_cpu``.

Compared (figures from ``../shared/REFERENCES.md``; only the paper's abstract was available to
us, so its array sizes, buffer sizes, GPU and search procedure are replaced by ours, stated in
the table and in :mod:`accel_sim.devices.amper`):

* latency of one replay step (insert 1, sample a batch, update its priorities) for buffers of
  1e3..1e6 transitions and batches of 32..256, and the speedup of AMPER-k and AMPER-fr over
  sum-tree PER on a GPU (paper: 55x-270x), with the energy per step;
* learning: DQN on CartPole-v1 and Acrobot-v1 with uniform, PER, AMPER-k and AMPER-fr buffers
  over several seeds (paper: AMPER's learning comparable to PER's), as the score
  ``(R - R_random) / (R_PER - R_random)`` of the mean final return ``R``;
* the ``per_cpu`` cost model against our sum tree timed on this machine in the same run, and
  against cpprb's published timings on this CPU (REFERENCES.md).

Writes ``comparison.csv``/``.md``, ``latency.csv``, ``learning.csv``, ``cpu_check.csv``,
``speedup.png``, ``latency.png``, ``energy.png`` and ``learning_curves.png``.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np

from .._plotting import subplots
from .._progress import track
from .._registry import make_device
from .._sweep import write_rows_csv
from ._common import Comparison, save_axes, write_comparison

CAPACITIES = (1_000, 10_000, 100_000, 1_000_000)
BATCHES = (32, 64, 128, 256)
#: (label, device, parameters) of the compared designs.
DEVICES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("per_gpu", "per_gpu", {}), ("per_cpu", "per_cpu", {}),
    ("amper-k", "amper", {"search": "k"}), ("amper-fr", "amper", {"search": "fr"}))
#: (buffer, options) of the DQN runs.
BUFFERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("uniform", {}), ("per", {}), ("amper-k", {"k": 32}), ("amper-fr", {"radius": 2}))
#: Mean return of a uniformly random policy (CartPole-v1: ~22; Acrobot-v1: the 500-step cap).
RANDOM_RETURN = {"cartpole": 22.0, "acrobot": -500.0}
#: cpprb sum-tree PER on this CPU, batch 32, microseconds (REFERENCES.md).
CPPRB_SAMPLE_US = {1_000: 18.0, 10_000: 45.0, 1_000_000: 76.0}


def run(outdir: str, quick: bool = False) -> list[Comparison]:
    """Latency/energy grid, learning curves, CPU check; comparison table and plots."""
    os.makedirs(outdir, exist_ok=True)
    lat = _latency_grid()
    write_rows_csv(os.path.join(outdir, "latency.csv"), lat)
    learn = _learning(quick)
    write_rows_csv(os.path.join(outdir, "learning.csv"), learn)
    cpu = _cpu_check(quick)
    write_rows_csv(os.path.join(outdir, "cpu_check.csv"), cpu)

    rows: list[Comparison] = []
    for b in (32, max(BATCHES)):
        sp = {v: [float(r["speedup_vs_per_gpu"]) for r in lat
                  if r["design"] == v and r["batch"] == b] for v in ("amper-k", "amper-fr")}
        both = sp["amper-k"] + sp["amper-fr"]
        span = "; ".join(f"{v} {min(x):.0f}x-{max(x):.0f}x" for v, x in sp.items())
        cond = (f"both variants, buffers 1e3..1e6, batch {b} (assumed: the paper's batch and "
                "buffer sizes are not known to us), A100-class GPU with one kernel per tree "
                "level (assumed)")
        why_lo = ("smallest buffer: few transitions per priority code widen AMPER-k's window "
                  "(more searches) while the GPU tree is shallow" if b == 32 else
                  "the TCAM draws and writes one transition at a time, 8x the work of batch 32, "
                  "while the GPU walks the whole batch in parallel: AMPER's lead shrinks with "
                  "the batch, so the paper's range points to small batches")
        rows.append(Comparison("lowest speedup of AMPER over GPU PER", cond, 55.0, min(both),
                               0.5, f"{span}; {why_lo}"))
        rows.append(Comparison("highest speedup of AMPER over GPU PER", cond, 270.0, max(both),
                               0.5, f"{span}; 1e6 entries: the GPU pays 20 tree levels of "
                                    "kernel launches"))
    scores = _scores(learn)
    for (env, buf), (score, lo, hi, n) in sorted(scores.items()):
        if buf.startswith("amper"):
            inside = "includes" if lo <= 1.0 <= hi else "excludes"
            rows.append(Comparison(
                f"learning score of {buf} relative to PER", f"DQN on {env}, {n} seeds; mean "
                f"final return; (R - R_random) / (R_PER - R_random)", 1.0, score, 0.3,
                f"95 % bootstrap interval over seeds [{lo:.2f}, {hi:.2f}] {inside} 1 (paper: "
                "learning comparable to PER)"))
    for r in cpu:
        rows.append(Comparison(
            "per_cpu model vs our sum tree measured (us per replay step)",
            f"capacity {r['capacity']}, batch {r['batch']}, this machine", float(r["measured_us"]),
            float(r["model_us"]), 0.5, "reference: the same run's timing of "
            "accel_sim.replay.PrioritizedReplay (add 1, sample, update)"))
    for cap, us in CPPRB_SAMPLE_US.items():
        model = make_device("per_cpu").evaluate(_step(cap, 32)).columns["latency_s"][1] * 1e6
        rows.append(Comparison(
            "per_cpu sample(32) vs cpprb on this CPU (us)", f"capacity {cap}", us, model, 0.5,
            "our numba sum tree is 1.4-2.7x faster than cpprb (docs/benchmarks.md), so the "
            "model of our tree undercuts cpprb"))
    _plots(lat, learn, outdir)
    write_comparison(rows, outdir, "AMPER (ICCAD 2022) vs accel_sim amper / per_gpu / per_cpu")
    with open(os.path.join(outdir, "comparison.md"), "a") as fh:
        fh.write("\nLatency per replay step (us) and AMPER speedup over GPU PER:\n\n"
                 "| capacity | batch | per_gpu | per_cpu | amper-k | amper-fr | speedup k | "
                 "speedup fr |\n|---|---|---|---|---|---|---|---|\n")
        for cap in CAPACITIES:
            for b in BATCHES:
                sel = {r["design"]: r for r in lat if (r["capacity"], r["batch"]) == (cap, b)}
                fh.write(f"| {cap:,} | {b} | " + " | ".join(
                    f"{float(sel[d]['latency_us']):.2f}" for d, _, _ in DEVICES)
                    + f" | {float(sel['amper-k']['speedup_vs_per_gpu']):.0f}x | "
                      f"{float(sel['amper-fr']['speedup_vs_per_gpu']):.0f}x |\n")
        fh.write("\nMean final DQN return (last 20 episodes, mean over seeds) and the score "
                 "against PER with its 95 % bootstrap interval over seeds:\n\n"
                 "| env | buffer | seeds | return | score vs PER | 95 % interval |\n"
                 "|---|---|---|---|---|---|\n")
        for (env, buf), rets in sorted(_finals(learn).items()):
            sc, lo, hi, n = scores[(env, buf)]
            fh.write(f"| {env} | {buf} | {n} | {np.mean(rets):.1f} | {sc:.2f} | "
                     f"[{lo:.2f}, {hi:.2f}] |\n")
    return rows


def _step(capacity: int, batch: int):
    from workloads import load_workload

    return load_workload("replay", capacity=capacity, batch=batch)


def _latency_grid() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cap in CAPACITIES:
        for b in BATCHES:
            tr = _step(cap, b)
            res = {label: make_device(dev, params).evaluate(tr) for label, dev, params in DEVICES}
            gpu = res["per_gpu"].latency_s
            for label, rep in res.items():
                out.append({"capacity": cap, "batch": b, "design": label,
                            "latency_us": rep.latency_s * 1e6, "energy_uj": rep.energy_j * 1e6,
                            "speedup_vs_per_gpu": gpu / rep.latency_s})
    return out


#: DQN seeds per (environment, buffer): enough for a 95 % interval on the score.
SEEDS, QUICK_SEEDS = 10, 2


def _dqn_run(job: tuple[str, str, dict[str, Any], int, bool]) -> list[dict[str, Any]]:
    from ..replay import DQNConfig, make_buffer, train_dqn

    env, buf, opts, seed, quick = job
    cfg = DQNConfig(steps=6_000, warmup=1_000) if quick else DQNConfig(steps=30_000)
    c = train_dqn(env, make_buffer(buf, cfg.capacity, seed, **opts), seed=seed, config=cfg,
                  label=buf)
    return [{"env": env, "buffer": buf, "seed": seed, "episode": i, "end_step": int(step),
             "return": float(ret)}
            for i, (step, ret) in enumerate(zip(c.end_steps, c.returns, strict=True))]


def _learning(quick: bool) -> list[dict[str, Any]]:
    """DQN runs of every (environment, buffer, seed), on the machine's cores (each run is
    seeded, so the rows do not depend on the number of workers)."""
    import multiprocessing

    from .._procs import children_start_blocked, worker_signals

    envs = ("cartpole", "acrobot")
    seeds = range(QUICK_SEEDS if quick else SEEDS)
    jobs = [(e, b, o, s, quick) for e in envs for b, o in BUFFERS for s in seeds]
    workers = min(len(jobs), os.cpu_count() or 1)
    out: list[dict[str, Any]] = []
    if workers == 1:
        for job in track(jobs, desc="amper: DQN runs", unit="run"):
            out.extend(_dqn_run(job))
        return out
    with children_start_blocked():
        pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=worker_signals, initargs=(os.getpid(),))
    try:
        for rows in track(pool.imap(_dqn_run, jobs), total=len(jobs),
                          desc="amper: DQN runs", unit="run"):
            out.extend(rows)
    finally:
        pool.terminate()
        pool.join()
    return out


def _finals(learn: list[dict[str, Any]]) -> dict[tuple[str, str], list[float]]:
    """Mean final return of every seed, per (environment, buffer)."""
    from ..replay import DQNConfig

    runs: dict[tuple[str, str, int], list[float]] = {}
    for r in learn:
        runs.setdefault((str(r["env"]), str(r["buffer"]), int(r["seed"])), []).append(
            float(r["return"]))
    per: dict[tuple[str, str], list[float]] = {}
    for (env, buf, _), rets in sorted(runs.items()):
        per.setdefault((env, buf), []).append(float(np.mean(rets[-DQNConfig.final_episodes:])))
    return per


def _scores(learn: list[dict[str, Any]], resamples: int = 4000
            ) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """(score, 95 % bootstrap low, high, seeds) of every buffer against PER: seeds resampled
    with replacement for the buffer and for PER independently (seeded)."""
    finals = _finals(learn)
    rng = np.random.default_rng(0)
    out = {}
    for (env, buf), rets in finals.items():
        base = RANDOM_RETURN[env]
        mine, per = np.asarray(rets), np.asarray(finals[(env, "per")])

        def score(a: np.ndarray, p: np.ndarray, base: float = base) -> np.ndarray:
            return (a - base) / (p - base)

        boot = score(rng.choice(mine, (resamples, mine.size)).mean(axis=1),
                     rng.choice(per, (resamples, per.size)).mean(axis=1))
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out[(env, buf)] = (float(score(mine.mean(), per.mean())), float(lo), float(hi),
                           mine.size)
    return out


def _cpu_check(quick: bool) -> list[dict[str, Any]]:
    """Our sum tree timed on this machine (median of rounds) vs the per_cpu model."""
    from ..replay import PrioritizedReplay

    caps = (1_000, 1_000_000) if quick else CAPACITIES
    out: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    for cap in caps:
        buf = PrioritizedReplay(cap, seed=0)
        buf.add(obs=rng.random((cap, 4)).astype(np.float32))
        buf.update_priorities(np.arange(cap), rng.random(cap) + 0.01)
        one = {"obs": np.zeros((1, 4), np.float32)}
        for b in (32, 256):
            def step(b: int = b, buf: PrioritizedReplay = buf,
                     one: dict[str, np.ndarray] = one) -> None:
                buf.add(**one)
                idx, _ = buf.sample(b)
                buf.update_priorities(idx, rng.random(b) + 0.01)

            measured = _median_us(step)
            model = make_device("per_cpu").evaluate(_step(cap, b)).latency_s * 1e6
            out.append({"capacity": cap, "batch": b, "measured_us": measured,
                        "model_us": model, "ratio": model / measured})
    return out


def _median_us(fn, rounds: int = 5, calls: int = 200) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times) * 1e6




def _plots(lat: list[dict], learn: list[dict], outdir: str) -> None:
    fig, ax = subplots(figsize=(7, 4))
    ax.axhspan(55, 270, color="0.9", label="paper: 55x-270x")
    for variant, style in (("amper-k", "-"), ("amper-fr", "--")):
        for b in BATCHES:
            pts = [(r["capacity"], r["speedup_vs_per_gpu"]) for r in lat
                   if r["design"] == variant and r["batch"] == b]
            ax.plot(*zip(*pts, strict=True), style, marker="o", label=f"{variant}, batch {b}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("AMPER speedup over sum-tree PER on a GPU, per replay step")
    save_axes(fig, ax, "buffer capacity [transitions]",
              "speedup over GPU PER [ratio] (higher is better)",
              os.path.join(outdir, "speedup.png"), legend_size=7)

    for key, ylabel, name in (("latency_us", "latency per replay step [us] (lower is better)",
                               "latency.png"),
                              ("energy_uj", "energy per replay step [uJ] (lower is better)",
                               "energy.png")):
        fig, ax = subplots(figsize=(7, 4))
        for label, _, _ in DEVICES:
            pts = [(r["capacity"], r[key]) for r in lat
                   if r["design"] == label and r["batch"] == 32]
            ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("batch 32: insert 1, sample 32, update 32")
        save_axes(fig, ax, "buffer capacity [transitions]", ylabel, os.path.join(outdir, name))

    envs = sorted({r["env"] for r in learn})
    fig, axes = subplots(1, len(envs), figsize=(5 * len(envs), 3.8))
    for ax, env in zip(np.atleast_1d(axes), envs, strict=True):
        for buf, _ in BUFFERS:
            sel = [r for r in learn if r["env"] == env and r["buffer"] == buf]
            end = max(int(r["end_step"]) for r in sel)
            grid = np.linspace(0, end, 60)
            curves = []
            for seed in sorted({int(r["seed"]) for r in sel}):
                rs = [r for r in sel if r["seed"] == seed]
                steps = np.array([r["end_step"] for r in rs], float)
                rets = np.array([r["return"] for r in rs], float)
                csum = np.cumsum(np.concatenate(([0.0], rets)))
                lo = np.maximum(np.arange(1, rets.size + 1) - 10, 0)
                smooth = (csum[1:] - csum[lo]) / (np.arange(1, rets.size + 1) - lo)  # trailing
                curves.append(np.interp(grid, steps, smooth))
            mean = np.mean(curves, axis=0)
            ax.plot(grid, mean, label=buf)
            ax.fill_between(grid, np.min(curves, axis=0), np.max(curves, axis=0), alpha=0.15)
        ax.set_title(f"DQN on {env} (band: seeds' range)")
        ax.set_xlabel("environment step [steps]")
        ax.set_ylabel("episode return [reward], mean of the\nlast 10 episodes (higher is better)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "learning_curves.png"), dpi=100)
