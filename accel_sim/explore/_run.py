"""Running an exploration: storage, study, samplers, workers, resume, warm start."""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from .._device import get_device
from .._ir import Trace
from ..errors import AccelSimError, ConfigError
from ._outputs import ExplorationData, collect, metrics_json, write_outputs
from ._pareto import pareto_mask
from ._space import SearchSpace
from ._spec import ExploreSpec

__all__ = ["ExploreResult", "Explorer", "open_storage"]

_ATTR = "accel_sim"


# ---------------------------------------------------------------------- storage
def open_storage(spec: ExploreSpec) -> tuple[BaseStorage, bool]:
    """The study storage and whether it is the embedded one in the output folder.

    Embedded default: ``OUTDIR/study.db`` (SQLite) for one worker, ``OUTDIR/study.journal``
    (an Optuna journal file, safe for concurrent processes) for several. RDB storages get
    heartbeats: the trial of a dead worker is failed after two intervals and retried.
    """
    embedded = spec.storage is None
    if embedded:
        os.makedirs(spec.output, exist_ok=True)
        db = os.path.join(spec.output, "study.db")
        journal = os.path.join(spec.output, "study.journal")
        if os.path.exists(journal) or (spec.workers > 1 and not os.path.exists(db)):
            return _journal(journal), True
        if spec.workers > 1:
            raise ConfigError(f"{db} is a SQLite study, which does not take concurrent "
                              "workers: rerun with --workers 1, or give --storage "
                              "postgresql://... or a .journal file")
        url = f"sqlite:///{os.path.abspath(db)}"
    else:
        url = str(spec.storage)
        if "://" not in url:
            return _journal(url), False
        if url.startswith("sqlite") and spec.workers > 1:
            raise ConfigError(f"--storage {url}: SQLite does not take concurrent workers; use "
                              "postgresql://... or a .journal file with --workers > 1")
    return _rdb(url, spec.heartbeat_s), embedded


def _journal(path: str) -> BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigError(f"--storage {path}: folder {parent} does not exist")
    return JournalStorage(JournalFileBackend(path))


def _rdb(url: str, heartbeat_s: float) -> RDBStorage:
    hb = max(1, round(heartbeat_s))
    for attempt in range(6):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url, heartbeat_interval=hb, grace_period=2 * hb,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=3),
                    engine_kwargs={"pool_pre_ping": True})
        except ImportError:
            raise ConfigError(f"--storage {url}: the database driver is not installed "
                              "(PostgreSQL: pip install 'accel-sim[postgres]')") from None
        except Exception as exc:  # sqlalchemy raises many kinds; report the first line
            racing = (type(exc).__name__ == "IntegrityError"
                      or "already exists" in str(exc))
            if racing and attempt < 5:
                time.sleep(0.5)  # another process is creating the schema at the same time
                continue
            text = str(exc).strip()
            msg = text.splitlines()[0] if text else type(exc).__name__
            raise ConfigError(f"--storage {url}: cannot open the storage ({msg})") from None
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------- samplers
class _TimedSampler(BaseSampler):
    """Delegates to a sampler and records the time it spends per trial number."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner
        self.spent: dict[int, float] = {}

    def _timed(self, trial: FrozenTrial, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.spent[trial.number] = self.spent.get(trial.number, 0.0) + (
                time.perf_counter() - t0)

    def infer_relative_search_space(self, study, trial):  # type: ignore[override]
        return self._timed(trial, lambda: self.inner.infer_relative_search_space(study, trial))

    def sample_relative(self, study, trial, search_space):  # type: ignore[override]
        return self._timed(trial, lambda: self.inner.sample_relative(study, trial,
                                                                     search_space))

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._timed(trial, lambda: self.inner.sample_independent(
            study, trial, param_name, param_distribution))

    def before_trial(self, study, trial):  # type: ignore[override]
        self._timed(trial, lambda: self.inner.before_trial(study, trial))

    def after_trial(self, study, trial, state, values):  # type: ignore[override]
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def make_sampler(spec: ExploreSpec, space: SearchSpace, worker: int = 0) -> BaseSampler:
    """The sampler named in the spec (each worker gets its own seed)."""
    seed = None if spec.seed is None else spec.seed + worker
    if spec.sampler == "tpe":
        with warnings.catch_warnings():  # group=True is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed,
                                              constant_liar=spec.workers > 1)
    if spec.sampler == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler gp needs PyTorch: pip install 'accel-sim[gp]' "
                              "(or use tpe)") from None
        return optuna.samplers.GPSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(space.grid(), seed=seed)


# ---------------------------------------------------------------------- evaluation
class _Evaluator:
    """Configuration -> summary metrics, totalled over the workloads."""

    def __init__(self, spec: ExploreSpec) -> None:
        from workloads import load_workload

        self.device = get_device(spec.device)
        self.serving = None
        if spec.serve:
            from ..llm._serve import ServingEvaluator

            self.serving = ServingEvaluator(self.device)
            self.traces: list[Trace] = []
            self.space = SearchSpace(self.serving.config_cls, spec.space, spec.fixed)
            return
        self.traces = [load_workload(w) for w in spec.workloads]
        if spec.training:
            from .._ir import training_trace

            self.traces = [training_trace(t) for t in self.traces]
        self.space = SearchSpace(self.device.Config, spec.space, spec.fixed)

    def __call__(self, config) -> tuple[dict[str, Any], float]:
        if self.serving is not None:
            return self.serving(config)
        dev = self.device(config)
        reports = [dev.evaluate(t) for t in self.traces]
        total = sum(reports[1:], reports[0])
        violation = max(total.violations.values(), default=0.0)
        return total.summary(), violation


@dataclass(frozen=True)
class ExploreResult:
    """Outcome of :meth:`Explorer.run`."""

    study: optuna.Study
    data: ExplorationData
    paths: dict[str, str]
    ran: int
    sampler_time_s: float
    wall_s: float


class Explorer:
    """Runs (or resumes) one exploration described by an :class:`ExploreSpec`.

    The study is a plain Optuna study: one trial per evaluated configuration, objective values
    in the spec's order, summary metrics in the user attribute ``metrics``, constraints through
    ``trial.set_constraint`` (each ``--constraint`` by its text, plus ``device`` for designs the
    device reports as infeasible), the sampler's time in ``sampler_time_s``.
    """

    def __init__(self, spec: ExploreSpec) -> None:
        self.spec = spec
        self.evaluator = _Evaluator(spec)  # validates workloads, device and space
        self._check_metrics()
        make_sampler(spec, self.space)  # validates the sampler against the space
        self.storage, self.embedded = open_storage(spec)

    @property
    def space(self) -> SearchSpace:
        """The search space."""
        return self.evaluator.space

    def _check_metrics(self) -> None:
        """Every objective and constraint names a metric the device produces."""
        default = self.evaluator.space.config({})
        summary, _ = self.evaluator(default)
        known = sorted(k for k, v in summary.items() if isinstance(v, (int, float)))
        for what, metric in [("objective", o.metric) for o in self.spec.objectives] + [
                ("constraint", c.metric) for c in self.spec.constraints]:
            if metric not in summary:
                raise ConfigError(f"{what} metric {metric!r} is not produced by device "
                                  f"{self.spec.device!r}; available: {', '.join(known)}")

    # ------------------------------------------------------------------ study
    def open_study(self) -> tuple[optuna.Study, bool]:
        """Load or create the study; refuse one that was made for another problem."""
        spec = self.spec
        want = spec.describe()
        try:
            study = optuna.load_study(study_name=spec.study, storage=self.storage)
            created = False
        except KeyError:
            try:
                study = optuna.create_study(
                    study_name=spec.study, storage=self.storage,
                    directions=[o.direction for o in spec.objectives])
                created = True
            except optuna.exceptions.DuplicatedStudyError:  # another worker was faster
                study = optuna.load_study(study_name=spec.study, storage=self.storage)
                created = False
        have = study.user_attrs.get(_ATTR)
        if have is None:
            if not created and study.trials:
                raise ConfigError(f"study {spec.study!r} exists and was not made by accel-sim "
                                  "explore; choose another --study")
            if [d.name.lower() for d in study.directions] != [o.direction for o in
                                                              spec.objectives]:
                raise ConfigError(f"study {spec.study!r} exists with other objectives")
            study.set_user_attr(_ATTR, want)
        elif have != want:
            diff = [k for k in want if have.get(k) != want[k]]
            detail = "; ".join(f"{k}: study has {have.get(k)}, asked {want[k]}" for k in diff)
            raise ConfigError(f"study {spec.study!r} exists with other settings ({detail}); "
                              "use another --study or -o")
        return study, created

    def _recover_dead_trials(self, study: optuna.Study) -> int:
        """Fail RUNNING trials left by a killed single-worker run on the embedded storage, and
        queue them again (their configurations are evaluated first)."""
        if not self.embedded or self.spec.workers != 1:
            return 0
        dead = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for t in dead:
            self.storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number},
                                skip_if_exists=False)
        return len(dead)

    def warm_start(self, study: optuna.Study, source: str,
                   designs: list[dict] | None = None) -> int:
        """Enqueue the feasible Pareto designs of ``source`` (study name, output folder or
        CSV); returns how many were queued."""
        if designs is None:
            designs = _warm_designs(source, self.spec, self.storage)
        queued = 0
        for raw in designs:
            params = {}
            for k, v in raw.items():
                if k not in self.space.names:
                    continue
                if isinstance(v, str):
                    try:
                        v = _parse_csv_value(self.space, k, v)
                    except AccelSimError:
                        continue
                params[k] = v
            ok = {k: v for k, v in params.items() if _in_space(self.space, k, v)}
            if ok:
                study.enqueue_trial(ok, user_attrs={"warm_start": source},
                                    skip_if_exists=True)
                queued += 1
        return queued

    # ------------------------------------------------------------------ objective
    def objective(self, sampler: _TimedSampler, worker: int) -> Callable[[Any], Any]:
        spec, space = self.spec, self.space

        def run(trial: optuna.Trial) -> Sequence[float]:
            params = space.suggest(trial)
            try:
                config = space.config(params)
            except AccelSimError as exc:  # a combination the device's own checks reject
                trial.set_user_attr("invalid", str(exc))
                raise optuna.TrialPruned(str(exc)) from None
            t0 = time.perf_counter()
            try:
                summary, violation = self.evaluator(config)
            except AccelSimError as exc:  # e.g. the weights alone do not fit the memory
                trial.set_user_attr("invalid", str(exc))
                raise optuna.TrialPruned(str(exc)) from None
            trial.set_user_attr("eval_time_s", time.perf_counter() - t0)
            trial.set_user_attr("metrics", metrics_json(summary))
            for c in spec.constraints:
                trial.set_constraint(c.name, c.violation(summary))
            trial.set_constraint("device", float(violation))
            trial.set_user_attr("sampler_time_s", sampler.spent.pop(trial.number, 0.0))
            trial.set_user_attr("worker", worker)
            return [o.value(summary) for o in spec.objectives]

        return run

    def optimize(self, study: optuna.Study, worker: int = 0,
                 progress: Callable[[int], None] | None = None) -> None:
        """Run trials in this process until the study has ``spec.trials`` complete ones."""
        spec = self.spec
        sampler = _TimedSampler(make_sampler(spec, self.space, worker))
        study.sampler = sampler
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        remaining = spec.trials - done
        if remaining <= 0:
            return
        callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = [
            MaxTrialsCallback(spec.trials, states=(TrialState.COMPLETE,))]
        if progress is not None:
            callbacks.append(lambda s, t: progress(1) if t.state is TrialState.COMPLETE
                             else None)
        study.optimize(self.objective(sampler, worker), n_trials=2 * remaining + 10,
                       callbacks=callbacks, gc_after_trial=False)

    def settle(self, study: optuna.Study) -> None:
        """Wait until no trial is RUNNING: trials of live workers finish, those of dead
        workers go stale (RDB heartbeats) and are failed and queued for retry."""
        if not isinstance(self.storage, RDBStorage):
            return
        hb = max(1, round(self.spec.heartbeat_s))
        deadline = time.monotonic() + 3 * hb + 5
        while time.monotonic() < deadline:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(min(1.0, hb / 2))

    # ------------------------------------------------------------------ run
    def run(self, *, progress: bool = True, write: bool = True) -> ExploreResult:
        """Create or resume the study, run the trials (with ``spec.workers`` processes) and
        write the outputs."""
        spec = self.spec
        t0 = time.perf_counter()
        # read the warm-start source first: a bad one must not leave an empty study behind
        designs = _warm_designs(spec.warm_start, spec, self.storage) if spec.warm_start else []
        study, created = self.open_study()
        before = {t.number for t in study.get_trials(deepcopy=False)}
        recovered = self._recover_dead_trials(study)
        if recovered:
            print(f"resuming: {recovered} trial(s) of a killed run queued again")
        if spec.warm_start and created:
            n = self.warm_start(study, spec.warm_start, designs)
            print(f"warm start: {n} Pareto design(s) of {spec.warm_start} queued")
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        bar = None
        if progress and done < spec.trials:
            from .._progress import progress_bar

            bar = progress_bar(spec.trials, initial=min(done, spec.trials), unit="trial",
                               desc=f"explore {spec.study}", leave=True)
        try:
            if spec.workers == 1:
                self.optimize(study, 0, progress=bar.update if bar else None)
            else:
                self._run_workers(study, bar)
            self.settle(study)
        finally:
            if bar is not None:
                bar.close()
        ran = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
        sampler_s = sum(t.user_attrs.get("sampler_time_s", 0.0) for t in ran)
        data = collect(study, [o.name for o in spec.objectives],
                       [o.direction for o in spec.objectives])
        paths = write_outputs(data, spec.output) if write else {}
        return ExploreResult(study, data, paths, len(ran), sampler_s, time.perf_counter() - t0)

    def _run_workers(self, study: optuna.Study, bar) -> None:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker_main, args=(self.spec, i), daemon=False)
                 for i in range(self.spec.workers)]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            if bar is not None:
                n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
                bar.n = min(n, self.spec.trials)
                bar.refresh()
        for p in procs:
            p.join()
        bad = [p.exitcode for p in procs if p.exitcode != 0]
        if bad:
            raise AccelSimError(f"{len(bad)} worker process(es) failed (exit codes {bad})")


def _worker_main(spec: ExploreSpec, worker: int) -> None:
    from .._progress import set_progress

    set_progress(False)  # the parent draws the bar
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ex = Explorer(spec)
    study = optuna.load_study(study_name=spec.study, storage=ex.storage)
    ex.optimize(study, worker)


# ---------------------------------------------------------------------- warm start
def _in_space(space: SearchSpace, name: str, value: Any) -> bool:
    for dim in space.dimensions:
        if dim.name != name:
            continue
        d = dim.distribution
        if isinstance(d, CategoricalDistribution):
            return value in d.choices
        if isinstance(d, (IntDistribution, FloatDistribution)):
            return isinstance(value, (int, float)) and d.low <= value <= d.high
    return False


def _parse_csv_value(space: SearchSpace, name: str, text: str) -> Any:
    spec = space.config_cls.spec(name)
    return spec.parse(text, "warm-start")


def _warm_designs(source: str, spec: ExploreSpec, storage: BaseStorage) -> list[dict]:
    """Parameters of the feasible Pareto designs of a study, output folder or CSV (values
    from a CSV are strings)."""
    metrics = [o.metric for o in spec.objectives]
    signs = [1.0 if o.direction == "minimize" else -1.0 for o in spec.objectives]
    if os.path.isdir(source):
        for name in ("pareto.csv", "trials.csv"):
            if os.path.exists(os.path.join(source, name)):
                source = os.path.join(source, name)
                break
        else:
            raise ConfigError(f"--warm-start {source}: no pareto.csv or trials.csv there")
    if source.lower().endswith(".csv"):
        try:
            with open(source, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise ConfigError(f"--warm-start {source}: cannot read ({exc.strerror})") from None
        rows = [r for r in rows if r.get("state", "COMPLETE") == "COMPLETE"
                and r.get("feasible", "True") in ("True", "true", "1", "")]
        if rows and all(m in rows[0] for m in metrics):
            pts = [[float(r[m]) * s for m, s in zip(metrics, signs, strict=True)]
                   for r in rows]
            mask = pareto_mask(np.array(pts))
            rows = [r for r, keep in zip(rows, mask, strict=True) if keep]
        return [{k.removeprefix("param_"): v for k, v in r.items() if k.startswith("param_")
                 and v != ""} for r in rows]
    try:
        other = optuna.load_study(study_name=source, storage=storage)
    except KeyError:
        raise ConfigError(f"--warm-start {source}: no such study, folder or .csv file"
                          ) from None
    done = [t for t in other.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if all(v <= 0 for v in t.constraints.values())]
    if not done:
        return []
    dirs = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0
            for d in other.directions]
    pts = np.array([[v * s for v, s in zip(t.values, dirs, strict=True)] for t in done])
    return [dict(t.params) for t, keep in zip(done, pareto_mask(pts), strict=True) if keep]
