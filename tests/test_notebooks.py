"""The worked-example notebooks run top to bottom on a fresh kernel (issue 7).

Each notebook is executed with nbclient from a copy (the committed file, with its outputs, is never
rewritten), with ``notebooks/`` as the working directory and ``TMPDIR`` pointed at pytest's
temporary folder so the reports and figures the notebooks write land there. A few key outputs are
checked so that a notebook cannot silently stop showing them, and the numbers every cell shows are
compared with the committed notebook's, so that a notebook cannot be committed with outputs the
code no longer gives (a stale estimate on the repository page). ``coverage_simulation.ipynb`` is
tested elsewhere.

Needs nbclient, nbformat and ipykernel (the ``test`` extra); skipped without nbclient.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 300  # seconds per cell

# notebook -> (strings that must appear in its outputs, least number of figures it shows)
EXPECTED = {
    "01_quickstart.ipynb": (
        ["-0.7145",                 # REML estimate of dat.bcg's log risk ratio (metafor)
         "0.3132",                  # its tau²
         "tval  df"],               # Knapp-Hartung: t test with df, as metafor prints
        1,
    ),
    "02_rair_dtc_end_to_end.ipynb": (
        ["warning(s)",              # the validator's warnings on the shipped table are shown
         "SE at the reported level",  # intervals at 99/96/60% converted at their own level
         "this notebook  report",   # the pooled results agree with the report (asserted there)
         "binomial-normal GLMM",
         "indirect comparison through placebo",  # the network's caveats are shown
         "(taken as known)",        # the survival network's placebo curve, as the report's
         "results.json"],
        7,
    ),
    "03_km_figure_to_patient_data.ipynb": (
        ["n = 137",                 # Veterans: all patients reconstructed
         "median 80 days",
         "Cox proportional hazards",
         "Restricted mean survival time"],
        2,
    ),
    "04_living_review.ipynb": (
        ["table unchanged: True",   # an invalid add leaves the table as it was
         "ci_level",                # ... and names the column
         "Conclusions changed",     # the diff flags the changed significance first
         "EXAMPLE-1 (fictitious)",
         "data/studies.csv unchanged"],
        1,
    ),
}


def _texts(cell, streams=("stdout", "stderr"), mimes=("text/plain", "text/html")) -> list[str]:
    """The texts one code cell shows: its ``streams`` and its results' ``mimes``, in order."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") in streams:
            parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data[mime] for mime in mimes if mime in data]
    # the committed JSON may hold a text as a list of lines
    return ["".join(t) if isinstance(t, list) else t for t in parts]


def _code_cells(nb) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _outputs_text(nb) -> tuple[str, int]:
    """All text a notebook shows (streams, plain-text and HTML results) and its number of PNGs."""
    cells = _code_cells(nb)
    text = "\n".join(t for cell in cells for t in _texts(cell))
    figures = sum("image/png" in out.get("data", {}) for cell in cells for out in cell.get("outputs", []))
    return text, figures


# a number as printed: sign, digits, decimals, exponent (dates and versions split into their parts,
# which compare as well)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _cell_numbers(nb) -> list[tuple[int, list[str]]]:
    """Per code cell (numbered from 0 among the code cells), the numbers it prints on stdout and in
    its plain-text results, as printed.

    The numbers and not the text: alignment, column widths and the wording of a pandas repr may
    change with a release, the values may not. Warnings (stderr) and HTML (the same values again,
    with generated ids) are left out.
    """
    return [(k, _NUMBER.findall(_FIGURE_SIZE.sub(r"<Figure \1>", "\n".join(
                _texts(cell, streams=("stdout",), mimes=("text/plain",))))))
            for k, cell in enumerate(_code_cells(nb))]


# A returned figure's repr gives its size, which the layout takes from matplotlib's text metrics:
# matplotlib 3.10 (the newest on Python 3.10) makes a figure up to 0.007 pixels narrower than
# 3.11. It is not a result; its number of axes still compares.
_FIGURE_SIZE = re.compile(r"<Figure size [0-9.]+x[0-9.]+ (with \d+ Axes)>")


def _stale_cells(committed, fresh) -> list[str]:
    """Where the committed notebook's numbers differ from a fresh run's: one line per cell."""
    if len(committed) != len(fresh):
        return [f"{len(committed)} code cells committed, {len(fresh)} run"]
    lines = []
    for (k, old), (_, new) in zip(committed, fresh):
        if old == new:
            continue
        first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        was = old[first] if first < len(old) else "(nothing)"
        now = new[first] if first < len(new) else "(nothing)"
        lines.append(f"code cell {k}: {len(old)} numbers committed, {len(new)} now; number "
                     f"{first + 1} was {was}, is now {now}")
    return lines


def test_stale_cells_are_found():
    # the comparison the executed notebooks go through, on made-up cells: a changed estimate, a
    # number gone, a cell gone, and realignment alone (not a change)
    def nb(*texts):
        return {"cells": [{"cell_type": "markdown", "source": "x"}] + [
            {"cell_type": "code", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": t},
                {"output_type": "stream", "name": "stderr", "text": "warning 1 2 3"}]}
            for t in texts]}

    committed = _cell_numbers(nb("estimate -0.7145 (95% CI -1.0 to -0.43)", "k = 13"))
    assert committed == [(0, ["-0.7145", "95", "-1.0", "-0.43"]), (1, ["13"])]
    assert _stale_cells(committed, _cell_numbers(nb("estimate  -0.7145 (95%  CI -1.0 to -0.43)",
                                                    "k =  13"))) == []
    stale = _stale_cells(committed, _cell_numbers(nb("estimate -0.7146 (95% CI -1.0 to -0.43)",
                                                     "k = 13")))
    assert stale == ["code cell 0: 4 numbers committed, 4 now; number 1 was -0.7145, is now -0.7146"]
    stale = _stale_cells(committed, _cell_numbers(nb("estimate -0.7145 (95% CI -1.0 to -0.43)",
                                                     "k =")))
    assert stale == ["code cell 1: 1 numbers committed, 0 now; number 1 was 13, is now (nothing)"]
    assert _stale_cells(committed, _cell_numbers(nb("estimate"))) == ["2 code cells committed, 1 run"]
    # a figure's size is layout, not a result; its number of axes is compared
    sized = _cell_numbers(nb("<Figure size 618.972x410.653 with 1 Axes>"))
    assert sized == [(0, ["1"])]
    assert _stale_cells(sized, _cell_numbers(nb("<Figure size 618.97x410.65 with 1 Axes>"))) == []
    assert _stale_cells(sized, _cell_numbers(nb("<Figure size 618.97x410.65 with 2 Axes>")))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_with_outputs(name):
    """The committed notebook carries its outputs (it must read well on a repository page)."""
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    text, figures = _outputs_text(nb)
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name} is committed with an error output"
    strings, least_figures = EXPECTED[name]
    missing = [s for s in strings if s not in text]
    assert not missing, f"{name} committed without these outputs: {missing}"
    assert figures >= least_figures
    assert (NOTEBOOKS / name).stat().st_size < 1_500_000, f"{name} is too large to commit"


@pytest.fixture(scope="module")
def notebook_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("report-cache")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes(name, tmp_path, monkeypatch, notebook_cache):
    pytest.importorskip(
        "nbclient",
        reason="nbclient is not installed: pip install nbclient nbformat ipykernel (in the test "
               "extra) to execute the notebooks",
    )
    import nbformat
    from nbclient import NotebookClient

    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)
    nb = nbformat.read(copy, as_version=4)
    committed = _cell_numbers(nb)  # read before the outputs are cleared below
    for cell in nb.cells:  # start from a notebook without outputs
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the kernel inherits it: outputs land here
    # the report's cache on, as a user has it, in a folder these notebooks share (the end-to-end
    # and the living-review notebooks report on the same table; tests/test_report_cache.py checks
    # that a cached figure is the same bytes)
    monkeypatch.setenv("METAANALYSIS_CACHE", str(notebook_cache))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    text, figures = _outputs_text(nb)
    strings, least_figures = EXPECTED[name]
    missing = [s for s in strings if s not in text]
    assert not missing, f"{name}: expected outputs not shown: {missing}"
    assert figures >= least_figures, f"{name}: {figures} figure(s) shown, expected {least_figures}"
    # what the repository page shows is what the code gives today
    stale = _stale_cells(committed, _cell_numbers(nb))
    assert not stale, (f"{name} is committed with outputs the code no longer gives; run it top "
                       "to bottom in Jupyter (from notebooks/) and commit it with its outputs:\n"
                       + "\n".join(stale))
