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
    lost = counts.not_retrieved
    # PRISMA 2020's "reports sought / not retrieved" row, where some full text was not obtained:
    # the boxes above and below move closer to make room for it
    y = (dict(ident=(84, 13), dup=(86.5, 8), scr=(71, 6), excl_s=(68.5, 11), sought=(59, 6),
              lost=(57.5, 9), ass=(47, 6), excl_f=(35, 21), inc_top=33)
         if lost else
         dict(ident=(82, 15), dup=(85.5, 8), scr=(65, 8), excl_s=(62, 14), ass=(47, 8),
              excl_f=(39.5, 21), inc_top=37))
    sources = "\n".join(f"{name}: {n}" for name, n in counts.sources)
    box(lx, y["ident"][0], lw, y["ident"][1],
        f"Records identified (n = {counts.identified})\n{sources}")
    box(rx, y["dup"][0], rw, y["dup"][1], f"Duplicates removed (n = {counts.duplicates})")
    box(lx, y["scr"][0], lw, y["scr"][1], f"Records screened (n = {counts.screened})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_screening) or "none"
    box(rx, y["excl_s"][0], rw, y["excl_s"][1],
        f"Records excluded (n = {sum(n for _, n in counts.excluded_screening)})\n{excl}")
    if lost:
        box(lx, y["sought"][0], lw, y["sought"][1],
            f"Records sought for retrieval (n = {counts.sought})")
        box(rx, y["lost"][0], rw, y["lost"][1], f"Records not retrieved (n = {len(lost)})\n"
            + "\n".join(f"{r}: {why}" for r, why in lost))
    # the protocol's [search] counts records (a fact-sheet entry, a seed document), and one record
    # may hold several reports: the reports are counted apart, under the included studies
    box(lx, y["ass"][0], lw, y["ass"][1],
        f"Records assessed for eligibility (n = {counts.assessed})")
    excl = "\n".join(f"{r}: {n}" for r, n in counts.excluded_full_text) or "none"
    # up to eight lines: the declared exclusions and the table's studies no analysis can take
    box(rx, y["excl_f"][0], rw, y["excl_f"][1],
        f"Records excluded (n = {sum(n for _, n in counts.excluded_full_text)})\n{excl}")
    others = counts.other_reports
    more = ("\n" + f"+ {len(others)} not cited: "
            + ", ".join(f"{r} ({sid})" for r, sid in others)) if others else ""
    top = y["inc_top"]
    low = top - (13 if others else 11)  # a line more, downwards: the arrow in stays as it is
    box(lx, low, lw, top - low, f"Studies included (n = {counts.studies_included})\n"
                        f"{counts.reports_included} reports cited in the study table{more}",
        bold=True)

    def centre(key):
        return y[key][0] + y[key][1] / 2

    arrow(mid, y["ident"][0], mid, y["scr"][0] + y["scr"][1])
    arrow(lx + lw, centre("dup"), rx, centre("dup"))
    arrow(lx + lw, centre("scr"), rx, centre("scr"))
    if lost:
        arrow(mid, y["scr"][0], mid, y["sought"][0] + y["sought"][1])
        arrow(mid, y["sought"][0], mid, y["ass"][0] + y["ass"][1])
        arrow(lx + lw, centre("sought"), rx, centre("sought"))
    else:
        arrow(mid, y["scr"][0], mid, y["ass"][0] + y["ass"][1])
    arrow(mid, y["ass"][0], mid, top)
    arrow(lx + lw, centre("ass"), rx, centre("ass"))
    labels = [(centre("dup"), "Identification"),
              ((y["scr"][0] + y["scr"][1] + y["ass"][0]) / 2, "Screening"),
              (top - 5.5, "Included")]
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
