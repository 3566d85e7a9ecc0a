"""The PRISMA 2020 flow diagram, laid out from counts computed in ``review.prisma``."""

from __future__ import annotations

__all__ = ["prisma_flow"]


def prisma_flow(counts, ax=None, *, width=None):
    """Draw the PRISMA 2020 flow diagram of :class:`~metaanalysis.review.prisma.PrismaCounts`.

    Boxes on the left follow the records down (identified, screened, assessed, included); boxes
    on the right say what left at each step and why. The plot computes nothing: every number is
    a field of ``counts``.

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
        text = "\n".join(textwrap.fill(line, width=max(12, int(w * 1.05)))
                         for line in text.split("\n"))
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.4,rounding_size=1.2",
                                    fc="white", ec="#333333", lw=0.8))
        ax.text(x + w / 2, y + h / 2, plain_text(text), ha="center", va="center", fontsize=fs,
                fontweight="bold" if bold else "normal")

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", lw=0.8, color="#333333"))

    lx, lw, rx, rw = 3, 44, 55, 42
    sources = "\n".join(f"{name}: {n}" for name, n in counts.sources)
    box(lx, 80, lw, 16, f"Records identified (n = {counts.identified})\n{sources}")
    box(rx, 83, rw, 10, f"Duplicates removed (n = {counts.duplicates})")
    box(lx, 58, lw, 10, f"Records screened (n = {counts.screened})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_screening) or "none"
    box(rx, 55, rw, 16, f"Records excluded (n = {sum(n for _, n in counts.excluded_screening)})"
                        f"\n{excl}")
    box(lx, 36, lw, 10, f"Reports assessed for eligibility (n = {counts.assessed})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_full_text) or "none"
    box(rx, 31, rw, 20, f"Reports excluded (n = {sum(n for _, n in counts.excluded_full_text)})"
                        f"\n{excl}")
    box(lx, 6, lw, 18, f"Studies included (n = {counts.studies_included})\nReports of included "
                       f"studies (n = {counts.reports_included})", bold=True)
    arrow(lx + lw / 2, 80, lx + lw / 2, 68)
    arrow(lx + lw, 88, rx, 88)
    arrow(lx + lw / 2, 58, lx + lw / 2, 46)
    arrow(lx + lw, 63, rx, 63)
    arrow(lx + lw / 2, 36, lx + lw / 2, 24)
    arrow(lx + lw, 41, rx, 41)
    for y, label in ((92, "Identification"), (63, "Screening"), (15, "Included")):
        ax.text(0.5, y, label, rotation=90, ha="center", va="center", fontsize=fs,
                color="#555555")
    return ax
