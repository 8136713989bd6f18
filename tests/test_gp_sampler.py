"""The explorer's default sampler, ParEGO on a numpy GP (``accel_sim.explore._gp``)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from accel_sim.explore import ExploreSpec, Objective, ParEgoSampler, hypervolume, make_sampler
from accel_sim.explore._gp import _GP, _Encoder

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"rows": IntDistribution(4, 512, log=True), "step": IntDistribution(0, 30, step=3),
         "lr": FloatDistribution(1e-4, 1.0, log=True), "frac": FloatDistribution(0.0, 2.0),
         "dataflow": CategoricalDistribution(("os", "ws", "is"))}


def test_encoding_round_trips_on_the_parameters_grid():
    enc = _Encoder(SPACE)
    assert enc.dim == 4 + 3  # the categorical is one-hot
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = {"rows": int(np.exp(rng.uniform(np.log(4), np.log(512)))) // 1,
             "step": int(rng.integers(0, 11)) * 3, "lr": float(10 ** rng.uniform(-4, 0)),
             "frac": float(rng.uniform(0, 2)), "dataflow": str(rng.choice(["os", "ws", "is"]))}
        p["rows"] = max(4, min(512, p["rows"]))
        x = enc.encode(p)
        assert np.all((x >= 0) & (x <= 1))
        q = enc.decode(x)
        assert q["rows"] == p["rows"] and q["step"] == p["step"] and q["dataflow"] == p["dataflow"]
        assert q["lr"] == pytest.approx(p["lr"], rel=1e-9)
        assert q["frac"] == pytest.approx(p["frac"], rel=1e-9)
    # any point of the cube decodes to a valid value on the grid
    for x in rng.random((200, enc.dim)):
        q = enc.decode(x)
        assert 4 <= q["rows"] <= 512 and q["step"] % 3 == 0 and 0 <= q["step"] <= 30
        assert all(d._contains(d.to_internal_repr(q[n])) for n, d in SPACE.items())


def test_gp_likelihood_gradient_is_the_derivative():
    rng = np.random.default_rng(1)
    x = rng.random((25, 3))
    gp = _GP(x, np.sin(4 * x[:, 0]) + x[:, 1] ** 2, steps=0)
    theta = np.array([math.log(0.3), math.log(0.7), math.log(2.0), 0.2, math.log(1e-3)])
    _, grad = gp._objective(theta)
    for j in range(len(theta)):
        h = np.zeros_like(theta)
        h[j] = 1e-5
        fd = (gp._objective(theta + h)[0] - gp._objective(theta - h)[0]) / 2e-5
        assert grad[j] == pytest.approx(fd, rel=1e-4, abs=1e-6), j


def test_gp_fit_interpolates_and_is_unsure_far_away():
    rng = np.random.default_rng(2)
    x = rng.random((30, 2)) * 0.5  # data in one corner
    y = np.cos(5 * x[:, 0]) + x[:, 1]
    gp = _GP(x, y)
    mu, sd = gp.predict(x)
    assert np.max(np.abs(mu - y)) < 0.02 * np.ptp(y)
    _, sd_far = gp.predict(np.array([[1.0, 1.0]]))
    assert sd_far[0] > 10 * np.median(sd)
    # the fit raises the likelihood of the start
    start = np.array([math.log(0.5)] * 2 + [0.0, math.log(1e-3)])
    assert gp._objective(gp.theta)[0] > gp._objective(start)[0]


def _zdt1(trial: optuna.Trial) -> tuple[float, float]:
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(4)]
    g = 1.0 + 9.0 * sum(x[1:]) / 3.0
    return x[0] + 1e-3, g * (1.0 - math.sqrt(x[0] / g)) + 1e-3


def _hv(study: optuna.Study) -> float:
    pts = np.array([t.values for t in study.trials if t.values is not None])
    return hypervolume(pts, np.array([1.2, 11.0]))


def test_same_seed_same_trials_and_better_than_random():
    runs = {}
    for name, make in (("parego", lambda s: ParEgoSampler(seed=s)),
                       ("random", lambda s: optuna.samplers.RandomSampler(seed=s))):
        hv = []
        for seed in range(3):
            st = optuna.create_study(directions=["minimize"] * 2, sampler=make(seed))
            st.optimize(_zdt1, n_trials=30)
            hv.append(_hv(st))
            runs[name, seed] = [t.params for t in st.trials]
        runs[name] = float(np.median(hv))
    again = optuna.create_study(directions=["minimize"] * 2, sampler=ParEgoSampler(seed=1))
    again.optimize(_zdt1, n_trials=30)
    assert [t.params for t in again.trials] == runs["parego", 1]
    assert runs["parego"] > runs["random"] * 1.02, runs


def test_learns_constraints_and_refused_designs():
    """Half the square is refused (as the explorer marks designs a device rejects), a
    constraint removes half of the rest: after the random start, most trials land in the
    quarter that is both accepted and feasible (random search: a quarter of them)."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        a, b = trial.suggest_float("a", 0.0, 1.0), trial.suggest_float("b", 0.0, 1.0)
        if a > 0.5:
            trial.set_user_attr("invalid", "a > 0.5 is refused")
            raise optuna.TrialPruned()
        trial.set_constraint("b", b - 0.5)
        return a + 0.1, (1.0 - a) + b

    st = optuna.create_study(directions=["minimize"] * 2, sampler=ParEgoSampler(seed=0))
    st.optimize(objective, n_trials=60)
    later = st.trials[30:]
    good = [t for t in later if t.params["a"] <= 0.5 and t.params["b"] <= 0.5]
    assert len(good) >= 0.6 * len(later), len(good)


def test_one_objective_is_expected_improvement():
    st = optuna.create_study(sampler=ParEgoSampler(seed=3))
    st.optimize(lambda t: (t.suggest_float("x", -2.0, 2.0) - 0.3) ** 2 + 1.0, n_trials=25)
    assert st.best_value < 1.0 + 1e-3


def test_it_is_the_explorers_default():
    spec = ExploreSpec(workloads=("resnet18",), device="systolic",
                       objectives=(Objective.parse("latency"), Objective.parse("energy")))
    assert spec.sampler == "parego"
    from accel_sim.explore import Explorer

    assert isinstance(make_sampler(spec, Explorer(spec).space), ParEgoSampler)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="n_startup_trials >= 2"):
        ParEgoSampler(n_startup_trials=1)


def test_snapping_many_rows_is_encode_of_decode():
    enc = _Encoder(SPACE)
    xs = np.random.default_rng(5).random((500, enc.dim))
    want = np.array([enc.encode(enc.decode(x)) for x in xs])
    assert np.allclose(enc.snap(xs), want, rtol=0, atol=1e-12)


def test_log_normal_tails_are_accurate_on_both_sides_of_the_switch():
    """Reference values: scipy.special.log_ndtr (scipy 1.17.1) and, for the expected
    improvement, log(phi(z) (1 + z R(z))) with the Mills ratio R from scipy.special.erfcx."""
    from accel_sim.explore._gp import _log_cdf, _log_ei

    log_phi = {-40.0: -804.6084420137539, -37.0: -689.0305855768908,
               -30.0: -454.32124395634327, -10.0: -53.23128515051248,
               -3.0: -6.60772622151035, 0.5: -0.36894641528865635}
    for x, want in log_phi.items():
        assert float(_log_cdf(np.array([x]))[0]) == pytest.approx(want, rel=1e-10, abs=1e-12)
    log_ei = {-40.0: -808.298568, -25.0: -319.861464, -10.0: -55.5531220,
              -5.0: -16.7443012, -1.0: -2.48512103, 0.0: -0.918938533, 2.0: 0.697383546}
    for z, want in log_ei.items():
        assert float(_log_ei(np.array([z]))[0]) == pytest.approx(want, abs=2e-6)
    # continuous where the asymptotic series takes over
    for f, at in ((_log_cdf, -37.0), (_log_ei, -25.0)):
        lo, hi = f(np.array([at - 1e-7, at + 1e-7]))
        assert abs(hi - lo) < 1e-4


def test_an_infinite_constraint_value_does_not_blind_the_sampler():
    """A metric can be infinite (a throughput over zero bytes), so can a violation; the
    constraint model must stay finite and keep steering to the feasible side."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        a, b = trial.suggest_float("a", 0.0, 1.0), trial.suggest_float("b", 0.0, 1.0)
        trial.set_constraint("a", math.inf if trial.number == 3 else a - 0.2)
        return a + b + 0.1, (1.0 - a) + (1.0 - b) + 0.1

    sampler = ParEgoSampler(seed=0)
    st = optuna.create_study(directions=["minimize"] * 2, sampler=sampler)
    st.optimize(objective, n_trials=60)
    done = st.trials
    enc = _Encoder(st.trials[0].distributions)
    x = np.array([enc.encode(t.params) for t in done])
    (gp,) = sampler._constraint_gps(done, x)
    mu, sd = gp.predict(np.random.default_rng(0).random((50, 2)))
    assert np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))
    # the GP still steers: random search lands on the feasible fifth 20 % of the time
    later = st.trials[30:]
    assert sum(t.params["a"] <= 0.2 for t in later) >= 0.5 * len(later)


# ---------------------------------------------------------------------- conditional parameters
COND = {"mode": CategoricalDistribution(("dense", "sparse")), "n": IntDistribution(1, 10),
        "rows": IntDistribution(1, 64)}
CONDITIONS = {"n": ("mode", ("sparse",))}


def test_inactive_parameters_have_a_code_of_their_own_and_are_not_decoded():
    enc = _Encoder(COND, CONDITIONS)
    dense = enc.encode({"mode": "dense", "rows": 8})  # n absent: inactive
    sparse = enc.encode({"mode": "sparse", "n": 1, "rows": 8})
    col = enc.slices[enc.names.index("n")].start
    assert dense[col] == -0.5 and sparse[col] == 0.0  # n = 1 is the low end, not inactive
    assert "n" not in enc.decode(dense) and enc.decode(sparse)["n"] == 1
    # snapped candidates: n switched off where mode is dense, kept where it is sparse
    rng = np.random.default_rng(0)
    x = enc.snap(rng.random((300, enc.dim)))
    is_sparse = x[:, enc.slices[enc.names.index("mode")].start + 1] == 1.0
    assert np.all(x[~is_sparse, col] == -0.5) and np.all(x[is_sparse, col] >= 0)
    assert np.array_equal(enc.snap(x), x)


def _cond_study(conditions, seed=0, trials=40):
    """min (n - 7)^2 for sparse (dense is 30 worse) + a mild rows term: the GP has to model n."""
    def objective(trial):
        mode = trial.suggest_categorical("mode", ("dense", "sparse"))
        rows = trial.suggest_int("rows", 1, 64)
        base = 30.0 if mode == "dense" else (trial.suggest_int("n", 1, 10) - 7) ** 2
        return base + 0.01 * rows

    study = optuna.create_study(sampler=ParEgoSampler(seed=seed, conditions=conditions))
    study.optimize(objective, n_trials=trials)
    late = study.trials[15:]
    return sum(t.params.get("n") in (6, 7, 8) for t in late) / len(late)


def test_conditional_parameters_are_modelled_not_drawn_at_random():
    """With the condition declared the GP picks n near its optimum 7; without it, n is outside
    the joint space and drawn at random (6-8: 3 of its 10 values, and only in the sparse
    trials). Shares of the trials after the 15th, median of 3 seeds (measured: 0.48 and
    0.16)."""
    modelled = np.median([_cond_study(CONDITIONS, seed=s) for s in range(3)])
    at_random = np.median([_cond_study({}, seed=s) for s in range(3)])
    assert modelled >= 0.4 and at_random <= 0.3


# ---------------------------------------------------------------------- cost-aware acquisition
def _cost_trials(cost_params, seed=0, trials=45, jitter=None):
    """Two objectives that do not depend on the costly ``k`` (10 values); a trial that
    measures a ``k`` no trial measured before takes 1 s, the others 30 ms (as the explorer
    records ``eval_time_s``), each time times ``jitter`` (a seeded noise, +-30 %) if given."""
    seen: set[int] = set()
    noise = np.random.default_rng(jitter)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        k = trial.suggest_int("k", 0, 9)
        t = 0.03 if k in seen else 1.0
        trial.set_user_attr("eval_time_s", t * (noise.uniform(0.7, 1.3) if jitter else 1.0))
        trial.set_user_attr("sampler_time_s", 0.0)
        seen.add(k)
        return x, (1.0 - x) ** 2 + 0.1

    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=ParEgoSampler(seed=seed, cost_params=cost_params))
    study.optimize(objective, n_trials=trials)
    return [t.params for t in study.trials]


def _cost_study(cost_params, seed=0):
    """Distinct ``k`` measured after the 10 start-up trials, beyond those they measured."""
    params = _cost_trials(cost_params, seed)
    start = {p["k"] for p in params[:10]}
    return len({p["k"] for p in params[10:]} - start)


def test_a_costly_setting_is_measured_again_only_when_it_pays():
    """No k improves anything: weighing the cost (here one decade, 1 s against 30 ms) keeps
    the later trials on the k already measured, ignoring it they draw new ones (3 seeds,
    measured: 0, 1, 0 new values against 3, 2, 3)."""
    aware = [_cost_study({"k"}, seed=s) for s in range(3)]
    blind = [_cost_study(set(), seed=s) for s in range(3)]
    assert max(aware) <= 1 and 4 * sum(aware) <= sum(blind), (aware, blind)


def test_timing_noise_does_not_change_the_trials():
    """The cost ratio enters as its decade (here about 33: one decade), so +-30 % noise on
    every trial's time leaves the same seed's trials unchanged."""
    a = _cost_trials({"k"}, seed=1, trials=30, jitter=1)
    b = _cost_trials({"k"}, seed=1, trials=30, jitter=2)
    assert a == b


def test_the_start_up_reuses_measured_settings_once_half_are_measured():
    """Start-up trials draw k at random until 5 distinct values are measured, then copy a
    measured trial's k: the 10 start-up trials measure at most 5 values."""
    for seed in range(3):
        params = _cost_trials({"k"}, seed=seed, trials=10)
        assert len({p["k"] for p in params}) <= 5
        blind = _cost_trials(set(), seed=seed, trials=10)
        assert len({p["k"] for p in blind}) >= 5  # 10 draws of 10 values: 6.5 distinct, mean


def test_the_explorer_passes_the_accuracy_parameters_and_conditions():
    """sat with accuracy: its accuracy parameters are the cost ones and n, m are conditional
    on mode; --ignore-cost (or no accuracy objective) passes none."""
    from accel_sim.explore import Explorer

    def spec(objectives, **kw):
        return ExploreSpec(workloads=("digits_mlp",), device="sat", training=True,
                           objectives=tuple(Objective.parse(o) for o in objectives), **kw)

    ex = Explorer(spec(("latency", "accuracy")))
    assert ex._cost_params() == {"mode", "n", "m", "seed", "train_epochs"}
    sampler = make_sampler(ex.spec, ex.space, cost_params=ex._cost_params())
    assert sampler.conditions["n"][0] == "mode" and sampler.conditions["m"][0] == "mode"
    assert "dense" not in sampler.conditions["n"][1]
    assert Explorer(spec(("latency", "accuracy"), ignore_cost=True))._cost_params() == set()
    assert Explorer(spec(("latency", "energy")))._cost_params() == set()
