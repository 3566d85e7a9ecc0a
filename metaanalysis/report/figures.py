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


def render_figures(fits, network_fits, survival, folder: Path, *, formats=("svg", "png"),
                   funnel_min_k: int = 10) -> list:
    """Draw every figure into ``folder``; returns one dict per figure (key, name, caption, files)."""
    from ..plots.lifecycle import close_figure

    from ..plots import forest

    out = []
    for key, value in fits.items():
        if key.endswith(":cumulative"):
            base = key.split(":")[0]
            out.append(_cumulative_figure(base, fits[base], value, folder, formats))
            continue
        if key.endswith(":subgroups"):
            continue
        spec, res, data = value
        sub = fits.get(key + ":subgroups")
        target = sub if sub is not None and len(sub.subgroups) < res.k else res
        kwargs = {"favours": spec.favours} if spec.favours else {}
        ax = forest(target, title=spec.title, columns=_columns(spec, data), **kwargs)
        svg, files = _save(ax.figure, folder / f"{key}_forest", formats)
        close_figure(ax)
        caption = (f"Forest plot: {spec.title}. Squares: studies (area proportional to weight); "
                   "diamond: pooled estimate with its confidence interval; line under it: "
                   "prediction interval.")
        if spec.kind == "proportion" and any(data.frame["derived"]):
            caption += (" * events back-calculated from a reported percentage (the source gives "
                        "no count).")
        out.append({"key": key, "name": f"{key}_forest", "caption": caption, "svg": svg,
                    "files": [str(f) for f in files]})
        if res.k >= funnel_min_k:
            out.append(_funnel_figure(key, spec, res, folder, formats))
    out += _network_figures(network_fits, folder, formats)
    out += _survival_figures(survival, folder, formats)
    return out


def _cumulative_figure(key, fitted, frame, folder, formats) -> dict:
    """Cumulative meta-analysis by publication year (a forest plot of the running estimate)."""
    from ..plots import cumulative_forest
    from ..plots.lifecycle import close_figure

    spec, res, _ = fitted
    ax = cumulative_forest(frame, res, title=f"Cumulative by year: {spec.title}")
    svg, files = _save(ax.figure, folder / f"{key}_cumulative", formats)
    close_figure(ax)
    return {"key": key, "name": f"{key}_cumulative", "svg": svg, "files": [str(f) for f in files],
            "caption": "Cumulative meta-analysis: each row pools the trials published up to and "
                       "including the one named, in order of publication year."}


def _funnel_figure(key, spec, res, folder, formats) -> dict:
    """Contour-enhanced funnel plot with the trim-and-fill studies, on the pooled scale."""
    from ..plots import funnel
    from ..plots.lifecycle import close_figure
    from ..pooling import trim_and_fill

    fit = getattr(res, "fit", None) or res
    filled, _ = try_run(trim_and_fill, fit)
    ax = funnel(fit, contours=True, trimfill=filled)
    svg, files = _save(ax.figure, folder / f"{key}_funnel", formats)
    close_figure(ax)
    k0 = "" if filled is None else f" Trim and fill ({filled.estimator}) adds {filled.k0} study(ies), drawn open."
    return {"key": key, "name": f"{key}_funnel", "svg": svg, "files": [str(f) for f in files],
            "caption": f"Contour-enhanced funnel plot: {spec.title} (shading: p < 0.10, 0.05, 0.01)."
                       + k0}


def _columns(spec, data) -> dict:
    """Text columns beside the studies: year and patients, or responders out of patients."""
    frame = data.frame
    cols = {"Year": ["" if y != y else str(int(y)) for y in frame["year"]]}
    if spec.kind == "proportion":
        cols["Events/N"] = [f"{int(x)}/{int(n)}" + ("*" if d else "")
                            for x, n, d in zip(data.xi, data.ni, frame["derived"])]
    else:
        cols["N"] = ["" if n != n else str(int(n)) for n in frame["n"]]
    return cols


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
