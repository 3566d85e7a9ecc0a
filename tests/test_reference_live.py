"""Regenerate every stored R reference file live and check it equals the stored one.

The tests of each module compare the package with the JSON files in ``tests/reference/``. This
test closes the loop when ``Rscript`` and metafor are installed (CI installs them from Debian): it
reruns each committed R script in a scratch copy of the repository and checks that R still writes
the numbers that are stored, so a stale or hand-edited reference cannot pass unnoticed. Without R
it is skipped and the stored values are used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
# _*.R files are helpers the scripts source, not scripts
SCRIPTS = sorted(p for p in REFERENCE.glob("*.R") if not p.name.startswith("_"))
MANIFEST = REFERENCE / "MANIFEST.json"
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


def _helpers(root: Path = ROOT) -> list:
    return sorted((root / "tests" / "reference").glob("_*.R"))


def _reads(script: Path, root: Path = ROOT) -> list:
    """The repository or ../shared files ``script`` and the helpers read: every quoted path in
    them that exists from the repository root (a folder stands for every file in it). Paths are
    kept as written, not resolved, so that a copy of the checkout with ../shared linked beside it
    (as CI's second pass has) names the same files."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in [script, *_helpers(root)])
    found = set()
    for lit in re.findall(r"[\"']([^\"'\s]+)[\"']", text):
        if "/" not in lit:
            continue
        path = Path(os.path.normpath(root / lit))
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(Path(os.path.normpath(p)) for p in path.rglob("*") if p.is_file())
    # the repository's files first, then those beside it, each by name from the root: an order by
    # absolute path would depend on whether the checkout's folder sorts before "shared"
    names = {f: os.path.relpath(f, os.path.normpath(root)) for f in found}
    return sorted(found, key=lambda f: (names[f].startswith(".."), names[f]))


def r_versions(packages) -> dict:
    """R's version and those of ``packages`` as installed: ``{"R": "4.2.2", "metafor": ...}``."""
    code = ("cat(paste0('R=', paste(R.version$major, R.version$minor, sep = '.')), sep = '\\n'); "
            "for (p in commandArgs(TRUE)) cat(paste0(p, '=', tryCatch(as.character(packageVersion(p)), "
            "error = function(e) 'missing')), sep = '\\n')")
    out = subprocess.run(["Rscript", "-e", code, *sorted(packages)], capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def script_versions(script: Path, versions: dict) -> dict:
    """The entries of ``versions`` that a rerun of ``script`` depends on."""
    return {name: versions.get(name, "missing") for name in ["R", *_packages(script)]}


def digest(script: Path, versions: dict, writes, root: Path = ROOT) -> str:
    """sha256 of everything that fixes what a rerun of ``script`` finds: the versions of R and of
    the packages it loads, the script, every helper, the files it reads and the stored JSON files
    it writes (``writes``, names in tests/reference/; a missing one makes the digest differ)."""
    h = hashlib.sha256()
    for name, version in script_versions(script, versions).items():
        h.update(f"{name}={version}\n".encode())
    reference = root / "tests" / "reference"
    files = [script, *_helpers(root), *_reads(script, root), *(reference / w for w in sorted(writes))]
    for f in files:
        # named from the repository root (../shared/... for the folder beside it), so that the
        # digest does not depend on what the checkout's folder is called
        name = Path(os.path.relpath(os.path.normpath(f), os.path.normpath(root))).as_posix()
        h.update(f"{name}\n".encode())
        h.update(hashlib.sha256(f.read_bytes()).hexdigest().encode() if f.is_file() else b"missing")
        h.update(b"\n")
    return h.hexdigest()


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"scripts": {}}


def unchanged(scripts, versions) -> set:
    """Names of the scripts whose digest equals the one a passing full rerun recorded."""
    recorded = _manifest()["scripts"]
    return {s.name for s in scripts if s.name in recorded
            and recorded[s.name]["digest"] == digest(s, versions, recorded[s.name]["writes"])}


def update_manifest(names=()) -> int:
    """Rerun the scripts called ``names`` (every script without names) and record in MANIFEST.json
    the digest of each one whose rerun reproduces its stored JSON; a script that does not loses its
    entry. Written atomically. Returns the number of scripts that did not reproduce."""
    import tempfile

    from metaanalysis.fileio import atomic_write

    scripts = [s for s in SCRIPTS if not names or s.name in names]
    unknown = set(names) - {s.name for s in scripts}
    if unknown:
        raise SystemExit(f"not a reference script: {', '.join(sorted(unknown))} "
                         f"(scripts: {', '.join(s.name for s in SCRIPTS)})")
    versions = r_versions(set().union(*(_packages(s) for s in scripts)))
    manifest = _manifest()
    recorded = {k: v for k, v in manifest["scripts"].items() if (REFERENCE / k).exists()}
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        outs = rerun_all(scripts, lambda stem: Path(tempfile.mkdtemp(prefix=stem, dir=tmp)))
        for s in scripts:
            out = outs[s.name]
            if "skip" in out:
                # it could not run here (../shared missing, an R package missing): its entry, if
                # any, stays as the last passing rerun left it
                print(f"{s.name}: not rerun ({out['skip']}); its entry is left as it was", file=sys.stderr)
                continue
            problem = _check(s, out)
            if problem is not None:
                failed += 1
                recorded.pop(s.name, None)
                print(f"{s.name}: not recorded: {problem}", file=sys.stderr)
                continue
            writes = sorted(p.name for p in out["written"])
            recorded[s.name] = {"digest": digest(s, versions, writes), "writes": writes,
                                "versions": script_versions(s, versions)}
            print(f"{s.name}: reproduces {', '.join(writes)}; recorded")
    manifest = {"about": "written by `python tests/test_reference_live.py --update` from reruns that "
                         "reproduced the stored JSON; see tests/test_reference_live.py",
                "scripts": dict(sorted(recorded.items()))}
    atomic_write(MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return failed


def _missing_shared(script: Path) -> list:
    """The ../shared files ``script`` names that are not beside this checkout."""
    needs = re.findall(r"[\"'](\.\./shared/[^\"']+)[\"']", script.read_text(encoding="utf-8"))
    return [n for n in needs if not (ROOT / n).exists()]


def _run(script: Path, scratch: Path) -> dict:
    """Rerun ``script`` in a scratch copy of the repository; returns what the test checks."""
    # a script that reads third-party data from ../shared (GPL files kept out of the repository)
    # cannot rerun without it: skipped, as the Python tests that read those files are
    missing = _missing_shared(script)
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


def _check(script: Path, out: dict) -> str | None:
    """None when the rerun of ``script`` wrote exactly the stored numbers, else what differs."""
    if out["returncode"] != 0:
        return out["stderr"]
    if not out["written"]:
        return f"{script.name} wrote no JSON file"
    for new in out["written"]:
        stored = REFERENCE / new.name
        if not stored.exists():
            return f"{script.name} writes {new.name}, which is not committed"
        try:
            _compare(json.loads(stored.read_text()), json.loads(new.read_text()))
        except AssertionError as exc:
            return f"{new.name}: {exc}"
    return None


def rerun_all(scripts, mkscratch) -> dict:
    """``scripts`` rerun, as many at a time as there are cores (each R process is single-threaded;
    run one after another they take about 7 minutes); ``mkscratch(stem)`` gives an empty folder."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    scratch = {s.name: mkscratch(s.stem) for s in scripts}
    # the slowest first, so that the pool ends together
    order = sorted(scripts, key=lambda s: (-_SECONDS.get(s.name, 4), s.name))
    with ThreadPoolExecutor(max_workers=max(1, cores)) as pool:
        futures = {s.name: pool.submit(_run, s, scratch[s.name]) for s in order}
        return {name: f.result() for name, f in futures.items()}


@pytest.fixture(scope="module")
def versions():
    return r_versions(set().union(*(_packages(s) for s in SCRIPTS)))


@pytest.fixture(scope="module")
def reruns(tmp_path_factory, versions):
    """The scripts of this share that changed since their recorded passing rerun (all of them
    with METAANALYSIS_LIVE_R=all), rerun once."""
    scripts = [s for s in SCRIPTS if s.name in MINE]
    if not ALL:
        same = unchanged(scripts, versions)
        scripts = [s for s in scripts if s.name not in same]
    return rerun_all(scripts, tmp_path_factory.mktemp)


# CI runs this check once, shared between its two passes (R's output does not depend on the Python
# versions, and a full rerun takes minutes): METAANALYSIS_LIVE_R_SHARD="i/n" reruns
# the i-th of n shares of the scripts, balanced by their run times; METAANALYSIS_LIVE_R_ELSEWHERE
# skips them all (another run does them).
ELSEWHERE = os.environ.get("METAANALYSIS_LIVE_R_ELSEWHERE")
ALL = os.environ.get("METAANALYSIS_LIVE_R", "") == "all"
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
    done = request.getfixturevalue("reruns")
    if script.name not in done:
        pytest.skip(f"{script.name} unchanged since its passing rerun recorded in tests/reference/MANIFEST.json "
                    "(R, its packages, the script, what it reads, its JSON; METAANALYSIS_LIVE_R=all reruns it)")
    out = done[script.name]
    if "skip" in out:
        pytest.skip(out["skip"])
    problem = _check(script, out)
    assert problem is None, problem


def test_shares_cover_every_script_once():
    for n in (1, 2, 3):
        shares = [shard(SCRIPTS, f"{i}/{n}") for i in range(n)]
        names = [s.name for share in shares for s in share]
        assert sorted(names) == sorted(s.name for s in SCRIPTS)
    a, b = (sum(_SECONDS.get(s.name, 4) for s in shard(SCRIPTS, f"{i}/2")) for i in (0, 1))
    assert abs(a - b) <= max(_SECONDS.values()) / 2


def test_digest_changes_with_every_input(tmp_path):
    """A changed byte in the script, a helper, a file it reads or its stored JSON, another R or
    package version, or a missing output: each gives another digest (otherwise an edited reference
    would not be rerun)."""
    root = tmp_path / "repo"
    for sub in ("tests/reference", "tests/data/ipd"):
        shutil.copytree(ROOT / sub, root / sub)
    script = root / "tests" / "reference" / "rmst.R"
    versions = {"R": "4.2.2", "metafor": "4.0-0", "jsonlite": "1.8", "survival": "3.5-3"}
    base = digest(script, versions, ["rmst.json"], root)
    assert digest(script, dict(versions), ["rmst.json"], root) == base
    assert digest(script, {**versions, "survival": "3.5-4"}, ["rmst.json"], root) != base
    assert digest(script, versions, ["rmst.json", "gone.json"], root) != base
    ipd = sorted((root / "tests" / "data" / "ipd").glob("*.csv"))
    assert any(p in _reads(script, root) for p in ipd)
    for f in (script, root / "tests" / "reference" / "_json_writer.R", ipd[0],
              root / "tests" / "reference" / "rmst.json"):
        kept = f.read_bytes()
        f.write_bytes(kept + b" ")
        assert digest(script, versions, ["rmst.json"], root) != base, f.name
        f.write_bytes(kept)
    assert digest(script, versions, ["rmst.json"], root) == base
    # the same checkout in another place, under another name, names the same files
    moved = tmp_path / "elsewhere" / "clone"
    shutil.copytree(root, moved)
    assert digest(moved / "tests" / "reference" / "rmst.R", versions, ["rmst.json"], moved) == base
    # with a file of ../shared read too, whether the checkout's folder sorts before or after "shared"
    digests = []
    for name in ("alpha", "zulu"):
        here = tmp_path / name / name
        shutil.copytree(root, here)
        (tmp_path / name / "shared").mkdir()
        (tmp_path / name / "shared" / "lung.csv").write_text("time,status\n1,1\n")
        probe = here / "tests" / "reference" / "probe.R"
        probe.write_text('d <- read.csv("../shared/lung.csv")\nsource("tests/reference/_json_writer.R")\n')
        digests.append(digest(probe, versions, ["rmst.json"], here))
    assert digests[0] == digests[1]


def test_manifest_is_current():
    """Every recorded script exists and its inputs are still those of its recorded passing rerun:
    after changing a reference script or its JSON, rerun it with
    ``python tests/test_reference_live.py --update NAME.R`` (CI would otherwise rerun it every time)."""
    recorded = _manifest()["scripts"]
    assert recorded, "tests/reference/MANIFEST.json records no script"
    stale = []
    for name, entry in recorded.items():
        script = REFERENCE / name
        assert script in SCRIPTS, f"MANIFEST.json records {name}, which is not a reference script"
        if _missing_shared(script):
            continue  # reads ../shared, which is not beside this checkout
        if digest(script, entry["versions"], entry["writes"]) != entry["digest"]:
            stale.append(name)
    assert not stale, (f"changed since their recorded rerun: {', '.join(stale)}; run "
                       f"python tests/test_reference_live.py --update {' '.join(stale)}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Rerun reference R scripts; record those that "
                                     "reproduce their stored JSON in tests/reference/MANIFEST.json.")
    parser.add_argument("--update", action="store_true", required=True)
    parser.add_argument("scripts", nargs="*", help="NAME.R (default: every script)")
    args = parser.parse_args()
    sys.exit(1 if update_manifest(tuple(args.scripts)) else 0)
