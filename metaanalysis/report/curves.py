"""The report's survival-model section (computation only; figures are drawn elsewhere).

Two kinds of input, never mixed:

* **Digitised curves** (``data/curves`` beside the study table): the patients are reconstructed
  (Guyot et al. 2012) and every parametric and spline model is fitted to each curve
  (:func:`~metaanalysis.survival.models.fit_survival_models`: the AIC/BIC table NICE DSU TSD 14
  asks for), with every model's extrapolation to twice the follow-up and its fitted hazard over
  the smoothed empirical one. Where one study has two digitised arms of one outcome, the
  proportional-hazards check (``cox.zph``), hazard ratios over thirds of the events, a hazard
  ratio that changes with log time where the check rejects proportional hazards, and the
  restricted mean survival time (RMST) difference and ratio are added. Across trials: the pooled
  RMST difference and ratio with the difference over the horizon tau, the one-stage Cox model
  beside the two-stage pooled HR, and a piecewise-exponential survival network with its modelled
  curves where the trials connect three or more arms.
* **Arms with only a reported median** (the RAIR-DTC randomised trials): one number identifies one
  parameter, so the only curve is the exponential through the median (modelled, and labelled so),
  and neither a model choice nor a PH check is possible. What the medians do support is the RMST
  difference of each trial under that model, at a horizon no trial's follow-up falls short of, and
  the survival network's curves: the PFS network's hazard ratios on one placebo curve through the
  placebo arms' medians (:func:`modelled_network_section`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..errors import MetaAnalysisError

# NICE DSU TSD 14's standard set plus Royston-Parmar splines with 1-3 internal knots.
CURVE_MODELS = ("exponential", "weibull", "gompertz", "loglogistic", "lognormal", "gengamma",
                "rp1", "rp2", "rp3")
# Arm names of a curve of the whole trial, which has no partner to compare with.
_WHOLE_TRIAL = ("overall", "all", "pooled", "total")
# Arm names that mark the control arm of a curve pair the study table does not describe.
_CONTROL_ARMS = ("placebo", "control", "standard", "standard of care", "soc", "observation",
                 "best supportive care", "bsc")


def _records(frame) -> list:
    from .._base import jsonable

    return jsonable(frame.to_dict(orient="records"))


def _comparators(table) -> dict:
    """study_id -> {(therapy, comparator)} of the study table's rows that name both (lower case)."""
    if table is None:
        return {}
    f = getattr(table, "frame", table)
    rows = f.dropna(subset=["therapy", "comparator"])
    out = {}
    for sid, therapy, comparator in zip(rows["study_id"], rows["therapy"], rows["comparator"]):
        therapy, comparator = str(therapy).strip().lower(), str(comparator).strip().lower()
        if therapy and comparator:
            out.setdefault(sid, set()).add((therapy, comparator))
    return out


def _reference_first(members, contrasts) -> tuple:
    """The two arms of a pair ordered (reference, other), and what decided it.

    The study table decides where it can: the arm that is the other's comparator (a row with
    therapy = one arm, comparator = the other), else the one arm that is the study's comparator at
    all. A study the table does not describe falls back on an arm named as a control (placebo,
    standard, ...), and last on the curves' file names.
    """
    arms = [m[1].arm.strip().lower() for m in members]
    for ref in (0, 1):
        if (arms[1 - ref], arms[ref]) in contrasts:
            return (members[ref], members[1 - ref]), "study table (therapy vs comparator)"
    named = [i for i in (0, 1) if any(arms[i] == c for _, c in contrasts)]
    if len(named) == 1:
        return (members[named[0]], members[1 - named[0]]), "study table (the study's comparator)"
    named = [i for i in (0, 1) if arms[i] in _CONTROL_ARMS]
    if len(named) == 1:
        return (members[named[0]], members[1 - named[0]]), "arm name (a control arm)"
    return tuple(members), "file names (no comparator in the study table)"


class DigitisedObjects(Mapping):
    """The digitised curves' fitted objects by curve or pair name, as the figures draw them.

    When the section came from the report's cache (:mod:`.cache`), the objects are fitted only
    if a figure is asked for that the cache does not hold; ``cache_key`` names the section's
    cache entry (None when the cache is off), and the figures are cached under it.
    """

    def __init__(self, names, compute=None, cache_key=None, objects=None):
        self._names = tuple(names)
        self._compute = compute
        self._objects = objects
        self.cache_key = cache_key

    def __getitem__(self, name):
        if self._objects is None:
            self._objects = self._compute()[1]
        return self._objects[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)


def _section_key(folder: Path, table, level) -> str | None:
    """The section's cache key: the curve files' names and bytes, the study table's
    therapy/comparator rows (they order the pairs), the level and the models."""
    from . import cache

    if cache.cache_folder() is None or not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    contrasts = sorted((sid, sorted(pairs)) for sid, pairs in _comparators(table).items())
    return cache.fingerprint("digitised", str(folder), float(level), CURVE_MODELS, contrasts,
                             [(str(p.relative_to(folder)), p.read_bytes()) for p in files])


def digitised_section(folder, *, table=None, level: float = 95, use_cache: bool = True) -> tuple:
    """Models, PH checks and RMST differences of the digitised curves in ``folder``.

    ``table`` (a StudyTable or its frame) decides which arm of a pair is the reference: the
    comparator of the study's therapy/comparator rows (see :func:`_reference_first`). Hazard
    ratios and RMST differences are of the other arm against it.

    Returns ``(section, objects)``: the JSON-ready dict (``curves``: one entry per curve with its
    model table; ``pairs``: one per study with two arms of one outcome, ``arms`` the reference
    first) and, by curve or pair name, the fitted objects the figures draw
    (:class:`DigitisedObjects`). With ``use_cache`` the section is taken from the report's cache
    when the same curve files were fitted before by the same code (see :mod:`.cache`).
    """
    from functools import partial

    from . import cache

    folder = Path(folder)
    key = _section_key(folder, table, level) if use_cache else None
    found = cache.lookup("sections", key)
    if found is not None:
        meta = found["meta"]
        return meta["section"], DigitisedObjects(
            meta["names"], partial(_fit_digitised, folder, table, level), key)
    section, objects = _fit_digitised(folder, table, level)
    cache.store("sections", key, {"section": section, "names": list(objects)})
    return section, DigitisedObjects(list(objects), None, key, objects)


def _fit_digitised(folder: Path, table, level) -> tuple:
    """:func:`digitised_section` without the cache."""
    import numpy as np

    from ..pooling.rmst import rmst_per_trial
    from ..survival import read_curve, rmst_difference
    from ..survival.ph import hr_over_time, ph_test, piecewise_hr
    from ..survival.models import fit_survival_models

    contrasts = _comparators(table)
    section = {"folder": str(folder), "models": list(CURVE_MODELS), "curves": [], "pairs": [],
               "level": level}
    objects = {}
    if not folder.is_dir():
        section["pooled"] = {"comparisons": [], "network": None}
        return section, objects
    arms = {}
    compared = {}
    for meta in sorted(folder.glob("*.meta.csv")):
        name = meta.name[: -len(".meta.csv")]
        try:
            curve = read_curve(meta)
            # what the reconstruction warns of goes on the page, beside its curve, not to stderr
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always", UserWarning)
                rec = curve.reconstruct()
            fits = fit_survival_models(rec.ipd, models=CURVE_MODELS, level=level)
        except MetaAnalysisError as exc:
            section["curves"].append({"name": name, "not_run": str(exc)})
            continue
        models = fits.to_frame()
        best = fits.best("aic")
        extrapolation, no_mean = _extrapolation(fits, float(rec.ipd["time"].max()))
        entry = {
            "name": name, "study_id": curve.study_id, "arm": curve.arm, "outcome": curve.outcome,
            "time_unit": curve.time_unit, "n": int(rec.ipd.shape[0]),
            "events": int(rec.ipd["event"].sum()), "total_events": curve.total_events,
            # a reconstruction that keeps the curve's own count says so (see reconstruct_ipd)
            "events_kept": next((r for r in rec.repairs if "kept" in r and "total_events" in r),
                                None),
            # the kept count is said in the reader's words already (events_kept)
            "warnings": [str(w.message).removeprefix("reconstruct_ipd: ") for w in said
                         if issubclass(w.category, UserWarning)
                         and "kept (" not in str(w.message)],
            "source": curve.source,
            "horizon": fits.horizon, "best_aic": next(iter(best.values())),
            "best_bic": next(iter(fits.best("bic").values())),
            "models": [dict(r, **no_mean.get(r["model"], {})) for r in
                       _records(models.drop(columns=["arm"]))],
            "extrapolation": extrapolation,
        }
        section["curves"].append(entry)
        objects[name] = {"kind": "models", "name": name, "fits": fits, "ipd": rec.ipd,
                         "curve": curve}
        objects[f"{name}:extrapolation"] = {"kind": "extrapolation", "name": name, "fits": fits,
                                            "curve": curve, "best": entry["best_aic"],
                                            "empirical": fits.empirical_hazard(),
                                            "follow_up": extrapolation["follow_up"],
                                            "horizon": extrapolation["horizon"]}
        if curve.arm.lower() not in _WHOLE_TRIAL:
            arms.setdefault((curve.study_id, curve.outcome, curve.time_unit), []).append(
                (name, curve, rec.ipd))
    for (study, outcome, unit), members in sorted(arms.items()):
        if len(members) != 2:
            continue
        ((name_a, curve_a, ipd_a), (name_b, curve_b, ipd_b)), decided_by = _reference_first(
            members, contrasts.get(study, set()))
        key = f"{study}_{outcome}".lower()
        pair = {"name": key, "study_id": study, "outcome": outcome, "time_unit": unit,
                "arms": [curve_a.arm, curve_b.arm], "reference": curve_a.arm, "reference_from": decided_by}
        try:
            # every hazard ratio of the pair is the arm of interest (b) against the reference
            # (a); the functions compare their first argument with their second
            ph = ph_test(ipd_b, ipd_a, arm_names=(curve_b.arm, curve_a.arm))
            # the horizon: the shorter of the two arms' follow-up (the RMST is not estimable
            # beyond it), as pooled RMST takes the smallest last follow-up across trials
            tau = float(min(ipd_a["time"].max(), ipd_b["time"].max()))
            events = ipd_a.loc[ipd_a["event"] == 1, "time"].tolist() + \
                ipd_b.loc[ipd_b["event"] == 1, "time"].tolist()
            breaks = [float(b) for b in np.quantile(events, [1 / 3, 2 / 3])]
            piece = piecewise_hr(ipd_b, ipd_a, breaks, level=level)
            rmst = rmst_difference(ipd_b, ipd_a, horizon=tau, level=level)
            ratio = rmst_per_trial({study: (ipd_b, ipd_a)}, tau=tau).iloc[0]
            # where the check rejects proportional hazards, the ratio as it changes with log time
            # (coxph with tt(arm) * log(t)): what the single HR averages over
            rejected = bool(ph.to_dict().get("pvalue", 1.0) < 0.05)
            digitisation = _digitisation(curve_b, curve_a, tau, level)
            varying, varying_not_run = None, None
            if rejected:
                try:
                    varying = hr_over_time(ipd_b, ipd_a, level=level)
                except MetaAnalysisError as exc:
                    varying_not_run = str(exc)
        except MetaAnalysisError as exc:
            pair["not_run"] = str(exc)
            section["pairs"].append(pair)
            continue
        pair.update({
            "ph_test": ph.to_dict(), "ph_rejected": rejected,
            "hr_of": f"{curve_b.arm} against {curve_a.arm}",
            "piecewise_breaks": breaks,
            # events_a / events_b of piecewise_hr named by their arms
            "piecewise": _records(piece.to_frame().rename(columns={
                "events_a": "events_interest", "events_b": "events_reference"})),
            "rmst": rmst.to_dict(), "rmst_rule": "horizon = the shorter arm's last follow-up time",
            "rmst_ratio": _ratio_record(ratio, level),
            "digitisation": digitisation,
        })
        if varying_not_run is not None:
            pair["hr_over_time"] = {"not_run": varying_not_run}
        if varying is not None:
            pair["hr_over_time"] = {"model": "log HR(t) = b + c log(t) (coxph with tt)",
                                    "coef": varying.coef, "coef_log_time": varying.coef_time,
                                    "pvalue_time": varying.pvalue_time,
                                    "curve": _records(varying.curve)}
        section["pairs"].append(pair)
        objects[key] = {"kind": "ph_check", "name": key, "ph": ph}
        if varying is not None:
            objects[f"{key}:hr_over_time"] = {"kind": "hr_over_time", "name": key,
                                              "result": varying, "unit": unit, "level": level,
                                              "arms": (curve_b.arm, curve_a.arm)}
        compared.setdefault((outcome, unit, curve_a.arm, curve_b.arm), {})[study] = (ipd_a, ipd_b)
    section["pooled"], pooled_objects = _across_trials(compared, level)
    objects.update(pooled_objects)
    return section, objects


# re-clicked reconstructions per pair: enough for stable 2.5 and 97.5 percentiles of the spread
# (about 2 s for the shipped pair), with a fixed seed so that the page is reproducible
DIGITISATION_N = 200
DIGITISATION_SEED = 0


def _digitisation(curve_b, curve_a, tau, level) -> dict:
    """The pair's hazard ratio, medians and RMSTs over re-clicked curves
    (:func:`~metaanalysis.survival.digitisation_uncertainty`), the arm of interest first.

    The RMST horizon is the pair's own ``tau`` unless moving the last click by the time
    resolution could end a replicate before it; then it is the shorter arm's last click less that
    resolution, and the record says so (``tau`` differs from the pair's ``rmst.horizon``).
    """
    from ..survival.uncertainty import _resolution, digitisation_uncertainty

    try:
        dt, _ = _resolution((curve_b, curve_a), None)
        # the default horizon of digitisation_uncertainty, where the pair's own lies beyond it
        tau_u = min(float(tau), min(float(curve_a.t.max()), float(curve_b.t.max())) - dt)
        res = digitisation_uncertainty((curve_b, curve_a), n=DIGITISATION_N,
                                       seed=DIGITISATION_SEED, tau=tau_u, level=level,
                                       progress=False)
    except MetaAnalysisError as exc:
        return {"not_run": str(exc)}
    out = res.to_dict()
    out["arms"] = {"a": curve_b.arm, "b": curve_a.arm}
    return out


# extrapolation of each curve's models: to twice its follow-up (NICE DSU TSD 14 asks to show
# what each model implies beyond the data, where the data cannot choose between them)
EXTRAPOLATION_RULE = "twice the last follow-up time"


def _extrapolation(fits, last) -> tuple:
    """Each model's survival (and band) at twice the follow-up, and why a model has no finite
    mean: a curve that levels off (an implied cured fraction, the level it keeps) or a tail that
    falls too slowly."""
    far = 2.0 * last
    at = fits.extrapolate([far])
    rows = [{"model": r.model, "survival": r.survival, "ci_low": r.survival_ci_low,
             "ci_high": r.survival_ci_high} for r in at.itertuples()]
    no_mean = {}
    for r in fits.rows:
        if r.get("mean") == math.inf:
            s4, s6 = fits.survival([1e4 * last, 1e6 * last], models=[r["model"]])["survival"]
            # still falling between 10,000 and 1,000,000 times the follow-up: a heavy tail
            no_mean[r["model"]] = ({"plateau": float(s6)} if s4 - s6 <= 1e-3 * s4
                                   else {"heavy_tail": True})
    from .._base import jsonable

    return jsonable({"rule": EXTRAPOLATION_RULE, "follow_up": last, "horizon": far,
                     "survival": rows}), no_mean


def _ratio_record(row, level) -> dict:
    """A trial's RMST ratio with its interval (delta method on the log ratio)."""
    from .._base import zcrit

    z = zcrit(level)
    lr, se = float(row["log_ratio"]), float(row["se_log_ratio"])
    return {"ratio": math.exp(lr), "ci_low": math.exp(lr - z * se),
            "ci_high": math.exp(lr + z * se), "level": level}


def _across_trials(compared, level) -> tuple:
    """Pooled RMST and one-stage against two-stage HRs where two or more trials digitised the same
    comparison (same outcome, time unit and arms); the survival NMA where the trials' comparisons
    connect three or more arms. Returns the JSON-ready dict and the objects its figures draw."""
    import numpy as np

    from ..network.survival import survival_nma
    from ..pooling.rmst import TAU_RULE, pool_rmst, rmst_over_tau, two_stage_vs_one_stage

    out = {"comparisons": [], "network": None}
    objects = {}
    for (outcome, unit, a, b), trials in sorted(compared.items()):
        entry = {"outcome": outcome, "time_unit": unit, "arms": [a, b], "trials": sorted(trials)}
        if len(trials) < 2:
            entry["not_run"] = (f"one trial ({', '.join(trials)}) with both arms digitised: nothing "
                                "to pool")
        else:
            try:
                # arm b against arm a, as the per-trial RMST difference above
                pairs = {t: (y, x) for t, (x, y) in trials.items()}
                rm = pool_rmst(pairs, measure="RMSTD", level=level)
                ratio = pool_rmst(pairs, tau=rm.tau, measure="RMSTR", level=level)
                # the sensitivity of the pooled difference to the horizon, up to the rule's tau
                taus = np.linspace(rm.tau / 10, rm.tau, 19)
                over = rmst_over_tau(pairs, taus, measure="RMSTD", level=level)
                name = f"pooled_{outcome}_{b}_vs_{a}".lower().replace(" ", "_")
                entry.update(rmst=rm.to_dict(), rmst_ratio=ratio.to_dict(), tau_rule=TAU_RULE,
                             rmst_over_tau=_records(over), name=name,
                             one_vs_two_stage=_records(two_stage_vs_one_stage(pairs, level=level)))
                objects[f"{name}:rmst_over_tau"] = {"kind": "rmst_over_tau", "name": name,
                                                    "table": over, "tau": rm.tau, "unit": unit,
                                                    "level": level,
                                                    "label": f"{outcome}, {b} against {a}"}
            except MetaAnalysisError as exc:
                entry["not_run"] = str(exc)
        out["comparisons"].append(entry)
    by_outcome = {}
    for (outcome, unit, a, b), trials in compared.items():
        for t, (x, y) in trials.items():
            by_outcome.setdefault((outcome, unit), {}).setdefault(t, {})[a] = x
            by_outcome[(outcome, unit)][t][b] = y
    for (outcome, unit), data in sorted(by_outcome.items()):
        therapies = {arm for arms in data.values() for arm in arms}
        if len(data) >= 2 and len(therapies) >= 3:
            try:
                # three intervals holding a third of the network's events each, as the pairs'
                # piecewise HRs: the hazard ratios may change between them
                events = np.concatenate([ipd.loc[ipd["event"] == 1, "time"].to_numpy(float)
                                         for arms in data.values() for ipd in arms.values()])
                breaks = [float(x) for x in np.quantile(events, [1 / 3, 2 / 3])]
                fit = survival_nma(data, breaks=breaks, level=level)
                curves = fit.survival()
                out["network"] = {"outcome": outcome, "time_unit": unit,
                                  "breaks": breaks, "breaks_rule": "thirds of the events",
                                  "reference": fit.reference,
                                  "baseline_trial": fit.baseline_trial,
                                  "interval_hrs": _records(fit.interval_hrs()),
                                  "survival": _records(curves)}
                name = f"network_{outcome}".lower().replace(" ", "_")
                out["network"]["name"] = name
                objects[f"{name}:curves"] = {"kind": "network", "name": name, "curves": curves,
                                             "hr": fit.hr_over_time(), "unit": unit,
                                             "level": level,
                                             "outcome": outcome, "reference": fit.reference,
                                             "baseline_trial": fit.baseline_trial}
            except MetaAnalysisError as exc:
                out["network"] = {"outcome": outcome, "not_run": str(exc)}
    return out, objects


def _exponential_rmst(curve, tau):
    """RMST of an exponential curve up to ``tau`` and its SE (delta method on log rate, whose SE
    is the median's SE on the log scale)."""
    lam = curve.rate
    rmst = (1.0 - math.exp(-lam * tau)) / lam
    se = abs(tau * math.exp(-lam * tau) - rmst) * curve.se_log_median
    return rmst, se


def _pfs_groups(review) -> dict:
    """study_id -> (analysis, estimate id) of the protocol's PFS hazard-ratio analyses, the
    primary one first: the trials the protocol allows to be pooled together."""
    out = {}
    if review is None:
        return out
    runs = sorted((r for r in review.runs if r.analysis.outcome == "PFS"
                   and r.analysis.effect == "HR" and r.groups),
                  key=lambda r: r.analysis.role != "primary")
    for run in runs:
        for g in run.groups:
            for sid in g.entries["study_id"]:
                out.setdefault(sid, (run.analysis, g.id))
    return out


def modelled_rmst_section(table, survival, review=None, *, method: str = "REML",
                          level: float = 95) -> dict:
    """RMST differences (therapy minus placebo) of the randomised trials, from the exponential
    curves through their reported median PFS (``survival`` from :func:`.extras.survival_section`).

    The horizon tau belongs to a protocol estimate: the smallest, over the trials it pools (the
    protocol's PFS hazard-ratio analysis, one therapy and one line), of each trial's longest
    reported follow-up (median or mean, ``FU`` rows); a trial in no estimate has its own. A trial
    that reports no follow-up does not set it; an estimate none of whose trials reports one has
    no RMST. A median reported without an interval gives the curve no standard error (the
    1/sqrt(n) floor would make the interval too narrow): the difference is shown without an
    interval and is not pooled. Differences are pooled only within a protocol estimate, never
    across therapies or lines.
    """
    from .._base import zcrit
    from ..pooling import pool

    from ..studies import follow_up_months

    follow_up = {sid: months for sid, (months, _) in follow_up_months(table.frame).items()}
    by_trial = {}
    for c in survival.get("curves", []):
        by_trial.setdefault(c["study_id"], []).append(c)
    trials = {s: cs for s, cs in by_trial.items()
              if any(c["therapy"].lower() == "placebo" for c in cs)
              and any(c["therapy"].lower() != "placebo" for c in cs)}
    groups = _pfs_groups(review)
    # the estimate each trial belongs to (a trial in none is its own)
    member = {s: groups.get(s, (None, None))[1] or f"trial:{s}" for s in trials}
    taus = {}
    for s, key in member.items():
        if s in follow_up:
            taus[key] = min(taus.get(key, math.inf), follow_up[s])
    out = {"outcome": "PFS", "model": "exponential through the reported median (modelled)",
           "tau_rule": "per protocol estimate, the smallest of its trials' longest reported median "
                       "or mean follow-up (a trial in no estimate: its own)",
           "taus": {k: v for k, v in sorted(taus.items()) if not k.startswith("trial:")},
           "trials": [], "pooled": [], "not_estimated": []}
    if not taus:
        out["not_run"] = "no randomised trial with a placebo arm reports its follow-up"
        return out
    z = zcrit(level)
    per_group = {}
    for s, cs in sorted(trials.items()):
        placebo = next(c for c in cs if c["therapy"].lower() == "placebo")
        tau = taus.get(member[s])
        for c in cs:
            if c is placebo:
                continue
            if tau is None:
                out["not_estimated"].append({"study_id": s, "trial": c["trial"],
                                             "reason": "no trial of its estimate reports its "
                                                       "follow-up: no horizon"})
                continue
            ra, sa = _exponential_rmst(c["curve"], tau)
            rb, sb = _exponential_rmst(placebo["curve"], tau)
            without = [x["arm"] for x in (c, placebo) if not x.get("median_interval", True)]
            se = math.nan if without else math.hypot(sa, sb)
            diff = ra - rb
            row = {"study_id": s, "trial": c["trial"], "therapy": c["therapy"], "tau": tau,
                   "rmst_therapy": ra, "rmst_placebo": rb, "difference": diff, "se": se,
                   "ci_low": diff - z * se if math.isfinite(se) else None,
                   "ci_high": diff + z * se if math.isfinite(se) else None,
                   "follow_up_months": follow_up.get(s),
                   "estimate_id": groups.get(s, (None, None))[1],
                   "no_interval": without}
            out["trials"].append(row)
            if math.isfinite(se) and se > 0 and row["estimate_id"] is not None:
                per_group.setdefault(row["estimate_id"], []).append(row)
    for gid, rows in sorted(per_group.items()):
        if len(rows) < 2:
            continue
        # the model the protocol declares for that analysis (its tau² method and test)
        analysis = groups[rows[0]["study_id"]][0]
        fit = pool([r["difference"] for r in rows], sei=[r["se"] for r in rows],
                   method=analysis.method or method, test=analysis.test or "z", level=level,
                   labels=[r["trial"] for r in rows])
        out["pooled"].append({"estimate_id": gid, "therapy": rows[0]["therapy"], "k": fit.k,
                              "tau": rows[0]["tau"],
                              "trials": [r["trial"] for r in rows], "estimate": fit.estimate,
                              "ci_low": fit.ci_low, "ci_high": fit.ci_high, "tau2": fit.tau2,
                              "method": fit.method, "test": fit.test, "analysis": analysis.id,
                              "notes": _pooled_notes(fit)})
    return out


def _pooled_notes(fit) -> list:
    """What a pooled RMST difference assumes beyond the table, as the protocol's estimates say."""
    from ..review.analyses import two_study_knha, two_study_knha_note

    d = fit.to_dict()
    return [two_study_knha_note(d, fit.level)] if two_study_knha(d) else []


def modelled_network_section(fit, table, *, at_months: float = 12.0,
                             horizon: float = 36.0) -> tuple:
    """The PFS network's therapies on one placebo curve (modelled from medians).

    ``fit`` is the report's PFS hazard-ratio network (:func:`.extras.network_section`'s
    ``"pfs_hr"``, second-line trials already left out) or None. The baseline is the exponential
    through the median of the placebo arms' median PFS in the network's trials (read by the
    network's own row rule), taken as known, as the summary of findings takes its assumed
    comparator risk; each therapy's curve is the baseline to the power of its network hazard
    ratio (:func:`~metaanalysis.network.network_survival`). A therapy's modelled median is the
    baseline's over its hazard ratio, so it moves in proportion with the baseline; it is also given
    on the lowest and the highest placebo median, the spread the choice of baseline leaves open,
    and beside it the medians the network's trials report in that therapy's arms.

    Returns the JSON-ready dict and what the figure draws (the curves over 0 to ``horizon`` months,
    the baseline median, the reference and the level), or None where nothing is drawn.
    """
    import statistics

    import numpy as np

    from ..network import network_survival
    from .extras import _pfs_arm_medians

    out = {"outcome": "PFS", "network": "pfs_hr",
           "model": "exponential placebo curve with the network's hazard ratios (modelled)",
           "at_months": at_months, "horizon": horizon}
    if fit is None:
        out["not_run"] = "no PFS hazard-ratio network"
        return out, None
    frame = table.frame
    studies = [b.study for b in fit.network.studies]
    names = dict(zip(frame["study_id"], frame["trial"]))
    arms = _pfs_arm_medians(frame, studies)
    if not arms:
        out["not_run"] = "no trial of the network reports its placebo arm's median PFS"
        return out, None
    m0 = statistics.median(m for _, m in arms)
    res = network_survival(fit, m0)
    lo, hi = min(m for _, m in arms), max(m for _, m in arms)
    at = res.survival([at_months]).set_index("therapy")
    rows = []
    for r in res.medians().itertuples(index=False):
        s = at.loc[r.therapy]
        # the baseline is taken as known: the reference's own curve has no interval
        known = r.therapy == res.reference
        rows.append({"therapy": r.therapy, "hr": r.hr,
                     "hr_ci_low": None if known else r.hr_ci_low,
                     "hr_ci_high": None if known else r.hr_ci_high, "median": r.median,
                     "median_ci_low": None if known else r.median_ci_low,
                     "median_ci_high": None if known else r.median_ci_high,
                     "survival_at": s["survival"],
                     "survival_at_ci_low": None if known else s["ci_low"],
                     "survival_at_ci_high": None if known else s["ci_high"],
                     "median_on_lowest_baseline": lo / r.hr,
                     "median_on_highest_baseline": hi / r.hr,
                     # what the trials observed beside what the model says
                     "reported": [{"trial": names.get(sid, sid), "median": m} for sid, m in
                                  _pfs_arm_medians(frame, studies, therapy=r.therapy)]})
    out.update({
        "reference": res.reference, "level": res.level,
        "baseline": {"rule": "the median of the placebo arms' median PFS in the network's trials, "
                             "taken as known",
                     "median": m0, "lowest": lo, "highest": hi,
                     "arms": [{"study_id": sid, "trial": names.get(sid, sid), "median": m}
                              for sid, m in arms],
                     "without_median": [names.get(s, s) for s in studies
                                        if s not in dict(arms)]},
        "therapies": rows,
        "survival": _records(res.survival(np.arange(0.0, horizon + 1.0))),
    })
    return out, {"curves": res.survival(np.linspace(0.0, horizon, 145)), "baseline_median": m0,
                 "reference": res.reference, "level": res.level}
