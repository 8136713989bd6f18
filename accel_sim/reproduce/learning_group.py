"""LearningGroup (Yang, Kim, Kim, FPT 2022) vs accel_sim's ``learning_group`` device.

Compared (figures from ``../shared/REFERENCES.md``; the paper's full text, and so its exact
scenarios, were not available to us):

* dense and sparse effective throughput at A = 4 agents, B = 1 (inference pass of IC3Net,
  hidden 128, one communication pass), peak, vector-unit utilisation;
* speedup over dense for inference and training at G = 2 and G = 16 (the ends of the paper's
  ranges), GFLOPS/W at the ends of the abstract's range;
* OSEL's encoding speedup on a 128 x 512 mask at G = 16;
* the Titan RTX comparison: mean over 14 scenarios (A in 3..10, B in {1, 32}: our choice)
  of training-step latency and energy, GPU through the ``gpu`` device (``titan_rtx`` preset,
  its documented efficiencies and 4 us per kernel);
* our own study: FLGW accuracy on the digits MLP/CNN for G = 1..16 (no paper figure).

Writes ``comparison.csv``/``.md``, ``sweep.csv`` (every A, B, G point), ``accuracy.csv`` and
the plots ``throughput_vs_groups.png``, ``speedup_vs_groups.png``, ``accuracy_vs_groups.png``.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from .._ir import Phase, Trace, training_trace
from .._plotting import subplots
from .._progress import track
from .._registry import make_device
from .._sweep import write_rows_csv
from ..devices.learning_group import _osel
from ._common import Comparison, save_axes, write_comparison

GROUPS = (1, 2, 4, 8, 16)
AGENTS = (3, 4, 5, 6, 7, 8, 10)
BATCHES = (1, 32)


def _trace(a: int, b: int, train: bool) -> Trace:
    from workloads import load_workload

    tr = load_workload(f"ic3net:agents={a},batch={b}")
    return training_trace(tr) if train else tr


#: Titan RTX power measured by the paper (W), for the GPU's energy.
GPU_POWER_W = 63.18


def _eval(g: int, trace: Trace) -> dict[str, float]:
    r = make_device("learning_group", {"groups": g}).evaluate(trace)
    util, cycles = r.columns["utilization"], r.columns["cycles"]
    busy = float((util * cycles).sum() / r.cycles)
    gemm = np.array([lay.op.is_matmul and lay.phase is not Phase.UPDATE
                     for lay in trace.layers])
    return {"latency_s": r.latency_s, "energy_j": r.energy_j,
            "gflops": r.extra["effective_gflops"], "gflops_per_w": r.extra["gflops_per_w"],
            "utilization": busy,
            "gemm_utilization": float((util * cycles)[gemm].sum() / cycles[gemm].sum())}


def run(outdir: str, quick: bool = False) -> list[Comparison]:
    """Sweep (A, B, G), compare with the paper, write CSVs, plots and the table."""
    os.makedirs(outdir, exist_ok=True)
    agents = (3, 4, 8) if quick else AGENTS
    sweep: list[dict[str, float]] = []
    points = [(a, b, train) for a in agents for b in BATCHES for train in (False, True)]
    for a, b, train in track(points, desc="learning-group", unit="scenario"):
        tr = _trace(a, b, train)
        for g in GROUPS:
            sweep.append({"agents": a, "batch": b, "training": int(train), "groups": g,
                          **_eval(g, tr)})
    write_rows_csv(os.path.join(outdir, "sweep.csv"), sweep)

    def pick(a: int, b: int, train: bool, g: int) -> dict[str, float]:
        return next(r for r in sweep if (r["agents"], r["batch"], r["training"], r["groups"])
                    == (a, b, int(train), g))

    rows: list[Comparison] = []
    dense = pick(4, 1, False, 1)
    rows.append(Comparison("peak throughput (GFLOPS)", "3 cores x 264 VUs x 2 FLOP x 175 MHz",
                           277.2, make_device("learning_group").config.peak_gflops, 0.001,
                           "by construction"))
    rows.append(Comparison(
        "dense effective throughput (GFLOPS)", "A=4, B=1, G=1, inference", 257.4,
        dense["gflops"], 0.15, "calibration point of pipeline_cycles (2 cycles per layer "
        "pass), the model's one fitted constant; every other row is a prediction"))
    for g, paper in ((2, 498.8), (4, 966.6)):
        rows.append(Comparison(
            "sparse effective throughput (GFLOPS)", f"A=4, B=1, G={g}, inference", paper,
            pick(4, 1, False, g)["gflops"], 0.25,
            "4 agent vectors per layer pass: per-layer fill, the dense heads and the vector ops "
            "do not shrink with G"))
    # the paper's 86.96 % and 96.89 % cannot be whole-run figures: 966.6 GFLOPS at density
    # 1/4 executes 241.7 GFLOPS, 87.2 % of the peak; we compare the row passes' utilisation
    for g, paper in ((1, 0.8696), (4, 0.9689)):
        pt = pick(4, 1, False, g)
        rows.append(Comparison(
            f"VU utilisation, {'dense' if g == 1 else 'sparse'}", f"A=4, B=1, G={g}, during "
            "the GEMM row passes", paper, pt["gemm_utilization"], 0.1,
            f"whole run (fill, vector ops, heads included): {pt['utilization']:.3f}; the "
            "paper's 96.89 % cannot be a whole-run figure (its 966.6 GFLOPS at density 1/4 is "
            "87.2 % of the peak)"))
    for train, lo, hi in ((False, 1.97, 12.52), (True, 1.92, 9.75)):
        what = "training" if train else "inference"
        a, b = max(((a, b) for a in agents for b in BATCHES),
                   key=lambda ab: pick(ab[0], ab[1], train, 1)["latency_s"]
                   / pick(ab[0], ab[1], train, 16)["latency_s"])
        base = pick(a, b, train, 1)["latency_s"]
        for g, paper in ((2, lo), (16, hi)):
            rows.append(Comparison(
                f"speedup over dense, {what}", f"G={g}, A={a}, B={b} (the scenario of our "
                "highest G=16 speedup; the paper's scenarios are not known to us)", paper,
                base / pick(a, b, train, g)["latency_s"], 0.25,
                "rows packed onto the VUs; what remains: fill per layer pass, cores' load "
                "imbalance, partly filled cycles of short rows, dense heads, vector ops and "
                "(training) the RMSprop and IG/OG updates and encoder stalls"))
    effs = [r["gflops_per_w"] for r in sweep]
    rows.append(Comparison(
        "energy efficiency, dense (GFLOPS/W)", "A=4, B=1, G=1 (the abstract's lowest, "
        "257.40 GFLOPS / 36.3 W)", 7.10, dense["gflops_per_w"], 0.15,
        "constant 36.3 W: follows from the calibration point"))
    rows.append(Comparison(
        "highest effective throughput (GFLOPS)", "abstract range; ours: best of the sweep "
        f"(A up to {max(agents)}, B up to {max(BATCHES)}, G up to {max(GROUPS)})", 3629.48,
        max(r["gflops"] for r in sweep), 0.25,
        "the paper's best scenario is not known to us; ours is the largest A x B at G=16"))
    rows.append(Comparison("energy efficiency, highest (GFLOPS/W)", "abstract range; ours: "
                           "best of the sweep", 100.12, max(effs), 0.25,
                           "constant power, so this follows the highest throughput"))
    rows.append(Comparison(
        "OSEL encoding speedup", "128 x 512 mask, G=16", 5.72,
        _osel(128, 512, 16, False, 32, 1) / _osel(128, 512, 16, True, 32, 1), 0.05,
        "miss = 512/32 scan cycles + 1, hit = 1 (our assumed encoder width)"))
    gpu_speed, gpu_eff = _gpu_comparison(agents)
    rows.append(Comparison(
        "speedup over Titan RTX", f"training step, G=4, mean of {len(agents) * 2} scenarios",
        7.13, gpu_speed, 0.5, "GPU modelled as launch-bound (4 us per kernel, ~30 kernels per "
        "step); the paper's scenarios and GPU software are unknown to us"))
    rows.append(Comparison(
        "energy efficiency over Titan RTX", f"training step, G=4, mean of {len(agents) * 2} "
        "scenarios", 12.43, gpu_eff, 0.5, f"GPU energy: our GPU latency x the paper's measured "
        f"{GPU_POWER_W} W (12.43 / 7.13 = 1.74 = {GPU_POWER_W} / 36.25 in the paper too)"))
    acc = _accuracy(quick)
    with open(os.path.join(outdir, "accuracy.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["network", "groups", "test_accuracy", "density"])
        writer.writerows(acc)
    _plots(sweep, acc, outdir)
    write_comparison(rows, outdir, "LearningGroup (FPT 2022) vs accel_sim learning_group")
    with open(os.path.join(outdir, "comparison.md"), "a") as fh:
        fh.write("\nFLGW accuracy on the digits networks (our study, no paper figure):\n\n"
                 "| network | G | test accuracy | density |\n|---|---|---|---|\n")
        for net, groups, accuracy, density in acc:
            fh.write(f"| {net} | {groups} | {accuracy:.4f} | {density:.3f} |\n")
    return rows


def _gpu_comparison(agents: tuple[int, ...]) -> tuple[float, float]:
    speed, eff = [], []
    gpu = make_device("gpu", {"preset": "titan_rtx"})
    lg = make_device("learning_group", {"groups": 4})
    for a in agents:
        for b in BATCHES:
            tr = _trace(a, b, True)
            rg, rl = gpu.evaluate(tr), lg.evaluate(tr)
            speed.append(rg.latency_s / rl.latency_s)
            eff.append(rg.latency_s * GPU_POWER_W / rl.energy_j)
    return sum(speed) / len(speed), sum(eff) / len(eff)


def _accuracy(quick: bool) -> list[tuple[str, int, float, float]]:
    from ..sparse import FLGW, Dense, sparse_train

    nets = ("digits_mlp",) if quick else ("digits_mlp", "digits_cnn")
    out = []
    for net in nets:
        for g in GROUPS:
            r = sparse_train(net, FLGW(g) if g > 1 else Dense())
            out.append((net, g, r.test_accuracy, r.density))
    return out


def _plots(sweep: list[dict[str, float]], acc: list[tuple[str, int, float, float]],
           outdir: str) -> None:
    fig, ax = subplots(figsize=(6, 4))
    for (a, b) in ((4, 1), (8, 1), (8, 32)):
        pts = [r for r in sweep if (r["agents"], r["batch"], r["training"]) == (a, b, 0)]
        if pts:
            ax.plot([r["groups"] for r in pts], [r["gflops"] for r in pts], "o-",
                    label=f"accel_sim A={a}, B={b}")
    ax.plot([1, 2, 4], [257.4, 498.8, 966.6], "k*", ms=10, label="paper (A=4, B=1)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(GROUPS, [str(g) for g in GROUPS])
    save_axes(fig, ax, "groups G [count]", "effective throughput, inference\n[GFLOP/s] "
              "(higher is better)",
              os.path.join(outdir, "throughput_vs_groups.png"), 8)

    fig, ax = subplots(figsize=(6, 4))
    big = (max(int(r["agents"]) for r in sweep), max(BATCHES))  # the speedup rows' scenario
    for train, style in ((0, "o-"), (1, "s--")):
        for (a, b) in ((4, 1), big):
            pts = [r for r in sweep if (r["agents"], r["batch"], r["training"]) == (a, b, train)]
            if not pts:
                continue
            base = pts[0]["latency_s"]
            ax.plot([r["groups"] for r in pts], [base / r["latency_s"] for r in pts], style,
                    label=f"{'training' if train else 'inference'} A={a}, B={b}")
    ax.plot([2, 16], [1.97, 12.52], "k*", ms=10, label="paper inference range")
    ax.plot([2, 16], [1.92, 9.75], "kx", ms=10, label="paper training range")
    ax.plot([1, 16], [1, 16], ":", color="grey", label="ideal (G)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(GROUPS, [str(g) for g in GROUPS])
    save_axes(fig, ax, "groups G [count]", "speedup over dense [ratio]\n(higher is better)",
              os.path.join(outdir, "speedup_vs_groups.png"), 7)

    fig, ax = subplots(figsize=(6, 4))
    for net in sorted({a[0] for a in acc}):
        net_acc = [a for a in acc if a[0] == net]
        ax.plot([p[1] for p in net_acc], [p[2] for p in net_acc], "o-", label=net)
    ax.set_xscale("log", base=2)
    ax.set_xticks(GROUPS, [str(g) for g in GROUPS])
    save_axes(fig, ax, "groups G [count] (weight density 1/G)",
              "test accuracy after FLGW training\n[fraction correct] (higher is better)",
              os.path.join(outdir, "accuracy_vs_groups.png"), None)
