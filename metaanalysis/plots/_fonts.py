"""Faster Type 42 embedding: subset fonts without their layout tables.

A PDF keeps its text editable only if the TrueType font is embedded (Type 42), and matplotlib
embeds a subset of the glyphs a figure uses, cut by fontTools. Most of that cut's time goes into
decoding and pruning the OpenType layout tables (GSUB, GPOS, GDEF, kern, MATH: ligatures, kerning
pairs, mathematical layout), about 0.1 s per font per PDF for DejaVu Sans. A PDF never uses them:
every glyph is placed at the position matplotlib computed from the full font, so the embedded
program needs only outlines, metrics and the character map.

:func:`lean_font_subsets` hands matplotlib's subsetter a copy of each TrueType font without those
tables (made once per font and kept beside matplotlib's font cache, glyph order unchanged, so the
glyph indices matplotlib passes stay valid). Text layout still reads the original font, so positions and the drawn glyphs are the same;
only the subsetting is about three times faster. If matplotlib's internal subsetter is not where
this expects it (another release), nothing is changed and the PDF is written the usual way.

Most of what is left of a cut is reading the font's per-glyph tables (outlines, metrics, names,
character map), in proportion to its 6,000 glyphs. So a second, small copy holds only the
characters a figure of this package prints (Latin, Greek, punctuation, arrows, mathematical
operators, geometric shapes: about 1,000 glyphs, cut from the lean copy once), with a map from the
font's glyph numbers to the copy's. A figure whose glyphs all sit in the small copy is cut from
it (four times faster again) and the glyph numbers are mapped back, so matplotlib sees the same
result; a figure with any other glyph is cut from the lean copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

# Tables a PDF's embedded TrueType program never reads (positions come from matplotlib).
_LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "kern", "MATH", "JSTF", "BASE")

_lock = threading.Lock()
_lean: dict = {}  # original path -> lean copy's path (None when a copy cannot be made)


def _cache_folder() -> Path:
    """Where the lean copies are kept: beside matplotlib's own font cache, so that they are made
    once per font and machine (not per report, and never left behind in a temporary folder)."""
    import matplotlib

    return Path(matplotlib.get_cachedir()) / "metaanalysis-lean-fonts"


def _write_atomic(target: Path, data: bytes) -> None:
    # written whole, then renamed: processes saving at once never read half a file
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".lean-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _lean_copy(path: str):
    """Path of a copy of the TrueType font at ``path`` without layout tables, or None."""
    with _lock:
        if path in _lean:
            return _lean[path]
        lean = None
        if path.lower().endswith(".ttf"):
            try:
                import fontTools
                from fontTools.ttLib import TTFont

                st = os.stat(path)
                # a new font file (or fontTools) makes a new copy; the old one is simply unused
                key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{fontTools.version}"
                                     .encode()).hexdigest()[:16]
                target = _cache_folder() / f"{key}-{os.path.basename(path)}"
                if not target.exists():
                    # recalcTimestamp=False: the copy keeps the original's head.modified, so the
                    # same figure gives the same PDF bytes whenever it is saved
                    font = TTFont(path, lazy=True, recalcTimestamp=False)
                    if not any(tag in font for tag in _LAYOUT_TABLES):
                        raise LookupError("no layout tables: nothing to gain")
                    for tag in _LAYOUT_TABLES:
                        if tag in font:
                            del font[tag]
                    import io

                    buf = io.BytesIO()
                    font.save(buf)
                    _write_atomic(target, buf.getvalue())
                lean = str(target)
            except Exception:  # noqa: BLE001 -- a font we cannot copy is embedded as it is
                lean = None
        _lean[path] = lean
        return lean


# The small copy's characters: what the package's figures print (see the module docstring).
_SMALL_RANGES = ((0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3CE), (0x2010, 0x2044), (0x2070, 0x209C),
                 (0x2190, 0x21FF), (0x2200, 0x22FF), (0x25A0, 0x25FF))
_small: dict = {}  # original path -> (small copy's path, {glyph: small glyph}, characters) or None
# tables that fontTools' subsetter does not know how to cut and that a PDF's font never needs
_UNCUT_TABLES = ("FFTM", "PfEd", "BDF", "meta")


@contextlib.contextmanager
def _quiet_subsetter():
    """fontTools' subsetter logs each table it drops as a warning; the small copy is a cache, so
    another font's unknown table is no news to the user who runs a report."""
    import logging

    logger = logging.getLogger("fontTools.subset")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _small_copy(path: str):
    """``(path, glyph map, characters)`` of the small copy of the font at ``path``, or None."""
    with _lock:
        if path in _small:
            return _small[path]
    lean = _lean_copy(path)
    result = None
    if lean is not None:
        try:
            import io

            from fontTools import subset
            from fontTools.ttLib import TTFont

            stem = Path(lean)
            target = stem.with_name(stem.stem + "-small.ttf")
            index = stem.with_name(stem.stem + "-small.json")
            if not (target.exists() and index.exists()):
                options = subset.Options(glyph_names=True, recommended_glyphs=True,
                                         notdef_outline=True, name_IDs=["*"], name_languages=["*"])
                # tables fontTools cannot cut (DejaVu's FontForge timestamp, FFTM) are dropped, as
                # matplotlib's own cut drops them from every embedded font anyway; asked for
                # explicitly, so that fontTools does not print a warning per font to the terminal
                # of a user whose first report builds this cache
                options.drop_tables += [t for t in _UNCUT_TABLES if t not in options.drop_tables]
                font = TTFont(lean, recalcTimestamp=False)
                cutter = subset.Subsetter(options=options)
                cutter.populate(unicodes=[c for a, b in _SMALL_RANGES for c in range(a, b + 1)])
                with _quiet_subsetter():
                    cutter.subset(font)
                buf = io.BytesIO()
                font.save(buf)
                chars = sorted(font.getBestCmap())
                # the map first: a font without its map is never used
                _write_atomic(index, json.dumps({"glyphs": {str(k): v for k, v in
                                                            sorted(cutter.glyph_index_map.items())},
                                                 "chars": chars}).encode())
                _write_atomic(target, buf.getvalue())
            meta = json.loads(index.read_text())
            result = (str(target), {int(k): int(v) for k, v in meta["glyphs"].items()},
                      frozenset(meta["chars"]))
        except Exception:  # noqa: BLE001 -- without the small copy the lean one is used
            result = None
    with _lock:
        _small[path] = result
    return result


def _same_kind(fontfile, path):
    """``path`` as the kind of font reference matplotlib passed (a path or a FontPath)."""
    face = getattr(fontfile, "face_index", None)
    return type(fontfile)(path, face) if face is not None else path


@contextlib.contextmanager
def _mapped_back(original, fontfile, glyphs, glyph_map, args, kwargs):
    """Cut the small copy with its own glyph numbers; matplotlib gets the map from its own."""
    back = {v: k for k, v in glyph_map.items()}
    with original(fontfile, {glyph_map[g] for g in glyphs}, *args, **kwargs) as res:
        yield res._replace(glyph_index_map={back[k]: v for k, v in res.glyph_index_map.items()})


# The shared cut (see shared_font_subsets): printable ASCII and the other characters the
# package's figures print (dashes of intervals, daggers of footnotes, arrows of "favours", minus,
# comparison signs, the Greek of tau-squared and chi-squared).
_SHARED_CHARS = ("".join(map(chr, range(0x20, 0x7F)))
                 + "\u2013\u2014\u2018\u2019\u201c\u201d\u2020\u2021\u2022\u2026\u2030"
                 + "\u2190\u2191\u2192\u2193\u2212\u2264\u2265\u00b1\u00d7\u00b7\u221e"
                 + "\u2248\u2260\u03c4\u03c7\u03b1\u03b2\u03b3\u03b4\u0394\u03ba\u03bb"
                 + "\u03bc\u03c3\u00b2\u00b3\u00b0\u00b5")
_sharing = 0  # > 0 within shared_font_subsets()
_shared: dict = {}  # font reference -> (font bytes, glyph map or None, glyphs or characters)


def _shared_cut(subset, fontfile, by_glyph, args, kwargs):
    """The shared cut of ``fontfile`` (made once per process), or None."""
    key = (str(fontfile), getattr(fontfile, "face_index", None))
    if key in _shared:
        return _shared[key]
    found = None
    try:
        import io

        if by_glyph:
            from matplotlib.ft2font import FT2Font

            face = FT2Font(str(fontfile))
            wanted = ({face.get_char_index(ord(c)) for c in _SHARED_CHARS}
                      | _ligatures(str(fontfile), _SHARED_CHARS)) - {0}
            with subset(fontfile, wanted, *args, **kwargs) as res:
                buf = io.BytesIO()
                res.font.save(buf, reorderTables=False)
                found = (buf.getvalue(), dict(res.glyph_index_map), frozenset(wanted))
        else:
            with subset(fontfile, _SHARED_CHARS, *args, **kwargs) as font:
                buf = io.BytesIO()
                font.save(buf, reorderTables=False)
                found = (buf.getvalue(), None, frozenset(map(ord, _SHARED_CHARS)))
    except Exception:  # noqa: BLE001 -- without the shared cut, each file gets its own
        found = None
    with _lock:
        _shared[key] = found
    return found


def _ligatures(path: str, chars: str) -> set:
    """Glyph numbers of the ligatures that text made of ``chars`` can take: matplotlib >= 3.11
    shapes text with the font's substitutions, so "fi" is drawn with the glyph of the ligature."""
    from fontTools.ttLib import TTFont

    font = TTFont(path, lazy=True)
    if "GSUB" not in font:
        return set()
    cmap = font.getBestCmap()
    names = {cmap[ord(c)] for c in chars if ord(c) in cmap}
    tables = []
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for table in lookup.SubTable:
            table = getattr(table, "ExtSubTable", table)  # extension lookups wrap the table
            if hasattr(table, "ligatures"):
                tables.append(table.ligatures)
    grown = True
    while grown:  # a ligature may take part in a longer one
        grown = False
        for ligatures in tables:
            for first, options in ligatures.items():
                if first not in names:
                    continue
                for lig in options:
                    if lig.LigGlyph not in names and all(c in names for c in lig.Component):
                        names.add(lig.LigGlyph)
                        grown = True
    return {font.getGlyphID(n) for n in names}


@contextlib.contextmanager
def _reopened(data, glyph_map, results):
    import io

    from fontTools.ttLib import TTFont

    # a new font object each time (matplotlib closes it); read lazily and with the cut's own
    # timestamp and bounds, it saves the same bytes whenever it is saved
    font = TTFont(io.BytesIO(data), lazy=True, recalcTimestamp=False, recalcBBoxes=False)
    with font:
        yield font if results is None else results(font, dict(glyph_map))


def _wrap(original, backend):
    # matplotlib >= 3.11 passes glyph numbers and gets back (font, glyph map); before, characters
    results = getattr(backend, "SubsetResults", None)
    by_glyph = results is not None and "glyph_index_map" in getattr(results, "_fields", ())

    def subset(fontfile, glyphs, *args, **kwargs):
        if _sharing:
            cut = _shared_cut(cut_own, fontfile, by_glyph, args, kwargs)
            if cut is not None:
                data, glyph_map, covered = cut
                used = {ord(c) for c in glyphs} if isinstance(glyphs, str) else set(glyphs)
                if used <= covered:
                    return _reopened(data, glyph_map, results if by_glyph else None)
        return cut_own(fontfile, glyphs, *args, **kwargs)

    def cut_own(fontfile, glyphs, *args, **kwargs):
        small = _small_copy(str(fontfile))
        if small is not None:
            path, glyph_map, chars = small
            if isinstance(glyphs, str):
                if {ord(c) for c in glyphs} <= chars:
                    return original(_same_kind(fontfile, path), glyphs, *args, **kwargs)
            elif by_glyph:
                glyphs = set(glyphs)
                if glyphs <= glyph_map.keys():
                    return _mapped_back(original, _same_kind(fontfile, path), glyphs, glyph_map,
                                        args, kwargs)
        lean = _lean_copy(str(fontfile))
        if lean is not None:
            fontfile = _same_kind(fontfile, lean)
        return original(fontfile, glyphs, *args, **kwargs)

    subset._metaanalysis_lean = True
    return subset


@contextlib.contextmanager
def shared_font_subsets():
    """Within the block, every PDF (or EPS) whose text uses only the characters of
    ``_SHARED_CHARS`` embeds one and the same cut of each font, made once per process, instead of a
    cut of its own characters.

    Cutting a font is most of what writing a PDF costs beyond drawing it (about 30 ms per font and
    file); a process that writes many figures (the report's 36) cuts each font once instead. The
    price is size: the shared cut holds about 135 glyphs (21 kB compressed for DejaVu Sans) where a
    figure's own holds about 50 (9 kB). What a reader sees and can select or edit is the same. A
    file with any other character gets its own cut as usual.

    Examples
    --------
    >>> import matplotlib.pyplot as plt                       # doctest: +SKIP
    >>> with shared_font_subsets():                           # doctest: +SKIP
    ...     save_figure(fig_a, "a.pdf"); save_figure(fig_b, "b.pdf")
    """
    global _sharing
    with _lock:
        _sharing += 1
    try:
        yield
    finally:
        with _lock:
            _sharing -= 1


@contextlib.contextmanager
def lean_font_subsets():
    """Within the block, matplotlib's PDF/PS font subsetting uses lean copies of the fonts."""
    try:
        from matplotlib.backends import _backend_pdf_ps as backend
    except ImportError:  # pragma: no cover -- another matplotlib layout
        yield
        return
    original = getattr(backend, "get_glyphs_subset", None)
    if original is None or getattr(original, "_metaanalysis_lean", False):
        yield
        return
    backend.get_glyphs_subset = _wrap(original, backend)
    try:
        yield
    finally:
        backend.get_glyphs_subset = original
