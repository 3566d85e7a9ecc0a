"""Text measurements shared between the renderers of one process.

matplotlib measures every piece of text it lays out (``get_text_width_height_descent``: a
shaping of the string by FreeType, 0.3-0.7 ms each in matplotlib 3.11) and keeps the answers per
renderer *instance*. Saving a figure makes a new renderer for each file (and another for the
constrained-layout pass), so the report's 36 figures measured about 4,400 strings of which only
1,600 were different: tick labels, axis titles, "Favours ..." and study names recur in every file
and every figure.

:func:`shared_text_metrics` keeps the answers per *kind* of renderer instead: its class (for the
vector backends, the class of the renderer that ``MixedModeRenderer`` wraps), its resolution, the
string, the font properties and whether it is mathematics, plus the rcParams that change the
measure (hinting, kerning, the math font set). Within a kind the measure is a pure function of
those, so the files are byte for byte those matplotlib writes without it. If matplotlib's
measuring function is not where this expects it (another release), nothing is changed.
"""

from __future__ import annotations

import contextlib

# rcParams that change a string's measured size for the same font properties
_RC = ("text.hinting", "text.hinting_factor", "text.kerning_factor", "mathtext.fontset",
       "mathtext.default", "mathtext.rm", "mathtext.it", "mathtext.bf", "mathtext.sf",
       "mathtext.tt", "mathtext.cal", "mathtext.fallback", "text.usetex", "text.latex.preamble",
       "font.family", "font.sans-serif", "font.serif", "font.monospace", "font.cursive",
       "font.fantasy", "font.size")
_MAX = 50_000  # entries; a long-running notebook session must not grow without bound

_cache: dict = {}
_depth = 0


def _kind(renderer):
    inner = getattr(renderer, "_renderer", None)
    return (type(renderer), None if inner is None else type(inner),
            getattr(renderer, "dpi", None), getattr(inner, "dpi", None))


def _shared(original):
    import matplotlib as mpl

    def measure(renderer, text, fontprop, ismath, dpi):
        try:
            rc = tuple(repr(mpl.rcParams[k]) for k in _RC)
            key = (_kind(renderer), text, fontprop.copy(), ismath, dpi, rc)
            hash(key)
        except Exception:  # noqa: BLE001 -- anything unusual is measured the usual way
            return original(renderer, text, fontprop, ismath, dpi)
        found = _cache.get(key)
        if found is None:
            found = original(renderer, text, fontprop, ismath, dpi)
            if len(_cache) >= _MAX:
                _cache.clear()
            _cache[key] = found
        return found

    measure._metaanalysis_shared = True
    return measure


@contextlib.contextmanager
def shared_text_metrics():
    """Within the block, text measured by one renderer is not measured again by another of the
    same kind (see the module docstring).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> with shared_text_metrics():
    ...     fig, ax = plt.subplots()
    ...     _ = ax.set_title("Hazard ratio")
    ...     fig.canvas.draw()
    >>> plt.close(fig)
    """
    global _depth
    try:
        from matplotlib import text as mtext
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(mtext, "_get_text_metrics_with_cache", None)
    if original is None or _depth > 0:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    mtext._get_text_metrics_with_cache = _shared(original)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        mtext._get_text_metrics_with_cache = original
