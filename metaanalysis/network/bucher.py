"""Bucher's adjusted indirect comparison of two treatments through a common comparator.

Bucher HC, Guyatt GH, Griffith LE, Walter SD (1997). The results of direct and indirect treatment
comparisons in meta-analysis of randomized controlled trials. J Clin Epidemiol 50:683-91.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._base import ResultMixin, as_float_array, check_level, fmt, fmt_p, jsonable, zcrit
from ..errors import InputError
from .data import KNOWN_MEASURES, RATIO_MEASURES


@dataclass(frozen=True, eq=False, repr=False)
class BucherResult(ResultMixin):
    """A vs B estimated through C: ``d_AB = d_AC - d_BC``, ``se = sqrt(se_AC² + se_BC²)``.

    ``estimate`` ... ``pvalue`` are on the analysis scale (log scale for ratios); ``ratio``,
    ``ratio_ci_low`` and ``ratio_ci_high`` are their exponentials when ``measure`` is a ratio
    (``OR``, ``RR``, ``HR``, ``ROM``, ``IRR``), else NaN.
    """

    estimate: float
    se: float
    zval: float
    pvalue: float
    ci_low: float
    ci_high: float
    level: float
    measure: str | None
    treat1: str
    treat2: str
    common: str

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def ratio(self) -> float:
        return math.exp(self.estimate) if self.is_ratio else math.nan

    @property
    def ratio_ci_low(self) -> float:
        return math.exp(self.ci_low) if self.is_ratio else math.nan

    @property
    def ratio_ci_high(self) -> float:
        return math.exp(self.ci_high) if self.is_ratio else math.nan

    def to_dict(self) -> dict:
        return jsonable({
            "estimate": self.estimate, "se": self.se, "zval": self.zval, "pvalue": self.pvalue,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "ratio": self.ratio,
            "ratio_ci_low": self.ratio_ci_low, "ratio_ci_high": self.ratio_ci_high,
            "level": self.level, "measure": self.measure, "treat1": self.treat1,
            "treat2": self.treat2, "common": self.common,
        })

    def _short(self) -> str:
        return f"{self.treat1} vs {self.treat2} via {self.common}: estimate={self.estimate:.4g}, se={self.se:.4g}"

    def summary(self) -> str:
        lines = [
            f"Adjusted indirect comparison (Bucher): {self.treat1} vs {self.treat2} "
            f"through {self.common}" + (f"; measure {self.measure}" if self.measure else ""),
            "",
            f"{'estimate':>10}{'se':>9}{'zval':>9}{'pval':>9}{'ci.lb':>9}{'ci.ub':>9}",
            f"{fmt(self.estimate):>10}{fmt(self.se):>9}{fmt(self.zval, 2):>9}{fmt_p(self.pvalue):>9}"
            f"{fmt(self.ci_low):>9}{fmt(self.ci_high):>9}",
        ]
        if self.is_ratio:
            lines += ["", f"{self.measure} {fmt(self.ratio, 3)} ({fmt(self.level, 0)}% CI "
                      f"{fmt(self.ratio_ci_low, 3)} to {fmt(self.ratio_ci_high, 3)})"]
        return "\n".join(lines)


def bucher(d_ac, se_ac, d_bc, se_bc, level: float = 95, *, measure: str | None = None,
           treat1: str = "A", treat2: str = "B", common: str = "C") -> BucherResult:
    """Bucher's adjusted indirect comparison of A and B through their common comparator C.

    Parameters
    ----------
    d_ac, se_ac : float
        Effect of A against C on the analysis scale (a log HR, log OR, mean difference) and its SE.
    d_bc, se_bc : float
        Effect of B against C and its SE, from independent trials.
    level : float
        Confidence level, 95 or 0.95.
    measure : str, optional
        The measure code; a ratio (``HR``, ``OR``, ``RR``, ...) adds exp'd fields.
    treat1, treat2, common : str
        Names used in the printed summary.

    Examples
    --------
    >>> import math
    >>> res = bucher(math.log(0.21), 0.20, math.log(0.59), 0.13, measure="HR",
    ...              treat1="lenvatinib", treat2="sorafenib", common="placebo")
    >>> round(res.ratio, 3)
    0.356
    """
    vals = as_float_array([d_ac, se_ac, d_bc, se_bc], "bucher arguments (d_ac, se_ac, d_bc, se_bc)")
    d1, s1, d2, s2 = (float(v) for v in vals)
    if not (s1 > 0 and s2 > 0):
        raise InputError(f"se_ac and se_bc must be positive, got {s1!r} and {s2!r}")
    level = check_level(level)
    if measure is not None:
        measure = str(measure).upper()
        if measure not in KNOWN_MEASURES:
            # an unknown code would leave the ratio fields NaN without a word
            raise InputError(f"measure={measure!r} is not a measure code; use one of "
                             + ", ".join(sorted(KNOWN_MEASURES)) + " (or leave it out)")
    est = d1 - d2
    se = math.sqrt(s1**2 + s2**2)
    z = zcrit(level)
    zval = est / se
    from scipy.special import ndtr

    return BucherResult(
        estimate=est, se=se, zval=zval, pvalue=float(2 * ndtr(-abs(zval))), ci_low=est - z * se,
        ci_high=est + z * se, level=level, measure=measure, treat1=str(treat1), treat2=str(treat2),
        common=str(common),
    )
