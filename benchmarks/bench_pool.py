"""Time metaanalysis.pool against statsmodels' combine_effects and metafor's rma (timed inside R).

Run: python benchmarks/bench_pool.py [--repeat N] [--blocks B]

Prints microseconds per fit for REML and DL at k = 10 and k = 100, and the ratios. ``pool`` is timed
as a user calls it (validation, estimation, the result object); the Q-profile interval for tau²
is computed lazily on first access, so a second column times ``pool(...).to_dict()``, which includes it.
metafor is timed with a loop inside R (system.time), so R's start-up is not counted.

The machine's 2 cores are shared, so every Python time is the median over ``--blocks`` blocks of
``--repeat`` calls (process time, time.process_time, which other processes do not inflate as much as
the wall clock), and the fastest block is printed beside it. Two k = 10 datasets are timed: seed 1,
where REML's tau² lands on the boundary (one Fisher-scoring step), and seed 5, where it is
positive and takes six steps (the ``it`` column).
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

# time this checkout's code: an editable install elsewhere on the machine would otherwise win the import
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import metaanalysis  # noqa: E402
from metaanalysis.pooling import pool  # noqa: E402


def data(k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.1))
    return yi, vi


BLOCKS = 15


def per_call(fn, repeat: int, blocks: int | None = None):
    """(median, min) microseconds per call over blocks of ``repeat`` calls (process time)."""
    fn()
    times = []
    for _ in range(blocks or BLOCKS):
        t0 = time.process_time()
        for _ in range(repeat):
            fn()
        times.append((time.process_time() - t0) / repeat * 1e6)
    times.sort()
    return times[len(times) // 2], times[0]


def statsmodels_time(yi, vi, method, repeat):
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        return None
    sm_method = {"REML": "iterated", "DL": "chi2"}[method]  # statsmodels has PM ("iterated") and DL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return per_call(lambda: combine_effects(yi, vi, method_re=sm_method), repeat)[0]


def metafor_times(cases, repeat):
    if shutil.which("Rscript") is None:
        return {}
    lines = ["suppressMessages(library(metafor))"]
    for (k, method, _), (yi, vi) in cases.items():
        lines.append(f"yi <- c({','.join(repr(float(x)) for x in yi)}); vi <- c({','.join(repr(float(x)) for x in vi)})")
        lines.append(f"invisible(rma(yi, vi, method='{method}'))")
        lines.append(f"t <- system.time(for (i in 1:{repeat}) rma(yi, vi, method='{method}'))[['elapsed']]")
        lines.append(f"cat('{k} {method}', t / {repeat} * 1e6, '\\n')")
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write("\n".join(lines))
    out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        k, method, us = line.split()
        res.setdefault((int(k), method), []).append(float(us))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=500)
    ap.add_argument("--blocks", type=int, default=BLOCKS)
    ap.add_argument("--r-repeat", type=int, default=300)
    args = ap.parse_args()
    cases = {(k, m, seed): data(k, seed) for k, seed in ((10, 1), (10, 5), (100, 1)) for m in ("REML", "DL")}
    r = metafor_times(cases, args.r_repeat)
    print(f"timing {pathlib.Path(metaanalysis.__file__).parent}")
    print(f"{'case':<20}{'it':>4}{'pool':>9}{'(min)':>8}{'+to_dict':>10}{'statsmodels':>13}{'metafor':>10}"
          f"{'x sm':>7}{'x metafor':>11}")
    seen = {}
    for (k, method, seed), (yi, vi) in cases.items():
        its = pool(yi, vi, method=method).iterations
        ours, best = per_call(lambda: pool(yi, vi, method=method), args.repeat, args.blocks)
        full = per_call(lambda: pool(yi, vi, method=method).to_dict(), max(50, args.repeat // 10), args.blocks)[0]
        sm = statsmodels_time(yi, vi, method, max(50, args.repeat // 4))
        i = seen[(k, method)] = seen.get((k, method), -1) + 1
        mf = r.get((k, method), [None] * (i + 1))[i]
        fmt = lambda x: "n/a" if x is None else f"{x:.1f}"  # noqa: E731
        ratio = lambda x: "n/a" if x is None else f"{x / ours:.1f}"  # noqa: E731
        print(f"k={k:<3} {method:<5}seed={seed:<5}{its:>4}{ours:>9.1f}{best:>8.1f}{full:>10.1f}{fmt(sm):>13}"
              f"{fmt(mf):>10}{ratio(sm):>7}{ratio(mf):>11}")
    print("microseconds per fit (median of blocks, process time; min = fastest block); ratios = their "
          "time / pool's median time (statsmodels' REML column is its iterated Paule-Mandel, its "
          "closest estimator; metafor timed inside R)")


if __name__ == "__main__":
    main()
