"""qq_residuals against metafor's qqnorm.rma.uni (tests/reference/qqnorm.R), its envelope by
simulation, and qq_plot."""

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

from metaanalysis import plots  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.pooling import meta_regression, pool  # noqa: E402
from metaanalysis.pooling.diagnostics import qq_residuals  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare, gid_artists  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "qqnorm.json").read_text())


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _fit(case):
    d = REF["datasets"][case["dataset"]]
    if case["mods"]:
        return meta_regression(d["yi"], d["vi"], mods=np.asarray(d["ablat"], float),
                               method=case["method"])
    return pool(d["yi"], d["vi"], method=case["method"])


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_points_match_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    qq = qq_residuals(_fit(case), type=case["type"], envelope=False)
    np.testing.assert_allclose(qq.theoretical, exp["x"], rtol=1e-12)
    np.testing.assert_allclose(qq.sample, exp["y"], rtol=1e-9)
    # the studies in the order of their residuals ("Study i" labels, 1-based)
    assert [int(lab.split()[-1]) - 1 for lab in qq.labels] == exp["order"]
    assert np.isnan(qq.lower).all() and qq.reps == 0


def test_envelope_is_repeatable_and_ordered():
    case = REF["cases"]["bcg_reml_rstandard"]
    a = qq_residuals(_fit(case), seed=7)
    b = qq_residuals(_fit(case), seed=7)
    np.testing.assert_array_equal(a.lower, b.lower)
    assert (a.lower < a.upper).all()
    assert (np.diff(a.lower) >= 0).all() and (np.diff(a.upper) >= 0).all()
    wide = qq_residuals(_fit(case), seed=7, bonferroni=True)
    assert (wide.lower <= a.lower).all() and (wide.upper >= a.upper).all()
    assert "envelope from 1000 simulations (seed 7)" in a.summary()


def test_envelope_covers_residuals_of_data_from_the_model():
    # known truth: data simulated from an equal-effects model with equal variances. The
    # envelope's order statistics are those of (I - H) z; the standardized residuals are wider
    # by 1 / sqrt(1 - 1/k), so a little more than 5 % of points fall outside a 95 % envelope
    k, v = 20, 0.04
    rng = np.random.default_rng(11)
    y0 = rng.normal(0.3, np.sqrt(v), k)
    env = qq_residuals(pool(y0, np.full(k, v), method="EE"), seed=1, reps=4000)
    outside = []
    for _ in range(400):
        y = rng.normal(0.3, np.sqrt(v), k)
        qq = qq_residuals(pool(y, np.full(k, v), method="EE"), envelope=False)
        outside.append(((qq.sample < env.lower) | (qq.sample > env.upper)).mean())
    assert 0.03 <= np.mean(outside) <= 0.09, np.mean(outside)


def test_refusals():
    case = REF["cases"]["bcg_reml_rstandard"]
    with pytest.raises(InputError, match="give seed="):
        qq_residuals(_fit(case))
    with pytest.raises(InputError, match="'rstandard' or 'rstudent'"):
        qq_residuals(_fit(case), type="raw", envelope=False)
    with pytest.raises(InputError, match="reps must be at least 10"):
        qq_residuals(_fit(case), seed=1, reps=5)


def test_plot_draws_the_points_and_names_those_outside():
    case = REF["cases"]["bcg_ee_rstandard"]
    qq = qq_residuals(_fit(case), seed=3)
    ax = plots.qq_plot(qq)
    (sc,) = gid_artists(ax, "qq-points")
    np.testing.assert_allclose(sc.get_offsets()[:, 0], qq.theoretical)
    np.testing.assert_allclose(sc.get_offsets()[:, 1], qq.sample)
    assert len(gid_artists(ax, "qq-envelope")) == 2
    assert sorted(t.get_text() for t in ax.texts) == sorted(qq.outside())
    assert len(qq.outside()) > 0
    ax = plots.qq_plot(qq, label="none")
    assert not ax.texts
    with pytest.raises(InputError, match="QQResult"):
        plots.qq_plot(_fit(case))


@needs_baseline_freetype
def test_baseline_qq_plot(tmp_path):
    qq = qq_residuals(_fit(REF["cases"]["bcg_reml_rstandard"]), seed=1)
    _compare(plots.qq_plot(qq).figure, "qq_bcg.png", tmp_path)
