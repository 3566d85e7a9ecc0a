"""The study table: read, validate and check the consistency of ``data/studies.csv``.

The table is long: one row per reported number, each with its provenance (``source``,
``locator``). :func:`read_studies` returns a :class:`StudyTable` or raises
:class:`~metaanalysis.errors.StudyTableError` listing every problem found, each naming the file,
the CSV line and the column. Problems that can be legitimate (a percentage that disagrees with its
counts, an interval asymmetric on the log scale...) are warnings: they are kept on the table for a
reviewer and do not stop the analysis.

The column conventions are documented in ``data/README.md``.
"""

from __future__ import annotations

import csv
import gc
import io
import math
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from ._base import frame_field, frozen_field
from .errors import InputError, Problem, StudyTableError

__all__ = [
    "REQUIRED_COLUMNS",
    "StudyTable",
    "read_studies",
    "validate_studies",
    "validate_text",
    "TIME_UNITS_IN_MONTHS",
    "append_rows",
    "CUT_PREFERENCE",
    "ASSESSOR_PREFERENCE",
    "CUT_CHRONOLOGY",
    "cut_preference",
    "atomic_write",
    "parse_number",
    "parse_numbers",
    "NUMBER_GRAMMAR",
    "DEGENERATE_INTERVAL_WIDTH",
]

REQUIRED_COLUMNS = (
    "study_id", "trial", "year", "design", "arm", "therapy", "comparator", "outcome", "measure",
    "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n", "unit", "source",
    "locator", "notes",
)
NUMERIC_COLUMNS = ("year", "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n",
                   "time_point", "factsheet_line")
INTEGER_COLUMNS = ("year", "numerator", "denominator", "n", "factsheet_line")
DESIGNS = ("rct", "single-arm", "retrospective")
MEASURES = ("median", "mean", "hr", "or", "rr", "proportion", "count", "rate", "minimum", "maximum")
TIME_MEASURES = ("median", "mean", "minimum", "maximum")
RATIO_MEASURES = ("hr", "or", "rr")
STATUSES = ("reported", "not_reached")
# The outcome vocabulary of data/README.md: bare codes, and namespaces whose detail follows a colon
# (AE:hypertension, DOSE:reduction). Analyses select rows by these exact codes, so a row coded
# "pfs" or "AE:" would silently fall out of every analysis.
OUTCOME_CODES = ("PFS", "OS", "ORR", "DCR", "CR", "PR", "SD", "PD", "FU", "DOR", "N", "DEATHS",
                 "CROSSOVER")
OUTCOME_NAMESPACES = ("AE", "TRAE", "DOSE", "REDIFF", "DEATHS", "SD", "ORR")
# Average month length (365.25 / 12 days), the convention of most oncology papers.
TIME_UNITS_IN_MONTHS = {"months": 1.0, "weeks": 7.0 / (365.25 / 12), "days": 1.0 / (365.25 / 12),
                        "years": 12.0}
# A ratio interval (hazard, odds, risk ratio: Wald intervals, symmetric on the log scale) whose two
# log half-widths differ by more than this fraction of the larger, even after moving each printed
# number by half a unit of its last digit, is flagged.
LOG_ASYMMETRY_TOLERANCE = 0.10
# Medians are another matter: their intervals come from the steps of a Kaplan-Meier curve
# (Brookmeyer-Crowley) and are asymmetric for real reasons. In the shipped table they reach a
# bound equal to the median (COSMIC-311 placebo, 1.9 (1.9-3.7)) and an upper bound 2.7 times the
# median (Cabanillas 2017, 12.7 (10.9-34.7)); published medians with an open upper bound are
# common. A transcription slip of a decimal point moves a bound tenfold. A bound more than five
# times the median, or less than a fifth of it, is flagged: between the widest ordinary interval
# seen (2.7) and a slipped decimal (10).
MEDIAN_BOUND_FACTOR = 5.0
# Which analysis of a trial to use when a table holds several (one row per trial per analysis).
# For progression and response, the prespecified primary analysis that trials are powered for; for
# OS the most mature cut (crossover makes early OS cuts less informative still).
CUT_PREFERENCE = {
    "default": ("primary", "", "update", "final", "interim"),
    "OS": ("final", "update", "primary", "", "interim"),
}
ASSESSOR_PREFERENCE = ("central", "", "investigator")
# Data cuts from earliest to latest (an unlabelled row is taken to be the primary report), for the
# "first" and "latest" rules of effects_from_table and of the protocol.
CUT_CHRONOLOGY = ("interim", "primary", "", "update", "final")


def follow_up_months(frame) -> dict:
    """``{study_id: (months, measure)}``: the longest median or mean follow-up (rows of outcome
    ``FU``) each study of a study table's frame reports, in months."""
    rows = frame[(frame["outcome"] == "FU") & frame["measure"].isin(("median", "mean"))]
    out = {}
    for sid, measure, value, unit in zip(rows["study_id"], rows["measure"], rows["value"],
                                         rows["unit"]):
        months = value * TIME_UNITS_IN_MONTHS.get(unit, math.nan)
        if math.isfinite(months) and months > out.get(sid, (0.0, ""))[0]:
            out[sid] = (months, measure)
    return out


def header_problems(name: str, line, header) -> list:
    """Problems of a header: a column with no name (a spreadsheet's export often adds empty
    columns at the end) and a name given twice, each with its column number."""
    out, seen = [], {}
    for i, h in enumerate(header, start=1):
        if not h:
            out.append(Problem(name, line, None, f"column {i} of the header has no name; name it "
                               "or remove the empty column (a spreadsheet may have added it)"))
        elif h in seen:
            out.append(Problem(name, line, h, f"the column name is repeated (columns {seen[h]} "
                               f"and {i}); keep one"))
        else:
            seen[h] = i
    return out


def cut_preference(outcome: str) -> tuple:
    """The order in which data cuts are preferred for ``outcome`` (see :data:`CUT_PREFERENCE`)."""
    return CUT_PREFERENCE.get(outcome, CUT_PREFERENCE["default"])


# Keys that identify one reported quantity; two rows with equal keys and different values conflict.
_QUANTITY_KEY = ("study_id", "arm", "outcome", "measure", "data_cut", "population", "assessor",
                 "time_point", "unit")


@dataclass(frozen=True, eq=False)
class StudyTable:
    """A validated study table: a thin wrapper around a :class:`pandas.DataFrame`.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per reported number; numeric columns are floats (missing = NaN), text columns
        strings (missing = ""), plus ``line``, the row's line number in the CSV file.
    path : str
        The file it was read from.
    warnings : list of Problem
        What the validator flagged for a reviewer.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> table = ma.read_studies("data/studies.csv")        # doctest: +SKIP
    >>> table.select(outcome="PFS", measure="hr")           # doctest: +SKIP
    """

    frame: object = frame_field()
    path: str
    warnings: list = frozen_field([])

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def studies(self) -> list:
        """The study ids, in order of first appearance."""
        return list(dict.fromkeys(self.frame["study_id"]))

    def select(self, **criteria):
        """Rows whose columns equal the given values (a list or tuple means any of them)."""
        df = self.frame
        mask = None
        for column, wanted in criteria.items():
            if column not in df.columns:
                raise KeyError(f"the study table has no column {column!r}")
            values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            m = df[column].isin(values)
            mask = m if mask is None else (mask & m)
        return df if mask is None else df[mask]

    def to_frame(self):
        """A copy of the table (the validated rows, with ``line``)."""
        return self.frame

    def to_dict(self) -> dict:
        """``path``, ``rows``, ``studies`` and the validator's ``warnings`` (as text)."""
        return {"path": self.path, "rows": len(self.frame), "studies": self.studies,
                "warnings": [str(w) for w in self.warnings]}

    def summary(self) -> str:
        df = self.frame
        lines = [
            f"Study table {self.path}: {len(df)} rows, {df['study_id'].nunique()} studies, "
            f"{len(self.warnings)} warning(s)",
            "",
        ]
        counts = df.groupby("outcome").size().sort_values(ascending=False)
        lines.append("rows per outcome: " + ", ".join(f"{o} {c}" for o, c in counts.items()))
        per = df.groupby("study_id").agg(trial=("trial", "first"), design=("design", "first"),
                                         rows=("outcome", "size"))
        lines.append("")
        lines.append(f"{'study_id':<22}{'trial':<28}{'design':<15}rows")
        for sid, r in per.iterrows():
            lines.append(f"{sid:<22}{str(r.trial)[:27]:<28}{r.design:<15}{r.rows}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<StudyTable {self.path!r}: {len(self.frame)} rows, {len(self.warnings)} warnings>"

    def _repr_html_(self) -> str:
        import html

        head = html.escape(repr(self))
        return f"<p>{head}</p>" + self.frame.to_html(max_rows=30)


def read_studies(path) -> StudyTable:
    """Read and validate a study table.

    Parameters
    ----------
    path : str or path-like
        A CSV file in the format of ``data/README.md``. CRLF line endings, a UTF-8 byte-order mark,
        columns in any order and extra columns are accepted.

    Returns
    -------
    StudyTable
        With the validator's warnings in ``.warnings``.

    Raises
    ------
    StudyTableError
        Listing every error found (file, line, column, message), with the warnings attached.

    Examples
    --------
    >>> table = read_studies("data/studies.csv")            # doctest: +SKIP
    >>> len(table.warnings)                                 # doctest: +SKIP
    """
    table, problems = validate_studies(path)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise StudyTableError(errors, [p for p in problems if p.severity != "error"])
    return table


def validate_studies(path) -> tuple:
    r"""Validate a study table file without raising.

    Returns ``(table, problems)``: ``table`` is a :class:`StudyTable` when there is no error (else
    ``None``) and ``problems`` lists errors and warnings in file order. The file is only read.
    Only a regular file is read: a FIFO, a device or a socket is refused at once (reading one
    would block or never end).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "studies.csv"
    >>> row = ("decision,DECISION,2014,rct,sorafenib,sorafenib,placebo,PFS,{},0.59,0.45,0.76,"
    ...        "0.95,,,417,,doi:10.1016/S0140-6736(14)60421-9,abstract,")
    >>> _ = path.write_text("study_id,trial,year,design,arm,therapy,comparator,outcome,measure,"
    ...     "value,ci_low,ci_high,ci_level,numerator,denominator,n,unit,source,locator,notes\n"
    ...     + row.format("hr") + "\n" + row.format("ratio") + "\n")
    >>> table, problems = validate_studies(path)
    >>> table is None, [(p.row, p.column, p.severity) for p in problems]
    (True, [(3, 'measure', 'error')])
    >>> problems[0].message
    "'ratio' is not a measure; use one of median, mean, hr, or, rr, proportion, count, rate, minimum, maximum"
    """
    import stat as stat_

    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO without a writer must not wait for one
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None, [Problem(name, None, None, "file not found")]
    except IsADirectoryError:
        return None, [Problem(name, None, None, "is a directory, not a CSV file")]
    except OSError as exc:
        return None, [Problem(name, None, None, f"cannot be read: {exc.strerror or exc}")]
    try:
        mode = os.fstat(fd).st_mode
        if stat_.S_ISDIR(mode):
            return None, [Problem(name, None, None, "is a directory, not a CSV file")]
        if not stat_.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat_.S_ISFIFO(mode) else "a device" if
                    stat_.S_ISCHR(mode) or stat_.S_ISBLK(mode) else "a socket" if
                    stat_.S_ISSOCK(mode) else "not a regular file")
            return None, [Problem(name, None, None, f"is {kind}, not a regular file; give the "
                                  "study table as a CSV file")]
        with os.fdopen(fd, "rb") as fh:
            fd = None
            data = fh.read()
    except OSError as exc:
        return None, [Problem(name, None, None, f"cannot be read: {exc.strerror or exc}")]
    finally:
        if fd is not None:
            os.close(fd)
    return validate_text(data, name)


def validate_text(data: bytes | str, name: str = "<text>") -> tuple:
    """Validate the bytes (or text) of a study table; see :func:`validate_studies`."""
    with _gc_paused():
        table = _read_columns(data, name)
        if isinstance(table, list):
            return None, table
        import pandas as pd

        numbers = {c: parse_numbers(table.cells[c]) for c in NUMERIC_COLUMNS if c in table.cells}
        keyed = _row_checks(table, numbers, name)
        frame = _frame(table, numbers, pd)
        if not any(p.severity == "error" for _, p in keyed):
            keyed += _consistency_checks(frame, table, name, pd)
    keyed.sort(key=lambda kp: kp[0])
    problems = [p for _, p in keyed]
    if any(p.severity == "error" for p in problems):
        return None, problems
    return StudyTable(frame=frame, path=name,
                      warnings=[p for p in problems if p.severity != "error"]), problems


# --------------------------------------------------------------------------------------------
# numbers: one grammar for the validator and the loader

# An optional '-', digits with an optional decimal point and fraction (or a point and a
# fraction), an optional exponent; ASCII only ([0-9], not \d, which matches any script's digits).
_NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_INTEGER_RE = re.compile(r"-?[0-9]+")
NUMBER_GRAMMAR = ("a number is written with ASCII digits, an optional leading '-', an optional "
                  "decimal point and an optional exponent (12, -0.5, .25, 3.5e-4), without '+', "
                  "spaces, underscores or thousands separators")


def _why_not_a_number(text: str) -> str:
    """What is wrong with a cell that does not follow the grammar (for the error message)."""
    low = text.lower().lstrip("+-")
    if low in ("inf", "infinity", "nan", "na", "n/a", "none", "null"):
        return " (infinity and missing-value words are not numbers here)"
    if "_" in text:
        return " (underscores are not allowed)"
    if any(ch.isdigit() and not "0" <= ch <= "9" for ch in text):
        return " (it has non-ASCII digits; type 0-9)"
    if text.startswith("+"):
        return " (write it without the '+')"
    if "," in text and any("0" <= ch <= "9" for ch in text):
        return " (no thousands separators or decimal commas: write 1234.5)"
    if "%" in text:
        return " (write a percentage as a fraction: 0.31 for 31%)"
    if any(ch.isspace() for ch in text):
        return " (it has a space inside)"
    return ""


def _number_or_reason(text: str):
    """``(value, None)`` for a number by the grammar, ``(None, reason)`` otherwise."""
    m = _NUMBER_RE.fullmatch(text)
    if m is None:
        return None, f"is not a number{_why_not_a_number(text)}"
    value = float(text)
    if math.isinf(value):
        return None, "is not a number (too large: beyond 1.8e308, the largest float)"
    if value == 0.0 and any("1" <= ch <= "9" for ch in text.split("e")[0].split("E")[0]):
        return None, "is not a number (too small: it would be read as 0)"
    return value, None


def parse_number(text) -> float:
    """Read one cell of the study table as a number, by the table's one number grammar.

    An optional ``-``, ASCII digits with an optional decimal point and fraction, an optional
    exponent: ``12``, ``-0.5``, ``.25``, ``3.5e-4``. Refused: a leading ``+``, underscores
    (``0.5_9``), digits of other scripts (full-width ``０.５``), ``inf``/``nan`` and other words,
    thousands separators or decimal commas, inner spaces, and values that overflow a float
    (``1e400``) or underflow to 0 (``1e-400``). Surrounding whitespace is ignored. The validator
    and the loader (the table's ``frame``) both read numbers through :func:`parse_numbers`, which
    applies this grammar, so a cell is either a number for both or an error for both.

    Raises
    ------
    InputError
        Saying what is wrong and what a number looks like.

    Examples
    --------
    >>> parse_number("0.59"), parse_number("-1e-3"), parse_number(".5")
    (0.59, -0.001, 0.5)
    >>> parse_number("0.5_9")
    Traceback (most recent call last):
    ...
    metaanalysis.errors.InputError: '0.5_9' is not a number (underscores are not allowed); a number is written with ASCII digits, an optional leading '-', an optional decimal point and an optional exponent (12, -0.5, .25, 3.5e-4), without '+', spaces, underscores or thousands separators
    """
    text = str(text).strip()
    value, reason = _number_or_reason(text)
    if reason is not None:
        raise InputError(f"{text!r} {reason}; {NUMBER_GRAMMAR}")
    return value


def parse_numbers(cells):
    """Read a column of cells (stripped strings) by the grammar of :func:`parse_number`.

    Returns ``(values, invalid)``: ``values`` a float array (``nan`` for an empty or invalid
    cell) and ``invalid`` a dict from the position of each invalid cell to the reason.
    """
    cells = np.asarray(cells, dtype=object)
    values = np.full(len(cells), np.nan)
    invalid = {}
    if len(cells) == 0:
        return values, invalid
    present = np.flatnonzero(cells != "")
    if len(present) == 0:
        return values, invalid
    texts = cells[present].tolist()
    match = _NUMBER_RE.fullmatch
    # the common case in C loops: every present cell follows the grammar, none overflows
    if all(map(match, texts)):
        parsed = np.array(texts, dtype=float) if texts else np.empty(0)
        values[present] = parsed
        suspicious = np.flatnonzero(np.isinf(parsed) | (parsed == 0.0))
    else:
        suspicious = range(len(texts))
    for j in suspicious:
        value, reason = _number_or_reason(texts[j])
        if reason is None:
            values[present[j]] = value
        else:
            values[present[j]] = np.nan
            invalid[int(present[j])] = reason
    return values, invalid


def _half_unit(text):
    """Half a unit of the last printed digit of a number as written ("0.31" -> 0.005)."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except (InvalidOperation, AttributeError):
        return 0.0
    return 0.5 * 10.0 ** exponent if isinstance(exponent, int) else 0.0


def _half_units(texts):
    """:func:`_half_unit` of every cell (numbers by the grammar, or empty: 0)."""
    exponents = np.zeros(len(texts), dtype=np.int64)
    valid = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if "e" in text or "E" in text or not text:
            m = _NUMBER_RE.fullmatch(text)
            if m is None:
                continue
            fraction = m.group(1) if m.group(1) is not None else (m.group(2) or "")
            exponents[i] = int(m.group(3) or 0) - len(fraction)
        else:  # a number by the grammar (validated) without an exponent
            point = text.find(".")
            exponents[i] = 0 if point < 0 else point + 1 - len(text)
        valid[i] = True
    out = np.zeros(len(texts))
    # Python's float power, as _half_unit computes it (numpy's may differ in the last bit)
    for e in np.unique(exponents[valid]).tolist():
        try:
            half = 0.5 * 10.0 ** e
        except OverflowError:
            half = math.inf
        out[valid & (exponents == e)] = half
    return out


def _half_units_at(cells, rows, cache=None):
    """:func:`_half_units` of ``cells[rows]``, computed once per distinct text."""
    codes, uniques = _factorize(cells, cache)
    halves = np.concatenate([[0.0], _half_units(list(uniques))])
    return halves[codes[rows]]


# --------------------------------------------------------------------------------------------
# parsing


@dataclass(frozen=True, eq=False)
class _Columns:
    """The cells of a table as read: ``cells[column]`` an object array of stripped strings."""

    header: list
    lines: np.ndarray
    cells: dict
    # factorisations of arrays (by id, the array kept alive beside them) shared by the rules
    factorized: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.lines)

    def rows(self) -> list:
        """``[(line, {column: text})]``, the form :func:`_parse` returns."""
        columns = [self.cells[h].tolist() for h in self.header]
        return [(int(line), dict(zip(self.header, values)))
                for line, values in zip(self.lines.tolist(), zip(*columns))]

    @classmethod
    def from_rows(cls, rows, header):
        lines = np.array([line for line, _ in rows], dtype=np.int64)
        cells = {h: _object_array([r.get(h, "") for _, r in rows]) for h in header}
        return cls(list(header), lines, cells)


_BATCH = 16384


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _factorize(arr, cache=None):
    """``(codes, uniques)`` of an array, codes from 1 (0 for nan); memoised in ``cache``."""
    import pandas as pd

    key = id(arr)
    if cache is not None and key in cache:
        return cache[key][1:]
    codes, uniques = pd.factorize(arr)
    codes = codes.astype(np.int64) + 1
    if cache is not None:
        cache[key] = (arr, codes, uniques)
    return codes, uniques


# Lines end at \n, \r or \r\n, as io.StringIO(newline="") splits them for the csv module.
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# str.splitlines also ends lines at these; where none occurs it splits as io.StringIO does.
_OTHER_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


_CHUNK = 1 << 20


def _lines(source):
    """The lines of the text, with their endings, split at \n, \r and \r\n only.

    ``source`` is ``(bytes, start)`` of UTF-8 known to decode, or a str. The text is decoded and
    split a megabyte at a time (cut after a \n, so never inside a character or a \r\n), so
    that neither the whole text nor all its lines are held while the records are made.
    """
    data, pos = source if isinstance(source, tuple) else (source, 0)
    newline = b"\n" if isinstance(data, bytes) else "\n"
    while pos < len(data):
        cut = data.find(newline, pos + _CHUNK)
        end = len(data) if cut < 0 else cut + 1
        chunk = data[pos:end]
        if isinstance(chunk, bytes):
            chunk = chunk.decode("utf-8")
        if any(ch in chunk for ch in _OTHER_LINE_ENDS):
            yield from (m.group() for m in _LINE_RE.finditer(chunk))
        else:
            yield from chunk.splitlines(keepends=True)
        pos = end


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while millions of acyclic cells are made.

    Each collection walks every container alive; with a large table's rows alive that made
    reading several times slower. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode(data, name):
    """What :func:`_lines` reads (the bytes and where the text starts, or the str), or a list
    of problems when the data is not UTF-8 CSV text."""
    empty = [Problem(name, None, None, "the file is empty; expected a CSV with a header row "
                     "naming the columns of data/README.md")]
    if isinstance(data, str):
        start = len(data) - len(data.lstrip("\ufeff"))
        if start == len(data) or data.isspace():
            return empty
        return data[start:] if start else data
    if not data or data.isspace():
        return empty
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return [Problem(name, None, None, "is UTF-16 text; save the CSV as UTF-8")]
    if b"\x00" in data:
        return [Problem(name, None, None, "is a binary file (it holds NUL bytes), not a CSV text "
                        "file")]
    try:
        text = data.decode("utf-8")  # checked whole, then decoded again piece by piece
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [Problem(name, line, None, "is not UTF-8 text (byte "
                        f"0x{data[exc.start]:02x}); save the CSV as UTF-8")]
    start = len(text) - len(text.lstrip("\ufeff"))  # byte-order marks, 3 bytes each
    blank = text.isspace() or start == len(text) or text[start:].isspace()
    del text
    return empty if blank else (data, 3 * start)


def cut_off_message(exc: csv.Error) -> str:
    """What a csv error while reading a record means for the person who wrote the file."""
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        return (f"the record starting here has a cell longer than {limit:,} characters, the "
                "limit of a cell: an unterminated quote (which makes the rest of the file one "
                "cell) or text too long for a study table; close the quote or shorten the cell")
    return f"the record starting here is cut off: {exc} (an unterminated quote?)"


def _read_columns(data, name):
    """Decode and split the CSV into columns; returns a :class:`_Columns` or a list of problems.

    A record's line is the line on which it starts (a quoted field may span lines).
    """
    source = _decode(data, name)
    if isinstance(source, list):
        return source
    reader = csv.reader(_lines(source), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        return [Problem(name, 1, None, cut_off_message(exc))]
    header = [h.strip() for h in header]
    header_line = 1
    problems = []
    if len(header) < 2 and not any("," in h for h in header):
        problems.append(Problem(name, header_line, None, "the header has a single column: is "
                                "the file comma-separated?"))
    problems += header_problems(name, header_line, header)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(Problem(name, header_line, None, "missing required column(s): "
                                + ", ".join(missing) + "; the header must name all of: "
                                + ", ".join(REQUIRED_COLUMNS)))
    import pandas as pd

    width = len(header)
    batch, lines, row_problems, parts = [], [], [], []

    def flush():
        # a batch of records into columns of stripped cells, each as the codes of its distinct
        # values (a table repeats its sources, notes and codes on many rows: one object each)
        if batch:
            parts.append([pd.factorize(np.fromiter(map(str.strip, cells), dtype=object,
                                                   count=len(batch)))
                          for cells in zip(*batch)])
            batch.clear()

    start = reader.line_num + 1
    try:
        for record in reader:
            if len(record) == width:
                if not problems:
                    batch.append(record)  # blank records are dropped below, column-wise
                    lines.append(start)
                    if len(batch) == _BATCH:
                        flush()
            elif record and any(c.strip() for c in record):
                row_problems.append(Problem(name, start, None, f"has {len(record)} fields but "
                                            f"the header has {width}; a comma inside a field "
                                            "needs quotes"))
            start = reader.line_num + 1
    except csv.Error as exc:
        return [Problem(name, start, None, cut_off_message(exc))]
    if problems or row_problems:
        return problems or row_problems
    flush()
    if not parts:
        return [Problem(name, None, None, "has a header but no data rows")]
    # the batches' codes into codes of the whole column: only the distinct values of each batch
    # are compared across batches
    columns, codes_of = [], []
    for j in range(width):
        uniques = np.concatenate([part[j][1] for part in parts])
        merged, values = pd.factorize(uniques)
        offsets = np.cumsum([0] + [len(part[j][1]) for part in parts[:-1]])
        codes = np.concatenate([merged[offset + part[j][0]]
                                for offset, part in zip(offsets, parts)])
        columns.append(values[codes])
        codes_of.append((codes.astype(np.int64) + 1, values))
    del parts
    lines = np.array(lines, dtype=np.int64)
    blank = np.ones(len(lines), dtype=bool)
    for column in columns:
        blank &= column == ""
        if not blank.any():
            break
    if blank.any():
        keep = ~blank
        lines = lines[keep]
        columns = [column[keep] for column in columns]
        codes_of = [(codes[keep], values) for codes, values in codes_of]  # codes need not be dense
    if not len(lines):
        return [Problem(name, None, None, "has a header but no data rows")]
    factorized = {id(column): (column, codes, values)
                  for column, (codes, values) in zip(columns, codes_of)}
    return _Columns(header, lines, dict(zip(header, columns)), factorized)


def _parse(data, name):
    """Decode and split the CSV; returns (rows, header, problems) with rows None on a fatal error.

    Each row is ``(line, {column: text})`` where ``line`` is the line on which the record starts.
    """
    table = _read_columns(data, name)
    if isinstance(table, list):
        return None, None, table
    return table.rows(), table.header, []


# --------------------------------------------------------------------------------------------
# row checks (vectorised: one pass per rule over whole columns)

# Problems are sorted by (line, error before warning, rule, sub-order): the rule numbers below
# keep, within a line, the order in which the rules are listed (and were once applied row by row).
_R_DUPLICATE, _R_NUMBER, _R_EMPTY, _R_DESIGN, _R_MEASURE, _R_STATUS, _R_UNIT = 0, 1, 20, 30, 31, 32, 33
_R_TIME_UNIT, _R_TIME_POINT, _R_YEAR, _R_VALUE_EMPTY, _R_NOT_REACHED = 34, 35, 36, 37, 38
_R_LEVEL, _R_LEVEL_MISSING, _R_INTERVAL, _R_POSITIVE, _R_FRACTION = 39, 40, 41, 44, 50
_R_COUNT, _R_COUNT_VALUE, _R_NUM_DEN, _R_DEN_ZERO, _R_DEGENERATE = 56, 60, 61, 62, 63
_R_OUTCOME = 21  # beside the empty-outcome rule (_R_EMPTY + 1)
_R_FORMULA = 70
# A text cell starting with one of these is run as a formula by a spreadsheet that opens the table
# ('=HYPERLINK(...)', '@SUM(...)'); '+' and '-' start ordinary notes too often to warn of.
_FORMULA_STARTS = ("=", "@")
_C_PROPORTION, _C_ASYMMETRY, _C_SUMS, _C_MEDIANS, _C_YEARS, _C_QUANTITY = 100, 101, 102, 103, 104, 105
# An interval whose width is at most this fraction of its larger bound is degenerate: no trial
# reports one so narrow (a hazard ratio would need some 10^11 events), and its standard error
# (its width over 2 z) breaks the weighting downstream.
DEGENERATE_INTERVAL_WIDTH = 1e-4


def _check_rows(rows, header, name):
    """Errors and warnings of single rows (``rows`` as :func:`_parse` returns them)."""
    table = _Columns.from_rows(rows, header)
    numbers = {c: parse_numbers(table.cells[c]) for c in NUMERIC_COLUMNS if c in table.cells}
    keyed = _row_checks(table, numbers, name)
    keyed.sort(key=lambda kp: (kp[0][0], kp[0][2], kp[0][3]))  # row by row, rule by rule
    return [p for _, p in keyed]


def _ids(*arrays, cache=None):
    """Dense ids of the distinct combinations of the arrays' values (nan equal to nan)."""
    import pandas as pd

    out = np.zeros(len(arrays[0]), dtype=np.int64)
    for k, arr in enumerate(arrays):
        codes = _factorize(arr, cache)[0]
        if k == 0:
            out = codes
            continue
        out = pd.factorize(out * (int(codes.max(initial=0)) + 1) + codes)[0].astype(np.int64)
    return out


def _first_duplicate(arrays, cache=None):
    """For each position, the first position whose values equal its own in every array.

    The rows still alike after each array are narrowed down, so that long text columns are
    compared only among rows equal in every other column so far (usually none).
    """
    import pandas as pd

    n = len(arrays[0])
    first = np.arange(n)
    rows = np.arange(n)
    ids = np.zeros(n, dtype=np.int64)
    for arr in arrays:
        if cache is not None and id(arr) in cache or len(rows) == n:
            codes = _factorize(arr, cache)[0][rows]
        else:
            codes = pd.factorize(arr[rows])[0].astype(np.int64) + 1
        ids = pd.factorize(ids * (int(codes.max(initial=0)) + 1) + codes)[0].astype(np.int64)
        alike = np.bincount(ids)[ids] > 1
        rows, ids = rows[alike], ids[alike]
        if not len(rows):
            return first
    first[rows] = rows[_first_index(ids)]
    return first


def _compared(column, cells, numbers):
    """The arrays by which two rows' ``column`` is compared for duplicates: the text, or for a
    number column the values (``nan`` when empty or invalid) and, where a cell is not a number,
    its text (so that two different invalid cells are not equal)."""
    if column not in numbers:
        return [cells[column]]
    values, invalid = numbers[column]
    if not invalid:
        return [values]
    texts = _object_array([""] * len(values))
    at = np.fromiter(invalid, dtype=np.int64, count=len(invalid))
    texts[at] = cells[column][at]
    return [values, texts]


def _how_duplicated(columns, mine, theirs) -> str:
    """How a row duplicates another (``mine``, ``theirs``: their cells by column): " exactly"
    when every cell reads alike, else the cells whose numbers are written differently, as
    " (the same numbers written differently: value 10.80 here, 10.8 there)"."""
    differ = [f"{c} {mine.get(c, '')} here, {theirs.get(c, '')} there" for c in columns
              if mine.get(c, "") != theirs.get(c, "")]
    if not differ:
        return " exactly"
    return " (the same numbers written differently: " + "; ".join(differ) + ")"


def _first_index(ids):
    """For each position, the position of the first element with the same id."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def _row_checks(table, numbers, name):
    """Every rule of a single row, as ``[((line, severity, rule, sub), Problem)]``."""
    cells, lines, header = table.cells, table.lines, table.header
    n = len(table)
    out = []

    def add(rows, column, messages, rule, severity="error", sub=None):
        for j, (i, message) in enumerate(zip(rows, messages)):
            line = int(lines[i])
            out.append(((line, severity != "error", rule, 0 if sub is None else sub[j]),
                        Problem(name, line, column, message, severity)))

    def where(mask):
        return np.flatnonzero(mask)

    def text(column):
        return cells[column] if column in cells else _object_array([""] * n)

    # duplicates: every cell equal to an earlier row's, numbers compared as numbers (10.8, 10.80
    # and 1.08e1 are one value); the columns that tell rows apart soonest first, so that few rows
    # are left to compare by their long text columns
    cache = table.factorized
    soon = [c for c in _QUANTITY_KEY + ("value",) if c in cells]
    order = soon + [h for h in header if h not in soon]
    first = _first_duplicate([a for h in order for a in _compared(h, cells, numbers)], cache)
    dup = where(first != np.arange(n))
    add(dup, None, [f"duplicates line {lines[first[i]]}"
                    + _how_duplicated(order, {c: cells[c][i] for c in order},
                                      {c: cells[c][first[i]] for c in order})
                    + "; delete one of them" for i in dup], _R_DUPLICATE)

    nums = {}
    for k, c in enumerate(c for c in NUMERIC_COLUMNS if c in numbers):
        values, invalid = numbers[c]
        bad = sorted(invalid)
        add(bad, c, [f"{cells[c][i]!r} {invalid[i]}; {NUMBER_GRAMMAR}; leave the cell empty when "
                     "the source does not report it and say so in notes" for i in bad],
            _R_NUMBER + k)
        if c in INTEGER_COLUMNS:
            with np.errstate(invalid="ignore"):
                frac = where(np.isfinite(values) & (values != np.trunc(values)))
            add(frac, c, [f"{cells[c][i]} must be a whole number" for i in frac], _R_NUMBER + k)
        nums[c] = values
    nan = np.full(n, np.nan)
    for c in NUMERIC_COLUMNS:
        nums.setdefault(c, nan)

    for k, c in enumerate(("study_id", "outcome", "measure", "source", "design")):
        empty = where(cells[c] == "")
        add(empty, c, ["is empty; every row needs a " + c] * len(empty), _R_EMPTY + k)

    # a contrast compares a therapy with its comparator: without either the row would be pooled
    # under an unnamed therapy (an analysis "all", a network node without a name)
    contrast = _isin(cells["measure"], RATIO_MEASURES, cache)
    for k, c in enumerate(("therapy", "comparator"), start=5):
        empty = where(contrast & (cells[c] == ""))
        add(empty, c, [f"is empty; a {cells['measure'][i]} row compares a therapy with its "
                       "comparator and names both" for i in empty], _R_EMPTY + k)

    outcome = cells["outcome"]
    codes, uniques = _factorize(outcome, cache)
    verdicts = [None] + [_outcome_problem(u) for u in uniques]
    for severity in ("error", "warning"):
        hit = np.array([v is not None and v[0] == severity for v in verdicts], dtype=bool)
        bad = where(hit[codes])
        add(bad, "outcome", [verdicts[codes[i]][1] for i in bad], _R_OUTCOME, severity)

    design = cells["design"]
    bad = where((design != "") & ~_isin(design, DESIGNS, cache))
    add(bad, "design", [f"{design[i]!r} is not a design; use one of {', '.join(DESIGNS)}"
                        for i in bad], _R_DESIGN)
    measure = cells["measure"]
    bad = where((measure != "") & ~_isin(measure, MEASURES, cache))
    add(bad, "measure", [f"{measure[i]!r} is not a measure; use one of {', '.join(MEASURES)}"
                         for i in bad], _R_MEASURE)
    status = text("status").copy()
    status[status == ""] = "reported"
    bad = where(~_isin(status, STATUSES, cache))
    add(bad, "status", [f"{status[i]!r} is not a status; use one of {', '.join(STATUSES)}"
                        for i in bad], _R_STATUS)
    unit = cells["unit"]
    bad = where((unit != "") & ~_isin(unit, TIME_UNITS_IN_MONTHS, cache))
    add(bad, "unit", [f"{unit[i]!r} is not a time unit; use one of "
                      + ", ".join(TIME_UNITS_IN_MONTHS) for i in bad], _R_UNIT)
    timed = _isin(measure, TIME_MEASURES, cache) & (unit == "")
    if timed.any():
        timed &= ~np.array([o.startswith(("AE", "DOSE")) for o in outcome], dtype=bool)
    bad = where(timed)
    add(bad, "unit", [f"a {measure[i]} time needs a unit ({', '.join(TIME_UNITS_IN_MONTHS)})"
                      for i in bad], _R_TIME_UNIT)
    if "time_point" in header:
        bad = where((measure == "rate") & np.isnan(nums["time_point"]))
        add(bad, "time_point", ["a landmark rate needs the time it refers to (time_point, unit)"]
            * len(bad), _R_TIME_POINT)
    year = nums["year"]
    with np.errstate(invalid="ignore"):
        bad = where(~np.isnan(year) & ~((1900 <= year) & (year <= 2100)))
    add(bad, "year", [f"{year[i]:g} is not a plausible publication year" for i in bad], _R_YEAR)
    missing = where(cells["year"] == "")
    add(missing, "year", ["is empty: no publication year; say in notes why (results not yet "
                          "published?)"] * len(missing), _R_YEAR, "warning")

    value, lo, hi, level = nums["value"], nums["ci_low"], nums["ci_high"], nums["ci_level"]
    value_text = cells["value"]
    not_reached = status == "not_reached"
    bad = where((value_text == "") & ~not_reached)
    add(bad, "value", ["is empty; a number the source does not report stays out of the table "
                       "(use status=not_reached for a median not reached)"] * len(bad),
        _R_VALUE_EMPTY)
    bad = where(not_reached & (value_text != ""))
    add(bad, "value", ["must be empty when status is not_reached"] * len(bad), _R_NOT_REACHED)
    with np.errstate(invalid="ignore"):
        bad = where(~np.isnan(level) & ~((0.5 < level) & (level < 1)))
    add(bad, "ci_level", [f"{level[i]:g} is outside (0.5, 1): give the level as a fraction such "
                          "as 0.95" + (f"; write {level[i] / 100:g}" if 50 < level[i] < 100 else "")
                          for i in bad], _R_LEVEL)
    bad = where((~np.isnan(lo) | ~np.isnan(hi)) & (cells["ci_level"] == ""))
    add(bad, "ci_level", ["an interval needs its level (0.95, 0.99, ...); intervals are not all "
                          "95%"] * len(bad), _R_LEVEL_MISSING)
    with np.errstate(invalid="ignore"):
        reversed_ = lo > hi
        below = ~reversed_ & (value < lo)
        above = ~reversed_ & (value > hi)
    bad = where(reversed_)
    add(bad, "ci_low", [f"the interval is reversed ({lo[i]:g} > {hi[i]:g})" for i in bad],
        _R_INTERVAL)
    bad = where(below)
    add(bad, "value", [f"{value[i]:g} lies below its interval's lower bound {lo[i]:g}"
                       for i in bad], _R_INTERVAL + 1)
    bad = where(above)
    add(bad, "value", [f"{value[i]:g} lies above its interval's upper bound {hi[i]:g}"
                       for i in bad], _R_INTERVAL + 2)

    positive = _isin(measure, RATIO_MEASURES + TIME_MEASURES[:2], cache)
    time_measure = _isin(measure, TIME_MEASURES, cache)
    for k, (c, v) in enumerate((("value", value), ("ci_low", lo), ("ci_high", hi))):
        with np.errstate(invalid="ignore"):
            mask = positive & (v <= 0)
        if c == "ci_low":
            mask &= ~time_measure
        bad = where(mask)
        add(bad, c, [f"a {measure[i]} must be positive, got {v[i]:g}" for i in bad],
            _R_POSITIVE + k)
    fraction = _isin(measure, ("proportion", "rate"), cache)
    for k, (c, v) in enumerate((("value", value), ("ci_low", lo), ("ci_high", hi))):
        with np.errstate(invalid="ignore"):
            bad = where(fraction & ~np.isnan(v) & ~((0 <= v) & (v <= 1)))
        add(bad, c, [f"a {measure[i]} is a fraction in [0, 1], got {v[i]:g}"
                     + (f" (write {v[i] / 100:g} for {v[i]:g}%)" if 1 < v[i] <= 100 else "")
                     for i in bad], _R_FRACTION + k)
    num, den, size = nums["numerator"], nums["denominator"], nums["n"]
    for k, (c, v) in enumerate((("numerator", num), ("denominator", den), ("n", size))):
        with np.errstate(invalid="ignore"):
            bad = where(v < 0)
        add(bad, c, [f"a count cannot be negative, got {v[i]:g}" for i in bad], _R_COUNT + k)
    with np.errstate(invalid="ignore"):
        bad = where((measure == "count") & (value < 0))
        add(bad, "value", [f"a count cannot be negative, got {value[i]:g}" for i in bad],
            _R_COUNT_VALUE)
        bad = where((measure == "count") & np.isfinite(value) & (value != np.trunc(value)))
        add(bad, "value", [f"a count must be a whole number, got {value_text[i]}; a mean or a "
                           "rate is not a count (measure mean, rate or proportion)" for i in bad],
            _R_COUNT_VALUE, sub=[1] * len(bad))
        bad = where(num > den)
        add(bad, "numerator", [f"{num[i]:g} exceeds the denominator {den[i]:g}" for i in bad],
            _R_NUM_DEN)
        bad = where(den == 0)
        add(bad, "denominator", ["is zero"] * len(bad), _R_DEN_ZERO)
        # a zero-width or degenerate interval (its SE would be 0 or nearly so)
        width = hi - lo
        degenerate = ~reversed_ & (width <= DEGENERATE_INTERVAL_WIDTH
                                   * np.maximum(np.abs(lo), np.abs(hi)))
        # except the Wald interval of 0/n or n/n, printed as 0-0 or 1-1 by some papers: the
        # analysis of a proportion uses its counts, never its interval
        degenerate &= ~(fraction & (lo == hi) & (value == lo) & ((lo == 0) | (lo == 1)))
    bad = where(degenerate)
    low_text, high_text = cells["ci_low"], cells["ci_high"]
    add(bad, "ci_high", [
        (f"the interval {low_text[i]}-{high_text[i]} has zero width" if width[i] == 0 else
         f"the interval {low_text[i]}-{high_text[i]} is degenerate: its width {width[i]:.2g} is "
         f"at most {100 * DEGENERATE_INTERVAL_WIDTH:g}% of its bounds, narrower than any study "
         "reports (a transcription error?)")
        + "; ci_high must lie clearly above ci_low (as in 0.59 with 0.45-0.77); leave both "
        "bounds empty when the source prints no interval, and say so in notes"
        for i in bad], _R_DEGENERATE)

    # text cells a spreadsheet would run (the number columns refuse a leading '=' already)
    for k, c in enumerate(h for h in header if h and h not in NUMERIC_COLUMNS):
        codes, uniques = _factorize(cells[c], cache)
        starts = np.array([str(u).startswith(_FORMULA_STARTS) for u in uniques], dtype=bool)
        if not starts.any():
            continue
        bad = where(starts[codes - 1])
        add(bad, c, [f"starts with {cells[c][i][0]!r}: a spreadsheet that opens the table runs "
                     "the cell as a formula; reword it to begin with a word"
                     for i in bad], _R_FORMULA, "warning", sub=[k] * len(bad))
    return out


def _outcome_problem(code):
    """``(severity, message)`` for an outcome code outside the vocabulary, or None.

    A code that is a known one in another case, or a known namespace with nothing after its
    colon, is an error (it is certainly a slip, and it would drop out of every analysis); any
    other unknown code is a warning, as another review may need outcomes of its own (DFS, QoL).
    """
    if code == "" or code in OUTCOME_CODES:
        return None
    space, colon, detail = code.partition(":")
    if colon:
        if space.upper() in OUTCOME_NAMESPACES and not detail.strip():
            ns = space.upper()
            return ("error", f"{code!r} names no detail after {ns + ':'!r} (as in "
                             f"{ns}:hypertension or {ns}:G3+); see data/README.md")
        if space in OUTCOME_NAMESPACES:
            return None
        if space.upper() in OUTCOME_NAMESPACES:
            return ("error", f"{code!r} is not an outcome code; write "
                             f"{space.upper() + ':' + detail!r} (codes are case-sensitive)")
    elif code.upper() in OUTCOME_CODES or code.strip().upper() in OUTCOME_CODES:
        return ("error", f"{code!r} is not an outcome code; write {code.strip().upper()!r} "
                         "(codes are case-sensitive)")
    return ("warning", f"{code!r} is not among the outcome codes of data/README.md ("
                       + ", ".join(OUTCOME_CODES) + ", or one of the namespaces "
                       + ", ".join(n + ":" for n in OUTCOME_NAMESPACES)
                       + "); no analysis of the shipped protocol uses it: document it in the "
                       "table's README if it is a new outcome, or correct it")


def _isin(arr, values, cache=None):
    """Elementwise ``x in values`` for an object array of strings."""
    codes, uniques = _factorize(arr, cache)
    values = set(values)
    member = np.array([False] + [u in values for u in uniques], dtype=bool)
    return member[codes]


def _frame(table, numbers, pd):
    """The table as a DataFrame: numbers as parsed by :func:`parse_numbers`, text as written.

    A numeric column whose every cell is a plain integer is int64 (as ``pandas.to_numeric`` made
    it before); any other numeric column is float64, with NaN for an empty cell.
    """
    data = {}
    for h in table.header:
        if h in numbers:
            values = numbers[h][0]
            texts = table.cells[h]
            if (not numbers[h][1] and not np.isnan(values).any()
                    and all(map(_INTEGER_RE.fullmatch, texts.tolist()))
                    and np.all(np.abs(values) < 2.0 ** 63)):
                values = np.array([int(t) for t in texts.tolist()], dtype=np.int64)
            data[h] = values
        else:
            data[h] = table.cells[h]
    data.pop("line", None)
    data["line"] = table.lines
    n = len(table)
    for c in ("status", "data_cut", "population", "assessor"):
        if c not in data:
            data[c] = _object_array([""] * n)
    status = data["status"] = data["status"].copy()
    status[status == ""] = "reported"
    if "time_point" not in data:
        data["time_point"] = np.full(n, np.nan)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------
# consistency checks (warnings)


def _consistency_checks(frame, table, name, pd):
    """Warnings across rows, as ``[((line, severity, rule, sub), Problem)]``.

    ``table`` holds the cells as written (for the printed precision of a number).
    """
    out = []

    def warn(line, column, message, rule, sub=0):
        line = int(line)
        out.append(((line, True, rule, sub), Problem(name, line, column, message, "warning")))

    cache = table.factorized

    def col(c):
        # text columns as read (their factorisations are shared with the row checks); the
        # frame's own for numbers and for the columns it adds or fills
        if c in table.cells and c not in NUMERIC_COLUMNS and c != "status":
            return table.cells[c]
        return frame[c].to_numpy()

    def fcol(c):
        return frame[c].to_numpy(dtype=float)

    lines = col("line")
    measure, outcome, status = col("measure"), col("outcome"), col("status")
    value, num, den_col, size = fcol("value"), fcol("numerator"), fcol("denominator"), fcol("n")
    lo, hi = fcol("ci_low"), fcol("ci_high")
    value_text = table.cells["value"]

    # A percentage that disagrees with its counts, and which denominator would make it agree.
    has_den = ~np.isnan(den_col)
    den = np.where(has_den, den_col, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.flatnonzero((measure == "proportion") & ~np.isnan(num) & ~np.isnan(value)
                              & (den > 0))
        tol = _half_units_at(value_text, rows, cache) + 1e-9
        off = np.abs(value[rows] - num[rows] / den[rows]) > tol
    for i, t in zip(rows[off], tol[off]):
        v, k, d = float(value[i]), float(num[i]), float(den[i])
        fit = _fitting_denominator(v, k, d, float(t))
        hint = (f"; a denominator of {fit} would make it agree (evaluable patients?)"
                if fit is not None else "")
        warn(lines[i], "value", f"{v:g} disagrees with {k:g}/{d:g} = {k / d:.4f} "
             f"({'denominator' if has_den[i] else 'n'}){hint}", _C_PROPORTION)

    # A denominator above the arm's size: a safety population can exceed the randomised by a
    # few patients (as printed by Leboulleux 2012), a typo by far more.
    with np.errstate(invalid="ignore"):
        over = np.flatnonzero(has_den & (den_col > size))
    for i in over:
        warn(lines[i], "denominator", f"{den_col[i]:g} is more than the arm's n ({size[i]:g}): "
             "the proportion's population is larger than the arm; check both (n of another data "
             "cut? patients crossed over into this arm?)", _C_PROPORTION, sub=1)

    # A ratio with one bound of its interval: its standard error comes from that bound alone.
    with np.errstate(invalid="ignore"):
        one = np.flatnonzero(_isin(measure, RATIO_MEASURES, cache) & (np.isnan(lo) != np.isnan(hi))
                             & ~np.isnan(value))
    for i in one:
        missing = "ci_high" if np.isnan(hi[i]) else "ci_low"
        warn(lines[i], missing, f"is empty while {'ci_low' if missing == 'ci_high' else 'ci_high'}"
             " is given: the ratio's standard error comes from the one bound alone (taken as "
             "symmetric on the log scale); if the source prints no such bound (not estimable), "
             "say so in notes", _C_ASYMMETRY, sub=1)

    # A median bound implausibly far from the median (a slipped decimal point?).
    with np.errstate(invalid="ignore", divide="ignore"):
        med = (measure == "median") & (value > 0)
        far_hi = med & (hi > MEDIAN_BOUND_FACTOR * value)
        far_lo = med & (lo > 0) & (lo < value / MEDIAN_BOUND_FACTOR)
    for i in np.flatnonzero(far_hi | far_lo):
        column, bound = ("ci_high", hi[i]) if far_hi[i] else ("ci_low", lo[i])
        warn(lines[i], column, f"the bound {bound:g} is more than {MEDIAN_BOUND_FACTOR:g} times "
             f"{'the median' if far_hi[i] else 'smaller than the median'} {value[i]:g}; a "
             "slipped decimal point or a bound in another unit?", _C_ASYMMETRY)

    # A ratio interval asymmetric on the log scale beyond the printed rounding.
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero(_isin(measure, RATIO_MEASURES, cache)
                              & (value > 0) & (lo > 0) & (hi > 0) & (lo <= value) & (value <= hi))
    if len(rows):
        texts = {c: table.cells[c][rows].tolist() for c in ("value", "ci_low", "ci_high")}
        halves = [_half_units_at(table.cells[c], rows, cache) for c in ("value", "ci_low",
                                                                         "ci_high")]
        best = _log_asymmetries(value[rows], lo[rows], hi[rows], *halves)
        # the vectorised logs may differ from math.log in the last bit: near the threshold, the
        # row-by-row computation decides
        for j in np.flatnonzero(best > LOG_ASYMMETRY_TOLERANCE - 1e-9):
            i = rows[j]
            raw = {c: texts[c][j] for c in texts}
            a = _log_asymmetry(float(value[i]), float(lo[i]), float(hi[i]), raw)
            if a > LOG_ASYMMETRY_TOLERANCE:
                warn(lines[i], "ci_high", f"the interval {lo[i]:g}-{hi[i]:g} around {value[i]:g} "
                     f"is asymmetric on the log scale ({100 * a:.0f}% beyond rounding); a "
                     "transcription error, or an interval symmetric on another scale?",
                     _C_ASYMMETRY)

    # Sum checks: ORR = CR + PR and DCR = ORR + SD within one arm, cut, population and assessor.
    group = _ids(*(col(c) for c in ("study_id", "arm", "data_cut", "population", "assessor")),
                 cache=cache)
    responses = _isin(outcome, ("ORR", "DCR", "CR", "PR", "SD"), cache) & (status == "reported")
    if responses.any():
        _sum_checks(warn, group, responses, outcome, measure, value, num, lines, value_text,
                    cache)

    # Median PFS should not exceed median OS in the same arm.
    population = col("population")
    months = np.array([TIME_UNITS_IN_MONTHS.get(u, math.nan) for u in col("unit")], dtype=float)
    medians = ((measure == "median") & _isin(outcome, ("PFS", "OS"), cache) & ~np.isnan(value)
               & _isin(population, ("", "itt"), cache))
    if medians.any():
        arm_group = _ids(col("study_id"), col("arm"), cache=cache)
        pfs = np.flatnonzero(medians & (outcome == "PFS"))
        os_ = np.flatnonzero(medians & (outcome == "OS"))
        pairs = pd.merge(pd.DataFrame({"g": arm_group[pfs], "p": pfs}),
                         pd.DataFrame({"g": arm_group[os_], "o": os_}), on="g")
        pairs = pairs.sort_values(["p", "o"], kind="stable")
        p, o = pairs["p"].to_numpy(), pairs["o"].to_numpy()
        pm, om = value[p] * months[p], value[o] * months[o]
        with np.errstate(invalid="ignore"):
            longer = pm > om
        for i, j, a, b in zip(p[longer], o[longer], pm[longer], om[longer]):
            warn(lines[i], "value", f"median PFS {a:.3g} months exceeds median OS {b:.3g} "
                 f"months (line {lines[j]}) in the same arm", _C_MEDIANS, int(j))

    # One study, one year (two publications of a trial should be explained in notes).
    year = fcol("year")
    dated = np.flatnonzero(~np.isnan(year))
    if len(dated):
        study_id = col("study_id")
        study = _ids(study_id, cache=cache)
        years = year[dated].astype(np.int64)
        first = np.unique(_ids(study[dated], years), return_index=True)[1]  # first row per year
        first_rows = dated[first]
        per_study = np.bincount(study[first_rows], minlength=int(study.max()) + 1)
        several = first_rows[per_study[study[first_rows]] > 1]
        if len(several):
            order = np.lexsort((year[several], study[several]))
            several = several[order]
            for s in np.unique(study[several]):
                rows_s = several[study[several] == s]
                ys = [int(y) for y in year[rows_s]]
                listed = ", ".join(map(str, ys))
                for i in rows_s[1:]:
                    warn(lines[i], "year", f"study {study_id[i]} has rows from {len(ys)} "
                         f"different years ({listed}): two publications or data cuts?", _C_YEARS)

    # Two rows reporting different values for the same quantity.
    quantity = _ids(*(col(c) for c in _QUANTITY_KEY), cache=cache)
    counts = np.bincount(quantity)
    rows = np.flatnonzero((counts[quantity] > 1) & ~np.isnan(value))
    if len(rows):
        g = pd.Series(value[rows]).groupby(quantity[rows])
        distinct = g.transform("nunique").to_numpy()
        first = _first_index(quantity[rows])
        for j in np.flatnonzero((distinct > 1) & (first != np.arange(len(rows)))):
            warn(lines[rows[j]], "value", f"reports the same quantity as line "
                 f"{lines[rows[first[j]]]} with a different value; set data_cut, population or "
                 "assessor to tell them apart", _C_QUANTITY)
    return out


def _sum_checks(warn, group, responses, outcome, measure, value, num, lines, value_text,
                cache=None):
    """ORR = CR + PR and DCR = ORR + SD, on counts when all three have one, else on proportions.

    Per group and outcome, the count is the first row's count (a ``count`` row's value or a
    proportion's numerator) and the proportion the first proportion row's value.
    """
    n_groups = int(group.max()) + 1
    is_prop = measure == "proportion"
    with np.errstate(invalid="ignore"):
        count_ok = responses & (((measure == "count") & ~np.isnan(value))
                                | (is_prop & ~np.isnan(num)))
        prop_ok = responses & is_prop & ~np.isnan(value)
    amounts = {"count": np.where(measure == "count", value, num), "proportion": value}
    tols = {"count": np.zeros(len(value)), "proportion": np.zeros(len(value))}
    prop_rows = np.flatnonzero(prop_ok)
    tols["proportion"][prop_rows] = _half_units_at(value_text, prop_rows, cache)

    def first_row(ok, o):
        """Per group, the first row with outcome ``o`` among ``ok`` (-1 where none)."""
        rows = np.flatnonzero(ok & (outcome == o))
        groups, first = np.unique(group[rows], return_index=True)
        out = np.full(n_groups, -1)
        out[groups] = rows[first]
        return out

    firsts = {kind: {o: first_row(ok, o) for o in ("ORR", "DCR", "CR", "PR", "SD")}
              for kind, ok in (("count", count_ok), ("proportion", prop_ok))}
    for total, parts in (("ORR", ("CR", "PR")), ("DCR", ("ORR", "SD"))):
        taken = np.zeros(n_groups, dtype=bool)
        for kind in ("count", "proportion"):
            t, p, q = (firsts[kind][o] for o in (total, *parts))
            use = ~taken & (t >= 0) & (p >= 0) & (q >= 0)
            taken |= use
            t, p, q = t[use], p[use], q[use]
            amount, tol = amounts[kind], tols[kind]
            # the sums in the order the row-by-row check added them (float addition is not
            # associative): 0 + part + part, and the total's tolerance + (0 + tol + tol)
            t_val, s_val = amount[t], (0.0 + amount[p]) + amount[q]
            s_tol = tol[t] + ((0.0 + tol[p]) + tol[q])
            bad = np.abs(t_val - s_val) > s_tol + 1e-9
            for row, a, b in zip(t[bad], t_val[bad], s_val[bad]):
                warn(lines[row], "value", f"{total} {a:g} differs from {' + '.join(parts)} = "
                     f"{b:g} ({'counts' if kind == 'count' else 'proportions'})", _C_SUMS)


def _fitting_denominator(value, numerator, denominator, tol):
    """The whole denominator nearest ``denominator`` for which ``numerator / d`` rounds to
    ``value`` (within ``tol``), searched from ``numerator`` to ``2 * denominator + 1``; None if
    there is none. The fitting denominators form one run, found from its ends without a loop over
    every candidate (a denominator of 10^9 once took minutes)."""
    start, stop = max(int(numerator), 1), int(2 * denominator) + 1

    def fits(d):
        return abs(value - numerator / d) <= tol

    if start > stop:
        return None
    if numerator == 0:
        if not fits(start):
            return None
        low, high = start, stop
    else:
        # numerator / d falls as d grows: the run is [numerator / (value + tol), numerator /
        # (value - tol)]; the float bounds are within a unit, the exact test decides near them
        if value + tol <= 0:
            return None
        guess = max(start, min(stop, math.ceil(numerator / (value + tol))))
        low = next((d for d in range(max(start, guess - 3), min(stop, guess + 3) + 1) if fits(d)),
                   None)
        if low is None:
            return None
        guess = stop if value - tol <= 0 else max(start, min(stop, math.floor(
            numerator / (value - tol))))
        high = next((d for d in range(min(stop, guess + 3), max(low, guess - 3) - 1, -1)
                     if fits(d)), low)
    candidates = {low, high} | {d for d in (math.floor(denominator), math.ceil(denominator))
                                if low <= d <= high}
    return min(candidates, key=lambda d: (abs(d - denominator), d))


def _log_asymmetries(value, lo, hi, hv, hl, hh):
    """:func:`_log_asymmetry` of many rows at once (numpy logs)."""
    best = np.full(len(value), np.inf)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for dv in (-1.0, 0.0, 1.0):
            for dl in (-1.0, 0.0, 1.0):
                for dh in (-1.0, 0.0, 1.0):
                    v, low, high = value + dv * hv, lo + dl * hl, hi + dh * hh
                    ok = (low > 0) & (low < v) & (v < high)
                    a, b = np.log(v / low), np.log(high / v)
                    r = np.abs(a - b) / np.maximum(a, b)
                    best = np.where(ok & (r < best), r, best)
    return np.where(np.isinf(best), 0.0, best)


def _log_asymmetry(value, lo, hi, raw_row):
    """Smallest relative difference of the log half-widths over the printed numbers' rounding."""
    hv, hl, hh = (_half_unit(raw_row[c]) for c in ("value", "ci_low", "ci_high"))
    best = math.inf
    for dv in (-hv, 0.0, hv):
        for dl in (-hl, 0.0, hl):
            for dh in (-hh, 0.0, hh):
                v, l, h = value + dv, lo + dl, hi + dh
                if l <= 0 or not l < v < h:
                    continue
                a, b = math.log(v / l), math.log(h / v)
                best = min(best, abs(a - b) / max(a, b))
    return 0.0 if best is math.inf else best


# --------------------------------------------------------------------------------------------
# living reanalysis: appending rows


def _line_end(data: bytes) -> str:
    """The line end a table uses (that of its first line), so that appended rows match it."""
    m = re.search(rb"\r\n|\r|\n", data)
    return m.group().decode() if m else "\n"


def append_rows(table_path, rows_path, *, backup: bool = True, check=None) -> StudyTable:
    """Validate new rows against a study table and append them atomically.

    The new rows are checked on their own (every problem named by the line of ``rows_path``) and
    together with the table (duplicates of existing rows, consistency across a study). Only when
    nothing is wrong is the table rewritten: the new content goes to a temporary file in the same
    folder, is flushed to disk, the previous table is kept as ``<name>.bak`` (written the same
    way) and the temporary file is renamed over the table, so an interruption leaves either the
    old or the new table, never half of one. Reading, checking and writing happen under a lock on
    the table, so concurrent adds each keep their rows. A read-only table is refused; a symbolic
    link is written through (the link stays). Temporary files that a killed add left behind are
    removed by the next one.

    Parameters
    ----------
    table_path, rows_path : path-like
        The study table and a CSV of new rows with the same required columns.
    backup : bool
        Keep the previous table as ``<table>.bak``.
    check : callable, optional
        More checks of the new rows, run under the lock with the other checks:
        ``check(new_rows, old_rows)`` gets the rows of both files as ``[(line, {column: cell})]``
        and returns a list of :class:`~metaanalysis.errors.Problem`; its errors stop the add
        like any other (the CLI checks that a new study has its line in ``trials.csv``).

    Returns
    -------
    StudyTable
        The new, validated table.

    Raises
    ------
    StudyTableError
        Nothing is written.

    Examples
    --------
    >>> append_rows("data/studies.csv", "new_trial.csv")        # doctest: +SKIP
    """
    from .fileio import check_writable, file_lock, remove_stale_temporaries

    table_path, rows_path = os.fspath(table_path), os.fspath(rows_path)
    if not os.path.isfile(table_path):
        what = ("is a directory, not a CSV file" if os.path.isdir(table_path) else
                "is not a regular file (a FIFO or device); give a CSV file"
                if os.path.exists(table_path) else "file not found")
        raise StudyTableError([Problem(table_path, None, None, what)])
    new_rows, new_header = _read_new_rows(rows_path)
    check_writable(os.path.realpath(table_path))
    # Read, validate and write under one lock: concurrent adds each see the rows of the one before.
    with file_lock(os.path.realpath(table_path)):
        remove_stale_temporaries(os.path.realpath(table_path))
        old_bytes = Path(table_path).read_bytes()
        old_rows, old_header, problems = _parse(old_bytes, table_path)
        if old_rows is None:
            raise StudyTableError(problems)
        unknown = [c for c in new_header if c not in old_header]
        if unknown:
            raise StudyTableError([Problem(rows_path, 1, c, "is not a column of the table "
                                           f"{table_path}; its columns are: {', '.join(old_header)}")
                                   for c in unknown])
        own = [p for p in _check_rows(new_rows, new_header, rows_path) if p.severity == "error"]
        for line, r, old_line, old in _duplicates_of(new_rows, old_rows, old_header):
            own.append(Problem(rows_path, line, None, f"duplicates line {old_line} of "
                               f"{table_path}" + _how_duplicated(old_header, r, old)
                               + "; it is already in the table"))
        if check is not None:
            own += [p for p in check(new_rows, old_rows) if p.severity == "error"]
        if own:
            raise StudyTableError(own)

        buf = io.StringIO(newline="")
        newline = _line_end(old_bytes)
        writer = csv.writer(buf, lineterminator=newline)
        for _, r in new_rows:
            writer.writerow([r.get(h, "") for h in old_header])
        text = old_bytes.decode("utf-8-sig")
        if text and not text.endswith(("\n", "\r")):
            text += newline
        combined = text + buf.getvalue()
        table, problems = validate_text(combined.encode("utf-8"), table_path)
        if table is None:
            # errors that only show together (none expected after the checks above) name table lines
            raise StudyTableError([p for p in problems if p.severity == "error"])
        bom = b"\xef\xbb\xbf" if old_bytes.startswith(b"\xef\xbb\xbf") else b""
        atomic_write(table_path, bom + combined.encode("utf-8"), backup=backup)
    return table


def _duplicate_key(row, columns) -> tuple:
    """A row's cells as duplicates are compared: numbers as numbers (10.8, 10.80 and 1.08e1 are
    one value), any other cell (text, or a number column's cell that is not a number) as text."""
    key = []
    for c in columns:
        cell = row.get(c, "")
        if cell and c in NUMERIC_COLUMNS:
            value, reason = _number_or_reason(cell)
            if reason is None:
                key.append(value)
                continue
        key.append(cell)
    return tuple(key)


def _duplicates_of(new_rows, old_rows, header):
    """``(line, row, old_line, old_row)`` for each new row that duplicates a row of the table.

    Only old rows whose text cells equal some new row's have their numbers read."""
    texts = [c for c in header if c not in NUMERIC_COLUMNS]
    wanted = {tuple(r.get(c, "") for c in texts) for _, r in new_rows}
    existing = {}
    for old_line, old in old_rows:
        if tuple(old.get(c, "") for c in texts) in wanted:
            existing.setdefault(_duplicate_key(old, header), (old_line, old))
    for line, r in new_rows:
        hit = existing.get(_duplicate_key(r, header))
        if hit is not None:
            yield line, r, hit[0], hit[1]


def _read_new_rows(rows_path):
    """Parse the CSV of rows to add; raises StudyTableError naming the file on any problem."""
    try:
        if not stat.S_ISREG(os.stat(rows_path).st_mode):
            raise StudyTableError([Problem(rows_path, None, None, "is not a regular file (a "
                                           "FIFO, device or directory); give a CSV file")])
        new_bytes = Path(rows_path).read_bytes()
    except FileNotFoundError:
        raise StudyTableError([Problem(rows_path, None, None, "file not found")]) from None
    except OSError as exc:
        raise StudyTableError([Problem(rows_path, None, None, "cannot be read: "
                                       f"{exc.strerror or exc}")]) from None
    new_rows, new_header, problems = _parse(new_bytes, rows_path)
    if new_rows is None:
        raise StudyTableError(problems)
    return new_rows, new_header


def atomic_write(path, data: bytes, *, backup: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; see :func:`metaanalysis.fileio.atomic_write`."""
    from .fileio import atomic_write as _atomic_write

    _atomic_write(path, data, backup=backup)
