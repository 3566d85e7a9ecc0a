"""Risk-of-bias columns beside the primary forest plots (issue 13), as Cochrane reviews show them."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

import metaanalysis as ma  # noqa: E402
from metaanalysis.review import run_review  # noqa: E402
from metaanalysis.report.figures import _forest_figure, table_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def review():
    return run_review(ROOT / "data" / "studies.csv")


def _cells(ax):
    ax.figure.canvas.draw()
    return [t for t in ax.texts if t.get_gid() == "forest-rob"]


def test_primary_forest_has_a_cell_per_study_and_domain(review):
    run = review.run("pfs_hr")
    _, ax = _forest_figure(run, table_text(ROOT / "data" / "studies.csv"),
                           rob=review.risk_of_bias)
    k = sum(g.k for g in run.groups)
    cells = _cells(ax)
    assert len(cells) == k * 6  # D1-D5 and overall
    # the overall cell of each study says what the file says
    frame = review.risk_of_bias.frame
    overall = frame[(frame["outcome"] == "PFS") & (frame["domain"] == "overall")]
    symbols = {"low": "+", "some concerns": "−", "high": "×"}
    expected = sorted(symbols[j] for j in overall[overall["study_id"].isin(
        [s for g in run.groups for s in g.entries["study_id"]])]["judgement"])
    xs = max(t.get_position()[0] for t in cells)
    assert sorted(t.get_text() for t in cells
                  if t.get_transform().transform(t.get_position())[0] ==
                  max(c.get_transform().transform(c.get_position())[0] for c in cells)) == expected
    assert xs is not None


def test_descriptive_forest_has_no_rob_columns(review):
    _, ax = _forest_figure(review.run("orr"), rob=review.risk_of_bias)
    assert _cells(ax) == []


def test_rob_cells_are_coloured_discs():
    res = ma.pool([-0.5, -0.3], [0.04, 0.02], labels=["A", "B"], measure="HR")
    rob = pd.DataFrame({"label": ["A", "A", "B", "B"], "domain": ["D1", "overall"] * 2,
                        "symbol": ["+", "−", "×", ""], "color": ["#009E73", "#F0E442",
                                                              "#D55E00", None],
                        "text_color": ["white", "black", "white", None]})
    ax = ma.forest(res, rob=rob)
    cells = _cells(ax)
    assert [t.get_text() for t in cells] == ["+", "−", "×"]
    assert cells[0].get_bbox_patch().get_facecolor()[:3] == matplotlib.colors.to_rgb("#009E73")
