"""Kaplan-Meier tables, log-rank test, Cox hazard ratio, RMST and landmark survival on patient data.

Thin wrappers around lifelines (imported inside the functions), except the Cox model, which is the
project's own Newton-Raphson (lifelines' default precision stops short of R's coxph); they take
the ``time``/``event`` DataFrames of :func:`~metaanalysis.survival.reconstruct_ipd` (or any such
frame) and return DataFrames with stable column names or small frozen results. Intervals are
named ``ci_low`` and ``ci_high`` whatever the level; the level is a field of its own.

Conventions follow lifelines: Kaplan-Meier intervals are exponential Greenwood ("log-log" in R's
``survfit``), the median is the first time with S <= 0.5, Cox ties are Efron's (as R ``coxph``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, as_float_array, check_level, fmt, fmt_p, zcrit
from ..errors import InputError

__all__ = [
    "km_table",
    "risk_table",
    "logrank",
    "cox_hr",
    "rmst_difference",
    "landmark_survival",
    "LogrankResult",
    "CoxResult",
    "RMSTResult",
    "LandmarkResult",
]


def _arm(ipd, name: str = "ipd"):
    """(time, event) arrays from a DataFrame with ``time``/``event`` columns or a pair of arrays."""
    if hasattr(ipd, "columns"):
        missing = [c for c in ("time", "event") if c not in ipd.columns]
        if missing:
            raise InputError(f"{name} needs columns 'time' and 'event'; missing {missing}")
        t, e = ipd["time"], ipd["event"]
    elif isinstance(ipd, (tuple, list)) and len(ipd) == 2:
        t, e = ipd
    else:
        raise InputError(f"{name} must be a DataFrame with columns time, event or a (time, event) pair")
    t = as_float_array(t, f"{name}.time")
    e = as_float_array(e, f"{name}.event")
    if len(t) != len(e):
        raise InputError(f"{name}: time and event lengths differ ({len(t)} and {len(e)})")
    if len(t) == 0:
        raise InputError(f"{name} has no patients")
    if np.any(t < 0):
        raise InputError(f"{name}.time has a negative value at index {int(np.flatnonzero(t < 0)[0])}")
    if not np.all(np.isin(e, (0, 1))):
        raise InputError(f"{name}.event must be 0 (censored) or 1 (event)")
    return t, e.astype(int)


# R's survival package (Surv's timefix, aeqSurv): times closer than this, absolutely or relative to
# their mean size, are one time
_TIMEFIX = float(np.sqrt(np.finfo(float).eps))


def timefix(*times):
    """The times, with those that differ only by rounding made equal, as R's survival package
    does by default (``timefix = TRUE``: ``aeqSurv``) in ``coxph``, ``survdiff`` and ``survfit``.

    Over all the arrays together, sorted distinct times whose gap is at most ``sqrt(eps)``
    (1.5e-8), or at most that times their mean absolute value, are merged into the first of their
    run. Times computed by arithmetic (``0.1 + 0.2`` against ``0.3``; days divided by 30.4375)
    are otherwise two times, and a tie between arms becomes an ordering: R's Cox estimate and
    log-rank test on such data differ from lifelines' by more than rounding.

    Examples
    --------
    >>> a, b = timefix(np.array([0.1 + 0.2, 1.0]), np.array([0.3, 2.0]))
    >>> bool(a[0] == b[0])
    True
    """
    arrays = [np.asarray(t, float) for t in times]
    y = np.unique(np.concatenate(arrays)) if arrays else np.empty(0)
    y = y[np.isfinite(y)]
    if len(y) < 2:
        return tuple(arrays)
    dy = np.diff(y)
    tied = (dy <= _TIMEFIX) | (dy / np.mean(np.abs(y)) <= _TIMEFIX)
    if not tied.any():
        return tuple(arrays)
    cuts = y[np.r_[True, ~tied]]
    return tuple(np.where(np.isfinite(t), cuts[np.maximum(np.searchsorted(cuts, t, side="right") - 1, 0)], t)
                 for t in arrays)


def _arms(ipd_a, ipd_b, names=("ipd_a", "ipd_b"), read=None):
    """Two arms' ``(time_a, event_a, time_b, event_b)``, each read by ``read`` (default
    :func:`_arm`), with the times equal up to rounding across them made one (:func:`timefix`)."""
    read = _arm if read is None else read
    ta, ea = read(ipd_a, names[0])
    tb, eb = read(ipd_b, names[1])
    ta, tb = timefix(ta, tb)
    return ta, ea, tb, eb


def _kmf(t, e, level):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=1 - level / 100).fit(t, e)


# ---------------------------------------------------------------------------------------------------
# tables


def km_table(ipd, times=None, level: float = 95):
    """Kaplan-Meier estimate as a plot-ready table.

    Parameters
    ----------
    ipd : DataFrame[time, event] or (time, event)
    times : array_like, optional
        Times to evaluate the step function at; by default every distinct time (and 0).
    level : float
        Confidence level in percent (exponential Greenwood interval).

    Returns
    -------
    DataFrame
        ``time, survival, ci_low, ci_high, n_risk, events, censored``: at a given time, the number at
        risk is those with time >= t, and events/censored are those at exactly t (with ``times``:
        since the previous requested time, up to and including t).

    Examples
    --------
    >>> import pandas as pd
    >>> km_table(pd.DataFrame({"time": [1, 2, 2, 3], "event": [1, 1, 0, 1]})).survival.round(3).tolist()
    [1.0, 0.75, 0.5, 0.0]
    """
    import pandas as pd

    level = check_level(level)
    t, e = _arm(ipd)
    (t,) = timefix(t)
    kmf = _kmf(t, e, level)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    grid = np.asarray(sf.index, float)
    lo, hi = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
    if times is None:
        at = grid
    else:
        at = as_float_array(times, "times")
        if np.any(np.diff(at) < 0) or np.any(at < 0):
            raise InputError("times must be non-negative and increasing")
    idx = np.searchsorted(grid, at, side="right") - 1
    idx = np.clip(idx, 0, len(grid) - 1)
    n_risk = (t[None, :] >= at[:, None]).sum(axis=1)
    if times is None:
        ev = np.array([(e[t == x]).sum() for x in at])
        ce = np.array([((1 - e)[t == x]).sum() for x in at])
    else:
        prev = np.r_[-np.inf, at[:-1]]
        inwin = (t[None, :] > prev[:, None]) & (t[None, :] <= at[:, None])
        ev = (inwin & (e[None, :] == 1)).sum(axis=1)
        ce = (inwin & (e[None, :] == 0)).sum(axis=1)
    return pd.DataFrame(
        {
            "time": at,
            "survival": sf.to_numpy()[idx],
            "ci_low": lo[idx],
            "ci_high": hi[idx],
            "n_risk": n_risk.astype(int),
            "events": np.asarray(ev, int),
            "censored": np.asarray(ce, int),
        }
    )


def risk_table(ipd, times, *, arm_names=None):
    """Number at risk at ``times`` (patients with time >= t), as printed under a KM figure.

    ``ipd`` may be one arm or a dict ``{name: ipd}``; the result has one row per time and one column
    per arm (``n_risk`` for a single arm). Computed here, never at tick positions of a plot.

    Examples
    --------
    >>> import pandas as pd
    >>> risk_table(pd.DataFrame({"time": [1, 2, 3], "event": [1, 0, 1]}), [0, 2]).n_risk.tolist()
    [3, 2]
    """
    import pandas as pd

    at = as_float_array(times, "times")
    arms = ipd if isinstance(ipd, dict) else {"n_risk": ipd}
    out = {"time": at}
    for name, data in arms.items():
        t, _ = _arm(data, str(name))
        out[str(name)] = (t[None, :] >= at[:, None]).sum(axis=1).astype(int)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, eq=False, repr=False)
class LogrankResult(ResultMixin):
    """Log-rank test of two arms: chi-squared statistic (1 df), p-value, observed and expected."""

    statistic: float
    pvalue: float
    observed_a: float
    expected_a: float
    observed_b: float
    expected_b: float

    def to_dict(self):
        return {k: float(getattr(self, k)) for k in
                ("statistic", "pvalue", "observed_a", "expected_a", "observed_b", "expected_b")}

    def _short(self):
        return f"chi2={fmt(self.statistic, 3)} p={fmt_p(self.pvalue)}"

    def summary(self):
        return (
            "Log-rank test (1 df)\n"
            f"chi2 = {fmt(self.statistic, 4)}, p = {fmt_p(self.pvalue)}\n"
            f"arm a: observed {self.observed_a:g}, expected {fmt(self.expected_a, 2)}\n"
            f"arm b: observed {self.observed_b:g}, expected {fmt(self.expected_b, 2)}"
        )


@dataclass(frozen=True, eq=False, repr=False)
class CoxResult(ResultMixin):
    """Hazard ratio of arm a versus arm b from a Cox model with the arm as the only covariate."""

    hr: float
    ci_low: float
    ci_high: float
    log_hr: float
    se: float
    pvalue: float
    level: float
    n_a: int
    n_b: int
    events_a: int
    events_b: int

    def to_dict(self):
        d = {k: float(getattr(self, k)) for k in ("hr", "ci_low", "ci_high", "log_hr", "se", "pvalue", "level")}
        d.update({k: int(getattr(self, k)) for k in ("n_a", "n_b", "events_a", "events_b")})
        return d

    def _short(self):
        return f"HR={fmt(self.hr, 3)} [{fmt(self.ci_low, 3)}, {fmt(self.ci_high, 3)}] p={fmt_p(self.pvalue)}"

    def summary(self):
        return (
            "Cox proportional hazards, arm a vs arm b (Efron ties)\n"
            f"n = {self.n_a} / {self.n_b}, events = {self.events_a} / {self.events_b}\n"
            f"HR = {fmt(self.hr)}, {self.level:g}% CI [{fmt(self.ci_low)}, {fmt(self.ci_high)}], "
            f"log HR = {fmt(self.log_hr)} (SE {fmt(self.se)}), p = {fmt_p(self.pvalue)}"
        )


@dataclass(frozen=True, eq=False, repr=False)
class RMSTResult(ResultMixin):
    """Restricted mean survival time of two arms up to ``horizon`` and their difference (a - b)."""

    horizon: float
    rmst_a: float
    rmst_b: float
    difference: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    level: float

    def to_dict(self):
        return {k: float(getattr(self, k)) for k in
                ("horizon", "rmst_a", "rmst_b", "difference", "se", "ci_low", "ci_high", "pvalue", "level")}

    def _short(self):
        return f"horizon={self.horizon:g} difference={fmt(self.difference, 3)}"

    def summary(self):
        return (
            f"Restricted mean survival time up to {self.horizon:g}\n"
            f"arm a {fmt(self.rmst_a)}, arm b {fmt(self.rmst_b)}\n"
            f"difference (a - b) = {fmt(self.difference)} (SE {fmt(self.se)}), {self.level:g}% CI "
            f"[{fmt(self.ci_low)}, {fmt(self.ci_high)}], p = {fmt_p(self.pvalue)}"
        )


@dataclass(frozen=True, eq=False, repr=False)
class LandmarkResult(ResultMixin):
    """Kaplan-Meier survival at a landmark time with its Greenwood SE and interval."""

    time: float
    survival: float
    se: float
    ci_low: float
    ci_high: float
    n_risk: int
    level: float

    def to_dict(self):
        d = {k: float(getattr(self, k)) for k in ("time", "survival", "se", "ci_low", "ci_high", "level")}
        d["n_risk"] = int(self.n_risk)
        return d

    def _short(self):
        return f"S({self.time:g})={fmt(self.survival, 3)} [{fmt(self.ci_low, 3)}, {fmt(self.ci_high, 3)}]"

    def summary(self):
        return (
            f"Kaplan-Meier survival at {self.time:g}: {fmt(self.survival)} (SE {fmt(self.se)}), "
            f"{self.level:g}% CI [{fmt(self.ci_low)}, {fmt(self.ci_high)}], n at risk {self.n_risk}"
        )


# ---------------------------------------------------------------------------------------------------
# comparisons


def logrank(ipd_a, ipd_b) -> LogrankResult:
    """Log-rank test of two arms (lifelines ``logrank_test``).

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)

    Returns
    -------
    LogrankResult
        ``statistic`` (chi-square, 1 df), ``pvalue`` and the observed and expected events of
        each arm.

    Examples
    --------
    >>> a = ([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 1, 0, 1, 1])
    >>> b = ([2, 4, 6, 8, 10, 12, 14, 16], [1, 0, 1, 1, 0, 1, 1, 0])
    >>> r = logrank(a, b)                # R: survdiff, Chisq = 4.2, expected 3.2 in a
    >>> round(r.statistic, 4), round(r.expected_a, 4)
    (4.2449, 3.2024)
    """
    from lifelines.statistics import logrank_test

    ta, ea, tb, eb = _arms(ipd_a, ipd_b)
    res = logrank_test(ta, tb, ea, eb)
    # observed and expected events per arm
    times = np.unique(np.r_[ta[ea == 1], tb[eb == 1]])
    na = (ta[None, :] >= times[:, None]).sum(1)
    nb = (tb[None, :] >= times[:, None]).sum(1)
    da = np.array([(ea[ta == x]).sum() for x in times])
    db = np.array([(eb[tb == x]).sum() for x in times])
    exp_a = float(np.sum((da + db) * na / np.maximum(na + nb, 1)))
    return LogrankResult(
        statistic=float(res.test_statistic),
        pvalue=float(res.p_value),
        observed_a=float(ea.sum()),
        expected_a=exp_a,
        observed_b=float(eb.sum()),
        expected_b=float(ea.sum() + eb.sum() - exp_a),
    )


def cox_hr(ipd_a, ipd_b, level: float = 95) -> CoxResult:
    """Hazard ratio of arm a versus arm b: Cox model with the arm as covariate (Efron ties, as coxph).

    The fit is :func:`~metaanalysis.survival.onestage.stratified_cox` with one stratum, run to a
    relative step of 1e-13: lifelines' ``CoxPHFitter`` with its default precision stops up to
    1e-4 short of the maximum on the log scale, a visible change in the fourth digit of a p-value.

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)
        Arm of interest and reference arm (the same order as :func:`rmst_difference`,
        :func:`~metaanalysis.ph_test` and :func:`~metaanalysis.piecewise_hr`).
    level : float

    Returns
    -------
    CoxResult
        ``hr`` with ``ci_low``, ``ci_high``, ``log_hr``, its ``se`` and the Wald ``pvalue``.

    Raises
    ------
    InputError
        When either arm has no events: the estimate then runs off to 0 or infinity (R's coxph
        returns a huge coefficient with the warning "beta may be infinite").

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> r = load_rossi().rename(columns={"week": "time", "arrest": "event"})
    >>> round(cox_hr(r[r.fin == 1], r[r.fin == 0]).hr, 3)   # R: exp(coef) of coxph(~ fin)
    0.691
    """
    from .onestage import stratified_cox

    level = check_level(level)
    ta, ea, tb, eb = _arms(ipd_a, ipd_b)
    if ea.sum() + eb.sum() == 0:
        raise InputError("no events in either arm: the hazard ratio is not estimable")
    for name, e in (("ipd_a", ea), ("ipd_b", eb)):
        if e.sum() == 0:
            raise InputError(f"{name} has no events: the hazard ratio is not estimable (its estimate "
                             "runs off to 0 or infinity); report the events per arm instead")
    b, info, _ = stratified_cox([(ta, ea, tb, eb)])
    se = float(info ** -0.5)
    z = zcrit(level)
    from scipy.special import ndtr

    return CoxResult(
        hr=float(np.exp(b)),
        ci_low=float(np.exp(b - z * se)),
        ci_high=float(np.exp(b + z * se)),
        log_hr=b,
        se=se,
        pvalue=float(2 * ndtr(-abs(b / se))),
        level=level,
        n_a=len(ta),
        n_b=len(tb),
        events_a=int(ea.sum()),
        events_b=int(eb.sum()),
    )


def _rmst_and_var(t, e, horizon):
    """RMST up to ``horizon`` and its variance (Greenwood-based, as R survRM2 / Klein-Moeschberger)."""
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    ut = np.unique(t[(e == 1) & (t <= horizon)])
    n = (t[None, :] >= ut[:, None]).sum(1).astype(float)
    d = np.array([(e[t == x]).sum() for x in ut], float)
    s = np.cumprod(1 - d / n)
    knots = np.r_[0.0, ut, horizon]
    steps = np.r_[1.0, s]
    widths = np.diff(knots)
    rmst = float(np.sum(steps * widths))
    # area after each event time up to the horizon
    area_after = np.cumsum((steps * widths)[::-1])[::-1][1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n - d > 0, d / (n * (n - d)), 0.0)
    var = float(np.sum(area_after**2 * term))
    return rmst, var


def rmst_difference(ipd_a, ipd_b, horizon: float, level: float = 95) -> RMSTResult:
    """Difference in restricted mean survival time (a - b) up to ``horizon``.

    The RMST is the area under each Kaplan-Meier curve (lifelines ``restricted_mean_survival_time``
    gives the same area); the SE is the Greenwood-based one used by R's survRM2.

    Parameters
    ----------
    ipd_a, ipd_b : DataFrame[time, event] or (time, event)
    horizon : float
        Restriction time, at most the shorter arm's last follow-up time.
    level : float

    Returns
    -------
    RMSTResult
        ``rmst_a``, ``rmst_b``, ``difference`` (a - b) with its interval and p-value.

    Examples
    --------
    >>> a = ([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 1, 1, 0, 1, 1])
    >>> b = ([2, 4, 6, 8, 10, 12, 14, 16], [1, 0, 1, 1, 0, 1, 1, 0])
    >>> r = rmst_difference(b, a, horizon=8)   # R survfit rmean = 8: 6.958 and 5.100
    >>> round(r.rmst_a, 4), round(r.rmst_b, 4), round(r.difference, 4)
    (6.9583, 5.1, 1.8583)
    """
    from lifelines.utils import restricted_mean_survival_time
    from scipy.special import ndtr

    level = check_level(level)
    ta, ea, tb, eb = _arms(ipd_a, ipd_b)
    try:
        horizon = float(horizon)
    except (TypeError, ValueError):
        raise InputError(f"horizon must be a number; got {horizon!r}") from None
    if not horizon > 0:
        raise InputError(f"horizon must be positive; got {horizon:g}")
    limit = min(ta.max(), tb.max())
    if horizon > limit:
        raise InputError(
            f"horizon {horizon:g} is beyond the shorter follow-up ({limit:g}): the RMST is not "
            "estimable there"
        )
    _, va = _rmst_and_var(ta, ea, horizon)
    _, vb = _rmst_and_var(tb, eb, horizon)
    ra = float(restricted_mean_survival_time(_kmf(ta, ea, 95), t=horizon))
    rb = float(restricted_mean_survival_time(_kmf(tb, eb, 95), t=horizon))
    diff = ra - rb
    se = float(np.sqrt(va + vb))
    z = zcrit(level)
    return RMSTResult(
        horizon=horizon,
        rmst_a=ra,
        rmst_b=rb,
        difference=diff,
        se=se,
        ci_low=diff - z * se,
        ci_high=diff + z * se,
        pvalue=float(2 * ndtr(-abs(diff / se))) if se > 0 else float("nan"),
        level=level,
    )


def landmark_survival(ipd, t: float, level: float = 95) -> LandmarkResult:
    """Kaplan-Meier survival at time ``t`` with Greenwood SE and lifelines' exponential Greenwood CI.

    Parameters
    ----------
    ipd : DataFrame[time, event] or (time, event)
    t : float
        The landmark time, at most the last follow-up time unless the curve has reached 0.
    level : float

    Returns
    -------
    LandmarkResult
        ``survival``, ``se``, ``ci_low``, ``ci_high`` and ``n_risk`` at ``t``.

    Raises
    ------
    InputError
        ``t`` past the last follow-up time of a curve that has not reached 0: the estimate is
        not defined there (R's ``summary(survfit(...), times = t)`` refuses it too).

    Examples
    --------
    >>> r = landmark_survival(([1, 2, 3, 4, 5, 6], [1, 0, 1, 1, 0, 1]), 3.5)
    >>> round(r.survival, 4), r.n_risk
    (0.625, 3)
    """
    level = check_level(level)
    tt, ee = _arm(ipd)
    (tt,) = timefix(tt)
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise InputError(f"t must be a number; got {t!r}") from None
    if t < 0:
        raise InputError(f"t must be >= 0; got {t:g}")
    row = km_table((tt, ee), [t], level).iloc[0]
    if t > tt.max() and row.survival > 0:
        raise InputError(f"t = {t:g} is past the last follow-up time ({tt.max():g}): the "
                         "Kaplan-Meier estimate is not defined there; give a landmark within "
                         "the follow-up")
    ut = np.unique(tt[(ee == 1) & (tt <= t)])
    n = (tt[None, :] >= ut[:, None]).sum(1).astype(float)
    d = np.array([(ee[tt == x]).sum() for x in ut], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.sum(np.where(n - d > 0, d / (n * (n - d)), 0.0))
    se = float(row.survival * np.sqrt(gw))
    return LandmarkResult(
        time=t,
        survival=float(row.survival),
        se=se,
        ci_low=float(row.ci_low),
        ci_high=float(row.ci_high),
        n_risk=int(row.n_risk),
        level=level,
    )
