"""metaanalysis.simulate: data generation, performance measures with known truth, seeds, checkpoints.

The statistical checks use bounds in Monte Carlo standard errors (MCSE) and each is paired with a
contrast that must fail the same bound, so a broken summary (e.g. coverage always 0.95) cannot pass.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaanalysis import InputError
from metaanalysis import simulate as sim
from metaanalysis.effects import escalc
from metaanalysis.pooling import pool
from metaanalysis.simulate import Scenario, generate, run_scenario, run_simulation, scenario_seed

# Bounds in MCSEs: 4 MCSE leaves a false-alarm chance of about 6e-5 per check; the seeds are fixed,
# so a test is deterministic anyway, but the bound says how far from the truth a result may be.
N_MCSE = 4.0

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "coverage_simulation.ipynb"


def test_ee_coverage_nominal_without_heterogeneity_and_low_with_it():
    # EE with known variances and tau2 = 0 is an exact z interval: coverage 95% up to MC error.
    homo = Scenario(k=5, tau2=0.0, vi=(0.05, 0.1, 0.1, 0.2, 0.4))
    hetero = Scenario(k=5, tau2=0.5, vi=(0.05, 0.1, 0.1, 0.2, 0.4))
    res = run_simulation([homo, hetero], ["EE+z"], n_rep=4000, seed=11, progress=False).to_frame()
    r0, r1 = res.iloc[0], res.iloc[1]
    assert r0.n_valid == 4000
    mcse = math.sqrt(0.95 * 0.05 / 4000)
    assert abs(r0.coverage - 0.95) < N_MCSE * mcse, r0.coverage
    assert abs(r0.bias) < N_MCSE * r0.bias_mcse
    assert r0.rejection == pytest.approx(1 - r0.coverage)  # mu = 0: rejection = non-coverage
    # the same check fails where EE ignores heterogeneity: the contrast shows it can fail
    assert r1.coverage < 0.95 - 10 * mcse, r1.coverage
    # EE's tau2 is 0 by definition
    assert r0.tau2_mean == 0 and r1.tau2_bias == pytest.approx(-0.5)


def test_dl_tau2_biased_upwards_at_zero_and_knha_covers_better_than_dl_at_small_k():
    # tau2 = 0: DL truncates at 0, so its mean is positive (bias > 0); at tau2 = 0.1 and k = 3 the
    # DL + z interval undercovers while REML + knha is near nominal (IntHout et al. 2014).
    scen = [Scenario(k=5, tau2=0.0, vi=(0.1,)), Scenario(k=3, tau2=0.1, vi=(0.05,))]
    res = run_simulation(scen, ["DL+z", "DL+knha"], n_rep=2000, seed=5, progress=False).to_frame()
    dl0 = res[(res.scenario == 0) & (res.label == "DL+z")].iloc[0]
    assert dl0.tau2_bias > N_MCSE * dl0.tau2_bias_mcse
    assert 0 < dl0.tau2_zero < 1
    dlz = res[(res.scenario == 1) & (res.label == "DL+z")].iloc[0]
    hk = res[(res.scenario == 1) & (res.label == "DL+knha")].iloc[0]
    se_diff = math.hypot(dlz.coverage_mcse, hk.coverage_mcse)
    assert hk.coverage - dlz.coverage > N_MCSE * se_diff
    assert dlz.coverage < 0.95 - N_MCSE * dlz.coverage_mcse
    assert abs(hk.coverage - 0.95) < N_MCSE * math.sqrt(0.95 * 0.05 / 2000)
    assert hk.width > dlz.width
    # the same point estimate: knha changes only the interval
    assert hk.bias == dlz.bias and hk.mse == dlz.mse


def test_summary_measures_equal_a_hand_computation_from_generate():
    s = Scenario(k=4, mu=0.3, tau2=0.05, vi_dist="uniform", vi=(0.02, 0.2))
    res = run_scenario(s, ["REML+knha"], n_rep=40, seed=9).to_frame().iloc[0]
    data = generate(s, 40, seed=9)
    fits = [pool(g.yi.to_numpy(), g.vi.to_numpy(), method="REML", test="knha")
            for _, g in data.groupby("replicate")]
    est = np.array([f.estimate for f in fits])
    lo = np.array([f.ci_low for f in fits])
    hi = np.array([f.ci_high for f in fits])
    t2 = np.array([f.tau2 for f in fits])
    tol = dict(rel=1e-12, abs=1e-14)  # same numbers, summed in the same order up to numpy's pairing
    assert res.bias == pytest.approx(est.mean() - 0.3, **tol)
    assert res.bias_mcse == pytest.approx(est.std(ddof=1) / math.sqrt(40), **tol)
    assert res.mse == pytest.approx(np.mean((est - 0.3) ** 2), **tol)
    assert res.coverage == pytest.approx(np.mean((lo <= 0.3) & (0.3 <= hi)), **tol)
    assert res.width == pytest.approx(np.mean(hi - lo), **tol)
    assert res.tau2_bias == pytest.approx(t2.mean() - 0.05, **tol)
    assert res.tau2_zero == pytest.approx(np.mean(t2 == 0), **tol)


def test_normal_model_moments():
    # y ~ N(mu, tau2 + vi): mean and variance of the generated effects (k * n_rep = 40000 draws)
    s = Scenario(k=4, mu=1.0, tau2=0.3, vi=(0.2,))
    df = generate(s, 10000, seed=2)
    assert len(df) == 40000 and list(df.columns) == ["replicate", "study", "yi", "vi"]
    assert abs(df.yi.mean() - 1.0) < N_MCSE * math.sqrt(0.5 / 40000)
    assert df.yi.var() == pytest.approx(0.5, rel=0.03)  # sd of a variance estimate ~ 0.7%
    assert (df.vi == 0.2).all()
    # estimated variances ("sample"): unbiased for 2 sd^2 / n
    s2 = Scenario(k=2, vi_dist="sample", vi=(1.0,), n=(10, 40))
    d2 = generate(s2, 5000, seed=3)
    means = d2.groupby("study").vi.mean().to_numpy()
    assert means == pytest.approx([0.2, 0.05], rel=0.03)


def test_binomial_model_zero_cells_follow_escalc():
    s = Scenario(k=6, model="binomial", mu=0.0, tau2=0.0, p0=0.03, n=(20,))
    df = generate(s, 300, seed=4)
    zero = (df.ai == 0) | (df.ci == 0)
    assert zero.mean() > 0.3  # rare events: zero cells are common, so the correction is exercised
    ref = escalc("OR", ai=df.ai, n1i=df.n1i, ci=df.ci, n2i=df.n2i)  # add = 1/2 to tables with a 0
    np.testing.assert_array_equal(df.yi.to_numpy(), ref.yi)
    np.testing.assert_array_equal(df.vi.to_numpy(), ref.vi)
    both = (df.ai == 0) & (df.ci == 0)
    assert both.any() and (df.yi[both] == 0).all()
    # drop00 removes double-zero tables; a replicate with none left is counted as failed
    s0 = Scenario(k=1, model="binomial", p0=0.01, n=(10,), drop00=True)
    r = run_scenario(s0, ["EE+z"], n_rep=200, seed=1).to_frame().iloc[0]
    assert 0 < r.n_failed < 200 and r.n_valid + r.n_failed == 200


def test_binomial_event_rates():
    s = Scenario(k=10, model="binomial", mu=math.log(2), tau2=0.0, p0=0.2, n=(100,))
    df = generate(s, 500, seed=8)
    p1 = 2 * 0.25 / (1 + 2 * 0.25)  # odds 0.25 doubled
    assert df.ci.sum() / df.n2i.sum() == pytest.approx(0.2, abs=N_MCSE * math.sqrt(0.16 / 500000))
    assert df.ai.sum() / df.n1i.sum() == pytest.approx(p1, abs=N_MCSE * math.sqrt(p1 * (1 - p1) / 500000))


def test_from_i2_gives_the_stated_i2():
    vi = (1.0, 1.0, 1.0, 0.1)  # one trial 10 times larger
    s = Scenario.from_i2(k=4, i2=75, vi=vi)
    fit = pool(np.zeros(4) + [0, 0.1, 0.2, 0.3], vi, method="REML", tau2=s.tau2)
    assert fit.i2 == pytest.approx(75, rel=1e-12)
    assert Scenario.from_i2(k=3, i2=50, vi=(0.2,)).tau2 == pytest.approx(0.2)
    with pytest.raises(InputError):
        Scenario.from_i2(k=3, i2=100)


def test_same_seed_same_result_other_seed_other_result():
    scen = [Scenario(k=3, tau2=0.1), Scenario(k=5, model="binomial", p0=0.1, n=(40,), tau2=0.2)]
    a = run_simulation(scen, ["DL+z", "PM+knha"], n_rep=150, seed=21, progress=False)
    b = run_simulation(scen, ["DL+z", "PM+knha"], n_rep=150, seed=21, progress=False)
    c = run_simulation(scen, ["DL+z", "PM+knha"], n_rep=150, seed=22, progress=False)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_exact=True)
    assert not np.array_equal(a.to_frame().bias.to_numpy(), c.to_frame().bias.to_numpy())
    assert a.seed == 21 and len(a.to_frame()) == 4
    # seed=None draws a seed and records it, so the run can be repeated
    d = run_simulation(scen[:1], ["DL+z"], n_rep=30, progress=False)
    e = run_simulation(scen[:1], ["DL+z"], n_rep=30, seed=d.seed, progress=False)
    pd.testing.assert_frame_equal(d.to_frame(), e.to_frame(), check_exact=True)


def test_one_scenario_alone_equals_it_inside_the_full_run(monkeypatch):
    # more replicates than one block, so the per-block streams are exercised too
    monkeypatch.setattr(sim, "BLOCK_SIZE", 70)
    scen = [Scenario(k=3), Scenario(k=4, tau2=0.2, vi_dist="chisq", vi=(0.1, 3)), Scenario(k=2, tau2=0.05)]
    full = run_simulation(scen, ["DL+z", "REML+knha"], n_rep=150, seed=31, progress=False).to_frame()
    alone = run_scenario(scen[1], ["DL+z", "REML+knha"], n_rep=150, seed=scenario_seed(31, 1)).to_frame()
    inside = full[full.scenario == 1].drop(columns="scenario").reset_index(drop=True)
    pd.testing.assert_frame_equal(inside, alone.drop(columns="scenario"), check_exact=True)
    # and its data are generate()'s with the same seed
    d = generate(scen[1], 150, seed=scenario_seed(31, 1))
    assert d.replicate.nunique() == 150 and d.vi.nunique() == 600  # chisq variances: all distinct


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_checkpoint_resume_after_interruption(tmp_path, monkeypatch, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    scen = [Scenario(k=k, tau2=t) for k, t in ((2, 0.0), (3, 0.1), (4, 0.2), (5, 0.0), (3, 0.3))]
    methods = ["DL+z", "REML+knha"]
    reference = run_simulation(scen, methods, n_rep=60, seed=41, progress=False).to_frame()

    real = sim._scenario_rows
    calls = []

    def interrupted(s, index, *args):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption after scenario 2")
        calls.append(index)
        return real(s, index, *args)

    path = tmp_path / f"study{suffix}"
    monkeypatch.setattr(sim, "_scenario_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_simulation(scen, methods, n_rep=60, seed=41, progress=False, checkpoint=path)
    assert path.exists() and calls == [0, 1]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind

    resumed_calls = []

    def counting(s, index, *args):
        resumed_calls.append(index)
        return real(s, index, *args)

    monkeypatch.setattr(sim, "_scenario_rows", counting)
    resumed = run_simulation(scen, methods, n_rep=60, seed=41, progress=False, checkpoint=path)
    assert resumed_calls == [2, 3, 4]  # finished scenarios are not recomputed
    pd.testing.assert_frame_equal(resumed.to_frame(), reference, check_exact=True)
    # a third run computes nothing
    resumed_calls.clear()
    again = run_simulation(scen, methods, n_rep=60, seed=41, progress=False, checkpoint=path)
    assert resumed_calls == []
    pd.testing.assert_frame_equal(again.to_frame(), reference, check_exact=True)


def test_checkpoint_of_another_study_is_refused(tmp_path):
    path = tmp_path / "c.json"
    run_simulation([Scenario(k=3)], ["DL+z"], n_rep=20, seed=1, progress=False, checkpoint=path)
    with pytest.raises(InputError, match="different study"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=21, seed=1, progress=False, checkpoint=path)
    with pytest.raises(InputError, match="different study"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=20, seed=2, progress=False, checkpoint=path)
    with pytest.raises(InputError, match="seed"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=20, progress=False, checkpoint=path)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(InputError, match="cannot be read"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=20, seed=1, progress=False, checkpoint=bad)
    with pytest.raises(InputError, match="must end in"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=20, seed=1, progress=False, checkpoint=tmp_path / "c.txt")


def test_progress_bar_optional(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    run_simulation([Scenario(k=2)], ["DL+z"], n_rep=10, seed=1, progress=True)
    assert "scenarios" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    res = run_simulation([Scenario(k=2)], ["DL+z"], n_rep=10, seed=1, progress=True)
    assert res.n_rep == 10 and "scenarios" not in capsys.readouterr().err


def test_result_views():
    res = run_simulation([Scenario(k=3, tau2=0.1, name="small k")], ["DL+z", ("PM", "knha")], n_rep=50,
                         seed=1, progress=False)
    df = res.to_frame()
    assert list(df.columns) == list(sim.COLUMNS)
    assert list(df.label) == ["DL+z", "PM+knha"]
    d = res.to_dict()
    import json

    json.dumps(d)
    assert d["methods"] == ["DL+z", "PM+knha"] and d["scenarios"][0]["name"] == "small k"
    text = str(res)
    assert "small k" in text and "PM+knha" in text and "coverage" in text
    assert repr(res).count("\n") == 0
    assert "<pre" in res._repr_html_()
    frame = res.to_frame()
    frame.loc[0, "bias"] = 99.0  # a copy: the result does not change
    assert res.to_frame().loc[0, "bias"] != 99.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), "k must be"),
    (dict(k=3, tau2=-1), "tau2"),
    (dict(k=3, model="poisson"), "model"),
    (dict(k=3, vi=(0.1, 0.2)), "one per study"),
    (dict(k=3, vi=(-0.1,)), "positive"),
    (dict(k=3, vi_dist="uniform", vi=(0.2, 0.1)), "low < high"),
    (dict(k=3, vi_dist="chisq", vi=(0.2,)), "mean, df"),
    (dict(k=3, model="binomial", p0=1.2), "p0"),
    (dict(k=3, model="binomial", n=(10, 20)), "n has 2"),
])
def test_bad_scenarios(kwargs, match):
    with pytest.raises(InputError, match=match):
        Scenario(**kwargs)


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown estimator"):
        run_simulation([Scenario(k=3)], ["XX+z"], n_rep=5, seed=1, progress=False)
    with pytest.raises(InputError, match="unknown test"):
        run_simulation([Scenario(k=3)], ["DL+q"], n_rep=5, seed=1, progress=False)
    with pytest.raises(InputError, match="duplicates"):
        run_simulation([Scenario(k=3)], ["DL+z", ("DL", "z")], n_rep=5, seed=1, progress=False)
    with pytest.raises(InputError, match="n_rep"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=0, seed=1, progress=False)
    with pytest.raises(InputError, match="seed"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=5, seed=-1, progress=False)
    with pytest.raises(InputError, match="not a Scenario"):
        run_simulation([dict(k=3)], ["DL+z"], n_rep=5, seed=1, progress=False)
    with pytest.raises(InputError, match="level"):
        run_simulation([Scenario(k=3)], ["DL+z"], n_rep=5, seed=1, level=0.05, progress=False)
    assert sim.parse_methods("FE") == (("EE", "z"),)


def test_notebook_runs_at_small_size(tmp_path):
    """The coverage notebook executes (small size, as in CI) and its check cell passes."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_before = os.environ.pop("METAANALYSIS_FULL", None)
    try:
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if env_before is not None:
            os.environ["METAANALYSIS_FULL"] = env_before
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "small size" in text and "checks passed" in text


def test_batch_engine_adapter_aligns_groups(monkeypatch):
    """pool_groups reads the engine's frame by group (any row order, group as column or index)."""
    rng = np.random.default_rng(3)
    group = np.repeat(np.array([0, 1, 3]), [3, 1, 4])  # group 2 has no study (e.g. all dropped)
    yi, vi = rng.normal(size=8), rng.uniform(0.05, 0.2, 8)
    fits = {j: pool(yi[group == j], vi[group == j], method="REML", test="knha") for j in (0, 1, 3)}

    def check(out, exact):
        assert np.isnan(out["estimate"][2]) and not out["converged"][2]
        for f in sim._POOL_FIELDS:
            want = np.array([getattr(fits[j], f) if j in fits else out[f][2] for j in range(4)])
            if exact or f == "converged":
                np.testing.assert_array_equal(out[f], want)
            else:  # the batch engine sums in another order: equal to rounding
                np.testing.assert_allclose(out[f], want, rtol=1e-10, atol=1e-13)

    check(sim.pool_groups(group, yi, vi, 4, method="REML", test="knha", level=95.0), exact=False)

    def fake_pool_many(frame, by, yi, vi, method, test, level, as_index=False, **kwargs):
        rows = [{by: key, **pool(g[yi].to_numpy(), g[vi].to_numpy(), method=method, test=test,
                                 level=level).to_frame().iloc[0].to_dict()}
                for key, g in frame.groupby(by)]
        out = pd.DataFrame(rows[::-1])  # reversed row order
        return out.set_index(by) if as_index else out

    for as_index in (False, True):
        fake = (lambda *a, **k: fake_pool_many(*a, **k, as_index=True)) if as_index else fake_pool_many
        monkeypatch.setattr(sim, "_load_pool_many", lambda: fake)
        assert sim.engine_name() == "pool_many"
        check(sim.pool_groups(group, yi, vi, 4, method="REML", test="knha", level=95.0), exact=True)
    monkeypatch.setattr(sim, "_load_pool_many", lambda: None)
    assert sim.engine_name() == "pool"
    check(sim.pool_groups(group, yi, vi, 4, method="REML", test="knha", level=95.0), exact=True)
