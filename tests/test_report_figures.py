"""The report's figures (issue 14): image baselines of every figure, and structural checks that can
fail -- ticks, reported intervals, NE for open intervals, text sizes, editable text, fonts.

Images: the review runs on the frozen inputs in ``tests/data/report_figures/`` and every figure
the report makes is compared with its baseline in ``tests/baseline/report/`` (drawn by
``tests/baseline/make_report_baselines.py``, the same code). Structure: the shipped table in
``data/``, as the report draws it.
"""

from __future__ import annotations

import importlib.util
import math
import re
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams["figure.max_open_warning"] = 0  # the shipped report's figures stay open
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import needs_baseline_freetype  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "baseline" / "report"
# RMS difference allowed against a baseline (0-255 grey levels), as tests/test_plots_forest.py:
# anti-aliasing differences between FreeType builds stay below 2; a moved mark or a changed
# number is well above it.
IMAGE_TOL = 3.0
MIN_PT = 7.0           # no text below 7 pt at print size
DOUBLE_COLUMN_IN = 183 / 25.4

_spec = importlib.util.spec_from_file_location(
    "make_report_baselines", ROOT / "tests" / "baseline" / "make_report_baselines.py")
mrb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mrb)


@pytest.fixture(scope="module")
def frozen_inputs():
    return mrb.review_inputs(mrb.INPUTS)


@pytest.fixture(scope="module")
def frozen(frozen_inputs, tmp_path_factory):
    """``{name: PNG}`` of every report figure from the frozen inputs, drawn and saved exactly as
    the baseline script does."""
    from metaanalysis.plots.lifecycle import close_figure

    out = tmp_path_factory.mktemp("report_png")
    pngs = {}
    for name, ax in mrb.report_figures(*frozen_inputs):
        pngs[name] = mrb.save_png(ax, out / f"{name}.png")
        close_figure(ax)
    return pngs


@pytest.fixture(scope="module")
def shipped():
    """``(review, figures)``: the review of the shipped table and every report figure of it."""
    inputs = mrb.review_inputs(ROOT / "data")
    figs = {}
    for name, ax in mrb.report_figures(*inputs):
        ax.figure.canvas.draw()
        figs[name] = ax
    yield inputs[0], figs
    plt.close("all")


def forests(figs):
    return {n: ax for n, ax in figs.items() if n.endswith("_forest")}


def row_texts(ax):
    """``{label: ci_text}`` of a forest's rows (label and interval text stand at one y)."""
    labels = {round(t.get_position()[1], 6): t.get_text() for t in ax.texts
              if t.get_gid() == "forest-col-label"}
    cis = {round(t.get_position()[1], 6): t.get_text() for t in ax.texts
           if t.get_gid() == "forest-col-ci_text"}
    return {labels[y]: cis.get(y, "") for y in labels}


def row_y(ax, label):
    (y,) = [t.get_position()[1] for t in ax.texts
            if t.get_gid() == "forest-col-label" and t.get_text() == label]
    return y


def short(label):
    """A study label as a forest block (headed by its therapy) shows it."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", label)


def labelled_ticks(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [t.label1.get_text() for t in axis.get_major_ticks()
            if lo - 1e-9 <= t.get_loc() <= hi + 1e-9 and t.label1.get_visible()
            and t.label1.get_text().strip()]


# --------------------------------------------------------------------------------------------
# image baselines


def test_baselines_cover_every_report_figure(frozen):
    """A figure cannot drop out of (or into) the report without its baseline saying so."""
    assert set(frozen) == {p.stem for p in BASELINE.glob("*.png")}
    assert len(frozen) >= 25


@needs_baseline_freetype
@pytest.mark.parametrize("name", sorted(p.stem for p in BASELINE.glob("*.png")))
def test_report_figure_matches_its_baseline(frozen, name, tmp_path):
    from matplotlib.testing.compare import compare_images

    err = compare_images(str(BASELINE / f"{name}.png"), str(frozen[name]), tol=IMAGE_TOL)
    assert err is None, err


def _frozen_figure(frozen_inputs, name):
    for n, ax in mrb.report_figures(*frozen_inputs):
        if n == name:
            return ax
        plt.close(ax.figure)
    raise KeyError(name)


def test_baseline_comparison_can_fail(frozen_inputs, tmp_path):
    """The tolerance catches one changed number in a row."""
    from matplotlib.testing.compare import compare_images

    ax = _frozen_figure(frozen_inputs, "os_median_forest")
    (t,) = [t for t in ax.texts if t.get_gid() == "forest-col-ci_text"
            and t.get_text().startswith("39.4")]
    old = t.get_text()
    try:
        t.set_text("31.43 (31.43\u201349.40)")
        actual = mrb.save_png(ax, tmp_path / "changed.png")
    finally:
        t.set_text(old)
    assert compare_images(str(BASELINE / "os_median_forest.png"), str(actual),
                          tol=IMAGE_TOL) is not None


def test_baselines_are_drawn_deterministically(frozen_inputs, frozen, tmp_path):
    """The same call gives the same bytes (the rankogram simulates with a fixed seed)."""
    ax = _frozen_figure(frozen_inputs, "pfs_hr_rankogram")
    again = mrb.save_png(ax, tmp_path / "again.png").read_bytes()
    plt.close(ax.figure)
    assert again == frozen["pfs_hr_rankogram"].read_bytes()


# --------------------------------------------------------------------------------------------
# axes


def test_every_forest_axis_has_three_labelled_ticks(shipped):
    _, figs = shipped
    counts = {}
    for name, ax in forests(figs).items():
        ticks = labelled_ticks(ax.xaxis)
        counts[name] = len(ticks)
        assert len(ticks) >= 3, (name, ticks)
        # natural units: plain numbers, never 10^k or exponents
        assert all(re.fullmatch(r"\u2212?\d+(\.\d+)?", s) for s in ticks), (name, ticks)
    assert counts["os_median_forest"] >= 3  # one tick ("69") before issue 14


def test_every_numeric_axis_of_the_other_figures_has_three_ticks(shipped):
    _, figs = shipped
    for name, ax in figs.items():
        if not (name.endswith("_curves") or name.endswith("_rankogram")):
            continue
        for a in ax.figure.axes:
            for axis in (a.xaxis, a.yaxis):
                assert len(labelled_ticks(axis)) >= 3, (name, labelled_ticks(axis))


def test_axis_labels_name_the_measure_in_words(shipped):
    _, figs = shipped
    label = {n: ax.get_xlabel() for n, ax in forests(figs).items()}
    assert label["pfs_hr_forest"] == "Hazard ratio (log scale)"
    assert label["ae_g3_rr_forest"] == "Risk ratio (log scale)"
    assert label["ae_g3_rd_forest"] == "Risk difference"
    assert label["os_median_forest"] == "Median overall survival, months (log scale)"
    assert label["pfs_median_forest"] == "Median progression-free survival, months (log scale)"
    assert label["orr_forest"] == "Objective response, %"
    assert label["dcr_forest"] == "Disease control, %"


def test_log_scale_is_said_only_on_log_axes(shipped):
    _, figs = shipped
    for name, ax in forests(figs).items():
        assert ("log scale" in ax.get_xlabel()) == (ax.get_xscale() == "log"), name


# --------------------------------------------------------------------------------------------
# study rows as reported


def test_decision_median_os_is_drawn_and_printed_as_reported(shipped):
    _, figs = shipped
    ax = figs["os_median_forest"]
    text = row_texts(ax)["DECISION"]
    assert "39.4" in text and "32.7" in text and "51.4" in text
    assert text == "39.4 (32.7\u201351.4)"
    y = row_y(ax, "DECISION")
    (ci,) = [a for a in ax.collections if a.get_gid() == "forest-ci"]
    (seg,) = [s for s in ci.get_segments() if np.allclose(s[:, 1], y)]
    assert seg[:, 0] == pytest.approx([32.7, 51.4])  # not 31.43-49.40 re-derived on the log scale
    (sq,) = [a for a in ax.collections if a.get_gid() == "forest-squares"]
    offsets = np.asarray(sq.get_offsets())
    assert offsets[np.isclose(offsets[:, 1], y), 0].tolist() == pytest.approx([39.4])


def _open_rows(review):
    """(figure, study label, reported lower bound) of every study row whose interval the table
    reports without an upper bound, from the review's entries."""
    rows = []
    for run in review.runs:
        if not run.groups or run.analysis.kind == "binary":
            continue
        for g in run.groups:
            e = g.entries
            for r in e.itertuples(index=False):
                if np.isfinite(r.value) and np.isfinite(r.ci_low) and not np.isfinite(r.ci_high):
                    rows.append((f"{run.analysis.id}_forest", short(r.label), r.ci_low))
    return rows


def test_open_intervals_print_ne_and_are_drawn_to_the_edge(shipped):
    review, figs = shipped
    rows = _open_rows(review)
    names = {(f, lab) for f, lab, _ in rows}
    # the examples are among them
    assert ("pfs_median_forest", "ALTER01032") in names
    assert ("pfs_median_forest", "REALITY") in names
    assert ("os_median_forest", "SELECT") in names
    for fig, label, low in rows:
        ax = figs[fig]
        text = row_texts(ax)[label]
        assert text.endswith("NE)") or "NE)" in text, (fig, label, text)
        assert f"{low:g}" in text.replace("\u2212", "-") or f"{low:.2f}" in text, (label, text)
        y = row_y(ax, label)
        lo, hi = ax.get_xlim()
        (ci,) = [a for a in ax.collections if a.get_gid() == "forest-ci"]
        (seg,) = [s for s in ci.get_segments() if np.allclose(s[:, 1], y)]
        assert seg[0, 0] == pytest.approx(low) and seg[1, 0] == pytest.approx(hi)
        heads = np.concatenate([np.asarray(a.get_offsets()) for a in ax.collections
                                if a.get_gid() == "forest-arrows"])
        assert any(np.isclose(x, hi) and np.isclose(yy, y) for x, yy in heads), (fig, label)
    # and the footnotes say what NE means and how the model used the open interval
    for fig in {f for f, _, _ in rows}:
        notes = " ".join(t.get_text() for t in figs[fig].texts if t.get_gid() == "forest-footnote")
        assert "NE, not estimable" in notes and "reported side alone" in notes


def test_alter01032_median_pfs_has_no_imputed_upper_bound(shipped):
    _, figs = shipped
    text = row_texts(figs["pfs_median_forest"])["ALTER01032"]
    assert text == "40.54 (28.29\u2013NE)"
    assert "58.09" not in " ".join(t.get_text() for t in figs["pfs_median_forest"].texts)


def test_intervals_at_another_level_are_marked(shipped):
    _, figs = shipped
    rows = row_texts(figs["pfs_hr_forest"])
    assert rows["SELECT"] == "0.21 (0.14\u20130.31)\u2020"
    assert rows["DECISION"] == "0.59 (0.45\u20130.76)"  # 95%: no mark
    notes = [t.get_text() for t in figs["pfs_hr_forest"].texts if t.get_gid() == "forest-footnote"]
    assert "\u2020 99% interval as reported." in notes
    second = row_texts(figs["pfs_hr_second_line_forest"])
    assert second["COSMIC-311"].endswith("\u2020")
    notes2 = [t.get_text() for t in figs["pfs_hr_second_line_forest"].texts
              if t.get_gid() == "forest-footnote"]
    assert "\u2020 96% interval as reported." in notes2


def test_reported_intervals_frame(shipped):
    from metaanalysis.report.figures import reported_intervals, table_text

    review, _ = shipped
    runs = {r.analysis.id: r for r in review.runs}
    raw = table_text(ROOT / "data" / "studies.csv")
    rep = reported_intervals(runs["os_median"].analysis, runs["os_median"].groups, raw)
    d = rep[rep.study_id == "decision"].iloc[0]
    assert (d.value, d.ci_low, d.ci_high, d.ci_level) == (39.4, 32.7, 51.4, 0.95)
    s = rep[rep.study_id == "select"].iloc[0]
    assert math.isnan(s.ci_high) and s.ci_low == 31.2
    assert reported_intervals(runs["ae_g3_rr"].analysis, runs["ae_g3_rr"].groups) is None


def test_proportion_rows_show_the_observed_rate_with_an_exact_or_reported_interval(shipped):
    # 25 of 25 is 100 %, not the 98.1 % the logit's continuity correction makes of it; without
    # an interval in the source a row shows the exact (Clopper-Pearson) one, as meta does
    from scipy.stats import binomtest

    review, figs = shipped
    dcr = row_texts(figs["dcr_forest"])
    ci = binomtest(25, 25).proportion_ci(0.95, method="exact")
    assert dcr["Japanese lenvatinib phase 2"] == f"100.0 ({100 * ci.low:.1f}\u2013100.0)"
    assert "98.1" not in " ".join(t.get_text() for t in figs["dcr_forest"].texts)
    orr = row_texts(figs["orr_forest"])
    ci = binomtest(25, 46).proportion_ci(0.95, method="exact")
    assert orr["REALITY"] == f"54.3 ({100 * ci.low:.1f}\u2013{100 * ci.high:.1f})"
    # an interval the source reports stays as reported
    assert orr["Kloos 2009"] == "15.0 (6.0\u201329.0)"
    notes = " ".join(t.get_text() for t in figs["orr_forest"].texts
                     if t.get_gid() == "forest-footnote")
    assert "exact (Clopper-Pearson) interval" in notes and "logit scale" in notes
    # the page's numbers are the forest's: natural() of the one-study groups
    groups = {g.id: g for g in review.groups}
    nat = groups["dcr/lenvatinib"].natural()
    assert nat["interval"] == "exact" and nat["estimate"] == 1.0 and nat["ci_high"] == 1.0
    assert nat["ci_low"] == pytest.approx(binomtest(25, 25).proportion_ci(0.95, "exact").low,
                                          rel=1e-9)
    nat = groups["orr/dabrafenib"].natural()
    assert (nat["interval"], nat["estimate"], nat["ci_low"], nat["ci_high"]) == \
        ("reported", 0.35, 0.17, 0.56)
    # a pooled group keeps the model
    assert groups["orr/lenvatinib"].natural()["interval"] == "model"


def test_modelled_curves_mark_second_line_and_leave_out_studies_no_analysis_uses(shipped):
    review, figs = shipped

    def texts(ax):
        return " ".join(t.get_text() for a in ax.figure.axes for t in a.texts)

    rct = texts(figs["pfs_modelled_curves"])
    assert "COSMIC-311: cabozantinib (second line)" in rct
    assert "SELECT: lenvatinib" in rct and "SELECT: lenvatinib (second line)" not in rct
    # Gupta-Abramson 2008 (mixed histology) and Cabanillas 2010 (retrospective) are in no analysis
    # of the review: the figure does not draw them as its evidence
    single = texts(figs["single_arm_modelled_curves"])
    assert "Gupta-Abramson" not in single and "Cabanillas 2010" not in single
    assert "Schneider 2012: sorafenib" in single
    # cohorts the review analyses are drawn though they are not the whole study population:
    # Kloos 2009's papillary cohort (line 179), the Japanese phase 2's DTC cohort (line 209)
    assert "Kloos 2009: sorafenib" in single and "Japanese lenvatinib phase 2: lenvatinib" in single
    assert {"gupta-abramson2008", "cabanillas2010"} <= {sid for sid, _ in review.prisma.ineligible}


# --------------------------------------------------------------------------------------------
# print size, labels, styles


def test_no_text_below_7pt_and_no_figure_wider_than_a_double_column(shipped):
    _, figs = shipped
    sizes = {}
    for name, ax in figs.items():
        fig = ax.figure
        w = fig.get_size_inches()[0]
        assert w <= DOUBLE_COLUMN_IN + 1e-6, (name, w * 25.4)
        texts = list(fig.findobj(matplotlib.text.Text))
        shown = [t for t in texts if t.get_visible() and t.get_text().strip()]
        smallest = min(t.get_fontsize() for t in shown)
        sizes[name] = smallest
        assert smallest >= MIN_PT - 1e-9, (name, smallest)


def test_favours_labels_stand_on_each_side_of_the_null_line(shipped):
    _, figs = shipped
    checked = 0
    for name, ax in forests(figs).items():
        fav = [t for t in ax.texts if t.get_gid() == "forest-favours"]
        if not fav:
            continue
        r = ax.figure.canvas.get_renderer()
        ref = [a for a in ax.collections if a.get_gid() == "forest-reference"]
        x_ref = ax.transData.transform((ref[0].get_segments()[0][0, 0], 0))[0]
        left, right = sorted(fav, key=lambda t: t.get_window_extent(r).x0)
        assert left.get_text().startswith("\u2190 ") and right.get_text().endswith(" \u2192")
        assert left.get_window_extent(r).x1 <= x_ref <= right.get_window_extent(r).x0, name
        assert left.get_window_extent(r).x0 >= 0
        assert right.get_window_extent(r).x1 <= ax.figure.bbox.width
        checked += 1
    assert checked >= 8


def _dashes(line):
    """The dash pattern a line is drawn with ((offset, None) for solid)."""
    pattern = getattr(line, "_unscaled_dash_pattern", None)  # matplotlib >= 3.6
    if pattern is None:  # pragma: no cover
        pattern = line._dashSeq
    offset, seq = pattern
    return (offset, tuple(seq) if seq is not None else None)


def test_modelled_curves_differ_by_colour_and_line_style_per_therapy(shipped):
    _, figs = shipped
    ax = figs["pfs_modelled_curves"]
    lines = [ln for ln in ax.get_lines() if ln.get_gid() == "km-modelled"]
    names = [t.get_text() for t in ax.texts if t.get_gid() == "km-direct-label"]
    assert len(names) == len(lines) >= 8  # each curve named at its end
    therapy = {ln: ln.get_label().split(": ")[1].replace(" (modelled)", "") for ln in lines}
    look = {}
    for ln in lines:
        look.setdefault(therapy[ln], set()).add(
            (matplotlib.colors.to_hex(ln.get_color()), _dashes(ln)))
    assert all(len(v) == 1 for v in look.values())  # one look per therapy
    colours = [next(iter(v))[0] for v in look.values()]
    styles = [next(iter(v))[1] for v in look.values()]
    assert len(set(colours)) == len(look) and len(set(styles)) == len(look)
    # two trials of one therapy (lenvatinib: SELECT, Study 308) differ by their markers
    lenva = [ln for ln in lines if therapy[ln] == "lenvatinib"]
    assert len(lenva) == 2 and lenva[0].get_marker() != lenva[1].get_marker()
    # names never overlap
    r = ax.figure.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(r) for t in ax.texts
                    if t.get_gid() == "km-direct-label"), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(boxes, boxes[1:]))


def test_network_figures_are_readable(shipped):
    _, figs = shipped
    for key in ("pfs_hr", "orr"):
        graph = figs[f"{key}_network_graph"].figure
        league = figs[f"{key}_league_heatmap"].figure
        rank = figs[f"{key}_rankogram"].figure
        assert graph.get_size_inches()[0] >= 89 / 25.4 - 1e-9
        assert rank.get_size_inches()[0] > 89 / 25.4
        # a league cell is as wide as its text
        ax = figs[f"{key}_league_heatmap"]
        r = league.canvas.get_renderer()
        cell_px = ax.get_window_extent(r).width / len(ax.get_xticks())
        widest = max(t.get_window_extent(r).width for t in ax.texts)
        assert widest <= cell_px


# --------------------------------------------------------------------------------------------
# files: editable SVG text, TrueType fonts in the PDF


def pdf_objects(data: bytes) -> bytes:
    out = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        start = m.end()
        end = data.find(b"endstream", start)
        try:
            out.append(zlib.decompress(data[start:end]))
        except zlib.error:
            pass
    return b"\n".join(out)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The report's figure files of the shipped table, as ``render_figures`` writes them."""
    from metaanalysis.report.figures import render_figures

    inputs = mrb.review_inputs(ROOT / "data")
    out = tmp_path_factory.mktemp("figures")
    figs = render_figures(*inputs, out, formats=())
    plt.close("all")
    return figs


def test_every_figure_written_as_editable_svg_and_pdf_with_truetype_fonts(written):
    assert len(written) >= 24
    for fig in written:
        svg, pdf = Path(fig["svg"]), Path(fig["pdf"])
        assert {svg, pdf} <= {Path(f) for f in fig["files"]}
        text = svg.read_text(encoding="utf-8")
        assert re.search(r"<text\b[^>]*>[^<]+</text>", text), svg.name  # editable text
        assert "DejaVu Sans" in text
        body = pdf_objects(pdf.read_bytes())
        assert b"/FontFile2" in body, pdf.name  # TrueType program embedded (Type 42)
        assert (b"/Subtype /TrueType" in body or b"/Subtype /CIDFontType2" in body), pdf.name
        assert b"/Type3" not in body, pdf.name


def test_a_review_on_the_freeman_tukey_scale_draws_its_proportion_forest(tmp_path):
    # PFT goes back to a proportion only with the studies' sizes: the study rows show the
    # observed rates, the subtotals the review's own back-transform (harmonic mean of n); a
    # forest of such a fit given nothing else says what it needs instead of drawing blanks
    import shutil

    import metaanalysis as ma
    from metaanalysis.errors import InputError
    from metaanalysis.plots import forest
    from metaanalysis.report.figures import _forest_figure

    for name in ("studies.csv", "trials.csv", "risk_of_bias.csv"):
        shutil.copy(ROOT / "data" / name, tmp_path / name)
    text = (ROOT / "data" / "protocol.toml").read_text(encoding="utf-8")
    (tmp_path / "protocol.toml").write_text(
        text.replace('proportion_scale = "PLO"', 'proportion_scale = "PFT"'), encoding="utf-8")
    review = ma.run_review(tmp_path / "studies.csv")
    run = review.run("orr")
    assert run.analysis.scale == "PFT"
    _, ax = _forest_figure(run)
    texts = [t.get_text() for t in ax.texts]
    for g in run.groups:
        if g.k < 2:
            continue
        nat = g.natural()
        expect = (f"{100 * nat['estimate']:.1f} ({100 * nat['ci_low']:.1f}\u2013"
                  f"{100 * nat['ci_high']:.1f})")
        assert expect in texts, (g.group, expect)
    assert "Freeman-Tukey double arcsine scale" in " ".join(texts)
    plt.close("all")
    lenv = next(g for g in run.groups if g.group == "lenvatinib")
    with pytest.raises(InputError, match="reported="):
        forest(lenv.fit)
