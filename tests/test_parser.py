"""One number grammar for every reader of the study table, and degenerate intervals (issue 16).

The validator once read numbers with ``float()`` (which takes ``0.5_9``, full-width digits,
``infinity``, ``1e400``) and the loader with ``pandas.to_numeric``: a cell one accepted and the
other turned into NaN silently dropped its row from the analysis. Both now go through
:func:`metaanalysis.studies.parse_numbers`; every malformed number is an error naming its line and
column and saying what a number looks like.
"""

from __future__ import annotations

import csv
import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import InputError, StudyTableError
from metaanalysis.studies import (NUMBER_GRAMMAR, REQUIRED_COLUMNS, parse_number, parse_numbers,
                                  validate_text)

HEADER = list(REQUIRED_COLUMNS) + ["status", "data_cut", "time_point"]


def row(**overrides):
    base = dict(study_id="trial2020", trial="TRIAL", year="2020", design="rct", arm="drug",
                therapy="drug", comparator="placebo", outcome="PFS", measure="median",
                value="10.8", ci_low="9.1", ci_high="12.9", ci_level="0.95", numerator="",
                denominator="", n="100", unit="months", source="doi:10.1/x", locator="abstract",
                notes="", status="", data_cut="", time_point="")
    base.update(overrides)
    return base


def to_csv(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def problems_of(rows):
    return validate_text(to_csv(rows).encode("utf-8"), "t.csv")


# (cell, what the message adds) -- each refused by the grammar
MALFORMED = [
    ("0.5_9", "underscores"),
    ("1_000", "underscores"),
    ("\uff10.\uff15", "non-ASCII digits"),          # full-width 0.5
    ("\u0661\u0662", "non-ASCII digits"),           # Arabic-Indic 12
    ("1\u00b2", "non-ASCII digits"),                # superscript two
    ("inf", "infinity"),
    ("-inf", "infinity"),
    ("Infinity", "infinity"),
    ("nan", "infinity"),
    ("NaN", "infinity"),
    ("NA", "infinity"),
    ("1e400", "too large"),
    ("-1e400", "too large"),
    ("1e-400", "too small"),
    ("1,234", "thousands separators"),
    ("0,59", "decimal commas"),
    ("1 234", "space"),
    ("+5", "without the '+'"),
    ("31%", "as a fraction"),
    ("0x10", ""),
    ("1.2.3", ""),
    (".", ""),
    ("-", ""),
    ("e5", ""),
    ("1e", ""),
    ("--1", ""),
    ("ten", ""),
]


@pytest.mark.parametrize("column", ["value", "n", "year", "ci_low", "ci_level", "time_point"])
@pytest.mark.parametrize("cell, reason", MALFORMED)
def test_malformed_number_is_an_error_with_line_and_column(cell, reason, column):
    # a notes field spanning two lines first: the bad row starts on line 4, not 3
    rows = [row(notes="first line\nsecond line"), row(arm="placebo", therapy="placebo",
                                                     **{column: cell})]
    table, problems = problems_of(rows)
    assert table is None
    mine = [p for p in problems if p.row == 4 and p.column == column and p.severity == "error"]
    assert len(mine) == 1, [str(p) for p in problems]
    message = mine[0].message
    assert message.startswith(f"{cell!r} is not a number")
    assert reason in message
    assert NUMBER_GRAMMAR in message  # says what would be valid
    assert str(mine[0]).startswith(f"t.csv:4:{column}: ")


@pytest.mark.parametrize("cell, reason", MALFORMED)
def test_parse_number_refuses_what_the_validator_refuses(cell, reason):
    with pytest.raises(InputError, match="is not a number") as info:
        parse_number(cell)
    assert reason in str(info.value) and NUMBER_GRAMMAR in str(info.value)
    values, invalid = parse_numbers([cell])
    assert math.isnan(values[0]) and 0 in invalid


WELL_FORMED = ["12", "-0.5", "0.59", ".25", "5.", "3.5e-4", "1E3", "2.5e+2", "-0", "007", "0e500",
               "1.7976931348623157e308", "5e-324"]


@pytest.mark.parametrize("cell", WELL_FORMED)
def test_well_formed_numbers(cell):
    assert parse_number(cell) == float(cell)
    assert parse_number(f"  {cell}\t") == float(cell)  # surrounding whitespace is not the number
    values, invalid = parse_numbers([cell, ""])
    assert invalid == {} and values[0] == float(cell) and math.isnan(values[1])


def test_the_frame_holds_the_numbers_the_validator_read():
    rows = [row(value="1.08E1", ci_low="9.1", ci_high="12.9", n="1e2"),
            row(arm="placebo", therapy="placebo", value="5.", ci_low=".46e1", ci_high="7.3")]
    table, problems = problems_of(rows)
    assert table is not None, [str(p) for p in problems]
    frame = table.frame
    assert frame["value"].tolist() == [10.8, 5.0]
    assert frame["ci_low"].tolist() == [9.1, 4.6]
    assert frame["n"].tolist() == [100.0, 100.0]


_CHARS = st.sampled_from(list("0123456789.-+eE_, ") + ["\uff11", "\u0663", "inf", "nan"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_CHARS, min_size=1, max_size=8).map("".join))
def test_a_cell_is_a_number_for_both_readers_or_an_error(cell):
    """No cell passes the validator and then turns into NaN in the frame (its row silently lost)."""
    rows = [row(outcome="OS", measure="mean", value="1", ci_low="", ci_high="", ci_level="",
                time_point=cell)]
    table, problems = problems_of(rows)
    cell_errors = [p for p in problems if p.column == "time_point"]
    if cell.strip() == "":
        assert cell_errors == [] and table is not None
        assert math.isnan(table.frame["time_point"].iloc[0])
    elif cell_errors:
        assert table is None and "is not a number" in cell_errors[0].message
        with pytest.raises(InputError):
            parse_number(cell)
    else:
        assert table is not None
        got = table.frame["time_point"].iloc[0]
        assert got == parse_number(cell) == float(cell.strip()) and math.isfinite(got)


# ---- degenerate intervals ---------------------------------------------------------------------


@pytest.mark.parametrize("overrides, fragment", [
    (dict(measure="hr", unit="", value="0.59", ci_low="0.59", ci_high="0.59"), "zero width"),
    (dict(value="10.8", ci_low="10.8", ci_high="10.8"), "zero width"),
    (dict(measure="hr", unit="", value="0.5", ci_low="0.5", ci_high="0.5000001"), "degenerate"),
    (dict(measure="hr", unit="", value="0.5", ci_low="0.49999", ci_high="0.50001"), "degenerate"),
    (dict(outcome="ORR", measure="proportion", unit="", value="0.5", ci_low="0.5",
          ci_high="0.5"), "zero width"),
    (dict(outcome="ORR", measure="proportion", unit="", value="0.2", ci_low="0.2",
          ci_high="0.200001"), "degenerate"),
    (dict(outcome="OS", measure="rate", value="0.3", ci_low="0.3", ci_high="0.3",
          time_point="12"), "zero width"),
])
def test_degenerate_interval_is_an_error(tmp_path, overrides, fragment):
    rows = [row(), row(arm="placebo", therapy="placebo", **overrides)]
    table, problems = problems_of(rows)
    assert table is None
    (err,) = [p for p in problems if p.severity == "error"]
    assert (err.row, err.column) == (3, "ci_high")
    assert fragment in err.message
    # says what would be valid
    assert "clearly above ci_low" in err.message and "leave both bounds empty" in err.message
    path = tmp_path / "t.csv"
    path.write_text(to_csv(rows))
    with pytest.raises(StudyTableError):  # the report never sees it
        ma.read_studies(path)


@pytest.mark.parametrize("overrides", [
    dict(measure="hr", unit="", value="0.59", ci_low="0.58", ci_high="0.60"),
    dict(measure="hr", unit="", value="0.59", ci_low="0.59", ci_high="0.60"),
    dict(measure="hr", unit="", value="1.000", ci_low="0.998", ci_high="1.002"),
    # the Wald interval of 0/n or n/n as papers print it: the counts are analysed, not the interval
    dict(outcome="ORR", measure="proportion", unit="", value="0", ci_low="0", ci_high="0",
         numerator="0", denominator="48"),
    dict(outcome="ORR", measure="proportion", unit="", value="1.0", ci_low="1.0", ci_high="1.0",
         numerator="48", denominator="48"),
    dict(outcome="ORR", measure="proportion", unit="", value="0", ci_low="0", ci_high="0.074",
         numerator="0", denominator="48"),
])
def test_narrow_intervals_that_are_fine(overrides):
    table, problems = problems_of([row(arm="placebo", therapy="placebo", **overrides)])
    assert table is not None, [str(p) for p in problems]
