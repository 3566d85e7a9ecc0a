"""The house style of every figure, and the small layout helpers the plot modules share.

Nothing here computes a statistic. It holds the restrained default style (one font family, three
font sizes, thin grey lines, no grid, no box), the journal widths, the measure -> display-scale
mapping (ratios on a log axis labelled in natural values, proportions in percent) and the number
formatting used in figure text.

matplotlib is imported inside the functions only, so that importing this module (and
``metaanalysis.plots``) costs nothing until a figure is drawn.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from ..errors import InputError

__all__ = [
    "JOURNAL_WIDTHS_MM",
    "MM_PER_INCH",
    "RC",
    "style",
    "width_inches",
    "scale_of",
    "axis_label",
    "short_label",
    "fmt_num",
    "log_ticks",
    "plain_text",
]

MM_PER_INCH = 25.4

# Single column (89 mm) and double column (183 mm): Nature, Lancet, BMJ and most clinical journals
# use these two widths within a millimetre or two.
JOURNAL_WIDTHS_MM = {"single": 89.0, "double": 183.0}

FONT_SIZE = 8.0          # body text of a figure (journals ask for 6-9 pt at print size)
SMALL_FONT_SIZE = 7.0    # tick labels, footnotes under a forest plot
INK = "#1a1a1a"          # near-black for text, squares and diamonds
GREY = "#6e6e6e"         # reference lines, secondary marks
LIGHT = "#bdbdbd"        # contour shading, bands
LINE_WIDTH = 0.8

# A categorical palette that stays distinct in greyscale and for the common colour-vision
# deficiencies (Okabe & Ito 2008), used for several therapies on one axis.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

# rcParams pinned for every figure: the same call gives the same pixels on every machine that has
# DejaVu Sans (shipped with matplotlib). PDF/PS embed TrueType fonts whole (Type 42) so journals'
# preflight accepts them and text stays selectable; SVG converts glyphs to paths so the figure looks
# the same in a browser that lacks DejaVu Sans (the HTML report embeds SVG) -- see export.py.
RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": SMALL_FONT_SIZE,
    "ytick.labelsize": SMALL_FONT_SIZE,
    "legend.fontsize": SMALL_FONT_SIZE,
    "legend.frameon": False,
    "axes.linewidth": LINE_WIDTH,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.unicode_minus": True,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.major.width": LINE_WIDTH,
    "ytick.major.width": LINE_WIDTH,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "xtick.direction": "out",
    "ytick.direction": "out",
    "lines.linewidth": 1.0,
    "text.color": INK,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "metaanalysis",
    "path.simplify": False,
    "image.interpolation": "nearest",
    # text is drawn as given (see plain_text); TeX would read _ ^ % & # as markup
    "text.usetex": False,
}


@contextmanager
def style():
    """Context manager that applies :data:`RC` (used by every plot function around its drawing)."""
    import matplotlib as mpl
    # pyplot's first import switches Jupyter's inline backend to interactive mode; inside
    # rc_context that switch would be undone on exit and later figures would never be shown.
    import matplotlib.pyplot  # noqa: F401

    with mpl.rc_context(RC):
        yield


def width_inches(width) -> float:
    """A figure width in inches from ``"single"``, ``"double"``, or a number of millimetres."""
    if isinstance(width, str):
        try:
            return JOURNAL_WIDTHS_MM[width] / MM_PER_INCH
        except KeyError:
            raise InputError(
                f"width={width!r}: give 'single' (89 mm), 'double' (183 mm) or millimetres"
            ) from None
    try:
        w = float(width)
    except (TypeError, ValueError):
        raise InputError(f"width={width!r}: give 'single', 'double' or millimetres") from None
    if not 20 <= w <= 1000:
        raise InputError(f"width={width!r} mm is not a plausible figure width (20-1000 mm)")
    return w / MM_PER_INCH


_RATIO = {"OR", "RR", "HR", "ROM", "PETO", "IRR", "PLN", "IR", "CVR", "VR", "MEDLN", "MLN"}
# log-scale measures that are not contrasts: no line of no effect
_NO_REFERENCE = {"PLN", "MEDLN", "MLN", "IR"}
_PROPORTION = {"PLO", "PFT", "PAS", "PR"}

_NAMES = {
    "OR": ("Odds ratio", "OR"),
    "PETO": ("Odds ratio (Peto)", "OR"),
    "RR": ("Risk ratio", "RR"),
    "HR": ("Hazard ratio", "HR"),
    "ROM": ("Ratio of means", "ROM"),
    "IRR": ("Incidence rate ratio", "IRR"),
    "RD": ("Risk difference", "RD"),
    "MD": ("Mean difference", "MD"),
    "SMD": ("Standardised mean difference", "SMD"),
    "PLO": ("Proportion (%)", "%"),
    "PFT": ("Proportion (%)", "%"),
    "PAS": ("Proportion (%)", "%"),
    "PR": ("Proportion (%)", "%"),
    "PLN": ("Median (months)", "Median"),
    "MEDLN": ("Median (months)", "Median"),
    "MLN": ("Mean", "Mean"),
    "IR": ("Incidence rate", "Rate"),
}


def reference_of(measure):
    """The line of no effect on the display scale: 1 for ratio contrasts, 0 for differences,
    None for proportions and single-arm quantities (medians, rates)."""
    m = str(measure or "").upper()
    if m in _NO_REFERENCE or scale_of(m) == "percent":
        return None
    return 1.0 if scale_of(m) == "log" else 0.0


def scale_of(measure) -> str:
    """``"log"`` for ratio measures, ``"percent"`` for proportions, ``"linear"`` otherwise."""
    m = str(measure or "").upper()
    if m in _RATIO:
        return "log"
    if m in _PROPORTION:
        return "percent"
    return "linear"


def axis_label(measure) -> str:
    m = str(measure or "").upper()
    name = _NAMES.get(m, (m or "Estimate", m))[0]
    return name + (" (log scale)" if scale_of(m) == "log" else "")


def short_label(measure) -> str:
    m = str(measure or "").upper()
    return _NAMES.get(m, (m, m or "Estimate"))[1]


MINUS = "\u2212"


def plain_text(s) -> str:
    r"""``s`` as matplotlib text that is drawn exactly as written, never as mathtext.

    matplotlib reads a string with an even number of unescaped ``$`` as mathtext: a trial named
    ``$\frac{1}{0}$ trial`` or ``Study $1$`` would be typeset, or crash the figure when the
    mathtext does not parse. Escaping every ``$`` as ``\$`` leaves no unescaped ``$``, so
    matplotlib draws the text as it is and turns each ``\$`` back into ``$``; nothing else is
    special in plain text (``_``, ``^``, ``%`` and backslashes are drawn as they are; the house
    style turns TeX off). Every label a plot function passes to matplotlib goes through here,
    once. HTML escaping (the report page) is separate and stays where it is.

    Examples
    --------
    >>> print(plain_text(r"Study $1$ \alpha a_b^c"))
    Study \$1\$ \alpha a_b^c
    """
    return str(s).replace("$", "\\$")


def fmt_num(x, digits: int = 2) -> str:
    """Fixed-digit text for a figure; ``"NA"`` for missing; a typographic minus sign."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "NA"
    if not math.isfinite(xf):
        return "NA" if math.isnan(xf) else ("\u221e" if xf > 0 else MINUS + "\u221e")
    s = f"{xf:.{digits}f}"
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s.replace("-", MINUS)


# Natural values a log axis may be labelled with, coarse to fine.
_LOG_TICK_SETS = (
    (0.001, 0.01, 0.1, 1, 10, 100, 1000),
    (0.01, 0.1, 0.5, 1, 2, 10, 100),
    (0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 100),
    (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10),
    (0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.5, 2),
)


def log_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Natural-scale tick values for a log axis from ``lo`` to ``hi``: among the sets of
    :data:`_LOG_TICK_SETS` whose ticks inside the range cover at least half of it (in log units),
    the one with the most ticks, at most ``max_ticks`` (at least two when the range allows)."""
    span = math.log(hi / lo) if hi > lo > 0 else 0.0
    best: list[float] = []
    for values in _LOG_TICK_SETS:
        inside = [v for v in values if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
        if len(inside) > max_ticks or len(inside) < 2:
            continue
        covered = math.log(inside[-1] / inside[0])
        if span > 0 and covered < 0.5 * span:
            continue
        if len(inside) > len(best):
            best = inside
    if len(best) < 2:
        # too few ticks allowed for any set: thin the coarsest set with two ticks inside, keeping
        # the extremes and the tick nearest 1
        for values in _LOG_TICK_SETS:
            inside = [v for v in values if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
            if len(inside) >= 2:
                one = min(inside, key=lambda v: abs(math.log(v)))
                best = sorted({inside[0], one, inside[-1]})[: max(2, max_ticks)]
                break
    if len(best) < 2:
        # very narrow range: ticks at the ends, rounded to two significant digits
        best = sorted({float(f"{lo:.2g}"), float(f"{hi:.2g}")})
        best = [v for v in best if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)] or [lo, hi]
    return best


def tick_text(v: float) -> str:
    """A tick label in natural units: ``0.5``, ``1``, ``2`` (no trailing zeros)."""
    s = f"{v:.3g}"
    return s.replace("-", MINUS)


def finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]
