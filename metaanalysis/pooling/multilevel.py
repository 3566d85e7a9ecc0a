"""Multilevel and multivariate meta-analysis: metafor's ``rma.mv``.

The model is ``y = X beta + u + e`` with ``e ~ N(0, V)`` (known sampling covariances) and random
effects ``u`` built from metafor-style terms:

* ``"~ 1 | district/school"``: nested random intercepts, one variance (sigma²) per level of the
  nesting (``district`` and ``district/school``);
* ``"~ outcome | trial"``: correlated effects of the levels of an inner factor within each level of
  an outer factor, with ``struct`` ``"CS"`` (one tau², one rho), ``"HCS"`` (a tau² per level, one
  rho), ``"UN"`` (a tau² per level, a rho per pair), ``"ID"`` (one tau², rho = 0) or ``"DIAG"`` (a
  tau² per level, rho = 0).

Marginal covariance ``M = V + sum_s sigma2_s S_s + O * G[g_i, g_j]`` (``S_s[i, j] = 1`` when rows
i and j share a level of term s, ``O`` the same for the outer factor, ``*`` elementwise). As
metafor, the (restricted) likelihood is maximised over log variances and atanh correlations, except
UN's correlation matrix, which is parameterised by the angles of its Cholesky factor's rows (every
value a valid matrix, singular ones included, as metafor's Cholesky factor of G); we
use analytic gradients (the usual ``-tr(P dM)/2 + y'P dM P y/2``), BFGS, then Newton steps on a
finite-difference Hessian of that gradient until the gradient is at rounding level, so the
estimates are the optimum itself (metafor's default nlminb tolerance stops about 1e-6 short of it
on some data).

Helpers :func:`shared_control_v` and :func:`correlated_outcomes_v` build ``V`` for multi-arm trials
sharing a control arm and for several outcomes (PFS and OS) of the same trial.
:func:`profile_mv` and :meth:`MultilevelResult.confint` profile a variance component and give its
profile-likelihood interval (metafor's ``profile.rma.mv`` and ``confint.rma.mv``), refitting the
model with the component held fixed.

References: Viechtbauer W (2010), metafor, *J. Stat. Softw.* 36(3); Berkey CS et al. (1998),
*Stat. Med.* 17:2537-50; Konstantopoulos S (2011), *Res. Synth. Methods* 2:61-76; Gleser LJ, Olkin I
(2009), stochastically dependent effect sizes, in *The Handbook of Research Synthesis*, 2nd ed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.special import chdtrc, fdtrc

from .._base import ResultMixin, as_float_array, check_level, fmt, jsonable
from ..errors import ConvergenceError, InputError
from .core import critical_value, two_sided_p
from ._print import coef_table, moderator_lines, p_equals, table_lines
from ._result import coef_frame

__all__ = ["rma_mv", "MultilevelResult", "shared_control_v", "correlated_outcomes_v", "STRUCTS",
           "profile_mv"]

STRUCTS = ("CS", "HCS", "UN", "ID", "DIAG")
_LOG2PI = math.log(2 * math.pi)
_NAN = float("nan")
# metafor's edge of a correlation's profile and interval
_RHO_EDGE = 0.99999


# --------------------------------------------------------------------------------------------
# V for dependent effects
# --------------------------------------------------------------------------------------------


def _groups(values, name: str, k: int) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1 or arr.shape[0] != k:
        raise InputError(f"{name} must have one entry per effect ({k}); got shape {arr.shape}")
    bad = [i for i, x in enumerate(arr) if x is None or (isinstance(x, float) and math.isnan(x))]
    if bad:
        raise InputError(f"{name} is missing at index {bad[0]}")
    return arr


def shared_control_v(vi, trial, control_var) -> np.ndarray:
    """Sampling covariance matrix of treatment-vs-control contrasts that share a control arm.

    Two contrasts ``T1 - C`` and ``T2 - C`` of one trial are correlated through the common control
    arm ``C``: with independent arms, ``cov(T1 - C, T2 - C) = var(C)``, the variance of the control
    arm's contribution to each contrast (Gleser & Olkin 2009). So ``V[i, i] = vi[i]`` and, for two
    rows of the same trial, ``V[i, j] = control_var`` of that trial; rows of different trials are
    independent. The control-arm variance is, for example:

    * log odds ratio: ``1/c + 1/(n_c - c)`` (``c`` events of ``n_c``);
    * log risk ratio: ``1/c - 1/n_c``;
    * mean difference: ``sd_c**2 / n_c``;
    * log hazard ratio against a shared control from arm-level data: the control arm's
      ``1/events_c`` (an approximation).

    Parameters
    ----------
    vi : array_like
        Sampling variances of the k contrasts.
    trial : array_like
        Trial of each contrast; contrasts of one trial share its control arm.
    control_var : float or array_like
        The control arm's variance contribution, one per row (it must be equal within a trial) or
        one number for all.

    Returns
    -------
    numpy.ndarray
        The k x k block-diagonal covariance matrix.

    Examples
    --------
    >>> shared_control_v([0.10, 0.12, 0.2], trial=[1, 1, 2], control_var=[0.05, 0.05, 0.08])
    array([[0.1 , 0.05, 0.  ],
           [0.05, 0.12, 0.  ],
           [0.  , 0.  , 0.2 ]])
    """
    v = as_float_array(vi, "vi")
    k = v.shape[0]
    t = _groups(trial, "trial", k)
    cv = np.broadcast_to(as_float_array(control_var, "control_var"), (k,)) if np.ndim(control_var) == 0 \
        else as_float_array(control_var, "control_var")
    if cv.shape[0] != k:
        raise InputError(f"control_var needs one value per row ({k}) or one number; got {cv.shape[0]}")
    if np.any(v <= 0) or np.any(cv < 0):
        raise InputError("vi must be positive and control_var non-negative")
    same = t[:, None] == t[None, :]
    for i, j in zip(*np.nonzero(same)):
        if i < j and cv[i] != cv[j]:
            raise InputError(f"rows {i} and {j} share trial {t[i]!r} but their control_var differ "
                             f"({cv[i]} and {cv[j]}); give the shared control arm's variance for both")
    bad = np.flatnonzero((cv > v) & (same.sum(axis=1) > 1))
    if len(bad):
        raise InputError(f"control_var exceeds vi at index {int(bad[0])}: the control arm cannot contribute "
                         "more than the whole contrast's variance")
    out = np.where(same, cv[:, None], 0.0)
    np.fill_diagonal(out, v)
    return out


def correlated_outcomes_v(vi, trial, rho) -> np.ndarray:
    """Sampling covariance matrix of several outcomes (such as PFS and OS) of the same trials.

    Within a trial, ``V[i, j] = rho * sqrt(vi[i] * vi[j])``: the estimates of different outcomes
    share the patients, and their correlation ``rho`` is rarely reported, so it is assumed (0.5 to
    0.7 is common for PFS and OS log hazard ratios; vary it in a sensitivity analysis). As metafor's
    ``vcalc(vi, cluster = trial, obs = outcome, rho = rho)``.

    Parameters
    ----------
    vi : array_like
        Sampling variances.
    trial : array_like
        Trial of each row; rows of different trials are independent.
    rho : float
        Assumed within-trial correlation, in (-1, 1).

    Examples
    --------
    >>> correlated_outcomes_v([0.04, 0.09], trial=["A", "A"], rho=0.5)
    array([[0.04, 0.03],
           [0.03, 0.09]])
    """
    v = as_float_array(vi, "vi")
    k = v.shape[0]
    t = _groups(trial, "trial", k)
    r = float(rho)
    if not -1 < r < 1:
        raise InputError(f"rho must lie in (-1, 1); got {rho!r}")
    if np.any(v <= 0):
        raise InputError(f"vi must be positive; index {int(np.flatnonzero(v <= 0)[0])} is not")
    s = np.sqrt(v)
    out = np.where(t[:, None] == t[None, :], r * np.outer(s, s), 0.0)
    np.fill_diagonal(out, v)
    return out


# --------------------------------------------------------------------------------------------
# Random-effects terms
# --------------------------------------------------------------------------------------------

_TERM = re.compile(r"^\s*~\s*(?P<inner>[^|]+?)\s*\|\s*(?P<outer>.+?)\s*$")


def _column(data, name: str, k: int) -> np.ndarray:
    if data is None:
        raise InputError(f"random term variable {name!r} needs data= (a DataFrame holding it)")
    try:
        col = data[name]
    except (KeyError, IndexError, TypeError):
        raise InputError(f"variable {name!r} of the random terms is not in data") from None
    return _groups(np.asarray(col, dtype=object), name, k)


def _sort_levels(values) -> list:
    uniq = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def _parse_random(random, data, k):
    """Split ``random`` into sigma² terms ``[(name, codes)]`` and at most one inner | outer term."""
    terms = [random] if isinstance(random, str) else list(random)
    sigma, gterm = [], None
    for term in terms:
        if not isinstance(term, str):
            raise InputError(f"random terms are strings such as '~ 1 | study'; got {term!r}")
        m = _TERM.match(term)
        if not m:
            raise InputError(f"cannot read random term {term!r}: use '~ 1 | a/b' or '~ inner | outer'")
        inner, outer = m["inner"].strip(), m["outer"].strip()
        if inner == "1":
            parts = [p.strip() for p in outer.split("/")]
            if not all(parts):
                raise InputError(f"empty factor name in random term {term!r}")
            cols = [_column(data, p, k) for p in parts]
            for depth in range(1, len(parts) + 1):
                keys = list(zip(*[c.tolist() for c in cols[:depth]]))
                codes = _codes(keys)
                sigma.append(("/".join(parts[:depth]), codes, cols[0] if len(parts) == 1 else None))
        else:
            if gterm is not None:
                raise InputError("only one '~ inner | outer' term is supported")
            if "/" in outer or "/" in inner:
                raise InputError(f"an '~ inner | outer' term takes single factors; got {term!r}")
            icol, ocol = _column(data, inner, k), _column(data, outer, k)
            levels = _sort_levels(icol)
            index = {lev: j for j, lev in enumerate(levels)}
            gterm = (inner, outer, np.array([index[x] for x in icol.tolist()]), _codes(ocol.tolist()),
                     tuple(str(x) for x in levels))
    return sigma, gterm


def _known_correlations(R, sigma_terms) -> dict:
    """``{term name: k x k matrix}`` from ``R`` (metafor's ``R`` with ``Rscale = "cor"``): the
    correlation of the random effects of two levels of a ``~ 1 | name`` term is known (a
    phylogeny, a spatial structure); the row of each effect is looked up by its level."""
    if R is None:
        return {}
    if not isinstance(R, dict):
        raise InputError("R must be a dict {factor name: DataFrame of correlations with the levels as index and columns}")
    import pandas as pd

    singles = {name: values for name, _, values in sigma_terms if values is not None}
    out = {}
    for name, mat in R.items():
        if name not in singles:
            raise InputError(f"R names {name!r}, which is not the factor of a '~ 1 | {name}' random term "
                             f"(terms: {', '.join(singles) or 'none'})")
        if not isinstance(mat, pd.DataFrame):
            raise InputError(f"R[{name!r}] must be a DataFrame whose index and columns are the levels of {name!r}")
        if list(mat.index) != list(mat.columns):
            raise InputError(f"R[{name!r}] must have the same levels, in the same order, as index and columns")
        C = mat.to_numpy(dtype=float)
        if not np.allclose(C, C.T) or np.any(np.diag(C) <= 0):
            raise InputError(f"R[{name!r}] must be symmetric with a positive diagonal")
        d = np.sqrt(np.diag(C))
        C = C / np.outer(d, d)  # metafor's default Rscale = "cor" (cov2cor)
        pos = {lev: i for i, lev in enumerate(mat.index)}
        try:
            idx = np.array([pos[x] for x in singles[name].tolist()])
        except KeyError as exc:
            raise InputError(f"level {exc.args[0]!r} of {name!r} is not in R[{name!r}]") from None
        out[name] = C[np.ix_(idx, idx)]
    return out


def _codes(keys) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(key, len(index)) for key in keys], dtype=int)


class _Model:
    """The marginal covariance M(theta) and its derivatives for one set of random terms."""

    def __init__(self, V, sigma_terms, gterm, struct, known=None, spherical=True):
        self.V = V
        self.k = V.shape[0]
        known = known or {}
        self.S = [known[name] if name in known else (c[:, None] == c[None, :]).astype(float)
                  for name, c, _ in sigma_terms]
        self.ns = len(self.S)
        self.struct = struct
        self.has_g = gterm is not None
        if self.has_g:
            _, _, g, o, levels = gterm
            self.g, self.O = g, (o[:, None] == o[None, :]).astype(float)
            m = self.m = len(levels)
            self.nt = m if struct in ("HCS", "UN", "DIAG") else 1
            if struct in ("CS", "HCS"):
                self.pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
                self.nr = 1 if m > 1 else 0
            elif struct == "UN":
                self.pairs = [(a, b) for a in range(m) for b in range(a + 1, m)]
                self.nr = len(self.pairs)
            else:
                self.pairs, self.nr = [], 0
            # UN's correlations through angles (see _sphere_chol) unless some are held fixed, where a
            # fixed entry needs a coordinate of its own: then one atanh per pair, as the other structs
            self.spherical = bool(spherical) and struct == "UN" and m > 1
            # indicator of each inner level per row, and of each unordered pair of rows' levels
            self.onehot = (g[:, None] == np.arange(m)[None, :]).astype(float)
            lo, hi = np.minimum(g[:, None], g[None, :]), np.maximum(g[:, None], g[None, :])
            self.pair_mask = [((lo == a) & (hi == b)).astype(float) * self.O for a, b in self.pairs]
            self.offdiag = (g[:, None] != g[None, :]).astype(float) * self.O
        else:
            self.nt = self.nr = 0
            self.spherical = False
        self.npar = self.ns + self.nt + self.nr

    def split(self, theta):
        s2 = np.exp(theta[: self.ns])
        t2 = np.exp(theta[self.ns : self.ns + self.nt])
        if self.spherical:
            R = _sphere_chol(theta[self.ns + self.nt :], self.m)[2]
            rho = np.array([R[a, b] for a, b in self.pairs])
        else:
            rho = np.tanh(theta[self.ns + self.nt :])
        return s2, t2, rho

    def G(self, t2, rho):
        m = self.m
        tau2 = np.broadcast_to(t2, (m,)) if self.nt == 1 else t2
        R = np.eye(m)
        if self.struct in ("CS", "HCS") and self.nr:
            R[~np.eye(m, dtype=bool)] = rho[0]
        elif self.struct == "UN":
            for (a, b), r in zip(self.pairs, rho):
                R[a, b] = R[b, a] = r
        sd = np.sqrt(tau2)
        return R * np.outer(sd, sd), tau2, R

    def build(self, theta):
        """M and the list of dM/dtheta_a."""
        s2, t2, rho = self.split(theta)
        M = self.V.copy()
        dM = []
        for s, S in zip(s2, self.S):
            M += s * S
            dM.append(s * S)
        if self.has_g:
            G, tau2, R = self.G(t2, rho)
            C = G[np.ix_(self.g, self.g)] * self.O
            M += C
            if self.nt == 1:
                dM.append(C)
            else:
                for a in range(self.m):
                    e = self.onehot[:, a]
                    dM.append(C * (e[:, None] + e[None, :]) / 2)
            sd = np.sqrt(tau2)[self.g]
            ss = np.outer(sd, sd)
            if self.struct in ("CS", "HCS") and self.nr:
                dM.append(ss * self.offdiag * (1 - rho[0] ** 2))
            elif self.spherical:
                dR = _sphere_chol(theta[self.ns + self.nt :], self.m)[1]
                for D in dR:
                    dM.append(ss * self.O * D[np.ix_(self.g, self.g)])
            elif self.struct == "UN":
                for r, mask in zip(rho, self.pair_mask):
                    dM.append(ss * mask * (1 - r * r))
        return M, dM


def _sphere_chol(phi, m):
    """A correlation matrix from angles: the spherical parameterisation of its Cholesky factor.

    Row i of the lower-triangular factor ``L`` is a unit vector given by i angles,
    ``L[i, j] = cos(phi_j) * prod_{l<j} sin(phi_l)`` for j < i and ``L[i, i] = prod_{l<i} sin(phi_l)``
    (the angles of row 1, then of row 2, ...). Every real ``phi`` gives a positive semi-definite
    ``R = L L'`` with unit diagonal, and every correlation matrix, singular ones included, has
    finite angles: the likelihood is smooth over all of R^n, so the optimiser never leaves the
    parameter space, and an optimum on the edge (``det R = 0``) is an ordinary stationary point.
    ``cos(phi_j)`` is the partial correlation of level i with level j given the levels before j.

    Parameters
    ----------
    phi : numpy.ndarray
        The ``m (m - 1) / 2`` angles.
    m : int
        Dimension.

    Returns
    -------
    L : numpy.ndarray
        The m x m factor.
    dR : list of numpy.ndarray
        ``dR/dphi_q`` for every angle (zero diagonal).
    R : numpy.ndarray
        The correlation matrix ``L L'`` (exactly symmetric with unit diagonal).
    """
    L = np.zeros((m, m))
    L[0, 0] = 1.0
    dL = np.zeros((len(phi), m, m))
    q0 = 0
    for i in range(1, m):
        a = phi[q0 : q0 + i]
        c, s = np.cos(a), np.sin(a)
        for j in range(i + 1):
            head = c[j] if j < i else 1.0
            L[i, j] = head * float(np.prod(s[:j]))
            for q in range(min(j + 1, i)):  # angles of row i that enter L[i, j]
                if q < j:  # through sin(phi_q): its derivative is cos(phi_q)
                    fac = s[:j].copy()
                    fac[q] = c[q]
                    dL[q0 + q, i, j] = head * float(np.prod(fac))
                else:  # q == j < i: through cos(phi_j)
                    dL[q0 + q, i, j] = -s[j] * float(np.prod(s[:j]))
        q0 += i
    R = L @ L.T
    R = (R + R.T) / 2
    np.fill_diagonal(R, 1.0)
    dR = []
    for D in dL:
        E = D @ L.T
        E = E + E.T
        np.fill_diagonal(E, 0.0)  # rows stay unit vectors
        dR.append(E)
    return L, dR, R


def _sphere_angles(R):
    """The angles of :func:`_sphere_chol` for a positive definite correlation matrix ``R``."""
    L = np.linalg.cholesky(R)
    out = []
    for i in range(1, R.shape[0]):
        for j in range(i):
            # L[i, j] = P cos(phi_j) and |L[i, j+1:i+1]| = P sin(phi_j), P >= 0 the product so far
            out.append(math.atan2(float(np.linalg.norm(L[i, j + 1 : i + 1])), float(L[i, j])))
    return np.array(out)


class _Fit:
    __slots__ = ("ll", "grad", "beta", "vb", "M", "W")


def _evaluate(model, theta, y, X, reml, logdet_xx, want_grad=True):
    # numpy's LAPACK throughout: scipy's multi-right-hand-side solvers are far slower on a busy
    # machine (threaded level-3 BLAS), and W is needed in full for the gradient anyway
    k, p = X.shape
    M, dM = model.build(theta)
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    if model.has_g and model.struct == "UN" and model.m > 2 and not model.spherical:
        _, _, rho = model.split(theta)
        try:
            np.linalg.cholesky(model.G(np.ones(model.nt), rho)[2])
        except np.linalg.LinAlgError:
            return None
    logdet_m = 2.0 * float(np.sum(np.log(np.diag(L))))
    Li = np.linalg.inv(L)
    W = Li.T @ Li
    WX = W @ X
    XWX = X.T @ WX
    try:
        Lx = np.linalg.cholesky(XWX)
    except np.linalg.LinAlgError:
        return None
    vb = np.linalg.inv(XWX)
    vb = (vb + vb.T) / 2
    Wy = W @ y
    beta = vb @ (X.T @ Wy)
    r = y - X @ beta
    Pr = Wy - WX @ beta  # = W r = P y
    rss = float(r @ Pr)
    if reml:
        ll = -0.5 * ((k - p) * _LOG2PI - logdet_xx + logdet_m + 2.0 * float(np.sum(np.log(np.diag(Lx)))) + rss)
    else:
        ll = -0.5 * (k * _LOG2PI + logdet_m + rss)
    out = _Fit()
    out.ll, out.beta, out.M, out.W, out.vb = ll, beta, M, W, vb
    if want_grad:
        A = W - WX @ vb @ WX.T if reml else W
        out.grad = np.array([-0.5 * float(np.sum(A * D)) + 0.5 * float(Pr @ D @ Pr) for D in dM])
    return out


def _optimise(model, theta0, free, y, X, reml, logdet_xx, control):
    """Maximise the (restricted) likelihood over the free entries of theta (the others stay at
    their values in ``theta0``)."""
    from scipy.optimize import minimize

    if not free.any():
        res = _evaluate(model, theta0, y, X, reml, logdet_xx)
        if res is None:
            raise InputError("the fixed variance components give a marginal covariance that is not positive definite")
        return theta0, res, True, 0

    def full(sub):
        theta = theta0.copy()
        theta[free] = sub
        return theta

    def f(sub):
        # BFGS's line search can probe far out (a log variance of 300): exp overflows and the
        # point is rejected below, which is all that is needed, so numpy's warnings are noise
        with np.errstate(over="ignore", invalid="ignore"):
            res = _evaluate(model, full(sub), y, X, reml, logdet_xx)
        if res is None or not np.isfinite(res.ll):
            return 1e300, np.zeros_like(sub)
        return -res.ll, -res.grad[free]

    opt = minimize(f, theta0[free], jac=True, method="BFGS",
                   options={"gtol": control.get("gtol", 1e-9), "maxiter": control.get("maxiter", 2000)})
    theta = opt.x
    iterations = int(opt.nit)
    # Newton polish: BFGS stops on a gradient tolerance; Newton steps on the (finite-difference)
    # Hessian of the exact gradient take interior optima to rounding level
    for _ in range(control.get("newton", 20)):
        fx, g = f(theta)
        if not np.all(np.isfinite(g)) or np.max(np.abs(g)) < 1e-12:
            break
        n = theta.size
        H = np.empty((n, n))
        for j in range(n):
            h = 1e-5 * max(1.0, abs(theta[j]))
            e = np.zeros(n)
            e[j] = h
            H[:, j] = (f(theta + e)[1] - f(theta - e)[1]) / (2 * h)
        H = (H + H.T) / 2
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        # only a descent step: on a flat boundary direction (a variance going to 0) Newton is no use
        if np.linalg.eigvalsh(H).min() <= 0:
            break
        t = 1.0
        while t > 1e-4:
            cand = theta - t * step
            if f(cand)[0] <= fx + 1e-12 * abs(fx):
                break
            t /= 2
        else:
            break
        theta = cand
        iterations += 1
    theta = full(theta)
    res = _evaluate(model, theta, y, X, reml, logdet_xx)
    if res is None:
        raise ConvergenceError("rma_mv: the likelihood could not be evaluated at the optimiser's solution "
                               "(the marginal covariance is not positive definite)")
    converged = bool(opt.success) or np.max(np.abs(res.grad[free])) < 1e-6
    return theta, res, converged, iterations


# a correlation within this of +/-1 counts as saturated: tanh's derivative 1 - rho² is then under
# 2e-4, so BFGS barely moves it and can stop at an edge where the other edge is better
_RHO_SATURATED = 1e-4
# other starts tried after a failed or saturated first fit (the first: every correlation 0.5):
# (starting correlation, factor on the starting variances). Small variances matter: from the
# first start's variances a barely identified level's tau² can reach 0 before its correlation has
# left the worse edge, after which nothing moves it
_RESTARTS = ((0.0, 1.0), (-0.5, 1.0), (0.9, 1.0), (0.0, 0.02), (0.5, 0.02), (0.9, 0.02))


def _fit(model, theta0, free, y, X, reml, logdet_xx, control):
    """:func:`_optimise` from ``theta0``, and from other starts where that fails.

    A first fit that did not converge, or that left a free correlation of an atanh-parameterised
    structure at +/-1 (a flat spot of tanh: with the variances of some levels near 0 the
    correlation is barely identified and BFGS can settle at the worse edge), is repeated from the
    starting correlations and variances of ``_RESTARTS``; the best converged fit is kept. A
    replacement has to beat a converged first fit by more than 1e-8 (relative) in log-likelihood,
    so fits without either symptom, and fits whose restarts only find the same optimum, are
    exactly the first fit.

    Returns
    -------
    tuple
        ``(theta, fit, converged, iterations)`` as :func:`_optimise`.
    """
    first = _optimise(model, theta0, free, y, X, reml, logdet_xx, control)
    c0 = model.ns + model.nt
    free_rho = free[c0:]
    if not free_rho.any():
        return first
    theta, _, converged, _ = first
    saturated = not model.spherical and bool(
        np.any(np.abs(np.tanh(theta[c0:][free_rho])) > 1 - _RHO_SATURATED))
    if converged and not saturated:
        return first
    best = first
    for r0, scale in _RESTARTS:
        start = theta0.copy()
        start[:c0][free[:c0]] += math.log(scale)  # the free variances only: fixed ones stay as given
        if model.spherical:
            # an equicorrelation matrix is positive definite only above -1/(m - 1)
            r0 = max(r0, -0.9 / (model.m - 1))
            angles = _sphere_angles(np.full((model.m, model.m), r0) + (1 - r0) * np.eye(model.m))
            start[c0:] = np.where(free_rho, angles, theta0[c0:])
        else:
            start[c0:][free_rho] = math.atanh(r0)
        try:
            cand = _optimise(model, start, free, y, X, reml, logdet_xx, control)
        except ConvergenceError:
            continue
        if not cand[2]:
            continue
        ll, ll_best = cand[1].ll, best[1].ll
        if not best[2] or ll > ll_best + 1e-8 * max(1.0, abs(ll_best)):
            best = cand
    return best


def _start(model, y, X, V):
    """Starting values: the residual variance of an OLS fit spread over the components, rho 0.5."""
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    total = max(float(np.var(y - X @ beta, ddof=0)) - float(np.mean(np.diag(V))), 0.01 * float(np.mean(np.diag(V))))
    nvar = max(model.ns + (1 if model.has_g else 0), 1)
    each = total / nvar
    if model.spherical:  # all correlations 0.5, as the atanh start of the other structures
        rho0 = _sphere_angles(np.full((model.m, model.m), 0.5) + 0.5 * np.eye(model.m))
    else:
        rho0 = np.full(model.nr, math.atanh(0.5))
    return np.concatenate([np.full(model.ns, math.log(each)), np.full(model.nt, math.log(each)), rho0])


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

_DICT_KEYS = (
    "coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "coef_names", "sigma2", "sigma2_names",
    "sigma2_nlevels", "tau2", "rho", "struct", "inner", "outer", "inner_levels", "qe", "qe_df",
    "qe_pvalue", "qm", "qm_df", "qm_df2", "qm_pvalue", "loglik", "deviance", "aic", "bic", "aicc", "k",
    "p", "method", "test", "level", "df", "converged", "iterations",
)


@dataclass(frozen=True, eq=False, repr=False)
class MultilevelResult(ResultMixin):
    """A fitted multilevel / multivariate model (metafor's ``rma.mv``).

    ``sigma2`` holds one variance per random-intercept level (named in ``sigma2_names``, e.g.
    ``("district", "district/school")``); ``tau2`` and ``rho`` the inner | outer term's variances
    and correlations (empty without one; rho pairs ordered (2,1), (3,1), ..., (3,2), ... as metafor).
    ``loglik``, ``deviance``, ``aic``, ``bic`` and ``aicc`` follow metafor's ``fitstats`` for the
    fitting method (REML: restricted likelihood). ``qm`` is a chi-square (``test="z"``) or F
    statistic (``test="t"``, df ``qm_df`` and ``qm_df2 = k - p``).
    """

    coef: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    coef_names: tuple
    vcov: np.ndarray
    sigma2: np.ndarray
    sigma2_names: tuple
    sigma2_nlevels: tuple
    tau2: np.ndarray
    rho: np.ndarray
    struct: str | None
    inner: str | None
    outer: str | None
    inner_levels: tuple
    outer_nlevels: int
    inner_k: tuple
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df: int
    qm_df2: float | None
    qm_pvalue: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    k: int
    p: int
    method: str
    test: str
    level: float
    df: float | None
    converged: bool
    iterations: int
    yi: np.ndarray
    V: np.ndarray
    X: np.ndarray
    M: np.ndarray
    has_intercept: bool
    random: tuple
    fixed: tuple = ()  # names of the components held fixed: "sigma2.1", "tau2.2", "rho.1" ...
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for name in ("coef", "se", "statistic", "pvalue", "ci_low", "ci_high", "vcov", "sigma2", "tau2", "rho",
                     "yi", "V", "X", "M"):
            getattr(self, name).setflags(write=False)

    @property
    def weights(self) -> np.ndarray:
        """The weight matrix W = M^-1 of the generalised least-squares fit."""
        W = self._cache.get("W")
        if W is None:
            W = np.linalg.inv(self.M)
            W = (W + W.T) / 2
            W.setflags(write=False)
            self._cache["W"] = W
        return W

    @property
    def vi(self) -> np.ndarray:
        return np.diag(self.V).copy()

    def to_dict(self) -> dict:
        return jsonable({key: getattr(self, key) for key in _DICT_KEYS})

    def to_frame(self):
        """One row per coefficient: estimate, se, statistic, pvalue, ci_low, ci_high."""
        return coef_frame(self)

    def variance_components(self):
        """The variance components as a DataFrame: estimate and sqrt, with number of levels."""
        import pandas as pd

        rows = []
        for j, (name, n) in enumerate(zip(self.sigma2_names, self.sigma2_nlevels)):
            rows.append({"component": f"sigma2.{j + 1}", "factor": name, "estimate": self.sigma2[j],
                         "sqrt": math.sqrt(self.sigma2[j]), "nlevels": n})
        for j, t in enumerate(self.tau2):
            lev = self.inner_levels[j] if len(self.tau2) > 1 else None
            rows.append({"component": f"tau2.{j + 1}" if len(self.tau2) > 1 else "tau2", "factor": lev or self.inner,
                         "estimate": t, "sqrt": math.sqrt(t), "nlevels": self.inner_k[j] if lev else self.outer_nlevels})
        for j, r in enumerate(self.rho):
            rows.append({"component": f"rho.{j + 1}" if len(self.rho) > 1 else "rho", "factor": self.inner,
                         "estimate": r, "sqrt": _NAN, "nlevels": self.outer_nlevels})
        return pd.DataFrame(rows)

    def confint(self, component=None, level: float | None = None):
        """Profile-likelihood confidence intervals of the variance components (metafor's
        ``confint.rma.mv``): the values where the likelihood-ratio statistic, the model refitted
        with the component held there, reaches the chi-square(1) quantile.

        Parameters
        ----------
        component : str, optional
            ``"sigma2.1"``, ``"tau2.1"``, ``"rho.1"`` ...; by default every free component.
        level : float, optional
            Default the fit's.

        Returns
        -------
        pandas.DataFrame
            One row per component: ``estimate``, ``ci_low``, ``ci_high`` and the same for its
            square root (``sqrt``, ``sqrt_ci_low``, ``sqrt_ci_high``; NaN for a correlation). A
            variance's lower bound of 0, or a correlation's bound at +/-0.99999, means the
            interval reaches it.
        """
        import pandas as pd

        lvl = self.level if level is None else check_level(level)
        names = [component] if component is not None else _free_components(self)
        rows = []
        for name in names:
            kind, j, est, _ = _component(self, name)
            lo, hi = _profile_ci(self, kind, j, est, lvl)
            if kind == "rho":  # a correlation has no square root to show
                roots = (_NAN, _NAN, _NAN)
            else:
                roots = (math.sqrt(est), math.sqrt(lo), math.sqrt(hi) if math.isfinite(hi) else hi)
            rows.append({"component": name, "estimate": est, "ci_low": lo, "ci_high": hi,
                         "sqrt": roots[0], "sqrt_ci_low": roots[1], "sqrt_ci_high": roots[2]})
        return pd.DataFrame(rows).set_index("component")

    def _fixed(self, name: str, j: int) -> str:
        return "yes" if f"{name}.{j + 1}" in self.fixed else "no"

    def _short(self) -> str:
        comps = [f"sigma2={fmt(s)}" for s in self.sigma2] + [f"tau2={fmt(t)}" for t in self.tau2] \
            + [f"rho={fmt(r)}" for r in self.rho]
        return f"{self.method} k={self.k} p={self.p} " + " ".join(comps)

    def summary(self) -> str:
        out = ["", f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        stats = [("logLik", self.loglik), ("Deviance", self.deviance), ("AIC", self.aic), ("BIC", self.bic),
                 ("AICc", self.aicc)]
        vals = [fmt(v) for _, v in stats]
        w = [max(len(n), len(v)) for (n, _), v in zip(stats, vals)]
        out.append("  ".join(n.rjust(x) for (n, _), x in zip(stats, w)))
        out.append("  ".join(v.rjust(x) for v, x in zip(vals, w)))
        out.append("")
        out.append("Variance Components:")
        out.append("")
        if len(self.sigma2):
            head = ["", "estim", "sqrt", "nlvls", "fixed", "factor"]
            rows = [[f"sigma^2.{j + 1}", fmt(s), fmt(math.sqrt(s)), str(n), self._fixed("sigma2", j), name]
                    for j, (s, n, name) in enumerate(zip(self.sigma2, self.sigma2_nlevels, self.sigma2_names))]
            out += table_lines(head, rows)
            out.append("")
        if len(self.tau2):
            out.append(f"outer factor: {self.outer} (nlvls = {self.outer_nlevels})")
            out.append(f"inner factor: {self.inner} (nlvls = {len(self.inner_levels)})")
            out.append("")
            if len(self.tau2) == 1:
                rows = [["tau^2", fmt(self.tau2[0]), fmt(math.sqrt(self.tau2[0])), self._fixed("tau2", 0)]]
                if self.struct != "ID":
                    rows.append(["rho", fmt(self.rho[0]), "", self._fixed("rho", 0)])
                out += table_lines(["", "estim", "sqrt", "fixed"], rows)
            else:
                rows = [[f"tau^2.{j + 1}", fmt(t), fmt(math.sqrt(t)), str(self.inner_k[j]), self._fixed("tau2", j), lev]
                        for j, (t, lev) in enumerate(zip(self.tau2, self.inner_levels))]
                out += table_lines(["", "estim", "sqrt", "k.lvl", "fixed", "level"], rows)
                if self.struct == "HCS":
                    out.append("")
                    out += table_lines(["", "estim", "fixed"], [["rho", fmt(self.rho[0]), self._fixed("rho", 0)]])
                elif self.struct == "UN":
                    out.append("")
                    lv = self.inner_levels
                    R = np.eye(len(lv))
                    for (a, b), r in zip([(a, b) for a in range(len(lv)) for b in range(a + 1, len(lv))], self.rho):
                        R[b, a] = r
                    head = [""] + [f"rho.{x}" for x in lv]
                    rows = [[lv[i]] + [("1" if i == j else fmt(R[i, j])) if j <= i else "" for j in range(len(lv))]
                            for i in range(len(lv))]
                    out += table_lines(head, rows)
            out.append("")
        title = "Test for Residual Heterogeneity:" if self.p > 1 or not self.has_intercept else "Test for Heterogeneity:"
        qname = "QE" if title.startswith("Test for Residual") else "Q"
        out.append(title)
        out.append(f"{qname}(df = {self.qe_df}) = {fmt(self.qe)}, p-val {p_equals(self.qe_pvalue)}")
        out.append("")
        if self.qm_df and (self.p > 1 or not self.has_intercept):
            idx = list(range(2 if self.has_intercept else 1, self.p + 1))
            out += moderator_lines(idx, self.qm, self.qm_df, self.qm_df2, self.qm_pvalue)
            out.append("")
        out.append("Model Results:")
        out.append("")
        out += coef_table(self)
        out.append("")
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------


def _data_column(data, value, name, k=None):
    if isinstance(value, str):
        if data is None:
            raise InputError(f"{name}={value!r} names a column, which needs data=")
        try:
            return np.asarray(data[value], dtype=float)
        except KeyError:
            raise InputError(f"{name}={value!r} is not a column of data") from None
    return value


def _any_given(value) -> bool:
    """Whether a ``sigma2=``/``tau2=``/``rho=`` argument fixes any component (a non-NaN entry)."""
    if value is None:
        return False
    try:
        return bool(np.any(~np.isnan(np.atleast_1d(np.asarray(value, dtype=float)))))
    except (TypeError, ValueError):
        return True  # not numbers: the checks of the fixed values report it


def _snapshot(value):
    """A copy of an argument that its owner could change in place (arrays, frames, dicts)."""
    import copy

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "copy") and not isinstance(value, dict):
        return value.copy()
    return copy.deepcopy(value)


def rma_mv(
    yi,
    V,
    *,
    mods=None,
    random=None,
    struct: str = "CS",
    data=None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    sigma2=None,
    tau2=None,
    rho=None,
    R=None,
    sparse: bool = False,
    intercept: bool = True,
    control: dict | None = None,
) -> MultilevelResult:
    """Multilevel / multivariate meta-analysis, as metafor's ``rma.mv``.

    Parameters
    ----------
    yi : array_like or str
        Effect sizes (or the name of a column of ``data``).
    V : array_like or str
        Sampling variances (a vector, or a column name) or the full k x k sampling covariance
        matrix (see :func:`shared_control_v` and :func:`correlated_outcomes_v`).
    mods : array_like, DataFrame or str, optional
        Moderators as in :func:`metaanalysis.meta_regression` (a formula such as
        ``"~ outcome - 1"`` is evaluated in ``data``).
    random : str or list of str
        Random-effects terms in metafor's syntax: ``"~ 1 | district/school"`` (nested random
        intercepts), ``"~ outcome | trial"`` (correlated effects, shaped by ``struct``), or a list
        of such terms (at most one ``inner | outer`` term).
    struct : {"CS", "HCS", "UN", "ID", "DIAG"}
        Variance structure of the ``inner | outer`` term.
    data : DataFrame or mapping
        Holds the variables named in ``random`` (and ``mods``, ``yi``, ``V`` if given by name).
    method : {"REML", "ML"}
    test : {"z", "t"}
        ``"t"``: t tests with k - p df and an F test of moderators.
    level : float
        Confidence level in percent.
    sigma2, tau2, rho : float or array_like, optional
        Fix variance components at these values (NaN entries stay free), as metafor's arguments of
        the same names; fixed components do not count as parameters in AIC and BIC.
    R : dict, optional
        Known correlations among the levels of a ``"~ 1 | name"`` term (a phylogeny, spatial
        structure): ``{name: DataFrame}`` with the levels as index and columns (scaled to a
        correlation matrix, metafor's default ``Rscale = "cor"``).
    sparse : bool
        Accepted for metafor compatibility; the matrices are dense.
    intercept : bool
        Add an intercept to array moderators (a formula says so itself).
    control : dict, optional
        ``gtol`` and ``maxiter`` for the BFGS stage, ``newton`` for the number of polishing steps.

    Returns
    -------
    MultilevelResult

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5, -0.1, 0.0, 0.4, 0.25],
    ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03],
    ...                   "district": [1, 1, 2, 2, 3, 3, 4, 4], "school": [1, 2, 1, 2, 1, 2, 1, 2]})
    >>> res = rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    >>> res.sigma2_names
    ('district', 'district/school')
    """
    from .regression import design_matrix

    # the arguments as given (some names are reused below), copied so that data edited after
    # the fit cannot change it: what a profile or a profile-likelihood interval refits with one
    # component held fixed
    call = {name: _snapshot(value) for name, value in dict(
        yi=yi, V=V, mods=mods, random=random, struct=struct, data=data, method=method, test=test,
        level=level, sigma2=sigma2, tau2=tau2, rho=rho, R=R, intercept=intercept,
        control=control).items()}
    if method not in ("REML", "ML"):
        raise InputError(f"method must be 'REML' or 'ML' for rma_mv; got {method!r}")
    if test not in ("z", "t"):
        raise InputError(f"test must be 'z' or 't' for rma_mv; got {test!r}")
    if struct not in STRUCTS:
        raise InputError(f"unknown struct {struct!r}; valid: {', '.join(STRUCTS)}")
    level = check_level(level)
    control = dict(control or {})
    y = as_float_array(_data_column(data, yi, "yi"), "yi")
    k = y.shape[0]
    Vin = _data_column(data, V, "V")
    Vm = np.asarray(Vin, dtype=float) if not isinstance(Vin, str) else Vin
    if Vm.ndim == 1 or Vm.ndim == 0:
        v = as_float_array(Vm, "V")
        if v.shape[0] != k:
            raise InputError(f"V has {v.shape[0]} variances but there are {k} effects")
        Vm = np.diag(v)
    elif Vm.shape != (k, k):
        raise InputError(f"V must be a vector of {k} variances or a {k} x {k} matrix; got shape {Vm.shape}")
    if not np.all(np.isfinite(Vm)):
        raise InputError("V has a missing or infinite entry")
    if not np.allclose(Vm, Vm.T, rtol=1e-10, atol=0):
        raise InputError("V must be symmetric")
    if np.any(np.diag(Vm) < 0):
        raise InputError(f"V has a negative variance at index {int(np.flatnonzero(np.diag(Vm) < 0)[0])}")
    if mods is None:
        X, names, has_int = np.ones((k, 1)), ("intrcpt",), True
    else:
        X, names, has_int = design_matrix(mods, data=data, intercept=intercept, k=k)
    p = X.shape[1]
    if random is None:
        raise InputError("rma_mv needs random= (such as '~ 1 | study'); for a model without random effects "
                         "use meta_regression(..., method='EE')")
    sigma_terms, gterm = _parse_random(random, data, k)
    model = _Model(Vm, sigma_terms, gterm, struct, _known_correlations(R, sigma_terms),
                   spherical=not _any_given(rho))
    if k <= p:
        # at k = p the coefficients fit every effect exactly and leave nothing to estimate a
        # variance from: the REML likelihood is flat in the components, the ML one is largest at
        # 0. metafor's rma.mv still reports them (at 0, with the coefficients' SEs from V alone);
        # a variance component read off a flat likelihood would be a number without information
        raise InputError(
            f"{p} coefficient(s) and the variance components cannot be estimated from k = {k} "
            f"effects: at least {p + 1} are needed, since with k = {p} the coefficients fit every "
            "effect exactly and no residual is left to estimate the components from (metafor's "
            "rma.mv reports them at 0 there); drop a moderator or add effects")
    reml = method == "REML"
    logdet_xx = float(np.linalg.slogdet(X.T @ X)[1])
    theta0 = _start(model, y, X, Vm)
    free = np.ones(model.npar, dtype=bool)
    fixed_names: list = []
    given_values: dict = {}
    for name, given, start, n, transform in (
        ("sigma2", sigma2, 0, model.ns, np.log),
        ("tau2", tau2, model.ns, model.nt, np.log),
        ("rho", rho, model.ns + model.nt, model.nr, np.arctanh),
    ):
        if given is None:
            continue
        vals = np.atleast_1d(np.asarray(given, dtype=float))
        if vals.shape != (n,):
            raise InputError(f"{name}= needs {n} value{'s' if n != 1 else ''} for this model (NaN for free ones); "
                             f"got {vals.size}")
        fixed = ~np.isnan(vals)
        lim_ok = (vals[fixed] >= 0).all() if name != "rho" else (np.abs(vals[fixed]) < 1).all()
        if not lim_ok:
            raise InputError(f"{name}= values must be {'non-negative' if name != 'rho' else 'in (-1, 1)'}")
        with np.errstate(divide="ignore"):
            theta0[start:start + n][fixed] = transform(vals[fixed])
        free[start:start + n][fixed] = False
        fixed_names += [f"{name}.{j + 1}" for j in np.flatnonzero(fixed)]
        given_values[name] = (fixed, vals)
    theta, fit, converged, iterations = _fit(model, theta0, free, y, X, reml, logdet_xx, control)
    if not converged:
        raise ConvergenceError(f"rma_mv: the optimiser did not converge (BFGS from {theta0.tolist()}, then Newton "
                               "steps); try other control= settings or a simpler random structure")
    s2, t2, rho = model.split(theta)
    # report fixed components exactly as given (not through exp(log(x)))
    for name, arr in (("sigma2", s2), ("tau2", t2), ("rho", rho)):
        if name in given_values:
            mask, vals = given_values[name]
            arr[mask] = vals[mask]
    if model.has_g:
        t2 = np.broadcast_to(t2, (1,)) if model.nt == 1 else t2
        if struct in ("ID", "DIAG"):
            rho = np.zeros(1)  # metafor reports the fixed correlation 0
    beta, vb = fit.beta, fit.vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    df = None if test == "z" else float(k - p)
    pval = np.asarray(two_sided_p(stat, df), dtype=float)
    crit = critical_value(level, df)
    # QE: residual heterogeneity with the sampling covariances only
    Vi = np.linalg.inv(Vm)
    ViX = Vi @ X
    P0 = Vi - ViX @ np.linalg.solve(X.T @ ViX, ViX.T)
    qe = max(float(y @ P0 @ y), 0.0)
    qe_p = float(chdtrc(k - p, qe))
    btt = list(range(1, p)) if has_int and p > 1 else list(range(p))
    if has_int and p == 1:
        btt = [0]
    b = beta[btt]
    qm = float(b @ np.linalg.solve(vb[np.ix_(btt, btt)], b))
    m = len(btt)
    if df is None:
        qm_df2, qm_p = None, float(chdtrc(m, qm))
    else:
        qm, qm_df2 = qm / m, df
        qm_p = float(fdtrc(m, df, qm))
    # fit statistics as metafor's fitstats: parameters = coefficients + free variance components
    parms = p + int(free.sum())
    ll = float(fit.ll)
    if reml:
        dev = -2 * ll
        n_eff = k - p
    else:
        ll_sat = -0.5 * (k * _LOG2PI + float(np.linalg.slogdet(Vm)[1]))
        dev = -2 * (ll - ll_sat)
        n_eff = k
    aic = -2 * ll + 2 * parms
    bic = -2 * ll + parms * math.log(n_eff)
    aicc = -2 * ll + 2 * parms * max(n_eff, parms + 2) / (max(n_eff, parms + 2) - parms - 1)
    if gterm is not None:
        inner, outer, g, o, levels = gterm
        inner_k = tuple(int(np.unique(o[g == j]).size) for j in range(len(levels)))
        outer_n = int(np.unique(o).size)
    else:
        inner = outer = None
        levels, inner_k, outer_n = (), (), 0
    res = MultilevelResult(
        beta, se, stat, pval, beta - crit * se, beta + crit * se, tuple(names), vb,
        np.array(s2, dtype=float), tuple(n for n, _, _ in sigma_terms),
        tuple(int(c.max()) + 1 for _, c, _ in sigma_terms), np.array(t2, dtype=float) if gterm else np.zeros(0),
        np.array(rho, dtype=float) if gterm else np.zeros(0), struct if gterm else None, inner, outer,
        tuple(levels), outer_n, inner_k, qe, k - p, qe_p, qm, m, qm_df2, qm_p, ll, dev, aic, bic, aicc, k, p,
        method, test, level, df, converged, iterations, y.copy(), Vm.copy(), X.copy(), fit.M.copy(), has_int,
        tuple([random] if isinstance(random, str) else random), tuple(fixed_names),
    )
    res._cache["call"] = call
    return res


# --------------------------------------------------------------------------------------------
# Profiles and profile-likelihood intervals of the variance components
# --------------------------------------------------------------------------------------------


def _free_components(res) -> list:
    names = [f"sigma2.{j + 1}" for j in range(len(res.sigma2))]
    names += [f"tau2.{j + 1}" for j in range(len(res.tau2))]
    if res.struct not in ("ID", "DIAG"):  # there the correlation is 0 by the structure
        names += [f"rho.{j + 1}" for j in range(len(res.rho))]
    return [n for n in names if n not in res.fixed]


def _values(res, kind: str) -> np.ndarray:
    return {"sigma2": res.sigma2, "tau2": res.tau2, "rho": res.rho}[kind]


def _component(res, name):
    """``(kind, index, estimate, label)`` of a component name such as ``"sigma2.2"``."""
    m = re.fullmatch(r"(sigma2|tau2|rho)\.(\d+)", str(name))
    if m is None or (m.group(1) == "rho" and res.struct in ("ID", "DIAG")):
        raise InputError(f"component={name!r}: use one of "
                         + ", ".join(repr(n) for n in _free_components(res)))
    kind, j = m.group(1), int(m.group(2)) - 1
    values = _values(res, kind)
    if not 0 <= j < len(values):
        raise InputError(f"component={name!r}: the model has {len(values)} {kind} "
                         f"component{'s' if len(values) != 1 else ''}")
    if name in res.fixed:
        raise InputError(f"{name} was fixed in this fit: there is no estimate to profile")
    if "call" not in res._cache:
        raise InputError("this result was not made by rma_mv(); refit it to profile it")
    if kind == "sigma2":
        label = f"\u03c3\u00b2 of {res.sigma2_names[j]}"
    elif kind == "rho":
        label = f"\u03c1{'' if len(res.rho) == 1 else f' {j + 1}'} ({res.inner} | {res.outer})"
    else:
        lev = res.inner_levels[j] if len(res.tau2) > 1 else None
        label = f"\u03c4\u00b2{' of ' + str(lev) if lev else ''} ({res.inner} | {res.outer})"
    return kind, j, float(values[j]), label


def _refit_at(res, kind: str, j: int, value: float):
    """The model refitted with component ``kind`` number ``j`` held at ``value``."""
    call = dict(res._cache["call"])
    n = len(_values(res, kind))
    given = call.get(kind)
    vec = np.full(n, np.nan) if given is None else np.atleast_1d(np.asarray(given, float)).copy()
    vec[j] = value
    call[kind] = vec
    return rma_mv(**call)


def profile_mv(res, component: str = "sigma2.1", *, xlim=None, steps: int = 20,
               lltol: float = 1e-3):
    """The (restricted) log-likelihood of a multilevel model over one variance component, the
    others re-estimated at each value, as metafor's ``profile.rma.mv``.

    A peaked profile says the component is identified; a flat one, or one that rises to the end
    of the range, says the data hardly inform it (a common finding with few clusters).

    Parameters
    ----------
    res : MultilevelResult
        A fit from :func:`metaanalysis.rma_mv`.
    component : str
        ``"sigma2.1"``, ``"sigma2.2"`` ..., ``"tau2.1"`` ... or ``"rho.1"`` ...
    xlim : (float, float), optional
        The range; by default, as metafor, from a quarter of the estimate to 4 times it (at least
        0.1), or for a correlation the estimate +/- 0.5 within +/-0.99999.
    steps : int
    lltol : float
        Tolerance of the check that no value beats the fit's log-likelihood.

    Returns
    -------
    ProfileResult

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5, -0.1, 0.0, 0.4, 0.25],
    ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03],
    ...                   "district": [1, 1, 2, 2, 3, 3, 4, 4], "school": [1, 2, 1, 2, 1, 2, 1, 2]})
    >>> res = rma_mv("yi", "vi", random="~ 1 | district/school", data=d)
    >>> prof = profile_mv(res, "sigma2.1", steps=5)
    >>> len(prof.grid), prof.label
    (5, 'σ² of district')
    """
    from .diagnostics import ProfileResult, _above_the_fit, profile_args

    if not isinstance(res, MultilevelResult):
        raise InputError(f"profile_mv takes a fit from rma_mv(); got {type(res).__name__} (use "
                         "profile_tau2 for pool() and meta_regression() fits)")
    kind, j, est, label = _component(res, component)
    steps, given = profile_args(steps, xlim)
    if given is None:
        if kind == "rho":
            lo, hi = max(-_RHO_EDGE, est - 0.5), min(_RHO_EDGE, est + 0.5)
        else:
            lo, hi = max(0.0, est / 4), max(0.1, est * 4)
    else:
        lo, hi = given
        if kind != "rho" and lo < 0:
            raise InputError(f"xlim starts at {lo:g}: a variance cannot be negative")
        if kind == "rho" and not (-1 < lo and hi < 1):
            raise InputError(f"xlim must lie within (-1, 1) for a correlation; got {xlim!r}")
    grid = np.linspace(lo, hi, steps)
    ll = np.empty(steps)
    beta = np.empty((steps, res.p))
    ci_low = np.empty((steps, res.p))
    ci_high = np.empty((steps, res.p))
    for i, v in enumerate(grid):
        try:
            fit = _refit_at(res, kind, j, float(v))
        except ConvergenceError:
            ll[i] = beta[i] = ci_low[i] = ci_high[i] = np.nan  # metafor records NA
            continue
        ll[i] = fit.loglik
        beta[i], ci_low[i], ci_high[i] = fit.coef, fit.ci_low, fit.ci_high
    higher = _above_the_fit(ll, float(res.loglik), lltol)
    return ProfileResult(component, label, grid, ll, beta, ci_low, ci_high, tuple(res.coef_names),
                         est, float(res.loglik), res.method, res.method == "REML",
                         (float(lo), float(hi)), higher)


def _profile_ci(res, kind: str, j: int, est: float, level: float) -> tuple:
    """The profile-likelihood interval of one component (see MultilevelResult.confint)."""
    from scipy.optimize import brentq
    from scipy.special import chdtri

    target = float(chdtri(1, 1 - level / 100))

    def f(v):
        return -2 * (_refit_at(res, kind, j, v).loglik - res.loglik) - target

    if kind == "rho":
        # a correlation's interval is searched within (-1, 1); a bound at the edge means the
        # interval reaches it
        edges = []
        for end in (-_RHO_EDGE, _RHO_EDGE):
            a, b = sorted((est, end))
            edges.append(brentq(f, a, b, xtol=1e-14, rtol=1e-12) if f(end) > 0 else end)
        return float(edges[0]), float(edges[1])
    lower = 0.0
    if est > 0 and f(0.0) > 0:
        lower = brentq(f, 0.0, est, xtol=1e-14, rtol=1e-12)
    upper, hi = math.nan, max(est, 1e-4) * 2
    for _ in range(40):  # widen until the statistic passes the quantile
        if f(hi) > 0:
            upper = brentq(f, est, hi, xtol=1e-14, rtol=1e-12)
            break
        hi *= 2
    else:
        upper = math.inf
    return float(lower), float(upper)
