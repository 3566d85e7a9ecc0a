"""Parametric survival models fitted to patient data (reconstructed or real), compared and extrapolated.

:func:`fit_survival_models` fits, per arm, the standard candidates of a health-technology
assessment (NICE DSU TSD 14; Latimer 2013): exponential, Weibull, Gompertz, log-logistic,
log-normal, generalised gamma and Royston-Parmar spline models, and returns a
:class:`SurvivalModelsResult` with one row per arm and model (log-likelihood, AIC, BIC, median,
restricted and unrestricted mean) and the fitted survival and hazard functions with delta-method
bands at any times (:meth:`SurvivalModelsResult.extrapolate`).

Fitting
-------
Each model is a lifelines univariate fitter (imported inside the functions):

==============  ============================  ===============================================
model           lifelines fitter              parameters (names as stored)
==============  ============================  ===============================================
exponential     ``ExponentialFitter``         ``lambda_`` (scale: mean), ``H = t/lambda``
weibull         ``WeibullFitter``             ``lambda_, rho_``: ``H = (t/lambda)^rho``
gompertz        :class:`GompertzFitter`       ``shape_, rate_``: ``h = rate exp(shape t)``
loglogistic     ``LogLogisticFitter``         ``alpha_, beta_``: ``S = 1/(1+(t/alpha)^beta)``
lognormal       ``LogNormalFitter``           ``mu_, sigma_``: ``log T ~ N(mu, sigma^2)``
gengamma        ``GeneralizedGammaFitter``    ``mu_, ln_sigma_, lambda_`` (Prentice 1974;
                                              flexsurv's ``gengamma`` with ``Q = lambda_``)
rp0 ... rp3     ``SplineFitter``              ``phi_0_ ...``: ``log H = s(log t)``
==============  ============================  ===============================================

The exponential, Weibull, log-logistic and log-normal fits are the intercept-only models of R's
``survreg`` (``log lambda`` is survreg's intercept, ``1/rho`` its scale). ``GompertzFitter`` is a
:class:`lifelines.fitters.ParametricUnivariateFitter` subclass defined here, in flexsurv's
parameterisation. lifelines' ``SplineFitter`` *is* the Royston-Parmar proportional-hazards spline
model on the log cumulative hazard scale: ``log H(t) = g0 + g1 x + sum_j g_{j+1} v_j(x)``,
``x = log t``, with the restricted cubic basis ``v_j(x) = (x-k_j)^3_+ - l_j (x-k_min)^3_+ -
(1-l_j) (x-k_max)^3_+``, ``l_j = (k_max-k_j)/(k_max-k_min)`` (Royston & Parmar 2002), the basis of
flexsurv's ``flexsurvspline(scale = "hazard")``. ``"rpK"`` places the boundary knots at the
smallest and largest log event time and ``K`` internal knots at the quantiles of the log event
times (R's ``quantile`` type 7), flexsurv's default; ``rp0`` is the Weibull model exactly.

lifelines' optimiser (Nelder-Mead, then a gradient method) is slow and stops about 1e-6 short of
the maximum on some data, so each model's lifelines log-likelihood is maximised by Newton-Raphson
with step halving on its exact (autograd) gradient and Hessian, from a start (the Weibull fit for
the generalised gamma, ``Q = 1``, also near ``Q = 0`` on both sides, and the splines), to a
relative step below 1e-12 (or a Newton step below 1e-8 SE); lifelines' ``fit`` is used, then
finished by Newton, only where Newton alone neither converges nor runs off (parameters a hundred
times their start's size away while the likelihood still rose: no maximum to find, and lifelines'
optimiser only climbs the same ridge, for seconds). The covariance matrix is the
inverse of the observed information there; a fit that runs to the edge of its parameter space
(a small arm) is kept with ``converged = False``. The log-likelihood is that of the times
(events contribute ``log f(t)``, censored ``log S(t)``), as ``survreg`` and flexsurv report it; AIC ``= -2 logLik + 2p``, BIC ``= -2 logLik +
p log n``.

Bands are delta-method intervals on the parameters: for ``S(t)`` on the log cumulative hazard
scale (``exp(-exp(log H +- z se))``, so they stay in (0, 1)), for ``h(t)`` on the log scale, for
the median on the log scale (``var t_m = dH' V dH / h(t_m)^2``).

References
----------
Royston P, Parmar MKB. Stat Med 2002;21:2175-97. Latimer NR. NICE DSU TSD 14 (2011, updated 2013).
Jackson C. flexsurv: J Stat Softw 2016;70(8). Prentice RL. Biometrika 1974;61:539-44.

Example
-------
>>> import metaanalysis as ma
>>> rec = ma.read_curve("data/curves/veteran_overall").reconstruct()       # doctest: +SKIP
>>> res = ma.fit_survival_models(rec.ipd, models=("exponential", "weibull", "rp1"))  # doctest: +SKIP
>>> res.to_frame()[["model", "aic", "median"]]                               # doctest: +SKIP
>>> res.extrapolate([365, 730])                                              # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from .._base import (
    ResultMixin,
    check_level,
    fmt,
    frame_field,
    frozen_field,
    jsonable,
    positive_number,
    readonly,
    zcrit,
)
from ..errors import ConvergenceError, InputError

__all__ = ["fit_survival_models", "SurvivalModelsResult", "MODELS"]

MODELS = ("exponential", "weibull", "gompertz", "loglogistic", "lognormal", "gengamma", "rp1", "rp2", "rp3")
_PARAMETRIC = {"exponential", "weibull", "gompertz", "loglogistic", "lognormal", "gengamma"}
_RP = re.compile(r"rp([0-9])$")
LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------------
# the Gompertz fitter (a lifelines extension), built on first use so that lifelines loads lazily


@functools.lru_cache(maxsize=None)
def _gompertz_class():
    import autograd.numpy as anp
    from lifelines.fitters import ParametricUnivariateFitter

    class GompertzFitter(ParametricUnivariateFitter):
        r"""Gompertz model ``h(t) = rate * exp(shape * t)``, ``H(t) = rate/shape (exp(shape t) - 1)``.

        flexsurv's ``dist = "gompertz"`` parameterisation. ``shape < 0`` gives a curve that levels
        off at ``exp(rate/shape)`` (a cured fraction): median and mean may then be infinite.

        Example
        -------
        >>> from metaanalysis.survival.models import GompertzFitter
        >>> GompertzFitter().fit([1, 2, 3, 5, 8], [1, 1, 0, 1, 1]).rate_ > 0
        True
        """

        _fitted_parameter_names = ["shape_", "rate_"]
        _bounds = [(None, None), (1e-300, None)]

        def _create_initial_point(self, Ts, E, entry, weights):
            t = np.asarray(Ts[0], float)
            rate = max(float(np.sum(E)), 1.0) / float(np.sum(t))
            return np.array([0.1 * rate, rate])

        def _cumulative_hazard(self, params, times):
            shape, rate = params[0], params[1]
            # shape -> 0 is the exponential limit; keep the division away from 0 so autograd's
            # derivative stays finite there too
            safe = anp.where(anp.abs(shape) < 1e-12, 1e-12, shape)
            return rate * anp.expm1(safe * times) / safe

        def _log_hazard(self, params, times):
            return anp.log(params[1]) + params[0] * times

    GompertzFitter.__module__ = __name__
    return GompertzFitter


def __getattr__(name):
    # ``from metaanalysis.survival.models import GompertzFitter`` without importing lifelines at
    # module import
    if name == "GompertzFitter":
        return _gompertz_class()
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------------
# input


def _arms(ipd) -> dict:
    """``{arm name: (time, event)}`` from one arm, a frame with an ``arm`` column or a mapping."""
    from .km import _arm

    if isinstance(ipd, dict):
        if not ipd:
            raise InputError("ipd is an empty mapping; give {arm name: DataFrame[time, event]}")
        out = {str(k): _arm(v, f"ipd[{k!r}]") for k, v in ipd.items()}
    elif hasattr(ipd, "columns") and "arm" in ipd.columns:
        out = {}
        for name in dict.fromkeys(ipd["arm"].tolist()):
            out[str(name)] = _arm(ipd.loc[ipd["arm"] == name], f"ipd (arm {name!r})")
    else:
        out = {"all": _arm(ipd, "ipd")}
    for name, (t, e) in out.items():
        if np.any(t <= 0):
            i = int(np.flatnonzero(t <= 0)[0])
            raise InputError(
                f"arm {name!r}: time at index {i} is {t[i]}; the models need positive times "
                "(drop the row or shift zero times by a small amount such as half the smallest positive time)"
            )
        if e.sum() < 2:
            raise InputError(f"arm {name!r} has {int(e.sum())} events; at least 2 are needed to fit a model")
    return out


def _model_names(models) -> tuple:
    if isinstance(models, str):
        models = (models,)
    out = []
    for m in models:
        key = str(m).lower()
        if key not in _PARAMETRIC and not _RP.match(key):
            raise InputError(
                f"unknown survival model {m!r}; choose from exponential, weibull, gompertz, loglogistic, "
                "lognormal, gengamma, or rp0 ... rp9 (Royston-Parmar spline with that many internal knots)"
            )
        out.append(key)
    if not out:
        raise InputError("models is empty; give at least one model name such as 'weibull'")
    return tuple(dict.fromkeys(out))


def rp_knots(time, event, n_internal: int) -> np.ndarray:
    """Knots (on the log time scale) of a Royston-Parmar model, as flexsurv places them by default.

    Boundary knots at the smallest and largest log event time, ``n_internal`` internal knots at the
    quantiles ``j/(n_internal+1)`` of the log event times (type 7, numpy's default).

    Examples
    --------
    >>> import numpy as np
    >>> np.exp(rp_knots([1, 2, 4, 8], [1, 1, 1, 0], 1)).round(6).tolist()
    [1.0, 2.0, 4.0]
    """
    lt = np.log(np.asarray(time, float)[np.asarray(event) == 1])
    return np.quantile(lt, np.linspace(0.0, 1.0, n_internal + 2))


# ---------------------------------------------------------------------------------------------------
# one fitted model


def _fitter_for(model: str, t, e):
    """The lifelines fitter of ``model`` and a start for the maximisation."""
    import lifelines as ll

    lt = np.log(t[e == 1])
    rate = e.sum() / t.sum()
    # Weibull start from a least-squares line through log(-log KM) would be better, but the
    # exponential point (rho = 1) is always inside the basin Newton-with-halving reaches
    weib = np.array([1 / rate, 1.0])
    if model == "exponential":
        return ll.ExponentialFitter(), np.array([1 / rate])
    if model == "weibull":
        return ll.WeibullFitter(), weib
    if model == "gompertz":
        return _gompertz_class()(), np.array([1e-3 * rate, rate])
    if model == "loglogistic":
        return ll.LogLogisticFitter(), np.array([math.exp(lt.mean()), 1.5])
    if model == "lognormal":
        return ll.LogNormalFitter(), np.array([lt.mean(), max(lt.std(), 0.1)])
    lam, rho = _weibull_start(t, e)
    if model == "gengamma":
        # Q = 1 is the Weibull model: start the generalised gamma at the Weibull fit
        # Q = 1 is the Weibull model: start there, and near the log-normal (Q -> 0) on both sides
        sd = max(lt.std(), 0.1)
        return ll.GeneralizedGammaFitter(), [np.array([math.log(lam), -math.log(rho), 1.0]),
                                             np.array([lt.mean(), math.log(sd), 0.5]),
                                             np.array([lt.mean(), math.log(sd), -0.5])]
    k = int(_RP.match(model).group(1))
    knots = rp_knots(t, e, k)
    if np.any(np.diff(knots) <= 0):
        # a property of this arm's data (times rounded to whole months tie the quantiles), not of
        # the call: the model gets a failure row and the others are still fitted
        raise ConvergenceError(f"{model}: the knots {np.exp(knots).tolist()} coincide; too few distinct "
                               "event times for its knots")
    # log H = -rho log(lambda) + rho log t is the Weibull fit; splines start at 0
    return ll.SplineFitter(np.exp(knots)), np.r_[-rho * math.log(lam), rho, np.zeros(k)]


_WEIBULL_STARTS: dict = {}
_WEIBULL_LOCK = threading.Lock()


def _weibull_start(t, e) -> tuple:
    """The Weibull fit's (lambda, rho), the start of the generalised gamma and the spline models:
    kept for the last few data sets, as the four models of one arm would each fit it again."""
    key = (np.asarray(t, float).tobytes(), np.asarray(e, float).tobytes())
    start = _WEIBULL_STARTS.get(key)
    if start is None:
        lam, rho = _fit_one("", "weibull", t, e).params
        start = (float(lam), float(rho))
        with _WEIBULL_LOCK:  # fits may run in threads: evict and store as one step
            while len(_WEIBULL_STARTS) >= 16:
                _WEIBULL_STARTS.pop(next(iter(_WEIBULL_STARTS)))
            _WEIBULL_STARTS[key] = start
    return start


def _loglik(fitter, params, t, e):
    te = t[e == 1]
    # broadcast: the exponential fitter's log hazard is a scalar
    return (fitter._log_hazard(params, te) + np.zeros_like(te)).sum() - fitter._cumulative_hazard(params, t).sum()


def _se_of(hx):
    """Standard errors from a Hessian (nan where it is not usable)."""
    if not np.all(np.isfinite(hx)):
        return np.full(len(hx), np.nan)
    try:
        return np.sqrt(np.abs(np.diag(np.linalg.pinv(-hx))))
    except np.linalg.LinAlgError:
        return np.full(len(hx), np.nan)


# a fit that has not converged and whose parameters moved this many times their start's size away
# has run off (see _newton); lifelines' slower optimisers are not tried after it
_RAN_OFF = 100.0


# a fit whose standard error exceeds this many times (1 + |parameter|) is on a flat likelihood
_FLAT_SE = 100.0


def _rises_along_q(fitter, x, vcov, ll, t, e) -> bool:
    """Whether the generalised gamma's profile likelihood a little way out in Q, on either side,
    is as high as at ``x``: then ``x`` is a point on a ridge that rises (or stays level) towards
    Q -> +-inf, not a maximum, however small the gradient there.

    R's survival::cgd (first infections, both arms): Newton stopped at Q = 4.10 with SE 225, the
    gradient negligible, inside the flat-likelihood guard (SE < 100 (1 + |Q|)); the profile rises
    by 4e-7 to a plateau from Q = 6 on. At a true maximum the profile 0.5 and 2 out in Q is lower
    by 0.125 / SE² and 2 / SE², which the check resolves for SE up to about 500 (flatter fits
    are stopped by that guard). Only fits whose SE of Q exceeds 5 (1 + |Q|) are looked at: a
    ridge is flat, and the check costs a few two-parameter fits.
    """
    from scipy.optimize import minimize

    v_q = vcov[2, 2]
    if not (np.isfinite(v_q) and v_q > 25 * (1 + abs(x[2])) ** 2):
        return False
    for q in (x[2] - 2, x[2] - 0.5, x[2] + 0.5, x[2] + 2):
        def negll(a, q=q):
            with np.errstate(all="ignore"):
                v = float(_loglik(fitter, np.r_[a, q], t, e))
            return -v if math.isfinite(v) else math.inf

        fit = minimize(negll, x[:2], method="Nelder-Mead",
                       options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 4000})
        if math.isfinite(fit.fun) and -fit.fun >= ll - 1e-12 * max(1.0, abs(ll)):
            return True
    return False


def _richardson_hessian(grad, x, rel: float = 1e-3) -> np.ndarray:
    """The Hessian by central differences of ``grad``, Richardson-extrapolated over two steps.

    Used for the generalised gamma, whose autograd Hessian goes through a numerical derivative of
    the incomplete gamma function in its shape and was off by up to 1.1e-3 relative in the
    standard errors; the gradient itself is accurate, and differencing it with steps h and h/2
    (error O(h^4) after extrapolation) agrees with R's optimHess to about 1e-6, and with an exact
    (40-digit) Hessian to 5e-6 at worst so far (the SE of Q on R's jasa data; a step ten times
    longer gains there but loses on lung and pbc, where the third derivatives are larger).
    """
    x = np.asarray(x, float)
    h = rel * (1.0 + np.abs(x))

    def central(step):
        cols = [(np.asarray(grad(x + step[i] * u), float) - np.asarray(grad(x - step[i] * u), float))
                / (2 * step[i]) for i, u in enumerate(np.eye(len(x)))]
        m = np.column_stack(cols)
        return (m + m.T) / 2

    return (4 * central(h / 2) - central(h)) / 3


def _newton(fitter, x0, t, e, model):
    """Finish lifelines' fit with Newton steps on autograd's gradient (see ``h_steps``)."""
    from autograd import grad, hessian

    f = lambda p: _loglik(fitter, p, t, e)  # noqa: E731
    g, h = grad(f), hessian(f)

    def h_steps(x, gx):
        # The parametric families' steps use forward differences of autograd's gradient (``gx``
        # is the gradient at ``x``, which the step computed anyway): autograd's Hessian of their
        # special functions costs 7-17 gradients (20 ms for the generalised gamma), central
        # differences 2p, these p. A step needs no more: the gradient decides where the maximum
        # is (the estimates moved by at most 4e-9 relative against central differences on the
        # shipped curves), and the covariance at the end is autograd's Hessian. That Hessian is
        # exact except for the generalised gamma, whose incomplete-gamma derivatives in the shape
        # are numerical inside autograd-gamma: its standard errors were off by up to 1.1e-3
        # relative (cgd), so its covariance comes from central differences of the gradient
        # instead (_richardson_hessian).
        d = 1e-7 * (1.0 + np.abs(x))
        cols = [(np.asarray(g(x + d[i] * u), float) - gx) / d[i] for i, u in enumerate(np.eye(len(x)))]
        hx = np.column_stack(cols)
        return (hx + hx.T) / 2

    # the steps' log-likelihood, gradient and Hessian; the value and covariance returned are
    # lifelines' and autograd's exact ones at the end
    if model.startswith("rp"):
        f_it, g_it, h_rp = _rp_loglik(fitter, t, e)
        h_it = lambda x, gx: h_rp(x)  # noqa: E731
    else:
        f_it, g_it, h_it = f, g, h_steps
    x = np.asarray(x0, float)
    ll = ll0 = float(f_it(x))
    converged = False
    for _ in range(100):
        with np.errstate(all="ignore"):
            gx = np.asarray(g_it(x), float)
            hx = np.asarray(h_it(x, gx), float)
        if not (np.all(np.isfinite(gx)) and np.all(np.isfinite(hx))):
            break
        try:
            step = np.linalg.solve(hx, gx)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        if gx @ step > 0:  # not an ascent direction (Hessian not negative definite): gradient step
            step = -gx / max(np.abs(np.diag(hx)).max(), 1.0)
        s = 1.0
        while s > 1e-10:
            xn = x - s * step
            with np.errstate(all="ignore"):
                lln = float(f_it(xn))
            if math.isfinite(lln) and lln >= ll - 1e-13 * abs(ll):
                break
            s /= 2
        else:
            break
        # converged when the step is below 1e-12 relative, or a full Newton step is below 1e-8
        # standard errors: the generalised gamma's special functions leave gradient noise of
        # 3e-10 to 1e-9 SE at the maximum (measured on veteran), which a tighter bound chased for
        # 20 more iterations
        se = _se_of(hx)
        done = np.all(np.abs(xn - x) <= 1e-12 * (1 + np.abs(x))) or (s == 1.0 and np.all(np.abs(step) <= 1e-8 * se))
        x, ll = xn, lln
        if done:
            converged = True
            break
    with np.errstate(all="ignore"):
        exact = float(f(x))
        hx = np.asarray(h(x) if model != "gengamma" else _richardson_hessian(g, x), float)
    # lifelines' value where it has one (the splines' closed form stays finite further out, where
    # a fit that runs off is stopped)
    ll = exact if math.isfinite(exact) else ll
    if not converged:
        # halving found no higher point: at the maximum to rounding if the gradient is negligible
        # on the scale of the standard errors
        with np.errstate(all="ignore"):
            gx = np.asarray(g(x), float)
        scale = _se_of(hx)
        converged = bool(np.all(np.isfinite(gx)) and np.max(np.abs(gx) * scale) < 1e-7)
    try:
        vcov = np.linalg.inv(-hx)
    except (np.linalg.LinAlgError, ValueError):
        vcov = np.full_like(hx, np.nan)
    if not np.all(np.isfinite(vcov)) or np.any(np.diag(vcov) <= 0):
        converged = False
    elif np.any(np.sqrt(np.diag(vcov)) > _FLAT_SE * (1.0 + np.abs(x))):
        # a standard error a hundred times the parameter's size: the likelihood is flat in that
        # direction (a generalised gamma on ten patients with three events, whose Q has no
        # interior maximum, stopped at Q = 9.6 with SE 7068 and a median interval of 1e-206 to
        # 6e207), not at a maximum worth reporting
        converged = False
    # climbing without a maximum: the parameters went a hundred times their start's size away
    # while the likelihood rose (a generalised gamma with Q -> -inf, more spline parameters than
    # events); another optimiser from the same start follows the same ridge
    x0 = np.asarray(x0, float)
    ran_off = (not converged and math.isfinite(ll) and ll > ll0
               and float(np.max(np.abs(x - x0))) > _RAN_OFF * (1.0 + float(np.max(np.abs(x0)))))
    return x, ll, vcov, converged, ran_off


def _rp_basis(knots, x):
    """lifelines' Royston-Parmar basis (SplineFitterMixin.basis) at log times ``x`` and its
    derivative in log time: ``log H = B @ p`` and ``d log H / d log t = D @ p``."""
    lo, hi = knots[0], knots[-1]
    B = [np.ones_like(x), x]
    D = [np.zeros_like(x), np.ones_like(x)]
    for k in knots[1:-1]:
        lam = (hi - k) / (hi - lo)
        B.append(np.maximum(x - k, 0) ** 3 - lam * np.maximum(x - lo, 0) ** 3
                 - (1 - lam) * np.maximum(x - hi, 0) ** 3)
        D.append(3 * (np.maximum(x - k, 0) ** 2 - lam * np.maximum(x - lo, 0) ** 2
                      - (1 - lam) * np.maximum(x - hi, 0) ** 2))
    return np.column_stack(B), np.column_stack(D)


def _rp_loglik(fitter, t, e):
    """Log-likelihood, gradient and Hessian of a Royston-Parmar model in closed form.

    lifelines' spline model is linear in its parameters on the log cumulative hazard scale,
    log H(t) = B(log t) @ params (an intercept, log t and one restricted cubic basis function per
    internal knot), so with D = dB/d log t the log-likelihood is
    sum over events of (B @ p + log(D @ p) - log t) minus the sum of exp(B @ p). autograd would
    differentiate the hazard (itself a derivative) again at every step; these are numpy products.
    """
    x = np.log(t)
    kn = np.log(np.asarray(fitter.knot_locations, float))
    B, D = _rp_basis(kn, x)
    xe = x[e == 1]
    Be, D, sum_lt = B[e == 1], D[e == 1], xe.sum()

    def f(p):
        d = D @ p
        if np.any(d <= 0):  # a decreasing cumulative hazard: outside the model
            return -math.inf
        return float((Be @ p).sum() + np.log(d).sum() - sum_lt - np.exp(B @ p).sum())

    def g(p):
        return Be.sum(axis=0) + (D / (D @ p)[:, None]).sum(axis=0) - np.exp(B @ p) @ B

    def h(p):
        Dd = D / (D @ p)[:, None]
        return -(Dd.T @ Dd) - (B * np.exp(B @ p)[:, None]).T @ B

    return f, g, h


def _gengamma_h_logh(p, t):
    """Cumulative hazard and log hazard of the generalised gamma (lifelines' parameters mu,
    ln_sigma, lambda), by scipy's regularised incomplete gamma functions and their tail forms.

    lifelines clips the argument of its incomplete gamma to [1e-300, 1e20] and floors S at 1e-35:
    far out in the tail (an extrapolation to five times the follow-up) its hazard collapsed to
    5e-27 where R gives 0.0148. These forms keep S down to about 1e-300 and the hazard finite
    beyond it (log f - log S with log S from the asymptotic series of the incomplete gamma).
    """
    from scipy.special import gammainc, gammaincc, gammaln, log_ndtr

    mu, ln_sigma, lam = (float(x) for x in p)
    t = np.asarray(t, float)
    logt = np.log(t)
    w = (logt - mu) / math.exp(ln_sigma)
    if abs(lam) < 1e-8:  # the log-normal limit
        log_s = log_ndtr(-w)
        log_f = -0.5 * w**2 - 0.5 * math.log(2 * math.pi) - ln_sigma - logt
        return -log_s, log_f - log_s
    a = 1.0 / lam**2
    log_u = math.log(a) + lam * w
    u = np.exp(np.minimum(log_u, 700.0))
    log_f = math.log(abs(lam)) - logt - ln_sigma - gammaln(a) + a * math.log(a) + a * lam * w - np.exp(log_u)
    upper, lower = gammaincc(a, u), gammainc(a, u)
    s, one_minus_s = (upper, lower) if lam > 0 else (lower, upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.where(one_minus_s < 0.5, np.log1p(-one_minus_s), np.log(np.maximum(s, 1e-300)))
        tiny = s < 1e-290
        if np.any(tiny):
            if lam > 0:  # Q(a, u) for u >> a: u^(a-1) e^-u / Gamma(a) (1 + (a-1)/u + (a-1)(a-2)/u^2)
                lu = log_u[tiny]
                uu = np.exp(np.minimum(lu, 700.0))
                series = np.log1p((a - 1) / uu + (a - 1) * (a - 2) / uu**2)
                log_s[tiny] = (a - 1) * lu - np.exp(lu) - gammaln(a) + series
            else:  # P(a, u) for small u: u^a e^-u / Gamma(a + 1) (1 + u / (a + 1))
                lu = log_u[tiny]
                log_s[tiny] = a * lu - np.exp(lu) - gammaln(a + 1) + np.log1p(np.exp(lu) / (a + 1))
    return -log_s, log_f - log_s


@dataclass(frozen=True, eq=False)
class _ModelFit:
    """One model on one arm: the lifelines fitter (for its functions), the MLE and its covariance."""

    arm: str
    model: str
    fitter: object
    params: np.ndarray
    names: tuple
    vcov: np.ndarray
    loglik: float
    n: int
    events: int
    converged: bool
    knots: np.ndarray | None = None

    @property
    def n_params(self) -> int:
        return len(self.params)

    # value and delta-method band of log H, log h at times t (t > 0)
    def _with_se(self, fun, t):
        t = np.asarray(t, float)
        zero = np.zeros_like(t)  # some lifelines hazards are scalars (exponential): broadcast them
        p = np.asarray(self.params, float)
        if self.knots is not None and fun in (self._log_cumhaz_values, self._log_hazard_values):
            # a spline is linear in its parameters on the log H scale: the Jacobian in closed
            # form (log h = log(D p) + B p - log t bends so sharply in strongly correlated
            # coefficients that central differences missed the band by up to 5 %, against R:
            # tests/reference/survival_models_other.R)
            B, D = _rp_basis(np.asarray(self.knots, float), np.log(t))
            with np.errstate(all="ignore"):
                if fun == self._log_cumhaz_values:
                    val, jac = B @ p, B
                else:
                    slope = D @ p
                    val, jac = np.log(slope) + B @ p - np.log(t), D / slope[:, None] + B
            var = np.einsum("ij,jk,ik->i", jac, self.vcov, jac)
            return val, np.sqrt(np.clip(var, 0, None))
        # The Jacobian by central differences over the (at most 12) parameters: autograd's
        # reverse mode takes one pass per time point (200 for a band: 0.08 s a model), and a
        # delta-method band needs no more than these give (1e-8 relative or better). Steps are
        # a small fraction of each parameter's standard error, the scale the band lives on
        # (Gompertz' rate is 1e-4 and its SE smaller still).
        se = np.sqrt(np.abs(np.diag(np.asarray(self.vcov, float))))
        d = np.where(np.isfinite(se) & (se > 0), 1e-3 * se, 1e-6 * (1.0 + np.abs(p)))
        with np.errstate(all="ignore"):
            val = np.asarray(fun(p, t) + zero, float)
            jac = np.column_stack([
                (np.asarray(fun(p + d[j] * u, t) + zero, float)
                 - np.asarray(fun(p - d[j] * u, t) + zero, float)) / (2 * d[j])
                for j, u in enumerate(np.eye(len(p)))])
        var = np.einsum("ij,jk,ik->i", jac, self.vcov, jac)
        return val, np.sqrt(np.clip(var, 0, None))

    # the functions the curves, bands and extrapolations evaluate (numbers, not autograd): the
    # generalised gamma's own, which stay accurate where lifelines clips (see _gengamma_h_logh)
    def _cumhaz_values(self, p, t):
        if self.model == "gengamma":
            return _gengamma_h_logh(p, t)[0]
        return self.fitter._cumulative_hazard(p, t)

    def _log_cumhaz_values(self, p, t):
        return np.log(np.asarray(self._cumhaz_values(p, t), float))

    def _log_hazard_values(self, p, t):
        if self.model == "gengamma":
            return _gengamma_h_logh(p, t)[1]
        return self.fitter._log_hazard(p, t)

    def cumulative_hazard(self, t):
        t = np.asarray(t, float)
        out = np.zeros_like(t)
        pos = t > 0
        with np.errstate(all="ignore"):
            out[pos] = np.asarray(self._cumhaz_values(self.params, t[pos]), float)
        return out

    def hazard(self, t):
        t = np.asarray(t, float)
        with np.errstate(all="ignore"):
            lh = self._log_hazard_values(self.params, np.maximum(t, 1e-300))
            return np.exp(np.asarray(lh, float) + np.zeros_like(t))

    def survival(self, t):
        return np.exp(-self.cumulative_hazard(t))

    def survival_band(self, t, z):
        t = np.asarray(t, float)
        s = np.ones_like(t)
        lo, hi = np.ones_like(t), np.ones_like(t)
        pos = t > 0
        if pos.any():
            lh, se = self._with_se(self._log_cumhaz_values, t[pos])
            s[pos] = np.exp(-np.exp(lh))
            lo[pos] = np.exp(-np.exp(lh + z * se))
            hi[pos] = np.exp(-np.exp(lh - z * se))
        return s, lo, hi

    def hazard_band(self, t, z):
        t = np.asarray(t, float)
        out = np.full((3, len(t)), np.nan)
        pos = t > 0
        if pos.any():
            lh, se = self._with_se(self._log_hazard_values, t[pos])
            out[:, pos] = np.exp([lh, lh - z * se, lh + z * se])
        return out

    def median(self, z):
        """Median and its delta-method interval (log scale); inf when S never reaches 0.5."""
        from scipy.optimize import brentq

        f = lambda u: float(self.cumulative_hazard(np.array([math.exp(u)]))[0]) - LN2  # noqa: E731
        lo, hi = -1.0, 1.0
        while f(lo) > 0 and lo > -700:
            lo -= 2 * abs(lo)
        while f(hi) < 0:
            hi += 2 * abs(hi)
            if hi > 700:
                return math.inf, math.nan, math.nan
        u = brentq(f, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=500)
        tm = math.exp(u)
        (lh,), (se_lh,) = self._with_se(self._log_cumhaz_values, np.array([tm]))
        # d log t_m = -d log H(t_m) / (d log H / d log t) at the median
        slope = float(self.hazard(np.array([tm]))[0]) * tm / LN2
        se = se_lh / slope
        return tm, tm * math.exp(-z * se), tm * math.exp(z * se)

    def _area(self, upper: float) -> float:
        """Area under S from 0 to ``upper`` (may be inf), integrated over u = log t, where the
        integrand S(e^u) e^u is smooth and the tail of a heavy-tailed curve is short."""
        tiny = 1e-9 * float(np.exp(self.knots[0])) if self.knots is not None else 1e-9 * self._scale()

        def f(u):
            with np.errstate(all="ignore"):
                v = self.survival(np.exp(np.minimum(u, 700.0))) * np.exp(np.minimum(u, 700.0))
            # beyond u = 700 no finite mean has support in double precision
            return np.where(np.isfinite(v) & (u <= 700.0), v, 0.0)

        hi = math.log(upper) if math.isfinite(upper) else math.inf
        if hi <= math.log(tiny):
            return _integrate(self.survival, [0.0, upper], 1e-11)
        pts = [] if self.knots is None else [k for k in self.knots if math.log(tiny) < k < hi]
        # the interval below ``tiny`` contributes tiny * S (S = 1 there to ~1e-9)
        val = tiny
        if math.isfinite(hi):
            return float(val + _integrate(f, [math.log(tiny), *pts, hi], 1e-11))
        mid = math.log(self._scale()) + 3.0
        val += _integrate(f, [math.log(tiny), *[k for k in pts if k < mid], mid], 1e-11)
        # the tail in steps of e^2 until a step adds nothing (integrating to inf trips over the
        # clipped special functions of some lifelines fitters far out), eight steps at a time
        while mid < 700:
            edges = mid + 2.0 * np.arange(9)
            parts = _integrate(f, edges, 1e-11, each=True)
            for part in parts:
                val += part
                mid += 2.0
                if part <= 1e-14 * val or mid >= 700:
                    return float(val)
        return float(val)

    def _scale(self) -> float:
        """A time of the order of the data's (the time where H = 1), to place integration limits."""
        from scipy.optimize import brentq

        g = lambda u: float(self.cumulative_hazard(np.array([math.exp(u)]))[0]) - 1.0  # noqa: E731
        try:
            return math.exp(brentq(g, -50, 50))
        except ValueError:
            return 1.0

    def restricted_mean(self, horizon: float) -> float:
        return self._area(float(horizon))

    def mean(self) -> float:
        """Unrestricted mean survival; ``inf`` where the tail is too heavy (or a cured fraction)."""
        from scipy.special import gammaln

        p = dict(zip(self.names, self.params))
        m = self.model
        if m == "exponential":
            return float(p["lambda_"])
        if m == "weibull":
            return float(p["lambda_"] * math.exp(math.lgamma(1 + 1 / p["rho_"])))
        if m == "lognormal":
            return float(math.exp(p["mu_"] + p["sigma_"] ** 2 / 2))
        if m == "loglogistic":
            b = p["beta_"]
            return float(p["alpha_"] * (math.pi / b) / math.sin(math.pi / b)) if b > 1 else math.inf
        if m == "gengamma":
            q, s = p["lambda_"], math.exp(p["ln_sigma_"])
            if abs(q) < 1e-8:
                return float(math.exp(p["mu_"] + s**2 / 2))
            a = 1 / q**2
            if a + s / q <= 0:
                return math.inf
            return float(math.exp(p["mu_"] + (s / q) * math.log(q**2) + gammaln(a + s / q) - gammaln(a)))
        if m == "gompertz" and p["shape_"] < 0:
            return math.inf
        if self.knots is not None:
            # beyond the last knot log H is linear in log t (a Weibull tail): finite iff its slope > 0
            x = np.exp(self.knots[-1] + np.array([1.0, 2.0]))
            slope = float(np.diff(np.log(self.cumulative_hazard(x)))[0])
            if slope <= 0:
                return math.inf
        return self._area(math.inf)


_GAUSS = (np.polynomial.legendre.leggauss(10), np.polynomial.legendre.leggauss(21))


def _integrate(f, edges, rtol, *, each=False, rounds=60, max_panels=1000):
    """Integral of a vectorised ``f`` over the panels between consecutive ``edges`` (the sum, or
    one integral per panel with ``each``): every panel is integrated with Gauss-Legendre rules of
    10 and 21 nodes and halved until the two agree within its share of ``rtol`` times the whole;
    ``f`` is called once per round for all the panels still open (one scalar call per node, as a
    scalar adaptive rule would make them, costs the lifelines functions' overhead each time).
    A panel also passes when the two rules agree to rounding (an integrand with noise of its own
    would otherwise be halved without end), and once ``max_panels`` are open all of them are
    taken as they stand (scipy's quad stops at a subdivision limit the same way)."""
    (x1, w1), (x2, w2) = _GAUSS
    edges = np.asarray(edges, float)
    lo, hi, owner = edges[:-1], edges[1:], np.arange(len(edges) - 1)
    done = np.zeros(len(edges) - 1)
    for r in range(rounds):
        c, h = (lo + hi) / 2, (hi - lo) / 2
        v = f(np.concatenate([(c[:, None] + h[:, None] * x1).ravel(),
                              (c[:, None] + h[:, None] * x2).ravel()]))
        k = len(lo) * len(x1)
        coarse = h * (v[:k].reshape(len(lo), -1) @ w1)
        fine = h * (v[k:].reshape(len(lo), -1) @ w2)
        whole = abs(done.sum() + fine.sum())
        err = np.abs(fine - coarse)
        ok = ((err <= rtol * whole / len(lo)) | (err <= 50 * np.finfo(float).eps * np.abs(fine))
              | (r == rounds - 1) | (2 * len(lo) > max_panels))
        np.add.at(done, owner[ok], fine[ok])
        if ok.all():
            break
        lo, hi, owner, c = lo[~ok], hi[~ok], owner[~ok], c[~ok]
        lo, hi, owner = np.r_[lo, c], np.r_[c, hi], np.r_[owner, owner]
    return done if each else float(done.sum())


def _fit_one(arm, model, t, e) -> _ModelFit:
    """Newton-Raphson from the start(s); lifelines' own optimiser (Nelder-Mead then L-BFGS-B/SLSQP,
    slow) only where Newton alone neither converges nor runs off (see ``_RAN_OFF``)."""
    import warnings

    # a model with p parameters needs p distinct event times: with fewer its likelihood can rise
    # without bound (10 events all at t = 5 and 5 censored after: a generalised gamma with a
    # spike at 5 and a tail for the rest, a log-likelihood of +17.8 reported as converged), so
    # there is no estimate to report. The two-parameter families are the exception: with their
    # single mode they can only collapse onto one time, which a patient followed past it
    # forbids (a curve that falls to 0 there cannot keep that patient alive); R's survreg then
    # finds their maximum, and so do the steps below
    rp = _RP.match(model)
    p = int(rp.group(1)) + 2 if rp else {"exponential": 1, "gengamma": 3}.get(model, 2)
    distinct = len(np.unique(t[e > 0]))
    bounded = p == 2 and distinct == 1 and bool(np.any(t[e == 0] > t[e > 0].max()))
    if distinct < p and not bounded:
        raise ConvergenceError(f"{model}: {distinct} distinct event time(s) cannot identify its {p} "
                               "parameters; its likelihood has no maximum")
    fitter, starts = _fitter_for(model, t, e)
    if not isinstance(starts, list):
        starts = [starts]
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in starts:
            cand = _newton(fitter, start, t, e, model)
            if math.isfinite(cand[1]) and (best is None or (cand[3], cand[1]) > (best[3], best[1])):
                best = cand
        if best is None or not (best[3] or best[4]):
            try:
                fitter.fit(t, e, initial_point=starts[0])
                cand = _newton(fitter, np.asarray(fitter._fitted_parameters_, float), t, e, model)
                if math.isfinite(cand[1]) and (best is None or (cand[3], cand[1]) > (best[3], best[1])):
                    best = cand
            except Exception as exc:  # lifelines raises its own ConvergenceError and numpy errors
                if best is None:
                    raise ConvergenceError(
                        f"{model} on arm {arm!r}: Newton-Raphson from {[s.tolist() for s in starts]} and "
                        f"lifelines' fit both failed ({type(exc).__name__})") from exc
    if best is None:
        raise ConvergenceError(f"{model} on arm {arm!r}: no finite log-likelihood (tried Newton, then lifelines)")
    x, ll, vcov, ok, _ = best
    if ok and model == "gengamma" and _rises_along_q(fitter, x, vcov, ll, t, e):
        ok = False
    names = tuple(fitter._fitted_parameter_names)
    knots = np.log(np.asarray(fitter.knot_locations, float)) if model.startswith("rp") else None
    return _ModelFit(arm, model, fitter, readonly(x), names, readonly(vcov), float(ll), len(t),
                     int(e.sum()), bool(ok), None if knots is None else readonly(knots))


# ---------------------------------------------------------------------------------------------------
# the result


_TABLE_COLS = ("arm", "model", "n_params", "loglik", "aic", "bic", "median", "median_ci_low", "median_ci_high",
               "restricted_mean", "mean", "horizon", "horizon_beyond_follow_up", "n", "events", "converged")


@dataclass(frozen=True, eq=False, repr=False)
class SurvivalModelsResult(ResultMixin):
    """Parametric survival models fitted per arm (see :func:`fit_survival_models`).

    Attributes
    ----------
    rows : tuple of dict
        One per arm and model: ``arm, model, n_params, loglik, aic, bic, median, median_ci_low,
        median_ci_high, restricted_mean`` (area under the curve up to ``horizon``), ``mean``
        (unrestricted, so extrapolated to infinity; ``inf`` where it does not exist), ``horizon``,
        ``horizon_beyond_follow_up`` (the arm's follow-up ends before ``horizon``: its restricted
        mean is partly extrapolated), ``n, events, converged``.
    arms, models : tuple of str
    horizon : float
        Time the restricted mean is taken to.
    level : float
        Level (percent) of the bands and median intervals.
    km : DataFrame
        Kaplan-Meier table per arm (``arm, time, survival, ci_low, ci_high``) for plots.
    failures : dict
        ``{(arm, model): message}`` for models that could not be fitted at all (their row is NaN,
        ``converged`` False). A fit that stopped short (e.g. a generalised gamma running off to
        ``Q -> -inf`` on a small arm) is kept, flagged ``converged = False``.
    """

    rows: tuple
    arms: tuple
    models: tuple
    horizon: float
    level: float
    km: object = frame_field()
    _fits: dict = field(repr=False)
    failures: dict = frozen_field({})
    _ipd: dict = field(default_factory=dict, repr=False)

    # -- tables ---------------------------------------------------------------------------------
    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(_TABLE_COLS))

    def to_dict(self) -> dict:
        return jsonable({
            "level": self.level,
            "horizon": self.horizon,
            "models": [dict(r) for r in self.rows],
            "parameters": self.parameters().to_dict(orient="records"),
        })

    def fit(self, model: str, arm: str | None = None) -> _ModelFit:
        """The fitted model (its lifelines fitter, ``params``, ``vcov``) of one arm."""
        arm = self.arm_name(arm)
        key = (arm, str(model).lower())
        if key in self.failures:
            raise ConvergenceError(self.failures[key])
        if key not in self._fits:
            raise InputError(f"model {model!r} was not fitted; fitted: {list(self.models)}")
        return self._fits[key]

    def arm_name(self, arm) -> str:
        """The fitted arm ``arm`` names (the only arm when None); InputError for any other."""
        if arm is None:
            if len(self.arms) > 1:
                raise InputError(f"several arms were fitted ({list(self.arms)}); say which with arm=")
            return self.arms[0]
        if str(arm) not in self.arms:
            raise InputError(f"arm {arm!r} not fitted; arms: {list(self.arms)}")
        return str(arm)

    def parameters(self):
        """DataFrame ``arm, model, parameter, estimate, se`` (lifelines' parameter names)."""
        import pandas as pd

        recs = []
        for (arm, model), f in self._fits.items():
            se = np.sqrt(np.diag(f.vcov))
            for name, est, s in zip(f.names, f.params, se):
                recs.append({"arm": arm, "model": model, "parameter": name, "estimate": float(est), "se": float(s)})
        return pd.DataFrame(recs, columns=["arm", "model", "parameter", "estimate", "se"])

    def best(self, criterion: str = "aic"):
        """Per arm, the converged model with the smallest ``"aic"`` or ``"bic"``: ``{arm: model}``."""
        crit = str(criterion).lower()
        if crit not in ("aic", "bic"):
            raise InputError(f"criterion must be 'aic' or 'bic', got {criterion!r}")
        out = {}
        for arm in self.arms:
            rows = [r for r in self.rows if r["arm"] == arm and r["converged"] and math.isfinite(r[crit])]
            if not rows:
                raise ConvergenceError(f"arm {arm!r}: no model converged")
            out[arm] = min(rows, key=lambda r: r[crit])["model"]
        return out

    # -- functions at times ----------------------------------------------------------------------
    def _select(self, models, arms):
        models = self.models if models is None else _model_names(models)
        arms = self.arms if arms is None else tuple(self.arm_name(a) for a in np.atleast_1d(arms))
        for m in models:
            if m not in self.models:
                raise InputError(f"model {m!r} was not fitted; fitted: {list(self.models)}")
        return models, arms

    def _times(self, times):
        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise InputError("times must be finite, non-negative numbers")
        return t

    def _bands(self, what, times, models, arms):
        import pandas as pd

        t = self._times(times)
        models, arms = self._select(models, arms)
        z = zcrit(self.level)
        parts = []
        for arm in arms:
            for m in models:
                if (arm, m) in self.failures:
                    continue
                value, lo, hi = getattr(self._fits[(arm, m)], f"{what}_band")(t, z)
                parts.append(pd.DataFrame({"arm": arm, "model": m, "time": t, what: value,
                                           "ci_low": lo, "ci_high": hi}))
        return pd.concat(parts, ignore_index=True)

    def survival(self, times, models=None, arms=None):
        """DataFrame ``arm, model, time, survival, ci_low, ci_high`` (delta method, log H scale)."""
        return self._bands("survival", times, models, arms)

    def hazard(self, times, models=None, arms=None):
        """DataFrame ``arm, model, time, hazard, ci_low, ci_high`` (delta method, log scale)."""
        return self._bands("hazard", times, models, arms)

    def extrapolate(self, times, models=None, arms=None):
        """Survival and hazard with their bands at ``times`` (within or beyond follow-up).

        Returns a DataFrame ``arm, model, time, survival, survival_ci_low, survival_ci_high,
        hazard, hazard_ci_low, hazard_ci_high, cumulative_hazard, beyond_follow_up``.
        """
        s = self.survival(times, models, arms)
        h = self.hazard(times, models, arms)
        out = s.rename(columns={"ci_low": "survival_ci_low", "ci_high": "survival_ci_high"})
        out["hazard"] = h["hazard"].to_numpy()
        out["hazard_ci_low"] = h["ci_low"].to_numpy()
        out["hazard_ci_high"] = h["ci_high"].to_numpy()
        out["cumulative_hazard"] = 0.0 - np.log(out["survival"].to_numpy())
        last = {arm: float(np.max(self.km.loc[self.km["arm"] == arm, "time"])) for arm in self.arms}
        out["beyond_follow_up"] = out["time"].to_numpy() > out["arm"].map(last).to_numpy()
        return out

    def empirical_hazard(self, bandwidth=None, times=None, arms=None):
        """Kernel-smoothed Nelson-Aalen hazard per arm, to set the fitted hazards against.

        lifelines' ``NelsonAalenFitter.smoothed_hazard_`` (Epanechnikov kernel; no boundary
        correction, so the first and last bandwidth are biased low). ``bandwidth`` defaults to a
        tenth of the arm's longest follow-up. Returns a DataFrame ``arm, time, hazard`` (on a grid of
        100 times between the first and last event, or at ``times``).
        """
        import pandas as pd
        from lifelines import NelsonAalenFitter

        _, arms = self._select(self.models, arms)
        parts = []
        for arm in arms:
            t, e = self._ipd[arm]
            bw = 0.1 * float(t.max()) if bandwidth is None else float(bandwidth)
            if not (math.isfinite(bw) and bw > 0):
                raise InputError(f"bandwidth must be a positive number, got {bandwidth!r}")
            ev = t[e == 1]
            grid = np.linspace(ev.min(), ev.max(), 100) if times is None else self._times(times)
            naf = NelsonAalenFitter().fit(t, e, timeline=np.unique(np.r_[0.0, t]))
            sm = naf.smoothed_hazard_(bw)
            # the smoothed hazard is a step-free function on the timeline: read it at the grid
            h = np.interp(grid, sm.index.to_numpy(float), sm.iloc[:, 0].to_numpy(float))
            parts.append(pd.DataFrame({"arm": arm, "time": grid, "hazard": h}))
        return pd.concat(parts, ignore_index=True)

    # -- printing --------------------------------------------------------------------------------
    def _short(self) -> str:
        return f"arms={len(self.arms)} models={','.join(self.models)}"

    def summary(self) -> str:
        lines = [f"Parametric survival models ({len(self.arms)} arm(s); restricted mean to t = {fmt(self.horizon, 2)}; "
                 f"median {fmt(self.level, 0)}% CI by the delta method)", ""]
        head = f"{'model':<12}{'k':>3}{'logLik':>12}{'AIC':>11}{'BIC':>11}{'median':>10}{'ci.lb':>10}{'ci.ub':>10}" \
               f"{'rmean':>10}{'mean':>10}"
        for arm in self.arms:
            rows = [r for r in self.rows if r["arm"] == arm]
            last = float(self._ipd[arm][0].max()) if arm in self._ipd else math.nan
            beyond = (f"; follow-up ends at {fmt(last, 2)}, before the horizon: its rmean is partly "
                      "extrapolated" if rows[0].get("horizon_beyond_follow_up") else "")
            lines.append(f"arm {arm}: n = {rows[0]['n']}, events = {rows[0]['events']}{beyond}")
            lines.append(head)
            for r in rows:
                flag = "" if r["converged"] else (
                    "  (failed)" if (arm, r["model"]) in self.failures else "  (not converged)")
                k = "NA" if (arm, r["model"]) in self.failures else r["n_params"]
                lines.append(f"{r['model']:<12}{k:>3}{fmt(r['loglik'], 2):>12}{fmt(r['aic'], 2):>11}"
                             f"{fmt(r['bic'], 2):>11}{fmt(r['median'], 2):>10}{fmt(r['median_ci_low'], 2):>10}"
                             f"{fmt(r['median_ci_high'], 2):>10}{fmt(r['restricted_mean'], 2):>10}"
                             f"{fmt(r['mean'], 2):>10}{flag}")
            lines.append("")
        lines.append("mean: unrestricted, so extrapolated to infinity by each model (inf where the "
                     "fitted curve levels off above 0 or its tail falls too slowly)")
        return "\n".join(lines).rstrip() + "\n"


def fit_survival_models(ipd, models=MODELS, horizon=None, level: float = 95) -> SurvivalModelsResult:
    """Fit parametric survival models to each arm and compare them.

    Parameters
    ----------
    ipd : DataFrame[time, event], DataFrame[time, event, arm], dict {arm: DataFrame} or (time, event)
        Patient data, e.g. ``ma.reconstruct_ipd(...)`` or ``curve.reconstruct().ipd``. Times must be
        positive.
    models : sequence of str
        Any of ``exponential, weibull, gompertz, loglogistic, lognormal, gengamma`` and ``rpK``
        (Royston-Parmar spline with ``K`` internal knots, ``K = 0 ... 9``; ``rp0`` is Weibull).
    horizon : float, optional
        Time up to which the restricted mean is computed; default the shortest follow-up over the
        arms (the last time of the arm followed least), so that no arm's restricted mean is
        extrapolated. A longer horizon is extrapolation for the arms that end before it, which
        ``horizon_beyond_follow_up`` flags.
    level : float
        Confidence level (percent) of bands and median intervals.

    Returns
    -------
    SurvivalModelsResult
        ``to_frame()``: one row per arm and model (``loglik, aic, bic, median, restricted_mean,
        mean`` ...); ``survival(times)``, ``hazard(times)``, ``extrapolate(times)``.

    Raises
    ------
    InputError
        Unknown model, non-positive times, fewer than two events in an arm.
    ConvergenceError
        A model could not be fitted at all (a fit that stops short is kept with ``converged=False``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> ipd = pd.DataFrame({"time": rng.weibull(1.5, 300) * 10, "event": 1})
    >>> res = fit_survival_models(ipd, models=("exponential", "weibull"))
    >>> res.best("aic")
    {'all': 'weibull'}
    """
    import pandas as pd

    from .km import km_table

    level = check_level(level)
    models = _model_names(models)
    arms = _arms(ipd)
    if horizon is None:
        horizon = min(float(t.max()) for t, _ in arms.values())
    else:
        horizon = positive_number(horizon, "horizon")
    z = zcrit(level)
    fits, rows, kms, failures = {}, [], [], {}
    for arm, (t, e) in arms.items():
        kt = km_table((t, e), level=level)[["time", "survival", "ci_low", "ci_high"]]
        kt.insert(0, "arm", arm)
        kms.append(kt)
        for m in models:
            try:
                f = _fit_one(arm, m, t, e)
            except ConvergenceError as exc:
                # one model that cannot be fitted leaves the others usable: a row of NaN says so
                failures[(arm, m)] = str(exc)
                rows.append({**dict.fromkeys(_TABLE_COLS, math.nan), "arm": arm, "model": m,
                             "n_params": math.nan, "horizon": horizon,
                             "horizon_beyond_follow_up": bool(horizon > float(t.max())), "n": len(t),
                             "events": int(e.sum()), "converged": False})
                continue
            fits[(arm, m)] = f
            try:
                med, mlo, mhi = f.median(z)
                rmean, mean = f.restricted_mean(horizon), f.mean()
            except (ValueError, ArithmeticError):
                # a fit that ran off to the edge of its parameter space (converged False) can
                # have a survival function that is NaN somewhere
                if f.converged:
                    raise
                med = mlo = mhi = rmean = mean = math.nan
            p = f.n_params
            rows.append({
                "arm": arm, "model": m, "n_params": p, "loglik": f.loglik,
                "aic": -2 * f.loglik + 2 * p, "bic": -2 * f.loglik + p * math.log(f.n),
                "median": med, "median_ci_low": mlo, "median_ci_high": mhi,
                "restricted_mean": rmean, "mean": mean,
                "horizon": horizon, "horizon_beyond_follow_up": bool(horizon > float(t.max())),
                "n": f.n, "events": f.events, "converged": f.converged,
            })
    return SurvivalModelsResult(tuple(rows), tuple(arms), models, float(horizon), level,
                                pd.concat(kms, ignore_index=True), fits, failures, arms)
