"""Kaplan-Meier figures: curves, bands, censoring ticks, number-at-risk table under the axis,
digitised points and modelled curves."""

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

from metaanalysis import plots  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.survival import exponential_from_median, km_table, risk_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare, assert_no_overlap, gid_artists  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def arm(seed, scale, n=80):
    rng = np.random.default_rng(seed)
    t = rng.exponential(scale, n)
    c = rng.uniform(0, 30, n)
    return pd.DataFrame({"time": np.minimum(t, c).round(2), "event": (t <= c).astype(int)})


@pytest.fixture(scope="module")
def arms():
    return {"Lenvatinib": arm(1, 18.0), "Placebo": arm(2, 5.0)}


def test_curves_bands_censoring_and_risk_table(arms):
    times = [0, 6, 12, 18, 24]
    tabs = {k: km_table(v) for k, v in arms.items()}
    risk = risk_table(arms, times)
    ax = plots.km_plot(tabs, risk=risk, xlabel="Months")
    curves = gid_artists(ax, "km-curve")
    assert len(curves) == 2 and len(gid_artists(ax, "km-band")) == 2
    censors = gid_artists(ax, "km-censor")
    n_cens = sum(int((t["censored"] > 0).sum()) for t in tabs.values())
    assert sum(len(c.get_offsets()) for c in censors) == n_cens
    # every count of the risk table is printed, each centred under its time on the axis
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    numbers = [t for t in ax.texts if t.get_gid() == "km-risk" and t.get_text().isdigit()]
    assert sorted(int(t.get_text()) for t in numbers) == sorted(
        int(v) for c in arms for v in risk[c])
    ticks = {float(t.get_loc()): t.label1.get_window_extent(r) for t in ax.xaxis.get_major_ticks()}
    axis_y = ax.get_window_extent().y0
    for t in numbers:
        b = t.get_window_extent(r)
        x = t.get_position()[0]
        assert abs((b.x0 + b.x1) / 2 - (ticks[x].x0 + ticks[x].x1) / 2) < 1.0
        assert b.y1 < ticks[x].y0 < axis_y  # under the tick labels
    assert_no_overlap(fig)


def test_digitised_points_and_modelled_curves(arms):
    tab = km_table(arms["Lenvatinib"])
    clicks = tab.iloc[::5][["time", "survival"]]
    curve = exponential_from_median(18.3, 15.1, 22.1)
    grid = np.linspace(0, 30, 61)
    ax = plots.km_plot({"Lenvatinib": tab}, digitised={"Lenvatinib": clicks},
                       modelled={"Sorafenib": curve.survival_table(grid)})
    (dig,) = gid_artists(ax, "km-digitised")
    np.testing.assert_allclose(dig.get_offsets()[:, 0], clicks["time"])
    (mod,) = gid_artists(ax, "km-modelled")
    assert mod.get_linestyle() != "-"
    assert "(modelled)" in mod.get_label()
    np.testing.assert_allclose(mod.get_ydata(), curve.survival_table(grid)["survival"])


def test_modelled_curves_plot_long_table():
    grid = np.linspace(0, 24, 25)
    frames = []
    for label, therapy, med in (("A: drug", "drug", 12.0), ("A: placebo", "placebo", 4.0)):
        tab = exponential_from_median(med, med * 0.8, med * 1.25).survival_table(grid)
        frames.append(tab.assign(label=label, therapy=therapy))
    ax = plots.modelled_curves_plot(pd.concat(frames, ignore_index=True))
    assert len(gid_artists(ax, "km-modelled")) == 2


def test_km_plot_needs_a_curve():
    with pytest.raises(InputError):
        plots.km_plot({})


@needs_baseline_freetype
def test_baseline_km(tmp_path, arms):
    ax = plots.km_plot({k: km_table(v) for k, v in arms.items()},
                       risk=risk_table(arms, [0, 6, 12, 18, 24]), xlabel="Months")
    _compare(ax.figure, "km_two_arms.png", tmp_path)
