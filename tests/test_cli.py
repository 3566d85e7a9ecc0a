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


def test_shipped_table_validates_from_cli():
    if not (ROOT / "data" / "studies.csv").exists():
        pytest.skip("data/studies.csv not present")
    res = run_cli("validate", "data/studies.csv")
    assert res.returncode == 0, res.stderr
