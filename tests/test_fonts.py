"""Type 42 embedding through lean font copies (plots/_fonts.py): the same glyphs, faster."""

from __future__ import annotations

import io
import re
import zlib

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from fontTools.ttLib import TTFont  # noqa: E402

from metaanalysis.plots import _fonts  # noqa: E402
from metaanalysis.plots import save_figure  # noqa: E402

TEXT = "Hazard ratio 0.41 (0.32–0.52) · τ² ≥ 0 · Favours therapy"


def _figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title(TEXT, fontsize=6)
    ax.text(0.1, 0.5, "Bold ÄÖÜ μ ± NE", fontweight="bold")
    ax.set_xlabel("Median, months")
    return fig


def _embedded_fonts(pdf: bytes) -> dict:
    """Font programs (FontFile2 streams) of a PDF, by BaseFont name without the subset tag."""
    fonts = {}
    for m in re.finditer(rb"/FontFile2 (\d+) 0 R", pdf):
        obj = int(m.group(1))
        head = re.search(rb"\n%d 0 obj\n(<<.*?>>)\nstream\n" % obj, pdf, re.S)
        length = int(re.search(rb"/Length (\d+)", head.group(1)).group(1))
        start = head.end()
        data = pdf[start:start + length]
        if b"/FlateDecode" in head.group(1):
            data = zlib.decompress(data)
        font = TTFont(io.BytesIO(data))
        name = font["name"].getDebugName(6) or str(obj)
        fonts[name.split("+")[-1]] = font
    return fonts


def _save(tmp_path, name, monkeypatch=None) -> bytes:
    """Save the test figure as PDF; with ``monkeypatch``, with the lean-font wrapper disabled
    (matplotlib subsets the original font, as without this package)."""
    import contextlib

    import matplotlib.pyplot as plt

    import metaanalysis.plots.export as export

    if monkeypatch is not None:
        monkeypatch.setattr(export, "lean_font_subsets", contextlib.nullcontext)
    fig = _figure()
    path = tmp_path / name
    save_figure(fig, path)
    plt.close(fig)
    return path.read_bytes()


def test_lean_subset_embeds_the_same_glyphs_as_matplotlib(tmp_path, monkeypatch):
    lean = _embedded_fonts(_save(tmp_path, "lean.pdf"))
    full = _embedded_fonts(_save(tmp_path, "full.pdf", monkeypatch))
    assert set(lean) == set(full) and len(lean) == 2  # regular and bold, Type 42 (TrueType)
    for name in full:
        a, b = lean[name], full[name]
        # the full subset also carries glyphs reachable only through layout substitutions (the
        # MATH table's bracket pieces), which a PDF never substitutes
        extra = set(b.getGlyphOrder()) - set(a.getGlyphOrder())
        assert set(a.getGlyphOrder()) <= set(b.getGlyphOrder())
        assert not extra & set(b["cmap"].getBestCmap().values())
        assert a["cmap"].getBestCmap() == b["cmap"].getBestCmap()
        for g in a.getGlyphOrder():
            ga, gb = a["glyf"][g], b["glyf"][g]
            ga.expand(a["glyf"])
            gb.expand(b["glyf"])
            assert ga.getCoordinates(a["glyf"])[0] == gb.getCoordinates(b["glyf"])[0], g
            assert a["hmtx"][g] == b["hmtx"][g], g
        # layout tables are what the lean copy leaves out; a PDF viewer never reads them
        assert "GPOS" not in a and "GSUB" not in a


def test_characters_of_the_text_are_in_the_embedded_font(tmp_path):
    fonts = _embedded_fonts(_save(tmp_path, "lean.pdf"))
    regular = next(f for n, f in fonts.items() if "Bold" not in n)
    cmap = regular["cmap"].getBestCmap()
    for ch in set(TEXT + "Median, months") - {" "}:
        assert ord(ch) in cmap, ch


def test_wrapper_is_removed_after_saving(tmp_path):
    from matplotlib.backends import _backend_pdf_ps as backend

    before = backend.get_glyphs_subset
    _save(tmp_path, "x.pdf")
    assert backend.get_glyphs_subset is before
    assert not getattr(before, "_metaanalysis_lean", False)


def test_a_font_that_cannot_be_copied_is_used_as_it_is(tmp_path):
    assert _fonts._lean_copy(str(tmp_path / "missing.ttf")) is None
    assert _fonts._lean_copy(str(tmp_path / "font.otf")) is None


def test_lean_copy_is_kept_in_a_cache_and_is_byte_stable(tmp_path, monkeypatch):
    """A PDF must not change with the clock or the process: the lean copy keeps the font's
    timestamp, is made once into a cache folder (never a temporary folder left behind), and a copy
    made again is the same bytes."""
    from matplotlib import font_manager

    path = font_manager.findfont("DejaVu Sans")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # fontTools would stamp that instead
    monkeypatch.setattr(_fonts, "_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setattr(_fonts, "_lean", {})
    first = _fonts._lean_copy(path)
    assert first is not None and first.startswith(str(tmp_path / "cache"))
    assert TTFont(first)["head"].modified == TTFont(path)["head"].modified
    content = open(first, "rb").read()
    import os
    import time

    os.unlink(first)
    monkeypatch.setattr(_fonts, "_lean", {})
    # an hour later (fontTools stamps a font with the time of saving unless told not to)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    second = _fonts._lean_copy(path)
    assert second == first and open(second, "rb").read() == content
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".lean-")] == []


def test_building_the_small_copy_prints_no_warning(tmp_path, monkeypatch, caplog):
    """A user's first report builds the font cache; fontTools used to log "FFTM NOT subset; don't
    know how to subset; dropped" once per font to their terminal while cutting the small copy."""
    import logging

    from matplotlib import font_manager

    path = font_manager.findfont("DejaVu Sans")
    assert "FFTM" in TTFont(path)  # the table that set it off is still in matplotlib's font
    monkeypatch.setattr(_fonts, "_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setattr(_fonts, "_lean", {})
    monkeypatch.setattr(_fonts, "_small", {})
    before = logging.getLogger("fontTools.subset").level
    with caplog.at_level(logging.INFO, logger="fontTools"):
        small = _fonts._small_copy(path)
    assert small is not None and small[0].startswith(str(tmp_path / "cache"))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "FFTM" not in TTFont(small[0])
    assert logging.getLogger("fontTools.subset").level == before


def _cut_from(monkeypatch):
    """Record which font file each cut reads."""
    from matplotlib.backends import _backend_pdf_ps as backend

    seen = []
    real = backend.get_glyphs_subset

    def spy(fontfile, glyphs, *args, **kwargs):
        seen.append(str(fontfile))
        return real(fontfile, glyphs, *args, **kwargs)

    monkeypatch.setattr(backend, "get_glyphs_subset", spy)
    return seen


def test_small_copy_serves_the_usual_text_and_gives_the_same_glyphs(tmp_path, monkeypatch):
    seen = _cut_from(monkeypatch)
    small = _embedded_fonts(_save(tmp_path, "small.pdf"))
    assert seen and all(p.endswith("-small.ttf") for p in seen), seen
    monkeypatch.undo()
    full = _embedded_fonts(_save(tmp_path, "full.pdf", monkeypatch))
    assert set(small) == set(full)
    for name in full:
        a, b = small[name], full[name]
        assert a["cmap"].getBestCmap() == b["cmap"].getBestCmap()
        names_b = b["cmap"].getBestCmap()
        for code, g in a["cmap"].getBestCmap().items():
            ga, gb = a["glyf"][g], b["glyf"][names_b[code]]
            ga.expand(a["glyf"])
            gb.expand(b["glyf"])
            assert ga.getCoordinates(a["glyf"])[0] == gb.getCoordinates(b["glyf"])[0], chr(code)
            assert a["hmtx"][g] == b["hmtx"][names_b[code]], chr(code)


def test_a_glyph_outside_the_small_copy_is_cut_from_the_lean_copy(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    star = "\u2605"  # BLACK STAR: in DejaVu Sans, not among the small copy's characters
    assert not any(a <= ord(star) <= b for a, b in _fonts._SMALL_RANGES)
    seen = _cut_from(monkeypatch)
    fig = _figure()
    fig.axes[0].set_ylabel(f"Best {star}")
    save_figure(fig, tmp_path / "star.pdf")
    plt.close(fig)
    assert any(not p.endswith("-small.ttf") for p in seen), seen
    fonts = _embedded_fonts((tmp_path / "star.pdf").read_bytes())
    regular = next(f for n, f in fonts.items() if "Bold" not in n)
    assert ord(star) in regular["cmap"].getBestCmap()


# ---------------------------------------------------------------------------------------------------
# shared_font_subsets: one cut of each font for many files (the report's PDFs)


def _real_cuts(monkeypatch):
    """Record the glyph sets matplotlib's own subsetter is asked for (the cuts really made)."""
    from matplotlib.backends import _backend_pdf_ps as backend

    seen = []
    real = backend.get_glyphs_subset

    def spy(fontfile, glyphs, *args, **kwargs):
        seen.append((str(fontfile), len(glyphs)))
        return real(fontfile, glyphs, *args, **kwargs)

    monkeypatch.setattr(backend, "get_glyphs_subset", spy)
    return seen


def _other_figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xlabel("Response, % \u2192 favours placebo", fontweight="bold")
    ax.set_title("Overall survival 0.71 (0.60\u20130.85)\u2020")
    return fig


def test_shared_cut_is_made_once_per_font_for_many_files(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_fonts, "_shared", {})
    seen = _real_cuts(monkeypatch)
    with _fonts.shared_font_subsets():
        for i, make in enumerate([_other_figure, _other_figure, _other_figure]):
            fig = make()
            save_figure(fig, tmp_path / f"f{i}.pdf")
            plt.close(fig)
    # regular and bold: one cut each, for three files
    assert len(seen) == 2, seen
    pdfs = [(tmp_path / f"f{i}.pdf").read_bytes() for i in range(3)]
    assert pdfs[0] == pdfs[1] == pdfs[2]
    # outside the block each file is cut again
    seen.clear()
    fig = _other_figure()
    save_figure(fig, tmp_path / "own.pdf")
    plt.close(fig)
    assert len(seen) == 2


def test_shared_cut_holds_every_character_with_the_fonts_outlines(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_fonts, "_shared", {})
    fig = _other_figure()
    with _fonts.shared_font_subsets():
        save_figure(fig, tmp_path / "shared.pdf")
    save_figure(fig, tmp_path / "own.pdf")
    plt.close(fig)
    shared = _embedded_fonts((tmp_path / "shared.pdf").read_bytes())
    own = _embedded_fonts((tmp_path / "own.pdf").read_bytes())
    assert set(shared) == set(own) and len(shared) == 2
    for name in own:
        a, b = shared[name], own[name]
        cmap_a, cmap_b = a["cmap"].getBestCmap(), b["cmap"].getBestCmap()
        # the shared cut holds more characters than the file's own, and every one of those
        assert set(cmap_b) < set(cmap_a)
        assert {ord(c) for c in _fonts._SHARED_CHARS} <= set(cmap_a)
        for code, g in cmap_b.items():
            ga, gb = a["glyf"][cmap_a[code]], b["glyf"][g]
            ga.expand(a["glyf"])
            gb.expand(b["glyf"])
            assert ga.getCoordinates(a["glyf"])[0] == gb.getCoordinates(b["glyf"])[0], chr(code)
            assert a["hmtx"][cmap_a[code]] == b["hmtx"][g], chr(code)


def test_a_character_outside_the_shared_cut_gets_its_own(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    star = "\u2605"
    assert star not in _fonts._SHARED_CHARS
    monkeypatch.setattr(_fonts, "_shared", {})
    fig = _other_figure()
    fig.axes[0].set_ylabel(f"Best {star}")
    with _fonts.shared_font_subsets():
        save_figure(fig, tmp_path / "star.pdf")
    plt.close(fig)
    fonts = _embedded_fonts((tmp_path / "star.pdf").read_bytes())
    regular = next(f for n, f in fonts.items() if "Bold" not in n)
    cmap = regular["cmap"].getBestCmap()
    assert ord(star) in cmap
    # its own cut: not the shared characters it does not print
    assert ord("Q") not in cmap


def test_ligatures_drawn_by_the_shaper_are_in_the_shared_cut(tmp_path, monkeypatch):
    """matplotlib >= 3.11 draws "fi" with the font's ligature glyph: the shared cut must hold the
    ligatures its characters can form, or every file with "fi" would be cut on its own."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_fonts, "_shared", {})
    seen = _real_cuts(monkeypatch)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title("fit of the first office file")
    with _fonts.shared_font_subsets():
        save_figure(fig, tmp_path / "a.pdf")
        n_first = len(seen)
        ax.set_title("fluffy offline fjord")
        save_figure(fig, tmp_path / "b.pdf")
    plt.close(fig)
    assert len(seen) == n_first, seen  # the second file was served by the shared cut


def test_eps_within_the_block(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_fonts, "_shared", {})
    fig = _other_figure()
    with _fonts.shared_font_subsets():
        save_figure(fig, tmp_path / "f.eps")
    plt.close(fig)
    text = (tmp_path / "f.eps").read_bytes()
    assert b"%!PS-Adobe" in text[:40] and b"/FontType 42" in text


def test_shared_cut_gives_the_same_bytes_at_any_time(tmp_path, monkeypatch):
    # fontTools stamps a font it saves with the time unless told not to: a PDF written a second
    # later must still be the same bytes (the report's determinism)
    import matplotlib.pyplot as plt

    monkeypatch.setattr(_fonts, "_shared", {})
    out = []
    with _fonts.shared_font_subsets():
        for epoch in ("1000000000", "2000000000"):
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
            fig = _other_figure()
            save_figure(fig, tmp_path / f"{epoch}.pdf")
            plt.close(fig)
            out.append((tmp_path / f"{epoch}.pdf").read_bytes())
    assert out[0] == out[1]
