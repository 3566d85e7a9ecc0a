"""Hazard ratios and their variances from what trial reports print.

A trial that reports no patient-level data still usually prints one of: a hazard ratio with an
interval (of any level), a p-value with the number of events, the log-rank ``O - E`` and its variance
``V``, observed and expected events per arm, or two medians. Each function here turns one such
report into ``ln HR`` and its standard error, following Parmar, Torri & Stewart (1998) and Tierney et
al. (2007); equation numbers in the comments are Parmar's. The result carries ``O - E`` and ``V`` too,
so trials can be combined Peto-style (``ln HR = sum(O - E) / sum(V)``) or through
``metaanalysis.pool`` on ``(log_hr, se**2)`` like any other effect.

Every function takes scalars or equal-length 1-D arrays (one value per trial); the result holds
floats for scalar input and read-only arrays otherwise.

References
----------
Parmar MKB, Torri V, Stewart L. Extracting summary statistics to perform meta-analyses of the
published literature for survival endpoints. Stat Med 1998;17:2815-34.
Tierney JF, Stewart LA, Ghersi D, Burdett S, Sydes MR. Practical methods for incorporating summary
time-to-event data into meta-analysis. Trials 2007;8:16.
Altman DG, Bland JM. How to obtain the confidence interval from a P value. BMJ 2011;343:d2090.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, check_level, fmt, jsonable, zcrit
from ..errors import InputError

__all__ = [
    "HazardRatioResult",
    "hr_from_ci",
    "hr_from_pvalue",
    "hr_from_pvalue_events",
    "hr_from_oe",
    "hr_from_observed_expected",
    "hr_from_medians",
]


# --------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, eq=False, repr=False)
class HazardRatioResult(ResultMixin):
    """Log hazard ratio(s) with standard error, derived from a published summary.

    Attributes
    ----------
    log_hr, se : float or ndarray
        ``ln HR`` and its standard error (the pooling inputs: ``yi = log_hr``, ``vi = se**2``).
    hr, ci_low, ci_high : float or ndarray
        The hazard ratio and its interval at ``level``, recomputed from ``log_hr`` and ``se``.
    o_minus_e, v : float or ndarray
        Tierney's ``O - E`` and ``V`` (``V = 1/se**2``, ``O - E = log_hr * V``), for Peto-style
        combination.
    level : float
        Level (percent) of ``ci_low``/``ci_high``.
    method : str
        Which route produced the numbers (``"ci"``, ``"pvalue"``, ``"pvalue_events"``, ``"oe"``,
        ``"observed_expected"``, ``"medians"``).
    approximation : bool
        True when the route rests on an assumption beyond the report (exponential survival for two
        medians).
    note : str
        The formula and assumption, in words.
    """

    log_hr: float | np.ndarray
    se: float | np.ndarray
    hr: float | np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    o_minus_e: float | np.ndarray
    v: float | np.ndarray
    level: float
    method: str
    approximation: bool
    note: str

    @property
    def vi(self):
        """Sampling variance of ``log_hr`` (``se**2``), the ``vi`` that ``pool`` takes."""
        return np.square(self.se) if isinstance(self.se, np.ndarray) else self.se**2

    def to_dict(self) -> dict:
        return jsonable(
            {
                "log_hr": self.log_hr,
                "se": self.se,
                "hr": self.hr,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "o_minus_e": self.o_minus_e,
                "v": self.v,
                "level": self.level,
                "method": self.method,
                "approximation": self.approximation,
                "note": self.note,
            }
        )

    def to_frame(self):
        import pandas as pd

        cols = ["log_hr", "se", "hr", "ci_low", "ci_high", "o_minus_e", "v"]
        data = {c: np.atleast_1d(getattr(self, c)) for c in cols}
        frame = pd.DataFrame(data)
        frame["level"] = self.level
        frame["method"] = self.method
        frame["approximation"] = self.approximation
        return frame

    def summary(self) -> str:
        head = f"Hazard ratio from a published summary (method: {self.method})"
        if self.approximation:
            head += "  [APPROXIMATION]"
        lines = [head, ""]
        lvl = f"{self.level:g}%"
        lines.append(
            f"{'':>4} {'HR':>8} {'ci.lb':>8} {'ci.ub':>8} {'log HR':>8} {'se':>8} {'O-E':>9} {'V':>9}"
        )
        frame = self.to_frame()
        for i, row in frame.iterrows():
            lines.append(
                f"{i + 1:>4} {fmt(row.hr):>8} {fmt(row.ci_low):>8} {fmt(row.ci_high):>8} "
                f"{fmt(row.log_hr):>8} {fmt(row.se):>8} {fmt(row.o_minus_e, 3):>9} {fmt(row.v, 3):>9}"
            )
        lines += ["", f"Interval level: {lvl}.", self.note]
        return "\n".join(lines)

    def _short(self) -> str:
        if np.ndim(self.hr) == 0:
            return (
                f"HR={fmt(self.hr, 3)} [{fmt(self.ci_low, 3)}, {fmt(self.ci_high, 3)}] "
                f"se(log)={fmt(self.se)} method={self.method}"
            )
        return f"k={np.size(self.hr)} method={self.method}"


# --------------------------------------------------------------------------------------------
# helpers


def _arrays(**named):
    """Broadcast the named inputs to 1-D float arrays of one common length.

    Returns (dict of arrays, scalar_input). Names appear in the error so the user knows which
    argument and which trial (index) is wrong.
    """
    arrays = {}
    for name, value in named.items():
        if value is None:
            arrays[name] = None
            continue
        if isinstance(value, str):
            raise InputError(f"{name} must be a number, got the string {value!r}")
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numeric, got {value!r}") from None
        if arr.ndim > 1:
            raise InputError(f"{name} must be a number or a 1-D array, got shape {arr.shape}")
        arrays[name] = arr
    present = {k: v for k, v in arrays.items() if v is not None}
    scalar = all(v.ndim == 0 for v in present.values())
    lengths = {k: v.shape[0] for k, v in present.items() if v.ndim == 1}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise InputError(f"arguments must have one value per trial; lengths differ: {detail}")
    k = next(iter(lengths.values())) if lengths else 1
    if k == 0:
        raise InputError("no trials: the inputs are empty (give one value per trial)")
    out = {}
    for name, arr in arrays.items():
        if arr is None:
            out[name] = None
            continue
        arr = np.broadcast_to(np.atleast_1d(arr), (k,)).astype(float)
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise InputError(f"{name} is missing or infinite at index {int(bad[0])}; give a finite number")
        out[name] = arr
    return out, scalar


def _positive(arr: np.ndarray, name: str, *, strict: bool = True) -> None:
    bad = np.flatnonzero(arr <= 0 if strict else arr < 0)
    if len(bad):
        i = int(bad[0])
        rule = "positive" if strict else "non-negative"
        raise InputError(f"{name} must be {rule}; got {arr[i]!r} at index {i}")


def _pvalue(pvalue):
    """Reject p-value bounds such as "< 0.001": a bound gives no standard error (Tierney 2007)."""
    if isinstance(pvalue, str):
        raise InputError(
            f"pvalue={pvalue!r} is a bound or text, not a p-value: a bound such as '< 0.001' gives no "
            "standard error; use the interval or O - E and V instead, or give an exact p-value"
        )
    if isinstance(pvalue, (list, tuple, np.ndarray)) and any(isinstance(p, str) for p in pvalue):
        raise InputError(
            "pvalue contains text (a bound such as '< 0.001'?); a bound gives no standard error"
        )
    return pvalue


def _build(log_hr, se, *, level, method, scalar, approximation=False, note=""):
    z = zcrit(level)
    v = 1.0 / se**2
    fields = {
        "log_hr": log_hr,
        "se": se,
        "hr": np.exp(log_hr),
        "ci_low": np.exp(log_hr - z * se),
        "ci_high": np.exp(log_hr + z * se),
        "o_minus_e": log_hr * v,
        "v": v,
    }
    for name, arr in fields.items():
        if scalar:
            fields[name] = float(arr[0])
        else:
            arr = np.array(arr, dtype=float)
            arr.setflags(write=False)
            fields[name] = arr
    return HazardRatioResult(
        **fields, level=level, method=method, approximation=approximation, note=note
    )


# --------------------------------------------------------------------------------------------
# routes


def hr_from_ci(hr=None, ci_low=None, ci_high=None, *, ci_level=95, level=None) -> HazardRatioResult:
    """Log hazard ratio and its SE from a reported interval of any level (Parmar 1998, eq. 7).

    ``se(ln HR) = (ln U - ln L) / (2 z)`` with ``z = Phi^-1((1 + ci_level)/2)``. Interim analyses
    report 95.9% or 99% intervals: always pass the level that was printed.

    Parameters
    ----------
    hr : float or array-like, optional
        The reported hazard ratio. When omitted, the geometric midpoint ``sqrt(L U)`` is used, which is
        what a log-symmetric interval implies.
    ci_low, ci_high : float or array-like
        The reported interval.
    ci_level : float
        Level of the reported interval, a percentage (95) or a fraction (0.95).
    level : float, optional
        Level for the returned ``ci_low``/``ci_high``; defaults to ``ci_level``.

    Returns
    -------
    HazardRatioResult

    Examples
    --------
    SELECT trial, HR 0.21 with a 99% interval 0.14-0.31:

    >>> res = hr_from_ci(0.21, 0.14, 0.31, ci_level=99)
    >>> round(res.se, 4)
    0.1543

    References
    ----------
    Parmar, Torri & Stewart, Stat Med 1998;17:2815, eq. 7; Tierney et al., Trials 2007;8:16.
    """
    ci_level = check_level(ci_level)
    level = ci_level if level is None else check_level(level)
    if ci_low is None or ci_high is None:
        raise InputError("hr_from_ci needs both ci_low and ci_high")
    arr, scalar = _arrays(hr=hr, ci_low=ci_low, ci_high=ci_high)
    lo, hi = arr["ci_low"], arr["ci_high"]
    _positive(lo, "ci_low")
    _positive(hi, "ci_high")
    bad = np.flatnonzero(hi <= lo)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"ci_high must exceed ci_low; at index {i} got ({lo[i]!r}, {hi[i]!r})")
    if arr["hr"] is None:
        log_hr = 0.5 * (np.log(lo) + np.log(hi))
        note = "ln HR = midpoint of ln L and ln U (no HR given); se = (ln U - ln L)/(2z) (Parmar eq. 7)."
    else:
        h = arr["hr"]
        _positive(h, "hr")
        bad = np.flatnonzero((h < lo) | (h > hi))
        if len(bad):
            i = int(bad[0])
            raise InputError(
                f"hr={h[i]!r} at index {i} lies outside its interval ({lo[i]!r}, {hi[i]!r}); "
                "check the columns or the level"
            )
        log_hr = np.log(h)
        note = "se = (ln U - ln L)/(2z), z for the reported level (Parmar eq. 7)."
    se = (np.log(hi) - np.log(lo)) / (2.0 * zcrit(ci_level))
    return _build(log_hr, se, level=level, method="ci", scalar=scalar, note=note)


def hr_from_pvalue(hr, pvalue, *, level=95) -> HazardRatioResult:
    """SE of ``ln HR`` from the hazard ratio and its exact two-sided p-value (Altman & Bland 2011).

    ``se = |ln HR| / z_{1 - p/2}``. A p-value bound ("< 0.001") is rejected: it gives no SE.

    Examples
    --------
    >>> res = hr_from_pvalue(0.70, 0.01)
    >>> round(res.se, 4)
    0.1385

    References
    ----------
    Altman DG, Bland JM. BMJ 2011;343:d2090; Tierney et al., Trials 2007;8:16.
    """
    level = check_level(level)
    arr, scalar = _arrays(hr=hr, pvalue=_pvalue(pvalue))
    h, p = arr["hr"], arr["pvalue"]
    _positive(h, "hr")
    _check_p(p)
    bad = np.flatnonzero(h == 1.0)
    if len(bad):
        raise InputError(
            f"hr = 1 at index {int(bad[0])}: a p-value cannot give the SE of a null estimate"
        )
    from scipy.special import ndtri

    z = -ndtri(p / 2.0)  # not ndtri(1 - p/2): 1 - p/2 rounds to 1 (z = inf) below p ~ 1e-16
    se = np.abs(np.log(h)) / z
    return _build(
        np.log(h), se, level=level, method="pvalue", scalar=scalar,
        note="se = |ln HR| / z(1 - p/2) (Altman & Bland 2011); assumes a Wald or log-rank two-sided p.",
    )


def _check_p(p: np.ndarray) -> None:
    bad = np.flatnonzero((p <= 0) | (p >= 1))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"pvalue must lie in (0, 1); got {p[i]!r} at index {i}")


def hr_from_pvalue_events(
    pvalue=None,
    *,
    events=None,
    events_exp=None,
    events_ctrl=None,
    n_exp=None,
    n_ctrl=None,
    favours="experimental",
    chisq=None,
    variance="auto",
    level=95,
) -> HazardRatioResult:
    """``ln HR`` and its SE from a two-sided log-rank p-value (or chi-square) and the number of events.

    Tierney et al. (2007), Parmar et al. (1998): ``O - E = +/- sqrt(V) z_{1-p/2}``,
    ``ln HR = (O - E)/V``, ``var = 1/V``, where ``V`` is

    - ``(O_e + O_c)/4`` for 1:1 allocation (eq. 8; ``variance="equal"``, needs ``events``),
    - ``D n_e n_c / (n_e + n_c)^2`` for unequal allocation (eq. 11; ``variance="allocation"``),
    - ``O_e O_c / (O_e + O_c)`` from the events per arm (eq. 12; ``variance="arms"``).

    ``variance="auto"`` takes eq. 12 when events per arm are given, else eq. 11 when the arm sizes
    are, else eq. 8.

    Parameters
    ----------
    pvalue : float or array-like, optional
        Exact two-sided p-value; a bound such as ``"< 0.001"`` is rejected.
    events : total number of events ``D`` (both arms).
    events_exp, events_ctrl : events per arm (``O_e``, ``O_c``).
    n_exp, n_ctrl : patients per arm, for eq. 11.
    favours : {"experimental", "control"}
        A p-value has no sign: say which arm the report favours. ``"experimental"`` gives HR < 1.
    chisq : float, optional
        Log-rank chi-square (1 df) instead of ``pvalue``; ``z = sqrt(chisq)``.

    Examples
    --------
    >>> res = hr_from_pvalue_events(0.01, events=200)   # 1:1, favouring the experimental arm
    >>> round(res.log_hr, 4), round(res.v, 1)
    (-0.3643, 50.0)

    References
    ----------
    Parmar et al., Stat Med 1998;17:2815, eqs. 8, 11, 12; Tierney et al., Trials 2007;8:16.
    """
    level = check_level(level)
    if (pvalue is None) == (chisq is None):
        raise InputError("give exactly one of pvalue and chisq")
    if favours not in ("experimental", "control"):
        raise InputError(f"favours must be 'experimental' or 'control', got {favours!r}")
    arr, scalar = _arrays(
        pvalue=_pvalue(pvalue) if pvalue is not None else None,
        chisq=chisq,
        events=events,
        events_exp=events_exp,
        events_ctrl=events_ctrl,
        n_exp=n_exp,
        n_ctrl=n_ctrl,
    )
    from scipy.special import ndtri

    if arr["pvalue"] is not None:
        _check_p(arr["pvalue"])
        z = -ndtri(arr["pvalue"] / 2.0)  # exact for tiny p, where 1 - p/2 rounds to 1
    else:
        _positive(arr["chisq"], "chisq")
        z = np.sqrt(arr["chisq"])

    oe, oc = arr["events_exp"], arr["events_ctrl"]
    if (oe is None) != (oc is None):
        raise InputError("give both events_exp and events_ctrl, or neither")
    ne, nc = arr["n_exp"], arr["n_ctrl"]
    if (ne is None) != (nc is None):
        raise InputError("give both n_exp and n_ctrl, or neither")
    if variance == "auto":
        variance = "arms" if oe is not None else ("allocation" if ne is not None else "equal")
    total = arr["events"]
    if total is None and oe is not None:
        total = oe + oc
    if variance == "arms":
        if oe is None:
            raise InputError("variance='arms' (Parmar eq. 12) needs events_exp and events_ctrl")
        _positive(oe, "events_exp")
        _positive(oc, "events_ctrl")
        v = oe * oc / (oe + oc)
        note = "V = O_e O_c/(O_e + O_c) (Parmar eq. 12)"
    elif variance == "allocation":
        if total is None or ne is None:
            raise InputError("variance='allocation' (Parmar eq. 11) needs events and n_exp, n_ctrl")
        _positive(total, "events")
        _positive(ne, "n_exp")
        _positive(nc, "n_ctrl")
        v = total * ne * nc / (ne + nc) ** 2
        note = "V = D n_e n_c/(n_e + n_c)^2 (Parmar eq. 11)"
    elif variance == "equal":
        if total is None:
            raise InputError("variance='equal' (Parmar eq. 8) needs events (the total D)")
        _positive(total, "events")
        v = total / 4.0
        note = "V = D/4, 1:1 allocation (Parmar eq. 8)"
    else:
        raise InputError(f"variance must be 'auto', 'equal', 'allocation' or 'arms', got {variance!r}")
    sign = -1.0 if favours == "experimental" else 1.0
    o_minus_e = sign * np.sqrt(v) * z
    log_hr = o_minus_e / v
    se = 1.0 / np.sqrt(v)
    return _build(
        log_hr, se, level=level, method="pvalue_events", scalar=scalar,
        note=f"O - E = {'-' if sign < 0 else '+'}sqrt(V) z(1 - p/2), ln HR = (O - E)/V, var = 1/V; {note}.",
    )


def hr_from_oe(o_minus_e, v, *, level=95) -> HazardRatioResult:
    """``ln HR = (O - E)/V`` and ``var = 1/V`` from the log-rank statistics (Parmar eqs. 4, 6).

    Examples
    --------
    >>> res = hr_from_oe(-24.66, 70.98)   # gbsg2, hormone therapy
    >>> round(res.hr, 3)
    0.707

    References
    ----------
    Parmar et al., Stat Med 1998;17:2815, eqs. 4 and 6; Tierney et al., Trials 2007;8:16.
    """
    level = check_level(level)
    arr, scalar = _arrays(o_minus_e=o_minus_e, v=v)
    _positive(arr["v"], "v")
    return _build(
        arr["o_minus_e"] / arr["v"], 1.0 / np.sqrt(arr["v"]), level=level, method="oe",
        scalar=scalar, note="ln HR = (O - E)/V, var = 1/V (Parmar eqs. 4, 6; Peto one-step).",
    )


def hr_from_observed_expected(
    observed_exp, expected_exp, observed_ctrl, expected_ctrl, *, level=95
) -> HazardRatioResult:
    """``ln HR`` from observed and expected events per arm (Parmar eqs. 3 and 5).

    ``ln HR = ln[(O_e/E_e)/(O_c/E_c)]``, ``var = 1/E_e + 1/E_c``.

    Examples
    --------
    >>> res = hr_from_observed_expected(40, 50.0, 60, 50.0)
    >>> round(res.hr, 4), round(res.se, 4)
    (0.6667, 0.2)

    References
    ----------
    Parmar et al., Stat Med 1998;17:2815, eqs. 3 and 5.
    """
    level = check_level(level)
    arr, scalar = _arrays(oe=observed_exp, ee=expected_exp, oc=observed_ctrl, ec=expected_ctrl)
    for key, name in (("oe", "observed_exp"), ("ee", "expected_exp"), ("oc", "observed_ctrl"),
                      ("ec", "expected_ctrl")):
        _positive(arr[key], name)
    log_hr = np.log((arr["oe"] / arr["ee"]) / (arr["oc"] / arr["ec"]))
    se = np.sqrt(1.0 / arr["ee"] + 1.0 / arr["ec"])
    return _build(
        log_hr, se, level=level, method="observed_expected", scalar=scalar,
        note="ln HR = ln[(O_e/E_e)/(O_c/E_c)], var = 1/E_e + 1/E_c (Parmar eqs. 3, 5).",
    )


def hr_from_medians(
    median_exp,
    median_ctrl,
    *,
    events_exp=None,
    events_ctrl=None,
    se_log_median_exp=None,
    se_log_median_ctrl=None,
    level=95,
) -> HazardRatioResult:
    """APPROXIMATE hazard ratio from two medians, assuming exponential survival in both arms.

    Under ``S(t) = exp(-lambda t)``, ``lambda = ln 2 / m``, so ``HR = m_c / m_e``. The variance is
    ``1/d_e + 1/d_c`` from the events per arm, or ``se(ln m_e)^2 + se(ln m_c)^2`` (e.g. from each
    median's interval, see :func:`metaanalysis.survival.parametric.exponential_from_median`).
    Michiels et al. (2005) found ratios of medians poor surrogates for IPD hazard ratios: the result
    is flagged ``approximation=True``; prefer any other route when the report allows it.

    Examples
    --------
    >>> res = hr_from_medians(12.0, 8.0, events_exp=100, events_ctrl=120)
    >>> round(res.hr, 4), res.approximation
    (0.6667, True)

    References
    ----------
    Parmar et al., Stat Med 1998;17:2815; Michiels et al., Int J Technol Assess Health Care
    2005;21:119; survival-methods.md section 4.1.
    """
    level = check_level(level)
    arr, scalar = _arrays(
        me=median_exp, mc=median_ctrl, de=events_exp, dc=events_ctrl,
        se_e=se_log_median_exp, se_c=se_log_median_ctrl,
    )
    _positive(arr["me"], "median_exp")
    _positive(arr["mc"], "median_ctrl")
    if arr["de"] is not None and arr["dc"] is not None:
        _positive(arr["de"], "events_exp")
        _positive(arr["dc"], "events_ctrl")
        var = 1.0 / arr["de"] + 1.0 / arr["dc"]
        how = "var = 1/d_e + 1/d_c"
    elif arr["se_e"] is not None and arr["se_c"] is not None:
        _positive(arr["se_e"], "se_log_median_exp")
        _positive(arr["se_c"], "se_log_median_ctrl")
        var = arr["se_e"] ** 2 + arr["se_c"] ** 2
        how = "var = se(ln m_e)^2 + se(ln m_c)^2"
    else:
        raise InputError(
            "hr_from_medians needs events_exp and events_ctrl, or se_log_median_exp and "
            "se_log_median_ctrl, for the variance"
        )
    return _build(
        np.log(arr["mc"] / arr["me"]), np.sqrt(var), level=level, method="medians", scalar=scalar,
        approximation=True,
        note=f"APPROXIMATION: exponential survival assumed, HR = m_c/m_e; {how}.",
    )

