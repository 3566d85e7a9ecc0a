"""metaanalysis.pooling.selection against metafor's selmodel (tests/reference/selection.R).

The reference grid (``selection.json``, section ``selmodel``) holds metafor's help(selmodel)
examples on dat.hackshaw1998 (the three-step model and every continuous type), dat.bcg (log RR,
alternative "less"), a seeded generated set with selection at p = 0.05 and one without, inputs
fitted by EE, ML, REML and DL and with a fixed tau², two-sided p-values, a precision-dependent
model and a case metafor refuses (an interval without p-values).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from metaanalysis.errors import InputError
from metaanalysis.pooling.core import pool
from metaanalysis.pooling.regression import meta_regression
from metaanalysis.pooling.selection import SelModelResult, _r_bfgs, _richardson_hessian, selmodel

REF = json.loads((Path(__file__).parent / "reference" / "selection.json").read_text())
CASES = REF["selmodel"]
DATA = REF["datasets"]

# Our optimiser repeats R's BFGS step by step and the integrals are the same QUADPACK routine,
# so the estimates agree to ~1e-9 in practice (observed max 4e-9 relative); 1e-6 is the issue's
# requirement.
RTOL_ESTIMATE = 1e-6
# Standard errors come from numerically differentiated Hessians (Richardson extrapolation over
# log-likelihoods that are themselves adaptive quadratures). With the same steps as numDeriv they
# agree to 6e-7 (observed max, a p-value); 1e-5 leaves room for BLAS and libm differences.
RTOL_SE = 1e-5
# Where a delta estimate runs into its lower bound 0 (marked "B" below), the likelihood is flat
# in the transformed parameter and the optimiser's stopping point is set by rounding noise:
# estimate, tau2 and logLik still agree to 2e-7, but delta (~1e-4) only on an absolute scale and
# the Hessian-based SEs to ~1e-3 (observed max 8e-4); p-values get an absolute tolerance as well
# (one of ~1e-5 differs by 10%).
ATOL_BOUNDARY = 1e-3
RTOL_SE_BOUNDARY = 2e-2
ATOL_PVALUE_BOUNDARY = 1e-5

EXPECTED = {
    "hackshaw_stepfun", "hackshaw_beta", "hackshaw_halfnorm", "hackshaw_negexp",
    "hackshaw_logistic", "hackshaw_power", "hackshaw_halfnorm_prec",
    "hackshaw_stepfun_two_sided", "hackshaw_negexp_two_sided", "hackshaw_ee_stepfun", "hackshaw_tau2_fixed_beta",
    "bcg_stepfun_less", "bcg_negexp_less", "bcg_beta", "gen_sel_k25_stepfun",
    "gen_sel_k25_logistic", "gen_sel_k25_power", "gen_nosel_k15_negexp",
    "gen_nosel_k15_empty_interval",
}


def test_grid_complete():
    assert set(CASES) == EXPECTED
    assert REF["metafor_version"] == "3.8.1"


def _input_fit(case):
    d = DATA[case["data"]]
    return pool(d["yi"], d["vi"], method=case["method"], tau2=case.get("tau2"))


def _args(case):
    a = dict(case["args"])
    if "steps" in a:
        a["steps"] = a["steps"] if isinstance(a["steps"], list) else [a["steps"]]
    return a


@lru_cache(maxsize=None)
def fitted(name):
    case = CASES[name]
    return selmodel(_input_fit(case), **_args(case))


def _at_boundary(ref):
    return any(d is not None and d < 0.01 for d in ref["delta"])


def close(actual, expected, rtol, what, atol=0.0):
    expected = np.array([math.nan if e is None else e for e in np.atleast_1d(expected)], float)
    np.testing.assert_allclose(np.atleast_1d(actual), expected, rtol=rtol, atol=atol,
                               err_msg=what)


FITTED_CASES = sorted(n for n, c in CASES.items() if "error" not in c["result"])


@pytest.mark.parametrize("name", FITTED_CASES)
def test_estimates_match_metafor(name):
    ref = CASES[name]["result"]
    out = fitted(name)
    boundary = _at_boundary(ref)
    for field in ("estimate", "tau2", "loglik", "loglik0", "lrt_pvalue"):
        close(getattr(out, field), ref[field], RTOL_ESTIMATE, f"{name}: {field}", atol=1e-10)
    close(out.lrt, ref["lrt"], RTOL_ESTIMATE, f"{name}: lrt", atol=1e-8)
    assert out.lrt_df == ref["lrt_df"]
    if boundary:
        close(out.delta, ref["delta"], 0, f"{name}: delta", atol=ATOL_BOUNDARY)
    else:
        close(out.delta, ref["delta"], RTOL_ESTIMATE, f"{name}: delta")
    if ref["lrt_tau2"] is None:
        assert math.isnan(out.lrt_tau2)
    else:
        close(out.lrt_tau2, ref["lrt_tau2"], RTOL_ESTIMATE, f"{name}: lrt_tau2", atol=1e-8)
    if ref.get("k_per_interval") is not None:
        assert list(out.k_per_interval) == ref["k_per_interval"]


@pytest.mark.parametrize("name", FITTED_CASES)
def test_standard_errors_match_metafor(name):
    ref = CASES[name]["result"]
    out = fitted(name)
    boundary = _at_boundary(ref)
    rtol = RTOL_SE_BOUNDARY if boundary else RTOL_SE
    for field in ("se", "ci_low", "ci_high"):
        close(getattr(out, field), ref[field], rtol, f"{name}: {field}", atol=1e-10)
    close(out.pvalue, ref["pvalue"], rtol, f"{name}: pvalue",
          atol=ATOL_PVALUE_BOUNDARY if boundary else 1e-12)
    if ref["se_tau2"] is None:
        assert math.isnan(out.se_tau2)
    else:
        close(out.se_tau2, ref["se_tau2"], rtol, f"{name}: se_tau2")
        close(out.tau2_ci_high, ref["tau2_ci_high"], rtol, f"{name}: tau2_ci_high")
    free = ~out.delta_fixed
    for mine, theirs in (("se_delta", "se_delta"), ("ci_high_delta", "ci_high_delta"),
                         ("pvalue_delta", "pvalue_delta")):
        close(getattr(out, mine)[free], np.array(ref[theirs], dtype=object)[free].tolist(),
              rtol, f"{name}: {mine}", atol=ATOL_PVALUE_BOUNDARY if boundary else 1e-10)


def test_metafor_refusal_is_an_input_error():
    case = CASES["gen_nosel_k15_empty_interval"]
    assert "do not contain any observed p-values" in case["result"]["error"]
    with pytest.raises(InputError, match="contain no observed p-values"):
        selmodel(_input_fit(case), **_args(case))


def test_hackshaw_three_step_model_as_printed_by_metafor():
    # help(selmodel): the values metafor prints for the three-step model on dat.hackshaw1998
    out = fitted("hackshaw_stepfun")
    assert round(out.estimate, 4) == 0.0020
    assert [round(x, 4) for x in out.delta] == [1.0, 0.4946, 0.2136, 0.0618]
    assert round(out.lrt, 4) == 6.4020 and out.lrt_df == 3
    text = out.summary()
    assert "LRT(df = 3) = 6.4020, p-val = 0.0936" in text
    assert "0.025 < p <= 0.1     8    0.4946" in text


def test_result_views():
    out = fitted("hackshaw_beta")
    assert isinstance(out, SelModelResult)
    d = out.to_dict()
    json.dumps(d)
    assert d["type"] == "beta" and len(d["delta"]) == 2
    frame = out.to_frame()
    assert list(frame.index) == ["delta.1", "delta.2"]
    assert repr(out).startswith("<SelModelResult beta k=37")
    assert "\n" not in repr(out)
    assert "<pre" in out._repr_html_()
    with pytest.raises(ValueError):
        out.delta[0] = 3.0
    assert out.unadjusted.method == "ML"
    step = fitted("hackshaw_stepfun").to_frame()
    assert list(step["k"]) == [7, 8, 16, 6]
    assert bool(step["fixed"].iloc[0]) and not step["fixed"].iloc[1:].any()


def test_unadjusted_fit_is_the_ml_refit():
    case = CASES["hackshaw_stepfun_two_sided"]
    res = _input_fit(case)
    out = fitted("hackshaw_stepfun_two_sided")
    ml = pool(res.yi, res.vi, method="ML")
    assert res.method == "REML"
    np.testing.assert_allclose(out.unadjusted.estimate, ml.estimate, rtol=1e-12)


def test_no_selection_gives_no_significant_lrt():
    # data generated without selection: the test of selection has nothing to find
    out = fitted("gen_nosel_k15_negexp")
    assert out.lrt_pvalue > 0.2


def test_selection_model_moves_estimate_towards_truth():
    # seed 2024 was generated with mu = 0.1 and selection against p > 0.05: the step model's
    # estimate lies below the unadjusted one
    out = fitted("gen_sel_k25_stepfun")
    assert out.estimate < out.unadjusted.estimate


def test_input_errors():
    d = DATA["hackshaw"]
    res = pool(d["yi"], d["vi"], method="ML")
    with pytest.raises(InputError, match="not a selection model"):
        selmodel(res, type="cauchy")
    with pytest.raises(InputError, match="alternative"):
        selmodel(res, type="beta", alternative="both")
    with pytest.raises(InputError, match="needs steps"):
        selmodel(res, type="stepfun")
    with pytest.raises(InputError, match="between 0 and 1"):
        selmodel(res, type="stepfun", steps=[0.05, 1.5])
    with pytest.raises(InputError, match="single value"):
        selmodel(res, type="negexp", steps=[0.025, 0.5])
    with pytest.raises(InputError, match="prec"):
        selmodel(res, type="halfnorm", prec="ni")
    weighted = pool(d["yi"], d["vi"], method="REML", weights=np.ones(len(d["yi"])))
    with pytest.raises(InputError, match="custom weights"):
        selmodel(weighted, type="beta")
    small = pool(d["yi"][:3], d["vi"][:3], method="ML")
    with pytest.raises(InputError, match="too small"):
        selmodel(small, type="stepfun", steps=[0.3, 0.6, 0.9, 1])
    with pytest.raises(InputError, match="pool"):
        selmodel(object(), type="beta")
    reg = meta_regression(d["yi"], d["vi"], np.arange(len(d["yi"])))
    with pytest.raises(InputError, match="meta-regressions"):
        selmodel(reg, type="beta")


def test_fixed_delta_reduces_lrt_df():
    d = DATA["hackshaw"]
    res = pool(d["yi"], d["vi"], method="ML")
    out = selmodel(res, type="stepfun", steps=[0.025, 0.5, 1], delta=[1, 0.5, np.nan])
    assert out.lrt_df == 1
    assert out.delta[1] == 0.5 and math.isnan(out.se_delta[1])


# ---- the numerical machinery against closed forms ---------------------------------------------


def test_bfgs_finds_quadratic_minimum():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    target = np.array([0.5, -1.5])

    def f(x):
        d = x - target
        return float(d @ a @ d) + 1.0

    par, value, converged, *_ = _r_bfgs(f, np.zeros(2))
    assert converged
    np.testing.assert_allclose(par, target, atol=1e-4)
    assert value == pytest.approx(1.0, abs=1e-8)


def test_bfgs_rosenbrock_as_r_optim():
    # R: optim(c(-1.2, 1), function(x) 100 * (x[2] - x[1]^2)^2 + (1 - x[1])^2, method = "BFGS")
    # returns par 0.9998044 0.9996084 after 118 function and 38 gradient evaluations
    def f(x):
        return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2

    par, value, converged, fn_count, gr_count = _r_bfgs(f, np.array([-1.2, 1.0]))
    np.testing.assert_allclose(par, [0.9998044, 0.9996084], atol=5e-7)
    assert (fn_count, gr_count) == (118, 38)


def test_richardson_hessian_exact_for_quadratic_and_smooth():
    def f(x):
        return math.exp(x[0]) * math.sin(x[1]) + x[0] * x[1] ** 2

    x = np.array([0.3, 1.1])
    h = _richardson_hessian(f, x)
    exact = np.array([
        [math.exp(0.3) * math.sin(1.1), math.exp(0.3) * math.cos(1.1) + 2 * 1.1],
        [math.exp(0.3) * math.cos(1.1) + 2 * 1.1, -math.exp(0.3) * math.sin(1.1) + 2 * 0.3],
    ])
    np.testing.assert_allclose(h, exact, rtol=1e-7)


def test_permuting_studies_leaves_fit_unchanged():
    d = DATA["gen_sel_k25"]
    yi, vi = np.array(d["yi"]), np.array(d["vi"])
    base = fitted("gen_sel_k25_stepfun")
    perm = np.random.default_rng(5).permutation(len(yi))
    out = selmodel(pool(yi[perm], vi[perm], method="REML"), type="stepfun", steps=[0.05, 1])
    np.testing.assert_allclose(out.estimate, base.estimate, rtol=1e-5)
    np.testing.assert_allclose(out.delta, base.delta, rtol=1e-4)
