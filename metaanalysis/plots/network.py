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


def network_graph(fit, ax=None, *, node_scale=1.0, width=None):
    """The network: treatments on a circle (reference at the top, then in ``treatments`` order),
    a line per directly compared pair with width following the number of studies, node area
    following the number of patients (all equal when unknown). Returns the Axes (gids
    ``network-edges``, ``network-nodes``)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    _check_network(fit)
    with S.style():
        nodes = fit.nodes
        edges = fit.edges
        names = list(fit.treatments)
        T = len(names)
        ang = np.pi / 2 - 2 * np.pi * np.arange(T) / T
        pos = {n: (math.cos(a), math.sin(a)) for n, a in zip(names, ang)}
        if ax is None:
            w = S.width_inches(width) if width is not None else S.width_inches("single")
            fig = plt.figure(figsize=(w, w * 0.9), layout="constrained")
            ax = fig.add_subplot()
        segs = [[pos[a], pos[b]] for a, b in zip(edges["treat1"], edges["treat2"])]
        ns = edges["n_studies"].to_numpy(float)
        lw = 0.8 + 2.6 * (ns - ns.min()) / (ns.max() - ns.min()) if len(ns) and ns.max() > ns.min() else np.full(len(ns), 1.5)
        lc = LineCollection(segs, linewidths=lw, colors=S.GREY, zorder=1, capstyle="round")
        lc.set_gid("network-edges")
        ax.add_collection(lc)
        for (a, b), n in zip(zip(edges["treat1"], edges["treat2"]), ns):
            if n > 1:
                (x1, y1), (x2, y2) = pos[a], pos[b]
                ax.text((x1 + x2) / 2, (y1 + y2) / 2, S.plain_text(f"{int(n)}"),
                        fontsize=S.SMALL_FONT_SIZE - 1,
                        ha="center", va="center", color=S.INK,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"), zorder=2)
        npat = nodes.set_index("treatment").reindex(names)["n_patients"].to_numpy(float)
        if np.isfinite(npat).all() and npat.max() > 0:
            area = 40 + 360 * npat / npat.max()
        else:
            area = np.full(T, 120.0)
        xy = np.array([pos[n] for n in names])
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=area * node_scale, color=S.PALETTE[0],
                        edgecolors="white", linewidths=0.8, zorder=3)
        sc.set_gid("network-nodes")
        for n, (x, y), a in zip(names, xy, ang):
            r = 1.0 + 0.16
            ha = "center" if abs(math.cos(a)) < 0.3 else ("left" if math.cos(a) > 0 else "right")
            va = "center" if abs(math.sin(a)) < 0.3 else ("bottom" if math.sin(a) > 0 else "top")
            ax.text(r * math.cos(a), r * math.sin(a), S.plain_text(n), ha=ha, va=va,
                    fontsize=S.SMALL_FONT_SIZE)
        ax.set_xlim(-1.9, 1.9)
        ax.set_ylim(-1.45, 1.45)
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
            "ci_text": f"{S.fmt_num(e, digits)} [{S.fmt_num(lo, digits)}, {S.fmt_num(hi, digits)}]",
            "weight_text": "", "model": None,
        })
    out = pd.DataFrame(rows)
    measure = str(fit.measure).upper()
    out.attrs.update({"measure": measure, "scale": S.scale_of(measure) if ratio else "linear",
                      "level": fit.level, "columns": [], "label_header": "Treatment",
                      "ci_header": f"{S.short_label(measure)} vs {fit.reference} [{fit.level:g}% CI]",
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
    analysis scale (log scale for ratios; blue below the null, red above). Returns the Axes
    (gid ``league-cells``)."""
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
        if ax is None:
            cell = 0.62
            side = max(S.width_inches("single"), T * cell + 0.9)
            fig = plt.figure(figsize=(side, side * 0.92), layout="constrained")
            ax = fig.add_subplot()
        vmax = float(np.nanmax(np.abs(M))) if np.isfinite(M).any() else 1.0
        im = ax.imshow(M, cmap=cmap, norm=TwoSlopeNorm(0.0, -vmax or -1, vmax or 1),
                       interpolation="nearest")
        im.set_gid("league-cells")
        size = max(4.5, min(S.SMALL_FONT_SIZE - 1, 40.0 / T))
        cols = ("ratio", "ratio_ci_low", "ratio_ci_high") if ratio else ("estimate", "ci_low", "ci_high")
        for r in long.itertuples(index=False):
            i, j = idx[r.treat1], idx[r.treat2]
            e, lo, hi = (getattr(r, c) for c in cols)
            strong = abs(M[i, j]) > 0.6 * vmax
            ax.text(j, i, S.plain_text(f"{S.fmt_num(e, digits)}\n({S.fmt_num(lo, digits)}"
                                       f"\u2013{S.fmt_num(hi, digits)})"),
                    ha="center", va="center", fontsize=size, color="white" if strong else S.INK,
                    linespacing=1.0)
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
        ax.set_xlabel(S.plain_text(f"{meas} of row against column [{fit.level:g}% CI]"),
                      fontsize=S.SMALL_FONT_SIZE)
        return ax


def rankogram(ranking, ax=None, *, seed=None, n_sim=10000, cumulative=False, width=None):
    """Rank probabilities of each treatment (rank 1 = best), one line per treatment, labelled
    with its SUCRA, best first.

    ``ranking`` is a :class:`~metaanalysis.network.RankingResult` (``fit.sucra(seed=...)``). A
    network result is accepted too: its own ``sucra(n_sim=, seed=)`` method is called (the
    simulation lives in the network box; pass the RankingResult to reuse it). Returns the Axes
    (gid ``rankogram-lines``).
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
        if ax is None:
            w = S.width_inches(width) if width is not None else S.width_inches("single")
            fig = plt.figure(figsize=(w, w * 0.75), layout="constrained")
            ax = fig.add_subplot()
        ranks = np.arange(1, T + 1)
        for i, name in enumerate(sucra.index):
            (ln,) = ax.plot(ranks, wide.loc[name].to_numpy(float), marker="o", ms=3, lw=1.0,
                            color=S.PALETTE[i % len(S.PALETTE)],
                            label=S.plain_text(f"{name} (SUCRA {100 * sucra[name]:.0f}%)"))
            ln.set_gid("rankogram-lines")
        ax.set_xticks(ranks)
        ax.set_xlabel(S.plain_text("Rank (1 = best)"))
        ax.set_ylabel(S.plain_text("Cumulative probability" if cumulative else "Probability"))
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=S.SMALL_FONT_SIZE - 1, loc="best", handlelength=1.5)
        return ax
