"""What changed between two reports: compare two ``results.json`` files.

A living review is rerun whenever a trial is added. :func:`diff_results` lists, analysis by
analysis, what moved: the estimate and its interval, tau² and I², a change of significance or of
the ranking of therapies flagged plainly, and warnings that are new. Beside the analyses it
compares what a reader concludes from: the GRADE certainty of each estimate (with the domains
rated down differently) and the summary-of-findings cells, flagged too, and the PRISMA counts.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from .._base import ResultMixin, fmt
from ..errors import InputError
from ..review.grade import LEVELS

__all__ = ["Change", "ResultsDiff", "diff_results", "load_results", "check_depth",
           "ResultsFileError", "MAX_JSON_DEPTH"]

# Fields compared for every pooled analysis, with the printed name.
_FIELDS = (("k", "k"), ("estimate", "estimate"), ("ci_low", "CI low"), ("ci_high", "CI high"),
           ("tau2", "tau²"), ("i2", "I² (%)"), ("pvalue", "p"))
# Relative changes below this are rounding noise between two runs, not news.
_RTOL = 1e-9

# The sections beside the analyses that are compared, with the printed name. A report written
# before a section existed lacks it: that is the section added, not a change of every entry.
_SECTIONS = (("grade", "GRADE certainty ratings"), ("summary_of_findings", "summary of findings"),
             ("prisma", "PRISMA flow of studies"))
# The summary-of-findings cells a reader acts on: the effect, relative and absolute, and the
# modelled medians. The certainty is the GRADE entry's (the row is made from the same
# assessment) and is compared there; participants and studies follow the analyses' k; the
# assumption, reasons and notes say how the cells were made, not what they say.
_SOF_FIELDS = (("relative_effect", "relative effect"), ("comparator", "with the comparator"),
               ("with_therapy", "with the therapy"), ("difference", "difference"),
               ("median_with_therapy", "modelled median with the therapy"),
               ("median_difference", "median difference"))
# The PRISMA counts in the order of the flow diagram: (key, printed name, the key naming each
# part and the key of its count when the count is broken down by source, reason or analysis).
_PRISMA_COUNTS = (("sources", "records identified", "name", "records"),
                  ("identified", "records identified", None, None),
                  ("duplicates", "duplicates removed", None, None),
                  ("screened", "records screened", None, None),
                  ("excluded_screening", "excluded at screening", "reason", "n"),
                  ("sought", "records sought for retrieval", None, None),
                  ("assessed", "full texts assessed", None, None),
                  ("excluded_full_text", "excluded after full text", "reason", "n"),
                  ("studies_included", "studies included", None, None),
                  ("reports_included", "reports of included studies", None, None),
                  ("per_analysis", "studies in", "id", "studies"),
                  ("studies_analysed", "studies analysed", None, None))
_PRISMA = "PRISMA flow"
# Changes a reader must not miss (the text's "Conclusions changed", the page's flagged list).
_CONCLUSIONS = ("significance", "ranking", "certainty", "summary_of_findings")


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``added``, ``removed``, ``changed``, ``significance``,
    ``ranking``, ``certainty`` (an estimate's GRADE certainty), ``grade`` (the domains rated down,
    the certainty unchanged), ``summary_of_findings`` (a cell of its row), ``prisma`` (a count of
    the flow of studies) or ``warning``."""

    analysis: str
    kind: str
    field: str = ""
    old: object = None
    new: object = None
    message: str = ""

    def __str__(self) -> str:
        return f"[{self.kind}] {self.analysis}: {self.message}"


@dataclass(frozen=True, eq=False, repr=False)
class ResultsDiff(ResultMixin):
    """The changes between two reports, most important first."""

    old: str
    new: str
    changes: tuple = field(default_factory=tuple)

    @property
    def flagged(self) -> list:
        """Changes of significance, ranking, GRADE certainty or the summary of findings: the
        ones a reader must not miss."""
        return [c for c in self.changes if c.kind in _CONCLUSIONS]

    def to_dict(self) -> dict:
        return {"old": self.old, "new": self.new,
                "changes": [dict(analysis=c.analysis, kind=c.kind, field=c.field, old=c.old,
                                 new=c.new, message=c.message) for c in self.changes]}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_dict()["changes"],
                            columns=["analysis", "kind", "field", "old", "new", "message"])

    def summary(self) -> str:
        if not self.changes:
            return f"No changes between {self.old} and {self.new}."
        lines = [f"Changes from {self.old} to {self.new}: {len(self.changes)}"]
        if self.flagged:
            lines.append("")
            lines.append("!! Conclusions changed:")
            lines += [f"   {c}" for c in self.flagged]
        lines.append("")
        lines += [str(c) for c in self.changes if c not in self.flagged]
        return "\n".join(lines)

    def _short(self) -> str:
        return f"{len(self.changes)} changes, {len(self.flagged)} flagged"


# No results.json of a report is nested more than a few levels; anything deeper is not one (and
# JSON nested a thousand levels deep exhausts Python's recursion limit in the decoder).
MAX_JSON_DEPTH = 64


class ResultsFileError(InputError):
    """A file given as ``results.json`` that cannot be one (unreadable, not JSON, too deep)."""


def load_results(path) -> dict:
    """Read a ``results.json`` (or the report folder holding one); InputError if it is not one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if p.exists() and not p.is_file():  # a FIFO or a device: reading it would block or not end
        raise ResultsFileError(f"{p}: is not a regular file; give a report's results.json")
    try:
        with open(p, encoding="utf-8") as fh:
            data = json.load(fh, parse_constant=_no_constant)
    except FileNotFoundError:
        raise InputError(f"{p}: file not found") from None
    except RecursionError:
        raise ResultsFileError(f"{p}: the JSON is nested too deeply to be a results.json (a "
                               f"report's is at most {MAX_JSON_DEPTH} levels deep)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{p}: cannot be read as JSON ({exc})") from None
    check_depth(data, str(p))
    check_results(data, str(p))
    return data


def _no_constant(word):
    # NaN and Infinity are not JSON; a report writes null for a number it cannot estimate
    raise ValueError(f"{word} is not a JSON number; a report writes null for a missing number")


def check_results(data, name: str = "results") -> None:
    """Raise InputError unless ``data`` has the shape of a report's ``results.json``."""
    if not isinstance(data, dict) or not isinstance(data.get("analyses"), (dict, list)) \
            or not isinstance(data.get("meta"), dict):
        raise InputError(f"{name} is not a results.json written by metaanalysis report (it needs "
                         "the object 'meta' and the list (or object) 'analyses')")
    analyses = data["analyses"]
    if isinstance(analyses, list):
        for i, entry in enumerate(analyses):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise InputError(f"{name}: analysis {i} is not an object with an 'id'")
        analyses = analyses_by_id(analyses)
    for key, entry in analyses.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("result", {}), dict):
            raise InputError(f"{name}: analysis {key!r} is not an object with a 'result'")
        if not isinstance(entry.get("natural", {}), dict):
            raise InputError(f"{name}: analysis {key!r}: 'natural' is not an object")
        # a number a report writes is a number or null (not estimable); anything else would be
        # read as missing and reported as a change to NA, or hide one
        places = [("result", entry.get("result", {}), f) for f, _ in _FIELDS if f != "pvalue"]
        places += [("natural", entry.get("natural", {}), f) for f, _ in _FIELDS if f != "pvalue"]
        places += [("", entry, "p"), ("", entry, "null_scale"), ("", entry, "null")]
        for where, obj, f in places:
            v = obj.get(f)
            if v is not None and (_num(v) is None or not math.isfinite(_num(v))):
                raise InputError(f"{name}: analysis {key!r}: {where + '.' if where else ''}{f} is "
                                 f"{v!r}, not a finite number or null; the file is damaged or was not "
                                 "written by metaanalysis report")
        if not _strings(entry.get("warnings", [])):
            raise InputError(f"{name}: analysis {key!r}: 'warnings' is not a list of texts")
    rankings = data.get("rankings", {})
    if not isinstance(rankings, dict) or not all(_strings(v) for v in rankings.values()):
        raise InputError(f"{name}: 'rankings' is not an object of lists of therapy names")
    if not _strings(data.get("warnings", [])):
        raise InputError(f"{name}: 'warnings' is not a list of texts")
    _check_grade(data.get("grade"), name)
    _check_summary_of_findings(data.get("summary_of_findings"), name)
    _check_prisma(data.get("prisma"), name)


def _damaged(name: str, where: str, value, valid: str) -> InputError:
    return InputError(f"{name}: {where} is {value!r}, not {valid}; the file is damaged or was not "
                      "written by metaanalysis report")


def _count(x) -> bool:
    # a count or a number of levels rated down: a finite number (null: none given)
    return x is None or (_num(x) is not None and math.isfinite(_num(x)))


def _check_grade(grade, name: str = "results") -> None:
    """Raise InputError unless ``grade`` (absent: None) is a report's GRADE assessments: an
    object by estimate id of ``{certainty, start, domains: [{domain, downgrade, ...}]}``. What
    the diff reads must be what the report wrote: a damaged certainty would read as a change."""
    if grade is None:
        return
    if not isinstance(grade, dict):
        raise InputError(f"{name}: 'grade' is not an object of GRADE assessments by estimate id")
    for key, entry in grade.items():
        if not isinstance(entry, dict):
            raise InputError(f"{name}: grade {key!r} is not an object")
        for f in ("certainty", "start"):
            if not isinstance(entry.get(f), (str, type(None))):
                raise _damaged(name, f"grade {key!r}: {f}", entry[f], "a text or null")
        domains = entry.get("domains", [])
        if not isinstance(domains, list):
            raise _damaged(name, f"grade {key!r}: domains", domains, "a list")
        for i, d in enumerate(domains):
            if not isinstance(d, dict) or not isinstance(d.get("domain"), str):
                raise _damaged(name, f"grade {key!r}: domain {i}", d, "an object with a 'domain'")
            if not _count(d.get("downgrade")):
                raise _damaged(name, f"grade {key!r}: {d['domain']}: downgrade", d["downgrade"],
                               "a finite number or null")
            if not isinstance(d.get("overridden", False), (bool, type(None))):
                raise _damaged(name, f"grade {key!r}: {d['domain']}: overridden", d["overridden"],
                               "true, false or null")
            if not isinstance(d.get("reason", ""), (str, type(None))):
                raise _damaged(name, f"grade {key!r}: {d['domain']}: reason", d["reason"],
                               "a text or null")


def _check_summary_of_findings(rows, name: str = "results") -> None:
    """Raise InputError unless ``rows`` (absent: None) is a list of summary-of-findings rows,
    objects with an estimate ``id`` whose compared cells are texts or null."""
    if rows is None:
        return
    if not isinstance(rows, list):
        raise InputError(f"{name}: 'summary_of_findings' is not a list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise InputError(f"{name}: summary_of_findings row {i} is not an object with an 'id'")
        for f in [f for f, _ in _SOF_FIELDS] + ["certainty"]:
            if not isinstance(row.get(f), (str, type(None))):
                raise _damaged(name, f"summary_of_findings {row['id']!r}: {f}", row[f],
                               "a text or null")


def _check_prisma(prisma, name: str = "results") -> None:
    """Raise InputError unless ``prisma`` (absent: None) holds the PRISMA counts as a report
    writes them: numbers, lists of ``{name or reason or id, count}``, ``problems`` as texts."""
    if prisma is None:
        return
    if not isinstance(prisma, dict):
        raise InputError(f"{name}: 'prisma' is not an object of counts")
    for key, _, part, count in _PRISMA_COUNTS:
        value = prisma.get(key)
        if part is None:
            if not _count(value):
                raise _damaged(name, f"prisma.{key}", value, "a finite number or null")
            continue
        if value is None:
            continue
        if not isinstance(value, list):
            raise _damaged(name, f"prisma.{key}", value, "a list")
        for i, entry in enumerate(value):
            if not isinstance(entry, dict) or not isinstance(entry.get(part), str) \
                    or not _count(entry.get(count)):
                raise _damaged(name, f"prisma.{key} entry {i}", entry,
                               f"an object with the text {part!r} and the number {count!r}")
    if not _strings(prisma.get("problems", [])):
        raise InputError(f"{name}: 'prisma.problems' is not a list of texts")


def _strings(x) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def analyses_by_id(analyses) -> dict:
    """results.json's ``analyses`` (a list, or a mapping by id) as a mapping by id."""
    if isinstance(analyses, dict):
        return analyses
    return {a["id"]: a for a in analyses}


def check_depth(data, name: str = "results", limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`ResultsFileError` when ``data`` nests lists and objects more than ``limit``
    levels deep (walked without recursion, so any depth is measured safely)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > limit:
            raise ResultsFileError(f"{name}: the JSON is nested more than {limit} levels deep; a "
                                   "results.json written by metaanalysis report is not")
        stack.extend((child, depth + 1) for child in children)


def _show_count(x) -> str:
    return "NA" if x is None else f"{x:.0f}"


def _show_p(x) -> str:
    return "NA" if x is None else f"{x:.3g}"


def _num(x):
    # numbers.Real: an in-memory report (report --compare) may hold numpy scalars (numpy's bool
    # is not one)
    return float(x) if isinstance(x, numbers.Real) and not isinstance(x, bool) else None


def _significant(res: dict, null: float) -> bool | None:
    lo, hi = _num(res.get("ci_low")), _num(res.get("ci_high"))
    if lo is None or hi is None:
        return None
    return not (lo <= null <= hi)


def _table_warnings(data: dict) -> dict:
    """``{key: warning}`` of the study table's warnings, keyed by the input file's role instead of
    its path: a rerun on a copy of the table (another folder or name, the same rows) has no new
    warnings."""
    meta = data.get("meta") or {}
    paths = [(str(meta[k]), k) for k in ("studies", "trials", "protocol")
             if isinstance(meta.get(k), str)]
    out = {}
    for w in data.get("warnings", []):
        key = w
        for path, role in paths:
            if key.startswith(path + ":"):
                # by the file's role, not its name: a table renamed (studies_v2.csv) is the table
                key = f"<{role}>" + key[len(path):]
                break
        out[key] = w
    return out


def _section_changes(a: dict, b: dict) -> list:
    """A section (GRADE, summary of findings, PRISMA) in one report only: one change, not one per
    entry (a report written before the section existed would list every estimate as news)."""
    changes = []
    for key, label in _SECTIONS:
        had, has = a.get(key) is not None, b.get(key) is not None
        if has and not had:
            changes.append(Change(key, "added", key,
                                  message=f"{label}: not in the previous report"))
        elif had and not has:
            changes.append(Change(key, "removed", key,
                                  message=f"{label}: no longer in the report"))
    return changes


def _levels(x) -> str:
    # levels rated down as the page prints them: -1, -2 (0: not rated down)
    return "NA" if _num(x) is None else f"{-_num(x):.0f}" if _num(x) else "0"


def _domains(entry: dict) -> dict:
    """``{domain: (levels rated down, overridden by the review team, reason)}`` of one GRADE
    entry."""
    return {d["domain"]: (d.get("downgrade"), bool(d.get("overridden")), d.get("reason") or "")
            for d in entry.get("domains", [])}


def _domain_text(domain: str, judgement: tuple, before: tuple | None = None) -> str:
    """``imprecision 0 -> -2 (very serious: ...)``; without ``before``, ``imprecision -2 (...)``."""
    levels, overridden, reason = judgement
    moved = "" if before is None else f"{_levels(before[0])} -> "
    why = "; ".join(x for x in ("the review team's judgement" if overridden else "", reason) if x)
    return f"{domain} {moved}{_levels(levels)}" + (f" ({why})" if why else "")


def _rating_down_changes(ea: dict, eb: dict) -> list:
    """``[(what, old, new, text)]``: what changed in the rating down of one estimate, the
    starting level and each domain rated down by a different number of levels or now (no longer)
    overridden. A reason whose words change with the same rating (a weight share of 100% now
    67%) is not news."""
    parts = []
    if ea.get("start") != eb.get("start"):
        parts.append(("start", ea.get("start"), eb.get("start"),
                      f"starts {_show_text(ea.get('start'))} -> {_show_text(eb.get('start'))}"))
    da, db = _domains(ea), _domains(eb)
    missing = (None, False, "")
    for domain in list(db) + [d for d in da if d not in db]:
        ja, jb = da.get(domain, missing), db.get(domain, missing)
        if ja[:2] != jb[:2]:
            parts.append((domain, ja[0], jb[0], _domain_text(domain, jb, ja)))
    return parts


def _direction(old: str, new: str) -> str:
    if old not in LEVELS or new not in LEVELS:
        return ""
    steps = LEVELS.index(new) - LEVELS.index(old)
    return f" ({'up' if steps > 0 else 'down'} {abs(steps)} level{'s' if abs(steps) > 1 else ''})"


def _certainty_changes(ga: dict, gb: dict) -> list:
    """Each estimate whose GRADE certainty changed, or that gained or lost a rating, with the
    rating down that changed. A different rating down that leaves the certainty as it was (one
    domain up, another down) is a ``grade`` change, not a conclusion."""
    changes = []
    for key in sorted(ga.keys() | gb.keys()):
        ea, eb = ga.get(key), gb.get(key)
        if ea is None:
            down = [_domain_text(d, j) for d, j in _domains(eb).items() if j[0] or j[1]]
            changes.append(Change(key, "certainty", "certainty", None, eb.get("certainty"),
                                  f"GRADE certainty {_show_text(eb.get('certainty'))} (not rated "
                                  "before)" + (f"; rated down: {'; '.join(down)}" if down else "")))
            continue
        if eb is None:
            changes.append(Change(key, "certainty", "certainty", ea.get("certainty"), None,
                                  "no longer rated (GRADE certainty was "
                                  f"{_show_text(ea.get('certainty'))})"))
            continue
        ca, cb = ea.get("certainty"), eb.get("certainty")
        down = _rating_down_changes(ea, eb)
        texts = "; ".join(text for *_, text in down)
        if ca != cb:
            changes.append(Change(key, "certainty", "certainty", ca, cb,
                                  f"GRADE certainty {_show_text(ca)} -> {_show_text(cb)}"
                                  f"{_direction(ca, cb)}"
                                  + (f"; rating down changed: {texts}" if down else "")))
        elif down:
            changes.append(Change(key, "grade", "rating down",
                                  {what: old for what, old, _, _ in down},
                                  {what: new for what, _, new, _ in down},
                                  f"GRADE certainty still {_show_text(cb)}, rated down "
                                  f"differently: {texts}"))
    return changes


def _show_text(x) -> str:
    return "none" if x is None or x == "" else str(x)


def _sof_changes(ra: list, rb: list, rated: set) -> list:
    """The summary-of-findings cells a reader acts on that changed, row by row (estimate id);
    ``rated``: the estimates with a GRADE entry in both reports, whose certainty is compared
    there."""
    a, b = {r["id"]: r for r in ra}, {r["id"]: r for r in rb}
    changes = []
    for key in sorted(a.keys() | b.keys()):
        if key not in a:
            changes.append(Change(key, "summary_of_findings", "row", None,
                                  b[key].get("relative_effect"), "new row in the summary of "
                                  f"findings: {_show_text(b[key].get('relative_effect'))}"))
            continue
        if key not in b:
            changes.append(Change(key, "summary_of_findings", "row", a[key].get("relative_effect"),
                                  None, "row no longer in the summary of findings (was "
                                  f"{_show_text(a[key].get('relative_effect'))})"))
            continue
        fields = list(_SOF_FIELDS) + ([] if key in rated else [("certainty", "certainty")])
        for name, label in fields:
            va, vb = a[key].get(name), b[key].get(name)
            if (va or None) != (vb or None):  # an empty cell and a missing one say the same
                changes.append(Change(key, "summary_of_findings", name, va, vb,
                                      f"summary of findings: {label} {_show_text(va)} -> "
                                      f"{_show_text(vb)}"))
    return changes


def _prisma_counts(prisma: dict) -> dict:
    """``{field: (printed name, count)}`` of a PRISMA section; a count broken down by source,
    reason or analysis is one field per part, ``key/part``."""
    counts = {}
    for key, label, part, count in _PRISMA_COUNTS:
        if part is None:
            counts[key] = (label, prisma.get(key))
            continue
        for entry in prisma.get(key) or []:
            name = f"{label} {entry[part]}" if key == "per_analysis" else f"{label} ({entry[part]})"
            counts[f"{key}/{entry[part]}"] = (name, entry.get(count))
    return counts


def _show_number(x) -> str:
    return "none" if _num(x) is None else f"{_num(x):.0f}"


def _prisma_changes(pa: dict, pb: dict) -> list:
    """Changed PRISMA counts (plain changes: the flow of studies, not a conclusion) and problems
    of the counts that are new. A part in one report only (a new reason for exclusion) counts
    none in the other."""
    ca, cb = _prisma_counts(pa), _prisma_counts(pb)
    changes = []
    for f in list(cb) + [f for f in ca if f not in cb]:
        label = (cb.get(f) or ca[f])[0]
        va, vb = ca.get(f, (label, None))[1], cb.get(f, (label, None))[1]
        if _num(va) != _num(vb):
            changes.append(Change(_PRISMA, "prisma", f, va, vb,
                                  f"{label} {_show_number(va)} -> {_show_number(vb)}"))
    for problem in sorted(set(pb.get("problems", [])) - set(pa.get("problems", []))):
        changes.append(Change(_PRISMA, "warning", message=f"new warning: {problem}"))
    return changes


def diff_results(old, new) -> ResultsDiff:
    """Compare two reports' ``results.json`` (paths, folders or already-loaded dicts).

    Examples
    --------
    >>> d = diff_results("report-2024/results.json", "report/results.json")   # doctest: +SKIP
    >>> print(d)                                                               # doctest: +SKIP
    """
    old_name = old if isinstance(old, (str, Path)) else "old"
    new_name = new if isinstance(new, (str, Path)) else "new"
    a = old if isinstance(old, dict) else load_results(old)
    b = new if isinstance(new, dict) else load_results(new)
    check_depth(a, str(old_name))
    check_depth(b, str(new_name))
    check_results(a, str(old_name))
    check_results(b, str(new_name))
    changes: list[Change] = []
    a_an, b_an = analyses_by_id(a.get("analyses", {})), analyses_by_id(b.get("analyses", {}))
    for key in b_an.keys() - a_an.keys():
        changes.append(Change(key, "added", message=f"new analysis ({b_an[key].get('title', key)})"))
    for key in a_an.keys() - b_an.keys():
        changes.append(Change(key, "removed", message="analysis no longer in the report"))
    for key in sorted(a_an.keys() & b_an.keys()):
        ra, rb = dict(a_an[key].get("result", {})), dict(b_an[key].get("result", {}))
        # the p-value against the protocol's null is the record's own "p" (null when none)
        for entry, res in ((a_an[key], ra), (b_an[key], rb)):
            if "p" in entry:
                res["pvalue"] = entry["p"]
        # the null on the analysis scale (older results files stored it as "null")
        null = _num(b_an[key].get("null_scale", b_an[key].get("null")))
        for name, label in _FIELDS:
            va, vb = _num(ra.get(name)), _num(rb.get(name))
            if va is None and vb is None:
                continue
            if va is None or vb is None or not math.isclose(va, vb, rel_tol=_RTOL, abs_tol=1e-12):
                show = _show_count if name == "k" else (_show_p if name == "pvalue" else fmt)
                message = f"{label} {show(va)} -> {show(vb)}"
                na = _num(a_an[key].get("natural", {}).get(name))
                nb = _num(b_an[key].get("natural", {}).get(name))
                if na is not None and nb is not None:
                    # the scale a reader knows (HR, months, proportion) beside the analysis scale
                    message += f" (natural scale {na:.4g} -> {nb:.4g})"
                changes.append(Change(key, "changed", name, va, vb, message))
        # Significance only means something against a null (a ratio of 1); a pooled median or
        # proportion has none.
        sa, sb = (_significant(ra, null), _significant(rb, null)) if null is not None else (None, None)
        if sa is not None and sb is not None and sa != sb:
            word = "now significant" if sb else "no longer significant"
            changes.append(Change(key, "significance", "ci", sa, sb,
                                  f"{word}: interval {fmt(rb.get('ci_low'))} to "
                                  f"{fmt(rb.get('ci_high'))} vs null {fmt(null)} (was "
                                  f"{fmt(ra.get('ci_low'))} to {fmt(ra.get('ci_high'))})"))
        wa, wb = set(a_an[key].get("warnings", [])), set(b_an[key].get("warnings", []))
        for w in sorted(wb - wa):
            changes.append(Change(key, "warning", message=f"new warning: {w}"))
    for key in sorted(a.get("rankings", {}).keys() & b.get("rankings", {}).keys()):
        oa, ob = a["rankings"][key], b["rankings"][key]
        if list(oa) != list(ob):
            changes.append(Change(key, "ranking", "order", oa, ob,
                                  f"ranking changed: {' > '.join(oa)} -> {' > '.join(ob)}"))
    wa, wb = _table_warnings(a), _table_warnings(b)
    for w in sorted(set(wb) - set(wa)):
        changes.append(Change("study table", "warning", message=f"new warning: {wb[w]}"))
    changes += _section_changes(a, b)
    ga, gb = a.get("grade"), b.get("grade")
    if ga is not None and gb is not None:
        changes += _certainty_changes(ga, gb)
    if a.get("summary_of_findings") is not None and b.get("summary_of_findings") is not None:
        rated = set(ga or {}) & set(gb or {})
        changes += _sof_changes(a["summary_of_findings"], b["summary_of_findings"], rated)
    if a.get("prisma") is not None and b.get("prisma") is not None:
        changes += _prisma_changes(a["prisma"], b["prisma"])
    order = {"significance": 0, "ranking": 1, "certainty": 2, "summary_of_findings": 3,
             "added": 4, "removed": 5, "changed": 6, "grade": 7, "prisma": 8, "warning": 9}
    changes.sort(key=lambda c: (order[c.kind], c.analysis))
    return ResultsDiff(str(old_name), str(new_name), tuple(changes))
