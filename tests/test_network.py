"""Tests for metaanalysis.network: Bucher, the contrast-based NMA, rankings and inconsistency.

Reference values come from tests/reference/network.R (metafor's rma.mv on the same contrast-based
model; netmeta's DL-type tau² computed the way netmeta does, on all pairwise contrasts with
reduced weights). Regenerate with ``Rscript tests/reference/network.R``.
"""

from __future__ import annotations

import ast
import json
import math
import pathlib

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.network import (
    RAIR_DTC_CAVEATS,
    bucher,
    contrasts_from_studies,
    network_from_studies,
    network_meta,
)

REF_PATH = pathlib.Path(__file__).parent / "reference" / "network.json"
REF = json.loads(REF_PATH.read_text())

# Tolerances, with the reason beside each:
RTOL_EE = 1e-6     # common effect is closed-form GLS in both: agreement is to rounding
RTOL_REML = 1e-4   # REML/ML: metafor maximises with nlminb (default tolerances); we Fisher-score
ATOL_TAU2 = 1e-7   # tau² at (or numerically near) the boundary 0, e.g. ML on the star network
RTOL_DL = 1e-9     # DL: two algebraically equal formulas (GLS projector vs netmeta's reduced weights)

CASES = ["hasselblad1998", "senn2013", "star", "loops", "continuous"]
FITS = ["EE", "REML", "ML", "DL_netmeta"]


def _fit(name, method):
    case = REF["cases"][name]
    kw = dict(measure=case["measure"], reference=case["reference"], treatments=case["treatments"])
    if "add" in case:
        kw.update(add=case["add"], to=case["to"])
    return network_meta(pd.DataFrame(case["input"]), method=method, **kw)


_CACHE: dict = {}


def fitted(name, method):
    if (name, method) not in _CACHE:
        _CACHE[name, method] = _fit(name, method)
    return _CACHE[name, method]


# ---------------------------------------------------------------------------------------------
# the reference grid


def test_reference_grid_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    assert REF["r_version"]
    assert sorted(REF["cases"]) == sorted(CASES)
    for name in CASES:
        case = REF["cases"][name]
        assert case["kind"] in ("arm", "contrast")
        for fit in FITS:
            assert fit in case["fits"], (name, fit)
        T = len(case["treatments"])
        for fit in ("EE", "REML", "ML"):
            f = case["fits"][fit]
            assert len(f["beta"]) == len(f["se"]) == T - 1
            assert len(f["pscores"]) == T
    # the grid covers multi-arm studies, loops, arm and contrast input, all measures used
    kinds = {REF["cases"][n]["kind"] for n in CASES}
    assert kinds == {"arm", "contrast"}
    assert {REF["cases"][n]["measure"] for n in CASES} == {"OR", "MD", "HR"}


@pytest.mark.parametrize("name", CASES)
def test_common_effect_matches_rma_mv(name):
    ref = REF["cases"][name]["fits"]["EE"]
    res = fitted(name, "EE")
    np.testing.assert_allclose(res.d[1:], ref["beta"], rtol=RTOL_EE, atol=1e-12)
    np.testing.assert_allclose(res.vcov[1:, 1:], np.array(ref["vcov"]), rtol=RTOL_EE, atol=1e-14)
    np.testing.assert_allclose(res.effects["se"], ref["se"], rtol=RTOL_EE)
    assert res.q == pytest.approx(ref["QE"], rel=RTOL_EE)
    assert res.q_df == ref["QEdf"]
    assert res.tau2 == 0.0


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("name", CASES)
def test_random_effects_match_rma_mv(name, method):
    ref = REF["cases"][name]["fits"][method]
    res = fitted(name, method)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=RTOL_REML, abs=ATOL_TAU2)
    np.testing.assert_allclose(res.d[1:], ref["beta"], rtol=RTOL_REML, atol=1e-8)
    np.testing.assert_allclose(res.effects["se"], ref["se"], rtol=RTOL_REML)


@pytest.mark.parametrize("name", CASES)
def test_dl_matches_netmeta_formula(name):
    ref = REF["cases"][name]["fits"]["DL_netmeta"]
    res = fitted(name, "DL")
    assert res.q == pytest.approx(ref["Q"], rel=RTOL_DL)
    assert res.q_df == ref["df"]
    assert res.tau2 == pytest.approx(ref["tau2"], rel=RTOL_DL)


@pytest.mark.parametrize("method", ["EE", "REML"])
@pytest.mark.parametrize("name", ["hasselblad1998", "senn2013", "loops"])
def test_pscores_match_closed_form_in_r(name, method):
    ref = REF["cases"][name]["fits"][method]["pscores"]
    res = fitted(name, method)
    ps = res.pscores(small_values="good").reindex(res.treatments)
    np.testing.assert_allclose(ps.to_numpy(), ref, rtol=RTOL_EE if method == "EE" else RTOL_REML)


# ---------------------------------------------------------------------------------------------
# Bucher and the star network


def test_bucher_hand_calculation():
    # lenvatinib (SELECT, HR 0.21) vs sorafenib (DECISION, HR 0.59), both against placebo
    d_ac, se_ac, d_bc, se_bc = math.log(0.21), 0.20, math.log(0.59), 0.13
    res = bucher(d_ac, se_ac, d_bc, se_bc, measure="HR", treat1="lenvatinib", treat2="sorafenib",
                 common="placebo")
    est = math.log(0.21) - math.log(0.59)          # -1.03302...
    se = math.sqrt(0.20**2 + 0.13**2)              # 0.238537...
    assert res.estimate == pytest.approx(est, rel=1e-14)
    assert res.se == pytest.approx(se, rel=1e-14)
    assert res.ci_low == pytest.approx(est - 1.959963984540054 * se, rel=1e-12)
    assert res.ci_high == pytest.approx(est + 1.959963984540054 * se, rel=1e-12)
    assert res.zval == pytest.approx(est / se)
    assert res.pvalue == pytest.approx(1.486e-05, rel=1e-3)  # 2 * Phi(-4.3306)
    assert res.ratio == pytest.approx(0.21 / 0.59)
    assert res.ratio_ci_low == pytest.approx(math.exp(res.ci_low))
    d = res.to_dict()
    json.dumps(d)
    assert set(d) >= {"estimate", "se", "ci_low", "ci_high", "pvalue", "ratio"}
    assert "lenvatinib vs sorafenib" in res.summary()
    assert bucher(0.1, 0.1, 0.2, 0.1, level=90).ci_high - 0.1 * 0 == pytest.approx(
        -0.1 + 1.6448536269514722 * math.sqrt(0.02))
    assert math.isnan(bucher(0.1, 0.1, 0.2, 0.1, measure="MD").ratio)
    with pytest.raises(InputError):
        bucher(0.1, 0.0, 0.2, 0.1)
    with pytest.raises(InputError):
        bucher(0.1, 0.1, 0.2, 0.1, level=0.05)


def _star_frame():
    return pd.DataFrame({
        "study": ["s1", "s2", "s3", "s4"],
        "treat1": ["a", "b", "c", "a"],
        "treat2": ["placebo"] * 4,
        "yi": [-0.5, -0.9, -0.2, -0.7],
        "sei": [0.2, 0.25, 0.15, 0.3],
    })


def test_star_network_equals_bucher():
    res = network_meta(_star_frame(), measure="HR", reference="placebo", method="EE")
    # a: two trials pooled by inverse variance
    w = np.array([1 / 0.2**2, 1 / 0.3**2])
    d_a, se_a = float(np.dot(w, [-0.5, -0.7]) / w.sum()), float(1 / math.sqrt(w.sum()))
    arms = {"a": (d_a, se_a), "b": (-0.9, 0.25), "c": (-0.2, 0.15)}
    league = res.league().set_index(["treat1", "treat2"])
    for t1 in arms:
        for t2 in arms:
            if t1 == t2:
                continue
            b = bucher(*arms[t1], *arms[t2])
            row = league.loc[(t1, t2)]
            assert row.estimate == pytest.approx(b.estimate, rel=1e-12)
            assert row.se == pytest.approx(b.se, rel=1e-12)
            assert row.ci_low == pytest.approx(b.ci_low, rel=1e-12)
            assert row.pvalue == pytest.approx(b.pvalue, rel=1e-9)
    assert res.node_split().empty          # no loop, nothing to split
    assert res.q_between == pytest.approx(0.0, abs=1e-12)


def test_hr_from_interval_at_any_level():
    # an HR of 0.63 with a 60% interval (Leboulleux 2012) and one with a 99% interval
    df = pd.DataFrame({"study": ["leb", "sel"], "treat1": ["vandetanib", "lenvatinib"],
                       "treat2": ["placebo", "placebo"], "hr": [0.63, 0.21],
                       "ci_low": [0.54, 0.14], "ci_high": [0.74, 0.31], "ci_level": [0.60, 99]})
    res = network_meta(df, measure="HR", method="EE")
    eff = res.effects.set_index("treatment")
    z60, z99 = 0.8416212335729143, 2.5758293035489004
    assert eff.loc["vandetanib", "se"] == pytest.approx((math.log(0.74) - math.log(0.54)) / (2 * z60))
    assert eff.loc["lenvatinib", "se"] == pytest.approx((math.log(0.31) - math.log(0.14)) / (2 * z99))
    assert eff.loc["vandetanib", "ratio"] == pytest.approx(0.63)


# ---------------------------------------------------------------------------------------------
# input forms agree


def _loops_arms():
    return pd.DataFrame(REF["cases"]["loops"]["input"])


def _arm_to_contrasts(arms, all_pairs=True):
    """Log ORs and variances of the loops network as contrast rows (no zero cells there)."""
    rows = []
    for sid, g in arms.groupby("study", sort=False):
        e, n = g.events.to_numpy(float), g.n.to_numpy(float)
        theta, v = np.log(e / (n - e)), 1 / e + 1 / (n - e)
        t = list(g.treatment)
        pairs = ([(i, j) for i in range(len(t)) for j in range(i + 1, len(t))] if all_pairs
                 else [(i, 0) for i in range(1, len(t))])
        for i, j in pairs:
            rows.append(dict(study=sid, treat1=t[i], treat2=t[j], yi=theta[i] - theta[j],
                             vi=v[i] + v[j], cov=v[0] if not all_pairs else np.nan))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("all_pairs", [True, False])
def test_contrast_input_equals_arm_input_for_multiarm_studies(all_pairs):
    arms = _loops_arms()
    assert not ((arms.events == 0) | (arms.events == arms.n)).any()
    base = network_meta(arms, measure="OR", method="REML")
    res = network_meta(_arm_to_contrasts(arms, all_pairs), measure="OR", method="REML")
    np.testing.assert_allclose(res.d, base.d, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.vcov, base.vcov, rtol=1e-9, atol=1e-14)
    assert res.tau2 == pytest.approx(base.tau2, rel=1e-8)
    assert res.q_within == pytest.approx(base.q_within, rel=1e-10)


def test_multiarm_contrasts_without_covariance_are_refused():
    c = _arm_to_contrasts(_loops_arms(), all_pairs=False).drop(columns="cov")
    with pytest.raises(InputError, match="multi-arm study .*all 3 pairwise contrasts"):
        network_meta(c, measure="OR")


def test_inconsistent_multiarm_contrasts_are_refused():
    c = _arm_to_contrasts(_loops_arms(), all_pairs=True)
    i = c.index[c.study == "loop09"][0]
    c.loc[i, "yi"] += 0.5
    with pytest.raises(InputError, match="loop09.*inconsistent"):
        network_meta(c, measure="OR")


def test_rounded_multiarm_contrasts_do_not_depend_on_the_order_of_rows():
    # a three-arm study's contrasts off by 8e-4 around the loop (rounding) are accepted; every
    # contrast counts, so the order of the rows (which arm comes first) changes nothing, and the
    # arm estimates are the variance-weighted least-squares fit of the three contrasts
    base = pd.DataFrame({"study": ["t", "t", "t", "u", "v"], "treat1": ["b", "c", "c", "b", "c"],
                         "treat2": ["a", "a", "b", "a", "a"],
                         "yi": [0.10, 0.30, 0.2008, 0.05, 0.4], "sei": [0.15, 0.16, 0.17, 0.2, 0.2]})
    fits = [network_meta(base.iloc[order], measure="MD", reference="a", method="EE")
            for order in ([0, 1, 2, 3, 4], [2, 0, 1, 3, 4], [1, 2, 0, 4, 3])]
    for f in fits[1:]:
        np.testing.assert_allclose(f.d, fits[0].d, rtol=1e-12, atol=1e-15)
    # the study's own fitted b - a: weighted least squares on (b-a, c-a, c-b) = (0.10, 0.30, 0.2008)
    w = 1 / np.array([0.15, 0.16, 0.17]) ** 2
    D = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    theta = np.linalg.solve(D.T @ (w[:, None] * D), D.T @ (w * np.array([0.10, 0.30, 0.2008])))
    alone = network_meta(base.iloc[:3], measure="MD", reference="a", method="EE")
    np.testing.assert_allclose(alone.d[1:], theta, rtol=1e-12)
    assert not np.isclose(theta[0], 0.10)  # the contrast against the first arm is not taken alone


def test_rd_with_two_arms_without_variance_names_the_study():
    z3 = pd.DataFrame({"study": ["s1"] * 3 + ["s2"] * 2,
                       "treatment": ["placebo", "a", "b", "placebo", "a"],
                       "events": [0, 0, 5, 3, 6], "n": [40, 40, 40, 50, 50]})
    with pytest.raises(InputError, match="study 's1': 2 of its arms have 0 or n events"):
        network_meta(z3, measure="RD", method="EE")


# ---------------------------------------------------------------------------------------------
# rankings


def test_sucra_reproducible_and_close_to_pscores():
    res = fitted("senn2013", "REML")
    a = res.sucra(n_sim=20000, seed=42)
    b = res.sucra(n_sim=20000, seed=42)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert not np.array_equal(a.probabilities, res.sucra(n_sim=20000, seed=43).probabilities)
    np.testing.assert_allclose(a.probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(a.probabilities.sum(axis=0), 1.0)
    ps = res.pscores().reindex(res.treatments).to_numpy()
    # Monte Carlo SE of a SUCRA with 20000 draws is below 0.003
    np.testing.assert_allclose(a.sucra_values, ps, atol=0.015)
    long = a.rank_probabilities(kind="long")
    assert list(long.columns) == ["treatment", "rank", "probability", "cumulative"]
    assert len(long) == res.n_treatments**2
    json.dumps(a.to_dict())
    assert "SUCRA" in a.summary()


def test_pscores_direction():
    res = network_meta(_star_frame(), measure="HR", method="EE")
    good = res.pscores()
    bad = res.pscores(small_values="bad")
    assert good.index[0] == "b" and bad.index[0] == "placebo"
    np.testing.assert_allclose(good.reindex(res.treatments) + bad.reindex(res.treatments), 1.0)
    assert good.mean() == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# inconsistency


def _two_arm_loop():
    return pd.DataFrame({
        "study": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "treat1": ["a", "a", "b", "b", "b", "c"],
        "treat2": ["placebo", "placebo", "placebo", "a", "a", "placebo"],
        "yi": [-0.4, -0.6, -0.9, -0.1, -0.5, -0.3],
        "sei": [0.2, 0.25, 0.2, 0.3, 0.25, 0.2],
    })


def test_node_split_back_calculation_equals_separate_fits():
    df = _two_arm_loop()
    res = network_meta(df, measure="HR", method="EE")
    ns = res.node_split().set_index("comparison")
    assert set(ns.index) == {"a vs placebo", "b vs placebo", "b vs a"}
    # b vs a: direct = IV pooling of s4, s5; indirect = NMA without them
    w = np.array([1 / 0.3**2, 1 / 0.25**2])
    direct = float(np.dot(w, [-0.1, -0.5]) / w.sum())
    row = ns.loc["b vs a"]
    assert row.direct == pytest.approx(direct, rel=1e-12)
    assert row.direct_se == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)
    without = network_meta(df[~df.study.isin(["s4", "s5"])], measure="HR", method="EE")
    ind = without.league().set_index(["treat1", "treat2"]).loc[("b", "a")]
    assert row.indirect == pytest.approx(ind.estimate, rel=1e-10)
    assert row.indirect_se == pytest.approx(ind.se, rel=1e-10)
    assert row.difference == pytest.approx(row.direct - row.indirect)
    assert 0 < row.prop_direct < 1
    assert row.k == 2


def test_q_decomposition():
    df = _two_arm_loop()
    res = network_meta(df, measure="HR", method="EE")
    # within designs: a-vs-placebo (s1, s2) and b-vs-a (s4, s5): ordinary pairwise Q
    def q(y, se):
        w = 1 / np.asarray(se) ** 2
        m = np.dot(w, y) / w.sum()
        return float(np.dot(w, (np.asarray(y) - m) ** 2))
    assert res.q_within == pytest.approx(q([-0.4, -0.6], [0.2, 0.25]) + q([-0.1, -0.5], [0.3, 0.25]))
    assert res.q_within_df == 2
    assert res.q_between + res.q_within == pytest.approx(res.q)
    assert res.q_between_df == res.q_df - res.q_within_df == 1
    dec = res.decomposition()
    assert list(dec.index) == ["total", "within designs", "between designs",
                               "between designs (random)"]
    assert dec.loc["total", "q"] == pytest.approx(res.q)


def test_node_split_on_multiarm_network_runs():
    ns = fitted("hasselblad1998", "REML").node_split()
    assert len(ns) == 6  # every pair of the 4 treatments is in a loop
    assert (ns.prop_direct > 0).all() and (ns.prop_direct < 1).all()
    assert np.isfinite(ns[["direct", "indirect", "pvalue"]].to_numpy()).all()


def test_node_split_of_a_lone_multi_arm_trial_is_direct_only():
    """A comparison informed by one three-arm trial and nothing else has no indirect evidence:
    nothing to split (the trial's reduced Rücker variances used to make it look split, with a
    direct SE 32% too large)."""
    from metaanalysis.network import network_meta

    mini = pd.DataFrame({"study": ["s1", "s1", "s1", "s2", "s2"],
                         "treatment": ["a", "b", "c", "a", "d"],
                         "events": [10, 15, 20, 12, 18], "n": [100] * 5})
    res = network_meta(mini, measure="OR", reference="a", method="EE")
    assert res.node_split().empty
    # a second, two-arm trial of b and c closes a loop: b vs a (direct: s1 alone, with the
    # contrast's own variance) is now also informed through c by s3; c vs b is informed by s1 and
    # s3 directly, and the path through a is s1's own c-vs-b again, so it has nothing to split
    loop = pd.concat([mini, pd.DataFrame({"study": ["s3", "s3"], "treatment": ["b", "c"],
                                          "events": [30, 22], "n": [100, 100]})])
    ns = network_meta(loop, measure="OR", reference="a", method="EE").node_split()
    ns = ns.set_index("comparison")
    assert set(ns.index) == {"b vs a", "c vs a"}
    y = math.log(15 / 85) - math.log(10 / 90)
    v = 1 / 15 + 1 / 85 + 1 / 10 + 1 / 90
    assert ns.loc["b vs a", "k"] == 1 and ns.loc["b vs a", "direct"] == pytest.approx(y, rel=1e-10)
    assert ns.loc["b vs a", "direct_se"] == pytest.approx(math.sqrt(v), rel=1e-10)
    assert 0 < ns.loc["b vs a", "prop_direct"] < 1


# ---------------------------------------------------------------------------------------------
# errors


def test_treatment_names_with_the_design_separator_keep_designs_apart():
    # ("p", "q:r", "s") and ("p:q", "r", "s") are two designs: their text forms are the same
    from metaanalysis.network import network_meta

    odd = pd.DataFrame({
        "study": ["s1", "s1", "s1", "s2", "s2", "s2", "s3", "s3", "s4", "s4"],
        "treatment": ["p", "q:r", "s", "p:q", "r", "s", "p", "s", "p", "p:q"],
        "events": [10, 14, 18, 12, 15, 20, 11, 19, 9, 13], "n": [100] * 10})
    fits = [network_meta(odd.assign(treatment=odd.treatment.str.replace(":", sep)),
                         measure="OR", reference="p", method="EE") for sep in (":", "_")]
    for r in fits:
        assert r.n_designs == 4 and r.q_within_df == 0 and r.q_between_df == 2
    assert fits[0].q_between == pytest.approx(fits[1].q_between, rel=1e-12)
    assert fits[0].q_within == pytest.approx(0.0, abs=1e-12)


def test_add_zero_with_a_zero_cell_is_refused_by_name():
    from metaanalysis.network import network_meta

    z = pd.DataFrame({"study": ["s1", "s1", "s2", "s2"], "treatment": ["placebo", "a"] * 2,
                      "events": [0, 5, 3, 8], "n": [40, 40, 50, 50]})
    with pytest.raises(InputError, match="study 's1' has an arm with 0 or all events and add=0"):
        network_meta(z, measure="OR", add=0, method="EE")


def test_disconnected_network_names_components():
    df = pd.DataFrame({"study": ["s1", "s2"], "treat1": ["a", "c"], "treat2": ["placebo", "d"],
                       "yi": [0.1, 0.2], "sei": [0.1, 0.1]})
    with pytest.raises(InputError, match=r"disconnected.*\{a, placebo\}.*\{c, d\}"):
        network_meta(df, measure="HR")


def test_unknown_reference_lists_treatments():
    with pytest.raises(InputError, match="'Placebo'.*a, b, c, placebo"):
        network_meta(_star_frame(), measure="HR", reference="Placebo")


def test_same_arm_contrast_names_the_row():
    df = _star_frame()
    df.loc[2, "treat2"] = "c"
    with pytest.raises(InputError, match=r"row 2 \(study 's3'\) compares 'c' with itself"):
        network_meta(df, measure="HR")


def test_other_input_errors():
    with pytest.raises(InputError, match="method"):
        network_meta(_star_frame(), measure="HR", method="XYZ")
    with pytest.raises(InputError, match="level"):
        network_meta(_star_frame(), measure="HR", level=0.05)
    arms = pd.DataFrame({"study": [1, 1], "treatment": ["placebo", "placebo"],
                         "events": [1, 2], "n": [10, 10]})
    with pytest.raises(InputError, match="more than one arm"):
        network_meta(arms)
    dup = pd.concat([_star_frame(), _star_frame().iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="twice"):
        network_meta(dup, measure="HR")


# ---------------------------------------------------------------------------------------------
# result object and plot-ready frames


def test_result_object():
    res = fitted("hasselblad1998", "REML")
    with pytest.raises(Exception):
        res.tau2 = 1.0
    with pytest.raises(ValueError):
        res.d[1] = 0.0
    d = res.to_dict()
    json.dumps(d)
    assert d["tau2"] == pytest.approx(res.tau2) and d["method"] == "REML"
    assert {"q", "q_within", "q_between", "effects", "caveats", "i2"} <= set(d)
    text = str(res)
    assert "Random-effects (REML)" in text and "Between designs" in text and "grp_counseling" in text
    assert repr(res).startswith("<NetworkResult OR REML")
    assert list(res.effects.columns) == ["treatment", "reference", "estimate", "se", "ci_low",
                                         "ci_high", "zval", "pvalue", "ratio", "ratio_ci_low",
                                         "ratio_ci_high"]
    assert res.to_frame().equals(res.effects)


def test_league_tables():
    res = fitted("senn2013", "EE")
    T = res.n_treatments
    long = res.league()
    assert len(long) == T * (T - 1)
    eff = res.effects.set_index("treatment")
    sub = long[long.treat2 == "placebo"].set_index("treat1")
    np.testing.assert_allclose(sub.loc[eff.index, "estimate"], eff.estimate)
    # antisymmetry
    ab = long.set_index(["treat1", "treat2"])
    assert ab.loc[("metformin", "acarbose"), "estimate"] == pytest.approx(
        -ab.loc[("acarbose", "metformin"), "estimate"])
    wide = res.league(kind="wide")
    assert wide.shape == (T, T)
    assert all(wide.iloc[i, i] == res.treatments[i] for i in range(T))


def test_edges_and_nodes():
    res = fitted("hasselblad1998", "EE")
    edges = res.edges
    assert list(edges.columns) == ["treat1", "treat2", "n_studies", "n_patients"]
    e = edges.set_index(["treat1", "treat2"])
    assert e.loc[("no_contact", "ind_counseling"), "n_studies"] == 15
    assert e.loc[("self_help", "grp_counseling"), "n_studies"] == 2
    h = pd.DataFrame(REF["cases"]["hasselblad1998"]["input"])
    nodes = res.nodes.set_index("treatment")
    assert nodes.loc["no_contact", "n_patients"] == h.loc[h.treatment == "no_contact", "n"].sum()
    assert nodes["n_studies"].sum() == len(h)


# ---------------------------------------------------------------------------------------------
# RAIR-DTC recipe


def _study_table_frame():
    """A hand-built slice of the study table: PFS HRs against placebo and arm sizes."""
    hr = [  # study_id, therapy, value, ci_low, ci_high, ci_level, n1, n2, assessor, data_cut
        ("decision", "sorafenib", 0.59, 0.45, 0.76, 0.95, 207, 210, "central", "primary"),
        ("select", "lenvatinib", 0.21, 0.14, 0.31, 0.99, 261, 131, "central", "primary"),
        ("select", "lenvatinib", 0.24, 0.17, 0.35, 0.99, 261, 131, "investigator", "update"),
        ("cosmic311", "cabozantinib", 0.22, 0.15, 0.32, 0.96, 170, 88, "central", "update"),
        ("reality", "apatinib", 0.26, 0.14, 0.47, 0.95, 46, 46, "investigator", "primary"),
        ("direction", "donafenib", 0.39, 0.25, 0.61, 0.95, 128, 63, "central", "primary"),
        ("study308", "lenvatinib", 0.16, 0.10, 0.26, 0.95, 103, 48, "central", "primary"),
        ("alter01032", "anlotinib", 0.21, 0.12, 0.37, 0.95, 76, 37, "", "primary"),
        ("verify", "vandetanib", 0.75, 0.55, 1.03, 0.95, 117, 118, "", "primary"),
        ("leboulleux2012", "vandetanib", 0.63, 0.54, 0.74, 0.60, 72, 73, "investigator", "primary"),
    ]
    rows = []
    for sid, ther, v, lo, hi, lvl, n1, n2, assessor, cut in hr:
        base = dict(study_id=sid, trial=sid.upper(), design="rct", outcome="PFS", unit="",
                    population="itt", assessor=assessor, data_cut=cut)
        rows.append(dict(base, arm=f"{ther} vs placebo", therapy=ther, comparator="placebo",
                         measure="hr", value=v, ci_low=lo, ci_high=hi, ci_level=lvl, n=n1 + n2))
        rows.append(dict(base, outcome="N", arm=ther, therapy=ther, comparator="placebo",
                         measure="count", value=n1, n=n1))
        rows.append(dict(base, outcome="N", arm="placebo", therapy="placebo", comparator="",
                         measure="count", value=n2, n=n2))
    rows.append(dict(study_id="kloos2009", trial="Kloos", design="single-arm", outcome="PFS",
                     arm="sorafenib", therapy="sorafenib", comparator="", measure="median",
                     value=15.0, ci_low=10, ci_high=27.5, ci_level=0.95, n=41))
    frame = pd.DataFrame(rows).drop_duplicates(subset=["study_id", "outcome", "arm", "measure",
                                                       "value"])
    frame["line"] = np.arange(2, len(frame) + 2)
    return frame.reset_index(drop=True)


def test_rair_dtc_pfs_network():
    table = _study_table_frame()
    contrasts, notes = contrasts_from_studies(table, outcome="PFS", measure="hr",
                                              comparator="placebo")
    assert len(contrasts) == 9  # the SELECT update is not used beside its primary analysis
    sel = contrasts.set_index("study").loc["select"]
    assert (sel.value, sel.data_cut, sel.n1, sel.n2) == (0.21, "primary", 261, 131)
    res = network_from_studies(table, method="REML")
    assert res.treatments[0] == "placebo" and res.n_treatments == 8 and res.k == 9
    assert res.q_df == 2  # lenvatinib and vandetanib have two trials each
    eff = res.effects.set_index("treatment")
    # single-trial drugs keep their trial's HR (tau² does not touch a single contrast's
    # estimate); the SE grows by tau²
    assert eff.loc["sorafenib", "ratio"] == pytest.approx(0.59)
    assert eff.loc["sorafenib", "se"] ** 2 == pytest.approx(
        ((math.log(0.76) - math.log(0.45)) / (2 * 1.959963984540054)) ** 2 + res.tau2)
    caveats = " ".join(res.caveats)
    for word in ("transitivity", "Chinese", "Crossover", "investigator", "60% confidence interval",
                 "second line", "leboulleux2012: the PFS HR interval is a 60% interval",
                 "select: 2 PFS HR rows"):
        assert word in caveats, word
    assert res.caveats[: len(RAIR_DTC_CAVEATS)] == RAIR_DTC_CAVEATS
    assert "Caveats:" in res.summary()
    # plot-ready frames: 8 edges, all against placebo, patients from the N rows
    edges = res.edges.set_index("treat2")
    assert (res.edges.treat1 == "placebo").all() and len(res.edges) == 7
    lenv = res.edges.set_index("treat2").loc["lenvatinib"]
    assert (lenv.n_studies, lenv.n_patients) == (2, 261 + 131 + 103 + 48)
    assert edges.n_patients.notna().all()
    assert res.pscores().index[0] in {"lenvatinib", "cabozantinib", "anlotinib", "apatinib"}
    assert res.league(kind="wide").shape == (8, 8)


def test_shipped_study_table_if_present():
    path = pathlib.Path(__file__).parents[1] / "data" / "studies.csv"
    if not path.exists():
        pytest.skip("data/studies.csv is not shipped yet")
    # read with pandas, not ma.read_studies: the validator is tested elsewhere and is slow here
    table = pd.read_csv(path)
    res = network_from_studies(table, outcome="PFS", measure="hr", comparator="placebo")
    assert "placebo" == res.treatments[0] and res.n_treatments >= 3
    assert res.caveats and res.edges.n_patients.notna().all()
    assert res.k == len(set(res.network.studies[i].study for i in range(res.k)))
    orr = network_from_studies(table, outcome="ORR", measure="proportion", comparator="placebo")
    assert orr.measure == "OR" and orr.small_values == "bad" and orr.n_treatments >= 3


def test_orr_network_from_arm_counts():
    rows = [  # study_id, therapy, numerator, denominator, value, population
        ("decision", "sorafenib", 24, 196, 0.122, "evaluable"),
        ("decision", "placebo", 1, 201, 0.005, "evaluable"),
        ("select", "lenvatinib", 169, 261, 0.648, "itt"),
        ("select", "placebo", np.nan, 131, 0.015, "itt"),
        ("study308", "lenvatinib", np.nan, 103, 0.699, ""),
        ("study308", "placebo", 0, 48, 0.0, ""),
    ]
    table = pd.DataFrame([dict(study_id=sid, design="rct", outcome="ORR", measure="proportion",
                               therapy=t, arm=t, comparator="" if t == "placebo" else "placebo",
                               numerator=e, denominator=n, value=v, population=pop, n=n)
                          for sid, t, e, n, v, pop in rows])
    res = network_from_studies(table, outcome="ORR", measure="proportion")
    assert res.treatments == ("placebo", "lenvatinib", "sorafenib") and res.measure == "OR"
    caveats = " ".join(res.caveats)
    assert "derived as 0.015 x 131 = 2" in caveats and "evaluable patients (24/196)" in caveats
    assert "Crossover" not in caveats                     # PFS-only caveats stay out
    assert res.pscores().index[0] == "lenvatinib"         # large ORs are good here
    # study308's placebo arm has 0 responders: 1/2 added to every cell of that study only
    direct = math.log((72.5 / 31.5) / (0.5 / 48.5))
    sor = network_from_studies(table[table.study_id == "study308"], outcome="ORR",
                               measure="proportion", method="EE")
    assert sor.effects.estimate.iloc[0] == pytest.approx(direct)


# ---------------------------------------------------------------------------------------------
# the box's imports stay within its layer


def test_network_imports_no_plots_or_matplotlib():
    pkg = pathlib.Path(__file__).parents[1] / "metaanalysis" / "network"
    banned = {"matplotlib", "metaanalysis.plots", "metaanalysis.report", "metaanalysis.cli"}
    for path in pkg.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for n in names:
                resolved = n.replace("..", "metaanalysis.", 1) if n.startswith("..") else n
                assert not any(resolved == b or resolved.startswith(b + ".") for b in banned), (
                    path.name, n)
                assert not resolved.lstrip(".").startswith(("plots", "report", "cli")), (path.name, n)


def test_lazy_exports():
    assert ma.network_meta is network_meta
    assert ma.bucher is bucher


def test_arm_counts_that_are_missing_or_not_numbers_name_the_study():
    arms = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3],
                         "treatment": ["placebo", "a", "placebo", "b", "a", "b"],
                         "events": [np.nan, 20, 12, 18, 15, 14], "n": [100] * 6})
    with pytest.raises(InputError, match="study '1': events has a missing or infinite value"):
        network_meta(arms)
    with pytest.raises(InputError, match="study '1': events must be numeric"):
        network_meta(arms.assign(events=["x", 20, 12, 18, 15, 14]))
