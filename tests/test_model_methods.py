"""metafor's generic functions as methods of the fits (pooling/_methods.py) give what the
functions of pooling/diagnostics.py give (those are checked against metafor in test_diagnostics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma


@pytest.fixture(scope="module")
def fits():
    bcg = ma.load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    dat = bcg.assign(yi=es.yi, vi=es.vi)
    return (ma.pool(dat.yi, dat.vi, method="REML"),
            ma.meta_regression(dat.yi, dat.vi, mods="~ ablat + year", data=dat, method="REML"))


def _same(a, b):
    if isinstance(a, (pd.Series, pd.DataFrame)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    elif hasattr(a, "to_frame"):
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    else:
        assert a == b


@pytest.mark.parametrize("which", [0, 1], ids=["pool", "meta_regression"])
@pytest.mark.parametrize("name", ["rstandard", "rstudent", "hatvalues", "cooks_distance", "dfbetas",
                                  "blup", "ranef", "fitstats", "loglik", "aic", "bic"])
def test_method_equals_function(fits, which, name):
    res = fits[which]
    _same(getattr(res, name)(), getattr(ma, name)(res))


def test_vif_and_anova_methods(fits):
    re_fit, reg = fits
    _same(reg.vif(), ma.vif(reg))
    assert reg.anova(btt="ablat").qm == ma.anova(reg, btt="ablat").qm
    assert reg.anova(re_fit, refit=True).lrt == ma.anova(reg, re_fit, refit=True).lrt
    # a model without moderators has no VIF to report: the same refusal either way
    with pytest.raises(ma.InputError):
        re_fit.vif()
