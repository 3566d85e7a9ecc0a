"""Figures of the review layer (PRISMA flow; risk of bias when assessed), drawn for the report."""

from __future__ import annotations

from pathlib import Path


def _save(ax, stem, formats, spec) -> dict:
    from ..plots import save_figure
    from ..plots.lifecycle import close_figure

    files = []
    for fmt in dict.fromkeys(("svg", "pdf", *formats)):
        path = stem.with_suffix("." + fmt)
        save_figure(ax.figure, path, **({} if fmt == "svg" else {"dpi": 300}))
        files.append(path)
    close_figure(ax)
    return dict(spec, svg=files[0], pdf=files[1], files=[str(f) for f in files])


def render_review_figures(review, folder: Path, formats=("svg",)) -> list:
    """Draw the review's figures into ``folder``; one dict per figure as ``render_figures``:
    the PRISMA flow, and for each primary analysis with assessed studies the risk-of-bias
    traffic-light plot and the summary of the analysis weight at each judgement (robvis)."""
    from ..plots.prisma import prisma_flow

    out = []
    if review.prisma is not None:
        out.append(_save(prisma_flow(review.prisma), folder / "prisma_flow", formats, {
            "key": "prisma", "name": "prisma_flow",
            "caption": "PRISMA 2020 flow of records, reports and studies (counts declared in the "
                       "protocol's [search] table and checked against the study table)."}))
    for spec, frame, summary in risk_of_bias_views(review):
        from ..plots.risk_of_bias import rob_summary, traffic_light

        if not frame.empty:
            out.append(_save(traffic_light(frame), folder / f"{spec['id']}_rob_traffic_light",
                             formats, {"key": f"rob:{spec['id']}",
                                       "name": f"{spec['id']}_rob_traffic_light",
                                       "caption": f"Risk of bias ({spec['tool']}) of the studies "
                                                  f"in {spec['title'].lower()}, by domain."}))
        if summary is not None and not summary.empty:
            out.append(_save(rob_summary(summary), folder / f"{spec['id']}_rob_summary",
                             formats, {"key": f"rob:{spec['id']}",
                                       "name": f"{spec['id']}_rob_summary",
                                       "caption": "Share of the analysis weight at each "
                                                  "risk-of-bias judgement, per domain (each "
                                                  "therapy's estimate counts equally; within it, "
                                                  "studies by their weight)."}))
    return out


def risk_of_bias_views(review) -> list:
    """``[(spec, traffic-light frame, weighted summary)]`` for each primary analysis.

    The weights: each therapy's estimate counts equally (the analysis has one estimate per
    therapy, not one across them), and within an estimate each study by its share of the weight.
    """
    from ..review.grade import rob_outcome
    from ..review.risk_of_bias import weighted_summary

    rob = review.risk_of_bias
    if rob is None:
        return []
    f = rob.frame
    out = []
    for run in review.runs:
        a = run.analysis
        if a.role != "primary" or not run.groups:
            continue
        group = rob_outcome(a.outcome, set(f["outcome"]))
        if group is None:
            continue
        weights = {}
        for g in run.groups:
            for sid, w in zip(g.entries["study_id"], g.fit.weights):
                weights[sid] = weights.get(sid, 0.0) + float(w) / len(run.groups)
        rows = f[(f["outcome"] == group) & f["study_id"].isin(list(weights))]
        tools = list(dict.fromkeys(rows["tool"]))
        tool = tools[0] if tools else ""
        frame = rows[rows["tool"] == tool]
        summary = weighted_summary(rob, weights, group) if weights else None
        out.append(({"id": a.id, "title": a.title, "tool": tool, "outcome": group}, frame,
                    summary))
    return out
