"""The report's network and survival sections (computation only; figures are drawn elsewhere)."""

from __future__ import annotations

import math
import re

from ..errors import MetaAnalysisError
from ..studies import TIME_UNITS_IN_MONTHS, cut_preference

# Months shown for the modelled survival curves.
SURVIVAL_HORIZON = 36.0


# The report's networks: (key, title, outcome, measure, what a small value means).
NETWORKS = (
    ("pfs_hr", "PFS hazard ratios against placebo", "PFS", "hr"),
    ("orr", "Objective response (odds ratios from responders per arm)", "ORR", "proportion"),
)


# lines of therapy (trials.csv) whose trials stay out of the networks: the protocol analyses trials
# after a VEGFR-targeted drug apart, so they are not compared with first-line ones
NETWORK_LEFT_OUT_LINES = ("second",)
_LINE_WORDS = {"first": "first line", "any": "any line (earlier VEGFR-targeted therapy allowed)",
               "first-or-second": "first or second line", "second": "second line", "": "not stated"}


def without_registry_number(trial) -> str:
    """A trial's name without its registry number (``"Leboulleux 2012 (NCT00537095)"`` ->
    ``"Leboulleux 2012"``), for figures and table cells that name it beside others: the number
    stands in the tables of the trials."""
    return re.sub(r"\s*\(NCT\d+\)", "", str(trial))


def _pfs_arm_medians(frame, studies, therapy="placebo") -> list:
    """``[(study_id, months)]``: each study's median PFS in its ``therapy`` arm, whole
    population, by the data-cut rule of the study table and then central before investigator
    review (the rule the network's own rows follow, see
    :func:`~metaanalysis.network.studytable.contrasts_from_studies`)."""
    rows = frame[frame["study_id"].isin(studies) & (frame["outcome"] == "PFS")
                 & (frame["measure"] == "median") & (frame["therapy"] == therapy)
                 & (frame["status"] == "reported") & frame["population"].isin(["", "itt"])
                 & frame["value"].notna()]
    cuts = cut_preference("PFS")
    out = []
    for sid in studies:
        recs = rows[rows["study_id"] == sid]
        if recs.empty:
            continue
        rank = [(cuts.index(c) if c in cuts else len(cuts), 0 if a in ("central", "") else 1)
                for c, a in zip(recs["data_cut"], recs["assessor"])]
        rec = recs.iloc[min(range(len(rank)), key=rank.__getitem__)]
        months = float(rec["value"]) * TIME_UNITS_IN_MONTHS.get(rec["unit"], math.nan)
        if math.isfinite(months):
            out.append((sid, months))
    return out


def _grouped(studies, names, column, tf, words=None) -> str:
    """``"value: trial, trial; value: trial"`` of a trials.csv column over the network's trials."""
    words = words or {}
    groups: dict = {}
    for sid in studies:
        v = str(tf.at[sid, column]) if sid in tf.index else ""
        groups.setdefault(words.get(v, v or "not stated"), []).append(names[sid])
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items())


def _trial_caveats(trials, studies, outcome, frame=None) -> list:
    """What a reader must weigh beside a network, read for its trials from trials.csv (lines of
    therapy, where and in which phase they ran, crossover) and the study table (the placebo arms'
    median PFS): no trial named that is not in the network, no number typed by hand."""
    tf = trials.frame.set_index("study_id")
    names = {sid: (tf.at[sid, "trial"] if sid in tf.index and tf.at[sid, "trial"] else sid)
             for sid in studies}
    transitivity = ("Every drug was compared with placebo, none with another: each comparison "
                    "between drugs is indirect, through placebo, and assumes transitivity (placebo "
                    "arms alike across trials).")
    medians = _pfs_arm_medians(frame, studies) if frame is not None else []
    if len(medians) >= 2:
        lo = min(medians, key=lambda m: m[1])
        hi = max(medians, key=lambda m: m[1])
        transitivity += (f" The placebo arms' median PFS, a marker of the populations' prognosis, "
                         f"ranged from {lo[1]:.1f} months ({names[lo[0]]}) to {hi[1]:.1f} months "
                         f"({names[hi[0]]}) in these trials"
                         + (f"; not reported by {', '.join(names[s] for s in studies if s not in dict(medians))}"
                            if len(medians) < len(studies) else "") + ".")
    out = [transitivity,
           "Lines of therapy of the trials in this network (trials.csv): "
           + _grouped(studies, names, "line", tf, _LINE_WORDS) + ".",
           "Where the trials ran (trials.csv): " + _grouped(studies, names, "region", tf) + "."]
    phases = {str(tf.at[sid, "phase"]) if sid in tf.index else "" for sid in studies}
    if len(phases) > 1:
        out.append("Trial phases (trials.csv): "
                   + _grouped(studies, names, "phase", tf,
                              {p: f"phase {p}" for p in phases if p[:1].isdigit()}) + ".")
    if outcome in ("PFS", "OS"):
        yes, unstated = [], []
        for sid in studies:
            cross = str(tf.at[sid, "crossover"]) if sid in tf.index else ""
            pct = str(tf.at[sid, "crossover_pct"]) if sid in tf.index else ""
            if cross == "yes":
                yes.append(names[sid] + (f" ({pct}% of the placebo arm)" if pct else ""))
            elif cross == "":
                unstated.append(names[sid])
        if yes:
            out.append("Crossover from placebo to the drug at progression (trials.csv): "
                       + ", ".join(yes) + (f"; not stated: {', '.join(unstated)}" if unstated
                                            else "") + ". It does not bias PFS but dilutes OS.")
    return out


def network_section(table, *, method="REML", level=95, trials=None):
    """The therapies compared through placebo: one network per entry of :data:`NETWORKS`.

    With ``trials`` (the review's trials.csv), trials of a line in :data:`NETWORK_LEFT_OUT_LINES`
    (after a VEGFR-targeted drug) are left out, as the protocol analyses them apart, and the
    caveats on lines of therapy and crossover are read from it for the trials in each network.

    Returns ``(section, fits)``: the JSON-ready dict (effects, league table, P-scores, caveats per
    network, what was left out and why, and the P-score ranking of each under ``rankings``) and
    the fitted networks by key.
    """
    from ..network import network_from_studies

    out = {"method": method, "level": level, "networks": {}, "rankings": {}, "left_out": []}
    fits = {}
    frame = table.frame
    if trials is not None:
        tf = trials.frame
        gone = tf[tf["line"].isin(NETWORK_LEFT_OUT_LINES)]
        present = set(frame["study_id"])
        out["left_out"] = [{"study_id": sid, "trial": trial, "line": line,
                            "reason": "trial after a VEGFR-targeted drug (second line): the "
                                      "protocol analyses such trials apart"}
                           for sid, trial, line in gone[["study_id", "trial", "line"]]
                           .itertuples(index=False) if sid in present]
        frame = frame[~frame["study_id"].isin([x["study_id"] for x in out["left_out"]])]
    for key, title, outcome, measure in NETWORKS:
        # with trials.csv, the caveats are read for the trials actually in this network (see
        # _trial_caveats); the network adds its own notes on the rows it chose (data cuts,
        # intervals not at 95 %, investigator review)
        caveats = None if trials is None else ()
        try:
            fit = network_from_studies(frame, outcome=outcome, measure=measure,
                                       reference="placebo", comparator="placebo", method=method,
                                       level=level, caveats=caveats)
        except MetaAnalysisError as exc:
            out["networks"][key] = {"title": title, "not_run": str(exc)}
            continue
        if trials is not None:
            studies = [b.study for b in fit.network.studies]
            fit = _with_caveats(fit, _trial_caveats(trials, studies, outcome, frame))
        ps_frame = fit.pscores()
        ps_frame = ps_frame if hasattr(ps_frame, "columns") else ps_frame.to_frame()
        order = _ranking_order(ps_frame)
        summary = fit.to_dict()
        summary["effects"] = _without_tests(summary.get("effects", []))
        out["networks"][key] = {
            "title": title, "measure": fit.measure if hasattr(fit, "measure") else measure,
            "effects": _without_tests(fit.effects.reset_index().to_dict(orient="records")),
            "tau2": fit.tau2, "caveats": list(fit.caveats),
            "pscores": ps_frame.reset_index().to_dict(orient="records"),
            "league": fit.league(kind="wide").reset_index().to_dict(orient="records"),
            "summary": summary,
        }
        out["rankings"][f"{key}_pscore"] = order
        fits[key] = fit
    return out, fits


def _without_tests(effects):
    """The network's effects without their z tests: no analysis of the protocol states a
    hypothesis about a comparison between drugs, so the exploratory network tests none (a
    p-value of 0.003 there beside the protocol's 0.149 for the same two vandetanib trials read as
    a finding). Its tests of heterogeneity and inconsistency, which check its assumptions, stay."""
    if isinstance(effects, dict):  # a column-oriented to_dict()
        return {k: ([None] * len(v) if k == "pvalue" else v) for k, v in effects.items()
                if k != "zval"}
    return [{**{k: v for k, v in e.items() if k != "zval"}, "pvalue": None} for e in effects]


def _with_caveats(fit, first):
    import dataclasses

    return dataclasses.replace(fit, caveats=tuple(first) + tuple(fit.caveats))


def _ranking_order(ps_frame):
    col = next((c for c in ps_frame.columns if "pscore" in c.lower() or c.lower() == "p-score"),
               None)
    frame = ps_frame.reset_index()
    name_col = next((c for c in frame.columns if c.lower() in ("treatment", "index")),
                    frame.columns[0])
    if col is None:
        return list(frame[name_col])
    return list(frame.sort_values(col, ascending=False)[name_col])


def analysed_studies(review) -> set:
    """The ids of the studies with a result in at least one analysis of ``review`` (sensitivity
    analyses count), as the PRISMA flow counts them."""
    return {s["study_id"] for g in review.all_results() for s in g.studies()}


def survival_section(table, *, trials=None, analysed=None, used_lines=None):
    """Exponential curves through reported medians (modelled), one per therapy arm.

    No trial in the shipped table reports a numbers-at-risk table, so the curves are modelled from
    medians: an exponential with the reported median, uncertainty from its interval. They show the
    size of the differences, not the shape of the curves. ``curves`` holds the randomised trials'
    arms (PFS); ``single_arm`` the single-arm and retrospective studies' therapy arms (PFS and OS),
    which report nothing but a median.

    With ``trials`` (trials.csv) every curve carries its trial's line of therapy
    (``therapy_line``), so that a second-line trial is not read beside first-line ones unmarked.
    With ``analysed`` (the study ids of the review's analyses) the single-arm curves are those of
    studies the review analyses; the others (a mixed-histology series, say) are listed in
    ``left_out``, not drawn as if they were its evidence. ``used_lines`` (the table lines the
    review's analyses use) adds the rows of a cohort the review analyses (the papillary cohort of
    a mixed series), which are not the whole study population; ``left_out`` then lists every
    single-arm study with a reported median that is not drawn, whatever its population.
    """
    rct = _median_curves(table, "PFS", designs=("rct",))
    single_designs = ("single-arm", "retrospective")
    lines = set(used_lines or ())
    single = [dict(c, outcome=o) for o in ("PFS", "OS")
              for c in _median_curves(table, o, designs=single_designs, lines=lines)]
    left_out = []
    if analysed is not None:
        single = [c for c in single if c["study_id"] in analysed]
        drawn = {c["study_id"] for c in single}
        seen = {(c["study_id"], c["trial"]) for o in ("PFS", "OS")
                for c in _median_curves(table, o, designs=single_designs, any_population=True)}
        left_out = sorted(x for x in seen if x[0] not in drawn)
    if trials is not None:
        lines = dict(zip(trials.frame["study_id"], trials.frame["line"]))
        for c in rct + single:
            c["therapy_line"] = _LINE_WORDS.get(lines.get(c["study_id"], ""),
                                                lines.get(c["study_id"], ""))
    summary = [{k: v for k, v in c.items() if k != "curve"} for c in rct]
    single_summary = [{k: v for k, v in c.items() if k != "curve"} for c in single]
    return {"curves": rct, "single_arm": single, "summary": summary,
            "single_arm_summary": single_summary, "horizon": SURVIVAL_HORIZON,
            "left_out": [{"study_id": sid, "trial": trial,
                          "reason": ("its medians are of cohorts or subgroups, not of the whole "
                                     "study" if sid in (analysed or ()) else
                                     "the review analyses none of its results")}
                         for sid, trial in left_out]}


def _median_curves(table, outcome, designs, lines=(), any_population=False):
    """Curves through the reported medians of the whole population's rows and of the rows of
    ``lines`` (table lines), or of every population's rows (``any_population``)."""
    from ..survival.parametric import exponential_from_median

    frame = table.frame
    rows = frame[(frame["outcome"] == outcome) & (frame["measure"] == "median")
                 & frame["design"].isin(designs) & (frame["status"] == "reported")]
    if not any_population:
        rows = rows[rows["population"].isin(["", "itt"]) | rows["line"].isin(lines)]
    cuts = cut_preference(outcome)
    rows = rows.assign(_cut=[cuts.index(c) if c in cuts else len(cuts) for c in rows["data_cut"]])
    rows = rows.sort_values(["_cut", "line"]).drop_duplicates(["study_id", "arm"])
    curves = []
    for rec in rows.sort_values(["study_id", "therapy"]).itertuples(index=False):
        scale = TIME_UNITS_IN_MONTHS.get(rec.unit, math.nan)
        lo = rec.ci_low * scale if not math.isnan(rec.ci_low) else None
        hi = rec.ci_high * scale if not math.isnan(rec.ci_high) else None
        try:
            curve = exponential_from_median(rec.value * scale, lo, hi,
                                            ci_level=(rec.ci_level if not math.isnan(rec.ci_level)
                                                      else 0.95),
                                            n=None if math.isnan(rec.n) else rec.n)
        except MetaAnalysisError:
            try:
                curve = exponential_from_median(rec.value * scale,
                                                n=None if math.isnan(rec.n) else rec.n)
            except MetaAnalysisError:
                continue
        curves.append({"study_id": rec.study_id, "trial": rec.trial, "design": rec.design,
                       "arm": rec.arm,
                       "therapy": rec.therapy, "median_months": rec.value * scale,
                       # without an interval the curve's uncertainty is a floor (1/sqrt(n)):
                       # nothing that needs a standard error may use it
                       "median_interval": lo is not None or hi is not None,
                       "unit_reported": rec.unit, "line": int(rec.line), "source": rec.source,
                       "curve": curve})
    return curves
