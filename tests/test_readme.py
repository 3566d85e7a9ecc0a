"""The README runs: every ```python block top to bottom, and every `metaanalysis ...` command.

Issue 14: the tour used names it never defined (``tpos``, ``xi``, ``frame``). These tests extract
the code blocks of README.md in order and run them as a new reader would, in a fresh temporary
folder that holds a copy of the repository's ``data/`` (the README's paths, ``data/studies.csv``,
are relative to the repository root):

- the ```python blocks run in one namespace, in order, with matplotlib's Agg backend; a block that
  raises (an undefined name, a wrong keyword, a missing file) fails the test with the README line;
- every ``ma.<name>`` the tour mentions, in code or in a comment, exists in the package;
- every line of a ```bash block that starts with ``metaanalysis`` (also after ``&&``, so the
  quick start's report runs; pip and pytest are left out) runs with this interpreter, in order, in
  one folder, and must exit 0. The files the README asks the reader to write are made here:
  ``new_rows.csv`` holds the rows of one real publication (SELECT's 2016 update: the rows of study
  ``select`` with data cut ``update``) taken out of the copied table, so ``add`` puts back published
  numbers (a whole trial cannot be held back: ``data/risk_of_bias.csv`` must name only studies of the
  table), and ``my_question.toml`` is a copy of the protocol.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_baseline_freetype

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
# the rows that stand for the reader's new_rows.csv in the command-line block: (study_id, data_cut)
NEW_ROWS = ("select", "update")


def code_blocks(text: str, language: str):
    """``(first line number, code)`` of every fenced block in ``language``, in order."""
    blocks = []
    for m in FENCE.finditer(text):
        if m.group(1) == language:
            blocks.append((text.count("\n", 0, m.start(2)) + 1, m.group(2)))
    return blocks


def run_python_blocks(text: str, name: str = "README.md") -> dict:
    """Run every ```python block of ``text`` in one namespace; tracebacks name the file's lines."""
    namespace = {"__name__": "__readme__"}
    for line, code in code_blocks(text, "python"):
        # padded so that a traceback's line number is the line in the README
        exec(compile("\n" * (line - 1) + code, name, "exec"), namespace)
    return namespace


def cli_commands(text: str):
    """``(README line, argv)`` of every ``metaanalysis ...`` command in the ```bash blocks."""
    commands = []
    for first, code in code_blocks(text, "bash"):
        for offset, line in enumerate(code.splitlines()):
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0] == "metaanalysis":
                    commands.append((first + offset, words[1:]))
    return commands


def copy_data(folder: Path) -> None:
    shutil.copytree(ROOT / "data", folder / "data")


# --- the python blocks --------------------------------------------------------------------------

def test_readme_has_the_tour_blocks():
    text = README.read_text(encoding="utf-8")
    assert len(code_blocks(text, "python")) >= 3
    assert any("load_bcg" in code for _, code in code_blocks(text, "python"))


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """The README's python blocks, run once in a fresh folder with a copy of data/ (Agg backend)."""
    import matplotlib

    folder = tmp_path_factory.mktemp("readme")
    copy_data(folder)
    backend, cwd = matplotlib.get_backend(), os.getcwd()
    matplotlib.use("Agg", force=True)
    os.chdir(folder)
    try:
        namespace = run_python_blocks(README.read_text(encoding="utf-8"))
    finally:
        os.chdir(cwd)
        import matplotlib.pyplot as plt

        plt.close("all")
        matplotlib.use(backend, force=True)
    return folder, namespace


def test_python_blocks_run_top_to_bottom(tour):
    folder, namespace = tour
    for name in ("ma", "bcg", "es", "res", "mg", "vs", "review", "table", "frame", "nma", "rec",
                 "ipd", "ipd_a", "ipd_b"):
        assert name in namespace, f"the tour no longer defines {name}"
    assert (folder / "forest_bcg.pdf").stat().st_size > 0
    assert len(namespace["ipd"]) == 137          # "exactly the risk table's 137 patients"


# metafor prints 4 decimals: a quoted number matches when within half a unit of its last digit
PRINTED = 5e-5


def quoted(value, printed, tol=PRINTED):
    return abs(float(value) - printed) <= tol


def test_numbers_the_tour_quotes(tour):
    """Each number in the tour's comments, recomputed (R: metafor 3.8-1, see the comments)."""
    _, ns = tour
    ma, res, es, bcg, mg, vs = (ns[k] for k in ("ma", "res", "es", "bcg", "mg", "vs"))
    assert quoted(res.tau2, 0.3132) and quoted(res.estimate, -0.7145)
    assert quoted(res.statistic, -3.9522)
    p = res.predict(transf="exp")
    assert all(quoted(a, b) for a, b in zip((p.pred, p.ci_low, p.ci_high, p.pi_low, p.pi_high),
                                            (0.4894, 0.3301, 0.7257, 0.1359, 1.7629)))
    assert quoted(res.tau2_ci_low, 0.1197) and quoted(res.tau2_ci_high, 1.1115)
    assert abs(res.i2_ci_low - 81.92) <= 0.005 and abs(res.i2_ci_high - 97.68) <= 0.005
    egger = ma.egger_test(res)
    assert quoted(egger.statistic, -0.7812) and quoted(egger.pvalue, 0.4512)
    rank = ma.rank_test(res)
    assert quoted(rank.tau, 0.0256) and quoted(rank.pvalue, 0.9524)
    filled = ma.trim_and_fill(res)
    assert filled.k0 == 1 and filled.side == "right" and quoted(filled.result.estimate, -0.6571)
    reg = ma.meta_regression(es.yi, es.vi, mods="~ ablat + year", data=bcg, test="knha")
    assert quoted(reg.coef[1], -0.0280) and quoted(reg.pvalue[1], 0.0332)
    sub = ma.subgroup_analysis(es.yi, es.vi, groups=bcg.alloc)
    assert quoted(sub.statistic, 1.8614) and quoted(sub.pvalue, 0.3943)
    mh = ma.pool_binary(mg.ai, mg.n1i, mg.ci, mg.n2i, measure="OR", method="MH").to_dict()
    assert all(quoted(mh[k], v) for k, v in (("ratio", 0.9870), ("ratio_ci_low", 0.9356),
                                              ("ratio_ci_high", 1.0412)))
    harbord = ma.binary_bias_test(mg.ai, mg.n1i, mg.ci, mg.n2i, test="harbord")
    assert quoted(harbord.statistic, -4.8763) and harbord.df == 20
    irr = ma.pool_incidence(**ns["cvc"], measure="IRR").to_dict()
    assert all(quoted(irr[k], v) for k, v in (("ratio", 0.6602), ("ratio_ci_low", 0.4608),
                                               ("ratio_ci_high", 0.9459)))
    glmm = ma.pool_proportions(vs.xi, vs.ni, measure="PLO", method="GLMM").to_dict()
    # rma.glmm: the GLMM tolerance of the reference tests is 1e-3 (README "How it is checked")
    assert all(quoted(glmm[k], v, 1e-3) for k, v in (("proportion", 0.7984),
                                                      ("proportion_ci_low", 0.6924),
                                                      ("proportion_ci_high", 0.8746)))
    select = ma.ratio_from_ci(0.21, 0.14, 0.31, level=99)
    assert quoted(select.yi[0], -1.5606) and quoted(select.vi[0] ** 0.5, 0.1543)
    assert round(ma.cox_hr(ns["ipd_a"], ns["ipd_b"]).hr, 2) == 0.19


def test_numbers_the_rest_of_metafor_tour_quotes(tour):
    """The numbers quoted in the block on selection models, diagnostics and GLMMs (metafor 3.8-1:
    fsn(yi, vi), anova(res, btt=2), rma.glmm(measure="OR", model="UM.FS"))."""
    _, ns = tour
    ma, fit, reg = ns["ma"], ns["fit"], ns["reg"]
    assert ma.fsn(fit).fsn == 598 and ma.fsn(fit, type="Orwin").fsn == 13
    hc = ma.henmi_copas(fit)
    assert all(quoted(a, b) for a, b in zip((hc.estimate, hc.ci_low, hc.ci_high),
                                            (-0.4303, -1.1555, 0.2950)))
    assert quoted(ma.anova(reg, btt="ablat").qm, 7.4915)
    bcg = ns["bcg"]
    glmm = ma.rma_glmm(bcg.tpos, bcg.tpos + bcg.tneg, bcg.cpos, bcg.cpos + bcg.cneg, model="UM.FS")
    assert quoted(math.exp(glmm.estimate), 0.4747, 1e-3)  # lme4's optimum: the GLMM tolerance


def test_every_name_the_tour_mentions_exists():
    """``ma.x`` in the python blocks, comments included, resolves (``ma.plots.save_figure`` too)."""
    import importlib

    import metaanalysis as ma

    text = "\n".join(code for _, code in code_blocks(README.read_text(encoding="utf-8"), "python"))
    names = sorted(set(re.findall(r"\bma((?:\.[A-Za-z_]\w*)+)", text)))
    assert names, "the tour mentions no ma.<name>"
    missing = []
    for dotted in names:
        parts = dotted.strip(".").split(".")
        obj, path = ma, "metaanalysis"
        for part in parts:
            if not hasattr(obj, part):
                try:  # a submodule not imported yet (ma.plots)
                    obj = importlib.import_module(f"{path}.{part}")
                except ImportError:
                    missing.append("ma." + ".".join(parts))
                    break
            else:
                obj = getattr(obj, part)
            path = f"{path}.{part}"
    assert missing == [], f"the README tour names what the package does not have: {missing}"


@pytest.mark.parametrize("snippet, error", [
    ("import metaanalysis as ma\nes = ma.escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg)\n", NameError),
    ("import metaanalysis as ma\nma.no_such_function()\n", AttributeError),
    ("import metaanalysis as ma\nma.read_studies('data/no_such_table.csv')\n", Exception),
])
def test_the_runner_fails_on_a_broken_block(snippet, error, tmp_path, monkeypatch):
    """The runner can fail: the old tour's undefined names, a missing function, a missing file."""
    monkeypatch.chdir(tmp_path)
    text = f"# title\n\nsome prose\n\n```python\nx = 1\n```\n\n```python\n{snippet}```\n"
    with pytest.raises(error) as info:
        run_python_blocks(text, name="FAKE.md")
    # the traceback points at the line of the fake README
    frames = [f for f in info.traceback if str(f.path) == "FAKE.md"]
    assert frames and frames[-1].lineno + 1 == 11  # pytest counts from 0


def test_blocks_run_in_order_in_one_namespace(tmp_path):
    text = "```python\na = 2\n```\ntext\n```bash\nnot python\n```\n```python\nb = a * 3\n```\n"
    assert run_python_blocks(text)["b"] == 6
    with pytest.raises(NameError):
        run_python_blocks("```python\nb = a * 3\n```\n```python\na = 2\n```\n")


# --- the command line ---------------------------------------------------------------------------

def hold_back_new_rows(folder: Path) -> int:
    """Move the NEW_ROWS from the copied table to ``new_rows.csv``; return their count."""
    table = folder / "data" / "studies.csv"
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    study, cut = header.index("study_id"), header.index("data_cut")
    new = [r for r in body if (r[study], r[cut]) == NEW_ROWS]
    keep = [r for r in body if (r[study], r[cut]) != NEW_ROWS]
    assert new, f"no rows {NEW_ROWS} in data/studies.csv: choose other rows for this test"
    for path, part in ((table, keep), (folder / "new_rows.csv", new)):
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([header, *part])
    return len(new)


def write_analysis_inputs(folder: Path) -> None:
    """The files the README's pool and network commands read: metafor's BCG trials as risk
    ratios (dat.bcg, shipped in metaanalysis.datasets) and a three-study network of arms (a
    test's numbers, not a trial's)."""
    import metaanalysis as ma
    from metaanalysis.datasets import load_bcg

    bcg = load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    with (folder / "my_effects.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["study", "yi", "vi", "alloc", "ablat"])
        w.writerows(zip(bcg.author, es.yi, es.vi, bcg.alloc, bcg.ablat))
    (folder / "my_network.csv").write_text(
        "study,treatment,events,n\n1,A,10,100\n1,placebo,20,100\n2,B,12,100\n2,placebo,22,100\n"
        "3,A,9,100\n3,B,11,100\n", encoding="utf-8")


def test_readme_commands_are_found():
    commands = cli_commands(README.read_text(encoding="utf-8"))
    verbs = [argv[0] for _, argv in commands]
    for verb in ("validate", "add", "report", "diff", "pool", "network", "reconstruct"):
        assert verb in verbs, f"the README shows no `metaanalysis {verb}`"


def test_cli_commands_run_in_order(tmp_path):
    copy_data(tmp_path)
    n_new = hold_back_new_rows(tmp_path)
    shutil.copy(tmp_path / "data" / "protocol.toml", tmp_path / "my_question.toml")
    write_analysis_inputs(tmp_path)
    before = len((tmp_path / "data" / "studies.csv").read_text(encoding="utf-8").splitlines())
    # the report's cache on, in a folder of this test's own, as a user has it: the README's first
    # report draws every figure; the later ones (after `add`, with another protocol) take the
    # figures whose inputs did not change from it (tests/test_report_cache.py checks that this
    # gives the same bytes)
    env = {**os.environ, "MPLBACKEND": "Agg", "METAANALYSIS_CACHE": str(tmp_path / "cache")}
    for line, argv in cli_commands(README.read_text(encoding="utf-8")):
        out = subprocess.run([sys.executable, "-m", "metaanalysis", *argv], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (
            f"README.md:{line}: `metaanalysis {shlex.join(argv)}` exited {out.returncode}\n"
            f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        assert "Traceback" not in out.stderr, f"README.md:{line}: {out.stderr[-3000:]}"
    # add put the held-back rows back; the reports and the diff are where the README says
    after = len((tmp_path / "data" / "studies.csv").read_text(encoding="utf-8").splitlines())
    assert after == before + n_new
    for folder in ("report", "report-new", "report-mine"):
        assert (tmp_path / folder / "results.json").is_file(), folder
    assert len((tmp_path / "veteran_ipd.csv").read_text().splitlines()) == 1 + 69


# README shows figures of the shipped report (issue 14: "README shows the new figures"): drawn
# again here by docs/figures/make_forest_figures.py and compared with the committed images at the
# report-baseline tolerance, so a change to a figure or to the shipped table cannot leave README
# showing an older drawing (it did: the forest plot without its risk-of-bias columns).
README_IMAGE_TOL = 3.0


@pytest.fixture(scope="module")
def readme_figures(tmp_path_factory):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_forest_figures", ROOT / "docs" / "figures" / "make_forest_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(tmp_path_factory.mktemp("readme_figures"))


def test_readme_shows_every_figure_the_script_makes(readme_figures):
    shown = set(re.findall(r"!\[[^\]]*\]\((docs/figures/[^)]+\.png)\)", README.read_text()))
    assert shown == {f"docs/figures/{p.name}" for p in readme_figures}


@needs_baseline_freetype
def test_readme_figures_are_the_report_s_current_drawings(readme_figures):
    from matplotlib.testing.compare import compare_images
    from matplotlib.testing.exceptions import ImageComparisonFailure

    for fresh in readme_figures:
        committed = ROOT / "docs" / "figures" / fresh.name
        try:
            err = compare_images(str(committed), str(fresh), tol=README_IMAGE_TOL)
        except ImageComparisonFailure as exc:  # another size: certainly another drawing
            err = str(exc)
        assert err is None, (f"{committed.name} is out of date: run python "
                             f"docs/figures/make_forest_figures.py ({err})")
