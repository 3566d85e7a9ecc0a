"""Certainty of evidence (GRADE) and the summary-of-findings table, from the fitted estimates.

Each downgrade follows a declared rule (below, and in ``data/README.md``) computed from the same
fits and data as the forest plots, so that adding a trial updates the certainty too. The rules are
a documented operationalisation of the GRADE Handbook's criteria, not a substitute for judgement:
every rule can be overridden in ``data/grade_overrides.csv`` with a recorded reason, and the table
marks overridden judgements.

Rules (``GradeRules`` holds the thresholds; the protocol's ``[grade]`` table may change them):

- **Start**: high for randomised trials, low when any study is non-randomised.
- **Risk of bias**: the share of the estimate's weight from studies whose overall judgement is
  high (RoB 2 "high", ROBINS-I "serious"/"critical") is ``w_high``, from studies with some concerns
  (RoB 2 "some concerns", ROBINS-I "moderate"/"no information") ``w_some``. Two levels down when
  ``w_high >= 0.5``; one when ``w_high >= 0.25`` or ``w_high + w_some >= 0.5``; and one ("not
  assessed") when studies carrying half the weight or more have no assessment.
- **Inconsistency** (k >= 2 only): one level down when I² >= 50%; two when I² >= 75% and the
  prediction interval (k >= 3) includes the null while the confidence interval does not.
- **Indirectness**: one level down when studies carrying half the weight or more differ from the
  question: a line of therapy outside ``direct_lines``, or a histology other than ``DTC``.
- **Imprecision**: one level down when the confidence interval includes the null (or, without a
  null, always: a description has no decision threshold), when it crosses a threshold of
  appreciable benefit or harm (``ratio_thresholds`` for ratios, ``rd_threshold`` for risk
  differences) and so includes both an appreciable and a trivial effect (GRADE guidelines 6:
  rate down when the decision would differ at the two ends of the interval), or when the
  participants number fewer than ``ois_participants`` (optimal information size); two when the
  interval includes the null and crosses both thresholds. A single study's ratio is judged on
  the interval it reports, which the page prints (a bound it could not estimate is open), not on
  the one its standard error implies. An estimate pooled from two studies with the
  Knapp-Hartung adjustment is judged on the same fit's z interval (``two_study_interval="z"``,
  printed beside it in the reason and in the sensitivity analyses): its own interval uses a t
  quantile with one degree of freedom (12.7 for 95 %), so its width is the method's, not the
  evidence's (two concordant trials with HRs 0.21 and 0.16 gave 0.04 to 0.93); ``"primary"``
  judges the printed Knapp-Hartung interval instead. The participants behind the optimal
  information size are a pragmatic rule of thumb (GRADE's for continuous outcomes), applied here
  to every outcome; ``ois="power"`` uses GRADE's optimal information size instead, the size of
  one trial powered to detect a relative reduction of ``ois_rrr`` (events for a hazard ratio,
  estimated as 4/SE²; participants at the comparator arms' risk for a binary contrast; see
  :func:`optimal_information`).
- **Publication bias**: with k >= 10, one level down when Egger's test gives p < 0.10; with fewer
  studies "not assessable" (no downgrade, said so).

Absolute effects of a hazard ratio are risks by a time point (``sof_months_os``, ``sof_months``;
see :func:`summary_of_findings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._base import ResultMixin, jsonable

__all__ = ["GradeRules", "DomainJudgement", "GradeAssessment", "assess", "LEVELS",
           "rob_category", "summary_of_findings"]

LEVELS = ("very low", "low", "moderate", "high")
DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias")

_ROB_HIGH = {"high", "serious", "critical"}
_ROB_SOME = {"some concerns", "moderate", "no information"}


def rob_category(judgement: str | None) -> str | None:
    """``low``, ``some`` or ``high`` for an overall risk-of-bias judgement of any tool."""
    if judgement is None:
        return None
    j = str(judgement).strip().lower()
    if j == "low":
        return "low"
    if j in _ROB_HIGH:
        return "high"
    if j in _ROB_SOME:
        return "some"
    return None


@dataclass(frozen=True)
class GradeRules:
    """Thresholds of the GRADE rules (see the module docstring)."""

    rob_high_two: float = 0.5
    rob_high_one: float = 0.25
    rob_any_one: float = 0.5
    i2_one: float = 50.0
    i2_two: float = 75.0
    direct_lines: tuple = ("first",)
    direct_histology: tuple = ("DTC",)
    # outcomes for which a trial whose comparator arm could cross over to the active drug
    # (trials.csv crossover = yes) is indirect: its comparator is the drug at progression
    crossover_outcomes: tuple = ()
    indirect_share: float = 0.5
    ois_participants: int = 400
    # "participants": ois_participants for every outcome; "power": the size of one trial powered
    # to detect a relative reduction of ois_rrr (events for a hazard ratio, participants for a
    # binary contrast; other outcomes keep ois_participants)
    ois: str = "participants"
    ois_rrr: float = 0.25
    ois_alpha: float = 0.05
    ois_power: float = 0.8
    ratio_thresholds: tuple = (0.8, 1.25)
    rd_threshold: float = 0.05
    small_study_min_k: int = 10
    egger_alpha: float = 0.10
    two_study_interval: str = "z"
    # the time point (months) of a hazard ratio's absolute effects: overall survival, then every
    # other time-to-event outcome (GRADE guidance 27)
    sof_months_os: float = 24.0
    sof_months: float = 12.0


def grade_rules(protocol) -> dict:
    """The GRADE rules a protocol puts in force (its ``[grade]`` table over the defaults), as a
    JSON-ready dict."""
    from dataclasses import asdict

    return jsonable(asdict(GradeRules(**protocol.grade)))


# the values of GradeRules' text fields (the protocol's [grade] table is checked against them)
RULE_CHOICES = {"two_study_interval": ("z", "primary"), "ois": ("participants", "power")}
# the GradeRules fields that are fractions strictly between 0 and 1
RULE_FRACTIONS = ("ois_rrr", "ois_alpha", "ois_power")


@dataclass(frozen=True)
class DomainJudgement:
    """One GRADE domain: how many levels down (0, 1, 2), why, and whether it was overridden."""

    domain: str
    downgrade: int
    reason: str
    overridden: bool = False
    rule_downgrade: int | None = None  # what the rule said, when overridden


@dataclass(frozen=True, eq=False, repr=False)
class GradeAssessment(ResultMixin):
    """The certainty of one estimate, with each domain's judgement."""

    id: str
    start: str
    domains: tuple
    certainty: str

    @property
    def downgrades(self) -> int:
        return sum(d.downgrade for d in self.domains)

    def to_dict(self) -> dict:
        return jsonable({"id": self.id, "start": self.start, "certainty": self.certainty,
                         "domains": [vars(d) for d in self.domains]})

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([vars(d) for d in self.domains])

    def summary(self) -> str:
        lines = [f"{self.id}: {self.certainty} certainty (start {self.start}, "
                 f"{self.downgrades} level(s) down)"]
        lines += [f"  {d.domain}: -{d.downgrade} {d.reason}" + (" [overridden]" if d.overridden
                                                                 else "")
                  for d in self.domains]
        return "\n".join(lines)

    def _short(self) -> str:
        return f"{self.id}: {self.certainty}"


def _share(weights: dict, studies) -> float:
    return float(sum(weights.get(s, 0.0) for s in studies))


def _risk_of_bias(weights, rob, rules, concerns=None) -> DomainJudgement:
    cats = {s: rob_category(rob.get(s)) for s in weights}
    missing = [s for s, c in cats.items() if c is None]
    w_missing = _share(weights, missing)
    w_high = _share(weights, [s for s, c in cats.items() if c == "high"])
    w_some = _share(weights, [s for s, c in cats.items() if c == "some"])
    shares = f"weight at high risk {w_high:.0%}, with some concerns {w_some:.0%}"
    # the domains behind the shares, study by study (a footnote names the concern, not only its
    # weight)
    named = [f"{s}: {'; '.join(concerns[s])}" for s, c in cats.items()
             if c in ("high", "some") and (concerns or {}).get(s)]
    if named:
        shares += " (" + "; ".join(named) + ")"
    if w_high >= rules.rob_high_two:
        return DomainJudgement("risk of bias", 2, f"very serious: {shares}")
    if w_high >= rules.rob_high_one or w_high + w_some >= rules.rob_any_one:
        return DomainJudgement("risk of bias", 1, f"serious: {shares}")
    if w_missing >= 0.5:
        return DomainJudgement("risk of bias", 1, f"not assessed for studies carrying "
                               f"{w_missing:.0%} of the weight ({', '.join(sorted(missing))})")
    return DomainJudgement("risk of bias", 0, f"not serious: {shares}"
                           + (f"; not assessed: {', '.join(sorted(missing))}" if missing else ""))


def _crosses(lo, hi, value) -> bool:
    return lo <= value <= hi


def _inconsistency(fit, null, rules) -> DomainJudgement:
    if fit.k < 2:
        return DomainJudgement("inconsistency", 0, "not applicable: a single study")
    i2 = fit.i2
    pi_cross = (fit.k >= 3 and null is not None and math.isfinite(fit.pi_low)
                and _crosses(fit.pi_low, fit.pi_high, null)
                and not _crosses(fit.ci_low, fit.ci_high, null))
    if i2 >= rules.i2_two and pi_cross:
        return DomainJudgement("inconsistency", 2, f"very serious: I² = {i2:.0f}% and the "
                               "prediction interval includes no effect")
    if i2 >= rules.i2_one:
        return DomainJudgement("inconsistency", 1, f"serious: I² = {i2:.0f}%")
    return DomainJudgement("inconsistency", 0, f"not serious: I² = {i2:.0f}%")


def _indirectness(weights, characteristics, rules, outcome="") -> DomainJudgement:
    crossover = str(outcome).upper() in {o.upper() for o in rules.crossover_outcomes}
    indirect = []
    for s in weights:
        ch = characteristics.get(s, {})
        why = []
        if ch.get("line", "") not in rules.direct_lines:
            why.append(f"line {ch.get('line') or 'not reported'}")
        if ch.get("histology", "") not in rules.direct_histology:
            why.append(f"histology {ch.get('histology') or 'not reported'}")
        if crossover and ch.get("crossover", "") == "yes":
            pct = str(ch.get("crossover_pct", "") or "").strip()
            why.append("comparator could cross over to the drug"
                       + (f" ({float(pct):g}% of the placebo arm did)" if pct else ""))
        if why:
            indirect.append((s, ", ".join(why)))
    w = _share(weights, [s for s, _ in indirect])
    detail = "; ".join(f"{s} ({why})" for s, why in indirect)
    if w >= rules.indirect_share:
        return DomainJudgement("indirectness", 1, f"serious: {w:.0%} of the weight from studies "
                               f"that differ from the question: {detail}")
    return DomainJudgement("indirectness", 0, "not serious" + (f": {w:.0%} of the weight from "
                                                              f"{detail}" if indirect else ""))


def _judged_interval(group, rules=None) -> tuple:
    """The interval imprecision is judged on, on the analysis scale, and what the reader must
    know of it: ``((low, high), caveat)``.

    A single study's ratio is its reported interval (see ``natural``), not the one its standard
    error implies, so that the judgement and the printed numbers cannot disagree at a threshold;
    a bound the study could not estimate is open. Two studies pooled with the Knapp-Hartung
    adjustment are judged on the fit's z interval (``rules.two_study_interval``), which the
    caveat prints beside the Knapp-Hartung one.
    """
    from .analyses import two_study_knha

    rules = rules or GradeRules()
    fit = group.fit
    d = fit.to_dict()
    if two_study_knha(d):
        scale = group.analysis.scale

        def show(x):
            return f"{math.exp(x):.2f}" if scale == "log" else f"{x:.3g}"

        df = d.get("df") or 1
        if rules.two_study_interval == "z":
            from ..pooling import pool

            # the same model with a z test: the same tau², the interval without the t quantile
            z = pool(fit.yi, fit.vi, method=fit.method, test="z", level=fit.level)
            lo, hi = z.ci_low, z.ci_high
            return (lo, hi), (f" ({Z_INTERVAL_PHRASE}, {show(lo)} to {show(hi)}: the "
                              f"Knapp-Hartung interval of two studies, {show(fit.ci_low)} to "
                              f"{show(fit.ci_high)}, uses a t quantile with {df:g} degree of "
                              "freedom)")
        return (fit.ci_low, fit.ci_high), (f" (a Knapp-Hartung interval from two studies: a t "
                                           f"quantile with {df:g} degree of freedom)")
    entries = getattr(group, "entries", None)
    if group.analysis.scale != "log" or entries is None:
        return (fit.ci_low, fit.ci_high), ""
    nat = group.natural()
    if not nat.get("reported"):
        return (fit.ci_low, fit.ci_high), ""
    lo, hi = nat["ci_low"], nat["ci_high"]
    return ((-math.inf if lo is None else math.log(lo)),
            (math.inf if hi is None else math.log(hi))), ""


def hr_events_needed(rrr: float = 0.25, alpha: float = 0.05, power: float = 0.8) -> float:
    """Events a 1:1 trial needs to detect a hazard ratio of ``1 - rrr`` (Schoenfeld 1983).

    ``4 (z_{1-alpha/2} + z_{power})^2 / log(1 - rrr)^2``, from ``var(log HR) = 4 / D`` for ``D``
    events in a 1:1 comparison.

    Examples
    --------
    >>> round(hr_events_needed(0.25), 1)
    379.4
    """
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    return 4 * z**2 / math.log(1 - rrr) ** 2


def binary_participants_needed(control_risk: float, rrr: float = 0.25, alpha: float = 0.05,
                               power: float = 0.8) -> int:
    """Participants (both arms, 1:1) a trial needs to detect a relative risk reduction ``rrr``
    from ``control_risk`` with a two-sided test of two proportions at ``alpha``: the normal
    approximation with the pooled variance under the null (Fleiss), by statsmodels'
    ``samplesize_proportions_2indep_onetail``, each arm rounded up.

    Examples
    --------
    >>> binary_participants_needed(0.2)
    1812
    """
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    p_c = float(control_risk)
    per_arm = samplesize_proportions_2indep_onetail(
        diff=-p_c * rrr, prop2=p_c, power=power, ratio=1, alpha=alpha, alternative="two-sided")
    return 2 * math.ceil(float(per_arm) - 1e-9)


def _participants_information(participants, rules) -> tuple:
    """The participants rule in the form of :func:`optimal_information`."""
    return (participants, rules.ois_participants, participants < rules.ois_participants,
            f"{participants:.0f} participants, fewer than the optimal information size of "
            f"{rules.ois_participants}", f"{participants:.0f} participants")


def optimal_information(group, interval, participants, rules) -> tuple:
    """``(have, need, short, text_short, text_met)``: the information an estimate carries, the
    optimal information size it is judged against, whether it falls short, and how the reason
    says so when it does and when it does not.

    With ``rules.ois == "participants"`` (and for every outcome that is not a hazard ratio or a
    binary contrast with arm counts) the participants against ``ois_participants``. With
    ``"power"``, as GRADE's optimal information size (the size of one trial powered to detect a
    relative risk reduction of ``ois_rrr``): for a hazard ratio, the events, estimated as
    ``4 / SE^2`` (the information of a 1:1 comparison with that standard error; the number of
    events is rarely reported beside a hazard ratio; a single study's SE from the interval it
    reports, a pooled one's from the model without the Knapp-Hartung scale), against
    :func:`hr_events_needed`; for a risk ratio, odds ratio or risk difference, the participants
    against :func:`binary_participants_needed` at the comparator arms' pooled risk.
    """
    a = group.analysis
    plain = _participants_information(participants, rules)
    if rules.ois != "power" or a.kind == "arm":
        return plain
    rrr, alpha, power = rules.ois_rrr, rules.ois_alpha, rules.ois_power
    trial = f"a 1:1 trial powered ({power:.0%}, two-sided alpha {alpha:g})"
    if a.effect == "HR":
        from scipy.stats import norm

        fit = group.fit
        lo, hi = interval
        if fit.k >= 2:
            # the model's standard error without the Knapp-Hartung scale (which measures the
            # studies' dispersion, not the information they carry)
            if getattr(fit, "test", "z") == "z":
                se = float(fit.se)
            else:
                from ..pooling import pool

                se = float(pool(fit.yi, fit.vi, method=fit.method, test="z", level=fit.level).se)
        elif math.isfinite(lo) and math.isfinite(hi) and hi > lo:
            # a single study: its reported interval, as the rest of the judgement
            se = (hi - lo) / (2 * norm.ppf(0.5 + float(fit.level) / 200))
        else:
            se = float(fit.se)
        have = 4 / se**2
        need = hr_events_needed(rrr, alpha, power)
        return (have, need, have < need,
                f"about {have:.0f} events' information (4/SE², SE {se:.3f}), fewer than the "
                f"{math.ceil(need)} events {trial} to detect a hazard ratio of {1 - rrr:.2f} "
                "needs (optimal information size)",
                f"{participants:.0f} participants, about {have:.0f} events' information "
                f"(4/SE²), at least the optimal information size of {math.ceil(need)} events")
    e = group.entries
    if a.effect in ("RR", "OR", "RD") and "ci" in e and "n2i" in e and e["n2i"].sum() > 0:
        cr = float(e["ci"].sum() / e["n2i"].sum())
        if 0 < cr < 1:
            need = binary_participants_needed(cr, rrr, alpha, power)
            return (participants, need, participants < need,
                    f"{participants:.0f} participants, fewer than the {need} {trial} to detect "
                    f"a relative risk reduction of {rrr:.0%} from the comparator arms' risk of "
                    f"{cr:.1%} needs (optimal information size)",
                    f"{participants:.0f} participants, at least the optimal information size of "
                    f"{need} (a relative risk reduction of {rrr:.0%} from {cr:.1%})")
    return plain


def _imprecision(interval, caveat, analysis, participants, rules, information=None
                 ) -> DomainJudgement:
    null = analysis.null_on_scale()
    lo, hi = interval
    scale = analysis.scale
    if null is None:
        return DomainJudgement("imprecision", 1, "serious: a description without a decision "
                               "threshold; interval width is all there is")
    if scale == "log":
        t_low, t_high = (math.log(x) for x in rules.ratio_thresholds)
    else:
        t_low, t_high = -rules.rd_threshold, rules.rd_threshold
    crosses_null = _crosses(lo, hi, null)
    both = lo <= t_low and hi >= t_high
    # an interval that excludes no effect can still span an appreciable effect and a trivial one
    # (a hazard ratio of 0.04 to 0.93): the decision would differ across it (GRADE guidelines 6)
    # (thresholds of a comparison with no effect at 1 or 0: a pooled proportion or median
    # against a declared null has no such thresholds)
    contrast = analysis.kind != "arm"
    crossed = [t for t in (t_low, t_high) if contrast and lo < t < hi and t != null]
    if information is None:
        information = _participants_information(participants, rules)
    ois = information[2]
    if crosses_null and both:
        return DomainJudgement("imprecision", 2, "very serious: the interval includes both "
                               "appreciable benefit and appreciable harm" + caveat)
    def show(x):
        if not math.isfinite(x):
            return "NE"  # a bound the study could not estimate
        return f"{math.exp(x):.2f}" if scale == "log" else f"{x:g}"

    if crosses_null or crossed or ois:
        why = []
        if crosses_null:
            why.append("the interval includes no effect" + caveat)
        elif crossed:
            why.append(f"the interval ({show(lo)} to {show(hi)}) crosses "
                       f"{show(crossed[0])}, the threshold of an appreciable effect: it includes "
                       "both an appreciable and a trivial effect" + caveat)
        if ois:
            why.append(information[3])
        return DomainJudgement("imprecision", 1, "serious: " + "; ".join(why))
    return DomainJudgement("imprecision", 0, f"not serious: {information[4]}; "
                           "the interval excludes no effect and crosses no threshold of an "
                           "appreciable effect" + caveat)


def _publication_bias(fit, rules, missing=()) -> DomainJudgement:
    # eligible trials of this comparison without a usable result are evidence of non-reporting
    # whatever the number of studies (GRADE 5; Handbook ch. 13): named, and not rated down by
    # rule, since the sources read do not say whether a result is missing because of what it
    # showed (an immature survival analysis is not a selective one); the review team can
    # (grade_overrides.csv)
    names = list(dict.fromkeys(missing))
    unreported = ("" if not names else
                  f"; {len(names)} eligible trial{'s' if len(names) > 1 else ''} of this "
                  f"comparison give{'' if len(names) > 1 else 's'} no usable result for the "
                  f"outcome ({', '.join(names)}): not rated down by rule, as the sources read "
                  "do not say whether the results are missing because of what they showed")
    if fit.k < rules.small_study_min_k:
        return DomainJudgement("publication bias", 0, f"not assessable by a test: k = {fit.k} < "
                               f"{rules.small_study_min_k} studies" + unreported)
    from ..pooling import egger_test

    p = egger_test(fit).pvalue
    if p < rules.egger_alpha:
        return DomainJudgement("publication bias", 1, f"suspected: Egger's test p = {p:.3f}"
                               + unreported)
    return DomainJudgement("publication bias", 0, f"not detected: Egger's test p = {p:.3f}"
                           + unreported)


def assess(group, *, rob=None, characteristics=None, rules=None, overrides=None,
           participants=None, rob_concerns=None, missing=()) -> GradeAssessment:
    """The GRADE certainty of one estimate (a :class:`~metaanalysis.review.analyses.GroupResult`).

    Parameters
    ----------
    group : GroupResult
    rob : dict, optional
        ``{study_id: overall judgement}`` for the estimate's outcome (any tool's vocabulary).
    characteristics : dict
        ``{study_id: {"line": ..., "histology": ..., "design": ...}}`` (from ``trials.csv``) for
        every study of the estimate: the start (randomised or not) and indirectness rest on them,
        so a study without them is an error rather than a guess.
    rules : GradeRules, optional
    overrides : dict, optional
        ``{domain: (downgrade, reason)}``: a judgement the review team made differently, with why.
    participants : float, optional
        Participants in the estimate (default: from its entries).
    rob_concerns : dict, optional
        ``{study_id: ["some concerns in D4 measurement of the outcome", ...]}``: the domains
        behind a study's overall judgement, named in the risk-of-bias reason.
    missing : sequence of str, optional
        Eligible trials of the comparison that give the outcome no usable result (see
        :func:`~metaanalysis.review.missing.missing_evidence`): named in the publication-bias
        judgement.

    Examples
    --------
    >>> review = ma.run_review("data/studies.csv")                   # doctest: +SKIP
    >>> assess(review.groups[0]).certainty                           # doctest: +SKIP
    """
    from ..errors import InputError

    rules = rules or GradeRules()
    rob = rob or {}
    overrides = overrides or {}
    fit = group.fit
    studies = list(group.entries["study_id"])
    lacking = [s for s in studies if s not in (characteristics or {})]
    if lacking:
        raise InputError(f"{group.id}: no characteristics (design, line, histology; trials.csv) "
                         f"for {', '.join(map(str, lacking))}: the start level and indirectness "
                         "rest on them; pass characteristics={study_id: {...}}")
    weights = {s: float(w) for s, w in zip(studies, fit.weights)}
    if participants is None:
        participants = entry_participants(group)
    designs = {characteristics.get(s, {}).get("design", "rct") for s in studies}
    start = "high" if designs <= {"rct"} else "low"
    null = group.analysis.null_on_scale()
    interval, caveat = _judged_interval(group, rules)
    domains = [
        _risk_of_bias(weights, rob, rules, rob_concerns),
        _inconsistency(fit, null, rules),
        _indirectness(weights, characteristics, rules, group.analysis.outcome),
        _imprecision(interval, caveat, group.analysis, participants, rules,
                     optimal_information(group, interval, participants, rules)),
        _publication_bias(fit, rules, missing),
    ]
    final = []
    for d in domains:
        if d.domain in overrides:
            level, reason = overrides[d.domain]
            final.append(DomainJudgement(d.domain, int(level), reason, True, d.downgrade))
        else:
            final.append(d)
    total = sum(d.downgrade for d in final)
    certainty = LEVELS[max(0, LEVELS.index(start) - total)]
    return GradeAssessment(group.id, start, tuple(final), certainty)


def entry_participants(group) -> float:
    """Participants behind an estimate: both arms for count-based contrasts, else ``n``."""
    e = group.entries
    if "n1i" in e and "n2i" in e and e["n1i"].notna().all():
        return float((e["n1i"] + e["n2i"]).sum())
    if "ni" in e and e["ni"].notna().all():
        return float(e["ni"].sum())
    if "n" in e:
        return float(e["n"].fillna(0).sum())
    return float("nan")


# the phrase of an imprecision judgement made on another interval than the printed one
Z_INTERVAL_PHRASE = "judged on the z interval of the same fit"
# the phrase of a publication-bias judgement that names trials without a usable result
MISSING_PHRASE = "of this comparison give"


def shown_in_table(domain: str, downgrade: int, reason: str, overridden: bool) -> bool:
    """Whether a domain's judgement is listed in the summary of findings: every downgrade, every
    override, an imprecision judged on another interval than the one the row prints (a reader
    of 0.04-0.93 without a downgrade must see why), and a publication-bias judgement that names
    eligible trials without a usable result (not rated down: the reader sees they were weighed)."""
    return bool(downgrade or overridden
                or (domain == "imprecision" and Z_INTERVAL_PHRASE in reason)
                or (domain == "publication bias" and MISSING_PHRASE in reason))


def interim_trials(entries, data_cuts=None) -> list:
    """The trials of an estimate whose result is from an interim analysis: the row used is
    labelled ``interim``, or the trial's reports (``data_cuts`` of trials.csv, by study) include
    an interim analysis and the row used is neither an update nor the final analysis (REALITY's
    one report, cut on 25 March 2020 after 51 of 83 planned events, carries its date)."""
    data_cuts = data_cuts or {}
    out = []
    for sid, trial, cut in zip(entries["study_id"], entries.get("trial", entries["study_id"]),
                               entries.get("data_cut", [""] * len(entries))):
        cut = str(cut or "")
        if cut == "interim" or ("interim" in str(data_cuts.get(sid, "")).lower()
                                and cut not in ("update", "final")):
            out.append(str(trial))
    return list(dict.fromkeys(out))


def summary_of_findings(group, table_frame, assessment, rules=None, data_cuts=None) -> dict:
    """One row of a summary-of-findings table for an estimate against a comparator.

    The anticipated absolute effects: for a risk ratio, the comparator's risk is the pooled
    risk of the comparator arms of the included studies (events over patients), per 1,000, and
    the risk with the therapy is that risk times the ratio (and its interval).

    For a hazard ratio they are risks of the event by a stated time point ``t`` (GRADE guidance
    27, Skoetz et al. 2020): ``sof_months_os`` for overall survival, ``sof_months`` for other
    outcomes (``rules``). The comparator's survival at ``t`` is the median of the comparator
    arms' landmark rates at ``t`` when every study reports one, otherwise it is derived from the
    median of their reported medians under a constant hazard, ``S_c(t) = 0.5 ** (t / median)``.
    With the therapy ``S(t) = S_c(t) ** HR`` (proportional hazards), per 1,000 with the ratio's
    interval. Beside them: the median with therapy modelled as the comparator median divided by
    the ratio (exponential survival), and the medians the trials report in both arms
    (``reported_with_therapy``). Where ``t`` lies past the longest follow-up any study reports,
    or no trial reached the median with the therapy, ``extrapolated`` says so.
    """
    rules = rules or GradeRules()
    a = group.analysis
    nat = group.natural()
    bound = lambda x: "NE" if x is None else f"{x:.2f}"  # noqa: E731 -- a bound not reported
    row = {"id": group.id, "outcome": a.title, "therapy": group.group,
           "relative_effect": f"{a.effect} {nat['estimate']:.2f} ({bound(nat['ci_low'])}–"
                              f"{bound(nat['ci_high'])})",
           "participants": entry_participants(group), "studies": group.k,
           "certainty": assessment.certainty,
           "reasons": "; ".join(f"{d.domain}: {d.reason}"
                                + (f" † (review team; the rule: -{d.rule_downgrade})"
                                   if d.overridden else "")
                                for d in assessment.domains
                                if shown_in_table(d.domain, d.downgrade, d.reason, d.overridden)),
           "overridden": [d.domain for d in assessment.domains if d.overridden],
           "comparator": None, "with_therapy": None, "difference": None, "assumption": "",
           "extrapolated": "", "no_absolute": "", "no_median": "",
           "reported_with_therapy": None,
           "interim": interim_trials(group.entries, data_cuts),
           "imprecision_interval": None}
    if any(d.domain == "imprecision" and Z_INTERVAL_PHRASE in d.reason
           for d in assessment.domains):
        # the row prints one interval and its imprecision rests on another: both are shown
        (lo, hi), _ = _judged_interval(group, rules)
        show = (lambda x: f"{math.exp(x):.2f}") if a.scale == "log" else (lambda x: f"{x:.3g}")
        row["imprecision_interval"] = f"{show(lo)}–{show(hi)}"
    if a.effect == "HR":
        row.update(time_point=None, comparator_median=None, median_with_therapy=None,
                   median_difference=None)
    e = group.entries
    if a.effect in ("RR", "OR", "RD") and "ci" in e:
        cr = float(e["ci"].sum() / e["n2i"].sum())
        row["comparator"] = f"{1000 * cr:.0f} per 1,000"
        if a.effect == "RR":
            t = [cr * nat[k] for k in ("estimate", "ci_low", "ci_high")]
        elif a.effect == "RD":
            t = [cr + nat[k] for k in ("estimate", "ci_low", "ci_high")]
        else:
            t = [cr * o / (1 - cr + cr * o) for o in (nat["estimate"], nat["ci_low"],
                                                        nat["ci_high"])]
        # a ratio's bound times the comparator risk can pass 1,000 per 1,000, which no risk does:
        # the bound is capped, and the row says so
        capped = [w for w, hit in (("upper bound capped at 1,000", max(t) > 1.0),
                                   ("lower bound capped at 0", min(t) < 0.0)) if hit]
        t = [min(max(x, 0.0), 1.0) for x in t]
        row["with_therapy"] = f"{1000 * t[0]:.0f} per 1,000 ({1000 * t[1]:.0f}–{1000 * t[2]:.0f})"
        row["difference"] = (f"{1000 * (t[0] - cr):+.0f} per 1,000 "
                             f"({1000 * (t[1] - cr):+.0f} to {1000 * (t[2] - cr):+.0f})")
        if capped:
            row["with_therapy"] += f" ({'; '.join(capped)})"
            row["difference"] += f" ({'; '.join(capped)})"
        if a.effect != "RD":
            # GRADE carries the relative effect to the comparator's risk; a risk difference
            # pooled on its own weights the trials differently (the page may show both)
            row["assumption"] = (
                "risk with placebo: the pooled risk of the placebo arms of the same trials; with "
                "the therapy: that risk " + ("times the risk ratio" if a.effect == "RR" else
                                             "converted through the odds ratio")
                + ", as GRADE carries a relative effect to the comparator's risk, so it can "
                "differ from a risk difference pooled directly")
    elif a.effect == "HR" and nat["ci_low"] is not None and nat["ci_high"] is not None:
        import statistics

        studies = list(e["study_id"])
        names = dict(zip(e["study_id"], e["trial"] if "trial" in e else e["study_id"]))
        # what the trials observed in both arms, read once: the comparator's medians give the
        # baseline, and both arms' tell the modelled numbers apart from observations
        reported = _arm_medians(table_frame, a, studies, group.group)
        control = dict(_arm_medians(table_frame, a, studies, a.comparator))
        medians = [m for m in control.values() if m is not None]
        m_c = statistics.median(medians) if medians else None
        fu = _longest_follow_up(table_frame, studies, names)
        tp = rules.sof_months_os if str(a.outcome).upper() == "OS" else rules.sof_months
        rates = _arm_rates(table_frame, a, studies, a.comparator, tp)
        event = _EVENT_WORDS.get(str(a.outcome).upper(), "had the event")
        s_c, basis = None, ""
        if rates and len(rates) == len(set(studies)):
            s_c = statistics.median(rates.values())
            basis = (f"with {a.comparator}: the {tp:g}-month rate the trials report in the "
                     f"{a.comparator} arms")
        elif m_c is not None:
            s_c = 0.5 ** (tp / m_c)
            basis = (f"with {a.comparator}: from the median of the {a.comparator} arms' "
                     f"medians under a constant hazard, S(t) = 0.5^(t / median)")
        if s_c is not None:
            r_c = 1.0 - s_c
            r_t = [1.0 - s_c ** nat[k] for k in ("estimate", "ci_low", "ci_high")]
            row["time_point"] = tp
            row["comparator"] = f"{1000 * r_c:.0f} per 1,000 {event} by {tp:g} months"
            row["with_therapy"] = (f"{1000 * r_t[0]:.0f} per 1,000 ({1000 * r_t[1]:.0f}–"
                                   f"{1000 * r_t[2]:.0f})")
            row["difference"] = _signed_per_1000(r_t, r_c)
            row["assumption"] = (f"risk of an event by {tp:g} months {basis}; with the therapy "
                                 "1 − S(t)^HR, which assumes proportional hazards; the median "
                                 "with therapy beside it is the comparator median / HR, "
                                 "assuming exponential survival (constant hazards), and the "
                                 "medians the trials report in each arm are given too; each "
                                 "therapy's row starts from the placebo arms of its own trials, "
                                 "so its absolute numbers and modelled medians are not "
                                 "comparable across therapies (their patients' prognosis "
                                 "differs)")
            # the curves reach past a median they observed, so t is within the data when any
            # arm's observed median or any reported follow-up reaches it
            seen = [m for _, m in reported if m is not None] + medians
            if fu is not None and tp > max([fu[0]] + seen):
                row["extrapolated"] = (f"{tp:g} months is past the longest follow-up any trial "
                                       f"reports ({fu[1]}) and every median observed")
        if m_c is not None:
            t = [m_c / nat[k] for k in ("estimate", "ci_high", "ci_low")]
            row["comparator_median"] = f"median {m_c:.1f} months"
            row["median_with_therapy"] = f"median {t[0]:.1f} months ({t[1]:.1f}–{t[2]:.1f})"
            row["median_difference"] = (f"{t[0] - m_c:+.1f} months ({t[1] - m_c:+.1f} to "
                                        f"{t[2] - m_c:+.1f})")
            unreached = reported and all(m is None for _, m in reported)  # marked below
            if fu is not None and t[2] > fu[0] and not unreached:
                # the constant hazard carried past every trial's follow-up (lenvatinib PFS's
                # upper bound, 89.5 months, after a follow-up of 17.4): marked where printed
                what = "the median and its upper bound lie" if t[0] > fu[0] else \
                    "the upper bound lies"
                row["median_with_therapy"] += (f" ({what} past the longest follow-up "
                                               f"reported, {fu[1]})")
        if s_c is None:
            # an empty cell must say why (ALTER01032 reports no OS median in either arm)
            row["no_absolute"] = (f"no absolute effect: no trial reports the median or a "
                                  f"{tp:g}-month rate with {a.comparator}")
        if row["median_with_therapy"] and reported and all(m is None for _, m in reported):
            # no trial reached the median with the therapy: the modelled one carries a constant
            # hazard past the data (apatinib OS: 71 months where REALITY's median follow-up was
            # 18), which the row says instead of letting it look like an observation
            row["median_with_therapy"] += " (extrapolated)"
            row["median_difference"] += " (extrapolated)"
            # its own field: the assumption stays one text shared by the rows of an outcome
            row["extrapolated"] = "; ".join(x for x in (
                row["extrapolated"], "no trial reached the median with the therapy"
                + (f" ({fu[1]})" if fu else "")) if x)

        def months(m):
            return "not reached" if m is None else f"{m:.1f} months"

        both = [(sid, m, control[sid]) for sid, m in reported
                if m is not None and control.get(sid) is not None]
        if (row["median_with_therapy"] and both and len(both) == len(set(studies))
                and all((m - c) * (1.0 - nat["estimate"]) < 0 for _, m, c in both)):
            # every trial's own medians differ the other way from the modelled ones (DECISION's
            # OS: 39.4 months with sorafenib, 42.8 with placebo, HR 0.92): the hazards are not
            # constant, so a median modelled from the ratio would contradict what was observed
            row["median_with_therapy"] = row["median_difference"] = None
            row["no_median"] = (
                "no modelled median: the trials' own medians point the other way from the "
                "hazard ratio (" + "; ".join(
                    f"{names.get(sid, sid)}: {m:.1f} months with the therapy against {c:.1f} "
                    f"with {a.comparator}" for sid, m, c in both)
                + "), so the constant hazards a modelled median assumes do not hold, and the "
                "risks by the time point, which rest on proportional hazards, are uncertain too")

        if reported:
            row["reported_with_therapy"] = ", ".join(
                f"{months(m)} ({names.get(sid, sid)}"
                + (f"; {a.comparator} {months(control[sid])}" if sid in control else "") + ")"
                for sid, m in reported)
    return row


_EVENT_WORDS = {"OS": "died", "PFS": "progressed or died"}


def _signed_per_1000(r_t, r_c) -> str:
    """``-227 per 1,000 (-264 to -178)``; a difference that rounds to zero is written 0, never
    -0."""
    d = [round(1000 * (x - r_c)) + 0 for x in r_t]
    sign = lambda v: f"{v:+d}" if v else "0"  # noqa: E731
    return f"{sign(d[0])} per 1,000 ({sign(d[1])} to {sign(d[2])})"


def _arm_rates(frame, analysis, studies, therapy, months) -> dict:
    """``{study_id: survival at months}``: the whole population's landmark rate of ``therapy``
    at exactly ``months`` (measure ``rate``, ``time_point`` in the row's unit), at the analysis's
    preferred data cut and assessor (as :func:`_arm_medians`)."""
    from ..studies import TIME_UNITS_IN_MONTHS

    if not {"time_point", "unit"} <= set(frame.columns):
        return {}
    rows = _whole_population_rows(frame, analysis, studies, therapy, "rate")
    rows = rows[rows["value"].notna()]
    at = rows["time_point"].astype(float) * rows["unit"].map(
        lambda u: TIME_UNITS_IN_MONTHS.get(u or "months", 1.0))
    best = _preferred(rows[(at - months).abs() < 1e-9], analysis)
    return {sid: float(r["value"]) for sid, r in best.items()}


def _longest_follow_up(frame, studies, names):
    """``(months, text)``: the longest median (or mean) follow-up any of ``studies`` reports
    ("REALITY: median follow-up 18.1 months"), or None when none does."""
    from ..studies import follow_up_months

    if not {"outcome", "measure", "unit"} <= set(frame.columns):
        return None
    reported = {s: fu for s, fu in follow_up_months(frame).items() if s in set(studies)}
    if not reported:
        return None
    sid, (months, measure) = max(reported.items(), key=lambda kv: kv[1][0])
    return months, f"{names.get(sid, sid)}: {measure} follow-up {months:.1f} months"


def _whole_population_rows(frame, analysis, studies, therapy, measure):
    """Rows of ``measure`` for ``therapy``'s arms in ``studies`` and the analysis's outcome, for
    the whole population (a subgroup's number is not the arm's)."""
    import pandas as pd

    def column(name):  # a table without the column: empty cells
        return frame[name] if name in frame else pd.Series("", index=frame.index)

    return frame[(frame["outcome"] == analysis.outcome) & (frame["measure"] == measure)
                 & (frame["therapy"].str.lower() == str(therapy).lower())
                 & frame["study_id"].isin(studies)
                 & column("population").isin(("", "itt"))]


def _preferred(rows, analysis) -> dict:
    """``{study_id: row}``: per study the row of the analysis's preferred data cut (primary,
    first or latest, as its rows were chosen), then its preferred assessor."""
    import pandas as pd

    from .eligibility import _cut_order, _rank

    cuts = _cut_order(analysis.data_cut, analysis.outcome)
    assessors = tuple(analysis.assessor)
    assessor = rows["assessor"] if "assessor" in rows else pd.Series("", index=rows.index)
    best = {}
    for i in range(len(rows)):
        r = rows.iloc[i]
        rank = (_rank(r["data_cut"] if "data_cut" in rows else "", cuts),
                _rank(assessor[rows.index[i]], assessors))
        if r["study_id"] not in best or rank < best[r["study_id"]][0]:
            best[r["study_id"]] = (rank, r)
    return {sid: r for sid, (_, r) in best.items()}


def _arm_medians(frame, analysis, studies, therapy) -> list:
    """``[(study_id, median in months)]`` of the arms of ``therapy`` in ``studies`` (None for a
    median not reached), in the order of ``studies``: the whole population's median (a
    subgroup's is not the arm's), at the analysis's preferred data cut, then its preferred
    assessor."""
    import pandas as pd

    from ..studies import TIME_UNITS_IN_MONTHS

    rows = _whole_population_rows(frame, analysis, studies, therapy, "median")
    status = rows["status"] if "status" in rows else pd.Series("", index=rows.index)
    best = _preferred(rows[rows["value"].notna() | (status == "not_reached")], analysis)
    out = []
    for sid in dict.fromkeys(studies):
        if sid in best:
            r = best[sid]
            out.append((sid, None if r["value"] != r["value"] else
                        float(r["value"]) * TIME_UNITS_IN_MONTHS.get(r["unit"] or "months", 1.0)))
    return out


OVERRIDE_COLUMNS = ("estimate", "domain", "downgrade", "reason")


def read_grade_overrides(path, estimate_ids=None) -> dict:
    """``{estimate id: {domain: (downgrade, reason)}}`` from ``grade_overrides.csv``.

    Columns ``estimate`` (an estimate id such as ``pfs_hr/lenvatinib``), ``domain`` (one of the
    five GRADE domains), ``downgrade`` (0, 1 or 2) and ``reason`` (required: an override without
    a reason is no judgement). A missing file means no overrides.

    Raises
    ------
    StudyTableError
        Naming the file, line and column of every problem.
    """
    import csv
    import os

    from ..errors import Problem, StudyTableError

    name = os.fspath(path)
    if not os.path.exists(name):
        return {}
    with open(name, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in OVERRIDE_COLUMNS if c not in header]
        if missing:
            raise StudyTableError([Problem(name, 1, None, "missing column(s): "
                                           + ", ".join(missing))])
        rows = list(reader)
    problems, out = [], {}
    for i, r in enumerate(rows, start=2):
        est, domain = (r["estimate"] or "").strip(), (r["domain"] or "").strip()
        if estimate_ids is not None and est not in estimate_ids:
            problems.append(Problem(name, i, "estimate", f"{est!r} is not an estimate of the "
                                    "review (ids look like pfs_hr/lenvatinib)"))
        if domain not in DOMAINS:
            problems.append(Problem(name, i, "domain", f"{domain!r} is not a GRADE domain; use "
                                    "one of " + ", ".join(DOMAINS)))
        if (r["downgrade"] or "").strip() not in ("0", "1", "2"):
            problems.append(Problem(name, i, "downgrade", f"{r['downgrade']!r}: give 0, 1 or 2 "
                                    "levels"))
        if not (r["reason"] or "").strip():
            problems.append(Problem(name, i, "reason", "is empty: an override needs its reason"))
        if not problems:
            out.setdefault(est, {})[domain] = (int(r["downgrade"]), r["reason"].strip())
    if problems:
        raise StudyTableError(problems)
    return out


def rob_outcome(outcome: str, available) -> str | None:
    """The risk-of-bias outcome group that covers an analysis outcome (``AE:G3+`` -> ``AE``)."""
    if outcome in available:
        return outcome
    head = outcome.split(":")[0]
    if head in ("AE", "TRAE", "DOSE") and "AE" in available:
        return "AE"
    if head in available:
        return head
    if head == "DCR" and "ORR" in available:
        return "ORR"
    return None
