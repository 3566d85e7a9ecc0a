"""The report's tables as CSV files a co-author can open in a spreadsheet.

Estimates, sensitivity analyses, excluded lines and study characteristics, from the same review
objects as the page. Text that a spreadsheet would run as a formula (a trial named ``=HYPERLINK``,
a note starting with ``-``) is neutralised by :func:`metaanalysis._base.spreadsheet_safe`; numbers
stay numbers.
"""

from __future__ import annotations

from .._base import spreadsheet_safe

__all__ = ["report_tables", "csv_bytes"]


def report_tables(review) -> dict:
    """``{file name: DataFrame}`` of the tables the report exports."""
    import pandas as pd

    est = review.analysis_frame()
    est["studies"] = ["; ".join(s["study_id"] for s in g.studies()) for g in review.groups]
    est["lines"] = ["; ".join(str(l) for s in g.studies() for l in s["lines"])
                    for g in review.groups]
    sens = []
    for g in review.groups:
        if g.id not in review.sensitivity and g.id not in review.sensitivity_not_run:
            continue
        frame = review.sensitivity_frame(g.id)
        if len(frame) > 1:
            sens += [{"estimate_of": g.id, **r} for r in frame.to_dict(orient="records")]
    sensitivity = pd.DataFrame(sens, columns=["estimate_of", "analysis", "id", "k", "estimate",
                                              "ci_low", "ci_high", "pi_low", "pi_high", "i2",
                                              "tau2", "conclusion", "conclusion_changes",
                                              "note"])
    sensitivity["k"] = sensitivity["k"].astype("Int64")  # empty where a variant has no result
    excluded = review.excluded_frame()
    excluded["other_reasons"] = ["; ".join(x) for x in excluded["other_reasons"]]
    sof = pd.DataFrame(review.summary_of_findings)
    if not sof.empty:
        sof["overridden"] = ["; ".join(x) for x in sof["overridden"]]
    return {
        "summary_of_findings.csv": sof,
        "estimates.csv": est,
        "sensitivity.csv": sensitivity,
        "excluded.csv": excluded,
        "characteristics.csv": review.characteristics_frame(included_only=False),
    }


def csv_bytes(frame) -> bytes:
    """CSV bytes of ``frame`` for a spreadsheet: formula-like text neutralised, CRLF line ends."""
    return spreadsheet_safe(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8")
