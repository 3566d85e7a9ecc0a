"""metaanalysis.effects against metafor's escalc (tests/reference/effects.R) and by invariants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis.effects as eff
from metaanalysis.effects import (
    difference_from_ci,
    difference_from_pvalue,
    effects_from_table,
    escalc,
    median_from_ci,
    ratio_from_ci,
    to_months,
)
from metaanalysis.errors import InputError

REF = json.loads((Path(__file__).parent / "reference" / "effects.json").read_text())

# closed-form arithmetic on the same inputs: agreement to rounding, far tighter than needed
RTOL_ESCALC = 1e-10
# the grid the R script writes: every dataset x measure x option; a case must not silently drop out
TWO_ARM_OPTIONS = ("default", "all", "if0all", "none", "drop00", "add1")
ONE_ARM_OPTIONS = ("default", "all", "if0all", "none", "add_pft")
CONT_VTYPES = {"MD": ("LS", "UB", "HO"), "SMD": ("LS", "UB", "LS2", "AV"), "ROM": ("LS", "HO", "AV", "AVHO")}


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _options(opts):
    return {} if isinstance(opts, list) else dict(opts)


def test_reference_grid_is_complete():
    cases = REF["cases"]
    ds = REF["datasets"]
    assert REF["metafor_version"] == "3.8.1"
    assert len(ds["two_arm"]) >= 15 and len(ds["one_arm"]) >= 7 and len(ds["continuous"]) >= 3
    expected = set()
    for name in ds["two_arm"]:
        for m in ("OR", "RR", "RD", "PETO"):
            expected |= {f"escalc_{name}_{m}_{o}" for o in TWO_ARM_OPTIONS}
        expected |= {f"escalc_{name}_RD_vtype{v}" for v in ("UB", "AV")}
    for name in ds["one_arm"]:
        for m in ("PR", "PLN", "PLO", "PAS", "PFT"):
            expected |= {f"escalc_{name}_{m}_{o}" for o in ONE_ARM_OPTIONS}
        expected |= {f"escalc_{name}_PR_vtype{v}" for v in ("UB", "AV")}
        expected |= {f"escalc_{name}_{m}_vtypeAV" for m in ("PLO", "PLN")}
    for name in ds["continuous"]:
        for m, vts in CONT_VTYPES.items():
            expected |= {f"escalc_{name}_{m}_vtype{v}" for v in vts}
    assert expected == set(cases)
    ks = [len(d["ai"]) for d in ds["two_arm"].values()]
    assert min(ks) == 2 and max(ks) >= 50


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_escalc_matches_metafor(case_id):
    case = REF["cases"][case_id]
    data = REF["datasets"][case["family"]][case["dataset"]]
    args = {k: _arr(v) for k, v in data.items()}
    res = escalc(case["measure"], **args, **_options(case["options"]))
    yi_r, vi_r = _arr(case["yi"]), _arr(case["vi"])
    np.testing.assert_array_equal(np.isnan(res.yi), np.isnan(yi_r), err_msg="NA pattern of yi")
    np.testing.assert_allclose(res.yi, yi_r, rtol=RTOL_ESCALC, atol=1e-14, equal_nan=True)
    np.testing.assert_allclose(res.vi, vi_r, rtol=RTOL_ESCALC, atol=1e-14, equal_nan=True)


# ---------------------------------------------------------------- behaviour


def test_escalc_unpacks_and_reports_corrections():
    res = escalc("OR", ai=[0, 5], n1i=[10, 20], ci=[3, 6], n2i=[10, 20], labels=["a", "b"])
    yi, vi = res
    assert res.corrected.tolist() == [True, False]
    assert res.labels == ("a", "b")
    assert "continuity correction" in res.summary()
    frame = res.to_frame()
    assert list(frame.columns[:6]) == ["label", "yi", "vi", "sei", "ci_low", "ci_high"]
    json.dumps(res.to_dict())
    assert not yi.flags.writeable


def test_escalc_double_zero_is_nan_and_listed():
    res = escalc("OR", ai=[0, 5], n1i=[10, 20], ci=[0, 6], n2i=[10, 20], drop00=True)
    assert res.omitted == (0,)
    assert "index 0" in res.summary()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(ai=[1, -1], n1i=[10, 10], ci=[1, 1], n2i=[10, 10]), "ai has a negative count"),
        (dict(ai=[1, 11], n1i=[10, 10], ci=[1, 1], n2i=[10, 10]), "ai[1] = 11 exceeds n1i[1]"),
        (dict(ai=[1, np.nan], n1i=[10, 10], ci=[1, 1], n2i=[10, 10]), "index 1"),
        (dict(ai=[1], n1i=[10, 10], ci=[1, 1], n2i=[10, 10]), "lengths differ"),
        (dict(ai=[1], bi=[9], n1i=[12], ci=[1], n2i=[10]), "n1i[0] is not ai[0] + bi[0]"),
    ],
)
def test_escalc_input_errors_name_the_study(kwargs, fragment):
    with pytest.raises(InputError, match=None) as err:
        escalc("OR", **kwargs)
    assert fragment in str(err.value)


def test_escalc_unknown_options():
    with pytest.raises(InputError, match="not supported"):
        escalc("XYZ", ai=[1], n1i=[2], ci=[1], n2i=[2])
    with pytest.raises(InputError, match="to="):
        escalc("OR", ai=[1], n1i=[2], ci=[1], n2i=[2], to="some")
    with pytest.raises(InputError, match="vtype"):
        escalc("PLO", xi=[1], ni=[2], vtype="UB")


def test_smd_is_hedges_g_with_exact_correction():
    # Hedges' g with c(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2)), m = n1 + n2 - 2
    res = escalc("SMD", m1i=[10.0], sd1i=[2.0], n1i=[10], m2i=[9.0], sd2i=[2.0], n2i=[12])
    m = 20
    cm = math.exp(math.lgamma(m / 2) - math.log(math.sqrt(m / 2)) - math.lgamma((m - 1) / 2))
    assert res.yi[0] == pytest.approx(cm * 0.5, rel=1e-12)
    assert res.vi[0] == pytest.approx(1 / 10 + 1 / 12 + res.yi[0] ** 2 / (2 * 22), rel=1e-12)


# ---------------------------------------------------------------- reported summaries


@pytest.mark.parametrize("level", [95, 96, 99, 60, 0.9])
def test_ratio_from_ci_any_level(level):
    from scipy.stats import norm

    lev = level * 100 if level < 1 else level
    z = norm.ppf(1 - (1 - lev / 100) / 2)
    se = 0.2
    hr = 0.7
    lo, hi = hr * math.exp(-z * se), hr * math.exp(z * se)
    res = ratio_from_ci(hr, lo, hi, level=level)
    assert res.yi[0] == pytest.approx(math.log(hr), rel=1e-12)
    assert res.sei[0] == pytest.approx(se, rel=1e-12)
    assert res.measure == "HR"


def test_ratio_from_ci_vectorised_levels_and_errors():
    res = ratio_from_ci([0.5, 0.8], [0.3, 0.6], [0.8, 1.1], level=[95, 99])
    assert res.k == 2
    with pytest.raises(InputError, match="outside its interval"):
        ratio_from_ci(0.5, 0.6, 0.9)
    with pytest.raises(InputError, match="> 0"):
        ratio_from_ci(0.5, 0.0, 0.9)
    with pytest.raises(InputError, match="level"):
        ratio_from_ci(0.5, 0.3, 0.9, level=0.05)


def test_median_from_ci_two_and_one_sided():
    z = 1.959963984540054
    res = median_from_ci([10.0, 12.0], [8.0, 9.0], [12.5, np.nan])
    assert res.sei[0] == pytest.approx((math.log(12.5) - math.log(8.0)) / (2 * z), rel=1e-9)
    assert res.sei[1] == pytest.approx((math.log(12.0) - math.log(9.0)) / z, rel=1e-9)
    assert res.measure == "MEDLN"
    assert any("one-sided" in n for n in res.notes)
    with pytest.raises(InputError, match="index 0"):
        median_from_ci([10.0], [np.nan], [np.nan])


def test_difference_from_ci_and_pvalue():
    z = 1.959963984540054
    res = difference_from_ci([1.0, -2.0], [0.0, -2.0 - z], [2.0, -2.0 + z])
    assert res.sei == pytest.approx([1 / z, 1.0], rel=1e-9)
    res = difference_from_pvalue(1.959963984540054, 0.05)
    assert res.sei[0] == pytest.approx(1.0, rel=1e-9)
    from scipy.stats import t

    res = difference_from_pvalue(2.0, 0.05, test="t", df=10)
    assert res.sei[0] == pytest.approx(2.0 / t.ppf(0.975, 10), rel=1e-12)
    res = difference_from_pvalue(0.5, 0.01, log=True)
    assert res.yi[0] == pytest.approx(math.log(0.5))
    with pytest.raises(InputError, match="pvalue"):
        difference_from_pvalue(1.0, 0.0)
    with pytest.raises(InputError, match="df"):
        difference_from_pvalue(1.0, 0.2, test="t")


def test_to_months():
    assert to_months([1, 2], "years").tolist() == [12.0, 24.0]
    assert to_months(365.25, "days") == pytest.approx(12.0)
    assert to_months(52.178571428571, "weeks") == pytest.approx(12.0, rel=1e-9)
    with pytest.raises(InputError, match="time unit"):
        to_months([1], "fortnights")


# ---------------------------------------------------------------- properties


counts = st.integers(min_value=1, max_value=200)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(counts, counts, counts, counts), min_size=1, max_size=8))
def test_swapping_arms_flips_log_or_and_rd(tables):
    a, b, c, d = (np.array(x, dtype=float) for x in zip(*tables))
    for m in ("OR", "RR", "RD", "PETO"):
        fwd = escalc(m, ai=a, bi=b, ci=c, di=d)
        rev = escalc(m, ai=c, bi=d, ci=a, di=b)
        np.testing.assert_allclose(fwd.yi, -rev.yi, atol=1e-12)
        np.testing.assert_allclose(fwd.vi, rev.vi, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.tuples(counts, counts, counts, counts), st.integers(min_value=2, max_value=50))
def test_scaling_counts_keeps_or_and_shrinks_variance(table, factor):
    a, b, c, d = (np.array([x], dtype=float) for x in table)
    base = escalc("OR", ai=a, bi=b, ci=c, di=d)
    big = escalc("OR", ai=a * factor, bi=b * factor, ci=c * factor, di=d * factor)
    np.testing.assert_allclose(base.yi, big.yi, atol=1e-12)
    np.testing.assert_allclose(base.vi / factor, big.vi, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50)), min_size=1, max_size=10))
def test_one_arm_ci_contains_estimate(rows):
    x = np.array([min(r[0], r[1]) for r in rows], dtype=float)
    n = np.array([r[1] for r in rows], dtype=float)
    for m in ("PR", "PLO", "PAS", "PFT"):
        res = escalc(m, xi=x, ni=n)
        lo, hi = res.conf_int()
        ok = np.isfinite(res.yi)
        assert np.all(lo[ok] <= res.yi[ok]) and np.all(res.yi[ok] <= hi[ok])


# ---------------------------------------------------------------- the study table


def _table():
    cols = ["study_id", "trial", "year", "design", "arm", "therapy", "comparator", "outcome", "measure", "value",
            "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n", "unit", "source", "locator", "notes",
            "status", "data_cut", "population", "assessor"]
    nan = np.nan
    rows = [
        ["a", "ALPHA", 2014, "rct", "sora vs placebo", "sora", "placebo", "PFS", "hr", 0.59, 0.45, 0.76, 0.95,
         nan, nan, 417, "", "doi:1", "abstract", "", "", "primary", "", "central"],
        ["a", "ALPHA", 2014, "rct", "sora vs placebo", "sora", "placebo", "PFS", "hr", 0.62, 0.49, 0.79, 0.95,
         nan, nan, 417, "", "doi:1", "table 2", "investigator", "", "primary", "", "investigator"],
        ["b", "BETA", 2015, "rct", "lenva vs placebo", "lenva", "placebo", "PFS", "hr", 0.21, 0.14, 0.31, 0.99,
         nan, nan, 392, "", "doi:2", "abstract", "", "", "primary", "", "central"],
        ["a", "ALPHA", 2014, "rct", "sora", "sora", "placebo", "PFS", "median", 10.8, 9.1, 12.9, 0.95,
         nan, nan, 207, "months", "doi:1", "abstract", "", "", "primary", "", "central"],
        ["b", "BETA", 2015, "rct", "lenva", "lenva", "placebo", "PFS", "median", 78.0, 60.0, nan, 0.95,
         nan, nan, 261, "weeks", "doi:2", "fig 2", "upper bound not reached", "", "primary", "", "central"],
        ["c", "GAMMA", 2016, "single-arm", "cabo", "cabo", "", "PFS", "median", nan, 5.0, nan, 0.95,
         nan, nan, 30, "months", "doi:3", "text", "", "not_reached", "final", "", ""],
        ["a", "ALPHA", 2014, "rct", "sora", "sora", "placebo", "ORR", "proportion", 0.12, nan, nan, nan,
         24, 196, 207, "", "doi:1", "table 3", "evaluable", "", "primary", "", "central"],
        ["b", "BETA", 2015, "rct", "lenva", "lenva", "placebo", "ORR", "proportion", 0.648, nan, nan, nan,
         169, 261, 261, "", "doi:2", "abstract", "", "", "primary", "", "central"],
        ["c", "GAMMA", 2016, "single-arm", "cabo", "cabo", "", "ORR", "proportion", 0.10, nan, nan, nan,
         nan, nan, 30, "", "doi:3", "abstract", "percentage only", "", "final", "", ""],
    ]
    return pd.DataFrame(rows, columns=cols)


def test_effects_from_table_hr_refuses_ambiguity_then_selects():
    table = _table()
    with pytest.raises(InputError) as err:
        effects_from_table(table, "PFS", "hr")
    msg = str(err.value)
    assert "lines 2, 3" in msg and "assessor" in msg
    out = effects_from_table(table, "PFS", "hr", assessor="central")
    assert out["study_id"].tolist() == ["a", "b"]
    assert out.loc[0, "label"] == "ALPHA (sora vs placebo)"
    ref = ratio_from_ci([0.59, 0.21], [0.45, 0.14], [0.76, 0.31], level=[95, 99])
    np.testing.assert_allclose(out["yi"], ref.yi)
    np.testing.assert_allclose(out["vi"], ref.vi)
    assert {"source", "locator", "notes", "line", "derived"} <= set(out.columns)
    assert out["line"].tolist() == [2, 4]
    first = effects_from_table(table, "PFS", "hr", select="first")
    assert first.loc[0, "locator"] == "abstract"
    picked = effects_from_table(table, "PFS", "hr", select=lambda g: g[g["assessor"] == "investigator"])
    assert picked.loc[0, "value"] == 0.62


def test_effects_from_table_median_units_and_not_reached():
    table = _table()
    with pytest.warns(UserWarning, match="line 7 \\(c\\): median not reached"):
        out = effects_from_table(table, "PFS", "median")
    assert out["study_id"].tolist() == ["a", "b"]
    weeks = to_months(78.0, "weeks")
    assert out.loc[1, "yi"] == pytest.approx(math.log(weeks))
    lower = to_months(60.0, "weeks")
    assert out.loc[1, "sei"] == pytest.approx((math.log(weeks) - math.log(lower)) / 1.959963984540054)
    assert "one side only" in out.loc[1, "derived"] and "weeks" in out.loc[1, "derived"]
    assert out.attrs["dropped"][0]["line"] == 7
    with pytest.raises(InputError, match="median not reached"):
        effects_from_table(table, "PFS", "median", missing="raise")


def test_effects_from_table_proportions_counts_and_from_value():
    table = _table()
    with pytest.warns(UserWarning, match="from_value=True"):
        out = effects_from_table(table, "ORR", "proportion", scale="PFT")
    assert out["study_id"].tolist() == ["a", "b"]
    ref = escalc("PFT", xi=[24, 169], ni=[196, 261])
    np.testing.assert_allclose(out["yi"], ref.yi)
    out2 = effects_from_table(table, "ORR", "proportion", from_value=True)
    assert out2["xi"].tolist() == [24, 169, 3]
    assert "from_value=True" in out2.loc[2, "derived"]
    assert (out2["measure"] == "PLO").all()
    assert out2.loc[2, "label"] == "GAMMA (cabo)"


def test_a_proportion_of_an_unstated_denominator_is_weighted_by_its_interval():
    # COSMIC-311's ORR: 11.0% (95% CI 6.9-16.9) of patients the source does not name, so no count
    # can be taken from the arm's 170; on the logit scale the interval still gives its weight
    table = _table()
    gamma = table.index[(table.outcome == "ORR") & (table.study_id == "c")][0]
    table.loc[gamma, ["value", "ci_low", "ci_high", "ci_level", "n", "population"]] = \
        [0.11, 0.069, 0.169, 0.95, 170, "unstated"]
    out = effects_from_table(table, "ORR", "proportion", from_value=True)
    row = out.set_index("study_id").loc["c"]
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert row.yi == pytest.approx(logit(0.11), rel=1e-12)
    assert row.sei == pytest.approx((logit(0.169) - logit(0.069)) / (2 * 1.959963984540054), rel=1e-12)
    assert math.isnan(row.xi) and "from its 95% interval" in row.derived
    # the counted rows keep escalc's values
    np.testing.assert_allclose(out["yi"][:2], escalc("PLO", xi=[24, 169], ni=[196, 261]).yi)
    # another scale has no such interval: the row is left out, with the reason
    with pytest.warns(UserWarning, match="line 10 \\(c\\): a percentage of an unstated denominator"):
        pft = effects_from_table(table, "ORR", "proportion", scale="PFT", from_value=True)
    assert "c" not in set(pft.study_id)
    # a whole arm's percentage still gives its count (3 of 30), interval or not
    table.loc[gamma, ["value", "n", "population"]] = [0.10, 30, ""]
    assert effects_from_table(table, "ORR", "proportion", from_value=True).xi.tolist() == [24, 169, 3]


def test_effects_from_table_bad_arguments():
    table = _table()
    with pytest.raises(InputError, match="no rows"):
        effects_from_table(table, "OS", "hr")
    with pytest.raises(InputError, match="measure"):
        effects_from_table(table, "PFS", "mean")
    with pytest.raises(InputError, match="lacks"):
        effects_from_table(table.drop(columns=["value"]), "PFS", "hr")


def test_rom_averaged_variance_leaves_out_a_study_without_a_cv():
    # a mean of 0 has no coefficient of variation: the AV average is over the other studies
    # (metafor's becomes infinite and every study's variance NA; documented under vtype)
    import metaanalysis as ma

    sd1, n1, m1 = np.array([1.0, 1, 1]), np.array([10.0, 12, 14]), np.array([0.0, 2, 3])
    sd2, n2, m2 = np.array([1.0, 1.5, 1]), np.array([10.0, 11, 9]), np.array([1.0, 2, 2])
    e = ma.escalc("ROM", m1i=m1, sd1i=sd1, n1i=n1, m2i=m2, sd2i=sd2, n2i=n2, vtype="AV")
    assert not np.isfinite(e.yi[0])
    # metafor's AV: per arm, the n-weighted mean CV; arm 1's leaves out the group with mean 0
    c1 = np.sum(n1[1:] * sd1[1:] / m1[1:]) / np.sum(n1[1:])
    c2 = np.sum(n2 * sd2 / m2) / np.sum(n2)
    np.testing.assert_allclose(e.vi[1:], (c1**2 / n1 + c2**2 / n2)[1:], rtol=1e-12)
