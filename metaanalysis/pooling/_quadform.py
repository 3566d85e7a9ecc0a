"""The upper tail P(Q > q) of a positive quadratic form Q = sum_j lam_j X_j, X_j ~ chi-square(1).

The generalised Q statistic of ``GENQ`` has this distribution (Jackson 2013), and its interval for
tau² inverts it, so the tail probability must be right, and inside [0, 1], for every set of weights
the root search visits. Three methods, each of which says when it has failed, are tried in turn:

1. Imhof's (1961) inversion formula, integrated to a stated accuracy: a composite Gauss-Legendre
   rule over pieces short against both the oscillation and the decay of the integrand (10- and
   20-point rules on each piece; their difference is the error estimate), up to a point beyond which
   Imhof's bound on the integrand proves the rest negligible, or, if that point is too far out for
   the pieces, QUADPACK's Fourier-integral routine (QAWF) for the rest, whose result must also lie
   within that bound. Failure: an error estimate above 1e-9, a non-finite value, or a value outside
   [0, 1] by more than that.
2. Ruben's (1962) series, the representation behind Farebrother's (1984) algorithm AS 204 that
   metafor uses (via CompQuadForm): P(Q <= q) = sum_k c_k F_{n + 2k}(q / beta) with beta =
   min(lam), where the c_k are the probabilities of a sum of negative binomial variables, so the
   mass not yet summed bounds the truncation error. It gives small tail probabilities to full
   relative accuracy, and is used for those (where Imhof's absolute accuracy is not enough) and
   when Imhof fails. Failure: more than 100,000 terms needed (eigenvalues spanning more than about
   a factor 1,000) or unsummed mass above 1e-11.
3. Liu, Tang & Zhang's (2009) moment approximation: a chi-square matched in its first moments,
   always finite, exact for one eigenvalue and for equal eigenvalues, accurate to about 1e-3
   otherwise. The last resort.

One eigenvalue, or equal eigenvalues, give a scaled chi-square: computed exactly, no integral.
The result is always clipped to [0, 1].

References: Imhof JP (1961) *Biometrika* 48, 419-426; Ruben H (1962) *Ann. Math. Stat.* 33,
542-570; Farebrother RW (1984) *Appl. Stat.* 33, 332-339 (AS 204); Liu H, Tang Y, Zhang HH (2009)
*Comput. Stat. Data Anal.* 53, 853-856; Duchesne P, Lafaye de Micheaux P (2010) *Comput. Stat.
Data Anal.* 54, 858-862 (CompQuadForm).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
from scipy.special import chdtrc

__all__ = ["upper_tail", "imhof", "ruben", "liu_tang_zhang", "chernoff_bound"]

# Imhof: the truncated tail of the integral is bounded by this; the quadrature error must stay
# below _IMHOF_TOL (the interval for tau² needs tail probabilities to about 1e-7).
_TAIL_EPS = 1e-12
_IMHOF_TOL = 1e-9
_MAX_PIECES = 3000
# Ruben's series: at most this many terms, unsummed mass at most _RUBEN_TOL.
_RUBEN_MAX_TERMS = 100_000
_RUBEN_TOL = 1e-11
_DIRECT_CONVOLUTION = 2_000_000  # (eigenvalues x terms²) up to which c_k are summed directly
# below this Imhof's absolute accuracy leaves few correct digits: Ruben's series is tried for them
_SMALL_TAIL = 1e-6
# eigenvalues that agree to this relative spread are treated as equal (exact chi-square)
_EQUAL_RTOL = 1e-13


class QuadformFailure(ArithmeticError):
    """A method could not deliver the tail probability to its stated accuracy."""


def upper_tail(q: float, lam) -> float:
    """P(sum_j lam_j X_j > q) for X_j independent chi-square(1) and lam_j >= 0, in [0, 1].

    Imhof's integral, then Ruben's series (Farebrother's method), then Liu-Tang-Zhang's
    approximation, each used when the one before reports a failure (see the module docstring).
    ``lam`` may hold zeros (and round-off below zero, down to -1e-8 max(lam)); they do not contribute.

    Examples
    --------
    >>> round(upper_tail(3.0, [1.0]), 10) == round(float(chdtrc(1, 3.0)), 10)
    True
    >>> 0.0 <= upper_tail(152.2, [19494.8, 10411.0, 5981.7, 2873.2, 1863.0, 1555.7]) <= 1.0
    True
    """
    lam = np.asarray(lam, dtype=float).ravel()
    if not np.all(np.isfinite(lam)) or math.isnan(q):
        raise ValueError(f"upper_tail needs finite eigenvalues and a quantile; got {q!r}, {lam!r}")
    top = float(lam.max()) if lam.size else 0.0
    if lam.size and float(lam.min()) < -1e-8 * max(top, 0.0):
        raise ValueError("upper_tail is for positive quadratic forms: the eigenvalues must be >= 0")
    if top <= 0.0:  # Q = 0
        return 1.0 if q < 0 else 0.0
    if q <= 0:
        return 1.0
    if math.isinf(q):
        return 0.0
    lam = np.sort(lam[lam > 0])[::-1] / top  # largest first, scaled to max 1 (P is scale-free)
    x = q / top
    if x == 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    n = lam.size
    if n == 1 or lam[-1] >= 1.0 - _EQUAL_RTOL:
        return _clip(float(chdtrc(n, x / float(lam.mean()))))
    bound = chernoff_bound(x, lam)
    if bound < _SMALL_TAIL:
        # in the upper tail, where Imhof's absolute accuracy leaves few digits (and its integrand
        # oscillates fast): Ruben's series, if it is cheap here, gives them all
        try:
            return min(_clip(ruben(x, lam, refine=True)), bound)
        except QuadformFailure:
            if bound <= _TAIL_EPS:  # any value in [0, bound] is within the accuracy asked for
                return min(_clip(liu_tang_zhang(x, lam)), bound)
    try:
        return _clip(imhof(x, lam))
    except QuadformFailure:
        pass
    try:
        return _clip(ruben(x, lam))
    except QuadformFailure:
        pass
    return _clip(liu_tang_zhang(x, lam))


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p))


def chernoff_bound(x: float, lam: np.ndarray) -> float:
    """Chernoff's bound P(Q > x) <= min_s exp(-s x) prod_j (1 - 2 s lam_j)^(-1/2), 0 <= s < 1 / (2 max
    lam): 1 when x is at most the mean sum(lam); else the minimum, found by bisection on the
    derivative (increasing in s)."""
    mean = float(lam.sum())
    if x <= mean:
        return 1.0
    lo, hi = 0.0, 0.5 / float(lam.max())
    with np.errstate(divide="ignore"):  # at s next to 1 / (2 max lam) the sum is infinite: too far
        for _ in range(60):
            s = 0.5 * (lo + hi)
            if float(np.sum(lam / (1.0 - 2.0 * s * lam))) < x:
                lo = s
            else:
                hi = s
    s = lo
    return min(1.0, math.exp(-s * x - 0.5 * float(np.sum(np.log1p(-2.0 * s * lam)))))


# --------------------------------------------------------------------------------------------
# Imhof's inversion formula.
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _gauss(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def _integrand(u, lam, half_q):
    """sin(theta(u)) / (u rho(u)) and, separately, the amplitude and phase (without -q u / 2)."""
    lu = lam[:, None] * u[None, :]
    phase = 0.5 * np.arctan(lu).sum(axis=0)
    amp = np.exp(-0.25 * np.log1p(lu * lu).sum(axis=0)) / u
    return np.sin(phase - half_q * u) * amp


def _truncation_point(lam, eps):
    """A U with int_U^inf 1 / (u rho(u)) du <= eps (Imhof's bound with the m largest eigenvalues,
    the best m): rho(u) >= prod_{j <= m} sqrt(lam_j u), so the integral is at most
    2 / (m U^{m/2} prod sqrt(lam_j))."""
    m = np.arange(1, lam.size + 1)
    logs = np.cumsum(np.log(lam))  # lam sorted largest first
    log_u = (2.0 / m) * (np.log(2.0 / m) - math.log(eps) - 0.5 * logs)
    return float(np.exp(min(np.min(log_u), 700.0)))


def _tail_bound(lam, u):
    """Imhof's bound on |int_u^inf f|: min over m of 2 / (m u^{m/2} prod_{j <= m} sqrt(lam_j))."""
    m = np.arange(1, lam.size + 1)
    logs = np.cumsum(np.log(lam))
    return float(np.exp(np.min(np.log(2.0 / m) - 0.5 * m * math.log(u) - 0.5 * logs)))


def _pieces(lam, x, u_end):
    """Breakpoints of [0, u_end]: on [0, 1] uniform; on each [2^i, 2^(i+1)] uniform again, with each
    piece short enough that the phase of the integrand moves by at most pi/2 across it (its rate is
    at most q/2 + n/(4u) beyond u, and q/2 + sum(lam)/2 on [0, 1]). Returns the edges and whether
    ``u_end`` was reached within the piece budget (else the last edge is where the budget ran out)."""
    n = lam.size
    half_q = 0.5 * x
    per = 2.0 / math.pi  # pieces per unit of phase for pi/2 a piece
    n0 = max(2, math.ceil((half_q + 0.5 * float(lam.sum())) * per * min(1.0, u_end)))
    edges = [np.linspace(0.0, min(1.0, u_end), n0 + 1)]
    count = n0
    lo = 1.0
    reached = u_end <= 1.0
    while not reached:
        hi = min(2.0 * lo, u_end)
        rate = half_q + n / (4.0 * lo)
        m = max(2, math.ceil(rate * (hi - lo) * per))
        if count + m > _MAX_PIECES:
            break
        edges.append(np.linspace(lo, hi, m + 1)[1:])
        count += m
        lo = hi
        reached = hi >= u_end
    return np.concatenate(edges), reached


def imhof(x: float, lam: np.ndarray) -> float:
    """Imhof's P(Q > x) for eigenvalues ``lam`` sorted largest first with max 1 (x on that scale).

    Raises :class:`QuadformFailure` when the stated accuracy cannot be shown.
    """
    half_q = 0.5 * x
    u_end = _truncation_point(lam, _TAIL_EPS)
    edges, reached = _pieces(lam, x, u_end)
    a, b = edges[:-1], edges[1:]
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    total = 0.0
    est = []
    for n in (10, 20):
        gx, gw = _gauss(n)
        u = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
        f = _integrand(u, lam, half_q).reshape(mid.size, n)
        est.append(float((f @ gw) @ half))
    head, err = est[1], abs(est[1] - est[0])
    total = head
    if not reached:
        u1 = float(edges[-1])
        bound = _tail_bound(lam, u1)
        if bound > _TAIL_EPS:
            tail, tail_err = _qawf_tail(lam, half_q, u1)
            if not abs(tail) <= bound * (1.0 + 1e-6) + 1e-15:
                raise QuadformFailure(f"Imhof: the Fourier tail {tail!r} exceeds its bound {bound!r}")
            total += tail
            err += tail_err
    p = 0.5 + total / math.pi
    if not (math.isfinite(p) and err / math.pi <= _IMHOF_TOL and -_IMHOF_TOL <= p <= 1.0 + _IMHOF_TOL):
        raise QuadformFailure(f"Imhof: result {p!r} with error estimate {err / math.pi!r}")
    return p


def _qawf_tail(lam, half_q, u1):
    """int_u1^inf sin(A(u) - q u / 2) / (u rho(u)) du by QAWF: the non-oscillating amplitudes times
    cos(q u / 2) and sin(q u / 2)."""
    from scipy.integrate import IntegrationWarning, quad

    def parts(u):
        lu = lam * u
        a = 0.5 * float(np.arctan(lu).sum())
        d = u * math.exp(0.25 * float(np.log1p(lu * lu).sum()))
        return a, d

    def cos_amp(u):
        a, d = parts(u)
        return math.sin(a) / d

    def sin_amp(u):
        a, d = parts(u)
        return math.cos(a) / d

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        c, ce = quad(cos_amp, u1, np.inf, weight="cos", wvar=half_q, limlst=200, epsabs=1e-13)
        s, se = quad(sin_amp, u1, np.inf, weight="sin", wvar=half_q, limlst=200, epsabs=1e-13)
    return c - s, ce + se


# --------------------------------------------------------------------------------------------
# Ruben's series (Farebrother's method).
# --------------------------------------------------------------------------------------------


def ruben(x: float, lam: np.ndarray, refine: bool = False) -> float:
    """Ruben's series for P(Q > x), ``lam`` > 0 (any order, any scale consistent with ``x``).

    With beta = min(lam) and gamma_j = 1 - beta / lam_j in [0, 1), Q / beta is a mixture of
    chi-square(n + 2K) variables, K the sum of independent negative binomial(1/2, gamma_j) counts,
    so P(Q > x) = sum_k P(K = k) P(chi2_{n+2k} > x / beta). The probabilities P(K = k) are formed by
    convolving the counts' probabilities (FFT); the mass beyond the last term bounds the error.
    Raises :class:`QuadformFailure` when too many terms would be needed, or, with ``refine`` (a
    small tail probability already known to absolute accuracy, wanted to relative accuracy), when the
    direct sums that give it would take more than a few milliseconds.
    """
    lam = np.asarray(lam, dtype=float)
    n = lam.size
    beta = float(lam.min())
    gamma = 1.0 - beta / lam
    gamma = gamma[gamma > 0]
    mean = float(np.sum(0.5 * gamma / (1.0 - gamma)))
    sd = math.sqrt(float(np.sum(0.5 * gamma / (1.0 - gamma) ** 2)))
    # enough terms for the counts' geometric tails (rate max gamma) and to pass x / (2 beta), where
    # the chi-square tails become large, so that small tail probabilities keep their digits
    rate = -math.log(float(gamma.max())) if gamma.size else math.inf
    half_x = 0.5 * x / beta
    terms = int(mean + 8.0 * sd + 30.0 / rate + 50.0)
    terms = max(terms, int(half_x + 10.0 * math.sqrt(half_x) + 50.0)) if half_x < _RUBEN_MAX_TERMS else terms
    if terms > _RUBEN_MAX_TERMS:
        raise QuadformFailure(f"Ruben: {terms} terms needed (eigenvalues too spread)")
    direct = gamma.size * terms * terms <= _DIRECT_CONVOLUTION
    if refine and not direct:
        raise QuadformFailure("Ruben: relative accuracy in the tail would take too long")
    m = np.arange(1, terms)
    pmfs = []
    for g in gamma:
        # negative binomial(1/2, g): p_0 = sqrt(1 - g), p_m = p_{m-1} (2m - 1) / (2m) g
        pm = np.empty(terms)
        pm[0] = math.sqrt(1.0 - g)
        pm[1:] = pm[0] * np.cumprod((2.0 * m - 1.0) / (2.0 * m) * g)
        pmfs.append(pm)
    if direct:
        # direct sums of non-negative products: every c_k to full relative accuracy
        c = np.zeros(terms)
        c[0] = 1.0
        for pm in pmfs:
            c = np.convolve(c, pm)[:terms]
    else:  # FFT: fast, accurate to about 1e-16 absolute
        size = 1 << max(4, (2 * terms - 1).bit_length())
        spec = np.ones(size // 2 + 1, dtype=complex)
        for pm in pmfs:
            spec *= np.fft.rfft(pm, size)
        c = np.maximum(np.fft.irfft(spec, size)[:terms], 0.0)
    missing = 1.0 - float(c.sum())
    if not missing <= _RUBEN_TOL:
        raise QuadformFailure(f"Ruben: unsummed mass {missing!r} after {terms} terms")
    tail = chdtrc(n + 2.0 * np.arange(terms), x / beta)
    p = float(c @ tail)
    if not (math.isfinite(p) and -_RUBEN_TOL <= p <= 1.0 + _RUBEN_TOL):
        raise QuadformFailure(f"Ruben: result {p!r}")
    return p


# --------------------------------------------------------------------------------------------
# Liu, Tang & Zhang's moment-matching approximation.
# --------------------------------------------------------------------------------------------


def liu_tang_zhang(x: float, lam: np.ndarray) -> float:
    """Liu-Tang-Zhang's approximation of P(Q > x): a (noncentral) chi-square matched to the mean,
    variance and skewness (and, where it can, the kurtosis) of Q. For a central positive form
    s1² <= s2 always (Cauchy-Schwarz), so the match is a central chi-square with l = c2³ / c3²
    degrees of freedom; exact for one eigenvalue and for equal eigenvalues."""
    from scipy.special import chndtr

    lam = np.asarray(lam, dtype=float)
    c1, c2, c3, c4 = (float(np.sum(lam**j)) for j in (1, 2, 3, 4))
    s1 = c3 / c2**1.5
    s2 = c4 / c2**2
    if s1 * s1 > s2:
        a = 1.0 / (s1 - math.sqrt(s1 * s1 - s2))
        delta = s1 * a**3 - a * a
        dof = a * a - 2.0 * delta
    else:
        a = 1.0 / s1
        delta = 0.0
        dof = c2**3 / c3**2
    t = (x - c1) / math.sqrt(2.0 * c2)
    xx = t * math.sqrt(2.0) * a + dof + delta
    if xx <= 0.0:
        return 1.0
    if delta == 0.0:
        return float(chdtrc(dof, xx))
    return 1.0 - float(chndtr(xx, dof, delta))
