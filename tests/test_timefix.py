"""Times equal up to rounding are one time, as in R's survival package (timefix = TRUE, aeqSurv):
tests/reference/timefix.R.

Two data sets whose arms share times that arithmetic made differ in the last bits (0.1 + 0.2
against 0.3; a time against the same time times 1 + 1e-12). R merges them before coxph, survdiff,
cox.zph and survfit; so must the package, or a tie between the arms becomes an ordering and the
Cox estimate moves (-0.2972 against -0.3144 on the first set, far beyond rounding).
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

from metaanalysis.survival.km import cox_hr, km_table, logrank, rmst_difference, timefix
from metaanalysis.survival.onestage import cox_one_stage
from metaanalysis.survival.ph import ph_test

REF = json.loads((Path(__file__).parent / "reference" / "timefix.json").read_text())
CASES = sorted(REF["cases"])


def _arms(case):
    c = REF["cases"][case]
    a = pd.DataFrame({"time": c["ta"], "event": c["ea"]})
    b = pd.DataFrame({"time": c["tb"], "event": c["eb"]})
    return a, b


def test_the_data_do_hold_near_ties():
    # the JSON kept the rounding: a time of one arm is not equal to, but within 1.5e-8 of, the other's
    for case in CASES:
        a, b = _arms(case)
        gaps = np.abs(a.time.to_numpy()[:, None] - b.time.to_numpy()[None, :])
        assert np.any((gaps > 0) & (gaps < 1e-8)), case
        assert REF["cases"][case]["coef"] != pytest.approx(REF["cases"][case]["coef_no_timefix"],
                                                           rel=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_cox_logrank_and_ph_test_match_r(case):
    a, b = _arms(case)
    ref = REF["cases"][case]
    c = cox_hr(a, b)
    assert c.log_hr == pytest.approx(ref["coef"], rel=1e-8)
    assert c.se == pytest.approx(ref["se"], rel=1e-8)
    assert logrank(a, b).statistic == pytest.approx(ref["logrank"], rel=1e-10)
    assert ph_test(a, b, transform="km").chisq == pytest.approx(ref["zph_km"], rel=1e-7)


@pytest.mark.parametrize("case", CASES)
def test_restricted_mean_and_kaplan_meier_match_r(case):
    a, b = _arms(case)
    ref = REF["cases"][case]
    r = rmst_difference(a, b, horizon=2.5)
    assert r.rmst_a == pytest.approx(ref["rmst_a"], rel=1e-10)
    assert r.rmst_b == pytest.approx(ref["rmst_b"], rel=1e-10)
    assert r.se == pytest.approx(math.hypot(ref["rmst_a_se"], ref["rmst_b_se"]), rel=1e-10)
    km = km_table(a, times=ref["km_a_time"])
    np.testing.assert_allclose(km["survival"], ref["km_a_surv"], rtol=1e-12)


def test_one_stage_cox_matches_r_stratified():
    arms = {case: _arms(case) for case in CASES}
    res = cox_one_stage(arms)
    assert res.log_hr == pytest.approx(REF["stratified"]["coef"], rel=1e-8)
    assert res.se == pytest.approx(REF["stratified"]["se"], rel=1e-8)


def test_timefix_merges_runs_into_their_first_time_and_nothing_else():
    a, b = timefix(np.array([1.0, 1.0 + 1e-9, 2.0, 3.0]), np.array([1.0 + 2e-9, 2.5, np.inf]))
    assert a.tolist() == [1.0, 1.0, 2.0, 3.0]
    assert b[0] == 1.0 and b[1] == 2.5 and b[2] == np.inf
    # relative to the times' mean size, as R: 1e6 and 1e6 + 1e-3 are one time (gap / mean =
    # 1e-9), 1 and 1 + 1e-3 alone are not; beside times of 1e6 they are (gap / mean = 2e-9)
    assert timefix(np.array([1e6]), np.array([1e6 + 1e-3]))[1].tolist() == [1e6]
    assert timefix(np.array([1.0]), np.array([1.0 + 1e-3]))[1].tolist() == [1.0 + 1e-3]
    x, y = timefix(np.array([1.0, 1e6]), np.array([1.0 + 1e-3, 1e6 + 1e-3]))
    assert x.tolist() == [1.0, 1e6] and y.tolist() == [1.0, 1e6]
    # nothing near: the same arrays back
    t = np.array([0.5, 1.5])
    assert timefix(t)[0] is not None and timefix(t)[0].tolist() == [0.5, 1.5]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1000, allow_nan=False), min_size=1, max_size=30))
def test_timefix_is_order_preserving_and_idempotent(values):
    t = np.array(values)
    (fixed,) = timefix(t)
    order = np.argsort(t, kind="stable")
    assert np.all(np.diff(fixed[order]) >= 0)  # no two times change order
    # a time moves at most down a chain of merged gaps, each at most sqrt(eps) or that times
    # the mean size
    step = float(np.sqrt(np.finfo(float).eps)) * max(1.0, float(np.mean(np.abs(np.unique(t)))))
    assert np.all(t - fixed >= 0) and np.all(t - fixed <= len(t) * step)
    assert timefix(fixed)[0].tolist() == fixed.tolist()
