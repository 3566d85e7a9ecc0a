"""Figures of the review layer (PRISMA flow; risk of bias when assessed), drawn for the report."""

from __future__ import annotations

from pathlib import Path


def _drawn(draw, arg, spec):
    return spec, draw(arg)


def review_figure_jobs(review) -> list:
    """The review's figures as functions that draw one and return ``(spec, Axes)`` (as
    :func:`.figures.figure_jobs`): the PRISMA flow, and for each primary analysis with assessed
    studies the risk-of-bias traffic-light plot and the summary of the analysis weight at each
    judgement (robvis)."""
    from functools import partial

    from ..plots.prisma import prisma_flow
    from ..plots.risk_of_bias import rob_summary, traffic_light

    jobs = []
    if review.prisma is not None:
        jobs.append(partial(_drawn, prisma_flow, review.prisma, {
            "key": "prisma", "name": "prisma_flow",
            "caption": "PRISMA 2020 flow of records, reports and studies (counts declared in the "
                       "protocol's [search] table and checked against the study table)."}))
    for spec, frame, summary in risk_of_bias_views(review):
        if not frame.empty:
            jobs.append(partial(_drawn, traffic_light, frame, {
                "key": f"rob:{spec['id']}", "name": f"{spec['id']}_rob_traffic_light",
                "caption": f"Risk of bias ({spec['tool']}) of the studies in "
                           f"{spec['title'].lower()}, by domain."}))
        if summary is not None and not summary.empty:
            jobs.append(partial(_drawn, rob_summary, summary, {
                "key": f"rob:{spec['id']}", "name": f"{spec['id']}_rob_summary",
                "caption": "Share of the analysis weight at each risk-of-bias judgement, per "
                           "domain (each therapy's estimate counts equally; within it, studies by "
                           "their weight)."}))
    return jobs


def render_review_figures(review, folder: Path, formats=("svg",), workers: int | None = 1) -> list:
    """Draw the review's figures into ``folder``; one dict per figure as
    :func:`.figures.render_figures` (the report draws them in the same worker pool as the rest)."""
    from .figures import render_jobs

    return render_jobs(review_figure_jobs(review), folder, formats, workers=workers)


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
