"""metaanalysis.pooling.binary against metafor's rma.mh / rma.peto / rma.uni (tests/reference/binary.R)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.pooling.binary import pool_binary

REF = json.loads((Path(__file__).parent / "reference" / "binary.json").read_text())

# MH and Peto are closed-form sums: agreement to rounding
RTOL_CLOSED_FORM = 1e-9
# inverse-variance fits go through iterative tau² estimators (REML): the 1e-6
RTOL_ITERATIVE = 1e-6
HAS_CORE = importlib.util.find_spec("metaanalysis.pooling.core") is not None

SCALARS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "tau2", "q", "q_pvalue", "i2", "h2")
MH_EXTRA = ("cmh", "cmh_pvalue", "cochran", "cochran_pvalue", "tarone", "tarone_pvalue", "breslow_day",
            "breslow_day_pvalue", "k_pos")


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _num(x):
    return math.nan if x is None else float(x)


def _call(case):
    data = REF["datasets"][case["dataset"]]
    opts = {} if isinstance(case["options"], list) else dict(case["options"])
    kwargs = {}
    for key in ("add", "to", "drop00"):
        if key in opts:
            v = opts.pop(key)
            kwargs[key] = tuple(v) if isinstance(v, list) else v
    if "level" in opts:
        kwargs["level"] = opts.pop("level")
    if "correct" in opts:
        kwargs["correct"] = opts.pop("correct")
    if case["fn"] == "mh":
        kwargs.update(method="MH", measure=opts.pop("measure"))
    elif case["fn"] == "peto":
        kwargs.update(method="PETO")
    else:
        kwargs.update(method=opts.pop("method"), measure=opts.pop("measure"), test=opts.pop("test"))
    assert not opts, opts
    return pool_binary(data["ai"], data["n1i"], data["ci"], data["n2i"], **kwargs)


def _close(ours, theirs, rtol, name, case_id):
    if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        assert ours is None or math.isnan(ours), f"{case_id}: {name} should be NA, got {ours}"
        return
    assert ours == pytest.approx(theirs, rel=rtol, abs=1e-12), f"{case_id}: {name}"


def test_reference_grid_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    names = REF["datasets"]
    assert len(names) >= 18
    ks = [len(d["ai"]) for d in names.values()]
    assert min(ks) == 2 and max(ks) >= 50
    expected = set()
    for ds in names:
        for m in ("OR", "RR", "RD"):
            expected |= {f"mh_{ds}_{m}", f"mh_{ds}_{m}_level90", f"mh_{ds}_{m}_add_both", f"mh_{ds}_{m}_all_drop",
                         f"mh_{ds}_{m}_keep00"}
            expected |= {f"iv_{ds}_{m}_{meth}_{t}" for meth in ("EE", "DL", "REML") for t in ("z", "knha")}
        expected |= {f"mh_{ds}_OR_nocorrect", f"peto_{ds}", f"peto_{ds}_level99", f"peto_{ds}_add_both",
                     f"peto_{ds}_keep00", f"iv_{ds}_OR_DL_z_drop00", f"iv_{ds}_RR_DL_z_all"}
    assert expected == set(REF["cases"])
    # zero cells and double zeros are covered
    zero = [d for d in names.values() if (np.array(d["ai"]) == 0).any()]
    double = [d for d in names.values() if ((np.array(d["ai"]) == 0) & (np.array(d["ci"]) == 0)).any()]
    assert len(zero) >= 5 and len(double) >= 3


MH_PETO = sorted(k for k, v in REF["cases"].items() if v["fn"] in ("mh", "peto"))
IV = sorted(k for k, v in REF["cases"].items() if v["fn"] == "iv")


@pytest.mark.parametrize("case_id", MH_PETO)
def test_mh_and_peto_match_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    assert "error" not in exp
    with np.errstate(all="ignore"), _nowarn():
        res = _call(case)
    d = res.to_dict()
    for name in SCALARS:
        _close(_num(d[name]), _num(exp["zval" if name == "statistic" else name]), RTOL_CLOSED_FORM, name, case_id)
    assert math.isnan(res.pi_low) and math.isnan(res.pi_high)  # an equal-effects model, as pool()
    assert res.k == exp["k"]
    assert res.k_yi == exp["k_yi"]
    if case["fn"] == "mh":
        for name in MH_EXTRA:
            _close(_num(d[name]), _num(exp[name]), RTOL_CLOSED_FORM, name, case_id)
    w = res.weights[np.isfinite(res.weights)] if len(exp["weights"]) < len(res.weights) else res.weights
    np.testing.assert_allclose(w, _arr(exp["weights"]), rtol=RTOL_CLOSED_FORM, atol=1e-14, equal_nan=True)


@pytest.mark.skipif(not HAS_CORE, reason="metaanalysis.pooling.core (pool) not available yet")
@pytest.mark.parametrize("case_id", IV)
def test_inverse_variance_matches_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    res = _call(case)
    d = res.to_dict()
    for name in SCALARS:
        _close(_num(d[name]), _num(exp["zval" if name == "statistic" else name]), RTOL_ITERATIVE, name, case_id)
    if case["options"]["method"] == "EE":  # pool() gives no prediction interval for an EE model
        assert math.isnan(res.pi_low)
    else:
        _close(res.pi_low, exp["pi_low"], RTOL_ITERATIVE, "pi_low", case_id)
        _close(res.pi_high, exp["pi_high"], RTOL_ITERATIVE, "pi_high", case_id)
    assert res.k_yi == exp["k_yi"]
    w = res.weights[np.isfinite(res.weights)]
    np.testing.assert_allclose(w, _arr(exp["weights"]), rtol=RTOL_ITERATIVE, atol=1e-12)


class _nowarn:
    """Run a block while ignoring the RuntimeWarning an inestimable MH OR raises (metafor's NA)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# ---------------------------------------------------------------- behaviour


BCG = REF["datasets"]["bcg"]


def test_result_object_views():
    res = pool_binary(BCG["ai"], BCG["n1i"], BCG["ci"], BCG["n2i"], labels=[f"s{i}" for i in range(13)])
    d = res.to_dict()
    json.dumps(d)
    assert d["ratio"] == pytest.approx(math.exp(d["estimate"]))
    assert d["ratio_ci_low"] == pytest.approx(math.exp(d["ci_low"]))
    text = res.summary()
    for fragment in ("Equal-Effects Model (k = 13)", "Q(df = 12) = 163.9426", "Cochran-Mantel-Haenszel",
                     "Tarone's Test", "Model Results (OR scale)", "0.6229"):
        assert fragment in text
    frame = res.study_frame()
    assert {"label", "yi", "vi", "ci_low", "ci_high", "weight"} <= set(frame.columns)
    assert frame["weight"].sum() == pytest.approx(1.0)
    assert "MH" in repr(res)
    rd = pool_binary(BCG["ai"], BCG["n1i"], BCG["ci"], BCG["n2i"], measure="RD").to_dict()
    assert rd["ratio"] is None


def test_inestimable_mh_or_warns_and_is_nan():
    with pytest.warns(RuntimeWarning, match="not estimable"):
        res = pool_binary([0, 0], [10, 12], [2, 3], [10, 12])
    assert math.isnan(res.estimate)
    assert "not estimable" in res.summary()


def test_input_errors():
    with pytest.raises(InputError, match="ai\\[1\\] = 12 exceeds n1i\\[1\\]"):
        pool_binary([1, 12], [10, 10], [1, 1], [10, 10])
    with pytest.raises(InputError, match="measure"):
        pool_binary([1], [10], [1], [10], measure="SMD")
    with pytest.raises(InputError, match="method"):
        pool_binary([1], [10], [1], [10], method="XX")
    with pytest.raises(InputError, match="Peto"):
        pool_binary([0, 0], [10, 10], [0, 0], [10, 10], method="PETO", to=("none", "none"))
    with pytest.raises(InputError, match="odds ratio"):
        pool_binary([1], [10], [1], [10], method="PETO", measure="RR")
    with pytest.raises(InputError, match="index 0"):
        pool_binary([np.nan], [10], [1], [10])
    # double-zero tables' risk differences have variance 0 without a correction: the message is
    # about the counts the user gave, not about a "vi" they never passed
    with pytest.raises(InputError, match=r"RD: in Study 1 \(index 0\), Study 2 \(index 1\) each "
                                         r"arm has either no events or only events.*to='only0'"):
        pool_binary([0, 0, 3], [10, 12, 20], [0, 0, 1], [10, 12, 20], measure="RD",
                    method="REML", to="none")


def test_remedy_of_a_non_converging_tau2_is_said():
    """metafor stops (REML) or warns (PM) where control's maxiter is too small; the remedy that
    then gives the estimate is said in a warning that names the caller's line."""
    import warnings

    from metaanalysis.pooling import pool

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = pool([-0.3, 0.2, 1.1], [0.04, 0.09, 0.02], method="REML", control={"maxiter": 3})
    (w,) = [c for c in caught if "did not converge" in str(c.message)]
    assert "maxiter=3" in str(w.message) and "stepadj=0.5, maxiter=1000" in str(w.message)
    assert w.filename == __file__ and res.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool([-0.3, 0.2, 1.1], [0.04, 0.09, 0.02], method="REML")   # no remedy, no warning


# ---------------------------------------------------------------- properties


tables = st.lists(
    st.tuples(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60), st.integers(1, 60)), min_size=2, max_size=8
)


@settings(max_examples=50, deadline=None)
@given(tables, st.sampled_from(["MH", "PETO"]))
def test_swapping_arms_flips_the_log_or(rows, method):
    a, b, c, d = (np.array(x, dtype=float) for x in zip(*rows))
    fwd = pool_binary(a, a + b, c, c + d, method=method)
    rev = pool_binary(c, c + d, a, a + b, method=method)
    assert fwd.estimate == pytest.approx(-rev.estimate, abs=1e-10)
    assert fwd.se == pytest.approx(rev.se, rel=1e-10)
    assert fwd.q == pytest.approx(rev.q, rel=1e-8, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(tables, st.sampled_from(["OR", "RR", "RD"]), st.randoms(use_true_random=False))
def test_order_invariance_and_ci_contains_estimate(rows, measure, rnd):
    a, b, c, d = (np.array(x, dtype=float) for x in zip(*rows))
    res = pool_binary(a, a + b, c, c + d, measure=measure)
    perm = list(range(len(a)))
    rnd.shuffle(perm)
    res2 = pool_binary(a[perm], (a + b)[perm], c[perm], (c + d)[perm], measure=measure)
    assert res.estimate == pytest.approx(res2.estimate, rel=1e-10, abs=1e-12)
    assert res.se == pytest.approx(res2.se, rel=1e-10)
    assert res.q == pytest.approx(res2.q, rel=1e-8, abs=1e-9)
    assert res.ci_low <= res.estimate <= res.ci_high


@settings(max_examples=30, deadline=None)
@given(tables, st.integers(2, 30))
def test_scaling_all_counts_keeps_mh_or(rows, factor):
    a, b, c, d = (np.array(x, dtype=float) for x in zip(*rows))
    base = pool_binary(a, a + b, c, c + d)
    big = pool_binary(a * factor, (a + b) * factor, c * factor, (c + d) * factor)
    assert base.estimate == pytest.approx(big.estimate, abs=1e-10)
    # the variance falls like 1/factor, exactly (the Robins-Breslow-Greenland variance scales so)
    assert big.se * math.sqrt(factor) == pytest.approx(base.se, rel=1e-10)


EDGE = json.loads((Path(__file__).parent / "reference" / "mh_peto_edge.json").read_text())


def _check_heterogeneity(res, ref):
    np.testing.assert_allclose([res.estimate, res.se], [ref["estimate"], ref["se"]], rtol=1e-10)
    assert res.k_yi == ref["k_yi"]
    assert math.isinf(res.q) == ref["QE_inf"]
    if not ref["QE_inf"]:
        np.testing.assert_allclose(res.q, ref["QE"], rtol=1e-10)
    assert res.q_pvalue == ref["QEp"]
    assert (math.isnan(res.i2) if ref["I2"] is None else res.i2 == pytest.approx(ref["I2"]))
    assert math.isinf(res.h2) == ref["H2_inf"]


def test_peto_with_one_study_effect_but_two_tables_as_metafor():
    # the second element of add/to keeps the double-zero study out of the per-study effects only:
    # k_yi = 1 while two tables enter the Peto estimate (this divided by k_yi - 1 = 0)
    ref = EDGE["peto_one_effect"]
    from metaanalysis import pool_binary

    res = pool_binary(ref["ai"], ref["n1i"], ref["ci"], ref["n2i"], method="PETO", add=(0.5, 0.5),
                      to=("only0", "all"))
    _check_heterogeneity(res, ref)


@pytest.mark.parametrize("name", ["mh_rd_zero_variance", "mh_ird_zero_variance"])
def test_infinite_q_of_a_zero_variance_study_as_metafor(name):
    # Q is infinite: p = 0, I² undefined, H² infinite (was: NaN p, and I² = 0 for incidence)
    from metaanalysis import pool_binary, pool_incidence

    ref = EDGE[name]
    kw = dict(method="MH", add=(0, 0), to=("none", "none"), drop00=(False, False))
    if "ai" in ref:
        res = pool_binary(ref["ai"], ref["n1i"], ref["ci"], ref["n2i"], measure="RD", **kw)
    else:
        res = pool_incidence(ref["x1i"], ref["t1i"], ref["x2i"], ref["t2i"], measure="IRD", **kw)
    _check_heterogeneity(res, ref)
