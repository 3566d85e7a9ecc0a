"""Parametric survival curves from reported summaries, and pseudo-patients drawn from them.

Single-arm studies often report only a median (with an interval) and perhaps one landmark rate. To
draw such a study beside a reconstructed trial arm, or to compare it at a landmark, this module fits

- an exponential curve through the median, with uncertainty taken from the median's interval
  (``se(ln m) = (ln U - ln L)/(2z)``, effective events ``1/se^2``), or from the number of events;
- a Weibull curve through a median and a landmark rate, or through any two points of the curve;

and simulates patient-level data from such a curve with an explicit censoring model and a seed. Data
simulated here are *simulated from a summary*, never *reconstructed*: a median alone says nothing
about the curve's shape, so the shape is an assumption (exponential or Weibull) that the result
records.

References
----------
survival-methods.md sections 4.1-4.3; Parmar, Torri & Stewart, Stat Med 1998;17:2815; Guyot et
al., BMC Med Res Methodol 2012;12:9 (for the contrast with reconstruction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, jsonable, positive_number, zcrit
from ..errors import InputError

__all__ = [
    "ExponentialCurve",
    "WeibullCurve",
    "exponential_from_median",
    "weibull_from_median",
    "weibull_from_quantiles",
    "simulate_ipd",
]

LN2 = math.log(2.0)




def _probability(value, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not (0.0 < x < 1.0):
        raise InputError(
            f"{name} must be a survival probability strictly between 0 and 1 (a fraction, not a "
            f"percentage), got {value!r}"
        )
    return x


class _CurveMixin:
    """Shared curve behaviour: evaluate, invert, tabulate and simulate."""

    shape: float
    scale: float

    @staticmethod
    def _times(t):
        try:
            t = np.asarray(t, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"times must be numbers, got {t!r}") from None
        if np.any(t < 0) or np.any(np.isnan(t)):
            raise InputError("times must be non-negative numbers")
        return t

    def survival(self, t):
        """``S(t)``; accepts a scalar or an array of times (negative times are an error)."""
        t = self._times(t)
        out = np.exp(-((t / self.scale) ** self.shape))
        return float(out) if out.ndim == 0 else out

    def cumulative_hazard(self, t):
        """``H(t) = (t/b)^k`` (negative times are an error, as for :meth:`survival`)."""
        t = self._times(t)
        out = (t / self.scale) ** self.shape
        return float(out) if out.ndim == 0 else out

    def hazard(self, t):
        """``h(t) = (k/b) (t/b)^(k-1)``."""
        t = self._times(t)
        out = (self.shape / self.scale) * (t / self.scale) ** (self.shape - 1.0)
        return float(out) if out.ndim == 0 else out

    def time_at_survival(self, s):
        """The time at which the curve reaches survival ``s`` (``s = 0.5`` gives the median)."""
        s = np.asarray(s, dtype=float)
        if np.any((s <= 0) | (s >= 1)):
            raise InputError("survival probabilities must lie strictly between 0 and 1")
        out = self.scale * (-np.log(s)) ** (1.0 / self.shape)
        return float(out) if out.ndim == 0 else out

    @property
    def median(self) -> float:
        return float(self.scale * LN2 ** (1.0 / self.shape))

    def restricted_mean(self, horizon: float) -> float:
        """Restricted mean survival time up to ``horizon`` (area under the curve)."""
        from scipy.special import gammainc, gamma

        horizon = positive_number(horizon, "horizon")
        k, b = self.shape, self.scale
        # int_0^tau exp(-(t/b)^k) dt = (b/k) Gamma(1/k) P(1/k, (tau/b)^k)
        return float(b / k * gamma(1.0 / k) * gammainc(1.0 / k, (horizon / b) ** k))

    def simulate(self, n: int, **kwargs):
        """Pseudo-patients from this curve; see :func:`simulate_ipd` for the censoring options."""
        return simulate_ipd(self, n, **kwargs)


# --------------------------------------------------------------------------------------------
# exponential


@dataclass(frozen=True, eq=False, repr=False)
class ExponentialCurve(_CurveMixin, ResultMixin):
    """Exponential survival ``S(t) = exp(-rate t)`` fitted to a reported median.

    Attributes
    ----------
    rate : float
        ``ln 2 / median``.
    rate_ci_low, rate_ci_high : float
        Interval for the rate at ``level`` (``ln 2 / median_ci_high``, ``ln 2 / median_ci_low``).
    median_ci_low, median_ci_high : float
        Interval for the median at ``level``; the reported interval itself when ``level`` equals
        the reported level.
    se_log_median : float
        ``se(ln m)``; ``nan`` when no interval, events or n was given.
    effective_events : float
        ``1 / se_log_median^2``: the number of events an exponential fit with this precision implies.
    level : float
        Level (percent) of the intervals.
    source : str
        Where the uncertainty came from: ``"ci"``, ``"ci_lower"`` (upper limit not reached),
        ``"events"``, ``"n"`` (n as an upper bound on events: the interval is too narrow) or ``"none"``.
    note : str
        The assumption, in words.
    """

    median_value: float
    rate: float
    rate_ci_low: float
    rate_ci_high: float
    median_ci_low: float
    median_ci_high: float
    se_log_median: float
    effective_events: float
    level: float
    source: str
    note: str

    @property
    def shape(self) -> float:
        return 1.0

    @property
    def scale(self) -> float:
        return 1.0 / self.rate

    def survival_table(self, times):
        """DataFrame ``time, survival, ci_low, ci_high``: the curve with the band from the rate interval."""
        import pandas as pd

        t = np.asarray(times, dtype=float)
        if t.ndim != 1 or np.any(t < 0):
            raise InputError("times must be a 1-D array of non-negative times")
        return pd.DataFrame(
            {
                "time": t,
                "survival": np.exp(-self.rate * t),
                "ci_low": np.exp(-self.rate_ci_high * t),
                "ci_high": np.exp(-self.rate_ci_low * t),
            }
        )

    def to_dict(self) -> dict:
        return jsonable(
            {
                "distribution": "exponential",
                "median": self.median_value,
                "median_ci_low": self.median_ci_low,
                "median_ci_high": self.median_ci_high,
                "rate": self.rate,
                "rate_ci_low": self.rate_ci_low,
                "rate_ci_high": self.rate_ci_high,
                "se_log_median": self.se_log_median,
                "effective_events": self.effective_events,
                "level": self.level,
                "source": self.source,
                "note": self.note,
            }
        )

    def summary(self) -> str:
        lvl = f"{self.level:g}%"
        return "\n".join(
            [
                "Exponential survival curve from a reported median (APPROXIMATION: constant hazard)",
                "",
                f"median: {fmt(self.median_value)}  [{fmt(self.median_ci_low)}, {fmt(self.median_ci_high)}]  ({lvl})",
                f"rate:   {fmt(self.rate)}  [{fmt(self.rate_ci_low)}, {fmt(self.rate_ci_high)}]",
                f"se(ln median): {fmt(self.se_log_median)}   effective events: {fmt(self.effective_events, 1)}",
                f"uncertainty from: {self.source}",
                "",
                self.note,
            ]
        )

    def _short(self) -> str:
        return (
            f"median={fmt(self.median_value, 3)} [{fmt(self.median_ci_low, 3)}, "
            f"{fmt(self.median_ci_high, 3)}] rate={fmt(self.rate)}"
        )


def exponential_from_median(
    median,
    ci_low=None,
    ci_high=None,
    *,
    ci_level=95,
    events=None,
    n=None,
    level=None,
) -> ExponentialCurve:
    """Exponential curve through a reported median, its uncertainty taken from the interval.

    With ``d`` events the log median of an exponential sample is approximately
    ``N(ln m, 1/d)``, so a reported interval gives ``se(ln m) = (ln U - ln L)/(2z)`` and an
    effective number of events ``d_eff = 1/se^2``; when the upper limit was not reached,
    ``se = (ln m - ln L)/z``. Without an interval the reported events give ``se = 1/sqrt(d)``; the
    number of patients ``n`` only bounds the events from above, so its interval is too narrow and
    ``source="n"`` says so. Kaplan-Meier median intervals (Brookmeyer-Crowley) are not exactly
    log-symmetric, so the result is an approximation.

    Parameters
    ----------
    median : float
        Reported median survival time (any unit; the curve uses the same unit).
    ci_low, ci_high : float, optional
        Reported interval for the median; ``ci_high=None`` (or ``inf``/``nan``) means not reached.
    ci_level : float
        Level of the reported interval (95 or 0.95).
    events, n : float, optional
        Events, or patients, when no interval is reported.
    level : float, optional
        Level of the returned intervals; defaults to ``ci_level``. At the reported level the median
        interval is the reported one and the rate interval is ``[ln 2/U, ln 2/L]``; at another level
        a log-scale Wald interval around the median is used.

    Examples
    --------
    >>> curve = exponential_from_median(11.3, 8.7, 15.1)   # KEYNOTE-189 placebo OS (months)
    >>> round(curve.median, 3), round(curve.survival(11.3), 3)
    (11.3, 0.5)
    >>> round(curve.effective_events, 1)
    50.5

    References
    ----------
    survival-methods.md section 4.1; Parmar et al., Stat Med 1998;17:2815.
    """
    m = positive_number(median, "median")
    ci_level_pct = check_level(ci_level)
    out_level = ci_level_pct if level is None else check_level(level)
    z_rep = zcrit(ci_level_pct)

    upper_missing = ci_high is None or (
        isinstance(ci_high, (int, float)) and not math.isfinite(float(ci_high))
    )
    if ci_low is not None:
        lo = positive_number(ci_low, "ci_low")
        if lo > m:
            raise InputError(f"ci_low={lo!r} exceeds the median {m!r}")
        if not upper_missing:
            hi = positive_number(ci_high, "ci_high")
            if hi < m:
                raise InputError(f"ci_high={hi!r} is below the median {m!r}")
            if hi <= lo:
                raise InputError(f"ci_high={hi!r} must exceed ci_low={lo!r}")
            se = (math.log(hi) - math.log(lo)) / (2.0 * z_rep)
            source = "ci"
        else:
            if lo >= m:
                raise InputError(
                    "with the upper limit not reached, ci_low must be below the median to give an SE"
                )
            hi = math.inf
            se = (math.log(m) - math.log(lo)) / z_rep
            source = "ci_lower"
    elif events is not None:
        d = positive_number(events, "events")
        se, source, lo, hi = 1.0 / math.sqrt(d), "events", None, None
    elif n is not None:
        d = positive_number(n, "n")
        se, source, lo, hi = 1.0 / math.sqrt(d), "n", None, None
    else:
        se, source, lo, hi = math.nan, "none", None, None

    if source in ("ci", "ci_lower") and out_level == ci_level_pct:
        # Keep the reported limits: the curve's interval then maps back to the report exactly.
        m_lo, m_hi = lo, (hi if source == "ci" else m * math.exp(z_rep * se))
    elif math.isfinite(se):
        z = zcrit(out_level)
        m_lo, m_hi = m * math.exp(-z * se), m * math.exp(z * se)
    else:
        m_lo = m_hi = math.nan

    notes = {
        "ci": "se(ln m) = (ln U - ln L)/(2z); assumes a log-symmetric interval.",
        "ci_lower": "upper limit not reached: se(ln m) = (ln m - ln L)/z.",
        "events": "se(ln m) = 1/sqrt(events).",
        "n": "se(ln m) = 1/sqrt(n): n bounds the events from above, so the interval is too narrow.",
        "none": "no interval, events or n: the curve has no uncertainty.",
    }
    rate = LN2 / m
    return ExponentialCurve(
        median_value=m,
        rate=rate,
        rate_ci_low=LN2 / m_hi if math.isfinite(m_hi) else math.nan,
        rate_ci_high=LN2 / m_lo if math.isfinite(m_lo) else math.nan,
        median_ci_low=m_lo,
        median_ci_high=m_hi,
        se_log_median=se,
        effective_events=1.0 / se**2 if math.isfinite(se) else math.nan,
        level=out_level,
        source=source,
        note="Exponential survival assumed (APPROXIMATION); " + notes[source],
    )


# --------------------------------------------------------------------------------------------
# Weibull


@dataclass(frozen=True, eq=False, repr=False)
class WeibullCurve(_CurveMixin, ResultMixin):
    """Weibull survival ``S(t) = exp(-(t/scale)^shape)`` through two points of a reported curve.

    Attributes
    ----------
    shape, scale : float
        ``k`` and ``b``.
    times, survival_points : tuple of float
        The two points the curve was fitted through (it passes through both exactly).
    note : str
        How it was fitted.
    """

    shape: float
    scale: float
    times: tuple
    survival_points: tuple
    note: str

    def hazard_ratio(self, other: "WeibullCurve", *, rtol: float = 1e-6) -> float:
        """HR of this curve against ``other``: ``(b_other/b_self)^k``, only when the shapes agree.

        With different shapes the hazards are not proportional and no single HR exists.
        """
        if not math.isclose(self.shape, other.shape, rel_tol=rtol):
            raise InputError(
                f"shapes differ ({self.shape:.4g} vs {other.shape:.4g}): hazards are not "
                "proportional, so there is no single hazard ratio"
            )
        return float((other.scale / self.scale) ** self.shape)

    def survival_table(self, times):
        """DataFrame ``time, survival`` (no band: two points give no uncertainty)."""
        import pandas as pd

        t = np.asarray(times, dtype=float)
        return pd.DataFrame({"time": t, "survival": np.atleast_1d(self.survival(t))})

    def to_dict(self) -> dict:
        return jsonable(
            {
                "distribution": "weibull",
                "shape": self.shape,
                "scale": self.scale,
                "median": self.median,
                "times": list(self.times),
                "survival": list(self.survival_points),
                "note": self.note,
            }
        )

    def summary(self) -> str:
        pts = ", ".join(f"S({fmt(t, 3)}) = {fmt(s, 3)}" for t, s in zip(self.times, self.survival_points))
        return "\n".join(
            [
                "Weibull survival curve from two reported points (APPROXIMATION: Weibull shape)",
                "",
                f"shape k: {fmt(self.shape)}   scale b: {fmt(self.scale)}   median: {fmt(self.median)}",
                f"through: {pts}",
                "",
                self.note,
            ]
        )

    def _short(self) -> str:
        return f"shape={fmt(self.shape)} scale={fmt(self.scale)} median={fmt(self.median, 3)}"


def weibull_from_quantiles(t1, s1, t2, s2) -> WeibullCurve:
    """Weibull curve through two points ``S(t1) = s1`` and ``S(t2) = s2``.

    ``k = [ln(-ln s2) - ln(-ln s1)] / (ln t2 - ln t1)``, ``b = t1 (-ln s1)^(-1/k)``. A reported
    quantile of the survival time is such a point: the q-th quantile ``t_q`` has ``S(t_q) = 1 - q``.

    Examples
    --------
    >>> curve = weibull_from_quantiles(6.0, 0.7, 18.0, 0.3)
    >>> round(float(curve.survival(6.0)), 6), round(float(curve.survival(18.0)), 6)
    (0.7, 0.3)

    References
    ----------
    survival-methods.md section 4.2.
    """
    t1, t2 = positive_number(t1, "t1"), positive_number(t2, "t2")
    s1, s2 = _probability(s1, "s1"), _probability(s2, "s2")
    if t1 == t2:
        raise InputError("t1 and t2 must differ")
    if (t1 < t2) != (s1 > s2):
        raise InputError(
            f"a survival curve falls: S({t1:g}) = {s1:g} and S({t2:g}) = {s2:g} are not compatible "
            "(the later time needs the lower survival)"
        )
    k = (math.log(-math.log(s2)) - math.log(-math.log(s1))) / (math.log(t2) - math.log(t1))
    b = t1 * (-math.log(s1)) ** (-1.0 / k)
    return WeibullCurve(
        shape=k, scale=b, times=(t1, t2), survival_points=(s1, s2),
        note="Weibull through two points: k = [ln(-ln s2) - ln(-ln s1)]/(ln t2 - ln t1), "
        "b = t1 (-ln s1)^(-1/k).",
    )


def weibull_from_median(median, time, survival) -> WeibullCurve:
    """Weibull curve through a median ``m`` and one landmark rate ``S(time) = survival``.

    ``k = [ln(-ln p) - ln ln 2] / (ln tau - ln m)``, ``b = m / (ln 2)^(1/k)``. Valid only when the
    landmark lies after the median with ``p < 0.5`` or before it with ``p > 0.5``.

    Examples
    --------
    >>> curve = weibull_from_median(11.3, 24.0, 0.25)
    >>> round(curve.median, 6), round(float(curve.survival(24.0)), 6)
    (11.3, 0.25)

    References
    ----------
    survival-methods.md section 4.2.
    """
    m = positive_number(median, "median")
    tau = positive_number(time, "time")
    p = _probability(survival, "survival")
    if tau == m or p == 0.5 or (tau > m) != (p < 0.5):
        raise InputError(
            f"S({tau:g}) = {p:g} is not compatible with median {m:g}: a landmark after the median "
            "needs survival below 0.5, one before it survival above 0.5"
        )
    curve = weibull_from_quantiles(m, 0.5, tau, p) if m < tau else weibull_from_quantiles(tau, p, m, 0.5)
    return WeibullCurve(
        shape=curve.shape, scale=curve.scale, times=(m, tau), survival_points=(0.5, p),
        note="Weibull through the median and one landmark: k = [ln(-ln p) - ln ln 2]/(ln tau - ln m), "
        "b = m/(ln 2)^(1/k).",
    )


# --------------------------------------------------------------------------------------------
# pseudo-patients


def _event_fraction(curve, accrual: float, follow_up: float, dropout_rate: float) -> float:
    """Expected fraction of patients with an observed event under the censoring model."""
    from scipy.integrate import quad

    def p_event_given_c(c):
        # P(T <= min(c, D)) with D ~ Exp(dropout_rate): integrate the event density times P(D > t).
        if dropout_rate == 0:
            return 1.0 - curve.survival(c)
        val, _ = quad(lambda t: curve.hazard(t) * curve.survival(t) * math.exp(-dropout_rate * t), 0, c)
        return val

    if accrual == 0:
        return p_event_given_c(follow_up)
    val, _ = quad(p_event_given_c, follow_up, follow_up + accrual)
    return val / accrual


def simulate_ipd(
    curve,
    n: int,
    *,
    accrual: float = 0.0,
    follow_up: float | None = None,
    dropout_rate: float = 0.0,
    events: float | None = None,
    seed=None,
):
    """Pseudo-patient data simulated from a parametric curve, with a stated censoring model.

    Survival times are drawn by inversion, ``T = b (-ln U)^(1/k)``. Censoring is administrative with
    uniform accrual: patient ``i`` enters at ``E_i ~ U(0, accrual)`` and the analysis is at
    ``accrual + follow_up``, so the potential follow-up is ``C_i = follow_up + accrual - E_i``,
    uniform on ``[follow_up, follow_up + accrual]``; optionally also independent exponential
    drop-out at ``dropout_rate``. ``follow_up=None`` with no drop-out means no censoring. With
    ``events`` given (e.g. a curve's ``effective_events`` or the reported deaths), ``follow_up`` is
    solved so that the expected number of events is ``events``.

    The result is labelled ``attrs["origin"] = "simulated from a summary"``: the curve's shape is an
    assumption, not data.

    Parameters
    ----------
    curve : ExponentialCurve or WeibullCurve
    n : int
        Number of patients.
    accrual, follow_up, dropout_rate : float
        Censoring model, in the curve's time unit (see above).
    events : float, optional
        Target expected number of events; solves ``follow_up``.
    seed : int or numpy Generator, optional
        Makes the draw reproducible.

    Returns
    -------
    pandas.DataFrame
        Columns ``time`` and ``event`` (1 = event, 0 = censored), one row per patient, with
        ``attrs`` recording the curve and the censoring model.

    Examples
    --------
    >>> curve = exponential_from_median(10.0, 8.0, 12.5)
    >>> ipd = simulate_ipd(curve, 200, accrual=12.0, follow_up=18.0, seed=1)
    >>> len(ipd), sorted(ipd.columns)
    (200, ['event', 'time'])

    References
    ----------
    survival-methods.md section 4.3.
    """
    import pandas as pd

    if not hasattr(curve, "time_at_survival"):
        raise InputError("curve must be an ExponentialCurve or WeibullCurve")
    try:
        n_int = int(n)
    except (TypeError, ValueError):
        raise InputError(f"n must be a positive integer, got {n!r}") from None
    if n_int != n or n_int < 1:
        raise InputError(f"n must be a positive integer, got {n!r}")
    accrual = float(accrual)
    dropout_rate = float(dropout_rate)
    if not math.isfinite(accrual) or accrual < 0:
        raise InputError(f"accrual must be a non-negative time, got {accrual!r}")
    if not math.isfinite(dropout_rate) or dropout_rate < 0:
        raise InputError(f"dropout_rate must be non-negative, got {dropout_rate!r}")

    if events is not None:
        if follow_up is not None:
            raise InputError("give follow_up or events, not both: events solves follow_up")
        target = float(events)
        if not (0 < target < n_int):
            raise InputError(f"events must lie strictly between 0 and n={n_int}, got {events!r}")
        from scipy.optimize import brentq

        frac = target / n_int
        hi = curve.time_at_survival(1e-9) * 10.0
        if _event_fraction(curve, accrual, hi, dropout_rate) < frac:
            raise InputError(
                f"events={events!r} out of n={n_int} cannot be reached with dropout_rate={dropout_rate!r}"
            )
        follow_up = brentq(
            lambda f: _event_fraction(curve, accrual, f, dropout_rate) - frac, 0.0, hi, xtol=1e-10
        )
    elif follow_up is not None:
        follow_up = float(follow_up)
        if not math.isfinite(follow_up) or follow_up < 0 or (follow_up == 0 and accrual == 0):
            raise InputError(f"follow_up must be a positive time, got {follow_up!r}")

    rng = np.random.default_rng(seed)
    u = rng.random(n_int)
    # 1 - U avoids log(0); it is uniform on (0, 1] as U is on [0, 1)
    t = curve.scale * (-np.log1p(-u)) ** (1.0 / curve.shape)
    c = np.full(n_int, np.inf)
    if follow_up is not None:
        c = follow_up + accrual * rng.random(n_int)
    if dropout_rate > 0:
        c = np.minimum(c, rng.exponential(1.0 / dropout_rate, n_int))
    event = (t <= c).astype(int)
    time = np.where(event == 1, t, c)

    frame = pd.DataFrame({"time": time, "event": event})
    desc = "none"
    if follow_up is not None:
        desc = f"administrative: uniform accrual on [0, {accrual:g}], follow-up {follow_up:.6g}"
    if dropout_rate > 0:
        desc = (desc if desc != "none" else "") + f"{'; ' if desc != 'none' else ''}exponential drop-out rate {dropout_rate:g}"
    frame.attrs.update(
        {
            "origin": "simulated from a summary",
            "curve": curve.to_dict(),
            "censoring": desc,
            "follow_up": follow_up,
            "accrual": accrual,
            "dropout_rate": dropout_rate,
            "seed": seed if isinstance(seed, (int, type(None))) else "generator",
        }
    )
    return frame
