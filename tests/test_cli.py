"""The command line: messages without tracebacks, exit codes, files left untouched."""

from __future__ import annotations

import errno
import json
import os
import re
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


# --------------------------------------------------------------------------------------------
# add: what validate and report would refuse, add refuses (nothing appended, exit 2)


def _data_copy(tmp_path):
    import shutil

    if not (ROOT / "data" / "studies.csv").exists():
        pytest.skip("data/ not present")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    return tmp_path / "data" / "studies.csv"


def _table_rows(path):
    import csv
    import io

    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _write_rows(path, rows):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())


def test_add_refuses_a_row_of_the_shipped_table_with_a_number_written_differently(tmp_path,
                                                                                   capsys):
    # the audit's case: line 4 of data/studies.csv with 10.8 written 10.80 was appended with
    # 0 warnings, while a trailing space was caught
    table = _data_copy(tmp_path)
    before = table.read_bytes()
    records = _table_rows(table)
    header, value = records[0], records[0].index("value")
    line = next(i for i, r in enumerate(records[1:], start=2) if "." in r[value])
    near = list(records[line - 1])
    near[value] += "0"
    rows = tmp_path / "neardup.csv"
    _write_rows(rows, [header, near])
    assert main(["add", str(rows), "--studies", str(table)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{rows}:2: duplicates line {line} of {table} (the same numbers "
                          f"written differently: value {near[value]} here, "
                          f"{records[line - 1][value]} there); it is already in the table")
    assert table.read_bytes() == before and not (tmp_path / "data" / "studies.csv.bak").exists()
    # and validate says the same of a table holding both rows
    both = tmp_path / "both.csv"
    _write_rows(both, records + [near])
    assert main(["validate", str(both)]) == 2
    assert (f"{both}:{len(records) + 1}: duplicates line {line} (the same numbers written "
            "differently") in capsys.readouterr().err


def test_add_refuses_a_new_study_that_trials_csv_lacks(tmp_path, capsys):
    # add used to append it with a warning, after which validate exited 2 and report refused
    table = _data_copy(tmp_path)
    trials = tmp_path / "data" / "trials.csv"
    before = table.read_bytes()
    records = _table_rows(table)
    header, sid = records[0], records[0].index("study_id")
    new = [list(records[1]), list(records[2])]   # two rows of a study, under a new id
    for r in new:
        r[sid] = "newtrial2030"
    rows = tmp_path / "new.csv"
    _write_rows(rows, [header] + new)
    assert main(["add", str(rows), "--studies", str(table)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        f"{rows}:2:study_id: study 'newtrial2030' is new to {table} and has no line in {trials}; "
        "add its line (its characteristics: design, line of therapy, histology...; see "
        f"data/README.md) to {trials} first, then add its rows: `metaanalysis validate` and "
        "`metaanalysis report` refuse a study without one (its rows here: lines 2, 3)"]
    assert table.read_bytes() == before and not (tmp_path / "data" / "studies.csv.bak").exists()
    # with its line in trials.csv it goes in; the counts say what they count
    t = _table_rows(trials)
    line = list(t[1])
    line[t[0].index("study_id")] = "newtrial2030"
    _write_rows(trials, t + [line])
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    out = capsys.readouterr().out
    assert f"now {len(records) + 1} rows, " in out and " warning(s) in the study table;" in out
    assert " in all" not in out
    assert main(["validate", str(table)]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert " in the study table, " in summary and " in the files beside it)" in summary


def test_validate_and_add_count_the_same_study_table_warnings(tmp_path, capsys):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv([row(value="18", ci_low="7", ci_high="290")]))
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv([row(study_id="new2024", value="11", ci_low="7", ci_high="300")]))
    assert main(["add", str(rows), "--studies", str(table)]) == 0
    added = capsys.readouterr().out
    assert "1 new warning(s), 2 warning(s) in the study table" in added
    assert main(["validate", str(table)]) == 0
    # no trials.csv nor protocol here: validate adds a warning for each, and says so
    assert ("valid, 2 rows, 4 warning(s) (2 in the study table, 2 in the files beside it)"
            in capsys.readouterr().out)


# --------------------------------------------------------------------------------------------
# a reader that goes away (`| head -1`)


def test_validate_piped_into_head_exits_141_silently(tmp_path):
    # more warnings than a pipe holds (64 KiB), so the writer meets the closed pipe for sure
    p = tmp_path / "t.csv"
    p.write_text(to_csv([row(study_id=f"s{i}", year="") for i in range(2000)]))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = f"{sys.executable} -m metaanalysis validate {p} | head -1"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    assert res.returncode == 141, res.stderr
    assert res.stderr == ""
    assert res.stdout.startswith(f"{p}:2:year: warning:") and res.stdout.count("\n") == 1
    # the help, too
    res = subprocess.run(["bash", "-o", "pipefail", "-c",
                          f"{sys.executable} -m metaanalysis --help | head -c0"],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert res.returncode in (0, 141) and res.stderr == ""


def test_a_closed_stdout_is_exit_141_not_an_input_error(tmp_path, monkeypatch, capsys):
    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    p = tmp_path / "t.csv"
    p.write_text(to_csv([row(year="")]))
    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["validate", str(p)]) == 141
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------------------------
# a folder that cannot be written: which folder, and what to do; exit 1 (the input is fine)


def _refuse_the_lock(monkeypatch, why=errno.EACCES):
    import contextlib

    from metaanalysis import fileio

    @contextlib.contextmanager
    def refuse(path, timeout=600.0):
        raise OSError(why, os.strerror(why), fileio.lock_path(path))
        yield  # pragma: no cover

    monkeypatch.setattr(fileio, "file_lock", refuse)


def test_add_in_a_folder_that_cannot_be_written_says_which_and_what_to_do(tmp_path,
                                                                         monkeypatch, capsys):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv(GOOD_ROWS))
    before = table.read_bytes()
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv([row(study_id="new2024", value="12.0")]))
    _refuse_the_lock(monkeypatch)
    assert main(["add", str(rows), "--studies", str(table)]) == 1
    err = capsys.readouterr().err
    assert err == (f"metaanalysis add: cannot write in {tmp_path} (permission denied): the study "
                   "table's folder must be writable to add rows (the lock, the new table and its "
                   ".bak are written there); copy the folder somewhere writable or change its "
                   "permissions (chmod u+w)\n")
    assert table.read_bytes() == before
    _refuse_the_lock(monkeypatch, errno.EROFS)
    assert main(["add", str(rows), "--studies", str(table)]) == 1
    assert f"cannot write in {tmp_path} (read-only file system)" in capsys.readouterr().err


def test_report_into_a_folder_that_cannot_be_written_says_choose_another_out(tmp_path,
                                                                             monkeypatch,
                                                                             capsys):
    table = _data_copy(tmp_path)
    out = tmp_path / "report"
    _refuse_the_lock(monkeypatch)
    assert main(["report", "--studies", str(table), "--out", str(out), "--quiet",
                 "--no-cache"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith("metaanalysis report:")]
    assert err == [f"metaanalysis report: cannot write in {out} (permission denied): the report "
                   "is written there; choose a writable --out folder, or change its permissions "
                   "(chmod u+w)"]


def test_a_permission_error_elsewhere_is_not_blamed_on_the_folder(tmp_path, monkeypatch, capsys):
    from metaanalysis import cli

    def refuse(args):
        with cli._writing_in(tmp_path / "out", "choose another"):
            raise PermissionError(errno.EACCES, "Permission denied",
                                  str(tmp_path / "elsewhere" / "x"))

    monkeypatch.setattr(cli, "cmd_diff", refuse)
    assert main(["diff", "a", "b"]) == 2
    assert capsys.readouterr().err == (f"metaanalysis diff: {tmp_path / 'elsewhere' / 'x'}: "
                                       "Permission denied\n")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write in any folder")
def test_add_and_report_in_read_only_folders_as_a_user(tmp_path):
    table = _data_copy(tmp_path)
    before = table.read_bytes()
    records = _table_rows(table)
    near = list(records[1])
    near[records[0].index("value")] = "123.4"
    rows = tmp_path / "new.csv"
    _write_rows(rows, [records[0], near])
    folder = tmp_path / "data"
    os.chmod(folder, 0o555)
    try:
        res = run_cli("add", str(rows), "--studies", str(table))
    finally:
        os.chmod(folder, 0o755)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"metaanalysis add: cannot write in {folder} (permission "
                                 "denied): the study table's folder must be writable")
    assert table.read_bytes() == before
    out = tmp_path / "report"
    out.mkdir(mode=0o555)
    try:
        res = run_cli("report", "--studies", str(table), "--out", str(out), "--quiet")
    finally:
        os.chmod(out, 0o755)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert (f"metaanalysis report: cannot write in {out} (permission denied): the report is "
            "written there; choose a writable --out folder") in res.stderr


def test_a_folder_that_cannot_be_made_on_the_way_to_out_is_named(tmp_path):
    # --out a/b/c under a read-only a: the mkdir that fails names a/b, above the --out folder;
    # it is the same refusal (exit 1, with the advice), not an error of the input
    import errno

    from metaanalysis.cli import _CannotWrite, _writing_in

    out = tmp_path / "a" / "b" / "c"
    with pytest.raises(_CannotWrite, match=rf"cannot write in {re.escape(str(tmp_path / 'a'))} "
                                           r"\(permission denied\): hint"):
        with _writing_in(out, "hint"):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "a" / "b"))
    # a refusal about a file elsewhere is not this folder's: it passes through
    with pytest.raises(PermissionError):
        with _writing_in(out, "hint"):
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "elsewhere"))
