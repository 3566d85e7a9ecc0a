"""Risk of bias: ``data/risk_of_bias.csv``, its reader and validator, the tools' algorithms, the
weighted summary and the robvis-style figures (``metaanalysis.review.risk_of_bias``,
``metaanalysis.plots.risk_of_bias``).

Each validation rule is shown to fail on a file that breaks it, with the line and column asserted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

import metaanalysis as ma
from metaanalysis.errors import InputError, StudyTableError
from metaanalysis.review.risk_of_bias import (
    NOT_ASSESSED, ROB2_SEVERAL_SOME_CONCERNS, TOOLS, judgements_for, missing_assessments,
    overall_judgement, read_risk_of_bias, unassessed, weighted_summary)

ROOT = Path(__file__).resolve().parents[1]
ROB = ROOT / "data" / "risk_of_bias.csv"
STUDIES = ROOT / "data" / "studies.csv"
TRIALS = ROOT / "data" / "trials.csv"
HEADER = ["study_id", "outcome", "tool", "domain", "judgement", "support", "source", "locator",
          "override_reason"]
CALL = "Review team's call"


@pytest.fixture(scope="module")
def shipped():
    return read_risk_of_bias(ROB, studies=STUDIES, trials=TRIALS)


@pytest.fixture(scope="module")
def trials():
    return ma.read_trials(TRIALS)


# ------------------------------------------------------------------------ the algorithms
@pytest.mark.parametrize("domains, expected", [
    (["low"] * 5, "low"),
    (["some concerns", "low", "low", "low", "low"], "some concerns"),
    (["some concerns", "some concerns", "low", "low", "low"], "some concerns"),   # 2 < 3
    (["some concerns", "some concerns", "some concerns", "low", "low"], "high"),  # 3 = several
    (["high", "low", "low", "low", "low"], "high"),
    (["high", "some concerns", "low", "low", "low"], "high"),
    (["some concerns"] * 5, "high"),
])
def test_rob2_algorithm_at_its_boundaries(domains, expected):
    assert ROB2_SEVERAL_SOME_CONCERNS == 3
    assert overall_judgement("RoB 2", domains) == expected
    # a mapping gives the same answer; an "overall" key in it is ignored
    mapping = dict(zip(TOOLS["RoB 2"].domains, domains), overall="low")
    assert overall_judgement("RoB 2", mapping) == expected


@pytest.mark.parametrize("domains, expected", [
    (["low"] * 7, "low"),
    (["low"] * 6 + ["moderate"], "moderate"),
    (["moderate"] * 6 + ["no information"], "no information"),
    (["serious"] + ["no information"] * 6, "serious"),
    (["serious", "critical"] + ["low"] * 5, "critical"),
])
def test_robins_i_algorithm(domains, expected):
    assert overall_judgement("ROBINS-I", domains) == expected


def test_minors_total_and_its_range():
    assert overall_judgement("MINORS", ["0"] * 8) == "0"
    assert overall_judgement("MINORS", ["2"] * 8) == "16"
    assert overall_judgement("MINORS", ["2", "0", "2", "1", "0", "2", "0", "0"]) == "7"


def test_algorithm_refuses_bad_input():
    with pytest.raises(InputError, match="tool 'RoB2' is not known"):
        overall_judgement("RoB2", ["low"] * 5)
    with pytest.raises(InputError, match="'maybe' is not a judgement"):
        overall_judgement("RoB 2", ["low", "low", "maybe", "low", "low"])
    with pytest.raises(InputError, match="missing: D5"):
        overall_judgement("RoB 2", {"D1": "low", "D2": "low", "D3": "low", "D4": "low"})
    with pytest.raises(InputError, match="has 5 domains"):
        overall_judgement("RoB 2", ["low"] * 4)
    with pytest.raises(InputError, match="no domain 'D6'"):
        overall_judgement("RoB 2", {**{d: "low" for d in TOOLS["RoB 2"].domains}, "D6": "low"})


# ------------------------------------------------------------------ validation, rule by rule
def rob2_lines(study="decision", outcome="PFS", overall=None, domains=None, override=""):
    domains = domains or ["low"] * 5
    out = [[study, outcome, "RoB 2", d, j, "support text", "doi:10.1/x", "abstract", ""]
           for d, j in zip(TOOLS["RoB 2"].domains, domains)]
    out.append([study, outcome, "RoB 2", "overall",
                overall or overall_judgement("RoB 2", domains), "support text", "doi:10.1/x",
                "abstract", override])
    return out


def write(tmp_path, rows, header=HEADER):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    p = tmp_path / "risk_of_bias.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    return p


def problems(path, **kw):
    with pytest.raises(StudyTableError) as err:
        read_risk_of_bias(path, **kw)
    return err.value.problems


def where(p):
    return (p.row, p.column)


def test_a_valid_file_reads(tmp_path):
    rob = read_risk_of_bias(write(tmp_path, rob2_lines()), studies=STUDIES, trials=TRIALS)
    assert len(rob) == 6 and rob.warnings == []
    assert list(rob.frame["line_no"]) == [2, 3, 4, 5, 6, 7]
    assert rob.overall("PFS") == {"decision": "low"}


def test_unknown_tool(tmp_path):
    rows = rob2_lines()
    rows[2][2] = "RoB2"
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (4, "tool")
    assert "'RoB2' is not a known tool" in p.message and "'RoB 2'" in p.message
    assert str(p).startswith(f"{tmp_path / 'risk_of_bias.csv'}:4:tool: ")


def test_unknown_domain_for_the_tool(tmp_path):
    rows = rob2_lines()
    rows[5][3] = "D6"  # line 7: the overall line renamed to a domain RoB 2 does not have
    probs = problems(write(tmp_path, rows))
    p = next(x for x in probs if x.row == 7)
    assert where(p) == (7, "domain")
    assert "'D6' is not a domain of RoB 2" in p.message and "D1, D2, D3, D4, D5, overall" in p.message


def test_domain_of_another_tool(tmp_path):
    rows = rob2_lines()
    rows[0][3] = "M1"
    p = next(x for x in problems(write(tmp_path, rows)) if x.row == 2)
    assert where(p) == (2, "domain")


def test_judgement_not_allowed(tmp_path):
    rows = rob2_lines()
    rows[1][4] = "maybe"
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (3, "judgement")
    assert "'maybe' is not a RoB 2 judgement for D2" in p.message
    assert "'low', 'some concerns', 'high'" in p.message


def test_judgement_of_another_tool_is_refused(tmp_path):
    rows = rob2_lines()
    rows[3][4] = "moderate"  # a ROBINS-I word
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (5, "judgement")


def test_judgement_case_and_spaces_are_normalised(tmp_path):
    rows = rob2_lines(domains=["low", "Some  Concerns", "low", "low", "low"],
                      overall="Some concerns")
    rob = read_risk_of_bias(write(tmp_path, rows))
    assert set(rob.frame["judgement"]) == {"low", "some concerns"}


def test_minors_total_must_be_a_score(tmp_path):
    rows = [["kloos2009", "ORR", "MINORS", f"M{k}", "1", "s", "doi:10.1/x", "abstract", ""]
            for k in range(1, 9)]
    rows.append(["kloos2009", "ORR", "MINORS", "overall", "17", "s", "doi:10.1/x", "abstract", ""])
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (10, "judgement") and "whole number from 0 to 16" in p.message


def test_unknown_study(tmp_path):
    rows = rob2_lines(study="nosuchtrial")
    probs = problems(write(tmp_path, rows), studies=STUDIES)
    assert [where(p) for p in probs] == [(n, "study_id") for n in range(2, 8)]
    assert "'nosuchtrial' is not a study of the study table" in probs[0].message


def test_unknown_study_against_the_characteristics(tmp_path, trials):
    probs = problems(write(tmp_path, rob2_lines(study="nosuchtrial")), studies=STUDIES,
                     trials=trials)
    assert where(probs[0]) == (2, "study_id") and "trials.csv" in probs[0].message


def test_a_listed_study_without_table_rows_is_a_warning(tmp_path, trials):
    """A trial of trials.csv whose rows are not in the table yet (the README's tour holds one
    back and adds it later) keeps its judgements, with one warning."""
    ids = [s for s in ma.read_studies(STUDIES).studies if s != "decision"]
    rob = read_risk_of_bias(write(tmp_path, rob2_lines() + rob2_lines(outcome="OS")),
                            studies=ids, trials=trials)
    (w,) = rob.warnings
    assert where(w) == (2, "study_id") and "no rows in the study table" in w.message


def test_tool_must_fit_the_design(tmp_path):
    rows = rob2_lines(study="kloos2009")  # a single-arm study judged with RoB 2
    probs = problems(write(tmp_path, rows), trials=TRIALS)
    assert where(probs[0]) == (2, "tool")
    assert "RoB 2 does not fit 'kloos2009', whose design is 'single-arm'" in probs[0].message


def test_overall_inconsistent_without_override(tmp_path):
    rows = rob2_lines(domains=["low", "low", "some concerns", "low", "low"], overall="low")
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (7, "judgement")
    assert "departs from the RoB 2 algorithm, which gives 'some concerns'" in p.message
    assert "override_reason" in p.message


def test_overall_override_with_reason_is_accepted(tmp_path):
    rows = rob2_lines(domains=["low", "low", "some concerns", "low", "low"], overall="low",
                      override="a handful of missing values cannot move this result")
    rob = read_risk_of_bias(write(tmp_path, rows))
    assert rob.overall("PFS") == {"decision": "low"} and rob.warnings == []


def test_needless_override_is_a_warning(tmp_path):
    rob = read_risk_of_bias(write(tmp_path, rob2_lines(override="no need")))
    (w,) = rob.warnings
    assert where(w) == (7, "override_reason") and w.severity == "warning"


def test_duplicate_study_outcome_domain(tmp_path):
    rows = rob2_lines()
    rows.insert(3, list(rows[1]))  # D2 twice: lines 3 and 5
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (5, "domain") and "already has line 3" in p.message


def test_missing_domain(tmp_path):
    rows = rob2_lines()
    del rows[3]  # no D4
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (2, "domain") and "lacks D4" in p.message


def test_two_tools_for_one_assessment(tmp_path):
    rows = rob2_lines()
    rows.append(["decision", "PFS", "MINORS", "M1", "2", "s", "doi:10.1/x", "abstract", ""])
    (p,) = problems(write(tmp_path, rows))
    assert where(p) == (8, "tool") and "one tool per study and outcome" in p.message


def test_empty_support_and_unknown_outcome(tmp_path):
    rows = rob2_lines()
    rows[0][5] = ""
    rows[1][1] = "QoL"
    probs = problems(write(tmp_path, rows))
    assert (2, "support") in [where(p) for p in probs]
    assert (3, "outcome") in [where(p) for p in probs]


def test_missing_column_and_missing_file(tmp_path):
    (p,) = problems(write(tmp_path, [r[:-2] + r[-1:] for r in rob2_lines()],
                          header=[h for h in HEADER if h != "locator"]))
    assert where(p) == (1, None) and "missing column(s): locator" in p.message
    (p,) = problems(tmp_path / "absent.csv")
    assert "file not found" in p.message


def test_every_problem_is_reported_in_line_order(tmp_path):
    rows = rob2_lines()
    rows[4][4] = "maybe"
    rows[0][2] = "RoB-2"
    probs = problems(write(tmp_path, rows))
    assert [p.row for p in probs] == sorted(p.row for p in probs)
    assert {(2, "tool"), (6, "judgement")} <= {where(p) for p in probs}


# ------------------------------------------------------------------------- the shipped file
def test_shipped_file_validates(shipped):
    assert shipped.warnings == []
    f = shipped.frame
    assert set(f["tool"]) <= set(TOOLS)
    assert (f["support"].str.len() > 30).all() and (f["source"] != "").all()
    assert (f["locator"] != "").all()


def test_every_rct_has_pfs_os_and_ae_with_all_domains(shipped, trials):
    rcts = trials.frame.loc[trials.frame["design"] == "rct", "study_id"]
    assert len(rcts) == 10
    f = shipped.frame
    for sid in rcts:
        for outcome in ("PFS", "OS", "AE"):
            rows = f[(f["study_id"] == sid) & (f["outcome"] == outcome)]
            assert set(rows["tool"]) == {"RoB 2"}, (sid, outcome)
            assert sorted(rows["domain"]) == ["D1", "D2", "D3", "D4", "D5", "overall"], (sid, outcome)


def test_single_arm_studies_the_review_uses_are_assessed(shipped):
    review = ma.run_review(STUDIES)
    used = {}
    for g in review.groups:
        for sid in g.entries["study_id"]:
            used.setdefault(sid, set()).add(g.analysis.outcome)
    design = dict(zip(review.trials.frame["study_id"], review.trials.frame["design"]))
    singles = {s for s in used if design[s] != "rct"}
    assert singles == {"kloos2009", "schneider2012", "luo2013", "cabanillas2017",
                       "lenvatinib-japan2016"}
    assert missing_assessments(shipped, review.groups) == []
    # the review loads the shipped file and GRADE reads its overall judgements
    assert review.risk_of_bias is not None and len(review.risk_of_bias) == len(shipped)


def test_shipped_overalls_follow_the_algorithm(shipped):
    f = shipped.frame
    for (sid, outcome), g in f.groupby(["study_id", "outcome"]):
        tool = g["tool"].iloc[0]
        domains = dict(zip(g["domain"], g["judgement"]))
        expected = overall_judgement(tool, domains)
        assert domains["overall"] == expected or g["override_reason"].any(), (sid, outcome)


def test_judgements_that_are_the_review_teams_call_say_so(shipped):
    """Where a judgement rests on an inference (concealment assumed from a matching placebo,
    assessor blinding undone by toxicity, no-information paths), the support says so."""
    f = shipped.frame
    calls = f[f["support"].str.contains(CALL)]
    assert len(calls) > 50
    # D1 low without a described concealment method is always flagged as the team's call
    d1_low = f[(f["tool"] == "RoB 2") & (f["domain"] == "D1") & (f["judgement"] == "low")]
    assert d1_low["support"].str.contains(CALL).all()
    # investigator-assessed or unstated PFS assessors give some concerns in D4, never low
    d4 = f[(f["outcome"] == "PFS") & (f["domain"] == "D4")].set_index("study_id")["judgement"]
    trials = ma.read_trials(TRIALS).frame.set_index("study_id")
    for sid, j in d4.items():
        assessor = trials.loc[sid, "pfs_assessor"]
        assert (j == "low") == (assessor == "central"), (sid, assessor, j)


def test_no_unverified_fact_sheet_value_is_quoted(shipped):
    """The fact sheet's verified=no values (DECISION's 71% crossover and 16.2-month follow-up)
    are not used as facts in the support text."""
    text = " ".join(shipped.frame["support"])
    for value in ("71%", "150/210", "16.2"):
        assert value not in text


# ----------------------------------------------------------------------------- the helpers
def constructed():
    rows = (rob2_lines("a", "PFS", domains=["low"] * 5)
            + rob2_lines("b", "PFS", domains=["low", "some concerns", "low", "low", "low"])
            + rob2_lines("c", "PFS", domains=["high", "low", "low", "low", "low"])
            + rob2_lines("a", "AE", domains=["low"] * 5))
    import pandas as pd

    frame = pd.DataFrame(rows, columns=HEADER)
    frame["line_no"] = range(2, len(frame) + 2)
    return frame


def test_weighted_summary_numbers():
    s = weighted_summary(constructed(), {"a": 2.0, "b": 1.0, "c": 1.0, "d": 4.0}, "PFS")
    share = {(d, j): x for d, j, x in zip(s["domain"], s["judgement"], s["share"])}
    k = {(d, j): x for d, j, x in zip(s["domain"], s["judgement"], s["k"])}
    # total weight 8: a 2, b 1, c 1, d (not assessed) 4
    assert share[("D1", "low")] == pytest.approx(3 / 8)      # a + b
    assert share[("D1", "high")] == pytest.approx(1 / 8)     # c
    assert share[("D2", "some concerns")] == pytest.approx(1 / 8)
    assert share[("D2", "low")] == pytest.approx(3 / 8)      # a + c
    assert share[("D3", "low")] == pytest.approx(4 / 8)      # a + b + c
    assert share[("overall", "low")] == pytest.approx(2 / 8)
    assert share[("overall", "some concerns")] == pytest.approx(1 / 8)
    assert share[("overall", "high")] == pytest.approx(1 / 8)
    assert share[("overall", NOT_ASSESSED)] == pytest.approx(4 / 8) and k[("overall", NOT_ASSESSED)] == 1
    for d, g in s.groupby("domain"):
        assert g["share"].sum() == pytest.approx(1.0), d
    assert list(s.columns) == ["outcome", "tool", "domain", "label", "judgement", "share",
                               "weight", "k"]
    assert len(s) == 6 * 4  # 6 domain rows x (3 judgements + not assessed)


def test_weighted_summary_follows_outcome_groups_and_refuses_bad_weights():
    s = weighted_summary(constructed(), {"a": 1.0, "b": 1.0}, "AE:G3+")  # AE:G3+ -> AE
    assert set(s["outcome"]) == {"AE"}
    ov = s[s["domain"] == "overall"].set_index("judgement")["share"]
    assert ov["low"] == pytest.approx(0.5) and ov[NOT_ASSESSED] == pytest.approx(0.5)
    with pytest.raises(InputError, match="finite and non-negative"):
        weighted_summary(constructed(), {"a": -1.0}, "PFS")
    with pytest.raises(InputError, match="sum to zero"):
        weighted_summary(constructed(), {"a": 0.0}, "PFS")


def test_judgements_for_and_unassessed():
    j = judgements_for(constructed(), ["c", "zz", "a"], "PFS")
    assert list(j.index) == ["c", "zz", "a"]
    assert list(j.columns) == ["tool", "D1", "D2", "D3", "D4", "D5", "overall"]
    assert j.loc["c", "D1"] == "high" and j.loc["c", "overall"] == "high"
    assert j.loc["zz"].isna().all()
    assert unassessed(constructed(), ["a", "zz", "b"], "PFS") == ["zz"]
    assert unassessed(constructed(), ["a", "b"], "AE:G3+") == ["b"]
    assert unassessed(None, ["a"], "PFS") == ["a"]
    (w,) = missing_assessments(constructed(), [("pfs_hr/x", "PFS", ["a", "zz", "yy"])])
    assert w.severity == "warning" and "pfs_hr/x" in w.message and "zz, yy" in w.message


# ---------------------------------------------------------------------------- the figures
@pytest.fixture()
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def markers(ax):
    return sum(len(c.get_offsets()) for c in ax.collections)


def test_traffic_light_draws_every_cell_and_the_legend(shipped, plt):
    from metaanalysis.plots import traffic_light

    f = shipped.frame
    pfs = f[(f["outcome"] == "PFS") & (f["tool"] == "RoB 2")]
    ax = traffic_light(pfs, title="PFS")
    ax.figure.canvas.draw()
    assert markers(ax) == len(pfs) == 10 * 6
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["+  Low", "\u2212  Some concerns",
                                                          "\u00d7  High"]
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["decision", "select"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["D1", "D2", "D3", "D4", "D5",
                                                            "Overall"]
    # each judgement has its own marker shape as well as its colour
    shapes = {}
    for c in ax.collections:
        colour = tuple(c.get_facecolor()[0])
        shapes.setdefault(colour, set()).add(c.get_paths()[0].vertices.shape)
    assert len(shapes) == 3


def test_traffic_light_minors_and_several_outcomes(shipped, plt):
    from metaanalysis.plots import traffic_light

    f = shipped.frame
    m = f[f["tool"] == "MINORS"]
    ax = traffic_light(m, width="single")
    ax.figure.canvas.draw()
    assert markers(ax) == len(m) == 9 * 9
    assert len(ax.get_legend().get_texts()) == 3
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "schneider2012 (OS)" in labels
    # the overall column prints each total score
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("9") >= 1 and texts.count("2") >= 1


def test_traffic_light_refuses_mixed_tools(shipped, plt):
    from metaanalysis.plots import traffic_light

    with pytest.raises(InputError, match="one tool at a time"):
        traffic_light(shipped.frame[shipped.frame["outcome"] == "PFS"])


def test_summary_bars(plt):
    from metaanalysis.plots import rob_summary

    s = weighted_summary(constructed(), {"a": 2.0, "b": 1.0, "c": 1.0, "d": 4.0}, "PFS")
    ax = rob_summary(s)
    ax.figure.canvas.draw()
    # one bar container per judgement with weight; 6 bars (domains) in each
    assert len(ax.containers) == 4 and all(len(c) == 6 for c in ax.containers)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "+  Low", "\u2212  Some concerns", "\u00d7  High", "?  Not assessed"]
    low = ax.containers[0]
    assert [round(b.get_width(), 6) for b in low] == [37.5, 37.5, 50.0, 50.0, 50.0, 25.0]
    # bars of a domain stack to 100%
    right = [max(b.get_x() + b.get_width() for c in ax.containers for b in [c[i]])
             for i in range(6)]
    assert right == pytest.approx([100.0] * 6)
    # hatching tells the judgements apart without colour
    assert len({c[0].get_hatch() for c in ax.containers}) == 4


def test_summary_legend_leaves_out_judgements_without_weight(plt):
    from metaanalysis.plots import rob_summary

    s = weighted_summary(constructed(), {"a": 1.0}, "PFS")
    ax = rob_summary(s)
    ax.figure.canvas.draw()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["+  Low"]


def test_rob_columns_spec(shipped):
    from metaanalysis.plots import rob_columns

    spec = rob_columns(judgements_for(shipped, ["decision", "reality", "nosuch"], "PFS"))
    assert len(spec) == 3 * 6
    row = spec[(spec["study_id"] == "reality") & (spec["domain"] == "D4")].iloc[0]
    assert (row["judgement"], row["symbol"], row["color"]) == ("some concerns", "\u2212",
                                                              "#F0E442")
    empty = spec[spec["study_id"] == "nosuch"]
    assert (empty["symbol"] == "").all() and empty["color"].isna().all()


def test_plots_module_computes_nothing():
    """The plot module imports no statistics: only the tools' vocabulary from review."""
    import ast

    tree = ast.parse((ROOT / "metaanalysis" / "plots" / "risk_of_bias.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m and ("pooling" in m or "effects" in m) for m in imported)


def test_readme_documents_the_file_and_its_counts(shipped):
    import re

    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    section = text.split("## Risk of bias: data/risk_of_bias.csv", 1)[1]
    for tool in TOOLS.values():
        assert f"**{tool.name}**" in section
        for code in tool.domains:
            assert f"`{code}`" in section
    f = shipped.frame
    assert f"{len(f)} lines in all" in section
    overall = f[(f["domain"] == "overall") & (f["tool"] == "RoB 2")]
    assert f"{len(overall)} RoB 2 assessments" in section
    for outcome, g in overall.groupby("outcome"):
        counts = g["judgement"].value_counts()
        m = re.search(rf"{outcome} (\d+) low, (\d+) some concerns, (\d+) high", section)
        assert m, outcome
        assert tuple(int(x) for x in m.groups()) == (counts.get("low", 0),
                                                     counts.get("some concerns", 0),
                                                     counts.get("high", 0)), outcome
