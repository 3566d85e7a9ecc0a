"""Figures of the review layer (PRISMA flow; risk of bias when assessed), drawn for the report."""

from __future__ import annotations

from pathlib import Path


def render_review_figures(prisma, folder: Path, formats=("svg",)) -> list:
    """Draw the review's figures into ``folder``; one dict per figure as ``render_figures``."""
    from ..plots import save_figure
    from ..plots.lifecycle import close_figure
    from ..plots.prisma import prisma_flow

    out = []
    if prisma is not None:
        ax = prisma_flow(prisma)
        stem = folder / "prisma_flow"
        files = []
        for fmt in dict.fromkeys(("svg", "pdf", *formats)):
            path = stem.with_suffix("." + fmt)
            save_figure(ax.figure, path, **({} if fmt == "svg" else {"dpi": 300}))
            files.append(path)
        close_figure(ax)
        out.append({"key": "prisma", "name": "prisma_flow", "svg": files[0], "pdf": files[1],
                    "files": [str(f) for f in files],
                    "caption": "PRISMA 2020 flow of records, reports and studies (counts declared "
                               "in the protocol's [search] table and checked against the study "
                               "table)."})
    return out
