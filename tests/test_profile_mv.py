"""profile_mv and MultilevelResult.confint against metafor's profile.rma.mv and confint.rma.mv
(tests/reference/profile_mv.R)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metaanalysis import plots  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.pooling import rma_mv  # noqa: E402
from metaanalysis.pooling.multilevel import profile_mv  # noqa: E402

REF = json.loads((Path(__file__).parent / "reference" / "profile_mv.json").read_text())
# rma_mv finds the optimum to rounding; metafor's nlminb stops near it (1e-8 here), and each of
# its profile refits does too
RTOL = 1e-6


@pytest.fixture(scope="module")
def fits():
    k = pd.DataFrame(REF["datasets"]["konstantopoulos"])
    b = REF["datasets"]["berkey"]
    bd = pd.DataFrame({c: b[c] for c in ("yi", "outcome", "trial")})
    out = {m: rma_mv("yi", "vi", random="~ 1 | district/school", data=k, method=m)
           for m in ("REML", "ML")}
    out["berkey"] = rma_mv(bd.yi.to_numpy(), np.array(b["V"]), mods="~ outcome - 1",
                           random="~ outcome | trial", struct="CS", data=bd)
    return out


def _fit(fits, case):
    return fits["berkey"] if case["dataset"] == "berkey" else fits[case["method"]]


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_profile_and_interval_match_metafor(fits, case_id):
    case = REF["cases"][case_id]
    fit = _fit(fits, case)
    prof = profile_mv(fit, case["component"])
    np.testing.assert_allclose(prof.grid, case["grid"], rtol=RTOL)
    np.testing.assert_allclose(prof.ll, case["ll"], rtol=RTOL)
    assert prof.estimate == pytest.approx(case["estimate"], rel=RTOL)
    assert prof.maxll == pytest.approx(case["maxll"], rel=RTOL)
    ci = fit.confint(case["component"]).iloc[0]
    np.testing.assert_allclose([ci.estimate, ci.ci_low, ci.ci_high], case["ci"], rtol=RTOL)
    if case["component"].startswith("rho"):
        assert np.isnan(ci.sqrt)
        assert prof.label == "\u03c1 (outcome | trial)"
    else:
        assert ci.sqrt_ci_high == pytest.approx(case["ci"][2] ** 0.5, rel=RTOL)


def test_every_free_component_and_the_profile_peak(fits):
    fit = fits["REML"]
    table = fit.confint()
    assert list(table.index) == ["sigma2.1", "sigma2.2"]
    assert (table.ci_low < table.estimate).all() and (table.estimate < table.ci_high).all()
    # the profile through the estimate peaks there
    est = fit.sigma2[1]
    prof = profile_mv(fit, "sigma2.2", xlim=(est * 0.5, est * 1.5), steps=21)
    assert prof.grid[10] == pytest.approx(est) and np.argmax(prof.ll) == 10
    assert prof.ll[10] == pytest.approx(fit.loglik, rel=1e-9)
    assert not prof.higher
    assert prof.label == "\u03c3\u00b2 of district/school"
    ax = plots.profile_plot(prof)
    assert ax.get_xlabel() == "\u03c3\u00b2 of district/school"


def test_refusals(fits):
    fit = fits["REML"]
    with pytest.raises(InputError, match="'sigma2.1', 'sigma2.2'"):
        profile_mv(fit, "sigma2")
    with pytest.raises(InputError, match="2 sigma2 components"):
        profile_mv(fit, "sigma2.3")
    with pytest.raises(InputError, match="the model has 1 rho component"):
        fits["berkey"].confint("rho.2")
    with pytest.raises(InputError, match="'tau2.1', 'rho.1'"):
        fits["berkey"].confint("phi.1")
    with pytest.raises(InputError, match=r"within \(-1, 1\)"):
        profile_mv(fits["berkey"], "rho.1", xlim=(-1, 0.5))
    with pytest.raises(InputError, match="a variance cannot be negative"):
        profile_mv(fit, xlim=(-1, 1))
    with pytest.raises(InputError, match="rma_mv"):
        profile_mv(object())
    k = pd.DataFrame(REF["datasets"]["konstantopoulos"])
    fixed = rma_mv("yi", "vi", random="~ 1 | district/school", data=k, sigma2=[0.05, np.nan])
    with pytest.raises(InputError, match="sigma2.1 was fixed"):
        profile_mv(fixed, "sigma2.1")
    assert list(fixed.confint().index) == ["sigma2.2"]


def test_data_edited_after_the_fit_does_not_change_its_profile():
    k = pd.DataFrame(REF["datasets"]["konstantopoulos"])
    fit = rma_mv("yi", "vi", random="~ 1 | district/school", data=k)
    before = profile_mv(fit, "sigma2.1", steps=3).ll
    k["yi"] = k["yi"] * 3  # the user's frame changes
    np.testing.assert_array_equal(profile_mv(fit, "sigma2.1", steps=3).ll, before)
