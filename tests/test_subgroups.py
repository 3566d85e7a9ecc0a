"""subgroup_analysis against metafor 3.8 (separate tau²: per-group rma + FE test on the subgroup
estimates; common tau²: rma with mods = ~ factor(group)); values in tests/reference/pooling.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from metaanalysis import InputError
from metaanalysis.pooling import subgroup_analysis

REF = json.loads((Path(__file__).parent / "reference" / "pooling.json").read_text())
RTOL = 1e-6  # same algorithms as metafor; rounding-level agreement expected
ATOL = 1e-12


def close(ours, ref, what):
    assert abs(ours - ref) <= ATOL + RTOL * abs(ref), f"{what}: ours {ours!r}, metafor {ref!r}"


@pytest.mark.parametrize("case", sorted(REF["subgroups"]))
def test_separate_tau2_matches_metafor(case):
    c = REF["subgroups"][case]
    res = subgroup_analysis(c["yi"], c["vi"], c["groups"], c["method"])
    assert set(res.groups) == set(c["subgroups"])
    for g, ref in c["subgroups"].items():
        r = res.subgroups[g]
        assert r.k == ref["k"]
        for rkey, key in (("estimate", "estimate"), ("se", "se"), ("ci.lb", "ci_low"), ("ci.ub", "ci_high"),
                          ("tau2", "tau2"), ("QE", "q"), ("I2", "i2")):
            close(getattr(r, key), ref[rkey], f"{case} {g} {key}")
    close(res.statistic, c["separate"]["QM"], "Q between")
    close(res.pvalue, c["separate"]["QMp"], "p between")
    assert res.df == c["separate"]["QMdf"] and res.df2 is None


@pytest.mark.parametrize("case", sorted(REF["subgroups"]))
def test_common_tau2_matches_metafor(case):
    c = REF["subgroups"][case]
    res = subgroup_analysis(c["yi"], c["vi"], c["groups"], c["method"], separate_tau2=False)
    close(res.statistic, c["common"]["QM"], "QM")
    close(res.pvalue, c["common"]["QMp"], "QMp")
    close(res.tau2, c["common"]["tau2"], "common tau2")
    assert res.df == c["common"]["QMdf"]
    # per-group results with tau² fixed at the common value reproduce the model's group means
    levels = sorted(res.groups)
    b = c["common"]["coef"]
    close(res.subgroups[levels[0]].estimate, b[0], "reference group mean")
    for j, g in enumerate(levels[1:], start=1):
        close(res.subgroups[g].estimate, b[0] + b[j], f"group {g} mean")


def test_result_views():
    c = REF["subgroups"]["bcg_alloc_REML"]
    res = subgroup_analysis(c["yi"], c["vi"], c["groups"], "REML", test="knha", separate_tau2=False)
    assert res.df2 == 10 and "F(df1 = 2, df2 = 10)" in res.summary()
    frame = res.to_frame()
    assert list(frame.index) == list(res.groups) + ["overall"]
    json.dumps(res.to_dict(), allow_nan=False)
    assert math.isfinite(res.pvalue) and repr(res).startswith("<SubgroupResult")


def test_bad_groups():
    with pytest.raises(InputError, match="at least 2"):
        subgroup_analysis([0.1, 0.2, 0.3], [0.1] * 3, ["a"] * 3)
    with pytest.raises(InputError, match="index 1"):
        subgroup_analysis([0.1, 0.2, 0.3], [0.1] * 3, ["a", None, "b"])
    with pytest.raises(InputError, match="entries"):
        subgroup_analysis([0.1, 0.2, 0.3], [0.1] * 3, ["a", "b"])
