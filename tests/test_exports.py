"""Manuscript exports: the DOCX opens with python-docx and holds the summary-of-findings table; the
XLSX opens with openpyxl with one sheet per table; text that a spreadsheet would run is neutralised."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from metaanalysis.report.exports import docx_bytes, manuscript_tables, xlsx_bytes
from metaanalysis.review import run_review

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    return manuscript_tables(run_review(ROOT / "data" / "studies.csv"))


def test_docx_holds_the_summary_of_findings(tables):
    import docx

    doc = docx.Document(io.BytesIO(docx_bytes(tables, title="RAIR-DTC")))
    captions = [p.text for p in doc.paragraphs if p.text.startswith("Table ")]
    assert captions[0] == "Table 1. Summary of findings"
    sof = doc.tables[0]
    header = [c.text for c in sof.rows[0].cells]
    assert header[:3] == ["Outcome", "Therapy", "Relative effect (95% CI)"]
    expected = tables["Summary of findings"]
    assert len(sof.rows) == len(expected) + 1
    first = [c.text for c in sof.rows[1].cells]
    assert first[1] == expected["Therapy"].iloc[0]
    assert first[2] == expected["Relative effect (95% CI)"].iloc[0]
    assert first[header.index("Certainty (GRADE)")] in ("high", "moderate", "low", "very low")
    # a hazard ratio's risks by the time point, then its modelled medians in their own columns
    assert header.index("With therapy") < header.index("Median with therapy (modelled)")
    row = dict(zip(header, [c.text for c in sof.rows[1].cells]))
    assert row["With placebo"].endswith("progressed or died by 12 months")
    assert row["Median with therapy (modelled)"].startswith("median ")
    # the model behind "With therapy" is said under the table, as on the page
    notes = tables["Summary of findings"].attrs["notes"]
    assert any("assuming exponential survival" in n and "proportional hazards" in n
               for n in notes)
    texts = [p.text for p in doc.paragraphs]
    assert all(n in texts for n in notes)
    # and, as the page does, the eligible trials without a result and the protocol's amendments
    assert any(n.startswith("AE:G3+: eligible trials without a usable result") and
               "Study 308 (no AE:G3+ row in the study table)" in n for n in notes)
    assert any(n.startswith("The protocol was amended 6 times") for n in notes)


def test_xlsx_has_a_sheet_per_table(tables):
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(tables)))
    assert wb.sheetnames[:2] == ["Summary of findings", "Characteristics of included stu"]  # 31 chars
    sheet = wb["Summary of findings"]
    notes = tables["Summary of findings"].attrs["notes"]
    assert notes and sheet.max_row == len(tables["Summary of findings"]) + 2 + len(notes)
    assert [sheet.cell(row=len(tables["Summary of findings"]) + 3 + i, column=1).value
            for i in range(len(notes))] == notes
    # every cell holds the table's own text: no quote in front of "+4.0 months (...)"
    frame = tables["Summary of findings"]
    col = list(frame.columns).index("Difference") + 1
    got = [sheet.cell(row=i + 2, column=col).value for i in range(len(frame))]
    assert got == [None if v is None else v for v in frame["Difference"]]
    assert any(isinstance(v, str) and v.startswith("+") for v in got)


def test_xlsx_neutralises_formulas():
    import openpyxl

    frame = pd.DataFrame({"trial": ["=HYPERLINK(\"http://x\")", "A"], "hr": [-0.5, 0.7]})
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes({"t": frame})))
    ws = wb["t"]
    # kept as typed, in a text cell: a workbook's cells are typed, so no quote is needed
    assert ws["A2"].value == "=HYPERLINK(\"http://x\")" and ws["A2"].data_type == "s"
    assert ws["B2"].value == -0.5 and ws["B2"].data_type == "n"


@pytest.mark.parametrize("make", [xlsx_bytes, docx_bytes], ids=["xlsx", "docx"])
def test_exports_are_the_same_bytes_whenever_they_are_written(make, monkeypatch):
    import datetime
    import time
    import zipfile

    frame = {"Summary of findings": pd.DataFrame({"Outcome": ["PFS"], "Studies": [2]})}
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = make(frame)
    # an hour later (ZIP members carry the time of saving, openpyxl its created and modified dates)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)

    real = datetime.datetime

    class Later(real):
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + datetime.timedelta(hours=1)

        @classmethod
        def utcnow(cls):
            return real.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)

    monkeypatch.setattr(datetime, "datetime", Later)
    assert make(frame) == first
    package = zipfile.ZipFile(io.BytesIO(first))
    assert {m.date_time for m in package.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    core = package.read("docProps/core.xml").decode()
    assert core.count("1980-01-01T00:00:00Z") == 2 and "metaanalysis" in core


def test_exports_take_source_date_epoch(monkeypatch):
    import zipfile

    import docx
    import openpyxl

    frame = {"t": pd.DataFrame({"x": [1]})}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(frame)))
    assert wb.properties.created.isoformat().startswith("2023-11-14T22:13:20")
    data = docx_bytes(frame)
    assert docx.Document(io.BytesIO(data)).core_properties.modified.isoformat().startswith(
        "2023-11-14T22:13:20")
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)
