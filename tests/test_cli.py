"""The command line: messages without tracebacks, exit codes, files left untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metaanalysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_studies import GOOD_ROWS, row, to_csv  # noqa: E402


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "metaanalysis", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env)


def test_validate_ok_with_warnings_exits_0(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text(to_csv([row(value="18", ci_low="7", ci_high="290")]))
    assert main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert f"{p}:2:ci_high: warning:" in out
    assert "valid, 1 rows, 1 warning(s)" in out


def test_validate_errors_exit_2_without_traceback_and_file_unchanged(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(to_csv([GOOD_ROWS[0], row(value="ten"), row(ci_level="95")]))
    before = p.read_bytes()
    mtime = p.stat().st_mtime_ns
    res = run_cli("validate", str(p))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [l for l in res.stderr.splitlines() if l.startswith(str(p) + ":")]
    assert lines[0].startswith(f"{p}:3:value: ")
    assert lines[1].startswith(f"{p}:4:ci_level: ")
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime


def test_validate_missing_file(tmp_path):
    res = run_cli("validate", str(tmp_path / "nope.csv"))
    assert res.returncode == 2 and "file not found" in res.stderr and "Traceback" not in res.stderr


def test_validate_binary_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\x00\x01\x02PK")
    res = run_cli("validate", str(p))
    assert res.returncode == 2 and "binary" in res.stderr


def test_validate_json(tmp_path, capsys):
    p = tmp_path / "bad.csv"
    p.write_text(to_csv([row(value="ten")]))
    assert main(["validate", "--json", str(p)]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert data["problems"][0] == {"file": str(p), "line": 2, "column": "value",
                                   "severity": "error", "message": data["problems"][0]["message"]}


def test_python_dash_m_and_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("metaanalysis ")


def test_validate_names_the_review_files_report_would_miss(tmp_path, capsys):
    (tmp_path / "studies.csv").write_text(to_csv([row()]))
    assert main(["validate", str(tmp_path / "studies.csv")]) == 0
    out = capsys.readouterr().out
    for name in ("protocol.toml", "trials.csv"):
        assert (f"{tmp_path / name}: warning: not found beside the study table: `metaanalysis "
                "report` needs it to run the review") in out


def test_header_with_an_empty_or_repeated_column_is_named(tmp_path, capsys):
    # a spreadsheet's export: two empty columns at the end of every line of studies.csv; and a
    # trials.csv whose "line" column was pasted twice (report used to crash with a traceback)
    lines = to_csv([row()]).splitlines()
    (tmp_path / "studies.csv").write_text("\n".join(l + ",," for l in lines) + "\n")
    assert main(["validate", str(tmp_path / "studies.csv")]) == 2
    err = capsys.readouterr().err
    n = len(lines[0].split(","))
    assert (f"studies.csv:1: column {n + 1} of the header has no name; name it or remove the "
            "empty column") in err
    import csv
    import io

    trials = list(csv.reader(io.StringIO((ROOT / "data" / "trials.csv").read_text())))
    col = trials[0].index("line")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(r + [r[col]] for r in trials)
    (tmp_path / "trials.csv").write_text(out.getvalue())
    assert main(["validate", str(tmp_path / "trials.csv")]) == 2
    err = capsys.readouterr().err
    assert (f"trials.csv:1:line: the column name is repeated (columns {col + 1} and "
            f"{len(trials[0]) + 1}); keep one") in err


def test_reconstruct_out_replaces_only_patient_data(tmp_path, capsys):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv([row()]))
    before = table.read_bytes()
    curve = str(ROOT / "data" / "curves" / "veteran_os_standard")
    assert main(["reconstruct", curve, "--out", str(table)]) == 2
    assert "exists and is not patient data this command wrote" in capsys.readouterr().err
    assert table.read_bytes() == before
    ipd = tmp_path / "ipd.csv"
    assert main(["reconstruct", curve, "--out", str(ipd)]) == 0
    assert main(["reconstruct", curve, "--out", str(ipd)]) == 0     # its own output: rerun
    assert ipd.read_text().startswith("time,event\n")


def test_a_write_error_names_the_file(tmp_path):
    from metaanalysis.fileio import atomic_write

    target = tmp_path / "missing-folder" / "out.csv"
    with pytest.raises(OSError) as err:
        atomic_write(target, b"x")
    assert err.value.filename == str(target)   # not the hidden temporary file beside it


def test_shipped_table_validates_from_cli():
    if not (ROOT / "data" / "studies.csv").exists():
        pytest.skip("data/studies.csv not present")
    res = run_cli("validate", "data/studies.csv")
    assert res.returncode == 0, res.stderr
