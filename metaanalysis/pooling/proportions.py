"""Pooling single proportions (response rates, adverse-event rates).

Two routes, as in metafor:

* ``method`` a tau² code (``REML``, ``DL``, ``EE``...): per-study ``escalc`` effects (``PLO``, ``PFT``,
  ``PAS``, ``PR``, ``PLN``) pooled by :func:`metaanalysis.pooling.core.pool`, then back-transformed
  to a proportion: ``PLO`` by the inverse logit, ``PFT`` by the inverse Freeman-Tukey transform with
  the harmonic mean of the sample sizes (metafor's ``transf.ipft.hm``), ``PAS`` by ``sin²``, ``PLN``
  by ``exp``.
* ``method="GLMM"``: the binomial-normal model ``x_i ~ Bin(n_i, expit(mu + u_i))``,
  ``u_i ~ N(0, tau²)``, fitted by maximum likelihood as metafor's ``rma.glmm(measure="PLO")``,
  which calls lme4's ``glmer`` with adaptive Gauss-Hermite quadrature on 7 nodes (``nAGQ=7``); the
  SE of ``mu`` comes from the inverse Hessian of the joint likelihood of (tau, mu), as lme4's
  ``vcov``. Wald interval and test; heterogeneity by the Wald and likelihood-ratio tests of the
  saturated (fixed study effects) logistic model.

Per study, :meth:`ProportionPoolResult.study_frame` gives exact Clopper-Pearson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import as_float_array, check_level, fmt, fmt_p, jsonable, readonly, same_length, zcrit
from ..effects import ONE_ARM_MEASURES, _check_counts, _check_to, _check_vtype, one_arm
from ..errors import ConvergenceError, InputError
from ._print import p_equals
from ._result import EstimateInterval

__all__ = [
    "ProportionPoolResult",
    "pool_proportions",
    "back_transform",
    "clopper_pearson",
    "fit_glmm_logit",
]

_MEASURES = ONE_ARM_MEASURES  # PR, PLN, PLO, PAS, PFT
GLMM_NODES = 7  # metafor's rma.glmm default nAGQ


# --------------------------------------------------------------------------------------------
# transformations


def _pft(p, n):
    """Freeman-Tukey double arcsine of a proportion ``p`` at sample size ``n`` (metafor's transf.pft)."""
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def ipft_hm(y, ni):
    """Inverse Freeman-Tukey transform using the harmonic mean of ``ni`` (Miller 1978; metafor's
    ``transf.ipft.hm``). Values beyond the transform of 0 or 1 map to 0 or 1."""
    y = np.asarray(y, dtype=float)
    ni = np.asarray(ni, dtype=float)
    nhm = 1.0 / np.mean(1.0 / ni[np.isfinite(ni)])
    s2 = np.sin(2 * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = 1 - (s2 + (s2 - 1 / s2) / nhm) ** 2
        p = 0.5 * (1 - np.sign(np.cos(2 * y)) * np.sqrt(inner))
    p = np.where(np.isnan(p), np.nan, p)
    p = np.where(y > _pft(1.0, nhm), 1.0, p)
    p = np.where(y < _pft(0.0, nhm), 0.0, p)
    return p


def back_transform(y, measure: str, ni=None):
    """A pooled value on the analysis scale of ``measure`` as a proportion (metafor's transf.*)."""
    y = np.asarray(y, dtype=float)
    if measure == "PLO":
        from scipy.special import expit

        return expit(y)
    if measure == "PFT":
        if ni is None:
            raise InputError("the PFT back-transformation needs the sample sizes ni")
        return ipft_hm(y, ni)
    if measure == "PAS":
        out = np.sin(y) ** 2
        out = np.where(y < 0, 0.0, out)
        return np.where(y > math.asin(1), 1.0, out)
    if measure == "PLN":
        return np.exp(y)
    if measure == "PR":
        return y
    raise InputError(f"no back-transformation for measure {measure!r}")


def clopper_pearson(xi, ni, level: float = 95):
    """Exact (Clopper-Pearson) interval for ``xi`` events out of ``ni``; arrays in, arrays out."""
    from scipy.special import betaincinv

    xi = np.asarray(xi, dtype=float)
    ni = np.asarray(ni, dtype=float)
    alpha = 1 - check_level(level) / 100
    with np.errstate(invalid="ignore"):
        lo = np.where(xi > 0, betaincinv(xi, ni - xi + 1, alpha / 2), 0.0)
        hi = np.where(xi < ni, betaincinv(xi + 1, ni - xi, 1 - alpha / 2), 1.0)
    return lo, hi


# --------------------------------------------------------------------------------------------
# the binomial-normal GLMM


def _gh_rule(n):
    z, w = np.polynomial.hermite.hermgauss(n)
    return z, w


def _binom_loglik(x, n, eta):
    """sum-free binomial log-likelihood in the logit ``eta`` (without the binomial coefficient)."""
    # x*eta - n*log(1+exp(eta)), computed stably
    return x * eta - n * np.logaddexp(0.0, eta)


def _glmm_loglik(params, x, n, nodes, weights, return_modes=False):
    """Adaptive Gauss-Hermite approximation of the marginal log-likelihood at (mu, tau).

    For each study the integrand over the standardised random effect u (b = tau·u, u ~ N(0, 1)) is
    centred at its mode and scaled by its curvature there, then integrated on ``nodes``: lme4's
    ``nAGQ`` scheme. The result is even in tau.
    """
    from scipy.special import expit

    mu, tau = params
    u = np.zeros_like(x)

    def objective(v):
        # the integrand's log in u (concave): binomial log-likelihood plus the N(0, 1) log density
        return _binom_loglik(x, n, mu + tau * v) - v**2 / 2

    current = objective(u)
    for _ in range(100):
        eta = mu + tau * u
        p = expit(eta)
        grad = tau * (x - n * p) - u
        hess = -(tau**2) * n * p * (1 - p) - 1
        step = grad / hess
        # Newton can overshoot where a study's curvature vanishes (all or no events, large tau):
        # halve the step of such a study until its objective does not fall
        candidate = u - step
        value = objective(candidate)
        for _ in range(60):
            worse = value < current - 1e-12 * np.abs(current)
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            candidate = u - step
            value = objective(candidate)
        u, current = candidate, value
        if np.max(np.abs(step)) < 1e-12:
            break
    eta = mu + tau * u
    p = expit(eta)
    curv = tau**2 * n * p * (1 - p) + 1
    sigma = 1 / np.sqrt(curv)
    uu = u[:, None] + math.sqrt(2) * sigma[:, None] * nodes[None, :]
    h = _binom_loglik(x[:, None], n[:, None], mu + tau * uu) - uu**2 / 2 + nodes[None, :] ** 2
    hmax = h.max(axis=1, keepdims=True)
    integral = np.log(np.sum(weights[None, :] * np.exp(h - hmax), axis=1)) + hmax[:, 0]
    ll = integral + np.log(math.sqrt(2) * sigma) - 0.5 * math.log(2 * math.pi)
    return (ll.sum(), u) if return_modes else ll.sum()


def fit_glmm_logit(xi, ni, *, nodes: int = GLMM_NODES) -> dict:
    """Maximum-likelihood fit of the random-intercept logistic model for single proportions.

    Returns ``estimate`` (mu on the logit scale), ``se``, ``tau2``, ``loglik`` (without binomial
    coefficients), ``converged`` and ``tried``. Optimises over (mu, tau >= 0) from several starts
    (the common-effect logit, the DerSimonian-Laird tau on escalc logits, and the boundary tau = 0),
    then polishes; raises :class:`ConvergenceError` if no start reaches a stationary point.
    """
    from scipy.optimize import minimize, minimize_scalar

    x = np.asarray(xi, dtype=float)
    n = np.asarray(ni, dtype=float)
    z, w = _gh_rule(nodes)
    nll = lambda th: -_glmm_loglik(th, x, n, z, w)  # noqa: E731

    mu0 = math.log((x.sum() + 0.5) / (n.sum() - x.sum() + 0.5))
    yi, vi, _ = one_arm("PLO", x, n - x)
    wi = 1 / vi
    q = float(np.sum(wi * (yi - np.sum(wi * yi) / wi.sum()) ** 2))
    c = wi.sum() - np.sum(wi**2) / wi.sum()
    tau_dl = math.sqrt(max(0.0, (q - (len(x) - 1)) / c)) if c > 0 else 0.0
    starts = [(mu0, max(tau_dl, 0.1)), (float(np.mean(yi)), 1.0)]
    tried = []
    best = None
    for start in starts:
        try:
            res = minimize(nll, np.array(start), method="L-BFGS-B", bounds=[(None, None), (0.0, None)],
                           options={"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500})
        except (ValueError, FloatingPointError) as exc:  # pragma: no cover - defensive
            tried.append(f"L-BFGS-B from {start}: {exc}")
            continue
        tried.append(f"L-BFGS-B from (mu={start[0]:.3g}, tau={start[1]:.3g}): {res.message}")
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    # the boundary tau = 0 (no heterogeneity): a one-parameter logistic fit
    bnd = minimize_scalar(lambda m: nll((m, 0.0)), bracket=(mu0 - 1, mu0 + 1))
    if best is None or bnd.fun < best.fun - 1e-10:
        theta = np.array([bnd.x, 0.0])
        fval = bnd.fun
    else:
        theta = best.x
        fval = best.fun
    # polish with damped Newton steps on finite differences (tau kept >= 0)
    for _ in range(8):
        if theta[1] <= 0:
            break
        g = _gradient(nll, theta)
        hmat = _hessian(nll, theta)
        try:
            step = np.linalg.solve(hmat, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) < 1e-10:
            break
        improved = False
        for scale in (1.0, 0.5, 0.25, 0.125):
            cand = theta - scale * step
            cand[1] = max(cand[1], 0.0)
            fc = nll(cand)
            if fc <= fval:
                theta, fval, improved = cand, fc, True
                break
        if not improved:
            break
    tried.append("Newton polish")
    if not np.all(np.isfinite(theta)) or not math.isfinite(fval):
        raise ConvergenceError("GLMM fit did not converge; tried: " + "; ".join(tried))
    mu, tau = float(theta[0]), float(theta[1])
    hess = _hessian(nll, np.array([mu, tau]))
    try:
        cov = np.linalg.inv(hess)
        var_mu = float(cov[0, 0])
    except np.linalg.LinAlgError:
        var_mu = math.nan
    if not (var_mu > 0):
        # lme4 falls back to the covariance conditional on tau; do the same
        var_mu = 1.0 / float(hess[0, 0]) if hess[0, 0] > 0 else math.nan
    grad = _gradient(nll, np.array([mu, tau]))
    converged = bool(abs(grad[0]) < 1e-4 and (tau == 0 or abs(grad[1]) < 1e-4 or tau < 1e-6))
    return dict(estimate=mu, se=math.sqrt(var_mu) if var_mu > 0 else math.nan, tau2=tau**2, tau=tau,
                loglik=-fval, converged=converged, tried=tuple(tried))


def _hessian(f, x, rel=1e-4):
    """Central-difference Hessian (lme4 uses finite differences too, at a step of 1e-4)."""
    k = len(x)
    h = np.array([rel * max(abs(v), 1.0) for v in x])
    out = np.empty((k, k))
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        out[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            val = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
            out[i, j] = out[j, i] = val
    return out


def _gradient(f, x, rel=1e-6):
    g = np.empty(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = rel * max(abs(x[i]), 1.0)
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


def _saturated_tests(x, n):
    """Wald and likelihood-ratio tests of homogeneity: the saturated (one logit per study) logistic
    model against the common-logit model, as metafor's rma.glmm reports them."""
    from scipy.special import xlogy

    k = len(x)
    ll_sat = float(np.sum(xlogy(x, x / n) + xlogy(n - x, 1 - x / n)))
    p = x.sum() / n.sum()
    ll_fe = float(np.sum(xlogy(x, p) + xlogy(n - x, 1 - p)))
    lrt = max(0.0, -2 * (ll_fe - ll_sat))
    inner = (x > 0) & (x < n)
    if inner.sum() >= 1:
        pi = x[inner] / n[inner]
        li = np.log(pi / (1 - pi))
        wi = n[inner] * pi * (1 - pi)
        wald = max(0.0, float(np.sum(wi * (li - np.sum(wi * li) / wi.sum()) ** 2)))
    else:
        wald = 0.0
    return wald, lrt, k - 1


# --------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, eq=False, repr=False)
class ProportionPoolResult(EstimateInterval):
    """Pooled proportions; analysis-scale fields as :class:`PoolResult`, plus the proportion scale.

    ``proportion``, ``proportion_ci_low``, ``proportion_ci_high``, ``proportion_pi_low``,
    ``proportion_pi_high`` are the back-transformed estimate and intervals (PFT with the harmonic
    mean of ``ni``). For the GLMM ``q`` is the Wald test of the saturated model and ``q_lrt`` its
    likelihood-ratio test. ``fit`` holds the :class:`PoolResult` of an inverse-variance fit.
    """

    pi_low: float
    pi_high: float
    tau2: float
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    k: int
    method: str
    measure: str
    test: str
    level: float
    xi: np.ndarray
    ni: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray
    labels: tuple
    proportion: float
    proportion_ci_low: float
    proportion_ci_high: float
    proportion_pi_low: float
    proportion_pi_high: float
    q_lrt: float = math.nan
    q_lrt_pvalue: float = math.nan
    loglik: float = math.nan
    converged: bool = True
    notes: tuple = ()
    fit: object = None

    def __post_init__(self):
        for name in ("xi", "ni", "yi", "vi", "weights"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    _KEYS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low", "pi_high", "tau2",
             "q", "q_df", "q_pvalue", "q_lrt", "q_lrt_pvalue", "i2", "h2", "k", "method", "measure", "test",
             "level", "proportion", "proportion_ci_low", "proportion_ci_high", "proportion_pi_low",
             "proportion_pi_high", "loglik", "converged")

    def to_dict(self) -> dict:
        d = {key: getattr(self, key) for key in self._KEYS}
        d.update(labels=list(self.labels), xi=self.xi, ni=self.ni, yi=self.yi, vi=self.vi,
                 weights=self.weights, notes=list(self.notes))
        return jsonable(d)

    def study_frame(self):
        """One row per study: label, xi, ni, proportion, exact Clopper-Pearson ci_low / ci_high at
        ``level``, the analysis-scale yi and vi, and the weight (summing to 1; equal for the GLMM,
        which has no per-study weights)."""
        import pandas as pd

        lo, hi = clopper_pearson(self.xi, self.ni, self.level)
        return pd.DataFrame({
            "label": list(self.labels), "xi": self.xi, "ni": self.ni, "proportion": self.xi / self.ni,
            "ci_low": lo, "ci_high": hi, "yi": self.yi, "vi": self.vi, "weight": self.weights,
        })

    def _short(self) -> str:
        return f"method={self.method} measure={self.measure} k={self.k} proportion={fmt(self.proportion)}"

    def summary(self) -> str:
        lvl = f"{self.level:g}%"
        if self.method == "GLMM":
            head = f"Random-Effects Model (k = {self.k}; tau^2 estimator: ML; binomial-normal GLMM, logit link)"
        elif self.method == "EE":
            head = f"Equal-Effects Model (k = {self.k}; measure {self.measure})"
        else:
            head = f"Random-Effects Model (k = {self.k}; tau^2 estimator: {self.method}; measure {self.measure})"
        lines = [head, ""]
        if self.method != "EE":
            lines.append(f"tau^2 (estimated amount of total heterogeneity): {fmt(self.tau2)}")
            lines.append(f"tau (square root of estimated tau^2 value):      {fmt(math.sqrt(max(self.tau2, 0)))}")
        lines.append(f"I^2 (total heterogeneity / total variability):  {fmt(self.i2, 2)}%")
        lines.append(f"H^2 (total variability / sampling variability): {fmt(self.h2, 2)}")
        lines += ["", "Tests for Heterogeneity:" if self.method == "GLMM" else "Test for Heterogeneity:"]
        if self.method == "GLMM":
            lines.append(f"Wld(df = {self.q_df}) = {fmt(self.q)}, p-val {p_equals(self.q_pvalue)}")
            lines.append(f"LRT(df = {self.q_df}) = {fmt(self.q_lrt)}, p-val {p_equals(self.q_lrt_pvalue)}")
        else:
            lines.append(f"Q(df = {self.q_df}) = {fmt(self.q)}, p-val {p_equals(self.q_pvalue)}")
        stat = "tval" if self.test in ("t", "knha", "adhoc") else "zval"
        lines += ["", "Model Results:", "",
                  f"{'estimate':>9} {'se':>8} {stat:>9} {'pval':>8} {'ci.lb':>8} {'ci.ub':>8}",
                  f"{fmt(self.estimate):>9} {fmt(self.se):>8} {fmt(self.statistic):>9} {fmt_p(self.pvalue):>8} "
                  f"{fmt(self.ci_low):>8} {fmt(self.ci_high):>8}", "",
                  f"Proportion: {fmt(self.proportion)} ({lvl} CI {fmt(self.proportion_ci_low)} to "
                  f"{fmt(self.proportion_ci_high)}; {lvl} PI {fmt(self.proportion_pi_low)} to {fmt(self.proportion_pi_high)})"]
        for note in self.notes:
            lines += ["", f"Note: {note}"]
        return "\n".join(lines)




# --------------------------------------------------------------------------------------------
# public


def pool_proportions(
    xi,
    ni,
    *,
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    labels=None,
    add: float | None = None,
    to: str = "only0",
    vtype: str = "LS",
    **pool_options,
) -> ProportionPoolResult:
    """Pool single proportions ``xi / ni`` (responders out of patients).

    Parameters
    ----------
    xi, ni : array_like
        Events and patients per study.
    measure : {"PFT", "PLO", "PAS", "PR", "PLN"}, optional
        Analysis scale: by default ``PFT`` for inverse-variance pooling and ``PLO`` for
        ``method="GLMM"``, which fits the logit scale only (another measure is an InputError).
    method : str
        A tau² method code (``"REML"``, ``"DL"``, ``"EE"``...) or ``"GLMM"``.
    test : {"z", "t", "knha"}
        ``knha`` only for inverse-variance methods; the GLMM takes ``z`` or ``t`` (df = k - 1).
    level : float
        Confidence level in percent.
    add, to, vtype :
        Passed to ``escalc`` (metafor's defaults: ``add`` 1/2 for PLO, PLN, PR and 0 for PFT, PAS).
    **pool_options :
        Passed to :func:`metaanalysis.pooling.core.pool`.

    Returns
    -------
    ProportionPoolResult

    References
    ----------
    Freeman MF, Tukey JW (1950); Miller JJ (1978) Am Stat 32:138; Stijnen T, Hamza TH, Özdemir P
    (2010) Stat Med 29:3046-67 (binomial-normal model); metafor ``rma.uni``, ``rma.glmm``,
    ``transf.ipft.hm`` 3.8-1.

    Examples
    --------
    >>> res = pool_proportions([12, 20, 8], [40, 50, 30], measure="PLO", method="DL")
    >>> round(res.proportion, 4)
    0.3358
    """
    lev = check_level(level)
    method_code = str(method)
    glmm = method_code.upper() == "GLMM"
    # the default scale: PFT for inverse variance (metafor users' usual choice), the logit for the
    # GLMM (the only scale the binomial-normal model has)
    measure = ("PLO" if glmm else "PFT") if measure is None else str(measure).upper()
    if glmm:
        if measure != "PLO":
            raise InputError(f"method='GLMM' fits the logit scale; measure={measure!r} is not "
                             "available with it (use 'PLO' or leave measure out)")
    elif measure not in _MEASURES:
        raise InputError(f"measure={measure!r}; pool_proportions takes {', '.join(_MEASURES)}")
    x = as_float_array(xi, "xi")
    n = as_float_array(ni, "ni")
    if labels is not None:
        labels = [str(v) for v in labels]
    k = same_length(xi=x, ni=n, labels=labels)
    if k == 0:
        raise InputError("no studies: xi and ni are empty")
    _check_counts("xi", x)
    bad = np.flatnonzero(n <= 0)
    if len(bad):
        raise InputError(f"ni[{int(bad[0])}] = {n[bad[0]]:g}; every study needs at least one patient")
    bad = np.flatnonzero(x > n)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"xi[{i}] = {x[i]:g} exceeds ni[{i}] = {n[i]:g}; events cannot outnumber patients")
    _check_to(to)
    if measure in ("PR", "PLN", "PLO"):
        _check_vtype(measure, vtype)
    add_ = (0.0 if measure in ("PFT", "PAS") else 0.5) if add is None else float(add)
    yi, vi, _ = one_arm(measure, x, n - x, add=add_, to=to, vtype=vtype)
    labels = tuple(labels) if labels else tuple(f"Study {i + 1}" for i in range(k))
    if glmm:
        return _pool_glmm(x, n, yi, vi, test, lev, labels)
    return _pool_iv(x, n, yi, vi, measure, method_code, test, lev, labels, pool_options)


def _proportion_scale(measure, ni, est, lo, hi, plo, phi):
    vals = back_transform(np.array([est, lo, hi, plo, phi], dtype=float), measure, ni)
    return [float(v) for v in vals]


def _pool_iv(x, n, yi, vi, measure, method, test, lev, labels, pool_options):
    from .core import pool

    ok = np.isfinite(yi) & np.isfinite(vi)
    notes = []
    if not ok.all():
        notes.append("studies at index " + ", ".join(str(int(i)) for i in np.flatnonzero(~ok))
                     + f" have no {measure} effect size (a zero count without continuity correction) and are left out")
    if not ok.any():
        raise InputError(f"no study has a computable {measure} effect size")
    fit = pool(yi[ok], vi[ok], method=method, test=test, level=lev, measure=measure,
               labels=[lab for lab, o in zip(labels, ok) if o], **pool_options)
    weights = np.full(len(x), np.nan)
    weights[ok] = np.asarray(fit.weights, dtype=float)
    props = _proportion_scale(measure, n, fit.estimate, fit.ci_low, fit.ci_high, fit.pi_low, fit.pi_high)
    if measure == "PFT":
        notes.append(f"PFT back-transformed with the harmonic mean of ni ({1 / np.mean(1 / n):.4g})")
    return ProportionPoolResult(
        estimate=float(fit.estimate), se=float(fit.se), statistic=float(fit.statistic), pvalue=float(fit.pvalue),
        ci_low=float(fit.ci_low), ci_high=float(fit.ci_high), pi_low=float(fit.pi_low), pi_high=float(fit.pi_high),
        tau2=float(fit.tau2), q=float(fit.q), q_df=int(fit.q_df), q_pvalue=float(fit.q_pvalue), i2=float(fit.i2),
        h2=float(fit.h2), k=int(fit.k), method=str(fit.method), measure=measure, test=str(fit.test), level=lev,
        xi=x, ni=n, yi=yi, vi=vi, weights=weights, labels=labels,
        proportion=props[0], proportion_ci_low=props[1], proportion_ci_high=props[2],
        proportion_pi_low=props[3], proportion_pi_high=props[4],
        converged=bool(getattr(fit, "converged", True)), notes=tuple(notes), fit=fit,
    )


def _pool_glmm(x, n, yi, vi, test, lev, labels):
    from scipy.special import chdtrc, ndtr
    from scipy.stats import t as tdist

    if test not in ("z", "t"):
        raise InputError(f"test={test!r}: the GLMM takes 'z' or 't' (metafor's rma.glmm)")
    k = len(x)
    if x.sum() == 0 or x.sum() == n.sum():
        what = "no events" if x.sum() == 0 else "only events"
        raise InputError(
            f"every study has {what}: the binomial-normal model has no finite maximum-likelihood "
            "estimate (the pooled logit runs off to infinity); use measure='PFT' with a tau² method"
        )
    fit = fit_glmm_logit(x, n)
    est, se, tau2 = fit["estimate"], fit["se"], fit["tau2"]
    if test == "t":
        df = k - 1
        if df < 1:
            raise InputError("test='t' needs at least two studies")
        crit = float(tdist.ppf(1 - (1 - lev / 100) / 2, df))
        stat = est / se
        pval = float(2 * tdist.sf(abs(stat), df))
    else:
        crit = zcrit(lev)
        stat = est / se
        pval = float(2 * ndtr(-abs(stat)))
    lo, hi = est - crit * se, est + crit * se
    pse = math.sqrt(se**2 + tau2)
    plo, phi = est - crit * pse, est + crit * pse
    # I² and H² with metafor's "typical" sampling variance of the escalc logits
    wi = 1 / vi
    vt = (k - 1) / (wi.sum() - np.sum(wi**2) / wi.sum()) if k > 1 else math.nan
    i2 = 100 * tau2 / (vt + tau2) if k > 1 else math.nan
    h2 = tau2 / vt + 1 if k > 1 else math.nan
    if k > 1:
        wald, lrt, df_q = _saturated_tests(x, n)
        q_p, lrt_p = float(chdtrc(df_q, wald)), float(chdtrc(df_q, lrt))
    else:
        wald = lrt = q_p = lrt_p = math.nan
        df_q = 0
    props = _proportion_scale("PLO", n, est, lo, hi, plo, phi)
    notes = []
    if not fit["converged"]:
        notes.append("the GLMM optimiser stopped without a clear stationary point; tried: " + "; ".join(fit["tried"]))
    if tau2 == 0:
        notes.append("tau^2 estimated on the boundary (0)")
    zero = np.flatnonzero((x == 0) | (x == n))
    if len(zero):
        # named as the study table shows them: by label, else counted from 1 as R does
        named = [str(labels[i]) for i in zero] if labels is not None and len(labels) == k \
            else [str(int(i) + 1) for i in zero]
        notes.append("the Wald heterogeneity test leaves out studies with 0% or 100% ("
                     + ("" if labels is not None and len(labels) == k else "studies ")
                     + ", ".join(named) + "), whose saturated logit is infinite")
    weights = np.full(k, 1.0 / k)
    return ProportionPoolResult(
        estimate=est, se=se, statistic=stat, pvalue=pval, ci_low=lo, ci_high=hi, pi_low=plo, pi_high=phi,
        tau2=tau2, q=wald, q_df=df_q, q_pvalue=q_p, i2=i2, h2=h2, k=k, method="GLMM", measure="PLO", test=test,
        level=lev, xi=x, ni=n, yi=yi, vi=vi, weights=weights, labels=labels,
        proportion=props[0], proportion_ci_low=props[1], proportion_ci_high=props[2],
        proportion_pi_low=props[3], proportion_pi_high=props[4],
        q_lrt=lrt, q_lrt_pvalue=lrt_p, loglik=fit["loglik"], converged=fit["converged"], notes=tuple(notes),
    )
