"""Simulation studies: meta-analyses generated under a stated model, pooled by several estimators and
interval methods, and summarised by bias, MSE, coverage (with Monte Carlo standard errors), interval
width and the bias of tau².

A study is a list of :class:`Scenario` (the true model) and a list of methods (``"DL+z"``,
``"REML+knha"`` ...). :func:`run_simulation` draws ``n_rep`` meta-analyses per scenario, pools every
replicate with every method and returns a :class:`SimulationResult` with one row per scenario x
method. All methods see the same replicates (common random numbers), so differences between methods
are not Monte Carlo noise between data sets.

Replicates are pooled through the vectorised batch engine :func:`metaanalysis.pooling.batch.pool_many`
when it is available, otherwise by a loop over :func:`metaanalysis.pool`; the engine used is stored
in the result (``engine``).

Reproducibility: scenario ``i`` of ``run_simulation(..., seed=s)`` draws its replicates from
``numpy.random.SeedSequence(s, spawn_key=(i,))`` (:func:`scenario_seed`), in blocks of
``BLOCK_SIZE`` replicates, block ``b`` from ``spawn_key=(i, b)``. So one scenario can be rerun alone
(``run_scenario(scenarios[i], seed=scenario_seed(s, i))``), a run can be resumed from a checkpoint,
and scenarios can be computed on other machines (``client=``, see :mod:`metaanalysis.distributed`),
all with results identical to one uninterrupted run on this machine.

Models
------
``model="normal"`` (normal-normal): theta_i ~ N(mu, tau²), y_i ~ N(theta_i, sigma_i²), analysed with
vi = sigma_i² (or with an estimated variance for ``vi_dist="sample"``).

``model="binomial"`` (binomial-normal): control-arm events c_i ~ Bin(n_i, p0); treatment-arm events
a_i ~ Bin(n_i, expit(logit(p0) + theta_i)), theta_i ~ N(mu, tau²); analysed as log odds ratios by
:func:`metaanalysis.effects.two_by_two` with metafor's ``escalc`` defaults (``add=1/2`` to the
tables with a zero cell, double-zero tables kept unless ``drop00=True``). ``mu`` is the true mean log
odds ratio.

References
----------
Morris TP, White IR, Crowther MJ (2019). Using simulation studies to evaluate statistical methods.
*Stat. Med.* 38, 2074-2102 (the performance measures and their Monte Carlo SEs used here).
IntHout J, Ioannidis JPA, Borm GF (2014). The Hartung-Knapp-Sidik-Jonkman method for random effects
meta-analysis is straightforward and considerably outperforms the standard DerSimonian-Laird method.
*BMC Med. Res. Methodol.* 14, 25 (reproduced in ``notebooks/coverage_simulation.ipynb``).

Examples
--------
>>> from metaanalysis.simulate import Scenario, run_simulation
>>> res = run_simulation([Scenario(k=5, tau2=0.05, vi=(0.1,))], ["DL+z", "DL+knha"],
...                      n_rep=200, seed=1, progress=False)
>>> list(res.to_frame()["label"])
['DL+z', 'DL+knha']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ._base import ResultMixin, check_level, fmt, frame_field, jsonable, progress_bar
from .errors import ConvergenceError, InputError

__all__ = [
    "Scenario",
    "SimulationResult",
    "run_simulation",
    "run_scenario",
    "scenario_seed",
    "generate",
    "parse_methods",
    "pool_groups",
    "engine_name",
    "DEFAULT_METHODS",
    "BLOCK_SIZE",
]

#: the estimator + interval combinations compared by default
DEFAULT_METHODS = ("DL+z", "REML+z", "REML+knha", "PM+knha", "DL+knha")
#: replicates per pooling call and per random stream (part of what makes a seed reproducible)
BLOCK_SIZE = 2000
MODELS = ("normal", "binomial")
VI_DISTS = ("fixed", "uniform", "chisq", "sample")
_TESTS = ("z", "t", "knha", "adhoc")
_CHECKPOINT_FORMATS = (".parquet", ".json", ".csv")
_CHECKPOINT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def _tuple_of(values, name: str, *, kind=float) -> tuple:
    if values is None:
        return ()
    if np.ndim(values) == 0:
        values = (values,)
    try:
        return tuple(kind(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a sequence of numbers; got {values!r}") from None


@dataclass(frozen=True)
class Scenario:
    """The true model of one simulation scenario.

    Parameters
    ----------
    k : int
        Number of studies per meta-analysis.
    mu : float
        True mean effect (for ``model="binomial"`` the mean log odds ratio).
    tau2 : float
        True between-study variance.
    model : {"normal", "binomial"}
        Normal-normal or binomial-normal (see the module docstring).
    vi : tuple of float
        Within-study variances of the normal model, read according to ``vi_dist``:
        ``"fixed"``: the variances themselves, one per study or one for all; ``"uniform"``:
        ``(low, high)``, drawn per study and replicate; ``"chisq"``: ``(mean, df)``, vi = mean *
        chi²_df / df; ``"sample"``: ``(sd,)``: a mean difference of two arms of ``n`` patients with
        standard deviation ``sd``, true variance 2 sd² / n, analysed with its estimate (true variance
        times chi²_{2n-2} / (2n - 2)).
    vi_dist : {"fixed", "uniform", "chisq", "sample"}
    n : tuple of int
        Patients per arm, one per study or one for all (``model="binomial"``, ``vi_dist="sample"``).
    p0 : float
        Control-arm event risk (``model="binomial"``).
    add, to, drop00
        Continuity correction of the binomial model, as metafor's ``escalc`` (default ``add=0.5``
        to tables with a zero cell; double-zero tables kept).
    name : str
        A label for tables and figures.

    Examples
    --------
    >>> Scenario(k=3, tau2=0.1, vi=(0.05, 0.1, 0.2)).label
    'normal k=3 mu=0 tau2=0.1'
    >>> s = Scenario.from_i2(k=4, i2=50, vi=(1.0,))
    >>> round(s.tau2, 6)
    1.0
    """

    k: int
    mu: float = 0.0
    tau2: float = 0.0
    model: str = "normal"
    vi: tuple = (0.1,)
    vi_dist: str = "fixed"
    n: tuple = (50,)
    p0: float = 0.1
    add: float = 0.5
    to: str = "only0"
    drop00: bool = False
    name: str = ""

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        try:
            whole = not isinstance(self.k, bool) and float(self.k).is_integer() and int(self.k) >= 1
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise InputError(f"k must be a whole number >= 1; got {self.k!r}")
        put("k", int(self.k))
        for name in ("mu", "tau2", "p0", "add"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise InputError(f"{name} must be finite; got {getattr(self, name)!r}")
            put(name, value)
        if self.tau2 < 0:
            raise InputError(f"tau2 must be >= 0; got {self.tau2!r}")
        if self.model not in MODELS:
            raise InputError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}")
        if self.vi_dist not in VI_DISTS:
            raise InputError(f"vi_dist must be one of {', '.join(VI_DISTS)}; got {self.vi_dist!r}")
        vi = _tuple_of(self.vi, "vi")
        n = _tuple_of(self.n, "n", kind=float)
        if any(not x.is_integer() or x < 1 for x in n):
            raise InputError(f"n (patients per arm) must be whole numbers >= 1; got {self.n!r}")
        n = tuple(int(x) for x in n)
        put("vi", vi)
        put("n", n)
        put("drop00", bool(self.drop00))
        put("name", str(self.name))
        if self.model == "normal":
            need = {"fixed": None, "uniform": 2, "chisq": 2, "sample": 1}[self.vi_dist]
            if need is None and len(vi) not in (1, self.k):
                raise InputError(f"vi has {len(vi)} values; give one per study (k = {self.k}) or one for all")
            if need is not None and len(vi) != need:
                what = {"uniform": "(low, high)", "chisq": "(mean, df)", "sample": "(sd,)"}[self.vi_dist]
                raise InputError(f"vi_dist={self.vi_dist!r} takes vi={what}; got vi={vi!r}")
            if any(not (x > 0 and math.isfinite(x)) for x in vi):
                raise InputError(f"vi must hold positive finite numbers; got {vi!r}")
            if self.vi_dist == "uniform" and not vi[0] < vi[1]:
                raise InputError(f"vi_dist='uniform' needs low < high; got vi={vi!r}")
        if self.model == "binomial" or self.vi_dist == "sample":
            if len(n) not in (1, self.k):
                raise InputError(f"n has {len(n)} values; give one per study (k = {self.k}) or one for all")
            if self.vi_dist == "sample" and min(n) < 2:
                raise InputError("vi_dist='sample' needs n >= 2 patients per arm")
        if self.model == "binomial":
            if not 0 < self.p0 < 1:
                raise InputError(f"p0 (control risk) must lie in (0, 1); got {self.p0!r}")
            if self.add < 0:
                raise InputError(f"add must be >= 0; got {self.add!r}")
            if self.to not in ("all", "only0", "if0all", "none"):
                raise InputError(f"to must be 'all', 'only0', 'if0all' or 'none'; got {self.to!r}")

    # ---- constructors and views --------------------------------------------------------------
    @classmethod
    def from_i2(cls, k: int, i2: float, *, vi=(0.1,), **kwargs) -> "Scenario":
        """A normal-normal scenario whose tau² gives I² = ``i2`` percent with the fixed ``vi``.

        I² = tau² / (tau² + vt) with vt the typical within-study variance of Higgins & Thompson
        (2002), vt = (k - 1) sum(w) / (sum(w)² - sum(w²)), w = 1 / vi (metafor's ``i2def="1"``);
        for equal variances vt = vi.
        """
        i2 = float(i2)
        if not 0 <= i2 < 100:
            raise InputError(f"i2 is a percentage in [0, 100); got {i2!r}")
        vi_dist = kwargs.get("vi_dist", "fixed")
        if vi_dist != "fixed" or kwargs.get("model", "normal") != "normal":
            raise InputError("from_i2 needs the normal model with fixed within-study variances")
        v = np.broadcast_to(np.asarray(_tuple_of(vi, "vi"), float), (int(k),))
        w = 1.0 / v
        vt = float(v[0]) if k == 1 or np.all(v == v[0]) else (k - 1) * w.sum() / (w.sum() ** 2 - (w * w).sum())
        tau2 = i2 / (100.0 - i2) * vt
        kwargs.setdefault("name", f"k={k} I2={i2:g}%")
        return cls(k=k, tau2=tau2, vi=vi, **kwargs)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return f"{self.model} k={self.k} mu={self.mu:g} tau2={self.tau2:g}"

    def to_dict(self) -> dict:
        """The parameters as plain Python (JSON-safe)."""
        return jsonable(dataclasses.asdict(self))


# --------------------------------------------------------------------------------------------
# Seeds and data generation
# --------------------------------------------------------------------------------------------


def _root_entropy(seed) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer (or None); got {seed!r}")
    return int(seed)


def scenario_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of scenario ``index`` in ``run_simulation(..., seed=seed)``.

    Pass it to :func:`run_scenario` (or :func:`generate`) to reproduce that scenario alone.

    Examples
    --------
    >>> scenario_seed(7, 2).spawn_key
    (2,)
    """
    return np.random.SeedSequence(_root_entropy(seed), spawn_key=(int(index),))


def _as_seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(_root_entropy(seed))


def _block_rng(ss: np.random.SeedSequence, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (block,)))


def _blocks(n_rep: int):
    for b, start in enumerate(range(0, n_rep, BLOCK_SIZE)):
        yield b, start, min(n_rep, start + BLOCK_SIZE)


def _per_study(values: tuple, k: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, float), (k,))


def _draw_block(s: Scenario, nb: int, rng: np.random.Generator) -> dict:
    """One block of ``nb`` replicates: arrays of shape (nb, k). The order of draws is fixed."""
    k = s.k
    theta = s.mu + math.sqrt(s.tau2) * rng.standard_normal((nb, k))
    if s.model == "normal":
        if s.vi_dist == "fixed":
            sigma2 = np.broadcast_to(_per_study(s.vi, k), (nb, k))
            vi = sigma2
        elif s.vi_dist == "uniform":
            sigma2 = rng.uniform(s.vi[0], s.vi[1], (nb, k))
            vi = sigma2
        elif s.vi_dist == "chisq":
            mean, df = s.vi
            sigma2 = mean * rng.chisquare(df, (nb, k)) / df
            vi = sigma2
        else:  # "sample": mean difference of two arms of n patients, variance estimated
            n = _per_study(s.n, k)
            sigma2 = np.broadcast_to(2.0 * s.vi[0] ** 2 / n, (nb, k))
            df = 2.0 * n - 2.0
            vi = sigma2 * rng.chisquare(np.broadcast_to(df, (nb, k))) / df
        yi = theta + np.sqrt(sigma2) * rng.standard_normal((nb, k))
        return {"yi": yi, "vi": np.array(vi, dtype=float)}
    from .effects import two_by_two

    n = np.broadcast_to(_per_study(s.n, k), (nb, k))
    base = math.log(s.p0 / (1.0 - s.p0))
    p1 = 1.0 / (1.0 + np.exp(-(base + theta)))
    ai = rng.binomial(n.astype(np.int64), p1).astype(float)
    ci = rng.binomial(n.astype(np.int64), np.full((nb, k), s.p0)).astype(float)
    yi, vi, _ = two_by_two("OR", ai.ravel(), (n - ai).ravel(), ci.ravel(), (n - ci).ravel(),
                           add=s.add, to=s.to, drop00=s.drop00)
    return {"yi": yi.reshape(nb, k), "vi": vi.reshape(nb, k), "ai": ai, "ci": ci, "n": np.array(n, float)}


def generate(scenario: Scenario, n_rep: int, seed=None):
    """The simulated meta-analyses of a scenario as a long DataFrame (one row per study).

    Columns: ``replicate``, ``study``, ``yi``, ``vi`` (and ``ai``, ``n1i``, ``ci``, ``n2i`` for the
    binomial model). The data are exactly those :func:`run_scenario` pools with the same seed (an
    int, or a :class:`numpy.random.SeedSequence` such as :func:`scenario_seed`).

    Examples
    --------
    >>> df = generate(Scenario(k=3, tau2=0.1), n_rep=2, seed=1)
    >>> df.shape
    (6, 4)
    """
    import pandas as pd

    n_rep = _check_n_rep(n_rep)
    ss = _as_seed_sequence(seed)
    parts = []
    for b, start, stop in _blocks(n_rep):
        d = _draw_block(scenario, stop - start, _block_rng(ss, b))
        nb, k = d["yi"].shape
        cols = {
            "replicate": np.repeat(np.arange(start, stop), k),
            "study": np.tile(np.arange(k), nb),
            "yi": d["yi"].ravel(),
            "vi": d["vi"].ravel(),
        }
        if "ai" in d:
            cols.update(ai=d["ai"].ravel(), n1i=d["n"].ravel(), ci=d["ci"].ravel(), n2i=d["n"].ravel())
        parts.append(pd.DataFrame(cols))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Pooling many replicates
# --------------------------------------------------------------------------------------------


def _load_pool_many():
    try:
        from .pooling.batch import pool_many
    except ImportError:
        return None
    return pool_many


def engine_name() -> str:
    """``"pool_many"`` when the vectorised batch engine is available, else ``"pool"`` (a loop)."""
    return "pool" if _load_pool_many() is None else "pool_many"


_POOL_FIELDS = ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "converged")


def pool_groups(group: np.ndarray, yi: np.ndarray, vi: np.ndarray, n_groups: int, *, method: str,
                test: str, level: float) -> dict:
    """Pool the studies of groups ``0 .. n_groups - 1`` (``group`` gives each study's group).

    Returns a dict of arrays of length ``n_groups``: estimate, se, ci_low, ci_high, pvalue, tau2
    (floats; NaN for a group without studies or whose estimator failed) and converged (bool).
    Uses :func:`metaanalysis.pooling.batch.pool_many` when available, otherwise a loop over
    :func:`metaanalysis.pool`.
    """
    pool_many = _load_pool_many()
    out = {f: np.full(n_groups, np.nan) for f in _POOL_FIELDS}
    out["converged"] = np.zeros(n_groups, dtype=bool)
    if len(group) == 0:
        return out
    if pool_many is not None:
        import pandas as pd

        frame = pd.DataFrame({"replicate": group, "yi": yi, "vi": vi})
        res = pool_many(frame, by="replicate", yi="yi", vi="vi", method=method, test=test, level=level,
                        ci_tau2=False)  # the interval for tau² is not summarised: skip its cost
        if "replicate" in res.columns:
            res = res.set_index("replicate")
        res = res.reindex(np.arange(n_groups))
        for f in _POOL_FIELDS:
            if f == "converged":
                out[f] = res[f].eq(True).to_numpy(dtype=bool) if f in res.columns else res["estimate"].notna().to_numpy()
            else:
                out[f] = res[f].to_numpy(dtype=float)
        return out
    from .pooling import pool

    order = np.argsort(group, kind="stable")
    g, y, v = group[order], yi[order], vi[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    stops = np.r_[starts[1:], len(g)]
    for a, b in zip(starts, stops):
        j = int(g[a])
        try:
            r = pool(y[a:b], v[a:b], method=method, test=test, level=level)
        except ConvergenceError:
            continue
        for f in _POOL_FIELDS:
            out[f][j] = getattr(r, f)
    return out


# --------------------------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------------------------


def parse_methods(methods) -> tuple:
    """Normalise methods to ``((method, test), ...)`` from ``"REML+knha"`` strings or pairs.

    Examples
    --------
    >>> parse_methods(["DL+z", ("REML", "knha")])
    (('DL', 'z'), ('REML', 'knha'))
    """
    from .pooling.tau2 import METHODS

    if isinstance(methods, str):
        methods = [methods]
    out = []
    for m in methods:
        if isinstance(m, str):
            parts = m.split("+")
            if len(parts) == 1:
                parts = [parts[0], "z"]
            if len(parts) != 2:
                raise InputError(f"method {m!r} is not of the form 'ESTIMATOR+TEST' such as 'REML+knha'")
        else:
            parts = list(m)
            if len(parts) != 2:
                raise InputError(f"method {m!r} is not a pair (estimator, test)")
        est, test = str(parts[0]), str(parts[1])
        est = "EE" if est == "FE" else est
        if est not in METHODS or est in ("GENQ", "GENQM"):  # these two need weights
            valid = ", ".join(x for x in METHODS if x not in ("FE", "GENQ", "GENQM"))
            raise InputError(f"unknown estimator {est!r} in {m!r}; valid: {valid}")
        if test not in _TESTS:
            raise InputError(f"unknown test {test!r} in {m!r}; valid: {', '.join(_TESTS)}")
        out.append((est, test))
    if not out:
        raise InputError("methods is empty; give at least one, e.g. ['DL+z', 'REML+knha']")
    if len(set(out)) != len(out):
        raise InputError(f"methods has duplicates: {[f'{a}+{b}' for a, b in out]}")
    return tuple(out)


def _check_n_rep(n_rep) -> int:
    if isinstance(n_rep, bool) or not float(n_rep).is_integer() or int(n_rep) < 1:
        raise InputError(f"n_rep must be a whole number >= 1; got {n_rep!r}")
    return int(n_rep)


# columns of the result table and their dtypes (stable names: scripts read them)
COLUMNS = {
    "scenario": "int64", "name": "object", "model": "object", "k": "int64", "true_mu": "float64",
    "true_tau2": "float64", "method": "object", "test": "object", "label": "object",
    "level": "float64", "n_rep": "int64", "n_valid": "int64", "n_failed": "int64",
    "mean_estimate": "float64", "bias": "float64", "bias_mcse": "float64", "empirical_se": "float64",
    "mse": "float64", "mse_mcse": "float64", "coverage": "float64", "coverage_mcse": "float64",
    "width": "float64", "width_mcse": "float64", "rejection": "float64", "rejection_mcse": "float64",
    "tau2_mean": "float64", "tau2_bias": "float64", "tau2_bias_mcse": "float64", "tau2_mse": "float64",
    "tau2_zero": "float64",
}


def _mean_mcse(x: np.ndarray):
    n = x.size
    if n == 0:
        return math.nan, math.nan
    m = float(np.mean(x))
    s = float(np.std(x, ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return m, s


def _summarise(s: Scenario, index: int, est: str, test: str, level: float, n_rep: int, r: dict) -> dict:
    """Performance measures of one method in one scenario (Morris, White & Crowther 2019)."""
    valid = r["converged"] & np.isfinite(r["estimate"]) & np.isfinite(r["ci_low"]) & np.isfinite(r["ci_high"])
    e, lo, hi = r["estimate"][valid], r["ci_low"][valid], r["ci_high"][valid]
    p, t2 = r["pvalue"][valid], r["tau2"][valid]
    mu = s.mu
    mean_est, bias_mcse = _mean_mcse(e)
    mse, mse_mcse = _mean_mcse((e - mu) ** 2)
    cover = (lo <= mu) & (mu <= hi)
    nv = int(valid.sum())
    cov = float(cover.mean()) if nv else math.nan
    rej = float((p < 1.0 - level / 100.0).mean()) if nv else math.nan
    width, width_mcse = _mean_mcse(hi - lo)
    t2_mean, t2_mcse = _mean_mcse(t2)
    t2_mse, _ = _mean_mcse((t2 - s.tau2) ** 2)
    return {
        "scenario": index, "name": s.label, "model": s.model, "k": s.k, "true_mu": s.mu,
        "true_tau2": s.tau2, "method": est, "test": test, "label": f"{est}+{test}", "level": level,
        "n_rep": n_rep, "n_valid": nv, "n_failed": n_rep - nv,
        "mean_estimate": mean_est, "bias": mean_est - mu, "bias_mcse": bias_mcse,
        "empirical_se": float(np.std(e, ddof=1)) if nv > 1 else math.nan,
        "mse": mse, "mse_mcse": mse_mcse,
        "coverage": cov, "coverage_mcse": math.sqrt(cov * (1 - cov) / nv) if nv else math.nan,
        "width": width, "width_mcse": width_mcse,
        "rejection": rej, "rejection_mcse": math.sqrt(rej * (1 - rej) / nv) if nv else math.nan,
        "tau2_mean": t2_mean, "tau2_bias": t2_mean - s.tau2, "tau2_bias_mcse": t2_mcse,
        "tau2_mse": t2_mse, "tau2_zero": float((t2 <= 0).mean()) if nv else math.nan,
    }


def _scenario_rows(s: Scenario, index: int, methods: tuple, n_rep: int, level: float,
                   ss: np.random.SeedSequence) -> list:
    """Simulate and pool one scenario; one summary row (dict) per method."""
    per_method = {m: {f: [] for f in _POOL_FIELDS} for m in methods}
    for b, start, stop in _blocks(n_rep):
        d = _draw_block(s, stop - start, _block_rng(ss, b))
        nb, k = d["yi"].shape
        group = np.repeat(np.arange(nb), k)
        y, v = d["yi"].ravel(), d["vi"].ravel()
        ok = np.isfinite(y) & np.isfinite(v)  # drop00 leaves NaN for double-zero tables
        group, y, v = group[ok], y[ok], v[ok]
        for est, test in methods:
            r = pool_groups(group, y, v, nb, method=est, test=test, level=level)
            for f in _POOL_FIELDS:
                per_method[(est, test)][f].append(r[f])
    rows = []
    for est, test in methods:
        r = {f: np.concatenate(per_method[(est, test)][f]) for f in _POOL_FIELDS}
        rows.append(_summarise(s, index, est, test, level, n_rep, r))
    return rows


def _scenario_task(s: Scenario, index: int, methods: tuple, n_rep: int, level: float,
                   entropy: int, spawn_key: tuple) -> list:
    """One scenario as a self-contained task (what a Dask worker runs)."""
    ss = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))
    return _scenario_rows(s, index, methods, n_rep, level, ss)


def _scenario_key(s: Scenario, index: int, methods, n_rep, level, entropy, spawn_key, engine) -> str:
    payload = json.dumps({
        "version": _CHECKPOINT_VERSION, "scenario": s.to_dict(), "index": index,
        "methods": [list(m) for m in methods], "n_rep": n_rep, "level": level, "seed": str(entropy),
        "spawn_key": list(spawn_key), "block": BLOCK_SIZE, "engine": engine,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _frame(rows):
    import pandas as pd

    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    return df.astype(COLUMNS).sort_values(["scenario"], kind="stable").reset_index(drop=True)


# ---- checkpoints ------------------------------------------------------------------------------


def _checkpoint_path(checkpoint) -> Path | None:
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    if path.suffix.lower() not in _CHECKPOINT_FORMATS:
        raise InputError(f"checkpoint {str(path)!r} must end in {', '.join(_CHECKPOINT_FORMATS)}")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError("a .parquet checkpoint needs pyarrow (pip install pyarrow); "
                             "or use a .json or .csv checkpoint") from None
    return path


def _read_checkpoint(path: Path) -> list:
    """Rows (dicts with their ``_key``) stored in a checkpoint; [] if the file does not exist."""
    import pandas as pd

    if not path.exists():
        return []
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != "metaanalysis.simulate checkpoint":
                raise ValueError("not a simulation checkpoint")
            df = pd.DataFrame(data["rows"], columns=["_key", *COLUMNS])
        elif suffix == ".csv":
            df = pd.read_csv(path, float_precision="round_trip", keep_default_na=False,
                             na_values={c: ["", "NaN", "nan"] for c, t in COLUMNS.items() if t == "float64"})
        else:
            df = pd.read_parquet(path)
        missing = [c for c in ["_key", *COLUMNS] if c not in df.columns]
        if missing:
            raise ValueError(f"missing columns {missing}")
        df = df[["_key", *COLUMNS]].astype({"_key": "object", **COLUMNS})
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise InputError(f"checkpoint {str(path)!r} cannot be read as a simulation checkpoint ({exc}); "
                         "delete it or pass another path") from None
    return df.to_dict("records")


def _write_checkpoint(path: Path, rows: list) -> None:
    """Write all finished rows atomically (through :func:`metaanalysis.studies.atomic_write`)."""
    import io

    import pandas as pd

    from .studies import atomic_write

    df = pd.DataFrame(rows, columns=["_key", *COLUMNS]).astype({"_key": "object", **COLUMNS})
    df = df.sort_values("scenario", kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".json":
        payload = {"format": "metaanalysis.simulate checkpoint", "version": _CHECKPOINT_VERSION,
                   "rows": jsonable(df.to_dict("records"))}
        data = json.dumps(payload).encode("utf-8")
    elif suffix == ".csv":
        data = df.to_csv(index=False, float_format="%.17g").encode("utf-8")
    else:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    atomic_write(path, data)


# ---- the result -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class SimulationResult(ResultMixin):
    """Performance of each method in each scenario: one row per scenario x method.

    ``to_frame()`` columns: scenario, name, model, k, true_mu, true_tau2, method, test, label,
    level, n_rep, n_valid (replicates pooled without failure), n_failed, mean_estimate, bias,
    bias_mcse, empirical_se, mse, mse_mcse, coverage, coverage_mcse, width (mean interval width),
    width_mcse, rejection (share of p < 1 - level/100: the type I error when true_mu = 0),
    rejection_mcse, tau2_mean, tau2_bias, tau2_bias_mcse, tau2_mse, tau2_zero (share of tau² = 0).
    MCSE: Monte Carlo standard error (Morris, White & Crowther 2019).

    ``seed`` is the root seed; scenario ``i`` used :func:`scenario_seed` (seed, i).
    """

    scenarios: tuple
    methods: tuple
    n_rep: int
    level: float
    seed: int
    engine: str
    table: object = frame_field()

    def to_frame(self):
        """One row per scenario x method (a copy)."""
        return self.table

    def to_dict(self) -> dict:
        return jsonable({
            "n_rep": self.n_rep, "level": self.level, "seed": str(self.seed), "engine": self.engine,
            "methods": [f"{a}+{b}" for a, b in self.methods],
            "scenarios": [s.to_dict() for s in self.scenarios],
            "results": self.table.to_dict("records"),
        })

    def _short(self) -> str:
        return f"{len(self.scenarios)} scenarios x {len(self.methods)} methods, n_rep={self.n_rep}"

    def summary(self) -> str:
        """A text table per scenario: bias, RMSE, coverage (MCSE), width, tau² bias."""
        out = ["", f"Simulation study: {len(self.scenarios)} scenario(s) x {len(self.methods)} method(s), "
               f"n_rep = {self.n_rep}, level = {self.level:g}%, seed = {self.seed} (engine: {self.engine})"]
        head = f"  {'method':<12}{'bias':>9}{'(MCSE)':>9}{'RMSE':>9}{'coverage':>10}{'(MCSE)':>9}" \
               f"{'width':>9}{'tau2 bias':>11}{'failed':>8}"
        for i, s in enumerate(self.scenarios):
            sub = self.table[self.table["scenario"] == i]
            params = f"{s.model}, k = {s.k}, mu = {s.mu:g}, tau^2 = {s.tau2:g}"
            title = f"{s.name} ({params})" if s.name else params
            out += ["", f"Scenario {i}: {title}", head]
            for row in sub.itertuples(index=False):
                out.append(
                    f"  {row.label:<12}{fmt(row.bias):>9}{fmt(row.bias_mcse):>9}{fmt(math.sqrt(row.mse)):>9}"
                    f"{fmt(100 * row.coverage, 1) + '%':>10}{fmt(100 * row.coverage_mcse, 1):>9}"
                    f"{fmt(row.width):>9}{fmt(row.tau2_bias):>11}{row.n_failed:>8}")
        return "\n".join(out) + "\n"


def run_scenario(scenario: Scenario, methods=DEFAULT_METHODS, n_rep: int = 10000, seed=None,
                 level: float = 95) -> SimulationResult:
    """Simulate one scenario alone.

    ``seed`` is an int or a :class:`numpy.random.SeedSequence`; ``scenario_seed(s, i)`` reproduces
    scenario ``i`` of ``run_simulation(..., seed=s)`` exactly (the ``scenario`` column is then 0).

    Examples
    --------
    >>> s = [Scenario(k=3), Scenario(k=4, tau2=0.1)]
    >>> full = run_simulation(s, ["DL+z"], n_rep=50, seed=3, progress=False).to_frame()
    >>> alone = run_scenario(s[1], ["DL+z"], n_rep=50, seed=scenario_seed(3, 1)).to_frame()
    >>> float(full.loc[1, "coverage"]) == float(alone.loc[0, "coverage"])
    True
    """
    if not isinstance(scenario, Scenario):
        raise InputError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    methods = parse_methods(methods)
    n_rep = _check_n_rep(n_rep)
    level = check_level(level)
    ss = _as_seed_sequence(seed)
    rows = _scenario_rows(scenario, 0, methods, n_rep, level, ss)
    return SimulationResult((scenario,), methods, n_rep, level, int(ss.entropy), engine_name(), _frame(rows))


def run_simulation(
    scenarios: Sequence[Scenario],
    methods=DEFAULT_METHODS,
    n_rep: int = 10000,
    seed: int | None = None,
    *,
    level: float = 95,
    progress: bool = True,
    checkpoint=None,
    client=None,
) -> SimulationResult:
    """Run a simulation study: every scenario, ``n_rep`` replicates, every method.

    Parameters
    ----------
    scenarios : sequence of Scenario
    methods : sequence of str or (estimator, test) pairs
        ``"DL+z"``, ``"REML+knha"``, ``"PM+t"``, ``"EE+z"`` ... (metafor's codes: any tau² method
        of :func:`metaanalysis.pool` but GENQ; tests ``z``, ``t``, ``knha``, ``adhoc``).
    n_rep : int
        Replicates per scenario.
    seed : int, optional
        Root seed; scenario ``i`` uses ``scenario_seed(seed, i)``. ``None`` draws one from the
        operating system and stores it in the result (``result.seed``); a checkpointed run needs
        an explicit seed.
    level : float
        Confidence level of the intervals, percent (95) or fraction (0.95).
    progress : bool
        Show a progress bar over scenarios (needs tqdm; without it, no bar).
    checkpoint : str or Path, optional
        A ``.parquet``, ``.json`` or ``.csv`` file. Finished scenarios are written to it (atomically)
        after each scenario; a rerun with the same arguments reads it and computes only the
        scenarios not yet in it. A checkpoint written by a different study is an InputError.
    client : optional
        Compute scenarios on Dask: a ``distributed.Client``, a scheduler address
        (``"tcp://host:8786"``) or ``"local"`` (a local cluster of this machine's cores). Results
        are identical to the in-process run. See :mod:`metaanalysis.distributed`.

    Returns
    -------
    SimulationResult
    """
    scenarios = tuple(scenarios)
    if not scenarios:
        raise InputError("scenarios is empty; give at least one Scenario")
    for i, s in enumerate(scenarios):
        if not isinstance(s, Scenario):
            raise InputError(f"scenarios[{i}] is a {type(s).__name__}, not a Scenario")
    methods = parse_methods(methods)
    n_rep = _check_n_rep(n_rep)
    level = check_level(level)
    path = _checkpoint_path(checkpoint)
    if path is not None and seed is None:
        raise InputError("a checkpointed run needs seed= (an integer), so that a resumed run "
                         "continues the same study")
    entropy = _root_entropy(seed)
    engine = engine_name()
    keys = [_scenario_key(s, i, methods, n_rep, level, entropy, (i,), engine) for i, s in enumerate(scenarios)]

    done: dict = {}  # scenario index -> rows (with _key)
    if path is not None:
        stored = _read_checkpoint(path)
        index_of = {key: i for i, key in enumerate(keys)}
        foreign = sorted({r["_key"] for r in stored} - set(index_of))
        if foreign:
            raise InputError(
                f"checkpoint {str(path)!r} holds results of a different study (scenarios, methods, "
                "n_rep, level, seed or engine differ); delete it or pass another checkpoint path")
        for r in stored:
            done.setdefault(index_of[r["_key"]], []).append(r)
        for i, rows in done.items():
            if len(rows) != len(methods):
                raise InputError(f"checkpoint {str(path)!r} has {len(rows)} rows for scenario {i}, "
                                 f"expected {len(methods)}; delete it or pass another path")

    todo = [i for i in range(len(scenarios)) if i not in done]
    bar = progress_bar(len(scenarios), initial=len(done), desc="scenarios", unit="scenario",
                       progress=progress)

    def finish(i, rows):
        done[i] = [{"_key": keys[i], **r} for r in rows]
        if path is not None:
            _write_checkpoint(path, [r for j in sorted(done) for r in done[j]])
        if bar is not None:
            bar.update(1)

    try:
        if client is None:
            for i in todo:
                finish(i, _scenario_rows(scenarios[i], i, methods, n_rep, level,
                                         np.random.SeedSequence(entropy, spawn_key=(i,))))
        else:
            from .distributed import map_scenarios

            tasks = [(i, (scenarios[i], i, methods, n_rep, level, entropy, (i,))) for i in todo]
            for i, rows in map_scenarios(_scenario_task, tasks, client=client):
                finish(i, rows)
    finally:
        if bar is not None:
            bar.close()
    rows = [{k: v for k, v in r.items() if k != "_key"} for i in sorted(done) for r in done[i]]
    return SimulationResult(scenarios, methods, n_rep, level, entropy, engine, _frame(rows))


