"""Model diagnostics for fitted equal-, random- and mixed-effects models, as metafor's methods.

Every function takes a fit from :func:`metaanalysis.pool` (:class:`PoolResult`) or
:func:`metaanalysis.meta_regression` (:class:`RegressionResult`) and works from what the fit
stores (yi, vi, the model matrix, tau², the coefficients and their covariance); case-deletion
diagnostics refit the model without each study with :func:`~metaanalysis.pooling.core.fit_rma`,
the engine behind both (same method, test, level, custom weights, fixed tau² and control
options). The intercept-only model is the model matrix of one column of ones.

=====================  ============================================================
function               metafor
=====================  ============================================================
:func:`rstandard`      ``rstandard.rma.uni`` (marginal or conditional residuals)
:func:`rstudent`       ``rstudent.rma.uni`` (deleted residuals)
:func:`hatvalues`      ``hatvalues.rma.uni``
:func:`cooks_distance` ``cooks.distance.rma.uni``
:func:`dfbetas`        ``dfbetas.rma.uni``
:func:`blup`           ``blup.rma.uni`` (study-specific true effects)
:func:`ranef`          ``ranef.rma.uni`` (random effects)
:func:`vif`            ``vif.rma`` (variance inflation factors, GVIF of sets)
:func:`anova`          ``anova.rma`` (Wald tests; likelihood-ratio tests of nested models)
:func:`fitstats`       ``fitstats.rma`` / ``logLik``, ``deviance``, ``AIC``, ``BIC``, ``AICc``
:func:`profile_tau2`   ``profile.rma.uni`` (the likelihood profile of tau²)
:func:`qq_residuals`   ``qqnorm.rma.uni`` (normal QQ points and envelope)
=====================  ============================================================

Coefficients are chosen with ``btt=``: coefficient names (``"ablat"``; a string picks every
coefficient whose name contains it, as metafor's ``btt="ablat"``) or 0-based positions (Python's
convention: metafor's ``btt=2:3`` is ``btt=[1, 2]`` here).

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis. *Research
Synthesis Methods* 1:112-125. Raudenbush SW (2009). Analyzing effect sizes: random-effects models.
In Cooper H et al. (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed.
Fox J, Monette G (1992). Generalized collinearity diagnostics. *JASA* 87:178-183.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import chdtrc, fdtrc

from .._base import ResultMixin, check_level, fmt, fmt_p, jsonable
from ..errors import InputError, MetaAnalysisError
from ._print import moderator_lines, omnibus_line

__all__ = [
    "rstandard", "rstudent", "hatvalues", "cooks_distance", "dfbetas", "blup", "ranef", "vif",
    "anova", "fitstats", "loglik", "deviance", "aic", "bic", "aicc", "profile_tau2", "qq_residuals",
    "ResidualResult", "BlupResult", "VifResult", "WaldResult", "LikelihoodRatioResult", "FitStats",
    "ProfileResult", "QQResult",
]

_EPS = np.finfo(float).eps
_NAN = float("nan")
_FIXED = ("EE", "FE", "CE")


# --------------------------------------------------------------------------------------------
# The model behind a fit
# --------------------------------------------------------------------------------------------


class _Model(NamedTuple):
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    method: str
    test: str
    level: float
    df: float | None
    weights: np.ndarray | None  # custom weights (metafor's weights=), None for inverse variance
    tau2_fixed: bool
    control: object
    labels: tuple
    coef_names: tuple
    has_intercept: bool
    int_only: bool
    source: object

    @property
    def k(self) -> int:
        return self.y.shape[0]

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def fixed_effect(self) -> bool:
        return self.method in _FIXED

    @property
    def parms(self) -> int:
        """metafor's count of estimated parameters: the coefficients, plus tau² when estimated."""
        return self.p + (0 if self.fixed_effect or self.tau2_fixed else 1)


def _model(res) -> _Model:
    """The model a fit describes, from what the fit stores."""
    from .core import PoolResult
    from .regression import RegressionResult

    if not isinstance(res, (PoolResult, RegressionResult)):
        inner = getattr(res, "fit", None)
        if isinstance(inner, (PoolResult, RegressionResult)):
            return _model(inner)
        method = getattr(res, "method", None)
        raise InputError(
            f"diagnostics need a fit from metaanalysis.pool() or meta_regression(); got "
            f"{type(res).__name__}" + (f" with method {method!r}" if method else "")
            + (" (Mantel-Haenszel and Peto fits have no model matrix or tau²; refit the effects with "
               "pool_binary(method='EE') or a tau² method)" if method in ("MH", "PETO") else "")
        )
    y = np.asarray(res.yi, dtype=float)
    v = np.asarray(res.vi, dtype=float)
    k = y.shape[0]
    method = "EE" if res.method in _FIXED else res.method
    tau2 = 0.0 if method == "EE" else float(res.tau2)
    if isinstance(res, PoolResult):
        X = np.ones((k, 1))
        beta = np.array([float(res.estimate)])
        vb = np.array([[float(res.se) ** 2]])
        names = ("intrcpt",)
        has_int = int_only = True
        w = getattr(res, "_raw_weights", None)
        weights = None if w is None else np.asarray(w, dtype=float)
        tau2_fixed = bool(res.tau2_fixed)
        labels = tuple(str(x) for x in res.labels)
    else:
        X = np.asarray(res.X, dtype=float)
        beta = np.asarray(res.coef, dtype=float)
        vb = np.asarray(res.vcov, dtype=float)
        names = tuple(res.coef_names)
        has_int = bool(res.has_intercept)
        int_only = has_int and X.shape[1] == 1
        weights = None
        tau2_fixed = bool(getattr(res, "tau2_fixed", False))
        labels = getattr(res, "labels", None)
        labels = tuple(f"Study {i + 1}" for i in range(k)) if labels is None else tuple(str(x) for x in labels)
    return _Model(y, v, X, beta, vb, tau2, method, res.test, float(res.level), res.df, weights,
                  tau2_fixed, getattr(res, "control", None), labels, names, has_int, int_only, res)


def _model_weights(m: _Model) -> np.ndarray:
    return m.weights if m.weights is not None else 1.0 / (m.v + m.tau2)


def _hat_matrix(m: _Model) -> np.ndarray:
    """H = X (X'AX)^-1 X'A with A the model's weights."""
    a = _model_weights(m)
    XA = m.X * a[:, None]
    return m.X @ np.linalg.solve(m.X.T @ XA, XA.T)


def _critical(m: _Model, level) -> tuple:
    from .core import critical_value

    lvl = m.level if level is None else check_level(level)
    return float(critical_value(lvl, m.df)), lvl


# --------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------


def _study_table(labels, columns: dict, digits=4) -> list:
    head = [""] + list(columns)
    rows = [[lab] + [fmt(columns[c][i], digits) for c in columns] for i, lab in enumerate(labels)]
    width = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
    return ["  ".join([r[0].ljust(width[0])] + [c.rjust(w) for c, w in zip(r[1:], width[1:])])
            for r in [head] + rows]


def _frozen(*arrays):
    out = []
    for a in arrays:
        a = np.array(a, dtype=float)
        a.setflags(write=False)
        out.append(a)
    return out


@dataclass(frozen=True, eq=False, repr=False)
class ResidualResult(ResultMixin):
    """Residuals of each study (metafor's ``rstandard`` / ``rstudent``): ``resid``, their standard
    errors ``se`` and the standardized residuals ``z = resid / se``.

    ``kind`` says which: ``"marginal"`` or ``"conditional"`` (:func:`rstandard`) or ``"deleted"``
    (:func:`rstudent`, externally studentized).
    """

    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray
    labels: tuple
    kind: str

    def to_dict(self) -> dict:
        return jsonable({"resid": self.resid, "se": self.se, "z": self.z, "labels": list(self.labels),
                         "kind": self.kind})

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"resid": self.resid, "se": self.se, "z": self.z},
                            index=pd.Index(list(self.labels), name="study"))

    def _short(self) -> str:
        return f"{self.kind} k={len(self.resid)} max|z|={fmt(np.nanmax(np.abs(self.z)) if np.isfinite(self.z).any() else _NAN)}"

    def summary(self) -> str:
        return "\n".join(_study_table(self.labels, {"resid": self.resid, "se": self.se, "z": self.z})) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class BlupResult(ResultMixin):
    """Predicted study-specific true effects (:func:`blup`) or random effects (:func:`ranef`):
    ``pred``, ``se`` and the prediction interval ``pi_low``, ``pi_high`` at ``level`` percent.
    After a transformation (``transformed``) ``se`` is NaN."""

    pred: np.ndarray
    se: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    labels: tuple
    level: float
    kind: str
    transformed: bool = False

    def to_dict(self) -> dict:
        return jsonable({"pred": self.pred, "se": self.se, "pi_low": self.pi_low, "pi_high": self.pi_high,
                         "labels": list(self.labels), "level": self.level, "kind": self.kind,
                         "transformed": self.transformed})

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"pred": self.pred, "se": self.se, "pi_low": self.pi_low, "pi_high": self.pi_high},
                            index=pd.Index(list(self.labels), name="study"))

    def _short(self) -> str:
        return f"{self.kind} k={len(self.pred)} level={self.level:g}"

    def summary(self) -> str:
        cols = {"pred": self.pred, "se": self.se, "pi.lb": self.pi_low, "pi.ub": self.pi_high}
        return "\n".join(_study_table(self.labels, cols)) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class VifResult(ResultMixin):
    """(Generalized) variance inflation factors of coefficients or sets of them (metafor's ``vif``).

    One entry per tested set: ``coefs`` (the coefficient names of the set), ``m`` (its size),
    ``vif`` (the GVIF of Fox and Monette 1992; the ordinary VIF when ``m`` = 1) and ``sif``
    (``vif ** (1 / (2 m))``, the standard-error inflation factor).
    """

    coefs: tuple
    m: np.ndarray
    vif: np.ndarray
    sif: np.ndarray

    def to_dict(self) -> dict:
        return jsonable({"coefs": [list(c) for c in self.coefs], "m": self.m, "vif": self.vif, "sif": self.sif})

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"m": self.m.astype(int), "vif": self.vif, "sif": self.sif},
                            index=pd.Index([", ".join(c) for c in self.coefs], name="coefs"))

    def _short(self) -> str:
        return f"sets={len(self.vif)} max vif={fmt(np.nanmax(self.vif) if len(self.vif) else _NAN)}"

    def summary(self) -> str:
        lines = [""]
        if np.all(self.m == 1):
            lines += _study_table([c[0] for c in self.coefs], {"vif": self.vif, "sif": self.sif})
        else:
            for c, m, v, s in zip(self.coefs, self.m, self.vif, self.sif):
                lines.append(f"Collinearity Diagnostics (coefficient{'s' if m > 1 else ''} {', '.join(c)}):")
                lines.append(f"GVIF = {fmt(v)}, GSIF = {fmt(s)}")
                lines.append("")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class WaldResult(ResultMixin):
    """A Wald test of a set of coefficients or of linear combinations of them (``anova(fit, btt=)``,
    ``anova(fit, X=)``).

    ``qm`` is a chi-square statistic with ``qm_df`` df (test ``z``) or an F statistic with
    (``qm_df``, ``qm_df2``) df (``t``, ``knha``); NaN when the combinations are not linearly
    independent. With ``X``, ``estimate``, ``se``, ``statistic`` and ``pvalue`` hold each
    combination's value (minus ``rhs``) and its test; ``hypotheses`` describes them.
    """

    qm: float
    qm_df: int
    qm_df2: float | None
    qm_pvalue: float
    coefs: tuple
    test: str
    estimate: np.ndarray | None = None
    se: np.ndarray | None = None
    statistic: np.ndarray | None = None
    pvalue: np.ndarray | None = None
    hypotheses: tuple = ()
    part: str = ""  # a location-scale model's "location" or "scale" coefficients

    def to_dict(self) -> dict:
        d = {"qm": self.qm, "qm_df": self.qm_df, "qm_df2": self.qm_df2, "qm_pvalue": self.qm_pvalue,
             "coefs": list(self.coefs), "test": self.test}
        if self.part:
            d["part"] = self.part
        if self.estimate is not None:
            d.update(estimate=self.estimate, se=self.se, statistic=self.statistic, pvalue=self.pvalue,
                     hypotheses=list(self.hypotheses))
        return jsonable(d)

    def to_frame(self):
        import pandas as pd

        if self.estimate is None:
            return super().to_frame()
        return pd.DataFrame({"estimate": self.estimate, "se": self.se, "statistic": self.statistic,
                             "pvalue": self.pvalue}, index=pd.Index(list(self.hypotheses), name="hypothesis"))

    def _short(self) -> str:
        return f"m={self.qm_df} QM={fmt(self.qm)} p={fmt_p(self.qm_pvalue)}"

    def summary(self) -> str:
        out = [""]
        if self.estimate is None:
            lines = moderator_lines(self.coefs, self.qm, self.qm_df, self.qm_df2, self.qm_pvalue)
            if self.part:  # metafor's headings for a location-scale model (QS for the scale)
                lines[0] = lines[0].replace("Moderators", f"{self.part.title()} Coefficients")
                if self.part == "scale":
                    lines[1] = lines[1].replace("QM(", "QS(").replace("F(", "FS(")
            out += lines
            return "\n".join(out) + "\n"
        out.append("Hypotheses:")
        for i, h in enumerate(self.hypotheses):
            out.append(f"{i + 1}: {h}")
        out.append("")
        out.append("Results:")
        stat = "zval" if self.qm_df2 is None and self.test == "z" else "tval"
        cols = {"estimate": self.estimate, "se": self.se, stat: self.statistic}
        lines = _study_table([f"{i + 1}:" for i in range(len(self.estimate))], cols)
        lines = [ln + ("      pval" if j == 0 else f"  {fmt_p(self.pvalue[j - 1]):>8}") for j, ln in enumerate(lines)]
        out += lines
        if math.isfinite(self.qm):
            line = omnibus_line(self.qm, self.qm_df, self.qm_df2, self.qm_pvalue)
            if self.part == "scale":  # metafor: QS for the scale's chi-square, F as it is
                line = line.replace("QM(", "QS(")
            out += ["", "Omnibus Test of Hypotheses:", line]
        return "\n".join(out) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class FitStats(ResultMixin):
    """Log-likelihood, deviance, AIC, BIC and AICc of a fit (metafor's ``fitstats``), under the
    restricted (``reml=True``) or the full likelihood; ``parms`` is the number of estimated
    parameters (coefficients, plus tau² when estimated)."""

    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    reml: bool
    parms: int
    k: int

    def to_dict(self) -> dict:
        return jsonable({"loglik": self.loglik, "deviance": self.deviance, "aic": self.aic, "bic": self.bic,
                         "aicc": self.aicc, "reml": self.reml, "parms": self.parms, "k": self.k})

    def _short(self) -> str:
        return f"{'REML' if self.reml else 'ML'} logLik={fmt(self.loglik)} AIC={fmt(self.aic)}"

    def summary(self) -> str:
        lab = "REML" if self.reml else "ML"
        rows = [("logLik:", self.loglik), ("deviance:", self.deviance), ("AIC:", self.aic),
                ("BIC:", self.bic), ("AICc:", self.aicc)]
        vals = [fmt(x) for _, x in rows]
        w = max(len(lab), *(len(x) for x in vals))
        return "\n".join([" " * 10 + lab.rjust(w)] + [f"{n:<10}{x:>{w}}" for (n, _), x in zip(rows, vals)]) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class LikelihoodRatioResult(ResultMixin):
    """Likelihood-ratio test of two nested models (metafor's ``anova(fit_full, fit_reduced)``).

    ``full`` and ``reduced`` hold each model's :class:`FitStats` (under REML when the models were
    fitted with REML, else ML); ``lrt`` is the difference of the deviances (at least 0) with
    ``parms_full - parms_reduced`` df and p-value ``pvalue``; ``qe_*`` the residual heterogeneity
    tests, ``tau2_*`` the (residual) tau², ``r2`` the percentage of tau² of the reduced model that
    the full model accounts for. ``refitted``: both models were refitted with ML (``refit=True``).
    """

    full: FitStats
    reduced: FitStats
    parms_full: int
    parms_reduced: int
    lrt: float
    pvalue: float
    qe_full: float
    qe_reduced: float
    tau2_full: float
    tau2_reduced: float
    r2: float
    method: str
    refitted: bool = False

    def to_dict(self) -> dict:
        return jsonable({
            "full": self.full.to_dict(), "reduced": self.reduced.to_dict(), "parms_full": self.parms_full,
            "parms_reduced": self.parms_reduced, "lrt": self.lrt, "pvalue": self.pvalue,
            "qe_full": self.qe_full, "qe_reduced": self.qe_reduced, "tau2_full": self.tau2_full,
            "tau2_reduced": self.tau2_reduced, "r2": self.r2, "method": self.method, "refitted": self.refitted,
        })

    def to_frame(self):
        import pandas as pd

        rows = []
        for name, fs, parms, qe, t2 in (("Full", self.full, self.parms_full, self.qe_full, self.tau2_full),
                                        ("Reduced", self.reduced, self.parms_reduced, self.qe_reduced,
                                         self.tau2_reduced)):
            rows.append({"df": parms, "aic": fs.aic, "bic": fs.bic, "aicc": fs.aicc, "loglik": fs.loglik,
                         "lrt": _NAN if name == "Full" else self.lrt,
                         "pvalue": _NAN if name == "Full" else self.pvalue, "qe": qe, "tau2": t2,
                         "r2": _NAN if name == "Full" else self.r2})
        return pd.DataFrame(rows, index=pd.Index(["Full", "Reduced"], name="model"))

    def _short(self) -> str:
        return f"LRT={fmt(self.lrt)} df={self.parms_full - self.parms_reduced} p={fmt_p(self.pvalue)}"

    def summary(self) -> str:
        head = ["", "df", "AIC", "BIC", "AICc", "logLik", "LRT", "pval", "QE"]
        # no single tau² (and no R²) when a location-scale model is compared, as metafor's table
        fixed = self.method in _FIXED or (math.isnan(self.tau2_full) and math.isnan(self.tau2_reduced))
        if not fixed:
            head += ["tau^2", "R^2"]
        full = ["Full", str(self.parms_full), fmt(self.full.aic), fmt(self.full.bic), fmt(self.full.aicc),
                fmt(self.full.loglik), "", "", fmt(self.qe_full)]
        red = ["Reduced", str(self.parms_reduced), fmt(self.reduced.aic), fmt(self.reduced.bic),
               fmt(self.reduced.aicc), fmt(self.reduced.loglik), fmt(self.lrt), fmt_p(self.pvalue),
               fmt(self.qe_reduced)]
        if not fixed:
            full += [fmt(self.tau2_full), ""]
            red += [fmt(self.tau2_reduced), f"{fmt(self.r2, 2)}%"]
        width = [max(len(a), len(b), len(c)) for a, b, c in zip(head, full, red)]
        lines = [""] + ["  ".join([r[0].ljust(width[0])] + [c.rjust(w) for c, w in zip(r[1:], width[1:])])
                        for r in (head, full, red)]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Residuals, leverage and predictions
# --------------------------------------------------------------------------------------------


def _clean_resid(e: np.ndarray) -> np.ndarray:
    # rounding noise of an exact fit is set to 0, as metafor, so that z is 0 rather than noise
    e = np.array(e, dtype=float)
    e[np.abs(e) < 100 * _EPS] = 0.0
    return e


def hatvalues(res):
    """Leverages: the diagonal of the hat matrix H = X (X'WX)^-1 X'W (metafor's ``hatvalues``).

    W holds the model weights 1 / (vi + tau²), or the custom weights of the fit. Values within
    10 machine epsilons of 1 are set to 1.

    Parameters
    ----------
    res : PoolResult or RegressionResult

    Returns
    -------
    pandas.Series
        One value per study, indexed by study label (index ``study``).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03])
    >>> round(float(ma.hatvalues(res).sum()), 6)     # the trace is the number of coefficients
    1.0
    """
    import pandas as pd

    m = _model(res)
    h = np.diag(_hat_matrix(m)).copy()
    h[h > 1 - 10 * _EPS] = 1.0
    return pd.Series(h, index=pd.Index(list(m.labels), name="study"), name="hat")


def rstandard(res, type: str = "marginal") -> ResidualResult:
    """Internally standardized residuals (metafor's ``rstandard``).

    ``type="marginal"``: e = y - X b, with Var(e) the diagonal of (I - H) M (I - H)' and
    M = diag(vi + tau²). ``type="conditional"``: e = y minus the BLUP of the study's true effect,
    with Var(e) = vi² / (vi + tau²) (1 - h); not defined for custom weights.

    Parameters
    ----------
    res : PoolResult or RegressionResult
    type : {"marginal", "conditional"}

    Returns
    -------
    ResidualResult
        ``resid``, ``se``, ``z`` per study.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03])
    >>> ma.rstandard(res).to_frame().round(3)["z"].tolist()
    [-0.315, 0.737, 1.06, -1.595]
    """
    if type not in ("marginal", "conditional"):
        raise InputError(f"type must be 'marginal' or 'conditional'; got {type!r}")
    m = _model(res)
    H = _hat_matrix(m)
    fitted = m.X @ m.beta
    if type == "marginal":
        e = _clean_resid(m.y - fitted)
        ImH = np.eye(m.k) - H
        ve = np.einsum("ij,j,ij->i", ImH, m.v + m.tau2, ImH)
        se = np.sqrt(ve)
    else:
        if m.weights is not None:
            raise InputError("conditional residuals are not defined for a fit with custom weights "
                             "(as metafor); use type='marginal'")
        li = m.tau2 / (m.tau2 + m.v)
        e = m.y - (li * m.y + (1 - li) * fitted)
        se = np.sqrt(m.v * m.v / (m.v + m.tau2) * (1 - np.diag(H)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return ResidualResult(*_frozen(e, se, z), m.labels, type)


def _pred_result(pred, se, crit, lvl, labels, kind, transf):
    from .core import _transform

    lo, hi = pred - crit * se, pred + crit * se
    f = _transform(transf)
    if f is not None:
        pred = np.asarray(f(pred), dtype=float)
        lo, hi = np.asarray(f(lo), dtype=float), np.asarray(f(hi), dtype=float)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        se = np.full_like(pred, _NAN)
    return BlupResult(*_frozen(pred, se, lo, hi), labels, lvl, kind, f is not None)


def _no_custom_weights(m: _Model, what: str):
    if m.weights is not None:
        raise InputError(f"{what} is not defined for a fit with custom weights (as metafor's)")


def _shrinkage(res, level, what: str):
    """What :func:`blup` and :func:`ranef` start from: the model, the critical value and level of
    the intervals, the shrinkage factors l_i = tau² / (tau² + vi), the fitted values x_i b and the
    variances of those, x_i Var(b) x_i'."""
    m = _model(res)
    _no_custom_weights(m, what)
    crit, lvl = _critical(m, level)
    li = m.tau2 / (m.tau2 + m.v)
    xvx = np.einsum("ij,jk,ik->i", m.X, m.vb, m.X)
    return m, crit, lvl, li, m.X @ m.beta, xvx


def blup(res, *, level=None, transf=None) -> BlupResult:
    """Best linear unbiased predictions of the studies' true effects (metafor's ``blup``).

    theta_i = l_i y_i + (1 - l_i) x_i b with l_i = tau² / (tau² + vi) and variance
    l_i vi + (1 - l_i)² x_i Var(b) x_i'. The interval uses the model's critical value (normal, or
    t with its df for ``test="t"``/``"knha"``).

    Parameters
    ----------
    res : PoolResult or RegressionResult
        Fitted without custom weights.
    level : float, optional
        Level of the prediction intervals; default the model's.
    transf : callable or "exp", optional
        Applied to ``pred`` and the bounds (``se`` becomes NaN).

    Returns
    -------
    BlupResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03])
    >>> ma.blup(res).pred.round(3).tolist()
    [0.113, 0.243, 0.287, -0.028]
    """
    m, crit, lvl, li, xb, xvx = _shrinkage(res, level, "blup")
    pred = li * m.y + (1 - li) * xb
    se = np.sqrt(li * m.v + (1 - li) ** 2 * xvx)
    return _pred_result(pred, se, crit, lvl, m.labels, "blup", transf)


def ranef(res, *, level=None, transf=None) -> BlupResult:
    """Predicted random effects u_i = l_i (y_i - x_i b), l_i = tau² / (tau² + vi) (metafor's
    ``ranef``); 0 with standard error 0 for an equal-effects model.

    The variance is metafor's l_i vi + l_i² x_i Var(b) x_i'; intervals as :func:`blup`.

    Returns
    -------
    BlupResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03])
    >>> ma.ranef(res).pred.round(3).tolist()
    [-0.041, 0.089, 0.133, -0.181]
    """
    m, crit, lvl, li, xb, xvx = _shrinkage(res, level, "ranef")
    if m.fixed_effect:
        pred = np.zeros(m.k)
        se = np.zeros(m.k)
    else:
        pred = li * (m.y - xb)
        se = np.sqrt(li * m.v + li * li * xvx)
    return _pred_result(pred, se, crit, lvl, m.labels, "ranef", transf)


# --------------------------------------------------------------------------------------------
# Case deletion
# --------------------------------------------------------------------------------------------


class _Deleted(NamedTuple):
    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    s2w: float
    qe: float


def _refit(m: _Model, keep: np.ndarray):
    """The model refitted on the studies ``keep`` (indices), as metafor's ``rma.uni(subset=)``:
    None where metafor would stop (too few studies, a redundant coefficient, a failed fit)."""
    from .core import fit_rma

    X = m.X[keep]
    method = m.method
    k, p = X.shape
    if not (k == 1 and p == 1 and np.all(X == 1.0)):
        need = p if method in _FIXED or m.tau2_fixed else p + 1
        if need > k:
            return None
    if np.linalg.matrix_rank(X) < p:
        return None  # metafor drops the redundant coefficient and skips the case
    int_only = p == 1 and np.all(X == 1.0)
    w = None if m.weights is None else m.weights[keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_rma(m.y[keep], m.v[keep], None if int_only else X, method, m.test, m.level, w,
                           m.tau2 if m.tau2_fixed else None, m.control)
    except (MetaAnalysisError, np.linalg.LinAlgError, FloatingPointError):
        return None


def _deleted_fits(res, m: _Model) -> list:
    """Fits without study i, for each i (None where metafor records NA); kept on the result."""
    cache = getattr(res, "_cache", None)
    if cache is not None and "deleted_fits" in cache:
        return cache["deleted_fits"]
    if m.k < 2:
        raise InputError(f"case-deletion diagnostics need at least 2 studies; the fit has k = {m.k} "
                         "(metafor stops here too)")
    out = []
    for i in range(m.k):
        keep = np.flatnonzero(np.arange(m.k) != i)
        f = _refit(m, keep)
        if f is None:
            out.append(None)
            continue
        t2 = 0.0 if m.fixed_effect else float(f.tau2)
        out.append(_Deleted(np.asarray(f.beta, float), np.asarray(f.vb, float), t2, float(f.s2w), float(f.qe)))
    if cache is not None:
        cache["deleted_fits"] = out
    return out


def rstudent(res) -> ResidualResult:
    """Externally studentized (deleted) residuals (metafor's ``rstudent``).

    For each study i the model is refitted without it; the residual is y_i - x_i b_(-i) with
    variance s²_(-i) (vi + tau²_(-i)) + x_i Var(b_(-i)) x_i', where s²_(-i) is the Knapp-Hartung
    scale of the deleted fit (1 for z and t tests). Where the deleted fit cannot be made (too few
    studies left, a coefficient no longer estimable) the row is NaN, as metafor's NA.

    Parameters
    ----------
    res : PoolResult or RegressionResult
        With at least 2 studies.

    Returns
    -------
    ResidualResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2, 0.2], [0.01, 0.02, 0.015, 0.03, 0.02])
    >>> ma.rstudent(res).z.round(3).tolist()
    [-0.355, 0.715, 1.253, -2.207, 0.182]
    """
    m = _model(res)
    fits = _deleted_fits(res, m)
    e = np.full(m.k, _NAN)
    se = np.full(m.k, _NAN)
    for i, f in enumerate(fits):
        if f is None:
            continue
        x = m.X[i]
        e[i] = m.y[i] - x @ f.beta
        se[i] = math.sqrt(m.v[i] * f.s2w + x @ f.vb @ x + f.tau2 * f.s2w)
    e = np.where(np.isnan(e), e, _clean_resid(np.nan_to_num(e)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = e / se
    return ResidualResult(*_frozen(e, se, z), m.labels, "deleted")


def _resolve_btt(m: _Model, btt, *, default_all: bool, what: str = "btt") -> list:
    """0-based coefficient positions from names, a substring or positions."""
    p, names = m.p, m.coef_names
    if btt is None:
        if default_all or p == 1:
            return list(range(p))
        return list(range(1, p)) if m.has_intercept else list(range(p))
    items = [btt] if isinstance(btt, (str, int, np.integer)) else list(btt)
    if not items:
        raise InputError(f"{what} is empty; give coefficient names or 0-based positions")
    out = []
    for it in items:
        if isinstance(it, str):
            hits = [j for j, n in enumerate(names) if n == it] or [j for j, n in enumerate(names) if it in n]
            if not hits:
                raise InputError(f"{what}: no coefficient named {it!r}; coefficients: {', '.join(names)}")
            out += hits
        else:
            try:
                j = int(it)
            except (TypeError, ValueError):
                raise InputError(f"{what} takes coefficient names or 0-based positions; got {it!r}") from None
            if j != it or not 0 <= j < p:
                raise InputError(f"{what}: position {it!r} is not a coefficient; valid: 0 to {p - 1} "
                                 f"({', '.join(names)})")
            out.append(j)
    return sorted(set(out))


def cooks_distance(res, *, btt=None):
    """Cook's distances (metafor's ``cooks.distance``): (b - b_(-i))' Var(b)^-1 (b - b_(-i)) over
    the coefficients ``btt`` (default all), with b_(-i) the fit without study i.

    Parameters
    ----------
    res : PoolResult or RegressionResult
    btt : names or 0-based positions, optional

    Returns
    -------
    pandas.Series
        Indexed by study label; NaN where the deleted fit cannot be made.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2, 0.2], [0.01, 0.02, 0.015, 0.03, 0.02])
    >>> ma.cooks_distance(res).round(3).tolist()
    [0.038, 0.168, 0.354, 0.442, 0.023]
    """
    import pandas as pd

    m = _model(res)
    idx = _resolve_btt(m, btt, default_all=True)
    fits = _deleted_fits(res, m)
    svb = np.linalg.inv(m.vb[np.ix_(idx, idx)])
    out = np.full(m.k, _NAN)
    for i, f in enumerate(fits):
        if f is not None:
            d = m.beta[idx] - f.beta[idx]
            out[i] = d @ svb @ d
    return pd.Series(out, index=pd.Index(list(m.labels), name="study"), name="cooks_distance")


def dfbetas(res):
    """DFBETAS (metafor's ``dfbetas``): the change of each coefficient when study i is left out,
    (b - b_(-i)) / sqrt(s²_(-i) diag(Var_(-i))), where Var_(-i) is the variance of b computed on
    all studies with the weights at tau²_(-i).

    Returns
    -------
    pandas.DataFrame
        One row per study (index ``study``), one column per coefficient.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2, 0.2], [0.01, 0.02, 0.015, 0.03, 0.02])
    >>> ma.dfbetas(res)["intrcpt"].round(3).tolist()
    [-0.163, 0.37, 0.643, -0.895, 0.126]
    """
    import pandas as pd

    m = _model(res)
    fits = _deleted_fits(res, m)
    out = np.full((m.k, m.p), _NAN)
    for i, f in enumerate(fits):
        if f is None:
            continue
        if m.weights is None:
            w = 1.0 / (m.v + f.tau2)
            vdel = np.linalg.inv(m.X.T @ (m.X * w[:, None]))
        else:
            AX = m.X * m.weights[:, None]
            inv = np.linalg.inv(m.X.T @ AX)
            vdel = inv @ (AX.T @ (AX * (m.v + f.tau2)[:, None])) @ inv
        out[i] = (m.beta - f.beta) / np.sqrt(f.s2w * np.diag(vdel))
    return pd.DataFrame(out, index=pd.Index(list(m.labels), name="study"), columns=list(m.coef_names))


# --------------------------------------------------------------------------------------------
# Collinearity
# --------------------------------------------------------------------------------------------


def vif(res, btt=None, *, intercept: bool = False) -> VifResult:
    """Variance inflation factors of a meta-regression (metafor's ``vif``).

    From the correlation matrix R of the coefficients (without the intercept unless
    ``intercept=True``): for a set S of coefficients the generalized VIF
    det(R_SS) det(R_-S-S) / det(R) (Fox and Monette 1992), the ordinary VIF when S has one
    coefficient; and the inflation of the standard error, GVIF^(1/(2 |S|)).

    Parameters
    ----------
    res : RegressionResult
        A model with moderators.
    btt : optional
        None: every coefficient but the intercept on its own. Otherwise one set (a name, a
        position, or a list of them) or a list of sets (a list of lists), by name or 0-based
        position; metafor's ``btt=list(2:3, 4)`` is ``btt=[[1, 2], [3]]``.
    intercept : bool
        Keep the intercept in the correlation matrix (metafor's ``intercept=TRUE``).

    Returns
    -------
    VifResult

    Examples
    --------
    >>> import numpy as np, metaanalysis as ma
    >>> x1 = np.array([1.0, 2, 3, 4, 5, 6]); x2 = np.array([2.0, 1, 4, 3, 6, 7])
    >>> res = ma.meta_regression([.1, .3, .2, .5, .4, .6], [.02] * 6, mods=np.column_stack([x1, x2]))
    >>> ma.vif(res).vif.round(3).tolist()
    [5.257, 5.257]
    """
    m = _model(res)
    if m.int_only:
        raise InputError("VIFs are not defined for an intercept-only model; fit a meta-regression")
    drop_int = m.has_intercept and not intercept
    if btt is None:
        sets = [[j] for j in range(1 if drop_int else 0, m.p)]
    else:
        raw = btt if isinstance(btt, (list, tuple)) and any(isinstance(b, (list, tuple, range, np.ndarray)) for b in btt) else [btt]
        sets = [_resolve_btt(m, list(b) if isinstance(b, (range, np.ndarray)) else b, default_all=True) for b in raw]
    vb = m.vb
    off = 0
    if drop_int:
        vb = vb[1:, 1:]
        off = 1
        if any(s == [0] for s in sets):
            raise InputError("the VIF of the intercept is not defined when the intercept is left out of "
                             "the correlation matrix; pass intercept=True or drop it from btt")
    sd = np.sqrt(np.diag(vb))
    R = vb / np.outer(sd, sd)
    det_all = np.linalg.det(R)
    coefs, ms, vifs, sifs = [], [], [], []
    for s in sets:
        j = [i - off for i in s if i - off >= 0]
        rest = [i for i in range(R.shape[0]) if i not in j]
        d_rest = np.linalg.det(R[np.ix_(rest, rest)]) if rest else 1.0
        g = np.linalg.det(R[np.ix_(j, j)]) * d_rest / det_all
        coefs.append(tuple(m.coef_names[i + off] for i in j))
        ms.append(len(j))
        vifs.append(g)
        sifs.append(g ** (1.0 / (2 * len(j))))
    m_arr, v_arr, s_arr = _frozen(ms, vifs, sifs)
    return VifResult(tuple(coefs), m_arr, v_arr, s_arr)


# --------------------------------------------------------------------------------------------
# Likelihood and fit statistics
# --------------------------------------------------------------------------------------------


def _loglik_parts(m: _Model):
    """metafor's full and restricted log-likelihoods at the fitted beta and tau²."""
    w = 1.0 / (m.v + m.tau2)
    r = m.y - m.X @ m.beta
    rss = float(w @ (r * r))
    slog = float(np.sum(np.log(m.v + m.tau2)))
    ll_ml = -0.5 * m.k * math.log(2 * math.pi) - 0.5 * slog - 0.5 * rss
    logdet_xx = np.linalg.slogdet(m.X.T @ m.X)[1]
    logdet_xwx = np.linalg.slogdet(m.X.T @ (m.X * w[:, None]))[1]
    ll_reml = (-0.5 * (m.k - m.p) * math.log(2 * math.pi) + 0.5 * logdet_xx - 0.5 * slog
               - 0.5 * logdet_xwx - 0.5 * rss)
    return ll_ml, ll_reml


def _use_reml(m: _Model, reml) -> bool:
    return m.method == "REML" if reml is None else bool(reml)


def _stats(m: _Model, reml: bool) -> FitStats:
    ll_ml, ll_reml = _loglik_parts(m)
    parms, k, p = m.parms, m.k, m.p
    if reml:
        ll, n = ll_reml, k - p
        dev = -2.0 * ll
    else:
        ll, n = ll_ml, k
        if k > p:
            # relative to the saturated model, whose log-likelihood is sum log N(yi; yi, vi)
            dev = -2.0 * (ll - float(np.sum(-0.5 * np.log(2 * math.pi * m.v))))
        else:
            dev = 0.0
    aic = -2.0 * ll + 2 * parms
    with np.errstate(divide="ignore"):
        bic = -2.0 * ll + parms * (math.log(n) if n > 0 else -math.inf)
    nn = max(n, parms + 2)
    aicc = -2.0 * ll + 2 * parms * nn / (nn - parms - 1)
    return FitStats(float(ll), float(dev), float(aic), float(bic), float(aicc), reml, parms, k)


def fitstats(res, *, reml: bool | None = None) -> FitStats:
    """Log-likelihood, deviance, AIC, BIC and AICc (metafor's ``fitstats``).

    The full log-likelihood is -k/2 log 2pi - 1/2 sum log(vi + tau²) - RSS/2 with
    RSS = sum (yi - x_i b)² / (vi + tau²); the restricted one also has
    + 1/2 log|X'X| - 1/2 log|X'WX| and (k - p) in place of k. Parameters counted: the coefficients,
    plus tau² unless the model is equal-effects or tau² was fixed. The ML deviance is relative to
    the saturated model; BIC and AICc use k (ML) or k - p (REML) observations, AICc with
    max(n, parms + 2), as metafor.

    Parameters
    ----------
    res : PoolResult or RegressionResult
    reml : bool, optional
        Restricted likelihood; default True when the model was fitted with REML.

    Returns
    -------
    FitStats

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2], [0.01, 0.02, 0.015, 0.03])
    >>> round(ma.fitstats(res).loglik, 4)      # metafor: logLik(rma(yi, vi)) 0.066
    0.066
    """
    m = _model(res)
    return _stats(m, _use_reml(m, reml))


_FIT_STATISTIC_DOC = """{what} (metafor's ``{r_name}``); see :func:`fitstats`.

    ``reml`` chooses the restricted likelihood (the default for a REML fit) or the full one.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> res = pool([0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44],
    ...            [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060], method="REML")
    >>> round({name}(res), 4), round({name}(res, reml=False), 4)   # metafor fitstats
    {values}
    """


def _fit_statistic(what: str, r_name: str, values: str):
    """The docstring of an accessor of one of :func:`fitstats`' numbers: the five share it but
    for the statistic's name and the example's values (checked against metafor)."""
    def document(f):
        f.__doc__ = _FIT_STATISTIC_DOC.format(what=what, r_name=r_name, name=f.__name__,
                                              values=values)
        return f
    return document


@_fit_statistic("The log-likelihood of a fit", "logLik", "(0.3234, 1.1695)")
def loglik(res, *, reml: bool | None = None) -> float:
    return fitstats(res, reml=reml).loglik


@_fit_statistic("The deviance of a fit", "deviance", "(-0.6468, 8.0087)")
def deviance(res, *, reml: bool | None = None) -> float:
    return fitstats(res, reml=reml).deviance


@_fit_statistic("Akaike's information criterion", "AIC", "(3.3532, 1.661)")
def aic(res, *, reml: bool | None = None) -> float:
    return fitstats(res, reml=reml).aic


@_fit_statistic("The Bayesian information criterion", "BIC", "(2.9367, 1.5528)")
def bic(res, *, reml: bool | None = None) -> float:
    return fitstats(res, reml=reml).bic


@_fit_statistic("The corrected AIC", "AICc", "(7.3532, 4.661)")
def aicc(res, *, reml: bool | None = None) -> float:
    return fitstats(res, reml=reml).aicc


# --------------------------------------------------------------------------------------------
# anova: Wald tests and likelihood-ratio tests
# --------------------------------------------------------------------------------------------


def _f_or_chi2(q: float, m_: int, df2):
    if df2 is None:
        return q, None, float(chdtrc(m_, q))
    q = q / m_
    return q, float(df2), float(fdtrc(m_, df2, q)) if df2 > 0 else _NAN


def _wald_btt(m: _Model, btt, rhs, what: str = "btt") -> WaldResult:
    idx = _resolve_btt(m, btt, default_all=False, what=what)
    b = m.beta[idx] - _rhs(rhs, len(idx), "coefficients tested")
    try:
        q = float(b @ np.linalg.solve(m.vb[np.ix_(idx, idx)], b))
    except np.linalg.LinAlgError:
        q = _NAN
    q, df2, p = _f_or_chi2(q, len(idx), m.df)
    return WaldResult(q, len(idx), df2, p, tuple(m.coef_names[j] for j in idx), m.test)


def _rhs(rhs, n: int, what: str) -> np.ndarray:
    if rhs is None:
        return np.zeros(n)
    r = np.atleast_1d(np.asarray(rhs, dtype=float))
    if r.size == 1:
        return np.full(n, float(r[0]))
    if r.size != n:
        raise InputError(f"rhs has {r.size} values but there are {n} {what}")
    return r


def _hypothesis(row, names, rhs) -> str:
    terms = []
    for c, n in zip(row, names):
        c = round(float(c), 4)
        if c == 0:
            continue
        coef = "" if c == 1 else ("-" if c == -1 else f"{c:g}*")
        terms.append(f"{coef}{n}")
    s = " + ".join(terms).replace("+ -", "- ") or "0"
    return f"{s} = {rhs:g}"


def _wald_x(m: _Model, L, rhs, what: str = "X") -> WaldResult:
    L = np.asarray(L, dtype=float)
    if L.ndim == 1:
        L = L[None, :]
    if L.ndim != 2:
        raise InputError(f"{what} must be a vector or a matrix of linear combinations; got shape "
                         f"{L.shape}")
    if m.has_intercept and L.shape[1] == m.p - 1:
        L = np.column_stack([np.ones(L.shape[0]), L])
    if L.shape[1] != m.p:
        raise InputError(f"{what} has {L.shape[1]} columns but the model has {m.p} coefficients "
                         f"({', '.join(m.coef_names)})")
    n = L.shape[0]
    r = _rhs(rhs, n, "linear combinations")
    est = L @ m.beta - r
    V = L @ m.vb @ L.T
    se = np.sqrt(np.diag(V))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    from .core import two_sided_p

    pval = np.asarray(two_sided_p(stat, m.df), dtype=float)
    q, df2, p = _NAN, (None if m.df is None else float(m.df)), _NAN
    if np.linalg.matrix_rank(L) == n:
        try:
            q0 = float(est @ np.linalg.solve(V, est))
            q, df2, p = _f_or_chi2(q0, n, m.df)
        except np.linalg.LinAlgError:
            pass
    hyp = tuple(_hypothesis(L[i], m.coef_names, r[i]) for i in range(n))
    return WaldResult(q, n, df2, p, tuple(m.coef_names), m.test, *_frozen(est, se, stat, pval), hyp)


def _refit_ml(res):
    """The fit repeated with ML estimation (metafor's ``update(fit, method = "ML")``)."""
    from .core import PoolResult
    from .location_scale import LocationScaleResult, _fit_ls
    from .regression import meta_regression

    if isinstance(res, PoolResult):
        return res._refit(method="ML")
    if isinstance(res, LocationScaleResult):
        if res.method == "ML":
            return res
        y, v, X, Z, _, con = res._cache["data"]
        return _fit_ls(np.asarray(y), np.asarray(v), np.asarray(X), res.coef_names, np.asarray(Z),
                       res.alpha_names, "ML", res.test, res.level, res.link, dict(con),
                       res.labels, res.measure, stacklevel=5)
    test = res.test
    return meta_regression(res.yi, res.vi, mods=np.asarray(res.X), intercept=False, method="ML",
                           test="knha" if test == "adhoc" else test, knha_adhoc=test == "adhoc",
                           level=res.level, control=res.control)


def _lm_sigma2(m: _Model) -> float:
    """Residual variance of the weighted least-squares fit of y on X (weights 1/vi or custom)."""
    w = m.weights if m.weights is not None else 1.0 / m.v
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(m.X * sw[:, None], m.y * sw, rcond=None)[0]
    r = m.y - m.X @ beta
    return float(w @ (r * r)) / (m.k - m.p)


class _LrtSide(NamedTuple):
    """What a likelihood-ratio test reads of one model: a pool() or meta_regression() fit
    (``model`` its _Model) or a location-scale fit (``model`` None)."""

    res: object
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    parms: int
    method: str
    fixed_effect: bool
    model: _Model | None

    @classmethod
    def of(cls, res) -> _LrtSide:
        from .location_scale import LocationScaleResult

        if isinstance(res, LocationScaleResult):
            y, v, X = res._cache["data"][:3]
            return cls(res, y, v, X, len(res.coef) + len(res.alpha), res.method, False, None)
        m = _model(res)
        return cls(res, m.y, m.v, m.X, m.parms, m.method, m.fixed_effect, m)

    def stats(self, reml: bool) -> FitStats:
        if self.model is not None:
            return _stats(self.model, reml)
        r = self.res  # a location-scale fit: its own (restricted) likelihood
        return FitStats(float(r.loglik), float(r.deviance), float(r.aic), float(r.bic),
                        float(r.aicc), r.method == "REML", self.parms, int(r.k))


def _lrt(res1, res2, refit: bool) -> LikelihoodRatioResult:
    """The likelihood-ratio test of two nested models: pool() or meta_regression() fits, or
    location-scale fits (metafor's anova of rma.ls objects; here also against an rma.uni-like
    fit, the location-scale model with scale ~ 1), whose table has no single tau² or R²."""
    f, r = _LrtSide.of(res1), _LrtSide.of(res2)
    if f.parms == r.parms:
        raise InputError(f"both models have {f.parms} parameters: a likelihood-ratio test needs nested "
                         "models with different numbers of parameters")
    if f.parms < r.parms:
        f, r = r, f
    if not (np.array_equal(f.y, r.y) and np.array_equal(f.v, r.v)):
        raise InputError("the two models are not fitted to the same yi and vi: a likelihood-ratio test "
                         "compares fits to the same data")
    if f.fixed_effect and not r.fixed_effect:
        raise InputError("the full model is an equal-effects model but the reduced model has a random "
                         "effect: the models are not nested")
    if {f.method, r.method} == {"ML", "REML"}:
        raise InputError(f"the full model uses {f.method} and the reduced model {r.method}: fit both with "
                         "ML (or both with REML when they have the same fixed effects)")
    if not (f.method in _FIXED + ("ML", "REML") and r.method in _FIXED + ("ML", "REML")):
        warnings.warn("likelihood-ratio tests should be based on ML or REML fits "
                      f"(got {f.method} and {r.method})", UserWarning, stacklevel=3)
    ls = f.model is None or r.model is None
    # the likelihood both are read under: the full model's; with a location-scale model (whose
    # own is used), REML when either is a REML fit
    reml = f.method == "REML" or (ls and r.method == "REML")
    refitted = False
    if reml and not (f.X.shape == r.X.shape and np.array_equal(f.X, r.X)):
        if refit:
            f, r = _LrtSide.of(_refit_ml(f.res)), _LrtSide.of(_refit_ml(r.res))
            refitted, reml = True, False
        else:
            warnings.warn("REML comparisons are not meaningful for models with different fixed effects "
                          "(use refit=True to refit both models with ML)", UserWarning, stacklevel=3)
    if ls:
        tau2_f = tau2_r = r2 = _NAN
    else:
        mf, mr = f.model, r.model
        tau2_f, tau2_r = mf.tau2, mr.tau2
        if mf.fixed_effect:
            s_f, s_r = _lm_sigma2(mf), _lm_sigma2(mr)
            r2 = 100.0 * max(0.0, (s_r - s_f) / s_r)
        elif mr.tau2 == 0:
            r2 = 0.0
        else:
            r2 = 100.0 * max(0.0, (mr.tau2 - mf.tau2) / mr.tau2)
    sf, sr = f.stats(reml), r.stats(reml)
    lrt = max(sr.deviance - sf.deviance, 0.0)
    pval = float(chdtrc(f.parms - r.parms, lrt))
    # QE does not depend on tau², so the stored value holds for an ML refit too (and the refit's
    # own is the same)
    return LikelihoodRatioResult(sf, sr, f.parms, r.parms, lrt, pval, _qe(f.res), _qe(r.res), tau2_f,
                                 tau2_r, r2, "ML" if refitted else f.method, refitted)


def _wald_ls(res, btt, att, X, Z, rhs) -> WaldResult:
    """anova(ls, btt=) / anova(ls, X=): a Wald test of location coefficients or of linear
    combinations of them; anova(ls, att=) / anova(ls, Z=): the same for the scale."""
    import dataclasses
    from types import SimpleNamespace

    given = [name for name, v in (("btt", btt), ("att", att), ("X", X), ("Z", Z)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give one of btt= or X= (location) and att= or Z= (scale); got "
                         f"{' and '.join(n + '=' for n in given)}")
    scale = att is not None or Z is not None
    names = tuple(res.alpha_names if scale else res.coef_names)
    # the part read as the _Model the coefficient tests take (df: k - q for the scale, k - p)
    part = SimpleNamespace(
        p=len(names), coef_names=names, has_intercept=names[0] == "intrcpt", test=res.test,
        beta=np.asarray(res.alpha if scale else res.coef, dtype=float),
        vb=np.asarray(res.alpha_vcov if scale else res.vcov, dtype=float),
        df=None if res.test == "z" else float(res.k - len(names)))
    if X is not None or Z is not None:
        out = _wald_x(part, Z if scale else X, rhs, what="Z" if scale else "X")
    else:
        out = _wald_btt(part, att if scale else btt, rhs, what="att" if scale else "btt")
    return dataclasses.replace(out, part="scale" if scale else "location")


def _qe(res) -> float:
    inner = res if hasattr(res, "q") or hasattr(res, "qe") else res.fit
    return float(inner.q if hasattr(inner, "q") else inner.qe)


def anova(fit, fit2=None, *, btt=None, X=None, rhs=None, refit: bool = False, att=None, Z=None):
    """Wald tests of coefficients, or a likelihood-ratio test of two nested models (metafor's
    ``anova``).

    ``anova(fit)`` or ``anova(fit, btt=...)``: Wald test that the coefficients ``btt`` (default:
    all but the intercept) equal ``rhs`` (default 0); chi-square for ``test="z"``, F with
    (m, k - p) df otherwise. ``anova(fit, X=L)``: each linear combination L b (rows of ``L``; the
    intercept column may be left out) tested against ``rhs``, and their omnibus Wald test.

    ``anova(fit1, fit2)``: likelihood-ratio test of nested models fitted to the same data with
    ML or REML (the model with more parameters is the full one). As metafor: an ML/REML mix and an
    equal-effects full model against a random-effects reduced model are errors; REML fits with
    different fixed effects give a warning, or are refitted with ML when ``refit=True``.

    Location-scale models (:func:`metaanalysis.rma_ls`) too: ``anova(ls1, ls0)`` or ``anova(ls,
    fit)`` against a :func:`pool` or :func:`meta_regression` fit (does tau² depend on the scale
    moderators?), with no single tau² or R² reported, as metafor; ``anova(ls, btt=...)`` tests
    location coefficients and ``anova(ls, att=...)`` scale coefficients (Wald), ``anova(ls,
    X=...)`` linear combinations of the location coefficients and ``anova(ls, Z=...)`` of the
    scale coefficients (log tau² under the default link).

    Parameters
    ----------
    fit : PoolResult, RegressionResult or LocationScaleResult
    fit2 : PoolResult, RegressionResult or LocationScaleResult, optional
    btt : names or 0-based positions, optional
    X : array_like, optional
        Linear combinations (metafor's ``X=`` / ``L=``), one per row.
    rhs : float or array_like, optional
    refit : bool
        Refit REML models with different fixed effects with ML before the likelihood-ratio test.
    att : names or 0-based positions, optional
        Scale coefficients of a location-scale model to test (metafor's ``att``).
    Z : array_like, optional
        Linear combinations of a location-scale model's scale coefficients, one per row
        (metafor's ``Z=``); the intercept column may be left out.

    Returns
    -------
    WaldResult or LikelihoodRatioResult

    Examples
    --------
    >>> import numpy as np, metaanalysis as ma
    >>> yi = [.1, .3, .2, .5, .4, .6, .35]; vi = [.02, .03, .02, .04, .03, .02, .05]
    >>> x = np.array([1.0, 2, 3, 4, 5, 6, 3])
    >>> full = ma.meta_regression(yi, vi, mods=x, method="ML")
    >>> round(ma.anova(full, ma.pool(yi, vi, method="ML")).lrt, 4)
    6.2571
    """
    from .location_scale import LocationScaleResult

    is_ls = isinstance(fit, LocationScaleResult) or isinstance(fit2, LocationScaleResult)
    for name, value in (("att", att), ("Z", Z)):
        if value is not None and not is_ls:
            raise InputError(f"{name}= tests scale coefficients, which only a location-scale "
                             f"model (rma_ls) has; use {'btt' if name == 'att' else 'X'}= for "
                             "coefficients")
    if fit2 is not None:
        if any(v is not None for v in (btt, X, rhs, att, Z)):
            raise InputError("btt, att, X, Z and rhs are for the Wald test of one model; a "
                             "likelihood-ratio test takes two models only")
        return _lrt(fit, fit2, refit)
    if is_ls:
        return _wald_ls(fit, btt, att, X, Z, rhs)
    m = _model(fit)
    if X is not None:
        if btt is not None:
            raise InputError("give either btt (coefficients) or X (linear combinations), not both")
        return _wald_x(m, X, rhs)
    return _wald_btt(m, btt, rhs)


# --------------------------------------------------------------------------------------------
# The likelihood profile of tau²
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class ProfileResult(ResultMixin):
    """The log-likelihood of a model over a grid of fixed values of one variance component
    (metafor's ``profile.rma.uni`` and ``profile.rma.mv``).

    Attributes
    ----------
    parameter : str
        The component profiled: ``"tau2"`` (:func:`profile_tau2`) or a multilevel model's
        ``"sigma2.1"``, ``"tau2.1"`` ... (:func:`metaanalysis.pooling.multilevel.profile_mv`).
    label : str
        What the component is, for an axis (``"tau²"``, ``"sigma² of district"``).
    grid, ll : numpy.ndarray
        The values and the log-likelihood at each (restricted for a REML fit, else the full
        one, as metafor's ``logLik``), the other parameters at their estimates given it.
    beta, ci_low, ci_high : numpy.ndarray
        The coefficients and their confidence bounds at each grid value (one column per
        coefficient).
    coef_names : tuple
    estimate, maxll : float
        The fit's value of the component and its log-likelihood.
    method : str
    reml : bool
    xlim : tuple
        The range of the grid.
    higher : bool
        A grid value has a log-likelihood above the fit's by more than ``lltol``: for an ML or
        REML fit, a sign that the fit did not find the maximum.
    """

    parameter: str
    label: str
    grid: np.ndarray
    ll: np.ndarray
    beta: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef_names: tuple
    estimate: float
    maxll: float
    method: str
    reml: bool
    xlim: tuple
    higher: bool

    def to_dict(self) -> dict:
        d = {"parameter": self.parameter, "label": self.label, "grid": self.grid, "ll": self.ll,
             "coef_names": list(self.coef_names), "estimate": self.estimate,
             "maxll": self.maxll, "method": self.method, "reml": self.reml,
             "xlim": list(self.xlim), "higher": self.higher}
        for j, name in enumerate(self.coef_names):
            d[f"beta_{name}"] = self.beta[:, j]
        return jsonable(d)

    def to_frame(self):
        """One row per grid value: the component's value, ll and each coefficient with its
        interval."""
        import pandas as pd

        frame = pd.DataFrame({self.parameter: self.grid, "ll": self.ll})
        for j, name in enumerate(self.coef_names):
            frame[name] = self.beta[:, j]
            frame[f"{name}_ci_low"] = self.ci_low[:, j]
            frame[f"{name}_ci_high"] = self.ci_high[:, j]
        return frame

    def _short(self) -> str:
        return (f"{self.parameter} {self.method} steps={len(self.grid)} "
                f"[{fmt(self.xlim[0])}, {fmt(self.xlim[1])}]")

    def summary(self) -> str:
        kind = "restricted" if self.reml else "full"
        lines = [f"Profile of the {kind} log-likelihood over {self.label} ({self.method} fit: "
                 f"{fmt(self.estimate)}, logLik = {fmt(self.maxll)})", "",
                 f"{self.parameter:>10} {'logLik':>10}"]
        lines += [f"{fmt(t):>10} {fmt(v):>10}" for t, v in zip(self.grid, self.ll)]
        if self.higher:
            lines += ["", "Note: a grid value has a higher log-likelihood than the fit; the fit "
                          "may not have found the maximum."]
        return "\n".join(lines)


def profile_tau2(res, *, xlim=None, steps: int = 20, lltol: float = 1e-3) -> ProfileResult:
    """The log-likelihood of a random-effects model or meta-regression as a function of tau², as
    metafor's ``profile.rma.uni``.

    At each of ``steps`` values of tau² the model is refitted with tau² fixed there (same method,
    test, level and weights) and its log-likelihood recorded: restricted for a REML fit, the full
    one otherwise. A peaked profile whose maximum is the estimate says tau² is identified; a flat
    one says the data hardly inform it.

    Parameters
    ----------
    res : PoolResult or RegressionResult
        A fit with tau² estimated (not equal-effects, not a fixed tau²).
    xlim : (float, float), optional
        The range of tau². By default, as metafor, from the smaller of the estimate and the lower
        Q-profile bound to the largest of 0.1, the estimate and the upper bound (where the
        interval cannot be computed: the estimate +/- 2.576 standard errors, then a quarter and
        four times the estimate).
    steps : int
        Number of grid values (at least 2).
    lltol : float
        Tolerance of the check that no grid value beats the fit's log-likelihood.

    Returns
    -------
    ProfileResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> prof = profile_tau2(ma.pool(es.yi, es.vi))    # metafor: profile(rma(yi, vi))
    >>> [round(v, 4) for v in prof.xlim], round(float(prof.ll[0]), 4)
    ([0.1197, 1.1115], -13.9751)
    """
    from .core import fit_rma

    m = _model(res)
    if m.fixed_effect:
        raise InputError("an equal-effects model has no tau² to profile; fit a random-effects "
                         "model (method='REML', 'ML', 'DL', ...)")
    if m.tau2_fixed:
        raise InputError("tau² was fixed in this fit (tau2=): there is no estimate to profile")
    steps, given = profile_args(steps, xlim)
    lo, hi = _profile_range(res, m) if given is None else given
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("the range of tau² cannot be set automatically; give xlim=(low, high)")
    if lo + float(m.v.min()) <= 0:
        raise InputError(f"xlim starts at {lo:g}: tau² plus the smallest sampling variance must "
                         "stay above 0")
    grid = np.linspace(lo, hi, steps)
    reml = m.method == "REML"
    X = None if m.int_only else m.X
    ll = np.empty(steps)
    beta = np.empty((steps, m.p))
    ci_low = np.empty((steps, m.p))
    ci_high = np.empty((steps, m.p))
    for i, t in enumerate(grid):
        fit = fit_rma(m.y, m.v, X, m.method, m.test, m.level, m.weights, float(t), m.control)
        ll_ml, ll_reml = _loglik_parts(m._replace(beta=np.asarray(fit.beta, float), tau2=float(t)))
        ll[i] = ll_reml if reml else ll_ml
        beta[i], ci_low[i], ci_high[i] = fit.beta, fit.ci_low, fit.ci_high
    maxll = _stats(m, reml).loglik
    higher = m.method in ("ML", "REML") and _above_the_fit(ll, maxll, lltol)
    return ProfileResult("tau2", "\u03c4\u00b2", grid, ll, beta, ci_low, ci_high,
                         tuple(m.coef_names), float(m.tau2), float(maxll), m.method, reml,
                         (float(lo), float(hi)), higher)


def profile_args(steps, xlim) -> tuple:
    """The checked number of profile values and the given range, sorted (``None``: the
    profile's default range), shared by every ``profile``."""
    steps = int(steps)
    if steps < 2:
        raise InputError(f"steps must be at least 2; got {steps}")
    if xlim is None:
        return steps, None
    try:
        lo, hi = sorted(float(x) for x in xlim)
    except (TypeError, ValueError):
        raise InputError(f"xlim must be two numbers; got {xlim!r}") from None
    return steps, (lo, hi)


def _above_the_fit(ll, maxll: float, lltol: float) -> bool:
    """Whether a profile rises above the fit's log-likelihood by more than ``lltol`` (said with a
    warning): a fit that claims the maximum did not find it."""
    higher = bool(np.any(np.asarray(ll) >= maxll + lltol))
    if higher:
        warnings.warn("the profile has a log-likelihood above the fit's: the fit may not have "
                      "found the maximum (check its convergence, or profile over another range)",
                      RuntimeWarning, stacklevel=3)
    return higher


def _profile_range(res, m) -> tuple:
    """metafor's default range of the profile: from the Q-profile interval, else a Wald range,
    else a quarter to four times the estimate."""
    from .._base import zcrit

    t2 = float(m.tau2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci_lo, ci_hi = float(res.tau2_ci_low), float(res.tau2_ci_high)
    except MetaAnalysisError:
        ci_lo = ci_hi = _NAN
    lo, hi = min(t2, ci_lo), max(0.1, t2, ci_hi)
    if math.isnan(ci_lo) or math.isnan(ci_hi):
        se = float(getattr(res, "se_tau2", _NAN))
        z = zcrit(99)
        lo, hi = max(0.0, t2 - z * se), max(0.1, t2 + z * se)
    if math.isnan(lo) or math.isnan(hi):
        lo, hi = max(0.0, t2 / 4), max(0.1, t2 * 4)
    return lo, hi


# --------------------------------------------------------------------------------------------
# The normal QQ plot of the residuals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class QQResult(ResultMixin):
    """The points of a normal QQ plot of a fit's residuals, with a pseudo-confidence envelope
    (metafor's ``qqnorm.rma.uni``).

    Attributes
    ----------
    theoretical : numpy.ndarray
        Standard normal quantiles at R's ``ppoints(k)``.
    sample : numpy.ndarray
        The residuals, sorted.
    labels : tuple
        The study of each sorted residual.
    lower, upper : numpy.ndarray
        The envelope at each point (NaN without it): quantiles of the sorted residuals of
        simulated standard normal data through the fit's hat matrix (Cook and Weisberg 1982).
    kind : str
        ``"rstandard"`` or ``"rstudent"``.
    level : float
    reps : int
    seed : int or None
    """

    theoretical: np.ndarray
    sample: np.ndarray
    labels: tuple
    lower: np.ndarray
    upper: np.ndarray
    kind: str
    level: float
    reps: int
    seed: int | None

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"theoretical": self.theoretical, "sample": self.sample,
                             "lower": self.lower, "upper": self.upper},
                            index=pd.Index(list(self.labels), name="study"))

    def to_dict(self) -> dict:
        return jsonable({"theoretical": self.theoretical, "sample": self.sample,
                         "labels": list(self.labels), "lower": self.lower, "upper": self.upper,
                         "kind": self.kind, "level": self.level, "reps": self.reps,
                         "seed": self.seed})

    def outside(self) -> tuple:
        """The studies whose residual lies outside the envelope."""
        out = (self.sample < self.lower) | (self.sample > self.upper)
        return tuple(lab for lab, o in zip(self.labels, out) if o)

    def _short(self) -> str:
        return f"{self.kind} k={len(self.sample)} outside={len(self.outside())}"

    def summary(self) -> str:
        lines = [f"Normal QQ points of the {self.kind} residuals (k = {len(self.sample)})"]
        if np.isfinite(self.lower).any():
            out = self.outside()
            lines.append(f"{self.level:g}% envelope from {self.reps} simulations (seed "
                         f"{self.seed}): " + (", ".join(out) + " outside" if out
                                               else "every study inside"))
        return "\n".join(lines)


def _ppoints(n: int) -> np.ndarray:
    """R's ppoints(n): (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_residuals(res, *, type: str = "rstandard", envelope: bool = True,  # noqa: A002
                 level: float | None = None, reps: int = 1000, seed: int | None = None,
                 bonferroni: bool = False) -> QQResult:
    """Normal QQ points of a fit's standardized residuals, with a pseudo-confidence envelope, as
    metafor's ``qqnorm``.

    The residuals (:func:`rstandard` or :func:`rstudent`) are sorted against the standard normal
    quantiles at R's ``ppoints``. The envelope (Cook and Weisberg 1982, as metafor) draws ``reps``
    sets of standard normal data, passes each through I - H (H the fit's hat matrix), sorts
    them, and takes the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of each order
    statistic (divided by k with ``bonferroni``). metafor smooths the envelope with ``supsmu``
    and draws it from R's random numbers; here the quantiles are given as they are, from
    ``seed``.

    Parameters
    ----------
    res : PoolResult or RegressionResult
    type : {"rstandard", "rstudent"}
    envelope : bool
    level : float, optional
        Level of the envelope (default the fit's).
    reps : int
        Simulated data sets.
    seed : int, optional
        Seed of the simulation (required with the envelope, for a result that can be repeated).
    bonferroni : bool

    Returns
    -------
    QQResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> qq = qq_residuals(ma.pool(es.yi, es.vi), seed=1)
    >>> round(float(qq.theoretical[0]), 4), round(float(qq.sample[0]), 4)
    (-1.7688, -1.3253)
    """
    from scipy.special import ndtri

    if type not in ("rstandard", "rstudent"):
        raise InputError(f"type={type!r}: use 'rstandard' or 'rstudent'")
    m = _model(res)
    if m.k < 2:
        raise InputError("a QQ plot needs at least 2 studies")
    r = rstandard(res) if type == "rstandard" else rstudent(res)
    z = np.asarray(r.z, float)
    keep = np.isfinite(z)
    zk = z[keep]
    labels = [lab for lab, ok in zip(r.labels, keep) if ok]
    order = np.argsort(zk, kind="stable")
    n = len(zk)
    theoretical = ndtri(_ppoints(n))
    lower = upper = np.full(n, _NAN)
    lvl = m.level if level is None else check_level(level)
    reps = int(reps)
    if envelope:
        if seed is None:
            raise InputError("the envelope is simulated: give seed= so that it can be repeated "
                             "(or envelope=False)")
        if reps < 10:
            raise InputError(f"reps must be at least 10; got {reps}")
        rng = np.random.default_rng(seed)
        imh = np.eye(m.k) - _hat_matrix(m)
        sims = np.sort(imh @ rng.standard_normal((m.k, reps)), axis=0)
        alpha = 1 - lvl / 100
        tail = alpha / 2 / (m.k if bonferroni else 1)
        # R's quantile type 7 is numpy's default linear interpolation
        lower = np.quantile(sims, tail, axis=1)
        upper = np.quantile(sims, 1 - tail, axis=1)
        if n != m.k:
            # a residual that cannot be computed (rstudent of a study whose deletion leaves no
            # fit) is not drawn: the envelope of k order statistics is read at the n points
            at = ndtri(_ppoints(m.k))
            lower, upper = np.interp(theoretical, at, lower), np.interp(theoretical, at, upper)
    return QQResult(theoretical, zk[order], tuple(labels[i] for i in order), np.asarray(lower),
                    np.asarray(upper), type, float(lvl), reps if envelope else 0,
                    None if not envelope else int(seed))
