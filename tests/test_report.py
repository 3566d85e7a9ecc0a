"""The report: the main job on the shipped table, its page, its numbers, and what changes when a trial
is added."""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.cli import main
from metaanalysis.report import build_report
from metaanalysis.errors import InputError
from metaanalysis.report.diff import diff_results

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "data" / "studies.csv"


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.svgs, self.tables, self.scripts, self.links = set(), 0, 0, 0, []
        self.h2 = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        self.svgs += tag == "svg"
        self.tables += tag == "table"
        self.scripts += tag == "script"
        for key in ("src", "href"):
            if key in a and a[key] and not a[key].startswith("#"):
                self.links.append(a[key])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    res = build_report(STUDIES, out)
    return out, res


def test_report_writes_page_figures_and_results(report):
    out, res = report
    page = (out / "index.html").read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    # metafor's "<.0001" is text, not the start of a tag
    assert "<.0001" not in page and "&lt;.0001" in page
    # self-contained: no scripts, no external resources; the links go to the report's own files
    assert parser.scripts == 0
    assert parser.links and all("://" not in l and not l.startswith("/") for l in parser.links)
    assert all((out / l).is_file() for l in parser.links)
    protocol = ma.read_protocol(ROOT / "data" / "protocol.toml")
    for a in protocol.analyses:
        assert a.id in parser.ids, f"section {a.id} missing"
        assert f"fig-{a.id}_forest" in parser.ids, f"forest plot of {a.id} missing"
        assert (out / "figures" / f"{a.id}_forest.svg").exists()
        assert (out / "figures" / f"{a.id}_forest.pdf").exists()
    assert {"provenance", "methods", "network", "network-pfs_hr", "network-orr",
            "characteristics", "excluded"} <= parser.ids
    for net in ("pfs_hr", "orr"):
        for fig in ("network_graph", "network_forest", "league_heatmap", "rankogram"):
            assert f"fig-{net}_{fig}" in parser.ids, f"{net} {fig} missing"
    assert "fig-pfs_modelled_curves" in parser.ids and "fig-single_arm_modelled_curves" in parser.ids
    assert "fig-pfs_network_modelled_curves" in parser.ids and "survival-models-network" in parser.ids
    # a sensitivity table for each primary estimate that has variants
    assert "sens-pfs_hr/lenvatinib" in parser.ids and "sens-os_hr/sorafenib" in parser.ids
    results = json.loads((out / "results.json").read_text())
    assert {"tables/estimates.csv", "tables/excluded.csv"} <= set(results["files"])
    import pandas as pd

    est = pd.read_csv(out / "tables" / "estimates.csv")
    assert set(est["id"]) == {a["id"] for a in results["analyses"] if a["role"] != "sensitivity"}
    assert len(pd.read_csv(out / "tables" / "excluded.csv")) == len(results["excluded"])
    assert isinstance(results["analyses"], list)
    ids = {a["id"] for a in results["analyses"]}
    assert {"pfs_hr/lenvatinib", "os_hr/sorafenib", "orr/lenvatinib", "ae_g3_rr/sorafenib"} <= ids
    for a in results["analyses"]:
        assert {"id", "role", "outcome", "measure", "studies", "p"} <= set(a)
        assert a["role"] in ("primary", "secondary", "descriptive", "sensitivity")
    assert "restricted maximum likelihood" in results["methods"]
    assert "Hartung" in results["methods"]
    # second-line trials stay out of the network as out of the first-line analyses (protocol
    # notes), and the caveats on lines of therapy are trials.csv's for the trials in it
    assert [x["study_id"] for x in results["network"]["left_out"]] == ["cosmic311",
                                                                       "cabanillas2017"]
    pfs = results["network"]["networks"]["pfs_hr"]
    treatments = {e["treatment"] for e in pfs["effects"]}
    # the network is exploratory (no hypothesis in the protocol): no comparison is tested, in the
    # JSON or on the page (vandetanib's p = 0.0030 there read against the protocol's 0.149)
    for net in results["network"]["networks"].values():
        assert all(e["pvalue"] is None and "zval" not in e for e in net["effects"])
        assert all(e["pvalue"] is None for e in net["summary"]["effects"])
    assert "so none is tested (no p-values)" in page and "no tests: the protocol states" in \
        results["methods"]
    assert "the rankings carry no rating of the certainty" in page
    # considerable heterogeneity is said beside the estimates it concerns (Cochrane 10.10.2)
    considerable = sorted(a["id"] for a in results["analyses"] if a["role"] != "sensitivity"
                          and a["k"] >= 2 and (a["result"].get("i2") or 0) >= 75)
    assert considerable == ["orr/sorafenib", "orr_second_line/cabozantinib"]
    assert page.count('<p class="warn">Considerable heterogeneity: ') == 2
    assert "Considerable heterogeneity: cabozantinib (I² 92%)" in page
    assert "cabozantinib" not in treatments and "lenvatinib" in treatments
    lines = next(c for c in pfs["caveats"] if c.startswith("Lines of therapy"))
    assert "first line: DECISION, ALTER01032, VERIFY" in lines and "COSMIC-311" not in lines
    assert not any("COSMIC-311" in c for c in pfs["caveats"])
    # the transitivity caveat's range is the placebo medians of the network's own trials (COSMIC-
    # 311's 1.9 months, left out, is not its floor), read from the table, not typed
    frame = ma.read_studies(ROOT / "data" / "studies.csv").frame
    placebo = frame[(frame["outcome"] == "PFS") & (frame["measure"] == "median")
                    & (frame["therapy"] == "placebo") & (frame["data_cut"] != "update")
                    & (frame["study_id"] != "cosmic311")]
    (trans,) = [c for c in pfs["caveats"] if "transitivity" in c]
    assert (f"ranged from {placebo['value'].min():.1f} months (SELECT) to "
            f"{placebo['value'].max():.1f} months (ALTER01032)") in trans
    assert "about 2 to 8" not in " ".join(pfs["caveats"])
    # a single trial's p-value is recomputed from its interval, and the page says so beside it
    single = [a for a in results["analyses"] if a["k"] == 1 and a["p"] is not None
              and a["role"] != "sensitivity"]
    assert single and "0.0435<sup>a</sup>" in page  # REALITY's OS HR 0.42 (0.18-0.97)
    # a single trial's ratio from counts has its own Wald test on the counts: no mark
    from metaanalysis.report.html import _p_from_reported

    counted = [a for a in single if a["natural"]["interval"] == "model"]
    assert counted and not any(_p_from_reported(a) for a in counted)
    assert all(_p_from_reported(a) for a in single if a["natural"]["interval"] == "reported")
    assert page.count("One trial: a Wald test on the standard error") >= 1
    # a median the summary cannot weight (no interval) is named beside the estimates: sorafenib's
    # median PFS rests on two single-arm series without DECISION's 10.8 months
    assert re.search(r'<p class="warn">Not in these estimates, for want of an interval to weight '
                     r"them: DECISION \(sorafenib\) 10\.8 months, line 4;", page)
    # the modelled curves say which studies they leave out and each trial's line of therapy
    # (every single-arm study with a reported median that is not drawn, whatever its population)
    assert [x["study_id"] for x in results["survival_left_out"]] == [
        "cabanillas2010", "capdevila2012", "french-nct02973997", "gupta-abramson2008"]
    # each with the true reason: Luo 2013, whose medians no analysis weights (no interval), is in
    # the review and drawn, so "no analysis uses their medians" was not the rule
    assert "Not drawn among the single-arm studies (see Excluded for their rows): Cabanillas " \
        "2010 (the review analyses none of its results); Capdevila 2012 (the review analyses " \
        "none of its results); Lenvatinib + pembrolizumab (NCT02973997) (the review analyses " \
        "none of its results); Gupta-Abramson 2008 (the review analyses none of its results)." \
        in page
    assert "Single-arm studies, which report only medians" in page
    assert "Single-arm and retrospective studies" not in page   # none of them is drawn
    assert {s["therapy_line"] for s in results["survival"] if s["study_id"] == "cosmic311"} == \
        {"second line"}
    # and what a two-study Knapp-Hartung interval assumes, beside the estimates it concerns
    assert re.search(r"<li>lenvatinib, vandetanib: two studies with the Knapp-Hartung "
                     r"adjustment: the interval uses a t quantile with 1 degree of freedom "
                     r"\(12\.71 instead of 1\.96\)", page)
    # the response network names only its own trials: DIRECTION's counts are unknown and
    # Leboulleux 2012 reports no response, so neither is in it, nor in its caveats
    orr = results["network"]["networks"]["orr"]
    # (the typed caveats named both: "... DIRECTION (donafenib) ... enrolled Chinese patients
    # only", "ALTER01032 and Leboulleux 2012 are randomised phase 2 trials")
    assert any("(trials.csv)" in c for c in orr["caveats"])
    assert not any("DIRECTION" in c or "Leboulleux" in c for c in orr["caveats"])
    assert "Left out of the networks: COSMIC-311 (cosmic311)" in page
    assert "(second line) were left out of the network" in results["methods"]
    # the methods say what was done: the data-cut order as applied (PFS: primary, unlabelled,
    # update, final, interim; OS: the most mature first), GRADE's thresholds as the protocol sets
    # them, the risk-of-bias tools of the table, derived counts, the survival models
    m = results["methods"]
    assert ("the first available of the cut labelled primary, an unlabelled report, an update, "
            "the final analysis and an interim analysis") in m
    assert ("the first available of the final analysis, an update, the cut labelled primary, an "
            "unlabelled report and an interim analysis") in m
    assert "crosses 0.8 or 1.25 for ratios" in m and "fewer than 400 participants" in m
    assert "outside line first or histology DTC" in m
    assert "with MINORS and RoB 2" in m and "back-calculated from the percentage" in m
    assert "Grambsch–Therneau" in m and "Guyot et al. 2012" in m
    assert "the trial's primary analysis" not in m
    # the summary of findings sends its reader to the rules on the page, not into the repository
    assert 'The rules and their thresholds are in the <a href="#methods">Methods</a>' in page
    assert "The certainty of each estimate of a primary analysis was rated with GRADE" in m
    assert "secondary comparisons and the descriptive summaries of single arms were not rated" in m
    # without digitised curves the methods do not describe them
    from metaanalysis.report.methods import methods_paragraph

    proto = ma.read_protocol(ROOT / "data" / "protocol.toml")
    assert "Guyot" not in methods_paragraph(proto, digitised=False)
    assert "Guyot" in methods_paragraph(proto, digitised=True)
    # rules set with the results in view are amendments (PRISMA 2020 item 24c): the Methods do
    # not call the analyses prespecified, and the page lists each change with its date and reason
    assert [a["date"] for a in results["protocol"]["amendments"]] == ["2026-12-06"] * 3 + [
        "2026-12-07"] * 2 + ["2026-12-08"]
    # the protocol itself came after earlier analyses of the table: its analyses are declared,
    # not prespecified, and it is not registered
    assert ("written on 2026-12-03, after earlier analyses of the same study table had been run, "
            "so its analyses are declared, not prespecified; it was amended 6 times since") in m
    assert "before the analyses" not in m and "Registration: not registered." in m
    assert "Prespecified" not in m
    listed = page[page.index('id="amendments"'):]
    assert listed.count("<li>2026-12-06: ") == 3 and "two_study_interval" in listed
    assert "from low to moderate certainty" in listed and "crossover_outcomes" in listed
    assert 'The protocol was amended after analyses had been run (6 times' in page
    # each rating an amended [grade] rule changed is given as the rules first stood, too
    before = {r["id"]: r["certainty_before_amendments"] for r in results["summary_of_findings"]
              if r["certainty_before_amendments"]}
    assert before == {"pfs_hr/lenvatinib": "low", "pfs_hr/vandetanib": "very low",
                      "os_hr/sorafenib": "moderate", "os_hr/anlotinib": "low"}
    assert "<b>moderate</b> (low under the rules before the amendments)" in page
    # overall survival against placebo arms that crossed over is indirect (the amended rule)
    sor = {d["domain"]: d for d in results["grade"]["os_hr/sorafenib"]["domains"]}
    assert sor["indirectness"]["downgrade"] == 1
    assert "decision (comparator could cross over to the drug)" in sor["indirectness"]["reason"]
    assert "for OS, whose placebo patients could cross over to the drug" in m
    # estimates from trials reported at an interim analysis are marked, not rated down
    interim = {r["id"]: r["interim"] for r in results["summary_of_findings"] if r["interim"]}
    assert interim == {"pfs_hr/donafenib": ["DIRECTION"], "pfs_hr/apatinib": ["REALITY"],
                       "os_hr/apatinib": ["REALITY"]}
    assert "(not rated down): donafenib (DIRECTION), apatinib (REALITY)" in page
    # eligible trials without a result are named beside the summary of findings they are missing
    # from, and every analysis has its list in the JSON
    assert set(results["missing_evidence"]) == {a["id"] for a in results["protocol"]["analyses"]}
    assert '<p class="warn">5 eligible trials give this outcome no usable result' in page
    assert "<li>Study 308: no AE:G3+ row in the study table</li>" in page
    import dataclasses

    unamended = methods_paragraph(dataclasses.replace(
        proto, amendments=(), review={**proto.review, "timing": "prospective"}))
    assert "protocol.toml) written on 2026-12-03, before the analyses were run" in unamended
    # a digitised pair's numbers carry their unit and direction
    assert re.search(r"RMST difference \(test minus standard\) to 528 days \([^)]*\): "
                     r"3\.3 \(-43\.6 to 50\.2\) days; ratio 1\.03 \(0\.71–1\.49\)\.", page)
    assert "<th>HR, test against standard (95% CI)</th>" in page and "121 onwards" in page
    # the ranking is in the results, best first, with placebo last in both networks
    assert results["rankings"]["pfs_hr_pscore"][-1] == "placebo"
    assert results["rankings"]["orr_pscore"][-1] == "placebo"
    # small-study tests are not run on a handful of trials, and the record says why
    assert "not assessable" in results["analyses"][0]["small_study"]["not_run"]
    # the flow names the included studies no analysis uses, and links to their rows' reasons
    prisma = results["prisma"]
    assert prisma["studies_analysed"] + len(prisma["not_analysed"]) == prisma["studies_included"]
    assert (f"{prisma['studies_analysed']} of the {prisma['studies_included']} included studies "
            "have a result in at least one analysis") in page
    assert all(sid in page for sid in prisma["not_analysed"])
    # every declared sensitivity analysis has a row: a result or the reason it has none
    notes = {r["analysis"]: r["note"] for r in results["sensitivity"]["pfs_hr/lenvatinib"]}
    assert notes["first-line trials only"] == "no study left: not estimable"
    assert "no study left: not estimable" in page


def test_provenance_table_lists_every_row_with_source_and_warnings(report):
    out, _ = report
    page = (out / "index.html").read_text(encoding="utf-8")
    section = page[page.index('id="provenance"'):page.index('id="methods"')]
    table = ma.read_studies(STUDIES)
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>", section)
    assert sorted(int(r) for r in rows) == sorted(table.frame["line"])
    assert section.count("⚠") == len(table.warnings)
    for src in set(table.frame["source"]):
        assert src.replace("&", "&amp;") in section or src in section


def test_pooled_numbers_equal_a_direct_pool(report):
    """The page's lenvatinib PFS-HR is pool() on the rows the analysis names (no second computation)."""
    _, res = report
    entry = next(a for a in res.results["analyses"] if a["id"] == "pfs_hr/lenvatinib")
    lines = [l for s in entry["studies"] for l in s["lines"]]
    table = ma.read_studies(STUDIES).frame.set_index("line").loc[lines]
    eff = ma.ratio_from_ci(table["value"], table["ci_low"], table["ci_high"], table["ci_level"] * 100)
    direct = ma.pool(eff.yi, eff.vi, method="REML", test="knha")
    assert entry["result"]["estimate"] == pytest.approx(direct.estimate, rel=1e-12)
    assert entry["natural"]["estimate"] == pytest.approx(math.exp(direct.estimate), rel=1e-12)
    assert entry["p"] == pytest.approx(direct.pvalue, rel=1e-10)
    # one row per trial: SELECT's primary analysis (central review), not its update
    assert len(set(table["study_id"])) == len(table)
    assert set(table["data_cut"]) <= {"primary", ""}
    vandetanib = next(a for a in res.results["analyses"] if a["id"] == "pfs_hr/vandetanib")
    vlines = [l for s in vandetanib["studies"] for l in s["lines"]]
    levels = ma.read_studies(STUDIES).frame.set_index("line").loc[vlines, "ci_level"].tolist()
    assert 0.60 in [round(x, 2) for x in levels]   # Leboulleux's 60% interval is read as such


def test_report_is_deterministic(report, tmp_path):
    out, _ = report
    again = build_report(STUDIES, tmp_path / "again")
    # every file, the manuscript tables' ZIP packages and the list of written files included
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.directory) for p in again.directory.rglob("*")
                           if p.is_file())
    assert {"results.json", "tables/review_tables.docx", "tables/review_tables.xlsx",
            "figures/pfs_hr_forest.svg", "figures/orr_forest.pdf"} <= {str(f) for f in files}
    changed = [str(f) for f in files if (out / f).read_bytes() != (again.directory / f).read_bytes()]
    assert changed == []


def test_adding_a_trial_updates_the_report_and_the_diff_names_it(report, tmp_path):
    out, res = report
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("studies.csv", "trials.csv", "protocol.toml", "risk_of_bias.csv"):
        shutil.copy(ROOT / "data" / name, folder / name)
    table_copy = folder / "studies.csv"
    new_rows = tmp_path / "new.csv"
    header = STUDIES.read_text(encoding="utf-8").splitlines()[0].split(",")
    values = dict.fromkeys(header, "")
    values.update(study_id="newtrial2026", trial="NEW-1", year="2026", design="rct",
                  arm="lenvatinib vs placebo", therapy="lenvatinib", comparator="placebo",
                  outcome="PFS", measure="hr", value="1.30", ci_low="1.05", ci_high="1.61",
                  ci_level="0.95", n="400", source="doi:10.0000/invented-for-test",
                  locator="test fixture", notes="a fictitious trial used only to test the diff")
    new_rows.write_text(",".join(header) + "\n" + ",".join(values[h] for h in header) + "\n")
    # the new study needs its characteristics (the report would refuse to run): add refuses it
    before = table_copy.read_bytes()
    assert main(["add", str(new_rows), "--studies", str(table_copy)]) == 2
    assert table_copy.read_bytes() == before
    trials_header = (folder / "trials.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    t = dict.fromkeys(trials_header, "")
    t.update(study_id="newtrial2026", trial="NEW-1", design="rct", phase="3", randomised="yes",
             line="first", histology="DTC", source="doi:10.0000/invented-for-test")
    with open(folder / "trials.csv", "a", encoding="utf-8") as fh:
        fh.write(",".join(t[h] for h in trials_header) + "\n")
    assert main(["add", str(new_rows), "--studies", str(table_copy)]) == 0
    new = build_report(table_copy, tmp_path / "new-report", compare=out / "results.json",
                       formats=("svg",))
    k_change = [c for c in new.diff.changes if c.analysis == "pfs_hr/lenvatinib" and c.field == "k"]
    assert k_change and k_change[0].old + 1 == k_change[0].new
    assert any(c.analysis == "pfs_hr/lenvatinib" and c.kind == "significance"
               for c in new.diff.changes)
    # a conclusion a reader acts on: the certainty of the primary estimate, flagged
    old_grade = json.loads((out / "results.json").read_text())["grade"]["pfs_hr/lenvatinib"]
    new_grade = json.loads((tmp_path / "new-report" / "results.json").read_text())["grade"][
        "pfs_hr/lenvatinib"]
    certainty = [c for c in new.diff.flagged if c.analysis == "pfs_hr/lenvatinib"
                 and c.kind == "certainty"]
    assert old_grade["certainty"] != new_grade["certainty"]
    assert [(c.old, c.new) for c in certainty] == [(old_grade["certainty"],
                                                    new_grade["certainty"])]
    page = (tmp_path / "new-report" / "index.html").read_text(encoding="utf-8")
    assert 'id="changes"' in page
    # the CLI diff says the same
    d = diff_results(out / "results.json", tmp_path / "new-report")
    assert any(c.analysis == "pfs_hr/lenvatinib" and c.field == "estimate" for c in d.changes)


def test_single_study_rows_print_the_reported_interval(report):
    # ALTER01032's median PFS, 40.54 (28.29-NE): the tables print "NE", never an imputed bound
    out, res = report
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("40.54 (28.29–NE)") >= 2  # the estimates table and the sensitivity table
    assert "28.29–58" not in page
    sof = {r["id"]: r for r in res.results["summary_of_findings"]}
    assert sof["pfs_hr/sorafenib"]["relative_effect"] == "HR 0.59 (0.45–0.76)"
    # the modelled median with therapy beside the medians the trials observed
    assert ("reported: 18.3 months (SELECT; placebo 3.6 months), 23.9 months (Study 308; placebo "
            "3.7 months)") in page
    # apatinib OS: REALITY did not reach the median with apatinib, so the modelled 71 months is
    # marked as an extrapolation, and the trial's follow-up is named
    assert "not reached (REALITY; placebo 29.9 months)" in page
    assert sof["os_hr/apatinib"]["median_with_therapy"].endswith("(extrapolated)")
    # the absolute effects themselves are risks by 24 months (OS) and 12 months (PFS), with the
    # modelled median under them: placebo PFS median 5.8 months (DECISION), HR 0.59
    assert sof["pfs_hr/sorafenib"]["comparator"] == (
        f"{1000 * (1 - 0.5 ** (12 / 5.8)):.0f} per 1,000 progressed or died by 12 months")
    assert "died by 24 months" in sof["os_hr/apatinib"]["comparator"]
    assert "modelled: median 9.8 months (7.6–12.9)" in page
    assert ("apatinib extrapolated: no trial reached the median with the therapy (REALITY: "
            "median follow-up 18.1 months)") in page
    # and the assumption shared by the outcome's rows is said once under its table
    assert "given beside it; median with therapy" not in page


def test_summary_of_findings_says_what_its_empty_and_unassessed_cells_mean(report):
    # ALTER01032 reports no OS median in either arm: the empty absolute effect says why; no
    # estimate has the 10 studies publication bias needs, which "not detected" must not suggest;
    # lenvatinib PFS (two trials, Knapp-Hartung t(1) interval 0.04-0.93) is judged for
    # imprecision on the fit's z interval, printed in its reason
    import html as html_module

    out, res = report
    page = html_module.unescape((out / "index.html").read_text(encoding="utf-8"))
    sof = {r["id"]: r for r in res.results["summary_of_findings"]}
    assert sof["os_hr/anlotinib"]["difference"] is None
    assert sof["os_hr/anlotinib"]["no_absolute"] == ("no absolute effect: no trial reports the "
                                                    "median or a 24-month rate with placebo")
    assert ("anlotinib: no absolute effect: no trial reports the median or a 24-month rate with "
            "placebo") in page
    assert ("publication bias not assessable by a test (fewer than 10 studies) for sorafenib, lenvatinib, "
            "vandetanib, donafenib, anlotinib, apatinib") in page
    grade = res.results["grade"]["pfs_hr/lenvatinib"]
    imp = next(d for d in grade["domains"] if d["domain"] == "imprecision")
    assert grade["certainty"] == "moderate" and imp["downgrade"] == 0
    assert "judged on the z interval of the same fit, 0.15 to 0.25" in imp["reason"]


def test_the_grade_rules_in_force_are_recorded_and_the_page_reads_them(report):
    # the thresholds a judgement used are in results.json (the protocol's [grade] over the
    # defaults); the page's "not assessable" note takes its number from there, not from a
    # judgement's wording
    import copy
    from dataclasses import asdict

    from metaanalysis.report.html import _sof_block
    from metaanalysis.review import read_protocol
    from metaanalysis.review.grade import GradeRules

    _, res = report
    rules = res.results["protocol"]["grade_rules"]
    declared = read_protocol(Path(res.results["protocol"]["path"])).grade
    assert rules["two_study_interval"] == declared["two_study_interval"] == "z"
    assert rules["ois_participants"] == declared["ois_participants"]
    assert rules["small_study_min_k"] == asdict(GradeRules())["small_study_min_k"] == 10
    changed = copy.deepcopy(res.results)
    changed["protocol"]["grade_rules"]["small_study_min_k"] = 8
    assert "not assessable by a test (fewer than 8 studies) for sorafenib" in _sof_block(changed)


def test_an_override_that_removes_a_downgrade_is_shown(tmp_path):
    # the review team's judgement replaces the rule's; the page and the exports show it (†) with
    # what the rule said, also when the override removes a downgrade
    import html as html_module
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    (data / "grade_overrides.csv").write_text(
        "estimate,domain,downgrade,reason\n"
        "os_hr/lenvatinib,imprecision,0,the review team judges 392 participants sufficient\n",
        encoding="utf-8")
    res = build_report(data / "studies.csv", tmp_path / "r", formats=("svg",))
    page = html_module.unescape((tmp_path / "r" / "index.html").read_text(encoding="utf-8"))
    assert ("imprecision: the review team judges 392 participants sufficient † (the rule: −1)"
            in page)
    assert "−0" not in page  # a judgement without a downgrade is not written as "−0"
    row = next(r for r in res.results["summary_of_findings"] if r["id"] == "os_hr/lenvatinib")
    assert ("imprecision: the review team judges 392 participants sufficient † (review team; "
            "the rule: -1)") in row["reasons"]


def test_forest_captions_say_what_the_figure_draws(report):
    """A caption names where the squares' intervals come from, and promises diamonds only where
    some therapy has two or more studies."""
    import html as html_module
    import re

    out, _ = report
    page = html_module.unescape((out / "index.html").read_text(encoding="utf-8"))
    captions = dict(re.findall(r"Forest plot: ([^.]+)\. (Squares: [^<]*?\.)", page))
    rr = captions["Objective response: risk ratio against placebo"]
    assert "intervals computed from the arm counts" in rr and "diamonds" in rr  # lenvatinib k = 2
    ae = captions["Grade 3 or worse adverse events: risk ratio against placebo"]
    assert "one study per therapy: no pooled estimate" in ae and "diamonds" not in ae
    pfs = captions["Progression-free survival: hazard ratio against placebo"]
    assert "intervals as reported" in pfs and "diamonds: pooled estimate" in pfs
    orr = captions["Objective response on each drug"]
    assert "the intervals the studies report, or the exact interval of their counts" in orr


def test_diff_flags_a_significance_change():
    old = {"meta": {}, "analyses": {"x": {"title": "X", "null": 0.0, "result": {
        "k": 3, "estimate": -0.3, "ci_low": -0.5, "ci_high": -0.1}}}}
    new = {"meta": {}, "analyses": {"x": {"title": "X", "null": 0.0, "result": {
        "k": 4, "estimate": -0.1, "ci_low": -0.3, "ci_high": 0.1}}}}
    d = diff_results(old, new)
    assert [c.kind for c in d.flagged] == ["significance"]
    assert "no longer significant" in d.flagged[0].message
    assert diff_results(old, old).changes == ()


@pytest.mark.parametrize("content", ["[1, 2]", "{}", "null", '{"meta": {}, "analyses": 5}', "not json"])
def test_diff_refuses_what_is_not_a_results_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = {"meta": {}, "analyses": {}}
    (tmp_path / "good.json").write_text(json.dumps(good))
    assert main(["diff", str(bad), str(tmp_path / "good.json")]) == 2
    assert main(["diff", str(tmp_path / "good.json"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(bad) in err


_ONE = {"id": "x/a", "null_scale": 0.0, "p": 0.2, "warnings": [],
        "result": {"k": 2, "estimate": -0.3, "ci_low": -0.7, "ci_high": 0.1},
        "natural": {"estimate": 0.74, "ci_low": 0.5, "ci_high": 1.1}}


@pytest.mark.parametrize("damage, where", [
    (lambda a: a["result"].update(estimate="-0.3"), "result.estimate is '-0.3'"),
    (lambda a: a["result"].update(k=True), "result.k is True"),
    (lambda a: a["natural"].update(ci_low=[0.5]), "natural.ci_low is [0.5]"),
    (lambda a: a.update(p="0.2"), "p is '0.2'"),
    (lambda a: a.update(natural=0.74), "'natural' is not an object"),
    (lambda a: a.update(warnings=[{"w": 1}]), "'warnings' is not a list of texts"),
])
def test_diff_refuses_damaged_numbers_naming_the_field(tmp_path, capsys, damage, where):
    # a damaged number was read as missing: a change to NA, or no change where there was one
    import copy

    good = {"meta": {}, "analyses": [_ONE]}
    bad = copy.deepcopy(good)
    damage(bad["analyses"][0])
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["diff", str(tmp_path / "good.json"), str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.json'}: analysis 'x/a': {where}" in err and "Traceback" not in err
    # null is a number a report could not estimate, not damage
    missing = copy.deepcopy(good)
    missing["analyses"][0]["result"]["estimate"] = None
    (d,) = diff_results(good, missing).changes
    assert (d.field, d.new) == ("estimate", None)


@pytest.mark.parametrize("text", ['"estimate": NaN', '"estimate": Infinity', '"estimate": -Infinity',
                                  '"estimate": 1e999'])
def test_diff_refuses_numbers_json_does_not_have(tmp_path, capsys, text):
    good = json.dumps({"meta": {}, "analyses": [_ONE]})
    (tmp_path / "good.json").write_text(good)
    (tmp_path / "bad.json").write_text(good.replace('"estimate": -0.3', text))
    assert main(["diff", str(tmp_path / "good.json"), str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert ("is not a JSON number" in err or "not a finite number" in err) and "Traceback" not in err


def test_diff_refuses_damaged_rankings_and_warnings():
    good = {"meta": {}, "analyses": [_ONE], "rankings": {"pfs": ["a", "b"]}, "warnings": ["w"]}
    for key, value, fragment in (("rankings", {"pfs": 3}, "'rankings'"),
                                 ("warnings", [["w"]], "'warnings'")):
        with pytest.raises(InputError, match=fragment):
            diff_results(good, dict(good, **{key: value}))
    assert diff_results(good, good).changes == ()


def test_rerun_removes_only_the_files_an_earlier_report_wrote(tmp_path, report):
    out, _ = report
    target = tmp_path / "r"
    shutil.copytree(out, target)
    (target / "figures" / "mine.png").write_bytes(b"user file")
    (target / "diff.json").write_text("{}")  # not listed by the earlier report: kept
    # a table with only two trials: most analyses and their figures disappear
    small = tmp_path / "few.csv"
    lines = STUDIES.read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [l for l in lines[1:] if l.startswith(("decision,", "select,"))]
    small.write_text("\n".join(keep) + "\n", encoding="utf-8")
    res = build_report(small, target, formats=("svg",), protocol=ROOT / "data" / "protocol.toml",
                       trials=ROOT / "data" / "trials.csv")
    listed = {str(p.relative_to(target)) for p in res.files}
    on_disk = {str(p.relative_to(target)) for p in target.rglob("*")
               if p.is_file() and not p.name.startswith(".metaanalysis-report.")}
    assert on_disk - listed == {"figures/mine.png", "diff.json"}


def test_cli_report_bad_method_exits_2(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path / "r"), "--method", "XX"]) == 2
    err = capsys.readouterr().err
    assert "XX" in err and "REML" in err
    assert not (tmp_path / "r").exists()


def test_diff_reads_the_protocol_p_value_of_list_records():
    old = {"meta": {}, "analyses": [{"id": "x/a", "p": 0.2, "null_scale": 0.0, "result": {
        "k": 2, "estimate": -0.3, "ci_low": -0.7, "ci_high": 0.1, "pvalue": 0.2}}]}
    new = {"meta": {}, "analyses": [{"id": "x/a", "p": None, "null_scale": 0.0, "result": {
        "k": 2, "estimate": -0.3, "ci_low": -0.7, "ci_high": 0.1, "pvalue": 0.2}}]}
    d = diff_results(old, new)
    assert [(c.analysis, c.field) for c in d.changes] == [("x/a", "pvalue")]


def test_curves_of_studies_outside_the_table_are_labelled_examples(report):
    from metaanalysis.report.html import _survival_models_block

    out, res = report
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Not a study of this review: veteran." in page
    assert page.count("worked example, not in the study table: veteran") == 3
    # the same curves, had their study been in the table: no such label
    section = res.results["survival_models"]
    inside = _survival_models_block(section, [], {"veteran"})
    assert "Not a study of this review" not in inside and "worked example" not in inside
    # nor do the Methods describe the examples' models as the review's own
    assert "No study of the review has a digitised curve; on the worked examples shipped beside " \
        "the table, digitised Kaplan–Meier curves were turned back" in res.results["methods"]
    from metaanalysis.report.methods import methods_paragraph

    own = methods_paragraph(ma.read_protocol(ROOT / "data" / "protocol.toml"),
                            digitised="review")
    assert "Digitised Kaplan–Meier curves were turned back" in own and "worked examples" not in own
    from metaanalysis.report import _digitised_kind

    assert _digitised_kind(ROOT / "data" / "curves", {"veteran"}) == "review"
    assert _digitised_kind(ROOT / "data" / "curves", {"decision"}) == "example"
    assert _digitised_kind(ROOT / "data" / "no-such-folder", {"decision"}) == ""


def test_contents_links_read_as_their_headings(report):
    # a reader who clicks "Survival curves" must land on a heading that says what it is; every
    # link of Contents names its section as the section's own heading does
    import html as _html
    import re

    out, _ = report
    page = (out / "index.html").read_text(encoding="utf-8")
    start = page.index("<h2>Contents</h2>")
    contents = page[start:page.index("<h2", start + 10)]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', contents)
    assert len(links) >= 20 and ("amendments", "Changes from the protocol") in links
    for anchor, label in links:
        heading = re.search(rf'<h[23] id="{re.escape(anchor)}">(.*?)</h[23]>', page)
        assert heading, anchor
        assert _html.unescape(heading.group(1)) == _html.unescape(label), anchor


def test_the_interval_imprecision_was_judged_on_is_beside_the_printed_one(report):
    # two studies with Knapp-Hartung print a t(1) interval; imprecision is judged on the z
    # interval of the same fit (the protocol's two_study_interval): the row shows both
    out, _ = report
    results = json.loads((out / "results.json").read_text())
    rows = {r["id"]: r for r in results["summary_of_findings"]}
    assert rows["pfs_hr/vandetanib"]["relative_effect"] == "HR 0.70 (0.23–2.08)"
    assert rows["pfs_hr/vandetanib"]["imprecision_interval"] == "0.55–0.88"
    assert rows["pfs_hr/lenvatinib"]["imprecision_interval"] == "0.15–0.25"
    # a single study's row prints its own interval and is judged on it
    assert rows["pfs_hr/sorafenib"]["imprecision_interval"] is None
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "HR 0.70 (0.23–2.08)<br><span class=\"note\">imprecision judged on the z interval " \
           "0.55–0.88</span>" in page
    assert "not reached months" not in page


def test_a_therapy_without_an_estimate_keeps_its_summary_of_findings_row(report):
    # vandetanib has a PFS estimate but no OS one: its OS row says so and what its trials do
    # report (VERIFY's deaths, 33/117 against 16/118), not rated; a reader does not see a PFS
    # benefit with nothing on death (Handbook ch. 14)
    import html as _html
    import re

    out, _ = report
    page = (out / "index.html").read_text(encoding="utf-8")
    os_table = page[page.index("Summary of findings: Overall survival"):]
    os_table = os_table[:os_table.index("</table>")]
    rows = {re.sub("<[^>]+>", "", m.group(1)): _html.unescape(re.sub("<[^>]+>", " ", m.group(0)))
            for m in re.finditer(r"<tr><td>([^<]+)</td>.*?</tr>", os_table)}
    assert "no estimate" in rows["vandetanib"] and "not rated" in rows["vandetanib"]
    assert "DEATHS (vandetanib 33/117, placebo 16/118)" in rows["vandetanib"]
    assert "donafenib 88.3% at 18 months, placebo 73.5% at 18 months" in rows["donafenib"]
    # a therapy with an estimate has one row, the estimate's
    assert "no estimate" not in rows["lenvatinib"]
    results = json.loads((out / "results.json").read_text())
    verify = next(m for m in results["missing_evidence"]["os_hr"] if m["study_id"] == "verify")
    assert verify["therapies"] == ["vandetanib"]


def test_a_modelled_median_past_the_follow_up_says_so(report):
    # a modelled median carries a constant hazard: where it, or its interval's upper end, lies
    # past the longest follow-up any trial reports, the cell says so (lenvatinib PFS's 89.5
    # months after SELECT's 17.4); within it (sorafenib PFS) nothing is added
    out, _ = report
    sof = {r["id"]: r for r in json.loads((out / "results.json").read_text())["summary_of_findings"]}
    assert sof["pfs_hr/lenvatinib"]["median_with_therapy"].endswith(
        "(the median and its upper bound lie past the longest follow-up reported, SELECT: mean "
        "follow-up 17.4 months)")
    assert sof["pfs_hr/apatinib"]["median_with_therapy"].endswith(
        "(the upper bound lies past the longest follow-up reported, REALITY: median follow-up "
        "18.1 months)")
    assert sof["pfs_hr/sorafenib"]["median_with_therapy"] == "median 9.8 months (7.6–12.9)"
