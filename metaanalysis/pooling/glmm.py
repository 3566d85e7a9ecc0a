"""Generalised linear (mixed) models for two-arm tables: metafor's ``rma.glmm(measure="OR")``.

Four models, as in metafor (Stijnen, Hamza and Özdemir 2010; Jackson et al. 2018):

* ``UM.FS`` unconditional model with fixed study effects: per study an intercept ``alpha_i``, arm
  logits ``alpha_i + beta + u_i/2`` and ``alpha_i - u_i/2``, ``u_i ~ N(0, tau²)`` (metafor's default
  coding 1/2). ``method="EE"`` is the logistic regression with study intercepts (tau² = 0).
* ``UM.RS`` unconditional model with random study effects: ``alpha_i = beta0 + v_i``,
  ``v_i ~ N(0, sigma²)`` independent of ``u_i``.
* ``CM.EL`` conditional model, exact likelihood: given the total number of events of a study, the
  events of arm 1 follow Fisher's noncentral hypergeometric distribution with odds ratio
  ``exp(theta_i)``, ``theta_i ~ N(beta, tau²)``.
* ``CM.AL`` conditional model, approximate likelihood: the events of arm 1 out of all events are
  binomial with logit ``theta_i + log(n1i / n2i)``, ``theta_i ~ N(beta, tau²)``.

Integrals over one random effect use adaptive Gauss-Hermite quadrature on 7 nodes (lme4's
``nAGQ = 7``, metafor's default), over two (``UM.RS``) the Laplace approximation (metafor sets
``nAGQ = 1`` there), and for ``CM.EL`` an adaptive rule accurate to rounding (metafor integrates with
R's ``integrate``). Maximum likelihood is reached to full precision; lme4 stops its Nelder-Mead
search earlier, so metafor's random-effects estimates agree with ours to about 1e-4 to 1e-6
(the tests state each tolerance). ``UM.RS`` can differ more: lme4's Laplace log-likelihood is not
exactly the textbook one (3.6e-4 apart at the same parameters on one of 128 random data sets
checked against metafor, where the estimates then differed by 0.1 % and the SEs by 1.2 %; ours
equals a direct Laplace evaluation). Standard errors come from the observed information (the inverse
Hessian of the log-likelihood over all parameters), as lme4's and metafor's.

Heterogeneity: the Wald and likelihood-ratio tests of the saturated model (one log odds ratio per
study) against the common-effect model, as metafor prints them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .._base import as_float_array, check_level, fmt, fmt_p, jsonable, readonly, same_length, zcrit
from ..errors import ConvergenceError, InputError
from ._print import p_equals
from ._result import ESTIMATE_KEYS, PooledEstimate

__all__ = ["GlmmResult", "rma_glmm"]

MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
METHODS = ("ML", "EE")
AGQ_NODES = 7  # metafor's rma.glmm default nAGQ
_EXACT_NODES = 32  # CM.EL: Gauss-Hermite nodes around the mode; converged to rounding (tested)
_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# --------------------------------------------------------------------------------------------
# families: log-likelihood (without constants), mean and variance in the linear predictor


class _Binomial:
    def __init__(self, x, n):
        from scipy.special import gammaln

        self.y = x
        self.n = n
        self.const = float(np.sum(gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1)))

    def ll(self, eta, y=None, n=None):
        y = self.y if y is None else y
        n = self.n if n is None else n
        return y * eta - n * np.logaddexp(0.0, eta)

    def mean_var(self, eta, n=None):
        from scipy.special import expit

        n = self.n if n is None else n
        p = expit(eta)
        return n * p, n * p * (1 - p)

    def saturated_ll(self):
        from scipy.special import xlogy

        y, n = self.y, self.n
        return float(np.sum(xlogy(y, y / n) + xlogy(n - y, 1 - y / n)))


class _Poisson:
    """Counts with the log person-time folded into the linear predictor."""

    def __init__(self, x, t):
        from scipy.special import gammaln

        self.y = x
        self.logt = np.log(t)
        self.const = float(np.sum(-gammaln(x + 1)))

    def ll(self, eta, y=None, n=None):
        y = self.y if y is None else y
        return y * eta - np.exp(eta)

    def mean_var(self, eta, n=None):
        mu = np.exp(eta)
        return mu, mu

    def saturated_ll(self):
        from scipy.special import xlogy

        y = self.y
        return float(np.sum(xlogy(y, y) - y))


# --------------------------------------------------------------------------------------------
# adaptive quadrature over one random effect per study


@functools.lru_cache(maxsize=8)
def _gauss_hermite(nodes):
    return np.polynomial.hermite.hermgauss(nodes)


def _agq_study_ll(fam, eta0, z, tau, nodes=AGQ_NODES, y=None, n=None):
    """Per-study log-likelihood with one normal random effect ``b_i = tau * u_i`` entering the
    linear predictor as ``eta0 + z * b_i`` (arrays ``(k, m)``: m observations per study).

    The integrand over the standardised ``u`` is centred at its mode and scaled by its curvature
    there (lme4's adaptive Gauss-Hermite scheme; one node is the Laplace approximation).
    """
    gx, gw = _gauss_hermite(nodes)
    k = eta0.shape[0]
    u = np.zeros(k)
    if y is None:
        y = fam.y.reshape(eta0.shape)
        n = getattr(fam, "n", None)
        n = None if n is None else n.reshape(eta0.shape)
    def hval(uv):
        return fam.ll(eta0 + tau * z * uv[:, None], y, n).sum(axis=1) - uv**2 / 2

    h_old = hval(u)
    for _ in range(200):
        mu, w = fam.mean_var(eta0 + tau * z * u[:, None], n)
        grad = tau * np.sum(z * (y - mu), axis=1) - u
        hess = -(tau**2) * np.sum(z * z * w, axis=1) - 1.0
        step = np.clip(grad / hess, -5.0, 5.0)
        # the integrand is log-concave, but a full Newton step can overshoot where the logistic
        # curve is steep (a large arm): halve it until the log integrand does not drop
        for _ in range(60):
            h_new = hval(u - step)
            worse = h_new < h_old - 1e-12 * np.abs(h_old)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        u = u - step
        h_old = h_new
        if np.max(np.abs(step)) < 1e-11:
            break
    _, w = fam.mean_var(eta0 + tau * z * u[:, None], n)
    sigma = 1.0 / np.sqrt(tau**2 * np.sum(z * z * w, axis=1) + 1.0)
    uu = u[:, None] + _SQRT2 * sigma[:, None] * gx[None, :]  # (k, Q)
    eta = eta0[:, :, None] + tau * z[:, :, None] * uu[:, None, :]  # (k, m, Q)
    ll = fam.ll(eta, y[:, :, None], None if n is None else n[:, :, None]).sum(axis=1)
    h = ll - uu**2 / 2 + gx[None, :] ** 2
    hmax = h.max(axis=1, keepdims=True)
    integral = np.log(np.sum(gw[None, :] * np.exp(h - hmax), axis=1)) + hmax[:, 0]
    return integral + np.log(_SQRT2 * sigma) - _LOG_SQRT_2PI


def _laplace2_study_ll(fam, eta0, z1, z2, s1, s2):
    """Per-study Laplace approximation with two independent normal random effects
    ``b = (s1 * u1, s2 * u2)`` entering as ``eta0 + z1 * b1 + z2 * b2`` (lme4's nAGQ = 1)."""
    k = eta0.shape[0]
    u1 = np.zeros(k)
    u2 = np.zeros(k)
    y = fam.y.reshape(eta0.shape)
    n = getattr(fam, "n", None)
    n = None if n is None else n.reshape(eta0.shape)
    a1, a2 = s1 * z1, s2 * z2

    def hval(v1, v2):
        return fam.ll(eta0 + a1 * v1[:, None] + a2 * v2[:, None], y, n).sum(axis=1) - (v1**2 + v2**2) / 2

    h_old = hval(u1, u2)
    for _ in range(200):
        eta = eta0 + a1 * u1[:, None] + a2 * u2[:, None]
        mu, w = fam.mean_var(eta, n)
        r = y - mu
        g1 = np.sum(a1 * r, axis=1) - u1
        g2 = np.sum(a2 * r, axis=1) - u2
        h11 = np.sum(a1 * a1 * w, axis=1) + 1
        h22 = np.sum(a2 * a2 * w, axis=1) + 1
        h12 = np.sum(a1 * a2 * w, axis=1)
        det = h11 * h22 - h12**2
        d1 = (h22 * g1 - h12 * g2) / det
        d2 = (h11 * g2 - h12 * g1) / det
        d1, d2 = np.clip(d1, -5, 5), np.clip(d2, -5, 5)
        for _ in range(60):  # step halving, as in _agq_study_ll
            h_new = hval(u1 + d1, u2 + d2)
            worse = h_new < h_old - 1e-12 * np.abs(h_old)
            if not worse.any():
                break
            d1, d2 = np.where(worse, d1 / 2, d1), np.where(worse, d2 / 2, d2)
        h_old = h_new
        u1, u2 = u1 + d1, u2 + d2
        if max(np.max(np.abs(d1)), np.max(np.abs(d2))) < 1e-11:
            break
    eta = eta0 + a1 * u1[:, None] + a2 * u2[:, None]
    _, w = fam.mean_var(eta, n)
    h11 = np.sum(a1 * a1 * w, axis=1) + 1
    h22 = np.sum(a2 * a2 * w, axis=1) + 1
    h12 = np.sum(a1 * a2 * w, axis=1)
    ll = fam.ll(eta, y, n).sum(axis=1)
    return ll - (u1**2 + u2**2) / 2 - 0.5 * np.log(h11 * h22 - h12**2)


# --------------------------------------------------------------------------------------------
# numerical helpers


def _hessian(f, x, rel=1e-4, richardson=True):
    """Central-difference Hessian (proportions' rule), by default with one Richardson step
    (error of order h^4): steps of 5 and 10 times ``rel``."""
    from .proportions import _hessian as plain

    if not richardson:
        return plain(f, x, rel)
    return (4 * plain(f, x, rel * 5) - plain(f, x, rel * 10)) / 3


def _minimise(f, x0, bounds, tried):
    """Minimise ``f`` from ``x0`` (L-BFGS-B, then Nelder-Mead from its end point, then Newton steps
    on a finite-difference Hessian); returns the best point and value."""
    from scipy.optimize import minimize

    best_x, best_f = np.asarray(x0, dtype=float), f(np.asarray(x0, dtype=float))
    res = minimize(f, best_x, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000})
    tried.append(f"L-BFGS-B: {res.message}")
    if np.isfinite(res.fun) and res.fun <= best_f:
        best_x, best_f = res.x, float(res.fun)
    if not (res.success and np.isfinite(res.fun)):
        res = minimize(f, best_x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
        x_nm = res.x.copy()
        for i, (lo, hi) in enumerate(bounds):
            if lo is not None:
                x_nm[i] = max(x_nm[i], lo)
        f_nm = f(x_nm)
        if np.isfinite(f_nm) and f_nm <= best_f:
            best_x, best_f = x_nm, f_nm
        tried.append("Nelder-Mead")
    for _ in range(20):
        free = np.array([not (lo is not None and best_x[i] <= lo) for i, (lo, _) in enumerate(bounds)])
        if not free.any():
            break
        g = np.array([(f(best_x + e) - f(best_x - e)) / (2 * e[i]) for i, e in
                      enumerate(np.diag([1e-6 * max(abs(v), 1.0) for v in best_x]))])
        hmat = _hessian(f, best_x, richardson=False)
        try:
            step = np.zeros_like(best_x)
            step[free] = np.linalg.solve(hmat[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) < 1e-10:
            break
        improved = False
        for scale in (1.0, 0.5, 0.25, 0.1):
            cand = best_x - scale * step
            for i, (lo, _) in enumerate(bounds):
                if lo is not None:
                    cand[i] = max(cand[i], lo)
            fc = f(cand)
            if np.isfinite(fc) and fc <= best_f:
                best_x, best_f, improved = cand, fc, True
                break
        if not improved or np.max(np.abs(step)) < 1e-8:
            break
    tried.append("Newton polish")
    return np.asarray(best_x, dtype=float), float(best_f)


def _newton_1d_vec(fun, x0, tol=1e-10, maxit=100):
    """Maximise separable per-study functions over each ``x_i`` by Newton steps on central
    differences (the studies do not interact). ``fun`` maps an ``(r, k)`` array of points to their
    ``(r, k)`` values, so that the three points of a difference cost one vectorised call."""
    x = np.array(x0, dtype=float)
    for _ in range(maxit):
        h = 1e-4 * np.maximum(np.abs(x), 1.0)
        f0, fp, fm = fun(np.stack([x, x + h, x - h]))
        g = (fp - fm) / (2 * h)
        c = (fp - 2 * f0 + fm) / h**2
        step = np.where(c < 0, -g / np.where(c < 0, c, -1.0), np.sign(g) * 1.0)
        step = np.clip(step, -3, 3)
        # keep only improving steps (halve otherwise)
        for _ in range(30):
            fn = fun((x + step)[None, :])[0]
            worse = ~(fn >= f0 - 1e-13)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        x = x + step
        if np.max(np.abs(step)) < tol:
            break
    return x


def _glm_fit(X, y, n=None, offset=None, poisson=False, eps=1e-8, maxit=25):
    """Logistic (binomial ``y`` of ``n``) or Poisson regression by R's ``glm.fit`` iteration.

    Same start (``mustart``), iteratively reweighted least squares and stopping rule
    (``|dev - dev_old| / (|dev| + 0.1) < eps``) as R, and, as R's ``vcov``, the inverse of
    ``X'WX`` with the weights of the last iteration (computed before its update): metafor's
    equal-effects fits report exactly these standard errors, which differ from the converged
    information by up to about 1e-6.
    """
    from scipy.special import expit, xlogy

    off = np.zeros(len(y)) if offset is None else offset
    if poisson:
        mu = y + 0.1
        eta = np.log(mu)
    else:
        mu = (y + 0.5) / (n + 1)
        eta = np.log(mu / (1 - mu))
        mu = n * mu

    def deviance(mu_):
        if poisson:
            return float(2 * np.sum(xlogy(y, y / mu_) - (y - mu_)))
        return float(2 * np.sum(xlogy(y, y / mu_) + xlogy(n - y, (n - y) / (n - mu_))))

    dev_old = deviance(mu)
    coef = np.zeros(X.shape[1])
    w = None
    for _ in range(maxit):
        w = mu if poisson else mu * (1 - mu / n)
        z = eta - off + (y - mu) / w
        sw = np.sqrt(w)
        # least squares on the weighted design (orthogonal factorisation, as R's QR): normal
        # equations would lose the digits of cells whose weight runs to 0 (a zero cell)
        coef = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        eta = X @ coef + off
        mu = np.exp(eta) if poisson else n * expit(eta)
        dev = deviance(mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < eps:
            break
        dev_old = dev
    rmat = np.linalg.qr(X * np.sqrt(w)[:, None], mode="r")
    rinv = np.linalg.inv(rmat)
    return coef, rinv @ rinv.T, eta


def _wald_saturated(X_fe, X_extra, y, n=None, offset=None, poisson=False):
    """Wald test that the coefficients of ``X_extra`` are 0 in the glm on ``[X_fe, X_extra]``
    (metafor's saturated-model test of heterogeneity), with R's glm iteration and covariance."""
    X = np.hstack([X_fe, X_extra])
    coef, cov, _ = _glm_fit(X, y, n, offset, poisson)
    p = X_fe.shape[1]
    b2 = coef[p:]
    v2 = cov[p:, p:]
    try:
        return max(0.0, float(b2 @ np.linalg.solve(v2, b2)))
    except np.linalg.LinAlgError:
        return math.nan


# --------------------------------------------------------------------------------------------
# Fisher's noncentral hypergeometric distribution (CM.EL)


class _NCHG:
    """log pmf of the arm-1 events ``a_i`` given the total ``m_i = a_i + c_i``, for every study, as a
    function of the log odds ratio: support ``max(0, m - n2) .. min(n1, m)``."""

    def __init__(self, a, n1, c, n2):
        from scipy.special import gammaln

        m = a + c
        lo = np.maximum(0, m - n2)
        hi = np.minimum(n1, m)
        width = int(np.max(hi - lo)) + 1
        xs = lo[:, None] + np.arange(width)[None, :]
        valid = xs <= hi[:, None]
        xs = np.where(valid, xs, lo[:, None])
        logc = (gammaln(n1[:, None] + 1) - gammaln(xs + 1) - gammaln(n1[:, None] - xs + 1)
                + gammaln(n2[:, None] + 1) - gammaln(m[:, None] - xs + 1) - gammaln(n2[:, None] - m[:, None] + xs + 1))
        self.logc = np.where(valid, logc, -np.inf)
        self.xs = xs.astype(float)
        self.valid = valid
        self.a = a
        self.idx = (a - lo).astype(int)
        self.lo, self.hi = lo, hi

    def logpmf(self, theta):
        """``theta`` of shape (k,) or (k, Q); returns the log pmf at the observed ``a``, same shape."""
        from scipy.special import logsumexp

        th = np.asarray(theta, dtype=float)
        expand = th.ndim == 1
        if expand:
            th = th[:, None]
        terms = self.logc[:, None, :] + th[:, :, None] * self.xs[:, None, :]  # (k, Q, S)
        norm = logsumexp(terms, axis=2)
        rows = np.arange(len(self.a))
        obs = self.logc[rows, self.idx][:, None] + th * self.a[:, None]
        out = obs - norm
        return out[:, 0] if expand else out

    def moments(self, theta):
        """Mean and variance of the arm-1 events at log odds ratios ``theta`` (k,)."""
        from scipy.special import logsumexp

        terms = self.logc + theta[:, None] * self.xs
        p = np.exp(terms - logsumexp(terms, axis=1, keepdims=True))
        mean = np.sum(p * self.xs, axis=1)
        var = np.sum(p * (self.xs - mean[:, None]) ** 2, axis=1)
        return mean, var

    def marginal_ll(self, beta, tau, nodes=_EXACT_NODES):
        """Per-study log of ``∫ pmf(a | theta) N(theta; beta, tau²) dtheta`` by Gauss-Hermite
        quadrature centred at the mode of the integrand and scaled by its curvature."""
        k = len(self.a)
        if tau == 0:
            return self.logpmf(np.full(k, beta))
        # mode of log pmf(theta) - (theta - beta)²/(2 tau²): concave, Newton converges
        th = np.full(k, float(beta))
        for _ in range(200):
            mean, var = self.moments(th)
            g = self.a - mean - (th - beta) / tau**2
            hh = -var - 1 / tau**2
            step = np.clip(g / hh, -2.0, 2.0)
            th = th - step
            if np.max(np.abs(step)) < 1e-12:
                break
        _, var = self.moments(th)
        s = 1 / np.sqrt(var + 1 / tau**2)
        gx, gw = _gauss_hermite(nodes)
        tt = th[:, None] + _SQRT2 * s[:, None] * gx[None, :]
        h = self.logpmf(tt) - (tt - beta) ** 2 / (2 * tau**2) + gx[None, :] ** 2
        hmax = h.max(axis=1, keepdims=True)
        integral = np.log(np.sum(gw[None, :] * np.exp(h - hmax), axis=1)) + hmax[:, 0]
        return integral + np.log(_SQRT2 * s) - math.log(tau) - _LOG_SQRT_2PI

    def conditional_mle(self):
        """Per-study conditional MLE of the log odds ratio (±inf when ``a`` is at an end of its
        support), its observed information, and the maximised log pmf (0 at an end)."""
        k = len(self.a)
        at_end = (self.a <= self.lo) | (self.a >= self.hi)
        th = np.zeros(k)
        for _ in range(200):
            mean, var = self.moments(th)
            step = np.where(at_end, 0.0, np.clip((self.a - mean) / np.where(var > 0, var, 1.0), -2, 2))
            th = th + step
            if np.max(np.abs(step)) < 1e-13:
                break
        _, var = self.moments(th)
        ll = np.where(at_end, 0.0, self.logpmf(th))
        th = np.where(at_end, np.where(self.a <= self.lo, -np.inf, np.inf), th)
        info = np.where(at_end, 0.0, var)
        return th, info, ll


# --------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, eq=False, repr=False)
class GlmmResult(PooledEstimate):
    """A fitted two-arm GLMM (metafor's ``rma.glmm`` object).

    ``estimate`` is the pooled log odds ratio (log rate ratio for ``IRR``); ``tau2`` the variance of
    the true log odds ratios (0 for ``method="EE"``); ``sigma2`` the variance of the study intercepts
    (``UM.RS`` only, else nan); ``se_tau2`` the SE of tau² (``CM.EL`` with ML only, as metafor).
    ``q_wald`` / ``q_lrt`` are the Wald and likelihood-ratio tests of heterogeneity with ``q_df``
    degrees of freedom. ``yi``/``vi`` are the escalc log odds ratios (1/2 added to tables with a zero
    cell) that I² and H² use for the typical within-study variance.
    """

    sigma2: float
    q_wald: float
    q_wald_pvalue: float
    q_lrt: float
    q_lrt_pvalue: float
    q_df: int
    i2: float
    h2: float
    k: int
    measure: str
    model: str
    method: str
    test: str
    level: float
    loglik: float
    yi: np.ndarray
    vi: np.ndarray
    labels: tuple
    dropped: tuple = ()
    converged: bool = True
    notes: tuple = ()

    def __post_init__(self):
        for name in ("yi", "vi"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    _KEYS = ESTIMATE_KEYS + ("sigma2", "q_wald", "q_wald_pvalue", "q_lrt", "q_lrt_pvalue", "q_df", "i2", "h2", "k",
                             "measure", "model", "method", "test", "level", "loglik", "converged")

    @property
    def odds_ratio(self) -> tuple:
        """``(estimate, ci_low, ci_high)`` back on the ratio scale (exp)."""
        return tuple(math.exp(v) for v in (self.estimate, self.ci_low, self.ci_high))

    def to_dict(self) -> dict:
        d = self._scalars(self._KEYS)
        d.update(labels=list(self.labels), yi=self.yi, vi=self.vi, dropped=list(self.dropped), notes=list(self.notes))
        return jsonable(d)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([self._scalars(self._KEYS)])

    def _short(self) -> str:
        return f"model={self.model} method={self.method} measure={self.measure} {self._estimate_short()}"

    def summary(self) -> str:
        kind = {"UM.FS": "Unconditional Model with Fixed Study Effects",
                "UM.RS": "Unconditional Model with Random Study Effects",
                "CM.EL": "Conditional Model with Exact Likelihood",
                "CM.AL": "Conditional Model with Approximate Likelihood"}[self.model]
        if self.method == "EE":
            head = f"Equal-Effects Model (k = {self.k})"
        else:
            head = f"Random-Effects Model (k = {self.k}; tau^2 estimator: ML)"
        lines = [head, f"Model Type: {kind}", ""]
        if self.method != "EE":
            se_t = f" (SE = {fmt(self.se_tau2)})" if math.isfinite(self.se_tau2) else ""
            lines.append(f"tau^2 (estimated amount of total heterogeneity): {fmt(self.tau2)}{se_t}")
            lines.append(f"tau (square root of estimated tau^2 value):      {fmt(math.sqrt(max(self.tau2, 0.0)))}")
            lines.append(f"I^2 (total heterogeneity / total variability):   {fmt(self.i2, 2)}%")
            lines.append(f"H^2 (total variability / sampling variability):  {fmt(self.h2, 2)}")
        if self.model == "UM.RS":
            lines.append(f"sigma^2 (variance of the study intercepts):      {fmt(self.sigma2)}")
        lines += ["", "Tests for Heterogeneity:",
                  f"Wld(df = {self.q_df}) = {fmt(self.q_wald)}, p-val {p_equals(self.q_wald_pvalue)}",
                  f"LRT(df = {self.q_df}) = {fmt(self.q_lrt)}, p-val {p_equals(self.q_lrt_pvalue)}"]
        stat = "tval" if self.test == "t" else "zval"
        lines += ["", "Model Results:", "",
                  f"{'estimate':>9} {'se':>8} {stat:>9} {'pval':>8} {'ci.lb':>8} {'ci.ub':>8}",
                  f"{fmt(self.estimate):>9} {fmt(self.se):>8} {fmt(self.statistic):>9} {fmt_p(self.pvalue):>8} "
                  f"{fmt(self.ci_low):>8} {fmt(self.ci_high):>8}"]
        ratio = "odds ratio" if self.measure == "OR" else "rate ratio"
        est, lo, hi = self.odds_ratio
        lines += ["", f"Pooled {ratio}: {fmt(est)} ({self.level:g}% CI {fmt(lo)} to {fmt(hi)})"]
        for note in self.notes:
            lines += ["", f"Note: {note}"]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the fits: each returns dict(estimate, se, tau2, sigma2, se_tau2, loglik, q_wald, q_lrt, notes)


def _fit_um_fs(fam, k, method, tried):
    """Fixed study intercepts; arm 1 = alpha + beta + u/2, arm 2 = alpha - u/2."""
    z = np.tile(np.array([0.5, -0.5]), (k, 1))
    g1 = np.tile(np.array([1.0, 0.0]), (k, 1))
    off = fam.logt.reshape(k, 2) if isinstance(fam, _Poisson) else np.zeros((k, 2))
    y = fam.y.reshape(k, 2)
    n = fam.n.reshape(k, 2) if isinstance(fam, _Binomial) else None

    # EE: logistic (Poisson) regression with study intercepts; the intercepts profiled out exactly
    def alphas(beta, alpha0=None):
        if isinstance(fam, _Poisson):
            return np.log(y.sum(axis=1)) - np.log(np.exp(off[:, 0] + beta) + np.exp(off[:, 1]))
        a = np.zeros(k) if alpha0 is None else alpha0.copy()
        for _ in range(200):
            eta = off + a[:, None] + beta * g1
            mu, w = fam.mean_var(eta, n)
            step = np.sum(y - mu, axis=1) / np.sum(w, axis=1)
            step = np.clip(step, -5, 5)
            a = a + step
            if np.max(np.abs(step)) < 1e-13:
                break
        return a

    beta = 0.0
    a = alphas(beta)
    for _ in range(200):
        a = alphas(beta, a)
        mu, w = fam.mean_var(off + a[:, None] + beta * g1, n)
        info = float(np.sum(w[:, 0] * w[:, 1] / (w[:, 0] + w[:, 1])))
        step = float(np.sum(y[:, 0] - mu[:, 0])) / info
        step = max(-5.0, min(5.0, step))
        beta += step
        if abs(step) < 1e-13:
            break
    a = alphas(beta, a)
    # the EE standard error as R's glm reports it (see _glm_fit); the estimate is the exact root
    design = np.hstack([np.kron(np.eye(k), np.ones((2, 1))), g1.reshape(-1, 1)])
    _, cov, _ = _glm_fit(design, fam.y, None if n is None else fam.n, off.ravel(), isinstance(fam, _Poisson))
    info = 1 / float(cov[-1, -1])
    ll_fe = float(np.sum(fam.ll(off + a[:, None] + beta * g1, y, n))) + fam.const
    ll_sat = fam.saturated_ll() + fam.const
    # Wald test of the saturated model: the inverse-variance Q of the per-study log ratios, with
    # tables holding a zero cell (an infinite log ratio, weight 0) left out
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(fam, _Poisson):
            li = np.log(y[:, 0] / y[:, 1]) - (off[:, 0] - off[:, 1])
            wi = 1 / (1 / y[:, 0] + 1 / y[:, 1])
        else:
            b = n - y
            li = np.log(y[:, 0] * b[:, 1] / (b[:, 0] * y[:, 1]))
            wi = 1 / (1 / y[:, 0] + 1 / b[:, 0] + 1 / y[:, 1] + 1 / b[:, 1])
    if k > 1:
        # R's saturated glm (one log ratio per study); equal to the inverse-variance Q of the
        # per-study log ratios up to glm's stopping rule, which matters for zero cells
        q_wald = _wald_saturated(design, np.kron(np.eye(k)[:, :-1], np.array([[1.0], [0.0]])), fam.y,
                                 None if n is None else fam.n, off.ravel(), isinstance(fam, _Poisson))
        if not math.isfinite(q_wald):
            q_wald = _q_inverse_variance(li, wi)
    else:
        q_wald = 0.0
    out = dict(estimate=beta, se=1 / math.sqrt(info), tau2=0.0, sigma2=math.nan, se_tau2=math.nan,
               loglik=ll_fe, q_wald=q_wald, q_lrt=max(0.0, 2 * (ll_sat - ll_fe)), notes=[])
    if method == "EE":
        return out

    def per_stack(b_, tau):
        def per(al):  # (r, k) intercepts -> (r, k) log-likelihoods
            r = al.shape[0]
            eta0 = (off[None] + al[:, :, None] + b_ * g1[None]).reshape(r * k, 2)
            rep = lambda v: None if v is None else np.tile(v, (r, 1))  # noqa: E731
            return _agq_study_ll(fam, eta0, rep(z), tau, y=rep(y), n=rep(n)).reshape(r, k)
        return per

    def prof(theta, return_alpha=False):
        per = per_stack(theta[0], theta[1])
        al = _newton_1d_vec(per, prof.alpha)
        prof.alpha = al
        val = -float(np.sum(per(al[None, :])))
        return (val, al) if return_alpha else val

    prof.alpha = a.copy()
    theta, fval = _fit_two(prof, beta, tried)
    out.update(_ml_summary(prof, theta, fval, fam))
    return out


def _fit_two(nll, beta0, tried):
    """Minimise a negative log-likelihood in (beta, tau >= 0) from the EE estimate and a few taus."""
    best = _minimise(nll, np.array([beta0, 0.3]), [(None, None), (0.0, None)], tried)
    if best[0][1] < 1e-4:
        # a boundary solution: make sure a start with large heterogeneity finds nothing better
        alt = _minimise(nll, np.array([beta0, 1.0]), [(None, None), (0.0, None)], tried)
        if alt[1] < best[1]:
            best = alt
    return best


def _ml_summary(nll, theta, fval, fam):
    """SE of beta from the inverse Hessian over (beta, tau) of the (profile) negative
    log-likelihood; at tau = 0, conditional on tau (lme4 does the same on the boundary)."""
    beta, tau = float(theta[0]), float(theta[1])
    notes = []
    if tau > 1e-5:
        hmat = _hessian(nll, np.array([beta, tau]))
        try:
            var = float(np.linalg.inv(hmat)[0, 0])
        except np.linalg.LinAlgError:
            var = math.nan
    else:
        tau = 0.0
        h = 1e-4 * max(abs(beta), 1.0)
        f0 = nll(np.array([beta, 0.0]))
        fp = nll(np.array([beta + h, 0.0]))
        fm = nll(np.array([beta - h, 0.0]))
        var = h**2 / (fp - 2 * f0 + fm)
        notes.append("tau^2 estimated on the boundary (0)")
    return dict(estimate=beta, se=math.sqrt(var) if var > 0 else math.nan, tau2=tau**2,
                loglik=-float(nll(np.array([beta, tau]))) + fam.const, notes=notes)


def _q_inverse_variance(li, wi):
    ok = np.isfinite(li) & np.isfinite(wi) & (wi > 0)
    if ok.sum() < 2:
        return 0.0
    li, wi = li[ok], wi[ok]
    return max(0.0, float(np.sum(wi * (li - np.sum(wi * li) / wi.sum()) ** 2)))


def _fit_cm_al(a, n1, c, n2, method, tried):
    """Arm-1 events out of all events, binomial with logit theta_i + log(n1/n2)."""
    m = a + c
    off = np.log(n1 / n2)
    fam = _Binomial(a, m)
    k = len(a)
    beta = math.log((a.sum() + 0.5) / (c.sum() + 0.5)) - float(np.mean(off))
    for _ in range(200):
        mu, w = fam.mean_var(beta + off)
        step = float(np.sum(a - mu) / np.sum(w))
        step = max(-5.0, min(5.0, step))
        beta += step
        if abs(step) < 1e-14:
            break
    _, cov, _ = _glm_fit(np.ones((k, 1)), a, m, off)
    ll_fe = float(np.sum(fam.ll(beta + off))) + fam.const
    ll_sat = fam.saturated_ll() + fam.const
    with np.errstate(divide="ignore", invalid="ignore"):
        li = np.log(a / c) - off
        wi = 1 / (1 / a + 1 / c)
    q_wald = _q_inverse_variance(li, wi)
    if k > 1:
        qw = _wald_saturated(np.ones((k, 1)), np.eye(k)[:, :-1], a, m, off)
        q_wald = qw if math.isfinite(qw) else q_wald
    out = dict(estimate=beta, se=math.sqrt(float(cov[0, 0])), tau2=0.0, sigma2=math.nan, se_tau2=math.nan,
               loglik=ll_fe, q_wald=q_wald, q_lrt=max(0.0, 2 * (ll_sat - ll_fe)), notes=[])
    if method == "EE":
        return out
    z = np.ones((k, 1))

    def nll(theta):
        return -float(np.sum(_agq_study_ll(fam, (theta[0] + off)[:, None], z, theta[1])))

    theta, fval = _fit_two(nll, beta, tried)
    out.update(_ml_summary(nll, theta, fval, fam))
    return out


def _fit_cm_el(a, n1, c, n2, method, tried):
    """Exact conditional likelihood: Fisher's noncentral hypergeometric distribution."""
    dist = _NCHG(a, n1, c, n2)
    k = len(a)
    beta = 0.0
    for _ in range(200):
        mean, var = dist.moments(np.full(k, beta))
        step = float(np.sum(a - mean) / np.sum(var))
        step = max(-3.0, min(3.0, step))
        beta += step
        if abs(step) < 1e-14:
            break
    _, var = dist.moments(np.full(k, beta))
    ll_fe = float(np.sum(dist.logpmf(np.full(k, beta))))
    th_i, info_i, ll_i = dist.conditional_mle()
    out = dict(estimate=beta, se=1 / math.sqrt(float(np.sum(var))), tau2=0.0, sigma2=math.nan, se_tau2=math.nan,
               loglik=ll_fe, q_wald=_q_inverse_variance(th_i, info_i),
               q_lrt=max(0.0, 2 * (float(np.sum(ll_i)) - ll_fe)), notes=[])
    if method == "EE":
        return out

    # metafor's parameters: (beta, log tau²)
    def nll(theta):
        return -float(np.sum(dist.marginal_ll(theta[0], math.exp(0.5 * theta[1]))))

    # metafor's start, log(tau² + 0.01) at tau² = 0; a second start if that runs to the boundary
    bounds = [(None, None), (-30.0, None)]
    theta, fval = _minimise(nll, np.array([beta, math.log(0.01)]), bounds, tried)
    if theta[1] < -10:
        alt = _minimise(nll, np.array([beta, 0.0]), bounds, tried)
        if alt[1] < fval:
            theta, fval = alt
    if theta[1] < -10 and fval >= -ll_fe - 1e-8:
        # the likelihood is maximal on the boundary tau² = 0, where the log-tau² scale has no
        # optimum (metafor's nlminb stops with an error): the ML fit is the equal-effects fit
        out["notes"].append("tau^2 estimated on the boundary (0): the ML fit is the equal-effects fit "
                            "(metafor's rma.glmm stops with a convergence error here)")
        return out
    hmat = _hessian(nll, theta)
    cov = np.linalg.inv(hmat)
    tau2 = math.exp(theta[1])
    out.update(estimate=float(theta[0]), se=math.sqrt(cov[0, 0]), tau2=tau2,
               se_tau2=math.sqrt(cov[1, 1]) * tau2 if cov[1, 1] >= 0 else math.nan, loglik=-fval)
    return out


def _fit_um_rs(a, n1, c, n2, method, tried):
    """Random study intercepts beta0 + v_i (v ~ N(0, sigma²)); arm 1 adds beta + u/2, arm 2 -u/2."""
    k = len(a)
    x = np.column_stack([a, c]).ravel()
    nn = np.column_stack([n1, n2]).ravel()
    fam = _Binomial(x, nn)
    g1 = np.tile(np.array([1.0, 0.0]), (k, 1))
    z_int = np.ones((k, 2))
    z_trt = np.tile(np.array([0.5, -0.5]), (k, 1))
    nodes = AGQ_NODES if method == "EE" else 1

    def nll_ee(theta):  # (beta0, beta, sigma)
        eta0 = theta[0] + theta[1] * g1
        return -float(np.sum(_agq_study_ll(fam, eta0, z_int, theta[2], nodes)))

    p_all = (a.sum() + c.sum()) / (n1.sum() + n2.sum())
    start = np.array([math.log(p_all / (1 - p_all)), 0.0, 0.5])
    th_fe, f_fe = _minimise(nll_ee, start, [(None, None), (None, None), (0.0, None)], tried)
    ll_fe = -f_fe + fam.const

    # saturated model: one log odds ratio per study, random intercepts; study effects profiled
    y2, n2_ = fam.y.reshape(k, 2), fam.n.reshape(k, 2)

    def nll_sat(theta, return_g=False):  # (beta0, sigma)
        def per(gam):  # (r, k) log odds ratios -> (r, k) log-likelihoods
            r = gam.shape[0]
            eta0 = (theta[0] + gam[:, :, None] * g1[None]).reshape(r * k, 2)
            rep = lambda v: np.tile(v, (r, 1))  # noqa: E731
            return _agq_study_ll(fam, eta0, rep(z_int), theta[1], nodes, y=rep(y2), n=rep(n2_)).reshape(r, k)

        gam = _newton_1d_vec(per, nll_sat.g)
        nll_sat.g = gam
        val = -float(np.sum(per(gam[None, :])))
        return (val, gam) if return_g else val

    with np.errstate(divide="ignore", invalid="ignore"):
        g0 = np.log((a + 0.5) / (n1 - a + 0.5)) - np.log((c + 0.5) / (n2 - c + 0.5))
    nll_sat.g = g0
    th_sat, f_sat = _minimise(nll_sat, np.array([th_fe[0], max(th_fe[2], 0.1)]), [(None, None), (0.0, None)], tried)
    _, gam = nll_sat(th_sat, return_g=True)
    ll_sat = -f_sat + fam.const

    # Wald test of equal log odds ratios with the joint covariance of (beta0, sigma, gamma)
    def nll_joint(v):
        return -float(np.sum(_agq_study_ll(fam, v[0] + v[2:, None] * g1, z_int, v[1], nodes)))

    # a study with a zero cell has an infinite log odds ratio (weight 0 in the test): left out,
    # with its intercept information kept in the joint Hessian at a large finite value
    finite = (a > 0) & (a < n1) & (c > 0) & (c < n2)
    q_wald = math.nan
    if finite.sum() >= 2:
        try:
            gam_c = np.where(finite, gam, np.clip(gam, -30, 30))
            hj = _hessian(nll_joint, np.concatenate([th_sat, gam_c]))
            keep = np.concatenate([[True, th_sat[1] > 1e-5], finite])
            cov = np.linalg.inv(hj[np.ix_(keep, keep)])
            nfree = int(keep[:2].sum())
            cov = cov[nfree:, nfree:]
            kf = int(finite.sum())
            lmat = np.hstack([np.eye(kf - 1), -np.ones((kf - 1, 1))])
            d = lmat @ gam[finite]
            q_wald = max(0.0, float(d @ np.linalg.solve(lmat @ cov @ lmat.T, d)))
        except np.linalg.LinAlgError:
            pass

    out = dict(q_wald=q_wald, q_lrt=max(0.0, 2 * (ll_sat - ll_fe)), notes=[], se_tau2=math.nan)
    if method == "EE":
        hmat = _hessian(nll_ee, th_fe)
        try:
            var = float(np.linalg.inv(hmat)[1, 1]) if th_fe[2] > 1e-5 else float(np.linalg.inv(hmat[:2, :2])[1, 1])
        except np.linalg.LinAlgError:
            var = math.nan
        out.update(estimate=float(th_fe[1]), se=math.sqrt(var), tau2=0.0, sigma2=float(th_fe[2]) ** 2, loglik=ll_fe)
        return out

    def nll_ml(theta):  # (beta0, beta, sigma, tau)
        eta0 = theta[0] + theta[1] * g1
        return -float(np.sum(_laplace2_study_ll(fam, eta0, z_int, z_trt, theta[2], theta[3])))

    bounds = [(None, None), (None, None), (0.0, None), (0.0, None)]
    best = _minimise(nll_ml, np.array([th_fe[0], th_fe[1], max(th_fe[2], 0.1), 0.3]), bounds, tried)
    if best[0][3] < 1e-4:
        alt = _minimise(nll_ml, np.array([th_fe[0], th_fe[1], max(th_fe[2], 0.1), 1.0]), bounds, tried)
        best = alt if alt[1] < best[1] else best
    theta, fval = best
    free = [0, 1] + [i for i in (2, 3) if theta[i] > 1e-5]
    hmat = _hessian(nll_ml, theta)[np.ix_(free, free)]
    try:
        var = float(np.linalg.inv(hmat)[1, 1])
    except np.linalg.LinAlgError:
        var = math.nan
    if theta[3] <= 1e-5:
        out["notes"].append("tau^2 estimated on the boundary (0)")
    out.update(estimate=float(theta[1]), se=math.sqrt(var) if var > 0 else math.nan,
               tau2=float(theta[3]) ** 2 if theta[3] > 1e-5 else 0.0,
               sigma2=float(theta[2]) ** 2 if theta[2] > 1e-5 else 0.0, loglik=-fval + fam.const)
    return out


# --------------------------------------------------------------------------------------------
# public


def rma_glmm(
    ai=None,
    n1i=None,
    ci=None,
    n2i=None,
    *,
    measure: str = "OR",
    model: str = "UM.FS",
    method: str = "ML",
    test: str = "z",
    level: float = 95,
    labels=None,
    x1i=None,
    t1i=None,
    x2i=None,
    t2i=None,
) -> GlmmResult:
    """Meta-analysis of two-arm tables by a GLMM, as metafor's ``rma.glmm``.

    Parameters
    ----------
    ai, n1i, ci, n2i : array_like
        Events and patients of arm 1 (treatment) and arm 2 (control), one per study
        (``measure="OR"``).
    measure : {"OR", "IRR"}
        Log odds ratio from counts, or log incidence-rate ratio from events ``x1i``, ``x2i`` over
        person-time ``t1i``, ``t2i`` (Poisson; ``model="UM.FS"`` only).
    model : {"UM.FS", "UM.RS", "CM.EL", "CM.AL"}
        Unconditional model with fixed or random study effects; conditional model with the exact
        (noncentral hypergeometric) or approximate (binomial) likelihood. See the module docstring.
    method : {"ML", "EE"}
        Random-effects fit by maximum likelihood, or the equal-effects model (tau² = 0). ``FE`` and
        ``CE`` are accepted as aliases of ``EE``.
    test : {"z", "t"}
        Normal or Student t (df = k - 1) inference for the pooled effect.
    level : float
        Confidence level in percent (95) or as a fraction (0.95).
    labels : sequence of str, optional
        Study labels.

    Returns
    -------
    GlmmResult

    Notes
    -----
    As metafor (``drop00=TRUE``), studies without events in both arms, or with only events in
    both arms, are left out; they carry no information on the odds ratio. ``CM.EL`` with ML raises
    :class:`~metaanalysis.errors.ConvergenceError` when tau² runs to 0 (its log-tau² scale has no
    maximum there; metafor stops with an error too).

    References
    ----------
    Stijnen T, Hamza TH, Özdemir P (2010). Random effects meta-analysis of event outcome in the
    framework of the generalized linear mixed model. Stat Med 29:3046-67. Jackson D, Law M, Stijnen
    T, Viechtbauer W, White IR (2018). A comparison of seven random-effects models for meta-analyses
    that estimate the summary odds ratio. Stat Med 37:1059-85. metafor ``rma.glmm`` 3.8-1.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.rma_glmm([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220], method="EE")
    >>> round(res.estimate, 4), round(res.se, 4)
    (-1.4192, 0.3162)
    """
    lev = check_level(level)
    measure = str(measure).upper()
    if measure not in ("OR", "IRR"):
        raise InputError(f"measure={measure!r}: rma_glmm fits 'OR' (counts) or 'IRR' (events over person-time)")
    if model not in MODELS:
        raise InputError(f"model={model!r} is not one of {', '.join(MODELS)}")
    method_code = {"FE": "EE", "CE": "EE"}.get(str(method).upper(), str(method).upper())
    if method_code not in METHODS:
        raise InputError(f"method={method!r}: use 'ML' or 'EE' (metafor's rma.glmm methods)")
    if test not in ("z", "t"):
        raise InputError(f"test={test!r}: rma_glmm takes 'z' or 't'")
    if measure == "IRR":
        if model != "UM.FS":
            raise InputError(f"model={model!r} with measure='IRR': only 'UM.FS' (Poisson, fixed study effects) "
                             "is implemented")
        if x1i is None or t1i is None or x2i is None or t2i is None:
            raise InputError("measure='IRR' needs x1i, t1i, x2i and t2i (events and person-time per arm)")
        e1, p1 = as_float_array(x1i, "x1i"), as_float_array(t1i, "t1i")
        e2, p2 = as_float_array(x2i, "x2i"), as_float_array(t2i, "t2i")
        n_all = same_length(x1i=e1, t1i=p1, x2i=e2, t2i=p2, labels=labels)
        for name, arr in (("x1i", e1), ("x2i", e2)):
            bad = np.flatnonzero(arr < 0)
            if len(bad):
                raise InputError(f"{name}[{int(bad[0])}] is negative; counts must be >= 0")
        for name, arr in (("t1i", p1), ("t2i", p2)):
            bad = np.flatnonzero(arr <= 0)
            if len(bad):
                raise InputError(f"{name}[{int(bad[0])}] = {arr[bad[0]]:g}; person-time must be > 0")
        keep = ~((e1 == 0) & (e2 == 0))
    else:
        if ai is None or n1i is None or ci is None or n2i is None:
            raise InputError("measure='OR' needs ai, n1i, ci and n2i (events and patients per arm)")
        a, n1 = as_float_array(ai, "ai"), as_float_array(n1i, "n1i")
        c, n2 = as_float_array(ci, "ci"), as_float_array(n2i, "n2i")
        n_all = same_length(ai=a, n1i=n1, ci=c, n2i=n2, labels=labels)
        for ev, tot, en, tn in ((a, n1, "ai", "n1i"), (c, n2, "ci", "n2i")):
            bad = np.flatnonzero((ev < 0) | (ev > tot))
            if len(bad):
                i = int(bad[0])
                raise InputError(f"{en}[{i}] = {ev[i]:g} is not a count between 0 and {tn}[{i}] = {tot[i]:g}")
        keep = ~(((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
    if measure == "OR" and keep.any():
        _check_finite_estimate(a[keep], n1[keep], c[keep], n2[keep])
    labels_all = tuple(str(v) for v in labels) if labels is not None else tuple(f"Study {i + 1}" for i in range(n_all))
    dropped = tuple(int(i) for i in np.flatnonzero(~keep))
    k = int(keep.sum())
    if k == 0:
        raise InputError("no study has events in one arm only or in both: nothing to estimate")
    labels_k = tuple(lab for lab, kk in zip(labels_all, keep) if kk)
    tried: list = []
    from ..effects import escalc

    if measure == "IRR":
        e1, p1, e2, p2 = e1[keep], p1[keep], e2[keep], p2[keep]
        eff = escalc("IRR", x1i=e1, t1i=p1, x2i=e2, t2i=p2)
        fam = _Poisson(np.column_stack([e1, e2]).ravel(), np.column_stack([p1, p2]).ravel())
        fit = _fit_um_fs(fam, k, method_code, tried)
    else:
        a, n1, c, n2 = a[keep], n1[keep], c[keep], n2[keep]
        eff = escalc("OR", ai=a, n1i=n1, ci=c, n2i=n2)
        if model == "UM.FS":
            fam = _Binomial(np.column_stack([a, c]).ravel(), np.column_stack([n1, n2]).ravel())
            fit = _fit_um_fs(fam, k, method_code, tried)
        elif model == "UM.RS":
            fit = _fit_um_rs(a, n1, c, n2, method_code, tried)
        elif model == "CM.AL":
            fit = _fit_cm_al(a, n1, c, n2, method_code, tried)
        else:
            fit = _fit_cm_el(a, n1, c, n2, method_code, tried)
    return _result(fit, eff, k, measure, model, method_code, test, lev, labels_k, dropped)


def _check_finite_estimate(a, n1, c, n2):
    """The pooled log odds ratio is infinite when every table sits at the same end of its
    conditional support (no events in one arm in every study, say): no model can estimate it."""
    m = a + c
    lo, hi = np.maximum(0, m - n2), np.minimum(n1, m)
    if np.all(a <= lo) or np.all(a >= hi):
        side = "-inf" if np.all(a <= lo) else "+inf"
        raise InputError(
            f"the pooled log odds ratio has no finite estimate ({side}): in every study the events of "
            "arm 1 are as few (or as many) as the margins allow, e.g. no events in one arm throughout"
        )


def _result(fit, eff, k, measure, model, method, test, lev, labels, dropped):
    from scipy.special import chdtrc, ndtr
    from scipy.stats import t as tdist

    est, se = float(fit["estimate"]), float(fit["se"])
    if not (math.isfinite(est) and math.isfinite(se)):
        raise ConvergenceError(f"{model} {method}: no finite estimate and standard error")
    stat = est / se
    if test == "t":
        if k < 2:
            raise InputError("test='t' needs at least two studies")
        crit = float(tdist.ppf(1 - (1 - lev / 100) / 2, k - 1))
        pval = float(2 * tdist.sf(abs(stat), k - 1))
    else:
        crit = zcrit(lev)
        pval = float(2 * ndtr(-abs(stat)))
    tau2 = float(fit["tau2"])
    wi = 1 / eff.vi
    if k > 1:
        vt = (k - 1) / (wi.sum() - np.sum(wi**2) / wi.sum())
        i2, h2 = 100 * tau2 / (vt + tau2), tau2 / vt + 1
        q_df = k - 1
        qw, ql = float(fit["q_wald"]), float(fit["q_lrt"])
        qwp, qlp = float(chdtrc(q_df, qw)), float(chdtrc(q_df, ql))
    else:
        i2 = h2 = qw = ql = qwp = qlp = math.nan
        q_df = 0
    notes = list(fit.get("notes", []))
    if dropped:
        notes.append("studies at index " + ", ".join(map(str, dropped))
                     + " left out: no events (or only events) in both arms")
    return GlmmResult(
        estimate=est, se=se, statistic=stat, pvalue=pval, ci_low=est - crit * se, ci_high=est + crit * se,
        tau2=tau2, se_tau2=float(fit.get("se_tau2", math.nan)), sigma2=float(fit.get("sigma2", math.nan)),
        q_wald=qw, q_wald_pvalue=qwp, q_lrt=ql, q_lrt_pvalue=qlp, q_df=q_df, i2=float(i2), h2=float(h2), k=k,
        measure=measure, model=model, method=method, test=test, level=lev, loglik=float(fit["loglik"]),
        yi=eff.yi, vi=eff.vi, labels=labels, dropped=dropped, converged=True, notes=tuple(notes),
    )
