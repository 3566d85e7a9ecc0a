"""metaanalysis.survival.onestage (stratified Cox), the two-stage comparison of pooling.rmst, and
metaanalysis.survival.uncertainty (digitisation uncertainty)."""

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
from metaanalysis.pooling.rmst import two_stage_vs_one_stage
from metaanalysis.survival.onestage import cox_one_stage, stratified_cox, trial_arms

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "onestage.json").read_text())
IPD = ROOT / "tests" / "data" / "ipd"
# R's coxph converges to ~1e-10 relative here and ours to 1e-13: the house tolerance is ample.
RTOL = 1e-6


def _arms(names):
    out = {}
    for n in names:
        d = pd.read_csv(IPD / f"{n}.csv")
        out[n] = (d[d.arm == 1], d[d.arm == 0])
    return out


def test_reference_grid_complete():
    assert set(REF["cases"]) == {"two", "lung_myeloid", "colon", "six"}
    for case in REF["cases"].values():
        assert len(case["two_stage"]) == 5 and len(case["per_trial_coef"]) == len(case["trials"])


@pytest.mark.parametrize("name", sorted(REF["cases"]))
def test_one_stage_matches_coxph_strata(name):
    case = REF["cases"][name]
    res = cox_one_stage(_arms(case["trials"]))
    assert res.log_hr == pytest.approx(case["coef"], rel=RTOL)
    assert res.se == pytest.approx(case["se"], rel=RTOL)
    assert res.z == pytest.approx(case["z"], rel=RTOL)
    assert res.pvalue == pytest.approx(case["pvalue"], rel=RTOL)
    assert (res.n, res.events, res.k) == (case["n"], case["events"], len(case["trials"]))
    arms = trial_arms(_arms(case["trials"]))
    assert stratified_cox(arms.values())[2] == pytest.approx(case["loglik"], rel=1e-9)


@pytest.mark.parametrize("name", sorted(REF["cases"]))
def test_two_stage_matches_coxph_and_rma(name):
    case = REF["cases"][name]
    arms = trial_arms(_arms(case["trials"]))
    for (t4, coef, se) in zip(arms.values(), case["per_trial_coef"], case["per_trial_se"]):
        b, info, _ = stratified_cox([t4])
        assert b == pytest.approx(coef, rel=RTOL) and info ** -0.5 == pytest.approx(se, rel=RTOL)
    for ref in case["two_stage"]:
        if ref["method"] == "EE":
            tab = two_stage_vs_one_stage(_arms(case["trials"]), method="REML", test="z")
            row = tab[tab.analysis == "two-stage (EE)"].iloc[0]
        else:
            tab = two_stage_vs_one_stage(_arms(case["trials"]), method=ref["method"], test=ref["test"])
            row = tab[tab.analysis == f"two-stage ({ref['method']})"].iloc[0]
        assert row.log_hr == pytest.approx(ref["estimate"], rel=RTOL)
        assert row.se == pytest.approx(ref["se"], rel=RTOL)
        assert math.log(row.ci_low) == pytest.approx(ref["ci_low"], rel=RTOL)
        assert row.pvalue == pytest.approx(ref["pvalue"], rel=RTOL)
        assert row.tau2 == pytest.approx(ref["tau2"], rel=RTOL, abs=1e-12)
    one = tab[tab.analysis.str.startswith("one-stage")].iloc[0]
    assert one.log_hr == pytest.approx(case["coef"], rel=RTOL)


def test_lifelines_agrees_to_its_precision():
    # lifelines' stratified CoxPHFitter stops about 3e-7 short of the maximum (why we iterate ourselves)
    from lifelines import CoxPHFitter

    from metaanalysis.survival.onestage import stack_trials

    case = REF["cases"]["six"]
    arms = _arms(case["trials"])
    fit = CoxPHFitter().fit(stack_trials(trial_arms(arms)), "time", "event", strata=["trial"])
    res = cox_one_stage(arms)
    assert res.log_hr == pytest.approx(fit.params_["arm"], rel=1e-5)
    assert res.se == pytest.approx(fit.standard_errors_["arm"], rel=1e-5)


def test_one_trial_equals_cox_hr():
    arms = _arms(["veteran"])
    one = cox_one_stage(arms)
    two = ma.cox_hr(*arms["veteran"])
    # cox_hr is lifelines, which stops ~1e-5 (absolute, log scale) short of the maximum here
    assert one.log_hr == pytest.approx(two.log_hr, abs=1e-4)
    tab = two_stage_vs_one_stage(arms)
    assert tab.log_hr.iloc[1] == pytest.approx(one.log_hr, rel=1e-12)


def test_result_object_and_errors():
    res = cox_one_stage(_arms(["veteran", "pbc"]), level=90)
    json.dumps(res.to_dict())
    assert res.level == 90 and res.to_frame().columns.tolist() == ["trial", "n_a", "n_b", "events_a", "events_b"]
    assert "stratified by trial" in res.summary() and "90% CI" in res.summary()
    assert repr(res).startswith("<OneStageCoxResult k=2")
    noev = pd.DataFrame({"time": [1.0, 2.0], "event": [0, 0]})
    with pytest.raises(InputError, match="no events"):
        cox_one_stage({"t": (noev, noev)})
    with pytest.raises(InputError, match="one arm has no events"):
        cox_one_stage({"t": (noev, pd.DataFrame({"time": [1.0, 2.0], "event": [1, 0]}))})
    with pytest.raises(InputError, match="mapping"):
        cox_one_stage(42)
    with pytest.raises(InputError, match="column arm"):
        cox_one_stage(pd.DataFrame({"trial": ["a"], "arm": [1], "time": [1.0], "event": [1]}))


@settings(max_examples=10, deadline=None)
@given(st.permutations(["veteran", "lung", "pbc"]), st.integers(0, 2**16))
def test_invariant_to_trial_and_patient_order(names, seed):
    rng = np.random.default_rng(seed)
    base = cox_one_stage(_arms(["veteran", "lung", "pbc"]))
    shuffled = {n: tuple(x.iloc[rng.permutation(len(x))] for x in _arms([n])[n]) for n in names}
    res = cox_one_stage(shuffled)
    assert res.log_hr == pytest.approx(base.log_hr, rel=1e-10)
    flipped = cox_one_stage({n: p[::-1] for n, p in shuffled.items()})
    assert flipped.log_hr == pytest.approx(-base.log_hr, rel=1e-9)
