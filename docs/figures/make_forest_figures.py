"""Draw the README's forest plots from the shipped study table.

    python docs/figures/make_forest_figures.py

Rows are chosen by the report's rules (``metaanalysis.report.analyses``), so the figures show the
same analyses as ``metaanalysis report``: PFS hazard ratios against placebo, by therapy, and the
objective response rate on therapy.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import metaanalysis as ma  # noqa: E402
from metaanalysis.plots import forest, save_figure  # noqa: E402
from metaanalysis.report.analyses import SPECS, effect_data, select  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main():
    table = ma.read_studies(ROOT / "data" / "studies.csv")
    specs = {s.key: s for s in SPECS}

    # PFS hazard ratios against placebo, one subgroup per therapy
    data = effect_data(select(table.frame, specs["pfs_hr"]))
    sub = ma.subgroup_analysis(data.yi, data.vi, groups=list(data.groups), labels=data.labels,
                               measure="HR", method="REML")
    f = data.frame
    ax = forest(sub, columns={"Year": f["year"].astype(int).tolist(),
                              "N": [f"{int(n)}" if n == n else "" for n in f["n"]]},
                favours=("Favours therapy", "Favours placebo"), width="double")
    save_figure(ax, HERE / "forest_pfs_hr.png", dpi=300)

    # Objective response rate on therapy (single arms of trials and single-arm studies)
    data = effect_data(select(table.frame, specs["orr"]))
    res = ma.pool_proportions(data.xi, data.ni, measure="PLO", method="REML", labels=data.labels)
    f = data.frame
    ax = forest(res, columns={"Design": f["design"].tolist(),
                              "Responses/N": [f"{int(x)}/{int(n)}" for x, n in zip(data.xi, data.ni)]},
                width="double", xlim=(0, 100))
    save_figure(ax, HERE / "forest_orr.png", dpi=300)


if __name__ == "__main__":
    main()
