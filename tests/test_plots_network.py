"""Network figures from a real network_meta fit: graph, forest against the reference, league heat
map, rankogram."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis import plots  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import assert_no_overlap, gid_artists  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fit():
    data = pd.DataFrame({
        "study": ["s1", "s2", "s3", "s4", "s5"],
        "treat1": ["A", "B", "C", "A", "B"],
        "treat2": ["placebo", "placebo", "placebo", "B", "C"],
        "yi": np.log([0.5, 0.7, 0.6, 0.8, 1.1]),
        "sei": [0.15, 0.2, 0.25, 0.2, 0.3],
    })
    return ma.network_meta(data, measure="HR", reference="placebo", method="EE")


def test_network_graph(fit):
    ax = plots.network_graph(fit)
    (edges,) = gid_artists(ax, "network-edges")
    assert len(edges.get_segments()) == len(fit.edges)
    (nodes,) = gid_artists(ax, "network-nodes")
    assert len(nodes.get_offsets()) == len(fit.treatments)


def test_network_forest(fit):
    ax = plots.network_forest(fit)
    (pts,) = gid_artists(ax, "forest-squares")
    np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 0]), np.sort(fit.effects["ratio"]))
    assert_no_overlap(ax.figure)


def test_league_heatmap(fit):
    ax = plots.league_heatmap(fit)
    (im,) = [a for a in ax.get_images() if a.get_gid() == "league-cells"]
    T = len(fit.treatments)
    assert im.get_array().shape == (T, T)
    assert len(ax.texts) == T * T


def test_rankogram(fit):
    ranking = fit.sucra(n_sim=2000, seed=1)
    ax = plots.rankogram(ranking)
    lines = gid_artists(ax, "rankogram-lines")
    assert len(lines) == len(fit.treatments)
    for ln, name in zip(lines, ranking.sucra.index):
        np.testing.assert_allclose(ln.get_ydata(), ranking.rank_probabilities().loc[name])


def test_rankogram_of_a_network_fit_is_the_same_figure_twice(fit):
    # given the fit, the plot runs the ranking simulation: with its default seed two calls draw
    # the same lines (a random seed drew different figures)
    a = [ln.get_ydata() for ln in gid_artists(plots.rankogram(fit, n_sim=500), "rankogram-lines")]
    b = [ln.get_ydata() for ln in gid_artists(plots.rankogram(fit, n_sim=500), "rankogram-lines")]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
