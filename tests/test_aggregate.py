"""aggregate_effects against metafor's aggregate.escalc (tests/reference/aggregate.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaanalysis.effects import Effects
from metaanalysis.errors import InputError
from metaanalysis.pooling import aggregate_effects, correlated_outcomes_v, pool

REF = json.loads((Path(__file__).parent / "reference" / "aggregate.json").read_text())
RTOL = 1e-10  # closed-form generalised least squares


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_matches_metafor(case_id):
    case = REF["cases"][case_id]
    d = REF["datasets"][case["dataset"]]
    if case.get("V"):
        V = correlated_outcomes_v(d["vi"], trial=d["cluster"], rho=case["rho"])
        res = aggregate_effects(d["yi"], d["vi"], d["cluster"], V=V, weighted=case["weighted"])
    else:
        res = aggregate_effects(d["yi"], d["vi"], d["cluster"], rho=case["rho"],
                                weighted=case["weighted"])
    exp = case["expected"]
    assert list(res.labels) == exp["cluster"]  # clusters in the order they first appear
    np.testing.assert_allclose(res.yi, exp["yi"], rtol=RTOL)
    np.testing.assert_allclose(res.vi, exp["vi"], rtol=RTOL)


def test_an_effects_object_goes_in_and_the_result_pools():
    d = REF["datasets"]["assink"]
    eff = Effects(np.array(d["yi"]), np.array(d["vi"]), "SMD", labels=tuple(d["cluster"]))
    agg = aggregate_effects(eff, cluster=d["cluster"], rho=0.6)
    assert agg.measure == "SMD" and len(agg.yi) == 17
    assert "100 estimates combined into 17" in agg.notes[0]
    assert "correlation of 0.6" in agg.notes[0]
    fit = pool(agg.yi, agg.vi, labels=agg.labels)
    assert fit.k == 17


def test_a_single_estimate_passes_through_and_rho_zero_is_inverse_variance():
    y, v = np.array([0.2, 0.4, 0.1]), np.array([0.04, 0.05, 0.02])
    res = aggregate_effects(y, v, ["A", "A", "B"], rho=0.0)
    w = 1 / v[:2]
    assert res.yi[0] == pytest.approx((w * y[:2]).sum() / w.sum())
    assert res.vi[0] == pytest.approx(1 / w.sum())
    assert (res.yi[1], res.vi[1]) == (0.1, 0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(rho=1.0), r"rho must lie in \(-1, 1\)"),
    (dict(), "give rho="),
    (dict(rho=0.5, V=np.eye(3)), "either rho"),
    (dict(V=np.eye(2)), "3 x 3 matrix"),
    (dict(V=np.diag([0.04, 0.05, 0.03])), "diagonal of V must be vi"),
    (dict(V=np.array([[0.04, 0, 0.01], [0, 0.05, 0], [0.01, 0, 0.02]])), "different clusters"),
    (dict(V=np.array([[0.04, 0.1, 0], [0.1, 0.05, 0], [0, 0, 0.02]])), "cluster 'A'.*positive"),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        aggregate_effects([0.2, 0.4, 0.1], [0.04, 0.05, 0.02], ["A", "A", "B"], **kwargs)


def test_a_negative_correlation_that_is_no_covariance_is_named():
    # seven estimates of one study at rho = -0.1875 (below -1/6): found by the property test
    with pytest.raises(InputError, match="cluster 'A''s estimates is not positive definite"):
        aggregate_effects(np.zeros(7), np.full(7, 0.1), ["A"] * 7, rho=-0.1875)


def test_bad_rows_are_named():
    with pytest.raises(InputError, match=r"estimate 1 \(cluster 'A'\) has yi = 0.4, vi = 0"):
        aggregate_effects([0.2, 0.4], [0.04, 0.0], ["A", "A"], rho=0.5)
    with pytest.raises(InputError, match="cluster has 1 values for 2 estimates"):
        aggregate_effects([0.2, 0.4], [0.04, 0.05], ["A"], rho=0.5)
    with pytest.raises(InputError, match="cluster is missing at index 0"):
        aggregate_effects([0.2, 0.4], [0.04, 0.05], [None, "A"], rho=0.5)
    with pytest.raises(InputError, match="cluster is missing at index 1"):
        aggregate_effects([0.2, 0.4], [0.04, 0.05], ["A", float("nan")], rho=0.5)
    with pytest.raises(InputError, match="yi is empty"):
        aggregate_effects([], [], [], rho=0.5)


_est = st.tuples(st.floats(-2, 2), st.floats(0.005, 0.5), st.sampled_from("ABCD"))


@settings(max_examples=60, deadline=None)
# (rho >= 0: a negative compound-symmetry correlation is not a covariance for larger clusters,
# below -1/(m - 1), which the function refuses by name)
@given(st.lists(_est, min_size=1, max_size=12), st.floats(0.0, 0.9), st.floats(0.1, 10),
       st.randoms(use_true_random=False))
def test_invariants(rows, rho, c, rnd):
    y, v, cl = (np.array(x) for x in zip(*rows))
    y, v = y.astype(float), v.astype(float)
    res = aggregate_effects(y, v, cl, rho=rho)
    by = dict(zip(res.labels, zip(res.yi, res.vi)))
    # order of the rows does not matter (within a cluster or between clusters)
    perm = list(range(len(y)))
    rnd.shuffle(perm)
    again = aggregate_effects(y[perm], v[perm], cl[perm], rho=rho)
    for lab, yi, vi in zip(again.labels, again.yi, again.vi):
        assert yi == pytest.approx(by[lab][0], rel=1e-9, abs=1e-12)
        assert vi == pytest.approx(by[lab][1], rel=1e-9)
    # effects in other units scale; the combined variance never exceeds the smallest one's
    scaled = aggregate_effects(c * y, c**2 * v, cl, rho=rho)
    np.testing.assert_allclose(scaled.yi, c * res.yi, rtol=1e-9, atol=1e-12)
    for lab, vi in zip(res.labels, res.vi):
        assert vi <= v[cl == lab].min() * (1 + 1e-9)
