"""The report's cache: figures and fitted curve models kept between runs, keyed by what made them.

A report is run again and again on nearly the same inputs (a trial added, a typo fixed, the same
table on another day). Most of its time goes into drawing 36 figures twice (SVG and PDF) and
fitting survival models to the digitised curves; most of those do not change between two runs.
So each figure is stored under a key that is a hash of

* everything the figure is drawn from: the pickled arguments of its drawing function (the fitted
  objects, the table's lines it prints, the captions); for the digitised curves, the curve files'
  bytes and the study table's therapy/comparator rows;
* the code: the bytes of every file of this package, and the versions of Python, numpy, pandas,
  scipy, matplotlib, fontTools, lifelines and autograd; matplotlib's settings in force and the
  font files the house style resolves to;
* the file formats asked for.

A key that is found gives the same bytes the drawing would (the figures are deterministic:
``test_report_is_deterministic`` in ``tests/test_report.py``), so a cached report is the same
report. Arguments that cannot be pickled, or that pickle differently in every run, are simply
never found: the figure is drawn. Each stored file carries its SHA-256 in the entry's index,
checked on every use; an entry with a missing or altered file is drawn again and replaced.

Where: ``$METAANALYSIS_CACHE`` if set (``off``, ``0`` or ``no`` turns the cache off), else
``$XDG_CACHE_HOME/metaanalysis`` or ``~/.cache/metaanalysis``. Entries are written whole and then
renamed into place, so reports running at once never read half an entry. The folder is pruned to
the most recently used entries of :data:`MAX_BYTES` in all. The entries hold figure files and
JSON; nothing in the cache is ever executed or unpickled.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

CACHE_ENV = "METAANALYSIS_CACHE"
MAX_BYTES = 300 * 2**20  # about 40 reports' figures
_OFF = {"0", "off", "no", "false", "none", ""}


_disabled = False  # set by disabled(): read by forked figure workers too


@contextlib.contextmanager
def disabled():
    """Within the block the cache is neither read nor written (``report --no-cache``)."""
    global _disabled
    before, _disabled = _disabled, True
    try:
        yield
    finally:
        _disabled = before


def cache_folder() -> Path | None:
    """The cache folder, or None when the cache is off (``METAANALYSIS_CACHE=off``)."""
    if _disabled:
        return None
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "metaanalysis"


@functools.lru_cache(maxsize=1)
def code_key() -> str:
    """Hash of this package's modules and of the versions of what draws and fits."""
    import importlib.metadata as md
    import sys

    h = hashlib.sha256(sys.version.encode())
    for dist in ("numpy", "pandas", "scipy", "matplotlib", "fonttools", "lifelines", "autograd"):
        try:
            h.update(f"|{dist}={md.version(dist)}".encode())
        except md.PackageNotFoundError:
            h.update(f"|{dist}=-".encode())
    root = Path(__file__).resolve().parents[1]
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(*parts) -> str | None:
    """Hash of ``parts`` (pickled) with :func:`code_key`; None when they cannot be pickled."""
    import pickle

    try:
        data = pickle.dumps(parts, protocol=5)
    except Exception:  # noqa: BLE001 -- an object that cannot be pickled is simply not cached
        return None
    h = hashlib.sha256(code_key().encode())
    h.update(data)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry(kind: str, key: str) -> Path | None:
    folder = cache_folder()
    return None if folder is None else folder / kind / key[:2] / key


def lookup(kind: str, key: str | None) -> dict | None:
    """The index of entry ``key`` (``{"meta": ..., "files": {name: sha256}}``) with ``folder``
    set, if every file is there unaltered; else None."""
    entry = None if key is None else _entry(kind, key)
    if entry is None:
        return None
    try:
        index = json.loads((entry / "index.json").read_text(encoding="utf-8"))
        for name, digest in index["files"].items():
            if _sha256(entry / name) != digest:
                return None
        os.utime(entry)  # recently used: kept longest by the pruning
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    index["folder"] = entry
    return index


def store(kind: str, key: str | None, meta, files=()) -> None:
    """Store ``meta`` (JSON) and copies of ``files`` as entry ``key``; never raises (a cache that
    cannot be written is a cache that is not used)."""
    entry = None if key is None else _entry(kind, key)
    if entry is None:
        return
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
        digests = {}
        for f in files:
            f = Path(f)
            shutil.copyfile(f, tmp / f.name)
            digests[f.name] = _sha256(tmp / f.name)
        (tmp / "index.json").write_text(json.dumps({"meta": meta, "files": digests}),
                                        encoding="utf-8")
        if entry.exists():  # an altered entry (lookup refused it): replaced
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
        tmp = None
    except (OSError, TypeError, ValueError):  # a full disk, a race, a value JSON cannot hold
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def copy_files(index: dict, target: Path) -> list:
    """Copy a found entry's files into ``target``; returns the paths written."""
    out = []
    for name in index["files"]:
        shutil.copyfile(index["folder"] / name, target / name)
        out.append(target / name)
    return out


def prune(max_bytes: int = MAX_BYTES) -> None:
    """Delete the least recently used entries until the cache holds at most ``max_bytes``."""
    folder = cache_folder()
    if folder is None or not folder.is_dir():
        return
    entries = []
    for index in folder.glob("*/*/*/index.json"):
        entry = index.parent
        try:
            size = sum(p.stat().st_size for p in entry.iterdir())
            entries.append((entry.stat().st_mtime, size, entry))
        except OSError:
            continue
    total = sum(size for _, size, _ in entries)
    for _, size, entry in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
