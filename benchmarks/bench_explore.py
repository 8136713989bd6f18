"""Sample efficiency and throughput of the explorer, as ratios measured in one run.

Problem: ``systolic`` on ResNet-50 (SCALE-Sim topology), objectives latency, energy and area,
constraint ``area_mm2 <= 50``, searching rows, cols (4..512, log), dataflow, the three SRAM
sizes (8..8192 kB, log) and DRAM bandwidth (1..256 words/cycle, log).

1. Reference front: a 20,000-point uniform random sweep of the same space (evaluated with the
   vectorised ``evaluate_many``), united with every front the samplers find.
2. For the samplers of ``--samplers`` (default: the explorer's default ``parego``,
   multivariate TPE, NSGA-II and random search), over ``--seeds`` seeds: hypervolume after 50,
   100, 200 and 400 trials, normalised to the reference front's (same reference point: the
   sweep's feasible nadir plus 10 % of the range). Medians. Two tables: hypervolume of the
   objectives themselves, and of their log10 (the designs span three decades of latency and
   area, so the linear hypervolume is dominated by the easy region near the nadir and hardly
   separates the samplers).
3. Throughput with 1, 2 and 4 worker processes (TPE, journal storage, completed trials per
   second, wall time including the workers' start-up).
4. Overhead of the explorer on the README's main job (ResNet-50 built-in, 300 trials): wall
   time of ``Explorer.run`` with the default journal storage (with and without writing the
   output files) and with SQLite, as a ratio to the same study run bare in memory (same
   sampler, seed, space and evaluations), in the same run.

``--problem analog`` runs step 2 on a second problem instead: the ``analog`` crossbar on
ResNet-18 (built-in), objectives latency, energy and area, no constraint, over the device's
whole declared space (19 parameters; the device refuses about 9 in 10 uniformly random
designs, e.g. weight bits that the slices and cell bits do not hold). Its reference front
is a 2,000-trial random study united with every front the samplers find.

Usage: ``python benchmarks/bench_explore.py [--seeds 10] [--budget 400] [--overhead-only]
[--problem systolic|analog] [--samplers tpe,parego,...]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACCEL_SIM_SHARED", ROOT.parent / "shared"))
WORKLOAD = str(SHARED / "data/topologies/Resnet50.csv")
SPACE = {"rows": "4:512", "cols": "4:512", "dataflow": "", "ifmap_sram_kb": "8:8192",
         "filter_sram_kb": "8:8192", "ofmap_sram_kb": "8:8192", "bandwidth": "1:256"}
OBJECTIVES = ("latency", "energy", "area")
AREA_BUDGET = 50.0
CHECKPOINTS = (50, 100, 200, 400)


#: ``--problem``: (workload, device, space (empty: the device's declared one), area budget).
PROBLEMS = {"systolic": (WORKLOAD, "systolic", SPACE, AREA_BUDGET),
            "analog": ("resnet18", "analog", {}, None)}


def _spec(problem: str = "systolic", **kw):
    from accel_sim.explore import Constraint, ExploreSpec, Objective

    workload, device, space, budget = PROBLEMS[problem]
    cons = (Constraint.parse(f"area_mm2<={budget:g}"),) if budget is not None else ()
    return ExploreSpec(workloads=(workload,), device=device,
                       objectives=tuple(Objective.parse(o) for o in OBJECTIVES),
                       constraints=cons, space=space, **kw)


def _sweep(n: int, seed: int, problem: str = "systolic") -> np.ndarray:
    """Objective values (n, 3) of feasible points of a random sweep."""
    if problem != "systolic":  # a random study of n trials
        runs = _run("random", seed, n, problem)
        return runs[runs[:, 3] == 1, :3]
    from accel_sim.devices.systolic import SystolicArray, SystolicConfig
    from accel_sim.explore import SearchSpace
    from workloads import load_workload

    space = SearchSpace(SystolicArray.Config, SPACE)
    sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    configs: list[SystolicConfig] = []
    for _ in range(n):
        t = study.ask()
        config = space.config(space.suggest(t))
        assert isinstance(config, SystolicConfig)
        configs.append(config)
        study.tell(t, 0.0)
    trace = load_workload(WORKLOAD)
    reports = SystolicArray(configs[0]).evaluate_many(trace, configs)
    pts = np.array([[r.latency_s, r.energy_j, r.area_mm2] for r in reports])
    return pts[pts[:, 2] <= AREA_BUDGET]


#: Samplers compared beside the explorer's own (``--sampler`` names): Optuna samplers built
#: here from a seed.
EXTRA_SAMPLERS = {
    "tpe-independent": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "tpe-independent-startup20": lambda seed: optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=20),
    "tpe-independent-startup5": lambda seed: optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=5),
    "tpe-independent-ei96": lambda seed: optuna.samplers.TPESampler(
        seed=seed, n_ei_candidates=96),
    "tpe-multivariate": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
}


def _run(sampler: str, seed: int, budget: int, problem: str = "systolic") -> np.ndarray:
    """Objective values of the completed trials of one run (``budget`` of them, as the
    explorer's ``--trials`` counts: designs the device refuses are not counted, up to 50 x
    ``budget`` trials in all), with feasibility, in trial order."""
    from accel_sim.explore import Explorer, TimedSampler, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        own = sampler not in EXTRA_SAMPLERS
        spec = _spec(problem, sampler=sampler if own else "tpe", seed=seed, trials=budget,
                     output=tmp)
        ex = Explorer(spec)
        timed = TimedSampler(make_sampler(spec, ex.space) if own
                             else EXTRA_SAMPLERS[sampler](seed))
        study = optuna.create_study(directions=["minimize"] * 3, sampler=timed)
        objective = ex.objective(timed, 0)
        for _ in range(50 * budget):
            study.optimize(objective, n_trials=1)
            if study.get_trials(deepcopy=False)[-1].state == optuna.trial.TrialState.COMPLETE:
                budget -= 1
                if budget == 0:
                    break
    rows = []
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        feas = all(v <= 0 for v in t.constraints.values())
        rows.append([*t.values, float(feas), float(t.user_attrs.get("sampler_time_s", 0.0)),
                     float(t.number)])
    return np.array(rows)  # objectives, feasible, sampler time (s), trial number


def _front_hv(points: np.ndarray, ref: np.ndarray) -> float:
    from accel_sim.explore import hypervolume

    return hypervolume(points, ref) if len(points) else 0.0


def bench_efficiency(seeds: int, budget: int,
                     samplers: tuple[str, ...] = ("parego", "tpe", "nsga2", "random"),
                     problem: str = "systolic") -> None:
    t0 = time.perf_counter()
    n_sweep = 20_000 if problem == "systolic" else 2_000
    sweep = _sweep(n_sweep, 12345, problem)
    t_sweep = time.perf_counter() - t0
    jobs = [(s, seed) for s in samplers for seed in range(seeds)]
    t1 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(jobs, pool.map(_run, *zip(*jobs, strict=True),
                                       [budget] * len(jobs), [problem] * len(jobs)),
                        strict=True))
    t_runs = time.perf_counter() - t1
    print(f"problem {problem}; reference: {n_sweep:,}-point random sweep ({len(sweep)} "
          f"feasible) in {t_sweep:.1f} s; {len(jobs)} runs of {budget} trials in {t_runs:.0f} s "
          "(2 processes)")
    for label, tf in (("objectives", lambda x: x), ("log10(objectives)", np.log10)):
        sw = tf(sweep)
        worst, best = sw.max(axis=0), sw.min(axis=0)
        ref = worst + 0.1 * (worst - best)
        union = np.vstack([sw] + [tf(r[r[:, 3] == 1, :3]) for r in runs.values()])
        hv_best = _front_hv(union, ref)
        print(f"\nhypervolume of {label}, median over {seeds} seeds, normalised to the best "
              f"front (the {n_sweep:,}-point sweep alone reaches "
              f"{_front_hv(sw, ref) / hv_best:.3f}):")
        print(f"{'sampler':<26} " + "  ".join(f"{c:>7}" for c in CHECKPOINTS if c <= budget))
        for s in samplers:
            cells = []
            for c in CHECKPOINTS:
                if c > budget:
                    continue
                vals = [_front_hv(tf(r[:c][r[:c, 3] == 1, :3]), ref) / hv_best
                        for (name, _), r in runs.items() if name == s]
                cells.append(f"{np.median(vals):7.3f}")
            ms = np.median([1e3 * r[:, 4].mean() for (name, _), r in runs.items()
                            if name == s])
            print(f"{s:<26} " + "  ".join(cells) + f"   sampler {ms:.1f} ms/trial")


def bench_workers(trials: int = 200) -> None:
    from accel_sim.explore import Explorer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = None
    for workers in (1, 2, 4):
        with tempfile.TemporaryDirectory() as tmp:
            spec = _spec(trials=trials, workers=workers, output=tmp,
                         storage=os.path.join(tmp, "study.journal"), sampler="tpe")
            t0 = time.perf_counter()
            Explorer(spec).run(progress=False, write=False)
            dt = time.perf_counter() - t0
        rate = trials / dt
        base = base or rate
        print(f"{workers} worker(s): {rate:.1f} completed trials/s ({rate / base:.2f}x one "
              "worker; TPE, journal storage)")


def _bare_in_memory(trials: int) -> tuple[float, list]:
    """The README's main job as a bare Optuna study: in-memory storage, the same sampler
    (multivariate TPE, seed 0), the same search space and the same evaluations (device model
    on the workload, constraints set on the trial); nothing recorded beyond that."""
    from accel_sim.explore import Explorer, make_sampler

    spec = _main_job_spec(trials, tempfile.mkdtemp())
    ex = Explorer(spec)
    space, evaluate = ex.space, ex.evaluator

    def objective(trial: optuna.Trial) -> list[float]:
        summary, violation = evaluate(space.config(space.suggest(trial)))
        for c in spec.constraints:
            trial.set_constraint(c.name, c.violation(summary))
        trial.set_constraint("device", float(violation))
        return [o.value(summary) for o in spec.objectives]

    t0 = time.perf_counter()
    study = optuna.create_study(directions=[o.direction for o in spec.objectives],
                                sampler=make_sampler(spec, space))
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - t0, [t.params for t in study.trials]


def _main_job_spec(trials: int, out: str, storage: str | None = None):
    from accel_sim.explore import Constraint, ExploreSpec, Objective

    return ExploreSpec(workloads=("resnet50",), device="systolic",
                       objectives=tuple(Objective.parse(o) for o in OBJECTIVES),
                       constraints=(Constraint.parse("area_mm2<=50"),), trials=trials,
                       seed=0, output=out, storage=storage)


def bench_overhead(trials: int = 300, repeat: int = 3) -> None:
    """The README's main job (``explore -w resnet50 -d systolic --objectives
    latency,energy,area --constraint area_mm2<=50 --trials 300``) against the same study run
    bare in memory; medians of ``repeat`` alternating runs."""
    from accel_sim.explore import Explorer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    times: dict[str, list[float]] = {"bare in-memory Optuna": [], "journal (default)": [],
                                     "journal, no output files": [], "SQLite": []}
    same = True
    for _ in range(repeat):
        dt, bare_params = _bare_in_memory(trials)
        times["bare in-memory Optuna"].append(dt)
        for label, storage, write in (("journal (default)", None, True),
                                      ("journal, no output files", None, False),
                                      ("SQLite", "sqlite", True)):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                res = Explorer(_main_job_spec(trials, tmp, storage)).run(progress=False,
                                                                         write=write)
                times[label].append(time.perf_counter() - t0)
                same &= [t.params for t in res.study.trials] == bare_params
    ref = float(np.median(times["bare in-memory Optuna"]))
    print(f"\nexplore overhead: README main job, {trials} trials, median of {repeat}")
    print(f"{'storage':<26} {'wall [s]':>9} {'ratio to bare':>14}")
    for label, ts in times.items():
        med = float(np.median(ts))
        print(f"{label:<26} {med:9.1f} {med / ref:13.2f}x")
    print(f"same trials (parameters) in every run: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--skip-efficiency", action="store_true")
    ap.add_argument("--samplers", default="parego,tpe,nsga2,random",
                    help="comma-separated: the explorer's --sampler names and "
                         + ", ".join(EXTRA_SAMPLERS))
    ap.add_argument("--overhead-only", action="store_true",
                    help="only the storage overhead of the README's main job")
    ap.add_argument("--efficiency-only", action="store_true",
                    help="only the sampler comparison")
    ap.add_argument("--problem", choices=tuple(PROBLEMS), default="systolic",
                    help="the sampler comparison's problem (see the module docstring)")
    args = ap.parse_args()
    if args.overhead_only:
        bench_overhead()
        return
    if not args.skip_efficiency:
        bench_efficiency(args.seeds, args.budget, tuple(args.samplers.split(",")),
                         args.problem)
    if args.efficiency_only:
        return
    bench_workers()
    bench_overhead()


if __name__ == "__main__":
    main()
