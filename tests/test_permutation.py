"""permutest against metafor 3.8's permutest (tests/reference/permutest.R -> permutest.json).

Exact tests (every sign pattern or distinct row order) are deterministic, so their p-values must
equal metafor's. The random mode uses numpy's generator, not R's: it is checked against the exact
p-value within Monte-Carlo error, and for determinism under a seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis import InputError
from metaanalysis.pooling.permutation import PermutationResult, _count_orders, _distinct_orders, permutest

REF = json.loads((Path(__file__).parent / "reference" / "permutest.json").read_text())
# p-values of an exact test are counts over the same rearrangements: equal up to rounding
RTOL = 1e-6
# permci bounds are roots found by uniroot on a step function, as metafor's
RTOL_CI = 1e-6


def fit(case):
    y, v = case["yi"], case["vi"]
    test = case["test"]
    if case["mods"] is None:
        return ma.pool(y, v, method=case["method"], test=test)
    mods = np.column_stack(case["mods"])
    return ma.meta_regression(y, v, mods=mods, method=case["method"], test=test)


def test_reference_cases_present():
    assert REF["meta"]["metafor"] == "3.8.1"
    names = set(REF["cases"])
    assert len(names) == 39
    assert sum(c["mods"] is None for c in REF["cases"].values()) == 24
    assert sum(c["permci"] for c in REF["cases"].values()) == 3
    # one arrangement metafor cannot fit (REML does not converge) is left out of its test
    assert REF["cases"]["bcg6_ablat_REML_z"]["n_failed"] == 1


EXACT = [n for n, c in REF["cases"].items() if not c["permci"] and n != "bcg11_REML_z_all"]


@pytest.mark.parametrize("name", EXACT)
def test_exact_test_matches_metafor(name):
    case = REF["cases"][name]
    res = fit(case)
    np.testing.assert_allclose(np.atleast_1d(res.statistic if case["mods"] is None else res.statistic),
                               case["zval"], rtol=1e-8)
    pt = permutest(res)
    assert pt.exact and pt.iter == case["exact_iter"] == pt.exact_count
    assert pt.seed is None
    np.testing.assert_allclose(pt.pvalue, case["pval"], rtol=RTOL, atol=0)
    if case["mods"] is None:
        assert math.isnan(pt.qm_pvalue) and pt.intercept_only
    else:
        assert pt.qm_pvalue == pytest.approx(case["QMp"], rel=RTOL)
        assert pt.qm == pytest.approx(case["QM"], rel=1e-8)
    # the failed refits are left out, as in metafor
    assert int(np.isnan(pt.statistic_perm[:, 0]).sum()) == case["n_failed"]


@pytest.mark.parametrize("name", [n for n, c in REF["cases"].items() if c["permci"]])
def test_permci_matches_metafor(name):
    case = REF["cases"][name]
    pt = permutest(fit(case), permci=True)
    assert pt.permci and pt.exact
    np.testing.assert_allclose(pt.pvalue, case["pval"], rtol=RTOL)
    # metafor's NA (no sign change over its search range) is our NaN
    na = lambda xs: np.array([np.nan if x is None else x for x in xs])  # noqa: E731
    np.testing.assert_allclose(pt.ci_low, na(case["ci.lb"]), rtol=RTOL_CI)
    np.testing.assert_allclose(pt.ci_high, na(case["ci.ub"]), rtol=RTOL_CI)


def test_random_mode_within_monte_carlo_error_of_exact():
    """bcg rows 1-11: 2048 sign patterns; metafor's exact p against our random test with 2000
    draws. The Monte-Carlo standard error is sqrt(p (1 - p) / n); 4 of them bound a miss at 6e-5."""
    case = REF["cases"]["bcg11_REML_z_all"]
    assert case["exact_iter"] == 2048
    res = fit(case)
    exact = permutest(res, iter=2048)
    assert exact.exact
    np.testing.assert_allclose(exact.pvalue, case["pval"], rtol=RTOL)
    p = case["pval"][0]
    n = 2000
    rnd = permutest(res, iter=n, seed=20261203)
    assert not rnd.exact and rnd.iter == n and rnd.seed == 20261203
    se = math.sqrt(max(p * (1 - p), 1 / n) / n)
    assert abs(rnd.pvalue[0] - p) <= 4 * se + 1 / n


def test_random_mode_regression_within_monte_carlo_error():
    """bcg10_late (210 distinct orders) tested exactly by metafor; forced random mode with 3000
    draws must land within Monte-Carlo error of it."""
    case = REF["cases"]["bcg10_late_REML_z"]
    res = fit(case)
    rnd = permutest(res, iter=3000, exact=False, seed=7)
    for got, p in zip(list(rnd.pvalue) + [rnd.qm_pvalue], case["pval"] + [case["QMp"]]):
        se = math.sqrt(max(p * (1 - p), 1 / 3000) / 3000)
        assert abs(got - p) <= 4 * se + 1 / 3000


def test_seed_determinism_and_observed_first():
    d = ma.load_bcg()
    es = ma.escalc("RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg)
    res = ma.pool(es.yi, es.vi, method="DL")
    a = permutest(res, iter=200, seed=3)
    b = permutest(res, iter=200, seed=3)
    c = permutest(res, iter=200, seed=4)
    np.testing.assert_array_equal(a.statistic_perm, b.statistic_perm)
    assert a.pvalue[0] == b.pvalue[0]
    assert not np.array_equal(a.statistic_perm, c.statistic_perm)
    assert a.statistic_perm[0, 0] == res.statistic  # the observed data count, so p >= 1/iter
    assert a.pvalue[0] >= 1 / 200
    # without a seed one is drawn and recorded: the run can be repeated
    d1 = permutest(res, iter=50)
    d2 = permutest(res, iter=50, seed=d1.seed)
    np.testing.assert_array_equal(d1.statistic_perm, d2.statistic_perm)
    rng_run = permutest(res, iter=50, seed=np.random.default_rng(5))
    assert rng_run.seed is None and rng_run.iter == 50


def test_exact_rule_and_arguments():
    case = REF["cases"]["gen7_REML_z"]
    res = fit(case)
    assert permutest(res, iter=128).exact  # 2^7 = 128 <= iter
    assert not permutest(res, iter=127, seed=1).exact
    assert permutest(res, iter=10, exact=True).iter == 128
    assert permutest(res, iter=500, exact=False, seed=1).iter == 500
    for bad in (1, "x"):
        with pytest.raises(InputError, match="iter"):
            permutest(res, iter=bad)
    with pytest.raises(InputError, match="exact"):
        permutest(res, exact="yes")
    with pytest.raises(InputError, match="pool\\(\\) or meta_regression"):
        permutest(object())
    with pytest.raises(InputError, match="k >= 2"):
        permutest(ma.pool([0.1], [0.1]))
    with pytest.raises(InputError, match="permutation-based interval needs more"):
        permutest(ma.pool([0.1, 0.2, 0.3], [0.1, 0.1, 0.1]), permci=True)  # 8 sign patterns
    with pytest.raises(InputError, match="position 3"):
        permutest(res, permci=[3])


def test_result_views():
    pt = permutest(fit(REF["cases"]["bcg6_ablat_REML_z"]))
    assert isinstance(pt, PermutationResult)
    d = pt.to_dict()
    json.dumps(d)
    assert d["coef_names"] == ["intrcpt", "mods1"] and d["exact"] is True and d["iter"] == 360
    frame = pt.to_frame()
    assert list(frame.index) == ["intrcpt", "mods1"] and list(frame.columns)[:4] == ["estimate", "se", "statistic", "pvalue"]
    text = pt.summary()
    assert "Test of Moderators (coefficient 2):*" in text and "QM(df = 1) = 9.0193, p-val* = 0.0362" in text
    assert "pval*" in text and "based on permutation testing" in text
    assert repr(pt).startswith("<PermutationResult 360 permutations (exact)") and "\n" not in repr(pt)
    assert "<pre" in pt._repr_html_()
    with pytest.raises(ValueError):
        pt.pvalue[0] = 0.5  # frozen arrays


def test_knha_regression_prints_f():
    pt = permutest(fit(REF["cases"]["bcg7_alloc_REML_knha"]))
    assert "F(df1 = 2, df2 = 4)" in pt.summary()


def test_distinct_orders_counts():
    assert _count_orders([2, 2, 3], 7) == 210
    labels = [0, 0, 1, 1, 2, 2, 2]
    orders = list(_distinct_orders(labels))
    assert len(orders) == 210 and len({tuple(o) for o in orders}) == 210
    assert len(list(_distinct_orders([0, 1, 2, 3]))) == 24


@settings(max_examples=15, deadline=None)
@given(st.integers(3, 7).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 0.5), min_size=k, max_size=k))), st.randoms(use_true_random=False))
def test_exact_p_does_not_depend_on_study_order(data, rnd):
    y, v = (np.asarray(x) for x in data)
    order = list(range(len(y)))
    rnd.shuffle(order)
    a = permutest(ma.pool(y, v, method="DL"))
    b = permutest(ma.pool(y[order], v[order], method="DL"))
    assert a.pvalue[0] == pytest.approx(b.pvalue[0], abs=1e-12)
    # sign flipping: the test of -y is the test of y
    c = permutest(ma.pool(-y, v, method="DL"))
    assert c.pvalue[0] == pytest.approx(a.pvalue[0], abs=1e-12)
    assert 1 / 2 ** len(y) <= a.pvalue[0] <= 1
