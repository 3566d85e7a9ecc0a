"""The analysis subcommands (design.md: "one subcommand per main analysis, each with --json"):
``pool``, ``network`` and ``reconstruct`` give what the functions they call give, read metafor's
column names (or the user's, mapped), name every bad cell by file, line and column without a
traceback, and write their output file atomically; ``add --json`` too.

Numbers: BCG (metafor's dat.bcg) pooled by the CLI agree with metafor's printed REML / Knapp-Hartung
fit (the same values README quotes, from tests/reference), and with the Python functions exactly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis.cli import main
from metaanalysis.datasets import load_bcg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_studies import GOOD_ROWS, row, to_csv  # noqa: E402

CURVE = ROOT / "data" / "curves" / "veteran_os_standard"


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "metaanalysis", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env)


def json_of(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture()
def bcg_files(tmp_path):
    bcg = load_bcg()
    counts = tmp_path / "bcg.csv"
    bcg.to_csv(counts, index=False)
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    effects = tmp_path / "bcg_es.csv"
    pd.DataFrame({"study": bcg.author, "yi": es.yi, "vi": es.vi}).to_csv(effects, index=False)
    return bcg, es, counts, effects


# --------------------------------------------------------------------------------------------
# pool


def test_pool_effect_sizes_as_metafor_and_as_pool(bcg_files, capsys):
    bcg, es, _, effects = bcg_files
    d = json_of(capsys, ["pool", str(effects), "--test", "knha", "--json"])
    assert d["input"] == "effects"
    r = d["result"]
    # metafor 3.8-1: rma(yi, vi, data = dat.bcg RR, test = "knha") prints these (4 decimals)
    assert r["estimate"] == pytest.approx(-0.7145, abs=5e-5)
    assert r["tau2"] == pytest.approx(0.3132, abs=5e-5)
    assert r["ci_low"] == pytest.approx(-1.1084, abs=5e-5)
    ref = ma.pool(es.yi, es.vi, method="REML", test="knha").to_dict()
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "i2"):
        assert r[key] == pytest.approx(ref[key], rel=1e-12), key
    # standard errors instead of variances give the same fit; another estimator is passed on
    sei = effects.parent / "bcg_sei.csv"
    pd.DataFrame({"yi": es.yi, "sei": np.sqrt(es.vi)}).to_csv(sei, index=False)
    d2 = json_of(capsys, ["pool", str(sei), "--test", "knha", "--json"])
    assert d2["result"]["estimate"] == pytest.approx(r["estimate"], rel=1e-12)
    dl = json_of(capsys, ["pool", str(effects), "--method", "DL", "--json"])["result"]
    assert dl["tau2"] == pytest.approx(ma.pool(es.yi, es.vi, method="DL").tau2, rel=1e-12)
    assert dl["tau2"] != pytest.approx(r["tau2"], rel=1e-3)


def test_pool_counts_with_mapped_columns_and_either_group_size(bcg_files, capsys, tmp_path):
    bcg, _, counts, _ = bcg_files
    mapped = ["--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
    d = json_of(capsys, ["pool", str(counts), *mapped, "--json"])
    assert d["input"] == "binary"
    ref = ma.pool_binary(bcg.tpos, bcg.tpos + bcg.tneg, bcg.cpos, bcg.cpos + bcg.cneg,
                         measure="OR", method="MH").to_dict()
    assert d["result"]["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    # group sizes given directly: the same fit
    sizes = tmp_path / "sizes.csv"
    pd.DataFrame({"ai": bcg.tpos, "n1i": bcg.tpos + bcg.tneg, "ci": bcg.cpos,
                  "n2i": bcg.cpos + bcg.cneg}).to_csv(sizes, index=False)
    d2 = json_of(capsys, ["pool", str(sizes), "--json"])
    assert d2["result"]["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    # a measure and a tau² method are passed on (inverse variance RR, REML: metafor's -0.7145)
    rr = json_of(capsys, ["pool", str(counts), *mapped, "--measure", "RR", "--method", "REML",
                          "--json"])["result"]
    assert rr["estimate"] == pytest.approx(-0.7145, abs=5e-5)


def test_pool_one_group_counts(tmp_path, capsys):
    p = tmp_path / "prop.csv"
    p.write_text("study,xi,ni\nA,12,40\nB,30,61\nC,7,35\n")
    d = json_of(capsys, ["pool", str(p), "--measure", "PLO", "--json"])
    assert d["input"] == "proportions"
    ref = ma.pool_proportions([12, 30, 7], [40, 61, 35], measure="PLO").to_dict()
    assert d["result"]["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)
    assert d["result"]["proportion"] == pytest.approx(ref["proportion"], rel=1e-12)


CVC = ("study,x1i,t1i,x2i,t2i\nBong,7,1344,11,1988\nCiresi,8,1600,8,1461\nHanna,3,12012,14,10962\n"
       "Harter,6,1536,10,1503\n")


def test_pool_events_over_person_time_as_rma_mh(tmp_path, capsys):
    p = tmp_path / "rates.csv"
    p.write_text(CVC)
    d = json_of(capsys, ["pool", str(p), "--json"])
    assert d["input"] == "incidence"
    ref = ma.pool_incidence([7, 8, 3, 6], [1344, 1600, 12012, 1536], [11, 8, 14, 10],
                            [1988, 1461, 10962, 1503]).to_dict()
    # metafor: rma.mh(measure="IRR", ...) on these four trials: IRR 0.5904, MH = 3.9601
    assert d["result"]["ratio"] == pytest.approx(ref["ratio"], rel=1e-12)
    assert round(d["result"]["ratio"], 4) == 0.5904 and round(d["result"]["cmh"], 4) == 3.9601
    assert d["result"]["labels"] == ["Bong", "Ciresi", "Hanna", "Harter"]
    d = json_of(capsys, ["pool", str(p), "--measure", "IRD", "--method", "DL", "--json"])
    assert d["result"]["method"] == "DL" and d["result"]["measure"] == "IRD"
    assert "events over person-time" in run_cli("pool", str(p)).stdout


@pytest.mark.parametrize("content, argv, expected", [
    (CVC.replace("1344", "0"), [], ":2:t1i: 0 is out of range; give person-time above 0"),
    (CVC.replace("Ciresi,8", "Ciresi,-8"), [], ":3:x1i: -8 is out of range"),
    (CVC, ["--method", "PETO"], "--method PETO: events over person-time are pooled by MH"),
])
def test_pool_events_over_person_time_bad_input(tmp_path, content, argv, expected):
    p = tmp_path / "rates.csv"
    p.write_text(content)
    res = run_cli("pool", str(p), *argv)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert expected in res.stderr, res.stderr


def test_pool_text_output_names_the_file_and_the_input(bcg_files, capsys):
    _, _, _, effects = bcg_files
    assert main(["pool", str(effects)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{effects}: 13 studies (effect sizes)")
    assert "-0.7145" in out  # REML estimate, z test


def test_pool_names_every_bad_cell_without_traceback(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("study,yi,vi\nA,0.1,0.02\nB,abc,0.03\nC,0.3,-1\nD,0.2,\n")
    before = p.read_bytes()
    res = run_cli("pool", str(p))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert lines[0].startswith(f"{p}:3:yi: 'abc' is not a number")
    assert lines[1].startswith(f"{p}:4:vi: -1 is out of range")
    assert lines[2].startswith(f"{p}:5:vi: is empty")
    assert res.stdout == ""
    assert p.read_bytes() == before


def test_pool_reads_numbers_by_the_study_tables_grammar(tmp_path):
    # Python's float() reads "1_0" as 10 (a tenfold weight from a typo for 1.0), a full-width
    # "０.３" as 0.3 and takes "+0.2": the study table refuses all three, and so does pool
    p = tmp_path / "under.csv"
    p.write_text("study,yi,vi\na,0.1,1_0\nb,\uff10.\uff13,0.02\nc,+0.2,0.01\n", encoding="utf-8")
    res = run_cli("pool", str(p))
    assert res.returncode == 2 and res.stdout == ""
    assert f"{p}:2:vi: '1_0' is not a number (underscores are not allowed)" in res.stderr
    assert f"{p}:3:yi: '\uff10.\uff13' is not a number (it has non-ASCII digits" in res.stderr
    assert f"{p}:4:yi: '+0.2' is not a number (write it without the '+')" in res.stderr


@pytest.mark.parametrize("content, argv, expected", [
    ("study,foo\nA,1\n", [], ":1: no columns to pool; give effect sizes"),
    ("study,xi,ni\nA,5,4\n", [], ":2:xi: 5 events in a group of 4"),
    ("study,ai,n1i,ci,n2i\nA,3,10,4,0\n", [], ":2:n2i: 0 is out of range; give a group size "
     "above 0"),
    ("study,yi,vi\nA,0.1,0.02\n", ["--vi", "var"], ":1:var: no such column; the header has: "
     "study, yi, vi"),
    ("study,yi,vi\n", [], ": has a header but no data rows"),
    ("study,yi,vi\nA,0.1,0\n", [], ":2:vi: 0 is out of range; give a sampling variance above 0"),
    ("study,yi,,\nA,0.1,,\n", [], ":1: column 3 of the header has no name"),
    ("study,yi,vi\nA,0.1,0.02\nB,0.2,0.03\n", ["--method", "FOO"], "unknown method 'FOO'"),
])
def test_pool_bad_input_exits_2_with_the_place(tmp_path, content, argv, expected):
    p = tmp_path / "in.csv"
    p.write_text(content)
    res = run_cli("pool", str(p), *argv)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert expected in res.stderr
    assert str(p) in res.stderr


# --------------------------------------------------------------------------------------------
# network

ARMS = ("study,treatment,events,n\n1,A,10,100\n1,placebo,20,100\n2,B,12,100\n2,placebo,22,100\n"
        "3,A,9,100\n3,B,11,100\n")


def test_network_matches_network_meta(tmp_path, capsys):
    p = tmp_path / "arms.csv"
    p.write_text(ARMS)
    d = json_of(capsys, ["network", str(p), "--json"])["result"]
    frame = pd.DataFrame({"study": ["1", "1", "2", "2", "3", "3"],
                          "treatment": ["A", "placebo", "B", "placebo", "A", "B"],
                          "events": [10., 20, 12, 22, 9, 11], "n": [100.] * 6})
    ref = json.loads(json.dumps(ma.network_meta(frame).to_dict()))
    assert d == ref
    assert main(["network", str(p), "--method", "EE"]) == 0
    assert "network meta-analysis" in capsys.readouterr().out


def test_network_bad_cell_and_bad_reference(tmp_path):
    p = tmp_path / "arms.csv"
    p.write_text(ARMS.replace("2,B,12,100", "2,B,twelve,100"))
    res = run_cli("network", str(p))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{p}:4:events: 'twelve' is not a number" in res.stderr
    p.write_text(ARMS)
    res = run_cli("network", str(p), "--reference", "sorafenib")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{p}: reference 'sorafenib'" in res.stderr


@pytest.mark.parametrize("content, argv, expected", [
    # the audit's case: events above n named by the study alone
    ("study,treatment,events,n\nS1,placebo,10,100\nS1,A,105,100\nS2,placebo,12,90\n"
     "S2,A,20,95\n", [], ":3:events: study 'S1': events must lie between 0 and n (and n > 0); "
     "this arm has 105 events of n = 100"),
    ("study,treatment,events,n\nS1,placebo,10,100\nS1,A,15,0\nS2,placebo,12,90\nS2,A,20,95\n",
     [], ":3:n: study 'S1': events must lie between 0 and n"),
    ("study,treatment,events,n\nS1,placebo,10,100\nS1,A,,100\nS2,placebo,12,90\nS2,A,20,95\n",
     [], ":3:events: study 'S1': events has a missing or infinite value"),
    ("study,treatment,events,n\nS1,placebo,10,100\nS1,A,15,100\nS2,placebo,12,90\n"
     "S2,A,20,95\nS2,A,21,95\n", [], ":6:treatment: study 'S2' lists treatment 'A' in more "
     "than one arm"),
    ("study,treatment,events,n\nS1,placebo,10,100\nS1,A,15,100\nS2,placebo,12,90\n", [],
     ":4:study: study 'S2' has a single arm ('placebo')"),
    ("study,treatment,mean,sd,n\nS1,placebo,1.0,0.5,50\nS1,A,1.2,0,50\n", ["--measure", "MD"],
     ":3:sd: study 'S1': sd and n must be positive; this arm has sd = 0, n = 50"),
    ("study,treat1,treat2,yi,sei\nS1,A,placebo,0.1,0.2\nS2,B,B,0.1,0.2\n", [],
     ":3:treat2: row 1 (study 'S2') compares 'B' with itself"),
    ("study,treat1,treat2,yi,sei\nS1,A,placebo,0.1,0.2\nS2,B,placebo,0.1,\n", [],
     ":3:sei: row 1 (study 'S2'): needs a finite effect and a positive variance"),
    ("study,treat1,treat2,hr,ci_low,ci_high\nS1,A,placebo,0.8,0.6,0.9\n"
     "S2,B,placebo,0.7,0,0.9\n", ["--measure", "HR"],
     ":3:ci_low: row 1 (study 'S2'): a HR interval must be positive"),
    ("study,treat1,treat2,yi,sei\nS1,A,placebo,0.1,0.2\nS1,placebo,A,-0.1,0.2\n", [],
     ":3:treat2: study 'S1' gives the comparison placebo vs A twice"),
])
def test_network_input_errors_name_line_and_column(tmp_path, content, argv, expected):
    p = tmp_path / "net_bad.csv"
    p.write_text(content)
    res = run_cli("network", str(p), *argv)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"{p}{expected}"), res.stderr


def test_network_row_errors_carry_the_row_for_callers():
    from metaanalysis.network.data import RowInputError

    arms = pd.DataFrame({"study": ["S1", "S1", "S2", "S2"],
                         "treatment": ["placebo", "A", "placebo", "A"],
                         "events": [10, 105, 12, 20], "n": [100, 100, 90, 95]})
    with pytest.raises(RowInputError, match="study 'S1': events must lie between 0 and n") as e:
        ma.network_meta(arms)
    assert (e.value.row, e.value.column) == (1, "events")
    assert isinstance(e.value, ma.InputError)


# --------------------------------------------------------------------------------------------
# pool: vi and sei together


def test_pool_refuses_vi_and_sei_that_disagree(tmp_path):
    # the audit's case: pooled silently by vi
    p = tmp_path / "both.csv"
    p.write_text("study,yi,vi,sei\nA,0.1,0.02,0.1\nB,0.2,0.03,0.2\nC,0.3,0.01,0.1\n")
    res = run_cli("pool", str(p))
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    assert res.stderr == (
        f"{p}:2:vi: 0.02 disagrees with sei 0.1: a sampling variance is the squared standard "
        "error (0.1² = 0.01), and the two columns must agree to a relative 1e-06; correct one, "
        "or remove the column you do not trust; line 3 disagrees too\n")
    # mapped names are the ones named
    p.write_text("study,yi,v,se\nA,0.1,0.01,0.1\nB,0.2,0.05,0.2\n")
    res = run_cli("pool", str(p), "--vi", "v", "--sei", "se")
    assert res.returncode == 2 and res.stderr.startswith(f"{p}:3:v: 0.05 disagrees with se 0.2")


def test_pool_takes_vi_and_sei_that_agree(tmp_path, capsys):
    bcg = load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    yi, vi = [float(y) for y in es.yi], [float(v) for v in es.vi]
    both = tmp_path / "both.csv"
    # as software writes them (repr: full precision); sei² equals vi to ~1e-16
    both.write_text("yi,vi,sei\n" + "".join(f"{y!r},{v!r},{math.sqrt(v)!r}\n"
                                            for y, v in zip(yi, vi)))
    vi_only = tmp_path / "vi.csv"
    vi_only.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(yi, vi)))
    assert (json_of(capsys, ["pool", str(both), "--json"])["result"]
            == json_of(capsys, ["pool", str(vi_only), "--json"])["result"])
    # vi complete and sei filled in only here and there: vi is pooled, the empty cells are no
    # error (a review's table often gives the standard error only where the paper printed it)
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("yi,vi,sei\n" + "".join(
        f"{y!r},{v!r},{repr(math.sqrt(v)) if i % 2 else ''}\n"
        for i, (y, v) in enumerate(zip(yi, vi))))
    assert (json_of(capsys, ["pool", str(gaps), "--json"])["result"]
            == json_of(capsys, ["pool", str(vi_only), "--json"])["result"])


# --------------------------------------------------------------------------------------------
# reconstruct


def test_reconstruct_writes_the_patient_data_the_function_gives(tmp_path, capsys):
    out = tmp_path / "ipd.csv"
    # an older patient-data file is replaced whole (any other file is refused: test_cli.py)
    out.write_text("time,event\n1.0,1\n")
    d = json_of(capsys, ["reconstruct", str(CURVE), "--out", str(out), "--json"])
    rec = ma.read_curve(CURVE).reconstruct()
    written = pd.read_csv(out)
    assert list(written.columns) == ["time", "event"]
    assert len(written) == rec.n == d["reconstruction"]["n"] == 69
    np.testing.assert_array_equal(written["time"], rec.ipd["time"])
    np.testing.assert_array_equal(written["event"], rec.ipd["event"])
    assert d["reconstruction"]["events"] == int(written["event"].sum())
    assert d["reconstruction"]["total_events"] == 64
    assert d["curve"]["study_id"] == "veteran"
    assert sorted(os.listdir(tmp_path)) == ["ipd.csv"]  # no temporary file left beside it


def test_reconstruct_without_total_events_and_as_text(capsys):
    d = json_of(capsys, ["reconstruct", str(CURVE), "--no-total-events", "--json"])
    assert d["reconstruction"]["total_events"] is None
    rec = ma.read_curve(CURVE).reconstruct(use_total_events=False)
    assert d["reconstruction"]["events"] == rec.events
    assert main(["reconstruct", str(CURVE)]) == 0
    out = capsys.readouterr().out
    assert "(veteran standard OS)" in out and "patients: 69" in out


def test_reconstruct_refuses_its_own_files_and_names_a_missing_curve(tmp_path):
    meta = Path(str(CURVE) + ".meta.csv")
    before = meta.read_bytes()
    res = run_cli("reconstruct", str(CURVE), "--out", str(meta))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "is one of the curve's own files" in res.stderr
    assert meta.read_bytes() == before
    # a meta file may name its clicks file (key 'clicks'): that file is the curve's own too
    clicks = tmp_path / "custom_clicks.csv"
    clicks.write_bytes(Path(str(CURVE) + ".clicks.csv").read_bytes())
    own = tmp_path / "arm.meta.csv"
    own.write_text(meta.read_text(encoding="utf-8").rstrip("\n") + "\nclicks,custom_clicks.csv\n",
                   encoding="utf-8")
    kept = clicks.read_bytes()
    res = run_cli("reconstruct", str(own), "--out", str(clicks))
    assert res.returncode == 2 and "is one of the curve's own files" in res.stderr
    assert clicks.read_bytes() == kept
    res = run_cli("reconstruct", str(tmp_path / "nothing"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{tmp_path / 'nothing'}.meta.csv: metadata file not found" in res.stderr


# --------------------------------------------------------------------------------------------
# add --json


def test_add_json_lists_what_was_appended_and_only_the_new_warnings(tmp_path, capsys):
    table = tmp_path / "studies.csv"
    old = row(study_id="old2020", trial="OLD", year="2020", value="10.0", ci_low="9.9",
              ci_high="60.0")
    table.write_text(to_csv(GOOD_ROWS + [old]))
    rows = tmp_path / "new.csv"
    rows.write_text(to_csv([row(study_id="new2025", trial="NEW2", year="2025", value="10.0",
                                ci_low="9.0", ci_high="80.0")]))
    d = json_of(capsys, ["add", str(rows), "--studies", str(table), "--json"])
    assert d["appended"] == 1 and d["rows"] == len(GOOD_ROWS) + 2
    assert d["backup"] == f"{table}.bak" and Path(d["backup"]).is_file()
    lines = {w["line"] for w in d["new_warnings"]}
    assert lines == {len(GOOD_ROWS) + 3}  # the new row's warning, not the old one's
    assert d["warnings"] >= 2


# --------------------------------------------------------------------------------------------
# pool: subgroups, meta-regression, small-study tests (the README's metafor numbers for BCG)


@pytest.fixture()
def bcg_full(tmp_path):
    bcg = load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    p = tmp_path / "bcg_full.csv"
    bcg.assign(yi=es.yi, vi=es.vi).to_csv(p, index=False)
    return bcg, es, p


def test_pool_subgroups_regression_and_small_study_tests(bcg_full, capsys):
    bcg, es, p = bcg_full
    d = json_of(capsys, ["pool", str(p), "--by", "alloc", "--mods", "~ ablat + year",
                         "--test", "knha", "--small-study", "--json"])
    ref = ma.subgroup_analysis(es.yi, es.vi, groups=bcg.alloc, test="knha").to_dict()
    assert json.loads(json.dumps(ma._base.jsonable(ref))) == d["subgroups"]
    reg = d["meta_regression"]
    # metafor 3.8-1: rma(yi, vi, mods = ~ ablat + year, test = "knha"): ablat -0.0280, p 0.0332
    assert reg["coef_names"] == ["intrcpt", "ablat", "year"]
    assert reg["coef"][1] == pytest.approx(-0.0280, abs=5e-5)
    assert reg["pvalue"][1] == pytest.approx(0.0332, abs=5e-5)
    small = d["small_study"]
    # regtest(res): t = -0.7812, p = 0.4512; ranktest: tau 0.0256, p 0.9524; trimfill: 1 study
    assert small["egger"]["statistic"] == pytest.approx(-0.7812, abs=5e-5)
    assert small["egger"]["pvalue"] == pytest.approx(0.4512, abs=5e-5)
    assert small["rank"]["pvalue"] == pytest.approx(0.9524, abs=5e-5)
    assert small["trim_and_fill"]["k0"] == 1
    assert capsys.readouterr().err == ""  # 13 studies: no power warning


def test_pool_extras_refuse_bad_requests_and_warn_on_few_studies(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("study,yi,vi,group\nA,0.1,0.02,x\nB,0.3,0.03,\nC,0.2,0.01,y\n")
    res = run_cli("pool", str(p), "--by", "group")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{p}:3:group: is empty; give the study's subgroup" in res.stderr
    res = run_cli("pool", str(p), "--by", "arm")
    assert f"{p}:1:arm: no such column for --by" in res.stderr
    res = run_cli("pool", str(p), "--mods", "~ dose")
    assert res.returncode == 2 and "Traceback" not in res.stderr and str(p) in res.stderr
    # a formula is checked before patsy evaluates it: no Python runs from the command line
    marker = tmp_path / "ran"
    res = run_cli("pool", str(p), "--mods", f'~ __import__("os").mkdir("{marker}")')
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "uses the attribute .mkdir" in res.stderr and not marker.exists()
    counts = tmp_path / "c.csv"
    counts.write_text("study,ai,n1i,ci,n2i,g\nA,3,30,6,30,x\nB,4,40,9,41,y\n")
    res = run_cli("pool", str(counts), "--by", "g", "--method", "MH")
    assert res.returncode == 2 and "inverse variance" in res.stderr
    res = run_cli("pool", str(p), "--small-study")
    assert res.returncode == 0
    assert f"{p}: warning: 3 studies; tests for small-study effects" in res.stderr


def test_pool_counts_small_study_tests_refit_by_reml_and_moderators_named(bcg_files, capsys,
                                                                         tmp_path):
    bcg, _, counts, _ = bcg_files
    mapped = ["--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
    d = json_of(capsys, ["pool", str(counts), *mapped, "--small-study", "--json"])
    assert d["result"]["method"] == "MH"
    assert "cannot repeat a MH fit" in d["small_study_fit"]
    es = ma.escalc("OR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    ref = ma.egger_test(ma.pool(es.yi, es.vi, method="REML")).to_dict()
    assert d["small_study"]["egger"]["statistic"] == pytest.approx(ref["statistic"], rel=1e-10)
    # for odds ratios also the tests that Egger's bias for them does not affect
    n1, n2 = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    for test in ("harbord", "peters"):
        want = ma.binary_bias_test(bcg.tpos, n1, bcg.cpos, n2, test=test).statistic
        assert d["small_study_odds_ratios"][test]["statistic"] == pytest.approx(want, rel=1e-12)
    text = run_cli("pool", str(counts), *mapped, "--small-study").stdout
    assert "Harbord's test" in text and "Peters' test" in text
    # a risk ratio has neither
    d = json_of(capsys, ["pool", str(counts), *mapped, "--measure", "RR", "--small-study",
                         "--json"])
    assert "small_study_odds_ratios" not in d
    p = tmp_path / "m.csv"
    p.write_text("study,yi,vi,dose,dosage\nA,0.1,0.02,1,\nB,0.3,0.03,,2\nC,0.2,0.01,3,\n"
                 "D,0.25,0.02,4,1\n")
    res = run_cli("pool", str(p), "--mods", "~ dose")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    # only the moderator's own empty cell: not those of 'dosage', which the formula does not use
    assert res.stderr.strip() == (f"{p}:3:dose: is empty; a moderator of --mods needs a value "
                                  "for every study")


def test_pool_counts_by_glmm_as_rma_glmm(bcg_files, capsys):
    bcg, _, counts, _ = bcg_files
    mapped = ["--ai", "tpos", "--bi", "tneg", "--ci", "cpos", "--di", "cneg"]
    d = json_of(capsys, ["pool", str(counts), *mapped, "--method", "GLMM", "--json"])
    # metafor 3.8-1: rma.glmm(measure = "OR", model = "UM.FS") on dat.bcg: OR 0.4747
    assert np.exp(d["result"]["estimate"]) == pytest.approx(0.4747, abs=5e-5)
    n1i, n2i = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    for model in ("UM.FS", "CM.AL"):
        d = json_of(capsys, ["pool", str(counts), *mapped, "--method", "GLMM", "--model", model,
                             "--json"])
        ref = ma.rma_glmm(bcg.tpos, n1i, bcg.cpos, n2i, model=model).to_dict()
        assert d["result"]["estimate"] == pytest.approx(ref["estimate"], rel=1e-12), model


def test_network_reads_contrasts_and_leaves_text_columns_alone(tmp_path, capsys):
    # contrast-level hazard ratios as reported (ratio, ci_low, ci_high) and a notes column
    p = tmp_path / "hr.csv"
    p.write_text("study,treat1,treat2,hr,ci_low,ci_high,notes\n"
                 "s1,A,placebo,0.60,0.45,0.80,first report\ns2,B,placebo,0.75,0.55,1.02,\n"
                 "s3,A,B,0.85,0.60,1.20,head to head\n")
    d = json_of(capsys, ["network", str(p), "--measure", "HR", "--json"])["result"]
    frame = pd.DataFrame({"study": ["s1", "s2", "s3"], "treat1": ["A", "B", "A"],
                          "treat2": ["placebo", "placebo", "B"], "hr": [0.60, 0.75, 0.85],
                          "ci_low": [0.45, 0.55, 0.60], "ci_high": [0.80, 1.02, 1.20]})
    ref = json.loads(json.dumps(ma._base.jsonable(ma.network_meta(frame, measure="HR").to_dict())))
    assert d == ref
    p.write_text(p.read_text().replace("0.75,0.55", "0.75,low"))
    res = run_cli("network", str(p), "--measure", "HR")
    assert res.returncode == 2 and f"{p}:3:ci_low: 'low' is not a number" in res.stderr


def test_pool_log_ratios_are_read_back_as_ratios(bcg_files, capsys):
    _, _, _, effects = bcg_files
    d = json_of(capsys, ["pool", str(effects), "--measure", "RR", "--test", "knha", "--json"])
    # metafor: predict(rma(yi, vi, test = "knha"), transf = exp): 0.4894 [0.3301, 0.7257],
    # PI [0.1359, 1.7629]
    r = d["ratio"]
    for key, value in (("pred", 0.4894), ("ci_low", 0.3301), ("ci_high", 0.7257),
                       ("pi_low", 0.1359), ("pi_high", 1.7629)):
        assert r[key] == pytest.approx(value, abs=5e-5), key
    assert main(["pool", str(effects), "--measure", "RR"]) == 0
    assert "RR (exp of the estimate" in capsys.readouterr().out
    # without a ratio measure there is nothing to read back
    assert "ratio" not in json_of(capsys, ["pool", str(effects), "--json"])
