"""The report's view of the review: ``results.json`` records for every analysis the protocol declares.

The analyses themselves are decided by the protocol and computed by :mod:`metaanalysis.review`; this
module only lays their results out as JSON records (the contract of ``design.md``): ``analyses`` is a
list whose entries carry ``id``, ``role``, ``outcome``, ``measure``, ``studies`` (``{study_id,
lines}``) and ``p`` (null without a hypothesis), and ``excluded`` lists every other table line.
"""

from __future__ import annotations

import math

from .._base import jsonable
from ..errors import MetaAnalysisError

__all__ = ["try_run", "analysis_records", "SMALL_STUDY_MIN_K"]

SMALL_STUDY_MIN_K = 10


def try_run(fn, *args, **kwargs):
    """Run an analysis step; a MetaAnalysisError becomes a stated reason, not a crash."""
    try:
        return fn(*args, **kwargs), None
    except MetaAnalysisError as exc:
        return None, str(exc)


def _entries(g) -> list:
    """The study rows of one group as reported in the table, with the weight each received."""
    e = g.entries
    weights = g.fit.weights
    out = []
    for i, r in enumerate(e.to_dict(orient="records")):
        rec = {k: r.get(k) for k in ("study_id", "label", "trial", "therapy", "arm", "value",
                                       "ci_low", "ci_high", "ci_level", "unit", "data_cut",
                                       "assessor", "population", "source", "locator", "derived",
                                       "study_design", "line_of_therapy", "year")}
        rec["lines"] = [int(x) for x in r["lines"]]
        for k in ("xi", "ni", "ai", "n1i", "ci", "n2i"):
            if k in r and r[k] is not None and not (isinstance(r[k], float) and math.isnan(r[k])):
                rec[k] = r[k]
        rec["yi"], rec["vi"] = float(g.fit.yi[i]), float(g.fit.vi[i])
        rec["weight"] = float(weights[i]) if len(weights) > i else None
        out.append(rec)
    return out


def _small_study(g) -> dict:
    from ..pooling import egger_test, rank_test

    if g.k < SMALL_STUDY_MIN_K:
        return {"not_run": f"not assessable: k = {g.k} < {SMALL_STUDY_MIN_K} studies"}
    eg, why = try_run(egger_test, g.fit)
    rk, why2 = try_run(rank_test, g.fit)
    return {"egger": eg.to_dict() if eg else {"not_run": why},
            "rank": rk.to_dict() if rk else {"not_run": why2}}


def _missing_rob(review) -> dict:
    """``{analysis id: [study ids]}`` of studies a primary analysis uses with no risk-of-bias
    assessment for its outcome (a warning on the page)."""
    from ..review.grade import rob_outcome

    rob = review.risk_of_bias
    out = {}
    for run in review.runs:
        if run.analysis.role != "primary":
            continue
        ids = sorted({s["study_id"] for g in run.groups for s in g.studies()})
        if rob is None:
            out[run.analysis.id] = ids
            continue
        f = rob.frame
        group = rob_outcome(run.analysis.outcome, set(f["outcome"]))
        assessed = set(f[f["outcome"] == group]["study_id"]) if group else set()
        out[run.analysis.id] = [s for s in ids if s not in assessed]
    return out


def analysis_records(review) -> tuple:
    """``(analyses, sensitivity, protocol_analyses)`` for results.json from a ReviewResult."""
    from ..review.sensitivity import sensitivity_table

    analyses = []
    for run in review.runs:
        for g in run.groups:
            rec = g.to_dict()
            rec["analysis"] = run.analysis.id
            rec["null_scale"] = run.analysis.null_on_scale()
            rec["entries"] = _entries(g)
            rec["small_study"] = _small_study(g)
            analyses.append(rec)
    for parent, variants in review.sensitivity.items():
        for label, g in variants:
            rec = g.to_dict()
            rec["analysis"] = g.analysis.id
            rec["label"] = label
            rec["null_scale"] = g.analysis.null_on_scale()
            analyses.append(rec)
    sensitivity = {}
    for g in review.groups:
        variants = review.sensitivity.get(g.id, [])
        not_run = review.sensitivity_not_run.get(g.id, [])
        if g.role != "primary" and not variants and not not_run:
            continue
        frame = sensitivity_table(g, variants, not_run)
        sensitivity[g.id] = jsonable(frame.to_dict(orient="records"))
    declared = []
    missing = _missing_rob(review)
    for run in review.runs:
        a = run.analysis
        declared.append({
            "id": a.id, "title": a.title, "role": a.role, "outcome": a.outcome, "measure": a.effect,
            "scale": a.scale, "comparator": a.comparator, "group_by": a.group_by,
            "class_effect": a.class_effect, "null": a.null, "model": a.model, "method": a.method,
            "test": a.test, "level": a.level, "data_cut": a.data_cut, "notes": a.notes,
            "favours": list(a.favours), "eligibility": {k: list(v) for k, v in a.eligibility.items()},
            "sensitivity": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in a.sensitivity.items()},
            "groups": [g.id for g in run.groups],
            "not_run": dict(run.not_run),
            "not_used": [{"line": l, "reason": r} for l, r in sorted(run.reasons.items())],
            "missing_rob": missing.get(a.id, []),
        })
    return analyses, sensitivity, declared
