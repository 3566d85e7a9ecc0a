"""Estimators of the between-study variance tau² and the Q-profile interval around it.

Every function here is a pure function of 1-D numpy arrays along axis 0 (k studies) and an
optional design matrix ``X`` (k x p; ``None`` means the intercept-only model, which takes closed
forms because it is the hot path of :func:`metaanalysis.pool`).

The algorithms follow metafor 3.8's ``rma.uni`` step by step (starting values, Fisher-scoring
steps and their stopping rule, the bracket and tolerance of the root searches), because the
iterative estimators stop at metafor's own thresholds: a different but "more exact" algorithm would
differ from metafor's printed numbers by up to 1e-4 relative. Following the same path makes the
results agree with metafor to rounding error.

References: Viechtbauer (2005), *J. Educ. Behav. Stat.* 30, 261-293 (ML, REML, HE, DL, HS, EB, SJ);
Paule & Mandel (1982); Viechtbauer (2007), *Stat. Med.* 26, 37-52 (Q-profile interval);
Jackson (2013) and DerSimonian & Kacker (2007) (generalised Q); Viechtbauer (2010), *J. Stat. Softw.*
36(3) (metafor).

Examples
--------
>>> import numpy as np
>>> est = tau2_estimate([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03], method="DL")
>>> round(est.tau2, 6)
0.028437
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._base import as_float_array, same_length
from ..errors import ConvergenceError, InputError
from . import _scaling

__all__ = ["tau2_estimate", "Tau2Estimate", "METHODS", "q_statistic", "q_profile_ci"]

# metafor's codes; "FE" and "CE" (fixed and common effect) are its older and newer names of "EE"
METHODS = ("EE", "FE", "CE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ",
           "DLIT", "SJIT", "GENQM")
_FIXED_EFFECT = ("EE", "FE", "CE")

# metafor's uniroot() calls (PM, PMM and the Q-profile bounds) use R's default tolerance; the
# Fisher-scoring loop stops when tau² changes by less than ``threshold``.
_R_UNIROOT_TOL = np.finfo(float).eps ** 0.25

DEFAULT_CONTROL = {
    "tau2_init": None,
    "tau2_min": 0.0,
    "tau2_max": None,  # None: metafor's max(100, 10 * mad(yi)^2)
    "threshold": 1e-5,
    "tol": _R_UNIROOT_TOL,
    "maxiter": 100,
    "stepadj": 1.0,
    "ll0check": True,
}


class Tau2Estimate(NamedTuple):
    """What a tau² estimator returns: the estimate, its standard error and how it was reached."""

    tau2: float
    se: float
    converged: bool
    iterations: int
    method: str


class _Control(dict):
    """A control dict already checked by :func:`make_control` (and perhaps scaled by
    :func:`scaled_control`): passed through as it is."""


def make_control(control: dict | None) -> dict:
    """metafor's ``control=`` list with our defaults; keys may use ``.`` or ``_`` (``tau2.max``)."""
    if not control:
        return DEFAULT_CONTROL  # callers never modify it
    if isinstance(control, _Control):
        return control
    con = dict(DEFAULT_CONTROL)
    if control:
        for key, value in control.items():
            name = str(key).replace(".", "_")
            if name not in con:
                raise InputError(
                    f"unknown control option {key!r}; valid options: {', '.join(sorted(con))}"
                )
            con[name] = value
    return con


def scaled_control(control: dict | None, unit: float) -> dict:
    """The control options for data fitted in other units, tau² in ``unit`` times the user's (see
    :mod:`metaanalysis.pooling._scaling`): the values of tau² given (``tau2_min``, ``tau2_max``,
    ``tau2_init``) are converted; the tolerances (``threshold``, ``tol``) apply in the units fitted
    in, where the data are ordinary. ``_unit`` records the unit, for messages."""
    con = _Control(make_control(control))
    con["tau2_min"] = float(con["tau2_min"]) / unit
    for key in ("tau2_max", "tau2_init"):
        if con[key] is not None:
            con[key] = float(con[key]) / unit
    con["_unit"] = unit * con.get("_unit", 1.0)
    return con


def _unit(con) -> float:
    """The tau² unit of ``con`` (1 unless :func:`scaled_control` made it)."""
    return con.get("_unit", 1.0)


# --------------------------------------------------------------------------------------------
# Projection quantities. P = W - W X (X'WX)^-1 X'W is the matrix behind every Q-type statistic.
# --------------------------------------------------------------------------------------------


def _pmatrix(w: np.ndarray, X: np.ndarray | None) -> np.ndarray:
    """The full k x k matrix P for weights ``w`` (only for the rarer quantities)."""
    if X is None:
        return np.diag(w) - np.outer(w, w) / w.sum()
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def _py_trp_trpp(w: np.ndarray, X: np.ndarray | None, y: np.ndarray):
    """P y, tr(P) and sum(P * P) (= tr(PP)); closed forms without moderators for speed."""
    if X is None:
        s1 = w.sum()
        w2 = w * w
        s2 = w2.sum()
        py = w * (y - (w @ y) / s1)
        return py, s1 - s2 / s1, s2 - 2.0 * (w2 @ w) / s1 + (s2 / s1) ** 2
    P = _pmatrix(w, X)
    return P @ y, np.trace(P), float(np.sum(P * P))


def _ypy(w: np.ndarray, X: np.ndarray | None, y: np.ndarray) -> float:
    """The weighted residual sum of squares y'Py (the Q statistic when w = 1/vi)."""
    if X is None:
        return float(_wq(w, y)[2])
    WX = X * w[:, None]
    beta = np.linalg.solve(X.T @ WX, WX.T @ y)
    r = y - X @ beta
    return float(w @ (r * r))


def q_statistic(yi, vi, tau2: float = 0.0, X=None) -> float:
    """Generalised Q: sum of squared residuals weighted by 1/(vi + tau2) around the WLS fit.

    With ``tau2=0`` this is Cochran's Q (metafor's ``QE``); as a function of tau2 it is the
    Q-profile whose quantiles give the interval for tau² and the Paule-Mandel estimator.

    Examples
    --------
    >>> round(q_statistic([0.1, 0.3, 0.35], [0.01, 0.02, 0.015]), 6)
    2.884615
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    return _ypy(1.0 / (v + tau2), None if X is None else np.asarray(X, dtype=float), y)


# --------------------------------------------------------------------------------------------
# Intercept-only kernels. These are the single source of the formulas of the model without
# moderators, for one meta-analysis and for many: every argument is an array along axis 0 (k
# studies), either 1-D (one meta-analysis, the path of :func:`metaanalysis.pool`) or 2-D (k_max x
# groups, the path of :func:`metaanalysis.pooling.batch.pool_many`). In the 2-D case the padding
# entries carry weight 0 (``m`` = 0, and ``w`` = m / (v + tau²)); sums are taken over axis 0, so
# the result is a scalar per group. ``k`` is the number of studies (an int, or one per group).
# --------------------------------------------------------------------------------------------


_add_reduce = np.add.reduce
_min_reduce = np.minimum.reduce


def _sum0(x):
    """Sum over axis 0 (the studies): ``x.sum()`` for one meta-analysis; for a padded 2-D array the
    rows are added one after another, so a group's sums are formed in the same order whichever
    groups share the array (numpy's reduction turns pairwise when one column is left, which would
    make a group's result depend on its company by an ulp; pool_many's results must not)."""
    if x.ndim == 1:
        return x.sum()
    out = x[0].copy()
    for row in x[1:]:
        out += row
    return out


def _msum(x, m):
    """Sum over the studies of axis 0, skipping padding (``m`` None: no padding)."""
    return _sum0(x) if m is None else _sum0(x * m)


def _wq(w, y, out=None):
    """sum(w), the weighted mean and Q = sum w (y - mean)², the weighted residual sum of squares.

    With w = 1/vi this is Cochran's Q; with w = 1/(vi + tau²) the Q-profile; residuals are formed
    explicitly (two passes) so Q is not lost to cancellation. ``out`` (2-D only): a buffer of y's
    shape for the residuals, so repeated evaluations allocate nothing.
    """
    if w.ndim == 1:  # one meta-analysis: dot products (the cheapest numpy calls on tiny arrays)
        s1 = _add_reduce(w)
        mu = w.dot(y) / s1
        r = y - mu
        return s1, mu, (w * r).dot(r)
    s1 = _sum0(w)
    r = np.multiply(w, y, out=out)
    mu = _sum0(r) / s1
    r = np.subtract(y, mu, out=r)
    np.multiply(r, r, out=r)
    return s1, mu, _sum0(np.multiply(r, w, out=r))


def _p_sums(w, v):
    """Traces and squared sums of P = W - w w'/sum(w) (the intercept-only projection) in closed form.

    Returns ``(s1, trP, tr(PV), sum(P*P), sum(PV*P), sum(PV*(PV)'))`` with V = diag(v), the
    quantities behind every moment estimator's standard error (metafor builds P and sums its
    elements; these are the same sums expanded over w, so no k x k matrix is formed).
    """
    s1 = _sum0(w)
    w2 = w * w
    s2 = _sum0(w2)
    w3 = w2 * w
    w2v = w2 * v
    s2v = _sum0(w2v)
    trp = s1 - s2 / s1
    trpv = _sum0(w * v) - s2v / s1
    pp = s2 - 2.0 * _sum0(w3) / s1 + (s2 / s1) ** 2
    pvp = s2v - 2.0 * _sum0(w3 * v) / s1 + s2 * s2v / s1**2
    pvpv = _sum0(w2v * v) - 2.0 * _sum0(w3 * v * v) / s1 + (s2v / s1) ** 2
    return s1, trp, trpv, pp, pvp, pvpv


def _trpp(s1, s2, s3):
    """sum(P * P) = tr(PP) from the power sums of the weights (intercept-only model)."""
    r = s2 / s1
    return s2 - 2.0 * s3 / s1 + r * r


def _moment_se(t, pvpv, pvp, pp, denom):
    """Standard error of a moment estimator tau² = (Q_w - tr(PV)) / denom at the clipped tau² ``t``:
    sqrt(2 sum(PV*(PV)') + 4 t sum(PV*P) + 2 t² sum(P*P)) / denom (Viechtbauer 2005; metafor)."""
    return np.sqrt((2.0 * pvpv + 4.0 * t * pvp + 2.0 * t * t * pp) / denom**2)


CLOSED_FORM = ("DL", "HE", "HS", "HSk", "SJ", "GENQ")


def closed_form_intercept(method, ymc, v, k, m=None, weights=None, tau2_min=0.0, tau2_init=None,
                          fixed=None):
    """tau² and its standard error by a non-iterative estimator, intercept-only model.

    ``ymc`` are the effect sizes centred by their mean (metafor centres before estimating), ``m``
    the padding mask (None for one meta-analysis), ``weights`` the weights of ``GENQ`` (0 on
    padding). Also gives the Hedges (HE) starting value of ML / REML / EB (``method="HE0"``: no
    clipping, no SE). Works for one group (1-D arrays, scalars out) and many (2-D, arrays out).
    """
    df = k - 1
    if method in ("HE", "HE0"):
        r = ymc - _msum(ymc, m) / k
        rss = r.dot(r) if m is None else _sum0(r * r * m)
        sv = _msum(v, m)
        trpv = sv - sv / k
        tau2 = (rss - trpv) / df
        if method == "HE0":
            return tau2
        w = np.ones_like(v) if m is None else m
        tau2 = tau2 if fixed is None else fixed
        tau2 = np.maximum(tau2_min, tau2)
        t = np.maximum(tau2, 0.0)
        pvpv = _p_sums(w, v)[5]
        return tau2, _moment_se(t, pvpv, trpv, df, df)  # P idempotent: sum(P*P) = df
    if method in ("DL", "HS", "HSk"):
        w = 1.0 / v if m is None else m / v
        s1, _, q = _wq(w, ymc)
        w2 = w * w
        s2 = _sum0(w2)
        trp = s1 - s2 / s1
        pp = _trpp(s1, s2, _sum0(w2 * w))
        if method == "DL":
            tau2, denom = (q - df) / trp, trp
        elif method == "HS":
            tau2, denom = (q - k) / s1, s1
        else:
            tau2, denom = (k / df * q - k) / s1, s1
        tau2 = tau2 if fixed is None else fixed
        tau2 = np.maximum(tau2_min, tau2)
        t = np.maximum(tau2, 0.0)
        se = _moment_se(t, df, trp, pp, denom)  # w = 1/v: sum(PV*(PV)') = df, sum(PV*P) = tr P
        if method == "HSk":
            se = se * (k / df)
        return tau2, se
    if method == "SJ":
        t0 = _msum(ymc * ymc, m) / k if tau2_init is None else float(tau2_init)
        w = 1.0 / (v + t0) if m is None else m / (v + t0)
        _, _, q = _wq(w, ymc)
        tau2 = t0 * q / df
        tau2 = tau2 if fixed is None else fixed
        tau2 = np.maximum(tau2_min, tau2)
        t = np.maximum(tau2, 0.0)
        _, _, _, pp, pvp, pvpv = _p_sums(w, v)
        return tau2, t0 * _moment_se(t, pvpv, pvp, pp, df)
    if method == "GENQ":
        if weights is None:
            raise InputError("method='GENQ' needs weights= (the weights that define Q)")
        _, _, q = _wq(weights, ymc)
        _, trp, trpv, pp, pvp, pvpv = _p_sums(weights, v)
        tau2 = (q - trpv) / trp
        tau2 = tau2 if fixed is None else fixed
        tau2 = np.maximum(tau2_min, tau2)
        t = np.maximum(tau2, 0.0)
        return tau2, _moment_se(t, pvpv, pvp, pp, trp)
    raise ValueError(method)  # pragma: no cover - callers pass CLOSED_FORM codes


def scoring_adjust(method, k, p, s1, sy, syy, s2, s2y, s2yy, s3):
    """One ML / REML / EB Fisher-scoring step from weighted moments of (1, y, y²).

    With w = 1/(v + tau2): P y = w (y - mu), y'PPy = sum w²(y - mu)², tr P = S1 - S2/S1 and
    tr PP = S2 - 2 S3/S1 + (S2/S1)², all from seven sums (Sa = sum w^a, Say = sum w^a y, ...) of
    the centred y, so no cancellation worth mentioning occurs. Scalars or one value per group.
    """
    mu = sy / s1
    if method == "EB":
        return ((syy - sy * mu) * k / (k - p) - k) / s1
    ypp = s2yy - 2.0 * mu * s2y + mu * mu * s2
    if method == "ML":
        return (ypp - s1) / s2
    return (ypp - (s1 - s2 / s1)) / _trpp(s1, s2, s3)


def halve_into_space(tau2, adj, tau2_min):
    """metafor's rule: halve a step ``adj`` until tau2 + adj >= tau2_min; returns the step.

    metafor halves in a loop (``while (tau2 + adj < tau2.min) adj <- adj/2``), which from the
    boundary takes about 1075 halvings until the step underflows to -0. Halving is exact in binary
    floating point, so we jump to within two halvings of the answer with ``ldexp`` and finish with
    the loop: the same step, bit for bit. Scalars or one value per group.
    """
    if isinstance(adj, float) and isinstance(tau2, float):  # one meta-analysis: plain floats
        if not tau2 + adj < tau2_min:
            return adj
        gap = tau2 - tau2_min
        if gap < 0:  # outside the space already: metafor's loop would not end
            return -0.0
        # jump to a step still at least 4x the gap (and 4 ulp) in size, so still too large
        gap = max(gap, math.ulp(tau2), math.ulp(tau2_min))
        adj = math.ldexp(adj, -max(0, math.floor(math.log2(-adj) - math.log2(gap)) - 2))
        while tau2 + adj < tau2_min:
            adj /= 2.0
        return adj
    bad = tau2 + adj < tau2_min
    if not np.any(bad):
        return adj
    gap = tau2 - tau2_min
    outside = gap < 0
    gap = np.maximum(np.maximum(gap, np.spacing(np.abs(tau2))), np.spacing(np.abs(tau2_min)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n = np.floor(np.log2(-adj) - np.log2(gap)) - 2.0
    n = np.where(bad & np.isfinite(n), np.maximum(n, 0.0), 0.0).astype(int)
    adj = np.where(outside, -0.0, np.ldexp(adj, -n))
    bad = (tau2 + adj < tau2_min) & ~outside
    while np.any(bad):
        adj = np.where(bad, adj / 2.0, adj)
        bad = tau2 + adj < tau2_min
    return adj


def loglik_from_moments(sumlog, s1, sy, syy, method, log=np.log):
    """ML or REML log-likelihood (without the constant) of the intercept-only model from
    sum(log(v + t)) and the weighted moments S1 = sum w, Sy = sum w y, Syy = sum w y² of the
    centred y at w = 1/(v + t). Only used to compare with the value at tau² = 0 (metafor's
    ll0check, at tolerance 1.2e-4), for which the one-pass residual sum of squares is ample."""
    out = -0.5 * sumlog - 0.5 * (syy - sy * sy / s1)
    if method == "REML":
        out = out - 0.5 * log(s1)
    return out


def loglik_intercept(ymc, v, t, method, m=None):
    """ML or REML log-likelihood (without the constant) of the intercept-only model at tau² = t."""
    w = 1.0 / (v + t) if m is None else m / (v + t)
    wy = w * ymc
    return loglik_from_moments(_msum(np.log(v + t), m), _sum0(w), _sum0(wy), _sum0(wy * ymc), method)


_POW3 = np.array([[1.0], [2.0], [3.0]])


def _moment_rows(ymc):
    """The rows (1, y, y²) of the centred y, so one matrix product gives all weighted moments."""
    A = np.empty((3, ymc.shape[0]))
    A[0] = 1.0
    A[1] = ymc
    np.multiply(ymc, ymc, out=A[2])
    return A


def _moment_matrix(A, v, t):
    """Nested lists ``[[S1, S2, S3], [Sy, S2y, S3y], [Syy, S2yy, S3yy]]`` of plain floats, with
    Sab = sum w^a y^b and w = 1 / (v + t): every moment one scoring step needs, in three numpy
    calls (the hot loop of a single fit)."""
    return A.dot((np.reciprocal(v + t) ** _POW3).T).tolist()


# Up to this many studies a fit runs on Python lists: a numpy call costs about 1 µs whatever its
# size, and a pure-Python pass over a few values costs less than the several calls it replaces.
# Around k = 25 the two break even (measured for the moment loop below).
SCALAR_K = 24


def _moments_py(ys, vs, t):
    """``(S1, S2, S3, Sy, S2y, Syy, S2yy)`` of :func:`_moment_matrix` from lists, in one pass."""
    s1 = s2 = s3 = sy = s2y = syy = s2yy = 0.0
    for y, v in zip(ys, vs):
        w = 1.0 / (v + t)
        w2 = w * w
        wy = w * y
        w2y = w2 * y
        s1 += w
        s2 += w2
        s3 += w2 * w
        sy += wy
        s2y += w2y
        syy += wy * y
        s2yy += w2y * y
    return s1, s2, s3, sy, s2y, syy, s2yy


def _power_sums_py(vs, t):
    """``(S1, S2, S3)`` alone (the standard error needs no y moments)."""
    s1 = s2 = s3 = 0.0
    for v in vs:
        w = 1.0 / (v + t)
        w2 = w * w
        s1 += w
        s2 += w2
        s3 += w2 * w
    return s1, s2, s3


def mad(y, m=None):
    """R's ``mad()`` per column of axis 0 (padding excluded): 1.4826 x median absolute deviation."""
    if m is None:
        med = np.median(y, axis=0)
        return 1.4826 * np.median(np.abs(y - med), axis=0)
    yy = np.where(m > 0, y, np.nan)
    med = np.nanmedian(yy, axis=0)
    return 1.4826 * np.nanmedian(np.abs(yy - med), axis=0)


# --------------------------------------------------------------------------------------------
# Root finding: Brent's method in the variant of R's zeroin (uniroot), so the same function values
# lead to the same iterates and the same returned point as metafor's calls.
# --------------------------------------------------------------------------------------------


def zeroin(f, a: float, b: float, fa: float, fb: float, tol: float, maxiter: int = 1000):
    """Brent's root finder as in R's ``uniroot``; returns ``(root, iterations, converged)``.

    ``fa`` and ``fb`` must have opposite signs (the caller checks the bracket, as uniroot does).
    """
    eps = np.finfo(float).eps
    c, fc = a, fa
    if fa == 0.0:
        return a, 0, True
    if fb == 0.0:
        return b, 0, True
    for it in range(1, maxiter + 2):
        prev_step = b - a
        if abs(fc) < abs(fb):
            # keep b as the best point so far, c on the other side of the root
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * eps * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b, it - 1, True
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # two points: secant step
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:  # three points: inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, maxiter, False


def zeroin_many(f, a, b, fa, fb, tol: float, maxiter: int = 1000):
    """:func:`zeroin` for many brackets at once: the same iterates, step for step, per bracket.

    ``a``, ``b``, ``fa``, ``fb`` are arrays (one bracket each); ``f(x, idx)`` evaluates the
    functions of the brackets ``idx`` (indices into the input arrays) at ``x``. Brackets that have
    converged leave the active set, so the cost follows the slowest ones only. The scalar
    :func:`zeroin` stays for single fits, where numpy's per-call overhead would dominate; this is the
    same algorithm with each branch turned into a mask. Returns ``(roots, iterations, converged)``.
    """
    eps = np.finfo(float).eps
    a, b, fa, fb = (np.array(x, dtype=float, copy=True) for x in (a, b, fa, fb))
    n = a.shape[0]
    root = b.copy()
    iters = np.zeros(n, dtype=np.int64)
    conv = np.zeros(n, dtype=bool)
    za = fa == 0.0
    root[za] = a[za]
    conv[za | (fb == 0.0)] = True
    idx = np.flatnonzero(~conv)
    a, b, fa, fb = a[idx], b[idx], fa[idx], fb[idx]
    c, fc = a.copy(), fa.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for it in range(1, maxiter + 2):
            if idx.size == 0:
                break
            prev = b - a
            swap = np.abs(fc) < np.abs(fb)
            a, b, c = np.where(swap, b, a), np.where(swap, c, b), np.where(swap, b, c)
            fa, fb, fc = np.where(swap, fb, fa), np.where(swap, fc, fb), np.where(swap, fb, fc)
            tol_act = 2.0 * eps * np.abs(b) + tol / 2.0
            new = (c - b) / 2.0
            done = (np.abs(new) <= tol_act) | (fb == 0.0)
            if done.any():
                root[idx[done]] = b[done]
                iters[idx[done]] = it - 1
                conv[idx[done]] = True
                keep = ~done
                idx, a, b, c, fa, fb, fc, prev, tol_act, new = (
                    x[keep] for x in (idx, a, b, c, fa, fb, fc, prev, tol_act, new))
                if idx.size == 0:
                    break
            interp = (np.abs(prev) >= tol_act) & (np.abs(fa) > np.abs(fb))
            cb = c - b
            secant = a == c
            t1 = fb / fa
            q0 = fa / fc
            t1i = fb / fc
            p = np.where(secant, cb * t1, t1 * (cb * q0 * (q0 - t1i) - (b - a) * (t1i - 1.0)))
            q = np.where(secant, 1.0 - t1, (q0 - 1.0) * (t1i - 1.0) * (t1 - 1.0))
            pos = p > 0
            q = np.where(pos, -q, q)
            p = np.where(pos, p, -p)
            accept = interp & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2.0)) & (p < np.abs(prev * q / 2.0))
            new = np.where(accept, p / q, new)
            new = np.where(np.abs(new) < tol_act, np.where(new > 0, tol_act, -tol_act), new)
            a, fa = b, fb
            b = b + new
            fb = np.asarray(f(b, idx), dtype=float)
            flip = ((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0))
            c = np.where(flip, a, c)
            fc = np.where(flip, fa, fc)
    root[idx] = b
    iters[idx] = maxiter
    return root, iters, conv


# --------------------------------------------------------------------------------------------
# The estimators.
# --------------------------------------------------------------------------------------------


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return "EE" if method in _FIXED_EFFECT else method


def _tau2_max(y: np.ndarray, con: dict) -> float:
    if con["tau2_max"] is not None:
        return float(con["tau2_max"])
    return max(100.0, 10.0 * float(mad(y)) ** 2)


def _loglik_diff_zero(ymc, v, X, tau2, method, A=None):
    """log-likelihood at tau² = 0 minus at ``tau2`` (ML or REML), for metafor's ll0check."""

    if type(A) is tuple:  # (centred y, v) as lists: see SCALAR_K
        ys, vs = A
        sl_0 = sl_t = s1_0 = sy_0 = syy_0 = s1_t = sy_t = syy_t = 0.0
        log = math.log
        for y, vi in zip(ys, vs):
            vt = vi + tau2
            w0 = 1.0 / vi
            wt = 1.0 / vt
            sl_0 += log(vi)
            sl_t += log(vt)
            s1_0 += w0
            s1_t += wt
            sy_0 += w0 * y
            sy_t += wt * y
            syy_0 += w0 * y * y
            syy_t += wt * y * y
        return loglik_from_moments(sl_0, s1_0, sy_0, syy_0, method, math.log) - loglik_from_moments(
            sl_t, s1_t, sy_t, syy_t, method, math.log)
    if X is None:
        # both log-likelihoods from one (2 x k) array of v + t, t in (0, tau²)
        vt = v + np.array([[0.0], [tau2]])
        A = _moment_rows(ymc) if A is None else A
        (s1_0, s1_t), (sy_0, sy_t), (syy_0, syy_t) = A.dot(np.reciprocal(vt).T).tolist()
        sl_0, sl_t = np.log(vt).sum(1).tolist()
        return float(loglik_from_moments(sl_0, s1_0, sy_0, syy_0, method)) - float(
            loglik_from_moments(sl_t, s1_t, sy_t, syy_t, method))

    def ll(t):
        w = 1.0 / (v + t)
        rss = _ypy(w, X, ymc)
        out = -0.5 * np.log(v + t).sum() - 0.5 * rss
        if method == "REML":
            if X is None:
                out -= 0.5 * math.log(w.sum())
            else:
                out -= 0.5 * np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
        return out

    return ll(0.0) - ll(tau2)


# Fisher scoring stops when tau² changes by at most metafor's ``threshold`` (1e-5, absolute) or, for
# tau² above about 3e9, where that is finer than a double can resolve (the iterates would dither by
# an ulp for ever), by at most a few units in the last place of tau².
SCORING_RESOLUTION = 16.0 * float(np.finfo(float).eps)


def _fisher_scoring(ymc, v, X, k, p, method, start, fixed, con, A=None):
    """ML / REML / EB by Fisher scoring from ``start``; returns (tau2, iterations, converged).

    ``A``: the rows of :func:`_moment_rows`, or ``(centred y, v)`` as lists (see ``SCALAR_K``).
    """
    tau2 = start if con["tau2_init"] is None else float(con["tau2_init"])
    tau2_min = con["tau2_min"]
    threshold, maxiter, stepadj = con["threshold"], con["maxiter"], con["stepadj"]
    if X is None and A is None:
        A = _moment_rows(ymc)
    lists = type(A) is tuple  # (centred y, v) as lists: see SCALAR_K
    vmin = min(A[1]) if lists else float(v.min())
    change = threshold + 1.0
    it = 0
    while change > threshold:
        it += 1
        old = tau2
        if not vmin + tau2 > 0:
            return tau2, it, False
        if A is not None:
            if lists:
                s1, s2, s3, sy, s2y, syy, s2yy = _moments_py(A[0], A[1], tau2)
            else:
                (s1, s2, s3), (sy, s2y, _), (syy, s2yy, _) = _moment_matrix(A, v, tau2)
            try:
                adj = scoring_adjust(method, k, p, s1, sy, syy, s2, s2y, s2yy, s3)
            except ZeroDivisionError:
                adj = math.nan
        else:
            w = 1.0 / (v + tau2)
            if method == "EB":
                adj = (_ypy(w, X, ymc) * k / (k - p) - k) / w.sum()
            else:
                py, trp, trpp = _py_trp_trpp(w, X, ymc)
                if method == "ML":
                    adj = (py @ py - w.sum()) / (w @ w)
                else:
                    adj = (py @ py - trp) / trpp
        adj = float(adj) * stepadj
        if not math.isfinite(adj):
            adj = 0.0
        # halve a step that would leave the parameter space (metafor's rule)
        if tau2 + adj < tau2_min:
            adj = halve_into_space(float(tau2), adj, float(tau2_min))
        tau2 = fixed if fixed is not None else tau2 + adj
        change = abs(old - tau2)
        if change <= SCORING_RESOLUTION * abs(tau2):
            change = 0.0  # within rounding of tau² itself: no smaller change can be asked for
        if it > maxiter:
            return tau2, it, False
    return tau2, it, True


def _estimate(y, v, X, method, weights=None, fixed=None, con=None, pylists=None) -> Tau2Estimate:
    """tau² and its standard error for validated arrays (the engine behind every public entry);
    ``pylists``: ``(y, v)`` as Python lists when the caller has them already."""
    con = DEFAULT_CONTROL if con is None else con
    k = y.shape[0]
    p = 1 if X is None else X.shape[1]
    nan = float("nan")
    if method == "EE":
        return Tau2Estimate(0.0, nan, True, 0, method)
    if k == 1:
        return Tau2Estimate(0.0 if fixed is None else float(fixed), nan, True, 0, method)
    # metafor centres yi before estimating tau² (it changes nothing when the model has an intercept)
    lists = X is None and k <= SCALAR_K and method in ("ML", "REML", "EB")  # see SCALAR_K
    if lists:
        ys = y.tolist() if pylists is None else pylists[0]
        m = sum(ys) / k
        ys = [a - m for a in ys]
        ymc = None
    else:
        ymc = y - y.sum() / k
    it = 0
    conv = True
    se = nan
    tau2_min = con["tau2_min"]

    if X is None and method in CLOSED_FORM:
        tau2, se = closed_form_intercept(method, ymc, v, k, None, weights, tau2_min, con["tau2_init"], fixed)
    elif method in ("HS", "HSk"):
        w = 1.0 / v
        py, trp, trpp = _py_trp_trpp(w, X, ymc)
        rss = float(ymc @ py)
        if method == "HS":
            tau2 = (rss - k) / w.sum()
        else:
            tau2 = (k / (k - p) * rss - k) / w.sum()
        tau2 = fixed if fixed is not None else tau2
        tau2 = max(tau2_min, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt((2 * (k - p) + 4 * t * trp + 2 * t * t * trpp) / w.sum() ** 2)
        if method == "HSk":
            se *= k / (k - p)
    elif method == "DL":
        w = 1.0 / v
        py, trp, trpp = _py_trp_trpp(w, X, ymc)
        tau2 = (float(ymc @ py) - (k - p)) / trp
        tau2 = fixed if fixed is not None else tau2
        tau2 = max(tau2_min, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt((2 * (k - p) + 4 * t * trp + 2 * t * t * trpp) / trp**2)
    elif method == "GENQ":
        if weights is None:
            raise InputError("method='GENQ' needs weights= (the weights that define Q)")
        P = _pmatrix(weights, X)
        PV = P * v[None, :]
        trp = np.trace(P)
        trpv = np.trace(PV)
        tau2 = (float(ymc @ P @ ymc) - trpv) / trp
        tau2 = fixed if fixed is not None else tau2
        tau2 = max(tau2_min, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            (2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P) + 2 * t * t * np.sum(P * P)) / trp**2
        )
    elif method == "SJ":
        tau2_0 = float(np.mean(ymc * ymc)) if con["tau2_init"] is None else float(con["tau2_init"])
        P = _pmatrix(1.0 / (v + tau2_0), X)
        PV = P * v[None, :]
        tau2 = tau2_0 * float(ymc @ P @ ymc) / (k - p)
        tau2 = fixed if fixed is not None else tau2
        tau2 = max(tau2_min, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            tau2_0**2
            / (k - p) ** 2
            * (2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P) + 2 * t * t * np.sum(P * P))
        )
    elif method in ("PM", "PMM"):
        if fixed is not None:
            tau2 = float(fixed)
        else:
            tau2, it, conv = _paule_mandel(ymc, y, v, X, k, p, method, con)
        tau2 = max(tau2_min, tau2)
        se = iterative_se(method, k, 1.0 / (v + tau2)) if X is None else math.sqrt(
            2 * k * k / (k - p) / (1.0 / (v + tau2)).sum() ** 2)
    elif method in ITERATED:
        if method == "GENQM":
            tau2, se, it, conv = _generalised_q_median(ymc, y, v, X, k, p, weights, fixed, con)
        else:
            tau2, se, it, conv = _iterated_moment(method, ymc, v, X, k, p, fixed, con)
        if not conv:
            return Tau2Estimate(tau2, nan, False, it, method)
    elif X is None and method != "HE":  # ML / REML / EB from the HE starting value
        if lists:
            vs = v.tolist() if pylists is None else pylists[1]
            A = (ys, vs)
            m = sum(ys) / k
            sv = sum(vs)
            he0 = (sum([(a - m) * (a - m) for a in ys]) - (sv - sv / k)) / (k - 1)  # closed_form's HE0
        else:
            A = _moment_rows(ymc)
            he0 = float(closed_form_intercept("HE0", ymc, v, k))
        start = max(0.0, he0, tau2_min)
        tau2, it, conv = _fisher_scoring(ymc, v, X, k, p, method, start, fixed, con, A)
        if not conv:
            return Tau2Estimate(tau2, nan, False, it, method)
        if (
            method in ("ML", "REML")
            and con["ll0check"]
            and fixed is None
            and tau2 > con["threshold"]
            and _loglik_diff_zero(ymc, v, X, tau2, method, A) > con["tol"]
        ):
            tau2 = 0.0  # a local maximum below the boundary value, as in the general branch below
        tau2 = max(tau2_min, tau2)
        s1, s2, s3 = _power_sums_py(A[1], tau2) if type(A) is tuple else _moment_matrix(A, v, tau2)[0]
        se = float(iterative_se_from_sums(method, k, s1, s2, s3))
    else:  # HE, and the starting value of ML / REML / EB
        if X is None:
            rss = float(ymc @ ymc) - k * float(ymc.mean()) ** 2
            trpv = v.sum() - v.sum() / k
            P = None
        else:
            P = _pmatrix(np.ones(k), X)
            rss = float(ymc @ P @ ymc)
            trpv = float(np.sum(np.diag(P) * v))
        tau2 = (rss - trpv) / (k - p)
        tau2 = fixed if fixed is not None else tau2
        if method == "HE":
            tau2 = max(tau2_min, tau2)
            t = max(tau2, 0.0)
            if P is None:
                P = _pmatrix(np.ones(k), X)
            PV = P * v[None, :]
            se = math.sqrt((2 * np.sum(PV * PV.T) + 4 * t * trpv + 2 * t * t * (k - p)) / (k - p) ** 2)
        else:
            start = max(0.0, tau2, tau2_min)
            tau2, it, conv = _fisher_scoring(ymc, v, X, k, p, method, start, fixed, con)
            if not conv:
                return Tau2Estimate(tau2, nan, False, it, method)
            if (
                method in ("ML", "REML")
                and con["ll0check"]
                and fixed is None
                and _loglik_diff_zero(ymc, v, X, tau2, method) > con["tol"]
                and tau2 > con["threshold"]
            ):
                # Fisher scoring stopped at a local maximum below the boundary value (metafor
                # warns and sets tau² = 0 in the same case)
                tau2 = 0.0
            tau2 = max(tau2_min, tau2)
            w = 1.0 / (v + tau2)
            if method == "ML":
                se = math.sqrt(2.0 / (w @ w))
            elif method == "REML":
                se = math.sqrt(2.0 / _py_trp_trpp(w, X, ymc)[2])
            else:
                se = math.sqrt(2 * k * k / (k - p) / w.sum() ** 2)
    return Tau2Estimate(float(tau2), float(se), bool(conv), int(it), method)


def iterative_se(method, k, w):
    """Standard error of tau² from the weights w = 1/(v + tau²) (0 on padding), intercept-only.

    ML: sqrt(2 / sum w²); REML: sqrt(2 / tr PP); EB, PM, PMM: sqrt(2 k² / (k - 1) / (sum w)²), as
    metafor.
    """
    w2 = w * w
    return iterative_se_from_sums(method, k, _sum0(w), _sum0(w2), _sum0(w2 * w))


def iterative_se_from_sums(method, k, s1, s2, s3):
    """:func:`iterative_se` from the power sums S1, S2, S3 of the weights."""
    if method in ("EB", "PM", "PMM"):
        return np.sqrt(2.0 * k * k / (k - 1) / (s1 * s1))
    if method == "ML":
        return np.sqrt(2.0 / s2)
    return np.sqrt(2.0 / _trpp(s1, s2, s3))


def _paule_mandel(ymc, y, v, X, k, p, method, con):
    """Root of Q(tau²) = k - p (PM) or its chi-square median (PMM), by uniroot as in metafor."""
    if method == "PMM":
        from scipy.special import chdtri

        target = float(chdtri(k - p, 0.5))
    else:
        target = float(k - p)
    tau2_min = con["tau2_min"]
    tau2_max = _tau2_max(y, con)

    def f(t):
        return _ypy(1.0 / (v + t), X, ymc) - target

    f_lo = f(tau2_min)
    if f_lo < 0:
        return tau2_min, 0, True
    f_hi = f(tau2_max)
    if f_hi > 0:
        return tau2_max, 0, False
    root, it, conv = zeroin(f, tau2_min, tau2_max, f_lo, f_hi, con["tol"], con["maxiter"])
    return root, it, conv


# metafor 3.8's further estimators: DerSimonian-Laird and Sidik-Jonkman iterated to their fixed
# points, and the median-unbiased generalised Q estimator.
ITERATED = ("DLIT", "SJIT", "GENQM")


def _residual_q(w, X, ymc):
    """(y'Py, tr P, sum(P*P)) at weights ``w``: closed forms without moderators."""
    if X is None:
        s1, _, q = _wq(w, ymc)
        w2 = w * w
        s2 = _add_reduce(w2)
        return float(q), float(s1 - s2 / s1), float(_trpp(s1, s2, _add_reduce(w2 * w)))
    py, trp, trpp = _py_trp_trpp(w, X, ymc)
    return float(ymc @ py), float(trp), float(trpp)


def _iterated_moment(method, ymc, v, X, k, p, fixed, con):
    """``DLIT`` or ``SJIT``: the DL or SJ estimate recomputed with the weights of the previous
    value until tau² changes by at most ``threshold`` (metafor's loop, limit and starting values:
    0 for DLIT, the SJ start for SJIT). Returns ``(tau2, se, iterations, converged)``.

    The standard errors are metafor's: for DLIT the DL formula at the weights of the last step
    (the weights 1/(vi + tau²) of the value before the last); for SJIT the Paule-Mandel one.
    """
    threshold, maxiter, tau2_min = con["threshold"], con["maxiter"], con["tau2_min"]
    if con["tau2_init"] is not None:
        tau2 = float(con["tau2_init"])
    else:
        tau2 = 0.0 if method == "DLIT" else float(ymc @ ymc) / k
    df = k - p
    vmin = float(v.min())
    change = threshold + 1.0
    it = 0
    trp = trpp = math.nan
    while change > threshold:
        it += 1
        old = tau2
        if not vmin + tau2 > 0:  # a weight would be infinite or negative (metafor stops too)
            return tau2, math.nan, it, False
        rss, trp, trpp = _residual_q(1.0 / (v + tau2), X, ymc)
        if fixed is not None:
            tau2 = float(fixed)
        elif method == "DLIT":
            tau2 = (rss - df) / trp
        else:
            tau2 = tau2 * rss / df
        if method == "DLIT" and tau2 < tau2_min:
            tau2 = tau2_min
        change = abs(old - tau2)
        if change <= SCORING_RESOLUTION * abs(tau2):
            change = 0.0  # within rounding of tau² itself (see SCORING_RESOLUTION)
        if it > maxiter:
            return tau2, math.nan, it, False
    tau2 = max(tau2_min, tau2)
    t = max(tau2, 0.0)
    if method == "DLIT":
        se = math.sqrt((2.0 * df + 4.0 * t * trp + 2.0 * t * t * trpp) / (trp * trp))
    else:
        s1 = float(_add_reduce(1.0 / (v + tau2)))
        se = math.sqrt(2.0 * k * k / df / (s1 * s1))
    return tau2, se, it, True


def _genq_eigenvalues(P, v, t, keep):
    """The ``keep`` largest eigenvalues of S P S, S = diag(sqrt(vi + t)): the weights of the
    chi-square(1) variables whose sum the generalised Q is distributed as at tau² = t."""
    s = np.sqrt(v + t)
    return np.linalg.eigvalsh(s[:, None] * P * s[None, :])[::-1][:keep]


def _generalised_q_median(ymc, y, v, X, k, p, weights, fixed, con):
    """``GENQM``: the tau² at which the observed generalised Q is the median of its distribution
    (Jackson 2013's median-unbiased estimator; metafor's root search on [tau2_min, tau2_max] by
    uniroot). Returns ``(tau2, se, iterations, converged)``; the standard error is GENQ's."""
    if weights is None:
        raise InputError("method='GENQM' needs weights= (the weights that define Q)")
    P = _pmatrix(weights, X)
    q = float(ymc @ P @ ymc)
    keep = k - p
    it, conv = 0, True
    if fixed is not None:
        tau2 = float(fixed)
    else:
        def below(t):  # P(Q_t > q), Q_t the generalised Q at tau² = t
            return _upper_tail_quadform(q, _genq_eigenvalues(P, v, t, keep))

        tau2_min = con["tau2_min"]
        tau2_max = _tau2_max(y, con)
        f_lo = below(tau2_min)
        if f_lo > 0.5:
            tau2 = tau2_min
        else:
            f_hi = below(tau2_max)
            if f_hi < 0.5:
                return tau2_max, math.nan, 0, False
            tau2, it, conv = zeroin(lambda t: 0.5 - below(t), tau2_min, tau2_max, 0.5 - f_lo, 0.5 - f_hi,
                                    con["tol"], con["maxiter"])
            if not conv:
                return tau2, math.nan, it, False
    tau2 = max(con["tau2_min"], tau2)
    t = max(tau2, 0.0)
    PV = P * v[None, :]
    trp = float(np.trace(P))
    se = math.sqrt((2 * np.sum(PV * PV.T) + 4 * t * np.sum(PV * P) + 2 * t * t * np.sum(P * P)) / trp**2)
    return tau2, se, it, conv


def estimate_with_remedies(y, v, X, method, weights=None, fixed=None, control=None, pylists=None) -> Tau2Estimate:
    """:func:`_estimate`, then metafor's documented remedies, then a :class:`ConvergenceError`.

    The remedies are those metafor's help for ``rma`` suggests: for Fisher scoring a halved step
    length (``stepadj``) with more iterations; for Paule-Mandel a larger search interval
    (``tau2.max``).
    """
    con = make_control(control)
    est = _estimate(y, v, X, method, weights, fixed, con, pylists)
    if est.converged:
        return est
    tried = [_describe(method, con)]
    retry = dict(con)
    if method in ("ML", "REML", "EB"):
        retry["stepadj"] = con["stepadj"] / 2.0
        retry["maxiter"] = max(1000, 10 * con["maxiter"])
    elif method in ("DLIT", "SJIT"):
        retry["maxiter"] = max(1000, 10 * con["maxiter"])
    else:
        retry["tau2_max"] = 100.0 * _tau2_max(y, con)
        retry["maxiter"] = max(1000, 10 * con["maxiter"])
    est = _estimate(y, v, X, method, weights, fixed, retry)
    if est.converged:
        # the user's settings did not give this estimate: say so (metafor stops or warns here)
        import warnings

        warnings.warn(f"the {method} estimator of tau² did not converge with "
                      f"{_describe(method, con)}; the estimate is from metafor's remedy, "
                      f"{_describe(method, retry)}", RuntimeWarning, stacklevel=_caller_level())
        return est
    tried.append(_describe(method, retry))
    raise ConvergenceError(
        f"the {method} estimator of tau² did not converge; tried "
        + "; then ".join(tried)
        + ". Try another method (e.g. 'DL' or 'PM'), or pass control= with a larger maxiter"
    )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside this package, so that a warning names the
    user's line (the estimators are reached through pool, meta_regression, permutation tests...)."""
    import os
    import sys

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _describe(method, con):
    u = _unit(con)  # bounds in the user's units when the data were scaled
    if method in ("DLIT", "SJIT"):
        return f"the {method[:2]} estimate iterated with maxiter={con['maxiter']}, threshold={con['threshold']}"
    if method in ("PM", "PMM", "GENQM"):
        tmax = "max(100, 10*mad^2)" if con["tau2_max"] is None else float(con["tau2_max"]) * u
        return f"a root search on [{float(con['tau2_min']) * u}, {tmax}]"
    units = "" if u == 1.0 else f" (in units of {u:.3g} for tau²)"
    return (
        f"Fisher scoring with stepadj={con['stepadj']}, maxiter={con['maxiter']}, "
        f"threshold={con['threshold']}{units}"
    )


# Below this a variance's squared reciprocal (a Fisher-scoring moment) overflows a double.
VI_MIN = 1e-150


def _clean_arrays(yi, vi, sei):
    """``(y, v)`` as float arrays when they may be clean (1-D, same length, vi given), for the fast
    paths of the validators below; else None (the study-by-study checks then run)."""
    if sei is not None or vi is None:
        return None
    try:
        y = np.asarray(yi, dtype=float)
        v = np.asarray(vi, dtype=float)
    except (TypeError, ValueError):
        return None
    if y.ndim == 1 and v.shape == y.shape and 0 < y.shape[0]:
        return y, v
    return None


def _parse_yi_vi(yi, vi, sei, labels):
    """The study-by-study checks shared by :func:`validate_yi_vi` and :func:`_prepare`:
    ``(y, v, name, given)`` with ``name`` "vi" or "sei" and ``given`` the array the user gave (the
    variances, or the standard errors whose squares ``v`` holds). Refused with an InputError naming
    the study: a missing or infinite value, one vi (or sei) for several yi is repeated, lengths that
    differ, no studies, a variance (or standard error) <= 0."""
    y = as_float_array(yi, "yi")
    if vi is None and sei is None:
        raise InputError("give the sampling variances vi= or the standard errors sei=")
    if vi is not None and sei is not None:
        raise InputError("give either vi= or sei=, not both")
    if vi is not None:
        v = as_float_array(vi, "vi")
        name = "vi"
    else:
        s = as_float_array(sei, "sei")
        name = "sei"
        with np.errstate(over="ignore", under="ignore"):
            v = s * s
    if v.shape[0] == 1 and y.shape[0] > 1:
        v = np.repeat(v, y.shape[0])
        if name == "sei":
            s = np.repeat(s, y.shape[0])
    k = same_length(yi=y, **{name: v})
    if k == 0:
        raise InputError("no studies: yi is empty")
    given = v if name == "vi" else s
    bad = np.flatnonzero(~(given > 0))
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"{_scaling._who(name, i, labels, '')} is {float(given[i])!r}; sampling "
            "variances must be positive" + (f" ({len(bad) - 1} more such studies)" if len(bad) > 1 else "")
        )
    return y, v, name, given


def validate_yi_vi(yi, vi=None, sei=None):
    """Arrays ``y`` and ``v`` checked study by study (finite, positive variances), for the models
    fitted in the user's units (meta-regression, subgroups); :func:`~metaanalysis.pool` and
    :func:`tau2_estimate` use :func:`prepare_yi_vi`, which fits extreme data in other units."""
    clean = _clean_arrays(yi, vi, sei)
    if clean is not None:
        # fast path for clean input: three reductions instead of the per-study checks below
        y, v = clean
        if y.shape[0] <= SCALAR_K:  # on lists: see SCALAR_K
            vs = v.tolist()
            if math.isfinite(sum(y.tolist())) and math.isfinite(sum(vs)) and min(vs) >= VI_MIN:
                return y, v
        elif math.isfinite(_add_reduce(y)) and math.isfinite(_add_reduce(v)) and _min_reduce(v) >= VI_MIN:
            return y, v
    y, v, name, given = _parse_yi_vi(yi, vi, sei, None)
    tiny = np.flatnonzero(v < VI_MIN)
    if len(tiny):
        i = int(tiny[0])
        raise InputError(
            f"{name} at index {i} is {float(given[i])!r}: variances "
            f"below {VI_MIN:g} overflow the weights' squares; rescale the effect sizes"
        )
    return y, v


def prepare_yi_vi(yi, vi=None, sei=None, labels=None, allow_shift: bool = True):
    """``(y, v, scale)`` for :func:`~metaanalysis.pool` and :func:`tau2_estimate`: see :func:`_prepare`."""
    return _prepare(yi, vi, sei, labels, allow_shift)[:3]


def _prepare(yi, vi=None, sei=None, labels=None, allow_shift: bool = True):
    """``(y, v, scale, lists)``: the arrays checked study by study, the
    :class:`~metaanalysis.pooling._scaling.Scale` in which extreme data are fitted (None for the
    ordinary range, where nothing is scaled), and, for small k in the ordinary range, ``(y, v)`` as
    Python lists (the fit reuses them: see ``SCALAR_K``), else None.

    Refused with an :class:`InputError` naming the study (by index, and by label when ``labels`` is
    given): a missing or infinite yi or vi, a variance <= 0, a standard error whose square is not a
    normal double, and data beyond the limits of :mod:`metaanalysis.pooling._scaling` (variances
    spanning more than 1e150, effects spread over more than 1e75 standard errors, variances above
    1e300, effects spread over more than 1e150).
    """
    clean = _clean_arrays(yi, vi, sei)
    if clean is not None:
        # fast path for clean input in the ordinary range: a few reductions, no per-study checks
        y, v = clean
        if y.shape[0] <= SCALAR_K:  # on lists: see SCALAR_K
            ys, vs = y.tolist(), v.tolist()
            if _scaling.in_ordinary_range_lists(ys, vs):
                return y, v, None, (ys, vs)
        elif _scaling.in_ordinary_range_quick(y, v):
            return y, v, None, None
    y, v, name, given = _parse_yi_vi(yi, vi, sei, labels)
    if name == "sei":
        out = np.flatnonzero(~(v >= _scaling.SMALLEST_NORMAL) | ~np.isfinite(v))
        if len(out):
            i = int(out[0])
            raise InputError(
                f"{_scaling._who('sei', i, labels, '')} is {float(given[i])!r}: its square (the variance) is "
                f"{'beyond the largest double' if not np.isfinite(v[i]) else 'below the smallest normal double (2.2e-308)'}; "
                "give vi= instead, or rescale: divide yi and sei by a power of 10"
            )
    problem = _scaling.limit_problem(y, v, labels, "", "vi" if name == "vi" else "sei² (the variance)")
    if problem is not None:
        raise InputError(problem[1])
    return y, v, _scaling.plan(y, v, allow_shift, labels), None


def check_weights(weights, k: int) -> np.ndarray:
    """Custom weights (``weights=`` of :func:`~metaanalysis.pool`, the weights of ``GENQ``): finite,
    >= 0, not all zero, one per study; scaled by a power of two when their size is extreme (nothing
    that uses them depends on their scale)."""
    a = as_float_array(weights, "weights")
    same_length(yi=np.empty(k), weights=a)
    bad = np.flatnonzero(a < 0)
    if len(bad):
        raise InputError(f"weights at index {int(bad[0])} is negative; weights must be >= 0")
    if not (a > 0).any():
        raise InputError("weights are all zero; at least one study needs a positive weight")
    return _scaling.normalise_weights(a)


def tau2_estimate(yi, vi=None, method: str = "REML", *, sei=None, mods=None, weights=None, control=None):
    """Estimate the between-study variance tau² by one of metafor's estimators.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and their sampling variances (or ``sei=`` standard errors), one per study.
    method : str
        ``EE``/``FE`` (tau² = 0), ``DL``, ``HE``, ``HS``, ``HSk``, ``SJ``, ``ML``, ``REML``, ``EB``,
        ``PM``, ``PMM`` or ``GENQ`` (needs ``weights``).
    mods : array_like, optional
        Design matrix (k x p, including the intercept column) for residual heterogeneity.
    weights : array_like, optional
        The weights defining the generalised Q statistic of ``GENQ``.
    control : dict, optional
        metafor's control options: ``tau2_init``, ``tau2_min``, ``tau2_max``, ``threshold``,
        ``tol``, ``maxiter``, ``stepadj``, ``ll0check``.

    Returns
    -------
    Tau2Estimate
        ``(tau2, se, converged, iterations, method)``.

    Examples
    --------
    >>> est = tau2_estimate([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03], method="REML")
    >>> est.converged, round(est.tau2, 5)
    (True, 0.03158)
    """
    method = _check_method(method)
    X = None if mods is None else as_float_array(mods, "mods", ndim=2)
    y, v, scale = prepare_yi_vi(yi, vi, sei, allow_shift=X is None)
    w = None if weights is None else check_weights(weights, y.shape[0])
    p = 1 if X is None else X.shape[1]
    if method != "EE" and y.shape[0] > 1 and p + 1 > y.shape[0]:
        raise InputError(f"{method} needs more studies than model coefficients + 1; k={y.shape[0]}, p={p}")
    if scale is None:
        return estimate_with_remedies(y, v, X, method, w, None, control)
    ys, vs = scale.apply(y, v)
    u = scale.unit
    est = estimate_with_remedies(ys, vs, X, method, w, None, scaled_control(control, u))
    return Tau2Estimate(est.tau2 * u, est.se * u, est.converged, est.iterations, est.method)


# --------------------------------------------------------------------------------------------
# Confidence interval for tau² by inverting the (generalised) Q statistic.
# --------------------------------------------------------------------------------------------


def q_profile_ci(y, v, X, level: float, tau2_hat: float, control=None):
    """Q-profile interval for tau² (Viechtbauer 2007) as metafor's ``confint(type="QP")``.

    Returns ``(lower, upper)``; a bound equal to the search limit means the interval reaches it.
    """
    from scipy.special import chdtri

    con = make_control(control)
    k = y.shape[0]
    p = 1 if X is None else X.shape[1]
    df = k - p
    if df < 1:
        return float("nan"), float("nan")
    alpha = 1.0 - level / 100.0
    crit_u = float(chdtri(df, alpha / 2))
    crit_l = float(chdtri(df, 1 - alpha / 2))
    lo = min(0.0, tau2_hat)
    hi = max(100.0, 10.0 * tau2_hat, 10.0 * lo)
    tol = con["tol"]

    def q(t):
        return _ypy(1.0 / (v + t), X, y)

    q_lo, q_hi = q(lo), q(hi)
    lower = upper = float("nan")
    if q_lo < crit_l:
        lower = upper = lo
    else:
        if q_hi > crit_l:
            upper = hi
        else:
            r, _, _ = zeroin(lambda t: q(t) - crit_l, lo, hi, q_lo - crit_l, q_hi - crit_l, tol, 1000)
            upper = r
    if q_hi > crit_u:
        lower = upper = hi
    else:
        if q_lo < crit_u:
            lower = lo
        else:
            r, _, _ = zeroin(lambda t: q(t) - crit_u, lo, hi, q_lo - crit_u, q_hi - crit_u, tol, 1000)
            lower = r
    if lower > upper:
        return _refine(q_profile_ci, (y, v, X, level, tau2_hat), con, (float(lower), float(upper)))
    return float(lower), float(upper)


def _refine(ci_function, args, con, found):
    """An interval whose bounds crossed: they lie closer together than uniroot's absolute ``tol``
    (tau² tiny in the user's units), so both are found again to machine precision. metafor
    returns the crossed bounds; a lower bound above the upper one is no interval."""
    if con["tol"] <= 0:
        return found
    return ci_function(*args, _Control({**con, "tol": 0.0}))


def _upper_tail_quadform(q: float, lam: np.ndarray) -> float:
    """P(sum lam_j chi2_1 > q), always in [0, 1]: Imhof's (1961) integral, with Ruben's series
    (Farebrother's method, metafor's) and Liu-Tang-Zhang's approximation as fallbacks when a method
    reports that it failed (see :mod:`metaanalysis.pooling._quadform`)."""
    from ._quadform import upper_tail

    return upper_tail(q, lam)


def generalised_q_ci(y, v, X, weights, level: float, tau2_hat: float, control=None):
    """Interval for tau² by inverting the generalised Q statistic with weights ``weights``.

    As metafor's ``confint(type="GENQ")`` (Jackson 2013): Q_a = y'P_a y is a weighted sum of
    chi-square(1) variables with weights the eigenvalues of S P_a S, S = diag(sqrt(vi + tau²)).
    metafor evaluates the distribution with Farebrother's algorithm; we use Imhof's inversion
    formula, accurate to about 1e-12 (checked against chi-square, a direct convolution and exact
    hypoexponential tails), falling back to Ruben's series (Farebrother's method) and then to
    Liu-Tang-Zhang's approximation if it fails; the probability is always in [0, 1].
    """
    con = make_control(control)
    k = y.shape[0]
    p = 1 if X is None else X.shape[1]
    if k - p < 1:
        return float("nan"), float("nan")
    P = _pmatrix(_scaling.normalise_weights(np.asarray(weights, float)), X)
    Q = float(y @ P @ y)
    half = (1.0 - level / 100.0) / 2.0
    lo = min(0.0, tau2_hat)
    hi = max(100.0, 10.0 * tau2_hat, 10.0 * lo)

    def tail(t):
        s = np.sqrt(v + t)
        lam = np.linalg.eigvalsh(s[:, None] * P * s[None, :])[::-1][: k - p]
        return _upper_tail_quadform(Q, lam)

    t_lo, t_hi = tail(lo), tail(hi)
    tol = con["tol"]
    lower = upper = float("nan")
    if t_lo > 1 - half:
        lower = upper = lo
    else:
        if t_hi < 1 - half:
            upper = hi
        else:
            f = lambda t: (1 - tail(t)) - half  # noqa: E731
            upper = zeroin(f, lo, hi, (1 - t_lo) - half, (1 - t_hi) - half, tol, 1000)[0]
    if t_hi < half:
        lower = upper = hi
    else:
        if t_lo > half:
            lower = lo
        else:
            f = lambda t: tail(t) - half  # noqa: E731
            lower = zeroin(f, lo, hi, t_lo - half, t_hi - half, tol, 1000)[0]
    if lower > upper:
        return _refine(generalised_q_ci, (y, v, X, weights, level, tau2_hat), con, (float(lower), float(upper)))
    return float(lower), float(upper)


# --------------------------------------------------------------------------------------------
# The other intervals of metafor's confint() for tau²: profile likelihood and Wald-type.
# --------------------------------------------------------------------------------------------

CI_TYPES = ("QP", "GENQ", "PL", "Wald", "Wald.log", "Wald.sqrt")


def _loglik(y, v, X, t, reml: bool) -> float:
    """ML or REML log-likelihood at tau² = t without its constants, residuals in two passes (the
    profile interval's root search differences it near its maximum)."""
    vt = v + t
    w = 1.0 / vt
    if X is None:
        s1 = float(_add_reduce(w))
        r = y - float(w @ y) / s1
        out = -0.5 * float(_add_reduce(np.log(vt))) - 0.5 * float(w @ (r * r))
        return out - 0.5 * math.log(s1) if reml else out
    out = -0.5 * float(np.log(vt).sum()) - 0.5 * _ypy(w, X, y)
    if reml:
        out -= 0.5 * float(np.linalg.slogdet(X.T @ (X * w[:, None]))[1])
    return out


def _user_bound(control, name):
    """A tau² bound the user set in ``control`` (either spelling), else None."""
    if not control:
        return None
    for key in (name, name.replace("_", ".")):
        if key in control and control[key] is not None:
            return float(control[key])
    return None


def profile_likelihood_ci(y, v, X, level: float, tau2_hat: float, method: str, control=None):
    """Profile-likelihood interval for tau², as metafor's ``confint(type="PL")``.

    The bounds are the values of tau² where the likelihood-ratio statistic -2 (ll(tau²) - ll(fit))
    reaches the chi-square(1) quantile at ``level``; ll is the restricted likelihood for a REML fit
    and the ordinary one for any other estimator (as metafor's ``logLik``), and the model at a
    given tau² has its coefficients by weighted least squares. metafor searches [tau2_min, tau²]
    and [tau², tau2_max] with uniroot (tolerance eps^0.25, at most 1000 iterations); a bound at the
    end of its range means the interval reaches it. Returns ``(lower, upper)``.
    """
    from scipy.special import chdtri

    con = make_control(control)
    reml = method == "REML"
    tau2_min = _user_bound(control, "tau2_min")
    tau2_min = min(0.0, tau2_hat) if tau2_min is None else tau2_min
    tau2_max = _user_bound(control, "tau2_max")
    tau2_max = max(100.0, 10.0 * tau2_hat, 10.0 * tau2_min) if tau2_max is None else tau2_max
    if tau2_min > tau2_hat or tau2_max < tau2_hat:
        raise InputError(f"the search range [{tau2_min}, {tau2_max}] for the profile-likelihood interval "
                         f"must contain the estimate tau2 = {tau2_hat}")
    objective = float(chdtri(1, 1.0 - level / 100.0))
    ll_hat = _loglik(y, v, X, tau2_hat, reml)
    vmin = float(v.min())

    def f(t):
        if not vmin + t > 0:
            return math.nan
        return -2.0 * (_loglik(y, v, X, t, reml) - ll_hat) - objective

    tol, nan = con["tol"], float("nan")
    f_hat = f(tau2_hat)
    lower = upper = nan
    f_lo = f(tau2_min)
    if math.isfinite(f_lo):
        if f_lo < 0:
            lower = tau2_min
        elif f_hat <= 0:
            root, _, ok = zeroin(f, tau2_min, tau2_hat, f_lo, f_hat, tol, 1000)
            lower = root if ok else nan
    f_hi = f(tau2_max)
    if math.isfinite(f_hi):
        if f_hi < 0:
            upper = tau2_max
        elif f_hat <= 0:
            root, _, ok = zeroin(f, tau2_hat, tau2_max, f_hat, f_hi, tol, 1000)
            upper = root if ok else nan
    return float(lower), float(upper)


def _r_max(a: float, b: float) -> float:
    """R's ``max``: nan when either is nan."""
    return float("nan") if math.isnan(a) or math.isnan(b) else max(a, b)


def wald_ci(tau2_hat: float, se: float, level: float, kind: str = "Wald", tau2_min: float = 0.0):
    """Wald-type intervals for tau² from its standard error, as metafor's ``confint(type=...)``.

    ``"Wald"``: tau² -/+ z se, the lower bound raised to ``tau2_min`` (0 unless set in control);
    ``"Wald.log"``: on the log scale (se of log tau² = se / tau², the delta method), the upper bound
    at least tau²; ``"Wald.sqrt"``: on the scale of tau (se / (2 tau)), the lower bound of tau at
    least 0. At tau² = 0 the last two degenerate as in metafor: ``(0, nan)`` and ``(0, inf)``
    (both nan when the standard error is 0 too).
    """
    from .._base import zcrit

    z = zcrit(level)
    nan = float("nan")
    if not (math.isfinite(tau2_hat) and math.isfinite(se)):
        return nan, nan
    if kind == "Wald":
        return max(tau2_min, tau2_hat - z * se), tau2_hat + z * se
    if tau2_hat < 0:
        return nan, nan
    # IEEE arithmetic as in R: at tau² = 0 the scale factor se / tau² is inf (or nan when se = 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "Wald.log":
            lt, s = np.log(tau2_hat), np.float64(se) / tau2_hat
            return float(np.exp(lt - z * s)), _r_max(tau2_hat, float(np.exp(lt + z * s)))
        if kind == "Wald.sqrt":
            tau = np.sqrt(tau2_hat)
            s = np.float64(se) / (2.0 * tau)
            return _r_max(0.0, float(tau - z * s)) ** 2, float(tau + z * s) ** 2
    raise InputError(f"unknown Wald interval type {kind!r}; valid: Wald, Wald.log, Wald.sqrt")
