"""Draw the baseline images of every figure the report makes (issue 14).

The review runs on the frozen inputs in ``tests/data/report_figures/`` (copies of ``data/``), the
figures are drawn by :func:`metaanalysis.report.figures.draw_figures` -- the code the report uses --
plus the PRISMA flow the report draws beside them, and each is saved as a 100 dpi PNG into
``tests/baseline/report/`` with the house rcParams (Agg, DejaVu Sans, fixed hash salt, no
software stamp), so the same code gives the same pixels. ``tests/test_report_figures.py``
redraws them the same way and compares with
:func:`matplotlib.testing.compare.compare_images`.

Usage (from the repository root)::

    python3 tests/baseline/make_report_baselines.py                    # redraw the baselines
    python3 tests/baseline/make_report_baselines.py --refresh-inputs   # copy data/ first
    python3 tests/baseline/make_report_baselines.py --out DIR          # draw elsewhere

Look at every image before committing them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # draw with this checkout's code, whatever is installed
    sys.path.insert(0, str(ROOT))
INPUTS = ROOT / "tests" / "data" / "report_figures"
BASELINE = ROOT / "tests" / "baseline" / "report"
INPUT_FILES = ("studies.csv", "protocol.toml", "trials.csv", "risk_of_bias.csv")
DPI = 100  # small committed files; the export tests check the 300 dpi and vector outputs


def review_inputs(folder=INPUTS):
    """``(review, network_fits, survival)`` of the report run on the study table in ``folder``."""
    from metaanalysis.report import run_analyses
    from metaanalysis.report.extras import analysed_studies, network_section, survival_section
    from metaanalysis.review import read_protocol, read_trials
    from metaanalysis.studies import read_studies

    folder = Path(folder)
    table = read_studies(folder / "studies.csv")
    trials = read_trials(folder / "trials.csv", studies=table)
    protocol = read_protocol(folder / "protocol.toml", studies=table.studies)
    _, review = run_analyses(table, protocol=protocol, trials=trials)
    _, network_fits = network_section(table, trials=trials)
    survival = survival_section(table, trials=trials, analysed=analysed_studies(review),
                                used_lines=review.used)
    from metaanalysis.report.curves import digitised_section

    from metaanalysis.report.curves import modelled_network_section
    from metaanalysis.review.grade import grade_rules

    # the PFS network's therapies on one placebo curve, as the report adds them
    _, survival["network_curves"] = modelled_network_section(
        network_fits.get("pfs_hr"), table, at_months=grade_rules(protocol)["sof_months"])
    # the digitised curves' model and PH-check figures (a frozen copy of data/curves)
    _, survival["digitised"] = digitised_section(folder / "curves", table=table)
    return review, network_fits, survival


def report_figures(review, network_fits, survival):
    """Yield ``(name, Axes)`` for every figure of the report, in page order (the PRISMA flow
    first, as the page shows it). The caller closes each."""
    from metaanalysis.report.analyses import SMALL_STUDY_MIN_K
    from metaanalysis.report.figures import draw_figures

    if getattr(review, "prisma", None) is not None:
        from metaanalysis.plots.prisma import prisma_flow

        yield "prisma_flow", prisma_flow(review.prisma)
    from metaanalysis.plots.risk_of_bias import rob_summary, traffic_light
    from metaanalysis.report.review_figures import risk_of_bias_views

    for spec, frame, summary in risk_of_bias_views(review):
        if not frame.empty:
            yield f"{spec['id']}_rob_traffic_light", traffic_light(frame)
        if summary is not None and not summary.empty:
            yield f"{spec['id']}_rob_summary", rob_summary(summary)
    for spec, ax in draw_figures(review, network_fits, survival, funnel_min_k=SMALL_STUDY_MIN_K):
        yield spec["name"], ax


def save_png(ax, path):
    from metaanalysis.plots import style

    with style():
        ax.figure.savefig(path, dpi=DPI, metadata={"Software": None}, facecolor="white")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BASELINE)
    parser.add_argument("--refresh-inputs", action="store_true",
                        help="copy data/studies.csv, protocol.toml, trials.csv, risk_of_bias.csv "
                             "and the curves first")
    args = parser.parse_args(argv)
    if args.refresh_inputs:
        for name in INPUT_FILES:
            shutil.copyfile(ROOT / "data" / name, INPUTS / name)
        (INPUTS / "curves").mkdir(exist_ok=True)
        for path in (ROOT / "data" / "curves").glob("*.csv"):
            shutil.copyfile(path, INPUTS / "curves" / path.name)
    from metaanalysis.plots.lifecycle import close_figure

    args.out.mkdir(parents=True, exist_ok=True)
    names = []
    for name, ax in report_figures(*review_inputs()):
        save_png(ax, args.out / f"{name}.png")
        close_figure(ax)
        names.append(name)
    stale = sorted(p.name for p in args.out.glob("*.png") if p.stem not in names)
    for n in names:
        print(args.out / f"{n}.png")
    if stale:
        print("not drawn any more (delete them):", ", ".join(stale), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
