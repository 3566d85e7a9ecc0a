"""Read the numbers a figure shows out of the pooling side's result objects.

The plots are handed results; they never fit anything. This module only *reads* fields (and maps
an analysis-scale value to the display scale: ``exp`` for ratios, the result's own back-transformed
values for proportions) so that the figure modules see one shape whatever the result type:
:class:`~metaanalysis.pooling.PoolResult`, ``BinaryPoolResult``, the proportions result, a subgroup
result, or a trim-and-fill result.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ._style import scale_of

__all__ = ["pooled_view", "study_view", "subgroup_parts", "display_transform"]

_NAN = float("nan")


def _get(res, *names, default=_NAN):
    """The first of ``names`` that ``res`` has as an attribute (or ``to_dict()`` key)."""
    for n in names:
        if hasattr(res, n):
            v = getattr(res, n)
            if v is not None:
                return v
    d = None
    if hasattr(res, "to_dict"):
        try:
            d = res.to_dict()
        except Exception:  # pragma: no cover - a result whose to_dict needs arguments
            d = None
    if d:
        for n in names:
            if d.get(n) is not None:
                return d[n]
    return default


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return _NAN


def measure_of(res) -> str:
    return str(_get(res, "measure", default="") or "").upper()


def level_of(res) -> float:
    return _f(_get(res, "level", default=95.0))


def display_transform(measure):
    """The map from the analysis scale to the display scale (``exp`` for ratios, identity
    otherwise). Proportions are not mapped here: their results carry back-transformed values."""
    if scale_of(measure) == "log":
        return lambda x: np.exp(np.asarray(x, dtype=float))
    return lambda x: np.asarray(x, dtype=float)


def inverse_proportion(measure):
    """Back-transformation of a proportion scale that needs nothing but the value (PLO, PAS, PR),
    or None (PFT needs the sample sizes, so its results must carry back-transformed values)."""
    m = str(measure or "").upper()
    if m == "PLO":
        return lambda x: 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
    if m == "PAS":
        return lambda x: np.sin(np.clip(np.asarray(x, dtype=float), 0.0, np.pi / 2)) ** 2
    if m == "PR":
        return lambda x: np.asarray(x, dtype=float)
    return None


def _is_proportion_result(res) -> bool:
    return scale_of(measure_of(res)) == "percent"


def study_view(res):
    """Per-study rows on the display scale: DataFrame label, estimate, ci_low, ci_high, weight,
    plus the analysis-scale yi, vi, se.

    For proportions the estimate and interval are in percent, read from the result's
    back-transformed study values (``proportion``, ``proportion_ci_low``, ``proportion_ci_high``
    in its ``study_frame()``).
    """
    import pandas as pd

    if not hasattr(res, "study_frame"):
        raise InputError(
            f"{type(res).__name__} has no study_frame(): give a result from metaanalysis.pool, "
            "pool_binary or pool_proportions"
        )
    sf = res.study_frame()
    if "label" not in sf.columns:
        sf = sf.reset_index().rename(columns={sf.index.name or "index": "label"})
    se = sf["se"] if "se" in sf.columns else (sf["sei"] if "sei" in sf.columns else np.sqrt(sf["vi"]))
    w = sf["weight"].to_numpy(dtype=float) if "weight" in sf.columns else np.full(len(sf), _NAN)
    if np.nansum(w) > 1.5:  # given in percent
        w = w / 100.0
    out = pd.DataFrame({"label": sf["label"].astype(str).to_numpy()})
    if _is_proportion_result(res):
        # pool_proportions' study_frame: the observed proportion and its exact interval; a plain
        # fit on a proportion scale (a subgroup of logits, say) is shown back-transformed.
        inv = inverse_proportion(measure_of(res))
        if "proportion" in sf.columns:
            out["estimate"] = 100.0 * sf["proportion"].to_numpy(dtype=float)
            out["ci_low"] = 100.0 * sf["ci_low"].to_numpy(dtype=float)
            out["ci_high"] = 100.0 * sf["ci_high"].to_numpy(dtype=float)
        elif inv is not None:
            for key, col in (("estimate", "yi"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
                out[key] = 100.0 * inv(sf[col].to_numpy(dtype=float))
        else:
            # PFT needs each study's n to go back to a proportion: the study rows are left
            # empty, for the caller's own numbers (the forest's ``reported``); a forest without
            # them says so (forest._study_rows)
            out["estimate"] = out["ci_low"] = out["ci_high"] = _NAN
            out.attrs["display_missing"] = (
                "the proportions result's study_frame() has no 'proportion' column: the plot "
                "needs the study proportions from pool_proportions, or each study's proportion "
                "and interval as reported=")
    else:
        tr = display_transform(measure_of(res))
        out["estimate"] = tr(sf["yi"].to_numpy(dtype=float))
        out["ci_low"] = tr(sf["ci_low"].to_numpy(dtype=float))
        out["ci_high"] = tr(sf["ci_high"].to_numpy(dtype=float))
    out["weight"] = w
    out["yi"] = sf["yi"].to_numpy(dtype=float)
    out["vi"] = sf["vi"].to_numpy(dtype=float)
    out["se"] = np.asarray(se, dtype=float)
    return out


def pooled_view(res) -> dict:
    """The pooled numbers on the display scale plus the heterogeneity and test statistics."""
    measure = measure_of(res)
    out = {
        "measure": measure,
        "level": level_of(res),
        "method": str(_get(res, "method", default="")),
        "test": str(_get(res, "test", default="z")),
        "k": int(_f(_get(res, "k", "k_yi", default=_NAN))) if math.isfinite(_f(_get(res, "k", default=_NAN))) else None,
        "tau2": _f(_get(res, "tau2")),
        "i2": _f(_get(res, "i2")),
        "q": _f(_get(res, "q")),
        "q_df": _f(_get(res, "q_df")),
        "q_pvalue": _f(_get(res, "q_pvalue")),
        "statistic": _f(_get(res, "statistic", "zval", "tval")),
        "pvalue": _f(_get(res, "pvalue")),
        "df": _f(_get(res, "df", default=_NAN)),
    }
    inv = inverse_proportion(measure)
    if scale_of(measure) == "percent" and not hasattr(res, "proportion") and inv is not None:
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            out[key] = 100.0 * float(inv(_f(_get(res, key))))
    elif scale_of(measure) == "percent":
        for src, dst in (("proportion", "estimate"), ("proportion_ci_low", "ci_low"),
                         ("proportion_ci_high", "ci_high"), ("proportion_pi_low", "pi_low"),
                         ("proportion_pi_high", "pi_high")):
            out[dst] = 100.0 * _f(_get(res, src))
    else:
        tr = display_transform(measure)
        for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            out[key] = float(tr(_f(_get(res, key))))
    fixed = out["method"].upper() in ("EE", "FE", "CE", "MH", "PETO")
    out["model"] = "common" if fixed else "random"
    if fixed or out["k"] is not None and out["k"] < 2:
        out["pi_low"] = out["pi_high"] = _NAN
    return out


def subgroup_parts(res):
    """``(groups, overall, between)`` of a subgroup result: a list of (name, result), the overall
    result (or None) and a dict with statistic, df, df2, pvalue of the test for subgroup
    differences (or None)."""
    groups = None
    for name in ("subgroups", "groups", "results"):
        cand = getattr(res, name, None)
        if isinstance(cand, dict) or (isinstance(cand, (list, tuple)) and cand
                                       and hasattr(cand[0], "study_frame")):
            groups = cand
            break
    if groups is None:
        raise InputError(f"{type(res).__name__} is not a subgroup result (no subgroups)")
    if isinstance(groups, dict):
        items = [(str(k), v) for k, v in groups.items()]
    else:
        items = [(str(_get(g, "name", "label", default=f"Group {i + 1}")), g) for i, g in enumerate(groups)]
    overall = getattr(res, "overall", None)
    stat = _f(getattr(res, "statistic", _NAN))
    between = None
    if math.isfinite(stat):
        df2 = getattr(res, "df2", None)
        between = {
            "statistic": stat,
            "df": _f(getattr(res, "df", _NAN)),
            "df2": _f(df2) if df2 is not None else _NAN,
            "pvalue": _f(getattr(res, "pvalue", _NAN)),
        }
    return items, overall, between


def is_subgroup_result(res) -> bool:
    return any(hasattr(res, n) for n in ("groups", "subgroups")) and not hasattr(res, "study_frame")
