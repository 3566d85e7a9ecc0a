"""Speed and memory of validating a large study table (issue 16 asks for 200,000 rows in < 10 s).

Run: python benchmarks/bench_validate.py [--rows 200000] [--seed 16] [--repeat 1]

Writes a seeded synthetic table of ``--rows`` rows (two-arm and single-arm trials of about 15 rows
each: patient counts, PFS and OS medians with intervals, a hazard ratio, ORR/CR/PR/SD/DCR with
counts, grade 3+ adverse events; notes of realistic length, about 1 % of the studies carrying the
inconsistencies the validator warns about) into a temporary folder, then validates it in a fresh
Python process (so that the generator's memory does not count) and prints the wall and CPU time
of ``validate_studies`` (the CPU time is the steadier number on a shared machine; the load average
says how shared it was) and the peak resident memory of that process, with the memory of the
process after ``import metaanalysis, pandas`` alone for comparison.

``make_table(n_rows, seed)`` is imported by ``tests/test_validate_scale.py``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

HEADER = ["study_id", "trial", "year", "design", "arm", "therapy", "comparator", "outcome",
          "measure", "value", "ci_low", "ci_high", "ci_level", "numerator", "denominator", "n",
          "unit", "source", "locator", "notes", "status", "data_cut", "population", "assessor",
          "time_point", "factsheet_line"]
DRUGS = ("sorafenib", "lenvatinib", "cabozantinib", "vandetanib", "pazopanib", "sunitinib",
         "dabrafenib+trametinib", "selpercatinib", "pralsetinib", "larotrectinib")
_NOTE = ("Read from the results section; the denominator is the intention-to-treat population "
         "unless stated. Data cut-off as printed in the source. Checked twice against the table. ")


def _fmt(x, digits):
    return f"{x:.{digits}f}"


def _study_rows(rng, i, bad):
    """The rows of one synthetic study (a list of dicts). ``bad`` adds one inconsistency."""
    sid = f"s{i:06d}"
    year = int(rng.integers(2000, 2024))
    two_arm = rng.uniform() < 0.6
    drug = DRUGS[int(rng.integers(len(DRUGS)))]
    arms = [(drug, "placebo" if two_arm else ""), ("placebo", "")] if two_arm else [(drug, "")]
    cut = ("primary", "", "final")[int(rng.integers(3))]
    base = dict(study_id=sid, trial=f"TRIAL-{i}", year=str(year),
                design="rct" if two_arm else "single-arm", source=f"doi:10.9999/{sid}",
                locator="abstract", notes=_NOTE + f"Study {sid}.", status="", data_cut=cut,
                population="itt", assessor="", time_point="", factsheet_line="", ci_level="",
                ci_low="", ci_high="", numerator="", denominator="", unit="", comparator="")
    rows = []

    def add(**kw):
        r = dict(base)
        r.update(kw)
        rows.append(r)

    pfs_medians = []
    for arm, comp in arms:
        n = int(rng.integers(20, 400))
        add(arm=arm, therapy=arm, comparator=comp, outcome="N", measure="count", value=str(n),
            n=str(n))
        pfs = float(rng.uniform(3, 20))
        os_ = pfs + float(rng.uniform(1, 20))
        pfs_medians.append(pfs)
        for outcome, med in (("PFS", pfs), ("OS", os_)):
            f = float(rng.uniform(1.1, 1.6))
            lo, hi = med / f, med * f
            add(arm=arm, therapy=arm, comparator=comp, outcome=outcome, measure="median",
                value=_fmt(med, 1), ci_low=_fmt(lo, 1), ci_high=_fmt(hi, 1), ci_level="0.95",
                n=str(n), unit="months")
        cr = int(rng.integers(0, max(1, n // 20)))
        pr = int(rng.integers(0, max(1, n // 3)))
        sd = int(rng.integers(0, max(1, n - cr - pr)))
        orr = cr + pr
        dcr = orr + sd
        for outcome, k in (("ORR", orr), ("CR", cr), ("PR", pr), ("SD", sd), ("DCR", dcr)):
            add(arm=arm, therapy=arm, comparator=comp, outcome=outcome, measure="proportion",
                value=_fmt(k / n, 3), numerator=str(k), denominator=str(n), n=str(n))
        g3 = int(rng.integers(0, n))
        add(arm=arm, therapy=arm, comparator=comp, outcome="AE:G3+", measure="proportion",
            value=_fmt(g3 / n, 3), numerator=str(g3), denominator=str(n), n=str(n),
            population="safety")
        add(arm=arm, therapy=arm, comparator=comp, outcome="FU", measure="median",
            value=_fmt(float(rng.uniform(10, 40)), 1), n=str(n), unit="months")
    if two_arm:
        hr = float(np.exp(rng.normal(-0.4, 0.3)))
        se = float(rng.uniform(0.08, 0.3))
        add(arm=f"{drug} vs placebo", therapy=drug, comparator="placebo", outcome="PFS",
            measure="hr", value=_fmt(hr, 2), ci_low=_fmt(hr * np.exp(-1.96 * se), 2),
            ci_high=_fmt(hr * np.exp(1.96 * se), 2), ci_level="0.95", n="", assessor="central")
    if bad:
        kind = int(rng.integers(6))
        if kind == 0:  # a percentage that disagrees with its counts
            r = next(r for r in rows if r["outcome"] == "PR")
            r["value"] = _fmt(min(1.0, float(r["value"]) + 0.05), 3)
        elif kind == 1:  # ORR differs from CR + PR
            r = next(r for r in rows if r["outcome"] == "ORR")
            k = int(r["numerator"]) + 1
            if k <= int(r["denominator"]):
                r["numerator"] = str(k)
                r["value"] = _fmt(k / int(r["denominator"]), 3)
        elif kind == 2:  # an interval symmetric on the natural scale
            r = next(r for r in rows if r["outcome"] == "OS")
            v = float(r["value"])
            r["ci_low"], r["ci_high"] = _fmt(v * 0.4, 1), _fmt(v * 1.6, 1)
        elif kind == 3:  # median PFS longer than median OS
            r = next(r for r in rows if r["outcome"] == "PFS" and r["measure"] == "median")
            o = next(o for o in rows if o["outcome"] == "OS" and o["arm"] == r["arm"])
            r["value"] = _fmt(float(o["value"]) + 1, 1)
            r["ci_low"], r["ci_high"] = "", ""
            r["ci_level"] = ""
        elif kind == 4:  # two years in one study
            rows[-1]["year"] = str(year + 1)
        else:  # the same quantity twice with different values
            r = dict(next(r for r in rows if r["outcome"] == "FU"))
            r["value"] = _fmt(float(r["value"]) + 2, 1)
            r["notes"] = r["notes"] + " Second report."
            rows.append(r)
    return rows


def make_table(n_rows: int, seed: int = 16, bad_fraction: float = 0.01) -> bytes:
    """A valid synthetic study table of ``n_rows`` rows (UTF-8 CSV bytes), the same for a seed."""
    rng = np.random.default_rng(seed)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    w.writeheader()
    written, i = 0, 0
    while written < n_rows:
        rows = _study_rows(rng, i, rng.uniform() < bad_fraction)[: n_rows - written]
        w.writerows(rows)
        written += len(rows)
        i += 1
    return buf.getvalue().encode("utf-8")


def _peak_rss_mb(reset=False):
    """Peak resident memory of this process in MB (Linux: VmHWM, which writing 5 to
    /proc/self/clear_refs resets, so that the memory the process inherited does not count)."""
    try:
        if reset:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _validate_child(path: str) -> None:
    import time

    import pandas  # noqa: F401

    from metaanalysis.studies import validate_studies

    base = _peak_rss_mb(reset=True)
    t0, c0 = time.perf_counter(), time.process_time()
    table, problems = validate_studies(path)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_mb": peak, "import_mb": base,
                      "valid": table is not None, "rows": None if table is None else len(table),
                      "errors": sum(p.severity == "error" for p in problems),
                      "warnings": sum(p.severity != "error" for p in problems)}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="validate this many times")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _validate_child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "studies.csv")
        data = make_table(args.rows, args.seed)
        Path(path).write_bytes(data)
        print(f"{args.rows} rows, {len(data) / 1e6:.1f} MB (seed {args.seed})")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, __file__, "--child", path], env=env,
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"  validate_studies: {r['seconds']:.2f} s wall, {r['cpu']:.2f} s CPU (load "
                  f"average {load:.1f}), peak RSS {r['peak_mb']:.0f} MB "
                  f"(after imports {r['import_mb']:.0f} MB); valid={r['valid']}, "
                  f"{r['errors']} errors, {r['warnings']} warnings")


if __name__ == "__main__":
    main()
