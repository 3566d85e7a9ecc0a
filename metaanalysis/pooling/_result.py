"""What every fit of one pooled effect holds first, and the views built from it.

:class:`~metaanalysis.pooling.core.PoolResult`, :class:`~metaanalysis.pooling.selection.SelModelResult`
and :class:`~metaanalysis.pooling.glmm.GlmmResult` start with the same eight fields and write their
``to_dict`` and one-line ``repr`` from them in the same way; they derive from :class:`PooledEstimate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._base import ResultMixin, fmt

# The leading keys of every pooled fit's to_dict(), in this order.
ESTIMATE_KEYS = ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "tau2", "se_tau2")


@dataclass(frozen=True, eq=False, repr=False)
class EstimateInterval(ResultMixin):
    """The pooled effect with its test and interval: the first fields of every pooled fit
    (``BinaryPoolResult`` and ``ProportionPoolResult`` follow them with the prediction interval)."""

    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, eq=False, repr=False)
class PooledEstimate(EstimateInterval):
    """The pooled effect with its test and interval, and tau² with its SE.

    These are the first fields of a subclass, in this order (``PoolResult._fast`` fills the fields
    positionally). Subclasses also have ``k``, which :meth:`_estimate_short` prints.
    """

    tau2: float
    se_tau2: float

    def _scalars(self, keys) -> dict:
        """The attributes (fields or properties) named by ``keys``, in that order."""
        return {key: getattr(self, key) for key in keys}

    def _estimate_short(self) -> str:
        """The middle of the one-line ``repr``: k, the estimate with its interval, tau²."""
        return (f"k={self.k} estimate={fmt(self.estimate)} "
                f"[{fmt(self.ci_low)}, {fmt(self.ci_high)}] tau2={fmt(self.tau2)}")


def coef_frame(res, *, with_df: bool = False):
    """One row per coefficient of a fit with ``coef_names, coef, se, statistic, pvalue, ci_low,
    ci_high`` (and ``df`` after the statistic with ``with_df``): the ``to_frame()`` of
    meta-regressions, ``rma_mv``, permutation tests and cluster-robust tests."""
    import pandas as pd

    cols = {"estimate": res.coef, "se": res.se, "statistic": res.statistic}
    if with_df:
        cols["df"] = res.df
    cols.update(pvalue=res.pvalue, ci_low=res.ci_low, ci_high=res.ci_high)
    return pd.DataFrame(cols, index=pd.Index(res.coef_names, name="coef"))
