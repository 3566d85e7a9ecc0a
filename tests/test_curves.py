"""read_curve / write_curve: the digitised-curve files of data/curves/ and their validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metaanalysis as ma
from metaanalysis.errors import StudyTableError
from metaanalysis.survival import DigitisedCurve, read_curve, simulate_digitisation, write_curve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "curves" / "veteran_overall"

META = """key,value
study_id,demo
arm,control
outcome,OS
time_unit,months
scale,fraction
risk_times,0 3 6
n_risk,50 40 30
total_events,
source,doi:10.1000/demo
locator,Figure 1
"""
CLICKS = "x,y\n0,1\n1,0.9\n2,0.85\n4,0.7\n7,0.55\n"


def write(tmp_path, meta=META, clicks=CLICKS, name="demo"):
    (tmp_path / f"{name}.meta.csv").write_text(meta)
    (tmp_path / f"{name}.clicks.csv").write_text(clicks)
    return tmp_path / name


def test_shipped_example_reads_and_reconstructs():
    curve = ma.read_curve(EXAMPLE)
    assert isinstance(curve, DigitisedCurve)
    assert curve.n == 137 and len(curve.t) == 96 and curve.total_events == 128
    assert curve.time_unit == "days" and curve.study_id == "veteran"
    rec = curve.reconstruct()
    assert len(rec.ipd) == 137 and rec.events == 128
    assert len(curve.reconstruct(use_total_events=False).ipd) == 137
    # either file of the pair names the curve
    assert read_curve(str(EXAMPLE) + ".clicks.csv").n == 137
    assert read_curve(str(EXAMPLE) + ".meta.csv").n == 137
    assert "veteran" in curve.summary() and curve.to_dict()["n"] == 137


def test_header_is_optional_and_semicolons_accepted(tmp_path):
    a = read_curve(write(tmp_path, clicks=CLICKS))
    b = read_curve(write(tmp_path, clicks=CLICKS.split("\n", 1)[1], name="b"))
    c = read_curve(write(tmp_path, clicks=CLICKS.replace(",", ";"), name="c"))
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.s, c.s)
    assert a.total_events is None and a.risk_times.tolist() == [0, 3, 6]


def test_number_only_curve(tmp_path):
    meta = META.replace("risk_times,0 3 6\n", "").replace("n_risk,50 40 30", "n_risk,50")
    curve = read_curve(write(tmp_path, meta=meta))
    assert curve.risk_times is None and len(curve.reconstruct().ipd) == 50


def problems_of(path):
    with pytest.raises(StudyTableError) as err:
        read_curve(path)
    return err.value.problems


def test_every_problem_is_reported_with_file_and_line(tmp_path):
    meta = (META.replace("time_unit,months", "time_unit,fortnights")
            .replace("n_risk,50 40 30", "n_risk,50 55 30")
            .replace("scale,fraction", "scale,fraction\nscale,percent"))
    clicks = "0,1\n1,0.9\n2,abc\n3,1.7\n4\n"
    probs = problems_of(write(tmp_path, meta=meta, clicks=clicks))
    text = "\n".join(str(p) for p in probs)
    assert "demo.meta.csv:5:time_unit:" in text
    assert "repeats line 6" in text
    assert "increases" in text and ":n_risk:" in text
    assert "demo.clicks.csv:3:survival: 'abc' is not a number" in text
    assert "demo.clicks.csv:4:survival: survival 1.7 outside" in text
    assert "demo.clicks.csv:5: expected two columns" in text
    assert all(p.row is not None for p in probs)


@pytest.mark.parametrize(
    "meta_edit, clicks, match",
    [
        (("study_id,demo\n", ""), CLICKS, "required key 'study_id'"),
        (("risk_times,0 3 6", "risk_times,1 3 6"), CLICKS, "start at 0"),
        (("risk_times,0 3 6", "risk_times,0 3"), CLICKS, "n_risk has 3 values but risk_times has 2"),
        (("total_events,", "total_events,60"), CLICKS, "exceeds"),
        (("scale,fraction", "scale,ratio"), CLICKS, "scale must be"),
        (("n_risk,50 40 30", "n_risk,50 40.5 30"), CLICKS, "whole numbers"),
        (("", ""), "", "empty"),
        (("", ""), "0.5,0.9\n", "single point"),
        (("", ""), "0,1\n-3,0.9\n4,0.8\n", "negative time"),
        (("", ""), "0,100\n2,90\n4,80\n", "in percent"),
        (("scale,fraction", "scale,percent"), CLICKS, "fractions; set scale,fraction"),
        (("", ""), "0,0.2\n1,0.3\n2,0.5\n4,0.8\n7,1\n", "survival rises with time"),
    ],
)
def test_bad_files(tmp_path, meta_edit, clicks, match):
    meta = META.replace(*meta_edit) if meta_edit[0] else META
    probs = problems_of(write(tmp_path, meta=meta, clicks=clicks))
    assert any(match in p.message for p in probs), [str(p) for p in probs]


def test_percent_scale_file(tmp_path):
    curve = read_curve(write(tmp_path, meta=META.replace("scale,fraction", "scale,percent"),
                             clicks="0,100\n2,90\n4,80\n7,70\n"))
    assert len(curve.reconstruct().ipd) == 50


def test_warnings_do_not_stop_reading(tmp_path):
    meta = META.replace("risk_times,0 3 6", "risk_times,0 3 9") + "colour,red\n"
    clicks = "0,1\n1,0.9\n2,0.95\n4,0.7\n7,0.55\n"
    curve = read_curve(write(tmp_path, meta=meta, clicks=clicks))
    assert curve.extra == {"colour": "red"}
    # the risk time 9 is past the curve: the reconstruction drops it and says so
    with pytest.warns(UserWarning, match="beyond the last point"):
        curve.reconstruct()


def test_missing_files(tmp_path):
    probs = problems_of(tmp_path / "nothing")
    assert "metadata file not found" in probs[0].message
    (tmp_path / "x.meta.csv").write_text(META)
    assert "clicks file not found" in problems_of(tmp_path / "x")[0].message


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    t = rng.exponential(10, 80)
    c = rng.uniform(0, 30, 80)
    curve = simulate_digitisation(np.minimum(t, c), (t <= c).astype(int), seed=3, arm="a",
                                  study_id="sim")
    write_curve(curve, tmp_path / "sim_os_a")
    back = read_curve(tmp_path / "sim_os_a")
    np.testing.assert_allclose(back.t, curve.t, rtol=0, atol=0)
    np.testing.assert_array_equal(back.n_risk, curve.n_risk)
    assert back.total_events == curve.total_events and back.arm == "a"
    a, b = curve.reconstruct(warn=False).ipd, back.reconstruct(warn=False).ipd
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


@pytest.mark.parametrize("which", ["meta", "clicks"])
def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, which):
    # a Latin-1 note, or a binary file, was a UnicodeDecodeError traceback
    path = write(tmp_path)
    f = tmp_path / f"demo.{which}.csv"
    f.write_bytes(f.read_bytes() + ("notes,H\xfcrthle\n" if which == "meta" else "8,0.5\xff\n")
                  .encode("latin-1"))
    probs = problems_of(path)
    assert len(probs) == 1 and probs[0].file == str(f)
    assert probs[0].row == f.read_bytes().count(b"\n") and "is not UTF-8" in probs[0].message


@pytest.mark.parametrize("cell, why", [("1_2", "underscores"), ("\uff11\uff13", "non-ASCII digits"),
                                       ("\u0661\u0664", "non-ASCII digits"), ("nan", "missing-value")])
def test_clicks_follow_the_tables_number_grammar(tmp_path, cell, why):
    # float() read all of these (13 for full-width 13, 14 for Arabic-Indic 14)
    probs = problems_of(write(tmp_path, clicks=CLICKS + f"{cell},0.5\n"))
    assert len(probs) == 1 and probs[0].column == "time" and why in probs[0].message
    meta = META.replace("total_events,", f"total_events,{cell}")
    assert any(p.column == "total_events" for p in problems_of(write(tmp_path, meta=meta)))
