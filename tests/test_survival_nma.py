"""metaanalysis.network.survival: the Poisson GLM against R glm() on survSplit data, one interval
against the constant-HR model, FP1 fits, a simulation with known piecewise hazards, invariants."""

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
from metaanalysis.errors import ConvergenceError, InputError
from metaanalysis.network.survival import FP_POWERS, split_followup, survival_nma

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "survival_nma.json").read_text())
DATA = pd.DataFrame(REF["data"])
# R fits with glm.control(epsilon = 1e-12); ours converge as tightly: observed agreement < 1e-8.
RTOL = 1e-6


def _se(res):
    return np.sqrt(np.diag(res.cov))


def _pick(res, labels):
    idx = [res.names.index(n) for n in labels]
    return res.coef[idx], _se(res)[idx]


def test_reference_grid_complete():
    assert len(DATA) == 929 and set(DATA.trial) == {"T1", "T2", "T3"}
    assert [c["power"] for c in REF["fp1"]] == [-1, 0, 0.5, 1]
    assert len(REF["piecewise"]["labels"]) == 8


def test_split_matches_survsplit_convention():
    p, j, x, d = split_followup([365.0, 400.0, 10.0], [1, 1, 0], [365.0])
    # an event exactly at a cut belongs to the interval ending there, as survSplit's (start, stop]
    assert p.tolist() == [0, 1, 1, 2] and j.tolist() == [0, 0, 1, 0]
    assert x.tolist() == [365.0, 365.0, 35.0, 10.0] and d.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_piecewise_matches_glm_on_survsplit():
    pw = REF["piecewise"]
    res = survival_nma(DATA, breaks=pw["cuts"], reference="Obs")
    coef, se = _pick(res, pw["labels"])
    np.testing.assert_allclose(coef, pw["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, pw["se"], rtol=RTOL)
    assert res.deviance == pytest.approx(pw["deviance"], rel=RTOL)
    assert res.aic == pytest.approx(pw["aic"], rel=RTOL)
    assert res.df_resid == pw["df_resid"]
    tab = res.interval_hrs()
    lev = tab[tab.therapy == "Lev"]
    np.testing.assert_allclose(np.log(lev.hr), pw["coef"][:4], rtol=RTOL)
    z = 1.959963984540054
    np.testing.assert_allclose(np.log(lev.ci_high), np.add(pw["coef"][:4], z * np.array(pw["se"][:4])), rtol=RTOL)


def test_one_interval_equals_constant_hr_model():
    ref = REF["one_interval"]
    res = survival_nma(DATA, breaks=[], reference="Obs")
    coef, se = _pick(res, ref["labels"])
    np.testing.assert_allclose(coef, ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, ref["se"], rtol=RTOL)
    hr = res.hr_over_time([1.0, 3000.0])
    assert hr.groupby("therapy").log_hr.nunique().eq(1).all()   # constant over time


@pytest.mark.parametrize("case", REF["fp1"], ids=lambda c: f"p={c['power']}")
def test_fp1_matches_glm(case):
    res = survival_nma(DATA, model="fp1", power=case["power"], reference="Obs")
    np.testing.assert_allclose(res.cuts, REF["grid"], rtol=1e-12)
    coef, se = _pick(res, case["labels"])
    np.testing.assert_allclose(coef, case["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, case["se"], rtol=RTOL)
    assert res.deviance == pytest.approx(case["deviance"], rel=RTOL)
    assert res.aic == pytest.approx(case["aic"], rel=RTOL)


def test_fp1_power_chosen_by_aic():
    res = survival_nma(DATA, model="fp1", reference="Obs")
    assert res.fp_table.power.tolist() == list(FP_POWERS)
    assert res.power == res.fp_table.power[res.fp_table.aic.idxmin()]
    fixed = survival_nma(DATA, model="fp1", power=res.power, reference="Obs")
    assert fixed.aic == pytest.approx(res.aic, rel=1e-12)
    for c in REF["fp1"]:
        assert res.fp_table.set_index("power").aic[c["power"]] == pytest.approx(c["aic"], rel=RTOL)
    assert "fractional polynomial" in res.summary()


@pytest.mark.parametrize("case", REF["fp2"], ids=lambda c: f"p={c['powers']}")
def test_fp2_matches_glm(case):
    res = survival_nma(DATA, model="fp2", power=tuple(case["powers"]), reference="Obs")
    assert res.power == tuple(float(p) for p in case["powers"])
    coef, se = _pick(res, case["labels"])
    np.testing.assert_allclose(coef, case["coef"], rtol=RTOL)
    np.testing.assert_allclose(se, case["se"], rtol=RTOL)
    assert res.deviance == pytest.approx(case["deviance"], rel=RTOL)
    assert res.aic == pytest.approx(case["aic"], rel=RTOL)


def test_fp2_pair_chosen_by_aic_among_all_36():
    res = survival_nma(DATA, model="fp2", reference="Obs")
    tab = res.fp_table
    assert len(tab) == 36 and (tab.power1 <= tab.power2).all()
    assert len(set(zip(tab.power1, tab.power2))) == 36
    best = tab[tab.converged].aic.idxmin()
    assert res.power == (tab.power1[best], tab.power2[best])
    aic = tab.set_index(["power1", "power2"]).aic
    for c in REF["fp2"]:
        assert aic[tuple(float(p) for p in c["powers"])] == pytest.approx(c["aic"], rel=RTOL)
    # FP1 models are FP2 models with one term fewer: the best pair fits at least as well as the
    # best power (its deviance is no larger)
    fp1 = survival_nma(DATA, model="fp1", reference="Obs")
    assert res.deviance <= fp1.deviance + 1e-9
    assert "second-order fractional polynomial, powers" in res.summary()
    assert repr(res).startswith(f"<SurvivalNMAResult fp2 p={res.power[0]:g}, {res.power[1]:g}")


@pytest.mark.parametrize("model", ["fp1", "fp2"])
def test_fp_does_not_depend_on_the_time_unit(model):
    # the powers are of time over the last time, so days, months and minutes give one model. In
    # t itself, fp1's power 3 (t^3 up to 3e10 days^3) was called non-converged in days but not in
    # months, which changed the power chosen, and in minutes a column was refused as not estimable
    for unit in (30.4375, 1 / 1440):
        a = survival_nma(DATA, model=model, reference="Obs")
        b = survival_nma(DATA.assign(time=DATA.time / unit), model=model, reference="Obs")
        assert a.fp_table.converged.all() and b.fp_table.converged.all()
        assert b.power == a.power
        np.testing.assert_allclose(b.fp_table.deviance, a.fp_table.deviance, rtol=1e-7)
    months = DATA.assign(time=DATA.time / 30.4375)
    for power in ((-1.0, 3.0, 0.5) if model == "fp1" else ((0.0, 0.0), (-1.0, 1.0))):
        a = survival_nma(DATA, model=model, power=power, reference="Obs")
        b = survival_nma(months, model=model, power=power, reference="Obs",
                         grid=np.asarray(a.cuts) / 30.4375)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-9)
        t = np.array([100.0, 900.0, 2500.0])
        np.testing.assert_allclose(b.hr_over_time(t / 30.4375).log_hr,
                                   a.hr_over_time(t).log_hr, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(b.survival(t / 30.4375).survival, a.survival(t).survival,
                                   rtol=1e-9)


def test_fp2_recovers_a_hazard_ratio_that_rises_and_falls():
    # known truth: a constant hazard in the control arm and log HR(t) = d0 + d1 log u +
    # d2 (log u)^2 with u = t / 30 (the FP2 model with the repeated power 0), simulated by
    # inverting the cumulative hazard on a fine grid; the fit on a fine split recovers log HR(t)
    # within its 99.9 % interval at five times
    rng = np.random.default_rng(5)
    d0, d1, d2 = -0.3, -0.5, -0.25
    fine = np.linspace(0.0, 30.0, 30001)[1:]
    rows = []
    for trial, lam in (("T1", 0.06), ("T2", 0.09)):
        for th in ("C", "A"):
            u = fine / 30.0
            lhr = d0 + d1 * np.log(u) + d2 * np.log(u) ** 2 if th == "A" else 0.0 * u
            H = np.cumsum(lam * np.exp(lhr) * (30.0 / 30000))
            draws = rng.exponential(1.0, 3000)
            t = fine[np.minimum(np.searchsorted(H, draws), len(fine) - 1)]
            c = rng.uniform(20, 30, 3000)
            rows.append(pd.DataFrame({"trial": trial, "therapy": th, "time": np.minimum(t, c),
                                      "event": ((t <= c) & (draws <= H[-1])).astype(int)}))
    data = pd.concat(rows, ignore_index=True)
    end = float(data.time.max())
    res = survival_nma(data, model="fp2", power=(0, 0), reference="C",
                       grid=np.linspace(0, end, 101)[1:-1], level=99.9)
    times = np.array([0.5, 2.0, 6.0, 12.0, 24.0])
    hr = res.hr_over_time(times)
    truth = d0 + d1 * np.log(times / 30.0) + d2 * np.log(times / 30.0) ** 2
    assert ((np.log(hr.ci_low) < truth) & (truth < np.log(hr.ci_high))).all(), hr
    # the ratio rises then falls: its peak is where d1 + 2 d2 log u = 0 (u = e^-1)
    assert hr.log_hr.iloc[2] > hr.log_hr.iloc[0] and hr.log_hr.iloc[2] > hr.log_hr.iloc[4]


def _simulate(seed=11, n=400):
    """Three trials (A vs C, B vs C, A vs B) with piecewise-constant hazards changing at 6 and 12."""
    rng = np.random.default_rng(seed)
    cuts = np.array([6.0, 12.0])
    d = {"C": np.zeros(3), "A": np.array([-0.6, -0.2, 0.1]), "B": np.array([0.0, -0.4, -0.4])}
    base = {"T1": np.log([0.08, 0.05, 0.04]), "T2": np.log([0.06, 0.06, 0.03]), "T3": np.log([0.1, 0.04, 0.05])}
    design = {"T1": ("A", "C"), "T2": ("B", "C"), "T3": ("A", "B")}
    rows = []
    for trial, arms in design.items():
        for th in arms:
            h = np.exp(base[trial] + d[th])
            # inverse of the piecewise cumulative hazard at an Exp(1) draw
            lo = np.r_[0.0, cuts]
            width = np.diff(np.r_[lo, np.inf])
            H_at = np.r_[0.0, np.cumsum(h[:-1] * width[:-1])]
            u = rng.exponential(1.0, n)
            j = np.searchsorted(H_at, u, side="right") - 1
            t = lo[j] + (u - H_at[j]) / h[j]
            c = rng.uniform(18, 30, n)
            rows.append(pd.DataFrame({"trial": trial, "therapy": th, "time": np.minimum(t, c),
                                      "event": (t <= c).astype(int)}))
    return pd.concat(rows, ignore_index=True), cuts, d, base


def test_simulation_recovers_piecewise_hazards():
    data, cuts, d, base = _simulate()
    res = survival_nma(data, breaks=cuts, reference="C")
    for th in ("A", "B"):
        for j in range(3):
            k = res.names.index(f"therapy[{th}]:interval[{j}]")
            assert abs(res.coef[k] - d[th][j]) < 3 * _se(res)[k], (th, j)
    # the A vs B contrast is the difference of the two against C
    ab = res.hr_over_time([3.0, 9.0, 20.0], comparator="B")
    ac = res.hr_over_time([3.0, 9.0, 20.0]).set_index(["therapy", "time"]).log_hr
    ab = ab[ab.therapy == "A"]
    np.testing.assert_allclose(ab.log_hr, ac["A"].to_numpy() - ac["B"].to_numpy(), rtol=1e-10)
    # the modelled survival of C on T1's baseline against the truth, inside a 99.9 % interval
    wide = survival_nma(data, breaks=cuts, reference="C", baseline_trial="T1", level=99.9)
    s = wide.survival([3.0, 9.0, 15.0, 18.0])
    true_h = np.exp(base["T1"])
    for t, row in zip([3.0, 9.0, 15.0, 18.0], s[s.therapy == "C"].itertuples()):
        H = np.sum(true_h * np.clip(np.minimum(t, np.r_[cuts, np.inf]) - np.r_[0.0, cuts], 0, None))
        assert row.ci_low < math.exp(-H) < row.ci_high


def test_inputs_mapping_and_curves():
    data, cuts, _, _ = _simulate(n=150)
    nested = {t: {th: g[["time", "event"]] for th, g in tg.groupby("therapy")} for t, tg in data.groupby("trial")}
    a = survival_nma(data, breaks=cuts, reference="C")
    b = survival_nma(nested, breaks=cuts, reference="C")
    np.testing.assert_allclose(b.coef[[b.names.index(n) for n in a.names]], a.coef, rtol=1e-9)
    # digitised curves are reconstructed first
    curves = {t: {th: ma.simulate_digitisation(g.time, g.event, seed=i, risk_step=6, axis_end=30)
                  for i, (th, g) in enumerate(tg.groupby("therapy"))} for t, tg in data.groupby("trial")}
    c = survival_nma(curves, breaks=cuts, reference="C")
    assert set(c.therapies) == {"A", "B", "C"}
    k = c.names.index("therapy[A]:interval[0]")
    assert abs(c.coef[k] - a.coef[a.names.index("therapy[A]:interval[0]")]) < 2 * _se(a)[k]


def test_default_reference_and_result_object():
    res = survival_nma(DATA, breaks=[730])
    assert res.reference in {"Obs", "Lev", "Lev+5FU"} and res.therapies[0] == res.reference
    assert res.baseline_trial in res.trials
    json.dumps(res.to_dict())
    assert repr(res).startswith("<SurvivalNMAResult piecewise intervals=2") and "\n" not in repr(res)
    assert "piecewise-exponential" in res.summary()
    surv = res.survival()
    assert surv.groupby("therapy").survival.apply(lambda s: bool(np.all(np.diff(s) <= 1e-15))).all()
    assert (surv.ci_low <= surv.survival + 1e-12).all() and (surv.survival <= surv.ci_high + 1e-12).all()


def test_errors():
    with pytest.raises(InputError, match="not among the therapies"):
        survival_nma(DATA, reference="X")
    with pytest.raises(InputError, match="inside the follow-up"):
        survival_nma(DATA, breaks=[5000])
    with pytest.raises(InputError, match="fp1 takes grid"):
        survival_nma(DATA, model="fp1", breaks=[100])
    with pytest.raises(InputError, match="pair of powers"):
        survival_nma(DATA, model="fp2", power=0.5)
    with pytest.raises(InputError, match="pair of powers"):
        survival_nma(DATA, model="fp2", power=(0.5, 4))
    with pytest.raises(InputError, match="power must be one of"):
        survival_nma(DATA, model="fp1", power=(0, 1))
    with pytest.raises(InputError, match="power must be one of"):
        survival_nma(DATA, model="fp1", power="half")
    with pytest.raises(InputError, match="pair of powers"):
        survival_nma(DATA, model="fp2", power=("log", 1))
    with pytest.raises(InputError, match="use hr_over_time for fp2"):
        survival_nma(DATA, model="fp2", power=(0, 1), reference="Obs").interval_hrs()
    with pytest.raises(InputError, match="power must be one of"):
        survival_nma(DATA, model="fp1", power=4)
    with pytest.raises(InputError, match="model must be"):
        survival_nma(DATA, model="weibull")
    split = DATA[DATA.trial.isin(["T1"])].copy()
    other = DATA[DATA.trial == "T1"].assign(trial="T9", therapy=lambda x: x.therapy + "_other")
    with pytest.raises(InputError, match="not connected"):
        survival_nma(pd.concat([split, other]), reference="Obs")
    with pytest.raises(InputError, match="no events for"):
        survival_nma(DATA, breaks=[1, 2])
    with pytest.raises(InputError, match="at least two arms"):
        survival_nma({"T": {"A": DATA.iloc[:5]}})


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**16))
def test_invariant_to_row_and_trial_order(seed):
    rng = np.random.default_rng(seed)
    base = survival_nma(DATA, breaks=[730], reference="Obs")
    shuffled = DATA.iloc[rng.permutation(len(DATA))]
    res = survival_nma(shuffled, breaks=[730], reference="Obs")
    for name in base.names:
        if name.startswith("therapy"):
            assert res.coef[res.names.index(name)] == pytest.approx(base.coef[base.names.index(name)], rel=1e-8)


LATE = pd.read_csv(ROOT / "tests" / "data" / "late_trial_network.csv", float_precision="round_trip")


def _late_fit(case, model):
    power = case["power"] if model == "fp1" else tuple(case["powers"])
    res = survival_nma(LATE, model=model, power=power, reference="placebo")
    coef, se = _pick(res, ["therapy[drug]"] + [f"therapy[drug]{s}" for s in
                                               ([":f(t)"] if model == "fp1" else [":f1(t)", ":f2(t)"])])
    return res, coef, se


@pytest.mark.parametrize("model", ["fp1", "fp2"])
def test_cells_without_events_still_reach_glms_maximum(model):
    # Trial C (tests/data/late_trial_network.csv) has no events before t = 25: with a negative
    # power its early cells' fitted rates underflow, and statsmodels' IRLS stopped there with
    # converged=True short of the maximum (fp2 (-2, 0.5): deviance 88.81 against glm's 73.69;
    # fp1 -2 and -1 were called non-converged and left out though they are the best by AIC) or
    # raised a ValueError that ended the whole fp2 search. R's glm reaches every maximum.
    for case in REF["late"][model]:
        res, coef, se = _late_fit(case, model)
        assert res.deviance == pytest.approx(case["deviance"], rel=RTOL), case
        assert res.aic == pytest.approx(case["aic"], rel=RTOL)
        np.testing.assert_allclose(coef, case["coef"], rtol=RTOL, atol=1e-10)
        np.testing.assert_allclose(se, case["se"], rtol=1e-5)
    res = survival_nma(LATE, model=model, reference="placebo")
    assert res.fp_table.converged.all()
    best = min(REF["late"][model], key=lambda c: c["aic"])
    assert res.aic == pytest.approx(best["aic"], rel=RTOL)
    assert res.power == (best["power"] if model == "fp1" else tuple(best["powers"]))


def test_no_maximum_is_found_by_a_linear_programme():
    from metaanalysis.network.survival import _no_maximum

    # an intercept and a slope on x: counts only at x = 0 let the slope send every other
    # cell's rate to 0 (no maximum); counts on both sides pin it
    X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    assert _no_maximum(X, np.array([3.0, 0.0, 0.0, 0.0]))
    assert not _no_maximum(X, np.array([3.0, 0.0, 1.0, 0.0]))
    assert not _no_maximum(X, np.array([3.0, 2.0, 1.0, 4.0]))   # no cell without events
    # counts only at the middle: no linear rate can vanish on both sides, a maximum exists
    assert not _no_maximum(X, np.array([0.0, 5.0, 0.0, 0.0]))


def test_a_model_without_a_maximum_is_refused():
    # trial B's events all fall in the first interval of the grid, then 50 patients per arm are
    # followed to 60 without one: its baseline coefficient runs off to minus infinity for every
    # power (the deviance levels off while the Newton steps keep lowering those cells' log rates)
    rng = np.random.default_rng(3)
    rows = []
    for therapy, rate in (("placebo", 0.05), ("drug", 0.03)):
        t = rng.exponential(1 / rate, 80)
        rows += list(zip(["A"] * 80, [therapy] * 80, np.minimum(t, 60.0), (t <= 60).astype(int)))
        rows += list(zip(["B"] * 10, [therapy] * 10, rng.uniform(0, 2.5, 10), [1] * 10))
        rows += list(zip(["B"] * 50, [therapy] * 50, [60.0] * 50, [0] * 50))
    d = pd.DataFrame(rows, columns=["trial", "therapy", "time", "event"])
    with pytest.raises(ConvergenceError, match="none of the 8 powers of the fp1 model converged"):
        survival_nma(d, model="fp1", reference="placebo")
    with pytest.raises(ConvergenceError, match="power -1 did not converge"):
        survival_nma(d, model="fp1", reference="placebo", power=-1)
    # with trial B's events spread over its follow-up the same network has a maximum
    spread = d.copy()
    late_b = (spread.trial == "B") & (spread.event == 1)
    spread.loc[late_b, "time"] = np.linspace(3, 57, late_b.sum())
    assert survival_nma(spread, model="fp1", reference="placebo").fp_table.converged.all()


def test_curves_past_the_baseline_trial_s_own_follow_up_are_flagged():
    # T1 (the baseline trial) followed only to day 800: an FP curve on its baseline after that is
    # the model's continuation although T2 and T3 are followed to the network's end
    d = DATA.copy()
    t1 = d.trial == "T1"
    d.loc[t1 & (d.time > 800), "event"] = 0
    d.loc[t1, "time"] = d.loc[t1, "time"].clip(upper=800)
    res = survival_nma(d, model="fp2", power=(0, 0.5), reference="Obs")
    assert res.baseline_trial == "T1" and res.trial_end[0] == 800 and res.end > 3000
    s = res.survival([400, 800, 2000])
    for _, g in s.groupby("therapy"):
        assert g.beyond_follow_up.tolist() == [False, False, True]
    assert not res.hr_over_time([2000]).beyond_follow_up.any()   # the ratios rest on all trials
    t2 = res.survival([2000], baseline_trial="T2")
    assert not t2.beyond_follow_up.any()
    assert res.to_dict()["trial_end"][0] == 800


def test_a_coefficient_the_data_cannot_estimate_is_refused():
    # xenon's only trial has no control patient at risk after 30: after the break at 40 the
    # xenon column equals that trial's baseline column (R's glm returns NA for it); the fit
    # split the value between the two and printed a "significant" ratio
    rng = np.random.default_rng(2)
    rows = []
    for trial, therapy, cens in (("RHA", "control", 80), ("RHA", "argon", 80),
                                 ("RHX", "control", 30), ("RHX", "xenon", 80)):
        t = rng.exponential(40, 80)
        c = rng.uniform(0, cens, 80) if cens < 80 else np.full(80, 80.0)
        rows.extend(zip([trial] * 80, [therapy] * 80, np.minimum(t, c), (t <= c).astype(int)))
    d = pd.DataFrame(rows, columns=["trial", "therapy", "time", "event"])
    with pytest.raises(InputError, match=r"therapy\[xenon\]:interval\[1\] is not estimable"):
        survival_nma(d, breaks=[40], reference="control")
    # breaks that leave a NaN are an error, not all follow-up after it silently dropped
    with pytest.raises(InputError, match="breaks must lie inside the follow-up"):
        survival_nma(d, breaks=[np.nan, 20], reference="control")
    with pytest.raises(InputError, match="grid must lie inside the follow-up"):
        survival_nma(d, model="fp1", grid=[np.nan, 20], reference="control")
    # a therapy not followed into the last interval: the fit's views give NaN there, not an error
    res = survival_nma(d, breaks=[20], reference="control")
    assert np.isfinite(res.interval_hrs()["hr"]).all()
    short = d[~((d.therapy == "xenon") & (d.time > 35))]
    res = survival_nma(short, breaks=[10, 50], reference="control")
    assert "therapy[xenon]:interval[2]" not in res.names
    tab = res.interval_hrs().set_index(["therapy", "interval"])
    assert np.isnan(tab.loc[("xenon", 2), "hr"]) and np.isfinite(tab.loc[("argon", 2), "hr"])
    assert "xenon" in res.summary() and len(res.to_frame()) and json.dumps(res.to_dict())


def test_past_the_last_follow_up_is_extrapolation_and_says_so():
    # a fractional polynomial's hazard beyond the data is a model's guess: asked for, flagged and
    # continued (not a flat curve, which would be a hazard of 0 after the last time)
    fp = survival_nma(DATA, model="fp1", power=0, reference="Obs")
    end = fp.end
    with pytest.raises(InputError, match="extrapolation.*extrapolate=True"):
        fp.survival([end / 2, 2 * end])
    with pytest.raises(InputError, match="past the last follow-up"):
        fp.hr_over_time([2 * end])
    s = fp.survival([end / 2, end, 1.5 * end, 2 * end], extrapolate=True)
    # (at `end` itself only if the baseline trial, T1, was followed for less long than the network)
    own = fp.trial_end[fp.trials.index(fp.baseline_trial)]
    assert own < end
    assert s.beyond_follow_up.tolist() == [False, True, True, True] * len(fp.therapies)
    for _, g in s.groupby("therapy"):
        assert np.all(np.diff(g.survival.to_numpy()) < 0)  # still falling past the data
    # with power 0 the reference's log hazard is linear in log t: past `end` the cumulative
    # hazard is the grid's midpoint rule of that hazard, within 1 % of its integral
    th = fp.therapies[0]
    b0 = fp.coef[fp.names.index(f"trial[{fp.baseline_trial}]")]
    b1 = fp.coef[fp.names.index(f"trial[{fp.baseline_trial}]:f(t)")]
    g = s[s.therapy == th].cumulative_hazard.to_numpy()
    # (log h = b0 + b1 log(t / end))
    exact = math.exp(b0) * end * (2 ** (b1 + 1) - 1) / (b1 + 1)
    assert g[3] - g[1] == pytest.approx(exact, rel=0.01)
    # inside the follow-up nothing changes with the flag
    inside = fp.survival([end / 2, end])
    np.testing.assert_allclose(inside.survival, s[s.time <= end].survival, rtol=1e-12)
    hr = fp.hr_over_time([2 * end], extrapolate=True)
    k = fp.names.index(f"therapy[{hr.therapy.iloc[0]}]")
    kf = fp.names.index(f"therapy[{hr.therapy.iloc[0]}]:f(t)")
    assert hr.log_hr.iloc[0] == pytest.approx(fp.coef[k] + fp.coef[kf] * math.log(2), rel=1e-12)
    assert hr.beyond_follow_up.all()
    # piecewise: the last interval's hazard held on, so the cumulative hazard grows linearly
    pw = survival_nma(DATA, breaks=[730], reference="Obs")
    c = pw.survival([pw.end, 1.5 * pw.end, 2 * pw.end], extrapolate=True)
    for _, g in c.groupby("therapy"):
        h = g.cumulative_hazard.to_numpy()
        assert h[2] - h[1] == pytest.approx(h[1] - h[0], rel=1e-12) and h[2] > h[1]
    assert len(pw.interval_hrs()) == 2 * (len(pw.therapies) - 1)
