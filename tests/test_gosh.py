"""gosh against metafor's gosh.rma (tests/reference/gosh.R), its random sample, and its plot."""

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
from metaanalysis.pooling import gosh, meta_regression, pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare, gid_artists  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "gosh.json").read_text())
RTOL = 1e-6


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def bcg_fit():
    bcg = ma.load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    return pool(es.yi, es.vi, measure="RR", labels=bcg.author)


def test_reference_grid():
    assert REF["metafor_version"] == "3.8.1"
    assert {c["method"] for c in REF["cases"].values()} == {"EE", "DL", "REML"}
    assert sum(len(c["expected"]["k"]) for c in REF["cases"].values()) == 3 * (127 + 255 + 31)


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_every_subset_matches_metafor(case_id):
    case = REF["cases"][case_id]
    d = REF["datasets"][case["dataset"]]
    exp = case["expected"]
    g = gosh(pool(d["yi"], d["vi"], method=case["method"]))
    # the same subsets in the same order
    assert [[int(j) for j in np.flatnonzero(r)] for r in g.incl] == exp["incl"]
    assert g.exact and g.frame["fitted"].all() and all(exp["fit"])
    for col in ("k", "q", "i2", "h2", "tau2", "estimate"):
        np.testing.assert_allclose(g.frame[col].to_numpy(float), exp[col], rtol=RTOL,
                                   atol=1e-12, err_msg=col)


def test_the_whole_set_is_the_fit_and_views(bcg_fit):
    g = gosh(bcg_fit)
    assert len(g.frame) == 2**13 - 1
    last = g.frame.iloc[-1]
    assert last["k"] == 13 and last["estimate"] == pytest.approx(bcg_fit.estimate, rel=1e-10)
    assert last["tau2"] == pytest.approx(bcg_fit.tau2, rel=1e-8)
    frame = g.to_frame()
    assert frame[bcg_fit.labels[0]].sum() == 2**12  # each study is in half the subsets
    by = g.by_study()
    j = 3
    with_it = g.incl[:, j]
    assert by.iloc[j]["estimate_with"] == pytest.approx(g.frame.estimate[with_it].mean())
    assert by.iloc[j]["i2_without"] == pytest.approx(g.frame.i2[~with_it].mean())
    assert "8191 fits (all subsets)" in g.summary()
    assert len(g.to_dict()["incl"]) == 8191


def test_a_random_sample_when_subsets_are_too_many(bcg_fit):
    with pytest.raises(InputError, match="give seed="):
        gosh(bcg_fit, subsets=500)
    a = gosh(bcg_fit, subsets=500, seed=3)
    b = gosh(bcg_fit, subsets=500, seed=3)
    assert not a.exact and a.seed == 3 and len(a.frame) == 500
    assert a.incl.any(axis=1).all()  # no empty subset
    np.testing.assert_array_equal(a.incl, b.incl)
    np.testing.assert_array_equal(a.frame.estimate, b.frame.estimate)
    # each sampled subset is fitted as the exact enumeration fits it
    full = gosh(bcg_fit)
    index = {tuple(np.flatnonzero(r)): i for i, r in enumerate(full.incl)}
    rows = [index[tuple(np.flatnonzero(r))] for r in a.incl]
    np.testing.assert_allclose(a.frame.estimate, full.frame.estimate.to_numpy()[rows], rtol=1e-12)
    assert "random sample of subsets (seed 3)" in a.summary()


def test_refusals(bcg_fit):
    with pytest.raises(InputError, match="intercept-only"):
        gosh(meta_regression(bcg_fit.yi, bcg_fit.vi, mods=np.arange(13.0)))
    with pytest.raises(InputError, match="fixed tau"):
        gosh(pool(bcg_fit.yi, bcg_fit.vi, tau2=0.1))
    with pytest.raises(InputError, match="subsets must be at least 1"):
        gosh(bcg_fit, subsets=0)


def test_plot_draws_every_subset(bcg_fit):
    g = gosh(bcg_fit)
    ax = plots.gosh_plot(g, highlight="TPT Madras")
    assert ax.get_yscale() == "log"
    (rest,) = gid_artists(ax, "gosh-subsets")
    (hit,) = gid_artists(ax, "gosh-with")
    j = bcg_fit.labels.index("TPT Madras")
    assert len(hit.get_offsets()) == g.incl[:, j].sum() == 4096
    assert len(rest.get_offsets()) == 8191 - 4096
    np.testing.assert_allclose(np.sort(hit.get_offsets()[:, 1]),
                               np.sort(np.exp(g.frame.estimate[g.incl[:, j]])))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["without TPT Madras",
                                                                   "with TPT Madras"]
    with pytest.raises(InputError, match="not a study"):
        plots.gosh_plot(g, highlight="Nobody")
    with pytest.raises(InputError, match="GoshResult"):
        plots.gosh_plot(bcg_fit)


@needs_baseline_freetype
def test_baseline_gosh_plot(tmp_path, bcg_fit):
    ax = plots.gosh_plot(gosh(bcg_fit), highlight="TPT Madras")
    _compare(ax.figure, "gosh_bcg.png", tmp_path)
