"""robust() against metafor 3.8's robust() and clubSandwich 0.5.8 (tests/reference/robust.json,
written by robust.R): CR1 / CR0 with t(n - p) tests, and CR2 with Satterthwaite df and the HTZ
Wald test, for rma.uni fits without and with moderators, with custom weights, and rma.mv fits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError
from metaanalysis.pooling.robust import RobustResult, robust

REF = json.loads((Path(__file__).parent / "reference" / "robust.json").read_text())
# Closed-form given the fit; the rma.mv fits are taken at metafor's variance components (fixed),
# so only rounding separates us. Observed max relative error over all cases and estimators:
# 1.6e-10 (the rma.uni fits' tau² agree with metafor to ~1e-11).
RTOL = 1e-6
ATOL = 1e-12

EXPECTED = {"pool_reml", "pool_dl", "pool_ee", "pool_weights", "reg_year", "reg_bcg", "mv_konst", "mv_konst_year",
            "mv_berkey_un"}


def frame_of(name):
    ds = REF["datasets"][name]
    k = len(ds["yi"])
    return pd.DataFrame({key: v for key, v in ds.items() if isinstance(v, list) and key != "V" and len(v) == k}), ds


_FITS: dict = {}


def fit_of(cid):
    if cid in _FITS:
        return _FITS[cid]
    c = REF["cases"][cid]
    frame, ds = frame_of(c["data"])
    if c["model"] == "rma":
        if c["mods"] is None:
            kw = {"weights": 1 / np.sqrt(frame["vi"])} if c["weights"] != "none" else {}
            fit = ma.pool(frame["yi"], frame["vi"], method=c["method"], **kw)
        else:
            fit = ma.meta_regression(frame["yi"], frame["vi"], mods=c["mods"], data=frame, method=c["method"])
    else:
        V = np.array(ds["V"]) if "V" in ds else frame["vi"].to_numpy()
        # at metafor's variance components (its nlminb stops ~1e-6 short of the optimum on berkey1998)
        keys = ("sigma2",) if c["random"].startswith("~ 1 |") else ("tau2", "rho")
        fixed = {key: c["fit"][key] for key in keys}
        fit = ma.rma_mv(frame["yi"].to_numpy(), V, mods=c["mods"], random=c["random"], struct=c["struct"], data=frame,
                        **fixed)
    _FITS[cid] = (fit, frame[c["cluster"]].to_numpy())
    return _FITS[cid]


def close(ours, ref, what, rtol=RTOL):
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    ref = np.atleast_1d(np.asarray(ref, dtype=float))
    assert ours.shape == ref.shape, f"{what}: shapes {ours.shape} vs {ref.shape}"
    assert np.allclose(ours, ref, rtol=rtol, atol=ATOL), f"{what}: ours {ours.tolist()}, R {ref.tolist()}"


def test_the_whole_grid_is_present():
    assert set(REF["cases"]) == EXPECTED
    assert REF["clubSandwich_version"] == "0.5.8" and REF["metafor_version"] == "3.8.1"
    for c in REF["cases"].values():
        assert {"CR1", "CR0", "CR2", "clubSandwich"} <= set(c)


ESTIMATORS = {"CR1": {}, "CR0": {"adjust": False}, "CR2": {"clubSandwich": True}}


@pytest.mark.parametrize("cid", sorted(EXPECTED))
@pytest.mark.parametrize("est", sorted(ESTIMATORS))
def test_matches_metafor_robust(cid, est):
    fit, cluster = fit_of(cid)
    ref = REF["cases"][cid][est]
    res = robust(fit, cluster, **ESTIMATORS[est])
    close(res.coef, ref["beta"], "beta")
    for rkey, ours in {"se": "se", "tval": "statistic", "pval": "pvalue", "ci_lb": "ci_low",
                       "ci_ub": "ci_high", "vb": "vcov", "QM": "qm", "QMp": "qm_pvalue"}.items():
        close(getattr(res, ours), ref[rkey], f"{cid} {est} {rkey}")
    # metafor stores one df (n - p) for the default estimators, one per coefficient for CR2
    close(res.df, np.broadcast_to(ref["df"], res.df.shape), f"{cid} {est} df")
    close([res.qm_df, res.qm_df2], ref["QMdf"], f"{cid} {est} QMdf")
    assert res.n_clusters == ref["n"]
    assert res.vcov_type == est


@pytest.mark.parametrize("cid", sorted(EXPECTED))
def test_matches_clubsandwich_directly(cid):
    fit, cluster = fit_of(cid)
    ref = REF["cases"][cid]["clubSandwich"]
    res = robust(fit, cluster, clubSandwich=True)
    close(res.se, ref["se"], "SE")
    close(res.statistic, ref["tstat"], "tstat")
    close(res.df, ref["df"], "df_Satt")
    close(res.pvalue, ref["p"], "p_Satt")
    close(res.vcov, ref["vcov"], "vcovCR")
    if "wald" in ref:
        close([res.qm, res.qm_df, res.qm_df2, res.qm_pvalue],
              [ref["wald"][k] for k in ("Fstat", "df_num", "df_denom", "p")], "Wald HTZ")


def test_cr1_is_cr0_times_n_over_n_minus_p():
    fit, cluster = fit_of("reg_bcg")
    a, b = robust(fit, cluster), robust(fit, cluster, adjust=False)
    n, p = a.n_clusters, a.p
    np.testing.assert_allclose(a.vcov, b.vcov * n / (n - p), rtol=1e-13)


def test_singleton_clusters_give_the_heteroskedasticity_consistent_variance():
    # each study its own cluster: CR0 of the weighted mean is sum(w² e²) / (sum w)² (White 1980)
    y = np.array([0.1, 0.4, -0.2, 0.3, 0.25])
    v = np.array([0.02, 0.05, 0.03, 0.04, 0.02])
    fit = ma.pool(y, v, method="EE")
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    expected = np.sum(w**2 * (y - mu) ** 2) / np.sum(w) ** 2
    res = robust(fit, np.arange(5), adjust=False)
    assert math.isclose(res.vcov[0, 0], expected, rel_tol=1e-12)


def test_independent_of_the_models_test():
    # metafor scales the bread by the Knapp-Hartung s² on a knha fit; the sandwich here does not
    frame, _ = frame_of("konstantopoulos2011")
    z = ma.pool(frame["yi"], frame["vi"])
    kn = ma.pool(frame["yi"], frame["vi"], test="knha")
    np.testing.assert_allclose(robust(kn, frame["district"]).se, robust(z, frame["district"]).se, rtol=1e-13)


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_order_and_cluster_labels_do_not_matter(rnd):
    fit, cluster = fit_of("reg_bcg")
    base = robust(fit, cluster, clubSandwich=True)
    frame, _ = frame_of("bcg")
    perm = list(range(len(frame)))
    rnd.shuffle(perm)
    relabel = {c: f"team-{rnd.randint(0, 10**6)}-{c}" for c in set(cluster.tolist())}
    f2 = frame.iloc[perm].reset_index(drop=True)
    fit2 = ma.meta_regression(f2["yi"], f2["vi"], mods="~ ablat + year", data=f2)
    res = robust(fit2, [relabel[c] for c in f2["team"]], clubSandwich=True)
    close(res.se, base.se, "se", rtol=1e-8)
    close(res.df, base.df, "df", rtol=1e-8)
    close(res.qm, base.qm, "qm", rtol=1e-8)


def test_result_views():
    fit, cluster = fit_of("mv_berkey_un")
    res = robust(fit, cluster, clubSandwich=True)
    assert isinstance(res, RobustResult)
    json.dumps(res.to_dict())
    frame = res.to_frame()
    assert list(frame.columns) == ["estimate", "se", "statistic", "df", "pvalue", "ci_low", "ci_high"]
    text = res.summary()
    assert "Number of clusters:    5" in text and "CR2" in text and "Satterthwaite" in text
    assert "\n" not in repr(res)
    assert res.fit is fit
    with pytest.raises(ValueError):
        res.se[0] = 0.0
    assert ma.robust is robust


def test_bad_arguments():
    fit, cluster = fit_of("reg_bcg")
    with pytest.raises(InputError, match="one entry per effect"):
        robust(fit, cluster[:-1])
    with pytest.raises(InputError, match="missing"):
        robust(fit, [None] + list(cluster[1:]))
    with pytest.raises(InputError, match="larger than"):
        robust(fit, [1, 2, 3] * 4 + [1])
    with pytest.raises(InputError, match="PoolResult"):
        robust("not a fit", cluster)
