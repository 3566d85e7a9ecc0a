"""Location-scale models: moderators of the effect and of the heterogeneity (metafor's
``rma(yi, vi, mods = ..., scale = ...)``).

The model is ``y_i ~ N(x_i' beta, v_i + tau²_i)`` with ``log tau²_i = z_i' alpha`` (or, with
the identity link, ``tau²_i = z_i' alpha`` constrained to be >= 0): the
between-study variance itself depends on study characteristics (is heterogeneity larger among
second-line trials, or in trials with open-label assessment?). ``beta`` is the generalised
least-squares estimate given the ``tau²_i``; ``alpha`` maximises the restricted (REML) or full (ML)
likelihood, here by Fisher scoring then Newton steps on the exact gradient and Hessian, with an
active set of studies held at tau² = 0 under the identity link (metafor uses a general-purpose
optimiser, a barrier method for the identity link, and a numerical Hessian). The standard errors of ``alpha`` come
from the inverse of the observed information, as metafor's.

References
----------
Viechtbauer W, López-López JA (2022). Location-scale models for meta-analysis. Research Synthesis
Methods 13:697-715.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import chdtrc, fdtrc

from .._base import ResultMixin, check_level, fmt, jsonable, readonly
from ..errors import ConvergenceError, InputError
from . import tau2 as _tau2
from ._print import p_equals
from .core import critical_value, two_sided_p

__all__ = ["rma_ls", "LocationScaleResult"]

_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True, eq=False, repr=False)
class LocationScaleResult(ResultMixin):
    """A fitted location-scale model (metafor's ``rma.ls``).

    Location: ``coef``, ``se``, ``statistic``, ``pvalue``, ``ci_low``, ``ci_high`` (named by
    ``coef_names``) and their test ``qm``. Scale (log tau², or tau² with ``link="identity"``):
    ``alpha`` ... ``alpha_ci_high`` (named by ``alpha_names``), their covariance ``alpha_vcov``
    and test ``qs``. As metafor's, each test takes every coefficient but the intercept, or the
    intercept where it stands alone (then ``qm`` is its z² or t²). ``tau2`` holds each study's
    between-study variance, ``exp(z_i' alpha)`` or ``z_i' alpha``.
    """

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef_names: tuple
    vcov: np.ndarray
    alpha: np.ndarray
    alpha_se: np.ndarray
    alpha_statistic: np.ndarray
    alpha_pvalue: np.ndarray
    alpha_ci_low: np.ndarray
    alpha_ci_high: np.ndarray
    alpha_names: tuple
    alpha_vcov: np.ndarray
    tau2: np.ndarray
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df: int
    qm_df2: float | None
    qm_pvalue: float
    qs: float
    qs_df: int
    qs_df2: float | None
    qs_pvalue: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    k: int
    method: str
    test: str
    level: float
    iterations: int
    labels: tuple = ()
    measure: str | None = None
    link: str = "log"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for name in ("coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "vcov", "alpha",
                     "alpha_se", "alpha_statistic", "alpha_pvalue", "alpha_ci_low",
                     "alpha_ci_high", "alpha_vcov", "tau2"):
            getattr(self, name).setflags(write=False)

    def to_dict(self) -> dict:
        keys = ("coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "coef_names", "alpha",
                "alpha_se", "alpha_statistic", "alpha_pvalue", "alpha_ci_low", "alpha_ci_high",
                "alpha_names", "tau2", "qe", "qe_df", "qe_pvalue", "qm", "qm_df", "qm_df2",
                "qm_pvalue", "qs", "qs_df", "qs_df2", "qs_pvalue", "loglik", "deviance", "aic",
                "bic", "aicc", "k", "method", "test", "level", "iterations", "measure", "link")
        return jsonable({key: getattr(self, key) for key in keys})

    def to_frame(self):
        """One row per coefficient, location then scale: part, estimate, se, statistic, pvalue,
        ci_low, ci_high."""
        import pandas as pd

        rows = []
        for part, names, est, se, st, pv, lo, hi in (
                ("location", self.coef_names, self.coef, self.se, self.statistic, self.pvalue,
                 self.ci_low, self.ci_high),
                ("scale", self.alpha_names, self.alpha, self.alpha_se, self.alpha_statistic,
                 self.alpha_pvalue, self.alpha_ci_low, self.alpha_ci_high)):
            for j, name in enumerate(names):
                rows.append({"part": part, "term": name, "estimate": est[j], "se": se[j],
                             "statistic": st[j], "pvalue": pv[j], "ci_low": lo[j],
                             "ci_high": hi[j]})
        return pd.DataFrame(rows).set_index(["part", "term"])

    def confint(self, level: float | None = None):
        """Profile-likelihood confidence intervals of the scale coefficients (metafor's
        ``confint.rma.ls``).

        Each bound is the value of ``alpha_j`` at which the likelihood-ratio statistic, with the
        model refitted with ``alpha_j`` held there and every other coefficient at its best,
        reaches the chi-square(1) quantile. The (restricted) likelihood of the fit is used, as
        for the estimate. Unlike the Wald intervals (``alpha_ci_low``, ``alpha_ci_high``) these
        need no standard error, so they exist under the identity link with a tau² at 0 too.

        Parameters
        ----------
        level : float, optional
            Default the fit's.

        Returns
        -------
        pandas.DataFrame
            One row per scale coefficient (``alpha_names``): ``estimate``, ``ci_low``,
            ``ci_high``. A bound is -inf or inf when the statistic never reaches the quantile on
            that side: the likelihood levels off below it, as when a group's log tau² heads to
            minus infinity (metafor then reports the end of the range it searched, marked ``<``
            or ``>``, or NA). Under the identity link the values a coefficient can take with
            every tau² >= 0 end at 0 or not at all; a bound of exactly 0 is that end.

        Examples
        --------
        >>> import metaanalysis as ma
        >>> bcg = ma.load_bcg()
        >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
        >>> res = ma.rma_ls(es.yi, es.vi, scale="~ ablat", data=bcg)
        >>> [round(float(x), 4) for x in res.confint().loc["ablat"]]   # estimate, ci_low, ci_high
        [-0.0002, -0.1222, 0.1288]
        """
        import pandas as pd

        lvl = self.level if level is None else check_level(level)
        rows = []
        for j, name in enumerate(self.alpha_names):
            lo, hi = _alpha_interval(self, j, lvl)
            rows.append({"term": name, "estimate": float(self.alpha[j]), "ci_low": lo,
                         "ci_high": hi})
        return pd.DataFrame(rows).set_index("term")

    def profile(self, alpha=None, *, xlim=None, steps: int = 20, lltol: float = 1e-3):
        """The (restricted) log-likelihood over one scale coefficient, the other coefficients at
        their best for each value (metafor's ``profile.rma.ls``).

        A peaked profile whose top is the estimate says the coefficient is identified; a flat
        one, or one still rising at the end of the range, says the data hardly inform it (as for
        a group whose log tau² heads to minus infinity).

        Parameters
        ----------
        alpha : str or int, optional
            The coefficient: its name in ``alpha_names`` or, as metafor's ``alpha=``, its
            position counted from 1. Needed when the scale has more than one coefficient.
        xlim : (float, float), optional
            The range. By default, as metafor, the estimate +/- 2.576 standard errors (without
            a standard error: +/- 4 times the estimate).
        steps : int
            Number of values (at least 2), evenly spaced over ``xlim``.
        lltol : float
            Tolerance of the check that no value beats the fit's log-likelihood.

        Returns
        -------
        ProfileResult
            ``grid`` and ``ll``, with the location coefficients and their intervals (the fit's
            test and level) at each value. Under the identity link a value at which no tau² >= 0
            can be had has ``ll`` NaN (metafor: NA). :func:`metaanalysis.plots.profile_plot`
            draws it.

        Examples
        --------
        >>> import metaanalysis as ma
        >>> bcg = ma.load_bcg()
        >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
        >>> res = ma.rma_ls(es.yi, es.vi, scale="~ ablat", data=bcg)
        >>> prof = res.profile("ablat", steps=5)
        >>> [round(float(x), 4) for x in prof.xlim], bool(prof.higher)
        ([-0.1809, 0.1805], False)
        """
        from .diagnostics import ProfileResult, _above_the_fit, profile_args

        j = self._alpha_position(alpha)
        steps, given = profile_args(steps, xlim)
        est = float(self.alpha[j])
        if given is None:
            se = float(self.alpha_se[j])
            half = 4 * abs(est) if math.isnan(se) else float(critical_value(99, None)) * se
            lo, hi = est - half, est + half
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
                raise InputError("the range cannot be set automatically; give xlim=(low, high)")
        else:
            lo, hi = given
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise InputError(f"xlim must be two finite numbers; got {xlim!r}")
        grid = np.linspace(lo, hi, steps)
        y, v, X, Z, reml, _ = self._cache["data"]
        p = X.shape[1]
        df = None if self.test == "z" else float(self.k - p)
        crit = float(critical_value(self.level, df))
        ll = np.full(steps, math.nan)
        beta, ci_low, ci_high = (np.full((steps, p), math.nan) for _ in range(3))
        # from the estimate outwards on each side, each value's refit started from its
        # neighbour's coefficients (see _profile_alpha)
        order = sorted(range(steps), key=lambda i: (grid[i] < est, abs(grid[i] - est)))
        near = {True: None, False: None}
        for i in order:
            side = bool(grid[i] < est)
            try:
                with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                    value, a = _profile_alpha(self, j, float(grid[i]), near[side])
            except (ConvergenceError, np.linalg.LinAlgError):
                continue
            if not math.isfinite(value):
                continue
            near[side] = a
            ll[i] = value
            r = _pieces(a, y, v, X, Z, reml, self.link)
            b = r[4]
            se_b = np.sqrt(np.diag(_location_vcov(r[5], self.test, y, X, b, v, r[6])))
            beta[i], ci_low[i], ci_high[i] = b, b - crit * se_b, b + crit * se_b
        higher = _above_the_fit(ll[np.isfinite(ll)], float(self.loglik), lltol)
        name = self.alpha_names[j]
        what = "log tau\u00b2" if self.link == "log" else "tau\u00b2"
        return ProfileResult(f"alpha.{j + 1}", f"scale coefficient {name} ({what})", grid, ll,
                             beta, ci_low, ci_high, tuple(self.coef_names), est,
                             float(self.loglik), self.method, self.method == "REML",
                             (float(lo), float(hi)), higher)

    def predict(self, newmods=None, newscale=None, *, intercept: bool = True, transf=None,
                level: float | None = None):
        """Predicted effects, or predicted (log) tau², as metafor's ``predict.rma.ls``.

        - no arguments: each study's fitted value, its prediction interval with the study's own
          tau² (``tau2``);
        - ``newmods``: the location at those moderator values; with ``newscale`` too, the
          prediction interval with the tau² the scale model gives there (one ``newscale`` row is
          used for every ``newmods`` row); without it, no prediction interval (NaN);
        - ``newscale`` alone: the scale's linear predictor, log tau² (log link; ``transf=np.exp``
          gives tau² and its interval) or tau² (identity link: negative values set to 0, with a
          warning, as metafor), with its confidence interval.

        Moderator values leave out the intercept column (``intercept=False`` sets it to 0; for
        ``newscale`` alone as well, else the scale's intercept is 1). One moderator: a vector
        is one value per prediction; several: one row per prediction.

        Returns
        -------
        pandas.DataFrame
            ``pred``, ``se``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (t quantiles on
            k - p, or k - q for the scale, df with ``test="t"`` or ``"knha"``); with ``transf``
            the values are transformed and ``se`` is NaN.

        Examples
        --------
        >>> import numpy as np, metaanalysis as ma
        >>> bcg = ma.load_bcg()
        >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
        >>> res = ma.rma_ls(es.yi, es.vi, mods="~ ablat", scale="~ ablat", data=bcg)
        >>> tau2 = res.predict(newscale=[20, 50], transf=np.exp)   # tau² at 20 and 50 degrees
        >>> [round(float(x), 4) for x in tau2["pred"]]
        [0.0775, 0.0758]
        """
        import pandas as pd

        from .core import _transform

        level = self.level if level is None else check_level(level)
        y, v, X, Z, reml, _ = self._cache["data"]
        k, p, q = self.k, X.shape[1], Z.shape[1]

        def rows(new, names, what, icpt):
            m = len(names) - (names[0] == "intrcpt")
            if m == 0:
                raise InputError(f"the {what} has no moderators: nothing to give {what}= for")
            a = np.asarray(new, dtype=float)
            a = a.reshape(-1, 1) if (m == 1 and a.ndim <= 1) else np.atleast_2d(a)
            if a.shape[1] != m:
                raise InputError(f"{'newmods' if what == 'location' else 'newscale'} needs {m} "
                                 f"value(s) per prediction ({', '.join(names[-m:])}); got "
                                 f"{a.shape[1]}")
            if names[0] == "intrcpt":
                a = np.column_stack([np.full(len(a), 1.0 if icpt else 0.0), a])
            return a

        pi_t2 = None
        if newmods is None and newscale is None:
            Xn, pi_t2, location = X, np.asarray(self.tau2, dtype=float), True
        elif newmods is None:
            Zn, location = rows(newscale, self.alpha_names, "scale", intercept), False
        else:
            Xn, location = rows(newmods, self.coef_names, "location", intercept), True
            if newscale is not None:
                Zn = rows(newscale, self.alpha_names, "scale", True)
                pi_t2 = Zn @ np.asarray(self.alpha, dtype=float)
                if self.link == "log":
                    pi_t2 = np.exp(pi_t2)
                else:
                    _warn_negative_tau2(pi_t2)
                    pi_t2 = np.maximum(pi_t2, 0.0)
                if len(pi_t2) == 1:
                    pi_t2 = np.repeat(pi_t2, len(Xn))
                if len(pi_t2) != len(Xn):
                    raise InputError(f"newscale has {len(pi_t2)} rows for {len(Xn)} rows of "
                                     "newmods (give one, or one per row)")
        if location:
            est, cov, df = np.asarray(self.coef), np.asarray(self.vcov), float(k - p)
            design = Xn
        else:
            est, cov, df = np.asarray(self.alpha), np.asarray(self.alpha_vcov), float(k - q)
            design = Zn
        pred = design @ est
        with np.errstate(invalid="ignore"):
            vpred = np.einsum("ij,jk,ik->i", design, cov, design)
            vpred = np.where(vpred < 0, math.nan, vpred)
            se = np.sqrt(vpred)
        crit = float(critical_value(level, None if self.test == "z" else df))
        out = {"pred": pred, "se": se, "ci_low": pred - crit * se, "ci_high": pred + crit * se}
        if pi_t2 is None:
            out["pi_low"] = out["pi_high"] = np.full(len(pred), math.nan)
        else:
            half = crit * np.sqrt(vpred + pi_t2)
            out["pi_low"], out["pi_high"] = pred - half, pred + half
        f = _transform(transf)
        if f is not None:
            for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high"):
                out[key] = np.asarray(f(np.asarray(out[key], dtype=float)), dtype=float)
            out["se"] = np.full(len(pred), math.nan)
            # a decreasing transformation swaps the bounds (metafor sorts them)
            for lo, hi in (("ci_low", "ci_high"), ("pi_low", "pi_high")):
                out[lo], out[hi] = np.fmin(out[lo], out[hi]), np.fmax(out[lo], out[hi])
        elif not location and self.link == "identity":
            _warn_negative_tau2(out["pred"])
            for key in ("pred", "ci_low", "ci_high"):
                out[key] = np.maximum(out[key], 0.0)
        return pd.DataFrame(out)

    def _alpha_position(self, alpha) -> int:
        names = list(self.alpha_names)
        if alpha is None:
            if len(names) == 1:
                return 0
            raise InputError(f"give alpha=, the scale coefficient to profile: one of {names} "
                             f"(or its position, 1 to {len(names)})")
        if isinstance(alpha, str):
            if alpha not in names:
                raise InputError(f"alpha={alpha!r} is not a scale coefficient; the scale has "
                                 f"{names}")
            return names.index(alpha)
        if isinstance(alpha, (int, np.integer)) and not isinstance(alpha, bool) \
                and 1 <= alpha <= len(names):
            return int(alpha) - 1
        raise InputError(f"alpha must be a name in {names} or a position from 1 to "
                         f"{len(names)} (as metafor's); got {alpha!r}")

    def _short(self) -> str:
        return (f"{self.method} k={self.k} location={len(self.coef)} scale={len(self.alpha)} "
                f"QS={fmt(self.qs)}")

    def _table(self, names, est, se, st, pv, lo, hi) -> list:
        stat = "zval" if self.test == "z" else "tval"
        width = max(len(n) for n in names)
        lines = [f"{'':{width}} {'estimate':>9} {'se':>8} {stat:>8} {'pval':>8} {'ci.lb':>8} "
                 f"{'ci.ub':>8}"]
        for j, n in enumerate(names):
            lines.append(f"{n:{width}} {fmt(est[j]):>9} {fmt(se[j]):>8} {fmt(st[j]):>8} "
                         f"{p_equals(pv[j]).lstrip('= '):>8} {fmt(lo[j]):>8} {fmt(hi[j]):>8}")
        return lines

    def _test_line(self, name, q, df, df2, p) -> str:
        if df2 is None:
            return f"{name}(df = {df}) = {fmt(q)}, p-val {p_equals(p)}"
        return f"F{name[-1]}(df1 = {df}, df2 = {df2:g}) = {fmt(q)}, p-val {p_equals(p)}"

    def summary(self) -> str:
        out = ["", f"Location-Scale Model (k = {self.k}; tau^2 estimator: {self.method})", "",
               f"logLik = {fmt(self.loglik)}, AIC = {fmt(self.aic)}, BIC = {fmt(self.bic)}", "",
               "Test for Residual Heterogeneity:",
               f"QE(df = {self.qe_df}) = {fmt(self.qe)}, p-val {p_equals(self.qe_pvalue)}", ""]
        # metafor prints a part's test only for more than one coefficient (alone, it is the
        # coefficient's own z or t)
        if len(self.coef_names) > 1:
            out += ["Test of Location Coefficients:",
                    self._test_line("QM", self.qm, self.qm_df, self.qm_df2, self.qm_pvalue), ""]
        out += ["Model Results (Location):", ""]
        out += self._table(self.coef_names, self.coef, self.se, self.statistic, self.pvalue,
                           self.ci_low, self.ci_high)
        out.append("")
        if len(self.alpha_names) > 1:
            out += ["Test of Scale Coefficients:",
                    self._test_line("QS", self.qs, self.qs_df, self.qs_df2, self.qs_pvalue), ""]
        out += [f"Model Results (Scale, {'log tau^2' if self.link == 'log' else 'tau^2'}):", ""]
        out += self._table(self.alpha_names, self.alpha, self.alpha_se, self.alpha_statistic,
                           self.alpha_pvalue, self.alpha_ci_low, self.alpha_ci_high)
        return "\n".join(out) + "\n"


def _pieces(alpha, y, v, X, Z, reml, link="log"):
    """The likelihood, its gradient and Hessian in alpha, and the GLS fit given alpha."""
    t = np.exp(Z @ alpha) if link == "log" else Z @ alpha
    m = v + t
    w = 1.0 / m
    XW = X * w[:, None]
    A = X.T @ XW
    Ainv = np.linalg.inv(A)
    P = np.diag(w) - XW @ Ainv @ XW.T
    Py = P @ y
    k, p = X.shape
    ll = -0.5 * float(np.sum(np.log(m))) - 0.5 * float(y @ Py)
    if reml:
        ll += (-0.5 * (k - p) * _LOG2PI + 0.5 * float(np.linalg.slogdet(X.T @ X)[1])
               - 0.5 * float(np.linalg.slogdet(A)[1]))
        Q = P
    else:
        ll += -0.5 * k * _LOG2PI
        Q = np.diag(w)
    # derivatives in tau²_i, then the chain rule: d tau²_i / d alpha is z_i t_i (log link) or z_i
    dt = t if link == "log" else np.ones(k)
    Zt = Z * dt[:, None]
    grad = -0.5 * Zt.T @ np.diag(Q) + 0.5 * Zt.T @ (Py**2)
    info = 0.5 * Zt.T @ (Q * Q) @ Zt  # expected information (Fisher scoring)
    Zty = Z * (dt * Py)[:, None]
    if link == "log":  # with the second derivative of exp(z'alpha)
        hess = (info - 0.5 * Z.T @ (Z * (np.diag(Q) * t)[:, None]) - Zty.T @ P @ Zty
                + 0.5 * Z.T @ (Z * (t * Py**2)[:, None]))
    else:
        hess = info - Zty.T @ P @ Zty
    beta = Ainv @ (XW.T @ y)
    return ll, grad, info, hess, beta, Ainv, t


def _halving(alpha, step, factor, ll, args):
    """The step (from ``factor`` times it, halved up to 50 times) that does not lower the
    likelihood: ``(alpha, pieces, factor)``, or None when none is found."""
    for _ in range(50):
        cand = alpha + factor * step
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                new = _pieces(cand, *args)
        except np.linalg.LinAlgError:  # a step so long that the weights overflow: shorter
            factor /= 2
            continue
        if np.isfinite(new[0]) and new[0] >= ll - 1e-12 * abs(ll):
            return cand, new, factor
        factor /= 2
    return None


def _fit_log(alpha, y, v, X, Z, reml, con, fixed=None, limit=False):
    """Newton steps (Fisher scoring where the observed information is not positive definite)
    with step halving, from ``alpha`` to the maximum of the likelihood; log link. The
    coefficients marked in ``fixed`` stay where ``alpha`` has them (a profile). With ``limit``
    a free coefficient heading to minus infinity (some tau² to 0) is no error: the likelihood
    reached there, within e^-40 of its supremum in that direction, is returned."""
    free = np.ones(len(alpha), bool) if fixed is None else ~np.asarray(fixed, bool)
    sub = np.ix_(free, free)
    state = _pieces(alpha, y, v, X, Z, reml)
    ll, grad, info, hess, *_ = state
    it = 0

    def at_limit():
        # some study's tau² is gone to 0 (relative to its sampling variance)
        return limit and float(np.min(state[6] / v)) < 1e-12

    for it in range(1, int(con["maxiter"]) + 1):
        step = np.zeros(len(alpha))
        if not free.any():
            return alpha, state, it
        try:
            np.linalg.cholesky(-hess[sub])
            step[free] = np.linalg.solve(-hess[sub], grad[free])
        except np.linalg.LinAlgError:
            try:
                step[free] = np.linalg.solve(info[sub], grad[free])
            except np.linalg.LinAlgError:
                if at_limit():
                    return alpha, state, it
                break  # no information left: a tau² has run to 0
        if not np.all(np.isfinite(step)):
            break
        if limit:
            # on a profile, far from the estimate: at most a factor e^5 in any tau² per step, so
            # that a step cannot leap onto the plateau where every tau² is ~0 and stall there
            reach = float(np.max(np.abs(Z @ step)))
            if reach > 5.0:
                step *= 5.0 / reach
        found = _halving(alpha, step, 1.0, ll, (y, v, X, Z, reml, "log"))
        if found is None:
            if at_limit():
                return alpha, state, it
            break
        ll_before = ll
        alpha, state, factor = found
        ll, grad, info, hess, *_ = state
        if float(np.max(np.abs(factor * step))) < con["tol"]:
            return alpha, state, it
        if limit:
            if at_limit() and ll - ll_before <= 1e-13 * max(1.0, abs(ll)):
                return alpha, state, it  # the likelihood has levelled off towards its limit
        elif float(np.min(Z @ alpha - np.log(v))) < -40:  # (log tau², without exp's underflow)
            # a study's tau² heading to 0 (below e^-40 of its sampling variance): the scale's
            # estimate does not exist. (Not a coefficient below -40: an uncentred moderator such
            # as the year gives an intercept of -61 with every log tau² near -3)
            break
    raise ConvergenceError(
        f"rma_ls: the scale coefficients did not converge after {it} iterations (alpha = "
        f"{np.round(alpha, 3).tolist()}); a group of studies without heterogeneity sends "
        "its log tau² to minus infinity: simplify scale= (or use link='identity', where a tau² "
        "of 0 is a value like any other)")


def _fit_identity(alpha, y, v, X, Z, reml, con, fixed=None):
    """Maximise the likelihood subject to every tau²_i = z_i'alpha >= 0; identity link.

    An active-set Newton method: steps stay inside the feasible region, a step that would take a
    study's tau² below 0 stops on that edge and holds it there (the constraint becomes active),
    and at a stationary point a constraint whose Lagrange multiplier says the likelihood rises
    inside the region is let go. metafor uses a barrier method (``constrOptim``), which reaches
    the same point less precisely. Returns alpha, the pieces there, the iterations and which
    studies' tau² is held at 0. The coefficients marked in ``fixed`` stay where ``alpha`` (which
    must give every study a tau² >= 0) has them (a profile).
    """
    from scipy.linalg import null_space

    k, q = Z.shape
    held = np.eye(q)[np.zeros(q, bool) if fixed is None else np.asarray(fixed, bool)]
    tiny = 1e-12 * float(np.mean(v))
    active = np.zeros(k, bool)
    state = _pieces(alpha, y, v, X, Z, reml, "identity")
    it = 0
    for it in range(1, int(con["maxiter"]) + 1):
        ll, grad, info, hess = state[:4]
        N = null_space(np.vstack([Z[active], held])) if active.any() or len(held) else np.eye(q)
        step = np.zeros(q)
        if N.shape[1]:
            h, g = N.T @ hess @ N, N.T @ grad
            try:
                np.linalg.cholesky(-h)
                step = N @ np.linalg.solve(-h, g)
            except np.linalg.LinAlgError:
                try:
                    step = N @ np.linalg.solve(N.T @ info @ N, g)
                except np.linalg.LinAlgError:
                    break
        if not np.all(np.isfinite(step)):
            break
        zs, tz = Z @ step, Z @ alpha
        block = ~active & (zs < 0)
        reach = float(np.min(-tz[block] / zs[block])) if block.any() else math.inf
        found = _halving(alpha, step, min(1.0, reach), ll, (y, v, X, Z, reml, "identity"))
        if found is None:
            break
        alpha, state, factor = found
        if factor == reach:  # stopped on an edge: hold the studies there at exactly 0
            active |= ~active & (Z @ alpha <= tiny)
            A = Z[active]
            # the correction moves alpha only within what is free (the null space of the held)
            Nh = null_space(held) if len(held) else np.eye(q)
            alpha = alpha - Nh @ np.linalg.lstsq(A @ Nh, A @ alpha, rcond=None)[0]
            state = _pieces(alpha, y, v, X, Z, reml, "identity")
            continue
        if float(np.max(np.abs(factor * step))) < con["tol"]:
            if not active.any():
                return alpha, state, it, active
            # Karush-Kuhn-Tucker: grad + A'lambda = 0 with lambda >= 0 at a maximum; a negative
            # multiplier means the likelihood rises by moving that tau² above 0
            # (a held coefficient's multiplier may have either sign)
            lam = np.linalg.lstsq(np.vstack([Z[active], held]).T, -state[1],
                                  rcond=None)[0][: int(active.sum())]
            scale = max(1.0, float(np.max(np.abs(state[1]))))
            if float(np.min(lam)) >= -1e-8 * scale:
                return alpha, state, it, active
            free = np.flatnonzero(active)[int(np.argmin(lam))]
            active &= ~np.all(Z == Z[free], axis=1)
    raise ConvergenceError(f"rma_ls: the scale coefficients (identity link) did not converge "
                           f"after {it} iterations (alpha = {np.round(alpha, 6).tolist()})")


def rma_ls(yi, vi=None, mods=None, scale=None, *, sei=None, data=None, method: str = "REML",
           test: str = "z", level: float = 95, link: str = "log", control: dict | None = None,
           labels=None, measure: str | None = None) -> LocationScaleResult:
    """Location-scale meta-regression, as metafor's ``rma(yi, vi, mods = ..., scale = ...)``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (or ``sei=``).
    mods : array_like, DataFrame or str, optional
        Moderators of the effect (location), as in :func:`metaanalysis.meta_regression`; none
        for an intercept-only location.
    scale : array_like, DataFrame or str
        Moderators of log tau² (scale), in the same forms (``"~ line"``); an intercept is added
        unless the formula removes it.
    data : DataFrame, optional
        Holds the columns the formulas name.
    method : {"REML", "ML"}
    test : {"z", "t", "knha"}
        ``"t"``: t tests on k - p (location) and k - q (scale) df, F tests of both sets;
        ``"knha"``: as ``"t"``, with the location's standard errors scaled by Knapp and Hartung's
        factor (the weighted residual variance).
    level : float
    link : {"log", "identity"}
        ``"log"`` (metafor's default): ``log tau²_i = z_i' alpha``, so every tau² is positive
        and a group without heterogeneity has no finite estimate. ``"identity"``:
        ``tau²_i = z_i' alpha``, fitted subject to every study's tau² >= 0; a tau² estimated at
        0 is then a value like any other, but the scale's standard errors and tests are not
        given there (a warning says so; metafor reports NA).
    control : dict, optional
        ``maxiter`` (default 200) and ``tol`` (default 1e-10, on the Newton step).
    labels : sequence of str, optional
    measure : str, optional

    Returns
    -------
    LocationScaleResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = rma_ls(es.yi, es.vi, mods="~ ablat", scale="~ alloc", data=bcg)
    >>> [round(float(a), 4) for a in res.alpha]    # metafor: rma(..., scale = ~ alloc)$alpha
    [-3.0288, -0.047, 1.1903]
    """
    from .core import check_measure
    from .regression import design_matrix

    if method not in ("REML", "ML"):
        raise InputError(f"method must be 'REML' or 'ML' for a location-scale model; got "
                         f"{method!r}")
    if test not in ("z", "t", "knha"):
        raise InputError(f"test must be 'z', 't' or 'knha' for a location-scale model; got "
                         f"{test!r}")
    if link not in ("log", "identity"):
        raise InputError(f"link must be 'log' (metafor's default) or 'identity'; got {link!r}")
    if scale is None:
        raise InputError("give scale= (the moderators of tau², such as '~ alloc'); without them "
                         "use meta_regression()")
    level = check_level(level)
    measure = check_measure(measure)
    y, v = _tau2.validate_yi_vi(yi, vi, sei)
    k = len(y)
    if mods is None:
        X, xnames = np.ones((k, 1)), ("intrcpt",)
    else:
        X, xnames, _ = design_matrix(mods, data=data, intercept=True, k=k)
    Z, znames, _ = design_matrix(scale, data=data, intercept=True, k=k)
    p, q = X.shape[1], Z.shape[1]
    if k <= p + q - (1 if method == "ML" else 0) or k <= p:
        raise InputError(f"{p} location and {q} scale coefficients cannot be estimated from "
                         f"k = {k} studies")
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != k:
            raise InputError(f"labels has {len(labels)} entries for k = {k} studies")
    con = {"maxiter": 200, "tol": 1e-10, **(control or {})}
    return _fit_ls(y, v, X, tuple(xnames), Z, tuple(znames), method, test, level, link, con,
                   labels, measure)


def _fit_ls(y, v, X, xnames, Z, znames, method, test, level, link, con, labels, measure,
            stacklevel=3, limit=False):
    """rma_ls on its design matrices (also the ML refit of anova(..., refit=True)). With
    ``limit`` (permutest's refits) a group's log tau² heading to minus infinity is followed to
    its limit, as on a profile, instead of raising: the location is then the limit's, and the
    scale's standard errors there are NaN where its information has run out."""
    k, p, q = len(y), X.shape[1], Z.shape[1]
    reml = method == "REML"
    from .core import fit_rma

    # start: the intercept-only random-effects tau² on the scale's intercept (or spread over a
    # scale without one by least squares)
    start = fit_rma(y, v, None if p == 1 else X, "REML" if reml else "ML", "z", 95.0)
    t0 = max(float(start.tau2), 0.01 * float(np.mean(v)))
    if link == "log":
        alpha = np.linalg.lstsq(Z, np.full(k, math.log(t0)), rcond=None)[0]
        alpha, state, it = _fit_log(alpha, y, v, X, Z, reml, con, limit=limit)
        at_zero = np.zeros(k, bool)
    else:
        alpha = np.linalg.lstsq(Z, np.full(k, t0), rcond=None)[0]
        if np.any(Z @ alpha <= 0):
            raise InputError("link='identity' needs a scale design that can give every study the "
                             "same positive tau² (an intercept, or a column for every level)")
        alpha, state, it, at_zero = _fit_identity(alpha, y, v, X, Z, reml, con)
    ll, grad, info, hess, beta, vb, t = state  # the last accepted step's pieces
    import warnings

    if link == "log" and float(np.min(t)) < 1e-8 * float(np.min(v)):
        # the likelihood is flat towards tau² = 0: the point reached is one of many
        warnings.warn("rma_ls: some studies' tau² is essentially 0 (log tau² heading to minus "
                      "infinity); the scale coefficients and their standard errors are not "
                      "identified there (metafor reports them with the same problem)",
                      RuntimeWarning, stacklevel=stacklevel)
    if at_zero.any():
        # on the edge of the parameter space the Wald standard errors do not apply
        warnings.warn(f"rma_ls: tau² is 0 at the estimate for {int(at_zero.sum())} of {k} studies "
                      "(the edge of the identity link's parameter space); the scale coefficients' "
                      "standard errors, tests and intervals are not given (metafor's are NA too)",
                      RuntimeWarning, stacklevel=stacklevel)
        t = np.where(at_zero, 0.0, t)
        va = np.full((q, q), math.nan)
    else:
        try:
            va = np.linalg.inv(-hess)
        except np.linalg.LinAlgError:
            if not limit:
                raise ConvergenceError("rma_ls: the information of the scale coefficients is "
                                       "singular (a scale moderator that does not vary?)") from None
            va = np.full((q, q), math.nan)
    va = (va + va.T) / 2
    vb = _location_vcov(vb, test, y, X, beta, v, t)
    se = np.sqrt(np.diag(vb))
    with np.errstate(invalid="ignore"):  # a flat direction (see the warning above): NaN
        se_a = np.sqrt(np.diag(va))
    df_loc = None if test == "z" else float(k - p)
    df_sca = None if test == "z" else float(k - q)
    stat, stat_a = beta / se, alpha / se_a
    pval = np.asarray(two_sided_p(stat, df_loc), dtype=float)
    pval_a = np.asarray(two_sided_p(stat_a, df_sca), dtype=float)
    crit, crit_a = critical_value(level, df_loc), critical_value(level, df_sca)

    qm, qm_df, qm_df2, qm_p = _wald(beta, vb, _tested(xnames), df_loc)
    qs, qs_df, qs_df2, qs_p = _wald(alpha, va, _tested(znames), df_sca)
    if at_zero.any() and qs_df:
        qs = qs_p = math.nan
    # residual heterogeneity: the moderators' fit with the sampling variances only
    w0 = 1.0 / v
    XW0 = X * w0[:, None]
    r0 = y - X @ np.linalg.solve(X.T @ XW0, XW0.T @ y)
    qe = float(np.sum(w0 * r0**2))
    parms = p + q
    n = k - p if reml else k
    if reml:
        dev = -2 * ll
    else:
        dev = -2 * (ll - float(np.sum(-0.5 * np.log(2 * math.pi * v))))
    aic = -2 * ll + 2 * parms
    bic = -2 * ll + parms * math.log(n)
    nn = max(n, parms + 2)
    aicc = -2 * ll + 2 * parms * nn / (nn - parms - 1)
    return LocationScaleResult(
        beta, se, stat, pval, beta - crit * se, beta + crit * se, tuple(xnames), vb,
        alpha, se_a, stat_a, pval_a, alpha - crit_a * se_a, alpha + crit_a * se_a,
        tuple(znames), va, t, qe, k - p, float(chdtrc(k - p, qe)), qm, qm_df, qm_df2, qm_p,
        qs, qs_df, qs_df2, qs_p, float(ll), float(dev), float(aic), float(bic), float(aicc), k,
        method, test, float(level), it,
        labels or tuple(f"Study {i + 1}" for i in range(k)), measure, link,
        {"data": tuple(readonly(a) for a in (y, v, X, Z)) + (reml, dict(con))})


def _warn_negative_tau2(values) -> None:
    """predict()'s warning (metafor's) where an identity-link tau² comes out negative."""
    if np.any(np.asarray(values) < 0):
        import warnings

        warnings.warn("negative predicted tau² set to 0 (as metafor)", RuntimeWarning,
                      stacklevel=3)


def _location_vcov(vb, test, y, X, beta, v, t):
    """The location's covariance given tau² ``t``: with Knapp-Hartung (``test="knha"``) scaled
    by the weighted residual variance."""
    if test != "knha":
        return vb
    k, p = X.shape
    return vb * float(np.sum((y - X @ beta) ** 2 / (v + t))) / (k - p)


def _tested(names) -> list:
    """metafor's default btt / att: every coefficient but the intercept, or the intercept when
    it stands alone (so an intercept-only part is tested, as z² or t² on 1 df)."""
    return [j for j, n in enumerate(names) if n != "intrcpt"] or list(range(len(names)))


def _wald(est, cov, idx, df2, m=None) -> tuple:
    """(statistic, df1, df2, p-value) of the Wald test of ``est[idx]``: chi-square, or F on
    (``m``, ``df2``) df when ``df2`` is given; ``m`` (default ``len(idx)``) is the number of
    coefficients the test is of (more than ``idx`` where some contribute nothing)."""
    m = len(idx) if m is None else m
    b = est[idx]
    qv = float(b @ np.linalg.solve(cov[np.ix_(idx, idx)], b)) if len(idx) else 0.0
    if df2 is None:
        return qv, m, None, float(chdtrc(m, qv))
    qv /= m
    return qv, m, df2, float(fdtrc(m, df2, qv))


def _profile_alpha(res, j: int, value: float, near=None) -> tuple:
    """The (restricted) log-likelihood with scale coefficient ``j`` held at ``value`` and the
    others at their best, and the coefficients there: ``(ll, alpha)``; ``ll`` is NaN where no
    tau² >= 0 can be had under the identity link. ``near``: the coefficients of a nearby
    profile point, tried as a start beside the estimate."""
    y, v, X, Z, reml, con = res._cache["data"]
    fixed = np.zeros(len(res.alpha), bool)
    fixed[j] = True
    free = ~fixed
    starts = [np.array(res.alpha, dtype=float)]
    if near is not None:
        starts.append(np.array(near, dtype=float))
    for start in starts:
        # the free coefficients take up what they can of the change in alpha_j (least squares
        # on the studies' tau²), so a start far out is as near the profile as the last point
        shift = Z[:, j] * (value - start[j])
        if free.any():
            start[free] -= np.linalg.lstsq(Z[:, free], shift, rcond=None)[0]
        start[j] = value
    if res.link == "log":
        best = (-math.inf, starts[0])
        for start in starts:
            try:
                alpha = _fit_log(start, y, v, X, Z, reml, con, fixed, limit=True)[0]
            except ConvergenceError:
                alpha = start
            best = max(best, _polish_log(alpha, ~fixed, y, v, X, Z, reml), key=lambda r: r[0])
        return best
    # identity: the starts above where they give every tau² >= 0, and one inside the region
    # (every tau² > 0 if possible) by a linear programme that maximises the smallest tau²; no
    # start at all means no model at this value
    from scipy.optimize import linprog

    q = int(free.sum())
    tiny = 1e-12 * float(np.mean(v))
    feasible = [st for st in starts if float(np.min(Z @ st)) >= -tiny]
    if q:
        # maximise s subject to Z_free a + Z_j value >= s, s <= mean(v) (bounded)
        A = np.hstack([-Z[:, free], np.ones((len(y), 1))])
        lp = linprog(np.r_[np.zeros(q), -1.0], A_ub=A, b_ub=Z[:, j] * value,
                     bounds=[(None, None)] * q + [(None, float(np.mean(v)))], method="highs")
        # (a start with some tau² exactly 0 is allowed: at the region's edge there is no other)
        if lp.status == 0 and lp.x[-1] >= -tiny:
            st = starts[0].copy()
            st[free] = lp.x[:q]
            feasible.append(st)
    elif np.all(Z[:, j] * value >= -tiny):
        feasible.append(starts[0])
    best = (math.nan, starts[0])
    for st in feasible:
        try:
            alpha, state = _fit_identity(st.copy(), y, v, X, Z, reml, con, fixed)[:2]
        except ConvergenceError:
            continue
        if math.isfinite(state[0]) and (math.isnan(best[0]) or state[0] > best[0]):
            best = (float(state[0]), alpha)
    return best


def _polish_log(alpha, free, y, v, X, Z, reml) -> tuple:
    """Quasi-Newton steps (BFGS, exact gradient) on the free coefficients from ``alpha``:
    ``(ll, alpha)``. Newton's method from the estimate can stall far out on a profile, where
    the held coefficient puts some tau² many orders of magnitude from the others."""
    from scipy.optimize import minimize

    def negll(a):
        full = alpha.copy()
        full[free] = a
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                ll, grad = _pieces(full, y, v, X, Z, reml)[:2]
        except np.linalg.LinAlgError:
            return math.inf, np.zeros(int(free.sum()))
        if not np.isfinite(ll):
            return math.inf, np.zeros(int(free.sum()))
        return -ll, -grad[free]

    start_ll = -negll(alpha[free])[0]
    if not free.any():
        return start_ll, alpha
    fit = minimize(negll, alpha[free], jac=True, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 2000})
    if np.isfinite(fit.fun) and -fit.fun > start_ll:
        out = alpha.copy()
        out[free] = fit.x
        return float(-fit.fun), out
    return start_ll, alpha


def _alpha_interval(res, j: int, level: float) -> tuple:
    """The profile-likelihood interval of scale coefficient ``j`` (see
    :meth:`LocationScaleResult.confint`)."""
    from scipy.optimize import brentq
    from scipy.special import chdtri

    target = float(chdtri(1, 1 - level / 100))
    est = float(res.alpha[j])

    solved: dict = {}  # value -> the coefficients there: nearby starts along the search

    def f(value):
        near = solved[min(solved, key=lambda x: abs(x - value))] if solved else None
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                ll, alpha = _profile_alpha(res, j, value, near)
        except (ConvergenceError, np.linalg.LinAlgError):
            return math.nan
        if math.isfinite(ll):
            solved[value] = alpha
        return -2 * (ll - res.loglik) - target

    # the steps out: from a sixteenth of metafor's search range (10 Wald standard errors, or
    # 10 |alpha_j|), doubled until the statistic passes the quantile
    se = float(res.alpha_se[j])
    z = float(critical_value(res.level, None))
    width = 10 * abs(est) if not math.isfinite(se) else min(10 * abs(est), 10 * z * se)
    if not width > 0:
        width = 1.0
    Z = res._cache["data"][3]
    # under the log link, beyond a change of 100 in some study's log tau² (a factor of e^100)
    # the likelihood has levelled off: the interval is open on that side
    reach = 100.0 / max(float(np.max(np.abs(Z[:, j]))), 1e-300)
    out = []
    for sign in (-1.0, 1.0):
        if res.link == "identity" and not _beyond_zero(Z, j, sign):
            # every tau² = Z alpha >= 0 is a cone: the values alpha_j can take end at 0 or
            # nowhere. Ending at 0 on this side, the bound is 0 or the root before it
            if sign * est >= 0:  # the estimate is on that end (up to rounding)
                out.append(est)
                continue
            # the statistic just inside the end (at the end itself some tau² must be 0, and the
            # set of coefficients there can shrink to a point)
            near_end = est * 1e-9
            f0 = f(near_end)
            if math.isnan(f0):
                out.append(math.nan)
            elif f0 <= 0:
                out.append(0.0)
            else:
                a, b = sorted((est, near_end))
                out.append(float(brentq(f, a, b, xtol=1e-13, rtol=1e-12)))
            continue
        # outwards from the estimate in doubling steps, each refit started from the nearest
        # point already fitted: far out the profile can have a second, lower plateau (every tau²
        # ~0) that a refit started from the estimate falls onto
        inner, step, bound = est, width / 16, sign * math.inf
        for _ in range(64):
            if res.link == "log" and step > reach:
                break
            outer = est + sign * step
            fo = f(outer)
            if math.isnan(fo):  # a refit failed
                bound = math.nan
                break
            if fo > 0:
                a, b = sorted((inner, outer))
                try:
                    bound = brentq(f, a, b, xtol=1e-13, rtol=1e-12)
                except ValueError:  # a refit failed on the way (log link)
                    bound = math.nan
                break
            inner, step = outer, step * 2
        out.append(float(bound))
    return out[0], out[1]


def _beyond_zero(Z, j: int, sign: float) -> bool:
    """Whether some alpha with ``sign * alpha_j > 0`` gives every study a tau² = Z alpha >= 0
    (identity link)."""
    from scipy.optimize import linprog

    q = Z.shape[1]
    eq = np.zeros((1, q))
    eq[0, j] = 1.0
    lp = linprog(np.zeros(q), A_ub=-Z, b_ub=np.zeros(len(Z)), A_eq=eq, b_eq=[sign],
                 bounds=[(None, None)] * q, method="highs")
    return lp.status == 0
