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
import io
import math
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .errors import Problem, StudyTableError

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
    "cut_preference",
    "atomic_write",
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
# Average month length (365.25 / 12 days), the convention of most oncology papers.
TIME_UNITS_IN_MONTHS = {"months": 1.0, "weeks": 7.0 / (365.25 / 12), "days": 1.0 / (365.25 / 12),
                        "years": 12.0}
# A ratio or median interval whose two log half-widths differ by more than this fraction of the
# larger, even after moving each printed number by half a unit of its last digit, is flagged.
LOG_ASYMMETRY_TOLERANCE = 0.10
# Which analysis of a trial to use when a table holds several (one row per trial per analysis).
# For progression and response, the prespecified primary analysis that trials are powered for; for
# OS the most mature cut (crossover makes early OS cuts less informative still).
CUT_PREFERENCE = {
    "default": ("primary", "", "update", "final", "interim"),
    "OS": ("final", "update", "primary", "", "interim"),
}
ASSESSOR_PREFERENCE = ("central", "", "investigator")


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

    frame: object
    path: str
    warnings: list = field(default_factory=list)

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
    """Validate a study table file without raising.

    Returns ``(table, problems)``: ``table`` is a :class:`StudyTable` when there is no error (else
    ``None``) and ``problems`` lists errors and warnings in file order. The file is only read.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError:
        return None, [Problem(name, None, None, "file not found")]
    except IsADirectoryError:
        return None, [Problem(name, None, None, "is a directory, not a CSV file")]
    except OSError as exc:
        return None, [Problem(name, None, None, f"cannot be read: {exc.strerror or exc}")]
    return validate_text(data, name)


def validate_text(data: bytes | str, name: str = "<text>") -> tuple:
    """Validate the bytes (or text) of a study table; see :func:`validate_studies`."""
    rows, header, problems = _parse(data, name)
    if rows is None:
        return None, problems
    import pandas as pd

    problems += _check_rows(rows, header, name)
    errors = [p for p in problems if p.severity == "error"]
    frame = _to_frame(rows, header, pd)
    if not errors:
        problems += _check_consistency(frame, {line: r for line, r in rows}, name)
    problems.sort(key=lambda p: (p.row or 0, p.severity != "error"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return StudyTable(frame=frame, path=name,
                      warnings=[p for p in problems if p.severity != "error"]), problems


# --------------------------------------------------------------------------------------------
# parsing


def _parse(data, name):
    """Decode and split the CSV; returns (rows, header, problems) with rows None on a fatal error.

    Each row is ``(line, {column: text})`` where ``line`` is the line on which the record starts.
    """
    if isinstance(data, str):
        text = data
    else:
        if not data.strip():
            return None, None, [Problem(name, None, None, "the file is empty; expected a CSV with "
                                        "a header row naming the columns of data/README.md")]
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return None, None, [Problem(name, None, None, "is UTF-16 text; save the CSV as UTF-8")]
        if b"\x00" in data:
            return None, None, [Problem(name, None, None, "is a binary file (it holds NUL bytes), "
                                        "not a CSV text file")]
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            return None, None, [Problem(name, line, None, "is not UTF-8 text (byte "
                                        f"0x{data[exc.start]:02x}); save the CSV as UTF-8")]
    text = text.lstrip("\ufeff")
    if not text.strip():
        return None, None, [Problem(name, None, None, "the file is empty; expected a CSV with a "
                                    "header row naming the columns of data/README.md")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records = []
    start = 1
    try:
        for record in reader:
            records.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        return None, None, [Problem(name, start, None, "the record starting here is cut off: "
                                    f"{exc} (an unterminated quote?)")]
    header_line, header = records[0]
    header = [h.strip() for h in header]
    problems = []
    if len(header) < 2 and not any("," in h for h in header):
        problems.append(Problem(name, header_line, None, "the header has a single column: is the "
                                "file comma-separated?"))
    seen = set()
    for h in header:
        if h in seen:
            problems.append(Problem(name, header_line, h, "column name appears twice"))
        seen.add(h)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(Problem(name, header_line, None, "missing required column(s): "
                                + ", ".join(missing) + "; the header must name all of: "
                                + ", ".join(REQUIRED_COLUMNS)))
    if problems:
        return None, None, problems
    rows = []
    for line, record in records[1:]:
        if not record or all(not c.strip() for c in record):
            continue  # blank lines are harmless
        if len(record) != len(header):
            problems.append(Problem(name, line, None, f"has {len(record)} fields but the header "
                                    f"has {len(header)}; a comma inside a field needs quotes"))
            continue
        rows.append((line, {h: c.strip() for h, c in zip(header, record)}))
    if not rows and not problems:
        problems.append(Problem(name, None, None, "has a header but no data rows"))
    if problems:
        return None, None, problems
    return rows, header, []


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _half_unit(text):
    """Half a unit of the last printed digit of a number as written ("0.31" -> 0.005)."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except (InvalidOperation, AttributeError):
        return 0.0
    return 0.5 * 10.0 ** exponent if isinstance(exponent, int) else 0.0


# --------------------------------------------------------------------------------------------
# row checks


def _check_rows(rows, header, name):
    problems = []

    def err(line, column, message):
        problems.append(Problem(name, line, column, message))

    numeric_present = [c for c in NUMERIC_COLUMNS if c in header]
    seen = {}
    for line, r in rows:
        key = tuple(r[h] for h in header)
        if key in seen:
            err(line, None, f"duplicates line {seen[key]} exactly; delete one of them")
        else:
            seen[key] = line
        nums = {}
        for c in numeric_present:
            text = r[c]
            if text == "":
                nums[c] = None
                continue
            v = _number(text)
            if v is None:
                err(line, c, f"{text!r} is not a number; leave the cell empty when the source does "
                    "not report it and say so in notes")
                nums[c] = None
                continue
            if c in INTEGER_COLUMNS and v != int(v):
                err(line, c, f"{text} must be a whole number")
            nums[c] = v
        for c in ("study_id", "outcome", "measure", "source", "design"):
            if not r[c]:
                err(line, c, "is empty; every row needs a " + c)
        if r["design"] and r["design"] not in DESIGNS:
            err(line, "design", f"{r['design']!r} is not a design; use one of {', '.join(DESIGNS)}")
        measure = r["measure"]
        if measure and measure not in MEASURES:
            err(line, "measure", f"{measure!r} is not a measure; use one of {', '.join(MEASURES)}")
        status = r.get("status", "") or "reported"
        if status not in STATUSES:
            err(line, "status", f"{status!r} is not a status; use one of {', '.join(STATUSES)}")
        unit = r["unit"]
        if unit and unit not in TIME_UNITS_IN_MONTHS:
            err(line, "unit", f"{unit!r} is not a time unit; use one of "
                + ", ".join(TIME_UNITS_IN_MONTHS))
        if measure in TIME_MEASURES and not unit and not r["outcome"].startswith(("AE", "DOSE")):
            err(line, "unit", f"a {measure} time needs a unit ({', '.join(TIME_UNITS_IN_MONTHS)})")
        if measure == "rate" and "time_point" in header and nums.get("time_point") is None:
            err(line, "time_point", "a landmark rate needs the time it refers to (time_point, unit)")
        year = nums.get("year")
        if year is not None and not 1900 <= year <= 2100:
            err(line, "year", f"{year:g} is not a plausible publication year")
        elif year is None and r["year"] == "":
            # A trial known only from a registry or a news report may have no publication yet.
            problems.append(Problem(name, line, "year", "is empty: no publication year; say in "
                                    "notes why (results not yet published?)", "warning"))

        value, lo, hi, level = nums.get("value"), nums.get("ci_low"), nums.get("ci_high"), nums.get("ci_level")
        if r["value"] == "" and status != "not_reached":
            err(line, "value", "is empty; a number the source does not report stays out of the "
                "table (use status=not_reached for a median not reached)")
        if status == "not_reached" and r["value"] != "":
            err(line, "value", "must be empty when status is not_reached")
        if level is not None and not 0.5 < level < 1:
            hint = f"; write {level / 100:g}" if 50 < level < 100 else ""
            err(line, "ci_level", f"{level:g} is outside (0.5, 1): give the level as a fraction "
                f"such as 0.95{hint}")
        if (lo is not None or hi is not None) and level is None and r["ci_level"] == "":
            err(line, "ci_level", "an interval needs its level (0.95, 0.99, ...); intervals are not "
                "all 95%")
        if lo is not None and hi is not None and lo > hi:
            err(line, "ci_low", f"the interval is reversed ({lo:g} > {hi:g})")
        elif value is not None:
            if lo is not None and value < lo:
                err(line, "value", f"{value:g} lies below its interval's lower bound {lo:g}")
            if hi is not None and value > hi:
                err(line, "value", f"{value:g} lies above its interval's upper bound {hi:g}")
        if measure in RATIO_MEASURES or measure in TIME_MEASURES[:2]:
            for c, v in (("value", value), ("ci_low", lo), ("ci_high", hi)):
                if v is not None and v <= 0 and not (c == "ci_low" and measure in TIME_MEASURES):
                    err(line, c, f"a {measure} must be positive, got {v:g}")
        if measure in ("proportion", "rate"):
            for c, v in (("value", value), ("ci_low", lo), ("ci_high", hi)):
                if v is not None and not 0 <= v <= 1:
                    hint = f" (write {v / 100:g} for {v:g}%)" if 1 < v <= 100 else ""
                    err(line, c, f"a {measure} is a fraction in [0, 1], got {v:g}{hint}")
        num, den, n = nums.get("numerator"), nums.get("denominator"), nums.get("n")
        for c, v in (("numerator", num), ("denominator", den), ("n", n)):
            if v is not None and v < 0:
                err(line, c, f"a count cannot be negative, got {v:g}")
        if measure == "count" and value is not None and value < 0:
            err(line, "value", f"a count cannot be negative, got {value:g}")
        if num is not None and den is not None and num > den:
            err(line, "numerator", f"{num:g} exceeds the denominator {den:g}")
        if den is not None and den == 0:
            err(line, "denominator", "is zero")
    return problems


def _to_frame(rows, header, pd):
    records = []
    for line, r in rows:
        rec = dict(r)
        rec["line"] = line
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=[*header, "line"])
    for c in NUMERIC_COLUMNS:
        if c in frame.columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    for c in ("status", "data_cut", "population", "assessor"):
        if c not in frame.columns:
            frame[c] = ""
    frame.loc[frame["status"] == "", "status"] = "reported"
    if "time_point" not in frame.columns:
        frame["time_point"] = float("nan")
    return frame


# --------------------------------------------------------------------------------------------
# consistency checks (warnings)


def _check_consistency(frame, raw, name):
    """Warnings across rows; ``raw`` maps a line to its cells as written (for printed precision)."""
    problems = []

    def warn(line, column, message):
        problems.append(Problem(name, line, column, message, "warning"))

    for rec in frame.itertuples(index=False):
        r = raw[rec.line]
        if rec.measure == "proportion" and not math.isnan(rec.numerator) and not math.isnan(rec.value):
            den, col = (rec.denominator, "denominator") if not math.isnan(rec.denominator) else (rec.n, "n")
            if not math.isnan(den) and den > 0:
                tol = _half_unit(r["value"]) + 1e-9
                if abs(rec.value - rec.numerator / den) > tol:
                    fits = [d for d in range(int(rec.numerator), int(2 * den) + 2)
                            if d > 0 and abs(rec.value - rec.numerator / d) <= tol]
                    hint = (f"; a denominator of {min(fits, key=lambda d: abs(d - den))} would "
                            "make it agree (evaluable patients?)") if fits else ""
                    warn(rec.line, "value", f"{rec.value:g} disagrees with {rec.numerator:g}/"
                         f"{den:g} = {rec.numerator / den:.4f} ({col}){hint}")
        if (rec.measure in RATIO_MEASURES or rec.measure == "median") and rec.value > 0:
            lo, hi = rec.ci_low, rec.ci_high
            if lo > 0 and hi > 0 and lo <= rec.value <= hi:
                a = _log_asymmetry(rec.value, lo, hi, r)
                if a > LOG_ASYMMETRY_TOLERANCE:
                    warn(rec.line, "ci_high", f"the interval {lo:g}-{hi:g} around {rec.value:g} is "
                         f"asymmetric on the log scale ({100 * a:.0f}% beyond rounding); a "
                         "transcription error, or an interval symmetric on another scale?")

    keyed = frame.assign(**{c: frame[c] if c in frame.columns else "" for c in _QUANTITY_KEY})
    # Sum checks: ORR = CR + PR and DCR = ORR + SD within one arm, cut, population and assessor.
    group_cols = ["study_id", "arm", "data_cut", "population", "assessor"]
    for _, g in keyed.groupby(group_cols, sort=False):
        amounts = _amounts(g, raw)
        for total, parts in (("ORR", ("CR", "PR")), ("DCR", ("ORR", "SD"))):
            if total in amounts and all(p in amounts for p in parts):
                kind = _common_kind(amounts, (total, *parts))
                if kind is None:
                    continue
                t_val, t_tol, t_line = amounts[total][kind]
                s_val = sum(amounts[p][kind][0] for p in parts)
                s_tol = t_tol + sum(amounts[p][kind][1] for p in parts)
                if abs(t_val - s_val) > s_tol + 1e-9:
                    warn(t_line, "value", f"{total} {t_val:g} differs from {' + '.join(parts)} = "
                         f"{s_val:g} ({'counts' if kind == 'count' else 'proportions'})")
    # Median PFS should not exceed median OS in the same arm.
    medians = keyed[(keyed["measure"] == "median") & keyed["outcome"].isin(["PFS", "OS"])
                    & keyed["value"].notna() & (keyed["population"].isin(["", "itt"]))]
    for _, g in medians.groupby(["study_id", "arm"], sort=False):
        pfs = g[g["outcome"] == "PFS"]
        os_ = g[g["outcome"] == "OS"]
        for p in pfs.itertuples(index=False):
            for o in os_.itertuples(index=False):
                pm = p.value * TIME_UNITS_IN_MONTHS.get(p.unit, math.nan)
                om = o.value * TIME_UNITS_IN_MONTHS.get(o.unit, math.nan)
                if pm > om:
                    warn(p.line, "value", f"median PFS {pm:.3g} months exceeds median OS {om:.3g} "
                         f"months (line {o.line}) in the same arm")
    # One study, one year (two publications of a trial should be explained in notes).
    for sid, g in keyed.groupby("study_id", sort=False):
        years = sorted(set(int(y) for y in g["year"].dropna()))
        if len(years) > 1:
            first = {}
            for rec in g.itertuples(index=False):
                first.setdefault(int(rec.year), rec.line)
            for y in years[1:]:
                warn(first[y], "year", f"study {sid} has rows from {len(years)} different years "
                     f"({', '.join(map(str, years))}): two publications or data cuts?")
    # Two rows reporting different values for the same quantity.
    key_cols = list(_QUANTITY_KEY)
    dup = keyed[keyed.duplicated(key_cols, keep=False) & keyed["value"].notna()]
    for _, g in dup.groupby(key_cols, sort=False, dropna=False):
        if g["value"].nunique() > 1:
            lines = g["line"].tolist()
            for line in lines[1:]:
                warn(line, "value", f"reports the same quantity as line {lines[0]} with a different "
                     "value; set data_cut, population or assessor to tell them apart")
    return problems


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


def _amounts(group, raw):
    """Per outcome: {'count': (n, tol, line), 'proportion': (p, tol, line)} where available."""
    out = {}
    for rec in group.itertuples(index=False):
        if rec.outcome not in ("ORR", "DCR", "CR", "PR", "SD") or rec.status != "reported":
            continue
        entry = out.setdefault(rec.outcome, {})
        if rec.measure == "count" and not math.isnan(rec.value):
            entry.setdefault("count", (rec.value, 0.0, rec.line))
        if rec.measure == "proportion":
            if not math.isnan(rec.numerator):
                entry.setdefault("count", (rec.numerator, 0.0, rec.line))
            if not math.isnan(rec.value):
                entry.setdefault("proportion", (rec.value, _half_unit(raw[rec.line]["value"]), rec.line))
    return out


def _common_kind(amounts, outcomes):
    for kind in ("count", "proportion"):
        if all(kind in amounts[o] for o in outcomes):
            return kind
    return None


# --------------------------------------------------------------------------------------------
# living reanalysis: appending rows


def append_rows(table_path, rows_path, *, backup: bool = True) -> StudyTable:
    """Validate new rows against a study table and append them atomically.

    The new rows are checked on their own (every problem named by the line of ``rows_path``) and
    together with the table (duplicates of existing rows, consistency across a study). Only when
    nothing is wrong is the table rewritten: the new content goes to a temporary file in the same
    folder, is flushed to disk, the previous table is kept as ``<name>.bak`` and the temporary file
    is renamed over the table, so an interruption leaves either the old or the new table, never
    half of one.

    Parameters
    ----------
    table_path, rows_path : path-like
        The study table and a CSV of new rows with the same required columns.
    backup : bool
        Keep the previous table as ``<table>.bak``.

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
    table_path, rows_path = os.fspath(table_path), os.fspath(rows_path)
    if not os.path.isfile(table_path):
        what = "is a directory, not a CSV file" if os.path.isdir(table_path) else "file not found"
        raise StudyTableError([Problem(table_path, None, None, what)])
    old_bytes = Path(table_path).read_bytes()
    old_rows, old_header, problems = _parse(old_bytes, table_path)
    if old_rows is None:
        raise StudyTableError(problems)
    try:
        new_bytes = Path(rows_path).read_bytes()
    except FileNotFoundError:
        raise StudyTableError([Problem(rows_path, None, None, "file not found")]) from None
    except IsADirectoryError:
        raise StudyTableError([Problem(rows_path, None, None, "is a directory, not a CSV "
                                       "file")]) from None
    except OSError as exc:
        raise StudyTableError([Problem(rows_path, None, None, "cannot be read: "
                                       f"{exc.strerror or exc}")]) from None
    new_rows, new_header, problems = _parse(new_bytes, rows_path)
    if new_rows is None:
        raise StudyTableError(problems)
    unknown = [c for c in new_header if c not in old_header]
    if unknown:
        raise StudyTableError([Problem(rows_path, 1, c, "is not a column of the table "
                                       f"{table_path}; its columns are: {', '.join(old_header)}")
                               for c in unknown])
    own = [p for p in _check_rows(new_rows, new_header, rows_path) if p.severity == "error"]
    existing = {tuple(r.get(h, "") for h in old_header): line for line, r in old_rows}
    for line, r in new_rows:
        key = tuple(r.get(h, "") for h in old_header)
        if key in existing:
            own.append(Problem(rows_path, line, None, f"duplicates line {existing[key]} of "
                               f"{table_path}; it is already in the table"))
    if own:
        raise StudyTableError(own)

    buf = io.StringIO(newline="")
    newline = "\r\n" if b"\r\n" in old_bytes else "\n"
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


def atomic_write(path, data: bytes, *, backup: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    import tempfile

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        # mkstemp makes the file private (0600): give it the mode the file had, or the mode a
        # plain open() would have given it, so that a rewrite never changes who may read it.
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if backup and os.path.exists(path):
            import shutil

            shutil.copy2(path, path + ".bak")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
