"""Adding rows to the study table: validated, atomic, never half-written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import metaanalysis.studies as studies
from metaanalysis.cli import main
import metaanalysis.errors as ma_errors
from metaanalysis.errors import StudyTableError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_studies import GOOD_ROWS, HEADER, row, to_csv  # noqa: E402

NEW = [row(study_id="new2024", trial="NEW", year="2024", value="12.0", ci_low="10.5",
           ci_high="13.7")]


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "studies.csv"
    p.write_text(to_csv(GOOD_ROWS))
    return p


def test_append_adds_rows_and_keeps_backup(table, tmp_path):
    before = table.read_bytes()
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    out = studies.append_rows(table, rows)
    assert len(out) == len(GOOD_ROWS) + 1
    assert out.frame["study_id"].iloc[-1] == "new2024"
    assert Path(str(table) + ".bak").read_bytes() == before
    assert studies.read_studies(table).frame["value"].iloc[-1] == 12.0


def test_append_keeps_the_table_file_mode(table, tmp_path):
    os.chmod(table, 0o644)
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    studies.append_rows(table, rows)
    assert os.stat(table).st_mode & 0o777 == 0o644


def test_atomic_write_new_file_gets_the_default_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        studies.atomic_write(tmp_path / "new.txt", b"x")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "new.txt").st_mode & 0o777 == 0o644


def test_append_columns_in_other_order(table, tmp_path):
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW, header=list(reversed(HEADER))))
    out = studies.append_rows(table, rows)
    assert out.frame["value"].iloc[-1] == 12.0


@pytest.mark.parametrize(
    "new_rows, line, fragment",
    [
        ([GOOD_ROWS[0]], 2, "already in the table"),
        ([NEW[0], row(study_id="x", value="abc")], 3, "not a number"),
    ],
)
def test_invalid_add_leaves_table_unchanged(table, tmp_path, new_rows, line, fragment):
    before = table.read_bytes()
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(new_rows))
    with pytest.raises(StudyTableError) as info:
        studies.append_rows(table, rows)
    assert any(p.row == line and fragment in p.message and p.file == str(rows)
               for p in info.value.problems)
    assert table.read_bytes() == before
    assert not Path(str(table) + ".bak").exists()
    # the lock file (empty, reused by every add) is the only trace a refused add may leave
    assert sorted(f for f in os.listdir(tmp_path) if f != ".studies.csv.lock") == \
        ["new.csv", "studies.csv"]


def test_unknown_column_is_refused(table, tmp_path):
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv([dict(NEW[0], surprise="1")], header=HEADER + ["surprise"]))
    with pytest.raises(StudyTableError, match="surprise"):
        studies.append_rows(table, rows)


def test_interrupted_write_leaves_table_as_it_was(table, tmp_path, monkeypatch):
    before = table.read_bytes()
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))

    def crash(src, dst):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(studies.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        studies.append_rows(table, rows)
    assert table.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if ".tmp-" in f] == []


def test_cli_add(table, tmp_path, capsys):
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    assert "appended 1 row(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(to_csv([row(study_id="y", ci_level="95")]))
    before = table.read_bytes()
    assert main(["add", str(bad), "--studies", str(table)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2:ci_level:" in err
    assert table.read_bytes() == before


def test_cli_add_prints_only_the_warnings_of_the_new_rows(tmp_path, capsys):
    table = tmp_path / "studies.csv"
    # an old row with a warning (a bound more than five times the median)
    old = row(study_id="old2020", trial="OLD", year="2020", value="10.0", ci_low="9.9",
              ci_high="60.0")
    table.write_text(to_csv(GOOD_ROWS + [old]))
    assert any(w.row == len(GOOD_ROWS) + 2 for w in studies.read_studies(table).warnings)
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv([row(study_id="new2025", trial="NEW2", year="2025", value="10.0",
                                ci_low="9.0", ci_high="80.0")]))
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    out = capsys.readouterr().out
    assert f"{table}:{len(GOOD_ROWS) + 2}:" not in out  # the old warning is not repeated
    assert f"{table}:{len(GOOD_ROWS) + 3}:" in out      # the new row's warning is printed
    assert "1 new warning(s)" in out


def test_cli_add_refuses_a_new_study_without_characteristics(table, tmp_path, capsys):
    # validate and the report refuse a study that trials.csv lacks: add refuses it too, naming
    # the new rows' line and what to do (nothing appended, exit 2)
    trials = tmp_path / "trials.csv"
    trials.write_text("study_id,design\ntrial2020,rct\n")
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    before = table.read_bytes()
    assert main(["add", str(rows), "--studies", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{rows}:2:study_id: study 'new2024' is new to {table} and has no "
                          f"line in {trials}; add its line")
    assert table.read_bytes() == before
    # a study that has its line goes in
    trials.write_text("study_id,design\ntrial2020,rct\nnew2024,rct\n")
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    assert "has no line" not in capsys.readouterr().out


def test_cli_add_reads_a_trials_header_with_spaces_as_the_report_does(table, tmp_path, capsys):
    (tmp_path / "trials.csv").write_text("study_id , design\nnew2024,rct\n")
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    assert "has no line" not in capsys.readouterr().out


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_added_rows_end_their_lines_as_the_table_does(tmp_path, end):
    # a table saved by classic Mac Excel ends its lines with CR alone: the new rows must too
    table = tmp_path / "studies.csv"
    table.write_bytes(to_csv(GOOD_ROWS, newline=end).encode())
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    studies.append_rows(table, rows)
    data = table.read_bytes()
    others = {b"\n": (b"\r",), b"\r\n": (), b"\r": (b"\n",)}[end.encode()]
    assert data.count(end.encode()) == len(GOOD_ROWS) + 2
    assert not any(o in data for o in others)
    assert len(studies.read_studies(table)) == len(GOOD_ROWS) + 1


def test_cli_add_names_the_backup_beside_the_linked_table(tmp_path, capsys, monkeypatch):
    # through a symbolic link the previous table is kept beside the file the link points to;
    # the path add prints (and returns in --json) is that one, and it exists
    real = tmp_path / "store" / "studies.csv"
    real.parent.mkdir()
    real.write_text(to_csv(GOOD_ROWS))
    (tmp_path / "link.csv").symlink_to(real)
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    monkeypatch.chdir(tmp_path)
    assert main(["add", "new.csv", "--studies", "link.csv"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("previous table kept as store/studies.csv.bak")
    assert (real.parent / "studies.csv.bak").is_file()
    rows.write_text(to_csv([dict(NEW[0], study_id="new2025", value="11.0")]))
    assert main(["add", "new.csv", "--studies", str(tmp_path / "link.csv"), "--json"]) == 0
    import json

    backup = json.loads(capsys.readouterr().out)["backup"]
    assert backup == str(real) + ".bak" and Path(backup).is_file()


def test_add_to_an_unreadable_table_says_so(table, tmp_path, monkeypatch):
    # (mode 000 as a user; root reads anything, so the permission check is faked)
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv(NEW))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.R_OK and
                        os.fspath(p).endswith("studies.csv") else real_access(p, mode))
    with pytest.raises(ma_errors.InputError, match="cannot be read: permission denied.*chmod u\\+rw"):
        studies.append_rows(table, rows)
