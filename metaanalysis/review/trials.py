"""Study characteristics: ``data/trials.csv``, one line per study, joined to the table by ``study_id``.

Design, line of therapy, histology, biomarker, crossover and the rest decide which studies an
analysis may pool (the protocol's eligibility) and fill the report's "Characteristics of included
studies". Like the study table, every fact has its source and locator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._base import frame_field, frozen_field
from ..errors import Problem, StudyTableError

__all__ = ["TrialsTable", "read_trials", "TRIAL_COLUMNS", "VOCABULARY"]

TRIAL_COLUMNS = ("study_id", "design", "phase", "randomised", "blinding", "line",
                 "prior_vegfr_tki", "histology", "biomarker", "region", "crossover",
                 "crossover_pct", "pfs_assessor", "data_cuts", "registry", "doi", "source",
                 "locator")
# Closed vocabularies ("" = not reported); data/README.md explains each value.
VOCABULARY = {
    "design": ("rct", "single-arm", "retrospective", "prospective-cohort"),
    "phase": ("", "1", "1/2", "2", "3", "observational"),
    "randomised": ("yes", "no"),
    "blinding": ("", "double-blind", "open-label"),
    "control": ("", "placebo", "active", "none"),
    "line": ("", "first", "second", "first-or-second", "any"),
    "histology": ("", "DTC", "PTC", "mixed"),
    "crossover": ("", "yes", "no"),
    "pfs_assessor": ("", "central", "investigator"),
}


@dataclass(frozen=True, eq=False)
class TrialsTable:
    """The validated characteristics table (a DataFrame of text cells, plus the file line)."""

    frame: object = frame_field()
    path: str
    warnings: list = frozen_field([])

    def of(self, study_id: str) -> dict:
        """The characteristics of one study as a dict (KeyError if absent)."""
        f = self.frame
        rows = f[f["study_id"] == study_id]
        if rows.empty:
            raise KeyError(study_id)
        return rows.iloc[0].to_dict()

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"<TrialsTable {self.path!r}: {len(self.frame)} studies>"

    _SHOWN = ("study_id", "trial", "design", "line", "histology", "pfs_assessor")

    def to_frame(self):
        """A copy of the table (text cells, with the file's line numbers)."""
        return self.frame

    def summary(self) -> str:
        cols = [c for c in self._SHOWN if c in self.frame]
        return (f"Trial characteristics {self.path}: {len(self.frame)} studies\n\n"
                + self.frame[cols].to_string(index=False))

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        cols = [c for c in self._SHOWN if c in self.frame]
        return (f"<p>{html.escape(repr(self))}</p>"
                + self.frame[cols].to_html(index=False, escape=True, max_rows=40))


def read_trials(path, *, studies=None) -> TrialsTable:
    """Read and validate ``trials.csv``.

    Parameters
    ----------
    path : path-like
    studies : StudyTable or iterable of str, optional
        The study table (or its study ids): a study there without a line here is an error; a
        line here for a study the table does not have is a warning.

    Raises
    ------
    StudyTableError
        Every problem, with file, line and column.

    Examples
    --------
    >>> trials = read_trials("data/trials.csv")                 # doctest: +SKIP
    >>> trials.of("decision")["line"]                           # doctest: +SKIP
    'first'
    """
    import pandas as pd

    from ..studies import header_problems
    from ._files import csv_records, csv_rows, read_text

    name, text = read_text(path, missing="file not found: the study characteristics "
                                         "(data/README.md) are needed to decide eligibility")
    records = csv_records(name, text)
    header = [h.strip() for h in records[0][1]]
    problems = header_problems(name, records[0][0], header)
    if problems:
        # a repeated column would make two columns of one name in the frame behind the report
        raise StudyTableError(problems)
    missing = [c for c in TRIAL_COLUMNS if c not in header]
    if missing:
        raise StudyTableError([Problem(name, 1, None, "missing column(s): " + ", ".join(missing)
                                       + "; the header must name all of: "
                                       + ", ".join(TRIAL_COLUMNS))])
    rows, seen, cautions = [], {}, []
    for line, r in csv_rows(name, records, header, problems):
        sid = r["study_id"]
        if not sid:
            problems.append(Problem(name, line, "study_id", "is empty"))
            continue
        if sid in seen:
            problems.append(Problem(name, line, "study_id", f"{sid!r} already has line "
                                    f"{seen[sid]}; one line per study"))
        seen[sid] = line
        for col, allowed in VOCABULARY.items():
            if col in r and r[col] not in allowed:
                problems.append(Problem(name, line, col, f"{r[col]!r} is not allowed; use one of "
                                        + ", ".join(repr(a) for a in allowed)))
        if r["design"] == "rct" and r["randomised"] != "yes":
            problems.append(Problem(name, line, "randomised", "a study whose design is rct must "
                                    "have randomised = yes"))
        if r["crossover_pct"]:
            from ..errors import InputError
            from ..studies import parse_number

            try:
                v = parse_number(r["crossover_pct"])
            except InputError:
                v = None
            if v is None or not 0 <= v <= 100:
                problems.append(Problem(name, line, "crossover_pct", f"{r['crossover_pct']!r} is "
                                        "not a percentage in [0, 100]"))
            elif r["crossover"] != "yes":
                problems.append(Problem(name, line, "crossover_pct", f"{r['crossover_pct']!r} "
                                        f"with crossover {r['crossover']!r}: a share of patients "
                                        "who crossed over needs crossover = yes"))
            elif 0 < v < 1:
                # the caveats print it as a percentage: 0.83 would read as 0.83 %, not 83 %
                cautions.append(Problem(name, line, "crossover_pct", f"{v:g} is under 1 %: "
                                        f"crossover_pct is a percentage; write {100 * v:g} if "
                                        f"{v:g} is a fraction", "warning"))
        if not r["source"]:
            problems.append(Problem(name, line, "source", "is empty: every characteristic needs "
                                    "its source"))
        r["line_no"] = line
        rows.append(r)
    warnings = cautions
    if studies is not None:
        ids = list(getattr(studies, "studies", studies))
        for sid in ids:
            if sid not in seen:
                problems.append(Problem(name, None, "study_id", f"study {sid!r} of the study table "
                                        "has no line here; add its characteristics"))
        for sid, line in seen.items():
            if sid not in set(ids):
                warnings.append(Problem(name, line, "study_id", f"{sid!r} is not in the study "
                                        "table", "warning"))
    if problems:
        raise StudyTableError(problems, warnings)
    frame = pd.DataFrame(rows, columns=[*header, "line_no"])
    return TrialsTable(frame, name, warnings)
