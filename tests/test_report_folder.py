"""The report's output folder: it deletes only what it wrote, and refuses folders where it could harm."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import metaanalysis as ma
from metaanalysis.cli import main
from metaanalysis.errors import InputError
from metaanalysis.report import build_report
from metaanalysis.report.outdir import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "data" / "studies.csv"


@pytest.fixture(scope="module", autouse=True)
def report_cache(tmp_path_factory):
    """These tests are about the folder, not the drawing: the report's cache is on, in a folder of
    this module's own, so that only the first report draws (tests/test_report_cache.py checks that
    a cached figure is the same bytes)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("METAANALYSIS_CACHE", str(tmp_path_factory.mktemp("report-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    """Two trials only: a report of it takes a few seconds."""
    folder = tmp_path_factory.mktemp("table")
    lines = STUDIES.read_text(encoding="utf-8").splitlines()
    keep = [lines[0]] + [l for l in lines[1:] if l.startswith(("decision,", "select,"))]
    path = folder / "studies.csv"
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    for name in ("trials.csv", "protocol.toml"):
        shutil.copy(ROOT / "data" / name, folder / name)
    return path


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_out_holding_the_study_table_is_refused(tmp_path, small_table, capsys):
    data = tmp_path / "data"
    shutil.copytree(small_table.parent, data)
    before = _snapshot(data)
    assert main(["report", "--studies", str(data / "studies.csv"), "--out", str(data)]) == 2
    err = capsys.readouterr().err
    assert "holds the review's input" in err and "Traceback" not in err
    # --force does not override it: the table's folder is never a report folder
    assert main(["report", "--studies", str(data / "studies.csv"), "--out", str(data),
                 "--force"]) == 2
    # nor a folder above it
    assert main(["report", "--studies", str(data / "studies.csv"), "--out", str(tmp_path),
                 "--force"]) == 2
    assert _snapshot(data) == before


@pytest.mark.parametrize("where", ["root", "home"])
def test_root_and_home_are_refused(tmp_path, small_table, monkeypatch, where):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    out = "/" if where == "root" else str(home)
    with pytest.raises(InputError, match="root folder" if where == "root" else "home folder"):
        build_report(small_table, out, force=True, formats=("svg",))
    assert os.listdir(home) == []


def test_a_hand_made_results_json_deletes_nothing(tmp_path, small_table):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.csv").write_text("precious\n")
    (out / "results.json").write_text(json.dumps({"files": ["keep.csv"], "analyses": {}}))
    # a folder no report made: refused without --force
    with pytest.raises(InputError, match="--force"):
        build_report(small_table, out, formats=("svg",))
    assert (out / "keep.csv").read_text() == "precious\n"
    # --force writes beside the user's files but never over them: their results.json stops it
    # before anything moves in, and the folder is left unmarked, as it was
    with pytest.raises(InputError, match="would replace results.json, which no report wrote"):
        build_report(small_table, out, formats=("svg",), force=True)
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == \
        ["keep.csv", "results.json"]
    (out / "results.json").rename(tmp_path / "their-results.json")
    build_report(small_table, out, formats=("svg",), force=True)
    assert (out / "keep.csv").read_text() == "precious\n"
    # a second run in the now-marked folder still keeps it, even if the manifest is forged
    manifest = json.loads((out / MANIFEST).read_text())
    assert "keep.csv" not in manifest["files"]
    manifest["files"]["keep.csv"] = "0" * 64  # wrong hash: not the file the report wrote
    (out / MANIFEST).write_text(json.dumps(manifest))
    build_report(small_table, out, formats=("svg",))
    assert (out / "keep.csv").read_text() == "precious\n"


def test_stale_files_go_unless_edited(tmp_path, small_table):
    out = tmp_path / "out"
    build_report(small_table, out, formats=("svg",))
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    figures = sorted(f for f in manifest if f.startswith("figures/"))
    assert len(figures) >= 2
    for f in figures:
        assert (out / f).is_file()
    # pretend an earlier report also wrote two figures this one will not write
    for name, edited in (("figures/old_a.svg", False), ("figures/old_b.svg", True)):
        (out / name).write_text("<svg/>")
        from metaanalysis.report.outdir import sha256_of

        manifest[name] = sha256_of(out / name)
        if edited:
            (out / name).write_text("<svg>edited by a co-author</svg>")
    (out / MANIFEST).write_text(json.dumps({"files": manifest}))
    build_report(small_table, out, formats=("svg",))
    assert not (out / "figures/old_a.svg").exists()
    assert (out / "figures/old_b.svg").read_text() == "<svg>edited by a co-author</svg>"


def test_scratch_of_a_killed_report_is_cleaned(tmp_path, small_table):
    out = tmp_path / "out"
    build_report(small_table, out, formats=("svg",))
    from metaanalysis.report.outdir import SCRATCH_MARK

    scratch = out / ".report-killed"
    scratch.mkdir()
    (scratch / SCRATCH_MARK).touch()
    (scratch / "half.svg").write_text("<svg")
    # a folder of the user's that only looks like one: no mark, so it stays
    drafts = out / ".report-drafts"
    drafts.mkdir()
    (drafts / "chapter1.txt").write_text("mine")
    build_report(small_table, out, formats=("svg",))
    assert not scratch.exists()
    assert (drafts / "chapter1.txt").read_text() == "mine"


def test_failed_report_leaves_no_scratch(tmp_path, small_table, monkeypatch):
    import metaanalysis.report.figures as figures

    def boom(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(figures, "render_jobs", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        build_report(small_table, out, formats=("svg",))
    assert [p.name for p in out.iterdir() if p.name.startswith(".report-")] == []


@pytest.mark.parametrize("at", ["figures", "index.html"])
def test_a_report_killed_while_moving_in_is_completed_by_the_next(tmp_path, small_table, at):
    """SIGKILL while the new files move in (at the first figure, or just before the page): the
    old page and results.json are gone before anything moves, so no page shows the old results
    beside new figures; the manifest names the files that were moving in, so the next report
    replaces them instead of refusing them as a user's; it ends with one report whose files all
    match."""
    import signal
    import subprocess
    import sys

    from metaanalysis.report.outdir import sha256_of

    out = tmp_path / "out"
    build_report(small_table, out, formats=("svg",))
    before = (out / "index.html").read_bytes()
    old_figures = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    other = tmp_path / "other"
    shutil.copytree(small_table.parent, other)
    text = (other / "studies.csv").read_text(encoding="utf-8")
    (other / "studies.csv").write_text(text.replace(",0.59,0.45,0.76,", ",0.61,0.47,0.79,", 1),
                                       encoding="utf-8")
    assert (other / "studies.csv").read_text(encoding="utf-8") != text
    # only the report's own process dies, at a rename into out (figure workers rename too)
    target = str(out / at)
    kill = (
        "import os, signal\n"
        "real, main = os.replace, os.getpid()\n"
        "def replace(src, dst, *a, **k):\n"
        f"    if os.getpid() == main and str(dst).startswith({target!r}):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(src, dst, *a, **k)\n"
        "os.replace = replace\n"
        "from metaanalysis.report import build_report\n"
        f"build_report({str(other / 'studies.csv')!r}, {str(out)!r}, formats=('svg',))\n")
    proc = subprocess.run([sys.executable, "-c", kill], capture_output=True, env=os.environ)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    pending = json.loads((out / MANIFEST).read_text())["pending"]
    assert not (out / "index.html").exists()
    if at == "index.html":
        # every other file was in: the new results.json, and figures that changed with the table
        assert sha256_of(out / "results.json") == pending["results.json"]
        assert any((out / "figures" / n).read_bytes() != b for n, b in old_figures.items()
                   if (out / "figures" / n).exists())
    else:
        assert not (out / "results.json").exists()
    build_report(other / "studies.csv", out, formats=("svg",))
    manifest = json.loads((out / MANIFEST).read_text())
    assert "pending" not in manifest
    assert all(sha256_of(out / rel) == h for rel, h in manifest["files"].items())
    assert (out / "index.html").read_bytes() != before
    assert not any(p.name.startswith(".report-") for p in out.iterdir())


def test_a_full_disk_while_the_report_is_made_leaves_nothing(tmp_path, small_table, monkeypatch):
    """The disk fills while the page is staged: nothing has moved in, the folder is left as it
    was found, and the error names the folder the user gave, not a scratch file."""
    import errno

    import metaanalysis.fileio as fileio

    real = fileio.atomic_write

    def full(path, data, **kw):
        if "staged" in str(path) and str(path).endswith("index.html"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(fileio, "atomic_write", full)
    out = tmp_path / "out"
    with pytest.raises(OSError) as err:
        build_report(small_table, out, formats=("svg",))
    assert err.value.filename == str(out) and err.value.errno == errno.ENOSPC
    assert [p.name for p in out.iterdir()] == [".metaanalysis-report.lock"]


def test_out_that_is_a_file_is_refused(tmp_path, small_table, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["report", "--studies", str(small_table), "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert f.read_text() == "x"


def test_a_table_too_large_for_a_report_is_refused_early(tmp_path, small_table, monkeypatch,
                                                         capsys):
    import metaanalysis.report as report

    monkeypatch.setattr(report, "MAX_REPORT_ROWS", 10)
    out = tmp_path / "out"
    assert main(["report", "--studies", str(small_table), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "at most 10" in err and "pool_many" in err and "Traceback" not in err
    assert not out.exists()


def test_progress_goes_to_stderr_on_a_terminal_only(tmp_path, small_table, monkeypatch, capsys):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["report", "--studies", str(small_table), "--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert "running the" in captured.err and "drawing the figures" in captured.err
    assert "running the" not in captured.out
    assert main(["report", "--quiet", "--studies", str(small_table), "--out",
                 str(tmp_path / "b")]) == 0
    assert "running the" not in capsys.readouterr().err


def _review_copy(small_table, tmp_path, old, new):
    folder = tmp_path / "review"
    shutil.copytree(small_table.parent, folder)
    proto = folder / "protocol.toml"
    text = proto.read_text(encoding="utf-8")
    assert old in text
    proto.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    return folder, line


def test_a_misspelt_outcome_is_said_by_validate_and_report(tmp_path, small_table, capsys):
    # the analysis finds no studies, as a prespecified outcome nobody reported would: not an
    # error, but said at the protocol's line, with the table's closest code (it was silent)
    folder, line = _review_copy(small_table, tmp_path, 'outcome = "PFS"', 'outcome = "PFSX"')
    assert main(["validate", str(folder / "studies.csv")]) == 0
    said = capsys.readouterr().out
    assert (f"protocol.toml:{line}:analysis.outcome: warning: analysis 'pfs_hr': no row of the "
            "study table has outcome 'PFSX' (closest: 'PFS')") in said
    assert main(["report", "--quiet", "--studies", str(folder / "studies.csv"), "--out",
                 str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"protocol.toml:{line}:analysis.outcome" in err and "'PFSX'" in err
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<h2 id="pfs_hr">'):]
    section = section[: section.index("<h2", 5)]
    assert "No study meets" in section and "outcome &#x27;PFSX&#x27;" in section
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    # (this two-trial table has no DCR rows either: those warnings are right too)
    ours = [w["message"] for w in results["protocol_warnings"] if w["analysis"] == "pfs_hr"]
    assert len(ours) == 1 and "'PFSX'" in ours[0]


def test_a_misspelt_comparator_is_said(tmp_path, small_table, capsys):
    folder, line = _review_copy(small_table, tmp_path, 'comparator = "placebo"',
                                'comparator = "placebox"')
    assert main(["validate", str(folder / "protocol.toml")]) == 0
    assert (f"protocol.toml:{line}:analysis.comparator: warning: analysis 'pfs_hr': comparator "
            "'placebox' is neither an arm's therapy nor a comparator in the study table "
            "(closest: 'placebo')") in capsys.readouterr().out


def test_an_eligibility_value_trials_csv_cannot_hold_is_an_error(tmp_path, small_table, capsys):
    folder, line = _review_copy(small_table, tmp_path, 'design = ["rct"]', 'design = ["rtc"]')
    assert main(["validate", str(folder / "studies.csv")]) == 2
    assert (f"protocol.toml:{line}:analysis.eligibility.design: 'rtc' is not a value of "
            "trials.csv's design column") in capsys.readouterr().err


def test_the_shipped_protocol_fits_the_shipped_table():
    from metaanalysis.review.protocol import check_against_table

    table = ma.read_studies(ROOT / "data" / "studies.csv")
    assert check_against_table(ma.read_protocol(ROOT / "data" / "protocol.toml"), table) == []


def test_a_broken_curve_file_stops_validate_and_report(tmp_path, small_table, capsys):
    # the curves are inputs like the table: a risk table that increases was a "not run" line on
    # a page written with exit 0, and validate did not read the curves at all
    folder = tmp_path / "review"
    shutil.copytree(small_table.parent, folder)
    shutil.copytree(ROOT / "data" / "curves", folder / "curves")
    meta = folder / "curves" / "veteran_os_test.meta.csv"
    lines = meta.read_text(encoding="utf-8").splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("n_risk,"))
    numbers = lines[at].split(",", 1)[1].split()
    numbers[1] = str(int(numbers[0]) + 23)
    lines[at] = "n_risk," + " ".join(numbers)
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "curves" / "orphan.clicks.csv").write_text("0,1\n1,0.5\n", encoding="utf-8")
    assert main(["validate", str(folder / "studies.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{meta}:{at + 1}:n_risk: the number at risk increases" in err
    assert "orphan.clicks.csv: warning: no orphan.meta.csv beside it" in err
    assert main(["report", "--quiet", "--studies", str(folder / "studies.csv"), "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{meta}:{at + 1}:n_risk" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
