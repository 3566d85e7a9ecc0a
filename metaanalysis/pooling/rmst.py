"""Restricted mean survival time across trials, and two-stage against one-stage hazard ratios.

Each trial's two arms (patient data, reconstructed from published curves or real) give a
Kaplan-Meier restricted mean survival time (RMST) per arm up to a common horizon tau, with the
Klein-Moeschberger variance (the one R's ``survfit`` prints as ``se(rmean)`` and survRM2 uses);
the per-trial differences (RMSTD) or log ratios (RMSTR, delta-method variance) are pooled with
:func:`~metaanalysis.pooling.pool` (inverse variance, random effects by default).

The horizon must lie inside every arm's follow-up. The default rule takes the largest such horizon:
**the smallest, over trials, of the shorter arm's last observed time** (``min_trials min_arms
max(time)``). Royston and Parmar (2013) and Wei et al. (2015) discuss the choice; a sensitivity
analysis over a grid of horizons is :func:`rmst_over_tau`.

References
----------
Klein JP, Moeschberger ML (2003), Survival Analysis, 2nd ed., section 4.5 (variance of the RMST).
Royston P, Parmar MKB (2013), BMC Med Res Methodol 13:152. Wei Y et al. (2015), Stat Med 34:2881
(RMST in meta-analysis of reconstructed data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, frame_field, jsonable, positive_number
from ..errors import InputError
from ..survival.km import _rmst_and_var
from ..survival.onestage import cox_one_stage, stratified_cox, trial_arms
from .core import pool
from ._print import p_equals

__all__ = [
    "rmst_per_trial",
    "pool_rmst",
    "rmst_over_tau",
    "two_stage_vs_one_stage",
    "RMSTPoolResult",
    "TAU_RULE",
]

TAU_RULE = "smallest over trials of the shorter arm's last observed time"
MEASURES = ("RMSTD", "RMSTR")


def _default_tau(trials: dict) -> float:
    tau = float(min(min(ta.max(), tb.max()) for ta, _, tb, _ in trials.values()))
    if not tau > 0:
        # every time of some arm is 0: there is no follow-up to restrict the mean to
        short = [n for n, (ta, _, tb, _) in trials.items() if min(ta.max(), tb.max()) <= 0]
        raise InputError(f"trial {short[0]!r} has an arm whose times are all 0: no follow-up, so "
                         "no restricted mean; check its times (or leave the trial out)")
    return tau


def _check_tau(tau, trials: dict) -> float:
    tau = positive_number(tau, "tau")
    for name, (ta, _, tb, _) in trials.items():
        limit = float(min(ta.max(), tb.max()))
        if tau > limit:
            raise InputError(
                f"tau = {tau:g} is beyond the follow-up of trial {name!r} (its shorter arm ends at "
                f"{limit:g}): the RMST is not estimable there; choose tau <= {_default_tau(trials):g} "
                "(the default) or leave that trial out")
    return tau


def _per_trial_rows(trials: dict, tau: float) -> list[dict]:
    rows = []
    for name, (ta, ea, tb, eb) in trials.items():
        ra, va = _rmst_and_var(ta, ea, tau)
        rb, vb = _rmst_and_var(tb, eb, tau)
        rows.append({
            "trial": name, "tau": tau,
            "n_a": len(ta), "n_b": len(tb), "events_a": int(ea.sum()), "events_b": int(eb.sum()),
            "rmst_a": ra, "se_a": math.sqrt(va), "rmst_b": rb, "se_b": math.sqrt(vb),
            "difference": ra - rb, "se_difference": math.sqrt(va + vb),
            "ratio": ra / rb, "log_ratio": math.log(ra / rb),
            # delta method: var log R = var(R) / R^2 per arm, the arms independent
            "se_log_ratio": math.sqrt(va / ra**2 + vb / rb**2),
        })
    return rows


def rmst_per_trial(arms, tau=None):
    """RMST per arm, their difference and ratio, per trial, at one horizon ``tau``.

    Parameters
    ----------
    arms : mapping, sequence or DataFrame
        ``{trial: (ipd_a, ipd_b)}`` with ``time``/``event`` frames (or ``(time, event)`` pairs,
        :class:`~metaanalysis.survival.DigitisedCurve` objects reconstructed here), a list of
        ``(curve_a, curve_b)`` pairs, or a long frame ``trial, arm, time, event``; see
        :func:`~metaanalysis.survival.onestage.trial_arms`. Arm a is the experimental arm.
    tau : float, optional
        The horizon; by default the smallest, over trials, of the shorter arm's last observed time
        (:data:`TAU_RULE`). A horizon beyond some trial's follow-up is an :class:`InputError`.

    Returns
    -------
    DataFrame
        One row per trial: ``trial, tau, n_a, n_b, events_a, events_b, rmst_a, se_a, rmst_b, se_b,
        difference, se_difference, ratio, log_ratio, se_log_ratio``. ``se_a`` is R ``survfit``'s
        ``se(rmean)`` (Klein-Moeschberger); the ratio's SE is on the log scale (delta method).

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"time": [2, 4, 6, 8], "event": [1, 1, 0, 1]})
    >>> b = pd.DataFrame({"time": [1, 3, 5, 7], "event": [1, 1, 1, 0]})
    >>> rmst_per_trial({"T1": (a, b)})[["tau", "rmst_a", "rmst_b"]].round(3).values.tolist()
    [[7.0, 5.0, 4.0]]
    """
    import pandas as pd

    trials = trial_arms(arms)
    tau = _default_tau(trials) if tau is None else _check_tau(tau, trials)
    return pd.DataFrame(_per_trial_rows(trials, tau))


@dataclass(frozen=True, eq=False, repr=False)
class RMSTPoolResult(ResultMixin):
    """Pooled RMST difference or ratio across trials at one horizon.

    Attributes
    ----------
    measure : str
        ``"RMSTD"`` (difference a - b, time units) or ``"RMSTR"`` (ratio a / b, pooled on the log scale).
    tau : float
        The horizon.
    tau_rule : str
        How it was chosen (:data:`TAU_RULE`, or ``"given"``).
    estimate, ci_low, ci_high : float
        Pooled difference, or pooled ratio (back-transformed from the log scale), and interval.
    se, pvalue : float
        Standard error on the analysis scale (log for RMSTR) and p-value.
    fit : PoolResult
        The pooled fit on the analysis scale (``print(res.fit)`` reads like metafor).
    trials : DataFrame
        :func:`rmst_per_trial`'s table.
    """

    measure: str
    tau: float
    tau_rule: str
    estimate: float
    ci_low: float
    ci_high: float
    se: float
    pvalue: float
    level: float
    fit: object
    trials: object = frame_field()

    @property
    def k(self) -> int:
        return int(self.fit.k)

    def to_dict(self) -> dict:
        f = self.fit
        return jsonable({
            "measure": self.measure, "tau": self.tau, "tau_rule": self.tau_rule,
            "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "se": self.se, "pvalue": self.pvalue, "level": self.level, "k": self.k,
            "tau2": f.tau2, "i2": f.i2, "q": f.q, "q_pvalue": f.q_pvalue,
            "pi_low": f.pi_low, "pi_high": f.pi_high, "method": f.method, "test": f.test,
            "trials": self.trials.to_dict("records"),
        })

    def to_frame(self):
        return self.trials

    def _short(self) -> str:
        return (f"{self.measure} tau={self.tau:g} estimate={fmt(self.estimate)} "
                f"[{fmt(self.ci_low)}, {fmt(self.ci_high)}] k={self.k}")

    def summary(self) -> str:
        what = "difference (a - b)" if self.measure == "RMSTD" else "ratio (a / b), pooled as log ratio"
        cols = ["trial", "rmst_a", "se_a", "rmst_b", "se_b",
                "difference" if self.measure == "RMSTD" else "ratio"]
        tab = self.trials[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}")
        lines = [
            f"Restricted mean survival time {what} up to tau = {self.tau:g}",
            f"tau: {self.tau_rule}",
            "",
            tab,
            self.fit.summary().rstrip("\n"),
            "",
            f"Pooled {self.measure}: {fmt(self.estimate)}, {self.level:g}% CI "
            f"[{fmt(self.ci_low)}, {fmt(self.ci_high)}], p {p_equals(self.pvalue)}",
        ]
        return "\n".join(lines)




def _check_measure(measure: str) -> str:
    m = str(measure).upper()
    if m not in MEASURES:
        raise InputError(f"measure must be 'RMSTD' (difference) or 'RMSTR' (ratio); got {measure!r}")
    return m


def _pool_rows(table, measure, method, test, level):
    if measure == "RMSTD":
        y, se = table["difference"].to_numpy(float), table["se_difference"].to_numpy(float)
    else:
        y, se = table["log_ratio"].to_numpy(float), table["se_log_ratio"].to_numpy(float)
    bad = np.flatnonzero(~(se > 0))
    if len(bad):
        raise InputError(
            f"trial {table['trial'].iloc[bad[0]]!r} has a zero standard error of its RMST {measure} at "
            f"tau = {table['tau'].iloc[0]:g} (no events before tau in either arm); choose a later tau")
    fit = pool(y, se**2, method=method, test=test, level=level, measure=measure,
               labels=[str(x) for x in table["trial"]])
    back = math.exp if measure == "RMSTR" else float
    return fit, back(fit.estimate), back(fit.ci_low), back(fit.ci_high)


def pool_rmst(arms, tau=None, measure: str = "RMSTD", method: str = "REML", test: str = "z",
              level: float = 95) -> RMSTPoolResult:
    """Pool restricted mean survival times across trials (inverse variance).

    Parameters
    ----------
    arms : mapping, sequence or DataFrame
        Trials as for :func:`rmst_per_trial` (arm a experimental, arm b comparator).
    tau : float, optional
        Horizon; default :data:`TAU_RULE` (the largest horizon inside every arm's follow-up).
    measure : {"RMSTD", "RMSTR"}
        Difference of RMSTs (a - b) or their ratio (a / b; pooled as a log ratio with the
        delta-method variance).
    method, test, level
        As in :func:`~metaanalysis.pooling.pool` (any tau² estimator; ``z``, ``t``, ``knha``).

    Returns
    -------
    RMSTPoolResult
        ``to_frame()`` gives the per-trial values; ``fit`` the pooled :class:`PoolResult`.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> exp = ma.exponential_from_median
    >>> arms = {f"T{i}": (ma.simulate_ipd(exp(14), 200, accrual=12, follow_up=24, seed=2 * i),
    ...                   ma.simulate_ipd(exp(10), 200, accrual=12, follow_up=24, seed=2 * i + 1))
    ...         for i in (1, 2, 3)}                   # three trials, true medians 14 and 10
    >>> r = ma.pool_rmst(arms, measure="RMSTD")
    >>> round(r.tau, 1), round(r.estimate, 2), round(r.ci_low, 2), round(r.ci_high, 2)
    (35.5, 4.59, 3.28, 5.9)
    """
    measure = _check_measure(measure)
    level = check_level(level)
    trials = trial_arms(arms)
    if tau is None:
        tau, rule = _default_tau(trials), TAU_RULE
    else:
        tau, rule = _check_tau(tau, trials), "given"
    import pandas as pd

    table = pd.DataFrame(_per_trial_rows(trials, tau))
    fit, est, lo, hi = _pool_rows(table, measure, method, test, level)
    return RMSTPoolResult(measure=measure, tau=tau, tau_rule=rule, estimate=est, ci_low=lo, ci_high=hi,
                          se=float(fit.se), pvalue=float(fit.pvalue), level=level, fit=fit, trials=table)


def rmst_over_tau(arms, taus, measure: str = "RMSTD", method: str = "REML", test: str = "z",
                  level: float = 95):
    """The pooled RMST difference (or ratio) over a grid of horizons, for a sensitivity plot.

    Parameters
    ----------
    arms : mapping, sequence or DataFrame
        Trials as for :func:`rmst_per_trial`. Reconstruction of digitised curves happens once.
    taus : array_like
        Horizons, each inside every arm's follow-up (see :data:`TAU_RULE` for the largest).
    measure, method, test, level
        As in :func:`pool_rmst`.

    Returns
    -------
    DataFrame
        One row per horizon: ``tau, measure, estimate, ci_low, ci_high, se, pvalue, tau2, i2, k``
        (estimate and interval on the reported scale, the ratio for RMSTR; ``se`` on the analysis
        scale).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> exp = ma.exponential_from_median
    >>> arms = {f"T{i}": (ma.simulate_ipd(exp(14), 200, accrual=12, follow_up=24, seed=2 * i),
    ...                   ma.simulate_ipd(exp(10), 200, accrual=12, follow_up=24, seed=2 * i + 1))
    ...         for i in (1, 2, 3)}                   # three trials, true medians 14 and 10
    >>> ma.rmst_over_tau(arms, [6, 12, 18], measure="RMSTD")["estimate"].round(2).tolist()
    [0.3, 1.04, 2.03]
    """
    import pandas as pd

    measure = _check_measure(measure)
    level = check_level(level)
    trials = trial_arms(arms)
    try:
        grid = np.atleast_1d(np.asarray(taus, dtype=float))
    except (TypeError, ValueError):
        raise InputError(f"taus must be numbers (horizons); got {taus!r}") from None
    if grid.size == 0:
        raise InputError("taus is empty: give at least one horizon")
    rows = []
    for tau in grid:
        tau = _check_tau(tau, trials)
        table = pd.DataFrame(_per_trial_rows(trials, tau))
        fit, est, lo, hi = _pool_rows(table, measure, method, test, level)
        rows.append({"tau": tau, "measure": measure, "estimate": est, "ci_low": lo, "ci_high": hi,
                     "se": float(fit.se), "pvalue": float(fit.pvalue), "tau2": float(fit.tau2),
                     "i2": float(fit.i2), "k": int(fit.k)})
    return pd.DataFrame(rows)


def two_stage_vs_one_stage(arms, method: str = "REML", test: str = "z", level: float = 95):
    """The hazard ratio of arm a versus b by a one-stage and a two-stage analysis, side by side.

    One stage: Cox model on all patients stratified by trial
    (:func:`~metaanalysis.survival.onestage.cox_one_stage`). Two stages: a Cox hazard ratio per trial
    (Efron ties, the same Newton iteration as the one-stage model with one stratum), the log hazard
    ratios pooled by
    :func:`~metaanalysis.pooling.pool` with ``method`` and ``test`` (and, for reference, by inverse
    variance with a common effect, which the one-stage model approximates).

    Returns
    -------
    DataFrame
        Rows ``one-stage (stratified Cox)``, ``two-stage (EE)``, ``two-stage (<method>)``; columns
        ``analysis, hr, ci_low, ci_high, log_hr, se, pvalue, tau2, k, level``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> exp = ma.exponential_from_median
    >>> arms = {f"T{i}": (ma.simulate_ipd(exp(14), 200, accrual=12, follow_up=24, seed=2 * i),
    ...                   ma.simulate_ipd(exp(10), 200, accrual=12, follow_up=24, seed=2 * i + 1))
    ...         for i in (1, 2, 3)}                   # three trials, true medians 14 and 10
    >>> ma.two_stage_vs_one_stage(arms)[["analysis", "hr"]].round(2).values.tolist()
    [['one-stage (stratified Cox)', 0.64], ['two-stage (EE)', 0.64], ['two-stage (REML)', 0.64]]
    """
    import pandas as pd

    level = check_level(level)
    trials = trial_arms(arms)
    one = cox_one_stage({n: ((ta, ea), (tb, eb)) for n, (ta, ea, tb, eb) in trials.items()}, level=level)
    per = [stratified_cox([arms4]) for arms4 in trials.values()]
    y = np.array([b for b, _, _ in per])
    v = 1.0 / np.array([info for _, info, _ in per])
    rows = [{"analysis": "one-stage (stratified Cox)", "hr": one.hr, "ci_low": one.ci_low,
             "ci_high": one.ci_high, "log_hr": one.log_hr, "se": one.se, "pvalue": one.pvalue,
             "tau2": float("nan"), "k": one.k, "level": level}]
    for m in dict.fromkeys(("EE", method)):
        fit = pool(y, v, method=m, test=test if m != "EE" else "z", level=level, measure="HR",
                   labels=list(trials))
        rows.append({"analysis": f"two-stage ({m})", "hr": math.exp(fit.estimate),
                     "ci_low": math.exp(fit.ci_low), "ci_high": math.exp(fit.ci_high),
                     "log_hr": float(fit.estimate), "se": float(fit.se), "pvalue": float(fit.pvalue),
                     "tau2": float(fit.tau2), "k": int(fit.k), "level": level})
    return pd.DataFrame(rows)
