"""Model diagnostics (metaanalysis.pooling.diagnostics) and the Mantel-Haenszel / Peto branches of
leave_one_out and cumulative, against metafor 3.8-1 (tests/reference/diagnostics.R ->
diagnostics.json)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.pooling import diagnostics as D

REF = json.loads((Path(__file__).parent / "reference" / "diagnostics.json").read_text())
# metafor and we compute the same closed forms and refit with the same estimators (whose own
# agreement with metafor is ~1e-9); 1e-6 is the package's contract.
RTOL = 1e-6
# values that are 0 in exact arithmetic come out as rounding noise on either side
ATOL = 1e-10
# k = 1: metafor's standard errors of an exact fit are rounding noise (1e-16 to 1e-8), ours 0
ATOL_K1 = 1e-7

CASES = REF["cases"]
METHODS = ("REML", "ML", "DL", "EE")
TESTS = ("z", "knha")


def _num(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], dtype=float)


def assert_close(ours, ref, rtol=RTOL, atol=ATOL, what=""):
    """Compare with metafor; its NA and non-finite values (null in the JSON) must be non-finite here."""
    a = np.atleast_1d(np.asarray(ours, dtype=float))
    b = _num(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    nb = np.isnan(b)
    assert np.array_equal(~np.isfinite(a), nb), f"{what}: NA pattern differs: {a} vs {b}"
    np.testing.assert_allclose(a[~nb], b[~nb], rtol=rtol, atol=atol, err_msg=what)


def build(case):
    d = case["data"]
    y, v = np.array(d["yi"], float), np.array(d["vi"], float)
    kw = dict(method=case["method"], test=case["test"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # knha with EE: metafor warns too
        if d["mods"] is None:
            if d["weights"] is not None:
                kw["weights"] = d["weights"]
            if case["tau2_fixed"] is not None:
                kw["tau2"] = case["tau2_fixed"]
            return ma.pool(y, v, **kw)
        mods = np.column_stack([np.array(x, float) for x in d["mods"]])
        return ma.meta_regression(y, v, mods=mods, **kw)


def test_reference_grid_complete():
    expected = set()
    for method in METHODS:
        for test in TESTS:
            tag = f"{method.lower()}_{test}"
            expected |= {f"bcg_{tag}", f"bcg_ablat_{tag}", f"bcg_ablat_year_{tag}", f"hackshaw_{tag}"}
    expected |= {f"bcg_k{k}_{m}" for k in (1, 2, 3) for m in ("reml", "dl", "ee")}
    expected |= {"bcg_full_reml_z", "hackshaw_year_reml_knha", "bcg_weights_reml_z", "bcg_tau2fixed_z",
                 "bcg_tau2fixed_knha", "bcg_k3_reml_knha", "bcg_k3_ablat_ee"}
    assert expected <= set(CASES), sorted(expected - set(CASES))
    assert REF["meta"]["metafor_version"] == "3.8.1"
    assert len(REF["binary"]) == 12
    assert {"lrt_0_1_reml_refit", "lrt_tau2_0_reml", "lrt_ee_ml", "error_same_parms", "error_ml_reml"} <= set(REF["anova"])


def _k(case):
    return len(case["data"]["yi"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_matches_metafor(name):
    case = CASES[name]
    res = build(case)
    coef = res.coef if hasattr(res, "coef") else [res.estimate]
    assert_close(coef, case["coef"], what="coef")
    assert_close(res.tau2, case["tau2"], what="tau2")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", ["rstandard", "rstandard_conditional", "rstudent", "blup", "ranef"])
def test_per_study_results(name, kind):
    case = CASES[name]
    res = build(case)
    fn = {"rstandard": D.rstandard, "rstandard_conditional": lambda r: D.rstandard(r, type="conditional"),
          "rstudent": D.rstudent, "blup": D.blup, "ranef": D.ranef}[kind]
    ref = case[kind]
    if "error" in ref:
        with pytest.raises(InputError):
            fn(res)
        return
    out = fn(res)
    for col, val in ref.items():
        if _k(case) == 1 and kind.startswith("rstandard"):
            if col == "z":
                continue  # 0 / 0: metafor's z is noise over noise, ours NaN (tested below)
            assert_close(getattr(out, col), val, atol=ATOL_K1, what=f"{kind}.{col}")
            continue
        assert_close(getattr(out, col), val, what=f"{kind}.{col}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hat_cooks_dfbetas(name):
    case = CASES[name]
    res = build(case)
    assert_close(D.hatvalues(res).to_numpy(), case["hatvalues"], what="hatvalues")
    for key, fn in (("cooks_distance", lambda r: D.cooks_distance(r).to_numpy()),
                    ("dfbetas", lambda r: D.dfbetas(r).to_numpy())):
        ref = case[key]
        if isinstance(ref, dict) and "error" in ref:
            with pytest.raises(InputError, match="at least 2 studies"):
                fn(res)
            continue
        got = fn(res)
        if key == "dfbetas":
            assert got.shape[1] == len(ref)
            for j, col in enumerate(ref.values()):
                assert_close(got[:, j], col, what=f"dfbetas[{j}]")
        else:
            assert_close(got, ref, what=key)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fitstats(name):
    case = CASES[name]
    res = build(case)
    for reml, key in ((False, "fitstats_ml"), (True, "fitstats_reml")):
        fs = D.fitstats(res, reml=reml)
        for col, val in case[key].items():
            atol = ATOL_K1 if _k(case) == 1 else ATOL
            assert_close(getattr(fs, col), val, atol=atol, what=f"{key}.{col}")
        assert fs.parms == case["parms"]
    assert_close(D.loglik(res), case["loglik"], atol=ATOL_K1 if _k(case) == 1 else ATOL)
    default = "fitstats_reml" if case["method"] == "REML" else "fitstats_ml"
    for fn, col in ((D.aic, "aic"), (D.bic, "bic"), (D.aicc, "aicc"), (D.deviance, "deviance")):
        assert_close(fn(res), case[default][col], atol=ATOL_K1 if _k(case) == 1 else ATOL, what=col)


@pytest.mark.parametrize("name", sorted(n for n in CASES if "vif" in CASES[n]))
def test_vif(name):
    case = CASES[name]
    res = build(case)
    out = D.vif(res)
    assert_close(out.vif, case["vif"]["vif"], what="vif")
    assert_close(out.sif, case["vif"]["sif"], what="sif")
    if "vif_sets" in case:
        sets = [[int(j) - 1 for j in b] for b in case["vif_sets"]["btt"]]  # metafor's are 1-based
        out = D.vif(res, btt=sets)
        assert_close(out.vif, case["vif_sets"]["vif"], what="gvif")
        assert_close(out.sif, case["vif_sets"]["sif"], what="gsif")
        assert list(out.m) == [2, 2, 2]


def test_k1_rstandard_z_is_undefined():
    res = build(CASES["bcg_k1_reml"])
    out = D.rstandard(res)
    assert out.resid[0] == 0 and out.se[0] == 0 and math.isnan(out.z[0])


# ---- anova --------------------------------------------------------------------------------

BCG = REF["cases"]["bcg_reml_z"]["data"]
Y, V = np.array(BCG["yi"]), np.array(BCG["vi"])
ABLAT = np.array(REF["cases"]["bcg_ablat_reml_z"]["data"]["mods"][0])
YEAR = np.array(REF["cases"]["bcg_ablat_year_reml_z"]["data"]["mods"][1])


def _fit(mods, method, test="z", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mods is None:
            return ma.pool(Y, V, method=method, test=test, **kw)
        return ma.meta_regression(Y, V, mods=mods, method=method, test=test, **kw)


WALD = {"wald_btt23_": dict(btt=[1, 2]), "wald_btt3_": dict(btt=2),
        "wald_X_": dict(X=[[1, 30, 1970], [0, 1, 0], [0, 10, -1]]), "wald_X1_": dict(X=[1, 40, 1960])}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("key", sorted(WALD))
def test_anova_wald(method, test, key):
    ref = REF["anova"][f"{key}{method.lower()}_{test}"]
    res = _fit(np.column_stack([ABLAT, YEAR]), method, test)
    out = D.anova(res, **WALD[key])
    assert_close(out.qm, ref["qm"], what="qm")
    assert_close(out.qm_pvalue, ref["qm_pvalue"], what="qm_pvalue")
    assert out.qm_df == ref["qm_df"][0]
    assert (out.qm_df2 is None) == (ref["qm_df"][1] is None)
    if "estimate" in ref:
        for col in ("estimate", "se", "statistic", "pvalue"):
            assert_close(getattr(out, col), ref[col], what=col)


def test_anova_wald_by_name_and_default():
    res = _fit(np.column_stack([ABLAT, YEAR]), "REML")
    ref = REF["anova"]["wald_btt23_reml_z"]
    assert_close(D.anova(res).qm, ref["qm"])              # default: all but the intercept (= QM)
    assert_close(D.anova(res, btt=["mods1", "mods2"]).qm, ref["qm"])
    assert_close(D.anova(res, btt="mods").qm, ref["qm"])  # a substring picks both, as metafor's grep
    assert math.isclose(D.anova(res).qm, res.qm, rel_tol=1e-12)
    # a combination without the intercept column gets it added (as metafor)
    assert_close(D.anova(res, X=[40, 1960]).estimate, REF["anova"]["wald_X1_reml_z"]["estimate"])
    # rhs shifts the hypothesis
    shifted = D.anova(res, X=[1, 40, 1960], rhs=0.5)
    assert math.isclose(shifted.estimate[0], REF["anova"]["wald_X1_reml_z"]["estimate"][0] - 0.5, rel_tol=1e-9)
    with pytest.raises(InputError, match="no coefficient named"):
        D.anova(res, btt="latitude")
    with pytest.raises(InputError, match="position"):
        D.anova(res, btt=3)
    with pytest.raises(InputError, match="columns"):
        D.anova(res, X=[1, 2, 3, 4])


LRT_PAIRS = {"lrt_0_1_": (None, "a"), "lrt_1_2_": ("ab", "a"), "lrt_0_2_": (None, "ab")}


def _mods(spec):
    return None if spec is None else (ABLAT if spec == "a" else np.column_stack([ABLAT, YEAR]))


def _check_lrt(out, ref):
    d = out.to_dict()
    for key in ("lrt", "pvalue", "qe_full", "qe_reduced", "tau2_full", "tau2_reduced", "r2"):
        assert_close(d[key], ref[key], what=key)
    assert (out.parms_full, out.parms_reduced) == (ref["parms_full"], ref["parms_reduced"])
    for part in ("full", "reduced"):
        for key, val in ref[part].items():
            assert_close(d[part][key], val, what=f"{part}.{key}")
    assert out.method == ref["method"]


@pytest.mark.parametrize("method", ["ML", "REML", "EE", "DL"])
@pytest.mark.parametrize("pair", sorted(LRT_PAIRS))
def test_anova_lrt(method, pair):
    a, b = LRT_PAIRS[pair]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # REML with different X; DL: "should be ML/REML" (metafor warns too)
        out = D.anova(_fit(_mods(a), method), _fit(_mods(b), method))
    _check_lrt(out, REF["anova"][f"{pair}{method.lower()}"])


def test_anova_lrt_warnings_errors_and_refit():
    f0, f1 = _fit(None, "REML"), _fit(ABLAT, "REML")
    with pytest.warns(UserWarning, match="refit=True"):
        D.anova(f1, f0)
    with pytest.warns(UserWarning, match="ML or REML"):
        D.anova(_fit(ABLAT, "DL"), _fit(None, "DL"))
    out = D.anova(f1, f0, refit=True)
    assert out.refitted and out.method == "ML"
    _check_lrt(out, REF["anova"]["lrt_0_1_reml_refit"])
    # the same fixed effects: REML is fine (tau² estimated versus fixed at 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = D.anova(f0, _fit(None, "REML", tau2=0.0))
    _check_lrt(out, REF["anova"]["lrt_tau2_0_reml"])
    _check_lrt(D.anova(_fit(ABLAT, "ML"), _fit(ABLAT, "EE")), REF["anova"]["lrt_ee_ml"])
    assert "same number of parameters" in REF["anova"]["error_same_parms"]["error"]
    with pytest.raises(InputError, match="parameters"):
        D.anova(f1, _fit(YEAR, "REML"))
    assert "Mismatch" in REF["anova"]["error_ml_reml"]["error"]
    with pytest.raises(InputError, match="ML"):
        D.anova(_fit(ABLAT, "ML"), f0)
    with pytest.raises(InputError, match="same yi"):
        D.anova(f1, ma.pool(Y[::-1], V[::-1]))
    with pytest.raises(InputError, match="not nested"):
        D.anova(_fit(np.column_stack([ABLAT, YEAR]), "EE"), _fit(None, "ML"))
    with pytest.raises(InputError, match="two models only"):
        D.anova(f1, f0, btt=1)


# ---- leave-one-out and cumulative for Mantel-Haenszel and Peto -----------------------------

L1O_COLS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "q", "q_pvalue", "i2", "h2")


@pytest.mark.parametrize("name", sorted(REF["binary"]))
def test_binary_leave_one_out_and_cumulative(name):
    case = REF["binary"][name]
    d = case["data"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # double-zero studies: as metafor, they are left out of Q
        res = ma.pool_binary(d["ai"], d["n1i"], d["ci"], d["n2i"], measure=case["measure"], method=case["method"])
    frames = {"leave1out": ma.leave_one_out(res), "cumul": ma.cumulative(res),
              "cumul_order": ma.cumulative(res, order=d["order"])}
    for key, frame in frames.items():
        for col in L1O_COLS:
            assert_close(frame[col].to_numpy(), case[key][col], what=f"{key}.{col}")
        fitted = np.isfinite(frame["estimate"].to_numpy())
        assert (frame["tau2"].to_numpy()[fitted] == 0).all()
    order = np.argsort(np.asarray(d["order"]), kind="stable")
    assert list(frames["cumul_order"].index) == [res.labels[i] for i in order]
    # the last cumulative row is the full fit
    assert math.isclose(frames["cumul"]["estimate"].iloc[-1], res.estimate, rel_tol=1e-12)


def test_binary_refits_keep_zero_cell_options():
    d = REF["binary"]["double_zero_mh_or"]["data"]
    plain = ma.pool_binary(d["ai"], d["n1i"], d["ci"], d["n2i"], method="MH")
    added = ma.pool_binary(d["ai"], d["n1i"], d["ci"], d["n2i"], method="MH", add=(0.5, 0.5), to=("only0", "all"))
    keep = [1, 2, 3, 4, 5]
    direct = ma.pool_binary(np.array(d["ai"])[keep], np.array(d["n1i"])[keep], np.array(d["ci"])[keep],
                            np.array(d["n2i"])[keep], method="MH", add=(0.5, 0.5), to=("only0", "all"))
    loo = ma.leave_one_out(added)
    assert math.isclose(loo["estimate"].iloc[0], direct.estimate, rel_tol=1e-12)
    assert not math.isclose(loo["estimate"].iloc[0], ma.leave_one_out(plain)["estimate"].iloc[0])
    with pytest.raises(InputError, match="at least 2"):
        ma.leave_one_out(ma.pool_binary([3], [20], [5], [21], method="PETO"))


# ---- the result objects and arguments --------------------------------------------------------


def test_result_objects():
    res = _fit(np.column_stack([ABLAT, YEAR]), "REML")
    objs = [D.rstandard(res), D.rstudent(res), D.blup(res), D.ranef(res), D.vif(res), D.fitstats(res),
            D.anova(res), D.anova(res, X=[[1, 30, 1970], [0, 1, 0]]), D.anova(res, _fit(ABLAT, "REML"), refit=True)]
    for obj in objs:
        json.dumps(obj.to_dict())
        assert "\n" not in repr(obj) and repr(obj).startswith("<")
        assert isinstance(obj.summary(), str) and obj.summary().strip()
        assert obj._repr_html_().startswith("<pre")
        assert len(obj.to_frame()) >= 1
    assert list(D.rstandard(res).to_frame().columns) == ["resid", "se", "z"]
    assert list(D.blup(res).to_frame().columns) == ["pred", "se", "pi_low", "pi_high"]
    with pytest.raises(ValueError):
        D.rstandard(res).resid[0] = 1.0  # read-only
    assert list(D.dfbetas(res).columns) == list(res.coef_names)
    assert "logLik:" in D.fitstats(res).summary()


def test_arguments_and_inputs():
    res = _fit(None, "REML", test="knha")
    b = D.blup(res, transf="exp")
    ref = D.blup(res)
    np.testing.assert_allclose(b.pred, np.exp(ref.pred))
    assert b.transformed and np.isnan(b.se).all()
    wide = D.blup(res, level=99)
    assert (wide.pi_high - wide.pi_low > ref.pi_high - ref.pi_low).all()
    with pytest.raises(InputError, match="intercept-only"):
        D.vif(res)
    with pytest.raises(InputError, match="type"):
        D.rstandard(res, type="pearson")
    with pytest.raises(InputError, match="intercept"):
        D.vif(_fit(np.column_stack([ABLAT, YEAR]), "REML"), btt=0)
    mh = ma.pool_binary([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220], method="MH")
    with pytest.raises(InputError, match="Mantel-Haenszel"):
        D.rstandard(mh)
    # an inverse-variance binary fit is diagnosed through the pool() fit it holds
    iv = ma.pool_binary([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220], method="REML")
    np.testing.assert_allclose(D.hatvalues(iv).to_numpy(), D.hatvalues(iv.fit).to_numpy())


def test_deleted_fits_are_computed_once():
    res = _fit(ABLAT, "REML")
    first = D.rstudent(res)
    assert "deleted_fits" in res._cache
    res._cache["deleted_fits"] = [f._replace(s2w=4.0 * f.s2w) for f in res._cache["deleted_fits"]]
    # the cached fits are what the next call uses
    assert not np.allclose(D.rstudent(res).se, first.se)


# ---- invariants ----------------------------------------------------------------------------

studies = st.integers(min_value=4, max_value=9).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-2, 2, allow_nan=False), min_size=k, max_size=k),
        st.lists(st.floats(0.01, 1.0, allow_nan=False), min_size=k, max_size=k),
        st.randoms(use_true_random=False),
    )
)


@settings(max_examples=30, deadline=None)
@given(studies, st.sampled_from(["REML", "DL", "EE"]))
def test_permuting_studies_permutes_diagnostics(data, method):
    y, v, rnd = data
    y, v = np.array(y), np.array(v)
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    a = ma.pool(y, v, method=method)
    b = ma.pool(y[perm], v[perm], method=method)
    np.testing.assert_allclose(D.hatvalues(b).to_numpy(), D.hatvalues(a).to_numpy()[perm], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(D.rstandard(b).z, D.rstandard(a).z[perm], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(D.rstudent(b).z, D.rstudent(a).z[perm], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(D.blup(b).pred, D.blup(a).pred[perm], rtol=1e-6, atol=1e-10)
    assert math.isclose(D.loglik(a), D.loglik(b), rel_tol=1e-9, abs_tol=1e-9)
    # leverages sum to the number of coefficients; BLUPs lie between yi and the estimate
    assert math.isclose(D.hatvalues(a).sum(), 1.0, rel_tol=1e-9)
    pred = D.blup(a).pred
    lo, hi = np.minimum(y, a.estimate), np.maximum(y, a.estimate)
    assert ((pred >= lo - 1e-12) & (pred <= hi + 1e-12)).all()


@settings(max_examples=20, deadline=None)
@given(studies)
def test_equal_effects_closed_forms(data):
    """For an equal-effects model the deleted residual has the closed form
    (yi - b_(-i)) / sqrt(vi + 1 / sum_{j != i} wj) and Cook's distance is dfbetas squared times
    Var_(-i)/Var = 1 (Viechtbauer and Cheung 2010): checks the refits by hand."""
    y, v, _ = data
    y, v = np.array(y), np.array(v)
    res = ma.pool(y, v, method="EE")
    w = 1 / v
    b_del = np.array([(w @ y - w[i] * y[i]) / (w.sum() - w[i]) for i in range(len(y))])
    z = (y - b_del) / np.sqrt(v + 1 / (w.sum() - w))
    np.testing.assert_allclose(D.rstudent(res).z, z, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(D.cooks_distance(res).to_numpy(), D.dfbetas(res)["intrcpt"].to_numpy() ** 2,
                               rtol=1e-8, atol=1e-12)
