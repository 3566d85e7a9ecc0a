"""The vectorised validator: large tables, and the same problems as the row-by-row validator.

The validator was rewritten (issue 16) from Python loops per row and per group into column
operations. ``tests/data/validate_baseline.json`` holds the problem lists that the row-by-row
validator (commit 6732d83) printed for the tables :func:`broken_tables` builds, for a 20,000-row
table of ``benchmarks/bench_validate.py`` and for ``data/studies.csv``; the rewritten validator
must print the same lists, in the same order. Regenerate the file only from that old validator::

    git show 6732d83:metaanalysis/studies.py > /tmp/old_studies.py
    python tests/test_validate_scale.py /tmp/old_studies.py

The tables are built so that the rules added in the same round (the strict number grammar and
degenerate intervals) never fire: those change what is reported on purpose and are tested in
``tests/test_parser.py``. The one message that changed wording, "is not a number", now says what
a number looks like; its old and new forms are compared up to that sentence.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "data" / "validate_baseline.json"
SHIPPED = ROOT / "data" / "studies.csv"
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_validate import make_table  # noqa: E402

HEADER = ["study_id", "trial", "year", "design", "arm", "therapy", "comparator", "outcome",
          "measure", "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n",
          "unit", "source", "locator", "notes", "status", "data_cut", "population", "assessor",
          "time_point", "factsheet_line"]
NUMERIC = ("year", "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n",
           "time_point", "factsheet_line")
SCALE_ROWS = 20_000


def _r(**kw):
    base = dict(study_id="trial2020", trial="TRIAL", year="2020", design="rct", arm="drug",
                therapy="drug", comparator="placebo", outcome="PFS", measure="median",
                value="10.8", ci_low="9.1", ci_high="12.9", ci_level="0.95", numerator="",
                denominator="", n="100", unit="months", source="doi:10.1/x", locator="abstract",
                notes="a note long enough to explain", status="", data_cut="", population="",
                assessor="", time_point="", factsheet_line="")
    base.update(kw)
    return base


def _prop(outcome, num, den="100", arm="drug", value=None, **kw):
    v = value if value is not None else (f"{int(num) / int(den):.3f}" if num else "")
    return _r(arm=arm, outcome=outcome, measure="proportion", value=v, numerator=num,
              denominator=den, ci_low="", ci_high="", ci_level="", unit="", **kw)


def base_rows():
    """A consistent two-arm trial and a single-arm study: no problem at all."""
    pl = dict(arm="placebo", therapy="placebo", comparator="")
    return [
        _r(outcome="N", measure="count", value="100", ci_low="", ci_high="", ci_level="", unit=""),
        _r(outcome="N", measure="count", value="98", n="98", ci_low="", ci_high="", ci_level="",
           unit="", **pl),
        _r(),
        _r(value="5.8", ci_low="4.6", ci_high="7.3", n="98", **pl),
        _r(outcome="OS", value="20.1", ci_low="17.0", ci_high="23.8"),
        _r(outcome="OS", value="15.2", ci_low="12.6", ci_high="18.3", n="98", **pl),
        _r(arm="drug vs placebo", measure="hr", value="0.59", ci_low="0.45", ci_high="0.77",
           unit="", n="198"),
        _prop("ORR", "20"), _prop("CR", "5"), _prop("PR", "15"), _prop("SD", "50"),
        _prop("DCR", "70"),
        _r(outcome="OS", measure="rate", value="0.62", ci_low="0.52", ci_high="0.71",
           time_point="12"),
        _r(outcome="AE:G3+", measure="count", value="30", ci_low="", ci_high="", ci_level="",
           unit="", population="safety"),
        _r(outcome="FU", measure="median", value="24", ci_low="", ci_high="", ci_level=""),
        _r(study_id="single2019", trial="SINGLE", year="2019", design="single-arm", arm="drug",
           comparator="", outcome="PFS", value="", status="not_reached", ci_low="10.9",
           ci_high="", n="40"),
        _r(study_id="single2019", trial="SINGLE", year="2019", design="single-arm", comparator="",
           outcome="ORR", measure="count", value="12", ci_low="", ci_high="", ci_level="",
           unit="", n="40"),
        _r(study_id="single2019", trial="SINGLE", year="2019", design="single-arm", comparator="",
           outcome="CR", measure="count", value="2", ci_low="", ci_high="", ci_level="", unit="",
           n="40"),
        _r(study_id="single2019", trial="SINGLE", year="2019", design="single-arm", comparator="",
           outcome="PR", measure="count", value="10", ci_low="", ci_high="", ci_level="",
           unit="", n="40"),
    ]


# (name, {row index: overrides}) applied to base_rows(); extra rows are appended with key "+".
_EDITS = [
    ("good", {}),
    # errors, one rule at a time, on a ratio, a median, a proportion and a count row
    ("text in value", {6: dict(value="ten")}),
    ("text in year", {2: dict(year="20x0")}),
    ("text in every numeric column", {7: {c: "x" for c in NUMERIC}}),
    ("n not whole", {2: dict(n="12.5")}),
    ("numerator not whole", {8: dict(numerator="5.5")}),
    ("year not whole", {0: dict(year="2020.5")}),
    ("factsheet_line not whole", {0: dict(factsheet_line="3.5")}),
    ("above interval", {2: dict(value="13.0")}),
    ("below interval", {6: dict(value="0.40")}),
    ("reversed", {6: dict(ci_low="0.77", ci_high="0.45")}),
    ("reversed and outside", {2: dict(ci_low="12.9", ci_high="9.1", value="20")}),
    ("ci_level percent", {2: dict(ci_level="95")}),
    ("ci_level one", {2: dict(ci_level="1")}),
    ("ci_level alpha", {6: dict(ci_level="0.05")}),
    ("ci_level 150", {6: dict(ci_level="150")}),
    ("no ci_level", {6: dict(ci_level="")}),
    ("no ci_level one bound", {6: dict(ci_level="", ci_high="")}),
    ("ci_level text", {6: dict(ci_level="95%")}),
    ("negative hr", {6: dict(value="-0.5", ci_low="", ci_high="", ci_level="")}),
    ("zero hr bound", {6: dict(ci_low="0")}),
    ("zero median", {2: dict(value="0", ci_low="", ci_high="")}),
    ("zero median low bound allowed", {2: dict(ci_low="0")}),
    ("negative mean", {2: dict(measure="mean", value="-1", ci_low="-3", ci_high="1")}),
    ("proportion percent", {7: dict(value="20", numerator="", denominator="")}),
    ("proportion above 100", {7: dict(value="250", numerator="", denominator="")}),
    ("proportion negative", {7: dict(value="-0.1", numerator="", denominator="")}),
    ("proportion bounds", {7: dict(ci_low="-0.1", ci_high="1.5", ci_level="0.95")}),
    ("rate out of range", {12: dict(value="62", ci_low="52", ci_high="71")}),
    ("numerator above denominator", {7: dict(numerator="120")}),
    ("zero denominator", {7: dict(denominator="0", numerator="0", value="0")}),
    ("negative counts", {7: dict(numerator="-1", denominator="-5", n="-3")}),
    ("negative count value", {0: dict(value="-4")}),
    ("empty ids", {2: dict(study_id="", outcome="", measure="", source="", design="")}),
    ("bad design", {2: dict(design="phase 2")}),
    ("bad measure", {2: dict(measure="average")}),
    ("bad status", {2: dict(status="maybe")}),
    ("bad unit", {2: dict(unit="fortnights")}),
    ("median without unit", {2: dict(unit="")}),
    ("AE median without unit ok", {14: dict(outcome="AE:time-to-onset", unit="")}),
    ("rate without time_point", {12: dict(time_point="")}),
    ("year implausible", {2: dict(year="1620")}),
    ("year future", {2: dict(year="2150")}),
    ("value empty", {2: dict(value="")}),
    ("not reached with value", {15: dict(value="12")}),
    ("duplicate row", {"+": [2]}),
    ("two duplicates", {"+": [2, 6, 2]}),
    ("many errors one row", {6: dict(value="x", year="1500", design="?", measure="hr", unit="lb",
                                     ci_level="95", n="-2", source="")}),
    ("errors on several rows", {2: dict(value="x"), 4: dict(ci_level="95"), 9: dict(source="")}),
    ("error and missing-year warning", {2: dict(value="x"), 3: dict(year="")}),
    # warnings
    ("missing year", {3: dict(year="")}),
    ("percentage disagrees (denominator)", {9: dict(value="0.18")}),
    ("percentage disagrees (n)", {9: dict(denominator="", n="60", value="0.31")}),
    ("percentage disagrees, no denominator fits", {9: dict(value="0.99")}),
    ("percentage agrees within rounding", {9: dict(value="0.2", numerator="8",
                                                    denominator="", n="40")}),
    ("ORR not CR+PR counts", {7: dict(numerator="22", value="0.220")}),
    ("DCR not ORR+SD counts", {11: dict(numerator="75", value="0.750")}),
    ("ORR not CR+PR proportions only", {7: dict(numerator="", denominator="", value="0.25"),
                                         8: dict(numerator="", denominator=""),
                                         9: dict(numerator="", denominator="")}),
    ("proportions within rounding", {7: dict(numerator="", denominator="", value="0.2"),
                                      8: dict(numerator="", denominator="", value="0.05"),
                                      9: dict(numerator="", denominator="", value="0.15")}),
    ("count rows sum", {16: dict(value="13")}),
    ("sum check by data cut", {"+": [dict(_prop("ORR", "30"), data_cut="update")]}),
    ("not reported status skipped", {7: dict(numerator="22", value="0.220"),
                                     "+": [dict(_prop("ORR", "40"), arm="x")]}),
    ("asymmetric median", {2: dict(value="18", ci_low="7", ci_high="29")}),
    ("asymmetric hr", {6: dict(value="0.59", ci_low="0.30", ci_high="0.80")}),
    ("asymmetric within rounding", {6: dict(value="0.6", ci_low="0.4", ci_high="0.9")}),
    ("asymmetric one bound equal", {2: dict(value="9.1", ci_low="9.1", ci_high="29")}),
    ("PFS above OS", {2: dict(value="22", ci_low="", ci_high="")}),
    ("PFS above OS in weeks", {2: dict(value="90", unit="weeks", ci_low="", ci_high="")}),
    ("PFS above OS in days and years", {2: dict(value="400", unit="days", ci_low="", ci_high=""),
                                        4: dict(value="1", unit="years", ci_low="", ci_high="")}),
    ("PFS above two OS", {"+": [_r(outcome="OS", value="9", ci_low="", ci_high="",
                                   data_cut="interim"),
                                _r(outcome="OS", value="8", ci_low="", ci_high="",
                                   data_cut="early")]}),
    ("PFS vs OS other population", {2: dict(value="22", ci_low="", ci_high="",
                                            population="evaluable")}),
    ("two years", {4: dict(year="2022")}),
    ("three years", {4: dict(year="2022"), 6: dict(year="2018"), 7: dict(year="2022")}),
    ("conflicting values", {"+": [dict(_r(), value="11.0", ci_low="", ci_high="")]}),
    ("conflicting values three", {"+": [dict(_r(), value="11.0", ci_low="", ci_high=""),
                                        dict(_r(), value="12.0", ci_low="", ci_high="")]}),
    ("same value twice is fine", {"+": [dict(_r(), notes="again")]}),
    ("conflict told apart by cut", {"+": [dict(_r(), value="11.0", data_cut="update")]}),
    ("conflict in rate time points", {"+": [dict(base_rows()[12], value="0.5", ci_low="0.4",
                                                 ci_high="0.6", time_point="24"),
                                            dict(base_rows()[12], value="0.5", ci_low="0.4",
                                                 ci_high="0.6", notes="x")]}),
    ("warnings stacked on one line", {2: dict(value="25", ci_low="7", ci_high="29",
                                              year="2021"),
                                      "+": [dict(_r(), value="11.0", ci_low="", ci_high="")]}),
    ("disagreeing total in sum check", {7: dict(value="0.3")}),
]


def _table(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _degenerate(rows):
    """Whether a row holds an interval that the degenerate-interval rule (issue 16) refuses."""
    num = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
    for r in rows:
        lo, hi = r.get("ci_low", ""), r.get("ci_high", "")
        if num.fullmatch(lo) and num.fullmatch(hi):
            a, b = float(lo), float(hi)
            if a <= b and b - a <= 1e-4 * max(abs(a), abs(b)):
                return True
    return False


_POOL_NUMBER = ["", "0", "-1", "0.5", "1", "1.5", "2", "12", "12.5", "95", "100", "1e3", "2100",
                "1899", "abc", "0.95", "0.05", "7", "300", "0.20", "9.1", "12.9", "40"]
_POOL_TEXT = {
    "study_id": ["", "trial2020", "single2019", "other"],
    "design": ["", "rct", "single-arm", "phase 2"],
    "arm": ["drug", "placebo", "drug vs placebo", "x"],
    "outcome": ["", "PFS", "OS", "ORR", "CR", "PR", "SD", "DCR", "AE:G3+", "DOSE:reduction"],
    "measure": ["", "median", "mean", "hr", "proportion", "count", "rate", "average"],
    "unit": ["", "months", "weeks", "days", "years", "fortnights"],
    "status": ["", "reported", "not_reached", "maybe"],
    "data_cut": ["", "primary", "update"],
    "population": ["", "itt", "evaluable"],
    "assessor": ["", "central", "investigator"],
    "source": ["", "doi:10.1/x"],
}


# plausible values only: these tables mostly pass and exercise the consistency warnings
_POOL_SOFT = {
    "value": ["0.1", "0.15", "0.2", "0.25", "0.5", "0.7", "5", "9", "12", "20", "30", "13"],
    "numerator": ["", "5", "10", "15", "20", "22", "50", "70"],
    "denominator": ["", "40", "80", "100"],
    "n": ["40", "98", "100", "200"],
    "year": ["", "2019", "2020", "2021"],
    "outcome": ["PFS", "OS", "ORR", "CR", "PR", "SD", "DCR"],
    "arm": ["drug", "placebo"],
    "data_cut": ["", "primary", "update"],
    "population": ["", "itt", "evaluable"],
    "assessor": ["", "central"],
    "unit": ["months", "weeks", "days", "years"],
    "time_point": ["", "6", "12"],
}


def _random_tables(n=160, seed=16):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        rows = base_rows()
        soft = len(out) % 2 == 1
        pools = _POOL_SOFT if soft else dict(_POOL_TEXT, **{c: _POOL_NUMBER for c in NUMERIC})
        for _ in range(rng.randint(1, 5)):
            i = rng.randrange(len(rows))
            c = rng.choice(sorted(pools))
            rows[i] = dict(rows[i], **{c: rng.choice(pools[c])})
        if rng.random() < 0.3:
            rows.append(dict(rows[rng.randrange(len(rows))]))
        if rng.random() < 0.2:
            rng.shuffle(rows)
        if _degenerate(rows):
            continue
        out.append((f"random {len(out)}", _table(rows)))
    return out


def broken_tables():
    """``[(name, csv text)]``: every rule broken on purpose, alone, stacked and at random."""
    out = []
    for name, edits in _EDITS:
        rows = base_rows()
        for key, change in edits.items():
            if key == "+":
                for extra in change:
                    rows.append(dict(rows[extra]) if isinstance(extra, int) else extra)
            else:
                rows[key] = dict(rows[key], **change)
        assert not _degenerate(rows), name
        out.append((name, _table(rows)))
    return out + _random_tables()


def as_records(problems):
    return [[p.row, p.column, p.severity, p.message] for p in problems]


_NOT_A_NUMBER = re.compile(r"^('.*?'|\".*?\") is not a number\b.*$", re.S)


def _comparable(records):
    """Records with the "is not a number" sentence cut to its start (its wording changed)."""
    return [[row, col, sev, _NOT_A_NUMBER.sub(r"\1 is not a number", msg)]
            for row, col, sev, msg in records]


def _median_rule_changed(text, records):
    """The baseline as the rule for medians now stands (issue 14: fewer, truer warnings).

    The row-by-row validator flagged medians asymmetric on the log scale; medians are now flagged
    only when a bound is more than five times (or under a fifth of) the median. Applied here from
    the CSV text alone, row by row, so that the vectorised validator is still checked against an
    independent reading of every table.
    """
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text.decode() if isinstance(text, bytes) else text)))
    medians, far = set(), []
    for line, r in enumerate(rows, start=2):
        if r.get("measure", "").strip() != "median":
            continue
        medians.add(line)
        try:
            v = float(r["value"])
        except ValueError:
            continue
        lo = float(r["ci_low"]) if r["ci_low"].strip() else None
        hi = float(r["ci_high"]) if r["ci_high"].strip() else None
        if v > 0 and hi is not None and hi > 5 * v:
            far.append([line, "ci_high", "warning", f"the bound {hi:g} is more than 5 times the "
                        f"median {v:g}; a slipped decimal point or a bound in another unit?"])
        elif v > 0 and lo is not None and 0 < lo < v / 5:
            far.append([line, "ci_low", "warning", f"the bound {lo:g} is more than 5 times "
                        f"smaller than the median {v:g}; a slipped decimal point or a bound in "
                        "another unit?"])
    if any(r[2] == "error" for r in records):
        return records  # warnings are only computed for tables without errors
    kept = [r for r in records if not (r[0] in medians and "asymmetric on the log scale" in r[3])]
    return sorted(kept + far, key=lambda r: (r[0] or 0, r[2] != "error"))


BASELINE_COMMIT = "6732d83"


def _shipped_at_baseline():
    """``data/studies.csv`` as committed when the baseline was taken (None without git)."""
    import subprocess

    try:
        return subprocess.run(["git", "show", f"{BASELINE_COMMIT}:data/studies.csv"], cwd=ROOT,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _capture(validate_text):
    cases = {name: as_records(validate_text(text.encode(), "t.csv")[1])
             for name, text in broken_tables()}
    big = make_table(SCALE_ROWS)
    shipped = _shipped_at_baseline()
    return {
        "generated_by": f"the row-by-row validator of commit {BASELINE_COMMIT}",
        "cases": cases,
        "scale": {"rows": SCALE_ROWS, "sha256": hashlib.sha256(big).hexdigest(),
                  "problems": as_records(validate_text(big, "big.csv")[1])},
        "shipped": {"sha256": hashlib.sha256(shipped).hexdigest(),
                    "problems": as_records(validate_text(shipped, "data/studies.csv")[1])},
    }


# --------------------------------------------------------------------------------------------
# tests


@pytest.fixture(scope="module")
def baseline():
    return json.loads(BASELINE.read_text())


def test_every_case_is_in_the_baseline(baseline):
    names = [name for name, _ in broken_tables()]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(baseline["cases"])


_VOCABULARY = {"PFS", "OS", "ORR", "DCR", "CR", "PR", "SD", "PD", "FU", "DOR", "N", "DEATHS",
               "CROSSOVER"}
_NAMESPACES = {"AE", "TRAE", "DOSE", "REDIFF", "DEATHS", "SD", "ORR"}


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return math.nan


def _added_rules(text, has_errors=False):
    """``{(line, column, severity)}`` of the rules added after the baseline, read row by row.

    A count whose value is not whole, outcome codes outside data/README.md's vocabulary (an
    error for a known code in another case or a bare namespace, a warning otherwise), a ratio row
    without its therapy or comparator (an error), and, on a table without errors (the checks
    that warn run only then), a denominator above n and a ratio with one bound of its interval.
    """
    rows = list(csv.DictReader(io.StringIO(text.decode() if isinstance(text, bytes) else text)))
    out = set()
    for line, r in enumerate(rows, start=2):
        ratio = r["measure"].strip() in ("hr", "or", "rr")
        for c in ("therapy", "comparator"):
            if ratio and not r[c].strip():
                out.add((line, c, "error"))
        if not has_errors:
            if _number(r["denominator"]) > _number(r["n"]):
                out.add((line, "denominator", "warning"))
            lo, hi = (bool(r[c].strip()) for c in ("ci_low", "ci_high"))
            if ratio and lo != hi and r["value"].strip():
                out.add((line, "ci_low" if hi else "ci_high", "warning"))
        try:
            v = float(r["value"])
        except ValueError:
            v = math.nan
        if r["measure"].strip() == "count" and math.isfinite(v) and v != int(v):
            out.add((line, "value", "error"))
        code = r["outcome"].strip()
        space, colon, detail = code.partition(":")
        if not code or code in _VOCABULARY or (colon and space in _NAMESPACES and detail):
            continue
        slip = (space if colon else code).upper() in (_NAMESPACES if colon else _VOCABULARY)
        out.add((line, "outcome", "error" if slip else "warning"))
    return out


def _is_added_rule(record):
    _, column, _, message = record
    return (column == "value" and message.startswith("a count must be a whole number")
            or column == "outcome" and not message.startswith("is empty")
            or "compares a therapy with its comparator" in message
            or "more than the arm's n" in message or "from the one bound alone" in message)


@pytest.mark.parametrize("name, text", [pytest.param(n, t, id=n) for n, t in broken_tables()])
def test_same_problems_as_the_row_by_row_validator(baseline, name, text):
    from metaanalysis.studies import validate_text

    got = as_records(validate_text(text.encode(), "t.csv")[1])
    has_errors = any(r[2] == "error" for r in got)
    added = [r for r in got if _is_added_rule(r)]
    got = [r for r in got if not _is_added_rule(r)]
    expected = _median_rule_changed(text, baseline["cases"][name])
    if any(r[2] == "error" for r in added) and not any(r[2] == "error" for r in expected):
        # an added rule's error now rejects a table the baseline only warned about, and the
        # checks across rows run only on tables without errors: the row warnings remain
        expected = [r for r in expected if r[1] == "year" and "no publication year" in r[3]]
    assert _comparable(got) == _comparable(expected)
    assert {(r[0], r[1], r[2]) for r in added} == _added_rules(text, has_errors)


def test_shipped_table_has_the_same_problems(baseline):
    from metaanalysis.studies import validate_text

    data = SHIPPED.read_bytes()
    if hashlib.sha256(data).hexdigest() != baseline["shipped"]["sha256"]:
        # the table has grown since: check the version the baseline was taken on
        data = _shipped_at_baseline()
        if data is None or hashlib.sha256(data).hexdigest() != baseline["shipped"]["sha256"]:
            pytest.skip(f"data/studies.csv as of {BASELINE_COMMIT} is not available (no git)")
    got = as_records(validate_text(data, "data/studies.csv")[1])
    added = [r for r in got if _is_added_rule(r)]
    assert {(r[0], r[1], r[2]) for r in added} == _added_rules(data)
    got = [r for r in got if not _is_added_rule(r)]
    assert got == _median_rule_changed(data, baseline["shipped"]["problems"])


def test_large_table_validates_with_the_same_warnings(baseline):
    from metaanalysis.studies import validate_text

    data = make_table(SCALE_ROWS)
    assert hashlib.sha256(data).hexdigest() == baseline["scale"]["sha256"], \
        "make_table changed: regenerate the baseline"
    table, problems = validate_text(data, "big.csv")
    assert table is not None and len(table) == SCALE_ROWS
    assert as_records(problems) == _median_rule_changed(data, baseline["scale"]["problems"])
    assert all(p.severity == "warning" for p in problems) and len(problems) > 5
    # the frame holds the numbers as written
    frame = table.frame
    assert frame["line"].tolist() == list(range(2, SCALE_ROWS + 2))
    assert frame["value"].notna().all()
    assert math.isclose(float(frame["value"].iloc[0]), float(data.split(b"\n")[1].split(b",")[9]))


if __name__ == "__main__":
    # python tests/test_validate_scale.py OLD_STUDIES_PY: write the baseline with that validator
    import importlib.util

    spec = importlib.util.spec_from_file_location("metaanalysis._old_studies", sys.argv[1],
                                                  submodule_search_locations=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    BASELINE.parent.mkdir(exist_ok=True)
    BASELINE.write_text(json.dumps(_capture(module.validate_text), indent=1) + "\n")
    print(f"wrote {BASELINE}")
