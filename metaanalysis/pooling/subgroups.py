"""Subgroup analysis: a pooled result per subgroup and the test for subgroup differences.

Two models, as in metafor's documentation of subgroup analyses:

* ``separate_tau2=True`` (the usual forest-plot default): each subgroup is pooled on its own, with
  its own tau²; the test for subgroup differences is Cochran's Q of the subgroup estimates with
  weights 1/SE² (what ``rma(estimates, sei=se, mods=~factor(group), method="FE")`` reports as QM).
* ``separate_tau2=False``: one meta-regression on the grouping factor with a common tau²; the test is
  its QM (chi-square, or F with ``test="knha"``). The per-subgroup results are then pooled with tau²
  fixed at the common estimate, which reproduces the model's subgroup means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

from .._base import ResultMixin, fmt, fmt_p, frozen_field, jsonable
from ..errors import InputError
from . import tau2 as _tau2
from .core import PoolResult, pool, validate_common
from .regression import RegressionResult, meta_regression

__all__ = ["subgroup_analysis", "SubgroupResult"]


@dataclass(frozen=True, eq=False, repr=False)
class SubgroupResult(ResultMixin):
    """Per-subgroup pooled results (``subgroups``, in order of first appearance), the pooled result
    over all studies (``overall``) and the test for subgroup differences."""

    subgroups: dict = frozen_field()
    overall: PoolResult
    statistic: float
    df: int
    df2: float | None
    pvalue: float
    method: str
    test: str
    level: float
    separate_tau2: bool
    tau2: float  # the common tau² (NaN with separate tau²)
    regression: RegressionResult | None = None

    @property
    def groups(self) -> tuple:
        return tuple(self.subgroups)

    def to_dict(self) -> dict:
        return jsonable({
            "groups": list(self.subgroups),
            "subgroups": {g: r.to_dict() for g, r in self.subgroups.items()},
            "overall": self.overall.to_dict(),
            "statistic": self.statistic, "df": self.df, "df2": self.df2, "pvalue": self.pvalue,
            "method": self.method, "test": self.test, "level": self.level,
            "separate_tau2": self.separate_tau2, "tau2": self.tau2,
        })

    def to_frame(self):
        """One row per subgroup (then one for all studies): k, estimate, se, CI, tau2, I², Q, PI."""
        import pandas as pd

        cols = ["k", "estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "i2", "q", "q_pvalue",
                "pi_low", "pi_high"]
        rows = {g: {c: getattr(r, c) for c in cols} for g, r in self.subgroups.items()}
        rows["overall"] = {c: getattr(self.overall, c) for c in cols}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "group"
        return frame

    def _short(self) -> str:
        return f"{len(self.subgroups)} groups, difference p={fmt_p(self.pvalue)}"

    def summary(self) -> str:
        out = ["", f"Subgroup analysis ({self.method}; {'separate' if self.separate_tau2 else 'common'} tau^2)", ""]
        head = f"{'group':<16}{'k':>4}{'estimate':>10}{'se':>9}{'ci.lb':>10}{'ci.ub':>10}{'tau^2':>9}{'I^2':>8}"
        out.append(head)
        for g, r in list(self.subgroups.items()) + [("overall", self.overall)]:
            out.append(f"{str(g)[:15]:<16}{r.k:>4}{fmt(r.estimate):>10}{fmt(r.se):>9}{fmt(r.ci_low):>10}"
                       f"{fmt(r.ci_high):>10}{fmt(r.tau2):>9}{fmt(r.i2, 2):>7}%")
        out.append("")
        p = fmt_p(self.pvalue)
        p = p if p.startswith("<") else "= " + p
        if self.df2 is None:
            out.append(f"Test for subgroup differences: Q(df = {self.df}) = {fmt(self.statistic)}, p-val {p}")
        else:
            out.append(f"Test for subgroup differences: F(df1 = {self.df}, df2 = {self.df2:g}) = "
                       f"{fmt(self.statistic)}, p-val {p}")
        if not self.separate_tau2:
            out.append(f"Common tau^2 = {fmt(self.tau2)}")
        return "\n".join(out) + "\n"


def subgroup_analysis(
    yi,
    vi=None,
    groups=None,
    method: str = "REML",
    separate_tau2: bool = True,
    *,
    sei=None,
    test: str = "z",
    level: float = 95,
    labels=None,
    measure: str | None = None,
    control: dict | None = None,
) -> SubgroupResult:
    """Pool within subgroups and test whether the subgroups differ.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (or ``sei=``).
    groups : array_like
        The subgroup of each study (any hashable labels).
    method, test, level, measure, control
        As in :func:`metaanalysis.pool`.
    separate_tau2 : bool
        True: tau² estimated within each subgroup and a Q test between subgroup estimates; False:
        a meta-regression on the grouping factor with one common tau².

    Examples
    --------
    >>> res = subgroup_analysis([0.1, 0.3, 0.35, -0.2, 0.5, 0.4], [0.01, 0.02, 0.015, 0.03, 0.02, 0.02],
    ...                         groups=["a", "a", "a", "b", "b", "b"], method="DL")
    >>> res.groups, res.df
    (('a', 'b'), 1)
    """
    method, test_n, level = validate_common(method, test, level)
    y, v = _tau2.validate_yi_vi(yi, vi, sei)
    k = y.shape[0]
    if groups is None:
        raise InputError("subgroup_analysis needs groups= (the subgroup of each study)")
    g = np.asarray(groups, dtype=object)
    if g.shape != (k,):
        raise InputError(f"groups has {g.size} entries but there are {k} studies")
    for i, x in enumerate(g):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            raise InputError(f"groups is missing at index {i}")
    levels = list(dict.fromkeys(g.tolist()))
    if len(levels) < 2:
        raise InputError(f"subgroup analysis needs at least 2 subgroups; got {levels}")
    lab = None if labels is None else np.asarray([str(x) for x in labels], dtype=object)
    overall = pool(y, v, method=method, test=test, level=level, measure=measure,
                   labels=None if lab is None else tuple(lab), control=control)
    subgroups: dict = {}
    if separate_tau2:
        for lev in levels:
            idx = np.flatnonzero(g == lev)
            subgroups[lev] = pool(y[idx], v[idx], method=method, test=test, level=level, measure=measure,
                                  labels=None if lab is None else tuple(lab[idx]), control=control)
        est = np.array([r.estimate for r in subgroups.values()])
        var = np.array([r.se**2 for r in subgroups.values()])
        if np.any(var <= 0):
            raise InputError("a subgroup estimate has standard error 0; the test for differences is undefined")
        stat = _tau2.q_statistic(est, var)
        df = len(levels) - 1
        return SubgroupResult(subgroups, overall, stat, df, None, float(chdtrc(df, stat)), method, test_n,
                              level, True, float("nan"))
    import pandas as pd

    factor = pd.DataFrame({"group": pd.Categorical(g.tolist(), categories=levels)})
    reg = meta_regression(y, v, factor, method=method, test=test, level=level, control=control)
    for lev in levels:
        idx = np.flatnonzero(g == lev)
        subgroups[lev] = pool(y[idx], v[idx], method=method, test=test, level=level, measure=measure,
                              labels=None if lab is None else tuple(lab[idx]), tau2=reg.tau2, control=control)
    return SubgroupResult(subgroups, overall, reg.qm, reg.qm_df, reg.qm_df2, reg.qm_pvalue, method, test_n,
                          level, False, reg.tau2, reg)
