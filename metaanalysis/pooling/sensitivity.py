"""Sensitivity analyses: leave-one-out, cumulative meta-analysis, influence diagnostics and the
GOSH analysis of all subsets.

Each function takes a fitted :class:`~metaanalysis.pooling.core.PoolResult`, refits it with
:func:`~metaanalysis.pooling.core.pool` (same tau² method, test and level) on subsets of the
studies, and returns a DataFrame with one row per study, indexed by the study labels. Column names
never change with options. The algorithms follow metafor 3.8's ``leave1out``, ``cumul`` and
``influence`` for ``rma.uni`` objects, and ``gosh`` its ``gosh.rma``.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis. Research
Synthesis Methods 1:112-125.
Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of therapeutic trials
for myocardial infarction. NEJM 327:248-254.
Olkin I, Dahabreh IJ, Trikalinos TA (2012). GOSH - a graphical display of study heterogeneity.
Research Synthesis Methods 3:214-223.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, fmt, frame_field, freeze_arrays, jsonable
from ..errors import InputError, MetaAnalysisError
from .bias import _refit_like, _study_arrays, _user_weights

__all__ = [
    "gosh",
    "GoshResult",
    "leave_one_out",
    "cumulative",
    "influence",
    "FIT_COLUMNS",
    "INFLUENCE_COLUMNS",
]

# one row per refit; names as PoolResult's fields
FIT_COLUMNS = (
    "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high",
    "q", "q_pvalue", "tau2", "i2", "h2",
)
INFLUENCE_COLUMNS = (
    "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight", "dfbetas",
    "inf",
)


def _refit_row(fit) -> list:
    return [float(getattr(fit, c)) for c in FIT_COLUMNS]


def _frame(rows, labels, columns):
    import pandas as pd

    index = pd.Index(list(labels), name="study")
    return pd.DataFrame(np.asarray(rows, dtype=float).reshape(len(labels), len(columns)),
                        index=index, columns=list(columns))


def _safe_fit(res, keep, labels, what):
    """Refit a subset; a failed fit gives None (metafor records NA) with a warning naming it."""
    try:
        return _refit_like(res, keep, labels=labels)
    except MetaAnalysisError as exc:
        warnings.warn(f"{what}: the fit failed ({exc}); its row is NaN", RuntimeWarning,
                      stacklevel=3)
        return None


def _deleted_fits(res):
    """Fits without study i, for each i (None where a fit failed)."""
    yi, _, labels = _study_arrays(res)
    k = len(yi)
    if k < 2:
        raise InputError(f"leave-one-out needs at least 2 studies; the fit has k = {k}")
    fits = []
    for i in range(k):
        keep = np.flatnonzero(np.arange(k) != i)
        fits.append(_safe_fit(res, keep, [labels[j] for j in keep],
                              f"without study {i} ({labels[i]!r})"))
    return fits


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0: a zero scale makes the ratio undefined (R gives NaN or, when
    the numerator carries rounding noise, an arbitrary +-Inf)."""
    return math.nan if den == 0 else num / den


def _is_mh_peto(res) -> bool:
    return str(getattr(res, "method", "")).upper() in ("MH", "PETO") and hasattr(res, "counts")


def _binary_refit(res, keep, labels):
    """A Mantel-Haenszel or Peto fit repeated on the studies ``keep`` (indices) with the original
    measure, level, continuity correction and zero-cell options, as metafor's ``rma.mh(subset=)``
    and ``rma.peto(subset=)``; None where the fit fails (metafor records NA)."""
    from .binary import pool_binary
    from .incidence import pool_incidence

    c = res.counts
    opts = getattr(res, "options", None) or {}
    try:
        with warnings.catch_warnings():
            # a subset without events in one arm gives NaN with a warning; metafor's row is NA
            warnings.simplefilter("ignore")
            if "t1i" in c:  # events over person-time
                return pool_incidence(
                    c["x1i"][keep], c["t1i"][keep], c["x2i"][keep], c["t2i"][keep],
                    measure=res.measure, method=res.method, level=res.level, correct=res.correct,
                    labels=labels, **opts,
                )
            return pool_binary(
                c["ai"][keep], c["n1i"][keep], c["ci"][keep], c["n2i"][keep],
                measure="OR" if res.measure == "PETO" else res.measure, method=res.method,
                level=res.level, correct=res.correct, labels=labels, **opts,
            )
    except MetaAnalysisError:
        return None


def _binary_rows(res, subsets, labels):
    rows = []
    for sel in subsets:
        fit = _binary_refit(res, sel, [labels[j] for j in sel])
        rows.append(_refit_row(fit) if fit is not None else [math.nan] * len(FIT_COLUMNS))
    return rows


def leave_one_out(res):
    """Leave-one-out analysis: the model refitted once without each study (metafor's ``leave1out``).

    Parameters
    ----------
    res : PoolResult or BinaryPoolResult
        A fit from :func:`metaanalysis.pool` with at least 2 studies, or a Mantel-Haenszel or Peto
        fit from :func:`metaanalysis.pool_binary` (refitted from the 2x2 tables with the same
        measure and zero-cell options, as metafor's ``leave1out.rma.mh`` / ``leave1out.rma.peto``;
        ``tau2`` is 0 and the estimate is on the log scale for OR, RR and PETO).

    Returns
    -------
    pandas.DataFrame
        One row per omitted study (index ``study``: its label), columns ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``, ``q``, ``q_pvalue``, ``tau2``, ``i2``
        (percent), ``h2``: the fit without that study, with the input's method, test and level.

    Raises
    ------
    InputError
        k < 2.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> leave_one_out(res)["estimate"].round(4).tolist()[:3]
    [0.2748, 0.17, 0.1698]

    References
    ----------
    metafor ``leave1out.rma.uni``, ``leave1out.rma.mh``, ``leave1out.rma.peto``.
    """
    if _is_mh_peto(res):
        labels = tuple(str(x) for x in res.labels)
        k = len(labels)
        if k < 2:
            raise InputError(f"leave-one-out needs at least 2 studies; the fit has k = {k}")
        subsets = [np.flatnonzero(np.arange(k) != i) for i in range(k)]
        return _frame(_binary_rows(res, subsets, labels), labels, FIT_COLUMNS)
    _, _, labels = _study_arrays(res)
    rows = [
        _refit_row(f) if f is not None else [math.nan] * len(FIT_COLUMNS)
        for f in _deleted_fits(res)
    ]
    return _frame(rows, labels, FIT_COLUMNS)


def cumulative(res, order=None, *, decreasing: bool = False):
    """Cumulative meta-analysis: the model refitted as studies are added one at a time (``cumul``).

    Parameters
    ----------
    res : PoolResult or BinaryPoolResult
        A fit from :func:`metaanalysis.pool`, or a Mantel-Haenszel or Peto fit from
        :func:`metaanalysis.pool_binary` (metafor's ``cumul.rma.mh`` / ``cumul.rma.peto``).
    order : array_like, optional
        A sort key, one value per study (a publication year, a sample size): studies are added in
        ascending order of it, ties in their original order, as metafor's ``cumul(x, order=)``.
        Omitted: the order of the studies in ``res``. (A key, not a permutation: to add studies in
        the index order ``[2, 0, 1]``, pass the positions ``[1, 2, 0]``.)
    decreasing : bool
        Add studies in descending order of ``order`` instead.

    Returns
    -------
    pandas.DataFrame
        One row per added study, in the order added (index ``study``: the label of the study
        added), columns as :func:`leave_one_out`: row ``i`` is the fit to the first ``i + 1``
        studies. The first row is the first study alone, tested with z (metafor does the same
        for k = 1); the last row is the full fit.

    Raises
    ------
    InputError
        ``order`` of the wrong length or not sortable.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> cumulative(res)["estimate"].round(4).tolist()
    [0.12, 0.1698, 0.2494, 0.2026, 0.2388, 0.17, 0.1985]

    References
    ----------
    metafor ``cumul.rma.uni``, ``cumul.rma.mh``, ``cumul.rma.peto``.
    """
    if _is_mh_peto(res):
        labels = tuple(str(x) for x in res.labels)
    else:
        _, _, labels = _study_arrays(res)
    k = len(labels)
    if order is None:
        idx = np.arange(k)
    else:
        key = np.asarray(order)
        if key.ndim != 1 or len(key) != k:
            raise InputError(
                f"order must have one value per study ({k}); got shape {np.shape(order)}"
            )
        if key.dtype.kind == "f" and np.isnan(key).any():
            raise InputError(
                f"order has a missing value at index {int(np.flatnonzero(np.isnan(key))[0])}"
            )
        items = key.tolist()
        try:
            # Python's sort is stable in both directions: ties keep their original order (as R)
            idx = np.asarray(sorted(range(k), key=items.__getitem__, reverse=decreasing), dtype=int)
        except TypeError as exc:
            raise InputError(f"order values cannot be sorted: {exc}") from None
    if order is None and decreasing:
        idx = idx[::-1]
    if _is_mh_peto(res):
        rows = _binary_rows(res, [idx[:i] for i in range(1, k + 1)], labels)
        return _frame(rows, [labels[j] for j in idx], FIT_COLUMNS)
    rows = []
    for i in range(1, k + 1):
        sel = idx[:i]
        fit = _safe_fit(res, sel, [labels[j] for j in sel],
                        f"cumulative fit of the first {i} studies")
        rows.append(_refit_row(fit) if fit is not None else [math.nan] * len(FIT_COLUMNS))
    return _frame(rows, [labels[j] for j in idx], FIT_COLUMNS)


def influence(res):
    """Case-deletion influence diagnostics, as metafor's ``influence.rma.uni``.

    For each study the model is refitted without it (method, test and level as ``res``) and
    compared with the full fit (Viechtbauer and Cheung 2010).

    Parameters
    ----------
    res : PoolResult
        An intercept-only fit from :func:`metaanalysis.pool` with at least 2 studies.

    Returns
    -------
    pandas.DataFrame
        One row per study (index ``study``), columns:

        ``rstudent``
            externally studentized residual (metafor's ``rstudent``);
        ``dffits``
            change in the fitted value in standard-error units;
        ``cook_d``
            Cook's distance;
        ``cov_r``
            covariance ratio, the variance of the estimate without the study over that with it;
        ``tau2_del``, ``qe_del``
            tau² and the Q statistic without the study;
        ``hat``
            leverage;
        ``weight``
            the study's weight in the full fit, in percent (as metafor prints it);
        ``dfbetas``
            change in the estimate in standard-error units;
        ``inf``
            True when metafor marks the study influential: ``|dffits| > 3 sqrt(1/(k-1))``, the
            chi²(1) cdf of ``cook_d`` above 0.5, ``hat > 3/k`` or ``|dfbetas| > 1``.

    Raises
    ------
    InputError
        k < 2.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> yi = [0.12, 0.35, 0.58, 0.21, 0.80, 0.05, 0.44]
    >>> vi = [0.010, 0.040, 0.090, 0.020, 0.160, 0.012, 0.060]
    >>> res = pool(yi, vi, method="REML")
    >>> influence(res)["inf"].tolist()
    [True, False, False, True, False, True, False]

    References
    ----------
    metafor ``influence.rma.uni`` (and ``rstudent.rma.uni``); Viechtbauer and Cheung (2010).
    """
    from scipy import stats

    yi, vi, labels = _study_arrays(res)
    k = len(yi)
    fits = _deleted_fits(res)
    uw = _user_weights(res)
    beta = float(res.estimate)
    vb = float(res.se) ** 2
    tau2_full = float(res.tau2) if res.method not in ("EE", "FE") else 0.0
    if uw is None:
        a_full = 1.0 / (vi + tau2_full)
    else:
        a_full = uw
    hat = a_full / a_full.sum()
    weight = 100.0 * hat
    scaled = res.test in ("knha", "adhoc")

    out = np.full((k, 7), np.nan)  # rstudent dffits cook_d cov_r tau2_del qe_del dfbetas
    for i, fit in enumerate(fits):
        if fit is None:
            continue
        keep = np.arange(k) != i
        tau2_del = float(fit.tau2) if res.method not in ("EE", "FE") else 0.0
        beta_del = float(fit.estimate)
        vb_del = float(fit.se) ** 2
        a_del = (1.0 / (vi[keep] + tau2_del)) if uw is None else uw[keep]
        # the unscaled variance of the deleted estimate; s2w is the knha factor on top of it
        v_unscaled = float(np.sum(a_del**2 * (vi[keep] + tau2_del)) / a_del.sum() ** 2)
        s2w = vb_del / v_unscaled if scaled and k - 1 > 1 else 1.0
        # the full data set's weights with tau² from the deleted fit
        a_all = (1.0 / (vi + tau2_del)) if uw is None else uw
        var_all = float(np.sum(a_all**2 * (vi + tau2_del)) / a_all.sum() ** 2)
        diff = beta - beta_del
        if uw is None:
            dffits = _ratio(diff, math.sqrt(s2w * hat[i] * (tau2_del + vi[i])))
        else:
            dffits = _ratio(diff, math.sqrt(s2w * var_all))
        resid = yi[i] - beta_del
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        seresid = math.sqrt(vi[i] * s2w + vb_del + tau2_del * s2w)
        out[i] = [
            _ratio(resid, seresid),
            dffits,
            _ratio(diff**2, vb),
            _ratio(vb_del, vb),
            tau2_del,
            float(fit.q),
            _ratio(diff, math.sqrt(s2w * var_all)),
        ]
    undefined = [labels[i] for i in range(k) if fits[i] is not None and np.isnan(out[i]).any()]
    if undefined:
        warnings.warn(
            f"influence: some diagnostics of {len(undefined)} studies (first: {undefined[0]!r}) "
            "are undefined (NaN) because a standard error is 0 (with test='knha' the studies "
            "agree exactly); metafor gives NaN there too", RuntimeWarning, stacklevel=2,
        )

    import pandas as pd

    frame = pd.DataFrame(
        {
            "rstudent": out[:, 0],
            "dffits": out[:, 1],
            "cook_d": out[:, 2],
            "cov_r": out[:, 3],
            "tau2_del": out[:, 4],
            "qe_del": out[:, 5],
            "hat": hat,
            "weight": weight,
            "dfbetas": out[:, 6],
        },
        index=pd.Index(list(labels), name="study"),
    )
    with np.errstate(invalid="ignore"):
        flag = (
            (np.abs(frame["dffits"].to_numpy()) > 3 * math.sqrt(1 / (k - 1)))
            | (stats.chi2.cdf(frame["cook_d"].to_numpy(), df=1) > 0.5)
            | (hat > 3 / k)
            | (np.abs(frame["dfbetas"].to_numpy()) > 1)
        )
    frame["inf"] = flag.astype(bool)
    return frame


def baujat_coordinates(res, loo=None):
    """Each study's contribution to heterogeneity and influence on the estimate (metafor's ``baujat``).

    ``x = (yi - mu)^2 / (vi + tau2)`` from the full fit (tau2 = 0 for an equal-effects fit) and
    ``y = (mu_(-i) - mu)^2 / se(mu_(-i))^2`` from the fits without each study.

    Parameters
    ----------
    res : PoolResult
        The full fit.
    loo : DataFrame, optional
        :func:`leave_one_out` of ``res``, when already computed (else it is computed here).

    Returns
    -------
    DataFrame
        Indexed by study label, columns ``x`` and ``y``: what :func:`metaanalysis.plots.baujat`
        draws.

    Examples
    --------
    >>> from metaanalysis.pooling.core import pool
    >>> res = pool([0.12, 0.35, 0.58, 0.21, 0.80], [0.010, 0.040, 0.090, 0.020, 0.160])
    >>> baujat_coordinates(res).shape
    (5, 2)
    """
    import pandas as pd

    yi, vi, labels = _study_arrays(res)
    if loo is None:
        loo = leave_one_out(res)
    if len(loo) != len(yi):
        raise InputError(f"loo has {len(loo)} rows; the fit has {len(yi)} studies")
    tau2 = float(res.tau2) if res.method != "EE" and math.isfinite(res.tau2) else 0.0
    x = (yi - res.estimate) ** 2 / (vi + tau2)
    y = (loo["estimate"].to_numpy(float) - res.estimate) ** 2 / loo["se"].to_numpy(float) ** 2
    return pd.DataFrame({"x": x, "y": y}, index=pd.Index(list(labels), name="study"))


# --------------------------------------------------------------------------------------------
# GOSH: every subset of the studies


@dataclass(frozen=True, eq=False, repr=False)
class GoshResult(ResultMixin):
    """The model refitted on subsets of the studies (metafor's ``gosh``).

    Attributes
    ----------
    incl : numpy.ndarray
        Boolean, one row per subset, one column per study: which studies the subset holds.
    frame : pandas.DataFrame
        One row per subset: ``k``, ``q`` (QE), ``i2``, ``h2``, ``tau2``, ``estimate`` (NaN where
        the fit failed) and ``fitted``. For DL, ``h2`` is Q / (k - 1), as metafor's ``gosh``
        reports it (below 1 where Q < k - 1; the fit's own H² is 1 there).
    labels : tuple
    method : str
    measure : str or None
    exact : bool
        True when every one of the 2^k - 1 subsets was fitted, False for a random sample.
    seed : int or None
        The seed of the random sample.
    """

    incl: np.ndarray
    frame: object = frame_field()
    labels: tuple
    method: str
    measure: str | None
    exact: bool
    seed: int | None = None

    def __post_init__(self):
        freeze_arrays(self)

    def to_frame(self):
        """The subsets' fits, with one boolean column per study (its label)."""
        out = self.frame
        for j, lab in enumerate(self.labels):
            out[lab] = self.incl[:, j]
        return out

    def to_dict(self) -> dict:
        f = self.frame
        return jsonable({"labels": list(self.labels), "method": self.method,
                         "measure": self.measure, "exact": self.exact, "seed": self.seed,
                         "subsets": len(self.incl),
                         "incl": [list(np.flatnonzero(r)) for r in self.incl],
                         **{c: f[c].tolist() for c in f.columns}})

    def by_study(self):
        """For each study, the mean estimate and mean I² of the subsets with it and without it:
        a study whose inclusion moves the cloud (Olkin et al. 2012) stands out here."""
        import pandas as pd

        f = self.frame
        est = f["estimate"].to_numpy(float)
        i2 = f["i2"].to_numpy(float)
        rows = []
        for j, lab in enumerate(self.labels):
            w, wo = self.incl[:, j], ~self.incl[:, j]
            rows.append({"study": lab,
                         "estimate_with": float(np.nanmean(est[w])) if w.any() else math.nan,
                         "estimate_without": float(np.nanmean(est[wo])) if wo.any() else math.nan,
                         "i2_with": float(np.nanmean(i2[w])) if w.any() else math.nan,
                         "i2_without": float(np.nanmean(i2[wo])) if wo.any() else math.nan})
        return pd.DataFrame(rows).set_index("study")

    def _short(self) -> str:
        return f"{self.method} subsets={len(self.incl)} exact={self.exact}"

    def summary(self) -> str:
        f = self.frame
        how = ("all subsets" if self.exact else f"a random sample of subsets (seed {self.seed})")
        lines = [f"GOSH: {len(f)} fits ({how}) of k = {len(self.labels)} studies, method "
                 f"{self.method}", "",
                 f"estimate: {fmt(float(f.estimate.min()))} to {fmt(float(f.estimate.max()))}",
                 f"I^2:      {fmt(float(f.i2.min()), 2)}% to {fmt(float(f.i2.max()), 2)}%"]
        failed = int((~f.fitted).sum())
        if failed:
            lines.append(f"{failed} subsets could not be fitted (NaN)")
        return "\n".join(lines)


def gosh(res, *, subsets: int = 1_000_000, seed: int | None = None) -> GoshResult:
    """Refit the model on every subset of the studies (GOSH, Olkin et al. 2012), as metafor's
    ``gosh``.

    Each of the 2^k - 1 non-empty subsets is fitted with the fit's tau² method, test and level;
    the cloud of (I², estimate) pairs shows whether the heterogeneity comes from a few studies
    (clusters that separate with and without them) or from all of them. When 2^k - 1 exceeds
    ``subsets``, that many random subsets are drawn instead (each study in with probability
    1/2, empty draws redrawn), with ``seed``. The fits run vectorised (:func:`pool_many`).

    Parameters
    ----------
    res : PoolResult
        An intercept-only fit from :func:`metaanalysis.pool` (no custom weights or fixed tau²).
    subsets : int
        The most subsets to fit (metafor's default, 1,000,000).
    seed : int, optional
        Seed of the random sample (needed, for a reproducible result, only when it is drawn).

    Returns
    -------
    GoshResult

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> g = gosh(ma.pool(es.yi[:6], es.vi[:6]))     # metafor: gosh(rma(yi, vi)) on six trials
    >>> len(g.frame), round(float(g.frame.estimate.iloc[-1]), 4)
    (63, -0.9877)
    """
    import itertools

    import pandas as pd

    from .batch import pool_many
    from .core import PoolResult

    if not isinstance(res, PoolResult):
        raise InputError(f"gosh takes an intercept-only fit from pool(); got {type(res).__name__}")
    if _user_weights(res) is not None or getattr(res, "tau2_fixed", False):
        raise InputError("gosh refits the model on each subset: a fit with custom weights or a "
                         "fixed tau² is not supported")
    yi, vi, labels = _study_arrays(res)
    k = len(yi)
    subsets = int(subsets)
    if subsets < 1:
        raise InputError(f"subsets must be at least 1; got {subsets}")
    total = 2**k - 1 if k < 63 else math.inf
    exact = total <= subsets
    if exact:
        # by size, and within a size in metafor's order (colexicographic: by the last study)
        rows = [c for size in range(1, k + 1)
                for c in sorted(itertools.combinations(range(k), size), key=lambda c: c[::-1])]
        incl = np.zeros((len(rows), k), dtype=bool)
        for i, c in enumerate(rows):
            incl[i, list(c)] = True
    else:
        if seed is None:
            raise InputError(f"2^{k} - 1 subsets exceed subsets={subsets}: a random sample is "
                             "drawn; give seed= so that it can be repeated")
        rng = np.random.default_rng(seed)
        incl = rng.random((subsets, k)) < 0.5
        empty = ~incl.any(axis=1)
        while empty.any():
            incl[empty] = rng.random((int(empty.sum()), k)) < 0.5
            empty = ~incl.any(axis=1)
    group, study = np.nonzero(incl)
    with warnings.catch_warnings():
        # a subset of one study, or an estimator that fails on a subset, is recorded, not shouted
        warnings.simplefilter("ignore")
        fits = pool_many(groups=group, yi=yi[study], vi=vi[study], method=res.method,
                         test=res.test, level=res.level, ci_tau2=False,
                         control=getattr(res, "control", None), progress=False)
    fitted = fits["converged"].to_numpy(bool)
    frame = pd.DataFrame({
        "k": incl.sum(axis=1),
        "q": np.where(fits["k"].to_numpy() > 1, fits["q"].to_numpy(float), 0.0),
        "i2": fits["i2"].to_numpy(float), "h2": fits["h2"].to_numpy(float),
        "tau2": fits["tau2"].to_numpy(float), "estimate": fits["estimate"].to_numpy(float),
        "fitted": fitted,
    })
    if res.method == "DL":
        # metafor's gosh takes the closed form for DL: H² = Q / (k - 1), which is the model's
        # (tau² + s²) / s² when tau² > 0 and falls below 1, untruncated, when Q < k - 1
        kk = frame["k"].to_numpy(float)
        frame["h2"] = np.where(kk > 1, frame["q"].to_numpy(float) / np.maximum(kk - 1, 1), 1.0)
    for col in ("q", "i2", "h2", "tau2", "estimate"):
        frame.loc[~fitted, col] = np.nan
    return GoshResult(incl, frame, tuple(labels), str(res.method), getattr(res, "measure", None),
                      bool(exact), None if exact else int(seed))
