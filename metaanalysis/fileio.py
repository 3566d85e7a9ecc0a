"""Writing files so that a user's data survives crashes, kills and concurrent runs.

A living review keeps its only copy of years of extraction work in one CSV file. Everything the
package writes goes through :func:`atomic_write`: the new bytes go to a temporary file in the same
folder, are flushed to disk, and replace the target in one ``os.replace``; the folder is flushed
after the rename so that the rename itself survives a power cut. A reader therefore sees the old
file or the new one, never half of one. Writers of one file serialise on :func:`file_lock`, a lock
file beside it, so that read-modify-write cycles (``metaanalysis add``) never lose each other's rows.

Temporary files are named ``.<name>.tmp-<random>``; a writer that was killed leaves one behind,
and :func:`remove_stale_temporaries` (called under the lock by the next writer) deletes them.
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_write", "file_lock", "remove_stale_temporaries", "temporary_name",
           "check_writable", "fsync_folder", "lock_path"]

_TMP_MARK = ".tmp-"


def temporary_name(path) -> str:
    """A fresh temporary file name beside ``path`` (hidden, recognisably ours)."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{_TMP_MARK}{secrets.token_hex(6)}")


def lock_path(path) -> str:
    """The lock file that writers of ``path`` take: ``.<name>.lock`` in the same folder."""
    folder, name = os.path.split(os.fspath(os.path.abspath(path)))
    return os.path.join(folder, f".{name}.lock")


@contextmanager
def file_lock(path, timeout: float = 600.0):
    """Hold an exclusive inter-process lock on ``path`` for the duration of a ``with`` block.

    The lock is advisory (``flock`` on POSIX, ``LockFileEx`` on Windows, through ``filelock``):
    every writer in this package takes it; other programs are not stopped by it.

    Raises
    ------
    InputError
        When the lock could not be had within ``timeout`` seconds (another writer is stuck).
    """
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise InputError(f"{os.fspath(path)}: another process has held the lock "
                         f"{lock_path(path)} for over {timeout:g} s; if no other metaanalysis "
                         "command is running, delete the lock file") from None
    try:
        yield
    finally:
        lock.release()


def remove_stale_temporaries(path) -> list:
    """Delete temporary files an interrupted write of ``path`` left behind; returns their names.

    Call it only while holding :func:`file_lock` on ``path``: every writer of ``path`` takes the
    lock, so no temporary file of a live writer can exist then.
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    removed = []
    prefixes = (f".{name}{_TMP_MARK}", f".{name}.bak{_TMP_MARK}")
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if entry.startswith(prefixes):
            full = os.path.join(folder, entry)
            try:
                if stat.S_ISREG(os.lstat(full).st_mode):
                    os.remove(full)
                    removed.append(full)
            except FileNotFoundError:
                pass
    return removed


def backup_path(path) -> str:
    """Where :func:`atomic_write` keeps the previous content of ``path`` (``backup=True``).

    Beside the file itself: a table reached through a symbolic link is backed up beside the
    file the link points to, which is the path named here, relative if ``path`` was.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    if os.path.isabs(path):
        return target + ".bak"
    try:
        return os.path.relpath(target) + ".bak"
    except ValueError:  # another drive (Windows)
        return target + ".bak"


def check_writable(path) -> None:
    """Refuse to replace a file that is read-only (replacing needs only the folder's permission).

    Root may write anything, so the file's own mode bits decide, as well as ``os.access``.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: is not a regular file; refusing to replace it")
    if not os.access(path, os.R_OK):  # the reason that holds first: chmod u+w would not help
        raise InputError(f"{path}: cannot be read: permission denied; make it readable and "
                         "writable (chmod u+rw) if it should change")
    if not (st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) or not os.access(path, os.W_OK):
        raise InputError(f"{path}: is read-only; make it writable (chmod u+w) if it should change")


def fsync_folder(folder) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a power cut."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return  # not supported (Windows): the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_temporary(target: str, data: bytes, mode: int | None) -> str:
    """Write ``data`` to a new temporary file beside ``target``, flushed; returns its name."""
    tmp = temporary_name(target)
    # O_EXCL with 0o666 lets the process umask decide the mode of a new file without reading the
    # umask (reading it means setting it, a window in which another thread creates world-writable
    # files).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.chmod(tmp, mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def atomic_write(path, data: bytes, *, backup: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half.

    Parameters
    ----------
    path : path-like
        The file to write. A symbolic link is written through: its target is replaced and the link
        stays a link.
    data : bytes
        The whole new content.
    backup : bool
        Keep the previous content as ``<path>.bak``, itself written atomically (an interrupted
        backup never truncates the previous ``.bak``).

    Raises
    ------
    InputError
        When the target exists and is read-only or not a regular file.

    Examples
    --------
    >>> atomic_write("table.csv", b"a,b\\n1,2\\n", backup=True)     # doctest: +SKIP
    """
    path = os.fspath(path)
    try:
        _atomic_write(path, data, backup)
    except OSError as exc:
        if exc.filename in (path, os.path.realpath(path)):
            raise
        # a full disk (no file name at all) or a missing folder (the temporary file's name):
        # the error names the file the user asked for
        raise OSError(exc.errno, exc.strerror or str(exc), path) from exc


def _atomic_write(path: str, data: bytes, backup: bool) -> None:
    target = os.path.realpath(path)  # through symlinks: replace the file, keep the link
    folder = os.path.dirname(target)
    check_writable(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
        exists = True
    except FileNotFoundError:
        mode, exists = None, False
    tmp = _write_temporary(target, data, mode)
    try:
        if backup and exists:
            old = Path(target).read_bytes()
            bak = backup_path(target)
            bak_tmp = _write_temporary(bak, old, mode)
            try:
                os.replace(bak_tmp, bak)
            except BaseException:
                _unlink_quietly(bak_tmp)
                raise
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_folder(folder)

