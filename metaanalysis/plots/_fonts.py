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
"""

from __future__ import annotations

import contextlib
import hashlib
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
                    target.parent.mkdir(parents=True, exist_ok=True)
                    # written whole, then renamed: processes saving at once never read half a font
                    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".lean-", suffix=".ttf")
                    try:
                        with os.fdopen(fd, "wb") as fh:
                            font.save(fh)
                        os.replace(tmp, target)
                    finally:
                        if os.path.exists(tmp):
                            os.unlink(tmp)
                lean = str(target)
            except Exception:  # noqa: BLE001 -- a font we cannot copy is embedded as it is
                lean = None
        _lean[path] = lean
        return lean


def _wrap(original):
    def subset(fontfile, glyphs, *args, **kwargs):
        lean = _lean_copy(str(fontfile))
        if lean is not None:
            face = getattr(fontfile, "face_index", None)
            fontfile = type(fontfile)(lean, face) if face is not None else lean
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
    backend.get_glyphs_subset = _wrap(original)
    try:
        yield
    finally:
        backend.get_glyphs_subset = original
