"""Work of the report that runs in another process, beside the analyses.

The digitised curves need nothing from the analyses: reconstructing their patients, fitting the
nine survival models to each and drawing their figures (a third of a cold report's work) starts
in a forked process as soon as the study table is read, while the main process runs the
protocol's analyses and draws the other figures. Where processes cannot be forked (Windows,
macOS' default), the same work runs in the main process when it is collected; the result is the
same either way.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

_WORK = None  # (curves folder, table, level, formats, folder) while a forked worker starts


class DigitisedWork:
    """Handle on the digitised curves' section and figures (see :func:`start_digitised`)."""

    def __init__(self, args, pool=None, pending=None):
        self._args = args
        self._pool = pool
        self._pending = pending

    def result(self):
        """``(section, figures)``: the section's JSON-ready dict and one dict per figure (as
        :func:`~.figures.render_jobs` gives), its files in a temporary folder the caller moves
        them out of (:meth:`close` removes it)."""
        if self._pending is None:
            return _digitised(*self._args)
        try:
            return self._pending.get()
        finally:
            self._pool.close()
            self._pool.join()
            self._pool = self._pending = None

    def close(self):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = self._pending = None
        shutil.rmtree(self._args[-1], ignore_errors=True)


def _digitised(curves, table, level, formats, folder):
    from .curves import digitised_section
    from .figures import digitised_figure_jobs, render_jobs

    section, objects = digitised_section(curves, table=table, level=level)
    return section, render_jobs(digitised_figure_jobs(objects), Path(folder), formats, workers=1)


def _run_forked():
    return _digitised(*_WORK)


def start_digitised(curves, table, *, level, formats) -> DigitisedWork:
    """Start fitting and drawing the digitised curves of folder ``curves`` (a forked process
    where the platform forks; see the module docstring)."""
    global _WORK
    from .figures import _worker_count

    args = (Path(curves), table, level, tuple(formats), tempfile.mkdtemp(prefix="ma-digitised-"))
    if _worker_count(None, 2) < 2:
        return DigitisedWork(args)
    import multiprocessing

    _WORK = args
    try:
        pool = multiprocessing.get_context("fork").Pool(1)
    finally:
        _WORK = None
    return DigitisedWork(args, pool, pool.apply_async(_run_forked))
