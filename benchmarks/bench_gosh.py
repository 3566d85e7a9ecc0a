"""Time gosh (every subset of the studies refitted) against metafor's gosh, timed inside R.

Run: python benchmarks/bench_gosh.py [--repeat N]

metafor's dat.bcg (13 trials, log risk ratios): 8,191 subsets, each refitted with REML and with DL.
``gosh`` fits them vectorised through ``pool_many``; metafor's ``gosh(res, progbar = FALSE)`` loops
``rma`` over them (timed with system.time inside R, so R's start-up is not counted). Python times
are the median of ``--repeat`` runs (wall clock: the work is one process either way). Without
Rscript the R column is left out.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

# time this checkout's code: an editable install elsewhere would otherwise win the import
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import metaanalysis as ma  # noqa: E402


def python_time(method: str, repeat: int) -> float:
    bcg = ma.load_bcg()
    es = ma.escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    fit = ma.pool(es.yi, es.vi, method=method)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ma.gosh(fit)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def r_time(method: str) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    code = ('suppressMessages(library(metafor)); '
            'd <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg); '
            f'res <- rma(yi, vi, data=d, method="{method}"); '
            'cat(system.time(gosh(res, progbar=FALSE))[["elapsed"]])')
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"metaanalysis from {pathlib.Path(ma.__file__).parent}")
    print(f"{'method':8s} {'gosh (s)':>9s} {'metafor (s)':>12s} {'x metafor':>10s}")
    for method in ("REML", "DL"):
        py = python_time(method, args.repeat)
        r = r_time(method)
        ratio = f"{r / py:10.1f}" if r else f"{'-':>10s}"
        print(f"{method:8s} {py:9.3f} {r if r is not None else float('nan'):12.3f} {ratio}")


if __name__ == "__main__":
    main()
