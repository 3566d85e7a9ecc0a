"""tau2_estimate, the Q statistic, Brent root finder and the generalised Q distribution.

The metafor comparison of every estimator on every reference dataset is in test_pooling_core.py
(tau2, se.tau2 per dataset x method); here the pure functions are checked on their own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metaanalysis import InputError
from metaanalysis.pooling import tau2_estimate
from metaanalysis.pooling.tau2 import (
    METHODS,
    _upper_tail_quadform,
    generalised_q_ci,
    q_profile_ci,
    q_statistic,
    zeroin,
)

REF = json.loads((Path(__file__).parent / "reference" / "pooling.json").read_text())
RTOL = 1e-6  # same algorithms as metafor; see test_pooling_core.py


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("FE", "CE", "GENQ", "DLIT", "SJIT", "GENQM")])
def test_tau2_estimate_matches_metafor_on_bcg(method):
    d = REF["datasets"]["bcg"]
    ref = REF["pool"]["bcg"][method]
    est = tau2_estimate(d["yi"], d["vi"], method)
    assert est.converged and est.method == method
    assert est.tau2 == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-12)
    if ref["se.tau2"] is not None:
        assert est.se == pytest.approx(ref["se.tau2"], rel=RTOL)


def test_genq_with_inverse_variance_weights_is_dl():
    d = REF["datasets"]["hackshaw1998"]
    vi = np.asarray(d["vi"])
    a = tau2_estimate(d["yi"], vi, "GENQ", weights=1 / vi)
    b = tau2_estimate(d["yi"], vi, "DL")
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-12) and a.se == pytest.approx(b.se, rel=1e-12)


def test_iterations_reported():
    d = REF["datasets"]["bcg"]
    assert tau2_estimate(d["yi"], d["vi"], "REML").iterations > 1
    assert tau2_estimate(d["yi"], d["vi"], "DL").iterations == 0


def test_fe_alias_and_errors():
    assert tau2_estimate([0.1, 0.5], [0.1, 0.1], "FE").tau2 == 0
    with pytest.raises(InputError, match="method"):
        tau2_estimate([0.1, 0.5], [0.1, 0.1], "BOGUS")
    with pytest.raises(InputError, match="index 1"):
        tau2_estimate([0.1, 0.5], [0.1, -0.1], "DL")
    with pytest.raises(InputError, match="weights"):
        tau2_estimate([0.1, 0.5, 0.2], [0.1, 0.1, 0.1], "GENQ")
    with pytest.raises(InputError, match="control"):
        tau2_estimate([0.1, 0.5, 0.2], [0.1, 0.1, 0.1], "REML", control={"bogus": 1})


def test_q_statistic_is_cochran_q():
    y, v = np.array([0.1, 0.3, 0.35]), np.array([0.01, 0.02, 0.015])
    w = 1 / v
    mu = (w @ y) / w.sum()
    assert q_statistic(y, v) == pytest.approx(float(w @ (y - mu) ** 2), rel=1e-14)
    X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0]])
    assert q_statistic(y, v, X=X) < q_statistic(y, v)


def test_zeroin_finds_roots_like_uniroot():
    f = lambda x: x**3 - 2 * x - 5  # noqa: E731  (Brent's own test function)
    root, it, conv = zeroin(f, 2.0, 3.0, f(2.0), f(3.0), 1e-12)
    assert conv and abs(root - 2.0945514815423265) < 1e-11 and it < 15


def test_q_profile_interval_brackets_estimate_and_has_nominal_quantiles():
    d = REF["datasets"]["hackshaw1998"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    lo, hi = q_profile_ci(y, v, None, 95.0, 0.03, {"tol": 1e-12})
    k = len(y)
    assert q_statistic(y, v, hi) == pytest.approx(stats.chi2.ppf(0.025, k - 1), rel=1e-8)
    assert lo == 0 or q_statistic(y, v, lo) == pytest.approx(stats.chi2.ppf(0.975, k - 1), rel=1e-8)


def test_quadratic_form_tail_equal_weights_is_chi_square():
    lam = np.full(5, 2.0)
    for q in (1.0, 5.0, 20.0):
        assert _upper_tail_quadform(q, lam) == pytest.approx(stats.chi2.sf(q / 2.0, 5), abs=1e-9)


def test_quadratic_form_tail_two_weights_by_integration():
    from scipy.integrate import quad

    l1, l2, q = 1.0, 3.0, 4.0
    # P(l1 X + l2 Y > q) = 1 - int_0^{q/l1} f_X(x) F_Y((q - l1 x)/l2) dx for X, Y ~ chi2(1)
    cdf = quad(lambda x: stats.chi2.pdf(x, 1) * stats.chi2.cdf((q - l1 * x) / l2, 1), 0, q / l1, limit=200)[0]
    assert _upper_tail_quadform(q, np.array([l1, l2])) == pytest.approx(1 - cdf, abs=1e-7)


def test_generalised_q_interval_with_inverse_variance_weights():
    """With a = 1/vi the generalised Q is Cochran's Q, chi-square(k - 1) at tau² = 0 exactly."""
    d = REF["datasets"]["bcg"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    lo, hi = generalised_q_ci(y, v, None, 1 / v, 95.0, 0.3, {"tol": 1e-10})
    assert 0 < lo < 0.3 < hi
    # at the bounds the tail probability of the observed Q is 2.5% / 97.5%
    from metaanalysis.pooling.tau2 import _pmatrix

    P = _pmatrix(1 / v, None)
    Q = float(y @ P @ y)
    for t, target in ((lo, 0.025), (hi, 0.975)):
        s = np.sqrt(v + t)
        lam = np.linalg.eigvalsh(s[:, None] * P * s[None, :])[::-1][: len(y) - 1]
        assert _upper_tail_quadform(Q, lam) == pytest.approx(target, abs=1e-7)


def test_pool_genq_result_has_interval():
    from metaanalysis.pooling import pool

    d = REF["datasets"]["bcg"]
    v = np.asarray(d["vi"])
    res = pool(d["yi"], v, method="GENQ", weights=1 / np.sqrt(v))
    assert res.tau2_ci_low <= res.tau2 <= res.tau2_ci_high and math.isfinite(res.tau2_ci_high)
    assert res.confint().ci_type == "GENQ"


def test_q_profile_bounds_closer_than_uniroot_tol_are_found_again():
    """tau² ~ 3e-5: metafor's uniroot tolerance (1.2e-4, absolute) is wider than the interval and its
    bounds came out crossed (lower 1.0e-4 > upper 9.1e-5); crossed bounds are found again to machine
    precision, in pool and in pool_many alike."""
    from metaanalysis.pooling import pool
    from metaanalysis.pooling.batch import pool_many

    y = np.array([0, 0, 0, 0, 0, 0, 3.0]) * 2.0**-8
    v = np.array([1, 1, 1, 1, 1, 0.0625, 0.25]) * 2.0**-16
    lo, hi = q_profile_ci(y, v, None, 95.0, 2.6571339574353452e-05)
    assert 0 <= lo < hi
    assert q_statistic(y, v, lo) == pytest.approx(stats.chi2.ppf(0.975, 6), rel=1e-8)
    assert q_statistic(y, v, hi) == pytest.approx(stats.chi2.ppf(0.025, 6), rel=1e-8)
    res = pool(y, v, method="DL")
    assert (res.tau2_ci_low, res.tau2_ci_high) == pytest.approx((lo, hi), rel=1e-12)
    row = pool_many(groups=np.zeros(7), yi=y, vi=v, method="DL").iloc[0]
    assert (row["tau2_ci_low"], row["tau2_ci_high"]) == pytest.approx((lo, hi), rel=1e-9)


def test_generalised_q_interval_stays_a_probability_inversion_on_extreme_weights():
    """The GENQ interval with weights spanning 1e8 (the eigenvalues of S P S span far more): finite,
    ordered, and at the bounds the tail probabilities are 2.5% and 97.5%."""
    from metaanalysis.pooling.tau2 import _pmatrix

    d = REF["datasets"]["bcg"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    a = np.logspace(-4, 4, len(y))
    lo, hi = generalised_q_ci(y, v, None, a, 95.0, 0.3, {"tol": 1e-10})
    assert 0 <= lo < hi and math.isfinite(hi)
    P = _pmatrix(a / a.max(), None)
    Q = float(y @ P @ y)
    for t, target in ((lo, 0.025), (hi, 0.975)):
        if t == 0 or t >= 100:
            continue
        s = np.sqrt(v + t)
        lam = np.linalg.eigvalsh(s[:, None] * P * s[None, :])[::-1][: len(y) - 1]
        assert _upper_tail_quadform(Q, lam) == pytest.approx(target, abs=1e-7)
