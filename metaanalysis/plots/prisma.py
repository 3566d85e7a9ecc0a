"""The PRISMA 2020 flow diagram, laid out from counts computed in ``review.prisma``."""

from __future__ import annotations

__all__ = ["prisma_flow"]


def prisma_flow(counts, ax=None, *, width=None):
    """Draw the PRISMA 2020 flow diagram of :class:`~metaanalysis.review.prisma.PrismaCounts`.

    Boxes on the left follow the records down (identified, screened, assessed, included, and the
    included studies in at least one analysis); boxes on the right say what left at each step
    and why. The declared counts are records (a record may hold several reports), so the
    included box gives the reports the study table cites beside the studies. The plot computes
    nothing: every number is a field of ``counts``.

    Parameters
    ----------
    counts : PrismaCounts
    ax : matplotlib Axes, optional
    width : "single", "double" or inches, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = prisma_flow(review_counts)                                   # doctest: +SKIP
    """
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ._style import plain_text

    if ax is None:
        w = {"single": 3.5, "double": 7.2}.get(width, width or 7.2)
        _, ax = plt.subplots(figsize=(w, w * 1.05))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")
    fs = 7.5

    def box(x, y, w, h, text, bold=False):
        # wrap each line to the box (about 1.1 characters per unit of width at this size)
        # bold letters are wider: fewer per line
        text = "\n".join(textwrap.fill(line, width=max(12, int(w * (0.98 if bold else 1.05))))
                         for line in text.split("\n"))
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4,rounding_size=1.2",
                                    fc="white", ec="#333333", lw=0.8))
        ax.text(x + w / 2, y + h / 2, plain_text(text), ha="center", va="center", fontsize=fs,
                fontweight="bold" if bold else "normal")

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=0.8, color="#333333"))

    lx, lw, rx, rw = 3, 44, 55, 42
    mid = lx + lw / 2
    sources = "\n".join(f"{name}: {n}" for name, n in counts.sources)
    box(lx, 82, lw, 15, f"Records identified (n = {counts.identified})\n{sources}")
    box(rx, 85.5, rw, 8, f"Duplicates removed (n = {counts.duplicates})")
    box(lx, 65, lw, 8, f"Records screened (n = {counts.screened})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_screening) or "none"
    box(rx, 62, rw, 14, f"Records excluded (n = {sum(n for _, n in counts.excluded_screening)})"
                        f"\n{excl}")
    # the protocol's [search] counts records (a fact-sheet entry, a seed document), and one record
    # may hold several reports: the reports are counted apart, under the included studies
    box(lx, 47, lw, 8, f"Records assessed for eligibility (n = {counts.assessed})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_full_text) or "none"
    # up to eight lines: the declared exclusions and the table's studies no analysis can take
    box(rx, 39.5, rw, 21, f"Records excluded (n = {sum(n for _, n in counts.excluded_full_text)})"
                        f"\n{excl}")
    others = counts.other_reports
    more = ("\n" + f"+ {len(others)} not cited: "
            + ", ".join(f"{r} ({sid})" for r, sid in others)) if others else ""
    low = 24 if others else 26  # a line more, downwards: the arrow into the box stays as it is
    box(lx, low, lw, 37 - low, f"Studies included (n = {counts.studies_included})\n"
                        f"{counts.reports_included} reports cited in the study table{more}",
        bold=True)
    arrow(mid, 82, mid, 73)
    arrow(lx + lw, 89.5, rx, 89.5)
    arrow(mid, 65, mid, 55)
    arrow(lx + lw, 69, rx, 69)
    arrow(mid, 47, mid, 37)
    arrow(lx + lw, 51, rx, 51)
    labels = [(89.5, "Identification"), (60, "Screening"), (31.5, "Included")]
    if counts.not_analysed:
        # PRISMA 2020 keeps the studies in a synthesis apart from those included in the review
        box(lx, 5, lw, 9, f"Studies in at least one analysis (n = {counts.studies_analysed})",
            bold=True)
        box(rx, 3, rw, 13, f"Included studies no analysis of the protocol uses (n = "
                           f"{len(counts.not_analysed)}): each row's reason is listed in the "
                           "report")
        arrow(mid, low, mid, 14)
        arrow(lx + lw, 9.5, rx, 9.5)
        labels.append((9.5, "Synthesis"))
    for y, label in labels:
        ax.text(0.5, y, label, rotation=90, ha="center", va="center", fontsize=fs,
                color="#555555")
    return ax
