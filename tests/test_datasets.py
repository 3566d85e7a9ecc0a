"""metaanalysis.datasets: the example datasets, their provenance and their packaging.

Values are checked against R's printout of metafor's data frames (R 4.2.2, metafor 3.8-1, metadat
1.2-0): ``print(dat.bcg)``, ``print(dat.li2007)``, ``print(dat.pritz1997)``. When R and metafor are
installed, ``metaanalysis/data/make_datasets.R`` is rerun into a temporary folder and must write the
shipped files byte for byte.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis import datasets
from metaanalysis.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "metaanalysis" / "data"
METAFOR_FILES = ("bcg.csv", "li2007.csv", "pritz1997.csv")
# printed summaries are rounded to 4 decimals by metafor; compare at half a unit of the last digit
PRINTED = 5e-5


def test_bcg_is_metafors_dat_bcg():
    bcg = ma.load_bcg()
    assert bcg.shape == (13, 9)
    assert list(bcg.columns) == ["trial", "author", "year", "tpos", "tneg", "cpos", "cneg",
                                 "ablat", "alloc"]
    first = bcg.iloc[0]
    assert (first.trial, first.author, first.year, first.tpos, first.tneg, first.cpos, first.cneg,
            first.ablat, first.alloc) == (1, "Aronson", 1948, 4, 119, 11, 128, 44, "random")
    # R: 8  TPT Madras 1980  505 87886  499 87892  13  random
    madras = bcg.set_index("trial").loc[8]
    assert (madras.author, madras.tpos, madras.tneg, madras.cpos, madras.cneg) == (
        "TPT Madras", 505, 87886, 499, 87892)
    assert bcg.trial.tolist() == list(range(1, 14))
    assert bcg.alloc.value_counts().to_dict() == {"random": 7, "systematic": 4, "alternate": 2}
    assert int(bcg[["tpos", "tneg", "cpos", "cneg"]].to_numpy().sum()) == 357347
    for column in ("trial", "year", "tpos", "tneg", "cpos", "cneg", "ablat"):
        assert np.issubdtype(bcg[column].dtype, np.integer), column


def test_bcg_gives_metafors_random_effects_fit():
    """rma(yi, vi, data=escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg))."""
    bcg = ma.load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    res = ma.pool(es.yi, es.vi, method="REML")
    assert abs(res.estimate - -0.7145) < PRINTED
    assert abs(res.tau2 - 0.3132) < PRINTED
    assert abs(res.q - 152.2330) < PRINTED


def test_li2007_is_metafors_dat_li2007():
    mg = ma.load_li2007()
    assert mg.shape == (22, 7)
    assert list(mg.columns) == ["id", "study", "year", "ai", "n1i", "ci", "n2i"]
    # R: 14 14 ISIS-4 1995 2216 29011 2103 29039
    isis = mg.set_index("id").loc[14]
    assert (isis.study, isis.year, isis.ai, isis.n1i, isis.ci, isis.n2i) == (
        "ISIS-4", 1995, 2216, 29011, 2103, 29039)
    assert (mg.ai <= mg.n1i).all() and (mg.ci <= mg.n2i).all()
    assert int(mg.n1i.sum() + mg.n2i.sum()) == 72476  # R: sum(n1i) + sum(n2i)
    # rma.mh(measure="OR", ...): estimate (log) -0.0131, OR 0.9870 [0.9356, 1.0412]
    res = ma.pool_binary(mg.ai, mg.n1i, mg.ci, mg.n2i, measure="OR", method="MH")
    assert abs(res.estimate - -0.0131) < PRINTED
    assert abs(np.exp(res.ci_low) - 0.9356) < PRINTED and abs(np.exp(res.ci_high) - 1.0412) < PRINTED


def test_pritz1997_is_metafors_dat_pritz1997():
    vs = ma.load_pritz1997()
    assert vs.shape == (14, 4)
    assert list(vs.columns) == ["study", "authors", "xi", "ni"]
    # R: 1 Giannotta et al. 16 17 ... 13 Shimoda et al. 58 68
    assert tuple(vs.iloc[0]) == (1, "Giannotta et al.", 16, 17)
    assert tuple(vs.iloc[12]) == (13, "Shimoda et al.", 58, 68)
    assert vs.xi.tolist() == [16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6]
    assert vs.ni.tolist() == [17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10]
    assert (int(vs.xi.sum()), int(vs.ni.sum())) == (246, 326)  # R: sum(xi), sum(ni)


def test_loaders_return_fresh_frames_with_their_source():
    a, b = ma.load_bcg(), ma.load_bcg()
    a.loc[0, "tpos"] = 999
    assert b.loc[0, "tpos"] == 4 and ma.load_bcg().loc[0, "tpos"] == 4
    assert Path(b.attrs["source"]).name == "bcg.csv"


def test_loaders_are_public_and_documented():
    for name in ("load_bcg", "load_li2007", "load_pritz1997", "load_rair_dtc"):
        assert name in ma.__all__
        doc = getattr(ma, name).__doc__
        assert "Returns" in doc and "Examples" in doc
    for name in ("load_bcg", "load_li2007", "load_pritz1997"):
        doc = getattr(ma, name).__doc__
        assert "metafor" in doc and "GPL" in doc and "doi:10." in doc


# --- the RAIR-DTC table -------------------------------------------------------------------------

def test_rair_dtc_is_the_validated_study_table():
    frame = ma.load_rair_dtc()
    table = ma.read_studies(ROOT / "data" / "studies.csv")
    assert frame.shape == table.frame.shape
    assert frame["study_id"].tolist() == table.frame["study_id"].tolist()
    assert frame["line"].tolist() == list(range(2, len(frame) + 2))
    # from a source checkout, "auto" reads the repository's table
    assert Path(frame.attrs["source"]) == ROOT / "data" / "studies.csv"
    select = frame[(frame.study_id == "select") & (frame.outcome == "PFS") & (frame.measure == "hr")]
    assert 0.21 in select["value"].tolist()


def test_packaged_rair_dtc_copy_equals_the_repository_table():
    """The wheel's copy must not drift from data/studies.csv (refresh it with cp, see its README)."""
    packaged = (DATA / "rair_dtc_studies.csv").read_bytes()
    repository = (ROOT / "data" / "studies.csv").read_bytes()
    assert packaged == repository, (
        "metaanalysis/data/rair_dtc_studies.csv differs from data/studies.csv: run "
        "`cp data/studies.csv metaanalysis/data/rair_dtc_studies.csv`")
    a, b = ma.load_rair_dtc(source="package"), ma.load_rair_dtc(source="repository")
    assert a.equals(b)
    assert Path(a.attrs["source"]).name == "rair_dtc_studies.csv"


def test_rair_dtc_outside_a_checkout_reads_the_packaged_copy(monkeypatch, tmp_path):
    """An installed wheel: no data/studies.csv beside the package."""
    monkeypatch.setattr(datasets, "_REPOSITORY", tmp_path)
    frame = ma.load_rair_dtc()
    assert Path(frame.attrs["source"]) == DATA / "rair_dtc_studies.csv"
    with pytest.raises(InputError, match="source='package'"):
        ma.load_rair_dtc(source="repository")
    # a folder named data/ that is not this project's checkout is not taken for one
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "studies.csv", tmp_path / "data" / "studies.csv")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n', encoding="utf-8")
    assert Path(ma.load_rair_dtc().attrs["source"]).name == "rair_dtc_studies.csv"


def test_rair_dtc_rejects_an_unknown_source():
    with pytest.raises(InputError, match="auto, repository, package"):
        ma.load_rair_dtc(source="internet")


# --- packaging and provenance -------------------------------------------------------------------

def test_every_data_file_is_package_data():
    """Each file in metaanalysis/data/ matches a pattern of [tool.setuptools.package-data]."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["metaanalysis"]
    files = sorted(p.relative_to(DATA.parent).as_posix() for p in DATA.iterdir() if p.is_file())
    assert {"data/bcg.csv", "data/make_datasets.R", "data/README.md",
            "data/rair_dtc_studies.csv"} <= set(files)
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert unshipped == [], f"not in the wheel: {unshipped}"


def test_data_readme_credits_every_dataset():
    text = (DATA / "README.md").read_text(encoding="utf-8")
    for name in ("dat.bcg", "dat.li2007", "dat.pritz1997", "Colditz", "Li J", "Pritz", "GPL",
                 "make_datasets.R", "rair_dtc_studies.csv"):
        assert name in text, name
    for file in METAFOR_FILES:
        assert file in text
        assert file.removesuffix(".csv") in (DATA / "make_datasets.R").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed: shipped files used")
def test_make_datasets_R_writes_the_shipped_files(tmp_path):
    probe = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("R is present but metafor is not")
    out = subprocess.run(["Rscript", str(DATA / "make_datasets.R"), str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert written == sorted(METAFOR_FILES)
    for name in METAFOR_FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), (
            f"make_datasets.R no longer writes metaanalysis/data/{name}")
