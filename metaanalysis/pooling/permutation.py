"""Permutation tests for random- and mixed-effects models, as metafor's ``permutest``.

For an intercept-only model (:func:`~metaanalysis.pool`) the signs of the effect sizes are flipped
(under the null hypothesis mu = 0 each effect is as likely to be positive as negative); for a
meta-regression (:func:`~metaanalysis.meta_regression`) the rows of the model matrix are permuted
against the effect sizes. Each rearrangement is refitted with the model's own method, test,
weights and control, and the p-value of a coefficient is the share of rearrangements whose test
statistic is at least as extreme as the observed one (two-sided; QM for the test of moderators).

The test is exact when every distinct rearrangement is used: 2^k sign patterns, or k! / prod(n_j!)
row orders when rows of the model matrix repeat (n_j of each distinct row); metafor uses them all
when there are no more than ``iter``. Otherwise ``iter`` random rearrangements (the first one the
observed data, so p >= 1 / iter) approximate it.

References: Follmann & Proschan (1999), *Biometrics* 55, 1224-1228 (sign flipping, small k);
Higgins & Thompson (2004), *Stat. Med.* 23, 1663-1682 (permuting moderators); Viechtbauer,
Lopez-Lopez, Sanchez-Meca & Marin-Martinez (2015), *Psychol. Methods* 20, 360-374; metafor's
``permutest.rma.uni``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._base import ResultMixin, fmt_p, freeze_arrays, jsonable
from ..errors import ConvergenceError, InputError
from ._result import coef_frame

__all__ = ["permutest", "PermutationResult", "LocationScalePermutation"]

_NAN = float("nan")
# metafor's comptol: a statistic within sqrt(eps) of the observed one counts as at least as extreme
# (the observed arrangement itself must count however its refit rounds).
_COMPTOL = float(np.finfo(float).eps) ** 0.5
# An exact test with more rearrangements than this would take hours; we say so instead.
_EXACT_LIMIT = 2_000_000
# Random mode: a run of this many rearrangements in a row whose fit fails ends the test.
_MAX_FAILED_IN_A_ROW = 1000


@dataclass(frozen=True, eq=False, repr=False)
class PermutationResult(ResultMixin):
    """metafor's ``permutest``: permutation p-values of a model's coefficients (and of QM).

    ``pvalue`` holds the permutation p-value of each coefficient (named in ``coef_names``);
    ``qm_pvalue`` that of the test of moderators (NaN for an intercept-only model, which has none).
    ``iter`` is the number of rearrangements used, ``exact`` whether they were all of them
    (``exact_count`` is how many distinct ones exist), ``seed`` the seed of a random run (None when
    exact). ``ci_low`` / ``ci_high`` are the model's intervals, or the permutation-based ones
    with ``permci=True``. ``statistic_perm`` (iter x p) and ``qm_perm`` are the permutation
    distributions (NaN where a refit failed; those are left out, as in metafor).
    """

    coef_names: tuple
    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    qm: float
    qm_df: int | None
    qm_pvalue: float
    iter: int
    exact: bool
    exact_count: float
    seed: int | None
    test: str
    level: float
    df: float | None
    permci: bool
    intercept_only: bool
    statistic_perm: np.ndarray = field(repr=False)
    qm_perm: np.ndarray = field(repr=False)

    def __post_init__(self):
        freeze_arrays(self)

    def to_dict(self) -> dict:
        keys = ("coef_names", "coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "qm", "qm_df",
                "qm_pvalue", "iter", "exact", "exact_count", "seed", "test", "level", "df", "permci",
                "intercept_only")
        return jsonable({k: getattr(self, k) for k in keys})

    def to_frame(self):
        """One row per coefficient: estimate, se, statistic, pvalue (permutation), ci_low, ci_high."""
        return coef_frame(self)

    def _short(self) -> str:
        how = "exact" if self.exact else f"random, seed={self.seed}"
        ps = ", ".join(f"{n}={fmt_p(p)}" for n, p in zip(self.coef_names, self.pvalue))
        return f"{self.iter} permutations ({how}) p: {ps}"

    def summary(self) -> str:
        """Text in the layout of metafor's ``print.permutest.rma.uni``."""
        from ._print import coef_table, moderator_lines

        out = [""]
        if not self.intercept_only:
            p = len(self.coef_names)
            idx = [j + 1 for j, n in enumerate(self.coef_names) if n != "intrcpt"] or list(range(1, p + 1))
            out += moderator_lines(idx, self.qm, self.qm_df, self.df, self.qm_pvalue, mark="*",
                                   pval_label="p-val*")
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += coef_table(self, pval_label="pval*")
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        out.append("")
        how = "all" if self.exact else "random"
        out.append(f"* p-value{'s' if len(self.coef_names) > 1 or not self.intercept_only else ''} "
                   f"based on permutation testing ({how} {self.iter} "
                   f"{'sign patterns' if self.intercept_only else 'row orders'}"
                   f"{'' if self.exact else f', seed {self.seed}'})")
        if self.permci:
            out.append("  confidence intervals by inverting the permutation test")
        return "\n".join(out) + "\n"


@dataclass(frozen=True, eq=False, repr=False)
class LocationScalePermutation(ResultMixin):
    """``permutest`` of a location-scale model (metafor's ``permutest.rma.ls``): a permutation
    test of the location coefficients (``location``; the rows of the location's model matrix
    permuted, or the signs flipped for an intercept alone) and one of the scale coefficients
    (``scale``; the rows of the scale's model matrix permuted; None for a scale that is an
    intercept alone, which metafor does not test either). Each is a :class:`PermutationResult`
    whose ``qm`` is the model's QM or QS."""

    location: PermutationResult
    scale: PermutationResult | None

    def to_dict(self) -> dict:
        return {"location": self.location.to_dict(),
                "scale": None if self.scale is None else self.scale.to_dict()}

    def to_frame(self):
        import pandas as pd

        parts = {"location": self.location.to_frame()}
        if self.scale is not None:
            parts["scale"] = self.scale.to_frame()
        return pd.concat(parts, names=["part"])

    def _short(self) -> str:
        return f"location: {self.location._short()}" + (
            "" if self.scale is None else f"; scale: {self.scale._short()}")

    def summary(self) -> str:
        out = self.location.summary().replace("Test of Moderators", "Test of Location Coefficients")
        out = out.replace("Model Results:", "Model Results (Location):")
        if self.scale is not None:
            scale = self.scale.summary().replace("Test of Moderators", "Test of Scale Coefficients")
            scale = scale.replace("Model Results:", "Model Results (Scale):").replace("QM(", "QS(")
            out += scale.replace("F(df1", "FS(df1")
        return out


# --------------------------------------------------------------------------------------------
# The model behind a result, refitted on rearranged data.
# --------------------------------------------------------------------------------------------


class _Model:
    """What a refit needs from a PoolResult or RegressionResult, and the refit itself: returns the
    test statistics (one per coefficient) and QM of the model fitted to (y, X)."""

    def __init__(self, res):
        from .core import PoolResult
        from .regression import RegressionResult

        if isinstance(res, PoolResult):
            if res.k < 2:
                raise InputError("a permutation test needs k >= 2 studies")
            self.kind = "pool"
            self.res = res
            self.y = np.asarray(res.yi, dtype=float)
            self.v = np.asarray(res.vi, dtype=float)
            self.X = np.ones((res.k, 1))
            self.names = ("intrcpt",)
            self.int_only = True
            self.coef = np.array([res.estimate])
            self.se = np.array([res.se])
            self.stat = np.array([res.statistic])
            self.ci = (np.array([res.ci_low]), np.array([res.ci_high]))
            self.qm, self.qm_df = float(res.statistic) ** 2, 1
            self.btt = [0]
        elif isinstance(res, RegressionResult):
            self.kind = "regression"
            self.res = res
            self.y = np.asarray(res.yi, dtype=float)
            self.v = np.asarray(res.vi, dtype=float)
            self.X = np.asarray(res.X, dtype=float)
            self.names = tuple(res.coef_names)
            self.int_only = res.p == 1 and res.has_intercept
            self.coef = np.asarray(res.coef, float)
            self.se = np.asarray(res.se, float)
            self.stat = np.asarray(res.statistic, float)
            self.ci = (np.asarray(res.ci_low, float), np.asarray(res.ci_high, float))
            self.qm, self.qm_df = float(res.qm), int(res.qm_df)
            p = self.X.shape[1]
            self.btt = list(range(1, p)) if res.has_intercept and p > 1 else list(range(p))
        else:
            raise InputError(
                f"permutest needs a result of pool() or meta_regression(); got {type(res).__name__}")
        self.method, self.test, self.level, self.df = res.method, res.test, res.level, res.df

    def fit(self, y, X=None):
        """(statistics, QM) of the model refitted to effects ``y`` and model matrix ``X`` (None:
        the model's own); raises ConvergenceError or InputError when the fit fails."""
        if self.kind == "pool":
            from .core import pool

            r = self.res
            t2 = r.tau2 if r.tau2_fixed else self._tau2(y, None, r._raw_weights)
            f = pool(y, self.v, method=r.method, test="knha" if r.test == "adhoc" else r.test,
                     knha_adhoc=r.test == "adhoc", level=r.level, weights=r._raw_weights,
                     tau2=t2, control=r.control)
            return np.array([f.statistic]), float(f.statistic) ** 2
        from .core import fit_rma

        X = self.X if X is None else X
        Xf = None if self.int_only else X
        t2 = self._tau2(y, Xf, None)
        f = fit_rma(y, self.v, Xf, self.method, self.test, self.level, None, t2, self.res.control)
        b = f.beta[self.btt]
        qm = float(b @ np.linalg.solve(f.vb[np.ix_(self.btt, self.btt)], b))
        if f.df is not None:
            qm /= len(self.btt)
        return np.asarray(f.stat, dtype=float), qm


    def _tau2(self, y, X, weights):
        """tau² of a rearrangement by the model's estimator as metafor runs it: without the
        remedies :func:`~metaanalysis.pool` tries after a failure (a rearrangement metafor cannot
        fit is left out of its test, so it must be left out of ours). None for EE."""
        from . import _scaling
        from . import tau2 as _tau2

        if self.method == "EE":
            return None
        con = self.res.control
        v, unit = self.v, 1.0
        # pool() fits extreme data in other units (meta_regression does not): so do its refits
        scale = _scaling.plan(y, v) if self.kind == "pool" else None
        if scale is not None:
            unit = scale.unit
            y, v = scale.apply(y, v)
            con = _tau2.scaled_control(con, unit)
        est = _tau2._estimate(y, v, X, self.method, weights, None, _tau2.make_control(con))
        if not est.converged:
            raise ConvergenceError(f"the {self.method} estimator did not converge")
        return est.tau2 * unit


class _LSModel:
    """The _Model of one part of a location-scale fit (metafor's permutest.rma.ls): ``part``
    "location" permutes the rows of the location's model matrix (or flips the signs of the
    effects when it is an intercept alone), the scale model kept with each study; "scale"
    permutes the rows of the scale's model matrix, the location kept."""

    def __init__(self, res, part: str):
        y, v, X, Z, _, con = res._cache["data"]
        self.res, self.part, self.con = res, part, dict(con)
        self.y, self.v, self.Xloc, self.Z = (np.asarray(a, dtype=float) for a in (y, v, X, Z))
        k = len(self.y)
        if part == "location":
            self.X, self.names = self.Xloc, tuple(res.coef_names)
            self.coef, self.se, self.stat = (np.asarray(a, float) for a in (res.coef, res.se,
                                                                          res.statistic))
            self.ci = (np.asarray(res.ci_low, float), np.asarray(res.ci_high, float))
            self.qm, self.qm_df = float(res.qm), int(res.qm_df)
            self.df = None if res.test == "z" else float(k - self.X.shape[1])
        else:
            self.X, self.names = self.Z, tuple(res.alpha_names)
            self.coef, self.se, self.stat = (np.asarray(a, float) for a in (
                res.alpha, res.alpha_se, res.alpha_statistic))
            self.ci = (np.asarray(res.alpha_ci_low, float), np.asarray(res.alpha_ci_high, float))
            self.qm, self.qm_df = float(res.qs), int(res.qs_df)
            self.df = None if res.test == "z" else float(k - self.X.shape[1])
        self.int_only = self.X.shape[1] == 1 and self.names[0] == "intrcpt"
        self.method, self.test, self.level = res.method, res.test, res.level

    def fit(self, y, X=None):
        import warnings

        from .location_scale import _fit_ls, _tested, _wald

        r = self.res
        X = self.X if X is None else X
        Xloc, Z = (X, self.Z) if self.part == "location" else (self.Xloc, X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # a rearrangement often leaves a group without heterogeneity (its log tau² heads to
            # minus infinity): metafor's refit stops somewhere on the way and is counted; ours
            # is followed to the limit, where the location's statistics are the limit's
            f = _fit_ls(y, self.v, Xloc, r.coef_names, Z, r.alpha_names, r.method, r.test,
                        r.level, r.link, self.con, None, None, limit=True)
        if self.part == "location":
            return np.asarray(f.statistic, dtype=float), float(f.qm)
        # at that limit a scale coefficient's standard error grows without bound faster than the
        # coefficient: its z tends to 0, and the Wald test of the others is what is left
        z = np.nan_to_num(np.asarray(f.alpha_statistic, dtype=float), nan=0.0)
        tested = _tested(r.alpha_names)
        ok = [j for j in tested if np.isfinite(f.alpha_se[j])]
        qs = _wald(np.asarray(f.alpha, dtype=float), np.asarray(f.alpha_vcov), ok, f.qs_df2,
                   m=len(tested))[0]
        return z, qs


def _try_fit(model, y, X=None):
    try:
        with np.errstate(all="ignore"):
            return model.fit(y, X)
    except (ConvergenceError, InputError, np.linalg.LinAlgError):
        return None


# --------------------------------------------------------------------------------------------
# Rearrangements.
# --------------------------------------------------------------------------------------------


def _row_groups(X):
    """Each row of X labelled by its distinct row (labels 0..m-1) and the multiplicities."""
    _, labels, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    return labels.reshape(-1), counts


def _count_orders(counts, k) -> int:
    """Distinct orders of the rows: k! / prod(n_j!)."""
    out = math.factorial(k)
    for n in counts:
        out //= math.factorial(int(n))
    return out


def _distinct_orders(labels):
    """Every distinct arrangement of the multiset ``labels`` once, in lexicographic order (the
    classic next-permutation step on the sorted labels)."""
    a = sorted(int(x) for x in labels)
    k = len(a)
    while True:
        yield list(a)
        i = k - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            return
        j = k - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1:] = reversed(a[i + 1:])


def _arrangements(model, exact, rng):
    """Yield (y, X) rearrangements: all of them (exact) or the observed one and then random ones."""
    y, X = model.y, model.X
    k = y.shape[0]
    if model.int_only:
        if exact:
            for code in range(2**k):
                # bit j of code set: study j's sign flipped
                signs = 1.0 - 2.0 * ((code >> np.arange(k)) & 1)
                yield signs * y, X
            return
        yield y, X
        while True:
            yield rng.choice((-1.0, 1.0), size=k) * y, X
    labels, _ = _row_groups(X)
    rows = {int(lab): X[i] for i, lab in enumerate(labels)}
    if exact:
        for order in _distinct_orders(labels):
            yield y, np.array([rows[lab] for lab in order])
        return
    yield y, X
    while True:
        yield y, X[rng.permutation(k)]


def _run(model, exact, iter_, rng):
    """Statistics (iter x p) and QM of the rearrangements (NaN where a fit failed; in random mode a
    failed rearrangement is replaced by another, as metafor does)."""
    p = model.X.shape[1] if not model.int_only else 1
    stats = np.full((iter_, p), _NAN)
    qms = np.full(iter_, _NAN)
    gen = _arrangements(model, exact, rng)
    i = failed = 0
    while i < iter_:
        yy, XX = next(gen)
        if i == 0 and not exact:
            # the observed data are the first arrangement: their statistics are the model's
            stats[0], qms[0] = model.stat, model.qm
            i += 1
            continue
        out = _try_fit(model, yy, XX)
        if out is None:
            if exact:
                i += 1
                continue
            failed += 1
            if failed >= _MAX_FAILED_IN_A_ROW:
                raise ConvergenceError(
                    f"permutest: {failed} rearrangements in a row could not be fitted with method "
                    f"{model.method!r}; try another method (e.g. 'DL')")
            continue
        failed = 0
        stats[i], qms[i] = out
        i += 1
    return stats, qms


def _pvalues(stats, qms, model, alternative="two.sided"):
    with np.errstate(invalid="ignore"):
        if alternative == "two.sided":
            hits = np.abs(stats) >= np.abs(model.stat) - _COMPTOL
        elif alternative == "greater":
            hits = stats >= model.stat - _COMPTOL
        else:
            hits = stats <= model.stat + _COMPTOL
        ok = ~np.isnan(stats)
        pval = np.minimum(np.sum(hits & ok, axis=0) / np.sum(ok, axis=0), 1.0)
        okq = ~np.isnan(qms)
        qmp = float(np.sum((qms >= model.qm - _COMPTOL) & okq) / np.sum(okq))
    return pval, qmp


# --------------------------------------------------------------------------------------------
# Public function.
# --------------------------------------------------------------------------------------------


def permutest(res, iter: int = 1000, *, exact: bool | None = None, seed=None,  # noqa: A002 - metafor's name
              permci: bool | list = False) -> PermutationResult:
    """Permutation test of a random-effects model or a meta-regression, as metafor's ``permutest``.

    Parameters
    ----------
    res : PoolResult, RegressionResult or LocationScaleResult
        A fit of :func:`~metaanalysis.pool` (the signs of the effects are flipped), of
        :func:`~metaanalysis.meta_regression` (the rows of the model matrix are permuted) or of
        :func:`~metaanalysis.rma_ls` (its location and its scale tested apart, as metafor's
        ``permutest.rma.ls``: a :class:`LocationScalePermutation`).
    iter : int
        Number of random rearrangements (>= 2) and the largest number for which the exact test is
        chosen by default (metafor's ``iter``).
    exact : bool, optional
        None (default): exact when the distinct rearrangements are at most ``iter`` (metafor's
        rule); True: always exact; False: always random.
    seed : int or numpy Generator, optional
        For the random rearrangements; when None a seed is drawn and recorded in the result so the
        run can be repeated.
    permci : bool or list of int
        Also invert the test into confidence intervals for all coefficients (True) or those at the
        given 0-based positions, as metafor's ``permci`` (one-sided tests at (100 - level) / 2 %
        each side; slow: every step of the root search is a permutation test).

    Returns
    -------
    PermutationResult or LocationScalePermutation

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([0.1, 0.3, 0.35, -0.2, 0.5], [0.01, 0.02, 0.015, 0.03, 0.02])
    >>> pt = ma.permutest(res)
    >>> pt.exact, pt.iter, float(pt.pvalue[0])
    (True, 32, 0.1875)
    """
    from .location_scale import LocationScaleResult

    if isinstance(res, LocationScaleResult):
        if permci is not False and permci is not None:
            raise InputError("permci is not available for a location-scale model (nor in metafor)")
        parts = {}
        for part in ("location", "scale"):
            model = _LSModel(res, part)
            if part == "scale" and model.int_only:
                parts[part] = None  # metafor: no scale model to test
                continue
            parts[part] = _permute(model, iter, exact, seed, False)
        return LocationScalePermutation(parts["location"], parts["scale"])
    return _permute(_Model(res), iter, exact, seed, permci)


def _permute(model, iter, exact, seed, permci) -> PermutationResult:  # noqa: A002
    if isinstance(iter, bool) or not isinstance(iter, (int, np.integer, float, np.floating)) \
            or not float(iter).is_integer():
        raise InputError(f"iter must be a whole number >= 2; got {iter!r}")
    iter_ = int(iter)
    if iter_ < 2:
        raise InputError(f"iter must be >= 2; got {iter!r}")
    if exact not in (None, True, False):
        raise InputError(f"exact must be None, True or False; got {exact!r}")
    k = model.y.shape[0]
    if model.int_only:
        exact_count = 2**k
    else:
        exact_count = _count_orders(_row_groups(model.X)[1], k)
    use_exact = exact is True or (exact is None and exact_count <= iter_)
    if use_exact and exact_count > _EXACT_LIMIT:
        raise InputError(
            f"an exact test needs {exact_count} rearrangements here (more than {_EXACT_LIMIT}); "
            "use exact=None or False with iter= for a random one")
    rng = None
    used_seed = None
    if not use_exact:
        if isinstance(seed, np.random.Generator):
            rng = seed
        else:
            if seed is None:
                seed = int(np.random.SeedSequence().entropy % (2**63))
            try:
                used_seed = int(seed)
            except (TypeError, ValueError):
                raise InputError(f"seed must be an integer or a numpy Generator; got {seed!r}") from None
            rng = np.random.default_rng(used_seed)
    n = exact_count if use_exact else iter_
    stats, qms = _run(model, use_exact, n, rng)
    if not np.any(~np.isnan(stats)):
        raise ConvergenceError("permutest: no rearrangement of the data could be fitted")
    pval, qmp = _pvalues(stats, qms, model)
    ci_low, ci_high = model.ci
    did_ci = False
    if permci is not False and permci is not None:
        coefs = _permci_coefs(permci, len(model.names))
        alpha = (100.0 - model.level) / 100.0  # as metafor forms it (exactly 0.05 at 95)
        if 1.0 / n > alpha / 2:
            raise InputError(
                f"a {model.level:g}% permutation-based interval needs more than {math.ceil(2 / alpha)} "
                f"rearrangements; there are {n}")
        ci_low, ci_high = _permci(model, coefs, use_exact, n, seed if isinstance(seed, np.random.Generator)
                                  else used_seed, alpha)
        did_ci = True
    return PermutationResult(
        model.names, model.coef.copy(), model.se.copy(), model.stat.copy(), pval, np.asarray(ci_low, float),
        np.asarray(ci_high, float), _NAN if model.int_only else model.qm,
        None if model.int_only else model.qm_df, _NAN if model.int_only else qmp, n, use_exact,
        exact_count, used_seed, model.test, model.level, model.df, did_ci, model.int_only, stats, qms,
    )


# --------------------------------------------------------------------------------------------
# Permutation-based confidence intervals (metafor's permci).
# --------------------------------------------------------------------------------------------


def _permci_coefs(permci, p):
    if permci is True:
        return list(range(p))
    try:
        coefs = sorted({int(j) for j in permci})
    except (TypeError, ValueError):
        raise InputError(f"permci must be True or a list of coefficient positions; got {permci!r}") from None
    bad = [j for j in coefs if not 0 <= j < p]
    if bad:
        raise InputError(f"permci: no coefficient at position {bad[0]}; valid positions are 0 to {p - 1}")
    return coefs


def _permci(model, coefs, exact, n, seed, alpha):
    """Each bound is the value b0 of coefficient j at which the one-sided permutation p-value of
    the model for y - b0 x_j reaches alpha / 2 (metafor's search: uniroot between the model's
    bound moved out by its distance to the estimate and the estimate, a p-value below the target
    weighted by 10)."""
    from .tau2 import zeroin

    tol = float(np.finfo(float).eps) ** 0.25
    lows = np.array(model.ci[0], dtype=float)
    highs = np.array(model.ci[1], dtype=float)
    target = alpha / 2.0
    for j in coefs:
        for side in ("lower", "upper"):
            alternative = "greater" if side == "lower" else "less"

            def f(b0, j=j, alternative=alternative):
                shifted = _Model.__new__(_Model)
                shifted.__dict__.update(model.__dict__)
                y0 = model.y - b0 * model.X[:, j]
                out = _try_fit(model, y0)
                if out is None:
                    raise ConvergenceError(f"permci: the model could not be fitted at coefficient value {b0}")
                shifted.y, (shifted.stat, shifted.qm) = y0, out
                rng = None if exact else np.random.default_rng(seed)
                stats, qms = _run(shifted, exact, n, rng)
                p = _pvalues(stats, qms, shifted, alternative)[0][j]
                d = p - target
                return d * 10.0 if d < 0 else d

            b, lo_ci, hi_ci = model.coef[j], model.ci[0][j], model.ci[1][j]
            if side == "lower":
                a, c = lo_ci - (b - lo_ci), b
            else:
                a, c = b, hi_ci + (hi_ci - b)
            try:
                fa, fc = f(a), f(c)
                if fa * fc > 0:
                    raise ConvergenceError("no sign change")
                root, _, ok = zeroin(f, a, c, fa, fc, tol, 100)
                value = root if ok else _NAN
            except ConvergenceError:
                value = _NAN
            if side == "lower":
                lows[j] = value
            else:
                highs[j] = value
    return lows, highs
