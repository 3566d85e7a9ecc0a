"""Network meta-analysis of survival curves: piecewise-exponential and fractional-polynomial models.

Patient data of several trials (reconstructed from published Kaplan-Meier curves, or real) that
share comparators are split at declared times into intervals; the events and the exposure (time at
risk) of every trial, arm and interval are modelled by a Poisson GLM with log link and offset
log(exposure) (statsmodels), which is the likelihood of a model with piecewise-constant hazards:

* ``model="piecewise"``: log h = alpha(trial, interval) + d(therapy, interval); the hazard ratio
  of two therapies may change from one interval to the next (Ouwens et al. 2010's piecewise model,
  frequentist);
* ``model="fp1"``: log h = alpha0(trial) + alpha1(trial) f(t) + d0(therapy) + d1(therapy) f(t) with
  ``f(t) = u^p`` (``log u`` for p = 0), where ``u`` is time over the last observed time, p from
  {-2, -1, -0.5, 0, 0.5, 1, 2, 3} (chosen by AIC unless given), f evaluated at the midpoint of each
  interval of a fine grid (Jansen 2011's first-order fractional polynomial, frequentist);
* ``model="fp2"``: the second order, log h = alpha0 + alpha1 f1(t) + alpha2 f2(t) per trial and
  d0 + d1 f1(t) + d2 f2(t) per therapy, with ``f1 = u^p1`` and ``f2 = u^p2`` (p1 < p2) or, for a
  repeated power, ``f2 = u^p log u``, where ``u`` is time over the last observed time; the pair
  from the same set (36 pairs, chosen by AIC unless given). The hazard ratio may then rise and
  fall once.

The reference therapy has d = 0; each trial has baselines of its own (alpha), so only within-trial
contrasts inform the d's, as in any arm-based NMA with fixed trial effects. Modelled survival curves
per therapy take the baseline hazard of one trial (by default the first containing the reference)
and add each therapy's d.

References
----------
Ouwens MJNM, Philips Z, Jansen JP (2010), Network meta-analysis of parametric survival curves.
Res Synth Methods 1:258-271. Jansen JP (2011), Network meta-analysis of survival data with
fractional polynomials. BMC Med Res Methodol 11:61. Guyot P et al. (2012) for the reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, fmt_p, frame_field, jsonable, zcrit
from ..errors import ConvergenceError, InputError

__all__ = ["survival_nma", "split_followup", "SurvivalNMAResult", "FP_POWERS"]

FP_POWERS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0)
MODELS = ("piecewise", "fp1", "fp2")


# ---------------------------------------------------------------------------------------------------
# data


def _long(data):
    """A long DataFrame ``trial, therapy, time, event`` from the accepted inputs."""
    import pandas as pd

    from ..survival.onestage import _ipd

    if hasattr(data, "columns"):
        col = "therapy" if "therapy" in data.columns else "treatment"
        need = ["trial", col, "time", "event"]
        missing = [c for c in need if c not in data.columns]
        if missing:
            raise InputError(f"data needs columns trial, therapy (or treatment), time, event; missing {missing}")
        out = data[need].rename(columns={col: "therapy"}).copy()
        # validate through the arm reader (negative times, events not 0/1 ...)
        for (trial, therapy), g in out.groupby(["trial", "therapy"], sort=False):
            _ipd(g[["time", "event"]], f"{trial}/{therapy}")
        out["trial"] = out["trial"].astype(str)
        out["therapy"] = out["therapy"].astype(str)
        return out.reset_index(drop=True)
    if not isinstance(data, Mapping) or not data:
        raise InputError("data must be a mapping trial -> {therapy: ipd} or a DataFrame with columns "
                         "trial, therapy, time, event")
    frames = []
    for trial, arms in data.items():
        if not isinstance(arms, Mapping) or len(arms) < 2:
            raise InputError(f"trial {trial!r}: give a mapping therapy -> ipd with at least two arms")
        for therapy, ipd in arms.items():
            t, e = _ipd(ipd, f"{trial}/{therapy}")
            frames.append(pd.DataFrame({"trial": str(trial), "therapy": str(therapy), "time": t, "event": e}))
    return pd.concat(frames, ignore_index=True)


def split_followup(time, event, cuts):
    """Split follow-up at ``cuts`` as R's ``survSplit``: per patient and interval, exposure and event.

    Interval j is ``(cuts[j-1], cuts[j]]`` (the first starts at 0, the last is open); a patient
    contributes the part of ``(0, time]`` inside it and the event to the interval holding ``time``.

    Returns
    -------
    patient, interval : ndarray of int
        Indices of the rows kept (pieces with positive exposure).
    exposure, events : ndarray of float

    Examples
    --------
    >>> p, j, x, d = split_followup([5.0, 12.0], [1, 0], [6.0])
    >>> p.tolist(), j.tolist(), x.tolist(), d.tolist()
    ([0, 1, 1], [0, 0, 1], [5.0, 6.0, 6.0], [1.0, 0.0, 0.0])
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    lo = np.r_[0.0, np.asarray(cuts, float)]
    hi = np.r_[np.asarray(cuts, float), np.inf]
    expo = np.clip(np.minimum(t[:, None], hi[None, :]) - lo[None, :], 0.0, None)
    ev = ((t[:, None] > lo[None, :]) & (t[:, None] <= hi[None, :])) * e[:, None]
    p, j = np.nonzero(expo > 0)
    return p, j, expo[p, j], ev[p, j]


def _fp(t, p):
    t = np.asarray(t, float)
    return np.log(t) if p == 0 else t**p


def _fp_basis(t, power, end) -> list:
    """The fractional polynomial's functions of time: ``[f(u)]`` for a power, ``[f1(u), f2(u)]``
    for a pair (the repeated power's second is ``f(u) log u``), with ``u = t / end``. A power of a
    scaled time is a multiple of the power, and a logarithm shifts by a constant that the
    intercepts absorb, so the model is the same as in t; but t^-2 and t^3 on a time axis in days
    span 1e-7 to 1e10, which no least-squares step resolves: in t, whether power 3 converged and
    which power won depended on the time unit."""
    u = np.asarray(t, float) / end
    if not isinstance(power, tuple):
        return [_fp(u, power)]
    p1, p2 = power
    return [_fp(u, p1), _fp(u, p1) * np.log(u) if p1 == p2 else _fp(u, p2)]


def _powers_text(power) -> str:
    return f"{power[0]:g}, {power[1]:g}" if isinstance(power, tuple) else f"{power:g}"


def _fp_suffixes(power) -> list:
    """Coefficient-name suffixes of the time functions: ``:f(t)`` (fp1), ``:f1(t)``, ``:f2(t)``."""
    return [":f(t)"] if not isinstance(power, tuple) else [":f1(t)", ":f2(t)"]


def _fp_pairs() -> list:
    return [(p1, p2) for i, p1 in enumerate(FP_POWERS) for p2 in FP_POWERS[i:]]


# ---------------------------------------------------------------------------------------------------
# result


class _NotAtRisk(InputError):
    """A therapy with no patients at risk in an interval of the piecewise model."""


@dataclass(frozen=True, eq=False, repr=False)
class SurvivalNMAResult(ResultMixin):
    """A fitted survival network meta-analysis (piecewise-exponential, FP1 or FP2 Poisson model).

    Attributes
    ----------
    model : str
        ``"piecewise"``, ``"fp1"`` or ``"fp2"``.
    power : float, tuple or None
        The FP1 power, or the FP2 pair ``(p1, p2)``.
    therapies : tuple of str
        All therapies, the reference first.
    reference : str
    trials : tuple of str
    cuts : ndarray
        The split times; piecewise: the declared breaks; fp1, fp2: the grid.
    end : float
        The last observed time (end of the last interval for fp1, fp2 and for curves).
    names : tuple of str
        Names of the coefficients: ``trial[T]:interval[j]`` / ``therapy[X]:interval[j]``
        (piecewise) or ``trial[T]``, ``trial[T]:f(t)``, ``therapy[X]``, ``therapy[X]:f(t)`` (fp1;
        fp2: ``:f1(t)`` and ``:f2(t)``).
    coef, cov : ndarray
        Estimates and their covariance (inverse Fisher information).
    deviance, aic : float
        Of the Poisson GLM on the table of trial x arm x interval counts (the AIC as R's ``glm``
        on that table; differences between models on the same split are what matter).
    df_resid : int
    data : DataFrame
        The table fitted: ``trial, therapy, interval, start, end, events, exposure``.
    baseline_trial : str
        Trial whose baseline hazard the modelled curves use.
    level : float
    fp_table : DataFrame or None
        With the power chosen: ``power, deviance, aic, converged`` of every candidate (fp2:
        ``power1, power2`` for ``power``).
    trial_end : tuple of float
        Each trial's last observed time (in the order of :attr:`trials`).
    """

    model: str
    power: float | tuple | None
    therapies: tuple
    reference: str
    trials: tuple
    cuts: np.ndarray
    end: float
    names: tuple
    coef: np.ndarray
    cov: np.ndarray
    deviance: float
    aic: float
    df_resid: int
    data: object = frame_field()
    baseline_trial: str
    level: float
    fp_table: object = frame_field(None)
    trial_end: tuple = ()

    def __post_init__(self):
        for name in ("cuts", "coef", "cov"):
            getattr(self, name).setflags(write=False)

    # ---- contrasts ------------------------------------------------------------------------
    def _index(self, name):
        return self.names.index(name)

    def _therapy_vector(self, therapy, t):
        """Coefficient weights of therapy's log-hazard shift d(therapy, t) (zero for the reference)."""
        c = np.zeros(len(self.coef))
        if therapy == self.reference:
            return c
        if self.model == "piecewise":
            j = int(np.searchsorted(self.cuts, t, side="left"))   # (cut_{j-1}, cut_j]
            name = f"therapy[{therapy}]:interval[{j}]"
            if name not in self.names:
                raise _NotAtRisk(f"{therapy} has no patients at risk in interval {j}: no hazard "
                                 "ratio there")
            c[self._index(name)] = 1.0
        else:
            c[self._index(f"therapy[{therapy}]")] = 1.0
            for suffix, f in zip(_fp_suffixes(self.power), _fp_basis(t, self.power, self.end)):
                c[self._index(f"therapy[{therapy}]{suffix}")] = float(f)
        return c

    def _check_therapy(self, name):
        if name not in self.therapies:
            raise InputError(f"unknown therapy {name!r}; the network has {list(self.therapies)}")
        return name

    def hr_over_time(self, times=None, comparator=None, extrapolate: bool = False):
        """Hazard ratio of every therapy against ``comparator`` (default: the reference) over time.

        Times after the last follow-up (:attr:`end`) are extrapolation and need
        ``extrapolate=True``: the fractional polynomial is then continued past the data
        (piecewise: the last interval's ratio is assumed to hold on).

        Returns
        -------
        DataFrame
            ``time, therapy, comparator, log_hr, se, hr, ci_low, ci_high`` (Wald, at ``level``),
            ``beyond_follow_up``; piecewise: the interval's ratio at each time.
        """
        import pandas as pd

        comparator = self.reference if comparator is None else self._check_therapy(comparator)
        times = self._default_times() if times is None else np.atleast_1d(np.asarray(times, float))
        if np.any(times <= 0):
            raise InputError("times must be positive")
        self._check_horizon(times, extrapolate)
        z = zcrit(self.level)
        rows = []
        for th in self.therapies:
            if th == comparator:
                continue
            for t in times:
                try:
                    c = self._therapy_vector(th, t) - self._therapy_vector(comparator, t)
                except _NotAtRisk:
                    # a therapy not followed into this interval has no ratio there: NaN, not an
                    # error that would stop every view of a valid fit
                    rows.append({"time": float(t), "therapy": th, "comparator": comparator,
                                 "log_hr": math.nan, "se": math.nan, "hr": math.nan,
                                 "ci_low": math.nan, "ci_high": math.nan,
                                 "beyond_follow_up": bool(t > self.end)})
                    continue
                est = float(c @ self.coef)
                se = float(math.sqrt(max(c @ self.cov @ c, 0.0)))
                rows.append({"time": float(t), "therapy": th, "comparator": comparator, "log_hr": est, "se": se,
                             "hr": math.exp(est), "ci_low": math.exp(est - z * se), "ci_high": math.exp(est + z * se),
                             "beyond_follow_up": bool(t > self.end)})
        return pd.DataFrame(rows)

    def interval_hrs(self, comparator=None):
        """Piecewise model: one row per therapy and interval, ``therapy, comparator, interval,
        start, end, log_hr, se, hr, ci_low, ci_high``."""
        if self.model != "piecewise":
            raise InputError("interval_hrs is for the piecewise model; use hr_over_time for "
                             f"{self.model}")
        lo = np.r_[0.0, self.cuts]
        hi = np.r_[self.cuts, np.inf]
        # a time inside each interval's follow-up picks its ratio
        mid = (lo + np.minimum(hi, self.end)) / 2
        tab = self.hr_over_time(mid, comparator)
        j = np.tile(np.arange(len(lo)), len(tab) // len(lo))
        tab.insert(3, "interval", j)
        tab.insert(4, "start", lo[j])
        tab.insert(5, "end", hi[j])
        return tab.drop(columns=["time", "beyond_follow_up"])

    # ---- modelled curves ------------------------------------------------------------------
    def _default_times(self):
        return np.linspace(self.end / 100, self.end, 100)

    def _check_horizon(self, times, extrapolate):
        if not extrapolate and np.any(times > self.end * (1 + 1e-12)):
            raise InputError(
                f"times up to {float(np.max(times)):g} go past the last follow-up ({self.end:g}): "
                "that is extrapolation, which the data cannot check; pass extrapolate=True to "
                + ("assume the last interval's hazards hold on" if self.model == "piecewise"
                   else "continue the fractional polynomial past the data"))

    def _grid(self, upto=None):
        lo = np.r_[0.0, self.cuts]
        if self.model == "piecewise":
            return lo, np.r_[self.cuts, np.inf]
        hi = np.r_[self.cuts, self.end]
        if upto is not None and upto > self.end:
            # the fractional polynomial continued past the data on steps of the grid's own width
            width = float(np.median(np.diff(np.r_[0.0, hi])))
            more = self.end + width * np.arange(1, math.ceil((upto - self.end) / width) + 1)
            lo, hi = np.r_[lo, hi[-1], more[:-1]], np.r_[hi, more]
        return lo, hi

    def _eta_vectors(self, therapy, trial, upto=None):
        """Per grid interval: coefficient weights of the log hazard of ``therapy`` in ``trial``."""
        lo, hi = self._grid(upto)
        rows = []
        for j in range(len(lo)):
            c = np.zeros(len(self.coef))
            if self.model == "piecewise":
                name = f"trial[{trial}]:interval[{j}]"
                if name not in self.names:
                    raise InputError(f"trial {trial!r} has no one at risk in interval {j}: choose another "
                                     "baseline_trial")
                c[self._index(name)] = 1.0
                if therapy != self.reference:
                    name = f"therapy[{therapy}]:interval[{j}]"
                    if name not in self.names:
                        raise InputError(f"{therapy} has no patients at risk in interval {j}: its "
                                         "hazard there is not estimable")
                    c[self._index(name)] = 1.0
            else:
                m = (lo[j] + hi[j]) / 2
                basis = list(zip(_fp_suffixes(self.power), _fp_basis(m, self.power, self.end)))
                c[self._index(f"trial[{trial}]")] = 1.0
                for suffix, f in basis:
                    c[self._index(f"trial[{trial}]{suffix}")] = float(f)
                if therapy != self.reference:
                    c[self._index(f"therapy[{therapy}]")] = 1.0
                    for suffix, f in basis:
                        c[self._index(f"therapy[{therapy}]{suffix}")] = float(f)
            rows.append(c)
        return np.array(rows), lo, hi

    def survival(self, times=None, baseline_trial=None, extrapolate: bool = False):
        """Modelled survival of every therapy on one trial's baseline hazard.

        Times after the last follow-up (:attr:`end`) are extrapolation and need
        ``extrapolate=True`` (the fractional polynomial's hazards continued past the data;
        piecewise: the last interval's hazards held constant).

        Parameters
        ----------
        times : array_like, optional
            Default: 101 points from 0 to the baseline trial's last observed time.
        baseline_trial : str, optional
            Default :attr:`baseline_trial` (the first trial containing the reference therapy).

        Returns
        -------
        DataFrame
            ``time, therapy, survival, ci_low, ci_high, cumulative_hazard`` (interval by the delta
            method on the log cumulative hazard, at ``level``), ``beyond_follow_up`` (past the
            baseline trial's own last time: its hazard there is the model's continuation, even
            where other trials of the network were still followed).
        """
        import pandas as pd

        trial = self.baseline_trial if baseline_trial is None else str(baseline_trial)
        if trial not in self.trials:
            raise InputError(f"unknown trial {trial!r}; the network has {list(self.trials)}")
        own_end = dict(zip(self.trials, self.trial_end)).get(trial, self.end)
        times = (np.linspace(0, own_end, 101) if times is None
                 else np.atleast_1d(np.asarray(times, float)))
        if np.any(times < 0):
            raise InputError("times must be non-negative")
        self._check_horizon(times, extrapolate)
        z = zcrit(self.level)
        rows = []
        upto = float(np.max(times)) if len(times) else None
        for th in self.therapies:
            C, lo, hi = self._eta_vectors(th, trial, upto)
            h = np.exp(C @ self.coef)
            for t in times:
                w = np.clip(np.minimum(t, hi) - lo, 0.0, None)
                H = float(w @ h)
                if H > 0:
                    g = (w * h) @ C
                    se = math.sqrt(max(g @ self.cov @ g, 0.0)) / H
                    lo_s, hi_s = math.exp(-H * math.exp(z * se)), math.exp(-H * math.exp(-z * se))
                else:
                    lo_s = hi_s = 1.0
                rows.append({"time": float(t), "therapy": th, "survival": math.exp(-H),
                             "ci_low": lo_s, "ci_high": hi_s, "cumulative_hazard": H,
                             "beyond_follow_up": bool(t > own_end)})
        return pd.DataFrame(rows)

    # ---- views ----------------------------------------------------------------------------
    def to_frame(self):
        return self.interval_hrs() if self.model == "piecewise" else self.hr_over_time()

    def to_dict(self) -> dict:
        return jsonable({
            "model": self.model, "power": self.power, "therapies": list(self.therapies),
            "reference": self.reference, "trials": list(self.trials), "cuts": self.cuts,
            "end": self.end, "names": list(self.names), "coef": self.coef,
            "se": np.sqrt(np.diag(self.cov)), "deviance": self.deviance, "aic": self.aic,
            "df_resid": self.df_resid, "baseline_trial": self.baseline_trial, "level": self.level,
            "trial_end": list(self.trial_end), "hazard_ratios": self.to_frame().to_dict("records"),
        })

    def _short(self) -> str:
        extra = (f" intervals={len(self.cuts) + 1}" if self.model == "piecewise"
                 else f" p={_powers_text(self.power)}")
        return (f"{self.model}{extra} therapies={len(self.therapies)} trials={len(self.trials)} "
                f"reference={self.reference} aic={fmt(self.aic, 2)}")

    def summary(self) -> str:
        what = ("piecewise-exponential (hazard ratios per interval)" if self.model == "piecewise"
                else f"first-order fractional polynomial, power {self.power:g}" if self.model == "fp1"
                else f"second-order fractional polynomial, powers {_powers_text(self.power)}")
        lines = [
            f"Survival network meta-analysis: {what}",
            f"Poisson GLM, offset log(exposure); trials: {len(self.trials)}, therapies: "
            f"{', '.join(self.therapies)} (reference {self.reference})",
            f"cuts: {' '.join(f'{c:g}' for c in self.cuts) or '-'}; deviance {fmt(self.deviance)} on "
            f"{self.df_resid} df, AIC {fmt(self.aic, 2)}",
            "",
        ]
        if self.model == "piecewise":
            tab = self.interval_hrs()
            lines.append(f"{'therapy':14s}{'interval':>20s}{'HR':>9s}{'ci.lb':>9s}{'ci.ub':>9s}{'pval':>9s}")
            for r in tab.itertuples(index=False):
                p = 2 * _norm_sf(abs(r.log_hr / r.se)) if r.se > 0 else math.nan
                span = f"({r.start:g}, {r.end:g}]"
                lines.append(f"{r.therapy:14s}{span:>20s}{fmt(r.hr):>9s}{fmt(r.ci_low):>9s}"
                             f"{fmt(r.ci_high):>9s}{fmt_p(p):>9s}")
        else:
            lines.append(f"{'coefficient':32s}{'estimate':>12s}{'se':>12s}")
            for n, b, s in zip(self.names, self.coef, np.sqrt(np.diag(self.cov))):
                if n.startswith("therapy"):
                    lines.append(f"{n:32s}{b:>12.4g}{s:>12.4g}")
            if self.fp_table is not None:
                tab = self.fp_table
                if self.model == "fp1":
                    lines += ["", "power chosen by AIC among: " + ", ".join(
                        f"{p:g} ({fmt(a, 1)})" for p, a in zip(tab.power, tab.aic))]
                else:
                    ok = tab[tab.converged].sort_values("aic").head(5)
                    lines += ["", f"powers chosen by AIC among {len(tab)} pairs; the best: " + ", ".join(
                        f"({a:g}, {b:g}) {fmt(c, 1)}" for a, b, c in zip(ok.power1, ok.power2, ok.aic))]
        lines += ["", f"Hazard ratios against {self.reference}; {self.level:g}% Wald intervals"]
        return "\n".join(lines)


def _norm_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2))


# ---------------------------------------------------------------------------------------------------
# fitting


def _poisson_fit(X, y, offset, maxiter: int = 200):
    """Maximum likelihood of the log-linear Poisson model ``y ~ Poisson(exp(X b + offset))``.

    statsmodels' IRLS gives the start; Newton-Raphson with step halving (as R's ``glm.fit``
    halves) then finishes, and the fit counts as converged only where the Newton decrement
    g'H^-1 g (twice the deviance a further step could still gain) is below 1e-10 and the next step
    moves no cell's log rate by more than 1e-6 (no coefficient heading to infinity). IRLS alone is
    not enough: where a trial has no events in early intervals and a power is negative, the fitted
    rates of those cells underflow and statsmodels stops with ``converged=True`` far from the
    maximum (deviance 88.8 where R's glm reaches 73.7), or fails on its weights (a ValueError).

    Returns ``beta, cov, deviance, aic, df_resid, converged``; the AIC is R's for a Poisson glm
    (with the log factorials of the counts).
    """
    import warnings

    import statsmodels.api as sm
    from scipy.special import gammaln

    def deviance(b):
        with np.errstate(over="ignore"):
            mu = np.exp(X @ b + offset)
        pos = y > 0
        return 2.0 * float(np.sum(y[pos] * np.log(y[pos] / mu[pos])) - np.sum(y - mu)), mu

    beta = None
    try:
        with warnings.catch_warnings():
            # a saturated table (0 residual df) makes statsmodels divide by zero for a scale it
            # does not use with the Poisson family, and flag the perfect fit as "perfect separation"
            warnings.simplefilter("ignore")
            fit = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit(tol=1e-12,
                                                                                 maxiter=200)
        beta = np.asarray(fit.params, float)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        pass
    if beta is None or not np.all(np.isfinite(beta)) or not np.isfinite(deviance(beta)[0]):
        # R's start: the weighted least-squares fit of log(y + 0.1) at weights y + 0.1
        w = np.sqrt(y + 0.1)
        beta = np.linalg.lstsq(X * w[:, None], (np.log(y + 0.1) - offset) * w, rcond=None)[0]
    dev, mu = deviance(beta)
    converged = False
    for _ in range(maxiter):
        g = X.T @ (y - mu)
        H = X.T @ (X * mu[:, None])
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        decrement = float(g @ step)
        if not np.isfinite(decrement):
            break
        # where no maximum exists (a coefficient sent to minus infinity by cells without events)
        # the deviance levels off too, but the step keeps moving their log rates by about 1
        if decrement < 1e-10 and float(np.max(np.abs(X @ step))) < 1e-6:
            converged = True
            break
        factor = 1.0
        while factor > 1e-10:
            trial = beta + factor * step
            new, mu_new = deviance(trial)
            if np.isfinite(new) and new <= dev + 1e-12 * abs(dev):
                break
            factor /= 2
        else:
            break  # no step lowers the deviance: not at a maximum, and no way on
        beta, dev, mu = trial, new, mu_new
    if not np.all(np.isfinite(beta)):
        raise ConvergenceError("the Poisson GLM did not converge (non-finite estimates)")
    if converged and _no_maximum(X, y):
        converged = False
    H = X.T @ (X * mu[:, None])
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        cov, converged = np.full_like(H, np.nan), False
    eta = X @ beta + offset
    loglik = float(np.sum(y * eta - mu - gammaln(y + 1.0)))
    return beta, cov, dev, -2.0 * loglik + 2.0 * X.shape[1], int(len(y) - X.shape[1]), converged


def _no_maximum(X, y) -> bool:
    """Whether the Poisson likelihood has no maximum: a direction d exists with X d = 0 on every
    cell with events and X d <= 0, not all 0, on the cells without (their rates can be sent to 0
    at no cost, so the likelihood only rises along d). A linear programme finds d (scipy's
    ``linprog``), as separation is found in logistic regression (Konis 2007). Newton's steps alone
    cannot tell: once such rates underflow to 0 their gradient vanishes and a run looks converged
    (under older numpy and statsmodels it did, with coefficients of 1e5)."""
    from scipy.optimize import linprog

    zero = y == 0
    if not zero.any():
        return False
    Z, E = X[zero], X[~zero]
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    # minimise the sum of X d over the cells without events, each bounded to [-1, 0]
    res = linprog(c=(Z / scale).sum(axis=0),
                  A_ub=np.vstack([Z, -Z]) / scale, b_ub=np.r_[np.zeros(len(Z)), np.ones(len(Z))],
                  A_eq=E / scale if len(E) else None, b_eq=np.zeros(len(E)) if len(E) else None,
                  bounds=[(None, None)] * X.shape[1], method="highs")
    return bool(res.status == 0 and res.fun < -1e-6)


def _table(long, cuts):
    """Events and exposure per trial x therapy x interval."""
    import pandas as pd

    p, j, x, d = split_followup(long["time"].to_numpy(float), long["event"].to_numpy(float), cuts)
    lost = long["event"].to_numpy(float)[long["time"].to_numpy(float) == 0].sum()
    if lost:
        raise InputError(f"{int(lost)} event(s) at time 0 have no exposure: move them to a small positive time")
    pieces = pd.DataFrame({"trial": long["trial"].to_numpy()[p], "therapy": long["therapy"].to_numpy()[p],
                           "interval": j, "events": d, "exposure": x})
    tab = pieces.groupby(["trial", "therapy", "interval"], sort=False, as_index=False)[["events", "exposure"]].sum()
    lo = np.r_[0.0, cuts]
    hi = np.r_[cuts, np.inf]
    tab.insert(3, "start", lo[tab["interval"]])
    tab.insert(4, "end", hi[tab["interval"]])
    return tab


def _design(tab, therapies, reference, model, power, cuts, end):
    """Design matrix and column names for the table of counts."""
    trials = list(dict.fromkeys(tab["trial"]))
    others = [t for t in therapies if t != reference]
    cols, names = [], []
    tr = tab["trial"].to_numpy()
    th = tab["therapy"].to_numpy()
    iv = tab["interval"].to_numpy()
    if model == "piecewise":
        for t in trials:
            for j in sorted(set(iv[tr == t])):
                cols.append(((tr == t) & (iv == j)).astype(float)); names.append(f"trial[{t}]:interval[{j}]")
        for x in others:
            for j in range(len(cuts) + 1):
                c = ((th == x) & (iv == j)).astype(float)
                if c.any():
                    cols.append(c); names.append(f"therapy[{x}]:interval[{j}]")
    else:
        lo = np.r_[0.0, cuts]
        hi = np.r_[cuts, end]
        basis = list(zip(_fp_suffixes(power), _fp_basis((lo[iv] + hi[iv]) / 2, power, end)))
        for t in trials:
            cols.append((tr == t).astype(float)); names.append(f"trial[{t}]")
            for suffix, f in basis:
                cols.append((tr == t) * f); names.append(f"trial[{t}]{suffix}")
        for x in others:
            cols.append((th == x).astype(float)); names.append(f"therapy[{x}]")
            for suffix, f in basis:
                cols.append((th == x) * f); names.append(f"therapy[{x}]{suffix}")
    X = np.column_stack(cols)
    ev = tab["events"].to_numpy(float)
    for k, n in enumerate(names):
        if ev[X[:, k] != 0].sum() == 0:
            raise InputError(f"no events for {n}: its log hazard is not estimable; use fewer breaks "
                             "(merge this interval with a neighbour)")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        # a column the others already span (a therapy whose only trial has no comparator
        # follow-up in an interval): its coefficient is not estimable (R's glm gives NA)
        for k in range(1, X.shape[1]):
            if np.linalg.matrix_rank(X[:, : k + 1]) < k + 1:
                raise InputError(f"{names[k]} is not estimable: the data cannot tell it from the "
                                 "columns before it (in a piecewise model, a therapy whose trials "
                                 "have no comparator at risk in that interval); use fewer or other "
                                 "breaks")
    return X, names


def _one_of_the_powers(p) -> bool:
    try:
        return float(p) in FP_POWERS
    except (TypeError, ValueError):
        return False


def _check_power(power, model):
    """fp1's power or fp2's pair, each from :data:`FP_POWERS`."""
    if model == "fp1":
        if isinstance(power, (tuple, list)) or not _one_of_the_powers(power):
            raise InputError(f"power must be one of {FP_POWERS}; got {power!r}")
        return float(power)
    if not (isinstance(power, (tuple, list)) and len(power) == 2
            and all(_one_of_the_powers(p) for p in power)):
        raise InputError(f"fp2 takes a pair of powers (p1, p2), each one of {FP_POWERS}; got "
                         f"{power!r}")
    p1, p2 = sorted(float(p) for p in power)
    return (p1, p2)


def _connected(long, therapies):
    adj = {t: set() for t in therapies}
    for _, g in long.groupby("trial"):
        arms = set(g["therapy"])
        for a in arms:
            adj[a] |= arms - {a}
    seen, todo = set(), [therapies[0]]
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo += list(adj[x] - seen)
    return seen


def survival_nma(data, breaks=(), *, reference=None, model: str = "piecewise", power=None,
                 grid=None, baseline_trial=None, level: float = 95) -> SurvivalNMAResult:
    """Network meta-analysis of survival with time-varying hazard ratios (Poisson GLM on split data).

    Parameters
    ----------
    data : mapping or DataFrame
        ``{trial: {therapy: ipd}}`` (each ipd a ``time``/``event`` frame, a pair, a
        :class:`~metaanalysis.survival.DigitisedCurve` reconstructed here, or a
        :class:`~metaanalysis.survival.Reconstruction`), or a long DataFrame ``trial, therapy``
        (or ``treatment``) ``, time, event``. Trials may have more than two arms.
    breaks : sequence of float
        Piecewise model: the times where the hazards may change (no breaks: one interval, a
        constant hazard ratio, i.e. the exponential proportional-hazards NMA).
    reference : str, optional
        The therapy all others are compared with; default the one in most trials (first seen on a tie).
    model : {"piecewise", "fp1", "fp2"}
    power : float or pair of float, optional
        fp1: the power (one of :data:`FP_POWERS`); fp2: the pair ``(p1, p2)``, ``p1 <= p2``, both
        from it. By default each is fitted and the lowest AIC kept.
    grid : sequence of float, optional
        fp1, fp2: the split times on which f(t) is evaluated at interval midpoints; default 20 equal
        intervals up to the last observed time.
    baseline_trial : str, optional
        Trial whose baseline hazard the modelled curves use; default the first with the reference.
    level : float
        Confidence level in percent.

    Returns
    -------
    SurvivalNMAResult
        ``interval_hrs()`` (piecewise), ``hr_over_time(times, comparator)``, ``survival(times)``.

    Notes
    -----
    The GLM is fitted to the events and exposure summed per trial, therapy and interval: the
    sufficient statistics, so estimates and standard errors equal those of the patient-level
    ``glm(event ~ ..., family = poisson, offset = log(exposure))`` on ``survSplit`` data (checked
    against R). Trial baselines are fixed effects; heterogeneity of the treatment effects between
    trials is not modelled.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> exp = ma.exponential_from_median
    >>> def arm(median, seed):
    ...     return ma.simulate_ipd(exp(median), 200, accrual=12, follow_up=24, seed=seed)
    >>> res = ma.survival_nma({"T1": {"A": arm(14, 2), "ctrl": arm(10, 3)},
    ...                        "T2": {"B": arm(14, 4), "ctrl": arm(10, 5)}}, breaks=[6, 12],
    ...                       reference="ctrl")
    >>> hrs = res.interval_hrs()          # A and B against ctrl in (0, 6], (6, 12], (12, inf)
    >>> hrs[hrs.therapy == "A"]["hr"].round(2).tolist()
    [0.84, 0.6, 0.58]
    """
    level = check_level(level)
    if model not in MODELS:
        raise InputError(f"model must be one of {MODELS}; got {model!r}")
    long = _long(data)
    therapies = list(dict.fromkeys(long["therapy"]))
    counts = long.groupby("therapy", sort=False)["trial"].nunique()
    if reference is None:
        reference = str(counts.idxmax())
    reference = str(reference)
    if reference not in therapies:
        raise InputError(f"reference {reference!r} is not among the therapies {therapies}")
    therapies = [reference] + [t for t in therapies if t != reference]
    reached = _connected(long, therapies)
    if len(reached) != len(therapies):
        raise InputError(f"the network is not connected: {sorted(set(therapies) - reached)} cannot be "
                         f"compared with {reference}")
    trials = list(dict.fromkeys(long["trial"]))
    if baseline_trial is None:
        baseline_trial = next(t for t in trials if reference in set(long.loc[long.trial == t, "therapy"]))
    elif str(baseline_trial) not in trials:
        raise InputError(f"baseline_trial {baseline_trial!r} is not among the trials {trials}")
    end = float(long["time"].max())

    if model == "piecewise":
        cuts = np.unique(np.asarray(breaks, float)) if len(breaks) else np.zeros(0)
        if not np.all(np.isfinite(cuts)) or np.any(cuts <= 0) or np.any(cuts >= end):
            raise InputError(f"breaks must lie inside the follow-up (0, {end:g}); got {list(breaks)}")
        candidates = [None]
    else:
        if len(breaks):
            raise InputError(f"breaks are for model='piecewise'; {model} takes grid= (the split "
                             "times)")
        cuts = np.linspace(0, end, 21)[1:-1] if grid is None else np.unique(np.asarray(grid, float))
        if not np.all(np.isfinite(cuts)) or np.any(cuts <= 0) or np.any(cuts >= end):
            raise InputError(f"grid must lie inside the follow-up (0, {end:g})")
        if power is None:
            candidates = list(FP_POWERS) if model == "fp1" else _fp_pairs()
        else:
            candidates = [_check_power(power, model)]
    tab = _table(long, cuts)
    y = tab["events"].to_numpy(float)
    off = np.log(tab["exposure"].to_numpy(float))
    fits = []
    for p in candidates:
        X, names = _design(tab, therapies, reference, model, p, cuts, end)
        fits.append((p, names) + _poisson_fit(X, y, off))
    usable = [f for f in fits if f[7]]
    if not usable:
        what = ("the piecewise model did not converge" if model == "piecewise" else
                f"none of the {len(fits)} powers of the {model} model converged" if len(fits) > 1
                else f"the {model} model with power {_powers_text(fits[0][0])} did not converge")
        raise ConvergenceError(f"{what} (a coefficient runs off to infinity: a trial "
                               "or therapy without events where the model needs them); use fewer "
                               "breaks or another grid or power")
    # a power whose fit did not converge is no candidate: its deviance is not a maximum
    best = min(usable, key=lambda f: f[5])
    p, names, beta, cov, dev, aic, dfr, _ = best
    fp_table = None
    if model != "piecewise" and power is None:
        import pandas as pd

        powers = ({"power": [f[0] for f in fits]} if model == "fp1" else
                  {"power1": [f[0][0] for f in fits], "power2": [f[0][1] for f in fits]})
        fp_table = pd.DataFrame({**powers, "deviance": [f[4] for f in fits],
                                 "aic": [f[5] for f in fits], "converged": [f[7] for f in fits]})
    return SurvivalNMAResult(
        model=model, power=p, therapies=tuple(therapies), reference=reference, trials=tuple(trials),
        cuts=np.asarray(cuts, float), end=end, names=tuple(names), coef=beta, cov=cov, deviance=dev,
        aic=aic, df_resid=dfr, data=tab, baseline_trial=str(baseline_trial), level=level, fp_table=fp_table,
        trial_end=tuple(float(long.loc[long.trial == t, "time"].max()) for t in trials),
    )
