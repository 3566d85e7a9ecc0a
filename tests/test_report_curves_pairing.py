"""Which arm of a digitised curve pair is the reference (report/curves.py).

The study table's therapy/comparator rows decide, not the order of the curves' file names: the
hazard ratios and the RMST difference are of the therapy against its comparator.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.report.curves import digitised_section

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_curves import _write_trial  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("curves")
    # the comparator's file name sorts after the therapy's: file order would pick the therapy
    _write_trial(folder, "t9", {"aldesleukin": 12.0, "sorafenib": 8.0}, 31)
    # a study the table does not describe: the arm named as a control is the reference
    _write_trial(folder, "t8", {"drug": 12.0, "placebo": 8.0}, 41)
    table = pd.DataFrame({
        "study_id": ["t9", "t9", "t9"],
        "arm": ["aldesleukin", "sorafenib", "aldesleukin vs sorafenib"],
        "therapy": ["aldesleukin", "sorafenib", "aldesleukin"],
        "comparator": ["sorafenib", None, "sorafenib"],
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        section, objects = digitised_section(folder, table=table)
    return {p["study_id"]: p for p in section["pairs"]}, objects


def test_the_study_tables_comparator_is_the_reference_whatever_the_file_names(pairs):
    by_study, objects = pairs
    pair = by_study["t9"]
    assert pair["arms"] == ["sorafenib", "aldesleukin"] and pair["reference"] == "sorafenib"
    assert pair["reference_from"].startswith("study table")
    therapy, comparator = objects["t9_pfs_aldesleukin"]["ipd"], objects["t9_pfs_sorafenib"]["ipd"]
    tau = min(therapy["time"].max(), comparator["time"].max())
    # the therapy's RMST minus the comparator's (the simulated therapy arm lives longer)
    expected = ma.rmst_difference(therapy, comparator, horizon=tau)
    assert pair["rmst"]["difference"] == pytest.approx(expected.difference, rel=1e-12)
    assert pair["rmst"]["difference"] > 0
    ph = ma.ph_test(therapy, comparator)
    assert pair["ph_test"]["chisq"] == pytest.approx(ph.chisq, rel=1e-12)
    assert pair["ph_test"]["coef"] == pytest.approx(ph.coef, rel=1e-12)
    assert pair["hr_of"] == "aldesleukin against sorafenib"


def test_a_study_outside_the_table_takes_its_control_arm_as_reference(pairs):
    by_study, _ = pairs
    pair = by_study["t8"]
    assert pair["arms"] == ["placebo", "drug"] and pair["reference_from"].startswith("arm name")
    assert pair["rmst"]["difference"] > 0


def test_the_shipped_veteran_pair_keeps_standard_as_reference():
    table = ma.read_studies(ROOT / "data" / "studies.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        section, _ = digitised_section(ROOT / "data" / "curves", table=table)
    (pair,) = section["pairs"]
    assert pair["arms"] == ["standard", "test"] and pair["reference"] == "standard"
