"""The digitised curves are fitted in a forked process beside the analyses
(metaanalysis/report/parallel.py): its result, its errors and its death reach the report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from metaanalysis.errors import InputError  # noqa: E402
from metaanalysis.report import parallel  # noqa: E402
from metaanalysis.report.curves import digitised_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FORKS = "fork" in __import__("multiprocessing").get_all_start_methods()


def _table():
    from metaanalysis.studies import read_studies

    return read_studies(ROOT / "data" / "studies.csv")


@pytest.mark.skipif(not FORKS, reason="this platform cannot fork: the work runs in the process")
def test_forked_result_equals_the_section_computed_here(monkeypatch, tmp_path):
    monkeypatch.setenv("METAANALYSIS_CACHE", "off")
    table = _table()
    work = parallel.start_digitised(ROOT / "data" / "curves", table, level=95.0, formats=("svg",))
    assert work._process is not None and work._process.pid != os.getpid()
    try:
        section, figures = work.result()
        here, objects = digitised_section(ROOT / "data" / "curves", table=table, level=95.0)
        assert section == here
        # a curve's models and its extrapolation, a pair's PH check (and its HR over time)
        expected = [f"{objects[n]['name']}_{objects[n]['kind']}" for n in objects]
        assert [f["name"] for f in figures] == expected
        for f in figures:
            assert all(Path(p).is_file() for p in f["files"])
    finally:
        work.close()
    assert not Path(work._args[-1]).exists()


@pytest.mark.parametrize("forked", [True, False])
def test_an_error_of_the_other_process_is_raised_by_the_report(monkeypatch, tmp_path, forked):
    if forked and not FORKS:
        pytest.skip("this platform cannot fork")

    def boom(*args):
        raise InputError("curves/x.meta.csv: the arm column is empty")

    monkeypatch.setattr(parallel, "_digitised", boom)
    if not forked:
        import metaanalysis.report.figures as F

        monkeypatch.setattr(F, "_worker_count", lambda workers, n: 1)
    work = parallel.start_digitised(ROOT / "data" / "curves", None, level=95.0, formats=())
    try:
        with pytest.raises(InputError, match="arm column is empty"):
            work.result()
    finally:
        work.close()


@pytest.mark.skipif(not FORKS, reason="this platform cannot fork")
def test_a_process_that_dies_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(parallel, "_digitised", lambda *args: os._exit(3))
    work = parallel.start_digitised(ROOT / "data" / "curves", None, level=95.0, formats=())
    try:
        with pytest.raises(RuntimeError, match="exit code 3"):
            work.result()
    finally:
        work.close()


def test_report_fails_cleanly_when_the_curves_fail(monkeypatch, tmp_path, capsys):
    from metaanalysis.cli import main

    data = tmp_path / "data"
    data.mkdir()
    lines = (ROOT / "data" / "studies.csv").read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [line for line in lines[1:] if line.startswith(("decision,", "select,"))]
    (data / "studies.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    for name in ("trials.csv", "protocol.toml"):
        shutil.copy(ROOT / "data" / name, data / name)
    shutil.copytree(ROOT / "data" / "curves", data / "curves")
    monkeypatch.setattr(parallel, "_digitised",
                        lambda *args: (_ for _ in ()).throw(InputError("a bad curve")))
    out = tmp_path / "report"
    assert main(["report", "--quiet", "--studies", str(data / "studies.csv"),
                 "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "a bad curve" in err and "Traceback" not in err
    # nothing half-written: no page, no results, no scratch
    assert not (out / "index.html").exists() and not (out / "results.json").exists()
    if out.exists():
        assert not [p for p in out.iterdir() if p.name.startswith(".report-")]


def test_each_report_figure_is_laid_out_once(tmp_path, monkeypatch):
    """A constrained-layout figure is laid out once, as its PDF would be, without the draw with
    the drawing switched off that savefig spends on it, and keeps that layout for the SVG
    (matplotlib would lay it out again for each file, a whole draw each)."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from metaanalysis.plots import save_figure
    from metaanalysis.plots._fonts import shared_font_subsets
    from metaanalysis.report.figures import _save

    def figure():
        fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
        ax.set_ylabel("A long label that the layout makes room for")
        ax.set_title("and a title")
        return fig, ax

    # what matplotlib itself writes: the PDF laid out by its savefig, the SVG with that layout
    fig, ax = figure()
    with shared_font_subsets():
        save_figure(fig, tmp_path / "ref.pdf")
        fig.set_layout_engine(None)
        save_figure(fig, tmp_path / "ref.svg")
    ref_position = ax.get_position().bounds
    plt.close(fig)

    draws = []
    real = Figure.draw

    def spy(self, renderer):
        draws.append(type(renderer).__name__)
        return real(self, renderer)

    monkeypatch.setattr(Figure, "draw", spy)
    fig, ax = figure()
    svg, pdf, files = _save(fig, tmp_path / "f", ("svg",))
    assert len(draws) == 2, draws  # one draw per file, none to lay it out
    assert files == [svg, pdf] and svg.exists() and pdf.exists()
    assert fig.get_layout_engine() is None
    # the layout made room for the label, and it is the one savefig would have made
    assert ax.get_position().x0 > 0.15
    assert ax.get_position().bounds == ref_position
    assert fig.dpi == plt.rcParams["figure.dpi"]  # the PDF's dpi was only borrowed
    plt.close(fig)
    assert pdf.read_bytes() == (tmp_path / "ref.pdf").read_bytes()
    assert svg.read_bytes() == (tmp_path / "ref.svg").read_bytes()
    assert "A long label" in svg.read_text()


def _small_figure(label):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.set_title(label)
    return {"name": f"fig_{label}", "caption": label}, ax


@pytest.mark.parametrize("workers", [1, 2])
def test_meanwhile_runs_once_beside_the_drawing(monkeypatch, tmp_path, workers):
    """The caller's other work (the manuscript tables) runs once, in this process, whether the
    figures are drawn here, by forked workers, or copied from the cache."""
    from functools import partial

    from metaanalysis.report.figures import render_jobs

    if workers > 1 and not FORKS:
        pytest.skip("this platform cannot fork")
    monkeypatch.setenv("METAANALYSIS_CACHE", str(tmp_path / "cache"))
    jobs = [partial(_small_figure, "a"), partial(_small_figure, "b")]
    calls = []
    for run in ("drawn", "cached"):
        folder = tmp_path / run
        folder.mkdir()
        figures = render_jobs(jobs, folder, ("svg",), workers=workers,
                              meanwhile=lambda: calls.append(os.getpid()))
        assert [f["name"] for f in figures] == ["fig_a", "fig_b"]
        assert all(Path(f["svg"]).exists() for f in figures)
    assert calls == [os.getpid(), os.getpid()]


def test_an_error_of_meanwhile_stops_the_drawing_and_is_raised(monkeypatch, tmp_path):
    from functools import partial

    from metaanalysis.report.figures import render_jobs

    monkeypatch.setenv("METAANALYSIS_CACHE", "off")

    def fails():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        render_jobs([partial(_small_figure, "a"), partial(_small_figure, "b")], tmp_path, ("svg",),
                    workers=2, meanwhile=fails)


def test_frozen_heap_nests_and_gives_the_objects_back(monkeypatch):
    import gc

    # the calls, not the frozen count: objects frozen and then freed leave the count, so counts
    # are only a rough witness (a fresh-clone CI saw one fewer than it expected)
    calls = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    with parallel.frozen_heap():
        with parallel.frozen_heap():
            assert calls == ["freeze", "freeze"]  # the inner block freezes what was made since
        assert calls == ["freeze", "freeze"]  # nothing unfrozen while the outer block is open
    assert calls == ["freeze", "freeze", "unfreeze"]
    calls.clear()
    with pytest.raises(RuntimeError):
        with parallel.frozen_heap():
            raise RuntimeError("drawing failed")
    assert calls == ["freeze", "unfreeze"]  # an error still gives the objects back
    monkeypatch.undo()
    # the real collector: frozen inside, nothing frozen after the outermost block
    with parallel.frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_report_unfreezes_after_it_ends(monkeypatch, tmp_path):
    import gc

    from metaanalysis.report import build_report

    monkeypatch.setenv("METAANALYSIS_CACHE", "off")
    seen = []
    real = parallel.start_digitised

    def spy(*args, **kwargs):
        seen.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "start_digitised", spy)
    build_report(ROOT / "data" / "studies.csv", tmp_path / "r")
    assert seen and seen[0] > 0  # the inputs were frozen while the report forked
    assert gc.get_freeze_count() == 0
