"""The figures of issue 15's report additions: hazard ratio over time, RMST over tau, models past
the end of follow-up, a survival network's curves. Each draws what its input holds (checked on the
artists) and is compared with a committed image."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from conftest import needs_baseline_freetype  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis import plots  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def veteran():
    test = ma.read_curve(ROOT / "data" / "curves" / "veteran_os_test").reconstruct().ipd
    standard = ma.read_curve(ROOT / "data" / "curves" / "veteran_os_standard").reconstruct().ipd
    return test, standard


@pytest.fixture(scope="module")
def network():
    exp = ma.exponential_from_median
    rows = []
    for trial, arms in {"T1": {"C": 8, "A": 12}, "T2": {"C": 9, "B": 11}, "T3": {"A": 12, "B": 10}}.items():
        for i, (arm, median) in enumerate(arms.items()):
            ipd = ma.simulate_ipd(exp(median), 150, accrual=6, follow_up=24, seed=len(rows) + i)
            rows.append(ipd.assign(trial=trial, therapy=arm))
    data = pd.concat(rows, ignore_index=True)
    return ma.survival_nma(data, breaks=[6.0, 12.0], reference="C")


def test_hr_over_time_draws_the_fitted_ratio_and_marks_extrapolation(veteran):
    test, standard = veteran
    tv = ma.hr_over_time(test, standard)
    ax = plots.plot_hr_over_time(tv, xlabel="Time (days)")
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "hrt")
    np.testing.assert_allclose(line.get_ydata(), tv.curve.hr, rtol=1e-12)
    assert ax.get_yscale() == "log"
    assert [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_gid() == "hrt-null"] == [1.0]
    # past a follow-up the line turns dashed and the span is shaded
    end = float(tv.curve.time.iloc[30])
    ax2 = plots.plot_hr_over_time(tv, follow_up=end)
    gids = {ln.get_gid() for ln in ax2.get_lines()}
    assert {"hrt", "hrt-extrapolated"} <= gids
    assert any(p.get_gid() == "hrt-beyond" for p in ax2.patches)
    with pytest.raises(InputError, match="time, hr, ci_low, ci_high"):
        plots.plot_hr_over_time(pd.DataFrame({"time": [1.0]}))


def test_rmst_over_tau_draws_the_table_and_the_chosen_horizon():
    exp = ma.exponential_from_median
    arms = {f"T{i}": (ma.simulate_ipd(exp(14), 200, accrual=12, follow_up=24, seed=2 * i),
                      ma.simulate_ipd(exp(10), 200, accrual=12, follow_up=24, seed=2 * i + 1))
            for i in (1, 2, 3)}
    tab = ma.rmst_over_tau(arms, np.linspace(2, 20, 10))
    ax = plots.plot_rmst_over_tau(tab, tau=20)
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "rmst-tau")
    np.testing.assert_allclose(line.get_ydata(), tab.estimate, rtol=1e-12)
    chosen = next(ln for ln in ax.get_lines() if ln.get_gid() == "rmst-tau-chosen")
    assert chosen.get_xdata()[0] == 20
    assert ax.get_ylabel() == "RMST difference"
    ratio = ma.rmst_over_tau(arms, [10, 20], measure="RMSTR")
    assert plots.plot_rmst_over_tau(ratio).get_ylabel() == "RMST ratio"
    with pytest.raises(InputError, match="rmst_over_tau"):
        plots.plot_rmst_over_tau(pd.DataFrame({"tau": [1.0]}))


def test_extrapolation_draws_each_model_to_the_horizon(veteran):
    test, _ = veteran
    fits = ma.fit_survival_models(test, models=("exponential", "weibull", "lognormal"))
    end = float(test.time.max())
    top, bottom = plots.plot_extrapolation(fits, horizon=2 * end, empirical=fits.empirical_hazard())
    w = next(ln for ln in top.get_lines() if ln.get_gid() == "sm-model-weibull")
    assert w.get_xdata()[-1] == pytest.approx(2 * end)
    np.testing.assert_allclose(w.get_ydata(), fits.survival(w.get_xdata(), models="weibull").survival,
                               rtol=1e-12)
    for ax in (top, bottom):
        (span,) = [p for p in ax.patches if p.get_gid() == "beyond-follow-up"]
        # a Rectangle (newer matplotlib) or a Polygon (older): the first x is the span's start
        assert float(np.ravel(span.get_xy())[0]) == pytest.approx(end)
    assert "sm-empirical" in {ln.get_gid() for ln in bottom.get_lines()}
    with pytest.raises(InputError, match="pair of Axes"):
        plots.plot_extrapolation(fits, ax=top, horizon=end)


def test_survival_network_draws_curves_and_ratios(network):
    curves, hr = network.survival(), network.hr_over_time()
    top, bottom = plots.plot_survival_network(curves, hr, reference="C")
    assert len([ln for ln in top.get_lines() if len(ln.get_xdata()) > 2]) >= 3
    assert {ln.get_gid() for ln in bottom.get_lines()} >= {"hrt-A", "hrt-B", "hrt-null"}
    a = next(ln for ln in bottom.get_lines() if ln.get_gid() == "hrt-A")
    np.testing.assert_allclose(a.get_ydata(), hr[hr.therapy == "A"].sort_values("time").hr,
                               rtol=1e-12)
    assert bottom.get_ylabel() == "Hazard ratio against C"


@needs_baseline_freetype
def test_baseline_extrapolation(tmp_path, veteran):
    test, _ = veteran
    fits = ma.fit_survival_models(test, models=("exponential", "weibull", "gompertz", "loglogistic"))
    top, _ = plots.plot_extrapolation(fits, horizon=2000, empirical=fits.empirical_hazard(),
                                      xlabel="Time (days)")
    _compare(top.figure, "extrapolation_veteran.png", tmp_path)


@needs_baseline_freetype
def test_baseline_hr_over_time_and_rmst_over_tau(tmp_path, veteran):
    test, standard = veteran
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 2.6), layout="constrained")
    plots.plot_hr_over_time(ma.hr_over_time(test, standard), ax=left, follow_up=400)
    exp = ma.exponential_from_median
    arms = {f"T{i}": (ma.simulate_ipd(exp(14), 200, accrual=12, follow_up=24, seed=2 * i),
                      ma.simulate_ipd(exp(10), 200, accrual=12, follow_up=24, seed=2 * i + 1))
            for i in (1, 2, 3)}
    plots.plot_rmst_over_tau(ma.rmst_over_tau(arms, np.linspace(2, 20, 10)), ax=right, tau=20)
    _compare(fig, "hr_time_rmst_tau.png", tmp_path)


@needs_baseline_freetype
def test_baseline_survival_network(tmp_path, network):
    top, _ = plots.plot_survival_network(network.survival(), network.hr_over_time(),
                                         reference="C", xlabel="Time (months)")
    _compare(top.figure, "survival_network.png", tmp_path)
