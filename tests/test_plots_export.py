"""Export at journal widths: PNG resolution, PDF fonts embedded (Type 42), SVG text as <text>."""

from __future__ import annotations

import re
import struct
import zlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import metaanalysis as ma  # noqa: E402
from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.plots import forest, save_figure  # noqa: E402

MM = 25.4


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def res():
    rng = np.random.default_rng(7)
    return ma.pool(rng.normal(-0.2, 0.3, 8), rng.uniform(0.02, 0.2, 8), measure="HR",
                   labels=[f"Trial {i}" for i in range(8)])


def png_info(path):
    """(width px, height px, x dpi) from the IHDR and pHYs chunks."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    i = data.find(b"pHYs")
    assert i > 0, "no pHYs chunk: the PNG does not state its resolution"
    ppm_x, ppm_y, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1
    return w, h, ppm_x * 0.0254


@pytest.mark.parametrize("width, mm", [("single", 89), ("double", 183), (120, 120)])
def test_png_width_and_dpi(tmp_path, res, width, mm):
    ax = forest(res, width=width)
    out = save_figure(ax, tmp_path / "f.png", width=width, dpi=300)
    w, h, dpi = png_info(out)
    assert dpi == pytest.approx(300, abs=0.5)
    assert w == pytest.approx(mm / MM * 300, abs=1.0)


def test_png_below_300_dpi_refused(tmp_path, res):
    with pytest.raises(InputError, match="300"):
        save_figure(forest(res), tmp_path / "f.png", dpi=150)


def pdf_objects(data: bytes) -> bytes:
    """The PDF with its Flate streams inflated (font descriptors may sit in object streams)."""
    out = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        start = m.end()
        end = data.find(b"endstream", start)
        try:
            out.append(zlib.decompress(data[start:end]))
        except zlib.error:
            pass
    return b"\n".join(out)


@pytest.mark.parametrize("width, mm", [("single", 89), ("double", 183)])
def test_pdf_embeds_truetype_fonts_at_journal_width(tmp_path, res, width, mm):
    ax = forest(res, width=width)
    with matplotlib.rc_context({"pdf.fonttype": 3}):  # the house setting wins over the caller's
        out = save_figure(ax, tmp_path / "f.pdf", width=width)
    data = out.read_bytes()
    body = pdf_objects(data)
    assert b"/FontFile2" in body, "TrueType font program not embedded"
    assert b"/Subtype /Type3" not in body and b"/Subtype/Type3" not in body
    assert b"DejaVuSans" in body
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert float(box.group(1)) == pytest.approx(mm / MM * 72, abs=0.05)
    assert b"CreationDate" not in data  # reproducible bytes


def test_pdf_is_reproducible(tmp_path, res):
    a = save_figure(forest(res), tmp_path / "a.pdf").read_bytes()
    b = save_figure(forest(res), tmp_path / "b.pdf").read_bytes()
    assert a == b


def test_svg_text_is_editable_text_and_width(tmp_path, res):
    out = save_figure(forest(res, width="single"), tmp_path / "f.svg", width="single")
    text = out.read_text()
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', text)
    assert float(width.group(1)) == pytest.approx(89 / MM * 72, abs=0.05)
    # svg.fonttype = "none": <text> elements a journal or co-author can edit, naming DejaVu Sans
    # and fallbacks; no glyph outlines
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", text)
    assert "Trial 0" in texts and any("(95% CI)" in t for t in texts)
    assert "'DejaVu Sans'" in text and "sans-serif" in text
    assert 'id="DejaVuSans' not in text
    # right-aligned columns stay right-aligned in any font: the anchor is written, not measured
    assert "text-anchor: end" in text
    a = text
    b = save_figure(forest(res, width="single"), tmp_path / "g.svg", width="single").read_text()
    assert a == b  # fixed svg.hashsalt and no date


def test_resizing_a_forest_plot_keeps_its_height_and_columns_clear(tmp_path, res):
    ax = forest(res)
    fig = ax.figure
    h = fig.get_size_inches()[1]
    save_figure(ax, tmp_path / "f.png", width="double", dpi=300)
    assert fig.get_size_inches() == pytest.approx([183 / MM, h])
    fig.canvas.draw()
    panel = ax.get_window_extent()
    renderer = fig.canvas.get_renderer()
    for t in ax.texts:
        if (t.get_gid() or "").startswith("forest-col"):
            b = t.get_window_extent(renderer)
            assert b.x1 <= panel.x0 + 0.5 or b.x0 >= panel.x1 - 0.5


def test_other_figures_keep_their_aspect(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "p.png", width="single", dpi=300)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(89 / MM) and h / w == pytest.approx(0.75)


def test_bad_suffix_and_width(tmp_path, res):
    with pytest.raises(InputError, match="suffix"):
        save_figure(forest(res), tmp_path / "f.docx")
    with pytest.raises(InputError, match="width"):
        save_figure(forest(res), tmp_path / "f.png", width="triple")
