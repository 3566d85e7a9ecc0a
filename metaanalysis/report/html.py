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
.note{color:#555;font-size:.9em}.warn{color:#8a4b00}.flag{color:#b00020;font-weight:bold}
.meta{color:#555;font-size:.9em}code{font-size:.95em}
"""


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


def table_html(header, rows, numeric=()) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{c}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _figure_block(figures, key) -> str:
    blocks = []
    for fig in figures:
        if fig["key"] == key:
            blocks.append(f'<div class="figure" id="fig-{esc(fig["name"])}">{inline_svg(fig["svg"])}'
                          f'<p class="note">{esc(fig["caption"])} Files: '
                          + ", ".join(f"<code>figures/{esc(Path(f).name)}</code>" for f in fig["files"])
                          + "</p></div>")
    return "".join(blocks)


def _pooled_block(key, entry, figures, level) -> str:
    r, nat = entry["result"], entry["natural"]
    unit = {"ratio": "HR", "median": "months", "proportion": ""}[entry["kind"]]
    pct = entry["kind"] == "proportion"

    def show(x):
        if x is None:
            return "–"
        return f"{100 * x:.1f}%" if pct else num(x)

    lines = [f'<h2 id="{esc(key)}">{esc(entry["title"])}</h2>', _figure_block(figures, key)]
    q_p = fmt_p(r.get("q_pvalue")) if r.get("q_pvalue") is not None else "–"
    rows = [[esc(r.get("k")), f"{show(nat['estimate'])} {esc(unit)}",
             f"{show(nat['ci_low'])} to {show(nat['ci_high'])}",
             f"{show(nat['pi_low'])} to {show(nat['pi_high'])}",
             num(r.get("tau2"), 4), num(r.get("i2"), 1) + "%",
             f"{num(r.get('q'))} (df {esc(r.get('q_df'))}, p {q_p})",
             fmt_p(r.get("pvalue")) if r.get("pvalue") is not None else "–"]]
    lines.append(table_html(["k", "pooled", f"{level:g}% CI", f"{level:g}% PI", "tau²", "I²",
                             "Q", "p"], rows, numeric=(0,)))
    sub = entry.get("subgroups")
    if sub and "natural" in sub:
        srows = [[esc(g), esc(s.get("k")), show(s.get("estimate")),
                  f"{show(s.get('ci_low'))} to {show(s.get('ci_high'))}", num(s.get("i2"), 1) + "%"]
                 for g, s in sub["natural"].items()]
        lines.append("<h3>By therapy</h3>")
        lines.append(table_html(["therapy", "k", "pooled", f"{level:g}% CI", "I²"], srows,
                                numeric=(1,)))
        lines.append(f'<p class="note">Test for subgroup differences: Q = {num(sub.get("statistic"))}, '
                     f'df = {esc(sub.get("df"))}, p = {fmt_p(sub.get("pvalue")) if sub.get("pvalue") is not None else "–"}.</p>')
    ss = entry.get("small_study", {})
    if "not_run" in ss:
        lines.append(f'<p class="note">Small-study effects: not tested ({esc(ss["not_run"])}).</p>')
    else:
        eg, rk = ss.get("egger", {}), ss.get("rank", {})
        lines.append(f'<p class="note">Small-study effects: Egger\'s test p = '
                     f'{fmt_p(eg.get("pvalue")) if eg.get("pvalue") is not None else "–"}; '
                     f'Begg\'s rank test p = {fmt_p(rk.get("pvalue")) if rk.get("pvalue") is not None else "–"}.</p>')
    if entry.get("excluded"):
        items = "".join(f"<li>line {esc(e['line'])} ({esc(e['study_id'])}): {esc(e['reason'])}</li>"
                        for e in entry["excluded"])
        lines.append(f'<details><summary class="note">{len(entry["excluded"])} row(s) not used</summary>'
                     f"<ul class=\"note\">{items}</ul></details>")
    return "".join(lines)


def _records_table(records, digits=3) -> str:
    if not records:
        return ""
    cols = list(records[0].keys())
    return table_html(cols, [[num(r[c], digits) if isinstance(r[c], float) else esc(r[c])
                              for c in cols] for r in records])


def _network_block(network, figures, level) -> str:
    out = ['<h2 id="network">Comparing therapies: network meta-analysis</h2>',
           '<p class="note">Every therapy was compared with placebo, never with another therapy: '
           "the comparisons between therapies are indirect and rest on the caveats listed under "
           "each network.</p>"]
    for key, net in network.get("networks", {}).items():
        out.append(f'<h3 id="network-{esc(key)}">{esc(net["title"])}</h3>')
        if "not_run" in net:
            out.append(f'<p class="note">Not run: {esc(net["not_run"])}</p>')
            continue
        out.append(_figure_block(figures, f"network:{key}"))
        out.append(f'<p class="note">tau² = {num(net.get("tau2"), 4)}.</p>')
        out.append(_records_table(net.get("effects", [])))
        out.append("<h4>Ranking (P-scores)</h4>" + _records_table(net.get("pscores", [])))
        out.append("<h4>League table</h4>" + _records_table(net.get("league", [])))
        if net.get("caveats"):
            out.append("<h4>Caveats</h4><ul>" + "".join(f"<li>{esc(c)}</li>" for c in net["caveats"])
                       + "</ul>")
    return "".join(out)


def _survival_block(survival_summary, figures) -> str:
    out = ['<h2 id="survival">Progression-free survival across therapies (modelled from medians)</h2>',
           '<p class="note">No trial in the table reports a numbers-at-risk table, so these curves are '
           "exponential curves through each randomised arm's reported median PFS: they show the size "
           "of the differences, not the shape of the curves.</p>",
           _figure_block(figures, "survival")]
    rows = [[esc(s["trial"]), esc(s["arm"]), num(s["median_months"], 1), esc(s["line"]),
             esc(s["source"])] for s in survival_summary]
    out.append(table_html(["trial", "arm", "median PFS (months)", "line", "source"], rows,
                          numeric=(2, 3)))
    return "".join(out)


def _provenance_block(table) -> str:
    warn_by_line = {}
    for w in table.warnings:
        warn_by_line.setdefault(w.row, []).append(w.message)
    rows = []
    for r in table.frame.itertuples(index=False):
        ci = "" if math.isnan(r.ci_low) and math.isnan(r.ci_high) else \
            f"{num(r.ci_low, 3) if not math.isnan(r.ci_low) else '–'} to " \
            f"{num(r.ci_high, 3) if not math.isnan(r.ci_high) else '–'} ({num(r.ci_level * 100, 0) if not math.isnan(r.ci_level) else '?'}%)"
        value = "not reached" if r.status == "not_reached" else f"{r.value:g}"
        counts = "" if math.isnan(r.numerator) else f"{r.numerator:g}/" + (
            f"{r.denominator:g}" if not math.isnan(r.denominator) else "?")
        warn = "".join(f'<div class="warn">⚠ {esc(m)}</div>' for m in warn_by_line.get(r.line, []))
        rows.append([esc(r.line), esc(r.study_id), esc(r.arm), esc(r.outcome), esc(r.measure),
                     esc(value) + (f" {esc(r.unit)}" if r.unit else ""), esc(ci), esc(counts),
                     esc(r.source), esc(r.locator), esc(r.notes) + warn])
    return ('<h2 id="provenance">Provenance: every number and where it stands</h2>'
            f'<p class="note">{len(table.frame)} rows; {len(table.warnings)} validator warning(s), '
            "each explained in the row's notes.</p>"
            + table_html(["line", "study", "arm", "outcome", "measure", "value", "interval",
                          "counts", "source", "locator", "notes"], rows, numeric=(0,)))


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
    meta = results["meta"]
    level = meta["level"]
    toc = [f'<li><a href="#{esc(k)}">{esc(v["title"])}</a></li>' for k, v in results["analyses"].items()]
    toc += ['<li><a href="#network">Network meta-analysis</a></li>',
            '<li><a href="#survival">Survival curves</a></li>',
            '<li><a href="#provenance">Provenance</a></li>', '<li><a href="#methods">Methods</a></li>']
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Meta-analysis report</title>", f"<style>{CSS}</style></head><body>",
        "<h1>Meta-analysis report</h1>",
        f'<p class="meta">Study table <code>{esc(meta["studies"])}</code> ({meta["rows"]} rows, '
        f'sha256 {esc(meta["studies_sha256"][:16])}…); tau² estimator {esc(meta["method"])}, test '
        f'{esc(meta["test"])}, {level:g}% intervals; metaanalysis {esc(meta["version"])}.</p>',
        _diff_block(diff),
        "<h2>Contents</h2><ul>" + "".join(toc) + "</ul>",
    ]
    for key, entry in results["analyses"].items():
        parts.append(_pooled_block(key, entry, figures, level))
    for key, info in results.get("not_run", {}).items():
        parts.append(f'<h2 id="{esc(key)}">{esc(info["title"])}</h2>'
                     f'<p class="note">Not run: {esc(info["reason"])}.</p>')
    parts.append(_network_block(results.get("network", {}), figures, level))
    parts.append(_survival_block(results.get("survival", []), figures))
    parts.append(_provenance_block(table))
    parts.append(f'<h2 id="methods">Methods</h2><p>{esc(results["methods"])}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
