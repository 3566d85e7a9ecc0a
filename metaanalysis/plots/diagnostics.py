"""Model diagnostics drawn: the likelihood profile of tau² (metafor's ``plot.profile.rma``) and
the GOSH plot of all subsets (``plot.gosh.rma``) and the normal QQ plot of the residuals
(``qqnorm.rma.uni``).

Draws a :class:`~metaanalysis.pooling.diagnostics.ProfileResult` from
:func:`metaanalysis.pooling.diagnostics.profile_tau2` and a
:class:`~metaanalysis.pooling.sensitivity.GoshResult` from
:func:`metaanalysis.pooling.sensitivity.gosh` and a
:class:`~metaanalysis.pooling.diagnostics.QQResult` from
:func:`metaanalysis.pooling.diagnostics.qq_residuals`; nothing is refitted here.
"""

from __future__ import annotations

from ..errors import InputError
from . import _style as S

__all__ = ["profile_plot", "gosh_plot", "qq_plot"]


def profile_plot(profile, ax=None, *, xlabel=None, ylabel=None):
    """The log-likelihood over a variance component, with the estimate and its log-likelihood
    marked.

    Parameters
    ----------
    profile : ProfileResult
        From :func:`metaanalysis.profile_tau2` or :func:`metaanalysis.profile_mv`.
    ax : matplotlib Axes, optional
    xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Artists tagged ``profile-ll`` (the profile), ``profile-estimate`` (a dashed vertical line
        at the fit's estimate) and ``profile-max`` (a dotted horizontal line at the fit's
        log-likelihood).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> ax = profile_plot(ma.profile_tau2(ma.pool(es.yi, es.vi)))
    >>> ax.get_ylabel()
    'Restricted log-likelihood'
    """
    from ..pooling.diagnostics import ProfileResult

    if not isinstance(profile, ProfileResult):
        raise InputError(f"profile_plot draws a ProfileResult (profile_tau2(fit)); got "
                         f"{type(profile).__name__}")
    with S.style():
        if ax is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(3.5, 2.8), layout="constrained")
            ax = fig.add_subplot()
        (ln,) = ax.plot(profile.grid, profile.ll, color=S.INK, lw=S.LINE_WIDTH, marker="o",
                        ms=3, zorder=3)
        ln.set_gid("profile-ll")
        lo, hi = profile.xlim
        if lo <= profile.estimate <= hi:
            est = ax.axvline(profile.estimate, color=S.GREY, lw=0.7, ls=(0, (3, 2)), zorder=1)
            est.set_gid("profile-estimate")
        top = ax.axhline(profile.maxll, color=S.GREY, lw=0.6, ls=(0, (1, 1.5)), zorder=1)
        top.set_gid("profile-max")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(S.plain_text(xlabel or profile.label))
        ax.set_ylabel(S.plain_text(ylabel or ("Restricted log-likelihood" if profile.reml
                                              else "Log-likelihood")))
        return ax


def gosh_plot(gosh, ax=None, *, highlight=None, xlabel=None, ylabel=None):
    """The GOSH plot: each subset's I² against its estimate (Olkin et al. 2012).

    Parameters
    ----------
    gosh : GoshResult
        From :func:`metaanalysis.gosh`.
    ax : matplotlib Axes, optional
    highlight : str or int, optional
        A study (label or 0-based index): the subsets that hold it are drawn in colour, the others
        in grey (metafor's ``out=``), so that a study behind a separate cluster shows.
    xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Artists tagged ``gosh-subsets`` (all subsets, or those without the highlighted study) and
        ``gosh-with`` (those with it). Ratio measures are drawn on a log axis as ratios.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> g = ma.gosh(ma.pool(es.yi, es.vi, measure="RR"))
    >>> ax = gosh_plot(g, highlight=0)
    >>> ax.get_yscale()
    'log'
    """
    import numpy as np

    from ..pooling.sensitivity import GoshResult

    if not isinstance(gosh, GoshResult):
        raise InputError(f"gosh_plot draws a GoshResult (gosh(fit)); got {type(gosh).__name__}")
    frame = gosh.frame[gosh.frame["fitted"]]
    incl = gosh.incl[gosh.frame["fitted"].to_numpy(bool)]
    log = S.scale_of(gosh.measure) == "log"
    est = frame["estimate"].to_numpy(float)
    y = np.exp(est) if log else est
    x = frame["i2"].to_numpy(float)
    if highlight is None:
        with_it = np.zeros(len(x), dtype=bool)
    else:
        if isinstance(highlight, str):
            if highlight not in gosh.labels:
                raise InputError(f"highlight={highlight!r} is not a study of the fit; use one of "
                                 + ", ".join(repr(v) for v in gosh.labels))
            j = gosh.labels.index(highlight)
        else:
            j = int(highlight)
            if not 0 <= j < len(gosh.labels):
                raise InputError(f"highlight={highlight!r}: the studies are 0 to "
                                 f"{len(gosh.labels) - 1}")
        with_it = incl[:, j]
    # many thousands of points: small, translucent and rasterised in vector output
    size = 6 if len(x) <= 5000 else 2
    alpha = 0.6 if len(x) <= 5000 else 0.25
    with S.style():
        if ax is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(3.5, 3.0), layout="constrained")
            ax = fig.add_subplot()
        rest = ax.scatter(x[~with_it], y[~with_it], s=size, color=S.GREY, alpha=alpha, lw=0,
                          rasterized=True, zorder=2,
                          label=None if highlight is None else f"without {gosh.labels[j]}")
        rest.set_gid("gosh-subsets")
        if highlight is not None:
            hit = ax.scatter(x[with_it], y[with_it], s=size, color=S.PALETTE[1], alpha=alpha,
                             lw=0, rasterized=True, zorder=3, label=f"with {gosh.labels[j]}")
            hit.set_gid("gosh-with")
            ax.legend(loc="best", fontsize=S.SMALL_FONT_SIZE, markerscale=2, frameon=False)
        if log:
            from .funnel import _log_axis

            _log_axis(ax, "y")
        ax.set_xlabel(S.plain_text(xlabel or "I\u00b2 (%)"))
        ax.set_ylabel(S.plain_text(ylabel or S.axis_label(gosh.measure)))
        return ax


def qq_plot(qq, ax=None, *, label="outside", xlabel=None, ylabel=None):
    """The normal QQ plot of a fit's residuals, with the line y = x and the envelope.

    Parameters
    ----------
    qq : QQResult
        From :func:`metaanalysis.qq_residuals`.
    ax : matplotlib Axes, optional
    label : {"outside", "all", "none"}
        Which studies to name: those outside the envelope (default), all, or none.
    xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Artists tagged ``qq-points``, ``qq-line`` and ``qq-envelope`` (two lines, when the
        result has an envelope).

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> ax = qq_plot(ma.qq_residuals(ma.pool(es.yi, es.vi), seed=1))
    >>> ax.get_xlabel()
    'Theoretical quantiles'
    """
    import numpy as np

    from ..pooling.diagnostics import QQResult

    if not isinstance(qq, QQResult):
        raise InputError(f"qq_plot draws a QQResult (qq_residuals(fit)); got {type(qq).__name__}")
    if label not in ("outside", "all", "none"):
        raise InputError(f"label={label!r}: use 'outside', 'all' or 'none'")
    with S.style():
        if ax is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=(3.2, 3.0), layout="constrained")
            ax = fig.add_subplot()
        x, y = qq.theoretical, qq.sample
        span = np.array([min(x.min(), np.nanmin(y)), max(x.max(), np.nanmax(y))])
        (ln,) = ax.plot(span, span, color=S.GREY, lw=0.7, zorder=1)
        ln.set_gid("qq-line")
        if np.isfinite(qq.lower).any():
            for bound in (qq.lower, qq.upper):
                (b,) = ax.plot(x, bound, color=S.GREY, lw=0.7, ls=(0, (1, 1.5)), zorder=1)
                b.set_gid("qq-envelope")
        sc = ax.scatter(x, y, s=14, color=S.INK, zorder=3)
        sc.set_gid("qq-points")
        named = set(qq.outside()) if label == "outside" else (set(qq.labels) if label == "all"
                                                               else set())
        for xi, yi, lab in zip(x, y, qq.labels):
            if lab in named:
                ax.annotate(S.plain_text(lab), (xi, yi), xytext=(4, -3),
                            textcoords="offset points", fontsize=S.SMALL_FONT_SIZE,
                            color=S.GREY)
        ax.set_xlabel(S.plain_text(xlabel or "Theoretical quantiles"))
        ax.set_ylabel(S.plain_text(ylabel or ("Standardized residuals" if qq.kind == "rstandard"
                                              else "Studentized residuals")))
        return ax
