"""Effect sizes: raw study data or reported summaries turned into ``(yi, vi)`` on an analysis scale.

:func:`escalc` follows metafor's ``escalc()`` measure by measure (codes, continuity corrections,
variance types) so that an R script translates line by line. The other functions convert what papers
report (a hazard ratio with its interval, a median with its interval, a difference with a p-value)
into a log-scale or raw-scale estimate and its standard error, and :func:`effects_from_table` does the
same for the rows of the study table, keeping each row's provenance beside the number.

The core is pure numpy on 1-D arrays (one entry per study); pandas appears only in
:meth:`Effects.to_frame` and :func:`effects_from_table`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._base import ResultMixin, as_float_array, check_level, fmt, jsonable, readonly, same_length, zcrit
from .errors import InputError

__all__ = [
    "Effects",
    "escalc",
    "ratio_from_ci",
    "median_from_ci",
    "difference_from_ci",
    "difference_from_pvalue",
    "effects_from_table",
    "to_months",
    "TWO_ARM_MEASURES",
    "ONE_ARM_MEASURES",
    "CONTINUOUS_MEASURES",
    "INCIDENCE_TWO_ARM_MEASURES",
    "INCIDENCE_ONE_ARM_MEASURES",
    "CORRELATION_MEASURES",
]

TWO_ARM_MEASURES = ("OR", "RR", "RD", "PETO")
ONE_ARM_MEASURES = ("PR", "PLN", "PLO", "PAS", "PFT")
CONTINUOUS_MEASURES = ("MD", "SMD", "ROM", "SMDH", "CVR", "VR")
INCIDENCE_TWO_ARM_MEASURES = ("IRR", "IRD", "IRSD")
INCIDENCE_ONE_ARM_MEASURES = ("IR", "IRLN", "IRS", "IRFT")
CORRELATION_MEASURES = ("COR", "UCOR", "ZCOR")
_TO_OPTIONS = ("all", "only0", "if0all", "none")
# measures whose default continuity correction is 0 in metafor (variance-stabilising transforms)
_NO_ADD_BY_DEFAULT = ("PAS", "PFT", "IRSD", "IRS", "IRFT")
_VTYPES = {
    "RD": ("LS", "UB", "AV"),
    "PR": ("LS", "UB", "AV"),
    "PLN": ("LS", "AV"),
    "PLO": ("LS", "AV"),
    "MD": ("LS", "UB", "HO"),
    "SMD": ("LS", "UB", "LS2", "AV"),
    "ROM": ("LS", "HO", "AV", "AVHO"),
    "SMDH": ("LS", "LS2"),
    "COR": ("LS", "AV"),
    "UCOR": ("LS", "UB", "AV"),
}


# --------------------------------------------------------------------------------------------
# result object


@dataclass(frozen=True, eq=False, repr=False)
class Effects(ResultMixin):
    """Per-study effect sizes ``yi`` and sampling variances ``vi`` (metafor's ``escalc`` object).

    Unpacks as ``yi, vi = escalc(...)``. A study whose effect cannot be computed (a double-zero
    study with ``drop00=True``, an infinite log ratio with ``to="none"``) has ``nan`` in ``yi`` and
    ``vi`` and is listed in :attr:`omitted`, as metafor codes it ``NA``.

    Attributes
    ----------
    yi, vi : ndarray
        Effect sizes and sampling variances, one per study.
    measure : str
        metafor's code of the measure (``"OR"``, ``"PFT"``, ``"HR"``...).
    ni : ndarray or None
        Total sample size per study before any continuity correction (metafor's ``attr(yi, "ni")``);
        the PFT back-transformation uses it.
    labels : tuple of str
        Study labels.
    corrected : ndarray of bool
        Studies to which the continuity correction was added.
    notes : tuple of str
        How the numbers were derived (corrections, dropped studies, assumptions).
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    ni: np.ndarray | None = None
    labels: tuple = ()
    corrected: np.ndarray | None = None
    notes: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "yi", readonly(self.yi))
        object.__setattr__(self, "vi", readonly(self.vi))
        if self.ni is not None:
            object.__setattr__(self, "ni", readonly(self.ni))
        k = len(self.yi)
        if self.corrected is None:
            object.__setattr__(self, "corrected", np.zeros(k, dtype=bool))
        corr = np.array(self.corrected, dtype=bool)
        corr.setflags(write=False)
        object.__setattr__(self, "corrected", corr)
        if not self.labels:
            object.__setattr__(self, "labels", tuple(f"Study {i + 1}" for i in range(k)))
        else:
            object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))

    # unpacking and size
    def __iter__(self):
        return iter((self.yi, self.vi))

    def __len__(self) -> int:
        return len(self.yi)

    @property
    def k(self) -> int:
        return len(self.yi)

    @property
    def sei(self) -> np.ndarray:
        return np.sqrt(self.vi)

    @property
    def omitted(self) -> tuple:
        """Indices of studies whose effect could not be computed (``nan``)."""
        return tuple(int(i) for i in np.flatnonzero(~(np.isfinite(self.yi) & np.isfinite(self.vi))))

    def conf_int(self, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
        """Per-study Wald interval ``yi ± z·sqrt(vi)`` at ``level`` percent."""
        z = zcrit(check_level(level))
        se = self.sei
        return self.yi - z * se, self.yi + z * se

    def to_dict(self) -> dict:
        return jsonable(
            {
                "measure": self.measure,
                "k": self.k,
                "labels": list(self.labels),
                "yi": self.yi,
                "vi": self.vi,
                "ni": self.ni,
                "corrected": self.corrected,
                "omitted": list(self.omitted),
                "notes": list(self.notes),
            }
        )

    def to_frame(self, level: float = 95):
        """One row per study: label, yi, vi, sei, ci_low, ci_high (Wald at ``level``), ni."""
        import pandas as pd

        lo, hi = self.conf_int(level)
        return pd.DataFrame(
            {
                "label": list(self.labels),
                "yi": self.yi,
                "vi": self.vi,
                "sei": self.sei,
                "ci_low": lo,
                "ci_high": hi,
                "ni": self.ni if self.ni is not None else np.full(self.k, np.nan),
                "corrected": self.corrected,
            }
        )

    def _short(self) -> str:
        return f"measure={self.measure} k={self.k}"

    def summary(self) -> str:
        width = max([5] + [len(s) for s in self.labels])
        lines = [f"Effect sizes (measure = {self.measure}, k = {self.k})", ""]
        lines.append(f"{'':<{width}}  {'yi':>9}  {'vi':>9}")
        for lab, y, v in zip(self.labels, self.yi, self.vi):
            lines.append(f"{lab:<{width}}  {fmt(y):>9}  {fmt(v):>9}")
        for note in self.notes:
            lines.append("")
            lines.append(f"Note: {note}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# helpers


def _check_counts(name: str, arr: np.ndarray) -> None:
    bad = np.flatnonzero(arr < 0)
    if len(bad):
        raise InputError(f"{name} has a negative count ({arr[bad[0]]:g}) at index {int(bad[0])}; counts must be >= 0")


def _check_not_above(name: str, arr: np.ndarray, total_name: str, total: np.ndarray) -> None:
    bad = np.flatnonzero(arr > total)
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"{name}[{i}] = {arr[i]:g} exceeds {total_name}[{i}] = {total[i]:g}; "
            f"events cannot outnumber the patients of their arm"
        )


def _complement(events, rest, total, events_name, rest_name, total_name):
    """Return the non-events of an arm from either ``rest`` or ``total``, checking both agree."""
    if rest is None and total is None:
        raise InputError(f"give {rest_name} or {total_name} beside {events_name}")
    if rest is not None:
        rest = as_float_array(rest, rest_name)
        if total is not None:
            total = as_float_array(total, total_name)
            same_length(**{events_name: events, rest_name: rest, total_name: total})
            bad = np.flatnonzero(~np.isclose(events + rest, total))
            if len(bad):
                i = int(bad[0])
                raise InputError(f"{total_name}[{i}] is not {events_name}[{i}] + {rest_name}[{i}]")
        return rest
    total = as_float_array(total, total_name)
    same_length(**{events_name: events, total_name: total})
    _check_not_above(events_name, events, total_name, total)
    return total - events


def _check_to(to: str) -> str:
    if to not in _TO_OPTIONS:
        raise InputError(f"to={to!r} is not one of {', '.join(map(repr, _TO_OPTIONS))}")
    return to


def _check_add(add) -> float:
    """A continuity correction: a finite number >= 0 (a negative one makes counts negative)."""
    try:
        value = float(add)
    except (TypeError, ValueError):
        raise InputError(f"add={add!r} is not a number; give the continuity correction, such as "
                         "0.5 (or 0 for none)") from None
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"add={add!r}: the continuity correction must be 0 or more, such as 0.5")
    return value


def _check_vtype(measure: str, vtype: str) -> str:
    allowed = _VTYPES.get(measure, ("LS",))
    if vtype not in allowed:
        raise InputError(f"vtype={vtype!r} is not available for measure {measure!r}; use one of {', '.join(allowed)}")
    return vtype


def _add_correction(cells: list[np.ndarray], add: float, to: str, valid: np.ndarray):
    """metafor's continuity correction: add ``add`` to every cell of the tables ``to`` selects.

    ``valid`` marks the tables still in the analysis (a dropped double-zero table is not
    corrected). Returns the corrected cells and the mask of corrected tables.
    """
    k = len(cells[0])
    if to == "all":
        mask = valid.copy()
    elif to in ("only0", "if0all"):
        zero = np.zeros(k, dtype=bool)
        for c in cells:
            zero |= c == 0
        zero &= valid
        mask = zero if to == "only0" else (valid.copy() if zero.any() else zero)
    else:
        mask = np.zeros(k, dtype=bool)
    if add == 0:
        mask = np.zeros(k, dtype=bool) if to != "all" else mask
    out = [np.where(mask, c + add, c) for c in cells]
    return out, mask


def _finish(yi, vi):
    """Infinite or undefined values and negative variances become nan, as metafor's NA."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    bad = ~np.isfinite(yi) | ~np.isfinite(vi) | (vi < 0)
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    return yi, vi


def _wmean(x, w):
    ok = np.isfinite(x) & np.isfinite(w)
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


# --------------------------------------------------------------------------------------------
# pure numpy cores (reused by pooling.binary and pooling.proportions)


def two_by_two(measure, ai, bi, ci, di, *, add=0.5, to="only0", drop00=False, vtype="LS"):
    """``(yi, vi, corrected)`` for two-arm binary data; arrays already validated.

    Mirrors metafor's ``escalc`` for ``OR``, ``RR``, ``RD`` and ``PETO``: optional dropping of
    double-zero tables (``drop00``), then the continuity correction ``add`` to the tables ``to``
    selects, then the estimate on the corrected counts.
    """
    ai, bi, ci, di = (np.asarray(x, dtype=float) for x in (ai, bi, ci, di))
    valid = np.ones(len(ai), dtype=bool)
    if drop00:
        valid &= ~(((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0)))
    (ai, bi, ci, di), corrected = _add_correction([ai, bi, ci, di], add, to, valid)
    n1, n2 = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = ai / n1, ci / n2
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif measure == "RD":
            yi = p1 - p2
            if vtype == "LS":
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
            elif vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            else:  # AV: arm proportions averaged over studies, weighted by arm size
                m1 = _wmean(np.where(valid, p1, np.nan), n1)
                m2 = _wmean(np.where(valid, p2, np.nan), n2)
                vi = m1 * (1 - m1) / n1 + m2 * (1 - m2) / n2
        elif measure == "PETO":
            n = n1 + n2
            xt, yt = ai + ci, bi + di
            expected = xt * n1 / n
            hyper_var = xt * yt * (n1 / n) * (n2 / n) / (n - 1)
            yi = (ai - expected) / hyper_var
            vi = 1 / hyper_var
        else:  # pragma: no cover - checked by callers
            raise InputError(f"unknown two-arm measure {measure!r}")
    yi = np.where(valid, yi, np.nan)
    vi = np.where(valid, vi, np.nan)
    yi, vi = _finish(yi, vi)
    return yi, vi, corrected


def one_arm(measure, xi, mi, *, add=0.5, to="only0", vtype="LS"):
    """``(yi, vi, corrected)`` for single-arm counts (``xi`` events, ``mi`` non-events)."""
    xi, mi = np.asarray(xi, dtype=float), np.asarray(mi, dtype=float)
    ni_u = xi + mi
    pr_u = xi / ni_u
    valid = np.ones(len(xi), dtype=bool)
    (xi, mi), corrected = _add_correction([xi, mi], add, to, valid)
    ni = xi + mi
    pr = xi / ni
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "PR":
            yi = pr
            if vtype == "LS":
                vi = pr * (1 - pr) / ni
            elif vtype == "UB":
                vi = pr * (1 - pr) / (ni - 1)
            else:
                m = _wmean(pr, ni)
                vi = m * (1 - m) / ni
        elif measure == "PLN":
            yi = np.log(pr)
            vi = 1 / xi - 1 / ni if vtype == "LS" else 1 / (_wmean(pr, ni) * ni) - 1 / ni
        elif measure == "PLO":
            yi = np.log(pr / (1 - pr))
            if vtype == "LS":
                vi = 1 / xi + 1 / mi
            else:
                m = _wmean(pr, ni)
                vi = 1 / (m * ni) + 1 / ((1 - m) * ni)
        elif measure == "PAS":
            yi = np.arcsin(np.sqrt(pr))
            vi = 1 / (4 * ni)
        elif measure == "PFT":
            yi = 0.5 * (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1))))
            vi = 1 / (4 * ni + 2)
        else:  # pragma: no cover
            raise InputError(f"unknown one-arm measure {measure!r}")
    del pr_u
    yi, vi = _finish(yi, vi)
    return yi, vi, corrected


def _hedges_correction(m):
    """metafor's exact small-sample factor c(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2)); nan for m <= 1."""
    from scipy.special import gammaln

    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


def continuous(measure, m1i, sd1i, n1i, m2i, sd2i, n2i, *, vtype="LS"):
    """``(yi, vi)`` for two groups summarised by mean, SD and size (``MD``, ``SMD``, ``ROM``)."""
    m1i, sd1i, n1i, m2i, sd2i, n2i = (np.asarray(x, dtype=float) for x in (m1i, sd1i, n1i, m2i, sd2i, n2i))
    ni = n1i + n2i
    dfree = ni - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sdp = np.sqrt(((n1i - 1) * sd1i**2 + (n2i - 1) * sd2i**2) / dfree)
        if measure == "MD":
            yi = m1i - m2i
            if vtype in ("LS", "UB"):
                vi = sd1i**2 / n1i + sd2i**2 / n2i
            else:
                vi = sdp**2 * (1 / n1i + 1 / n2i)
        elif measure == "SMD":
            d = (m1i - m2i) / sdp
            cm = _hedges_correction(dfree)
            yi = cm * d
            if vtype == "LS":
                vi = 1 / n1i + 1 / n2i + yi**2 / (2 * ni)
            elif vtype == "UB":
                vi = 1 / n1i + 1 / n2i + (1 - (dfree - 2) / (dfree * cm**2)) * yi**2
            elif vtype == "LS2":
                vi = cm**2 * (1 / n1i + 1 / n2i + d**2 / (2 * ni))
            else:  # AV
                vi = 1 / n1i + 1 / n2i + _wmean(yi, ni) ** 2 / (2 * ni)
        elif measure == "ROM":
            yi = np.log(m1i / m2i)
            if vtype == "LS":
                vi = sd1i**2 / (n1i * m1i**2) + sd2i**2 / (n2i * m2i**2)
            elif vtype == "HO":
                vi = sdp**2 / (n1i * m1i**2) + sdp**2 / (n2i * m2i**2)
            elif vtype == "AV":
                c1 = _wmean(sd1i / m1i, n1i)
                c2 = _wmean(sd2i / m2i, n2i)
                vi = c1**2 / n1i + c2**2 / n2i
            else:  # AVHO
                cv1, cv2 = sd1i / m1i, sd2i / m2i
                ok = np.isfinite(cv1) & np.isfinite(cv2)
                c = (np.sum((n1i * cv1)[ok]) + np.sum((n2i * cv2)[ok])) / np.sum(ni[ok])
                vi = c**2 * (1 / n1i + 1 / n2i)
        elif measure == "SMDH":
            # Bonett's heteroscedastic d: the average of the two variances as standardiser
            cm = _hedges_correction(dfree)
            s1, s2 = sd1i**2, sd2i**2
            yi = cm * (m1i - m2i) / np.sqrt((s1 + s2) / 2)
            if vtype == "LS":
                vi = cm**2 * (yi**2 * (s1**2 / (n1i - 1) + s2**2 / (n2i - 1)) / (2 * (s1 + s2) ** 2)
                              + (s1 / (n1i - 1) + s2 / (n2i - 1)) / ((s1 + s2) / 2))
            else:  # LS2
                vi = (yi**2 * (s1 / n1i + s2 / n2i) / (2 * (s1 + s2) ** 2)
                      + 2 * (s1 / n1i + s2 / n2i) / (s1 + s2))
        elif measure == "CVR":
            # log ratio of coefficients of variation, each with its small-sample bias term
            yi = np.log(sd1i / m1i) + 1 / (2 * (n1i - 1)) - np.log(sd2i / m2i) - 1 / (2 * (n2i - 1))
            vi = 1 / (2 * (n1i - 1)) + sd1i**2 / (n1i * m1i**2) + 1 / (2 * (n2i - 1)) + sd2i**2 / (n2i * m2i**2)
        elif measure == "VR":
            yi = np.log(sd1i / sd2i) + 1 / (2 * (n1i - 1)) - 1 / (2 * (n2i - 1))
            vi = 1 / (2 * (n1i - 1)) + 1 / (2 * (n2i - 1))
        else:  # pragma: no cover
            raise InputError(f"unknown measure {measure!r}")
    yi_out, vi_out = _finish(yi, vi)
    if measure == "SMD" and vtype == "AV":
        # a study of 3 patients has no small-sample factor (and so no g), but its AV variance
        # rests on the other studies' mean g and is defined: metafor keeps it
        keep = (dfree <= 1) & np.isfinite(vi) & (vi >= 0)
        vi_out = np.where(keep, vi, vi_out)
    return yi_out, vi_out


def incidence_two_arm(measure, x1i, t1i, x2i, t2i, *, add=0.5, to="only0", drop00=False):
    """``(yi, vi, corrected)`` for two arms of events over person-time (``IRR``, ``IRD``, ``IRSD``).

    As metafor's ``escalc``: optional dropping of studies without events in either arm, then the
    continuity correction added to the event counts of the studies ``to`` selects.
    """
    x1i, t1i, x2i, t2i = (np.asarray(x, dtype=float) for x in (x1i, t1i, x2i, t2i))
    valid = np.ones(len(x1i), dtype=bool)
    if drop00:
        valid &= ~((x1i == 0) & (x2i == 0))
    (x1, x2), corrected = _add_correction([x1i, x2i], add, to, valid)
    r1, r2 = x1 / t1i, x2 / t2i
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "IRR":
            yi = np.log(r1) - np.log(r2)
            vi = 1 / x1 + 1 / x2
        elif measure == "IRD":
            yi = r1 - r2
            vi = r1 / t1i + r2 / t2i
        elif measure == "IRSD":
            yi = np.sqrt(r1) - np.sqrt(r2)
            vi = 1 / (4 * t1i) + 1 / (4 * t2i)
        else:  # pragma: no cover
            raise InputError(f"unknown incidence measure {measure!r}")
    yi = np.where(valid, yi, np.nan)
    if measure == "IRSD":
        # metafor keeps the IRSD variance (person-time only) of a dropped study, whose yi is NA
        return np.where(np.isfinite(yi), yi, np.nan), vi, corrected
    vi = np.where(valid, vi, np.nan)
    yi, vi = _finish(yi, vi)
    return yi, vi, corrected


def incidence_one_arm(measure, xi, ti, *, add=0.5, to="only0"):
    """``(yi, vi, corrected)`` for events ``xi`` over person-time ``ti`` (``IR``, ``IRLN``, ``IRS``, ``IRFT``)."""
    xi, ti = np.asarray(xi, dtype=float), np.asarray(ti, dtype=float)
    (x,), corrected = _add_correction([xi], add, to, np.ones(len(xi), dtype=bool))
    rate = x / ti
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "IR":
            yi, vi = rate, rate / ti
        elif measure == "IRLN":
            yi, vi = np.log(rate), 1 / x
        elif measure == "IRS":
            yi, vi = np.sqrt(rate), 1 / (4 * ti)
        elif measure == "IRFT":
            yi, vi = 0.5 * (np.sqrt(rate) + np.sqrt(rate + 1 / ti)), 1 / (4 * ti)
        else:  # pragma: no cover
            raise InputError(f"unknown incidence measure {measure!r}")
    yi, vi = _finish(yi, vi)
    return yi, vi, corrected


def _hyp2f1(a, b, c, x):
    """Gauss's hypergeometric 2F1(a, b; c; x) for 0 <= x <= 1 and c > b > 0, elementwise.

    Euler's integral ``∫ t^(b-1) (1-t)^(c-b-1) (1-xt)^(-a) dt / B(b, c-b)`` with QUADPACK's
    algebraic-weight rule: scipy's ``hyp2f1`` returns nan for the large ``c`` and ``x`` near 1 that
    correlations from big samples give (c = 143, x = 0.935 for n = 288, r = 0.255).
    """
    import warnings

    from scipy.integrate import IntegrationWarning, quad
    from scipy.special import betaln, gammaln

    c, x = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(x, dtype=float))
    out = np.full(c.shape, np.nan)
    for i in np.ndindex(c.shape):
        ci, xi = float(c[i]), float(x[i])
        if not (np.isfinite(ci) and np.isfinite(xi)) or ci <= a + b:
            continue
        if xi == 0:
            out[i] = 1.0
            continue
        if xi == 1:  # Gauss's summation theorem
            out[i] = math.exp(gammaln(ci) + gammaln(ci - a - b) - gammaln(ci - a) - gammaln(ci - b))
            continue
        if ci > 100:
            # the power series: for large c its terms fall at least as fast as (k+1)/(c+k)
            term, total, j = 1.0, 1.0, 0
            while abs(term) > 1e-17 * abs(total) and j < 10_000:
                term *= (a + j) * (b + j) / ((ci + j) * (j + 1)) * xi
                total += term
                j += 1
            out[i] = total
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IntegrationWarning)
            val, _ = quad(lambda t: (1 - xi * t) ** (-a), 0, 1, weight="alg", wvar=(b - 1, ci - b - 1),
                          epsabs=0, epsrel=1e-13, limit=200)
        out[i] = val * math.exp(-betaln(b, ci - b))
    return out


def correlation(measure, ri, ni, *, vtype="LS"):
    """``(yi, vi)`` for correlations ``ri`` from samples of ``ni`` (``COR``, ``UCOR``, ``ZCOR``).

    ``UCOR`` is the Olkin-Pratt unbiased estimator ``r · 2F1(1/2, 1/2; (n-2)/2; 1-r²)``, undefined
    (nan) for ``n <= 4``; every variance is undefined for ``n <= 3``, as in metafor.
    """
    ri, ni = np.asarray(ri, dtype=float), np.asarray(ni, dtype=float)
    hyp2f1 = _hyp2f1
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "ZCOR":
            yi = np.arctanh(ri)
            yi = np.where(np.abs(ri) == 1, np.sign(ri) * np.inf, yi)
            vi = 1 / (ni - 3)
        else:
            if measure == "COR":
                yi = ri.copy()
            else:
                # the hypergeometric series needs c > a + b, i.e. n > 4
                yi = np.where(ni > 4, ri * hyp2f1(0.5, 0.5, (ni - 2) / 2, 1 - ri**2), np.nan)
            if vtype == "LS":
                vi = (1 - yi**2) ** 2 / (ni - 1)
            elif vtype == "AV":
                m = _wmean(yi, ni)
                vi = (1 - m**2) ** 2 / (ni - 1)
            else:  # UB (UCOR only)
                f = np.where(ni > 4, hyp2f1(1.0, 1.0, ni / 2, 1 - ri**2), np.nan)
                vi = yi**2 - (1 - (ni - 3) / (ni - 2) * (1 - ri**2) * f)
        vi = np.where(ni <= 3, np.nan, vi)
    # metafor keeps r when only its variance is undefined (n <= 3); infinities void both
    inf = np.isinf(yi) | np.isinf(vi)
    return np.where(inf, np.nan, yi), np.where(inf, np.nan, vi)


# --------------------------------------------------------------------------------------------
# public: escalc


def escalc(
    measure: str,
    *,
    ai=None,
    bi=None,
    ci=None,
    di=None,
    n1i=None,
    n2i=None,
    xi=None,
    mi=None,
    ni=None,
    m1i=None,
    sd1i=None,
    m2i=None,
    sd2i=None,
    x1i=None,
    t1i=None,
    x2i=None,
    t2i=None,
    ti=None,
    ri=None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    labels=None,
) -> Effects:
    """Effect sizes and sampling variances from study data, as metafor's ``escalc()``.

    Parameters
    ----------
    measure : str
        ``OR``, ``RR``, ``RD``, ``PETO`` (two arms: ``ai``/``ci`` events, ``bi``/``di`` non-events or
        ``n1i``/``n2i`` arm sizes); ``PR``, ``PLN``, ``PLO``, ``PAS``, ``PFT`` (one arm: ``xi`` events
        out of ``ni``, or ``mi`` non-events); ``MD``, ``SMD`` (Hedges' g with the exact gamma-function
        correction), ``SMDH`` (Bonett's heteroscedastic SMD), ``ROM`` (log ratio of means), ``CVR``
        (log ratio of coefficients of variation) from ``m1i, sd1i, n1i, m2i, sd2i, n2i``; ``VR`` (log
        ratio of SDs) from ``sd1i, n1i, sd2i, n2i``; ``IRR`` (log rate ratio), ``IRD`` (rate
        difference), ``IRSD`` (difference of square-root rates) from events ``x1i``/``x2i`` over
        person-time ``t1i``/``t2i``; ``IR``, ``IRLN``, ``IRS``, ``IRFT`` (one rate, raw, log,
        square root, Freeman-Tukey) from ``xi`` over ``ti``; ``COR``, ``UCOR`` (Olkin-Pratt unbiased)
        and ``ZCOR`` (Fisher's z) from correlations ``ri`` in samples of ``ni``.
    add : float, optional
        Continuity correction. metafor's default: 1/2, except 0 for ``PAS``, ``PFT``, ``IRSD``,
        ``IRS`` and ``IRFT``.
    to : {"only0", "all", "if0all", "none"}
        Which tables get ``add``: those with a zero cell (default), all, all if any has a zero
        cell, none.
    drop00 : bool
        Give ``nan`` for two-arm tables with no events (or only events) in both arms, and for
        incidence data without events in either arm.
    vtype : str
        Variance estimator, as metafor's ``vtype`` (``LS`` default; ``UB``, ``AV``, ``HO``, ``LS2``,
        ``AVHO`` where metafor offers them: RD, PR, PLN, PLO, MD, SMD, SMDH, ROM, COR, UCOR).
        The averaged ones (``AV``, ``AVHO``) average over the studies where the averaged quantity
        is finite: for ``ROM`` a group with a mean of 0 (no coefficient of variation; its study's
        effect is undefined) is left out of its arm's average, where metafor's average becomes
        infinite and every study's variance NA.
    labels : sequence of str, optional
        Study labels.

    Returns
    -------
    Effects
        ``yi``, ``vi`` (unpack as ``yi, vi = escalc(...)``), the measure, per-study totals and
        which studies were corrected; ``nan`` where metafor gives ``NA``.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
    metafor ``escalc()`` 3.8-1.

    Examples
    --------
    >>> yi, vi = escalc("OR", ai=[4, 6], n1i=[123, 306], ci=[11, 29], n2i=[139, 303])
    >>> [round(float(y), 4) for y in yi]
    [-0.9387, -1.6662]
    >>> [round(float(y), 4) for y in escalc("IRR", x1i=[5, 0], t1i=[100, 80], x2i=[9, 4], t2i=[120, 90]).yi]
    [-0.4055, -2.0794]
    """
    if not isinstance(measure, str):
        raise InputError(f"measure must be a string such as 'OR', got {measure!r}")
    measure = measure.upper()
    _check_to(to)
    if labels is not None:
        labels = [str(x) for x in labels]

    if measure in TWO_ARM_MEASURES:
        if ai is None or ci is None:
            raise InputError(f"measure {measure!r} needs ai and ci (events in each arm) and bi/di or n1i/n2i")
        a = as_float_array(ai, "ai")
        c = as_float_array(ci, "ci")
        b = _complement(a, bi, n1i, "ai", "bi", "n1i")
        d = _complement(c, di, n2i, "ci", "di", "n2i")
        k = same_length(ai=a, bi=b, ci=c, di=d, labels=labels)
        for name, arr in (("ai", a), ("bi", b), ("ci", c), ("di", d)):
            _check_counts(name, arr)
        vt = _check_vtype(measure, vtype)
        add_ = 0.5 if add is None else _check_add(add)
        yi, vi, corrected = two_by_two(measure, a, b, c, d, add=add_, to=to, drop00=drop00, vtype=vt)
        ni_u = a + b + c + d
        notes = _notes(yi, corrected, add_, drop00, a, b, c, d)
    elif measure in ONE_ARM_MEASURES:
        if xi is None:
            raise InputError(f"measure {measure!r} needs xi (events) and ni (patients) or mi (non-events)")
        x = as_float_array(xi, "xi")
        m = _complement(x, mi, ni, "xi", "mi", "ni")
        k = same_length(xi=x, mi=m, labels=labels)
        _check_counts("xi", x)
        _check_counts("mi" if mi is not None else "ni - xi", m)
        zero_n = np.flatnonzero(x + m <= 0)
        if len(zero_n):
            raise InputError(f"ni[{int(zero_n[0])}] is 0; every study needs at least one patient")
        vt = _check_vtype(measure, vtype)
        add_ = (0.0 if measure in _NO_ADD_BY_DEFAULT else 0.5) if add is None else _check_add(add)
        yi, vi, corrected = one_arm(measure, x, m, add=add_, to=to, vtype=vt)
        ni_u = x + m
        notes = _notes(yi, corrected, add_, False)
    elif measure in INCIDENCE_TWO_ARM_MEASURES:
        needed = {"x1i": x1i, "t1i": t1i, "x2i": x2i, "t2i": t2i}
        arrs = _needed_arrays(measure, needed)
        k = same_length(**arrs, labels=labels)
        _check_counts("x1i", arrs["x1i"])
        _check_counts("x2i", arrs["x2i"])
        _check_person_time(arrs["t1i"], "t1i")
        _check_person_time(arrs["t2i"], "t2i")
        _check_vtype(measure, vtype)
        add_ = (0.0 if measure in _NO_ADD_BY_DEFAULT else 0.5) if add is None else _check_add(add)
        yi, vi, corrected = incidence_two_arm(measure, arrs["x1i"], arrs["t1i"], arrs["x2i"], arrs["t2i"],
                                              add=add_, to=to, drop00=drop00)
        ni_u = arrs["t1i"] + arrs["t2i"]
        notes = _notes(yi, corrected, add_, drop00)
    elif measure in INCIDENCE_ONE_ARM_MEASURES:
        arrs = _needed_arrays(measure, {"xi": xi, "ti": ti})
        k = same_length(**arrs, labels=labels)
        _check_counts("xi", arrs["xi"])
        _check_person_time(arrs["ti"], "ti")
        _check_vtype(measure, vtype)
        add_ = (0.0 if measure in _NO_ADD_BY_DEFAULT else 0.5) if add is None else _check_add(add)
        yi, vi, corrected = incidence_one_arm(measure, arrs["xi"], arrs["ti"], add=add_, to=to)
        ni_u = arrs["ti"]
        notes = _notes(yi, corrected, add_, False)
    elif measure in CORRELATION_MEASURES:
        arrs = _needed_arrays(measure, {"ri": ri, "ni": ni})
        k = same_length(**arrs, labels=labels)
        bad = np.flatnonzero(np.abs(arrs["ri"]) > 1)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"ri[{i}] = {arrs['ri'][i]:g}; a correlation lies in [-1, 1]")
        bad = np.flatnonzero(arrs["ni"] <= 0)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"ni[{i}] = {arrs['ni'][i]:g}; sample sizes must be positive")
        vt = _check_vtype(measure, vtype)
        yi, vi = correlation(measure, arrs["ri"], arrs["ni"], vtype=vt)
        corrected = np.zeros(k, dtype=bool)
        ni_u = arrs["ni"]
        notes = _notes(yi, corrected, 0.0, False)
        small = np.flatnonzero(arrs["ni"] <= (4 if measure == "UCOR" else 3))
        if len(small):
            extra = " (and no unbiased r for n <= 4)" if measure == "UCOR" else ""
            notes.append(f"no sampling variance for n <= 3{extra}: studies at index "
                         + ", ".join(str(int(i)) for i in small))
    elif measure in CONTINUOUS_MEASURES:
        needed = {"m1i": m1i, "sd1i": sd1i, "n1i": n1i, "m2i": m2i, "sd2i": sd2i, "n2i": n2i}
        if measure == "VR":
            # the variability ratio needs no means
            needed = {"sd1i": sd1i, "n1i": n1i, "sd2i": sd2i, "n2i": n2i}
        arrs = _needed_arrays(measure, needed)
        k = same_length(**arrs, labels=labels)
        if measure == "VR":
            arrs["m1i"] = arrs["m2i"] = np.full(k, np.nan)
        for n in ("sd1i", "sd2i"):
            bad = np.flatnonzero(arrs[n] < 0)
            if len(bad):
                raise InputError(f"{n}[{int(bad[0])}] = {arrs[n][bad[0]]:g}; a standard "
                                 "deviation must be >= 0")
        for n in ("n1i", "n2i"):
            bad = np.flatnonzero(arrs[n] <= 0)
            if len(bad):
                raise InputError(f"{n}[{int(bad[0])}] = {arrs[n][bad[0]]:g}; group sizes must be positive")
        vt = _check_vtype(measure, vtype)
        yi, vi = continuous(measure, arrs["m1i"], arrs["sd1i"], arrs["n1i"], arrs["m2i"], arrs["sd2i"], arrs["n2i"], vtype=vt)
        corrected = np.zeros(k, dtype=bool)
        ni_u = arrs["n1i"] + arrs["n2i"]
        notes = _notes(yi, corrected, 0.0, False)
    else:
        known = (TWO_ARM_MEASURES + ONE_ARM_MEASURES + CONTINUOUS_MEASURES + INCIDENCE_TWO_ARM_MEASURES
                 + INCIDENCE_ONE_ARM_MEASURES + CORRELATION_MEASURES)
        raise InputError(f"measure={measure!r} is not supported; use one of {', '.join(known)}")
    return Effects(yi=yi, vi=vi, measure=measure, ni=ni_u, labels=tuple(labels or ()), corrected=corrected, notes=tuple(notes))


def _needed_arrays(measure, needed: dict) -> dict:
    missing = [n for n, v in needed.items() if v is None]
    if missing:
        raise InputError(f"measure {measure!r} needs {', '.join(needed)}; missing: {', '.join(missing)}")
    return {n: as_float_array(v, n) for n, v in needed.items()}


def _check_person_time(arr, name):
    bad = np.flatnonzero(arr <= 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {arr[i]:g}; person-time must be > 0")


def _notes(yi, corrected, add, drop00, a=None, b=None, c=None, d=None) -> list[str]:
    notes = []
    if corrected.any():
        idx = ", ".join(str(int(i)) for i in np.flatnonzero(corrected))
        notes.append(f"continuity correction {add:g} added to every cell of studies at index {idx}")
    bad = np.flatnonzero(np.isnan(yi))
    if len(bad):
        idx = ", ".join(str(int(i)) for i in bad)
        why = "double-zero tables dropped (drop00=True) or " if drop00 else ""
        notes.append(f"no effect size for studies at index {idx} ({why}undefined or infinite value, metafor's NA)")
    return notes


# --------------------------------------------------------------------------------------------
# reported summaries


def _se_from_bounds(center, low, high, z, *, what, log=False):
    """SE from an interval's half-width; one-sided when a bound is missing. ``log``: the values
    are logarithms (the error message prints them on the reported scale)."""
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    both = np.isfinite(low) & np.isfinite(high)
    se = np.where(both, (high - low) / (2 * z), np.nan)
    only_low = np.isfinite(low) & ~np.isfinite(high)
    only_high = ~np.isfinite(low) & np.isfinite(high)
    se = np.where(only_low, (center - low) / z, se)
    se = np.where(only_high, (high - center) / z, se)
    bad = np.flatnonzero(~np.isfinite(se) | (se <= 0))
    if len(bad):
        i = int(bad[0])

        def at(v):
            return float(np.ravel(v)[i]) if np.ndim(v) else float(v)

        def shown(v):
            return "empty" if not np.isfinite(v) else f"{np.exp(v) if log else v:g}"

        c, lo_i, hi_i = at(center), at(low), at(high)
        if not (np.isfinite(lo_i) or np.isfinite(hi_i)):
            why = "no bound is given"
        elif np.isfinite(lo_i) and np.isfinite(hi_i):
            why = "its two bounds are equal" if lo_i == hi_i else "its bounds are in the wrong order"
        else:
            why = "its only bound equals the estimate"
        lo, hi, c = shown(lo_i), shown(hi_i), shown(c)
        raise InputError(
            f"{what} at index {i} gives no usable interval: {why} (estimate {c}, ci_low {lo}, "
            f"ci_high {hi}); give a bound on at least one side, distinct from the estimate"
        )
    return se


def _check_positive(name, arr, allow_nan=False):
    bad = np.flatnonzero((arr <= 0) if not allow_nan else (arr <= 0) & np.isfinite(arr))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {arr[i]:g}; a ratio, median or bound must be > 0 to be logged")


def _check_inside(value, low, high, name):
    lo_bad = np.isfinite(low) & (low > value)
    hi_bad = np.isfinite(high) & (high < value)
    bad = np.flatnonzero(lo_bad | hi_bad)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {value[i]:g} lies outside its interval [{low[i]:g}, {high[i]:g}]")


def _log_scale_from_ci(value, ci_low, ci_high, level, *, name, what):
    """Checked log value and its SE from a positive value with an interval (ratios and medians).

    Returns ``(yi, se, one_sided)``: ``one_sided`` are the indices where one bound was missing.
    """
    value = as_float_array(value, name)
    low = as_float_array(ci_low, "ci_low", allow_nan=True)
    high = as_float_array(ci_high, "ci_high", allow_nan=True)
    same_length(**{name: value}, ci_low=low, ci_high=high)
    _check_positive(name, value)
    _check_positive("ci_low", low, allow_nan=True)
    _check_positive("ci_high", high, allow_nan=True)
    _check_inside(value, low, high, name)
    z = _zcrit_array(level, len(value))
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(value)
        se = _se_from_bounds(yi, np.log(low), np.log(high), z, what=what, log=True)
    return yi, se, np.flatnonzero(np.isfinite(low) != np.isfinite(high))


def ratio_from_ci(value, ci_low, ci_high, level: float = 95, *, measure: str = "HR", labels=None) -> Effects:
    """Log ratio and its variance from a ratio (HR, OR, RR) reported with an interval.

    ``yi = log(value)`` and ``se = (log(ci_high) - log(ci_low)) / (2 z)`` with ``z`` the normal
    quantile of ``level`` (95, 96, 99, 60 ... or a fraction such as 0.95; may be one per study). The
    interval is assumed to be a Wald interval on the log scale, as for Cox and logistic models. A
    missing bound (``nan``) uses the other side alone.

    Examples
    --------
    >>> res = ratio_from_ci(0.59, 0.45, 0.77)
    >>> round(float(res.yi[0]), 4), round(float(res.sei[0]), 4)
    (-0.5276, 0.137)
    """
    yi, se, _ = _log_scale_from_ci(value, ci_low, ci_high, level, name="value", what="ratio")
    notes = ("log ratio; SE from the interval width on the log scale (Wald interval assumed)",)
    return Effects(yi=yi, vi=se**2, measure=measure, labels=tuple(labels or ()), notes=notes)


def median_from_ci(median, ci_low, ci_high, level: float = 95, *, labels=None) -> Effects:
    """Log median (a median survival time, say) and its variance from the median's interval.

    Assumption: the log of the estimated median is approximately normal, so the reported interval is
    symmetric on the log scale and ``se = (log(ci_high) - log(ci_low)) / (2 z)``. Intervals of
    Kaplan-Meier medians (Brookmeyer-Crowley) are often asymmetric and an upper bound is often not
    reached: a missing (``nan``) upper bound uses the lower side alone,
    ``se = (log(median) - log(ci_low)) / z``, and a missing lower bound the upper side. The measure
    code is ``MEDLN``.

    Examples
    --------
    >>> res = median_from_ci(10.8, 9.1, 12.9)
    >>> round(float(res.yi[0]), 4), round(float(res.sei[0]), 4)
    (2.3795, 0.089)
    """
    yi, se, one_sided = _log_scale_from_ci(median, ci_low, ci_high, level, name="median",
                                           what="median")
    notes = ["log median assumed approximately normal; SE from the interval width on the log scale"]
    if len(one_sided):
        notes.append("one-sided SE (one bound missing) for studies at index " + ", ".join(str(int(i)) for i in one_sided))
    return Effects(yi=yi, vi=se**2, measure="MEDLN", labels=tuple(labels or ()), notes=tuple(notes))


def difference_from_ci(estimate, ci_low, ci_high, level: float = 95, *, measure: str = "GEN", labels=None) -> Effects:
    """A difference (mean or risk difference) and its variance from a symmetric interval.

    ``se = (ci_high - ci_low) / (2 z)``; a missing bound uses the other side alone.

    Examples
    --------
    >>> res = difference_from_ci(2.0, 0.04, 3.96)
    >>> round(float(res.sei[0]), 4)
    1.0
    """
    est = as_float_array(estimate, "estimate")
    low = as_float_array(ci_low, "ci_low", allow_nan=True)
    high = as_float_array(ci_high, "ci_high", allow_nan=True)
    same_length(estimate=est, ci_low=low, ci_high=high)
    _check_inside(est, low, high, "estimate")
    z = _zcrit_array(level, len(est))
    se = _se_from_bounds(est, low, high, z, what="estimate")
    return Effects(yi=est, vi=se**2, measure=measure, labels=tuple(labels or ()), notes=("SE from the interval half-width",))


def difference_from_pvalue(estimate, pvalue, *, test: str = "z", df=None, log: bool = False, measure: str = "GEN", labels=None) -> Effects:
    """An estimate and its variance from a two-sided p-value.

    ``se = |estimate| / q`` with ``q`` the normal (``test="z"``) or Student t (``test="t"``, give
    ``df``) quantile at ``1 - p/2``. With ``log=True`` the estimate is a ratio and is logged first.
    A p-value reported as a bound (``p < 0.001``) gives only a bound on the SE: pass the bound and
    say so in the notes of the row.

    Examples
    --------
    >>> res = difference_from_pvalue(1.96, 0.05)
    >>> round(float(res.sei[0]), 4)
    1.0
    """
    from scipy.special import ndtri
    from scipy.stats import t as tdist

    est = as_float_array(estimate, "estimate")
    p = as_float_array(pvalue, "pvalue")
    same_length(estimate=est, pvalue=p)
    bad = np.flatnonzero((p <= 0) | (p >= 1))
    if len(bad):
        raise InputError(f"pvalue[{int(bad[0])}] = {p[bad[0]]:g}; a two-sided p-value must lie in (0, 1)")
    if log:
        _check_positive("estimate", est)
        est = np.log(est)
    zero = np.flatnonzero(est == 0)
    if len(zero):
        raise InputError(f"estimate at index {int(zero[0])} is the null value; its p-value carries no SE")
    # upper quantiles from the tail (isf): 1 - p/2 rounds to 1 below p ~ 1e-16, an infinite z
    if test == "z":
        q = -ndtri(p / 2)
    elif test == "t":
        if df is None:
            raise InputError("test='t' needs df (the degrees of freedom of the reported test)")
        q = tdist.isf(p / 2, np.asarray(df, dtype=float))
    else:
        raise InputError(f"test={test!r}; use 'z' or 't'")
    se = np.abs(est) / q
    return Effects(yi=est, vi=se**2, measure=measure, labels=tuple(labels or ()), notes=(f"SE from the two-sided p-value ({test} test)",))


def _zcrit_array(level, k):
    lev = np.atleast_1d(np.asarray(level, dtype=float))
    if lev.size == 1:
        return np.full(k, zcrit(check_level(float(lev[0]))))
    if lev.size != k:
        raise InputError(f"level must be one number or one per study ({k}); got {lev.size}")
    return np.array([zcrit(check_level(float(v))) for v in lev])


# --------------------------------------------------------------------------------------------
# units


_MONTHS_PER = {
    "months": 1.0, "month": 1.0,
    "weeks": 7 * 12.0 / 365.25, "week": 7 * 12.0 / 365.25,
    "days": 12.0 / 365.25, "day": 12.0 / 365.25,
    "years": 12.0, "year": 12.0,
}


def to_months(values, unit):
    """Times in ``unit`` (``months``, ``weeks``, ``days``, ``years``; scalar or per value) in months.

    A year is 365.25 days and 12 months; a week is 7 days (so a month is 30.4375 days).

    Examples
    --------
    >>> float(to_months(2, "years")), round(float(to_months(30.4375, "days")), 6)
    (24.0, 1.0)
    """
    values = np.asarray(values, dtype=float)
    units = np.broadcast_to(np.asarray(unit, dtype=object), values.shape)
    factors = np.empty(values.shape, dtype=float)
    for idx, u in np.ndenumerate(units):
        key = str(u).strip().lower() if u is not None else ""
        if key not in _MONTHS_PER:
            where = f" at index {idx[0]}" if values.ndim else ""
            raise InputError(f"unit {u!r}{where} is not a time unit; use months, weeks, days or years")
        factors[idx] = _MONTHS_PER[key]
    return values * factors


# --------------------------------------------------------------------------------------------
# from the study table

_FILTER_COLUMNS = ("therapy", "comparator", "arm", "design", "data_cut", "population", "assessor")
_PROVENANCE = ("source", "locator", "notes")


def _text(series):
    return series.fillna("").astype(str).str.strip()


def effects_from_table(
    table,
    outcome: str,
    measure: str,
    *,
    scale: str | None = None,
    therapy=None,
    comparator=None,
    arm=None,
    design=None,
    data_cut=None,
    population=None,
    assessor=None,
    studies=None,
    select=None,
    from_value: bool = False,
    missing: str = "warn",
    add: float | None = None,
    to: str = "only0",
):
    """Effect sizes ``(yi, vi)`` per study from the rows of the study table, with provenance.

    Parameters
    ----------
    table : StudyTable or pandas.DataFrame
        The study table (``ma.read_studies(...)``) or a frame with its columns (``data/README.md``).
    outcome : str
        Outcome code (``PFS``, ``OS``, ``ORR``, ``AE:G3+``...).
    measure : {"hr", "median", "proportion"}
        Which rows: ``hr`` gives ``yi = log HR`` with its SE from the interval at the row's
        ``ci_level`` (:func:`ratio_from_ci`); ``median`` gives the log median in months with its SE
        from the interval (:func:`median_from_ci`; units converted by :func:`to_months`);
        ``proportion`` gives ``escalc(scale, xi=numerator, ni=denominator)``.
    scale : str, optional
        For proportions the analysis measure (``PLO`` default, ``PFT``, ``PAS``, ``PR``, ``PLN``).
    therapy, comparator, arm, design, data_cut, population, assessor : str or list, optional
        Keep rows whose column equals the value (or one of the values; ``""`` matches an empty
        cell, e.g. ``population=["", "itt"]`` for the whole population).
    studies : list of str, optional
        Keep these study ids.
    select : {"first", "last", "latest"} or callable, optional
        Rule for a study (or, for arm-level measures, a study arm) with several matching rows:
        first or last row of the file, the latest analysis (``data_cut`` in the order of
        :data:`~metaanalysis.studies.CUT_CHRONOLOGY`: final > update > primary > interim, then the
        latest year), or a function taking the rows (a DataFrame) and returning
        the one row to keep (a Series or a one-row DataFrame). Without a rule, several rows for one
        study raise an :class:`InputError` listing them.
    from_value : bool
        Proportions only: when a row has no counts, use ``round(value * denominator)`` (or ``n`` when
        the denominator is missing) as the number of events; the row's ``derived`` column says so.
        Off by default: a percentage without its counts is not silently turned into counts.
    missing : {"warn", "drop", "raise"}
        What to do with a selected row that gives no effect (no interval, a median not reached,
        no counts): drop it with a warning naming the row (default), drop it quietly (still listed
        in ``frame.attrs["dropped"]``), or raise.
    add, to :
        Continuity correction for proportions (:func:`escalc` defaults).

    Returns
    -------
    pandas.DataFrame
        One row per study (per study arm for medians and proportions): ``study_id``, ``label``
        (trial and therapy), ``yi``, ``vi``, ``sei``, ``measure`` (the analysis code: ``HR``,
        ``MEDLN``, ``PLO``...), ``xi``/``ni`` for proportions, the reported ``value``, ``ci_low``,
        ``ci_high``, ``ci_level``, ``unit``, the filters' columns, provenance (``source``,
        ``locator``, ``notes``, ``line``: the CSV line number) and ``derived`` (how yi was obtained).
        ``frame.attrs["dropped"]`` lists rows that gave no effect.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"study_id": ["a", "b"], "trial": ["A", "B"], "therapy": ["x", "x"],
    ...     "comparator": ["placebo", "placebo"], "arm": ["x vs placebo"] * 2, "outcome": ["PFS", "PFS"],
    ...     "measure": ["hr", "hr"], "value": [0.5, 0.6], "ci_low": [0.4, 0.45], "ci_high": [0.62, 0.8],
    ...     "ci_level": [0.95, 0.95], "source": ["s1", "s2"], "locator": ["abstract", "table 2"],
    ...     "notes": ["", ""]})
    >>> effects_from_table(rows, "PFS", "hr")[["study_id", "label", "yi"]].round(4)
      study_id             label      yi
    0        a  A (x vs placebo) -0.6931
    1        b  B (x vs placebo) -0.5108
    """
    import warnings

    import pandas as pd

    frame = getattr(table, "frame", table)
    if not isinstance(frame, pd.DataFrame):
        raise InputError("table must be a StudyTable or a pandas DataFrame with the study-table columns")
    measure_l = str(measure).lower()
    if measure_l not in ("hr", "median", "proportion"):
        raise InputError(f"measure={measure!r}: effects_from_table takes 'hr', 'median' or 'proportion'")
    if missing not in ("warn", "drop", "raise"):
        raise InputError(f"missing={missing!r}: use 'warn', 'drop' or 'raise'")
    needed = {"study_id", "outcome", "measure", "value"}
    lacking = sorted(needed - set(frame.columns))
    if lacking:
        raise InputError(f"the table lacks the column(s) {', '.join(lacking)} (see data/README.md)")
    df = frame.copy()
    if "line" not in df.columns:
        df["line"] = np.arange(len(df)) + 2  # header is line 1
    for col in ("trial", "therapy", "comparator", "arm", "unit", "status", *_PROVENANCE, *_FILTER_COLUMNS):
        if col not in df.columns:
            df[col] = ""
    for col in ("ci_low", "ci_high", "ci_level", "numerator", "denominator", "n"):
        if col not in df.columns:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")

    mask = (_text(df["outcome"]) == outcome) & (_text(df["measure"]).str.lower() == measure_l)
    filters = dict(therapy=therapy, comparator=comparator, arm=arm, design=design, data_cut=data_cut,
                   population=population, assessor=assessor)
    for col, wanted in filters.items():
        if wanted is None:
            continue
        values = [str(v) for v in (wanted if isinstance(wanted, (list, tuple, set)) else [wanted])]
        mask &= _text(df[col]).isin(values)
    if studies is not None:
        mask &= _text(df["study_id"]).isin([str(s) for s in studies])
    rows = df[mask]
    if rows.empty:
        raise InputError(
            f"no rows with outcome={outcome!r} and measure={measure_l!r}"
            + ("" if all(v is None for v in filters.values()) else " after the filters given")
        )

    unit_cols = ["study_id"] if measure_l == "hr" else ["study_id", "arm"]
    rows = _one_per_unit(rows, unit_cols, select)

    out = []
    dropped = []
    for _, row in rows.iterrows():
        rec, why = _effect_of_row(row, measure_l, scale, from_value, add, to)
        if rec is None:
            dropped.append({"line": int(row["line"]), "study_id": row["study_id"], "reason": why})
            continue
        out.append(rec)
    if dropped:
        msg = "; ".join(f"line {d['line']} ({d['study_id']}): {d['reason']}" for d in dropped)
        if missing == "raise":
            raise InputError("rows that give no effect size: " + msg)
        if missing == "warn":
            warnings.warn("rows left out, no effect size: " + msg, UserWarning, stacklevel=2)
    result = pd.DataFrame(out)
    if result.empty:
        raise InputError("no selected row gives an effect size: " + "; ".join(d["reason"] for d in dropped))
    if measure_l == "proportion":
        sc = (scale or "PLO").upper()
        add_ = (0.0 if sc in _NO_ADD_BY_DEFAULT else 0.5) if add is None else _check_add(add)
        counted = np.isfinite(result["xi"].to_numpy(float))   # the others carry yi, vi already
        if counted.any():
            eff = escalc(sc, xi=result["xi"].to_numpy(float)[counted],
                         ni=result["ni"].to_numpy(float)[counted], add=add_, to=to)
            yi, vi = result["yi"].to_numpy(float), result["vi"].to_numpy(float)
            yi[counted], vi[counted] = eff.yi, eff.vi
            result["yi"], result["vi"] = yi, vi
        result["measure"] = sc
    result["sei"] = np.sqrt(result["vi"])
    first = ["study_id", "label", "yi", "vi", "sei", "measure"]
    result = result[first + [c for c in result.columns if c not in first]]
    result.attrs["dropped"] = dropped
    result.attrs["outcome"] = outcome
    return result.reset_index(drop=True)


def _one_per_unit(rows, unit_cols, select):
    import pandas as pd

    keys = [_text(rows[c]) for c in unit_cols]
    # one key alone, not a list of one: pandas 1.5 warns on every call about its keys becoming
    # 1-tuples (pandas 2 made them so); the message below reads either form
    groups = rows.groupby(keys[0] if len(keys) == 1 else keys, sort=False)
    dups = {k: g for k, g in groups if len(g) > 1}
    if not dups:
        return rows
    if select is None:
        parts = []
        for key, g in dups.items():
            varying = [c for c in _FILTER_COLUMNS + ("value", "year") if c in g.columns and g[c].astype(str).nunique() > 1]
            parts.append(f"{key if isinstance(key, str) else ' / '.join(key)}: lines "
                         + ", ".join(str(int(x)) for x in g["line"])
                         + (f" (differ in {', '.join(varying)})" if varying else ""))
        raise InputError(
            "several rows for one study: " + "; ".join(parts)
            + ". Choose with data_cut=, population= (\"\" for an empty cell), assessor=, therapy=, or give "
            "select='first', 'last', 'latest' or a function"
        )
    keep = []
    for _, g in groups:
        if len(g) == 1:
            keep.append(g.iloc[0])
        elif callable(select):
            picked = select(g)
            if isinstance(picked, pd.DataFrame):
                if len(picked) != 1:
                    raise InputError("select must return one row")
                picked = picked.iloc[0]
            keep.append(picked)
        elif select == "first":
            keep.append(g.iloc[0])
        elif select == "last":
            keep.append(g.iloc[-1])
        elif select == "latest":
            from .studies import CUT_CHRONOLOGY

            chronology = {c: i for i, c in enumerate(CUT_CHRONOLOGY)}
            order = _text(g["data_cut"]).map(lambda s: chronology.get(s.lower(), -1))
            year = pd.to_numeric(g["year"], errors="coerce").fillna(-1) if "year" in g.columns else 0
            rank = order * 10000 + year
            keep.append(g.loc[rank.idxmax()])
        else:
            raise InputError(f"select={select!r}: use 'first', 'last', 'latest' or a function")
    return pd.DataFrame(keep)


def _label(row, contrast):
    trial = str(row.get("trial", "") or row["study_id"]).strip() or str(row["study_id"])
    if contrast:
        arm = str(row.get("arm", "")).strip()
        if not arm:
            th, co = str(row.get("therapy", "")).strip(), str(row.get("comparator", "")).strip()
            arm = f"{th} vs {co}" if co else th
        return f"{trial} ({arm})" if arm else trial
    th = str(row.get("therapy", "")).strip() or str(row.get("arm", "")).strip()
    return f"{trial} ({th})" if th else trial


def _effect_of_row(row, measure_l, scale, from_value, add, to):
    """One row's record (dict) or (None, reason)."""
    base = {
        "study_id": row["study_id"],
        "label": _label(row, measure_l == "hr"),
        "trial": row.get("trial", ""),
        "arm": row.get("arm", ""),
        "therapy": row.get("therapy", ""),
        "comparator": row.get("comparator", ""),
        "value": row["value"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "ci_level": row["ci_level"],
        "unit": row.get("unit", ""),
    }
    for col in ("data_cut", "population", "assessor"):
        base[col] = row.get(col, "")
    for col in _PROVENANCE:
        base[col] = row.get(col, "")
    base["line"] = int(row["line"])
    value, lo, hi, lvl = row["value"], row["ci_low"], row["ci_high"], row["ci_level"]
    level = 95.0 if not np.isfinite(lvl) else lvl
    if measure_l == "hr":
        if not np.isfinite(value):
            return None, "no hazard ratio"
        if not (np.isfinite(lo) or np.isfinite(hi)):
            return None, "hazard ratio without an interval"
        if not np.isfinite(row["ci_level"]):
            return None, "interval without ci_level"
        res = ratio_from_ci(value, lo, hi, level=level)
        base.update(yi=float(res.yi[0]), vi=float(res.vi[0]), measure="HR",
                    derived=f"log HR; SE from the {level * 100 if level < 1 else level:g}% interval")
        return base, None
    if measure_l == "median":
        if str(row.get("status", "")).strip() == "not_reached" or not np.isfinite(value):
            return None, "median not reached"
        if not (np.isfinite(lo) or np.isfinite(hi)):
            return None, "median without an interval"
        if not np.isfinite(row["ci_level"]):
            return None, "interval without ci_level"
        unit = str(row.get("unit", "")).strip() or "months"
        m, l_, h_ = (float(to_months(v, unit)) for v in (value, lo, hi))
        res = median_from_ci(m, l_, h_, level=level)
        one_sided = np.isfinite(lo) != np.isfinite(hi)
        base.update(yi=float(res.yi[0]), vi=float(res.vi[0]), measure="MEDLN", value_months=m,
                    derived=("log median in months" + (f" (from {unit})" if unit != "months" else "")
                             + "; SE from the interval" + (" (one side only)" if one_sided else "")))
        return base, None
    # proportion
    x, d = row["numerator"], row["denominator"]
    derived = "events = numerator, patients = denominator"
    if not (np.isfinite(x) and np.isfinite(d)):
        if not from_value:
            return None, "no numerator/denominator (from_value=True would use value x denominator)"
        total = d if np.isfinite(d) else row["n"]
        why = None
        if not (np.isfinite(value) and np.isfinite(total)):
            why = "no counts and no value with a denominator or n"
        else:
            why = events_from_percentage(value, total, total_is_denominator=bool(np.isfinite(d)),
                                         population=row.get("population", ""))[1]
        if why is not None:
            # no count, but the interval the study reports still weighs it (generic inverse
            # variance, Cochrane Handbook 6.3): on the logit scale only, where the exact
            # (Clopper-Pearson) interval of a proportion is close to symmetric
            rec = _logit_from_interval(base, value, lo, hi, lvl, scale)
            if rec is not None:
                return rec, None
            if np.isfinite(value) and np.isfinite(total) and \
                    str(row.get("population", "")).strip().lower() in WHOLE_ARM_POPULATIONS:
                why = None      # a whole arm's percentage: the count as before
            else:
                return None, why
        x, d = round(float(value) * float(total)), float(total)
        derived = (f"events = round(value x {'denominator' if np.isfinite(row['denominator']) else 'n'}) "
                   "(from_value=True; counts not reported)")
    base.update(xi=float(x), ni=float(d), yi=np.nan, vi=np.nan, measure=(scale or "PLO").upper(), derived=derived)
    return base, None


def interval_weighs_proportion(value, lo, hi, level, scale) -> bool:
    """Whether a proportion without a count can be weighted by its reported interval: on the
    logit scale (PLO), with a level and both bounds strictly inside (0, 1) around the value."""
    if (scale or "PLO").upper() != "PLO":
        return False
    return bool(all(np.isfinite(v) for v in (value, lo, hi, level)) and 0 < lo < value < hi < 1)


def _logit_from_interval(base, value, lo, hi, lvl, scale):
    """The record of a proportion weighted by its reported interval on the logit scale, or None
    when that is not possible (see :func:`interval_weighs_proportion`)."""
    if not interval_weighs_proportion(value, lo, hi, lvl, scale):
        return None
    lv = float(lvl) * (100 if lvl <= 1 else 1)
    z = zcrit(check_level(lv))
    yi = math.log(value / (1 - value))
    se = (math.log(hi / (1 - hi)) - math.log(lo / (1 - lo))) / (2 * z)
    base.update(xi=np.nan, ni=np.nan, yi=yi, vi=se * se, measure="PLO",
                derived=(f"logit of the reported proportion, SE from its {lv:g}% interval (no count: "
                         "the denominator is not stated)"))
    return base


# Populations whose percentage is a share of the arm's size (n).
WHOLE_ARM_POPULATIONS = ("", "itt", "all", "safety")


def events_from_percentage(value, total, *, total_is_denominator: bool, population: str = ""):
    """The number of events behind a reported proportion, or why it cannot be derived.

    A count may be back-calculated from a percentage only with the denominator it is a share of:
    the row's own ``denominator`` (``total_is_denominator=True``), or the arm size ``n`` when the
    row is about the whole arm (``population`` empty, ``itt``, ``all`` or ``safety``) and the
    percentage is a whole-number share of it within the rounding of the printed value (23.3% of 128
    is not: 30/128 = 23.4%, so its denominator is another set of patients).

    Returns
    -------
    (float or None, str or None)
        ``(events, None)`` or ``(None, reason)``.

    Examples
    --------
    >>> events_from_percentage(0.543, 46, total_is_denominator=False)
    (25.0, None)
    >>> events_from_percentage(0.233, 128, total_is_denominator=False)[0] is None
    True
    """
    value, total = float(value), float(total)
    if not (math.isfinite(value) and math.isfinite(total)) or total <= 0:
        return None, "neither counts nor a denominator: no number of events"
    events = float(round(value * total))
    if total_is_denominator:
        return events, None
    if str(population).strip().lower() not in WHOLE_ARM_POPULATIONS:
        return None, (f"a percentage of an unstated denominator (population {population!r}): no "
                      "number of events can be derived from the arm size")
    text = repr(value)
    decimals = len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0
    if abs(events / total - value) > 0.5 * 10.0 ** -decimals + 1e-9:
        return None, (f"{100 * value:g}% is no whole-number share of the arm's {total:g} patients: "
                      "its denominator is another set of patients, so no count can be derived")
    return events, None
