"""Text measured once per kind of renderer (plots/_metrics.py): fewer measurements, the same files."""

from __future__ import annotations

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import text as mtext  # noqa: E402

from metaanalysis.plots import _metrics, save_figure  # noqa: E402


def _figure():
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.plot([0.3, 1, 3], [1, 2, 3])
    ax.set_xscale("log")
    ax.set_xlabel("Hazard ratio")
    ax.set_title("Favours therapy \u2013 0.41 (0.32\u20130.52) $\\tau^2$")
    return fig


def _count_measures(monkeypatch):
    """Count the renderers' own measurements (below both caches)."""
    from matplotlib.backends import _backend_pdf_ps, backend_agg, backend_svg

    calls = []
    for cls in (_backend_pdf_ps.RendererPDFPSBase, backend_svg.RendererSVG,
                backend_agg.RendererAgg):
        real = cls.get_text_width_height_descent

        def spy(self, s, prop, ismath, _real=real):
            calls.append(s)
            return _real(self, s, prop, ismath)

        monkeypatch.setattr(cls, "get_text_width_height_descent", spy)
    return calls


def _save_all(tmp_path, tag):
    out = []
    for i in range(2):
        fig = _figure()
        for fmt in ("svg", "pdf"):
            path = tmp_path / f"{tag}{i}.{fmt}"
            save_figure(fig, path)
            out.append(path.read_bytes())
        plt.close(fig)
    return out


def test_same_files_with_fewer_measurements(tmp_path, monkeypatch):
    calls = _count_measures(monkeypatch)
    monkeypatch.setattr(_metrics, "_cache", {})
    with _metrics.shared_text_metrics():
        shared = _save_all(tmp_path, "s")
    n_shared = len(calls)
    calls.clear()
    monkeypatch.setattr(_metrics, "shared_text_metrics", __import__("contextlib").nullcontext)
    import metaanalysis.plots.export as export

    monkeypatch.setattr(export, "shared_text_metrics", __import__("contextlib").nullcontext)
    plain = _save_all(tmp_path, "p")
    n_plain = len(calls)
    assert shared == plain  # byte for byte
    # the second figure's strings, and the PDF's layout pass, are not measured again
    assert n_shared < 0.6 * n_plain, (n_shared, n_plain)


def test_kinds_of_renderer_are_not_mixed(monkeypatch):
    """An SVG and a PDF renderer measure the same string differently (hinting): each keeps its own."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    monkeypatch.setattr(_metrics, "_cache", {})
    prop = FontProperties(size=8)
    with _metrics.shared_text_metrics():
        a72 = mtext._get_text_metrics_with_cache(RendererAgg(100, 100, 72), "Hazard", prop, False, 72)
        a300 = mtext._get_text_metrics_with_cache(RendererAgg(100, 100, 300), "Hazard", prop, False,
                                                  300)
    assert a300[0] > 3 * a72[0]  # measured at its own resolution, not taken from the 72-dpi one
    assert len(_metrics._cache) == 2


def test_matplotlib_is_restored_and_blocks_nest():
    before = mtext._get_text_metrics_with_cache
    with _metrics.shared_text_metrics():
        inner = mtext._get_text_metrics_with_cache
        assert inner is not before
        with _metrics.shared_text_metrics():
            assert mtext._get_text_metrics_with_cache is inner
        assert mtext._get_text_metrics_with_cache is inner
    assert mtext._get_text_metrics_with_cache is before


def test_rcparams_that_change_the_measure_are_part_of_the_key(monkeypatch):
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    monkeypatch.setattr(_metrics, "_cache", {})
    prop = FontProperties(size=8)
    r = RendererAgg(100, 100, 72)
    with _metrics.shared_text_metrics():
        with matplotlib.rc_context({"text.hinting": "no_hinting"}):
            mtext._get_text_metrics_with_cache(r, "Wave", prop, False, 72)
        with matplotlib.rc_context({"text.hinting": "force_autohint"}):
            mtext._get_text_metrics_with_cache(r, "Wave", prop, False, 72)
    assert len(_metrics._cache) == 2


def test_the_cache_is_bounded(monkeypatch):
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    monkeypatch.setattr(_metrics, "_cache", {})
    monkeypatch.setattr(_metrics, "_MAX", 5)
    r = RendererAgg(100, 100, 72)
    with _metrics.shared_text_metrics():
        for i in range(12):
            mtext._get_text_metrics_with_cache(r, f"s{i}", FontProperties(size=8), False, 72)
    assert len(_metrics._cache) <= 5


# matplotlib 3.11's text layout looks up the font's height metrics itself (3.10's does not): only
# there is anything to share
needs_layout_lookups = pytest.mark.skipif(
    not (hasattr(mtext, "get_font") and hasattr(mtext, "fontManager")),
    reason="this matplotlib's text layout does not search fonts (3.11 and newer do)")


def _count_font_searches(monkeypatch):
    """Count matplotlib's own font searches and table reads (below the shared lookups)."""
    from matplotlib.font_manager import FontManager

    searches, tables = [], []
    real_find = FontManager._find_fonts_by_props

    def find(self, prop, *args, **kwargs):
        searches.append(prop.get_size())
        return real_find(self, prop, *args, **kwargs)

    monkeypatch.setattr(FontManager, "_find_fonts_by_props", find)
    real_get_font = mtext.get_font

    class Spy:
        def __init__(self, font):
            self._font = font

        def get_sfnt_table(self, name):
            tables.append(name)
            return self._font.get_sfnt_table(name)

        def __getattr__(self, name):
            return getattr(self._font, name)

    monkeypatch.setattr(mtext, "get_font", lambda paths, *a, **k: Spy(real_get_font(paths, *a, **k)))
    return searches, tables


@needs_layout_lookups
def test_font_height_lookups_are_shared_and_files_unchanged(tmp_path, monkeypatch):
    searches, tables = _count_font_searches(monkeypatch)
    monkeypatch.setattr(_metrics, "_fonts", {})
    with _metrics.shared_text_metrics():
        shared = _save_all(tmp_path, "s")
    n_searches, n_tables = len(searches), len(tables)
    searches.clear()
    tables.clear()
    import metaanalysis.plots.export as export

    monkeypatch.setattr(export, "shared_text_metrics", __import__("contextlib").nullcontext)
    plain = _save_all(tmp_path, "p")
    assert shared == plain  # byte for byte
    # the layout's searches and table reads: once per font size instead of once per text per draw
    # (the searches the renderers make for themselves are counted on both sides)
    assert len(searches) >= 2 * n_searches > 0, (n_searches, len(searches))
    assert len(tables) >= 10 * n_tables > 0, (n_tables, len(tables))


@needs_layout_lookups
def test_font_lookups_are_restored_and_see_new_fonts(monkeypatch):
    from matplotlib.font_manager import FontProperties

    manager, get_font = mtext.fontManager, mtext.get_font
    monkeypatch.setattr(_metrics, "_fonts", {})
    prop = FontProperties(size=9)
    with _metrics.shared_text_metrics():
        assert mtext.fontManager is not manager and mtext.get_font is not get_font
        first = mtext.fontManager._find_fonts_by_props(prop)
        assert first == manager._find_fonts_by_props(prop)
        first.append("changed by the caller")  # the caller's own list: the cache is not touched
        assert mtext.fontManager._find_fonts_by_props(prop) == manager._find_fonts_by_props(prop)
        n = len(_metrics._fonts)
        # a font added to the list (matplotlib's addfont) is a new search, not the remembered one
        monkeypatch.setattr(manager, "ttflist", manager.ttflist + [manager.ttflist[0]])
        mtext.fontManager._find_fonts_by_props(prop)
        assert len(_metrics._fonts) == n + 1
        # anything else is the manager's own
        assert mtext.fontManager.defaultFamily is manager.defaultFamily
    assert mtext.fontManager is manager and mtext.get_font is get_font
