"""One-stage analysis of reconstructed patient data: a Cox model stratified by trial.

Several two-arm trials, each given as patient data (reconstructed from published curves or real),
are stacked and analysed in one Cox model with a baseline hazard of their own per trial (R's
``coxph(Surv(time, status) ~ arm + strata(trial))``). The two-stage counterpart, per-trial hazard
ratios pooled by inverse variance, lives in :mod:`metaanalysis.pooling.rmst` (the pooling box), which
also sets the two side by side.

:func:`trial_arms` is the one reader of the ``arms`` argument shared by the functions of this module,
:mod:`.uncertainty`, :mod:`metaanalysis.pooling.rmst` and :mod:`metaanalysis.network.survival`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, fmt_p, frame_field, zcrit
from ..errors import ConvergenceError, InputError
from .km import _arm, _arms

__all__ = ["trial_arms", "stack_trials", "cox_one_stage", "stratified_cox", "OneStageCoxResult"]


def _ipd(obj, name: str):
    """(time, event) arrays of one arm given as a DataFrame, a pair, a DigitisedCurve or a Reconstruction."""
    from .curves import DigitisedCurve
    from .reconstruct import Reconstruction

    if isinstance(obj, DigitisedCurve):
        obj = obj.reconstruct(warn=False).ipd
    elif isinstance(obj, Reconstruction):
        obj = obj.ipd
    return _arm(obj, name)


def trial_arms(arms) -> dict:
    """Read the ``arms`` argument: trial name -> ``(time_a, event_a, time_b, event_b)`` arrays.

    Arm ``a`` is the experimental arm and ``b`` its comparator: hazard ratios and differences are
    ``a`` versus ``b``, as in :func:`~metaanalysis.survival.cox_hr`.

    Parameters
    ----------
    arms : mapping, sequence or DataFrame
        * a mapping ``trial -> (ipd_a, ipd_b)``, each arm a DataFrame with columns ``time`` and
          ``event``, a ``(time, event)`` pair, a :class:`~metaanalysis.survival.DigitisedCurve`
          (reconstructed here) or a :class:`~metaanalysis.survival.Reconstruction`;
        * a sequence of such pairs (e.g. pairs of digitised curves); trials are named by the first
          curve's ``study_id`` when it has one, else ``"trial 1"``, ``"trial 2"`` ...;
        * a long DataFrame with columns ``trial``, ``arm`` (1 for arm a, 0 for arm b), ``time``,
          ``event``.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"time": [1, 2, 3], "event": [1, 0, 1]})
    >>> b = pd.DataFrame({"time": [1, 2], "event": [1, 1]})
    >>> list(trial_arms({"T1": (a, b)}))
    ['T1']
    """
    if hasattr(arms, "columns"):
        need = ["trial", "arm", "time", "event"]
        missing = [c for c in need if c not in arms.columns]
        if missing:
            raise InputError(f"a long DataFrame of arms needs columns {need}; missing {missing}")
        out = {}
        for trial, g in arms.groupby("trial", sort=False):
            codes = set(np.unique(g["arm"]).tolist())
            if not codes <= {0, 1} or len(codes) != 2:
                raise InputError(f"trial {trial!r}: column arm must hold both 1 (arm a) and 0 (arm b); "
                                 f"got {sorted(codes)}")
            a, b = g[g["arm"] == 1], g[g["arm"] == 0]
            # times equal up to rounding made one within a trial, as R's survfit and coxph per trial
            out[str(trial)] = _arms(a, b, (f"{trial}/a", f"{trial}/b"))
        if not out:
            raise InputError("the long DataFrame of arms has no rows: give each trial's two arms")
        return out
    if isinstance(arms, Mapping):
        items = [(str(k), v) for k, v in arms.items()]
    elif isinstance(arms, (list, tuple)):
        items = []
        for i, pair in enumerate(arms):
            sid = getattr(pair[0], "study_id", "") if isinstance(pair, (list, tuple)) and pair else ""
            items.append((sid or f"trial {i + 1}", pair))
        names = [n for n, _ in items]
        if len(set(names)) != len(names):
            items = [(f"{n} ({i + 1})" if names.count(n) > 1 else n, p) for i, (n, p) in enumerate(items)]
    else:
        raise InputError("arms must be a mapping trial -> (ipd_a, ipd_b), a list of (curve_a, curve_b) "
                         f"pairs or a DataFrame with columns trial, arm, time, event; got {type(arms).__name__}")
    if not items:
        raise InputError("arms is empty: give at least one trial")
    out = {}
    for name, pair in items:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InputError(f"trial {name!r}: give a pair (ipd_a, ipd_b), arm a the experimental arm")
        out[name] = _arms(pair[0], pair[1], (f"{name}/a", f"{name}/b"), read=_ipd)
    return out


def stack_trials(trials: dict):
    """One long DataFrame ``trial, arm, time, event`` (arm 1 = a) from :func:`trial_arms`' output."""
    import pandas as pd

    frames = []
    for name, (ta, ea, tb, eb) in trials.items():
        frames.append(pd.DataFrame({
            "trial": name,
            "arm": np.r_[np.ones(len(ta), int), np.zeros(len(tb), int)],
            "time": np.r_[ta, tb],
            "event": np.r_[ea, eb].astype(int),
        }))
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True, eq=False, repr=False)
class OneStageCoxResult(ResultMixin):
    """Hazard ratio (arm a versus arm b) from one Cox model stratified by trial.

    Attributes
    ----------
    hr, ci_low, ci_high : float
        Hazard ratio and its Wald interval at ``level``.
    log_hr, se, z, pvalue : float
        Log hazard ratio, its standard error (inverse information), Wald z and two-sided p.
    level : float
        Confidence level in percent.
    k, n, events : int
        Trials, patients and events.
    ties : str
        ``"efron"`` (as R's ``coxph`` default and lifelines).
    trials : DataFrame
        One row per trial: ``trial, n_a, n_b, events_a, events_b``.
    """

    hr: float
    ci_low: float
    ci_high: float
    log_hr: float
    se: float
    z: float
    pvalue: float
    level: float
    k: int
    n: int
    events: int
    ties: str
    trials: object = frame_field()

    def to_dict(self) -> dict:
        d = {k: float(getattr(self, k)) for k in ("hr", "ci_low", "ci_high", "log_hr", "se", "z", "pvalue", "level")}
        d.update(k=int(self.k), n=int(self.n), events=int(self.events), ties=self.ties,
                 trials=self.trials.to_dict("records"))
        return d

    def to_frame(self):
        return self.trials

    def _short(self) -> str:
        return f"k={self.k} HR={fmt(self.hr, 3)} [{fmt(self.ci_low, 3)}, {fmt(self.ci_high, 3)}] p={fmt_p(self.pvalue)}"

    def summary(self) -> str:
        lines = [
            "One-stage Cox model stratified by trial (Efron ties), arm a vs arm b",
            f"k = {self.k} trials, n = {self.n} patients, {self.events} events",
            "",
            f"{'':8s}{'coef':>9s}{'exp(coef)':>11s}{'se(coef)':>10s}{'z':>9s}{'p':>9s}",
            f"{'arm a':8s}{fmt(self.log_hr):>9s}{fmt(self.hr):>11s}{fmt(self.se):>10s}{fmt(self.z, 3):>9s}"
            f"{fmt_p(self.pvalue):>9s}",
            "",
            f"HR = {fmt(self.hr)}, {self.level:g}% CI [{fmt(self.ci_low)}, {fmt(self.ci_high)}]",
        ]
        return "\n".join(lines)


def cox_one_stage(arms, level: float = 95) -> OneStageCoxResult:
    """One-stage meta-analysis: Cox model of arm a versus b stratified by trial on the stacked data.

    Each trial keeps a baseline hazard of its own; the hazard ratio is common to all trials. The
    model is R's ``coxph(Surv(time, status) ~ arm + strata(trial))`` with Efron's ties. It is fitted
    by a Newton iteration on the stratified partial likelihood of the one binary covariate, run to
    full precision (a change of the log hazard ratio below 1e-13): lifelines'
    ``CoxPHFitter(...).fit(..., strata=["trial"])`` fits the same model but stops about 3e-7 (relative)
    short of the maximum, which is visible in the p-value at R's precision; the tests check both.

    Parameters
    ----------
    arms : mapping, sequence or DataFrame
        Trials as read by :func:`trial_arms`: ``{trial: (ipd_a, ipd_b)}``, pairs of digitised
        curves (reconstructed first), or a long frame ``trial, arm, time, event``.
    level : float
        Confidence level in percent.

    Returns
    -------
    OneStageCoxResult

    References
    ----------
    Tierney JF et al. (2015), Individual participant data (IPD) meta-analyses of randomised
    controlled trials: guidance on their use. PLoS Med 12:e1001855 (one- versus two-stage).

    Examples
    --------
    >>> import pandas as pd, metaanalysis as ma                        # doctest: +SKIP
    >>> d = pd.read_csv("tests/data/ipd/veteran.csv")                  # doctest: +SKIP
    >>> e = pd.read_csv("tests/data/ipd/pbc.csv")                      # doctest: +SKIP
    >>> res = ma.cox_one_stage({"veteran": (d[d.arm == 1], d[d.arm == 0]),
    ...                         "pbc": (e[e.arm == 1], e[e.arm == 0])})   # doctest: +SKIP
    >>> print(res)                                                     # doctest: +SKIP
    """
    from scipy.special import ndtr

    level = check_level(level)
    trials = trial_arms(arms)
    data = stack_trials(trials)
    table = _trial_counts(trials)
    events = int(data["event"].sum())
    if events == 0:
        raise InputError("no events in any trial: the hazard ratio is not estimable")
    if data.groupby("arm")["event"].sum().min() == 0:
        raise InputError("one arm has no events in any trial: the hazard ratio is not estimable")
    b, info, _ = stratified_cox(trials.values())
    se = 1.0 / math.sqrt(info)
    z = b / se
    c = zcrit(level)
    return OneStageCoxResult(
        hr=float(np.exp(b)), ci_low=float(np.exp(b - c * se)), ci_high=float(np.exp(b + c * se)),
        log_hr=b, se=se, z=z, pvalue=float(2 * ndtr(-abs(z))), level=level, k=len(trials),
        n=len(data), events=events, ties="efron", trials=table,
    )


def _trial_counts(trials: dict):
    import pandas as pd

    return pd.DataFrame([
        {"trial": name, "n_a": len(ta), "n_b": len(tb), "events_a": int(ea.sum()), "events_b": int(eb.sum())}
        for name, (ta, ea, tb, eb) in trials.items()
    ])


def _efron_terms(ta, ea, tb, eb):
    """Per tied-death term of one stratum: risk-set sizes of arm b (``n0``) and arm a (``n1``) after
    Efron's fractional removal, and the arm-a deaths."""
    ut = np.unique(np.r_[ta[ea == 1], tb[eb == 1]])
    if len(ut) == 0:
        return np.zeros(0), np.zeros(0), 0
    r1 = len(ta) - np.searchsorted(np.sort(ta), ut, "left")
    r0 = len(tb) - np.searchsorted(np.sort(tb), ut, "left")
    d1 = np.bincount(np.searchsorted(ut, ta[ea == 1]), minlength=len(ut))
    d0 = np.bincount(np.searchsorted(ut, tb[eb == 1]), minlength=len(ut))
    d = d0 + d1
    j = np.repeat(np.arange(len(ut)), d)
    # Efron: the l-th of d tied deaths sees l/d of the tied set already gone
    frac = (np.arange(len(j)) - np.repeat(np.cumsum(d) - d, d)) / d[j]
    return r0[j] - frac * d0[j], r1[j] - frac * d1[j], int(d1.sum())


# |log HR| beyond which the estimate is running off to infinity (a hazard ratio of 1e13)
_MONOTONE = 30.0


def stratified_cox(strata, tol: float = 1e-13, max_iter: int = 100):
    """Log hazard ratio of arm a versus b from a Cox model stratified by the given groups (Efron ties).

    Parameters
    ----------
    strata : iterable of (time_a, event_a, time_b, event_b)
        One tuple of arrays per stratum (trial).

    Returns
    -------
    beta, information, loglik : float
        The estimate, the observed information at it (so ``se = information ** -0.5``) and the log
        partial likelihood (as R's ``coxph()$loglik[2]``).

    Examples
    --------
    >>> import numpy as np
    >>> s = [(np.array([2., 4, 6, 8]), np.array([1, 1, 0, 0]), np.array([1., 3, 5, 7]), np.array([1, 1, 1, 0]))]
    >>> round(stratified_cox(s)[0], 4)
    -0.5469
    """
    n0, n1, d1 = [], [], 0
    for ta, ea, tb, eb in strata:
        a, b, d = _efron_terms(np.asarray(ta, float), np.asarray(ea), np.asarray(tb, float), np.asarray(eb))
        n0.append(a); n1.append(b); d1 += d
    n0, n1 = np.concatenate(n0), np.concatenate(n1)
    if d1 == 0 or d1 == len(n0):
        raise InputError("each arm needs at least one event (in some trial) for a hazard ratio")

    def score_info(beta):
        r = math.exp(beta)
        s0 = n0 + n1 * r
        m = n1 * r / s0
        return d1 * beta - np.sum(np.log(s0)), d1 - m.sum(), float(np.sum(m * (1 - m)))

    beta = 0.0
    ll, u, info = score_info(beta)
    for _ in range(max_iter):
        step = max(min(u / info, 5.0), -5.0)
        new = beta + step
        nll, nu, ninfo = score_info(new)
        while nll < ll - 1e-12 * abs(ll) and abs(step) > 1e-14:   # halve a step that overshoots
            step /= 2
            new = beta + step
            nll, nu, ninfo = score_info(new)
        beta, ll, u, info = new, nll, nu, ninfo
        if abs(beta) > _MONOTONE:
            break
        if abs(step) < tol * (1 + abs(beta)):
            break
    else:
        raise ConvergenceError(f"stratified Cox model: no convergence in {max_iter} Newton steps "
                               f"(last log HR {beta:g})")
    if abs(beta) > _MONOTONE:
        # both arms have events, yet the partial likelihood rises without bound: a monotone
        # likelihood, not slow convergence (R's coxph stops near 20 and warns "coefficient may
        # be infinite"; its estimate and SE mean nothing)
        higher, lower = ("a", "b") if beta > 0 else ("b", "a")
        raise ConvergenceError(
            f"Cox model: the hazard ratio of a vs b is {'infinite' if beta > 0 else 'zero'}: the "
            f"partial likelihood keeps rising as the log HR goes to {'+' if beta > 0 else '-'}"
            f"infinity (in every trial, while arm {higher} still has patients at risk every "
            f"event is in arm {higher}: arm {lower}'s events come only after arm {higher}'s "
            "patients have all had their event or been censored), so there is no finite "
            "estimate; Firth's penalised "
            "Cox model (R's coxphf) gives one")
    return float(beta), info, float(ll)
