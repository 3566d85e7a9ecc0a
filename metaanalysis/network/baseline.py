"""Absolute survival from a hazard-ratio network: every therapy's curve on one baseline curve.

A network of hazard ratios compares therapies on a relative scale only. A modelled survival curve
per therapy needs, besides, a curve for the reference therapy, estimated apart from the relative
effects and combined with them (the baseline-and-relative-effects approach of NICE DSU TSD 2 and
5): under proportional hazards ``S_k(t) = S_0(t) ** HR_k``. Where the trials report only medians
the baseline is the exponential through a median of the reference arms (one number identifies
nothing richer), so every therapy's curve is exponential too, with median ``m_0 / HR_k``.

Uncertainty: ``log H_k(t) = log(rate_0 t) + log HR_k`` is the sum of two estimates, taken as
independent (the baseline from the reference arms, the ratios from the trials' reported hazard
ratios; the placebo arm of a trial feeds both, a correlation the model ignores). The pointwise
band uses ``var(log rate_0) + var(log HR_k)``; with both estimates normal it is exact under the
model, since ``S_k(t)`` falls monotonically with their sum. A baseline median given as a number
is taken as known (``var(log rate_0) = 0``), as GRADE's summary of findings takes an assumed
comparator risk: the bands then show the hazard ratios' uncertainty alone.

References
----------
Dias S, Welton NJ, Sutton AJ, Ades AE (2011, updated 2016), NICE DSU Technical Support Document 2
(a generalised linear modelling framework for pairwise and network meta-analysis) and 5 (evidence
synthesis in the baseline natural history model).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, jsonable, readonly, zcrit
from ..errors import InputError
from ..survival.parametric import LN2

__all__ = ["NetworkSurvivalResult", "network_survival"]


@dataclass(frozen=True, eq=False, repr=False)
class NetworkSurvivalResult(ResultMixin):
    """Each therapy of a hazard-ratio network on an exponential baseline curve (modelled).

    Attributes
    ----------
    reference : str
        The network's reference therapy, whose curve the baseline is.
    therapies : tuple of str
        The reference first, then the network's other therapies.
    log_hr, se_log_hr : ndarray
        Each therapy's log hazard ratio against the reference and its standard error (0 and 0 for
        the reference itself).
    baseline_median, se_log_baseline_median : float
        The baseline curve's median and the standard error of its logarithm.
    level : float
        Level (percent) of the intervals and bands.
    baseline_note : str
        Where the baseline came from, in words.
    """

    reference: str
    therapies: tuple
    log_hr: np.ndarray
    se_log_hr: np.ndarray
    baseline_median: float
    se_log_baseline_median: float
    level: float
    baseline_note: str = ""

    def __post_init__(self):
        for name in ("log_hr", "se_log_hr"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    @property
    def baseline_rate(self) -> float:
        return LN2 / self.baseline_median

    def _se(self) -> np.ndarray:
        # log H_k = log rate_0 + log HR_k + log t: independent parts, variances add
        return np.hypot(self.se_log_baseline_median, self.se_log_hr)

    def survival(self, times) -> "pd.DataFrame":  # noqa: F821
        """The modelled curves at ``times``.

        Returns
        -------
        DataFrame
            ``time, therapy, survival, ci_low, ci_high`` (pointwise band at :attr:`level`, by the
            delta method on the log cumulative hazard; NaN for the reference on a baseline taken
            as known), the reference's rows first.
        """
        import pandas as pd

        t = np.atleast_1d(np.asarray(times, dtype=float))
        if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise InputError("times must be a 1-D array of finite, non-negative times")
        z = zcrit(self.level)
        frames = []
        for th, lhr, se in zip(self.therapies, self.log_hr, self._se()):
            H = self.baseline_rate * math.exp(lhr) * t
            # the reference on a baseline taken as known has no interval (as its median has
            # none), not a band of width 0
            known = se == 0
            frames.append(pd.DataFrame({
                "time": t, "therapy": th, "survival": np.exp(-H),
                "ci_low": np.nan if known else np.exp(-H * math.exp(z * se)),
                "ci_high": np.nan if known else np.exp(-H * math.exp(-z * se)),
            }))
        return pd.concat(frames, ignore_index=True)

    def medians(self) -> "pd.DataFrame":  # noqa: F821
        """Each therapy's hazard ratio against the reference and its modelled median.

        Returns
        -------
        DataFrame
            ``therapy, hr, hr_ci_low, hr_ci_high, median, median_ci_low, median_ci_high`` (the
            reference's hazard ratio is 1 without an interval, and so is its median where the
            baseline is taken as known).
        """
        import pandas as pd

        z = zcrit(self.level)
        se = self._se()
        hr = np.exp(self.log_hr)
        is_ref = np.arange(len(self.therapies)) == 0
        median = self.baseline_median / hr
        return pd.DataFrame({
            "therapy": list(self.therapies), "hr": hr,
            "hr_ci_low": np.where(is_ref, np.nan, np.exp(self.log_hr - z * self.se_log_hr)),
            "hr_ci_high": np.where(is_ref, np.nan, np.exp(self.log_hr + z * self.se_log_hr)),
            "median": median,
            "median_ci_low": np.where(se > 0, median * np.exp(-z * se), np.nan),
            "median_ci_high": np.where(se > 0, median * np.exp(z * se), np.nan),
        })

    def to_frame(self):
        return self.medians()

    def to_dict(self) -> dict:
        return jsonable({
            "reference": self.reference, "therapies": list(self.therapies),
            "log_hr": self.log_hr, "se_log_hr": self.se_log_hr,
            "baseline_median": self.baseline_median,
            "se_log_baseline_median": self.se_log_baseline_median, "level": self.level,
            "baseline_note": self.baseline_note,
            "medians": self.medians().to_dict(orient="records"),
        })

    def summary(self) -> str:
        lvl = f"{self.level:g}%"
        lines = ["Modelled survival from a hazard-ratio network (exponential baseline, "
                 "proportional hazards)", "",
                 f"baseline ({self.reference}): median {fmt(self.baseline_median)}, "
                 f"se(ln median) {fmt(self.se_log_baseline_median)}"]
        if self.baseline_note:
            lines.append(self.baseline_note)
        lines += ["", f"{'therapy':24s} {'HR':>8s} {'median':>9s}  [{lvl} interval]"]
        for r in self.medians().itertuples(index=False):
            interval = ("(taken as known)" if math.isnan(r.median_ci_low) else
                        f"[{fmt(r.median_ci_low, 3)}, {fmt(r.median_ci_high, 3)}]")
            lines.append(f"{str(r.therapy)[:24]:24s} {fmt(r.hr, 3):>8s} {fmt(r.median, 3):>9s}  "
                         + interval)
        return "\n".join(lines)

    def _short(self) -> str:
        return f"reference={self.reference} therapies={len(self.therapies)}"


def network_survival(fit, baseline, *, level=None, baseline_note: str = "") -> NetworkSurvivalResult:
    """Put every therapy of a hazard-ratio network on an exponential baseline curve.

    Parameters
    ----------
    fit : NetworkResult
        A network of hazard ratios (``measure="HR"``).
    baseline : ExponentialCurve or float
        The reference therapy's curve: an exponential through a median with its standard error
        (:func:`~metaanalysis.survival.exponential_from_median` with an interval or events), or a
        median taken as known (standard error 0: the bands then carry the hazard ratios'
        uncertainty alone, as GRADE's summary of findings treats an assumed comparator risk).
    level : float, optional
        Level of the intervals; default the network's.
    baseline_note : str
        Where the baseline came from, kept for the summary.

    Returns
    -------
    NetworkSurvivalResult

    Examples
    --------
    >>> import pandas as pd
    >>> from metaanalysis.network import network_meta
    >>> from metaanalysis.survival import exponential_from_median
    >>> data = pd.DataFrame({"study": ["s1", "s2"], "treat1": ["A", "B"],
    ...                      "treat2": ["placebo", "placebo"], "yi": [-0.5, -0.7],
    ...                      "sei": [0.15, 0.2]})
    >>> fit = network_meta(data, measure="HR", reference="placebo")
    >>> res = network_survival(fit, exponential_from_median(5.0, 4.0, 6.25))
    >>> round(float(res.medians().set_index("therapy").loc["A", "median"]), 3)
    8.244
    """
    if str(getattr(fit, "measure", "")).upper() != "HR":
        raise InputError("network_survival needs a network of hazard ratios (measure='HR'), "
                         f"not {getattr(fit, 'measure', type(fit).__name__)!r}")
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        median0, se0 = float(baseline), 0.0
    else:
        median0 = float(getattr(baseline, "median_value", math.nan))
        se0 = float(getattr(baseline, "se_log_median", math.nan))
    if not (math.isfinite(median0) and median0 > 0):
        raise InputError(f"baseline must be a positive median or an exponential curve, not "
                         f"{baseline!r}")
    if not (math.isfinite(se0) and se0 >= 0):
        raise InputError("the baseline curve has no standard error (its median came without an "
                         "interval or events): give its median as a number to take it as known")
    level = fit.level if level is None else check_level(level)
    d = np.asarray(fit.d, dtype=float)
    se = np.sqrt(np.clip(np.diag(np.asarray(fit.vcov, dtype=float)), 0.0, None))
    return NetworkSurvivalResult(reference=fit.reference, therapies=tuple(fit.treatments),
                                 log_hr=d, se_log_hr=se, baseline_median=median0,
                                 se_log_baseline_median=se0, level=level,
                                 baseline_note=baseline_note)
