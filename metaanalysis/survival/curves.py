"""Digitised Kaplan-Meier curves on disk: reader, validator, writer and the :class:`DigitisedCurve`.

A curve is two files side by side (the format is documented in ``data/curves/README.md``)::

    <name>.clicks.csv   the points as WebPlotDigitizer exports them: two columns x,y, header optional
    <name>.meta.csv     key,value lines: study_id, arm, time_unit, scale, risk_times, n_risk, ...

:func:`read_curve` checks both files the way the study table is checked: every problem is collected
and raised together in a :class:`~metaanalysis.errors.StudyTableError`, each naming the file, the
line (as an editor counts it) and the key or column.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._base import ResultMixin, frozen_field, readonly
from ..errors import InputError, Problem, StudyTableError
from ..studies import _number_or_reason

__all__ = ["DigitisedCurve", "read_curve", "write_curve", "curve_problems", "TIME_UNITS"]

TIME_UNITS = ("days", "weeks", "months", "years")
SCALES = ("fraction", "percent")
REQUIRED_KEYS = ("study_id", "arm", "time_unit", "scale", "n_risk")
OPTIONAL_KEYS = (
    "risk_times",
    "total_events",
    "outcome",
    "source",
    "locator",
    "notes",
    "clicks",
    "digitised_by",
    "licence",
)
CLICKS_SUFFIX = ".clicks.csv"
META_SUFFIX = ".meta.csv"
_SURV_SLACK = 0.05


@dataclass(frozen=True, eq=False, repr=False)
class DigitisedCurve(ResultMixin):
    """One digitised Kaplan-Meier curve with its number-at-risk table and provenance.

    ``t`` and ``s`` are the points as digitised (survival on the file's ``scale``); pass the curve
    to :meth:`reconstruct` (or its fields to :func:`~metaanalysis.survival.reconstruct_ipd`).
    """

    t: np.ndarray
    s: np.ndarray
    risk_times: np.ndarray | None
    n_risk: np.ndarray
    total_events: int | None = None
    study_id: str = ""
    arm: str = ""
    outcome: str = ""
    time_unit: str = "months"
    scale: str = "fraction"
    source: str = ""
    locator: str = ""
    notes: str = ""
    path: str = ""
    extra: dict = frozen_field({})
    # the clicks file read_curve read (the meta file's ``clicks`` key may name another than
    # <stem>.clicks.csv): with ``path`` the curve's own files, which nothing may write over
    clicks_path: str = ""

    def __post_init__(self):
        object.__setattr__(self, "t", readonly(self.t))
        object.__setattr__(self, "s", readonly(self.s))
        object.__setattr__(self, "n_risk", readonly(self.n_risk))
        if self.risk_times is not None:
            object.__setattr__(self, "risk_times", readonly(self.risk_times))

    @property
    def n(self) -> int:
        """Patients at the start (the risk table's first number)."""
        return int(self.n_risk[0])

    def reconstruct(self, *, use_total_events: bool = True, **kwargs):
        """Reconstruct the patient data; returns a :class:`~metaanalysis.survival.Reconstruction`.

        ``use_total_events=False`` ignores the file's ``total_events``; other keyword arguments go to
        :func:`~metaanalysis.survival.reconstruct_ipd`.
        """
        from .reconstruct import reconstruct_ipd

        kwargs.setdefault("scale", self.scale)
        return reconstruct_ipd(
            self.t,
            self.s,
            self.risk_times,
            self.n_risk,
            self.total_events if use_total_events else None,
            return_result=True,
            **kwargs,
        )

    def to_dict(self) -> dict:
        return {
            "study_id": self.study_id,
            "arm": self.arm,
            "outcome": self.outcome,
            "time_unit": self.time_unit,
            "scale": self.scale,
            "source": self.source,
            "locator": self.locator,
            "notes": self.notes,
            "n": self.n,
            "total_events": self.total_events,
            "n_points": int(len(self.t)),
            "risk_times": None if self.risk_times is None else self.risk_times.tolist(),
            "n_risk": [int(x) for x in self.n_risk],
            "t": self.t.tolist(),
            "s": self.s.tolist(),
        }

    def _short(self) -> str:
        return f"{self.study_id} {self.arm} n={self.n} points={len(self.t)}"

    def summary(self) -> str:
        rt = "-" if self.risk_times is None else " ".join(f"{x:g}" for x in self.risk_times)
        lines = [
            f"Digitised Kaplan-Meier curve: {self.study_id} / {self.arm}"
            + (f" ({self.outcome})" if self.outcome else ""),
            f"points: {len(self.t)}, time {self.t.min():g} to {self.t.max():g} {self.time_unit}, "
            f"survival as {self.scale}",
            f"risk times: {rt}",
            "n at risk: " + " ".join(str(int(x)) for x in self.n_risk),
            f"total events: {'-' if self.total_events is None else self.total_events}",
        ]
        if self.source or self.locator:
            lines.append(f"source: {self.source} {self.locator}".rstrip())
        if self.path:
            lines.append(f"file: {self.path}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# reading


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    name = p.name
    if name.endswith(CLICKS_SUFFIX):
        stem = name[: -len(CLICKS_SUFFIX)]
    elif name.endswith(META_SUFFIX):
        stem = name[: -len(META_SUFFIX)]
    else:
        stem = name
    return p.with_name(stem + CLICKS_SUFFIX), p.with_name(stem + META_SUFFIX)


def _inside_folder(meta_path: Path, name: str, line) -> Path:
    """The file ``name`` (the metadata's ``clicks`` key) in the curve's folder, or an error.

    A metadata file is data, possibly from someone else: it may name a file beside it (or below
    it), never an absolute path, a path climbing out with ``..``, a link leading out of the
    folder, or something that is not a regular file.
    """
    from pathlib import PurePosixPath, PureWindowsPath

    folder = meta_path.parent
    target = folder / name
    windows = PureWindowsPath(name)
    if Path(name).is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        why = "is an absolute path"
    elif ".." in PurePosixPath(name.replace("\\", "/")).parts:
        why = "climbs out of the folder with '..'"
    else:
        real_folder, real = folder.resolve(), target.resolve()
        if real != real_folder and real_folder not in real.parents:
            why = f"leads out of the folder (through a link, to {real})"
        elif target.exists() and not target.is_file():
            why = "is not a regular file"
        else:
            return target
    raise StudyTableError([Problem(
        str(meta_path), line, "clicks",
        f"clicks {name!r} {why}; the clicks file must be in the curve's folder {folder}: write "
        f"its name alone, e.g. {meta_path.name[: -len(META_SUFFIX)]}{CLICKS_SUFFIX}")])


def _number(text: str) -> float | None:
    """A number by the study table's grammar (``float`` also reads ``1_3``, full-width or
    Arabic-Indic digits and ``nan``), or None."""
    value, _ = _number_or_reason(text.strip())
    return value if value is not None and math.isfinite(value) else None


def _numbers(text: str) -> list[float] | None:
    parts = text.replace(";", " ").replace(",", " ").split()
    vals = [_number(x) for x in parts]
    return None if any(v is None for v in vals) else vals


def _utf8_text(path: Path, problems: list) -> str:
    """The file's text; a file that is not UTF-8 (saved in Latin-1, or a spreadsheet's binary
    format) stops the reading with the problems so far and the line of its first bad byte (what
    follows from reading it anyway would only be noise)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StudyTableError(problems + [Problem(
            str(path), data[: exc.start].count(b"\n") + 1, None,
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8 CSV")]) from None


def _read_meta(path: Path, problems: list, warns: list) -> tuple[dict, dict]:
    """key -> value and key -> line number."""
    f = str(path)
    meta: dict[str, str] = {}
    lines: dict[str, int] = {}
    rows = list(csv.reader(io.StringIO(_utf8_text(path, problems), newline="")))
    for lineno, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        key = row[0].strip()
        if lineno == 1 and key.lower() == "key":
            continue  # header
        value = ",".join(row[1:]).strip()
        if key in meta:
            problems.append(Problem(f, lineno, key, f"key {key!r} repeats line {lines[key]}"))
            continue
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            warns.append(
                Problem(f, lineno, key, f"unknown key {key!r} (kept in .extra)", "warning")
            )
        meta[key] = value
        lines[key] = lineno
    return meta, lines


def _read_clicks(path: Path, problems: list, warns: list):
    f = str(path)
    ts, ss, lns = [], [], []
    text = _utf8_text(path, problems)
    delim = ";" if text.count(";") > text.count(",") else ","
    for lineno, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), start=1):
        cells = [c.strip() for c in row]
        if not cells or all(not c for c in cells) or cells[0].startswith("#"):
            continue
        cells = [c for c in cells if c != ""] if len(cells) > 2 else cells
        if len(cells) != 2:
            problems.append(
                Problem(f, lineno, None, f"expected two columns (time, survival), found {len(cells)}")
            )
            continue
        x, y = _number(cells[0]), _number(cells[1])
        if x is None or y is None:
            if lineno == 1 and (x is None and y is None):
                continue  # header such as "x,y" or "time_months,survival"
            col = "time" if x is None else "survival"
            bad = cells[0] if x is None else cells[1]
            why = _number_or_reason(bad)[1] or "is not a finite number"
            problems.append(Problem(f, lineno, col, f"{bad!r} {why}"))
            continue
        ts.append(x)
        ss.append(y)
        lns.append(lineno)
    return np.array(ts, dtype=float), np.array(ss, dtype=float), lns


def curve_problems(folder) -> list:
    """Every problem of the digitised-curve files in ``folder`` (``data/curves``), as
    ``metaanalysis validate`` lists them and ``metaanalysis report`` refuses to run on.

    Each ``<name>.meta.csv`` is read with :func:`read_curve` (errors and warnings, each with its
    file and line); a ``<name>.clicks.csv`` without its metadata file is a warning, as nothing
    reads it. A missing folder has no problems.

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    list of Problem

    Examples
    --------
    >>> curve_problems("data/curves")                         # doctest: +SKIP
    []
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    problems = []
    for meta in sorted(folder.glob("*.meta.csv")):
        try:
            read_curve(meta, _warnings=problems)
        except StudyTableError as exc:
            problems += list(exc.problems) + list(exc.warnings)
    for clicks in sorted(folder.glob("*.clicks.csv")):
        name = clicks.name[: -len(".clicks.csv")]
        if not (folder / f"{name}.meta.csv").exists():
            problems.append(Problem(str(clicks), None, None, f"no {name}.meta.csv beside it: "
                                    "nothing reads these clicks (see data/README.md)", "warning"))
    return problems


def read_curve(path, *, _warnings: list | None = None) -> DigitisedCurve:
    """Read and validate a digitised Kaplan-Meier curve (``<name>.clicks.csv`` + ``<name>.meta.csv``).

    Parameters
    ----------
    path : str or Path
        Either file of the pair, or the common stem (``data/curves/veteran_overall``).

    Returns
    -------
    DigitisedCurve

    Raises
    ------
    StudyTableError
        Listing every problem, each with the file, the line and the key or column; warnings (kept
        on ``.warnings`` of the error) do not stop the reading.

    Examples
    --------
    >>> curve = read_curve("data/curves/veteran_overall")           # doctest: +SKIP
    >>> curve.reconstruct().ipd.head()                                # doctest: +SKIP
    """
    clicks_path, meta_path = _paths(path)
    problems: list[Problem] = []
    warns: list[Problem] = []
    if not meta_path.exists():
        raise StudyTableError(
            [Problem(str(meta_path), None, None, "metadata file not found (risk table and source)")]
        )
    if not meta_path.is_file():
        raise StudyTableError([Problem(str(meta_path), None, None, "is not a regular file")])
    meta, mlines = _read_meta(meta_path, problems, warns)
    if meta.get("clicks"):
        clicks_path = _inside_folder(meta_path, meta["clicks"], mlines.get("clicks"))
    if not clicks_path.exists():
        problems.append(Problem(str(clicks_path), None, None, "clicks file not found"))
        raise StudyTableError(problems, warns)
    if not clicks_path.is_file():  # a FIFO or a device: reading it would block or never end
        problems.append(Problem(str(clicks_path), None, None, "is not a regular file"))
        raise StudyTableError(problems, warns)
    mf, cf = str(meta_path), str(clicks_path)

    def meta_problem(key, msg, severity="error"):
        (problems if severity == "error" else warns).append(
            Problem(mf, mlines.get(key), key, msg, severity)
        )

    for key in REQUIRED_KEYS:
        if not meta.get(key):
            meta_problem(key, f"required key {key!r} is missing or empty")
    unit = meta.get("time_unit", "")
    if unit and unit not in TIME_UNITS:
        meta_problem("time_unit", f"time_unit must be one of {', '.join(TIME_UNITS)}; got {unit!r}")
    scale = meta.get("scale", "")
    if scale and scale not in SCALES:
        meta_problem("scale", f"scale must be 'fraction' or 'percent'; got {scale!r}")

    n_risk = risk_times = None
    if meta.get("n_risk"):
        n_risk = _numbers(meta["n_risk"])
        if n_risk is None or not n_risk:
            meta_problem("n_risk", f"n_risk must be whole numbers separated by spaces; got {meta['n_risk']!r}")
            n_risk = None
        else:
            bad = [v for v in n_risk if v < 0 or v != round(v)]
            if bad:
                meta_problem("n_risk", f"numbers at risk must be whole numbers >= 0; got {bad[0]:g}")
                n_risk = None
            elif n_risk[0] < 1:
                meta_problem("n_risk", "the number at risk at time 0 must be at least 1")
                n_risk = None
            else:
                for i in range(1, len(n_risk)):
                    if n_risk[i] > n_risk[i - 1]:
                        meta_problem(
                            "n_risk",
                            f"the number at risk increases: value {i + 1} ({n_risk[i]:g}) is above "
                            f"value {i} ({n_risk[i - 1]:g})",
                        )
                        n_risk = None
                        break
    if meta.get("risk_times"):
        risk_times = _numbers(meta["risk_times"])
        if risk_times is None or not risk_times:
            meta_problem("risk_times", f"risk_times must be numbers separated by spaces; got {meta['risk_times']!r}")
            risk_times = None
        elif risk_times[0] != 0:
            meta_problem("risk_times", f"risk_times must start at 0; got {risk_times[0]:g}")
            risk_times = None
        elif any(b <= a for a, b in zip(risk_times, risk_times[1:])):
            meta_problem("risk_times", "risk_times must be strictly increasing")
            risk_times = None
    if n_risk is not None:
        if risk_times is None and len(n_risk) > 1 and "risk_times" not in mlines:
            meta_problem("risk_times", f"n_risk has {len(n_risk)} values but risk_times is missing")
        elif risk_times is not None and len(risk_times) != len(n_risk):
            meta_problem(
                "n_risk",
                f"n_risk has {len(n_risk)} values but risk_times has {len(risk_times)}",
            )
    total_events = None
    if meta.get("total_events"):
        v = _number(meta["total_events"])
        if v is None or v < 0 or v != round(v):
            meta_problem("total_events", f"total_events must be a whole number; got {meta['total_events']!r}")
        elif n_risk is not None and v > n_risk[0]:
            meta_problem(
                "total_events", f"total_events = {v:g} exceeds the patients at the start ({n_risk[0]:g})"
            )
        else:
            total_events = int(v)

    t, s, lns = _read_clicks(clicks_path, problems, warns)
    if len(t) == 0:
        problems.append(Problem(cf, None, None, "no points: the clicks file is empty"))
    elif len(t) == 1:
        problems.append(Problem(cf, lns[0], None, "a single point: a curve needs at least two"))
    else:
        hi = 100.0 if scale == "percent" else 1.0
        for x, y, ln in zip(t, s, lns):
            if y < -_SURV_SLACK * hi or y > (1 + _SURV_SLACK) * hi:
                hint = " (in percent? set scale,percent)" if scale != "percent" and y > 1.5 else ""
                problems.append(
                    Problem(cf, ln, "survival", f"survival {y:g} outside [0, {hi:g}]{hint}")
                )
        from .reconstruct import fractions_as_percent, rises

        if scale == "percent" and fractions_as_percent(float(s.max())):
            problems.append(Problem(
                mf, mlines.get("scale"), "scale",
                f"scale is percent but the clicks' survival runs from {float(s.min()):g} to "
                f"{float(s.max()):g}: fractions; set scale,fraction"))
        by_time = np.argsort(t, kind="stable")
        rising = rises(s[by_time] / hi)
        if rising:
            problems.append(Problem(cf, lns[int(by_time[-1])], "survival", rising))
        tmax = float(t.max()) if t.max() > 0 else 1.0
        for x, ln in zip(t, lns):
            if x < -0.01 * tmax:
                problems.append(Problem(cf, ln, "time", f"negative time {x:g}"))
        # a rise larger than digitising jitter is worth a warning (the reconstruction repairs it)
        order = np.argsort(t, kind="stable")
        so = s[order] / hi
        runmin = np.minimum.accumulate(so)
        big = np.flatnonzero(so - runmin > 0.02)
        for j in big[:5]:
            warns.append(
                Problem(cf, lns[order[j]], "survival",
                        f"survival rises by {so[j] - runmin[j]:.3f} above an earlier point", "warning")
            )
        if risk_times is not None and len(risk_times) > 1:
            past = [x for x in risk_times[1:] if x >= t.max()]
            if past:
                meta_problem(
                    "risk_times",
                    f"risk time(s) {', '.join(f'{x:g}' for x in past)} at or beyond the last point "
                    f"({t.max():g}) will be dropped by the reconstruction",
                    "warning",
                )
    if problems:
        raise StudyTableError(problems, warns)
    if _warnings is not None:  # curve_problems lists a valid curve's warnings too
        _warnings.extend(warns)
    extra = {k: v for k, v in meta.items() if k not in REQUIRED_KEYS and k not in OPTIONAL_KEYS}
    return DigitisedCurve(
        t=t,
        s=s,
        risk_times=None if risk_times is None else np.asarray(risk_times, float),
        n_risk=np.asarray(n_risk, float),
        total_events=total_events,
        study_id=meta.get("study_id", ""),
        arm=meta.get("arm", ""),
        outcome=meta.get("outcome", ""),
        time_unit=unit,
        scale=scale,
        source=meta.get("source", ""),
        locator=meta.get("locator", ""),
        notes=meta.get("notes", ""),
        path=str(meta_path),
        extra=extra,
        clicks_path=str(clicks_path),
    )


def write_curve(curve: DigitisedCurve, stem) -> tuple[Path, Path]:
    """Write ``curve`` as ``<stem>.clicks.csv`` and ``<stem>.meta.csv``; returns both paths."""
    if not isinstance(curve, DigitisedCurve):
        raise InputError(f"write_curve needs a DigitisedCurve; got {type(curve).__name__}")
    clicks_path, meta_path = _paths(stem)
    clicks_path.parent.mkdir(parents=True, exist_ok=True)
    with open(clicks_path, "w", newline="") as fh:
        w = csv.writer(fh)
        for x, y in zip(curve.t, curve.s):
            w.writerow([repr(float(x)), repr(float(y))])
    rows = [
        ("key", "value"),
        ("study_id", curve.study_id),
        ("arm", curve.arm),
        ("outcome", curve.outcome),
        ("time_unit", curve.time_unit),
        ("scale", curve.scale),
        ("risk_times", "" if curve.risk_times is None else " ".join(f"{x:g}" for x in curve.risk_times)),
        ("n_risk", " ".join(str(int(x)) for x in curve.n_risk)),
        ("total_events", "" if curve.total_events is None else str(int(curve.total_events))),
        ("source", curve.source),
        ("locator", curve.locator),
        ("notes", curve.notes),
    ]
    if curve.risk_times is None:
        rows = [r for r in rows if r[0] != "risk_times"]
    with open(meta_path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return clicks_path, meta_path
