"""The main job: ``metaanalysis report`` runs the analyses the protocol declares on the study table
and writes an HTML page, the figures as files and ``results.json`` with every number shown.

The page is self-contained (figures inlined as SVG, no scripts, no network) so it can be mailed or
archived with a paper. ``results.json`` is what ``metaanalysis diff`` compares when a trial is added.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .._base import check_level, jsonable
from ..errors import InputError
from .analyses import SMALL_STUDY_MIN_K, analysis_records
from .diff import ResultsDiff, diff_results, load_results

__all__ = ["build_report", "ReportOutput", "run_analyses", "diff_results", "ResultsDiff",
           "load_results"]

PROPORTION_MEASURE = "PLO"
# The page lists every row of the table (provenance) and the review walks each row once per
# analysis: past this size the page is unreadable and the memory grows with it. A larger table is
# refused with a clear message rather than left to run for tens of minutes.
MAX_REPORT_ROWS = 20_000


@dataclass(frozen=True, eq=False)
class ReportOutput:
    """Where the report went: the folder, the files written, and the results as a dict."""

    directory: Path
    files: tuple
    results: dict = field(repr=False)
    diff: object = None
    review: object = field(default=None, repr=False)
    warnings: tuple = ()  # problems of the inputs the report ran despite (file:line: message)


def run_analyses(table, *, protocol=None, trials=None):
    """Run the protocol's analyses on a study table and lay them out for ``results.json``.

    Returns ``(results, review)``: the JSON-ready dict and the :class:`ReviewResult` whose fitted
    objects the figures draw.
    """
    from ..review import run_review
    from ..review.grade import grade_rules

    review = run_review(table, protocol=protocol, trials=trials)
    analyses, sensitivity, declared = analysis_records(review)
    results = {
        "protocol": {"path": str(review.protocol.path), "review": review.protocol.review,
                     "analyses": declared,
                     # the GRADE rules in force (the protocol's [grade] over the defaults), so
                     # that every threshold a judgement used can be read back
                     "grade_rules": grade_rules(review.protocol),
                     "amendments": [dict(a) for a in review.protocol.amendments]},
        "analyses": analyses,
        # per analysis: the eligible studies that give it no result (missing evidence)
        "missing_evidence": {r.analysis.id: review.missing_evidence(r.analysis.id)
                             for r in review.runs},
        "sensitivity": sensitivity,
        "excluded": review.excluded,
        "characteristics": jsonable(review.characteristics_frame(included_only=False)
                                    .to_dict(orient="records")),
        "grade": {k: a.to_dict() for k, a in review.grade.items()},
        "prisma": None if review.prisma is None else review.prisma.to_dict(),
        "summary_of_findings": jsonable(review.summary_of_findings),
    }
    return results, review


def _write_report_files(out, review, network_fits, survival, results, table, complete, formats,
                        previous=None):
    """Render the figures and the page and move them into ``out``; returns the paths written and
    the diff. ``complete(results)`` adds what other processes computed meanwhile (the digitised
    curves' section) and returns their figures and the diff. ``previous``: the manifest of the
    last report here (``{relative path: sha256}``); no other file is ever replaced."""
    from .outdir import make_scratch

    # Everything is made in a scratch folder first; only when all of it is there, and none of the
    # files it replaces is a user's, is it renamed into place (the page and results.json last),
    # with the new files' hashes recorded beforehand so that a report killed while renaming
    # leaves files the next report recognises as its own and replaces.
    scratch = make_scratch(out)
    try:
        return _stage_and_move(scratch, out, review, network_fits, survival, results, table,
                               complete, formats, previous)
    except OSError as exc:
        if exc.filename and Path(str(exc.filename)).is_relative_to(scratch):
            # a full disk while the report is made: the folder the user gave, not a scratch file
            raise OSError(exc.errno, exc.strerror or str(exc), str(out)) from exc
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _stage_and_move(scratch, out, review, network_fits, survival, results, table, complete,
                    formats, previous):
    """Make every file of the report in ``scratch``, then rename them into ``out``."""
    from ..fileio import atomic_write, fsync_folder
    from .exports import docx_bytes, manuscript_tables, xlsx_bytes
    from .figures import figure_jobs, render_jobs
    from .html import render_page
    from .outdir import check_overwrites, sha256_of, write_manifest
    from .review_figures import review_figure_jobs
    from .tables import csv_bytes, report_tables

    # one pool for all figures: the review's and the analyses' are independent
    jobs = review_figure_jobs(review) + figure_jobs(review, network_fits, survival,
                                                    funnel_min_k=SMALL_STUDY_MIN_K)
    manuscript = manuscript_tables(review)
    books = {}

    def write_books():
        # the manuscript tables are built while the figures are drawn
        books["review_tables.xlsx"] = xlsx_bytes(manuscript)
        books["review_tables.docx"] = docx_bytes(
            manuscript, title=review.protocol.review.get("title", "Tables"))

    figures = render_jobs(jobs, scratch, formats, meanwhile=write_books)
    more, diff = complete(results)
    for fig in more:
        moved = []
        for f in fig["files"]:
            moved.append(scratch / Path(f).name)
            # from the system's temporary folder, which may be another file system
            shutil.move(f, moved[-1])
        fig.update(svg=scratch / Path(fig["svg"]).name, pdf=scratch / Path(fig["pdf"]).name,
                   files=[str(f) for f in moved])
    figures += more
    page = render_page(results, table, figures, diff)
    # (made file in the scratch folder, its place in out), in the order they are renamed
    plan = [(Path(f), out / "figures" / Path(f).name) for fig in figures for f in fig["files"]]
    staged = scratch / "staged"
    staged.mkdir()
    for name, data in ([(n, csv_bytes(f)) for n, f in report_tables(review).items()]
                       + list(books.items())):
        atomic_write(staged / name, data)
        plan.append((staged / name, out / "tables" / name))
    if diff is not None:
        atomic_write(staged / "diff.json", diff.to_json(indent=1).encode("utf-8"))
        plan.append((staged / "diff.json", out / "diff.json"))
    atomic_write(staged / "index.html", page.encode("utf-8"))
    results["files"] = sorted(str(t.relative_to(out)) for _, t in plan)
    atomic_write(staged / "results.json",
                 json.dumps(jsonable(results), indent=1, sort_keys=True).encode("utf-8"))
    # the page is the report's entry point: renamed in last, so that it appears only over a
    # complete report
    plan.append((staged / "results.json", out / "results.json"))
    plan.append((staged / "index.html", out / "index.html"))
    check_overwrites(out, [t for _, t in plan], previous or {})
    write_manifest(out, previous or {},
                   pending={str(t.relative_to(out)): sha256_of(f) for f, t in plan})
    (out / "figures").mkdir(exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    # the old page and results go first (check_overwrites found them the earlier report's): a
    # report killed while moving in its files then leaves no page that shows the old results
    # beside new figures, only files the next run replaces
    for entry in ("index.html", "results.json"):
        old_entry = out / entry
        if old_entry.is_file() and not old_entry.is_symlink():
            old_entry.unlink()
    fsync_folder(out)
    for f, target in plan:
        os.replace(f, target)
    for folder in (out / "figures", out / "tables", out):
        fsync_folder(folder)
    written = [t for _, t in plan]
    return written, diff


def _table_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_report(studies="data/studies.csv", out="report", *, protocol=None, trials=None,
                 method=None, test=None, level=None, compare=None, formats=("svg",),
                 force=False, progress=None, cache=True) -> ReportOutput:
    """Validate the inputs, run every analysis the protocol declares and write the report.

    Parameters
    ----------
    studies : path-like
        The study table.
    out : path-like
        Output folder. Created if missing; a report's own files in it are replaced, each
        atomically. The report deletes only files that an earlier report wrote (listed with
        their hashes in ``.metaanalysis-report.json``) and that nobody has edited since. It
        refuses the folder of its inputs, ``/``, the home folder, and a non-empty folder that
        no report made (see ``force``).
    protocol, trials : path-like, optional
        The protocol (``protocol.toml``) and study characteristics (``trials.csv``); by default
        the files of those names beside the study table.
    method, test, level : optional
        Override the protocol's tau² estimator, test and level for every analysis (the page and
        the methods text say so). By default the protocol decides.
    compare : path-like, optional
        A previous ``results.json`` (or report folder): the page and ``diff.json`` list what changed.
    formats : tuple of str
        Figure file formats besides the SVG inlined in the page and the PDF it links (for
        example ``("png",)`` for slides; off by default because it doubles the drawing time).
    force : bool
        Write into a non-empty folder that no report made; nothing already there is deleted
        or replaced (a file the report would write over stops it before anything moves in).
    progress : callable, optional
        Called with a short message at each stage (the CLI prints them on stderr).
    cache : bool
        Take figures and the digitised curves' fits from the cache of earlier runs when what they
        are drawn or fitted from is unchanged, and store new ones there (:mod:`.cache`: the same
        bytes as drawing again; ``METAANALYSIS_CACHE=off`` turns it off everywhere).

    Returns
    -------
    ReportOutput

    Examples
    --------
    >>> out = build_report("data/studies.csv", "report")                   # doctest: +SKIP
    >>> [a["id"] for a in out.results["analyses"] if a["role"] == "primary"]  # doctest: +SKIP
    """
    import contextlib

    from . import cache as report_cache
    from .parallel import frozen_heap

    # the objects of the inputs stay out of the collector's sight while the report forks its
    # drawing processes (see frozen_heap)
    with frozen_heap(), (contextlib.nullcontext() if cache else report_cache.disabled()):
        result = _build_report(studies, out, protocol, trials, method, test, level, compare,
                               formats, force, progress)
    if cache:
        report_cache.prune()
    return result


def _build_report(studies, out, protocol, trials, method, test, level, compare, formats, force,
                  progress) -> ReportOutput:
    import dataclasses

    from ..pooling.core import validate_common
    from ..review import default_paths, read_protocol, read_trials
    from ..studies import read_studies
    from .outdir import prepare_folder

    if method is not None or test is not None or level is not None:
        validate_common(method or "REML", test or "z", 95 if level is None else level)
    say = progress or (lambda message: None)
    say("reading and validating the study table")
    table = read_studies(studies)
    if len(table) > MAX_REPORT_ROWS:
        raise InputError(f"{studies}: {len(table)} rows; the report lays out every row and takes "
                         f"at most {MAX_REPORT_ROWS:,} (a systematic review's table has hundreds). "
                         "For many meta-analyses at once use metaanalysis.pool_many, which has no "
                         "such limit")
    paths = default_paths(studies)
    protocol_path = Path(protocol) if protocol is not None else paths["protocol"]
    trials_path = Path(trials) if trials is not None else paths["trials"]
    out = Path(out)
    folder = Path(studies).parent
    protected = (studies, protocol_path, trials_path, folder / "risk_of_bias.csv",
                 folder / "curves")
    prepare_folder(out, protected=protected, force=force, create=False)  # fail before any work
    from ..errors import StudyTableError
    from ..survival.curves import curve_problems

    # the curves are inputs like the table: a file that cannot be read stops the report with its
    # file and line, rather than becoming a "not run" line on a page that looks finished
    curve_errors = [p for p in curve_problems(folder / "curves") if p.severity == "error"]
    if curve_errors:
        raise StudyTableError(curve_errors)
    trials_table = read_trials(trials_path, studies=table)
    proto = read_protocol(protocol_path, studies=table.studies)
    overrides = {k: v for k, v in (("method", method), ("test", test),
                                   ("level", None if level is None else check_level(level)))
                 if v is not None}
    if overrides:
        proto = dataclasses.replace(proto, analyses=tuple(
            dataclasses.replace(a, **overrides) for a in proto.analyses))
    previous = load_results(compare) if compare is not None else None
    net_level = check_level(95 if level is None else level)
    from .parallel import start_digitised

    # the digitised curves need nothing from the analyses: fitted and drawn beside them
    say("fitting survival models to the digitised curves (in the background)")
    curves_work = start_digitised(folder / "curves", table, level=net_level, formats=formats)
    try:
        return _analyse_and_write(studies, out, table, proto, trials_table, protocol_path,
                                  trials_path, protected, overrides, method, net_level, formats,
                                  force, previous, compare, curves_work, say)
    finally:
        curves_work.close()


def _analyse_and_write(studies, out, table, proto, trials_table, protocol_path, trials_path,
                       protected, overrides, method, net_level, formats, force, previous, compare,
                       curves_work, say) -> ReportOutput:
    from .._version import __version__
    from .methods import methods_paragraph
    from .outdir import prepare_folder

    say(f"running the {len(proto.analyses)} analyses of {protocol_path}")
    results, review = run_analyses(table, protocol=proto, trials=trials_table)
    from ..review.protocol import table_warnings

    # an analysis the table cannot feed (a misspelt outcome or comparator) is said on the
    # terminal and on the page, not only counted as 0 studies
    warned = table_warnings(proto, table)
    results["protocol_warnings"] = [{"analysis": a_id, "message": str(p)} for a_id, p in warned]
    from .extras import analysed_studies, network_section, survival_section

    net_method = method or "REML"
    network, network_fits = network_section(table, method=net_method, level=net_level,
                                            trials=trials_table)
    results["network"] = network
    results["rankings"] = network["rankings"]
    survival = survival_section(table, trials=trials_table, analysed=analysed_studies(review),
                                used_lines=review.used)
    results["survival"] = survival["summary"]
    results["survival_left_out"] = survival["left_out"]
    from ..review.grade import grade_rules
    from .curves import modelled_network_section, modelled_rmst_section

    modelled_network, network_curves = modelled_network_section(
        network_fits.get("pfs_hr"), table, at_months=grade_rules(proto)["sof_months"])
    # the network's modelled curves are drawn with the other curves from medians
    survival = dict(survival, network_curves=network_curves)
    results["survival_models"] = {
        "digitised": None,  # from curves_work, once the figures are drawn
        "modelled_rmst": modelled_rmst_section(table, survival, review, level=net_level),
        "modelled_network": modelled_network,
    }
    results["warnings"] = [str(w) for w in table.warnings]
    results["meta"] = {
        "version": __version__, "studies": str(studies), "studies_sha256": _table_digest(studies),
        "protocol": str(protocol_path), "protocol_sha256": _table_digest(protocol_path),
        "trials": str(trials_path), "trials_sha256": _table_digest(trials_path),
        "rows": len(table), "overrides": overrides, "small_study_min_k": SMALL_STUDY_MIN_K,
    }
    rob = getattr(review, "risk_of_bias", None)
    results["methods"] = methods_paragraph(
        proto, overrides=overrides, small_study_min_k=SMALL_STUDY_MIN_K,
        network_method=net_method if network_fits else None, version=__version__,
        rob_tools=(sorted(set(rob.frame["tool"])) if rob is not None and "tool" in rob.frame
                   else ()),
        # the digitised curves are fitted in another process; whether there are any, and whether
        # they are the review's studies or worked examples beside them, is known here
        digitised=_digitised_kind(Path(curves_work.folder), set(table.frame["study_id"])))

    def complete(results):
        """The digitised curves' section and figures (from the other process), then the diff."""
        section, figures = curves_work.result()
        results["survival_models"]["digitised"] = section
        diff = diff_results(previous, results) if previous is not None else None
        if diff is not None:
            diff = ResultsDiff(str(compare), "this report", diff.changes)
        return figures, diff

    from ..fileio import file_lock
    from .outdir import (MANIFEST, clean_scratch, lock_target, pending_files, remove_stale,
                         sha256_of, write_manifest)

    with file_lock(lock_target(out)):
        marked = (out / MANIFEST).exists()
        written_before = prepare_folder(out, protected=protected, force=force)
        pending_before = pending_files(out)
        clean_scratch(out)
        say("drawing the figures and writing the page")
        try:
            written, diff = _write_report_files(out, review, network_fits, survival, results,
                                                table, complete, formats, previous=written_before)
        except BaseException:
            if not marked and not pending_files(out):
                # a first report that failed before moving anything in leaves the folder
                # unmarked, as it found it (once it moves files in, the manifest names them)
                (out / MANIFEST).unlink(missing_ok=True)
            raise
        manifest = {str(p.relative_to(out)): sha256_of(p) for p in written}
        # Files an earlier report wrote here and this one does not (figures of an analysis that
        # no longer runs, a diff.json without --compare) go, if nobody has edited them since;
        # so do those a killed report had moved in (its pending files)
        remove_stale(out, {**pending_before, **written_before}, manifest)
        write_manifest(out, manifest)
    return ReportOutput(out, tuple(written), results, diff, review,
                        tuple(w["message"] for w in results["protocol_warnings"]))


def _digitised_kind(folder, studies) -> str:
    """``""`` (no digitised curve), ``"review"`` (some curve is of a study in the table) or
    ``"example"`` (every curve is a worked example outside it), from the curves' meta files."""
    from ..survival.curves import META_SUFFIX, _read_meta

    kinds = set()
    for meta in sorted(folder.glob("*" + META_SUFFIX)) if folder.is_dir() else ():
        try:
            keys = _read_meta(meta, [], [])[0]
        except (OSError, UnicodeDecodeError):
            keys = {}   # the curves' own reading reports a damaged file; here it counts as one
        kinds.add("review" if keys.get("study_id") in studies else "example")
    return "review" if "review" in kinds else ("example" if kinds else "")
