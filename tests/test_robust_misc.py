"""Hostile input that once hung, crashed or was followed blindly (issue 16, "Wrong or silent").

A FIFO or a device given as the study table, ``diff`` on deeply nested JSON, a curve's metadata
naming a file outside the curve's folder, and spreadsheet formulas in CSV exports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from metaanalysis.studies import validate_studies

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=60):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "metaanalysis", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)


# ---- the study table must be a regular file -----------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_as_table_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "studies.csv"
    os.mkfifo(fifo)
    result = {}
    worker = threading.Thread(target=lambda: result.update(out=validate_studies(fifo)),
                              daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("validate_studies blocked on a FIFO")
    table, problems = result["out"]
    assert table is None
    (p,) = problems
    assert p.file == str(fifo) and p.row is None
    assert "FIFO" in p.message and "not a regular file" in p.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_cli_validate_fifo_exits_2(tmp_path):
    fifo = tmp_path / "studies.csv"
    os.mkfifo(fifo)
    res = run_cli("validate", str(fifo), timeout=30)
    assert res.returncode == 2
    assert "not a regular file" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_cli_validate_device_exits_2_at_once():
    # /dev/zero never ends: reading it would fill the memory
    res = run_cli("validate", "/dev/zero", timeout=30)
    assert res.returncode == 2
    assert "/dev/zero: is a device, not a regular file" in res.stderr
    assert "Traceback" not in res.stderr


def test_directory_and_missing_file_keep_their_messages(tmp_path):
    assert "is a directory" in validate_studies(tmp_path)[1][0].message
    assert validate_studies(tmp_path / "nope.csv")[1][0].message == "file not found"


def test_symlink_to_a_table_is_read(tmp_path):
    real = ROOT / "data" / "studies.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    table, problems = validate_studies(link)
    assert table is not None and len(table) > 50


# ---- diff on deeply nested JSON -----------------------------------------------------------------


def _results(**extra):
    data = {"meta": {}, "analyses": {"pfs_hr": {"result": {"k": 3, "estimate": -0.4,
                                                          "ci_low": -0.6, "ci_high": -0.2}}}}
    data.update(extra)
    return data


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 5_000, 200_000])
def test_diff_on_deeply_nested_json_is_a_clear_error(tmp_path, depth):
    import json

    from metaanalysis.errors import MetaAnalysisError
    from metaanalysis.report.diff import ResultsFileError, diff_results

    good = tmp_path / "old.json"
    good.write_text(json.dumps(_results()))
    deep = tmp_path / "new.json"
    deep.write_text('{"meta": {}, "analyses": {}, "x": ' + _nested(depth) + "}")
    with pytest.raises(ResultsFileError, match="nested") as info:
        diff_results(good, deep)
    assert isinstance(info.value, MetaAnalysisError) and str(deep) in str(info.value)
    res = run_cli("diff", str(good), str(deep))
    assert res.returncode == 2 and "nested" in res.stderr and "Traceback" not in res.stderr


def test_diff_of_deep_dicts_in_memory_is_refused():
    from metaanalysis.report.diff import ResultsFileError, diff_results

    deep = inner = []
    for _ in range(10_000):  # deeper than the recursion limit
        inner.append([])
        inner = inner[0]
    new = _results()
    new["analyses"]["pfs_hr"]["warnings"] = deep
    with pytest.raises(ResultsFileError, match="more than 64 levels"):
        diff_results(_results(), new)
    assert diff_results(_results(), _results()).changes == ()  # a normal diff still works


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_diff_refuses_a_fifo(tmp_path):
    import json

    good = tmp_path / "old.json"
    good.write_text(json.dumps(_results()))
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    res = run_cli("diff", str(good), str(fifo), timeout=30)
    assert res.returncode == 2 and "not a regular file" in res.stderr


# ---- read_curve stays in the curve's folder -----------------------------------------------------


def _curve(folder, name="arm"):
    from metaanalysis.survival.curves import DigitisedCurve, write_curve

    curve = DigitisedCurve(t=[0.0, 5.0, 10.0], s=[1.0, 0.6, 0.3], risk_times=[0.0, 5.0],
                           n_risk=[50.0, 30.0], study_id="s", arm="a", time_unit="months",
                           scale="fraction")
    folder.mkdir(parents=True, exist_ok=True)
    return write_curve(curve, folder / name)


def _point_clicks_to(meta, value):
    text = meta.read_text().rstrip("\n") + f"\nclicks,{value}\n"
    meta.write_text(text)
    return len(text.splitlines())  # the line of the clicks key


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "dotdot-inside", "symlink-file",
                                  "symlink-folder", "windows-absolute"])
def test_read_curve_refuses_files_outside_the_curve_folder(tmp_path, kind):
    from metaanalysis.errors import StudyTableError
    from metaanalysis.survival import read_curve

    folder = tmp_path / "curves"
    outside_clicks, _ = _curve(tmp_path / "elsewhere", "secret")
    _, meta = _curve(folder)
    if kind == "absolute":
        value = str(outside_clicks)
    elif kind == "dotdot":
        value = "../elsewhere/secret.clicks.csv"
    elif kind == "dotdot-inside":  # climbs out and back in: still refused, the rule is simple
        value = "../curves/arm.clicks.csv"
    elif kind == "symlink-file":
        (folder / "link.clicks.csv").symlink_to(outside_clicks)
        value = "link.clicks.csv"
    elif kind == "symlink-folder":
        (folder / "sub").symlink_to(outside_clicks.parent, target_is_directory=True)
        value = "sub/secret.clicks.csv"
    else:
        value = "C:\\\\data\\\\secret.clicks.csv"
    line = _point_clicks_to(meta, value)
    with pytest.raises(StudyTableError) as info:
        read_curve(folder / "arm")
    (p,) = info.value.problems
    assert (p.file, p.row, p.column) == (str(meta), line, "clicks")
    assert "must be in the curve's folder" in p.message and "arm.clicks.csv" in p.message


def test_read_curve_follows_a_clicks_file_inside_its_folder(tmp_path):
    from metaanalysis.survival import read_curve

    folder = tmp_path / "curves"
    other, _ = _curve(folder / "raw", "clicks_v2")
    _, meta = _curve(folder)
    _point_clicks_to(meta, "raw/clicks_v2.clicks.csv")
    curve = read_curve(folder / "arm")
    assert list(curve.t) == [0.0, 5.0, 10.0]
    (folder / "same.clicks.csv").symlink_to(other)  # a link that stays inside is fine
    meta.write_text(meta.read_text().replace("raw/clicks_v2.clicks.csv", "same.clicks.csv"))
    assert list(read_curve(folder / "arm").s) == [1.0, 0.6, 0.3]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_read_curve_refuses_a_fifo_as_clicks(tmp_path):
    from metaanalysis.errors import StudyTableError
    from metaanalysis.survival import read_curve

    folder = tmp_path / "curves"
    _, meta = _curve(folder)
    os.mkfifo(folder / "pipe.clicks.csv")
    _point_clicks_to(meta, "pipe.clicks.csv")
    with pytest.raises(StudyTableError, match="not a regular file"):
        read_curve(folder / "arm")


# ---- CSV exports for spreadsheets ---------------------------------------------------------------


def test_spreadsheet_safe_neutralises_formulas_and_keeps_numbers():
    import csv
    import io

    import pandas as pd

    from metaanalysis._base import spreadsheet_safe

    frame = pd.DataFrame({
        "trial": ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1",
                  "\r=1", "safe", "-0.5", "a=b"],
        "hr": [-0.5, 0.7, -1e-3, 1.0, 2.0, 3.0, 4.0, 5.0, -6.0],
        "n": [-3, 1, 2, 3, 4, 5, 6, 7, 8],
        "mixed": [-1.5, "=x", None, "-y", 2, "ok", "@", "", "-"],
        "=cmd|' /C calc'!A0": ["x"] * 9,
    }, index=[f"r{i}" for i in range(8)] + ["=index"])
    frame["cat"] = pd.Categorical(["=c", "d"] * 4 + ["d"])
    before = frame.copy()
    out = spreadsheet_safe(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert out["trial"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1+2", "'-2+3",
                                     "'@SUM(A1)", "'\t=1", "'\r=1", "safe", "-0.5", "a=b"]
    # numbers stay numbers
    pd.testing.assert_series_equal(out["hr"], frame["hr"], check_index=False)
    pd.testing.assert_series_equal(out["n"], frame["n"], check_index=False)
    assert out["mixed"].tolist()[:2] == [-1.5, "'=x"] and out["mixed"].iloc[4] == 2
    assert out["mixed"].tolist()[5:] == ["ok", "'@", "", "'-"]
    assert "'=cmd|' /C calc'!A0" in out.columns and out.index[-1] == "'=index"
    assert out["cat"].tolist()[:2] == ["'=c", "d"]
    text = out.to_csv(lineterminator="\r\n")  # quotes cells holding a carriage return
    cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "-0.5" in cells and "'-2+3" in cells


def test_the_study_table_is_kept_as_typed(tmp_path):
    import csv
    import io

    from metaanalysis.studies import REQUIRED_COLUMNS, read_studies

    row = dict(study_id="t2020", trial="=1+2", year="2020", design="rct", arm="drug",
               therapy="drug", comparator="", outcome="FU", measure="minimum", value="-1.5",
               ci_low="", ci_high="", ci_level="", numerator="", denominator="", n="40",
               unit="months", source="doi:10.1/x", locator="@table 2", notes="+ see")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REQUIRED_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerow(row)
    path = tmp_path / "studies.csv"
    path.write_text(buf.getvalue())
    before = path.read_bytes()
    frame = read_studies(path).frame
    assert frame["trial"].iloc[0] == "=1+2" and frame["locator"].iloc[0] == "@table 2"
    assert frame["notes"].iloc[0] == "+ see" and frame["value"].iloc[0] == -1.5
    assert path.read_bytes() == before
