"""Turn arm-level or contrast-level input into the blocks a contrast-based network model needs.

Every study becomes one block: its arms (baseline first), the contrasts of the other arms against
the baseline on the analysis scale (``y``), and their exact within-study covariance (``v``). For
arm-level data the covariance follows from the shared baseline arm (Gleser & Olkin 2009, eq.
19.11); for contrast-level multi-arm studies it is derived from all pairwise variances as netmeta
does (Rücker 2012), or from a given covariance of contrasts that share their comparator.

Nothing here is public API; :func:`metaanalysis.network.network_meta` calls :func:`build_network`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._base import as_float_array, readonly
from ..errors import InputError

RATIO_MEASURES = frozenset({"OR", "RR", "HR", "ROM", "IRR"})
ARM_BINARY = frozenset({"OR", "RR", "RD"})
ARM_CONTINUOUS = frozenset({"MD", "ROM"})
KNOWN_MEASURES = RATIO_MEASURES | ARM_BINARY | ARM_CONTINUOUS | {"SMD", "GEN"}

# tolerance for the consistency of the estimates of a multi-arm study given as all pairwise
# contrasts (y_ac must equal y_ab + y_bc): reported numbers are rounded, so be lenient.
MULTIARM_CONSISTENCY_TOL = 1e-3


class RowInputError(InputError):
    """An :class:`InputError` about one row of the data: ``row`` is its position (0-based, in the
    order of the rows given) and ``column`` the column at fault (None when the row as a whole is).
    The message is that of any InputError; the CLI turns the position into the file's line."""

    def __init__(self, message: str, row: int, column: str | None = None):
        super().__init__(message)
        self.row = int(row)
        self.column = None if column is None else str(column)


@dataclass(frozen=True, eq=False)
class StudyBlock:
    """One study: ``arms[0]`` is the baseline; ``y[j]`` estimates arm ``j+1`` minus the baseline."""

    study: str
    arms: tuple
    y: np.ndarray
    v: np.ndarray
    n: tuple  # patients per arm (nan when unknown)

    @property
    def design(self) -> str:
        """The design as text ("a:b:c"), for display."""
        return ":".join(self.arms)

    @property
    def design_key(self) -> tuple:
        """The design as the tuple of its arms: what designs are told apart by (treatment names
        may hold the ":" of the text form: "p:q", "r" and "p", "q:r" are two designs)."""
        return tuple(self.arms)


@dataclass(frozen=True, eq=False)
class NetworkData:
    """Parsed network: treatments (reference first) and one block per study."""

    treatments: tuple
    reference: str
    measure: str
    studies: tuple  # of StudyBlock
    input_kind: str  # "arm" or "contrast"

    # -- stacked arrays for the model ------------------------------------------------------
    def stacked(self):
        """``y`` (m,), ``X`` (m, T-1), ``V`` (m, m), ``P`` (m, m), study index of each row (m,).

        ``P`` is the heterogeneity structure of the consistency model: 1 on the diagonal and 1/2
        between two contrasts of one study (one shared tau², as netmeta and metafor's
        ``rma.mv(..., random = ~ comp | study, rho = 1/2)``).
        """
        index = {t: i for i, t in enumerate(self.treatments)}
        T = len(self.treatments)
        m = sum(len(s.arms) - 1 for s in self.studies)
        y = np.empty(m)
        X = np.zeros((m, T - 1))
        V = np.zeros((m, m))
        P = np.zeros((m, m))
        row_study = np.empty(m, dtype=int)
        r = 0
        for s_i, s in enumerate(self.studies):
            k = len(s.arms) - 1
            sl = slice(r, r + k)
            y[sl] = s.y
            V[sl, sl] = s.v
            P[sl, sl] = 0.5 + 0.5 * np.eye(k)
            b = index[s.arms[0]]
            for j, arm in enumerate(s.arms[1:]):
                a = index[arm]
                if a > 0:
                    X[r + j, a - 1] += 1.0
                if b > 0:
                    X[r + j, b - 1] -= 1.0
            row_study[sl] = s_i
            r += k
        return y, X, V, P, row_study


# ---------------------------------------------------------------------------------------------
# helpers


def _col(df, *names):
    """The first of ``names`` that is a column of ``df`` (None if none is)."""
    for name in names:
        if name in df.columns:
            return name
    return None


def _ordered_unique(values):
    return list(dict.fromkeys(values))


def _components(edges, nodes):
    """Connected components of an undirected graph, each a sorted list; largest first."""
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


def check_connected(studies, treatments) -> None:
    edges = []
    for s in studies:
        edges += [(s.arms[0], a) for a in s.arms[1:]]
    comps = _components(edges, treatments)
    if len(comps) > 1:
        described = "; ".join("{" + ", ".join(c) + "}" for c in comps)
        raise InputError(
            f"the network is disconnected: it falls into {len(comps)} components {described}. "
            "Treatments in different components cannot be compared; analyse each component "
            "separately or add studies that link them"
        )


def _order_treatments(all_treatments, reference, treatments):
    if reference not in all_treatments:
        raise InputError(
            f"reference {reference!r} is not a treatment of the network; "
            f"the treatments are: {', '.join(sorted(all_treatments))}"
        )
    if treatments is not None:
        treatments = [str(t) for t in treatments]
        missing = sorted(set(all_treatments) - set(treatments))
        if missing:
            raise InputError(f"treatments= does not list {', '.join(missing)}")
        order = [reference] + [t for t in treatments if t != reference and t in all_treatments]
    else:
        order = [reference] + sorted(t for t in all_treatments if t != reference)
    return tuple(order)


def _block_from_arm_variances(study, arms, theta, s, n, order_index):
    """A block with baseline = the arm earliest in the treatment order.

    ``theta``: arm-level values (only their differences matter); ``s``: arm variances, so that
    ``var(theta_a - theta_b) = s_a + s_b`` and contrasts sharing an arm covary by its variance.
    """
    theta = np.asarray(theta, dtype=float)
    perm = sorted(range(len(arms)), key=lambda i: order_index[arms[i]])
    arms = tuple(arms[i] for i in perm)
    theta = theta[perm]
    s = np.asarray(s, dtype=float)[perm]
    n = tuple(n[i] for i in perm)
    y = theta[1:] - theta[0]
    v = np.diag(s[1:]) + s[0]
    return StudyBlock(study=study, arms=arms, y=readonly(y), v=readonly(v), n=n)


def _check_pd(v, study, first=None):
    """``first``: the study's first contrast row (a dict of :func:`_contrast_rows`), which an
    error names."""
    try:
        np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        message = (f"study {study!r}: the covariance of its contrasts is not positive definite "
                   "(check its standard errors)")
        if first is None:
            raise InputError(message) from None
        raise RowInputError(message, first["pos"], first["columns"]["v"]) from None


# ---------------------------------------------------------------------------------------------
# arm-level input


def _row_of(series, mask):
    """The row (position in the data) of the first entry of ``series`` where ``mask`` holds."""
    return int(series.index[int(np.flatnonzero(mask)[0])])


def _arm_numbers(series, study, what):
    """One study's arm values of a column as floats; a missing, infinite or non-numeric value is
    a :class:`RowInputError` at its row."""
    try:
        return as_float_array(list(series), f"study {study!r}: {what}")
    except InputError as exc:
        bad = [not _finite(x) for x in series]
        if not any(bad):
            raise
        raise RowInputError(str(exc), _row_of(series, bad), series.name) from None


def _arm_values(measure, events, n, mean, sd, add, to, study):
    """Arm-level analysis-scale values and their variances for one study.

    ``events``, ``n``, ``mean`` and ``sd`` are the study's rows of their columns (Series indexed
    by the rows' positions in the data, named by their columns), so that an error names its row.
    """
    if measure in ARM_BINARY:
        e = _arm_numbers(events, study, "events")
        nn = _arm_numbers(n, study, "n")
        bad = (e < 0) | (e > nn) | (nn <= 0)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise RowInputError(f"study {study!r}: events must lie between 0 and n (and n > 0); "
                                f"this arm has {e[i]:g} events of n = {nn[i]:g}",
                                _row_of(events, bad), n.name if nn[i] <= 0 else events.name)
        none_or_all = (e == 0) | (e == nn)
        if measure == "RD":
            p = e / nn
            var = p * (1 - p) / nn
            if np.any(var <= 0) and np.all(var <= 0):
                raise RowInputError(f"study {study!r}: every arm has 0 or n events; its RD "
                                    "variance is 0", _row_of(events, var <= 0), events.name)
            if np.sum(var <= 0) >= 2:
                # two such arms compare with a variance of 0: the study's covariance is singular
                second = np.flatnonzero(var <= 0)[1]
                raise RowInputError(f"study {study!r}: {int(np.sum(var <= 0))} of its arms have 0 "
                                    "or n events, so the risk difference between them has "
                                    "variance 0; leave one of them out or use OR or RR with add=",
                                    int(events.index[second]), events.name)
            return p, var
        zero = np.any(none_or_all)
        if zero and add <= 0 and to != "none":
            # add=0 corrects nothing: log(0) and 1/0 would follow
            raise RowInputError(f"study {study!r} has an arm with 0 or all events and add=0 "
                                "corrects nothing; use add= (> 0, e.g. 0.5) with to='only0' or "
                                "'all'", _row_of(events, none_or_all), events.name)
        if to == "all" or (to == "only0" and zero):
            e = e + add
            nn = nn + 2 * add
        elif zero:
            raise RowInputError(
                f"study {study!r} has an arm with 0 or all events; use add= (> 0) with to='only0'",
                _row_of(events, none_or_all), events.name)
        if measure == "OR":
            return np.log(e / (nn - e)), 1 / e + 1 / (nn - e)
        return np.log(e / nn), 1 / e - 1 / nn  # RR
    m = _arm_numbers(mean, study, "mean")
    s = _arm_numbers(sd, study, "sd")
    nn = _arm_numbers(n, study, "n")
    if np.any(s <= 0) or np.any(nn <= 0):
        bad = (s <= 0) | (nn <= 0)
        i = int(np.flatnonzero(bad)[0])
        raise RowInputError(f"study {study!r}: sd and n must be positive; this arm has sd = "
                            f"{s[i]:g}, n = {nn[i]:g}", _row_of(sd, bad),
                            sd.name if s[i] <= 0 else n.name)
    if measure == "MD":
        return m, s**2 / nn
    if np.any(m <= 0):
        raise RowInputError(f"study {study!r}: ROM needs positive means; this arm's is "
                            f"{m[m <= 0][0]:g}", _row_of(mean, m <= 0), mean.name)
    return np.log(m), s**2 / (nn * m**2)  # ROM


def _from_arms(df, measure, reference, treatments, add, to):
    study_c = _col(df, "study", "studlab", "study_id")
    treat_c = _col(df, "treatment", "treat", "trt", "therapy")
    if study_c is None or treat_c is None:
        raise InputError("arm-level data need columns 'study' and 'treatment'")
    if measure in ARM_BINARY:
        need = ("events", "n")
        ev_c = _col(df, "events", "event", "xi", "numerator")
        n_c = _col(df, "n", "ni", "denominator")
        if ev_c is None or n_c is None:
            raise InputError(f"measure {measure!r} with arm-level data needs columns {need}")
    elif measure in ARM_CONTINUOUS:
        mean_c, sd_c, n_c = _col(df, "mean", "mi"), _col(df, "sd", "sdi"), _col(df, "n", "ni")
        if None in (mean_c, sd_c, n_c):
            raise InputError(f"measure {measure!r} with arm-level data needs columns mean, sd, n")
    else:
        raise InputError(
            f"measure {measure!r} cannot be computed from arm-level data; use one of "
            f"{sorted(ARM_BINARY | ARM_CONTINUOUS)} or give contrasts (treat1, treat2, yi, sei)"
        )
    rows = df.reset_index(drop=True)
    studies_raw = _ordered_unique(rows[study_c].astype(str))
    all_t = _ordered_unique(rows[treat_c].astype(str))
    order = _order_treatments(all_t, reference, treatments)
    index = {t: i for i, t in enumerate(order)}
    blocks = []
    for sid in studies_raw:
        g = rows[rows[study_c].astype(str) == sid]
        arms = list(g[treat_c].astype(str))
        dup = sorted({a for a in arms if arms.count(a) > 1})
        if dup:
            again = [j for j, a in enumerate(arms) if a == dup[0]][1]
            raise RowInputError(f"study {sid!r} lists treatment {dup[0]!r} in more than one arm",
                                int(g.index[again]), treat_c)
        if len(arms) < 2:
            raise RowInputError(
                f"study {sid!r} has a single arm ({arms[0]!r}); a network needs comparisons, "
                "remove it or add its comparator", int(g.index[0]), study_c
            )
        if measure in ARM_BINARY:
            theta, s = _arm_values(measure, g[ev_c], g[n_c], None, None, add, to, sid)
        else:
            theta, s = _arm_values(measure, None, g[n_c], g[mean_c], g[sd_c], add, to, sid)
        n = tuple(float(x) for x in g[n_c])
        blocks.append(_block_from_arm_variances(sid, arms, theta, s, n, index))
    return order, blocks


# ---------------------------------------------------------------------------------------------
# contrast-level input


def _contrast_rows(df, measure):
    """Per row: study, treat1, treat2, y (treat1 vs treat2), v, n1, n2, cov."""
    study_c = _col(df, "study", "studlab", "study_id")
    t1_c, t2_c = _col(df, "treat1", "therapy"), _col(df, "treat2", "comparator")
    if study_c is None or t1_c is None or t2_c is None:
        raise InputError("contrast-level data need columns 'study', 'treat1' and 'treat2'")
    rows = df.reset_index(drop=False)
    label_c = rows.columns[0]
    y_c = _col(rows, "yi", "TE")
    ratio = measure in RATIO_MEASURES
    raw_c = _col(rows, measure.lower(), "value", "estimate") if y_c is None else None
    if y_c is None and raw_c is None:
        raise InputError(
            "contrast-level data need the effect: a column 'yi' on the analysis scale "
            f"(log scale for {measure}) or {measure.lower()!r}/'value' as reported"
        )
    se_c, vi_c = _col(rows, "sei", "seTE"), _col(rows, "vi")
    lo_c, hi_c = _col(rows, "ci_low"), _col(rows, "ci_high")
    lvl_c = _col(rows, "ci_level")
    if se_c is None and vi_c is None and (lo_c is None or hi_c is None):
        raise InputError("contrast-level data need 'sei', 'vi' or 'ci_low' and 'ci_high' (+ 'ci_level')")
    n1_c, n2_c, n_c = _col(rows, "n1"), _col(rows, "n2"), _col(rows, "n")
    cov_c = _col(rows, "cov")
    # the columns an error about a study's rows names
    columns = {"study": study_c, "treat2": t2_c, "y": y_c or raw_c, "v": se_c or vi_c or lo_c,
               "cov": cov_c}
    out = []
    for pos, (_, r) in enumerate(rows.iterrows()):
        label = r[label_c]
        sid, t1, t2 = str(r[study_c]), str(r[t1_c]), str(r[t2_c])
        where = f"row {label!r} (study {sid!r})"
        if t1 == t2:
            raise RowInputError(f"{where} compares {t1!r} with itself: treat1 and treat2 must "
                                "differ", pos, t2_c)
        if y_c is not None:
            y = float(r[y_c])
        else:
            val = float(r[raw_c])
            if ratio:
                if not val > 0:
                    raise RowInputError(f"{where}: a {measure} must be positive, got {val!r}",
                                        pos, raw_c)
                y = math.log(val)
            else:
                y = val
        v, v_c = math.nan, se_c or vi_c or lo_c
        if se_c is not None and _finite(r[se_c]):
            v = float(r[se_c]) ** 2
        elif vi_c is not None and _finite(r[vi_c]):
            v, v_c = float(r[vi_c]), vi_c
        elif lo_c is not None and _finite(r[lo_c]) and _finite(r[hi_c]):
            v_c = lo_c
            lvl = float(r[lvl_c]) if lvl_c is not None and _finite(r[lvl_c]) else 0.95
            if lvl > 1:
                lvl = lvl / 100.0
            if not 0.5 < lvl < 1:
                raise RowInputError(f"{where}: ci_level {lvl!r} must be a fraction in (0.5, 1)",
                                    pos, lvl_c)
            lo, hi = float(r[lo_c]), float(r[hi_c])
            if ratio:
                if not (lo > 0 and hi > 0):
                    raise RowInputError(f"{where}: a {measure} interval must be positive", pos,
                                        lo_c if not lo > 0 else hi_c)
                lo, hi = math.log(lo), math.log(hi)
            from scipy.special import ndtri

            v = ((hi - lo) / (2 * float(ndtri(1 - (1 - lvl) / 2)))) ** 2
        if not (math.isfinite(y) and math.isfinite(v) and v > 0):
            raise RowInputError(f"{where}: needs a finite effect and a positive variance", pos,
                                v_c if math.isfinite(y) else (y_c or raw_c))
        n1 = float(r[n1_c]) if n1_c is not None and _finite(r[n1_c]) else math.nan
        n2 = float(r[n2_c]) if n2_c is not None and _finite(r[n2_c]) else math.nan
        ntot = float(r[n_c]) if n_c is not None and _finite(r[n_c]) else math.nan
        cov = float(r[cov_c]) if cov_c is not None and _finite(r[cov_c]) else math.nan
        out.append(dict(label=label, study=sid, t1=t1, t2=t2, y=y, v=v, n1=n1, n2=n2, n=ntot,
                        cov=cov, pos=pos, columns=columns))
    return out


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _contrast_block(sid, rs, index):
    """One study's block from its contrast rows (``rs``: dicts from :func:`_contrast_rows`)."""
    arms = _ordered_unique([t for r in rs for t in (r["t1"], r["t2"])])
    k = len(arms)
    pos = {a: i for i, a in enumerate(arms)}
    pairs = {}
    for r in rs:
        key = frozenset((r["t1"], r["t2"]))
        if key in pairs:
            raise RowInputError(
                f"study {sid!r} gives the comparison {r['t1']} vs {r['t2']} twice "
                f"(rows {pairs[key]['label']!r} and {r['label']!r})", r["pos"],
                r["columns"]["treat2"]
            )
        pairs[key] = r
    n = [math.nan] * k
    for r in rs:
        for t, col in ((r["t1"], "n1"), (r["t2"], "n2")):
            if math.isfinite(r[col]):
                n[pos[t]] = r[col]
    if k == 2:
        (r,) = rs
        # theta relative to arms[0] (= r["t1"]): arm t2 sits at -y
        theta = np.array([0.0, -r["y"]])
        s = np.array([0.0, r["v"]])
        block = _block_from_arm_variances(sid, arms, theta, s, tuple(n), index)
        return block, r["n"]
    n_pairs = k * (k - 1) // 2
    if len(pairs) == n_pairs:
        # all pairwise contrasts: arm variances from v_ab = s_a + s_b (exact for three arms,
        # least squares beyond), estimates must be consistent around each loop
        D = np.zeros((n_pairs, k))  # row i: arm t1 minus arm t2 of contrast i
        y = np.array([r["y"] for r in rs])
        v = np.array([r["v"] for r in rs])
        for i, r in enumerate(rs):
            D[i, pos[r["t1"]]], D[i, pos[r["t2"]]] = 1.0, -1.0
        s = np.linalg.lstsq(np.abs(D), v, rcond=None)[0]
        # the arm estimates closest to all the contrasts (least squares weighted by their
        # variances), relative to arms[0]: rounded contrasts that are not exactly consistent then
        # give the same block whichever order the rows come in (reading only the contrasts
        # against the first-listed arm made the result depend on the order of the rows)
        w = 1.0 / np.sqrt(v)
        theta = np.zeros(k)
        theta[1:] = np.linalg.lstsq(D[:, 1:] * w[:, None], y * w, rcond=None)[0]
        for r in rs:
            implied = theta[pos[r["t1"]]] - theta[pos[r["t2"]]]
            if abs(implied - r["y"]) > MULTIARM_CONSISTENCY_TOL * max(1.0, abs(r["y"])):
                raise RowInputError(
                    f"study {sid!r}: its contrasts are inconsistent ({r['t1']} vs {r['t2']} is "
                    f"{r['y']:.4g} but the other contrasts imply {implied:.4g}); a multi-arm "
                    "study's estimates must satisfy y_ac = y_ab + y_bc", r["pos"],
                    r["columns"]["y"]
                )
        block = _block_from_arm_variances(sid, arms, theta, s, tuple(n), index)
    else:
        common = set(arms)
        for r in rs:
            common &= {r["t1"], r["t2"]}
        covs = [r["cov"] for r in rs]
        if len(rs) != k - 1 or len(common) != 1 or not all(math.isfinite(c) for c in covs):
            raise RowInputError(
                f"study {sid!r} is a multi-arm study ({', '.join(arms)}) given by {len(rs)} "
                f"contrast(s): give all {n_pairs} pairwise contrasts with their standard errors "
                "(as netmeta requires), or only the contrasts against one common comparator with "
                "a 'cov' column holding their covariance (the comparator arm's variance)",
                rs[0]["pos"], rs[0]["columns"]["study"]
            )
        if max(covs) - min(covs) > 1e-12 * max(1.0, abs(max(covs))):
            other = next(r for r in rs if r["cov"] != covs[0])
            raise RowInputError(f"study {sid!r}: its rows give different values of 'cov'",
                                other["pos"], other["columns"]["cov"])
        (c,) = common
        s = np.zeros(k)
        theta = np.zeros(k)
        s[pos[c]] = covs[0]
        for r in rs:
            other = r["t1"] if r["t2"] == c else r["t2"]
            s[pos[other]] = r["v"] - covs[0]
            # theta relative to c, then shift so arms[0] is 0 (only differences matter)
            theta[pos[other]] = r["y"] if r["t1"] == other else -r["y"]
        theta = theta - theta[0]
        block = _block_from_arm_variances(sid, arms, theta, s, tuple(n), index)
    _check_pd(block.v, sid, rs[0])
    totals = [r["n"] for r in rs if math.isfinite(r["n"])]
    return block, (max(totals) if totals else math.nan)


def _from_contrasts(df, measure, reference, treatments):
    rows = _contrast_rows(df, measure)
    all_t = _ordered_unique([t for r in rows for t in (r["t1"], r["t2"])])
    order = _order_treatments(all_t, reference, treatments)
    index = {t: i for i, t in enumerate(order)}
    by_study: dict = {}
    for r in rows:
        by_study.setdefault(r["study"], []).append(r)
    blocks, totals = [], []
    for sid, rs in by_study.items():
        block, total = _contrast_block(sid, rs, index)
        blocks.append(block)
        totals.append(total)
    return order, blocks, totals


# ---------------------------------------------------------------------------------------------


def build_network(data, measure, reference, treatments=None, add=0.5, to="only0"):
    """Parse a DataFrame (or dict of columns) of arms or contrasts into :class:`NetworkData`.

    Returns ``(network, study_totals)``; ``study_totals`` is the total number of patients per
    study when only that is known (contrast input with an ``n`` column), else nan.
    """
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        try:
            data = pd.DataFrame(data)
        except (TypeError, ValueError):
            raise InputError("data must be a DataFrame (or a dict of equal-length columns)") from None
    if len(data) == 0:
        raise InputError("data has no rows")
    measure = str(measure).upper()
    if measure == "PETO" or measure not in KNOWN_MEASURES:
        raise InputError(f"measure {measure!r} is not supported; use one of {sorted(KNOWN_MEASURES)}")
    if to not in ("only0", "all", "none"):
        raise InputError(f"to must be 'only0', 'all' or 'none', got {to!r}")
    if not (add >= 0):
        raise InputError(f"add must be >= 0, got {add!r}")
    reference = str(reference)
    is_contrast = _col(data, "treat1") is not None and _col(data, "treat2") is not None
    if is_contrast:
        order, blocks, totals = _from_contrasts(data, measure, reference, treatments)
        kind = "contrast"
    else:
        order, blocks = _from_arms(data, measure, reference, treatments, add, to)
        totals = [math.nan] * len(blocks)
        kind = "arm"
    check_connected(blocks, order)
    net = NetworkData(treatments=order, reference=reference, measure=measure,
                      studies=tuple(blocks), input_kind=kind)
    return net, tuple(totals)
