"""Work of the report that runs in another process, beside the analyses.

The digitised curves need nothing from the analyses: reconstructing their patients, fitting the
nine survival models to each and drawing their figures (a third of a cold report's work) starts
in a forked process as soon as the study table is read, while the main process runs the
protocol's analyses and draws the other figures. Where processes cannot be forked (Windows,
macOS' default), the same work runs in the main process when it is collected; the result is the
same either way.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

_WORK = None  # (curves folder, table, level, formats, folder) while the process is forked


_frozen = 0  # depth of frozen_heap blocks


@contextlib.contextmanager
def frozen_heap():
    """Processes forked within the block start with their parent's objects out of the garbage
    collector's sight (:func:`gc.freeze`), and the parent's collections skip them too until the
    outermost block ends (:func:`gc.unfreeze`). A block within a block freezes what was made
    since.

    A forked process shares its parent's memory pages until it writes to them, and a collection
    of the oldest generation visits, and so writes to, every object: each drawing process copied
    much of the parent's heap for nothing. Around a cold report (``/usr/bin/time -v``, three runs
    each, interleaved): 134,000 page faults instead of 155,000 and 12.7-13.8 s of CPU instead of
    13.3-15.3. Unfreezing right after each fork instead of at the end lost most of that: the
    parent then paid for full collections of its heap while its children worked.
    """
    import gc

    global _frozen
    gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if _frozen == 0:
            gc.unfreeze()


class DigitisedWork:
    """Handle on the digitised curves' section and figures (see :func:`start_digitised`)."""

    def __init__(self, args, process=None, pipe=None):
        self._args = args
        self._process = process
        self._pipe = pipe

    @property
    def folder(self):
        """The folder of the digitised curves."""
        return self._args[0]

    def result(self):
        """``(section, figures)``: the section's JSON-ready dict and one dict per figure (as
        :func:`~.figures.render_jobs` gives), its files in a temporary folder the caller moves
        them out of (:meth:`close` removes it). An error of the other process is raised here."""
        if self._process is None:
            return _digitised(*self._args)
        try:
            ok, value = self._pipe.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError("the process fitting the digitised curves ended without a result "
                               f"(exit code {self._process.exitcode})") from None
        self._process.join()
        self._process = None
        if not ok:
            raise value
        return value

    def close(self):
        if self._process is not None:
            self._process.terminate()
            self._process.join()
            self._process = None
        if self._pipe is not None:
            self._pipe.close()
        shutil.rmtree(self._args[-1], ignore_errors=True)


def _digitised(curves, table, level, formats, folder):
    from .curves import digitised_section
    from .figures import digitised_figure_jobs, render_jobs

    section, objects = digitised_section(curves, table=table, level=level)
    return section, render_jobs(digitised_figure_jobs(objects), Path(folder), formats, workers=1)


def _run_forked(send):
    try:
        result = (True, _digitised(*_WORK))
    except BaseException as exc:  # noqa: BLE001 -- handed to the main process, which raises it
        result = (False, exc)
    send.send(result)
    send.close()


def start_digitised(curves, table, *, level, formats) -> DigitisedWork:
    """Start fitting and drawing the digitised curves of folder ``curves`` (a forked process
    where the platform forks; see the module docstring)."""
    global _WORK
    from .figures import _worker_count

    args = (Path(curves), table, level, tuple(formats), tempfile.mkdtemp(prefix="ma-digitised-"))
    if _worker_count(None, 2) < 2:
        return DigitisedWork(args)
    import multiprocessing

    from ..plots.lifecycle import preload

    # imported here, before the fork, as this process imports it anyway before drawing its own
    # figures: the other process then draws its figures without importing matplotlib again
    preload()
    # a plain process and a pipe, not a pool: a pool's threads would still run in this process
    # when the figure workers are forked
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    _WORK = args
    try:
        process = ctx.Process(target=_run_forked, args=(send,), daemon=True)
        with frozen_heap():
            process.start()
    finally:
        _WORK = None
        send.close()
    return DigitisedWork(args, process, recv)
