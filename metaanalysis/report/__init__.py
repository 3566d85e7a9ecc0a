"""The main job: ``metaanalysis report`` pools every outcome of a study table and writes an HTML page,
the figures as files and ``results.json`` with every number shown.

The page is self-contained (figures inlined as SVG, no scripts, no network) so it can be mailed or
archived with a paper. ``results.json`` is what ``metaanalysis diff`` compares when a trial is added.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._base import check_level, jsonable
from ..errors import InputError
from .analyses import SPECS, effect_data, select, try_run
from .diff import ResultsDiff, diff_results, load_results

__all__ = ["build_report", "ReportOutput", "run_analyses", "diff_results", "ResultsDiff",
           "load_results"]

SMALL_STUDY_MIN_K = 10
PROPORTION_MEASURE = "PLO"


@dataclass(frozen=True, eq=False)
class ReportOutput:
    """Where the report went: the folder, the files written, and the results as a dict."""

    directory: Path
    files: tuple
    results: dict = field(repr=False)
    diff: object = None


def _exp(x):
    return None if x is None or not math.isfinite(x) else math.exp(x)


def _pooled_entry(spec, res, data, excluded, method, test):
    """The JSON record of one pooled analysis, on the analysis and the natural scale."""
    from ..pooling import egger_test, rank_test

    entry = {"title": spec.title, "outcome": spec.outcome, "kind": spec.kind,
             "null": 0.0 if spec.kind == "ratio" else None}
    d = res.to_dict()
    if spec.kind in ("ratio", "median"):
        natural = {k: _exp(d.get(k)) for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
    else:
        natural = {"estimate": d.get("proportion"), "ci_low": d.get("proportion_ci_low"),
                   "ci_high": d.get("proportion_ci_high"), "pi_low": d.get("proportion_pi_low"),
                   "pi_high": d.get("proportion_pi_high")}
    entry["result"] = d
    entry["natural"] = natural
    studies = data.frame.copy()
    sf = res.study_frame()
    for col in ("yi", "vi", "ci_low", "ci_high", "weight"):
        if col in sf.columns:
            studies[f"effect_{col}"] = sf[col].to_numpy()
    entry["studies"] = jsonable(studies.to_dict(orient="records"))
    entry["excluded"] = [{"line": line, "study_id": sid, "reason": why} for line, sid, why in excluded]
    # Proportions are tested on the scale they were pooled on (their inverse-variance fit).
    fit = getattr(res, "fit", None) or res
    if res.k >= SMALL_STUDY_MIN_K:
        eg, why = try_run(egger_test, fit)
        rk, why2 = try_run(rank_test, fit)
        small = {"egger": eg.to_dict() if eg else {"not_run": why},
                 "rank": rk.to_dict() if rk else {"not_run": why2}}
    else:
        small = {"not_run": f"k = {res.k} < {SMALL_STUDY_MIN_K}: too few studies for "
                            "small-study tests"}
    entry["small_study"] = small
    return entry


def _natural_subgroups(sub, kind) -> dict:
    """Each subgroup's estimate and interval on the scale a reader knows (HR, months, proportion)."""
    from ..pooling.proportions import back_transform

    def back(y):
        if y is None or not math.isfinite(y):
            return None
        if kind == "proportion":
            return float(back_transform(np.array([y]), PROPORTION_MEASURE)[0])
        return math.exp(y)

    return {str(g): {"k": r.k, "estimate": back(r.estimate), "ci_low": back(r.ci_low),
                     "ci_high": back(r.ci_high), "i2": r.i2}
            for g, r in sub.subgroups.items()}


def run_analyses(table, *, method="REML", test="z", level=95):
    """Run the report's analyses on a :class:`~metaanalysis.studies.StudyTable`.

    Returns ``(results, fits)``: the JSON-ready dict and the fitted objects the figures need.
    """
    from ..pooling import pool, pool_proportions, subgroup_analysis

    level = check_level(level)
    results = {"analyses": {}, "not_run": {}}
    fits = {}
    frame = table.frame
    for spec in SPECS:
        selection = select(frame, spec)
        if len(selection.rows) == 0:
            results["not_run"][spec.key] = {"title": spec.title, "reason": "no usable rows",
                                            "excluded": [{"line": l, "study_id": s, "reason": r}
                                                         for l, s, r in selection.excluded]}
            continue
        data = effect_data(selection)
        if spec.kind == "proportion":
            res, why = try_run(pool_proportions, data.xi, data.ni, measure=PROPORTION_MEASURE,
                               method=method, test=test, level=level, labels=data.labels)
        else:
            res, why = try_run(pool, data.yi, data.vi, method=method, test=test, level=level,
                               measure="HR" if spec.kind == "ratio" else "MEDLN",
                               labels=data.labels)
        if res is None:
            results["not_run"][spec.key] = {"title": spec.title, "reason": why}
            continue
        entry = _pooled_entry(spec, res, data, selection.excluded, method, test)
        # By therapy: only groups with at least two studies pool; single studies stand alone.
        groups = list(data.groups)
        if len(set(groups)) > 1:
            # Proportions are compared by therapy on the scale they were pooled on.
            yi, vi = (res.yi, res.vi) if spec.kind == "proportion" else (data.yi, data.vi)
            scale = {"ratio": "HR", "median": "MEDLN", "proportion": PROPORTION_MEASURE}[spec.kind]
            sub, why = try_run(subgroup_analysis, yi, vi, groups=groups, method=method,
                               test=test, level=level, labels=data.labels, measure=scale)
            entry["subgroups"] = sub.to_dict() if sub is not None else {"not_run": why}
            if sub is not None:
                entry["subgroups"]["natural"] = _natural_subgroups(sub, spec.kind)
            fits[spec.key + ":subgroups"] = sub
        fits[spec.key] = (spec, res, data)
        if spec.kind == "ratio" and res.k >= 3:
            # Living review: how the pooled estimate built up as trials were published.
            from ..pooling import cumulative

            years = data.frame["year"].to_numpy(float)
            if np.isfinite(years).all():
                cum, why = try_run(cumulative, res, order=years)
                if cum is not None:
                    entry["cumulative"] = jsonable(cum.reset_index().to_dict(orient="records"))
                    fits[spec.key + ":cumulative"] = cum
        results["analyses"][spec.key] = entry
    return results, fits


def _write_report_files(out, fits, network_fits, survival, results, table, diff, formats):
    """Render the figures and the page and move them into ``out``; returns the paths written."""
    from ..fileio import atomic_write
    from .figures import render_figures
    from .html import render_page
    from .outdir import SCRATCH_PREFIX

    # Figures go to a scratch folder first and move in one by one, so a crash never leaves a
    # report whose page and files disagree half-way.
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=out))
    try:
        figures = render_figures(fits, network_fits, survival, scratch, formats=formats,
                                 funnel_min_k=SMALL_STUDY_MIN_K)
        page = render_page(results, table, figures, diff)
        written = []
        (out / "figures").mkdir(exist_ok=True)
        for fig in figures:
            for f in fig["files"]:
                target = out / "figures" / Path(f).name
                os.replace(f, target)
                written.append(target)
        atomic_write(out / "index.html", page.encode("utf-8"))
        written.append(out / "index.html")
        if diff is not None:
            atomic_write(out / "diff.json", diff.to_json(indent=1).encode("utf-8"))
            written.append(out / "diff.json")
        results["files"] = sorted(str(p.relative_to(out)) for p in written
                                  if p.name != "index.html")
        atomic_write(out / "results.json",
                     json.dumps(jsonable(results), indent=1, sort_keys=True).encode("utf-8"))
        written.append(out / "results.json")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def _table_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_report(studies="data/studies.csv", out="report", *, method="REML", test="z", level=95,
                 compare=None, formats=("svg", "png"), force=False) -> ReportOutput:
    """Validate a study table, run every analysis and write the report.

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
    method, test, level
        tau² estimator (metafor code), test (``z``, ``t``, ``knha``) and confidence level.
    compare : path-like, optional
        A previous ``results.json`` (or report folder): the page and ``diff.json`` list what changed.
    formats : tuple of str
        Figure file formats besides the SVG inlined in the page.
    force : bool
        Write into a non-empty folder that no report made; nothing already there is deleted.

    Returns
    -------
    ReportOutput

    Examples
    --------
    >>> out = build_report("data/studies.csv", "report", method="REML", test="knha")  # doctest: +SKIP
    """
    from .._version import __version__
    from ..studies import read_studies
    from .methods import methods_paragraph

    from ..pooling.core import validate_common

    from .outdir import prepare_folder

    validate_common(method, test, level)
    table = read_studies(studies)
    out = Path(out)
    folder = Path(studies).parent
    protected = (studies, folder / "protocol.toml", folder / "trials.csv",
                 folder / "risk_of_bias.csv", folder / "curves")
    prepare_folder(out, protected=protected, force=force, create=False)  # fail before any work
    previous = load_results(compare) if compare is not None else None
    results, fits = run_analyses(table, method=method, test=test, level=level)
    from .extras import network_section, survival_section

    network, network_fits = network_section(table, method=method, level=level)
    results["network"] = network
    results["rankings"] = network["rankings"]
    survival = survival_section(table)
    results["survival"] = survival["summary"]
    results["warnings"] = [str(w) for w in table.warnings]
    results["meta"] = {
        "version": __version__, "studies": str(studies), "studies_sha256": _table_digest(studies),
        "rows": len(table), "method": method, "test": test, "level": check_level(level),
        "proportion_measure": PROPORTION_MEASURE, "small_study_min_k": SMALL_STUDY_MIN_K,
    }
    results["methods"] = methods_paragraph(
        method=method, test=test, level=check_level(level), proportion_measure=PROPORTION_MEASURE,
        small_study_min_k=SMALL_STUDY_MIN_K,
        network_method=method if network_fits else None,
        version=__version__)
    diff = diff_results(previous, results) if previous is not None else None
    if diff is not None:
        diff = ResultsDiff(str(compare), "this report", diff.changes)

    from ..fileio import file_lock
    from .outdir import clean_scratch, lock_target, remove_stale, sha256_of, write_manifest

    with file_lock(lock_target(out)):
        written_before = prepare_folder(out, protected=protected, force=force)
        clean_scratch(out)
        written = _write_report_files(out, fits, network_fits, survival, results, table, diff,
                                      formats)
        manifest = {str(p.relative_to(out)): sha256_of(p) for p in written}
        # Files an earlier report wrote here and this one does not (figures of an analysis that
        # no longer runs, a diff.json without --compare) go, if nobody has edited them since.
        remove_stale(out, written_before, manifest)
        write_manifest(out, manifest)
    return ReportOutput(out, tuple(written), results, diff)
