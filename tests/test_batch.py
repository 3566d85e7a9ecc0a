"""pool_many (metaanalysis.pooling.batch) against pool, group by group, and against metafor 3.8.

Reference values: tests/reference/pooling.json (written by tests/reference/pooling.R), the same
file test_pooling_core.py reads; here every dataset is one group of a single pool_many call.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metaanalysis import ConvergenceError, InputError
from metaanalysis.pooling import pool
from metaanalysis.pooling.batch import COLUMNS, pool_many
from metaanalysis.pooling.core import _DICT_KEYS

REF = json.loads((Path(__file__).parent / "reference" / "pooling.json").read_text())

METHODS = ["EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ"]
TESTS = ["z", "t", "knha", "adhoc"]
ITERATIVE = {"ML", "REML", "EB", "PM", "PMM"}

# pool_many runs pool's formulas with the studies of many groups side by side, so only the order of
# summation differs: closed forms agree to rounding (1e-8 is the contract, ~1e-15 is observed).
RTOL_CLOSED = 1e-8
# Iterative estimators take the same iterates and stop by the same rule; a rounding difference in a
# sum can move the last iterate slightly (up to ~1e-10 relative observed), so the contract is 1e-6.
RTOL_ITERATIVE = 1e-6
# Quantities that are 0 in one and ~1e-17 in the other (tau² on the boundary, I² = 0).
ATOL = 1e-10
# Against metafor: the contract of issue 3 (see test_pooling_core.py).
RTOL_METAFOR = 1e-6
ATOL_METAFOR = 1e-12

R_TO_OURS = {
    "estimate": "estimate", "se": "se", "zval": "statistic", "pval": "pvalue", "ci.lb": "ci_low",
    "ci.ub": "ci_high", "pi.lb": "pi_low", "pi.ub": "pi_high",
}
R_TO_OURS_RANDOM = {"tau2": "tau2", "se.tau2": "se_tau2", "I2": "i2", "H2": "h2", "QE": "q", "QEp": "q_pvalue"}


def _close(ours, ref, rtol, atol):
    if ref is None or (isinstance(ref, float) and math.isnan(ref)):
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if isinstance(ref, (str, bool, np.bool_)) or ours is None:
        return ours == ref
    ours, ref = float(ours), float(ref)
    if math.isinf(ref):
        return ours == ref
    return abs(ours - ref) <= atol + rtol * abs(ref)


def _pool_row(y, v, method, test, w=None):
    kw = {} if w is None else {"weights": w}
    res = pool(y, v, method=method, test="knha" if test == "adhoc" else test, knha_adhoc=test == "adhoc", **kw)
    return {key: getattr(res, key) for key in _DICT_KEYS}


def _assert_row_matches(row, ref, method, what, skip=()):
    rtol = RTOL_ITERATIVE if method in ITERATIVE else RTOL_CLOSED
    for key in _DICT_KEYS:
        if key in skip:
            continue
        val = row[key]
        if isinstance(val, float) and math.isnan(val):
            val = None
        assert _close(val, ref[key], rtol, ATOL), f"{what} {key}: pool_many {val!r}, pool {ref[key]!r}"


# --------------------------------------------------------------------------------------------
# Agreement with pool, group by group
# --------------------------------------------------------------------------------------------


@st.composite
def groupings(draw):
    n_groups = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        k = draw(st.integers(1, 30))
        tau2 = draw(st.sampled_from([0.0, 0.01, 0.2, 2.0]))
        v = rng.uniform(0.005, 0.6, k)
        y = rng.normal(draw(st.floats(-2, 2)), np.sqrt(v + tau2))
        w = rng.uniform(0.2, 3.0, k)
        rows += [(f"g{g}", y[i], v[i], w[i]) for i in range(k)]
    frame = pd.DataFrame(rows, columns=["analysis_id", "yi", "vi", "w"])
    # interleave the groups: rows of one meta-analysis need not be contiguous
    return frame.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=groupings(), method=st.sampled_from(METHODS), test=st.sampled_from(TESTS))
def test_agrees_with_pool_on_random_groupings(frame, method, test):
    """Every column of pool(...).to_dict(), for every group, every method and test, k from 1 to 30."""
    genq = method == "GENQ"
    # GENQ's generalised Q-profile interval is Imhof's integral group by group (slow): checked in
    # test_genq_interval_matches_pool instead
    out = pool_many(frame, method=method, test=test, weights="w" if genq else None, ci_tau2=not genq)
    assert list(out.columns) == list(COLUMNS)
    skip = ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high") if genq else ()
    for key, grp in frame.groupby("analysis_id"):
        ref = _pool_row(grp.yi.to_numpy(), grp.vi.to_numpy(), method, test, grp.w.to_numpy() if genq else None)
        row = out.loc[key]
        _assert_row_matches(row, ref, method, f"{method}/{test} group {key} (k={len(grp)})", skip)
        assert bool(row["converged"]) == ref["converged"] and int(row["iterations"]) == ref["iterations"]
        assert (row["message"] != "") == (len(grp) == 1)


def test_genq_interval_matches_pool():
    rng = np.random.default_rng(7)
    parts = []
    for g, k in enumerate((4, 9)):
        v = rng.uniform(0.01, 0.3, k)
        parts.append(pd.DataFrame({"analysis_id": g, "yi": rng.normal(0, np.sqrt(v + 0.2)), "vi": v,
                                   "w": 1 / np.sqrt(v)}))
    frame = pd.concat(parts, ignore_index=True)
    out = pool_many(frame, method="GENQ", weights="w")
    for key, grp in frame.groupby("analysis_id"):
        ref = _pool_row(grp.yi.to_numpy(), grp.vi.to_numpy(), "GENQ", "z", grp.w.to_numpy())
        _assert_row_matches(out.loc[key], ref, "GENQ", f"GENQ group {key}")


def test_per_group_convergence_and_iterations():
    """Each group reports the iterations pool needs; slow groups do not hold back fast ones."""
    rng = np.random.default_rng(1)
    G, k = 400, 10
    v = rng.uniform(0.01, 0.3, (G, k))
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    groups = np.repeat(np.arange(G), k)
    for method in ("REML", "ML", "EB", "PM", "PMM"):
        out = pool_many(groups=groups, yi=y.ravel(), vi=v.ravel(), method=method, ci_tau2=False)
        its = np.array([pool(y[g], v[g], method=method).iterations for g in range(G)])
        assert np.array_equal(out["iterations"].to_numpy(), its), method
        assert out["converged"].all()
        assert len(set(its)) > 3  # the groups really do stop at different steps


def test_non_convergence_is_a_row_not_an_exception():
    """A group whose estimator fails after metafor's remedies: NaN row, converged False, message."""
    rng = np.random.default_rng(3)
    y_bad = np.array([-30.0, 30.0, -25.0, 28.0, 0.0])
    v_bad = np.full(5, 0.01)
    control = {"tau2_max": 0.001}
    with pytest.raises(ConvergenceError):
        pool(y_bad, v_bad, method="PM", control=control)
    v_ok = rng.uniform(0.05, 0.1, 6)
    y_ok = rng.normal(0, 0.1, 6)
    frame = pd.DataFrame({"analysis_id": ["bad"] * 5 + ["ok"] * 6, "yi": np.r_[y_bad, y_ok], "vi": np.r_[v_bad, v_ok]})
    out = pool_many(frame, method="PM", control=control)
    assert not out.loc["bad", "converged"] and math.isnan(out.loc["bad", "estimate"])
    assert "did not converge" in out.loc["bad", "message"]
    ref = _pool_row(y_ok, v_ok, "PM", "z")
    _assert_row_matches(out.loc["ok"], ref, "PM", "ok group")
    assert out.loc["ok", "message"] == ""


# --------------------------------------------------------------------------------------------
# metafor's numbers through pool_many: all 42 reference datasets in one call per method and test
# --------------------------------------------------------------------------------------------


# the confidence intervals of tau², I² and H² (pool_many computes them only when asked, ci_tau2)
CI_TAU2_KEYS = ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high")


def _reference_frame():
    parts = []
    for name, d in REF["datasets"].items():
        vi = np.asarray(d["vi"])
        parts.append(pd.DataFrame({"analysis_id": name, "yi": d["yi"], "vi": vi, "w": 1 / np.sqrt(vi)}))
    return pd.concat(parts, ignore_index=True)


def test_reference_grid_is_complete():
    assert len(REF["datasets"]) >= 40 and set(REF["pool"]) == set(REF["datasets"])
    for by_method in REF["pool"].values():
        assert list(by_method) == METHODS


@pytest.mark.parametrize("method", METHODS)
def test_reproduces_metafor_for_all_datasets_at_once(method):
    frame = _reference_frame()
    genq = method == "GENQ"
    for test in TESTS:
        out = pool_many(frame, method=method, test=test, weights="w" if genq else None,
                        ci_tau2=not genq and test == "z")
        for name, by_method in REF["pool"].items():
            entry = by_method[method]
            row = out.loc[name]
            k = len(REF["datasets"][name]["yi"])
            ref_t = entry["tests"][test]
            if "error" in ref_t:  # metafor stops; pool tries its remedies first (test_pooling_core)
                vi = np.asarray(REF["datasets"][name]["vi"])
                try:
                    alone = _pool_row(REF["datasets"][name]["yi"], vi, method, test,
                                      w=1 / np.sqrt(vi) if genq else None)
                except ConvergenceError:
                    assert not row["converged"] and row["message"]
                else:
                    # a remedy found the fit: pool_many's row is pool's
                    no_ci = () if test == "z" and not genq else CI_TAU2_KEYS
                    _assert_row_matches(row, alone, method, f"{name} {test}", skip=no_ci)
                continue
            for rkey, key in R_TO_OURS.items():
                if key.startswith("pi_") and k == 1:
                    assert math.isnan(row[key])  # pool's documented choice for k = 1
                    continue
                assert _close(row[key], ref_t[rkey], RTOL_METAFOR, ATOL_METAFOR), (
                    name, method, test, key, row[key], ref_t[rkey])
            if test != "z":
                continue
            for rkey, key in R_TO_OURS_RANDOM.items():
                assert _close(row[key], entry[rkey], RTOL_METAFOR, ATOL_METAFOR), (
                    name, method, key, row[key], entry[rkey])
            if genq:
                continue  # metafor's generalised Q-profile needed CompQuadForm (see test_tau2.py)
            for rkey, key in (("tau2.ci", "tau2"), ("I2.ci", "i2"), ("H2.ci", "h2")):
                lo, hi = entry[rkey]
                assert _close(row[f"{key}_ci_low"], lo, RTOL_METAFOR, ATOL_METAFOR), (name, method, key, "low")
                assert _close(row[f"{key}_ci_high"], hi, RTOL_METAFOR, ATOL_METAFOR), (name, method, key, "high")


# --------------------------------------------------------------------------------------------
# Invariances, input forms, edge cases
# --------------------------------------------------------------------------------------------


def _random_frame(seed=0, n_groups=50):
    rng = np.random.default_rng(seed)
    ks = rng.integers(1, 25, n_groups)
    g = np.repeat(np.arange(n_groups), ks)
    v = rng.uniform(0.01, 0.4, g.size)
    y = rng.normal(0.1, np.sqrt(v + 0.1))
    return pd.DataFrame({"analysis_id": g, "yi": y, "vi": v})


@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_order_of_groups_and_rows_does_not_matter(method):
    frame = _random_frame(1)
    a = pool_many(frame, method=method)
    b = pool_many(frame.sample(frac=1.0, random_state=5), method=method)
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-12)
    # the keys are the index, sorted, whatever order they come in
    relabel = pool_many(frame.assign(analysis_id=frame.analysis_id.map(lambda i: f"m{99 - i:03d}")), method=method)
    assert list(relabel.index) == sorted(relabel.index)


def test_chunking_gives_the_same_frame():
    frame = _random_frame(2, 120)
    whole = pool_many(frame, method="REML")
    for chunk_rows in (1, 37, 500):
        pd.testing.assert_frame_equal(pool_many(frame, method="REML", chunk_rows=chunk_rows), whole,
                                      check_exact=True)


def test_numpy_arrays_as_input():
    frame = _random_frame(3)
    a = pool_many(frame, method="DL")
    b = pool_many(groups=frame.analysis_id.to_numpy(), yi=frame.yi.to_numpy(), vi=frame.vi.to_numpy(), method="DL")
    pd.testing.assert_frame_equal(a, b.rename_axis("analysis_id"))


def test_k1_and_invalid_groups_get_rows_and_messages():
    frame = pd.DataFrame({
        "analysis_id": ["one", "nan_y", "nan_y", "neg_v", "neg_v", "neg_v", "fine", "fine", "fine"],
        "yi": [0.5, 0.1, np.nan, 0.2, 0.3, 0.1, 0.1, 0.4, 0.2],
        "vi": [0.04, 0.01, 0.02, 0.01, -0.02, 0.03, 0.01, 0.02, 0.03],
    })
    out = pool_many(frame, method="REML", test="knha")
    one = _pool_row(np.array([0.5]), np.array([0.04]), "REML", "knha")
    _assert_row_matches(out.loc["one"], one, "REML", "k=1")
    assert out.loc["one", "test"] == "z" and "k = 1" in out.loc["one", "message"]
    assert "yi at index 1" in out.loc["nan_y", "message"] and math.isnan(out.loc["nan_y", "estimate"])
    assert "vi at index 1" in out.loc["neg_v", "message"] and not out.loc["neg_v", "converged"]
    with pytest.raises(InputError):
        pool(frame.yi[3:6], frame.vi[3:6])  # what pool says about the same group
    assert out.loc["fine", "message"] == "" and out.loc["fine", "converged"]


def test_structural_errors_raise():
    frame = _random_frame(4)
    with pytest.raises(InputError, match="no column"):
        pool_many(frame, by="study")
    with pytest.raises(InputError, match="no column"):
        pool_many(frame, vi="sei")
    with pytest.raises(InputError, match="unknown method"):
        pool_many(frame, method="XX")
    with pytest.raises(InputError, match="level"):
        pool_many(frame, level=0.05)
    with pytest.raises(InputError, match="lengths differ"):
        pool_many(groups=[1, 1, 2], yi=[0.1, 0.2], vi=[0.1, 0.1])
    with pytest.raises(InputError, match="group key"):
        pool_many(pd.DataFrame({"analysis_id": [1, None], "yi": [0.1, 0.2], "vi": [0.1, 0.1]}))
    with pytest.raises(InputError, match="GENQ"):
        pool_many(frame, method="GENQ")


def test_columns_are_stable_across_options():
    frame = _random_frame(5, 5)
    cols = {tuple(pool_many(frame, method=m, test=t, level=lv, ci_tau2=ci).columns)
            for m in ("EE", "DL", "REML") for t in ("z", "knha") for lv in (90, 95) for ci in (True, False)}
    assert cols == {tuple(COLUMNS)}
    off = pool_many(frame, method="REML", ci_tau2=False)
    assert off["tau2_ci_low"].isna().all() and off["tau2"].notna().all()


@pytest.mark.parametrize("method", ["DL", "REML", "PM", "SJ"])
def test_a_groups_row_does_not_depend_on_the_other_groups(method):
    """Bit for bit: each group alone gives the row it gets in the batch (what makes the Dask path,
    which splits the groups across partitions, identical to the in-process run)."""
    frame = _random_frame(6, 30)
    whole = pool_many(frame, method=method, test="knha")
    alone = pd.concat([pool_many(grp, method=method, test="knha") for _, grp in frame.groupby("analysis_id")])
    pd.testing.assert_frame_equal(alone, whole, check_exact=True)


def test_pool_many_progress_bar_counts_every_fit(capsys):
    """progress=True draws a bar on stderr that ends at the number of vectorised fits; the
    results are those of a run without it."""
    pytest.importorskip("tqdm")
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(300), 4)
    y = rng.normal(size=g.size)
    v = rng.uniform(0.01, 0.1, size=g.size)
    quiet = pool_many(groups=g, yi=y, vi=v, method="DL", chunk_rows=200, progress=False)
    assert capsys.readouterr().err == ""
    shown = pool_many(groups=g, yi=y, vi=v, method="DL", chunk_rows=200, progress=True)
    err = capsys.readouterr().err
    assert "meta-analyses" in err and "300/300" in err
    pd.testing.assert_frame_equal(quiet, shown)


def test_pool_many_progress_is_silent_when_stderr_is_not_a_terminal(capsys):
    g = np.repeat(np.arange(300), 4)
    y = np.linspace(-1, 1, g.size)
    pool_many(groups=g, yi=y, vi=np.full(g.size, 0.05), method="DL", chunk_rows=200)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("method", ["DLIT", "SJIT", "GENQM"])
def test_pool_many_fits_the_iterated_and_median_unbiased_estimators_as_pool(method):
    """DLIT, SJIT and GENQM have no vectorised path: pool_many runs pool group by group, so each
    row is pool's (or pool's error message)."""
    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(6), 7)
    y = rng.normal(0.2, 0.4, g.size)
    v = rng.uniform(0.02, 0.2, g.size)
    w = 1 / np.sqrt(v) if method == "GENQM" else None
    out = pool_many(groups=g, yi=y, vi=v, weights=w, method=method)
    for key in range(6):
        sl = g == key
        try:
            res = pool(y[sl], v[sl], method=method, weights=None if w is None else w[sl])
        except ConvergenceError as exc:
            assert out.loc[key, "message"] == str(exc)
            continue
        assert out.loc[key, "tau2"] == res.tau2 and out.loc[key, "estimate"] == res.estimate


def test_pool_many_genqm_needs_weights():
    with pytest.raises(InputError, match="GENQM"):
        pool_many(groups=[1, 1], yi=[0.1, 0.2], vi=[0.1, 0.1], method="GENQM")
