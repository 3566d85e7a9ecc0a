"""What changed between two reports: compare two ``results.json`` files.

A living review is rerun whenever a trial is added. :func:`diff_results` lists, analysis by
analysis, what moved: the estimate and its interval, tau² and I², a change of significance or of
the ranking of therapies flagged plainly, and warnings that are new.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from .._base import ResultMixin, fmt
from ..errors import InputError

__all__ = ["Change", "ResultsDiff", "diff_results", "load_results", "check_depth",
           "ResultsFileError", "MAX_JSON_DEPTH"]

# Fields compared for every pooled analysis, with the printed name.
_FIELDS = (("k", "k"), ("estimate", "estimate"), ("ci_low", "CI low"), ("ci_high", "CI high"),
           ("tau2", "tau²"), ("i2", "I² (%)"), ("pvalue", "p"))
# Relative changes below this are rounding noise between two runs, not news.
_RTOL = 1e-9


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``added``, ``removed``, ``changed``, ``significance``,
    ``ranking`` or ``warning``."""

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
        """Changes of significance or ranking: the ones a reader must not miss."""
        return [c for c in self.changes if c.kind in ("significance", "ranking")]

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
    wa, wb = set(a.get("warnings", [])), set(b.get("warnings", []))
    for w in sorted(wb - wa):
        changes.append(Change("study table", "warning", message=f"new warning: {w}"))
    order = {"significance": 0, "ranking": 1, "added": 2, "removed": 3, "changed": 4, "warning": 5}
    changes.sort(key=lambda c: (order[c.kind], c.analysis))
    return ResultsDiff(str(old_name), str(new_name), tuple(changes))
