"""Frequentist contrast-based network meta-analysis: :func:`network_meta` and its result.

References
----------
Lu G, Ades AE (2004). Combination of direct and indirect evidence in mixed treatment comparisons.
    Stat Med 23:3105-24.
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth Methods
    3:312-24 (netmeta's estimator; the DL-type tau² used here is its generalisation).
Jackson D, White IR, Riley RD (2012). Quantifying the impact of between-study heterogeneity in
    multivariate meta-analyses. Stat Med 31:3805-20.
Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in network
    meta-analyses. BMC Med Res Methodol 13:35 (Q decomposition, netmeta's ``decomp.design``).
metafor's ``rma.mv(yi, V, mods = ~ ... - 1, random = ~ comp | study, rho = 1/2)`` fits the same
model; ``tests/reference/network.R`` checks that the numbers agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._base import ResultMixin, check_level, fmt, fmt_p, jsonable, readonly, zcrit
from ..errors import InputError
from . import core
from .data import RATIO_MEASURES, NetworkData, build_network

METHODS = {"EE": "EE", "FE": "EE", "CE": "EE", "DL": "DL", "REML": "REML", "ML": "ML"}


def _pvalue(z):
    from scipy.special import ndtr

    return 2 * ndtr(-np.abs(z))


@dataclass(frozen=True, eq=False, repr=False)
class NetworkResult(ResultMixin):
    """A fitted network meta-analysis (consistency model).

    Attributes
    ----------
    treatments : tuple of str
        All treatments, the reference first.
    reference, measure, method, level :
        As given (``method`` normalised: ``"FE"`` is stored as ``"EE"``).
    d, vcov : ndarray
        Effects of every treatment against the reference (length T, the reference's 0 first) on
        the analysis scale (log scale for ratios) and their T x T covariance.
    tau2 : float
        Between-study variance shared by all comparisons (0 for the common-effect model).
    q, q_df, q_pvalue, i2 :
        Heterogeneity/inconsistency of the common-effect fit (Q total) and I² in percent.
    q_within, q_within_df, q_between, q_between_df :
        The design-by-treatment decomposition of Q (Krahn et al. 2013; netmeta's ``decomp.design``).
    caveats : tuple of str
        What a reviewer should read beside the numbers (filled by :func:`network_from_studies`).
    """

    treatments: tuple
    reference: str
    measure: str
    method: str
    level: float
    d: np.ndarray
    vcov: np.ndarray
    tau2: float
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    q_within: float
    q_within_df: int
    q_between: float
    q_between_df: int
    tau2_within: float
    q_between_random: float
    small_values: str
    network: NetworkData = field(repr=False)
    study_totals: tuple = field(repr=False, default=())
    caveats: tuple = ()
    iterations: int = 0

    def __post_init__(self):
        for name in ("d", "vcov"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    # -- basic facts -------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.network.studies)

    @property
    def n_treatments(self) -> int:
        return len(self.treatments)

    @property
    def n_contrasts(self) -> int:
        """Independent contrasts (sum over studies of arms - 1)."""
        return int(sum(len(s.arms) - 1 for s in self.network.studies))

    @property
    def n_designs(self) -> int:
        return len({s.design_key for s in self.network.studies})

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def model(self) -> str:
        return "common" if self.method == "EE" else "random"

    @property
    def p_value_q_within(self) -> float:
        return core.q_pvalue(self.q_within, self.q_within_df)

    # -- effect tables -----------------------------------------------------------------------
    def _frame(self, t1, t2, est, se):
        import pandas as pd

        z = zcrit(self.level)
        est = np.asarray(est, float)
        se = np.asarray(se, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = est / se
        frame = pd.DataFrame({
            "treat1": t1, "treat2": t2, "estimate": est, "se": se,
            "ci_low": est - z * se, "ci_high": est + z * se, "zval": zval, "pvalue": _pvalue(zval),
        })
        if self.is_ratio:
            frame["ratio"] = np.exp(frame["estimate"])
            frame["ratio_ci_low"] = np.exp(frame["ci_low"])
            frame["ratio_ci_high"] = np.exp(frame["ci_high"])
        else:
            frame["ratio"] = frame["ratio_ci_low"] = frame["ratio_ci_high"] = np.nan
        return frame

    @property
    def effects(self):
        """DataFrame: every treatment against the reference.

        Columns ``treatment, reference, estimate, se, ci_low, ci_high, zval, pvalue`` on the
        analysis scale, and ``ratio, ratio_ci_low, ratio_ci_high`` (exp'd; NaN unless the measure
        is a ratio). One row per treatment other than the reference, in ``treatments`` order.
        """
        t = list(self.treatments[1:])
        se = np.sqrt(np.diag(self.vcov)[1:])
        f = self._frame(t, [self.reference] * len(t), self.d[1:], se)
        return f.rename(columns={"treat1": "treatment", "treat2": "reference"})

    def league(self, kind: str = "long", digits: int = 2):
        """All pairwise comparisons.

        ``kind="long"`` (default): one row per ordered pair (treat1 vs treat2), the columns of
        :attr:`effects` with ``treat1``/``treat2``; what a league heat map needs.
        ``kind="wide"``: a T x T table of text, the treatment on the diagonal and in cell
        (row i, column j) the effect of row treatment i against column treatment j with its
        interval (exp'd for ratios), formatted with ``digits``.
        """
        est, var = core.pairwise(self.d, self.vcov)
        T = self.n_treatments
        ii, jj = [i for i in range(T) for j in range(T) if i != j], [j for i in range(T) for j in range(T) if i != j]
        names = self.treatments
        long = self._frame([names[i] for i in ii], [names[j] for j in jj],
                           est[ii, jj], np.sqrt(var[ii, jj]))
        if kind == "long":
            return long
        if kind != "wide":
            raise InputError(f"kind must be 'long' or 'wide', got {kind!r}")
        import pandas as pd

        cells = [[""] * T for _ in range(T)]
        cols = ("ratio", "ratio_ci_low", "ratio_ci_high") if self.is_ratio else (
            "estimate", "ci_low", "ci_high")
        for (i, j), row in zip(zip(ii, jj), long.itertuples(index=False)):
            e, lo, hi = (getattr(row, c) for c in cols)
            cells[i][j] = f"{e:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"
        for i in range(T):
            cells[i][i] = names[i]
        return pd.DataFrame(cells, index=list(names), columns=list(names))

    # -- plot-ready network description --------------------------------------------------------
    @property
    def edges(self):
        """DataFrame of directly compared pairs: ``treat1, treat2, n_studies, n_patients``.

        A multi-arm study counts for each of its pairs. ``n_patients`` sums both arms' patients
        over the studies (NaN when some arm sizes are unknown).
        """
        import pandas as pd

        acc: dict = {}
        for s, total in zip(self.network.studies, self._totals()):
            for i in range(len(s.arms)):
                for j in range(i + 1, len(s.arms)):
                    key = (s.arms[i], s.arms[j])
                    ns, npat = acc.get(key, (0, 0.0))
                    if len(s.arms) == 2 and not math.isfinite(s.n[0] + s.n[1]):
                        add = total
                    else:
                        add = s.n[i] + s.n[j]
                    acc[key] = (ns + 1, npat + add)
        rows = [dict(treat1=a, treat2=b, n_studies=v[0], n_patients=v[1]) for (a, b), v in acc.items()]
        order = {t: i for i, t in enumerate(self.treatments)}
        rows.sort(key=lambda r: (order[r["treat1"]], order[r["treat2"]]))
        return pd.DataFrame(rows, columns=["treat1", "treat2", "n_studies", "n_patients"])

    @property
    def nodes(self):
        """DataFrame of treatments: ``treatment, n_studies, n_patients`` (NaN when unknown)."""
        import pandas as pd

        rows = []
        for t in self.treatments:
            ns, npat = 0, 0.0
            for s in self.network.studies:
                if t in s.arms:
                    ns += 1
                    npat += s.n[s.arms.index(t)]
            rows.append(dict(treatment=t, n_studies=ns, n_patients=npat))
        return pd.DataFrame(rows, columns=["treatment", "n_studies", "n_patients"])

    def _totals(self):
        return self.study_totals if self.study_totals else (math.nan,) * self.k

    # -- rankings and inconsistency (implemented in sibling modules) ---------------------------
    def pscores(self, small_values: str | None = None):
        """P-scores (Rücker & Schwarzer 2015); see :func:`metaanalysis.network.pscores`."""
        from .ranking import pscores

        return pscores(self, small_values=small_values)

    def sucra(self, n_sim: int = 10000, seed=None, small_values: str | None = None):
        """Rank probabilities and SUCRA by simulation; see :func:`metaanalysis.network.sucra`."""
        from .ranking import sucra

        return sucra(self, n_sim=n_sim, seed=seed, small_values=small_values)

    def node_split(self):
        """Direct against indirect evidence; see :func:`metaanalysis.network.node_split`."""
        from .inconsistency import node_split

        return node_split(self)

    def decomposition(self):
        """Q total, within and between designs; see :func:`metaanalysis.network.decomp_design`."""
        from .inconsistency import decomp_design

        return decomp_design(self)

    # -- ResultMixin -------------------------------------------------------------------------
    def to_frame(self):
        return self.effects

    def to_dict(self) -> dict:
        return jsonable({
            "measure": self.measure, "method": self.method, "model": self.model,
            "reference": self.reference, "level": self.level, "treatments": list(self.treatments),
            "k": self.k, "n_treatments": self.n_treatments, "n_contrasts": self.n_contrasts,
            "n_designs": self.n_designs,
            "tau2": self.tau2, "tau": self.tau, "i2": self.i2,
            "q": self.q, "q_df": self.q_df, "q_pvalue": self.q_pvalue,
            "q_within": self.q_within, "q_within_df": self.q_within_df,
            "q_within_pvalue": core.q_pvalue(self.q_within, self.q_within_df),
            "q_between": self.q_between, "q_between_df": self.q_between_df,
            "q_between_pvalue": core.q_pvalue(self.q_between, self.q_between_df),
            "tau2_within": self.tau2_within, "q_between_random": self.q_between_random,
            "q_between_random_pvalue": core.q_pvalue(self.q_between_random, self.q_between_df),
            "small_values": self.small_values,
            "effects": self.effects.to_dict(orient="records"),
            "caveats": list(self.caveats),
        })

    def _short(self) -> str:
        return (f"{self.measure} {self.method}: {self.k} studies, {self.n_treatments} treatments, "
                f"reference {self.reference!r}, tau2={self.tau2:.4g}")

    def summary(self) -> str:
        kind = "Common-effect" if self.method == "EE" else f"Random-effects ({self.method})"
        multi = sum(len(s.arms) > 2 for s in self.network.studies)
        lines = [
            f"{kind} network meta-analysis (k = {self.k} studies; {self.n_treatments} treatments; "
            f"{self.n_contrasts} contrasts; {multi} multi-arm; {self.n_designs} designs)",
            f"measure: {self.measure}; reference: {self.reference}",
            "",
        ]
        if self.method != "EE":
            lines.append(f"tau^2 (estimated amount of heterogeneity): {fmt(self.tau2)} "
                         f"(tau = {fmt(self.tau)})")
        lines.append(f"I^2 (total heterogeneity / total variability): {fmt(self.i2, 2)}%")
        lines += [
            "",
            "Tests of heterogeneity (within designs) and inconsistency (between designs):",
            f"  {'':<22}{'Q':>10}{'df':>6}{'p-val':>10}",
            f"  {'Total':<22}{fmt(self.q):>10}{self.q_df:>6}{fmt_p(self.q_pvalue):>10}",
            f"  {'Within designs':<22}{fmt(self.q_within):>10}{self.q_within_df:>6}"
            f"{fmt_p(core.q_pvalue(self.q_within, self.q_within_df)):>10}",
            f"  {'Between designs':<22}{fmt(self.q_between):>10}{self.q_between_df:>6}"
            f"{fmt_p(core.q_pvalue(self.q_between, self.q_between_df)):>10}",
            "",
            f"Treatment effects against {self.reference} ({fmt(self.level, 0)}% CI):",
        ]
        eff = self.effects
        head = f"  {'treatment':<20}{'estimate':>10}{'se':>9}{'zval':>9}{'pval':>9}{'ci.lb':>9}{'ci.ub':>9}"
        if self.is_ratio:
            head += f"{self.measure:>9}{'ci.lb':>9}{'ci.ub':>9}"
        lines.append(head)
        for r in eff.itertuples(index=False):
            row = (f"  {str(r.treatment)[:19]:<20}{fmt(r.estimate):>10}{fmt(r.se):>9}{fmt(r.zval, 2):>9}"
                   f"{fmt_p(r.pvalue):>9}{fmt(r.ci_low):>9}{fmt(r.ci_high):>9}")
            if self.is_ratio:
                row += f"{fmt(r.ratio, 3):>9}{fmt(r.ratio_ci_low, 3):>9}{fmt(r.ratio_ci_high, 3):>9}"
            lines.append(row)
        if self.caveats:
            lines += ["", "Caveats:"] + [f"  - {c}" for c in self.caveats]
        return "\n".join(lines)


def fit_network(net: NetworkData, method: str = "REML", level: float = 95,
                small_values: str = "good", study_totals=(), caveats=()) -> NetworkResult:
    """Fit the consistency model to parsed data (the array layer under :func:`network_meta`)."""
    from .inconsistency import design_q

    y, X, V, P, _ = net.stacked()
    m, p = X.shape
    df = m - p
    _, _, q, _ = core.gls(y, X, V)
    iterations = 0
    if method == "EE":
        tau2 = 0.0
    elif method == "DL":
        tau2 = core.tau2_dl(y, X, V, P)
    else:
        tau2, iterations = core.tau2_ml(y, X, V, P, reml=(method == "REML"))
    beta, vcov, _, _ = core.gls(y, X, V + tau2 * P)
    d, C = core.full_effects(beta, vcov)
    dq = design_q(net)
    i2 = max(0.0, 100.0 * (q - df) / q) if df > 0 and q > 0 else 0.0
    return NetworkResult(
        treatments=net.treatments, reference=net.reference, measure=net.measure, method=method,
        level=level, d=d, vcov=C, tau2=float(tau2), q=q, q_df=df, q_pvalue=core.q_pvalue(q, df),
        i2=i2, q_within=dq["q_within"], q_within_df=dq["q_within_df"],
        q_between=q - dq["q_within"], q_between_df=df - dq["q_within_df"],
        tau2_within=dq["tau2_within"], q_between_random=dq["q_between_random"],
        small_values=small_values, network=net, study_totals=tuple(study_totals),
        caveats=tuple(caveats), iterations=iterations,
    )


def _check_small_values(small_values):
    sv = str(small_values).lower()
    aliases = {"good": "good", "desirable": "good", "bad": "bad", "undesirable": "bad"}
    if sv not in aliases:
        raise InputError(f"small_values must be 'good' or 'bad', got {small_values!r}")
    return aliases[sv]


def network_meta(data, measure: str = "OR", reference: str = "placebo", method: str = "REML",
                 level: float = 95, *, treatments=None, small_values: str = "good",
                 add: float = 0.5, to: str = "only0", caveats=()) -> NetworkResult:
    """Frequentist contrast-based network meta-analysis (consistency model).

    Parameters
    ----------
    data : DataFrame
        Either arm-level, one row per arm: ``study, treatment`` and ``events, n`` (measures
        ``OR``, ``RR``, ``RD``) or ``mean, sd, n`` (``MD``, ``ROM``); or contrast-level, one row
        per comparison: ``study, treat1, treat2``, the effect of treat1 against treat2 as ``yi``
        (analysis scale, log for ratios) or as reported in a column named after the measure
        (``hr``, ``or``, ...) or ``value``, and its uncertainty as ``sei``, ``vi`` or
        ``ci_low, ci_high`` (+ ``ci_level``, a fraction, default 0.95). Optional ``n1, n2``
        (arm sizes) or ``n`` (both arms) feed :attr:`NetworkResult.edges`. A multi-arm study
        given as contrasts needs all its pairwise contrasts (netmeta's convention; their
        variances determine the covariance exactly for three arms) or only the contrasts
        against one common comparator plus a ``cov`` column (the comparator arm's variance).
    measure : str
        ``OR``, ``RR``, ``RD``, ``MD``, ``ROM`` (arm level) or any of those and ``HR``, ``IRR``,
        ``SMD``, ``GEN`` (contrast level).
    reference : str
        The treatment all others are compared with in :attr:`NetworkResult.effects`.
    method : str
        ``"EE"`` (alias ``"FE"``): common effect; ``"REML"`` (restricted likelihood maximised by
        Fisher scoring), ``"ML"``, or ``"DL"`` (netmeta's generalised DerSimonian-Laird type
        estimator): random effects with one tau² shared by all comparisons.
    level : float
        Confidence level, 95 or 0.95.
    treatments : sequence, optional
        Order of the non-reference treatments in the outputs (default: alphabetical).
    small_values : {"good", "bad"}
        Whether small effects (e.g. HR < 1 against the reference) are good; used for rankings.
    add, to :
        Continuity correction for arm-level binary data: ``add`` is added to events and
        non-events of every arm of a study with a zero (or all) events cell (``to="only0"``, as
        netmeta), of every study (``to="all"``, metafor's ``escalc(..., to="all")``) or never.
    caveats : sequence of str
        Notes that travel with the result (printed by ``summary()``).

    Returns
    -------
    NetworkResult

    Examples
    --------
    >>> import pandas as pd
    >>> import metaanalysis as ma
    >>> arms = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3],
    ...                      "treatment": ["placebo", "a", "placebo", "b", "a", "b"],
    ...                      "events": [10, 20, 12, 18, 15, 14], "n": [100] * 6})
    >>> res = ma.network_meta(arms, measure="OR", reference="placebo", method="EE")
    >>> list(res.effects["treatment"])
    ['a', 'b']
    """
    method_key = str(method).upper()
    if method_key not in METHODS:
        raise InputError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    method = METHODS[method_key]
    level = check_level(level)
    small_values = _check_small_values(small_values)
    net, totals = build_network(data, measure, reference, treatments=treatments, add=add, to=to)
    return fit_network(net, method=method, level=level, small_values=small_values,
                       study_totals=totals, caveats=[str(c) for c in caveats])
