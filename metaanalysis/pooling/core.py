"""Inverse-variance pooling: equal- and random-effects models as metafor's ``rma.uni``.

:func:`pool` is the intercept-only case of the general model fitted by :func:`fit_rma`, which
:func:`metaanalysis.pooling.meta_regression` also uses, so the Q statistic, I², H², the
Knapp-Hartung scale and the critical values exist once.

Reference: Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
*J. Stat. Softw.* 36(3). The printed summary mirrors metafor's ``print.rma.uni``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from scipy.special import chdtrc, ndtr, ndtri, stdtr, stdtrit

from .._base import ResultMixin, check_level, fmt, fmt_p, frozen_field, jsonable
from ..errors import InputError
from . import _scaling
from . import tau2 as _tau2
from ._methods import DiagnosticsMixin
from ._result import ESTIMATE_KEYS, PooledEstimate

__all__ = ["pool", "PoolResult", "Prediction", "ConfintResult", "fit_rma", "TESTS"]

TESTS = ("z", "t", "knha", "adhoc")
_EPS = np.finfo(float).eps
_NAN = float("nan")


# --------------------------------------------------------------------------------------------
# Formulas shared by pool, meta_regression and subgroup_analysis.
# --------------------------------------------------------------------------------------------


# Every formula below takes scalars (one meta-analysis) or arrays with one value per meta-analysis
# (the batch engine, :mod:`metaanalysis.pooling.batch`), so each exists once.


@lru_cache(maxsize=256)
def _critical_scalar(level: float, df: float | None) -> float:
    a = 1.0 - level / 100.0
    if df is None:
        return float(-ndtri(a / 2))
    if df <= 0:
        return _NAN
    return float(stdtrit(df, 1 - a / 2))


def critical_value(level: float, df):
    """Two-sided critical value: normal when ``df`` is None, Student t otherwise (``df`` may be an
    array, one per meta-analysis; df <= 0 gives NaN)."""
    if df is None or np.ndim(df) == 0:
        return _critical_scalar(float(level), None if df is None else float(df))
    a = 1.0 - level / 100.0
    df = np.asarray(df, dtype=float)
    return np.where(df > 0, stdtrit(np.where(df > 0, df, 1.0), 1 - a / 2), _NAN)


def two_sided_p(stat, df):
    """Two-sided p-value of a z (``df`` None) or t statistic (``df`` a number or an array)."""
    stat = np.abs(stat)
    if df is None:
        return 2.0 * ndtr(-stat)
    if np.ndim(df) == 0:
        if df <= 0:
            return np.full_like(np.asarray(stat, float), _NAN)
        return 2.0 * stdtr(df, -stat)
    return np.where(df > 0, 2.0 * stdtr(np.where(df > 0, df, 1.0), -stat), _NAN)


def knha_scale(rss, df, adhoc: bool):
    """The Knapp-Hartung scale s² = rss / df of the weighted residuals (0 when rss <= eps, as
    metafor); with metafor's ad hoc correction never below 1."""
    s2w = np.where(rss <= _EPS, 0.0, rss / df)
    return np.maximum(s2w, 1.0) if adhoc else s2w


def heterogeneity_from_q(q, trp, df, tau2, fixed_effect: bool):
    """Q (clipped at 0), its p-value, vt, I² (%) and H² from Cochran's Q and tr(P) at w = 1/vi.

    As metafor (``i2def="1"``): vt = df / tr(P); I² and H² compare tau² with vt, except for an
    equal-effects model, where they come from Q.
    """
    mx = max if type(q) is float else np.maximum  # plain floats for one meta-analysis (faster)
    q = mx(q, 0.0)
    qp = chdtrc(df, q)
    vt = df / trp
    # the ratio first, then the percent: a ratio a / b with a <= b is at most 1 after rounding too
    if fixed_effect:
        i2 = 100.0 * (mx(q - df, 0.0) / mx(q, df))
        h2 = q / df
    else:
        i2 = 100.0 * (tau2 / (vt + tau2))
        h2 = tau2 / vt + 1.0
    return q, qp, vt, i2, h2


def prediction_bounds(estimate, se, tau2, crit):
    """Prediction interval estimate -/+ crit sqrt(se² + tau²) (metafor's ``predict``)."""
    s = np.sqrt(se * se + tau2)
    return estimate - crit * s, estimate + crit * s


def heterogeneity(ymc: np.ndarray, v: np.ndarray, X, tau2: float, fixed_effect: bool):
    """Cochran's Q (QE), its p-value, the typical within-study variance vt, I² (%) and H².

    As metafor (``i2def="1"``): vt = (k - p) / tr(P) with P from the fixed-effect weights; I² and
    H² compare tau² with vt, except for an equal-effects model, where they come from Q.
    """
    k = ymc.shape[0]
    p = 1 if X is None else X.shape[1]
    if k <= p:
        return 0.0, 1.0, 0.0, 0.0, 1.0
    w = 1.0 / v
    if X is None:
        s1, _, qe = _tau2._wq(w, ymc)
        trp = s1 - (w @ w) / s1
    else:
        P = _tau2._pmatrix(w, X)
        qe = float(ymc @ P @ ymc)
        trp = float(np.trace(P))
    qe, qep, vt, i2, h2 = heterogeneity_from_q(float(qe), float(trp), k - p, tau2, fixed_effect)
    return float(qe), float(qep), float(vt), float(i2), float(h2)


def i2_h2_from_tau2(tau2: float, vt: float):
    """I² (%) and H² at a given tau² (used for the bounds of their intervals; arrays too)."""
    # an unbounded tau² (a Wald.sqrt upper bound) gives an unbounded H² but no I² (inf/inf), as
    # metafor prints them; NaN stays NaN
    if np.ndim(tau2) or np.ndim(vt):
        tau2 = np.asarray(tau2, dtype=float)
        finite = np.where(np.isfinite(tau2), tau2, _NAN)
        h2 = np.where(tau2 == np.inf, np.inf, finite / vt + 1.0)
        return 100.0 * (finite / (vt + finite)), h2
    if not math.isfinite(tau2):
        return _NAN, (math.inf if tau2 == math.inf else _NAN)
    return 100.0 * (tau2 / (vt + tau2)), tau2 / vt + 1.0


class RmaFit(NamedTuple):
    """Everything :func:`fit_rma` computes; the result classes are views of it."""

    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    tau2: float
    se_tau2: float
    converged: bool
    iterations: int
    qe: float
    qe_p: float
    vt: float
    i2: float
    h2: float
    df: float | None
    crit: float
    s2w: float
    weights: np.ndarray  # unnormalised model weights
    test: str
    method: str
    tau2_fixed: bool


class InterceptFit(NamedTuple):
    """What :func:`fit_intercept` computes (scalars): the intercept-only model of :func:`pool`."""

    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float
    tau2: float
    se_tau2: float
    converged: bool
    iterations: int
    qe: float
    qe_p: float
    vt: float
    i2: float
    h2: float
    df: float | None
    crit: float
    s2w: float
    weights: np.ndarray  # unnormalised model weights
    test: str


def fit_intercept(y, v, method="REML", test="z", level=95.0, weights=None, tau2=None, control=None, pylists=None):
    """The intercept-only model (``rma(yi, vi)``) for validated 1-D arrays, with scalar results.

    The hot path of :func:`pool`: the same formulas as :func:`fit_rma` (and as the batch engine,
    which calls them with one value per meta-analysis), without k x p matrices. ``pylists``: ``(y, v)``
    as Python lists when the caller has them already (small k).
    """
    k = y.shape[0]
    fe = method == "EE"
    if k == 1:
        test = "z"
    if fe:
        t2, se_t2, conv, iters = 0.0, _NAN, True, 0
    elif k == 1:
        t2, se_t2, conv, iters = 0.0 if tau2 is None else float(tau2), _NAN, True, 0
    else:
        t2, se_t2, conv, iters, _ = _tau2.estimate_with_remedies(y, v, None, method, weights, tau2, control, pylists)
    small = k <= _tau2.SCALAR_K
    if small:  # Python lists: see tau2.SCALAR_K
        ys, vs = (y.tolist(), v.tolist()) if pylists is None else pylists
        wl = [1.0 / (x + t2) for x in vs]
        sw = sum(wl)
        b = sum([a * c for a, c in zip(wl, ys)]) / sw
        w = np.array(wl)
    else:
        w = np.reciprocal(v + t2)
        sw = float(_tau2._add_reduce(w))
        b = float(w.dot(y)) / sw
    var_b = 1.0 / sw
    s2w = 1.0
    if test in ("knha", "adhoc"):
        r = y - b  # the Knapp-Hartung residuals use the inverse-variance estimate
        s2w = float(knha_scale(float((w * r).dot(r)), k - 1, test == "adhoc"))
    if weights is not None:
        sa = float(weights.sum())
        b = float(weights @ y) / sa
        var_b = float((weights * weights) @ (v + t2)) / (sa * sa)
    var_b *= s2w
    df = None if test == "z" else float(k - 1)
    se = math.sqrt(var_b)
    if se > 0:
        stat = b / se
    else:
        stat = math.copysign(math.inf, b) if b != 0 else _NAN
    pval = float(two_sided_p(stat, df))
    crit = critical_value(level, df)
    if k > 1:
        if small:  # the two passes of _tau2._wq, on lists
            w0 = [1.0 / x for x in vs]
            m = sum(ys) / k
            yc = [a - m for a in ys]
            s1 = sum(w0)
            mu = sum([a * c for a, c in zip(w0, yc)]) / s1
            q = sum([a * (c - mu) * (c - mu) for a, c in zip(w0, yc)])
            trp = s1 - sum([a * a for a in w0]) / s1
        else:
            w0 = np.reciprocal(v)
            s1, _, q = _tau2._wq(w0, y - _tau2._add_reduce(y) / k)
            trp = s1 - w0.dot(w0) / s1
        het = heterogeneity_from_q(float(q), float(trp), k - 1, t2, fe)
        qe, qep, vt, i2, h2 = (float(x) for x in het)
    else:
        qe, qep, vt, i2, h2 = 0.0, 1.0, 0.0, 0.0, 1.0
    return InterceptFit(
        b, se, stat, pval, b - crit * se, b + crit * se, t2, se_t2, conv, iters, qe, qep, vt, i2,
        h2, df, crit, s2w, weights if weights is not None else w, test,
    )


def _fit_scaled(y, v, scale, method, test, level, weights, tau2, control) -> InterceptFit:
    """:func:`fit_intercept` on data in other units (see :mod:`metaanalysis.pooling._scaling`):
    fitted as (y - shift) / c with variances and tau² in units of c² (c a power of two, exact), the
    options of ``control`` converted with them, and the results converted back."""
    ys, vs = scale.apply(y, v)
    u, c, m = scale.unit, scale.factor, scale.shift
    f = fit_intercept(ys, vs, method, test, level, weights, None if tau2 is None else tau2 / u,
                      _tau2.scaled_control(control, u))
    b, se = m + c * f.estimate, c * f.se
    stat = f.stat  # scale-free, but a shift moves the null hypothesis: recomputed in the user's units
    if m != 0.0:
        stat = b / se if se > 0 else (math.copysign(math.inf, b) if b != 0 else _NAN)
    return f._replace(
        estimate=b, se=se, stat=stat, pval=float(two_sided_p(stat, f.df)) if m != 0.0 else f.pval,
        ci_low=m + c * f.ci_low, ci_high=m + c * f.ci_high, tau2=f.tau2 * u, se_tau2=f.se_tau2 * u,
        vt=f.vt * u,
    )


def fit_rma(y, v, X, method="REML", test="z", level=95.0, weights=None, tau2=None, control=None) -> RmaFit:
    """Fit metafor's ``rma.uni`` model y = X beta + u + e for validated arrays.

    ``X`` is ``None`` for the intercept-only model (computed by :func:`fit_intercept`). ``tau2``
    fixes tau² at a value; ``weights`` are custom weights (and the weights of ``GENQ``).
    """
    if X is None:
        f = fit_intercept(y, v, method, test, level, weights, tau2, control)
        return RmaFit(
            np.array([f.estimate]), np.array([[f.se * f.se]]), np.array([f.se]), np.array([f.stat]),
            np.array([f.pval]), np.array([f.ci_low]), np.array([f.ci_high]), f.tau2, f.se_tau2,
            f.converged, f.iterations, f.qe, f.qe_p, f.vt, f.i2, f.h2, f.df, f.crit, f.s2w, f.weights,
            f.test, method, tau2 is not None,
        )
    k = y.shape[0]
    p = 1 if X is None else X.shape[1]
    fe = method == "EE"
    if k == 1:
        test = "z"
    if fe:
        est = _tau2.Tau2Estimate(0.0, _NAN, True, 0, method)
    elif k == 1:
        est = _tau2.Tau2Estimate(0.0 if tau2 is None else float(tau2), _NAN, True, 0, method)
    else:
        est = _tau2.estimate_with_remedies(y, v, X, method, weights, tau2, control)
    t2 = est.tau2
    w = 1.0 / (v + t2)

    # estimates with inverse-variance weights (also the Knapp-Hartung residuals)
    if X is None:
        sw = w.sum()
        b = (w @ y) / sw
        beta = np.array([b])
        vb = np.array([[1.0 / sw]])
        r = y - b
    else:
        WX = X * w[:, None]
        vb = np.linalg.inv(X.T @ WX)
        beta = vb @ (WX.T @ y)
        r = y - X @ beta
    rss_knha = float(w @ (r * r))
    if weights is not None:
        a = weights
        if X is None:
            sa = a.sum()
            beta = np.array([(a @ y) / sa])
            vb = np.array([[float((a * a) @ (v + t2)) / sa**2]])
        else:
            AX = X * a[:, None]
            inv = np.linalg.inv(X.T @ AX)
            beta = inv @ (AX.T @ y)
            vb = inv @ (AX.T @ (AX * (v + t2)[:, None])) @ inv
    s2w = 1.0
    if test in ("knha", "adhoc"):
        s2w = 0.0 if rss_knha <= _EPS else rss_knha / (k - p)
        if test == "adhoc" and s2w < 1.0:
            s2w = 1.0
        vb = vb * s2w
    df = None if test == "z" else float(k - p)
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    pval = two_sided_p(stat, df)
    crit = critical_value(level, df)
    ci_low = beta - crit * se
    ci_high = beta + crit * se
    ymc = y - y.mean()
    qe, qep, vt, i2, h2 = heterogeneity(ymc, v, X, t2, fe)
    model_w = weights if weights is not None else w
    return RmaFit(
        beta, vb, se, stat, pval, ci_low, ci_high, t2, est.se, est.converged, est.iterations,
        qe, qep, vt, i2, h2, df, crit, s2w, model_w, test, method, tau2 is not None,
    )


def _measure_codes() -> tuple:
    from .. import effects as E

    return ("GEN", "HR", "MEDLN", "MLN", "RMSTD", "RMSTR") + E.TWO_ARM_MEASURES + \
        E.ONE_ARM_MEASURES + E.CONTINUOUS_MEASURES + E.INCIDENCE_TWO_ARM_MEASURES + \
        E.INCIDENCE_ONE_ARM_MEASURES + E.CORRELATION_MEASURES


def check_measure(measure):
    """``measure`` as given when it is one of the codes the package knows (any case), else an
    InputError: the measure decides the scale a forest plot draws, and a misspelt code
    (``"logOR"``) would silently draw log odds ratios as differences. metafor's ``rma`` refuses
    unknown codes the same way; ``"GEN"`` is its code for a generic outcome."""
    if measure is None or measure == "":
        return measure
    codes = _measure_codes()
    if not isinstance(measure, str) or measure.upper() not in codes:
        raise InputError(f"unknown measure {measure!r}; use one of {', '.join(codes)} (GEN for any "
                         "other outcome, drawn on a linear scale)")
    return measure


def validate_common(method, test, level, knha_adhoc=False):
    """Method code, test code and level checked and normalised (``FE``, ``CE`` -> ``EE``)."""
    if method not in _tau2.METHODS:
        raise InputError(f"unknown method {method!r}; valid methods: {', '.join(_tau2.METHODS)}")
    method = "EE" if method in ("FE", "CE") else method
    if test not in TESTS:
        raise InputError(f"unknown test {test!r}; valid tests: {', '.join(TESTS)}")
    if knha_adhoc:
        if test not in ("knha", "adhoc"):
            raise InputError("knha_adhoc=True needs test='knha'")
        test = "adhoc"
    return method, test, check_level(level)


@lru_cache(maxsize=64)
def _default_labels(k: int) -> tuple:
    return tuple(f"Study {i + 1}" for i in range(k))


def _labels(labels, k):
    if labels is None:
        return _default_labels(k)
    out = tuple(str(x) for x in labels)
    if len(out) != k:
        raise InputError(f"labels has {len(out)} entries but there are {k} studies")
    return out


def _readonly_view(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # cheaper than the flags object's setter
    return a


# --------------------------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------------------------


_TRANSFORMS = {"exp": np.exp, "tanh": np.tanh, None: None}


def _transform(transf):
    if transf is None or callable(transf):
        return transf
    if transf in _TRANSFORMS:
        return _TRANSFORMS[transf]
    raise InputError(f"transf must be a function or one of {sorted(k for k in _TRANSFORMS if k)}; got {transf!r}")


@dataclass(frozen=True, eq=False, repr=False)
class Prediction(ResultMixin):
    """metafor's ``predict.rma``: the pooled estimate with its confidence and prediction intervals.

    With ``transf`` the estimate and both intervals are transformed (and ``se`` is NaN, as metafor
    prints no SE on a transformed scale).
    """

    pred: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    level: float
    transformed: bool = False

    def to_dict(self) -> dict:
        return jsonable({k: getattr(self, k) for k in (
            "pred", "se", "ci_low", "ci_high", "pi_low", "pi_high", "level", "transformed")})

    def _short(self) -> str:
        return f"pred={fmt(self.pred)} [{fmt(self.ci_low)}, {fmt(self.ci_high)}]"

    def summary(self) -> str:
        head = ["pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub"]
        vals = [self.pred, self.se, self.ci_low, self.ci_high, self.pi_low, self.pi_high]
        cells = [fmt(x) for x in vals]
        if self.transformed:
            head.pop(1)
            cells.pop(1)
        width = [max(len(h), len(c)) for h, c in zip(head, cells)]
        return "\n" + "  ".join(h.rjust(n) for h, n in zip(head, width)) + "\n" + "  ".join(
            c.rjust(n) for c, n in zip(cells, width)) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class ConfintResult(ResultMixin):
    """metafor's ``confint.rma.uni``: intervals for beta and for tau², tau, I² (%) and H²."""

    estimate: float
    ci_low: float
    ci_high: float
    random: dict = frozen_field()  # name -> (estimate, ci_low, ci_high) for tau2, tau, i2, h2
    level: float
    ci_type: str

    def to_dict(self) -> dict:
        out = {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high}
        for name, (e, lo, hi) in self.random.items():
            out[name] = e
            out[f"{name}_ci_low"] = lo
            out[f"{name}_ci_high"] = hi
        out.update(level=self.level, ci_type=self.ci_type)
        return jsonable(out)

    def to_frame(self):
        import pandas as pd

        rows = {"estimate": (self.estimate, self.ci_low, self.ci_high), **self.random}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high"])

    def _short(self) -> str:
        t = self.random.get("tau2", (_NAN, _NAN, _NAN))
        return f"tau2={fmt(t[0])} [{fmt(t[1])}, {fmt(t[2])}]"

    def summary(self) -> str:
        lines = ["", f"{'':8}{'estimate':>10}{'ci.lb':>10}{'ci.ub':>10}"]
        names = {"tau2": "tau^2", "tau": "tau", "i2": "I^2(%)", "h2": "H^2"}
        for key, (e, lo, hi) in self.random.items():
            d = 2 if key in ("i2", "h2") else 4
            lines.append(f"{names[key]:<8}{fmt(e, d):>10}{fmt(lo, d):>10}{fmt(hi, d):>10}")
        lines.append("")
        lines.append(f"{'':8}{'estimate':>10}{'ci.lb':>10}{'ci.ub':>10}")
        lines.append(f"{'intrcpt':<8}{fmt(self.estimate):>10}{fmt(self.ci_low):>10}{fmt(self.ci_high):>10}")
        return "\n".join(lines) + "\n"


_DICT_KEYS = ESTIMATE_KEYS + (
    "tau2_ci_low", "tau2_ci_high", "tau", "i2", "i2_ci_low", "i2_ci_high", "h2", "h2_ci_low",
    "h2_ci_high", "q", "q_df", "q_pvalue", "pi_low", "pi_high", "k", "method", "test", "level",
    "measure", "df", "converged", "iterations",
)


@dataclass(frozen=True, eq=False, repr=False)
class PoolResult(DiagnosticsMixin, PooledEstimate):
    """A fitted equal- or random-effects model (metafor's ``rma.uni`` without moderators).

    Scalars follow metafor's names in our spelling: ``estimate`` (metafor's ``b``), ``statistic``
    (``zval``), ``q`` (``QE``), ``i2`` in percent. The interval for tau² (and so for I² and H²) is
    the Q-profile interval (the generalised Q-profile for ``GENQ``), computed on first use and then
    kept. ``weights`` sum to 1. ``df`` is None for ``test="z"``. The fields start with those of
    :class:`~metaanalysis.pooling._result.PooledEstimate` (``estimate`` ... ``se_tau2``).
    """

    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    pi_low: float
    pi_high: float
    k: int
    method: str
    test: str
    level: float
    measure: str | None
    df: float | None
    converged: bool
    iterations: int
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray
    labels: tuple
    tau2_fixed: bool = False
    notes: tuple = ()
    vt: float = field(default=_NAN, repr=False)
    control: Any = field(default=None, repr=False)
    _raw_weights: Any = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def _fast(cls, *values) -> "PoolResult":
        """Construct from all field values in order, without the frozen dataclass's per-field
        ``object.__setattr__`` (a sizeable share of a fit at small k)."""
        obj = object.__new__(cls)
        obj.__dict__.update(zip(_POOL_FIELDS, values))
        return obj

    # ---- derived quantities --------------------------------------------------------------
    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2) if self.tau2 >= 0 else _NAN

    def _tau2_ci(self, ci_type=None):
        """The interval for tau² of ``ci_type`` (metafor's confint types; by default the Q-profile,
        or the generalised Q-profile for GENQ and GENQM), computed on first use and then kept."""
        if ci_type is None:
            ci_type = "GENQ" if self.method in ("GENQ", "GENQM") else "QP"
        key = "tau2_ci" if ci_type in ("QP", "GENQ") else f"tau2_ci_{ci_type}"
        ci = self._cache.get(key)
        if ci is None:
            if self.method == "EE" or self.tau2_fixed or self.k < 2:
                ci = (_NAN, _NAN)
            elif ci_type.startswith("Wald"):
                t2min = _tau2._user_bound(self.control, "tau2_min")
                ci = _tau2.wald_ci(self.tau2, self.se_tau2, self.level, ci_type, 0.0 if t2min is None else t2min)
            else:
                # in the units pool fitted in (extreme data are fitted scaled: see _scaling)
                y, v, t2, con, u = self.yi, self.vi, self.tau2, self.control, 1.0
                scale = _scaling.plan(y, v)
                if scale is not None:
                    u = scale.unit
                    y, v = scale.apply(y, v)
                    t2, con = t2 / u, _tau2.scaled_control(con, u)
                if ci_type == "GENQ":
                    ci = _tau2.generalised_q_ci(y, v, None, self._raw_weights, self.level, t2, con)
                elif ci_type == "PL":
                    ci = _tau2.profile_likelihood_ci(y, v, None, self.level, t2, self.method, con)
                else:
                    ci = _tau2.q_profile_ci(y, v, None, self.level, t2, con)
                ci = (ci[0] * u, ci[1] * u)
            self._cache[key] = ci
        return ci

    @property
    def tau2_ci_low(self) -> float:
        return self._tau2_ci()[0]

    @property
    def tau2_ci_high(self) -> float:
        return self._tau2_ci()[1]

    @property
    def i2_ci_low(self) -> float:
        return i2_h2_from_tau2(self.tau2_ci_low, self.vt)[0]

    @property
    def i2_ci_high(self) -> float:
        return i2_h2_from_tau2(self.tau2_ci_high, self.vt)[0]

    @property
    def h2_ci_low(self) -> float:
        return i2_h2_from_tau2(self.tau2_ci_low, self.vt)[1]

    @property
    def h2_ci_high(self) -> float:
        return i2_h2_from_tau2(self.tau2_ci_high, self.vt)[1]

    # ---- views ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Scalars under fixed names (JSON-safe: NaN becomes None)."""
        return jsonable(self._scalars(_DICT_KEYS))

    def to_frame(self):
        """One-row DataFrame of the scalars of :meth:`to_dict` (NaN kept as NaN)."""
        import pandas as pd

        return pd.DataFrame([self._scalars(_DICT_KEYS)])

    def study_frame(self):
        """Per-study DataFrame: label, yi, vi, se, ci_low, ci_high, weight (the forest plot's rows).

        Study intervals use the normal critical value at the model's level, as metafor's forest.
        """
        import pandas as pd

        se = np.sqrt(self.vi)
        z = critical_value(self.level, None)
        return pd.DataFrame({
            "label": list(self.labels), "yi": self.yi, "vi": self.vi, "se": se,
            "ci_low": self.yi - z * se, "ci_high": self.yi + z * se, "weight": self.weights,
        })

    def predict(self, transf=None, level=None) -> Prediction:
        """The pooled estimate with confidence and prediction intervals, as metafor's ``predict``.

        ``transf`` is a function (``np.exp``) or ``"exp"``; ``level`` defaults to the model's.
        For an equal-effects model (and k = 1) the prediction interval is NaN.
        """
        f = _transform(transf)
        lvl = self.level if level is None else check_level(level)
        crit = critical_value(lvl, self.df)
        est, se = self.estimate, self.se
        ci = (est - crit * se, est + crit * se)
        if self.method == "EE" or self.k < 2:
            pi = (_NAN, _NAN)
        else:
            s = math.sqrt(se * se + self.tau2)
            pi = (est - crit * s, est + crit * s)
        if f is not None:
            est = float(f(est))
            ci = tuple(sorted(float(f(x)) for x in ci))
            pi = tuple(sorted(float(f(x)) for x in pi)) if not math.isnan(pi[0]) else pi
            se = _NAN
        return Prediction(est, se, ci[0], ci[1], pi[0], pi[1], lvl, f is not None)

    def confint(self, level=None, type=None) -> ConfintResult:  # noqa: A002 - metafor's name
        """Intervals for the estimate and for tau², tau, I², H² (metafor's ``confint``).

        ``type`` chooses the interval for tau² (metafor 3.8's ``type=``): ``"QP"`` the Q-profile
        (the default), ``"GENQ"`` the generalised Q-profile (the default for GENQ and GENQM, and
        only for them), ``"PL"`` the profile likelihood (restricted for REML fits, ordinary
        otherwise; not with custom weights), ``"Wald"`` tau² -/+ z SE truncated at 0, ``"Wald.log"``
        and ``"Wald.sqrt"`` the Wald interval on the scale of log tau² and of tau. Those of tau, I²
        and H² follow from it. ``level`` defaults to the model's.

        Examples
        --------
        >>> res = pool([0.1, 0.3, 0.35, -0.2, 0.6], [0.01, 0.02, 0.015, 0.03, 0.02])
        >>> ci = res.confint(type="PL")
        >>> ci.ci_type, round(ci.random["tau2"][2], 4)
        ('PL', 0.4809)
        """
        if type is not None and type not in _tau2.CI_TYPES:
            raise InputError(f"unknown confint type {type!r}; valid types: {', '.join(_tau2.CI_TYPES)}")
        if type == "GENQ" and self.method not in ("GENQ", "GENQM"):
            raise InputError("type='GENQ' needs a model fitted with method='GENQ' or 'GENQM'; "
                             "use type='QP', 'PL' or 'Wald' here")
        if type == "PL" and self._raw_weights is not None:
            raise InputError("type='PL' is not available with custom weights (the likelihood assumes "
                             "inverse-variance weights); use type='QP' or 'Wald'")
        if level is None or check_level(level) == self.level:
            res = self
        else:
            res = self._refit(level=check_level(level))
        ci_type = type if type is not None else ("GENQ" if res.method in ("GENQ", "GENQM") else "QP")
        lo, hi = res._tau2_ci(ci_type)
        sq = lambda x: math.sqrt(x) if x >= 0 else _NAN  # noqa: E731
        random = {
            "tau2": (res.tau2, lo, hi),
            "tau": (res.tau, sq(lo), sq(hi)),
            "i2": (res.i2, *i2_h2_from_tau2(np.array([lo, hi]), res.vt)[0].tolist()),
            "h2": (res.h2, *i2_h2_from_tau2(np.array([lo, hi]), res.vt)[1].tolist()),
        }
        return ConfintResult(res.estimate, res.ci_low, res.ci_high, random, res.level, ci_type)

    def _refit(self, **changes):
        args = dict(method=self.method, test=self.test, level=self.level, measure=self.measure,
                    labels=self.labels, control=self.control)
        if self.tau2_fixed:
            args["tau2"] = self.tau2
        if self._raw_weights is not None:
            args["weights"] = self._raw_weights
        args.update(changes)
        test = args.pop("test")
        knha_adhoc = test == "adhoc"
        return pool(self.yi, self.vi, test="knha" if knha_adhoc else test, knha_adhoc=knha_adhoc, **args)

    def _short(self) -> str:
        return f"{self.method} {self._estimate_short()}"

    def summary(self) -> str:
        """Text in the layout of metafor's ``print.rma.uni`` (plus the intervals of tau² and the PI)."""
        out = [""]
        if self.method == "EE":
            out.append(f"Equal-Effects Model (k = {self.k})")
        else:
            how = "user-specified tau^2 value" if self.tau2_fixed else f"tau^2 estimator: {self.method}"
            out.append(f"Random-Effects Model (k = {self.k}; {how})")
        out.append("")
        if self.method != "EE":
            se_part = "" if math.isnan(self.se_tau2) else f" (SE = {fmt(self.se_tau2)})"
            out.append(f"tau^2 (estimated amount of total heterogeneity): {fmt(self.tau2)}{se_part}")
            out.append(f"tau (square root of estimated tau^2 value):      {fmt(self.tau)}")
        out.append(f"I^2 (total heterogeneity / total variability):   {fmt(self.i2, 2)}%")
        out.append(f"H^2 (total variability / sampling variability):  {fmt(self.h2, 2)}")
        out.append("")
        pv = fmt_p(self.q_pvalue)
        out.append("Test for Heterogeneity:")
        out.append(f"Q(df = {self.q_df}) = {fmt(self.q)}, p-val {pv if pv.startswith('<') else '= ' + pv}")
        out.append("")
        out.append("Model Results:")
        out.append("")
        stat = "zval" if self.df is None else "tval"
        head = ["estimate", "se", stat] + ([] if self.df is None else ["df"]) + ["pval", "ci.lb", "ci.ub"]
        cells = [fmt(self.estimate), fmt(self.se), fmt(self.statistic)]
        if self.df is not None:
            cells.append(f"{self.df:g}")
        cells += [fmt_p(self.pvalue), fmt(self.ci_low), fmt(self.ci_high)]
        width = [max(len(h), len(c)) for h, c in zip(head, cells)]
        out.append("  ".join(h.rjust(n) for h, n in zip(head, width)))
        out.append("  ".join(c.rjust(n) for c, n in zip(cells, width)) + "  " + _stars(self.pvalue))
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        lvl = f"{self.level:g}%"
        if self.method != "EE" and not self.tau2_fixed and self.k > 1:
            out.append("")
            out.append(f"{lvl} CI for tau^2 ({'generalised ' if self.method in ('GENQ', 'GENQM') else ''}Q-profile): "
                       f"[{fmt(self.tau2_ci_low)}, {fmt(self.tau2_ci_high)}]; I^2: "
                       f"[{fmt(self.i2_ci_low, 2)}%, {fmt(self.i2_ci_high, 2)}%]")
        if not math.isnan(self.pi_low):
            out.append(f"{lvl} prediction interval: [{fmt(self.pi_low)}, {fmt(self.pi_high)}]")
        if self.measure:
            out.append(f"Measure: {self.measure}")
        for note in self.notes:
            out.append(f"Note: {note}")
        return "\n".join(out) + "\n"


_POOL_FIELDS = tuple(f.name for f in fields(PoolResult))


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


def pool(
    yi,
    vi=None,
    *,
    sei=None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    weights=None,
    measure: str | None = None,
    labels=None,
    knha_adhoc: bool = False,
    tau2: float | None = None,
    control: dict | None = None,
) -> PoolResult:
    """Pool effect sizes with an equal- or random-effects model, as metafor's ``rma(yi, vi)``.

    Parameters
    ----------
    yi : array_like
        Effect sizes on their analysis scale (log OR, log HR, mean difference ...), one per study.
    vi, sei : array_like
        Sampling variances, or standard errors (``sei=``); positive.
    method : str
        ``EE`` (alias ``FE``), ``DL``, ``HE``, ``HS``, ``HSk``, ``SJ``, ``ML``, ``REML``, ``EB``,
        ``PM``, ``PMM``, ``GENQ`` (with ``weights``).
    test : str
        ``z``, ``t`` (t with k - 1 df) or ``knha`` (Hartung-Knapp-Sidik-Jonkman); ``adhoc`` or
        ``knha_adhoc=True`` for the ad hoc correction that never lets the scale fall below 1.
    level : float
        Confidence level in percent (95) or as a fraction (0.95).
    weights : array_like, optional
        Custom weights (as metafor's ``weights=``); for ``GENQ`` they define Q.
    measure : str, optional
        The effect measure (``"OR"``, ``"HR"`` ...), stored so that plots know the scale.
    labels : sequence of str, optional
        Study labels; default ``"Study 1"``, ``"Study 2"`` ...
    tau2 : float, optional
        Fix tau² at this value instead of estimating it (metafor's ``tau2=``).
    control : dict, optional
        metafor's control options (``threshold``, ``maxiter``, ``stepadj``, ``tau2_max``, ``tol``...).

    Returns
    -------
    PoolResult

    Notes
    -----
    k = 1: the result is the study itself (tau² = 0 as in metafor, test forced to ``z``); the
    intervals for tau², I², H² and the prediction interval are NaN because heterogeneity cannot be
    estimated from one study; ``notes`` says so. Iterative estimators follow metafor's algorithms
    and stopping rules; if they fail, metafor's remedies are tried before a ConvergenceError.

    Examples
    --------
    >>> res = pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03], method="REML")
    >>> round(res.estimate, 4), round(res.tau2, 4)
    (0.1539, 0.0316)
    """
    method, test, level = validate_common(method, test, level, knha_adhoc)
    measure = check_measure(measure)
    y, v, scale, pylists = _tau2._prepare(yi, vi, sei, labels)
    k = y.shape[0]
    a = None
    if weights is not None:
        a = _tau2.check_weights(weights, k)
    elif method in ("GENQ", "GENQM"):
        raise InputError(f"method={method!r} needs weights= (the weights defining the generalised Q)")
    if tau2 is not None:
        tau2 = float(tau2)
        if not math.isfinite(tau2) or tau2 < 0:
            raise InputError(f"tau2 must be a finite number >= 0; got {tau2!r}")
    notes = []
    if k == 1:
        if test != "z":
            notes.append(f"test={test!r} replaced by 'z' because k = 1")
        notes.append("k = 1: heterogeneity cannot be estimated; tau2 is set to 0 (as metafor) and "
                     "its interval and the prediction interval are undefined (NaN)")
    if scale is None:
        fit = fit_intercept(y, v, method, test, level, a, tau2, control, pylists)
    else:
        fit = _fit_scaled(y, v, scale, method, test, level, a, tau2, control)
    est, se = fit.estimate, fit.se
    if method == "EE" or k == 1:
        pi_low = pi_high = _NAN
    else:
        pi_low, pi_high = (float(x) for x in prediction_bounds(est, se, fit.tau2, fit.crit))
    if fit.test in ("knha", "adhoc") and fit.s2w == 0.0:
        notes.append("the Knapp-Hartung scale is 0 (the studies agree exactly), so the standard error is 0")
    if method == "EE" and test in ("knha", "adhoc"):
        notes.append("the Knapp-Hartung method is not meant for equal-effects models")
    w = fit.weights
    wn = w / _tau2._add_reduce(w)
    yro = _readonly_view(y if y is not yi else y.copy())
    vro = _readonly_view(v if v is not vi else v.copy())
    return PoolResult._fast(
        est, se, fit.stat, fit.pval, fit.ci_low, fit.ci_high,
        fit.tau2, fit.se_tau2, fit.qe, k - 1, fit.qe_p, fit.i2, fit.h2, pi_low, pi_high, k, method,
        fit.test, level, measure, fit.df, fit.converged, fit.iterations, yro, vro,
        _readonly_view(wn), _labels(labels, k), tau2 is not None, tuple(notes), fit.vt,
        control, a, {},
    )
