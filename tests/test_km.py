"""km.py: Kaplan-Meier table, number at risk, log-rank, Cox HR, RMST and landmark survival.

Reference values: R survival 3.5-3 on the lifelines copies of the data sets, as listed in
references/survival-methods.md section 9.2 (lung by sex, rossi by fin, gbsg2 by horTh).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metaanalysis.errors import InputError
from metaanalysis.survival import (
    CoxResult,
    cox_hr,
    km_table,
    landmark_survival,
    logrank,
    risk_table,
    rmst_difference,
)


@pytest.fixture(scope="module")
def lung():
    from lifelines.datasets import load_lung

    d = load_lung().dropna(subset=["time", "status"])
    ev = (d.status == 2) if d.status.max() == 2 else (d.status == 1)
    frame = pd.DataFrame({"time": d.time.astype(float), "event": ev.astype(int), "sex": d.sex})
    return {k: frame[frame.sex == k][["time", "event"]].reset_index(drop=True) for k in (1, 2)}


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi

    d = load_rossi().rename(columns={"week": "time", "arrest": "event"})
    return {k: d[d.fin == k][["time", "event"]].reset_index(drop=True) for k in (0, 1)}


def test_km_table_columns_and_values(lung):
    tab = km_table(lung[1])
    assert list(tab.columns) == ["time", "survival", "ci_low", "ci_high", "n_risk", "events", "censored"]
    assert tab.n_risk.iloc[0] == 138
    at = km_table(lung[1], times=[180, 365, 730])
    # R survfit on lung, sex 1 (survival-methods.md 9.2); tolerance: R prints 3 decimals
    np.testing.assert_allclose(at.survival, [0.645, 0.336, 0.078], atol=6e-4)
    assert (at.ci_low < at.survival).all() and (at.survival < at.ci_high).all()
    assert at.events.sum() + at.censored.sum() == ((lung[1].time <= 730)).sum()
    # names do not change with the level
    assert list(km_table(lung[1], [180], level=90).columns) == list(at.columns)
    wide = km_table(lung[1], [365], level=99).iloc[0]
    narrow = km_table(lung[1], [365], level=80).iloc[0]
    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high


def test_km_table_agrees_with_lifelines(lung):
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(lung[2].time, lung[2].event)
    tab = km_table(lung[2])
    np.testing.assert_allclose(tab.survival, kmf.survival_function_.iloc[:, 0].to_numpy())
    np.testing.assert_allclose(tab.ci_low, kmf.confidence_interval_.iloc[:, 0].to_numpy())


def test_risk_table(lung):
    tab = risk_table({"male": lung[1], "female": lung[2]}, [0, 180, 365])
    assert list(tab.columns) == ["time", "male", "female"]
    assert tab.male.iloc[0] == 138 and tab.female.iloc[0] == 90
    assert tab.male.iloc[1] == (lung[1].time >= 180).sum()
    one = risk_table(lung[1], [0, 365])
    assert list(one.columns) == ["time", "n_risk"]


def test_cox_hr_matches_r(rossi, lung):
    res = cox_hr(rossi[1], rossi[0])
    assert isinstance(res, CoxResult)
    # R coxph(Surv(week, arrest) ~ fin, rossi): HR 0.691 (0.477-1.003), se 0.190
    assert res.hr == pytest.approx(0.691, abs=5e-4)
    assert res.ci_low == pytest.approx(0.477, abs=5e-4) and res.ci_high == pytest.approx(1.003, abs=5e-4)
    assert res.se == pytest.approx(0.190, abs=5e-4)
    # lung, female vs male: 0.588 (0.424-0.816)
    assert cox_hr(lung[2], lung[1]).hr == pytest.approx(0.588, abs=5e-4)
    d = res.to_dict()
    assert set(d) >= {"hr", "ci_low", "ci_high", "log_hr", "se", "pvalue", "level"}
    assert "HR" in res.summary()


def test_logrank(rossi):
    from lifelines.statistics import logrank_test

    res = logrank(rossi[0], rossi[1])
    ref = logrank_test(rossi[0].time, rossi[1].time, rossi[0].event, rossi[1].event)
    assert res.statistic == pytest.approx(ref.test_statistic)
    assert res.observed_a == 66 and res.observed_b == 48
    assert res.expected_a + res.expected_b == pytest.approx(114)


def test_rmst_difference(lung):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    res = rmst_difference(lung[2], lung[1], horizon=365)
    ra = restricted_mean_survival_time(KaplanMeierFitter().fit(lung[2].time, lung[2].event), t=365)
    assert res.rmst_a == pytest.approx(ra)
    assert res.difference > 0 and res.ci_low < res.difference < res.ci_high
    # exact check of the variance on a tiny case: S = 1 to 1, 0.5 after; area 1 + 0.5 * 1
    tiny = pd.DataFrame({"time": [1.0, 3.0], "event": [1, 0]})
    r = rmst_difference(tiny, tiny, horizon=2)
    assert r.rmst_a == pytest.approx(1.5) and r.difference == 0
    with pytest.raises(InputError, match="beyond"):
        rmst_difference(lung[1], lung[2], horizon=5000)


def test_landmark_survival(lung):
    lm = landmark_survival(lung[2], 365)
    assert lm.survival == pytest.approx(0.527, abs=6e-4)  # R survfit, sex 2
    assert lm.ci_low < lm.survival < lm.ci_high and lm.se > 0
    assert lm.to_dict()["n_risk"] == (lung[2].time >= 365).sum()
    # past the last follow-up the estimate is not defined (it used to return the last value);
    # a curve that reached 0 stays at 0
    last = float(lung[2].time.max())
    assert landmark_survival(lung[2], last).n_risk >= 1
    with pytest.raises(InputError, match="past the last follow-up time"):
        landmark_survival(lung[2], last + 1)
    assert landmark_survival(([1.0, 2.0], [1, 1]), 10).survival == 0.0


def test_bad_input():
    with pytest.raises(InputError, match="columns"):
        km_table(pd.DataFrame({"t": [1], "e": [1]}))
    with pytest.raises(InputError, match="0 \\(censored\\) or 1"):
        km_table(pd.DataFrame({"time": [1, 2], "event": [1, 2]}))
    with pytest.raises(InputError, match="level"):
        km_table(pd.DataFrame({"time": [1, 2], "event": [1, 0]}), level=0.05)
    with pytest.raises(InputError, match="no events"):
        cox_hr(pd.DataFrame({"time": [1, 2], "event": [0, 0]}), pd.DataFrame({"time": [1], "event": [0]}))


def test_works_on_reconstructed_ipd():
    from metaanalysis.survival import simulate_digitisation

    rng = np.random.default_rng(0)
    arms = []
    for hr in (1.0, 0.6):
        t = rng.exponential(10 / hr, 150)
        c = rng.uniform(0, 30, 150)
        curve = simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=rng)
        arms.append(curve.reconstruct(warn=False).ipd)
    res = cox_hr(arms[1], arms[0])
    assert 0.3 < res.hr < 1.0
    assert len(km_table(arms[0], times=[0, 6, 12])) == 3
