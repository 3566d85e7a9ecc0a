"""Funnel-type figures: funnel (contour-enhanced, trim-and-fill), Galbraith (radial), Baujat,
L'Abbé.

Each takes the pooling side's result objects and lays their numbers out. The only arithmetic
here is the geometry a figure of that kind is defined by: a study's position is its estimate
against its standard error (funnel), its z-value against its precision (radial, metafor's
``radial``), or its event risks (L'Abbé); the funnel's pseudo-confidence lines and significance
contours are ``estimate ± z·SE`` with the normal critical value; the Baujat plot's two
coordinates are arranged from the full fit and the leave-one-out refits handed in (the refits come
from :func:`metaanalysis.leave_one_out`; nothing is refitted here).

References: Sterne and Egger (2001) funnel plots; Peters et al. (2008) contour-enhanced funnel;
Duval and Tweedie (2000) trim and fill; Galbraith (1988) radial plot; Baujat et al. (2002);
L'Abbé, Detsky and O'Rourke (1987); metafor's ``funnel``, ``radial``, ``baujat``, ``labbe``.
"""

from __future__ import annotations

import math

import numpy as np

from .._base import zcrit
from ..errors import InputError
from . import _style as S
from ._results import measure_of, pooled_view, study_view

__all__ = ["funnel", "galbraith", "baujat", "labbe"]

# significance levels of the contour-enhanced funnel and their shading (lightest = least
# significant); the innermost region (p > 0.10) stays white
CONTOURS = (0.10, 0.05, 0.01)
CONTOUR_GREYS = ("#ececec", "#d9d9d9", "#c4c4c4")


def _new_axes(ax, size=(3.5, 3.0)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    fig = plt.figure(figsize=size, layout="constrained")
    return fig.add_subplot()


def _log_axis(ax, which, max_ticks=6, include=None):
    """A log axis labelled at round natural values (0.5, 1, 2), ``include`` among them when in
    range."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    from ._ticks import natural_locator, tick_label

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(natural_locator(max_ticks=max_ticks, min_gap=0.12, include=include))
    axis.set_major_formatter(FuncFormatter(lambda v, _: tick_label(v)))
    axis.set_minor_locator(NullLocator())


# percentages a logit axis is labelled with, in order of preference
_PERCENT_TICKS = ((1, 10, 50, 90, 99), (5, 20, 50, 80, 95), (10, 25, 50, 75, 90),
                  (10, 20, 30, 40, 50, 60, 70, 80, 90), (1, 2, 5, 10, 20, 30, 50, 70, 80, 90, 95, 98, 99))


def _percent_axis(ax, measure, lo, hi):
    """Label an x axis in a proportion's analysis scale (logit, arcsine) with percentages at
    their places on that scale (at least three when the range allows)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    m = str(measure).upper()
    if m == "PLO":
        fwd = lambda p: math.log(p / (1 - p))  # noqa: E731
    elif m == "PAS":
        fwd = lambda p: math.asin(math.sqrt(p))  # noqa: E731
    elif m == "PR":
        fwd = lambda p: p  # noqa: E731
    else:  # PFT depends on n: leave the analysis scale
        return False
    best = []
    for fam in _PERCENT_TICKS:
        inside = [(fwd(v / 100), v) for v in fam if lo <= fwd(v / 100) <= hi]
        if len(inside) >= 3:
            best = inside
            break
        if len(inside) > len(best):
            best = inside
    if len(best) < 2:
        return False
    ax.xaxis.set_major_locator(FixedLocator([x for x, _ in best]))
    labels = {round(x, 12): v for x, v in best}
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{labels.get(round(x, 12), '')}"))
    ax.xaxis.set_minor_locator(NullLocator())
    return True


def funnel(result, ax=None, *, contours=False, trimfill=None, level=None, pseudo_ci=True,
           xlim=None, xlabel=None, ylabel="Standard error", legend=True, refline=None):
    """Funnel plot: each study's estimate against its standard error (0 at the top).

    Parameters
    ----------
    result : PoolResult or TrimFillResult
        The fit; with a trim-and-fill result (or ``trimfill=``) the filled studies are drawn as
        open circles and the estimate after filling as a dashed line.
    ax : Axes, optional
    contours : bool or sequence of float
        Contour-enhanced funnel (Peters et al. 2008): shade where a study would be significant at
        p < 0.10, 0.05, 0.01 (two-sided, against the null). ``True`` uses those three levels.
    trimfill : TrimFillResult, optional
        A :func:`metaanalysis.trim_and_fill` result for ``result``.
    level : float, optional
        Level of the pseudo-confidence region around the pooled estimate (the model's level).
    pseudo_ci : bool
        Draw the pseudo-confidence region (estimate ± z·SE).
    refline : float, optional
        Where the vertical line stands (default: the pooled estimate).

    Returns
    -------
    matplotlib.axes.Axes
        Artists carry gids ``funnel-studies``, ``funnel-filled``, ``funnel-contours``,
        ``funnel-pseudo-ci``, ``funnel-estimate``.
    """
    with S.style():
        # With trimfill= the lines centre on the observed fit and a dashed line marks the
        # estimate after filling; with a trim-and-fill result as ``result`` everything centres on
        # the filled fit, as metafor's funnel(trimfill(...)).
        if trimfill is None and hasattr(result, "yi_filled") and hasattr(result, "result"):
            fit, trimfill, filled_fit = result.result, result, None
            k_filled = len(result.yi_filled) if result.k0 > 0 else 0
        else:
            fit = result
            filled_fit = trimfill.result if trimfill is not None else None
            k_filled = 0
        yf = np.asarray(trimfill.yi_filled, float) if trimfill is not None else np.empty(0)
        vf = np.asarray(trimfill.vi_filled, float) if trimfill is not None else np.empty(0)
        view = study_view(fit)
        measure = measure_of(fit)
        log = S.scale_of(measure) == "log"
        yi = view["yi"].to_numpy(float)
        se = view["se"].to_numpy(float)
        if k_filled:  # the filled fit holds observed then filled studies: keep the observed
            yi, se = yi[:-k_filled], se[:-k_filled]
        sef = np.sqrt(vf)
        p = pooled_view(fit)
        est = float(fit.estimate)
        lvl = level if level is not None else p["level"]
        ax = _new_axes(ax)
        tr = np.exp if log else (lambda v: np.asarray(v, float))
        se_max = float(np.nanmax(np.concatenate([se, sef]))) * 1.08 if len(se) else 1.0
        grid = np.linspace(0, se_max, 200)
        percent = S.scale_of(measure) == "percent"
        if contours:
            levels = CONTOURS if contours is True else tuple(sorted(contours, reverse=True))
            # the contours mark significance against the null; a proportion has none (logit 0
            # is 50%, a number nobody tests against): centre them on the pooled estimate
            null = est if percent else 0.0
            z_edges = [zcrit(100 * (1 - a)) for a in levels]
            x_far = max(np.nanmax(np.abs(yi - null)) * 1.5, zcrit(99.9) * se_max) + abs(null)
            for z, grey in zip(z_edges, CONTOUR_GREYS[: len(z_edges)]):
                for sign in (-1, 1):
                    inner = null + sign * z * grid
                    outer = np.full_like(grid, null + sign * x_far)
                    poly = ax.fill_betweenx(grid, tr(inner), tr(outer), color=grey, lw=0, zorder=0)
                    poly.set_gid("funnel-contours")
            # draw the lighter bands first so the darker (more significant) sit on top
            from matplotlib.patches import Patch

            handles = [Patch(facecolor="white", edgecolor=S.GREY, lw=0.5, label=S.plain_text(f"p > {levels[0]:g}"))]
            bounds = list(levels) + [0]
            for i, grey in enumerate(CONTOUR_GREYS[: len(levels)]):
                lab = (f"{bounds[i + 1]:g} < p \u2264 {bounds[i]:g}" if i + 1 < len(levels)
                       else f"p \u2264 {bounds[i]:g}")
                handles.append(Patch(facecolor=grey, lw=0, label=S.plain_text(lab.replace("0 < p", "p"))))
        if pseudo_ci:
            z = zcrit(lvl)
            for sign in (-1, 1):
                (ln,) = ax.plot(tr(est + sign * z * grid), grid, color=S.GREY, lw=0.7,
                                ls=(0, (3, 2)), zorder=1)
                ln.set_gid("funnel-pseudo-ci")
        ref = est if refline is None else (math.log(refline) if log else refline)
        ln = ax.axvline(float(tr(ref)), color=S.INK, lw=0.8, zorder=1)
        ln.set_gid("funnel-estimate")
        sc = ax.scatter(tr(yi), se, s=16, color=S.INK, edgecolors=S.INK, linewidths=0.6, zorder=3)
        sc.set_gid("funnel-studies")
        if len(yf):
            sc2 = ax.scatter(tr(yf), sef, s=16, facecolors="white", edgecolors=S.INK,
                             linewidths=0.8, zorder=3,
                             label=S.plain_text(f"Filled studies ({len(yf)})"))
            sc2.set_gid("funnel-filled")
            if filled_fit is not None:
                ln2 = ax.axvline(float(tr(filled_fit.estimate)), color=S.INK, lw=0.8,
                                 ls=(0, (4, 2)), zorder=1)
                ln2.set_gid("funnel-estimate-filled")
        ax.set_ylim(se_max, 0)
        xs = np.concatenate([yi, yf])
        if xlim is None:
            z = zcrit(lvl)
            lo = min(np.nanmin(xs), est - z * se_max)
            hi = max(np.nanmax(xs), est + z * se_max)
            pad = 0.05 * (hi - lo)
            xlim = (float(tr(lo - pad)), float(tr(hi + pad)))
        if log:
            _log_axis(ax, "x")
        ax.set_xlim(*xlim)
        in_percent = percent and _percent_axis(ax, measure, *xlim)
        scale_name = {"PLO": "logit", "PAS": "arcsine", "PFT": "Freeman-Tukey"}.get(measure, "")
        default_label = (S.axis_label(measure) if not percent else
                         f"Proportion, % ({scale_name} scale)" if in_percent else
                         f"Proportion ({scale_name or measure} scale)")
        ax.set_xlabel(S.plain_text(xlabel if xlabel is not None else default_label))
        ax.set_ylabel(S.plain_text(ylabel))
        if legend and (contours or len(yf)):
            hs = list(handles) if contours else []
            if len(yf):
                hs.append(sc2)
            ax.legend(handles=hs, loc="lower right", fontsize=S.SMALL_FONT_SIZE,
                      handlelength=1.2, borderaxespad=0.3)
        return ax


def galbraith(result, ax=None, *, level=None, xlabel=None, ylabel=None):
    """Galbraith (radial) plot, as metafor's ``radial``: each study at x = 1/√(vᵢ + τ²),
    y = yᵢ/√(vᵢ + τ²); the line through the origin with slope equal to the pooled estimate, and the
    band ± z around it (z the normal critical value at ``level``).

    A study outside the band deviates from the pooled estimate more than sampling error and
    tau² explain. For ratio measures the slope is the log ratio. Returns the Axes (gids
    ``galbraith-studies``, ``galbraith-line``, ``galbraith-band``).
    """
    with S.style():
        view = study_view(result)
        p = pooled_view(result)
        tau2 = p["tau2"] if p["model"] == "random" and math.isfinite(p["tau2"]) else 0.0
        w = 1.0 / np.sqrt(view["vi"].to_numpy(float) + tau2)
        x = w
        y = view["yi"].to_numpy(float) * w
        est = float(result.estimate)
        z = zcrit(level if level is not None else p["level"])
        ax = _new_axes(ax)
        xmax = float(np.max(x)) * 1.08
        xx = np.array([0.0, xmax])
        (ln,) = ax.plot(xx, est * xx, color=S.INK, lw=0.8, zorder=2)
        ln.set_gid("galbraith-line")
        for sign in (-1, 1):
            (b,) = ax.plot(xx, est * xx + sign * z, color=S.GREY, lw=0.7, ls=(0, (3, 2)), zorder=1)
            b.set_gid("galbraith-band")
        ax.axhline(0, color=S.LIGHT, lw=0.6, zorder=0)
        sc = ax.scatter(x, y, s=16, color=S.INK, zorder=3)
        sc.set_gid("galbraith-studies")
        ax.set_xlim(0, xmax)
        measure = measure_of(result)
        ax.set_xlabel(S.plain_text(xlabel or ("1/\u221a(v\u1d62 + \u03c4\u00b2)" if tau2 > 0
                                               else "1/SE (precision)")))
        ax.set_ylabel(S.plain_text(ylabel or ("z = y\u1d62/\u221a(v\u1d62 + \u03c4\u00b2)"
                                              if tau2 > 0 else "z = y\u1d62/SE")))
        if S.scale_of(measure) == "log":
            ax.set_title(S.plain_text(f"slope = log {S.short_label(measure)}"),
                         fontsize=S.SMALL_FONT_SIZE, loc="left")
        return ax


def baujat(coordinates, ax=None, *, labels=True, max_labels=5):
    """Baujat plot: each study's contribution to heterogeneity (x) against its influence on the
    pooled estimate (y), as metafor's ``baujat``.

    Parameters
    ----------
    coordinates : DataFrame
        :func:`metaanalysis.pooling.sensitivity.baujat_coordinates` of the fit (index: study
        labels; columns ``x`` and ``y``). The plot computes nothing.
    labels : bool
        Label the ``max_labels`` studies farthest from the origin.

    Returns the Axes (gid ``baujat-studies``).
    """
    if not {"x", "y"} <= set(getattr(coordinates, "columns", ())):
        raise InputError("baujat takes the DataFrame of baujat_coordinates(res) (columns x, y)")
    with S.style():
        x = coordinates["x"].to_numpy(float)
        y = coordinates["y"].to_numpy(float)
        ax = _new_axes(ax)
        sc = ax.scatter(x, y, s=16, color=S.INK, zorder=3)
        sc.set_gid("baujat-studies")
        if labels and len(x):
            far = np.argsort(-(x / max(x.max(), 1e-12)) ** 2 - (y / max(y.max(), 1e-12)) ** 2)
            for i in far[:max_labels]:
                ax.annotate(S.plain_text(coordinates.index[i]), (x[i], y[i]), xytext=(3, 3),
                            textcoords="offset points", fontsize=S.SMALL_FONT_SIZE)
        ax.set_xlabel(S.plain_text("Contribution to overall heterogeneity"))
        ax.set_ylabel(S.plain_text("Influence on overall result"))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        return ax


def labbe(result, ax=None, *, xlabel="Event risk, control (%)", ylabel="Event risk, treatment (%)",
          show_effect=True):
    """L'Abbé plot of two-arm binary data: each study's event risk in the treatment arm against
    the control arm (percent), circle area proportional to its weight; the line of equality and
    the pooled effect drawn as the curve it implies (OR, RR or RD).

    ``result`` is a :func:`metaanalysis.pool_binary` fit (its ``study_frame()`` carries the
    counts ``ai``, ``n1i``, ``ci``, ``n2i``). Returns the Axes (gids ``labbe-studies``,
    ``labbe-equality``, ``labbe-effect``).
    """
    with S.style():
        sf = result.study_frame()
        for c in ("ai", "n1i", "ci", "n2i"):
            if c not in sf.columns:
                raise InputError("labbe needs two-arm counts: give a result of pool_binary "
                                 f"(its study_frame() has no {c!r} column)")
        pt = 100 * sf["ai"].to_numpy(float) / sf["n1i"].to_numpy(float)
        pc = 100 * sf["ci"].to_numpy(float) / sf["n2i"].to_numpy(float)
        w = sf["weight"].to_numpy(float) if "weight" in sf.columns else np.ones(len(sf))
        w = np.where(np.isfinite(w), w, 0.0)
        ax = _new_axes(ax, size=(3.3, 3.3))
        (eq,) = ax.plot([0, 100], [0, 100], color=S.GREY, lw=0.7, zorder=1)
        eq.set_gid("labbe-equality")
        if show_effect:
            measure = measure_of(result)
            est = float(result.estimate)
            xc = np.linspace(0.0005, 0.9995, 300)
            if measure in ("OR", "PETO"):
                odds = math.exp(est)
                yc = odds * xc / (1 - xc + odds * xc)
            elif measure == "RR":
                yc = math.exp(est) * xc
            elif measure == "RD":
                yc = xc + est
            else:
                yc = None
            if yc is not None:
                ok = (yc >= 0) & (yc <= 1)
                (ln,) = ax.plot(100 * xc[ok], 100 * yc[ok], color=S.INK, lw=0.8, ls=(0, (4, 2)),
                                zorder=2, label=S.plain_text(f"Pooled {S.short_label(measure)}"))
                ln.set_gid("labbe-effect")
        area = 400.0 * w / w.max() if w.max() > 0 else np.full(len(w), 40.0)
        sc = ax.scatter(pc, pt, s=np.maximum(area, 6.0), facecolors="white", edgecolors=S.INK,
                        linewidths=0.7, zorder=3, alpha=0.9)
        sc.set_gid("labbe-studies")
        top = min(100.0, max(np.nanmax(pt), np.nanmax(pc)) * 1.1 + 2)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
        ax.set_xlabel(S.plain_text(xlabel))
        ax.set_ylabel(S.plain_text(ylabel))
        return ax
