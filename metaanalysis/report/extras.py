"""The report's network and survival sections (computation only; figures are drawn elsewhere)."""

from __future__ import annotations

import math

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


def _trial_caveats(trials, studies, outcome) -> list:
    """Caveats on lines of therapy and crossover, read from trials.csv for the network's studies."""
    tf = trials.frame.set_index("study_id")
    names = {sid: (tf.at[sid, "trial"] if sid in tf.index and tf.at[sid, "trial"] else sid)
             for sid in studies}
    by_line: dict = {}
    for sid in studies:
        line = str(tf.at[sid, "line"]) if sid in tf.index else ""
        by_line.setdefault(_LINE_WORDS.get(line, line), []).append(names[sid])
    out = ["Lines of therapy of the trials in this network (trials.csv): "
           + "; ".join(f"{k}: {', '.join(v)}" for k, v in by_line.items()) + "."]
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
    from ..network.studytable import RAIR_DTC_CAVEATS, RAIR_DTC_PFS_CAVEATS

    out = {"method": method, "networks": {}, "rankings": {}, "left_out": []}
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
        caveats = None
        if trials is not None:
            # the fixed caveats on lines and crossover are replaced by what trials.csv says of
            # the trials actually in this network
            caveats = ([c for c in RAIR_DTC_CAVEATS if not c.startswith("Populations and lines")]
                       + ([c for c in RAIR_DTC_PFS_CAVEATS if not c.startswith("Crossover")]
                          if outcome in ("PFS", "OS") else []))
        try:
            fit = network_from_studies(frame, outcome=outcome, measure=measure,
                                       reference="placebo", comparator="placebo", method=method,
                                       level=level, caveats=caveats)
        except MetaAnalysisError as exc:
            out["networks"][key] = {"title": title, "not_run": str(exc)}
            continue
        if trials is not None:
            studies = [b.study for b in fit.network.studies]
            fit = _with_caveats(fit, _trial_caveats(trials, studies, outcome))
        ps_frame = fit.pscores()
        ps_frame = ps_frame if hasattr(ps_frame, "columns") else ps_frame.to_frame()
        order = _ranking_order(ps_frame)
        out["networks"][key] = {
            "title": title, "measure": fit.measure if hasattr(fit, "measure") else measure,
            "effects": fit.effects.reset_index().to_dict(orient="records"),
            "tau2": fit.tau2, "caveats": list(fit.caveats),
            "pscores": ps_frame.reset_index().to_dict(orient="records"),
            "league": fit.league(kind="wide").reset_index().to_dict(orient="records"),
            "summary": fit.to_dict(),
        }
        out["rankings"][f"{key}_pscore"] = order
        fits[key] = fit
    return out, fits


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


def survival_section(table):
    """Exponential curves through reported medians (modelled), one per therapy arm.

    No trial in the shipped table reports a numbers-at-risk table, so the curves are modelled from
    medians: an exponential with the reported median, uncertainty from its interval. They show the
    size of the differences, not the shape of the curves. ``curves`` holds the randomised trials'
    arms (PFS); ``single_arm`` the single-arm and retrospective studies' therapy arms (PFS and OS),
    which report nothing but a median.
    """
    rct = _median_curves(table, "PFS", designs=("rct",))
    single = [dict(c, outcome="PFS") for c in _median_curves(table, "PFS",
                                                            designs=("single-arm", "retrospective"))]
    single += [dict(c, outcome="OS") for c in _median_curves(table, "OS",
                                                            designs=("single-arm", "retrospective"))]
    summary = [{k: v for k, v in c.items() if k != "curve"} for c in rct]
    single_summary = [{k: v for k, v in c.items() if k != "curve"} for c in single]
    return {"curves": rct, "single_arm": single, "summary": summary,
            "single_arm_summary": single_summary, "horizon": SURVIVAL_HORIZON}


def _median_curves(table, outcome, designs):
    from ..survival.parametric import exponential_from_median

    frame = table.frame
    rows = frame[(frame["outcome"] == outcome) & (frame["measure"] == "median")
                 & frame["design"].isin(designs) & (frame["status"] == "reported")
                 & frame["population"].isin(["", "itt"])]
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
        curves.append({"study_id": rec.study_id, "trial": rec.trial, "arm": rec.arm,
                       "therapy": rec.therapy, "median_months": rec.value * scale,
                       "unit_reported": rec.unit, "line": int(rec.line), "source": rec.source,
                       "curve": curve})
    return curves
