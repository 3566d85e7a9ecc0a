"""network_survival: a hazard-ratio network's therapies on one exponential baseline curve.

R has no function for this step (NICE DSU TSD 2/5 do it by hand from a baseline model and the
network's relative effects), so the tests check the closed forms, the band against a simulation
of the model it assumes (exact there: S_k(t) is monotone in log rate_0 + log HR_k, both normal),
and invariants.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.network import network_meta, network_survival
from metaanalysis.survival import exponential_from_median

LN2 = math.log(2)


def _fit(yi=(-0.5, -0.9, -0.2), sei=(0.15, 0.2, 0.1), studies=("s1", "s2", "s3"), level=95):
    data = pd.DataFrame({"study": list(studies), "treat1": ["A", "B", "A"][: len(yi)],
                         "treat2": ["placebo"] * len(yi), "yi": list(yi), "sei": list(sei)})
    return network_meta(data, measure="HR", reference="placebo", method="EE", level=level)


def test_curves_and_medians_are_the_baseline_to_the_power_of_each_hazard_ratio():
    fit = _fit()
    res = network_survival(fit, 6.0)
    d = dict(zip(fit.treatments, fit.d))
    t = np.array([0.0, 3.0, 12.0, 30.0])
    curves = res.survival(t)
    for th in fit.treatments:
        s = curves[curves.therapy == th]["survival"].to_numpy()
        np.testing.assert_allclose(s, np.exp(-LN2 / 6.0 * math.exp(d[th]) * t), rtol=1e-12)
    med = res.medians().set_index("therapy")
    for th in fit.treatments:
        assert med.loc[th, "median"] == pytest.approx(6.0 / math.exp(d[th]), rel=1e-12)
        # the modelled curve passes through one half at its median
        s_half = res.survival([med.loc[th, "median"]])
        assert s_half.set_index("therapy").loc[th, "survival"] == pytest.approx(0.5, rel=1e-12)
    # the reference is the baseline itself, hazard ratio 1 without an interval; a baseline
    # taken as known gives its median none either
    assert med.loc["placebo", "hr"] == 1.0 and math.isnan(med.loc["placebo", "hr_ci_low"])
    assert med.loc["placebo", "median"] == 6.0 and math.isnan(med.loc["placebo", "median_ci_low"])
    assert "(taken as known)" in res.summary()
    ref_rows = curves[curves.therapy == "placebo"]
    assert ref_rows.ci_low.isna().all() and ref_rows.ci_high.isna().all()
    # a known baseline: the intervals are the hazard ratios' (A pools s1 and s3, common effect)
    se_a = math.sqrt(fit.vcov[1, 1])
    assert se_a == pytest.approx((1 / 0.15**2 + 1 / 0.1**2) ** -0.5, rel=1e-10)
    z = 1.959963984540054
    assert med.loc["A", "median_ci_high"] == pytest.approx(6.0 / math.exp(d["A"] - z * se_a),
                                                           rel=1e-10)
    assert med.loc["A", "hr_ci_low"] == pytest.approx(math.exp(d["A"] - z * se_a), rel=1e-10)
    row = curves[(curves.therapy == "A") & (curves.time == 12.0)].iloc[0]
    h = LN2 / 6.0 * math.exp(d["A"]) * 12.0
    assert row.ci_low == pytest.approx(math.exp(-h * math.exp(z * se_a)), rel=1e-12)
    assert row.ci_high == pytest.approx(math.exp(-h * math.exp(-z * se_a)), rel=1e-12)


def test_the_band_is_the_model_s_own_spread_by_simulation():
    # the model the band assumes: log rate_0 and log HR independent normals. Simulated with a
    # seed, the 2.5 % and 97.5 % quantiles of S(t) are the band (Monte Carlo error about 0.002)
    fit = _fit()
    base = exponential_from_median(6.0, 4.5, 8.0)
    res = network_survival(fit, base)
    rng = np.random.default_rng(11)
    n = 200_000
    log_rate = math.log(base.rate) + base.se_log_median * rng.standard_normal(n)
    for k, th in enumerate(fit.treatments):
        se_hr = math.sqrt(fit.vcov[k, k])
        log_hr = fit.d[k] + se_hr * rng.standard_normal(n)
        for t in (4.0, 15.0):
            s = np.exp(-np.exp(log_rate + log_hr) * t)
            row = res.survival([t]).set_index("therapy").loc[th]
            assert row.ci_low == pytest.approx(np.quantile(s, 0.025), abs=3e-3)
            assert row.ci_high == pytest.approx(np.quantile(s, 0.975), abs=3e-3)
    # an uncertain baseline widens every band, and gives the reference's median one
    known = network_survival(fit, 6.0).medians().set_index("therapy")
    wide = res.medians().set_index("therapy")
    width = lambda m: m.median_ci_high - m.median_ci_low  # noqa: E731
    assert (width(wide).drop("placebo") > width(known).drop("placebo")).all()
    assert math.isnan(known.median_ci_low["placebo"]) and width(wide)["placebo"] > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2.0, 1.0), min_size=2, max_size=4),
       st.lists(st.floats(0.05, 0.6), min_size=4, max_size=4),
       st.floats(1.0, 40.0), st.one_of(st.just(0.0), st.floats(0.01, 0.5)), st.floats(0.5, 100.0))
def test_invariants(yi, sei, median, se0, unit):
    studies = [f"s{i}" for i in range(len(yi))]
    data = pd.DataFrame({"study": studies, "treat1": [f"T{i % 2}" for i in range(len(yi))],
                         "treat2": "P", "yi": yi, "sei": sei[: len(yi)]})
    fit = network_meta(data, measure="HR", reference="P", method="EE")
    z = 1.959963984540054
    base = (median if se0 == 0 else
            exponential_from_median(median, median * math.exp(-z * se0),
                                    median * math.exp(z * se0)))
    res = network_survival(fit, base)
    t = np.linspace(0.0, 3 * median, 7)
    c = res.survival(t)
    # each band contains its curve, every curve falls from 1, and its median is where it is 1/2
    band = c.ci_low.notna()
    assert ((c.ci_low <= c.survival + 1e-15) & (c.survival <= c.ci_high + 1e-15))[band].all()
    # only the reference on a known baseline has no band (not one of width 0)
    assert (~band).sum() == (len(t) if se0 == 0 else 0) and c.ci_high.notna().equals(band)
    assert (c[c.time == 0].survival == 1.0).all()
    for _, g in c.groupby("therapy"):
        assert (np.diff(g.survival.to_numpy()) <= 1e-15).all()
    m = res.medians()
    shown = m.median_ci_low.notna()
    assert shown.sum() == len(m) - (se0 == 0)   # only a known baseline's own median has none
    assert ((m["median_ci_low"] <= m["median"] * (1 + 1e-12))
            & (m["median"] <= m["median_ci_high"] * (1 + 1e-12)))[shown].all()
    # a change of time unit scales the medians and nothing else
    scaled = network_survival(fit, median * unit if se0 == 0 else
                              exponential_from_median(median * unit,
                                                      median * unit * math.exp(-z * se0),
                                                      median * unit * math.exp(z * se0)))
    np.testing.assert_allclose(scaled.medians()["median"], m["median"] * unit, rtol=1e-9)
    np.testing.assert_allclose(scaled.survival(t * unit).survival, c.survival, rtol=1e-9,
                               atol=1e-300)
    # the order of the studies does not matter
    back = network_meta(data.iloc[::-1].reset_index(drop=True), measure="HR", reference="P",
                        method="EE")
    np.testing.assert_allclose(network_survival(back, base).medians()["median"], m["median"],
                               rtol=1e-9)


def test_what_it_refuses():
    with pytest.raises(InputError, match="hazard ratios"):
        arms = pd.DataFrame({"study": ["s1", "s1"], "treatment": ["A", "placebo"],
                             "events": [5, 9], "n": [40, 41]})
        network_survival(network_meta(arms, measure="OR", reference="placebo"), 6.0)
    fit = _fit()
    with pytest.raises(InputError, match="no standard error"):
        network_survival(fit, exponential_from_median(6.0))
    with pytest.raises(InputError, match="positive median"):
        network_survival(fit, -1.0)
    with pytest.raises(InputError, match="positive median"):
        network_survival(fit, True)   # not a median of 1
    # numpy's scalars are medians like Python's numbers
    for m in (np.int64(6), np.float32(6.0), np.float64(6.0)):
        assert network_survival(fit, m).medians()["median"].iloc[0] == 6.0
    with pytest.raises(InputError, match="non-negative"):
        network_survival(fit, 6.0).survival([-1.0, 2.0])


def test_result_object_prints_and_serialises():
    res = ma.network_survival(_fit(level=90), 6.0, baseline_note="median of two placebo arms")
    assert res.level == 90
    d = res.to_dict()
    assert d["therapies"] == ["placebo", "A", "B"] and len(d["medians"]) == 3
    assert "median of two placebo arms" in res.summary()
    assert res.to_frame().equals(res.medians())
    assert "<pre" in res._repr_html_()
    with pytest.raises(Exception):
        res.baseline_median = 3.0
