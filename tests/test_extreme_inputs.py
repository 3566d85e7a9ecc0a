"""Extreme inputs (issue 16): pool, pool_many and tau2_estimate give a correct finite result or an
InputError that names the study, for every tau² method and every test; pool_many never reports a
converged fit with a non-finite result.

The limits and the exact change of units behind them are in metaanalysis/pooling/_scaling.py:
variances may span a factor 1e7 (metafor's own warning threshold), effects may spread over 1e75
standard errors of the most precise study, variances may reach 1e300 and effects spread over 1e150;
data outside the ordinary range (1e-30 <= vi <= 1e30, |yi| <= 1e15) are fitted in units where they
are ordinary, a power of two away, and the results converted back.

References: the fits of the same data in ordinary units (the model is equivariant: yi * c, vi * c²
gives estimate * c, tau² * c², the same Q, I², z, p); metafor is not used here because it cannot fit
these data (it runs on for ever at vi ~ 1e200 and warns of instability beyond a variance span of 1e7).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metaanalysis import ConvergenceError, InputError
from metaanalysis.pooling import pool, tau2_estimate
from metaanalysis.pooling._scaling import SPREAD_SE_MAX, VI_RATIO_MAX
from metaanalysis.pooling.batch import pool_many

METHODS = ["EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ"]
TESTS = ["z", "t", "knha"]
ITERATIVE = {"ML", "REML", "EB", "PM", "PMM"}
CI_KEYS = ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high")
SCALE_FREE = ("statistic", "pvalue", "q", "q_pvalue", "i2", "h2", "i2_ci_low", "i2_ci_high", "h2_ci_low",
              "h2_ci_high")
LINEAR = ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high")
QUADRATIC = ("tau2", "se_tau2", "tau2_ci_low", "tau2_ci_high")

# Scaling by a power of two is exact and the fit in ordinary units is then the same computation, so
# the results agree to rounding (observed: bit for bit; 1e-12 allows for the order of sums).
RTOL_EXACT = 1e-12
# Scaling by a power of ten rounds every input by up to half an ulp: closed forms move by ~1e-15,
# iterative fits may stop one step apart (a change of at most metafor's threshold 1e-5 in tau², on
# tau² ~ 0.3 here), so 1e-4 relative; the Q-profile bounds are roots found to tol ~1e-4 likewise.
RTOL_DECIMAL = {True: 1e-4, False: 1e-9}

# Base data sets, chosen so that their own units are the ones the fit uses for any extreme scaling
# of them (the larger of the median variance and the squared half-spread of the effects is in
# [0.5, 2)): a power-of-two scaling of them must then reproduce their fit exactly.
BASE = {
    "k5": ([0.1, 0.9, 1.3, -0.6, 0.5], [0.2, 0.4, 0.3, 0.5, 0.35]),
    "k2": ([0.2, 1.1], [0.6, 1.0]),
    "k1": ([0.4], [0.7]),
    "identical": ([0.7, 0.7, 0.7, 0.7], [0.5, 1.0, 0.8, 1.2]),
}


def _genq_weights(v):
    v = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, 1.0 / np.sqrt(v), 1.0)  # the weights of a refused study do not matter


# the warning that metafor's remedy gave the estimate (pooling/tau2.py): said on purpose, where
# metafor stops or warns too; the properties here are about the results
REMEDY = r"the \w+ estimator of tau² did not converge with"


def fit(y, v, method, test="z", **kw):
    """pool with warnings turned into errors (a numpy warning must not reach the user either)."""
    if method == "GENQ" and "weights" not in kw:
        kw["weights"] = _genq_weights(v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=REMEDY, category=RuntimeWarning)
        res = pool(y, v, method=method, test=test, **kw)
        row = res.to_dict()
    return res, row


def assert_names_study(call, index, why):
    """``call`` raises an InputError naming the study at ``index`` and saying ``why`` (a regex)."""
    with pytest.raises(InputError) as info:
        call()
    msg = str(info.value)
    assert re.search(rf"\bindex {index}\b", msg) and re.search(why, msg), msg


def check_sensible(res, row, y):
    """A finite result within the bounds the model implies."""
    k, method = res.k, res.method
    lo_y, hi_y = float(np.min(y)), float(np.max(y))
    slack = 1e-12 * max(abs(lo_y), abs(hi_y))
    assert res.converged is True
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "q_pvalue", "i2", "h2"):
        assert row[key] is not None and math.isfinite(row[key]), key
    assert lo_y - slack <= res.estimate <= hi_y + slack
    assert res.ci_low <= res.estimate <= res.ci_high
    assert res.tau2 >= 0 and res.q >= 0 and 0 <= res.i2 <= 100
    assert res.h2 >= (0 if method == "EE" else 1 - 1e-12)  # an equal-effects H² is Q / df
    assert 0 <= res.q_pvalue <= 1
    if res.se > 0:
        assert math.isfinite(res.statistic) and 0 <= res.pvalue <= 1
    else:  # only the Knapp-Hartung scale can be 0 (studies that agree exactly), and pool says so
        assert res.test in ("knha", "adhoc") and any("Knapp-Hartung scale is 0" in n for n in res.notes)
    if method != "EE" and k > 1:
        for key in ("pi_low", "pi_high", "se_tau2", "tau2_ci_low", "tau2_ci_high"):
            assert row[key] is not None and math.isfinite(row[key]), key
        assert res.pi_low <= res.ci_low and res.ci_high <= res.pi_high
        assert 0 <= res.tau2_ci_low <= res.tau2_ci_high and res.se_tau2 >= 0


def check_scaled(row, ref, c, shift, rtol, exact=True):
    """``row`` fitted on yi * c + shift, vi * c²; ``ref`` on yi, vi (to_dict rows). Unless the scaling
    is exact, an upper bound of the tau² interval at the end of metafor's search bracket,
    max(100, 10 tau²), in units that are not the ones fitted in is a search limit, not an estimate:
    not compared."""
    at_limit = ref.get("tau2_ci_high") is not None and ref["tau2_ci_high"] >= max(100.0, 10.0 * ref["tau2"]) * (1 - 1e-9)
    for key, val in ref.items():
        if not isinstance(val, float) and val is not None:
            continue
        if at_limit and not exact and key in ("tau2_ci_high", "i2_ci_high", "h2_ci_high"):
            continue
        got = row[key]
        if val is None:
            assert got is None, key
            continue
        if key in LINEAR:
            expected = val * c + (shift if key not in ("se",) else 0.0)
            scale = abs(c) * (abs(val) + (ref["se"] or 0.0))
        elif key in QUADRATIC or key == "tau":
            expected = val * c * c if key != "tau" else val * abs(c)
            scale = abs(expected)
        else:
            expected, scale = val, abs(val)
        if key == "statistic" and shift:
            continue  # a shift moves the null hypothesis
        if key == "pvalue" and shift:
            continue
        atol = 1e-300 if key not in ("i2", "i2_ci_low", "i2_ci_high") else 1e-9
        tol = rtol if exact or key not in CI_KEYS else max(rtol, RTOL_DECIMAL[True])  # roots found to tol
        assert got == pytest.approx(expected, rel=tol, abs=max(atol, tol * scale)), key


# --------------------------------------------------------------------------------------------
# The sweep: (y, v) -> what must happen
# --------------------------------------------------------------------------------------------

OK = "ok"


def _scaled(base, c):
    y, v = BASE[base]
    return [x * c for x in y], [x * c * c for x in v]


def _set(values, i, x):
    out = list(values)
    out[i] = x
    return out


y5, v5 = BASE["k5"]
CASES = {
    # scaled copies of the base data sets: exact powers of two and powers of ten, far beyond 1e±100
    **{f"{b} x 2^{j}": (*_scaled(b, 2.0**j), (OK, b, 2.0**j)) for b in BASE for j in (400, 150, -150, -500)},
    **{f"{b} x 1e{e}": (*_scaled(b, 10.0**e), (OK, b, 10.0**e)) for b in ("k5", "k2") for e in (100, -100, 140)},
    # one extreme effect among ordinary ones: 1e+301 standard errors away
    **{f"yi[2] = {x:g}": (_set(y5, 2, x), v5, (InputError, 2, "standard errors")) for x in (1e300, -1e300, 1e200, -1e200)},
    "yi[2] = 1e-300": (_set(y5, 2, 1e-300), v5, (OK, None, None)),
    "mixed magnitudes": ([1e-300, 1e300, 1.0, -1e100, 1e-100], v5, (InputError, 1, "standard errors")),
    "effects 1e74 standard errors apart": ([0.0, 5e73, 1e74], [1.0, 1.0, 1.0], (OK, None, None)),
    "effects 1e76 standard errors apart": ([0.0, 5e75, 1e76], [1.0, 1.0, 1.0], (InputError, 2, "standard errors")),
    # one extreme variance among ordinary ones
    **{f"vi[1] = {x:g}": (y5, _set(v5, 1, x), (InputError, 1, "span")) for x in (1e-300, 1e-200, 1e-10, 1e300, 1e20)},
    "vi[1] = inf": (y5, _set(v5, 1, math.inf), (InputError, 1, "missing or infinite")),
    "vi[1] = nan": (y5, _set(v5, 1, math.nan), (InputError, 1, "missing or infinite")),
    "vi[1] = 0": (y5, _set(v5, 1, 0.0), (InputError, 1, "positive")),
    "vi[1] = -1": (y5, _set(v5, 1, -1.0), (InputError, 1, "positive")),
    "variances spanning 0.9e7": ([0.1, 0.5, 0.3], [0.5 / 0.9e7, 0.5, 0.3], (OK, None, None)),
    "variances spanning 1.1e7": ([0.1, 0.5, 0.3], [0.5 / 1.1e7, 0.5, 0.3], (InputError, 0, "span")),
    # every variance extreme: fine if the effects are on the same scale, else too far apart
    "all vi = 1e-300": (y5, [1e-300] * 5, (InputError, 3, "standard errors")),
    "all vi = 1e300": (y5, [1e300] * 5, (OK, None, None)),
    "vi above 1e300": ([0.1, 0.2, 0.3], [2e300, 3e300, 4e300], (InputError, 2, "above 1e\\+300")),
    "effects spread over 2e150": ([-1e150, 1e150, 0.0], [1e300, 1e300, 1e300], (InputError, 1, "spread over")),
    # k = 1 and k = 2
    "k1 yi = 1e300": ([1e300], [0.7], (OK, None, None)),
    "k1 vi = 1e-300": ([0.4], [1e-300], (OK, None, None)),
    "k1 vi = 1e305": ([0.4], [1e305], (InputError, 0, "above 1e\\+300")),
    "k2 yi = +-1e300": ([1e300, -1e300], [0.6, 1.0], (InputError, 0, "standard errors")),
    "k2 vi = 1e-300": ([0.2, 1.1], [1e-300, 1.0], (InputError, 0, "span")),
    # identical effects, however large: Q = 0, tau² = 0, the estimate is the common value
    "identical yi = 1e300": ([1e300] * 4, [0.5, 1.0, 0.8, 1.2], (OK, None, None)),
    "identical yi = -1e-300": ([-1e-300] * 4, [0.5, 1.0, 0.8, 1.2], (OK, None, None)),
    "identical yi = 0": ([0.0] * 4, [0.5, 1.0, 0.8, 1.2], (OK, None, None)),
}


def test_the_sweep_is_complete():
    """Every probe of the brief is in the grid (so that none can drop out silently)."""
    names = " ".join(CASES)
    for probe in ("1e+300", "-1e+300", "1e+200", "-1e+200", "1e-300", "mixed", "vi[1] = 1e-300", "1e-200",
                  "vi[1] = 1e+300", "inf", "nan", "vi[1] = 0", "-1", "k1", "k2", "identical"):
        assert probe in names, probe
    assert len(CASES) >= 45


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_pool_every_method_and_test_is_finite_or_names_the_study(name, method):
    y, v, (what, ref, arg) = CASES[name]
    for test in TESTS:
        if what is InputError:
            assert_names_study(lambda: fit(y, v, method, test), ref, arg)
            continue
        res, row = fit(y, v, method, test)
        check_sensible(res, row, y)
        if ref is not None:  # a scaled copy of a base data set: the same fit, in other units
            y0, v0 = BASE[ref]
            _, row0 = fit(y0, v0, method, test)
            c = arg
            exact = math.frexp(c)[0] == 0.5
            check_scaled(row, row0, c, 0.0, RTOL_EXACT if exact else RTOL_DECIMAL[method in ITERATIVE], exact)


def test_identical_huge_effects_are_exact():
    for method in METHODS:
        res, row = fit([1e300] * 4, [0.5, 1.0, 0.8, 1.2], method)
        assert res.estimate == 1e300 and res.tau2 == 0 and res.q == 0 and res.i2 == 0
        assert res.se == pytest.approx(fit([0.7] * 4, [0.5, 1.0, 0.8, 1.2], method)[0].se, rel=1e-14)
    res = pool([1e300] * 4, [0.5, 1.0, 0.8, 1.2], test="knha")
    assert res.se == 0 and res.statistic == math.inf and res.pvalue == 0


def test_messages_name_the_study_by_label_and_say_what_is_valid():
    labels = ["Smith 2001", "Jones 2003", "Lee 2010", "Roe 2012", "Doe 2015"]
    with pytest.raises(InputError, match=r"yi at index 2 \(Lee 2010\) is 1e\+300.*at most 1e\+75"):
        pool(_set(y5, 2, 1e300), v5, labels=labels)
    with pytest.raises(InputError, match=r"vi at index 1 \(Jones 2003\) is 1e-300.*at most a factor 1e\+07"):
        pool(y5, _set(v5, 1, 1e-300), labels=labels)
    with pytest.raises(InputError, match=r"vi at index 3 \(Roe 2012\) is 0.0; sampling variances must be positive"):
        pool(y5, _set(v5, 3, 0.0), labels=labels)


@pytest.mark.parametrize("sei,idx,what", [(1e-200, 1, "below the smallest normal"), (1e160, 1, "beyond the largest")])
def test_standard_errors_whose_squares_leave_double_precision(sei, idx, what):
    with pytest.raises(InputError, match=f"sei at index {idx} is .*{what}"):
        pool([0.1, 0.2, 0.3], sei=[0.3, sei, 0.4])


def test_extreme_custom_weights_change_nothing():
    """Custom (and GENQ) weights enter only through ratios: scaled by 2^±900 they give the same fit."""
    y, v = BASE["k5"]
    w = np.array([1.0, 2.0, 0.5, 1.5, 1.0])
    for method in ("GENQ", "REML", "DL"):
        _, ref = fit(y, v, method, weights=w)
        for c in (2.0**900, 2.0**-900):
            _, row = fit(y, v, method, weights=w * c)
            check_scaled(row, ref, 1.0, 0.0, RTOL_EXACT)


def test_scoring_stops_at_the_resolution_of_a_large_tau2():
    """tau² ~ 6e11 (effects in the millions): metafor's threshold 1e-5 is below what a double
    resolves there, and REML used to end in a ConvergenceError; it now stops within rounding of the
    estimate found in units where the threshold means something."""
    rng = np.random.default_rng(0)
    y, v = rng.normal(0, 1e6, 10), np.ones(10)
    for method in ("REML", "ML", "EB"):
        res = pool(y, v, method=method)
        ref = pool(y / 1e6, v / 1e12, method=method, control={"threshold": 1e-17})
        assert res.converged and res.tau2 == pytest.approx(ref.tau2 * 1e12, rel=1e-9)


# --------------------------------------------------------------------------------------------
# tau2_estimate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [m for m in METHODS if m != "EE"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_tau2_estimate_agrees_with_pool_or_names_the_study(name, method):
    y, v, (what, ref, arg) = CASES[name]
    kw = {"weights": _genq_weights(v)} if method == "GENQ" and what is not InputError else {}
    if what is InputError:
        assert_names_study(lambda: tau2_estimate(y, v, method, weights=np.ones(len(y)) if method == "GENQ" else None),
                           ref, arg)
        return
    if len(y) < 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=REMEDY, category=RuntimeWarning)
        est = tau2_estimate(y, v, method, **kw)
    res = pool(y, v, method=method, **kw)
    assert est.converged and math.isfinite(est.tau2) and est.tau2 == res.tau2
    assert est.se == res.se_tau2 or (math.isnan(est.se) and math.isnan(res.se_tau2))


def test_tau2_estimate_with_moderators_on_extreme_scales():
    y, v = BASE["k5"]
    X = np.column_stack([np.ones(5), [0.0, 1.0, 2.0, 3.0, 4.0]])
    ref = tau2_estimate(y, v, "REML", mods=X)
    for c in (2.0**400, 2.0**-400):
        est = tau2_estimate(np.asarray(y) * c, np.asarray(v) * c * c, "REML", mods=X)
        assert est.tau2 == pytest.approx(ref.tau2 * c * c, rel=RTOL_EXACT)
    with pytest.raises(InputError, match="index 2"):
        tau2_estimate(_set(y5, 2, 1e300), v5, "REML", mods=X)


# --------------------------------------------------------------------------------------------
# pool_many
# --------------------------------------------------------------------------------------------

ORDINARY_GROUP = ([0.1, 0.3, 0.35, -0.2, 0.05], [0.01, 0.02, 0.015, 0.03, 0.02])
CORE = ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "q_pvalue", "i2", "h2")


def _many(cases, method, test="z", ci_tau2=True):
    g, y, v = [], [], []
    for name, (yy, vv) in cases.items():
        g += [name] * len(yy)
        y += list(yy)
        v += list(vv)
    v = np.array(v)
    kw = {"weights": _genq_weights(v)} if method == "GENQ" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=REMEDY, category=RuntimeWarning)
        return pool_many(groups=np.array(g, dtype=object), yi=np.array(y), vi=v, method=method,
                         test=test, ci_tau2=ci_tau2, **kw)


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize("method", METHODS)
def test_pool_many_never_reports_a_nonfinite_fit_as_converged(method, test):
    cases = {name: (y, v) for name, (y, v, _) in CASES.items()}
    cases["ordinary"] = ORDINARY_GROUP
    out = _many(cases, method, test, ci_tau2=method != "GENQ")  # GENQ's interval: checked below, once
    for name, row in out.iterrows():
        finite = all(math.isfinite(row[c]) for c in CORE)
        assert not (row["converged"] and not finite), name
        what, ref, _ = CASES[name][2] if name in CASES else (OK, None, None)
        if what is InputError:
            assert not row["converged"] and f"index {ref} of the group" in row["message"], (name, row["message"])
            continue
        assert row["converged"] and finite, (name, row["message"])
        y, v = cases[name]
        res, _ = fit(y, v, method, test)
        for key in CORE + ("pi_low", "pi_high", "se_tau2", "statistic", "pvalue") + (
                CI_KEYS if method != "GENQ" else ()):
            want = getattr(res, key)
            if math.isnan(want) or math.isinf(want):
                assert row[key] == want or (math.isnan(want) and math.isnan(row[key])), (name, key)
            else:
                rtol = 1e-6 if method in ITERATIVE or key in CI_KEYS else 1e-8
                assert row[key] == pytest.approx(want, rel=rtol, abs=1e-10 * (abs(want) + res.se)), (name, key)


def test_pool_many_genq_interval_for_extreme_groups():
    cases = {"huge": _scaled("k5", 2.0**400), "tiny": _scaled("k5", 2.0**-500), "ordinary": BASE["k5"]}
    out = _many(cases, "GENQ")
    ref = fit(*BASE["k5"], "GENQ")[1]
    for name, c in (("huge", 2.0**400), ("tiny", 2.0**-500), ("ordinary", 1.0)):
        row = out.loc[name]
        assert row["converged"]
        for key in ("tau2_ci_low", "tau2_ci_high"):
            assert row[key] == pytest.approx(ref[key] * c * c, rel=1e-9)


def test_pool_many_issue_example_tiny_variance_is_refused_not_nan():
    """The issue's report: vi = 1e-300 came back NaN and converged."""
    y = [0.1, 0.3, 0.35, -0.2, 0.05] * 2
    v = [0.01, 1e-300, 0.015, 0.03, 0.02] + [0.01, 0.02, 0.015, 0.03, 0.02]
    for method in ("DL", "REML", "ML"):
        out = pool_many(groups=[1] * 5 + [2] * 5, yi=y, vi=v, method=method)
        assert not out.loc[1, "converged"] and "vi at index 1 of the group is 1e-300" in out.loc[1, "message"]
        assert out.loc[2, "converged"] and out.loc[2, "message"] == ""


def test_pool_many_all_zero_weights_in_a_group():
    out = pool_many(groups=[1, 1, 2, 2], yi=[0.1, 0.2, 0.3, 0.5], vi=[0.1, 0.2, 0.1, 0.2],
                    weights=[0.0, 0.0, 1.0, 2.0], method="GENQ")
    assert not out.loc[1, "converged"] and "all zero" in out.loc[1, "message"]
    assert out.loc[2, "converged"]


# --------------------------------------------------------------------------------------------
# Scaling equivariance (hypothesis)
# --------------------------------------------------------------------------------------------

# effects 0 or at least 1e-100 in size: scaled by 2^-500 they stay normal doubles (a subnormal has lost
# digits, and the exact equivariance with it)
effects = st.floats(-3, 3, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-100)
studies = st.integers(min_value=2, max_value=10).flatmap(
    lambda k: st.tuples(
        st.lists(effects, min_size=k, max_size=k),
        st.lists(st.floats(0.01, 2.0, allow_nan=False), min_size=k, max_size=k),
    )
)
EXTREME_POWERS = st.one_of(st.integers(-500, -60), st.integers(60, 400))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies, st.sampled_from(METHODS), EXTREME_POWERS, EXTREME_POWERS)
def test_extreme_scalings_by_powers_of_two_fit_identically(data, method, j1, j2):
    """Two copies of one data set scaled by different powers of two beyond the ordinary range are fitted
    in the same units, so every result (intervals for tau² included) is the other's, scaled."""
    y, v = map(np.asarray, data)
    c1, c2 = 2.0**j1, 2.0**j2
    try:
        a = fit(y * c1, v * c1 * c1, method)[1]
    except ConvergenceError:
        return  # metafor's algorithms fail on some data at any scale; the property is about results
    b = fit(y * c2, v * c2 * c2, method)[1]
    check_scaled(b, a, c2 / c1, 0.0, RTOL_EXACT)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies, st.sampled_from(["EE", "DL", "HE", "HS", "HSk", "SJ", "GENQ"]), st.integers(-500, 400))
def test_closed_form_estimators_are_scale_equivariant(data, method, j):
    """No tolerance enters a closed form: yi * c, vi * c² gives estimate * c, tau² * c² and the same
    Q, I², z and p, whether the scaled data are ordinary or not (powers of two: exact)."""
    y, v = map(np.asarray, data)
    c = 2.0**j
    res0, row0 = fit(y, v, method)
    res, row = fit(y * c, v * c * c, method)
    check_sensible(res, row, y * c)
    keys = [k for k in row0 if k not in CI_KEYS and k not in ("pi_low", "pi_high")]
    check_scaled({k: row[k] for k in keys}, {k: row0[k] for k in keys}, c, 0.0, RTOL_EXACT)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies, st.sampled_from(sorted(ITERATIVE)), EXTREME_POWERS)
def test_iterative_estimators_on_extreme_scales_agree_with_ordinary_units(data, method, j):
    """Iterative fits stop by metafor's absolute threshold, so the fit in the data's own units and in
    the units an extreme copy is fitted in may stop a step apart: agreement to that step (tau² within
    2.5e-4 absolute in ordinary units: each of the two fits may stop within uniroot's tol of 1.2e-4,
    metafor's threshold for the others being 1e-5; PMM was seen 1.03e-4 apart)."""
    y, v = map(np.asarray, data)
    c = 2.0**j
    try:
        res0 = pool(y, v, method=method)
    except ConvergenceError:
        return  # the ordinary fit's own failure is another test's business; the scaled one may not fail
    res = pool(y * c, v * c * c, method=method)
    assert res.converged
    assert res.tau2 / (c * c) == pytest.approx(res0.tau2, rel=1e-4, abs=2.5e-4)
    assert res.estimate / c == pytest.approx(res0.estimate, rel=1e-3, abs=1e-4)
    assert res.q == pytest.approx(res0.q, rel=1e-12)
