"""Meta-regression: metafor's ``rma(yi, vi, mods=...)`` with continuous and categorical moderators.

The model is fitted by :func:`metaanalysis.pooling.core.fit_rma`, the engine behind :func:`pool`
(which is its intercept-only case), so tau², Q, I², H² and the tests are computed once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtrc, fdtrc

from .._base import ResultMixin, as_float_array, check_level, fmt, frozen_field, jsonable
from ..errors import InputError
from . import tau2 as _tau2
from ._methods import DiagnosticsMixin
from ._print import coef_table, moderator_lines, p_equals
from ._result import coef_frame
from .core import _readonly_view, critical_value, fit_rma, i2_h2_from_tau2, validate_common

__all__ = ["meta_regression", "RegressionResult", "design_matrix", "regression_line",
           "RegressionLine"]

_NAN = float("nan")


# --------------------------------------------------------------------------------------------
# Design matrices
# --------------------------------------------------------------------------------------------


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _levels(series) -> list:
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(series.cat.categories)
    return sorted(series.dropna().unique().tolist(), key=lambda x: (str(type(x)), x))


def _patsy_name(name: str) -> str:
    """R-style coefficient names: ``Intercept`` -> ``intrcpt``, ``g[T.b]`` -> ``gb``."""
    if name == "Intercept":
        return "intrcpt"
    return re.sub(r"(?:C\()?([A-Za-z_.][\w.]*)\)?\[(?:T\.)?([^\]]*)\]", r"\1\2", name)


# The functions a moderator formula may call: patsy's own (coding, centring, splines) and
# elementwise transformations under R's names and numpy's. Patsy evaluates each term as Python,
# so a formula is checked against this list before patsy sees it: a formula passed on by a
# script (``pool --mods``) must not be able to run code.
_FORMULA_PATSY = ("C", "I", "Q", "Treatment", "Sum", "Poly", "Helmert", "Diff",
                  "center", "standardize", "scale", "bs", "cr", "cc", "te")
_FORMULA_MATH = ("log", "log2", "log10", "log1p", "exp", "sqrt", "abs", "square", "power")
_FORMULA_OPS = ("Add", "Sub", "Mult", "Div", "Pow", "USub", "UAdd")


def _formula_namespace(formula: str, columns: list[str]) -> dict:
    """The names a moderator formula may use, after checking that it uses nothing else.

    Every term of the formula must be a column of the data, a number or a string, arithmetic
    (``+ - * / **``) of those, or a call of ``C``, ``I``, ``Q``, a contrast, ``center``,
    ``standardize``, ``scale``, a spline (``bs``, ``cr``, ``cc``, ``te``) or an elementwise
    function (``log``, ``exp``, ``sqrt`` ... also as ``np.log``). Anything else (attributes,
    indexing, other names) is an :class:`InputError` that names the term.
    """
    import ast

    import patsy
    from patsy.parse_formula import parse_formula

    allowed = set(columns) | set(_FORMULA_PATSY) | set(_FORMULA_MATH)
    valid = ("a column of data=, a number, arithmetic (+ - * / **) or a call of "
             + ", ".join(_FORMULA_PATSY + _FORMULA_MATH) + " (also as np.log, ...)")

    def refuse(term, what):
        raise InputError(f"moderator formula {formula!r}: the term {term!r} uses {what}; a term "
                         f"may use {valid}")

    def check(node, term):
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                refuse(term, f"{node.id!r}, which is neither a column of data= nor an allowed "
                             "function")
        elif isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy")
                    and node.attr in _FORMULA_MATH):
                refuse(term, f"the attribute .{node.attr}")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str)) or isinstance(node.value, bool):
                refuse(term, f"the constant {node.value!r}")
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, (ast.Name, ast.Attribute)):
                refuse(term, "a call of something that is not a name")
            for child in (node.func, *node.args, *(kw.value for kw in node.keywords)):
                check(child, term)
            if any(kw.arg is None for kw in node.keywords) or any(
                    isinstance(a, ast.Starred) for a in node.args):
                refuse(term, "* or ** unpacking")
        elif isinstance(node, ast.BinOp) and type(node.op).__name__ in _FORMULA_OPS:
            check(node.left, term)
            check(node.right, term)
        elif isinstance(node, ast.UnaryOp) and type(node.op).__name__ in _FORMULA_OPS:
            check(node.operand, term)
        else:
            refuse(term, f"Python's {type(node).__name__}")

    def walk(node):
        if node.type == "PYTHON_EXPR":
            term = node.token.extra
            try:
                tree = ast.parse(term, mode="eval")
            except SyntaxError:
                refuse(term, "syntax that is not Python arithmetic")
            check(tree.body, term)
        for child in node.args:
            walk(child)

    try:
        walk(parse_formula(formula))
    except patsy.PatsyError as exc:
        raise InputError(f"cannot read the moderator formula {formula!r}: {exc}") from None
    math_fns = {name: getattr(np, name) for name in _FORMULA_MATH}
    return {"np": np, "numpy": np, **math_fns}


def design_matrix(mods, *, data=None, intercept: bool = True, k: int | None = None):
    """The model matrix and coefficient names for ``mods``, as R's ``model.matrix`` builds them.

    ``mods`` is an array (k or k x q), a DataFrame (non-numeric columns dummy-coded with the first
    level, sorted or the categorical order, as reference) or a formula string such as
    ``"~ ablat + alloc"`` evaluated in ``data`` with patsy. Returns ``(X, names, has_intercept)``.
    """
    import pandas as pd

    if isinstance(mods, str):
        if data is None:
            raise InputError("a formula for mods needs data= (a DataFrame holding its variables)")
        try:
            import patsy
        except ImportError:  # pragma: no cover - a declared dependency
            raise InputError("formula moderators need the patsy package (pip install patsy)") from None
        formula = mods.strip()
        if not formula.startswith("~"):
            formula = "~ " + formula
        env = _formula_namespace(formula, [str(c) for c in data.columns])
        try:
            dm = patsy.dmatrix(formula[1:].strip() or "1", data, NA_action="raise",
                               return_type="dataframe", eval_env=patsy.EvalEnvironment([env]))
        except patsy.PatsyError as exc:
            raise InputError(f"cannot build the model matrix from {mods!r}: {exc}") from None
        # patsy puts categorical terms before numeric ones; R keeps the order of the formula
        info = dm.design_info
        written = patsy.ModelDesc.from_formula(formula[1:].strip() or "1").rhs_termlist
        rank = {term: i for i, term in enumerate(written)}
        terms = sorted(info.term_slices, key=lambda t: rank.get(t, len(rank)))
        cols = [j for t in terms for j in range(info.term_slices[t].start, info.term_slices[t].stop)]
        names = [_patsy_name(dm.columns[j]) for j in cols]
        X = dm.to_numpy(dtype=float)[:, cols]
    elif isinstance(mods, (pd.DataFrame, pd.Series)):
        frame = mods.to_frame() if isinstance(mods, pd.Series) else mods
        cols, names = [], []
        full_coding = not intercept
        for col in frame.columns:
            s = frame[col]
            if s.isna().any():
                i = int(np.flatnonzero(s.isna().to_numpy())[0])
                raise InputError(f"moderator {col!r} is missing at index {i}")
            if _is_numeric(s):
                cols.append(s.to_numpy(dtype=float))
                names.append(str(col))
            else:
                levels = _levels(s)
                use = levels if full_coding else levels[1:]
                full_coding = False  # as R: only the first factor of a model without intercept
                for lev in use:
                    cols.append((s == lev).to_numpy(dtype=float))
                    names.append(f"{col}{lev}")
        X = np.column_stack(cols) if cols else np.empty((len(frame), 0))
        if intercept:
            X = np.column_stack([np.ones(len(frame)), X])
            names = ["intrcpt"] + names
    else:
        if isinstance(mods, (list, tuple)) and any(isinstance(r, (list, tuple, np.ndarray))
                                                   for r in mods):
            # numpy refuses rows of different lengths (older releases make an object array)
            # without saying which argument they came from
            lens = sorted({len(r) if hasattr(r, "__len__") else 1 for r in mods})
            if len(lens) > 1:
                raise InputError(f"mods has rows of different lengths ({', '.join(map(str, lens))}); "
                                 "give one row per study with one value per moderator")
        nd = np.ndim(mods)
        X = as_float_array(mods, "mods", ndim=nd if nd in (1, 2) else 2)
        if X.ndim == 1:
            X = X[:, None]
            names = ["mods"]
        else:
            names = [f"mods{j + 1}" for j in range(X.shape[1])]
        if intercept:
            X = np.column_stack([np.ones(X.shape[0]), X])
            names = ["intrcpt"] + names
    if k is not None and X.shape[0] != k:
        raise InputError(f"the moderators have {X.shape[0]} rows but there are {k} studies")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise InputError(f"moderators are missing or infinite at index {int(bad[0])}")
    # an all-ones column is the intercept wherever it stands (metafor moves it first)
    ones = [j for j in range(X.shape[1]) if np.all(X[:, j] == 1.0)]
    has_int = bool(ones)
    if has_int and ones[0] != 0:
        j = ones[0]
        order = [j] + [i for i in range(X.shape[1]) if i != j]
        X = X[:, order]
        names = ["intrcpt"] + [names[i] for i in order[1:]]
    elif has_int:
        names[0] = "intrcpt"
    if X.shape[1] == 0:
        raise InputError("the model has no coefficients: give moderators or intercept=True")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError(
            f"the model matrix ({', '.join(names)}) is not of full rank: a moderator is constant or "
            "a combination of others; drop it"
        )
    return X, tuple(names), has_int


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

_DICT_KEYS = (
    "coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "coef_names", "tau2", "se_tau2",
    "tau2_ci_low", "tau2_ci_high", "i2", "h2", "qe", "qe_df", "qe_pvalue", "qm", "qm_df", "qm_df2",
    "qm_pvalue", "r2", "k", "p", "method", "test", "level", "df", "converged", "iterations",
    "measure",
)


@dataclass(frozen=True, eq=False, repr=False)
class RegressionConfint(ResultMixin):
    """metafor's ``confint`` of a meta-regression: intervals for each coefficient and for tau²,
    tau, I² (%) and H² (``random``: name -> (estimate, ci_low, ci_high))."""

    coef_names: tuple
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef: np.ndarray
    random: dict = frozen_field()
    level: float
    ci_type: str

    def to_dict(self) -> dict:
        out = {"coef_names": list(self.coef_names), "coef": self.coef, "ci_low": self.ci_low,
               "ci_high": self.ci_high}
        for name, (e, lo, hi) in self.random.items():
            out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = e, lo, hi
        out.update(level=self.level, ci_type=self.ci_type)
        return jsonable(out)

    def to_frame(self):
        """One row per coefficient, then tau2, tau, i2, h2: estimate, ci_low, ci_high."""
        import pandas as pd

        rows = {n: (float(c), float(lo), float(hi))
                for n, c, lo, hi in zip(self.coef_names, self.coef, self.ci_low, self.ci_high)}
        rows.update(self.random)
        return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high"])

    def _short(self) -> str:
        lo, hi = self.random["tau2"][1:]
        return f"{self.ci_type} tau2 [{fmt(lo)}, {fmt(hi)}]"

    def summary(self) -> str:
        names = {"tau2": "tau^2", "tau": "tau", "i2": "I^2(%)", "h2": "H^2"}
        rows = [[names[k], fmt(e), fmt(lo), fmt(hi)] for k, (e, lo, hi) in self.random.items()]
        fixed = [[n, fmt(c), fmt(lo), fmt(hi)]
                 for n, c, lo, hi in zip(self.coef_names, self.coef, self.ci_low, self.ci_high)]
        from ._print import table_lines

        head = ["", "estimate", "ci.lb", "ci.ub"]
        return "\n".join([""] + table_lines(head, rows) + [""] + table_lines(head, fixed) + [""]) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class RegressionResult(DiagnosticsMixin, ResultMixin):
    """A fitted mixed-effects meta-regression (metafor's ``rma.uni`` with ``mods``).

    ``qm`` tests all coefficients but the intercept (all of them without one): a chi-square
    statistic for ``test="z"``, an F statistic with (``qm_df``, ``qm_df2``) df otherwise. ``r2`` is
    metafor's pseudo R² in percent (None without an intercept, as metafor). The interval for tau²
    is the Q-profile interval, computed on first use.
    """

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef_names: tuple
    vcov: np.ndarray
    tau2: float
    se_tau2: float
    i2: float
    h2: float
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df: int
    qm_df2: float | None
    qm_pvalue: float
    r2: float | None
    k: int
    p: int
    method: str
    test: str
    level: float
    df: float | None
    converged: bool
    iterations: int
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    has_intercept: bool
    vt: float = field(default=_NAN, repr=False)
    control: Any = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)
    # what the effects are (a ratio is drawn on a log axis) and the studies' names
    measure: str | None = None
    labels: tuple = ()

    def _tau2_ci(self, ci_type: str = "QP", level: float | None = None):
        """The interval for tau² of ``ci_type`` (metafor's confint types QP, PL, Wald, Wald.log,
        Wald.sqrt) at ``level`` (default the model's), computed on first use and then kept."""
        level = self.level if level is None else level
        key = ("tau2_ci", ci_type, level) if (ci_type, level) != ("QP", self.level) else "tau2_ci"
        ci = self._cache.get(key)
        if ci is None:
            if self.method == "EE":
                ci = (_NAN, _NAN)
            elif ci_type.startswith("Wald"):
                t2min = _tau2._user_bound(self.control, "tau2_min")
                ci = _tau2.wald_ci(self.tau2, self.se_tau2, level, ci_type, 0.0 if t2min is None else t2min)
            elif ci_type == "PL":
                ci = _tau2.profile_likelihood_ci(self.yi, self.vi, self.X, level, self.tau2, self.method,
                                                 self.control)
            else:
                ci = _tau2.q_profile_ci(self.yi, self.vi, self.X, level, self.tau2, self.control)
            self._cache[key] = ci
        return ci

    def confint(self, level=None, type=None) -> "RegressionConfint":  # noqa: A002 - metafor's name
        """Intervals for the coefficients and for tau², tau, I², H² (metafor's ``confint`` of a
        model with moderators).

        ``type`` chooses the interval for tau²: ``"QP"`` the Q-profile (default), ``"PL"`` the
        profile likelihood (restricted for REML fits), ``"Wald"``, ``"Wald.log"``, ``"Wald.sqrt"``
        (from the SE of tau²); I² and H² follow from it (residual heterogeneity).

        Examples
        --------
        >>> import metaanalysis as ma
        >>> bcg = ma.load_bcg()
        >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
        >>> reg = ma.meta_regression(es.yi, es.vi, mods="~ ablat + year", data=bcg)
        >>> round(reg.confint(type="PL").random["tau2"][2], 4)     # metafor: 0.5946
        0.5946
        """
        ci_type = "QP" if type is None else type
        if ci_type not in _tau2.CI_TYPES or ci_type == "GENQ":
            valid = ", ".join(t for t in _tau2.CI_TYPES if t != "GENQ")
            raise InputError(f"unknown confint type {type!r} for a meta-regression; valid types: {valid}")
        lvl = self.level if level is None else check_level(level)
        crit = critical_value(lvl, self.df)
        lo, hi = self._tau2_ci(ci_type, lvl)
        sq = lambda x: math.sqrt(x) if x >= 0 else _NAN  # noqa: E731
        i2, h2 = i2_h2_from_tau2(np.array([lo, hi]), self.vt)
        random = {
            "tau2": (self.tau2, lo, hi),
            "tau": (math.sqrt(self.tau2) if self.tau2 >= 0 else _NAN, sq(lo), sq(hi)),
            "i2": (self.i2, *np.asarray(i2).tolist()),
            "h2": (self.h2, *np.asarray(h2).tolist()),
        }
        return RegressionConfint(self.coef_names, _readonly_view(self.coef - crit * self.se),
                                 _readonly_view(self.coef + crit * self.se), self.coef, random, lvl,
                                 ci_type)

    @property
    def tau2_ci_low(self) -> float:
        return self._tau2_ci()[0]

    @property
    def tau2_ci_high(self) -> float:
        return self._tau2_ci()[1]

    @property
    def i2_ci(self):
        return tuple(i2_h2_from_tau2(t, self.vt)[0] for t in self._tau2_ci())

    def to_dict(self) -> dict:
        return jsonable({key: getattr(self, key) for key in _DICT_KEYS})

    def to_frame(self):
        """One row per coefficient: estimate, se, statistic, pvalue, ci_low, ci_high."""
        return coef_frame(self)

    def predict(self, newmods=None, *, intercept: bool = True, transf=None):
        """Predicted effects (metafor's ``predict(res, newmods=...)``) as a DataFrame.

        ``newmods`` holds the moderator values without the intercept column (one row per
        prediction); by default the fitted values of the studies.
        """
        import pandas as pd

        from .core import _transform

        if newmods is None:
            Xn = self.X
        else:
            Xn = np.atleast_2d(np.asarray(newmods, dtype=float))
            q = self.p - (1 if self.has_intercept else 0)
            if Xn.shape[1] != q and Xn.shape[0] == q:
                Xn = Xn.T
            if self.has_intercept:
                Xn = np.column_stack([np.full(Xn.shape[0], 1.0 if intercept else 0.0), Xn])
            if Xn.shape[1] != self.p:
                raise InputError(f"newmods needs {self.p - self.has_intercept} columns; got {Xn.shape[1]}")
        out = _predict_rows(self, Xn, self.level)
        f = _transform(transf)
        if f is not None:
            for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high"):
                out[key] = f(out[key])
            out["se"] = np.full_like(out["pred"], _NAN)
        return pd.DataFrame(out)

    def _short(self) -> str:
        return f"{self.method} k={self.k} p={self.p} tau2={fmt(self.tau2)} QM={fmt(self.qm)}"

    def summary(self) -> str:
        out = [""]
        if self.method == "EE":
            out.append(f"Fixed-Effects with Moderators Model (k = {self.k})")
        else:
            out.append(f"Mixed-Effects Model (k = {self.k}; tau^2 estimator: {self.method})")
        out.append("")
        if self.method != "EE":
            se_part = "" if math.isnan(self.se_tau2) else f" (SE = {fmt(self.se_tau2)})"
            out.append(f"tau^2 (estimated amount of residual heterogeneity):     {fmt(self.tau2)}{se_part}")
            out.append(f"tau (square root of estimated tau^2 value):             {fmt(math.sqrt(self.tau2))}")
        out.append(f"I^2 (residual heterogeneity / unaccounted variability): {fmt(self.i2, 2)}%")
        out.append(f"H^2 (unaccounted variability / sampling variability):   {fmt(self.h2, 2)}")
        if self.r2 is not None:
            out.append(f"R^2 (amount of heterogeneity accounted for):            {fmt(self.r2, 2)}%")
        out.append("")
        out.append("Test for Residual Heterogeneity:")
        out.append(f"QE(df = {self.qe_df}) = {fmt(self.qe)}, p-val {p_equals(self.qe_pvalue)}")
        out.append("")
        idx = list(range(2 if self.has_intercept else 1, self.p + 1))
        out += moderator_lines(idx, self.qm, self.qm_df, self.qm_df2, self.qm_pvalue)
        out.append("")
        out.append("Model Results:")
        out.append("")
        out += coef_table(self)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        return "\n".join(out) + "\n"


def _r2(y, v, X, method, fit, has_int, control) -> float | None:
    """metafor's pseudo R² (%): the drop in tau² from the intercept-only model (``r2def="1"``)."""
    if not has_int or X.shape[1] == 1:
        return None
    if method == "EE":
        if np.var(y) == 0:
            return 0.0
        # adjusted R² of the weighted least-squares fit (metafor uses lm(yi ~ X, weights = 1/vi))
        w = 1.0 / v
        beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        f = X @ beta
        rss = float(w @ (y - f) ** 2)
        mss = float(w @ (f - (w @ f) / w.sum()) ** 2)
        n, p = y.shape[0], X.shape[1]
        if n <= p:
            return _NAN  # saturated: no residual degrees of freedom (metafor: NA)
        r2 = mss / (mss + rss)
        adj = 1 - (1 - r2) * (n - 1) / (n - p)
        return max(0.0, 100 * adj)
    try:
        t0 = _tau2.estimate_with_remedies(y, v, None, method, None, None, control).tau2
    except Exception:  # metafor reports NA when the reduced model cannot be fitted
        return _NAN
    if t0 == 0:
        return 0.0
    return max(0.0, 100 * (t0 - fit.tau2) / t0)


def meta_regression(
    yi,
    vi=None,
    mods=None,
    *,
    sei=None,
    data=None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    intercept: bool = True,
    knha_adhoc: bool = False,
    control: dict | None = None,
    measure: str | None = None,
    labels=None,
) -> RegressionResult:
    """Mixed-effects meta-regression, as metafor's ``rma(yi, vi, mods = ...)``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (or ``sei=``).
    mods : array_like, DataFrame or str
        Moderators: an array (k or k x q), a DataFrame (categorical columns dummy-coded, first
        level as reference) or a formula such as ``"~ ablat + alloc"`` with ``data=``. A
        formula's terms are columns of ``data``, numbers, arithmetic, interactions (``:``,
        ``*``), ``-1``, and calls of ``C``, ``I``, ``log``, ``exp``, ``sqrt`` (also ``np.log``
        ...) and patsy's ``center``, ``scale``, contrasts and splines; anything else (which
        patsy would run as Python) is refused.
    method, test, level, knha_adhoc, control
        As in :func:`metaanalysis.pool`; ``test="knha"`` gives t tests and an F test of moderators.
        The default is metafor's, ``"z"``; the Knapp-Hartung adjustment, which the design notes'
        example passes, is often preferred for meta-regression (its error rates hold better with
        few studies): pass it.
    intercept : bool
        Add an intercept (ignored for a formula, which says so itself as in R).
    measure : str, optional
        The effects' measure code (``"RR"``, ``"HR"``...), as in :func:`metaanalysis.pool`: it
        decides the axis of :func:`metaanalysis.plots.regplot`.
    labels : sequence of str, optional
        Study labels.

    Returns
    -------
    RegressionResult

    Raises
    ------
    InputError
        When the model matrix is not of full rank (a moderator that is a combination of others).
        metafor drops such moderators with a warning; here the model is refused, naming the
        columns, so that a term the user asked for never leaves the model unnoticed.

    Notes
    -----
    Where the moderators fit the effects exactly under ``test="knha"`` (a Knapp-Hartung scale of
    0), the standard errors are 0 and the test of moderators is NaN, as metafor reports them
    (NA); a saturated common-effect model (k = number of coefficients) has no R² (NaN).

    Examples
    --------
    >>> import numpy as np
    >>> res = meta_regression([0.1, 0.3, 0.35, -0.2, 0.5], [0.01, 0.02, 0.015, 0.03, 0.02],
    ...                       mods=np.array([1.0, 2.0, 3.0, 0.0, 4.0]), method="REML")
    >>> res.coef_names
    ('intrcpt', 'mods')
    """
    from .core import check_measure

    method, test, level = validate_common(method, test, level, knha_adhoc)
    measure = check_measure(measure)
    y, v = _tau2.validate_yi_vi(yi, vi, sei)
    k = y.shape[0]
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != k:
            raise InputError(f"labels has {len(labels)} entries for k = {k} studies")
    if mods is None:
        raise InputError("meta_regression needs mods=; for an intercept-only model use pool()")
    X, names, has_int = design_matrix(mods, data=data, intercept=intercept, k=k)
    p = X.shape[1]
    need = p if method == "EE" else p + 1
    if need > k:
        raise InputError(f"{p} coefficients{'' if method == 'EE' else ' and tau²'} cannot be estimated from k = {k} studies")
    Xf = None if (p == 1 and has_int) else X
    fit = fit_rma(y, v, Xf, method, test, level, None, None, control)
    btt = list(range(1, p)) if has_int and p > 1 else list(range(p))
    b = fit.beta[btt]
    vbb = fit.vb[np.ix_(btt, btt)]
    m = len(btt)
    if np.all(np.diag(vbb) > 0):
        qm = float(b @ np.linalg.solve(vbb, b))
    else:
        # a Knapp-Hartung scale of 0 (the moderators fit yi exactly, or k = p under EE): no
        # variance to test against; metafor reports QM = NA and se = 0
        qm = _NAN
    if fit.df is None:
        qm_df2 = None
        qm_p = float(chdtrc(m, qm)) if math.isfinite(qm) else _NAN
    else:
        qm /= m
        qm_df2 = fit.df
        qm_p = float(fdtrc(m, qm_df2, qm)) if qm_df2 > 0 and math.isfinite(qm) else _NAN
    r2 = _r2(y, v, X, method, fit, has_int, control)
    return RegressionResult(
        _readonly_view(fit.beta), _readonly_view(fit.se), _readonly_view(fit.stat), _readonly_view(fit.pval),
        _readonly_view(fit.ci_low), _readonly_view(fit.ci_high), names, _readonly_view(fit.vb), fit.tau2,
        fit.se_tau2, fit.i2, fit.h2, fit.qe, k - p, fit.qe_p, qm, m, qm_df2, qm_p, r2, k, p, method,
        fit.test, level, fit.df, fit.converged, fit.iterations, _readonly_view(y.copy()),
        _readonly_view(v.copy()), _readonly_view(X), has_int, fit.vt, control,
        measure=measure, labels=labels or tuple(f"Study {i + 1}" for i in range(k)),
    )


# --------------------------------------------------------------------------------------------
# The fitted line against one moderator (metafor's regplot)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class RegressionLine(ResultMixin):
    """A meta-regression's prediction against one moderator, the others held at their means,
    with the studies around it: what :func:`metaanalysis.plots.regplot` draws.

    Attributes
    ----------
    mod : str
        The moderator on the x axis.
    x, pred, ci_low, ci_high, pi_low, pi_high : numpy.ndarray
        The line and its confidence and prediction bands (NaN prediction bands for an EE model),
        on the analysis scale.
    xi, yi, vi, fitted, weights, psize : numpy.ndarray
        Each study's moderator value, effect, sampling variance, prediction at its value (the
        others at their means), weight (fractions summing to 1) and point size (metafor's
        ``psize``: the square root of the weight, scaled linearly to ``plim``).
    held : dict
        The other columns of the model matrix and the value each is held at (its mean).
    labels : tuple
    level : float
    measure : str or None
    """

    mod: str
    x: np.ndarray
    pred: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    xi: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    fitted: np.ndarray
    weights: np.ndarray
    psize: np.ndarray
    held: dict = frozen_field()
    labels: tuple
    level: float
    measure: str | None = None

    def __post_init__(self):
        for name in ("x", "pred", "ci_low", "ci_high", "pi_low", "pi_high", "xi", "yi", "vi",
                     "fitted", "weights", "psize"):
            object.__setattr__(self, name, _readonly_view(np.asarray(getattr(self, name), float)))

    def to_dict(self) -> dict:
        return jsonable({"mod": self.mod, "held": self.held, "level": self.level,
                         "measure": self.measure, "line": self.to_frame().to_dict("list"),
                         "studies": self.study_frame().to_dict("list")})

    def to_frame(self):
        """The line: one row per x value, with ``pred`` and its bands."""
        import pandas as pd

        return pd.DataFrame({"x": self.x, "pred": self.pred, "ci_low": self.ci_low,
                             "ci_high": self.ci_high, "pi_low": self.pi_low,
                             "pi_high": self.pi_high})

    def study_frame(self):
        """The studies: label, xi, yi, vi, fitted, weight, psize."""
        import pandas as pd

        return pd.DataFrame({"label": list(self.labels), "xi": self.xi, "yi": self.yi,
                             "vi": self.vi, "fitted": self.fitted, "weight": self.weights,
                             "psize": self.psize})

    def _short(self) -> str:
        return f"mod={self.mod} k={len(self.xi)} points={len(self.x)}"

    def summary(self) -> str:
        held = ", ".join(f"{k} = {fmt(v)}" for k, v in self.held.items()) or "none"
        return "\n".join([
            f"Prediction against {self.mod} ({len(self.x)} points, {fmt(self.x[0])} to "
            f"{fmt(self.x[-1])}; level {self.level:g}%)",
            f"Other columns held at their means: {held}",
            f"Prediction from {fmt(self.pred[0])} to {fmt(self.pred[-1])}",
        ])


def regression_line(reg: RegressionResult, mod=None, *, xvals=None, n: int = 1000,
                    level: float | None = None, plim=(0.5, 3.0)) -> RegressionLine:
    """The prediction of a meta-regression against one moderator, as metafor's ``regplot``.

    The other columns of the model matrix are held at their means (for a dummy-coded factor, the
    share of studies in each level), as metafor does; the line runs over ``xvals`` or, by
    default, ``n`` points from 4 % of the moderator's range below its smallest value to 4 % above
    its largest.

    Parameters
    ----------
    reg : RegressionResult
    mod : str or int, optional
        The moderator: a name of ``reg.coef_names`` or its index there; optional when the model
        has one moderator.
    xvals : array_like, optional
        The x values of the line.
    n : int
        Number of points of the default line.
    level : float, optional
        Confidence level of the bands (default the fit's).
    plim : (float, float)
        Range of the point sizes (metafor's ``plim``).

    Returns
    -------
    RegressionLine

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> reg = meta_regression(es.yi, es.vi, mods="~ ablat", data=bcg, measure="RR")
    >>> line = regression_line(reg, xvals=[20, 50])   # metafor: predict(reg, newmods=c(20, 50))
    >>> [round(float(v), 4) for v in line.pred]
    [-0.3306, -1.2036]
    """
    if not isinstance(reg, RegressionResult):
        raise InputError(f"regression_line takes a meta_regression() fit; got {type(reg).__name__}")
    names = list(reg.coef_names)
    candidates = [i for i in range(reg.p) if not (reg.has_intercept and i == 0)]
    if mod is None:
        if len(candidates) != 1:
            raise InputError("the model has several moderators; name the one for the x axis: mod="
                             + " or ".join(repr(names[i]) for i in candidates))
        pos = candidates[0]
    elif isinstance(mod, str):
        if mod not in names:
            raise InputError(f"mod={mod!r} is not a column of the model; use one of "
                             + ", ".join(repr(names[i]) for i in candidates))
        pos = names.index(mod)
    else:
        pos = int(mod)
        if not 0 <= pos < reg.p:
            raise InputError(f"mod={mod!r}: the model has columns 0 to {reg.p - 1} "
                             f"({', '.join(names)})")
    if pos not in candidates:
        raise InputError(f"mod={names[pos]!r} is the intercept; choose a moderator")
    lev = reg.level if level is None else check_level(level)
    X = np.asarray(reg.X, float)
    xi = X[:, pos]
    if xvals is None:
        n = int(n)
        if n < 2:
            raise InputError(f"n must be at least 2; got {n}")
        span = float(xi.max() - xi.min())
        x = np.linspace(xi.min() - 0.04 * span, xi.max() + 0.04 * span, n)
    else:
        x = as_float_array(xvals, "xvals")
        if x.ndim != 1 or len(x) == 0:
            raise InputError("xvals must be a non-empty list of numbers")
    means = X.mean(axis=0)

    def at(values):
        Xn = np.tile(means, (len(values), 1))
        Xn[:, pos] = values
        return _predict_rows(reg, Xn, lev)

    line = at(x)
    fitted = at(xi)["pred"]
    w = 1.0 / (np.asarray(reg.vi, float) + reg.tau2)
    w = w / w.sum()
    root = np.sqrt(w)
    lo, hi = (float(v) for v in plim)
    spread = float(root.max() - root.min())
    psize = np.ones_like(root) if spread == 0 else lo + (hi - lo) * (root - root.min()) / spread
    held = {names[i]: float(means[i]) for i in range(reg.p)
            if i != pos and not (reg.has_intercept and i == 0)}
    labels = reg.labels or tuple(f"Study {i + 1}" for i in range(reg.k))
    return RegressionLine(names[pos], x, line["pred"], line["ci_low"], line["ci_high"],
                          line["pi_low"], line["pi_high"], xi, reg.yi, reg.vi, fitted, w, psize,
                          held, tuple(labels), float(lev), reg.measure)


def _predict_rows(reg, Xn, level) -> dict:
    """Predictions at the rows of a full model matrix (intercept column included): pred, se and
    the confidence and prediction bounds at ``level``."""
    pred = Xn @ reg.coef
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, reg.vcov, Xn))
    crit = critical_value(level, reg.df)
    s = np.sqrt(se**2 + reg.tau2)
    out = {"pred": pred, "se": se, "ci_low": pred - crit * se, "ci_high": pred + crit * se,
           "pi_low": pred - crit * s, "pi_high": pred + crit * s}
    if reg.method == "EE":
        out["pi_low"] = out["pi_high"] = np.full_like(pred, _NAN)
    return out

