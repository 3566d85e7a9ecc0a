"""Figures of fitted parametric survival models and of proportional-hazards checks.

- :func:`plot_survival_models`: the fitted survival curves of a
  :class:`~metaanalysis.survival.models.SurvivalModelsResult` over the Kaplan-Meier curve, each
  model with its own colour-blind-safe colour *and* line style, and a legend.
- :func:`plot_hazards`: the fitted hazards, over the kernel-smoothed empirical hazard that
  ``result.empirical_hazard()`` computed.
- :func:`plot_ph_check`: for a :class:`~metaanalysis.survival.ph.PHTestResult`, log cumulative
  hazard against log time for both arms, and the scaled Schoenfeld residuals with the smooth and
  band of ``plot.cox.zph``.
- :func:`plot_hr_over_time`: a hazard ratio that changes with time (``hr_over_time`` of two arms,
  or of a survival network) with its band, on a log axis.
- :func:`plot_rmst_over_tau`: a pooled RMST difference or ratio over the horizon tau
  (``rmst_over_tau``), the horizon the rule chose marked.
- :func:`plot_extrapolation`: every model's survival (above) and hazard (below) past the end of
  follow-up, the extrapolated part shaded.
- :func:`plot_survival_network`: a survival network's modelled curves (above) and its hazard
  ratios over time (below).

Nothing is estimated here: the curves are the result's fitted functions read at plotting times
(``result.survival(times)``, ``result.hazard(times)``), the Kaplan-Meier table and the smooth are
fields of the results.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import _style as S

__all__ = ["plot_survival_models", "plot_hazards", "plot_ph_check", "plot_hr_over_time",
           "plot_rmst_over_tau", "plot_extrapolation", "plot_survival_network"]


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


def plot_hr_over_time(result, ax=None, *, group="therapy", follow_up=None, xlabel="Time",
                      ylabel="Hazard ratio", legend=True, looks=None, width=None):
    """A hazard ratio that changes with time, with its pointwise band, on a log axis.

    Parameters
    ----------
    result : TimeVaryingHRResult or DataFrame
        :func:`metaanalysis.hr_over_time` (its ``curve``), or a table with ``time, hr, ci_low,
        ci_high`` such as a survival network's ``hr_over_time()``, one line per ``group`` value
        when that column is there.
    ax : Axes, optional
    group : str
        Column naming each line (default ``therapy``).
    follow_up : float, optional
        Last follow-up time: later times are drawn dashed and shaded as extrapolation.
    legend : bool
    looks : dict, optional
        ``{group value: (colour, line style)}``, to match another panel; by default the
        palette's colours in turn, solid.

    Returns
    -------
    matplotlib.axes.Axes
        Lines have gid ``hrt-<group value>`` (``hrt`` for a single line), the line of no
        difference ``hrt-null``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, metaanalysis as ma
    >>> rng = np.random.default_rng(0)
    >>> a = pd.DataFrame({"time": rng.exponential(1.0, 300), "event": 1})
    >>> b = pd.DataFrame({"time": rng.exponential(1.5, 300), "event": 1})
    >>> ax = plot_hr_over_time(ma.hr_over_time(a, b))
    """
    from .funnel import _log_axis

    table = getattr(result, "curve", result)
    if table is None or not {"time", "hr", "ci_low", "ci_high"} <= set(getattr(table, "columns", ())):
        raise InputError("result must be hr_over_time(...) or a table with time, hr, ci_low, ci_high")
    parts = ([(str(k), g) for k, g in table.groupby(group, sort=False)] if group in table.columns
             else [("", table)])
    with S.style():
        ax = _new_ax(ax, width)
        for i, (name, g) in enumerate(parts):
            g = g.sort_values("time")
            c, ls = (looks or {}).get(name, (_look(i)[0], "-"))
            t = g["time"].to_numpy(float)
            inside = np.ones(len(t), bool) if follow_up is None else t <= follow_up
            gid = f"hrt-{name}" if name else "hrt"
            ax.plot(t[inside], g["hr"].to_numpy(float)[inside], color=c, ls=ls, lw=1.2,
                    label=name or None, gid=gid)
            if (~inside).any():
                j = max(int(np.flatnonzero(inside)[-1]) if inside.any() else 0, 0)
                ax.plot(t[j:], g["hr"].to_numpy(float)[j:], color=c, lw=1.2, ls="--",
                        gid=f"{gid}-extrapolated")
            ax.fill_between(t, g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float), color=c,
                            alpha=0.15, lw=0)
        ax.axhline(1.0, color=S.INK, lw=0.6, gid="hrt-null")
        if follow_up is not None and float(table["time"].max()) > follow_up:
            ax.axvspan(follow_up, float(table["time"].max()), color=S.LIGHT, alpha=0.35, lw=0,
                       gid="hrt-beyond")
        _log_axis(ax, "y", include=1.0)  # round ratios, 1 among them
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend and parts[0][0]:
            _legend(ax, len(parts), "best")
    return ax


def plot_rmst_over_tau(table, ax=None, *, tau=None, xlabel="Horizon tau", ylabel=None,
                       width=None):
    """A pooled RMST difference (or ratio) and its interval over the horizon tau.

    Parameters
    ----------
    table : DataFrame
        :func:`metaanalysis.rmst_over_tau`'s table (``tau, measure, estimate, ci_low, ci_high``).
    ax : Axes, optional
    tau : float, optional
        The horizon the analysis used (its rule's choice), marked by a vertical line.
    ylabel : str, optional
        Default from the measure.

    Returns
    -------
    matplotlib.axes.Axes
        The estimate has gid ``rmst-tau``, its band ``rmst-tau-band``, the chosen horizon
        ``rmst-tau-chosen``.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"tau": [6, 12, 18], "measure": "RMSTD", "estimate": [0.3, 1.0, 2.0],
    ...                     "ci_low": [0.1, 0.5, 1.1], "ci_high": [0.5, 1.5, 2.9]})
    >>> ax = plot_rmst_over_tau(tab, tau=18)
    """
    if not {"tau", "estimate", "ci_low", "ci_high"} <= set(getattr(table, "columns", ())):
        raise InputError("table must be rmst_over_tau(...)'s (tau, estimate, ci_low, ci_high)")
    g = table.sort_values("tau")
    ratio = "measure" in g.columns and str(g["measure"].iloc[0]).upper() == "RMSTR"
    with S.style():
        ax = _new_ax(ax, width)
        t = g["tau"].to_numpy(float)
        ax.fill_between(t, g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float),
                        color=S.LIGHT, alpha=0.6, lw=0, gid="rmst-tau-band")
        ax.plot(t, g["estimate"].to_numpy(float), color=S.INK, lw=1.2, gid="rmst-tau")
        ax.axhline(1.0 if ratio else 0.0, color=S.GREY, lw=0.6)
        if tau is not None:
            ax.axvline(float(tau), color=S.PALETTE[1], lw=0.9, ls="--", gid="rmst-tau-chosen")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel or ("RMST ratio" if ratio else "RMST difference"))
    return ax


def _two_rows(ax, width, height, what):
    import matplotlib.pyplot as plt

    if ax is None:
        _, axes = plt.subplots(2, 1, figsize=(S.width_inches(width), height), layout="constrained",
                               sharex=True)
        return axes
    axes = np.asarray(ax, dtype=object).ravel()
    if len(axes) != 2:
        raise InputError(f"ax must be a pair of Axes ({what})")
    return axes


def plot_extrapolation(result, ax=None, *, horizon, follow_up=None, empirical=None, arm=None,
                       models=None, xlabel="Time", ylabel="Survival probability",
                       width="double", height=5.0):
    """Every model of one arm past the end of its follow-up: survival above, hazard below.

    The time after ``follow_up`` is shaded: there the curves are extrapolation, which the data
    cannot check, and how far the models part there is the uncertainty about the shape that no
    model's own interval carries (NICE DSU TSD 14).

    Parameters
    ----------
    result : SurvivalModelsResult
    ax : pair of Axes, optional
        Top (survival) and bottom (hazard); by default a new figure with both.
    horizon : float
        Time to extrapolate to.
    follow_up : float, optional
        End of follow-up; by default the arm's last time.
    empirical : DataFrame, optional
        ``result.empirical_hazard()``, drawn in grey under the fitted hazards.
    arm, models : as :func:`plot_survival_models`.

    Returns
    -------
    ndarray of two Axes
        The shaded spans have gid ``beyond-follow-up``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, metaanalysis as ma
    >>> rng = np.random.default_rng(1)
    >>> res = ma.fit_survival_models(pd.DataFrame({"time": rng.weibull(1.5, 200) * 10, "event": 1}),
    ...                              models=("exponential", "weibull"))
    >>> top, bottom = plot_extrapolation(res, horizon=40)
    """
    arm = result.arm_name(arm)
    horizon = float(horizon)
    if follow_up is None:
        follow_up = float(result.km.loc[result.km["arm"] == arm, "time"].max())
    with S.style():
        top, bottom = _two_rows(ax, width, height, "survival above, hazard below")
    plot_survival_models(result, ax=top, arm=arm, models=models,
                         times=np.linspace(0.0, horizon, 241), xlabel="", ylabel=ylabel)
    plot_hazards(result, ax=bottom, empirical=empirical, arm=arm, models=models,
                 times=np.linspace(horizon / 240, horizon, 240), xlabel=xlabel, legend=False)
    with S.style():
        for a in (top, bottom):
            if horizon > follow_up:
                a.axvspan(follow_up, horizon, color=S.LIGHT, alpha=0.35, lw=0, gid="beyond-follow-up")
            a.axvline(follow_up, color=S.GREY, lw=0.6)
        top.text(follow_up, 1.0, " end of follow-up", fontsize=S.SMALL_FONT_SIZE, va="top",
                 color=S.GREY)
    return np.array([top, bottom], dtype=object)


def plot_survival_network(curves, hazard_ratios, ax=None, *, reference=None, xlabel="Time",
                          ylabel="Survival (modelled)", width="double", height=5.0):
    """A survival network's modelled curves (above) and hazard ratios over time (below).

    Parameters
    ----------
    curves : DataFrame
        ``SurvivalNMAResult.survival()`` (``time, therapy, survival`` ...).
    hazard_ratios : DataFrame
        ``SurvivalNMAResult.hr_over_time()`` (``time, therapy, hr, ci_low, ci_high``).
    ax : pair of Axes, optional
    reference : str, optional
        The therapy the ratios are against, for the axis label.

    Returns
    -------
    ndarray of two Axes

    Examples
    --------
    >>> import pandas as pd
    >>> curves = pd.DataFrame({"time": [0, 1, 2] * 2, "therapy": ["A"] * 3 + ["B"] * 3,
    ...                        "survival": [1, .8, .6, 1, .7, .5]})
    >>> hr = pd.DataFrame({"time": [1, 2], "therapy": "B", "hr": [1.3, 1.2],
    ...                    "ci_low": [1.0, 0.9], "ci_high": [1.7, 1.6]})
    >>> top, bottom = plot_survival_network(curves, hr, reference="A")
    """
    if not {"time", "therapy", "survival"} <= set(getattr(curves, "columns", ())):
        raise InputError("curves must be SurvivalNMAResult.survival()'s (time, therapy, survival)")
    with S.style():
        top, bottom = _two_rows(ax, width, height, "curves above, hazard ratios below")
        therapies = list(dict.fromkeys(curves["therapy"]))
        # a therapy keeps its colour in both panels (the reference has no ratio line)
        look = {th: _look(i) for i, th in enumerate(therapies)}
        for th in therapies:
            g = curves[curves["therapy"] == th].sort_values("time")
            c, ls = look[th]
            top.plot(g["time"], g["survival"], color=c, ls=ls, lw=1.2, label=str(th),
                     gid=f"snma-{th}")
            if {"ci_low", "ci_high"} <= set(g.columns):
                top.fill_between(g["time"], g["ci_low"], g["ci_high"], color=c, alpha=0.12, lw=0)
        top.set_ylim(0, 1.02)
        top.set_xlim(left=0)
        top.set_ylabel(ylabel)
        _legend(top, len(therapies), "upper right")
    # each therapy in the colour and line style it has in the panel above
    plot_hr_over_time(hazard_ratios, ax=bottom, xlabel=xlabel, legend=False,
                      looks={str(th): v for th, v in look.items()},
                      ylabel=f"Hazard ratio against {reference}" if reference else "Hazard ratio")
    return np.array([top, bottom], dtype=object)
