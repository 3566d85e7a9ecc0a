"""Time the main job: `metaanalysis report` on the shipped table, end to end, in a fresh process.

    python benchmarks/bench_report.py            # 3 runs; prints each and the median
    python benchmarks/bench_report.py --runs 5

Each run is a new interpreter (imports included, as a user meets them) writing into a new folder.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "metaanalysis", "report", "--quiet",
                            "--studies", str(ROOT / "data" / "studies.csv"),
                            "--out", str(Path(tmp) / "report")], check=True, cwd=ROOT)
            times.append(time.perf_counter() - t0)
        print(f"run {i + 1}: {times[-1]:.2f} s (load average {os.getloadavg()[0]:.2f})")
    print(f"median {statistics.median(times):.2f} s over {len(times)} runs, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
