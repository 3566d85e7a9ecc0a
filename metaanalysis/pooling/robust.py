"""Cluster-robust (sandwich) inference for fitted meta-analytic models: metafor's ``robust()``.

When effects are dependent in ways the model leaves out (several effects per trial, shared
controls, an unknown within-trial correlation), the model-based standard errors are too small.
The sandwich estimator keeps the fitted coefficients and replaces their covariance by

    V_R = B (sum_c X_c' W_c A_c e_c e_c' A_c' W_c X_c) B,   B = (X' W X)^-1,

with ``e`` the residuals, ``W`` the model's weights and ``c`` the clusters (assumed independent).

* default (metafor): ``A_c = I`` (CR0) times ``n / (n - p)`` with ``adjust=True`` (CR1, n
  clusters), and t tests with ``n - p`` df;
* ``clubSandwich=True``: the bias-reduced CR2 adjustment ``A_c = U_c' (U_c [(I-H) T (I-H)']_cc
  U_c')^(-1/2) U_c`` (``T`` the working covariance of the fitted model, ``T_c = U_c' U_c``,
  ``H = X B X' W``), t tests with Satterthwaite df and the HTZ Wald test of moderators
  (Pustejovsky & Tipton 2018, *J. Bus. Econ. Stat.* 36:672-683; Tipton & Pustejovsky 2015,
  *J. Educ. Behav. Stat.* 40:604-634), as R's clubSandwich ``coef_test(..., vcov = "CR2")``.

Works on :class:`~metaanalysis.pooling.core.PoolResult`,
:class:`~metaanalysis.pooling.regression.RegressionResult` and
:class:`~metaanalysis.pooling.multilevel.MultilevelResult` without refitting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import fdtrc

from .._base import ResultMixin, check_level, jsonable
from ..errors import InputError
from ._result import coef_frame
from .core import critical_value, two_sided_p

__all__ = ["robust", "RobustResult"]

_NAN = float("nan")


# --------------------------------------------------------------------------------------------
# What a fitted model holds
# --------------------------------------------------------------------------------------------


def _model_parts(fit):
    """(y, X, beta, coef names, W, T, has_intercept, user_weights): W the weight matrix the
    coefficients were estimated with, T the working (model-implied) covariance."""
    from .core import PoolResult
    from .multilevel import MultilevelResult
    from .regression import RegressionResult

    if isinstance(fit, MultilevelResult):
        y, X, beta = np.asarray(fit.yi), np.asarray(fit.X), np.asarray(fit.coef)
        T = np.asarray(fit.M)
        return y, X, beta, fit.coef_names, np.asarray(fit.weights), T, fit.has_intercept, False
    if isinstance(fit, RegressionResult):
        y, v = np.asarray(fit.yi), np.asarray(fit.vi)
        t = v + max(fit.tau2, 0.0)
        return y, np.asarray(fit.X), np.asarray(fit.coef), fit.coef_names, np.diag(1.0 / t), np.diag(t), \
            fit.has_intercept, False
    if isinstance(fit, PoolResult):
        y, v = np.asarray(fit.yi), np.asarray(fit.vi)
        t = v + (max(fit.tau2, 0.0) if math.isfinite(fit.tau2) else 0.0)
        user = getattr(fit, "_raw_weights", None)
        w = 1.0 / t if user is None else np.asarray(user, dtype=float)
        return y, np.ones((y.shape[0], 1)), np.array([fit.estimate]), ("intrcpt",), np.diag(w), np.diag(t), \
            True, user is not None
    raise InputError(f"robust() takes a PoolResult, RegressionResult or MultilevelResult; got {type(fit).__name__}")


def _cluster_codes(cluster, k):
    arr = np.asarray(cluster, dtype=object)
    if arr.ndim != 1 or arr.shape[0] != k:
        raise InputError(f"cluster must have one entry per effect ({k}); got shape {arr.shape}")
    for i, x in enumerate(arr):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            raise InputError(f"cluster is missing at index {i}; every effect needs a cluster")
    index: dict = {}
    return np.array([index.setdefault(x, len(index)) for x in arr.tolist()], dtype=int)


def _inv_sqrt_psd(G):
    """G^(-1/2) of a symmetric matrix, eigenvalues below 1e-12 treated as 0 (as clubSandwich)."""
    vals, vecs = np.linalg.eigh((G + G.T) / 2)
    inv = np.where(vals > 1e-12, 1.0 / np.sqrt(np.where(vals > 1e-12, vals, 1.0)), 0.0)
    return (vecs * inv) @ vecs.T


# --------------------------------------------------------------------------------------------
# Estimators (pure numpy)
# --------------------------------------------------------------------------------------------


def sandwich_cr(y, X, beta, W, codes, *, adjust=True):
    """metafor's default cluster-robust covariance: CR0, times n / (n - p) when ``adjust``."""
    e = y - X @ beta
    XtW = X.T @ W
    B = np.linalg.inv(XtW @ X)
    bread = B @ XtW
    n = int(codes.max()) + 1
    # sum over clusters of (bread_c e_c)(bread_c e_c)'
    contrib = np.zeros((n, X.shape[1]))
    np.add.at(contrib, codes, (bread * e[None, :]).T)
    vb = contrib.T @ contrib
    p = X.shape[1]
    if adjust:
        vb = vb * n / (n - p)
    return (vb + vb.T) / 2


def sandwich_cr2(y, X, beta, W, T, codes):
    """CR2 covariance and the pieces for Satterthwaite df: returns (vb, Tt, T) where
    ``Tt[:, c, :]`` maps a contrast of the coefficients to cluster c's k-vector ``t_c``."""
    k, p = X.shape
    n = int(codes.max()) + 1
    e = y - X @ beta
    members = [np.flatnonzero(codes == c) for c in range(n)]
    # working model: clusters independent, so W and T are used block by block (as clubSandwich)
    Wb = np.zeros((k, k))
    Tb = np.zeros((k, k))
    for idx in members:
        Wb[np.ix_(idx, idx)] = W[np.ix_(idx, idx)]
        Tb[np.ix_(idx, idx)] = T[np.ix_(idx, idx)]
    XtW = X.T @ Wb
    B = np.linalg.inv(XtW @ X)
    IH = np.eye(k) - X @ B @ XtW
    R = IH @ Tb @ IH.T
    # G_c[:, i] for coefficient contrasts: rows of (A_c W_c X_c B)' -> p x n_c
    comps = np.zeros((n, p))
    gmat = np.zeros((p, n, k))  # gmat[:, c, :] = (I-H)[c rows]' A_c W_c X_c B as p x k
    for c, idx in enumerate(members):
        Uc = np.linalg.cholesky(Tb[np.ix_(idx, idx)]).T  # upper: T_c = U'U, as R's chol
        Gc = Uc @ R[np.ix_(idx, idx)] @ Uc.T
        Ac = Uc.T @ _inv_sqrt_psd(Gc) @ Uc
        Ec = XtW[:, idx] @ Ac  # p x n_c
        comps[c] = Ec @ e[idx]
        # for the contrast c' beta: g_c = (B E_c)' cvec; t_c = (I-H)[idx, :]' g_c
        gmat[:, c, :] = (B @ Ec) @ IH[idx, :]
    vb = B @ (comps.T @ comps) @ B
    return (vb + vb.T) / 2, gmat, Tb


def satterthwaite_df(gmat, T, cvec):
    """Satterthwaite df of ``cvec' V_CR2 cvec`` under the working model (Pustejovsky & Tipton 2018)."""
    t = np.tensordot(cvec, gmat, axes=(0, 0))  # n x k
    P = t @ T @ t.T
    return float(np.trace(P) ** 2 / np.sum(P * P))


def htz_test(beta, vb, gmat, T, C):
    """Hotelling's T² approximation (HTZ) of the Wald test ``C beta = 0`` with CR2 (clubSandwich's
    ``Wald_test(..., test = "HTZ")``): returns (F, df1, df2, p)."""
    q = C.shape[0]
    Cb = C @ beta
    Q = float(Cb @ np.linalg.solve(C @ vb @ C.T, Cb))
    t = np.tensordot(C, gmat, axes=(1, 0))  # q x n x k
    P = np.einsum("sia,ab,tjb->stij", t, T, t)  # q x q x n x n
    omega = np.einsum("stjj->st", P)
    vals, vecs = np.linalg.eigh((omega + omega.T) / 2)
    on = (vecs * np.where(vals > 1e-12, 1 / np.sqrt(np.where(vals > 1e-12, vals, 1.0)), 0.0)) @ vecs.T
    Bq = np.einsum("as,stij,tb->abij", on, P, on)
    var = np.einsum("stij,tsij->st", Bq, Bq) + np.einsum("ssij,ttij->st", Bq, Bq)
    nu = q * (q + 1) / float(np.sum(var))
    df2 = nu - q + 1
    F = max((nu - q + 1) / nu, 0.0) * Q / q
    p = float(fdtrc(q, df2, F)) if df2 > 0 else _NAN
    return F, q, df2, p


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

_DICT_KEYS = ("coef", "se", "statistic", "df", "pvalue", "ci_low", "ci_high", "coef_names", "qm", "qm_df",
              "qm_df2", "qm_pvalue", "n_clusters", "k", "p", "vcov_type", "robust_method", "level")


@dataclass(frozen=True, eq=False, repr=False)
class RobustResult(ResultMixin):
    """Cluster-robust inference for a fitted model (metafor's ``robust()``).

    ``coef`` is the fitted model's; ``vcov`` the sandwich covariance (``vcov_type`` ``"CR1"``,
    ``"CR0"`` or ``"CR2"``). ``df`` has one value per coefficient (n_clusters - p by default,
    Satterthwaite df with ``clubSandwich=True``). ``qm`` is an F statistic with (``qm_df``,
    ``qm_df2``) df: the Wald test of the moderators (HTZ with clubSandwich). ``fit`` is the model.
    """

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef_names: tuple
    vcov: np.ndarray
    qm: float
    qm_df: int
    qm_df2: float
    qm_pvalue: float
    n_clusters: int
    cluster_sizes: tuple
    k: int
    p: int
    vcov_type: str
    robust_method: str
    level: float
    fit: Any = field(repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for name in ("coef", "se", "statistic", "df", "pvalue", "ci_low", "ci_high", "vcov"):
            getattr(self, name).setflags(write=False)

    def to_dict(self) -> dict:
        return jsonable({key: getattr(self, key) for key in _DICT_KEYS})

    def to_frame(self):
        """One row per coefficient: estimate, se, statistic, df, pvalue, ci_low, ci_high."""
        return coef_frame(self, with_df=True)

    def _short(self) -> str:
        return f"{self.vcov_type} k={self.k} clusters={self.n_clusters} p={self.p}"

    def summary(self) -> str:
        from ._print import coef_table, moderator_lines

        sizes = np.array(self.cluster_sizes)
        out = ["", f"Cluster-robust inference ({self.vcov_type}) for a {type(self.fit).__name__}", ""]
        out.append(f"Number of estimates:   {self.k}")
        out.append(f"Number of clusters:    {self.n_clusters}")
        rng = f"{sizes.min()}" if sizes.min() == sizes.max() else f"{sizes.min()}-{sizes.max()}"
        out.append(f"Estimates per cluster: {rng} (mean: {sizes.mean():.2f}, median: {np.median(sizes):g})")
        out.append("")
        if self.p > 1 or not _has_intercept(self.fit):
            idx = list(range(2 if _has_intercept(self.fit) else 1, self.p + 1))
            out += moderator_lines(idx, self.qm, self.qm_df, self.qm_df2, self.qm_pvalue, mark="¹")
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += coef_table(self, df=self.df)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        if self.robust_method == "clubSandwich":
            out.append(f"1) results based on cluster-robust inference (var-cov estimator: {self.vcov_type},")
            out.append("   approx t/F-tests and confidence intervals, df: Satterthwaite approx)")
        else:
            adj = " with small-sample adjustment" if self.vcov_type == "CR1" else ""
            out.append(f"1) results based on cluster-robust inference (var-cov estimator: {self.vcov_type}{adj},")
            out.append("   approx t/F-tests and confidence intervals, df: residual method)")
        return "\n".join(out) + "\n"


def _has_intercept(fit) -> bool:
    return bool(getattr(fit, "has_intercept", True))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def robust(fit, cluster, *, adjust: bool = True, clubSandwich: bool = False, level: float | None = None) -> RobustResult:  # noqa: N803 - metafor's name
    """Cluster-robust tests and intervals for a fitted model, as metafor's ``robust()``.

    Parameters
    ----------
    fit : PoolResult, RegressionResult or MultilevelResult
        The fitted model (not refitted: its coefficients, weights and variance components are used).
    cluster : array_like
        Cluster of each effect (e.g. the trial); clusters are assumed independent.
    adjust : bool
        metafor's small-sample factor n / (n - p) (CR1); ``False`` gives CR0.
    clubSandwich : bool
        Use the CR2 estimator with Satterthwaite df and the HTZ test (R's clubSandwich), the
        recommended choice with few clusters.
    level : float, optional
        Confidence level in percent; the model's by default.

    Returns
    -------
    RobustResult

    Notes
    -----
    metafor's ``robust()`` on a fit with ``test="knha"`` multiplies the bread by the Knapp-Hartung
    scale (so its variance scales with s²); here the sandwich does not depend on the model's test.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.2, 0.5, -0.1, 0.0], [0.02, 0.03, 0.02, 0.04, 0.03, 0.02])
    >>> rob = robust(res, cluster=[1, 1, 2, 2, 3, 3])
    >>> rob.n_clusters, float(rob.df[0])
    (3, 2.0)
    """
    y, X, beta, names, W, T, has_int, user_weights = _model_parts(fit)
    k, p = X.shape
    codes = _cluster_codes(cluster, k)
    n = int(codes.max()) + 1
    if n - p <= 0:
        raise InputError(f"the number of clusters ({n}) must be larger than the number of coefficients ({p})")
    level = check_level(fit.level if level is None else level)
    sizes = tuple(int(s) for s in np.bincount(codes))
    btt = list(range(1, p)) if has_int and p > 1 else list(range(p))
    if clubSandwich:
        vb, gmat, Tb = sandwich_cr2(y, X, beta, W, T, codes)
        se = np.sqrt(np.diag(vb))
        stat = beta / se
        eye = np.eye(p)
        df = np.array([satterthwaite_df(gmat, Tb, eye[j]) for j in range(p)])
        pval = np.array([float(two_sided_p(stat[j], df[j])) for j in range(p)])
        crit = np.array([critical_value(level, float(d)) for d in df])
        if p == 1 and has_int:
            qm, qm_df, qm_df2, qm_p = max(0.0, float(stat[0] ** 2)), 1, float(df[0]), float(pval[0])
        else:
            qm, qm_df, qm_df2, qm_p = htz_test(beta, vb, gmat, Tb, eye[btt])
        vtype, method = "CR2", "clubSandwich"
    else:
        vb = sandwich_cr(y, X, beta, W, codes, adjust=adjust)
        se = np.sqrt(np.diag(vb))
        stat = beta / se
        dfs = float(n - p)
        df = np.full(p, dfs)
        pval = np.asarray(two_sided_p(stat, dfs), dtype=float)
        crit = np.full(p, critical_value(level, dfs))
        b = beta[btt]
        m = len(btt)
        qm = float(b @ np.linalg.solve(vb[np.ix_(btt, btt)], b)) / m
        qm_df, qm_df2 = m, dfs
        qm_p = float(fdtrc(m, dfs, qm))
        vtype, method = ("CR1" if adjust else "CR0"), "default"
    return RobustResult(
        beta.copy(), se, stat, df, pval, beta - crit * se, beta + crit * se, tuple(names), vb, float(qm),
        int(qm_df), float(qm_df2), float(qm_p), n, sizes, k, p, vtype, method, level, fit,
    )
