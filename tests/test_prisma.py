"""PRISMA 2020 flow: declared counts checked against the table, and the figure shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from metaanalysis.errors import StudyTableError
from metaanalysis.review import parse_protocol, run_review
from metaanalysis.review.prisma import prisma_counts

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "data" / "protocol.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def review():
    return run_review(ROOT / "data" / "studies.csv")


def test_shipped_counts_add_up_to_the_table(review):
    c = review.prisma
    assert c.problems == ()
    assert c.identified == 34 and c.screened == 33 and c.assessed == 29 and c.sought == 30
    # a record sought and not found (PRISMA 2020's "reports not retrieved"), nothing coded
    assert c.not_retrieved == (("Hoftijzer 2009", "not found in a readable source"),)
    assert c.other_reports == ()
    # the table's 28 studies less those that meet no analysis's eligibility are the included
    frame = review.table.frame
    out = {sid for sid, _ in c.ineligible}
    assert frame["study_id"].nunique() == 28 and c.studies_included == 28 - len(out) == 17
    assert c.reports_included == frame.loc[~frame["study_id"].isin(out), "source"].nunique()
    reasons = dict(c.ineligible)
    # each with the criterion of the analysis it comes closest to: a mixed single-arm series
    # fails the response summary on its histology, not on the randomised analyses' design
    assert reasons["gupta-abramson2008"] == "mixed histology"
    assert reasons["capdevila2012"] == "retrospective design"
    assert reasons["ho2013"] == "no outcome the protocol analyses"   # redifferentiation only
    # a study with only its size coded (Study 201: methods read, no result) is included, its
    # results not available, and the missing-evidence lists name it; no study is both
    assert "cabanillas2015" not in reasons and "cabanillas2015" in c.not_analysed
    missing = {m["study_id"] for a in review.protocol.analyses
               for m in review.missing_evidence(a.id)}
    assert "cabanillas2015" in missing and not missing & set(reasons)
    assert not out & {s["study_id"] for g in review.all_results() for s in g.studies()}
    # they join the declared full-text exclusions, counted by reason
    assert sum(n for _, n in c.excluded_full_text) == 1 + len(out)
    per = {a: n for a, _, n in c.per_analysis}
    assert per["pfs_hr"] == len({s["study_id"] for g in review.run("pfs_hr").groups
                                 for s in g.studies()})


def test_counts_that_do_not_add_up_are_reported(review):
    p = parse_protocol(TEXT.replace("assessed = 29", "assessed = 31"), "p.toml")
    c = prisma_counts(p, review)
    assert len(c.problems) == 2
    assert "33 screened − 3 excluded ≠ 31 assessed + 1 not retrieved" in c.problems


@pytest.mark.parametrize("old, new, key, anchor, fragment", [
    ("screened = 33", 'screened = "many"', "search.screened", "screened =",
     "'many' is not a count"),
    ("screened = 33", "screened = -33", "search.screened", "screened =", "-33 is not a count"),
    ("n = 3}", "n = 2.5}", "search.excluded_screening", "excluded_screening =", "entry 1"),
    ("records = 29", "records = -1", "search.sources.records", "records = 29", "source 2"),
    ('{report = "Hoftijzer 2009", ', '{name = "Hoftijzer 2009", ', "search.not_retrieved",
     "not_retrieved =", "needs report"),
    ('reason = "not found in a readable source"', 'reason = ""', "search.not_retrieved",
     "not_retrieved =", "reason (why its full text was not obtained)"),
])
def test_bad_search_values_are_errors_at_their_line(old, new, key, anchor, fragment):
    # validate passed these, and report's error named neither the file nor the line
    assert old in TEXT and anchor in TEXT
    with pytest.raises(StudyTableError) as err:
        parse_protocol(TEXT.replace(old, new, 1), "p.toml")
    (problem,) = err.value.problems
    assert (problem.file, problem.column) == ("p.toml", key) and fragment in problem.message
    # the line of the key (of a list: where it starts)
    assert problem.row == TEXT[: TEXT.index(anchor)].count("\n") + 1


def test_a_missing_count_is_an_error_at_the_search_table():
    # prisma_counts reads the counts as the parser checked them: a missing one stops the parser
    with pytest.raises(StudyTableError) as err:
        parse_protocol(TEXT.replace("assessed = 29\n", "", 1), "p.toml")
    (problem,) = err.value.problems
    assert problem.column == "search.assessed" and "is missing" in problem.message
    assert problem.row == TEXT[: TEXT.index("[search]")].count("\n") + 1


def test_bad_search_values_are_errors(review):
    with pytest.raises(StudyTableError, match="unknown key 'hits'"):
        parse_protocol(TEXT.replace("duplicates = 1", "duplicates = 1\nhits = 3"), "p")


def test_flow_diagram_shows_every_count(review):
    import matplotlib

    matplotlib.use("Agg")
    from metaanalysis.plots.prisma import prisma_flow

    ax = prisma_flow(review.prisma)
    ax.figure.canvas.draw()
    text = " ".join(t.get_text() for t in ax.texts)
    for n in ("n = 34", "n = 1", "n = 33", "n = 3", "n = 30", "n = 29", "n = 12", "n = 17"):
        assert n in text
    assert "seed documents: 5" in text and "trial fact sheet: 29" in text
    # the declared counts are records: no box calls them reports, which would make the 38
    # reports of the included studies more than the 30 assessed
    assert "Records assessed for eligibility (n = 29)" in text and "Reports assessed" not in text
    assert "Records sought for retrieval (n = 30)" in text
    assert f"{review.prisma.reports_included} reports cited in the study table" in text
    # a record not retrieved is neither an exclusion nor a report of an included study
    flat = text.replace("\n", " ")
    assert "Records excluded (n = 12)" in flat and "mixed histology" in flat
    assert "Records not retrieved (n = 1) Hoftijzer 2009: not found in a readable source" in flat
    assert "not cited" not in flat
    # the studies in a synthesis stand apart from those included (PRISMA 2020)
    p = review.prisma
    assert f"Studies in at least one analysis (n = {p.studies_analysed})" in text
    assert f"no analysis of the protocol uses (n = {len(p.not_analysed)})" in text.replace("\n", " ")


def test_included_studies_without_an_analysis_are_named(review):
    # PRISMA 2020 separates the studies included in the review from those in a synthesis: every
    # included study is either in some analysis (sensitivity analyses count) or named, and then
    # every one of its rows is among the excluded lines with a reason
    p = review.prisma
    used = {s["study_id"] for g in review.all_results() for s in g.studies()}
    assert p.studies_analysed == len(used) == p.studies_included - len(p.not_analysed)
    assert set(p.not_analysed) == set(review.table.frame["study_id"]) - used - {
        sid for sid, _ in p.ineligible}
    excluded = {e["line"]: e["reason"] for e in review.excluded}
    frame = review.table.frame
    for sid in p.not_analysed:
        for line in frame.loc[frame["study_id"] == sid, "line"]:
            assert excluded.get(int(line)), (sid, line)
    d = p.to_dict()
    assert d["studies_analysed"] == p.studies_analysed and d["not_analysed"] == list(p.not_analysed)
    assert ("in at least one analysis", "", p.studies_analysed) in set(
        p.to_frame().itertuples(index=False, name=None))


# the shipped protocol before Hoftijzer 2009 was counted as not retrieved (amendment of
# 2026-12-08): a further report of an included study, assessed
LEGACY = TEXT.replace("assessed = 29", "assessed = 30").replace(
    'not_retrieved = [\n    {report = "Hoftijzer 2009", reason = "not found in a readable source"},'
    '\n]', 'reports_of_included = [\n    {report = "Hoftijzer 2009", study_id = "schneider2012"},\n]')


def test_a_further_report_of_an_included_study_is_not_an_exclusion(review):
    # PRISMA 2020: records assessed = excluded + reports of the included studies; Hoftijzer 2009
    # (the Leiden trial's earlier report) is counted with Schneider 2012, not as excluded
    assert "reports_of_included" in LEGACY and "not_retrieved" not in LEGACY
    c = prisma_counts(parse_protocol(LEGACY, "legacy.toml"), review)
    assert c.problems == () and c.not_retrieved == () and c.sought == c.assessed == 30
    assert c.other_reports == (("Hoftijzer 2009", "schneider2012"),)
    declared = 1   # the entrectinib record; the rest are the table's ineligible studies
    assert sum(n for _, n in c.excluded_full_text) == declared + len(c.ineligible)
    assert c.assessed - declared - len(c.other_reports) == c.studies_included + len(c.ineligible)
    assert c.to_dict()["reports_of_included"] == [{"report": "Hoftijzer 2009",
                                                  "study_id": "schneider2012"}]
    assert ("other report of an included study", "Hoftijzer 2009 (schneider2012)", 1) in set(
        c.to_frame().itertuples(index=False, name=None))
    # counted as an exclusion again, the flow no longer adds up, and says by how much
    moved = LEGACY.replace('reports_of_included = [\n    {report = "Hoftijzer 2009", study_id = '
                           '"schneider2012"},\n]', "")
    assert moved != LEGACY
    bad = prisma_counts(parse_protocol(moved, "p.toml"), review)
    assert bad.problems == ("30 assessed − 1 excluded = 29, but the study table has 28 studies",)
    # a report of a study the table does not have (a table cut down to a few trials): the flow
    # says so on the page, as it does when the counts do not add up, rather than refusing
    unknown = LEGACY.replace('study_id = "schneider2012"}', 'study_id = "leiden2009"}')
    assert prisma_counts(parse_protocol(unknown, "p.toml"), review).problems[0] == (
        "reports_of_included names studies the table does not have: leiden2009")

