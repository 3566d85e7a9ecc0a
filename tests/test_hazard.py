"""Tests for metaanalysis.survival.hazard: hazard ratios from published summaries.

Reference values come from the papers' formulas worked by hand (Parmar 1998, Tierney 2007), from
published trial reports (SELECT, KEYNOTE-189) and from R survival's log-rank statistics on the
lifelines gbsg2 data as stated in survival-methods.md section 9.2.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from metaanalysis.errors import InputError
from metaanalysis.survival.hazard import (
    hr_from_ci,
    hr_from_medians,
    hr_from_oe,
    hr_from_observed_expected,
    hr_from_pvalue,
    hr_from_pvalue_events,
)

# Formulas are closed-form: agreement is to floating-point rounding.
RTOL_EXACT = 1e-12
# Published numbers are printed to 3-4 significant digits.
ATOL_PRINTED = 5e-4


def test_select_99_percent_interval():
    """SELECT, HR 0.21 (99% CI 0.14-0.31): se = (ln 0.31 - ln 0.14)/(2 * 2.575829) (Parmar eq. 7)."""
    res = hr_from_ci(0.21, 0.14, 0.31, ci_level=99)
    expected_se = (math.log(0.31) - math.log(0.14)) / (2 * 2.5758293035489)
    assert res.se == pytest.approx(expected_se, rel=RTOL_EXACT)
    assert res.se == pytest.approx(0.1543, abs=ATOL_PRINTED)
    assert res.level == 99.0
    # Read as a 95% interval, the SE would be 31% too large: the level matters.
    assert hr_from_ci(0.21, 0.14, 0.31, ci_level=95).se / res.se == pytest.approx(2.575829 / 1.959964, rel=1e-6)
    # The returned interval at the reported level is the reported one, up to the HR's rounding.
    assert res.ci_low == pytest.approx(0.14, abs=0.002)
    assert res.ci_high == pytest.approx(0.31, abs=0.003)


def test_keynote189_worked_check():
    """survival-methods.md 3.2: HR 0.49 (0.38-0.64) gives se 0.1330, V 56.5, O - E -40.3."""
    res = hr_from_ci(0.49, 0.38, 0.64, ci_level=0.95)
    assert res.se == pytest.approx(0.1330, abs=ATOL_PRINTED)
    assert res.v == pytest.approx(56.5, abs=0.05)
    assert res.o_minus_e == pytest.approx(-40.3, abs=0.05)
    mid = hr_from_ci(None, 0.38, 0.64)
    assert mid.hr == pytest.approx(0.4932, abs=1e-4)


@pytest.mark.parametrize(
    "level, z",
    [(80, 1.281552), (90, 1.644854), (95, 1.959964), (96, 2.053749), (97.5, 2.241403),
     (98, 2.326348), (99, 2.575829), (99.9, 3.290527)],
)
def test_z_table_any_level(level, z):
    """survival-methods.md 3.1: the z for each level; an interval built with it round-trips."""
    log_hr, se = -0.3, 0.12
    lo, hi = math.exp(log_hr - z * se), math.exp(log_hr + z * se)
    res = hr_from_ci(math.exp(log_hr), lo, hi, ci_level=level)
    assert res.se == pytest.approx(se, rel=1e-6)
    assert res.log_hr == pytest.approx(log_hr, rel=RTOL_EXACT)


@settings(max_examples=60, deadline=None)
@given(
    log_hr=st.floats(-3, 3),
    se=st.floats(0.01, 2),
    level=st.floats(60, 99.9),
)
def test_ci_round_trip_and_log_symmetry(log_hr, se, level):
    """Property: an interval built at any level round-trips, and inverting the HR (swapping arms)
    negates ln HR and keeps the SE (the interval is symmetric on the log scale)."""
    z = norm.ppf(1 - (1 - level / 100) / 2)
    hr, lo, hi = math.exp(log_hr), math.exp(log_hr - z * se), math.exp(log_hr + z * se)
    res = hr_from_ci(hr, lo, hi, ci_level=level)
    assert res.se == pytest.approx(se, rel=1e-9)
    flipped = hr_from_ci(1 / hr, 1 / hi, 1 / lo, ci_level=level)
    assert flipped.log_hr == pytest.approx(-res.log_hr, rel=1e-9, abs=1e-12)
    assert flipped.se == pytest.approx(res.se, rel=1e-9)
    assert math.log(res.ci_high) - res.log_hr == pytest.approx(res.log_hr - math.log(res.ci_low), rel=1e-9, abs=1e-12)


def test_vectorised_matches_scalar():
    """One call on arrays equals one call per trial."""
    hr, lo, hi = [0.49, 0.7, 1.2], [0.38, 0.5, 0.9], [0.64, 0.98, 1.6]
    res = hr_from_ci(hr, lo, hi)
    for i in range(3):
        one = hr_from_ci(hr[i], lo[i], hi[i])
        assert res.se[i] == pytest.approx(one.se, rel=RTOL_EXACT)
    assert not res.se.flags.writeable
    assert len(res.to_frame()) == 3
    json.dumps(res.to_dict())


def test_pvalue_route_round_trips():
    """Altman & Bland 2011: a p-value computed from (ln HR, se) gives back se."""
    log_hr, se = math.log(0.7), 0.15
    p = 2 * norm.sf(abs(log_hr) / se)
    res = hr_from_pvalue(0.7, p)
    assert res.se == pytest.approx(se, rel=1e-9)


def test_tierney_pvalue_events_equal_allocation():
    """Tierney 2007 / Parmar eq. 8 by hand: p = 0.01, D = 200, 1:1 -> V = 50,
    O - E = -sqrt(50) * 2.575829 = -18.2139, ln HR = -0.36428, se = 1/sqrt(50)."""
    res = hr_from_pvalue_events(0.01, events=200)
    assert res.v == pytest.approx(50.0, rel=RTOL_EXACT)
    assert res.o_minus_e == pytest.approx(-math.sqrt(50) * 2.5758293035489, rel=1e-9)
    assert res.log_hr == pytest.approx(-0.364277, abs=1e-6)
    assert res.se == pytest.approx(1 / math.sqrt(50), rel=RTOL_EXACT)
    assert hr_from_pvalue_events(0.01, events=200, favours="control").log_hr == pytest.approx(0.364277, abs=1e-6)


def test_tierney_pvalue_events_unequal_and_per_arm():
    """Parmar eqs. 11 and 12 by hand: D = 150, n 200/100 -> V = 150*2/9 = 33.33;
    O_e = 60, O_c = 90 -> V = 36."""
    res11 = hr_from_pvalue_events(0.05, events=150, n_exp=200, n_ctrl=100)
    assert res11.v == pytest.approx(150 * 200 * 100 / 300**2, rel=RTOL_EXACT)
    res12 = hr_from_pvalue_events(0.05, events_exp=60, events_ctrl=90)
    assert res12.v == pytest.approx(36.0, rel=RTOL_EXACT)
    assert res12.log_hr == pytest.approx(-1.959964 / 6, abs=1e-6)


def test_pvalue_events_against_cox_on_gbsg2():
    """Known truth from real IPD (survival-methods.md 9.2, R survival on lifelines gbsg2 by horTh):
    O - E = -24.66, V = 70.98, events 94 (hormone therapy) vs 205, Cox HR 0.695.

    From the log-rank chi-square (O - E)^2/V and the events per arm, Parmar eq. 12 should land near
    the Cox estimate; O - E / V itself gives HR 0.707."""
    chisq = 24.66**2 / 70.98
    res = hr_from_pvalue_events(chisq=chisq, events_exp=94, events_ctrl=205)
    # eq. 12 approximates V; 0.02 on the log scale is well inside the Cox se (0.125)
    assert abs(res.log_hr - math.log(0.695)) < 0.02
    oe = hr_from_oe(-24.66, 70.98)
    assert oe.hr == pytest.approx(0.7066, abs=ATOL_PRINTED)
    assert oe.se == pytest.approx(1 / math.sqrt(70.98), rel=RTOL_EXACT)
    # Same z from a p-value instead of the chi-square
    p = 2 * norm.sf(math.sqrt(chisq))
    assert hr_from_pvalue_events(p, events_exp=94, events_ctrl=205).log_hr == pytest.approx(res.log_hr, rel=1e-9)


def test_observed_expected_parmar_eq3_eq5():
    """Parmar eqs. 3 and 5 by hand: O/E 40/50 vs 60/50 -> HR 2/3, var = 1/50 + 1/50."""
    res = hr_from_observed_expected(40, 50.0, 60, 50.0)
    assert res.hr == pytest.approx(2 / 3, rel=RTOL_EXACT)
    assert res.se == pytest.approx(math.sqrt(0.04), rel=RTOL_EXACT)


def test_medians_flagged_as_approximation():
    """Exponential survival: HR = m_c/m_e; flagged, and the summary says so."""
    res = hr_from_medians(12.0, 8.0, events_exp=100, events_ctrl=120)
    assert res.approximation
    assert res.hr == pytest.approx(8 / 12, rel=RTOL_EXACT)
    assert res.se == pytest.approx(math.sqrt(1 / 100 + 1 / 120), rel=RTOL_EXACT)
    assert "APPROXIMATION" in res.summary()
    alt = hr_from_medians(12.0, 8.0, se_log_median_exp=0.1, se_log_median_ctrl=0.1)
    assert alt.se == pytest.approx(math.sqrt(0.02), rel=RTOL_EXACT)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hr_from_pvalue(0.7, "< 0.001"), "bound"),
        (lambda: hr_from_pvalue_events("<0.001", events=100), "bound"),
        (lambda: hr_from_ci(0.8, 0.9, 1.2), "outside"),
        (lambda: hr_from_ci(0.8, 0.7, 0.9, ci_level=0.05), "level"),
        (lambda: hr_from_ci([0.8, 0.9], [0.7, 0.8], [0.9]), "lengths differ"),
        (lambda: hr_from_ci([0.8, 0.9], [0.7, -0.8], [0.9, 1.0]), "index 1"),
        (lambda: hr_from_pvalue_events(0.01), "needs events"),
        (lambda: hr_from_pvalue_events(0.01, events=100, favours="up"), "favours"),
        (lambda: hr_from_oe(-3.0, 0.0), "positive"),
        (lambda: hr_from_medians(10, 8), "needs"),
    ],
)
def test_bad_input_is_a_clear_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_result_views():
    res = hr_from_ci(0.49, 0.38, 0.64)
    d = res.to_dict()
    assert {"log_hr", "se", "hr", "ci_low", "ci_high", "o_minus_e", "v", "level", "method"} <= set(d)
    json.dumps(d)
    assert repr(res).startswith("<HazardRatioResult HR=0.490")
    assert "Interval level: 95%" in str(res)
    assert "<pre" in res._repr_html_()
    assert res.vi == pytest.approx(res.se**2)


def test_pooled_log_hr_through_pool_is_peto():
    """Tierney 2007: combining trials as sum(O - E)/sum(V) with variance 1/sum(V) is exactly the
    equal-effects inverse-variance pool of (ln HR, 1/V) that pool() computes."""
    from metaanalysis.pooling import core

    res = hr_from_oe([-10.0, -4.0, 2.5], [30.0, 20.0, 15.0])
    fit = core.pool(res.log_hr, res.vi, method="EE")
    assert fit.estimate == pytest.approx(res.o_minus_e.sum() / res.v.sum(), rel=1e-12)
    assert fit.se == pytest.approx(1 / math.sqrt(res.v.sum()), rel=1e-12)


@pytest.mark.parametrize("p", [1e-12, 1e-16, 1e-20, 1e-200])
def test_tiny_p_values_keep_their_standard_error(p):
    # z was ndtri(1 - p/2): 1 - p/2 rounds to 1 below p ~ 1e-16 (se 0, an infinite weight), and
    # loses digits above it (1.6e-3 at 1e-15); the upper quantile comes from the tail now
    import numpy as np

    import metaanalysis as ma

    z = norm.isf(p / 2)  # R: qnorm(p / 2, lower.tail = FALSE)
    np.testing.assert_allclose(ma.hr_from_pvalue(0.5, p).se, abs(np.log(0.5)) / z, rtol=1e-12)
    # Peto: log HR = -z / sqrt(events / 4) with 400 events, 1:1
    np.testing.assert_allclose(ma.hr_from_pvalue_events(p, events=400).log_hr, -z / 10, rtol=1e-12)
    d = ma.difference_from_pvalue(0.7, p)
    np.testing.assert_allclose(np.sqrt(d.vi), 0.7 / z, rtol=1e-12)
    from scipy.stats import t as tdist

    d = ma.difference_from_pvalue(0.7, p, test="t", df=30)
    np.testing.assert_allclose(np.sqrt(d.vi), 0.7 / tdist.isf(p / 2, 30), rtol=1e-12)


def test_empty_inputs_are_an_error():
    # returned a result with k = 0
    import metaanalysis as ma

    for call in (lambda: ma.hr_from_ci([], [], []), lambda: ma.hr_from_pvalue([], [])):
        with pytest.raises(InputError, match="no trials"):
            call()
