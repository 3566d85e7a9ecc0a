"""Eligible studies that contribute no result to an analysis: the evidence it is missing.

A pooled estimate is judged on the studies in it; a reader also needs the eligible studies that
are not in it and why (Cochrane Handbook chapter 13, "missing evidence": a trial that measured the
outcome but whose result is not in the sources read may be missing because of its result). A study
is eligible for an analysis when its characteristics in ``trials.csv`` meet the analysis's
eligibility (:func:`~metaanalysis.review.eligibility.failed_criteria`, which
:func:`~metaanalysis.review.eligibility.select_rows` applies per row)
and, for a comparison, when it has the analysis's comparator arm.
"""

from __future__ import annotations

import numbers

from .eligibility import failed_criteria

__all__ = ["missing_evidence"]

_MEASURE_WORDS = {"hr": "a hazard ratio", "proportion": "arm counts or proportions",
                  "median": "a median"}
# rows that bear on an outcome without being it: deaths counted beside overall survival,
# treatment-related or single grade >= 3 adverse events beside all-cause ones
_RELATED = {"OS": ("DEATHS",), "AE:G3+": ("TRAE:G3+",), "ORR": ("CR", "PR")}


def _related(frame, study_id, outcome) -> list:
    """The study's rows of outcomes related to ``outcome`` (its sub-outcomes and _RELATED's), as
    ``outcome (arm numbers)`` texts: a reader weighing the missing result sees what the trial did
    report (VERIFY's deaths, 33/117 against 16/118), not only that it reported something."""
    near = _RELATED.get(outcome, ())
    rows = frame[(frame["study_id"] == study_id)
                 & frame["outcome"].map(lambda o: o.startswith(outcome + ":") or o in near
                                        or any(o.startswith(n + ":") for n in near))]
    return [o + (f" ({n})" if n else "")
            for o, g in sorted(rows.groupby("outcome"), key=lambda x: x[0])
            for n in (_numbers(g),)]


def _numbers(rows) -> str:
    """``vandetanib 33/117, placebo 16/118`` (counts; else values, with the time point)."""
    out = []
    for r in rows.to_dict(orient="records"):
        num, den, value = r.get("numerator"), r.get("denominator"), r.get("value")
        timed = _given(r.get("time_point"))
        if _given(num) and _given(den):
            text = f"{num:g}/{den:g}"
        elif _given(value) and r.get("measure") in ("proportion", "rate"):
            text = f"{100 * value:.1f}%"
        elif _given(value):
            # a time point's unit is the time point's (a landmark rate at 18 months)
            text = f"{value:g}" + (f" {r['unit']}" if r.get("unit") and not timed else "")
        else:
            continue
        if timed:
            text += f" at {r['time_point']:g}" + (f" {r['unit']}" if r.get("unit") else "")
        out.append(f"{r.get('arm') or 'all'} {text}")
    return ", ".join(out)


def _given(x) -> bool:
    # a number the row holds (numpy's too), not NaN
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and x == x


def outcome_populations(frame) -> dict:
    """``{(study_id, outcome): populations}``: a histology cohort counts for the outcome its rows
    report (Waguespack 2022's DTC cohort reports response only, not its series' PFS)."""
    return {key: set(g["population"]) for key, g in frame.groupby(["study_id", "outcome"])}


def missing_evidence(review, analysis_id: str) -> list:
    """The studies eligible for ``analysis_id`` that give it no result, with the reason.

    Parameters
    ----------
    review : ReviewResult
    analysis_id : str
        An analysis of the review's protocol.

    Returns
    -------
    list of dict
        ``{study_id, trial, lines, reason, therapies}`` in the order of ``trials.csv``:
        ``lines`` are the study's rows of the analysis's outcome (empty when the table has none:
        the sources read gave none to code), ``reason`` why none of them is used (with the
        numbers of its related rows), ``therapies`` the therapies the trial tested.

    Examples
    --------
    >>> import metaanalysis as ma                                       # doctest: +SKIP
    >>> review = ma.run_review("data/studies.csv")                      # doctest: +SKIP
    >>> [m["trial"] for m in missing_evidence(review, "ae_g3_rr")]      # doctest: +SKIP
    ['REALITY', 'DIRECTION', 'Study 308', 'ALTER01032', 'Leboulleux 2012 (NCT00537095)']
    """
    run = review.run(analysis_id)
    a = run.analysis
    elig = dict(a.eligibility)
    contributing = {s["study_id"] for g in run.groups for s in g.studies()}
    frame = review.table.frame
    of_outcome = frame[frame["outcome"] == a.outcome]
    populations = outcome_populations(frame)
    comparative = bool(a.comparator) and a.effect in ("HR", "RR", "RD", "OR")
    out = []
    for trial in review.trials.frame.to_dict(orient="records"):
        sid = trial["study_id"]
        if sid in contributing or failed_criteria(trial, elig,
                                                  populations.get((sid, a.outcome), ())):
            continue
        if comparative and trial.get("control", "") != a.comparator:
            continue
        rows = of_outcome[of_outcome["study_id"] == sid]
        lines = [int(x) for x in rows["line"]]
        if not lines:
            reason = f"no {a.outcome} row in the study table"
            related = _related(frame, sid, a.outcome)
            if related:
                reason += ("; it has related rows, which this analysis does not take: "
                           + ", ".join(related))
        else:
            # its rows of a kind the analysis never takes (a placebo arm of an arm-level summary)
            # say nothing about why its own result is missing
            own = [x for x in lines if x not in run.selection.structural] or lines
            said = list(dict.fromkeys(run.reasons[x] for x in own if x in run.reasons))
            if said:
                reason = "; ".join(said)
            else:
                kinds = ", ".join(sorted(set(rows["measure"])))
                reason = (f"its {a.outcome} rows report {kinds}, not "
                          f"{_MEASURE_WORDS.get(a.table_measure, a.table_measure)}")
                said_numbers = _numbers(rows)
                if said_numbers:
                    reason += f" ({said_numbers})"
        # the therapies the trial tested: a summary of findings lists it under each one
        mine = frame[frame["study_id"] == sid]
        therapies = [t for t in dict.fromkeys(mine["therapy"].astype(str))
                     if t and t != a.comparator and t != "nan"]
        out.append({"study_id": sid, "trial": trial.get("trial") or sid, "lines": lines,
                    "reason": reason, "therapies": therapies})
    return out
