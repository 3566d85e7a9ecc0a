"""Heterogeneity and inconsistency in a network: the Q decomposition and node-splitting.

* Q total (common-effect fit) = Q within designs + Q between designs (Krahn, Binder & König 2013;
  Higgins et al. 2012's design-by-treatment interaction; netmeta's ``decomp.design``). A design is
  the set of treatments a study compares. Q within designs comes from the model with a separate
  effect for every contrast of every design (inconsistency allowed everywhere); the difference from
  Q total tests consistency. The random-effects version of Q between designs uses the tau² of that
  full design-by-treatment interaction model (generalised DL), as netmeta does.
* Node-splitting by back-calculation (König et al. 2013; netmeta's ``netsplit`` default): for each
  comparison with direct evidence that is also informed indirectly, the direct estimate (inverse
  variance pooling of the studies' contrasts of the two treatments with their own variances, plus
  tau² in a random-effects fit, as netmeta's direct estimates), the indirect estimate
  ``(nma - p direct) / (1 - p)`` with ``p`` the direct evidence proportion
  ``var(nma) / var(direct)``, and the z-test of their difference. In a network of two-arm studies
  this equals a separate-indirect-from-direct split exactly; a comparison informed by one
  multi-arm study and nothing else has p = 1 and no split. Where a multi-arm study also informs
  the other side of a loop, its direct and indirect parts share its patients (the known limit of
  back-calculation with multi-arm studies).
"""

from __future__ import annotations

import math

import numpy as np

from . import core


def _design_matrix(net):
    """Design-saturated design matrix: one column per (design, non-baseline arm)."""
    cols: dict = {}
    rows = []
    for s in net.studies:
        for arm in s.arms[1:]:
            key = (s.design_key, arm)
            if key not in cols:
                cols[key] = len(cols)
            rows.append(cols[key])
    X = np.zeros((len(rows), len(cols)))
    X[np.arange(len(rows)), rows] = 1.0
    return X


def design_q(net) -> dict:
    """Q within designs (and its df), tau² of the design-by-treatment model, random Q between."""
    y, X, V, P, _ = net.stacked()
    Xd = _design_matrix(net)
    df_w = len(y) - Xd.shape[1]
    _, _, q_w, _ = core.gls(y, Xd, V)
    tau2_w = core.tau2_dl(y, Xd, V, P) if df_w > 0 else 0.0
    S = V + tau2_w * P
    _, _, q_tot_r, _ = core.gls(y, X, S)
    _, _, q_w_r, _ = core.gls(y, Xd, S)
    return {"q_within": q_w, "q_within_df": int(df_w), "tau2_within": float(tau2_w),
            "q_between_random": max(0.0, q_tot_r - q_w_r)}


def decomp_design(res):
    """Q total, within designs and between designs, as netmeta's ``decomp.design``.

    Returns a DataFrame indexed ``total``, ``within designs``, ``between designs`` and
    ``between designs (random)`` with columns ``q, df, pvalue`` (plus ``tau2`` for the last: the
    tau² of the full design-by-treatment interaction model it is computed with).
    """
    import pandas as pd

    rows = [
        ("total", res.q, res.q_df, math.nan),
        ("within designs", res.q_within, res.q_within_df, math.nan),
        ("between designs", res.q_between, res.q_between_df, math.nan),
        ("between designs (random)", res.q_between_random, res.q_between_df, res.tau2_within),
    ]
    frame = pd.DataFrame(rows, columns=["component", "q", "df", "tau2"]).set_index("component")
    frame.insert(2, "pvalue", [core.q_pvalue(q, df) for q, df in zip(frame.q, frame.df)])
    return frame


def design_heterogeneity(res):
    """Q within each design (common effect): ``design, k, q, df, pvalue``; designs with k > 1."""
    import pandas as pd

    net = res.network
    y, _, V, _, row_study = net.stacked()
    Xd = _design_matrix(net)
    designs = [s.design_key for s in net.studies]
    out = []
    for d in dict.fromkeys(designs):
        studies = [i for i, x in enumerate(designs) if x == d]
        rows = np.isin(row_study, studies)
        Xs = Xd[rows][:, Xd[rows].any(axis=0)]
        df = int(rows.sum() - Xs.shape[1])
        if df == 0:
            continue
        _, _, q, _ = core.gls(y[rows], Xs, V[np.ix_(rows, rows)])
        out.append(dict(design=":".join(d), k=len(studies), q=q, df=df, pvalue=core.q_pvalue(q, df)))
    return pd.DataFrame(out, columns=["design", "k", "q", "df", "pvalue"])


# a comparison counts as informed indirectly when its direct evidence proportion is below this
# (proportions of exactly 1 come out as 1 - 1e-15 in floating point)
DIRECT_ONLY_TOL = 1e-8


def node_split(res):
    """Direct and indirect evidence for each comparison where both exist (back-calculation).

    Returns a DataFrame with one row per comparison ``treat1 vs treat2`` (the earlier treatment
    in ``res.treatments`` second, so the reference is always ``treat2``): ``comparison, treat1,
    treat2, k`` (studies with direct evidence), ``prop_direct``, ``nma, nma_se, direct,
    direct_se, indirect, indirect_se, difference, difference_se, zval, pvalue`` (analysis scale;
    difference = direct - indirect) and ``direct_ci_low, ..., indirect_ci_high``. Empty when the
    network has no loop. Random-effects fits add the shared tau² to every study's contrasts.
    """
    import pandas as pd

    from .._base import zcrit
    from .model import _pvalue

    net = res.network
    index = {t: i for i, t in enumerate(res.treatments)}
    acc: dict = {}
    for s in net.studies:
        k = len(s.arms) - 1
        P = 0.5 + 0.5 * np.eye(k)
        # each contrast with its own variance (plus tau²), as netmeta's direct estimates pool the
        # original standard errors: the reduced (Rücker) variances of a multi-arm study credit
        # part of its information to its other contrasts, which made a comparison informed by
        # one three-arm trial alone look informed indirectly too
        S = np.zeros((k + 1, k + 1))   # the baseline's contrast with itself: row and column 0
        S[1:, 1:] = s.v + res.tau2 * P
        contrast, Vr = core.pairwise(np.concatenate([[0.0], s.y]), S)
        for i in range(len(s.arms)):
            for j in range(len(s.arms)):
                a, b = s.arms[i], s.arms[j]
                if index[a] <= index[b]:
                    continue
                w = 1.0 / Vr[i, j]
                sw, swy, n = acc.get((a, b), (0.0, 0.0, 0))
                acc[(a, b)] = (sw + w, swy + w * contrast[i, j], n + 1)
    est, var = core.pairwise(res.d, res.vcov)
    z = zcrit(res.level)
    rows = []
    for (a, b), (sw, swy, n) in acc.items():
        i, j = index[a], index[b]
        direct, var_d = swy / sw, 1.0 / sw
        nma, var_n = est[i, j], var[i, j]
        prop = var_n / var_d
        if prop >= 1 - DIRECT_ONLY_TOL:
            continue
        indirect = (nma - prop * direct) / (1 - prop)
        var_i = 1.0 / (1.0 / var_n - 1.0 / var_d)
        diff = direct - indirect
        se_diff = math.sqrt(var_d + var_i)
        rows.append(dict(
            comparison=f"{a} vs {b}", treat1=a, treat2=b, k=n, prop_direct=prop,
            nma=nma, nma_se=math.sqrt(var_n), direct=direct, direct_se=math.sqrt(var_d),
            indirect=indirect, indirect_se=math.sqrt(var_i), difference=diff,
            difference_se=se_diff, zval=diff / se_diff, pvalue=float(_pvalue(diff / se_diff)),
            direct_ci_low=direct - z * math.sqrt(var_d), direct_ci_high=direct + z * math.sqrt(var_d),
            indirect_ci_low=indirect - z * math.sqrt(var_i),
            indirect_ci_high=indirect + z * math.sqrt(var_i),
        ))
    cols = ["comparison", "treat1", "treat2", "k", "prop_direct", "nma", "nma_se", "direct",
            "direct_se", "indirect", "indirect_se", "difference", "difference_se", "zval", "pvalue",
            "direct_ci_low", "direct_ci_high", "indirect_ci_low", "indirect_ci_high"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["_o"] = [(index[a], index[b]) for a, b in zip(frame.treat2, frame.treat1)]
    return frame.sort_values("_o").drop(columns="_o").reset_index(drop=True)
