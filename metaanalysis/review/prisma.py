"""PRISMA 2020 flow: counts declared in the protocol's ``[search]`` table, checked against the table.

The protocol declares what the search found (records per source, duplicates, records excluded at
screening and full texts excluded, each with its reason, and assessed records that are further
reports of an included study); the study table says what was included
(studies, and reports: the distinct sources its rows cite) and each analysis how many studies it
uses. :func:`prisma_counts` puts both together and checks that they agree: the studies the search
says were included must be the studies of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._base import ResultMixin, jsonable

__all__ = ["PrismaCounts", "prisma_counts"]


@dataclass(frozen=True, eq=False, repr=False)
class PrismaCounts(ResultMixin):
    """Every box of the PRISMA 2020 flow diagram (new reviews, databases and other sources)."""

    sources: tuple  # (name, records)
    duplicates: int
    screened: int
    excluded_screening: tuple  # (reason, n)
    assessed: int
    excluded_full_text: tuple  # (reason, n)
    studies_included: int
    reports_included: int
    per_analysis: tuple  # (analysis id, title, studies)
    problems: tuple = field(default_factory=tuple)
    # included studies no analysis of the protocol uses (no result it can pool or describe)
    not_analysed: tuple = field(default_factory=tuple)
    # records assessed that are further reports of an included study, not cited in the table
    # (report, study_id): PRISMA 2020 counts them with the included studies' reports, not as
    # exclusions
    other_reports: tuple = field(default_factory=tuple)
    # studies of the table that meet no analysis's eligibility (study_id, reason): excluded at
    # full text, with the declared exclusions, not counted as included
    ineligible: tuple = field(default_factory=tuple)
    # records sought whose full text was not obtained (report, reason): PRISMA 2020's "reports
    # not retrieved", between the records screened and those assessed
    not_retrieved: tuple = field(default_factory=tuple)

    @property
    def sought(self) -> int:
        """Records sought for retrieval: those assessed and those not retrieved."""
        return self.assessed + len(self.not_retrieved)

    @property
    def studies_analysed(self) -> int:
        """Included studies with a result in at least one analysis."""
        return self.studies_included - len(self.not_analysed)

    @property
    def identified(self) -> int:
        return sum(n for _, n in self.sources)

    def to_dict(self) -> dict:
        return jsonable({
            "sources": [{"name": s, "records": n} for s, n in self.sources],
            "identified": self.identified, "duplicates": self.duplicates,
            "screened": self.screened,
            "excluded_screening": [{"reason": r, "n": n} for r, n in self.excluded_screening],
            "sought": self.sought,
            "not_retrieved": [{"report": r, "reason": why} for r, why in self.not_retrieved],
            "assessed": self.assessed,
            "excluded_full_text": [{"reason": r, "n": n} for r, n in self.excluded_full_text],
            "studies_included": self.studies_included, "reports_included": self.reports_included,
            "reports_of_included": [{"report": r, "study_id": sid} for r, sid in self.other_reports],
            "per_analysis": [{"id": a, "title": t, "studies": n} for a, t, n in self.per_analysis],
            "studies_analysed": self.studies_analysed, "not_analysed": list(self.not_analysed),
            "problems": list(self.problems),
            "ineligible": [{"study_id": sid, "reason": r} for sid, r in self.ineligible],
        })

    def to_frame(self):
        import pandas as pd

        rows = [("identified", s, n) for s, n in self.sources]
        rows += [("duplicates removed", "", self.duplicates), ("screened", "", self.screened)]
        rows += [("excluded at screening", r, n) for r, n in self.excluded_screening]
        if self.not_retrieved:
            rows += [("sought for retrieval", "", self.sought)]
            rows += [("not retrieved", f"{r} ({why})", 1) for r, why in self.not_retrieved]
        rows += [("full texts assessed", "", self.assessed)]
        rows += [("excluded after full text", r, n) for r, n in self.excluded_full_text]
        rows += [("studies included", "", self.studies_included),
                 ("reports of included studies", "", self.reports_included)]
        rows += [("other report of an included study", f"{r} ({sid})", 1)
                 for r, sid in self.other_reports]
        rows += [("in at least one analysis", "", self.studies_analysed)]
        rows += [("in analysis", t, n) for _, t, n in self.per_analysis]
        return pd.DataFrame(rows, columns=["stage", "detail", "n"])

    def summary(self) -> str:
        return "\n".join(f"{s:<30}{d[:60]:<62}{n}" for s, d, n in self.to_frame().itertuples(
            index=False))

    def _short(self) -> str:
        return f"{self.identified} identified, {self.studies_included} studies included"


def prisma_counts(protocol, review) -> PrismaCounts | None:
    """The flow's counts (None when the protocol declares no ``[search]``).

    The declared numbers must add up (identified − duplicates = screened; screened − excluded at
    screening = assessed + not retrieved) and the studies the flow includes must be the table's studies; each
    disagreement is listed in ``problems`` and shown on the page, never silently corrected.
    """
    # the counts' presence and types were checked when the protocol was read (parse_protocol)
    search = protocol.search or {}
    if not search:
        return None
    src = tuple((s["name"], s["records"]) for s in search["sources"])
    duplicates = search.get("duplicates", 0)
    screened = search["screened"]
    excl_s = tuple((r["reason"], r["n"]) for r in search.get("excluded_screening", []))
    assessed = search["assessed"]
    lost = tuple((r["report"], r["reason"]) for r in search.get("not_retrieved", []))
    excl_f = tuple((r["reason"], r["n"]) for r in search.get("excluded_full_text", []))
    frame = review.table.frame
    studies = frame["study_id"].nunique()
    # assessed records that report a study already included
    other = tuple((r["report"], r["study_id"]) for r in search.get("reports_of_included", []))
    reports = frame["source"].nunique()
    problems = []
    identified = sum(n for _, n in src)
    if identified - duplicates != screened:
        problems.append(f"{identified} identified − {duplicates} duplicates ≠ {screened} screened")
    if screened - sum(n for _, n in excl_s) != assessed + len(lost):
        problems.append(f"{screened} screened − {sum(n for _, n in excl_s)} excluded ≠ "
                        f"{assessed} assessed" + (f" + {len(lost)} not retrieved" if lost else ""))
    unknown = sorted({sid for _, sid in other} - set(frame["study_id"]))
    if unknown:
        problems.append("reports_of_included names studies the table does not have: "
                        + ", ".join(unknown))
    left = assessed - sum(n for _, n in excl_f) - len(other)
    if left != studies:
        problems.append(f"{assessed} assessed − {sum(n for _, n in excl_f)} excluded"
                        + (f" − {len(other)} other report(s) of included studies" if other else "")
                        + f" = {left}, but the study table has {studies} studies")
    per = tuple((r.analysis.id, r.analysis.title,
                 len({s["study_id"] for g in r.groups for s in g.studies()}))
                for r in review.runs)
    analysed = {s["study_id"] for g in review.all_results() for s in g.studies()}
    ineligible = _ineligible(review, analysed)
    # the table's studies that meet no analysis's eligibility are full texts excluded, each
    # reason with its count, beside the ones the search declares
    by_reason = {}
    for _, why in ineligible:
        by_reason[why] = by_reason.get(why, 0) + 1
    excl_f = excl_f + tuple(sorted(by_reason.items(), key=lambda x: (-x[1], x[0])))
    out = {sid for sid, _ in ineligible}
    included = frame[~frame["study_id"].isin(out)]
    not_analysed = tuple(sorted(set(included["study_id"]) - analysed))
    return PrismaCounts(src, duplicates, screened, excl_s, assessed, excl_f,
                        included["study_id"].nunique(), included["source"].nunique(),
                        per, tuple(problems), not_analysed, other, ineligible, lost)


def _ineligible(review, analysed) -> tuple:
    """``(study_id, reason)`` for each study of the table that no analysis could take: one with
    no row of any outcome the protocol analyses, or whose characteristics (trials.csv) fail every
    analysis's eligibility; the reason is the first criterion of the analysis it comes closest to
    (fewest criteria failed: a mixed-histology single-arm series fails the response summary on its
    histology alone, the randomised comparisons on its design too)."""
    from .eligibility import STUDY_CRITERIA, failed_criteria
    from .missing import outcome_populations

    frame = review.table.frame
    outcomes = {a.outcome for a in review.protocol.analyses}
    populations = outcome_populations(frame)
    trials = {r["study_id"]: r for r in review.trials.frame.to_dict(orient="records")}
    out = []
    for sid in sorted(set(frame["study_id"]) - set(analysed)):
        mine = set(frame.loc[frame["study_id"] == sid, "outcome"])
        results = mine - _DESCRIPTIVE
        if results and not results & outcomes:
            out.append((sid, "no outcome the protocol analyses"))
            continue
        trial = trials.get(sid)
        if trial is None:
            continue
        # a study with no result coded at all (only its size) is judged by its characteristics
        # against every analysis: included, its results not available, when it meets one
        fails = [failed_criteria(trial, dict(a.eligibility), populations.get((sid, a.outcome), ()))
                 for a in review.protocol.analyses if a.outcome in mine or not results]
        if fails and all(fails):
            # fewest failures; on a tie the analysis whose first failure comes latest (the study
            # got furthest in it: a cohort excluded by name rather than a series' histology)
            key, value, allowed = min(
                fails, key=lambda f: (len(f), -STUDY_CRITERIA.index(f[0][0])))[0]
            out.append((sid, _short_reason(key, value)))
    return tuple(out)


# rows that describe a study rather than report a result
_DESCRIPTIVE = {"N", "FU", "CROSSOVER"}


def _short_reason(key, value) -> str:
    """A flow diagram's words for a failed criterion (the excluded lines give the long form)."""
    if key == "exclude_studies":
        return "excluded by name in the protocol"
    if key == "studies":
        return "not among the studies the protocol names"
    if key == "design":
        return f"{value or 'unreported'} design"
    if key == "histology":
        return "mixed histology" if value == "mixed" else (
            f"histology {value}" if value else "histology not reported")
    if key == "line":
        return f"line of therapy {value}" if value else "line of therapy not reported"
    return f"{key.replace('_', ' ')} {value}" if value else f"{key.replace('_', ' ')} not reported"
