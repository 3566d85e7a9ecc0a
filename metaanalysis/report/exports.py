"""Exports a co-author pastes into a manuscript: the review's tables as XLSX and DOCX.

The summary-of-findings table, the characteristics of included studies and the risk-of-bias
judgements, from the same review objects as the page: an Excel workbook (one sheet per table,
through openpyxl) and a Word document (through python-docx) with each table and its caption.

Both are ZIP packages that their libraries stamp with the time of saving (each member's date, and
the workbook's created and modified dates), so two reports of the same inputs would differ. They
are written reproducibly instead (:func:`reproducible_package`): every member dated, and the
documents' created and modified dates set, to ``SOURCE_DATE_EPOCH`` when it is set (the convention
of reproducible builds) and otherwise to 1980-01-01, the earliest date a ZIP member can carry.
"""

from __future__ import annotations

import io


__all__ = ["manuscript_tables", "xlsx_bytes", "docx_bytes", "reproducible_package"]

_SOF_COLUMNS = {"outcome": "Outcome", "therapy": "Therapy",
                "relative_effect": "Relative effect (95% CI)",
                "imprecision_interval": "Imprecision judged on (z interval, two studies)",
                "comparator": "With placebo",
                "with_therapy": "With therapy",
                "difference": "Difference",
                "comparator_median": "Median with placebo",
                "median_with_therapy": "Median with therapy (modelled)",
                "median_difference": "Median difference (modelled)",
                "reported_with_therapy": "Reported medians (therapy; placebo)",
                "participants": "Participants", "studies": "Studies",
                "certainty": "Certainty (GRADE)",
                "reasons": "Reasons for rating down (and judgements overridden, †)"}
_CHAR_COLUMNS = ("study_id", "trial", "design", "phase", "randomised", "blinding", "line",
                 "prior_vegfr_tki", "histology", "biomarker", "region", "crossover",
                 "crossover_pct", "pfs_assessor", "registry", "doi")


def manuscript_tables(review) -> dict:
    """``{title: DataFrame}``: summary of findings, characteristics, risk of bias (when assessed)."""
    import pandas as pd

    sof = pd.DataFrame(review.summary_of_findings)
    notes = []
    if not sof.empty:
        # the model behind "With therapy" and "Difference" (a hazard ratio's time point and
        # baseline): the page says it under the table, and so must a table pasted into a
        # manuscript
        if "assumption" in sof:
            notes = sorted({a for a in sof["assumption"] if isinstance(a, str) and a})
        if "extrapolated" in sof:
            notes += sorted(f"{t} extrapolated: {x}" for t, x in zip(sof["therapy"],
                                                                     sof["extrapolated"])
                            if isinstance(x, str) and x)
        if "interim" in sof:
            notes += sorted(f"{o}, {t}: from a trial reported at an interim analysis ("
                            f"{', '.join(x)}), not rated down"
                            for o, t, x in zip(sof["outcome"], sof["therapy"], sof["interim"])
                            if isinstance(x, list) and x)
        for key in ("no_absolute", "no_median"):
            if key in sof:
                notes += sorted(f"{o}, {t}: {x}" for o, t, x in zip(sof["outcome"], sof["therapy"],
                                                                   sof[key])
                                if isinstance(x, str) and x)
        # what the page puts beside the tables: eligible trials without a usable result, and
        # rules set with results in view
        for aid in dict.fromkeys(str(i).split("/")[0] for i in sof.get("id", [])):
            missing = review.missing_evidence(aid)
            if missing:
                notes.append(f"{review.protocol.analysis(aid).outcome}: eligible trials without "
                             "a usable result (a possible bias from missing results, not rated): "
                             + "; ".join(f"{m['trial']} ({m['reason']})" for m in missing))
        amendments = getattr(review.protocol, "amendments", ())
        if amendments:
            from .methods import times_word

            notes.append(f"the protocol was amended {times_word(len(amendments))} after analyses "
                         "had been run ("
                         + "; ".join(f"{a['date']}: {a['change']}" for a in amendments)
                         + "); judgements and absolute effects follow the amended rules")
        if "certainty_before_amendments" in sof:
            sof["certainty"] = [c + (f" ({b} under the rules before the amendments)"
                                     if isinstance(b, str) and b else "")
                                for c, b in zip(sof["certainty"],
                                                sof["certainty_before_amendments"])]
        sof = sof[[c for c in _SOF_COLUMNS if c in sof]].rename(columns=_SOF_COLUMNS)
        sof["Participants"] = sof["Participants"].map(lambda x: f"{x:.0f}")
    sof.attrs["notes"] = [f"{n[:1].upper()}{n[1:]}." for n in notes]
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
    """An Excel workbook with one sheet per table; text is stored as text, never as a formula.
    A table's ``attrs["notes"]`` are written under it, one blank row apart.

    A workbook's cells are typed, so text that would read as a formula (``=HYPERLINK(...)``) is
    kept as it is, in a text cell: the leading quote that a CSV needs (:func:`metaanalysis._base.spreadsheet_safe`)
    would show in every cell such as a difference of ``+4.0 months`` in the summary of findings.
    """
    import pandas as pd

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        writer.book.properties.creator = "metaanalysis"
        for title, frame in tables.items():
            frame.to_excel(writer, sheet_name=title[:31], index=False)
            sheet = writer.sheets[title[:31]]
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.data_type == "f":  # openpyxl takes any text starting with "=" for one
                        cell.data_type = "s"
            for i, note in enumerate(frame.attrs.get("notes", ())):
                # under the table, one blank row apart, as a footnote
                sheet.cell(row=len(frame) + 3 + i, column=1).value = note
    return reproducible_package(buf.getvalue())


def docx_bytes(tables: dict, *, title: str = "Tables") -> bytes:
    """A Word document with every table under its numbered caption, and its ``attrs["notes"]``
    under it."""
    import copy

    import docx
    from docx.shared import Pt
    from docx.text.run import Run

    document = docx.Document()
    props = document.core_properties
    props.author, props.title, props.comments = "metaanalysis", title, ""
    document.add_heading(title, level=1)
    templates = {}
    scratch = document.add_paragraph()
    for bold in (False, True):
        run = scratch.add_run()
        run.font.size = Pt(8)
        if bold:
            run.bold = True
        templates[bold] = run._r
    scratch._p.getparent().remove(scratch._p)
    for number, (caption, frame) in enumerate(tables.items(), start=1):
        document.add_paragraph(f"Table {number}. {caption}", style="Caption")
        # all rows at once: adding them one by one re-walks the table (a third of the time)
        table = document.add_table(rows=len(frame) + 1, cols=len(frame.columns))
        table.style = "Table Grid"
        header = [str(name) for name in frame.columns]
        records = [header, *frame.itertuples(index=False)]
        for i, (row, record) in enumerate(zip(table.rows, records)):
            template = templates[i == 0]
            for cell, value in zip(row.cells, record):
                # a copy of a formatted empty run: formatting each run through python-docx's
                # API took a third of the document's time; the XML is the same
                paragraph = cell.paragraphs[0]
                element = copy.deepcopy(template)
                paragraph._p.append(element)
                Run(element, paragraph).text = (
                    "" if value is None or value != value else str(value))
        for note in frame.attrs.get("notes", ()):
            document.add_paragraph(note).runs[0].font.size = Pt(8)
        document.add_paragraph("")
    buf = io.BytesIO()
    document.save(buf)
    return reproducible_package(buf.getvalue())


# the earliest date a ZIP member can carry
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _fixed_time() -> tuple:
    """``(date_time for ZIP members, W3CDTF text)``: SOURCE_DATE_EPOCH's time, or 1980-01-01."""
    import os
    import time

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        t = time.gmtime(max(int(epoch), 315532800))  # not before 1980-01-01, as ZIP requires
        parts = tuple(t[:6])
    else:
        parts = _ZIP_EPOCH
    return parts, "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*parts)


def reproducible_package(data: bytes) -> bytes:
    """The Office package ``data`` (XLSX, DOCX) with every member's date, and the created and
    modified dates of its core properties, set to one fixed time (see the module docstring);
    the members, their order and their compression are kept.

    Examples
    --------
    >>> a = reproducible_package(xlsx_bytes({"T": __import__("pandas").DataFrame({"x": [1]})}))
    >>> __import__("zipfile").ZipFile(io.BytesIO(a)).infolist()[0].date_time
    (1980, 1, 1, 0, 0, 0)
    """
    import re
    import zipfile

    date_time, stamp = _fixed_time()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + stamp.encode() + m.group(3), body)
            member = zipfile.ZipInfo(info.filename, date_time=date_time)
            member.compress_type = info.compress_type
            member.external_attr = info.external_attr
            member.create_system = 0  # not the platform of the machine that wrote it
            dst.writestr(member, body)
    return out.getvalue()
