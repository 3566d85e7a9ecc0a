"""The worked-example notebooks run top to bottom on a fresh kernel (issue 7).

Each notebook is executed with nbclient from a copy (the committed file, with its outputs, is never
rewritten), with ``notebooks/`` as the working directory and ``TMPDIR`` pointed at pytest's
temporary folder so the reports and figures the notebooks write land there. A few key outputs are
checked so that a notebook cannot silently stop showing them. ``coverage_simulation.ipynb`` is
tested elsewhere.

Needs nbclient, nbformat and ipykernel (the ``test`` extra); skipped without nbclient.
"""

from __future__ import annotations

import json
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
         "results.json"],
        6,
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


def _outputs_text(nb) -> tuple[str, int]:
    """All text a notebook shows (streams, plain-text and HTML results) and its number of PNGs."""
    parts, figures = [], 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                parts.append("".join(text) if isinstance(text, list) else text)
            data = out.get("data", {})
            for mime in ("text/plain", "text/html"):
                if mime in data:
                    text = data[mime]
                    parts.append("".join(text) if isinstance(text, list) else text)
            figures += "image/png" in data
    return "\n".join(parts), figures


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
