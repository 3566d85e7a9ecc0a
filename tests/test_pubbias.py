"""metaanalysis.pooling.pubbias (fsn, tes, pet_peese) against metafor's fsn and tes and R's lm
(tests/reference/selection.R, sections ``fsn``, ``tes`` and ``pet_peese``).

Datasets: dat.bcg (log RR), dat.hackshaw1998, a seeded generated set with selection (k = 25) and
one without (k = 15).
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
from metaanalysis.errors import InputError
from metaanalysis.pooling.core import pool
from metaanalysis.pooling.pubbias import (
    FsnResult,
    PetPeeseResult,
    TesResult,
    _poisson_binomial,
    fsn,
    pet_peese,
    tes,
)

REF = json.loads((Path(__file__).parent / "reference" / "selection.json").read_text())
DATA = REF["datasets"]
NAMES = sorted(DATA)
# Closed forms and the same QUADPACK routine as R's integrate: agreement is ~1e-13 in practice.
RTOL = 1e-6
# theta_lim is a root found with R's uniroot at tol = eps^0.25 (1.2e-4); where metafor has to
# widen the bracket (extendInt) it walks outwards differently from us, so the two roots agree
# only to the root finder's tolerance.
ATOL_THETA_LIM = 2e-4

FSN_KEYS = {
    "rosenthal": {}, "rosenthal_a01": {"alpha": 0.01}, "orwin": {"type": "Orwin"},
    "orwin_weighted": {"type": "Orwin", "weighted": True},
    "orwin_target": {"type": "Orwin", "target": 0.05}, "rosenberg": {"type": "Rosenberg"},
}
TES_KEYS = {
    "reml_default": ("REML", {}), "ee_default": ("EE", {}), "ee_chi2": ("EE", {"test": "chi2"}),
    "ee_binom": ("EE", {"test": "binom"}),
    "reml_chi2_two_sided": ("REML", {"test": "chi2", "tes_alternative": "two.sided"}),
}


def arrays(name):
    return np.array(DATA[name]["yi"]), np.array(DATA[name]["vi"])


def close(actual, expected, what, rtol=RTOL, atol=1e-14):
    expected = np.array([math.nan if e is None else e for e in np.atleast_1d(expected)], float)
    np.testing.assert_allclose(np.atleast_1d(actual), expected, rtol=rtol, atol=atol,
                               err_msg=what)


def test_grid_complete():
    assert set(REF["fsn"]) == set(NAMES) == set(REF["tes"]) == set(REF["pet_peese"])
    for name in NAMES:
        assert set(REF["fsn"][name]) == set(FSN_KEYS)
        assert set(REF["tes"][name]) == set(TES_KEYS) | {"vectors_greater", "tau2_reml"}


# ---- fsn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key", sorted(FSN_KEYS))
def test_fsn_matches_metafor(name, key):
    ref = REF["fsn"][name][key]
    out = fsn(*arrays(name), **FSN_KEYS[key])
    assert out.fsn == ref["fsnum"]
    close(out.pvalue, ref["pvalue"], f"{name} {key} pvalue")
    close(out.mean_effect, ref["meanes"], f"{name} {key} meanes")
    close(out.target, ref["target"], f"{name} {key} target")


def test_fsn_from_fit_and_views():
    yi, vi = arrays("bcg")
    res = pool(yi, vi)
    out = fsn(res)
    assert isinstance(out, FsnResult)
    assert out.fsn == fsn(yi, vi).fsn == 598
    assert "Fail-safe N: 598" in out.summary()
    assert "Rosenthal" in repr(out)
    json.dumps(out.to_dict())
    assert fsn(yi, sei=np.sqrt(vi), type="Rosenberg").fsn == 370
    # unweighted Orwin needs no variances
    assert fsn(yi, type="Orwin").fsn == 13
    assert math.isinf(fsn(yi, type="Orwin", target=0).fsn)


def test_fsn_rosenthal_closed_form():
    # Rosenthal (1979): N = (sum z)^2 / z_alpha^2 - k; with k = 4 studies of z = 2 each,
    # (8^2) / 1.6448536^2 - 4 = 19.65..., rounded up to 20
    out = fsn([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0])
    assert out.fsn == 20


def test_fsn_errors():
    with pytest.raises(InputError, match="type"):
        fsn([0.1, 0.2], [0.1, 0.1], type="General")
    with pytest.raises(InputError, match="vi"):
        fsn([0.1, 0.2])
    with pytest.raises(InputError, match="alpha"):
        fsn([0.1, 0.2], [0.1, 0.1], alpha=5)
    with pytest.raises(InputError, match="lengths differ"):
        fsn([0.1, 0.2], [0.1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1)), min_size=2, max_size=12),
       st.randoms(use_true_random=False))
def test_fsn_permutation_invariant(studies, rnd):
    yi = np.array([s[0] for s in studies])
    vi = np.array([s[1] for s in studies])
    perm = list(range(len(yi)))
    rnd.shuffle(perm)
    for kw in FSN_KEYS.values():
        a, b = fsn(yi, vi, **kw), fsn(yi[perm], vi[perm], **kw)
        assert a.fsn == b.fsn or (abs(a.fsn - b.fsn) <= 1)  # ceiling of a value at an integer


# ---- tes ---------------------------------------------------------------------------------------


def check_tes(out, ref, what, lim_atol=ATOL_THETA_LIM):
    assert out.observed == ref["o"], what
    assert out.test == ref["test"], what
    close(out.expected, ref["e"], f"{what} E")
    close(out.oe_ratio, ref["oe_ratio"], f"{what} O/E")
    close(out.statistic, ref["x2"], f"{what} X2")
    close(out.pvalue, ref["pvalue"], f"{what} p")
    close(out.power, ref["power"], f"{what} power")
    close(out.theta, ref["theta"], f"{what} theta")
    if ref["theta_lim"] is None:
        assert len(out.theta_lim) == 0
    else:
        close(out.theta_lim, ref["theta_lim"], f"{what} theta_lim", rtol=0, atol=lim_atol)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("key", sorted(TES_KEYS))
def test_tes_matches_metafor(name, key):
    method, kw = TES_KEYS[key]
    yi, vi = arrays(name)
    res = pool(yi, vi, method=method)
    if method == "REML":
        close(res.tau2, REF["tes"][name]["tau2_reml"], "tau2 of the input fit")
    check_tes(tes(res, **kw), REF["tes"][name][key], f"{name} {key}")


@pytest.mark.parametrize("name", NAMES)
def test_tes_on_arrays_matches_metafor(name):
    out = tes(*arrays(name), alternative="greater")
    check_tes(out, REF["tes"][name]["vectors_greater"], f"{name} vectors")


def test_tes_views():
    out = tes(pool(*arrays("hackshaw")))
    assert isinstance(out, TesResult)
    text = out.summary()
    assert "Observed Number of Significant Findings: 7 (out of 37)" in text
    assert "(X^2 = " in text and "Limit Estimate" in text
    json.dumps(out.to_dict())
    assert "\n" not in repr(out)
    with pytest.raises(ValueError):
        out.power[0] = 1


def test_poisson_binomial_against_enumeration():
    from itertools import product

    p = np.array([0.1, 0.5, 0.77, 0.3, 0.9])
    brute = np.zeros(6)
    for bits in product([0, 1], repeat=5):
        b = np.array(bits)
        brute[b.sum()] += np.prod(np.where(b == 1, p, 1 - p))
    np.testing.assert_allclose(_poisson_binomial(p), brute, rtol=1e-13)


def test_tes_errors():
    yi, vi = arrays("bcg")
    with pytest.raises(InputError, match="test"):
        tes(yi, vi, test="fisher")
    with pytest.raises(InputError, match="alternative"):
        tes(yi, vi, alternative="up")
    with pytest.raises(InputError, match="alpha"):
        tes(yi, vi, alpha=1.5)
    with pytest.raises(InputError, match="vi"):
        tes(yi)
    with pytest.raises(InputError, match="single number"):
        tes(yi, vi, theta=yi)
    bcg = ma.load_bcg()
    reg = ma.meta_regression(yi, vi, bcg.ablat)
    with pytest.raises(InputError, match="theta="):
        tes(reg)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(0.01, 0.5)), min_size=2, max_size=10),
       st.randoms(use_true_random=False))
def test_tes_permutation_invariant(studies, rnd):
    yi = np.array([s[0] for s in studies])
    vi = np.array([s[1] for s in studies])
    perm = list(range(len(yi)))
    rnd.shuffle(perm)
    a = tes(yi, vi, find_lim=False)
    b = tes(yi[perm], vi[perm], find_lim=False)
    assert a.observed == b.observed
    np.testing.assert_allclose(a.expected, b.expected, rtol=1e-12)
    np.testing.assert_allclose(a.pvalue, b.pvalue, rtol=1e-9, atol=1e-15)


# ---- PET-PEESE ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_pet_peese_regressions_match_lm(name):
    ref = REF["pet_peese"][name]
    out = pet_peese(*arrays(name))
    for model in ("pet", "peese"):
        for field in ("coef", "se", "statistic", "pvalue", "ci_low", "ci_high"):
            close(getattr(out, f"{model}_{field}"), ref[model][field], f"{name} {model} {field}")
        assert out.df == ref[model]["df"]
    # the same fit as metafor's fixed-effect meta-regression with the Knapp-Hartung scale
    close(out.pet_coef, ref["pet_rma_coef"], f"{name} rma coef")
    close(out.pet_se, ref["pet_rma_se"], f"{name} rma se")


@pytest.mark.parametrize("name", NAMES)
def test_pet_peese_rule(name):
    out = pet_peese(*arrays(name))
    ref = REF["pet_peese"][name]
    one_sided = ref["pet"]["pvalue"][0] / 2
    close(out.pet_pvalue_one_sided, one_sided, f"{name} one-sided p")
    expected = "PEESE" if one_sided < 0.05 else "PET"
    assert out.chosen == expected
    key = expected.lower()
    close(out.estimate, ref[key]["coef"][0], f"{name} estimate")
    close(out.ci_low, ref[key]["ci_low"][0], f"{name} ci_low")


def test_pet_peese_simulation_known_truth():
    # no true effect, strong small-study bias: the effect of a study with sei -> 0 is 0 and PET
    # finds it (Stanley and Doucouliagos 2014's motivating case)
    rng = np.random.default_rng(11)
    sei = rng.uniform(0.05, 0.5, 400)
    yi = 1.5 * sei + rng.normal(0, sei)
    out = pet_peese(yi, sei=sei)
    assert abs(out.pet_coef[0]) < 3 * out.pet_se[0]
    assert out.pet_coef[1] == pytest.approx(1.5, abs=0.3)
    # a real effect of 0.4 and no bias: PET rejects and PEESE recovers it
    yi2 = 0.4 + rng.normal(0, sei)
    out2 = pet_peese(yi2, sei=sei)
    assert out2.chosen == "PEESE"
    assert out2.estimate == pytest.approx(0.4, abs=0.05)


def test_pet_peese_views_and_errors():
    out = pet_peese(pool(*arrays("bcg")))
    assert isinstance(out, PetPeeseResult)
    assert out.to_frame().shape == (4, 8)
    assert "PET-PEESE estimate" in out.summary()
    json.dumps(out.to_dict())
    with pytest.raises(InputError, match="at least 3"):
        pet_peese([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(InputError, match="different precision"):
        pet_peese([0.1, 0.2, 0.3], [0.1, 0.1, 0.1])
    with pytest.raises(InputError, match="alpha"):
        pet_peese([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], alpha=0.7)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-2, 2), st.floats(0.01, 1)), min_size=4, max_size=15,
                unique_by=lambda t: t[1]),
       st.randoms(use_true_random=False))
def test_pet_peese_permutation_invariant(studies, rnd):
    yi = np.array([s[0] for s in studies])
    vi = np.array([s[1] for s in studies])
    if np.ptp(vi) < 1e-3:
        return
    perm = list(range(len(yi)))
    rnd.shuffle(perm)
    a, b = pet_peese(yi, vi), pet_peese(yi[perm], vi[perm])
    np.testing.assert_allclose(a.pet_coef, b.pet_coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.peese_coef, b.peese_coef, rtol=1e-8, atol=1e-10)
