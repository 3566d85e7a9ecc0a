"""Pooling two-arm binary data: Mantel-Haenszel, Peto, or inverse variance with any tau² method.

Follows metafor's ``rma.mh`` (OR with the Robins-Breslow-Greenland variance, RR with the
Greenland-Robins variance, RD with the Sato / Greenland-Robins variance; the Cochran-Mantel-Haenszel
test and Tarone's corrected Breslow-Day test for OR), ``rma.peto`` and, for a tau² method code,
``escalc`` followed by ``rma.uni`` (here :func:`metaanalysis.pooling.core.pool`).

Zero cells are treated exactly as metafor does. Each argument ``add``, ``to`` and ``drop00`` may be
one value or two: for MH and Peto the first is used for the per-study effects (``yi``, ``vi``: the
heterogeneity test and the forest plot), the second for the pooled estimate itself. metafor's
defaults are ``add=(1/2, 0)``, ``to=("only0", "none")``, ``drop00=(True, False)``: the pooled
estimate uses the raw counts, double-zero studies are kept in it (they carry no weight for OR and RR)
and left out of the Q statistic. With a tau² method the defaults are those of ``escalc``:
``add=1/2``, ``to="only0"``, ``drop00=False``.

The cores (:func:`mantel_haenszel`, :func:`peto`) are pure numpy on 1-D arrays.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._base import (
    as_float_array,
    check_level,
    fmt,
    fmt_p,
    frozen_field,
    jsonable,
    readonly,
    same_length,
    zcrit,
)
from ..effects import _add_correction, _check_counts, _check_to, two_by_two
from ..errors import InputError
from . import tau2 as _tau2
from ._print import p_equals
from ._result import EstimateInterval

__all__ = ["BinaryPoolResult", "pool_binary", "mantel_haenszel", "peto"]

_MH_MEASURES = ("OR", "RR", "RD")
_RATIO_MEASURES = ("OR", "RR", "PETO", "IRR")  # IRR: pool_incidence
_TAU2_METHODS = _tau2.METHODS  # one list: pool() fits the inverse-variance models


# --------------------------------------------------------------------------------------------
# pure cores


def _chi2_sf(x, df):
    from scipy.special import chdtrc

    return float(chdtrc(df, x))


def _q_stats(q: float, df: int) -> tuple[float, float, float]:
    """p-value, I² and H² of a heterogeneity Q on ``df`` degrees of freedom, as rma.mh/rma.peto
    compute them, edge cases included: an infinite Q (a study with zero variance) has p = 0,
    I² undefined (NaN) and H² infinite; with df = 0 (one study with an effect, several tables
    in the Peto estimate) a positive Q has p = 0, I² = 100 and H² infinite.
    """
    if math.isnan(q):
        return math.nan, math.nan, math.nan
    if df > 0:
        p = _chi2_sf(q, df)
    else:
        p = 1.0 if q == 0 else 0.0  # a chi-square on 0 df is 0 with certainty
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.float64(100.0) * (q - df) / np.float64(q)
        h2 = float(np.float64(q) / np.float64(df))
    i2 = math.nan if math.isnan(ratio) else max(0.0, float(ratio))
    return p, i2, h2


def _norm_p(z):
    from scipy.special import ndtr

    return float(2 * ndtr(-abs(z)))


def mantel_haenszel(ai, bi, ci, di, measure="OR", *, correct=True) -> dict:
    """Mantel-Haenszel pooled estimate (log scale for OR/RR) and its SE from 2x2 tables.

    Variances: Robins, Breslow and Greenland (1986) for the OR; Greenland and Robins (1985) for the
    RR; Sato, Greenland and Robins (1989) for the RD, as metafor's ``rma.mh``. For the OR also the
    Cochran-Mantel-Haenszel test (with ``correct`` the 1/2 continuity correction), the Breslow-Day
    statistic and Tarone's correction of it over the ``k_pos`` informative tables.

    Returns a dict with ``estimate``, ``se`` and, for the OR, ``cmh``, ``cmh_pvalue``, ``cochran``,
    ``breslow_day``, ``tarone``, ``tarone_df``, ``k_pos``; ``nan`` where metafor gives ``NA``.
    """
    ai, bi, ci, di = (np.asarray(x, dtype=float) for x in (ai, bi, ci, di))
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    out = dict(estimate=math.nan, se=math.nan, cmh=math.nan, cmh_pvalue=math.nan, cochran=math.nan,
               cochran_pvalue=math.nan, breslow_day=math.nan, breslow_day_pvalue=math.nan,
               tarone=math.nan, tarone_pvalue=math.nan, tarone_df=math.nan, k_pos=math.nan)
    if measure == "OR":
        p_ = (ai + di) / n
        q_ = (bi + ci) / n
        r_ = ai / n * di
        s_ = bi / n * ci
        r, s = r_.sum(), s_.sum()
        or_mh = math.nan
        if r > 0 and s > 0:
            or_mh = r / s
            out["estimate"] = math.log(or_mh)
            out["se"] = math.sqrt(
                0.5 * ((p_ * r_).sum() / r**2 + (p_ * s_ + q_ * r_).sum() / (r * s) + (q_ * s_).sum() / s**2)
            )
        xt, yt = ai + ci, bi + di
        if xt.sum() > 0 and yt.sum() > 0:
            dev = abs((ai - n1 / n * xt).sum()) - (0.5 if correct else 0.0)
            out["cochran"] = dev**2 / (n1 / n * (n2 / n) * (xt * (yt / n))).sum()
            out["cmh"] = dev**2 / (n1 / n * (n2 / n) * (xt * (yt / (n - 1)))).sum()
            out["cochran_pvalue"] = _chi2_sf(out["cochran"], 1)
            out["cmh_pvalue"] = _chi2_sf(out["cmh"], 1)
        if math.isnan(or_mh):
            out["k_pos"] = 0
        else:
            # expected a-cell under the common MH odds ratio (root of the quadratic in the a-cell)
            if or_mh == 1:
                e11 = n1 / n * xt
            else:
                aa = or_mh * (n1 + xt) + (n2 - xt)
                bb = np.sqrt(aa**2 - 4 * n1 * xt * or_mh * (or_mh - 1))
                e11 = (aa - bb) / (2 * (or_mh - 1))
            pos = (e11 > 0) & (xt > 0) & (yt > 0)
            k_pos = int(pos.sum())
            e11 = e11[pos]
            e12 = n1[pos] - e11
            e21 = xt[pos] - e11
            e22 = e11 - n1[pos] - xt[pos] + n[pos]
            var_a = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
            bd = max(0.0, float(((ai[pos] - e11) ** 2 / var_a).sum()))
            ta = max(0.0, bd - float((ai[pos] - e11).sum()) ** 2 / float(var_a.sum()))
            out.update(breslow_day=bd, tarone=ta, k_pos=k_pos, tarone_df=k_pos - 1)
            if k_pos > 1:
                out["breslow_day_pvalue"] = _chi2_sf(bd, k_pos - 1)
                out["tarone_pvalue"] = _chi2_sf(ta, k_pos - 1)
    elif measure == "RR":
        r = (ai * (n2 / n)).sum()
        s = (ci * (n1 / n)).sum()
        if ai.sum() > 0 and ci.sum() > 0:
            out["estimate"] = math.log(r / s)
            out["se"] = math.sqrt(((n1 / n) * (n2 / n) * (ai + ci) - (ai / n) * ci).sum() / (r * s))
    elif measure == "RD":
        w = (n1 * (n2 / n)).sum()
        est = (ai * (n2 / n) - ci * (n1 / n)).sum() / w
        num = est * (ci * (n1 / n) ** 2 - ai * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum()
        num += (ai * (n2 - ci) / n + ci * (n1 - ai) / n).sum() / 2
        out["estimate"] = est
        out["se"] = math.sqrt(num / w**2) if num >= 0 else math.nan
    else:
        raise InputError(f"Mantel-Haenszel pooling takes measure OR, RR or RD, not {measure!r}")
    return out


def mh_weights(ai, bi, ci, di, measure):
    """Per-study Mantel-Haenszel weights (metafor's ``weights.rma.mh``), unnormalised."""
    ai, bi, ci, di = (np.asarray(x, dtype=float) for x in (ai, bi, ci, di))
    n = ai + bi + ci + di
    if measure == "OR":
        return bi / n * ci
    if measure == "RR":
        return ci / n * (ai + bi)
    return (ai + bi) / n * (ci + di)


def peto(ai, bi, ci, di) -> dict:
    """Peto's one-step log odds ratio: sum(O - E) / sum(V), its SE and the heterogeneity Q.

    Returns ``estimate``, ``se``, ``q`` (sum of (O-E)²/V minus the pooled part, over tables with
    V > 0), ``k_pos`` and the per-study hypergeometric variances ``v`` (the Peto weights).
    """
    ai, bi, ci, di = (np.asarray(x, dtype=float) for x in (ai, bi, ci, di))
    n1, n2 = ai + bi, ci + di
    n = n1 + n2
    xt, yt = ai + ci, bi + di
    expected = xt * n1 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        v = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
    v = np.where(np.isfinite(v), v, 0.0)
    total = v.sum()
    if total == 0:
        raise InputError(
            "one of the two outcomes never occurs in any table (every study has no events, or only "
            "events): Peto's method cannot be used"
        )
    oe = ai - expected
    est = oe.sum() / total
    pos = v > 0
    q = max(0.0, float((oe[pos] ** 2 / v[pos]).sum() - oe.sum() ** 2 / total))
    return dict(estimate=float(est), se=float(math.sqrt(1 / total)), q=q, k_pos=int(pos.sum()), v=v)


# --------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, eq=False, repr=False)
class BinaryPoolResult(EstimateInterval):
    """Pooled two-arm binary data (MH, Peto or inverse variance).

    ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` are on the analysis scale (log
    for OR, RR, PETO; raw for RD); ``to_dict()`` adds ``ratio``, ``ratio_ci_low``, ``ratio_ci_high``,
    ``ratio_pi_low``, ``ratio_pi_high`` (exp of those, ``None`` for RD). For MH and Peto ``tau2`` is
    0 and the prediction interval is ``nan`` (an equal-effects model has none; as :func:`pool`). ``fit`` holds the :class:`PoolResult` of an inverse-variance fit.
    """

    pi_low: float
    pi_high: float
    tau2: float
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    k: int
    k_yi: int
    method: str
    measure: str
    test: str
    level: float
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray
    labels: tuple
    counts: dict = frozen_field({})
    correct: bool = True
    cmh: float = math.nan
    cmh_pvalue: float = math.nan
    cochran: float = math.nan
    cochran_pvalue: float = math.nan
    tarone: float = math.nan
    tarone_df: float = math.nan
    tarone_pvalue: float = math.nan
    breslow_day: float = math.nan
    breslow_day_pvalue: float = math.nan
    k_pos: float = math.nan
    notes: tuple = ()
    fit: object = None
    # the zero-cell arguments as given (add, to, drop00), so that subsets can be refitted alike
    options: dict = frozen_field({})

    def __post_init__(self):
        for name in ("yi", "vi", "weights"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    @property
    def is_ratio(self) -> bool:
        return self.measure in _RATIO_MEASURES

    def _exp(self, x):
        return math.exp(x) if self.is_ratio and x is not None and math.isfinite(x) else (None if not self.is_ratio else math.nan)

    def to_dict(self) -> dict:
        d = {
            "estimate": self.estimate, "se": self.se, "statistic": self.statistic, "pvalue": self.pvalue,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "pi_low": self.pi_low, "pi_high": self.pi_high,
            "ratio": self._exp(self.estimate), "ratio_ci_low": self._exp(self.ci_low),
            "ratio_ci_high": self._exp(self.ci_high), "ratio_pi_low": self._exp(self.pi_low),
            "ratio_pi_high": self._exp(self.pi_high),
            "tau2": self.tau2, "q": self.q, "q_df": self.q_df, "q_pvalue": self.q_pvalue,
            "i2": self.i2, "h2": self.h2, "k": self.k, "k_yi": self.k_yi,
            "cmh": self.cmh, "cmh_pvalue": self.cmh_pvalue, "cochran": self.cochran,
            "cochran_pvalue": self.cochran_pvalue, "tarone": self.tarone, "tarone_df": self.tarone_df,
            "tarone_pvalue": self.tarone_pvalue, "breslow_day": self.breslow_day,
            "breslow_day_pvalue": self.breslow_day_pvalue, "k_pos": self.k_pos,
            "method": self.method, "measure": self.measure, "test": self.test, "level": self.level,
            "correct": self.correct, "labels": list(self.labels), "yi": self.yi, "vi": self.vi,
            "weights": self.weights, "notes": list(self.notes),
        }
        return jsonable(d)

    def study_frame(self):
        """One row per study: label, counts, yi, vi, sei, ci_low, ci_high (Wald at ``level``), weight.

        ``weight`` is the study's share of the pooled estimate (MH, Peto or inverse-variance
        weights, summing to 1); ``nan`` for a study left out (metafor's ``NA``).
        """
        import pandas as pd

        z = zcrit(self.level)
        se = np.sqrt(self.vi)
        frame = pd.DataFrame({"label": list(self.labels)})
        for name, arr in self.counts.items():
            frame[name] = arr
        frame["yi"] = self.yi
        frame["vi"] = self.vi
        frame["sei"] = se
        frame["ci_low"] = self.yi - z * se
        frame["ci_high"] = self.yi + z * se
        frame["weight"] = self.weights
        return frame

    def _short(self) -> str:
        return f"method={self.method} measure={self.measure} k={self.k} estimate={fmt(self.estimate)} se={fmt(self.se)}"

    def summary(self) -> str:
        if self.method in ("MH", "PETO"):
            head = f"Equal-Effects Model (k = {self.k})"
            method_line = {"MH": "Mantel-Haenszel", "PETO": "Peto's method"}[self.method]
        else:
            kind = "Equal-Effects Model" if self.method in ("EE", "FE", "CE") else "Random-Effects Model"
            head = f"{kind} (k = {self.k_yi}; tau^2 estimator: {self.method})"
            method_line = "inverse variance"
        lines = [head, f"({method_line}, measure {self.measure})", ""]
        if self.method not in ("MH", "PETO", "EE", "FE", "CE"):
            lines.append(f"tau^2 (estimated amount of total heterogeneity): {fmt(self.tau2)}")
            lines.append(f"tau (square root of estimated tau^2 value):      {fmt(math.sqrt(self.tau2)) if self.tau2 >= 0 else 'NA'}")
        lines.append(f"I^2 (total heterogeneity / total variability):  {fmt(self.i2, 2)}%")
        lines.append(f"H^2 (total variability / sampling variability): {fmt(self.h2, 2)}")
        lines += ["", "Test for Heterogeneity:", f"Q(df = {self.q_df}) = {fmt(self.q)}, p-val {p_equals(self.q_pvalue)}", ""]
        stat = "tval" if self.test in ("t", "knha") else "zval"
        hdr = f"{'estimate':>9} {'se':>8} {stat:>9} {'pval':>8} {'ci.lb':>8} {'ci.ub':>8}"
        row = (f"{fmt(self.estimate):>9} {fmt(self.se):>8} {fmt(self.statistic):>9} {fmt_p(self.pvalue):>8} "
               f"{fmt(self.ci_low):>8} {fmt(self.ci_high):>8}")
        if self.is_ratio:
            lines += ["Model Results (log scale):", "", hdr, row, ""]
            scale = "OR" if self.measure == "PETO" else self.measure
            lines += [f"Model Results ({scale} scale):", "", f"{'estimate':>9} {'ci.lb':>8} {'ci.ub':>8}",
                      f"{fmt(self._exp(self.estimate)):>9} {fmt(self._exp(self.ci_low)):>8} {fmt(self._exp(self.ci_high)):>8}"]
        else:
            lines += ["Model Results:", "", hdr, row]
        if self.method == "MH" and self.measure == "IRR":
            lines += ["", _test_line("Mantel-Haenszel Test:", "MH", self.cmh, 1, self.cmh_pvalue)]
        if self.method == "MH" and self.measure == "OR":
            lines += ["", _test_line("Cochran-Mantel-Haenszel Test:   ", "CMH", self.cmh, 1,
                                     self.cmh_pvalue),
                      _test_line("Tarone's Test for Heterogeneity:", "X^2", self.tarone,
                                 self.tarone_df, self.tarone_pvalue)]
        for note in self.notes:
            lines += ["", f"Note: {note}"]
        return "\n".join(lines)




def _test_line(label: str, stat: str, value: float, df, pvalue: float) -> str:
    """One test of the summary, as metafor prints it (or that it could not be computed)."""
    if math.isnan(value):
        return f"{label} test value not computable for these data"
    return f"{label} {stat} = {fmt(value)}, df = {int(df)}, p-val {p_equals(pvalue)}"


# --------------------------------------------------------------------------------------------
# public


def _pair(value, default, name):
    if value is None:
        return default
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return (value[0], default[1])
        if len(value) != 2:
            raise InputError(f"{name} takes one value or two (for the per-study effects and the pooled estimate)")
        return tuple(value)
    return (value, default[1])


def pool_binary(
    ai,
    n1i,
    ci,
    n2i,
    *,
    measure: str = "OR",
    method: str = "MH",
    test: str = "z",
    level: float = 95,
    correct: bool = True,
    add=None,
    to=None,
    drop00=None,
    labels=None,
    **pool_options,
) -> BinaryPoolResult:
    """Pool two-arm binary data: events ``ai`` of ``n1i`` (treatment) and ``ci`` of ``n2i`` (control).

    Parameters
    ----------
    measure : {"OR", "RR", "RD"}
        Effect measure (``method="PETO"`` implies the OR).
    method : str
        ``"MH"`` (Mantel-Haenszel, metafor's ``rma.mh``), ``"PETO"`` (``rma.peto``), or a tau² method
        code (``"EE"``, ``"DL"``, ``"REML"``...) for an inverse-variance fit of ``escalc`` effects.
    test : {"z", "t", "knha"}
        Test of the pooled estimate; MH and Peto always use ``z``.
    level : float
        Confidence level in percent.
    correct : bool
        Continuity correction of the Cochran-Mantel-Haenszel test (MH, OR).
    add, to, drop00 :
        Zero-cell handling as metafor (see the module docstring); one value or a pair for MH/Peto.
    labels : sequence of str, optional
    **pool_options :
        Passed to :func:`metaanalysis.pooling.core.pool` for tau² methods.

    Returns
    -------
    BinaryPoolResult

    References
    ----------
    Mantel N, Haenszel W (1959); Robins J, Breslow N, Greenland S (1986) Biometrics 42:311-23;
    Greenland S, Robins JM (1985) Biometrics 41:55-68; Sato T, Greenland S, Robins JM (1989)
    Biometrics 45:1323-4; Yusuf S et al. (1985) Prog Cardiovasc Dis 27:335-71 (Peto);
    metafor ``rma.mh``, ``rma.peto`` 3.8-1.

    Examples
    --------
    >>> res = pool_binary([4, 6, 3], [123, 306, 231], [11, 29, 11], [139, 303, 220])
    >>> round(res.estimate, 4)
    -1.4135
    """
    method_u = method.upper() if isinstance(method, str) else method
    if method_u == "HSK":
        method_u = "HSk"
    measure = str(measure).upper()
    if method_u == "PETO":
        if measure not in ("OR", "PETO"):
            raise InputError(f"Peto's method estimates an odds ratio; measure={measure!r} cannot be used with it")
        measure = "PETO"
    elif measure not in _MH_MEASURES:
        raise InputError(f"measure={measure!r}: pool_binary takes OR, RR or RD (or method='PETO')")
    if method_u not in ("MH", "PETO") and method_u not in _TAU2_METHODS:
        raise InputError(f"method={method!r}: use 'MH', 'PETO' or a tau² method ({', '.join(_TAU2_METHODS)})")
    if method_u in ("MH", "PETO") and test != "z":
        # the Mantel-Haenszel and Peto estimates have z tests only (as in metafor's rma.mh and
        # rma.peto); another test would be ignored without a word
        raise InputError(f"test={test!r}: the {method_u} method has a z test only; leave test "
                         "as 'z' or use a tau² method for 't' or 'knha'")
    lev = check_level(level)

    a = as_float_array(ai, "ai")
    c = as_float_array(ci, "ci")
    n1 = as_float_array(n1i, "n1i")
    n2 = as_float_array(n2i, "n2i")
    if labels is not None:
        labels = [str(x) for x in labels]
    k = same_length(ai=a, n1i=n1, ci=c, n2i=n2, labels=labels)
    if k == 0:
        raise InputError("no studies: ai, n1i, ci, n2i are empty")
    for name, arr in (("ai", a), ("ci", c), ("n1i", n1), ("n2i", n2)):
        _check_counts(name, arr)
    for ev, en, tot, tn in ((a, "ai", n1, "n1i"), (c, "ci", n2, "n2i")):
        bad = np.flatnonzero(ev > tot)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{en}[{i}] = {ev[i]:g} exceeds {tn}[{i}] = {tot[i]:g}; events cannot outnumber patients")
    b, d = n1 - a, n2 - c
    labels = tuple(labels) if labels else tuple(f"Study {i + 1}" for i in range(k))
    counts = {"ai": a, "n1i": n1, "ci": c, "n2i": n2}

    if method_u in ("MH", "PETO"):
        res = _pool_mh_peto(a, b, c, d, measure, method_u, lev, correct, add, to, drop00, labels, counts)
        object.__setattr__(res, "options", {"add": add, "to": to, "drop00": drop00})
        return res
    return _pool_iv(a, b, c, d, measure, method_u, test, lev, add, to, drop00, labels, counts, pool_options)


def _pool_mh_peto(a, b, c, d, measure, method, lev, correct, add, to, drop00, labels, counts):
    add_ = _pair(add, (0.5, 0.0), "add")
    to_ = _pair(to, ("only0", "none"), "to")
    drop_ = _pair(drop00, (True, False), "drop00")
    for t in to_:
        _check_to(t)
    yi, vi, corrected = two_by_two(measure, a, b, c, d, add=float(add_[0]), to=to_[0], drop00=bool(drop_[0]))
    notes = []
    # tables entering the pooled estimate
    keep = np.ones(len(a), dtype=bool)
    if drop_[1]:
        keep &= ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    cells, _ = _add_correction([a[keep], b[keep], c[keep], d[keep]], float(add_[1]), to_[1], np.ones(int(keep.sum()), dtype=bool))
    ka, kb, kc, kd = cells
    ok = np.isfinite(yi) & np.isfinite(vi)
    k_yi = int(ok.sum())
    if k_yi < len(a):
        notes.append(
            "studies at index " + ", ".join(str(int(i)) for i in np.flatnonzero(~ok))
            + " have no per-study effect (double zero or undefined) and are left out of Q"
        )
    z = zcrit(lev)
    weights = np.full(len(a), np.nan)
    extra = {}
    if method == "MH":
        res = mantel_haenszel(ka, kb, kc, kd, measure, correct=correct)
        est, se = res["estimate"], res["se"]
        w = mh_weights(ka, kb, kc, kd, measure)
        extra = {key: res[key] for key in ("cmh", "cmh_pvalue", "cochran", "cochran_pvalue", "tarone",
                                           "tarone_df", "tarone_pvalue", "breslow_day", "breslow_day_pvalue", "k_pos")}
        if not math.isfinite(est):
            msg = (f"the MH {measure} is not estimable: no events in one arm (or in every table's "
                   "complementary cells) across all studies; consider measure='RD' or method='PETO'")
            notes.append(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
        # Q about the MH estimate with inverse-variance weights of the per-study effects
        if k_yi > 1 and math.isfinite(est):
            with np.errstate(divide="ignore"):  # a study with zero variance: Q is infinite
                q = max(0.0, float(np.sum((yi[ok] - est) ** 2 / vi[ok])))
        elif k_yi > 1:
            q = math.nan
        else:
            q = 0.0
        q_df = max(k_yi - 1, 0)
        if k_yi > 1:
            q_p, i2, h2 = _q_stats(q, k_yi - 1)
        else:
            q_p, i2, h2 = 1.0, 0.0, 1.0
    else:
        res = peto(ka, kb, kc, kd)
        est, se = res["estimate"], res["se"]
        w = res["v"]
        q = res["q"]
        k_pos = res["k_pos"]
        extra = {"k_pos": k_pos}
        q_df = max(k_yi - 1, 0)
        if k_pos > 1:
            # Q is over the k_pos tables, its df from the k_yi per-study effects (as rma.peto)
            q_p, i2, h2 = _q_stats(q, max(k_yi - 1, 0))
        else:
            q_p, i2, h2 = 1.0, 0.0, 1.0
    weights[keep] = w / w.sum() if np.sum(w) > 0 else np.nan
    zval = est / se if se and math.isfinite(se) and se > 0 else math.nan
    pval = _norm_p(zval) if math.isfinite(zval) else math.nan
    lo, hi = est - z * se, est + z * se
    return BinaryPoolResult(
        estimate=float(est), se=float(se), statistic=float(zval), pvalue=float(pval), ci_low=float(lo), ci_high=float(hi),
        pi_low=math.nan, pi_high=math.nan, tau2=0.0, q=float(q), q_df=int(q_df), q_pvalue=float(q_p),
        i2=float(i2), h2=float(h2), k=int(keep.sum()), k_yi=k_yi, method=method, measure=measure, test="z",
        level=lev, yi=yi, vi=vi, weights=weights, labels=labels, counts=counts, correct=correct,
        notes=tuple(notes), **{key: float(v) for key, v in extra.items()},
    )


def _pool_iv(a, b, c, d, measure, method, test, lev, add, to, drop00, labels, counts, pool_options):
    if isinstance(add, (list, tuple)) or isinstance(to, (list, tuple)) or isinstance(drop00, (list, tuple)):
        raise InputError("with a tau² method, add, to and drop00 take one value each (they go to escalc)")
    add_ = 0.5 if add is None else float(add)
    to_ = _check_to("only0" if to is None else to)
    drop_ = False if drop00 is None else bool(drop00)
    yi, vi, _ = two_by_two(measure, a, b, c, d, add=add_, to=to_, drop00=drop_)
    # a risk difference of a table with no events (or only events) in both arms has variance 0
    # without a continuity correction: say so in terms of the counts given
    return iv_result(yi, vi, measure, method, test, lev, labels, counts, pool_options,
                     undefined="double zero or undefined",
                     none_left="check for double-zero tables and the continuity correction",
                     zero_variance="each arm has either no events or only events",
                     remedy=f"to={to_!r}; add a continuity correction (to='only0' or 'all'), "
                            "drop the study, or use a method that takes such tables (method='MH')")


def iv_result(yi, vi, measure, method, test, lev, labels, counts, pool_options, *, undefined,
              none_left, zero_variance, remedy) -> BinaryPoolResult:
    """An inverse-variance fit (:func:`pool`) of per-study effects of counts, as a
    BinaryPoolResult over all the studies given; those without an effect are left out with a
    note. The keyword texts name, in the data's own terms, why an effect is missing, what to check
    when none is left, why a variance is 0, and the remedy."""
    from .core import pool

    ok = np.isfinite(yi) & np.isfinite(vi)
    notes = []
    if not ok.all():
        notes.append("studies at index " + ", ".join(str(int(i)) for i in np.flatnonzero(~ok))
                     + f" have no effect size ({undefined}) and are left out")
    if not ok.any():
        raise InputError(f"no study has a computable effect size; {none_left}")
    zero = ok & (vi <= 0)
    if zero.any():
        names = ", ".join(f"{labels[i]} (index {i})" for i in np.flatnonzero(zero))
        raise InputError(f"{measure}: in {names} {zero_variance}, so "
                         f"{'its' if zero.sum() == 1 else 'their'} variance is 0 with {remedy}")
    fit = pool(yi[ok], vi[ok], method=method, test=test, level=lev, measure=measure,
               labels=[lab for lab, o in zip(labels, ok) if o], **pool_options)
    weights = np.full(len(yi), np.nan)
    weights[ok] = np.asarray(fit.weights, dtype=float)
    get = lambda name, default=math.nan: float(getattr(fit, name, default)) if getattr(fit, name, None) is not None else default  # noqa: E731
    k_yi = int(ok.sum())
    return BinaryPoolResult(
        estimate=get("estimate"), se=get("se"), statistic=get("statistic"), pvalue=get("pvalue"),
        ci_low=get("ci_low"), ci_high=get("ci_high"), pi_low=get("pi_low"),
        pi_high=get("pi_high"), tau2=get("tau2", 0.0), q=get("q"), q_df=max(k_yi - 1, 0),
        q_pvalue=get("q_pvalue"), i2=get("i2"), h2=get("h2"), k=k_yi, k_yi=k_yi,
        method=str(getattr(fit, "method", method)), measure=measure,
        test=str(getattr(fit, "test", test)), level=lev, yi=yi, vi=vi, weights=weights,
        labels=labels, counts=counts, notes=tuple(notes), fit=fit,
    )
