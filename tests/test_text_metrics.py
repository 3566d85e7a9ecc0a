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
