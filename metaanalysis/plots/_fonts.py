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
                font = TTFont(lean, recalcTimestamp=False)
                cutter = subset.Subsetter(options=options)
                cutter.populate(unicodes=[c for a, b in _SMALL_RANGES for c in range(a, b + 1)])
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


def _wrap(original, backend):
    # matplotlib >= 3.11 passes glyph numbers and gets back (font, glyph map); before, characters
    results = getattr(backend, "SubsetResults", None)
    by_glyph = results is not None and "glyph_index_map" in getattr(results, "_fields", ())

    def subset(fontfile, glyphs, *args, **kwargs):
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
