"""The methods paragraph, written from the options actually used (never from defaults assumed)."""

from __future__ import annotations

from ..studies import ASSESSOR_PREFERENCE, CUT_PREFERENCE

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


def methods_paragraph(*, method: str, test: str, level: float, proportion_measure: str,
                      small_study_min_k: int, network_method: str | None, version: str) -> str:
    """A paragraph for a paper's methods section describing the analyses as run.

    Examples
    --------
    >>> text = methods_paragraph(method="REML", test="knha", level=95, proportion_measure="PLO",
    ...                          small_study_min_k=10, network_method="REML", version="0.1.0")
    >>> "restricted maximum likelihood" in text and "Hartung" in text
    True
    """
    heterogeneity = METHOD_NAMES.get(method, method)
    cuts = ", ".join(c or "unlabelled" for c in CUT_PREFERENCE["default"])
    os_cuts = ", ".join(c or "unlabelled" for c in CUT_PREFERENCE["OS"])
    assessors = ", ".join(a or "unstated" for a in ASSESSOR_PREFERENCE)
    parts = [
        "Numbers were extracted from the published reports into a long-format study table, one "
        "row per reported number with its source and location; the table was validated for "
        "internal consistency (intervals, counts against percentages, response categories) before "
        "analysis, and every warning was reviewed.",
        "Where a trial was reported more than once, one analysis per trial was used: for "
        f"progression-free survival and response the first available of ({cuts}), for overall "
        f"survival the most mature of ({os_cuts}); central review was preferred to investigator "
        f"assessment ({assessors}).",
        "Hazard ratios were analysed on the log scale with standard errors derived from the "
        "reported confidence intervals at their stated level (95%, 96%, 99% or other), assuming "
        "Wald intervals on the log scale. Median survival times were converted to months and "
        "analysed on the log scale with standard errors from their intervals (a one-sided interval "
        "was used when the upper bound was not reached); medians without an interval and medians "
        "not reached were not pooled.",
        f"Proportions were pooled as {PROPORTION_TEXT.get(proportion_measure, proportion_measure)}; "
        "where a report gave only a percentage, the number of events was back-calculated from it "
        "and flagged.",
    ]
    if method == "EE":
        parts.append(f"Estimates were pooled with {heterogeneity}, using {TEST_TEXT.get(test, test)}.")
    else:
        parts.append(
            f"Estimates were pooled with random-effects models, with the between-study variance "
            f"(tau²) estimated by {heterogeneity} and {TEST_TEXT.get(test, test)}; heterogeneity is "
            "described by Cochran's Q, I² and tau² with Q-profile confidence intervals, and by "
            "prediction intervals."
        )
    parts.append(
        "Results by therapy are subgroup analyses with a separate tau² per subgroup and a test for "
        "subgroup differences."
    )
    parts.append(
        f"Small-study effects were assessed with Egger's regression test and Begg's rank "
        f"correlation test only when at least {small_study_min_k} studies were available."
    )
    if network_method:
        parts.append(
            "Therapies were compared indirectly through placebo in a frequentist contrast-based "
            f"network meta-analysis ({METHOD_NAMES.get(network_method, network_method)} for the "
            "common between-study variance) and ranked by P-scores; with a star-shaped network "
            "these comparisons are adjusted indirect comparisons (Bucher) and rest on the "
            "similarity of the trials' populations."
        )
    parts.append(
        f"All intervals are {level:g}% intervals. Analyses were run with metaanalysis {version}, "
        "whose estimators are checked against the R package metafor."
    )
    return " ".join(parts)
