"""The bubble plot of a meta-regression (metafor's ``regplot``).

Draws a :class:`~metaanalysis.pooling.regression.RegressionLine`: the studies as circles whose
area grows with their weight, the predicted line with its confidence band and, on request, its
prediction band. The line and the point sizes come from
:func:`metaanalysis.pooling.regression_line`; nothing is fitted or predicted here.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import _style as S

__all__ = ["regplot"]

# a point size of 1 (metafor's cex) is a circle this many points across
_POINT_PT = 5.5


def regplot(line, ax=None, *, mod=None, pi: bool = False, ci: bool = True, labels=False,
            xlabel=None, ylabel=None, refline=True):
    """Bubble plot of a meta-regression against one moderator, as metafor's ``regplot``.

    Parameters
    ----------
    line : RegressionLine or RegressionResult
        From :func:`metaanalysis.pooling.regression_line`; a fit from
        :func:`metaanalysis.meta_regression` is passed to it with ``mod`` and its defaults.
    ax : matplotlib Axes, optional
    mod : str or int, optional
        The moderator, when ``line`` is a fit.
    pi, ci : bool
        Draw the prediction band (dashed lines) and the confidence band (shaded).
    labels : bool or sequence of str
        Label the studies (``True``: with the fit's labels).
    xlabel, ylabel : str, optional
        Axis labels (default: the moderator; the measure in words).
    refline : bool
        A line at no effect (1 for ratios, 0 for differences; none for single-arm measures).

    Returns
    -------
    matplotlib.axes.Axes
        Artists tagged ``regplot-studies``, ``regplot-line``, ``regplot-ci``, ``regplot-pi`` and
        ``regplot-null``. For ratio measures the y axis is logarithmic and shows ratios.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> reg = ma.meta_regression(es.yi, es.vi, mods="~ ablat", data=bcg, measure="RR")
    >>> ax = regplot(ma.regression_line(reg), pi=True)
    >>> ax.get_yscale()
    'log'
    """
    from ..pooling.regression import RegressionLine, RegressionResult, regression_line

    if isinstance(line, RegressionResult):
        line = regression_line(line, mod)
    elif not isinstance(line, RegressionLine):
        raise InputError(f"regplot draws a RegressionLine (regression_line(fit, mod)) or a "
                         f"meta_regression() fit; got {type(line).__name__}")
    elif mod is not None and mod != line.mod:
        raise InputError(f"mod={mod!r}, but the line given is against {line.mod!r}")
    measure = line.measure
    log = S.scale_of(measure) == "log"
    show = np.exp if log else (lambda v: np.asarray(v, float))
    with S.style():
        if ax is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(3.5, 3.0), layout="constrained")
            ax = fig.add_subplot()
        if ci:
            band = ax.fill_between(line.x, show(line.ci_low), show(line.ci_high), color=S.LIGHT,
                                   alpha=0.5, lw=0, zorder=1)
            band.set_gid("regplot-ci")
        if pi:
            if np.all(np.isnan(line.pi_low)):
                raise InputError("an equal-effects (EE) model has no prediction interval; leave "
                                 "pi=False")
            for bound in (line.pi_low, line.pi_high):
                (b,) = ax.plot(line.x, show(bound), color=S.GREY, lw=0.7, ls=(0, (3, 2)),
                               zorder=2)
                b.set_gid("regplot-pi")
        (ln,) = ax.plot(line.x, show(line.pred), color=S.INK, lw=S.LINE_WIDTH, zorder=3)
        ln.set_gid("regplot-line")
        null = S.reference_of(measure)
        if refline and null is not None:
            line_null = ax.axhline(null, color=S.GREY, lw=0.6, ls=(0, (1, 1.5)), zorder=0)
            line_null.set_gid("regplot-null")
        # the biggest circles first, so that small studies stay visible on top of them
        order = np.argsort(-line.psize, kind="stable")
        sc = ax.scatter(line.xi[order], show(line.yi)[order],
                        s=(_POINT_PT * line.psize[order]) ** 2, facecolor="#d9d9d9",
                        edgecolor=S.INK, linewidth=0.6, zorder=4)
        sc.set_gid("regplot-studies")
        if labels is not False:
            names = line.labels if labels is True else tuple(str(v) for v in labels)
            if len(names) != len(line.xi):
                raise InputError(f"labels has {len(names)} entries for {len(line.xi)} studies")
            for x, y, name in zip(line.xi, show(line.yi), names):
                ax.annotate(S.plain_text(name), (x, y), xytext=(4, 3), textcoords="offset points",
                            fontsize=S.SMALL_FONT_SIZE, color=S.GREY)
        ax.set_xlim(float(line.x.min()), float(line.x.max()))
        if log:
            from .funnel import _log_axis

            _log_axis(ax, "y")
        ax.set_xlabel(S.plain_text(xlabel or line.mod))
        if ylabel is None:
            # a proportion's effects stay on their analysis scale (logit, arcsine) here
            ylabel = (f"{measure} (analysis scale)" if S.scale_of(measure) == "percent"
                      else S.axis_label(measure))
        ax.set_ylabel(S.plain_text(ylabel))
        return ax
