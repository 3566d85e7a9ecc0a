"""Ranking treatments: P-scores (closed form) and SUCRA with rank probabilities (simulation).

Rücker G, Schwarzer G (2015). Ranking treatments in frequentist network meta-analysis works
without resampling methods. BMC Med Res Methodol 15:58. The P-score of treatment i is the mean over
j != i of P(i better than j) = Phi((d_j - d_i) / se_ij) when small values are good; it equals the
SUCRA of Salanti, Ades & Ioannidis (2011) computed from the normal approximation up to Monte Carlo
error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._base import ResultMixin, fmt, jsonable, readonly
from ..errors import InputError
from . import core


def _direction(res, small_values):
    from .model import _check_small_values

    sv = res.small_values if small_values is None else _check_small_values(small_values)
    return sv, (1.0 if sv == "good" else -1.0)


def pscore_values(d, C, sign=1.0):
    """P-scores from effects ``d`` (T) and their covariance ``C`` (T x T); array layer.

    ``sign = 1`` when small values are good, ``-1`` when large values are good.
    """
    from scipy.special import ndtr

    est, var = core.pairwise(np.asarray(d, float), np.asarray(C, float))
    T = len(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = ndtr(-sign * est / np.sqrt(var))  # P(i better than j)
    np.fill_diagonal(prob, 0.0)
    return prob.sum(axis=1) / (T - 1)


def pscores(res, small_values=None):
    """P-scores of a :class:`NetworkResult`: a Series indexed by treatment, sorted best first.

    ``small_values`` defaults to the one given to :func:`network_meta`.
    """
    import pandas as pd

    sv, sign = _direction(res, small_values)
    p = pscore_values(res.d, res.vcov, sign)
    return pd.Series(p, index=list(res.treatments), name="pscore").sort_values(ascending=False)


@dataclass(frozen=True, eq=False, repr=False)
class RankingResult(ResultMixin):
    """Rank probabilities by simulation from the normal approximation of the NMA estimates.

    ``probabilities[i, r]`` is the probability that treatment i has rank r + 1 (1 = best);
    SUCRA = (T - mean rank) / (T - 1).
    """

    treatments: tuple
    probabilities: np.ndarray
    n_sim: int
    seed: object
    small_values: str

    def __post_init__(self):
        object.__setattr__(self, "probabilities", readonly(self.probabilities))

    @property
    def mean_rank(self) -> np.ndarray:
        T = len(self.treatments)
        return self.probabilities @ np.arange(1, T + 1)

    @property
    def sucra_values(self) -> np.ndarray:
        T = len(self.treatments)
        return (T - self.mean_rank) / (T - 1)

    @property
    def sucra(self):
        """Series of SUCRA by treatment, sorted best first."""
        import pandas as pd

        return pd.Series(self.sucra_values, index=list(self.treatments),
                         name="sucra").sort_values(ascending=False)

    def rank_probabilities(self, kind: str = "wide"):
        """Rank probabilities: ``wide`` (treatment x rank 1..T) or ``long`` (for rankograms:
        ``treatment, rank, probability, cumulative``)."""
        import pandas as pd

        T = len(self.treatments)
        wide = pd.DataFrame(self.probabilities, index=pd.Index(self.treatments, name="treatment"),
                            columns=pd.Index(range(1, T + 1), name="rank"))
        if kind == "wide":
            return wide
        if kind != "long":
            raise InputError(f"kind must be 'wide' or 'long', got {kind!r}")
        cum = wide.cumsum(axis=1)
        long = wide.stack().rename("probability").reset_index()
        long["cumulative"] = cum.stack().to_numpy()
        return long

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"treatment": list(self.treatments), "sucra": self.sucra_values,
                             "mean_rank": self.mean_rank})

    def to_dict(self) -> dict:
        return jsonable({
            "treatments": list(self.treatments), "sucra": self.sucra_values,
            "mean_rank": self.mean_rank, "probabilities": self.probabilities,
            "n_sim": self.n_sim, "seed": self.seed if isinstance(self.seed, (int, type(None))) else str(self.seed),
            "small_values": self.small_values,
        })

    def _short(self) -> str:
        best = self.sucra.index[0]
        return f"{len(self.treatments)} treatments, n_sim={self.n_sim}, best={best!r}"

    def summary(self) -> str:
        T = len(self.treatments)
        lines = [f"Rank probabilities ({self.n_sim} simulations, seed {self.seed}; "
                 f"small values are {self.small_values}; rank 1 = best)", ""]
        head = f"{'treatment':<20}" + "".join(f"{r:>7}" for r in range(1, T + 1)) + f"{'mean':>8}{'SUCRA':>8}"
        lines.append(head)
        order = np.argsort(-self.sucra_values, kind="stable")
        for i in order:
            lines.append(f"{str(self.treatments[i])[:19]:<20}"
                         + "".join(f"{p:>7.3f}" for p in self.probabilities[i])
                         + f"{fmt(self.mean_rank[i], 2):>8}{fmt(self.sucra_values[i], 3):>8}")
        return "\n".join(lines)


def rank_probability_values(d, C, n_sim, rng, sign=1.0, chunk=20000):
    """Rank probabilities (T x T) from ``n_sim`` draws of N(d, C); array layer.

    The reference's effect is 0 with no variance, so draws are made for the others only.
    """
    d = np.asarray(d, float)
    T = len(d)
    L = np.linalg.cholesky(np.asarray(C, float)[1:, 1:])
    counts = np.zeros((T, T))
    done = 0
    while done < n_sim:
        n = min(chunk, n_sim - done)
        draws = np.zeros((n, T))
        draws[:, 1:] = d[1:] + rng.standard_normal((n, T - 1)) @ L.T
        order = np.argsort(sign * draws, axis=1, kind="stable")  # best first
        ranks = np.empty_like(order)
        ranks[np.arange(n)[:, None], order] = np.arange(T)
        for r in range(T):
            counts[:, r] += (ranks == r).sum(axis=0)
        done += n
    return counts / n_sim


def sucra(res, n_sim: int = 10000, seed=None, small_values=None) -> RankingResult:
    """Rank probabilities and SUCRA of a :class:`NetworkResult` by simulation.

    Draws the effects against the reference from their multivariate normal approximation
    (``res.d``, ``res.vcov``); ``seed`` (an int or a :class:`numpy.random.Generator`) makes the
    result reproducible. With many draws SUCRA approaches the P-scores.
    """
    sv, sign = _direction(res, small_values)
    try:
        n_sim = int(n_sim)
    except (TypeError, ValueError):
        raise InputError(f"n_sim must be a positive integer, got {n_sim!r}") from None
    if n_sim < 1:
        raise InputError(f"n_sim must be a positive integer, got {n_sim!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    probs = rank_probability_values(res.d, res.vcov, n_sim, rng, sign)
    return RankingResult(treatments=res.treatments, probabilities=probs, n_sim=n_sim, seed=seed,
                         small_values=sv)
