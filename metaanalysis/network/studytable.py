"""The network from the study table: contrasts (e.g. PFS hazard ratios against placebo) and caveats.

Recipe (what :func:`network_from_studies` does)::

    import metaanalysis as ma
    from metaanalysis.network import network_from_studies

    table = ma.read_studies("data/studies.csv")
    res = network_from_studies(table, outcome="PFS", measure="hr", reference="placebo")
    print(res)                       # effects against placebo, Q, caveats
    res.league(kind="wide")          # league table of all drugs
    res.pscores()                    # ranking (small HR = good)

Rows used: randomised (``design`` rct or empty) contrast rows of the outcome and measure with a
comparator, the intention-to-treat population (``population`` empty or ``itt``), one row per
(study, therapy, comparator): among several data cuts the first found in ``cut_preference``, then
central before investigator review, then the first row in the file. Every choice made, every
interval that is not 95% and every investigator-assessed result is added to the caveats.
"""

from __future__ import annotations

import math

from ..errors import InputError

RAIR_DTC_CAVEATS = (
    "All drugs were compared with placebo, never with each other: every drug-vs-drug estimate is an "
    "indirect comparison through placebo and assumes transitivity (placebo arms comparable across "
    "trials); placebo median PFS ranged from about 2 to 8 months, which questions that assumption.",
    "Populations and lines of therapy differ: COSMIC-311 (cabozantinib) enrolled patients after prior "
    "VEGFR-targeted therapy (second line); VERIFY (vandetanib) was TKI-naive; the others were mostly "
    "first-line but allowed some prior therapy (DIRECTION reports TKI-naive and pretreated subgroups).",
    "REALITY (apatinib), DIRECTION (donafenib), Study 308 (lenvatinib) and ALTER01032 (anlotinib) "
    "enrolled Chinese patients only; the other trials were international.",
    "ALTER01032 and Leboulleux 2012 are randomised phase 2 trials; the rest are phase 3.",
)
"""Caveats for any RAIR-DTC network of targeted therapies against placebo."""

RAIR_DTC_PFS_CAVEATS = (
    "Crossover from placebo to active drug at progression (DECISION, SELECT 83%, REALITY 35/46, "
    "COSMIC-311 40 patients, ALTER01032 open-label anlotinib) does not bias PFS but dilutes OS.",
    "PFS was assessed by the investigator in REALITY and Leboulleux 2012 and by central/independent "
    "review in the other trials.",
    "Leboulleux 2012 reported its HR with a 60% confidence interval (0.54-0.74); its standard error is "
    "back-calculated with z = 0.8416 and is sensitive to the rounding of the interval.",
)
"""Further caveats for the PFS (and OS) hazard-ratio network."""

from ..studies import cut_preference as _cut_preference

# The study table's rule (one source of truth with the report): primary analysis first for PFS and
# response, the most mature cut for OS.
DEFAULT_CUT_PREFERENCE = None


def _table_frame(table):
    import pandas as pd

    frame = getattr(table, "frame", table)
    if not isinstance(frame, pd.DataFrame):
        raise InputError("table must be a StudyTable (ma.read_studies) or a DataFrame")
    need = {"study_id", "outcome", "measure", "value", "therapy", "comparator"}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise InputError(f"the study table lacks column(s) {', '.join(missing)}")
    frame = frame.copy()
    for col in ("study_id", "trial", "design", "arm", "therapy", "comparator", "outcome", "measure",
                "population", "assessor", "data_cut"):
        if col in frame.columns:
            frame[col] = frame[col].fillna("").astype(str).str.strip()
    if "line" not in frame.columns:
        # StudyTable frames carry the CSV line; a bare DataFrame read from the CSV gets it here
        frame["line"] = [str(i + 2) for i in range(len(frame))]
    return frame


def _text(row, col):
    v = row.get(col, "") if hasattr(row, "get") else ""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def _num(row, col):
    try:
        v = float(row.get(col, math.nan))
    except (TypeError, ValueError):
        return math.nan
    return v


def _arm_size(frame, study, treatment):
    """Patients in a study's arm: an ``N`` count row of that arm, else the ``n`` of an arm row."""
    rows = frame[(frame["study_id"] == study)]
    arm_col = rows["arm"].astype(str).str.strip() if "arm" in rows.columns else None
    ther = rows["therapy"].astype(str).str.strip()
    cand = rows[(ther == treatment) & ((arm_col == treatment) if arm_col is not None else True)]
    for outcome in ("N", None):
        sub = cand if outcome is None else cand[cand["outcome"] == outcome]
        if outcome == "N" and len(sub):
            vals = sub["value"].astype(float)
            if vals.notna().any():
                return float(vals.dropna().iloc[0])
        if outcome is None and "n" in sub.columns:
            vals = sub["n"].astype(float).dropna()
            if len(vals):
                return float(vals.iloc[0])
    return math.nan


def contrasts_from_studies(table, outcome: str = "PFS", measure: str = "hr",
                           comparator=None, cut_preference=DEFAULT_CUT_PREFERENCE):
    """Contrast rows for :func:`network_meta` from the study table, and the caveats they raise.

    Returns ``(contrasts, notes)``: a DataFrame with ``study, trial, treat1, treat2, value,
    ci_low, ci_high, ci_level, n, n1, n2, assessor, data_cut, line`` and a list of strings.
    ``comparator`` restricts the comparators used (e.g. ``"placebo"``); None keeps all.
    """
    import pandas as pd

    frame = _table_frame(table)
    sel = frame[(frame["outcome"].astype(str) == outcome)
                & (frame["measure"].astype(str).str.lower() == measure.lower())]
    sel = sel[sel["comparator"].astype(str).str.strip() != ""]
    if "design" in sel.columns:
        sel = sel[sel["design"].astype(str).isin(["rct", ""])]
    if "population" in sel.columns:
        sel = sel[sel["population"].astype(str).str.lower().isin(["", "itt"])]
    if comparator is not None:
        wanted = [comparator] if isinstance(comparator, str) else list(comparator)
        sel = sel[sel["comparator"].astype(str).str.strip().isin(wanted)]
    if len(sel) == 0:
        raise InputError(f"the study table has no randomised {outcome} {measure} contrasts"
                         + (f" against {comparator!r}" if comparator is not None else ""))
    notes: list = []
    rows = []
    prefs = [c.lower() for c in (cut_preference or _cut_preference(outcome))]
    groups = sel.groupby([sel["study_id"], sel["therapy"].astype(str).str.strip(),
                          sel["comparator"].astype(str).str.strip()], sort=False)
    for (study, ther, comp), g in groups:
        recs = [r for _, r in g.iterrows()]

        def rank(r):
            cut = _text(r, "data_cut").lower()
            cut_rank = prefs.index(cut) if cut in prefs else len(prefs)
            assessor = _text(r, "assessor").lower()
            return (cut_rank, 0 if assessor in ("central", "") else 1)

        recs_sorted = sorted(recs, key=rank)  # stable: ties keep file order
        r = recs_sorted[0]
        if len(recs) > 1:
            notes.append(
                f"{study}: {len(recs)} {outcome} {measure.upper()} rows for {ther} vs {comp}; used "
                f"the one from line {_text(r, 'line') or '?'} (data cut "
                f"'{_text(r, 'data_cut') or 'unspecified'}', assessor "
                f"'{_text(r, 'assessor') or 'unspecified'}')"
            )
        level = _num(r, "ci_level")
        if math.isfinite(level) and abs(level - 0.95) > 1e-9:
            notes.append(f"{study}: the {outcome} {measure.upper()} interval is a {level * 100:g}% "
                         "interval; its SE was back-calculated at that level")
        if _text(r, "assessor").lower() == "investigator":
            notes.append(f"{study}: {outcome} assessed by the investigator, not by central review")
        rows.append(dict(
            study=study, trial=_text(r, "trial"), treat1=ther, treat2=comp, value=_num(r, "value"),
            ci_low=_num(r, "ci_low"), ci_high=_num(r, "ci_high"),
            ci_level=level if math.isfinite(level) else 0.95, n=_num(r, "n"),
            n1=_arm_size(frame, study, ther), n2=_arm_size(frame, study, comp),
            assessor=_text(r, "assessor"), data_cut=_text(r, "data_cut"), line=_text(r, "line"),
        ))
    contrasts = pd.DataFrame(rows)
    bad = contrasts[~(contrasts["ci_low"].notna() & contrasts["ci_high"].notna())]
    for _, r in bad.iterrows():
        notes.append(f"{r.study}: no interval for its {outcome} {measure.upper()}; left out")
    contrasts = contrasts.drop(index=bad.index).reset_index(drop=True)
    return contrasts, notes


def arms_from_studies(table, outcome: str = "ORR", comparator=None,
                      cut_preference=DEFAULT_CUT_PREFERENCE, derive_counts: bool = True):
    """Arm-level counts (``study, treatment, events, n``) of a proportion outcome (e.g. ORR) of
    the randomised trials in the study table, and the notes the choices raise.

    ``events`` is the row's ``numerator`` and ``n`` its ``denominator`` (else the arm's ``n``).
    A missing numerator is derived as ``round(value * n)`` when ``derive_counts`` (and said in the
    notes), else the study is left out. ``comparator`` keeps only trials with that control arm.
    """
    import pandas as pd

    frame = _table_frame(table)
    sel = frame[(frame["outcome"] == outcome) & (frame["measure"].str.lower() == "proportion")]
    if "design" in sel.columns:
        sel = sel[sel["design"].isin(["rct", ""])]
    if "population" in sel.columns:
        sel = sel[sel["population"].str.lower().isin(["", "itt", "evaluable", "all"])]
    if comparator is not None:
        wanted = [comparator] if isinstance(comparator, str) else list(comparator)
        keep = {sid for sid, g in sel.groupby("study_id")
                if g["therapy"].isin(wanted).any() or g["comparator"].isin(wanted).any()}
        sel = sel[sel["study_id"].isin(keep)]
    if len(sel) == 0:
        raise InputError(f"the study table has no randomised {outcome} proportions")
    prefs = [c.lower() for c in (cut_preference or _cut_preference(outcome))]
    notes, rows = [], []
    for (study, ther), g in sel.groupby(["study_id", "therapy"], sort=False):
        recs = sorted((r for _, r in g.iterrows()),
                      key=lambda r: (prefs.index(_text(r, "data_cut").lower())
                                     if _text(r, "data_cut").lower() in prefs else len(prefs),
                                     0 if _text(r, "assessor").lower() in ("central", "") else 1))
        r = recs[0]
        if len(recs) > 1:
            notes.append(f"{study}: {len(recs)} {outcome} rows for the {ther} arm; used line "
                         f"{_text(r, 'line') or '?'} (data cut '{_text(r, 'data_cut') or 'unspecified'}')")
        n = _num(r, "denominator")
        own_denominator = math.isfinite(n)
        if not own_denominator:
            n = _num(r, "n")
        events = _num(r, "numerator")
        if not math.isfinite(events) and derive_counts and math.isfinite(n):
            from ..effects import events_from_percentage

            derived, why = events_from_percentage(_num(r, "value"), n,
                                                  total_is_denominator=own_denominator,
                                                  population=_text(r, "population"))
            if derived is None:
                notes.append(f"{study}: {outcome} counts of the {ther} arm: {why}")
                n = math.nan
            else:
                events = derived
                notes.append(f"{study}: {outcome} numerator of the {ther} arm not reported; "
                             f"derived as {_num(r, 'value'):g} x {n:g} = {events:g}")
        if not (math.isfinite(events) and math.isfinite(n)):
            notes.append(f"{study}: {outcome} counts of the {ther} arm unknown; study left out")
            rows.append(dict(study=study, treatment=ther, events=math.nan, n=math.nan))
            continue
        if _text(r, "population").lower() == "evaluable":
            notes.append(f"{study}: {outcome} of the {ther} arm is on evaluable patients "
                         f"({events:g}/{n:g}), not intention to treat")
        rows.append(dict(study=study, treatment=ther, events=events, n=n))
    arms = pd.DataFrame(rows, columns=["study", "treatment", "events", "n"])
    bad = arms.groupby("study")["events"].transform(lambda x: x.isna().any())
    arms = arms[~bad.astype(bool)]
    single = arms.groupby("study")["treatment"].transform("size") < 2
    for sid in sorted(set(arms.loc[single, "study"])):
        notes.append(f"{sid}: only one arm has {outcome} counts; left out")
    return arms[~single].reset_index(drop=True), notes


def network_from_studies(table, outcome: str = "PFS", measure: str = "hr",
                         reference: str = "placebo", method: str = "REML", level: float = 95,
                         comparator=None, small_values: str | None = None, caveats=None,
                         effect: str = "OR", cut_preference=DEFAULT_CUT_PREFERENCE):
    """Network meta-analysis of one outcome of the study table.

    ``measure="hr"`` (default; PFS or OS hazard ratios): contrast rows, see
    :func:`contrasts_from_studies`. ``measure="proportion"`` (ORR, DCR, ...): arm counts, see
    :func:`arms_from_studies`, analysed as ``effect`` (``OR``, ``RR`` or ``RD``).
    ``small_values`` defaults to ``"good"`` for hazard ratios and ``"bad"`` for response.

    The result's ``caveats`` hold ``caveats`` (default: :data:`RAIR_DTC_CAVEATS`, plus
    :data:`RAIR_DTC_PFS_CAVEATS` for PFS/OS) followed by the notes made while selecting rows
    (data cuts chosen, intervals not at 95%, investigator review, derived counts).
    """
    from .model import network_meta

    if caveats is None:
        caveats = RAIR_DTC_CAVEATS + (RAIR_DTC_PFS_CAVEATS if outcome in ("PFS", "OS") else ())
    if measure.lower() == "proportion":
        arms, notes = arms_from_studies(table, outcome=outcome, comparator=comparator,
                                        cut_preference=cut_preference)
        return network_meta(arms, measure=effect, reference=reference, method=method, level=level,
                            small_values=small_values or "bad", caveats=list(caveats) + notes)
    contrasts, notes = contrasts_from_studies(table, outcome=outcome, measure=measure,
                                              comparator=comparator, cut_preference=cut_preference)
    code = measure.upper()
    data = contrasts.rename(columns={"value": code.lower()})
    return network_meta(data, measure=code, reference=reference, method=method, level=level,
                        small_values=small_values or "good", caveats=list(caveats) + notes)
