"""Reading the review's input files: one place that turns a file problem into a named Problem."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from ..errors import Problem, StudyTableError


def read_text(path, *, missing: str, kind: str = "CSV") -> tuple:
    """``(name, text)`` of a UTF-8 file; a StudyTableError naming the file (and the line of a
    bad byte) when it is missing, a folder, not a regular file or not UTF-8.

    ``missing`` is the message for a file that does not exist (what it is for, where it is
    documented).
    """
    name = os.fspath(path)
    try:
        if os.path.exists(name) and not os.path.isdir(name) and not os.path.isfile(name):
            raise StudyTableError([Problem(name, None, None, "is not a regular file (a FIFO or "
                                           f"device); give a {kind} file")])
        data = Path(name).read_bytes()
    except FileNotFoundError:
        raise StudyTableError([Problem(name, None, None, missing)]) from None
    except IsADirectoryError:
        raise StudyTableError([Problem(name, None, None, f"is a directory, not a {kind} "
                                       "file")]) from None
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StudyTableError([Problem(name, data[: exc.start].count(b"\n") + 1, None,
                                       "is not UTF-8 text")]) from None


def csv_records(name: str, text: str) -> list:
    """``[(line, fields)]`` of a CSV text, each record with the line it starts on."""
    from ..studies import cut_off_message

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, start = [], 1
    try:
        for rec in reader:
            records.append((start, rec))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise StudyTableError([Problem(name, start, None, cut_off_message(exc))]) from None
    if not records:
        raise StudyTableError([Problem(name, None, None, "the file is empty")])
    return records


def csv_rows(name: str, records, header, problems):
    """Yield ``(line, {column: stripped cell})`` of the data records, skipping blank lines; a
    record with the wrong number of fields goes to ``problems`` instead."""
    for line, rec in records[1:]:
        if not rec or all(not c.strip() for c in rec):
            continue
        if len(rec) != len(header):
            problems.append(Problem(name, line, None, f"has {len(rec)} fields but the header has "
                                    f"{len(header)}"))
            continue
        yield line, {h: c.strip() for h, c in zip(header, rec)}
