"""Frozen results stay frozen through their pandas, dict and list fields.

A frozen dataclass refuses ``result.table = x`` but, on its own, not ``result.table["hr"] *= 2``
or ``result.grade["os"] = x``; a result changed that way would print, export and plot numbers it
never computed. Every pandas field is a :class:`metaanalysis._base.frame_field` (the object keeps
its own copy and hands out copies) and every dict or list field a
:class:`metaanalysis._base.frozen_field` (held as read-only copies, at any depth). The objects
below are built through the public API and walked (nested results, tuples and dicts of them), so
a result that gains a DataFrame, dict or list field without them fails here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaanalysis as ma
from metaanalysis._base import FrozenDict, FrozenList, frame_field, frozen_field

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
IPD = ROOT / "tests" / "data" / "ipd"


def _held(obj, kind, path="result", seen=None):
    """(path, owner, field name) of every value of type ``kind`` held in a dataclass field,
    recursively (through nested results, lists, tuples and dicts)."""
    seen = set() if seen is None else seen
    out = []
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, kind):
                out.append((f"{path}.{f.name}", obj, f.name))
            # on into what it holds (results in a dict of results have fields of their own)
            out += _held(value, kind, f"{path}.{f.name}", seen)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += _held(v, kind, f"{path}[{i}]", seen)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += _held(v, kind, f"{path}[{k!r}]", seen)
    return out


def _pandas_fields(obj, path="result"):
    return _held(obj, (pd.DataFrame, pd.Series), path)


def _descriptor(cls, name):
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _vandalise(frame):
    """Change ``frame`` in place in every way a user might: a cell, a column, the index."""
    if isinstance(frame, pd.Series):
        if len(frame):
            frame.iloc[0] = frame.iloc[-1] if frame.dtype == object else 12345
        frame.index = [f"x{i}" for i in range(len(frame))]
        return
    if frame.shape[1]:
        first = frame.columns[0]
        frame[first] = "vandalised"
    frame["added_by_user"] = 1
    frame.index = [f"x{i}" for i in range(len(frame))]


@pytest.fixture(scope="module")
def results():
    table = ma.read_studies(DATA / "studies.csv")
    from metaanalysis.review import read_trials, run_review
    from metaanalysis.review.risk_of_bias import read_risk_of_bias

    trials = read_trials(DATA / "trials.csv", studies=table)
    review = run_review(table, protocol=DATA / "protocol.toml", trials=trials)
    rob = read_risk_of_bias(DATA / "risk_of_bias.csv", studies=table, trials=trials)

    curve = ma.read_curve(DATA / "curves" / "veteran_overall")
    recon = curve.reconstruct()
    lung = pd.read_csv(IPD / "lung.csv")
    a, b = lung[lung.arm == 1], lung[lung.arm == 0]
    colon = pd.read_csv(IPD / "colon_death.csv")
    arms = {"lung": (a, b), "colon": (colon[colon.arm == 1], colon[colon.arm == 0])}

    from metaanalysis.network.survival import survival_nma
    from metaanalysis.pooling.rmst import pool_rmst
    from metaanalysis.pooling.sensitivity import gosh
    from metaanalysis.simulate import Scenario, run_simulation
    from metaanalysis.survival.models import fit_survival_models
    from metaanalysis.survival.onestage import cox_one_stage
    from metaanalysis.survival.ph import hr_over_time, piecewise_hr, ph_test
    from metaanalysis.survival.uncertainty import digitisation_uncertainty

    nma_data = pd.concat([
        a.assign(trial="T1", therapy="A"), b.assign(trial="T1", therapy="C"),
        colon[colon.arm == 1].assign(trial="T2", therapy="B"),
        colon[colon.arm == 0].assign(trial="T2", therapy="C"),
    ])[["trial", "therapy", "time", "event"]]
    fit = ma.pool([0.1, 0.3, -0.2, 0.5, 0.05], [0.04, 0.02, 0.05, 0.03, 0.06])
    from metaanalysis.pooling.binary import pool_binary
    from metaanalysis.pooling.regression import regression_line
    from metaanalysis.pooling.subgroups import subgroup_analysis
    from metaanalysis.pooling.survival import qe_median_variance

    yi, vi = [0.1, 0.3, -0.2, 0.5, 0.05, 0.2], [0.04, 0.02, 0.05, 0.03, 0.06, 0.05]
    reg = ma.meta_regression(yi, vi, mods=np.arange(6.0))
    return {
        "StudyTable": table,
        "TrialsTable": trials,
        "ReviewResult": review,
        "RiskOfBiasTable": rob,
        "Reconstruction": recon,
        "PHTestResult": ph_test(a, b),
        "PiecewiseHRResult": piecewise_hr(a, b, [200]),
        "TimeVaryingHRResult": hr_over_time(a, b),
        "SurvivalModelsResult": fit_survival_models({"a": a, "b": b},
                                                    models=("exponential", "weibull")),
        "OneStageCoxResult": cox_one_stage(arms),
        "RMSTPoolResult": pool_rmst(arms),
        "DigitisationUncertainty": digitisation_uncertainty(curve, n=4, seed=1),
        "SurvivalNMAResult": survival_nma(nma_data, breaks=[300], reference="C"),
        "GoshResult": gosh(fit, seed=1),
        "SimulationResult": run_simulation([Scenario(k=3)], ["DL+z"], n_rep=5, seed=1,
                                           progress=False),
        # results whose dict fields were the last mutable parts (frozen_field)
        "ConfintResult": fit.confint(),
        "RegressionConfint": reg.confint(),
        "RegressionLine": regression_line(reg),
        "SubgroupResult": subgroup_analysis(yi, vi, groups=list("aabbbb")),
        "BinaryPoolResult": pool_binary([5, 8, 3], [20, 30, 25], [9, 10, 6], [16, 28, 22],
                                        method="MH"),
        "BayesMetaResult": ma.bayesmeta(yi, vi=vi, tau_prior="halfnormal", tau_scale=0.5),
        "QEStudyFit": qe_median_variance(40, 10.0, q1=6.0, q3=15.0),
        "NetworkSurvivalResult": ma.network_survival(
            ma.network_meta(pd.DataFrame({"study": ["s1", "s2"], "treat1": ["A", "B"],
                                          "treat2": ["P", "P"], "yi": [-0.5, -0.2],
                                          "sei": [0.2, 0.3]}), measure="HR", reference="P"),
            6.0),
    }


def test_every_pandas_field_is_a_frame_field(results):
    found = {}
    for name, obj in results.items():
        fields = _pandas_fields(obj, name)
        found[name] = fields
        for path, owner, field in fields:
            assert isinstance(_descriptor(type(owner), field), frame_field), (
                f"{path} holds a {type(getattr(owner, field)).__name__} in a plain field: "
                "declare it `= frame_field()` so that the result cannot be changed through it")
    # the walk reaches what it is meant to (a walk that found nothing would pass vacuously)
    assert all(found[name] for name in results if name not in _NO_PANDAS), [
        n for n in results if not found[n] and n not in _NO_PANDAS]
    paths = {p for fields in found.values() for p, _, _ in fields}
    for expected in ("StudyTable.frame", "Reconstruction.ipd", "Reconstruction.points",
                     "Reconstruction.intervals", "PHTestResult.residuals",
                     "DigitisationUncertainty.replicates", "RMSTPoolResult.trials",
                     "ReviewResult.table.frame", "SurvivalNMAResult.data"):
        assert expected in paths, expected
    assert sum(map(len, found.values())) >= 20


_NO_PANDAS = {"ConfintResult", "RegressionConfint", "RegressionLine", "SubgroupResult",
              "BinaryPoolResult", "BayesMetaResult", "QEStudyFit", "NetworkSurvivalResult"}


def _public(held):
    return [h for h in held if not h[2].startswith("_")]  # _cache: the object's own memo


def test_every_dict_and_list_field_is_frozen_at_any_depth(results):
    held = {name: _public(_held(obj, (dict, list), name)) for name, obj in results.items()}
    loose = [p for fields in held.values() for p, owner, f in fields
             if not isinstance(getattr(owner, f), (FrozenDict, FrozenList))]
    assert loose == [], "declare these `= frozen_field(...)`"
    for fields in held.values():
        for path, owner, f in fields:
            assert isinstance(_descriptor(type(owner), f), frozen_field), path
    paths = {p for fields in held.values() for p, _, _ in fields}
    for expected in ("ReviewResult.grade", "ReviewResult.used", "ReviewResult.excluded",
                     "ReviewResult.protocol.review", "StudyTable.warnings",
                     "ConfintResult.random", "SubgroupResult.subgroups", "BinaryPoolResult.counts",
                     "BayesMetaResult.posterior", "QEStudyFit.sse", "RegressionLine.held"):
        assert expected in paths, expected

    def nested(value, path):
        # the containers inside them are frozen too (a nested list in a dict of warnings ...)
        if isinstance(value, dict):
            assert isinstance(value, FrozenDict), path
            for k, v in value.items():
                nested(v, f"{path}[{k!r}]")
        elif isinstance(value, list):
            assert isinstance(value, FrozenList), path
            for i, v in enumerate(value):
                nested(v, f"{path}[{i}]")

    for fields in held.values():
        for path, owner, f in fields:
            nested(getattr(owner, f), path)


def test_a_frozen_container_refuses_every_change(results):
    review = results["ReviewResult"]
    grade, excluded = review.grade, review.excluded
    before = json.dumps(review.to_dict(), sort_keys=True, default=str)
    key = next(iter(grade))
    changes = [lambda: grade.__setitem__(key, None), lambda: grade.pop(key),
               lambda: grade.update({"x": 1}), lambda: grade.setdefault("x", 1),
               lambda: grade.clear(), lambda: grade.popitem(), lambda: grade.__delitem__(key),
               lambda: excluded.append("x"), lambda: excluded.extend(["x"]),
               lambda: excluded.__setitem__(0, "x"), lambda: excluded.sort(),
               lambda: excluded.reverse(), lambda: excluded.pop(), lambda: excluded.clear(),
               lambda: excluded.insert(0, "x"), lambda: excluded.remove(excluded[0]),
               lambda: excluded.__delitem__(0)]
    for change in changes:
        with pytest.raises(TypeError, match="frozen result"):
            change()
    with pytest.raises(TypeError, match="frozen result"):
        warnings = results["StudyTable"].warnings
        warnings += ["x"]
    with pytest.raises(TypeError, match="frozen result"):
        results["ConfintResult"].random["tau2"] = (0.0, 0.0, 0.0)
    assert json.dumps(review.to_dict(), sort_keys=True, default=str) == before
    # a copy is the user's to change, and plain
    mine = dict(grade)
    mine["x"] = 1
    assert type(grade.copy()) is dict and type(excluded.copy()) is list and "x" not in grade
    assert excluded + ["x"] == list(excluded) + ["x"]


def test_frozen_containers_survive_pickle_copy_and_json(results):
    for name in ("ReviewResult", "ConfintResult", "SubgroupResult", "BinaryPoolResult",
                 "StudyTable"):
        obj = results[name]
        for again in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj), copy.copy(obj)):
            for path, owner, f in _public(_held(again, (dict, list), name)):
                value = getattr(owner, f)
                assert isinstance(value, (FrozenDict, FrozenList)), path
        if hasattr(obj, "to_dict"):
            text = json.dumps(obj.to_dict(), default=str)
            assert json.dumps(pickle.loads(pickle.dumps(obj)).to_dict(), default=str) == text
    # what the caller passed in stays the caller's: frozen copies, not the caller's dict frozen
    given = {"a": [1, 2], "b": {"c": [3]}}
    r = _Frozen(given)
    given["a"].append(3)
    given["b"]["c"].append(4)
    assert r.held == {"a": [1, 2], "b": {"c": [3]}}
    assert type(given["a"]) is list
    assert r == dataclasses.replace(r) and hash(_Frozen({"x": (1,)})) == hash(_Frozen({"x": (1,)}))
    # a default is a frozen empty list of the object's own (Python 3.10's dataclasses refuse a
    # list as a default, so frozen_field hands them a wrapper)
    assert type(_Frozen({}).extra) is FrozenList and _Frozen({}).extra == []
    assert not isinstance(_Frozen.__dataclass_fields__["extra"].default, (list, dict, set))


@dataclasses.dataclass(frozen=True)
class _Frozen:
    held: dict = frozen_field()
    extra: list = frozen_field([])


def test_the_same_results_arrays_are_read_only(results):
    arrays = [h for name, obj in results.items() for h in _held(obj, np.ndarray, name)]
    assert len(arrays) >= 10
    assert [p for p, owner, f in arrays if getattr(owner, f).flags.writeable] == []


def test_changing_what_a_result_hands_out_leaves_the_result_as_it_was(results):
    checked = 0
    for name, obj in results.items():
        for path, owner, field in _pandas_fields(obj, name):
            before = getattr(owner, field).copy(deep=True)
            _vandalise(getattr(owner, field))
            held = getattr(owner, field)
            if isinstance(before, pd.DataFrame):
                pd.testing.assert_frame_equal(held, before, obj=path)
            else:
                pd.testing.assert_series_equal(held, before, obj=path)
            checked += 1
    assert checked >= 20
    # to_frame() hands out a frame of its own too
    for name, obj in results.items():
        before = obj.to_frame().copy(deep=True)
        _vandalise(obj.to_frame())
        pd.testing.assert_frame_equal(obj.to_frame(), before, obj=f"{name}.to_frame()")
    # and what the objects print is what they computed
    recon = results["Reconstruction"]
    assert int(recon.ipd["event"].sum()) == recon.events
    assert recon.summary() == recon.summary()


@dataclasses.dataclass(frozen=True, eq=False)
class _Result:
    n: int
    table: object = frame_field()
    extra: object = frame_field(None)


def test_a_frame_field_is_still_frozen_and_required():
    Result = _Result
    given = pd.DataFrame({"hr": [0.5, 0.7]})
    r = Result(2, given)
    given.loc[0, "hr"] = 9.0  # the caller's frame, changed after the call
    assert r.table["hr"].tolist() == [0.5, 0.7]
    assert r.extra is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.table = given
    with pytest.raises(TypeError, match="table"):
        Result(2)
    # replace() and pickling keep the frame and its protection
    import pickle

    for copy in (dataclasses.replace(r, n=3), pickle.loads(pickle.dumps(r))):
        t = copy.table
        t["hr"] = 0.0
        assert copy.table["hr"].tolist() == [0.5, 0.7]
    # a value that is not pandas is kept as given
    assert Result(1, None).table is None
