"""The report's survival-model section (report/curves.py): digitised curves and median-only arms."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.report.curves import CURVE_MODELS, digitised_section, modelled_rmst_section
from metaanalysis.report.extras import survival_section

ROOT = Path(__file__).resolve().parents[1]
CURVES = ROOT / "data" / "curves"


@pytest.fixture(scope="module")
def shipped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return digitised_section(CURVES)


def test_every_curve_gets_every_model_and_the_best_is_the_smallest_aic(shipped):
    section, objects = shipped
    names = sorted(p.name[: -len(".meta.csv")] for p in CURVES.glob("*.meta.csv"))
    assert [c["name"] for c in section["curves"]] == names
    for c in section["curves"]:
        assert [m["model"] for m in c["models"]] == list(CURVE_MODELS)
        fitted = [m for m in c["models"] if m["converged"]]
        assert c["best_aic"] == min(fitted, key=lambda m: m["aic"])["model"]
        assert c["best_bic"] == min(fitted, key=lambda m: m["bic"])["model"]
        # AIC = 2k - 2 logLik, in the table as in the fit
        for m in fitted:
            assert m["aic"] == pytest.approx(2 * m["n_params"] - 2 * m["loglik"], rel=1e-12)
        ipd = objects[c["name"]]["ipd"]
        assert c["n"] == len(ipd) and c["events"] == int(ipd["event"].sum())


def test_two_arms_of_one_study_get_the_ph_check_and_rmst(shipped):
    section, objects = shipped
    (pair,) = section["pairs"]  # veteran standard/test; the overall curve has no partner
    assert pair["study_id"] == "veteran" and pair["arms"] == ["standard", "test"]
    a = objects["veteran_os_standard"]["ipd"]
    b = objects["veteran_os_test"]["ipd"]
    ph = ma.ph_test(b, a)
    assert pair["ph_test"]["chisq"] == pytest.approx(ph.chisq, rel=1e-12)
    # every hazard ratio of the pair is test against standard, as cox_hr(test, standard)
    assert pair["hr_of"] == "test against standard"
    assert pair["ph_test"]["coef"] == pytest.approx(ma.cox_hr(b, a).log_hr, rel=1e-8)
    piece = ma.piecewise_hr(b, a, pair["piecewise_breaks"])
    assert [p["hr"] for p in pair["piecewise"]] == pytest.approx(piece.table.hr.tolist(), rel=1e-12)
    assert [p["events_interest"] for p in pair["piecewise"]] == piece.table.events_a.tolist()
    assert sum(p["events_interest"] for p in pair["piecewise"]) == int(b["event"].sum())
    assert pair["ph_rejected"] == (ph.pvalue < 0.05)
    tau = min(a["time"].max(), b["time"].max())
    rmst = ma.rmst_difference(b, a, horizon=tau)
    assert pair["rmst"]["horizon"] == tau
    assert pair["rmst"]["difference"] == pytest.approx(rmst.difference, rel=1e-12)
    events = sum(p["events_interest"] + p["events_reference"] for p in pair["piecewise"])
    assert events == int(a["event"].sum() + b["event"].sum())
    # one trial of this comparison: nothing pooled, and the page is told why
    (cmp_,) = section["pooled"]["comparisons"]
    assert "one trial" in cmp_["not_run"] and section["pooled"]["network"] is None


def test_the_pair_shows_how_much_its_results_depend_on_the_clicks(shipped):
    section, objects = shipped
    (pair,) = section["pairs"]
    d = pair["digitisation"]
    # the same re-clicking as ma.digitisation_uncertainty with the report's seed, n and horizon
    curves = (objects["veteran_os_test"]["curve"], objects["veteran_os_standard"]["curve"])
    direct = ma.digitisation_uncertainty(curves, n=200, seed=0, tau=d["tau"], progress=False)
    by_q = {r["quantity"]: r for r in d["table"]}
    for r in direct.table.itertuples():
        assert by_q[r.quantity]["spread_low"] == pytest.approx(r.spread_low, rel=1e-12)
        assert by_q[r.quantity]["spread_high"] == pytest.approx(r.spread_high, rel=1e-12)
    assert d["arms"] == {"a": "test", "b": "standard"} and d["n"] == 200
    # its estimates are the pair's: the RMST difference at the pair's horizon (the last clicks
    # end 27 and 470 days after it, beyond the 5-day resolution) and the HR of test against
    # standard
    assert d["tau"] == pair["rmst"]["horizon"]
    assert by_q["rmst_difference"]["estimate"] == pytest.approx(pair["rmst"]["difference"], rel=1e-9)
    assert by_q["hr"]["estimate"] == pytest.approx(math.exp(pair["ph_test"]["coef"]), rel=1e-8)
    # on this well-clicked figure the clicking matters little beside the sampling error
    assert all(r["spread_to_ci"] < 0.3 for r in d["table"])
    from metaanalysis.report.html import _survival_models_block

    html = _survival_models_block({"digitised": section}, [])
    assert "Digitisation uncertainty, veteran_os" in html
    assert "<td>HR, test against standard</td>" in html
    assert "RMST difference to 528 days, test minus standard" in html
    # a median never reached is said so, not drawn as a dash
    from metaanalysis.report.html import _digitisation_block

    q = {"quantity": "median_a", "estimate": None, "spread_low": 40.0, "spread_median": None,
         "spread_high": None, "ci_low": 30.0, "ci_high": None, "spread_to_ci": None}
    small = {"name": "p", "time_unit": "months", "rmst": {"horizon": 20.0},
             "digitisation": {**d, "tau": 19.5, "table": [q]}}
    text = _digitisation_block(small, 95)
    assert re.search(r"<td>median, test \(months\)</td><td[^>]*>not reached</td>", text)
    assert "40.0 to not reached (not reached)" in text
    assert "not the pair's 20.0: a moved last click must still reach it" in text


def _write_trial(folder, study, arms, seed):
    rng = np.random.default_rng(seed)
    for i, (arm, median) in enumerate(arms.items()):
        t = rng.exponential(median / math.log(2), 150)
        c = rng.uniform(6, 30, 150)
        curve = ma.simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=seed + i,
                                         study_id=study, arm=arm, risk_step=6.0)
        curve = curve.__class__(**{**{f: getattr(curve, f) for f in curve.__dataclass_fields__},
                                   "outcome": "PFS", "path": ""})
        ma.write_curve(curve, folder / f"{study}_pfs_{arm}")


def test_trials_sharing_a_comparison_are_pooled_and_a_connected_network_is_fitted(tmp_path):
    _write_trial(tmp_path, "t1", {"control": 8.0, "drug": 12.0}, 1)
    _write_trial(tmp_path, "t2", {"control": 9.0, "drug": 13.0}, 11)
    _write_trial(tmp_path, "t3", {"control": 8.5, "other": 10.0}, 21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        section, objects = digitised_section(tmp_path)
    comparisons = {tuple(c["arms"]): c for c in section["pooled"]["comparisons"]}
    pooled = comparisons[("control", "drug")]
    assert pooled["trials"] == ["t1", "t2"]
    arms = {s: (objects[f"{s}_pfs_drug"]["ipd"], objects[f"{s}_pfs_control"]["ipd"]) for s in ("t1", "t2")}
    direct = ma.pool_rmst(arms, measure="RMSTD")
    assert pooled["rmst"]["estimate"] == pytest.approx(direct.estimate, rel=1e-12)
    assert [r["analysis"] for r in pooled["one_vs_two_stage"]][0].startswith("one")
    assert "not_run" in comparisons[("control", "other")]
    # the pooled ratio and the difference over tau, ending at the rule's tau
    ratio = ma.pool_rmst(arms, tau=direct.tau, measure="RMSTR")
    assert pooled["rmst_ratio"]["estimate"] == pytest.approx(ratio.estimate, rel=1e-12)
    over = pooled["rmst_over_tau"]
    assert len(over) == 19 and over[-1]["tau"] == pytest.approx(direct.tau, rel=1e-12)
    assert over[-1]["estimate"] == pytest.approx(direct.estimate, rel=1e-9)
    assert over[0]["tau"] == pytest.approx(direct.tau / 10, rel=1e-12)
    # each trial's RMST ratio beside its difference
    pair = next(x for x in section["pairs"] if x["study_id"] == "t1")
    per = ma.rmst_per_trial({"t1": arms["t1"]}, tau=pair["rmst"]["horizon"]).iloc[0]
    assert pair["rmst_ratio"]["ratio"] == pytest.approx(per.ratio, rel=1e-12)
    assert pair["rmst_ratio"]["ci_low"] < per.ratio < pair["rmst_ratio"]["ci_high"]
    # the network: three intervals holding a third of its events each, and its curves
    net = section["pooled"]["network"]
    assert net["outcome"] == "PFS" and {r["therapy"] for r in net["interval_hrs"]} >= {"drug", "other"}
    events = np.concatenate([objects[f"{s}_pfs_{a}"]["ipd"].query("event == 1").time.to_numpy()
                             for s, a in (("t1", "control"), ("t1", "drug"), ("t2", "control"),
                                          ("t2", "drug"), ("t3", "control"), ("t3", "other"))])
    np.testing.assert_allclose(net["breaks"], np.quantile(events, [1 / 3, 2 / 3]), rtol=1e-12)
    assert sorted({r["interval"] for r in net["interval_hrs"]}) == [0, 1, 2]
    curves = net["survival"]
    assert {r["therapy"] for r in curves} == {"control", "drug", "other"}
    assert all(not r["beyond_follow_up"] for r in curves)
    # every new figure is drawn, each under the key its block on the page asks for
    from metaanalysis.report.figures import _digitised_figure

    import matplotlib.pyplot as plt

    kinds = {}
    for name in objects:
        spec, ax = _digitised_figure(objects[name])
        kinds.setdefault(objects[name]["kind"], []).append(spec["key"])
        plt.close(ax.figure)
    assert kinds["network"] == [f"digitised:{net['name']}"]
    assert kinds["rmst_over_tau"] == [f"digitised:{pooled['name']}"]
    assert len(kinds["extrapolation"]) == len(section["curves"])


def test_a_hazard_ratio_that_changes_is_drawn_where_ph_is_rejected(tmp_path):
    # crossing hazards (Weibull shapes 0.6 and 2 with similar medians): the check rejects, and
    # the pair gets coxph's tt(log t) model, as ma.hr_over_time computes it
    rng = np.random.default_rng(5)
    for i, (arm, shape) in enumerate((("control", 2.0), ("drug", 0.6))):
        t = 10 * rng.weibull(shape, 300)
        c = rng.uniform(10, 30, 300)
        curve = ma.simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=40 + i,
                                         study_id="x", arm=arm, risk_step=5.0)
        ma.write_curve(curve, tmp_path / f"x_os_{arm}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        section, objects = digitised_section(tmp_path, use_cache=False)
    (pair,) = section["pairs"]
    assert pair["ph_rejected"]
    a, b = objects["x_os_control"]["ipd"], objects["x_os_drug"]["ipd"]
    tv = ma.hr_over_time(b, a)
    assert pair["hr_over_time"]["coef_log_time"] == pytest.approx(tv.coef_time, rel=1e-10)
    assert pair["hr_over_time"]["pvalue_time"] < 0.05
    assert f"{pair['name']}:hr_over_time" in objects
    import matplotlib.pyplot as plt

    from metaanalysis.report.figures import _digitised_figure

    spec, ax = _digitised_figure(objects[f"{pair['name']}:hr_over_time"])
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "hrt")
    np.testing.assert_allclose(line.get_ydata(), tv.curve.hr, rtol=1e-10)
    assert spec["key"] == f"digitised:{pair['name']}" and "95% band" in spec["caption"]
    plt.close(ax.figure)
    from metaanalysis.report.html import _survival_models_block

    html = _survival_models_block({"digitised": section}, [])
    assert "changes with log time" in html


def test_extrapolation_and_cured_fractions_are_said(shipped):
    section, objects = shipped
    for c in section["curves"]:
        fits = objects[c["name"]]["fits"]
        ex = c["extrapolation"]
        assert ex["horizon"] == 2 * ex["follow_up"] == 2 * float(objects[c["name"]]["ipd"].time.max())
        table = fits.extrapolate([ex["horizon"]])
        assert [r["survival"] for r in ex["survival"]] == pytest.approx(
            table.survival.tolist(), rel=1e-12)
        for m in c["models"]:
            # a curve with no finite mean levels off: the Gompertz with a negative shape at
            # exp(rate / shape), its cured fraction
            if m["model"] == "gompertz" and m.get("plateau") is not None:
                shape, rate = fits.fit("gompertz").params
                assert shape < 0
                assert m["plateau"] == pytest.approx(math.exp(rate / shape), rel=1e-6)
            assert (m.get("plateau") is None and not m.get("heavy_tail")) == (m["mean"] is not None)
    from metaanalysis.report.html import _survival_models_block

    html = _survival_models_block({"digitised": section}, [])
    assert "mean to infinity (extrapolated)" in html
    assert "Beyond the data (twice the last follow-up time" in html
    assert any(m.get("plateau") for c in section["curves"] for m in c["models"])
    assert "none: levels off at" in html


@pytest.fixture(scope="module")
def modelled():
    table = ma.read_studies(ROOT / "data" / "studies.csv")
    review = ma.run_review(table)
    survival = survival_section(table)
    return table, survival, modelled_rmst_section(table, survival, review), review


def test_modelled_rmst_follows_the_exponential_through_each_median(modelled):
    table, survival, section, _ = modelled
    f = table.frame
    fu = f[(f.outcome == "FU") & f.measure.isin(["median", "mean"])]
    longest = fu.groupby("study_id")["value"].max()  # all in months
    # tau per protocol estimate: the smallest longest follow-up of its trials that report one
    members = {}
    for row in section["trials"]:
        members.setdefault(row["estimate_id"] or row["study_id"], []).append(row["study_id"])
    curves = {(c["study_id"], c["therapy"]): c for c in survival["curves"]}
    for row in section["trials"]:
        ids = members[row["estimate_id"] or row["study_id"]]
        tau = row["tau"]
        assert tau == pytest.approx(longest[longest.index.isin(ids)].min())
        m_t = curves[(row["study_id"], row["therapy"])]["median_months"]
        m_p = curves[(row["study_id"], "placebo")]["median_months"]
        area = lambda m: (1 - math.exp(-math.log(2) / m * tau)) * m / math.log(2)  # noqa: E731
        assert row["difference"] == pytest.approx(area(m_t) - area(m_p), rel=1e-12)
        assert row["rmst_therapy"] <= tau and row["rmst_placebo"] <= tau
    # lenvatinib: Study 308 reports no follow-up, SELECT 17.4 months sets the estimate's horizon;
    # the second-line COSMIC-311 (10.1 months) no longer sets the first-line trials' horizon
    by_id = {r["study_id"]: r for r in section["trials"]}
    assert by_id["study308"]["tau"] == by_id["select"]["tau"] == pytest.approx(17.4)
    assert by_id["cosmic311"]["tau"] == pytest.approx(10.1)
    # a trial whose estimate has no follow-up at all gets no RMST, and is named
    assert {x["study_id"] for x in section["not_estimated"]} >= {"decision", "verify"}
    assert not ({"decision", "verify"} & set(by_id))
    # the page says which horizons a trial borrows
    from metaanalysis.report.html import _survival_models_block

    html = _survival_models_block({"modelled_rmst": section}, [])
    assert ("No follow-up reported, so tau is the other trials' of the same estimate and the "
            "RMST assumes follow-up the trial does not report: Study 308 (17.4 months).") in html


def test_a_median_without_an_interval_gives_no_rmst_interval(modelled):
    # the exponential curve through a median without an interval has only the 1/sqrt(n) floor as
    # its uncertainty: the difference is shown without an interval and never pooled
    table, survival, _, review = modelled
    curves = [dict(c) for c in survival["curves"]]
    for c in curves:
        if c["study_id"] == "select" and c["therapy"] == "placebo":
            c["median_interval"] = False
    section = modelled_rmst_section(table, dict(survival, curves=curves), review)
    by_id = {r["study_id"]: r for r in section["trials"]}
    assert by_id["select"]["ci_low"] is None and by_id["select"]["no_interval"] == ["placebo"]
    assert math.isnan(by_id["select"]["se"])
    assert not any("SELECT" in p["trials"] for p in section["pooled"])
    assert by_id["study308"]["ci_low"] is not None


def test_modelled_rmst_is_pooled_only_within_the_protocols_estimates(modelled):
    _, _, section, review = modelled
    groups = {}
    for run in review.runs:
        if run.analysis.outcome == "PFS" and run.analysis.effect == "HR":
            for g in run.groups:
                groups[g.id] = set(g.entries["study_id"])
    for p in section["pooled"]:
        ids = {r["study_id"] for r in section["trials"] if r["trial"] in p["trials"]}
        assert ids <= groups[p["estimate_id"]] and p["k"] >= 2
        assert len({r["therapy"] for r in section["trials"] if r["trial"] in p["trials"]}) == 1
    by_id = {r["study_id"]: r["estimate_id"] for r in section["trials"]}
    assert by_id["cosmic311"].startswith("pfs_hr_second_line")  # second line stays apart
    assert all(p["estimate_id"] != by_id["cosmic311"] for p in section["pooled"])
    # two trials under Knapp-Hartung: the t(1) quantile is said, as for the protocol's estimates
    (lenvatinib,) = [p for p in section["pooled"] if p["estimate_id"] == "pfs_hr/lenvatinib"]
    assert lenvatinib["k"] == 2 and lenvatinib["test"] == "knha"
    assert lenvatinib["notes"] == ["two studies with the Knapp-Hartung adjustment: the interval "
                                   "uses a t quantile with 1 degree of freedom (12.71 instead of "
                                   "1.96), so it can be wider than either study's own"]


def test_a_count_other_than_the_sources_is_shown_with_its_reason(shipped):
    """Where the reconstruction keeps the curve's own count of events (a stepped curve clicked with
    time jitter, see reconstruct_ipd), the section carries the source's count and the reason, and
    the page prints both: a reader comparing with the paper sees why the numbers differ."""
    from metaanalysis.report.html import _survival_models_block

    section, _ = shipped
    by_name = {c["name"]: c for c in section["curves"]}
    for c in section["curves"]:
        assert c["total_events"] is not None
        if c["events"] == c["total_events"]:
            assert c["events_kept"] is None
        else:
            assert abs(c["events"] - c["total_events"]) <= max(2, 0.05 * c["total_events"])
            assert f"the curve's {c['events']} kept" in c["events_kept"]
    differing = [c for c in section["curves"] if c["events"] != c["total_events"]]
    assert differing  # the shipped veteran arms: 66 and 61 of 64
    html = _survival_models_block({"digitised": section}, [])
    for c in differing:
        assert (f"{c['events']} events reconstructed (the source reports {c['total_events']}; the "
                "curve falls in steps clicked with some jitter in time") in html
    assert "total_events" not in html  # the repair log's wording stays in results.json
    assert f"{by_name['veteran_overall']['events']} events reconstructed;" in html


def test_the_page_gives_the_level_of_the_digitised_and_network_intervals():
    # a report at another level says so in the headers it prints (not a fixed 95%)
    from metaanalysis.report.html import _network_tables, _survival_models_block

    pair = {"name": "p", "study_id": "s", "outcome": "OS", "arms": ["standard", "test"],
            "time_unit": "days", "rmst_rule": "r", "ph_test": {"chisq": 1.0, "pvalue": 0.3},
            "rmst": {"horizon": 10.0, "difference": 1.0, "ci_low": 0.5, "ci_high": 1.5},
            "piecewise": [{"start": 0.0, "end": 5.0, "hr": 1.1, "ci_low": 0.9, "ci_high": 1.3,
                           "pvalue": 0.4, "events_interest": 3, "events_reference": 4}]}
    html = _survival_models_block({"digitised": {"curves": [], "pairs": [pair], "level": 90}},
                                  [])
    assert "<th>HR, test against standard (90% CI)</th>" in html
    # the events of the arm of interest sit under its own name
    assert "<th>events, test</th><th>events, standard</th>" in html
    assert re.search(r"<td>0–5</td><td[^>]*>3</td><td[^>]*>4</td>", html)
    # a check that does not reject is not read as proof: the page gives the events it rests on
    assert "Not rejecting is no evidence of proportional hazards: with 7 events" in html
    net = {"title": "t", "measure": "HR",
           "effects": [{"treatment": "a", "reference": "placebo", "ratio": 0.5,
                        "ratio_ci_low": 0.4, "ratio_ci_high": 0.6, "pvalue": 0.01}],
           "pscores": [], "league": []}
    assert "<th>HR (90% CI)</th>" in _network_tables(net, 90)
    from metaanalysis.report.html import _one_vs_two_stage_table

    one = [{"analysis": "one-stage", "hr": 0.6, "ci_low": 0.5, "ci_high": 0.7, "pvalue": 0.01,
            "tau2": None, "k": 3, "level": 90.0}]
    assert "<th>HR (90% CI)</th>" in _one_vs_two_stage_table(one, caption="c")
    # and so do the captions of the new survival figures
    import matplotlib.pyplot as plt
    import pandas as pd

    from metaanalysis.report.figures import _rmst_over_tau_figure

    tab = pd.DataFrame({"tau": [1.0, 2.0], "measure": "RMSTD", "estimate": [0.1, 0.2],
                        "ci_low": [0.0, 0.1], "ci_high": [0.2, 0.3]})
    spec, ax = _rmst_over_tau_figure({"name": "n", "table": tab, "tau": 2.0, "unit": "months",
                                      "label": "PFS", "level": 90.0})
    plt.close(ax.figure)
    assert "90% interval shaded" in spec["caption"]


def test_a_model_without_a_mean_says_why():
    # a log-logistic with shape <= 1 has no mean because its tail falls too slowly (not because
    # it levels off); a Gompertz with a negative shape levels off at exp(rate / shape)
    from metaanalysis.report.curves import _extrapolation

    t = np.geomspace(1, 1e4, 60)
    fits = ma.fit_survival_models(pd.DataFrame({"time": t, "event": 1}), models=("loglogistic",))
    assert fits.fit("loglogistic").params[1] <= 1 and fits.rows[0]["mean"] == math.inf
    _, no_mean = _extrapolation(fits, float(t.max()))
    assert no_mean == {"loglogistic": {"heavy_tail": True}}
    rng = np.random.default_rng(3)
    cured = rng.uniform(size=300) < 0.3
    time = np.where(cured, 50.0, rng.exponential(5.0, 300))
    fits = ma.fit_survival_models(pd.DataFrame({"time": np.minimum(time, 50.0),
                                                "event": (time < 50).astype(int)}),
                                  models=("gompertz",))
    shape, rate = fits.fit("gompertz").params
    assert shape < 0
    _, no_mean = _extrapolation(fits, 50.0)
    assert no_mean["gompertz"]["plateau"] == pytest.approx(math.exp(rate / shape), rel=1e-6)
    from metaanalysis.report.html import _mean_cell

    assert _mean_cell({"mean": None, "heavy_tail": True}) == "none: the tail falls too slowly"
    assert _mean_cell({"mean": None, "plateau": 0.25}).startswith("none: levels off at 25")


def test_survival_network_puts_the_pfs_network_on_the_placebo_arms_median():
    import statistics

    from metaanalysis.report.curves import modelled_network_section
    from metaanalysis.report.extras import network_section
    from metaanalysis.review import read_trials

    table = ma.read_studies(ROOT / "data" / "studies.csv")
    trials = read_trials(ROOT / "data" / "trials.csv", studies=table)
    _, fits = network_section(table, trials=trials)
    fit = fits["pfs_hr"]
    section, drawn = modelled_network_section(fit, table, at_months=12.0)
    studies = {b.study for b in fit.network.studies}
    f = table.frame
    placebo = f[(f.outcome == "PFS") & (f.measure == "median") & (f.therapy == "placebo")]
    base = section["baseline"]
    # one placebo arm per trial of the network, each a median the table reports for it; the
    # second-line COSMIC-311 is not in the network, so not in the baseline
    assert {a["study_id"] for a in base["arms"]} == studies and len(base["arms"]) == len(studies)
    assert "cosmic311" not in studies
    for a in base["arms"]:
        assert a["median"] in set(placebo[placebo.study_id == a["study_id"]]["value"])
    medians = [a["median"] for a in base["arms"]]
    assert base["median"] == statistics.median(medians)
    assert (base["lowest"], base["highest"]) == (min(medians), max(medians))
    rows = {r["therapy"]: r for r in section["therapies"]}
    assert set(rows) == set(fit.treatments)
    m0 = base["median"]
    for k, (th, d) in enumerate(zip(fit.treatments, fit.d)):
        hr = math.exp(d)
        r = rows[th]
        assert r["median"] == pytest.approx(m0 / hr, rel=1e-12)
        assert r["survival_at"] == pytest.approx(0.5 ** (12.0 * hr / m0), rel=1e-12)
        assert r["median_on_lowest_baseline"] == pytest.approx(min(medians) / hr, rel=1e-12)
        # beside the model, what the network's trials observed in that therapy's arms
        arms = f[(f.outcome == "PFS") & (f.measure == "median") & (f.therapy == th)
                 & f.study_id.isin(studies)]
        assert {x["trial"] for x in r["reported"]} == set(arms["trial"])
        for x in r["reported"]:
            assert x["median"] in set(arms[arms.trial == x["trial"]]["value"])
        if th == "placebo":
            # the baseline is taken as known: no interval for its own curve
            assert r["median_ci_low"] is None and r["survival_at_ci_low"] is None
        else:
            # the interval is the network's for the hazard ratio, carried to the median
            se = math.sqrt(fit.vcov[k, k])
            assert r["hr_ci_low"] == pytest.approx(math.exp(d - 1.959963984540054 * se), rel=1e-9)
            assert r["median_ci_low"] == pytest.approx(m0 / r["hr_ci_high"], rel=1e-9)
            assert r["survival_at_ci_low"] < r["survival_at"] < r["survival_at_ci_high"]
    # the figure's curves: every therapy from 1 at time 0, the reference through 1/2 at m0
    curves = drawn["curves"]
    assert set(curves.therapy) == set(fit.treatments)
    assert (curves[curves.time == 0].survival == 1.0).all()
    assert drawn["baseline_median"] == m0
    from metaanalysis.report.html import _survival_models_block

    html = _survival_models_block({"modelled_rmst": {"not_run": "x"},
                                   "modelled_network": section}, [])
    assert 'id="survival-models-network"' in html and "taken as known" in html
    assert "The summary of findings puts each drug on the placebo arms of its own trials" in html
    assert f"{m0:.2f} months, from {len(studies)} arms" in html
    assert "18.3 (SELECT); 23.9 (Study 308)" in html  # lenvatinib's trials, as the table has them
    # without a network nothing is modelled, and the page says so
    none, drawn = modelled_network_section(None, table)
    assert drawn is None and "not_run" in none
    assert "Not run: no PFS hazard-ratio network" in _survival_models_block(
        {"modelled_rmst": {"not_run": "x"}, "modelled_network": none}, [])


def test_what_a_reconstruction_warns_of_is_on_the_page_not_on_stderr(tmp_path):
    # a risk table whose number at 100 days the curve cannot meet: reconstruct_ipd warns; the
    # report puts that beside the curve and prints nothing (the kept count of the shipped curves,
    # said in the reader's words already, is not repeated)
    import shutil

    from metaanalysis.report.html import _survival_models_block

    for f in CURVES.glob("veteran_os_test.*"):
        shutil.copy(f, tmp_path / f.name)
    meta = tmp_path / "veteran_os_test.meta.csv"
    meta.write_text(meta.read_text().replace("n_risk,68 21 13", "n_risk,68 50 13"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        section, _ = digitised_section(tmp_path, use_cache=False)
    (c,) = section["curves"]
    assert c["warnings"] and all("number at risk" in w or "events" in w for w in c["warnings"])
    html = _survival_models_block({"digitised": section}, [])
    assert f'<p class="warn">Reconstruction: {c["warnings"][0][:40]}' in html
    shipped_section, _ = digitised_section(CURVES)
    assert all(x["warnings"] == [] for x in shipped_section["curves"])
