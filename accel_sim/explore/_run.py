"""Running an exploration: study, samplers, workers, resume, warm start, interruptions.

The trial loop is Optuna's ask-and-tell: before asking for a trial a process counts the
study's complete and running trials (under a lock shared by the workers of an embedded
study), so a study ends with exactly ``trials`` complete ones; a trial cut short by a signal
is told FAIL before the process ends, so no trial is left RUNNING by a stopped run, and one
left by a killed run is failed and its configuration queued again when the study resumes.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from .._device import Device
from .._ir import Trace
from .._procs import (
    children_start_blocked,
    deferred_interrupts,
    die_with_parent,
    interruptible,
    unblock_stop_signals,
)
from .._registry import devices_measuring, get_device
from ..errors import AccelSimError, ConfigError, Interrupted, first_line
from ._accuracy_cache import FileAccuracyCache
from ._outputs import ExplorationData, collect, metrics_json, write_outputs
from ._pareto import pareto_mask, promotable
from ._space import FamilyConfig, FamilySpace, SearchSpace
from ._spec import ExploreSpec
from ._storage import (
    FolderLock,
    hold_worker_lock,
    open_storage,
    storage_choice,
    sync_storage,
)

__all__ = ["ExploreResult", "Explorer", "TimedSampler", "make_sampler", "open_storage"]

_ATTR = "accel_sim"
#: ``failed`` notes of trials whose configuration a resumed study runs again.
_UNFINISHED = frozenset({"interrupted", "not run: interrupted", "killed", "worker stopped"})


# ---------------------------------------------------------------------- samplers
class TimedSampler(BaseSampler):
    """Delegates to a sampler and records the time it spends per trial number (``spent``:
    trial number -> seconds); :meth:`Explorer.objective` records and clears it per trial."""

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

    def infer_relative_search_space(self, study, trial):
        return self._timed(trial, lambda: self.inner.infer_relative_search_space(study, trial))

    def sample_relative(self, study, trial, search_space):
        return self._timed(trial, lambda: self.inner.sample_relative(study, trial,
                                                                     search_space))

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._timed(trial, lambda: self.inner.sample_independent(
            study, trial, param_name, param_distribution))

    def before_trial(self, study, trial):
        self._timed(trial, lambda: self.inner.before_trial(study, trial))

    def after_trial(self, study, trial, state, values):
        if isinstance(self.inner, optuna.samplers.GridSampler):
            # its after_trial only calls study.stop(), which works inside optimize() only
            return
        self.inner.after_trial(study, trial, state, values)

    def exhausted(self, study: optuna.Study) -> bool:
        """Whether a grid sampler has visited every point."""
        return (isinstance(self.inner, optuna.samplers.GridSampler)
                and self.inner.is_exhausted(study))

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def make_sampler(spec: ExploreSpec, space: SearchSpace | FamilySpace, worker: int = 0,
                 cost_params: Collection[str] = ()) -> BaseSampler:
    """The sampler named in the spec (each worker gets its own seed). ``parego`` also takes
    the space's conditional parameters and ``cost_params``, the parameters whose new
    combinations cost a measurement (:class:`~accel_sim.explore._gp.ParEgoSampler`)."""
    seed = None if spec.seed is None else spec.seed + worker
    if spec.sampler == "parego":
        from ._gp import ParEgoSampler

        conditions = {}
        if isinstance(space, SearchSpace):
            searched = {d.name for d in space.dimensions}
            conditions = {d.name: d.spec.active_if for d in space.dimensions
                          if d.spec.active_if is not None and d.spec.active_if[0] in searched}
        return ParEgoSampler(seed=seed, conditions=conditions, cost_params=cost_params)
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
def accuracy_cache_path(spec: ExploreSpec) -> str | None:
    """The accuracy cache of a study: ``--accuracy-cache``, or ``accuracy_cache.jsonl`` beside
    the output folder when an objective or constraint is ``accuracy`` (``None``: no cache)."""
    if spec.accuracy_cache is not None:
        return None if spec.accuracy_cache.lower() == "off" else spec.accuracy_cache
    if not spec.measures_accuracy:
        return None
    parent = os.path.dirname(os.path.abspath(spec.output))
    return os.path.join(parent, "accuracy_cache.jsonl")


class _Evaluator:
    """Configuration -> summary metrics, totalled over the workloads."""

    def __init__(self, spec: ExploreSpec) -> None:
        from workloads import load_workloads

        devices = {name: get_device(name) for name in spec.devices}
        self.device = next(iter(devices.values()))
        self.devices = devices
        self.space: SearchSpace | FamilySpace
        self.serving: dict[str, Any] | None = None
        self.traces: list[Trace] = []
        if spec.serve:
            from ..serving import ServingEvaluator

            self.serving = {n: ServingEvaluator(d) for n, d in devices.items()}
            classes = {n: e.config_cls for n, e in self.serving.items()}
        else:
            self.traces = load_workloads(spec.workloads, dims=spec.dims or None)
            if spec.training:
                from .._ir import training_trace

                self.traces = [training_trace(t) for t in self.traces]
            classes = {n: d.Config for n, d in devices.items()}
        if len(classes) == 1:
            self.space = SearchSpace(next(iter(classes.values())), spec.space, spec.fixed)
        else:
            self.space = FamilySpace(classes, spec.space, spec.fixed)
        self.cache_path = accuracy_cache_path(spec)  # opened on the first evaluation
        self.cache: FileAccuracyCache | None = None

    def _resolve(self, config) -> tuple[str, Any]:
        """(device name, the device's own config) of a trial's ``config``."""
        if isinstance(config, FamilyConfig):
            return config.device, config.config
        return next(iter(self.devices)), config

    def _device(self, name: str, config) -> Device:
        """The device ``name`` with ``config``, reading and writing the study's accuracy
        cache (opened on first use)."""
        if self.cache is None and self.cache_path is not None:
            self.cache = FileAccuracyCache(self.cache_path)
        dev = self.devices[name](config)
        dev.accuracy_cache = self.cache
        return dev

    def multi_fidelity(self, config) -> bool:
        """Whether the device of ``config`` measures accuracy at lower fidelities."""
        return self.serving is None and self.devices[self._resolve(config)[0]].multi_fidelity

    def measured(self, config) -> bool:
        """Whether the accuracy cache already holds every full-fidelity accuracy ``config``
        needs (then measuring it at lower fidelities would save nothing)."""
        if self.serving is not None or self.cache_path is None:
            return False
        dev = self._device(*self._resolve(config))
        cache = dev.accuracy_cache
        tasks = [t.task for t in self.traces
                 if t.task is not None and dev.supports_task(t.task) and t.task.accuracy_unit]
        return (cache is not None and bool(tasks)
                and all(cache.get(dev.accuracy_key(task)) is not None for task in tasks))

    def __call__(self, config, fraction: float = 1.0) -> tuple[dict[str, Any], float]:
        """Summary and largest violation of ``config``, its accuracy measured with
        ``fraction`` of the training budget (on devices that can)."""
        name, config = self._resolve(config)
        if self.serving is not None:
            return self.serving[name](config)
        dev = self._device(name, config)
        if dev.multi_fidelity:
            dev.accuracy_fraction = fraction
        reports = [dev.evaluate(t) for t in self.traces]
        total = sum(reports[1:], reports[0])
        violation = max(total.violations.values(), default=0.0)
        return total.summary(), violation


@dataclass(frozen=True)
class ExploreResult:
    """Outcome of :meth:`Explorer.run`.

    Attributes:
        study: The Optuna study.
        data: Its tables (what the output files show).
        paths: Output file name -> path.
        ran: Trials completed by this run.
        sampler_time_s: Time the sampler spent on this run's trials, s.
        wall_s: Wall time of the run, s.
        invalid: Trials of this run pruned as invalid designs (not counted in ``ran``).
        queued: Designs queued by a warm start or for a retry in this run.
        notes: Lines for the user (resumes, warm starts, trials left unfinished).
        stopped: Trials of this run successive halving stopped at a lower fidelity (they
            count against ``--trials``; not in ``ran``).
    """

    study: optuna.Study
    data: ExplorationData
    paths: dict[str, str]
    ran: int
    sampler_time_s: float
    wall_s: float
    invalid: int = 0
    queued: int = 0
    notes: tuple[str, ...] = ()
    stopped: int = 0


class Explorer:
    """Runs (or resumes) one exploration described by an :class:`ExploreSpec`.

    The study is a plain Optuna study: one trial per evaluated configuration, objective values
    in the spec's order, summary metrics in the user attribute ``metrics``, constraints through
    ``trial.set_constraint`` (each ``--constraint`` by its text, plus ``device`` for designs the
    device reports as infeasible), the sampler's time in ``sampler_time_s``. The settings that
    define the study (workloads, device, objectives, constraints, space, fixed values, sampler,
    seed) are stored in the study's user attribute ``accel_sim``; resuming with other settings
    is an error that names what differs.

    Constructing an explorer validates the spec and evaluates nothing; nothing is created on
    disk until :meth:`run` has checked every input (including the metrics, by evaluating the
    default design once).
    """

    def __init__(self, spec: ExploreSpec) -> None:
        if not isinstance(spec, ExploreSpec):
            raise ConfigError(f"Explorer takes an ExploreSpec, got {type(spec).__name__}")
        self.spec = spec
        self.evaluator = _Evaluator(spec)  # validates workloads, device and space
        make_sampler(spec, self.space)  # validates the sampler against the space
        self.choice = storage_choice(spec)  # decides, creates nothing
        self.embedded = self.choice.embedded
        self._storage: BaseStorage | None = None
        self.warm_found = 0  # Pareto designs the last warm_start source had
        self._metrics_checked = False

    @property
    def space(self) -> SearchSpace | FamilySpace:
        """The search space (a :class:`FamilySpace` for several devices)."""
        return self.evaluator.space

    def _cost_params(self) -> frozenset[str]:
        """Parameters whose new combinations cost an accuracy measurement: the device's
        ``accuracy_params`` when accuracy is an objective or a constraint of a one-device,
        non-serving study; none otherwise."""
        spec, ev = self.spec, self.evaluator
        if spec.ignore_cost or not spec.measures_accuracy or ev.serving is not None \
                or len(ev.devices) != 1:
            return frozenset()
        params = ev.device.accuracy_params
        return frozenset() if params is None else frozenset(params)

    @property
    def storage(self) -> BaseStorage:
        """The study storage (opened, and created, on first use)."""
        if self._storage is None:
            self._storage = self.choice.open(self.spec)
        return self._storage

    def check_metrics(self) -> None:
        """Every objective and constraint names a metric the device produces (evaluates the
        default design, once per explorer; :meth:`run` calls it before it writes anything)."""
        if self._metrics_checked:
            return
        space = self.evaluator.space
        for name in self.spec.devices:
            params = {FamilySpace.DEVICE: name} if isinstance(space, FamilySpace) else {}
            try:
                lowest = self.spec.fractions[0] if self.spec.fractions else 1.0
                summary, _ = self.evaluator(space.config(params), lowest)
            except AccelSimError as exc:
                if not isinstance(space, FamilySpace):
                    raise
                what = "the serving scenario" if self.spec.serve else (
                    "workload(s) " + ", ".join(self.spec.workloads))
                raise ConfigError(f"device {name!r} cannot run {what}: "
                                  f"{first_line(exc)}") from None
            known = sorted(k for k, v in summary.items() if isinstance(v, (int, float)))
            for what, metric in [("objective", o.metric) for o in self.spec.objectives] + [
                    ("constraint", c.metric) for c in self.spec.constraints]:
                if metric not in summary:
                    why = ""
                    if metric == "accuracy":
                        why = self._accuracy_hint()
                    raise ConfigError(f"{what} metric {metric!r} is not produced by device "
                                      f"{name!r}{why}; available: {', '.join(known)}")
        self.spec.directions()  # every objective's metric declares its direction
        self._metrics_checked = True

    def _accuracy_hint(self) -> str:
        """Why a device reports no accuracy: the workloads' tasks and who measures them."""
        tasks = {type(t.task) for t in self.evaluator.traces if t.task is not None
                 and t.task.accuracy_unit}
        if not tasks:
            return (" (no workload carries a task with an accuracy: digits_mlp, digits_cnn, "
                    "or replay with env=)")
        kinds = ", ".join(sorted(t.kind for t in tasks))
        who = sorted({n for t in tasks for n in devices_measuring(t)})
        return f" (it does not measure {kinds} tasks; devices that do: {', '.join(who)})"

    def describe(self) -> dict[str, Any]:
        """The settings that identify the study (stored with it, compared on resume)."""
        return {**self.spec.describe(), "space": self.space.describe(),
                "fixed": {k: _jsonable(v) for k, v in sorted(self.space.fixed.items())},
                # the declared defaults: a study is not continued after the model's
                # defaults changed (its trials would mix two models)
                "defaults": {k: _jsonable(v) for k, v in self.space.defaults().items()}}

    # ------------------------------------------------------------------ study
    def open_study(self) -> tuple[optuna.Study, bool]:
        """Load or create the study; refuse one that was made with other settings."""
        spec = self.spec
        want = self.describe()
        try:
            study = optuna.load_study(study_name=spec.study, storage=self.storage)
            created = False
        except KeyError:
            try:
                study = optuna.create_study(
                    study_name=spec.study, storage=self.storage,
                    directions=spec.directions())
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
            return study, created
        if "space" not in have:
            raise ConfigError(
                f"study {spec.study!r} in {self._where()} was made by an earlier accel_sim "
                "that did not record its search space and device settings, so it cannot be "
                "continued safely (device defaults may have changed since); use another -o "
                "or --study")
        diff = [k for k in want if k in have and have[k] != want[k]]
        diff += [k for k in ("training", "serve", "dims") if k in have and k not in want]
        if diff:
            detail = "; ".join(_difference(k, have.get(k), want.get(k)) for k in diff)
            raise ConfigError(f"study {spec.study!r} in {self._where()} was made with other "
                              f"settings ({detail}); use another -o or --study, or give the "
                              "study's settings to continue it")
        if any(k not in have for k in want):
            study.set_user_attr(_ATTR, {**have, **want})
        return study, created

    def _where(self) -> str:
        return self.spec.output if self.embedded else str(self.spec.storage)

    def _recover_dead_trials(self, study: optuna.Study) -> int:
        """Fail RUNNING trials left by a killed run (the caller holds the output folder, so
        no live process owns them), and queue again, while the budget allows, the
        configurations of trials a stopped or killed run did not finish: those RUNNING now,
        those failed as interrupted, and queued ones an interruption kept from running.
        Returns how many were queued."""
        if not self.embedded:
            return 0
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.storage.set_trial_user_attr(t._trial_id, "failed", "killed")
            self.storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        lost = [t for t in trials if t.state is TrialState.FAIL and t.number not in retried
                and t.user_attrs.get("failed") in _UNFINISHED]
        # this process holds the folder: only its own enqueues change the count below
        room = self.spec.trials - _used(study, TrialState.WAITING)
        queued = 0
        for t in lost[:max(room, 0)]:
            attrs = {"retry_of": t.number}
            if "warm_start" in t.user_attrs:
                attrs["warm_start"] = t.user_attrs["warm_start"]
            study.enqueue_trial(t.params, user_attrs=attrs, skip_if_exists=False)
            queued += 1
        return queued

    def warm_start(self, study: optuna.Study, source: str,
                   designs: list[dict] | None = None) -> int:
        """Enqueue the feasible Pareto designs of ``source`` (study name, output folder or
        CSV) that fit the trial budget, spread along the front; returns how many were
        queued (:attr:`warm_found`: how many the source had)."""
        if designs is None:
            designs = _warm_designs(source, self.spec, self.storage)
        usable = []
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
            if ok and ok not in usable:
                usable.append(ok)
        room = self.spec.trials - _used(study, TrialState.WAITING)
        if len(usable) > room:  # keep designs spread over the front (it is sorted)
            keep = np.unique(np.linspace(0, len(usable) - 1, max(room, 0)).round().astype(int))
            usable = [usable[i] for i in keep]
        for params in usable:
            study.enqueue_trial(params, user_attrs={"warm_start": source},
                                skip_if_exists=True)
        self.warm_found = len(designs)
        return len(usable)

    # ------------------------------------------------------------------ objective
    def objective(self, sampler: TimedSampler, worker: int) -> Callable[[Any], Any]:
        """The trial function: suggest, evaluate, record metrics and constraints."""
        spec, space = self.spec, self.space

        def record(trial: optuna.Trial, summary: dict[str, Any], violation: float,
                   t0: float) -> None:
            with deferred_interrupts():
                trial.set_user_attr("metrics", metrics_json(summary))
                for c in spec.constraints:
                    trial.set_constraint(c.name, c.violation(summary))
                trial.set_constraint("device", float(violation))
                trial.set_user_attr("eval_time_s", time.perf_counter() - t0)
                trial.set_user_attr("sampler_time_s", sampler.spent.pop(trial.number, 0.0))
                trial.set_user_attr("worker", worker)

        def run(trial: optuna.Trial) -> Sequence[float]:
            params = space.suggest(trial)
            t0 = time.perf_counter()
            try:
                config = space.config(params)  # the device's own cross-field checks
                bracket = spec.bracket_of(trial.number)
                fractions = spec.fractions[len(spec.fractions) - bracket:] if bracket else ()
                if fractions and not self.evaluator.multi_fidelity(config):
                    fractions = ()  # a family study's device that trains for no accuracy
                if fractions and self.evaluator.measured(config):
                    fractions = ()  # its full-fidelity accuracy is cached: nothing to save
                if spec.brackets > 1:
                    with deferred_interrupts():
                        trial.set_user_attr("bracket", bracket)
                fidelity = 1.0
                for rung, fraction in enumerate(fractions):
                    summary, violation = self.evaluator(config, fraction)
                    if self._infeasible(summary, violation):
                        fidelity = fraction  # no accuracy can make it feasible: done
                        break
                    key = (f"mf_rung_{rung}" if spec.brackets <= 1 else
                           f"mf_b{bracket}_rung_{rung}")
                    if not self._promoted(trial, key, summary):
                        record(trial, summary, violation, t0)
                        with deferred_interrupts():
                            trial.set_user_attr("fidelity", fraction)
                            trial.set_user_attr("stopped", (
                                f"not promoted at fidelity {fraction:.4g} (rung {rung + 1} of "
                                f"{len(fractions)})"))
                        raise _Stopped()
                else:
                    summary, violation = self.evaluator(config)
            except AccelSimError as exc:  # e.g. the weights alone do not fit the memory
                trial.set_user_attr("invalid", str(exc))
                raise optuna.TrialPruned(str(exc)) from None
            record(trial, summary, violation, t0)
            if spec.multi_fidelity:
                with deferred_interrupts():
                    trial.set_user_attr("fidelity", fidelity)
            return [o.value(summary) for o in spec.objectives]

        return run

    def _infeasible(self, summary: dict[str, Any], violation: float) -> bool:
        """Whether the device or a constraint that does not involve accuracy rules the design
        out (whatever its accuracy: ``--multi-fidelity`` completes it at the fidelity that
        showed it, infeasible, and measures no more)."""
        return violation > 0 or any(c.violation(summary) > 0 for c in self.spec.constraints
                                    if c.metric != "accuracy")

    def _promoted(self, trial: optuna.Trial, key: str, summary: dict[str, Any]) -> bool:
        """Successive halving (``--multi-fidelity``): record the trial's objectives at a
        lower fidelity under ``key`` (its bracket's rung) and say whether it goes on to the
        next: when it ranks in the top 1/``reduction`` of every trial of the study recorded
        there (:func:`~accel_sim.explore._pareto.promotable`; infeasible ones are not
        measured)."""
        spec = self.spec
        signs = [1.0 if d == "minimize" else -1.0 for d in spec.directions()]
        mine = [o.value(summary) * s for o, s in zip(spec.objectives, signs, strict=True)]
        with deferred_interrupts():
            trial.set_user_attr(key, mine)
        if not _finite(mine):
            return False
        others = [t.user_attrs[key] for t in trial.study.get_trials(deepcopy=False)
                  if t.number != trial.number and key in t.user_attrs
                  and _finite(t.user_attrs[key])]
        return promotable(np.array([*others, mine], dtype=float), len(others),
                          spec.reduction)

    def optimize(self, study: optuna.Study, worker: int = 0,
                 progress: Callable[[int], None] | None = None,
                 slot_lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
                 ) -> tuple[int, int]:
        """Run trials in this process until the study has ``spec.trials`` complete ones
        (counting those other processes are running); returns (completed, invalid).

        ``slot_lock`` serialises the count-and-ask step between processes (``None``: this
        process is the only one asking, or the storage is shared with other machines and
        the budget may be overshot by the trials running elsewhere). A signal during a
        trial tells it FAIL and re-raises.
        """
        spec = self.spec
        sampler = TimedSampler(make_sampler(spec, self.space, worker, self._cost_params()))
        study.sampler = sampler
        fn = self.objective(sampler, worker)
        lock = slot_lock or contextlib.nullcontext
        remaining = spec.trials - _used(study)
        budget = 2 * max(remaining, 0) + 10  # trials asked, invalid ones included
        heartbeats = (isinstance(self.storage, RDBStorage)
                      and bool(self.storage.get_heartbeat_interval()))
        completed = invalid = 0
        while budget > 0:
            with lock(), deferred_interrupts():
                if heartbeats:  # a dead worker's trial must not hold a place in the budget
                    _fail_stale(study)
                if _used(study, TrialState.RUNNING) >= spec.trials or sampler.exhausted(study):
                    break
                with warnings.catch_warnings():  # we record heartbeats ourselves
                    warnings.filterwarnings("ignore", message="Heartbeat of storage is "
                                            "supposed to be used with Study.optimize")
                    trial = study.ask()
            budget -= 1
            try:
                with _heartbeat(self.storage, trial._trial_id):
                    values = fn(trial)
                with deferred_interrupts():
                    study.tell(trial, values)
            except _Stopped:  # a lower fidelity said no: the trial used its place
                with deferred_interrupts():
                    study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
                completed += 1
                if progress is not None:
                    progress(1)
                continue
            except optuna.TrialPruned:
                with deferred_interrupts():
                    study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
                invalid += 1
                continue
            except UpdateFinishedTrialError:
                # the trial went stale (its heartbeat stopped, e.g. a lost database
                # connection) and was failed and queued again meanwhile: the retry counts
                continue
            except BaseException as exc:
                with deferred_interrupts():
                    note = ("interrupted" if isinstance(exc, KeyboardInterrupt)
                            else f"{type(exc).__name__}: {exc}")
                    with contextlib.suppress(UpdateFinishedTrialError):
                        trial.set_user_attr("failed", note[:500])
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                raise
            completed += 1
            if progress is not None:
                progress(1)
        return completed, invalid

    def fill(self, study: optuna.Study, worker: int = 0,
             progress: Callable[[int], None] | None = None,
             slot_lock: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
             ) -> None:
        """:meth:`optimize`, then :meth:`settle`; on a shared database, repeated while a
        dead worker's trial (counted as RUNNING until its heartbeat went stale) came back to
        the queue and the study still lacks complete trials."""
        for _ in range(100):  # rounds; each completes a trial or retries a dead worker's
            completed, _ = self.optimize(study, worker, progress, slot_lock)
            self.settle(study)
            if (not isinstance(self.storage, RDBStorage)
                    or _used(study) >= self.spec.trials
                    or (completed == 0 and not _count(study, TrialState.WAITING))):
                return

    def settle(self, study: optuna.Study) -> None:
        """Wait until no trial is RUNNING: trials of live workers finish, those of dead
        workers go stale (RDB heartbeats) and are failed and queued for retry."""
        if not isinstance(self.storage, RDBStorage):
            return
        hb = max(1, round(self.spec.heartbeat_s))
        deadline = time.monotonic() + 3 * hb + 5
        while time.monotonic() < deadline:
            _fail_stale(study)
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(min(1.0, hb / 2))

    # ------------------------------------------------------------------ run
    def run(self, *, progress: bool = True, write: bool = True) -> ExploreResult:
        """Create or resume the study, run the trials (with ``spec.workers`` processes) and
        write the outputs.

        Ctrl-C or SIGTERM stops the trials within moments: the trial in flight is told FAIL,
        worker processes end, the outputs are written for the trials that completed, and
        :class:`~accel_sim.errors.Interrupted` is raised saying so. Rerunning the same
        command continues the study.
        """
        spec = self.spec
        t0 = time.perf_counter()
        self.check_metrics()  # one evaluation of the default design, before any file
        # read the warm-start source first: a bad one must not leave an empty study behind
        designs = _warm_designs(spec.warm_start, spec, None) if spec.warm_start else []
        folder = FolderLock(os.path.abspath(spec.output)) if self.embedded else None
        with interruptible():
            if folder is not None:
                folder.acquire()  # releases what it took if interrupted while waiting
            try:
                return self._run_locked(designs, progress, write, t0)
            finally:
                if folder is not None:
                    folder.release()

    def _run_locked(self, designs: list[dict], progress: bool, write: bool,
                    t0: float) -> ExploreResult:
        spec = self.spec
        with deferred_interrupts():
            if self._storage is None:
                self._storage = self.choice.open(spec, repair=self.embedded)
            study, created = self.open_study()
            before = {t.number for t in study.get_trials(deepcopy=False)}
            notes: list[str] = []
            queued = self._recover_dead_trials(study)
            if queued:
                notes.append(f"resuming: {queued} trial(s) of a killed run queued again")
            running = _count(study, TrialState.RUNNING)
            if running and self.choice.kind == "journal" and not self.embedded:
                notes.append(
                    f"note: {running} trial(s) are RUNNING in {spec.storage} and count "
                    "against --trials; a journal file has no heartbeats, so trials of killed "
                    "processes stay RUNNING (use the embedded storage or PostgreSQL to have "
                    "them retried)")
            if spec.warm_start and created:
                n = self.warm_start(study, spec.warm_start, designs)
                found = self.warm_found
                queued += n
                more = (f" (the trial budget holds {n}; the others were not queued)"
                        if n < found else "")
                notes.append(f"warm start: {n} of {found} Pareto design(s) of "
                             f"{spec.warm_start} queued{more}")
        done = _used(study)
        bar = None
        if progress and done < spec.trials:
            from .._progress import progress_bar

            bar = progress_bar(spec.trials, initial=min(done, spec.trials), unit="trial",
                               desc=f"explore {spec.study}", leave=True)
        stopped: KeyboardInterrupt | None = None
        try:
            if spec.workers == 1:
                self.fill(study, 0, progress=bar.update if bar else None)
            else:
                self._run_workers(study, bar)
                self.settle(study)
        except KeyboardInterrupt as exc:
            stopped = exc
        finally:
            if bar is not None:
                bar.close()
        with deferred_interrupts():
            if self.embedded:  # no other process: nothing may stay RUNNING or WAITING
                self._close_leftovers(study, notes, stopped is not None)
                sync_storage(self.storage)
            ran = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
            complete = [t for t in ran if t.state is TrialState.COMPLETE]
            sampler_s = sum(float(t.user_attrs.get("sampler_time_s", 0.0)) for t in ran)
            invalid = sum(t.state is TrialState.PRUNED and "stopped" not in t.user_attrs
                          for t in ran)
            halted = sum(t.state is TrialState.PRUNED and "stopped" in t.user_attrs
                         for t in ran)
            data = collect(study, [o.name for o in spec.objectives], spec.directions())
            paths = write_outputs(data, spec.output) if write else {}
        if stopped is not None:
            sig = stopped if isinstance(stopped, Interrupted) else Interrupted(2)
            wrote = (f"; wrote {', '.join(sorted(os.path.basename(p) for p in paths))} in "
                     f"{spec.output}" if paths else "")
            raise sig.with_detail(
                f"explore stopped with {len(data.values)} complete trial(s) in study "
                f"{spec.study!r}{wrote}; run the same command again to continue") from None
        return ExploreResult(study, data, paths, len(complete), sampler_s,
                             time.perf_counter() - t0, invalid, queued, tuple(notes), halted)

    def _close_leftovers(self, study: optuna.Study, notes: list[str], stopped: bool) -> None:
        """Fail trials still RUNNING (a worker that died) or WAITING (the budget was reached,
        or the run was stopped, before their turn) so that the study says exactly what
        happened; those of a stopped run are queued again when the study resumes."""
        left = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
        for t in left:
            if t.state is TrialState.RUNNING:
                why = "interrupted" if stopped else "worker stopped"
            else:
                why = "not run: interrupted" if stopped else "not run: trial budget reached"
            self.storage.set_trial_user_attr(t._trial_id, "failed", why)
            self.storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        if left:
            again = " (queued again when the study resumes)" if stopped else ""
            notes.append(f"{len(left)} trial(s) left unfinished were marked FAIL{again}")

    def _run_workers(self, study: optuna.Study, bar: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker_main, args=(self.spec, i, os.getpid()),
                             daemon=False) for i in range(self.spec.workers)]
        try:
            with deferred_interrupts(), children_start_blocked():
                for p in procs:
                    p.start()
            while any(p.is_alive() for p in procs):
                time.sleep(0.2)
                if bar is not None:
                    n = _used(study)
                    bar.n = min(n, self.spec.trials)
                    bar.refresh()
        except KeyboardInterrupt:
            _stop(procs)
            raise
        for p in procs:
            p.join()
        bad = [p.exitcode for p in procs if p.exitcode != 0]
        if bad:
            raise AccelSimError(f"{len(bad)} worker process(es) failed (exit codes {bad})")


@contextlib.contextmanager
def _heartbeat(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every interval while it runs (RDB storages with
    heartbeats; ask-and-tell does not start Optuna's own heartbeat thread), so that the trial
    of a worker that dies goes stale and is retried."""
    interval = (storage.get_heartbeat_interval() if isinstance(storage, RDBStorage)
                else None)
    if not interval:
        yield
        return
    rdb = cast(RDBStorage, storage)
    import threading

    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                rdb.record_heartbeat(trial_id)
            except Exception:
                # the database is unreachable: stop beating, so the trial goes stale and is
                # retried by a live worker; this worker's tell then meets a finished trial
                # (UpdateFinishedTrialError), which optimize() takes as that retry
                return
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _stop(procs: list[Any], grace_s: float = 5.0) -> None:
    """SIGTERM the workers (they fail their trial and exit), SIGKILL any after ``grace_s``."""
    procs = [p for p in procs if p.pid is not None]  # started
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _worker_main(spec: ExploreSpec, worker: int, parent_pid: int) -> None:
    import sys

    from .. import _progress

    die_with_parent(parent_pid)
    _progress.install(None)  # the parent draws the bar
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with interruptible():
            unblock_stop_signals()  # started blocked: handlers are in place now
            ex = Explorer(spec)
            slot = None
            if ex.embedded:
                out = os.path.abspath(spec.output)
                hold_worker_lock(out)  # released by the kernel when this process ends
                slot = lambda: _file_lock(os.path.join(out, ".ask.lock"))  # noqa: E731
            study = optuna.load_study(study_name=spec.study, storage=ex.storage)
            ex.fill(study, worker, slot_lock=slot)
    except KeyboardInterrupt as exc:  # the parent reports it
        sys.exit(exc.exit_status if isinstance(exc, Interrupted) else 130)
    except AccelSimError as exc:
        print(f"accel-sim: error: worker {worker}: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # a database or model failure: one line, not a traceback
        text = " ".join(str(exc).split())[:300]
        print(f"accel-sim: error: worker {worker} failed: {type(exc).__name__}: {text}",
              file=sys.stderr)
        sys.exit(1)


def _fail_stale(study: optuna.Study) -> None:
    """Fail (and, by the storage's callback, queue again) the trials of dead workers."""
    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _used(study: optuna.Study, *states: TrialState) -> int:
    """Trials that used a place in the budget: complete ones, those successive halving
    stopped at a lower fidelity, and those in ``states``."""
    want = (TrialState.COMPLETE, TrialState.PRUNED, *states)
    return sum(1 for t in study.get_trials(deepcopy=False, states=want)
               if t.state is not TrialState.PRUNED or "stopped" in t.user_attrs)


def _finite(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and np.isfinite(v)
                                            for v in values)


class _Stopped(optuna.TrialPruned):
    """A trial successive halving stopped at a lower fidelity (it counts as run)."""


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (bool, int, float, str)) or v is None else str(v)


def _difference(key: str, have: Any, want: Any) -> str:
    """``key: study has X, asked Y``; for mappings only the entries that differ."""
    if isinstance(have, dict) and isinstance(want, dict) and key == "defaults":
        keys = [k for k in {**have, **want} if have.get(k) != want.get(k)]
        have = {k: have.get(k, "(none)") for k in keys}
        want = {k: want.get(k, "(none)") for k in keys}
        return (f"{key} of the device model: study has {_show(have)}, now {_show(want)}")
    return f"{key}: study has {_show(have)}, asked {_show(want)}"


def _show(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={x}" for k, x in v.items()) + "}" if v else "{}"
    if isinstance(v, list):
        return ",".join(str(x) for x in v) or "[]"
    return str(v)


# ---------------------------------------------------------------------- warm start
def _in_space(space: SearchSpace | FamilySpace, name: str, value: Any) -> bool:
    for dim in space.dimensions:
        if dim.name != name:
            continue
        d = dim.distribution
        if isinstance(d, CategoricalDistribution):
            return value in d.choices
        if isinstance(d, (IntDistribution, FloatDistribution)):
            return isinstance(value, (int, float)) and d.low <= value <= d.high
    return False


def _parse_csv_value(space: SearchSpace | FamilySpace, name: str, text: str) -> Any:
    return space.param_spec(name).parse(text, "warm-start")


def _warm_designs(source: str, spec: ExploreSpec, storage: BaseStorage | None
                  ) -> list[dict]:
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
    if storage is None:  # a study in this exploration's storage, if that exists already
        choice = storage_choice(spec)
        exists = (not choice.embedded or os.path.exists(choice.location.removeprefix(
            "sqlite:///")))
        if not exists:
            raise ConfigError(f"--warm-start {source}: no such study, folder or .csv file")
        storage = choice.open(spec)
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
    values = np.array([[v * s for v, s in zip(t.values, dirs, strict=True)] for t in done])
    front = [i for i, keep in enumerate(pareto_mask(values)) if keep]
    front.sort(key=lambda i: values[i, 0])  # along the front, as pareto.csv lists it
    return [dict(done[i].params) for i in front]
