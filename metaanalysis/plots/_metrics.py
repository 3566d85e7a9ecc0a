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

Laying out a text also asks for the font's height metrics (its ascent, descent and line gap): a
search of the font list for the font properties and two of the font's tables, 40 to 50
microseconds, once per text per draw (7,100 times in a report). Within the block the search is
answered once per font properties, font settings and font list, and a font's tables are read once
(they never change); :class:`_FontLookups` stands in for matplotlib's font manager and font getter
where the layout code calls them, and nowhere else.
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

_cache: dict = {}  # measurements
_fonts: dict = {}  # font searches and font tables (see _FontLookups)
_depth = 0


def _rc_key() -> tuple:
    """The values of the rcParams in ``_RC`` as a hashable tuple."""
    import matplotlib as mpl

    rc = mpl.rcParams
    try:
        # RcParams keeps its validated values in the dict it is: read them without its checks
        # (15 -> 3 microseconds; the key is made for every measurement)
        values = [dict.__getitem__(rc, k) for k in _RC]
    except (TypeError, KeyError):  # another release's RcParams
        values = [rc[k] for k in _RC]
    return tuple(tuple(v) if isinstance(v, list) else v for v in values)


class _FontLookups:
    """matplotlib's font manager and font getter as the text layout calls them, remembering their
    answers (see the module docstring). Calls with other arguments than the layout's are passed
    on as they are."""

    def __init__(self, manager, get_font):
        self._manager = manager
        self._get_font = get_font

    def __getattr__(self, name):  # anything else is the manager's own
        return getattr(self._manager, name)

    def _find_fonts_by_props(self, prop, *args, **kwargs):
        m = self._manager
        try:
            if args or kwargs:
                raise LookupError
            # the properties are copied: the caller's object may change after it is a key
            key = (prop.copy(), _rc_key(), len(m.ttflist), len(m.afmlist))  # a font added: a new key
            hash(key)
        except Exception:  # noqa: BLE001 -- anything unusual is looked up the usual way
            return m._find_fonts_by_props(prop, *args, **kwargs)
        found = _remember(_fonts, key, lambda: tuple(m._find_fonts_by_props(prop)))
        return list(found)  # the caller gets its own list, as from matplotlib

    def get_font(self, paths, *args, **kwargs):
        try:
            if args or kwargs:
                raise LookupError
            key = ("tables", tuple(paths) if isinstance(paths, list) else paths)
            hash(key)
        except Exception:  # noqa: BLE001
            return self._get_font(paths, *args, **kwargs)
        return _remember(_fonts, key, lambda: _FontTables(paths, self._get_font))


class _FontTables:
    """A font whose tables are read once (they never change); for anything else the font is
    opened as matplotlib opens it."""

    def __init__(self, paths, get_font):
        self._paths = paths
        self._get_font = get_font
        self._tables = {}

    def get_sfnt_table(self, name):
        table = _remember(self._tables, name, lambda: self._get_font(self._paths).get_sfnt_table(name))
        return None if table is None else dict(table)  # the caller's own, as from FreeType

    def __getattr__(self, name):
        return getattr(self._get_font(self._paths), name)


def _remember(cache: dict, key, compute):
    found = cache.get(key, _MISSING)
    if found is _MISSING:
        found = compute()
        if len(cache) >= _MAX:
            cache.clear()
        cache[key] = found
    return found


_MISSING = object()


def _kind(renderer):
    inner = getattr(renderer, "_renderer", None)
    return (type(renderer), None if inner is None else type(inner),
            getattr(renderer, "dpi", None), getattr(inner, "dpi", None))


def _shared(original):
    def measure(renderer, text, fontprop, ismath, dpi):
        try:
            key = (_kind(renderer), text, fontprop.copy(), ismath, dpi, _rc_key())
            hash(key)
        except Exception:  # noqa: BLE001 -- anything unusual is measured the usual way
            return original(renderer, text, fontprop, ismath, dpi)
        return _remember(_cache, key, lambda: original(renderer, text, fontprop, ismath, dpi))

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
    manager, get_font = getattr(mtext, "fontManager", None), getattr(mtext, "get_font", None)
    lookups = None if manager is None or get_font is None else _FontLookups(manager, get_font)
    mtext._get_text_metrics_with_cache = _shared(original)
    if lookups is not None:
        mtext.fontManager, mtext.get_font = lookups, lookups.get_font
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        mtext._get_text_metrics_with_cache = original
        if lookups is not None:
            mtext.fontManager, mtext.get_font = manager, get_font
