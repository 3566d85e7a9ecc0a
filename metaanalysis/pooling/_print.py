"""The coefficient table of metafor's printed models, shared by every fit's ``summary()``."""

from __future__ import annotations

import numpy as np

from .._base import fmt, fmt_p
from .core import _stars


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
            r.append(f"{dfs[j]:g}" if dfs[j] == round(dfs[j]) else f"{dfs[j]:.2f}")
        r += [fmt_p(res.pvalue[j]), fmt(res.ci_low[j]), fmt(res.ci_high[j])]
        rows.append(r)
    if len(rows) == 1 and tuple(res.coef_names) == ("intrcpt",):
        head, rows = head[1:], [rows[0][1:]]
        width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, width)) for r in [head] + rows]
    else:
        lines = table_lines(head, rows)
    return [lines[0]] + [f"{line}  {_stars(res.pvalue[j])}".rstrip() for j, line in enumerate(lines[1:])]
