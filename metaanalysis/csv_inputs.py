"""CSV inputs of the analysis commands (``metaanalysis pool``, ``metaanalysis network``).

A user who scripts a reanalysis passes a file of effect sizes or counts, with metafor's column
names (``yi``, ``vi``, ``sei``, ``ai``, ``bi``, ``ci``, ``di``, ``n1i``, ``n2i``, ``xi``, ``ni``)
or their own names mapped onto them. Every cell is checked before any statistics run, and every
problem is reported as ``file:line:column: message`` (all of them, not only the first), so a
typo in row 40 of a spreadsheet export is found where it is.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError, Problem, StudyTableError
from .review._files import csv_records, csv_rows, read_text
from .studies import header_problems, parse_number

__all__ = ["CsvTable", "read_csv_table"]


class CsvTable:
    """The records of a CSV file with their line numbers; numbers are read column by column.

    Attributes
    ----------
    name : str
        The file as given.
    header : list of str
        The column names (stripped).
    rows : list of (int, dict)
        ``(line, {column: cell})`` of every non-blank record.
    """

    def __init__(self, name: str, header: list, rows: list):
        self.name = name
        self.header = header
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, *columns) -> bool:
        """Whether every one of ``columns`` is in the header."""
        return all(c in self.header for c in columns)

    def numbers(self, column: str, problems: list, *, minimum: float | None = None,
                strict: bool = False, empty_ok: bool = False,
                what: str = "a number") -> np.ndarray:
        """The column as floats; a cell that is not a number, not finite, below ``minimum`` (or
        at it when ``strict``) or empty (unless ``empty_ok``) adds a Problem naming its line and
        is NaN in the result."""
        out = np.full(len(self.rows), np.nan)
        for i, (line, rec) in enumerate(self.rows):
            cell = rec.get(column, "")
            if not cell:
                if not empty_ok:
                    problems.append(Problem(self.name, line, column, f"is empty; give {what}"))
                continue
            try:
                # the study table's number grammar: float() would read "1_0" as 10 and a
                # full-width "０.３" as 0.3
                x = parse_number(cell)
            except InputError as exc:
                problems.append(Problem(self.name, line, column, f"{exc}; give {what}"))
                continue
            if not math.isfinite(x):
                problems.append(Problem(self.name, line, column,
                                        f"{cell!r} is not finite; give {what}"))
            elif minimum is not None and (x < minimum or (strict and x == minimum)):
                bound = f"above {minimum:g}" if strict else f"of {minimum:g} or more"
                problems.append(Problem(self.name, line, column,
                                        f"{x:g} is out of range; give {what} {bound}"))
            else:
                out[i] = x
        return out

    def texts(self, column: str) -> list:
        """The column as text (empty cells as "")."""
        return [rec.get(column, "") for _, rec in self.rows]

    def lines(self) -> list:
        """The line number of each record."""
        return [line for line, _ in self.rows]


def read_csv_table(path, *, what: str) -> CsvTable:
    """Read a CSV file with a header line into a :class:`CsvTable`.

    Parameters
    ----------
    path : path-like
        The file.
    what : str
        What the file should hold, for the error when it is missing or has no data rows.

    Raises
    ------
    StudyTableError
        The file is missing, not UTF-8, not valid CSV, has a record with the wrong number of
        fields, a repeated column name or no data rows; every problem is listed.

    Examples
    --------
    >>> table = read_csv_table("effects.csv", what="one row per study")   # doctest: +SKIP
    >>> problems = []
    >>> yi = table.numbers("yi", problems)                                  # doctest: +SKIP
    """
    name, text = read_text(path, missing=f"file not found; give a CSV file with {what}")
    records = csv_records(name, text)
    header = [h.strip() for h in records[0][1]]
    problems = header_problems(name, records[0][0], header)
    rows = list(csv_rows(name, records, header, problems))
    if not rows and not problems:
        problems.append(Problem(name, None, None, f"has a header but no data rows; give {what}"))
    if problems:
        raise StudyTableError(problems)
    return CsvTable(name, header, rows)
