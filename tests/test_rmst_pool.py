"""metaanalysis.pooling.rmst: RMST per arm against R survfit (print(fit, rmean=tau)), the pooled
difference and log ratio against metafor rma(), the default horizon, inputs and invariants."""

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
from metaanalysis.pooling.rmst import TAU_RULE, pool_rmst, rmst_over_tau, rmst_per_trial

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "rmst.json").read_text())
IPD = ROOT / "tests" / "data" / "ipd"
# survfit and metafor computed in double precision; the formulas are the same, so agreement is far
# tighter than this (observed < 1e-12), which is the house tolerance for R references.
RTOL = 1e-6


def _arms(names=None):
    out = {}
    for n in names or REF["datasets"]:
        d = pd.read_csv(IPD / f"{n}.csv")
        out[n] = (d[d.arm == 1], d[d.arm == 0])
    return out


ARMS = _arms()


def test_reference_grid_complete():
    assert REF["datasets"] == ["veteran", "lung", "colon_death", "pbc", "myeloid", "gbsg"]
    assert all(len(REF["per_arm"][n]) == 5 for n in REF["datasets"])
    combos = {(c["tau"], c["measure"], c["method"], c["test"]) for c in REF["pooled"]}
    assert len(combos) == len(REF["pooled"]) == 2 * 2 * 3 * 2


@pytest.mark.parametrize("name", REF["datasets"])
def test_rmst_per_arm_matches_survfit(name):
    for case in REF["per_arm"][name]:
        row = rmst_per_trial({name: ARMS[name]}, tau=case["tau"]).iloc[0]
        for key in ("rmst_a", "se_a", "rmst_b", "se_b"):
            assert row[key] == pytest.approx(case[key], rel=RTOL), (name, case["tau"], key)
        assert row["difference"] == pytest.approx(case["rmst_a"] - case["rmst_b"], rel=RTOL)


def test_default_tau_rule():
    table = rmst_per_trial(ARMS)
    assert table["tau"].iloc[0] == REF["tau_default"]
    res = pool_rmst(ARMS)
    assert res.tau == REF["tau_default"] and res.tau_rule == TAU_RULE
    assert pool_rmst(ARMS, tau=100).tau_rule == "given"


@pytest.mark.parametrize("case", REF["pooled"], ids=lambda c: f"{c['measure']}-{c['method']}-{c['test']}-{c['tau']:g}")
def test_pooled_matches_metafor(case):
    res = pool_rmst(ARMS, tau=case["tau"], measure=case["measure"], method=case["method"], test=case["test"])
    fit = res.fit
    np.testing.assert_allclose(fit.yi, case["yi"], rtol=RTOL)
    np.testing.assert_allclose(fit.vi, case["vi"], rtol=RTOL)
    for key in ("estimate", "se", "ci_low", "ci_high", "pvalue", "q"):
        assert getattr(fit, key) == pytest.approx(case[key], rel=RTOL), key
    for key in ("tau2", "i2"):
        assert getattr(fit, key) == pytest.approx(case[key], rel=RTOL, abs=1e-10), key
    back = math.exp if case["measure"] == "RMSTR" else float
    assert res.estimate == pytest.approx(back(case["estimate"]), rel=RTOL)
    assert res.ci_low == pytest.approx(back(case["ci_low"]), rel=RTOL)


def test_ratio_se_is_delta_method():
    t = rmst_per_trial(ARMS, tau=300)
    expect = np.sqrt((t.se_a / t.rmst_a) ** 2 + (t.se_b / t.rmst_b) ** 2)
    np.testing.assert_allclose(t.se_log_ratio, expect, rtol=1e-12)
    np.testing.assert_allclose(t.ratio, t.rmst_a / t.rmst_b, rtol=1e-12)


def test_hand_computed_rmst():
    # KM of b: 1 -> 0.75 at 1, 0.5 at 3, 0.25 at 5; area to 7 = 1 + 0.75*2 + 0.5*2 + 0.25*2 = 4
    a = pd.DataFrame({"time": [2, 4, 6, 8], "event": [1, 1, 0, 1]})
    b = pd.DataFrame({"time": [1, 3, 5, 7], "event": [1, 1, 1, 0]})
    row = rmst_per_trial({"T": (a, b)}).iloc[0]
    assert row.tau == 7 and row.rmst_b == pytest.approx(4.0) and row.rmst_a == pytest.approx(5.0)


def test_over_tau_equals_single_fits():
    grid = rmst_over_tau(ARMS, [150, 300, REF["tau_default"]], measure="RMSTR", method="DL")
    assert list(grid.columns) == ["tau", "measure", "estimate", "ci_low", "ci_high", "se", "pvalue", "tau2", "i2", "k"]
    for _, row in grid.iterrows():
        single = pool_rmst(ARMS, tau=row.tau, measure="RMSTR", method="DL")
        assert row.estimate == pytest.approx(single.estimate, rel=1e-12)
        assert row.ci_high == pytest.approx(single.ci_high, rel=1e-12)


def test_inputs_long_frame_and_curves_agree():
    long = pd.concat([pd.read_csv(IPD / f"{n}.csv").assign(trial=n) for n in ("veteran", "pbc")])
    a = pool_rmst(long, tau=400)
    b = pool_rmst(_arms(["veteran", "pbc"]), tau=400)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    # digitised curves (reconstructed inside) and their reconstructions give the same numbers
    d = pd.read_csv(IPD / "veteran.csv")
    ca = ma.simulate_digitisation(d.time[d.arm == 1], d.event[d.arm == 1], seed=1, study_id="vet")
    cb = ma.simulate_digitisation(d.time[d.arm == 0], d.event[d.arm == 0], seed=2, study_id="vet")
    from_curves = rmst_per_trial([(ca, cb)], tau=300)
    rec = {"vet": (ca.reconstruct(warn=False).ipd, cb.reconstruct(warn=False).ipd)}
    from_ipd = rmst_per_trial(rec, tau=300)
    assert from_curves.trial.tolist() == ["vet"]
    assert from_curves.rmst_a.iloc[0] == pytest.approx(from_ipd.rmst_a.iloc[0], rel=1e-12)
    # a reconstruction from a realistic digitisation is close to the truth (5% of tau)
    truth = rmst_per_trial({"vet": ARMS["veteran"]}, tau=300)
    assert abs(from_curves.difference.iloc[0] - truth.difference.iloc[0]) < 0.05 * 300


def test_errors_name_the_problem():
    with pytest.raises(InputError, match="beyond the follow-up of trial 'veteran'"):
        pool_rmst(ARMS, tau=600)
    with pytest.raises(InputError, match="RMSTD"):
        pool_rmst(ARMS, measure="RMST")
    with pytest.raises(InputError, match="positive"):
        rmst_per_trial(ARMS, tau=-1)
    with pytest.raises(InputError, match="pair"):
        rmst_per_trial({"x": ARMS["pbc"][0]})
    with pytest.raises(InputError, match="empty"):
        rmst_over_tau(ARMS, [])


def test_result_object():
    res = pool_rmst(ARMS, measure="RMSTD", test="knha")
    d = res.to_dict()
    json.dumps(d)
    assert d["measure"] == "RMSTD" and d["k"] == 6 and len(d["trials"]) == 6
    assert res.to_frame().shape[0] == 6
    assert "Restricted mean survival time difference" in res.summary() and "tval" in res.summary()
    assert repr(res).startswith("<RMSTPoolResult RMSTD") and "\n" not in repr(res)
    assert "<pre" in res._repr_html_()


@settings(max_examples=15, deadline=None)
@given(st.permutations(list(range(6))), st.sampled_from(["RMSTD", "RMSTR"]))
def test_invariant_to_trial_order_and_arm_swap(order, measure):
    names = [REF["datasets"][i] for i in order]
    base = pool_rmst(ARMS, tau=250, measure=measure)
    perm = pool_rmst({n: ARMS[n] for n in names}, tau=250, measure=measure)
    assert perm.fit.estimate == pytest.approx(base.fit.estimate, rel=1e-9, abs=1e-12)
    swapped = pool_rmst({n: ARMS[n][::-1] for n in names}, tau=250, measure=measure)
    assert swapped.fit.estimate == pytest.approx(-base.fit.estimate, rel=1e-9, abs=1e-12)
    assert swapped.fit.se == pytest.approx(base.fit.se, rel=1e-9)
