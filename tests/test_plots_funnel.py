"""Funnel (contour-enhanced, trim-and-fill), Galbraith, Baujat, L'Abbé, cumulative and
leave-one-out forest plots: each draws the numbers of the real result objects where they belong."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import needs_baseline_freetype  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis import plots  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import BCG, _compare, assert_no_overlap, bcg_rr, gid_artists  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def res():
    return bcg_rr()


def test_funnel_points_and_lines(res):
    ax = plots.funnel(res)
    assert ax.get_xscale() == "log"
    (sc,) = gid_artists(ax, "funnel-studies")
    off = sc.get_offsets()
    np.testing.assert_allclose(off[:, 0], np.exp(res.yi))
    np.testing.assert_allclose(off[:, 1], np.sqrt(res.vi))
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # standard error 0 at the top
    (est,) = gid_artists(ax, "funnel-estimate")
    assert est.get_xdata()[0] == pytest.approx(math.exp(res.estimate))
    assert len(gid_artists(ax, "funnel-pseudo-ci")) == 2


def test_contour_enhanced_funnel_has_three_bands(res):
    ax = plots.funnel(res, contours=True)
    assert len(gid_artists(ax, "funnel-contours")) == 6  # 3 levels x 2 sides
    assert ax.get_legend() is not None


def test_trim_and_fill_points_shown_open(res):
    tf = ma.trim_and_fill(res)
    assert tf.k0 >= 1
    ax = plots.funnel(res, trimfill=tf)
    (filled,) = gid_artists(ax, "funnel-filled")
    np.testing.assert_allclose(filled.get_offsets()[:, 0], np.exp(tf.yi_filled))
    assert tuple(filled.get_facecolors()[0][:3]) == (1.0, 1.0, 1.0)  # open circles
    (dashed,) = gid_artists(ax, "funnel-estimate-filled")
    assert dashed.get_xdata()[0] == pytest.approx(math.exp(tf.result.estimate))
    # a trim-and-fill result on its own: observed points plus filled, centred on the filled fit
    ax2 = plots.funnel(tf)
    (obs,) = gid_artists(ax2, "funnel-studies")
    assert len(obs.get_offsets()) == res.k


def test_galbraith_positions(res):
    ax = plots.galbraith(res)
    (sc,) = gid_artists(ax, "galbraith-studies")
    w = 1 / np.sqrt(res.vi + res.tau2)
    np.testing.assert_allclose(sc.get_offsets()[:, 0], w)
    np.testing.assert_allclose(sc.get_offsets()[:, 1], res.yi * w)
    (line,) = gid_artists(ax, "galbraith-line")
    x, y = line.get_data()
    assert y[1] / x[1] == pytest.approx(res.estimate)


def test_baujat_uses_the_leave_one_out_refits(res):
    from metaanalysis.pooling.sensitivity import baujat_coordinates

    loo = ma.leave_one_out(res)
    coords = baujat_coordinates(res, loo)
    x = (res.yi - res.estimate) ** 2 / (res.vi + res.tau2)
    y = (loo["estimate"].to_numpy() - res.estimate) ** 2 / loo["se"].to_numpy() ** 2
    np.testing.assert_allclose(coords[["x", "y"]].to_numpy(), np.c_[x, y])
    np.testing.assert_allclose(baujat_coordinates(res).to_numpy(), coords.to_numpy())
    ax = plots.baujat(coords)
    (sc,) = gid_artists(ax, "baujat-studies")
    np.testing.assert_allclose(sc.get_offsets(), np.c_[x, y])
    with pytest.raises(InputError, match="rows"):
        baujat_coordinates(res, loo.iloc[:3])
    with pytest.raises(InputError, match="baujat_coordinates"):
        plots.baujat(res)


def test_labbe_risks_and_effect_curve():
    a, b, c, d = (np.array(BCG[k]) for k in ("tpos", "tneg", "cpos", "cneg"))
    rb = ma.pool_binary(a, a + b, c, c + d, measure="RR", method="MH", labels=BCG["author"])
    ax = plots.labbe(rb)
    (sc,) = gid_artists(ax, "labbe-studies")
    np.testing.assert_allclose(sc.get_offsets()[:, 0], 100 * c / (c + d))
    np.testing.assert_allclose(sc.get_offsets()[:, 1], 100 * a / (a + b))
    (eff,) = gid_artists(ax, "labbe-effect")
    x, y = eff.get_data()
    np.testing.assert_allclose(y / x, math.exp(rb.estimate))
    with pytest.raises(InputError, match="two-arm"):
        plots.labbe(bcg_rr())


def test_leave_one_out_and_cumulative_forests(res):
    loo = ma.leave_one_out(res)
    ax = plots.leave_one_out_forest(loo, res)
    (pts,) = gid_artists(ax, "forest-squares")
    np.testing.assert_allclose(np.sort(pts.get_offsets()[:, 0]), np.sort(np.exp(loo["estimate"])))
    assert len(gid_artists(ax, "forest-diamond")) == 1
    texts = [t.get_text() for t in ax.texts]
    assert "Omitting Aronson" in texts
    assert_no_overlap(ax.figure)
    cum = ma.cumulative(res, order=BCG["year"])
    ax = plots.cumulative_forest(cum, res)
    (pts,) = gid_artists(ax, "forest-squares")
    assert len(pts.get_offsets()) == res.k
    assert_no_overlap(ax.figure)


@needs_baseline_freetype
def test_baseline_contour_funnel(tmp_path, res):
    ax = plots.funnel(res, contours=True, trimfill=ma.trim_and_fill(res))
    _compare(ax.figure, "funnel_contour_trimfill.png", tmp_path)


def test_funnel_of_proportions_centres_on_the_pooled_estimate():
    """A proportion has no null: the contours and the pseudo-interval meet at the pooled
    estimate (not at logit 0 = 50%), and the axis is labelled in percent."""
    xi = [12, 30, 8, 45, 20, 9, 14, 33, 5, 40, 21]
    ni = [80, 150, 60, 200, 110, 70, 90, 160, 50, 190, 120]
    res = ma.pool_proportions(xi, ni, measure="PLO")
    ax = plots.funnel(res, contours=True)
    est = float(res.estimate)
    assert abs(est) > 1.0  # far from logit 0
    apex = []
    for poly in gid_artists(ax, "funnel-contours"):
        verts = poly.get_paths()[0].vertices
        at_top = verts[np.isclose(verts[:, 1], 0.0)]
        apex.append(np.min(np.abs(at_top[:, 0] - est)))
    assert max(apex) == pytest.approx(0.0, abs=1e-9)
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 3 and all(s.isdigit() for s in labels)
    assert ax.get_xlabel() == "Proportion, % (logit scale)"


def test_drawing_order_and_submodule_imports_leave_the_functions_callable():
    # galbraith lives in funnel.py: drawing it first bound the submodule on the package as
    # 'funnel', and plots.funnel(res) then failed ('module' object is not callable); importing
    # metaanalysis.plots.forest did the same to plots.forest. A fresh interpreter shows it
    import subprocess
    import sys

    code = (
        "import metaanalysis as ma\n"
        "from metaanalysis import plots\n"
        "res = ma.pool([0.1, 0.3, 0.2, 0.5], [0.02, 0.03, 0.01, 0.04])\n"
        "plots.galbraith(res)\n"
        "import metaanalysis.plots.forest\n"
        "from metaanalysis.plots import funnel\n"
        "assert callable(plots.funnel) and callable(plots.forest) and callable(funnel)\n"
        "plots.funnel(res); plots.forest(res)\n"
        "print('drawn')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "MPLBACKEND": "Agg"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "drawn"
