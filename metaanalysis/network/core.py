"""Pure numpy core of the contrast-based network model: GLS fit, Q, and the tau² estimators.

The model (Lu & Ades 2004; Salanti et al. 2008; the one netmeta and metafor's ``rma.mv`` fit):
``y = X d + delta + e`` with ``e ~ N(0, V)`` (exact within-study covariance, block diagonal) and
``delta ~ N(0, tau² P)``, ``P`` having 1 on its diagonal and 1/2 between two contrasts of one
multi-arm study (one heterogeneity variance shared by every comparison).

Functions take arrays along axis 0 (the m contrasts); no pandas.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from ..errors import ConvergenceError, InputError

REML_TOL = 1e-10  # change in tau² at which Fisher scoring stops
REML_MAXITER = 200


def gls(y, X, S):
    """Generalised least squares with covariance ``S``.

    Returns ``beta``, ``vcov`` (of beta), ``q`` (the residual quadratic form r' S^-1 r) and the
    Cholesky factor of ``S`` for reuse.
    """
    try:
        cf = linalg.cho_factor(S, lower=True, check_finite=False)
    except linalg.LinAlgError:
        raise InputError("the covariance of the contrasts is not positive definite") from None
    SiX = linalg.cho_solve(cf, X, check_finite=False)
    Siy = linalg.cho_solve(cf, y, check_finite=False)
    A = X.T @ SiX
    try:
        vcov = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        raise InputError("the treatment effects are not identifiable (is the network connected?)") from None
    beta = vcov @ (X.T @ Siy)
    r = y - X @ beta
    q = float(r @ linalg.cho_solve(cf, r, check_finite=False))
    return beta, vcov, q, cf


def _residual_projector(X, S):
    """``R = S^-1 - S^-1 X (X' S^-1 X)^-1 X' S^-1`` (the REML 'P' matrix)."""
    Si = np.linalg.inv(S)
    SiX = Si @ X
    return Si - SiX @ np.linalg.solve(X.T @ SiX, SiX.T)


def tau2_dl(y, X, V, P):
    """Generalised DerSimonian-Laird estimator (Jackson, White & Riley 2012; Rücker 2012).

    ``tau² = max(0, (Q - df) / tr(R P))`` with ``R`` the residual projector of the common-effect
    fit. This equals netmeta's ``(Q - df) / tr((I - H) (B B' ∘ E / 2) W)`` computed on all pairwise
    contrasts with reduced weights: both are E[Q] = df + tau² tr(R P) solved for tau².
    Returns 0 when df = 0 (netmeta reports NA there).
    """
    df = len(y) - X.shape[1]
    if df <= 0:
        return 0.0
    _, _, q, _ = gls(y, X, V)
    R = _residual_projector(X, V)
    denom = float(np.sum(R * P))  # tr(R P) for symmetric P
    return max(0.0, (q - df) / denom)


def loglik(tau2, y, X, V, P, reml=True):
    """(Restricted) log-likelihood at ``tau2``, as metafor's ``rma.mv`` defines it."""
    S = V + tau2 * P
    beta, vcov, q, cf = gls(y, X, S)
    logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
    m, p = X.shape
    if reml:
        _, logdet_a = np.linalg.slogdet(np.linalg.inv(vcov))
        return -0.5 * ((m - p) * math.log(2 * math.pi) + logdet + logdet_a + q)
    return -0.5 * (m * math.log(2 * math.pi) + logdet + q)


def tau2_ml(y, X, V, P, reml=True, start=None):
    """REML (or ML) estimate of tau² by Fisher scoring with step halving, truncated at 0.

    Score and information (Harville 1977): with ``R`` the residual projector of ``S = V + tau² P``,
    REML score = (y'RPRy - tr(RP)) / 2 and information tr(RPRP) / 2; ML uses ``S^-1`` in the traces.
    """
    df = len(y) - X.shape[1]
    if df <= 0:
        return 0.0, 0
    tau2 = tau2_dl(y, X, V, P) if start is None else float(start)
    ll = loglik(tau2, y, X, V, P, reml)
    for it in range(1, REML_MAXITER + 1):
        S = V + tau2 * P
        R = _residual_projector(X, S)
        Ry = R @ y
        if reml:
            RP = R @ P
        else:
            RP = np.linalg.solve(S, P)
        score = 0.5 * (float(Ry @ P @ Ry) - float(np.trace(RP)))
        info = 0.5 * float(np.sum(RP * RP.T))
        if info <= 0:
            break
        step = score / info
        new = max(0.0, tau2 + step)
        new_ll = loglik(new, y, X, V, P, reml)
        halvings = 0
        while new_ll < ll - 1e-12 and halvings < 30:
            step /= 2
            new = max(0.0, tau2 + step)
            new_ll = loglik(new, y, X, V, P, reml)
            halvings += 1
        change = abs(new - tau2)
        tau2, ll = new, new_ll
        if change < REML_TOL * max(1.0, tau2):
            return tau2, it
    raise ConvergenceError(
        f"{'REML' if reml else 'ML'} estimation of tau² did not converge after {REML_MAXITER} "
        f"Fisher-scoring iterations with step halving (started at the DL estimate); last "
        f"tau² = {tau2:.6g}. Try method='DL'"
    )


def q_pvalue(q, df):
    from scipy.special import chdtrc  # not scipy.stats: its import alone costs ~0.5 s

    return float(chdtrc(df, q)) if df > 0 else math.nan


def full_effects(beta, vcov):
    """Effects of every treatment against the reference (reference first, 0) and their covariance."""
    T = len(beta) + 1
    d = np.zeros(T)
    d[1:] = beta
    C = np.zeros((T, T))
    C[1:, 1:] = vcov
    return d, C


def pairwise(d, C):
    """Estimates ``d_i - d_j`` and their variances for all i, j (T x T arrays)."""
    est = d[:, None] - d[None, :]
    dc = np.diag(C)
    var = dc[:, None] + dc[None, :] - 2 * C
    return est, np.maximum(var, 0.0)
