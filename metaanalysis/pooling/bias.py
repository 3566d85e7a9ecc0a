"""Small-study effects: Egger's regression test, Begg's rank test, trim and fill, and the Harbord
and Peters tests for odds ratios.

Each function takes a fitted :class:`~metaanalysis.pooling.core.PoolResult` and follows the metafor
function named in its docstring step by step (metafor 3.8), so that an R analysis reruns here with
the same numbers. Refits go through :func:`~metaanalysis.pooling.core.pool`; the regressions of
``egger_test`` (and of the side choice in ``trim_and_fill``) through
:func:`~metaanalysis.pooling.core.fit_rma`, the engine behind both ``pool`` and
:func:`~metaanalysis.pooling.regression.meta_regression`, called directly because metafor's
``regtest`` carries custom weights and a fixed tau² into the regression, which
``meta_regression`` does not take. No pooling formula is repeated here.

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a simple,
graphical test. BMJ 315:629-634.
Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
meta-analysis. In: Rothstein, Sutton, Borenstein (eds), Publication Bias in Meta-Analysis.
Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for publication
bias. Biometrics 50:1088-1101.
Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing and
adjusting for publication bias in meta-analysis. Biometrics 56:455-463; and JASA 95:89-98.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
Harbord RM, Egger M, Sterne JAC (2006). A modified test for small-study effects in meta-analyses
of controlled trials with binary endpoints. Stat Med 25:3443-3457.
Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2006). Comparison of two methods to detect
publication bias in meta-analysis. JAMA 295:676-680.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, fmt_p, jsonable, readonly
from ..errors import ConvergenceError, InputError
from ._print import p_equals

__all__ = [
    "BinaryBiasResult",
    "binary_bias_test",
    "EggerResult",
    "RankResult",
    "TrimFillResult",
    "egger_test",
    "rank_test",
    "trim_and_fill",
    "kendall_tau",
]

EGGER_MODELS = ("rma", "lm")
EGGER_PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
# predictors for which the intercept is the estimate at the limit of an infinitely large study
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")
_PREDICTOR_NAMES = {
    "sei": "standard error",
    "vi": "sampling variance",
    "ni": "sample size",
    "ninv": "inverse of the sample size",
    "sqrtni": "square root sample size",
    "sqrtninv": "inverse of the square root sample size",
}
TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")
EGGER_MIN_K = 3
RANK_MIN_K = 3


# --------------------------------------------------------------------------------------------
# helpers shared by the three functions


def _study_arrays(res):
    """yi, vi and labels of a fitted result, checked to be an intercept-only pooled fit."""
    for name in ("yi", "vi", "method"):
        if not hasattr(res, name):
            raise InputError(
                f"expected a fitted result from metaanalysis.pool(), got {type(res).__name__} "
                f"(it has no {name!r})"
            )
    if not hasattr(res, "estimate"):
        # a model with moderators: refitting it without them would answer another question
        # under the regression's name (metafor's trimfill, leave1out and cumul refuse it too)
        raise InputError(
            f"this analysis applies to a model without moderators (a pool() fit), not to a "
            f"{type(res).__name__}; fit the studies with pool() for it, and use rstudent(), "
            "cooks_distance() or dfbetas() for a meta-regression's case diagnostics"
        )
    if str(res.method).upper() in ("GLMM", "MH", "PETO"):
        # these refit inverse-variance models; a GLMM, MH or Peto fit is not one
        fit = getattr(res, "fit", None)
        hint = (" Pass its inverse-variance fit (result.fit) instead." if fit is not None else
                " Fit the studies with pool() (or pool_proportions with a tau² method) first.")
        raise InputError(f"this analysis refits inverse-variance models and cannot repeat a "
                         f"{res.method} fit.{hint}")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    labels = getattr(res, "labels", None)
    if labels is None or len(labels) != len(yi):
        labels = tuple(f"Study {i + 1}" for i in range(len(yi)))
    return yi, vi, tuple(str(x) for x in labels)


def _user_weights(res):
    """The custom weights a fit was given (metafor's ``weights=``), or None for inverse-variance."""
    w = getattr(res, "_raw_weights", None)
    return None if w is None else np.asarray(w, dtype=float)


def _pool(yi, vi, *, method, test, level, weights=None, labels=None, measure=None, tau2=None,
          control=None):
    """Refit with :func:`~metaanalysis.pooling.core.pool` (a single study is tested with z)."""
    from .core import pool

    if len(yi) == 1:
        test = "z"  # metafor's rma.uni switches to test="z" when k = 1
    kwargs = {"method": method, "level": level, "weights": weights, "labels": labels,
              "measure": measure, "tau2": tau2, "control": control}
    if test == "adhoc":
        kwargs.update(test="knha", knha_adhoc=True)
    else:
        kwargs["test"] = test
    return pool(yi, vi, **kwargs)


def _refit_like(res, keep, *, labels=None):
    """The fit ``res`` repeated on the studies ``keep`` (indices), as metafor's subset refits:
    same method, test, level, custom weights, fixed tau² and control options."""
    uw = _user_weights(res)
    return _pool(
        np.asarray(res.yi, dtype=float)[keep], np.asarray(res.vi, dtype=float)[keep],
        method=res.method, test=res.test, level=res.level,
        weights=None if uw is None else uw[keep], labels=labels,
        measure=getattr(res, "measure", None),
        tau2=res.tau2 if getattr(res, "tau2_fixed", False) else None,
        control=getattr(res, "control", None),
    )


def _regression(yi, vi, x, *, method, test, level, weights=None, tau2=None, control=None,
                X0=None):
    """Meta-regression of yi on ``X0`` (an intercept by default) and ``x`` (the model of
    metafor's ``regtest``).

    Returns ``(coef, se, statistic, pvalue, ci_low, ci_high, df)``: coefficient-wise arrays
    (``x`` last) and ``df`` the degrees of freedom of t tests (``nan`` for z tests).
    """
    from .core import fit_rma

    k = len(yi)
    X0 = np.ones((k, 1)) if X0 is None else X0
    X = np.column_stack([X0, np.asarray(x, dtype=float)])
    fit = fit_rma(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), X, method, test,
                  level, weights, tau2, control)
    df = math.nan if fit.df is None else float(fit.df)
    return fit.beta, fit.se, fit.stat, fit.pval, fit.ci_low, fit.ci_high, df


# --------------------------------------------------------------------------------------------
# Egger's regression test


@dataclass(frozen=True, eq=False, repr=False)
class EggerResult(ResultMixin):
    """Regression test for funnel-plot asymmetry (metafor's ``regtest``).

    Attributes
    ----------
    statistic : float
        z (or t) statistic of the predictor's coefficient; its sign gives the direction of the
        asymmetry.
    pvalue : float
        Two-sided p-value of the test.
    df : float
        Degrees of freedom of a t test (``nan`` for a z test).
    estimate, ci_low, ci_high : float
        The "limit estimate": the model's intercept, the effect expected in a study of infinite
        size, with its confidence interval (``nan`` for predictors ``ni`` and ``sqrtni``, which
        have no such limit).
    slope : float
        The coefficient of the predictor.
    model : str
        ``"rma"`` (meta-regression with the input's tau² method and test) or ``"lm"`` (weighted
        least squares with a multiplicative dispersion, Egger's original test).
    moderators : tuple of str
        The moderators of a meta-regression the test was added to (empty for a pooled fit).
    predictor : str
        ``"sei"``, ``"vi"``, ``"ni"``, ``"ninv"``, ``"sqrtni"`` or ``"sqrtninv"``.
    method, test : str
        tau² method and test of the refit (``test`` is ``"t"`` for ``model="lm"``).
    level : float
        Confidence level in percent.
    k : int
        Number of studies.
    """

    statistic: float
    pvalue: float
    df: float
    estimate: float
    ci_low: float
    ci_high: float
    slope: float
    model: str
    predictor: str
    method: str
    test: str
    level: float
    k: int
    moderators: tuple = ()

    def to_dict(self) -> dict:
        return jsonable(
            {
                "statistic": self.statistic,
                "pvalue": self.pvalue,
                "df": self.df,
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "slope": self.slope,
                "model": self.model,
                "predictor": self.predictor,
                "method": self.method,
                "test": self.test,
                "level": self.level,
                "k": self.k,
                "moderators": list(self.moderators),
            }
        )

    def summary(self) -> str:
        model = (
            "weighted regression with multiplicative dispersion"
            if self.model == "lm"
            else ("fixed-effects meta-regression model" if self.method in ("EE", "FE")
                  else "mixed-effects meta-regression model")
        )
        name = "t" if math.isfinite(self.df) else "z"
        df = f", df = {self.df:.0f}" if math.isfinite(self.df) else ""
        lines = [
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     {model}",
            f"Predictor: {_PREDICTOR_NAMES[self.predictor]}",
        ]
        if self.moderators:
            lines.append(f"Moderators in the model: {', '.join(self.moderators)}")
        lines += [
            "",
            f"Test for Funnel Plot Asymmetry: {name} = {fmt(self.statistic)}{df}, "
            f"p = {fmt_p(self.pvalue)}",
        ]
        if math.isfinite(self.estimate):
            lines.append(
                f"Limit Estimate (as {self.predictor} -> 0):   b = {fmt(self.estimate)} "
                f"(CI: {fmt(self.ci_low)}, {fmt(self.ci_high)})"
            )
        return "\n".join(lines)

    def _short(self) -> str:
        return (
            f"model={self.model} predictor={self.predictor} statistic={fmt(self.statistic)} "
            f"pvalue={fmt_p(self.pvalue)}"
        )


def egger_test(res, model: str = "rma", predictor: str = "sei", *, ni=None) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry, as metafor's ``regtest``.

    The effect sizes are regressed on a measure of study precision (``predictor``); a slope
    different from zero indicates small-study effects. With ``model="rma"`` (metafor's default) the
    regression is a meta-regression with the input's tau² method, test and level; with
    ``model="lm"`` it is a weighted least-squares regression with weights ``1/vi`` and a
    multiplicative dispersion parameter (Egger et al. 1997), tested with t on ``k - 2`` df
    (``k - p - 1`` for a meta-regression with p coefficients).

    Parameters
    ----------
    res : PoolResult or RegressionResult
        A fit from :func:`metaanalysis.pool`, or a meta-regression from
        :func:`metaanalysis.meta_regression`: the predictor is then added to its moderators, as
        ``regtest`` does for a model with moderators, and there is no limit estimate (metafor
        reports none either: the intercept is the effect at moderators of zero).
    model : {"rma", "lm"}
        Type of regression (see above).
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        Standard error (the default), sampling variance, sample size, its inverse, its square root
        or the inverse of its square root. The sample-size predictors need ``ni``.
    ni : array_like, optional
        Sample size of each study, in the order of ``res.yi``.

    Returns
    -------
    EggerResult
        ``statistic``, ``pvalue``, ``df`` and the limit estimate with its interval.

    Raises
    ------
    InputError
        Fewer than 3 studies (the number of coefficients plus 2 for a meta-regression), an
        unknown model or predictor, missing or bad ``ni``, or a predictor that does not vary
        across studies (or is a linear combination of the moderators).

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> out = egger_test(res)
    >>> round(out.statistic, 4), round(out.pvalue, 4), round(out.estimate, 4)
    (2.718, 0.0066, -0.161)

    References
    ----------
    metafor ``regtest``; Egger et al. (1997); Sterne and Egger (2005).
    """
    if model not in EGGER_MODELS:
        raise InputError(f"model={model!r} is not known; use one of {', '.join(EGGER_MODELS)}")
    if predictor not in EGGER_PREDICTORS:
        raise InputError(
            f"predictor={predictor!r} is not known; use one of {', '.join(EGGER_PREDICTORS)}"
        )
    from .regression import RegressionResult

    if not isinstance(res, RegressionResult) and hasattr(res, "X") and \
            not hasattr(res, "estimate"):
        # a multilevel or other model: refitting it as one level would ignore its structure
        raise InputError(f"egger_test applies to a pool() fit or a meta_regression(), not to a "
                         f"{type(res).__name__} (metafor's regtest: 'Method not available')")
    if isinstance(res, RegressionResult):
        yi, vi = np.asarray(res.yi, dtype=float), np.asarray(res.vi, dtype=float)
        X0 = np.asarray(res.X, dtype=float)
        moderators = tuple(n for n in res.coef_names if n != "intrcpt")
    else:
        yi, vi, _ = _study_arrays(res)
        X0, moderators = np.ones((len(yi), 1)), ()
    k = len(yi)
    need = max(EGGER_MIN_K, X0.shape[1] + 2)
    if k < need:
        what = (f"a meta-regression with {X0.shape[1]} coefficients" if moderators else "the fit")
        raise InputError(f"egger_test needs at least {need} studies for {what}; it has k = {k}")
    if predictor in ("sei", "vi"):
        x = np.sqrt(vi) if predictor == "sei" else vi.copy()
    else:
        if ni is None:
            raise InputError(
                f"predictor={predictor!r} needs the sample sizes: pass ni= (one per study)"
            )
        n = np.asarray(ni, dtype=float).ravel()
        if len(n) != k:
            raise InputError(f"ni has {len(n)} values but the fit has k = {k} studies")
        bad = np.flatnonzero(~np.isfinite(n) | (n <= 0))
        if len(bad):
            raise InputError(f"ni must be positive and finite; ni[{int(bad[0])}] = {n[bad[0]]!r}")
        x = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        raise InputError(
            f"the predictor {predictor!r} is the same for every study, so it cannot be separated "
            "from the intercept (metafor: model matrix not of full rank)"
        )
    if moderators:
        resid = x - X0 @ np.linalg.lstsq(X0, x, rcond=None)[0]
        if np.linalg.norm(resid) <= 1e-10 * np.linalg.norm(x):
            raise InputError(f"the predictor {predictor!r} is a linear combination of the "
                             f"moderators ({', '.join(moderators)}), so its slope cannot be "
                             "estimated (metafor: model matrix not of full rank)")
    level = check_level(getattr(res, "level", 95))
    method = res.method
    test = getattr(res, "test", "z")

    if model == "rma":
        coef, se, stat, pval, lo, hi, df = _regression(
            yi, vi, x, method=method, test=test, level=level, weights=_user_weights(res),
            tau2=res.tau2 if getattr(res, "tau2_fixed", False) else None,
            control=getattr(res, "control", None), X0=X0,
        )
        statistic, pvalue, slope = float(stat[-1]), float(pval[-1]), float(coef[-1])
        est, ci_low, ci_high = float(coef[0]), float(lo[0]), float(hi[0])
        out_test = test
    else:
        statistic, pvalue, df, est, ci_low, ci_high, slope = _egger_lm(yi, vi, x, level, X0)
        out_test, method = "t", "lm"
    if predictor not in _LIMIT_PREDICTORS or moderators or X0.shape[1] != 1:
        est = ci_low = ci_high = math.nan
    return EggerResult(
        statistic=statistic, pvalue=pvalue, df=float(df), estimate=est, ci_low=ci_low,
        ci_high=ci_high, slope=slope, model=model, predictor=predictor, method=method,
        test=out_test, level=level, k=k, moderators=moderators,
    )


def _egger_lm(yi, vi, x, level, X0):
    """Weighted least squares of yi on ``X0`` (the model's design: an intercept for a pooled
    fit) and x, with weights 1/vi and estimated dispersion."""
    from scipy import stats

    k = len(yi)
    X = np.column_stack([X0, x])
    w = 1.0 / vi
    sw = np.sqrt(w)
    # QR on the scaled design: numerically kinder than the normal equations
    q, r = np.linalg.qr(X * sw[:, None])
    coef = np.linalg.solve(r, q.T @ (yi * sw))
    resid = yi - X @ coef
    df = k - X.shape[1]
    sigma2 = float(np.sum(w * resid**2)) / df
    f = sw * (X @ coef)
    if math.isfinite(sigma2) and sigma2 < (np.mean(f) ** 2 + np.var(f, ddof=1)) * 1e-30:
        # R's summary.lm criterion: the residuals are rounding noise, and so are the test's
        # statistic and p-value
        warnings.warn("the effects lie exactly on a line in the predictor (an essentially perfect "
                      "fit): the test's statistic and p-value are rounding noise",
                      RuntimeWarning, stacklevel=3)
    rinv = np.linalg.inv(r)
    cov = sigma2 * (rinv @ rinv.T)
    se = np.sqrt(np.diag(cov))
    tstat = coef / se
    pval = 2 * stats.t.sf(np.abs(tstat), df)
    crit = stats.t.isf((1 - level / 100) / 2, df)
    return (
        float(tstat[-1]), float(pval[-1]), float(df), float(coef[0]),
        float(coef[0] - crit * se[0]), float(coef[0] + crit * se[0]), float(coef[-1]),
    )


# --------------------------------------------------------------------------------------------
# Begg and Mazumdar's rank correlation test


@dataclass(frozen=True, eq=False, repr=False)
class RankResult(ResultMixin):
    """Rank correlation test for funnel-plot asymmetry (metafor's ``ranktest``).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between the standardised effects and their sampling variances.
    pvalue : float
        Two-sided p-value: exact when no values are tied (as R's ``cor.test(exact=TRUE)``),
        otherwise the normal approximation with the tie-corrected variance.
    exact : bool
        Whether the p-value is exact.
    k : int
        Number of studies.
    """

    tau: float
    pvalue: float
    exact: bool
    k: int

    def to_dict(self) -> dict:
        return jsonable({"tau": self.tau, "pvalue": self.pvalue, "exact": self.exact, "k": self.k})

    def summary(self) -> str:
        return "\n".join(
            [
                "Rank Correlation Test for Funnel Plot Asymmetry",
                "",
                f"Kendall's tau = {fmt(self.tau)}, p = {fmt_p(self.pvalue)}"
                + ("" if self.exact else " (normal approximation: tied values)"),
            ]
        )

    def _short(self) -> str:
        return f"tau={fmt(self.tau)} pvalue={fmt_p(self.pvalue)}"


def rank_test(res, *, exact: bool = True) -> RankResult:
    """Begg and Mazumdar's rank correlation test, as metafor's ``ranktest``.

    Each effect is standardised against the equal-effects (inverse-variance) mean,
    ``(yi - theta) / sqrt(vi - 1/sum(1/vi))``, and Kendall's tau between these and ``vi`` is
    tested. The p-value is exact (the permutation distribution of the number of concordant pairs)
    unless ``exact=False`` or values are tied; then the normal approximation with R's tie-corrected
    variance is used, as R's ``cor.test``.

    Parameters
    ----------
    res : PoolResult
        A fit from :func:`metaanalysis.pool` (only its ``yi`` and ``vi`` are used).
    exact : bool
        Exact p-value when there are no ties (metafor's default).

    Returns
    -------
    RankResult
        ``tau`` and ``pvalue``.

    Raises
    ------
    InputError
        Fewer than 3 studies, or all variances (or all standardised effects) equal, where tau is
        undefined.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> out = rank_test(res)
    >>> round(out.tau, 4), round(out.pvalue, 4)
    (0.9048, 0.0028)

    References
    ----------
    metafor ``ranktest``; Begg and Mazumdar (1994).
    """
    yi, vi, _ = _study_arrays(res)
    k = len(yi)
    if k < RANK_MIN_K:
        raise InputError(f"rank_test needs at least {RANK_MIN_K} studies; the fit has k = {k}")
    wi = 1.0 / vi
    theta = float(np.sum(wi * yi) / np.sum(wi))
    vb = 1.0 / float(np.sum(wi))
    ystar = (yi - theta) / np.sqrt(vi - vb)
    tau, pvalue, was_exact = kendall_tau(ystar, vi, exact=exact)
    if not math.isfinite(tau):
        what = "sampling variance" if np.ptp(vi) == 0 else "effect size"
        raise InputError(
            f"Kendall's tau is undefined: every study has the same {what}, so there is no "
            "ranking to correlate (metafor returns NA here)"
        )
    return RankResult(tau=tau, pvalue=pvalue, exact=was_exact, k=k)


def kendall_tau(x, y, *, exact: bool = True):
    """Kendall's tau-b with a two-sided p-value, as R's ``cor.test(method="kendall")``.

    Returns ``(tau, pvalue, exact_used)``. Without ties and with ``exact=True`` the p-value comes
    from the exact distribution of the number of concordant pairs; otherwise from the normal
    approximation with the tie-corrected variance of the score (no continuity correction).
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(n, 1)
    s = float(np.sum((sx * sy)[iu]))
    n0 = n * (n - 1) / 2
    tx = _tie_sizes(x)
    ty = _tie_sizes(y)
    n1 = float(np.sum(tx * (tx - 1)) / 2)
    n2 = float(np.sum(ty * (ty - 1)) / 2)
    denom = math.sqrt((n0 - n1) * (n0 - n2))
    if denom == 0:
        return math.nan, math.nan, False
    tau = s / denom
    ties = len(tx) > 0 or len(ty) > 0
    if exact and not ties:
        q = int(round((tau + 1) * n * (n - 1) / 4))  # number of concordant pairs
        pmf = _kendall_pmf(n)
        if q > n * (n - 1) / 4:
            p = float(np.sum(pmf[q:]))
        else:
            p = float(np.sum(pmf[: q + 1]))
        return tau, min(2 * p, 1.0), True
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(tx * (tx - 1) * (2 * tx + 5)))
    vu = float(np.sum(ty * (ty - 1) * (2 * ty + 5)))
    v1 = float(np.sum(tx * (tx - 1))) * float(np.sum(ty * (ty - 1)))
    v2 = float(np.sum(tx * (tx - 1) * (tx - 2))) * float(np.sum(ty * (ty - 1) * (ty - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + (
        v2 / (9 * n * (n - 1) * (n - 2)) if n > 2 else 0.0
    )
    z = s / math.sqrt(var_s)
    return tau, float(2 * stats.norm.sf(abs(z))), False


def _tie_sizes(v):
    """Sizes (>= 2) of the groups of equal values."""
    _, counts = np.unique(v, return_counts=True)
    return counts[counts > 1].astype(float)


def _kendall_pmf(n: int) -> np.ndarray:
    """Probabilities of 0..n(n-1)/2 concordant pairs among n untied pairs (Mahonian / n!)."""
    pmf = np.ones(1)
    for m in range(2, n + 1):
        # adding an m-th element adds 0..m-1 inversions, each with probability 1/m
        c = np.concatenate([[0.0], np.cumsum(pmf)])
        size = len(pmf) + m - 1
        hi = np.minimum(np.arange(size) + 1, len(pmf))
        lo = np.maximum(np.arange(size) - m + 1, 0)
        pmf = (c[hi] - c[lo]) / m
    return pmf


# --------------------------------------------------------------------------------------------
# trim and fill


@dataclass(frozen=True, eq=False, repr=False)
class TrimFillResult(ResultMixin):
    """Trim-and-fill analysis (metafor's ``trimfill``).

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies.
    se_k0 : float
        Standard error of ``k0`` (metafor's ``se.k0``).
    p_k0 : float
        For the R0 estimator, the p-value of the test that no study is missing; ``nan`` otherwise.
    side : str
        Side of the funnel on which studies were imputed, ``"left"`` or ``"right"``.
    estimator : str
        ``"L0"``, ``"R0"`` or ``"Q0"``.
    result : PoolResult
        The fit to the observed and filled studies (the input fit itself when ``k0 == 0``).
    yi_filled, vi_filled : ndarray
        Effects and variances of the imputed studies.
    labels_filled : tuple of str
        Their labels, ``"Filled 1"``, ``"Filled 2"``...
    iterations : int
        Number of trimming iterations.
    """

    k0: int
    se_k0: float
    p_k0: float
    side: str
    estimator: str
    result: object
    yi_filled: np.ndarray
    vi_filled: np.ndarray
    labels_filled: tuple
    iterations: int

    def __post_init__(self):
        object.__setattr__(self, "yi_filled", readonly(self.yi_filled))
        object.__setattr__(self, "vi_filled", readonly(self.vi_filled))
        object.__setattr__(self, "labels_filled", tuple(self.labels_filled))

    @property
    def estimate(self) -> float:
        """The pooled estimate after filling."""
        return self.result.estimate

    def to_dict(self) -> dict:
        return jsonable(
            {
                "k0": self.k0,
                "se_k0": self.se_k0,
                "p_k0": self.p_k0,
                "side": self.side,
                "estimator": self.estimator,
                "iterations": self.iterations,
                "yi_filled": self.yi_filled,
                "vi_filled": self.vi_filled,
                "labels_filled": list(self.labels_filled),
                "result": self.result.to_dict(),
            }
        )

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {"yi": self.yi_filled, "vi": self.vi_filled},
            index=pd.Index(self.labels_filled, name="study"),
        )

    def summary(self) -> str:
        head = (
            f"Estimated number of missing studies on the {self.side} side: {self.k0} "
            f"(SE = {fmt(self.se_k0)})"
        )
        if math.isfinite(self.p_k0):
            head += (f"\nTest of H0: no missing studies on the {self.side} side:   "
                     f"p-val = {fmt_p(self.p_k0)}")
        return head + f"\nEstimator: {self.estimator}\n\n" + self.result.summary().lstrip("\n")

    def _short(self) -> str:
        return (
            f"k0={self.k0} side={self.side} estimator={self.estimator} "
            f"estimate={fmt(self.result.estimate)}"
        )


def trim_and_fill(
    res,
    side: str | None = None,
    estimator: str = "L0",
    *,
    maxiter: int = 100,
    test: str = "z",
    level: float = 95,
) -> TrimFillResult:
    """Duval and Tweedie's trim-and-fill method, as metafor's ``trimfill``.

    The side on which studies are missing is, unless given, the one opposite the sign of the
    slope of a meta-regression of ``yi`` on ``sqrt(vi)`` (with the input's tau² method): a
    negative slope means studies are missing on the right. The most extreme studies are trimmed
    until the estimated number of missing studies ``k0`` stops changing, and then ``k0`` studies
    are imputed as mirror images of the most extreme ones about the trimmed estimate, and the
    model is refitted to observed and filled studies.

    Parameters
    ----------
    res : PoolResult
        An intercept-only fit from :func:`metaanalysis.pool`.
    side : {"left", "right"}, optional
        Side on which to impute; chosen as metafor does when omitted.
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies (Duval and Tweedie 2000).
    maxiter : int
        Most trimming iterations before a :class:`~metaanalysis.errors.ConvergenceError`.
    test, level
        Test and confidence level of the fit to the filled data. metafor refits with its
        defaults, ``test="z"`` and ``level=95``, whatever the input used; these defaults keep its
        numbers. Pass ``test=res.test, level=res.level`` to keep the input's.

    Returns
    -------
    TrimFillResult
        ``k0``, ``side``, ``estimator``, the filled fit ``result`` and the imputed studies.

    Raises
    ------
    InputError
        k = 1, unknown ``side`` or ``estimator``; ``side`` omitted where it cannot be chosen
        (all variances equal, or k = 2 with a random-effects model).
    ConvergenceError
        The estimator is undefined for the data (metafor stops with an error there) or ``k0``
        does not settle within ``maxiter`` iterations.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> out = trim_and_fill(res)
    >>> out.k0, out.side, round(out.result.estimate, 4), out.result.k
    (3, 'left', 0.1371, 10)

    References
    ----------
    metafor ``trimfill``; Duval and Tweedie (2000).
    """
    if estimator not in TRIMFILL_ESTIMATORS:
        raise InputError(
            f"estimator={estimator!r} is not known; use one of {', '.join(TRIMFILL_ESTIMATORS)}"
        )
    if side is not None and side not in ("left", "right"):
        raise InputError(f"side={side!r}: use 'left', 'right' or None (chosen from the data)")
    yi0, vi0, labels = _study_arrays(res)
    k = len(yi0)
    if k < 2:
        raise InputError(f"trim_and_fill needs at least 2 studies; the fit has k = {k}")
    level = check_level(level)
    method = res.method
    uw = _user_weights(res)

    if side is None:
        if np.ptp(vi0) <= 1e-12 * float(np.max(vi0)):
            raise InputError(
                "the side cannot be chosen from the data when every study has the same variance "
                "(the regression on sqrt(vi) is not identifiable); pass side='left' or 'right'"
            )
        if k < 3 and method != "EE":
            raise InputError(
                f"with k = {k} studies the side cannot be chosen by metafor's regression on "
                "sqrt(vi) (it estimates two coefficients and tau²); pass side='left' or 'right'"
            )
        coef = _regression(yi0, vi0, np.sqrt(vi0), method=method, test="z", level=95,
                           weights=uw)[0]
        side = "right" if coef[1] < 0 else "left"

    # work on the left side: flip the effects when imputing on the right
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * yi0, kind="stable")
    y = sign * yi0[order]
    v = vi0[order]
    w = None if uw is None else uw[order]

    k0, k0_prev, iteration = 0, -1, 0
    beta = math.nan
    se_k0 = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        iteration += 1
        if iteration > maxiter:
            raise ConvergenceError(
                f"trim and fill ({estimator}, {side} side) did not converge in {maxiter} "
                "iterations; raise maxiter or try another estimator"
            )
        keep = k - k0
        if keep < 1:
            raise ConvergenceError(
                f"trim and fill ({estimator}, {side} side) estimated k0 = {k0} missing studies, "
                f"which would trim all {k} studies; try another estimator or side"
            )
        beta = float(
            _pool(y[:keep], v[:keep], method=method, test="z", level=95,
                  weights=None if w is None else w[:keep]).estimate
        )
        k0, se_k0 = _k0_step(y - beta, estimator, side)
    # filled studies: mirror images of the k0 most extreme ones about the trimmed estimate
    yi_fill = sign * (2 * beta - y[k - k0:])
    vi_fill = v[k - k0:].copy()
    labels_fill = tuple(f"Filled {i + 1}" for i in range(k0))
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else math.nan
    if k0 > 0:
        weights = None
        if uw is not None:
            weights = np.concatenate([uw, w[k - k0:]])
        filled = _pool(
            np.concatenate([yi0, yi_fill]),
            np.concatenate([vi0, vi_fill]),
            method=method, test=test, level=level, weights=weights,
            labels=list(labels) + list(labels_fill),
            measure=getattr(res, "measure", None),
        )
    else:
        filled = res
    return TrimFillResult(
        k0=int(k0), se_k0=float(se_k0), p_k0=float(p_k0), side=side, estimator=estimator,
        result=filled, yi_filled=yi_fill, vi_filled=vi_fill, labels_filled=labels_fill,
        iterations=iteration,
    )


def _k0_step(centred, estimator, side):
    """One estimate of k0 (and its SE) from effects centred on the trimmed estimate."""
    from scipy.stats import rankdata

    k = len(centred)
    ranks = rankdata(np.abs(centred), method="ordinal")  # ties by position, as R's "first"
    signed = np.sign(centred) * ranks
    if estimator == "R0":
        neg = signed[signed < 0]
        if len(neg) == 0:
            raise ConvergenceError(
                f"trim and fill (R0, {side} side): no study lies below the trimmed estimate, "
                "so R0 is undefined; try L0"
            )
        k0 = (k - np.max(-neg)) - 1
        se = math.sqrt(2 * max(0, k0) + 2)
    else:
        sr = float(np.sum(signed[signed > 0]))
        if estimator == "L0":
            k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
        else:
            disc = 2 * k**2 - 4 * sr + 0.25
            if disc < 0:
                raise ConvergenceError(
                    f"trim and fill (Q0, {side} side): the Q0 estimator is undefined for these "
                    "data (negative root); try L0 or R0"
                )
            k0 = k - 0.5 - math.sqrt(disc)
        var_sr = (
            k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0
            - 18 * k * k0**2 - 18 * k * k0 + 6 * k**2 * k0
        ) / 24
        if estimator == "L0":
            se = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan
        else:
            denom = (k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)
            se = 2 * math.sqrt(var_sr) / math.sqrt(denom) if var_sr >= 0 and denom > 0 else math.nan
    k0 = max(0, int(np.round(k0)))
    se = max(0.0, se) if math.isfinite(se) else se
    return k0, se


# --------------------------------------------------------------------------------------------
# Harbord and Peters: small-study tests for odds ratios from 2x2 tables

BINARY_BIAS_TESTS = ("harbord", "peters")


@dataclass(frozen=True, eq=False, repr=False)
class BinaryBiasResult(ResultMixin):
    """A regression test for small-study effects of odds ratios from 2x2 tables (Harbord's or
    Peters').

    Attributes
    ----------
    test : str
        ``"harbord"`` or ``"peters"``.
    statistic, df, pvalue : float
        The t statistic of the predictor's coefficient, its degrees of freedom (tables used minus
        2) and the two-sided p-value.
    bias, se_bias : float
        The coefficient of the predictor (the score's standard error for Harbord, 1/n for
        Peters) and its standard error: its sign gives the direction of the asymmetry.
    estimate, ci_low, ci_high : float
        The limit estimate (log odds ratio of a study of infinite size) with its interval.
    level : float
    k : int
        Tables used.
    excluded : tuple of str
        Tables left out, each with why.
    """

    test: str
    statistic: float
    df: float
    pvalue: float
    bias: float
    se_bias: float
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    k: int
    excluded: tuple = ()

    def to_dict(self) -> dict:
        return jsonable({"test": self.test, "statistic": self.statistic, "df": self.df,
                         "pvalue": self.pvalue, "bias": self.bias, "se_bias": self.se_bias,
                         "estimate": self.estimate, "ci_low": self.ci_low,
                         "ci_high": self.ci_high, "level": self.level, "k": self.k,
                         "excluded": list(self.excluded)})

    def _short(self) -> str:
        return f"{self.test} t={fmt(self.statistic)} p={fmt_p(self.pvalue)} k={self.k}"

    def summary(self) -> str:
        what = {"harbord": "Harbord's test (score-based, Harbord et al. 2006)",
                "peters": "Peters' test (inverse sample size, Peters et al. 2006)"}[self.test]
        lines = [f"Regression test for small-study effects of odds ratios: {what}", "",
                 f"t = {fmt(self.statistic)}, df = {self.df:g}, p-val {p_equals(self.pvalue)}",
                 f"Bias estimate: {fmt(self.bias)} (SE = {fmt(self.se_bias)})",
                 f"Limit estimate (log OR, as n -> infinity): {fmt(self.estimate)} "
                 f"(CI: {fmt(self.ci_low)}, {fmt(self.ci_high)})"]
        if self.excluded:
            lines += ["", "Left out: " + "; ".join(self.excluded)]
        return "\n".join(lines)


def binary_bias_test(ai, n1i, ci, n2i, *, test: str = "harbord", level: float = 95,
                     labels=None) -> BinaryBiasResult:
    """Harbord's or Peters' test for small-study effects of odds ratios (Cochrane Handbook
    13.3.5.3; R package meta's ``metabias`` methods ``"Harbord"`` and ``"Peters"``).

    Egger's test of log odds ratios rejects too often, because a log odds ratio and its standard
    error are correlated even without bias. Both tests avoid that:

    - ``"harbord"``: Egger's test on the efficient score ``Z = a - (a + c) n1 / n`` and its
      variance ``V = n1 n2 (a + c)(b + d) / (n² (n - 1))`` (effects Z/V with variances 1/V);
      tables with V = 0 (no events, or only events, in both arms) carry no information;
    - ``"peters"``: the log odds ratio (1/2 added to the cells of a table with a zero cell)
      regressed on 1/n, weighted by d h / n (d events, h non-events, n patients of both arms);
      tables without events, or with only events, in both arms are left out.

    Both are weighted least squares with a multiplicative dispersion and a t test on ``k - 2``
    df, as :func:`egger_test` with ``model="lm"``. With fewer than 10 tables the tests have too
    little power to tell chance from asymmetry (Cochrane Handbook 13.3.5.4).

    Parameters
    ----------
    ai, n1i, ci, n2i : array_like
        Events and patients of the treatment and control arms.
    test : {"harbord", "peters"}
    level : float
        Confidence level of the limit estimate, percent.
    labels : sequence of str, optional

    Returns
    -------
    BinaryBiasResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> mg = ma.load_li2007()      # metafor's dat.li2007: 22 trials of magnesium
    >>> res = binary_bias_test(mg.ai, mg.n1i, mg.ci, mg.n2i, test="harbord")
    >>> round(res.statistic, 4), res.df
    (-4.8763, 20.0)
    """
    from ..effects import two_by_two
    from .core import pool

    test = str(test).lower()
    if test not in BINARY_BIAS_TESTS:
        raise InputError(f"test={test!r}: use 'harbord' or 'peters'")
    lev = check_level(level)
    a, n1, c, n2 = (np.asarray(x, dtype=float).ravel() for x in (ai, n1i, ci, n2i))
    k_all = len(a)
    if not (len(n1) == len(c) == len(n2) == k_all):
        raise InputError("ai, n1i, ci and n2i must have one value per table each; got lengths "
                         f"{k_all}, {len(n1)}, {len(c)}, {len(n2)}")
    for name, x in (("ai", a), ("n1i", n1), ("ci", c), ("n2i", n2)):
        bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
        if len(bad):
            raise InputError(f"{name}[{int(bad[0])}] = {float(x[bad[0]]):g}; counts must be finite and "
                             ">= 0")
    for ev, en, tot, tn in ((a, "ai", n1, "n1i"), (c, "ci", n2, "n2i")):
        bad = np.flatnonzero(ev > tot)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{en}[{i}] = {ev[i]:g} exceeds {tn}[{i}] = {tot[i]:g}; events "
                             "cannot outnumber patients")
    names = [str(x) for x in labels] if labels is not None else [f"table {i + 1}"
                                                                 for i in range(k_all)]
    b, d = n1 - a, n2 - c
    n = n1 + n2
    events, non_events = a + c, b + d
    keep = (events > 0) & (non_events > 0)
    excluded = tuple(f"{names[i]} ({'no events' if events[i] == 0 else 'only events'} in both "
                     "arms)" for i in np.flatnonzero(~keep))
    if test == "harbord":
        z = a - events * n1 / n
        v = n1 * n2 * events * non_events / (n**2 * (n - 1))
        with np.errstate(divide="ignore", invalid="ignore"):  # V = 0: left out below
            yi, vi = z / v, 1 / v
        predictor, ni = "sei", None
    else:
        yi, _, _ = two_by_two("OR", a, b, c, d, add=0.5, to="only0", drop00=False)
        with np.errstate(divide="ignore"):
            vi = 1 / events + 1 / non_events
        predictor, ni = "ninv", n
    k = int(keep.sum())
    if k < EGGER_MIN_K:
        raise InputError(f"the {test} test needs at least {EGGER_MIN_K} tables with events and "
                         f"non-events; it has {k}")
    fit = pool(yi[keep], vi[keep], method="EE", level=lev)
    eg = egger_test(fit, model="lm", predictor=predictor,
                    ni=None if ni is None else ni[keep])
    return BinaryBiasResult(test=test, statistic=eg.statistic, df=eg.df, pvalue=eg.pvalue,
                            bias=eg.slope, se_bias=eg.slope / eg.statistic
                            if eg.statistic else math.nan, estimate=eg.estimate,
                            ci_low=eg.ci_low, ci_high=eg.ci_high, level=lev, k=k,
                            excluded=excluded)
