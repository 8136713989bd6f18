"""Generate the synthetic conversation length trace ``accel_sim/serving/data/conversations.csv``.

The trace is *generated*, not copied from a dataset: 2,000 requests whose prompt length
(``lin``) and output length (``lout``), in tokens, are drawn from lognormal distributions
fitted to published statistics of a real conversation workload, then filtered as the paper
filters its data. No arrival times are produced (the file has the two columns ``lin,lout``
only; a consumer adds its own arrival process, e.g. Poisson).

Source of the fit
-----------------
Agrawal et al., "Taming Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve",
OSDI 2024 (arXiv:2403.02310), Table 2 "Datasets used for evaluation", row
``openchat_sharegpt4`` (user-shared multi-round ChatGPT-4 conversations; each round is one
request; the paper drops requests with prompt+output > 8192 tokens):

    prompt tokens: median 1730, P90 5696, std 2088
    output tokens: median  415, P90  834, std  101

These figures describe the dataset *after* the 8192-token filter, so the fit targets the
filtered distribution, not the lognormals themselves.

Fit
---
Model: ``lin = max(1, rint(X))``, ``lout = max(1, rint(Y))`` with X ~ lognormal(mu_in,
sigma_in) and Y ~ lognormal(mu_out, sigma_out) independent, conditioned on
``lin + lout <= 8192`` (rejection). :func:`fit` solves for the four parameters so that the
filtered ``lin`` has median 1730 and P90 5696 and the filtered ``lout`` median 415 and P90
834 (the two fields are coupled through the filter, so all four are solved together):

* Filtered distribution, exact (no sampling): the lognormal CDF is evaluated with
  ``math.erfc`` at every rounding-bin edge k + 0.5 (k = 1 .. 8191), giving the pmf of each
  rounded field; the filter is applied by weighting P(lin = k) with P(lout <= 8192 - k)
  (cumulative sums) and renormalising. This is exact for the generator's integer model up
  to floating-point rounding.
* Quantiles: the filtered CDF is interpolated linearly between bin edges (mass spread
  uniformly over each rounding bin), which makes the quantiles continuous in the
  parameters; the interpolated quantile lies within half a token of the discrete one.
* Root search: Newton's method on log(filtered quantile) = log(published), Jacobian by
  central differences (step 1e-6), step halving, started from the unfiltered fit
  (``mu = ln(median)``, ``sigma = ln(P90/median) / z90``). It converges in 7 iterations to
  a log-residual below 1e-11; the result is then rounded to 6 decimals (so the trace does
  not depend on the last bits of the platform's libm). At the rounded parameters the
  interpolated filtered quantiles are within 0.001 tokens of the targets, and the discrete
  ones (smallest k with CDF >= 0.5 / 0.9) equal 1730, 5696, 415 and 834 exactly. Newton
  from four other starting points reaches the same parameters.
* Checks made outside this script: a 40,000,000-candidate Monte-Carlo sample
  (``RandomState(12345)``, same rounding and filter) gives filtered medians / P90s of
  exactly 1730 / 5696 / 415 / 834 and a rejection rate of 35.923 % (exact: 35.921 %); the
  continuous model (no rounding, filter X + Y <= 8192) integrated with scipy's ``quad``
  gives 1729.94 / 5695.68 / 415.00 / 834.00.

Result (printed by the script on every run):

    lin : mu = 8.298171, sigma = 1.805221
    lout: mu = 6.034139, sigma = 0.546929

The filter rejects 35.92 % of candidates (1,054 of the 3,054 drawn for the shipped file,
34.5 %), almost all of them for the prompt: 34.6 % of the fitted prompt lognormal lies
above 8191 tokens on its own. The fitted prompt lognormal is very wide (unfiltered median
4017, P90 40605); only its part below 8192 means anything, and the 36 % rejection is a
property of this model, not a claim about the raw dataset (the paper does not say how many
requests it dropped).

The two published standard deviations are NOT fitted. The prompt std (2088) is an
out-of-sample check: the filtered model gives 2053.8 (-1.6 %). The output std of 101
cannot hold together with median 415 and P90 834 for any distribution (|mean - median| <=
std and Cantelli's inequality would need the mean to be both <= 516 and >= 531), so it is
not usable; the model gives 282.4. ``--model`` prints the exact filtered statistics; the
README compares them with the file and the paper.

Correlation: none published for this dataset, so ``lin`` and ``lout`` are drawn
independently (``--rho 0``, the default), and the fit assumes this. ``--rho`` sets the
correlation of the two underlying normals (a Gaussian copula on the log scale) for other
experiments; the parameters are not refitted then, so the filtered medians and P90s move
away from the published ones.

Post-processing and filter: each value is rounded to the nearest integer (half to even) and
clipped below at 1; there is no per-field cap. A request with lin + lout > 8192 is rejected
and replaced by the next accepted draw. Candidates come in fixed batches of ``BATCH`` rows
from the one seeded ``RandomState`` until ``n`` are accepted, so the output is deterministic
and the trace for a smaller ``n`` is a prefix of the one for a larger ``n``.

Other published figures (used in the README as out-of-sample checks, not fitted):
Patel et al., "Splitwise", ISCA 2024 (arXiv:2311.18677), Sec. III-A: Azure conversation
trace of 2023-11-11, median prompt 1020 tokens, median output 129 tokens. Kwon et al.,
"Efficient Memory Management for LLM Serving with PagedAttention", SOSP 2023
(arXiv:2309.06180), Sec. 6.1 / Fig. 11: ShareGPT mean input 161.31, mean output 337.99
tokens (Alpaca 19.31 / 58.45).

Reproducibility: numpy's legacy ``RandomState`` (its stream is frozen across numpy
versions), seeded with ``--seed`` (default 0); running the script twice writes identical
bytes. The fit uses numpy and the standard library only.

Usage: ``python experiments/make_conversation_trace.py [--seed 0] [--n 2000] [--rho 0]
[--out PATH] [--model]``
"""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path

import numpy as np

#: Published figures the generator is fitted to (Sarathi-Serve, OSDI'24, Table 2). They
#: describe the data *after* the paper's ``lin + lout <= 8192`` filter.
PROMPT_MEDIAN = 1730.0
PROMPT_P90 = 5696.0
OUTPUT_MEDIAN = 415.0
OUTPUT_P90 = 834.0

#: Phi^-1(0.9), the standard normal 90th percentile.
Z90 = 1.2815515655446004

MIN_TOKENS = 1
#: Sarathi-Serve's filter: a request with lin + lout above this is dropped (and redrawn).
MAX_TOTAL_TOKENS = 8192
#: Candidate requests drawn per batch. Fixed (independent of ``n``), so the trace for a
#: smaller ``n`` is a prefix of the trace for a larger one with the same seed.
BATCH = 1024

#: The fitted parameters are rounded to this many decimals before use, so the trace does not
#: depend on the last bits of the platform's ``log`` / ``erfc``. (Moves the filtered
#: quantiles by under 0.01 tokens.)
PARAM_DECIMALS = 6
#: Newton stops when every filtered log-quantile is within this of its target.
FIT_TOL = 1e-11
FIT_MAX_ITER = 50
#: Central-difference step (in mu and sigma) for the Newton Jacobian.
FIT_STEP = 1e-6

DEFAULT_OUT = (Path(__file__).resolve().parents[1]
               / "accel_sim" / "serving" / "data" / "conversations.csv")


def lognormal_from_median_p90(median: float, p90: float) -> tuple[float, float]:
    """Return (mu, sigma) of the (unfiltered) lognormal whose median and 90th percentile are
    given. Used as the starting point of :func:`fit`."""
    if not 0 < median < p90:
        raise ValueError(f"need 0 < median < p90, got {median}, {p90}")
    return math.log(median), math.log(p90 / median) / Z90


def _rounded_pmf(mu: float, sigma: float) -> np.ndarray:
    """P(max(1, rint(X)) = k) for k = 1 .. MAX_TOTAL_TOKENS - 1, X lognormal(mu, sigma)."""
    edges = np.arange(1, MAX_TOTAL_TOKENS) + 0.5
    cdf = np.array([0.5 * math.erfc(-(math.log(x) - mu) / (sigma * math.sqrt(2.0)))
                    for x in edges])
    return np.diff(cdf, prepend=0.0)


def filtered_pmfs(params: tuple[float, float, float, float]
                  ) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact filtered model for ``rho = 0``: returns (pmf of lin, pmf of lout, acceptance).

    ``params`` is (mu_in, sigma_in, mu_out, sigma_out). The pmfs are over k = 1 ..
    MAX_TOTAL_TOKENS - 1, for independent rounded (and clipped) lognormals conditioned on
    ``lin + lout <= MAX_TOTAL_TOKENS``; the acceptance is P(lin + lout <= MAX_TOTAL_TOKENS).
    """
    mu_in, sigma_in, mu_out, sigma_out = params
    p = _rounded_pmf(mu_in, sigma_in)
    q = _rounded_pmf(mu_out, sigma_out)
    # P(other field <= MAX_TOTAL_TOKENS - k): cumulative sums read backwards.
    w_in = p * np.cumsum(q)[::-1]
    w_out = q * np.cumsum(p)[::-1]
    accept = float(w_in.sum())
    return w_in / accept, w_out / accept, accept


def interpolated_quantile(pmf: np.ndarray, prob: float) -> float:
    """Quantile of an integer pmf (k = 1, 2, ...) with the CDF interpolated linearly between
    the bin edges k +- 0.5 (mass spread uniformly over each rounding bin). Unlike the
    discrete quantile it varies continuously with the parameters, so a root search can use
    it; it lies in (k - 0.5, k + 0.5] when k is the discrete quantile (smallest k with
    CDF >= prob)."""
    cdf = np.concatenate([[0.0], np.cumsum(pmf)])
    x = np.arange(pmf.size + 1) + 0.5
    return float(np.interp(prob, cdf, x))


def filtered_quantiles(params: tuple[float, float, float, float]) -> np.ndarray:
    """[lin median, lin P90, lout median, lout P90] of the filtered model (interpolated)."""
    w_in, w_out, _ = filtered_pmfs(params)
    return np.array([interpolated_quantile(w, p)
                     for w in (w_in, w_out) for p in (0.5, 0.9)])


@functools.cache
def fit() -> tuple[float, float, float, float]:
    """(mu_in, sigma_in, mu_out, sigma_out) whose *filtered* medians and P90s are the
    published ones.

    Newton's method on the four equations log(filtered quantile) = log(published), the
    Jacobian by central differences, with step halving, started from the unfiltered fit
    (:func:`lognormal_from_median_p90`). Deterministic, numpy only. The result is rounded to
    ``PARAM_DECIMALS`` decimals.
    """
    target = np.log([PROMPT_MEDIAN, PROMPT_P90, OUTPUT_MEDIAN, OUTPUT_P90])
    theta = np.array([*lognormal_from_median_p90(PROMPT_MEDIAN, PROMPT_P90),
                      *lognormal_from_median_p90(OUTPUT_MEDIAN, OUTPUT_P90)])

    def resid(th: np.ndarray) -> np.ndarray:
        return np.log(filtered_quantiles(tuple(th))) - target

    r = resid(theta)
    for _ in range(FIT_MAX_ITER):
        err = float(np.abs(r).max())
        if err < FIT_TOL:
            return tuple(round(float(v), PARAM_DECIMALS) for v in theta)
        jac = np.empty((4, 4))
        for j in range(4):
            e = np.zeros(4)
            e[j] = FIT_STEP
            jac[:, j] = (resid(theta + e) - resid(theta - e)) / (2.0 * FIT_STEP)
        step = np.linalg.solve(jac, -r)
        lam = 1.0
        while True:
            new = theta + lam * step
            if new[1] > 0 and new[3] > 0:
                r_new = resid(new)
                if float(np.abs(r_new).max()) < err:
                    break
            lam *= 0.5
            if lam < 1e-6:
                raise RuntimeError("fit: line search failed")
        theta, r = new, r_new
    raise RuntimeError(f"fit: no convergence in {FIT_MAX_ITER} iterations")


def draw(n: int = 2000, seed: int = 0, rho: float = 0.0) -> tuple[np.ndarray, int]:
    """Draw ``n`` accepted requests; returns (rows, drawn).

    ``rows`` is an int64 array of shape (n, 2), columns lin, lout. ``drawn`` is how many
    candidates the stream used up to and including the n-th accepted one (so
    ``drawn - n`` were rejected by the ``lin + lout <= MAX_TOTAL_TOKENS`` filter).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    mu_in, sigma_in, mu_out, sigma_out = fit()

    rs = np.random.RandomState(seed)
    kept: list[np.ndarray] = []
    accepted = 0
    drawn = 0
    while accepted < n:
        z = rs.standard_normal(size=(BATCH, 2))
        z_in = z[:, 0]
        z_out = rho * z_in + math.sqrt(1.0 - rho * rho) * z[:, 1]
        lin = np.maximum(np.rint(np.exp(mu_in + sigma_in * z_in)), MIN_TOKENS).astype(np.int64)
        lout = np.maximum(np.rint(np.exp(mu_out + sigma_out * z_out)),
                          MIN_TOKENS).astype(np.int64)
        ok = np.flatnonzero(lin + lout <= MAX_TOTAL_TOKENS)
        need = n - accepted
        if ok.size >= need:
            ok = ok[:need]
            drawn += int(ok[-1]) + 1
        else:
            drawn += BATCH
        kept.append(np.column_stack([lin[ok], lout[ok]]))
        accepted += ok.size
    return np.concatenate(kept), drawn


def generate(n: int = 2000, seed: int = 0, rho: float = 0.0) -> np.ndarray:
    """Draw ``n`` requests; returns an int64 array of shape (n, 2): columns lin, lout."""
    return draw(n=n, seed=seed, rho=rho)[0]


def to_csv(rows: np.ndarray) -> str:
    """Render the trace as CSV text: header ``lin,lout`` then one ``int,int`` line a row."""
    lines = ["lin,lout"]
    lines.extend(f"{int(a)},{int(b)}" for a, b in rows)
    return "\n".join(lines) + "\n"


def summarize(rows: np.ndarray) -> dict[str, float]:
    """Mean, median, P90 (numpy's linear interpolation) and std of each column."""
    out: dict[str, float] = {}
    for j, name in enumerate(("lin", "lout")):
        col = rows[:, j].astype(np.float64)
        out[f"{name}_mean"] = float(col.mean())
        out[f"{name}_median"] = float(np.median(col))
        out[f"{name}_p90"] = float(np.percentile(col, 90))
        out[f"{name}_std"] = float(col.std())
        out[f"{name}_max"] = float(col.max())
    out["max_total"] = float((rows[:, 0] + rows[:, 1]).max())
    out["log_corr"] = float(np.corrcoef(np.log(rows[:, 0]), np.log(rows[:, 1]))[0, 1])
    return out


def model_summary() -> dict[str, float]:
    """Exact statistics of the filtered fitted model for ``rho = 0`` (an infinite sample).

    Medians and P90s are the smallest k whose conditional CDF reaches 0.5 / 0.9 (``_median``,
    ``_p90``) and the interpolated quantiles the fit solves on (``_median_i``, ``_p90_i``).
    """
    w_in, w_out, accept = filtered_pmfs(fit())
    k = np.arange(1, MAX_TOTAL_TOKENS, dtype=np.float64)
    out = {"accept": accept}
    for name, w in (("lin", w_in), ("lout", w_out)):
        c = np.cumsum(w)
        mean = float((k * w).sum())
        out[f"{name}_mean"] = mean
        out[f"{name}_median"] = float(k[np.searchsorted(c, 0.5)])
        out[f"{name}_p90"] = float(k[np.searchsorted(c, 0.9)])
        out[f"{name}_median_i"] = interpolated_quantile(w, 0.5)
        out[f"{name}_p90_i"] = interpolated_quantile(w, 0.9)
        out[f"{name}_std"] = math.sqrt(float(((k - mean) ** 2 * w).sum()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="RandomState seed (default 0)")
    ap.add_argument("--n", type=int, default=2000, help="number of requests (default 2000)")
    ap.add_argument("--rho", type=float, default=0.0,
                    help="correlation of the log-scale normals of lin and lout "
                         "(default 0: independent; the fit assumes 0)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"output CSV (default {DEFAULT_OUT})")
    ap.add_argument("--model", action="store_true",
                    help="also print the exact statistics of the filtered model (rho 0)")
    args = ap.parse_args()

    mu_in, sigma_in, mu_out, sigma_out = fit()
    m = model_summary()
    print(f"fitted (filtered medians/P90s = published, rho 0): "
          f"lin mu {mu_in:.6f} sigma {sigma_in:.6f}; lout mu {mu_out:.6f} sigma {sigma_out:.6f}")
    print(f"  model rejection rate (lin+lout > {MAX_TOTAL_TOKENS}): {1.0 - m['accept']:.4%}")

    rows, drawn = draw(n=args.n, seed=args.seed, rho=args.rho)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(to_csv(rows).encode("ascii"))

    s = summarize(rows)
    print(f"wrote {args.out}: {len(rows)} requests (seed {args.seed}, rho {args.rho}); "
          f"{drawn} drawn, {drawn - len(rows)} rejected (lin+lout > {MAX_TOTAL_TOKENS})")
    for name in ("lin", "lout"):
        print(f"  {name}: mean {s[name + '_mean']:.1f}  median {s[name + '_median']:.1f}  "
              f"P90 {s[name + '_p90']:.1f}  std {s[name + '_std']:.1f}  "
              f"max {int(s[name + '_max'])}")
    print(f"  max lin+lout: {int(s['max_total'])}  corr(log lin, log lout): "
          f"{s['log_corr']:.3f}")
    if args.model:
        print(f"model (rho 0, exact): acceptance {m['accept']:.4f}")
        for name in ("lin", "lout"):
            print(f"  {name}: mean {m[name + '_mean']:.1f}  median {m[name + '_median']:.0f} "
                  f"({m[name + '_median_i']:.3f})  P90 {m[name + '_p90']:.0f} "
                  f"({m[name + '_p90_i']:.3f})  std {m[name + '_std']:.1f}")


if __name__ == "__main__":
    main()
