"""``metaanalysis diff`` beside the analyses: the GRADE certainty of each estimate, the cells of the
summary of findings and the PRISMA counts of two reports' ``results.json``.

Small results dicts in the shape the report writes (see ``review/grade.py``'s ``to_dict`` and
``summary_of_findings``, ``review/prisma.py``'s ``to_dict``), so that no report is built.
"""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest

from metaanalysis.cli import main
from metaanalysis.errors import InputError
from metaanalysis.report.diff import Change, diff_results

_DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias")


def _grade(certainty, start="high", **down):
    """A GRADE entry as results.json holds it; ``down``: levels rated down by domain (the
    domain's spaces as underscores), with a reason that says so."""
    domains = []
    for d in _DOMAINS:
        n = down.get(d.replace(" ", "_"), 0)
        domains.append({"domain": d, "downgrade": n, "overridden": False,
                        "reason": "serious: rule met" if n else "not serious",
                        "rule_downgrade": None})
    return {"id": "?", "start": start, "certainty": certainty, "domains": domains}


def _sof(estimate_id, certainty, relative="HR 0.19 (0.04–0.93)", **cells):
    row = {"id": estimate_id, "outcome": "Progression-free survival: hazard ratio against placebo",
           "therapy": estimate_id.split("/")[1], "relative_effect": relative,
           "participants": 543.0, "studies": 2, "certainty": certainty,
           "certainty_before_amendments": None, "reasons": "indirectness: serious: rule met",
           "overridden": [], "comparator": "898 per 1,000 progressed or died by 12 months",
           "with_therapy": "358 per 1,000 (89–879)", "difference": "-540 per 1,000 (-809 to -19)",
           "assumption": "risk of an event by 12 months ...", "extrapolated": "",
           "no_absolute": "", "no_median": "", "reported_with_therapy": "18.3 months (SELECT)",
           "interim": [], "time_point": 12.0, "comparator_median": "median 3.7 months",
           "median_with_therapy": "median 18.8 months (3.9–89.5)",
           "median_difference": "+15.1 months (+0.3 to +85.9)"}
    row.update(cells)
    return row


def _prisma(**counts):
    p = {"sources": [{"name": "seed documents", "records": 5},
                     {"name": "trial fact sheet", "records": 29}],
         "identified": 34, "duplicates": 1, "screened": 33,
         "excluded_screening": [{"reason": "narrative review", "n": 3}], "assessed": 30,
         "excluded_full_text": [{"reason": "mixed histology", "n": 4},
                                {"reason": "retrospective design", "n": 3}],
         "studies_included": 17, "reports_included": 29, "reports_of_included": [],
         "per_analysis": [{"id": "pfs_hr", "title": "PFS HR", "studies": 8}],
         "studies_analysed": 15, "not_analysed": [], "problems": [], "ineligible": []}
    p.update(counts)
    return p


def _results(lenvatinib="moderate", **sections):
    """A results.json with no analyses and the three sections: pfs_hr/lenvatinib rated
    ``lenvatinib`` (down one level for indirectness), pfs_hr/sorafenib high."""
    down = {"moderate": 1, "low": 2, "very low": 3}.get(lenvatinib, 0)
    data = {"meta": {}, "analyses": [],
            "grade": {"pfs_hr/lenvatinib": _grade(lenvatinib, indirectness=min(down, 1),
                                                  inconsistency=max(down - 1, 0)),
                      "pfs_hr/sorafenib": _grade("high")},
            "summary_of_findings": [_sof("pfs_hr/lenvatinib", lenvatinib),
                                    _sof("pfs_hr/sorafenib", "high", "HR 0.59 (0.45–0.76)")],
            "prisma": _prisma()}
    data.update(sections)
    return data


def _records(d, kind):
    return [(c.analysis, c.field, c.old, c.new) for c in d.changes if c.kind == kind]


def test_a_certainty_that_drops_is_a_conclusion_with_the_domain_that_moved():
    d = diff_results(_results("moderate"), _results("low"))
    (c,) = [c for c in d.changes if c.kind == "certainty"]
    assert c == Change("pfs_hr/lenvatinib", "certainty", "certainty", "moderate", "low",
                       "GRADE certainty moderate -> low (down 1 level); rating down changed: "
                       "inconsistency 0 -> -1 (serious: rule met)")
    assert c in d.flagged
    # the text puts it under "Conclusions changed", before the plain changes
    text = d.summary()
    rest = text.partition("!! Conclusions changed:")[2]
    assert "[certainty] pfs_hr/lenvatinib: GRADE certainty moderate -> low" in rest.split("\n\n")[0]
    # the summary of findings says the same certainty: not listed twice
    assert not [r for r in _records(d, "summary_of_findings") if r[1] == "certainty"]
    # and the JSON has the new kind
    kinds = {c["kind"] for c in json.loads(d.to_json())["changes"]}
    assert kinds == {"certainty"}


def test_a_certainty_that_rises_says_up():
    (c,) = diff_results(_results("very low"), _results("high")).changes
    assert (c.kind, c.old, c.new) == ("certainty", "very low", "high")
    assert c.message.startswith("GRADE certainty very low -> high (up 3 levels); rating down "
                                "changed: inconsistency -2 -> 0 (not serious); indirectness -1 -> "
                                "0 (not serious)")


def test_identical_reports_have_no_changes():
    assert diff_results(_results(), _results()).changes == ()
    assert diff_results(_results(), copy.deepcopy(_results())).summary().startswith("No changes")


def test_an_estimate_gains_or_loses_a_rating():
    old, new = _results(), _results()
    del old["grade"]["pfs_hr/sorafenib"]
    new["grade"]["pfs_hr/sorafenib"] = _grade("low", indirectness=1, imprecision=1)
    gained = diff_results(old, new)
    assert _records(gained, "certainty") == [("pfs_hr/sorafenib", "certainty", None, "low")]
    assert gained.flagged[0].message == (
        "GRADE certainty low (not rated before); rated down: indirectness -1 (serious: rule "
        "met); imprecision -1 (serious: rule met)")
    lost = diff_results(new, old)
    assert _records(lost, "certainty") == [("pfs_hr/sorafenib", "certainty", "low", None)]
    assert lost.flagged[0].message == "no longer rated (GRADE certainty was low)"


@pytest.mark.parametrize("key", ["grade", "summary_of_findings", "prisma"])
def test_a_section_missing_on_one_side_is_added_or_removed_not_a_crash(key):
    # a results.json written before GRADE and PRISMA were in the report lacks the keys
    old = _results()
    del old[key]
    d = diff_results(old, _results())
    assert [(c.analysis, c.kind, c.field) for c in d.changes] == [(key, "added", key)]
    assert d.flagged == []
    back = diff_results(_results(), old)
    assert [(c.analysis, c.kind, c.field) for c in back.changes] == [(key, "removed", key)]
    # null (a report whose protocol declares no search has "prisma": null) is the same
    assert diff_results(dict(old, **{key: None}), _results()).changes == d.changes


def test_an_old_results_file_without_any_section_diffs():
    old = {"meta": {}, "analyses": []}
    d = diff_results(old, _results("low"))
    assert [(c.kind, c.analysis) for c in d.changes] == [
        ("added", "grade"), ("added", "prisma"), ("added", "summary_of_findings")]
    assert diff_results(old, old).changes == ()


def test_an_empty_grade_section_lists_every_rating_as_new():
    # a report whose protocol has no primary estimate writes "grade": {}: the estimates are news
    d = diff_results(_results(grade={}), _results())
    assert _records(d, "certainty") == [("pfs_hr/lenvatinib", "certainty", None, "moderate"),
                                        ("pfs_hr/sorafenib", "certainty", None, "high")]


def test_rating_down_that_moves_without_changing_the_certainty_is_a_plain_grade_change():
    old, new = _results(), _results()
    # indirectness no longer, imprecision now: moderate both times
    new["grade"]["pfs_hr/lenvatinib"] = _grade("moderate", imprecision=1)
    d = diff_results(old, new)
    (c,) = d.changes
    assert (c.kind, c.analysis, c.field) == ("grade", "pfs_hr/lenvatinib", "rating down")
    assert (c.old, c.new) == ({"indirectness": 1, "imprecision": 0},
                              {"indirectness": 0, "imprecision": 1})
    assert c.message == ("GRADE certainty still moderate, rated down differently: indirectness "
                         "-1 -> 0 (not serious); imprecision 0 -> -1 (serious: rule met)")
    assert d.flagged == []


def test_a_new_starting_level_and_an_override_are_named():
    old, new = _results(), _results()
    entry = _grade("very low", start="low", indirectness=1)
    entry["domains"][3].update(downgrade=0, overridden=True, rule_downgrade=1,
                               reason="not serious: the review team judged the OIS met")
    new["grade"]["pfs_hr/lenvatinib"] = entry
    (c,) = diff_results(old, new).changes
    assert c.message == ("GRADE certainty moderate -> very low (down 2 levels); rating down "
                         "changed: starts high -> low; imprecision 0 -> 0 (the review team's "
                         "judgement; not serious: the review team judged the OIS met)")


def test_new_words_for_the_same_rating_are_not_news():
    new = _results()
    for d in new["grade"]["pfs_hr/lenvatinib"]["domains"]:
        d["reason"] += " (67% of the weight, was 100%)"
    assert diff_results(_results(), new).changes == ()


def test_summary_of_findings_cells_a_reader_acts_on_are_conclusions():
    new = _results()
    new["summary_of_findings"][0].update(
        relative_effect="HR 0.23 (0.09–0.61)", with_therapy="409 per 1,000 (181–749)",
        difference="-489 per 1,000 (-717 to -149)",
        # how the cells were made, and counts the analyses' k reports: not listed
        participants=943.0, studies=3, assumption="another wording", reasons="other reasons",
        reported_with_therapy="18.3 months (SELECT), 20.0 months (NEW-1)")
    d = diff_results(_results(), new)
    assert _records(d, "summary_of_findings") == [
        ("pfs_hr/lenvatinib", "relative_effect", "HR 0.19 (0.04–0.93)", "HR 0.23 (0.09–0.61)"),
        ("pfs_hr/lenvatinib", "with_therapy", "358 per 1,000 (89–879)", "409 per 1,000 (181–749)"),
        ("pfs_hr/lenvatinib", "difference", "-540 per 1,000 (-809 to -19)",
         "-489 per 1,000 (-717 to -149)")]
    assert d.flagged == list(d.changes)
    assert str(d.changes[0]) == ("[summary_of_findings] pfs_hr/lenvatinib: summary of findings: "
                                 "relative effect HR 0.19 (0.04–0.93) -> HR 0.23 (0.09–0.61)")


def test_a_median_no_longer_modelled_is_listed():
    new = _results()
    new["summary_of_findings"][0].update(median_with_therapy=None, median_difference=None)
    d = diff_results(_results(), new)
    assert [(f, n) for _, f, _, n in _records(d, "summary_of_findings")] == [
        ("median_with_therapy", None), ("median_difference", None)]
    assert "modelled median with the therapy median 18.8 months (3.9–89.5) -> none" in str(d)
    # a cell that is empty and one that is missing say the same
    empty = _results()
    empty["summary_of_findings"][0]["median_with_therapy"] = ""
    del new["summary_of_findings"][0]["median_difference"]
    assert _records(diff_results(new, empty), "summary_of_findings") == [
        ("pfs_hr/lenvatinib", "median_difference", None, "+15.1 months (+0.3 to +85.9)")]


def test_summary_of_findings_rows_added_and_removed():
    old = _results()
    del old["summary_of_findings"][1]
    d = diff_results(old, _results())
    assert _records(d, "summary_of_findings") == [
        ("pfs_hr/sorafenib", "row", None, "HR 0.59 (0.45–0.76)")]
    assert d.changes[0].message == "new row in the summary of findings: HR 0.59 (0.45–0.76)"
    assert _records(diff_results(_results(), old), "summary_of_findings") == [
        ("pfs_hr/sorafenib", "row", "HR 0.59 (0.45–0.76)", None)]


def test_the_summary_of_findings_certainty_counts_where_grade_is_missing():
    old, new = _results(), _results("low")
    del old["grade"], new["grade"]
    d = diff_results(old, new)
    assert _records(d, "summary_of_findings") == [
        ("pfs_hr/lenvatinib", "certainty", "moderate", "low")]
    assert d.flagged == list(d.changes)


def test_prisma_counts_are_plain_changes():
    new = _results(prisma=_prisma(
        studies_included=18, reports_included=30, studies_analysed=16,
        sources=[{"name": "seed documents", "records": 5},
                 {"name": "trial fact sheet", "records": 30}], identified=35,
        excluded_full_text=[{"reason": "mixed histology", "n": 4},
                            {"reason": "histology not reported", "n": 1}],
        per_analysis=[{"id": "pfs_hr", "title": "PFS HR", "studies": 9}],
        problems=["30 assessed − 1 excluded = 29, but the study table has 30 studies"]))
    d = diff_results(_results(), new)
    assert _records(d, "prisma") == [
        ("PRISMA flow", "sources/trial fact sheet", 29, 30),
        ("PRISMA flow", "identified", 34, 35),
        ("PRISMA flow", "excluded_full_text/histology not reported", None, 1),
        ("PRISMA flow", "studies_included", 17, 18),
        ("PRISMA flow", "reports_included", 29, 30),
        ("PRISMA flow", "per_analysis/pfs_hr", 8, 9),
        ("PRISMA flow", "studies_analysed", 15, 16),
        ("PRISMA flow", "excluded_full_text/retrospective design", 3, None)]
    messages = [c.message for c in d.changes if c.kind == "prisma"]
    assert messages[:3] == ["records identified (trial fact sheet) 29 -> 30",
                            "records identified 34 -> 35",
                            "excluded after full text (histology not reported) none -> 1"]
    assert "studies in pfs_hr 8 -> 9" in messages
    assert d.flagged == []
    # counts that do not add up any more are a new warning
    assert [c.message for c in d.changes if c.kind == "warning"] == [
        "new warning: 30 assessed − 1 excluded = 29, but the study table has 30 studies"]
    assert d.changes[-1].kind == "warning"


def test_numpy_numbers_of_an_in_memory_report_compare_as_numbers():
    # report --compare diffs the report it holds in memory against the file
    new = _results(prisma=_prisma(studies_included=np.int64(17), assessed=np.float64(30.0)))
    new["grade"]["pfs_hr/lenvatinib"]["domains"][2]["downgrade"] = np.int64(1)
    assert diff_results(_results(), new).changes == ()


def test_the_cli_json_has_the_new_kinds(tmp_path, capsys):
    old = _results()
    new = _results("low", prisma=_prisma(studies_included=18))
    new["summary_of_findings"][0]["relative_effect"] = "HR 0.23 (0.09–0.61)"
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "new.json").write_text(json.dumps(new), encoding="utf-8")
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    records = [(c["kind"], c["analysis"], c["field"], c["old"], c["new"]) for c in out["changes"]]
    assert records == [
        ("certainty", "pfs_hr/lenvatinib", "certainty", "moderate", "low"),
        ("summary_of_findings", "pfs_hr/lenvatinib", "relative_effect", "HR 0.19 (0.04–0.93)",
         "HR 0.23 (0.09–0.61)"),
        ("prisma", "PRISMA flow", "studies_included", 17, 18)]
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 0
    text = capsys.readouterr().out
    conclusions, plain = text.split("!! Conclusions changed:")[1].split("\n\n")[:2]
    assert "[certainty] pfs_hr/lenvatinib" in conclusions and "[prisma]" in plain


@pytest.mark.parametrize("damage, where", [
    (lambda r: r.update(grade=[1]), "'grade' is not an object"),
    (lambda r: r["grade"].update(x=3), "grade 'x' is not an object"),
    (lambda r: r["grade"]["pfs_hr/sorafenib"].update(certainty=3),
     "grade 'pfs_hr/sorafenib': certainty is 3"),
    (lambda r: r["grade"]["pfs_hr/sorafenib"].update(domains={}),
     "grade 'pfs_hr/sorafenib': domains is {}"),
    (lambda r: r["grade"]["pfs_hr/sorafenib"]["domains"][0].update(downgrade="1"),
     "grade 'pfs_hr/sorafenib': risk of bias: downgrade is '1'"),
    (lambda r: r["grade"]["pfs_hr/sorafenib"]["domains"][0].update(overridden="no"),
     "grade 'pfs_hr/sorafenib': risk of bias: overridden is 'no'"),
    (lambda r: r.update(summary_of_findings={}), "'summary_of_findings' is not a list"),
    (lambda r: r["summary_of_findings"].append({"certainty": "low"}),
     "summary_of_findings row 2 is not an object with an 'id'"),
    (lambda r: r["summary_of_findings"][0].update(difference=-0.54),
     "summary_of_findings 'pfs_hr/lenvatinib': difference is -0.54"),
    (lambda r: r.update(prisma=[]), "'prisma' is not an object"),
    (lambda r: r["prisma"].update(studies_included="17"), "prisma.studies_included is '17'"),
    (lambda r: r["prisma"].update(excluded_full_text=[{"reason": "x", "n": True}]),
     "prisma.excluded_full_text entry 0 is {'reason': 'x', 'n': True}"),
    (lambda r: r["prisma"].update(problems="none"), "'prisma.problems' is not a list of texts"),
])
def test_damaged_sections_are_refused_naming_the_place(tmp_path, capsys, damage, where):
    # a damaged certainty or count would read as a change, or hide one
    bad = _results()
    damage(bad)
    with pytest.raises(InputError, match=re.escape(f"new: {where}")):
        diff_results(_results(), bad)
    (tmp_path / "good.json").write_text(json.dumps(_results()), encoding="utf-8")
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    assert main(["diff", str(tmp_path / "bad.json"), str(tmp_path / "good.json")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.json'}: {where}" in err and "Traceback" not in err


def test_a_table_copied_to_another_folder_has_no_new_warnings():
    # a rerun on a copy of the table (the README's living review) names the copy's path in its
    # warnings: the same warnings, not new ones; a really new one is still listed
    from metaanalysis.report.diff import _table_warnings

    def results(folder, extra=()):
        return {"meta": {"studies": f"{folder}/studies.csv", "trials": f"{folder}/trials.csv"},
                "warnings": [f"{folder}/studies.csv:9:year: warning: two years",
                             f"{folder}/trials.csv:3:phase: warning: odd phase", *extra]}

    a, b = results("data"), results("/tmp/copy/data")
    assert set(_table_warnings(a)) == set(_table_warnings(b))
    c = results("/tmp/copy/data", ["/tmp/copy/data/studies.csv:300:ci_high: warning: new one"])
    new = set(_table_warnings(c)) - set(_table_warnings(a))
    assert new == {"<studies>:300:ci_high: warning: new one"}
    assert _table_warnings(c)["<studies>:300:ci_high: warning: new one"].startswith("/tmp/copy")
    # a renamed copy of the table is the table
    renamed = {"meta": {"studies": "v2/studies_v2.csv", "trials": "v2/trials.csv"},
               "warnings": ["v2/studies_v2.csv:9:year: warning: two years",
                            "v2/trials.csv:3:phase: warning: odd phase"]}
    assert set(_table_warnings(renamed)) == set(_table_warnings(a))
