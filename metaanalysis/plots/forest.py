"""Forest plots: one row per study, the pooled diamond(s), heterogeneity, subgroups.

Two steps, as the house rules ask: :func:`forest_table` turns a result into the DataFrame of rows a
forest plot shows (numbers on the display scale and the text of every column), and :func:`forest`
lays that table out. Neither computes a statistic: estimates, intervals, weights, tau², I², Q and
the tests all come from the result object; the table only formats them (and maps log-scale values
to the natural scale with ``exp``).

Layout. Every row is one unit of the y axis; its height in points follows the font size, so the
figure's height follows the number of rows. Text columns are measured before anything is placed
and sit at fixed offsets (in inches) from the edges of the plotting panel, so no two columns can
meet whatever the labels; the panel takes the width that is left. The panel's position is
recomputed at draw time (an axes locator), so saving the figure at another width
(:func:`metaanalysis.plots.save_figure`) moves only the panel's right edge.

References: metafor's ``forest.rma`` (Viechtbauer 2010) and meta's ``forest.meta`` (Balduzzi,
Rücker and Schwarzer 2019) for the content and order of the rows.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from ..errors import InputError
from . import _style as S
from ._results import is_subgroup_result, pooled_view, study_view, subgroup_parts
from ._ticks import natural_limits, natural_ticks, tick_label

__all__ = ["forest", "forest_table", "sensitivity_table", "cumulative_forest", "leave_one_out_forest"]

_NAN = float("nan")
ROW_FACTOR = 1.6        # row height = ROW_FACTOR x font size (points)
MIN_PANEL_IN = 1.2      # narrowest plotting panel
DEFAULT_PANEL_IN = 2.3  # panel width when the figure width is free
MIN_FONT = S.MIN_FONT_SIZE  # smallest font size used to fit a fixed width (7 pt at print size)
TICK_GAP_IN = 0.42      # least distance between two tick marks (room for a label like "0.05")
MAX_SQUARE = 0.72       # side of the heaviest study's square, in row heights
_SHORT = {"Random-effects model": "Random effects", "Common-effect model": "Common effect",
          "Prediction interval": "Prediction int."}
MIN_SQUARE = 0.16       # floor so that a study with a tiny weight stays visible


# --------------------------------------------------------------------------------------------
# text of the table


def _fmt_p(p) -> str:
    if p is None or not math.isfinite(p):
        return "p = NA"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _ci_text(est, lo, hi, digits) -> str:
    """``"0.59 (0.45–0.77)"`` for a computed estimate (fixed decimals)."""
    if not math.isfinite(est):
        return ""
    return S.interval_text(S.fmt_num(est, digits), S.fmt_num(lo, digits), S.fmt_num(hi, digits))


# Marks of intervals reported at another level than the figure's, in order of first use.
LEVEL_MARKS = ("†", "‡", "§", "¶", "#", "**")
NE_FOOTNOTE = "NE, not estimable in the source: the interval is drawn open (an arrow to the axis edge)."


def _reported_columns(reported, k):
    """``reported=`` as a dict of float lists (value, ci_low, ci_high, ci_level), one per study."""
    if reported is None:
        return None
    try:
        import pandas as pd

        if isinstance(reported, pd.DataFrame):
            reported = {c: reported[c].tolist() for c in reported.columns}
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(reported, dict):
        raise InputError("reported must be a DataFrame (value, ci_low, ci_high, ci_level), one row "
                         "per study")
    missing = [c for c in ("value", "ci_low", "ci_high") if c not in reported]
    if missing:
        raise InputError(f"reported lacks column(s) {missing}; give value, ci_low, ci_high and "
                         "ci_level as reported (NaN where not estimable)")
    out = {}
    for c in ("value", "ci_low", "ci_high", "ci_level"):
        vals = list(reported.get(c, [_NAN] * k))
        if len(vals) != k:
            raise InputError(f"reported[{c!r}] has {len(vals)} values; the result has {k} studies")
        out[c] = [_NAN if v is None else float(v) for v in vals]
    if "exact" in reported:
        vals = list(reported["exact"])
        if len(vals) != k:
            raise InputError(f"reported['exact'] has {len(vals)} values; the result has {k} studies")
        out["exact"] = [bool(v) for v in vals]
    for c in ("value_text", "ci_low_text", "ci_high_text"):
        if c in reported:
            vals = list(reported[c])
            if len(vals) != k:
                raise InputError(f"reported[{c!r}] has {len(vals)} values; the result has {k} studies")
            out[c] = ["" if v is None or (isinstance(v, float) and v != v) else str(v).strip()
                      for v in vals]
    return out


def _level_percent(level) -> float:
    lv = float(level)
    return lv * 100.0 if 0 < lv < 1 else lv


def _apply_reported(row, rep, i, scale, level, marks, digits=1):
    """Replace a study row's interval by the one reported (``rep`` columns at index ``i``).

    Used when the value and at least one bound are reported; a missing bound is not estimable:
    it becomes +-inf (drawn open) and prints "NE". A level other than the figure's gets a mark.
    """
    v, lo, hi = rep["value"][i], rep["ci_low"][i], rep["ci_high"][i]
    if not (math.isfinite(v) and (math.isfinite(lo) or math.isfinite(hi))):
        return
    k = 100.0 if scale == "percent" else 1.0
    v, lo, hi = (k * x for x in (v, lo, hi))
    # decimals: those of the numbers as typed in the source (a float forgets "11.0"); percentages
    # (fractions in the table) those of the figure's other percentages
    typed = digits if scale == "percent" else 0
    if scale != "percent":
        given = [rep.get(c, [""] * len(rep["value"]))[i]
                 for c in ("value_text", "ci_low_text", "ci_high_text")]
        typed = max([len(g.split(".")[1]) if "." in g else 0 for g in given] + [0])
    exact = rep.get("exact")
    if exact is not None and bool(exact[i]):
        # computed here (an exact interval), not typed in a source: the figure's own decimals
        texts = [S.fmt_num(x, digits) for x in (v, lo, hi)]
    else:
        texts = S.fmt_reported([v, lo, hi], min_decimals=typed)
    row["estimate"] = v
    row["ci_low"] = lo if math.isfinite(lo) else -math.inf
    row["ci_high"] = hi if math.isfinite(hi) else math.inf
    row["source"] = "reported"
    row["open"] = ("low" if not math.isfinite(lo) else "") + ("high" if not math.isfinite(hi) else "")
    text = S.interval_text(*texts)
    lv = rep["ci_level"][i]
    if math.isfinite(lv) and math.isfinite(level) and abs(_level_percent(lv) - level) > 1e-9:
        key = round(_level_percent(lv), 6)
        mark = marks.setdefault(key, LEVEL_MARKS[min(len(marks), len(LEVEL_MARKS) - 1)])
        text += mark
    row["ci_text"] = text


def _weight_text(w) -> str:
    if w is None or not math.isfinite(w):
        return ""
    return f"{100 * w:.1f}%"


def _heterogeneity_text(p: dict, digits: int, q_test: bool = True) -> str:
    parts = []
    if p["model"] == "random" and math.isfinite(p["tau2"]):
        method = f" ({p['method']})" if p["method"] else ""
        parts.append(f"\u03c4\u00b2{method} = {S.fmt_num(p['tau2'], max(digits, 2) + 1 if p['tau2'] < 0.01 else max(digits, 2))}")
    if math.isfinite(p["i2"]):
        parts.append(f"I\u00b2 = {p['i2']:.0f}%")
    if math.isfinite(p["q"]):
        df = f", df = {p['q_df']:.0f}" if math.isfinite(p["q_df"]) else ""
        q_p = f", {_fmt_p(p['q_pvalue'])}" if q_test else ""
        parts.append(f"Q = {S.fmt_num(p['q'], 2)}{df}{q_p}")
    return "Heterogeneity: " + "; ".join(parts) if parts else ""


def _test_text(p: dict) -> str:
    stat = p["statistic"]
    if not math.isfinite(stat) and not math.isfinite(p["pvalue"]):
        return ""
    use_t = p["test"] in ("t", "knha", "adhoc") or math.isfinite(p.get("df", _NAN))
    name = "t" if use_t else "z"
    s = f"Test for overall effect: {name} = {S.fmt_num(stat, 2)}"
    if use_t and math.isfinite(p.get("df", _NAN)):
        s += f", df = {p['df']:g}"
    return s + f", {_fmt_p(p['pvalue'])}"


def _model_label(p: dict, both: bool) -> str:
    return "Common-effect model" if p["model"] == "common" else "Random-effects model"


def _extra_columns(columns, k, labels):
    """Normalise ``columns=`` (dict header -> values, or a DataFrame) to an ordered dict of str lists."""
    if columns is None:
        return {}
    try:
        import pandas as pd

        if isinstance(columns, pd.DataFrame):
            columns = {c: columns[c].tolist() for c in columns.columns}
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(columns, dict):
        raise InputError("columns must be a dict {header: values} or a DataFrame, one value per study")
    out = {}
    for head, values in columns.items():
        vals = list(values)
        if len(vals) != k:
            raise InputError(f"columns[{head!r}] has {len(vals)} values; the result has {k} studies")
        out[str(head)] = vals
    return out


_NUMERIC_MINUS = re.compile(r"(?:(?<=^)|(?<=[\s\[(,;/]))-(?=[\d.])")


def _minus(s: str) -> str:
    """A typographic minus for negative numbers only (``single-arm`` keeps its hyphen)."""
    return _NUMERIC_MINUS.sub(S.MINUS, s)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return f"{v:g}" if v != int(v) else f"{int(v)}"
    if isinstance(v, (np.floating,)):
        return _cell(float(v))
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


def _order(view, sort_by, descending, extra_raw):
    k = len(view)
    if sort_by is None:
        return np.arange(k)
    if isinstance(sort_by, str):
        key = sort_by.lower()
        if key in ("estimate", "effect"):
            values = view["estimate"].to_numpy()
        elif key == "weight":
            values = view["weight"].to_numpy()
        elif key in ("label", "study"):
            values = view["label"].to_numpy()
        else:
            match = [h for h in extra_raw if h.lower() == key]
            if not match:
                raise InputError(
                    f"sort_by={sort_by!r}: give 'estimate', 'weight', 'label', the header of one of "
                    f"columns= ({', '.join(map(repr, extra_raw)) or 'none given'}) or a sequence of keys"
                )
            values = np.asarray(extra_raw[match[0]])
    else:
        values = np.asarray(sort_by)
        if len(values) != k:
            raise InputError(f"sort_by has {len(values)} keys; the result has {k} studies")
    items = list(values)
    return np.asarray(sorted(range(k), key=items.__getitem__, reverse=descending), dtype=int)


def _study_rows(res, columns, sort_by, descending, digits, group, weight_from=None,
                reported=None, scale="linear", level=95.0, marks=None):
    view = study_view(res)
    k = len(view)
    extra_raw = _extra_columns(columns, k, view["label"])
    rep = _reported_columns(reported, k)
    order = _order(view, sort_by, descending, extra_raw)
    rows = []
    for i in order:
        r = view.iloc[i]
        row = {
            "kind": "study", "group": group, "label": r["label"],
            "estimate": float(r["estimate"]), "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]), "weight": float(r["weight"]),
            "ci_text": _ci_text(r["estimate"], r["ci_low"], r["ci_high"], digits),
            "weight_text": _weight_text(r["weight"]), "source": "model", "open": "",
        }
        if rep is not None:
            _apply_reported(row, rep, i, scale, level, marks if marks is not None else {},
                            digits)
        for head, vals in extra_raw.items():
            row[head] = _cell(vals[i])
        rows.append(row)
    missing = view.attrs.get("display_missing")
    if missing and any(not math.isfinite(r["estimate"]) for r in rows):
        raise InputError(missing)
    return rows, list(extra_raw)


def _summary_row(p, kind, label, group, digits):
    return {
        "kind": kind, "group": group, "label": label, "model": p["model"],
        "estimate": p["estimate"], "ci_low": p["ci_low"], "ci_high": p["ci_high"],
        "weight": 1.0, "ci_text": _ci_text(p["estimate"], p["ci_low"], p["ci_high"], digits),
        "weight_text": "100.0%" if kind == "summary" else "",
    }


def _pooled_block(res, common, group, digits, prediction, kind, label=None, q_test=True):
    rows = []
    fits = []
    if common is not None:
        fits.append(("common", pooled_view(common)))
    p = pooled_view(res)
    fits.append((p["model"], p))
    both = len(fits) == 2
    for model, pv in fits:
        lab = label if label is not None else _model_label(pv, both)
        if label is not None and both:
            lab = f"{label} ({model})"
        rows.append(_summary_row(pv, kind, lab, group, digits))
    if prediction and math.isfinite(p["pi_low"]):
        rows.append({
            "kind": "prediction", "group": group, "label": "Prediction interval",
            "estimate": _NAN, "ci_low": p["pi_low"], "ci_high": p["pi_high"], "weight": _NAN,
            "ci_text": S.range_text(S.fmt_num(p["pi_low"], digits), S.fmt_num(p["pi_high"], digits)),
            "weight_text": "",
        })
    het = _heterogeneity_text(p, digits, q_test)
    if het and (p["k"] is None or p["k"] > 1):
        rows.append({"kind": "note", "group": group, "label": het})
    return rows, p


def forest_table(result, *, columns=None, common=None, sort_by=None, descending=False,
                 digits=None, prediction=True, overall_test=None, subgroup_test=True,
                 heterogeneity_test=True, reported=None, footnotes=None):
    """The rows of a forest plot as a DataFrame (what :func:`forest` lays out).

    Parameters
    ----------
    result
        A fit from :func:`metaanalysis.pool`, :func:`~metaanalysis.pool_binary`,
        :func:`~metaanalysis.pool_proportions`, or a subgroup result from
        :func:`~metaanalysis.subgroup_analysis`.
    columns : dict or DataFrame, optional
        Extra text columns shown left of the plot, ``{header: values}`` with one value per study
        in the result's order (``{"Year": [...], "Events/N": [...]}``).
    common : PoolResult, optional
        An equal-effects fit of the same studies, shown as a second diamond (and a second weight
        column) above the random-effects one, as meta's forest.
    sort_by : str or sequence, optional
        ``"estimate"``, ``"weight"``, ``"label"``, the header of one of ``columns`` (``"Year"``), or
        one sort key per study. Within subgroups when the result has them.
    descending : bool
        Sort in descending order.
    digits : int, optional
        Decimals of the estimate text (2; 1 for proportions in percent and medians).
    reported : DataFrame, optional
        The studies' numbers as the sources report them, one row per study in the result's order
        (as ``columns``): ``value``, ``ci_low``, ``ci_high`` on the natural scale (a ratio, months,
        a proportion as a fraction) and ``ci_level`` (0.95 or 95); optionally ``value_text``,
        ``ci_low_text``, ``ci_high_text``, the numbers as typed in the source (``"11.0"``), whose
        decimals the row keeps (not for proportions, shown in percent). The numbers of a row share
        the decimals of the most precise: ``0.16 (0.10–0.26)``. Where the value and at least
        one bound are given, the study row shows and draws them instead of the interval the model
        works with (often re-derived on the log scale): ``DECISION 39.4 (32.7–51.4)``. A
        bound that is NaN is not estimable: it prints "NE" and is drawn open (an arrow to the axis
        edge), never imputed; a footnote says so. An interval at another level than the figure's
        is marked (†, ‡, ...) with a footnote "† 99% interval as reported". A row
        with neither bound keeps the model's numbers. A column ``exact`` (bool) marks numbers
        computed rather than typed (a proportion's exact interval): they print at ``digits``.
    footnotes : list of str, optional
        More footnotes under the figure (how the pooled model treats an open interval, say).
    prediction : bool
        Add the prediction-interval row of a random-effects model.
    overall_test, subgroup_test : bool
        Add the note rows with the test for the overall effect (default: except for proportions,
        where a test against 50% is rarely wanted) and for subgroup differences.
    heterogeneity_test : bool
        Print the p-value of Cochran's Q in the heterogeneity note (False for a descriptive
        summary that declares no test: Q, tau² and I² are still shown).

    Returns
    -------
    pandas.DataFrame
        One row per line of the plot, top to bottom. ``kind`` is ``study``, ``heading``,
        ``subtotal``, ``summary``, ``prediction`` or ``note``; ``group``; ``label``; the extra
        columns (text); ``estimate``, ``ci_low``, ``ci_high`` on the display scale (natural
        values for ratios, percent for proportions); ``weight`` (fraction of 1); ``ci_text``,
        ``weight_text`` (and ``weight_common``/``weight_common_text`` with ``common=``);
        ``source`` (``reported`` or ``model``) and ``open`` (``""``, ``"low"``, ``"high"`` or
        ``"lowhigh"``) for study rows, an open bound being -inf/+inf in ``ci_low``/``ci_high``.
        ``attrs`` holds ``measure``, ``scale``, ``level``, ``columns`` (the extra headers),
        ``ci_header`` and ``footnotes``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([-0.3, -0.1, -0.5], [0.04, 0.02, 0.09], measure="HR", labels=["A", "B", "C"])
    >>> t = forest_table(res)
    >>> t["kind"].tolist()
    ['study', 'study', 'study', 'summary', 'prediction', 'note', 'note']
    >>> t.loc[t.kind == "study", "ci_text"].tolist(), t.loc[0, "weight_text"]
    (['0.74 (0.50–1.10)', '0.90 (0.69–1.19)', '0.61 (0.34–1.09)'], '29.0%')
    """
    import pandas as pd

    rows: list[dict] = []
    if is_subgroup_result(result):
        groups, overall, between = subgroup_parts(result)
        if not groups:
            raise InputError("the subgroup result has no groups")
        measure = pooled_view(groups[0][1])["measure"]
        level = pooled_view(groups[0][1])["level"]
        dig = digits if digits is not None else _default_digits(measure)
        scale = S.scale_of(measure)
        marks: dict = {}
        extra_heads: list[str] = []
        weight_of = None
        if overall is not None and hasattr(overall, "study_frame"):
            weight_of = study_view(overall)["weight"].to_numpy()
        positions = _group_positions(groups, overall)
        # every study of every subgroup has its place in the overall order
        total_k = sum(len(p) for p in positions)
        cols_all = _extra_columns(columns, total_k, None) if columns is not None else None
        rep_all = _reported_columns(reported, total_k)
        for (name, gres), pos in zip(groups, positions):
            rows.append({"kind": "heading", "group": name, "label": str(name)})
            cols_g = None
            if cols_all is not None:
                cols_g = {h: [v[j] for j in pos] for h, v in cols_all.items()}
            keys = sort_by
            if sort_by is not None and not isinstance(sort_by, str):
                keys = [list(sort_by)[j] for j in pos]
            rep_g = None if rep_all is None else {c: [v[j] for j in pos] for c, v in rep_all.items()}
            srows, extra_heads = _study_rows(gres, cols_g, keys, descending, dig, name,
                                             reported=rep_g, scale=scale, level=level, marks=marks)
            if weight_of is not None:  # squares comparable across groups: overall weights
                for r, j in zip(srows, _order_positions(gres, keys, descending, cols_g, pos)):
                    w = weight_of[j]
                    r["weight"] = float(w)
                    r["weight_text"] = _weight_text(w)
            rows += srows
            wsum = float(np.nansum([r["weight"] for r in srows]))
            if len(srows) < 2:  # a subtotal of one study repeats the study
                continue
            prow, pg = _pooled_block(gres, None, name, dig, False, "subtotal", label="Subtotal",
                                     q_test=heterogeneity_test)
            for r in prow:
                if r["kind"] == "subtotal" and weight_of is not None:
                    r["weight_text"] = _weight_text(wsum)
            rows += prow
        if overall is not None:
            prow, p = _pooled_block(overall, common, None, dig, prediction, "summary",
                                    q_test=heterogeneity_test)
            rows += prow
            if overall_test is None:
                overall_test = S.scale_of(measure) != "percent"
            if overall_test and (t := _test_text(p)):
                rows.append({"kind": "note", "group": None, "label": t})
        if subgroup_test and between is not None:
            if math.isfinite(between["df2"]):
                stat = (f"F = {S.fmt_num(between['statistic'], 2)}, df = {between['df']:.0f} and "
                        f"{between['df2']:g}")
            else:
                df = f", df = {between['df']:.0f}" if math.isfinite(between["df"]) else ""
                stat = f"Q = {S.fmt_num(between['statistic'], 2)}{df}"
            rows.append({"kind": "note", "group": None,
                         "label": f"Test for subgroup differences: {stat}, {_fmt_p(between['pvalue'])}"})
    else:
        p0 = pooled_view(result)
        measure, level = p0["measure"], p0["level"]
        dig = digits if digits is not None else _default_digits(measure)
        marks = {}
        srows, extra_heads = _study_rows(result, columns, sort_by, descending, dig, None,
                                         reported=reported, scale=S.scale_of(measure),
                                         level=level, marks=marks)
        if common is not None:
            cv = study_view(common)
            wc = dict(zip(cv["label"], cv["weight"]))
            for r in srows:
                r["weight_common"] = float(wc.get(r["label"], _NAN))
                r["weight_common_text"] = _weight_text(r["weight_common"])
        rows += srows
        prow, p = _pooled_block(result, common, None, dig, prediction, "summary",
                                q_test=heterogeneity_test)
        if common is not None:
            for r in prow:
                if r["kind"] == "summary":
                    r["weight_common_text"] = "100.0%" if r["model"] == "common" else ""
                    r["weight_text"] = "" if r["model"] == "common" else "100.0%"
        rows += prow
        if overall_test is None:
            overall_test = S.scale_of(measure) != "percent"
        if overall_test and (t := _test_text(p)):
            rows.append({"kind": "note", "group": None, "label": t})

    cols = ["kind", "group", "label", *extra_heads, "estimate", "ci_low", "ci_high", "weight",
            "ci_text", "weight_text", "source", "open"]
    if common is not None:
        cols += ["weight_common", "weight_common_text"]
    cols += ["model"]
    frame = pd.DataFrame(rows)
    for c in cols:
        if c not in frame.columns:
            frame[c] = ("" if c.endswith("text") or c in extra_heads or c == "open" else
                        (None if c in ("group", "model", "source") else _NAN))
    frame = frame[cols]
    for c in ["ci_text", "weight_text", "open", *extra_heads] + (["weight_common_text"] if common is not None else []):
        frame[c] = frame[c].fillna("").astype(str)
    lvl = f"{level:g}" if math.isfinite(level) else "95"
    scale = S.scale_of(measure)
    head = "Proportion, %" if scale == "percent" else S.short_label(measure)
    notes = [f"{m} {k:g}% interval as reported." for k, m in marks.items()]
    if (frame["open"] != "").any():
        notes.append(NE_FOOTNOTE)
    notes += [str(f) for f in (footnotes or ())]
    frame.attrs.update({
        "measure": measure, "scale": scale, "level": level, "columns": list(extra_heads),
        "ci_header": f"{head} ({lvl}% CI)", "common": common is not None, "footnotes": notes,
    })
    return frame


def _default_digits(measure) -> int:
    """Decimals of computed estimates: 1 for percentages and medians (months), 2 otherwise."""
    if S.scale_of(measure) == "percent" or str(measure).upper() in ("MEDLN", "PLN"):
        return 1
    return 2


def _group_positions(groups, overall):
    """For each subgroup, the positions of its studies in the overall (input) order, matched on
    (label, yi, vi); in group order when there is no overall result."""
    if overall is None or not hasattr(overall, "study_frame"):
        out, start = [], 0
        for _, g in groups:
            n = len(study_view(g))
            out.append(list(range(start, start + n)))
            start += n
        return out
    ov = study_view(overall)
    keys = list(zip(ov["label"], np.round(ov["yi"], 12), np.round(ov["vi"], 12)))
    used = set()
    out = []
    for name, g in groups:
        gv = study_view(g)
        pos = []
        for key in zip(gv["label"], np.round(gv["yi"], 12), np.round(gv["vi"], 12)):
            j = next((i for i, kk in enumerate(keys) if kk == key and i not in used), None)
            if j is None:
                raise InputError(f"study {key[0]!r} of subgroup {name!r} is not in the overall result")
            used.add(j)
            pos.append(j)
        out.append(pos)
    return out


def _order_positions(gres, keys, descending, cols_g, pos):
    """The overall positions of a subgroup's studies in the order its rows are shown."""
    view = study_view(gres)
    order = _order(view, keys, descending, cols_g or {})
    return [pos[i] for i in order]


# --------------------------------------------------------------------------------------------
# sensitivity tables (cumulative, leave-one-out)


def sensitivity_table(frame, result=None, *, kind="leave_one_out", measure=None, level=None, digits=2):
    """Rows of a cumulative or leave-one-out forest plot from the DataFrame of
    :func:`~metaanalysis.leave_one_out` or :func:`~metaanalysis.cumulative`.

    Each refit becomes an ``estimate`` row (a point and its interval); with ``result`` the full
    fit is added as a ``summary`` row (the diamond). Returns a DataFrame in the layout of
    :func:`forest_table` (extra columns ``tau2_text`` and ``i2_text`` hold tau² and I² of each
    refit).
    """
    import pandas as pd

    from ._results import display_transform

    if measure is None:
        measure = pooled_view(result)["measure"] if result is not None else ""
    if level is None:
        level = pooled_view(result)["level"] if result is not None else 95.0
    if S.scale_of(measure) == "percent":
        raise InputError("cumulative and leave-one-out forest plots of proportions are not supported; "
                         "plot the analysis scale (measure=None)")
    tr = display_transform(measure)
    labels = [str(x) for x in (frame["study"] if "study" in frame.columns else frame.index)]
    prefix = "Omitting " if kind == "leave_one_out" else "+ "
    label_header = "Omitted study" if kind == "leave_one_out" else "Added study"
    rows = []
    for lab, (_, r) in zip(labels, frame.iterrows()):
        est, lo, hi = (float(tr(r[c])) for c in ("estimate", "ci_low", "ci_high"))
        rows.append({
            "kind": "estimate", "group": None, "label": prefix + lab if kind == "leave_one_out" or rows else lab,
            "estimate": est, "ci_low": lo, "ci_high": hi, "weight": _NAN,
            "ci_text": _ci_text(est, lo, hi, digits), "weight_text": "",
            "tau2_text": S.fmt_num(r.get("tau2", _NAN), 3) if "tau2" in r else "",
            "i2_text": f"{r['i2']:.0f}%" if "i2" in r and math.isfinite(r["i2"]) else "",
        })
    if result is not None:
        p = pooled_view(result)
        row = _summary_row(p, "summary", "All studies", None, digits)
        row["weight_text"] = ""
        row["tau2_text"] = S.fmt_num(p["tau2"], 3) if math.isfinite(p["tau2"]) else ""
        row["i2_text"] = f"{p['i2']:.0f}%" if math.isfinite(p["i2"]) else ""
        rows.append(row)
    out = pd.DataFrame(rows)
    out["model"] = None
    lvl = f"{level:g}"
    out.attrs.update({"measure": measure, "scale": S.scale_of(measure), "level": level,
                      "label_header": label_header, "columns": [], "ci_header": f"{S.short_label(measure)} ({lvl}% CI)",
                      "common": False})
    return out


# --------------------------------------------------------------------------------------------
# layout


class _PanelLocator:
    """Places the plotting panel inside ``outer`` (figure fraction) leaving fixed margins in inches.

    Called by matplotlib at every draw, so the panel follows the figure's current size."""

    keeps_height = True  # the rows fix the height (export.save_figure reads this)

    def __init__(self, outer, left_in, right_in, bottom_in, top_in):
        self.outer = outer
        self.left_in, self.right_in = left_in, right_in
        self.bottom_in, self.top_in = bottom_in, top_in

    def bbox(self, fig):
        from matplotlib.transforms import Bbox

        W, H = fig.get_size_inches()
        o = self.outer
        x0 = o.x0 + self.left_in / W
        x1 = max(o.x1 - self.right_in / W, x0 + 0.2 / W)
        y0 = o.y0 + self.bottom_in / H
        y1 = max(o.y1 - self.top_in / H, y0 + 0.2 / H)
        return Bbox.from_extents(x0, y0, x1, y1)

    def __call__(self, ax, renderer):
        return self.bbox(ax.figure)


@functools.lru_cache(maxsize=4096)
def _text_width_in(s: str, size: float, weight="normal") -> float:
    """Width of ``s`` in inches at ``size`` points in the house font (no renderer needed)."""
    if not s:
        return 0.0
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=S.RC["font.sans-serif"][0], size=size, weight=weight)
    w, _, _ = _TEXT_TO_PATH(TextToPath).get_text_width_height_descent(_minus(s), prop, ismath=False)
    return w / 72.0


@functools.lru_cache(maxsize=1)
def _TEXT_TO_PATH(cls):
    return cls()


def _with_rob_columns(table, rob):
    """The forest table with one text column per risk-of-bias domain (symbols on study rows),
    and the colours of each cell in ``attrs["rob_colors"]``."""
    table = table.copy()
    need = {"label", "domain", "symbol", "color", "text_color"}
    if not need <= set(rob.columns):
        raise InputError("rob= needs the columns " + ", ".join(sorted(need)))
    domains = list(dict.fromkeys(rob["domain"]))
    cells = {(l, d): (sym, c, tc) for l, d, sym, c, tc in
             zip(rob["label"], rob["domain"], rob["symbol"], rob["color"], rob["text_color"])}
    heads, colors = [], {}
    for j, d in enumerate(domains):
        key = f"rob_{j}"
        head = "O" if str(d).lower() == "overall" else (str(d).split()[0] if str(d) else "?")
        vals, cols = [], []
        for kind, label in zip(table["kind"], table["label"]):
            cell = cells.get((label, d)) if kind in ("study", "estimate") else None
            vals.append(cell[0] if cell and cell[0] else "")
            cols.append(cell[1:] if cell and cell[0] else None)
        table[key] = vals
        heads.append((key, head))
        colors[key] = cols
    table.attrs["rob_columns"] = heads
    table.attrs["rob_colors"] = colors
    table.attrs["rob_domains"] = domains
    return table


def _columns_spec(table, show_weight):
    """(key, header, align, side) of every text column, left block then right block."""
    left = [("label", table.attrs.get("label_header", "Study"), "left")]
    left += [(c, c, "right") for c in table.attrs.get("columns", [])]
    right = [("ci_text", table.attrs.get("ci_header", "Estimate [95% CI]"), "right")]
    if "tau2_text" in table.columns:
        right += [("tau2_text", "\u03c4\u00b2", "right"), ("i2_text", "I\u00b2", "right")]
    if show_weight:
        if table.attrs.get("common"):
            right += [("weight_common_text", "Weight\n(common)", "right"),
                      ("weight_text", "Weight\n(random)", "right")]
        elif "weight_text" in table.columns and (table["weight_text"] != "").any():
            right += [("weight_text", "Weight", "right")]
    right += [(key, head, "center") for key, head in table.attrs.get("rob_columns", [])]
    return left, right


def _measure(table, spec, size):
    """Widths (inches) of the columns at font ``size``, and the width the rows without study
    columns (headings, pooled rows) need across the whole block (their label may span it)."""
    widths = []
    span = 0.0
    for j, (key, head, _) in enumerate(spec):
        w = max(_text_width_in(line, size, "bold") for line in head.split("\n"))
        for kind, val in zip(table["kind"], table[key]):
            if kind == "note":
                continue
            bold = kind in ("heading", "summary")
            tw = _text_width_in(str(val), size, "bold" if bold else "normal")
            if j == 0 and key == "label" and kind not in ("study", "estimate"):
                span = max(span, tw)
            else:
                w = max(w, tw)
        widths.append(w)
    return widths, span


# a label's closing year ("Comstock et al 1974", "Kloos (2009)", "REALITY 2022a"): kept when the
# label is cut, since it is what tells apart the studies of one author
_YEAR_END = re.compile(r"\s(?:\((?:19|20)\d\d[a-z]?\)|(?:19|20)\d\d[a-z]?)$")


def _truncate(s: str, size: float, max_in: float, bold=False) -> str:
    weight = "bold" if bold else "normal"
    if _text_width_in(s, size, weight) <= max_in:
        return s
    m = _YEAR_END.search(s)
    tail = m.group(0) if m else ""
    head = s[:len(s) - len(tail)]
    if tail and _text_width_in(head[:2] + "\u2026" + tail, size, weight) > max_in:
        head, tail = s, ""  # no room for the year and a start: cut at the end as usual
    lo, hi = 0, len(head)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _text_width_in(head[:mid] + "\u2026" + tail, size, weight) <= max_in:
            lo = mid
        else:
            hi = mid - 1
    return head[:lo].rstrip() + "\u2026" + tail


def _default_xlim(table, scale, ref):
    vals = []
    for c in ("ci_low", "ci_high", "estimate"):
        v = table[c].to_numpy(dtype=float)
        vals.append(v[np.isfinite(v)])
    # an open interval (a bound not estimable) runs to the axis edge: leave it room beyond its
    # estimate (as far as the reported side reaches) so that the arrow reads as an arrow
    est = table["estimate"].to_numpy(dtype=float)
    clo = table["ci_low"].to_numpy(dtype=float)
    chi = table["ci_high"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.isposinf(chi) & np.isfinite(clo) & np.isfinite(est)
        down = np.isneginf(clo) & np.isfinite(chi) & np.isfinite(est)
        if scale == "log":
            vals.append(est[up] * np.sqrt(est[up] / clo[up]))
            vals.append(est[down] / np.sqrt(chi[down] / est[down]))
        else:
            vals.append(est[up] + 0.5 * (est[up] - clo[up]))
            vals.append(est[down] - 0.5 * (chi[down] - est[down]))
    v = np.concatenate(vals)
    v = v[np.isfinite(v)]
    if scale == "log":
        v = v[v > 0]
    if ref is not None:
        v = np.append(v, ref)
    if v.size == 0:
        return (0.5, 2.0) if scale == "log" else (-1.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if scale == "log":
        a, b = math.log(lo), math.log(hi)
        pad = 0.04 * (b - a) if b > a else 0.5
        # a bound near the ends of double precision (a typo such as 1e300) must not overflow
        # the limits to inf or 0, which a log axis cannot show
        return math.exp(max(a - pad, -700.0)), math.exp(min(b + pad, 700.0))
    if scale == "percent":
        pad = 0.04 * (hi - lo) if hi > lo else 5.0
        return max(0.0, lo - pad), min(100.0, hi + pad)
    pad = 0.04 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def _rows_layout(table):
    """y position (row index from the top, 0-based) of every table row, with blank rows between
    blocks: before a heading, and between the studies and the first pooled row."""
    ys = []
    y = 0
    prev = None
    for kind in table["kind"]:
        if prev is not None:
            if kind == "heading":
                y += 1
            elif kind == "summary" and prev in ("study", "estimate", "note", "prediction", "subtotal"):
                y += 1
        ys.append(y)
        y += 1
        prev = kind
    return np.asarray(ys, dtype=float), y


def forest(result, ax=None, *, columns=None, common=None, sort_by=None, descending=False,
           xlim=None, ref=None, favours=None, xlabel=None, width=None, digits=None,
           prediction=True, show_weight=True, overall_test=None, subgroup_test=True,
           heterogeneity_test=True, fontsize=None, table=None, color=None, title=None,
           reported=None, footnotes=None, max_width=None, rob=None):
    """Forest plot of a pooled result (metafor's ``forest``, meta's ``forest.meta``).

    Parameters
    ----------
    result
        A fit from :func:`metaanalysis.pool` (or ``pool_binary``, ``pool_proportions``, a
        subgroup result). Ignored when ``table`` is given.
    ax : matplotlib Axes, optional
        Draw into the area of this Axes (the text columns take its left and right parts; the Axes
        itself becomes the plotting panel). By default a new figure sized to the rows.
    columns : dict or DataFrame, optional
        Extra text columns left of the plot (see :func:`forest_table`).
    common : PoolResult, optional
        An equal-effects fit to show as a second diamond above the random-effects one.
    sort_by, descending
        Row order: ``"estimate"``, ``"weight"``, a column header such as ``"Year"``, or keys.
    xlim : (float, float), optional
        Limits of the effect axis on the display scale; an interval that runs past them ends in an
        arrow.
    ref : float, optional
        Position of the line of no effect (1 for ratios, 0 for differences, none for proportions).
    favours : (str, str), optional
        Labels under the axis, the first ending left of the reference line with an arrow pointing
        left, the second starting right of it with an arrow pointing right ("← Favours
        therapy", "Favours control →"); any wording. Without a reference line in view they
        flank the middle of the axis.
    xlabel : str, optional
        Axis label (default from the measure: "Hazard ratio (log scale)", "Median, months (log
        scale)", "Proportion, %"). Ticks are round natural values, at least three.
    width : "single", "double" or float (mm), optional
        Figure width; the panel takes what the text columns leave, the font shrinks (to 7 pt,
        the least a journal prints) and long labels are cut with an ellipsis only if the columns
        do not fit. Default: the natural width of the columns plus a 58 mm panel.
    max_width : "single", "double" or float (mm), optional
        With ``width=None``: the natural width, unless it exceeds this; then this width (as
        ``width=``). The report uses ``"double"``, so no forest is wider than a page.
    reported : DataFrame, optional
        The studies' intervals as reported (see :func:`forest_table`): drawn and printed as
        reported, "NE" and an open arrow for a bound not estimable.
    footnotes : list of str, optional
        Footnotes printed under the axis (with those the table makes: levels, NE).
    digits : int, optional
        Decimals of the estimate text.
    prediction, show_weight, overall_test, subgroup_test, heterogeneity_test : bool
        Show the prediction interval, the weight column, the test notes and the p-value of Q.
    fontsize : float, optional
        Font size in points (default 8).
    table : DataFrame, optional
        A table from :func:`forest_table` (or :func:`sensitivity_table`), possibly edited, to lay
        out instead of building one from ``result``.
    color : str, optional
        Colour of the squares and diamonds (default near-black).
    title : str, optional
        A title above the header row.
    rob : pandas.DataFrame, optional
        Risk-of-bias cells beside each study, as Cochrane reviews show them: one row per study
        and domain with ``label`` (the study's label in the plot), ``domain``, ``symbol``,
        ``color`` and ``text_color`` (from :func:`metaanalysis.plots.rob_columns`, with the label
        added). One column per domain, right of the weights; a coloured disc with its symbol.

    Returns
    -------
    matplotlib.axes.Axes
        The plotting panel. Its artists carry gids: ``forest-squares`` (one marker per study),
        ``forest-ci``, ``forest-arrows``, ``forest-diamond`` (one polygon per pooled row),
        ``forest-prediction``, ``forest-reference``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> res = ma.pool([-0.3, -0.1, -0.5], [0.04, 0.02, 0.09], measure="HR",
    ...               labels=["Trial A", "Trial B", "Trial C"])
    >>> ax = ma.forest(res, favours=("Favours therapy", "Favours placebo"))
    >>> ax.get_xscale()                                       # hazard ratios on a log axis
    'log'
    >>> ma.plots.save_figure(ax, "forest.pdf", width="double")   # doctest: +SKIP
    """
    if table is None:
        table = forest_table(result, columns=columns, common=common, sort_by=sort_by,
                             descending=descending, digits=digits, prediction=prediction,
                             overall_test=overall_test, subgroup_test=subgroup_test,
                             heterogeneity_test=heterogeneity_test, reported=reported,
                             footnotes=footnotes)
    elif footnotes:
        table = table.copy()
        table.attrs["footnotes"] = list(table.attrs.get("footnotes", [])) + [str(f) for f in footnotes]
    if rob is not None:
        table = _with_rob_columns(table, rob)
    with S.style():
        return _draw(table, ax, xlim=xlim, ref=ref, favours=favours, xlabel=xlabel, width=width,
                     show_weight=show_weight, fontsize=fontsize, color=color, title=title,
                     max_width=max_width)


def _draw(table, ax, *, xlim, ref, favours, xlabel, width, show_weight, fontsize, color, title,
          max_width=None):
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.markers import MarkerStyle
    from matplotlib.patches import Polygon
    from matplotlib.path import Path
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    from matplotlib.transforms import Bbox, ScaledTranslation, blended_transform_factory

    table = table.reset_index(drop=True).copy()
    scale = table.attrs.get("scale", "linear")
    measure = table.attrs.get("measure", "")
    ink = color or S.INK
    if ref is None:
        ref = S.reference_of(measure)
    left_spec, right_spec = _columns_spec(table, show_weight)
    ys, n_rows = _rows_layout(table)
    has_favours = bool(favours)
    if favours is not None and (len(favours) != 2):
        raise InputError("favours must be a pair of labels (left, right)")

    # ---- sizes in inches ------------------------------------------------------------------
    size = float(fontsize or S.FONT_SIZE)

    def margins(size):
        gap = 1.1 * size / 72.0
        lw, span = _measure(table, left_spec, size)
        rw, _ = _measure(table, right_spec, size)
        left_in = sum(lw) + gap * len(lw)           # a gap right of each left column
        if span + gap > left_in:                    # a pooled row's label spans the block
            lw[0] += span + gap - left_in
            left_in = span + gap
        right_in = sum(rw) + gap * len(rw)          # a gap left of each right column
        notes = [s for k, s in zip(table["kind"], table["label"]) if k == "note"]
        note_in = max([_text_width_in(s, size * 0.9) for s in notes] or [0.0])
        return gap, lw, rw, left_in, right_in, note_in

    edge = 0.06  # outer white margin, inches
    n_head_lines = max(len(h.split("\n")) for _, h, _ in left_spec + right_spec)
    row_pt = ROW_FACTOR * size

    fig = ax.figure if ax is not None else None
    if ax is not None:
        outer = ax.get_position(original=True)
        W, H = fig.get_size_inches()
        avail_w = outer.width * W
        avail_h = outer.height * H
    else:
        avail_w = S.width_inches(width) if width is not None else None
        avail_h = None

    if avail_h is not None:  # rows must fit the given height: shrink the font if needed
        fixed_pt = (n_head_lines + 1.2 + (3.6 if has_favours else 2.6)) * 1.0
        max_row_pt = avail_h * 72.0 / (n_rows + fixed_pt)
        size = min(size, max_row_pt / ROW_FACTOR)
        if size < 4.0:
            raise InputError(
                f"{n_rows} rows do not fit an Axes {avail_h:.1f} in high; give a taller Axes or ax=None"
            )
        row_pt = ROW_FACTOR * size

    gap, lw, rw, left_in, right_in, note_in = margins(size)
    if avail_w is None and ax is None and max_width is not None:
        cap = S.width_inches(max_width)
        natural_w = max(left_in + right_in + DEFAULT_PANEL_IN + 2 * edge, note_in + 2 * edge + 0.1)
        if natural_w > cap:
            avail_w = cap
    if avail_w is not None:
        while left_in + right_in + MIN_PANEL_IN + 2 * edge > avail_w and size > MIN_FONT:
            size = max(MIN_FONT, size - 0.5)
            gap, lw, rw, left_in, right_in, note_in = margins(size)
        over = left_in + right_in + MIN_PANEL_IN + 2 * edge - avail_w
        if over > 0:  # shorter names for the pooled rows, then cut the labels to what is left
            table["label"] = [_SHORT.get(s, s) if k != "study" else s
                              for k, s in zip(table["kind"], table["label"])]
            gap, lw, rw, left_in, right_in, note_in = margins(size)
            over = left_in + right_in + MIN_PANEL_IN + 2 * edge - avail_w
        if over > 0:
            max_label = max(lw[0] - over, 0.5)
            block = max(left_in - over - gap, 0.5)
            table["label"] = [
                s if k == "note" else _truncate(
                    str(s), size, max_label if k in ("study", "estimate") else block,
                    bold=k in ("heading", "summary"))
                for k, s in zip(table["kind"], table["label"])
            ]
            gap, lw, rw, left_in, right_in, note_in = margins(size)
        # note rows (heterogeneity, tests) wider than the figure: shorter wording, then cut
        note_size = max(size - 1.0, min(MIN_FONT, size))
        room = avail_w - 2 * edge
        table["label"] = [_fit_note(str(s), note_size, room) if k == "note" else s
                          for k, s in zip(table["kind"], table["label"])]
        row_pt = ROW_FACTOR * size if avail_h is None else row_pt
        total_w = avail_w
    else:
        total_w = left_in + right_in + DEFAULT_PANEL_IN + 2 * edge
        total_w = max(total_w, note_in + 2 * edge + 0.1)
    small = max(size - 1.0, min(MIN_FONT, size))

    top_in = (n_head_lines * size * 1.25 + 0.6 * size) / 72.0 + edge + (size * 1.6 / 72 if title else 0.0)
    tick_pt = 3.0 + 3.5 + small * 1.25
    panel_in = total_w - 2 * edge - left_in - right_in

    # ---- the effect axis: limits and ticks --------------------------------------------------
    lo, hi = xlim if xlim is not None else _default_xlim(table, scale, ref)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo) or (scale == "log" and lo <= 0):
        raise InputError(f"xlim={xlim!r}: give two increasing finite limits (positive for ratios)")
    # at least three labelled ticks at round natural values, far enough apart for their labels
    log = scale == "log"
    max_ticks = max(3, int(panel_in / TICK_GAP_IN) + 1)
    min_gap = min(TICK_GAP_IN * small / 8.0 / max(panel_in, 1e-6), 0.45)
    if xlim is None:
        lo, hi = natural_limits(lo, hi, log=log, max_ticks=max_ticks, min_gap=min_gap)
        if scale == "percent":
            lo, hi = max(lo, 0.0), min(hi, 100.0)
    ticks = natural_ticks(lo, hi, log=log, max_ticks=max_ticks, min_gap=min_gap, include=ref)

    # favours labels: each on its side of the line of no effect, wrapped to the room that side
    # has in the figure
    fav_texts = []
    if has_favours:
        if ref is not None and lo < ref < hi:
            xr = ref
        else:
            xr = math.sqrt(lo * hi) if log else (lo + hi) / 2
        frac = ((math.log(xr) - math.log(lo)) / (math.log(hi) - math.log(lo)) if log
                else (xr - lo) / (hi - lo))
        room_l = edge + left_in + frac * panel_in - 0.05 - 0.03
        room_r = edge + right_in + (1 - frac) * panel_in - 0.05 - 0.03
        left_s, right_s = (str(f) for f in favours)
        fav_texts = [
            ("\n".join(_wrap_words(f"\u2190 {left_s}", small, room_l)) if left_s else "",
             "right", -0.05),
            ("\n".join(_wrap_words(f"{right_s} \u2192", small, room_r)) if right_s else "",
             "left", 0.05),
        ]
    fav_lines = max([t.count("\n") + 1 for t, _, _ in fav_texts if t] or [0])
    fav_pt = (small * 1.5 + (fav_lines - 1) * small * 1.2) if fav_lines else 0.0
    lab_pt = size * 1.6
    foot_lines = _wrap_footnotes(table.attrs.get("footnotes", []), small,
                                 total_w - 2 * edge)
    foot_pt = (len(foot_lines) * small * 1.3 + (small * 0.6 if foot_lines else 0.0))
    bottom_in = (tick_pt + fav_pt + lab_pt + foot_pt + 2.0) / 72.0 + edge
    rows_in = (n_rows + 0.1) * row_pt / 72.0

    if ax is None:
        total_h = top_in + rows_in + bottom_in
        fig = plt.figure(figsize=(total_w, total_h))
        ax = fig.add_axes([0, 0, 1, 1])
        outer = Bbox.from_extents(0, 0, 1, 1)
    locator = _PanelLocator(outer, edge + left_in, edge + right_in, bottom_in, top_in)
    ax.set_axes_locator(locator)
    ax.set_position(locator.bbox(fig))

    # ---- axes ------------------------------------------------------------------------------
    y_top, y_bottom = -0.55, n_rows - 0.55  # rows at y = 0 .. n_rows-1, drawn top down
    ax.set_ylim(y_bottom, y_top)
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=small, length=3.0, pad=3.5)
    ax.spines["bottom"].set_bounds(lo, hi)

    xt = ax.transData
    # data x, axes-fraction y (for labels under the axis)
    x_data_y_axes = blended_transform_factory(ax.transData, ax.transAxes)

    def col_transform(anchor_x, dx_in):
        return blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(
            dx_in, 0, fig.dpi_scale_trans)

    def text(x_anchor, dx_in, y, s, *, ha, bold=False, fs=None, va="center", color=None, **kw):
        return ax.text(x_anchor, y, S.plain_text(s), transform=col_transform(x_anchor, dx_in),
                       ha=ha, va=va,
                       fontsize=fs or size, fontweight="bold" if bold else "normal",
                       color=color or S.INK, clip_on=False, **kw)

    # column positions: offsets from the panel's left (axes x = 0) and right (x = 1) edges
    left_pos = []
    x = -left_in
    for w in lw:
        left_pos.append((x, x + w))
        x += w + gap
    right_pos = []
    x = gap
    for w in rw:
        right_pos.append((x, x + w))
        x += w + gap

    header_y = y_top - 0.45
    head_lines_h = n_head_lines * size * 1.25 / 72.0

    def header(x_anchor, pos, head, align):
        dx = pos[0] if align == "left" else pos[1]
        t = ax.text(x_anchor, header_y, S.plain_text(head), ha=align, va="baseline",
                    fontsize=size, fontweight="bold", color=S.INK, clip_on=False,
                    linespacing=1.1,
                    transform=blended_transform_factory(ax.transAxes, ax.transData)
                    + ScaledTranslation(dx, 0, fig.dpi_scale_trans))
        t.set_gid("forest-header")

    for (key, head, align), pos in zip(left_spec, left_pos):
        header(0.0, pos, head, align)
    for (key, head, align), pos in zip(right_spec, right_pos):
        if align == "center":
            header(1.0, ((pos[0] + pos[1]) / 2, (pos[0] + pos[1]) / 2), head, "center")
            continue
        header(1.0, pos, head, align)
    if title:
        ax.text(0.0, header_y, S.plain_text(title), ha="left", va="bottom", fontsize=size,
                fontweight="bold",
                clip_on=False, transform=blended_transform_factory(ax.transAxes, ax.transData)
                + ScaledTranslation(-left_in, head_lines_h + 0.6 * size / 72, fig.dpi_scale_trans))

    # ---- rows ------------------------------------------------------------------------------
    kinds = table["kind"].tolist()
    for i, kind in enumerate(kinds):
        y = ys[i]
        r = table.iloc[i]
        if kind == "note":
            t = text(0.0, -left_in, y, str(r["label"]), ha="left", fs=small * 1.0 + 0.0)
            t.set_gid("forest-note")
            continue
        bold = kind in ("heading", "summary")
        for (key, head, align), pos in zip(left_spec, left_pos):
            s = str(r.get(key, "")) if key in table.columns else ""
            if key != "label" and kind != "study" and kind != "estimate":
                s = s if s not in ("nan", "None") else ""
            if s in ("nan", "None"):
                s = ""
            if not s:
                continue
            dx = pos[0] if align == "left" else pos[1]
            if key == "label" and kind in ("subtotal", "prediction"):
                dx += 0.0
            text(0.0, dx, y, _minus(s) if key != "label" else s, ha=align,
                 bold=bold).set_gid(f"forest-col-{key}")
        for (key, head, align), pos in zip(right_spec, right_pos):
            s = str(r.get(key, "")) if key in table.columns else ""
            if s in ("nan", "None", ""):
                continue
            if align == "center":  # a risk-of-bias cell: a coloured disc with its symbol
                fc, tc = table.attrs["rob_colors"][key][i]
                t = text(1.0, (pos[0] + pos[1]) / 2, y, s, ha="center", bold=True)
                t.set_color(tc or S.INK)
                t.set_bbox(dict(boxstyle="circle,pad=0.25", fc=fc or "white", ec=S.INK, lw=0.4))
                t.set_gid("forest-rob")
                continue
            text(1.0, pos[1] if align == "right" else pos[0], y, _minus(s), ha=align,
                 bold=kind == "summary").set_gid(f"forest-col-{key}")

    # ---- marks -----------------------------------------------------------------------------
    is_study = np.array([k in ("study", "estimate") for k in kinds])
    est = table["estimate"].to_numpy(dtype=float)
    clo = table["ci_low"].to_numpy(dtype=float)
    chi = table["ci_high"].to_numpy(dtype=float)
    wts = table["weight"].to_numpy(dtype=float)

    segs, arrows_l, arrows_r = [], [], []
    for i in np.flatnonzero(is_study):
        a, b = clo[i], chi[i]  # an open bound (not estimable) is -inf / +inf: drawn to the edge
        if math.isnan(a) or math.isnan(b) or (math.isinf(a) and math.isinf(b)):
            continue
        if b < lo or a > hi:  # wholly off the axis: an arrow at the edge it lies beyond
            (arrows_l if b < lo else arrows_r).append(ys[i])
            continue
        a2, b2 = max(a, lo), min(b, hi)
        segs.append([(a2, ys[i]), (b2, ys[i])])
        if a < lo:
            arrows_l.append(ys[i])
        if b > hi:
            arrows_r.append(ys[i])
    lc = LineCollection(segs, colors=ink, linewidths=0.9, zorder=3, capstyle="butt")
    lc.set_gid("forest-ci")
    ax.add_collection(lc)

    head_len = max(size * 0.7, 4.0)
    left_head = MarkerStyle(Path([(0, 0), (1, 0.42), (1, -0.42), (0, 0)],
                                 [Path.MOVETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]))
    right_head = MarkerStyle(Path([(0, 0), (-1, 0.42), (-1, -0.42), (0, 0)],
                                  [Path.MOVETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]))
    ax_arrows = []
    for ys_, xedge, m in ((arrows_l, lo, left_head), (arrows_r, hi, right_head)):
        if ys_:
            sc = ax.scatter([xedge] * len(ys_), ys_, marker=m, s=(head_len * 2) ** 2,
                            color=ink, linewidths=0, zorder=4, clip_on=False)
            sc.set_gid("forest-arrows")
            ax_arrows.append(sc)

    # squares: area proportional to weight (a point when the row has no weight)
    idx = np.flatnonzero(is_study & np.isfinite(est) & (est >= lo) & (est <= hi))
    has_w = np.isfinite(wts[idx])
    wmax = np.nanmax(wts[is_study]) if np.isfinite(wts[is_study]).any() else 1.0
    side_max = MAX_SQUARE * row_pt
    sides = np.where(has_w, side_max * np.sqrt(np.clip(wts[idx], 0, None) / wmax), MIN_SQUARE * row_pt)
    sides = np.maximum(sides, MIN_SQUARE * row_pt)
    if any(k == "estimate" for k in kinds):
        sq = ax.scatter(est[idx], ys[idx], marker="o", s=(0.34 * row_pt) ** 2, color=ink,
                        linewidths=0, zorder=5)
    else:
        sq = ax.scatter(est[idx], ys[idx], marker="s", s=sides ** 2, color=ink, linewidths=0,
                        zorder=5)
    sq.set_gid("forest-squares")

    # diamonds
    for i, kind in enumerate(kinds):
        if kind not in ("summary", "subtotal"):
            continue
        e, a, b = est[i], clo[i], chi[i]
        if not all(math.isfinite(v) for v in (e, a, b)):
            continue
        h = 0.34 if kind == "summary" else 0.28
        a2, b2, e2 = max(a, lo), min(b, hi), min(max(e, lo), hi)
        fill = ink if (kind == "summary" and table["model"].iloc[i] != "common") or kind == "subtotal" else "white"
        if kind == "summary" and table["model"].iloc[i] == "common" and not table.attrs.get("common"):
            fill = ink
        poly = Polygon([(a2, ys[i]), (e2, ys[i] - h), (b2, ys[i]), (e2, ys[i] + h)], closed=True,
                       facecolor=fill, edgecolor=ink, linewidth=0.8, zorder=5)
        poly.set_gid("forest-diamond")
        ax.add_patch(poly)
        if a < lo or b > hi:
            for cond, xedge, m in ((a < lo, lo, left_head), (b > hi, hi, right_head)):
                if cond:
                    ax.scatter([xedge], [ys[i]], marker=m, s=(head_len * 2) ** 2, color=ink,
                               linewidths=0, zorder=6, clip_on=False).set_gid("forest-arrows")

    # prediction interval: a line with end ticks
    for i, kind in enumerate(kinds):
        if kind != "prediction":
            continue
        a, b = clo[i], chi[i]
        a2, b2 = max(a, lo), min(b, hi)
        (line,) = ax.plot([a2, b2], [ys[i], ys[i]], color=ink, lw=0.9, zorder=4,
                          marker="|", markersize=size * 0.8, markevery=[0, 1] if True else None,
                          solid_capstyle="butt")
        line.set_gid("forest-prediction")
        for cond, xedge, m in ((a < lo, lo, left_head), (b > hi, hi, right_head)):
            if cond:
                ax.scatter([xedge], [ys[i]], marker=m, s=(head_len * 2) ** 2, color=ink,
                           linewidths=0, zorder=6, clip_on=False).set_gid("forest-arrows")

    # reference line over the rows with marks, and the pooled estimate as a dotted line; both
    # are broken where a heading or a note crosses the panel
    def runs(lo_row, hi_row):
        """[start, end] y spans from row lo_row to hi_row, skipping heading and note rows."""
        out, start = [], None
        for i, k in enumerate(kinds):
            if ys[i] < lo_row or ys[i] > hi_row:
                continue
            if k in ("note", "heading"):
                if start is not None:
                    out.append((start, prev_end))
                    start = None
                continue
            if start is None:
                start = ys[i] - 0.5
            prev_end = ys[i] + 0.5
        if start is not None:
            out.append((start, prev_end))
        return out

    marked = [ys[i] for i, k in enumerate(kinds) if k not in ("note", "heading")]
    if ref is not None and lo < ref < hi and marked:
        spans = runs(min(marked), max(marked))
        ax.vlines([ref] * len(spans), [a for a, _ in spans], [b for _, b in spans], colors=S.GREY,
                  linewidth=0.7, zorder=1).set_gid("forest-reference")
    main = [i for i, k in enumerate(kinds) if k == "summary"]
    if main and any(k in ("study", "estimate") for k in kinds):
        e = est[main[-1]]
        if math.isfinite(e) and lo < e < hi:
            first = min(ys[i] for i, k in enumerate(kinds) if k in ("study", "estimate"))
            spans = [(a, min(b, ys[main[-1]])) for a, b in runs(first, ys[main[-1]])]
            ax.vlines([e] * len(spans), [a for a, _ in spans], [b for _, b in spans],
                      colors=S.GREY, linewidth=0.6, linestyles=(0, (2, 2)),
                      zorder=1).set_gid("forest-pooled-line")

    # ---- labels under the axis -------------------------------------------------------------
    fav_y = -(tick_pt + 1.5) / 72.0
    for s, ha, dx in fav_texts:
        # each label on its side of the line of no effect, an arrow pointing away from it
        if not s:
            continue
        ax.text(xr, 0.0, S.plain_text(s), ha=ha, va="top", fontsize=small, color=S.INK,
                clip_on=False, linespacing=1.2, multialignment=ha,
                transform=x_data_y_axes + ScaledTranslation(dx, fav_y, fig.dpi_scale_trans)
                ).set_gid("forest-favours")
    xl = xlabel if xlabel is not None else S.axis_label(measure)
    if xl:
        ax.set_xlabel(S.plain_text(xl), fontsize=size, labelpad=2.0 + fav_pt)
    if foot_lines:
        # footnotes under the axis label, from the figure's left edge (offsets from the panel)
        y0 = -(tick_pt + fav_pt + lab_pt + small * 0.6) / 72.0
        for j, line in enumerate(foot_lines):
            ax.text(0.0, 0.0, S.plain_text(line), ha="left", va="top", fontsize=small,
                    color=S.INK, clip_on=False,
                    transform=ax.transAxes + ScaledTranslation(
                        -left_in, y0 - j * small * 1.3 / 72.0, fig.dpi_scale_trans)
                    ).set_gid("forest-footnote")
    return ax


_NOTE_SHORT = (("Heterogeneity: ", "Het.: "), ("Test for overall effect: ", "Overall: "),
               ("Test for subgroup differences: ", "Subgroups: "))


def _fit_note(s: str, size: float, width_in: float) -> str:
    """A note row no wider than ``width_in``: the estimator's name dropped, shorter headings,
    then an ellipsis."""
    if _text_width_in(s, size) <= width_in:
        return s
    s = re.sub(r"\u03c4\u00b2 \([^)]*\)", "\u03c4\u00b2", s)
    for a, b in _NOTE_SHORT:
        if _text_width_in(s, size) > width_in:
            s = s.replace(a, b)
    return _truncate(s, size, width_in)


def _wrap_words(text, size, width_in) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width_in`` at ``size`` points (a
    single word wider than that stays whole)."""
    lines, cur = [], ""
    for w in str(text).split():
        cand = f"{cur} {w}" if cur else w
        if cur and _text_width_in(cand, size) > width_in:
            lines.append(cur)
            cur = w
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines


def _wrap_footnotes(notes, size, width_in) -> list[str]:
    """Footnotes broken into lines no wider than ``width_in`` at ``size`` points."""
    return [line for note in notes for line in _wrap_words(note, size, width_in)]


# --------------------------------------------------------------------------------------------
# cumulative and leave-one-out


def leave_one_out_forest(frame, result=None, ax=None, *, measure=None, digits=2, **kwargs):
    """Forest plot of a leave-one-out analysis: one row per omitted study (estimate and interval
    of the refit, with its tau² and I²), the full fit as a diamond at the bottom.

    ``frame`` is :func:`metaanalysis.leave_one_out`'s DataFrame; ``result`` the full fit (its
    measure gives the scale). Other keywords as :func:`forest`. Returns the Axes.
    """
    table = sensitivity_table(frame, result, kind="leave_one_out", measure=measure, digits=digits)
    return forest(None, ax=ax, table=table, show_weight=False, **kwargs)


def cumulative_forest(frame, result=None, ax=None, *, measure=None, digits=2, **kwargs):
    """Forest plot of a cumulative meta-analysis: row ``i`` is the fit to the first ``i`` studies
    (labelled "+ study"), the full fit as a diamond at the bottom.

    ``frame`` is :func:`metaanalysis.cumulative`'s DataFrame. Returns the Axes.
    """
    table = sensitivity_table(frame, result, kind="cumulative", measure=measure, digits=digits)
    return forest(None, ax=ax, table=table, show_weight=False, **kwargs)
