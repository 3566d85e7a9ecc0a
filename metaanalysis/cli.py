"""The command-line interface: ``metaanalysis validate``, ``add``, ``report``, ``diff``, and the
analysis subcommands ``pool``, ``network`` and ``reconstruct`` (:mod:`metaanalysis.cli_analyses`).

Every error the package raises on purpose is printed without a traceback, one problem a line as
``path:line:column: message``, and the command exits with status 2.

Exit statuses: 0 done (warnings may have been printed); 2 errors found in the input (the files
or arguments given; argparse's usage errors too; a read-only study table, which ``add`` refuses
before it writes); 1 a folder the command must write in cannot be written (permission denied, a
read-only file system; ``add`` takes its lock in the table's folder before it checks the new
rows, so fix this first); 130 interrupted
(Ctrl-C); 141 the reader of the output went away (``| head``: 128 + SIGPIPE, as a Unix tool
killed by SIGPIPE reports), with nothing printed.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from .errors import MetaAnalysisError, Problem, StudyTableError

DEFAULT_STUDIES = "data/studies.csv"

EXIT_INPUT_ERRORS = 2
EXIT_CANNOT_WRITE = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE (13 on every Unix)

# what to do when a command cannot write in the folder it must write in
_ADD_FOLDER_HINT = ("the study table's folder must be writable to add rows (the lock, the new "
                    "table and its .bak are written there); copy the folder somewhere writable "
                    "or change its permissions (chmod u+w)")
_REPORT_FOLDER_HINT = ("the report is written there; choose a writable --out folder, or change "
                       "its permissions (chmod u+w)")
_CANNOT_WRITE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                 errno.EROFS: "read-only file system"}


class _CannotWrite(Exception):
    """A folder a command must write in refuses it: which folder, why, and what to do."""

    def __init__(self, folder: str, reason: str, hint: str):
        super().__init__(f"cannot write in {folder} ({reason}): {hint}")


@contextmanager
def _writing_in(folder, hint: str):
    """Turn a refusal to write in ``folder`` (or a folder inside it, or to create it) into
    :class:`_CannotWrite`, naming the folder that refused and what to do (``hint``). Any other
    error, and a refusal about a file outside ``folder``, passes through unchanged."""
    try:
        yield
    except OSError as exc:
        reason = _CANNOT_WRITE.get(exc.errno)
        if reason is None or not exc.filename:
            raise
        target = os.path.realpath(os.path.abspath(os.fspath(exc.filename)))
        root = os.path.realpath(os.path.abspath(os.fspath(folder)))
        inside = target == root or target.startswith(root.rstrip(os.sep) + os.sep)
        # a folder on the way to it that could not be made (--out a/b/c under a read-only a)
        above = root.startswith(target.rstrip(os.sep) + os.sep)
        if not (inside or above):
            raise
        # the folder the file would have gone in (the parent, when the folder itself could not
        # be made)
        raise _CannotWrite(os.path.dirname(target), reason, hint) from None


def _print_problems(problems, stream) -> None:
    for p in problems:
        print(str(p), file=stream)


def _problem_json(p) -> dict:
    """A Problem as the commands' --json output gives it."""
    return {"file": p.file, "line": p.row, "column": p.column, "severity": p.severity,
            "message": p.message}


def _companion_problems(path, table, only=None) -> list:
    """Problems of the review files beside a study table (those that exist): the protocol,
    trials.csv, risk_of_bias.csv and grade_overrides.csv."""
    from .review import default_paths, read_protocol, read_trials
    from .review.grade import read_grade_overrides
    from .review.protocol import check_against_table
    from .review.risk_of_bias import read_risk_of_bias

    problems = []
    paths = default_paths(path)
    if only is not None:
        kind = next((k for k, p in paths.items() if Path(p).name == Path(only).name),
                    "protocol" if str(only).endswith(".toml") else "trials")
        paths = {kind: Path(only)}
    trials = None
    # a review's folder (the table named studies.csv, or some review file beside it) missing a
    # file the report needs; a lone table elsewhere is just a table
    review_folder = Path(path).name == "studies.csv" or any(Path(p).exists()
                                                            for p in paths.values())
    for kind, p in paths.items():
        if only is None and not Path(p).exists():
            if kind in ("protocol", "trials") and review_folder:
                # the table alone is valid, but the review cannot run: say so before `report` does
                problems.append(Problem(str(p), None, None, "not found beside the study table: "
                                        "`metaanalysis report` needs it to run the review",
                                        severity="warning"))
            continue
        try:
            if kind == "protocol":
                proto = read_protocol(p, studies=None if table is None else table.studies)
                if table is not None:
                    problems += check_against_table(proto, table)
            elif kind == "trials":
                trials = read_trials(p, studies=table)
                problems += trials.warnings
            elif kind == "risk_of_bias":
                rob = read_risk_of_bias(p, studies=table, trials=trials)
                problems += list(getattr(rob, "warnings", []))
            elif kind == "grade_overrides":
                read_grade_overrides(p)
        except StudyTableError as exc:
            problems += exc.problems + exc.warnings
    return problems


def cmd_validate(args) -> int:
    from .studies import validate_studies

    if args.path.endswith(".toml") or Path(args.path).name in ("trials.csv", "risk_of_bias.csv",
                                                               "grade_overrides.csv"):
        # a protocol or a characteristics table: checked against the study table beside it
        beside = Path(args.path).parent / "studies.csv"
        table = validate_studies(beside)[0] if beside.exists() else None
        problems = _companion_problems(beside, table, only=args.path)
        if table is None and args.path.endswith(".toml"):
            # checked on its own: an outcome, comparator or study no row of a table has is not
            # seen (the report checks it against the table it is given)
            problems.append(Problem(args.path, None, None, f"no study table beside it ({beside}):"
                                    " checked on its own, not against the rows it would select; "
                                    "`metaanalysis report --protocol` checks it against the table",
                                    severity="warning"))
        rows = None
    else:
        table, problems = validate_studies(args.path)
        if table is not None:
            from .survival.curves import curve_problems

            problems = (problems + _companion_problems(args.path, table)
                        + curve_problems(Path(args.path).parent / "curves"))
        rows = None if table is None else len(table)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    if args.json:
        print(json.dumps({
            "path": args.path,
            "valid": not errors,
            "rows": rows,
            "problems": [_problem_json(p) for p in problems],
        }, indent=2))
    else:
        _print_problems(problems, sys.stderr if errors else sys.stdout)
        # what the warnings are of: `add` counts those of the study table alone
        beside = sum(p.file != args.path for p in warnings)
        where = (f" ({len(warnings) - beside} in the study table, {beside} in the files beside "
                 "it)" if beside and rows is not None else "")
        if errors:
            print(f"{args.path}: {len(errors)} error(s), {len(warnings)} warning(s){where}",
                  file=sys.stderr)
        else:
            what = f"{rows} rows, " if rows is not None else ""
            print(f"{args.path}: valid, {what}{len(warnings)} warning(s){where}")
    return 2 if errors else 0


def cmd_add(args) -> int:
    from .fileio import backup_path
    from .studies import append_rows, validate_studies

    before, _ = validate_studies(args.studies)
    known = set() if before is None else {(w.row, w.column, w.message) for w in before.warnings}
    with _writing_in(os.path.dirname(os.path.realpath(args.studies)), _ADD_FOLDER_HINT):
        table = append_rows(args.studies, args.rows, backup=not args.no_backup,
                            check=_characterised(args.studies, args.rows))
    added = len(table) - (0 if before is None else len(before))
    # only what the new rows raise: the table's old warnings were seen when those rows came in
    new = [w for w in table.warnings if (w.row, w.column, w.message) not in known]
    backup = backup_path(args.studies)
    if args.json:
        print(json.dumps({
            "path": args.studies,
            "rows_file": args.rows,
            "appended": added,
            "rows": len(table),
            "backup": None if args.no_backup else backup,
            "new_warnings": [_problem_json(w) for w in new],
            # the study table's own warnings (validate adds those of the files beside it)
            "warnings": len(table.warnings),
        }, indent=2))
        return 0
    for w in new:
        print(str(w))
    print(f"{args.studies}: appended {added} row(s) from {args.rows}; now {len(table)} rows, "
          f"{len(new)} new warning(s), {len(table.warnings)} warning(s) in the study table"
          + ("" if args.no_backup else f"; previous table kept as {backup}"))
    return 0


def _characterised(studies, rows_file):
    """The check ``append_rows`` runs under its lock: every study the new rows bring in must have
    its line in trials.csv beside the table, as ``validate`` and ``report`` require (an add that
    let one in would leave a table both call an error). Without a trials.csv there is nothing to
    check against (``validate`` says the file is missing)."""
    from .review import default_paths

    trials = default_paths(studies)["trials"]

    def check(new_rows, old_rows) -> list:
        known = {r.get("study_id", "") for _, r in old_rows}
        lines: dict = {}
        for line, r in new_rows:
            sid = r.get("study_id", "")
            if sid and sid not in known:
                lines.setdefault(sid, []).append(line)
        if not lines or not trials.is_file():
            return []
        listed = _trials_listed(trials)
        if listed is None:
            return []  # validate and report name what is wrong with trials.csv itself
        return [Problem(os.fspath(rows_file), at[0], "study_id",
                        f"study {sid!r} is new to {studies} and has no line in {trials}; add "
                        f"its line (its characteristics: design, line of therapy, histology...; "
                        f"see data/README.md) to {trials} first, then add its rows: `metaanalysis "
                        "validate` and `metaanalysis report` refuse a study without one"
                        + (f" (its rows here: lines {', '.join(map(str, at))})" if len(at) > 1
                           else ""))
                for sid, at in lines.items() if sid not in listed]

    return check


def _trials_listed(trials):
    """The study ids trials.csv lists, read as ``read_trials`` reads them (without its checks of
    the columns), or None when the file cannot be read as CSV."""
    from .review._files import csv_records, csv_rows, read_text

    try:
        name, text = read_text(trials, missing="")
        records = csv_records(name, text)
        header = [h.strip() for h in records[0][1]]
        return {r.get("study_id", "") for _, r in csv_rows(name, records, header, [])}
    except (MetaAnalysisError, OSError):
        return None


def cmd_report(args) -> int:
    from .report import build_report

    progress = None
    if not args.quiet and sys.stderr.isatty():
        import time

        start = time.perf_counter()

        def show(message):
            print(f"[{time.perf_counter() - start:5.1f} s] {message}", file=sys.stderr,
                  flush=True)

        progress = show

    with _writing_in(os.path.abspath(args.out), _REPORT_FOLDER_HINT):
        out = build_report(args.studies, args.out, protocol=args.protocol, trials=args.trials,
                           method=args.method, test=args.test, level=args.level,
                           compare=args.compare, force=args.force, progress=progress,
                           cache=not args.no_cache)
    if args.json:
        print(json.dumps({"out": str(out.directory), "files": [str(f) for f in out.files]}, indent=2))
    else:
        if out.diff is not None:
            # what changed is news for the terminal too, not only for the page
            print(out.diff.summary())
            print()
        print(f"report written to {out.directory / 'index.html'}")
    for w in out.warnings:
        print(w, file=sys.stderr)
    return 0


def cmd_diff(args) -> int:
    from .report.diff import diff_results

    d = diff_results(args.old, args.new)
    if args.json:
        print(d.to_json(indent=2))
    else:
        print(d.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metaanalysis",
        description="Meta-analysis and survival statistics of published clinical trials.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"metaanalysis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check a study table (and the protocol, trials.csv, "
                       "risk of bias and digitised curves beside it), or one protocol file, and "
                       "list every problem")
    p.add_argument("path", help="the study table (CSV), a protocol (.toml) or a trials.csv")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("add", help="validate new rows and append them to the study table")
    p.add_argument("rows", help="CSV of new rows with the table's columns")
    p.add_argument("--studies", default=DEFAULT_STUDIES, help=f"study table (default {DEFAULT_STUDIES})")
    p.add_argument("--no-backup", action="store_true", help="do not keep the previous table as .bak")
    p.add_argument("--json", action="store_true",
                   help="print what was appended and the new rows' warnings as JSON")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("report", help="pool every outcome of a study table and write the report")
    p.add_argument("--studies", default=DEFAULT_STUDIES, help=f"study table (default {DEFAULT_STUDIES})")
    p.add_argument("--out", default="report", help="output directory (default report/)")
    p.add_argument("--protocol", default=None,
                   help="the review protocol (default: protocol.toml beside the study table)")
    p.add_argument("--trials", default=None,
                   help="study characteristics (default: trials.csv beside the study table)")
    p.add_argument("--method", default=None,
                   help="override the protocol's tau^2 estimator for every analysis (metafor code)")
    p.add_argument("--test", default=None,
                   help="override the protocol's test for every analysis: z, t or knha")
    p.add_argument("--level", default=None, type=float,
                   help="override the protocol's confidence level (percent) for every analysis")
    p.add_argument("--compare", default=None,
                   help="a previous results.json (or report folder): list what changed")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that no report made (nothing there is "
                        "deleted or replaced: a file of the same name stops the report)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (it is shown only on a terminal anyway)")
    p.add_argument("--no-cache", action="store_true",
                   help="draw every figure and fit every curve again, without reading or writing "
                        "the cache of earlier runs (~/.cache/metaanalysis, or $METAANALYSIS_CACHE; "
                        "METAANALYSIS_CACHE=off turns it off for good)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("diff", help="list what changed between two reports' results.json")
    p.add_argument("old", help="previous results.json or report folder")
    p.add_argument("new", help="new results.json or report folder")
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.set_defaults(func=cmd_diff)

    from .cli_analyses import add_parsers

    add_parsers(sub)
    return parser


def main(argv=None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    try:
        try:
            status = _run(argv)
        except SystemExit:
            # argparse's --help, --version and usage errors print and exit: their output too is
            # flushed here, where a reader that has gone can still be told from an error
            sys.stdout.flush()
            raise
        # flushed inside the try: output held in the buffer would otherwise meet a reader that
        # has gone (`| head -1`) only at the interpreter's exit, after a traceback-like message
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _output_closed()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return _output_closed()
        raise


def _output_closed() -> int:
    """The reader of stdout went away (``... | head -1``): print nothing more and exit as a Unix
    tool killed by SIGPIPE would. Python's recipe (the ``signal`` module's note on SIGPIPE):
    point stdout at devnull so that the interpreter's flush at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (captured by a caller): nothing will flush it at exit
    return EXIT_BROKEN_PIPE


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudyTableError as exc:
        _print_problems(exc.problems, sys.stderr)
        return EXIT_INPUT_ERRORS
    except MetaAnalysisError as exc:
        print(f"metaanalysis {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERRORS
    except _CannotWrite as exc:
        print(f"metaanalysis {args.command}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_WRITE
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise  # the reader of stdout went away: main() says nothing
        # anything the filesystem refuses (missing, a directory, no permission): say what and where
        where = exc.filename or ""
        print(f"metaanalysis {args.command}: {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT_ERRORS
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
