"""Selection models for publication bias (metafor's ``selmodel``).

A selection model says that a study with one-sided p-value ``p`` is published with relative
probability ``w(p; delta)``. The observed effects then follow a weighted normal density,

    f(y_i) = w(p_i) * phi(y_i; mu, v_i + tau2) / A_i,    A_i = E[w(p(Y))],  Y ~ N(mu, v_i + tau2),

and ``mu``, ``tau2`` and ``delta`` are estimated by maximum likelihood. The step-function model
(Vevea and Hedges 1995) has a constant weight on each p-value interval; the continuous models
(beta, half-normal, negative exponential, logistic, power) let the weight fall smoothly with ``p``.

Everything follows metafor 3.8's ``selmodel.rma.uni`` so that an R analysis reruns here with the
same numbers: the input model is refitted by ML; the parameters are optimised on metafor's scale
(``log tau2``, each ``delta`` mapped logistically onto ``[delta_min, delta_max]``) by the BFGS
method of R's ``optim`` (reimplemented here with its finite-difference gradient, step rules and
stopping rule, so the optimiser stops where R's stops; a run that stops at optim's 100
iterations is continued to 1000, see ``_bfgs_continued``); ``A_i`` of the continuous models is the
QUADPACK integral R's ``integrate`` computes (``scipy.integrate.quad`` runs the same routine with
the same tolerances); standard errors come from the Richardson-extrapolated numerical Hessian of
``numDeriv::hessian`` (``r = 6``) at the untransformed estimates.

References
----------
Vevea JL, Hedges LV (1995). A general linear model for estimating effect size in the presence of
publication bias. Psychometrika 60:419-435.
Citkowicz M, Vevea JL (2017). A parsimonious weight function for modeling publication bias.
Psychological Methods 22:28-41 (the beta model).
Preston C, Ashby D, Smyth R (2004). Adjusting for publication bias: modelling the selection
process. Journal of Evaluation in Clinical Practice 10:313-322 (half-normal, negative exponential,
logistic and power models).
Viechtbauer W. ``selmodel`` in metafor 3.8.
Nash JC (1990). Compact Numerical Methods for Computers, 2nd ed. Adam Hilger, Algorithm 21 (the
variable-metric method behind R's ``optim(method="BFGS")``, written here from the published
algorithm and R's documented defaults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import check_level, fmt, fmt_p, jsonable, readonly, zcrit
from ..errors import ConvergenceError, InputError
from ._print import p_equals
from ._result import ESTIMATE_KEYS, PooledEstimate
from .core import _stars

__all__ = ["SelModelResult", "selmodel", "SELMODEL_TYPES"]

SELMODEL_TYPES = ("beta", "halfnorm", "negexp", "logistic", "power", "stepfun")
ALTERNATIVES = ("greater", "less", "two.sided")
PREC_OPTIONS = ("sei", "vi")

_EPS = np.finfo(float).eps
# R's optim defaults for method="BFGS": maxit 100, reltol sqrt(eps), finite-difference step 1e-3
_OPTIM_MAXIT = 100
_OPTIM_RELTOL = math.sqrt(_EPS)
_OPTIM_NDEPS = 1e-3
# Where that run stops at maxit, selmodel continues it to this many iterations (see
# _bfgs_continued): on a flat ridge R's own run can converge in time where ours, whose path
# differs from R's by rounding, does not.
_FALLBACK_MAXIT = 1000
# R's integrate defaults as metafor passes them: rel.tol = abs.tol = eps^0.25, 100 subdivisions
_INT_TOL = _EPS ** 0.25
_INT_LIMIT = 100
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT1_2 = math.sqrt(0.5)


# --------------------------------------------------------------------------------------------
# the selection (weight) functions; p is the (clipped) one- or two-sided p-value


def _w_beta(p, d, s, prec):
    return p ** (d[0] - 1) * (1 - p) ** (d[1] - 1)


def _w_halfnorm(p, d, s, prec):
    return 1.0 if p <= s else math.exp(-d[0] * prec * p * p) / math.exp(-d[0] * prec * s * s)


def _w_negexp(p, d, s, prec):
    return 1.0 if p <= s else math.exp(-d[0] * prec * p) / math.exp(-d[0] * prec * s)


def _logistic_kernel(x):
    e = math.exp(-x)
    return 2 * e / (1 + e)


def _w_logistic(p, d, s, prec):
    if p <= s:
        return 1.0
    return _logistic_kernel(d[0] * prec * p) / _logistic_kernel(d[0] * prec * s)


def _w_power(p, d, s, prec):
    return 1.0 if p <= s else (1 - p) ** (prec * d[0]) / (1 - s) ** (prec * d[0])


_WEIGHT_FUNCTIONS = {
    "beta": _w_beta, "halfnorm": _w_halfnorm, "negexp": _w_negexp, "logistic": _w_logistic,
    "power": _w_power,
}


@dataclass(frozen=True)
class _Spec:
    """What metafor fixes for each type: number of deltas, bounds, start, null value."""

    n_delta: int
    lb: float              # natural lower bound of delta (CIs are clipped to it)
    delta_min: float       # box of the logistic map used in the optimisation
    delta_max: float
    delta_init: float
    h0: float              # delta under "no selection" (for the Wald tests of delta)
    pval_min: float        # p-values are clipped to [pval_min, 1 - pval_min]


def _spec(type_, n_steps):
    if type_ == "beta":
        return _Spec(2, 0.0, 1e-5, 100.0, 1.0, 1.0, 1e-5)
    if type_ == "stepfun":
        return _Spec(n_steps, 0.0, 0.0, 100.0, 1.0, 1.0, 0.0)
    return _Spec(1, 0.0, 0.0, 100.0, 1.0, 0.0, 1e-5 if type_ == "power" else 0.0)


# --------------------------------------------------------------------------------------------
# p-values and normal helpers


def _pnorm(x):
    """Standard normal CDF of a scalar (erfc keeps the lower tail accurate)."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


def _pvalues(yi, vi, alternative):
    from scipy.special import ndtr

    z = np.asarray(yi, dtype=float) / np.sqrt(vi)
    if alternative == "two.sided":
        return 2 * ndtr(-np.abs(z))
    return ndtr(-z) if alternative == "greater" else ndtr(z)


def _pvalue_scalar(y, sd, alternative):
    z = y / sd
    if alternative == "greater":
        return _pnorm(-z)
    if alternative == "less":
        return _pnorm(z)
    return 2 * _pnorm(-abs(z))


# --------------------------------------------------------------------------------------------
# the log-likelihood


class _Model:
    """The data and fixed settings of one selection model; ``negloglik`` maps a parameter vector
    ``[beta, tau2 (log or raw), delta (mapped or raw)]`` to minus the log-likelihood."""

    def __init__(self, yi, vi, type_, alternative, steps, prec, spec, delta_val, delta_min,
                 delta_max, pval_min):
        self.yi = yi
        self.vi = vi
        self.sdi = np.sqrt(vi)
        self.k = len(yi)
        self.type = type_
        self.alternative = alternative
        self.steps = steps
        self.prec = prec
        self.spec = spec
        self.delta_val = delta_val          # nan = estimated
        self.delta_min = delta_min
        self.delta_max = delta_max
        self.pval_min = pval_min
        p = _pvalues(yi, vi, alternative)
        self.pvals = np.clip(p, pval_min, 1 - pval_min)
        if type_ == "stepfun":
            self.pgrp = np.searchsorted(steps, self.pvals, side="left")
            self._thresholds()
        else:
            self.wfun = _WEIGHT_FUNCTIONS[type_]

    # ---- parameters ------------------------------------------------------------------
    def unpack(self, par, tau2_val, tau2_transf, delta_transf):
        beta = float(par[0])
        t = float(par[1])
        if tau2_transf:
            t = math.exp(t) if t < 709.0 else math.inf
        if not math.isnan(tau2_val):
            t = tau2_val
        if t < _EPS * 10:
            t = 0.0
        d = np.array(par[2:], dtype=float)
        if delta_transf:
            d = self.delta_min + (self.delta_max - self.delta_min) / (1 + np.exp(-d))
        fixed = ~np.isnan(self.delta_val)
        d[fixed] = self.delta_val[fixed]
        return beta, t, d

    def negloglik(self, par, tau2_val=math.nan, tau2_transf=True, delta_transf=True):
        beta, tau2, delta = self.unpack(par, tau2_val, tau2_transf, delta_transf)
        return -self.loglik(beta, tau2, delta)

    # ---- likelihood ------------------------------------------------------------------
    def loglik(self, beta, tau2, delta):
        yi, vi = self.yi, self.vi
        s2 = vi + tau2
        dens = -(_LOG_SQRT_2PI + 0.5 * np.log(s2) + 0.5 * (yi - beta) ** 2 / s2)
        if self.type == "stepfun":
            with np.errstate(divide="ignore"):
                logw = np.log(delta[self.pgrp] / self.prec)
            ai = self._step_norm(beta, tau2, delta)
        else:
            logw = np.array([math.log(w) if (w := self.wfun(p, delta, self.steps[0], c)) > 0
                             else -math.inf for p, c in zip(self.pvals, self.prec)])
            ai = self._integrals(beta, tau2, delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(logw + dens - np.log(ai)))

    def _integrals(self, beta, tau2, delta):
        from scipy.integrate import quad

        out = np.empty(self.k)
        alt = self.alternative
        lo, hi = self.pval_min, 1 - self.pval_min
        wfun, s = self.wfun, self.steps[0]
        for i in range(self.k):
            sdi = float(self.sdi[i])
            sd = math.sqrt(float(self.vi[i]) + tau2)
            f = _integrand(self.type, alt, wfun, delta, s, float(self.prec[i]), sdi, sd, beta,
                           lo, hi)
            res = quad(f, -np.inf, np.inf, epsabs=_INT_TOL, epsrel=_INT_TOL, limit=_INT_LIMIT,
                       full_output=1)
            if len(res) > 3 or not math.isfinite(res[0]):
                raise _IntegrationError(i)
            out[i] = res[0]
        return out

    def _thresholds(self):
        """Cut-points on the scale of y of each step (one- or two-sided)."""
        from scipy.special import ndtri

        inner = self.steps[:-1]
        if self.alternative == "two.sided":
            self.cut = np.outer(self.sdi, -ndtri(inner / 2))      # upper cut-points, > 0
        else:
            self.cut = np.outer(self.sdi, -ndtri(inner))

    def _step_norm(self, beta, tau2, delta):
        """A_i of the step function: sum over intervals of delta_j P(p_i in interval j)."""
        from scipy.special import ndtr

        sd = np.sqrt(self.vi + tau2)[:, None]
        c = self.cut
        if self.alternative == "two.sided":
            up = ndtr((beta - c) / sd)                # P(Y > c_j)
            low = ndtr((-c - beta) / sd)              # P(Y < -c_j)
            first = up[:, 0] + low[:, 0]
            mid = (up[:, 1:] - up[:, :-1]) + (low[:, 1:] - low[:, :-1])
            last = ndtr((c[:, -1] - beta) / sd[:, 0]) - ndtr((-c[:, -1] - beta) / sd[:, 0])
        else:
            m = beta if self.alternative == "greater" else -beta
            up = ndtr((m - c) / sd)                   # P(Y > c_j) (greater; mirrored for less)
            first = up[:, 0]
            mid = up[:, 1:] - up[:, :-1]
            last = ndtr((c[:, -1] - m) / sd[:, 0])
        n = len(self.steps)
        weighted = last * delta[n - 1]
        if n > 2:
            weighted = weighted + mid @ delta[1:n - 1]
        ai = first + weighted / self.prec
        return ai


def _integrand(type_, alt, wfun, delta, s, c, sdi, sd, beta, lo, hi):
    """w(p(y)) * phi(y; beta, sd) as a fast scalar closure (QUADPACK calls it a few hundred
    times per study and likelihood evaluation, so the common cases are written out inline)."""
    norm = 1.0 / (sd * math.sqrt(2 * math.pi))
    isd = 1.0 / sd
    erfc, exp = math.erfc, math.exp
    if alt != "two.sided":
        a = (_SQRT1_2 if alt == "greater" else -_SQRT1_2) / sdi
        if type_ == "beta":
            e1, e2 = delta[0] - 1, delta[1] - 1

            def f(y):
                p = 0.5 * erfc(y * a)
                p = lo if p < lo else (hi if p > hi else p)
                z = (y - beta) * isd
                return p ** e1 * (1 - p) ** e2 * norm * exp(-0.5 * z * z)

            return f
        if type_ == "negexp" and s == 0.0:
            dc = delta[0] * c

            def f(y):
                p = 0.5 * erfc(y * a)
                p = lo if p < lo else (hi if p > hi else p)
                z = (y - beta) * isd
                return exp(-dc * p - 0.5 * z * z) * norm

            return f
        if type_ == "halfnorm" and s == 0.0:
            dc = delta[0] * c

            def f(y):
                p = 0.5 * erfc(y * a)
                p = lo if p < lo else (hi if p > hi else p)
                z = (y - beta) * isd
                return exp(-dc * p * p - 0.5 * z * z) * norm

            return f

        def f(y):
            p = 0.5 * erfc(y * a)
            p = lo if p < lo else (hi if p > hi else p)
            z = (y - beta) * isd
            return wfun(p, delta, s, c) * norm * exp(-0.5 * z * z)

        return f

    def f(y):
        p = 2 * _pnorm(-abs(y / sdi))
        p = lo if p < lo else (hi if p > hi else p)
        z = (y - beta) * isd
        return wfun(p, delta, s, c) * norm * exp(-0.5 * z * z)

    return f


class _IntegrationError(Exception):
    def __init__(self, study):
        super().__init__(study)
        self.study = study


# --------------------------------------------------------------------------------------------
# R's optim(method="BFGS") and numDeriv::hessian, reimplemented


def _finite_gradient(fn, b, ndeps):
    g = np.empty(len(b))
    x = b.copy()
    for i in range(len(b)):
        x[i] = b[i] + ndeps
        f1 = fn(x)
        x[i] = b[i] - ndeps
        f2 = fn(x)
        g[i] = (f1 - f2) / (2 * ndeps)
        if not math.isfinite(g[i]):
            raise _OptimError(f"non-finite finite-difference value [{i + 1}]")
        x[i] = b[i]
    return g


class _OptimError(Exception):
    pass


def _r_bfgs(fn, par, *, maxit=_OPTIM_MAXIT, reltol=_OPTIM_RELTOL, ndeps=_OPTIM_NDEPS):
    """Minimise ``fn`` by the variable-metric method of R's ``optim(method="BFGS")``.

    The same algorithm as R's C routine ``vmmin`` (Nash's compact BFGS: backtracking line search
    with step factor 0.2 and sufficient-decrease constant 1e-4, inverse-Hessian resets on uphill
    directions and every 2n gradients, stop when the relative change in ``fn`` falls below
    ``reltol``) with R's central finite-difference gradient (step ``ndeps``). Returns
    ``(par, value, converged, fn_count, gr_count)``.
    """
    b = np.array(par, dtype=float)
    n = len(b)
    f = fn(b)
    if not math.isfinite(f):
        raise _OptimError("initial value in 'vmmin' is not finite")
    fmin = f
    funcount = gradcount = 1
    g = _finite_gradient(fn, b, ndeps)
    iteration = 1
    ilast = gradcount
    # B holds the inverse-Hessian approximation; only its lower triangle is used, and every sum
    # runs in R's order (plain loops, not BLAS) so that rounding, and so the path, is R's
    B = [[0.0] * n for _ in range(n)]
    while True:
        if ilast == gradcount:
            for i in range(n):
                for j in range(i):
                    B[i][j] = 0.0
                B[i][i] = 1.0
        x0 = b.copy()
        c = [float(v) for v in g]
        t = [0.0] * n
        gradproj = 0.0
        for i in range(n):
            acc = 0.0
            for j in range(i + 1):
                acc -= B[i][j] * g[j]
            for j in range(i + 1, n):
                acc -= B[j][i] * g[j]
            t[i] = acc
            gradproj += acc * g[i]
        if gradproj < 0.0:
            step = 1.0
            accepted = False
            while True:
                unchanged = 0
                for i in range(n):
                    b[i] = x0[i] + step * t[i]
                    if 10.0 + x0[i] == 10.0 + b[i]:
                        unchanged += 1
                if unchanged < n:
                    f = fn(b)
                    funcount += 1
                    accepted = math.isfinite(f) and f <= fmin + gradproj * step * 1e-4
                    if not accepted:
                        step *= 0.2
                if unchanged == n or accepted:
                    break
            enough = f > -math.inf and abs(f - fmin) > reltol * (abs(fmin) + reltol)
            if not enough:
                unchanged = n
                fmin = f
            if unchanged < n:
                fmin = f
                g = _finite_gradient(fn, b, ndeps)
                gradcount += 1
                iteration += 1
                d1 = 0.0
                for i in range(n):
                    t[i] = step * t[i]
                    c[i] = g[i] - c[i]
                    d1 += t[i] * c[i]
                if d1 > 0:
                    xs = [0.0] * n
                    d2 = 0.0
                    for i in range(n):
                        acc = 0.0
                        for j in range(i + 1):
                            acc += B[i][j] * c[j]
                        for j in range(i + 1, n):
                            acc += B[j][i] * c[j]
                        xs[i] = acc
                        d2 += acc * c[i]
                    d2 = 1.0 + d2 / d1
                    for i in range(n):
                        for j in range(i + 1):
                            B[i][j] += (d2 * t[i] * t[j] - xs[i] * t[j] - t[i] * xs[j]) / d1
                else:
                    ilast = gradcount
            else:
                if ilast < gradcount:
                    unchanged = 0
                    ilast = gradcount
        else:
            unchanged = 0
            if ilast == gradcount:
                unchanged = n
            else:
                ilast = gradcount
        if iteration >= maxit:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if unchanged == n and ilast == gradcount:
            break
    return b, fmin, iteration < maxit, funcount, gradcount


def _bfgs_continued(fn, start):
    """R's BFGS from ``start`` as metafor runs it, continued where it stops at optim's maxit.

    Parameters
    ----------
    fn : callable
        The objective (minus the log-likelihood on the optimisation scale).
    start : ndarray
        metafor's starting values.

    Returns
    -------
    par : ndarray
        Where the optimiser stopped.
    converged : bool
        Whether it met R's stopping rule within ``_FALLBACK_MAXIT`` iterations.
    fn_count : int
        Evaluations of ``fn`` by the run returned.
    iterations : int
        Its iterations (gradient evaluations); up to ``_OPTIM_MAXIT - 1`` for a run R's default
        limit accepts.

    Notes
    -----
    A fit that converges within R's 100 iterations is returned as R's ``optim`` returns it, so
    that ordinary fits keep metafor's numbers. Where the run stops at the limit, R's own run
    need not: on a flat ridge (tau² near 0 with the beta model; the quadrature's error of up to
    ``eps^0.25`` makes the likelihood rough there) rounding differences of 1e-14 between our
    likelihood and R's grow into another path, and one path converges in 90 iterations while the
    other is still creeping along the ridge at 100. The run is then repeated with
    ``maxit = _FALLBACK_MAXIT``: its first 100 iterations are those of the failed run (the method
    is deterministic), so it continues from where that run stopped with the BFGS state kept,
    and, as every accepted step lowers ``fn``, ends at a likelihood at least as high. This is
    R's ``optim(method = "BFGS", control = list(maxit = 1000))``, which a metafor user gets with
    ``control = list(optcontrol = list(maxit = 1000))``.
    """
    par, _, converged, fn_count, iterations = _r_bfgs(fn, start)
    if converged:
        return par, True, fn_count, iterations
    par, _, converged, fn_count, iterations = _r_bfgs(fn, start, maxit=_FALLBACK_MAXIT)
    return par, converged, fn_count, iterations


def _richardson_hessian(fn, x, *, r=6, d=0.1, eps=1e-4, zero_tol=math.sqrt(_EPS / 7e-7)):
    """Hessian of a scalar function by numDeriv's Richardson extrapolation (``hessian`` with
    ``method.args = list(r = 6)`` as metafor calls it; v = 2)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = fn(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)

    def extrapolate(a):
        a = list(a)
        for m in range(1, r):
            for j in range(r - m):
                a[j] = (a[j + 1] * 4.0 ** m - a[j]) / (4.0 ** m - 1)
        return a[0]

    hdiag = np.empty(n)
    for i in range(n):
        h = h0.copy()
        approx = []
        for _ in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            f1, f2 = fn(x + e), fn(x - e)
            approx.append((f1 - 2 * f0 + f2) / h[i] ** 2)
            h = h / 2
        hdiag[i] = extrapolate(approx)
    H = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            approx = []
            for _ in range(r):
                e = np.zeros(n)
                e[i] = h[i]
                e[j] = h[j]
                f1, f2 = fn(x + e), fn(x - e)
                approx.append((f1 - 2 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2)
                              / (2 * h[i] * h[j]))
                h = h / 2
            H[i, j] = H[j, i] = extrapolate(approx)
    return H


# --------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True, eq=False, repr=False)
class SelModelResult(PooledEstimate):
    """A fitted selection model (metafor's ``selmodel``).

    Attributes
    ----------
    estimate, se, statistic, pvalue, ci_low, ci_high : float
        The selection-adjusted pooled effect with its Wald z test and interval.
    tau2, se_tau2, tau2_ci_low, tau2_ci_high : float
        Heterogeneity under the selection model (Wald interval clipped at 0, as metafor).
    delta, se_delta, statistic_delta, pvalue_delta, ci_low_delta, ci_high_delta : ndarray
        The selection parameters. For ``stepfun`` one per p-value interval, the first fixed at 1;
        the Wald tests are of ``delta = 1`` (beta, stepfun) or ``delta = 0`` (the others), the
        intervals clipped at the lower bound 0. Fixed entries have NaN SEs.
    delta_fixed : ndarray of bool
        Which entries of ``delta`` were fixed rather than estimated.
    lrt, lrt_df, lrt_pvalue : float
        Likelihood-ratio test of no selection: the selection model against the unadjusted ML fit.
    lrt_tau2, lrt_tau2_pvalue : float
        Likelihood-ratio test of tau² = 0 within the selection model (NaN for EE / fixed tau²).
    loglik, loglik0 : float
        Log-likelihoods of the selection model and of the unadjusted ML fit.
    type, alternative, steps, prec : str, str, ndarray, str or None
        The model as specified (``steps`` includes the final 1).
    k_per_interval : ndarray of int
        For models with steps: the number of observed p-values in each interval.
    pvals : ndarray
        The studies' p-values as the model uses them (clipped).
    unadjusted : PoolResult
        The unadjusted fit the model starts from and is tested against: the input refitted by ML
        (the input itself if it is an EE or ML fit).
    """

    tau2_ci_low: float
    tau2_ci_high: float
    delta: np.ndarray
    se_delta: np.ndarray
    statistic_delta: np.ndarray
    pvalue_delta: np.ndarray
    ci_low_delta: np.ndarray
    ci_high_delta: np.ndarray
    delta_fixed: np.ndarray
    lrt: float
    lrt_df: int
    lrt_pvalue: float
    lrt_tau2: float
    lrt_tau2_pvalue: float
    loglik: float
    loglik0: float
    n_parameters: int
    k: int
    type: str
    alternative: str
    steps: np.ndarray
    prec: str | None
    k_per_interval: np.ndarray
    pvals: np.ndarray
    level: float
    method: str
    tau2_fixed: bool
    converged: bool
    fn_count: int
    unadjusted: object
    hessian: np.ndarray
    notes: tuple = ()

    def __post_init__(self):
        for name in ("delta", "se_delta", "statistic_delta", "pvalue_delta", "ci_low_delta",
                     "ci_high_delta", "steps", "pvals", "hessian"):
            object.__setattr__(self, name, readonly(getattr(self, name)))
        for name in ("delta_fixed", "k_per_interval"):
            a = np.array(getattr(self, name), copy=True)
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_parameters * math.log(self.k)

    def to_dict(self) -> dict:
        return jsonable({
            **self._scalars(ESTIMATE_KEYS), "tau2_ci_low": self.tau2_ci_low, "tau2_ci_high": self.tau2_ci_high,
            "delta": self.delta, "se_delta": self.se_delta,
            "statistic_delta": self.statistic_delta, "pvalue_delta": self.pvalue_delta,
            "ci_low_delta": self.ci_low_delta, "ci_high_delta": self.ci_high_delta,
            "delta_fixed": [bool(x) for x in self.delta_fixed],
            "lrt": self.lrt, "lrt_df": self.lrt_df, "lrt_pvalue": self.lrt_pvalue,
            "lrt_tau2": self.lrt_tau2, "lrt_tau2_pvalue": self.lrt_tau2_pvalue,
            "loglik": self.loglik, "loglik0": self.loglik0, "aic": self.aic, "bic": self.bic,
            "k": self.k, "type": self.type, "alternative": self.alternative,
            "steps": self.steps, "prec": self.prec,
            "k_per_interval": [int(x) for x in self.k_per_interval],
            "level": self.level, "method": self.method, "converged": self.converged,
            "unadjusted_estimate": self.unadjusted.estimate,
            "unadjusted_tau2": self.unadjusted.tau2,
        })

    def to_frame(self):
        """One row per selection parameter: delta, se, statistic, pvalue, ci_low, ci_high,
        fixed (and k, the studies in its interval, for models with steps)."""
        import pandas as pd

        frame = pd.DataFrame({
            "delta": self.delta, "se": self.se_delta, "statistic": self.statistic_delta,
            "pvalue": self.pvalue_delta, "ci_low": self.ci_low_delta,
            "ci_high": self.ci_high_delta, "fixed": self.delta_fixed,
        }, index=pd.Index(self._delta_labels(), name="parameter"))
        if self.type == "stepfun":
            frame.insert(0, "k", self.k_per_interval)
        return frame

    def _delta_labels(self):
        if self.type == "stepfun":
            left = ["0"] + [f"{s:g}" for s in self.steps[:-1]]
            width = max(len(x) for x in left)
            return [f"{lo.ljust(width)} < p <= {hi:g}" for lo, hi in zip(left, self.steps)]
        if len(self.delta) == 1:
            return ["delta"]
        return [f"delta.{i + 1}" for i in range(len(self.delta))]

    def _short(self) -> str:
        return f"{self.type} {self._estimate_short()} LRT p={fmt_p(self.lrt_pvalue)}"

    def summary(self) -> str:
        """Text in the layout of metafor's print of a ``selmodel`` fit."""
        out = [""]
        if self.method == "EE":
            out.append(f"Equal-Effects Model (k = {self.k})")
        else:
            how = "user-specified tau^2 value" if self.tau2_fixed else "tau^2 estimator: ML"
            out.append(f"Random-Effects Model (k = {self.k}; {how})")
        out.append("")
        if self.method != "EE":
            se_part = "" if math.isnan(self.se_tau2) else f" (SE = {fmt(self.se_tau2)})"
            out.append(f"tau^2 (estimated amount of total heterogeneity): {fmt(self.tau2)}{se_part}")
            out.append(f"tau (square root of estimated tau^2 value):      {fmt(self.tau)}")
            out.append("")
        if math.isfinite(self.lrt_tau2):
            out.append("Test for Heterogeneity:")
            out.append(f"LRT(df = 1) = {fmt(self.lrt_tau2)}, p-val {p_equals(self.lrt_tau2_pvalue)}")
            out.append("")
        out.append("Model Results:")
        out.append("")
        head = ["estimate", "se", "zval", "pval", "ci.lb", "ci.ub"]
        cells = [fmt(self.estimate), fmt(self.se), fmt(self.statistic), fmt_p(self.pvalue),
                 fmt(self.ci_low), fmt(self.ci_high)]
        out += _table(None, head, [cells], [_stars(self.pvalue)])
        out.append("")
        out.append("Test for Selection Model Parameters:")
        out.append(f"LRT(df = {self.lrt_df}) = {fmt(self.lrt)}, p-val {p_equals(self.lrt_pvalue)}")
        out.append("")
        out.append("Selection Model Results:")
        out.append("")
        labels = self._delta_labels()
        head = ["estimate", "se", "zval", "pval", "ci.lb", "ci.ub"]
        rows, stars = [], []
        for j in range(len(self.delta)):
            if self.delta_fixed[j]:
                rows.append([fmt(self.delta[j])] + ["---"] * 5)
                stars.append("")
            else:
                rows.append([fmt(self.delta[j]), fmt(self.se_delta[j]),
                             fmt(self.statistic_delta[j]), fmt_p(self.pvalue_delta[j]),
                             fmt(self.ci_low_delta[j]), fmt(self.ci_high_delta[j])])
                stars.append(_stars(self.pvalue_delta[j]))
        if self.type == "stepfun":
            head = ["k"] + head
            rows = [[str(int(n))] + r for n, r in zip(self.k_per_interval, rows)]
        out += _table(labels if (len(labels) > 1 or self.type == "stepfun") else None,
                      head, rows, stars)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append(f"Selection model: {self.type}, alternative = {self.alternative!r}"
                   + (f", prec = {self.prec!r}" if self.prec else ""))
        for note in self.notes:
            out.append(f"Note: {note}")
        return "\n".join(out) + "\n"


def _table(labels, head, rows, stars):
    width = [max([len(h)] + [len(r[j]) for r in rows]) for j, h in enumerate(head)]
    lw = max(len(x) for x in labels) if labels else 0
    pre = (lambda i: labels[i].ljust(lw) + "  ") if labels else (lambda i: "")
    out = [(" " * (lw + 2) if labels else "") + "  ".join(h.rjust(n) for h, n in zip(head, width))]
    for i, r in enumerate(rows):
        out.append(pre(i) + "  ".join(c.rjust(n) for c, n in zip(r, width)) + "  " + stars[i])
    return out


# --------------------------------------------------------------------------------------------
# the function


def selmodel(
    res,
    type: str,
    alternative: str = "greater",
    steps=None,
    *,
    prec: str | None = None,
    delta=None,
) -> SelModelResult:
    """Fit a selection model to a pooled fit, as metafor's ``selmodel``.

    The input model is refitted by maximum likelihood (an EE or ML fit is kept as is; a fixed
    tau² stays fixed) and then the selection-adjusted likelihood is maximised over the pooled
    effect, tau² and the selection parameters ``delta``, with metafor's parameterisation,
    starting values, bounds and optimiser (see the module docstring).

    Parameters
    ----------
    res : PoolResult
        An intercept-only inverse-variance fit from :func:`metaanalysis.pool` (custom weights,
        GLMM, MH and Peto fits are not allowed, as in metafor). Meta-regressions
        (``RegressionResult``) are not supported here.
    type : {"beta", "halfnorm", "negexp", "logistic", "power", "stepfun"}
        The selection function. ``beta``: ``p^(d1-1) (1-p)^(d2-1)`` (Citkowicz and Vevea);
        ``halfnorm``: ``exp(-d p^2)``; ``negexp``: ``exp(-d p)``; ``logistic``:
        ``2 exp(-d p) / (1 + exp(-d p))``; ``power``: ``(1-p)^d`` (Preston et al.); ``stepfun``:
        a constant ``delta_j`` on each interval of ``steps`` (Vevea and Hedges), the first
        fixed at 1.
    alternative : {"greater", "less", "two.sided"}
        The p-values selection acts on: one-sided for positive effects (metafor's default
        ``"greater"``), one-sided for negative effects, or two-sided.
    steps : sequence of float, optional
        For ``stepfun`` (required) the upper ends of the p-value intervals, e.g.
        ``[0.025, 0.10, 0.50, 1]`` (1 is appended if missing). For the continuous types except
        ``beta``, one value ``s``: p-values up to ``s`` get weight 1 and the function applies above.
    prec : {"sei", "vi"}, optional
        Let the strength of selection depend on precision (continuous types except beta): the
        exponent is multiplied by the study's standard error (or variance) divided by its maximum.
    delta : sequence of float, optional
        Fix selection parameters at these values (NaN = estimate); a scalar applies to all.

    Returns
    -------
    SelModelResult

    Raises
    ------
    InputError
        Bad ``type``/``alternative``/``steps``/``prec``, a fit with custom weights or a non
        inverse-variance method, too few studies, or (with steps) an interval without observed
        p-values, as metafor.
    ConvergenceError
        The optimiser does not converge in 100 iterations (R's default) nor when continued to
        1000, or an integral cannot be computed.

    Notes
    -----
    Standard errors come from a numerical Hessian, as metafor's: they agree with metafor's to
    about 1e-6 relative where the likelihood is smooth, less closely near a bound of ``delta``.

    Where R's BFGS, as repeated here, stops at optim's 100 iterations, the run is continued to
    1000 (as metafor with ``control = list(optcontrol = list(maxit = 1000))``) and the result
    carries a note. This happens on flat ridges (the beta model with tau² near 0), where the
    likelihood is rough at the scale of the quadrature's tolerance and our path and R's part
    ways: such a fit agrees with metafor's only to about 2e-3 (see
    ``tests/reference/selection_edge.R``).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = ma.pool(es.yi, es.vi, method="REML")
    >>> sel = selmodel(res, type="stepfun", steps=[0.05, 1], alternative="less")
    >>> round(sel.estimate, 4), sel.lrt_df    # metafor: -0.7316, LRT(df = 1)
    (-0.7316, 1)
    """
    if type not in SELMODEL_TYPES:
        raise InputError(f"type={type!r} is not a selection model; use one of "
                         f"{', '.join(SELMODEL_TYPES)}")
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative={alternative!r}: use one of {', '.join(ALTERNATIVES)}")
    if hasattr(res, "coef") and not hasattr(res, "estimate"):
        raise InputError("selmodel supports intercept-only fits from pool(); selection models "
                         "for meta-regressions are not implemented")
    for name in ("yi", "vi", "method", "estimate"):
        if not hasattr(res, name):
            raise InputError(f"expected a fitted result from metaanalysis.pool(), got "
                             f"{res.__class__.__name__} (it has no {name!r})")
    method = str(res.method).upper()
    if method in ("GLMM", "MH", "PETO"):
        raise InputError(f"a selection model refits an inverse-variance model and cannot use a "
                         f"{res.method} fit; pass an inverse-variance fit from pool()")
    if getattr(res, "_raw_weights", None) is not None:
        raise InputError("cannot fit a selection model to a fit with custom weights (as metafor); "
                         "refit without weights=")
    if getattr(res, "mods", None) is not None or hasattr(res, "coef"):
        raise InputError("selmodel supports intercept-only fits from pool(); meta-regressions "
                         "are not supported")
    yi = np.asarray(res.yi, dtype=float)
    vi = np.asarray(res.vi, dtype=float)
    k = len(yi)
    if np.any(vi <= 0):
        raise InputError("cannot fit a selection model when a sampling variance is not positive "
                         f"(study {int(np.flatnonzero(vi <= 0)[0])})")
    level = check_level(res.level)

    # ---- steps -------------------------------------------------------------------------
    steps_given = steps is not None
    if steps_given:
        st = np.atleast_1d(np.asarray(steps, dtype=float))
        if st.size == 0 or np.any(~np.isfinite(st)):
            raise InputError("steps must be numbers between 0 and 1 without missing values")
        if np.any((st < 0) | (st > 1)):
            raise InputError(f"steps must lie between 0 and 1; got {list(st)}")
        st = np.unique(st)
        if st[-1] != 1:
            st = np.append(st, 1.0)
    if type == "stepfun":
        if not steps_given:
            raise InputError("type='stepfun' needs steps=, e.g. steps=[0.025, 0.10, 0.50, 1]")
        if len(st) < 2:
            raise InputError("steps must contain at least one cut-point below 1 for 'stepfun'")
    elif type == "beta":
        st = np.array([0.0, 1.0]) if not steps_given else st
        if steps_given:
            steps_given = False  # metafor ignores steps for the beta model
    else:
        if steps_given and len(st) != 2:
            raise InputError(f"type={type!r} takes a single value for steps (p-values up to it "
                             "get weight 1)")
        if not steps_given:
            st = np.array([0.0, 1.0])

    # ---- precision -----------------------------------------------------------------------
    if prec is not None:
        if prec not in PREC_OPTIONS:
            raise InputError(f"prec={prec!r}: use one of {', '.join(PREC_OPTIONS)} (or None)")
        if type in ("beta", "stepfun"):
            raise InputError(f"prec= is not available for type={type!r}")
        preci = np.sqrt(vi) if prec == "sei" else vi.copy()
        preci = preci / np.max(preci)
    else:
        preci = np.ones(k)

    spec = _spec(type, len(st))
    nd = spec.n_delta
    if delta is None:
        delta_val = np.full(nd, math.nan)
    else:
        delta_val = np.atleast_1d(np.asarray(delta, dtype=float))
        if delta_val.size == 1:
            delta_val = np.repeat(delta_val, nd)
        if delta_val.size != nd:
            raise InputError(f"delta should have {nd} values for this selection model")
        bad = ~np.isnan(delta_val) & ((delta_val < spec.lb) | ((delta_val <= spec.lb) & (type == "beta")))
        if np.any(bad):
            raise InputError(f"delta must be {'>' if type == 'beta' else '>='} {spec.lb:g} for "
                             f"type={type!r}")
    if type == "stepfun" and math.isnan(delta_val[0]):
        delta_val[0] = 1.0
    delta_min = np.full(nd, spec.delta_min)
    delta_max = np.full(nd, spec.delta_max)
    fixed = ~np.isnan(delta_val)
    # a fixed value outside the box widens it slightly, as metafor does
    delta_min = np.where(fixed & (delta_min > delta_val), delta_val - _EPS ** 0.2, delta_min)
    delta_max = np.where(fixed & (delta_max < delta_val), delta_val + _EPS ** 0.2, delta_max)
    delta_init = np.where(fixed, delta_val, spec.delta_init)
    delta_init = np.log((delta_init - delta_min) / (delta_max - delta_init))

    # ---- the unadjusted ML fit -------------------------------------------------------------
    ml = _ml_refit(res, method)
    ee = ml.method == "EE"
    tau2_fix = bool(getattr(res, "tau2_fixed", False))
    tau2_val = 0.0 if ee else (float(ml.tau2) if tau2_fix else math.nan)
    n_free = 1 + (0 if (ee or tau2_fix) else 1) + int(np.sum(~fixed))
    if k < n_free:
        raise InputError(f"number of studies (k = {k}) is too small to fit this selection model "
                         f"({n_free} parameters)")

    model = _Model(yi, vi, type, alternative, st, preci, spec, delta_val, delta_min, delta_max,
                   spec.pval_min)
    k_per_interval = np.zeros(0, dtype=int)
    if type == "stepfun" or (steps_given and type != "beta"):
        k_per_interval = np.bincount(np.searchsorted(st, model.pvals, side="left"),
                                     minlength=len(st))[: len(st)]
        empty = k_per_interval == 0
        if type == "stepfun" and np.any(empty & ~fixed):
            which = [i for i in np.flatnonzero(empty & ~fixed)]
            raise InputError(
                f"p-value interval(s) {', '.join(_interval_text(st, i) for i in which)} contain "
                "no observed p-values, so their selection weights cannot be estimated; merge "
                "them with a neighbour (change steps=) or fix them with delta="
            )
        if type != "stepfun" and np.any(empty):
            raise InputError(f"one of the p-value intervals {list(st)} contains no observed "
                             "p-values; choose another steps value")

    start = np.concatenate([[float(ml.estimate), math.log(float(ml.tau2) + 0.001)], delta_init])

    def objective(par, tau2_v=tau2_val):
        return model.negloglik(par, tau2_v)

    try:
        par, converged, fn_count, iterations = _bfgs_continued(objective, start)
    except _IntegrationError as e:
        raise ConvergenceError(f"selmodel ({type}): could not integrate over the density of "
                               f"study {e.study} during the optimisation") from None
    except _OptimError as e:
        raise ConvergenceError(f"selmodel ({type}): error during the optimisation ({e})") from None
    if not converged:
        # whether metafor converges here is not known: its path differs from ours by rounding
        raise ConvergenceError(
            f"selmodel ({type}): the BFGS optimiser did not converge in {_OPTIM_MAXIT} "
            f"iterations (R's optim default, as metafor runs it) nor when continued to "
            f"{_FALLBACK_MAXIT}; the likelihood may be flat or unbounded in some direction "
            "(fixing delta= or another selection type may help)")
    beta, tau2, dlt = model.unpack(par, tau2_val, True, True)
    ll = model.loglik(beta, tau2, dlt)
    notes = []
    if iterations >= _OPTIM_MAXIT:
        notes.append(f"the BFGS optimiser needed {iterations} iterations, more than the "
                     f"{_OPTIM_MAXIT} that metafor's default (R's optim) allows; metafor allows "
                     f"as many with control = list(optcontrol = list(maxit = {_FALLBACK_MAXIT}))")
    if np.any(dlt <= delta_min + _EPS ** 0.25) or np.any(dlt >= delta_max - 100 * _EPS ** 0.25):
        notes.append("one or more delta estimates are (almost) at their lower or upper bound; "
                     "treat the results with caution")

    # ---- standard errors from the numerical Hessian ---------------------------------------
    est_mask = np.concatenate([[True], [math.isnan(tau2_val)], ~fixed])
    theta = np.concatenate([[beta, tau2], dlt])

    def raw_negll(x_sub):
        full = theta.copy()
        full[est_mask] = x_sub
        return model.negloglik(full, tau2_val, tau2_transf=False, delta_transf=False)

    se_beta = se_tau2 = math.nan
    vd = np.full(nd, math.nan)
    try:
        H = _richardson_hessian(raw_negll, theta[est_mask])
    except _IntegrationError:
        H = np.full((int(est_mask.sum()),) * 2, math.nan)
        notes.append("the Hessian could not be computed; standard errors are missing")
    Hfull = np.full((len(theta), len(theta)), math.nan)
    Hfull[np.ix_(est_mask, est_mask)] = H
    try:
        if not np.all(np.isfinite(H)):
            raise np.linalg.LinAlgError
        L = np.linalg.cholesky(H)
        Linv = np.linalg.inv(L)
        cov = Linv.T @ Linv
        if not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
        var = np.full(len(theta), math.nan)
        var[est_mask] = np.diag(cov)
        se_beta = math.sqrt(var[0])
        if math.isnan(tau2_val):
            se_tau2 = math.sqrt(var[1])
        vd = np.sqrt(var[2:])
    except np.linalg.LinAlgError:
        if not notes or "Hessian" not in notes[-1]:
            notes.append("the Hessian could not be inverted; standard errors are missing")

    from scipy.stats import chi2, norm

    crit = zcrit(level)
    z = beta / se_beta if se_beta > 0 else math.nan
    pval = float(2 * norm.sf(abs(z))) if math.isfinite(z) else math.nan
    zd = (dlt - spec.h0) / vd
    pd = 2 * norm.sf(np.abs(zd))
    ci_lo_d = np.maximum(dlt - crit * vd, spec.lb)
    ci_hi_d = dlt + crit * vd
    zd[fixed], pd[fixed] = math.nan, math.nan
    t2_lo = max(0.0, tau2 - crit * se_tau2) if math.isfinite(se_tau2) else math.nan
    t2_hi = tau2 + crit * se_tau2

    # ---- likelihood-ratio tests -----------------------------------------------------------
    lrt_tau2 = lrt_tau2_p = math.nan
    if not ee and not tau2_fix:
        try:
            par0, *_ = _r_bfgs(lambda p: model.negloglik(p, 0.0), start)
            b0, t0, d0 = model.unpack(par0, 0.0, True, True)
            lrt_tau2 = max(0.0, -2 * (model.loglik(b0, t0, d0) - ll))
            lrt_tau2_p = float(chi2.sf(lrt_tau2, 1))
        except (_IntegrationError, _OptimError):
            notes.append("the likelihood-ratio test for heterogeneity could not be computed")
    ll0 = _ml_loglik(yi, vi, float(ml.estimate), 0.0 if ee else float(ml.tau2))
    lrt = max(0.0, -2 * (ll0 - ll))
    lrt_df = int(np.sum(~fixed))
    lrt_p = float(chi2.sf(lrt, lrt_df)) if lrt_df > 0 else math.nan

    return SelModelResult(
        estimate=beta, se=se_beta, statistic=z, pvalue=pval,
        ci_low=beta - crit * se_beta, ci_high=beta + crit * se_beta,
        tau2=tau2, se_tau2=se_tau2, tau2_ci_low=t2_lo, tau2_ci_high=t2_hi,
        delta=dlt, se_delta=vd, statistic_delta=zd, pvalue_delta=pd,
        ci_low_delta=ci_lo_d, ci_high_delta=ci_hi_d, delta_fixed=fixed,
        lrt=lrt, lrt_df=lrt_df, lrt_pvalue=lrt_p, lrt_tau2=lrt_tau2,
        lrt_tau2_pvalue=lrt_tau2_p, loglik=ll, loglik0=ll0, n_parameters=n_free, k=k,
        type=type, alternative=alternative, steps=st if type == "stepfun" or steps_given else st[:0],
        prec=prec, k_per_interval=k_per_interval, pvals=model.pvals, level=level,
        method="EE" if ee else "ML", tau2_fixed=tau2_fix, converged=converged,
        fn_count=fn_count, unadjusted=ml, hessian=Hfull, notes=tuple(notes),
    )


def _interval_text(st, i):
    lo = 0.0 if i == 0 else st[i - 1]
    return f"({lo:g}, {st[i]:g}]"


def _ml_refit(res, method):
    """The input refitted by ML (EE and ML fits are kept), as metafor does before selmodel."""
    if method in ("EE", "FE", "ML"):
        return res
    from .core import pool

    kwargs = {"method": "ML", "level": res.level, "labels": res.labels,
              "measure": getattr(res, "measure", None), "control": getattr(res, "control", None)}
    if getattr(res, "tau2_fixed", False):
        kwargs["tau2"] = res.tau2
    return pool(res.yi, res.vi, **kwargs)


def _ml_loglik(yi, vi, mu, tau2):
    """Log-likelihood of the normal random-effects model (metafor's ML logLik)."""
    s2 = vi + tau2
    return float(-0.5 * len(yi) * math.log(2 * math.pi) - 0.5 * np.sum(np.log(s2))
                 - 0.5 * np.sum((yi - mu) ** 2 / s2))
