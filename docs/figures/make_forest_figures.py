"""Regenerate the README's figures from the shipped study table.

The figures are the report's own (``metaanalysis report``), copied here so that README shows exactly
what the main job draws::

    python docs/figures/make_forest_figures.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from metaanalysis.report import build_report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIGURES = {"pfs_hr_forest.png": "forest_pfs_hr.png", "orr_forest.png": "forest_orr.png",
           "prisma_flow.png": "prisma_flow.png",
           "pfs_hr_rob_traffic_light.png": "rob_traffic_light_pfs.png",
           "pfs_hr_rob_summary.png": "rob_summary_pfs.png"}


def main(folder: Path = HERE) -> list:
    """Write the README's figures into ``folder`` (this one by default); returns their paths.
    tests/test_readme.py draws them into a temporary folder and compares them with the ones here,
    so README cannot show figures the report no longer draws."""
    folder = Path(folder)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        out = build_report(ROOT / "data" / "studies.csv", Path(tmp) / "report", formats=("png",))
        for src, dst in FIGURES.items():
            shutil.copy(out.directory / "figures" / src, folder / dst)
            written.append(folder / dst)
    return written


if __name__ == "__main__":
    for path in main():
        print(f"wrote {path}")
