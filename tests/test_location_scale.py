"""rma_ls against metafor's location-scale models (tests/reference/location_scale.R)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import ConvergenceError, InputError
from metaanalysis.pooling import meta_regression, pool
from metaanalysis.pooling.location_scale import _pieces, rma_ls

REF = json.loads((Path(__file__).parent / "reference" / "location_scale.json").read_text())

# How close R's optimum is: metafor's optimiser (BFGS at reltol 1e-14) stops where the
# log-likelihood agrees with ours to 1e-14, but on a flat likelihood the scale coefficients can
# still move: on dat.bcg's scale ~ alloc (one level's log tau² estimated as -0.047 with SE 5.2)
# they are 5e-5 apart, and R's own runs with other optimisers (nlm) differ from its BFGS run by as
# much. Elsewhere the coefficients agree to 2e-7 and their standard errors (R: a numerical
# Hessian) to 7e-7; p-values, steep functions of z, to 3e-6.
TOL = {"meta_meta_reml": 2e-6, "meta_meta_ml": 2e-6, "int_length_reml": 2e-6,
       "bcg_ablat_alloc": 1e-4, "meta_length_t": 2e-6, "meta_meta_knha": 2e-6,
       "bcg_ablat_int": 2e-6, "int_int_reml": 2e-6, "int_int_t": 2e-6}


def _fit(case):
    d = pd.DataFrame(REF["datasets"][case["dataset"]])
    mods = None if case["mods"] == "~ 1" else case["mods"]
    return rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods=mods, scale=case["scale"], data=d,
                  method=case["method"], test=case.get("test", "z"))


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_matches_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    res = _fit(case)
    rtol = TOL[case_id]
    # the log-likelihood at the optimum and the tests of heterogeneity, to rounding
    assert res.loglik == pytest.approx(exp["loglik"], rel=1e-12)
    assert res.aic == pytest.approx(exp["aic"], rel=1e-12)
    assert res.qe == pytest.approx(exp["qe"], rel=1e-12)
    for ours, theirs in (("coef", "beta"), ("se", "se"), ("statistic", "zval"), ("alpha", "alpha"),
                         ("alpha_se", "se_alpha"), ("alpha_statistic", "zval_alpha"),
                         ("tau2", "tau2")):
        np.testing.assert_allclose(getattr(res, ours), exp[theirs], rtol=rtol, err_msg=ours)
    # an interval's bound near 0 has no relative precision: compare on the interval's scale
    for ours, theirs, se in (("ci_low", "ci_low", res.se), ("ci_high", "ci_high", res.se),
                             ("alpha_ci_low", "ci_low_alpha", res.alpha_se),
                             ("alpha_ci_high", "ci_high_alpha", res.alpha_se)):
        gap = np.abs(getattr(res, ours) - np.asarray(exp[theirs]))
        assert np.all(gap <= rtol * 4 * se), (ours, gap)
    np.testing.assert_allclose(res.alpha_pvalue, exp["pval_alpha"], rtol=max(rtol, 5e-6))
    assert res.qs == pytest.approx(exp["qs"], rel=rtol)
    assert res.qs_pvalue == pytest.approx(exp["qs_pvalue"], rel=max(rtol, 5e-6))
    if case.get("test") in ("t", "knha"):  # F tests on k - p and k - q df, as metafor
        assert (res.qm_df2, res.qs_df2) == (exp["ddf"], exp["ddf_alpha"])
    # a lone intercept is tested too (metafor's default btt and att), on 1 df
    assert res.qm == pytest.approx(exp["qm"], rel=rtol)
    assert res.qm_pvalue == pytest.approx(exp["qm_pvalue"], rel=max(rtol, 5e-6))
    assert res.qm_df == len(exp["beta"]) - (len(exp["beta"]) > 1)
    assert res.qs_df == len(exp["alpha"]) - (len(exp["alpha"]) > 1)


def test_gradient_and_hessian_are_the_likelihood_s():
    # the analytic derivatives against central differences of the likelihood itself
    case = REF["cases"]["bcg_ablat_alloc"]
    d = pd.DataFrame(REF["datasets"][case["dataset"]])
    from metaanalysis.pooling.regression import design_matrix

    X = design_matrix("~ ablat", data=d, k=13)[0]
    Z = design_matrix("~ alloc", data=d, k=13)[0]
    y, v = d.yi.to_numpy(), d.vi.to_numpy()
    for reml, link, a0 in ((True, "log", [-2.0, 0.3, 0.8]), (False, "log", [-2.0, 0.3, 0.8]),
                           (True, "identity", [0.1, 0.3, 0.2]),
                           (False, "identity", [0.1, 0.3, 0.2])):
        a0 = np.array(a0)
        _, g, _, h, *_ = _pieces(a0, y, v, X, Z, reml, link)
        eps = 1e-5
        for j in range(3):
            e = np.zeros(3)
            e[j] = eps
            lp, gp = _pieces(a0 + e, y, v, X, Z, reml, link)[:2]
            lm, gm = _pieces(a0 - e, y, v, X, Z, reml, link)[:2]
            assert (lp - lm) / (2 * eps) == pytest.approx(g[j], rel=1e-6, abs=1e-9)
            np.testing.assert_allclose((gp - gm) / (2 * eps), h[:, j], rtol=1e-5, atol=1e-8)


def test_a_constant_scale_is_the_random_effects_model():
    bcg = ma.load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    from metaanalysis.pooling.diagnostics import loglik

    # (metafor's Fisher scoring, which meta_regression and pool follow, stops when tau² moves
    # less than 1e-5; the scale's Newton steps go to the optimum: a likelihood at least as high)
    res = rma_ls(es.yi, es.vi, mods="~ ablat", scale="~ 1", data=bcg, method="ML")
    reg = meta_regression(es.yi, es.vi, mods="~ ablat", data=bcg, method="ML")
    assert np.exp(res.alpha[0]) == pytest.approx(reg.tau2, abs=1e-5)
    assert res.loglik >= loglik(reg) - 1e-12
    np.testing.assert_allclose(res.coef, reg.coef, rtol=1e-3)
    res0 = rma_ls(es.yi, es.vi, scale="~ 1", data=bcg)
    fit = pool(es.yi, es.vi)
    assert np.exp(res0.alpha[0]) == pytest.approx(fit.tau2, abs=1e-5)
    assert res0.loglik >= loglik(fit) - 1e-12
    # each lone intercept is tested, as its squared z (metafor's QM and QS); the summary prints
    # no separate test line for a single coefficient, as metafor's print
    assert (res0.qm_df, res0.qs_df) == (1, 1)
    assert res0.qm == pytest.approx(res0.statistic[0] ** 2, rel=1e-12)
    assert res0.qs == pytest.approx(res0.alpha_statistic[0] ** 2, rel=1e-12)
    assert "Test of Location" not in res0.summary() and "Test of Scale" not in res0.summary()


def test_views_and_refusals():
    case = REF["cases"]["meta_meta_reml"]
    res = _fit(case)
    frame = res.to_frame()
    assert list(frame.index.get_level_values("part")) == ["location"] * 2 + ["scale"] * 2
    text = res.summary()
    # the reference script keeps the 44 studies with both meta and length recorded
    assert f"Location-Scale Model (k = {len(REF['datasets']['bangertdrowns']['yi'])};" in text
    assert len(REF["datasets"]["bangertdrowns"]["yi"]) == 44
    assert "Model Results (Scale, log tau^2):" in text and "QS(df = 1)" in text
    assert res.to_dict()["alpha_names"] == ["intrcpt", "meta"]
    d = pd.DataFrame(REF["datasets"]["bangertdrowns"])
    t = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ meta", scale="~ meta", data=d, test="t")
    assert t.qs_df2 == len(d) - 2 and "FS(df1 = 1" in t.summary()
    with pytest.raises(InputError, match="give scale="):
        rma_ls(d.yi, d.vi)
    with pytest.raises(InputError, match="'log' .* or 'identity'"):
        rma_ls(d.yi, d.vi, scale="~ meta", data=d, link="probit")
    with pytest.raises(InputError, match="'REML' or 'ML'"):
        rma_ls(d.yi, d.vi, scale="~ meta", data=d, method="DL")
    # a group of studies without heterogeneity: its log tau² runs off to minus infinity
    y = np.r_[np.full(6, 0.2), np.random.default_rng(1).normal(0, 0.8, 6)]
    with pytest.raises(ConvergenceError, match="simplify scale"):
        rma_ls(y, np.full(12, 0.04), scale=np.r_[np.zeros(6), np.ones(6)])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 5.0), st.randoms(use_true_random=False))
def test_invariants_permutation_and_scale(seed, c, rnd):
    # data with more heterogeneity in one group: the scale model's own setting
    rng = np.random.default_rng(seed)
    k = 24
    g = np.repeat([0.0, 1.0], k // 2)
    vi = rng.uniform(0.01, 0.1, k)
    yi = rng.normal(0.3, np.sqrt(vi + np.where(g == 1, 0.2, 0.03)))
    x = rng.normal(size=k)
    # a group whose tau² is estimated at 0 has no finite log tau²: not the invariants' setting
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            res = rma_ls(yi, vi, mods=x, scale=g)
        except (ConvergenceError, RuntimeWarning):
            assume(False)
    assume(res.tau2.min() > 1e-4 * vi.min())
    perm = list(range(k))
    rnd.shuffle(perm)
    again = rma_ls(yi[perm], vi[perm], mods=x[perm], scale=g[perm])
    np.testing.assert_allclose(again.alpha, res.alpha, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(again.coef, res.coef, rtol=1e-6, atol=1e-10)
    # effects in other units: beta scales by c, log tau² shifts by log c² (slopes unchanged)
    scaled = rma_ls(c * yi, c**2 * vi, mods=x, scale=g)
    np.testing.assert_allclose(scaled.coef, c * res.coef, rtol=1e-6, atol=1e-10)
    assert scaled.alpha[0] == pytest.approx(res.alpha[0] + 2 * np.log(c), abs=1e-6)
    assert scaled.alpha[1] == pytest.approx(res.alpha[1], abs=1e-6)
    assert scaled.loglik == pytest.approx(res.loglik - (k - 2) * np.log(c), abs=1e-7)
    assert np.all(res.alpha_ci_low < res.alpha) and np.all(res.alpha < res.alpha_ci_high)


def test_a_tau2_at_zero_is_said():
    # one group's heterogeneity is estimated at 0: its log tau² has no finite estimate
    rng = np.random.default_rng(243)
    g = np.repeat([0.0, 1.0], 12)
    vi = rng.uniform(0.01, 0.1, 24)
    yi = rng.normal(0.3, np.sqrt(vi + np.where(g == 1, 0.2, 0.03)))
    with pytest.warns(RuntimeWarning, match="tau² is essentially 0"):
        res = rma_ls(yi, vi, mods=rng.normal(size=24), scale=g)
    assert res.tau2[:12].max() < 1e-8 * vi.min()


# --- identity link (tests/reference/location_scale_identity.R) -------------------------------------
REF_ID = json.loads((Path(__file__).parent / "reference" /
                     "location_scale_identity.json").read_text())


def _fit_identity(case):
    d = pd.DataFrame(REF_ID["datasets"][case["dataset"]])
    mods = None if case["mods"] == "~ 1" else case["mods"]
    return rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods=mods, scale=case["scale"], data=d,
                  method=case["method"], test=case.get("test", "z"), link="identity")


def _nums(values):
    return np.array([np.nan if x is None else x for x in values], dtype=float)


@pytest.mark.parametrize("case_id", sorted(REF_ID["cases"]))
def test_identity_link_matches_metafor(case_id):
    case = REF_ID["cases"][case_id]
    exp, theirs = case["expected"], case["metafor"]
    edge = np.asarray(case["edge_studies"], int) - 1  # R counts from 1
    if len(edge):
        with pytest.warns(RuntimeWarning, match=f"tau² is 0 at the estimate for {len(edge)} of"):
            res = _fit_identity(case)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = _fit_identity(case)
    # the optimum R reaches by Newton steps on metafor's likelihood (numDeriv's derivatives)
    rtol = 1e-6
    assert res.loglik == pytest.approx(exp["loglik"], rel=1e-11)
    np.testing.assert_allclose(res.alpha, exp["alpha"], rtol=rtol)
    for ours, key in (("coef", "beta"), ("se", "se"), ("statistic", "zval"), ("pvalue", "pval"),
                      ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        np.testing.assert_allclose(getattr(res, ours), exp[key], rtol=rtol, err_msg=ours)
    assert res.qe == pytest.approx(exp["qe"], rel=1e-12)
    assert res.qm == pytest.approx(exp["qm"], rel=rtol)  # intercept-only locations included
    # a study held at the edge has tau² exactly 0 (R's steps keep it at 1e-13)
    np.testing.assert_allclose(res.tau2, exp["tau2"], rtol=rtol, atol=1e-12)
    assert np.all(res.tau2[edge] == 0) and np.all(res.tau2 >= 0)
    if len(edge):  # no standard errors on the edge, as metafor's NA
        assert np.all(np.isnan(res.alpha_se)) and np.all(np.isnan(_nums(exp["se_alpha"])))
        assert np.all(np.isnan(_nums(theirs["se_alpha"])))
        assert math.isnan(res.qs) and exp["qs"] is None
    else:
        for ours, key in (("alpha_se", "se_alpha"), ("alpha_statistic", "zval_alpha"),
                          ("alpha_pvalue", "pval_alpha"), ("alpha_ci_low", "ci_low_alpha"),
                          ("alpha_ci_high", "ci_high_alpha")):
            np.testing.assert_allclose(getattr(res, ours), exp[key], rtol=1e-6, err_msg=ours)
        assert res.qs == pytest.approx(exp["qs"], rel=1e-6)
        assert res.qs_pvalue == pytest.approx(exp["qs_pvalue"], rel=1e-6)
    # metafor's own fit (constrOptim, a barrier method) stops short of that optimum: our
    # log-likelihood is at least as high, and its estimates are within 3e-5 of ours
    assert res.loglik >= theirs["loglik"] - 1e-12
    np.testing.assert_allclose(res.alpha, theirs["alpha"], rtol=3e-5,
                               atol=1e-7 * np.max(np.abs(theirs["alpha"])))
    assert "Model Results (Scale, tau^2):" in res.summary()
    assert res.to_dict()["link"] == "identity"


def test_identity_link_holds_a_group_without_heterogeneity_at_zero():
    # the data on which the log link cannot fit (its log tau² runs off to minus infinity)
    y = np.r_[np.full(6, 0.2), np.random.default_rng(1).normal(0, 0.8, 6)]
    v = np.full(12, 0.04)
    g = np.r_[np.zeros(6), np.ones(6)]
    with pytest.raises(ConvergenceError, match="link='identity'"):
        rma_ls(y, v, scale=g)
    with pytest.warns(RuntimeWarning, match="tau² is 0 at the estimate for 6 of 12"):
        res = rma_ls(y, v, scale=g, link="identity")
    assert np.all(res.tau2[:6] == 0) and res.tau2[6] > 0
    # the second group's tau² is then that group's own REML estimate with the common mean
    # estimated from all twelve: checked against a direct search over that one number
    from scipy.optimize import minimize_scalar

    def negll(t1):
        return -_pieces(np.array([0.0, t1]), y, v, np.ones((12, 1)),
                        np.c_[np.ones(12), g], True, "identity")[0]

    best = minimize_scalar(negll, bounds=(0, 5), method="bounded", options={"xatol": 1e-12})
    assert res.tau2[6] == pytest.approx(best.x, rel=1e-6)
    assert res.loglik == pytest.approx(-best.fun, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.2, 5.0), st.randoms(use_true_random=False))
def test_identity_link_invariants(seed, c, rnd):
    # permutation of the studies; effects in other units (tau² and so every alpha scale by c²);
    # and no feasible point near the estimate has a higher likelihood (the edge included)
    rng = np.random.default_rng(seed)
    k = 20
    g = np.repeat([0.0, 1.0], k // 2)
    x = rng.normal(size=k)
    vi = rng.uniform(0.01, 0.1, k)
    yi = rng.normal(0.3, np.sqrt(vi + np.where(g == 1, 0.15, 0.02)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = rma_ls(yi, vi, mods=x, scale=g, link="identity")
        perm = list(range(k))
        rnd.shuffle(perm)
        again = rma_ls(yi[perm], vi[perm], mods=x[perm], scale=g[perm], link="identity")
        scaled = rma_ls(c * yi, c**2 * vi, mods=x, scale=g, link="identity")
    np.testing.assert_allclose(again.alpha, res.alpha, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(again.coef, res.coef, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(scaled.alpha, c**2 * res.alpha, rtol=1e-6, atol=1e-9 * c**2)
    np.testing.assert_allclose(scaled.coef, c * res.coef, rtol=1e-6, atol=1e-10)
    X, Z = np.c_[np.ones(k), x], np.c_[np.ones(k), g]
    for _ in range(20):
        cand = res.alpha + rng.normal(0, 1e-3, 2)
        if np.all(Z @ cand >= 0):
            assert _pieces(cand, yi, vi, X, Z, True, "identity")[0] <= res.loglik + 1e-12
    assert np.all(res.tau2 >= 0)


def test_an_uncentred_scale_moderator_fits_as_the_centred_one():
    # a scale moderator such as the publication year (about 2000) gives an intercept near -60
    # while every study's log tau² is near -3; the fit used to stop there, taking a coefficient
    # below -40 for a tau² heading to 0 (an audit on metafor's dat.crede2010, where metafor
    # converges). Shifting a scale moderator only moves the intercept (alpha_0 - 2000 alpha_1)
    rng = np.random.default_rng(11)
    k = 60
    year = rng.integers(1985, 2015, k).astype(float)
    vi = rng.uniform(0.002, 0.02, k)
    tau2 = np.exp(-3.0 + 0.04 * (year - 2000))
    yi = rng.normal(0.4, np.sqrt(vi + tau2))
    d = pd.DataFrame({"yi": yi, "vi": vi, "year": year, "yc": year - 2000})
    raw = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), scale="~ year", data=d)
    centred = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), scale="~ yc", data=d)
    assert raw.alpha[0] < -40
    assert raw.loglik == pytest.approx(centred.loglik, rel=1e-10)
    assert raw.alpha[1] == pytest.approx(centred.alpha[1], rel=1e-7)
    assert raw.alpha[0] == pytest.approx(centred.alpha[0] - 2000 * centred.alpha[1], rel=1e-7)
    np.testing.assert_allclose(raw.tau2, centred.tau2, rtol=1e-7)
    np.testing.assert_allclose(raw.coef, centred.coef, rtol=1e-8)
    assert raw.alpha_se[1] == pytest.approx(centred.alpha_se[1], rel=1e-5)


# --------------------------------------------------------------------------------------------
# anova() of location-scale models against metafor's anova.rma (location_scale.R)
# --------------------------------------------------------------------------------------------

def _fit_spec(spec):
    dataset, mods, scale = spec[:3]
    method = spec[3] if len(spec) > 3 else "REML"
    test = spec[4] if len(spec) > 4 else "z"
    d = pd.DataFrame(REF["datasets"][dataset])
    return rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods=None if mods == "~ 1" else mods,
                  scale=scale, data=d, method=method, test=test)


@pytest.mark.parametrize("case_id", ["same_location_reml", "other_location_ml", "refit_reml"])
def test_anova_lrt_matches_metafor(case_id):
    case = REF["anova"][case_id]
    exp = case["expected"]
    full, reduced = _fit_spec(case["full"]), _fit_spec(case["reduced"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same location (or ML): no REML warning
        # metafor's refit: both models refitted with ML (the REML fits are given here)
        res = ma.anova(reduced, full, refit=case["refit"])  # the order does not matter
    assert res.refitted == case["refit"]
    assert (res.parms_full, res.parms_reduced) == (exp["parms_full"], exp["parms_reduced"])
    assert res.lrt == pytest.approx(exp["lrt"], rel=1e-6)
    assert res.pvalue == pytest.approx(exp["pvalue"], rel=1e-6)
    for ours, theirs in ((res.full.loglik, "loglik_full"), (res.reduced.loglik, "loglik_reduced"),
                         (res.full.aic, "aic_full"), (res.reduced.aic, "aic_reduced"),
                         (res.full.bic, "bic_full"), (res.full.aicc, "aicc_full"),
                         (res.qe_full, "qe_full"), (res.qe_reduced, "qe_reduced")):
        assert ours == pytest.approx(exp[theirs], rel=1e-9), theirs
    # as metafor's table: no single tau² and no R² for location-scale models
    assert math.isnan(res.tau2_full) and math.isnan(res.r2)
    assert "tau^2" not in res.summary() and "LRT" in res.summary()


@pytest.mark.parametrize("case_id", ["att_z", "att_knha", "att_both", "btt_t"])
def test_anova_wald_matches_metafor(case_id):
    case = REF["anova"][case_id]
    exp = case["expected"]
    res = _fit_spec(case["model"])
    if "att" in case:  # metafor's positions count from 1, ours (as btt=) from 0
        out = ma.anova(res, att=[j - 1 for j in np.atleast_1d(case["att"])])
        names = [res.alpha_names[j - 1] for j in np.atleast_1d(case["att"])]
    else:
        out = ma.anova(res, btt=[j - 1 for j in np.atleast_1d(case["btt"])])
        names = [res.coef_names[j - 1] for j in np.atleast_1d(case["btt"])]
    tol = TOL.get("bcg_ablat_alloc" if case["model"][0] == "bcg" else "meta_meta_reml")
    assert out.qm == pytest.approx(exp["q"], rel=tol)
    assert out.qm_pvalue == pytest.approx(exp["pvalue"], rel=max(tol, 5e-6))
    assert (out.qm_df, out.qm_df2) == (exp["df"], exp["df2"])
    assert list(out.coefs) == names


@pytest.mark.parametrize("case_id", ["x_z", "z_z", "z_short", "z_t", "x_t_rhs", "x_bd", "z_bd"])
def test_anova_linear_combinations_match_metafor(case_id):
    # anova(ls, X=) for the location, anova(ls, Z=) for the scale (log tau²), each combination
    # and the omnibus test; z_short leaves the scale's intercept column out, as metafor allows
    case = REF["anova"][case_id]
    exp = case["expected"]
    res = _fit_spec(case["model"])
    kw = {"Z": case["Z"]} if case.get("Z") else {"X": case["X"]}
    if case.get("rhs") is not None:
        kw["rhs"] = case["rhs"]
    out = ma.anova(res, **kw)
    tol = TOL["bcg_ablat_alloc" if case["model"][0] == "bcg" else "meta_meta_reml"]
    assert out.part == ("scale" if "Z" in kw else "location")
    for ours, theirs in ((out.estimate, "estimate"), (out.se, "se"), (out.statistic, "statistic"),
                         (out.pvalue, "pval")):
        np.testing.assert_allclose(ours, exp[theirs], rtol=max(tol, 5e-6), err_msg=theirs)
    assert out.qm == pytest.approx(exp["q"], rel=tol)
    assert out.qm_pvalue == pytest.approx(exp["pvalue"], rel=max(tol, 5e-6))
    assert (out.qm_df, out.qm_df2) == (exp["df"], exp["df2"])
    if "rhs" not in kw:  # metafor prints a non-zero rhs with 4 decimals
        assert list(out.hypotheses) == exp["hypotheses"]
    text = out.summary()
    assert ("QS(df = " in text) == ("Z" in kw and exp["df2"] is None)


def test_anova_of_a_location_scale_model_takes_one_kind_of_test():
    d = pd.DataFrame(REF["datasets"]["bcg"])
    ls = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ ablat", scale="~ alloc", data=d)
    # metafor refuses X with Z, and silently lets Z win over btt: here any two are an error
    for kw in ({"X": [1, 10], "Z": [0, 1, -1]}, {"btt": 1, "Z": [0, 1, -1]},
               {"att": 1, "X": [1, 10]}):
        with pytest.raises(InputError, match="give one of"):
            ma.anova(ls, **kw)
    with pytest.raises(InputError, match="Z has 4 columns but the model has 3 coefficients"):
        ma.anova(ls, Z=[[1, 0, 0, 1]])
    reg = meta_regression(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ ablat", data=d)
    with pytest.raises(InputError, match="Z= tests scale coefficients.*use X="):
        ma.anova(reg, Z=[0, 1])
    with pytest.raises(InputError, match="likelihood-ratio test takes two models only"):
        ma.anova(ls, ls, Z=[0, 1, -1])
    # the scale's intercept alone is exp(alpha_0) = tau² of the reference level (log link)
    one = ma.anova(ls, Z=[1, 0, 0])
    assert one.estimate[0] == pytest.approx(ls.alpha[0], rel=1e-12)
    assert one.se[0] == pytest.approx(np.sqrt(ls.alpha_vcov[0][0]), rel=1e-12)


def test_anova_of_location_scale_models_reads_the_right_parts():
    d = pd.DataFrame(REF["datasets"]["bangertdrowns"])
    ls = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ meta", scale="~ meta", data=d)
    # the defaults are the summary's tests: QM of the location, and by att= QS of the scale
    assert ma.anova(ls).qm == pytest.approx(ls.qm, rel=1e-12)
    assert ma.anova(ls, att="meta").qm == pytest.approx(ls.qs, rel=1e-12)
    text = ma.anova(ls, att="meta").summary()
    assert "Test of Scale Coefficients (coefficient meta):" in text and "QS(df = 1)" in text
    assert "Test of Location Coefficients" in ma.anova(ls).summary()
    assert ma.anova(ls, att="meta").to_dict()["part"] == "scale"
    # a random-effects meta-regression is the location-scale model with scale ~ 1: the same
    # likelihood, so the same test whichever of the two is the reduced model
    ls0 = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ meta", scale="~ 1", data=d)
    reg = meta_regression(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ meta", data=d)
    a, b = ma.anova(ls, ls0), ma.anova(ls, reg)
    assert b.lrt == pytest.approx(a.lrt, rel=1e-6, abs=1e-8)
    assert b.parms_reduced == a.parms_reduced == 3
    with pytest.raises(InputError, match="give one of"):
        ma.anova(ls, btt="meta", att="meta")
    with pytest.raises(InputError, match="only a location-scale model"):
        ma.anova(reg, att="meta")
    with pytest.raises(InputError, match="give one of"):
        ma.anova(ls, btt="meta", X=[[0, 1]])
    with pytest.raises(InputError, match="same number|different numbers"):
        ma.anova(ls, rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ length", scale="~ meta",
                            data=d))
    ml = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ meta", scale="~ 1", data=d,
                method="ML")
    with pytest.raises(InputError, match="fit both with ML"):
        ma.anova(ls, ml)
    with pytest.raises(InputError, match="same yi and vi"):
        ma.anova(ls, rma_ls(d.yi.to_numpy()[:-1], d.vi.to_numpy()[:-1], scale="~ 1",
                            data=d.iloc[:-1]))
    # REML fits with different location moderators: warned, as metafor, unless refitted
    other = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), scale="~ 1", data=d)
    with pytest.warns(UserWarning, match="refit=True"):
        ma.anova(ls, other)


# --------------------------------------------------------------------------------------------
# predict() against metafor's predict.rma.ls (location_scale.R)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", sorted(REF["predict"]))
def test_predict_matches_metafor(case_id):
    case = REF["predict"][case_id]
    exp = case["expected"]
    res = _fit_spec(case["model"])
    newmods = None if case["newmods"] is None else np.array(case["newmods"], dtype=float)
    newscale = None if case["newscale"] is None else np.array(case["newscale"], dtype=float)
    out = res.predict(newmods=newmods, newscale=newscale, intercept=case["intercept"],
                      transf=np.exp if case["transf"] == "exp" else None)
    tol = 1e-4 if case["model"][0] == "bcg" else 2e-6  # as test_matches_metafor's TOL
    n = len(exp["pred"])
    assert len(out) == n
    for key in ("pred", "ci_low", "ci_high"):
        np.testing.assert_allclose(out[key], exp[key], rtol=tol, err_msg=key)
    if case["transf"]:
        assert out["se"].isna().all()
    else:
        np.testing.assert_allclose(out["se"], exp["se"], rtol=tol)
    if exp["pi_low"]:
        np.testing.assert_allclose(out["pi_low"], exp["pi_low"], rtol=tol)
        np.testing.assert_allclose(out["pi_high"], exp["pi_high"], rtol=tol)
    else:  # the scale's predictions have no prediction interval
        assert out["pi_low"].isna().all() and out["pi_high"].isna().all()


def test_predict_shapes_links_and_refusals():
    d = pd.DataFrame(REF["datasets"]["bcg"])
    res = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ ablat", scale="~ ablat", data=d)
    # the fitted values are the studies' own, with their own tau² in the prediction interval
    fitted = res.predict()
    np.testing.assert_allclose(fitted["pred"], res._cache["data"][2] @ res.coef, rtol=1e-12)
    half = fitted["pi_high"] - fitted["pred"]
    np.testing.assert_allclose(half ** 2 / 1.959963984540054 ** 2,
                               fitted["se"] ** 2 + res.tau2, rtol=1e-9)
    # new location values without scale values: no prediction interval; one scale row serves
    # every location row
    assert res.predict(newmods=[10, 40])["pi_low"].isna().all()
    one = res.predict(newmods=[10, 40], newscale=[30])
    two = res.predict(newmods=[10, 40], newscale=[30, 30])
    pd.testing.assert_frame_equal(one, two)
    with pytest.raises(InputError, match="2 rows of newmods"):
        res.predict(newmods=[10, 40], newscale=[30, 30, 30])
    with pytest.raises(InputError, match="needs 1 value"):
        res.predict(newmods=[[10, 1]])
    r0 = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), scale="~ ablat", data=d)
    with pytest.raises(InputError, match="location has no moderators"):
        r0.predict(newmods=[1.0])
    # tau² on its own scale: exp of the log-link prediction, bounds sorted
    logt = res.predict(newscale=[20, 50])
    t2 = res.predict(newscale=[20, 50], transf=np.exp)
    np.testing.assert_allclose(t2["pred"], np.exp(logt["pred"]), rtol=1e-12)
    assert np.all(t2["ci_low"] <= t2["pred"]) and np.all(t2["pred"] <= t2["ci_high"])
    # identity link: a negative predicted tau² is set to 0, with a warning (metafor's rule)
    idn = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), scale="~ ablat", data=d, link="identity")
    far = -2 * idn.alpha[0] / idn.alpha[1]  # where the line z' alpha is -alpha_0 < 0
    assert idn.alpha[0] > 0
    with pytest.warns(RuntimeWarning, match="negative predicted tau"):
        clipped = idn.predict(newscale=[far])
    assert float(clipped["pred"].iloc[0]) == 0.0 and float(clipped["ci_low"].iloc[0]) >= 0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["log", "identity"]),
       st.sampled_from(["z", "t", "knha"]))
def test_predict_at_the_studies_own_values_is_the_fitted_values(seed, link, test):
    # the studies' own moderator and scale values, given as new values, reproduce predict()'s
    # fitted rows, prediction intervals (each study's own tau²) included
    rng = np.random.default_rng(seed)
    k = 16
    d = pd.DataFrame({"x": rng.normal(size=k), "g": rng.integers(0, 2, k).astype(float)})
    v = rng.uniform(0.01, 0.1, k)
    y = rng.normal(0.3 * d.x, np.sqrt(v + 0.04 * (1 + d.g)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = rma_ls(y, v, mods="~ x", scale="~ g", data=d, link=link, test=test)
    except ConvergenceError:
        assume(False)
    assume(np.all(res.tau2 > 0))  # (the identity link's edge: tau² held at 0 is not Z alpha)
    fitted = res.predict()
    again = res.predict(newmods=d.x.to_numpy(), newscale=d.g.to_numpy())
    pd.testing.assert_frame_equal(fitted, again, rtol=1e-10)
    assert np.all(fitted.ci_low <= fitted.pred) and np.all(fitted.pred <= fitted.ci_high)
    assert np.all(fitted.pi_low <= fitted.ci_low) and np.all(fitted.ci_high <= fitted.pi_high)


# --------------------------------------------------------------------------------------------
# permutest() against metafor's permutest.rma.ls (exact; location_scale.R)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", sorted(REF["permutest"]))
def test_permutest_matches_metafor(case_id):
    case = REF["permutest"][case_id]
    exp = case["expected"]
    d = pd.DataFrame(case["data"])
    res = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods=None if case["mods"] == "~ 1"
                 else case["mods"], scale=case["scale"], data=d)
    pt = ma.permutest(res, exact=True)
    # every rearrangement is counted, as metafor's: where a group's log tau² heads to minus
    # infinity the refit is followed to its limit (metafor's stops on the way), so no
    # rearrangement is lost (before, 878 of the 1716 location refits of north_early failed)
    assert (pt.location.iter, pt.scale.iter) == (exp["iter"], exp["iter_alpha"])
    assert exp["failed"] == exp["failed_alpha"] == 0
    assert not np.isnan(pt.location.statistic_perm).any()
    assert not np.isnan(pt.scale.statistic_perm).any()
    # p-values are counts over the same rearrangements: equal
    np.testing.assert_allclose(pt.location.pvalue, exp["pval"], rtol=1e-12)
    np.testing.assert_allclose(pt.scale.pvalue, exp["pval_alpha"], rtol=1e-12)
    assert pt.scale.qm_pvalue == pytest.approx(exp["qs_pvalue"], rel=1e-12)
    if case["mods"] == "~ 1":  # an intercept alone: sign flips, no QM (as permutest of pool())
        assert pt.location.intercept_only and math.isnan(pt.location.qm_pvalue)
    else:
        assert pt.location.qm_pvalue == pytest.approx(exp["qm_pvalue"], rel=1e-12)
    assert pt.location.exact and pt.scale.exact


def test_permutest_of_location_scale_views_and_random_runs():
    d = pd.DataFrame(REF["permutest"]["north_early"]["data"])
    res = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ north", scale="~ early", data=d)
    a = ma.permutest(res, iter=40, seed=3)
    b = ma.permutest(res, iter=40, seed=3)
    assert not a.location.exact and a.location.iter == 40 and a.location.seed == 3
    np.testing.assert_array_equal(a.location.pvalue, b.location.pvalue)
    np.testing.assert_array_equal(a.scale.pvalue, b.scale.pvalue)
    text = a.summary()
    assert "Test of Location Coefficients" in text and "Test of Scale Coefficients" in text
    assert "QS(df = 1)" in text and "Model Results (Scale):" in text
    frame = a.to_frame()
    assert list(frame.index.get_level_values("part").unique()) == ["location", "scale"]
    assert a.to_dict()["scale"]["coef_names"] == ["intrcpt", "early"]
    with pytest.raises(InputError, match="permci"):
        ma.permutest(res, permci=True)
    # a scale that is an intercept alone has no scale test (nor in metafor)
    one = rma_ls(d.yi.to_numpy(), d.vi.to_numpy(), mods="~ north", scale="~ 1", data=d)
    assert ma.permutest(one, iter=20, seed=1).scale is None
