"""Time pool_many (the batch engine) on 100,000 meta-analyses of k = 10, beside a loop over pool,
statsmodels' combine_effects and metafor's rma looped inside R; report peak memory.

Run: python benchmarks/bench_batch.py [--groups 100000] [--subset 2000] [--r-subset 300] [--big]

- pool_many is timed end to end from a pandas DataFrame (grouping, padding, estimation, the
  Q-profile interval for tau² unless stated, the result DataFrame): median of ``--runs`` runs
  (wall clock, time.perf_counter; process time printed beside it because the 2 cores are shared).
- The loop over pool, statsmodels and metafor are timed on a subset of the groups and extrapolated
  linearly to all groups (each fit is independent, so the cost is linear); the script says so.
  metafor is timed inside R (system.time around a for loop), so R's start-up is not counted.
- Peak memory: tracemalloc's peak of the Python allocations made by the pool_many call (numpy
  registers its buffers with tracemalloc), and the process's maximum resident set size.
- ``--big``: 10^7 rows (10^6 meta-analyses of k = 10) through pool_many in chunks (default
  chunk_rows), with the same two memory measures; the bound is 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from metaanalysis.pooling import pool
from metaanalysis.pooling.batch import pool_many


def make_frame(groups: int, k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.3, (groups, k))
    yi = rng.normal(0.2, np.sqrt(vi + 0.1))
    frame = pd.DataFrame({"analysis_id": np.repeat(np.arange(groups), k), "yi": yi.ravel(), "vi": vi.ravel()})
    return frame, yi, vi


def timed(fn, runs):
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def peak_mb(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def maxrss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def loop_pool(yi, vi, method, n, to_dict):
    t0 = time.perf_counter()
    for i in range(n):
        res = pool(yi[i], vi[i], method=method)
        if to_dict:
            res.to_dict()
    return (time.perf_counter() - t0) / n


def loop_statsmodels(yi, vi, method, n):
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        return None
    sm = {"DL": "chi2", "REML": "iterated"}[method]  # statsmodels has DL and PM ("iterated"), no REML
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for i in range(n):
            combine_effects(yi[i], vi[i], method_re=sm)
    return (time.perf_counter() - t0) / n


def loop_metafor(yi, vi, n):
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        np.savetxt(f"{tmp}/y.csv", yi[:n], delimiter=",")
        np.savetxt(f"{tmp}/v.csv", vi[:n], delimiter=",")
        script = f"""
suppressMessages(library(metafor))
y <- as.matrix(read.csv('{tmp}/y.csv', header = FALSE)); v <- as.matrix(read.csv('{tmp}/v.csv', header = FALSE))
for (m in c('DL', 'REML')) {{
  invisible(rma(y[1, ], v[1, ], method = m))
  t <- system.time(for (i in 1:{n}) try(rma(y[i, ], v[i, ], method = m), silent = TRUE))[['elapsed']]
  cat(m, t / {n}, '\\n')
}}
"""
        with open(f"{tmp}/bench.R", "w") as fh:
            fh.write(script)
        proc = subprocess.run(["Rscript", f"{tmp}/bench.R"], capture_output=True, text=True)
        if proc.returncode:
            print("metafor timing failed:", proc.stderr.strip()[-500:])
            return {}
        out = proc.stdout
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.strip()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--subset", type=int, default=2000, help="groups timed for the pool and statsmodels loops")
    ap.add_argument("--r-subset", type=int, default=300, help="groups timed for the metafor loop")
    ap.add_argument("--big", action="store_true", help="also run 10^7 rows in chunks (a while)")
    args = ap.parse_args()
    G = args.groups
    frame, yi, vi = make_frame(G, args.k)
    print(f"{G:,} meta-analyses of k = {args.k} ({len(frame):,} rows); pool_many times are medians of "
          f"{args.runs} runs (wall; process time in brackets); loops timed on a subset and extrapolated "
          f"to {G:,} groups")
    r = loop_metafor(yi, vi, args.r_subset)
    print(f"{'method':<8}{'pool_many s':>18}{'no tau2 CI s':>18}{'loop pool s':>13}{'+to_dict s':>12}"
          f"{'statsmodels s':>15}{'metafor s':>12}{'x loop':>8}{'x sm':>7}{'x metafor':>10}{'peak MB':>9}")
    for method in ("DL", "REML"):
        wall, cpu, out = timed(lambda: pool_many(frame, method=method), args.runs)
        assert len(out) == G and out["converged"].all()
        wall0, cpu0, _ = timed(lambda: pool_many(frame, method=method, ci_tau2=False), args.runs)
        peak = peak_mb(lambda: pool_many(frame, method=method))
        n = min(args.subset, G)
        lp = loop_pool(yi, vi, method, n, False) * G
        lpd = loop_pool(yi, vi, method, max(1, n // 4), True) * G
        sm = loop_statsmodels(yi, vi, method, n)
        sm = None if sm is None else sm * G
        mf = r.get(method)
        mf = None if mf is None else mf * G
        f = lambda x: "n/a" if x is None else f"{x:.1f}"  # noqa: E731
        ratio = lambda x: "n/a" if x is None else f"{x / wall:.0f}"  # noqa: E731
        print(f"{method:<8}{f'{wall:.3f} ({cpu:.3f})':>18}{f'{wall0:.3f} ({cpu0:.3f})':>18}{lp:>13.1f}{lpd:>12.1f}"
              f"{f(sm):>15}{f(mf):>12}{ratio(lpd):>8}{ratio(sm):>7}{ratio(mf):>10}{peak:>9.0f}")
    print("ratios: their extrapolated time / pool_many's time with the tau2 CI (x loop: the loop over "
          "pool(...).to_dict(), the same columns); statsmodels' REML column is its iterated "
          "Paule-Mandel (it has no REML)")
    print(f"process max RSS so far: {maxrss_mb():.0f} MB")
    if args.big:
        del frame, yi, vi
        big, _, _ = make_frame(1_000_000, 10, seed=2)
        t0 = time.perf_counter()
        tracemalloc.start()
        out = pool_many(big, method="REML")
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        took = time.perf_counter() - t0
        print(f"--big: {len(big):,} rows, {len(out):,} meta-analyses, REML with tau2 CI, chunk_rows default: "
              f"{took:.1f} s (under tracemalloc), peak traced {peak:.0f} MB for the call, process max RSS "
              f"{maxrss_mb():.0f} MB (includes the 10^7-row input frame); bound 2048 MB")


if __name__ == "__main__":
    main()
