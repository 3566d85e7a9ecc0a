"""Several effect sizes of one study combined into one (metafor's ``aggregate.escalc``).

A study that reports several estimates of the same effect (subgroups, time points, doses against
one control) must enter a meta-analysis once: counted several times it weighs several times and
its estimates, which share patients, are treated as independent (Cochrane Handbook 23.3, unit of
analysis). When a multilevel model (:func:`metaanalysis.rma_mv`) is not wanted, the estimates of a
study are combined into one with their sampling covariance: assumed from a correlation ``rho``
(compound symmetry, as metafor's ``struct="CS"``) or given as a matrix ``V``.
"""

from __future__ import annotations

import math

import numpy as np

from .._base import as_float_array
from ..errors import InputError

__all__ = ["aggregate_effects"]


def aggregate_effects(yi, vi=None, cluster=None, *, rho=None, V=None, weighted: bool = True,
                      measure: str | None = None):
    """Combine the effect sizes of each cluster (study) into one, as metafor's ``aggregate``.

    Within a cluster with estimates y and sampling covariance V:

    - ``weighted=True`` (the default): the generalised least-squares estimate
      ``(1' V⁻¹ 1)⁻¹ 1' V⁻¹ y`` with variance ``(1' V⁻¹ 1)⁻¹``, the efficient combination;
    - ``weighted=False``: the plain mean with variance ``1' V 1 / m²``.

    Parameters
    ----------
    yi : array_like or Effects
        Effect sizes, or an :class:`~metaanalysis.effects.Effects` (its ``yi``, ``vi`` and
        measure are used).
    vi : array_like
        Sampling variances (not needed with an Effects).
    cluster : array_like
        The study of each estimate; the output has one row per cluster, in the order in which the
        clusters first appear.
    rho : float, optional
        Assumed correlation of the estimates within a cluster (compound symmetry); 0 treats them
        as independent. Required unless ``V`` is given. The correlation is rarely reported: vary it
        in a sensitivity analysis.
    V : array_like, optional
        The full sampling covariance matrix (for example from
        :func:`metaanalysis.correlated_outcomes_v`); estimates of different clusters must be
        uncorrelated in it.
    weighted : bool
    measure : str, optional
        The measure code carried to the result (default the Effects' own).

    Returns
    -------
    Effects
        One row per cluster, labelled with the cluster, with a note of how it was combined.

    Examples
    --------
    >>> res = aggregate_effects([0.2, 0.4, 0.1], [0.04, 0.05, 0.02], cluster=["A", "A", "B"],
    ...                         rho=0.5)          # metafor: aggregate(dat, cluster, rho = 0.5)
    >>> [round(float(v), 4) for v in res.yi], [round(float(v), 4) for v in res.vi]
    ([0.2779, 0.1], [0.0331, 0.02])
    """
    from ..effects import Effects

    if isinstance(yi, Effects):
        eff = yi
        if vi is not None:
            raise InputError("give vi only with an array of effect sizes, not with an Effects")
        y, v = np.asarray(eff.yi, float), np.asarray(eff.vi, float)
        measure = measure or eff.measure
    else:
        y = as_float_array(yi, "yi")
        if vi is None:
            raise InputError("give vi= (sampling variances) with the effect sizes")
        v = as_float_array(vi, "vi")
    k = len(y)
    if k == 0:
        raise InputError("no estimates to aggregate: yi is empty")
    if len(v) != k:
        raise InputError(f"yi has {k} values and vi {len(v)}; give one of each per estimate")
    if cluster is None:
        raise InputError("give cluster= (the study of each estimate)")
    raw = list(np.asarray(cluster, dtype=object).ravel())
    if len(raw) != k:
        raise InputError(f"cluster has {len(raw)} values for {k} estimates")
    for i, c in enumerate(raw):
        if c is None or (isinstance(c, float) and math.isnan(c)) or str(c).strip() == "":
            raise InputError(f"cluster is missing at index {i}; every estimate needs its study")
    clusters = [str(c) for c in raw]
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"estimate {i} (cluster {clusters[i]!r}) has yi = {y[i]:g}, vi = {v[i]:g};"
                         " every estimate needs a finite effect and a positive variance")
    order = list(dict.fromkeys(clusters))
    members = {c: np.array([i for i, ci in enumerate(clusters) if ci == c]) for c in order}
    if V is not None:
        if rho is not None:
            raise InputError("give either rho (an assumed correlation) or V (the covariance "
                             "matrix), not both")
        full = np.asarray(V, dtype=float)
        if full.shape != (k, k):
            raise InputError(f"V must be a {k} x {k} matrix (one row per estimate); got "
                             f"{full.shape}")
        if not np.allclose(np.diag(full), v, rtol=1e-10, atol=0):
            raise InputError("the diagonal of V must be vi (the sampling variances)")
        same = np.array(clusters, dtype=object)[:, None] == np.array(clusters, dtype=object)[None]
        if np.any(full[~same] != 0):
            raise InputError("V correlates estimates of different clusters; one row per cluster "
                             "cannot keep that covariance")
        how = "the covariance matrix V given"
    else:
        if rho is None:
            raise InputError("give rho= (the assumed correlation of a cluster's estimates, 0 for "
                             "independent) or V=")
        r = float(rho)
        if not -1 < r < 1:
            raise InputError(f"rho must lie in (-1, 1); got {rho!r}")
        s = np.sqrt(v)
        full = r * np.outer(s, s)
        np.fill_diagonal(full, v)
        how = f"an assumed within-study correlation of {r:g}"
    out_y = np.empty(len(order))
    out_v = np.empty(len(order))
    sizes = np.empty(len(order))
    for j, c in enumerate(order):
        idx = members[c]
        vc = full[np.ix_(idx, idx)]
        yc = y[idx]
        sizes[j] = len(idx)
        if len(idx) == 1:  # a study with one estimate keeps it as it is
            out_y[j], out_v[j] = yc[0], vc[0, 0]
        elif weighted:
            try:
                chol = np.linalg.cholesky(vc)
            except np.linalg.LinAlgError:
                raise InputError(f"the covariance of cluster {c!r}'s estimates is not positive "
                                 "definite (check rho or V)") from None
            ones = np.ones(len(idx))
            wy = np.linalg.solve(chol, yc)
            w1 = np.linalg.solve(chol, ones)
            info = float(w1 @ w1)
            out_v[j] = 1.0 / info
            out_y[j] = float(w1 @ wy) / info
        else:
            out_y[j] = float(yc.mean())
            out_v[j] = float(vc.sum()) / len(idx) ** 2
    combined = int((sizes > 1).sum())
    note = (f"{k} estimates combined into {len(order)} (one per cluster; {combined} clusters had "
            f"several), {'by generalised least squares' if weighted else 'as plain means'} with "
            f"{how}")
    return Effects(out_y, out_v, measure or "GEN", None, tuple(order), None, (note,))
