"""The review protocol: ``data/protocol.toml`` declares the question and every analysis.

What is pooled is decided here, before any number is seen, as the Cochrane Handbook asks of a
systematic review: the population, interventions, comparator and outcomes; for each analysis its
outcome and effect measure, which studies and rows are eligible, the model, the hypothesis (or none:
then no p-value is computed), how therapies are grouped (one estimate across therapies only when
the protocol declares a class-effect question) and the prespecified sensitivity analyses.

:func:`read_protocol` validates the file like the study table: an unknown key, a bad value or an
unknown study is an error naming the file, the line and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .._base import FrozenDict, frozen_field
from ..errors import Problem, StudyTableError

__all__ = ["Protocol", "AnalysisProtocol", "read_protocol", "parse_protocol", "check_against_table",
           "EFFECTS", "ROLES", "ELIGIBILITY_KEYS", "SENSITIVITY_KEYS"]

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as _toml

# What an analysis pools:
#   HR          a reported contrast (hazard ratio) against the comparator, log scale
#   RR, RD, OR  a contrast computed from the arm counts of the therapy and the comparator arms
#   MEDIAN      arm-level medians (log scale), a summary per therapy
#   PROPORTION  arm-level proportions (PLO, PFT, PAS, PR), a summary per therapy
EFFECTS = {
    "HR": {"table_measure": "hr", "kind": "contrast", "scale": "log"},
    "RR": {"table_measure": "proportion", "kind": "binary", "scale": "log"},
    "OR": {"table_measure": "proportion", "kind": "binary", "scale": "log"},
    "RD": {"table_measure": "proportion", "kind": "binary", "scale": "identity"},
    "MEDIAN": {"table_measure": "median", "kind": "arm", "scale": "log"},
    "PROPORTION": {"table_measure": "proportion", "kind": "arm", "scale": "PLO"},
}
ROLES = ("primary", "secondary", "descriptive")
MODELS = ("random", "common")
METHODS = ("DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM")
TESTS = ("z", "t", "knha")
PROPORTION_SCALES = ("PLO", "PFT", "PAS", "PR", "PLN")
DATA_CUTS = ("primary", "first", "latest")
MULTI_ARM = ("combine", "split-control", "first-arm")
GROUP_BY = ("therapy", "none")

# Eligibility keys: columns of data/trials.csv (study level) and of the study table (row level).
TRIAL_KEYS = ("design", "phase", "randomised", "blinding", "control", "line", "histology",
              "biomarker", "region", "crossover", "pfs_assessor")
ROW_KEYS = ("population", "assessor")
ELIGIBILITY_KEYS = TRIAL_KEYS + ROW_KEYS + ("histology_populations", "studies", "exclude_studies")
SENSITIVITY_KEYS = ("methods", "knha", "randomised_only", "first_line_only", "assessor",
                    "data_cut", "leave_one_out", "crossover_adjusted", "common_effect")
ANALYSIS_KEYS = ("id", "title", "role", "outcome", "effect", "comparator", "group_by",
                 "class_effect", "class_effect_rationale", "null", "data_cut", "assessor",
                 "model", "method", "test", "level", "proportion_scale", "multi_arm", "favours",
                 "eligibility", "sensitivity", "notes")
REVIEW_KEYS = ("title", "question", "population", "interventions", "comparator", "outcomes",
               "notes", "timing", "protocol_date", "registration")
# "prospective": written before any analysis of the data; "retrospective": after some
TIMINGS = ("prospective", "retrospective")
DEFAULT_KEYS = ("model", "method", "test", "level", "proportion_scale", "data_cut", "assessor",
                "multi_arm")
SEARCH_KEYS = ("date", "notes", "sources", "duplicates", "screened", "excluded_screening",
               "not_retrieved", "assessed", "excluded_full_text", "reports_of_included")
TOP_KEYS = ("schema", "review", "defaults", "analysis", "search", "grade", "amendments")
AMENDMENT_KEYS = ("date", "change", "reason", "key", "previous")


@dataclass(frozen=True)
class AnalysisProtocol:
    """One analysis as the protocol declares it (see ``data/README.md`` for every key)."""

    id: str
    title: str
    role: str
    outcome: str
    effect: str
    comparator: str = "placebo"
    group_by: str = "therapy"
    class_effect: bool = False
    class_effect_rationale: str = ""
    null: float | None = None
    data_cut: str = "primary"
    assessor: tuple = ("central", "", "investigator")
    model: str = "random"
    method: str = "REML"
    test: str = "knha"
    level: float = 95.0
    proportion_scale: str = "PLO"
    multi_arm: str = "combine"
    favours: tuple = ()
    eligibility: dict = frozen_field({})
    sensitivity: dict = frozen_field({})
    notes: str = ""
    line: int | None = None  # where the [[analysis]] block starts in the file

    @property
    def kind(self) -> str:
        return EFFECTS[self.effect]["kind"]

    @property
    def table_measure(self) -> str:
        return EFFECTS[self.effect]["table_measure"]

    @property
    def scale(self) -> str:
        return self.proportion_scale if self.effect == "PROPORTION" else EFFECTS[self.effect]["scale"]

    @property
    def fit_method(self) -> str:
        return "EE" if self.model == "common" else self.method

    @property
    def has_hypothesis(self) -> bool:
        return self.null is not None

    def null_on_scale(self) -> float | None:
        """The null on the analysis scale (log for ratios), or None without a hypothesis."""
        if self.null is None:
            return None
        if self.scale == "log":
            return math.log(self.null)
        return float(self.null)


@dataclass(frozen=True)
class Protocol:
    """The whole protocol: the review question, the analyses and the declared search counts."""

    path: str
    review: dict = frozen_field()
    analyses: tuple
    search: dict = frozen_field({})
    grade: dict = frozen_field({})  # GradeRules thresholds the protocol changes
    # changes made after analyses had been run (PRISMA 2020 item 24c): {date, change, reason}
    amendments: tuple = ()

    def analysis(self, analysis_id: str) -> AnalysisProtocol:
        for a in self.analyses:
            if a.id == analysis_id:
                return a
        raise KeyError(analysis_id)

    def replace_analysis(self, analysis_id: str, **changes) -> "Protocol":
        """A copy with one analysis changed (for scripted 'what if' reanalyses)."""
        import dataclasses

        new = tuple(dataclasses.replace(a, **changes) if a.id == analysis_id else a
                    for a in self.analyses)
        return dataclasses.replace(self, analyses=new)

    # the generated repr of a whole protocol is one line of over 14,000 characters
    def __repr__(self) -> str:
        roles = {}
        for a in self.analyses:
            roles[a.role] = roles.get(a.role, 0) + 1
        return (f"<Protocol {self.path!r}: {len(self.analyses)} analyses ("
                + ", ".join(f"{n} {r}" for r, n in roles.items()) + ")>")

    def to_frame(self):
        """One row per declared analysis: id, role, outcome, effect, comparator, model, method,
        test, level, null, data cut and the sensitivity analyses it declares."""
        import pandas as pd

        return pd.DataFrame([{
            "id": a.id, "title": a.title, "role": a.role, "outcome": a.outcome,
            "effect": a.effect, "comparator": a.comparator, "model": a.model,
            "method": a.method, "test": a.test, "level": a.level, "null": a.null,
            "data_cut": a.data_cut, "sensitivity": ", ".join(sorted(a.sensitivity)),
            "line": a.line} for a in self.analyses],
            columns=["id", "title", "role", "outcome", "effect", "comparator", "model", "method",
                     "test", "level", "null", "data_cut", "sensitivity", "line"])

    def to_dict(self) -> dict:
        import dataclasses

        from .._base import jsonable

        return jsonable({"path": self.path, "review": self.review, "search": self.search,
                         "grade": self.grade, "amendments": [dict(a) for a in self.amendments],
                         "analyses": [dataclasses.asdict(a) for a in self.analyses]})

    def summary(self) -> str:
        head = [f"Protocol {self.path}"]
        q = self.review.get("question") or self.review.get("title")
        if q:
            head.append(str(q))
        return "\n".join(head + ["", self.to_frame()[["id", "role", "outcome", "effect",
                                                       "comparator", "method", "test"]]
                                  .to_string(index=False)])

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        return (f"<p><b>Protocol</b> {html.escape(str(self.path))}: {len(self.analyses)} "
                "analyses</p>" + self.to_frame().to_html(index=False, escape=True))


# --------------------------------------------------------------------------------------------


def _key_lines(text: str) -> dict:
    """Line of each key: {(table path, index of [[analysis]] or None, key): line}.

    Enough of TOML's grammar for error messages: table headers and ``key = value`` lines.
    """
    lines = {}
    table, index = (), None
    counts = {}
    for no, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^\[\[\s*([A-Za-z0-9_.\-]+)\s*\]\]", s)
        if m:
            name = m.group(1)
            counts[name] = counts.get(name, -1) + 1
            table, index = (name,), counts[name]
            lines[(table, index, None)] = no
            continue
        m = re.match(r"^\[\s*([A-Za-z0-9_.\-]+)\s*\]", s)
        if m:
            parts = tuple(m.group(1).split("."))
            if parts[0] in counts and len(parts) > 1:
                table = parts  # a sub-table of the last [[analysis]]
            else:
                table, index = parts, None
            lines[(table, index, None)] = no
            continue
        m = re.match(r"^([A-Za-z0-9_\-]+)\s*=", s)
        if m:
            lines.setdefault((table, index, m.group(1)), no)
    return lines


class _Checker:
    def __init__(self, name, text):
        self.name = name
        self.lines = _key_lines(text)
        self.problems = []

    def line(self, table, index, key):
        for k in ((table, index, key), ((*table, key), index, None), (table, index, None),
                  (table[:1], index, None)):
            if k in self.lines:
                return self.lines[k]
        return None

    def err(self, table, index, key, message):
        self.problems.append(Problem(self.name, self.line(table, index, key),
                                     ".".join([*table, key] if key else table), message))


def _trial_vocabulary() -> dict:
    from .trials import VOCABULARY

    return VOCABULARY


def check_against_table(protocol: Protocol, table) -> list:
    """Warnings for analyses of ``protocol`` that the study table cannot feed.

    A protocol is written before the data, so an analysis may rightly find no studies (an outcome
    no trial reported); but a misspelt outcome, comparator or population selects nothing just as
    silently. Each analysis whose outcome no row of the table has, whose comparator is neither an
    arm's therapy nor a comparator in the table, or whose eligible populations include one no row
    has, gets a warning at its line of the protocol, with the table's closest values.

    Parameters
    ----------
    protocol : Protocol
    table : StudyTable

    Returns
    -------
    list of Problem
        Severity ``"warning"``; empty when every analysis can find its rows.

    Examples
    --------
    >>> from metaanalysis.studies import read_studies               # doctest: +SKIP
    >>> check_against_table(read_protocol("data/protocol.toml"),
    ...                     read_studies("data/studies.csv"))        # doctest: +SKIP
    []
    """
    return [p for _, p in table_warnings(protocol, table)]


def table_warnings(protocol: Protocol, table) -> list:
    """:func:`check_against_table`'s warnings as ``(analysis id, Problem)`` pairs."""
    import difflib

    from .eligibility import WHOLE_POPULATIONS

    frame = table.frame if hasattr(table, "frame") else table
    present = {col: sorted({str(v) for v in frame[col].fillna("")} - {""})
               for col in ("outcome", "therapy", "comparator", "population")}
    arms = set(present["therapy"]) | set(present["comparator"])
    text = _protocol_text(protocol)
    lines = _key_lines(text) if text is not None else {}
    problems = []

    def warn(i, key, message, sub=False):
        table_path = ("analysis", "eligibility") if sub else ("analysis",)
        line = None
        for k in ((table_path, i, key), (("analysis",), i, None)):
            if k in lines:
                line = lines[k]
                break
        problems.append((protocol.analyses[i].id, Problem(
            protocol.path, line, ".".join([*table_path, key]), message, "warning")))

    def near(value, options):
        close = difflib.get_close_matches(value, options, n=3, cutoff=0.6)
        return f" (closest: {', '.join(repr(x) for x in close)})" if close else ""

    for i, a in enumerate(protocol.analyses):
        if a.outcome not in present["outcome"]:
            warn(i, "outcome", f"analysis {a.id!r}: no row of the study table has outcome "
                 f"{a.outcome!r}{near(a.outcome, present['outcome'])}, so it will have no "
                 "studies")
        kind = EFFECTS.get(a.effect, {}).get("kind")
        if kind in ("contrast", "binary") and a.comparator and a.comparator not in arms:
            warn(i, "comparator", f"analysis {a.id!r}: comparator {a.comparator!r} is neither "
                 f"an arm's therapy nor a comparator in the study table"
                 f"{near(a.comparator, sorted(arms))}, so it will have no studies")
        for pop in a.eligibility.get("population", ()):
            if pop not in WHOLE_POPULATIONS and pop not in present["population"]:
                warn(i, "population", f"analysis {a.id!r}: no row of the study table has "
                     f"population {pop!r}{near(pop, present['population'])}", sub=True)
        ids = sorted(set(frame["study_id"]))
        for sid in a.eligibility.get("exclude_studies", ()):
            if sid not in ids:
                warn(i, "exclude_studies", f"analysis {a.id!r}: study {sid!r}, excluded by name, "
                     f"is not in the study table{near(sid, ids)}, so nothing is excluded",
                     sub=True)
    return problems


def _protocol_text(protocol) -> str | None:
    """The text of the protocol's file (for the lines of its keys), or None when it cannot be
    read again (a protocol parsed from text)."""
    from pathlib import Path

    try:
        return Path(protocol.path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def read_protocol(path, *, studies=None) -> Protocol:
    """Read and validate a protocol file.

    Parameters
    ----------
    path : path-like
        A TOML file in the format of ``data/README.md`` (section "The protocol").
    studies : iterable of str, optional
        The study ids of the study table: a study named in the protocol that is not among them
        is an error.

    Returns
    -------
    Protocol

    Raises
    ------
    StudyTableError
        Listing every problem, each with the file, line and key.

    Examples
    --------
    >>> protocol = read_protocol("data/protocol.toml")          # doctest: +SKIP
    >>> [a.id for a in protocol.analyses]                       # doctest: +SKIP
    """
    from ._files import read_text

    name, text = read_text(path, kind="TOML", missing="protocol file not found; write one as "
                                                      "data/README.md describes, or pass --protocol")
    return parse_protocol(text, name, studies=studies)


def parse_protocol(text: str, name: str = "<protocol>", *, studies=None) -> Protocol:
    """Validate protocol text; see :func:`read_protocol`."""
    try:
        raw = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise StudyTableError([Problem(name, int(m.group(1)) if m else None, None,
                                       f"is not valid TOML: {exc}")]) from None
    c = _Checker(name, text)
    for key in raw:
        if key not in TOP_KEYS:
            c.err((), None, key, f"unknown key {key!r}; the top level takes {', '.join(TOP_KEYS)}")
    if raw.get("schema", 1) != 1:
        c.err((), None, "schema", f"schema {raw.get('schema')!r} is not supported; use 1")
    review = raw.get("review", {})
    if not isinstance(review, dict):
        c.err((), None, "review", "must be a table [review]")
        review = {}
    for key in review:
        if key not in REVIEW_KEYS:
            c.err(("review",), None, key, f"unknown key {key!r}; [review] takes "
                  + ", ".join(REVIEW_KEYS))
    for key in ("title", "population", "comparator"):
        if not isinstance(review.get(key, ""), str) or not review.get(key):
            c.err(("review",), None, key, "is missing or not a text: the review question needs "
                  "its title, population and comparator")
    review = dict(review)
    if "timing" in review and review["timing"] not in TIMINGS:
        c.err(("review",), None, "timing", f"{review['timing']!r} is not one of "
              + ", ".join(repr(t) for t in TIMINGS) + " (was the protocol written before any "
              "analysis of the data?)")
    if "protocol_date" in review:
        import datetime

        d = review["protocol_date"]
        if isinstance(d, datetime.date) and not isinstance(d, datetime.datetime):
            review["protocol_date"] = d.isoformat()
        else:
            c.err(("review",), None, "protocol_date", f"{d!r} is not a date; write it as "
                  "2026-12-03 (no quotes), the day the protocol was written")
    if "registration" in review and not isinstance(review["registration"], str):
        c.err(("review",), None, "registration", "must be a text: a registry and number, or "
              "'not registered'")
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        c.err((), None, "defaults", "must be a table [defaults]")
        defaults = {}
    for key in defaults:
        if key not in DEFAULT_KEYS:
            c.err(("defaults",), None, key, f"unknown key {key!r}; [defaults] takes "
                  + ", ".join(DEFAULT_KEYS))
    defaults = _checked_defaults(c, defaults)
    search = raw.get("search", {})
    if not isinstance(search, dict):
        c.err((), None, "search", "must be a table [search]")
        search = {}
    for key in search:
        if key not in SEARCH_KEYS:
            c.err(("search",), None, key, f"unknown key {key!r}; [search] takes "
                  + ", ".join(SEARCH_KEYS))
    _check_search(c, search)
    grade = _grade_rules(c, raw.get("grade", {}))
    amendments = _amendments(c, raw.get("amendments", []))
    blocks = raw.get("analysis", [])
    if not isinstance(blocks, list) or not blocks:
        c.err((), None, "analysis", "declare at least one [[analysis]] block")
        blocks = []
    known_studies = None if studies is None else set(studies)
    analyses, seen = [], {}
    for i, block in enumerate(blocks):
        a = _analysis(c, i, block, defaults, known_studies)
        if a is None:
            continue
        if a.id in seen:
            c.err(("analysis",), i, "id", f"id {a.id!r} is also used by the analysis at line "
                  f"{seen[a.id]}; ids must be unique")
        seen[a.id] = a.line
        analyses.append(a)
    named = {a.outcome.upper(): a.outcome for a in analyses}
    for o in grade.get("crossover_outcomes", ()):
        if o.upper() not in named:
            # a misspelt outcome would silently rate nothing down while the Methods describe
            # the rule as applied
            c.err(("grade",), None, "crossover_outcomes", f"{o!r} is not the outcome of any "
                  "analysis; use the table's outcome codes, such as " + ", ".join(
                      repr(x) for x in sorted(set(named.values()))))
    if c.problems:
        raise StudyTableError(c.problems)
    return Protocol(name, dict(review), tuple(analyses), dict(search), grade, amendments)


def _amendments(c, items) -> tuple:
    """The [[amendments]]: each change made to the protocol after analyses had been run, with
    its date and reason, which the report lists (PRISMA 2020 item 24c) instead of letting the
    Methods call every rule prespecified."""
    import datetime

    if not isinstance(items, list):
        c.err((), None, "amendments", "give [[amendments]] blocks, each with date, change and "
              "reason")
        return ()
    out = []
    for j, item in enumerate(items):
        where = ("amendments",)
        if not isinstance(item, dict):
            c.err(where, j, None, "must be a table with date, change and reason")
            continue
        for key in item:
            if key not in AMENDMENT_KEYS:
                c.err(where, j, key, f"unknown key {key!r}; an amendment takes "
                      + ", ".join(AMENDMENT_KEYS))
        date = item.get("date")
        if isinstance(date, datetime.date) and not isinstance(date, datetime.datetime):
            date = date.isoformat()
        elif isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            try:
                datetime.date.fromisoformat(date)
            except ValueError:
                date = None
        else:
            date = None
        if date is None:
            c.err(where, j, "date", f"{item.get('date')!r} is not a date; write it as "
                  "2026-12-06 (when the change was made)")
        texts = {}
        for key in ("change", "reason"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                c.err(where, j, key, "is missing or empty: say what changed and why")
            else:
                texts[key] = " ".join(value.split())
        # a [grade] rule changed, with its earlier value: the report can then give each rating
        # as the rules first stood beside the amended one
        rule = {}
        if "key" in item:
            key = item["key"]
            field_ = key[len("grade."):] if isinstance(key, str) and key.startswith("grade.") \
                else None
            if field_ is None or field_ not in _grade_fields():
                c.err(where, j, "key", f"{key!r} is not a [grade] rule; write it as "
                      "'grade.two_study_interval' (only [grade] changes can be re-run)")
            elif "previous" not in item:
                c.err(where, j, "previous", "is missing: give the rule's value before the change")
            else:
                checked = _grade_rules(c, {field_: item["previous"]}, where=(where, j, "previous"))
                if field_ in checked:
                    rule = {"key": key, "previous": checked[field_]}
        elif "previous" in item:
            c.err(where, j, "key", "is missing: 'previous' needs the key of the rule it was")
        if date is not None and len(texts) == 2:
            # read-only: the protocol is frozen, and "before the amendments" re-runs read these
            out.append(FrozenDict({"date": date, **texts, **rule}))
    return tuple(sorted(out, key=lambda a: a["date"]))


def _grade_fields() -> set:
    import dataclasses

    from .grade import GradeRules

    return {f.name for f in dataclasses.fields(GradeRules)}


def _text_records(c, where, search, key, fields, what) -> None:
    """A [search] list of records with the text ``fields`` (none empty), each error at its key."""
    items = search.get(key, [])
    if not isinstance(items, list):
        c.err(where, None, key, "give a list of {" + ", ".join(f'{f} = "..."' for f in fields)
              + "}")
        return
    for j, item in enumerate(items):
        if not (isinstance(item, dict) and set(item) == set(fields)
                and all(isinstance(v, str) and v.strip() for v in item.values())):
            c.err(where, None, key, f"entry {j + 1} ({item!r}) needs {what}, nothing else")


def _check_search(c, search) -> None:
    """The [search] counts, present and of their types, each error at its line as validate and
    report print them; :func:`~metaanalysis.review.prisma.prisma_counts` reads them as checked
    here (that they add up is the flow's own check, shown on the page)."""
    def count(value):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    where = ("search",)
    for key in ("screened", "assessed"):
        if search and key not in search:
            c.err(where, None, key, "is missing: a [search] needs the records screened and "
                  "assessed (the PRISMA flow's boxes)")
    for key in ("duplicates", "screened", "assessed"):
        if key in search and not count(search[key]):
            c.err(where, None, key, f"{search[key]!r} is not a count (a whole number >= 0)")
    for key in ("excluded_screening", "excluded_full_text"):
        items = search.get(key, [])
        if not isinstance(items, list):
            c.err(where, None, key, "give a list of {reason = \"...\", n = ...}")
            continue
        for j, item in enumerate(items):
            if not (isinstance(item, dict) and isinstance(item.get("reason"), str)
                    and count(item.get("n")) and set(item) == {"reason", "n"}):
                c.err(where, None, key, f"entry {j + 1} ({item!r}) needs a reason (text) and n "
                      "(a whole number >= 0), nothing else")
    _text_records(c, where, search, "reports_of_included", ("report", "study_id"),
                  "report (the record, as text) and study_id (the included study it reports)")
    _text_records(c, where, search, "not_retrieved", ("report", "reason"),
                  "report (the record, as text) and reason (why its full text was not obtained)")
    sources = search.get("sources", [])
    if search and (not isinstance(sources, list) or not sources):
        c.err(where, None, "sources", "declare the sources as [[search.sources]] with a name "
              "and records")
        sources = []
    for j, src in enumerate(sources if isinstance(sources, list) else []):
        if not (isinstance(src, dict) and isinstance(src.get("name"), str)
                and count(src.get("records"))):
            c.err(("search.sources",), j, "records", f"source {j + 1} ({src!r}) needs a name "
                  "(text) and records (a whole number >= 0)")


def _grade_rules(c, grade, where=None) -> dict:
    """The [grade] table: thresholds of the GRADE rules (names of GradeRules' fields).

    ``where`` (table, index, key) reports every problem there instead (an amendment's
    ``previous``)."""

    def err(key, message):
        if where is None:
            c.err(("grade",), None, key, message)
        else:
            c.err(*where, message)

    import dataclasses

    from .grade import RULE_CHOICES, RULE_FRACTIONS, GradeRules

    if not isinstance(grade, dict):
        c.err((), None, "grade", "must be a table [grade]")
        return {}
    defaults = {f.name: f.default for f in dataclasses.fields(GradeRules)}
    out = {}
    for key, value in grade.items():
        if key not in defaults:
            err(key, f"unknown key {key!r}; [grade] takes "
                  + ", ".join(defaults))
            continue
        want = defaults[key]
        if key in RULE_CHOICES:
            if value not in RULE_CHOICES[key]:
                err(key, f"{value!r} is not one of "
                      + ", ".join(repr(v) for v in RULE_CHOICES[key]))
            else:
                out[key] = value
            continue
        if isinstance(want, tuple):
            like = want[0] if want else ""  # an empty default is a list of texts
            if not isinstance(value, list) or not all(type(v) is type(like) or
                                                      (isinstance(like, float) and
                                                       isinstance(v, (int, float)))
                                                      for v in value):
                err(key, f"must be a list like {list(want) or ['OS']!r}")
                continue
            if key == "ratio_thresholds" and not (len(value) == 2 and 0 < value[0] < 1 < value[1]):
                err(key, f"{value!r} must be two ratios either side of 1, like [0.8, 1.25]")
                continue
            out[key] = tuple(value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            err(key, f"must be a non-negative number like {want!r}")
        elif key in RULE_FRACTIONS and not 0 < value < 1:
            err(key, f"must be a fraction between 0 and 1 (exclusive) like "
                  f"{want!r}")
        elif key.startswith("sof_months") and not 0 < value < float("inf"):
            # a risk "by 0 months" is 0 in both arms: no absolute effect at all
            err(key, f"must be a positive number of months like {want!r}")
        else:
            out[key] = type(want)(value)
    return out


def _checked_defaults(c, defaults) -> dict:
    """The valid entries of [defaults]; each invalid one is reported once, at its own line in
    [defaults] (not again at every analysis that inherits it), and the analyses fall back to the
    built-in default for it."""
    where = ("defaults",)
    choices = {"model": (MODELS, "a model"), "method": (METHODS, "a tau² estimator (metafor's codes)"),
               "test": (TESTS, "a test"), "proportion_scale": (PROPORTION_SCALES, "a proportion scale"),
               "data_cut": (DATA_CUTS, "a data-cut preference"),
               "multi_arm": (MULTI_ARM, "a rule for multi-arm studies")}
    kept = {}
    for key, value in defaults.items():
        if key in choices:
            ok = _choice(c, where, None, key, value, *choices[key])
        elif key == "level":
            ok = not isinstance(value, bool) and isinstance(value, (int, float)) and 50 < value < 100
            if not ok:
                c.err(where, None, key, f"{value!r} is not a confidence level; give a percentage "
                      "such as 95")
        elif key == "assessor":
            ok = isinstance(value, list) and all(isinstance(a, str) for a in value)
            if not ok:
                c.err(where, None, key, "must be a list of assessors in order of preference, such "
                      'as ["central", "", "investigator"]')
        else:
            ok = key in DEFAULT_KEYS
        if ok:
            kept[key] = value
    return kept


def _choice(c, where, index, key, value, allowed, what):
    if value not in allowed:
        c.err(where, index, key, f"{value!r} is not {what}; use one of {', '.join(map(str, allowed))}")
        return False
    return True


def _analysis(c, i, block, defaults, known_studies):
    where = ("analysis",)
    if not isinstance(block, dict):
        c.err(where, i, None, "each [[analysis]] must be a table")
        return None
    before = len(c.problems)
    for key in block:
        if key not in ANALYSIS_KEYS:
            c.err(where, i, key, f"unknown key {key!r}; an analysis takes {', '.join(ANALYSIS_KEYS)}")
    merged = {**defaults, **block}
    required = len(c.problems)
    for key in ("id", "title", "role", "outcome", "effect"):
        if not isinstance(block.get(key), str) or not block.get(key):
            c.err(where, i, key, f"is missing: every analysis needs a {key} (text)")
    if len(c.problems) > required:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", block["id"]):
        c.err(where, i, "id", f"{block['id']!r}: use letters, digits, '_' and '-' only")
    _choice(c, where, i, "role", block["role"], ROLES, "a role (sensitivity analyses are declared "
            "inside their analysis, under [analysis.sensitivity])")
    from ..studies import _outcome_problem

    slip = _outcome_problem(block["outcome"])
    if slip is not None and slip[0] == "error":
        # the study table's own rule: 'pfs' for 'PFS' would select no row, silently; an unknown
        # outcome of another review stays allowed (the table check warns when no row has it)
        c.err(where, i, "outcome", slip[1])
    effect = str(block["effect"]).upper()
    _choice(c, where, i, "effect", effect, tuple(EFFECTS), "an effect")
    model = merged.get("model", "random")
    _choice(c, where, i, "model", model, MODELS, "a model")
    method = merged.get("method", "REML")
    _choice(c, where, i, "method", method, METHODS, "a tau² estimator (metafor's codes)")
    test = merged.get("test", "knha")
    _choice(c, where, i, "test", test, TESTS, "a test")
    level = merged.get("level", 95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 50 < level < 100:
        c.err(where, i, "level", f"{level!r} is not a confidence level; give a percentage such as 95")
        level = 95
    scale = merged.get("proportion_scale", "PLO")
    _choice(c, where, i, "proportion_scale", scale, PROPORTION_SCALES, "a proportion scale")
    cut = merged.get("data_cut", "primary")
    _choice(c, where, i, "data_cut", cut, DATA_CUTS, "a data-cut preference")
    multi = merged.get("multi_arm", "combine")
    _choice(c, where, i, "multi_arm", multi, MULTI_ARM, "a rule for multi-arm studies")
    group_by = block.get("group_by", "therapy")
    _choice(c, where, i, "group_by", group_by, GROUP_BY, "a grouping")
    class_effect = block.get("class_effect", False)
    if not isinstance(class_effect, bool):
        c.err(where, i, "class_effect", "must be true or false")
        class_effect = False
    rationale = block.get("class_effect_rationale", "")
    if group_by == "none" and not class_effect:
        c.err(where, i, "group_by", "one estimate across different therapies assumes a class "
              "effect: declare class_effect = true with a class_effect_rationale, or group by "
              "therapy")
    if class_effect and not (isinstance(rationale, str) and rationale.strip()):
        c.err(where, i, "class_effect_rationale", "a class-effect question needs its rationale "
              "(why the therapies can be expected to share one effect)")
    null = block.get("null")
    if null is not None:
        if isinstance(null, bool) or not isinstance(null, (int, float)) or not math.isfinite(null):
            c.err(where, i, "null", f"{null!r} is not a number; give the no-effect value on the "
                  "natural scale (1 for a ratio, 0 for a difference) or leave the key out (no test)")
            null = None
        elif EFFECTS.get(effect, {}).get("scale") == "log" and null <= 0:
            c.err(where, i, "null", f"{null!r}: a ratio's null must be positive (usually 1)")
            null = None
        elif effect == "PROPORTION" and not 0 < null < 1:
            c.err(where, i, "null", f"{null!r}: a proportion's null lies in (0, 1)")
            null = None
    assessor = merged.get("assessor", ["central", "", "investigator"])
    if not isinstance(assessor, list) or not all(isinstance(a, str) for a in assessor):
        c.err(where, i, "assessor", "must be a list of assessors in order of preference, such as "
              '["central", "", "investigator"]')
        assessor = ["central", "", "investigator"]
    favours = block.get("favours", [])
    if not (isinstance(favours, list) and len(favours) in (0, 2)
            and all(isinstance(f, str) for f in favours)):
        c.err(where, i, "favours", 'must be two labels, left and right: ["favours therapy", '
              '"favours placebo"]')
        favours = []
    comparator = block.get("comparator", "placebo" if EFFECTS.get(effect, {}).get("kind")
                           in ("contrast", "binary") else "")
    if not isinstance(comparator, str):
        c.err(where, i, "comparator", "must be a text such as \"placebo\"")
        comparator = ""
    if EFFECTS.get(effect, {}).get("kind") in ("contrast", "binary") and not comparator:
        c.err(where, i, "comparator", f"a {effect} analysis needs its comparator")
    eligibility = block.get("eligibility", {})
    if not isinstance(eligibility, dict):
        c.err(where, i, "eligibility", "must be a table [analysis.eligibility]")
        eligibility = {}
    elig = {}
    sub = ("analysis", "eligibility")
    for key, value in eligibility.items():
        if key not in ELIGIBILITY_KEYS:
            c.err(sub, i, key, f"unknown key {key!r}; eligibility takes "
                  + ", ".join(ELIGIBILITY_KEYS))
            continue
        values = _as_list(value)
        if not all(isinstance(v, str) for v in values):
            c.err(sub, i, key, "must be a list of texts (\"\" stands for an empty cell)")
            continue
        vocabulary = _trial_vocabulary().get(key)
        if vocabulary is not None:
            # a value trials.csv cannot hold would select no study: a typo, never a choice
            for v in values:
                if v not in vocabulary:
                    c.err(sub, i, key, f"{v!r} is not a value of trials.csv's {key} column; use "
                          "one of " + ", ".join(repr(a) for a in vocabulary))
        # a study excluded by name that the table lacks leaves nothing to exclude (a table cut
        # down for a reanalysis): a warning against the table, not an error here
        if key == "studies" and known_studies is not None:
            for s in values:
                if s not in known_studies:
                    c.err(sub, i, key, f"study {s!r} is not in the study table")
        elig[key] = tuple(values)
    sensitivity = block.get("sensitivity", {})
    if not isinstance(sensitivity, dict):
        c.err(where, i, "sensitivity", "must be a table [analysis.sensitivity]")
        sensitivity = {}
    sens = {}
    sub = ("analysis", "sensitivity")
    for key, value in sensitivity.items():
        if key not in SENSITIVITY_KEYS:
            c.err(sub, i, key, f"unknown key {key!r}; sensitivity takes "
                  + ", ".join(SENSITIVITY_KEYS))
        elif key == "methods":
            values = _as_list(value)
            for m in values:
                _choice(c, sub, i, key, m, METHODS, "a tau² estimator")
            sens[key] = tuple(values)
        elif key == "knha":
            values = _as_list(value)
            if not all(isinstance(v, bool) for v in values):
                c.err(sub, i, key, "must be a list of true/false (with and without Knapp–Hartung)")
            sens[key] = tuple(values)
        elif not isinstance(value, bool):
            c.err(sub, i, key, "must be true or false")
        else:
            sens[key] = value
    for key in ("notes", "class_effect_rationale", "title"):
        if not isinstance(block.get(key, ""), str):
            c.err(where, i, key, "must be a text")
    if len(c.problems) > before:
        return None
    return AnalysisProtocol(
        id=block["id"], title=block["title"], role=block["role"], outcome=block["outcome"],
        effect=effect, comparator=comparator, group_by=group_by, class_effect=class_effect,
        class_effect_rationale=rationale, null=None if null is None else float(null),
        data_cut=cut, assessor=tuple(assessor), model=model, method=method, test=test,
        level=float(level), proportion_scale=scale, multi_arm=multi, favours=tuple(favours),
        eligibility=elig, sensitivity=sens, notes=block.get("notes", ""),
        line=c.line(("analysis",), i, None))
