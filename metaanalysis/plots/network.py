"""Network meta-analysis figures: the network graph, each therapy against the reference (a forest
plot), the league table as a heat map, and the rankogram.

They lay out what :class:`metaanalysis.network.NetworkResult` and its ranking provide
(``nodes``, ``edges``, ``effects``, ``league()``, ``sucra()``); nothing is estimated here.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from . import _style as S

__all__ = ["network_graph", "network_forest", "network_forest_table", "league_heatmap", "rankogram"]


def _check_network(fit):
    for attr in ("treatments", "nodes", "edges", "effects"):
        if not hasattr(fit, attr):
            raise InputError(f"{type(fit).__name__} is not a network result (no {attr!r}); "
                             "give the result of metaanalysis.network_meta")


def _graph_width_in(T: int, width) -> float:
    """Width of the network graph: given, or from the number of treatments (single column for a
    few, growing by 12 mm a treatment up to a double column)."""
    if width is not None:
        return S.width_inches(width)
    mm = min(max(S.JOURNAL_WIDTHS_MM["single"], 40.0 + 12.0 * T), S.JOURNAL_WIDTHS_MM["double"])
    return mm / S.MM_PER_INCH


def network_graph(fit, ax=None, *, node_scale=1.0, width=None):
    """The network: a node per treatment, a line per directly compared pair.

    Line width follows the number of studies (printed on the line), node area the number of
    patients (printed under the name; all equal when unknown). A star -- every trial against the
    reference, as in placebo-controlled reviews -- is drawn with the reference in the centre;
    other networks on a circle, reference at the top. Names at 8 pt, counts at 7 pt. The figure
    is sized from the number of treatments (``width`` overrides). Returns the Axes (gids
    ``network-edges``, ``network-nodes``, ``network-labels``)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    _check_network(fit)
    with S.style():
        nodes = fit.nodes
        edges = fit.edges
        names = list(fit.treatments)
        T = len(names)
        ref = getattr(fit, "reference", names[0])
        pairs = {frozenset((a, b)) for a, b in zip(edges["treat1"], edges["treat2"])}
        star = (ref in names and T > 2 and all(ref in p for p in pairs)
                and len(pairs) == T - 1)
        if star:  # the reference in the centre, the others around it, first at the top
            others = [n for n in names if n != ref]
            ang_o = np.pi / 2 - 2 * np.pi * np.arange(T - 1) / (T - 1)
            pos = {n: (math.cos(a), math.sin(a)) for n, a in zip(others, ang_o)}
            pos[ref] = (0.0, 0.0)
            ang = {n: a for n, a in zip(others, ang_o)}
            ang[ref] = None
        else:
            ang_all = np.pi / 2 - 2 * np.pi * np.arange(T) / T
            pos = {n: (math.cos(a), math.sin(a)) for n, a in zip(names, ang_all)}
            ang = dict(zip(names, ang_all))
        if ax is None:
            w = _graph_width_in(T, width)
            fig = plt.figure(figsize=(w, w * 0.8), layout="constrained")
            ax = fig.add_subplot()
        segs = [[pos[a], pos[b]] for a, b in zip(edges["treat1"], edges["treat2"])]
        ns = edges["n_studies"].to_numpy(float)
        lw = 0.8 + 2.6 * (ns - ns.min()) / (ns.max() - ns.min()) if len(ns) and ns.max() > ns.min() else np.full(len(ns), 1.5)
        lc = LineCollection(segs, linewidths=lw, colors=S.GREY, zorder=1, capstyle="round")
        lc.set_gid("network-edges")
        ax.add_collection(lc)
        for (a, b), n in zip(zip(edges["treat1"], edges["treat2"]), ns):
            (x1, y1), (x2, y2) = pos[a], pos[b]
            f = 0.55 if star else 0.5  # on a star, nearer the outer node: the centre is crowded
            xa, ya = (x1 + f * (x2 - x1), y1 + f * (y2 - y1)) if a == ref else (
                x2 + f * (x1 - x2), y2 + f * (y1 - y2))
            ax.text(xa, ya, S.plain_text(f"{int(n)}"), fontsize=S.SMALL_FONT_SIZE,
                    ha="center", va="center", color=S.INK,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"),
                    zorder=2).set_gid("network-edge-count")
        npat = nodes.set_index("treatment").reindex(names)["n_patients"].to_numpy(float)
        known = np.isfinite(npat).all() and npat.max() > 0
        area = 60 + 440 * npat / npat.max() if known else np.full(T, 160.0)
        xy = np.array([pos[n] for n in names])
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=area * node_scale, color=S.PALETTE[0],
                        edgecolors="white", linewidths=0.8, zorder=3)
        sc.set_gid("network-nodes")
        for n, (x, y), npt, ar in zip(names, xy, npat, area):
            a = ang[n]
            label = n + (f"\n{int(npt)} patients" if known else "")
            r_pt = math.sqrt(ar * node_scale) / 2 + 3.0  # node radius + a gap, points
            if a is None:  # the centre: name under the node
                ha, va, dx, dy = "center", "top", 0.0, -r_pt
            else:
                c, s_ = math.cos(a), math.sin(a)
                ha = "center" if abs(c) < 0.3 else ("left" if c > 0 else "right")
                va = "center" if abs(s_) < 0.3 else ("bottom" if s_ > 0 else "top")
                dx, dy = c * r_pt, s_ * r_pt
            # the centre's name sits over the lines that leave it: on a white ground
            box = dict(boxstyle="round,pad=0.2", fc="white", ec="none") if a is None else None
            ax.annotate(S.plain_text(label), (x, y), xytext=(dx, dy), textcoords="offset points",
                        ha=ha, va=va, fontsize=S.FONT_SIZE, linespacing=1.15,
                        multialignment="center", zorder=4, bbox=box).set_gid("network-labels")
        ax.set_xlim(-1.75, 1.75)
        ax.set_ylim(-1.35, 1.35)
        ax.set_aspect("equal")
        ax.set_axis_off()
        return ax


def network_forest_table(fit, digits=2):
    """Rows of the network forest plot (each treatment against the reference) in the layout of
    :func:`metaanalysis.plots.forest_table`."""
    import pandas as pd

    _check_network(fit)
    eff = fit.effects
    ratio = bool(getattr(fit, "is_ratio", False))
    cols = ("ratio", "ratio_ci_low", "ratio_ci_high") if ratio else ("estimate", "ci_low", "ci_high")
    rows = []
    for r in eff.itertuples(index=False):
        e, lo, hi = (float(getattr(r, c)) for c in cols)
        rows.append({
            "kind": "estimate", "group": None, "label": str(r.treatment), "estimate": e,
            "ci_low": lo, "ci_high": hi, "weight": math.nan,
            "ci_text": S.interval_text(S.fmt_num(e, digits), S.fmt_num(lo, digits),
                                       S.fmt_num(hi, digits)),
            "weight_text": "", "model": None,
        })
    out = pd.DataFrame(rows)
    measure = str(fit.measure).upper()
    out.attrs.update({"measure": measure, "scale": S.scale_of(measure) if ratio else "linear",
                      "level": fit.level, "columns": [], "label_header": "Treatment",
                      "ci_header": f"{S.short_label(measure)} vs {fit.reference} ({fit.level:g}% CI)",
                      "common": False})
    return out


def network_forest(fit, ax=None, **kwargs):
    """Each treatment against the reference (network estimates) as a forest plot; keywords as
    :func:`metaanalysis.plots.forest`. Returns the Axes."""
    from .forest import forest

    table = network_forest_table(fit, digits=kwargs.pop("digits", 2))
    return forest(None, ax=ax, table=table, show_weight=False, **kwargs)


def league_heatmap(fit, ax=None, *, digits=2, cmap="RdBu_r", width=None):
    """League table as a heat map: cell (row i, column j) holds the effect of treatment i against
    treatment j with its interval (``fit.league("wide")``), coloured by the estimate on the
    analysis scale (log scale for ratios; blue below the null, red above). Text is 7 pt; each cell
    is as wide as its widest text, so the figure grows with the number of treatments (8 treatments
    fill a double column). Returns the Axes (gid ``league-cells``)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    _check_network(fit)
    with S.style():
        names = list(fit.treatments)
        T = len(names)
        long = fit.league("long")
        M = np.full((T, T), np.nan)
        idx = {n: i for i, n in enumerate(names)}
        for r in long.itertuples(index=False):
            M[idx[r.treat1], idx[r.treat2]] = r.estimate
        ratio = bool(getattr(fit, "is_ratio", False))
        size = S.MIN_FONT_SIZE
        cols = ("ratio", "ratio_ci_low", "ratio_ci_high") if ratio else ("estimate", "ci_low", "ci_high")
        texts = {}
        for r in long.itertuples(index=False):
            e, lo, hi = (getattr(r, c) for c in cols)
            texts[(idx[r.treat1], idx[r.treat2])] = (S.fmt_num(e, digits),
                                                     S.range_text(S.fmt_num(lo, digits),
                                                                  S.fmt_num(hi, digits)))
        if ax is None:
            from .forest import _text_width_in

            widest = max([_text_width_in(t, size) for pair in texts.values() for t in pair]
                         + [_text_width_in(n, size, "bold") for n in names] + [0.3])
            cell_w = widest + 0.06
            cell_h = max(3.0 * size * 1.2 / 72.0, 0.36)
            label_w = max(_text_width_in(n, size + 0.5) for n in names) + 0.15
            w = label_w + T * cell_w + 0.15
            h = label_w * 0.75 + T * cell_h + 0.35
            fig = plt.figure(figsize=(w, h), layout="constrained")
            ax = fig.add_subplot()
        vmax = float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0
        im = ax.imshow(M, cmap=cmap, norm=TwoSlopeNorm(0.0, -vmax or -1, vmax or 1),
                       interpolation="none", aspect="auto")
        im.set_gid("league-cells")
        for (i, j), (e_t, ci_t) in texts.items():
            strong = abs(M[i, j]) > 0.6 * vmax
            ax.text(j, i, S.plain_text(f"{e_t}\n{ci_t}"),
                    ha="center", va="center", fontsize=size, color="white" if strong else S.INK,
                    linespacing=1.1)
        for i, n in enumerate(names):
            ax.text(i, i, S.plain_text(n), ha="center", va="center", fontsize=size,
                    fontweight="bold", wrap=True)
        shown = [S.plain_text(n) for n in names]
        ax.set_xticks(range(T), shown, rotation=45, ha="left", fontsize=size + 0.5)
        ax.set_yticks(range(T), shown, fontsize=size + 0.5)
        ax.xaxis.tick_top()
        for s in ax.spines.values():
            s.set_visible(False)
        ax.tick_params(length=0)
        ax.set_xticks(np.arange(T + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(T + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=1.0)
        ax.tick_params(which="minor", length=0)
        meas = S.short_label(str(fit.measure).upper())
        ax.set_xlabel(S.plain_text(f"{meas} of row against column ({fit.level:g}% CI)"),
                      fontsize=S.FONT_SIZE)
        return ax


def rankogram(ranking, ax=None, *, seed=0, n_sim=10000, cumulative=False, width=None):
    """Rank probabilities of each treatment (rank 1 = best), one line per treatment, labelled
    with its SUCRA, best first.

    ``ranking`` is a :class:`~metaanalysis.network.RankingResult` (``fit.sucra(seed=...)``). A
    network result is accepted too: its own ``sucra(n_sim=, seed=)`` method is called (the
    simulation lives in the network box; pass the RankingResult to reuse it), with ``seed=0`` by
    default so that the same call draws the same figure. Returns the Axes (gid
    ``rankogram-lines``).
    """
    import matplotlib.pyplot as plt

    if not hasattr(ranking, "rank_probabilities"):
        if hasattr(ranking, "sucra") and callable(ranking.sucra):
            ranking = ranking.sucra(n_sim=n_sim, seed=seed)
        else:
            raise InputError(f"{type(ranking).__name__} is not a ranking result; "
                             "give fit.sucra(seed=...) of a network_meta fit")
    with S.style():
        wide = ranking.rank_probabilities("wide")
        if cumulative:
            wide = wide.cumsum(axis=1)
        sucra = ranking.sucra
        T = wide.shape[1]
        labels = [f"{name} (SUCRA {100 * sucra[name]:.0f}%)" for name in sucra.index]
        if ax is None:
            from .forest import _text_width_in

            # a panel of 3 in (wider with many ranks) and the legend beside it
            legend_w = max(_text_width_in(t, S.SMALL_FONT_SIZE) for t in labels) + 0.55
            panel_w = max(2.6, 0.32 * T + 0.6)
            w = S.width_inches(width) if width is not None else min(
                panel_w + legend_w + 0.5, S.width_inches("double"))
            h = max(2.4, 0.19 * T + 0.8)
            fig = plt.figure(figsize=(w, h), layout="constrained")
            ax = fig.add_subplot()
        ranks = np.arange(1, T + 1)
        for i, (name, lab) in enumerate(zip(sucra.index, labels)):
            # colour, line style and marker all differ: the lines stay apart in greyscale
            (ln,) = ax.plot(ranks, wide.loc[name].to_numpy(float),
                            marker=S.MARKERS[i % len(S.MARKERS)], ms=3.5, lw=1.0,
                            ls=S.LINESTYLES[i % len(S.LINESTYLES)],
                            color=S.PALETTE[i % len(S.PALETTE)], label=S.plain_text(lab))
            ln.set_gid("rankogram-lines")
        ax.set_xticks(ranks)
        ax.set_xlabel(S.plain_text("Rank (1 = best)"))
        ax.set_ylabel(S.plain_text("Cumulative probability" if cumulative else "Probability"))
        ax.set_ylim(0, 1.02)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.50", "0.75", "1"])
        ax.legend(fontsize=S.SMALL_FONT_SIZE, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  handlelength=2.6, borderaxespad=0.0, title=S.plain_text("Best first"),
                  alignment="left")
        return ax
