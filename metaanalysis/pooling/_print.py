"""Pieces of metafor's printed models shared by the fits' ``summary()``: the coefficient table,
the test of moderators and the p-values written after ``p-val``."""

from __future__ import annotations

import numpy as np

from .._base import fmt, fmt_p
from .core import _stars


def p_equals(p: float) -> str:
    """A p-value as metafor writes it after ``p-val``: ``= 0.0123``, ``< .0001``, ``= NA``.

    Examples
    --------
    >>> p_equals(0.01234), p_equals(2e-6), p_equals(float("nan"))
    ('= 0.0123', '< .0001', '= NA')
    """
    s = fmt_p(p)
    return "< " + s[1:] if s.startswith("<") else "= " + s


def df_text(df: float) -> str:
    """Degrees of freedom as metafor prints them: whole numbers bare, others to two decimals."""
    return f"{df:g}" if df == round(df) else f"{df:.2f}"


def omnibus_line(qm: float, qm_df: int, qm_df2: float | None, qm_pvalue: float, *,
                 pval_label: str = "p-val") -> str:
    """The Wald test of a set of coefficients: ``QM(df = m) = ...`` for a chi-square test, or
    ``F(df1 = m, df2 = n) = ...`` when ``qm_df2`` is given (t-based tests)."""
    stat = f"QM(df = {qm_df})" if qm_df2 is None else f"F(df1 = {qm_df}, df2 = {df_text(qm_df2)})"
    return f"{stat} = {fmt(qm)}, {pval_label} {p_equals(qm_pvalue)}"


def coef_span(idx) -> str:
    """1-based coefficient positions as metafor names a consecutive set: ``2:4`` or ``2``."""
    return f"{idx[0]}:{idx[-1]}" if len(idx) > 1 else str(idx[0])


def moderator_lines(coefs, qm: float, qm_df: int, qm_df2: float | None, qm_pvalue: float, *,
                    mark: str = "", pval_label: str = "p-val") -> list:
    """metafor's "Test of Moderators" block: the heading naming the tested coefficients, then
    the omnibus test.

    ``coefs`` is either 1-based positions (consecutive, printed ``2:3``) or coefficient labels
    (printed comma-separated, as ``anova`` with ``btt`` does); ``mark`` is appended to the heading
    (a footnote sign) and ``pval_label`` replaces ``p-val`` (``p-val*`` for permutation tests).

    Examples
    --------
    >>> moderator_lines([2, 3], 12.2043, 2, None, 0.0022)
    ['Test of Moderators (coefficients 2:3):', 'QM(df = 2) = 12.2043, p-val = 0.0022']
    """
    coefs = list(coefs)
    names = ", ".join(coefs) if all(isinstance(c, str) for c in coefs) else coef_span(coefs)
    head = f"Test of Moderators (coefficient{'s' if len(coefs) > 1 else ''} {names}):{mark}"
    return [head, omnibus_line(qm, qm_df, qm_df2, qm_pvalue, pval_label=pval_label)]


def table_lines(head, rows) -> list:
    """Rows of text cells as aligned lines: the first column left-aligned, the others right."""
    width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return ["  ".join([r[0].ljust(width[0])] + [c.rjust(w) for c, w in zip(r[1:], width[1:])]).rstrip()
            for r in [head] + rows]


def coef_table(res, df=None, *, pval_label: str = "pval") -> list:
    """metafor's "Model Results" table of a fit with ``coef_names, coef, se, statistic, pvalue,
    ci_low, ci_high`` (and ``df``: None for z tests, a number or one per coefficient for t tests),
    with significance stars; an intercept-only model's single row has no label, as in metafor."""
    df = getattr(res, "df", None) if df is None else df
    stat = "zval" if df is None else "tval"
    head = ["", "estimate", "se", stat] + ([] if df is None else ["df"]) + [pval_label, "ci.lb", "ci.ub"]
    rows = []
    dfs = np.broadcast_to(np.asarray(df if df is not None else np.nan, dtype=float), (len(res.coef),))
    for j, name in enumerate(res.coef_names):
        r = [name, fmt(res.coef[j]), fmt(res.se[j]), fmt(res.statistic[j])]
        if df is not None:
            r.append(df_text(dfs[j]))
        r += [fmt_p(res.pvalue[j]), fmt(res.ci_low[j]), fmt(res.ci_high[j])]
        rows.append(r)
    if len(rows) == 1 and tuple(res.coef_names) == ("intrcpt",):
        head, rows = head[1:], [rows[0][1:]]
        width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, width)) for r in [head] + rows]
    else:
        lines = table_lines(head, rows)
    return [lines[0]] + [f"{line}  {_stars(res.pvalue[j])}".rstrip() for j, line in enumerate(lines[1:])]
