"""The package's exceptions: one small hierarchy rooted at :class:`MetaAnalysisError`.

``InputError`` and ``StudyTableError`` are also ``ValueError`` and ``ConvergenceError`` is a
``RuntimeError``, so that generic code catching the built-in types keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MetaAnalysisError",
    "InputError",
    "StudyTableError",
    "ConvergenceError",
    "Problem",
]


class MetaAnalysisError(Exception):
    """Root of every error raised on purpose by :mod:`metaanalysis`."""


class InputError(MetaAnalysisError, ValueError):
    """A bad argument: says which argument (and which study index) and what would be valid."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a file: where it is and what is wrong.

    ``row`` is the line number in the file as a text editor shows it (the header is line 1);
    ``None`` when the problem concerns the whole file. ``column`` is a column name or ``None``.
    ``severity`` is ``"error"`` or ``"warning"``.
    """

    file: str
    row: int | None
    column: str | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        # path:line:column as compilers print it; parts that do not apply are left out
        where = [self.file]
        if self.row is not None:
            where.append(str(self.row))
            if self.column:
                where.append(self.column)
        elif self.column:
            where.append(self.column)
        prefix = ":".join(where)
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{prefix}: {tag}{self.message}"


class StudyTableError(MetaAnalysisError, ValueError):
    """A data file (study table, digitised curve) that cannot be used.

    ``problems`` lists every problem found, not just the first, each with file, row, column and
    message; ``str()`` prints one per line as ``path:row:column: message``.
    """

    def __init__(self, problems, warnings=()):
        self.problems = list(problems)
        self.warnings = list(warnings)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConvergenceError(MetaAnalysisError, RuntimeError):
    """An iterative estimator did not converge; the message says what was tried."""
