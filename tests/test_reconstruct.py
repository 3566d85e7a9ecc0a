"""reconstruct_ipd (Guyot et al. 2012): cleaning, the algorithm's failure modes, round trips, real curves.

The round-trip tests digitise Kaplan-Meier curves of known data as a person does
(``simulate_digitisation``: 40-160 uneven clicks, jitter in both axes, a risk table every few units
that sometimes stops early), reconstruct them and compare with the truth. Thresholds are those of
issue 4. Hazard ratios in the round trips come from a small numpy Cox fit (Efron ties, one binary
covariate) checked against lifelines below, so that hundreds of replicates run in seconds.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.survival import Reconstruction, clean_curve, reconstruct_ipd
from metaanalysis.survival.digitise import cox_log_hr, km_steps, simulate_digitisation

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SHARED = HERE.parents[1] / "shared" / "curves"  # ../shared/curves relative to the repository root

# issue 4's round-trip thresholds (90th percentiles over replicates)
P90_MEDIAN_REL = 0.12
P90_LANDMARK_ABS = 0.03
P90_LOGHR_ABS = 0.08


# ---------------------------------------------------------------------------------------------------
# helpers: KM in numpy; the two-group Cox fit is digitise.cox_log_hr, checked against lifelines here


def km_at(time, event, at):
    tau, surv, _, _ = km_steps(time, event)
    i = np.searchsorted(tau, np.asarray(at, float), side="right")
    return np.where(i > 0, surv[np.maximum(i - 1, 0)], 1.0)


def km_median(time, event):
    """First time with S <= 0.5 (lifelines' convention); inf when not reached."""
    tau, surv, _, _ = km_steps(time, event)
    k = np.flatnonzero(surv <= 0.5)
    return float(tau[k[0]]) if len(k) else np.inf


def test_numpy_cox_matches_lifelines():
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    g = [rossi[rossi.fin == k] for k in (0, 1)]
    ours = cox_log_hr(g[0].week, g[0].arrest, g[1].week, g[1].arrest)
    df = pd.DataFrame({"T": rossi.week, "E": rossi.arrest, "x": rossi.fin})
    theirs = float(CoxPHFitter().fit(df, "T", "E").params_["x"])
    assert ours == pytest.approx(theirs, abs=1e-6)  # same likelihood, Newton to 1e-12
    assert np.exp(ours) == pytest.approx(0.691, abs=5e-4)  # R coxph, survival-methods.md 9.2


def read_ipd(res):
    return res.ipd["time"].to_numpy(), res.ipd["event"].to_numpy().astype(float)


def total_events_honoured(res, D):
    """Exactly ``D`` events, or the curve's own count when the repair log says it was kept.

    A curve that falls in steps, clicked with time jitter, keeps the events its clicks imply
    when they are within max(2, 5 % of D) of the total (the time jitter of the steps' clicks
    explains such a gap; see ``reconstruct._vertical_share``): the count may then differ, but
    only that little, and never silently.
    """
    kept = [r for r in res.repairs if "kept" in r and "total_events" in r]
    if kept:
        return res.events != D and abs(res.events - D) <= max(2, 0.05 * D)
    return res.events == D


# ---------------------------------------------------------------------------------------------------
# small exact cases


def test_exact_small_curve_without_censoring():
    # 10 patients, deaths at 1 (2) and 3 (2), table says 8 at risk at 2: no censoring. Guyot's
    # convention (interpolate=False) puts the drop from 2 to 3 at the click at 3
    ipd = reconstruct_ipd([0, 1, 1, 2, 3], [1, 1, 0.8, 0.8, 0.6], [0, 2], [10, 8], interpolate=False)
    assert list(ipd.columns) == ["time", "event"]
    assert len(ipd) == 10 and ipd["event"].sum() == 4
    assert sorted(ipd.loc[ipd.event == 1, "time"]) == [1, 1, 3, 3]
    # the rest censored just after the last point (end_slack, 1 % of the time range), or at it
    assert np.allclose(ipd.loc[ipd.event == 0, "time"], 3.03)
    guyot = reconstruct_ipd([0, 1, 1, 2, 3], [1, 1, 0.8, 0.8, 0.6], [0, 2], [10, 8],
                            interpolate=False, end_slack=0)
    assert (guyot.loc[guyot.event == 0, "time"] == 3).all()
    np.testing.assert_array_equal(guyot.loc[guyot.event == 1, "time"], [1, 1, 3, 3])
    # by default the drop between the clicks at 2 and 3 is spread over (2, 3]; the vertical drop
    # at 1 (both corners clicked) stays where it is
    ipd = reconstruct_ipd([0, 1, 1, 2, 3], [1, 1, 0.8, 0.8, 0.6], [0, 2], [10, 8])
    assert len(ipd) == 10 and ipd["event"].sum() == 4
    assert sorted(ipd.loc[ipd.event == 1, "time"]) == [1, 1, 2.5, 3]


def test_censoring_found_to_match_the_table():
    # 20 patients; 2 deaths at 1 then the table says 15 at risk at 5: 3 censorings in [0, 5)
    res = reconstruct_ipd([0, 1, 6, 8], [1, 0.9, 0.9 * 14 / 15, 0.9 * 14 / 15], [0, 5], [20, 15],
                          return_result=True)
    iv = res.intervals
    assert iv.loc[0, "n_end"] == 15 and iv.loc[0, "censored"] == 3 and iv.loc[0, "converged"]
    ipd = res.ipd
    assert len(ipd) == 20
    cens_first = ipd[(ipd.event == 0) & (ipd.time < 5)]
    assert len(cens_first) == 3 and (cens_first.time > 0).all()
    assert res.max_abs_error < 1e-9


def test_reconstruction_reproduces_its_own_km_exactly_with_complete_clicks():
    # clicks at both corners of every drop of a true KM curve, full risk table: the reconstructed
    # KM at the clicks equals the curve (rounding leaves nothing to choose)
    rng = np.random.default_rng(3)
    t = np.ceil(rng.exponential(10, 150) * 10) / 10  # tied times, none at 0
    c = rng.uniform(0, 30, 150)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    tau, surv, _, end = km_steps(time, event)
    prev = np.r_[1.0, surv[:-1]]
    xs = np.r_[np.repeat(tau, 2), end]
    ys = np.r_[np.column_stack([prev, surv]).ravel(), surv[-1]]
    rt = np.arange(0, end, 5.0)
    nr = [(time >= r).sum() for r in rt]
    res = reconstruct_ipd(xs, ys, rt, nr, return_result=True)
    rt_, re_ = read_ipd(res)
    assert len(rt_) == 150 and abs(re_.sum() - event.sum()) <= 2
    # tolerance: evenly spread censorings change the number at risk by a patient or two, so a
    # rounding can move one death
    assert np.max(np.abs(km_at(rt_, re_, tau) - surv)) < 0.01
    assert res.max_abs_error < 0.01
    with_d = reconstruct_ipd(xs, ys, rt, nr, int(event.sum()), return_result=True, warn=False)
    # every corner clicked at its exact time: vertical drops without time jitter, the total is met
    assert with_d.events == event.sum()


def test_number_of_patients_is_always_the_table_first_number():
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(5, 300))
        k = int(rng.integers(2, 40))
        t = np.sort(rng.uniform(0, 20, k))
        s = np.sort(rng.uniform(0, 1, k))[::-1]
        ipd = reconstruct_ipd(t, s, None, n, warn=False)
        assert len(ipd) == n
        assert set(ipd.event.unique()) <= {0, 1}


def test_result_object_and_summary():
    res = reconstruct_ipd([0, 1, 2, 3], [1, 0.9, 0.8, 0.7], [0, 2], [10, 8], return_result=True)
    assert isinstance(res, Reconstruction)
    d = res.to_dict()
    assert d["n"] == 10 and len(d["time"]) == 10 and isinstance(d["repairs"], list)
    assert "Reconstructed individual patient data" in res.summary()
    assert repr(res).startswith("<Reconstruction n=10")
    assert set(res.points.columns) >= {"time", "survival", "n_risk", "events", "censored", "km"}
    res.to_json()


# ---------------------------------------------------------------------------------------------------
# cleaning


def test_cleaning_sorts_clips_runs_min_and_keeps_two_points_per_time():
    t, s, rep = clean_curve([3, 1, 1, 1, 2, -0.01, 5], [0.7, 0.95, 0.9, 0.85, 0.92, 1.01, 0.75])
    assert t.tolist() == [0, 1, 1, 2, 3, 5]
    assert s.tolist() == [1, 0.95, 0.85, 0.85, 0.7, 0.7]
    text = " ".join(rep)
    assert "sorted" in text and "running minimum" in text and "clipped" in text
    assert "sharing a time" in text


def test_percent_scale_explicit_and_auto():
    t = [0, 1, 2, 3]
    a = reconstruct_ipd(t, [100, 90, 80, 70], None, 10, scale="percent")
    b = reconstruct_ipd(t, [1, 0.9, 0.8, 0.7], None, 10)
    pd.testing.assert_frame_equal(a, b)
    res = reconstruct_ipd(t, [100, 90, 80, 70], None, 10, scale="auto", return_result=True)
    assert any("percent" in r for r in res.repairs)
    with pytest.raises(InputError, match="scale='percent'"):
        reconstruct_ipd(t, [100, 90, 80, 70], None, 10)


def test_start_point_is_forced():
    res = reconstruct_ipd([0, 0, 1, 2], [0.98, 0.97, 0.9, 0.8], None, 10, return_result=True)
    assert res.points.time.iloc[0] == 0 and res.points.survival.iloc[0] == 1
    assert any("time 0" in r for r in res.repairs)
    assert (res.ipd.time > 0).all()  # no event at time 0


# ---------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "args, match",
    [
        (([], [], [0], [10]), "empty"),
        (([1], [0.5], [0], [10]), "single point"),
        (([0, 1, 2], [1, 0.9], [0], [10]), "same length"),
        (([0, 1, 2], [1, 0.9, 0.8], [0, 1], [10, 12]), "cannot increase"),
        (([0, 1, 2], [1, 0.9, 0.8], [0, 1], [10]), "same length"),
        (([0, 1, 2], [1, 0.9, 0.8], [1, 2], [10, 8]), "start at time 0"),
        (([0, 1, 2], [1, 0.9, 0.8], [0, 1, 1], [10, 8, 7]), "strictly increasing"),
        (([0, 1, 2], [1, 0.9, 0.8], [0, 1], [10, 8.5]), "whole numbers"),
        (([0, -1, 2], [1, 0.9, 0.8], [0], [10]), "negative"),
        (([0, 1, 2], [1, 0.9, -0.5], [0], [10]), r"\[0, 1\]"),
        (([0, 1, np.nan], [1, 0.9, 0.8], [0], [10]), "missing"),
        (([0, 1, 2], [1, 0.9, 0.8], None, None), "number of patients"),
        # 2**63 wrapped to a negative count (an empty IPD), 1e12 ran out of memory
        (([0, 1, 2], [1, 0.9, 0.8], [0], [2.0**63]), "at most 10,000,000"),
        (([0, 1, 2], [1, 0.9, 0.8], [0], [1e12]), "at most 10,000,000"),
        # a cumulative incidence curve: was read as 8 events without a word
        (([0, 2, 4, 6, 8, 10], [0, 0.1, 0.2, 0.35, 0.45, 0.5], [0], [100]), "rises with time"),
        (([0, 1, 2], [1, 0.9, 0.8], [0], [10], True), "whole number; got True"),
        (([0, 1, 2], [1, 0.9, 0.8], [0], [10], "5"), "whole number; got '5'"),
    ],
)
def test_bad_input_is_a_clear_input_error(args, match):
    with pytest.raises(InputError, match=match):
        reconstruct_ipd(*args)


def test_fractions_declared_as_percent_are_refused():
    # all 200 patients died, with only warnings about the table
    with pytest.raises(InputError, match="they are fractions; pass scale='fraction'"):
        reconstruct_ipd([0, 1, 2, 3], [1, 0.9, 0.8, 0.75], [0], [200], scale="percent")
    with pytest.raises(InputError, match="max_iter"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0], [10], max_iter=True)


def test_bad_total_events_and_options():
    with pytest.raises(InputError, match="exceeds"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0], [10], 11)
    with pytest.raises(InputError, match="whole number"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0], [10], 2.5)
    with pytest.raises(InputError, match="max_iter"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0], [10], max_iter=0)
    with pytest.raises(InputError, match="tail"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], [0], [10], tail="linear")


def test_risk_times_past_the_curve_are_dropped_with_a_warning():
    with pytest.warns(UserWarning, match="beyond the last point"):
        res = reconstruct_ipd([0, 1, 2, 3], [1, 0.9, 0.8, 0.7], [0, 2, 4, 6], [10, 8, 5, 2],
                              return_result=True)
    assert len(res.intervals) == 2 and len(res.ipd) == 10
    assert any("4, 6" in r for r in res.repairs)


# ---------------------------------------------------------------------------------------------------
# the original algorithm's failure modes (survival-methods.md 2.9)


def test_f1_search_is_bounded_and_reports_non_convergence():
    # the curve falls more than the table allows: no censoring count reaches it; one pass
    with pytest.warns(UserWarning, match="more events than the table allows"):
        res = reconstruct_ipd([0, 1, 2, 3], [1, 0.5, 0.4, 0.3], [0, 2.5], [10, 8],
                              max_iter=3, return_result=True)
    assert res.intervals.iterations.max() <= 3
    assert not res.intervals.converged.iloc[0]
    assert len(res.ipd) == 10


def test_f1_many_random_curves_terminate_quickly():
    rng = np.random.default_rng(5)
    refused = 0
    for _ in range(50):
        k = int(rng.integers(2, 60))
        t = rng.uniform(0, 30, k)
        s = rng.uniform(0, 1, k)
        rt = np.r_[0, np.sort(rng.choice(np.arange(1, 30), size=int(rng.integers(0, 8)), replace=False))]
        nr = np.sort(rng.integers(0, 300, len(rt)))[::-1]
        nr[0] = max(nr[0], 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = reconstruct_ipd(t, s, rt, nr, max_iter=20, return_result=True)
            except InputError as exc:
                # noise whose last clicks sit well above its first is no survival curve
                assert "survival rises with time" in str(exc)
                refused += 1
                continue
        assert len(res.ipd) == nr[0]
        assert res.intervals.iterations.max() <= 20
    assert refused < 25  # most of the noise still runs through the whole algorithm


def test_censoring_update_landing_on_zero():
    # the initial guess asks for censoring, the pass shows none is needed: nc must reach 0 cleanly
    res = reconstruct_ipd([0, 1, 2, 3, 4], [1, 0.9, 0.8, 0.7, 0.6], [0, 3.5], [10, 7],
                          return_result=True)
    iv = res.intervals.iloc[0]
    assert iv.censored == 0 and iv.n_end == 7 and iv.converged
    assert res.ipd.event.sum() == 4


def test_survival_reaching_zero_and_number_at_risk_reaching_zero():
    # F2/F6: S = 0 mid-curve with later points; and a table that reaches 0 before the curve ends
    # (the two at risk at 1.5 could be one death and one censoring: the fall's count is the
    # model's, and a warning says so)
    with pytest.warns(UserWarning, match="falls to 0 after the risk table's last time"):
        ipd = reconstruct_ipd([0, 1, 2, 3, 4], [1, 0.5, 0.0, 0.0, 0.0], [0, 1.5], [4, 2])
    assert len(ipd) == 4 and ipd.event.sum() == 4 and ipd.time.max() == 2
    with pytest.warns(UserWarning, match="reaches 0"):
        res = reconstruct_ipd([0, 1, 2, 3, 4], [1, 0.8, 0.6, 0.5, 0.4], [0, 2.5, 3.5],
                              [10, 4, 0], return_result=True)
    assert len(res.ipd) == 10 and res.ipd.time.max() <= 3.5
    assert np.isfinite(res.points.km).all()


def test_empty_interval_is_all_censoring():
    # no click between 2 and 6: the table's loss there is censoring
    res = reconstruct_ipd([0, 1, 7, 8], [1, 0.9, 0.8, 0.8], [0, 2, 4, 6], [20, 18, 15, 12],
                          return_result=True, warn=False)
    iv = res.intervals
    assert iv.loc[1, "events"] == 0 and iv.loc[1, "censored"] == 3
    assert len(res.ipd) == 20


def test_f5_events_clicked_just_before_a_risk_time_move_to_it():
    # a drop of 2 at time 3 clicked at 2.99: the table counts them at risk at 3
    res = reconstruct_ipd([0, 1, 2.99, 5], [1, 0.9, 0.8, 0.8], [0, 3], [20, 18],
                          return_result=True)
    assert res.intervals.loc[0, "n_end"] == 18 and res.intervals.loc[0, "censored"] == 0
    assert (res.ipd.time == 3).sum() == 2


def test_f7_total_events_is_met_exactly():
    rng = np.random.default_rng(8)
    t = rng.exponential(10, 200)
    c = rng.uniform(0, 30, 200)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    for stop in (None, 8.0):
        curve = simulate_digitisation(time, event, seed=1, risk_stop=stop)
        for D in (int(event.sum()), int(event.sum()) - 15, int(event.sum()) + 10):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = reconstruct_ipd(curve.t, curve.s, curve.risk_times, curve.n_risk, D,
                                      return_result=True)
            assert res.events == D and len(res.ipd) == 200


def test_total_events_without_risk_table():
    # "D only": censoring searched over the whole curve so that events add up
    rng = np.random.default_rng(9)
    t = rng.exponential(10, 120)
    c = rng.uniform(0, 25, 120)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    curve = simulate_digitisation(time, event, seed=2)
    res = reconstruct_ipd(curve.t, curve.s, None, 120, int(event.sum()), return_result=True)
    assert res.events == event.sum() and len(res.ipd) == 120
    # the curve itself is kept: landmark survival close to the truth
    at = np.array([5.0, 10.0])
    ri = read_ipd(res)
    assert np.max(np.abs(km_at(*ri, at) - km_at(time, event, at))) < 0.04  # tolerance: sparse clicks


def test_number_only_has_no_censoring_but_the_end():
    ipd = reconstruct_ipd([0, 1, 2, 3], [1, 0.9, 0.8, 0.7], None, 10)
    assert ipd.event.sum() == 3 and np.allclose(ipd[ipd.event == 0].time, 3 * 1.01)


def test_tail_rules():
    rng = np.random.default_rng(4)
    t = rng.exponential(12, 300)
    c = rng.uniform(0, 40, 300)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    curve = simulate_digitisation(time, event, seed=3, risk_stop=15)
    a = curve.reconstruct(use_total_events=False, tail="uniform")
    b = curve.reconstruct(use_total_events=False, tail="rate")
    assert len(a.ipd) == len(b.ipd) == 300
    assert a.intervals.censored.iloc[-1] != b.intervals.censored.iloc[-1]


# ---------------------------------------------------------------------------------------------------
# round trips: simulated truth


def _sim_arm(rng, n, scale, shape, hr, cmax):
    u = rng.uniform(size=n)
    t = scale * (-np.log(u) / hr) ** (1 / shape)
    c = rng.uniform(0, cmax, n)
    return np.minimum(t, c), (t <= c).astype(float)


def _round_trip(arms, rng, use_total_events, landmarks, risk_stop_prob=0.35, unit="months"):
    """Digitise and reconstruct a pair of arms; returns (median errors, landmark errors, |dlogHR|)."""
    stop = rng.uniform() < risk_stop_prob
    meds, lms, recs = [], [], []
    for time, event in arms:
        end = time.max()
        curve = simulate_digitisation(
            time, event, seed=rng, time_unit=unit,
            risk_stop=rng.uniform(0.3, 0.6) * end if stop else None,
        )
        res = curve.reconstruct(use_total_events=use_total_events, warn=False)
        rt, re = read_ipd(res)
        assert len(rt) == len(time)  # exactly the risk table's N, always
        if use_total_events:
            assert total_events_honoured(res, int(event.sum()))
        mt = km_median(time, event)
        if np.isfinite(mt):
            meds.append(abs(km_median(rt, re) - mt) / mt)
        lms.extend(np.abs(km_at(rt, re, landmarks) - km_at(time, event, landmarks)))
        recs.append((rt, re))
    true = cox_log_hr(*arms[0], *arms[1])
    rec = cox_log_hr(*recs[0], *recs[1])
    return meds, lms, abs(rec - true)


def _p90(x):
    return float(np.percentile(np.asarray(x, float), 90))


N_SIM = 150  # pairs of arms per scenario: a stable 90th percentile, about 2 s per scenario


@pytest.mark.parametrize("use_total_events", [False, True], ids=["without-D", "with-D"])
def test_round_trip_simulated(use_total_events):
    meds, lms, hrs = [], [], []
    for rep in range(N_SIM):
        rng = np.random.default_rng(1000 + rep)
        n0, n1 = (int(x) for x in rng.integers(40, 401, 2))
        median = rng.uniform(6, 18)  # months
        shape = 1.0 if rng.uniform() < 0.5 else rng.uniform(0.7, 1.6)  # exponential or Weibull
        scale = median / np.log(2) ** (1 / shape)
        hr = rng.uniform(0.4, 1.0)
        cmax = rng.uniform(24, 48)  # uniform censoring on [0, cmax] months
        arms = [_sim_arm(rng, n0, scale, shape, 1.0, cmax), _sim_arm(rng, n1, scale, shape, hr, cmax)]
        m, lm, h = _round_trip(arms, rng, use_total_events, np.array([6.0, 12.0]))
        meds += m
        lms += lm
        hrs.append(h)
    fig = (f"simulated, {'with' if use_total_events else 'without'} total events, {N_SIM} pairs: "
           f"p90 median rel. error {_p90(meds):.3f}, S(6)/S(12) abs. error {_p90(lms):.4f}, "
           f"|d log HR| {_p90(hrs):.4f}")
    print("\n" + fig)
    assert _p90(meds) <= P90_MEDIAN_REL, fig
    assert _p90(lms) <= P90_LANDMARK_ABS, fig
    assert _p90(hrs) <= P90_LOGHR_ABS, fig


def _lifelines_pairs():
    from lifelines import datasets as ds

    lung = ds.load_lung().dropna(subset=["time", "status"])
    ev = (lung.status == 2) if lung.status.max() == 2 else (lung.status == 1)
    yield "lung by sex (days)", [
        (lung.time[lung.sex == k].to_numpy(float), ev[lung.sex == k].to_numpy(float)) for k in (1, 2)
    ], 30.44
    rossi = ds.load_rossi()
    yield "rossi by fin (weeks)", [
        (rossi.week[rossi.fin == k].to_numpy(float), rossi.arrest[rossi.fin == k].to_numpy(float))
        for k in (0, 1)
    ], 4.348
    g = ds.load_gbsg2()
    yield "gbsg2 by horTh (days)", [
        (g.time[g.horTh == k].to_numpy(float), g.cens[g.horTh == k].to_numpy(float))
        for k in ("no", "yes")
    ], 30.44


N_REAL = 12  # replicates per dataset and scenario


@pytest.mark.parametrize("use_total_events", [False, True], ids=["without-D", "with-D"])
def test_round_trip_lifelines_datasets(use_total_events):
    meds, lms, hrs, lines = [], [], [], []
    for name, arms, per_month in _lifelines_pairs():
        landmarks = np.array([6.0, 12.0]) * per_month
        dm, dl, dh = [], [], []
        for rep in range(N_REAL):
            rng = np.random.default_rng(rep)
            m, lm, h = _round_trip(arms, rng, use_total_events, landmarks, risk_stop_prob=0.5,
                                   unit="days")
            dm += m
            dl += lm
            dh.append(h)
        lines.append(f"  {name}: n={[len(a[0]) for a in arms]} p90 median {_p90(dm) if dm else float('nan'):.3f}"
                     f" landmark {_p90(dl):.4f} |d log HR| {_p90(dh):.4f}")
        meds += dm
        lms += dl
        hrs += dh
    fig = (f"lifelines data, {'with' if use_total_events else 'without'} total events: "
           f"p90 median {_p90(meds):.3f}, landmark {_p90(lms):.4f}, |d log HR| {_p90(hrs):.4f}\n"
           + "\n".join(lines))
    print("\n" + fig)
    assert _p90(meds) <= P90_MEDIAN_REL, fig
    assert _p90(lms) <= P90_LANDMARK_ABS, fig
    assert _p90(hrs) <= P90_LOGHR_ABS, fig


# ---------------------------------------------------------------------------------------------------
# real digitised curves


def _veteran():
    clicks = pd.read_csv(DATA / "veteran_ipdrecon_clicks.csv")
    table = pd.read_csv(DATA / "veteran_ipdrecon_risk_table.csv")
    return clicks, table


@pytest.mark.parametrize("total_events", [None, 128])
def test_veterans_clicks_reproduce_the_true_median_and_landmarks(total_events):
    clicks, table = _veteran()
    res = reconstruct_ipd(clicks.time_days, clicks.survival, table.time_days, table.n_at_risk,
                          total_events, return_result=True, warn=False)
    t, e = read_ipd(res)
    assert len(t) == 137
    if total_events:
        assert e.sum() == 128
    # known answer from survival::veteran; tolerance 0.03 absolute (human clicks, jitter)
    s = km_at(t, e, [30, 90, 180, 365])
    np.testing.assert_allclose(s, [0.700, 0.464, 0.222, 0.090], atol=0.03)
    # median 80 days within one click-step: the clicks around S = 0.5 are 3 to 8 days apart
    med = km_median(t, e)
    around = clicks.time_days[(clicks.survival > 0.45) & (clicks.survival < 0.55)]
    step = float(np.max(np.diff(np.sort(around)))) if len(around) > 1 else 10.0
    assert abs(med - 80) <= max(step, 1.0), (med, step)
    print(f"\nVeterans (D={total_events}): median {med:.1f}, S(30/90/180/365) "
          + "/".join(f"{x:.3f}" for x in s) + f", events {int(e.sum())}")


def _keynote_files():
    names = ["keynote189_os_pembrolizumab_clicks.csv", "keynote189_os_placebo_clicks.csv",
             "keynote189_os_risk_table.csv"]
    missing = [n for n in names if not (SHARED / n).exists()]
    if missing:
        pytest.skip(f"GPL test data not present: {SHARED / missing[0]}")
    return [SHARED / n for n in names]


def test_keynote189_overall_survival():
    pem, pbo, nar = _keynote_files()
    table = pd.read_csv(nar)
    out = {}
    for arm, path in (("pembrolizumab", pem), ("placebo", pbo)):
        clicks = pd.read_csv(path)
        tab = table[table.arm == arm]
        with pytest.warns(UserWarning, match="beyond the last point"):  # risk times 18, 21
            res = reconstruct_ipd(clicks.time_months, clicks.survival, tab.time_months,
                                  tab.n_at_risk, return_result=True)
        assert len(res.ipd) == tab.n_at_risk.iloc[0]
        out[arm] = read_ipd(res)
    hr = np.exp(cox_log_hr(*out["placebo"], *out["pembrolizumab"]))
    s12 = [float(km_at(*out[a], [12.0])[0]) for a in ("pembrolizumab", "placebo")]
    print(f"\nKEYNOTE-189 OS: HR {hr:.3f} (published 0.49), S(12) {s12[0]:.3f} / {s12[1]:.3f} "
          "(published 0.692 / 0.494)")
    assert abs(hr - 0.49) <= 0.03  # issue 4
    assert abs(s12[0] - 0.692) <= 0.02 and abs(s12[1] - 0.494) <= 0.02  # issue 4
    # the placebo median, 11.3 months in the full text
    assert abs(km_median(*out["placebo"]) - 11.3) <= 0.5


def test_keynote189_hr_with_lifelines_cox():
    """The same HR through the public km.cox_hr (lifelines, Efron ties)."""
    pem, pbo, nar = _keynote_files()
    from metaanalysis.survival.km import cox_hr

    table = pd.read_csv(nar)
    ipd = {}
    for arm, path in (("pembrolizumab", pem), ("placebo", pbo)):
        clicks = pd.read_csv(path)
        tab = table[table.arm == arm]
        ipd[arm] = reconstruct_ipd(clicks.time_months, clicks.survival, tab.time_months,
                                   tab.n_at_risk, warn=False)
    res = cox_hr(ipd["pembrolizumab"], ipd["placebo"])
    assert abs(res.hr - 0.49) <= 0.03
    assert res.ci_low < 0.49 < res.ci_high


def test_end_censored_just_after_the_last_click():
    # two arms followed to the same cut-off (week 52), 4 events at 52 in arm 0 and none in arm 1;
    # the end of arm 1 is clicked a little early (51.8). Censored at its end click, arm 1 would
    # leave the risk set before arm 0's events at 52.1 (its end click): those events would then
    # carry no comparison. Censored just after the end (end_slack), it stays, as in the truth
    t0 = np.r_[np.arange(2.0, 42.0, 2.0), np.full(4, 52.0), np.full(76, 52.0)]
    e0 = np.r_[np.ones(24), np.zeros(76)]
    t1 = np.r_[np.arange(3.0, 43.0, 4.0), np.full(90, 52.0)]
    e1 = np.r_[np.ones(10), np.zeros(90)]
    truth = cox_log_hr(t0, e0, t1, e1)
    rt = [0, 26]
    arms = {}
    for slack in (0.0, 0.01):
        recs = []
        for t, e, end in ((t0, e0, 52.1), (t1, e1, 51.8)):
            tau, surv, _, _ = km_steps(t, e)
            xs = np.r_[np.repeat(tau, 2), end]
            xs[xs == 52.0] = end  # the drop at the cut-off clicked at the end click's time
            ys = np.r_[np.column_stack([np.r_[1.0, surv[:-1]], surv]).ravel(), surv[-1]]
            ipd = reconstruct_ipd(xs, ys, rt, [100, int((t >= 26).sum())], interpolate=False,
                                  end_slack=slack)
            recs.append((ipd.time.to_numpy(), ipd.event.to_numpy().astype(float)))
            # the arm's own curve does not change with end_slack
            assert int(ipd.event.sum()) == int(e.sum())
        arms[slack] = recs
        if slack:
            assert np.allclose(recs[1][0][recs[1][1] == 0], 51.8 * 1.01)
    err = {k: abs(cox_log_hr(*r[0], *r[1]) - truth) for k, r in arms.items()}
    assert err[0.01] < 0.005 < err[0.0]
    for r0, r1 in zip(arms[0.0], arms[0.01]):
        np.testing.assert_array_equal(r0[0][r0[1] == 1], r1[0][r1[1] == 1])
    with pytest.raises(InputError, match="end_slack"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], None, 10, end_slack=0.5)
    with pytest.raises(InputError, match="end_slack"):
        reconstruct_ipd([0, 1, 2], [1, 0.9, 0.8], None, 10, end_slack="x")


def test_patients_the_table_counts_after_the_last_click_stay_at_risk_there():
    # the last click (9.5) falls before the table's last times (jitter, or a figure whose curve
    # ends before its axis): the table still says 3 patients are at risk at 10 and none at 15.
    # Censored all at 9.5 * 1.01, they broke both counts (0 at 10)
    t, s = [0, 2, 4, 6, 8, 9.5], [1, 0.9, 0.8, 0.7, 0.6, 0.55]
    rt, nr = [0, 5, 10, 15], [20, 14, 3, 0]
    with pytest.warns(UserWarning, match="beyond the last point"):
        res = reconstruct_ipd(t, s, rt, nr, return_result=True)
    ipd = res.ipd
    assert [(ipd.time >= r).sum() for r in rt] == nr
    late = ipd.time[ipd.time > 9.5]
    # the rest of those left at the end just after it (end_slack), the three at 10
    assert sorted(late.unique()) == [pytest.approx(9.595), 10.0] and (late == 10).sum() == 3
    assert not ipd.event[ipd.time > 9.5].any()
    assert any("3 patient(s) the risk table counts after the last point" in r for r in res.repairs)
    # a table that ends at 0 just after the last click: nobody is left at its time
    with pytest.warns(UserWarning):
        ipd = reconstruct_ipd(t, s, [0, 5, 9.52], [20, 14, 0])
    assert ipd.time.max() < 9.52 and (ipd.time >= 9.5).sum() > 0
    # more patients counted there than are left at the end: the table and the curve disagree,
    # and the end is left as before (censored just after the last click)
    with pytest.warns(UserWarning):
        ipd = reconstruct_ipd(t, s, [0, 5, 10], [20, 14, 13])
    assert np.allclose(ipd.time[ipd.time > 9.5], 9.5 * 1.01)


def test_a_tall_step_clicked_at_its_bottom_corner_stays_one_step():
    # 40 early deaths, then a plateau on which the number at risk falls from 42 to 18 by
    # censoring and one death at 85 (a step of 6 % of the axis). The plateau is clicked at 60, the
    # step only at its bottom corner: spread back over 60-85, where more were at risk, the drop
    # became two deaths (72.5 and 85; myeloid's late plateau had 5 for 1)
    time = np.r_[np.arange(1.0, 41.0), np.linspace(42, 96, 55), 85.0, np.full(4, 100.0)]
    event = np.r_[np.ones(40), np.zeros(55), 1, np.zeros(4)]
    tau, surv, _, end = km_steps(time, event)
    prev = np.r_[1.0, surv[:-1]]
    xs = np.r_[np.repeat(tau[:-1], 2), 60.0, tau[-1], end]
    ys = np.r_[np.column_stack([prev[:-1], surv[:-1]]).ravel(), surv[-2], surv[-1], surv[-1]]
    rt = np.array([0, 25, 50, 75, 95.0])
    nr = [int((time >= r).sum()) for r in rt]
    ipd = reconstruct_ipd(xs, ys, rt, nr)
    assert ipd.time[(ipd.time > 41) & (ipd.event == 1)].tolist() == [85.0]
    assert [int((ipd.time >= r).sum()) for r in rt] == nr
    # the same gap falling by four deaths' worth is a decline, not one step: still spread
    ys4 = ys.copy()
    ys4[-2:] = surv[-2] * (1 - 4 / 17.8)
    ipd4 = reconstruct_ipd(xs, ys4, rt, nr)
    late = ipd4.time[(ipd4.time > 41) & (ipd4.event == 1)]
    assert late.nunique() >= 3 and late.min() < 80
    # and a drop into the curve's last point has nothing after it to show a corner: spread
    ipd_end = reconstruct_ipd(xs[:-1], ys[:-1], rt[:-1], nr[:-1])
    assert (ipd_end.time[(ipd_end.time > 41) & (ipd_end.event == 1)] < 85).any()


def test_a_small_drop_into_the_last_point_is_read_as_the_ends_level():
    # the end's flat stretch clicked twice, 0.007 apart (about two pixels): read as a drop, it was
    # one more death at 52 in an interval whose count the table (falling to 0 by censoring) does
    # not pin down; rossi's arms gained about one event each there. These clicks show their
    # error elsewhere: two on the flat stretch at 24-26 rise by 0.006
    t = [0, 10, 20, 24, 26, 30, 40, 45, 52]
    s = [1, 0.9, 0.82, 0.814, 0.82, 0.77, 0.72, 0.712, 0.705]
    res = reconstruct_ipd(t, s, [0, 25, 50], [200, 160, 138], return_result=True)
    ipd = res.ipd
    assert not ((ipd.event == 1) & (ipd.time > 45)).any()
    assert any("read as one level (0.7085)" in r for r in res.repairs)
    assert res.points.km.iloc[-1] == pytest.approx(0.7085, abs=0.004)
    # a drop of 0.022 (five deaths at 140 at risk) is a drop
    res = reconstruct_ipd(t, s[:-1] + [0.69], [0, 25, 50], [200, 160, 138], return_result=True)
    assert ((res.ipd.event == 1) & (res.ipd.time > 45)).sum() >= 3
    assert not any("one level" in r for r in res.repairs)
    # precise clicks (none rises: a high-resolution figure, or a careful digitiser) keep every
    # drop, however small: a last death among few at risk is one
    precise = [1, 0.9, 0.82, 0.82, 0.82, 0.77, 0.72, 0.712, 0.705]
    res = reconstruct_ipd(t, precise, [0, 25, 50], [200, 160, 138], return_result=True)
    assert ((res.ipd.event == 1) & (res.ipd.time > 45)).any()
    assert not any("one level" in r for r in res.repairs)


def test_a_fall_to_zero_past_the_table_says_its_count_rests_on_the_model():
    # the table stops at 18 with 35 at risk; the curve falls to 0 at 38.2. Everyone still at
    # risk then has the event, and the table no longer says how many that is. The censoring
    # model of the tabled intervals alone kept 32 at risk: 39 events where a simulated arm of
    # this shape had 15 (a round trip off by 0.69 in log HR). Read as one step, with as many
    # censorings as the clicks before it allow, the fall is one death
    t, s = [0, 5, 10, 20, 30, 38, 38.2], [1, 0.9, 0.8, 0.75, 0.7, 0.7, 0]
    with pytest.warns(UserWarning, match=r"falls to 0 after the risk table's last time \(18\)"):
        res = reconstruct_ipd(t, s, [0, 6, 12, 18], [62, 50, 41, 35], return_result=True)
    assert 13 <= res.events <= 18
    ev = res.ipd.time[res.ipd.event == 1]
    assert (ev == 38.2).sum() == 1 and ev.max() == 38.2
    assert res.points.km.iloc[-1] == 0
    # the reconstructed curve keeps to the clicks before the fall
    before = res.points[res.points.time < 38.2]
    assert np.max(np.abs(before.km - before.survival)) <= 0.03
    assert any("more censorings" in r for r in res.repairs)
    # the total pins it down, and a table that runs on covers the fall: no such warning
    for table, total in ((([0, 6, 12, 18], [62, 50, 41, 35]), 15),
                         (([0, 6, 12, 18, 24, 30, 36], [62, 50, 41, 35, 20, 10, 2]), None)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = reconstruct_ipd(t, s, *table, total, return_result=True)
        assert not any("falls to" in r for r in res.repairs)


def test_a_fall_to_zero_after_a_table_that_lists_no_one_later_is_one_death():
    # 20 patients, 4 deaths at each of 5, 10, 15 and 20; of the 4 left, 3 are censored at 24.4,
    # 24.7 and 25.0 and the last dies at 25.2. The table's next time after the curve (28) lists no
    # one, which does not say how many were at risk at the fall; the top corner of the fall was
    # not clicked. Spread over the gap before it, the fall was 4 deaths (20 events)
    t = [0, 5, 5, 10, 10, 15, 15, 20, 20, 22, 25.2]
    s = [1, 1, 0.8, 0.8, 0.6, 0.6, 0.4, 0.4, 0.2, 0.2, 0.0]
    with pytest.warns(UserWarning, match=r"falls to 0 after the risk table's last time \(24\)"):
        res = reconstruct_ipd(t, s, [0, 10, 20, 24, 28], [20, 16, 8, 4, 0], return_result=True)
    ev = res.ipd.time[res.ipd.event == 1]
    assert res.events == 17 and (ev == 25.2).sum() == 1
    cens = np.sort(res.ipd.time[res.ipd.event == 0].to_numpy())
    assert len(cens) == 3 and np.all((cens > 24) & (cens < 25.2))
    # with the total the censoring is searched to meet it, as before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert reconstruct_ipd(t, s, [0, 10, 20, 24, 28], [20, 16, 8, 4, 0], 17,
                               return_result=True).events == 17


def test_the_tail_keeps_the_patients_its_last_drops_need():
    # the follow-up model ends before the curve: the tail censored both patients left at time 5
    # and a curve that falls to 0 stayed at 0.57, without a word
    res = reconstruct_ipd([0, 2, 4, 9, 9.5], [1, 0.8, 0.6, 0.6, 0.0], [0, 5], [10, 2],
                          return_result=True)
    last = res.points.iloc[-1]
    assert last.survival == 0 and last.km == 0 and res.ipd.time.max() == 9.5
    assert any("fewer censorings" in r for r in res.repairs)
    # a tail the model fits is left alone: no such repair on a curve that ends on a plateau (40 %
    # never have the event)
    from metaanalysis.survival import simulate_digitisation

    rng = np.random.default_rng(3)
    t, c = rng.exponential(5, 300), rng.uniform(0, 30, 300)
    t[rng.uniform(size=300) < 0.4] = np.inf
    curve = simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table's last time, 30, is past the last click
        rec = curve.reconstruct()
    assert not any("fewer censorings" in r for r in rec.repairs)


def test_a_total_the_curve_cannot_carry_keeps_the_numbers_at_risk():
    # 8 deaths claimed where the curve shows about 1.5: once the intervals with drops were full,
    # the last resort moved the latest censorings to the last event time (45), and the table's
    # 4 at risk at 100 and 130 became 0. The rest of the gap now goes where the table leaves room
    t = [7, 8, 23, 45, 67, 90, 110, 131]
    s = [0.97, 0.96, 0.96, 0.92, 0.90, 0.88, 0.86, 0.85]
    rt, nr = [0, 10, 100, 130], [10, 8, 4, 4]
    with pytest.warns(UserWarning, match="total_events = 8"):
        res = reconstruct_ipd(t, s, rt, nr, 8, return_result=True)
    assert res.events == 8
    assert [int((res.ipd.time >= x).sum()) for x in rt] == nr
    assert not any("latest censoring(s) turned into events at time" in r for r in res.repairs)


def test_bisect_finds_the_step_of_a_monotone_count_search_and_keeps_its_budget():
    # the one search behind the tail's four censoring counts (the cap, the fall, and the total's
    # two directions): its call count is what Reconstruction.iterations reports
    from metaanalysis.survival.reconstruct import _bisect

    calls = []

    def ok(c):
        calls.append(c)
        return c <= 37

    assert _bisect(ok, 0, 100) == (37, 38, len(calls))
    assert len(calls) == 6 and 0 not in calls and 100 not in calls  # the ends are not asked
    # a budget stops it early with the interval it had narrowed to; none when the ends touch
    lo, hi, n = _bisect(lambda c: c <= 37, 0, 100, budget=2)
    assert n == 2 and (lo, hi) == (25, 50)
    assert _bisect(lambda c: True, 4, 5) == (4, 5, 0)
    assert _bisect(lambda c: True, 0, 100, budget=0) == (0, 100, 0)
    # the same answer as a linear scan for every step position
    for step in range(0, 31):
        assert _bisect(lambda c, s=step: c <= s, 0, 31)[:2] == (step, step + 1)


def _dhondt_one_by_one(total, weight, cap):
    # the definition: one unit at a time to the largest weight / (alloc + 1) below its cap, from
    # none (the module's own rule, which _dhondt finishes with; the head start is what is tested)
    from metaanalysis.survival.reconstruct import _dhondt_units

    return _dhondt_units(total, weight, cap)


def test_dhondt_units_is_the_highest_averages_rule():
    # the rule the bulk allocation is checked against, by hand: weights 3, 2, 1, a cap of 1 on
    # the third; quotients 3, 2, 1.5, then 1 three times (3/3, 2/2, 1/1), then 0.75 (3/4) before
    # 0.67 (2/3). A zero weight takes nothing; the count goes on from a given start, a tie to the
    # first
    from metaanalysis.survival.reconstruct import _dhondt_units

    assert _dhondt_units(7, [3.0, 2.0, 1.0], np.array([10, 10, 1])).tolist() == [4, 2, 1]
    assert _dhondt_units(6, [3.0, 2.0, 1.0], np.array([10, 10, 1])).tolist() == [3, 2, 1]
    assert _dhondt_units(5, [0.0, 1.0], np.array([9, 2])).tolist() == [0, 2]
    start = np.array([2, 0], np.int64)
    assert _dhondt_units(1, [3.0, 1.0], np.array([9, 9]), start).tolist() == [3, 0]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(st.integers(0, 6).map(float),
                                 st.floats(0, 50, allow_nan=False)),
                       st.integers(0, 80)), min_size=1, max_size=8),
    st.integers(0, 400),
)
def test_dhondt_gives_what_placing_one_unit_at_a_time_gives(shares, total):
    # whole weights make ties between quotients (3/1 = 6/2), zero weights and caps of 0 take
    # nothing; the threshold that gives most units at once must not change a single one
    from metaanalysis.survival.reconstruct import _dhondt

    weight = np.array([w for w, _ in shares])
    cap = np.array([c for _, c in shares], np.int64)
    got = _dhondt(total, weight, cap)
    assert got.tolist() == _dhondt_one_by_one(total, weight, cap).tolist()
    assert got.sum() == min(total, cap[weight > 0].sum())


def test_dhondt_with_a_total_of_tens_of_thousands():
    from metaanalysis.survival.reconstruct import _dhondt

    weight = np.array([0.3, 1e-6, 2.0, 2.0, 0.0, 7.5])
    cap = np.array([40_000, 5, 10_000, 30_000, 9, 3_000])
    got = _dhondt(25_000, weight, cap)
    assert got.tolist() == _dhondt_one_by_one(25_000, weight, cap).tolist()
    assert got[5] == 3_000 and got[4] == 0 and got.sum() == 25_000


@pytest.mark.parametrize("weight", [[5e-324, 1.0, 0.0], [5e-324, 5e-324], [1e-310, 2e-310, 3.0],
                                    [1e-320, 1e-300, 1e308, 1.7e308]])
def test_dhondt_at_the_ends_of_the_floating_point_range(weight):
    # a weight so small that its second quotient rounds to 0 gets one unit one by one, never its
    # cap; quotients of the largest weights stay finite
    from metaanalysis.survival.reconstruct import _dhondt

    w, cap = np.array(weight), np.full(len(weight), 80)
    for total in (10, 100, 400, 1000):
        assert _dhondt(total, w, cap).tolist() == _dhondt_one_by_one(total, w, cap).tolist()


@pytest.mark.parametrize("name", ["veteran_os_test", "veteran_os_standard", "veteran_overall"])
@pytest.mark.parametrize("use_total", [False, True])
def test_the_interval_table_adds_up(name, use_total):
    # each row starts with the patients the previous row ends with, and the rows' events are
    # the result's: an event moved to a table time (veteran_os_test's at day 200) is at risk
    # there and counted in the interval that starts there (it was in neither)
    import warnings as _w

    from metaanalysis.survival.curves import read_curve

    c = read_curve(Path(__file__).resolve().parents[1] / "data" / "curves" / f"{name}.clicks.csv")
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        r = reconstruct_ipd(c.t, c.s, c.risk_times, c.n_risk, return_result=True,
                            total_events=c.total_events if use_total else None)
    iv = r.intervals
    assert int(iv["events"].sum()) == r.events
    assert list(iv["n_start"].iloc[1:]) == list(iv["n_end"].iloc[:-1])
    assert list(iv["n_end"]) == list(iv["n_start"] - iv["events"] - iv["censored"])
    # a total given and not met is said, not only listed among the repairs
    if use_total and r.events != c.total_events:
        assert any(f"total_events = {c.total_events}" in str(w.message) for w in caught)
