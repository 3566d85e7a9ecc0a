"""Run the protocol's analyses: effect sizes, one entry per study, fits by therapy, hypotheses.

:func:`run_analysis` turns one :class:`~metaanalysis.review.protocol.AnalysisProtocol` into one
:class:`GroupResult` per therapy (or a single one when the protocol declares a class-effect
question). Each holds the studies it pooled (with the table lines behind each entry), the fit, the
estimate on the natural scale, and a p-value only when the protocol states a null hypothesis.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from .._base import ResultMixin, frame_field, frozen_field, jsonable
from ..errors import InputError, MetaAnalysisError
from .eligibility import Selection, select_rows

__all__ = ["GroupResult", "AnalysisRun", "run_analysis", "effect_entries", "fit_entries",
           "natural", "slug"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "all"


@dataclass(frozen=True, eq=False, repr=False)
class GroupResult(ResultMixin):
    """One pooled estimate: an analysis of the protocol within one therapy (or across therapies).

    Attributes
    ----------
    id : str
        ``<analysis id>/<therapy>`` (or the analysis id when not grouped).
    analysis : AnalysisProtocol
    group : str
        The therapy (or ``"all therapies"``).
    role : str
        ``primary``, ``secondary``, ``descriptive`` or ``sensitivity``.
    entries : pandas.DataFrame
        One row per study: ``study_id``, ``label``, ``lines`` (table lines behind the entry),
        ``yi``, ``vi``, the reported ``value``/``ci_low``/``ci_high`` (as in the table), counts for
        count-based effects, ``derived`` (how yi was obtained) and the study's design and line.
    fit : PoolResult
        The fit (a single study gives a one-study "fit": its own estimate and interval).
    p : float or None
        Against the protocol's null; None when the protocol declares no hypothesis.
    notes : tuple of str
    """

    id: str
    analysis: object
    group: str
    role: str
    entries: object = frame_field()
    fit: object
    p: float | None
    notes: tuple = ()
    parent: str | None = None
    variant: str = ""

    @property
    def k(self) -> int:
        return int(self.fit.k)

    def studies(self) -> list:
        """``[{study_id, lines}]`` as results.json lists them."""
        e = self.entries
        return [{"study_id": sid, "lines": [int(x) for x in lines]}
                for sid, lines in zip(e["study_id"], e["lines"])]

    def natural(self) -> dict:
        """Estimate, CI and prediction interval on the scale a reader knows."""
        return natural(self.fit, self.analysis, self.entries)

    def to_dict(self) -> dict:
        d = self.fit.to_dict()
        if self.k < 2:
            # heterogeneity of one study is not 0 but undefined: a 0 in a table reads as "shown
            # consistent"
            d.update({k: None for k in HETEROGENEITY_FIELDS})
        return jsonable({
            "id": self.id, "parent": self.parent, "variant": self.variant, "role": self.role,
            "title": self.analysis.title, "outcome": self.analysis.outcome,
            "measure": self.analysis.effect, "scale": self.analysis.scale,
            "group": self.group, "k": self.k, "studies": self.studies(), "p": self.p,
            "null": self.analysis.null, "natural": self.natural(),
            "result": {k: d.get(k) for k in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2",
                                             "q", "q_df", "q_pvalue", "pi_low", "pi_high", "k",
                                             "method", "test", "level", "df")},
            "notes": list(self.notes),
        })

    def to_frame(self):
        return self.entries

    def summary(self) -> str:
        nat = self.natural()
        p = "no hypothesis" if self.p is None else f"p = {self.p:.4g}"
        return (f"{self.id} ({self.role}): k = {self.k}, {self.analysis.effect} "
                f"{_fmt(nat['estimate'])} ({_fmt(nat['ci_low'])} to {_fmt(nat['ci_high'])}), {p}")

    def _short(self) -> str:
        return f"{self.id}: k={self.k}"


def _fmt(x):
    return "NA" if x is None or not math.isfinite(x) else f"{x:.3g}"


@dataclass(frozen=True, eq=False)
class AnalysisRun:
    """Everything one analysis of the protocol produced."""

    analysis: object
    groups: tuple  # GroupResult per therapy
    selection: Selection
    reasons: dict = frozen_field()  # line -> reason for considered rows not used
    not_run: dict = frozen_field({})  # group -> why it could not be fitted


def natural(fit, analysis, entries=None) -> dict:
    """Back-transform a fit's estimate, CI and PI to the natural scale of the analysis.

    A single study's ratio or median is its own estimate, not a pooled one: its interval
    is the one the study reports (``reported`` is then true, and a bound the study does not
    report, such as a median's open upper bound, is None), not the one re-derived from the
    standard error the model used (on the log scale, symmetric, and imputed on a missing side).
    """
    single = _reported_single(fit, analysis, entries)
    if single is None:
        single = _observed_proportion(fit, analysis, entries)
    if single is not None:
        return single
    d = fit.to_dict()
    keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    vals = {k: d.get(k) for k in keys}
    if (d.get("k") or 0) < 3:
        # a prediction interval needs at least three studies (Higgins-Thompson-Spiegelhalter's t
        # has k - 2 degrees of freedom): with one or two, metafor's is the confidence interval
        # again, and the page prints none
        vals["pi_low"] = vals["pi_high"] = None
    scale = analysis.scale
    out = {}
    for k, v in vals.items():
        if v is None or not math.isfinite(v):
            out[k] = None
        elif scale == "log":
            out[k] = math.exp(v)
        elif scale == "identity":
            out[k] = v
        else:
            from ..pooling.proportions import back_transform

            ni = None if entries is None or "ni" not in entries else entries["ni"].to_numpy(float)
            out[k] = float(back_transform(np.array([v]), scale, ni=ni)[0])
    out["reported"] = False
    out["interval"] = "model"
    return out


def _reported_single(fit, analysis, entries) -> dict | None:
    """The reported estimate and interval of a one-study group of a ratio or a median (see
    :func:`natural`); None where the model's interval stands."""
    if (entries is None or len(entries) != 1 or analysis.scale != "log"
            or fit.to_dict().get("k") != 1 or "value" not in entries):
        return None
    from ..studies import TIME_UNITS_IN_MONTHS

    e = entries.iloc[0]
    value, lo, hi, level = (_entry_number(e, k) for k in ("value", "ci_low", "ci_high",
                                                          "ci_level"))
    if value is None or value <= 0 or (lo is None and hi is None) or level is None \
            or not math.isclose(100 * level, float(fit.level), rel_tol=1e-9):
        return None
    # the row's own number, in the analysis unit (a median in weeks is analysed in months); a
    # ratio computed from counts is not the row's value and keeps the model's interval
    factor = math.exp(fit.estimate) / value
    if not any(math.isclose(factor, f, rel_tol=1e-9) for f in {1.0, *TIME_UNITS_IN_MONTHS.values()}):
        return None
    return {"estimate": math.exp(fit.estimate), "ci_low": None if lo is None else lo * factor,
            "ci_high": None if hi is None else hi * factor, "pi_low": None, "pi_high": None,
            "reported": True, "interval": "reported"}


def _entry_number(entry, key) -> float | None:
    """A finite number of an entry's column, or None (missing, empty, not a number)."""
    try:
        v = float(entry.get(key))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _observed_proportion(fit, analysis, entries) -> dict | None:
    """A one-study group of a proportion: the study's own proportion, not the model's
    back-transform (which moves 25 of 25 to 98.1 % by the logit's continuity correction), with
    the interval the study reports at the analysis level, or else the exact (Clopper-Pearson)
    one, as the forest's study row shows (see ``report.figures.reported_intervals``)."""
    if (analysis.effect != "PROPORTION" or entries is None or len(entries) != 1
            or fit.to_dict().get("k") != 1):
        return None
    row = single_proportion(entries.iloc[0], fit.level)
    if row is None:
        return None
    value, lo, hi, source = row
    return {"estimate": value, "ci_low": lo, "ci_high": hi, "pi_low": None, "pi_high": None,
            "reported": source == "reported", "interval": source}


def single_proportion(entry, level) -> tuple | None:
    """``(value, ci_low, ci_high, source)`` of one study's proportion on the natural scale: as
    reported where the row gives the value and both bounds at ``level`` (percent), else the
    observed ``xi / ni`` with its exact (Clopper-Pearson) interval (``source`` "exact"); None
    without counts."""
    value, lo, hi, lv = (_entry_number(entry, k) for k in ("value", "ci_low", "ci_high",
                                                           "ci_level"))
    if (value is not None and lo is not None and hi is not None and lv is not None
            and math.isclose(100 * lv, float(level), rel_tol=1e-9) and lo <= value <= hi):
        return value, lo, hi, "reported"
    xi, ni = _entry_number(entry, "xi"), _entry_number(entry, "ni")
    if xi is None or ni is None or ni <= 0 or not 0 <= xi <= ni:
        return None
    from ..pooling.proportions import clopper_pearson

    a, b = clopper_pearson([xi], [ni], level=float(level))
    return xi / ni, float(a[0]), float(b[0]), "exact"


def _p_against_null(fit, analysis) -> float | None:
    """Two-sided p against the protocol's null on the analysis scale (None without a null)."""
    null = analysis.null_on_scale()
    if null is None:
        return None
    from ..pooling.core import two_sided_p

    if analysis.scale not in ("log", "identity"):
        from ..effects import escalc

        # the null proportion on the analysis scale (a transformation of one count)
        null = float(escalc(analysis.scale, xi=[analysis.null * 1e6], ni=[1e6], add=0).yi[0])
    z = (fit.estimate - null) / fit.se
    # scipy.special's distribution functions: importing scipy.stats would cost the report ~0.5 s
    if fit.df is not None and fit.test in ("t", "knha"):
        return float(two_sided_p(z, float(fit.df)))
    return float(two_sided_p(z, None))


def effect_entries(selection: Selection, analysis) -> tuple:
    """Effect sizes of the selected rows: ``(entries DataFrame, {line: reason} for rows dropped)``.

    Arm-level and contrast rows go through :func:`metaanalysis.effects.effects_from_table`;
    count-based contrasts (RR, RD, OR) pair each therapy arm with its study's comparator arm and
    go through :func:`metaanalysis.effects.escalc`.
    """
    import pandas as pd

    from ..effects import effects_from_table

    rows = selection.rows
    dropped = {}
    if rows.empty:
        return pd.DataFrame(), dropped
    measure = analysis.table_measure
    scale = analysis.proportion_scale if analysis.effect == "PROPORTION" else None

    def compute(frame):
        if frame.empty:
            return pd.DataFrame()
        try:
            eff = effects_from_table(frame, analysis.outcome, measure, scale=scale,
                                     select="first", from_value=True, missing="drop")
        except InputError:
            # one bad row (a zero-width interval, say) must not take the others with it: find it
            parts = []
            for i in range(len(frame)):
                one = frame.iloc[i:i + 1]
                try:
                    e = effects_from_table(one, analysis.outcome, measure, scale=scale,
                                           select="first", from_value=True, missing="drop")
                except InputError as exc:
                    dropped[int(one["line"].iloc[0])] = _dropped_reason(str(exc))
                    continue
                for d in e.attrs.get("dropped", []):
                    dropped[int(d["line"])] = _dropped_reason(d.get("reason", ""))
                parts.append(e)
            if not parts:
                return pd.DataFrame()
            eff = pd.concat(parts, ignore_index=True)
            if analysis.effect == "PROPORTION" or measure == "proportion":
                from ..effects import escalc

                sc = scale or "PLO"
                es = escalc(sc, xi=eff["xi"].to_numpy(float), ni=eff["ni"].to_numpy(float))
                eff["yi"], eff["vi"] = es.yi, es.vi
            return eff
        for d in eff.attrs.get("dropped", []):
            dropped[int(d["line"])] = _dropped_reason(d.get("reason", ""))
        return eff

    eff = compute(rows)
    if eff.empty:
        return eff, dropped
    extra = rows.set_index("line")
    for col in ("study_design", "line_of_therapy", "histology", "year", "n", "design"):
        if col in extra.columns:
            eff[col] = extra[col].reindex(eff["line"].astype(int)).to_numpy()
    if analysis.kind != "binary":
        eff["lines"] = [(int(l),) for l in eff["line"]]
        return eff, dropped
    comp = compute(selection.comparator_rows)
    comp_by_study = {} if comp.empty else {s: g for s, g in comp.groupby("study_id")}
    out = []
    for rec in eff.to_dict(orient="records"):
        c = comp_by_study.get(rec["study_id"])
        if c is None or c.empty:
            dropped[int(rec["line"])] = (f"no usable {analysis.comparator} arm for "
                                         f"{analysis.outcome} in this study")
            continue
        c0 = c.iloc[0]
        rec.update(ai=rec["xi"], n1i=rec["ni"], ci=float(c0["xi"]), n2i=float(c0["ni"]),
                   comparator_line=int(c0["line"]),
                   derived="; ".join(x for x in (rec.get("derived", ""),
                                                 "comparator: " + str(c0.get("derived", "")))
                                     if x))
        rec["lines"] = (int(rec["line"]), int(c0["line"]))
        out.append(rec)
    used_comp = {r["comparator_line"] for r in out}
    for l in ([] if comp.empty else comp["line"]):
        if int(l) not in used_comp:
            dropped.setdefault(int(l), "comparator arm without a usable therapy arm")
    return pd.DataFrame(out), dropped


# the reason a row without an interval is not used; the report names such rows beside the
# estimates (report/html.py) and finds them by this text
NO_INTERVAL = "no confidence interval reported: no standard error to weight it"
# what one study cannot have: written as null (results.json) or empty (the CSV tables) when k = 1
HETEROGENEITY_FIELDS = ("tau2", "i2", "q", "q_df", "q_pvalue")


def two_study_knha(fit_dict: dict) -> bool:
    """A Knapp-Hartung fit of two studies (``fit.to_dict()``): its interval uses a t quantile
    with one degree of freedom, so the page and the GRADE imprecision judgement say so."""
    return fit_dict.get("test") == "knha" and fit_dict.get("k") == 2


def two_study_knha_note(fit_dict: dict, level: float) -> str:
    """What a two-study Knapp-Hartung interval rests on, in the reader's words."""
    # scipy.special, not scipy.stats: importing scipy.stats costs the report ~0.5 s
    from scipy.special import stdtrit

    from .._base import zcrit

    df = fit_dict.get("df") or 1.0
    upper = 0.5 + float(level) / 200.0
    return (f"two studies with the Knapp-Hartung adjustment: the interval uses a t quantile with "
            f"{df:g} degree of freedom ({float(stdtrit(df, upper)):.2f} instead of "
            f"{zcrit(float(level)):.2f}), so it can be wider than either study's own")


def _dropped_reason(reason: str) -> str:
    if "interval" in reason and ("width" in reason or "zero" in reason or "equal" in reason):
        # the reader's words, not the coder's: no array index, no advice on how to fix the row
        detail = re.sub(r"^[\w ]+ at index \d+ gives no usable interval: ", "", reason)
        detail = detail.split("; give ")[0]
        return f"the interval gives no standard error: {detail}"
    if "without an interval" in reason:
        return NO_INTERVAL
    if "not reached" in reason:
        return "median not reached: no estimate to pool"
    if "counts" in reason or "denominator" in reason:
        return "neither counts nor a denominator: no number of events"
    return reason or "no effect size could be computed"


def _unit_of_analysis(entries, analysis) -> tuple:
    """One entry per study within a group: combine or drop extra arms. Returns (entries, reasons)."""
    import pandas as pd

    reasons = {}
    if entries.empty or not entries["study_id"].duplicated().any():
        return entries, reasons
    out = []
    for sid, g in entries.groupby("study_id", sort=False):
        if len(g) == 1:
            out.append(g.iloc[0].to_dict())
            continue
        if analysis.kind in ("arm", "binary") and "xi" in g and analysis.multi_arm == "combine" \
                and analysis.effect != "MEDIAN":
            rec = g.iloc[0].to_dict()
            rec["xi"] = float(g["xi"].sum())
            rec["ni"] = float(g["ni"].sum())
            if analysis.kind == "binary":
                rec["ai"], rec["n1i"] = rec["xi"], rec["ni"]
            rec["label"] = f"{rec['trial'] or sid} ({' + '.join(g['arm'].astype(str))})"
            rec["lines"] = tuple(sorted({l for ls in g["lines"] for l in ls}))
            rec["derived"] = (str(rec.get("derived", "")) + "; arms combined (one entry per "
                              "study, as the protocol's multi_arm = 'combine')")
            out.append(rec)
            continue
        if analysis.kind == "binary" and analysis.multi_arm == "split-control":
            m = len(g)
            for rec in g.to_dict(orient="records"):
                rec["ci"], rec["n2i"] = rec["ci"] / m, rec["n2i"] / m
                rec["derived"] = (str(rec.get("derived", "")) + f"; shared control split in {m} "
                                  "(Cochrane Handbook 23.3.4)")
                out.append(rec)
            continue
        # keep the largest arm; the others are out, by the unit-of-analysis rule
        g = g.assign(_n=pd.to_numeric(g.get("ni", g.get("n")), errors="coerce").fillna(0))
        g = g.sort_values("_n", ascending=False)
        out.append(g.iloc[0].drop(labels="_n").to_dict())
        for rec in g.iloc[1:].itertuples(index=False):
            for l in rec.lines:
                reasons[int(l)] = (f"second arm of {sid} in the same group: one entry per study "
                                   f"(unit of analysis); line {g.iloc[0]['line']} is used")
    return pd.DataFrame(out), reasons


def fit_entries(entries, analysis, *, method=None, test=None, model=None):
    """Fit one group's entries with the protocol's model (or the overrides given)."""
    from ..effects import escalc
    from ..pooling import pool

    method = method or analysis.method
    model = model or analysis.model
    fit_method = "EE" if model == "common" else method
    test = test or analysis.test
    labels = tuple(entries["label"])
    if analysis.kind == "binary":
        eff = escalc(analysis.effect, ai=entries["ai"].to_numpy(float),
                     n1i=entries["n1i"].to_numpy(float), ci=entries["ci"].to_numpy(float),
                     n2i=entries["n2i"].to_numpy(float))
        yi, vi = eff.yi, eff.vi
    else:
        yi, vi = entries["yi"].to_numpy(float), entries["vi"].to_numpy(float)
    measure = {"HR": "HR", "MEDIAN": "MEDLN", "PROPORTION": analysis.proportion_scale}.get(
        analysis.effect, analysis.effect)
    return pool(yi, vi, method=fit_method, test=test, level=analysis.level, measure=measure,
                labels=labels)


def run_analysis(frame, trials, analysis, *, role=None, parent=None, variant="", eligibility=None,
                 data_cut=None, assessor=None, crossover_adjusted=False, method=None, test=None,
                 model=None, omit=None) -> AnalysisRun:
    """Select, compute and fit one analysis (or one variant of it for a sensitivity analysis).

    Returns
    -------
    AnalysisRun
        One :class:`GroupResult` per therapy with at least one study, and the reason for every
        considered row that was not used.
    """
    import pandas as pd

    sel = select_rows(frame, trials, analysis, eligibility=eligibility, data_cut=data_cut,
                      assessor=assessor, crossover_adjusted=crossover_adjusted)
    entries, dropped = effect_entries(sel, analysis)
    reasons = dict(sel.reasons)
    reasons.update(dropped)
    for line, chosen in sel.preferred.items():
        if chosen in dropped:
            # the protocol's order chose a row that then gave no estimate: say so, rather than
            # point the reader to a line that is itself excluded
            reasons[line] += f"; line {chosen} itself gives no usable result ({dropped[chosen]})"
    groups, not_run = [], {}
    if not entries.empty:
        if omit is not None:
            entries = entries[entries["study_id"] != omit]
        if analysis.group_by == "therapy":
            keys = entries["therapy"].astype(str)
        else:
            keys = pd.Series(["all therapies"] * len(entries), index=entries.index)
        for g in dict.fromkeys(keys):
            sub = entries[keys == g].reset_index(drop=True)
            sub, why = _unit_of_analysis(sub, analysis)
            reasons.update(why)
            if sub.empty:
                continue
            sub = sub.sort_values(["year", "study_id"], na_position="last").reset_index(drop=True) \
                if "year" in sub else sub
            base = analysis.id if analysis.group_by == "none" else f"{analysis.id}/{slug(g)}"
            gid = base if not variant else f"{base}~{variant}"
            try:
                fit = fit_entries(sub, analysis, method=method, test=test, model=model)
            except MetaAnalysisError as exc:
                not_run[g] = str(exc)
                for ls in sub["lines"]:
                    for l in ls:
                        reasons[int(l)] = f"could not be fitted: {exc}"
                continue
            notes = group_notes(fit, analysis, sub)
            groups.append(GroupResult(gid, analysis, str(g), role or analysis.role, sub, fit,
                                      _p_against_null(fit, analysis), tuple(notes),
                                      parent=parent, variant=variant))
    return AnalysisRun(analysis, tuple(groups), sel, reasons, not_run)


@dataclass(frozen=True, eq=False)
class TherapyGroups:
    """The fits of one analysis side by side, one per therapy, with no overall estimate.

    It has the shape of a subgroup result (``subgroups``, ``overall``, ``statistic``) so that a
    forest plot lays it out, but no pooled estimate across therapies and no test for subgroup
    differences: the protocol declares neither unless it asks a class-effect question.
    """

    subgroups: dict = frozen_field()
    overall: object = None
    statistic: float = float("nan")
    df: float = float("nan")
    df2: float | None = None
    pvalue: float = float("nan")


def group_notes(fit, analysis, entries) -> tuple:
    """What an estimate assumes, said beside it (results.json ``notes``; the page lists them)."""
    notes = []
    d = fit.to_dict()
    if fit.k == 1:
        if analysis.effect == "PROPORTION":
            notes.append("a single study: its own proportion, not a pooled one, with the "
                         "interval it reports at the analysis level or else the exact "
                         "(Clopper-Pearson) interval")
        else:
            notes.append("a single study: its own estimate, not a pooled one, with the "
                         "interval it reports where it gives one at the analysis level "
                         "(a bound it does not report prints as NE); the p-value and the "
                         "plot use the standard error derived from that interval")
    if two_study_knha(d):
        notes.append(two_study_knha_note(d, fit.level) + "; the results without it are among "
                     "the sensitivity analyses where the protocol declares them")
    if analysis.group_by == "none":
        notes.append("one estimate across therapies: assumes a class effect ("
                     + analysis.class_effect_rationale + ")")
    if analysis.kind == "binary" and "derived" in entries and \
            entries["derived"].astype(str).str.contains("round").any():
        notes.append("some event counts were back-calculated from reported percentages")
    if analysis.effect == "PROPORTION" and "derived" in entries and \
            entries["derived"].astype(str).str.contains("no count").any():
        # the forest shows no count for such a study: say what weighs it instead
        notes.append("a proportion whose denominator the report does not state has no count: "
                     "it is weighted by the standard error its reported interval implies on the "
                     "logit scale")
    return tuple(notes)


def therapy_groups(groups) -> TherapyGroups:
    """The :class:`TherapyGroups` of a sequence of :class:`GroupResult` (one analysis)."""
    return TherapyGroups({g.group: g.fit for g in groups})
