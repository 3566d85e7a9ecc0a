"""regression_line against metafor's regplot (tests/reference/regplot.R) and the bubble plot that
draws it."""

from __future__ import annotations

import json
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
from metaanalysis.pooling import meta_regression, regression_line  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare, gid_artists  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "regplot.json").read_text())
RTOL = 1e-6


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bcg():
    data = ma.load_bcg()
    es = ma.escalc("RR", ai=data.tpos, bi=data.tneg, ci=data.cpos, di=data.cneg)
    return data.assign(yi=es.yi, vi=es.vi)


def _fit(bcg, case):
    mods = case["mods"].replace("factor(alloc)", "C(alloc)")
    return meta_regression(bcg.yi, bcg.vi, mods=mods, data=bcg, method=case["method"],
                           test=case["test"], level=case["level"], measure="RR",
                           labels=bcg.author)


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_line_and_points_match_metafor(bcg, case_id):
    case = REF["cases"][case_id]
    reg = _fit(bcg, case)
    line = regression_line(reg, case["mod"], xvals=case["xvals"], plim=case["plim"])
    np.testing.assert_allclose(line.xi, case["xi"], rtol=1e-12)
    np.testing.assert_allclose(line.yi, case["yi"], rtol=1e-12)
    np.testing.assert_allclose(line.fitted, case["fitted"], rtol=RTOL)
    np.testing.assert_allclose(line.psize, case["psize"], rtol=RTOL)
    for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high"):
        want = np.array([np.nan if v is None else v for v in case[key]], float)
        np.testing.assert_allclose(getattr(line, key), want, rtol=RTOL, equal_nan=True,
                                   err_msg=key)


def test_other_moderators_are_held_at_their_means(bcg):
    reg = _fit(bcg, REF["cases"]["ablat_alloc"])
    line = regression_line(reg, "ablat")
    assert set(line.held) == {"allocrandom", "allocsystematic"}
    assert line.held["allocrandom"] == pytest.approx((bcg.alloc == "random").mean())
    # the default line: 1000 points from 4 % of the range below the smallest value to 4 % above
    span = bcg.ablat.max() - bcg.ablat.min()
    assert len(line.x) == 1000
    assert line.x[0] == pytest.approx(bcg.ablat.min() - 0.04 * span)
    assert line.x[-1] == pytest.approx(bcg.ablat.max() + 0.04 * span)
    # weights are the model's and sum to 1; the point sizes span plim and follow their roots
    w = 1 / (np.asarray(bcg.vi) + reg.tau2)
    np.testing.assert_allclose(line.weights, w / w.sum(), rtol=1e-12)
    assert line.psize.min() == pytest.approx(0.5) and line.psize.max() == pytest.approx(3.0)
    assert (np.diff(line.psize[np.argsort(line.weights)]) >= 0).all()
    frame = line.study_frame()
    assert list(frame.label) == list(bcg.author)
    assert "held at their means" in line.summary()
    d = line.to_dict()
    assert d["mod"] == "ablat" and len(d["line"]["x"]) == 1000 and len(d["studies"]["xi"]) == 13


def test_choosing_the_moderator(bcg):
    two = meta_regression(bcg.yi, bcg.vi, mods="~ ablat + year", data=bcg)
    with pytest.raises(InputError, match="several moderators.*'ablat' or 'year'"):
        regression_line(two)
    with pytest.raises(InputError, match="not a column"):
        regression_line(two, "latitude")
    with pytest.raises(InputError, match="intercept"):
        regression_line(two, "intrcpt")
    with pytest.raises(InputError, match="columns 0 to 2"):
        regression_line(two, 5)
    assert regression_line(two, 2).mod == "year"
    one = meta_regression(bcg.yi, bcg.vi, mods="~ ablat", data=bcg)
    assert regression_line(one).mod == "ablat"
    with pytest.raises(InputError, match="meta_regression"):
        regression_line(ma.pool(bcg.yi, bcg.vi))
    with pytest.raises(InputError, match="labels has 2 entries"):
        meta_regression(bcg.yi, bcg.vi, mods="~ ablat", data=bcg, labels=["a", "b"])


def test_plot_draws_the_line_it_is_given(bcg):
    reg = _fit(bcg, REF["cases"]["ablat_reml"])
    line = regression_line(reg)
    ax = plots.regplot(line, pi=True)
    assert ax.get_yscale() == "log"
    (sc,) = gid_artists(ax, "regplot-studies")
    off = sc.get_offsets()
    order = np.argsort(-line.psize, kind="stable")
    np.testing.assert_allclose(off[:, 0], line.xi[order])
    np.testing.assert_allclose(off[:, 1], np.exp(line.yi[order]))
    # circle areas grow with the weight (largest drawn first, under the others)
    sizes = sc.get_sizes()
    assert sizes[0] == sizes.max() and sizes[-1] == sizes.min()
    (ln,) = gid_artists(ax, "regplot-line")
    np.testing.assert_allclose(ln.get_ydata(), np.exp(line.pred))
    assert len(gid_artists(ax, "regplot-pi")) == 2 and len(gid_artists(ax, "regplot-ci")) == 1
    (null,) = gid_artists(ax, "regplot-null")
    assert null.get_ydata()[0] == 1.0
    assert ax.get_ylabel() == "Risk ratio (log scale)" and ax.get_xlabel() == "ablat"


def test_plot_on_a_difference_scale_and_refusals(bcg):
    reg = meta_regression(bcg.yi, bcg.vi, mods="~ ablat", data=bcg, method="EE", measure="MD")
    ax = plots.regplot(reg)
    assert ax.get_yscale() == "linear"
    (null,) = gid_artists(ax, "regplot-null")
    assert null.get_ydata()[0] == 0.0
    (sc,) = gid_artists(ax, "regplot-studies")
    np.testing.assert_allclose(np.sort(sc.get_offsets()[:, 1]), np.sort(bcg.yi))
    with pytest.raises(InputError, match="no prediction interval"):
        plots.regplot(reg, pi=True)
    with pytest.raises(InputError, match="RegressionLine"):
        plots.regplot(ma.pool(bcg.yi, bcg.vi))
    with pytest.raises(InputError, match="against 'ablat'"):
        plots.regplot(regression_line(reg), mod="year")
    with pytest.raises(InputError, match="labels has 1 entries"):
        plots.regplot(reg, labels=["x"])


@needs_baseline_freetype
def test_baseline_regplot(tmp_path, bcg):
    reg = _fit(bcg, REF["cases"]["ablat_year_dl_knha"])
    ax = plots.regplot(reg, mod="ablat", pi=True)
    _compare(ax.figure, "regplot_bcg.png", tmp_path)
