"""Pooling two-arm incidence data: events over person-time, Mantel-Haenszel or inverse variance.

Follows metafor's ``rma.mh`` with ``measure="IRR"`` (the Mantel-Haenszel rate ratio with the
Greenland-Robins variance and the Mantel-Haenszel test of no effect) and ``measure="IRD"`` (the
Mantel-Haenszel rate difference with its Greenland-Robins variance), and, for a tau² method code,
``escalc`` followed by ``rma.uni``.

Zero counts are treated as metafor treats them. ``add``, ``to`` and ``drop00`` take one value or
two: the first for the per-study effects (``yi``, ``vi``: the heterogeneity test and the forest
plot), the second for the pooled estimate. metafor's defaults are ``add=(1/2, 0)``,
``to=("only0", "none")``, ``drop00=(True, False)``: the pooled estimate uses the raw counts, a
study without events in either arm is kept in it (it carries no weight for the IRR) and left out
of Q.

The core (:func:`mantel_haenszel_rates`) is pure numpy on 1-D arrays.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._base import as_float_array, check_level, same_length, zcrit
from ..effects import _add_correction, _check_counts, _check_person_time, _check_to, incidence_two_arm
from ..errors import InputError
from . import tau2 as _tau2
from .binary import BinaryPoolResult, _chi2_sf, _norm_p, _pair, _q_stats, iv_result

__all__ = ["pool_incidence", "mantel_haenszel_rates"]

_MEASURES = ("IRR", "IRD")


def mantel_haenszel_rates(x1i, t1i, x2i, t2i, measure="IRR", *, correct=True) -> dict:
    """Mantel-Haenszel pooled rate ratio (log scale) or rate difference, and its SE.

    Variances of Greenland and Robins (1985), as metafor's ``rma.mh``. For the IRR also the
    Mantel-Haenszel test of no effect (with ``correct`` the 1/2 continuity correction).

    Returns a dict with ``estimate``, ``se``, ``mh``, ``mh_pvalue``; ``nan`` where metafor gives
    ``NA`` (an IRR when one arm has no events in any study).

    Examples
    --------
    >>> import math
    >>> res = mantel_haenszel_rates([7, 8, 3], [1344, 1600, 12012], [11, 8, 14], [1988, 1461, 10962])
    >>> round(math.exp(res["estimate"]), 4)
    0.5914
    """
    x1i, t1i, x2i, t2i = (np.asarray(x, dtype=float) for x in (x1i, t1i, x2i, t2i))
    total = t1i + t2i
    out = dict(estimate=math.nan, se=math.nan, mh=math.nan, mh_pvalue=math.nan)
    if measure == "IRR":
        r = float((x1i * (t2i / total)).sum())
        s = float((x2i * (t1i / total)).sum())
        if x1i.sum() > 0 and x2i.sum() > 0:
            out["estimate"] = math.log(r / s)
            out["se"] = math.sqrt(float(((t1i / total) * (t2i / total) * (x1i + x2i)).sum()) / (r * s))
        xt = x1i + x2i
        if xt.sum() > 0:
            # events of arm 1 against their expectation under equal rates, given each study's total
            dev = abs(float((x1i - xt * (t1i / total)).sum())) - (0.5 if correct else 0.0)
            out["mh"] = dev**2 / float((xt * (t1i / total) * (t2i / total)).sum())
            out["mh_pvalue"] = _chi2_sf(out["mh"], 1)
    elif measure == "IRD":
        w = (t1i / total) * t2i
        out["estimate"] = float(((x1i * t2i - x2i * t1i) / total).sum() / w.sum())
        out["se"] = math.sqrt(float((w**2 * (x1i / t1i**2 + x2i / t2i**2)).sum())) / float(w.sum())
    else:
        raise InputError(f"Mantel-Haenszel pooling of rates takes measure IRR or IRD, not {measure!r}")
    return out


def mh_rate_weights(x1i, t1i, x2i, t2i, measure):
    """Per-study Mantel-Haenszel weights (metafor's ``weights.rma.mh``), unnormalised."""
    x1i, t1i, x2i, t2i = (np.asarray(x, dtype=float) for x in (x1i, t1i, x2i, t2i))
    total = t1i + t2i
    if measure == "IRR":
        return x2i / total * t1i
    return t1i / total * t2i


def pool_incidence(
    x1i,
    t1i,
    x2i,
    t2i,
    *,
    measure: str = "IRR",
    method: str = "MH",
    test: str = "z",
    level: float = 95,
    correct: bool = True,
    add=None,
    to=None,
    drop00=None,
    labels=None,
    **pool_options,
) -> BinaryPoolResult:
    """Pool events ``x1i`` over person-time ``t1i`` (treatment) against ``x2i`` over ``t2i``
    (control).

    Parameters
    ----------
    measure : {"IRR", "IRD"}
        Log incidence rate ratio or incidence rate difference (events per unit of person-time).
    method : str
        ``"MH"`` (Mantel-Haenszel, metafor's ``rma.mh``) or a tau² method code (``"EE"``,
        ``"DL"``, ``"REML"``...) for an inverse-variance fit of ``escalc`` effects.
    test : {"z", "t", "knha"}
        Test of the pooled estimate; MH always uses ``z``.
    level : float
        Confidence level in percent.
    correct : bool
        Continuity correction of the Mantel-Haenszel test (MH, IRR).
    add, to, drop00 :
        Zero-count handling as metafor (see the module docstring); one value or a pair for MH.
    labels : sequence of str, optional
    **pool_options :
        Passed to :func:`metaanalysis.pooling.core.pool` for tau² methods.

    Returns
    -------
    BinaryPoolResult
        With ``counts`` holding ``x1i``, ``t1i``, ``x2i``, ``t2i``; for MH with the IRR the
        Mantel-Haenszel test is in ``cmh`` and ``cmh_pvalue``.

    References
    ----------
    Greenland S, Robins JM (1985) Estimation of a common effect parameter from sparse follow-up
    data. Biometrics 41:55-68; metafor ``rma.mh`` 3.8-1.

    Examples
    --------
    Catheter-related bloodstream infections per catheter-day (metafor's ``dat.nielweise2008``,
    first four trials):

    >>> res = pool_incidence([7, 8, 3, 6], [1344, 1600, 12012, 1536],
    ...                      [11, 8, 14, 10], [1988, 1461, 10962, 1503])
    >>> round(res.to_dict()["ratio"], 4), round(res.cmh, 4)
    (0.5904, 3.9601)
    """
    method_u = method.upper() if isinstance(method, str) else method
    if method_u == "HSK":
        method_u = "HSk"
    measure = str(measure).upper()
    if measure not in _MEASURES:
        raise InputError(f"measure={measure!r}: pool_incidence takes IRR or IRD (events over "
                         "person-time in two arms)")
    if method_u != "MH" and method_u not in _tau2.METHODS:
        raise InputError(f"method={method!r}: use 'MH' or a tau² method ({', '.join(_tau2.METHODS)})")
    if method_u == "MH" and test != "z":
        raise InputError(f"test={test!r}: the MH method has a z test only; leave test as 'z' or use "
                         "a tau² method for 't' or 'knha'")
    lev = check_level(level)
    x1 = as_float_array(x1i, "x1i")
    x2 = as_float_array(x2i, "x2i")
    t1 = as_float_array(t1i, "t1i")
    t2 = as_float_array(t2i, "t2i")
    if labels is not None:
        labels = [str(x) for x in labels]
    k = same_length(x1i=x1, t1i=t1, x2i=x2, t2i=t2, labels=labels)
    if k == 0:
        raise InputError("no studies: x1i, t1i, x2i, t2i are empty")
    for name, arr in (("x1i", x1), ("x2i", x2)):
        _check_counts(name, arr)
    for name, arr in (("t1i", t1), ("t2i", t2)):
        _check_person_time(arr, name)
    labels = tuple(labels) if labels else tuple(f"Study {i + 1}" for i in range(k))
    counts = {"x1i": x1, "t1i": t1, "x2i": x2, "t2i": t2}
    if method_u == "MH":
        res = _pool_mh(x1, t1, x2, t2, measure, lev, correct, add, to, drop00, labels, counts)
        object.__setattr__(res, "options", {"add": add, "to": to, "drop00": drop00})
        return res
    return _pool_iv(x1, t1, x2, t2, measure, method_u, test, lev, add, to, drop00, labels, counts,
                    pool_options)


def _heterogeneity(yi, vi, ok, est):
    k_yi = int(ok.sum())
    if k_yi <= 1:
        return 0.0, 1.0, 0.0, 1.0
    if not math.isfinite(est):
        return math.nan, math.nan, math.nan, math.nan
    with np.errstate(divide="ignore"):  # a study with zero variance: Q is infinite
        q = max(0.0, float(np.sum((yi[ok] - est) ** 2 / vi[ok])))
    return (q, *_q_stats(q, k_yi - 1))


def _pool_mh(x1, t1, x2, t2, measure, lev, correct, add, to, drop00, labels, counts):
    add_ = _pair(add, (0.5, 0.0), "add")
    to_ = _pair(to, ("only0", "none"), "to")
    drop_ = _pair(drop00, (True, False), "drop00")
    for t in to_:
        _check_to(t)
    yi, vi, _ = incidence_two_arm(measure, x1, t1, x2, t2, add=float(add_[0]), to=to_[0],
                                  drop00=bool(drop_[0]))
    notes = []
    keep = np.ones(len(x1), dtype=bool)
    if drop_[1]:
        keep &= ~((x1 == 0) & (x2 == 0))
    (kx1, kx2), _ = _add_correction([x1[keep], x2[keep]], float(add_[1]), to_[1],
                                    np.ones(int(keep.sum()), dtype=bool))
    kt1, kt2 = t1[keep], t2[keep]
    ok = np.isfinite(yi) & np.isfinite(vi)
    k_yi = int(ok.sum())
    if k_yi < len(x1):
        notes.append("studies at index " + ", ".join(str(int(i)) for i in np.flatnonzero(~ok))
                     + " have no per-study effect (no events in either arm) and are left out of Q")
    res = mantel_haenszel_rates(kx1, kt1, kx2, kt2, measure, correct=correct)
    est, se = res["estimate"], res["se"]
    if not math.isfinite(est):
        msg = ("the MH IRR is not estimable: one arm has no events in any study; consider "
               "measure='IRD' or a continuity correction for the pooled estimate (add, to)")
        notes.append(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
    q, q_p, i2, h2 = _heterogeneity(yi, vi, ok, est)
    w = mh_rate_weights(kx1, kt1, kx2, kt2, measure)
    weights = np.full(len(x1), np.nan)
    weights[keep] = w / w.sum() if np.sum(w) > 0 else np.nan
    z = zcrit(lev)
    zval = est / se if math.isfinite(se) and se > 0 else math.nan
    pval = _norm_p(zval) if math.isfinite(zval) else math.nan
    return BinaryPoolResult(
        estimate=float(est), se=float(se), statistic=float(zval), pvalue=float(pval),
        ci_low=float(est - z * se), ci_high=float(est + z * se), pi_low=math.nan, pi_high=math.nan,
        tau2=0.0, q=float(q), q_df=max(k_yi - 1, 0), q_pvalue=float(q_p), i2=float(i2),
        h2=float(h2), k=int(keep.sum()), k_yi=k_yi, method="MH", measure=measure, test="z",
        level=lev, yi=yi, vi=vi, weights=weights, labels=labels, counts=counts, correct=correct,
        cmh=float(res["mh"]), cmh_pvalue=float(res["mh_pvalue"]), notes=tuple(notes),
    )


def _pool_iv(x1, t1, x2, t2, measure, method, test, lev, add, to, drop00, labels, counts,
             pool_options):
    if any(isinstance(v, (list, tuple)) for v in (add, to, drop00)):
        raise InputError("with a tau² method, add, to and drop00 take one value each (they go to "
                         "escalc)")
    to_ = _check_to("only0" if to is None else to)
    yi, vi, _ = incidence_two_arm(measure, x1, t1, x2, t2, add=0.5 if add is None else float(add),
                                  to=to_, drop00=bool(drop00))
    return iv_result(yi, vi, measure, method, test, lev, labels, counts, pool_options,
                     undefined="no events, without a continuity correction",
                     none_left="check for studies without events and the continuity "
                               "correction (add, to)",
                     zero_variance="neither arm has events",
                     remedy=f"to={to_!r}; add a continuity correction (to='only0' or 'all'), "
                            "drop the study, or use method='MH'")
