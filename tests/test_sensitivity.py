"""metaanalysis.pooling.sensitivity against metafor's leave1out, cumul and influence.

The reference values are in ``tests/reference/bias.json`` (written by ``tests/reference/bias.R``,
which covers the small-study tests and the sensitivity analyses on the same 18 analyses).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.pooling.core import pool
from metaanalysis.pooling.sensitivity import (
    FIT_COLUMNS,
    INFLUENCE_COLUMNS,
    cumulative,
    influence,
    leave_one_out,
)

REF = json.loads((Path(__file__).parent / "reference" / "bias.json").read_text())
CASES = REF["cases"]

# The requirement; iterative tau² fits agree with metafor to ~1e-9 in practice.
RTOL_REFERENCE = 1e-6
# Values that are exactly 0 in R (Q and tau² of one study, boundary tau²) are rounding noise here.
ATOL_ZERO = 1e-10
# A refit inside leave_one_out/cumulative and a direct pool() of the same studies run the same
# code on the same numbers: equal up to summation order.
RTOL_SAME_CODE = 1e-12

INFLUENCE_REF_KEYS = {
    "rstudent": "rstudent", "dffits": "dffits", "cook_d": "cook_d", "cov_r": "cov_r",
    "tau2_del": "tau2_del", "qe_del": "qe_del", "hat": "hat", "weight": "weight",
    "dfbetas": "dfbetas",
}


def close(actual, expected, what):
    expected = np.array([math.nan if x is None else x for x in expected], dtype=float)
    np.testing.assert_allclose(np.asarray(actual, float), expected, rtol=RTOL_REFERENCE,
                               atol=ATOL_ZERO, err_msg=what)


def fitted(name):
    case = CASES[name]
    data = case["data"]
    return pool(data["yi"], data["vi"], method=case["method"], test=case["test"],
                labels=data["labels"], weights=data.get("weights"), tau2=case.get("tau2"))


def test_reference_grid_is_complete():
    assert len(CASES) == 18
    for name, case in CASES.items():
        k = len(case["data"]["yi"])
        for part in ("leave1out", "cumul"):
            assert set(case[part]) >= set(FIT_COLUMNS), (name, part)
            assert all(len(case[part][c]) == k for c in FIT_COLUMNS), (name, part)
        assert set(case["influence"]) == set(INFLUENCE_REF_KEYS) | {"inf"}, name
    # cumulation orders other than the given one are exercised
    assert sum(c["data"]["order"] is not None for c in CASES.values()) >= 4


@pytest.mark.parametrize("name", sorted(CASES))
def test_leave_one_out_matches_leave1out(name):
    ref = CASES[name]["leave1out"]
    out = leave_one_out(fitted(name))
    assert list(out.columns) == list(FIT_COLUMNS)
    assert list(out.index) == CASES[name]["data"]["labels"] and out.index.name == "study"
    for col in FIT_COLUMNS:
        close(out[col], ref[col], f"{name}: {col}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_cumulative_matches_cumul(name):
    ref = CASES[name]["cumul"]
    out = cumulative(fitted(name), order=CASES[name]["data"]["order"])
    assert list(out.columns) == list(FIT_COLUMNS)
    assert list(out.index) == ref["labels"]
    for col in FIT_COLUMNS:
        close(out[col], ref[col], f"{name}: {col}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_influence_matches_influence(name):
    ref = CASES[name]["influence"]
    out = influence(fitted(name))
    assert list(out.columns) == list(INFLUENCE_COLUMNS)
    assert list(out.index) == CASES[name]["data"]["labels"]
    for col, key in INFLUENCE_REF_KEYS.items():
        close(out[col], ref[key], f"{name}: {col}")
    assert out["inf"].dtype == bool
    assert list(out["inf"]) == ref["inf"]


def test_bcg_done_when():
    # the "done when": leave1out(rma(yi, vi, method="REML", test="knha"))
    res = fitted("bcg_reml_knha")
    out = leave_one_out(res)
    close(out["estimate"], CASES["bcg_reml_knha"]["leave1out"]["estimate"], "estimate")
    # knha refits are t-based: the first study's row is a t statistic on k - 2 df
    row = out.iloc[0]
    fit = pool(res.yi[1:], res.vi[1:], method="REML", test="knha")
    assert fit.df == 11
    assert row["statistic"] == pytest.approx(fit.statistic, rel=RTOL_SAME_CODE)


def test_cumulative_first_row_is_first_study_with_z():
    res = fitted("bcg_reml_knha")
    out = cumulative(res)
    first = out.iloc[0]
    assert first["estimate"] == res.yi[0]
    assert first["se"] == pytest.approx(math.sqrt(res.vi[0]), rel=RTOL_SAME_CODE)
    # one study: metafor tests with z (the 95% interval uses 1.96, not a t quantile)
    assert first["ci_high"] - first["estimate"] == pytest.approx(1.959963984540054 * first["se"])
    assert first["tau2"] == 0 and first["q"] == 0


def test_cumulative_order_options():
    res = fitted("bcg_dl_z")
    years = np.array(CASES["bcg_reml_knha"]["data"]["order"])
    up = cumulative(res, order=years)
    down = cumulative(res, order=years, decreasing=True)
    assert list(up.index) == [res.labels[i] for i in np.argsort(years, kind="stable")]
    # descending keeps tied years (1973) in their original order, as R's order(decreasing=TRUE)
    tied = [res.labels[i] for i in np.flatnonzero(years == 1973)]
    assert [x for x in down.index if x in tied] == tied
    assert down.iloc[-1]["estimate"] == pytest.approx(res.estimate, rel=RTOL_SAME_CODE)
    by_label = cumulative(res, order=list(res.labels))
    assert list(by_label.index) == sorted(res.labels)
    with pytest.raises(InputError, match="one value per study"):
        cumulative(res, order=[1, 2, 3])
    with pytest.raises(InputError, match="missing value at index 2"):
        cumulative(res, order=[1.0, 2.0, math.nan] + [3.0] * 10)


def test_bad_input():
    one = pool([0.1], [0.01])
    with pytest.raises(InputError, match="at least 2"):
        leave_one_out(one)
    with pytest.raises(InputError, match="at least 2"):
        influence(one)
    with pytest.raises(InputError, match="pool"):
        leave_one_out({"yi": [1, 2]})


def test_influence_identical_effects_knha_warns_and_gives_nan():
    res = pool([0.2, 0.2, 0.2, 0.2], [0.01, 0.02, 0.03, 0.04], method="DL", test="knha")
    with pytest.warns(RuntimeWarning, match="standard error is 0"):
        out = influence(res)
    assert out["dffits"].isna().all() and (out["tau2_del"] == 0).all()


def test_two_studies_leave_one_out_is_each_study_alone():
    res = pool([0.1, 0.5], [0.01, 0.04], method="REML", test="knha")
    out = leave_one_out(res)
    np.testing.assert_allclose(out["estimate"], [0.5, 0.1], rtol=RTOL_SAME_CODE)
    np.testing.assert_allclose(out["se"], [0.2, 0.1], rtol=RTOL_SAME_CODE)


def test_failed_refit_gives_nan_row_and_a_warning(monkeypatch):
    from metaanalysis.errors import ConvergenceError
    from metaanalysis.pooling import bias

    real = bias._pool
    full = CASES["bcg_dl_z"]["data"]["yi"]

    def flaky(yi, vi, **kw):
        if len(yi) == len(full) - 1 and yi[0] == full[1]:  # the fit without study 0 fails
            raise ConvergenceError("simulated failure")
        return real(yi, vi, **kw)

    monkeypatch.setattr(bias, "_pool", flaky)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = leave_one_out(fitted("bcg_dl_z"))
    assert out.iloc[0].isna().all() and out.iloc[1:].notna().all().all()
    assert any("without study 0" in str(w.message) for w in caught)


# --------------------------------------------------------------------------------------------
# properties

studies = st.integers(3, 12).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-2, 2), min_size=k, max_size=k),
        st.lists(st.floats(0.005, 1.0), min_size=k, max_size=k),
    )
)
models = st.sampled_from(
    [("EE", "z"), ("DL", "z"), ("REML", "z"), ("DL", "knha"), ("REML", "knha")]
)


def as_row(fit):
    return np.array([getattr(fit, c) for c in FIT_COLUMNS], dtype=float)


@settings(max_examples=25, deadline=None)
@given(data=studies, model=models)
def test_leave_one_out_row_is_pool_without_the_study(data, model):
    yi, vi = map(np.asarray, data)
    method, test = model
    res = pool(yi, vi, method=method, test=test)
    out = leave_one_out(res)
    for i in range(len(yi)):
        keep = np.arange(len(yi)) != i
        direct = pool(yi[keep], vi[keep], method=method, test=test)
        np.testing.assert_allclose(out.iloc[i].to_numpy(), as_row(direct), rtol=RTOL_SAME_CODE,
                                   atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(data=studies, model=models, seed=st.integers(0, 2**16))
def test_cumulative_last_row_is_the_full_fit(data, model, seed):
    yi, vi = map(np.asarray, data)
    method, test = model
    res = pool(yi, vi, method=method, test=test)
    key = np.random.default_rng(seed).permutation(len(yi))
    out = cumulative(res, order=key)
    # the full fit, whatever the order (up to summation order)
    np.testing.assert_allclose(out.iloc[-1].to_numpy(), as_row(res), rtol=1e-9, atol=1e-12)
    # and row i is the fit to the first i + 1 studies in that order
    added = np.argsort(key)
    i = len(yi) // 2
    direct = pool(yi[added[: i + 1]], vi[added[: i + 1]], method=method, test=test)
    np.testing.assert_allclose(out.iloc[i].to_numpy(), as_row(direct), rtol=RTOL_SAME_CODE,
                               atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(data=studies, model=models)
def test_influence_is_consistent_with_leave_one_out(data, model):
    yi, vi = map(np.asarray, data)
    method, test = model
    res = pool(yi, vi, method=method, test=test)
    with warnings.catch_warnings():
        # identical effects under knha: se = 0, some diagnostics NaN (tested below)
        warnings.simplefilter("ignore", RuntimeWarning)
        inf = influence(res)
    l1o = leave_one_out(res)
    np.testing.assert_allclose(inf["tau2_del"], l1o["tau2"], rtol=RTOL_SAME_CODE, atol=1e-14)
    np.testing.assert_allclose(inf["qe_del"], l1o["q"], rtol=RTOL_SAME_CODE, atol=1e-14)
    if res.se > 0:
        np.testing.assert_allclose(inf["cov_r"], l1o["se"] ** 2 / res.se**2, rtol=1e-10)
    np.testing.assert_allclose(inf["weight"], 100 * res.weights, rtol=1e-12)
    assert inf["hat"].sum() == pytest.approx(1.0)
    assert isinstance(inf, pd.DataFrame) and inf.index.name == "study"


@pytest.mark.parametrize("fn", ["leave_one_out", "cumulative", "influence", "egger_test"])
def test_fits_that_are_not_inverse_variance_are_refused(fn):
    import metaanalysis as ma

    glmm = ma.pool_proportions([1, 2, 3, 4, 5], [20] * 5, method="GLMM")
    with pytest.raises(InputError, match="cannot repeat a GLMM fit"):
        getattr(ma, fn)(glmm)
    mh = ma.pool_binary([4, 6, 3, 9], [40, 50, 30, 60], [8, 9, 7, 12], [40, 50, 30, 60])
    if fn in ("leave_one_out", "cumulative"):
        # MH and Peto fits are repeated from their 2x2 tables (tests/test_diagnostics.py)
        assert len(getattr(ma, fn)(mh)) == 4
    else:
        with pytest.raises(InputError, match="result.fit|pool"):
            getattr(ma, fn)(mh)
