"""Time metaanalysis.pool against statsmodels' combine_effects and metafor's rma (timed inside R).

Run: python benchmarks/bench_pool.py [--repeat N]

Prints microseconds per fit for REML and DL at k = 10 and k = 100, and the ratios. ``pool`` is timed
as a user calls it (validation, estimation, the result object); the Q-profile interval for tau²
is computed lazily on first access, so a second line times ``pool(...).to_dict()``, which includes it.
metafor is timed with a loop inside R (system.time), so R's start-up is not counted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np

from metaanalysis.pooling import pool


def data(k: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.1))
    return yi, vi


def per_call(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best * 1e6


def statsmodels_time(yi, vi, method, repeat):
    try:
        from statsmodels.stats.meta_analysis import combine_effects
    except ImportError:
        return None
    sm_method = {"REML": "iterated", "DL": "chi2"}[method]  # statsmodels has PM ("iterated") and DL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return per_call(lambda: combine_effects(yi, vi, method_re=sm_method), repeat)


def metafor_times(cases, repeat):
    if shutil.which("Rscript") is None:
        return {}
    lines = ["suppressMessages(library(metafor))"]
    for (k, method), (yi, vi) in cases.items():
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
        res[(int(k), method)] = float(us)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--r-repeat", type=int, default=300)
    args = ap.parse_args()
    cases = {(k, m): data(k) for k in (10, 100) for m in ("REML", "DL")}
    r = metafor_times(cases, args.r_repeat)
    print(f"{'case':<12}{'pool':>10}{'+to_dict':>10}{'statsmodels':>13}{'metafor':>10}{'x sm':>8}{'x metafor':>11}")
    for (k, method), (yi, vi) in cases.items():
        ours = per_call(lambda: pool(yi, vi, method=method), args.repeat)
        full = per_call(lambda: pool(yi, vi, method=method).to_dict(), max(200, args.repeat // 10))
        sm = statsmodels_time(yi, vi, method, max(200, args.repeat // 4))
        mf = r.get((k, method))
        fmt = lambda x: "n/a" if x is None else f"{x:.1f}"  # noqa: E731
        ratio = lambda x: "n/a" if x is None else f"{x / ours:.1f}"  # noqa: E731
        print(f"k={k:<3} {method:<6}{ours:>10.1f}{full:>10.1f}{fmt(sm):>13}{fmt(mf):>10}{ratio(sm):>8}{ratio(mf):>11}")
    print("microseconds per fit; ratios = their time / pool's time (statsmodels' REML column is its "
          "iterated Paule-Mandel, its closest estimator)")


if __name__ == "__main__":
    main()
