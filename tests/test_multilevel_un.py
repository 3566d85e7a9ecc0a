"""rma_mv's UN structure and its profiles against metafor 3.8's rma.mv (tests/reference/multilevel_un.json,
written by multilevel_un.R).

The data sets come from a randomised comparison with metafor on which rma_mv, with one atanh per
correlation, raised ConvergenceError (fuzz37, 61, 80, 93, 121, 134) or returned NaN in a profile
(fuzz11, 158, 80): their optima have a singular correlation matrix, on the edge that the spherical
parameterisation of the correlations reaches and the old one did not. fuzz14 (HCS, ML) has two
optima at rho = -1 and rho = +1; metafor's and our default start both settle at the worse one on
some refits.

Tolerances, two kinds:

* ``un4_interior`` has an interior optimum: metafor's fit polished by Newton steps in R is the
  optimum itself, compared at rtol 1e-6 (observed: 2.5e-9 on rho, 6e-10 on tau², beta and se).
* every other UN fit has its optimum on the edge (smallest eigenvalue of the correlation matrix
  1e-11 or below), where nlminb stops short and no polish is possible: our log-likelihood must be
  at least metafor's minus 1e-9 (observed: ours higher by 4e-13 to 2e-11), and every estimate
  within rtol 1e-5 plus atol 1e-6 of metafor's (observed: 1.9e-5 relative, 6e-8 absolute, on
  fuzz61's smallest tau², 0.0034; rho within 2.5e-6, beta and se within 1.7e-5 relative).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaanalysis.pooling.multilevel import _sphere_angles, _sphere_chol, profile_mv, rma_mv

REF = json.loads((Path(__file__).parent / "reference" / "multilevel_un.json").read_text())
RTOL = 1e-6
# where metafor stops short of an optimum on the edge
LL_SLACK = 1e-9
EDGE_RTOL, EDGE_ATOL = 1e-5, 1e-6


def frame(name):
    return pd.DataFrame(REF["datasets"][name])


def fit_un(cid, **extra):
    f = REF["fits"][cid]
    return rma_mv("yi", "vi", mods=f["mods"], random="~ inner | study", struct="UN", data=frame(f["data"]),
                  method=f["method"], **extra)


def fit_profiled(name, **extra):
    p = REF["profiles"][name]
    return rma_mv("yi", "vi", random="~ inner | study", struct=p["struct"], data=frame(name), method=p["method"],
                  **extra)


def close(ours, ref, what, rtol=RTOL, atol=1e-10):
    ours = np.atleast_1d(np.asarray(ours, dtype=float))
    ref = np.atleast_1d(np.asarray(ref, dtype=float))
    assert ours.shape == ref.shape, f"{what}: shapes {ours.shape} vs {ref.shape}"
    assert np.allclose(ours, ref, rtol=rtol, atol=atol), f"{what}: ours {ours.tolist()}, metafor {ref.tolist()}"


def test_the_reference_is_complete():
    assert REF["metafor_version"] == "3.8.1"
    assert set(REF["fits"]) == {"fuzz37", "fuzz61", "fuzz80", "fuzz93", "fuzz121", "fuzz134", "fuzz11", "fuzz158",
                                "un4_interior", "un4_edge"}
    assert set(REF["profiles"]) == {"fuzz11", "fuzz158", "fuzz80", "fuzz14"}
    # which optimum is interior is decided in R (smallest eigenvalue and every tau² above 1e-4)
    assert [c for c, f in REF["fits"].items() if f["interior"]] == ["un4_interior"]
    assert REF["fits"]["un4_interior"]["polish_gradient"] < 1e-8
    for cid, f in REF["fits"].items():
        if not f["interior"]:
            assert f["tight"]["min_eigen"] < 1e-10, cid


def test_interior_optimum_matches_metafor():
    res = fit_un("un4_interior")
    ref = REF["fits"]["un4_interior"]["optimum"]
    for rkey, ours in (("beta", "coef"), ("se", "se"), ("tau2", "tau2"), ("rho", "rho"), ("logLik", "loglik")):
        close(getattr(res, ours), ref[rkey], f"un4_interior {rkey}")
    assert res.converged and len(res.rho) == 6


@pytest.mark.parametrize("cid", sorted(c for c, f in REF["fits"].items() if not f["interior"]))
def test_optimum_on_the_edge_at_least_metafors(cid):
    # these raised ConvergenceError (or gave NaN profile points) with one atanh per correlation
    res = fit_un(cid)
    ref = REF["fits"][cid]["tight"]
    assert res.converged
    assert res.loglik >= ref["logLik"] - LL_SLACK, f"{cid}: {res.loglik} < metafor's {ref['logLik']}"
    for rkey, ours in (("beta", "coef"), ("se", "se"), ("tau2", "tau2"), ("rho", "rho")):
        close(getattr(res, ours), ref[rkey], f"{cid} {rkey}", rtol=EDGE_RTOL, atol=EDGE_ATOL)
    # the fitted correlation matrix is positive semi-definite and (nearly) singular, as metafor's
    m = len(res.tau2)
    R = np.eye(m)
    for (a, b), r in zip([(a, b) for a in range(m) for b in range(a + 1, m)], res.rho):
        R[a, b] = R[b, a] = r
    assert -1e-12 < np.linalg.eigvalsh(R).min() < 1e-6


@pytest.mark.parametrize("name", ["fuzz11", "fuzz158", "fuzz80"])
def test_un_profile_matches_metafor(name):
    # profile_mv returned NaN at some of these points before
    p = REF["profiles"][name]
    res = fit_profiled(name)
    prof = profile_mv(res, "tau2.1", xlim=tuple(p["xlim"]), steps=len(p["grid"]))
    close(prof.grid, p["grid"], f"{name} grid", rtol=1e-14, atol=0)
    assert np.all(np.isfinite(prof.ll))
    close(prof.ll, p["ll"], f"{name} profile")


def test_hcs_fit_leaves_the_worse_edge():
    # metafor's default start (and ours, before restarts) stops at rho = -1 with tau2.2 = tau2.3 = 0
    # (logLik -1.0968); from rho.init = -0.5 metafor finds rho = +1, tau2.2 = 2.9e-4 (-1.0779)
    p = REF["profiles"]["fuzz14"]
    res = fit_profiled("fuzz14")
    best = p["fit_starts"]["best"]
    assert best["rho_init"] == -0.5 and best["logLik"] > p["logLik"] + 0.01
    assert res.loglik >= best["logLik"] - LL_SLACK
    close(res.loglik, best["logLik"], "fuzz14 logLik")
    close(res.tau2, best["tau2"], "fuzz14 tau2", rtol=EDGE_RTOL, atol=EDGE_ATOL)
    close(res.rho, best["rho"], "fuzz14 rho", rtol=EDGE_RTOL, atol=EDGE_ATOL)
    close(res.coef, best["beta"], "fuzz14 beta", rtol=EDGE_RTOL, atol=EDGE_ATOL)
    close(res.se, best["se"], "fuzz14 se", rtol=EDGE_RTOL, atol=EDGE_ATOL)


def test_hcs_profile_matches_metafors_best_start():
    # each profile point is metafor's best over rho.init in {0.5, 0.9, 0, -0.5}; metafor's own
    # profile (default start) is lower where that start stops at rho = -1
    p = REF["profiles"]["fuzz14"]
    res = fit_profiled("fuzz14")
    prof = profile_mv(res, "tau2.1", xlim=tuple(p["xlim"]), steps=len(p["grid"]))
    close(prof.grid, p["grid"], "fuzz14 grid", rtol=1e-14, atol=0)
    best = np.array([s["best"]["logLik"] for s in p["starts"]])
    assert np.all(prof.ll >= np.asarray(p["ll"], dtype=float) - LL_SLACK)
    assert np.all(prof.ll >= best - LL_SLACK)
    close(prof.ll, best, "fuzz14 profile")


def test_fixed_tau2_refit_reaches_the_better_edge():
    # the reported case: tau2.1 held at the 4th profile point; we stopped at rho = -1 (-1.23979)
    s = REF["profiles"]["fuzz14"]["starts"][3]
    res = fit_profiled("fuzz14", tau2=[s["tau2_1"], np.nan, np.nan])
    assert res.loglik >= s["best"]["logLik"] - LL_SLACK
    close(res.loglik, s["best"]["logLik"], "fixed tau2 logLik")
    assert res.rho[0] > 0.999 and s["best"]["rho"] > 0.999
    close(res.tau2[1], s["best"]["tau2"][1], "fixed tau2 tau2.2", rtol=EDGE_RTOL, atol=EDGE_ATOL)


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_spherical_parameterisation(m):
    rng = np.random.default_rng(m)
    n = m * (m - 1) // 2
    phi = rng.uniform(-4, 4, n)
    L, dR, R = _sphere_chol(phi, m)
    # any angles give a correlation matrix
    assert np.allclose(np.diag(R), 1) and np.linalg.eigvalsh(R).min() > -1e-12
    assert np.allclose(L @ L.T, R)
    # analytic derivatives against central differences
    for q in range(n):
        e = np.zeros(n)
        e[q] = 1e-6
        num = (_sphere_chol(phi + e, m)[2] - _sphere_chol(phi - e, m)[2]) / 2e-6
        assert np.allclose(num, dR[q], atol=1e-8)
    # and back: the angles of a correlation matrix reproduce it
    A = rng.normal(size=(m, m + 2))
    C = A @ A.T
    C /= np.sqrt(np.outer(np.diag(C), np.diag(C)))
    assert np.allclose(_sphere_chol(_sphere_angles(C), m)[2], C)
    # a singular matrix (rank 1) has finite angles: the edge is inside the parameter space
    edge = np.zeros(n)
    assert np.allclose(_sphere_chol(edge, m)[2], np.ones((m, m)))


def test_un_with_a_fixed_correlation_still_fits():
    # a fixed rho needs its own coordinate: then one atanh per pair, as before
    free = fit_un("un4_interior")
    res = fit_un("un4_interior", rho=[free.rho[0]] + [np.nan] * 5)
    assert res.fixed == ("rho.1",) and res.rho[0] == free.rho[0]
    close(res.loglik, free.loglik, "fixed rho at its estimate", rtol=1e-9)
