"""The study-characteristics table ``data/trials.csv``.

One line per study of ``data/studies.csv``, with controlled vocabularies (documented in
``data/README.md``, section "Study characteristics: data/trials.csv") and a source for every row. The
checks live in one function, ``problems``, which the shipped table must pass; the mutation tests at the
end feed it broken copies, so that every rule is shown to fail when it should.
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ROOT / "data" / "trials.csv"
STUDIES = ROOT / "data" / "studies.csv"
README = ROOT / "data" / "README.md"
FACTSHEET_DIR = ROOT.parent / "shared" / "trials"

REQUIRED = ["study_id", "trial", "design", "phase", "randomised", "blinding", "control", "line",
            "prior_vegfr_tki", "histology", "biomarker", "region", "crossover", "crossover_pct",
            "pfs_assessor", "data_cuts", "registry", "doi", "source", "locator", "notes"]
VOCAB = {
    "design": {"rct", "single-arm", "retrospective", "prospective-cohort"},
    "phase": {"1", "1/2", "2", "3", "observational", ""},
    "randomised": {"yes", "no"},
    "blinding": {"double-blind", "open-label", ""},
    "control": {"placebo", "active", "none"},
    "line": {"first", "second", "any", "first-or-second", ""},
    "histology": {"DTC", "PTC", "mixed", ""},
    "biomarker": {"none", "BRAF V600E", "BRAF mutation", "RET fusion", "NTRK fusion", ""},
    "crossover": {"yes", "no", ""},
    "pfs_assessor": {"central", "investigator", ""},
}
# what `prior_vegfr_tki` must open with for each `line` (README: the line is read from it)
LINE_PRIOR = {"first": ("none",), "second": ("required",), "any": ("allowed", "prior"),
              "first-or-second": ("cohort",)}
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
NCT_RE = re.compile(r"^NCT\d{8}$")
SOURCE_RE = re.compile(r"^(doi:10\.\d{4,9}/\S+|pmid:\d+|pmcid:PMC\d+|url:https?://\S+|nct:NCT\d{8}"
                       r"|factsheet:rair-dtc-trials\.(md|csv)|\d{3}_[0-9a-f]{16}\.txt)$")
HISTOLOGY_COHORTS = {"dtc", "ptc"}  # population labels of studies.csv that name a one-histology cohort


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def trials() -> list[dict]:
    return read_csv(TRIALS)


@pytest.fixture(scope="module")
def studies() -> list[dict]:
    return read_csv(STUDIES)


def by_id(trials):
    return {r["study_id"]: r for r in trials}


def problems(trials: list[dict], studies: list[dict], columns: list[str] | None = None) -> list[str]:
    """Every rule of data/trials.csv, as a list of messages (empty when the table is sound)."""
    out = []
    columns = list(trials[0]) if columns is None else columns
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        return [f"missing columns {missing}"]
    ids = [r["study_id"] for r in trials]
    study_ids = {r["study_id"] for r in studies}
    design_of = {r["study_id"]: r["design"] for r in studies}
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        out.append(f"study_id on more than one line: {dups}")
    if set(ids) - study_ids:
        out.append(f"not in studies.csv: {sorted(set(ids) - study_ids)}")
    if study_ids - set(ids):
        out.append(f"no line for: {sorted(study_ids - set(ids))}")
    for r in trials:
        sid = r["study_id"]
        for col, allowed in VOCAB.items():
            if r[col] not in allowed:
                out.append(f"{sid}: {col} {r[col]!r} outside {sorted(allowed)}")
        if r["design"] == "rct" and r["randomised"] != "yes":
            out.append(f"{sid}: an rct must have randomised=yes")
        if r["design"] != "rct" and r["randomised"] != "no":
            out.append(f"{sid}: only an rct is randomised")
        if r["design"] != "rct" and r["control"] != "none":
            out.append(f"{sid}: a non-randomised study has no control arm")
        if sid in design_of and r["design"] != design_of[sid]:
            out.append(f"{sid}: design {r['design']} but {design_of[sid]} in studies.csv")
        if r["design"] == "retrospective" and (r["phase"] != "observational" or r["blinding"]):
            out.append(f"{sid}: a retrospective study is observational and unblinded")
        if r["doi"] and not DOI_RE.match(r["doi"]):
            out.append(f"{sid}: malformed DOI {r['doi']!r} (bare 10.xxxx/..., no prefix)")
        if r["registry"] and not NCT_RE.match(r["registry"]):
            out.append(f"{sid}: malformed registry number {r['registry']!r}")
        if r["line"] in LINE_PRIOR:
            if not r["prior_vegfr_tki"].startswith(LINE_PRIOR[r["line"]]):
                out.append(f"{sid}: line {r['line']} but prior_vegfr_tki {r['prior_vegfr_tki']!r}")
        elif not r["line"] and r["prior_vegfr_tki"]:
            out.append(f"{sid}: prior_vegfr_tki given but line empty")
        if r["crossover_pct"]:
            try:
                pct = float(r["crossover_pct"])
            except ValueError:
                pct = -1
            if not 0 <= pct <= 100 or r["crossover"] != "yes":
                out.append(f"{sid}: crossover_pct {r['crossover_pct']!r} needs crossover=yes and 0-100")
        if r["crossover"] and r["control"] != "placebo":
            out.append(f"{sid}: crossover is about placebo patients; none here")
        for col in ("trial", "source", "locator", "data_cuts"):
            if not r[col].strip():
                out.append(f"{sid}: empty {col}")
        for token in r["source"].split("; "):
            if not SOURCE_RE.match(token):
                out.append(f"{sid}: source entry {token!r} is not doi:/pmid:/pmcid:/url:/nct:/factsheet:/seed")
        if r["doi"] and f"doi:{r['doi']}" not in r["source"] and "factsheet:" not in r["source"]:
            out.append(f"{sid}: the DOI is traceable neither to the row's source nor to the fact sheet")
        for col in ("line", "histology"):  # may be empty, but then the notes must say why
            if not r[col] and not r["notes"].strip():
                out.append(f"{sid}: {col} left empty without a note")
    # a one-histology cohort label in studies.csv belongs to a study that is mixed in trials.csv
    hist = {r["study_id"]: r["histology"] for r in trials}
    for s in studies:
        if s["population"] in HISTOLOGY_COHORTS and hist.get(s["study_id"]) != "mixed":
            out.append(f"{s['study_id']}: population {s['population']!r} but histology "
                       f"{hist.get(s['study_id'])!r} (a cohort label is for mixed studies)")
    return out


# --------------------------------------------------------------------------------------------
# the shipped table


def test_header_and_encoding():
    raw = TRIALS.read_bytes()
    raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")
    header = raw.splitlines()[0].decode().split(",")
    assert header[:len(REQUIRED)] == REQUIRED


def test_shipped_table_has_no_problems(trials, studies):
    assert problems(trials, studies) == []


def test_one_line_per_study_and_no_other(trials, studies):
    ids = [r["study_id"] for r in trials]
    assert len(ids) == len(set(ids)) == len({r["study_id"] for r in studies}) == 28
    assert set(ids) == {r["study_id"] for r in studies}


def test_specific_characteristics(trials):
    t = by_id(trials)
    assert t["decision"]["line"] == "first"
    assert t["decision"]["prior_vegfr_tki"].startswith("none")
    assert t["cosmic311"]["line"] == "second"
    assert t["cosmic311"]["prior_vegfr_tki"].startswith("required")
    # Cabanillas 2017: salvage after progression on prior VEGFR-targeted therapy (one or two lines)
    assert t["cabanillas2017"]["line"] == "second"
    assert "21" in t["cabanillas2017"]["prior_vegfr_tki"] and "4" in t["cabanillas2017"]["prior_vegfr_tki"]
    # SELECT allowed one prior VEGF/VEGFR-targeted therapy
    assert t["select"]["line"] == "any" and "<=1" in t["select"]["prior_vegfr_tki"]
    assert t["gupta-abramson2008"]["histology"] == "mixed"
    assert t["ahmed2011"]["histology"] == "mixed"
    assert t["sorafenib40-2020"]["randomised"] == "no"
    assert t["sorafenib40-2020"]["design"] != "rct"
    assert t["busaidy2022"]["control"] == "active"
    assert {sid for sid, r in t.items() if r["control"] == "placebo"} == {
        "decision", "select", "cosmic311", "reality", "direction", "study308", "alter01032", "verify",
        "leboulleux2012"}


def test_every_registry_and_doi_is_in_a_source_read(trials):
    """NCT numbers and DOIs are copied from the fact sheet or the row's own source, never recalled."""
    if not FACTSHEET_DIR.exists():
        pytest.skip(f"fact sheet not found at {FACTSHEET_DIR}")
    sheet = "".join(p.read_text(encoding="utf-8") for p in FACTSHEET_DIR.glob("rair-dtc-trials.*"))
    for r in trials:
        if r["registry"]:
            assert r["registry"] in sheet or r["registry"] in r["source"] + r["locator"], r["study_id"]
        if r["doi"]:
            assert r["doi"] in sheet or f"doi:{r['doi']}" in r["source"], r["study_id"]


def test_seed_sources_have_their_record(trials):
    for r in trials:
        for token in r["source"].split("; "):
            if token.endswith(".txt"):
                assert (ROOT / "seeds" / token.replace(".txt", ".md")).exists(), token


def test_readme_documents_every_column_and_value(trials):
    text = README.read_text(encoding="utf-8")
    assert "## Study characteristics: data/trials.csv" in text
    section = text.split("## Study characteristics: data/trials.csv", 1)[1]
    for col in REQUIRED:
        assert f"`{col}`" in section, f"column {col} is not documented"
    for col, values in VOCAB.items():
        for v in values - {""}:
            assert f"`{v}`" in section, f"{col} value {v} is not documented"


# --------------------------------------------------------------------------------------------
# every rule fails when it should


def _broken(trials, sid, **changes):
    rows = copy.deepcopy(trials)
    for r in rows:
        if r["study_id"] == sid:
            r.update(changes)
    return rows


BREAKAGES = [
    ("decision", {"design": "cohort"}, "design"),
    ("decision", {"phase": "4"}, "phase"),
    ("decision", {"randomised": "no"}, "randomised=yes"),
    ("gupta-abramson2008", {"randomised": "yes"}, "only an rct"),
    ("decision", {"blinding": "single-blind"}, "blinding"),
    ("decision", {"line": "third"}, "line"),
    ("decision", {"line": "second"}, "prior_vegfr_tki"),
    ("cosmic311", {"prior_vegfr_tki": "none"}, "prior_vegfr_tki"),
    ("reality", {"prior_vegfr_tki": "none"}, "line empty"),
    ("decision", {"histology": "ATC"}, "histology"),
    ("decision", {"biomarker": "KRAS"}, "biomarker"),
    ("decision", {"crossover": "maybe"}, "crossover"),
    ("decision", {"crossover_pct": "171"}, "crossover_pct"),
    ("gupta-abramson2008", {"crossover_pct": "50"}, "crossover_pct"),
    ("decision", {"pfs_assessor": "blinded"}, "pfs_assessor"),
    ("decision", {"doi": "doi:10.1016/S0140-6736(14)60421-9"}, "malformed DOI"),
    ("decision", {"doi": "10.1016"}, "malformed DOI"),
    ("decision", {"registry": "NCT123"}, "registry"),
    ("decision", {"source": "Lancet 2014"}, "source entry"),
    ("decision", {"locator": " "}, "empty locator"),
    ("decision", {"design": "single-arm", "randomised": "no", "control": "none"}, "in studies.csv"),
    ("gupta-abramson2008", {"control": "placebo"}, "no control arm"),
    ("kloos2009", {"histology": "PTC"}, "cohort label"),
    ("capdevila2012", {"phase": "2"}, "observational"),
    ("schneider2012", {"doi": "10.9999/not-read", "source": "003_8f7e6027dbb9901d.txt"}, "traceable"),
    ("reality", {"line": "", "notes": ""}, "without a note"),
]


@pytest.mark.parametrize("sid, change, message", BREAKAGES, ids=[f"{b[0]}-{next(iter(b[1]))}" for b in BREAKAGES])
def test_each_rule_catches_its_breakage(trials, studies, sid, change, message):
    found = problems(_broken(trials, sid, **change), studies)
    assert any(message in p for p in found), found


def test_missing_extra_and_duplicate_lines_are_caught(trials, studies):
    assert any("no line for" in p for p in problems(trials[1:], studies))
    extra = copy.deepcopy(trials) + [dict(trials[0], study_id="nosuchstudy")]
    assert any("not in studies.csv" in p for p in problems(extra, studies))
    assert any("more than one line" in p for p in problems(trials + [trials[0]], studies))
    cols = [c for c in trials[0] if c != "line"]
    assert problems(trials, studies, columns=cols)[0].startswith("missing columns")


def test_specific_facts_would_fail_on_a_wrong_table(trials):
    with pytest.raises(AssertionError):
        test_specific_characteristics(_broken(trials, "cabanillas2017", line="first"))
    with pytest.raises(AssertionError):
        test_specific_characteristics(_broken(trials, "ahmed2011", histology="DTC"))
    with pytest.raises(AssertionError):
        test_specific_characteristics(_broken(trials, "sorafenib40-2020", randomised="yes"))
