"""Kaplan-Meier figures: curves with interval bands and censoring ticks, the number-at-risk table
aligned under the time axis, digitised points overlaid, curves modelled from medians (dashed).

The plot lays out tables the survival box computed: :func:`metaanalysis.survival.km_table`
(time, survival, ci_low, ci_high, n_risk, events, censored), :func:`metaanalysis.survival.risk_table`
(time and one column per arm) and a parametric curve's ``survival_table(times)``. Nothing is
estimated here; the number at risk is never counted at tick positions (lifelines issue #1624).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from . import _style as S

__all__ = ["km_plot", "modelled_curves_plot", "modelled_curves_panels"]


def _as_dict(curves, what):
    if curves is None:
        return {}
    if isinstance(curves, dict):
        return {str(k): v for k, v in curves.items()}
    import pandas as pd

    if isinstance(curves, pd.DataFrame):
        return {"": curves}
    raise InputError(f"{what} must be a DataFrame or a dict {{name: DataFrame}}")


def _check_cols(name, frame, cols, what):
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"{what}[{name!r}] lacks column(s) {missing}; expected {list(cols)}")


def _text_width_in(s, size, weight="normal"):
    from .forest import _text_width_in as tw

    return tw(str(s), float(size), weight)


def _step(time, surv):
    """x, y of the post-step function starting at (0, 1) if the table does not."""
    t = np.asarray(time, float)
    s = np.asarray(surv, float)
    if len(t) == 0 or t[0] > 0:
        t = np.r_[0.0, t]
        s = np.r_[1.0, s]
    return t, s


# More legend entries than this go outside the panel (legend=True); legend="outside" forces it.
LEGEND_INSIDE_MAX = 4


def km_plot(curves, ax=None, *, risk=None, digitised=None, modelled=None, band=True,
            censor_ticks=True, colors=None, xlabel="Time (months)", ylabel="Survival probability",
            percent=False, xlim=None, legend=True, width=None, title=None, styles=None,
            height=None):
    """Kaplan-Meier curves of one or several arms or therapies on one axis.

    Parameters
    ----------
    curves : DataFrame or dict {name: DataFrame}
        :func:`metaanalysis.survival.km_table` of each arm (columns ``time``, ``survival``,
        ``ci_low``, ``ci_high`` and, for censoring ticks, ``censored``).
    ax : Axes, optional
        Draw into this Axes' area (the number-at-risk table takes its lower part).
    risk : DataFrame, optional
        :func:`metaanalysis.survival.risk_table` (``time`` and one column per arm, named as in
        ``curves``): printed under the time axis, each number under its time.
    digitised : DataFrame or dict, optional
        Digitised points (``time``, ``survival``) to overlay, to check a reconstruction.
    modelled : DataFrame or dict, optional
        Curves from medians (a parametric curve's ``survival_table``): dashed, labelled
        "(modelled)", with their band when it has ``ci_low``/``ci_high``.
    band, censor_ticks : bool
        Draw the interval band; ticks where patients were censored.
    colors : dict, optional
        ``{name: colour}``; names missing get the colour-blind-safe palette in order.
    styles : dict, optional
        ``{name: {"ls": linestyle, "marker": marker}}`` for the modelled curves (default: dashed,
        no marker), so that curves stay apart in greyscale and for every colour vision.
    legend : bool, "outside" or "direct"
        A legend (inside the panel for a few curves, right of it for more, or ``"outside"``), or
        ``"direct"``: each curve named right of the panel at the height where it ends, names
        spread so they never overlap, a thin leader line from curve to name.
    height : float, optional
        Height of the curve panel in inches (default 2.4).
    percent : bool
        Survival in percent.
    width : "single", "double" or mm, optional
        Figure width when ``ax`` is None (default single column).

    Returns
    -------
    matplotlib.axes.Axes
        The curve panel (gids ``km-curve``, ``km-band``, ``km-censor``, ``km-digitised``,
        ``km-modelled``, ``km-risk``).
    """
    curves = _as_dict(curves, "curves")
    modelled = _as_dict(modelled, "modelled")
    digitised = _as_dict(digitised, "digitised")
    if not curves and not modelled:
        raise InputError("km_plot needs at least one curve (curves= or modelled=)")
    for n, f in curves.items():
        _check_cols(n, f, ("time", "survival"), "curves")
    for n, f in modelled.items():
        _check_cols(n, f, ("time", "survival"), "modelled")
    names = list(dict.fromkeys(list(curves) + list(modelled)))
    palette = dict(colors or {})
    free = [c for c in S.PALETTE if c not in palette.values()]
    for n in names:
        if n not in palette:
            palette[n] = free.pop(0) if free else S.INK
    scale = 100.0 if percent else 1.0
    with S.style():
        return _draw_km(curves, modelled, digitised, risk, ax, palette, scale, band, censor_ticks,
                        xlabel, ylabel, xlim, legend, width, title, dict(styles or {}),
                        height)


def _draw_km(curves, modelled, digitised, risk, ax, palette, scale, band, censor_ticks, xlabel,
             ylabel, xlim, legend, width, title, styles, height):
    import matplotlib.pyplot as plt
    from matplotlib.transforms import Bbox, ScaledTranslation, blended_transform_factory

    from .forest import _PanelLocator

    size = S.FONT_SIZE
    small = S.SMALL_FONT_SIZE
    arms = [c for c in risk.columns if c != "time"] if risk is not None else []
    if risk is not None and "time" not in risk.columns:
        raise InputError("risk must be a risk_table DataFrame with a 'time' column")
    row_in = small * 1.45 / 72
    # margins (inches): left for the y tick labels and label, or the risk table's arm names
    label_w = max([_text_width_in(a or "At risk", small) for a in arms] or [0.0])
    # the count at time 0 is centred on the axis: the arm names end left of its half width
    first_w = 0.0
    if arms:
        first = risk[arms].iloc[0]
        first_w = max(_text_width_in(f"{int(n)}", small) for n in first if n == n) / 2
    name_gap = first_w + 0.06
    left_in = max(0.55, label_w + name_gap + 0.06)
    right_in = 0.12
    top_in = 0.1 + (size * 1.6 / 72 if title else 0.0)
    axis_in = (3.0 + 3.5 + small * 1.3 + size * 1.5) / 72 + 0.04   # ticks, tick labels, xlabel
    risk_in = (len(arms) + 1.3) * row_in if arms else 0.0
    bottom_in = axis_in + risk_in + 0.06
    if ax is None:
        w = S.width_inches(width) if width is not None else S.width_inches("single")
        h = (2.4 if height is None else float(height)) + top_in + bottom_in
        fig = plt.figure(figsize=(w, h))
        ax = fig.add_axes([0, 0, 1, 1])
        outer = Bbox.from_extents(0, 0, 1, 1)
    else:
        fig = ax.figure
        outer = ax.get_position(original=True)
    locator = _PanelLocator(outer, left_in, right_in, bottom_in, top_in)
    locator.keeps_height = False
    ax.set_axes_locator(locator)
    ax.set_position(locator.bbox(fig))

    tmax = 0.0
    for name, f in curves.items():
        c = palette[name]
        t, s = _step(f["time"], f["survival"])
        tmax = max(tmax, float(np.nanmax(t)))
        if band and {"ci_low", "ci_high"} <= set(f.columns):
            _, lo = _step(f["time"], f["ci_low"])
            _, hi = _step(f["time"], f["ci_high"])
            ok = np.isfinite(lo) & np.isfinite(hi)
            poly = ax.fill_between(t[ok], scale * lo[ok], scale * hi[ok], step="post", color=c,
                                   alpha=0.15, lw=0, zorder=1)
            poly.set_gid("km-band")
        (ln,) = ax.step(t, scale * s, where="post", color=c, lw=1.1, zorder=3,
                        label=S.plain_text(name) if name else None)
        ln.set_gid("km-curve")
        if censor_ticks and "censored" in f.columns:
            m = np.asarray(f["censored"], float) > 0
            if m.any():
                sc = ax.scatter(np.asarray(f["time"], float)[m],
                                scale * np.asarray(f["survival"], float)[m], marker="|",
                                s=(0.6 * size) ** 2, color=c, linewidths=0.8, zorder=4)
                sc.set_gid("km-censor")
    for name, f in modelled.items():
        c = palette[name]
        t = np.asarray(f["time"], float)
        tmax = max(tmax, float(np.nanmax(t)))
        if band and {"ci_low", "ci_high"} <= set(f.columns):
            poly = ax.fill_between(t, scale * np.asarray(f["ci_low"], float),
                                   scale * np.asarray(f["ci_high"], float), color=c, alpha=0.10,
                                   lw=0, zorder=1)
            poly.set_gid("km-band")
        st = styles.get(name, {})
        marker = st.get("marker")
        (ln,) = ax.plot(t, scale * np.asarray(f["survival"], float), color=c, lw=1.1,
                        ls=st.get("ls", (0, (4, 2))), zorder=3, marker=marker or "None",
                        markevery=(0.08 + 0.04 * st.get("order", 0), 0.2) if marker else None,
                        ms=3.5, markerfacecolor="white", markeredgewidth=0.9,
                        label=S.plain_text(f"{name} (modelled)" if name else "modelled"))
        ln.set_gid("km-modelled")
        ln._ma_name = name
    for name, f in digitised.items():
        _check_cols(name, f, ("time", "survival"), "digitised")
        sc = ax.scatter(np.asarray(f["time"], float), scale * np.asarray(f["survival"], float),
                        s=9, facecolors="none", edgecolors=palette.get(name, S.INK), linewidths=0.6,
                        zorder=5,
                        label=S.plain_text(f"{name} (digitised)" if name else "digitised"))
        sc.set_gid("km-digitised")

    if risk is not None:  # the axis ends at the last time of the risk table
        tmax = float(np.nanmax(risk["time"]))
    ax.set_xlim(*(xlim if xlim is not None else (0, tmax * 1.02 if tmax > 0 else 1)))
    ax.set_ylim(0, 1.02 * scale)
    if risk is not None:
        ax.set_xticks(np.asarray(risk["time"], float))
        ax.xaxis.set_major_formatter(_time_formatter())
    ax.set_xlabel(S.plain_text(xlabel), fontsize=size)
    ax.set_ylabel(S.plain_text(ylabel + (" (%)" if scale == 100 else "")), fontsize=size)
    ax.tick_params(labelsize=small)
    if title:
        ax.set_title(S.plain_text(title), loc="left", fontsize=size, fontweight="bold")

    if arms:
        y0 = -(axis_in + 0.05)
        head = ax.text(0.0, 0.0, S.plain_text("Number at risk"), ha="left", va="top",
                       fontsize=small,
                       fontweight="bold", clip_on=False,
                       transform=ax.transAxes + ScaledTranslation(-left_in + 0.04, y0,
                                                                 fig.dpi_scale_trans))
        head.set_gid("km-risk")
        x_data = blended_transform_factory(ax.transData, ax.transAxes)
        lo, hi = ax.get_xlim()
        for j, arm in enumerate(arms):
            dy = y0 - (j + 1) * row_in
            ax.text(0.0, 0.0, S.plain_text(arm), ha="right", va="top", fontsize=small,
                    clip_on=False,
                    color=palette.get(arm, S.INK),
                    transform=ax.transAxes + ScaledTranslation(-name_gap, dy, fig.dpi_scale_trans)
                    ).set_gid("km-risk-label")
            for t, n in zip(risk["time"], risk[arm]):
                if not (lo - 1e-9 <= t <= hi + 1e-9) or (isinstance(n, float) and math.isnan(n)):
                    continue
                ax.text(t, 0.0, S.plain_text(f"{int(n)}"), ha="center", va="top",
                        fontsize=small, clip_on=False,
                        transform=x_data + ScaledTranslation(0, dy, fig.dpi_scale_trans)
                        ).set_gid("km-risk")
    n_entries = len(curves) + len(modelled) + (1 if digitised else 0)
    if legend == "direct":
        _direct_labels(ax, small)
    elif legend and (n_entries > 1 or digitised):
        # Beyond a handful of curves a legend inside the panel covers them: put it to the right.
        outside = legend == "outside" or (legend is True and n_entries > LEGEND_INSIDE_MAX)
        if outside:
            leg = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=small,
                            handlelength=1.8, borderaxespad=0.0, frameon=False)
            _make_room_right(ax, leg)
        else:
            ax.legend(loc="best", fontsize=small, handlelength=1.8, borderaxespad=0.2)
    return ax


def _direct_labels(ax, size):
    """Name every curve right of the panel, at the height where it ends (spread apart so that no
    two names overlap), with a thin leader line from the curve's end to its name."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    fig = ax.figure
    lines = [ln for ln in ax.get_lines() if ln.get_gid() in ("km-modelled", "km-curve")]
    if not lines:
        return
    y0, y1 = ax.get_ylim()
    H = ax.get_position().height * fig.get_size_inches()[1]  # panel height, inches
    step = size * 1.25 / 72.0 / H * (y1 - y0)                # one line of text, data units
    ends = []
    for ln in lines:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        ok = np.isfinite(x) & np.isfinite(y)
        name = getattr(ln, "_ma_name", None) or ln.get_label()
        name = name[:-len(" (modelled)")] if name.endswith(" (modelled)") else name
        ends.append([float(y[ok][-1]), name, ln])
    ends.sort(key=lambda e: -e[0])
    # spread: top down, each name at least one line below the previous; then shift the block up
    # if it runs below the axis, and spread again from the bottom
    pos = [e[0] for e in ends]
    for i in range(1, len(pos)):
        pos[i] = min(pos[i], pos[i - 1] - step)
    if pos and pos[-1] < y0 + step / 2:
        pos[-1] = y0 + step / 2
        for i in range(len(pos) - 2, -1, -1):
            pos[i] = max(pos[i], pos[i + 1] + step)
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    width = 0.0
    for (yend, name, ln), y in zip(ends, pos):
        lead = 0.06
        ax.annotate("", xy=(1.0, yend), xycoords=trans, xytext=(1.0, y),
                    textcoords=trans + ScaledTranslation(lead + 0.05, 0, fig.dpi_scale_trans),
                    arrowprops=dict(arrowstyle="-", color=ln.get_color(), lw=0.6,
                                    shrinkA=0, shrinkB=0)).set_gid("km-leader")
        t = ax.text(1.0, y, S.plain_text(name), transform=trans + ScaledTranslation(
            lead + 0.08, 0, fig.dpi_scale_trans), ha="left", va="center", fontsize=size,
            color=S.INK, clip_on=False)
        t.set_gid("km-direct-label")
        width = max(width, _text_width_in(name, size))
    locator = ax.get_axes_locator()
    if locator is not None and hasattr(locator, "right_in"):
        locator.right_in = max(locator.right_in, width + 0.08 + 0.06 + 0.12)
        ax.set_position(locator.bbox(fig))


def _make_room_right(ax, legend):
    """Narrow the panel so that a legend placed right of it stays inside the figure."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    need_in = legend.get_window_extent(renderer).width / fig.dpi + 0.12
    locator = ax.get_axes_locator()
    if locator is not None and hasattr(locator, "right_in"):
        # The panel is placed by its locator at every draw: widen the locator's right margin.
        locator.right_in = max(locator.right_in, need_in)
        ax.set_position(locator.bbox(fig))


def _time_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:g}")


def modelled_curves_plot(table, ax=None, *, group="label", color_by="therapy", times=None,
                         xlabel="Time (months)", ylabel="Survival probability (modelled)",
                         legend="direct", style_order=None, **kwargs):
    """Curves from reported medians, several arms or therapies on one axis ("modelled").

    ``table`` is a long DataFrame (``time``, ``survival``, optional ``ci_low``/``ci_high``) with a
    column naming each curve (``group``, default ``label``) and optionally one giving its style
    group (``color_by``, default ``therapy``). Each therapy has its own colour from the
    colour-blind-safe palette *and* its own line style, so curves stay apart in greyscale; two
    curves of one therapy differ by their markers (open circle, square, ...). Curves are named
    directly at their ends (``legend="direct"``) or in a legend (``legend=True`` or
    ``"outside"``). ``style_order`` lists the groups in the order they take colours and styles,
    so that several panels give a therapy the same look. Other keywords go to :func:`km_plot`.
    Returns the Axes.
    """
    if group not in table.columns:
        raise InputError(f"table has no {group!r} column naming each curve")
    modelled = {str(k): g.sort_values("time") for k, g in table.groupby(group, sort=False)}
    colors, styles = None, {}
    if color_by in table.columns:
        by = list(dict.fromkeys([str(b) for b in (style_order or ())]
                                + list(table[color_by].astype(str))))
        pal = {b: S.PALETTE[i % len(S.PALETTE)] for i, b in enumerate(by)}
        ls = {b: S.LINESTYLES[i % len(S.LINESTYLES)] for i, b in enumerate(by)}
        first = table.drop_duplicates(group)
        colors = {str(r[group]): pal[str(r[color_by])] for _, r in first.iterrows()}
        count: dict = {}
        members = first[color_by].astype(str).value_counts()
        for _, r in first.iterrows():
            b = str(r[color_by])
            j = count.get(b, 0)
            count[b] = j + 1
            styles[str(r[group])] = {"ls": ls[b], "order": j,
                                     "marker": S.MARKERS[j % len(S.MARKERS)] if members[b] > 1 else None}
    return km_plot(None, ax=ax, modelled=modelled, colors=colors, xlabel=xlabel, ylabel=ylabel,
                   styles=styles, legend=legend, **kwargs)


def modelled_curves_panels(panels, *, color_by="therapy", width="double", panel_height=2.6,
                           **kwargs):
    """Several :func:`modelled_curves_plot` panels stacked in one figure (progression-free
    survival above overall survival, say), each therapy with the same colour, line style and
    markers in every panel, and the panels of equal width whatever the length of their curve
    names.

    ``panels`` maps a y-axis label to a long table as :func:`modelled_curves_plot` takes.
    Returns the list of panel Axes, top first.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise InputError("modelled_curves_panels needs at least one panel")
    order = sorted({str(b) for t in panels.values() if color_by in t.columns
                    for b in t[color_by]})
    n = len(panels)
    axes = []
    with S.style():
        fig = plt.figure(figsize=(S.width_inches(width), (panel_height + 0.6) * n + 0.2))
        for i, (ylabel, table) in enumerate(panels.items()):
            ax = fig.add_axes([0.0, 1.0 - (i + 1) / n, 1.0, 1.0 / n])
            modelled_curves_plot(table, ax=ax, color_by=color_by, ylabel=ylabel,
                                 style_order=order, **kwargs)
            axes.append(ax)
    locs = [a.get_axes_locator() for a in axes]
    right = max(loc.right_in for loc in locs)
    for a, loc in zip(axes, locs):
        loc.right_in = right
        a.set_position(loc.bbox(fig))
    return axes
