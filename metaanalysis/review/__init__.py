"""The review layer: a declared protocol decides what is pooled, and every table line is accounted for.

Between the statistics and the report (``design.md``): :func:`read_protocol` reads
``data/protocol.toml``, :func:`read_trials` the study characteristics, and :func:`run_review` runs
every analysis the protocol declares with its prespecified sensitivity analyses, and lists each line
of the study table that no analysis uses with its reason.

Examples
--------
>>> import metaanalysis as ma                                               # doctest: +SKIP
>>> review = ma.run_review("data/studies.csv")                              # doctest: +SKIP
>>> review.analysis_frame()                                                 # doctest: +SKIP
>>> review.excluded_frame()                                                 # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .._base import ResultMixin, frozen_field, jsonable
from .analyses import AnalysisRun, GroupResult, run_analysis
from .protocol import AnalysisProtocol, Protocol, parse_protocol, read_protocol
from .sensitivity import conclusion, sensitivity_runs, sensitivity_table
from .trials import TrialsTable, read_trials

__all__ = ["read_protocol", "parse_protocol", "Protocol", "AnalysisProtocol", "read_trials",
           "TrialsTable", "run_review", "ReviewResult", "GroupResult", "run_analysis",
           "sensitivity_table", "conclusion", "default_paths", "not_pooled_reason"]

# Rows that describe a study rather than report an outcome to pool.
_DESCRIPTIVE_OUTCOMES = {
    "N": "arm size: describes the study (characteristics table), not an outcome to pool",
    "FU": "follow-up time: describes the study's maturity, not an outcome to pool",
    "CROSSOVER": "crossover to the active drug: described in the characteristics and the OS caveat",
}


def default_paths(studies) -> dict:
    """``protocol.toml``, ``trials.csv``, ``risk_of_bias.csv`` and ``grade_overrides.csv`` beside
    the study table."""
    folder = Path(os.fspath(studies)).parent
    return {"protocol": folder / "protocol.toml", "trials": folder / "trials.csv",
            "risk_of_bias": folder / "risk_of_bias.csv",
            "grade_overrides": folder / "grade_overrides.csv"}


def not_pooled_reason(outcome: str, measure: str) -> str:
    """The reason a row whose outcome no analysis declares is not used."""
    head = outcome.split(":")[0]
    if head in _DESCRIPTIVE_OUTCOMES:
        return _DESCRIPTIVE_OUTCOMES[head]
    return f"no analysis of {outcome} ({measure}) in the protocol"


@dataclass(frozen=True, eq=False, repr=False)
class ReviewResult(ResultMixin):
    """Every analysis the protocol declares, its sensitivity analyses, and the excluded lines.

    Attributes
    ----------
    protocol : Protocol
    trials : TrialsTable
    table : StudyTable
    runs : tuple of AnalysisRun
        One per protocol analysis, in the protocol's order.
    sensitivity : dict
        ``{primary group id: [(variant label, GroupResult), ...]}``.
    sensitivity_not_run : dict
        ``{primary group id: [(variant label, reason), ...]}``: the declared variants without a
        result of their own (the same rows as the primary, no study left, one study, fewer than
        three to leave one out); the report lists them with their reason.
    used : dict
        ``{line: [group ids]}`` for every table line some analysis uses.
    excluded : list of dict
        ``{line, study_id, reason, other_reasons}`` for every other line: the reason from the
        analysis in which the row got furthest, then what the other analyses said.
    """

    protocol: Protocol
    trials: TrialsTable
    table: object
    runs: tuple
    sensitivity: dict = frozen_field()
    used: dict = frozen_field()
    excluded: list = frozen_field()
    considered: dict = frozen_field({})
    grade: dict = frozen_field({})  # estimate id -> GradeAssessment (primary ones)
    summary_of_findings: list = frozen_field([])
    risk_of_bias: object = None
    prisma: object = None  # PrismaCounts, when the protocol declares its [search]
    sensitivity_not_run: dict = frozen_field({})
    # analysis id -> its missing evidence (missing.missing_evidence), computed once with the runs
    missing: dict = frozen_field({})

    @property
    def groups(self) -> list:
        """Every primary, secondary and descriptive group result, in protocol order."""
        return [g for r in self.runs for g in r.groups]

    def all_results(self) -> list:
        """Groups and then every sensitivity variant (as results.json lists them)."""
        out = list(self.groups)
        for variants in self.sensitivity.values():
            out += [g for _, g in variants]
        return out

    def missing_evidence(self, analysis_id: str) -> list:
        """The eligible studies that give ``analysis_id`` no result, and why
        (:func:`~metaanalysis.review.missing.missing_evidence`), as computed with the runs
        (read-only: ``[dict(m) for m in ...]`` gives copies to change)."""
        if analysis_id in self.missing:
            # read-only, as the result holds it: results.json, exports and GRADE share it
            return self.missing[analysis_id]
        from .missing import missing_evidence

        return missing_evidence(self, analysis_id)

    def run(self, analysis_id: str) -> AnalysisRun:
        for r in self.runs:
            if r.analysis.id == analysis_id:
                return r
        raise KeyError(analysis_id)

    def sensitivity_frame(self, group_id: str):
        """The sensitivity table of one primary group (see :func:`sensitivity_table`)."""
        g = next(x for x in self.groups if x.id == group_id)
        return sensitivity_table(g, self.sensitivity.get(group_id, []),
                                 self.sensitivity_not_run.get(group_id, []))

    def analysis_frame(self):
        """One row per group: id, role, outcome, measure, therapy, k, natural estimate, CI, p."""
        import pandas as pd

        rows = []
        for g in self.groups:
            nat = g.natural()
            rows.append({"id": g.id, "role": g.role, "outcome": g.analysis.outcome,
                         "measure": g.analysis.effect, "group": g.group, "k": g.k, **nat,
                         "i2": g.fit.i2 if g.k > 1 else None, "p": g.p})
        return pd.DataFrame(rows)

    def excluded_frame(self):
        import pandas as pd

        return pd.DataFrame(self.excluded, columns=["line", "study_id", "reason", "other_reasons"])

    def characteristics_frame(self, included_only: bool = True):
        """Characteristics of the studies (of those some analysis uses, by default), with
        ``arms``: each arm and its patients as the study table gives them."""
        f = self.trials.frame.drop(columns=["line_no"], errors="ignore")
        if included_only:
            used = {s["study_id"] for g in self.groups for s in g.studies()}
            f = f[f["study_id"].isin(used)]
        f = f.reset_index(drop=True)
        arms = _arm_sizes(self.table.frame) if self.table is not None else {}
        return f.assign(arms=[arms.get(sid, "") for sid in f["study_id"]])

    def to_dict(self) -> dict:
        return jsonable({
            "protocol": {"path": self.protocol.path, "review": self.protocol.review},
            "analyses": [g.to_dict() for g in self.all_results()],
            "excluded": self.excluded,
        })

    def to_frame(self):
        return self.analysis_frame()

    def summary(self) -> str:
        lines = [f"Review by {self.protocol.path}: {len(self.groups)} estimates from "
                 f"{len(self.runs)} analyses, {sum(len(v) for v in self.sensitivity.values())} "
                 f"sensitivity analyses; {len(self.used)} table lines used, {len(self.excluded)} "
                 "excluded"]
        lines += [g.summary() for g in self.groups]
        return "\n".join(lines)

    def _short(self) -> str:
        return f"{len(self.groups)} estimates, {len(self.excluded)} lines excluded"


def _arm_sizes(frame) -> dict:
    """``{study_id: "sorafenib 207; placebo 210"}``: the patients of each arm, from the table's
    ``N`` rows at the preferred data cut (a whole-study count only where no arm has one), else
    from the ``n`` its outcome rows give; a population other than intention to treat is named."""
    from ..studies import cut_preference

    order = list(cut_preference("N"))
    out = {}
    counts = frame[(frame["outcome"] == "N") & (frame["measure"] == "count")]
    for sid, g in counts.groupby("study_id", sort=False):
        g = g.assign(_rank=[order.index(c) if c in order else len(order) for c in g["data_cut"]])
        per_arm = g.sort_values("_rank", kind="stable").drop_duplicates("arm")
        if (per_arm["arm"] != "all").any():
            per_arm = per_arm[per_arm["arm"] != "all"]
        out[sid] = "; ".join(
            f"{r.arm} {r.value:g}" + (f" ({r.population})" if r.population not in ("", "itt")
                                      else "")
            for r in per_arm.itertuples(index=False))
    rest = frame[~frame["study_id"].isin(out) & frame["n"].notna()
                 & ~frame["arm"].str.contains(" vs ", regex=False)]
    for sid, g in rest.groupby("study_id", sort=False):
        parts = []
        for arm, h in g.groupby("arm", sort=False):
            # the whole arm where its rows give it; else its largest population, named (Kloos
            # 2009's PTC patients of a mixed series)
            whole = h[h["population"].isin(["", "itt"])]
            if len(whole):
                parts.append(f"{arm} {whole['n'].mode().iloc[0]:g}")
            else:
                top = h.loc[h["n"].idxmax()]
                parts.append(f"{arm} {top['n']:g} ({top['population']})")
        out[sid] = "; ".join(parts)
    return out


def run_review(studies, protocol=None, trials=None, risk_of_bias=None,
               grade_overrides=None) -> ReviewResult:
    """Run every analysis the protocol declares on a study table.

    Parameters
    ----------
    studies : path-like or StudyTable
    protocol : path-like or Protocol, optional
        Default: ``protocol.toml`` beside the study table.
    trials : path-like or TrialsTable, optional
        Default: ``trials.csv`` beside the study table.
    risk_of_bias : path-like or table, optional
        Default: ``risk_of_bias.csv`` beside the study table, when there is one.
    grade_overrides : path-like or dict, optional
        Default: ``grade_overrides.csv`` beside the study table, when there is one.

    Returns
    -------
    ReviewResult

    Raises
    ------
    StudyTableError
        A problem in any of the three files (file, line, column or key named).
    """
    from ..studies import StudyTable, read_studies

    table = studies if isinstance(studies, StudyTable) else read_studies(studies)
    paths = default_paths(table.path)
    if not isinstance(trials, TrialsTable):
        trials = read_trials(trials if trials is not None else paths["trials"], studies=table)
    if not isinstance(protocol, Protocol):
        protocol = read_protocol(protocol if protocol is not None else paths["protocol"],
                                 studies=table.studies)
    frame = table.frame
    runs, sensitivity, not_run = [], {}, {}
    used: dict = {}
    considered: dict = {}
    for analysis in protocol.analyses:
        run = run_analysis(frame, trials, analysis)
        runs.append(run)
        for g in run.groups:
            for s in g.studies():
                for line in s["lines"]:
                    used.setdefault(line, []).append(g.id)
        for line, why in run.reasons.items():
            # the analysis in which the row got furthest explains best why it is out: a row that
            # failed only on its counts says more than one of the wrong kind for the analysis
            stage = run.selection.stages.get(line, 4)
            considered.setdefault(line, []).append(
                (-stage, len(considered.get(line, [])), analysis.id, why))
        if analysis.sensitivity and run.groups:
            skipped = []
            for parent, label, g in sensitivity_runs(frame, trials, analysis, run.groups,
                                                     not_run=skipped):
                sensitivity.setdefault(parent, []).append((label, g))
                for s in g.studies():
                    for line in s["lines"]:
                        used.setdefault(line, []).append(g.id)
            for parent, label, reason in skipped:
                not_run.setdefault(parent, []).append((label, reason))
    excluded = []
    for rec in frame.itertuples(index=False):
        line = int(rec.line)
        if line in used:
            continue
        if line in considered:
            # the reason of the first analysis (in protocol order) that considered the line
            ranked = sorted(considered[line])
            reason = ranked[0][3]
            others = list(dict.fromkeys(f"{aid}: {why}" for _, _, aid, why in ranked[1:]
                                        if why != reason))
        else:
            reason, others = not_pooled_reason(rec.outcome, rec.measure), []
        excluded.append({"line": line, "study_id": rec.study_id, "reason": reason,
                         "other_reasons": others})
    rob = _load_risk_of_bias(risk_of_bias, paths["risk_of_bias"], table, trials)
    missing = _missing(runs, trials, table)
    grade, sof = _certainty(protocol, runs, trials, table, rob,
                            grade_overrides if grade_overrides is not None
                            else paths["grade_overrides"], missing)
    result = ReviewResult(protocol, trials, table, tuple(runs), sensitivity, used, excluded,
                          considered, grade, sof, rob, missing=missing)
    from .prisma import prisma_counts

    import dataclasses

    return dataclasses.replace(result, prisma=prisma_counts(protocol, result),
                               sensitivity_not_run=not_run)


def _load_risk_of_bias(given, default_path, table, trials):
    """The risk-of-bias table (None when the review has none yet)."""
    if given is not None and not isinstance(given, (str, os.PathLike)):
        return given
    path = Path(given) if given is not None else Path(default_path)
    if not path.exists():
        return None
    from .risk_of_bias import read_risk_of_bias

    return read_risk_of_bias(path, studies=table, trials=trials)


def _rob_rows(rob, outcome, studies):
    """The risk-of-bias rows of ``studies`` for one analysis outcome (None when there are none)."""
    from .grade import rob_outcome

    if rob is None:
        return None
    f = rob.frame
    group = rob_outcome(outcome, set(f["outcome"]))
    if group is None:
        return None
    return f[(f["outcome"] == group) & f["study_id"].isin(studies)]


def _rob_concerns(rob, outcome, studies) -> dict:
    """``{study_id: ["some concerns in D1 randomisation process, D4 measurement of the
    outcome", ...]}``, one entry per judgement: the domains not judged low for one analysis
    outcome, named as the study's tool names them (what a GRADE footnote on risk of bias points
    to)."""
    from .risk_of_bias import OVERALL, TOOLS

    f = _rob_rows(rob, outcome, studies)
    if f is None:
        return {}
    rows = f[(f["domain"].str.lower() != OVERALL.lower())
             & (f["judgement"].astype(str).str.strip().str.lower() != "low")]
    by = {}
    for r in rows.itertuples():
        tool = TOOLS.get(getattr(r, "tool", ""), None)
        name = tool.label(r.domain).lower() if tool is not None else ""
        label = f"{r.domain}{' ' + name if name and name != r.domain.lower() else ''}"
        by.setdefault(r.study_id, {}).setdefault(str(r.judgement).strip(), []).append(label)
    return {s: [f"{j} in {', '.join(labels)}" for j, labels in js.items()]
            for s, js in by.items()}


def _rob_overall(rob, outcome, studies) -> dict:
    """``{study_id: overall judgement}`` for one analysis outcome."""
    f = _rob_rows(rob, outcome, studies)
    if f is None:
        return {}
    rows = f[f["domain"].str.lower() == "overall"]
    return dict(zip(rows["study_id"], rows["judgement"]))


def _missing(runs, trials, table) -> dict:
    """``{analysis id: missing evidence}`` (:func:`.missing.missing_evidence`) of every analysis,
    once: results.json, the exported tables and the GRADE judgements read it."""
    from types import SimpleNamespace

    from .missing import missing_evidence

    by_id = {r.analysis.id: r for r in runs}
    view = SimpleNamespace(run=by_id.__getitem__, table=table, trials=trials)
    return {aid: missing_evidence(view, aid) for aid in by_id}


def _certainty(protocol, runs, trials, table, rob, overrides, missing_evidence=None):
    """GRADE assessments and summary-of-findings rows of every primary estimate."""
    from .grade import GradeRules, assess, read_grade_overrides, summary_of_findings

    rules = GradeRules(**protocol.grade)
    # the earliest recorded value of each amended [grade] rule
    first = {}
    for amendment in getattr(protocol, "amendments", ()):
        if amendment.get("key", "").startswith("grade."):
            first.setdefault(amendment["key"][len("grade."):], amendment["previous"])
    before = GradeRules(**{**protocol.grade, **first}) if first else None
    ids = {g.id for r in runs for g in r.groups}
    if not isinstance(overrides, dict):
        overrides = read_grade_overrides(overrides, estimate_ids=ids)
    chars = {r["study_id"]: {k: r.get(k, "") for k in ("design", "line", "histology",
                                                         "crossover", "crossover_pct")}
             for r in trials.frame.to_dict(orient="records")}
    cuts = {r["study_id"]: r.get("data_cuts", "") for r in trials.frame.to_dict(orient="records")}
    grade, sof = {}, []
    # the eligible trials of each estimate's therapy without a usable result, for the
    # reporting-bias judgement
    missing = {}
    for aid, entries in (missing_evidence or {}).items():
        for m in entries:
            for therapy in m["therapies"]:
                missing.setdefault((aid, therapy), []).append(m["trial"])
    for run in runs:
        if run.analysis.role != "primary":
            continue
        for g in run.groups:
            studies = list(g.entries["study_id"])
            a = assess(g, rob=_rob_overall(rob, run.analysis.outcome, studies),
                       characteristics=chars, rules=rules, overrides=overrides.get(g.id),
                       rob_concerns=_rob_concerns(rob, run.analysis.outcome, studies),
                       missing=missing.get((run.analysis.id, str(g.group)), ()))
            grade[g.id] = a
            row = summary_of_findings(g, table.frame, a, rules=rules, data_cuts=cuts)
            if before is not None:
                # the rating as the [grade] rules stood before the amendments that changed them
                b = assess(g, rob=_rob_overall(rob, run.analysis.outcome, studies),
                           characteristics=chars, rules=before, overrides=overrides.get(g.id),
                           rob_concerns=_rob_concerns(rob, run.analysis.outcome, studies),
                           missing=missing.get((run.analysis.id, str(g.group)), ()))
                row["certainty_before_amendments"] = (b.certainty if b.certainty != a.certainty
                                                      else None)
            sof.append(row)
    return grade, sof
