"""Risk-of-bias figures in the style of robvis: the traffic-light grid and the weighted summary bars.

Both take DataFrames computed in :mod:`metaanalysis.review.risk_of_bias` (the table's ``frame``,
filtered to what is shown, and :func:`~metaanalysis.review.risk_of_bias.weighted_summary`) and
return the Axes; neither computes anything. :func:`rob_columns` turns
:func:`~metaanalysis.review.risk_of_bias.judgements_for` into the symbol and colour of each cell,
for risk-of-bias columns beside a forest plot.

Every judgement has a colour from the Okabe-Ito palette (distinct for the common colour-vision
deficiencies), a marker shape of its own and a symbol printed inside, so that the figures read in
greyscale and without colour vision: low ``+`` on a circle, some concerns / moderate ``−`` on a
square, high / serious ``×`` on a triangle, critical ``!`` on a diamond, no information ``?`` on a
hexagon. MINORS items print their score (2, 1, 0) on the same three shapes; its overall is the
total score on a white circle.
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["traffic_light", "rob_summary", "rob_columns", "judgement_style"]

_GREEN, _YELLOW, _VERMILLION, _WINE, _GREY = "#009E73", "#F0E442", "#D55E00", "#882255", "#BBBBBB"
_INK = "#1a1a1a"
# severity class -> (colour, symbol text colour, marker, hatch of a summary bar)
_CLASS = {
    "good": (_GREEN, "white", "o", ""),
    "some": (_YELLOW, _INK, "s", "////"),
    "bad": (_VERMILLION, "white", "^", "xxxx"),
    "critical": (_WINE, "white", "D", "...."),
    "unknown": (_GREY, _INK, "h", "\\\\\\\\"),
    "none": ("white", _INK, "o", ""),
}
# judgement -> (severity class, symbol, legend label)
_JUDGEMENTS = {
    "low": ("good", "+", "Low"),
    "some concerns": ("some", "\u2212", "Some concerns"),
    "moderate": ("some", "\u2212", "Moderate"),
    "high": ("bad", "\u00d7", "High"),
    "serious": ("bad", "\u00d7", "Serious"),
    "critical": ("critical", "!", "Critical"),
    "no information": ("unknown", "?", "No information"),
    "not assessed": ("unknown", "?", "Not assessed"),
    "2": ("good", "2", "2: reported and adequate"),
    "1": ("some", "1", "1: reported but inadequate"),
    "0": ("bad", "0", "0: not reported"),
}


def judgement_style(judgement, domain=None) -> dict:
    """How one judgement is drawn: ``color``, ``text_color``, ``marker``, ``symbol``, ``label``,
    ``hatch``. A MINORS total score (domain ``overall``, a number) is its number on white."""
    j = " ".join(str(judgement).split()).lower()
    if j in _JUDGEMENTS and not (domain == "overall" and j.isdigit()):
        cls, symbol, label = _JUDGEMENTS[j]
    elif j.isdigit():
        cls, symbol, label = "none", j, "Total score"
    else:
        raise InputError(f"judgement {judgement!r} has no drawing style; use one of "
                         + ", ".join(repr(k) for k in _JUDGEMENTS))
    color, text_color, marker, hatch = _CLASS[cls]
    return {"color": color, "text_color": text_color, "marker": marker, "symbol": symbol,
            "label": label, "hatch": hatch}


def _legend_label(st) -> str:
    """``+  Low``; a MINORS score's label already starts with its symbol (``2: reported ...``)."""
    return st["label"] if st["label"].startswith(st["symbol"]) else f"{st['symbol']}  {st['label']}"


def _need(frame, columns, what):
    missing = [c for c in columns if c not in getattr(frame, "columns", ())]
    if missing:
        raise InputError(f"{what} needs a DataFrame with columns " + ", ".join(columns)
                         + "; missing: " + ", ".join(missing))


def rob_columns(judgements):
    """The text and colour of each risk-of-bias cell beside a forest plot's study rows.

    Parameters
    ----------
    judgements : pandas.DataFrame
        From :func:`~metaanalysis.review.risk_of_bias.judgements_for`: index ``study_id``,
        a ``tool`` column and one column per domain (``None`` where not assessed).

    Returns
    -------
    pandas.DataFrame
        One row per study and domain, in the frame's order: ``study_id``, ``domain``,
        ``judgement``, ``symbol``, ``color``, ``text_color``, ``marker`` (empty text and ``None``
        colours where a study has no judgement).

    Examples
    --------
    >>> spec = rob_columns(judgements_for(rob, ["decision"], "PFS"))      # doctest: +SKIP
    >>> spec.loc[spec.domain == "overall", ["symbol", "color"]]           # doctest: +SKIP
    """
    import pandas as pd

    domains = [c for c in judgements.columns if c != "tool"]
    rows = []
    for sid, rec in judgements.iterrows():
        for d in domains:
            j = rec[d]
            if j is None or (isinstance(j, float) and j != j) or j == "":
                rows.append({"study_id": sid, "domain": d, "judgement": None, "symbol": "",
                             "color": None, "text_color": None, "marker": None})
                continue
            s = judgement_style(j, d)
            rows.append({"study_id": sid, "domain": d, "judgement": j, "symbol": s["symbol"],
                         "color": s["color"], "text_color": s["text_color"],
                         "marker": s["marker"]})
    return pd.DataFrame(rows, columns=["study_id", "domain", "judgement", "symbol", "color",
                                       "text_color", "marker"])


def _tool_of(frame, what):
    from ..review.risk_of_bias import TOOLS

    tools = list(dict.fromkeys(frame["tool"]))
    if len(tools) != 1:
        raise InputError(f"{what} draws one tool at a time; the frame has "
                         + (", ".join(repr(t) for t in tools) or "no rows")
                         + ": filter it by tool first")
    if tools[0] not in TOOLS:
        raise InputError(f"tool {tools[0]!r} is not known; use one of " + ", ".join(TOOLS))
    return TOOLS[tools[0]]


def traffic_light(table_frame, ax=None, *, width=None, title=None):
    """Traffic-light plot: one row per study (and outcome), one column per domain and overall.

    Parameters
    ----------
    table_frame : pandas.DataFrame
        Lines of :attr:`RiskOfBiasTable.frame` (columns ``study_id``, ``tool``, ``domain``,
        ``judgement``, and ``outcome`` when several outcomes are shown), for one tool. Rows are
        drawn in order of first appearance; a study judged for several outcomes gets a row per
        outcome, labelled ``study (outcome)``.
    ax : matplotlib Axes, optional
    width : "single", "double" or millimetres, optional
        The figure width when ``ax`` is not given (default double column).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> f = rob.frame                                                     # doctest: +SKIP
    >>> ax = traffic_light(f[(f.outcome == "PFS") & (f.tool == "RoB 2")])  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    from ._style import MIN_FONT_SIZE, plain_text, style, width_inches

    _need(table_frame, ("study_id", "tool", "domain", "judgement"), "traffic_light")
    tool = _tool_of(table_frame, "traffic_light")
    f = table_frame
    outcomes = list(f["outcome"]) if "outcome" in f.columns else [""] * len(f)
    keys = list(dict.fromkeys(zip(f["study_id"], outcomes)))
    several = len({o for _, o in keys}) > 1
    labels = [f"{s} ({o})" if several else s for s, o in keys]
    domains = [d for d in tool.all_domains if d in set(f["domain"])]
    row_of = {k: i for i, k in enumerate(keys)}
    col_of = {d: i for i, d in enumerate(domains)}
    with style():
        if ax is None:
            w = width_inches(width or "double")
            # constrained layout makes room for long study and domain labels and the legend
            _, ax = plt.subplots(figsize=(w, 1.3 + 0.24 * len(keys)), layout="constrained")
        cells = {}
        for s, o, d, j in zip(f["study_id"], outcomes, f["domain"], f["judgement"]):
            if d not in col_of:
                continue
            st = judgement_style(j, d)
            cells.setdefault((st["marker"], st["color"]), []).append(
                (col_of[d], row_of[(s, o)], st))
        for (marker, color), pts in cells.items():
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=120, marker=marker, c=color,
                       edgecolors=_INK, linewidths=0.6, zorder=3)
            for x, y, st in pts:
                ax.text(x, y + (0.08 if marker == "^" else 0), st["symbol"], ha="center",
                        va="center", color=st["text_color"], fontsize=MIN_FONT_SIZE,
                        fontweight="bold", zorder=4)
        if "overall" in col_of and len(domains) > 1:
            ax.axvline(col_of["overall"] - 0.5, color="#6e6e6e", lw=0.6)
        ax.set_xlim(-0.6, len(domains) - 0.4)
        ax.set_ylim(len(keys) - 0.5, -0.5)
        ax.set_xticks(range(len(domains)))
        ax.set_xticklabels(["Overall" if d == "overall" else d for d in domains])
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(keys)))
        ax.set_yticklabels([plain_text(x) for x in labels])
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        for i in range(len(keys)):
            ax.axhline(i, color="#e6e6e6", lw=0.5, zorder=1)
        handles = []
        for j in tool.judgements:
            st = judgement_style(j)
            handles.append(Line2D([], [], linestyle="", marker=st["marker"], markersize=8,
                                  markerfacecolor=st["color"], markeredgecolor=_INK,
                                  markeredgewidth=0.6, label=_legend_label(st)))
        below = offset_copy(ax.transAxes, fig=ax.figure, y=-4, units="points")
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0),
                  bbox_transform=below, ncol=len(handles), handletextpad=0.3,
                  columnspacing=1.2, title=f"{tool.name} " + ("judgement"
                                                             if tool.categorical_overall
                                                             else "item score"))
        key = "; ".join(f"{d}: {tool.label(d)}" for d in domains if d != "overall")
        if not tool.categorical_overall and "overall" in col_of:
            key += "; Overall: total score (0-16)"
        ax.annotate(plain_text(key), xy=(0.5, 0), xycoords="axes fraction",
                    xytext=(0, -44), textcoords="offset points", ha="center", va="top",
                    fontsize=MIN_FONT_SIZE, color="#444444", wrap=True)
        if title:
            ax.set_title(plain_text(title), pad=18)
    return ax



def rob_summary(summary_frame, ax=None, *, width=None, title=None):
    """Weighted summary bars: per domain, the share of the analysis weight at each judgement.

    Parameters
    ----------
    summary_frame : pandas.DataFrame
        From :func:`~metaanalysis.review.risk_of_bias.weighted_summary` (columns ``tool``,
        ``domain``, ``judgement``, ``share``; ``label`` names a domain when present). Domains are
        drawn top to bottom in order of appearance, judgements left to right likewise;
        judgements with no weight in any domain get no bar and no legend entry.
    ax : matplotlib Axes, optional
    width : "single", "double" or millimetres, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = rob_summary(weighted_summary(rob, weights, "PFS"))           # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.transforms import offset_copy

    from ._style import MIN_FONT_SIZE, plain_text, style, width_inches

    _need(summary_frame, ("tool", "domain", "judgement", "share"), "rob_summary")
    f = summary_frame
    if len(f) == 0:
        raise InputError("rob_summary: the summary frame is empty (no study of the analysis has "
                         "an assessment)")
    several = f["tool"].nunique() > 1
    rows = list(dict.fromkeys(zip(f["tool"], f["domain"])))
    labels_of = {}
    for t, d, lab in zip(f["tool"], f["domain"], f["label"] if "label" in f.columns
                         else f["domain"]):
        text = "Overall" if d == "overall" else (f"{d} {lab}" if lab != d else d)
        labels_of[(t, d)] = f"{t}: {text}" if several else text
    judgements = list(dict.fromkeys(f["judgement"]))
    share = {(t, d, j): float(s) for t, d, j, s in zip(f["tool"], f["domain"], f["judgement"],
                                                       f["share"])}
    with style():
        if ax is None:
            w = width_inches(width or "double")
            _, ax = plt.subplots(figsize=(w, 1.6 + 0.26 * len(rows)), layout="constrained")
        y = list(range(len(rows)))
        left = [0.0] * len(rows)
        for j in judgements:
            values = [100 * share.get((t, d, j), 0.0) for t, d in rows]
            if not any(v > 0 for v in values):
                continue
            st = judgement_style(j)
            bars = ax.barh(y, values, left=left, height=0.7, color=st["color"],
                           hatch=st["hatch"], edgecolor=_INK, linewidth=0.5,
                           label=_legend_label(st))
            for bar, v, l0 in zip(bars, values, left):
                if v >= 12:
                    ax.text(l0 + v / 2, bar.get_y() + bar.get_height() / 2, f"{v:.0f}%",
                            ha="center", va="center", fontsize=MIN_FONT_SIZE,
                            color=st["text_color"], fontweight="bold",
                            bbox=dict(boxstyle="round,pad=0.1", fc=st["color"], ec="none"))
            left = [a + b for a, b in zip(left, values)]
        ax.set_yticks(y)
        ax.set_yticklabels([plain_text(labels_of[r]) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(0, 100)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("Share of the analysis weight (%)")
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        below = offset_copy(ax.transAxes, fig=ax.figure, y=-30, units="points")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, ncol=5,
                  handletextpad=0.4, columnspacing=1.2)
        if ax.figure.get_layout_engine() is None:
            pass  # an Axes the caller laid out: leave its layout alone
        if title:
            ax.set_title(plain_text(title))
    return ax
