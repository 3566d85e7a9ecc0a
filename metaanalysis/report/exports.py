"""Exports a co-author pastes into a manuscript: the review's tables as XLSX and DOCX.

The summary-of-findings table, the characteristics of included studies and the risk-of-bias
judgements, from the same review objects as the page: an Excel workbook (one sheet per table,
through openpyxl) and a Word document (through python-docx) with each table and its caption.
"""

from __future__ import annotations

import io

from .._base import spreadsheet_safe

__all__ = ["manuscript_tables", "xlsx_bytes", "docx_bytes"]

_SOF_COLUMNS = {"outcome": "Outcome", "therapy": "Therapy",
                "relative_effect": "Relative effect (95% CI)", "comparator": "With placebo",
                "with_therapy": "With therapy", "difference": "Difference",
                "participants": "Participants", "studies": "Studies",
                "certainty": "Certainty (GRADE)", "reasons": "Reasons for rating down"}
_CHAR_COLUMNS = ("study_id", "trial", "design", "phase", "randomised", "blinding", "line",
                 "prior_vegfr_tki", "histology", "biomarker", "region", "crossover",
                 "crossover_pct", "pfs_assessor", "registry", "doi")


def manuscript_tables(review) -> dict:
    """``{title: DataFrame}``: summary of findings, characteristics, risk of bias (when assessed)."""
    import pandas as pd

    sof = pd.DataFrame(review.summary_of_findings)
    if not sof.empty:
        sof = sof[[c for c in _SOF_COLUMNS if c in sof]].rename(columns=_SOF_COLUMNS)
        sof["Participants"] = sof["Participants"].map(lambda x: f"{x:.0f}")
    chars = review.characteristics_frame(included_only=True)
    chars = chars[[c for c in _CHAR_COLUMNS if c in chars]]
    out = {"Summary of findings": sof, "Characteristics of included studies": chars}
    rob = getattr(review, "risk_of_bias", None)
    if rob is not None:
        f = rob.frame
        cols = [c for c in ("study_id", "outcome", "tool", "domain", "judgement", "support")
                if c in f]
        out["Risk of bias"] = f[cols].reset_index(drop=True)
    return out


def xlsx_bytes(tables: dict) -> bytes:
    """An Excel workbook with one sheet per table (formula-like text neutralised)."""
    import pandas as pd

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for title, frame in tables.items():
            spreadsheet_safe(frame).to_excel(writer, sheet_name=title[:31], index=False)
    return buf.getvalue()


def docx_bytes(tables: dict, *, title: str = "Tables") -> bytes:
    """A Word document with every table under its numbered caption."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.add_heading(title, level=1)
    for number, (caption, frame) in enumerate(tables.items(), start=1):
        document.add_paragraph(f"Table {number}. {caption}", style="Caption")
        # all rows at once: adding them one by one re-walks the table (a third of the time)
        table = document.add_table(rows=len(frame) + 1, cols=len(frame.columns))
        table.style = "Table Grid"
        header = [str(name) for name in frame.columns]
        records = [header, *frame.itertuples(index=False)]
        for i, (row, record) in enumerate(zip(table.rows, records)):
            for cell, value in zip(row.cells, record):
                run = cell.paragraphs[0].add_run(
                    "" if value is None or value != value else str(value))
                run.font.size = Pt(8)
                if i == 0:
                    run.bold = True
        document.add_paragraph("")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
