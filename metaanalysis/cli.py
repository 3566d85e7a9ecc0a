"""The command-line interface: ``metaanalysis validate``, ``add``, ``report``, ``diff``, and the
analysis subcommands ``pool``, ``network`` and ``reconstruct`` (:mod:`metaanalysis.cli_analyses`).

Every error the package raises on purpose is printed without a traceback, one problem a line as
``path:line:column: message``, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import MetaAnalysisError, Problem, StudyTableError

DEFAULT_STUDIES = "data/studies.csv"


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
        if errors:
            print(f"{args.path}: {len(errors)} error(s), {len(warnings)} warning(s)", file=sys.stderr)
        else:
            what = f"{rows} rows, " if rows is not None else ""
            print(f"{args.path}: valid, {what}{len(warnings)} warning(s)")
    return 2 if errors else 0


def cmd_add(args) -> int:
    from .fileio import backup_path
    from .studies import append_rows, validate_studies

    before, _ = validate_studies(args.studies)
    known = set() if before is None else {(w.row, w.column, w.message) for w in before.warnings}
    table = append_rows(args.studies, args.rows, backup=not args.no_backup)
    added = len(table) - (0 if before is None else len(before))
    # only what the new rows raise: the table's old warnings were seen when those rows came in
    new = [w for w in table.warnings if (w.row, w.column, w.message) not in known]
    missing = _uncharacterised(args.studies, table, before)
    new += missing
    backup = backup_path(args.studies)
    if args.json:
        print(json.dumps({
            "path": args.studies,
            "rows_file": args.rows,
            "appended": added,
            "rows": len(table),
            "backup": None if args.no_backup else backup,
            "new_warnings": [_problem_json(w) for w in new],
            "warnings": len(table.warnings) + len(missing),
        }, indent=2))
        return 0
    for w in new:
        print(str(w))
    print(f"{args.studies}: appended {added} row(s) from {args.rows}; now {len(table)} rows, "
          f"{len(new)} new warning(s), {len(table.warnings) + len(missing)} in all"
          + ("" if args.no_backup else f"; previous table kept as {backup}"))
    return 0


def _uncharacterised(studies, table, before) -> list:
    """Warnings for studies the added rows bring in that trials.csv beside the table lacks: the
    report refuses a study without its characteristics, so say so now, not at the next report."""
    from .errors import MetaAnalysisError, Problem
    from .review import default_paths
    from .review._files import csv_records, csv_rows, read_text

    trials = default_paths(studies)["trials"]
    known = set() if before is None else set(before.studies)
    new_ids = [s for s in table.studies if s not in known]
    if not new_ids or not trials.is_file():
        return []
    try:
        # read as read_trials reads it, without its checks of the columns
        name, text = read_text(trials, missing="")
        records = csv_records(name, text)
        header = [h.strip() for h in records[0][1]]
        listed = {r.get("study_id", "") for _, r in csv_rows(name, records, header, [])}
    except (MetaAnalysisError, OSError):
        return []  # the report's own reading of trials.csv names what is wrong with it
    return [Problem(str(trials), None, "study_id", f"study {s!r} (added to {studies}) has no line "
                    "here; `metaanalysis report` refuses to run until its characteristics (design, "
                    "line of therapy, histology...) are added; see data/README.md", "warning")
            for s in new_ids if s not in listed]


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudyTableError as exc:
        _print_problems(exc.problems, sys.stderr)
        return 2
    except MetaAnalysisError as exc:
        print(f"metaanalysis {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # anything the filesystem refuses (missing, a directory, no permission): say what and where
        where = exc.filename or ""
        print(f"metaanalysis {args.command}: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
