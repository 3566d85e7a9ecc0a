"""Proportional-hazards checks for two arms: the Grambsch-Therneau test, piecewise and time-varying HRs.

- :func:`ph_test`: the score test of R's ``cox.zph`` (survival >= 3.0) for adding ``arm x g(t)`` to
  the Cox model ``arm``, with ``g`` the ``"km"`` (R's default), ``"identity"``, ``"rank"`` or
  ``"log"`` transform of time; with the scaled Schoenfeld residuals, their smooth as
  ``plot.cox.zph`` draws it, and the log cumulative hazard of each arm against log time.
- :func:`piecewise_hr`: one hazard ratio per declared interval, as R's ``coxph(Surv(tstart, time,
  status) ~ arm:strata(tgroup))`` on ``survSplit(data, cut = breaks)``.
- :func:`hr_over_time`: ``HR(t) = exp(b + c g(t))``, as ``coxph(... ~ arm + tt(arm), tt =
  function(x, t, ...) x * log(t))``.

All three rest on one Cox partial likelihood with Efron's handling of ties (R's default) in which
the covariate may depend on the event time: at an event time ``t`` the risk set's covariates are
``z(arm, t)``. Splitting the data at the cut points (``survSplit``) or at every event time (what
``tt()`` does) gives the same risk sets and covariate values, so the same estimates. The engine is
a short Newton-Raphson in numpy (lifelines' ``CoxPHFitter`` has no per-event-time covariates;
its ``CoxTimeVaryingFitter`` would need the data split at every event time).

Arm coding: ``ipd_a`` is the arm of interest (``arm = 1``), ``ipd_b`` the reference, so a hazard
ratio below 1 favours ``a``: the direction of :func:`~metaanalysis.cox_hr`,
:func:`~metaanalysis.rmst_difference` and :func:`~metaanalysis.cox_one_stage`, which all compare
their first argument with their second.

References
----------
Grambsch PM, Therneau TM. Biometrika 1994;81:515-26. Therneau TM, Grambsch PM. Modeling Survival
Data. Springer 2000, ch. 6. Therneau T, Crowson C, Atkinson E. Using time dependent covariates and
time dependent coefficients in the Cox model (survival package vignette).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, fmt_p, frame_field, jsonable, readonly, zcrit
from ..errors import ConvergenceError, InputError

__all__ = ["ph_test", "piecewise_hr", "hr_over_time", "PHTestResult", "PiecewiseHRResult", "TimeVaryingHRResult"]

TRANSFORMS = ("km", "identity", "rank", "log")


def _two_arms(ipd_a, ipd_b):
    from .km import _arms

    ta, ea, tb, eb = _arms(ipd_a, ipd_b)
    t = np.r_[ta, tb]
    e = np.r_[ea, eb]
    x = np.r_[np.ones(len(ta)), np.zeros(len(tb))]
    if e.sum() < 2:
        raise InputError("the two arms have fewer than 2 events together; no Cox model can be fitted")
    return t, e, x


# ---------------------------------------------------------------------------------------------------
# the Cox engine


def _diverges(beta) -> ConvergenceError:
    """The error of a coefficient running off to infinity (a monotone partial likelihood)."""
    return ConvergenceError(f"Cox model: an estimate diverges ({np.asarray(beta).tolist()}): "
                            "there is no finite estimate, as in some interval an arm has no "
                            "events, or all events are in one arm while it has patients at risk")


class _Cox:
    """Efron partial likelihood for one binary arm indicator with event-time-dependent covariates.

    ``design(t)`` returns the p covariate multipliers at event time t: subject i's covariates at t
    are ``x_i * design(t)`` (e.g. ``[1]`` for a constant HR, ``[1, log t]`` for tt(), indicators of
    the interval for piecewise HRs).
    """

    def __init__(self, time, event, x):
        order = np.argsort(time, kind="stable")
        self.t, self.e, self.x = time[order], event[order].astype(bool), x[order]
        self.death_times = np.unique(self.t[self.e])
        n = len(self.t)
        # risk set at t: subjects with time >= t -> a suffix of the sorted arrays
        self.start = np.searchsorted(self.t, self.death_times, side="left")
        self.n = n
        # per event time: risk-set sums of x (x is 0/1, so x^2 = x) and tied-death sums
        self.risk_n = n - self.start
        self.risk_x = np.cumsum(self.x[::-1])[::-1][self.start]
        d_idx = [np.flatnonzero(self.e & (self.t == s)) for s in self.death_times]
        self.d = np.array([len(i) for i in d_idx])
        self.d_x = np.array([self.x[i].sum() for i in d_idx])

    def score_info(self, beta, design):
        """log PL, score and information at ``beta`` for multipliers ``design`` (m event times x p)."""
        eta = design @ beta                     # linear predictor of an arm-1 subject, per event time
        r1 = np.exp(eta)
        ll = 0.0
        p = len(beta)
        u = np.zeros(p)
        info = np.zeros((p, p))
        for k in range(len(self.death_times)):
            dk, dxk = self.d[k], self.d_x[k]
            n0 = self.risk_n[k] - self.risk_x[k]
            n1 = self.risk_x[k]
            # Efron: the l-th of d tied deaths removes l/d of the dead from the risk set
            frac = np.arange(dk) / dk
            s0 = (n0 - frac * (dk - dxk)) + (n1 - frac * dxk) * r1[k]
            s1 = (n1 - frac * dxk) * r1[k]      # sum of x r, per l
            m = s1 / s0                          # weighted mean of x, per l
            zk = design[k]
            ll += dxk * eta[k] - np.log(s0).sum()
            u += zk * (dxk - m.sum())
            # x is 0/1: the weighted variance of x z is m(1-m) z z'
            info += np.outer(zk, zk) * (m * (1 - m)).sum()
        return ll, u, info

    def fit(self, design, tol=1e-9, max_iter=50):
        """Newton-Raphson with step halving from 0, stopping as coxph (relative change of log PL)."""
        p = design.shape[1]
        beta = np.zeros(p)
        ll, u, info = self.score_info(beta, design)
        ll0 = ll
        for it in range(max_iter):
            try:
                step = np.linalg.solve(info, u)
            except np.linalg.LinAlgError:
                if np.max(np.abs(beta), initial=0.0) > 10:
                    # the risk weights exp(beta) of a coefficient running off to +infinity make
                    # the information vanish before the iteration limit notices the divergence
                    raise _diverges(beta) from None
                raise ConvergenceError(
                    "Cox model: singular information (an arm without events in an interval?)") from None
            s = 1.0
            while True:
                nb = beta + s * step
                nll, nu, ninfo = self.score_info(nb, design)
                if math.isfinite(nll) and nll >= ll - 1e-12 * abs(ll):
                    break
                s /= 2
                if s < 1e-10:
                    raise ConvergenceError("Cox model: no step increases the partial likelihood")
            done = abs(nll - ll) <= tol * abs(nll) and np.all(np.abs(nb - beta) <= 1e-10 * (1 + np.abs(nb)))
            beta, ll, u, info = nb, nll, nu, ninfo
            if done or np.max(np.abs(s * step)) < 1e-13:
                break
        else:
            # a coefficient running off to infinity (an arm without events) moves about 1 per step
            # while the partial likelihood has settled: not a slow convergence, nor to be called one
            if not (np.all(np.isfinite(beta)) and np.all(np.abs(beta) <= 30)):
                raise _diverges(beta)
            raise ConvergenceError(f"Cox model did not converge in {max_iter} Newton-Raphson iterations")
        if not np.all(np.isfinite(beta)) or np.any(np.abs(beta) > 30):
            raise _diverges(beta)
        return beta, ll, ll0, np.linalg.inv(info)

    def schoenfeld(self, beta):
        """Per event (in time order): event time, arm, and the Efron-weighted expected arm."""
        r1 = math.exp(beta)
        times, resid = [], []
        for k in range(len(self.death_times)):
            dk, dxk = self.d[k], self.d_x[k]
            n0 = self.risk_n[k] - self.risk_x[k]
            n1 = self.risk_x[k]
            frac = np.arange(dk) / dk
            s0 = (n0 - frac * (dk - dxk)) + (n1 - frac * dxk) * r1
            mbar = ((n1 - frac * dxk) * r1 / s0).mean()
            xs = np.sort(self.x[self.e & (self.t == self.death_times[k])])
            times.extend([self.death_times[k]] * dk)
            resid.extend(xs - mbar)
        return np.array(times), np.array(resid)


def _check_log_time(t, e, what, instead):
    """A log time scale has no value at an event at time 0 (R's cox.zph stops there as singular)."""
    n0 = int(((t <= 0) & (e == 1)).sum())
    if n0:
        raise InputError(f"{what} needs every event time > 0, but {n0} event(s) are at time 0 "
                         f"(log 0 is -infinity); use {instead}")


def _transform(name, t, e):
    """g(t) for every subject, as cox.zph computes it from all subjects' times."""
    if name == "identity":
        return t.copy()
    if name == "log":
        # only event times are used; a censoring at time 0 gets no value instead of -inf
        return np.log(t, out=np.full(t.shape, np.nan), where=t > 0)
    if name == "rank":
        from scipy.stats import rankdata

        return rankdata(t)
    # "km": 1 - S(t-) of the pooled Kaplan-Meier estimate (left-continuous at t)
    dt = np.unique(t[e == 1])
    at_risk = np.array([(t >= s).sum() for s in dt])
    deaths = np.array([((t == s) & (e == 1)).sum() for s in dt])
    surv = np.cumprod(1 - deaths / at_risk)
    idx = np.searchsorted(dt, t, side="left")    # number of death times strictly before t
    return 1 - np.r_[1.0, surv][idx]


def _ns_smooth(x, y, var, n_grid=40, df=4):
    """The curve ``plot.cox.zph`` draws: least squares on a natural cubic spline in x (df = 4,
    interior knots at the 1/3 and 2/3 quantiles of grid and data), with +-2 SE from the zph variance.

    A natural cubic spline space is spanned by 1, x and the restricted cubic terms at the same
    knots, so this basis gives the same fit as R's ``ns(x, df = 4, intercept = TRUE)``. Where that
    basis is singular (fewer distinct event times than columns, or ties that put an interior
    knot on a boundary one), ``plot.cox.zph`` stops and asks for a smaller ``df``; here the df is
    lowered until the basis has full rank (3: one knot at the median; 2: a line; ``ph_test``
    refuses events that all share one g(t), the only case a line cannot fit), so the test still
    comes back. Returns ``(grid, fit, lower, upper, df)``.
    """
    grid = np.linspace(x.min(), x.max(), n_grid)
    # plot.cox.zph builds the basis on the grid and the data together, so the knots are
    # quantiles of both
    inner = np.quantile(np.r_[grid, x], np.arange(1, df - 1) / (df - 1)) if df > 2 else np.empty(0)
    knots = np.r_[x.min(), inner, x.max()]

    def basis(v):
        kmin, kmax = knots[0], knots[-1]
        cols = [np.ones_like(v), v][:df]
        for kj in knots[1:-1]:
            lam = (kmax - kj) / (kmax - kmin)
            cols.append(np.clip(v - kj, 0, None) ** 3 - lam * np.clip(v - kmin, 0, None) ** 3
                        - (1 - lam) * np.clip(v - kmax, 0, None) ** 3)
        return np.column_stack(cols)

    X = basis(x)
    # scale columns: the cubic terms can be 1e9 times the intercept on the identity scale
    sc = np.abs(X).max(axis=0)
    sc[sc == 0] = 1
    q, r = np.linalg.qr(X / sc)
    diag = np.abs(np.diag(r))
    if df > 2 and (len(diag) < df or not diag.min() > 1e-8 * diag.max()):
        return _ns_smooth(x, y, var, n_grid, df - 1)
    P = basis(grid) / sc
    coef = np.linalg.solve(r, q.T @ y)
    fit = P @ coef
    rinv = np.linalg.inv(r)
    seval = np.einsum("ij,jk,ik->i", P, rinv @ rinv.T, P)
    half = 2 * np.sqrt(var * seval)
    return grid, fit, fit - half, fit + half, df


# ---------------------------------------------------------------------------------------------------
# ph_test


@dataclass(frozen=True, eq=False, repr=False)
class PHTestResult(ResultMixin):
    """Grambsch-Therneau test of proportional hazards (R's ``cox.zph``) for two arms.

    Attributes
    ----------
    chisq, df, pvalue : float
        Score test for ``arm x g(t)`` (1 df for one covariate, where cox.zph's term and GLOBAL lines agree).
    transform : str
    coef, se : float
        Cox log hazard ratio (a vs b) and its standard error.
    residuals : DataFrame
        ``time, x`` (g(t)), ``residual`` (scaled Schoenfeld: ``beta + d r / I``), one row per event.
    smooth : DataFrame
        ``x, fit, ci_low, ci_high``: the curve and +-2 SE band ``plot.cox.zph`` draws (df = 4;
        fewer where the spline basis would be singular, see ``smooth_df``).
    log_cumhaz : DataFrame
        ``arm, time, log_time, log_cumhaz``: log(-log S_KM) of each arm at its event times
        (parallel lines under proportional hazards).
    """

    chisq: float
    df: float
    pvalue: float
    transform: str
    coef: float
    se: float
    residuals: object = frame_field()
    smooth: object = frame_field()
    log_cumhaz: object = frame_field()
    arm_names: tuple = ("a", "b")
    smooth_df: int = 4

    def to_dict(self) -> dict:
        return jsonable({"chisq": self.chisq, "df": self.df, "pvalue": self.pvalue, "transform": self.transform,
                         "coef": self.coef, "se": self.se, "hr": math.exp(self.coef)})

    def _short(self) -> str:
        return f"chisq={self.chisq:.4g} df={self.df:g} p={self.pvalue:.4g} transform={self.transform}"

    def summary(self) -> str:
        return (f"Test of proportional hazards (Grambsch-Therneau; transform = {self.transform})\n\n"
                f"{'':8}{'chisq':>10}{'df':>5}{'p':>10}\n"
                f"{'arm':<8}{fmt(self.chisq):>10}{self.df:>5g}{fmt_p(self.pvalue):>10}\n"
                f"{'GLOBAL':<8}{fmt(self.chisq):>10}{self.df:>5g}{fmt_p(self.pvalue):>10}\n\n"
                f"Cox HR ({self.arm_names[0]} vs {self.arm_names[1]}) = {fmt(math.exp(self.coef))} "
                f"(log HR {fmt(self.coef)}, se {fmt(self.se)})\n")


def _log_cumhaz(t, e, name):
    import pandas as pd

    dt = np.unique(t[e == 1])
    at_risk = np.array([(t >= s).sum() for s in dt])
    deaths = np.array([((t == s) & (e == 1)).sum() for s in dt])
    surv = np.cumprod(1 - deaths / at_risk)
    # a step at time 0 has no place on a log time axis (the plot starts at the first later event)
    ok = (surv > 0) & (surv < 1) & (dt > 0)
    return pd.DataFrame({"arm": name, "time": dt[ok], "log_time": np.log(dt[ok]),
                         "log_cumhaz": np.log(-np.log(surv[ok]))})


def ph_test(ipd_a, ipd_b, transform: str = "km", *, arm_names=("a", "b")) -> PHTestResult:
    """Test proportional hazards between two arms as R's ``cox.zph(coxph(Surv(time, status) ~ arm))``.

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)
        Arm of interest and reference arm (e.g. reconstructed with ``ma.reconstruct_ipd``); the
        hazard ratio and the residuals are those of ``a`` against ``b``.
    transform : {"km", "identity", "rank", "log"}
        Time scale g(t) of the test: ``"km"`` (R's default, 1 - pooled KM just before t), ``"identity"``,
        ``"rank"`` (ranks of all times), ``"log"``.
    arm_names : pair of str
        Labels of the two arms in ``log_cumhaz`` and the summary.

    Returns
    -------
    PHTestResult
        ``chisq``, ``df``, ``pvalue`` and the data of the two diagnostic plots (``residuals``,
        ``smooth``, ``log_cumhaz``); draw them with ``metaanalysis.plots.plot_ph_check``.

    Notes
    -----
    The statistic is the score test of survival >= 3.0: ``U' I^-1 U`` with ``U = (0, U_c)`` the score
    and ``I`` the information of the model ``arm + arm x (g(t) - mean g)`` at ``(b_hat, 0)`` (Efron ties).
    The scaled residuals are ``b_hat + d r_k / I_b`` (d events); their slope against g(t) estimates
    the change of the log HR.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"time": [1, 3, 4, 6, 8, 9, 12], "event": [1, 1, 0, 1, 1, 1, 0]})
    >>> b = pd.DataFrame({"time": [2, 5, 7, 10, 11, 14, 15], "event": [1, 0, 1, 1, 0, 1, 1]})
    >>> round(ph_test(a, b).df)
    1
    """
    import pandas as pd
    from scipy.stats import chi2

    if transform not in TRANSFORMS:
        raise InputError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    t, e, x = _two_arms(ipd_a, ipd_b)
    if transform == "log":
        _check_log_time(t, e, "transform='log'", "'km', 'rank' or 'identity'")
    cox = _Cox(t, e, x)
    ones = np.ones((len(cox.death_times), 1))
    beta, _, _, var = cox.fit(ones)
    g_all = _transform(transform, t, e)
    # g at each event time: every tied death shares it; centred at the mean over events
    g_event = g_all[e == 1]
    gmean = g_event.mean()
    order = np.argsort(t, kind="stable")
    ts, gs, es = t[order], g_all[order], e[order] == 1
    g_at = np.array([gs[es & (ts == s)][0] for s in cox.death_times]) - gmean
    if not np.ptp(g_at) > 0:
        raise InputError("every event happens at one time: there is no change over time for a "
                         "test of proportional hazards to detect")
    design = np.column_stack([np.ones(len(g_at)), g_at])
    _, u, info = cox.score_info(np.r_[beta[0], 0.0], design)
    uvec = np.r_[0.0, u[1]]
    chisq = float(uvec @ np.linalg.solve(info, uvec))
    p = float(chi2.sf(chisq, 1))

    ev_times, r = cox.schoenfeld(beta[0])
    d = len(r)
    i_beta = info[0, 0]
    scaled = beta[0] + r * d / i_beta
    g_of = {s: gv + gmean for s, gv in zip(cox.death_times, g_at)}
    xs = np.array([g_of[s] for s in ev_times])
    resid = pd.DataFrame({"time": ev_times, "x": xs, "residual": scaled})
    gx, fit, lo, hi, smooth_df = _ns_smooth(xs, scaled, d / i_beta)
    smooth = pd.DataFrame({"x": gx, "fit": fit, "ci_low": lo, "ci_high": hi})
    ta, ea = t[x == 1], e[x == 1]
    tb, eb = t[x == 0], e[x == 0]
    lch = pd.concat([_log_cumhaz(ta, ea, arm_names[0]), _log_cumhaz(tb, eb, arm_names[1])], ignore_index=True)
    return PHTestResult(chisq, 1.0, p, transform, float(beta[0]), float(math.sqrt(var[0, 0])), resid, smooth, lch,
                        tuple(str(a) for a in arm_names), smooth_df)


# ---------------------------------------------------------------------------------------------------
# piecewise HR


@dataclass(frozen=True, eq=False, repr=False)
class PiecewiseHRResult(ResultMixin):
    """Hazard ratio (a vs b) per interval ``(start, end]`` (see :func:`piecewise_hr`).

    Attributes
    ----------
    table : DataFrame
        ``start, end, coef, se, hr, ci_low, ci_high, pvalue, events_a, events_b``.
    breaks : ndarray
    heterogeneity_chisq, heterogeneity_df, heterogeneity_pvalue : float
        Wald test that all interval log HRs are equal.
    loglik : float
        Log partial likelihood at the estimates.
    level : float
    """

    table: object = frame_field()
    breaks: np.ndarray
    vcov: np.ndarray
    heterogeneity_chisq: float
    heterogeneity_df: float
    heterogeneity_pvalue: float
    loglik: float
    level: float

    def to_frame(self):
        return self.table

    def to_dict(self) -> dict:
        return jsonable({"breaks": self.breaks, "level": self.level, "loglik": self.loglik,
                         "heterogeneity_chisq": self.heterogeneity_chisq, "heterogeneity_df": self.heterogeneity_df,
                         "heterogeneity_pvalue": self.heterogeneity_pvalue,
                         "intervals": self.table.to_dict(orient="records")})

    def _short(self) -> str:
        return f"intervals={len(self.table)} breaks={self.breaks.tolist()}"

    def summary(self) -> str:
        lines = [f"Piecewise hazard ratios (Cox, Efron ties; {fmt(self.level, 0)}% CI)", "",
                 f"{'interval':<22}{'HR':>9}{'ci.lb':>9}{'ci.ub':>9}{'pval':>9}{'events':>10}"]
        for r in self.table.itertuples():
            lines.append(f"{'(' + fmt(r.start, 1) + ', ' + fmt(r.end, 1) + ']':<22}{fmt(r.hr):>9}{fmt(r.ci_low):>9}"
                         f"{fmt(r.ci_high):>9}{fmt_p(r.pvalue):>9}{f'{r.events_a}/{r.events_b}':>10}")
        lines += ["", f"Test of equal HRs across intervals: chisq = {fmt(self.heterogeneity_chisq)}, "
                      f"df = {self.heterogeneity_df:g}, p = {fmt_p(self.heterogeneity_pvalue)}"]
        return "\n".join(lines) + "\n"


def piecewise_hr(ipd_a, ipd_b, breaks, level: float = 95) -> PiecewiseHRResult:
    """Hazard ratio of ``a`` vs ``b`` in each interval between ``breaks``.

    The model of R's ``coxph(Surv(tstart, time, status) ~ arm:strata(tgroup), data = survSplit(d,
    cut = breaks, episode = "tgroup"))``: one log HR per interval ``(0, b1], (b1, b2], ...,
    (bK, inf)``, a common baseline hazard.

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)
        Arm of interest and reference arm.
    breaks : sequence of float
        Increasing cut points, inside the follow-up.
    level : float

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"time": rng.exponential(1.0, 400), "event": 1})
    >>> b = pd.DataFrame({"time": rng.exponential(2.0, 400), "event": 1})
    >>> piecewise_hr(b, a, [0.5]).table.hr.round(2).tolist()  # b's hazard is half a's: 0.5
    [0.64, 0.57]
    """
    import pandas as pd
    from scipy.stats import chi2, norm

    level = check_level(level)
    t, e, x = _two_arms(ipd_a, ipd_b)
    try:
        br = np.atleast_1d(np.asarray(breaks, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"breaks must be numbers, got {breaks!r}") from None
    if br.ndim != 1 or len(br) == 0 or not np.all(np.isfinite(br)) or np.any(br <= 0) or np.any(np.diff(br) <= 0):
        raise InputError(f"breaks must be positive, finite and strictly increasing, got {list(np.ravel(br))}")
    if br[-1] >= t.max():
        raise InputError(f"the last break {br[-1]:g} is not inside the follow-up (longest time {t.max():g})")
    cox = _Cox(t, e, x)
    edges = np.r_[0.0, br, np.inf]
    # interval j is (edge_j, edge_j+1], as survSplit's episodes
    j_of = np.searchsorted(br, cox.death_times, side="left")
    design = np.zeros((len(cox.death_times), len(edges) - 1))
    design[np.arange(len(j_of)), j_of] = 1.0
    ev_int = np.searchsorted(br, t, side="left")
    for j in range(len(edges) - 1):
        if not np.any((ev_int == j) & (e == 1)):
            raise InputError(f"no events in the interval ({edges[j]:g}, {edges[j + 1]:g}]; merge it with a neighbour")
    beta, ll, _, vcov = cox.fit(design)
    se = np.sqrt(np.diag(vcov))
    z = zcrit(level)
    table = pd.DataFrame({
        "start": edges[:-1], "end": edges[1:], "coef": beta, "se": se, "hr": np.exp(beta),
        "ci_low": np.exp(beta - z * se), "ci_high": np.exp(beta + z * se),
        "pvalue": 2 * norm.sf(np.abs(beta / se)),
        "events_a": [int(((ev_int == j) & (e == 1) & (x == 1)).sum()) for j in range(len(beta))],
        "events_b": [int(((ev_int == j) & (e == 1) & (x == 0)).sum()) for j in range(len(beta))],
    })
    c = np.diff(np.eye(len(beta)), axis=0)
    diff = c @ beta
    q = float(diff @ np.linalg.solve(c @ vcov @ c.T, diff))
    dfh = float(len(beta) - 1)
    return PiecewiseHRResult(table, readonly(br), readonly(vcov), q, dfh, float(chi2.sf(q, dfh)), float(ll), level)


# ---------------------------------------------------------------------------------------------------
# time-varying HR


@dataclass(frozen=True, eq=False, repr=False)
class TimeVaryingHRResult(ResultMixin):
    """``log HR(t) = coef + coef_time * g(t)`` (a vs b), see :func:`hr_over_time`.

    Attributes
    ----------
    coef, coef_time : float
        The ``arm`` and ``tt(arm)`` coefficients of R's coxph.
    vcov : ndarray (2 x 2)
    g : str
        ``"log"`` or ``"identity"``.
    pvalue_time : float
        Wald test of ``coef_time = 0`` (no change of the HR with time).
    curve : DataFrame
        ``time, hr, ci_low, ci_high`` on the requested grid.
    """

    coef: float
    coef_time: float
    vcov: np.ndarray
    g: str
    pvalue_time: float
    loglik: float
    level: float
    curve: object = frame_field()

    def _g(self, t):
        t = np.asarray(t, float)
        return np.log(t) if self.g == "log" else t

    def hr_at(self, times):
        """DataFrame ``time, hr, ci_low, ci_high`` at ``times`` (delta method on the log HR)."""
        import pandas as pd

        t = np.atleast_1d(np.asarray(times, float))
        if np.any(t <= 0) and self.g == "log":
            raise InputError("times must be positive with g = 'log'")
        gv = self._g(t)
        lhr = self.coef + self.coef_time * gv
        se = np.sqrt(self.vcov[0, 0] + 2 * gv * self.vcov[0, 1] + gv**2 * self.vcov[1, 1])
        z = zcrit(self.level)
        return pd.DataFrame({"time": t, "hr": np.exp(lhr), "ci_low": np.exp(lhr - z * se),
                             "ci_high": np.exp(lhr + z * se)})

    def to_frame(self):
        return self.curve

    def to_dict(self) -> dict:
        return jsonable({"coef": self.coef, "coef_time": self.coef_time, "vcov": self.vcov, "g": self.g,
                         "pvalue_time": self.pvalue_time, "loglik": self.loglik, "level": self.level})

    def _short(self) -> str:
        return f"coef={self.coef:.4g} coef_time={self.coef_time:.4g} g={self.g}"

    def summary(self) -> str:
        se = np.sqrt(np.diag(self.vcov))
        gname = "log(t)" if self.g == "log" else "t"
        return (f"Time-varying hazard ratio: log HR(t) = b + c {gname} (Cox, Efron ties)\n\n"
                f"{'':10}{'estimate':>10}{'se':>10}{'zval':>10}{'pval':>10}\n"
                f"{'arm':<10}{fmt(self.coef):>10}{fmt(se[0]):>10}{fmt(self.coef / se[0]):>10}"
                f"{fmt_p(2 * _norm_sf(abs(self.coef / se[0]))):>10}\n"
                f"{'arm:' + gname:<10}{fmt(self.coef_time):>10}{fmt(se[1]):>10}{fmt(self.coef_time / se[1]):>10}"
                f"{fmt_p(self.pvalue_time):>10}\n")


def _norm_sf(z):
    from scipy.stats import norm

    return float(norm.sf(z))


def hr_over_time(ipd_a, ipd_b, g: str = "log", times=None, level: float = 95) -> TimeVaryingHRResult:
    """Hazard ratio (a vs b) that changes with time: ``log HR(t) = b + c g(t)``.

    R's ``coxph(Surv(time, status) ~ arm + tt(arm), tt = function(x, t, ...) x * log(t))`` for
    ``g = "log"`` (``x * t`` for ``"identity"``).

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)
        Arm of interest and reference arm.
    g : {"log", "identity"}
    times : array_like, optional
        Grid for ``curve``; default 50 points over the event times.
    level : float

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"time": rng.exponential(1.0, 300), "event": 1})
    >>> b = pd.DataFrame({"time": rng.exponential(1.5, 300), "event": 1})
    >>> hr_over_time(a, b).curve.columns.tolist()
    ['time', 'hr', 'ci_low', 'ci_high']
    """
    from scipy.stats import norm

    level = check_level(level)
    if g not in ("log", "identity"):
        raise InputError(f"g must be 'log' or 'identity', got {g!r}")
    t, e, x = _two_arms(ipd_a, ipd_b)
    if g == "log":
        _check_log_time(t, e, "g='log'", "g='identity'")
    cox = _Cox(t, e, x)
    gt = np.log(cox.death_times) if g == "log" else cox.death_times
    beta, ll, _, vcov = cox.fit(np.column_stack([np.ones(len(gt)), gt]))
    p_time = float(2 * norm.sf(abs(beta[1]) / math.sqrt(vcov[1, 1])))
    res = TimeVaryingHRResult(float(beta[0]), float(beta[1]), readonly(vcov), g, p_time, float(ll), level, None)
    grid = (np.linspace(cox.death_times.min(), cox.death_times.max(), 50) if times is None
            else np.atleast_1d(np.asarray(times, float)))
    object.__setattr__(res, "curve", res.hr_at(grid))
    return res
