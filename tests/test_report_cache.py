"""The report's cache (metaanalysis/report/cache.py): a report run again on the same inputs takes
its figures and curve fits from the cache and is the same report, byte for byte; what changed is
drawn again; an altered cache entry is never used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from metaanalysis.report import build_report, cache  # noqa: E402
from metaanalysis.report import curves as curves_mod  # noqa: E402
from metaanalysis.report import figures as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("studies.csv", "protocol.toml", "trials.csv", "risk_of_bias.csv")


def _copy_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in INPUTS:
        shutil.copy(ROOT / "data" / name, folder / name)
    shutil.copytree(ROOT / "data" / "curves", folder / "curves")
    return folder / "studies.csv"


def _files(out: Path) -> dict:
    """Every file the report wrote, but the Office tables (their zip entries carry the time)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix not in (".docx", ".xlsx")
            and p.name != ".metaanalysis-report.json"}


class _Counter:
    def __init__(self, monkeypatch):
        self.drawn, self.fitted = [], 0
        save, fit = F._save, curves_mod._fit_digitised

        def counting_save(fig, stem, formats):
            self.drawn.append(Path(stem).name)
            return save(fig, stem, formats)

        def counting_fit(*args):
            self.fitted += 1
            return fit(*args)

        monkeypatch.setattr(F, "_save", counting_save)
        monkeypatch.setattr(curves_mod, "_fit_digitised", counting_fit)
        # one process, so that the counts are seen here
        monkeypatch.setattr(F, "_worker_count", lambda workers, n: 1)

    def reset(self):
        self.drawn, self.fitted = [], 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Reports into new folders: cold, warm, after one cached figure was altered, after one
    number of the table changed; with the cache in a folder of its own."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("cache")
    mp.setenv(cache.CACHE_ENV, str(base / "cache"))
    studies = _copy_inputs(base / "data")
    counter = _Counter(mp)
    out = {}
    try:
        for name in ("cold", "warm"):
            counter.reset()
            build_report(studies, base / name)
            out[name] = (base / name, list(counter.drawn), counter.fitted)
        # alter one stored figure: the entry must be refused and the figure drawn again
        stored = sorted((base / "cache" / "figures").glob("*/*/pfs_hr_forest.svg"))
        assert len(stored) == 1
        stored[0].write_bytes(stored[0].read_bytes().replace(b"Hazard", b"Hazzard"))
        counter.reset()
        build_report(studies, base / "altered")
        out["altered"] = (base / "altered", list(counter.drawn), counter.fitted)
        # change one number of the table (a PFS hazard ratio of SELECT)
        text = studies.read_text(encoding="utf-8")
        old = "lenvatinib vs placebo,lenvatinib,placebo,PFS,hr,0.21,0.14,0.31,0.99,"
        assert text.count(old) == 1
        studies.write_text(text.replace(old, old.replace(",0.21,", ",0.22,")), encoding="utf-8")
        counter.reset()
        build_report(studies, base / "changed")
        out["changed"] = (base / "changed", list(counter.drawn), counter.fitted)
    finally:
        mp.undo()
    return out


def test_second_run_draws_and_fits_nothing_and_is_the_same_report(runs):
    cold, drawn_cold, fitted_cold = runs["cold"]
    warm, drawn_warm, fitted_warm = runs["warm"]
    assert len(drawn_cold) >= 30 and fitted_cold == 1
    assert drawn_warm == [] and fitted_warm == 0
    a, b = _files(cold), _files(warm)
    assert a.keys() == b.keys() and len([k for k in a if k.endswith(".pdf")]) >= 30
    for name in a:
        assert a[name] == b[name], name


def test_an_altered_entry_is_drawn_again(runs):
    cold = _files(runs["cold"][0])
    altered_dir, drawn, fitted = runs["altered"]
    assert drawn == ["pfs_hr_forest"] and fitted == 0
    altered = _files(altered_dir)
    assert altered["figures/pfs_hr_forest.svg"] == cold["figures/pfs_hr_forest.svg"]
    assert b"Hazzard" not in altered["index.html"]


def test_a_changed_number_redraws_only_what_shows_it(runs):
    cold = _files(runs["cold"][0])
    changed_dir, drawn, fitted = runs["changed"]
    changed = _files(changed_dir)
    # SELECT's PFS hazard ratio is drawn in the PFS forest and the PFS network figures
    assert "pfs_hr_forest" in drawn and changed["figures/pfs_hr_forest.svg"] != cold[
        "figures/pfs_hr_forest.svg"]
    assert b"0.22" in changed["figures/pfs_hr_forest.svg"]
    # the risk of bias, the PRISMA flow, other outcomes and the digitised curves are not
    for name in ("prisma_flow", "os_hr_forest", "orr_rr_forest", "veteran_os_ph_check",
                 "pfs_hr_rob_traffic_light"):
        assert name not in drawn
        assert changed[f"figures/{name}.svg"] == cold[f"figures/{name}.svg"]
    assert fitted == 0
    results = json.loads(changed["results.json"])
    before = json.loads(cold["results.json"])["survival_models"]
    # the modelled survival network carries the PFS network's hazard ratios, so it is redrawn;
    # the digitised curves' section and the modelled RMSTs (medians only) are not touched
    assert results["survival_models"].pop("modelled_network") != before.pop("modelled_network")
    assert "pfs_network_modelled_curves" in drawn
    assert results["survival_models"] == before


def test_cache_off(monkeypatch, tmp_path):
    for value in ("off", "0", "no", ""):
        monkeypatch.setenv(cache.CACHE_ENV, value)
        assert cache.cache_folder() is None
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    assert cache.cache_folder() == tmp_path / "c"
    with cache.disabled():
        assert cache.cache_folder() is None
        cache.store("figures", "ab" * 32, {"name": "x"})
    assert cache.cache_folder() == tmp_path / "c" and not (tmp_path / "c").exists()
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_folder() == tmp_path / "xdg" / "metaanalysis"


def test_no_cache_flag_turns_it_off_for_the_whole_report(monkeypatch, tmp_path):
    import metaanalysis.report as report

    seen = []
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    from types import SimpleNamespace

    def fake(*args):
        seen.append(cache.cache_folder())
        return SimpleNamespace(diff=None, directory=tmp_path / "r", files=(), warnings=())

    monkeypatch.setattr(report, "_build_report", fake)
    from metaanalysis.cli import main

    main(["report", "--no-cache", "--quiet", "--out", str(tmp_path / "r")])
    build_report(tmp_path / "s.csv", tmp_path / "r")
    assert seen == [None, tmp_path / "c"]


def test_fingerprint_covers_the_arguments_and_refuses_what_cannot_be_pickled():
    a = cache.fingerprint("figure", [1.0, 2.0])
    assert a == cache.fingerprint("figure", [1.0, 2.0])
    assert a != cache.fingerprint("figure", [1.0, 2.0000000001])
    assert cache.fingerprint("figure", lambda: 1) is None


def test_store_lookup_and_prune(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    keys = []
    for i in range(4):
        f = tmp_path / f"f{i}.svg"
        f.write_bytes(b"x" * 1000)
        key = f"{i:02d}" + "0" * 62
        cache.store("figures", key, {"name": f"f{i}"}, [f])
        entry = tmp_path / "c" / "figures" / key[:2] / key
        os.utime(entry, (1000 + i, 1000 + i))  # f0 the oldest
        keys.append(key)
    found = cache.lookup("figures", keys[3])
    assert found["meta"] == {"name": "f3"} and list(found["files"]) == ["f3.svg"]
    target = tmp_path / "out"
    target.mkdir()
    assert cache.copy_files(found, target) == [target / "f3.svg"]
    assert cache.lookup("figures", "ff" + "0" * 62) is None
    # the two least recently used go when the cache may hold about two entries
    cache.prune(max_bytes=2500)
    assert [cache.lookup("figures", k) is not None for k in keys] == [False, False, True, True]


def test_key_follows_the_code_and_the_matplotlib_settings(monkeypatch, tmp_path):
    import matplotlib
    from functools import partial

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    job = partial(F._network_figure, "pfs_hr", {"a": 1}, 0)
    key = F._job_key(job, ("svg",))
    assert key is not None and key == F._job_key(job, ("svg",))
    assert key != F._job_key(job, ("svg", "png"))
    with matplotlib.rc_context({"font.size": 13}):
        assert F._job_key(job, ("svg",)) != key
    with matplotlib.rc_context({"interactive": not matplotlib.rcParams["interactive"]}):
        assert F._job_key(job, ("svg",)) == key  # where figures are shown does not matter
    monkeypatch.setattr(cache, "code_key", lambda: "another version of the package")
    assert F._job_key(job, ("svg",)) != key


def test_what_cannot_be_stored_is_not_stored(monkeypatch, tmp_path):
    import numpy as np

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    key = "ab" * 32
    cache.store("sections", key, {"n": np.int64(3)})  # not JSON: skipped, no error
    assert cache.lookup("sections", key) is None
    assert not list((tmp_path / "c").rglob(".tmp-*"))
    # a cache folder that cannot be made (a file is in its way): skipped, no error
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "file"))
    (tmp_path / "file").write_text("x")
    cache.store("sections", key, {"n": 3})
    assert cache.lookup("sections", key) is None
