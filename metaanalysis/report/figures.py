"""Draw and save the report's figures (the plots module lays out what was computed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analyses import try_run


def _save(fig, stem: Path, formats) -> tuple:
    from ..plots import save_figure

    files = []
    svg = stem.with_suffix(".svg")
    save_figure(fig, svg)
    files.append(svg)
    for fmt in formats:
        if fmt == "svg":
            continue
        path = stem.with_suffix("." + fmt)
        save_figure(fig, path, dpi=300)
        files.append(path)
    return svg, files


# Seed of the rank-probability simulation (the same report gives the same rankogram).
RANK_SEED = 2024


def render_figures(review, network_fits, survival, folder: Path, *, formats=("svg", "png"),
                   funnel_min_k: int = 10) -> list:
    """Draw every figure into ``folder``; returns one dict per figure (key, name, caption, files).

    One forest plot per protocol analysis: a block per therapy, with a subtotal diamond where a
    therapy has two or more studies and no diamond across therapies (unless the protocol asks a
    class-effect question).
    """
    from ..plots import forest
    from ..plots.lifecycle import close_figure
    from ..review.analyses import therapy_groups

    out = []
    for run in review.runs:
        if not run.groups:
            continue
        a = run.analysis
        key = a.id
        target = (run.groups[0].fit if a.group_by == "none" else therapy_groups(run.groups))
        kwargs = {"favours": a.favours} if a.favours else {}
        if a.null is None:
            kwargs["ref"] = None
        ax = forest(target, title=a.title, columns=_columns(a, run.groups), **kwargs)
        svg, files = _save(ax.figure, folder / f"{key}_forest", formats)
        close_figure(ax)
        caption = (f"Forest plot: {a.title}. Squares: studies (area proportional to weight); "
                   + ("diamonds: pooled estimate of each therapy with its confidence interval "
                      "(no estimate across therapies)." if a.group_by == "therapy" else
                      "diamond: one estimate across therapies (class effect declared).")
                   + ("" if a.null is not None else " Descriptive: no test."))
        derived = any("round" in str(d) for g in run.groups for d in g.entries.get("derived", []))
        if derived:
            caption += (" * events back-calculated from a reported percentage (the source gives "
                        "no count).")
        out.append({"key": key, "name": f"{key}_forest", "caption": caption, "svg": svg,
                    "files": [str(f) for f in files]})
        for g in run.groups:
            if g.k >= funnel_min_k:
                out.append(_funnel_figure(g.id, g, folder, formats))
    out += _network_figures(network_fits, folder, formats)
    out += _survival_figures(survival, folder, formats)
    return out


def _funnel_figure(key, group, folder, formats) -> dict:
    """Contour-enhanced funnel plot with the trim-and-fill studies, on the pooled scale."""
    from ..plots import funnel
    from ..plots.lifecycle import close_figure
    from ..pooling import trim_and_fill

    fit = group.fit
    filled, _ = try_run(trim_and_fill, fit)
    ax = funnel(fit, contours=True, trimfill=filled)
    name = key.replace("/", "_") + "_funnel"
    svg, files = _save(ax.figure, folder / name, formats)
    close_figure(ax)
    k0 = "" if filled is None else f" Trim and fill ({filled.estimator}) adds {filled.k0} study(ies), drawn open."
    return {"key": group.analysis.id, "name": name, "svg": svg, "files": [str(f) for f in files],
            "caption": f"Contour-enhanced funnel plot: {group.analysis.title}, {group.group} "
                       "(shading: p < 0.10, 0.05, 0.01)." + k0}


def _columns(analysis, groups) -> dict:
    """Text columns beside the studies, in the order the groups list them."""
    years, second = [], []
    for g in groups:
        e = g.entries
        years += ["" if y != y else str(int(y)) for y in e.get("year", [float("nan")] * len(e))]
        if analysis.kind == "binary":
            second += [f"{int(a)}/{int(n1)} vs {c:g}/{n2:g}" + ("*" if "round" in str(d) else "")
                       for a, n1, c, n2, d in zip(e["ai"], e["n1i"], e["ci"], e["n2i"],
                                                  e["derived"])]
        elif analysis.effect == "PROPORTION":
            second += [f"{int(x)}/{int(n)}" + ("*" if "round" in str(d) else "")
                       for x, n, d in zip(e["xi"], e["ni"], e["derived"])]
        else:
            second += ["" if n != n else str(int(n)) for n in e.get("n", [float("nan")] * len(e))]
    head = {"binary": "Events/N (therapy vs control)", "arm": "Events/N"}.get(analysis.kind, "N")
    if analysis.effect == "MEDIAN":
        head = "N"
    return {"Year": years, head: second}


def _network_figures(fits, folder, formats):
    from .. import plots
    from ..plots.lifecycle import close_figure

    figs = []
    for key, fit in fits.items():
        drawers = [
            ("network_graph", lambda f: plots.network_graph(f),
             "Network of trials: edge width by number of trials, node size by patients."),
            ("network_forest", lambda f: plots.network_forest(f),
             "Each therapy against placebo (network estimates)."),
            ("league_heatmap", lambda f: plots.league_heatmap(f), "League table of all pairs."),
            # Rank probabilities are computed here, with a fixed seed, and handed to the plot.
            ("rankogram", lambda f: plots.rankogram(f.sucra(n_sim=10000, seed=RANK_SEED)),
             f"Rank probabilities (10,000 simulations, seed {RANK_SEED})."),
        ]
        for name, draw, caption in drawers:
            ax = draw(fit)
            stem = f"{key}_{name}"
            svg, files = _save(ax.figure, folder / stem, formats)
            close_figure(ax)
            figs.append({"key": f"network:{key}", "name": stem, "caption": caption, "svg": svg,
                         "files": [str(f) for f in files]})
    return figs


def _survival_figures(survival, folder, formats):
    from ..plots import modelled_curves_plot
    from ..plots.lifecycle import close_figure

    times = np.linspace(0.0, survival["horizon"], 145)
    figures = []
    # (name, curves, colour groups, caption)
    specs = [
        ("pfs_modelled_curves", [c for c in survival["curves"] if c["therapy"].lower() != "placebo"],
         "therapy",
         "Progression-free survival on each therapy in the randomised trials: exponential curves "
         "through the reported medians (modelled, dashed); placebo arms are left out for clarity."),
        ("single_arm_modelled_curves", survival.get("single_arm", []), "label",
         "Single-arm and retrospective studies, which report only medians: exponential PFS and OS "
         "curves through them (modelled, dashed)."),
    ]
    for name, curves, color_by, caption in specs:
        if not curves:
            continue
        table = _curve_table(curves, times)
        ax = modelled_curves_plot(table, color_by=color_by, band=False, width="double",
                                  legend="outside")
        svg, files = _save(ax.figure, folder / name, formats)
        close_figure(ax)
        figures.append({"key": "survival", "name": name, "caption": caption, "svg": svg,
                        "files": [str(f) for f in files]})
    return figures


def _curve_table(curves, times):
    import pandas as pd

    frames = []
    for c in curves:
        what = f" {c['outcome']}" if "outcome" in c else ""
        label = f"{c['trial']}: {c['therapy']}{what}"
        frames.append(c["curve"].survival_table(times).assign(label=label, therapy=c["therapy"]))
    return pd.concat(frames, ignore_index=True)
