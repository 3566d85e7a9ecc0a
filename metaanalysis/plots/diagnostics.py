"""Model diagnostics drawn: the likelihood profile of tau² (metafor's ``plot.profile.rma``).

Draws a :class:`~metaanalysis.pooling.diagnostics.ProfileResult` from
:func:`metaanalysis.pooling.diagnostics.profile_tau2`; nothing is refitted here.
"""

from __future__ import annotations

from ..errors import InputError
from . import _style as S

__all__ = ["profile_plot"]


def profile_plot(profile, ax=None, *, xlabel=None, ylabel=None):
    """The log-likelihood over tau², with the estimate and its log-likelihood marked.

    Parameters
    ----------
    profile : ProfileResult
        From :func:`metaanalysis.profile_tau2`.
    ax : matplotlib Axes, optional
    xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Artists tagged ``profile-ll`` (the profile), ``profile-estimate`` (a dashed vertical line
        at the estimate of tau²) and ``profile-max`` (a dotted horizontal line at the fit's
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
        (ln,) = ax.plot(profile.tau2, profile.ll, color=S.INK, lw=S.LINE_WIDTH, marker="o",
                        ms=3, zorder=3)
        ln.set_gid("profile-ll")
        lo, hi = profile.xlim
        if lo <= profile.tau2_hat <= hi:
            est = ax.axvline(profile.tau2_hat, color=S.GREY, lw=0.7, ls=(0, (3, 2)), zorder=1)
            est.set_gid("profile-estimate")
        top = ax.axhline(profile.maxll, color=S.GREY, lw=0.6, ls=(0, (1, 1.5)), zorder=1)
        top.set_gid("profile-max")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(S.plain_text(xlabel or "\u03c4\u00b2"))
        ax.set_ylabel(S.plain_text(ylabel or ("Restricted log-likelihood" if profile.reml
                                              else "Log-likelihood")))
        return ax
