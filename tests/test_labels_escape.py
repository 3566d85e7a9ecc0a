"""Labels with markup are drawn as written (issue 16): a trial named ``$\\frac{1}{0}$ trial``
once made matplotlib typeset it as mathtext, or crash the figure.

Every figure is drawn (``fig.canvas.draw()``); then every text artist must be plain text (not
mathtext), what matplotlib draws for it must equal the label, and it must measure the same as
the label drawn with mathtext switched off.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis import plots  # noqa: E402
from metaanalysis.plots._style import plain_text  # noqa: E402

LABELS = [
    "$\\frac{1}{0}$ trial",     # mathtext that does not parse
    "a_b^c",                    # subscript and superscript outside math
    "50% \\alpha",              # a percent sign and a TeX command outside math
    "Study $1$",                # valid mathtext: typeset, not crashing, but not the name
    "cost $5 and $6",           # an even number of dollars
    "one $ sign",
    "a\\$b",                    # a backslash before a dollar, as written
    "{x} #1 & ~y",
]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def drawn_texts(fig):
    """What matplotlib draws for every visible, non-empty text of the figure."""
    fig.canvas.draw()
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text():
            continue
        shown, ismath = t._preprocess_math(t.get_text())
        out.append((t, shown, ismath))
    return out


def _linespacing(t):
    # Text.get_linespacing is new in matplotlib 3.11 (the newest for Python 3.10 is 3.10)
    getter = getattr(t, "get_linespacing", None)
    return getter() if getter is not None else t._linespacing


def assert_drawn_as_written(fig, labels):
    texts = drawn_texts(fig)
    assert not [shown for _, shown, ismath in texts if ismath], "mathtext in the figure"
    renderer = fig.canvas.get_renderer()
    for label in labels:
        hits = [t for t, shown, _ in texts if shown == label]
        assert hits, f"{label!r} is not drawn as written: {[s for _, s, _ in texts]}"
        t = hits[0]
        ref = Text(0, 0, label, fontproperties=t.get_fontproperties(), parse_math=False,
                   rotation=t.get_rotation(), linespacing=_linespacing(t), figure=fig)
        got, want = t.get_window_extent(renderer), ref.get_window_extent(renderer)
        assert abs(got.width - want.width) < 0.5 and abs(got.height - want.height) < 0.5


@pytest.mark.parametrize("label", LABELS)
def test_plain_text_is_undone_by_matplotlib(label):
    t = Text(0, 0, plain_text(label))
    assert t._preprocess_math(t.get_text()) == (label, False)


def test_forest_plot_labels():
    rng = np.random.default_rng(1)
    k = len(LABELS)
    res = ma.pool(rng.normal(-0.3, 0.2, k), rng.uniform(0.01, 0.05, k), measure="HR",
                  labels=LABELS)
    ax = plots.forest(res, title="$x$ title_1", xlabel="HR $\\beta$", favours=("$a$", "b_1"))
    assert_drawn_as_written(ax.figure, LABELS + ["$x$ title_1", "HR $\\beta$"])
    # the favours labels may be decorated (an arrow beside them) but are drawn as written
    shown = [s for _, s, _ in drawn_texts(ax.figure)]
    assert any("$a$" in s for s in shown) and any("b_1" in s for s in shown), shown


def test_forest_subgroups_and_extra_columns():
    rng = np.random.default_rng(2)
    k = 6
    yi, vi = rng.normal(-0.3, 0.2, k), rng.uniform(0.01, 0.05, k)
    groups = ["$g$ one", "$g$ one", "$g$ one", "two_2", "two_2", "two_2"]
    sub = ma.subgroup_analysis(yi, vi, groups, labels=LABELS[:k], measure="OR")
    ax = plots.forest(sub)
    assert_drawn_as_written(ax.figure, LABELS[:k] + ["$g$ one", "two_2"])
    res = ma.pool(yi, vi, measure="OR", labels=LABELS[:k])
    ax = plots.forest(res, columns={"$n$": ["$1", "2_2", "3", "4", "5", "6"]})
    assert_drawn_as_written(ax.figure, LABELS[:k] + ["$n$", "$1", "2_2"])


def test_funnel_galbraith_baujat_labels():
    from metaanalysis.pooling.sensitivity import baujat_coordinates

    rng = np.random.default_rng(3)
    k = len(LABELS)
    res = ma.pool(rng.normal(0.2, 0.3, k), rng.uniform(0.02, 0.2, k), labels=LABELS)
    ax = plots.funnel(res, xlabel="$y_i$ effect", ylabel="SE_$")
    assert_drawn_as_written(ax.figure, ["$y_i$ effect", "SE_$"])
    ax = plots.galbraith(res, xlabel="$x$", ylabel="$z$ 50%")
    assert_drawn_as_written(ax.figure, ["$x$", "$z$ 50%"])
    ax = plots.baujat(baujat_coordinates(res), max_labels=k)
    assert_drawn_as_written(ax.figure, LABELS)


def test_labbe_labels():
    res = ma.pool_binary([5, 8, 3, 9], [50, 60, 40, 55], [10, 12, 6, 15], [50, 60, 40, 55],
                         measure="OR", method="MH")
    ax = plots.labbe(res, xlabel="control $p_c$", ylabel="treated $p_t$")
    assert_drawn_as_written(ax.figure, ["control $p_c$", "treated $p_t$"])


def test_km_plot_arm_names_title_and_legend():
    from metaanalysis.survival import km_table, risk_table

    rng = np.random.default_rng(4)
    arms = {}
    for i, name in enumerate(["$\\frac{1}{0}$ arm", "a_b^c", "50% \\alpha"]):
        t = rng.exponential(10 + 5 * i, 60)
        c = rng.uniform(0, 30, 60)
        arms[name] = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int)})
    tabs = {k: km_table(v) for k, v in arms.items()}
    risk = risk_table(arms, [0, 10, 20])
    ax = plots.km_plot(tabs, risk=risk, title="OS $1$", xlabel="Months $t$", ylabel="S_$")
    assert_drawn_as_written(ax.figure, list(arms) + ["OS $1$", "Months $t$", "S_$"])


def test_network_figures_with_markup_in_treatment_names():
    data = pd.DataFrame({
        "study": ["s1", "s2", "s3", "s4", "s5"],
        "treat1": ["$A$", "B_1^2", "C 50% \\alpha", "$A$", "B_1^2"],
        "treat2": ["placebo", "placebo", "placebo", "B_1^2", "C 50% \\alpha"],
        "yi": np.log([0.5, 0.7, 0.6, 0.8, 1.1]),
        "sei": [0.15, 0.2, 0.25, 0.2, 0.3],
    })
    fit = ma.network_meta(data, measure="HR", reference="placebo", method="EE")
    names = ["$A$", "B_1^2", "C 50% \\alpha"]
    ax = plots.network_graph(fit)
    assert_drawn_as_written(ax.figure, names)
    ax = plots.network_forest(fit)
    assert_drawn_as_written(ax.figure, names)
    ax = plots.league_heatmap(fit)
    assert_drawn_as_written(ax.figure, names)
    ax = plots.rankogram(fit.sucra(seed=1, n_sim=2000))
    texts = [shown for _, shown, _ in drawn_texts(ax.figure)]
    for name in names:
        assert any(s.startswith(name + " (SUCRA") for s in texts), texts
