"""profile_tau2 against metafor's profile.rma.uni (tests/reference/profile_tau2.R), and its plot."""

from __future__ import annotations

import json
import sys
import warnings
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
from metaanalysis.pooling.diagnostics import loglik, profile_tau2  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_plots_forest import _compare, gid_artists  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "profile_tau2.json").read_text())
RTOL = 1e-6


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


def test_reference_grid():
    assert REF["metafor_version"] == "3.8.1"
    assert len(REF["cases"]) == 7
    # the default range from the Q-profile interval, a given xlim, a tau² of 0, a regression
    assert any(c["xlim"] is not None for c in REF["cases"].values())
    assert any(c["expected"]["tau2_hat"] == 0 for c in REF["cases"].values())
    assert any(c["mods"] for c in REF["cases"].values())


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_profile_matches_metafor(case_id):
    case = REF["cases"][case_id]
    exp = case["expected"]
    prof = profile_tau2(_fit(case), steps=case["steps"], xlim=case["xlim"])
    np.testing.assert_allclose(prof.xlim, exp["xlim"], rtol=RTOL)
    np.testing.assert_allclose(prof.grid, exp["tau2"], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(prof.ll, exp["ll"], rtol=RTOL)
    for j, name in enumerate(exp["beta"]):
        np.testing.assert_allclose(prof.beta[:, j], exp["beta"][name], rtol=RTOL)
        np.testing.assert_allclose(prof.ci_low[:, j], exp["ci_low"][name], rtol=RTOL)
        np.testing.assert_allclose(prof.ci_high[:, j], exp["ci_high"][name], rtol=RTOL)
    assert prof.maxll == pytest.approx(exp["maxll"], rel=RTOL)
    assert prof.estimate == pytest.approx(exp["tau2_hat"], rel=RTOL, abs=1e-12)


def test_the_profile_peaks_at_the_ml_and_reml_estimates():
    d = REF["datasets"]["bcg"]
    for method in ("ML", "REML"):
        fit = pool(d["yi"], d["vi"], method=method)
        prof = profile_tau2(fit, xlim=(fit.tau2 * 0.5, fit.tau2 * 1.5), steps=21)
        # the grid's middle value is the estimate, and nothing beats it
        assert prof.grid[10] == pytest.approx(fit.tau2)
        assert prof.ll[10] == pytest.approx(loglik(fit), rel=1e-10)
        assert np.argmax(prof.ll) == 10 and not prof.higher


def test_views_and_refusals():
    d = REF["datasets"]["bcg"]
    prof = profile_tau2(pool(d["yi"], d["vi"]), steps=5)
    frame = prof.to_frame()
    assert list(frame.columns) == ["tau2", "ll", "intrcpt", "intrcpt_ci_low", "intrcpt_ci_high"]
    assert len(prof.to_dict()["beta_intrcpt"]) == 5
    assert "restricted log-likelihood" in prof.summary()
    with pytest.raises(InputError, match="equal-effects"):
        profile_tau2(pool(d["yi"], d["vi"], method="EE"))
    with pytest.raises(InputError, match="fixed"):
        profile_tau2(pool(d["yi"], d["vi"], tau2=0.2))
    with pytest.raises(InputError, match="steps must be at least 2"):
        profile_tau2(pool(d["yi"], d["vi"]), steps=1)
    with pytest.raises(InputError, match="xlim must be two numbers"):
        profile_tau2(pool(d["yi"], d["vi"]), xlim=(0.1,))
    with pytest.raises(InputError, match="smallest sampling variance"):
        profile_tau2(pool(d["yi"], d["vi"]), xlim=(-1, 1))


def test_a_moment_estimator_is_not_flagged_for_missing_the_maximum():
    # DL is not a likelihood maximiser: its profile (full likelihood) rises above the fit's own
    # log-likelihood, which for ML or REML would mean a failed fit; metafor warns only for those
    case = REF["cases"]["bcg_dl"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prof = profile_tau2(_fit(case))
    assert prof.ll.max() > prof.maxll + 1e-3
    assert not prof.higher


def test_a_fit_off_its_maximum_is_flagged():
    # a REML fit reporting a tau² three times its maximiser (as a fit stopped early would): the
    # profile finds higher values and says so
    import dataclasses

    d = REF["datasets"]["bcg"]
    fit = pool(d["yi"], d["vi"])
    off = dataclasses.replace(fit, tau2=3 * fit.tau2, _cache={})
    with pytest.warns(RuntimeWarning, match="may not have found the maximum"):
        prof = profile_tau2(off, xlim=(0.1, 1.2))
    assert prof.higher and "Note: a grid value" in prof.summary()


def test_plot_draws_the_profile():
    d = REF["datasets"]["bcg"]
    prof = profile_tau2(pool(d["yi"], d["vi"], method="ML"))
    ax = plots.profile_plot(prof)
    (ln,) = gid_artists(ax, "profile-ll")
    np.testing.assert_allclose(ln.get_xdata(), prof.grid)
    np.testing.assert_allclose(ln.get_ydata(), prof.ll)
    (est,) = gid_artists(ax, "profile-estimate")
    assert est.get_xdata()[0] == pytest.approx(prof.estimate)
    (top,) = gid_artists(ax, "profile-max")
    assert top.get_ydata()[0] == pytest.approx(prof.maxll)
    assert ax.get_ylabel() == "Log-likelihood"
    with pytest.raises(InputError, match="ProfileResult"):
        plots.profile_plot(pool(d["yi"], d["vi"]))


@needs_baseline_freetype
def test_baseline_profile_plot(tmp_path):
    d = REF["datasets"]["bcg"]
    ax = plots.profile_plot(profile_tau2(pool(d["yi"], d["vi"])))
    _compare(ax.figure, "profile_bcg.png", tmp_path)
