"""The printed pieces every fit's ``summary()`` shares (``metaanalysis.pooling._print``).

Expected strings are metafor 3.8-1's print of the BCG data (``escalc("RR", ...)`` on
``dat.bcg``): ``rma(yi, vi, mods = ~ ablat + year, method = "EE")``, its ``anova(btt = 2:3)``,
and ``rma(yi, vi, mods = ~ ablat, test = "knha")``. p-values after ``p-val`` follow metafor's
``.pval(p, digits = 4, showeq = TRUE, sep = " ")``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.pooling._print import coef_span, moderator_lines, omnibus_line, p_equals


def _bcg():
    d = ma.load_bcg()
    p1, p2 = d.tpos / (d.tpos + d.tneg), d.cpos / (d.cpos + d.cneg)
    yi = np.log(p1 / p2).to_numpy()
    vi = (1 / d.tpos - 1 / (d.tpos + d.tneg) + 1 / d.cpos - 1 / (d.cpos + d.cneg)).to_numpy()
    return d, yi, vi


@pytest.mark.parametrize("p, text", [
    (0.5, "= 0.5000"), (5e-5, "< .0001"), (1e-4, "= 0.0001"), (1.0, "= 1.0000"), (math.nan, "= NA"),
    (None, "= NA"),
])
def test_p_equals_follows_metafor(p, text):
    assert p_equals(p) == text


@given(st.floats(min_value=1e-4, max_value=1.0))
def test_p_equals_rounds_to_four_decimals(p):
    text = p_equals(p)
    assert text.startswith("= ") and abs(float(text[2:]) - p) <= 5e-5 + 1e-12


def test_moderator_lines_name_positions_and_labels():
    assert coef_span([2]) == "2" and coef_span([2, 3, 4]) == "2:4"
    assert moderator_lines(["mods1"], 1.0, 1, None, 0.5)[0] == "Test of Moderators (coefficient mods1):"
    assert moderator_lines(["a", "b"], 1.0, 2, None, 0.5)[0] == "Test of Moderators (coefficients a, b):"
    # permutation tests mark the heading and the p-value
    assert moderator_lines([2], 9.0193, 1, None, 0.0362, mark="*", pval_label="p-val*") == [
        "Test of Moderators (coefficient 2):*", "QM(df = 1) = 9.0193, p-val* = 0.0362"]
    # non-integer df2 (Satterthwaite) to two decimals, as metafor's robust print
    assert omnibus_line(3.5, 2, 7.456, 0.08) == "F(df1 = 2, df2 = 7.46) = 3.5000, p-val = 0.0800"


def test_regression_prints_metafors_moderator_block():
    d, yi, vi = _bcg()
    res = ma.meta_regression(yi, vi, np.column_stack([d.ablat, d.year]), method="EE", test="z")
    text = res.summary()
    assert "QE(df = 10) = 28.3251, p-val = 0.0016" in text
    assert "Test of Moderators (coefficients 2:3):\nQM(df = 2) = 123.9079, p-val < .0001\n" in text
    knha = ma.meta_regression(yi, vi, d.ablat.to_numpy(), method="REML", test="knha")
    assert "QE(df = 11) = 30.7331, p-val = 0.0012" in knha.summary()
    assert "Test of Moderators (coefficient 2):\nF(df1 = 1, df2 = 11) = 12.5905, p-val = 0.0046\n" in knha.summary()


def test_anova_prints_the_same_omnibus_line():
    d, yi, vi = _bcg()
    res = ma.meta_regression(yi, vi, np.column_stack([d.ablat, d.year]), method="EE", test="z")
    assert "QM(df = 2) = 123.9079, p-val < .0001" in ma.anova(res, btt=[1, 2]).summary()
    assert "QM(df = 1) = 71.8531, p-val < .0001" in ma.anova(res, btt=[1]).summary()


def test_multilevel_and_regression_print_one_moderator_block():
    # one random effect per study fixed at 0: rma.mv is the EE rma.uni, so both
    # print the same block
    d, yi, vi = _bcg()
    frame = pd.DataFrame({"yi": yi, "vi": vi, "ablat": d.ablat, "id": np.arange(len(yi))})
    uni = ma.meta_regression(yi, vi, d.ablat.to_numpy(), method="EE", test="z").summary()
    mv = ma.rma_mv("yi", "vi", mods="~ ablat", random="~ 1 | id", sigma2=[0.0], data=frame).summary()
    block = [ln for ln in uni.splitlines() if ln.startswith(("Test of Moderators", "QM("))]
    assert len(block) == 2 and "\n".join(block) in mv


def test_permutest_and_robust_print_the_moderator_block_as_metafor():
    # the F test of a knha fit with its footnote signs; a p-value below .0001 as metafor writes it
    d, yi, vi = _bcg()
    res = ma.meta_regression(yi, vi, d.ablat.to_numpy(), method="REML", test="knha")
    perm = ma.permutest(res, exact=True) if len(yi) <= 8 else ma.permutest(res, iter=200, seed=1)
    text = perm.summary()
    line = next(ln for ln in text.splitlines() if ln.startswith("F(df1"))
    assert line.startswith(f"F(df1 = 1, df2 = {len(yi) - 2}) = {perm.qm:.4f}, p-val* = ")
    assert "Test of Moderators (coefficient 2):*" in text
    fit = ma.meta_regression(yi, vi, np.column_stack([d.ablat, d.year]), method="EE", test="z")
    rob = ma.robust(fit, cluster=np.arange(len(yi)) // 2)
    block = rob.summary().splitlines()
    i = block.index("Test of Moderators (coefficients 2:3):¹")
    assert block[i + 1].startswith("F(df1 = 2, df2 = ") and "p-val" in block[i + 1]
    df2 = block[i + 1].split("df2 = ")[1].split(")")[0]
    assert df2 == (f"{rob.qm_df2:g}" if rob.qm_df2 == round(rob.qm_df2) else f"{rob.qm_df2:.2f}")
