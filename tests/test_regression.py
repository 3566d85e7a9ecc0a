"""meta_regression against metafor 3.8's rma(yi, vi, mods = X) (tests/reference/pooling.json)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaanalysis import InputError
from metaanalysis.pooling import meta_regression, pool

REF = json.loads((Path(__file__).parent / "reference" / "pooling.json").read_text())
# Same algorithms as metafor (see test_pooling_core.py); rounding-level agreement, 1e-6 contracted.
RTOL = 1e-6
ATOL = 1e-12

VECTOR_KEYS = {"coef": "coef", "se": "se", "zval": "statistic", "pval": "pvalue", "ci.lb": "ci_low", "ci.ub": "ci_high"}
SCALAR_KEYS = {"tau2": "tau2", "se.tau2": "se_tau2", "I2": "i2", "H2": "h2", "QE": "qe", "QEp": "qe_pvalue",
               "QM": "qm", "QMp": "qm_pvalue", "R2": "r2"}


def close(ours, ref, what):
    if ref is None:
        assert ours is None or math.isnan(ours), what
        return
    assert abs(ours - ref) <= ATOL + RTOL * abs(ref), f"{what}: ours {ours!r}, metafor {ref!r}"


CASES = [(c, key) for c, case in REF["regression"].items() for key in case["fits"]]


@pytest.mark.parametrize("case,key", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_regression_matches_metafor(case, key):
    c = REF["regression"][case]
    ref = c["fits"][key]
    method, test = key.split("_")
    X = np.asarray(c["X"])
    res = meta_regression(c["yi"], c["vi"], X, intercept=False, method=method, test=test)
    assert res.coef_names[0] == ("intrcpt" if c["coef_names"][0] == "(Intercept)" else res.coef_names[0])
    for rkey, key2 in VECTOR_KEYS.items():
        for j, (o, r) in enumerate(zip(getattr(res, key2), ref[rkey])):
            close(o, r, f"{case} {key} {key2}[{j}]")
    for rkey, key2 in SCALAR_KEYS.items():
        if rkey == "se.tau2" and method == "EE":
            continue
        close(getattr(res, key2), ref[rkey], f"{case} {key} {key2}")
    assert res.qm_df == ref["QMdf"][0]
    if method != "EE":
        close(res.tau2_ci_low, ref["tau2.ci"][0], "tau2_ci_low")
        close(res.tau2_ci_high, ref["tau2.ci"][1], "tau2_ci_high")


EDGE = json.loads((Path(__file__).parent / "reference" / "regression_edge.json").read_text())["cases"]


@pytest.mark.parametrize("c", EDGE, ids=[f"{c['design']}-{c['method']}-{c['test']}" for c in EDGE])
def test_regression_edges_match_metafor(c):
    """Moderators that fit yi exactly under Knapp-Hartung (scale 0: se = 0, QM = NA) and a
    saturated common-effect model (R2 = NA) are fits in metafor, not errors
    (tests/reference/regression_edge.R)."""
    res = meta_regression(c["yi"], c["vi"], np.asarray(c["X"]), intercept=False,
                          method=c["method"], test=c["test"])
    for j, (o, r) in enumerate(zip(res.coef, c["coef"])):
        close(o, r, f"coef[{j}]")
    for j, (o, r) in enumerate(zip(res.se, c["se"])):
        close(o, r, f"se[{j}]")
    for key, ref in (("tau2", "tau2"), ("qe", "QE"), ("qm", "QM"), ("qm_pvalue", "QMp"),
                     ("r2", "R2")):
        close(getattr(res, key), c[ref], key)
    assert res.qm_df == c["QMdf"][0]


@pytest.mark.parametrize("case", [c for c, v in REF["regression"].items() if "REML_z" in v["fits"]])
def test_dataframe_and_formula_give_the_same_fit(case):
    c = REF["regression"][case]
    data = pd.DataFrame(c["data"])
    formula = c["formula"]
    intercept = "- 1" not in formula
    a = meta_regression(c["yi"], c["vi"], data, intercept=intercept)
    b = meta_regression(c["yi"], c["vi"], formula, data=data)
    ref = c["fits"]["REML_z"]
    for res in (a, b):
        np.testing.assert_allclose(res.coef, ref["coef"], rtol=RTOL, atol=ATOL)
        close(res.qm, ref["QM"], "qm")
    assert a.coef_names == b.coef_names


def test_formula_transformations_and_code_that_is_refused(tmp_path):
    # R's names of elementwise functions work as in metafor (log(ablat)), so does numpy's; a term
    # that would run other Python is refused before patsy evaluates it (pool --mods passes a
    # formula on from the command line)
    c = REF["regression"]["bcg_ablat_year"]
    d = {"yi": c["yi"], "vi": c["vi"]}
    data = pd.DataFrame(c["data"])
    logged = data.assign(lab=np.log(data.ablat))
    ref = meta_regression(d["yi"], d["vi"], logged[["lab", "year"]])
    for formula in ("~ log(ablat) + year", "~ np.log(ablat) + year"):
        res = meta_regression(d["yi"], d["vi"], formula, data=data)
        np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-12)
    squared = meta_regression(d["yi"], d["vi"], "~ I(ablat**2 - 1)", data=data)
    np.testing.assert_allclose(
        squared.coef, meta_regression(d["yi"], d["vi"], data.ablat ** 2 - 1).coef, rtol=1e-10)
    marker = tmp_path / "ran"
    bad = {
        f'~ __import__("pathlib").Path("{marker}").touch()': "the attribute .touch",
        "~ ablat.__class__": "the attribute .__class__",
        "~ np.load(ablat)": "the attribute .load",
        "~ eval(ablat)": "'eval', which is neither a column of data= nor an allowed function",
        "~ ablat[0]": "Python's Subscript",
        "~ log(ablat, *year)": "Python's Starred",
        "~ ablat +": "cannot read the moderator formula",
    }
    for formula, said in bad.items():
        with pytest.raises(InputError, match=re.escape(said)):
            meta_regression(d["yi"], d["vi"], formula, data=data)
    assert not marker.exists()


def test_names_dict_and_frame():
    c = REF["regression"]["bcg_alloc"]
    res = meta_regression(c["yi"], c["vi"], pd.DataFrame(c["data"]), method="REML", test="knha")
    assert res.coef_names == ("intrcpt", "allocrandom", "allocsystematic")
    d = res.to_dict()
    for key in ("coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "coef_names", "tau2", "tau2_ci_low",
                "i2", "h2", "qe", "qe_pvalue", "qm", "qm_df", "qm_pvalue", "r2", "k", "p", "method", "test"):
        assert key in d
    json.dumps(d, allow_nan=False)
    assert d["qm_df"] == 2 and d["qm_df2"] == 10 and d["p"] == 3
    f = res.to_frame()
    assert list(f.index) == list(res.coef_names)
    text = res.summary()
    assert "Mixed-Effects Model (k = 13; tau^2 estimator: REML)" in text and "F(df1 = 2, df2 = 10)" in text


def test_intercept_only_design_equals_pool():
    d = REF["datasets"]["bcg"]
    res = meta_regression(d["yi"], d["vi"], np.ones((13, 1)), intercept=False, method="REML", test="knha")
    p = pool(d["yi"], d["vi"], method="REML", test="knha")
    assert res.coef[0] == pytest.approx(p.estimate, rel=1e-12) and res.tau2 == pytest.approx(p.tau2, rel=1e-12)


def test_predict_matches_pool_prediction_without_moderator_effect():
    c = REF["regression"]["bcg_ablat"]
    res = meta_regression(c["yi"], c["vi"], np.asarray(c["data"]["ablat"]))
    pr = res.predict([[0.0], [50.0]])
    assert pr.shape == (2, 6)
    assert pr["pred"][0] == pytest.approx(res.coef[0])
    assert pr["pi_low"][1] < pr["ci_low"][1] < pr["pred"][1]


def test_bad_moderators():
    yi, vi = [0.1, 0.2, 0.3, 0.4], [0.01] * 4
    with pytest.raises(InputError, match="full rank"):
        meta_regression(yi, vi, np.array([1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="index 2"):
        meta_regression(yi, vi, np.array([1.0, 2.0, np.nan, 3.0]))
    with pytest.raises(InputError, match="rows"):
        meta_regression(yi, vi, np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="data="):
        meta_regression(yi, vi, "~ x")
    with pytest.raises(InputError, match="cannot be estimated"):
        meta_regression(yi[:3], vi[:3], np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]]))


def test_ragged_moderators_name_the_problem():
    # numpy's own message ("inhomogeneous shape after 1 dimensions") says nothing of mods
    with pytest.raises(InputError, match="mods has rows of different lengths"):
        meta_regression([1, 2, 3, 4], [1, 1, 1, 1], mods=[[1, 2], [3], [4, 5], [6, 7]])
