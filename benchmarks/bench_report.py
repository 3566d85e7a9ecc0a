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
So is the CPU time of all the report's processes (user + system): it measures the work, not how it
is spread over the cores, and on 2 cores the wall time cannot fall below about half of it. On a
shared virtual machine it varies too (the same code took 10.3 to 14.9 s of CPU within one day:
processes that share a core's caches with other machines' run slower), so compare two versions
in runs interleaved side by side, not with numbers from another hour.

The package's modules are compiled to bytecode first (``compileall``), as pip does when it installs
a package and Python does at a package's first import: a user's report never compiles them, but a
machine with ``PYTHONDONTWRITEBYTECODE`` set (this one, CI) would in every run, about 0.3 s of the
main process and more in the others.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _run(out: Path, cache: Path) -> tuple:
    """Wall seconds and CPU seconds (user + system, all the report's processes) of one report."""
    env = dict(os.environ, METAANALYSIS_CACHE=str(cache))
    c0, t0 = _cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "metaanalysis", "report", "--quiet",
                    "--studies", str(ROOT / "data" / "studies.csv"), "--out", str(out)],
                   check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(ROOT / "metaanalysis"), quiet=1)
    times = {"cold": [], "warm": []}
    cpu = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i in range(args.runs):
            for kind, folder in (("cold", f"cold{i}"), ("warm", f"warm{i}")):
                wall, used = _run(tmp / folder, tmp / f"cache{i}")
                times[kind].append(wall)
                cpu[kind].append(used)
            print(f"run {i + 1}: cold {times['cold'][-1]:.2f} s ({cpu['cold'][-1]:.1f} s CPU), "
                  f"warm {times['warm'][-1]:.2f} s ({cpu['warm'][-1]:.1f} s CPU) "
                  f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    for kind, t in times.items():
        print(f"{kind}: median {statistics.median(t):.2f} s wall, {statistics.median(cpu[kind]):.1f} s "
              f"CPU over {len(t)} runs, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
