"""Accuracy of reconstruct_ipd in round trips (issue 15): the goals on a seeded set.

Round trips take two arms of known patient data, click their Kaplan-Meier curves as a person does
(``simulate_digitisation``), write their risk tables, reconstruct both arms and compare the
two-arm Cox log hazard ratio with the truth's. The settings and the harness are those of
``benchmarks/bench_reconstruct_accuracy.py`` (which runs more replicates and prints the table of
p50 / p90 / max); here fewer replicates keep the file under about 30 s.

The "real-shaped" curves are two-arm splits of public patient-level data (R's survival package,
exported by ``tests/data/ipd/export.R``; lifelines' data sets) digitised with realistic error:
jitter of 0.5 % of each axis, clicks on the pixels of a 500 x 350 figure, 40-160 uneven clicks.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.survival import reconstruct_ipd
from metaanalysis.survival.digitise import (
    RoundTrip,
    cox_log_hr,
    km_median,
    km_rmst,
    km_steps,
    round_trip,
    simulate_digitisation,
)

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "bench_reconstruct_accuracy", ROOT / "benchmarks" / "bench_reconstruct_accuracy.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# issue 15's goals
SIM_P90_GOAL = 0.06  # simulated round trips, with and without total events
REAL_P90_GOAL = 0.025  # real-shaped curves (not reached yet: see test_real_shaped_p90_goal)
REAL_MAX_GOAL = 0.10  # real-shaped curves: no case worse
# what the current algorithm reaches on the real-shaped set below (300 round trips: p90 0.0261
# without (0.0264 before a tall step clicked at its bottom corner stayed one step, 0.027 before
# the tail kept the patients its last drops need) and 0.022 with total events (0.021 before
# stepped curves kept their own count);
# 0.028 / 0.024 before the patients left at the end were
# censored just after the last click (end_slack), 0.033 / 0.031 before the repair of
# out-of-order clicks was changed, 0.19 before issue 15). Perfectly clicked curves (every corner, no jitter) give
# p90 0.010 (max 0.019, pbc); sparse uneven clicks without jitter 0.022; with the pixels 0.025;
# with the time and survival jitter 0.028. The rest of the gap to 0.025 is the digitisation.
REAL_P90_REACHED = 0.03
# total events must not make the fit worse: p90 with them at most this much above p90 without
# (the two p90s are over the same round trips; 0.003 is the spread of a p90 between seeds)
NEVER_WORSE_SLACK = 0.003

N_SIM = 150  # simulated pairs (the pairs of tests/test_reconstruct.py)
N_REAL = 30  # digitisations per real data set (10 data sets); 5 fit the goal by luck
N_PFS = 40  # simulated PFS pairs with scheduled scans


def _p90(x):
    return float(np.percentile(np.asarray(x, float), 90))


@pytest.fixture(scope="module")
def errors():
    """|d log HR| per setting and use of total events, computed once for the module."""
    out = {}
    for use_d in (False, True):
        out["simulated", use_d] = bench.measure(bench.simulated_pairs(N_SIM), use_d)[0]
        out["real", use_d] = bench.measure(bench.real_cases(N_REAL), use_d)[0]
        out["pfs", use_d] = bench.measure(bench.realistic(bench.pfs_pairs(N_PFS)), use_d)[0]
    for (name, use_d), e in out.items():
        print(f"\n{name:10s} total events {'yes' if use_d else 'no ':3s}: p50 "
              f"{np.percentile(e, 50):.4f} p90 {_p90(e):.4f} max {np.max(e):.4f} ({len(e)} pairs)")
    return out


def test_whole_grid_is_present(errors):
    # a setting or replicate cannot silently drop out
    assert len(errors["simulated", False]) == len(errors["simulated", True]) == N_SIM
    assert len(errors["real", False]) == len(errors["real", True]) == 10 * N_REAL
    assert len(errors["pfs", False]) == len(errors["pfs", True]) == N_PFS
    names = [name for name, _, _ in bench.real_datasets()]
    assert len(names) == len(set(names)) == 10


def test_realistic_clicks_err_as_careful_people_do():
    # The goals are judged at "realistic" digitisation error. Read as a step function, the
    # realistic clicks must miss the true curve by about what trained researchers' manual
    # digitisation did in the SurvdigitizeR study (RMSE 0.014 at 100 times; see the benchmark's
    # docstring): a gentler harness would make the goals easy, a harsher one unreachable.
    realistic = bench.digitisation_rmse(10)
    assert len(realistic) == 10 * 10 * 2
    assert 0.011 <= realistic.mean() <= 0.020, realistic.mean()
    # without the jitter what is left is the sparsity of the clicks: clearly less
    assert bench.digitisation_rmse(10, digitise=bench.NO_JITTER).mean() < 0.6 * realistic.mean()


@pytest.mark.parametrize("use_d", [False, True], ids=["without-D", "with-D"])
def test_simulated_p90_goal(errors, use_d):
    e = errors["simulated", use_d]
    assert _p90(e) <= SIM_P90_GOAL, f"p90 |d log HR| {_p90(e):.4f}"


@pytest.mark.parametrize("use_d", [False, True], ids=["without-D", "with-D"])
def test_real_shaped_no_case_worse_than_goal(errors, use_d):
    e = errors["real", use_d]
    assert np.max(e) <= REAL_MAX_GOAL, f"max |d log HR| {np.max(e):.4f}"
    assert _p90(e) <= REAL_P90_REACHED, f"p90 |d log HR| {_p90(e):.4f}"


# Why 0.025 is not reached without total events (measured on the 300 round trips above): 35 of
# 300 are above it and p90 <= 0.025 needs at most 30. The p90 of 300 round trips moves with the
# seeds of the clicks (the benchmark prints a bootstrap interval, and takes --seed): 0.0261
# (95% 0.0228-0.0310) without the total, 0.0223 (0.0198-0.0241) with it; seeds 500, 1000, 2000
# and 3000: 0.0272, 0.0329, 0.0268, 0.0287 without and 0.0242, 0.0223, 0.0210, 0.0226 with it.
# Over all 1,500: 0.0278 (192 above 0.025, at most 150 allowed) and 0.0224 (109). Without any
# jitter the 1,500 reach 0.0214 (105 above), on the pixels 0.0226 (115): the rest is the clicks'
# error. Rossi's is all survival jitter (without it its sd of d log HR is 0.002, with it 0.024):
# its table falls only by events until the cut-off, so every interval's count is exact but the
# last, whose events rest on the single end click (one event's height at 170 at risk is about
# the jitter). Myeloid's first arm keeps +1.9 events in its first 280 days even without jitter:
# 14 of its first interval's 22 censorings fall in the first 30 days and are spread evenly.
# Before this session's rules (below): 0.0264 / 0.0217 on these seeds; 1,500: 0.0304 (241) and
# 0.0239 (134). Rossi gives 9 of them (13 before
# end_slack); without jitter its p90 is 0.004: its curves end on a drop at the administrative
# cut-off and the end click's time jitter (0.26 weeks) let one arm's last events fall after the
# other arm had left. Censoring those left at the end 1 % of the time range after the last click
# (end_slack) keeps the arms overlapping there: rossi p90 0.048 -> 0.035 without the total,
# 0.031 -> 0.019 with it (0.5 %: 0.026 with it; 2 %: as 1 %). What is left in rossi is the
# survival jitter (about one event's height, 0.005) read at each table time: where the curve is
# read too high the table's decrement becomes censorings, where too low the events are capped. Myeloid (7) loses on plateaus: a single late step clicked only at its bottom is
# spread over the long gap before it, where more patients are at risk (2 to 6 events instead of
# 1); reading the step's size with the number at risk at the later click fixes myeloid (p90
# 0.031 -> 0.024) but makes steep, sparsely clicked drops worse (colon, rotterdam, veteran; all
# real-shaped: 0.028 -> 0.032-0.034). Spreading by the neighbouring slopes instead of evenly:
# 0.034; averaging clicks closer than 1.5-5 events' heights: 0.028-0.030; choosing the share of a
# drop that falls before the table time it crosses by the censorings of a uniform follow-up
# model: 0.031-0.034 (the model is too rough for single intervals). Time and survival jitter
# contribute about equally (0.0265 and 0.0275 alone; 0.0254 with neither, on the pixels).
# Tried in the second attempt (all with end_slack; real-shaped p90 without / with the total,
# then PFS's): events a table time cannot hold taken back from the previous interval's
# censorings (capped at 1, 2, 3 or all): 0.0275 / 0.0210-0.0214, PFS 0.021-0.022 / 0.032;
# the click time jitter estimated from the clicks jittered past each other (median gap / 0.954:
# it comes out at about one pixel, 0.0023 of the axis, half the true 0.005) and the clicks
# within 2-4 of it of each other put at one time (mean, or the first): 0.0272-0.0325 /
# 0.0220-0.0256, PFS D 0.031-0.034; the grid below which a drop stays vertical at 0.6-1.5 %
# instead of 0.4 %: 0.0257-0.0270 / 0.0218-0.0246 (no trend: the spread of seeds), PFS D
# 0.030-0.035; no spreading of the last gap (myeloid's last step at the end): 0.0285 / 0.0226;
# the number at risk in the tail (after the last table time) taken down linearly to the end
# when sizing a drop to spread: real-shaped unchanged, simulated 0.040 -> 0.032 without the
# total but 0.028 -> 0.029 with it; the follow-up end of the tail model capped at the curve's end
# when the table reaches 0 after it: 0.026-0.033 / 0.021-0.023 (rossi, veteran worse); each
# interval's censorings replaced by the follow-up model's where the two differ by less than 1-2
# standard deviations of the curve's survival noise: 0.031-0.034 / 0.024-0.025; no spreading of
# a drop that is one event at the later click's number at risk after a flat gap: 0.028-0.030 /
# 0.023-0.024 (PFS with the total 0.028-0.029: better); a steep drop's events blurred over
# 0.25-0.5 % of the axis around their click (so two arms' drops at one time interleave): 0.026
# -0.027 / 0.022; the clicks of a run jittered past each other put at one time (their median,
# mean or midrange): 0.027 / 0.022; excess events a table time cannot hold dropped instead of
# moved to it: 0.027 / 0.021. Where survival jitter alone is at work (rossi: one event's height
# per click) no rule on the clicks of one arm recovers the count.
# Fourth attempt: oracles, to find which lost information the gap is made of (the same 300 uneven
# clicks without jitter, where the reconstruction reaches 0.0227 without the total). The true
# patient data with each gap's true events moved to an even spread over the gap between its two
# clicks (what sparse clicks lose about timing, counts kept): 0.0087. The reconstruction with
# every interval's censorings put at the quantiles of that interval's true censoring times instead
# of evenly: 0.0243 without the total (evenly 0.0227), 0.0096 with it (evenly 0.0186). So without
# the total neither the timing of events within gaps nor where the censorings fall is the gap: it
# is the number of events hidden in long gaps between clicks (myeloid: 2 true events read as 5
# over a plateau where the table falls from 125 to 13), which the clicks do not carry and the
# total does. On the realistic clicks: censorings within an interval at the quantiles of x**a
# instead of evenly (a = 0.7, 1.5, 2): 0.029-0.031 without / 0.029-0.034 with the total (even is
# best); a gap whose drop holds more than 3-6 times the curve's median events per gap and spans
# more than 5-20 median gaps kept as one step at its later click: 0.026-0.034 / 0.023-0.024, worst
# case 0.12-0.13.
# Fifth attempt (signed errors per data set, seeds 0 and 500): myeloid's error is a bias, not
# noise (mean d log HR +0.018 / +0.026, sd 0.011-0.013), and it is there without any jitter
# (+0.018): arm 1 gets 2.8 events too many after day 1400 (true: 2, at 1621 and 2283), where the
# table falls from 167 to 1 almost only by censoring and the big single step at 2283 is spread
# back over the flat before it; arm 0 gets 2 too many in its first 400 days, where a tenth of its
# censorings fall before day 34 but are spread evenly. Rossi's is noise (mean +0.003, sd 0.024):
# about one event per arm ((1/48**2 + 1/66**2)**0.5 = 0.026); with survival jitter alone its
# intervals before the last lose 1.0 event per arm on average and the last one (the table falls
# to 0 at the cut-off) gains 1.3. Tried (without / with the total, seeds 0; seeds 500 after ";"):
# the last of a spread drop's steps one event high at the later click's number at risk (0.5, 1 or
# 2 events), the rest spread: 0.0285-0.0303 / 0.0210-0.0243; 0.0295-0.0311 / 0.025-0.026; a drop
# that is at most 1.5 or 2.5 events at the later click's table number kept as one step, always or
# only where the table falls by more than 20-50 % across the gap: 0.029-0.032 / 0.024; 0.030-0.033
# / 0.025-0.026 (at most 1.6-2 events over a gap longer than 10-15 % of the axis: 0.031-0.032 /
# 0.024; 0.031 / 0.026), and on the clicks without jitter it makes colon (p90 0.018 -> 0.025) and
# rotterdam (0.014 -> 0.028) worse and leaves myeloid's p90 at 0.034; an interval needing 1-3
# censorings while none had been tabled before it given none (the events at its largest drop):
# 0.0272-0.0347 / 0.0217-0.0279; 0.0315-0.0386 / 0.0274-0.0320; a spread drop's steps put only
# over the last half or three quarters of its gap, or at the quantiles of x**0.7 or x**1.5 of it:
# 0.028-0.034 / 0.022-0.023; 0.031-0.034 / 0.026-0.028. Even spreading stays the best of these.
# Sixth (found by an audit, not aimed at the goal): where the follow-up model ends before the
# curve, the tail censored every patient and a curve falling to 0 stayed up. Capping the tail's
# censoring so the curve reaches its last click within 0.04 (0.005-0.04 tried): real-shaped
# 0.0272 -> 0.0264 without the total (seeds 500: 0.0306 -> 0.0306), with it unchanged (0.0217,
# 0.0249); simulated without the total 0.0396 -> 0.0294. 36 of 300 still above 0.025. The same
# cap on the censoring that makes the events add up to the total (the rest of the gap then closed
# within the intervals) keeps the tail on the clicks but makes the hazard ratio worse: simulated
# with the total 0.0280 -> 0.0360 (seeds 3000: 0.0244 -> 0.0389), real-shaped unchanged.
# Seventh (1,500 real-shaped round trips, seeds 0-3000; p90 without / with the total): a tall step
# clicked only at its bottom corner after a flat stretch (at most 2.5 events at the later click's
# number at risk, one event at least 3 % of the axis, the curve flat after it) kept as one step
# instead of spread back over the gap: myeloid's late plateau had a single death at 10 at risk
# read as 5 (0.0304 / 0.0239 -> 0.0280 / 0.0226; heights 1-5 % and 1.5-3 events alike; without
# "flat after it" a sparsely clicked final decline was kept at the end click, max 0.121); a drop
# of at most 0.01 into the last point pooled with it (the end's level clicked twice), only where
# the clicks rise elsewhere by at least half of it, so that precise clicks keep a last death:
# 0.0278 / 0.0224 (0.005-0.015 alike; the previous click's level instead of the mean 0.0279).
# Not kept: every censoring of the tabled intervals turned into events when they total at most
# 1-5 (rossi has none before its cut-off): 0.0254-0.0355 on seeds 0 (veteran worse); a drop into
# a point at 0 never spread: simulated 0.0370 -> 0.0336 without the total but single pairs 0.04
# -> 0.17 (a gradual final decline clicked only at its end).
# Eighth (1,500 real-shaped round trips; without / with the total): the survival of clicks on a
# fine staircase (one event's height below twice the clicks' median rise) replaced by a local
# linear fit over 1-3 neighbours on each side: 0.0281-0.0289 / 0.0216-0.0228; the end's level by
# a linear fit of the last 4-10 clicks: 0.0278-0.0280; each interval's censorings placed by a
# linear density running between its neighbours' rates instead of evenly: 0.0281-0.0282 (without
# jitter kidney's pairs above 0.025 7 -> 21, lung's 18 -> 13); a drop between clicks closer than
# one or two grid steps put at their midpoint (with time jitter the later click of a vertical
# pair is the drop's time, on average late): 0.0280-0.0283; events a table time cannot hold
# taken back from the previous interval's censorings (1, 2 or all): 0.0283-0.0284. Oracles: the
# end click's survival exact 0.0265 (174 above 0.025); no survival jitter (time jitter kept)
# 0.0246 (145); no time jitter 0.0267 (178). Even an exact end leaves more than 150 above: what is
# missing is the survival jitter of the single clicks that fix each interval's count.
# Ninth (1,500 real-shaped round trips; without / with the total): Guyot's rounding of each
# click's events at 0.4, 0.6 or 0.7 instead of 0.5: 0.0291 / 0.0233, 0.0273 / 0.0227, 0.0273 /
# 0.0237 (216, 190, 186 above 0.025 without it); the total's missing events placed within an
# interval by the drops alone, by the drops after the censorings taken out, or at its later or
# earlier drops instead of by the hazard there: veteran with the total 44 -> 45-52 of 150 above
# 0.025; every censoring at one power (0.25-4) of its even position within its interval, the power
# chosen so that the curve's own events equal the total (the total read as a censoring timing):
# 0.0232-0.0247 with the total; censorings placed in proportion to the number at risk (a constant
# censoring hazard within the interval, the table's numbers at its ends): 0.0292 / 0.0282. Oracles: each interval's censorings at the quantiles of its true
# censoring times: 0.0289 (205 above) without the total, 0.0186 (74) with it, so without the total
# where the censorings fall is not what is missing. Rossi's floor: its table lists no one after the
# cut-off, so its last interval's events rest on the end's level alone; the true data with only
# that count read off the clicks at the end's level, jittered as here, has 53 of 150 round trips
# above 0.025 from one click there, 29 from two and 13 from four (the reconstruction: 41). At the
# digitiser's default jitter (0.003 in both axes, a pixel of a 300-pixel axis) the goal holds:
# 0.0238 (137 above) without the total, 0.0197 with it.
@pytest.mark.xfail(strict=True, reason="issue 15's p90 goal of 0.025 on real-shaped curves is "
                   "not reached without total events (0.0261 over 300 round trips, 0.0223 with "
                   "them; see REAL_P90_REACHED and the comment above)")
def test_real_shaped_p90_goal(errors):
    assert max(_p90(errors["real", False]), _p90(errors["real", True])) <= REAL_P90_GOAL


def test_a_small_arm_falling_to_zero_after_its_table_is_not_a_mass_death():
    # the worst of 1,500 simulated round trips without the total: the second arm has 62
    # patients, its table stops at 18 with 35 at risk, most of them are censored soon after and
    # the last one dies at 38, so the curve falls to 0 in one step. The tail's censoring model,
    # fitted to the tabled intervals, kept 32 at risk for that fall: 35 events instead of 15, the
    # log hazard ratio off by 0.70
    rng, arms, kw = next(bench.simulated_pairs(1, first_seed=1611))
    r = round_trip(arms, use_total_events=False, seed=rng, **kw)
    assert r.events[1] == 15
    assert abs(r.events_reconstructed[1] - r.events[1]) <= 3
    assert r.abs_dlog_hr < 0.1


def test_p90_bootstrap_interval_of_the_benchmark():
    # the interval the benchmark prints beside the real-shaped p90: it resamples within each data
    # set, so a data set whose errors are all equal adds no spread, and it brackets the p90
    rng = np.random.default_rng(3)
    e = np.r_[rng.exponential(0.01, 30), rng.exponential(0.02, 30)]
    lo, hi = bench.p90_interval(e, groups=2, n_boot=500)
    assert lo < np.percentile(e, 90) < hi
    assert bench.p90_interval(np.full(60, 0.02), groups=2, n_boot=50) == (0.02, 0.02)
    # the same seed gives the same interval; more round trips a narrower one
    assert bench.p90_interval(e, groups=2, n_boot=500) == (lo, hi)
    wide = np.r_[rng.exponential(0.01, 300), rng.exponential(0.02, 300)]
    lo2, hi2 = bench.p90_interval(wide, groups=2, n_boot=500)
    assert hi2 - lo2 < hi - lo


@pytest.mark.parametrize("setting", [
    "simulated",
    "real",
    # PFS-shaped curves: the time jitter of the clicks on a scan's steep drop leaves the drop's
    # last clicks too high, and the rest of the drop is spread over the flat stretch after it,
    # often past the next table time: events move into the next interval and the censorings
    # the table then needs into this one. Without the total these errors largely cancel in the
    # hazard ratio; the total fixes the count but not the timing, so the cancellation goes.
    # Fixed in the third attempt: a curve with more than half of its decline between clicks
    # closer than 0.5 % of the time range (vertical drops), whose clicks show time jitter (a
    # drop's clicks out of order), keeps the count its clicks imply when the tail leaves a gap
    # of at most max(2, 5 % of the total) (the reconstruction then has fewer or more events
    # than the total, and its repairs say so). p90 with the total, 40 pairs: 0.031 -> 0.017
    # (without it 0.023); real-shaped 0.0212 -> 0.0217, simulated 0.028 both. Fresh seeds
    # (simulated 3000+, real-shaped digitisations 500+, 150 PFS pairs 9000+): 0.0248 -> 0.0244,
    # 0.0249 -> 0.0249, 0.0310 -> 0.0292 (without the total 0.041, 0.031, 0.029). Without the
    # time-jitter condition: real-shaped 0.0214 (the shipped veteran clicks, no drop out of
    # order, then kept 126 of 128 events); with at least 2 or 3 drops out of order: 0.0227,
    # 0.0214 (the spread of the p90: which arms of a pair are stepped). The vertical share is
    # not a PFS detector: 68 % of veteran's arms count as stepped (dense clicks on single-event
    # steps; p90 there 0.049 -> 0.039), 73 % of myeloid's (0.021 -> 0.028), 82 % of colon's
    # recurrence (0.018 -> 0.021).
    # Measured (40 / 150 pairs, p90 with total): using the total only for the tail, as Guyot
    # did, 0.019 / 0.027 (better than without it, 0.023 / 0.029) but then the events do not
    # add up and real-shaped curves lose what the total gives them (0.024 -> 0.0275); weighting
    # the missing events by the drops, the censorings or both: 0.028-0.039 / 0.031-0.035;
    # turning censorings into events at their own times: 0.035 / 0.034; by the censorings
    # above a uniform follow-up model: 0.037 / 0.035. Without time jitter the total does not
    # hurt (150 pairs: 0.0236 -> 0.0244 on the pixels; 0.0266 -> 0.0239 with survival jitter).
    # Second attempt: placing the gap in the tail first and only the rest within the intervals
    # (always, or only when every interval met its table): 0.035 (real-shaped with the total
    # 0.021 -> 0.026); inside an interval at its last drop, its first, its largest, by the drops
    # or by the hazard alone: 0.033-0.036; moving the clicks of a steep drop within 2 % after a
    # table time before it (re-running the fit) when that evens out the two intervals'
    # censorings: 0.029 (0.032 -> 0.030 over 150 pairs, but without the total 0.027 -> 0.028
    # there), also the other way: 0.029 and real-shaped 0.021 -> 0.024 with the total. The
    # mechanism is two-arm: both arms drop at the same scan times, and the time jitter of each
    # arm's clicks decides which arm's events come first at each scan.
    # Third attempt: choosing per arm between the placement within the intervals (W) and the
    # tail only (T, the rest of the gap left open). Real-shaped / PFS p90 with the total (40
    # pairs; PFS over 150 in brackets): always W 0.0212 / 0.031 (0.032), always T 0.0263 / 0.019
    # (0.026); the best of the four choices per pair (chosen with the truth) 0.012 / 0.011, so
    # the choice matters, but a per-arm rule has to choose alike for the two arms of a pair or
    # the cancellation goes. The arm whose Kaplan-Meier curve is closer to the clicks (mean
    # distance): T nearly always (W moves the curve off the clicks by construction), and with
    # a margin of 0.0005-0.003 0.0201-0.0256 / 0.018-0.028, no margin good for both; the sup
    # distance: 0.026-0.029 / 0.027-0.029; the mean signed distance closer to 0 by 0-0.003:
    # 0.0216-0.0252 / 0.019-0.024 (0.027-0.030); T when the gap is positive: 0.0234 / 0.020,
    # negative: 0.0246 / 0.025, at most 1-4 events: 0.026 / 0.023-0.029, at least 2-4:
    # 0.026-0.028 / 0.024-0.027, above 0.5-3 % of the patients: 0.0205-0.0258 / 0.019-0.031;
    # T when the top 10 % of 100 time bins hold more than 40-55 % of the decline: 0.0202-0.0234
    # / 0.018-0.027. The vertical share (the rule kept; here without the cap on the gap and the
    # time-jitter condition), with drops closer than 0.4 % (the grid of _spread_drops) and a
    # share above 0.4-0.55: 0.0214-0.0227 / 0.018-0.027; only drops of more than 2, 3 or 5
    # events counted (so that dense clicks on single events are not steps), share above
    # 0.3-0.6, gap capped at 5 %: 0.0210-0.0241 / 0.018-0.031, none good for both; closer than
    # 0.5 %, 0.4-0.55: 0.0210-0.0214 / 0.017-0.019 (0.025-0.028); capping the gap kept at
    # max(2, 3 % / 5 % / 8 % of the total) or not at all: 0.0214 / 0.0214 / 0.0211 / 0.0211 real,
    # 0.021 / 0.017 / 0.017 / 0.017 PFS, 0.028 / 0.029 / 0.025 / 0.025 on the fresh PFS seeds (5 %
    # is the bound above which a gap is warned about as more than the digitisation's error).
    "pfs",
])
def test_total_events_never_make_it_worse(errors, setting):
    without, with_d = errors[setting, False], errors[setting, True]
    assert _p90(with_d) <= _p90(without) + NEVER_WORSE_SLACK, (_p90(without), _p90(with_d))


# ---------------------------------------------------------------------------------------------------
# the mechanism: where missing events go


def _clicked(time, event):
    """Both corners of every drop of the true KM curve, and the end."""
    tau, surv, _, end = km_steps(time, event)
    prev = np.r_[1.0, surv[:-1]]
    return np.r_[np.repeat(tau, 2), end], np.r_[np.column_stack([prev, surv]).ravel(), surv[-1]]


def test_missing_events_are_not_piled_at_the_last_event_time():
    # a steep drop just before the first table time is clicked a little late (after it): the
    # curve then implies fewer events than the arm had. The missing events must go where the
    # table leaves room for them (the intervals with censorings), not onto one late time
    rng = np.random.default_rng(3)
    n = 200
    t = np.r_[rng.uniform(2.80, 2.99, 40), rng.exponential(15, n - 40)]
    c = rng.uniform(0, 30, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    xs, ys = _clicked(time, event)
    xs = np.where((xs > 2.7) & (xs < 3.0), 3.05, xs)
    rt = np.arange(0, xs[-1], 3.0)
    nr = [(time >= r).sum() for r in rt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = reconstruct_ipd(xs, ys, rt, nr, return_result=True)
        res = reconstruct_ipd(xs, ys, rt, nr, int(event.sum()), return_result=True)
    assert res.events == event.sum() > base.events
    ev = res.ipd.time[res.ipd.event == 1].to_numpy()
    last = ev.max()
    # the old rule put all missing events at the last event time
    assert (ev == last).sum() <= 2
    # the numbers at risk at the table times are those of the reconstruction without the total
    def at_risk(ipd):
        return [(ipd.time >= r).sum() for r in rt]
    assert at_risk(res.ipd) == at_risk(base.ipd)
    # the first interval, where the drop's events were lost to censorings, gets the largest share
    moved = res.intervals.events - base.intervals.events
    assert int(moved.idxmax()) == 0 and moved.iloc[0] > 0
    assert any("within the intervals" in r for r in res.repairs)


def test_surplus_events_become_censorings_where_the_drops_are():
    rng = np.random.default_rng(8)
    t = rng.exponential(10, 300)
    c = rng.uniform(0, 30, 300)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    curve = simulate_digitisation(time, event, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = curve.reconstruct(use_total_events=False)
        res = reconstruct_ipd(curve.t, curve.s, curve.risk_times, curve.n_risk, base.events - 6,
                              return_result=True)
    assert res.events == base.events - 6
    # no interval changes its number at risk at the table times
    np.testing.assert_array_equal(res.intervals.n_end[:-1], base.intervals.n_end[:-1])
    # the six are taken from more than one interval (in proportion), not all from the end
    assert (res.intervals.events != base.intervals.events).sum() >= 2


def test_stepped_curve_keeps_its_count_when_the_gap_is_small():
    # progressions seen at scans every 2 months: every corner clicked, the whole decline is in
    # vertical drops, and the bottom of every drop clicked a little before its top (time
    # jitter). A total a little off the curve's count is kept as the curve says (and the
    # repairs say so); a larger gap is closed as on any curve; so is any gap on a gradual
    # curve, and on the same steps clicked without time jitter
    from metaanalysis.survival import reconstruct as R

    rng = np.random.default_rng(4)
    n = 300
    t = np.ceil(rng.exponential(8, n) / 2) * 2
    c = rng.uniform(0, 30, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    exact, ys = _clicked(time, event)
    xs = exact + np.r_[np.tile([0.02, -0.02], (len(exact) - 1) // 2), 0.0]
    rt = np.arange(0, xs[-1], 5.0)
    nr = [(time >= r).sum() for r in rt]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = reconstruct_ipd(xs, ys, rt, nr, return_result=True)
        kept = 0
        for gap in (-2, -1, 1, 2):
            # what the tail does not absorb stays a difference from the total
            D = base.events + gap
            res = reconstruct_ipd(xs, ys, rt, nr, D, return_result=True)
            if res.events != D:
                kept += 1
                assert abs(res.events - D) <= 2
                assert any(f"the curve's {res.events} kept ({res.events - D:+d} against the "
                           "total)" in r for r in res.repairs)
            np.testing.assert_array_equal(res.intervals.n_end[:-1], base.intervals.n_end[:-1])
        assert kept >= 3
        big = base.events + 20
        assert reconstruct_ipd(xs, ys, rt, nr, big, return_result=True).events == big
        untimed = reconstruct_ipd(exact, ys, rt, nr, return_result=True)
        assert reconstruct_ipd(exact, ys, rt, nr, untimed.events + 1,
                               return_result=True).events == untimed.events + 1
        # the same arm clicked at the bottoms of the drops only, every third drop: a gradual curve
        keep = np.r_[np.arange(1, len(xs) - 1, 2)[::3], len(xs) - 1]
        T, S, _ = R.clean_curve(xs[keep], ys[keep])
        assert R._vertical_share(T, S) < R._STEPPED
        sparse = reconstruct_ipd(xs[keep], ys[keep], rt, nr, return_result=True)
        for gap in (-1, 1):
            D = sparse.events + gap
            assert reconstruct_ipd(xs[keep], ys[keep], rt, nr, D, return_result=True).events == D


def test_drop_spread_between_sparse_clicks_and_kept_at_table_times():
    # two clicks 4 months apart with 20 events between them: spread over the gap by default
    t = [0, 2, 6, 10]
    s = [1, 0.95, 0.85, 0.85]
    spread = reconstruct_ipd(t, s, None, 200)
    guyot = reconstruct_ipd(t, s, None, 200, interpolate=False)
    ev_s = spread.time[spread.event == 1]
    ev_g = guyot.time[guyot.event == 1]
    assert len(ev_s) == len(ev_g) == 30
    assert set(ev_g) == {2.0, 6.0}
    assert ((ev_s > 2) & (ev_s < 6)).sum() > 10
    # a table that says nobody left before 6 (the drop happened at 6): the clicks are kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = reconstruct_ipd(t, s, [0, 5], [200, 190])
    assert ((kept.time > 2) & (kept.time < 5) & (kept.event == 1)).sum() == 0


# ---------------------------------------------------------------------------------------------------
# invariants


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shift=st.integers(-15, 15))
def test_total_events_met_and_table_kept(seed, shift):
    # any reachable total: exactly that many events, N rows, the table's numbers kept wherever
    # the reconstruction without the total met them. The one exception is documented in
    # reconstruct_ipd: a curve that falls in steps (more than half its decline in vertical drops)
    # and was clicked with time jitter (a drop's clicks out of order, as here) keeps the events
    # its clicks imply when they are within max(2, 5 % of the total) of it, because placing
    # such a gap within the intervals made PFS-shaped round trips worse (see
    # test_total_events_never_make_it_worse); the repair log then gives the count
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 300))
    t = rng.weibull(rng.uniform(0.7, 1.5), n) * rng.uniform(5, 20)
    c = rng.uniform(0, 40, n)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    if event.sum() < 20:
        return
    curve = simulate_digitisation(time, event, seed=seed)
    D = min(int(event.sum()) + shift, n)  # a total above the patients is an InputError
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = curve.reconstruct(use_total_events=False)
        res = reconstruct_ipd(curve.t, curve.s, curve.risk_times, curve.n_risk, D, return_result=True)
    assert len(res.ipd) == n
    kept = [r for r in res.repairs if "kept" in r and "total_events" in r]
    if kept:
        assert res.events != D and abs(res.events - D) <= max(2, 0.05 * D), kept
        assert f"the curve's {res.events} kept ({res.events - D:+d} against the total)" in kept[0]
    else:
        assert res.events == D
    met = base.intervals.converged.to_numpy()[:-1]
    np.testing.assert_array_equal(res.intervals.n_end.to_numpy()[:-1][met],
                                  base.intervals.n_end.to_numpy()[:-1][met])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), use_d=st.booleans())
def test_order_of_clicks_and_patients_does_not_matter(seed, use_d):
    # the clicks come in any order (they are sorted first); the Cox fit of the harness is
    # antisymmetric in the arms and blind to the order of the patients
    rng = np.random.default_rng(seed)
    arms = []
    for hr in (1.0, rng.uniform(0.4, 1.0)):
        t = rng.exponential(10 / hr, 150)
        c = rng.uniform(0, 30, 150)
        arms.append((np.minimum(t, c), (t <= c).astype(float)))
    curve = simulate_digitisation(*arms[0], seed=seed, pixels=(500, 350))
    p = rng.permutation(len(curve.t))
    D = curve.total_events if use_d else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = reconstruct_ipd(curve.t, curve.s, curve.risk_times, curve.n_risk, D)
        b = reconstruct_ipd(curve.t[p], curve.s[p], curve.risk_times, curve.n_risk, D)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    q = rng.permutation(150)
    lhr = cox_log_hr(*arms[0], *arms[1])
    assert cox_log_hr(*arms[1], *arms[0]) == pytest.approx(-lhr, abs=1e-9)
    assert cox_log_hr(arms[0][0][q], arms[0][1][q], *arms[1]) == pytest.approx(lhr, abs=1e-9)


# ---------------------------------------------------------------------------------------------------
# the harness itself


def test_numpy_cox_and_km_summaries_match_r_and_lifelines():
    # R 4.2.2, survival 3.5.3, on tests/data/ipd/veteran.csv:
    # coef(coxph(Surv(time, event) ~ arm)) = 0.01774256952 (Efron ties);
    # summary(survfit(...), rmean = 500)$table[, "rmean"] = 122.989948342, 122.356933193;
    # survfit medians 103 and 52.5 (R averages two times where S is exactly 0.5 on a flat
    # stretch; km_median takes the first time with S <= 0.5, lifelines' convention: 52)
    import pandas as pd

    d = pd.read_csv(ROOT / "tests" / "data" / "ipd" / "veteran.csv")
    arms = [(d.time[d.arm == k].to_numpy(float), d.event[d.arm == k].to_numpy(float)) for k in (0, 1)]
    assert cox_log_hr(*arms[0], *arms[1]) == pytest.approx(0.01774256952, rel=1e-6)
    assert km_median(*arms[0]) == 103 and km_median(*arms[1]) == 52
    assert [km_rmst(t, e, 500.0) for t, e in arms] == pytest.approx(
        [122.989948342, 122.356933193], rel=1e-9)

    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    for t, e in arms:
        kmf = KaplanMeierFitter().fit(t, e)
        assert km_rmst(t, e, 500.0) == pytest.approx(
            restricted_mean_survival_time(kmf, t=500.0), rel=1e-9)


def test_round_trip_result_object():
    rng = np.random.default_rng(0)
    arms = []
    for hr in (1.0, 0.6):
        t = rng.exponential(12 / hr, 200)
        c = rng.uniform(0, 36, 200)
        arms.append((np.minimum(t, c), (t <= c).astype(int)))
    r = round_trip(arms, use_total_events=True, seed=1, jitter_time=0.005, pixels=(500, 350))
    assert isinstance(r, RoundTrip) and r.events == r.events_reconstructed
    d = r.to_dict()
    assert d["abs_dlog_hr"] == pytest.approx(abs(d["log_hr_reconstructed"] - d["log_hr"]))
    assert "Round trip" in r.summary() and repr(r).startswith("<RoundTrip")
    r.to_json()
    # the same seed gives the same clicks and so the same errors
    assert round_trip(arms, use_total_events=True, seed=1, jitter_time=0.005,
                      pixels=(500, 350)).abs_dlog_hr == r.abs_dlog_hr


def test_pixels_snap_the_clicks():
    rng = np.random.default_rng(2)
    t = rng.exponential(10, 100)
    curve = simulate_digitisation(t, np.ones(100), seed=3, pixels=(100, 50), axis_end=40.0)
    cols = curve.t[curve.t < 40] / 0.4 - 0.5  # pixel centres; clicks past the axis sit on its end
    assert np.allclose(cols, np.round(cols)) and np.all(curve.t <= 40)
    rows = curve.s * 50 - 0.5
    inside = (curve.s > 0) & (curve.s < 1)
    assert np.allclose(rows[inside], np.round(rows[inside]))
    from metaanalysis.errors import InputError

    with pytest.raises(InputError, match="pixels"):
        simulate_digitisation(t, np.ones(100), seed=3, pixels=(1, 50))


# ---------------------------------------------------------------------------------------------------
# the repair of out-of-order clicks


def test_isotonic_repair_is_the_least_squares_non_increasing_fit():
    from metaanalysis.survival import clean_curve

    t = [1, 2, 3, 4, 5, 6]
    s = [0.9, 0.7, 0.8, 0.6, 0.65, 0.5]
    _, iso, rep = clean_curve(t, s, monotone="isotonic")
    # runs out of order become their means: (0.7 + 0.8) / 2 and (0.6 + 0.65) / 2
    np.testing.assert_allclose(iso[1:], [0.9, 0.75, 0.75, 0.625, 0.625, 0.5])
    assert any("pooled" in r for r in rep)
    with pytest.raises(InputError, match="monotone"):
        clean_curve(t, s, monotone="smooth")
    _, run, _ = clean_curve(t, s)  # default: Guyot's running minimum
    np.testing.assert_allclose(run[1:], [0.9, 0.7, 0.7, 0.6, 0.6, 0.5])
    # least squares among non-increasing sequences: no small step of a point lowers the error
    sse = np.sum((iso[1:] - s) ** 2)
    rng = np.random.default_rng(0)
    for _ in range(200):
        other = np.minimum.accumulate(iso[1:] + rng.normal(0, 0.02, 6))
        assert np.sum((other - s) ** 2) >= sse - 1e-12


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=30))
def test_isotonic_repair_is_non_increasing_and_keeps_the_mean(values):
    from metaanalysis.survival.reconstruct import _decreasing_fit

    s = np.asarray(values)
    fit = _decreasing_fit(s)
    assert np.all(np.diff(fit) <= 1e-12)
    assert fit.sum() == pytest.approx(s.sum(), abs=1e-9)
    if np.all(np.diff(s) <= 0):
        np.testing.assert_allclose(fit, s)


def test_isotonic_repair_does_not_make_early_events_from_a_jittered_click():
    # a click jittered to the left on a steep drop: the running minimum puts the whole drop
    # there, the isotonic fit only half of it
    t = [0, 9.5, 10, 10, 20, 30]
    s = [1, 0.70, 0.95, 0.70, 0.70, 0.60]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iso = reconstruct_ipd(t, s, None, 100, interpolate=False)
        run = reconstruct_ipd(t, s, None, 100, interpolate=False, monotone="minimum")
    early = lambda ipd: int(((ipd.time < 10) & (ipd.event == 1)).sum())  # noqa: E731
    assert early(run) == 30 and early(iso) < 30
    assert int(iso.event.sum()) == int(run.event.sum()) == 40


def test_bottom_of_a_drop_clicked_twice_is_kept():
    # three points at one time, the bottom clicked twice (or the end of the curve on the bottom
    # of its last drop): the bottom must survive the cleaning, or the drop's events are lost
    from metaanalysis.survival import clean_curve

    t, s, _ = clean_curve([1, 2, 2, 2, 3], [0.9, 0.8, 0.7, 0.7, 0.6])
    assert t.tolist() == [0, 1, 2, 2, 3] and s.tolist() == [1, 0.9, 0.8, 0.7, 0.6]
    # a perfectly clicked curve that ends on a drop (as rossi: everyone left is censored at
    # week 52, where 4 arrests happen) keeps that drop's events
    time = np.r_[np.arange(1, 51, dtype=float), np.full(4, 52.0), np.full(46, 52.0)]
    event = np.r_[np.ones(50), np.ones(4), np.zeros(46)]
    xs, ys = _clicked(time, event)
    ipd = reconstruct_ipd(xs, ys, [0, 20, 40], [100, 80, 60], interpolate=False)
    assert int(ipd.event.sum()) == 54
    assert int(((ipd.time == 52) & (ipd.event == 1)).sum()) == 4


def test_drop_with_corners_jittered_past_each_other_is_put_back_in_order():
    # both corners of a drop of 20 events (100 at risk) clicked, the bottom one jittered to the
    # left of the top one: that is time jitter, the drop happens once, at the later click;
    # pooling would put half of it at the next click, far later
    from metaanalysis.survival import reconstruct as R

    t = [0, 5.0, 9.9, 10.1, 20, 30]
    s = [1, 1.0, 0.80, 1.0, 0.80, 0.80]
    ipd = reconstruct_ipd(t, s, [0, 15], [100, 80], interpolate=False)
    ev = ipd.time[ipd.event == 1]
    assert len(ev) == 20 and set(ev) == {10.1}
    # small runs out of order are survival noise: pooled, as the plain isotonic fit does
    noisy = np.array([0.80, 0.801, 0.799, 0.802])
    heights = np.full(4, 0.8 / 100)
    np.testing.assert_allclose(R._swap_or_pool(noisy, heights), R._decreasing_fit(noisy))
    big = np.array([0.9, 0.7, 0.9, 0.7])
    np.testing.assert_allclose(R._swap_or_pool(big, heights), [0.9, 0.9, 0.7, 0.7])
