"""metaanalysis.pooling.proportions against metafor (tests/reference/proportions.R) and by invariants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.pooling.proportions import back_transform, clopper_pearson, ipft_hm, pool_proportions

REF = json.loads((Path(__file__).parent / "reference" / "proportions.json").read_text())

# escalc + rma.uni: iterative tau² estimators (REML), the tolerance
RTOL_IV = 1e-6
# the GLMM: two different optimisers (lme4's bobyqa + Nelder-Mead vs ours) and finite-difference
# Hessians on the same 7-node adaptive quadrature; the tolerance
RTOL_GLMM = 1e-3
# tau² that metafor reports as a tiny positive number where ours is the boundary 0
ATOL_TAU2_GLMM = 1e-5

MEASURES = ("PLO", "PFT", "PAS", "PR", "PLN")
IV_KEYS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "tau2", "q", "q_pvalue", "i2", "h2",
           "pi_low", "pi_high", "proportion", "proportion_ci_low", "proportion_ci_high", "proportion_pi_low",
           "proportion_pi_high")
GLMM_KEYS = ("estimate", "se", "statistic", "ci_low", "ci_high", "q", "q_lrt", "proportion",
             "proportion_ci_low", "proportion_ci_high", "proportion_pi_low", "proportion_pi_high")


def _num(x):
    return math.nan if x is None else float(x)


def _close(ours, theirs, rtol, name, case_id, atol=1e-12):
    if theirs is None or math.isnan(_num(theirs)):
        assert ours is None or math.isnan(ours), f"{case_id}: {name} should be NA, got {ours}"
        return
    assert ours == pytest.approx(theirs, rel=rtol, abs=atol), f"{case_id}: {name}"


def test_reference_grid_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    names = REF["datasets"]
    assert len(names) >= 10
    ks = [len(d["xi"]) for d in names.values()]
    assert min(ks) == 2 and max(ks) >= 50
    expected = set()
    for ds in names:
        expected |= {f"rma_{ds}_{m}_{meth}_{t}" for m in MEASURES for meth in ("EE", "DL", "REML") for t in ("z", "knha")}
        expected |= {f"glmm_{ds}_{t}" for t in ("z", "t")}
    assert expected == set(REF["cases"])
    assert not [k for k, v in REF["cases"].items() if "error" in v["expected"]]
    assert any((np.array(d["xi"]) == 0).any() for d in names.values())
    assert any((np.array(d["xi"]) == np.array(d["ni"])).any() for d in names.values())


IV = sorted(k for k, v in REF["cases"].items() if v["fn"] == "rma")
GLMM = sorted(k for k, v in REF["cases"].items() if v["fn"] == "glmm")


@pytest.mark.parametrize("case_id", IV)
def test_inverse_variance_matches_metafor(case_id):
    case = REF["cases"][case_id]
    data = REF["datasets"][case["dataset"]]
    exp = case["expected"]
    res = pool_proportions(data["xi"], data["ni"], measure=case["measure"], method=case["method"], test=case["test"])
    d = res.to_dict()
    for key in IV_KEYS:
        _close(_num(d[key]), exp[key], RTOL_IV, key, case_id)
    np.testing.assert_allclose(res.weights, exp["weights"], rtol=RTOL_IV)


@pytest.mark.parametrize("case_id", GLMM)
def test_glmm_matches_metafor(case_id):
    case = REF["cases"][case_id]
    data = REF["datasets"][case["dataset"]]
    exp = case["expected"]
    res = pool_proportions(data["xi"], data["ni"], method="GLMM", test=case["test"])
    d = res.to_dict()
    for key in GLMM_KEYS:
        _close(_num(d[key]), exp[key], RTOL_GLMM, key, case_id, atol=1e-6)
    _close(res.tau2, exp["tau2"], RTOL_GLMM, "tau2", case_id, atol=ATOL_TAU2_GLMM)
    _close(res.i2, exp["i2"], RTOL_GLMM, "i2", case_id, atol=1e-3)
    _close(res.h2, exp["h2"], RTOL_GLMM, "h2", case_id, atol=1e-5)
    _close(res.pvalue, exp["pvalue"], 1e-2, "pvalue", case_id, atol=1e-8)
    assert res.k == exp["k"]


# ---------------------------------------------------------------- behaviour


PRITZ = REF["datasets"]["pritz1997"]


def test_result_views_and_study_frame():
    res = pool_proportions(PRITZ["xi"], PRITZ["ni"], labels=[f"s{i}" for i in range(14)])
    d = res.to_dict()
    json.dumps(d)
    for key in ("proportion", "proportion_ci_low", "proportion_ci_high", "proportion_pi_low", "proportion_pi_high"):
        assert 0 <= d[key] <= 1
    assert "Proportion:" in res.summary()
    assert "harmonic mean" in res.summary()
    frame = res.study_frame()
    assert list(frame.columns) == ["label", "xi", "ni", "proportion", "ci_low", "ci_high", "yi", "vi", "weight"]
    assert frame["weight"].sum() == pytest.approx(1.0)
    assert "PFT" in repr(res)
    glmm = pool_proportions(PRITZ["xi"], PRITZ["ni"], method="GLMM")
    assert "Wld(df = 13)" in glmm.summary() and "LRT(df = 13)" in glmm.summary()
    json.dumps(glmm.to_dict())


def test_clopper_pearson_known_values():
    # textbook values: 0/10 -> [0, 0.3085]; 10/10 -> [0.6915, 1]; 5/10 -> [0.1871, 0.8129]
    lo, hi = clopper_pearson([0, 10, 5], [10, 10, 10])
    np.testing.assert_allclose(lo, [0.0, 0.69150289, 0.18708603], atol=1e-7)
    np.testing.assert_allclose(hi, [0.30849711, 1.0, 0.81291397], atol=1e-7)


def test_back_transforms_invert_the_transforms():
    p = np.array([0.05, 0.3, 0.5, 0.9])
    assert back_transform(np.log(p / (1 - p)), "PLO") == pytest.approx(p)
    assert back_transform(np.arcsin(np.sqrt(p)), "PAS") == pytest.approx(p)
    assert back_transform(np.log(p), "PLN") == pytest.approx(p)
    n = np.array([50.0, 50.0])
    # Miller's inverse is exact for the transform of x/n at the (harmonic mean) sample size
    x = np.array([10.0, 30.0])
    y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    assert ipft_hm(y, n) == pytest.approx(x / n, rel=1e-9)


def test_input_errors():
    with pytest.raises(InputError, match="xi\\[1\\] = 12 exceeds ni\\[1\\]"):
        pool_proportions([1, 12], [10, 10])
    with pytest.raises(InputError, match="measure"):
        pool_proportions([1, 2], [10, 10], measure="OR")
    with pytest.raises(InputError, match="GLMM"):
        pool_proportions([1, 2], [10, 10], method="GLMM", measure="PAS")
    with pytest.raises(InputError, match="ni\\[0\\]"):
        pool_proportions([0, 2], [0, 10])
    with pytest.raises(InputError, match="level"):
        pool_proportions([1, 2], [10, 10], level=0.05)
    with pytest.raises(InputError, match="no finite maximum-likelihood"):
        pool_proportions([0, 0], [10, 12], method="GLMM")
    with pytest.raises(InputError, match="'z' or 't'"):
        pool_proportions([1, 2], [10, 12], method="GLMM", test="knha")


# ---------------------------------------------------------------- properties


studies = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 40)), min_size=2, max_size=8).map(
    lambda rows: (np.array([min(a, b) for a, b in rows], float), np.array([b for _, b in rows], float))
)


@settings(max_examples=25, deadline=None)
@given(studies, st.sampled_from(MEASURES), st.randoms(use_true_random=False))
def test_order_invariance_and_intervals_contain_the_estimate(data, measure, rnd):
    x, n = data
    res = pool_proportions(x, n, measure=measure, method="DL")
    perm = list(range(len(x)))
    rnd.shuffle(perm)
    res2 = pool_proportions(x[perm], n[perm], measure=measure, method="DL")
    assert res.estimate == pytest.approx(res2.estimate, rel=1e-9, abs=1e-12)
    assert res.ci_low <= res.estimate <= res.ci_high
    if measure in ("PLO", "PFT", "PAS"):
        assert res.proportion_ci_low <= res.proportion <= res.proportion_ci_high


# studies with 0 < x < n and n >= 10: the likelihood has a well-defined interior maximum (with
# only tiny or all-or-none studies tau² can run off to the boundary and the fit is not identified)
inner_studies = st.lists(st.tuples(st.floats(0.05, 0.95), st.integers(10, 80)), min_size=3, max_size=6).map(
    lambda rows: (np.array([min(max(round(p * n), 1), n - 1) for p, n in rows], float),
                  np.array([n for _, n in rows], float))
)


@settings(max_examples=6, deadline=None)
@given(inner_studies)
def test_glmm_swapping_events_and_non_events_flips_the_logit(data):
    x, n = data
    a = pool_proportions(x, n, method="GLMM")
    b = pool_proportions(n - x, n, method="GLMM")
    assert a.estimate == pytest.approx(-b.estimate, rel=1e-4, abs=1e-5)
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-3, abs=1e-5)
    assert a.ci_low <= a.estimate <= a.ci_high


def test_glmm_default_measure_is_the_logit_and_other_scales_are_refused():
    res = pool_proportions([3, 5, 9], [30, 40, 50], method="GLMM")
    assert res.measure == "PLO"
    for measure in ("PFT", "PAS", "PR"):
        with pytest.raises(InputError, match="logit"):
            pool_proportions([3, 5, 9], [30, 40, 50], measure=measure, method="GLMM")
    assert pool_proportions([3, 5, 9], [30, 40, 50]).measure == "PFT"


@pytest.mark.parametrize("x, n, mu, tau", [(0, 500, 2.0, 6.0), (500, 500, -2.0, 6.0),
                                           (1, 2000, 3.0, 8.0), (3, 10, 0.0, 0.5)])
def test_glmm_integrand_mode_is_found_where_newton_would_overshoot(x, n, mu, tau):
    """The adaptive quadrature centres each study at the mode of its integrand; with all or no
    events and a large tau, plain Newton overshoots into the flat tail. The centre must be the
    maximum (checked on a fine grid), and with enough nodes the rule must reach the integral that
    adaptive quadrature computes directly."""
    from scipy.integrate import quad

    from metaanalysis.pooling.proportions import _binom_loglik, _gh_rule, _glmm_loglik

    xs, ns = np.array([float(x)]), np.array([float(n)])
    nodes, weights = _gh_rule(7)
    _, mode = _glmm_loglik((mu, tau), xs, ns, nodes, weights, return_modes=True)
    grid = np.linspace(-15, 15, 300001)
    h = _binom_loglik(x, n, mu + tau * grid) - grid**2 / 2
    assert mode[0] == pytest.approx(grid[np.argmax(h)], abs=2e-4)
    nodes, weights = _gh_rule(41)
    got = _glmm_loglik((mu, tau), xs, ns, nodes, weights)
    f = lambda u: math.exp(_binom_loglik(x, n, mu + tau * u) - u**2 / 2 - 0.5 * math.log(2 * math.pi))  # noqa: E731
    cuts = np.linspace(-15, 15, 121)
    want = math.log(sum(quad(f, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
                        for a, b in zip(cuts[:-1], cuts[1:])))
    # a skewed integrand (a flat tail on one side of the mode): 41 nodes reach ~1e-5
    assert got == pytest.approx(want, rel=1e-4)


def test_glmm_note_names_the_studies_left_out_of_the_wald_test():
    # dat.pritz1997's studies 5 and 8 (R's numbering) have 100% and 0%: named by label, or
    # counted from 1 when none is given, never by a 0-based index
    import metaanalysis as ma

    d = ma.load_pritz1997()
    xi = d.xi.to_numpy()
    assert sorted(np.flatnonzero((xi == 0) | (xi == d.ni.to_numpy())) + 1) == [5, 8]
    named = ma.pool_proportions(xi, d.ni.to_numpy(), measure="PLO", method="GLMM",
                                labels=[f"S{i}" for i in range(1, 15)][:len(xi)])
    assert "(S5, S8)" in named.notes[-1]
    plain = ma.pool_proportions(xi, d.ni.to_numpy(), measure="PLO", method="GLMM")
    assert "(Study 5, Study 8)" in plain.notes[-1] and "index" not in plain.notes[-1]
