"""Tests for metaanalysis.survival.parametric: curves from reported medians and pseudo-patients.

Checks are against the closed forms of survival-methods.md sections 4.1-4.3 (the curve passes
through what it was fitted to) and against seeded simulations with known truth (a Kaplan-Meier fit
by lifelines to pseudo-patients recovers the curve's median within simulation error).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.survival.parametric import (
    exponential_from_median,
    simulate_ipd,
    weibull_from_median,
    weibull_from_quantiles,
)

RTOL_EXACT = 1e-10  # closed forms: floating-point agreement


def test_exponential_median_and_interval_map_back():
    """KEYNOTE-189 placebo OS, median 11.3 (95% CI 8.7-15.1) months: the fitted curve has that median,
    its median interval is the reported one, and the survival band reaches 0.5 at L and at U."""
    c = exponential_from_median(11.3, 8.7, 15.1, ci_level=95)
    assert c.median == pytest.approx(11.3, rel=RTOL_EXACT)
    assert c.survival(11.3) == pytest.approx(0.5, rel=RTOL_EXACT)
    assert (c.median_ci_low, c.median_ci_high) == (8.7, 15.1)
    assert c.rate_ci_low == pytest.approx(math.log(2) / 15.1, rel=RTOL_EXACT)
    assert c.rate_ci_high == pytest.approx(math.log(2) / 8.7, rel=RTOL_EXACT)
    band = c.survival_table([8.7, 15.1])
    assert band.ci_low.iloc[0] == pytest.approx(0.5, rel=1e-9)   # fastest curve halves at L
    assert band.ci_high.iloc[1] == pytest.approx(0.5, rel=1e-9)  # slowest curve halves at U
    se = (math.log(15.1) - math.log(8.7)) / (2 * 1.959963984540054)
    assert c.se_log_median == pytest.approx(se, rel=RTOL_EXACT)
    assert c.effective_events == pytest.approx(1 / se**2, rel=RTOL_EXACT)


def test_exponential_other_level_and_sources():
    """At another output level the interval is a log-scale Wald interval with the same se; events
    give se = 1/sqrt(d); an unreached upper limit uses (ln m - ln L)/z."""
    c95 = exponential_from_median(10.0, 8.0, 12.5)
    c90 = exponential_from_median(10.0, 8.0, 12.5, level=90)
    assert c90.se_log_median == pytest.approx(c95.se_log_median, rel=RTOL_EXACT)
    assert c90.median_ci_low == pytest.approx(10 * math.exp(-1.6448536269514722 * c95.se_log_median), rel=1e-9)
    ev = exponential_from_median(10.0, events=64)
    assert ev.se_log_median == pytest.approx(1 / 8, rel=RTOL_EXACT) and ev.source == "events"
    nr = exponential_from_median(27.6, 17.4, None)
    assert nr.source == "ci_lower"
    assert nr.se_log_median == pytest.approx((math.log(27.6) - math.log(17.4)) / 1.959963984540054, rel=1e-9)
    assert exponential_from_median(10.0).source == "none"


def test_weibull_through_two_quantiles():
    """survival-methods.md 4.2: the curve passes through both points exactly."""
    w = weibull_from_quantiles(6.0, 0.8, 24.0, 0.3)
    assert w.survival(6.0) == pytest.approx(0.8, rel=RTOL_EXACT)
    assert w.survival(24.0) == pytest.approx(0.3, rel=RTOL_EXACT)
    assert w.time_at_survival(0.3) == pytest.approx(24.0, rel=RTOL_EXACT)


@settings(max_examples=50, deadline=None)
@given(
    m=st.floats(1, 100),
    ratio=st.floats(1.1, 5),
    p=st.floats(0.02, 0.48),
)
def test_weibull_median_landmark_property(m, ratio, p):
    """Property: a Weibull through (median, S(tau) = p) has that median and passes through the
    landmark, for any valid combination."""
    w = weibull_from_median(m, m * ratio, p)
    assert w.median == pytest.approx(m, rel=1e-9)
    assert w.survival(m * ratio) == pytest.approx(p, rel=1e-9)


def test_weibull_exponential_special_case_and_hr():
    """Shape 1 is the exponential; with a common shape the HR is (b_c/b_e)^k at every time."""
    m = 10.0
    w = weibull_from_median(m, 20.0, 0.25)  # S(2m) = 0.25 is exactly exponential
    assert w.shape == pytest.approx(1.0, rel=1e-12)
    e = exponential_from_median(m)
    t = np.array([1.0, 5.0, 30.0])
    np.testing.assert_allclose(w.survival(t), e.survival(t), rtol=1e-12)
    a = weibull_from_quantiles(5.0, 0.8, 20.0, 0.3)
    b = weibull_from_quantiles(5.0 * 1.5, 0.8, 20.0 * 1.5, 0.3)  # same shape, slower
    hr = a.hazard_ratio(b)
    np.testing.assert_allclose(a.hazard(t) / b.hazard(t), hr, rtol=1e-10)
    with pytest.raises(InputError, match="not proportional"):
        a.hazard_ratio(w)


@pytest.mark.parametrize(
    "args",
    [(10.0, 20.0, 0.6), (10.0, 5.0, 0.3), (10.0, 10.0, 0.4), (10.0, 20.0, 30.0)],
)
def test_weibull_invalid_landmark(args):
    with pytest.raises(InputError):
        weibull_from_median(*args)


def test_restricted_mean_matches_quadrature():
    from scipy.integrate import quad

    w = weibull_from_quantiles(6.0, 0.8, 24.0, 0.3)
    expected, _ = quad(lambda t: w.survival(t), 0, 36)
    assert w.restricted_mean(36) == pytest.approx(expected, rel=1e-8)


def test_pseudo_ipd_median_within_simulation_error():
    """Simulation with known truth: 2000 seeded pseudo-patients from an exponential (median 10) and a
    Weibull (median 11.3) with uniform accrual censoring; the lifelines KM median lies within 3 SE
    (SE of a median ~ m / sqrt(events)) of the curve's median."""
    from lifelines import KaplanMeierFitter

    for curve in (exponential_from_median(10.0, 8.0, 12.5), weibull_from_median(11.3, 24.0, 0.25)):
        ipd = simulate_ipd(curve, 2000, accrual=12.0, follow_up=24.0, seed=20240501)
        km = KaplanMeierFitter().fit(ipd.time, ipd.event)
        se = curve.median / math.sqrt(ipd.event.sum())
        assert abs(km.median_survival_time_ - curve.median) < 3 * se
        assert ipd.attrs["origin"] == "simulated from a summary"
        assert 0 < ipd.event.mean() < 1


def test_pseudo_ipd_event_target_and_seed():
    """events= solves the follow-up so the expected events equal the target (checked by the binomial
    spread); the same seed gives the same data; no censoring gives all events."""
    c = exponential_from_median(11.3, 8.7, 15.1)
    target = c.effective_events * 3
    ipd = simulate_ipd(c, 400, accrual=12.0, events=target, seed=7)
    p = target / 400
    assert abs(ipd.event.sum() - target) < 4 * math.sqrt(400 * p * (1 - p))
    assert ipd.equals(simulate_ipd(c, 400, accrual=12.0, events=target, seed=7))
    assert not ipd.equals(simulate_ipd(c, 400, accrual=12.0, events=target, seed=8))
    full = simulate_ipd(c, 50, seed=1)
    assert full.event.all()
    drop = simulate_ipd(c, 300, dropout_rate=0.05, seed=2)
    assert "drop-out" in drop.attrs["censoring"] and not drop.event.all()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: simulate_ipd(c, 0),
        lambda c: simulate_ipd(c, 10.5),
        lambda c: simulate_ipd(c, 10, follow_up=5, events=3),
        lambda c: simulate_ipd(c, 10, events=10),
        lambda c: simulate_ipd(c, 10, accrual=-1),
        lambda c: exponential_from_median(-1),
        lambda c: exponential_from_median(10, 12, 15),
        lambda c: exponential_from_median(10, 8, 9),
        lambda c: weibull_from_quantiles(5, 0.3, 10, 0.6),
        lambda c: weibull_from_quantiles(5, 30, 10, 60),
    ],
)
def test_bad_input(call):
    with pytest.raises(InputError):
        call(exponential_from_median(10.0, 8.0, 12.5))


def test_result_views():
    c = exponential_from_median(11.3, 8.7, 15.1)
    json.dumps(c.to_dict())
    assert "APPROXIMATION" in str(c)
    assert repr(c).startswith("<ExponentialCurve median=11.300")
    w = weibull_from_median(11.3, 24.0, 0.25)
    json.dumps(w.to_dict())
    assert w.to_frame().shape[0] == 1
    assert "Weibull" in str(w)
