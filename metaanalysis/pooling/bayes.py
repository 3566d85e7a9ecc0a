"""Bayesian random-effects meta-analysis by numerical integration (the model of R's bayesmeta).

The normal-normal hierarchical model

    y_i | theta_i ~ N(theta_i, sigma_i²),   theta_i | mu, tau ~ N(mu, tau²),

with a prior p(tau) on the heterogeneity and a normal (or improper uniform) prior on mu. Given
tau, everything is conjugate: mu | tau, y is normal, and so are a new study's effect and each
study's own effect theta_i. Only the one-dimensional marginal posterior of tau needs numerical
integration. Following Röver's DIRECT idea (Röver 2020, Sec. 2.4; Röver & Friede 2017), the
posterior of mu is then a mixture of those conditional normals over tau; where bayesmeta picks
the mixture's support by a divergence bound, here the mixture is a quadrature rule: an adaptive
composite Gauss-Legendre rule on a map of [0, inf) to [0, 1), refined until the integrals of the
posterior, its moments and the conditional means agree to about 1e-11. No MCMC, no randomness:
the same call gives the same numbers.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw
93(6):1-51. doi:10.18637/jss.v093.i06
Röver C, Friede T (2017). Discrete approximation of a mixture distribution via restricted
divergence. J Comput Graph Stat 26(1):217-222.
Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
between-study heterogeneity and simple methods for their application in Bayesian meta-analysis.
Stat Med 34(6):984-998. doi:10.1002/sim.6381
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from scipy.special import ndtr

from .._base import (
    ResultMixin,
    as_float_array,
    check_level,
    fmt,
    frozen_field,
    jsonable,
    readonly,
    same_length,
)
from ..errors import InputError

__all__ = [
    "bayesmeta",
    "BayesMetaResult",
    "TAU_PRIORS",
    "TURNER_PRIORS",
    "TURNER_OUTCOMES",
    "TURNER_COMPARISONS",
    "turner_prior",
]

TAU_PRIORS = ("halfnormal", "halfcauchy", "uniform", "jeffreys", "turner")

_LOG_2PI = math.log(2.0 * math.pi)
_GL_NODES = 20        # Gauss-Legendre nodes per panel
_INITIAL_PANELS = 16
_MAX_PANELS = 4000
_RULE_RTOL = 1e-11    # panel refinement: agreement of each integral relative to its total
# A moment E[tau^m] is finite when the integrand in u, near u = 1, behaves like (1 - u)^a with
# a > -1; the margin keeps the borderline log-divergent case (a = -1 up to rounding) infinite.
_TAIL_MARGIN = 0.02

# --------------------------------------------------------------------------------------------
# Turner et al. (2015), Table IV: log-normal predictive distributions for tau² of log odds
# ratios, log(tau²) ~ N(mean, sd²), by outcome type (rows) and type of comparison (columns).
# Transcribed from the published table; the numbers agree with the TurnerEtAlParameters array of
# R's bayesmeta (which cites the same table). The marginal setting ("any" outcome and
# comparison, without covariates) is N(-2.56, 1.74²) (Turner et al. 2015, p. 993).
# --------------------------------------------------------------------------------------------

TURNER_COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological vs. placebo / control",
    "non-pharmacological vs. pharmacological",
    "non-pharmacological vs. non-pharmacological",
)
TURNER_OUTCOMES = (
    "all-cause mortality",
    "obstetric outcomes",
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource use / hospital stay / process",
    "surgical / device related success / failure",
    "withdrawals / drop-outs",
    "internal / structure-related outcomes",
    "general physical health indicators",
    "adverse events",
    "infection / onset of new disease",
    "signs / symptoms reflecting continuation / end of condition",
    "pain",
    "quality of life / functioning (dichotomized)",
    "mental health indicators",
    "biological markers (dichotomized)",
    "subjective outcomes (various)",
)
# one column of (mean, sd) pairs per comparison type, in the order of TURNER_OUTCOMES
_TURNER_MEANS = (
    (-3.95, -3.52, -3.71, -2.34, -2.14, -2.99, -2.71, -2.29, -1.87, -2.49, -2.06, -1.83, -2.54,
     -2.12, -1.77, -2.70),
    (-4.18, -3.75, -3.95, -2.58, -2.37, -3.23, -2.94, -2.53, -2.10, -2.73, -2.29, -2.06, -2.78,
     -2.35, -2.00, -2.93),
    (-4.17, -3.74, -3.93, -2.56, -2.36, -3.21, -2.93, -2.51, -2.10, -2.71, -2.28, -2.05, -2.77,
     -2.34, -1.99, -2.92),
    (-2.92, -2.49, -2.68, -1.31, -1.11, -1.96, -1.67, -1.26, -0.84, -1.46, -1.03, -0.80, -1.51,
     -1.09, -0.74, -1.67),
    (-3.50, -3.08, -3.27, -1.90, -1.69, -2.55, -2.26, -1.85, -1.43, -2.05, -1.61, -1.38, -2.10,
     -1.67, -1.33, -2.26),
)
_TURNER_SDS = (
    (1.34, 1.74, 1.74, 1.74, 1.74, 1.74, 1.74, 1.53, 1.52, 1.52, 1.51, 1.52, 1.54, 1.53, 1.52, 1.52),
    (1.41, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79, 1.58, 1.58, 1.58, 1.58, 1.58, 1.60, 1.60, 1.58, 1.58),
    (1.55, 1.91, 1.91, 1.91, 1.91, 1.91, 1.92, 1.72, 1.71, 1.71, 1.71, 1.71, 1.73, 1.72, 1.71, 1.71),
    (1.02, 1.50, 1.51, 1.50, 1.50, 1.51, 1.51, 1.25, 1.24, 1.24, 1.24, 1.25, 1.27, 1.27, 1.24, 1.25),
    (1.26, 1.68, 1.68, 1.68, 1.68, 1.68, 1.68, 1.46, 1.45, 1.45, 1.45, 1.45, 1.47, 1.47, 1.45, 1.45),
)
TURNER_PRIORS: dict = {
    (outcome, comparison): (_TURNER_MEANS[j][i], _TURNER_SDS[j][i])
    for j, comparison in enumerate(TURNER_COMPARISONS)
    for i, outcome in enumerate(TURNER_OUTCOMES)
}
TURNER_PRIORS[("any", "any")] = (-2.56, 1.74)


def _match(value: str, choices, what: str) -> str:
    """Exact or unique-prefix match (as R's match.arg), case-insensitive."""
    text = str(value).strip().lower()
    exact = [c for c in choices if c.lower() == text]
    if exact:
        return exact[0]
    hits = [c for c in choices if c.lower().startswith(text)]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(repr(c) for c in choices)
    raise InputError(f"{what}={value!r} is not {'a unique prefix of ' if hits else ''}one of: {listing}")


def turner_prior(outcome: str | None = None,
                 comparison: str = "pharmacological vs. placebo / control") -> tuple[float, float]:
    """Mean and SD of log(tau²) of Turner et al. (2015), Table IV, for log odds ratios.

    Parameters
    ----------
    outcome : str or None
        One of :data:`TURNER_OUTCOMES` (a unique prefix will do); None for the marginal
        setting without covariates, log(tau²) ~ N(-2.56, 1.74²).
    comparison : str
        One of :data:`TURNER_COMPARISONS` (a unique prefix will do).

    Returns
    -------
    (mean, sd) : tuple of float
        Parameters of the normal distribution of log(tau²); tau itself is then log-normal with
        half of each.

    Examples
    --------
    >>> turner_prior("all-cause", "pharmacological vs. placebo")
    (-3.95, 1.34)
    """
    if outcome is None or str(outcome).lower() == "any":
        return TURNER_PRIORS[("any", "any")]
    return TURNER_PRIORS[(_match(outcome, TURNER_OUTCOMES, "turner_outcome"),
                          _match(comparison, TURNER_COMPARISONS, "turner_comparison"))]


# --------------------------------------------------------------------------------------------
# Priors for tau: log density (normalised where the prior is proper) and its support.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TauPrior:
    name: str
    label: str
    logpdf: object          # callable on a 1-D array of tau >= 0
    upper: float            # end of the support (inf for [0, inf))
    proper: bool


def _tau_prior(tau_prior, tau_scale, sei, turner_outcome, turner_comparison) -> _TauPrior:
    if callable(tau_prior):
        return _callable_prior(tau_prior)
    if not isinstance(tau_prior, str):
        raise InputError(f"tau_prior must be one of {TAU_PRIORS} or a function of tau; got {tau_prior!r}")
    key = tau_prior.lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in TAU_PRIORS:
        raise InputError(f"tau_prior={tau_prior!r} is not one of {TAU_PRIORS} (or pass a density function)")
    if key in ("halfnormal", "halfcauchy", "uniform"):
        try:
            s = float(tau_scale)
        except (TypeError, ValueError):
            raise InputError(f"tau_scale must be a positive number, got {tau_scale!r}") from None
        if not s > 0 or math.isnan(s) or (math.isinf(s) and key != "uniform"):
            raise InputError(f"tau_scale must be a positive finite number (uniform also takes inf), got {tau_scale!r}")
    if key == "halfnormal":
        c = math.log(2.0) - 0.5 * _LOG_2PI - math.log(s)
        return _TauPrior(key, f"half-normal(scale={s:g})", lambda t: c - 0.5 * (t / s) ** 2, math.inf, True)
    if key == "halfcauchy":
        c = math.log(2.0 / math.pi) - math.log(s)
        return _TauPrior(key, f"half-Cauchy(scale={s:g})", lambda t: c - np.log1p((t / s) ** 2), math.inf, True)
    if key == "uniform":
        if math.isinf(s):
            return _TauPrior(key, "uniform(min=0, max=Inf) (improper)", lambda t: np.zeros_like(t), math.inf, False)
        return _TauPrior(key, f"uniform(min=0, max={s:g})", lambda t: np.full_like(t, -math.log(s)), s, True)
    if key == "jeffreys":
        v = np.asarray(sei, dtype=float) ** 2

        def logpdf(t):
            t = np.asarray(t, dtype=float)
            r = t[:, None] / (v[None, :] + t[:, None] ** 2)
            with np.errstate(divide="ignore"):
                return 0.5 * np.log(np.sum(r * r, axis=1))

        return _TauPrior(key, "Jeffreys (improper)", logpdf, math.inf, False)
    # Turner et al.: log tau² ~ N(m, s²), so log tau ~ N(m/2, (s/2)²)
    m2, s2 = turner_prior(turner_outcome, turner_comparison)
    m, s = m2 / 2.0, s2 / 2.0
    where = "marginal" if turner_outcome is None else f"{turner_outcome}; {turner_comparison}"

    def logpdf(t):
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(t)
            out = -lt - math.log(s) - 0.5 * _LOG_2PI - 0.5 * ((lt - m) / s) ** 2
        return np.where(t > 0, out, -np.inf)

    return _TauPrior("turner", f"log-normal(mu={m:.3f}, sigma={s:.3f}) (Turner et al. 2015: {where})",
                     logpdf, math.inf, True)


def _callable_prior(fn) -> _TauPrior:
    """A user's density of tau; normalised numerically when its integral is finite (as bayesmeta)."""
    from scipy.integrate import quad

    def pdf(t):
        t = np.asarray(t, dtype=float)
        try:
            out = np.asarray(fn(t), dtype=float)
            if out.shape != t.shape:
                raise ValueError
        except Exception:
            out = np.array([float(fn(float(x))) for x in t.ravel()]).reshape(t.shape)
        return out

    probe = pdf(np.array([0.0, 0.1, 1.0, 10.0]))
    if np.any(probe < 0) or not np.all(np.isfinite(probe[1:])):
        raise InputError("tau_prior function must return finite, non-negative densities for tau >= 0")
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total, err = quad(lambda x: float(pdf(np.array([x]))[0]), 0, math.inf, limit=200)
    proper = math.isfinite(total) and total > 0 and err < 1e-6 * max(total, 1e-300) and total < 1e12
    logc = math.log(total) if proper else 0.0

    def logpdf(t):
        with np.errstate(divide="ignore"):
            return np.log(pdf(t)) - logc

    name = getattr(fn, "__name__", "function")
    return _TauPrior("callable", f"{name} ({'proper' if proper else 'improper'})", logpdf, math.inf, proper)


# --------------------------------------------------------------------------------------------
# The conjugate step: everything given tau.
# --------------------------------------------------------------------------------------------


def conditional_mu(tau, y, v, mu_mean=None, mu_sd=None):
    """Posterior of mu given tau (mean, variance) and the log marginal likelihood p(y | tau).

    Vectorised over ``tau`` (1-D). A normal prior on mu enters as one more "study" with estimate
    ``mu_mean`` and variance ``mu_sd²``; under the improper uniform prior the likelihood is that
    of the flat prior (density 1), as in bayesmeta.

    Examples
    --------
    >>> m, s2, ll = conditional_mu(np.array([0.0]), np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    >>> float(m[0]), float(s2[0])
    (2.0, 0.5)
    """
    tau = np.asarray(tau, dtype=float)
    var = v[None, :] + (tau * tau)[:, None]
    w = 1.0 / var
    sw = w.sum(axis=1)
    swy = w @ y
    n = y.shape[0]
    if mu_mean is not None:
        w0 = 1.0 / (mu_sd * mu_sd)
        sw = sw + w0
        swy = swy + w0 * mu_mean
        n += 1
    mean = swy / sw
    q = np.sum(w * (y[None, :] - mean[:, None]) ** 2, axis=1)
    logdet = np.sum(np.log(var), axis=1)
    if mu_mean is not None:
        q = q + (mu_mean - mean) ** 2 / (mu_sd * mu_sd)
        logdet = logdet + 2.0 * math.log(mu_sd)
    loglik = -0.5 * ((n - 1) * _LOG_2PI + logdet + q + np.log(sw))
    return mean, 1.0 / sw, loglik


@lru_cache(maxsize=4)
def _legendre(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1.0) / 2.0, w / 2.0


# --------------------------------------------------------------------------------------------
# The marginal posterior of tau as a quadrature rule.
# --------------------------------------------------------------------------------------------


class _TauPosterior:
    """Marginal posterior of tau, on the map u in [0, 1) -> tau (linear for a bounded prior,
    tau = c u / (1 - u) otherwise), with an adaptive composite Gauss-Legendre rule."""

    def __init__(self, y, v, prior: _TauPrior, mu_mean, mu_sd):
        self.y, self.v, self.prior = y, v, prior
        self.mu_mean, self.mu_sd = mu_mean, mu_sd
        self.bounded = math.isfinite(prior.upper)
        # scale of the map: the typical within-study SD, so that the bulk sits mid-range in u
        self.c = prior.upper if self.bounded else float(np.sqrt(np.median(v)))
        self._check_tails()
        self._build()

    # ---- the map and the log posterior ---------------------------------------------------
    def tau_of(self, u):
        u = np.asarray(u, dtype=float)
        if self.bounded:
            return self.c * u
        with np.errstate(divide="ignore"):
            return self.c * u / (1.0 - u)

    def u_of(self, tau):
        tau = np.asarray(tau, dtype=float)
        return tau / self.c if self.bounded else tau / (self.c + tau)

    def log_jacobian(self, u):
        if self.bounded:
            return np.full_like(np.asarray(u, dtype=float), math.log(self.c))
        return math.log(self.c) - 2.0 * np.log1p(-np.asarray(u, dtype=float))

    def log_unnorm(self, tau):
        """log p(tau) + log p(y | tau) (-inf outside the prior's support)."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        out = np.full(tau.shape, -np.inf)
        ok = (tau >= 0) & (tau <= self.prior.upper) & np.isfinite(tau)
        if ok.any():
            t = tau[ok]
            _, _, ll = conditional_mu(t, self.y, self.v, self.mu_mean, self.mu_sd)
            with np.errstate(invalid="ignore"):
                lp = np.asarray(self.prior.logpdf(t), dtype=float) + ll
            out[ok] = np.where(np.isnan(lp), -np.inf, lp)
        return out

    # ---- tails: propriety and which moments exist ------------------------------------------
    def _tail_slope(self, m: float) -> float:
        """Exponent a of (1 - u)^a of the integrand of E[tau^m] in u near u = 1."""
        if self.bounded:
            return math.inf
        d = np.array([1e-5, 1e-8])
        u = 1.0 - d
        t = self.tau_of(u)
        lf = self.log_unnorm(t) + self.log_jacobian(u) + m * np.log(t)
        if not np.isfinite(lf[1]):
            return math.inf
        return float((lf[1] - lf[0]) / (math.log(d[1]) - math.log(d[0])))

    def _check_tails(self):
        a0 = self._tail_slope(0.0)
        if a0 <= -1 + _TAIL_MARGIN:
            raise InputError(
                f"the posterior of tau is improper with the {self.prior.label} prior and "
                f"k = {len(self.y)} studies; use a proper prior for tau (e.g. tau_prior='halfnormal') "
                "or a normal prior for mu")
        self.finite_moment = {m: self._tail_slope(m) > -1 + _TAIL_MARGIN for m in (1, 2)}

    # ---- the rule --------------------------------------------------------------------------
    def _integrands(self, u):
        """Posterior (unnormalised, times the Jacobian) and the functions whose integrals the
        rule must get right: the density, finite moments of tau, the conditional moments of mu."""
        t = self.tau_of(u)
        lf = self.log_unnorm(t) + self.log_jacobian(u) - self.shift
        f = np.exp(lf)
        mean, var, _ = conditional_mu(t, self.y, self.v, self.mu_mean, self.mu_sd)
        rows = [f, f * mean, f * mean * mean]
        # under the flat prior the conditional SD of mu grows like tau: its integral exists only
        # when tau's moments do
        bounded_sd = self.mu_mean is not None
        if self.finite_moment[1]:
            rows.append(f * t)
        if bounded_sd or self.finite_moment[1]:
            rows.append(f * np.sqrt(var))
        if self.finite_moment[2]:
            rows.append(f * t * t)
        if bounded_sd or self.finite_moment[2]:
            rows.append(f * var)
        return np.vstack(rows)

    def _panel(self, a, b):
        x, w = _legendre(_GL_NODES)
        u = a + (b - a) * x
        return self._integrands(u) @ (w * (b - a))

    def _build(self):
        # the peak of the log integrand fixes a shift so that exp() neither overflows nor underflows
        scan = (np.arange(4000) + 0.5) / 4000
        lf = self.log_unnorm(self.tau_of(scan)) + self.log_jacobian(scan)
        if not np.isfinite(lf).any():
            raise InputError("the posterior density of tau is zero everywhere; check tau_prior")
        self.shift = float(np.max(lf[np.isfinite(lf)]))
        edges = np.linspace(0.0, 1.0, _INITIAL_PANELS + 1)
        todo = list(zip(edges[:-1], edges[1:]))
        values = {p: self._panel(*p) for p in todo}
        total = np.abs(np.sum(list(values.values()), axis=0))
        done = []
        while todo:
            if len(done) + len(todo) > _MAX_PANELS:
                done.extend(todo)
                break
            nxt = []
            for a, b in todo:
                m = 0.5 * (a + b)
                left, right = self._panel(a, m), self._panel(m, b)
                if np.all(np.abs(left + right - values[(a, b)]) <= _RULE_RTOL * total + 1e-300) or b - a < 1e-13:
                    done.append((a, b))
                    values[(a, b)] = left + right
                else:
                    values[(a, m)], values[(m, b)] = left, right
                    nxt += [(a, m), (m, b)]
            todo = nxt
        done.sort()
        self.a = np.array([p[0] for p in done])
        self.b = np.array([p[1] for p in done])
        # nodes of the final rule: each accepted panel split in two halves (the finer estimate)
        x, w = _legendre(_GL_NODES)
        mids = 0.5 * (self.a + self.b)
        lo = np.concatenate([self.a, mids])
        hi = np.concatenate([mids, self.b])
        order = np.argsort(lo)
        lo, hi = lo[order], hi[order]
        u = (lo[:, None] + (hi - lo)[:, None] * x[None, :]).ravel()
        wu = ((hi - lo)[:, None] * w[None, :]).ravel()
        t = self.tau_of(u)
        lf = self.log_unnorm(t) + self.log_jacobian(u) - self.shift
        f = np.exp(lf) * wu
        z = float(f.sum())
        if not (z > 0 and math.isfinite(z)):
            raise InputError("the posterior of tau could not be normalised; check the data and priors")
        self.log_z = math.log(z) + self.shift            # log of the integral of p(tau) p(y | tau)
        # nodes of negligible weight change no sum; dropping them makes every mixture cheaper
        keep = f > 1e-17 * f.max()
        self.tau = t[keep]
        self.weight = f[keep] / z
        self.mu_mean_t, self.mu_var_t, _ = conditional_mu(self.tau, self.y, self.v, self.mu_mean, self.mu_sd)
        # sub-panel boundaries and cumulative mass, for the CDF
        self.lo, self.hi = lo, hi
        self.cum = np.concatenate([[0.0], np.cumsum((f / z).reshape(len(lo), -1).sum(axis=1))])

    # ---- density, CDF, quantile, moments, mode --------------------------------------------
    def pdf(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        return np.exp(self.log_unnorm(tau) - self.log_z)

    def cdf(self, tau):
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        out = np.empty(tau.shape)
        x, w = _legendre(_GL_NODES)
        for i, t in enumerate(tau):
            if not t > 0:
                out[i] = 0.0
                continue
            if t >= self.prior.upper or math.isinf(t):
                out[i] = 1.0
                continue
            out[i] = self._cdf_u(float(self.u_of(t)), x, w)
        return out

    def _cdf_u(self, uq, x=None, w=None):
        if x is None:
            x, w = _legendre(_GL_NODES)
        j = int(np.searchsorted(self.lo, uq, side="right")) - 1
        j = min(max(j, 0), len(self.lo) - 1)
        a = self.lo[j]
        u = a + (uq - a) * x
        lf = self.log_unnorm(self.tau_of(u)) + self.log_jacobian(u) - self.log_z
        part = float(np.exp(lf) @ (w * (uq - a)))
        return min(max(self.cum[j] + part, 0.0), 1.0)

    def quantile(self, p):
        from scipy.optimize import brentq

        p = np.atleast_1d(np.asarray(p, dtype=float))
        out = np.empty(p.shape)
        for i, pi in enumerate(p):
            if not 0 <= pi <= 1:
                raise InputError(f"probabilities must lie in [0, 1], got {pi}")
            if pi == 0:
                out[i] = 0.0
            elif pi == 1:
                out[i] = self.prior.upper
            else:
                j = int(np.searchsorted(self.cum, pi, side="right")) - 1
                j = min(max(j, 0), len(self.lo) - 1)
                ua = brentq(lambda u: self._cdf_u(u) - pi, self.lo[j], self.hi[j], xtol=1e-16, rtol=1e-15,
                            maxiter=200) if self._cdf_u(self.hi[j]) >= pi else self.hi[j]
                out[i] = float(self.tau_of(ua))
        return out

    def moment(self, m: int) -> float:
        if not self.finite_moment[m]:
            return math.inf
        return float(self.weight @ self.tau ** m)

    def mode(self) -> float:
        from scipy.optimize import minimize_scalar

        lp = self.log_unnorm(self.tau)
        j = int(np.argmax(lp))
        lo = 0.0 if j == 0 else float(self.tau[j - 1])
        hi = float(self.tau[min(j + 1, len(self.tau) - 1)])
        res = minimize_scalar(lambda t: -float(self.log_unnorm(np.array([t]))[0]), bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-12 * max(hi, 1e-300)})
        best, top = float(res.x), -float(res.fun)
        # the ends of the support are candidates too (a density falling from 0, or rising to a
        # uniform prior's upper end)
        if float(self.log_unnorm(np.array([0.0]))[0]) >= top:
            return 0.0
        if self.bounded and float(self.log_unnorm(np.array([self.prior.upper]))[0]) >= top:
            return float(self.prior.upper)
        return best


# --------------------------------------------------------------------------------------------
# Normal mixtures over the tau rule: mu, a new study's effect theta, each study's own effect.
# --------------------------------------------------------------------------------------------


class _Mixture:
    def __init__(self, weight, mean, var, var_finite: bool):
        self.w, self.m, self.s = weight, mean, np.sqrt(var)
        self.var_finite = var_finite

    def pdf(self, x):
        x = np.atleast_1d(np.asarray(x, dtype=float))
        z = (x[:, None] - self.m[None, :]) / self.s[None, :]
        return (np.exp(-0.5 * z * z) / (self.s * math.sqrt(2 * math.pi))[None, :]) @ self.w

    def cdf(self, x):
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return np.clip(ndtr((x[:, None] - self.m[None, :]) / self.s[None, :]) @ self.w, 0.0, 1.0)

    def mean(self) -> float:
        return float(self.w @ self.m)

    def sd(self) -> float:
        if not self.var_finite:
            return math.inf
        mu = self.mean()
        return float(math.sqrt(max(self.w @ (self.s ** 2 + (self.m - mu) ** 2), 0.0)))

    @cached_property
    def _table(self):
        # the CDF tabulated once, so that each quantile's root search starts from a narrow bracket
        lo, hi = float(np.min(self.m - 40 * self.s)), float(np.max(self.m + 40 * self.s))
        core_lo, core_hi = float(np.min(self.m - 8 * self.s)), float(np.max(self.m + 8 * self.s))
        x = np.unique(np.concatenate([[lo], np.linspace(core_lo, core_hi, 257), [hi]]))
        return x, self.cdf(x)

    def quantile(self, p):
        from scipy.optimize import brentq

        p = np.atleast_1d(np.asarray(p, dtype=float))
        x, c = self._table
        out = np.empty(p.shape)
        for i, pi in enumerate(p):
            if not 0 <= pi <= 1:
                raise InputError(f"probabilities must lie in [0, 1], got {pi}")
            if pi in (0.0, 1.0):
                out[i] = -math.inf if pi == 0 else math.inf
                continue
            f = lambda t: float(self.cdf(t)[0]) - pi  # noqa: E731
            j = int(np.searchsorted(c, pi, side="left"))
            lo, hi = x[max(j - 1, 0)], x[min(j, len(x) - 1)]
            flo, fhi = f(lo), f(hi)
            # the tabulated CDF and a single evaluation can differ in the last bit (a median at a
            # grid point of a symmetric posterior): check the bracket, widen it if needed
            if flo == 0.0 or fhi == 0.0:
                out[i] = lo if flo == 0.0 else hi
                continue
            if lo == hi or flo > 0 or fhi < 0:
                lo, hi = x[0], x[-1]
            out[i] = brentq(f, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=300)
        return out

    def mode(self) -> float:
        from scipy.optimize import minimize_scalar

        a, b = self.quantile([0.001, 0.999])
        grid = np.linspace(a, b, 201)
        dens = self.pdf(grid)
        j = int(np.argmax(dens))
        lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
        res = minimize_scalar(lambda x: -float(self.pdf(x)[0]), bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-13 * max(abs(lo), abs(hi), 1e-300)})
        return float(res.x)


def _shortest(dist, level: float, lower_bounded: bool):
    """Shortest interval of probability ``level``: the p at which the densities at Q(p) and
    Q(p + level) are equal (an end of the support when the density is monotone there)."""
    from scipy.optimize import brentq

    span = 1.0 - level
    eps = 0.0 if lower_bounded else 1e-10

    def gap(p):
        a, b = dist.quantile([p, p + level])
        return float(dist.pdf(a)[0] - dist.pdf(b)[0])

    g0, g1 = gap(eps), gap(span - 1e-10)
    if g0 >= 0:
        p = 0.0
    elif g1 <= 0:
        p = span
    else:
        p = brentq(gap, eps, span - 1e-10, xtol=1e-15, rtol=1e-15, maxiter=200)
    a, b = dist.quantile([p, p + level])
    return float(a), float(b)


def _describe(dist, level: float, lower_bounded: bool = False) -> dict:
    alpha = (1.0 - level) / 2.0
    q = dist.quantile([0.5, alpha, 1.0 - alpha])
    lo, hi = _shortest(dist, level, lower_bounded)
    return {"mode": dist.mode(), "median": float(q[0]), "mean": dist.mean() if hasattr(dist, "mean") else math.nan,
            "sd": dist.sd(), "ci_low": float(q[1]), "ci_high": float(q[2]),
            "shortest_low": lo, "shortest_high": hi}


class _TauDist:
    """tau's posterior with the interface of _Mixture, for _describe."""

    def __init__(self, post: _TauPosterior):
        self.post = post

    def pdf(self, x):
        return self.post.pdf(x)

    def cdf(self, x):
        return self.post.cdf(x)

    def quantile(self, p):
        return self.post.quantile(p)

    def mean(self):
        return self.post.moment(1)

    def sd(self):
        if not self.post.finite_moment[2]:
            return math.inf
        m1 = self.post.moment(1)
        return math.sqrt(max(self.post.moment(2) - m1 * m1, 0.0))

    def mode(self):
        return self.post.mode()


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

_STATS = ("mode", "median", "mean", "sd", "ci_low", "ci_high", "shortest_low", "shortest_high")
_PARAMS = ("tau", "mu", "theta")


@dataclass(frozen=True, eq=False, repr=False)
class BayesMetaResult(ResultMixin):
    """Posterior of the normal-normal hierarchical model (R's ``bayesmeta`` object).

    Attributes
    ----------
    k : int
        Number of studies.
    yi, sei : ndarray
        Estimates and their standard errors.
    labels : tuple of str
    level : float
        Credible level in percent.
    tau_prior, mu_prior : str
        Descriptions of the priors.
    tau_prior_proper, mu_prior_proper : bool
    posterior : dict
        ``{"tau"|"mu"|"theta": {"mode", "median", "mean", "sd", "ci_low", "ci_high",
        "shortest_low", "shortest_high"}}``: marginal posterior summaries of the heterogeneity
        tau, the effect mu and a new study's effect theta (the prediction). ``ci_*`` are
        equal-tailed, ``shortest_*`` the shortest credible intervals. A moment that does not
        exist (heavy tails with few studies) is ``inf``.
    marginal_likelihood : float
        p(y), when both priors are proper (NaN otherwise).
    bayes_factor_tau0, bayes_factor_mu0 : float
        Bayes factors of the null models tau = 0 and mu = 0 against the full model
        (values above 1 favour the null); NaN when the prior concerned is improper.
    """

    k: int
    yi: np.ndarray
    sei: np.ndarray
    labels: tuple
    level: float
    tau_prior: str
    mu_prior: str
    tau_prior_proper: bool
    mu_prior_proper: bool
    posterior: dict = frozen_field()
    marginal_likelihood: float
    bayes_factor_tau0: float
    bayes_factor_mu0: float
    _engine: object = field(default=None, repr=False)

    # ---- pool()-like shortcuts -------------------------------------------------------------
    @property
    def estimate(self) -> float:
        """Posterior median of mu."""
        return self.posterior["mu"]["median"]

    @property
    def ci_low(self) -> float:
        return self.posterior["mu"]["ci_low"]

    @property
    def ci_high(self) -> float:
        return self.posterior["mu"]["ci_high"]

    @property
    def pi_low(self) -> float:
        return self.posterior["theta"]["ci_low"]

    @property
    def pi_high(self) -> float:
        return self.posterior["theta"]["ci_high"]

    # ---- distributions ----------------------------------------------------------------------
    def _dist(self, parameter: str, study=None):
        eng = self._engine
        if study is not None:
            if parameter != "theta":
                raise InputError("study= gives the posterior of that study's own effect; use parameter='theta'")
            return eng.study_mixture(self._study_index(study))
        if parameter not in _PARAMS:
            raise InputError(f"parameter must be one of {_PARAMS}, got {parameter!r}")
        return {"tau": eng.tau_dist, "mu": eng.mu_mixture, "theta": eng.theta_mixture}[parameter]

    def _study_index(self, study) -> int:
        if isinstance(study, (int, np.integer)) and not isinstance(study, bool):
            if not 0 <= int(study) < self.k:
                raise InputError(f"study index must be in 0..{self.k - 1}, got {study}")
            return int(study)
        if str(study) in self.labels:
            return self.labels.index(str(study))
        raise InputError(f"study={study!r} is neither an index 0..{self.k - 1} nor one of the labels {self.labels}")

    def dposterior(self, x, parameter: str = "mu", study=None) -> np.ndarray:
        """Marginal posterior density of ``parameter`` ("tau", "mu" or "theta", the effect of a
        new study) at ``x``; with ``study`` (index or label) the density of that study's effect."""
        return self._dist(parameter, study).pdf(x)

    def pposterior(self, x, parameter: str = "mu", study=None) -> np.ndarray:
        """Marginal posterior CDF (see :meth:`dposterior` for the arguments)."""
        return self._dist(parameter, study).cdf(x)

    def qposterior(self, p, parameter: str = "mu", study=None) -> np.ndarray:
        """Marginal posterior quantiles at probabilities ``p`` (see :meth:`dposterior`)."""
        return self._dist(parameter, study).quantile(p)

    @cached_property
    def shrinkage(self):
        """DataFrame, one row per study: its estimate and SE and the posterior of its own effect
        theta_i (mode, median, mean, sd, equal-tailed and shortest intervals)."""
        import pandas as pd

        lvl = self.level / 100.0
        rows = []
        for i in range(self.k):
            d = _describe(self._engine.study_mixture(i), lvl)
            rows.append({"yi": float(self.yi[i]), "sei": float(self.sei[i]), **d})
        return pd.DataFrame(rows, index=pd.Index(self.labels, name="study"))

    # ---- views ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"k": self.k, "level": self.level, "tau_prior": self.tau_prior, "mu_prior": self.mu_prior,
               "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
               "pi_low": self.pi_low, "pi_high": self.pi_high}
        for p in _PARAMS:
            for s in _STATS:
                out[f"{p}_{s}"] = self.posterior[p][s]
        out.update(marginal_likelihood=self.marginal_likelihood, bayes_factor_tau0=self.bayes_factor_tau0,
                   bayes_factor_mu0=self.bayes_factor_mu0)
        return jsonable(out)

    def to_frame(self):
        """One row per parameter (tau, mu, theta), one column per summary statistic."""
        import pandas as pd

        return pd.DataFrame([[self.posterior[p][s] for s in _STATS] for p in _PARAMS],
                            index=pd.Index(_PARAMS, name="parameter"), columns=list(_STATS))

    def _short(self) -> str:
        m = self.posterior["mu"]
        return (f"k={self.k} mu={fmt(m['median'])} [{fmt(m['shortest_low'])}, {fmt(m['shortest_high'])}] "
                f"tau={fmt(self.posterior['tau']['median'])}")

    def summary(self) -> str:
        """Text in the spirit of bayesmeta's print: priors, then the marginal posterior summary."""
        lvl = f"{self.level:g}%"
        out = ["", f"Bayesian random-effects meta-analysis (k = {self.k}; normal-normal hierarchical model)", ""]
        out.append(f"tau prior ({'proper' if self.tau_prior_proper else 'improper'}): {self.tau_prior}")
        out.append(f"mu prior ({'proper' if self.mu_prior_proper else 'improper'}): {self.mu_prior}")
        out.append("")
        out.append("marginal posterior summary:")
        rows = [("mode", "mode"), ("median", "median"), ("mean", "mean"), ("sd", "sd"),
                (f"{lvl} lower", "shortest_low"), (f"{lvl} upper", "shortest_high"),
                (f"{lvl} ci.lb", "ci_low"), (f"{lvl} ci.ub", "ci_high")]
        head = [""] + list(_PARAMS)
        cells = [[name] + [fmt(self.posterior[p][key]) for p in _PARAMS] for name, key in rows]
        width = [max(len(r[j]) for r in cells + [head]) for j in range(len(head))]
        out.append("  ".join(h.rjust(w) if j else h.ljust(w) for j, (h, w) in enumerate(zip(head, width))))
        for r in cells:
            out.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, width))))
        out.append("(lower/upper: shortest credible intervals; ci.lb/ci.ub: equal-tailed; "
                   "theta: the effect in a new study)")
        out.append("")
        out.append("Bayes factors (null vs. full model):")
        out.append(f"  tau = 0: {_fmt_g(self.bayes_factor_tau0)}    mu = 0: {_fmt_g(self.bayes_factor_mu0)}")
        out.append(f"marginal likelihood: {_fmt_g(self.marginal_likelihood)}")
        return "\n".join(out) + "\n"


def _fmt_g(x: float) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.6g}"


class _Engine:
    """The tau rule and the mixtures built on it; kept by the result for later queries."""

    def __init__(self, y, v, prior, mu_mean, mu_sd):
        self.y, self.v = y, v
        self.post = _TauPosterior(y, v, prior, mu_mean, mu_sd)
        self.tau_dist = _TauDist(self.post)
        p = self.post
        normal_mu = mu_mean is not None
        self.mu_mixture = _Mixture(p.weight, p.mu_mean_t, p.mu_var_t, normal_mu or p.finite_moment[2])
        self.theta_mixture = _Mixture(p.weight, p.mu_mean_t, p.mu_var_t + p.tau ** 2, p.finite_moment[2])

    def study_mixture(self, i: int) -> _Mixture:
        p = self.post
        t2 = p.tau ** 2
        vi = self.v[i]
        b = t2 / (vi + t2)      # weight of the study's own estimate given tau
        mean = b * self.y[i] + (1.0 - b) * p.mu_mean_t
        var = b * vi + (1.0 - b) ** 2 * p.mu_var_t
        return _Mixture(p.weight, mean, var, True)


def bayesmeta(yi, sei=None, vi=None, *, tau_prior="halfnormal", tau_scale=0.5, mu_prior=None, labels=None,
              level=95, turner_outcome=None,
              turner_comparison="pharmacological vs. placebo / control") -> BayesMetaResult:
    """Bayesian random-effects meta-analysis by numerical integration (R's ``bayesmeta``).

    Parameters
    ----------
    yi : array_like
        Study estimates (e.g. log odds ratios).
    sei, vi : array_like
        Their standard errors or sampling variances (give exactly one).
    tau_prior : {"halfnormal", "halfcauchy", "uniform", "jeffreys", "turner"} or callable
        Prior of the heterogeneity tau: half-normal or half-Cauchy with scale ``tau_scale``;
        uniform on (0, ``tau_scale``) (``tau_scale=math.inf`` gives bayesmeta's improper
        uniform); bayesmeta's (improper) Jeffreys prior; the log-normal predictive distribution
        of Turner et al. (2015) for log odds ratios (see ``turner_outcome``); or a density
        function of tau (normalised numerically when its integral is finite).
    tau_scale : float
        Scale of the half-normal or half-Cauchy prior, upper end of the uniform one.
    mu_prior : None or (mean, sd)
        None for the improper uniform prior on mu, or a normal prior.
    labels : sequence of str, optional
    level : float
        Credible level in percent (95) or as a fraction (0.95).
    turner_outcome, turner_comparison : str
        Row and column of :data:`TURNER_PRIORS` (unique prefixes accepted); ``turner_outcome=None``
        is the marginal prior log(tau²) ~ N(-2.56, 1.74²).

    Returns
    -------
    BayesMetaResult

    Notes
    -----
    The marginal posterior of tau is integrated with an adaptive Gauss-Legendre rule (relative
    accuracy about 1e-10); the posteriors of mu, of a new study's effect and of each study's own
    effect are normal mixtures over that rule, which plays the part of bayesmeta's DIRECT grid
    (Röver & Friede 2017) at a much finer accuracy. Bayes factors compare p(y | tau = 0) and
    p(y | mu = 0) with p(y) (the latter by the Savage-Dickey density ratio).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.bayesmeta([-2.31, -0.46, -2.30, -1.76, -1.26, -2.42],
    ...                    sei=[0.60, 0.56, 0.88, 0.46, 0.64, 1.53], tau_prior="halfnormal", tau_scale=0.5)
    >>> round(res.posterior["mu"]["median"], 2)
    -1.59
    """
    level = check_level(level)
    y = as_float_array(yi, "yi")
    if (sei is None) == (vi is None):
        raise InputError("give exactly one of sei (standard errors) and vi (sampling variances)")
    if sei is not None:
        s = as_float_array(sei, "sei")
        same_length(yi=y, sei=s)
        bad = np.flatnonzero(~(s > 0))
        name = "sei"
    else:
        v_in = as_float_array(vi, "vi")
        same_length(yi=y, vi=v_in)
        bad = np.flatnonzero(~(v_in > 0))
        s = np.sqrt(np.where(v_in > 0, v_in, 0.0))
        name = "vi"
    if len(bad):
        raise InputError(f"{name} must be positive; study {int(bad[0])} has {name} <= 0")
    k = len(y)
    if k == 0:
        raise InputError("yi is empty: give at least one study")
    v = s * s
    from .core import _labels

    labs = _labels(labels, k)
    if mu_prior is None:
        mu_mean = mu_sd = None
        mu_label = "uniform(min=-Inf, max=Inf)"
    else:
        try:
            mu_mean, mu_sd = (float(x) for x in mu_prior)
        except (TypeError, ValueError):
            raise InputError(f"mu_prior must be None or (mean, sd), got {mu_prior!r}") from None
        if not (math.isfinite(mu_mean) and math.isfinite(mu_sd) and mu_sd > 0):
            raise InputError(f"mu_prior needs a finite mean and a positive finite sd, got {mu_prior!r}")
        mu_label = f"normal(mean={mu_mean:g}, sd={mu_sd:g})"
    prior = _tau_prior(tau_prior, tau_scale, s, turner_outcome, turner_comparison)
    eng = _Engine(y, v, prior, mu_mean, mu_sd)
    lvl = level / 100.0
    posterior = {"tau": _describe(eng.tau_dist, lvl, lower_bounded=True),
                 "mu": _describe(eng.mu_mixture, lvl),
                 "theta": _describe(eng.theta_mixture, lvl)}
    post = eng.post
    mu_proper = mu_mean is not None
    marg = math.exp(post.log_z) if (prior.proper and mu_proper) else math.nan
    if prior.proper:
        ll0 = float(conditional_mu(np.array([0.0]), y, v, mu_mean, mu_sd)[2][0])
        bf_tau0 = math.exp(ll0 - post.log_z)
    else:
        bf_tau0 = math.nan
    if mu_proper:
        prior0 = math.exp(-0.5 * _LOG_2PI - math.log(mu_sd) - 0.5 * (mu_mean / mu_sd) ** 2)
        bf_mu0 = float(eng.mu_mixture.pdf(0.0)[0]) / prior0
    else:
        bf_mu0 = math.nan
    return BayesMetaResult(
        k=k, yi=readonly(y), sei=readonly(s), labels=labs, level=level, tau_prior=prior.label,
        mu_prior=mu_label, tau_prior_proper=prior.proper, mu_prior_proper=mu_proper, posterior=posterior,
        marginal_likelihood=marg, bayes_factor_tau0=bf_tau0, bayes_factor_mu0=bf_mu0, _engine=eng)
