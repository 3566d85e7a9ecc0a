"""binary_bias_test (Harbord's and Peters' tests) against metafor's regtest composed as the
papers define them (tests/reference/binary_bias.R)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from metaanalysis.errors import InputError
from metaanalysis.pooling import egger_test, pool_binary
from metaanalysis.pooling.bias import binary_bias_test

REF = json.loads((Path(__file__).parent / "reference" / "binary_bias.json").read_text())
RTOL = 1e-8  # closed-form weighted least squares


def test_reference_grid():
    assert REF["metafor_version"] == "3.8.1"
    assert len(REF["cases"]) == 2 * 2 * len(REF["datasets"]) == 24
    # tables without events in both arms are covered (and left out)
    assert any(len(c["expected"]["kept"]) < len(REF["datasets"][c["dataset"]]["ai"])
               for c in REF["cases"].values())


@pytest.mark.parametrize("case_id", sorted(REF["cases"]))
def test_matches_metafor_regtest(case_id):
    case = REF["cases"][case_id]
    d = REF["datasets"][case["dataset"]]
    exp = case["expected"]
    res = binary_bias_test(d["ai"], d["n1i"], d["ci"], d["n2i"], test=case["test"],
                           level=case["level"])
    for ours, theirs in (("statistic", "statistic"), ("df", "df"), ("pvalue", "pvalue"),
                         ("bias", "slope"), ("se_bias", "se_slope"), ("estimate", "estimate"),
                         ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        assert getattr(res, ours) == pytest.approx(exp[theirs], rel=RTOL), ours
    assert res.k == len(exp["kept"])
    assert len(res.excluded) == len(d["ai"]) - res.k


def test_tables_left_out_are_named():
    res = binary_bias_test([0, 3, 5, 2, 10], [50, 60, 70, 40, 80], [0, 6, 9, 5, 12],
                           [50, 61, 69, 42, 79], labels=list("ABCDE"), test="peters")
    assert res.k == 4 and res.excluded == ("A (no events in both arms)",)
    res = binary_bias_test([50, 3, 5, 2, 10], [50, 60, 70, 40, 80], [50, 6, 9, 5, 12],
                           [50, 61, 69, 42, 79], labels=list("ABCDE"))
    assert res.excluded == ("A (only events in both arms)",)
    text = res.summary()
    assert "Harbord" in text and "Left out: A (only events in both arms)" in text


@pytest.mark.parametrize("args, match", [
    (dict(test="egger"), "use 'harbord' or 'peters'"),
    (dict(ai=[1, 2, 3, 4], n1i=[10, 10, 2, 10]), r"ai\[2\] = 3 exceeds n1i\[2\] = 2"),
    (dict(ai=[1, -2, 3, 4]), r"ai\[1\] = -2; counts must be finite and >= 0"),
    (dict(ai=[0, 0, 0, 4], ci=[0, 0, 0, 1]), "at least 3 tables"),
    (dict(ci=[1, 2, 3]), "one value per table"),
])
def test_bad_input_is_named(args, match):
    data = dict(ai=[1, 2, 3, 4], n1i=[10, 20, 30, 40], ci=[2, 3, 4, 5], n2i=[10, 20, 30, 40])
    test = args.pop("test", "harbord")
    data.update(args)
    with pytest.raises(InputError, match=match):
        binary_bias_test(data["ai"], data["n1i"], data["ci"], data["n2i"], test=test)


_table = st.tuples(st.integers(1, 60), st.integers(61, 400), st.integers(1, 60),
                   st.integers(61, 400))


@settings(max_examples=50, deadline=None)
@given(st.lists(_table, min_size=4, max_size=15), st.randoms(use_true_random=False))
def test_invariants(rows, rnd):
    # repeated tables leave two distinct predictor values, which a line fits exactly
    assume(len(set(rows)) == len(rows))
    a, n1, c, n2 = (np.array(x, float) for x in zip(*rows))
    for test in ("harbord", "peters"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = binary_bias_test(a, n1, c, n2, test=test)
        # tables whose effects lie exactly on a line: the statistic is rounding noise (said so)
        assume(not caught and math.isfinite(res.statistic))
        perm = list(range(len(a)))
        rnd.shuffle(perm)
        again = binary_bias_test(a[perm], n1[perm], c[perm], n2[perm], test=test)
        assert again.statistic == pytest.approx(res.statistic, rel=1e-7, abs=1e-9)
        # swapping the arms mirrors the asymmetry: the statistic changes sign
        swapped = binary_bias_test(c, n2, a, n1, test=test)
        assert swapped.statistic == pytest.approx(-res.statistic, rel=1e-6, abs=1e-8)
        assert res.ci_low <= res.estimate <= res.ci_high


def test_peters_is_not_egger_and_harbord_without_zero_cells():
    # on metafor's dat.bcg the three tests differ: the predictor and weights are not Egger's
    d = REF["datasets"]["bcg"]
    fit = pool_binary(d["ai"], d["n1i"], d["ci"], d["n2i"], measure="OR", method="EE")
    egger = egger_test(fit.fit, model="lm")
    h = binary_bias_test(d["ai"], d["n1i"], d["ci"], d["n2i"])
    p = binary_bias_test(d["ai"], d["n1i"], d["ci"], d["n2i"], test="peters")
    assert len({round(egger.statistic, 6), round(h.statistic, 6), round(p.statistic, 6)}) == 3
