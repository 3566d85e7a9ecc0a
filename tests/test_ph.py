"""survival/ph.py: proportional-hazards test, piecewise and time-varying hazard ratios.

Reference values: ``tests/reference/survival_models.json`` written by ``survival_models.R`` (R
survival 3.5-3) on survival::lung (sex), veteran (trt) and ovarian (rx): ``cox.zph`` with the
transforms km, identity, rank and log (chisq, p, the scaled Schoenfeld residuals and the smooth of
``plot.cox.zph``), ``coxph`` on ``survSplit`` data with ``arm:strata(tgroup)`` and ``coxph`` with
``tt(arm) = arm * log(t)`` (and ``arm * t``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.survival.ph import hr_over_time, ph_test, piecewise_hr

REF = json.loads((Path(__file__).parent / "reference" / "survival_models.json").read_text())
CASES = ("lung", "veteran", "ovarian")
TRANSFORMS = ("km", "identity", "rank", "log")
# R's coxph stops when the log partial likelihood changes by < 1e-9 relative, so its coefficients
# carry up to ~5e-9 relative error (lung); observed max relative difference 2e-9 (chisq, p),
# 3e-9 absolute on the residuals; everything else agrees to 1e-10
RTOL = 1e-6


def _arms(case):
    d = REF["cases"][case]["data"]
    df = pd.DataFrame({"time": d["time"], "event": d["status"], "arm": d["arm"]})
    return (df[df.arm == 0][["time", "event"]].reset_index(drop=True),
            df[df.arm == 1][["time", "event"]].reset_index(drop=True))


def test_reference_grid_complete():
    for c in CASES:
        case = REF["cases"][c]
        assert set(case["zph"]) == set(TRANSFORMS)
        assert "smooth" in case["zph"]["km"]
        assert set(case["tt"]) == {"log", "identity"}
        assert len(case["piecewise"]["coef"]) == len(case["piecewise"]["breaks"]) + 1


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_zph_against_r(case, transform):
    a, b = _arms(case)
    ref = REF["cases"][case]["zph"][transform]
    # R's arm = 1 is b: its coefficient is b against a, which is ph_test(b, a)
    res = ph_test(b, a, transform=transform)
    np.testing.assert_allclose([res.chisq, res.pvalue, res.df], [ref["chisq"], ref["p"], ref["df"]], rtol=RTOL)
    np.testing.assert_allclose(res.coef, REF["cases"][case]["cox"]["coef"], rtol=RTOL)
    np.testing.assert_allclose(res.se, REF["cases"][case]["cox"]["se"], rtol=RTOL)
    # residuals: same times and g(t); within tied event times R's order of the arms is its own
    np.testing.assert_allclose(res.residuals.time, ref["time"])
    np.testing.assert_allclose(res.residuals.x, ref["x"], rtol=1e-12)
    ours = res.residuals.assign(k=lambda f: f.time * 1e3 + f.residual).k.sort_values().to_numpy()
    theirs = np.sort(np.array(ref["time"]) * 1e3 + np.array(ref["y"]))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)
    if transform == "km":
        sm = ref["smooth"]
        for col in ("x", "fit", "ci_low", "ci_high"):
            np.testing.assert_allclose(res.smooth[col], sm[col], rtol=RTOL, atol=1e-8, err_msg=col)


@pytest.mark.parametrize("case", CASES)
def test_piecewise_against_r(case):
    a, b = _arms(case)
    ref = REF["cases"][case]["piecewise"]
    res = piecewise_hr(b, a, ref["breaks"])
    np.testing.assert_allclose(res.table.coef, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(res.table.se, ref["se"], rtol=RTOL)
    np.testing.assert_allclose(res.loglik, ref["loglik"], rtol=1e-9)
    assert list(res.table.columns) == ["start", "end", "coef", "se", "hr", "ci_low", "ci_high", "pvalue",
                                       "events_a", "events_b"]
    # events_a counts the first argument's events
    assert res.table.events_a.sum() == b.event.sum() and res.table.events_b.sum() == a.event.sum()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("g", ("log", "identity"))
def test_tt_against_r(case, g):
    a, b = _arms(case)
    ref = REF["cases"][case]["tt"][g]
    res = hr_over_time(b, a, g=g)
    np.testing.assert_allclose([res.coef, res.coef_time], ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(res.vcov.ravel(), ref["vcov"], rtol=RTOL)
    np.testing.assert_allclose(res.loglik, ref["loglik"], rtol=1e-9)
    cur = res.hr_at([50.0, 200.0])
    gt = np.log([50.0, 200.0]) if g == "log" else np.array([50.0, 200.0])
    np.testing.assert_allclose(cur.hr, np.exp(ref["coef"][0] + ref["coef"][1] * gt), rtol=RTOL)
    assert ((cur.ci_low < cur.hr) & (cur.hr < cur.ci_high)).all()


def test_constant_hr_matches_lifelines_cox():
    from lifelines import CoxPHFitter

    for case in CASES:
        a, b = _arms(case)
        df = pd.concat([a.assign(arm=0), b.assign(arm=1)], ignore_index=True)
        cph = CoxPHFitter().fit(df, "time", "event")
        res = ph_test(b, a)
        # lifelines stops its Newton-Raphson at a looser tolerance (about 1e-4 absolute)
        np.testing.assert_allclose(res.coef, cph.params_["arm"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(res.se, cph.standard_errors_["arm"], rtol=1e-3)


def test_log_cumhaz_and_summary():
    a, b = _arms("lung")
    res = ph_test(a, b, arm_names=("male", "female"))
    lch = res.log_cumhaz
    assert set(lch.arm) == {"male", "female"}
    assert list(lch.columns) == ["arm", "time", "log_time", "log_cumhaz"]
    # increasing within an arm
    for _, g in lch.groupby("arm"):
        assert np.all(np.diff(g.log_cumhaz) > 0)
    assert "Grambsch-Therneau" in res.summary() and "GLOBAL" in res.summary()
    json.dumps(res.to_dict())
    assert repr(res).startswith("<PHTestResult chisq=")


def test_simulated_change_of_hr_is_found():
    """Known truth: HR 0.5 before t = 1, 1.5 after (piecewise exponential, seeded, n = 3000 per arm)."""
    rng = np.random.default_rng(2026)
    n = 3000

    def draw(h1, h2):
        e = rng.exponential(size=n)  # cumulative hazard at the event time
        t = np.where(e < h1, e / h1, 1 + (e - h1) / h2)
        c = rng.uniform(0, 4, size=n)
        return pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int)})

    a = draw(0.5, 0.5)
    b = draw(0.25, 0.75)
    # b against a: HR 0.5, then 1.5
    pw = piecewise_hr(b, a, [1.0])
    for row, truth in zip(pw.table.itertuples(), (math.log(0.5), math.log(1.5))):
        assert abs(row.coef - truth) < 3 * row.se
    assert pw.heterogeneity_pvalue < 1e-6
    assert ph_test(b, a).pvalue < 1e-6
    assert hr_over_time(b, a).coef_time > 0 > hr_over_time(a, b).coef_time


def test_proportional_hazards_not_rejected_under_ph():
    rng = np.random.default_rng(5)
    a = pd.DataFrame({"time": rng.weibull(1.3, 800), "event": 1})
    b = pd.DataFrame({"time": rng.weibull(1.3, 800) * 1.4, "event": 1})   # Weibull AFT = PH
    for tr in TRANSFORMS:
        assert ph_test(a, b, transform=tr).pvalue > 0.001


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_invariances(seed):
    a, b = _arms("ovarian")
    pa = a.sample(frac=1.0, random_state=seed)
    pb = b.sample(frac=1.0, random_state=seed + 1)
    r1, r2 = ph_test(a, b), ph_test(pa, pb)
    np.testing.assert_allclose([r1.chisq, r1.coef], [r2.chisq, r2.coef], rtol=1e-10)
    # swapping the arms negates the log HR and leaves the test unchanged
    sw = ph_test(b, a)
    np.testing.assert_allclose(sw.coef, -r1.coef, rtol=1e-8)
    np.testing.assert_allclose(sw.chisq, r1.chisq, rtol=1e-8)
    p1, p2 = piecewise_hr(a, b, [365]), piecewise_hr(pb, pa, [365])
    np.testing.assert_allclose(p1.table.coef, -p2.table.coef, rtol=1e-8)
    # scaling time leaves everything but the time axis unchanged (identity g is rescaled)
    s = ph_test(a.assign(time=a.time * 7), b.assign(time=b.time * 7), transform="log")
    np.testing.assert_allclose(s.chisq, ph_test(a, b, transform="log").chisq, rtol=1e-8)


def test_input_errors():
    a, b = _arms("ovarian")
    with pytest.raises(InputError, match="transform"):
        ph_test(a, b, transform="sqrt")
    with pytest.raises(InputError, match="increasing"):
        piecewise_hr(a, b, [400, 300])
    with pytest.raises(InputError, match="inside the follow-up"):
        piecewise_hr(a, b, [5000])
    with pytest.raises(InputError, match="no events"):
        piecewise_hr(a, b, [10, 20])
    with pytest.raises(InputError, match="g must be"):
        hr_over_time(a, b, g="sqrt")
    with pytest.raises(InputError, match="level"):
        piecewise_hr(a, b, [365], level=0.05)


def test_an_arm_without_events_is_named_as_the_cause():
    # R's coxph returns a huge coefficient here with "beta may be infinite"; the Newton steps run
    # off by about 1 each while the partial likelihood settles, which used to end as "did not
    # converge in 50 iterations"
    from metaanalysis.errors import ConvergenceError

    a = pd.DataFrame({"time": [1, 2, 3, 6, 7, 8, 9, 10.], "event": [1, 1, 1, 1, 0, 1, 1, 0]})
    b = pd.DataFrame({"time": [1.5, 2.5, 3.5, 6.5, 7.5, 8.5, 9.5, 11], "event": [0, 0, 0, 1, 1, 0, 1, 0]})
    for call in (lambda: piecewise_hr(a, b, [5]),             # b has no events before 5
                 lambda: ph_test(a, b.assign(event=0)),
                 lambda: hr_over_time(a, b.assign(event=0), g="identity")):
        with pytest.raises(ConvergenceError, match="diverges.*an arm has no events"):
            call()


def test_log_time_scale_refuses_events_at_time_zero():
    a = pd.DataFrame({"time": [0., 1, 2, 2, 5, 6, 8, 9], "event": [1, 1, 1, 0, 1, 0, 1, 0]})
    b = pd.DataFrame({"time": [0., 0, 1, 2, 3, 4, 6, 7], "event": [1, 0, 1, 0, 1, 1, 0, 1]})
    with pytest.raises(InputError, match="2 event\\(s\\) are at time 0.*'km', 'rank' or 'identity'"):
        ph_test(a, b, transform="log")
    with pytest.raises(InputError, match="g='log' needs every event time > 0.*g='identity'"):
        hr_over_time(a, b, g="log")
    # the other time scales take them, and the log-cumulative-hazard plot leaves t = 0 out
    res = ph_test(a, b)
    assert math.isfinite(res.chisq) and (res.log_cumhaz.time > 0).all()
    # a censoring at time 0 is no event: the log scale still works
    assert math.isfinite(ph_test(a.iloc[1:], b.iloc[1:], transform="log").chisq)


def test_the_first_argument_is_compared_with_the_second_as_in_cox_hr():
    # every two-arm function gives the first argument's hazard against the second's, so the same
    # two arguments never give a ratio in one place and its inverse in another
    a, b = _arms("lung")
    hr = ma.cox_hr(a, b).log_hr
    np.testing.assert_allclose(ph_test(a, b).coef, hr, rtol=1e-8)
    assert "Cox HR (male vs female)" in ph_test(a, b, arm_names=("male", "female")).summary()
    # known truth: a's hazard is twice b's at all times (exponential, seeded)
    rng = np.random.default_rng(11)
    fast = pd.DataFrame({"time": rng.exponential(0.5, 1500), "event": 1})
    slow = pd.DataFrame({"time": rng.exponential(1.0, 1500), "event": 1})
    assert 1.8 < ma.cox_hr(fast, slow).hr < 2.2
    assert (piecewise_hr(fast, slow, [0.3, 0.8]).table.hr.between(1.6, 2.5)).all()
    assert 1.8 < hr_over_time(fast, slow, g="identity").hr_at([0.5]).hr.iloc[0] < 2.2
    assert 1.8 < math.exp(ph_test(fast, slow).coef) < 2.2


def test_registered_names():
    assert ma.ph_test is ph_test and ma.piecewise_hr is piecewise_hr and ma.hr_over_time is hr_over_time


def test_plot_ph_check():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metaanalysis.plots.survival_models import plot_ph_check

    a, b = _arms("lung")
    res = ph_test(b, a, arm_names=("female", "male"))  # R's reference: b (female) against a
    try:
        left, right = plot_ph_check(res)
        assert {ln.get_gid() for ln in left.get_lines()} == {"ph-logcumhaz-0", "ph-logcumhaz-1"}
        assert [t.get_text() for t in left.get_legend().get_texts()] == ["female", "male"]
        assert right.get_ylabel() == "Beta(t) for female"  # whose log hazard ratio it is
        smooth = next(ln for ln in right.get_lines() if ln.get_gid() == "ph-smooth")
        np.testing.assert_allclose(smooth.get_ydata(), REF["cases"]["lung"]["zph"]["km"]["smooth"]["fit"], rtol=1e-6)
        pts = next(c for c in right.collections if c.get_gid() == "ph-residuals")
        assert len(pts.get_offsets()) == a.event.sum() + b.event.sum()
        with pytest.raises(InputError, match="pair"):
            fig, ax = plt.subplots()
            plot_ph_check(res, ax=ax)
    finally:
        plt.close("all")


EDGE = json.loads((Path(__file__).parent / "reference" / "ph_edge.json").read_text())


@pytest.mark.parametrize("name", ["tiny", "ties"])
def test_zph_smooth_lowers_its_df_where_rs_default_is_singular(name):
    # plot.cox.zph's ns(df = 4) basis is singular here (2 events; 50 of 70 events tied at the
    # first time): R's plot stops, and ph_test crashed in the smooth. The test itself must come
    # back, with the smooth at the largest df whose basis has full rank (R: the same ns fit)
    case = EDGE["zph"][name]
    assert case["singular_at_4"]
    res = ph_test((case["ta"], case["ea"]), (case["tb"], case["eb"]))
    np.testing.assert_allclose([res.chisq, res.pvalue, res.coef], [case["chisq"], case["p"], case["coef"]],
                               rtol=RTOL)
    sm = case["smooth"]
    assert res.smooth_df == sm["df"] < 4
    for col in ("x", "fit", "ci_low", "ci_high"):
        np.testing.assert_allclose(res.smooth[col], sm[col], rtol=RTOL, atol=1e-8, err_msg=col)


def test_zph_refuses_events_all_at_one_time():
    # g(t) is the same for every event: the test's information is singular (it crashed in numpy)
    a = ([2.0, 2, 2, 5, 6], [1, 1, 0, 0, 0])
    b = ([2.0, 2, 3, 4, 7], [1, 0, 0, 0, 0])
    with pytest.raises(InputError, match="every event happens at one time"):
        ph_test(a, b)


@pytest.mark.parametrize("i", range(3))
def test_monotone_likelihood_is_an_error_not_a_number(i):
    # both arms have events, but the partial likelihood rises without bound: R's coxph stops
    # near 21 (warning that the coefficient may be infinite on some of them); ours must refuse
    # rather than return a hazard ratio of 1e16, and say why (not "an arm has no events")
    m = EDGE["monotone"][i]
    assert m["coef"] > 15
    a, b = (m["ta"], m["ea"]), (m["tb"], m["eb"])
    with pytest.raises(ma.ConvergenceError, match="infinite.*no finite estimate"):
        ma.cox_hr(a, b)
    # the other way round the hazard ratio is zero
    with pytest.raises(ma.ConvergenceError, match="zero.*no finite estimate"):
        ma.cox_hr(b, a)
    with pytest.raises(ma.ConvergenceError, match="no finite estimate"):
        ph_test(a, b)
