"""The study table reader and validator: every rule has a file that breaks it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metaanalysis as ma
from metaanalysis.errors import StudyTableError
from metaanalysis.studies import REQUIRED_COLUMNS, validate_studies, validate_text

ROOT = Path(__file__).resolve().parents[1]

HEADER = list(REQUIRED_COLUMNS) + ["status", "data_cut"]


def row(**overrides):
    base = dict(
        study_id="trial2020", trial="TRIAL", year="2020", design="rct", arm="drug",
        therapy="drug", comparator="placebo", outcome="PFS", measure="median", value="10.8",
        ci_low="9.1", ci_high="12.9", ci_level="0.95", numerator="", denominator="", n="100",
        unit="months", source="doi:10.1/x", locator="abstract", notes="", status="", data_cut="",
    )
    base.update(overrides)
    return base


def to_csv(rows, header=HEADER, newline="\n"):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator=newline, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def write(tmp_path, text, name="studies.csv"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def errors_of(path):
    table, problems = validate_studies(path)
    return [p for p in problems if p.severity == "error"]


def warnings_of(path):
    table, problems = validate_studies(path)
    assert table is not None, [str(p) for p in problems]
    return table.warnings


GOOD_ROWS = [
    row(),
    row(arm="placebo", therapy="placebo", comparator="", value="5.8", ci_low="4.6", ci_high="7.3"),
    row(arm="drug vs placebo", measure="hr", value="0.59", ci_low="0.45", ci_high="0.76", unit="",
        n="200"),
    row(outcome="ORR", measure="proportion", value="0.2", ci_low="", ci_high="", ci_level="",
        numerator="20", denominator="100", unit=""),
]


def test_good_table_reads(tmp_path):
    p = write(tmp_path, to_csv(GOOD_ROWS))
    table = ma.read_studies(p)
    assert len(table) == 4
    assert table.frame["line"].tolist() == [2, 3, 4, 5]
    assert table.frame.loc[2, "value"] == pytest.approx(0.59)
    assert table.warnings == []
    assert table.select(outcome="PFS", measure="median")["value"].tolist() == [10.8, 5.8]


def test_crlf_bom_column_order_and_extra_columns(tmp_path):
    header = ["notes", "extra_column", *reversed([c for c in HEADER if c != "notes"])]
    rows = [dict(r, extra_column="kept") for r in GOOD_ROWS]
    text = to_csv(rows, header=header, newline="\r\n")
    p = write(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8"))
    table = ma.read_studies(p)
    assert len(table) == 4
    assert list(table.frame["extra_column"]) == ["kept"] * 4
    assert table.frame["study_id"].iloc[0] == "trial2020"  # BOM not glued to a column name


def test_quoted_field_spanning_lines_keeps_line_numbers(tmp_path):
    rows = [row(notes="first line\nsecond line"), row(value="oops")]
    p = write(tmp_path, to_csv(rows))
    errs = errors_of(p)
    assert [(e.row, e.column) for e in errs] == [(4, "value")]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"study_id,trial\n\xff\xfe bad", "UTF-8"),
    ],
)
def test_unreadable_files(tmp_path, content, fragment):
    p = write(tmp_path, content)
    errs = errors_of(p)
    assert len(errs) == 1 and fragment in errs[0].message
    assert errs[0].file == str(p)


def test_truncated_file_unterminated_quote(tmp_path):
    text = to_csv(GOOD_ROWS[:2]) + 'x,"TRIAL,2020,rct'
    p = write(tmp_path, text)
    errs = errors_of(p)
    assert len(errs) == 1 and errs[0].row == 4 and "cut off" in errs[0].message


def test_a_cell_too_long_is_named_as_such(tmp_path):
    # a cell over the csv module's limit is not an unterminated quote; the message says both
    text = to_csv(GOOD_ROWS[:2] + [row(study_id="long", notes="x" * 200_000)])
    p = write(tmp_path, text)
    errs = errors_of(p)
    assert len(errs) == 1 and errs[0].row == 4
    assert f"a cell longer than {csv.field_size_limit():,} characters" in errs[0].message
    assert "unterminated quote" in errs[0].message


def test_text_a_spreadsheet_would_run_is_warned_of(tmp_path):
    # '=HYPERLINK(...)' in notes runs when the table is opened in a spreadsheet; '-' and '+'
    # start ordinary notes and are not warned of
    rows = GOOD_ROWS[:2] + [row(study_id="x2021", trial="X", notes='=HYPERLINK("http://x")',
                                locator="@SUM(1)"),
                            row(study_id="y2021", trial="Y", notes="- see the abstract")]
    p = write(tmp_path, to_csv(rows))
    table = validate_studies(p)[0]
    flagged = [(w.row, w.column) for w in table.warnings if "runs the cell as a formula" in w.message]
    assert flagged == [(4, "locator"), (4, "notes")]


def test_missing_required_columns(tmp_path):
    header = [c for c in HEADER if c not in ("source", "ci_level")]
    p = write(tmp_path, to_csv(GOOD_ROWS, header=header))
    errs = errors_of(p)
    assert len(errs) == 1 and errs[0].row == 1
    assert "source" in errs[0].message and "ci_level" in errs[0].message


def test_header_only(tmp_path):
    p = write(tmp_path, to_csv([]))
    assert "no data rows" in errors_of(p)[0].message


def test_wrong_field_count(tmp_path):
    text = to_csv(GOOD_ROWS) + "a,b,c\n"
    errs = errors_of(write(tmp_path, text))
    assert errs[0].row == 6 and "fields" in errs[0].message


BAD_ROWS = [
    # (overrides, column, fragment)
    (dict(value="ten"), "value", "not a number"),
    (dict(n="12.5"), "n", "whole number"),
    (dict(value="13.0"), "value", "above its interval"),
    (dict(value="8.0"), "value", "below its interval"),
    (dict(ci_low="12.9", ci_high="9.1"), "ci_low", "reversed"),
    (dict(ci_level="95"), "ci_level", "write 0.95"),
    (dict(ci_level="1"), "ci_level", "outside (0.5, 1)"),
    (dict(ci_level="0.05"), "ci_level", "outside (0.5, 1)"),
    (dict(ci_level=""), "ci_level", "needs its level"),
    (dict(measure="hr", value="-0.5", ci_low="", ci_high="", unit=""), "value", "positive"),
    (dict(value="0", ci_low="", ci_high=""), "value", "positive"),
    (dict(outcome="ORR", measure="proportion", value="0.3", numerator="40", denominator="30",
          unit="", ci_low="", ci_high="", ci_level=""), "numerator", "exceeds"),
    (dict(outcome="ORR", measure="proportion", value="31", ci_low="", ci_high="", ci_level="",
          unit=""), "value", "write 0.31"),
    (dict(source=""), "source", "empty"),
    (dict(study_id=""), "study_id", "empty"),
    (dict(design="phase 2"), "design", "not a design"),
    (dict(measure="average"), "measure", "not a measure"),
    (dict(unit="fortnights"), "unit", "not a time unit"),
    (dict(unit=""), "unit", "needs a unit"),
    (dict(value=""), "value", "is empty"),
    (dict(status="maybe"), "status", "not a status"),
    (dict(year="20x0"), "year", "not a number"),
    (dict(year="1620"), "year", "plausible"),
    (dict(n="-3"), "n", "negative"),
    (dict(outcome="N", measure="count", value="12.5", ci_low="", ci_high="", ci_level="",
          unit=""), "value", "whole number"),
    (dict(outcome="pfs"), "outcome", "write 'PFS'"),
    (dict(outcome="Os"), "outcome", "write 'OS'"),
    (dict(outcome="ae:hypertension", measure="proportion", value="0.2", ci_low="", ci_high="",
          ci_level="", unit=""), "outcome", "write 'AE:hypertension'"),
    (dict(outcome="AE:", measure="proportion", value="0.2", ci_low="", ci_high="", ci_level="",
          unit=""), "outcome", "no detail after 'AE:'"),
    (dict(outcome="ae:", measure="proportion", value="0.2", ci_low="", ci_high="", ci_level="",
          unit=""), "outcome", "no detail after 'AE:'"),
    # a hazard ratio of no named therapy was pooled as therapy "all" (a nameless network node)
    (dict(arm="drug vs placebo", measure="hr", value="0.59", ci_low="0.45", ci_high="0.76",
          unit="", therapy=""), "therapy", "compares a therapy with its comparator"),
    (dict(arm="drug vs placebo", measure="hr", value="0.59", ci_low="0.45", ci_high="0.76",
          unit="", comparator=""), "comparator", "compares a therapy with its comparator"),
]


@pytest.mark.parametrize("overrides, column, fragment", BAD_ROWS)
def test_each_error_rule_names_line_and_column(tmp_path, overrides, column, fragment):
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], row(**overrides)]
    p = write(tmp_path, to_csv(rows))
    before = p.read_bytes()
    with pytest.raises(StudyTableError) as info:
        ma.read_studies(p)
    errs = info.value.problems
    assert any(e.row == 4 and e.column == column and fragment in e.message for e in errs), [
        str(e) for e in errs
    ]
    assert all(e.row == 4 for e in errs)
    assert p.read_bytes() == before  # validation never modifies the file


def test_exact_duplicate_rows(tmp_path):
    p = write(tmp_path, to_csv([GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[0]]))
    errs = errors_of(p)
    assert len(errs) == 1 and errs[0].row == 4 and "line 2" in errs[0].message


def test_duplicates_compare_numbers_as_numbers(tmp_path):
    # 10.8, 10.80 and 1.08e1 are one value (and n 100 and 100.0 one count): a row that differs
    # from another only in how its numbers are written is a duplicate, and the message says how
    rows = [GOOD_ROWS[0], GOOD_ROWS[1], row(value="10.80"), row(value="1.08e1", n="100.0"),
            row(value="10.9")]
    errs = errors_of(write(tmp_path, to_csv(rows)))
    assert [(e.row, e.column) for e in errs] == [(4, None), (5, None)]
    assert errs[0].message == ("duplicates line 2 (the same numbers written differently: value "
                               "10.80 here, 10.8 there); delete one of them")
    assert errs[1].message == ("duplicates line 2 (the same numbers written differently: value "
                               "1.08e1 here, 10.8 there; n 100.0 here, 100 there); delete one of "
                               "them")
    # rows alike cell by cell keep the old wording
    errs = errors_of(write(tmp_path, to_csv([GOOD_ROWS[0], GOOD_ROWS[0]])))
    assert [e.message for e in errs] == ["duplicates line 2 exactly; delete one of them"]


def test_cells_that_are_not_numbers_are_not_duplicates_of_each_other(tmp_path):
    # two different invalid cells both read as "no number": each is an error of its own, and
    # the rows are not called duplicates
    errs = errors_of(write(tmp_path, to_csv([row(value="ten"), row(value="eleven")])))
    assert [(e.row, e.column) for e in errs] == [(2, "value"), (3, "value")]
    errs = errors_of(write(tmp_path, to_csv([row(value="ten"), row(value="ten")])))
    assert (3, None) in [(e.row, e.column) for e in errs]   # the same text twice still is


def test_append_refuses_a_row_of_the_table_with_its_numbers_written_differently(tmp_path):
    from metaanalysis.studies import append_rows

    table = write(tmp_path, to_csv(GOOD_ROWS))
    before = table.read_bytes()
    rows = write(tmp_path, to_csv([row(value="1.08e1", ci_low="9.10")]), name="new.csv")
    with pytest.raises(StudyTableError) as info:
        append_rows(table, rows)
    assert [str(p) for p in info.value.problems] == [
        f"{rows}:2: duplicates line 2 of {table} (the same numbers written differently: value "
        "1.08e1 here, 10.8 there; ci_low 9.10 here, 9.1 there); it is already in the table"]
    assert table.read_bytes() == before and not (tmp_path / "studies.csv.bak").exists()
    # the same row with another number goes in
    rows.write_text(to_csv([row(value="10.9")]))
    assert len(append_rows(table, rows)) == len(GOOD_ROWS) + 1


def test_append_runs_the_callers_check_under_the_lock(tmp_path):
    from metaanalysis.errors import Problem
    from metaanalysis.studies import append_rows

    table = write(tmp_path, to_csv(GOOD_ROWS))
    before = table.read_bytes()
    rows = write(tmp_path, to_csv([row(study_id="new2024", value="12.0")]), name="new.csv")
    seen = []

    def check(new_rows, old_rows):
        seen.append(([line for line, _ in new_rows], len(old_rows)))
        return [Problem(str(rows), 2, "study_id", "refused by the caller"),
                Problem(str(rows), 2, "notes", "only a warning", "warning")]

    with pytest.raises(StudyTableError) as info:
        append_rows(table, rows, check=check)
    assert seen == [([2], len(GOOD_ROWS))]
    assert [str(p) for p in info.value.problems] == [f"{rows}:2:study_id: refused by the caller"]
    assert table.read_bytes() == before
    # warnings alone do not stop the add
    assert len(append_rows(table, rows, check=lambda new, old: [
        Problem(str(rows), 2, "notes", "only a warning", "warning")])) == len(GOOD_ROWS) + 1


def test_every_error_is_reported_not_just_the_first(tmp_path):
    rows = [row(value="x"), row(ci_level="95"), row(source="")]
    errs = errors_of(write(tmp_path, to_csv(rows)))
    assert sorted((e.row, e.column) for e in errs) == [(2, "value"), (3, "ci_level"), (4, "source")]


def test_not_reached_median(tmp_path):
    rows = [row(value="", status="not_reached", ci_low="10.9", ci_high="")]
    table = ma.read_studies(write(tmp_path, to_csv(rows)))
    assert table.frame["status"].tolist() == ["not_reached"]
    bad = [row(value="12", status="not_reached")]
    assert "must be empty" in errors_of(write(tmp_path, to_csv(bad)))[0].message


# ---- warnings -------------------------------------------------------------------------------


def test_percentage_disagreeing_with_counts_suggests_denominator(tmp_path):
    rows = [row(outcome="PR", measure="proportion", value="0.31", numerator="8", denominator="",
                n="31", unit="", ci_low="", ci_high="", ci_level="")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 2 and w.column == "value" and w.severity == "warning"
    assert "denominator of 26" in w.message


def test_denominator_above_the_arm_is_warned_of(tmp_path):
    # a safety population may exceed the randomised by a few (Leboulleux 2012: 73 of 72); a typo
    # by far more, which only a disagreeing percentage used to hint at
    rows = [row(outcome="ORR", measure="proportion", value="0.04", numerator="20",
                denominator="500", n="207", unit="", ci_low="", ci_high="", ci_level="")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert (w.row, w.column) == (2, "denominator") and "more than the arm's n (207)" in w.message


@pytest.mark.parametrize("lo, hi, missing", [("0.45", "", "ci_high"), ("", "0.76", "ci_low")])
def test_a_ratio_with_one_bound_is_warned_of(tmp_path, lo, hi, missing):
    # its SE then comes from one bound alone: said, not silent
    rows = [row(arm="drug vs placebo", measure="hr", value="0.59", ci_low=lo, ci_high=hi,
                unit="")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert (w.row, w.column) == (2, missing) and "from the one bound alone" in w.message


def test_percentage_agreeing_within_rounding_is_silent(tmp_path):
    rows = [row(outcome="PR", measure="proportion", value="0.258", numerator="8", denominator="31",
                unit="", ci_low="", ci_high="", ci_level="")]
    assert warnings_of(write(tmp_path, to_csv(rows))) == []


def _resp(outcome, num, den="50"):
    return row(outcome=outcome, measure="proportion", value=f"{int(num) / int(den):.3f}",
               numerator=num, denominator=den, unit="", ci_low="", ci_high="", ci_level="")


def test_orr_not_cr_plus_pr(tmp_path):
    rows = [_resp("ORR", "10"), _resp("CR", "1"), _resp("PR", "8")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 2 and "CR + PR" in w.message
    ok = [_resp("ORR", "9"), _resp("CR", "1"), _resp("PR", "8")]
    assert warnings_of(write(tmp_path, to_csv(ok))) == []


def test_dcr_not_orr_plus_sd(tmp_path):
    rows = [_resp("DCR", "30"), _resp("ORR", "10"), _resp("SD", "15")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 2 and "ORR + SD" in w.message


def test_sum_check_with_rounded_percentages_only(tmp_path):
    def pct(outcome, v):
        return row(outcome=outcome, measure="proportion", value=v, unit="", ci_low="",
                   ci_high="", ci_level="", n="40")
    ok = [pct("DCR", "0.80"), pct("ORR", "0.60"), pct("SD", "0.20")]
    assert warnings_of(write(tmp_path, to_csv(ok))) == []
    bad = [pct("DCR", "0.80"), pct("ORR", "0.60"), pct("SD", "0.25")]
    assert len(warnings_of(write(tmp_path, to_csv(bad)))) == 1


def test_log_asymmetric_interval(tmp_path):
    # a hazard ratio's Wald interval is symmetric on the log scale: 0.59 (0.30-0.80) is not
    hr = [row(arm="x vs y", measure="hr", value="0.59", ci_low="0.30", ci_high="0.80", unit="")]
    (w,) = warnings_of(write(tmp_path, to_csv(hr)))
    assert w.column == "ci_high" and "asymmetric on the log scale" in w.message
    sym = [row(arm="x vs y", measure="hr", value="0.59", ci_low="0.45", ci_high="0.76", unit="")]
    assert warnings_of(write(tmp_path, to_csv(sym))) == []


@pytest.mark.parametrize("value, lo, hi, column", [
    ("18", "7", "29", None),            # asymmetric, as median intervals are (Schneider 2012)
    ("12.7", "10.9", "34.7", None),     # upper bound 2.7 x the median (Cabanillas 2017)
    ("1.9", "1.9", "3.7", None),        # lower bound equal to the median (COSMIC-311 placebo)
    ("3.7", "2.2", "18.4", None),       # just under five times the median
    ("3.7", "2.2", "18.6", "ci_high"),  # just over
    ("3.7", "2.2", "37", "ci_high"),    # a slipped decimal point
    ("37", "2.2", "41", "ci_low"),      # a bound a seventeenth of the median
])
def test_median_bound_far_from_the_median(tmp_path, value, lo, hi, column):
    warnings = warnings_of(write(tmp_path, to_csv([row(value=value, ci_low=lo, ci_high=hi)])))
    if column is None:
        assert warnings == []
    else:
        (w,) = warnings
        assert w.column == column and "5 times" in w.message


def test_median_pfs_longer_than_os(tmp_path):
    rows = [row(value="20", ci_low="", ci_high=""),
            row(outcome="OS", value="60", ci_low="", ci_high="", unit="weeks")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 2 and "exceeds median OS" in w.message


@pytest.mark.parametrize("code", ["DFS", "QOL:global", "TTF"])
def test_unknown_outcome_code_is_a_warning_naming_the_vocabulary(tmp_path, code):
    # another review may need outcomes of its own, so the row is kept, but never silently
    (w,) = warnings_of(write(tmp_path, to_csv([row(outcome=code)])))
    assert (w.row, w.column) == (2, "outcome")
    assert repr(code) in w.message and "PFS" in w.message and "AE:" in w.message


@pytest.mark.parametrize("code", ["PFS", "CROSSOVER", "AE:G3+:hypertension", "TRAE:serious",
                                  "DOSE:reduction", "REDIFF:iodine-uptake-increase", "SD:>6mo"])
def test_vocabulary_outcome_codes_are_silent(tmp_path, code):
    rows = [row(outcome=code, measure="proportion", value="0.2", ci_low="", ci_high="",
                ci_level="", unit="")]
    assert warnings_of(write(tmp_path, to_csv(rows))) == []


def test_whole_count_value_is_accepted(tmp_path):
    rows = [row(outcome="N", measure="count", value="12", ci_low="", ci_high="", ci_level="",
                unit="")]
    assert warnings_of(write(tmp_path, to_csv(rows))) == []


def test_missing_year_is_a_warning(tmp_path):
    (w,) = warnings_of(write(tmp_path, to_csv([row(year="")])))
    assert w.row == 2 and w.column == "year" and "no publication year" in w.message


def test_two_years_in_one_study(tmp_path):
    rows = [row(), row(outcome="OS", value="30", ci_low="", ci_high="", year="2022")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 3 and w.column == "year"


def test_conflicting_values_for_one_quantity(tmp_path):
    rows = [row(), row(value="11.0")]
    (w,) = warnings_of(write(tmp_path, to_csv(rows)))
    assert w.row == 3 and "line 2" in w.message
    # a different data cut tells them apart
    assert warnings_of(write(tmp_path, to_csv([row(), row(value="11.0", data_cut="update")]))) == []


# ---- properties -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(len(GOOD_ROWS))), st.sampled_from(["\n", "\r\n"]))
def test_row_order_and_line_endings_do_not_change_validity(order, newline):
    text = to_csv([GOOD_ROWS[i] for i in order], newline=newline)
    table, problems = validate_text(text.encode(), "t.csv")
    assert table is not None and problems == []
    assert sorted(table.frame["value"]) == sorted(float(r["value"]) for r in GOOD_ROWS)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 10), st.floats(0.01, 10), st.floats(0.01, 10))
def test_value_outside_interval_is_always_an_error(a, b, c):
    lo, v, hi = a, b, c
    rows = [row(measure="hr", unit="", value=repr(v), ci_low=repr(lo), ci_high=repr(hi))]
    table, problems = validate_text(to_csv(rows).encode(), "t.csv")
    inside = lo <= v <= hi
    degenerate = hi - lo <= 1e-4 * max(lo, hi)  # zero-width and degenerate intervals are errors
    assert (table is not None) == (inside and not degenerate)


def test_shipped_table_validates():
    path = ROOT / "data" / "studies.csv"
    if not path.exists():
        pytest.skip("data/studies.csv not present")
    table = ma.read_studies(path)
    assert len(table) > 50
    # every warning on the shipped table is explained in the row's notes
    notes = dict(zip(table.frame["line"], table.frame["notes"]))
    unexplained = [str(w) for w in table.warnings if len(notes.get(w.row, "")) < 20]
    assert unexplained == []
