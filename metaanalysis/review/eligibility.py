"""Which rows of the study table an analysis uses, one entry per study, and why each other row is out.

For one :class:`~metaanalysis.review.protocol.AnalysisProtocol` :func:`select_rows` walks every row
of the table whose outcome and measure the analysis concerns and decides, with a reason a reviewer
can check, whether the row is used:

1. the row's comparison (a contrast against the declared comparator, an active arm, or a comparator
   arm for effects computed from arm counts);
2. the study's characteristics (``trials.csv``: design, line of therapy, histology...) and the row's
   population and assessor against the protocol's eligibility;
3. one row per study (or study arm) by the declared preference of data cut, then assessor, then
   population: the others are "other data cut used" or "not preferred", naming the row used;
4. the effect size itself (a median without an interval has no standard error).

The effect sizes are computed by :func:`metaanalysis.effects.effects_from_table`, the same path a
user calls from a notebook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._base import frame_field, frozen_field
from ..studies import CUT_CHRONOLOGY, CUT_PREFERENCE, cut_preference

__all__ = ["Selection", "select_rows", "CROSSOVER_ADJUSTED", "WHOLE_POPULATIONS"]

# Populations that stand for the whole randomised or treated population of a study.
WHOLE_POPULATIONS = ("", "itt", "all", "evaluable", "safety")
# Crossover-adjusted estimates (rank-preserving structural failure time, inverse probability of
# censoring weights): used only where the protocol asks for them.
CROSSOVER_ADJUSTED = ("rpsftm-adjusted", "rpsft-adjusted", "ipcw-adjusted")
_CHRONOLOGY = CUT_CHRONOLOGY

_DESIGN_WORDS = {
    "single-arm": "non-randomised: single-arm study",
    "retrospective": "non-randomised: retrospective observational cohort",
    "rct": "randomised trial",
}
_LINE_WORDS = {
    "second": "second line: prior VEGFR-targeted therapy required",
    "first": "first line: no prior VEGFR-targeted therapy",
    "any": "mixed lines: patients with and without prior VEGFR-targeted therapy",
    # the line is a study's characteristic (trials.csv): a row of one of its cohorts is still
    # coded with the study's line
    "first-or-second": "cohorts of different lines of therapy, and the line is coded per study, "
                       "not per cohort",
    "": "line of therapy not reported",
}


@dataclass(frozen=True, eq=False)
class Selection:
    """The outcome of :func:`select_rows` for one analysis.

    Attributes
    ----------
    rows : pandas.DataFrame
        The chosen rows (one per study, or per study arm for arm-level and count-based effects),
        with the study's characteristics joined (``design``, ``line_of_therapy``...).
    comparator_rows : pandas.DataFrame
        For effects computed from arm counts (RR, RD, OR): the chosen comparator arms.
    reasons : dict
        ``{line: reason}`` for every considered row that is not used.
    considered : tuple
        Lines of every row the analysis considered (its outcome and measure).
    """

    rows: object = frame_field()
    comparator_rows: object = frame_field()
    reasons: dict = frozen_field({})
    considered: tuple = ()
    structural: frozenset = frozenset()  # lines whose kind of row the analysis does not take
    # how far each rejected row got: 0 its kind of row, 1 the study's characteristics, 2 the row
    # itself (population, assessor, counts), 3 the choice of one row per study
    stages: dict = frozen_field({})
    # {line: line chosen instead of it} for the rows left out at stage 3
    preferred: dict = frozen_field({})


def _records(frame) -> list:
    """Rows as objects with attribute access.

    Built from whole columns (``tolist`` gives Python scalars, as ``to_dict`` does): pandas'
    row-wise ``to_dict(orient="records")`` and ``itertuples`` index every cell, which on the
    table's 30 columns made this a tenth of the report's analysis time.
    """
    from types import SimpleNamespace

    names = [str(c) for c in frame.columns]
    columns = [frame[c].tolist() for c in frame.columns]
    return [SimpleNamespace(**dict(zip(names, row))) for row in zip(*columns)]


def _is_contrast(frame):
    return frame["arm"].str.contains(" vs ", regex=False)


# the study-level criteria (trials.csv) an analysis's eligibility can set, in the order a failure
# is reported: the characteristics, then histology (which a cohort's row population can meet),
# then the studies the protocol names
STUDY_CRITERIA = ("design", "phase", "randomised", "blinding", "control", "line", "biomarker",
                  "region", "crossover", "pfs_assessor", "histology", "studies",
                  "exclude_studies")


def failed_criteria(trial: dict, elig: dict, populations=()) -> list:
    """Every study-level criterion of an analysis's eligibility ``elig`` that ``trial`` (a row of
    trials.csv) fails, in :data:`STUDY_CRITERIA` order, as ``(key, its value, values allowed)``.

    A series of mixed histology meets the histology criterion through ``populations`` (the row
    populations considered) when one of them is a histology cohort the analysis takes.

    Examples
    --------
    >>> failed_criteria({"study_id": "s", "design": "rct", "histology": "mixed"},
    ...                 {"design": ("rct",), "histology": ("DTC",),
    ...                  "histology_populations": ("dtc",)}, {"dtc"})
    []
    """
    out = []
    for key in STUDY_CRITERIA[:-2]:  # the characteristics and histology
        if key in elig and trial.get(key, "") not in elig[key]:
            if key == "histology" and set(populations) & set(elig.get("histology_populations", ())):
                continue
            out.append((key, trial.get(key, ""), tuple(elig[key])))
    sid = trial["study_id"]
    if "studies" in elig and sid not in elig["studies"]:
        out.append(("studies", sid, tuple(elig["studies"])))
    if sid in elig.get("exclude_studies", ()):
        out.append(("exclude_studies", sid, ()))
    return out


def _criterion_reason(key, value, allowed):
    return f"{_criterion_words(key, value, allowed)} (this analysis takes {key} " \
        + ", ".join(repr(a) if a else "not reported" for a in allowed) + ")"


def _criterion_words(key, value, allowed):
    if key == "design":
        return _DESIGN_WORDS.get(value, f"design {value!r}")
    if key == "line":
        return _LINE_WORDS.get(value, f"line of therapy {value!r}")
    if key == "histology":
        return ("mixed histology (the series includes medullary or anaplastic cancers)"
                if value == "mixed" else "histology not reported" if not value
                else f"histology {value!r}")
    if key == "randomised":
        return "non-randomised" if value == "no" else f"randomised = {value!r}"
    what = value if value else "not reported"
    return f"{key.replace('_', ' ')} {what!r} not in the protocol ({', '.join(map(repr, allowed))})"


def _count_problem(rec, scale=None) -> str | None:
    """Why a proportion row gives neither an event count nor a weight (None when it gives one);
    the rule is :func:`metaanalysis.effects.events_from_percentage`, and a row without a count is
    still weighted by the interval it reports when the analysis summarises arms on the logit
    scale (``scale="PLO"``; ``None``: a comparison, whose 2x2 table needs the count)."""
    from ..effects import events_from_percentage, interval_weighs_proportion

    if not math.isnan(rec.numerator) or not math.isnan(rec.denominator):
        return None
    if math.isnan(rec.value) or math.isnan(rec.n):
        why = "neither counts nor a denominator: no number of events"
    else:
        why = events_from_percentage(rec.value, rec.n, total_is_denominator=False,
                                     population=rec.population)[1]
    if why is None or scale is None:
        return why
    if interval_weighs_proportion(rec.value, rec.ci_low, rec.ci_high, rec.ci_level, scale):
        return None
    if interval_weighs_proportion(rec.value, rec.ci_low, rec.ci_high, rec.ci_level, "PLO"):
        return why + f" (its interval would weight it on the logit scale, PLO, not {scale})"
    return why + " and no interval to weight it"


def _cut_order(rule: str, outcome: str) -> tuple:
    if rule == "primary":
        return cut_preference(outcome)
    if rule == "first":
        return _CHRONOLOGY
    return tuple(reversed(_CHRONOLOGY))


def _rank(value, order):
    try:
        return order.index(value)
    except ValueError:
        return len(order)


def _source_rank(source) -> int:
    """1 for a web page (``url:``), 0 for any other source (a DOI, PubMed or PMC id, a registry
    id, a seed document's file): where two rows hold the same result, a web page's comes after."""
    return 1 if str(source or "").strip().lower().startswith("url:") else 0


def select_rows(frame, trials, analysis, *, eligibility=None, data_cut=None, assessor=None,
                crossover_adjusted=False) -> Selection:
    """Choose the rows ``analysis`` uses from a study-table frame (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        The study table's frame (``StudyTable.frame``).
    trials : TrialsTable
        Study characteristics.
    analysis : AnalysisProtocol
    eligibility, data_cut, assessor : optional
        Override the protocol's (a sensitivity analysis): eligibility keys are merged over the
        protocol's; ``data_cut`` is ``primary``, ``first`` or ``latest``; ``assessor`` an order.
    crossover_adjusted : bool
        Prefer a crossover-adjusted row of a study where one exists (RPSFT, IPCW).
    """
    elig = dict(analysis.eligibility)
    if eligibility:
        elig.update(eligibility)
    cut_rule = data_cut or analysis.data_cut
    assessors = tuple(assessor or analysis.assessor)
    comparator = analysis.comparator.lower()

    df = frame[(frame["outcome"] == analysis.outcome)
               & (frame["measure"] == analysis.table_measure)].copy()
    considered = tuple(int(x) for x in df["line"])
    reasons = {}
    contrast = _is_contrast(df) | (df["arm"].str.lower() == "all")
    therapy_l = df["therapy"].str.lower()
    comparator_col = df["comparator"].str.lower()
    role = np.full(len(df), "", dtype=object)
    for i, (is_c, th, co) in enumerate(zip(contrast, therapy_l, comparator_col)):
        if analysis.kind == "contrast":
            if not is_c:
                role[i] = "arm-level row: the analysis pools reported contrasts"
            elif co != comparator:
                role[i] = f"comparator {co or 'none'!r}, not the protocol's {comparator!r}"
            else:
                role[i] = "therapy"
        elif analysis.kind == "binary":
            if is_c:
                role[i] = "a contrast row: this analysis computes the effect from arm counts"
            elif th == comparator:
                role[i] = "comparator"
            elif co != comparator:
                role[i] = (f"no {comparator} arm to compare with (single-arm study)" if not co
                           else f"compared with {co!r}, not {comparator!r}")
            else:
                role[i] = "therapy"
        else:  # arm-level summaries
            if is_c:
                role[i] = "a contrast row: this analysis summarises arms"
            elif comparator and th == comparator or th == "placebo":
                role[i] = (f"{th} arm: the protocol summarises only active arms for this outcome "
                           "(the comparison with placebo is a contrast analysis)")
            else:
                role[i] = "therapy"
    df["sel_role"] = role
    for rec in _records(df[~df["sel_role"].isin(["therapy", "comparator"])]):
        reasons[int(rec.line)] = rec.sel_role
    structural = frozenset(reasons)
    df = df[df["sel_role"].isin(["therapy", "comparator"])]

    stages = dict.fromkeys(reasons, 0)
    preferred = {}
    # characteristics of the study (plain dicts: a pandas lookup per row costs more than the rest)
    tf = {r["study_id"]: r for r in trials.frame.to_dict(orient="records")}
    keep = []
    for rec in _records(df):
        why, stage = None, 1
        if rec.study_id not in tf:
            why = "study has no line in trials.csv"
        else:
            fails = failed_criteria(tf[rec.study_id], elig, (rec.population,))
            if fails:
                key, value, allowed = fails[0]
                if key == "studies":
                    why = "not among the studies the protocol names for this analysis"
                elif key == "exclude_studies":
                    why = "excluded by name in the protocol" + (
                        " (the analysis's notes say why)" if getattr(analysis, "notes", "")
                        else "")
                else:
                    why = _criterion_reason(key, value, allowed)
                if key == "histology" and rec.population and \
                        rec.population not in WHOLE_POPULATIONS:
                    # a subgroup of a mixed series: its label, not the series, is the reason
                    why += (f"; this row's population {rec.population!r} is not a label that "
                            "restricts the series to the target histology ("
                            + ", ".join(elig.get("histology_populations", ()) or ("none",))
                            + ")")
        if why is None:
            stage = 2
            pops = elig.get("population", WHOLE_POPULATIONS)
            if rec.population in CROSSOVER_ADJUSTED:
                if not crossover_adjusted:
                    why = ("crossover-adjusted estimate: used only in the crossover-adjusted "
                           "sensitivity analysis")
            elif rec.population not in pops and rec.population not in \
                    elig.get("histology_populations", ()):
                why = (f"population {rec.population!r}: "
                       + ("one of the cohorts the study enrolled separately"
                          if rec.population.lower().startswith("cohort") else
                          "a subgroup or another population")
                       + ", not the whole study population")
        if why is None and "assessor" in elig and rec.assessor not in elig["assessor"]:
            why = f"assessor {rec.assessor or 'not stated'!r} not in the protocol"
        if why is None and analysis.table_measure == "proportion":
            # only an arm-level summary can take a weight from an interval; a 2x2 table needs
            # the count itself
            why = _count_problem(rec, analysis.proportion_scale
                                 if analysis.effect == "PROPORTION" else None)
        if why is None and rec.status != "reported":
            why = "median not reached: no estimate to pool" if rec.status == "not_reached" \
                else f"status {rec.status!r}"
        if why:
            reasons[int(rec.line)] = why
            stages[int(rec.line)] = stage
        else:
            keep.append(rec)
    import pandas as pd

    chosen = pd.DataFrame([vars(r) for r in keep], columns=df.columns) if keep else df.iloc[0:0]
    # one row per study (contrasts) or study arm (arm-level, counts)
    if len(chosen):
        cuts = _cut_order(cut_rule, analysis.outcome)
        order = []
        for r in _records(chosen):
            adjusted = r.population in CROSSOVER_ADJUSTED
            order.append((0 if (adjusted == crossover_adjusted) else 1, _rank(r.data_cut, cuts),
                          _rank(r.assessor, assessors),
                          0 if r.population in ("", "itt", "all") else 1,
                          -(r.year if isinstance(r.year, float) and not math.isnan(r.year) else 0)
                          if cut_rule == "latest" else 0,
                          _source_rank(getattr(r, "source", "")), r.line))
        chosen = chosen.assign(_order=order).sort_values("_order")
        unit = ["study_id"] if analysis.kind == "contrast" else ["study_id", "arm"]
        firsts = chosen.drop_duplicates(unit, keep="first")
        winner = {tuple(getattr(r, u) for u in unit): r for r in _records(firsts)}
        for rec in _records(chosen[~chosen.index.isin(firsts.index)]):
            w = winner[tuple(getattr(rec, u) for u in unit)]
            if rec.data_cut != w.data_cut:
                # "not used", not "superseded": the cut left out may be the trial's own primary
                # analysis (COSMIC-311's interim) when the protocol's order prefers another
                why = (f"other data cut used ({rec.data_cut or 'unlabelled'} here): line {w.line} "
                       f"({w.data_cut or 'unlabelled'} cut) comes first in the protocol's "
                       f"{cut_rule!r} order")
            elif rec.assessor != w.assessor:
                why = (f"{rec.assessor or 'unstated'} assessment: line {w.line} "
                       f"({w.assessor or 'unstated'}) is preferred")
            elif rec.population != w.population:
                why = (f"population {rec.population or 'unstated'!r}: line {w.line} "
                       f"({w.population or 'unstated'}) is preferred")
            elif _source_rank(getattr(rec, "source", "")) != _source_rank(getattr(w, "source", "")):
                why = (f"the same result from another source: line {w.line} is used, cited to "
                       f"{w.source} rather than a web page")
            else:
                why = (f"another row of the same study arm is used (line {w.line}, the earlier "
                       "line of the table)")
            reasons[int(rec.line)] = why
            stages[int(rec.line)] = 3
            preferred[int(rec.line)] = int(w.line)
        chosen = firsts.drop(columns="_order")
    # join the study characteristics
    ch = trials.frame.rename(columns={"line": "line_of_therapy", "design": "study_design"})
    cols = [c for c in ("study_id", "study_design", "phase", "randomised", "line_of_therapy",
                        "histology", "biomarker", "region", "crossover", "crossover_pct")
            if c in ch.columns]
    chosen = chosen.merge(ch[cols], on="study_id", how="left")
    therapy_rows = chosen[chosen["sel_role"] == "therapy"].drop(columns="sel_role")
    comparator_rows = chosen[chosen["sel_role"] == "comparator"].drop(columns="sel_role")
    return Selection(therapy_rows.reset_index(drop=True), comparator_rows.reset_index(drop=True),
                     reasons, considered, structural, stages, preferred)


def cut_rules() -> dict:
    """The data-cut preference orders (for the methods text)."""
    return {"primary": dict(CUT_PREFERENCE), "first": _CHRONOLOGY,
            "latest": tuple(reversed(_CHRONOLOGY))}
