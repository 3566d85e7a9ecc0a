"""Draw and save the report's figures (the plots module lays out what was computed).

Two steps: :func:`draw_figures` draws every figure of a review and yields it with its name and
caption; :func:`render_figures` saves each as SVG (editable text, inlined in the page), PDF
(TrueType fonts embedded, for journals) and the other formats asked for. The image tests and
``tests/baseline/make_report_baselines.py`` use :func:`draw_figures` directly.

What the figures print beside the model is computed here, as DataFrames and strings, by small pure
functions: :func:`reported_intervals` (each study's number as the source reports it, from the
review's entries) and :func:`model_footnotes` (how the pooled model used what the figure shows).

Choices made for the forest plots (issue 14):

* Study rows show the numbers in the table -- DECISION's median OS 39.4 (32.7\u201351.4) months --
  not the interval the model re-derives on the log scale. Count-based contrasts (RR, RD) show the
  model's numbers: their study table rows are arm proportions, not the contrast.
* A bound not reported because it was not estimable prints "NE" and is drawn open (an arrow to
  the axis edge); a footnote says how the model used the interval (its reported side alone).
* An interval reported at another level than the figure's (SELECT's 99%, COSMIC-311's 96%,
  Leboulleux 2012's 60%) is printed as reported with a mark, "0.21 (0.14\u20130.31)\u2020", and a
  footnote "\u2020 99% interval as reported": printing the 95% interval the model implies would be a
  number no source printed, and widening the drawn line silently would hide the difference.
* A block per therapy names the therapy, so study labels drop their "(therapy vs placebo)".
* No forest is wider than a double column (183 mm); text stays at 7 pt or more.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np

from .analyses import try_run
from .extras import without_registry_number

# Seed of the rank-probability simulation (the same report gives the same rankogram).
RANK_SEED = 2024
# No report figure is wider than a journal's double column.
MAX_WIDTH = "double"
# Outcome codes in words, for axis labels.
OUTCOME_WORDS = {"PFS": "progression-free survival", "OS": "overall survival",
                 "ORR": "Objective response", "DCR": "Disease control", "CR": "Complete response",
                 "PR": "Partial response"}


def _save(fig, stem: Path, formats) -> tuple:
    """SVG and PDF always (the page inlines the SVG and links both), then the other formats."""
    from ..plots import save_figure
    from ..plots._fonts import shared_font_subsets
    from ..plots.export import lay_out_once

    svg = stem.with_suffix(".svg")
    pdf = stem.with_suffix(".pdf")
    lay_out_once(fig)
    # one cut of each font serves all the report's PDFs (see plots/_fonts.py: faster, larger)
    with shared_font_subsets():
        save_figure(fig, pdf)
        save_figure(fig, svg)
        files = [svg, pdf]
        for fmt in formats:
            if fmt in ("svg", "pdf"):
                continue
            path = stem.with_suffix("." + fmt)
            save_figure(fig, path, dpi=300)
            files.append(path)
    return svg, pdf, files


def render_figures(review, network_fits, survival, folder: Path, *, formats=("svg", "png"),
                   funnel_min_k: int = 10, workers: int | None = None) -> list:
    """Draw every figure into ``folder``; returns one dict per figure (key, name, caption, svg,
    pdf, files), in page order.

    One forest plot per protocol analysis: a block per therapy, with a subtotal diamond where a
    therapy has two or more studies and no diamond across therapies (unless the protocol asks a
    class-effect question). Every figure is written as SVG and PDF whatever ``formats`` says.

    The figures are independent, so they are drawn by ``workers`` processes at once (default: the
    machine's cores, at most 4; forked, so the fitted objects are shared, not copied through a
    pipe). Each figure is drawn by exactly one process and the files are the same as a serial run.
    """
    jobs = figure_jobs(review, network_fits, survival, funnel_min_k=funnel_min_k)
    return render_jobs(jobs, folder, formats, workers=workers)


def render_jobs(jobs, folder: Path, formats, *, workers: int | None = None,
                meanwhile=None) -> list:
    """Run figure jobs (functions returning ``(spec, Axes)``) and save each figure into
    ``folder``; one dict per job, in the jobs' order (see :func:`render_figures`).

    Figures the report's cache holds (:mod:`.cache`) are copied from it; only the others are
    drawn, and only then is matplotlib imported and are the drawing processes forked.
    ``meanwhile`` (a function of no arguments, optional) is called once in this process while the
    drawing processes work (after the drawing where there are none): other work of the caller that
    would otherwise wait for the figures."""
    from . import cache

    keys = [_job_key(job, formats) for job in jobs]
    out = [None] * len(jobs)
    todo = []
    for i, key in enumerate(keys):
        found = cache.lookup("figures", key)
        if found is None:
            todo.append(i)
            continue
        spec = found["meta"]
        files = cache.copy_files(found, folder)
        stem = folder / spec["name"]
        out[i] = dict(spec, svg=stem.with_suffix(".svg"), pdf=stem.with_suffix(".pdf"),
                      files=[str(f) for f in files])
    meanwhile = meanwhile or (lambda: None)
    if not todo:
        meanwhile()
        return out
    from ..plots.lifecycle import preload

    # imported once here, before the drawing processes fork (each would import its own)
    preload()
    n = _worker_count(workers, len(todo))
    if n <= 1:
        drawn = [_render_job(jobs[i], folder, formats, keys[i]) for i in todo]
        meanwhile()
    else:
        import multiprocessing

        from .parallel import frozen_heap

        ctx = multiprocessing.get_context("fork")
        # the jobs live in the parent's memory; a forked worker runs the ones whose index it is
        # handed
        global _JOBS
        _JOBS = (jobs, folder, formats, keys)
        try:
            with frozen_heap(), ctx.Pool(n) as pool:
                pending = pool.map_async(_render_index, todo, chunksize=1)
                # the workers are forked by now: this process is free until their results come
                meanwhile()
                drawn = pending.get()
        finally:
            _JOBS = None
    for i, fig in zip(todo, drawn):
        out[i] = fig
    return out


_JOBS = None  # (jobs, folder, formats, keys) while render_jobs runs: read by forked workers


def _render_index(i):
    jobs, folder, formats, keys = _JOBS
    return _render_job(jobs[i], folder, formats, keys[i])


def _worker_count(workers, n_jobs) -> int:
    import os
    import sys

    if workers is not None:
        return max(1, min(int(workers), n_jobs))
    if sys.platform == "win32" or "fork" not in __import__("multiprocessing").get_all_start_methods():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, n_jobs))


def _job_key(job, formats):
    """The figure's key in the report's cache (see :mod:`.cache`): what it is drawn from."""
    from . import cache

    if cache.cache_folder() is None:
        return None
    from ..plots.lifecycle import settings_key

    style = settings_key()
    key = getattr(job, "cache_key", None)
    if key is not None:
        return cache.fingerprint("figure", key, tuple(formats), style)
    func = getattr(job, "func", None)
    if func is None:
        return None
    return cache.fingerprint("figure", func.__module__, func.__qualname__, job.args, job.keywords,
                             tuple(formats), style)


def _render_job(job, folder, formats, key=None) -> dict:
    """Draw and save one figure, and store it in the cache under ``key``."""
    from ..plots._metrics import shared_text_metrics
    from ..plots.lifecycle import close_figure
    from . import cache

    # one process draws many figures: the strings they share are measured once
    with shared_text_metrics():
        spec, ax = job()
        svg, pdf, files = _save(ax.figure, folder / spec["name"], formats)
    close_figure(ax)
    cache.store("figures", key, spec, files)
    return dict(spec, svg=svg, pdf=pdf, files=[str(f) for f in files])


def figure_jobs(review, network_fits, survival, *, funnel_min_k: int = 10) -> list:
    """Every figure of the report as a function that draws it and returns ``(spec, Axes)``, in
    page order; ``spec`` holds ``key`` (the section), ``name`` (the file stem) and ``caption``."""
    from functools import partial

    raw = table_text(getattr(review.table, "path", None))
    jobs = []
    for run in review.runs:
        if not run.groups:
            continue
        # only the table lines this forest prints: a figure is cached by what it is drawn from
        used = {int(line) for g in run.groups if "lines" in g.entries
                for lines in g.entries["lines"] for line in lines}
        jobs.append(partial(_forest_figure, run, {k: v for k, v in raw.items() if k in used},
                            rob=getattr(review, "risk_of_bias", None)))
        for g in run.groups:
            if g.k >= funnel_min_k:
                jobs.append(partial(_funnel_figure, g.id, g))
    for key, fit in network_fits.items():
        for i in range(len(_NETWORK_DRAWERS)):
            jobs.append(partial(_network_figure, key, fit, i))
    # the modelled curves are drawn from the summary alone (not the digitised curves' fits)
    modelled = {k: v for k, v in survival.items() if k != "digitised"}
    for i in range(len(_survival_specs(survival))):
        jobs.append(partial(_survival_figure, modelled, i))
    return jobs + digitised_figure_jobs(survival.get("digitised") or {})


def digitised_figure_jobs(digitised) -> list:
    """The figures of the digitised curves (``objects`` of
    :func:`~.curves.digitised_section`): each curve's models, each pair's PH check."""
    from functools import partial

    jobs = []
    section_key = getattr(digitised, "cache_key", None)
    for name in digitised:
        job = partial(_digitised_job, digitised, name)
        if section_key is not None:
            # the fitted objects do not pickle (lifelines); the section's key names what they
            # were fitted from
            job.cache_key = ("digitised", section_key, name)
        jobs.append(job)
    return jobs


def _digitised_job(digitised, name):
    return _digitised_figure(digitised[name])


def _digitised_figure(objects):
    """The figure of one of :func:`~.curves.digitised_section`'s objects, by its ``kind``: a
    curve's fitted models over its Kaplan-Meier curve and their extrapolation, a two-arm study's
    PH check and hazard ratio over time, a pooled RMST difference over tau, or a survival
    network's curves."""
    return _DIGITISED[objects["kind"]](objects)


def _models_figure(o):
    from ..plots import plot_survival_models

    curve, name = o["curve"], o["name"]
    ax = plot_survival_models(o["fits"], width=MAX_WIDTH, xlabel=f"Time ({curve.time_unit})",
                              ylabel=f"{OUTCOME_WORDS.get(curve.outcome, curve.outcome)}".capitalize())
    return {"key": f"digitised:{name}", "name": f"{name}_models", "caption":
            f"Parametric and spline models fitted to the patients reconstructed from the "
            f"digitised curve {name} (Guyot et al. 2012), over its Kaplan-Meier curve (black). "
            "Colour and line style: model."}, ax


def _ph_check_figure(o):
    from ..plots import plot_ph_check

    name = o["name"]
    axes = plot_ph_check(o["ph"], width=MAX_WIDTH)
    return {"key": f"digitised:{name}", "name": f"{name}_ph_check", "caption":
            f"Proportional hazards of {name}: log cumulative hazard against log time per arm "
            "(parallel lines under proportional hazards) and the scaled Schoenfeld residuals "
            "with a spline smooth and its ±2 SE band (flat under proportional hazards)."}, \
        axes[0] if hasattr(axes, "__len__") else axes


def _extrapolation_figure(o):
    """Every model to twice the follow-up (survival above, hazard below), beyond the data
    shaded: where the models part, the data cannot choose between them."""
    from ..plots import plot_extrapolation

    curve, far = o["curve"], o["horizon"]
    unit = curve.time_unit
    top, _ = plot_extrapolation(o["fits"], horizon=far, follow_up=o["follow_up"],
                                empirical=o["empirical"], width=MAX_WIDTH,
                                xlabel=f"Time ({unit})",
                                ylabel=OUTCOME_WORDS.get(curve.outcome, curve.outcome).capitalize())
    return {"key": f"digitised:{o['name']}", "name": f"{o['name']}_extrapolation", "caption":
            f"What each model of {o['name']} implies beyond the data: survival (above) and "
            f"hazard (below; grey, the kernel-smoothed empirical hazard) to twice the follow-up "
            f"({far:g} {unit}). The shaded part is extrapolation, which the reconstructed "
            "patients cannot check: it rests on each model's shape alone."}, top


def _hr_over_time_figure(o):
    from ..plots import plot_hr_over_time

    b, a = o["arms"]
    ax = plot_hr_over_time(o["result"], width=MAX_WIDTH, xlabel=f"Time ({o['unit']})",
                           ylabel=f"Hazard ratio, {b} against {a}")
    return {"key": f"digitised:{o['name']}", "name": f"{o['name']}_hr_over_time", "caption":
            f"Hazard ratio of {b} against {a} as it changes with time (Cox model with the arm "
            f"times log time, R's coxph with tt), with its pointwise {o['level']:g}% band: the "
            "proportional-hazards check rejected a constant ratio."}, ax


def _rmst_over_tau_figure(o):
    from ..plots import plot_rmst_over_tau

    ax = plot_rmst_over_tau(o["table"], tau=o["tau"], width=MAX_WIDTH,
                            xlabel=f"Horizon tau ({o['unit']})",
                            ylabel=f"Pooled RMST difference ({o['unit']})")
    return {"key": f"digitised:{o['name']}", "name": f"{o['name']}_rmst_over_tau", "caption":
            f"Pooled RMST difference, {o['label']}, over the horizon tau (random effects, REML; "
            f"{o['level']:g}% interval shaded); dashed: the tau the rule chose (the smallest of the trials' "
            "last follow-up times)."}, ax


def _network_curves_figure(o):
    from ..plots import plot_survival_network

    top, _ = plot_survival_network(o["curves"], o["hr"], reference=o["reference"], width=MAX_WIDTH,
                                   xlabel=f"Time ({o['unit']})",
                                   ylabel=f"{OUTCOME_WORDS.get(o['outcome'], o['outcome']).capitalize()} "
                                          "(modelled)")
    return {"key": f"digitised:{o['name']}", "name": f"{o['name']}_curves", "caption":
            "Survival network (piecewise exponential, three intervals holding a third of the "
            f"events each): each therapy's modelled curve on the baseline hazard of "
            f"{o['baseline_trial']} (above) and its hazard ratio against {o['reference']} in "
            f"each interval with the {o['level']:g}% band (below)."}, top


_DIGITISED = {"models": _models_figure, "ph_check": _ph_check_figure,
              "extrapolation": _extrapolation_figure, "hr_over_time": _hr_over_time_figure,
              "rmst_over_tau": _rmst_over_tau_figure, "network": _network_curves_figure}


def draw_figures(review, network_fits, survival, *, funnel_min_k: int = 10):
    """Yield ``(spec, Axes)`` for every figure of the report, in page order (see
    :func:`figure_jobs`). The caller saves and closes each figure."""
    for job in figure_jobs(review, network_fits, survival, funnel_min_k=funnel_min_k):
        yield job()


# --------------------------------------------------------------------------------------------
# forest plots


TEXT_COLUMNS = ("value", "ci_low", "ci_high", "unit")


def table_text(path) -> dict:
    """``{line: {column: text}}`` of the study table's number columns as typed (``"11.0"``,
    ``"0.21"``), keyed by the line a record starts on (the lines the review's entries cite); an
    empty dict when the file cannot be read."""
    import csv

    out = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader)]
            idx = {c: header.index(c) for c in TEXT_COLUMNS if c in header}
            start = reader.line_num + 1
            for rec in reader:
                if len(rec) == len(header):
                    out[start] = {c: rec[j].strip() for c, j in idx.items()}
                start = reader.line_num + 1
    except (OSError, TypeError, ValueError, StopIteration, csv.Error):
        return {}
    return out


def reported_intervals(analysis, groups, raw=None):
    """Each study's number as the study table reports it, in the order the forest lists the
    studies (group by group): a DataFrame with ``value``, ``ci_low``, ``ci_high`` on the natural
    scale (ratio, months, proportion as a fraction) and ``ci_level`` (a fraction), NaN where the
    source gives no number (a bound not estimable, or no interval at all).

    None for count-based contrasts (RR, OR, RD): their table rows are the arms' proportions, not
    the contrast the figure shows. Medians reported in weeks or days are turned into months, the
    axis' unit. With ``raw`` (:func:`table_text`), ``value_text``, ``ci_low_text`` and
    ``ci_high_text`` hold the numbers as typed in the table, for an entry read from one line in
    the axis' unit (not for an entry that combines arms or a median in weeks).

    Examples
    --------
    >>> rep = reported_intervals(run.analysis, run.groups)                  # doctest: +SKIP
    >>> rep.loc[rep.study_id == "decision", ["value", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    import pandas as pd

    from ..studies import TIME_UNITS_IN_MONTHS

    if analysis.kind == "binary":
        return None
    frames = []
    for g in groups:
        e = g.entries
        n = len(e)
        # copies: the proportions' rows are filled in below
        col = (lambda c: np.array(e[c], dtype=float) if c in e else np.full(n, np.nan))
        value, lo, hi, level = col("value"), col("ci_low"), col("ci_high"), col("ci_level")
        if analysis.effect == "MEDIAN" and "unit" in e:
            k = np.array([TIME_UNITS_IN_MONTHS.get(str(u).strip() or "months", np.nan)
                          for u in e["unit"]], dtype=float)
            value, lo, hi = value * k, lo * k, hi * k
        exact = np.zeros(n, bool)
        if analysis.effect == "PROPORTION":
            # a proportion's row shows the observed rate: the model's per-study logit interval
            # moves 25 of 25 to 98.1 %; without a reported interval, the exact one (as meta does)
            from ..review.analyses import single_proportion

            for i in range(n):
                found = single_proportion(e.iloc[i], analysis.level)
                if found is not None:
                    value[i], lo[i], hi[i] = found[:3]
                    level[i] = float(analysis.level) / 100.0
                    exact[i] = found[3] == "exact"
        texts = {c: [""] * n for c in ("value_text", "ci_low_text", "ci_high_text")}
        if raw and "lines" in e:
            for i, lines in enumerate(e["lines"]):
                cells = raw.get(int(lines[0])) if len(lines) == 1 else None
                if not cells or (analysis.effect == "MEDIAN"
                                 and (cells.get("unit") or "months") != "months"):
                    continue
                for c, num in (("value", value[i]), ("ci_low", lo[i]), ("ci_high", hi[i])):
                    t = cells.get(c, "")
                    try:  # only a plain number that is the number the review read
                        ok = math.isclose(float(t), num, rel_tol=1e-9) and t[-1].isdigit()
                    except (ValueError, IndexError):
                        ok = False
                    texts[f"{c}_text"][i] = t if ok else ""
        frames.append(pd.DataFrame({
            "study_id": e["study_id"].astype(str).to_numpy() if "study_id" in e else [""] * n,
            "value": value, "ci_low": lo, "ci_high": hi, "ci_level": level, "exact": exact,
            **texts}))
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


_SCALE_WORDS = {"PLO": "logit", "PFT": "Freeman-Tukey double arcsine", "PAS": "arcsine",
                "PR": "proportion", "PLN": "log"}


def model_footnotes(analysis, groups) -> list:
    """Footnotes saying how the pooled model used what the study rows show (beyond the ones the
    forest adds itself: NE and the level marks)."""
    notes = []
    derived = [str(d) for g in groups for d in g.entries.get("derived", [])]
    if any("one side only" in d for d in derived):
        notes.append("The pooled model takes the standard error of an open interval from its "
                     "reported side alone (as if the interval were symmetric on the log scale); "
                     "nothing is imputed for the missing bound.")
    levels = [float(v) for g in groups for v in g.entries.get("ci_level", [])
              if v == v and analysis.kind != "binary"]
    target = float(analysis.level) / 100.0 if analysis.level > 1 else float(analysis.level)
    if any(abs(v - target) > 1e-9 for v in levels):
        notes.append("An interval reported at another level enters the model with the standard "
                     "error that level implies.")
    if analysis.effect == "PROPORTION":
        from ..review.analyses import single_proportion

        found = [single_proportion(e, analysis.level) for g in groups
                 for _, e in g.entries.iterrows()]
        if any(f is not None and f[3] == "exact" for f in found):
            pooled = any(g.fit.k >= 2 for g in groups)
            notes.append("Study rows without an interval in the source show the observed "
                         "proportion with its exact (Clopper-Pearson) interval"
                         + ("; a subtotal is the model's, on the "
                            + _SCALE_WORDS.get(analysis.scale, analysis.scale) + " scale."
                            if pooled else "."))
    if any("round" in d for d in derived):
        notes.append("* Events back-calculated from a reported percentage (the source gives no "
                     "count).")
    return notes


def axis_title(analysis) -> str | None:
    """The effect axis' label in words, or None for the measure's default (hazard ratio, risk
    ratio, risk difference)."""
    from ..plots._style import axis_label

    words = OUTCOME_WORDS.get(str(analysis.outcome).upper(), str(analysis.outcome))
    if analysis.effect == "MEDIAN":
        return axis_label("MEDLN", name=f"Median {words[0].lower() + words[1:]}, months")
    if analysis.effect == "PROPORTION":
        return f"{words[0].upper() + words[1:]}, %"
    return None


_TRAILING = re.compile(r"\s*\(([^()]*)\)\s*$")


def _short_study_label(label: str, group: str) -> str:
    """``"SELECT (lenvatinib vs placebo)"`` -> ``"SELECT"`` under the heading "lenvatinib"."""
    m = _TRAILING.search(str(label))
    if m and group and (m.group(1) == group or m.group(1).startswith(f"{group} vs ")):
        return str(label)[:m.start()]
    return str(label)


def rob_cells(run, table, rob):
    """The risk-of-bias cells of a forest plot's study rows (a DataFrame for ``forest(rob=)``),
    or None: the study rows of ``table`` are matched, in order, to the studies of the groups."""
    from ..plots import rob_columns
    from ..review.grade import rob_outcome
    from ..review.risk_of_bias import judgements_for

    if rob is None:
        return None
    f = rob.frame
    group = rob_outcome(run.analysis.outcome, set(f["outcome"]))
    ids = [sid for g in run.groups for sid in g.entries["study_id"]]
    labels = [lab for kind, lab in zip(table["kind"], table["label"]) if kind == "study"]
    if group is None or len(ids) != len(labels):
        return None
    judgements = judgements_for(rob, ids, group)
    judgements = judgements[[c for c in judgements.columns if c == "tool" or
                             judgements[c].notna().any()]]
    cells = rob_columns(judgements)
    label_of = dict(zip(ids, labels))
    cells.insert(0, "label", [label_of[s] for s in cells["study_id"]])
    return cells


class _NaturalProportions:
    """A proportion fit seen with its pooled numbers on the natural scale, for a scale whose
    back-transformation needs the studies' sizes (PFT, by their harmonic mean): the forest reads
    ``proportion``, ``proportion_ci_low`` ... as it does from ``pool_proportions``."""

    def __init__(self, fit, natural):
        self._fit = fit
        for key, name in (("estimate", "proportion"), ("ci_low", "proportion_ci_low"),
                          ("ci_high", "proportion_ci_high"), ("pi_low", "proportion_pi_low"),
                          ("pi_high", "proportion_pi_high")):
            v = natural.get(key)
            setattr(self, name, math.nan if v is None else float(v))

    def __getattr__(self, name):
        return getattr(self._fit, name)


def _with_proportions(group):
    """The group's fit, wrapped where the forest cannot back-transform it alone (see
    :class:`_NaturalProportions`)."""
    from ..plots._results import inverse_proportion

    a = group.analysis
    if a.effect != "PROPORTION" or inverse_proportion(a.scale) is not None:
        return group.fit
    return _NaturalProportions(group.fit, group.natural())


def _forest_figure(run, raw=None, rob=None):
    from ..plots import forest, forest_table
    from ..review.analyses import therapy_groups

    a = run.analysis
    grouped = a.group_by != "none"
    fits = [_with_proportions(g) for g in run.groups]
    target = (therapy_groups([dataclasses.replace(g, fit=f) for g, f in zip(run.groups, fits)])
              if grouped else fits[0])
    table = forest_table(target, columns=_columns(a, run.groups),
                         reported=reported_intervals(a, run.groups, raw),
                         footnotes=model_footnotes(a, run.groups),
                         # a descriptive summary declares no test: no p-value of Q either
                         heterogeneity_test=a.null is not None)
    if grouped:
        table["label"] = [_short_study_label(lab, grp) if kind == "study" else lab
                          for kind, lab, grp in zip(table["kind"], table["label"], table["group"])]
    kwargs = {"favours": a.favours} if a.favours else {}
    if a.null is None:
        kwargs["ref"] = None
    xl = axis_title(a)
    if xl is not None:
        kwargs["xlabel"] = xl
    cells = rob_cells(run, table, rob) if a.role == "primary" else None
    if cells is not None:
        kwargs["rob"] = cells
    ax = forest(None, table=table, title=a.title, max_width=MAX_WIDTH, **kwargs)
    # what the squares' intervals are, and whether any diamond is drawn, as the figure shows
    intervals = ("with intervals computed from the arm counts" if a.kind == "binary" else
                 "with the intervals the studies report, or the exact interval of their counts"
                 if a.effect == "PROPORTION" else "with their intervals as reported")
    pooled = any(g.k > 1 for g in run.groups)
    caption = (f"Forest plot: {a.title}. Squares: studies (area proportional to weight), "
               f"{intervals}; "
               + (("diamonds: pooled estimate of each therapy with two or more studies, with its "
                   "confidence interval (no estimate across therapies)." if pooled else
                   "one study per therapy: no pooled estimate, and none across therapies.")
                  if grouped else
                  "diamond: one estimate across therapies (class effect declared).")
               + ("" if a.null is not None else " Descriptive: no test."))
    if any(table["open"] != ""):
        caption += " NE: bound not estimable in the source, drawn open."
    if cells is not None:
        caption += (" Right: risk of bias (RoB 2) by domain D1–D5 and overall (O); + low, − some "
                    "concerns, × high.")
    return {"key": a.id, "name": f"{a.id}_forest", "caption": caption}, ax


def _funnel_figure(key, group):
    """Contour-enhanced funnel plot with the trim-and-fill studies, on the pooled scale."""
    from ..plots import funnel
    from ..pooling import trim_and_fill

    fit = group.fit
    filled, _ = try_run(trim_and_fill, fit)
    ax = funnel(fit, contours=True, trimfill=filled)
    name = key.replace("/", "_") + "_funnel"
    k0 = "" if filled is None else f" Trim and fill ({filled.estimator}) adds {filled.k0} study(ies), drawn open."
    return {"key": group.analysis.id, "name": name,
            "caption": f"Contour-enhanced funnel plot: {group.analysis.title}, {group.group} "
                       "(shading: p < 0.10, 0.05, 0.01)." + k0}, ax


def _columns(analysis, groups) -> dict:
    """Text columns beside the studies, in the order the groups list them."""
    years, second = [], []
    for g in groups:
        e = g.entries
        years += ["" if y != y else str(int(y)) for y in e.get("year", [float("nan")] * len(e))]
        if analysis.kind == "binary":
            second += [f"{int(a)}/{int(n1)} vs {c:g}/{n2:g}" + ("*" if "round" in str(d) else "")
                       for a, n1, c, n2, d in zip(e["ai"], e["n1i"], e["ci"], e["n2i"],
                                                  e["derived"])]
        elif analysis.effect == "PROPORTION":
            # no count where a proportion is weighted by its reported interval (no denominator)
            second += ["–" if x != x else f"{int(x)}/{int(n)}" + ("*" if "round" in str(d) else "")
                       for x, n, d in zip(e["xi"], e["ni"], e["derived"])]
        else:
            second += ["" if n != n else str(int(n)) for n in e.get("n", [float("nan")] * len(e))]
    head = {"binary": "Events/N (therapy vs control)", "arm": "Events/N"}.get(analysis.kind, "N")
    if analysis.effect == "MEDIAN":
        head = "N"
    return {"Year": years, head: second}


# --------------------------------------------------------------------------------------------
# network and survival


def _network_drawers():
    from .. import plots

    return [
        ("network_graph", lambda f: plots.network_graph(f),
         "Network of trials: line width and number by trials, node size by patients."),
        ("network_forest", lambda f: plots.network_forest(f, max_width=MAX_WIDTH),
         "Each therapy against placebo (network estimates)."),
        ("league_heatmap", lambda f: plots.league_heatmap(f), "League table of all pairs."),
        # Rank probabilities are computed here, with a fixed seed, and handed to the plot.
        ("rankogram", lambda f: plots.rankogram(f.sucra(n_sim=10000, seed=RANK_SEED)),
         f"Rank probabilities (10,000 simulations, seed {RANK_SEED})."),
    ]


_NETWORK_DRAWERS = ("network_graph", "network_forest", "league_heatmap", "rankogram")


def _network_figure(key, fit, i):
    name, draw, caption = _network_drawers()[i]
    return {"key": f"network:{key}", "name": f"{key}_{name}", "caption": caption}, draw(fit)


def _network_figures(fits):
    for key, fit in fits.items():
        for i in range(len(_NETWORK_DRAWERS)):
            yield _network_figure(key, fit, i)


def _survival_specs(survival) -> list:
    """Which modelled-curve figures there are: ``"rct"`` and/or ``"single"``."""
    out = []
    if any(c["therapy"].lower() != "placebo" for c in survival["curves"]):
        out.append("rct")
    if survival.get("single_arm"):
        out.append("single")
    if survival.get("network_curves") is not None:
        out.append("network")
    return out


def _survival_figure(survival, i):
    """Modelled curves: the randomised trials' therapy arms (PFS), and the single-arm studies
    with PFS and OS in two panels of one figure. Colour and line style by therapy, markers apart
    two studies of one therapy, each curve named at its end."""
    from ..plots import modelled_curves_panels, modelled_curves_plot

    times = np.linspace(0.0, survival["horizon"], 145)
    which = _survival_specs(survival)[i]
    if which == "rct":
        rct = [c for c in survival["curves"] if c["therapy"].lower() != "placebo"]
        ax = modelled_curves_plot(_curve_table(rct, times), color_by="therapy", band=False,
                                  width=MAX_WIDTH, height=2.8,
                                  ylabel="Progression-free survival (modelled)")
        return {"key": "survival", "name": "pfs_modelled_curves", "caption":
                "Progression-free survival on each therapy in the randomised trials: exponential "
                "curves through the reported medians (modelled); placebo arms are left out for "
                "clarity. Colour and line style: therapy; markers: trials of one therapy."}, ax
    if which == "network":
        return _network_modelled_figure(survival["network_curves"])
    single = survival.get("single_arm", [])
    panels = {}
    for o in ("PFS", "OS"):
        curves = [c for c in single if c.get("outcome") == o]
        if curves:
            words = OUTCOME_WORDS[o]
            panels[f"{words[0].upper()}{words[1:]} (modelled)"] = _curve_table(
                curves, times, outcome=False)
    axes = modelled_curves_panels(panels, color_by="therapy", band=False, width=MAX_WIDTH)
    which = ("Single-arm and retrospective studies"
             if any(c.get("design") == "retrospective" for c in single) else "Single-arm studies")
    return {"key": "survival", "name": "single_arm_modelled_curves", "caption":
            f"{which}, which report only medians: exponential "
            "curves through them (modelled), progression-free survival above, overall "
            "survival below. Colour and line style: therapy; markers: studies of one "
            "therapy."}, axes[0]


def _network_modelled_figure(o):
    """The PFS network's therapies on one placebo curve, each therapy in its own colour and line
    style, named at its end (the intervals are in the table: seven overlapping bands hide the
    curves)."""
    from ..plots import modelled_curves_plot

    curves = o["curves"].assign(label=o["curves"]["therapy"])
    ax = modelled_curves_plot(curves, color_by="therapy", band=False, width=MAX_WIDTH, height=3.2,
                              ylabel="Progression-free survival (modelled)")
    return {"key": "survival-network", "name": "pfs_network_modelled_curves", "caption":
            f"Progression-free survival on each therapy of the PFS network (modelled): the "
            f"exponential {o['reference']} curve through the median of the {o['reference']} arms' "
            f"median PFS ({o['baseline_median']:.2f} months), and each therapy's curve that curve "
            f"to the power of its network hazard ratio ({o['level']:g}% intervals in the table "
            "below). Assumes proportional and constant hazards: the curves show the size of the "
            "differences, not their shape."}, ax


def _survival_figures(survival):
    for i in range(len(_survival_specs(survival))):
        yield _survival_figure(survival, i)


def _curve_table(curves, times, outcome=True):
    import pandas as pd

    frames = []
    for c in curves:
        what = f" {c['outcome']}" if outcome and "outcome" in c else ""
        trial = without_registry_number(c["trial"])
        # a trial after a VEGFR-targeted drug is named so beside the first-line ones
        after = " (second line)" if c.get("therapy_line") == "second line" else ""
        label = f"{trial}: {c['therapy']}{what}{after}"
        frames.append(c["curve"].survival_table(times).assign(label=label, therapy=c["therapy"]))
    return pd.concat(frames, ignore_index=True)
