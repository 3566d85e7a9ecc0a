"""Prespecified sensitivity analyses: the same question asked with other models and other rows.

For every group of an analysis (one therapy) the protocol's ``[analysis.sensitivity]`` table
declares which variants to run: other tau² estimators with and without Knapp–Hartung, a common-effect
model, randomised trials only, first-line trials only, the other assessor, the first and the latest
data cut, crossover-adjusted hazard ratios, and leaving one study out. Each variant is a
:class:`~metaanalysis.review.analyses.GroupResult` with role ``sensitivity``; the table says whether
the conclusion (the interval against the protocol's null) changes.
"""

from __future__ import annotations

import math

from .analyses import _p_against_null, group_notes, run_analysis

__all__ = ["sensitivity_runs", "sensitivity_table", "conclusion"]


def conclusion(result) -> str | None:
    """``below``, ``above`` or ``includes`` the null (None without a hypothesis)."""
    null = result.analysis.null_on_scale()
    if null is None or result.analysis.scale not in ("log", "identity"):
        return None
    lo, hi = result.fit.ci_low, result.fit.ci_high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi < null:
        return "below"
    if lo > null:
        return "above"
    return "includes"


def _variants(analysis):
    """(variant id, label, keyword arguments of run_analysis) in the protocol's order."""
    s = analysis.sensitivity
    out = []
    methods = s.get("methods", ())
    knhas = s.get("knha", ())
    for m in methods:
        for kh in (knhas or (analysis.test == "knha",)):
            test = "knha" if kh else "z"
            if m == analysis.method and test == analysis.test and analysis.model == "random":
                continue  # the primary model itself
            out.append((f"{m}-{test}", f"{m}, {'Knapp–Hartung' if kh else 'z test'}",
                        {"method": m, "test": test, "model": "random"}))
    if s.get("common_effect"):
        out.append(("common", "common-effect model", {"model": "common", "test": "z"}))
    if s.get("randomised_only"):
        out.append(("randomised", "randomised trials only",
                    {"eligibility": {"randomised": ("yes",)}}))
    if s.get("first_line_only"):
        out.append(("first-line", "first-line trials only", {"eligibility": {"line": ("first",)}}))
    if s.get("assessor"):
        order = tuple(reversed(analysis.assessor))
        out.append(("assessor", f"{order[0] or 'unstated'} assessment preferred",
                    {"assessor": order}))
    if s.get("data_cut"):
        for rule in ("first", "latest"):
            if rule != analysis.data_cut:
                out.append((f"cut-{rule}", f"{rule} data cut", {"data_cut": rule}))
    if s.get("crossover_adjusted"):
        out.append(("crossover-adjusted", "crossover-adjusted hazard ratios where reported",
                    {"crossover_adjusted": True}))
    return out


# the row choices a variant may be about; a change of the other is a side effect to name
_WORDS = {"data_cut": "data cut", "assessor": "assessor"}


def _side_changes(base, variant, kwargs) -> str:
    """`` (also assessor of SELECT central → investigator)`` when a variant asked for another
    data cut picks a row of another assessor (the only one at that cut), or the other way round:
    a changed conclusion must not be read as the cut's alone."""
    about = set(kwargs) & set(_WORDS)
    if not about:
        return ""
    b, v = base.entries, variant.entries
    if "study_id" not in b or "study_id" not in v:
        return ""
    before = {r["study_id"]: r for r in b.to_dict(orient="records")}
    changes = []
    for col in ("data_cut", "assessor"):
        if col in about or col not in b or col not in v:
            continue
        for r in v.to_dict(orient="records"):
            old = before.get(r["study_id"])
            if old is None:
                continue
            was, now = str(old.get(col) or "unstated"), str(r.get(col) or "unstated")
            if was != now:
                name = r.get("trial") or r["study_id"]
                changes.append(f"{_WORDS[col]} of {name} {was} \u2192 {now}")
    return f" (also {'; '.join(changes)})" if changes else ""


def _same_entries(a, b) -> bool:
    return a.studies() == b.studies()


def sensitivity_runs(frame, trials, analysis, primary_groups, not_run=None) -> list:
    """Run every declared variant; returns ``[(group id, variant label, GroupResult)]``.

    A variant that selects exactly the same rows and fits the same model as the primary is not
    repeated, a group that the variant leaves empty has no result, other models are not fitted to
    a single study (each gives the study's own estimate) and leaving one out needs three studies.
    None of them is dropped silently: when ``not_run`` is a list, ``(group id, variant label,
    reason)`` is appended to it for each, so that the report lists every prespecified sensitivity
    analysis with what became of it.
    """
    import dataclasses

    from .analyses import fit_entries

    skipped = not_run if not_run is not None else []
    primary = {g.group: g for g in primary_groups}
    out = []
    model_labels = []
    for vid, label, kwargs in _variants(analysis):
        if set(kwargs) <= {"method", "test", "model"}:
            # another model on the same entries: refit them, no need to select again
            model_labels.append(label)
            for base in primary_groups:
                if base.k < 2:
                    continue  # one study: every model gives its own estimate (noted below)
                fit = fit_entries(base.entries, analysis, **kwargs)
                # the notes are the variant's own (a z test has no Knapp-Hartung note)
                g = dataclasses.replace(base, id=f"{base.id}~{vid}", role="sensitivity", fit=fit,
                                        p=_p_against_null(fit, analysis), parent=base.id,
                                        variant=vid,
                                        notes=group_notes(fit, analysis, base.entries))
                out.append((base.id, label, g))
            continue
        run = run_analysis(frame, trials, analysis, role="sensitivity", variant=vid, **kwargs)
        found = set()
        for g in run.groups:
            base = primary.get(g.group)
            if base is None:
                continue
            found.add(g.group)
            model_changes = any(k in kwargs for k in ("method", "test", "model"))
            if not model_changes and _same_entries(g, base):
                # "no change" would read as robustness; with no adjusted estimate there was no test
                why = ("no study of this estimate reports a crossover-adjusted hazard ratio: not "
                       "estimable" if "crossover_adjusted" in kwargs
                       else "the same rows as the primary analysis: no change")
                skipped.append((base.id, label, why))
                continue
            if model_changes and base.k < 2:
                continue  # one study: every model gives its own estimate
            out.append((base.id, label + _side_changes(base, g, kwargs), _with_parent(g, base.id)))
        for base in primary_groups:
            if base.group not in found:
                skipped.append((base.id, label, "no study left: not estimable"
                                + _unweighted_note(frame, run, base.group)))
    if model_labels:
        for base in primary_groups:
            if base.k < 2:
                skipped.append((base.id, "other models (" + "; ".join(model_labels) + ")",
                                "one study: every model gives the study's own estimate"))
    if analysis.sensitivity.get("leave_one_out"):
        for base in primary_groups:
            if base.k < 3:
                skipped.append((base.id, "leaving one study out",
                                f"{base.k} stud{'y' if base.k == 1 else 'ies'}: needs at least 3"))
                continue
            for sid in base.entries["study_id"]:
                run = run_analysis(frame, trials, analysis, role="sensitivity",
                                   variant=f"without-{sid}", omit=sid)
                for g in run.groups:
                    if g.group == base.group:
                        out.append((base.id, f"without {sid}", _with_parent(g, base.id)))
    return out


def _unweighted_note(frame, run, group) -> str:
    """Rows of the group that the variant would keep but that have no interval to weight them
    (DECISION's median PFS in "randomised trials only"): "no study left" alone would say that
    no such study exists."""
    from .analyses import NO_INTERVAL

    lines = sorted(line for line, why in run.reasons.items() if why == NO_INTERVAL)
    if not lines or "line" not in frame or "therapy" not in frame:
        return ""
    by_line = frame.set_index("line")
    names = [f"{by_line.loc[line].get('trial') or by_line.loc[line]['study_id']} (line {line})"
             for line in lines if line in by_line.index and by_line.loc[line]["therapy"] == group]
    if not names:
        return ""
    return "; reported without an interval to weight it: " + ", ".join(names)


def _with_parent(g, parent):
    import dataclasses

    return dataclasses.replace(g, parent=parent)


def sensitivity_table(primary, variants, not_run=()):
    """One row per variant of one primary group: estimate, CI, PI, I², k, conclusion changes.

    ``not_run`` (``(label, reason)`` pairs, see :func:`sensitivity_runs`) adds a row for each
    declared variant without a result of its own, with the reason in ``note``.

    Returns
    -------
    pandas.DataFrame
        Columns ``analysis`` (the variant), ``k``, ``estimate``, ``ci_low``, ``ci_high``,
        ``pi_low``, ``pi_high`` (natural scale), ``reported`` (a single study's own interval: see
        :func:`~.analyses.natural`), ``i2``, ``tau2``, ``conclusion``,
        ``conclusion_changes`` (None without a hypothesis) and ``note``.
    """
    import pandas as pd

    rows = []
    ref = conclusion(primary)
    for label, g in [("primary: " + _model_text(primary), primary)] + list(variants):
        nat = g.natural()
        c = conclusion(g)
        one = g.k < 2   # no heterogeneity in one study: empty, not 0
        rows.append({"analysis": label, "id": g.id, "k": g.k, **nat,
                     "i2": None if one else g.fit.i2, "tau2": None if one else g.fit.tau2,
                     "conclusion": c,
                     "conclusion_changes": None if ref is None or c is None else c != ref,
                     "note": None})
    for label, reason in not_run:
        rows.append({"analysis": label, "id": None, "k": None, "estimate": None, "ci_low": None,
                     "ci_high": None, "pi_low": None, "pi_high": None, "i2": None, "tau2": None,
                     "conclusion": None, "conclusion_changes": None, "note": reason})
    frame = pd.DataFrame(rows)
    frame["k"] = pd.Series([r["k"] for r in rows], dtype=object)  # whole numbers, None: no result
    return frame


def _model_text(g) -> str:
    a = g.analysis
    if g.k < 2:
        return "single study"
    if a.model == "common":
        return "common effect"
    return f"{a.method}, {'Knapp–Hartung' if a.test == 'knha' else a.test + ' test'}"
