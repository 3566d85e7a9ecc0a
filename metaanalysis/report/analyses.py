"""Which analyses the report runs on a study table, and how rows are chosen for each.

A study table holds several numbers for one quantity (two data cuts, central and investigator
review, ITT and evaluable denominators). Each analysis takes one row per study by a stated rule
(:data:`CUT_PREFERENCE`, :data:`ASSESSOR_PREFERENCE`) so that the methods paragraph can say exactly
what was pooled, and keeps the row's line, source and locator beside the number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, MetaAnalysisError
from ..studies import ASSESSOR_PREFERENCE, CUT_PREFERENCE, TIME_UNITS_IN_MONTHS, cut_preference
POPULATIONS = ("", "itt", "evaluable", "all", "safety")


@dataclass(frozen=True)
class AnalysisSpec:
    """One pooled analysis of the report."""

    key: str
    title: str
    outcome: str
    kind: str  # "ratio", "median", "proportion"
    measure: str  # the table's measure code
    null: float  # the no-effect value on the analysis scale
    favours: tuple = ()  # forest-plot labels (left, right)


SPECS = (
    AnalysisSpec("pfs_hr", "Progression-free survival: hazard ratio vs placebo", "PFS", "ratio",
                 "hr", 0.0, ("favours therapy", "favours placebo")),
    AnalysisSpec("os_hr", "Overall survival: hazard ratio vs placebo", "OS", "ratio", "hr", 0.0,
                 ("favours therapy", "favours placebo")),
    AnalysisSpec("pfs_median", "Median progression-free survival on therapy (months)", "PFS",
                 "median", "median", math.nan),
    AnalysisSpec("os_median", "Median overall survival on therapy (months)", "OS", "median",
                 "median", math.nan),
    AnalysisSpec("orr", "Objective response rate on therapy", "ORR", "proportion", "proportion",
                 math.nan),
    AnalysisSpec("dcr", "Disease control rate on therapy", "DCR", "proportion", "proportion",
                 math.nan),
    AnalysisSpec("ae_g3", "Grade 3 or worse adverse events on therapy", "AE:G3+", "proportion",
                 "proportion", math.nan),
)


@dataclass(frozen=True, eq=False)
class Selection:
    """The rows an analysis uses (one per study) and the rows it left out, with reasons."""

    spec: AnalysisSpec
    rows: object  # DataFrame
    excluded: list = field(default_factory=list)  # (line, study_id, reason)


def _rank(value, order):
    try:
        return order.index(value)
    except ValueError:
        return len(order)


def select(frame, spec: AnalysisSpec) -> Selection:
    """Choose one row per study (and arm) for ``spec`` from a study-table frame."""
    excluded = []
    df = frame[(frame["outcome"] == spec.outcome) & (frame["measure"] == spec.measure)]
    if spec.kind == "ratio":
        df = df[df["comparator"].str.lower() == "placebo"]
    else:
        contrast = df["arm"].str.contains(" vs ", regex=False)
        df = df[~contrast & (df["therapy"].str.lower() != "placebo")]
    keep = []
    for rec in df.itertuples(index=False):
        reason = None
        if rec.population not in POPULATIONS:
            reason = f"population {rec.population!r} (subgroup or adjusted analysis)"
        elif rec.status != "reported" or (isinstance(rec.value, float) and math.isnan(rec.value)):
            reason = "median not reached" if rec.status == "not_reached" else "no value"
        elif spec.kind == "ratio" and (math.isnan(rec.ci_low) or math.isnan(rec.ci_high)):
            reason = "no interval reported"
        elif spec.kind == "median" and math.isnan(rec.ci_low) and math.isnan(rec.ci_high):
            reason = "no interval reported"
        elif spec.kind == "proportion" and _count_and_total(rec)[0] is None:
            reason = "neither counts nor a denominator to derive them from"
        if reason:
            excluded.append((int(rec.line), rec.study_id, reason))
        else:
            keep.append(rec)
    if not keep:
        return Selection(spec, df.iloc[0:0], excluded)
    import pandas as pd

    chosen = pd.DataFrame(keep)
    cuts = cut_preference(spec.outcome)
    chosen["_order"] = [
        (_rank(r.data_cut, cuts), _rank(r.assessor, ASSESSOR_PREFERENCE),
         0 if r.population in ("", "itt") else 1, -r.year, r.line)
        for r in chosen.itertuples(index=False)
    ]
    chosen = chosen.sort_values("_order")
    firsts = chosen.drop_duplicates(["study_id", "arm"], keep="first")
    for rec in chosen[~chosen.index.isin(firsts.index)].itertuples(index=False):
        excluded.append((int(rec.line), rec.study_id, "another row of the same study was "
                         "preferred (data cut, assessor or population)"))
    rows = firsts.drop(columns="_order").sort_values(["therapy", "year", "study_id"])
    return Selection(spec, rows.reset_index(drop=True), sorted(excluded))


def _count_and_total(rec):
    """(events, total, derived) for a proportion row; derived when the count is back-calculated."""
    den = rec.denominator if not math.isnan(rec.denominator) else rec.n
    if math.isnan(den) or den <= 0:
        return None, None, False
    if not math.isnan(rec.numerator):
        return int(rec.numerator), int(den), False
    if math.isnan(rec.value):
        return None, None, False
    return int(round(rec.value * den)), int(den), True


def labels_of(rows) -> tuple:
    """Trial names; a trial that contributes two arms gets the therapy added to tell them apart."""
    trials = list(rows["trial"])
    return tuple(f"{t} ({th})" if trials.count(t) > 1 else t
                 for t, th in zip(trials, rows["therapy"]))


@dataclass(frozen=True, eq=False)
class EffectData:
    """Per-study inputs of one analysis, with provenance."""

    yi: np.ndarray
    vi: np.ndarray
    labels: tuple
    groups: tuple  # therapy of each study
    frame: object  # DataFrame: label, study_id, therapy, line, source, locator, notes, derived
    xi: np.ndarray | None = None  # counts for proportions
    ni: np.ndarray | None = None


def effect_data(selection: Selection) -> EffectData:
    """Turn the selected rows into (yi, vi) on the analysis scale (log HR, log median, counts)."""
    from ..effects import median_from_ci, ratio_from_ci

    rows = selection.rows
    spec = selection.spec
    if len(rows) == 0:
        raise InputError(f"{spec.title}: no usable rows in the study table")
    labels = labels_of(rows)
    prov = rows[["study_id", "trial", "therapy", "arm", "line", "source", "locator", "notes",
                 "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n",
                 "unit", "data_cut", "assessor", "population", "year", "design"]].copy()
    prov.insert(0, "label", labels)
    xi = ni = None
    if spec.kind == "ratio":
        eff = ratio_from_ci(rows["value"].to_numpy(float), rows["ci_low"].to_numpy(float),
                            rows["ci_high"].to_numpy(float), rows["ci_level"].to_numpy(float) * 100,
                            labels=labels)
        yi, vi = eff.yi, eff.vi
        prov["derived"] = ""
    elif spec.kind == "median":
        scale = np.array([TIME_UNITS_IN_MONTHS[u] for u in rows["unit"]])
        eff = median_from_ci(rows["value"].to_numpy(float) * scale,
                             rows["ci_low"].to_numpy(float) * scale,
                             rows["ci_high"].to_numpy(float) * scale,
                             rows["ci_level"].fillna(0.95).to_numpy(float) * 100, labels=labels)
        yi, vi = eff.yi, eff.vi
        prov["derived"] = ["converted from " + u if u != "months" else "" for u in rows["unit"]]
    else:
        counts = [_count_and_total(r) for r in rows.itertuples(index=False)]
        xi = np.array([c[0] for c in counts], dtype=float)
        ni = np.array([c[1] for c in counts], dtype=float)
        yi = xi / ni
        vi = np.full(len(xi), np.nan)
        prov["derived"] = ["events back-calculated from the percentage" if c[2] else ""
                           for c in counts]
        prov["events"] = xi
        prov["total"] = ni
    return EffectData(np.asarray(yi, float), np.asarray(vi, float), labels,
                      tuple(rows["therapy"]), prov, xi, ni)


def try_run(fn, *args, **kwargs):
    """Run an analysis step; a MetaAnalysisError becomes a stated reason, not a crash."""
    try:
        return fn(*args, **kwargs), None
    except MetaAnalysisError as exc:
        return None, str(exc)
