"""Tick values in natural units for linear and log axes, and the matplotlib locator around them.

A reader of a forest plot or a funnel plot needs labelled ticks at round numbers in the units of
the measure (0.2, 0.5, 1, 2 for a hazard ratio; 20, 30, 50 months for a median; 0, 20, 40 % for a
response rate) -- at least three of them, so that both the position and the scale of the axis can
be read -- and never a lone label such as "69". :func:`natural_ticks` chooses them;
:func:`natural_limits` widens a range just enough to hold three; :class:`NaturalLocator` (made by
:func:`natural_locator`) applies them to any matplotlib axis, log or linear.

The choice: from the nicest family of values to the least nice, the first family that puts
``min_ticks`` to ``max_ticks`` values inside the range wins, so that a range spanning decades is
labelled 0.01, 0.1, 1, 10 and a narrow one 20, 30, 40, 50. The families on a log axis are the
decades, 1-2-5, 1-2-3-5-7, 1..9 per decade, then round steps as on a linear axis (a narrow log
range is labelled like a linear one: 0.6, 0.8, 1, 1.2). Nothing here is a statistic; it is
numbers for labels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["natural_ticks", "natural_limits", "natural_locator", "tick_label"]

MIN_TICKS = 3
_EPS = 1e-9

# multiples of a decade on a log axis, nicest first
_LOG_FAMILIES = ((1,), (1, 2, 5), (1, 2, 3, 5, 7), (1, 2, 3, 4, 5, 6, 7, 8, 9))
# steps of a linear axis as multiples of a power of ten, coarse (within a power) to fine; steps
# of 2.5 (0, 25, 50) only when no other step gives enough ticks
_LINEAR_STEPS = (10, 5, 2, 1)


def _clean(v: float) -> float:
    """Remove float noise: 0.30000000000000004 -> 0.3."""
    return float(f"{v:.12g}")


def _linear_candidates(lo: float, hi: float):
    """Tick lists with round steps, coarse to fine, for [lo, hi]."""
    span = hi - lo
    if not span > 0:
        return []
    top = 10 ** math.ceil(math.log10(span))
    out = []
    steps = [m * p / 10 for p in (top, top / 10, top / 100, top / 1000) for m in _LINEAR_STEPS]
    steps += [2.5 * p / 10 for p in (top, top / 10, top / 100)]
    for step in steps:
        if True:
            first = math.ceil(lo / step - _EPS)
            last = math.floor(hi / step + _EPS)
            if last - first > 60:
                continue
            ticks = [_clean(i * step) for i in range(first, last + 1)]
            out.append(ticks)
    return out


def _log_candidates(lo: float, hi: float):
    """Tick lists for a log axis over [lo, hi] (both > 0), nicest first."""
    out = []
    d0 = math.floor(math.log10(lo)) - 1
    d1 = math.ceil(math.log10(hi)) + 1
    for fam in _LOG_FAMILIES:
        vals = [_clean(m * 10.0 ** d) for d in range(d0, d1 + 1) for m in fam]
        out.append([v for v in vals if lo * (1 - _EPS) <= v <= hi * (1 + _EPS)])
    # a narrow range: round linear steps, which read well on a log axis too
    out += [[v for v in c if v > 0] for c in _linear_candidates(lo, hi)]
    return out


def _spacing_ok(ticks, lo, hi, log, min_gap):
    if len(ticks) < 2 or not min_gap:
        return True
    f = np.log(ticks) if log else np.asarray(ticks, float)
    a, b = (math.log(lo), math.log(hi)) if log else (lo, hi)
    pos = (f - a) / (b - a)
    return float(np.min(np.diff(pos))) >= min_gap - 1e-12


def natural_ticks(lo: float, hi: float, *, log: bool = False, min_ticks: int = MIN_TICKS,
                  max_ticks: int = 7, min_gap: float = 0.0, include=None) -> list[float]:
    """Tick values in natural units for an axis from ``lo`` to ``hi``.

    Parameters
    ----------
    lo, hi : float
        The axis limits (natural units; positive for a log axis).
    log : bool
        A log axis (ratios, medians): the values are still natural numbers (0.5, 1, 2).
    min_ticks, max_ticks : int
        How many values to aim for; the nicest family of round values giving a count in this
        range inside ``[lo, hi]`` wins. Fewer than ``min_ticks`` only when no family can give them
        (a range narrower than the finest step): see :func:`natural_limits` to widen the range.
    min_gap : float
        Smallest distance between neighbouring ticks as a fraction of the axis length (so that
        their labels do not touch); families that crowd more are skipped.
    include : float, optional
        A value to add if it lies in range and keeps the spacing (the line of no effect, 1 or 0).

    Returns
    -------
    list of float

    Examples
    --------
    >>> natural_ticks(18, 80, log=True)
    [20.0, 30.0, 50.0, 70.0]
    >>> natural_ticks(0.03, 2.5, log=True)
    [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]
    >>> natural_ticks(-0.05, 0.68)
    [0.0, 0.2, 0.4, 0.6]
    """
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo) or (log and lo <= 0):
        return []
    max_ticks = max(int(max_ticks), int(min_ticks))
    cands = _log_candidates(lo, hi) if log else _linear_candidates(lo, hi)
    best = None
    for ticks in cands:
        if min_ticks <= len(ticks) <= max_ticks and _spacing_ok(ticks, lo, hi, log, min_gap):
            best = list(ticks)
            break
    if best is None:  # no family with enough values: the one with the most that still read
        ok = [t for t in cands if len(t) <= max_ticks and _spacing_ok(t, lo, hi, log, min_gap)]
        best = list(max(ok, key=len)) if ok else []
    if include is not None and lo <= include <= hi and include not in best:
        trial = sorted(best + [float(include)])
        if _spacing_ok(trial, lo, hi, log, min_gap):
            best = trial
    return [float(v) for v in best]


def natural_limits(lo: float, hi: float, *, log: bool = False, min_ticks: int = MIN_TICKS,
                   max_ticks: int = 7, min_gap: float = 0.0) -> tuple[float, float]:
    """``(lo, hi)`` widened, if needed, to the nearest round values so that at least
    ``min_ticks`` natural ticks, ``min_gap`` apart, fall inside.

    Examples
    --------
    >>> natural_limits(31.0, 52.0, log=True, min_gap=0.3)
    (30.0, 52.0)
    >>> natural_limits(0.5, 2.0, log=True)
    (0.5, 2.0)
    """
    lo, hi = float(lo), float(hi)
    if len(natural_ticks(lo, hi, log=log, min_ticks=min_ticks, max_ticks=max_ticks,
                         min_gap=min_gap)) >= min_ticks:
        return lo, hi
    # grow the range outwards in small multiplicative (log) or additive (linear) steps until a
    # family of round values puts enough ticks inside, then snap the new ends onto ticks
    for i in range(1, 200):
        f = 1.0 + 0.02 * i
        if log:
            a, b = lo / f, hi * f
        else:
            pad = (hi - lo) * 0.02 * i if hi > lo else 0.1 * i * max(abs(lo), 1.0)
            a, b = lo - pad, hi + pad
        ticks = natural_ticks(a, b, log=log, min_ticks=min_ticks, max_ticks=max_ticks,
                              min_gap=min_gap)
        if len(ticks) >= min_ticks:
            # keep the original data range; extend only to the ticks that were needed
            return min(lo, ticks[0]), max(hi, ticks[-1])
    return lo, hi


def tick_label(v: float) -> str:
    """A tick label in natural units: ``0.5``, ``1``, ``20``, ``1000``, with a typographic minus."""
    if v == 0:
        return "0"
    a = abs(v)
    s = f"{v:.3g}" if 1e-3 <= a < 1e4 else f"{v:g}"
    if "e" in s:
        s = np.format_float_positional(v, trim="-")
    return s.replace("-", "\u2212")


def natural_locator(*, min_ticks: int = MIN_TICKS, max_ticks: int = 7, min_gap: float = 0.0,
                    include=None):
    """A matplotlib Locator placing :func:`natural_ticks` on whatever scale the axis has."""
    from matplotlib.ticker import Locator

    class NaturalLocator(Locator):
        """Ticks at round natural values; log or linear follows the axis' scale."""

        def __init__(self):
            self.min_ticks, self.max_ticks = min_ticks, max_ticks
            self.min_gap, self.include = min_gap, include

        def __call__(self):
            lo, hi = self.axis.get_view_interval()
            return self.tick_values(lo, hi)

        def tick_values(self, vmin, vmax):
            lo, hi = sorted((float(vmin), float(vmax)))
            log = self.axis is not None and self.axis.get_scale() == "log"
            return natural_ticks(lo, hi, log=log, min_ticks=self.min_ticks,
                                 max_ticks=self.max_ticks, min_gap=self.min_gap,
                                 include=self.include)

    return NaturalLocator()
