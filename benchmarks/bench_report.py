"""Time the main job: `metaanalysis report` on the shipped table, end to end, in a fresh process.

    python benchmarks/bench_report.py            # 3 runs of each kind; prints each and the medians
    python benchmarks/bench_report.py --runs 5

Each run is a new interpreter (imports included, as a user meets them) writing into a new folder.
Two kinds of run:

* cold: an empty cache (``METAANALYSIS_CACHE`` set to a new folder): every figure is drawn and
  every curve fitted, as on a new machine or after the package was updated;
* warm: the cache of one earlier report of the same inputs, as when a report is run again (the
  same table on another day, ``--compare``, a protocol's other analyses): unchanged figures and
  curve fits are copied from the cache (the same bytes; see metaanalysis/report/cache.py).

The load average is printed beside the times: on a shared machine it explains most of the spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(out: Path, cache: Path) -> float:
    env = dict(os.environ, METAANALYSIS_CACHE=str(cache))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "metaanalysis", "report", "--quiet",
                    "--studies", str(ROOT / "data" / "studies.csv"), "--out", str(out)],
                   check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(args.runs):
            cold = _run(tmp / f"cold{i}", tmp / f"cache{i}")
            times["cold"].append(cold)
            warm = _run(tmp / f"warm{i}", tmp / f"cache{i}")
            times["warm"].append(warm)
            print(f"run {i + 1}: cold {cold:.2f} s, warm {warm:.2f} s "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    for kind, t in times.items():
        print(f"{kind}: median {statistics.median(t):.2f} s over {len(t)} runs, "
              f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
