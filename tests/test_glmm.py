"""metaanalysis.pooling.glmm.rma_glmm against metafor's rma.glmm (tests/reference/glmm.R), scipy's
noncentral hypergeometric distribution, and invariants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.pooling import glmm

REF = json.loads((Path(__file__).parent / "reference" / "glmm.json").read_text())

# Equal-effects fits by glm (UM.FS, CM.AL, IRR): the same iteration, stopping rule and covariance as
# R's glm.fit; agreement to rounding (observed max 2e-11)
RTOL_GLM = 1e-8
# CM.EL equal effects: our estimate is the exact root of the conditional score; metafor's nlminb stops
# within its relative function tolerance (observed 8e-7 on dat.bcg)
RTOL_CMEL_ESTIMATE = 5e-6
# CM.EL standard errors: ours is the exact information (the variance of the noncentral
# hypergeometric); metafor differentiates BiasedUrn's pmf, computed to a precision of 1e-10, twice
# numerically, which is off by up to 1.4e-4 (dat.bcg; numDeriv on the same pmf in R gives 0.0412287
# against the exact 0.0412290)
RTOL_CMEL_SE = 3e-4
# ML fits and UM.RS: lme4 stops its bobyqa / Nelder-Mead search (over up to k + 2 parameters for
# UM.FS) before the exact optimum, which we reach (test_ml_optimum_is_at_least_as_good checks that
# the remaining difference is lme4's): observed max 8.8e-4 (tau² of UM.FS on dat.nielweise2007),
# typically 1e-5
RTOL_LME4 = 2e-3
# UM.RS standard errors and Wald test: lme4's covariance for two variance components comes from a
# finite-difference Hessian at its own optimum; ours from the exact optimum (observed 3.7e-3)
RTOL_LME4_VCOV = 5e-3
# CM.EL by ML: metafor integrates BiasedUrn's pmf with R's integrate (rel.tol 1.2e-4) under nlminb and
# differentiates numerically; estimates agree to 1e-7, SEs to 8e-5 and the SE of tau² to 3.4e-4
RTOL_CMEL_ML = 5e-4
ATOL_TAU2 = 1e-6  # variance components on the boundary: lme4 stops at 1e-9 to 1e-7 instead of 0

CASES = REF["cases"]


def _data(case):
    d = REF["datasets"][case["family"]][case["dataset"]]
    return {k: np.array(v, dtype=float) for k, v in d.items()}


def _fit(case):
    d = _data(case)
    kw = dict(model=case["model"], method=case["method"], test=case["test"], level=case["level"])
    if case["measure"] == "IRR":
        return ma.rma_glmm(measure="IRR", **d, **kw)
    return ma.rma_glmm(d["ai"], d["n1i"], d["ci"], d["n2i"], **kw)


def test_reference_grid_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    expected = {f"glmm_{ds}_{m}_{meth}" for ds in REF["datasets"]["two_arm"]
                for m in glmm.MODELS for meth in ("EE", "ML")}
    expected |= {f"glmm_bcg_{m}_ML_t_level90" for m in ("UM.FS", "CM.AL", "CM.EL")}
    expected |= {f"glmm_{ds}_IRR_UM.FS_{meth}" for ds in REF["datasets"]["incidence"] for meth in ("EE", "ML")}
    assert expected == set(CASES)
    assert {"bcg", "nielweise2007", "sparse"} <= set(REF["datasets"]["two_arm"])


def _tolerances(case, key):
    """(rtol, atol) for one statistic of one case; None to skip (said why beside each)."""
    model, method = case["model"], case["method"]
    exact_glm = method == "EE" and model in ("UM.FS", "CM.AL")
    lme4 = model == "UM.RS" or (method == "ML" and model in ("UM.FS", "CM.AL"))
    if key in ("q_wald", "q_wald_pvalue", "q_lrt", "q_lrt_pvalue"):
        if model == "CM.EL" and key.startswith("q_wald"):
            # metafor's CM.EL Wald test inverts a k-dimensional finite-difference Hessian of
            # BiasedUrn's approximate pmf (off by 39% on dat.bcg against its own LRT and the UM.FS
            # Wald test): checked against scipy's pmf in test_cmel_wald_and_lrt_from_scipy instead
            return None
        if model == "UM.RS":
            d = _data(case)
            if key.startswith("q_wald") and np.any((d["ai"] == 0) | (d["ci"] == 0)):
                # lme4's saturated fit keeps the diverging log odds ratio of a study with a zero
                # cell wherever its optimiser stopped (0.60 against our 0.45 on the sparse set, where
                # that study, of weight 0, is left out)
                return None
            return (RTOL_LME4_VCOV if key.startswith("q_wald") else RTOL_LME4, 1e-8)
        return (RTOL_GLM, 1e-12)  # from the equal-effects and saturated glm fits, for ML too
    if key == "loglik":
        # lme4's log-likelihood under adaptive quadrature (nAGQ = 7) drops a data constant; under
        # the Laplace approximation (UM.RS ML), glm and the conditional likelihood it is comparable
        if model in ("UM.FS", "CM.AL") and method == "ML" or model == "UM.RS" and method == "EE":
            return None
        return (RTOL_GLM if exact_glm else RTOL_CMEL_ML if model == "CM.EL" else RTOL_LME4, 1e-10)
    if method == "EE" and key in ("tau2", "i2", "h2"):
        return (0, 1e-12)
    if model == "CM.EL":
        if method == "ML":
            return (RTOL_CMEL_ML, ATOL_TAU2)
        return (RTOL_CMEL_SE if key in ("se", "zval", "pval", "ci_low", "ci_high") else RTOL_CMEL_ESTIMATE, 1e-12)
    if lme4:
        vcov = model == "UM.RS" and key in ("se", "zval", "pval", "ci_low", "ci_high")
        return (RTOL_LME4_VCOV if vcov else RTOL_LME4, ATOL_TAU2 if key in ("tau2", "sigma2") else 1e-8)
    return (RTOL_GLM, 1e-12)


_KEYS = {"estimate": "estimate", "se": "se", "zval": "statistic", "pval": "pvalue", "ci_low": "ci_low",
         "ci_high": "ci_high", "tau2": "tau2", "se_tau2": "se_tau2", "sigma2": "sigma2", "q_wald": "q_wald",
         "q_wald_pvalue": "q_wald_pvalue", "q_lrt": "q_lrt", "q_lrt_pvalue": "q_lrt_pvalue", "i2": "i2",
         "h2": "h2", "loglik": "loglik"}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_metafor(case_id):
    case = CASES[case_id]
    expected = case["expected"]
    if "error" in expected:
        # metafor stops (CM.EL ML with tau² running to 0: nlminb fails on the log-tau² scale); the
        # ML fit on the boundary is the equal-effects fit, which metafor does give
        res = _fit(case)
        ee = CASES[case_id.replace("_ML", "_EE")]["expected"]
        assert res.tau2 == 0 and any("boundary" in n for n in res.notes)
        assert res.estimate == pytest.approx(ee["estimate"], rel=RTOL_CMEL_ESTIMATE)
        assert res.se == pytest.approx(ee["se"], rel=RTOL_CMEL_SE)
        return
    res = _fit(case)
    assert res.k == expected["k"]
    assert res.q_df == expected["q_df"]
    checked = 0
    for rkey, attr in _KEYS.items():
        tol = _tolerances(case, rkey)
        r_val = expected.get(rkey)
        if tol is None or r_val is None:
            continue
        if rkey in ("q_wald_pvalue", "q_lrt_pvalue", "pval") and r_val < 1e-12:
            assert getattr(res, attr) < 1e-12
            continue
        ours = getattr(res, attr)
        rtol, atol = tol
        if rkey in ("pval", "q_wald_pvalue", "q_lrt_pvalue"):
            # a p-value is as close as its statistic: compare the quantiles they imply
            from scipy.stats import chi2, norm, t

            if rkey != "pval":
                q = lambda p: chi2.isf(p, res.q_df)  # noqa: E731
            elif case["test"] == "z":
                q = lambda p: norm.isf(p / 2)  # noqa: E731
            else:
                q = lambda p: t.isf(p / 2, res.k - 1)  # noqa: E731
            ours, r_val = q(ours), q(r_val)
        if rkey in ("ci_low", "ci_high"):
            atol = max(atol, rtol * expected["se"] * 3)  # a bound near 0: relative to its half-width
        assert ours == pytest.approx(r_val, rel=rtol, abs=atol), rkey
        checked += 1
    assert checked >= 8


# ---------------------------------------------------------------- independent checks


def _bcg():
    d = REF["datasets"]["two_arm"]["bcg"]
    return tuple(np.array(d[k], dtype=float) for k in ("ai", "n1i", "ci", "n2i"))


def test_nchg_pmf_matches_scipy():
    from scipy.stats import nchypergeom_fisher

    a, n1, c, n2 = _bcg()
    dist = glmm._NCHG(a, n1, c, n2)
    for theta in (-2.0, -0.5, 0.0, 1.3):
        ours = dist.logpmf(np.full(len(a), theta))
        ref = nchypergeom_fisher.logpmf(a, n1 + n2, n1, a + c, math.exp(theta))
        np.testing.assert_allclose(ours, ref, rtol=1e-9)
        mean, var = dist.moments(np.full(len(a), theta))
        np.testing.assert_allclose(mean, nchypergeom_fisher.mean(n1 + n2, n1, a + c, math.exp(theta)), rtol=1e-9)
        np.testing.assert_allclose(var, nchypergeom_fisher.var(n1 + n2, n1, a + c, math.exp(theta)), rtol=1e-7)


def test_cmel_wald_and_lrt_from_scipy():
    """The CM.EL heterogeneity tests rebuilt from scipy's pmf: per-study conditional MLEs by
    root finding, information by a finite difference of scipy's mean."""
    from scipy.optimize import brentq
    from scipy.stats import nchypergeom_fisher as nchg

    a, n1, c, n2 = _bcg()
    res = ma.rma_glmm(a, n1, c, n2, model="CM.EL", method="EE")
    th, info, ll = [], [], []
    for ai, m1, ci_, m2 in zip(a, n1, c, n2):
        args = (m1 + m2, m1, ai + ci_)
        f = lambda t: nchg.mean(*args, math.exp(t)) - ai  # noqa: E731
        t = brentq(f, -15, 15, xtol=1e-13)
        th.append(t)
        info.append((nchg.mean(*args, math.exp(t + 1e-5)) - nchg.mean(*args, math.exp(t - 1e-5))) / 2e-5)
        ll.append(nchg.logpmf(ai, *args, math.exp(t)))
    th, info = np.array(th), np.array(info)
    wald = float(np.sum(info * (th - np.sum(info * th) / info.sum()) ** 2))
    ll_fe = float(np.sum(nchg.logpmf(a, n1 + n2, n1, a + c, math.exp(res.estimate))))
    assert res.q_wald == pytest.approx(wald, rel=1e-6)
    assert res.q_lrt == pytest.approx(2 * (sum(ll) - ll_fe), rel=1e-8)


def test_cmel_marginal_integral_matches_quadrature():
    from scipy.integrate import quad

    a, n1, c, n2 = _bcg()
    dist = glmm._NCHG(a, n1, c, n2)
    beta, tau = -0.75, 0.56
    ours = dist.marginal_ll(beta, tau)
    for i in (0, 5, 7):
        def f(t, i=i):
            return math.exp(dist.logpmf(np.full(len(a), t))[i]) * math.exp(-((t - beta) ** 2) / (2 * tau**2)) / (
                tau * math.sqrt(2 * math.pi))
        val = quad(f, beta - 12 * tau, beta + 12 * tau, epsabs=0, epsrel=1e-12, limit=200)[0]
        assert ours[i] == pytest.approx(math.log(val), rel=1e-10)


def test_agq_matches_quadrature_for_a_large_study():
    # a study whose conditional mode is far from the start (180/1541 v 372/1451 at a low intercept)
    from scipy.integrate import quad
    from scipy.special import expit
    from scipy.stats import binom

    a, n1, c, n2 = 180.0, 1541.0, 372.0, 1451.0
    fam = glmm._Binomial(np.array([a, c]), np.array([n1, n2]))
    b0, b, s = -4.2, -0.48, 1.41
    ours = glmm._agq_study_ll(fam, np.array([[b0 + b, b0]]), np.ones((1, 2)), s, 7)[0] + fam.const

    def f(u):
        return math.exp(binom.logpmf(a, n1, expit(b0 + b + s * u)) + binom.logpmf(c, n2, expit(b0 + s * u))
                        - u * u / 2) / math.sqrt(2 * math.pi)

    val = quad(f, -10, 10, points=[1.8], epsabs=0, epsrel=1e-12, limit=500)[0]
    assert ours == pytest.approx(math.log(val), rel=1e-8)


@pytest.mark.parametrize("model", ["UM.FS", "CM.AL"])
def test_ml_optimum_is_at_least_as_good(model):
    """Where we differ from metafor's ML fit, our log-likelihood is the higher one."""
    a, n1, c, n2 = _bcg()
    exp = CASES[f"glmm_bcg_{model}_ML"]["expected"]
    res = ma.rma_glmm(a, n1, c, n2, model=model, method="ML")
    k = len(a)
    if model == "CM.AL":
        fam = glmm._Binomial(a, a + c)
        off = np.log(n1 / n2)

        def nll(t):
            return -float(np.sum(glmm._agq_study_ll(fam, (t[0] + off)[:, None], np.ones((k, 1)), t[1])))
    else:
        fam = glmm._Binomial(np.column_stack([a, c]).ravel(), np.column_stack([n1, n2]).ravel())
        g1 = np.tile([1.0, 0.0], (k, 1))
        z = np.tile([0.5, -0.5], (k, 1))

        def nll(t):
            per = lambda al: glmm._agq_study_ll(  # noqa: E731
                fam, (al[:, :, None] + t[0] * g1[None]).reshape(-1, 2), np.tile(z, (al.shape[0], 1)), t[1],
                y=np.tile(fam.y.reshape(k, 2), (al.shape[0], 1)), n=np.tile(fam.n.reshape(k, 2), (al.shape[0], 1)),
            ).reshape(al.shape)
            al = glmm._newton_1d_vec(per, np.full(k, -4.0))
            return -float(np.sum(per(al[None, :])))
    ours = nll(np.array([res.estimate, math.sqrt(res.tau2)]))
    theirs = nll(np.array([exp["estimate"], math.sqrt(exp["tau2"])]))
    assert ours <= theirs + 1e-9


# ---------------------------------------------------------------- invariants


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(20, 60), st.integers(0, 15), st.integers(20, 60)),
                min_size=3, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(["UM.FS", "CM.AL", "CM.EL"]))
def test_equal_effects_fits_ignore_study_order_and_flip_with_arms(rows, rnd, model):
    a, n1, c, n2 = (np.array(x, dtype=float) for x in zip(*rows))
    try:
        base = ma.rma_glmm(a, n1, c, n2, model=model, method="EE")
    except InputError:  # no finite estimate (no events in one arm throughout, say)
        return
    order = list(range(len(a)))
    rnd.shuffle(order)
    perm = ma.rma_glmm(a[order], n1[order], c[order], n2[order], model=model, method="EE")
    assert perm.estimate == pytest.approx(base.estimate, rel=1e-9, abs=1e-12)
    assert perm.se == pytest.approx(base.se, rel=1e-7)
    swapped = ma.rma_glmm(c, n2, a, n1, model=model, method="EE")
    assert swapped.estimate == pytest.approx(-base.estimate, rel=1e-9, abs=1e-12)
    assert swapped.q_lrt == pytest.approx(base.q_lrt, rel=1e-7, abs=1e-9)


def test_ml_without_heterogeneity_is_the_equal_effects_fit():
    # identical tables: tau² = 0 at the ML optimum, and the estimate is the EE one
    a, n1, c, n2 = [5, 10, 8], [50, 100, 80], [10, 20, 16], [50, 100, 80]
    for model in ("UM.FS", "CM.AL"):
        ml = ma.rma_glmm(a, n1, c, n2, model=model)
        ee = ma.rma_glmm(a, n1, c, n2, model=model, method="EE")
        assert ml.tau2 == 0
        assert ml.estimate == pytest.approx(ee.estimate, rel=1e-7)


# ---------------------------------------------------------------- behaviour


def test_double_zero_studies_are_dropped_as_metafor_does():
    d = _data(CASES["glmm_sparse_UM.FS_EE"])
    res = ma.rma_glmm(d["ai"], d["n1i"], d["ci"], d["n2i"], method="EE")
    assert res.dropped == (5,) and res.k == 5
    assert any("left out" in n for n in res.notes)


def test_result_object():
    a, n1, c, n2 = _bcg()
    res = ma.rma_glmm(a, n1, c, n2, model="CM.AL", method="ML", labels=[f"t{i}" for i in range(13)])
    d = res.to_dict()
    json.dumps(d)
    assert d["model"] == "CM.AL" and d["method"] == "ML" and len(d["yi"]) == 13
    assert set(res.to_frame().columns) >= {"estimate", "se", "tau2", "q_wald", "q_lrt", "ci_low", "ci_high"}
    text = res.summary()
    assert "Conditional Model with Approximate Likelihood" in text
    assert "Wld(df = 12)" in text and "LRT(df = 12)" in text
    assert repr(res).startswith("<GlmmResult model=CM.AL") and "\n" not in repr(res)
    assert "<pre" in res._repr_html_()
    with pytest.raises(Exception):
        res.estimate = 0.0
    with pytest.raises(ValueError):
        res.yi[0] = 1.0


@pytest.mark.parametrize("kwargs, msg", [
    (dict(model="UM.XX"), "model="),
    (dict(method="REML"), "method="),
    (dict(test="knha"), "test="),
    (dict(level=0.05), "level"),
    (dict(measure="RR"), "measure="),
])
def test_bad_arguments(kwargs, msg):
    with pytest.raises(InputError, match=msg):
        ma.rma_glmm([1, 2], [10, 10], [2, 3], [10, 10], **kwargs)


def test_bad_counts_and_missing_incidence_data():
    with pytest.raises(InputError, match=r"ai\[1\]"):
        ma.rma_glmm([1, 12], [10, 10], [2, 3], [10, 10])
    with pytest.raises(InputError, match="x1i, t1i"):
        ma.rma_glmm(measure="IRR", x1i=[1, 2])
    with pytest.raises(InputError, match="UM.FS"):
        ma.rma_glmm(measure="IRR", model="CM.EL", x1i=[1], t1i=[2], x2i=[3], t2i=[4])
    with pytest.raises(InputError, match="nothing to estimate"):
        ma.rma_glmm([0, 0], [10, 10], [0, 0], [10, 10])
    with pytest.raises(InputError, match="no finite estimate"):
        ma.rma_glmm([0, 0, 0], [10, 10, 12], [2, 0, 1], [10, 10, 12], model="CM.EL")
