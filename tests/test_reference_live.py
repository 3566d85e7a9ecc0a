"""Regenerate every stored R reference file live and check it equals the stored one.

The tests of each module compare the package with the JSON files in ``tests/reference/``. This
test closes the loop when ``Rscript`` and metafor are installed (CI installs them from Debian): it
reruns each committed R script in a scratch copy of the repository and checks that R still writes
the numbers that are stored, so a stale or hand-edited reference cannot pass unnoticed. Without R
it is skipped and the stored values are used.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
# _*.R files are helpers the scripts source, not scripts
SCRIPTS = sorted(p for p in REFERENCE.glob("*.R") if not p.name.startswith("_"))
# Values are written with 17 significant digits; a rerun of the same R build reproduces them, but
# iterative fits may differ in the last digits across BLAS builds.
RTOL = 1e-9
# Keys recording the environment, not results.
VOLATILE = {"r_version", "metafor_version", "R_version", "versions", "generated", "date", "lme4_version",
            "survival_version", "platform"}


def _compare(a, b, path="$"):
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (a.keys() | b.keys()) - VOLATILE
        for k in sorted(keys):
            assert k in a and k in b, f"{path}.{k} missing on one side"
            _compare(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{path}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        assert math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _packages(script: Path) -> list:
    # every package the script loads with library() (clubSandwich, BiasedUrn ... from Debian's
    # r-cran-* too); requireNamespace() marks an optional one, which the script copes without
    return sorted({"metafor", "jsonlite"} | set(re.findall(r"\blibrary\(\s*[\"']?([A-Za-z0-9.]+)",
                                                         script.read_text(encoding="utf-8"))))


def _run(script: Path, scratch: Path) -> dict:
    """Rerun ``script`` in a scratch copy of the repository; returns what the test checks."""
    # a script that reads third-party data from ../shared (GPL files kept out of the repository)
    # cannot rerun without it: skipped, as the Python tests that read those files are
    needs = re.findall(r"[\"'](\.\./shared/[^\"']+)[\"']", script.read_text(encoding="utf-8"))
    missing = [n for n in needs if not (ROOT / n).exists()]
    if missing:
        return {"skip": f"{missing[0]} not found (../shared is not next to the repository)"}
    packages = _packages(script)
    probe = subprocess.run(["Rscript", "-e", "; ".join(f"library({p})" for p in packages)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return {"skip": f"R is present but one of the R packages {', '.join(packages)} is not"}
    repo = scratch / "repo"
    (repo / "tests" / "reference").mkdir(parents=True)
    for item in ROOT.iterdir():
        if item.name not in ("tests", ".git"):
            (repo / item.name).symlink_to(item)
    for sub in (ROOT / "tests").iterdir():
        if sub.name != "reference":
            (repo / "tests" / sub.name).symlink_to(sub)
    for f in REFERENCE.iterdir():
        if f.suffix != ".json":
            shutil.copy(f, repo / "tests" / "reference" / f.name)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (scratch / "shared").symlink_to(shared)
    before = {p.name for p in (repo / "tests" / "reference").iterdir()}
    res = subprocess.run(["Rscript", str(Path("tests") / "reference" / script.name)], cwd=repo,
                         capture_output=True, text=True, timeout=900)
    written = [p for p in (repo / "tests" / "reference").iterdir()
               if p.suffix == ".json" and p.name not in before]
    return {"returncode": res.returncode, "stderr": res.stderr[-2000:], "written": written}


@pytest.fixture(scope="module")
def reruns(tmp_path_factory):
    """Every script rerun once, as many at a time as there are cores (each R process is
    single-threaded; run one after another they take about 7 minutes)."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    scripts = [s for s in SCRIPTS if s.name in MINE]
    scratch = {s.name: tmp_path_factory.mktemp(s.stem) for s in scripts}
    # the slowest first (about 140, 65, 37 and 23 s on this machine), so that the pool ends together
    slow = ("permutest.R", "glmm.R", "selection.R", "tau2_more.R")
    order = sorted(scripts, key=lambda s: slow.index(s.name) if s.name in slow else len(slow))
    with ThreadPoolExecutor(max_workers=max(1, cores)) as pool:
        futures = {s.name: pool.submit(_run, s, scratch[s.name]) for s in order}
        return {name: f.result() for name, f in futures.items()}


# CI runs this check once, shared between its two passes, which run side by side (R's output does
# not depend on the Python versions, and it takes minutes): METAANALYSIS_LIVE_R_SHARD="i/n" reruns
# the i-th of n shares of the scripts, balanced by their run times; METAANALYSIS_LIVE_R_ELSEWHERE
# skips them all (another run does them).
ELSEWHERE = os.environ.get("METAANALYSIS_LIVE_R_ELSEWHERE")
# seconds on this machine of the slowest scripts; the others take about 4 s
_SECONDS = {"permutest.R": 140, "glmm.R": 65, "selection.R": 37, "tau2_more.R": 23}


def shard(scripts, spec):
    """The scripts of share ``spec`` ("i/n"): longest first, each to the least loaded share."""
    if not spec:
        return list(scripts)
    i, n = (int(x) for x in spec.split("/"))
    loads, mine = [0.0] * n, []
    for s in sorted(scripts, key=lambda s: (-_SECONDS.get(s.name, 4), s.name)):
        j = loads.index(min(loads))
        loads[j] += _SECONDS.get(s.name, 4)
        if j == i:
            mine.append(s)
    return mine


SHARD = os.environ.get("METAANALYSIS_LIVE_R_SHARD", "")
MINE = {s.name for s in shard(SCRIPTS, SHARD)}


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed: stored values used")
@pytest.mark.skipif(bool(ELSEWHERE), reason=f"the R scripts are rerun by {ELSEWHERE} in this CI run")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_reference_regenerates(script, request):
    if script.name not in MINE:
        pytest.skip(f"share {SHARD} of the R scripts is rerun here; {script.name} is in another")
    out = request.getfixturevalue("reruns")[script.name]
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["returncode"] == 0, out["stderr"]
    written = out["written"]
    assert written, f"{script.name} wrote no JSON file"
    for new in written:
        stored = REFERENCE / new.name
        assert stored.exists(), f"{script.name} writes {new.name}, which is not committed"
        _compare(json.loads(stored.read_text()), json.loads(new.read_text()))


def test_shares_cover_every_script_once():
    for n in (1, 2, 3):
        shares = [shard(SCRIPTS, f"{i}/{n}") for i in range(n)]
        names = [s.name for share in shares for s in share]
        assert sorted(names) == sorted(s.name for s in SCRIPTS)
    a, b = (sum(_SECONDS.get(s.name, 4) for s in shard(SCRIPTS, f"{i}/2")) for i in (0, 1))
    assert abs(a - b) <= max(_SECONDS.values()) / 2
