"""Forest plots: structure (squares, diamonds, arrows, ticks), no overlapping text, baselines.

Figures are drawn with the Agg backend and the house rcParams (DejaVu Sans, fixed hash salt), so
they are the same on every machine. Regenerate the baseline images with
``MA_UPDATE_BASELINES=1 pytest tests/test_plots_forest.py`` after an intended change, and look at them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import needs_baseline_freetype  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.plots import forest, forest_table  # noqa: E402

BASELINE = Path(__file__).parent / "baseline"
# RMS difference allowed against a baseline (0-255 grey levels): anti-aliasing differences
# between FreeType builds stay below 2; a moved square or a changed label is well above 5.
IMAGE_TOL = 3.0

# metafor's dat.bcg (Colditz et al. 1994): BCG vaccine trials, tpos/tneg/cpos/cneg
BCG = {
    "author": ["Aronson", "Ferguson & Simes", "Rosenthal et al", "Hart & Sutherland",
               "Frimodt-Moller et al", "Stein & Aronson", "Vandiviere et al", "TPT Madras",
               "Coetzee & Berjak", "Rosenthal et al", "Comstock et al", "Comstock & Webster",
               "Comstock et al"],
    "year": [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976],
    "tpos": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "tneg": [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
    "cpos": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "cneg": [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
}


def bcg_rr(method="REML"):
    a, b, c, d = (np.array(BCG[k], float) for k in ("tpos", "tneg", "cpos", "cneg"))
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return ma.pool(yi, vi, method=method, measure="RR", labels=BCG["author"])


def synthetic(k, seed=1, measure="HR", long_labels=False):
    rng = np.random.default_rng(seed)
    yi = rng.normal(-0.3, 0.35, k)
    vi = rng.uniform(0.005, 0.3, k)
    if long_labels:
        labels = [f"A very long trial name for study number {i} (Investigators et al.) {1990 + i}"
                  for i in range(k)]
    else:
        labels = [f"Trial {i + 1}" for i in range(k)]
    return ma.pool(yi, vi, measure=measure, labels=labels)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def gid_artists(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def squares(ax):
    (sq,) = gid_artists(ax, "forest-squares")
    return sq


def visible_texts(fig):
    """Every drawn, non-empty text of the figure with its window extent."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        lo, hi = sorted(ax.get_xlim())
        cands = list(ax.texts) + [ax.xaxis.label, ax.title]
        for tick in ax.xaxis.get_major_ticks():
            if lo - 1e-12 <= tick.get_loc() <= hi + 1e-12:
                cands.append(tick.label1)
        for t in cands:
            if t.get_visible() and t.get_text().strip():
                out.append((t, t.get_window_extent(renderer)))
    out += [(t, t.get_window_extent(renderer)) for t in fig.texts if t.get_text().strip()]
    return out


def assert_no_overlap(fig, slack=0.5):
    items = visible_texts(fig)
    ext = np.array([b.extents for _, b in items])  # x0 y0 x1 y1
    ox = np.minimum(ext[:, None, 2], ext[None, :, 2]) - np.maximum(ext[:, None, 0], ext[None, :, 0])
    oy = np.minimum(ext[:, None, 3], ext[None, :, 3]) - np.maximum(ext[:, None, 1], ext[None, :, 1])
    clash = (ox > slack) & (oy > slack)
    np.fill_diagonal(clash, False)
    for i, j in zip(*np.nonzero(np.triu(clash))):
        (t1, b1), (t2, b2) = items[i], items[j]
        raise AssertionError(
            f"texts overlap: {t1.get_text()!r} {b1.bounds} and {t2.get_text()!r} {b2.bounds}"
        )
    W, H = fig.canvas.get_width_height()
    for t, b in items:
        assert b.x0 >= -slack and b.x1 <= W + slack and b.y0 >= -slack and b.y1 <= H + slack, (
            f"text {t.get_text()!r} {b.bounds} leaves the figure ({W} x {H})"
        )
    return items


# --------------------------------------------------------------------------------------------
# the table


def test_forest_table_rows_and_stable_columns():
    res = bcg_rr()
    tab = forest_table(res, columns={"Year": BCG["year"]})
    assert list(tab.columns[:4]) == ["kind", "group", "label", "Year"]
    for c in ("estimate", "ci_low", "ci_high", "weight", "ci_text", "weight_text"):
        assert c in tab.columns
    st = tab[tab.kind == "study"]
    assert len(st) == res.k
    # natural scale for a ratio: the table shows exp of the result's numbers
    np.testing.assert_allclose(st.estimate, np.exp(res.yi), rtol=1e-12)
    (summ,) = tab[tab.kind == "summary"].itertuples()
    assert summ.estimate == pytest.approx(math.exp(res.estimate), rel=1e-12)
    # journal style: estimate (low–high), as the report's tables print it
    assert summ.ci_text == f"{math.exp(res.estimate):.2f} ({math.exp(res.ci_low):.2f}–{math.exp(res.ci_high):.2f})"
    assert st.weight.sum() == pytest.approx(1.0)
    assert tab.attrs["ci_header"] == "RR (95% CI)"
    notes = tab[tab.kind == "note"].label.tolist()
    assert notes[0].startswith("Heterogeneity: \u03c4\u00b2 (REML) = 0.31; I\u00b2 = 92%; Q = 152.23, df = 12")
    assert notes[1].startswith("Test for overall effect: z = ")
    assert (tab.kind == "prediction").sum() == 1
    # a descriptive summary declares no test: Q without its p-value
    quiet = forest_table(res, heterogeneity_test=False)
    het = quiet[quiet.kind == "note"].label.iloc[0]
    assert het == "Heterogeneity: \u03c4\u00b2 (REML) = 0.31; I\u00b2 = 92%; Q = 152.23, df = 12"
    assert ", p" in notes[0]


def test_sorting_by_estimate_weight_and_year():
    res = bcg_rr()
    by_est = forest_table(res, sort_by="estimate")
    est = by_est[by_est.kind == "study"].estimate.to_numpy()
    assert np.all(np.diff(est) >= 0)
    by_w = forest_table(res, sort_by="weight", descending=True)
    w = by_w[by_w.kind == "study"].weight.to_numpy()
    assert np.all(np.diff(w) <= 0)
    by_year = forest_table(res, columns={"Year": BCG["year"]}, sort_by="year")
    years = by_year[by_year.kind == "study"].Year.astype(int).to_numpy()
    assert np.all(np.diff(years) >= 0)
    with pytest.raises(InputError, match="sort_by"):
        forest_table(res, sort_by="nonsense")
    with pytest.raises(InputError, match="13 studies"):
        forest_table(res, columns={"Year": [1, 2]})


# --------------------------------------------------------------------------------------------
# structure of the drawing


def test_k_squares_one_diamond_at_the_pooled_estimate():
    res = bcg_rr()
    ax = forest(res)
    sq = squares(ax)
    assert len(sq.get_offsets()) == res.k
    np.testing.assert_allclose(np.sort(sq.get_offsets()[:, 0]), np.sort(np.exp(res.yi)), rtol=1e-12)
    (diamond,) = gid_artists(ax, "forest-diamond")
    xy = diamond.get_xy()
    xs = xy[:, 0]
    assert xs.min() == pytest.approx(math.exp(res.ci_low))
    assert xs.max() == pytest.approx(math.exp(res.ci_high))
    # the top and bottom vertices stand at the pooled estimate
    assert xy[1, 0] == pytest.approx(math.exp(res.estimate))
    assert xy[3, 0] == pytest.approx(math.exp(res.estimate))
    # the reference line of a ratio is at 1
    (ref,) = gid_artists(ax, "forest-reference")
    assert np.allclose(ref.get_segments()[0][:, 0], 1.0)


def test_square_area_follows_weight():
    res = bcg_rr()
    ax = forest(res)
    sizes = squares(ax).get_sizes()  # marker area in points^2
    sf = res.study_frame()
    order = np.argsort(np.exp(res.yi))
    offs = squares(ax).get_offsets()[:, 0]
    w = sf.weight.to_numpy()[np.argsort(np.exp(res.yi))][np.argsort(np.argsort(offs))]
    ratio = sizes / w
    assert ratio.max() / ratio.min() == pytest.approx(1.0, rel=1e-9)
    del order


def test_common_and_random_diamonds():
    res = bcg_rr()
    common = bcg_rr("EE")
    ax = forest(res, common=common)
    diamonds = gid_artists(ax, "forest-diamond")
    assert len(diamonds) == 2
    centres = sorted(d.get_xy()[1, 0] for d in diamonds)
    assert centres == pytest.approx(sorted([math.exp(res.estimate), math.exp(common.estimate)]))
    faces = {round(d.get_xy()[1, 0], 9): d.get_facecolor() for d in diamonds}
    assert faces[round(math.exp(common.estimate), 9)][:3] == (1.0, 1.0, 1.0)  # open: common
    labels = [t.get_text() for t in ax.texts]
    assert "Weight\n(common)" in labels and "Weight\n(random)" in labels


def test_log_axis_tick_labels_are_natural_values():
    res = bcg_rr()
    ax = forest(res, xlim=(0.05, 10))
    ax.figure.canvas.draw()
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert {"0.1", "1", "10"} <= set(labels) or {"0.1", "0.5", "1", "2"} <= set(labels)
    assert all(not lab.startswith("$") and "10^" not in lab for lab in labels)
    ax2 = forest(res, xlim=(0.3, 3))
    ax2.figure.canvas.draw()
    labels2 = [t.get_text() for t in ax2.get_xticklabels()]
    assert {"0.5", "1", "2"} <= set(labels2)


def test_arrows_where_intervals_leave_the_axis():
    res = bcg_rr()
    lo, hi = 0.2, 2.0
    ax = forest(res, xlim=(lo, hi), prediction=False)
    sf = res.study_frame()
    expected = int((np.exp(sf.ci_low) < lo).sum() + (np.exp(sf.ci_high) > hi).sum())
    assert expected > 2
    arrows = gid_artists(ax, "forest-arrows")
    assert sum(len(a.get_offsets()) for a in arrows) == expected
    # arrow heads sit on the axis limits, pointing outwards
    xs = np.concatenate([a.get_offsets()[:, 0] for a in arrows])
    assert set(np.round(xs, 9)) <= {lo, hi}
    # and the interval lines are cut at the limits
    segs = gid_artists(ax, "forest-ci")[0].get_segments()
    assert min(s[:, 0].min() for s in segs) >= lo - 1e-12
    assert max(s[:, 0].max() for s in segs) <= hi + 1e-12
    assert_no_overlap(ax.figure)


def test_no_arrows_when_everything_fits():
    ax = forest(bcg_rr())
    assert gid_artists(ax, "forest-arrows") == []


@pytest.mark.parametrize("k, long_labels", [(1, False), (1, True), (10, False), (60, True)])
def test_no_text_overlaps(k, long_labels):
    res = synthetic(k, long_labels=long_labels)
    ax = forest(res, xlim=(0.5, 1.6), favours=("Favours therapy", "Favours control"),
                columns={"Year": list(range(2000, 2000 + k)), "N": [100 + 7 * i for i in range(k)]})
    items = assert_no_overlap(ax.figure)
    # no text of a column enters the plotting panel
    panel = ax.get_window_extent()
    for t, b in items:
        if (t.get_gid() or "").startswith("forest-col"):
            assert b.x1 <= panel.x0 + 0.5 or b.x0 >= panel.x1 - 0.5, t.get_text()
    if long_labels:  # natural width: the labels are shown whole
        assert any(t.get_text() == res.labels[0] for t, _ in items)


@pytest.mark.parametrize("width, k", [("single", 1), ("single", 10), ("single", 60), ("double", 10)])
def test_no_text_overlaps_at_journal_widths(width, k):
    res = synthetic(k, long_labels=True)
    common = ma.pool(res.yi, res.vi, method="EE", measure="HR", labels=res.labels) if k > 1 else None
    ax = forest(res, common=common, width=width, xlim=(0.5, 2),
                favours=("Favours therapy", "Favours control"))
    fig = ax.figure
    assert fig.get_size_inches()[0] == pytest.approx({"single": 89, "double": 183}[width] / 25.4)
    assert_no_overlap(fig)


def test_height_follows_the_number_of_rows():
    h = [forest(synthetic(k)).figure.get_size_inches()[1] for k in (5, 10, 20)]
    assert h[0] < h[1] < h[2]
    assert (h[2] - h[1]) == pytest.approx(2 * (h[1] - h[0]), rel=1e-6)


def test_draws_into_a_given_axes_and_returns_it():
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 5))
    a1.set_axis_off()
    ax = forest(bcg_rr(), ax=a2)
    assert ax is a2
    fig.canvas.draw()
    # the panel and its text columns stay inside the right half
    for t, b in visible_texts(fig):
        assert b.x0 >= fig.bbox.width * 0.5 - 40, t.get_text()


def test_xlim_errors():
    with pytest.raises(InputError, match="xlim"):
        forest(bcg_rr(), xlim=(-1, 2))
    with pytest.raises(InputError, match="favours"):
        forest(bcg_rr(), favours=("only one",))


def test_linear_measure_reference_at_zero_and_minus_signs():
    rng = np.random.default_rng(3)
    res = ma.pool(rng.normal(-1, 1, 6), rng.uniform(0.1, 0.5, 6), measure="MD")
    ax = forest(res)
    assert ax.get_xscale() == "linear"
    (ref,) = gid_artists(ax, "forest-reference")
    assert np.allclose(ref.get_segments()[0][:, 0], 0.0)
    texts = [t.get_text() for t in ax.texts]
    assert any("\u2212" in s for s in texts) and not any("-" in s and s[0].isdigit() for s in texts)


# --------------------------------------------------------------------------------------------
# baselines


def _compare(fig, name, tmp_path):
    from matplotlib.testing.compare import compare_images

    from metaanalysis.plots import style

    expected = BASELINE / name
    actual = tmp_path / name
    with style():  # 100 dpi keeps the committed baselines small; export is tested elsewhere
        fig.savefig(actual, dpi=100, metadata={"Software": None})
    if os.environ.get("MA_UPDATE_BASELINES"):
        expected.write_bytes(actual.read_bytes())
    assert expected.exists(), f"no baseline {expected}; run with MA_UPDATE_BASELINES=1 once"
    err = compare_images(str(expected), str(actual), tol=IMAGE_TOL)
    assert err is None, err


@needs_baseline_freetype
def test_baseline_bcg_forest(tmp_path):
    ax = forest(bcg_rr(), columns={"Year": BCG["year"]}, sort_by="year",
                favours=("Favours vaccine", "Favours control"))
    _compare(ax.figure, "forest_bcg.png", tmp_path)


@needs_baseline_freetype
def test_baseline_forest_single_column_with_arrows(tmp_path):
    ax = forest(synthetic(12, long_labels=True), width="single", xlim=(0.5, 2),
                favours=("Favours therapy", "Favours control"))
    _compare(ax.figure, "forest_single_arrows.png", tmp_path)


def test_baseline_comparison_can_fail(tmp_path):
    """The tolerance is tight enough to catch a changed figure (a different row order)."""
    from matplotlib.testing.compare import compare_images

    from metaanalysis.plots import style

    ax = forest(bcg_rr(), columns={"Year": BCG["year"]}, sort_by="estimate",
                favours=("Favours vaccine", "Favours control"))
    actual = tmp_path / "changed.png"
    with style():
        ax.figure.savefig(actual, dpi=100, metadata={"Software": None})
    assert compare_images(str(BASELINE / "forest_bcg.png"), str(actual), tol=IMAGE_TOL) is not None


# --------------------------------------------------------------------------------------------
# subgroups and proportions (real result objects)


def test_subgroups_headings_subtotals_and_test():
    a, b, c, d = (np.array(BCG[k], float) for k in ("tpos", "tneg", "cpos", "cneg"))
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    alloc = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4
    sg = ma.subgroup_analysis(yi, vi, groups=alloc, measure="RR", labels=BCG["author"])
    tab = forest_table(sg, columns={"Year": BCG["year"]})
    assert tab[tab.kind == "heading"].label.tolist() == ["random", "alternate", "systematic"]
    assert (tab.kind == "subtotal").sum() == 3
    # the extra column follows each study into its subgroup
    st = tab[tab.kind == "study"]
    assert {("Stein & Aronson", "1953"), ("TPT Madras", "1980")} <= set(zip(st.label, st.Year))
    assert tab.label.iloc[-1].startswith(f"Test for subgroup differences: Q = {sg.statistic:.2f}, df = 2")
    ax = forest(sg, columns={"Year": BCG["year"]})
    diamonds = gid_artists(ax, "forest-diamond")
    assert len(diamonds) == 4  # three subtotals and the overall
    assert len(squares(ax).get_offsets()) == 13
    assert_no_overlap(ax.figure)


def test_proportions_in_percent_without_reference_line():
    xi, ni = [12, 30, 8, 45, 20], [40, 80, 35, 100, 50]
    res = ma.pool_proportions(xi, ni, measure="PLO", labels=list("ABCDE"))
    tab = forest_table(res)
    st = tab[tab.kind == "study"]
    np.testing.assert_allclose(st.estimate, 100 * np.array(xi) / np.array(ni))
    (summ,) = tab[tab.kind == "summary"].itertuples()
    assert summ.estimate == pytest.approx(100 * res.proportion)
    assert tab.attrs["ci_header"] == "Proportion, % (95% CI)"
    assert not any(s.startswith("Test for overall effect") for s in tab.label)
    ax = forest(res)
    assert ax.get_xscale() == "linear"
    assert gid_artists(ax, "forest-reference") == []


# --------------------------------------------------------------------------------------------
# natural ticks and reported intervals (issue 14)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from metaanalysis.plots._ticks import natural_limits, natural_ticks  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.floats(-3.0, 3.0), st.floats(0.02, 4.0), st.booleans())
def test_natural_ticks_three_inside_on_log_and_linear_axes(centre, span, log):
    """Any range gets at least three round ticks inside it (log: a range of log10 width >= 0.02,
    a median axis from 31 to 32.5 months, say)."""
    if log:
        lo, hi = 10.0 ** centre, 10.0 ** (centre + span)
    else:
        lo, hi = centre * 10, centre * 10 + span * 10
    ticks = natural_ticks(lo, hi, log=log)
    assert len(ticks) >= 3, (lo, hi, ticks)
    eps = 1e-9 * max(abs(lo), abs(hi), 1e-12)
    assert all(lo - eps <= t <= hi + eps for t in ticks)
    assert all(float(f"{t:.6g}") == t for t in ticks)  # round numbers
    assert ticks == sorted(ticks)


def test_natural_ticks_examples_and_spacing():
    assert natural_ticks(19, 77, log=True) == [20, 30, 50, 70]      # was one tick, "69"
    assert natural_ticks(4.5, 65, log=True) == [5, 10, 20, 50]
    assert natural_ticks(0.03, 2.5, log=True) == [0.05, 0.1, 0.2, 0.5, 1, 2]
    assert natural_ticks(0, 87) == [0, 20, 40, 60, 80]
    # labels need room: a gap of 30% of the axis leaves three ticks, and the limits grow to
    # make room for them when needed
    lo, hi = natural_limits(31, 52, log=True, min_gap=0.3)
    assert len(natural_ticks(lo, hi, log=True, min_gap=0.3)) >= 3
    # the line of no effect is labelled when it fits
    assert 1.0 in natural_ticks(0.3, 1.4, log=True, include=1.0)


def _reported_fit():
    yi = np.log([0.59, 0.21, 0.16, 40.54])
    # one table of four "studies": two ratios, one at 99%, one median with an open interval
    import pandas as pd

    res = ma.pool(yi[:3], [0.018, 0.024, 0.059], measure="HR", labels=["DECISION", "SELECT", "Study 308"])
    rep = pd.DataFrame({"value": [0.59, 0.21, 0.16], "ci_low": [0.45, 0.14, 0.10],
                        "ci_high": [0.76, 0.31, np.nan], "ci_level": [0.95, 0.99, 0.95]})
    return res, rep


def test_forest_table_shows_reported_numbers_marks_levels_and_ne():
    res, rep = _reported_fit()
    tab = forest_table(res, reported=rep, footnotes=["How the model used it."])
    st_ = tab[tab.kind == "study"].set_index("label")
    assert st_.loc["DECISION", "ci_text"] == "0.59 (0.45\u20130.76)"
    assert st_.loc["DECISION", "ci_high"] == 0.76 and st_.loc["DECISION", "source"] == "reported"
    assert st_.loc["SELECT", "ci_text"] == "0.21 (0.14\u20130.31)\u2020"
    assert st_.loc["Study 308", "ci_text"] == "0.16 (0.10\u2013NE)"
    assert st_.loc["Study 308", "open"] == "high" and st_.loc["Study 308", "ci_high"] == np.inf
    assert tab.attrs["footnotes"] == ["\u2020 99% interval as reported.",
                                      "NE, not estimable in the source: the interval is drawn "
                                      "open (an arrow to the axis edge).",
                                      "How the model used it."]
    # the pooled row is the model's
    (summ,) = tab[tab.kind == "summary"].itertuples()
    assert summ.estimate == pytest.approx(math.exp(res.estimate))


def test_forest_draws_an_open_interval_to_the_edge_with_an_arrow():
    res, rep = _reported_fit()
    ax = forest(res, reported=rep)
    lo, hi = ax.get_xlim()
    segs = gid_artists(ax, "forest-ci")[0].get_segments()
    texts = {t.get_text() for t in ax.texts}
    assert "0.16 (0.10\u2013NE)" in texts
    open_seg = [s for s in segs if s[0, 0] == pytest.approx(0.10)]
    assert open_seg and open_seg[0][1, 0] == pytest.approx(hi)
    heads = np.concatenate([np.asarray(a.get_offsets()) for a in gid_artists(ax, "forest-arrows")])
    assert any(np.isclose(x, hi) for x in heads[:, 0])
    assert hi > 0.16  # the axis leaves the arrow room beyond the estimate
    assert [t.get_text() for t in ax.texts if t.get_gid() == "forest-footnote"]
    assert_no_overlap(ax.figure)


def test_reported_frame_must_match_the_studies():
    res, rep = _reported_fit()
    with pytest.raises(InputError, match="reported"):
        forest_table(res, reported=rep.iloc[:2])
    with pytest.raises(InputError, match="ci_high"):
        forest_table(res, reported=rep.drop(columns="ci_high"))


@pytest.mark.parametrize("width", ["single", "double"])
def test_journal_widths_keep_text_at_7pt_or_more(width):
    res = synthetic(12, long_labels=True)
    ax = forest(res, width=width, favours=("Favours therapy", "Favours control"))
    fig = ax.figure
    assert fig.get_size_inches()[0] == pytest.approx({"single": 89, "double": 183}[width] / 25.4)
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
    assert min(sizes) >= 7.0
    assert_no_overlap(fig)


def test_favours_labels_flank_the_null_line_and_can_be_renamed():
    ax = forest(bcg_rr(), favours=("Better with BCG", "Better without"))
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    fav = sorted((t for t in ax.texts if t.get_gid() == "forest-favours"),
                 key=lambda t: t.get_window_extent(r).x0)
    assert [t.get_text() for t in fav] == ["\u2190 Better with BCG", "Better without \u2192"]
    x1 = ax.transData.transform((1.0, 0))[0]
    assert fav[0].get_window_extent(r).x1 <= x1 <= fav[1].get_window_extent(r).x0


def test_default_limits_of_extreme_ratio_bounds_stay_drawable():
    # a typo in the table (an HR bound of 1e300, or 4.9e-324) overflowed the padded log limits
    # to inf or 0: the report died with an OverflowError or an unlocated xlim error
    import math

    import pandas as pd

    from metaanalysis.plots.forest import _default_xlim

    for lo, hi in ((0.5, 1e300), (4.9e-324, 2.0), (5e-324, 1.7e308)):
        t = pd.DataFrame({"estimate": [0.8, 1.1], "ci_low": [lo, 0.9], "ci_high": [hi, 1.3]})
        a, b = _default_xlim(t, "log", 1.0)
        assert 0 < a < min(lo, 0.9) or a == math.exp(-700.0)
        assert max(hi, 1.3) < b < math.inf or b == math.exp(700.0)
        assert 0 < a < 0.8 and 1.3 < b < math.inf


def test_a_cut_label_keeps_its_year():
    # three studies of one author cut to fit a single column stay three studies: the closing
    # year survives the ellipsis; a label without one is cut at its end as before
    from metaanalysis.plots.forest import _text_width_in, _truncate

    labels = ["Comstock et al 1974", "Comstock & Webster 1969", "Comstock et al 1976"]
    cut = [_truncate(s, 7.0, 0.7) for s in labels]
    assert len(set(cut)) == 3 and all(c.endswith(s[-5:]) and "\u2026" in c
                                      for c, s in zip(cut, labels))
    assert all(_text_width_in(c, 7.0, "normal") <= 0.7 for c in cut)
    assert _truncate("Random-effects model", 7.0, 0.6).endswith("\u2026")
    assert _truncate("Kloos (2009)", 7.0, 0.55).endswith("\u2026 (2009)")
    # a year closing a longer parenthesis is not cut out of it ("SELE… 2015)")
    assert not _truncate("SELECT (phase 3, 2015)", 7.0, 0.6).endswith(" 2015)")
    # too narrow for a start and the year: the usual cut
    assert not _truncate("Comstock et al 1974", 7.0, 0.3).endswith("1974")
    assert _truncate("Aronson 1948", 7.0, 5.0) == "Aronson 1948"
