"""Figure housekeeping for scripted use (the report draws many figures in one process)."""

from __future__ import annotations

import functools


def close_figure(fig_or_ax) -> None:
    """Release a figure drawn by this package (pyplot keeps every figure until it is closed).

    Parameters
    ----------
    fig_or_ax : Figure or Axes
        What a plot function returned.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> ax = ma.forest(ma.pool([0.1, 0.3], [0.01, 0.02]))   # doctest: +SKIP
    >>> close_figure(ax)                                      # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    plt.close(fig)


def preload() -> None:
    """Import what drawing and saving a figure needs (pyplot, the SVG and PDF backends, the font
    cutter), so that processes forked afterwards to draw figures share one import instead of each
    paying for its own (about 0.8 s of CPU each)."""
    import matplotlib.pyplot  # noqa: F401
    from fontTools import subset  # noqa: F401
    from matplotlib.backends import backend_pdf, backend_svg  # noqa: F401


def settings_key() -> str:
    """The matplotlib settings in force, as text: a user's rcParams reach the figures where the
    package's style leaves them, so the report's cache keys its figures by them too. Settings that
    only choose where figures are shown (backend, interactive mode, GUI toolkits) are left out."""
    import matplotlib

    shown = ("backend", "interactive", "webagg.", "tk.", "macosx.", "figure.raise_window")
    rc = matplotlib.rcParams
    # keys first: reading rcParams["backend"] would resolve the backend (and import pyplot)
    settings = sorted((k, repr(rc[k])) for k in list(rc.keys()) if not k.startswith(shown))
    return repr((settings, _font_files()))


@functools.lru_cache(maxsize=1)
def _font_files() -> tuple:
    """The font files the house style resolves to, with their sizes and times (a font installed
    or updated changes them)."""
    import os

    from matplotlib import font_manager

    from . import _style as S

    out = []
    for weight in ("normal", "bold"):
        path = str(font_manager.findfont(font_manager.FontProperties(
            family=S.RC["font.sans-serif"][0], weight=weight)))
        st = os.stat(path)
        out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(out)
