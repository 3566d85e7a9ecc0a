"""The report page: one self-contained HTML file (inline SVG figures, inline CSS, no scripts)."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

from .._base import fmt_p as _fmt_p


def fmt_p(p) -> str:
    """A p-value as metafor prints it, escaped for HTML ("<.0001" would read as a tag)."""
    return html.escape(_fmt_p(p))

CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
 padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;
 margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.figure{margin:1em 0;overflow-x:auto}.figure svg{max-width:100%;height:auto}
.table-wrap{overflow-x:auto;max-width:100%}
.note{color:#555;font-size:.9em}.warn{color:#8a4b00}.flag{color:#b00020;font-weight:bold}
.meta{color:#555;font-size:.9em}code{font-size:.95em}
figure{margin:1.2em 0}figcaption,caption{color:#333;font-size:.9em;text-align:left;padding:.3em 0}
caption{caption-side:top;font-weight:600}
@media print{body{max-width:none;margin:0;font-size:10pt}a{color:inherit;text-decoration:none}
 h2,h3{break-after:avoid}figure,table,tr{break-inside:avoid}details>*{display:block}
 .figure,.table-wrap{overflow:visible}}
"""


class _Numbering:
    """Figure and table numbers in page order (reset for every page)."""

    def __init__(self):
        self.figures = 0
        self.tables = 0

    def figure(self) -> int:
        self.figures += 1
        return self.figures

    def table(self) -> int:
        self.tables += 1
        return self.tables


# The page is rendered top to bottom in one call; its blocks number figures and tables through
# this counter, which render_page resets, so that numbers follow the page order.
_NUMBERS = _Numbering()


def esc(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float) and math.isnan(x):
        return ""
    return html.escape(str(x))


def num(x, digits=2) -> str:
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}f}"


def inline_svg(path) -> str:
    text = Path(path).read_text(encoding="utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    return text.strip()


def table_html(header, rows, numeric=(), caption=None) -> str:
    """A table; with a caption it is numbered ("Table 3. ...")."""
    cap = ""
    if caption:
        cap = f"<caption>Table {_NUMBERS.table()}. {esc(caption)}</caption>"
    # wide tables scroll inside their own box, not the page
    out = [f'<div class="table-wrap"><table>{cap}<thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in header)
           + "</tr></thead><tbody>"]
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{c}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _figure_block(figures, key) -> str:
    blocks = []
    for fig in figures:
        if fig["key"] == key:
            files = [Path(f).name for f in fig["files"]]
            links = " · ".join(f'<a href="figures/{esc(n)}">{esc(Path(n).suffix[1:].upper())}</a>'
                               for n in files)
            blocks.append(f'<figure class="figure" id="fig-{esc(fig["name"])}">'
                          f'{inline_svg(fig["svg"])}<figcaption>Figure {_NUMBERS.figure()}. '
                          f'{esc(fig["caption"])} {links}</figcaption></figure>')
    return "".join(blocks)


def _natural_text(x, effect, digits=2):
    if x is None:
        return "–"
    if effect == "PROPORTION":
        return f"{100 * x:.1f}%"
    if effect == "RD":
        return f"{100 * x:+.1f} pp"
    return num(x, digits)


def _estimate_text(nat, effect):
    # a single study's reported interval may lack a bound (a median not reached): "NE", as the
    # paper prints it, never an imputed number
    def bound(x):
        return "NE" if x is None and nat.get("reported") is True else _natural_text(x, effect)

    return (f"{_natural_text(nat.get('estimate'), effect)} "
            f"({bound(nat.get('ci_low'))}–{bound(nat.get('ci_high'))})")


_ROLE_TEXT = {"primary": "Primary analysis", "secondary": "Secondary analysis",
              "descriptive": "Descriptive summary (no hypothesis test)"}


def _unweighted_rows(declared, table) -> list:
    """The rows an analysis could not weight for want of an interval, as text ("DECISION
    (sorafenib) 10.8 months, line 4"): said beside the estimates, not only among the rows not
    used, since a summary without them can mislead (sorafenib's median PFS without DECISION's)."""
    from ..review.analyses import NO_INTERVAL

    frame = getattr(table, "frame", None)
    if frame is None or "line" not in frame:
        return []
    by_line = frame.set_index("line")
    out = []
    for e in declared.get("not_used") or ():
        if e.get("reason") != NO_INTERVAL:
            continue
        line = int(e["line"])
        if line not in by_line.index:
            continue
        r = by_line.loc[line]
        unit = "" if str(r.get("unit", "")) in ("", "nan", "fraction") else f" {r['unit']}"
        value = r["value"]
        shown = (f"{100 * value:g}%" if str(r.get("measure")) == "proportion"
                 else f"{value:g}{unit}")
        out.append(f"{r.get('trial') or r.get('study_id')} ({r.get('arm') or r.get('therapy')}) "
                   f"{shown}, line {line}")
    return out


def _p_from_reported(g) -> bool:
    """A single trial's p-value recomputed from the interval it reports (not from counts)."""
    return (g["k"] == 1 and g["p"] is not None
            and (g.get("natural") or {}).get("interval") == "reported")


def _lower_first(title: str) -> str:
    """"Progression-free survival after a VEGFR-targeted drug" in running text: the first letter
    down, acronyms (VEGFR, PFS) kept."""
    first = title.split(" ", 1)[0]
    return title if first.isupper() else title[:1].lower() + title[1:]


def _analysis_block(declared, groups, sensitivity, figures, table=None) -> str:
    """One protocol analysis: what it assumes, its figure, its estimates, sensitivity, rows not used."""
    aid = declared["id"]
    level = declared["level"]
    lines = [f'<h2 id="{esc(aid)}">{esc(declared["title"])}</h2>',
             f'<p class="meta">{esc(_ROLE_TEXT.get(declared["role"], declared["role"]))}; '
             f'measure {esc(declared["measure"])}; '
             + ("one estimate per therapy, none across therapies" if declared["group_by"] == "therapy"
                else "one estimate across therapies: assumes a class effect")
             + "; " + ("random-effects model, tau² by " + esc(declared["method"]) + ", "
                       + ("Knapp–Hartung" if declared["test"] == "knha" else esc(declared["test"]) + " test")
                       if declared["model"] == "random" else "common-effect model")
             + (f"; null hypothesis {declared['null']:g}" if declared["null"] is not None
                else "; no hypothesis: no p-value") + ".</p>"]
    if declared.get("notes"):
        lines.append(f'<p class="note">Assumptions: {esc(declared["notes"])}</p>')
    lines.append(_figure_block(figures, aid))
    rob_figs = _figure_block(figures, f"rob:{aid}")
    if rob_figs:
        lines.append(f'<h3 id="rob-{esc(aid)}">Risk of bias</h3>' + rob_figs)
    missing = declared.get("missing_rob") or []
    if missing:
        lines.append('<p class="warn">No risk-of-bias assessment for: '
                     + esc(", ".join(missing)) + ".</p>")
    rows = []
    for g in groups:
        nat = g["natural"]
        r = g["result"]
        studies = ", ".join(e["label"] for e in g.get("entries", []))
        pi = ("–" if g["k"] < 3 or nat.get("pi_low") is None else
              f"{_natural_text(nat['pi_low'], g['measure'])}–{_natural_text(nat['pi_high'], g['measure'])}")
        rows.append([esc(g["group"]), esc(g["k"]), esc(studies), _estimate_text(nat, g["measure"]),
                     pi, ("–" if g["k"] < 2 else num(r.get("i2"), 0) + "%"),
                     "–" if g["p"] is None else
                     fmt_p(g["p"]) + ("<sup>a</sup>" if _p_from_reported(g) else "")])
    lines.append(table_html(["therapy", "k", "studies", f"estimate ({level:g}% CI)",
                             f"{level:g}% PI", "I²", "p"], rows, numeric=(1, 3, 4, 5, 6),
                            caption=f"{declared['title']}: estimates by therapy"
                            + ("" if declared["null"] is not None else " (descriptive, no test)")))
    # Cochrane Handbook 10.10.2: I² of 75 % or more may be considerable heterogeneity, where one
    # summary can mislead (the second-line response pooled 40 % and 11 % into 22 %, 0-100 %)
    wide = [f"{g['group']} (I² {num(g['result'].get('i2'), 0)}%)" for g in groups
            if g["k"] >= 2 and (g["result"].get("i2") or 0) >= 75]
    if wide:
        lines.append('<p class="warn">Considerable heterogeneity: ' + esc(", ".join(wide))
                     + ". One summary of studies this different may mislead: read each study's "
                     "estimate in the figure, and the prediction interval where there is one.</p>")
    if any(_p_from_reported(g) for g in groups):
        # the trial's own p-value (a log-rank test, often) is not in the table: this one is
        # recomputed, and a reader comparing it with the paper must know why it differs
        lines.append('<p class="note"><sup>a</sup> One trial: a Wald test on the standard error '
                     "that its reported (rounded) interval implies, not the p-value the trial "
                     "reports (often from a log-rank test), which may differ.</p>")
    # what each estimate assumes (results.json's notes), said once with the therapies it
    # concerns; the single trial's note is the mark above
    said: dict = {}
    for g in groups:
        for n in g.get("notes") or ():
            if not n.startswith("a single study"):
                said.setdefault(n, []).append(g["group"])
    if said:
        lines.append('<ul class="note">' + "".join(
            f"<li>{esc(', '.join(who))}: {esc(n)}.</li>" for n, who in said.items()) + "</ul>")
    unweighted = _unweighted_rows(declared, table)
    if unweighted:
        lines.append('<p class="warn">Not in these estimates, for want of an interval to weight '
                     "them: " + esc("; ".join(unweighted)) + ". The estimates describe only the "
                     "studies that report one.</p>")
    for g in groups:
        sens = sensitivity.get(g["id"])
        if not sens or len(sens) < 2:
            continue
        srows = [[esc(x["analysis"]), "–", f'<span class="note">{esc(x["note"])}</span>', "–",
                  "–", "–"] if x.get("note") else
                 [esc(x["analysis"]), esc(x["k"]),
                  _estimate_text(x, g["measure"]),
                  ("–" if x.get("pi_low") is None or x["k"] < 3 else
                   f"{_natural_text(x['pi_low'], g['measure'])}–{_natural_text(x['pi_high'], g['measure'])}"),
                  "–" if x["k"] < 2 or x.get("i2") is None else num(x["i2"], 0) + "%",
                  "–" if x.get("conclusion_changes") is None else
                  ('<span class="flag">yes</span>' if x["conclusion_changes"] else "no")]
                 for x in sens]
        lines.append(f'<h3 id="sens-{esc(g["id"])}">Sensitivity analyses: {esc(g["group"])}</h3>')
        lines.append(table_html(["analysis", "k", f"estimate ({level:g}% CI)", f"{level:g}% PI",
                                 "I²", "conclusion changes"], srows, numeric=(1, 2, 3, 4),
                                caption=f"Sensitivity analyses of {_lower_first(declared['title'])}, "
                                        f"{g['group']}"))
    if declared.get("not_used"):
        items = "".join(f"<li>line {esc(e['line'])}: {esc(e['reason'])}</li>"
                        for e in declared["not_used"])
        lines.append(f'<details><summary class="note">{len(declared["not_used"])} row(s) of this '
                     f"outcome not used here, and why</summary><ul class=\"note\">{items}</ul></details>")
    return "".join(lines)


def _aside(text) -> str:
    """A note under a cell's value (a hazard ratio's medians under its risks by the time
    point); nothing for an empty one."""
    return f'<br><span class="note">{esc(text)}</span>' if text else ""


def _sof_block(results) -> str:
    """Summary of findings: one table per primary outcome, certainty with every downgrade."""
    from ..review.grade import GradeRules, shown_in_table

    rows_by = {}
    for r in results.get("summary_of_findings", []):
        rows_by.setdefault(r["outcome"], []).append(r)
    if not rows_by:
        return ""
    out = ['<h2 id="summary-of-findings">Summary of findings</h2>',
           '<p class="note">For each primary outcome: the relative effect, what it means in '
           "absolute terms against the placebo arms of the same trials, and the certainty of "
           "the evidence (GRADE) with every reason for rating it down; where imprecision was "
           "judged on another interval than the one printed, that interval is given beside "
           "it. The rules and their "
           'thresholds are in the <a href="#methods">Methods</a>; judgements overridden by the '
           "review team are marked †.</p>"]
    amendments = (results.get("protocol") or {}).get("amendments") or []
    if amendments:
        from .methods import times_word

        out.append('<p class="warn">The protocol was amended after analyses had been run ('
                   + times_word(len(amendments))
                   + ', listed with their reasons under <a href="#amendments">Changes from the '
                   "protocol</a>): where a change touches a rule of these tables, its judgements "
                   "and absolute effects follow the amended rule and are not prespecified.</p>")
    grade = results.get("grade", {})
    for outcome, rows in rows_by.items():
        body = []
        for r in rows:
            g = grade.get(r["id"], {})
            # every downgrade, and every judgement the review team overrode (one that removed
            # the rule's downgrade too: the reader sees what the rule said and why it differs)
            reasons = "".join(
                f"<li>{esc(d['domain'])}: "
                + (f"−{d['downgrade']} " if d["downgrade"] else "") + esc(d["reason"])
                + (f" † (the rule: −{d.get('rule_downgrade')})" if d.get("overridden") else "")
                + "</li>"
                for d in g.get("domains", [])
                if shown_in_table(d["domain"], d["downgrade"], d["reason"], d.get("overridden")))
            body.append([esc(r["therapy"]), esc(r["relative_effect"])
                         + _aside(r.get("imprecision_interval") and
                                  f"imprecision judged on the z interval "
                                  f"{r['imprecision_interval']}"),
                         esc(r["comparator"] or "–") + _aside(r.get("comparator_median")),
                         esc(r["with_therapy"] or "–")
                         + _aside(r.get("median_with_therapy") and
                                 f"modelled: {r['median_with_therapy']}")
                         + _aside(r.get("reported_with_therapy") and
                                 f"reported: {r['reported_with_therapy']}"),
                         esc(r["difference"] or "–")
                         + _aside(r.get("median_difference") and
                                 f"median {r['median_difference']}"),
                         f"{r['participants']:.0f} ({r['studies']})",
                         f"<b>{esc(r['certainty'])}</b>"
                         + (f" ({esc(r['certainty_before_amendments'])} under the rules before "
                            "the amendments)" if r.get("certainty_before_amendments") else "")
                         + (f"<ul class=\"note\">{reasons}</ul>" if reasons else ""),
                         ])
        # the model first, then the rows it carries past the data
        assumption = sorted({r["assumption"] for r in rows if r.get("assumption")})
        assumption += [f"{r['therapy']} extrapolated: {r['extrapolated']}" for r in rows
                       if r.get("extrapolated")]
        assumption += [f"{r['therapy']}: {r[k]}" for k in ("no_absolute", "no_median")
                       for r in rows if r.get(k)]
        interim = [f"{r['therapy']} ({', '.join(r['interim'])})" for r in rows if r.get("interim")]
        if interim:
            # GRADE counts trials stopped early for benefit under risk of bias; these were
            # reported at an interim analysis, which the ratings do not weigh
            assumption.append("from a trial reported at an interim analysis, whose effect may "
                              "be overestimated if it was stopped or reported early for benefit "
                              "(not rated down): " + ", ".join(interim))
        # "not assessable" is not "not detected": said where the rows do not show it
        unassessed = [r["therapy"] for r in rows if any(
            d["domain"] == "publication bias" and d["reason"].startswith("not assessable")
            for d in grade.get(r["id"], {}).get("domains", []))]
        if unassessed:
            min_k = (results.get("protocol") or {}).get("grade_rules", {}).get(
                "small_study_min_k", GradeRules.small_study_min_k)
            assumption.append(f"publication bias not assessable by a test (fewer than {min_k} "
                              "studies) for " + ", ".join(unassessed))
        # eligible trials that give this outcome no result: evidence the rows do not show
        missing = [m for aid in dict.fromkeys(r["id"].split("/")[0] for r in rows)
                   for m in (results.get("missing_evidence") or {}).get(aid, [])]
        # a therapy of the other outcomes' tables with no estimate for this one still has its
        # row, saying what its trials report (Handbook ch. 14: every critical outcome for each
        # comparison, narratively where there is no estimate)
        shown = {r["therapy"] for r in rows}
        for therapy in dict.fromkeys(r["therapy"] for r in results["summary_of_findings"]):
            if therapy in shown:
                continue
            theirs = [m for m in missing if therapy in (m.get("therapies") or ())]
            if not theirs:
                continue
            body.append([esc(therapy), "no estimate", "–", "–", "–",
                         f"– ({len(theirs)})",
                         "<b>not rated</b><ul class=\"note\">" + "".join(
                             f"<li>{esc(m['trial'])}: {esc(m['reason'])}</li>" for m in theirs)
                         + "</ul>"])
        out.append(table_html(["therapy", "relative effect (95% CI)", "with placebo",
                               "with therapy", "difference", "participants (studies)",
                               "certainty (GRADE)"], body, numeric=(5,),
                              caption=f"Summary of findings: {outcome}"))
        if assumption:
            out.append(f'<p class="note">{esc("; ".join(assumption))}.</p>')
        if missing:
            many = len(missing) > 1
            out.append(
                f'<p class="warn">{len(missing)} eligible trial{"s" if many else ""} '
                f'give{"" if many else "s"} this outcome no usable result (not reported in the '
                "sources read, not coded, or in a form the analysis cannot use; below, why, with "
                "the related rows the table has). If results "
                "are missing because of what they showed, the estimates are biased; the "
                "certainty ratings above name these trials under publication bias but do not "
                "rate down for them:</p><ul class=\"note\">" + "".join(
                    f"<li>{esc(m['trial'])}: {esc(m['reason'])}</li>" for m in missing)
                + "</ul>")
    return "".join(out)


def _prisma_block(prisma, figures) -> str:
    if not prisma:
        return ""
    out = ['<h2 id="prisma">Flow of studies (PRISMA 2020)</h2>', _figure_block(figures, "prisma")]
    if prisma.get("problems"):
        out.append('<p class="flag">The declared counts do not add up: '
                   + esc("; ".join(prisma["problems"])) + ".</p>")
    n_in, n_rep = prisma["studies_included"], prisma["reports_included"]
    text = (f"The boxes down to the included studies count records as the protocol's "
            f"<code>[search]</code> declares them (a fact-sheet entry or a seed document; one "
            f"record may hold several reports). The {n_rep} reports of the {n_in} included "
            "studies are counted apart: the distinct sources the study table's rows cite (one "
            "study's later publications and data cuts are several reports).")
    gone = prisma.get("ineligible") or []
    if gone:
        text += (f" {len(gone)} stud{'ies' if len(gone) > 1 else 'y'} of the study table "
                 f"meet{'' if len(gone) > 1 else 's'} no analysis's eligibility "
                 "(trials.csv against the protocol) and are counted among the full texts "
                 "excluded, with the reason each comes closest to passing: "
                 + esc("; ".join(f"{g['study_id']} ({g['reason']})" for g in gone)) + ".")
    lost = prisma.get("not_retrieved") or []
    if lost:
        text += (" Records sought whose full text was not obtained are counted as not retrieved, "
                 "and nothing is coded from them: " + esc(", ".join(
                     f"{x['report']} ({x['reason']})" for x in lost)) + ".")
    others = prisma.get("reports_of_included") or []
    if others:
        text += (" Assessed records that report an included study are counted with its reports, "
                 "not as exclusions: " + esc(", ".join(f"{o['report']} ({o['study_id']})"
                                                       for o in others)) + ".")
    if "studies_analysed" in prisma:
        missing = prisma.get("not_analysed", [])
        text += (f" {prisma['studies_analysed']} of the {n_in} included studies have a result "
                 "in at least one analysis")
        if missing:
            text += (f"; the other {len(missing)} ({esc(', '.join(missing))}) report nothing an "
                     "analysis of the protocol uses, and each of their rows is listed with its "
                     'reason in <a href="#excluded">the table of lines no analysis uses</a>')
        text += "."
    out.append(f'<p class="note">{text}</p>')
    rows = [[esc(a["id"]), esc(a["title"]), esc(a["studies"])] for a in prisma["per_analysis"]]
    out.append(table_html(["analysis", "title", "studies"], rows, numeric=(2,),
                          caption="Studies in each analysis"))
    return "".join(out)


def _characteristics_block(records, used_ids) -> str:
    cols = ["study_id", "trial", "design", "phase", "randomised", "blinding", "control", "arms",
            "line", "prior_vegfr_tki", "histology", "biomarker", "region", "crossover",
            "crossover_pct", "pfs_assessor", "registry", "doi"]
    rows = []
    for r in records:
        if r.get("study_id") not in used_ids:
            continue
        rows.append([esc(r.get(c, "")) for c in cols if c in r])
    header = [c for c in cols if records and c in records[0]]
    return ('<h2 id="characteristics">Characteristics of included studies</h2>'
            f'<p class="note">{len(rows)} studies contribute to at least one analysis; sources and '
            "locators of each characteristic are in <code>trials.csv</code>.</p>"
            + table_html(header, rows, caption="Characteristics of included studies"))


def _excluded_block(excluded) -> str:
    rows = [[esc(e["line"]), esc(e["study_id"]), esc(e["reason"])
             + (f'<div class="note">also: {esc("; ".join(e["other_reasons"]))}</div>'
                if e.get("other_reasons") else "")] for e in excluded]
    return ('<h2 id="excluded">Excluded: table lines no analysis uses</h2>'
            f'<p class="note">{len(excluded)} line(s) of the study table are used by no analysis, '
            "each with the reason; every other line is used by at least one analysis "
            "(<code>results.json</code> lists the lines behind each estimate).</p>"
            + table_html(["line", "study", "reason"], rows, numeric=(0,),
                         caption="Lines of the study table used by no analysis, with the reason"))


def _records_table(records, digits=3, caption=None) -> str:
    if not records:
        return ""
    cols = list(records[0].keys())
    numeric = tuple(i for i, c in enumerate(cols) if isinstance(records[0][c], (int, float)))
    return table_html(cols, [[num(r[c], digits) if isinstance(r[c], float) else esc(r[c])
                              for c in cols] for r in records], numeric=numeric, caption=caption)


def _amendments_block(amendments) -> str:
    """PRISMA 2020 item 24c: what changed in the protocol after analyses had been run, when and
    why (empty without amendments)."""
    if not amendments:
        return ""
    return ('<h3 id="amendments">Changes from the protocol</h3><p class="note">Made after '
            "analyses had been run, so the analyses they touch are not prespecified in these "
            "respects:</p><ul>" + "".join(
                f"<li>{esc(a['date'])}: {esc(a['change'])} <i>Why:</i> {esc(a['reason'])}</li>"
                for a in amendments) + "</ul>")


def _network_tables(net, level) -> str:
    """The network's effects, ranking and league table as a reader wants them: ratios on their
    natural scale with their interval, no log-scale columns and no index column."""
    measure = net.get("measure") or ""
    effects = net.get("effects", [])
    out = []
    if effects:
        ratio = "ratio" in effects[0]
        keys = ("ratio", "ratio_ci_low", "ratio_ci_high") if ratio else ("estimate", "ci_low",
                                                                         "ci_high")
        tested = any(e.get("pvalue") is not None for e in effects)
        rows = [[esc(e.get("treatment", "")), esc(e.get("reference", "")),
                 f"{num(e[keys[0]], 2)} ({num(e[keys[1]], 2)}–{num(e[keys[2]], 2)})"]
                + (["–" if e.get("pvalue") is None else fmt_p(e["pvalue"])] if tested else [])
                for e in effects]
        out.append(table_html(["therapy", "against", f"{measure} ({level:g}% CI)"]
                              + (["p"] if tested else []), rows, numeric=(2, 3),
                              caption=f"{net['title']}: each therapy against the reference"))
    ps = net.get("pscores", [])
    if ps:
        name = next((k for k in ps[0] if k in ("treatment", "index")), None)
        score = next((k for k in ps[0] if "pscore" in k.lower() or k.lower() == "p-score"), None)
        if name and score:
            ranked = sorted(ps, key=lambda r: -r[score])
            out.append(table_html(["rank", "therapy", "P-score"],
                                  [[str(i), esc(r[name]), num(r[score], 2)]
                                   for i, r in enumerate(ranked, start=1)], numeric=(0, 2),
                                  caption=f"{net['title']}: ranking by P-score"))
    league = net.get("league", [])
    if league:
        cols = [c for c in league[0] if c != "index"]
        rows = [[f"<b>{esc(r[c])}</b>" if r.get("index") == c else esc(r[c]) for c in cols]
                for r in league]
        out.append(table_html(cols, rows, caption=f"{net['title']}: league table (each cell: "
                                                  f"the row's therapy against the column's, "
                                                  f"{measure} with its {level:g}% interval)"))
    return "".join(out)


def _network_block(network, figures, level) -> str:
    out = ['<h2 id="network">Comparing therapies: network meta-analysis</h2>',
           '<p class="note">Every trial in these networks compared a therapy with placebo; none '
           "compared two of their therapies head to head, so the comparisons between therapies "
           "are indirect and rest on the caveats listed under "
           "each network. The protocol's review notes name the network as the comparison between "
           "drugs, but no analysis of the protocol declares its measure, model or eligibility: "
           "these are the package's (the Methods state them), and the network and its rankings "
           "are exploratory: the protocol states no hypothesis about a comparison between drugs, "
           "so none is tested (no p-values), and the rankings carry no rating of the certainty "
           "of the comparisons behind them (no CINeMA assessment): a P-score orders estimates "
           "and their precision, not the evidence. Its intervals are z-based, without the Knapp–Hartung "
           "correction of the analyses above, so for a therapy with two trials they are narrower "
           "than that therapy's pooled estimate against placebo.</p>"]
    gone = network.get("left_out") or []
    if gone:
        out.append('<p class="note">Left out of the networks: ' + "; ".join(
            f"{esc(x['trial'])} ({esc(x['study_id'])}): {esc(x['reason'])}" for x in gone)
            + ".</p>")
    for key, net in network.get("networks", {}).items():
        out.append(f'<h3 id="network-{esc(key)}">{esc(net["title"])}</h3>')
        if "not_run" in net:
            out.append(f'<p class="note">Not run: {esc(net["not_run"])}</p>')
            continue
        out.append(_figure_block(figures, f"network:{key}"))
        out.append(f'<p class="note">tau² = {num(net.get("tau2"), 4)}.</p>')
        out.append(_network_tables(net, level))
        if net.get("caveats"):
            out.append("<h4>Caveats</h4><ul>" + "".join(f"<li>{esc(c)}</li>" for c in net["caveats"])
                       + "</ul>")
    return "".join(out)


SURVIVAL_HEADING = "Progression-free survival across therapies (modelled from medians)"


def _survival_block(survival_summary, figures, left_out=()) -> str:
    out = [f'<h2 id="survival">{SURVIVAL_HEADING}</h2>',
           '<p class="note">No trial in the table reports a numbers-at-risk table, so these curves are '
           "exponential curves through each randomised arm's reported median PFS: they show the size "
           "of the differences, not the shape of the curves. A trial after a VEGFR-targeted drug "
           "is marked (second line): its patients are not those of the first-line trials.</p>",
           _figure_block(figures, "survival")]
    if left_out:
        out.append('<p class="note">Not drawn among the single-arm studies (see Excluded for '
                   "their rows): " + esc("; ".join(f"{x['trial']} ({x['reason']})"
                                                   for x in left_out)) + ".</p>")
    rows = [[esc(s["trial"]), esc(s["arm"]), esc(s.get("therapy_line", "")),
             num(s["median_months"], 1), esc(s["line"]), esc(s["source"])]
            for s in survival_summary]
    out.append(table_html(["trial", "arm", "line of therapy", "median PFS (months)",
                           "table line", "source"], rows,
                          numeric=(3, 4), caption="Medians behind the modelled curves"))
    return "".join(out)


def _bounds(lo, hi, digits=1) -> str:
    if lo is None or hi is None:
        return "–"
    # an en dash beside a minus sign misreads: "-43.6 to 50.2"
    sep = " to " if (lo < 0 or hi < 0) else "–"
    return f"{num(lo, digits)}{sep}{num(hi, digits)}"


def _interval(est, lo, hi, digits=1) -> str:
    if lo is None or hi is None:
        return num(est, digits)
    return f"{num(est, digits)} ({_bounds(lo, hi, digits)})"


def _digitisation_block(p, level) -> str:
    """How much the pair's results move when its curves are clicked again (see
    :func:`~metaanalysis.survival.digitisation_uncertainty`)."""
    d = p.get("digitisation")
    if not d:
        return ""
    if "not_run" in d:
        return f'<p class="note">Digitisation uncertainty not run: {esc(d["not_run"])}</p>'
    a, b = d["arms"]["a"], d["arms"]["b"]
    unit = p["time_unit"]
    tau = d["tau"]
    horizon = (p.get("rmst") or {}).get("horizon")
    to = f"to {num(tau, 0)} {unit}"
    labels = {"hr": (f"HR, {a} against {b}", 2), "median_a": (f"median, {a} ({unit})", 1),
              "median_b": (f"median, {b} ({unit})", 1), "rmst_a": (f"RMST {to}, {a}", 1),
              "rmst_b": (f"RMST {to}, {b}", 1),
              "rmst_difference": (f"RMST difference {to}, {a} minus {b}", 1)}
    rows = []
    for r in d["table"]:
        label, digits = labels.get(r["quantity"], (r["quantity"], 2))
        # results.json writes an infinite median (never reached) as null
        median = r["quantity"].startswith("median")

        def cell(v):
            return "not reached" if median and v is None else num(v, digits)

        def pair_(lo, hi):
            if median and (lo is None or hi is None):
                return f"{cell(lo)} to {cell(hi)}"
            return _bounds(lo, hi, digits)

        rows.append([esc(label), cell(r["estimate"]),
                     f"{pair_(r['spread_low'], r['spread_high'])} ({cell(r['spread_median'])})",
                     pair_(r.get("ci_low"), r.get("ci_high")), num(r["spread_to_ci"], 2)])
    moved = (f" The RMST horizon here is {num(tau, 1)} {esc(unit)}, not the pair's {num(horizon, 1)}: "
             "a moved last click must still reach it." if horizon is not None
             and not math.isclose(tau, horizon, rel_tol=1e-9) else "")
    note = (f'<p class="note">Digitisation: every click was moved at random within '
            f'±{num(d["resolution_time"], 3)} {esc(unit)} and ±{num(d["resolution_survival"], 3)} '
            f'in survival (about a pixel or two of a published figure), the patients '
            f'reconstructed again, {d["n"]} times (seed {esc(d["seed"])}). A spread much '
            f"narrower than the sampling interval (a small last column) means the clicking's "
            "precision does not matter for that result. The reconstruction is a step function "
            "of the clicks, so the estimate from the clicks as given need not sit in the middle "
            f"of its spread.{moved}</p>")
    return note + table_html(
        ["quantity", "from the clicks", "re-clicked: 2.5% to 97.5% (median)",
         f"sampling {num(level, 0)}% CI", "spread / CI width"], rows, numeric=(1, 2, 3, 4),
        caption=f"Digitisation uncertainty, {p['name']}")


def _mean_cell(m) -> str:
    """A model's unrestricted mean, or why it has none."""
    mean = m.get("mean")
    if mean is not None and math.isfinite(mean):
        return num(mean, 1)
    if m.get("plateau") is not None:
        return f"none: levels off at {num(100 * m['plateau'], 1)}%"
    if m.get("heavy_tail"):
        return "none: the tail falls too slowly"
    return "–"


def _extrapolation_note(c) -> str:
    """How far apart the models are beyond the data (twice the follow-up)."""
    ex = c.get("extrapolation") or {}
    rows = [r for r in ex.get("survival", []) if r.get("survival") is not None]
    if not rows:
        return ""
    unit = esc(c.get("time_unit", ""))
    lo = min(rows, key=lambda r: r["survival"])
    hi = max(rows, key=lambda r: r["survival"])
    best = next((r for r in rows if r["model"] == c.get("best_aic")), None)
    text = (f'<p class="note">Beyond the data ({esc(ex.get("rule", ""))}, {num(ex["horizon"], 0)} '
            f'{unit}): survival there ranges from {num(100 * lo["survival"], 1)}% '
            f'({esc(lo["model"])}) to {num(100 * hi["survival"], 1)}% ({esc(hi["model"])})')
    if best is not None:
        text += f'; the best by AIC ({esc(best["model"])}) gives {num(100 * best["survival"], 1)}%'
        if best.get("ci_low") is not None and best.get("ci_high") is not None:
            text += f' ({num(100 * best["ci_low"], 1)}–{num(100 * best["ci_high"], 1)}%)'
    return text + (". That interval is the model's sampling uncertainty only; the spread between "
                   "models is the uncertainty about the shape, which no interval carries.</p>")


def _varying_note(p) -> str:
    tv = p.get("hr_over_time")
    if not tv:
        return ""
    if "not_run" in tv:
        return f" The hazard ratio over time could not be fitted: {esc(tv['not_run'])}."
    return (f" A hazard ratio that changes with log time (Cox model with the arm times log t) "
            f"has slope {num(tv['coef_log_time'], 3)} on the log-HR scale (p = "
            f"{fmt_p(tv['pvalue_time'])}); the second figure draws it.")


def _one_vs_two_stage_table(records, caption) -> str:
    """One stage against two: each analysis' HR with its interval and p, the heterogeneity of
    the two-stage one."""
    if not records:
        return ""
    rows = []
    for r in records:
        rows.append([esc(r.get("analysis", "")),
                     _interval(r.get("hr"), r.get("ci_low"), r.get("ci_high"), 2),
                     fmt_p(r.get("pvalue")) if r.get("pvalue") is not None else "–",
                     num(r["tau2"], 3) if r.get("tau2") is not None else "–",
                     str(r.get("k", "")) if r.get("k") is not None else "–"])
    level = records[0].get("level") or 95
    return table_html(["analysis", f"HR ({num(level, 0)}% CI)", "p", "tau²", "trials"], rows,
                      numeric=(1, 2, 3, 4), caption=caption)


def _survival_models_block(section, figures, studies=None) -> str:
    """Models on the digitised curves (AIC/BIC, PH check, RMST) and the modelled RMST differences
    of the trials that report only medians. ``studies``: the study table's ids; a curve of a
    study outside it is said to be a worked example, not evidence of the review."""
    if not section:
        return ""
    dig = section.get("digitised", {})
    out = ['<h2 id="survival-models">Survival models</h2>',
           '<h3 id="survival-models-digitised">Digitised curves: models on reconstructed patients</h3>',
           f'<p class="note">Each curve in <code>{esc(dig.get("folder", ""))}</code> is turned back '
           "into patient data (Guyot et al. 2012, with its number-at-risk table) and every model is "
           "fitted by maximum likelihood. A lower AIC or BIC fits better for its number of "
           "parameters; where models are within about 2 AIC of each other the data do not choose "
           "between them, and their extrapolations, which the data cannot check, decide: each "
           "curve's second figure shows them to twice its follow-up. The mean column is the area "
           "under the whole fitted curve, so it is an extrapolation to infinity; the restricted "
           "mean stops at the follow-up.</p>"]
    curves = dig.get("curves", [])
    if not curves:
        out.append('<p class="note">No digitised curve beside the table.</p>')
    outside = sorted({c["study_id"] for c in curves if studies is not None and "study_id" in c
                      and c["study_id"] not in studies})
    if outside:
        # curves shipped to show the method sit beside a review's own; a reader must not take
        # them for its evidence
        out.append('<p class="warn">Not a study of this review: '
                   + esc(", ".join(outside)) + ". "
                   + ("Its curves are" if len(outside) == 1 else "Their curves are")
                   + " not in the study table, so no analysis of the review uses them; they show "
                   "the method (see each curve's source below).</p>")
    for c in curves:
        out.append(f'<h4 id="curve-{esc(c["name"])}">{esc(c["name"])}</h4>')
        if "not_run" in c:
            out.append(f'<p class="note">Not run: {esc(c["not_run"])}</p>')
            continue
        unit = c.get("time_unit", "")
        given = c.get("total_events")
        if given is not None and given != c["events"]:
            # the source's count and why the reconstruction did not take it, in a reader's words
            # (the repair log's own text is in results.json, events_kept)
            why = ("the curve falls in steps clicked with some jitter in time, and a difference "
                   "this small is within that error, so the events its clicks imply are kept"
                   if c.get("events_kept") else "the curve and its risk table cannot hold that "
                   "number")
            events = f'{c["events"]} events reconstructed (the source reports {given}; {why})'
        else:
            events = f'{c["events"]} events reconstructed'
        for w in c.get("warnings") or ():
            out.append(f'<p class="warn">Reconstruction: {esc(w)}</p>')
        example = ("worked example, not in the study table: " if c.get("study_id") in outside
                   else "")
        out.append(f'<p class="note">{example}{esc(c["study_id"])}, arm {esc(c["arm"])}, '
                   f'{esc(c["outcome"])}: '
                   f'{c["n"]} patients, {events}; source '
                   f'{esc(c.get("source", ""))}. Best by AIC: {esc(c["best_aic"])}; by BIC: '
                   f'{esc(c["best_bic"])}.</p>')
        out.append(_figure_block(figures, f"digitised:{c['name']}"))
        rows = []
        for m in c["models"]:
            best = " (best AIC)" if m["model"] == c["best_aic"] else ""
            rows.append([esc(m["model"]) + best, str(m["n_params"]), num(m["loglik"], 2),
                         num(m["aic"], 2), num(m["bic"], 2),
                         _interval(m["median"], m.get("median_ci_low"), m.get("median_ci_high")),
                         num(m["restricted_mean"], 1), _mean_cell(m),
                         "yes" if m.get("converged") else "no"])
        out.append(table_html(["model", "parameters", "log-likelihood", "AIC", "BIC",
                               f"median, {unit} (CI)", f"restricted mean to {num(c['horizon'], 0)} {unit}",
                               f"mean to infinity (extrapolated), {unit}", "converged"], rows,
                              numeric=(1, 2, 3, 4, 6, 7),
                              caption=f"Model selection for {c['name']}"))
        out.append(_extrapolation_note(c))
    if curves and not dig.get("pairs"):
        out.append('<p class="note">No study has two digitised arms of one outcome, so there is '
                   "no proportional-hazards check, hazard ratio over time or RMST difference from "
                   "reconstructed patients; digitise both arms (with their risk tables) to get "
                   "them.</p>")
    for p in dig.get("pairs", []):
        out.append(f'<h4 id="pair-{esc(p["name"])}">{esc(p["study_id"])} {esc(p["outcome"])}: '
                   f'{esc(" vs ".join(p["arms"]))}</h4>')
        if "not_run" in p:
            out.append(f'<p class="note">Not run: {esc(p["not_run"])}</p>')
            continue
        ph, rm = p["ph_test"], p["rmst"]
        out.append(f'<p>Proportional hazards (Grambsch–Therneau, KM time scale): chi-square '
                   f'{num(ph.get("chisq"), 2)}, p = {fmt_p(ph.get("pvalue"))}'
                   + (" — the hazard ratio changes with time, so a single HR misleads; read the "
                      "piecewise HRs and the RMST difference." if p.get("ph_rejected") else
                      f". Not rejecting is no evidence of proportional hazards: with "
                      f"{sum(int(x.get('events_interest', 0)) + int(x.get('events_reference', 0)) for x in p.get('piecewise', []))} "
                      "events the test has little power, and the hazard ratios over thirds of the "
                      "events below show how far the ratio moves.")
                   + f' RMST difference ({esc(p["arms"][1])} minus {esc(p["arms"][0])}) to '
                   f'{num(rm.get("horizon"), 0)} {esc(p["time_unit"])} ({esc(p["rmst_rule"])}): '
                   f'{_interval(rm.get("difference"), rm.get("ci_low"), rm.get("ci_high"))} '
                   f'{esc(p["time_unit"])}'
                   + (f'; ratio {_interval(p["rmst_ratio"]["ratio"], p["rmst_ratio"]["ci_low"], p["rmst_ratio"]["ci_high"], 2)}'
                      if p.get("rmst_ratio") else "") + '.'
                   + _varying_note(p) + '</p>')
        out.append(_figure_block(figures, f"digitised:{p['name']}"))
        a, b = p["arms"][0], p["arms"][1]
        unit = p["time_unit"]
        pw = [[f"{num(x['start'], 0)}–{num(x['end'], 0)}"
               if x.get("end") is not None and math.isfinite(x["end"])
               else f"{num(x['start'], 0)} onwards", esc(x.get("events_interest", "")),
               esc(x.get("events_reference", "")),
               _interval(x["hr"], x.get("ci_low"), x.get("ci_high"), 2),
               "–" if x.get("pvalue") is None else fmt_p(x["pvalue"])]
              for x in p.get("piecewise", [])]
        if pw:
            out.append(table_html(
                [f"interval ({unit})", f"events, {b}", f"events, {a}",
                 f"HR, {b} against {a} ({num(dig.get('level', 95), 0)}% CI)", "p"], pw,
                numeric=(1, 2, 3, 4),
                caption=f"Hazard ratios over thirds of the events, {p['name']}"))
        out.append(_digitisation_block(p, dig.get("level", 95)))
    pooled = dig.get("pooled") or {}
    if curves:
        out.append('<h4 id="survival-models-pooled">Across trials: pooled RMST, one-stage Cox, '
                   "survival network</h4>")
    for cmp_ in pooled.get("comparisons", []):
        label = f'{cmp_["outcome"]}, {" vs ".join(cmp_["arms"])}'
        if "not_run" in cmp_:
            out.append(f'<p class="note">{esc(label)}: not pooled — {esc(cmp_["not_run"])}.</p>')
            continue
        rm = cmp_["rmst"]
        ratio = cmp_.get("rmst_ratio") or {}
        out.append(f'<p>{esc(label)}: pooled RMST difference to {num(rm.get("tau"), 0)} '
                   f'{esc(cmp_["time_unit"])} ({esc(cmp_["tau_rule"])}): '
                   f'{_interval(rm.get("estimate"), rm.get("ci_low"), rm.get("ci_high"))} '
                   f'{esc(cmp_["time_unit"])}'
                   + (f'; pooled ratio {_interval(ratio.get("estimate"), ratio.get("ci_low"), ratio.get("ci_high"), 2)}'
                      if ratio else "")
                   + f' over {len(cmp_["trials"])} trials (random effects, REML). The figure shows '
                   "how the difference depends on the horizon.</p>")
        out.append(_figure_block(figures, f"digitised:{cmp_.get('name', '')}"))
        out.append(_one_vs_two_stage_table(cmp_.get("one_vs_two_stage", []),
                                           caption=f"{label}: Cox stratified by trial (one stage) "
                                                   "beside the pooled per-trial hazard ratios (two "
                                                   "stages)"))
    if curves:
        net = pooled.get("network")
        if net is None:
            out.append('<p class="note">Survival network meta-analysis: not run — the digitised '
                       "trials do not connect three or more arms.</p>")
        elif "not_run" in net:
            out.append(f'<p class="note">Survival network meta-analysis: not run — {esc(net["not_run"])}</p>')
        else:
            breaks = ", ".join(num(b, 0) for b in net.get("breaks", []))
            out.append(f'<p>Survival network ({esc(net["outcome"])}): a piecewise-exponential '
                       "Poisson model with a baseline hazard per trial and interval, cut at "
                       f'{esc(breaks)} {esc(net.get("time_unit", ""))} ({esc(net.get("breaks_rule", ""))}); '
                       "it assumes each therapy's hazard ratio is the same in every trial within "
                       "an interval (consistency across the network) and constant inside it.</p>")
            out.append(_figure_block(figures, f"digitised:{net.get('name', '')}"))
            out.append(_records_table(net.get("interval_hrs", []),
                                      caption=f"Survival network ({net['outcome']}): hazard ratios "
                                              f"per interval (piecewise exponential, against "
                                              f"{net.get('reference', '')})"))
    mr = section.get("modelled_rmst", {})
    out.append('<h3 id="survival-models-modelled">Randomised trials with medians only: RMST '
               "differences (modelled)</h3>")
    out.append('<p class="note">These trials report a median PFS per arm but no curve we could '
               "digitise: one number identifies only the exponential curve through it, so no model "
               "can be chosen and proportional hazards cannot be checked (the exponential assumes "
               "them). The restricted mean survival time (RMST) difference is the PFS gained up to "
               f"a horizon tau ({esc(mr.get('tau_rule', ''))}); it rests on the exponential model, "
               "so it follows the ratio of the two medians, not the hazard ratio the trial reports. "
               "A median reported without an interval gives no standard error: that difference "
               "has no interval and is not pooled. Differences are pooled only where the "
               "protocol's PFS analysis pools the trials (one therapy; second-line trials apart)."
               "</p>")
    if "not_run" in mr:
        out.append(f'<p class="note">Not run: {esc(mr["not_run"])}</p>')
        return "".join(out) + _modelled_network_block(section.get("modelled_network"), figures)
    rows = [[esc(r["trial"]), esc(r["therapy"]), num(r["tau"], 1), num(r["rmst_therapy"], 2),
             num(r["rmst_placebo"], 2),
             _interval(r["difference"], r.get("ci_low"), r.get("ci_high"), 2)
             + (f" (no interval: the {', '.join(r['no_interval'])} median has none)"
                if r.get("no_interval") else ""),
             "–" if r.get("follow_up_months") is None else num(r["follow_up_months"], 1),
             esc(r.get("estimate_id") or "not in a PFS analysis")]
            for r in mr.get("trials", [])]
    out.append(table_html(["trial", "therapy", "tau (months)", "RMST therapy (months)",
                           "RMST placebo (months)", "difference, months (CI)",
                           "follow-up reported (months)", "protocol estimate"],
                          rows, numeric=(2, 3, 4, 5, 6),
                          caption="PFS gained up to tau, modelled from the medians"))
    borrowed = [r for r in mr.get("trials", []) if r.get("follow_up_months") is None
                and r.get("tau") is not None]
    if borrowed:
        out.append('<p class="note">No follow-up reported, so tau is the other trials\' of the '
                   "same estimate and the RMST assumes follow-up the trial does not report: "
                   + esc("; ".join(f"{r['trial']} ({num(r['tau'], 1)} months)" for r in borrowed))
                   + ".</p>")
    if mr.get("not_estimated"):
        out.append('<p class="note">No RMST: ' + esc("; ".join(
            f"{x['trial']} ({x['reason']})" for x in mr["not_estimated"])) + ".</p>")
    if mr.get("pooled"):
        prow = [[esc(x["estimate_id"]), esc(", ".join(x["trials"])), num(x["tau"], 1),
                 _interval(x["estimate"], x["ci_low"], x["ci_high"], 2), num(x["tau2"], 3),
                 esc(f'{x["method"]}, {x["test"]}')] for x in mr["pooled"]]
        out.append(table_html(["estimate", "trials", "tau (months)",
                               "pooled difference, months (CI)", "tau²",
                               "model (the protocol's)"], prow, numeric=(2, 3, 4),
                              caption="Pooled RMST differences (modelled), within the protocol's estimates"))
        notes = {n: None for x in mr["pooled"] for n in x.get("notes", ())}
        if notes:
            out.append('<ul class="note">' + "".join(f"<li>{esc(n)}.</li>" for n in notes)
                       + "</ul>")
    return "".join(out) + _modelled_network_block(section.get("modelled_network"), figures)


def _pct(x):
    return None if x is None else 100 * x


def _reported_medians(row, net) -> str:
    """The medians the trials report in a therapy's arms; for the reference, their range (its
    arms are listed above the table)."""
    if row["therapy"] == net["reference"]:
        b = net["baseline"]
        return f"{num(b['lowest'], 1)}–{num(b['highest'], 1)} ({len(b['arms'])} trials)"
    from .extras import without_registry_number

    return esc("; ".join(f'{num(x["median"], 1)} ({without_registry_number(x["trial"])})'
                         for x in row["reported"])) or "–"


def _modelled_network_block(net, figures) -> str:
    """The PFS network's therapies on one placebo curve (modelled from medians)."""
    if not net:
        return ""
    out = ['<h3 id="survival-models-network">Randomised trials with medians only: the survival '
           "network (modelled)</h3>"]
    if "not_run" in net:
        return "".join(out) + f'<p class="note">Not run: {esc(net["not_run"])}.</p>'
    b, ref, lvl = net["baseline"], esc(net["reference"]), f'{net["level"]:g}%'
    missing = (f" ({esc(', '.join(b['without_median']))} report none)"
               if b.get("without_median") else "")
    out.append(
        '<p class="note">The trials report medians, not curves, so the survival network is '
        'modelled: each therapy of the <a href="#network">PFS network</a> (its hazard ratios '
        f"against {ref}; second-line trials are not in it) on one {ref} curve, the exponential "
        f"through the median of the {ref} arms' median PFS in the network's trials "
        f"({num(b['median'], 2)} months, from {len(b['arms'])} arms{missing}). That median is "
        "taken as known, as the summary of findings takes its comparator risk: the intervals are "
        "the hazard ratios' alone. Each therapy's curve is the baseline to the power of its hazard "
        "ratio, which assumes proportional hazards (as the network does) and a constant hazard "
        "(one median per arm identifies nothing else): no hazard ratio that changes with time "
        "can be drawn from medians, and the curves show the size of the differences, not their "
        f"shape. The {ref} arms' medians ranged from {num(b['lowest'], 1)} to "
        f"{num(b['highest'], 1)} months, a sign that the trials' populations differ; a modelled "
        "median is the baseline's over the hazard ratio, so it moves in proportion with the "
        "baseline: the table gives it on the lowest and on the highest of them too, beside the "
        "medians the trials observed. The summary of findings puts each drug on the placebo arms "
        "of its own trials instead, so its modelled medians differ from these where those arms "
        "differ from the network's; one shared curve is what lets the drugs be compared.</p>")
    out.append(_figure_block(figures, "survival-network"))
    at = net["at_months"]
    rows = [[esc(r["therapy"]),
             _interval(r["hr"], r["hr_ci_low"], r["hr_ci_high"], 2) if r["therapy"] != net["reference"]
             else "1 (reference)",
             _interval(r["median"], r["median_ci_low"], r["median_ci_high"], 1),
             _interval(100 * r["survival_at"], _pct(r["survival_at_ci_low"]),
                       _pct(r["survival_at_ci_high"]), 0),
             f'{num(r["median_on_lowest_baseline"], 1)} / {num(r["median_on_highest_baseline"], 1)}',
             _reported_medians(r, net)]
            for r in net["therapies"]]
    out.append(table_html(["therapy", f"hazard ratio against {ref} (network, {lvl} CI)",
                           "modelled median PFS, months (CI)",
                           f"modelled PFS at {at:g} months, % (CI)",
                           f"median on the lowest / highest {ref} median",
                           "median PFS the trials report, months"],
                          rows, numeric=(1, 2, 3, 4),
                          caption="The survival network of the trials with medians only "
                                  "(modelled)"))
    return "".join(out)


def _provenance_block(table) -> str:
    warn_by_line = {}
    for w in table.warnings:
        # "is empty: ..." reads only with the column it is about
        col = getattr(w, "column", None)
        warn_by_line.setdefault(w.row, []).append(f"{col}: {w.message}" if col else w.message)
    rows = []
    for r in table.frame.itertuples(index=False):
        ci = "" if math.isnan(r.ci_low) and math.isnan(r.ci_high) else \
            f"{r.ci_low:g}" if not math.isnan(r.ci_low) else "NE"
        if ci:
            ci = f"{ci}–{r.ci_high:g}" if not math.isnan(r.ci_high) else f"{ci}–NE"
            ci += f" ({r.ci_level * 100:g}%)" if not math.isnan(r.ci_level) else " (level ?)"
        # "not reached" takes no unit ("not reached months")
        value = "not reached" if r.status == "not_reached" else f"{r.value:g}"
        unit = "" if r.status == "not_reached" else r.unit
        counts = "" if math.isnan(r.numerator) else f"{r.numerator:g}/" + (
            f"{r.denominator:g}" if not math.isnan(r.denominator) else "?")
        warn = "".join(f'<div class="warn">⚠ {esc(m)}</div>' for m in warn_by_line.get(r.line, []))
        rows.append([esc(r.line), esc(r.study_id), esc(r.arm), esc(r.outcome), esc(r.measure),
                     esc(value) + (f" {esc(unit)}" if unit else ""), esc(ci), esc(counts),
                     esc(r.source), esc(r.locator), esc(r.notes) + warn])
    return ('<h2 id="provenance">Provenance: every number and where it stands</h2>'
            f'<p class="note">{len(table.frame)} rows; {len(table.warnings)} validator warning(s) '
            "(marked, the column first): questions the validator asks of whoever codes the table; "
            "the row's notes answer each.</p>"
            + table_html(["line", "study", "arm", "outcome", "measure", "value", "interval",
                          "counts", "source", "locator", "notes"], rows, numeric=(0,),
                         caption="Every number of the study table with its source and locator"))


def _diff_block(diff) -> str:
    if diff is None:
        return ""
    out = ['<h2 id="changes">What changed since the previous report</h2>']
    if not diff.changes:
        out.append('<p class="note">Nothing changed.</p>')
        return "".join(out)
    flagged = diff.flagged
    if flagged:
        out.append("<ul>" + "".join(f'<li class="flag">{esc(c)}</li>' for c in flagged) + "</ul>")
    out.append("<ul>" + "".join(f"<li>{esc(c)}</li>" for c in diff.changes if c not in flagged)
               + "</ul>")
    return "".join(out)


def render_page(results, table, figures, diff=None) -> str:
    """The HTML page for ``results`` (from :func:`metaanalysis.report.run_analyses` and friends)."""
    global _NUMBERS
    _NUMBERS = _Numbering()
    meta = results["meta"]
    protocol = results.get("protocol", {})
    declared = protocol.get("analyses", [])
    by_analysis = {}
    for a in results["analyses"]:
        if a["role"] != "sensitivity":
            by_analysis.setdefault(a["analysis"], []).append(a)
    toc = [f'<li><a href="#{esc(d["id"])}">{esc(d["title"])}</a> ({esc(d["role"])})</li>'
           for d in declared]
    toc = (['<li><a href="#prisma">Flow of studies (PRISMA 2020)</a></li>']
           if results.get("prisma") else []) + (
        ['<li><a href="#summary-of-findings">Summary of findings</a></li>']
           if results.get("summary_of_findings") else []) + toc
    toc += ['<li><a href="#characteristics">Characteristics of included studies</a></li>',
            '<li><a href="#excluded">Excluded: table lines no analysis uses</a></li>',
            '<li><a href="#network">Comparing therapies: network meta-analysis</a></li>',
            f'<li><a href="#survival">{SURVIVAL_HEADING}</a></li>',
            '<li><a href="#survival-models">Survival models</a></li>',
            '<li><a href="#provenance">Provenance: every number and where it stands</a></li>',
            '<li><a href="#methods">Methods</a>'
            + ('<ul><li><a href="#amendments">Changes from the protocol</a></li></ul>'
               if protocol.get("amendments") else "") + '</li>']
    review = protocol.get("review", {})
    pico = "".join(f"<li><b>{esc(k)}</b>: {esc(', '.join(v) if isinstance(v, list) else v)}</li>"
                   for k, v in review.items() if k in ("question", "population", "interventions",
                                                      "comparator", "outcomes"))
    used_ids = {s["study_id"] for a in results["analyses"] for s in a.get("studies", [])}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Meta-analysis report</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>{esc(review.get('title', 'Meta-analysis report'))}</h1>",
        f'<p class="meta">Study table <code>{esc(meta["studies"])}</code> ({meta["rows"]} rows, '
        f'sha256 {esc(meta["studies_sha256"][:16])}…); protocol <code>{esc(meta.get("protocol", ""))}</code>; '
        f'characteristics <code>{esc(meta.get("trials", ""))}</code>; metaanalysis {esc(meta["version"])}.'
        + (f' <span class="warn">Protocol model overridden: {esc(meta["overrides"])}.</span>'
           if meta.get("overrides") else "") + "</p>",
        f"<h2>The review question</h2><ul>{pico}</ul>"
        + (f'<p class="note">{esc(review["notes"])}</p>' if review.get("notes") else ""),
        _diff_block(diff),
        "<h2>Contents</h2><ul>" + "".join(toc) + "</ul>",
        '<p class="note">Tables for a spreadsheet: '
        + ", ".join(f'<a href="tables/{n}.csv">{n}.csv</a>'
                    for n in ("summary_of_findings", "estimates", "sensitivity", "excluded",
                              "characteristics"))
        + '; for a manuscript: <a href="tables/review_tables.docx">review_tables.docx</a> '
          '(Word), <a href="tables/review_tables.xlsx">review_tables.xlsx</a> (Excel).</p>',
    ]
    if results.get("protocol_warnings"):
        # before the results: an analysis that found nothing to pool may be a typo
        parts.append('<p class="flag">The protocol asks for what the study table does not have: '
                     + "; ".join(esc(w["message"]) for w in results["protocol_warnings"]) + ".</p>")
    parts.append(_prisma_block(results.get("prisma"), figures))
    parts.append(_sof_block(results))
    for d in declared:
        groups = by_analysis.get(d["id"], [])
        if not groups:
            parts.append(f'<h2 id="{esc(d["id"])}">{esc(d["title"])}</h2><p class="note">No study '
                         "meets this analysis's eligibility; the rows considered are listed under "
                         "Excluded.</p>"
                         + "".join(f'<p class="flag">{esc(w["message"])}</p>'
                                   for w in results.get("protocol_warnings", [])
                                   if w["analysis"] == d["id"]))
            continue
        parts.append(_analysis_block(d, groups, results.get("sensitivity", {}), figures, table))
    parts.append(_characteristics_block(results.get("characteristics", []), used_ids))
    parts.append(_excluded_block(results.get("excluded", [])))
    parts.append(_network_block(results.get("network", {}), figures,
                                (results.get("network") or {}).get("level", 95)))
    parts.append(_survival_block(results.get("survival", []), figures,
                                 results.get("survival_left_out", [])))
    parts.append(_survival_models_block(results.get("survival_models"), figures,
                                        set(getattr(table, "studies", []) or [])))
    parts.append(_provenance_block(table))
    parts.append(f'<h2 id="methods">Methods</h2><p>{esc(results["methods"])}</p>')
    parts.append(_amendments_block(results.get("protocol", {}).get("amendments") or []))
    parts.append("</body></html>")
    return "\n".join(parts)
