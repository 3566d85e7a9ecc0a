"""The methods text, written from the protocol's declarations (never from defaults assumed)."""

from __future__ import annotations

import math


METHOD_NAMES = {
    "EE": "an equal-effects (common-effect) model",
    "DL": "the DerSimonian–Laird estimator",
    "HE": "the Hedges estimator",
    "HS": "the Hunter–Schmidt estimator",
    "HSk": "the Hunter–Schmidt estimator with a small-sample correction",
    "SJ": "the Sidik–Jonkman estimator",
    "ML": "maximum likelihood",
    "REML": "restricted maximum likelihood (REML)",
    "EB": "the empirical Bayes estimator",
    "PM": "the Paule–Mandel estimator",
    "PMM": "the median-unbiased Paule–Mandel estimator",
    "GENQ": "the generalised Q-statistic estimator",
}
TEST_TEXT = {
    "z": "Wald-type confidence intervals and tests based on the standard normal distribution",
    "t": "confidence intervals and tests based on the t distribution with k − 1 degrees of freedom",
    "knha": "the Hartung–Knapp–Sidik–Jonkman adjustment (t distribution with k − 1 degrees of "
            "freedom)",
}
PROPORTION_TEXT = {
    "PLO": "logit-transformed proportions (back-transformed with the inverse logit)",
    "PFT": "Freeman–Tukey double-arcsine-transformed proportions (back-transformed with the "
           "harmonic mean of the sample sizes)",
    "PAS": "arcsine-square-root-transformed proportions",
    "PR": "raw proportions",
}


EFFECT_TEXT = {
    "HR": "hazard ratios against {comparator}, analysed on the log scale with standard errors "
          "derived from the reported confidence intervals at their stated level (assuming Wald "
          "intervals on the log scale)",
    "RR": "risk ratios against {comparator} computed from the arm counts (log scale; 0.5 added "
          "to every cell of a study with a zero cell)",
    "OR": "odds ratios against {comparator} computed from the arm counts (log scale; 0.5 added "
          "to every cell of a study with a zero cell)",
    "RD": "risk differences against {comparator} computed from the arm counts",
    "MEDIAN": "arm-level medians converted to months and analysed on the log scale with standard "
              "errors from their intervals (a one-sided interval when the upper bound was not "
              "reached; medians without an interval or not reached were not pooled)",
    "PROPORTION": "arm-level proportions pooled as {scale}",
}
CUT_TEXT = {
    "first": "the earliest data cut",
    "latest": "the latest data cut",
}
_CUT_WORDS = {"": "an unlabelled report", "primary": "the cut labelled primary",
              "update": "an update", "final": "the final analysis",
              "interim": "an interim analysis"}


def _cut_text(rule: str, outcome: str) -> str:
    """The data-cut rule as it is applied: the study table's order of labels for the outcome."""
    if rule != "primary":
        return CUT_TEXT.get(rule, rule)
    from ..studies import cut_preference

    order = [_CUT_WORDS.get(c, c) for c in cut_preference(outcome)]
    return ("the first available of " + ", ".join(order[:-1]) + " and " + order[-1]
            + " (the labels are the sources'; a trial reported only as an interim analysis and "
              "an update is analysed at the update)")


def _eligibility_text(a) -> str:
    parts = []
    e = a.eligibility
    if "design" in e:
        parts.append("designs " + ", ".join(e["design"]))
    if "line" in e:
        parts.append("line of therapy " + ", ".join(x or "not reported" for x in e["line"]))
    if "histology" in e:
        h = "histology " + ", ".join(e["histology"])
        if e.get("histology_populations"):
            h += " (or a cohort restricted to " + ", ".join(e["histology_populations"]) + ")"
        parts.append(h)
    return "; ".join(parts)


def _sensitivity_text(a) -> str:
    s = a.sensitivity
    items = []
    if s.get("methods"):
        items.append("other tau² estimators (" + ", ".join(s["methods"]) + ")"
                     + (" with and without the Knapp–Hartung adjustment" if len(s.get("knha", ())) > 1
                        else ""))
    for key, text in (("common_effect", "a common-effect model"),
                      ("randomised_only", "randomised trials only"),
                      ("first_line_only", "first-line trials only"),
                      ("assessor", "the other assessor (investigator vs central review)"),
                      ("data_cut", "the first and the latest data cut"),
                      ("crossover_adjusted", "crossover-adjusted hazard ratios where reported"),
                      ("leave_one_out", "leaving out one study at a time")):
        if s.get(key):
            items.append(text)
    return ", ".join(items)


def _ois_text(rules) -> str:
    """The optimal information size the imprecision rule uses, as the methods state it."""
    if rules.ois != "power":
        return (f"fewer than {rules.ois_participants} participants, a pragmatic optimal "
                "information size (GRADE's rule of thumb for continuous outcomes, applied here to "
                "every outcome)")
    from ..review.grade import hr_events_needed

    events = math.ceil(hr_events_needed(rules.ois_rrr, rules.ois_alpha, rules.ois_power))
    return (f"less information than the optimal information size: what one 1:1 trial needs "
            f"to detect a relative "
            f"reduction of {rules.ois_rrr:.0%} with {rules.ois_power:.0%} power at two-sided "
            f"alpha {rules.ois_alpha:g}, for a hazard ratio {events} events (Schoenfeld's "
            "formula; the events an estimate carries taken as 4/SE², since trials seldom report "
            "them beside the ratio), for a binary comparison the participants at the comparator "
            f"arms' pooled risk, for other outcomes {rules.ois_participants} participants")


def _grade_text(rules, adjusted: bool = False) -> str:
    """The GRADE rules in words; ``adjusted``: some analysis declares a crossover-adjusted
    sensitivity analysis."""
    lines = ", ".join(rules.direct_lines)
    hist = ", ".join(rules.direct_histology)
    lo, hi = rules.ratio_thresholds
    return (
        "The certainty of each estimate of a primary analysis was rated with GRADE (secondary "
        "comparisons and the descriptive summaries of single arms were not rated): randomised "
        "evidence starts high and "
        "non-randomised evidence low, and is rated down for risk of bias (one level when "
        f"{100 * rules.rob_high_one:g}% of the weight is at high risk, or "
        f"{100 * rules.rob_any_one:g}% at high risk or some concerns, or half of it not "
        f"assessed; two when {100 * rules.rob_high_two:g}% is at "
        f"high risk), inconsistency (I² of {rules.i2_one:g}% or more; two levels at "
        f"{rules.i2_two:g}% when the prediction interval includes no effect and the confidence "
        f"interval does not), indirectness ({100 * rules.indirect_share:g}% of the weight or more "
        f"from trials outside line {lines} or histology {hist}"
        + (", or, for " + " and ".join(rules.crossover_outcomes) + ", whose placebo patients "
           "could cross over to the drug at progression, so that the comparison is with the "
           "drug given later rather than with placebo" if rules.crossover_outcomes else "")
        + "), imprecision (an interval that "
        f"includes no effect or crosses {lo:g} or {hi:g} for ratios, ±{rules.rd_threshold:g} for "
        f"risk differences, or {_ois_text(rules)}); two levels when "
        f"it includes no effect and reaches both {lo:g} and {hi:g} (±{rules.rd_threshold:g}), "
        "appreciable benefit and appreciable harm; a single study judged on the interval it "
        "reports"
        + ("; two studies pooled with the Knapp–Hartung adjustment judged on the z interval of "
           "the same fit, because the t quantile with one degree of freedom makes their "
           "interval the method's rather than the evidence's"
           if rules.two_study_interval == "z" else "")
        + ") and publication bias (Egger's test at "
        f"p < {rules.egger_alpha:g} with {rules.small_study_min_k} studies or more; with fewer, "
        "not assessable by a test; eligible trials of the comparison without a usable result "
        "are named in the judgement but not rated down by rule, since the sources read do not "
        "say whether a result is missing because of what it showed). No estimate was rated up (large effect, dose-response), and stopping "
        "early was not rated within the domains (an estimate from a trial reported at an "
        "interim analysis is marked instead)"
        + ("" if rules.crossover_outcomes else ", nor was crossover")
        + ("; the protocol's sensitivity analyses address crossover (the crossover-adjusted "
           "ratios the trials report)" if adjusted else "")
        + ". A judgement the review team made differently from a rule "
        "is marked † with its reason. Absolute "
        "effects use the pooled risk of the placebo arms of the same trials. For a hazard ratio "
        f"they are risks of the event by {rules.sof_months_os:g} months for overall survival "
        f"and {rules.sof_months:g} months for other outcomes (GRADE guidance 27): with placebo, "
        "the landmark rate the placebo arms report at that time when every trial reports it, "
        "otherwise derived from the median of the placebo arms' medians under a constant "
        "hazard; with the therapy, the placebo survival raised to the power of the hazard ratio "
        "(proportional hazards). Beside them, the median with the therapy modelled as the "
        "placebo median divided by the ratio (exponential survival; marked as extrapolated "
        "where no trial reached the median with the therapy) and the medians the trials report "
        "in both arms.")


def times_word(n: int) -> str:
    """'once', 'twice', '3 times'."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def methods_paragraph(protocol, *, overrides=None, small_study_min_k: int = 10,
                      network_method: str | None = None, version: str = "",
                      rob_tools=(), digitised=False) -> str:
    """Methods text written from the protocol's declarations (and any command-line override).

    ``digitised`` is ``"review"`` when digitised curves of the review's studies were modelled,
    ``"example"`` when the only ones are worked examples beside the table (said so), and empty
    (or False) when there are none.

    Examples
    --------
    >>> from metaanalysis.review import parse_protocol
    >>> p = parse_protocol('''
    ... [review]
    ... title = "t"
    ... population = "adults"
    ... comparator = "placebo"
    ... [[analysis]]
    ... id = "pfs"
    ... title = "PFS"
    ... role = "primary"
    ... outcome = "PFS"
    ... effect = "HR"
    ... null = 1.0
    ... ''')
    >>> text = methods_paragraph(p)
    >>> "restricted maximum likelihood" in text and "Hartung" in text
    True
    """
    overrides = overrides or {}
    r = protocol.review
    amended = len(getattr(protocol, "amendments", ()))
    written = f" written on {r['protocol_date']}" if r.get("protocol_date") else ""
    if r.get("timing") == "retrospective":
        when = (f"{written}, after earlier analyses of the same study table had been run, so "
                "its analyses are declared, not prespecified")
    else:
        when = f"{written}{',' if written else ''} before the analyses were run"
    if amended:
        since = ("since" if r.get("timing") == "retrospective" else
                 "after analyses had been run")
        when += (f"; it was amended {times_word(amended)} {since} (the changes, their dates and "
                 "reasons are listed under Changes from the protocol)")
    registration = (f" Registration: {r['registration']}." if r.get("registration") else "")
    parts = [
        f"The review question was declared in a protocol ({protocol.path}){when}: population, "
        f"{r.get('population', 'not stated')}; comparator, "
        f"{r.get('comparator', 'not stated')}.{registration} Numbers were extracted from the published reports "
        "into a long-format study table, one row per reported number with its source and "
        "location, and validated for internal consistency before analysis. Every line of the "
        "table is either used by an analysis or listed as excluded with its reason.",
    ]
    for a in protocol.analyses:
        eff = EFFECT_TEXT[a.effect].format(comparator=a.comparator or "the comparator",
                                          scale=PROPORTION_TEXT.get(a.proportion_scale,
                                                                    a.proportion_scale))
        if a.model == "common":
            model = f"a common-effect model ({METHOD_NAMES['EE']})"
        else:
            model = (f"a random-effects model with tau² estimated by "
                     f"{METHOD_NAMES.get(a.method, a.method)} and {TEST_TEXT.get(a.test, a.test)}")
        group = ("separately for each therapy (no estimate across therapies)"
                 if a.group_by == "therapy" else
                 "across therapies, assuming a class effect (" + a.class_effect_rationale + ")")
        hyp = (f"tested against a null of {a.null:g}" if a.null is not None else
               "described with their intervals, without a hypothesis test")
        text = (f"{a.title} ({a.role}): {eff}, pooled {group} with {model}, {a.level:g}% "
                f"intervals, {hyp}; eligible: {_eligibility_text(a) or 'all studies'}; one entry "
                f"per study from {_cut_text(a.data_cut, a.outcome)}, preferring "
                + " over ".join(x or "unstated" for x in a.assessor) + " assessment.")
        sens = _sensitivity_text(a)
        if sens:
            text += f" Sensitivity analyses declared in the protocol: {sens}."
        parts.append(text)
    if overrides:
        parts.append("The protocol's model was overridden on the command line for every analysis: "
                     + ", ".join(f"{k} = {v}" for k, v in overrides.items()) + ".")
    parts.append(
        "Multi-arm studies enter each analysis once (arms of the same therapy combined). "
        "Small-study effects were assessed with Egger's regression test and Begg's rank "
        f"correlation test only when at least {small_study_min_k} studies were available."
    )
    parts.append(
        "Counts are those of the population each report gives (intention to treat, or the "
        "evaluable or safety population where an analysis's eligibility accepts it); where a "
        "report gave a percentage without the count, the count was back-calculated from the "
        "percentage and the arm's denominator and rounded, and such counts are marked in the "
        "figures. A percentage of patients the report does not name (no whole-number share of "
        "the arm) gives no count: on the logit scale it was weighted by the standard error its "
        "reported interval implies (generic inverse variance), and without an interval it was "
        "not pooled. A single study's estimate is shown with the interval it reports; a single "
        "proportion without one with its exact (Clopper–Pearson) interval."
    )
    if rob_tools:
        parts.append("Risk of bias was judged per study and outcome with "
                     + " and ".join(rob_tools) + " (the judgements and their support are in "
                     "the review's risk-of-bias table; with RoB 2 a result with some concerns in "
                     "three or more domains is taken as at high risk).")
    from ..review.grade import GradeRules

    parts.append(_grade_text(GradeRules(**(getattr(protocol, "grade", None) or {})),
                             adjusted=any("crossover_adjusted" in a.sensitivity
                                          for a in protocol.analyses)))
    if digitised:
        from ..survival.uncertainty import DEFAULT_RESOLUTION
        from .curves import DIGITISATION_N

        # curves shipped beside the table to show the method are no method of the review's
        lead = ("No study of the review has a digitised curve; on the worked examples shipped "
                "beside the table, digitised Kaplan–Meier curves were turned" if
                digitised == "example" else "Digitised Kaplan–Meier curves were turned")
        parts.append(
            f"{lead} back into patient data with their "
            "numbers at risk (Guyot et al. 2012); exponential, Weibull, Gompertz, log-logistic, "
            "log-normal, generalised gamma and Royston–Parmar spline models were fitted by "
            "maximum likelihood and compared by AIC and BIC, proportional hazards were tested "
            "on scaled Schoenfeld residuals (Grambsch–Therneau), with a hazard ratio linear in "
            "log time where the test rejected them, each model was extrapolated to twice the "
            "follow-up to show how far the models part beyond the data, and restricted mean "
            "survival times were compared (difference and ratio) up to the shorter follow-up of "
            "the two arms. How much these comparisons depend on the digitisation was shown by "
            f"moving every click at random within {100 * DEFAULT_RESOLUTION:g} % of each axis "
            f"and reconstructing again, {DIGITISATION_N} times, beside the sampling intervals. "
            "Where trials shared a comparison, restricted mean differences were "
            "pooled by random effects up to the smallest of their last follow-up times, with a "
            "sensitivity analysis over that horizon, beside a Cox model stratified by trial; "
            "where they connected three or more arms, a piecewise-exponential network model "
            "(Poisson, a baseline hazard per trial and interval) compared the therapies.")
    parts.append(
        "For randomised trials that report only medians, exponential curves through the medians "
        "give modelled restricted mean survival time differences up to the shortest median or "
        "mean follow-up the trials of each estimate report (a summary of follow-up, which may "
        "belong to another data cut than the medians).")
    if network_method:
        parts.append(
            "Therapies were compared indirectly through placebo in a frequentist contrast-based "
            f"network meta-analysis ({METHOD_NAMES.get(network_method, network_method)} for the "
            "common between-study variance, z-based intervals, no tests: the protocol states no "
            "hypothesis about a comparison between drugs) and ranked by P-scores; with a "
            "star-shaped network these comparisons are adjusted indirect comparisons (Bucher) and "
            "rest on the similarity of the trials' populations. Trials after a VEGFR-targeted drug "
            "(second line) were left out of the network, as from the first-line analyses. "
            "Modelled progression-free survival curves put each therapy's network hazard ratio "
            "on one exponential placebo curve through the median of the network's placebo arms' "
            "medians, taken as known (proportional and constant hazards)."
        )
    parts.append(f"Analyses were run with metaanalysis {version}, whose estimators are checked "
                 "against the R package metafor.")
    return " ".join(parts)
