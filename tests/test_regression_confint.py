"""confint() of meta-regressions against metafor 3.8 (tests/reference/regression_confint.R):
every tau² interval type for models with moderators, and the coefficients' intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma

REF = json.loads((Path(__file__).parent / "reference" / "regression_confint.json").read_text())
CASES = REF["cases"]
TYPES = ("QP", "PL", "Wald", "Wald.log", "Wald.sqrt")
RTOL = 1e-6


def _fit(case):
    X = np.array(case["X"], dtype=float)
    return ma.meta_regression(case["yi"], case["vi"], X[:, 1:], method=case["method"],
                              test=case["test"], level=case["level"])


def _close(got, want):
    if want is None:
        return not math.isfinite(got) or got == 0  # metafor's NA: no bound
    return got == pytest.approx(want, rel=RTOL, abs=1e-10)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['design']}-{c['method']}-{c['test']}-{c['level']:g}")
def test_tau2_intervals_of_every_type_match_metafor(case):
    fit = _fit(case)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=RTOL, abs=1e-12)
    for ci_type in TYPES:
        want = case[ci_type]
        if "error" in want:
            continue
        ci = fit.confint(type=ci_type)
        lo, hi = ci.random["tau2"][1:]
        assert _close(lo, want["tau2"][1]) and _close(hi, want["tau2"][2]), (ci_type, lo, hi, want["tau2"])
        for name in ("i2", "h2"):
            if want[name][1] is not None:
                assert ci.random[name][1] == pytest.approx(want[name][1], rel=RTOL, abs=1e-8)
            if want[name][2] is not None:
                assert ci.random[name][2] == pytest.approx(want[name][2], rel=RTOL, abs=1e-8)
    ci = fit.confint()
    np.testing.assert_allclose(ci.ci_low, case["coef_ci_low"], rtol=RTOL)
    np.testing.assert_allclose(ci.ci_high, case["coef_ci_high"], rtol=RTOL)


def test_interval_contains_the_estimate_and_level_narrows_it():
    case = CASES[0]
    fit = _fit(case)
    for ci_type in TYPES:
        t2, lo, hi = fit.confint(type=ci_type).random["tau2"]
        assert lo <= t2 <= hi
        lo90, hi90 = fit.confint(level=90, type=ci_type).random["tau2"][1:]
        assert lo <= lo90 and hi90 <= hi


def test_unknown_type_is_refused():
    fit = _fit(CASES[0])
    with pytest.raises(ma.InputError, match="GENQ"):
        fit.confint(type="GENQ")
    with pytest.raises(ma.InputError, match="valid types"):
        fit.confint(type="HT")
