"""Faults a living review meets: adds killed half-way, adds run at once, odd tables.

The study table is the one file a review cannot lose. These tests kill ``metaanalysis add`` with
SIGKILL at random points of its run (seeded), run 40 adds at once, and feed it read-only and
symlinked tables; after each, the table and its backup must be exactly an old or a new version.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import metaanalysis.studies as studies
from metaanalysis.cli import main
from metaanalysis.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_studies import GOOD_ROWS, row, to_csv  # noqa: E402

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and fork are POSIX")


def _new_row(i: int) -> dict:
    return row(study_id=f"added{i:03d}", trial=f"ADDED-{i}", year="2024",
               value=f"{10 + i / 100:.2f}", ci_low="5.0", ci_high="30.0")


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "studies.csv"
    p.write_text(to_csv(GOOD_ROWS))
    return p


# The child slows the file operations down (a sleep before and after each flush and rename) so
# that random kill times fall inside the write as often as outside it; the code under test is
# unchanged.
_CHILD = textwrap.dedent("""
    import os, sys, time
    real_fsync, real_replace = os.fsync, os.replace
    def slow_fsync(fd):
        time.sleep(0.03); real_fsync(fd); time.sleep(0.03)
    def slow_replace(a, b):
        time.sleep(0.03); real_replace(a, b); time.sleep(0.03)
    os.fsync, os.replace = slow_fsync, slow_replace
    from metaanalysis.cli import main
    import pandas  # imported before READY so that the kill window is the add itself
    print("READY", flush=True)
    sys.exit(main(["add", sys.argv[1], "--studies", sys.argv[2]]))
""")


def _start_child(rows_file, table):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(rows_file), str(table)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "READY", proc.stderr.read()


def _temporaries(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_sigkill_at_random_points_never_corrupts_table_or_backup(table, tmp_path):
    bak = Path(str(table) + ".bak")
    # calibrate: how long an add takes after the child is ready
    rows_file = tmp_path / "calibrate.csv"
    rows_file.write_text(to_csv([_new_row(999)]))
    proc = _start_child(rows_file, table)
    _wait_ready(proc)
    t0 = time.perf_counter()
    assert proc.wait(60) == 0, proc.stderr.read()
    duration = time.perf_counter() - t0
    proc.stdout.close()
    proc.stderr.close()

    outcomes = {"before": 0, "during": 0, "after": 0}

    def kill_once(i, delay):
        current = table.read_bytes()
        previous_bak = bak.read_bytes() if bak.exists() else None
        rows_file = tmp_path / f"new{i}.csv"
        rows_file.write_text(to_csv([_new_row(i)]))
        proc = _start_child(rows_file, table)
        _wait_ready(proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        proc.stdout.close()
        proc.stderr.close()
        after = table.read_bytes()
        after_bak = bak.read_bytes() if bak.exists() else None
        grown = after != current
        if grown:
            # the new table is the old one plus exactly the new row, and the backup the old one
            assert after.startswith(current)
            assert after[len(current):].decode().count("\n") == 1
            assert f"added{i:03d}".encode() in after[len(current):]
            assert after_bak == current
        else:
            assert after_bak in (previous_bak, current)
        left = _temporaries(tmp_path)
        outcomes["after" if grown else ("during" if left or after_bak != previous_bak
                                        else "before")] += 1
        studies.read_studies(table)  # whatever happened, the table still validates

    rng = np.random.default_rng(20261203)
    for i in range(25):
        kill_once(i, float(rng.uniform(0.0, 1.1 * duration)))
    # the kills must fall both before and after the table was replaced; the calibration is a wall
    # clock, so on a loaded machine the seeded delays may all land on one side: then kill at once,
    # or long after the add should have ended, until both sides are covered
    for i in range(25, 35):
        if outcomes["after"] and outcomes["before"] + outcomes["during"]:
            break
        kill_once(i, 0.0 if outcomes["after"] else 3.0 * duration + 0.5)
    print("kill outcomes:", outcomes)
    assert outcomes["after"] > 0 and outcomes["before"] + outcomes["during"] > 0, outcomes
    # the next run removes whatever temporary files killed runs left behind
    rows_file = tmp_path / "final.csv"
    rows_file.write_text(to_csv([_new_row(500)]))
    assert main(["add", str(rows_file), "--studies", str(table)]) == 0
    assert _temporaries(tmp_path) == []
    assert studies.read_studies(bak) is not None


def _add_one(args):
    table, rows_file = args
    try:
        studies.append_rows(table, rows_file)
        return None
    except Exception as exc:  # reported to the parent, which fails the test
        return repr(exc)


def test_forty_concurrent_adds_keep_forty_rows(table, tmp_path):
    before = len(studies.read_studies(table))
    jobs = []
    for i in range(40):
        f = tmp_path / f"c{i}.csv"
        f.write_text(to_csv([_new_row(i)]))
        jobs.append((str(table), str(f)))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(40) as pool:
        errors = pool.map(_add_one, jobs, chunksize=1)
    assert errors == [None] * 40
    after = studies.read_studies(table)
    assert len(after) == before + 40
    assert sorted(s for s in after.frame["study_id"] if s.startswith("added")) == \
        [f"added{i:03d}" for i in range(40)]
    assert _temporaries(tmp_path) == []


def test_read_only_table_is_refused(tmp_path, capsys):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv(GOOD_ROWS))
    os.chmod(table, 0o444)
    before = table.read_bytes()
    rows_file = tmp_path / "new.csv"
    rows_file.write_text(to_csv([_new_row(1)]))
    with pytest.raises(InputError, match="read-only"):
        studies.append_rows(table, rows_file)
    assert main(["add", str(rows_file), "--studies", str(table)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert table.read_bytes() == before
    assert stat.S_IMODE(os.stat(table).st_mode) == 0o444


def test_symlinked_table_stays_a_link(tmp_path):
    real = tmp_path / "store" / "studies.csv"
    real.parent.mkdir()
    real.write_text(to_csv(GOOD_ROWS))
    link = tmp_path / "studies.csv"
    link.symlink_to(real)
    rows_file = tmp_path / "new.csv"
    rows_file.write_text(to_csv([_new_row(1)]))
    studies.append_rows(link, rows_file)
    assert link.is_symlink()
    assert b"added001" in real.read_bytes()
    assert (real.parent / "studies.csv.bak").exists()


def test_stale_temporary_files_are_removed_by_the_next_add(tmp_path):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv(GOOD_ROWS))
    stale = [tmp_path / ".studies.csv.tmp-deadbeef0000", tmp_path / ".studies.csv.bak.tmp-0123"]
    for s in stale:
        s.write_bytes(b"x" * 1000)
    other = tmp_path / ".other.csv.tmp-0000"  # another file's temporary: not ours to remove
    other.write_bytes(b"y")
    rows_file = tmp_path / "new.csv"
    rows_file.write_text(to_csv([_new_row(1)]))
    studies.append_rows(table, rows_file)
    assert not any(s.exists() for s in stale)
    assert other.exists()


def test_rows_file_that_is_a_fifo_is_refused(tmp_path):
    table = tmp_path / "studies.csv"
    table.write_text(to_csv(GOOD_ROWS))
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    with pytest.raises(studies.StudyTableError, match="not a regular file"):
        studies.append_rows(table, fifo)
