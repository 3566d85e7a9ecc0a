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
        assert [f["name"] for f in figures] == [f"{n}_models" if "fits" in objects[n] else
                                                f"{n}_ph_check" for n in objects]
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
