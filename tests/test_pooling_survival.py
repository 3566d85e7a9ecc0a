"""Tests for metaanalysis.pooling.survival: pooled medians, landmark survival and Combescure curves.

Where each reference comes from:

- ``tests/reference/survival_pooling.json``, written by ``tests/reference/survival_pooling.R`` with
  metafor 3.8.1: the inverse-variance pooled medians on the 30-trial lung-cancer data (metamedian
  ``metamedian_survival`` formulas RE-COMPUTED with metafor, not metamedian's own output), MM/WM
  quantiles in R, and landmark survival on metafor's ``dat.fine1993`` on three transformed scales.
- survival-methods.md section 5.1 (re-computed published values for the lung data) and section 6
  (the metaSurvival README output on the Cabibbo HCC data, Combescure et al. 2014).
- Simulations with known truth for the QE method.

The lung and HCC files are GPL/MIT third-party data read from ``../shared/curves`` (next to the
repository); tests that need them skip with a message when they are absent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError

from metaanalysis.pooling.survival import (
    median_of_medians,
    pool_landmark_survival,
    pool_median_survival,
    pool_medians_qe,
    pool_survival_curves,
    qe_median_variance,
    weighted_median_of_medians,
    weighted_quantile,
)

CURVES = Path(__file__).resolve().parents[2] / "shared" / "curves"
REFERENCE = Path(__file__).resolve().parent / "reference" / "survival_pooling.json"

# metafor's REML stops when tau^2 changes by < 1e-5; pool() follows the same path, so estimates
# agree far more closely, but 1e-6 relative leaves room for the last Fisher-scoring step.
RTOL_METAFOR = 1e-6
# Non-iterative quantities (yi, vi, quantiles, DL) agree to rounding.
RTOL_EXACT = 1e-10
# Published values printed with 6-8 decimals.
ATOL_PRINTED_6 = 5e-7
ATOL_PRINTED_8 = 5e-9

EXPECTED_CASES = {
    "lung_median_g1", "lung_median_g2", "lung_difference", "lung_ratio_wald", "lung_ratio_log",
    "lung_log_median_g1_wald", "lung_log_median_g1_log", "lung_median_g1_dl",
    "lung_mm_g1", "lung_mm_g2", "lung_mm_difference", "lung_wm_g1", "lung_wm_difference",
    *(f"fine1993_12m_{t}_{m}" for t in ("arcsine", "logit", "cloglog") for m in ("REML", "DL")),
}


def _csv(name):
    path = CURVES / name
    if not path.exists():
        pytest.skip(f"third-party test data {name} not found in {CURVES}")
    import pandas as pd

    return pd.read_csv(path)


@pytest.fixture(scope="module")
def ref():
    data = json.loads(REFERENCE.read_text())
    return data["cases"]


@pytest.fixture(scope="module")
def lung():
    return _csv("metamedian_dat_lung.csv")


def _g1(d):
    return dict(median=d["med.g1"], ci_low=d["med.ci.lb.g1"], ci_high=d["med.ci.ub.g1"])


def _g2(d):
    return dict(median2=d["med.g2"], ci_low2=d["med.ci.lb.g2"], ci_high2=d["med.ci.ub.g2"])


def test_reference_grid_complete(ref):
    """No case may silently drop out of the R reference file."""
    assert EXPECTED_CASES <= set(ref), sorted(EXPECTED_CASES - set(ref))


# ---------------------------------------------------------------------------------------------
# medians with a CI: metafor (R) and survival-methods.md 5.1


LUNG_CASES = [
    ("lung_median_g1", dict(estimand="median"), False),
    ("lung_difference", dict(estimand="difference"), True),
    ("lung_ratio_wald", dict(estimand="ratio"), True),
    ("lung_ratio_log", dict(estimand="ratio", variance="log"), True),
    ("lung_log_median_g1_wald", dict(estimand="log_median"), False),
    ("lung_log_median_g1_log", dict(estimand="log_median", variance="log"), False),
    ("lung_median_g1_dl", dict(estimand="median", method="DL"), False),
]


@pytest.mark.parametrize("case, kwargs, two", LUNG_CASES, ids=[c[0] for c in LUNG_CASES])
def test_lung_pooled_medians_match_metafor(lung, ref, case, kwargs, two):
    """R: metafor rma.uni on the yi/vi of metamedian_survival's formulas (re-computed)."""
    r = ref[case]
    args = {**_g1(lung), **(_g2(lung) if two else {})}
    res = pool_median_survival(**args, **kwargs)
    np.testing.assert_allclose(res.yi, r["yi"], rtol=RTOL_EXACT)
    np.testing.assert_allclose(res.vi, r["vi"], rtol=RTOL_EXACT)
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q"):
        assert getattr(res, key) == pytest.approx(r[key], rel=RTOL_METAFOR, abs=1e-12), key


def test_median_g2_against_metafor(lung, ref):
    r = ref["lung_median_g2"]
    res = pool_median_survival(lung["med.g2"], lung["med.ci.lb.g2"], lung["med.ci.ub.g2"])
    assert res.estimate == pytest.approx(r["estimate"], rel=RTOL_METAFOR)
    assert res.tau2 == pytest.approx(r["tau2"], rel=RTOL_METAFOR)


def test_lung_published_recomputed_values(lung):
    """survival-methods.md 5.1 (metamedian_survival formulas re-computed with metafor 3.8.1)."""
    g1 = pool_median_survival(**_g1(lung))
    assert (g1.estimate, g1.se, g1.ci_low, g1.ci_high, g1.tau2) == pytest.approx(
        (14.538121, 1.332785, 11.925909, 17.150332, 50.448708), abs=ATOL_PRINTED_6)
    assert g1.i2 == pytest.approx(97.216, abs=5e-4)
    diff = pool_median_survival(**_g1(lung), **_g2(lung), estimand="difference")
    assert (diff.estimate, diff.se, diff.tau2) == pytest.approx((1.241328, 0.459609, 2.404855), abs=ATOL_PRINTED_6)
    ratio = pool_median_survival(**_g1(lung), **_g2(lung), estimand="ratio")
    assert (ratio.estimate, ratio.se, ratio.tau2) == pytest.approx((0.107373, 0.032574, 0.009630), abs=ATOL_PRINTED_6)
    rlog = pool_median_survival(**_g1(lung), **_g2(lung), estimand="ratio", variance="log")
    assert (rlog.estimate, rlog.se, rlog.tau2) == pytest.approx((0.106988, 0.031605, 0.008336), abs=ATOL_PRINTED_6)
    assert (rlog.back_estimate, rlog.back_ci_low, rlog.back_ci_high) == pytest.approx((1.1129, 1.0461, 1.1840), abs=5e-5)


def test_upper_limit_not_reached_uses_lower_half():
    """Wald SE (m - L)/z when U is NaN (metamedian_survival's rule)."""
    res = pool_median_survival([20.0, 15.0, 18.0], [14.0, 12.0, 13.0], [np.nan, 19.0, 24.0], method="EE")
    z = 1.959963984540054
    assert res.vi[0] == pytest.approx(((20 - 14) / z) ** 2, rel=RTOL_EXACT)
    assert res.vi[1] == pytest.approx(((19 - 12) / (2 * z)) ** 2, rel=RTOL_EXACT)


# ---------------------------------------------------------------------------------------------
# MM / WM


def test_mm_wm_against_r_and_published(lung, ref):
    """R quantile type 7 (MM) and frequency-expanded weights (WM, pre-2023 Hmisc), and the values in
    survival-methods.md 5.1: MM g1 11.8 (10.76227, 15.69601); MM difference 0.975 (-0.3377326,
    3.375093); WM difference 1.7 (0.7, 3.9)."""
    m1, m2 = lung["med.g1"].to_numpy(), lung["med.g2"].to_numpy()
    w = (lung["n.g1"] + lung["n.g2"]).to_numpy()
    checks = [
        (median_of_medians(m1), "lung_mm_g1"),
        (median_of_medians(m2), "lung_mm_g2"),
        (median_of_medians(m1 - m2), "lung_mm_difference"),
        (weighted_median_of_medians(m1, lung["n.g1"]), "lung_wm_g1"),
        (weighted_median_of_medians(m1 - m2, w), "lung_wm_difference"),
    ]
    for res, case in checks:
        np.testing.assert_allclose([res.ci_low, res.estimate, res.ci_high], ref[case]["quantiles"],
                                   rtol=RTOL_EXACT, atol=1e-12, err_msg=case)
    mm = checks[0][0]
    assert (mm.estimate, mm.ci_low, mm.ci_high) == pytest.approx((11.8, 10.76227, 15.69601), abs=5e-6)
    mmd = checks[2][0]
    assert (mmd.estimate, mmd.ci_low, mmd.ci_high) == pytest.approx((0.975, -0.3377326, 3.375093), abs=5e-7)
    wmd = checks[4][0]
    assert (wmd.estimate, wmd.ci_low, wmd.ci_high) == pytest.approx((1.7, 0.7, 3.9), abs=1e-9)
    assert wmd.method == "WM" and mm.method == "MM"


def test_exact_sign_test_interval():
    """Exact interval: order statistics (T+1, k-T) with the largest T whose binomial coverage
    1 - 2 P(Bin(k, 1/2) <= T) exceeds the level (k = 30: T = 9, coverage 0.9572)."""
    from scipy.stats import binom

    y = np.arange(1.0, 31.0)
    res = median_of_medians(y, interval="exact")
    assert (res.ci_low, res.ci_high) == (10.0, 21.0)
    assert res.coverage == pytest.approx(1 - 2 * binom.cdf(9, 30, 0.5), rel=RTOL_EXACT)
    assert res.coverage > 0.95 > 1 - 2 * binom.cdf(10, 30, 0.5)
    with pytest.raises(InputError, match="at least 6"):
        median_of_medians([1.0, 2.0, 3.0, 4.0, 5.0], interval="exact")


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0.5, 60), st.integers(1, 500)), min_size=3, max_size=25),
    seed=st.integers(0, 2**32 - 1),
)
def test_median_pooling_invariant_to_study_order(data, seed):
    """Property: MM and WM depend on the studies, not their order (weights travel with medians);
    with integer weights WM equals type-7 quantiles of the frequency-expanded medians."""
    y = np.array([d[0] for d in data])
    w = np.array([d[1] for d in data])
    perm = np.random.default_rng(seed).permutation(len(y))
    a, b = median_of_medians(y), median_of_medians(y[perm])
    assert (a.estimate, a.ci_low, a.ci_high) == pytest.approx((b.estimate, b.ci_low, b.ci_high), rel=1e-12)
    wa, wb = weighted_median_of_medians(y, w), weighted_median_of_medians(y[perm], w[perm])
    assert (wa.estimate, wa.ci_low, wa.ci_high) == pytest.approx((wb.estimate, wb.ci_low, wb.ci_high), rel=1e-12)
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(weighted_quantile(y, w, p), np.quantile(np.repeat(y, w), p), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# QE


@pytest.mark.parametrize("family", ["log-normal", "weibull", "normal", "gamma"])
def test_qe_recovers_family_from_exact_quantiles(family):
    """Known truth: quartiles (and range at 1/n, 1 - 1/n) computed from a known distribution give back
    that family and var(median) = 1/(4 n f(m)^2) with its true density."""
    from scipy import stats

    dist = {"log-normal": stats.lognorm(s=0.8, scale=math.exp(2.5)),
            "weibull": stats.weibull_min(c=1.6, scale=12.0),
            "normal": stats.norm(loc=20.0, scale=4.0),
            "gamma": stats.gamma(a=3.0, scale=4.0)}[family]
    n = 150
    fit = qe_median_variance(n, dist.median(), q1=dist.ppf(0.25), q3=dist.ppf(0.75),
                             minimum=dist.ppf(1 / n), maximum=dist.ppf(1 - 1 / n))
    assert fit.family == family
    truth = 1 / (4 * n * dist.pdf(dist.median()) ** 2)
    assert fit.variance == pytest.approx(truth, rel=1e-3)


def test_qe_pooling_simulation_covers_truth():
    """Simulation with known truth (seeded): 8 studies of log-normal times (true median e^2.5 = 12.18)
    reporting median and quartiles; QE's per-study variances average within 30% of the true
    asymptotic variance, and the pooled interval covers the true median."""
    from scipy import stats

    rng = np.random.default_rng(11)
    dist = stats.lognorm(s=0.9, scale=math.exp(2.5))
    ns = rng.integers(80, 300, size=8)
    med, q1, q3 = [], [], []
    for n in ns:
        x = dist.rvs(size=n, random_state=rng)
        a, b, c = np.quantile(x, [0.25, 0.5, 0.75])
        q1.append(a), med.append(b), q3.append(c)
    res = pool_medians_qe(med, ns, q1=q1, q3=q3, method="DL")
    true_var = 1 / (4 * ns * dist.pdf(dist.median()) ** 2)
    assert np.mean(res.vi / true_var) == pytest.approx(1.0, abs=0.3)
    assert res.ci_low < dist.median() < res.ci_high
    diff = pool_medians_qe(med, ns, q1=q1, q3=q3, median2=med, n2=ns, q1_2=q1, q3_2=q3, method="EE")
    assert diff.estimand == "difference" and diff.estimate == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(diff.vi, 2 * res.vi, rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# landmark survival


@pytest.mark.parametrize("transform", ["arcsine", "logit", "cloglog"])
@pytest.mark.parametrize("method", ["REML", "DL"])
def test_landmark_against_metafor(ref, transform, method):
    """R: dat.fine1993, 12-month survival in the experimental arms (17 trials); metafor escalc PAS /
    PLO and log(-log S) with the binomial variance by the delta method, rma.uni."""
    r = ref[f"fine1993_12m_{transform}_{method}"]
    res = pool_landmark_survival(r["survival"], n=r["n"], transform=transform, method=method, time=12)
    np.testing.assert_allclose(res.yi, r["yi"], rtol=RTOL_EXACT)
    np.testing.assert_allclose(res.vi, r["vi"], rtol=RTOL_EXACT)
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2"):
        assert getattr(res, key) == pytest.approx(r[key], rel=RTOL_METAFOR, abs=1e-12), key
    assert res.survival == pytest.approx(r["back"], rel=RTOL_METAFOR)
    assert res.survival_ci_low < res.survival < res.survival_ci_high


def test_landmark_inputs_agree():
    """The se route and the n route give the same fit when the se is the binomial one; an interval
    symmetric on the chosen scale gives back its se."""
    s = np.array([0.55, 0.62, 0.48, 0.7])
    n = np.array([120, 80, 200, 60])
    se = np.sqrt(s * (1 - s) / n)
    a = pool_landmark_survival(s, n=n, method="EE")
    b = pool_landmark_survival(s, se=se, method="EE")
    np.testing.assert_allclose(a.vi, b.vi, rtol=1e-12)
    y, sy = np.log(-np.log(s)), np.sqrt(b.vi)
    z = 1.959963984540054
    lo, hi = np.exp(-np.exp(y + z * sy)), np.exp(-np.exp(y - z * sy))
    c = pool_landmark_survival(s, ci_low=lo, ci_high=hi, method="EE")
    np.testing.assert_allclose(c.vi, b.vi, rtol=1e-9)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pool_landmark_survival([55, 62], n=[10, 20]),
        lambda: pool_landmark_survival([0.5, 1.0], n=[10, 20]),
        lambda: pool_landmark_survival([0.5, 0.6]),
        lambda: pool_landmark_survival([0.5, 0.6], n=[10, 20], transform="log"),
        lambda: pool_median_survival([10.0, 12.0], [8.0, 13.0], [12.0, 15.0]),
        lambda: pool_median_survival([10.0], [8.0], [12.0], estimand="ratio"),
        lambda: pool_median_survival([10.0], [8.0], [12.0], variance="log"),
        lambda: median_of_medians([]),
        lambda: weighted_median_of_medians([1.0, 2.0], [1.0, -1.0]),
    ],
)
def test_bad_input(call):
    with pytest.raises(InputError):
        call()


# ---------------------------------------------------------------------------------------------
# Combescure pooled curves


@pytest.fixture(scope="module")
def hcc_result():
    d = _csv("metasurvival_cabibbo_hcc.csv")
    return d, pool_survival_curves(d["Study"], d["Time"], d["Survival"], d["NbRisk"], seed=2014)


def test_combescure_matches_metasurvival(hcc_result):
    """Published output (metaSurvival README, msurv(..., "Greenwood", correctionFlag = TRUE)),
    survival-methods.md section 6, to its 8 printed decimals."""
    _, res = hcc_result
    tab = res.table().set_index("time")
    fe = {1: 0.94497450, 2: 0.84347436, 6: 0.52144090, 12: 0.32461488, 48: 0.06295069}
    re = {1: 0.93524921, 2: 0.82628083, 6: 0.44916320, 12: 0.24431166, 48: 0.03516081}
    for t, v in fe.items():
        assert tab.loc[t, "fixed"] == pytest.approx(v, abs=ATOL_PRINTED_8), t
    for t, v in re.items():
        assert tab.loc[t, "random"] == pytest.approx(v, abs=ATOL_PRINTED_8), t
    assert res.q == pytest.approx(731.217128, abs=ATOL_PRINTED_6)
    assert res.h2 == pytest.approx(2.521438, abs=ATOL_PRINTED_6)
    assert res.i2 == pytest.approx(60.340098, abs=ATOL_PRINTED_6)
    # medians by interpolation are deterministic
    assert res.median_fixed == pytest.approx(6.571189, abs=ATOL_PRINTED_6)
    assert res.median_random == pytest.approx(5.375810, abs=ATOL_PRINTED_6)
    # metaSurvival's intervals use z = 1.96; ours the exact quantile. Rescale the log half-width.
    z = 1.959963984540054
    for col, lo_ref, hi_ref in (("fixed", 0.93455418, 0.95551100), ("random", 0.90753843, 0.96380610)):
        est, lo = tab.loc[1, col], tab.loc[1, f"{col}_ci_low"]
        half = math.log(est / lo) / z
        assert est * math.exp(-1.96 * half) == pytest.approx(lo_ref, abs=ATOL_PRINTED_8)
        assert est * math.exp(1.96 * half) == pytest.approx(hi_ref, abs=ATOL_PRINTED_8)
    assert tab.loc[1, "n_risk"] == 1806


def test_combescure_monte_carlo_intervals(hcc_result):
    """Monte Carlo median intervals vary with the seed; the README's (FE 5.959-7.138, RE 4.49-6.79)
    came from another seed, so agreement is within Monte Carlo error (0.1 months). The same seed
    gives the same numbers."""
    d, res = hcc_result
    assert res.median_fixed_ci_low == pytest.approx(5.959, abs=0.1)
    assert res.median_fixed_ci_high == pytest.approx(7.138, abs=0.1)
    assert res.median_random_ci_low == pytest.approx(4.49, abs=0.1)
    assert res.median_random_ci_high == pytest.approx(6.79, abs=0.1)
    again = pool_survival_curves(d["Study"], d["Time"], d["Survival"], d["NbRisk"], seed=2014)
    assert again.median_random_ci_low == res.median_random_ci_low
    mc = pool_survival_curves(d["Study"], d["Time"], d["Survival"], d["NbRisk"], interval="montecarlo",
                              n_draws=2000, seed=1)
    np.testing.assert_allclose(mc.fixed, res.fixed, rtol=1e-12)
    # delta-method and Monte Carlo intervals agree roughly at 12 months
    assert mc.random_ci_low[7] == pytest.approx(res.random_ci_low[7], abs=0.02)
    json.dumps(res.to_dict())
    assert "Combescure" in str(res)


def test_combescure_simulated_truth():
    """Simulation with known truth (seeded): 6 studies of exponential survival (median 10) with no
    between-study variation, reported at common times with their numbers at risk; the pooled RE and
    FE curves are within 0.03 of exp(-ln2 t/10) and tau^2 is small."""
    rng = np.random.default_rng(5)
    grid = np.array([3.0, 6.0, 9.0, 12.0, 18.0, 24.0])
    study, time, surv, nrisk = [], [], [], []
    for i in range(6):
        n = int(rng.integers(150, 400))
        t = rng.exponential(10 / math.log(2), n)
        for g in grid:
            study.append(i), time.append(g), surv.append(np.mean(t > g)), nrisk.append(np.sum(t >= g))
    res = pool_survival_curves(study, time, surv, nrisk, n_draws=500, seed=3)
    truth = np.exp(-math.log(2) * grid / 10)
    assert np.max(np.abs(res.fixed - truth)) < 0.03
    assert np.max(np.abs(res.random - truth)) < 0.03
    assert res.median_random == pytest.approx(10.0, abs=1.0)


@pytest.mark.parametrize(
    "rows, match",
    [
        (([1, 1, 2, 2], [1, 2, 2, 3], [0.9, 0.8, 0.9, 0.8], [10, 9, 10, 9]), "lacks the grid"),
        (([1, 1, 2, 2], [1, 2, 1, 2], [0.8, 0.9, 0.9, 0.8], [10, 9, 10, 9]), "rises"),
        (([1, 1, 1], [1, 2, 3], [0.8, 0.7, 0.6], [10, 9, 8]), "two studies"),
        (([1, 1, 2, 2], [1, 2, 1, 2], [80, 70, 90, 80], [10, 9, 10, 9]), "fraction"),
    ],
)
def test_combescure_bad_input(rows, match):
    with pytest.raises(InputError, match=match):
        pool_survival_curves(*rows, n_draws=100)


def test_a_number_at_risk_of_zero_without_correction_is_an_error():
    # asin(sqrt(0/0)) was NaN and the row silently counted as "after the study's end"
    import metaanalysis as ma
    from metaanalysis.errors import InputError

    with pytest.raises(InputError, match="number at risk of 0 needs the continuity correction"):
        ma.pool_survival_curves([1, 1, 2, 2], [6, 12, 6, 12], [0.8, 0.5, 0.7, 0.4], [50, 0, 60, 42],
                                correction=(0, 0), n_draws=200, seed=1)
