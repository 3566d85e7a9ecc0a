"""escalc's incidence, correlation and variability measures against metafor (tests/reference/escalc_more.R)
and by invariants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.effects import escalc
from metaanalysis.errors import InputError

REF = json.loads((Path(__file__).parent / "reference" / "escalc_more.json").read_text())

# closed-form arithmetic on the same inputs: agreement to rounding
RTOL_ESCALC = 1e-10
# UCOR goes through the Gauss hypergeometric function (our Euler integral against GSL's series, both
# near 1e-13), and its UB variance is yi² minus a nearly equal term, which cancels up to 4 digits
# for r near ±1 (observed max 7e-9 at r = 0.999); far inside the 1e-6 the package promises
RTOL_HYPERGEOMETRIC = 1e-8
COUNT_OPTIONS = ("default", "all", "if0all", "none", "add1")
COR_VTYPES = {"COR": ("LS", "AV"), "UCOR": ("LS", "UB", "AV"), "ZCOR": ("LS",)}
CONT_VTYPES = {"SMDH": ("LS", "LS2"), "CVR": ("LS",), "VR": ("LS",)}


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def test_reference_grid_is_complete():
    ds = REF["datasets"]
    assert REF["metafor_version"] == "3.8.1"
    expected = set()
    for name in ds["incidence"]:
        for m in ("IRR", "IRD", "IRSD"):
            expected |= {f"escalc_{name}_{m}_{o}" for o in COUNT_OPTIONS + ("drop00",)}
    for name in ds["one_rate"]:
        for m in ("IR", "IRLN", "IRS", "IRFT"):
            expected |= {f"escalc_{name}_{m}_{o}" for o in COUNT_OPTIONS}
    for name in ds["correlation"]:
        for m, vts in COR_VTYPES.items():
            expected |= {f"escalc_{name}_{m}_vtype{v}" for v in vts}
    for name in ds["continuous"]:
        for m, vts in CONT_VTYPES.items():
            expected |= {f"escalc_{name}_{m}_vtype{v}" for v in vts}
    assert expected == set(REF["cases"])
    # the edge cases the grid exists for are really in it
    edges = ds["correlation"]["edges"]
    assert {1.0, -1.0} <= set(edges["ri"]) and min(edges["ni"]) <= 3
    zeros = ds["incidence"]["zeros"]
    assert any(a == 0 and b == 0 for a, b in zip(zeros["x1i"], zeros["x2i"]))


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_escalc_matches_metafor(case_id):
    case = REF["cases"][case_id]
    data = {k: _arr(v) for k, v in REF["datasets"][case["family"]][case["dataset"]].items()}
    if case["measure"] == "VR":
        data = {k: data[k] for k in ("sd1i", "n1i", "sd2i", "n2i")}
    opts = {} if isinstance(case["options"], list) else dict(case["options"])
    res = escalc(case["measure"], **data, **opts)
    yi_r, vi_r = _arr(case["yi"]), _arr(case["vi"])
    rtol = RTOL_HYPERGEOMETRIC if case["measure"] == "UCOR" else RTOL_ESCALC
    np.testing.assert_array_equal(np.isnan(res.yi), np.isnan(yi_r), err_msg="NA pattern of yi")
    np.testing.assert_array_equal(np.isnan(res.vi), np.isnan(vi_r), err_msg="NA pattern of vi")
    np.testing.assert_allclose(res.yi, yi_r, rtol=rtol, atol=1e-14, equal_nan=True)
    np.testing.assert_allclose(res.vi, vi_r, rtol=rtol, atol=1e-14, equal_nan=True)


# ---------------------------------------------------------------- behaviour


def test_irr_worked_example():
    # 5 events in 100 person-years against 9 in 120: IRR = 0.05 / 0.075, var = 1/5 + 1/9
    res = escalc("IRR", x1i=[5], t1i=[100], x2i=[9], t2i=[120])
    assert res.yi[0] == pytest.approx(np.log(0.05 / 0.075), rel=1e-14)
    assert res.vi[0] == pytest.approx(1 / 5 + 1 / 9, rel=1e-14)
    assert res.ni[0] == 220


def test_zcor_is_fisher_z_and_unbounded_r_is_nan():
    res = escalc("ZCOR", ri=[0.5, 1.0], ni=[23, 30])
    assert res.yi[0] == pytest.approx(0.5 * np.log(3), rel=1e-14)
    assert res.vi[0] == pytest.approx(1 / 20, rel=1e-14)
    assert np.isnan(res.yi[1]) and 1 in res.omitted


def test_ucor_shrinks_towards_zero_less_than_r_moves():
    # Olkin-Pratt: |UCOR| > |r| for 0 < |r| < 1, and the correction vanishes as n grows
    r = np.array([0.3, -0.6, 0.1])
    small = escalc("UCOR", ri=r, ni=[10, 10, 10]).yi
    large = escalc("UCOR", ri=r, ni=[10_000] * 3).yi
    assert np.all(np.abs(small) > np.abs(r))
    np.testing.assert_allclose(large, r, rtol=1e-3)


@pytest.mark.parametrize("bad, msg", [
    (dict(measure="COR", ri=[1.2], ni=[10]), "correlation lies in"),
    (dict(measure="IRR", x1i=[1], t1i=[0], x2i=[1], t2i=[5]), "person-time"),
    (dict(measure="IRR", x1i=[1], t1i=[3], x2i=[-1], t2i=[5]), "negative count"),
    (dict(measure="IRLN", xi=[1]), "missing: ti"),
    (dict(measure="ZCOR", ri=[0.1], ni=[10], vtype="UB"), "vtype='UB'"),
    (dict(measure="VR", sd1i=[1], n1i=[0], sd2i=[1], n2i=[3]), "group sizes"),
])
def test_bad_input_is_an_input_error(bad, msg):
    measure = bad.pop("measure")
    with pytest.raises(InputError, match=msg):
        escalc(measure, **bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.floats(1, 500), st.integers(0, 30), st.floats(1, 500)),
                min_size=1, max_size=8), st.sampled_from(["IRR", "IRD", "IRSD"]))
def test_swapping_arms_negates_incidence_contrasts(rows, measure):
    x1, t1, x2, t2 = (np.array(c, dtype=float) for c in zip(*rows))
    a = escalc(measure, x1i=x1, t1i=t1, x2i=x2, t2i=t2)
    b = escalc(measure, x1i=x2, t1i=t2, x2i=x1, t2i=t1)
    np.testing.assert_allclose(a.yi, -b.yi, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(a.vi, b.vi, rtol=1e-12, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.99, 0.99), st.integers(5, 500)), min_size=1, max_size=8))
def test_correlation_measures_are_odd_in_r(rows):
    r, n = (np.array(c, dtype=float) for c in zip(*rows))
    for measure in ("COR", "UCOR", "ZCOR"):
        a, b = escalc(measure, ri=r, ni=n), escalc(measure, ri=-r, ni=n)
        np.testing.assert_allclose(a.yi, -b.yi, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(a.vi, b.vi, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 20), st.floats(0.1, 5), st.integers(3, 200),
                          st.floats(0.5, 20), st.floats(0.1, 5), st.integers(3, 200)), min_size=1, max_size=6))
def test_swapping_groups_negates_smdh_cvr_vr(rows):
    m1, s1, n1, m2, s2, n2 = (np.array(c, dtype=float) for c in zip(*rows))
    for measure in ("SMDH", "CVR", "VR"):
        a = escalc(measure, m1i=m1, sd1i=s1, n1i=n1, m2i=m2, sd2i=s2, n2i=n2)
        b = escalc(measure, m1i=m2, sd1i=s2, n1i=n2, m2i=m1, sd2i=s1, n2i=n1)
        np.testing.assert_allclose(a.yi, -b.yi, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.vi, b.vi, rtol=1e-12)


def test_options_that_would_be_ignored_or_make_nonsense_are_refused():
    # each was accepted before: vtype for OR and PFT ignored, a negative correction made counts
    # negative, MH with a t test ignored the test, bucher's ratio silently NaN, iter truncated
    import math

    import metaanalysis as ma
    from metaanalysis.errors import InputError

    with pytest.raises(InputError, match="vtype='XX' is not available for measure 'OR'"):
        ma.escalc("OR", ai=[1], bi=[2], ci=[3], di=[4], vtype="XX")
    with pytest.raises(InputError, match="vtype='UB' is not available for measure 'PFT'"):
        ma.escalc("PFT", xi=[1], ni=[5], vtype="UB")
    with pytest.raises(InputError, match="continuity correction must be 0 or more"):
        ma.escalc("OR", ai=[0], bi=[2], ci=[3], di=[4], add=-1)
    with pytest.raises(InputError, match="the MH method has a z test only"):
        ma.pool_binary([3, 4], [30, 40], [6, 9], [30, 41], measure="RR", method="MH", test="knha")
    with pytest.raises(InputError, match="measure='XX' is not a measure code"):
        ma.bucher(math.log(0.2), 0.2, math.log(0.6), 0.13, measure="XX")
    res = ma.pool([0.1, 0.3, 0.35, -0.2, 0.5], [0.01, 0.02, 0.015, 0.03, 0.02])
    for bad in (10.5, "10", True):
        with pytest.raises(InputError, match="iter must be a whole number"):
            ma.permutest(res, iter=bad)
    assert ma.permutest(res, iter=40.0, seed=1).iter == 32  # exact: all 2^5 sign flips


def test_a_negative_sd_is_called_a_standard_deviation():
    import metaanalysis as ma
    from metaanalysis.errors import InputError

    with pytest.raises(InputError, match=r"sd1i\[0\] = -1; a standard deviation must be >= 0"):
        ma.escalc("MD", m1i=[1], sd1i=[-1], n1i=[10], m2i=[2], sd2i=[1], n2i=[10])
