"""Extreme inputs: what :func:`~metaanalysis.pool`, :func:`~metaanalysis.pooling.pool_many` and
:func:`~metaanalysis.pooling.tau2_estimate` accept, and how they fit data of any magnitude.

Data in the ordinary range (1e-30 <= vi <= 1e30, |yi| <= 1e15) are fitted as they are, following
metafor step by step, bit for bit as before.

Beyond it the model's equivariance is used: with y -> m + c y and v -> c² v the estimate becomes
m + c b, its standard error c se, tau² c² tau², and Q, I², H², z, p stay the same. The data are
fitted in units in which they are ordinary, ``y' = (y - m) / c`` and ``v' = v / c²``, with c the
power of two that brings the larger of the median variance and the squared half-spread of the
effects to about 1 (multiplying by a power of two is exact in binary floating point), and the
results are converted back. The shift m (the median effect) is used only when the effects are too
large for any c (their agreement, e.g. identical effects of 1e+300, is then exact but their
differences are rounded as the subtraction rounds them). metafor's tolerances (the Fisher-scoring
``threshold``, uniroot's ``tol``) and the bound 100 of its search brackets then apply in those units,
where they mean what they mean for ordinary data: in the user's units they would not (a threshold
of 1e-5 is below the resolution of a tau² of 1e+290, where Fisher scoring never stops, and metafor
itself runs on for ever at vi ~ 1e+200; it is above a tau² of 1e-290, where scoring stops at its
starting value and uniroot returns noise). Values of tau² given in ``control`` (``tau2_min``,
``tau2_max``, ``tau2_init``) and ``tau2=`` are converted. So extreme data sets that differ by a
power-of-two scaling are fitted identically, and each is fitted as accurately as ordinary data.

What cannot be fitted is refused, with an :class:`~metaanalysis.errors.InputError` naming the
study: quantities that are scale-free and beyond double precision's reach, and magnitudes whose
results would overflow.

Limits (and why):

- ``max(vi) / min(vi) <= 1e7`` (:data:`VI_RATIO_MAX`), metafor's own threshold (``1/evtol``) for
  warning that it "may not be able to obtain stable results": every estimator and I² use the traces
  of the projection P = W - w w' / sum(w), tr(P) = sum w - sum w² / sum w and tr(PP), which lose
  about log10(span) and 2 log10(span) of the 16 digits of a double to cancellation when one study's
  weight dominates (metafor forms P and loses them alike). At 1e7 tr(P) keeps 9 digits; from about
  1e9 it vanishes altogether, which used to end in a ZeroDivisionError. (tr(PP) enters only the
  standard errors of tau², which near the limit, with tau² = 0, keep a few digits: as metafor.)
- ``(max(yi) - min(yi)) / sqrt(min(vi)) <= 1e75`` (:data:`SPREAD_SE_MAX`): Q = sum (y - mu)² / v is
  up to k times the squared spread in standard errors (1e150), and as tau² runs from 0 to beyond
  the squared spread the weights 1/(v + tau²) span as much again: their cubes, which the standard
  errors use, must stay within double precision's range (about 1e±308) in one set of units.
- ``vi <= 1e300`` (:data:`VI_MAX`) and ``max(yi) - min(yi) <= 1e150`` (:data:`SPREAD_MAX`): tau² lives on
  the scale of the variances and of the squared spread, and the brackets its estimators search go
  1000 times beyond (metafor's tau2.max = max(100, 10 mad²), enlarged 100-fold as a remedy); they
  must stay below the largest double, 1.8e308.
- ``sei`` (standard errors) must have a square that is a normal double (>= 2.2e-308), else the
  variance would lose its digits (or be 0).

Whatever the target units, the scaled data are kept in a safe region, 1e-76 <= vi <= 1e76,
|yi| <= 1e38, where every formula stays finite (the weights' cubes within 1e±240, the moments
below 1e+260); data within the limits can always be scaled into it. :func:`pool_many` fits the
groups in the ordinary range together, vectorised, and the others one by one with :func:`pool`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..errors import InputError

VI_RATIO_MAX = 1e7
SPREAD_SE_MAX = 1e75
VI_MAX = 1e300
SPREAD_MAX = 1e150
SMALLEST_NORMAL = float(np.finfo(float).tiny)

# the ordinary range: fitted as it is (metafor's algorithms in the user's units); implies the limits
ORDINARY_VI = (1e-30, 1e30)
ORDINARY_Y = 1e15
# the safe region the scaled data are kept in
SAFE_VI = (1e-76, 1e76)
SAFE_Y = 1e38
# custom (GENQ) weights are invariant to their scale; outside this range they are scaled by a power of 2
ORDINARY_WEIGHTS = (1e-30, 1e30)


def in_ordinary_range_lists(ys: list, vs: list) -> bool:
    """True when the data (Python lists, for small k) need no further check and no scaling."""
    if not (math.isfinite(sum(ys)) and math.isfinite(sum(vs))):
        return False
    vmin, vmax = min(vs), max(vs)
    return (ORDINARY_VI[0] <= vmin and vmax <= ORDINARY_VI[1] and vmax <= VI_RATIO_MAX * vmin
            and -ORDINARY_Y <= min(ys) and max(ys) <= ORDINARY_Y)


_min = np.minimum.reduce  # the ufuncs' reduce: cheaper than the array methods on small arrays
_max = np.maximum.reduce


def in_ordinary_range_quick(y: np.ndarray, v: np.ndarray) -> bool:
    """A sufficient condition for :func:`in_ordinary_range` in three numpy calls (sum y² <= 1e30
    implies |y| <= 1e15); data it turns away are checked in full."""
    vmin, vmax = _min(v), _max(v)
    return bool(
        ORDINARY_VI[0] <= vmin and vmax <= ORDINARY_VI[1] and vmax <= VI_RATIO_MAX * vmin
        and y.dot(y) <= ORDINARY_Y * ORDINARY_Y
    )


def in_ordinary_range(y: np.ndarray, v: np.ndarray) -> bool:
    """True when the data (arrays) need no further check and no scaling (NaN fails every bound)."""
    vmin, vmax = _min(v), _max(v)
    return bool(
        ORDINARY_VI[0] <= vmin and vmax <= ORDINARY_VI[1] and vmax <= VI_RATIO_MAX * vmin
        and -ORDINARY_Y <= _min(y) and _max(y) <= ORDINARY_Y
    )


def _who(name: str, i: int, labels, where: str) -> str:
    label = ""
    if labels is not None and 0 <= i < len(labels):
        label = f" ({labels[i]!s})"
    return f"{name} at index {i}{label}{where}"


def limit_problem(y: np.ndarray, v: np.ndarray, labels=None, where: str = "", vname: str = "vi"):
    """The first limit (see the module docstring) that finite data with positive variances break, as
    ``(index, message)``, or None. ``where`` is appended to "yi at index i" (" of the group")."""
    i_vmin, i_vmax = int(np.argmin(v)), int(np.argmax(v))
    vmin, vmax = float(v[i_vmin]), float(v[i_vmax])
    i_ymin, i_ymax = int(np.argmin(y)), int(np.argmax(y))
    ymin, ymax = float(y[i_ymin]), float(y[i_ymax])
    with np.errstate(over="ignore"):
        spread = ymax - ymin  # may overflow to inf: then it breaks the limits, as it should
    se_min = math.sqrt(vmin)
    if vmax > VI_RATIO_MAX * vmin:
        med = float(np.median(np.log(v)))
        d_small, d_large = med - math.log(vmin), math.log(vmax) - med
        if abs(d_small - d_large) <= 1e-9 * (d_small + d_large):  # a tie (k = 2): the one further from 1
            small = abs(math.log(vmin)) >= abs(math.log(vmax))
        else:
            small = d_small > d_large
        i, j = (i_vmin, i_vmax) if small else (i_vmax, i_vmin)
        ratio = vmax / vmin
        return i, (
            f"{_who(vname, i, labels, where)} is {float(v[i])!r}, {ratio:.3g} times "
            f"{'smaller' if small else 'larger'} than {vname} at index {j} ({float(v[j])!r}): the variances of "
            f"one analysis may span at most a factor {VI_RATIO_MAX:g} (where metafor warns that its results may "
            "be unstable): beyond it the traces of the weights' projection that every estimator and I² use "
            "lose their digits to cancellation (from about 1e9, all of them). To rescale yi and vi together "
            "would not change the ratio; check this value (a standard error entered as a variance? a misplaced "
            "exponent?) or leave the study out"
        )
    if spread > SPREAD_SE_MAX * se_min or spread > SPREAD_MAX:
        med = float(np.median(y))
        with np.errstate(over="ignore"):
            d_hi, d_lo = ymax - med, med - ymin
        if d_hi == d_lo or abs(d_hi - d_lo) <= 1e-9 * (d_hi + d_lo):  # a tie (k = 2): the larger in size
            far_hi = abs(ymax) >= abs(ymin)
        else:
            far_hi = d_hi > d_lo
        i, other = (i_ymax, i_ymin) if far_hi else (i_ymin, i_ymax)
        ratio = spread / se_min
        ratio_text = f"{ratio:.3g}" if math.isfinite(ratio) else "more than 1.8e+308"
        if spread > SPREAD_SE_MAX * se_min:
            why = (f"it lies {ratio_text} standard errors (of the most precise study, index {i_vmin}, "
                   f"sqrt(vi) = {se_min:.3g}) from yi at index {other} ({float(y[other]):.6g}); the effects of one "
                   f"analysis may spread over at most {SPREAD_SE_MAX:g} such standard errors, beyond which Q (the "
                   "sum of their squares) and the weights over the range of tau² searched outgrow double precision. "
                   "Check the scale of yi (a log scale?) and of vi (variances, not standard errors)")
        else:
            why = (f"the effects spread over {spread:.3g} (to yi at index {other}); above {SPREAD_MAX:g} tau² "
                   "(of the order of their squared spread) and the brackets its estimators search overflow "
                   "double precision; rescale: divide yi by a power of 10 and vi by its square")
        return i, f"{_who('yi', i, labels, where)} is {float(y[i])!r}: {why}"
    if vmax > VI_MAX:
        return i_vmax, (
            f"{_who(vname, i_vmax, labels, where)} is {vmax!r}: variances above {VI_MAX:g} leave no room in double "
            "precision for tau² and the brackets its estimators search (up to 1000 times the variances); "
            "rescale: divide yi by a power of 10 and vi by its square"
        )
    return None


class Scale(NamedTuple):
    """The exact change of units y' = (y - shift) / factor, v' = v / factor², factor a power of 2."""

    shift: float
    factor: float

    @property
    def unit(self) -> float:
        """The unit of tau² (and of variances) on the scaled data: factor²."""
        return self.factor * self.factor

    def apply(self, y: np.ndarray, v: np.ndarray):
        inv = 1.0 / self.factor  # exact: a power of two
        return (y - self.shift) * inv, v * (inv * inv)


def plan(y: np.ndarray, v: np.ndarray, allow_shift: bool = True, labels=None, where: str = ""):
    """The :class:`Scale` in which data within the limits are fitted: None in the ordinary range
    (fitted as they are); else the power of two that makes them ordinary (the larger of the median
    variance and the squared half-spread of the effects about 1), kept inside the safe region. A
    shift (the median effect, subtracted) is used only when no power of two alone will do;
    ``allow_shift=False`` (a model with moderators): InputError if none will do."""
    if in_ordinary_range(y, v):
        return None
    vmin, vmax = float(v.min()), float(v.max())
    ymin, ymax = float(y.min()), float(y.max())
    spread = ymax - ymin
    target = max(float(np.median(v)), 0.25 * spread * spread)
    want = 2 * round(0.5 * math.log2(target))
    shifts = (0.0, float(np.median(y))) if allow_shift else (0.0,)
    for shift in shifts:
        e2 = _factor_exponent(vmin, vmax, max(ymax - shift, shift - ymin), want)
        if e2 is not None:
            break
    else:
        i = int(np.argmax(np.abs(y)))
        raise InputError(
            f"{_who('yi', i, labels, where)} is {float(y[i])!r}: with moderators the effects cannot be centred, "
            f"and |yi| is too large against the smallest standard error ({math.sqrt(vmin):.3g}) to be fitted in "
            "double precision; subtract a constant from yi first (the slopes do not change)"
        )
    if e2 == 0 and shift == 0.0:
        return None
    return Scale(shift, math.ldexp(1.0, e2 // 2))


def _factor_exponent(vmin: float, vmax: float, dev: float, want: int):
    """The even e2 nearest ``want`` with vmin / 2^e2 >= SAFE_VI[0], vmax / 2^e2 <= SAFE_VI[1] and
    dev / 2^(e2/2) <= SAFE_Y, or None if there is none."""
    lo = math.log2(vmax) - math.log2(SAFE_VI[1])
    if dev > 0:
        lo = max(lo, 2.0 * (math.log2(dev) - math.log2(SAFE_Y)))
    hi = math.log2(vmin) - math.log2(SAFE_VI[0])
    lo_even, hi_even = 2 * math.ceil(lo / 2.0), 2 * math.floor(hi / 2.0)
    if lo_even > hi_even:
        return None
    return min(max(want, lo_even), hi_even)


def normalise_weights(a: np.ndarray) -> np.ndarray:
    """Custom weights scaled by a power of two into the ordinary range when their largest is outside
    it (exact; every quantity that uses them is invariant to their scale)."""
    top = float(a.max())
    if ORDINARY_WEIGHTS[0] <= top <= ORDINARY_WEIGHTS[1] or top <= 0:
        return a
    return a * math.ldexp(1.0, -math.frexp(top)[1])
