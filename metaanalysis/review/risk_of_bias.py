"""Risk of bias: ``data/risk_of_bias.csv``, one line per study, outcome group and domain.

Each study's results are judged with the tool that fits its design, domain by domain, and the
overall judgement follows the tool's algorithm (:func:`overall_judgement`); an overall judgement
that departs from it needs an ``override_reason``. The file is validated like the study table:
every problem names the file, line and column and says what would be valid.

Tools (``TOOLS``; ``data/README.md``, "Risk of bias: data/risk_of_bias.csv", documents them):

- **RoB 2** (Sterne et al., BMJ 2019;366:l4898) for randomised trials: domains ``D1`` randomisation
  process, ``D2`` deviations from intended interventions (effect of assignment), ``D3`` missing
  outcome data, ``D4`` measurement of the outcome, ``D5`` selection of the reported result; each
  ``low`` / ``some concerns`` / ``high``. Overall: ``low`` when every domain is low; ``high`` when
  any domain is high, or when :data:`ROB2_SEVERAL_SOME_CONCERNS` (3) or more domains have some
  concerns -- the review's reading of the guidance's "some concerns for multiple domains in a way
  that substantially lowers confidence in the result"; otherwise ``some concerns``.
- **ROBINS-I** (Sterne et al., BMJ 2016;355:i4919) for non-randomised comparative studies: domains
  ``D1``-``D7`` (confounding, selection of participants, classification of interventions,
  deviations from intended interventions, missing data, measurement of outcomes, selection of the
  reported result); ``low`` / ``moderate`` / ``serious`` / ``critical`` / ``no information``.
  Overall: the most severe of critical, serious; then ``no information`` when a domain lacks
  information and none is serious or critical; then moderate; else low.
- **MINORS** (Slim et al., ANZ J Surg 2003;73:712-6), non-comparative items ``M1``-``M8`` for
  single-arm trials and case series, each scored ``0`` (not reported), ``1`` (reported but
  inadequate) or ``2`` (reported and adequate). Overall: the total score, ``0``-``16``.

Examples
--------
>>> overall_judgement("RoB 2", {"D1": "low", "D2": "low", "D3": "some concerns",
...                             "D4": "low", "D5": "low"})
'some concerns'
>>> overall_judgement("MINORS", ["2", "0", "2", "1", "0", "2", "0", "0"])
'7'
>>> rob = read_risk_of_bias("data/risk_of_bias.csv")           # doctest: +SKIP
>>> judgements_for(rob, ["decision", "select"], "PFS")          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._base import frame_field, frozen_field
from ..errors import InputError, Problem, StudyTableError

__all__ = ["Tool", "TOOLS", "OUTCOME_GROUPS", "RISK_OF_BIAS_COLUMNS", "ROB2_SEVERAL_SOME_CONCERNS",
           "RiskOfBiasTable", "read_risk_of_bias", "overall_judgement", "weighted_summary",
           "judgements_for", "unassessed", "missing_assessments", "NOT_ASSESSED"]

RISK_OF_BIAS_COLUMNS = ("study_id", "outcome", "tool", "domain", "judgement", "support", "source",
                        "locator")
OPTIONAL_COLUMNS = ("override_reason",)
# Outcome groups: one assessment covers every table outcome of its group (AE covers AE:*, TRAE:*
# and DOSE:*; ORR covers DCR, CR and PR): see review.grade.rob_outcome.
OUTCOME_GROUPS = ("PFS", "OS", "ORR", "AE")
OVERALL = "overall"
NOT_ASSESSED = "not assessed"
# RoB 2 guidance: high risk when "some concerns for multiple domains in a way that substantially
# lowers confidence in the result". The review reads "multiple" as three or more of the five.
ROB2_SEVERAL_SOME_CONCERNS = 3


@dataclass(frozen=True)
class Tool:
    """A risk-of-bias tool: its domains (code -> label), the judgements a domain may take (most
    favourable first), those the overall may take, and the designs of ``trials.csv`` it fits."""

    name: str
    domains: dict = frozen_field()
    judgements: tuple
    overall_judgements: tuple
    designs: tuple
    reference: str
    categorical_overall: bool = True  # False: the overall is a score, not a category

    @property
    def all_domains(self) -> tuple:
        return (*self.domains, OVERALL)

    def label(self, domain: str) -> str:
        return "Overall" if domain == OVERALL else self.domains.get(domain, domain)


TOOLS = {
    "RoB 2": Tool(
        "RoB 2",
        {"D1": "Randomisation process", "D2": "Deviations from intended interventions",
         "D3": "Missing outcome data", "D4": "Measurement of the outcome",
         "D5": "Selection of the reported result"},
        ("low", "some concerns", "high"), ("low", "some concerns", "high"), ("rct",),
        "Sterne JAC et al. RoB 2: a revised tool for assessing risk of bias in randomised trials. "
        "BMJ 2019;366:l4898"),
    "ROBINS-I": Tool(
        "ROBINS-I",
        {"D1": "Confounding", "D2": "Selection of participants",
         "D3": "Classification of interventions", "D4": "Deviations from intended interventions",
         "D5": "Missing data", "D6": "Measurement of outcomes",
         "D7": "Selection of the reported result"},
        ("low", "moderate", "serious", "critical", "no information"),
        ("low", "moderate", "serious", "critical", "no information"),
        ("prospective-cohort", "retrospective"),
        "Sterne JAC et al. ROBINS-I: a tool for assessing risk of bias in non-randomised studies "
        "of interventions. BMJ 2016;355:i4919"),
    "MINORS": Tool(
        "MINORS",
        {"M1": "Clearly stated aim", "M2": "Consecutive patients",
         "M3": "Prospective data collection", "M4": "Endpoints appropriate to the aim",
         "M5": "Unbiased assessment of the endpoint", "M6": "Follow-up appropriate to the aim",
         "M7": "Loss to follow-up under 5%", "M8": "Prospective study size calculation"},
        ("2", "1", "0"), tuple(str(n) for n in range(16, -1, -1)),
        ("single-arm", "retrospective"),
        "Slim K et al. Methodological index for non-randomized studies (MINORS). ANZ J Surg "
        "2003;73:712-716", categorical_overall=False),
}


def _tool(name) -> Tool:
    try:
        return TOOLS[name]
    except (KeyError, TypeError):
        raise InputError(f"tool {name!r} is not known; use one of "
                         + ", ".join(repr(t) for t in TOOLS)) from None


def _norm(judgement) -> str:
    return " ".join(str(judgement).split()).lower()


def overall_judgement(tool, domain_judgements) -> str:
    """The overall judgement the tool's algorithm gives for its domain judgements.

    Parameters
    ----------
    tool : str
        ``"RoB 2"``, ``"ROBINS-I"`` or ``"MINORS"``.
    domain_judgements : mapping or sequence
        ``{domain: judgement}`` with every domain of the tool (an ``overall`` key is ignored), or
        the judgements of every domain in the tool's order.

    Returns
    -------
    str
        RoB 2: ``low`` if every domain is low; ``high`` if any domain is high or at least
        :data:`ROB2_SEVERAL_SOME_CONCERNS` have some concerns; else ``some concerns``.
        ROBINS-I: ``critical`` if any domain is; else ``serious`` if any is; else ``no
        information`` if any domain lacks information; else ``moderate`` if any is; else ``low``.
        MINORS: the total score of items M1-M8, as text (``"0"``-``"16"``).

    Raises
    ------
    InputError
        An unknown tool, a missing or unknown domain, or a judgement the tool does not allow.

    Examples
    --------
    >>> overall_judgement("RoB 2", ["low", "some concerns", "some concerns", "low", "low"])
    'some concerns'
    >>> overall_judgement("RoB 2", ["low", "some concerns", "some concerns", "some concerns", "low"])
    'high'
    >>> overall_judgement("ROBINS-I", ["low", "moderate", "no information", "low", "low", "low",
    ...                                "low"])
    'no information'
    """
    t = _tool(tool)
    domains = list(t.domains)
    if isinstance(domain_judgements, Mapping):
        given = {k: v for k, v in domain_judgements.items() if k != OVERALL}
        unknown = [k for k in given if k not in t.domains]
        if unknown:
            raise InputError(f"{t.name} has no domain {unknown[0]!r}; its domains are "
                             + ", ".join(domains))
        missing = [d for d in domains if d not in given]
        if missing:
            raise InputError(f"{t.name} needs a judgement for every domain; missing: "
                             + ", ".join(missing))
        values = [given[d] for d in domains]
    else:
        values = list(domain_judgements)
        if len(values) != len(domains):
            raise InputError(f"{t.name} has {len(domains)} domains ({', '.join(domains)}); got "
                             f"{len(values)} judgements")
    values = [_norm(v) for v in values]
    for d, v in zip(domains, values):
        if v not in t.judgements:
            raise InputError(f"{t.name} domain {d}: {v!r} is not a judgement of the tool; use one "
                             "of " + ", ".join(repr(j) for j in t.judgements))
    if t.name == "RoB 2":
        if all(v == "low" for v in values):
            return "low"
        if "high" in values or values.count("some concerns") >= ROB2_SEVERAL_SOME_CONCERNS:
            return "high"
        return "some concerns"
    if t.name == "ROBINS-I":
        for level in ("critical", "serious", "no information", "moderate"):
            if level in values:
                return level
        return "low"
    return str(sum(int(v) for v in values))  # MINORS: total score


def _rule_text(tool: Tool) -> str:
    return {"RoB 2": "low only if every domain is low; high if any domain is high or "
                     f"{ROB2_SEVERAL_SOME_CONCERNS} or more have some concerns; otherwise some "
                     "concerns",
            "ROBINS-I": "the most severe of critical, serious, no information, moderate, low",
            "MINORS": "the total of the item scores M1-M8"}[tool.name]


@dataclass(frozen=True, eq=False)
class RiskOfBiasTable:
    """The validated risk-of-bias judgements.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per line of the file (text cells; judgements lower-cased), plus ``line_no``, the
        line number in the CSV file, and ``override_reason`` ("" when the file has none).
    path : str
    warnings : list of Problem
    """

    frame: object = frame_field()
    path: str
    warnings: list = frozen_field([])

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        f = self.frame
        n = len(f.groupby(["study_id", "outcome"])) if len(f) else 0
        return f"<RiskOfBiasTable {self.path!r}: {n} assessments, {len(f)} lines>"

    def to_frame(self):
        """A copy of the judgements, one row per line of the file."""
        return self.frame

    def overall_table(self):
        """The overall judgements: one row per study, one column per outcome group ("" where a
        study has no assessment of that outcome)."""
        f = self.frame
        f = f[f["domain"].str.lower() == OVERALL]
        return (f.pivot_table(index="study_id", columns="outcome", values="judgement",
                              aggfunc="first", sort=False)
                .reindex(columns=self.outcomes).fillna(""))

    def summary(self) -> str:
        return f"Risk of bias {self.path} (overall judgements)\n\n" + self.overall_table().to_string()

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{html.escape(repr(self))}; overall judgements:</p>"
                + self.overall_table().to_html(escape=True))

    @property
    def outcomes(self) -> list:
        return list(dict.fromkeys(self.frame["outcome"]))

    def of(self, study_id: str, outcome: str | None = None):
        """The lines of one study (and outcome group, when given)."""
        f = self.frame
        f = f[f["study_id"] == study_id]
        if outcome is not None:
            f = f[f["outcome"] == _group(self, outcome)]
        return f

    def overall(self, outcome: str) -> dict:
        """``{study_id: overall judgement}`` for the outcome group covering ``outcome``."""
        group = _group(self, outcome)
        f = self.frame
        rows = f[(f["outcome"] == group) & (f["domain"] == OVERALL)]
        return dict(zip(rows["study_id"], rows["judgement"]))


def _frame_of(rob):
    return rob.frame if hasattr(rob, "frame") else rob


def _group(rob, outcome):
    """The outcome group of the file covering an analysis outcome (``AE:G3+`` -> ``AE``)."""
    from .grade import rob_outcome

    return rob_outcome(str(outcome), set(_frame_of(rob)["outcome"]))


# ------------------------------------------------------------------------------------- reading
def _records(name: str):
    from ._files import csv_records, read_text

    name, text = read_text(name, missing="file not found: the risk-of-bias judgements "
                                         "(data/README.md, 'Risk of bias')")
    return csv_records(name, text)


def _study_ids(studies):
    if studies is None:
        return None
    if isinstance(studies, (str, os.PathLike)):
        from ..studies import read_studies

        studies = read_studies(studies)
    return list(getattr(studies, "studies", studies))


def _designs(trials):
    if trials is None:
        return None
    if isinstance(trials, (str, os.PathLike)):
        from .trials import read_trials

        trials = read_trials(trials)
    f = trials.frame
    return dict(zip(f["study_id"], f["design"]))


def read_risk_of_bias(path, studies=None, trials=None) -> RiskOfBiasTable:
    """Read and validate ``risk_of_bias.csv``.

    Parameters
    ----------
    path : path-like
    studies : StudyTable, path or iterable of str, optional
        The study table (or its ids): a judgement of a study it does not have is an error -- or,
        when ``trials`` lists the study (its rows not yet added, as ``trials.csv`` allows), a
        warning.
    trials : TrialsTable or path, optional
        The study characteristics: a study they do not list is an error, and so is a tool that
        does not fit the study's design (RoB 2 only for ``rct``; ROBINS-I and MINORS only for
        non-randomised designs).

    Returns
    -------
    RiskOfBiasTable

    Raises
    ------
    StudyTableError
        Every problem, each with file, line and column: a missing column; an empty cell; an
        unknown tool, outcome group, or domain for the tool; a judgement the tool does not allow
        (``"maybe"``); an unknown study; a duplicate (study, outcome, domain); an assessment
        missing a domain or its overall line, or mixing tools; an overall judgement that departs
        from the tool's algorithm without an ``override_reason``.

    Examples
    --------
    >>> rob = read_risk_of_bias("data/risk_of_bias.csv", studies="data/studies.csv",
    ...                         trials="data/trials.csv")                  # doctest: +SKIP
    >>> rob.overall("PFS")["decision"]                                      # doctest: +SKIP
    'low'
    """
    import pandas as pd

    name = os.fspath(path)
    records = _records(name)
    header = [h.strip() for h in records[0][1]]
    from ..studies import header_problems

    bad_header = header_problems(name, records[0][0], header)
    if bad_header:
        raise StudyTableError(bad_header)
    missing = [c for c in RISK_OF_BIAS_COLUMNS if c not in header]
    if missing:
        raise StudyTableError([Problem(name, 1, None, "missing column(s): " + ", ".join(missing)
                                       + "; the header must name all of: "
                                       + ", ".join(RISK_OF_BIAS_COLUMNS)
                                       + " (and may add override_reason)")])
    ids = _study_ids(studies)
    known_ids = set(ids) if ids is not None else None
    designs = _designs(trials)
    problems, warnings, rows = [], [], []
    seen, absent_warned = {}, set()
    from ._files import csv_rows

    for line, r in csv_rows(name, records, header, problems):
        r.setdefault("override_reason", "")
        bad = False
        for col in ("study_id", "outcome", "tool", "domain", "judgement", "support", "source",
                    "locator"):
            if not r[col]:
                why = {"support": "every judgement needs its support text",
                       "source": "every judgement needs its source",
                       "locator": "say where in the source the support stands"}.get(col, "")
                problems.append(Problem(name, line, col, "is empty" + (f": {why}" if why else "")))
                bad = True
        if bad:
            continue
        sid = r["study_id"]
        if designs is not None and sid not in designs:
            problems.append(Problem(name, line, "study_id", f"{sid!r} is not a study of the review: "
                                    "it has no line in the study characteristics (trials.csv)"))
        elif known_ids is not None and sid not in known_ids:
            if designs is not None:
                # a study the review lists but whose rows are not (yet) in the table, as trials.csv
                # allows: its judgements are kept, once per study
                if sid not in absent_warned:
                    absent_warned.add(sid)
                    warnings.append(Problem(name, line, "study_id", f"{sid!r} has no rows in the "
                                            "study table; its judgements are not used",
                                            "warning"))
            else:
                problems.append(Problem(name, line, "study_id", f"{sid!r} is not a study of the "
                                        "study table; use a study_id of data/studies.csv"))
        if r["outcome"] not in OUTCOME_GROUPS:
            problems.append(Problem(name, line, "outcome", f"{r['outcome']!r} is not an outcome "
                                    "group; use one of " + ", ".join(OUTCOME_GROUPS)))
        tool = TOOLS.get(r["tool"])
        if tool is None:
            hint = next((t for t in TOOLS if t.lower() == r["tool"].lower()), None)
            problems.append(Problem(name, line, "tool", f"{r['tool']!r} is not a known tool; use "
                                    "one of " + ", ".join(repr(t) for t in TOOLS)
                                    + (f" (did you mean {hint!r}?)" if hint else "")))
            rows.append({**r, "line_no": line, "_ok": False})
            continue
        if designs is not None and sid in designs and designs[sid] not in tool.designs:
            problems.append(Problem(name, line, "tool", f"{tool.name} does not fit {sid!r}, whose "
                                    f"design is {designs[sid]!r} (trials.csv); {tool.name} is for "
                                    + ", ".join(tool.designs)))
        ok = True
        if r["domain"] not in tool.all_domains:
            problems.append(Problem(name, line, "domain", f"{r['domain']!r} is not a domain of "
                                    f"{tool.name}; use one of " + ", ".join(tool.all_domains)))
            ok = False
        else:
            r["judgement"] = _norm(r["judgement"])
            allowed = tool.overall_judgements if r["domain"] == OVERALL else tool.judgements
            if r["judgement"] not in allowed:
                what = ("the total score, a whole number from 0 to 16" if r["domain"] == OVERALL
                        and not tool.categorical_overall
                        else "one of " + ", ".join(repr(j) for j in allowed))
                problems.append(Problem(name, line, "judgement", f"{r['judgement']!r} is not a "
                                        f"{tool.name} judgement for {r['domain']}; use {what}"))
                ok = False
            key = (sid, r["outcome"], r["domain"])
            if key in seen:
                problems.append(Problem(name, line, "domain", f"{sid} / {r['outcome']} / "
                                        f"{r['domain']} already has line {seen[key]}; one line "
                                        "per study, outcome and domain"))
                ok = False
            else:
                seen[key] = line
        rows.append({**r, "line_no": line, "_ok": ok})
    problems += _check_assessments(name, rows, warnings)
    if problems:
        problems.sort(key=lambda p: (p.row or 0))
        raise StudyTableError(problems, warnings)
    columns = [*header] + (["override_reason"] if "override_reason" not in header else [])
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "_ok"} for r in rows],
                         columns=[*columns, "line_no"])
    return RiskOfBiasTable(frame, name, warnings)


def _check_assessments(name, rows, warnings) -> list:
    """Per (study, outcome): one tool, every domain and the overall present, overall consistent."""
    problems = []
    groups = {}
    for r in rows:
        groups.setdefault((r["study_id"], r["outcome"]), []).append(r)
    for (sid, outcome), lines in groups.items():
        if not all(r["_ok"] for r in lines):
            continue  # the line's own problem is reported; the assessment cannot be checked
        tools = list(dict.fromkeys(r["tool"] for r in lines))
        if len(tools) > 1:
            other = next(r for r in lines if r["tool"] != tools[0])
            problems.append(Problem(name, other["line_no"], "tool", f"{sid} / {outcome} is "
                                    f"assessed with {tools[0]!r} on line {lines[0]['line_no']} and "
                                    f"{other['tool']!r} here; one tool per study and outcome"))
            continue
        tool = TOOLS[tools[0]]
        by_domain = {r["domain"]: r for r in lines}
        absent = [d for d in tool.all_domains if d not in by_domain]
        if absent:
            problems.append(Problem(name, lines[0]["line_no"], "domain", f"the {tool.name} "
                                    f"assessment of {sid} / {outcome} lacks "
                                    + ", ".join(absent) + "; every domain and the overall "
                                    "judgement are needed"))
            continue
        expected = overall_judgement(tool.name, {d: by_domain[d]["judgement"]
                                                 for d in tool.domains})
        row = by_domain[OVERALL]
        if row["judgement"] != expected and not row["override_reason"]:
            problems.append(Problem(name, row["line_no"], "judgement", f"overall "
                                    f"{row['judgement']!r} of {sid} / {outcome} departs from the "
                                    f"{tool.name} algorithm, which gives {expected!r} ("
                                    f"{_rule_text(tool)}); correct it or give an override_reason"))
        elif row["judgement"] == expected and row["override_reason"]:
            warnings.append(Problem(name, row["line_no"], "override_reason", "the overall "
                                    "judgement agrees with the algorithm; the override reason is "
                                    "not needed", "warning"))
        for r in lines:
            if r["domain"] != OVERALL and r["override_reason"]:
                warnings.append(Problem(name, r["line_no"], "override_reason", "only an overall "
                                        "judgement can be overridden; this reason is ignored",
                                        "warning"))
    return problems


# ------------------------------------------------------------------------------ pure helpers
def _assessed(rob, outcome):
    """Rows of the outcome group covering ``outcome`` (empty when the file has none)."""
    f = _frame_of(rob)
    group = _group(rob, outcome) if len(f) else None
    return f[f["outcome"] == group] if group is not None else f.iloc[0:0]


def judgements_for(rob, study_ids, outcome):
    """The judgements of some studies for one outcome: a DataFrame, one row per study.

    Parameters
    ----------
    rob : RiskOfBiasTable or its frame
    study_ids : iterable of str
        The studies, in the order wanted (for example the rows of a forest plot).
    outcome : str
        An outcome group (``PFS``) or a table outcome it covers (``AE:G3+``).

    Returns
    -------
    pandas.DataFrame
        Index ``study_id`` (in the given order); columns ``tool`` and every domain of the tools
        used, then ``overall``; ``None`` where a study has no assessment.

    Examples
    --------
    >>> judgements_for(rob, ["decision", "select"], "PFS").loc["decision", "D4"]  # doctest: +SKIP
    'low'
    """
    import pandas as pd

    ids = list(study_ids)
    f = _assessed(rob, outcome)
    f = f[f["study_id"].isin(ids)]
    tools = [t for t in TOOLS if t in set(f["tool"])]
    domains = list(dict.fromkeys(d for t in tools for d in TOOLS[t].domains))
    columns = ["tool", *domains, OVERALL]
    out = pd.DataFrame(index=pd.Index(ids, name="study_id"), columns=columns, dtype=object)
    for r in f.itertuples(index=False):
        out.at[r.study_id, "tool"] = r.tool
        out.at[r.study_id, r.domain] = r.judgement
    return out.astype(object).where(out.notna(), None)


def unassessed(rob, study_ids, outcome) -> list:
    """The studies (in the given order) that have no assessment of the group covering ``outcome``.

    ``rob`` may be None (no file): then every study is unassessed.
    """
    ids = list(dict.fromkeys(study_ids))
    if rob is None:
        return ids
    have = set(_assessed(rob, outcome)["study_id"])
    return [s for s in ids if s not in have]


def missing_assessments(rob, groups) -> list:
    """Warnings for the page: the studies of each analysis that have no risk-of-bias assessment.

    Parameters
    ----------
    rob : RiskOfBiasTable or None
    groups : iterable
        Either :class:`~metaanalysis.review.GroupResult` objects (``id``, ``analysis.outcome``,
        ``entries``) or ``(id, outcome, study_ids)`` tuples.

    Returns
    -------
    list of Problem
        One warning per analysis with unassessed studies (``severity="warning"``), naming them.
    """
    out = []
    path = getattr(rob, "path", "risk_of_bias.csv") if rob is not None else "risk_of_bias.csv"
    for g in groups:
        if isinstance(g, tuple):
            gid, outcome, ids = g
        else:
            gid, outcome = g.id, g.analysis.outcome
            ids = list(g.entries["study_id"]) if len(g.entries) else []
        missing = unassessed(rob, ids, outcome)
        if missing:
            out.append(Problem(path, None, "study_id", f"{gid}: no risk-of-bias assessment of "
                               f"{outcome} for " + ", ".join(missing), "warning"))
    return out


def weighted_summary(rob, weights_by_study, outcome):
    """The share of an analysis' weight at each judgement, per domain (robvis' summary plot).

    Parameters
    ----------
    rob : RiskOfBiasTable or its frame
    weights_by_study : mapping
        ``{study_id: weight}`` of the analysis (any non-negative scale; normalised here).
    outcome : str
        An outcome group or a table outcome it covers.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome`` (the group), ``tool``, ``domain``, ``label``, ``judgement``, ``share``
        (of the analysis weight, 0-1), ``weight`` (the summed weights) and ``k`` (studies). One
        row per tool used, domain and judgement of the tool (most favourable first, shares of 0
        kept), then ``not assessed`` -- the weight of studies with no assessment by that tool -- so
        that the shares of a domain add up to 1. A score overall (MINORS) is not summarised.

    Raises
    ------
    InputError
        A negative or non-finite weight, or weights that sum to zero.

    Examples
    --------
    >>> s = weighted_summary(rob, {"decision": 0.6, "select": 0.4}, "PFS")  # doctest: +SKIP
    >>> s[(s.domain == "overall") & (s.judgement == "low")].share           # doctest: +SKIP
    """
    import math

    import pandas as pd

    weights = {}
    for sid, w in dict(weights_by_study).items():
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise InputError(f"weights_by_study[{sid!r}] = {w!r} is not a number") from None
        if not math.isfinite(w) or w < 0:
            raise InputError(f"weights_by_study[{sid!r}] = {w!r}: weights must be finite and "
                             "non-negative")
        weights[sid] = weights.get(sid, 0.0) + w
    total = sum(weights.values())
    if not total > 0:
        raise InputError("weights_by_study: the weights sum to zero; give the analysis weights")
    f = _assessed(rob, outcome)
    f = f[f["study_id"].isin(weights)]
    group = _group(rob, outcome) if len(_frame_of(rob)) else None
    columns = ["outcome", "tool", "domain", "label", "judgement", "share", "weight", "k"]
    rows = []
    for name in [t for t in TOOLS if t in set(f["tool"])]:
        tool = TOOLS[name]
        ft = f[f["tool"] == name]
        domains = tool.all_domains if tool.categorical_overall else tuple(tool.domains)
        for d in domains:
            judged = dict(zip(ft.loc[ft["domain"] == d, "study_id"],
                              ft.loc[ft["domain"] == d, "judgement"]))
            values = tool.overall_judgements if d == OVERALL else tool.judgements
            for j in (*values, NOT_ASSESSED):
                members = ([s for s in weights if s not in judged] if j == NOT_ASSESSED
                           else [s for s, v in judged.items() if v == j])
                w = float(sum(weights[s] for s in members))
                rows.append({"outcome": group or outcome, "tool": name, "domain": d,
                             "label": tool.label(d), "judgement": j, "share": w / total,
                             "weight": w, "k": len(members)})
    return pd.DataFrame(rows, columns=columns)
