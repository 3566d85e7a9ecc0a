"""GRADE rules on constructed estimates: each downgrade at its boundary, and overrides.

The cases are built by hand (effect sizes and weights chosen so that a rule sits just on either
side of its threshold); the pooled numbers come from ``ma.pool``, checked against metafor elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.errors import InputError, StudyTableError
from metaanalysis.review import parse_protocol
from metaanalysis.review.analyses import GroupResult
from metaanalysis.review.grade import GradeRules, assess, rob_category, summary_of_findings

_PROTOCOL = """
[review]
title = "t"
population = "p"
comparator = "placebo"
[[analysis]]
id = "hr"
title = "PFS"
role = "primary"
outcome = "PFS"
effect = "HR"
null = 1.0
[[analysis]]
id = "rr"
title = "AE"
role = "primary"
outcome = "AE:G3+"
effect = "RR"
null = 1.0
[[analysis]]
id = "med"
title = "median"
role = "descriptive"
outcome = "PFS"
effect = "MEDIAN"
"""
PROTOCOL = parse_protocol(_PROTOCOL, "p.toml")


def group(yi, vi, *, analysis="hr", n=None, method="REML", test="z", **cols):
    a = PROTOCOL.analysis(analysis)
    k = len(yi)
    ids = [f"s{i}" for i in range(k)]
    fit = ma.pool(yi, vi, method=method, test=test, labels=ids)
    entries = pd.DataFrame({"study_id": ids, "label": ids, "lines": [(i + 2,) for i in range(k)],
                            "n": n if n is not None else [200] * k, **cols})
    return GroupResult(f"{analysis}/x", a, "x", "primary", entries, fit, None)


def dom(assessment, name):
    return next(d for d in assessment.domains if d.domain == name)


CHAR = {f"s{i}": {"design": "rct", "line": "first", "histology": "DTC"} for i in range(20)}


def test_high_certainty_when_nothing_is_wrong():
    g = group([-0.5, -0.45], [0.01, 0.012])
    a = assess(g, rob={"s0": "low", "s1": "low"}, characteristics=CHAR)
    assert a.certainty == "high" and a.downgrades == 0


@pytest.mark.parametrize("judgements, expected", [
    ({"s0": "high", "s1": "low"}, 2),           # half the weight at high risk (equal weights)
    ({"s0": "some concerns", "s1": "low"}, 1),  # some concerns for half the weight
    ({"s0": "low", "s1": "low"}, 0),
    ({"s0": "serious", "s1": "low"}, 2),        # ROBINS-I vocabulary
    ({}, 1),                                    # not assessed
])
def test_risk_of_bias_rule(judgements, expected):
    g = group([-0.5, -0.5], [0.01, 0.01])
    a = assess(g, rob=judgements, characteristics=CHAR)
    assert dom(a, "risk of bias").downgrade == expected


def test_risk_of_bias_boundary_at_a_quarter_of_the_weight():
    # weights 1/v: 0.24 vs 0.26 share of the weight at high risk, either side of 0.25
    for share, expected in ((0.24, 0), (0.26, 1)):
        v_high = 0.01 * (1 - share) / share
        g = group([-0.5, -0.5], [v_high, 0.01], method="EE")
        assert g.fit.weights[0] == pytest.approx(share)
        a = assess(g, rob={"s0": "high", "s1": "low"}, characteristics=CHAR)
        assert dom(a, "risk of bias").downgrade == expected, share


def test_risk_of_bias_reason_names_the_studies_and_domains_behind_it():
    # the footnote says which concern it is (audit: "weight with some concerns 100%" alone does
    # not); a study judged low is not listed even when concerns are given for it
    g = group([-0.5, -0.5], [0.01, 0.01])
    concerns = {"s0": ["some concerns in D4 measurement of the outcome"],
                "s1": ["some concerns in D2 deviations from intended interventions"]}
    a = assess(g, rob={"s0": "some concerns", "s1": "low"}, characteristics=CHAR,
               rob_concerns=concerns)
    reason = dom(a, "risk of bias").reason
    assert reason.endswith("(s0: some concerns in D4 measurement of the outcome)")
    assert "s1" not in reason and dom(a, "risk of bias").downgrade == 1


def test_the_shipped_reviews_risk_of_bias_reasons_name_the_domain():
    # from data/risk_of_bias.csv: REALITY's only concern for PFS is D4 (investigator-assessed)
    review = ma.run_review(Path(__file__).resolve().parents[1] / "data" / "studies.csv")
    reason = dom(review.grade["pfs_hr/apatinib"], "risk of bias").reason
    assert reason == ("serious: weight at high risk 0%, with some concerns 100% (reality: some "
                      "concerns in D4 measurement of the outcome)")
    assert "alter01032: some concerns in D1 randomisation process, D4 measurement of the " \
        "outcome" in dom(review.grade["pfs_hr/anlotinib"], "risk of bias").reason


def test_inconsistency_rule_and_boundary():
    assert dom(assess(group([-0.5], [0.01]), characteristics=CHAR), "inconsistency").reason \
        .startswith("not applicable")
    # choose yi so that I² lands just below and just above 50% (EE fit: I² = (Q - df)/Q)
    for q, expected in ((1.98, 0), (2.02, 1)):
        d = math.sqrt(q * 0.01 / 2)
        g = group([-0.5 - d, -0.5 + d], [0.01, 0.01], method="DL")
        assert g.fit.q == pytest.approx(q)
        assert dom(assess(g, characteristics=CHAR), "inconsistency").downgrade == expected


def test_inconsistency_two_levels_needs_a_prediction_interval_across_the_null():
    g = group([-1.6, -0.2, -0.9, -1.9, -0.1], [0.01] * 5)
    assert g.fit.i2 >= 75
    crossing = g.fit.pi_high > 0 and g.fit.ci_high < 0
    assert crossing
    assert dom(assess(g, characteristics=CHAR), "inconsistency").downgrade == 2


def test_indirectness_rule():
    g = group([-0.5, -0.5], [0.01, 0.01])
    char = dict(CHAR)
    char["s0"] = {"design": "rct", "line": "any", "histology": "DTC"}
    assert dom(assess(g, characteristics=char), "indirectness").downgrade == 1  # 50% of weight
    g3 = group([-0.5, -0.5, -0.5], [0.01, 0.01, 0.01])
    assert dom(assess(g3, characteristics=char), "indirectness").downgrade == 0  # a third


def test_crossover_is_indirect_only_for_the_outcomes_the_rules_name():
    # placebo patients who take the drug at progression make the comparison "drug now against
    # drug later": indirect for overall survival when the protocol says so, never for PFS
    char = {s: {**c, "crossover": "yes", "crossover_pct": "83"} for s, c in CHAR.items()}
    g = group([-0.5, -0.5], [0.01, 0.01])
    assert dom(assess(g, characteristics=char), "indirectness").downgrade == 0   # no rule
    os_rules = GradeRules(crossover_outcomes=("OS",))
    assert dom(assess(g, characteristics=char, rules=os_rules), "indirectness").downgrade == 0
    os_ = dataclasses.replace(g, analysis=dataclasses.replace(g.analysis, outcome="OS"))
    d = dom(assess(os_, characteristics=char, rules=os_rules), "indirectness")
    assert d.downgrade == 1
    assert "s0 (comparator could cross over to the drug (83% of the placebo arm did))" in d.reason
    # a trial without crossover stays direct; half of the weight crossing over is enough
    mixed = {**char, "s1": {**CHAR["s1"], "crossover": "no"}}
    assert dom(assess(os_, characteristics=mixed, rules=os_rules), "indirectness").downgrade == 1
    both = {"s0": {**CHAR["s0"], "crossover": "no"}, "s1": {**CHAR["s1"], "crossover": ""}}
    assert dom(assess(os_, characteristics=both, rules=os_rules), "indirectness").downgrade == 0


def test_imprecision_rule():
    # interval excludes 1 with enough participants: not serious
    assert dom(assess(group([-0.5], [0.01], n=[450]), characteristics=CHAR),
               "imprecision").downgrade == 0
    # optimal information size: 399 vs 400 participants
    assert dom(assess(group([-0.5], [0.01], n=[399]), characteristics=CHAR),
               "imprecision").downgrade == 1
    assert dom(assess(group([-0.5], [0.01], n=[400]), characteristics=CHAR),
               "imprecision").downgrade == 0
    # interval includes 1 but not both thresholds (0.8, 1.25)
    g = group([-0.1], [0.01], n=[1000])
    assert dom(assess(g, characteristics=CHAR), "imprecision").downgrade == 1
    # interval excluding 1 but crossing 0.8 (appreciable benefit) or 1.25 (appreciable harm):
    # it includes both an appreciable and a trivial effect
    g = group([-0.5], [0.04], n=[1000])
    assert math.exp(g.fit.ci_low) < 0.8 < math.exp(g.fit.ci_high) < 1
    d = dom(assess(g, characteristics=CHAR), "imprecision")
    assert d.downgrade == 1 and "(0.41 to 0.90) crosses 0.80" in d.reason
    g = group([0.5], [0.04], n=[1000], analysis="rr")
    assert 1 < math.exp(g.fit.ci_low) < 1.25 < math.exp(g.fit.ci_high)
    d = dom(assess(g, characteristics=CHAR), "imprecision")
    assert d.downgrade == 1 and "crosses 1.25" in d.reason
    # wholly beyond the threshold: not serious
    g = group([-0.5], [0.004], n=[1000])
    assert math.exp(g.fit.ci_high) < 0.8
    assert dom(assess(g, characteristics=CHAR), "imprecision").downgrade == 0
    # interval from below 0.8 to above 1.25
    g = group([0.0], [0.04], n=[1000])
    assert math.exp(g.fit.ci_low) < 0.8 and math.exp(g.fit.ci_high) > 1.25
    assert dom(assess(g, characteristics=CHAR), "imprecision").downgrade == 2


def test_publication_bias_not_assessable_below_ten_studies():
    d = dom(assess(group([-0.5] * 9, [0.01] * 9), characteristics=CHAR), "publication bias")
    assert d.downgrade == 0 and "not assessable" in d.reason


def test_publication_bias_with_ten_studies_uses_egger():
    rng = np.random.default_rng(3)
    vi = np.linspace(0.005, 0.2, 12)
    yi = -0.5 + 2.5 * np.sqrt(vi) + rng.normal(0, 0.01, 12)  # strong small-study effect
    g = group(list(yi), list(vi))
    p = ma.egger_test(g.fit).pvalue
    assert p < 0.10
    assert dom(assess(g, characteristics=CHAR), "publication bias").downgrade == 1


def test_start_low_for_non_randomised_and_floor_at_very_low():
    char = {"s0": {"design": "single-arm", "line": "any", "histology": "mixed"}}
    a = assess(group([0.0], [0.04], n=[30]), characteristics=char)
    assert a.start == "low" and a.certainty == "very low"


def test_override_is_recorded():
    g = group([-0.5, -0.45], [0.01, 0.012])
    a = assess(g, rob={"s0": "low", "s1": "low"}, characteristics=CHAR,
               overrides={"indirectness": (1, "the trials used a higher dose than licensed")})
    d = dom(a, "indirectness")
    assert d.overridden and d.downgrade == 1 and d.rule_downgrade == 0
    assert a.certainty == "moderate"


def test_rules_are_configurable():
    g = group([-0.5], [0.01], n=[450])
    a = assess(g, characteristics=CHAR, rules=GradeRules(ois_participants=500))
    assert dom(a, "imprecision").downgrade == 1


def test_rob_category():
    assert [rob_category(x) for x in ("Low", "some concerns", "High", "critical", "moderate",
                                      "maybe", None)] == \
        ["low", "some", "high", "high", "some", None, None]


def test_summary_of_findings_absolute_effects_for_a_risk_ratio():
    ai, n1, ci, n2 = 133.0, 207.0, 63.0, 209.0
    eff = ma.escalc("RR", ai=[ai], n1i=[n1], ci=[ci], n2i=[n2])
    a = PROTOCOL.analysis("rr")
    fit = ma.pool(eff.yi, eff.vi, method="REML")
    entries = pd.DataFrame({"study_id": ["s0"], "label": ["s0"], "lines": [(15, 16)],
                            "ai": [ai], "n1i": [n1], "ci": [ci], "n2i": [n2]})
    g = GroupResult("rr/x", a, "x", "primary", entries, fit, None)
    row = summary_of_findings(g, pd.DataFrame(), assess(g, characteristics=CHAR))
    cr = ci / n2
    rr = (ai / n1) / cr
    assert row["comparator"] == f"{1000 * cr:.0f} per 1,000"
    assert row["with_therapy"].startswith(f"{1000 * cr * rr:.0f} per 1,000")
    assert row["participants"] == n1 + n2 and row["studies"] == 1
    # the page says how the absolute effect was made, since a risk difference pooled directly
    # (a secondary analysis) weights trials differently and gives other numbers
    assert "that risk times the risk ratio" in row["assumption"]
    assert "differ from a risk difference pooled directly" in row["assumption"]


def test_summary_of_findings_says_when_a_bound_is_capped():
    # 60 of 100 against 30 of 100: RR 2.0 with an upper bound past 1/0.3, so the risk with the
    # therapy would pass 1,000 per 1,000; the bound is capped and the row says so
    ai, n1, ci, n2 = 60.0, 100.0, 30.0, 100.0
    eff = ma.escalc("RR", ai=[ai], n1i=[n1], ci=[ci], n2i=[n2])
    a = PROTOCOL.analysis("rr")
    fit = ma.pool(eff.yi, np.asarray(eff.vi) * 9, method="REML")  # a wide interval
    assert 0.3 * math.exp(fit.ci_high) > 1
    entries = pd.DataFrame({"study_id": ["s0"], "label": ["s0"], "lines": [(15, 16)],
                            "ai": [ai], "n1i": [n1], "ci": [ci], "n2i": [n2]})
    g = GroupResult("rr/x", a, "x", "primary", entries, fit, None)
    row = summary_of_findings(g, pd.DataFrame(), assess(g, characteristics=CHAR))
    assert row["with_therapy"].endswith("–1000) (upper bound capped at 1,000)")
    assert row["difference"].endswith(" to +700) (upper bound capped at 1,000)")
    # an interval inside the scale says nothing of the kind
    fit = ma.pool(eff.yi, eff.vi, method="REML")
    g = GroupResult("rr/x", a, "x", "primary", entries, fit, None)
    assert "capped" not in summary_of_findings(g, pd.DataFrame(),
                                               assess(g, characteristics=CHAR))["with_therapy"]


def test_inconsistency_two_levels_boundary_at_the_declared_i2():
    g = group([-1.6, -0.2, -0.9, -1.9, -0.1], [0.01] * 5)
    assert g.fit.pi_high > 0 and g.fit.ci_high < 0
    i2 = g.fit.i2
    at = GradeRules(i2_two=i2)                  # I² >= threshold: two levels
    above = GradeRules(i2_two=i2 * 1.0001)      # just short of it: one level (I² >= 50%)
    assert dom(assess(g, characteristics=CHAR, rules=at), "inconsistency").downgrade == 2
    assert dom(assess(g, characteristics=CHAR, rules=above), "inconsistency").downgrade == 1


def test_publication_bias_boundary_at_the_declared_alpha():
    rng = np.random.default_rng(3)
    vi = np.linspace(0.005, 0.2, 12)
    yi = -0.5 + 2.5 * np.sqrt(vi) + rng.normal(0, 0.01, 12)
    g = group(list(yi), list(vi))
    p = ma.egger_test(g.fit).pvalue
    below = GradeRules(egger_alpha=p * 1.001)
    above = GradeRules(egger_alpha=p * 0.999)
    assert dom(assess(g, characteristics=CHAR, rules=below), "publication bias").downgrade == 1
    assert dom(assess(g, characteristics=CHAR, rules=above), "publication bias").downgrade == 0


def test_summary_of_findings_for_a_hazard_ratio_uses_whole_population_medians():
    # two trials; a subgroup's placebo median (2.0) and an investigator-assessed update (9.9)
    # must not stand in for the arm's primary, centrally assessed median
    g = group([math.log(0.5), math.log(0.6)], [0.02, 0.03], trial=["TRIAL A", "TRIAL B"])
    cols = ["study_id", "outcome", "measure", "therapy", "value", "unit", "data_cut",
            "population", "assessor", "status"]
    frame = pd.DataFrame([
        ("s0", "PFS", "median", "placebo", 2.0, "months", "primary", "prior TKI", "central", ""),
        ("s0", "PFS", "median", "placebo", 4.0, "months", "primary", "", "central", ""),
        ("s0", "PFS", "median", "placebo", 9.9, "months", "primary", "", "investigator", ""),
        ("s1", "PFS", "median", "placebo", 26.0, "weeks", "", "itt", "", ""),
        ("s0", "PFS", "median", "x", 9.0, "months", "primary", "", "central", ""),
        ("s1", "PFS", "median", "x", float("nan"), "months", "", "", "", "not_reached"),
    ], columns=cols)
    row = summary_of_findings(g, frame, assess(g, characteristics=CHAR))
    from metaanalysis.studies import TIME_UNITS_IN_MONTHS

    m = float(np.median([4.0, 26.0 * TIME_UNITS_IN_MONTHS["weeks"]]))
    assert row["comparator_median"] == f"median {m:.1f} months"
    hr = math.exp(g.fit.estimate)
    assert row["median_with_therapy"].startswith(f"median {m / hr:.1f} months")
    # the absolute effects are risks by 12 months (PFS), from the same median under a constant
    # hazard: placebo 1 - 0.5^(12/m), therapy 1 - 0.5^(12 HR / m)
    s_c = 0.5 ** (12 / m)
    assert row["time_point"] == 12.0
    assert row["comparator"] == f"{1000 * (1 - s_c):.0f} per 1,000 progressed or died by 12 months"
    lo, hi = (math.exp(g.fit.estimate + z * g.fit.se) for z in (-1.959963984540054, 1.959963984540054))
    assert row["with_therapy"] == (f"{1000 * (1 - s_c ** hr):.0f} per 1,000 "
                                   f"({1000 * (1 - s_c ** lo):.0f}–{1000 * (1 - s_c ** hi):.0f})")
    assert row["difference"].startswith(f"{round(1000 * (s_c - s_c ** hr)):+d} per 1,000 (")
    w = 26.0 * TIME_UNITS_IN_MONTHS["weeks"]
    assert row["reported_with_therapy"] == (f"9.0 months (TRIAL A; placebo 4.0 months), not reached "
                                            f"(TRIAL B; placebo {w:.1f} months)")
    assert "exponential" in row["assumption"] and "proportional hazards" in row["assumption"]
    # one trial reached the median with the therapy: the model is read against it, no flag
    assert "extrapolated" not in row["median_with_therapy"] and row["extrapolated"] == ""
    # no trial reached it: the modelled median is an extrapolation, and the row says so with the
    # follow-up the trials report
    fu = pd.DataFrame([("s1", "FU", "median", "all", 18.1, "months", "", "", "", ""),
                       ("s0", "FU", "mean", "all", 12.0, "months", "", "", "", "")],
                      columns=cols).assign(trial=["TRIAL B", "TRIAL A"])
    frame.loc[4, ["value", "status"]] = [float("nan"), "not_reached"]
    row = summary_of_findings(g, pd.concat([frame, fu], ignore_index=True),
                              assess(g, characteristics=CHAR))
    assert row["median_with_therapy"].endswith("(extrapolated)")
    assert row["median_difference"].endswith("(extrapolated)")
    assert not row["with_therapy"].endswith("(extrapolated)")  # 12 months is within 18.1
    assert row["extrapolated"] == ("no trial reached the median with the therapy (TRIAL B: "
                                   "median follow-up 18.1 months)")
    assert "extrapolated" not in row["assumption"]   # one assumption text for every row
    assert row["no_median"] == ""
    # every trial's own medians point against the ratio (HRs 0.5 and 0.6, yet a shorter median
    # with the therapy in both, as DECISION's OS): no modelled median, and the row says why
    frame.loc[4, ["value", "status"]] = [3.0, ""]
    frame.loc[5, ["value", "status"]] = [5.0, ""]
    row = summary_of_findings(g, frame, assess(g, characteristics=CHAR))
    assert row["median_with_therapy"] is None and row["median_difference"] is None
    assert row["no_median"] == (
        "no modelled median: the trials' own medians point the other way from the hazard ratio "
        f"(TRIAL A: 3.0 months with the therapy against 4.0 with placebo; TRIAL B: 5.0 months "
        f"with the therapy against {w:.1f} with placebo), so the constant hazards a modelled "
        "median assumes do not hold, and the risks by the time point, which rest on "
        "proportional hazards, are uncertain too")
    # the risks by 12 months stay (a summary of findings needs an absolute effect), and the row
    # says that medians pointing against the ratio question them too
    assert row["with_therapy"]
    # one trial agreeing with the ratio keeps the modelled median
    frame.loc[4, "value"] = 9.0
    assert summary_of_findings(g, frame, assess(g, characteristics=CHAR))["no_median"] == ""
    # nor is one trial enough when the other reports no medians: "the trials' own medians"
    frame.loc[4, "value"] = 3.0
    alone = frame[frame["study_id"] != "s1"]
    assert summary_of_findings(g, alone, assess(g, characteristics=CHAR))["no_median"] == ""


def test_summary_of_findings_for_a_hazard_ratio_prefers_reported_landmark_rates():
    # every trial reports the placebo arm's 24-month OS rate: the baseline is their median, not
    # the constant-hazard survival from the medians; the time point follows the rules
    import dataclasses

    g = group([math.log(0.7), math.log(0.8)], [0.02, 0.03], trial=["TRIAL A", "TRIAL B"])
    os_ = dataclasses.replace(g.analysis, outcome="OS")
    g = GroupResult(g.id, os_, g.group, g.role, g.entries, g.fit, None)
    cols = ["study_id", "outcome", "measure", "therapy", "value", "unit", "time_point",
            "population", "data_cut", "assessor", "status"]
    frame = pd.DataFrame([
        # an interim report of s1's rate, first in the table: the analysis prefers the
        # unlabelled one below
        ("s1", "OS", "rate", "placebo", 0.90, "months", 24.0, "", "interim", "", ""),
        ("s0", "OS", "median", "placebo", 30.0, "months", float("nan"), "", "", "", ""),
        ("s1", "OS", "median", "placebo", 20.0, "months", float("nan"), "", "", "", ""),
        ("s0", "OS", "rate", "placebo", 0.60, "months", 24.0, "", "", "", ""),
        ("s1", "OS", "rate", "placebo", 0.50, "months", 24.0, "", "", "", ""),
        ("s1", "OS", "rate", "placebo", 0.80, "months", 12.0, "", "", "", ""),
        ("s0", "OS", "rate", "placebo", 0.10, "months", 24.0, "prior TKI", "", "", ""),
    ], columns=cols)
    a = assess(g, characteristics=CHAR)
    row = summary_of_findings(g, frame, a)
    s_c, hr = 0.55, math.exp(g.fit.estimate)
    assert row["time_point"] == 24.0
    assert row["comparator"] == f"{1000 * (1 - s_c):.0f} per 1,000 died by 24 months"
    assert row["with_therapy"].startswith(f"{1000 * (1 - s_c ** hr):.0f} per 1,000 (")
    assert "24-month rate the trials report in the placebo arms" in row["assumption"]
    # one trial without the rate: back to the medians (25 months) under a constant hazard
    row = summary_of_findings(g, frame.drop(index=[0, 4]), a)
    assert row["comparator"] == f"{1000 * (1 - 0.5 ** (24 / 25)):.0f} per 1,000 died by 24 months"
    assert "constant hazard" in row["assumption"]
    # another time point, declared in the rules: 12 months; only s1 reports it, so medians
    row = summary_of_findings(g, frame, a, rules=GradeRules(sof_months_os=12.0))
    assert row["comparator"] == f"{1000 * (1 - 0.5 ** (12 / 25)):.0f} per 1,000 died by 12 months"
    # a time point past every follow-up and observed median is flagged
    fu = pd.DataFrame([("s0", "FU", "median", "all", 10.0, "months", float("nan"), "", "", "",
                        "")], columns=cols)
    row = summary_of_findings(g, pd.concat([frame.drop(index=[0, 4]), fu], ignore_index=True), a,
                              rules=GradeRules(sof_months_os=36.0))
    assert row["extrapolated"].startswith("36 months is past the longest follow-up any trial "
                                          "reports")
    row = summary_of_findings(g, pd.concat([frame, fu], ignore_index=True), a)
    assert row["extrapolated"] == ""  # 24 months: within the observed placebo median of 30


def test_summary_of_findings_difference_never_reads_minus_zero():
    from metaanalysis.review.grade import _signed_per_1000

    assert _signed_per_1000([0.5, 0.4996, 0.6], 0.5) == "0 per 1,000 (0 to +100)"
    assert _signed_per_1000([0.3, 0.2, 0.5002], 0.5) == "-200 per 1,000 (-300 to 0)"


def test_appreciable_effect_thresholds_apply_only_to_comparisons():
    # a pooled proportion against a declared null (PLO scale): 0.48-0.52 is precise; the
    # thresholds of a ratio or risk difference do not apply to it
    proto = parse_protocol(_PROTOCOL + """
[[analysis]]
id = "prop"
title = "response"
role = "primary"
outcome = "ORR"
effect = "PROPORTION"
null = 0.2
""", "p.toml")
    a = proto.analysis("prop")
    fit = ma.pool([0.0, 0.02], [0.003, 0.003], method="REML", labels=["s0", "s1"])
    assert fit.ci_low < -0.05 < 0.05 < fit.ci_high  # on the logit scale it spans "+-0.05"
    entries = pd.DataFrame({"study_id": ["s0", "s1"], "label": ["s0", "s1"], "lines": [(2,), (3,)],
                            "n": [1000, 1000]})
    g = GroupResult("prop/x", a, "x", "primary", entries, fit, None)
    assert dom(assess(g, characteristics=CHAR), "imprecision").downgrade == 0


def test_summary_of_findings_medians_follow_the_analysis_data_cut():
    import dataclasses

    g = group([math.log(0.5)], [0.02], trial=["TRIAL A"])
    latest = dataclasses.replace(g.analysis, data_cut="latest")
    g = GroupResult(g.id, latest, g.group, g.role, g.entries, g.fit, None)
    frame = pd.DataFrame([
        ("s0", "PFS", "median", "placebo", 4.0, "months", "primary", "", "central", ""),
        ("s0", "PFS", "median", "placebo", 5.5, "months", "update", "", "central", ""),
        ("s0", "PFS", "median", "x", 9.0, "months", "primary", "", "central", ""),
        ("s0", "PFS", "median", "x", 14.0, "months", "update", "", "central", ""),
    ], columns=["study_id", "outcome", "measure", "therapy", "value", "unit", "data_cut",
                "population", "assessor", "status"])
    row = summary_of_findings(g, frame, assess(g, characteristics=CHAR))
    assert row["comparator_median"] == "median 5.5 months"
    assert row["reported_with_therapy"] == "14.0 months (TRIAL A; placebo 5.5 months)"


def test_imprecision_of_a_single_study_is_judged_on_its_reported_interval():
    # HR 0.50 reported with 0.25-0.79: asymmetric on the log scale, so the interval the model
    # re-derives from its standard error (0.28-0.89) crosses 0.8 where the printed one does not
    lo, hi = 0.25, 0.79
    se = (math.log(hi) - math.log(lo)) / (2 * 1.959963984540054)
    reported = dict(value=[0.5], ci_low=[lo], ci_high=[hi], ci_level=[0.95])
    g = group([math.log(0.5)], [se ** 2], n=[1000], **reported)
    assert math.exp(g.fit.ci_high) > 0.8 and g.natural()["reported"]
    assert g.natural()["ci_high"] == pytest.approx(0.79)
    assert dom(assess(g, characteristics=CHAR), "imprecision").downgrade == 0
    # the same study reporting 0.25-0.85: the printed interval crosses 0.8, and the reason
    # prints it
    hi = 0.85
    se = (math.log(hi) - math.log(lo)) / (2 * 1.959963984540054)
    g = group([math.log(0.5)], [se ** 2], n=[1000], **dict(reported, ci_high=[hi]))
    d = dom(assess(g, characteristics=CHAR), "imprecision")
    assert d.downgrade == 1 and "(0.25 to 0.85) crosses 0.80" in d.reason
    # an upper bound not estimable is open: the interval runs past 1.25 (appreciable harm)
    se = (math.log(0.79) - math.log(lo)) / (2 * 1.959963984540054)
    g = group([math.log(0.5)], [se ** 2], n=[1000], **dict(reported, ci_high=[float("nan")]))
    assert g.natural()["ci_high"] is None
    d = dom(assess(g, characteristics=CHAR), "imprecision")
    assert d.downgrade == 2 and "appreciable harm" in d.reason
    # a pooled estimate (k = 2) keeps the model's interval
    g2 = group([math.log(0.5)] * 2, [se ** 2] * 2, n=[500, 500],
               **{k: v * 2 for k, v in reported.items()})
    assert not g2.natural()["reported"]


def test_imprecision_of_two_studies_with_knapp_hartung_is_judged_on_the_z_interval():
    # two studies with Knapp-Hartung: t with 1 df (12.71) makes the printed interval wide. By
    # default imprecision is judged on the same fit's z interval, and the reason gives both; the
    # rule two_study_interval="primary" judges the Knapp-Hartung interval itself. With three
    # studies or a z test nothing of the kind is said
    g = group([-1.4, -1.8], [0.04, 0.05], n=[300, 300], test="knha")
    assert math.exp(g.fit.ci_high) > 0.8  # the t(1) interval reaches a trivial effect
    d = dom(assess(g, characteristics=CHAR), "imprecision")
    se = math.sqrt(1 / (1 / (0.04 + g.fit.tau2) + 1 / (0.05 + g.fit.tau2)))  # tau² > 0 here
    lo, hi = (math.exp(g.fit.estimate + s * 1.959963984540054 * se) for s in (-1, 1))
    assert d.downgrade == 0 and hi < 0.8
    assert (f"judged on the z interval of the same fit, {lo:.2f} to {hi:.2f}: the Knapp-Hartung "
            f"interval of two studies, {math.exp(g.fit.ci_low):.2f} to "
            f"{math.exp(g.fit.ci_high):.2f}, uses a t quantile with 1 degree of freedom") in d.reason
    primary = dom(assess(g, characteristics=CHAR, rules=GradeRules(two_study_interval="primary")),
                  "imprecision")
    assert primary.downgrade == 2  # the t(1) interval reaches 2.58: benefit and harm
    assert "Knapp-Hartung interval from two studies" in primary.reason
    assert "1 degree of freedom" in primary.reason
    for g in (group([-0.3, -0.1], [0.01, 0.01], n=[500, 500], test="z"),
              group([-0.3, -0.1, -0.2], [0.01, 0.01, 0.01], n=[500, 500, 500], test="knha")):
        assert "Knapp-Hartung" not in dom(assess(g, characteristics=CHAR), "imprecision").reason


def test_a_study_without_characteristics_is_an_error_not_a_guess():
    g = group([-0.5, -0.45], [0.01, 0.012])
    with pytest.raises(InputError, match="no characteristics .* for s1"):
        assess(g, characteristics={"s0": CHAR["s0"]})
    with pytest.raises(InputError, match="for s0, s1"):
        assess(g)


POWER = GradeRules(ois="power")


def test_power_ois_for_a_hazard_ratio_counts_the_events_its_interval_carries():
    # 380 events (379.35 by Schoenfeld's formula) detect HR 0.75 with 80 % power; an estimate with
    # SE^2 = 4 / 379 carries 379 events' information, one with 4 / 380 carries 380
    short = dom(assess(group([-0.5], [4 / 379], n=[2000]), characteristics=CHAR, rules=POWER),
                "imprecision")
    met = dom(assess(group([-0.5], [4 / 380], n=[10]), characteristics=CHAR, rules=POWER),
              "imprecision")
    assert short.downgrade == 1 and met.downgrade == 0
    assert "about 379 events' information" in short.reason and "380 events" in short.reason
    assert "hazard ratio of 0.75" in short.reason
    # the participants do not count for a hazard ratio under this rule (10 would fall short of 400)
    assert "10 participants, about 380 events' information" in met.reason
    # under the participants rule the same two estimates are judged the other way round
    assert dom(assess(group([-0.5], [4 / 379], n=[2000]), characteristics=CHAR),
               "imprecision").downgrade == 0
    assert dom(assess(group([-0.5], [4 / 380], n=[10]), characteristics=CHAR),
               "imprecision").downgrade == 1
    # the relative reduction, alpha and power change the size: HR 0.8 needs 631 events
    rules = GradeRules(ois="power", ois_rrr=0.2)
    assert "631 events" in dom(assess(group([-0.5], [4 / 600], n=[10]), characteristics=CHAR,
                                      rules=rules), "imprecision").reason


def test_power_ois_for_a_binary_contrast_uses_the_comparator_risk():
    from metaanalysis.review.grade import binary_participants_needed

    # the pooled comparator risk of the entries: 63 / 209 = 30.1 %
    ai, n1, ci, n2 = 133.0, 207.0, 63.0, 209.0
    eff = ma.escalc("RR", ai=[ai], n1i=[n1], ci=[ci], n2i=[n2])
    fit = ma.pool(eff.yi, eff.vi, method="REML")
    entries = pd.DataFrame({"study_id": ["s0"], "label": ["s0"], "lines": [(15, 16)],
                            "ai": [ai], "n1i": [n1], "ci": [ci], "n2i": [n2]})
    g = GroupResult("rr/x", PROTOCOL.analysis("rr"), "x", "primary", entries, fit, None)
    need = binary_participants_needed(ci / n2)
    d = dom(assess(g, characteristics=CHAR, rules=POWER), "imprecision")
    assert d.downgrade == 1
    assert f"416 participants, fewer than the {need} " in d.reason and "30.1%" in d.reason
    # a descriptive single-arm summary keeps the participants rule
    from metaanalysis.review.grade import optimal_information

    gm = group([1.0], [0.01], analysis="med", n=[450])
    assert optimal_information(gm, (0.8, 1.2), 450.0, POWER)[:3] == (450.0, 400, False)


def test_binary_participants_needed_is_fleiss_and_has_its_power_by_simulation():
    # Fleiss' normal approximation (pooled variance under the null), worked by hand, then the
    # power of the two-proportion z test at that size over 40,000 simulated trials
    from scipy.stats import norm

    from metaanalysis.review.grade import binary_participants_needed

    pc, pt = 0.2, 0.15
    za, zb = norm.ppf(0.975), norm.ppf(0.8)
    pbar = (pc + pt) / 2
    per_arm = (za * math.sqrt(2 * pbar * (1 - pbar))
               + zb * math.sqrt(pc * (1 - pc) + pt * (1 - pt))) ** 2 / (pc - pt) ** 2
    assert per_arm == pytest.approx(905.3658, abs=1e-4)
    n = binary_participants_needed(pc) // 2
    assert n == 906 and binary_participants_needed(pc) == 1812
    rng = np.random.default_rng(2026)
    x1, x2 = rng.binomial(n, pt, 40_000), rng.binomial(n, pc, 40_000)
    p = (x1 + x2) / (2 * n)
    z = (x2 - x1) / n / np.sqrt(p * (1 - p) * 2 / n)
    assert abs(np.mean(np.abs(z) > za) - 0.80) < 0.01


def test_hr_events_needed_has_its_power_by_simulation():
    # 190 patients an arm, no censoring: 380 events. Over 1,500 simulated trials with a true
    # hazard ratio of 0.75 the Cox estimate's spread is 2 / sqrt(380) (the 4 / D the rule reads
    # the events from) and the Wald test with that SE rejects in 80 % of them
    from metaanalysis.review.grade import hr_events_needed
    from metaanalysis.survival.digitise import cox_log_hr

    d = hr_events_needed(0.25)
    assert d == pytest.approx(4 * (1.959964 + 0.841621) ** 2 / math.log(0.75) ** 2, rel=1e-6)
    rng = np.random.default_rng(7)
    ones = np.ones(190)
    b = np.array([cox_log_hr(rng.exponential(1.0, 190), ones, rng.exponential(1 / 0.75, 190), ones)
                  for _ in range(1500)])
    se = 2 / math.sqrt(380)
    assert np.mean(b) == pytest.approx(math.log(0.75), abs=0.01)
    assert np.std(b) == pytest.approx(se, rel=0.06)
    assert abs(np.mean(np.abs(b) / se > 1.959964) - 0.80) < 0.035


def test_power_ois_in_the_protocol_and_the_methods():
    from metaanalysis.report.methods import _grade_text

    base = _PROTOCOL + "[grade]\nois = \"power\"\nois_rrr = 0.2\n"
    p = parse_protocol(base, "p.toml")
    assert p.grade == {"ois": "power", "ois_rrr": 0.2}
    text = _grade_text(GradeRules(**p.grade))
    assert "631 events" in text and "relative reduction of 20%" in text
    assert "or fewer than 400 participants, a pragmatic" in _grade_text(GradeRules())
    for bad, msg in (('ois = "events"', "is not one of 'participants', 'power'"),
                     ("ois_rrr = 1.0", "must be a fraction between 0 and 1"),
                     ("ois_power = 0", "must be a fraction between 0 and 1")):
        with pytest.raises(StudyTableError, match=msg):
            parse_protocol(_PROTOCOL + "[grade]\n" + bad + "\n", "p.toml")


def test_the_shipped_review_under_the_power_ois(tmp_path):
    # what data/README.md says of the shipped review under ois = "power": every hazard ratio
    # falls short of 380 events (22 to 270 events' information), and sorafenib's and
    # lenvatinib's PFS, not rated down for imprecision under the participants rule, would be
    from metaanalysis.review.grade import _judged_interval, entry_participants, optimal_information

    root = Path(__file__).resolve().parents[1]
    shipped = ma.run_review(root / "data" / "studies.csv")
    text = (root / "data" / "protocol.toml").read_text()
    assert 'ois = "participants"' in text
    power = tmp_path / "protocol.toml"
    power.write_text(text.replace('ois = "participants"', 'ois = "power"'))
    review = ma.run_review(root / "data" / "studies.csv", protocol=power)
    rules = GradeRules(**review.protocol.grade)
    assert rules.ois == "power"
    have = {}
    for g in review.groups:
        if g.id in review.grade and g.analysis.effect == "HR":
            info = optimal_information(g, _judged_interval(g, rules)[0], entry_participants(g),
                                       rules)
            assert info[2], g.id
            have[g.id] = info[0]
    assert len(have) == 10
    assert round(min(have.values())) == 22 and round(max(have.values())) == 270
    for gid in ("pfs_hr/sorafenib", "pfs_hr/lenvatinib"):
        before, after = dom(shipped.grade[gid], "imprecision"), dom(review.grade[gid], "imprecision")
        assert (before.downgrade, after.downgrade) == (0, 1), gid
        assert "events' information" in after.reason
        levels = ("very low", "low", "moderate", "high")
        assert levels.index(review.grade[gid].certainty) == \
            levels.index(shipped.grade[gid].certainty) - 1


def test_power_ois_of_a_pooled_hazard_ratio_reads_the_model_without_knapp_hartung():
    # the information two or three studies carry is 4 / SE^2 of the model's z fit: the
    # Knapp-Hartung scale (and the t quantile of the printed interval) measures their dispersion
    from metaanalysis.review.grade import _judged_interval, optimal_information

    for yi, vi in (([-0.5, -0.3], [0.01, 0.02]), ([-0.5, -0.3, -0.1], [0.02, 0.02, 0.03])):
        z = ma.pool(yi, vi, method="REML", test="z")
        g = group(yi, vi, test="knha")
        for rule in ("z", "primary"):
            rules = GradeRules(ois="power", two_study_interval=rule)
            have = optimal_information(g, _judged_interval(g, rules)[0], 400.0, rules)[0]
            assert have == pytest.approx(4 / z.se**2, rel=1e-12)
        if len(yi) == 3:  # at k = 2 REML's tau² leaves the Knapp-Hartung scale at 1: only the t
            assert 4 / g.fit.se**2 != pytest.approx(4 / z.se**2, rel=1e-3)  # quantile differs


def test_interim_trials_are_those_whose_result_used_is_an_interim_analysis():
    from metaanalysis.review.grade import interim_trials

    e = pd.DataFrame({"study_id": ["a", "b", "c", "d"], "trial": ["A", "B", "C", "D"],
                      "data_cut": ["interim", "2020-03-25", "update", ""]})
    cuts = {"b": "interim analysis, cut-off 25 Mar 2020", "c": "interim analysis; extended cut",
            "d": "final analysis (2019)"}
    # a: labelled interim; b: its only report is an interim, labelled by its date; c: the update
    # is used, not the interim; d: no interim at all
    assert interim_trials(e, cuts) == ["A", "B"]
    assert interim_trials(e) == ["A"]


def test_trials_without_a_usable_result_are_named_in_the_publication_bias_judgement():
    review = ma.run_review(Path(__file__).resolve().parents[1] / "data" / "studies.csv")
    # GRADE 5 / Handbook ch. 13: eligible trials of the comparison that give the outcome no
    # usable result are weighed whatever the number of studies: named, shown in the summary of
    # findings, not rated down by rule (the sources do not say why they are missing)
    d = {x.domain: x for x in review.grade["os_hr/lenvatinib"].domains}["publication bias"]
    assert d.downgrade == 0
    assert d.reason.startswith("not assessable by a test: k = 1 < 10 studies; 1 eligible trial "
                               "of this comparison gives no usable result for the outcome "
                               "(Study 308): not rated down by rule")
    row = next(r for r in review.summary_of_findings if r["id"] == "os_hr/lenvatinib")
    assert "publication bias: not assessable by a test" in row["reasons"]
    # the page's list of missing trials says so, not that the ratings ignore them
    from metaanalysis.report.html import _sof_block

    page = _sof_block({"summary_of_findings": [row], "grade": {}, "missing_evidence": {
        "os_hr": review.missing_evidence("os_hr")}})
    assert "name these trials under publication bias but do not rate down for them" in page
    assert "do not weigh this" not in page
    # a comparison none of whose eligible trials is missing says nothing more
    d = {x.domain: x for x in review.grade["pfs_hr/sorafenib"].domains}["publication bias"]
    assert d.reason == "not assessable by a test: k = 1 < 10 studies"
    row = next(r for r in review.summary_of_findings if r["id"] == "pfs_hr/sorafenib")
    assert "publication bias" not in row["reasons"]
