"""Figures of fitted parametric survival models and of proportional-hazards checks.

- :func:`plot_survival_models`: the fitted survival curves of a
  :class:`~metaanalysis.survival.models.SurvivalModelsResult` over the Kaplan-Meier curve, each
  model with its own colour-blind-safe colour *and* line style, and a legend.
- :func:`plot_hazards`: the fitted hazards, over the kernel-smoothed empirical hazard that
  ``result.empirical_hazard()`` computed.
- :func:`plot_ph_check`: for a :class:`~metaanalysis.survival.ph.PHTestResult`, log cumulative
  hazard against log time for both arms, and the scaled Schoenfeld residuals with the smooth and
  band of ``plot.cox.zph``.

Nothing is estimated here: the curves are the result's fitted functions read at plotting times
(``result.survival(times)``, ``result.hazard(times)``), the Kaplan-Meier table and the smooth are
fields of the results.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import _style as S

__all__ = ["plot_survival_models", "plot_hazards", "plot_ph_check"]


def _new_ax(ax, width=None, height=2.4):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=(S.width_inches(width or "single"), height),
                         layout="constrained")  # labels and an outside legend stay on the page
    return ax


def _models(result, arm, models):
    chosen = result.models if models is None else tuple(models)
    bad = [m for m in chosen if m not in result.models]
    if bad:
        raise InputError(f"models {bad} were not fitted; fitted: {list(result.models)}")
    return [m for m in chosen if (arm, m) not in result.failures]


# black is the Kaplan-Meier curve's; 7 colours x 8 line styles keep up to 56 models apart
_COLOURS = tuple(c for c in S.PALETTE if c.lower() != "#000000")
LEGEND_INSIDE_MAX = 4


def _look(i):
    return _COLOURS[i % len(_COLOURS)], S.LINESTYLES[i % len(S.LINESTYLES)]


def _legend(ax, n, loc):
    if n > LEGEND_INSIDE_MAX:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3.2, borderaxespad=0.0)
    else:
        ax.legend(loc=loc, handlelength=3.2)


def plot_survival_models(result, ax=None, km=None, *, arm=None, models=None, times=None, band=False,
                         xlabel="Time", ylabel="Survival probability", legend=True, width=None):
    """Fitted survival curves over the Kaplan-Meier estimate of one arm.

    Parameters
    ----------
    result : SurvivalModelsResult
        From :func:`metaanalysis.fit_survival_models`.
    ax : Axes, optional
    km : DataFrame or False, optional
        Kaplan-Meier table (``time, survival`` and optionally ``ci_low, ci_high``) to draw as a
        step curve; by default the result's own (``result.km``); ``False`` draws none.
    arm : str, optional
        Which arm (needed when the result has several).
    models : sequence of str, optional
        Models to draw (default all fitted).
    times : array_like, optional
        Times to draw the curves at (default 200 points from 0 to the longest follow-up; pass
        later times to show the extrapolation).
    band : bool
        Also shade each model's delta-method band.
    legend : bool
        A legend, inside the panel for up to four entries, right of it for more.

    Returns
    -------
    matplotlib.axes.Axes
        Curves have gid ``sm-model-<name>``, the KM curve ``sm-km``.
    """
    arm = result.arm_name(arm)
    ms = _models(result, arm, models)
    if km is None:
        km = result.km[result.km["arm"] == arm]
    if km is not False and not {"time", "survival"} <= set(km.columns):
        raise InputError("km must have columns time and survival")
    if times is None:
        last = float(result.km.loc[result.km["arm"] == arm, "time"].max())
        times = np.linspace(0.0, last, 200)
    curves = result.survival(times, models=ms, arms=[arm]) if ms else None
    with S.style():
        ax = _new_ax(ax, width)
        if km is not False:
            t = np.r_[0.0, km["time"].to_numpy(float)]
            s = np.r_[1.0, km["survival"].to_numpy(float)]
            ax.step(t, s, where="post", color=S.INK, lw=1.0, label="Kaplan-Meier", gid="sm-km", zorder=3)
            if "ci_low" in km.columns:
                ax.fill_between(t, np.r_[1.0, km["ci_low"].to_numpy(float)], np.r_[1.0, km["ci_high"].to_numpy(float)],
                                step="post", color=S.LIGHT, alpha=0.5, lw=0, gid="sm-km-band")
        for i, m in enumerate(ms):
            c, ls = _look(i)
            g = curves[curves["model"] == m]
            ax.plot(g["time"], g["survival"], color=c, ls=ls, lw=1.1, label=m, gid=f"sm-model-{m}")
            if band:
                ax.fill_between(g["time"], g["ci_low"], g["ci_high"], color=c, alpha=0.12, lw=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            _legend(ax, len(ms) + (km is not False), "upper right")
    return ax


def plot_hazards(result, ax=None, empirical=None, *, arm=None, models=None, times=None, xlabel="Time",
                 ylabel="Hazard", legend=True, width=None):
    """Fitted hazard functions of one arm, over a smoothed empirical hazard.

    ``empirical`` is ``result.empirical_hazard()`` (``arm, time, hazard``) or any such table; it is
    drawn in grey. Other parameters as :func:`plot_survival_models`. Returns the Axes (gids
    ``sm-hazard-<model>``, ``sm-empirical``).
    """
    arm = result.arm_name(arm)
    ms = _models(result, arm, models)
    if times is None:
        last = float(result.km.loc[result.km["arm"] == arm, "time"].max())
        times = np.linspace(last / 200, last, 200)
    haz = result.hazard(times, models=ms, arms=[arm]) if ms else None
    with S.style():
        ax = _new_ax(ax, width)
        if empirical is not None:
            if not {"time", "hazard"} <= set(empirical.columns):
                raise InputError("empirical must have columns time and hazard (result.empirical_hazard())")
            emp = empirical[empirical["arm"] == arm] if "arm" in empirical.columns else empirical
            ax.plot(emp["time"], emp["hazard"], color=S.GREY, lw=2.0, alpha=0.7, label="smoothed empirical",
                    gid="sm-empirical")
        for i, m in enumerate(ms):
            c, ls = _look(i)
            g = haz[haz["model"] == m]
            ax.plot(g["time"], g["hazard"], color=c, ls=ls, lw=1.1, label=m, gid=f"sm-hazard-{m}")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            _legend(ax, len(ms) + (empirical is not None), "best")
    return ax


def plot_ph_check(ph_result, ax=None, *, width="double", height=2.4):
    """The two proportional-hazards diagnostics of a :func:`metaanalysis.ph_test` result.

    Left: log(-log S_KM) against log time for both arms (parallel under proportional hazards).
    Right: scaled Schoenfeld residuals against the transformed time, with the smooth and +-2 SE
    band of R's ``plot.cox.zph`` and the Cox estimate as a horizontal line (flat under PH).

    Parameters
    ----------
    ph_result : PHTestResult
    ax : pair of Axes, optional
        Where to draw the two panels; by default a new figure with two.

    Returns
    -------
    ndarray of two Axes
    """
    import matplotlib.pyplot as plt

    for name in ("log_cumhaz", "residuals", "smooth"):
        if not hasattr(ph_result, name):
            raise InputError("plot_ph_check needs the result of ma.ph_test(...)")
    with S.style():
        if ax is None:
            _, axes = plt.subplots(1, 2, figsize=(S.width_inches(width), height), layout="constrained")
        else:
            axes = np.asarray(ax, dtype=object).ravel()
            if len(axes) != 2:
                raise InputError("ax must be a pair of Axes (left: log cumulative hazard, right: residuals)")
        left, right = axes
        lch = ph_result.log_cumhaz
        for i, arm in enumerate(dict.fromkeys(lch["arm"])):
            c, ls = _look(i)
            g = lch[lch["arm"] == arm]
            left.step(g["log_time"], g["log_cumhaz"], where="post", color=c, ls=ls, lw=1.0, label=str(arm),
                      gid=f"ph-logcumhaz-{i}")
        left.set_xlabel("log time")
        left.set_ylabel("log cumulative hazard")
        left.legend(loc="upper left", handlelength=2.8)
        res, sm = ph_result.residuals, ph_result.smooth
        right.scatter(res["x"], res["residual"], s=6, facecolors="none", edgecolors=S.GREY, lw=0.6,
                      gid="ph-residuals")
        right.plot(sm["x"], sm["fit"], color=S.PALETTE[0], lw=1.2, gid="ph-smooth")
        right.plot(sm["x"], sm["ci_low"], color=S.PALETTE[0], lw=0.8, ls=S.LINESTYLES[1], gid="ph-band")
        right.plot(sm["x"], sm["ci_high"], color=S.PALETTE[0], lw=0.8, ls=S.LINESTYLES[1])
        right.axhline(ph_result.coef, color=S.INK, lw=0.6, ls=S.LINESTYLES[2], gid="ph-coef")
        right.set_xlabel(f"time ({ph_result.transform} scale)")
        # the log hazard ratio of the first arm against the second (as R names its covariate)
        right.set_ylabel(f"Beta(t) for {ph_result.arm_names[0]}")
        right.set_title(f"chisq = {ph_result.chisq:.2f}, p = {ph_result.pvalue:.3g}", fontsize=S.SMALL_FONT_SIZE)
    return axes
