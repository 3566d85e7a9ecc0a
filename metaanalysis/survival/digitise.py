"""Simulated digitisation: turn patient data into the clicks and risk table a person would read.

Used for round-trip checks of :func:`~metaanalysis.survival.reconstruct_ipd` (known truth in, clicks
out, reconstruction compared with the truth) and to see how much a reconstruction can be trusted
for a curve of a given size before digitising it by hand.
"""

from __future__ import annotations

import math

import numpy as np

from .._base import as_float_array
from ..errors import InputError
from .curves import DigitisedCurve

__all__ = ["km_steps", "simulate_digitisation"]

_NICE = np.array([1, 2, 2.5, 3, 4, 5, 6, 10])


def km_steps(time, event):
    """The Kaplan-Meier step function of ``(time, event)``.

    Returns
    -------
    times : ndarray
        Distinct event times, increasing.
    surv : ndarray
        Survival just after each of them.
    n_risk : ndarray
        Number at risk just before each of them.
    end : float
        The last follow-up time (where a drawn curve ends).

    Examples
    --------
    >>> km_steps([1, 2, 2, 3], [1, 1, 0, 1])[1].tolist()
    [0.75, 0.5, 0.0]
    """
    time = as_float_array(time, "time")
    event = as_float_array(event, "event")
    if len(time) != len(event) or len(time) == 0:
        raise InputError("time and event must be non-empty and of the same length")
    order = np.argsort(time, kind="stable")
    t, e = time[order], event[order]
    uniq, first = np.unique(t, return_index=True)
    n_at = len(t) - first
    d = np.add.reduceat(e, first)
    has = d > 0
    surv = np.cumprod(1.0 - d[has] / n_at[has])
    return uniq[has], surv, n_at[has], float(t[-1])


def _nice_step(span: float, k: int) -> float:
    raw = span / k
    mag = 10 ** math.floor(math.log10(raw))
    return float(_NICE[np.argmin(np.abs(_NICE * mag - raw))] * mag)


def simulate_digitisation(
    time,
    event,
    *,
    n_clicks: int | None = None,
    jitter_time: float = 0.003,
    jitter_surv: float = 0.003,
    risk_step: float | None = None,
    risk_stop: float | None = None,
    axis_end: float | None = None,
    seed=None,
    time_unit: str = "months",
    study_id: str = "simulated",
    arm: str = "",
) -> DigitisedCurve:
    """Digitise the Kaplan-Meier curve of ``(time, event)`` the way a person does.

    The clicks are uneven: the start and the end of the curve, then drops chosen with probability
    rising with their size; at a chosen drop the person clicks the bottom corner (the left end of
    the next step), both corners, or somewhere along the next flat stretch. Every click gets normal
    jitter in both axes (standard deviations ``jitter_time`` times the follow-up and ``jitter_surv``
    in survival), clipped to the plotting area. The risk table is read at round times every
    ``risk_step`` up to ``axis_end`` (the axis, which may run past the curve) or ``risk_stop``.

    Parameters
    ----------
    time, event : array_like
        Patient data (event 1, censored 0).
    n_clicks : int, optional
        Number of clicks; drawn uniformly from 40 to 160 when not given (never more than the
        curve has corners to click).
    jitter_time, jitter_surv : float
        Click jitter as described above (0.003 is about one pixel on a 300-pixel axis).
    risk_step : float, optional
        Spacing of the risk table; by default a round number giving 4 to 10 times.
    risk_stop : float, optional
        Last time of the risk table (a table that stops well before the curve ends).
    axis_end : float, optional
        End of the time axis; by default the follow-up rounded up to the risk step.
    seed : int or numpy Generator
        Random state; the same seed gives the same clicks.

    Returns
    -------
    DigitisedCurve
        With the true number of events as ``total_events`` (use ``curve.reconstruct(
        use_total_events=False)`` to leave it out).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> t = rng.exponential(12, 200); c = rng.uniform(0, 36, 200)
    >>> curve = simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=2)
    >>> int(curve.n_risk[0]), 40 <= len(curve.t) <= 160
    (200, True)
    """
    rng = np.random.default_rng(seed)
    time = as_float_array(time, "time")
    event = as_float_array(event, "event")
    if np.any(time < 0):
        raise InputError("time must not be negative")
    tau, surv, _, end = km_steps(time, event)
    if len(tau) == 0:
        raise InputError("no events: the curve is flat, there is nothing to digitise")
    prev = np.r_[1.0, surv[:-1]]
    drop = prev - surv
    nxt = np.r_[tau[1:], end]  # end of the flat stretch after each drop

    budget = int(rng.integers(40, 161)) if n_clicks is None else int(n_clicks)
    if budget < 2:
        raise InputError("n_clicks must be at least 2")
    xs = [0.0, end]
    ys = [1.0, float(surv[-1])]
    w = np.sqrt(drop) * rng.uniform(0.5, 1.5, len(drop))
    order = rng.choice(len(drop), size=len(drop), replace=False, p=w / w.sum())
    for j in order:
        if len(xs) >= budget:
            break
        u = rng.uniform()
        if u < 0.5:  # bottom corner: left end of the next step
            xs.append(tau[j]); ys.append(surv[j])
        elif u < 0.8:  # both corners of the drop
            xs += [tau[j], tau[j]]; ys += [prev[j], surv[j]]
        else:  # somewhere along the next flat stretch
            xs.append(rng.uniform(tau[j], nxt[j])); ys.append(surv[j])
    x = np.asarray(xs[:budget]) + rng.normal(0.0, jitter_time * end, min(len(xs), budget))
    y = np.asarray(ys[:budget]) + rng.normal(0.0, jitter_surv, min(len(ys), budget))
    x = np.clip(x, 0.0, None)
    y = np.clip(y, 0.0, 1.0)
    o = np.argsort(x, kind="stable")
    x, y = x[o], y[o]

    step = risk_step if risk_step is not None else _nice_step(end, int(rng.integers(4, 11)))
    if step <= 0:
        raise InputError("risk_step must be positive")
    if axis_end is None:
        axis_end = math.ceil(end / step - 1e-9) * step
    stop = axis_end if risk_stop is None else min(risk_stop, axis_end)
    rt = np.arange(0.0, stop + step * 1e-9, step)
    nr = (time[None, :] >= rt[:, None]).sum(axis=1).astype(float)
    return DigitisedCurve(
        t=x,
        s=y,
        risk_times=rt,
        n_risk=nr,
        total_events=int(event.sum()),
        study_id=study_id,
        arm=arm,
        time_unit=time_unit,
        scale="fraction",
        source="simulated",
        locator=f"simulate_digitisation(seed={seed!r})" if not isinstance(seed, np.random.Generator) else "simulate_digitisation",
    )
