"""Pool many meta-analyses at once: :func:`pool_many`, the batch engine of issue 8.

Every group (meta-analysis) of a long table is fitted with the model of :func:`pool`, but the
groups are fitted together: the studies are laid out in a padded k_max x groups array (padding has
weight 0), and the formulas are the ones :func:`pool` uses (:mod:`metaanalysis.pooling.tau2`'s
intercept-only kernels and :mod:`metaanalysis.pooling.core`'s test, heterogeneity and prediction
formulas), called with one value per group instead of a scalar. There is no Python loop over
groups: the iterative estimators (ML, REML, EB by Fisher scoring; PM, PMM and the Q-profile
interval by Brent's method) iterate all groups at once, and a group leaves the active set when it
meets the stopping rule :func:`pool` applies, so each group stops at the iterate :func:`pool`
stops at and reports its own ``converged`` and ``iterations``.

Groups are sorted by their number of studies and processed in chunks of at most ``chunk_rows``
padded cells, so padding stays small when k varies and memory stays bounded for any number of rows.
A group's row is bit for bit the same whichever groups share its chunk (sums over the studies are
formed row after row, see ``tau2._sum0``), so chunking, the order of the groups and a split of the
groups across Dask partitions (:mod:`metaanalysis.distributed`) change nothing.
"""

from __future__ import annotations

import numpy as np

from .._base import progress_bar
from ..errors import ConvergenceError, InputError
from . import _scaling
from . import tau2 as _tau2
from .core import (
    _DICT_KEYS,
    critical_value,
    heterogeneity_from_q,
    i2_h2_from_tau2,
    knha_scale,
    prediction_bounds,
    two_sided_p,
    validate_common,
)

__all__ = ["pool_many", "DEFAULT_CHUNK_ROWS"]

#: padded cells (studies, including padding) per chunk; about 100 MB of working arrays
DEFAULT_CHUNK_ROWS = 1_000_000

COLUMNS = _DICT_KEYS + ("message",)
_FLOAT_COLUMNS = tuple(c for c in _DICT_KEYS if c not in ("k", "q_df", "method", "test", "measure", "converged",
                                                          "iterations"))

_BROKEN = ("a formula gave a non-finite result for this group, so it is reported as not converged; "
           "please report this with the group's data")
_K1_NOTE = ("k = 1: heterogeneity cannot be estimated; tau2 is set to 0 (as metafor) and its interval "
            "and the prediction interval are undefined (NaN)")


def pool_many(
    frame=None,
    by: str = "analysis_id",
    yi="yi",
    vi="vi",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    chunk_rows: int | None = None,
    *,
    groups=None,
    weights=None,
    knha_adhoc: bool = False,
    ci_tau2: bool = True,
    control: dict | None = None,
    progress: bool | None = None,
):
    """Fit :func:`pool` to every group of a long table, vectorised across groups.

    Parameters
    ----------
    frame : pandas.DataFrame, optional
        One row per study with a group column (``by``) and the columns ``yi`` and ``vi``. Without a
        frame, pass arrays: ``pool_many(groups=g, yi=y, vi=v)``.
    by : str
        Name of the column that identifies a meta-analysis.
    yi, vi : str or array_like
        Column names (with ``frame``) or arrays of effect sizes and sampling variances.
    method, test, level, knha_adhoc, control
        As :func:`pool`: every tau² method (``EE``/``FE``, ``DL``, ``HE``, ``HS``, ``HSk``, ``SJ``,
        ``ML``, ``REML``, ``EB``, ``PM``, ``PMM``, ``GENQ``), tests ``z``, ``t``, ``knha``
        (``adhoc``), one level and one ``control`` for all groups.
    chunk_rows : int, optional
        Padded cells (studies) per chunk, default :data:`DEFAULT_CHUNK_ROWS`; bounds the working
        memory (about 100 bytes per cell) whatever the number of rows.
    groups : array_like, optional
        Group keys when ``yi`` and ``vi`` are arrays.
    weights : str or array_like, optional
        Custom weights (a column name or an array), as ``pool(weights=)``; needed by ``GENQ``.
    ci_tau2 : bool
        Compute the Q-profile interval for tau² (and so for I² and H²), vectorised by Brent's method
        across groups. It is on by default because ``pool(...).to_dict()`` includes it. Two root
        searches cost more than a closed-form estimator: for 100,000 meta-analyses of k = 10, DL
        takes about 0.1 s without the interval and 0.5 s with it (REML 0.5 s and 0.9 s), so
        ``ci_tau2=False`` (the interval columns NaN, the columns still there) is the fast path.
        For ``GENQ`` the generalised Q-profile is computed group by group (Imhof's integral has no
        vectorised form here), so it is slow.
    progress : bool, optional
        A progress bar over the meta-analyses on stderr (tqdm, if installed): by default only when
        stderr is a terminal and the batch has more than one chunk; True or False to force.

    Returns
    -------
    pandas.DataFrame
        One row per group, indexed by the group key (sorted), with the columns of
        ``pool(...).to_dict()`` (NaN where ``to_dict`` has None) and ``message``: empty for a
        normal fit; for k = 1 the note of :func:`pool` (the row is the study itself, as
        :func:`pool` returns it); for a group :func:`pool` would refuse (a missing or infinite yi,
        a variance <= 0, a negative weight, data beyond the limits of extreme inputs: variances
        spanning more than 1e7, effects spread over more than 1e75 standard errors, see
        :mod:`metaanalysis.pooling._scaling`) or whose estimator did not converge after metafor's
        remedies, the reason, with NaN estimates and ``converged`` False. A converged row never
        holds a non-finite estimate, standard error, tau², Q, I² or H². One bad group never stops
        the batch; structurally bad input (a missing column, unequal lengths, a missing group key)
        raises :class:`~metaanalysis.InputError`.

    Notes
    -----
    Results agree with :func:`pool` group by group (to rounding: the sums are taken in another
    order) because each group follows the same iterates and stopping rules; see
    ``tests/test_batch.py``. Groups outside the ordinary range (a variance below 1e-30 or above
    1e30, an effect beyond ±1e15, custom weights beyond 1e±30) are fitted one by one by
    :func:`pool` itself, which fits them exactly in other units; only they are slower.
    Reference: Viechtbauer (2010), metafor's ``rma.uni``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"analysis_id": [1, 1, 1, 2, 2, 2],
    ...                    "yi": [0.1, 0.3, 0.35, -0.2, 0.1, 0.0],
    ...                    "vi": [0.01, 0.02, 0.015, 0.03, 0.02, 0.01]})
    >>> out = pool_many(df, method="DL")
    >>> float(round(out.loc[1, "estimate"], 4)), float(round(out.loc[1, "tau2"], 4)), int(out.loc[1, "k"])
    (0.2323, 0.0064, 3)
    >>> list(out.index)
    [1, 2]
    """
    import pandas as pd

    method, test, level = validate_common(method, test, level, knha_adhoc)
    con = _tau2.make_control(control)
    g, y, v, a, index_name = _columns(frame, by, yi, vi, weights, groups)
    if method in ("GENQ", "GENQM") and a is None:
        raise InputError(f"method={method!r} needs weights= (the weights defining the generalised Q)")
    n = y.shape[0]
    codes, keys = _factorize(g)
    G = len(keys)
    # the float columns are rows of one block, so the result frame is built without a copy
    block = np.full((len(_FLOAT_COLUMNS), G), np.nan)
    out = dict(zip(_FLOAT_COLUMNS, block))
    out["converged"] = np.zeros(G, dtype=bool)
    out["iterations"] = np.zeros(G, dtype=np.int64)
    out["k"] = out["q_df"] = np.zeros(G, dtype=np.int64)
    tests = np.full(G, test, dtype=object)
    message = np.full(G, "", dtype=object)
    if n:
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=G)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        ys, vs = y[order], v[order]
        ws = None if a is None else a[order]
        bad, why = _check_groups(ys, vs, ws, codes[order], counts, starts, G)
        message[bad] = why
        out["k"] = counts
        out["q_df"] = counts - 1
        # beyond the limits (refused, as pool refuses), and outside the ordinary range (pool's scaled
        # fit, one group at a time: see _scaling)
        bad, one_by_one = _check_ranges(ys, vs, ws, counts, starts, bad, message)
        if method in _POOL_ONLY:
            # estimators with no vectorised form here: pool itself, group by group
            one_by_one = np.flatnonzero(~bad)
        if one_by_one.size:
            _fit_one_by_one(one_by_one, ys, vs, ws, starts, counts, method, test, level, control, ci_tau2,
                            out, tests, message)
        bad[one_by_one] = True  # done: kept out of the vectorised fits below
        ok1 = np.flatnonzero(~bad & (counts == 1))
        if ok1.size:
            _fit_single(ok1, ys[starts[ok1]], vs[starts[ok1]], None if ws is None else ws[starts[ok1]],
                        level, out)
            tests[ok1] = "z"
            message[ok1] = _K1_NOTE
        rest = np.flatnonzero(~bad & (counts > 1))
        rest = rest[np.argsort(counts[rest], kind="stable")]
        step = int(chunk_rows or DEFAULT_CHUNK_ROWS)
        if step < 1:
            raise InputError(f"chunk_rows must be a positive number of rows; got {chunk_rows!r}")
        chunks = list(_chunks(counts[rest], step))
        bar = progress_bar(len(rest), desc="meta-analyses", unit="fit",
                           progress=progress if progress is not None or len(chunks) > 1 else False)
        for chunk in chunks:
            gi = rest[chunk]
            Y, V, M, W = _pad(ys, vs, ws, starts[gi], counts[gi])
            res, fail, broken = _fit_padded(Y, V, M, W, counts[gi].astype(float), method, test, level, con,
                                            ci_tau2)
            for name, val in res.items():
                out[name][gi] = val
            message[gi[fail]] = _failure_message(method, con)
            message[gi[broken]] = _BROKEN
            if bar is not None:
                bar.update(len(gi))
        if bar is not None:
            bar.close()
    out["level"][:] = level
    out["measure"] = np.full(G, None, dtype=object)
    out["method"] = np.full(G, method, dtype=object)
    out["test"] = tests
    out["message"] = message
    index = pd.Index(keys, name=index_name)
    result = pd.DataFrame(block.T, index=index, columns=list(_FLOAT_COLUMNS), copy=False)
    for pos, name in enumerate(COLUMNS):
        if name not in _FLOAT_COLUMNS:
            result.insert(pos, name, out[name])
    return result


# --------------------------------------------------------------------------------------------
# Input.
# --------------------------------------------------------------------------------------------


def _columns(frame, by, yi, vi, weights, groups):
    """The group keys and the float arrays y, v (and weights) from a DataFrame or from arrays."""
    if frame is not None:
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
        names = {"by": by, "yi": yi, "vi": vi}
        if weights is not None:
            names["weights"] = weights
        missing = [f"{arg}={col!r}" for arg, col in names.items()
                   if not isinstance(col, str) or col not in frame.columns]
        if missing:
            raise InputError(f"frame has no column for {', '.join(missing)}; its columns are {list(frame.columns)}")
        g = frame[by].to_numpy()
        y = _float_column(frame[yi].to_numpy(), yi)
        v = _float_column(frame[vi].to_numpy(), vi)
        a = None if weights is None else _float_column(frame[weights].to_numpy(), weights)
        return g, y, v, a, by
    if groups is None:
        raise InputError("give a DataFrame (frame=) or arrays groups=, yi=, vi=")
    g = np.asarray(groups)
    if g.ndim != 1:
        raise InputError(f"groups must be 1-dimensional; got shape {g.shape}")
    y = _float_column(yi, "yi")
    v = _float_column(vi, "vi")
    a = None if weights is None else _float_column(weights, "weights")
    lengths = {"groups": len(g), "yi": len(y), "vi": len(v)}
    if a is not None:
        lengths["weights"] = len(a)
    if len(set(lengths.values())) > 1:
        raise InputError("groups, yi and vi must have one value per study; lengths differ: "
                         + ", ".join(f"{k}={n}" for k, n in lengths.items()))
    return g, y, v, a, by if isinstance(by, str) else "group"


def _float_column(values, name):
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numeric") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-dimensional; got shape {arr.shape}")
    return arr


def _factorize(g):
    """Integer codes 0..G-1 and the sorted unique keys; a missing key is an InputError."""
    import pandas as pd

    try:
        codes, keys = pd.factorize(g, sort=True)
    except TypeError:  # keys of mixed types that cannot be sorted: order of first appearance
        codes, keys = pd.factorize(g, sort=False)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise InputError(f"the group key at row {int(bad[0])} is missing"
                         + (f" ({bad.size - 1} more)" if bad.size > 1 else "") + "; every study needs a group")
    return codes.astype(np.int64, copy=False), keys


def _check_groups(ys, vs, ws, sorted_codes, counts, starts, G):
    """Groups :func:`pool` would refuse, and why (the first bad study, by its index in the group)."""
    badrow = ~np.isfinite(ys) | ~np.isfinite(vs) | ~(vs > 0)
    if ws is not None:
        badrow |= ~np.isfinite(ws) | (ws < 0)
    bad = np.zeros(G, dtype=bool)
    why = []
    rows = np.flatnonzero(badrow)
    if rows.size:
        grp = sorted_codes[rows]
        first = np.unique(grp, return_index=True)[1]
        for r in rows[first]:  # one message per bad group (only the bad ones)
            i = int(r - starts[sorted_codes[r]])
            if not np.isfinite(ys[r]):
                why.append(f"yi at index {i} of the group is missing or infinite")
            elif not np.isfinite(vs[r]) or not vs[r] > 0:
                why.append(f"vi at index {i} of the group is {float(vs[r])!r}; sampling variances must be "
                           "positive and finite")
            else:
                why.append(f"weights at index {i} of the group is {float(ws[r])!r}; weights must be >= 0")
        bad[sorted_codes[rows[first]]] = True
    return bad, np.array(why, dtype=object)


def _check_ranges(ys, vs, ws, counts, starts, bad, message):
    """Groups beyond the limits of :mod:`~metaanalysis.pooling._scaling` get pool's message (and
    are added to ``bad``); groups within them but outside the ordinary range, or with custom weights
    of extreme size, are returned to be fitted one by one with :func:`pool` (which fits them in
    other units, exactly). The ordinary range (which implies the limits) is checked vectorised; the
    few other groups are checked one by one, as pool checks them."""
    lo_v, hi_v = _scaling.ORDINARY_VI
    y_ok = np.abs(ys) <= _scaling.ORDINARY_Y  # NaN fails: such groups are in ``bad`` already
    vmin, vmax = np.minimum.reduceat(vs, starts), np.maximum.reduceat(vs, starts)
    with np.errstate(invalid="ignore", over="ignore"):
        ordinary = (np.logical_and.reduceat(y_ok, starts) & (vmin >= lo_v) & (vmax <= hi_v)
                    & (vmax <= _scaling.VI_RATIO_MAX * vmin))
    bad = bad.copy()
    special = ~ordinary & ~bad
    for g in np.flatnonzero(special):
        sl = slice(starts[g], starts[g] + counts[g])
        problem = _scaling.limit_problem(ys[sl], vs[sl], None, " of the group")
        if problem is not None:
            message[g] = problem[1]
            bad[g] = True
    if ws is not None:
        wmax = np.maximum.reduceat(ws, starts)
        zero = (wmax == 0) & ~bad
        message[zero] = "weights are all zero; at least one study needs a positive weight"
        bad |= zero
        lo_w, hi_w = _scaling.ORDINARY_WEIGHTS
        special |= (wmax < lo_w) | (wmax > hi_w)
    return bad, np.flatnonzero(special & ~bad)


def _fit_one_by_one(gi, ys, vs, ws, starts, counts, method, test, level, control, ci_tau2, out, tests, message):
    """Groups outside the ordinary range: :func:`pool` itself, group by group (its rows are pool's)."""
    from .core import pool

    skip = () if ci_tau2 else ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low",
                               "h2_ci_high")
    for g in gi:
        sl = slice(starts[g], starts[g] + counts[g])
        try:
            res = pool(ys[sl], vs[sl], method=method, test="knha" if test == "adhoc" else test,
                       knha_adhoc=test == "adhoc", level=level, weights=None if ws is None else ws[sl],
                       control=control)
        except (ConvergenceError, InputError) as exc:
            message[g] = str(exc)
            continue
        for name in _FLOAT_COLUMNS:
            if name not in skip and name not in ("k", "level"):
                val = getattr(res, name)
                out[name][g] = np.nan if val is None else val
        out["converged"][g] = res.converged
        out["iterations"][g] = res.iterations
        tests[g] = res.test
        if counts[g] == 1:
            message[g] = _K1_NOTE


# metafor 3.8's iterated DL and SJ and the median-unbiased generalised Q: their loops and root
# searches are pool's own, not the vectorised Fisher scoring below
_POOL_ONLY = ("DLIT", "SJIT", "GENQM")


def _chunks(ks, step):
    """Consecutive slices of the (k-sorted) groups with at most ``step`` padded cells each."""
    G = ks.shape[0]
    s = 0
    while s < G:
        n = max(1, step // int(ks[s]))
        while n > 1 and int(ks[min(s + n, G) - 1]) * min(n, G - s) > step:
            n = max(1, step // int(ks[min(s + n, G) - 1]))
        yield slice(s, min(s + n, G))
        s += n


def _pad(ys, vs, ws, starts, ks):
    """Padded (k_max x groups) arrays: y (0 on padding), v (1), mask (0/1), weights (0)."""
    kmax = int(ks.max())
    j = np.arange(kmax)[:, None]
    M = j < ks[None, :]
    src = starts[None, :] + np.minimum(j, ks[None, :] - 1)
    Y = np.where(M, ys[src], 0.0)
    V = np.where(M, vs[src], 1.0)
    W = None if ws is None else np.where(M, ws[src], 0.0)
    return Y, V, M.astype(float), W


# --------------------------------------------------------------------------------------------
# Fits.
# --------------------------------------------------------------------------------------------


def _fit_single(gi, y, v, a, level, out):
    """Groups of one study: the study itself, as :func:`pool` returns it for k = 1."""
    w = 1.0 / v
    b = (w * y) / w
    var = 1.0 / w
    if a is not None:
        b = (a * y) / a
        var = (a * a * v) / (a * a)
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = b / se
    crit = critical_value(level, None)
    out["estimate"][gi] = b
    out["se"][gi] = se
    out["statistic"][gi] = stat
    out["pvalue"][gi] = two_sided_p(stat, None)
    out["ci_low"][gi] = b - crit * se
    out["ci_high"][gi] = b + crit * se
    out["tau2"][gi] = 0.0
    out["tau"][gi] = 0.0
    out["q"][gi] = 0.0
    out["q_pvalue"][gi] = 1.0
    out["i2"][gi] = 0.0
    out["h2"][gi] = 1.0
    out["converged"][gi] = True


def _fit_padded(Y, V, M, W, k, method, test, level, con, ci_tau2):
    """All groups of one chunk (k >= 2 each): the columns of ``to_dict`` and the failed groups."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ymc = (Y - _tau2._sum0(Y) / k) * M
        fe = method == "EE"
        if fe:
            tau2 = np.zeros_like(k)
            se_tau2 = np.full_like(k, np.nan)
            conv = np.ones(k.shape, dtype=bool)
            iters = np.zeros(k.shape, dtype=np.int64)
        else:
            tau2, se_tau2, conv, iters = _estimate_many(method, Y, ymc, V, M, W, k, con)
        fail = ~conv
        t2 = np.where(fail, np.nan, tau2)

        # the model: inverse-variance (or custom-weight) estimate, its test and interval
        w = M / (V + t2)
        sw = _tau2._sum0(w)
        b = _tau2._sum0(w * Y) / sw
        var_b = 1.0 / sw
        df = k - 1
        s2w = 1.0
        if test in ("knha", "adhoc"):
            r = Y - b
            s2w = knha_scale(_tau2._sum0(w * r * r), df, test == "adhoc")
        if W is not None:
            sa = _tau2._sum0(W)
            b = _tau2._sum0(W * Y) / sa
            var_b = _tau2._sum0(W * W * (V + t2)) / (sa * sa)
        se = np.sqrt(var_b * s2w)
        stat = b / se
        tdf = None if test == "z" else df
        pval = two_sided_p(stat, tdf)
        crit = None if tdf is None else _per_df(lambda d: critical_value(level, d), tdf)
        crit = critical_value(level, None) if crit is None else crit

        # heterogeneity: Cochran's Q at w = 1/v, I², H²
        w0 = M / V
        s1, _, q = _tau2._wq(w0, ymc)
        q, qp, vt, i2, h2 = heterogeneity_from_q(q, s1 - _tau2._sum0(w0 * w0) / s1, df, t2, fe)
        if fe:
            pi = (np.full_like(k, np.nan), np.full_like(k, np.nan))
        else:
            pi = prediction_bounds(b, se, t2, crit)

        # the Q-profile interval for tau² (and I², H²)
        lo = hi = np.full_like(k, np.nan)
        if ci_tau2 and not fe:
            sel = np.flatnonzero(~fail)
            if sel.size:
                if method == "GENQ":
                    lo, hi = _genq_ci_loop(Y, V, M, W, k, sel, level, t2, con)
                else:
                    lo, hi = np.full_like(k, np.nan), np.full_like(k, np.nan)
                    lo[sel], hi[sel] = q_profile_ci_many(Y[:, sel], V[:, sel], M[:, sel], k[sel], level,
                                                         t2[sel], con["tol"])
        i2lo, h2lo = i2_h2_from_tau2(lo, vt)
        i2hi, h2hi = i2_h2_from_tau2(hi, vt)

    # never a converged fit with a non-finite result: should a formula fail after all, the group says so
    finite = np.ones(k.shape, dtype=bool)
    for x in (b, se, b - crit * se, b + crit * se, t2, q, qp, i2, h2):
        finite &= np.isfinite(x)
    broken = conv & ~finite
    if broken.any():
        conv = conv & ~broken
        fail = fail | broken
    nan_if_fail = lambda x: np.where(fail, np.nan, x)  # noqa: E731
    res = {
        "estimate": b, "se": se, "statistic": stat, "pvalue": pval, "ci_low": b - crit * se,
        "ci_high": b + crit * se, "tau2": t2, "se_tau2": nan_if_fail(se_tau2), "tau2_ci_low": lo,
        "tau2_ci_high": hi, "tau": np.sqrt(t2), "i2": nan_if_fail(i2), "i2_ci_low": i2lo,
        "i2_ci_high": i2hi, "h2": nan_if_fail(h2), "h2_ci_low": h2lo, "h2_ci_high": h2hi, "q": q,
        "q_pvalue": qp, "pi_low": pi[0], "pi_high": pi[1],
        "df": np.full_like(k, np.nan) if tdf is None else df, "converged": conv, "iterations": iters,
    }
    res = {name: (np.broadcast_to(val, k.shape) if np.ndim(val) == 0 else val) for name, val in res.items()}
    if broken.any():
        for name in res:
            if name not in ("converged", "iterations", "df"):
                res[name] = np.where(broken, np.nan, res[name])
    return res, np.flatnonzero(fail & ~broken), np.flatnonzero(broken)


def _failure_message(method, con):
    return (f"the {method} estimator of tau² did not converge; tried "
            f"{_tau2._describe(method, con)} and metafor's remedies (see pool's ConvergenceError)")


def _estimate_many(method, Y, ymc, V, M, W, k, con):
    """tau², its SE, converged and iterations per group, with metafor's remedies for the failures."""
    tau2, se, conv, iters = _estimate_once(method, Y, ymc, V, M, W, k, con)
    if not conv.all():
        f = np.flatnonzero(~conv)
        retry = dict(con)
        retry["maxiter"] = max(1000, 10 * con["maxiter"])
        if method in ("ML", "REML", "EB"):
            retry["stepadj"] = con["stepadj"] / 2.0
            tmax = None
        else:
            tmax = 100.0 * _tau2_max_many(Y[:, f], M[:, f], con)
        sub = _estimate_once(method, Y[:, f], ymc[:, f], V[:, f], M[:, f], None if W is None else W[:, f],
                             k[f], retry, tmax)
        for arr, val in zip((tau2, se, conv, iters), sub):
            arr[f] = val
    return tau2, se, conv, iters


def _tau2_max_many(Y, M, con):
    if con["tau2_max"] is not None:
        return np.full(Y.shape[1], float(con["tau2_max"]))
    return np.maximum(100.0, 10.0 * _tau2.mad(Y, M) ** 2)


def _estimate_once(method, Y, ymc, V, M, W, k, con, tau2_max=None):
    G = k.shape[0]
    tau2_min = con["tau2_min"]
    if method in _tau2.CLOSED_FORM:
        tau2, se = _tau2.closed_form_intercept(method, ymc, V, k, M, W, tau2_min, con["tau2_init"])
        return tau2, se, np.ones(G, dtype=bool), np.zeros(G, dtype=np.int64)
    if method in ("PM", "PMM"):
        tmax = _tau2_max_many(Y, M, con) if tau2_max is None else tau2_max
        tau2, iters, conv = paule_mandel_many(ymc, V, M, k, method, tau2_min, tmax, con)
        tau2 = np.maximum(tau2_min, tau2)
        return tau2, _tau2.iterative_se(method, k, M / (V + tau2)), conv, iters
    # ML, REML, EB: Fisher scoring from the Hedges estimate
    start = np.maximum(np.maximum(0.0, _tau2.closed_form_intercept("HE0", ymc, V, k, M)), tau2_min)
    if con["tau2_init"] is not None:
        start = np.full(G, float(con["tau2_init"]))
    tau2, iters, conv = fisher_scoring_many(ymc, V, M, k, method, start, con)
    if method in ("ML", "REML") and con["ll0check"]:
        cand = np.flatnonzero(conv & (tau2 > con["threshold"]))
        if cand.size:
            yc, vc, mc = ymc[:, cand], V[:, cand], M[:, cand]
            diff = (_tau2.loglik_intercept(yc, vc, 0.0, method, mc)
                    - _tau2.loglik_intercept(yc, vc, tau2[cand], method, mc))
            tau2[cand[diff > con["tol"]]] = 0.0
    tau2 = np.maximum(tau2_min, tau2)
    se = np.where(conv, _tau2.iterative_se(method, k, M / (V + tau2)), np.nan)
    return tau2, se, conv, iters


def fisher_scoring_many(ymc, V, M, k, method, start, con):
    """ML / REML / EB Fisher scoring for every group at once, each with :func:`pool`'s stopping
    rule (change in tau² <= ``threshold``; at most ``maxiter`` steps; metafor's step halving at the
    boundary). Returns ``(tau2, iterations, converged)`` per group."""
    threshold, maxiter, stepadj = con["threshold"], con["maxiter"], con["stepadj"]
    tau2_min = float(con["tau2_min"])
    G = k.shape[0]
    tau2 = np.array(start, dtype=float, copy=True)
    iters = np.zeros(G, dtype=np.int64)
    conv = np.zeros(G, dtype=bool)
    vmin = np.where(M > 0, V, np.inf).min(0)
    idx = np.arange(G)  # the groups of the working columns
    live = np.ones(G, dtype=bool)  # which working columns still iterate
    yc, vc, mc, kc = ymc, V, M, k
    it = 0
    while live.any():
        it += 1
        if 2 * np.count_nonzero(live) < idx.size:  # drop finished columns from the working set
            idx, yc, vc, mc, kc, live = (x[live] if x.ndim == 1 else x[:, live] for x in (idx, yc, vc, mc, kc, live))
        t = tau2[idx]
        inside = vmin[idx] + t > 0
        if not inside[live].all():  # as pool: stop, not converged
            iters[idx[live & ~inside]] = it
            live &= inside
            if not live.any():
                break
        w = mc / (vc + t)
        wy = w * yc
        w2 = w * w
        w2y = w2 * yc
        S = _tau2._sum0
        s3 = S(w2 * w) if method == "REML" else None
        adj = _tau2.scoring_adjust(method, kc, 1, S(w), S(wy), S(wy * yc), S(w2), S(w2y), S(w2y * yc), s3) * stepadj
        adj = np.where(np.isfinite(adj) & live, adj, 0.0)
        adj = _tau2.halve_into_space(t, adj, tau2_min)
        new = t + adj
        tau2[idx[live]] = new[live]
        change = np.abs(t - new)
        change[change <= _tau2.SCORING_RESOLUTION * np.abs(new)] = 0.0  # as pool: see tau2.SCORING_RESOLUTION
        over = it > maxiter
        done = ~(change > threshold) & live
        iters[idx[live]] = it
        if over:
            break
        conv[idx[done]] = True
        live &= ~done
    return tau2, iters, conv


def paule_mandel_many(ymc, V, M, k, method, tau2_min, tau2_max, con):
    """PM / PMM for every group at once: the root of Q(tau²) = k - 1 (or its chi-square median)
    by :func:`~metaanalysis.pooling.tau2.zeroin_many`, with :func:`pool`'s bracket and rules."""
    from scipy.special import chdtri

    G = k.shape[0]
    target = _per_df(lambda d: chdtri(d, 0.5), k - 1) if method == "PMM" else k - 1
    tau2_min = float(tau2_min)

    q = _q_function(ymc, V, M)

    def f(t, idx):
        return q(t, idx) - target[idx]

    every = np.arange(G)
    f_lo = f(np.full(G, tau2_min), every)
    f_hi = f(tau2_max, every)
    tau2 = np.full(G, np.nan)
    iters = np.zeros(G, dtype=np.int64)
    conv = np.zeros(G, dtype=bool)
    below = f_lo < 0
    tau2[below] = tau2_min
    conv[below] = True
    above = ~below & (f_hi > 0)
    tau2[above] = tau2_max[above]
    search = np.flatnonzero(~below & ~above)
    if search.size:
        r, it, cv = _tau2.zeroin_many(lambda t, i: f(t, search[i]), np.full(search.size, tau2_min),
                                      tau2_max[search], f_lo[search], f_hi[search], con["tol"], con["maxiter"])
        tau2[search], iters[search], conv[search] = r, it, cv
    return tau2, iters, conv


def _per_df(fn, df):
    """``fn(df)`` evaluated once per distinct value of df (quantile functions are slow and a batch
    has few distinct k)."""
    u, inv = np.unique(df, return_inverse=True)
    return np.asarray(fn(u), dtype=float)[inv]


def _q_function(Y, V, M):
    """``q(t, idx)``: the Q statistic sum w (y - mean)², w = 1/(v + t), of the groups ``idx``.

    While most groups are still searching, Q is evaluated for all of them (the others at t = 0)
    rather than copying the active columns out at every step."""
    G = Y.shape[1]
    w = np.empty_like(V)  # buffers reused by every evaluation over all groups
    r = np.empty_like(V)

    def q(t, idx):
        if 2 * idx.size > G:
            if idx.size == G:
                tt = t
            else:
                tt = np.zeros(G)
                tt[idx] = t
            np.add(V, tt, out=w)
            np.divide(M, w, out=w)
            out = _tau2._wq(w, Y, r)[2]
            return out if idx.size == G else out[idx]
        return _tau2._wq(M[:, idx] / (V[:, idx] + t), Y[:, idx])[2]

    return q


def q_profile_ci_many(Y, V, M, k, level, tau2_hat, tol):
    """The Q-profile interval for tau² of every group at once (:func:`pool`'s ``q_profile_ci``:
    the same bracket, the same Brent iterates per group)."""
    from scipy.special import chdtri

    G = k.shape[0]
    df = k - 1
    alpha = 1.0 - level / 100.0
    crit_u = _per_df(lambda d: chdtri(d, alpha / 2), df)
    crit_l = _per_df(lambda d: chdtri(d, 1 - alpha / 2), df)
    lo = np.minimum(0.0, tau2_hat)
    hi = np.maximum(np.maximum(100.0, 10.0 * tau2_hat), 10.0 * lo)

    q = _q_function(Y, V, M)

    every = np.arange(G)
    q_lo, q_hi = q(lo, every), q(hi, every)
    lower = np.full(G, np.nan)
    upper = np.full(G, np.nan)

    def root(sel, crit):
        i = np.flatnonzero(sel)
        if i.size:
            return i, _tau2.zeroin_many(lambda t, j: q(t, i[j]) - crit[i[j]], lo[i], hi[i],
                                        q_lo[i] - crit[i], q_hi[i] - crit[i], tol, 1000)[0]
        return i, np.empty(0)

    a = q_lo < crit_l
    lower[a] = upper[a] = lo[a]
    upper[~a & (q_hi > crit_l)] = hi[~a & (q_hi > crit_l)]
    i, r = root(~a & ~(q_hi > crit_l), crit_l)
    upper[i] = r
    b = q_hi > crit_u
    lower[b] = upper[b] = hi[b]
    lower[~b & (q_lo < crit_u)] = lo[~b & (q_lo < crit_u)]
    i, r = root(~b & ~(q_lo < crit_u), crit_u)
    lower[i] = r
    for j in np.flatnonzero(lower > upper):  # as pool: bounds found again to machine precision
        n = int(k[j])
        lower[j], upper[j] = _tau2.q_profile_ci(Y[:n, j], V[:n, j], None, level, float(tau2_hat[j]),
                                                {"tol": 0.0})
    return lower, upper


def _genq_ci_loop(Y, V, M, W, k, sel, level, t2, con):
    """GENQ's generalised Q-profile interval, group by group (Imhof's integral; slow)."""
    lo = np.full(k.shape, np.nan)
    hi = np.full(k.shape, np.nan)
    for j in sel:
        n = int(k[j])
        lo[j], hi[j] = _tau2.generalised_q_ci(Y[:n, j], V[:n, j], None, W[:n, j], level, float(t2[j]), con)
    return lo, hi

