"""metaanalysis.pooling.incidence against metafor's rma.mh (IRR, IRD) and escalc + rma.uni
(tests/reference/incidence.R)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.pooling import leave_one_out
from metaanalysis.pooling.incidence import mantel_haenszel_rates, pool_incidence

REF = json.loads((Path(__file__).parent / "reference" / "incidence.json").read_text())
RTOL_CLOSED_FORM = 1e-9  # MH is a closed-form sum
RTOL_ITERATIVE = 1e-6  # inverse-variance fits go through iterative tau² estimators
SCALARS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "tau2", "q", "q_pvalue",
           "i2", "h2")


def _num(x):
    return math.nan if x is None else float(x)


def _close(ours, theirs, rtol, name, case_id):
    if theirs is None or math.isnan(theirs):
        assert ours is None or math.isnan(ours), f"{case_id}: {name} should be NA, got {ours}"
        return
    assert ours == pytest.approx(theirs, rel=rtol, abs=1e-12), f"{case_id}: {name}"


def _call(case):
    data = REF["datasets"][case["dataset"]]
    opts = dict(case["options"])
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts.items()}
    if case["fn"] == "mh":
        kwargs["method"] = "MH"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pool_incidence(data["x1i"], data["t1i"], data["x2i"], data["t2i"], **kwargs)


def test_reference_grid_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    sets = REF["datasets"]
    assert len(sets) == 8
    expected = set()
    for ds in sets:
        for m in ("IRR", "IRD"):
            expected |= {f"mh_{ds}_{m}{s}" for s in ("", "_level90", "_nocorrect", "_add_both",
                                                   "_all_drop", "_keep00")}
            expected |= {f"iv_{ds}_{m}_{meth}_{t}" for meth in ("EE", "DL", "REML")
                         for t in ("z", "knha")}
    assert expected == set(REF["cases"])
    # a study with no events in one arm, and one with none in either, are covered
    assert any(0 in d["x1i"] for d in sets.values())
    assert any(a == b == 0 for d in sets.values() for a, b in zip(d["x1i"], d["x2i"]))


MH = sorted(k for k, v in REF["cases"].items() if v["fn"] == "mh")
IV = sorted(k for k, v in REF["cases"].items() if v["fn"] == "iv")


@pytest.mark.parametrize("case_id", MH)
def test_mantel_haenszel_matches_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    assert "error" not in exp
    res = _call(case)
    d = res.to_dict()
    for name in SCALARS:
        _close(_num(d[name]), _num(exp["zval" if name == "statistic" else name]), RTOL_CLOSED_FORM,
               name, case_id)
    _close(_num(d["cmh"]), _num(exp["mh"]), RTOL_CLOSED_FORM, "MH test", case_id)
    _close(_num(d["cmh_pvalue"]), _num(exp["mh_pvalue"]), RTOL_CLOSED_FORM, "MH test p", case_id)
    assert (res.k, res.k_yi) == (exp["k"], exp["k_yi"])
    w = res.weights[np.isfinite(res.weights)] if len(exp["weights"]) < len(res.weights) else res.weights
    want = np.array([np.nan if v is None else v for v in exp["weights"]], float)
    np.testing.assert_allclose(w, want, rtol=RTOL_CLOSED_FORM, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize("case_id", IV)
def test_inverse_variance_matches_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    res = _call(case)
    d = res.to_dict()
    for name in SCALARS:
        _close(_num(d[name]), _num(exp["zval" if name == "statistic" else name]), RTOL_ITERATIVE,
               name, case_id)
    if case["options"]["method"] == "EE":  # pool() gives no prediction interval for an EE model
        assert math.isnan(res.pi_low) and math.isnan(res.pi_high)
    else:
        _close(res.pi_low, exp["pi_low"], RTOL_ITERATIVE, "pi_low", case_id)
        _close(res.pi_high, exp["pi_high"], RTOL_ITERATIVE, "pi_high", case_id)
    assert res.k == exp["k_yi"]
    np.testing.assert_allclose(res.weights[np.isfinite(res.weights)], exp["weights"],
                               rtol=RTOL_ITERATIVE, atol=1e-12)


@pytest.mark.parametrize("key", sorted(REF["leave1out"]))
def test_leave_one_out_refits_with_the_rates(key):
    ds, measure = key.rsplit("_", 1)
    data = REF["datasets"][ds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = pool_incidence(data["x1i"], data["t1i"], data["x2i"], data["t2i"], measure=measure)
        loo = leave_one_out(res)
    exp = REF["leave1out"][key]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("pvalue", "pval"), ("q", "Q"),
                         ("i2", "I2")):
        np.testing.assert_allclose(loo[ours].to_numpy(float), exp[theirs], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{key} {ours}")


def test_summary_prints_the_rate_ratio_and_the_mh_test():
    d = REF["datasets"]["nielweise2008"]
    res = pool_incidence(d["x1i"], d["t1i"], d["x2i"], d["t2i"], labels=[f"t{i}" for i in range(9)])
    text = res.summary()
    exp = REF["cases"]["mh_nielweise2008_IRR"]["expected"]
    assert "Model Results (IRR scale):" in text
    assert f"MH = {exp['mh']:.4f}, df = 1" in text
    assert res.to_dict()["ratio"] == pytest.approx(math.exp(exp["estimate"]), rel=1e-12)
    frame = res.study_frame()
    assert list(frame.columns[:5]) == ["label", "x1i", "t1i", "x2i", "t2i"]
    assert frame.weight.sum() == pytest.approx(1.0)
    # the rate difference is not a ratio: no exp columns
    ird = pool_incidence(d["x1i"], d["t1i"], d["x2i"], d["t2i"], measure="IRD")
    assert ird.to_dict()["ratio"] is None
    assert "IRR scale" not in ird.summary() and "Mantel-Haenszel Test" not in ird.summary()


def test_irr_without_events_in_one_arm_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="not estimable"):
        res = pool_incidence([0, 0], [100, 200], [3, 4], [110, 190])
    assert math.isnan(res.estimate) and "not estimable" in res.notes[-1]
    # the rate difference is estimable there
    ird = pool_incidence([0, 0], [100, 200], [3, 4], [110, 190], measure="IRD")
    assert ird.estimate < 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(measure="IRSD"), "IRR or IRD"),
    (dict(method="PETO"), "method="),
    (dict(test="knha"), "z test only"),
    (dict(method="DL", add=(0.5, 0.5)), "one value each"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        pool_incidence([1, 2], [10, 20], [3, 4], [10, 20], **kwargs)


@pytest.mark.parametrize("args, match", [
    (([1, -2], [10, 20], [3, 4], [10, 20]), r"x1i has a negative count \(-2\) at index 1"),
    (([1, 2], [10, 0], [3, 4], [10, 20]), r"t1i\[1\] = 0; person-time must be > 0"),
    (([1, 2], [10, 20], [3], [10, 20]), "x2i"),
])
def test_bad_data_is_named(args, match):
    with pytest.raises(InputError, match=match):
        pool_incidence(*args)


_study = st.tuples(st.integers(1, 40), st.floats(20, 5000), st.integers(1, 40), st.floats(20, 5000))


@settings(max_examples=60, deadline=None)
@given(st.lists(_study, min_size=2, max_size=12), st.randoms(use_true_random=False))
def test_order_invariance_swap_and_ci(rows, rnd):
    x1, t1, x2, t2 = (np.array(c, float) for c in zip(*rows))
    res = pool_incidence(x1, t1, x2, t2)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    again = pool_incidence(x1[perm], t1[perm], x2[perm], t2[perm])
    assert again.estimate == pytest.approx(res.estimate, rel=1e-10, abs=1e-12)
    assert again.q == pytest.approx(res.q, rel=1e-8, abs=1e-10)
    assert res.ci_low <= res.estimate <= res.ci_high
    # swapping the arms inverts the rate ratio and keeps its SE and the MH test
    swapped = pool_incidence(x2, t2, x1, t1)
    assert swapped.estimate == pytest.approx(-res.estimate, rel=1e-10, abs=1e-12)
    assert swapped.se == pytest.approx(res.se, rel=1e-10)
    assert swapped.cmh == pytest.approx(res.cmh, rel=1e-9, abs=1e-12)
    # person-time in other units (days for years) leaves the ratio alone and scales the difference
    scaled = pool_incidence(x1, 365 * t1, x2, 365 * t2)
    assert scaled.estimate == pytest.approx(res.estimate, rel=1e-10, abs=1e-12)
    ird = pool_incidence(x1, t1, x2, t2, measure="IRD")
    ird_days = pool_incidence(x1, 365 * t1, x2, 365 * t2, measure="IRD")
    assert ird_days.estimate * 365 == pytest.approx(ird.estimate, rel=1e-9, abs=1e-15)


def test_core_is_the_greenland_robins_estimator_by_hand():
    # two strata worked by hand: R = sum x1 t2 / T, S = sum x2 t1 / T
    x1, t1, x2, t2 = np.array([4.0, 12]), np.array([250.5, 900]), np.array([9.0, 10]), np.array([240, 610.25])
    T = t1 + t2
    r, s = (x1 * t2 / T).sum(), (x2 * t1 / T).sum()
    out = mantel_haenszel_rates(x1, t1, x2, t2, "IRR")
    assert math.exp(out["estimate"]) == pytest.approx(r / s, rel=1e-14)
    exp = REF["cases"]["mh_two_IRR"]["expected"]
    assert out["estimate"] == pytest.approx(exp["estimate"], rel=1e-12)
    assert out["se"] == pytest.approx(exp["se"], rel=1e-12)


def test_inverse_variance_without_a_correction_names_the_study():
    # a rate difference of a study without events in either arm has variance 0
    with pytest.raises(InputError, match=r"IRD: in Study 1 \(index 0\) neither arm has events, "
                                         r"so its variance is 0 with to='none'"):
        pool_incidence([0, 2], [10, 20], [0, 3], [10, 20], method="DL", measure="IRD", to="none")
    # its log rate ratio is undefined: left out, and said so
    res = pool_incidence([0, 2, 1], [10, 20, 30], [0, 3, 2], [10, 20, 30], method="DL", to="none")
    assert res.k == 2 and math.isnan(res.weights[0])
    assert res.notes == ("studies at index 0 have no effect size (no events, without a "
                         "continuity correction) and are left out",)
