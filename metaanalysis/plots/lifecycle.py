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


_warm = False


def preload() -> None:
    """Import what drawing and saving a figure needs (pyplot, the SVG and PDF backends, the font
    cutter) and draw one small figure, so that processes forked afterwards to draw figures share
    one import (about 0.8 s of CPU each) and start with the fonts read, the shared font cut made
    and the usual strings measured (about 0.15 s each)."""
    global _warm
    import matplotlib.pyplot  # noqa: F401
    from fontTools import subset  # noqa: F401
    from matplotlib.backends import backend_pdf, backend_svg  # noqa: F401

    if not _warm:
        _warm = True
        _warm_up()


def _warm_up() -> None:
    import io

    import matplotlib.pyplot as plt

    from . import _style as S
    from ._fonts import lean_font_subsets, shared_font_subsets
    from ._metrics import shared_text_metrics

    with S.style():
        fig, ax = plt.subplots(figsize=(2, 1.5), layout="constrained")
        ax.plot([0.5, 2], [1, 2])
        ax.set_xscale("log")
        ax.set_xlabel("Hazard ratio")
        ax.set_title("Favours therapy \u2013 0.41 (0.32\u20130.52)", fontweight="bold")
    try:
        with S.style(), lean_font_subsets(), shared_text_metrics(), shared_font_subsets():
            for fmt in ("pdf", "svg"):
                fig.savefig(io.BytesIO(), format=fmt)
    except Exception:  # noqa: BLE001 -- only a head start: the figures themselves will say
        pass
    finally:
        plt.close(fig)


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

