"""The report's output folder: what the report may write there, and what it may delete.

A report folder is marked by a manifest, ``.metaanalysis-report.json``, that lists every file the
last report wrote with its SHA-256. A later report deletes a file only when the manifest lists it
and the file still has the recorded hash: files the report did not write, or that a user has
edited since, are never deleted, and never replaced either: a report that would write over such a
file stops before it moves anything in. A ``results.json`` found in the folder is not trusted for
this (anyone can write one). The report refuses folders where it could do harm: the folder of the
study table or anything above the table, the protocol or the curves; ``/`` and the home folder; and
a non-empty folder without the manifest (``force=True`` writes into it, still deleting and
replacing nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..errors import InputError

__all__ = ["MANIFEST", "prepare_folder", "remove_stale", "write_manifest", "sha256_of",
           "clean_scratch", "make_scratch", "check_overwrites", "pending_files",
           "SCRATCH_PREFIX", "SCRATCH_MARK"]

MANIFEST = ".metaanalysis-report.json"
SCRATCH_PREFIX = ".report-"
_LOCK_NAME = "metaanalysis-report"  # the lock file is .metaanalysis-report.lock


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(out: Path, key: str = "files") -> dict | None:
    """The manifest's ``{relative path: sha256}`` (``key="pending"``: the files a report was
    moving in when it stopped), ``{}`` if unreadable, None if absent."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        files = data.get(key, {})
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def pending_files(out) -> dict:
    """``{relative path: sha256}`` of the files a report was moving in when it stopped (empty
    when the last report finished, or none was made here)."""
    return _read_manifest(Path(out), "pending") or {}


def check_overwrites(out, targets, previous: dict) -> None:
    """Refuse before anything moves when a file the report would replace is not its own: a file
    the manifest does not list (a user's ``index.html`` in a folder written into with ``--force``)
    or one changed since a report wrote it (listed, but with another hash than the last report's
    or than the one an interrupted report was moving in).

    Raises
    ------
    InputError
        Naming every such file.
    """
    out = Path(out)
    pending = pending_files(out)
    theirs = []
    for target in targets:
        rel = str(Path(target).relative_to(out))
        path = out / rel
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file():
            theirs.append(rel)
            continue
        if sha256_of(path) not in {previous.get(rel), pending.get(rel)}:
            theirs.append(rel)
    if theirs:
        shown = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        raise InputError(f"--out {out}: the report would replace {shown}, which no report wrote "
                         "there or which was changed since; move it away or give another folder "
                         "(nothing was written)")


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def prepare_folder(out, *, protected=(), force: bool = False, create: bool = True) -> dict:
    """Check that ``out`` may receive a report, create it, and return the previous manifest.

    Parameters
    ----------
    out : path-like
        The output folder.
    protected : iterable of path-like
        Inputs the report must never write over or delete (the study table, the protocol, the
        trials table, the curves folder): ``out`` may not be one of them nor contain them.
    force : bool
        Write into a non-empty folder that no report made (nothing in it is deleted).
    create : bool
        Create and mark the folder; ``False`` only checks (to fail before any work is done).

    Returns
    -------
    dict
        ``{relative path: sha256}`` of the files the previous report wrote (empty if none).

    Raises
    ------
    InputError
        Naming the folder and why it was refused.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder for the report")
    real = Path(os.path.realpath(out))
    home = Path(os.path.realpath(Path.home()))
    if real == Path(real.anchor) or real == home:
        raise InputError(f"--out {out}: is {'the root folder' if real == Path(real.anchor) else 'your home folder'}; "
                         "give a folder of its own for the report, such as report/")
    for p in protected:
        if p is None:
            continue
        rp = Path(os.path.realpath(p))
        if rp.exists() and (rp == real or _is_within(rp, real)):
            raise InputError(f"--out {out}: holds the review's input {p}; the report never writes "
                             "beside its inputs: give a folder of its own, such as report/")
    manifest = _read_manifest(out) if out.exists() else None
    foreign = out.exists() and any(e.name != f".{_LOCK_NAME}.lock" for e in out.iterdir())
    if manifest is None and foreign and not force:
        raise InputError(f"--out {out}: is a folder with files that no report wrote (it has no "
                         f"{MANIFEST}); give an empty or new folder, or pass --force to write "
                         "into it (nothing already there is deleted)")
    if not create:
        return manifest or {}
    out.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        # mark the folder before writing anything, so a report killed half-way leaves a folder
        # the next report recognises (and whose scratch files it may clean)
        write_manifest(out, {})
        manifest = {}
    return manifest


def lock_target(out) -> Path:
    """The path whose lock serialises reports into ``out``."""
    return Path(out) / _LOCK_NAME


# inside every scratch folder a report makes: only such folders are ever cleaned up
SCRATCH_MARK = ".metaanalysis-scratch"


def make_scratch(out) -> Path:
    """A new scratch folder in ``out``, marked as the report's."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=out))
    (scratch / SCRATCH_MARK).touch()
    return scratch


def clean_scratch(out) -> None:
    """Remove scratch folders of reports that were killed before they could clean up: only those
    that carry the report's mark (a user's own ``.report-drafts`` folder stays)."""
    out = Path(out)
    for entry in out.iterdir():
        if (entry.name.startswith(SCRATCH_PREFIX) and entry.is_dir() and not entry.is_symlink()
                and (entry / SCRATCH_MARK).is_file()):
            shutil.rmtree(entry, ignore_errors=True)


def write_manifest(out, files: dict, pending: dict | None = None) -> None:
    """Record the files the report wrote; ``pending``: those it is about to move in, so that a
    report killed while moving leaves files the next one still recognises as its own."""
    from ..fileio import atomic_write

    data = {"written_by": "metaanalysis report", "files": dict(sorted(files.items()))}
    if pending:
        data["pending"] = dict(sorted(pending.items()))
    atomic_write(Path(out) / MANIFEST, json.dumps(data, indent=1).encode("utf-8"))


def remove_stale(out, previous: dict, current) -> list:
    """Delete files the previous report wrote and this one did not, if unchanged since.

    Returns the relative paths removed.
    """
    out = Path(out)
    root = Path(os.path.realpath(out))
    removed = []
    for rel, digest in previous.items():
        if rel in current or Path(rel).is_absolute() or ".." in Path(rel).parts:
            continue
        path = out / rel
        if path.is_symlink() or not path.is_file():
            continue
        if not _is_within(Path(os.path.realpath(path)), root):
            continue
        if sha256_of(path) != digest:
            continue  # edited since the report wrote it: the user's now
        path.unlink()
        removed.append(rel)
    return removed
