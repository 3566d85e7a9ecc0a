"""The review layer: a declared protocol decides what is pooled; every table line is accounted for.

The shipped protocol is checked against the rules a guideline methodologist applies (no second-line
trial pooled with first-line ones, one entry per study, no test without a hypothesis, every line
used or excluded with its reason), and each rule of the protocol file against a file that breaks it.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.cli import main
from metaanalysis.errors import StudyTableError
from metaanalysis.review import parse_protocol, read_protocol, read_trials, run_review

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PROTOCOL_TEXT = (DATA / "protocol.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def table():
    return ma.read_studies(DATA / "studies.csv")


@pytest.fixture(scope="module")
def trials(table):
    return read_trials(DATA / "trials.csv", studies=table)


@pytest.fixture(scope="module")
def review(table, trials):
    return run_review(table, protocol=DATA / "protocol.toml", trials=trials)


def _line_of(trials, study_id):
    return trials.of(study_id)["line"]


def _group(review, gid):
    return next(g for g in review.groups if g.id == gid)


# ---------------------------------------------------------------------------- the shipped review


def test_no_primary_analysis_pools_second_line_with_first_line(review, trials):
    assert _line_of(trials, "cosmic311") == "second"
    assert _line_of(trials, "decision") == "first"
    for g in review.groups:
        if g.role != "primary":
            continue
        lines = {_line_of(trials, s["study_id"]) for s in g.studies()}
        assert "second" not in lines, g.id
    pfs = {s["study_id"] for g in review.run("pfs_hr").groups for s in g.studies()}
    assert "decision" in pfs and "cosmic311" not in pfs and "cabanillas2017" not in pfs
    # the second-line trials have an analysis of their own
    second = {s["study_id"] for g in review.run("pfs_hr_second_line").groups for s in g.studies()}
    assert second == {"cosmic311"}


def test_no_study_twice_in_one_estimate(review):
    for g in review.all_results():
        ids = [s["study_id"] for s in g.studies()]
        assert len(ids) == len(set(ids)), g.id


def test_every_line_is_used_or_excluded_with_a_reason(review, table):
    lines = set(int(x) for x in table.frame["line"])
    excluded = {e["line"]: e for e in review.excluded}
    assert set(review.used) | set(excluded) == lines
    assert not set(review.used) & set(excluded)
    for e in review.excluded:
        assert e["reason"] and e["study_id"]
    # the lines behind every estimate are lines of the table, of the study named
    by_line = table.frame.set_index("line")["study_id"]
    for g in review.all_results():
        for s in g.studies():
            for line in s["lines"]:
                assert by_line[line] == s["study_id"]


@pytest.mark.parametrize("line, fragment", [
    (67, "other data cut used (interim here)"),   # COSMIC-311 interim PFS HR: the update is used
    (205, "second line"),                    # Cabanillas 2017 (after VEGFR therapy) median OS
    (113, "unstated denominator"),           # DIRECTION ORR: a share of evaluable patients, no interval
    (248, "retrospective"),                  # the observational sorafenib cohort
    (171, "mixed histology"),                # Gupta-Abramson: medullary and anaplastic included
    # a subgroup of a mixed series: the reason is its label, which is not a histology cohort
    (180, "population 'non-PTC' is not a label that restricts the series"),
    (5, "placebo arm"),                      # DECISION placebo median PFS
    (36, "not reached"),                     # SELECT OS median at the primary analysis
    (2, "arm size"),                         # N rows describe the study
    (124, "population 'TKI-naive'"),         # DIRECTION subgroup HR
    (4, "no confidence interval"),           # DECISION median PFS without an interval
    # NCT02973997's separately enrolled cohorts (first line; pembrolizumab added at progression)
    (253, "one of the cohorts the study enrolled separately"),
    (256, "one of the cohorts the study enrolled separately"),
])
def test_exclusion_reasons_are_the_true_ones(review, table, line, fragment):
    excluded = {e["line"]: e["reason"] for e in review.excluded}
    assert line in excluded, f"line {line} is used by {review.used.get(line)}"
    assert fragment in excluded[line]


def test_a_cohort_row_is_not_called_mixed_lines(review):
    # the line of therapy is coded per study (trials.csv): a row of a cohort that is itself all
    # second-line must not be said to mix lines
    reasons = review.run("orr_second_line").reasons
    assert "coded per study, not per cohort" in reasons[256]
    assert "mixed lines" not in reasons[256]


def test_a_proportion_without_a_count_is_weighted_by_its_reported_interval(review, table):
    """COSMIC-311's ORR (line 74) is a share of patients the source does not name: no count, but
    its 95% interval weighs it in the second-line cabozantinib estimate beside Cabanillas 2017."""
    (g,) = [g for g in review.run("orr_second_line").groups if g.group == "cabozantinib"]
    assert g.k == 2 and {s["study_id"] for s in g.studies()} == {"cosmic311", "cabanillas2017"}
    e = g.entries.set_index("line")
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert e.loc[74, "yi"] == pytest.approx(logit(0.11), rel=1e-12)
    assert e.loc[74, "vi"] == pytest.approx(((logit(0.169) - logit(0.069)) / 3.919927969080108) ** 2,
                                            rel=1e-12)
    assert any("weighted by the standard error its reported interval implies" in n for n in g.notes)
    # DIRECTION's evaluable-patient shares have no interval: still left out, and the reason says so
    assert "no interval to weight it" in review.run("orr").reasons[113]


def test_superseded_cut_names_the_row_used(review):
    run = review.run("pfs_hr")
    assert "other data cut used" in run.reasons[43] and "line 31" in run.reasons[43]


def test_one_result_from_two_sources_uses_the_publication(review, table, trials):
    # COSMIC-311's interim PFS hazard ratio is coded twice (line 66, cited to the Lancet Oncol
    # paper with its 96% interval; line 67, the manufacturer's web page with a 95% one that
    # conflicts). The first-data-cut analysis takes one: the publication's, whatever the order
    # of the lines, and the other row's reason says why
    from metaanalysis.review.analyses import run_analysis

    frame = table.frame.set_index("line")
    assert frame.loc[66, "source"].startswith("doi:") and frame.loc[67, "source"].startswith("url:")
    analysis = review.protocol.analysis("pfs_hr_second_line")
    for rows in (table.frame, table.frame.iloc[::-1]):
        run = run_analysis(rows, trials, analysis, data_cut="first")
        (g,) = run.groups
        assert [list(s["lines"]) for s in g.studies()] == [[66]]
        assert run.reasons[67] == ("the same result from another source: line 66 is used, cited "
                                   "to doi:10.1016/S1470-2045(21)00332-6 rather than a web page")
    # a seed document's text (the paper itself) is no web page
    from metaanalysis.review.eligibility import _source_rank

    assert [_source_rank(x) for x in ("003_8f7e6027dbb9901d.txt", "nct:NCT01876784",
                                      "pmcid:PMC9595631", "url:https://x.org")] == [0, 0, 0, 1]


def test_a_row_left_out_for_one_that_gives_no_estimate_says_so(review, table, trials):
    # DECISION's median PFS at the primary cut (line 4) has no interval, so it gives no estimate;
    # a row of another cut, left out by the protocol's order, must not simply point the reader
    # to line 4 as the row "used"
    from metaanalysis.review.analyses import run_analysis

    frame = table.frame
    extra = frame[frame["line"] == 4].assign(line=999, data_cut="final", year=2017)
    run = run_analysis(pd.concat([frame, extra], ignore_index=True), trials,
                       review.protocol.analysis("pfs_median"))
    assert run.reasons[4] == "no confidence interval reported: no standard error to weight it"
    assert run.reasons[999].startswith("other data cut used (final here): line 4")
    assert run.reasons[999].endswith("; line 4 itself gives no usable result (no confidence "
                                     "interval reported: no standard error to weight it)")
    assert 999 not in {l for g in run.groups for s in g.studies() for l in s["lines"]}


def test_target_population_cohorts_are_included(review, table):
    """Cohorts restricted to DTC/PTC within mixed series count; the mixed series do not."""
    orr = {s["study_id"]: s["lines"] for g in review.run("orr").groups for s in g.studies()}
    frame = table.frame.set_index("line")
    assert "kloos2009" in orr and frame.loc[orr["kloos2009"][0], "population"] == "ptc"
    assert "lenvatinib-japan2016" in orr
    # Waguespack 2022's PTC/FTC patients are its DTC cohort, coded as Kloos's PTC cohort is (it
    # was excluded as a "mixed histology" series that "includes medullary or anaplastic"); the
    # protocol excludes it by name because the pooled trials enrolled children
    assert frame.loc[221, "population"] == "dtc" and "waguespack2022" not in orr
    reason = review.run("orr").reasons[221]
    assert reason == "excluded by name in the protocol (the analysis's notes say why)"
    assert "ages 6 to 80" in review.protocol.analysis("orr").notes
    assert "gupta-abramson2008" not in orr and "ahmed2011" not in orr
    assert "sorafenib40-2020" not in orr and "capdevila2012" not in orr  # retrospective


def test_descriptive_summaries_have_no_p_value(review):
    for g in review.groups:
        if g.analysis.effect in ("MEDIAN", "PROPORTION"):
            assert g.p is None, g.id
            assert g.role == "descriptive"
        if g.analysis.null is not None:
            assert g.p is not None and 0 <= g.p <= 1


def test_hazard_ratio_equals_a_direct_pool_and_its_p(review, table):
    g = _group(review, "pfs_hr/lenvatinib")
    rows = table.frame.set_index("line").loc[[l for s in g.studies() for l in s["lines"]]]
    eff = ma.ratio_from_ci(rows["value"], rows["ci_low"], rows["ci_high"], rows["ci_level"] * 100)
    direct = ma.pool(eff.yi, eff.vi, method="REML", test="knha")
    assert g.fit.estimate == pytest.approx(direct.estimate, rel=1e-12)
    assert g.p == pytest.approx(direct.pvalue, rel=1e-10)


def test_harms_risk_ratio_from_arm_counts(review):
    """DECISION grade >= 3 AEs: 133/207 on sorafenib vs 63/209 on placebo."""
    g = _group(review, "ae_g3_rr/sorafenib")
    assert g.studies() == [{"study_id": "decision", "lines": [15, 16]}]
    rr = (133 / 207) / (63 / 209)
    assert g.natural()["estimate"] == pytest.approx(rr, rel=1e-12)
    se = math.sqrt(1 / 133 - 1 / 207 + 1 / 63 - 1 / 209)
    assert g.fit.se == pytest.approx(se, rel=1e-12)
    rd = _group(review, "ae_g3_rd/sorafenib")
    assert rd.natural()["estimate"] == pytest.approx(133 / 207 - 63 / 209, rel=1e-12)


def test_crossover_adjusted_hazard_ratios_are_a_sensitivity_analysis(review):
    variants = dict(review.sensitivity["os_hr/sorafenib"])
    adj = variants["crossover-adjusted hazard ratios where reported"]
    assert adj.studies() == [{"study_id": "decision", "lines": [12]}]
    assert adj.natural()["estimate"] == pytest.approx(0.77, rel=0.01)
    assert 12 in review.used and 40 in review.used
    # the primary OS analysis uses the intention-to-treat rows
    assert _group(review, "os_hr/sorafenib").studies()[0]["lines"] == [11]


def test_sensitivity_table_rows_and_conclusions(review):
    frame = review.sensitivity_frame("pfs_hr/lenvatinib")
    assert frame["analysis"].iloc[0].startswith("primary")
    dl_z = frame[frame["analysis"] == "DL, z test"].iloc[0]
    g = _group(review, "pfs_hr/lenvatinib")
    direct = ma.pool(g.fit.yi, g.fit.vi, method="DL", test="z")
    assert dl_z["estimate"] == pytest.approx(math.exp(direct.estimate), rel=1e-12)
    assert dl_z["ci_high"] == pytest.approx(math.exp(direct.ci_high), rel=1e-12)
    # the conclusion column compares the interval with the null, row by row
    for r in frame[frame["note"].isna()].itertuples():
        expected = "below" if r.ci_high < 1 else "above" if r.ci_low > 1 else "includes"
        assert r.conclusion == expected
        assert r.conclusion_changes == (expected != frame["conclusion"].iloc[0])


def test_one_study_has_no_heterogeneity(review):
    """I², tau² and Q of a single study are undefined: null in results.json and empty in the
    tables, never a 0 that reads as shown consistency; two or more studies keep theirs."""
    frame = review.analysis_frame().set_index("id")
    ones = [g for g in review.all_results() if g.k == 1]
    many = [g for g in review.all_results() if g.k > 1]
    assert ones and many
    for g in ones:
        res = g.to_dict()["result"]
        assert all(res[f] is None for f in ("tau2", "i2", "q", "q_df", "q_pvalue")), g.id
        assert res["estimate"] is not None
    for g in many:
        res = g.to_dict()["result"]
        assert res["i2"] == pytest.approx(g.fit.i2) and res["q_df"] == g.k - 1, g.id
    for g in review.groups:
        assert (frame.loc[g.id, "i2"] != frame.loc[g.id, "i2"]) == (g.k == 1), g.id
    sens = review.sensitivity_frame("pfs_hr/sorafenib")
    assert sens["i2"].iloc[0] is None and sens["tau2"].iloc[0] is None


def test_sensitivity_notes_say_why_a_variant_could_not_test_anything(review):
    # no trial of apatinib reports a crossover-adjusted HR: "no change" would read as robust
    notes = {r["analysis"]: r["note"] for r in
             review.sensitivity_frame("os_hr/apatinib").to_dict(orient="records")}
    assert notes["crossover-adjusted hazard ratios where reported"] == (
        "no study of this estimate reports a crossover-adjusted hazard ratio: not estimable")
    # DECISION is randomised but its median PFS has no interval: "no study left" names it
    notes = {r["analysis"]: r["note"] for r in
             review.sensitivity_frame("pfs_median/sorafenib").to_dict(orient="records")}
    assert notes["randomised trials only"] == ("no study left: not estimable; reported without "
                                               "an interval to weight it: DECISION (line 4)")


def test_every_declared_sensitivity_analysis_is_accounted_for(review):
    """A prespecified sensitivity analysis without a result of its own is listed with the reason,
    never dropped (Cochrane Handbook: report every prespecified analysis)."""
    from metaanalysis.review.sensitivity import _variants

    notes = {r["analysis"]: r["note"] for r in
             review.sensitivity_frame("pfs_hr/lenvatinib").to_dict(orient="records")}
    # lenvatinib's two PFS trials: SELECT allowed one earlier VEGFR-targeted drug, Study 308 does
    # not state the line, so no first-line trial is left
    assert notes["first-line trials only"] == "no study left: not estimable"
    assert notes["leaving one study out"] == "2 studies: needs at least 3"
    assert notes["investigator assessment preferred"].startswith("the same rows")
    # it has a result (an update of SELECT), and says what else it changed
    assert notes["latest data cut (also assessor of SELECT central \u2192 investigator)"] is None
    run = review.run("pfs_hr")
    for g in run.groups:
        frame = review.sensitivity_frame(g.id)
        labels = set(frame["analysis"])
        for vid, label, kwargs in _variants(run.analysis):
            if g.k < 2 and set(kwargs) <= {"method", "test", "model"}:
                assert any(x.startswith("other models") and label in x for x in labels), (g.id, label)
            else:
                assert any(x == label or x.startswith(label + " (also ") for x in labels), \
                    (g.id, label)
        assert ("leaving one study out" in labels) == (g.k < 3)
        # a row has a result or a reason, never both and never neither
        assert (frame["note"].isna() == frame["k"].notna()).all()


def test_leave_one_out_runs_where_k_is_three_or_more(table, trials):
    text = PROTOCOL_TEXT.replace('id = "orr"\n', 'id = "orr"\n', 1)
    p = parse_protocol(text, "p.toml")
    review = run_review(table, protocol=p, trials=trials)
    # no shipped therapy has three placebo-controlled PFS trials: no leave-one-out rows
    assert not any(label.startswith("without") for v in review.sensitivity.values()
                   for label, _ in v)
    lenv = _group(review, "orr/lenvatinib")
    assert lenv.k == 3


# ---------------------------------------------------------------------------- editing the protocol


def test_editing_the_protocol_changes_the_analyses(table, trials):
    text = PROTOCOL_TEXT.replace(
        'id = "pfs_hr"\ntitle = "Progression-free survival: hazard ratio against placebo"',
        'id = "pfs_hr"\ntitle = "PFS, any line"', 1)
    start = text.index('id = "pfs_hr"')
    end = text.index("[[analysis]]", start)
    block = text[start:end].replace('line = ["first", "any", "first-or-second", ""]',
                                    'line = ["first", "any", "first-or-second", "second", ""]')
    block = block.replace("null = 1.0\n", "")
    p = parse_protocol(text[:start] + block + text[end:], "edited.toml")
    review = run_review(table, protocol=p, trials=trials)
    ids = {s["study_id"] for g in review.run("pfs_hr").groups for s in g.studies()}
    assert "cosmic311" in ids
    assert all(g.p is None for g in review.run("pfs_hr").groups)


def test_class_effect_combines_the_arms_of_a_multi_arm_study(table, trials):
    text = """
[review]
title = "t"
population = "p"
comparator = "none"
[[analysis]]
id = "orr_all"
title = "Response across BRAF-targeted drugs"
role = "descriptive"
outcome = "ORR"
effect = "PROPORTION"
group_by = "none"
class_effect = true
class_effect_rationale = "both arms target BRAF V600E"
[analysis.eligibility]
studies = ["busaidy2022"]
"""
    review = run_review(table, protocol=parse_protocol(text, "c.toml", studies=table.studies),
                        trials=trials)
    (g,) = review.groups
    assert g.studies() == [{"study_id": "busaidy2022", "lines": [228, 229]}]
    assert g.entries["xi"].iloc[0] == 9 + 8 and g.entries["ni"].iloc[0] == 26 + 27
    assert any("class effect" in n for n in g.notes)


# ---------------------------------------------------------------------------- protocol validation

_MINIMAL = """schema = 1
[review]
title = "t"
population = "p"
comparator = "placebo"
[[analysis]]
id = "a"
title = "A"
role = "primary"
outcome = "PFS"
effect = "HR"
null = 1.0
[analysis.eligibility]
design = ["rct"]
"""


@pytest.mark.parametrize("old, new, line, key, fragment", [
    ('null = 1.0\n', 'null = 1.0\nsurprise = 3\n', 13, "analysis.surprise", "unknown key"),
    ('role = "primary"', 'role = "main"', 9, "analysis.role", "is not a role"),
    # the study table's codes are case-sensitive: 'pfs' would select no row of it, silently
    ('outcome = "PFS"', 'outcome = "pfs"', 10, "analysis.outcome", "write 'PFS' (codes are "
     "case-sensitive)"),
    ('outcome = "PFS"', 'outcome = "ae:"', 10, "analysis.outcome", "names no detail after 'AE:'"),
    ('effect = "HR"', 'effect = "HAZARD"', 11, "analysis.effect", "is not an effect"),
    ('null = 1.0\n', 'null = -1.0\n', 12, "analysis.null", "must be positive"),
    ('null = 1.0\n', 'null = 1.0\ngroup_by = "none"\n', 13, "analysis.group_by", "class effect"),
    ('design = ["rct"]', 'design = ["rct"]\nstudies = ["nosuch2099"]', 15,
     "analysis.eligibility.studies", "not in the study table"),
    ('design = ["rct"]', 'colour = ["red"]', 14, "analysis.eligibility.colour", "unknown key"),
    ('[review]', '[reveiw]', 2, "reveiw", "unknown key"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[grade]\ntwo_study_interval = "t"\n', 16,
     "grade.two_study_interval", "'t' is not one of 'z', 'primary'"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[grade]\nsof_months = 0\n', 16,
     "grade.sof_months", "must be a positive number of months"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[grade]\ncrossover_outcomes = "OS"\n', 16,
     "grade.crossover_outcomes", "must be a list like ['OS']"),
    # a misspelt outcome would rate nothing down while the Methods describe the rule
    ('design = ["rct"]\n', 'design = ["rct"]\n[grade]\ncrossover_outcomes = ["Overall survival"]\n',
     16, "grade.crossover_outcomes", "'Overall survival' is not the outcome of any analysis"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[grade]\nratio_thresholds = [0.8]\n', 16,
     "grade.ratio_thresholds", "must be two ratios either side of 1"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[[amendments]]\ndate = "6 Dec"\nchange = "c"\n'
     'reason = "r"\n', 16, "amendments.date", "is not a date; write it as 2026-12-06"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[[amendments]]\ndate = 2026-12-06\nchange = "c"\n',
     15, "amendments.reason", "is missing or empty: say what changed and why"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[[amendments]]\ndate = 2026-12-06\nchange = "c"\n'
     'reason = "r"\nkey = "defaults.method"\nprevious = "DL"\n', 19, "amendments.key",
     "is not a [grade] rule"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[[amendments]]\ndate = 2026-12-06\nchange = "c"\n'
     'reason = "r"\nkey = "grade.two_study_interval"\nprevious = "t"\n', 20,
     "amendments.previous", "'t' is not one of 'z', 'primary'"),
    ('design = ["rct"]\n', 'design = ["rct"]\n[[amendments]]\ndate = 2026-12-06\nchange = "c"\n'
     'reason = "r"\nkey = "grade.sof_months"\n', 15, "amendments.previous",
     "give the rule's value before the change"),
])
def test_protocol_errors_name_line_and_key(table, old, new, line, key, fragment):
    text = _MINIMAL.replace(old, new, 1)
    with pytest.raises(StudyTableError) as info:
        parse_protocol(text, "bad.toml", studies=table.studies)
    hits = [p for p in info.value.problems if fragment in p.message]
    assert hits, [str(p) for p in info.value.problems]
    assert hits[0].row == line and hits[0].column == key and hits[0].file == "bad.toml"


def test_an_outcome_of_another_review_is_allowed(table):
    # not a slip of a known code: a review of its own outcomes (DFS) may declare them; the check
    # against the table (table_warnings) says when no row has it
    assert parse_protocol(_MINIMAL.replace('outcome = "PFS"', 'outcome = "DFS"'), "dfs.toml",
                          studies=table.studies).analyses[0].outcome == "DFS"


@pytest.mark.parametrize("setting, key, fragment", [
    ('method = "XX"', "defaults.method", "not a tau² estimator"),
    ("level = 0.95", "defaults.level", "not a confidence level"),
    ('assessor = "central"', "defaults.assessor", "must be a list"),
    ('multi_arm = "merge"', "defaults.multi_arm", "multi-arm"),
])
def test_a_bad_default_is_reported_once_at_its_own_line(table, setting, key, fragment):
    # two analyses inherit the default: one error, at the [defaults] line, not one per analysis
    second = _MINIMAL[_MINIMAL.index("[[analysis]]"):].replace('id = "a"', 'id = "b"')
    text = _MINIMAL.replace("[[analysis]]", f"[defaults]\n{setting}\n[[analysis]]", 1) + second
    with pytest.raises(StudyTableError) as info:
        parse_protocol(text, "bad.toml", studies=table.studies)
    assert [(p.row, p.column) for p in info.value.problems] == [(7, key)]
    assert fragment in info.value.problems[0].message


def test_toml_syntax_error_names_the_line():
    with pytest.raises(StudyTableError) as info:
        parse_protocol(_MINIMAL.replace('title = "A"', 'title = "A'), "bad.toml")
    assert info.value.problems[0].row == 8


def test_a_study_excluded_by_name_that_the_table_lacks_is_a_warning(table):
    # a table cut down for a reanalysis may lack a study the protocol excludes: nothing to
    # exclude, so no error; a misspelt id is still reported, as a warning with the closest id
    text = _MINIMAL.replace('design = ["rct"]', 'design = ["rct"]\nexclude_studies = ["selekt"]')
    p = parse_protocol(text, "ok.toml", studies=table.studies)
    from metaanalysis.review.protocol import check_against_table

    (w,) = [w for w in check_against_table(p, table) if w.column.endswith("exclude_studies")]
    assert "study 'selekt', excluded by name, is not in the study table (closest: 'select')" \
        in w.message
    with pytest.raises(StudyTableError, match="is not in the study table"):
        parse_protocol(text.replace("exclude_studies", "studies"), "bad.toml",
                       studies=table.studies)


def test_amendments_are_read_in_date_order(table):
    text = _MINIMAL + ('[[amendments]]\ndate = 2026-12-07\nchange = """b\n  c"""\nreason = "r2"\n'
                       '[[amendments]]\ndate = "2026-01-02"\nchange = "a"\nreason = "r1"\n')
    p = parse_protocol(text, "ok.toml", studies=table.studies)
    assert p.amendments == ({"date": "2026-01-02", "change": "a", "reason": "r1"},
                            {"date": "2026-12-07", "change": "b c", "reason": "r2"})
    assert p.to_dict()["amendments"][1]["date"] == "2026-12-07"
    with pytest.raises(TypeError):   # a frozen protocol's amendments are read-only
        p.amendments[0]["previous"] = "z"
    assert parse_protocol(_MINIMAL, "ok.toml").amendments == ()


def test_minimal_protocol_parses(table):
    p = parse_protocol(_MINIMAL, "ok.toml", studies=table.studies)
    (a,) = p.analyses
    assert (a.method, a.test, a.model, a.group_by, a.null) == ("REML", "knha", "random", "therapy", 1.0)
    assert a.null_on_scale() == 0.0


def test_shipped_protocol_is_valid(table):
    p = read_protocol(DATA / "protocol.toml", studies=table.studies)
    roles = {a.role for a in p.analyses}
    assert roles == {"primary", "secondary", "descriptive"}
    assert all(a.group_by == "therapy" for a in p.analyses)  # no class-effect claim shipped


def test_cli_validate_says_a_lone_protocol_was_not_checked_against_a_table(tmp_path, capsys):
    # an outcome or comparator no row has is only seen against a table: a protocol validated
    # with no studies.csv beside it says so, instead of a bare "valid, 0 warning(s)"
    (tmp_path / "p.toml").write_text(_MINIMAL.replace('outcome = "PFS"', 'outcome = "DFS"'))
    assert main(["validate", str(tmp_path / "p.toml")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'p.toml'}: warning: no study table beside it" in out
    assert out.rstrip().endswith("valid, 1 warning(s)")
    # beside a table it is checked against it: the unknown outcome is named
    shutil.copy(DATA / "studies.csv", tmp_path / "studies.csv")
    shutil.copy(DATA / "trials.csv", tmp_path / "trials.csv")
    assert main(["validate", str(tmp_path / "p.toml")]) == 0
    out = capsys.readouterr().out
    assert "no study table beside it" not in out and "no row of the study table has outcome " \
        "'DFS'" in out


def test_cli_bad_protocol_fails_without_traceback(tmp_path, capsys):
    for name in ("studies.csv", "trials.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "protocol.toml").write_text(_MINIMAL.replace('role = "primary"', 'role = "main"'))
    assert main(["validate", str(tmp_path / "protocol.toml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'protocol.toml'}:9:analysis.role:" in err and "Traceback" not in err
    assert main(["report", "--studies", str(tmp_path / "studies.csv"), "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "analysis.role" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_trials_table_errors(tmp_path, table):
    text = (DATA / "trials.csv").read_text(encoding="utf-8").splitlines()
    bad = text[:2] + [re.sub(r"^(select,SELECT,)rct", r"\1maybe", text[2])] + text[3:]
    (tmp_path / "trials.csv").write_text("\n".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(StudyTableError) as info:
        read_trials(tmp_path / "trials.csv", studies=table)
    p = next(p for p in info.value.problems if p.column == "design")
    assert p.row == 3 and "'maybe'" in p.message
    # a study of the table without characteristics
    (tmp_path / "trials.csv").write_text("\n".join(text[:1] + text[2:]) + "\n", encoding="utf-8")
    with pytest.raises(StudyTableError, match="'decision' of the study table has no line"):
        read_trials(tmp_path / "trials.csv", studies=table)


def _trials_with(tmp_path, study, **cells):
    """data/trials.csv with some cells of one study's line changed, written into tmp_path."""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO((DATA / "trials.csv").read_text(encoding="utf-8"))))
    for r in rows:
        if r["study_id"] == study:
            r.update(cells)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (tmp_path / "trials.csv").write_text(buf.getvalue(), encoding="utf-8")
    line = 2 + [r["study_id"] for r in rows].index(study)
    return tmp_path / "trials.csv", line


def test_crossover_pct_needs_crossover_yes(tmp_path, table):
    path, line = _trials_with(tmp_path, "select", crossover="no")
    with pytest.raises(StudyTableError) as info:
        read_trials(path, studies=table)
    (p,) = [p for p in info.value.problems if p.column == "crossover_pct"]
    assert p.row == line and "needs crossover = yes" in p.message


def test_crossover_pct_below_one_percent_warns_of_a_fraction(tmp_path, table):
    path, line = _trials_with(tmp_path, "select", crossover_pct="0.83")
    trials = read_trials(path, studies=table)
    (w,) = [w for w in trials.warnings if w.column == "crossover_pct"]
    assert w.row == line and "write 83" in w.message
    path, _ = _trials_with(tmp_path, "select", crossover_pct="83")
    assert not [w for w in read_trials(path, studies=table).warnings if w.column == "crossover_pct"]


def test_cli_report_with_an_edited_protocol(tmp_path):
    """--protocol takes another file and the report follows it, with no code change."""
    lines = (DATA / "studies.csv").read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [l for l in lines[1:] if l.startswith(("decision,", "select,", "cosmic311,"))]
    (tmp_path / "studies.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    shutil.copy(DATA / "trials.csv", tmp_path / "trials.csv")
    edited = tmp_path / "any_line.toml"
    edited.write_text(_MINIMAL.replace('design = ["rct"]', 'design = ["rct"]\nhistology = ["DTC"]'))
    assert main(["report", "--studies", str(tmp_path / "studies.csv"), "--protocol", str(edited),
                 "--out", str(tmp_path / "out")]) == 0
    import json

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    ids = {a["id"] for a in results["analyses"]}
    assert ids == {"a/sorafenib", "a/lenvatinib", "a/cabozantinib"}
    used = {l for a in results["analyses"] for s in a["studies"] for l in s["lines"]}
    excluded = {e["line"] for e in results["excluded"]}
    assert used | excluded == set(range(2, len(keep) + 1)) and not used & excluded


def test_prediction_interval_only_from_three_studies(review):
    # with two studies metafor's prediction interval is the confidence interval again: the page
    # prints none, and results.json (natural) says so with null rather than repeating the CI
    two = _group(review, "pfs_hr/lenvatinib")
    assert two.k == 2 and two.fit.pi_low is not None  # the fit keeps metafor's value
    assert two.natural()["pi_low"] is None and two.natural()["pi_high"] is None
    assert two.to_dict()["natural"]["pi_high"] is None
    three = _group(review, "orr/lenvatinib")
    assert three.k == 3
    nat = three.natural()
    assert nat["pi_low"] <= nat["ci_low"] <= nat["ci_high"] <= nat["pi_high"]


def test_an_interval_without_width_is_excluded_with_a_readable_reason(review):
    # line 210: a median OS of 31.8 months whose only reported bound is 31.8 as well
    [e] = [e for e in review.excluded if e["line"] == 210]
    assert "its only bound equals the estimate (estimate 31.8, ci_low 31.8, ci_high empty)" \
        in e["reason"]
    assert "np.float64" not in e["reason"]


def test_a_single_study_shows_its_reported_interval(review, table):
    # ALTER01032's median PFS is reported as 40.54 (28.29-NE): the model's symmetric log-scale
    # interval would print an upper bound nobody reported
    g = _group(review, "pfs_median/anlotinib")
    nat = g.natural()
    assert g.k == 1 and nat["reported"] is True
    assert (nat["estimate"], nat["ci_low"], nat["ci_high"]) == (40.54, 28.29, None)
    assert math.exp(g.fit.ci_high) > 50  # what the model imputes, and the page must not print
    # a hazard ratio: the reported 0.59 (0.45-0.76), not 0.454-0.767 from the SE
    nat = _group(review, "pfs_hr/sorafenib").natural()
    assert (nat["ci_low"], nat["ci_high"], nat["reported"]) == (0.45, 0.76, True)
    # COSMIC-311 reports a 96% interval: the 95% analysis keeps the model's interval
    g = _group(review, "pfs_hr_second_line/cabozantinib")
    row = g.entries.iloc[0]
    assert row["ci_level"] == 0.96 and g.natural()["reported"] is False
    assert math.isclose(g.natural()["ci_low"], math.exp(g.fit.ci_low))
    # a risk ratio from counts is not the row's value: the model's interval
    assert _group(review, "orr_rr/sorafenib").natural()["reported"] is False
    # pooled groups are never "reported"
    assert _group(review, "pfs_hr/lenvatinib").natural()["reported"] is False


def test_two_studies_with_knapp_hartung_say_what_their_interval_assumes(review):
    # lenvatinib PFS: SELECT and Study 308, Knapp-Hartung with 1 df (t = 12.71): the pooled
    # interval is wider than either trial's, and the estimate's notes say so with the quantile
    g = _group(review, "pfs_hr/lenvatinib")
    assert g.k == 2 and g.fit.to_dict()["test"] == "knha"
    (note,) = [n for n in g.notes if "Knapp-Hartung" in n]
    assert "12.71" in note and "1 degree of freedom" in note
    assert math.exp(g.fit.ci_low) < 0.10  # below Study 308's own lower bound (0.10)
    # a single study, or three, carry no such note
    assert not any("Knapp-Hartung" in n for n in _group(review, "pfs_hr/sorafenib").notes)
    assert not any("Knapp-Hartung" in n for n in _group(review, "orr/lenvatinib").notes)
    # nor a z-test sensitivity variant of the same two studies; a Knapp-Hartung one does
    variants = {g.id: g for g in review.all_results() if g.id.startswith("pfs_hr/lenvatinib~")}
    assert not any("Knapp-Hartung" in n for n in variants["pfs_hr/lenvatinib~REML-z"].notes)
    assert any("Knapp-Hartung" in n for n in variants["pfs_hr/lenvatinib~DL-knha"].notes)
    # at another level the note gives that level's quantiles
    from metaanalysis.review.analyses import group_notes

    fit = ma.pool(g.fit.yi, g.fit.vi, method="REML", test="knha", level=90)
    (note,) = [n for n in group_notes(fit, g.analysis, g.entries) if "Knapp-Hartung" in n]
    assert "(6.31 instead of 1.64)" in note


def test_a_variant_names_what_else_it_changed(review):
    # SELECT's latest PFS cut was assessed by the investigators only: the latest-cut variant
    # changes the assessor too, and its label says so, so that a changed conclusion is not read
    # as the data cut's alone
    f = review.sensitivity_frame("pfs_hr/lenvatinib")
    (label,) = [a for a in f["analysis"] if a.startswith("latest data cut")]
    assert label == "latest data cut (also assessor of SELECT central \u2192 investigator)"
    # a model variant changes no rows and says nothing more
    assert "REML, z test" in list(f["analysis"])


def test_characteristics_give_each_arm_and_its_patients(review):
    # the table's N rows at the preferred cut (COSMIC-311's arms at the update, not the interim
    # total), a population other than ITT named, a cohort of a mixed series named
    arms = dict(zip(review.characteristics_frame()["study_id"],
                    review.characteristics_frame()["arms"]))
    assert arms["decision"] == "sorafenib 207; placebo 210"
    assert arms["cosmic311"] == "cabozantinib 170; placebo 88"
    assert arms["verify"] == "vandetanib 117 (safety); placebo 118 (safety)"
    assert arms["kloos2009"] == "sorafenib 41 (ptc)"
    # an arm with rows of its whole population and of a subset counts its patients once
    every = dict(zip(review.characteristics_frame(included_only=False)["study_id"],
                     review.characteristics_frame(included_only=False)["arms"]))
    assert every["ho2013"] == "selumetinib 20; selumetinib then RAI 8 (treated with RAI)"
    assert arms["busaidy2022"] == "dabrafenib 26; dabrafenib+trametinib 27"


def test_a_single_median_in_weeks_is_reported_in_months(tmp_path, table, trials):
    from metaanalysis.studies import TIME_UNITS_IN_MONTHS

    lines = (DATA / "studies.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO("\n".join(lines) + "\n")))
    for r in rows:
        if r["study_id"] == "alter01032" and r["outcome"] == "PFS" and r["measure"] == "median" \
                and r["therapy"] == "anlotinib":
            r.update(value="176.0", ci_low="123.0", ci_high="", unit="weeks")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (tmp_path / "studies.csv").write_text(buf.getvalue(), encoding="utf-8")
    t = ma.read_studies(tmp_path / "studies.csv")
    rv = run_review(t, protocol=DATA / "protocol.toml", trials=trials)
    nat = _group(rv, "pfs_median/anlotinib").natural()
    weeks = TIME_UNITS_IN_MONTHS["weeks"]
    assert nat["reported"] is True and nat["ci_high"] is None
    assert math.isclose(nat["estimate"], 176.0 * weeks) and math.isclose(nat["ci_low"], 123.0 * weeks)


def test_a_protocol_reads_in_a_notebook():
    # the generated repr was one line of 14,000 characters; a protocol now shows its analyses
    import json

    p = read_protocol(Path(__file__).resolve().parents[1] / "data" / "protocol.toml")
    assert repr(p).startswith("<Protocol ") and len(repr(p)) < 200
    assert "15 analyses (3 primary, 6 secondary, 6 descriptive)" in repr(p)
    frame = p.to_frame()
    assert frame["id"].tolist() == [a.id for a in p.analyses]
    assert frame.set_index("id").loc["pfs_hr", ["role", "effect", "test"]].tolist() == \
        ["primary", "HR", "knha"]
    d = json.loads(json.dumps(p.to_dict(), allow_nan=False))
    assert [a["id"] for a in d["analyses"]] == frame["id"].tolist()
    assert d["grade"]["sof_months_os"] == 24
    assert "pfs_hr" in p.summary() and "<table" in p._repr_html_() and str(p) == p.summary()


def test_the_tables_read_in_a_notebook(table, trials):
    # each validated table gives a copy of itself as a frame, a text summary and an HTML view
    from metaanalysis.review.risk_of_bias import read_risk_of_bias

    data = Path(__file__).resolve().parents[1] / "data"
    copy = table.to_frame()
    copy.loc[copy.index[0], "value"] = -1.0
    assert table.frame["value"].iloc[0] != -1.0  # a copy: the table is not changed through it
    assert table.to_dict()["rows"] == len(table) and table.to_dict()["studies"] == table.studies
    assert len(trials.to_frame()) == len(trials) and "decision" in trials.summary()
    assert "<table" in trials._repr_html_() and str(trials) == trials.summary()
    rob = read_risk_of_bias(data / "risk_of_bias.csv")
    grid = rob.overall_table()
    # one row per study, one column per outcome group; the cells are the files' overall lines
    assert grid.loc["reality", "PFS"] == rob.overall("PFS")["reality"] == "some concerns"
    assert list(grid.columns) == rob.outcomes and set(grid.index) == set(rob.frame["study_id"])
    assert "some concerns" in rob.summary() and "<table" in rob._repr_html_()


def test_missing_evidence_lists_eligible_trials_without_a_result(review):
    # grade >= 3 adverse events: five eligible placebo-controlled trials give no all-cause rate in
    # the sources read, so the table has no row for them; the three that do are pooled
    ae = review.missing_evidence("ae_g3_rr")
    assert [m["study_id"] for m in ae] == ["reality", "direction", "study308", "alter01032",
                                           "leboulleux2012"]
    assert all(m["lines"] == [] and m["reason"].startswith("no AE:G3+ row in the study table")
               for m in ae)
    # rows that bear on the outcome are named (REALITY's single grade >= 3 events, VERIFY's deaths)
    assert ae[0]["reason"].endswith("it has related rows, which this analysis does not take: "
                                    "AE:G3+:hand-foot (apatinib 17.4%, placebo 0.0%), AE:G3+:hypertension "
                                    "(apatinib 34.8%, placebo 0.0%), AE:G3+:proteinuria (apatinib "
                                    "17.4%, placebo 2.2%)")
    assert ae[2]["reason"] == "no AE:G3+ row in the study table"   # Study 308: none at all
    pooled = {s["study_id"] for g in review.run("ae_g3_rr").groups for s in g.studies()}
    assert pooled == {"decision", "select", "verify"} and not pooled & {m["study_id"] for m in ae}
    # a trial with rows of another kind says which; second-line and single-arm studies are not
    # eligible for the first-line comparisons, so they are not missing from them
    os_ = {m["study_id"]: m for m in review.missing_evidence("os_hr")}
    assert os_["direction"]["reason"] == ("its OS rows report rate, not a hazard ratio (donafenib "
                                          "88.3% at 18 months, placebo 73.5% at 18 months)")
    assert os_["direction"]["lines"] == [122, 123]
    assert "cosmic311" not in os_ and "kloos2009" not in os_
    assert os_["verify"]["reason"].endswith("related rows, which this analysis does not take: "
                                            "DEATHS (vandetanib 33/117, placebo 16/118)")
    assert review.missing_evidence("pfs_hr") == []
    # an arm-level summary names the row's own reason, not that of its placebo arm
    med = {m["study_id"]: m["reason"] for m in review.missing_evidence("pfs_median")}
    assert med["decision"] == "no confidence interval reported: no standard error to weight it"


def test_missing_evidence_is_computed_once_and_read_only(review):
    # results.json, the exported tables and GRADE read the lists the review computed with its
    # runs: equal to a fresh computation, and read-only, as every field of a frozen result
    from metaanalysis.review.missing import missing_evidence

    for a in review.protocol.analyses:
        assert review.missing_evidence(a.id) == missing_evidence(review, a.id), a.id
    got = review.missing_evidence("os_hr")
    assert got is review.missing_evidence("os_hr")
    with pytest.raises(TypeError, match="frozen result"):
        got[0]["reason"] = "changed"
    with pytest.raises(TypeError, match="frozen result"):
        got[0]["therapies"].append("changed")
