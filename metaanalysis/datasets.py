"""Example datasets, shipped with the package and loaded as pandas DataFrames.

In the spirit of lifelines' ``load_rossi()``: the README tour, the docstrings and the tests use
these, so that every example runs as written on a fresh installation.

============================  ======================================================  =========
loader                        what                                                    rows
============================  ======================================================  =========
:func:`load_bcg`              BCG vaccine trials (Colditz et al. 1994), metafor's      13
                              ``dat.bcg``: two-by-two tables, latitude, allocation
:func:`load_li2007`           intravenous magnesium after myocardial infarction        22
                              (Li et al. 2007), metafor's ``dat.li2007``: deaths and
                              patients per arm
:func:`load_pritz1997`        hyperdynamic therapy for cerebral vasospasm (Pritz       14
                              1997), metafor's ``dat.pritz1997``: single-arm counts
:func:`load_rair_dtc`         the RAIR-DTC study table of this project                 one row
                              (``data/studies.csv``), validated                        per number
============================  ======================================================  =========

The three metafor datasets were written by ``metaanalysis/data/make_datasets.R`` from R's own
copies (metafor 3.8-1, which attaches the metadat package that holds them); the test suite reruns
that script when R is installed and checks the files are unchanged. They are published trial counts,
compiled by Wolfgang Viechtbauer for metafor/metadat (GPL >= 2); each loader's docstring cites the
original publication, and ``metaanalysis/data/README.md`` says more.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .studies import read_studies

__all__ = ["load_bcg", "load_li2007", "load_pritz1997", "load_rair_dtc", "DATA_DIR"]

# the package's data folder (the CSV files are package data: they are in the wheel)
DATA_DIR = Path(__file__).resolve().parent / "data"
# the repository this module sits in, when it is a source checkout (editable install)
_REPOSITORY = Path(__file__).resolve().parents[1]
_RAIR_DTC_PACKAGED = "rair_dtc_studies.csv"
_RAIR_DTC_SOURCES = ("auto", "repository", "package")


def _read_csv(name: str, columns: tuple):
    import pandas as pd

    frame = pd.read_csv(DATA_DIR / name, encoding="utf-8")
    if tuple(frame.columns) != columns:  # a damaged installation, not a user error
        raise RuntimeError(f"{DATA_DIR / name}: columns {list(frame.columns)}, expected {list(columns)}")
    frame.attrs["source"] = str(DATA_DIR / name)
    return frame


def load_bcg():
    """The BCG vaccine trials: metafor's ``dat.bcg`` (Colditz et al. 1994), 13 trials.

    Each trial's two-by-two table of tuberculosis cases in the vaccinated and control groups, with
    the absolute latitude of the study location and the method of allocation. The dataset of
    metafor's ``escalc``, ``rma``, ``rma.mh`` and meta-regression examples.

    Returns
    -------
    pandas.DataFrame
        13 rows, columns ``trial`` (1-13), ``author``, ``year``, ``tpos``, ``tneg`` (TB positive
        and negative, vaccinated group), ``cpos``, ``cneg`` (control group), ``ablat`` (absolute
        latitude, degrees) and ``alloc`` (``random``, ``alternate`` or ``systematic``), as R prints
        ``dat.bcg``.

    Notes
    -----
    Source: Colditz GA, Brewer TF, Berkey CS, Wilson ME, Burdick E, Fineberg HV, Mosteller F.
    Efficacy of BCG vaccine in the prevention of tuberculosis: meta-analysis of the published
    literature. JAMA 1994;271(9):698-702. doi:10.1001/jama.1994.03510330076038.
    Compiled by Wolfgang Viechtbauer in R's metafor/metadat packages (GPL >= 2); the numbers are
    the published trial counts. Written by ``metaanalysis/data/make_datasets.R``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> bcg = ma.load_bcg()
    >>> bcg.shape
    (13, 9)
    >>> es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> round(float(ma.pool(es.yi, es.vi).estimate), 4)    # rma(yi, vi): -0.7145
    -0.7145
    """
    return _read_csv("bcg.csv", ("trial", "author", "year", "tpos", "tneg", "cpos", "cneg",
                                 "ablat", "alloc"))


def load_li2007():
    """Intravenous magnesium after acute myocardial infarction: metafor's ``dat.li2007``, 22 trials.

    Deaths and patients in the magnesium and control arms of 22 randomised trials, including the
    large ISIS-4 (trial 14) and MAGIC trials: metafor's example of odds ratios, of a single large
    trial that disagrees with the small ones, and of a contour-enhanced funnel plot.

    Returns
    -------
    pandas.DataFrame
        22 rows, columns ``id``, ``study`` (first author or trial), ``year``, ``ai``, ``n1i``
        (deaths and patients, magnesium), ``ci``, ``n2i`` (deaths and patients, control).

    Notes
    -----
    Source: Li J, Zhang Q, Zhang M, Egger M. Intravenous magnesium for acute myocardial infarction.
    Cochrane Database Syst Rev 2007;(2):CD002755. doi:10.1002/14651858.CD002755.pub2.
    Compiled by Wolfgang Viechtbauer in R's metafor/metadat packages (GPL >= 2); the numbers are
    the published trial counts. Written by ``metaanalysis/data/make_datasets.R``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> mg = ma.load_li2007()
    >>> res = ma.pool_binary(mg.ai, mg.n1i, mg.ci, mg.n2i, measure="OR", method="MH")
    >>> int(mg.n1i.sum() + mg.n2i.sum())
    72476
    """
    return _read_csv("li2007.csv", ("id", "study", "year", "ai", "n1i", "ci", "n2i"))


def load_pritz1997():
    """Hyperdynamic therapy for cerebral vasospasm: metafor's ``dat.pritz1997``, 14 studies.

    The number of patients who improved under hyperdynamic therapy (induced hypertension and
    hypervolaemia) of the patients treated, in 14 single-arm studies: metafor's example of pooled
    proportions (``measure="PR"``, ``"PLO"``) and of the binomial-normal GLMM (``rma.glmm``).

    Returns
    -------
    pandas.DataFrame
        14 rows, columns ``study`` (1-14), ``authors``, ``xi`` (patients improved) and ``ni``
        (patients treated).

    Notes
    -----
    Source: Zhou XH, Brizendine EJ, Pritz MB. Methods for combining rates from several studies.
    Stat Med 1999;18(5):557-566. doi:10.1002/(SICI)1097-0258(19990315)18:5<557::AID-SIM53>3.0.CO;2-F
    (the data of Pritz MB, Neurosurgery Quarterly 1997;7(4):273-285).
    Compiled by Wolfgang Viechtbauer in R's metafor/metadat packages (GPL >= 2); the numbers are
    the published counts. Written by ``metaanalysis/data/make_datasets.R``.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> vs = ma.load_pritz1997()
    >>> int(vs.xi.sum()), int(vs.ni.sum())
    (246, 326)
    """
    return _read_csv("pritz1997.csv", ("study", "authors", "xi", "ni"))


def _rair_dtc_path(source: str) -> Path:
    repository = _REPOSITORY / "data" / "studies.csv"
    # a source checkout: this module's grandparent holds this project's pyproject.toml and data/
    pyproject = _REPOSITORY / "pyproject.toml"
    in_checkout = (repository.is_file() and pyproject.is_file()
                   and 'name = "metaanalysis"' in pyproject.read_text(encoding="utf-8"))
    if source == "repository":
        if not in_checkout:
            raise InputError(f"load_rair_dtc(source='repository'): no source checkout here "
                             f"({repository} not found); use source='package' or 'auto'")
        return repository
    if source == "package" or not in_checkout:
        return DATA_DIR / _RAIR_DTC_PACKAGED
    return repository


def load_rair_dtc(source: str = "auto"):
    """The RAIR-DTC study table: targeted therapy for radioiodine-refractory thyroid cancer.

    One row per number reported in 28 studies (medians, hazard ratios, response and adverse-event
    proportions...), each with its source and locator, read and validated by
    :func:`~metaanalysis.studies.read_studies`. The columns are documented in ``data/README.md``.

    Parameters
    ----------
    source : {"auto", "repository", "package"}
        Which copy to read. The table lives in the repository as ``data/studies.csv``; the package
        carries a copy (``metaanalysis/data/rair_dtc_studies.csv``) so that an installed wheel has
        it too. ``"auto"`` (the default) reads the repository's table when this module runs from a
        source checkout (an editable install: edits to the table show at once) and the packaged
        copy otherwise. The tests check that the two copies are identical.

    Returns
    -------
    pandas.DataFrame
        The validated table's ``frame``: numeric columns as floats, text columns as strings, plus
        ``line``, the CSV line number of each row. ``frame.attrs["source"]`` is the file read.

    Raises
    ------
    InputError
        ``source`` not one of the three, or ``"repository"`` outside a source checkout.

    Notes
    -----
    Coded by hand for this project from the publications each row cites; see ``seeds/`` and
    ``data/README.md``. For the whole review (protocol and trial characteristics beside the table),
    use ``ma.run_review("data/studies.csv")`` from the repository.

    Examples
    --------
    >>> import metaanalysis as ma
    >>> table = ma.load_rair_dtc()
    >>> table["study_id"].nunique() >= 28
    True
    """
    if source not in _RAIR_DTC_SOURCES:
        raise InputError(f"load_rair_dtc: source={source!r}; use one of {', '.join(_RAIR_DTC_SOURCES)}")
    path = _rair_dtc_path(source)
    frame = read_studies(path).frame
    frame.attrs["source"] = str(path)
    return frame
