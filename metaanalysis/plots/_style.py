"""The house style of every figure, and the small layout helpers the plot modules share.

Nothing here computes a statistic. It holds the restrained default style (one font family, three
font sizes, thin grey lines, no grid, no box), the journal widths, the measure -> display-scale
mapping (ratios on a log axis labelled in natural values, proportions in percent) and the number
formatting used in figure text.

Journal sizes: ``width="single"`` (89 mm) and ``width="double"`` (183 mm) are the two column
widths of most clinical journals. Figures are drawn at their print size, so a point is a point:
no text is smaller than :data:`MIN_FONT_SIZE` (7 pt) -- tick labels, footnotes and legends included
-- as long as the figure is printed at the width it was drawn at. Figures whose content needs more
than a double column (a league table of many treatments) grow, and say so in their docstring.

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
    "fmt_reported",
    "interval_text",
    "range_text",
    "MIN_FONT_SIZE",
    "LINESTYLES",
    "log_ticks",
    "plain_text",
]

MM_PER_INCH = 25.4

# Single column (89 mm) and double column (183 mm): Nature, Lancet, BMJ and most clinical journals
# use these two widths within a millimetre or two.
JOURNAL_WIDTHS_MM = {"single": 89.0, "double": 183.0}

FONT_SIZE = 8.0          # body text of a figure (journals ask for 6-9 pt at print size)
SMALL_FONT_SIZE = 7.0    # tick labels, footnotes under a forest plot
MIN_FONT_SIZE = 7.0      # no text of a figure is smaller, at the size it is drawn (print size)
INK = "#1a1a1a"          # near-black for text, squares and diamonds
GREY = "#6e6e6e"         # reference lines, secondary marks
LIGHT = "#bdbdbd"        # contour shading, bands
LINE_WIDTH = 0.8

# A categorical palette that stays distinct for the common colour-vision deficiencies (Okabe &
# Ito 2008), used for several therapies on one axis. Yellow comes last: thin yellow lines are hard
# to see on white. Lines also differ in style (LINESTYLES), so that they stay apart in greyscale and
# when two colours look alike.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LINESTYLES = ("solid", (0, (5, 1.5)), (0, (1.2, 1.2)), (0, (5, 1.5, 1.2, 1.5)),
              (0, (8, 2)), (0, (3, 1.5, 1.2, 1.5, 1.2, 1.5)), (0, (2.5, 2.5)),
              (0, (8, 1.5, 2, 1.5)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

# rcParams pinned for every figure: the same call gives the same pixels on every machine that has
# DejaVu Sans (shipped with matplotlib). Text stays text, editable by journals and co-authors: PDF/PS
# embed the TrueType font (Type 42, which journals' preflight accepts), SVG writes <text> elements
# (svg.fonttype "none") that name DejaVu Sans, with Verdana -- of near-identical widths -- and the
# reader's sans-serif after it -- see export.py.
RC = {
    "font.family": "sans-serif",
    # the first is always found (matplotlib ships it); the others only name, in an SVG, the
    # fonts a viewer without DejaVu Sans should use (Bitstream Vera Sans has the same metrics)
    "font.sans-serif": ["DejaVu Sans", "Bitstream Vera Sans", "Verdana"],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": SMALL_FONT_SIZE,
    "ytick.labelsize": SMALL_FONT_SIZE,
    "legend.fontsize": SMALL_FONT_SIZE,
    "legend.title_fontsize": SMALL_FONT_SIZE,
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
    "svg.fonttype": "none",
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

# measure -> (the axis label in words, the short name of the text column's header)
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
    "PLO": ("Proportion, %", "%"),
    "PFT": ("Proportion, %", "%"),
    "PAS": ("Proportion, %", "%"),
    "PR": ("Proportion, %", "%"),
    "PLN": ("Median, months", "Median"),
    "MEDLN": ("Median, months", "Median"),
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


def axis_label(measure, name=None) -> str:
    """The axis label: the measure in words (``name`` if given) and, on a log axis, the scale
    (``"Hazard ratio (log scale)"``, ``"Median, months (log scale)"``, ``"Risk difference"``,
    ``"Proportion, %"``). Tick labels are natural values on every scale."""
    m = str(measure or "").upper()
    if name is None:
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


def _decimals(x: float, max_decimals: int = 4) -> int:
    """Decimals of the shortest text of ``x`` (a number as it was typed: 39.4 -> 1, 0.21 -> 2)."""
    s = f"{float(x):.{max_decimals}f}".rstrip("0")
    return len(s.split(".")[1]) if "." in s else 0


def fmt_reported(values, max_decimals: int = 4, min_decimals: int = 0) -> list[str]:
    """Numbers as reported, to the same number of decimals (the most any of them has), so that
    ``(11.0, 7.4, 13.8)`` prints ``11.0``, ``7.4``, ``13.8`` and ``(0.59, 0.45, 0.7)`` prints
    ``0.59``, ``0.45``, ``0.70``; at least ``min_decimals`` (the decimals of the numbers as typed
    in the source, ``"11.0"``, which a float forgets). Missing values print ``"NE"`` (not
    estimable).

    Examples
    --------
    >>> fmt_reported([39.4, 32.7, 51.4])
    ['39.4', '32.7', '51.4']
    >>> fmt_reported([40.54, 28.29, float("nan")])
    ['40.54', '28.29', 'NE']
    """
    vals = [float(v) for v in values]
    finite = [v for v in vals if math.isfinite(v)]
    d = max([_decimals(v, max_decimals) for v in finite] + [min(min_decimals, max_decimals)])
    return [fmt_num(v, d) if math.isfinite(v) else "NE" for v in vals]


def range_text(lo: str, hi: str) -> str:
    """``"(0.45–0.77)"``; ``"(−0.30 to 0.05)"`` when a bound is negative (an en dash
    next to a minus sign misreads)."""
    sep = " to " if (lo.startswith(MINUS) or hi.startswith(MINUS)) else "–"
    return f"({lo}{sep}{hi})"


def interval_text(est: str, lo: str, hi: str) -> str:
    """``"0.59 (0.45–0.77)"``: an estimate and its interval as a figure prints them."""
    return f"{est} {range_text(lo, hi)}"


def log_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Natural-scale tick values for a log axis from ``lo`` to ``hi`` (at least three when the
    range allows; see :func:`metaanalysis.plots._ticks.natural_ticks`)."""
    from ._ticks import natural_ticks

    return natural_ticks(lo, hi, log=True, max_ticks=max(3, max_ticks))


def tick_text(v: float) -> str:
    """A tick label in natural units: ``0.5``, ``1``, ``2`` (no trailing zeros)."""
    from ._ticks import tick_label

    return tick_label(v)


def finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]
