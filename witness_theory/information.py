"""Certified information (T13): a lower confidence bound, in nats, on what a code says about the teacher.

T13 (``docs/theory.md``): for rows X, a teacher posterior T(X) in the simplex, Y ~ T(X), a code
Z of the row (the encoder mean, or a sample z ~ q(z|x)) and any latent-only predictor h fixed
before the evaluation rows are seen,

    G_h = E[ sum_k T_k(X) log h_k(Z) ] + H(Tbar) <= I(Y; Z) <= I(X; Z) <= E_X KL(q(z|X) || p(z)).

The held-out margin G_h(E) is a plug-in estimate of G_h on the evaluation rows; on its own it
carries no error rate. :func:`information_bound` turns it into a one-sided (1 - delta) lower
confidence bound LCB <= G_{h_eps} <= I(Y; Z), valid for i.i.d. evaluation rows with no other
assumption on the distribution (proof in ``docs/theory.md``, T13, "finite-sample bound"):

1. the predictor is mixed with the uniform distribution, h_eps = (1 - eps) h + eps / K: still
   latent-only (so T13 applies to it), and its per-row term a_i = sum_k T_ik log h_eps,k(Z_i)
   lies in [log(eps / K), 0];
2. E[a] >= a lower confidence bound by betting (Waudby-Smith & Ramdas 2024; :func:`betting_lower_bound`)
   at delta / 2 (sharper than the empirical-Bernstein width of Maurer & Pontil 2009, Thm 4, also here);
3. H(Tbar) >= H(Tbar'_E) - w_H - pen, Tbar' the marginal of the teacher mixed with gamma of the
   uniform: concavity gives H(Tbar'_E) - H(Tbar') <= mean(v) - E v for v_i = -sum_k T'_ik log Tbar'_k,
   a term whose variance is at most the varentropy of Tbar'. With probability >= 1 - delta/8,
   Tbar' lies in a Bernstein confidence box around Tbar'_E (:func:`marginal_box`), which bounds
   that varentropy (:func:`box_varentropy`, capped by :func:`max_varentropy` (K)) and the range of
   v; Bernstein's inequality at 3 delta/8 then bounds the deviation (:func:`entropy_width`), and the
   continuity of entropy (Audenaert 2007) bounds |H(Tbar) - H(Tbar')| <= gamma log(K-1) + h_b(gamma).

Also: an exact permutation p-value (:func:`permutation_pvalue`) for the null "the teacher rows are
independent of the codes" (h fixed), a percentile bootstrap interval for comparison (no
guarantee), and the three verdict levels (:func:`verdict`).

Shapes: teacher rows (N, K); log-probabilities of the predictor (N, K), or (N, M, K) for M
sampled codes per row (the posterior certificate: a row's term is its mean over the M draws).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from .defaults import DELTA
from .ledger import DEFAULT_RTOL, Theorem, relation
from .validation import as_float_array, check_distributions, check_finite_number, check_nonneg_number, check_seed, real_float

# What ``import witness_theory`` re-exports; the building blocks (max_varentropy, marginal_box,
# box_varentropy, entropy_width, mixing_weight, empirical_bernstein_width, bernstein_width, holm,
# information_terms) are used from this module.
__all__ = [
    "DEFAULT_DELTA", "DEFAULT_PERMUTATIONS", "VERDICTS", "InformationBound", "information_bound",
    "permutation_pvalue", "bootstrap_lcb", "verdict", "certified_active_units", "T13",
]

DEFAULT_DELTA = DELTA         # the error rate of every certified-information verdict (config key train.delta)
DEFAULT_PERMUTATIONS = 999    # permutations of the exact test: p-values on a grid of 1/1000
TEACHER_MIX = 1e-3            # gamma: costs gamma log(K-1) + h_b(gamma) <= 0.011 nats for K <= 100
VERDICTS = ("certified", "positive, not significant", "not certified")


# ---------------------------------------------------------------------------------------
# Concentration inequalities (distribution-free, i.i.d. rows)
# ---------------------------------------------------------------------------------------

def empirical_bernstein_width(values: np.ndarray, value_range: float, delta: float) -> float:
    """Not used by the bound (step 2 bets instead): the comparison docs/theory.md quotes for the mean term.
    w such that P(E X < mean(X) - w) <= delta for n i.i.d. X_i in an interval of length
    ``value_range`` (Maurer & Pontil 2009, Theorem 4, scaled from [0, 1]):
    w = sqrt(2 V_n ln(2/delta) / n) + 7 R ln(2/delta) / (3 (n - 1)), V_n the unbiased sample variance."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n < 2:
        return math.inf
    log_term = math.log(2.0 / delta)
    var = float(x.var(ddof=1))
    return math.sqrt(2.0 * var * log_term / n) + 7.0 * value_range * log_term / (3.0 * (n - 1))


BETTING_TRUNCATION = 0.5   # c of lambda_i <= c / m (Waudby-Smith & Ramdas 2024, Sec. 5: 1/2 or 3/4)


def betting_lower_bound(values: np.ndarray, delta: float, *, seed: int = 0, bet_delta: float | None = None) -> float:
    """A (1 - delta) lower confidence bound on E X from n i.i.d. X_i in [0, 1], by betting
    (Waudby-Smith & Ramdas 2024, JRSS-B 86:1, "Estimating means of bounded random variables by
    betting", the predictable plug-in hedged capital process, one-sided).

    For a candidate mean m, the capital K_n(m) = prod_i (1 + lambda_i(m) (X_i - m)) with
    lambda_i(m) = min(sqrt(2 ln(1/delta) / (n s2_{i-1})), c / m) >= 0 chosen from X_1..X_{i-1} only
    (s2 the running variance estimate (1/4 + sum_{j<i} (X_j - mu_j)^2) / i, mu_j the running mean
    (1/2 + sum_{k<=j} X_k) / (j + 1)). At the true mean, E[1 + lambda_i (X_i - m) | past] = 1, so
    K_n(mean) is a nonnegative martingale with E K_n = 1, and P(K_n(mean) >= 1/delta) <= delta
    (Markov). K_n(m) decreases in m, so {m : K_n(m) < 1/delta} = [L, 1], and L <= mean with
    probability >= 1 - delta. L is found by bisection (60 halvings). The rows are taken in the
    order of a permutation drawn from ``seed`` before looking at the values (any fixed order is
    valid for i.i.d. rows; the seed makes the bound reproducible). Every factor is >= 1 - c > 0.
    ``bet_delta`` (default ``delta``) sets the bets' size only: with it fixed, the capital does not
    depend on ``delta`` and the bound increases with ``delta``, which a p-value read off a grid of
    levels needs (:func:`certified_active_units`); any value keeps the bound valid.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size < 1:
        return 0.0
    return float(_betting_bound(_BettingCapital(x[None], delta if bet_delta is None else bet_delta, seed), delta)[0])


def _betting_bound(log_capital, delta: float) -> np.ndarray:
    """The bisection of :func:`betting_lower_bound` over m, for each row of a capital from
    :func:`_BettingCapital` at once: (U,). Row by row the same steps as a scalar bisection."""
    threshold = math.log(1.0 / delta)
    rejected_at_0 = log_capital.at_zero() >= threshold    # else not even m = 0 is rejected: the bound is 0
    lo, hi = np.zeros(log_capital.rows), np.ones(log_capital.rows)   # log_capital(lo) >= threshold; <= 0 at m = 1
    for _ in range(60):   # (mutmut: 61 halvings, and `>` for `>=` (ties) below, are equivalent)
        mid = 0.5 * (lo + hi)
        up = log_capital(mid) >= threshold
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(rejected_at_0, lo, 0.0)


class _BettingCapital:
    """m -> log K_n(m) for each row of ``values`` (U, n), n >= 1: the log capital of
    :func:`betting_lower_bound`'s bets (sized for ``bet_delta``, the rows' values in the order of
    ``seed``'s permutation, clipped to [0, 1]) against a candidate mean m (U,) per row. The bets are
    formed once; each call is one pass over the values. ``log_capital(m) >= ln(1/delta)`` is the
    betting test's rejection of "E X <= m" at level delta (what :func:`_betting_bound` bisects over m).
    Row u gives bit for bit what the same class gives on values[u] alone (NumPy reduces and
    accumulates each contiguous row as it does a 1-D array; checked in the proofs), so a batch of
    units costs one pass of NumPy calls per step instead of one per unit."""

    def __init__(self, values: np.ndarray, bet_delta: float, seed: int) -> None:
        n = values.shape[1]
        # C order: NumPy's fancy indexing on axis 1 returns column-major rows, whose row sums are not
        # the pairwise sums of a 1-D array (they differ in the last bits)
        x = np.ascontiguousarray(np.clip(values[:, np.random.default_rng(seed).permutation(n)], 0.0, 1.0))
        steps = np.arange(1, n + 1)
        run_mean = (0.5 + np.cumsum(x, axis=1)) / (steps + 1.0)                          # mu_j, j = 1..n
        prev_mean = np.concatenate([np.full((x.shape[0], 1), 0.5), run_mean[:, :-1]], axis=1)   # mu_{i-1}
        sq = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum((x - prev_mean) ** 2, axis=1)[:, :-1]], axis=1)
        s2 = (0.25 + sq) / steps                                                          # s2_{i-1}
        self.x, self.rows = x, x.shape[0]
        self.lam0 = np.sqrt(2.0 * math.log(1.0 / bet_delta) / (n * s2))                   # m-free part

    def __call__(self, m: np.ndarray) -> np.ndarray:
        """log K_n(m) per row, m (U,) > 0."""
        m = m[:, None]
        return np.log1p(np.minimum(self.lam0, BETTING_TRUNCATION / m) * (self.x - m)).sum(axis=1)

    def at_zero(self) -> np.ndarray:
        """log K_n(0) per row: the bets untruncated (c / 0 = inf)."""
        return np.log1p(self.lam0 * self.x).sum(axis=1)


def bernstein_width(variance_bound: float, upper_range: float, n: int, delta: float) -> float:
    """w such that P(mean(X) - E X > w) <= delta for n i.i.d. X_i with Var X <= ``variance_bound``
    and X - E X <= ``upper_range`` (Bernstein's inequality, one-sided):
    w = sqrt(2 sigma^2 ln(1/delta) / n) + b ln(1/delta) / (3 n)."""
    if n < 1:
        return math.inf
    log_term = math.log(1.0 / delta)
    return math.sqrt(2.0 * variance_bound * log_term / n) + upper_range * log_term / (3.0 * n)


def _varentropy(p: np.ndarray) -> float:
    """Var_{Y ~ p}(log p(Y)) = sum_k p_k (log p_k + H(p))^2."""
    p = p[p > 0]
    lp = np.log(p)
    H = -float(p @ lp)
    return float(p @ (lp + H) ** 2)


@cache
def max_varentropy(K: int) -> float:
    """An upper bound on the varentropy Var(log p(Y)) over every distribution p on K outcomes.

    At an interior stationary point of V(p) = sum p (log p)^2 - H(p)^2 under sum p = 1, the
    Lagrange condition (log p_k)^2 + 2 (1 + H) log p_k + 2 H = lambda is a quadratic in log p_k,
    so a maximiser takes at most two distinct values. No maximiser lies on the boundary: moving
    mass e from any atom to an empty one changes V by e (log e)^2 + O(e |log e|) > 0 for small e
    (the square of the log beats the entropy's first-order change), so a maximiser has full
    support. We maximise over m atoms of mass t/m and K-m atoms of mass (1-t)/(K-m) for every m
    (scipy's bounded scalar search on each half of t's range; 2 (K-1) searches) and return
    the largest value times (1 + 1e-6) plus 1e-9 (the search's tolerance; checked against random
    distributions in proofs/test_t13_information.py). Values: K=2 0.439, K=10 2.06, K=15 2.62.
    """
    from scipy.optimize import minimize_scalar

    if K < 2:
        return 0.0
    best = 0.0
    for m in range(1, K):
        def neg(t, m=m):
            return -_varentropy(np.r_[np.full(m, t / m), np.full(K - m, (1.0 - t) / (K - m))])
        for lo, hi in ((1e-15, 0.5), (0.5, 1.0 - 1e-15)):
            r = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
            best = max(best, -float(r.fun))
    return best * (1.0 + 1e-6) + 1e-9


def marginal_box(tbar: np.ndarray, n: int, delta: float, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A simultaneous (1 - ``delta``) confidence box [l_k, u_k] for the population mean E T_k of
    rows T in the simplex, from their mean ``tbar`` (K,) over n i.i.d. rows; ``floor``: a known
    lower bound of every entry (gamma / K for the mixed teacher T').

    Each coordinate is a mean of n values in [0, 1], with Var T_k <= p_k (1 - p_k), p_k = E T_k
    (Bhatia-Davis). Bernstein's inequality on each side at e^-L, L = ln(2K / delta), and a union
    over the 2K one-sided events: with probability >= 1 - delta, for every k,
    |tbar_k - p_k| <= sqrt(2 p_k (1 - p_k) L / n) + L / (3n). The set of p satisfying this is an
    interval (the right side minus |tbar_k - p| is concave in p); its ends are the roots of
    (1 + s) p^2 - (2c + s) p + c^2 = 0 with s = 2L/n and c = tbar_k -/+ L/(3n): the smaller root for
    the lower end (c > 0; else 0), the larger for the upper end (c < 1; else 1). The smaller root is
    computed as c^2 / ((1 + s) r_+) (the product of the roots), free of cancellation."""
    K = tbar.size
    L = math.log(2.0 * K / delta)
    s, a = 2.0 * L / n, L / (3.0 * n)
    c_lo, c_hi = tbar - a, tbar + a
    with np.errstate(divide="ignore", invalid="ignore"):
        big_lo = (2.0 * c_lo + s + np.sqrt(s * (s + 4.0 * c_lo * (1.0 - c_lo)))) / (2.0 * (1.0 + s))
        lower = np.where(c_lo > 0.0, c_lo * c_lo / ((1.0 + s) * big_lo), 0.0)
        upper = np.where(c_hi < 1.0, (2.0 * c_hi + s + np.sqrt(s * (s + 4.0 * c_hi * (1.0 - c_hi)))) / (2.0 * (1.0 + s)),
                         1.0)
    return np.maximum(lower, floor), np.minimum(upper, 1.0)


VARENTROPY_CENTRE_STEP = 1.0 / 64.0   # the lattice of centres c in box_varentropy's minimum (any c is valid)


def box_varentropy(lower: np.ndarray, upper: np.ndarray) -> float:
    """An upper bound on the varentropy of every distribution p with lower <= p <= upper (0 < lower).

    The varentropy is a variance: V(p) = sum_k p_k (log p_k + H(p))^2 = min_c sum_k p_k (log p_k - c)^2,
    so V(p) <= B(c) = sum_k max_{q in [l_k, u_k]} q (log q - c)^2 for every c (the constraint sum p = 1
    is dropped: a larger set). On [l, u], f(q) = q (log q - c)^2 has f'(q) = (log q - c)(log q - c + 2):
    its maximum is at an end or at q = e^(c - 2), where f = 4 e^(c - 2). Returned: the minimum of B
    over the lattice c = j ``VARENTROPY_CENTRE_STEP`` (j integer). B decreases towards
    [log min l, log max u] from either side (every term does), so the lattice points from one step
    below that range to one step above it attain the lattice's minimum. The lattice does not depend
    on the box, and B(c) grows with the box for each c, so the result grows with the box: a smaller
    box (a larger error rate) never gives a larger bound, which certified_active_units' p-values need."""
    ll, lu = np.log(lower), np.log(upper)
    h = VARENTROPY_CENTRE_STEP
    # (mutmut: a wider lattice is equivalent (B only grows outside the range); a start one step higher
    # survives the brute-force proof: the lattice's minimum lay inside the range on every draw)
    c = (np.arange(math.floor(ll.min() / h) - 1, math.ceil(lu.max() / h) + 2) * h)[:, None]   # (C, 1)
    ends = np.maximum(lower * (ll - c) ** 2, upper * (lu - c) ** 2)            # (C, K)
    inner = (c - 2.0 > ll) & (c - 2.0 < lu)                                    # e^(c-2) inside [l_k, u_k]
    per_c = np.where(inner, np.maximum(ends, 4.0 * np.exp(c - 2.0)), ends).sum(axis=1)
    return float(per_c.min())


ENTROPY_BOX_SHARE = 0.25   # of step 3's delta / 2: the box around Tbar'; the rest goes to Bernstein on v


def entropy_width(tbar_mixed: np.ndarray, n: int, delta: float, gamma: float) -> float:
    """w_H with P(H(e') - H(Tbar') > w_H) <= ``delta`` (step 3 of the bound, docs/theory.md), from the
    evaluation mean ``tbar_mixed`` (K,) of n mixed teacher rows T' = (1 - gamma) T + gamma / K.

    H(e') - H(Tbar') <= mean(v) - E v, v_i = -sum_k T'_ik log Tbar'_k (concavity). Bernstein at
    (1 - ENTROPY_BOX_SHARE) delta with Var v <= varentropy(Tbar') <= V and v - E v <= b, where, on
    the event (probability >= 1 - ENTROPY_BOX_SHARE delta) that Tbar' lies in :func:`marginal_box`,
    V = min(:func:`box_varentropy`, :func:`max_varentropy` (K)) and b = min(log(max u / min l),
    log(K / gamma)). Bernstein's width increases in the variance and the range, so outside the
    union of the two failure events the true deviation is below the width at (V, b)."""
    K = tbar_mixed.size
    d_box = ENTROPY_BOX_SHARE * delta
    lower, upper = marginal_box(tbar_mixed, n, d_box, floor=gamma / K)
    V = min(box_varentropy(lower, upper), max_varentropy(K))
    b = min(math.log(upper.max() / lower.min()), math.log(K / gamma))
    return bernstein_width(V, b, n, delta - d_box)


def mixing_weight(n: int, delta: float = DEFAULT_DELTA) -> float:
    """eps of h_eps = (1 - eps) h + eps / K: the minimiser of -log(1 - eps) + 7 log(K/eps) ln(2/d)/(3(n-1))
    (the price of mixing against the range term of step 2) to first order, eps = 7 ln(2/d) / (3 (n-1)),
    d = delta/2, clipped to [1e-4, 0.5]. It depends on n and delta only, never on the evaluation values."""
    if n < 2:   # (mutmut: `n <= 2`, `n < 3` are equivalent: at n = 2 the formula exceeds 1/2, clipped to 1/2)
        return 0.5
    return float(min(0.5, max(1e-4, 7.0 * math.log(4.0 / delta) / (3.0 * (n - 1)))))


def _binary_entropy(t: float) -> float:
    # (mutmut: the ends' branch and its value are equivalent for the package: its one caller passes
    # gamma, which _check_unit_interval keeps inside (0, 1))
    return 0.0 if t <= 0.0 or t >= 1.0 else -t * math.log(t) - (1.0 - t) * math.log1p(-t)


# ---------------------------------------------------------------------------------------
# The bound
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InformationBound:
    """A (1 - delta) lower confidence bound ``lcb`` on I(Y; Z) through the eps-mixed predictor.

    ``margin_mixed`` is the plug-in margin of h_eps on the evaluation rows; ``lcb`` =
    mean term - ``width_mean`` + entropy term - ``width_entropy`` - ``entropy_penalty``.
    ``p_value``: the permutation test's (None when not run); ``bootstrap_lcb``: the percentile
    bootstrap's 1 - delta lower bound of the plug-in margin (None when not run; no guarantee)."""
    lcb: float
    margin_mixed: float
    mean_term: float
    width_mean: float
    entropy_term: float
    width_entropy: float
    entropy_penalty: float
    eps: float
    gamma: float
    delta: float
    n: int
    K: int
    draws: int
    p_value: float | None = None
    n_permutations: int = 0
    bootstrap_lcb: float | None = None

    @property
    def certified(self) -> bool:
        return bool(self.lcb > 0.0)

    def as_dict(self) -> dict:
        return asdict(self)


def _mixed_log_probs(log_h: np.ndarray, eps: float) -> np.ndarray:
    """log h_eps = log((1 - eps) h + eps / K), computed as a logaddexp (no exp of large negatives lost)."""
    K = log_h.shape[-1]
    return np.logaddexp(math.log1p(-eps) + log_h, math.log(eps / K))


def _row_terms(T: np.ndarray, log_h_eps: np.ndarray) -> np.ndarray:
    """a_i = mean over draws of sum_k T_ik log h_eps,k(z_i,m): (N,)."""
    if log_h_eps.ndim == 2:
        return np.einsum("ik,ik->i", T, log_h_eps)
    return np.einsum("ik,ik->i", T, log_h_eps.mean(axis=1))       # linear in log h: mean over draws first


def _check_unit_interval(x, name: str, what: str) -> float:
    v = check_finite_number(x, name)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} ({what}) must lie in (0, 1), got {x!r}")
    return v


def _check_count(x, name: str, low: int, what: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or not low <= x < 2 ** 31:
        raise ValueError(f"{name} ({what}) must be an integer in [{low}, 2**31), got {x!r:.60}")
    return int(x)


def _check_inputs(teacher, log_probs, delta):
    T = check_distributions(teacher, "teacher", allow_1d=False)
    L = as_float_array(log_probs, "log_probs", (2, 3))
    if L.shape[0] != T.shape[0] or L.shape[-1] != T.shape[1]:
        raise ValueError(f"log_probs has shape {L.shape} but the teacher has {T.shape[0]} rows and K = {T.shape[1]}; "
                         "pass (N, K) log-probabilities of the predictor, or (N, M, K) for M draws per row")
    if np.any(L > 1e-9) or np.isnan(L).any():
        raise ValueError("log_probs must be log-probabilities (<= 0, no NaN); pass predictor.log_probs(codes)")
    d = _check_unit_interval(delta, "delta", "the error rate of the bound")
    if T.shape[0] < 2:
        raise ValueError("the bound needs at least 2 evaluation rows")
    return T, np.minimum(L, 0.0), d


def _entropy_part(T: np.ndarray, delta: float, gamma: float) -> tuple[float, float, float]:
    """(entropy term, its width, entropy penalty) of :func:`information_bound` at level ``delta``
    from validated teacher rows ``T`` (N, K): step 3 of the bound, which reads the teacher only."""
    n, K = T.shape
    tbar_mixed = (1.0 - gamma) * T.mean(axis=0) + gamma / K                     # Tbar'_E
    entropy_term = -float(tbar_mixed @ np.log(tbar_mixed))                      # H(Tbar'_E)
    # v_i = -sum_k T'_ik log Tbar'_k; Var v <= varentropy(Tbar'), bounded on a confidence box of Tbar'
    width_entropy = entropy_width(tbar_mixed, n, delta / 2.0, gamma)
    penalty = gamma * math.log(max(K - 1, 1)) + _binary_entropy(gamma)          # Audenaert (2007): |H(p) - H(p')|
    return entropy_term, float(width_entropy), float(penalty)


def _bound_of_terms(T: np.ndarray, a: np.ndarray, delta: float, eps: float, gamma: float, seed: int,
                    bet: float | None, entropy: tuple[float, float, float] | None = None,
                    bet_bound: float | None = None
                    ) -> tuple[float, float, float, float, float, float]:
    """(lcb, mean term, its width, entropy term, its width, entropy penalty) of
    :func:`information_bound` from validated teacher rows ``T`` (N, K) and the rows' terms ``a``
    (N,) of the eps-mixed predictor (:func:`_row_terms`); ``bet``: the bets' level / 2, or None;
    ``entropy``: :func:`_entropy_part` of (T, delta, gamma) when the caller has it already;
    ``bet_bound``: the betting bound of ((a - lo) / R) at delta / 2 with those bets, likewise."""
    K = T.shape[1]
    mean_term = float(a.mean())
    # E a >= lo + R * L_bet at delta / 2 (betting, Waudby-Smith & Ramdas 2024) on x = (a - lo) / R in [0, 1]
    lo, R = math.log(eps / K), math.log(K / eps)
    if bet_bound is None:
        bet_bound = betting_lower_bound((a - lo) / R, delta / 2.0, seed=seed, bet_delta=bet)
    width_mean = mean_term - (lo + R * bet_bound)
    entropy_term, width_entropy, penalty = _entropy_part(T, delta, gamma) if entropy is None else entropy
    lcb = mean_term - width_mean + entropy_term - width_entropy - penalty
    return float(lcb), mean_term, float(width_mean), entropy_term, float(width_entropy), float(penalty)


def information_bound(teacher, log_probs, *, delta: float = DEFAULT_DELTA, eps: float | None = None,
                      gamma: float = TEACHER_MIX, permutations: int = 0, bootstrap: int = 0,
                      seed: int = 0, bet_delta: float | None = None) -> InformationBound:
    """The (1 - delta) lower confidence bound on I(Y; Z) of T13 from evaluation rows alone.

    ``teacher`` (N, K): the evaluation rows' teacher posteriors, i.i.d. rows of one population,
    uniformly weighted. ``log_probs`` (N, K) or (N, M, K): log h(z) of a latent-only predictor
    fixed before these rows were seen (fitted on other rows), at the row's code or at M draws
    z ~ q(z|x). ``eps`` defaults to :func:`mixing_weight` (n). With ``permutations`` > 0 the exact
    permutation p-value is attached, with ``bootstrap`` > 0 a percentile bootstrap bound.
    ``seed`` fixes the order in which the betting bound reads the rows and the permutation and
    bootstrap draws: the bound is valid for every seed, and reproducible for one.
    ``width_mean`` of the result is mean(a) minus the betting bound, so lcb = mean_term -
    width_mean + entropy_term - width_entropy - entropy_penalty holds as stated.
    """
    T, L, delta = _check_inputs(teacher, log_probs, delta)
    n, K = T.shape
    eps = mixing_weight(n, DEFAULT_DELTA) if eps is None else _check_unit_interval(eps, "eps", "the predictor's mixing weight")
    gamma = _check_unit_interval(gamma, "gamma", "the teacher's mixing weight")
    permutations = _check_count(permutations, "permutations", 0, "re-pairings of the exact test; 0: none")
    bootstrap = _check_count(bootstrap, "bootstrap", 0, "bootstrap resamples; 0: none")
    seed = check_seed(seed)
    a = _row_terms(T, _mixed_log_probs(L, eps))                                  # (N,) in [log(eps/K), 0]
    bet = None if bet_delta is None else _check_unit_interval(bet_delta, "bet_delta", "the level the bets are sized for") / 2.0
    lcb, mean_term, width_mean, entropy_term, width_entropy, penalty = _bound_of_terms(T, a, delta, eps, gamma,
                                                                                       seed, bet)
    p_value = permutation_pvalue(T, L, permutations=permutations, eps=eps, seed=seed) if permutations else None
    boot = bootstrap_lcb(T, L, delta=delta, resamples=bootstrap, eps=eps, seed=seed) if bootstrap else None
    margin_mixed = mean_term - float(T.mean(axis=0) @ np.log(np.maximum(T.mean(axis=0), 1e-300)))
    return InformationBound(lcb=float(lcb), margin_mixed=float(margin_mixed), mean_term=mean_term,
                            width_mean=float(width_mean), entropy_term=entropy_term, width_entropy=float(width_entropy),
                            entropy_penalty=float(penalty), eps=eps, gamma=float(gamma), delta=delta, n=n, K=K,
                            draws=1 if L.ndim == 2 else L.shape[1], p_value=p_value,
                            n_permutations=int(permutations), bootstrap_lcb=boot)


def permutation_pvalue(teacher, log_probs, *, permutations: int = DEFAULT_PERMUTATIONS, eps: float | None = None,
                       seed: int = 0) -> float:
    """Exact p-value of the null H0: "the teacher rows are independent of the codes" (h fixed).

    Statistic: S = sum_i sum_k T_ik log h_eps,k(z_i), the part of the held-out margin that depends on
    which code goes with which teacher row (H(Tbar_E) does not). Under H0 the rows' pairing is
    exchangeable, so p = (1 + #{b : S_b >= S}) / (B + 1) over B random re-pairings is a valid
    p-value: P(p <= alpha) <= alpha for every alpha (Phipson & Smyth 2010). Ties count against
    the code (S_b >= S - 1e-12 |S|: rounding cannot make a null look significant).
    """
    T, L, _ = _check_inputs(teacher, log_probs, DEFAULT_DELTA)
    B = _check_count(permutations, "permutations", 1, "re-pairings of the exact test")
    n = T.shape[0]
    eps = mixing_weight(n, DEFAULT_DELTA) if eps is None else _check_unit_interval(eps, "eps", "the predictor's mixing weight")
    seed = check_seed(seed)
    Lm = _mixed_log_probs(L, eps)
    Lm = Lm if Lm.ndim == 2 else Lm.mean(axis=1)                              # (N, K)
    # S_pi = sum_i T_i . Lm_pi(i) = sum_i A[i, pi(i)] with A = T Lm^T (N, N): one product of N^2 K
    # flops, then B N lookups, instead of B N K multiply-adds over a (B, N, K) copy of Lm. Used
    # while N <= B (fewer flops) and A stays small (N <= 4096: 128 MB); the two routes give the
    # same statistics up to rounding, which the tie tolerance below absorbs.
    # (mutmut, equivalent up to the rounding that the tie tolerance absorbs: the route's condition and
    # the chunk size; `>` for `>=` below differs only for a statistic exactly at the threshold)
    gram = T @ Lm.T if n <= min(B, 4096) else None
    observed = float(np.einsum("ik,ik->", T, Lm))
    exceed = 0
    chunk = max(1, int(2e7 // max(n * T.shape[1], 1)))                        # ~160 MB of float64 at most
    threshold = observed - 1e-12 * abs(observed)
    for idx in _permutation_chunks(seed, n, B, chunk, gather=gram is not None):   # independent permutations
        # gram route: idx is (N, b) flat indices i N + pi_b(i) into gram, S_b a sum down a column
        stats = np.einsum("ik,bik->b", T, Lm[idx]) if gram is None else np.take(gram.ravel(), idx).sum(axis=0)
        exceed += int((stats >= threshold).sum())
    return (1.0 + exceed) / (B + 1.0)


_PERMUTATIONS: dict = {}          # the last small draw of permutation_pvalue: (seed, N, B, chunk) -> its chunks
_PERMUTATIONS_KEPT = 1 << 20      # kept when B N <= this (8 MB of indices); a larger draw is made chunk by chunk


def _permutation_chunks(seed: int, n: int, B: int, chunk: int, gather: bool = False):
    """The B permutations of range(n) that ``default_rng(seed)`` draws, ``chunk`` at a time, as read-only
    (b, n) index arrays; with ``gather``, as the (n, b) flat indices i n + pi(i) of the same permutations
    into an (n, n) matrix (one ``np.take`` then gathers S_pi for a chunk: 0.7 ms against 2.0 ms for
    the two-array fancy index on 999 x 360, whose result comes back column-major, so that its row sums
    and these column sums add the same terms in the same order, bit for bit). A run's five certificates
    test the same N evaluation rows with the same seed, so they re-pair the rows the same way: the last
    small draw is kept and handed out again (the same arrays the generator would give; drawing them is
    60% of a digits p-value's 5 ms)."""
    key = (seed, n, B, chunk, gather)
    if key in _PERMUTATIONS:
        yield from _PERMUTATIONS[key]
        return
    keep = B * n <= _PERMUTATIONS_KEPT   # (mutmut: `<`, None: which draws are kept, not what is drawn)
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    kept = []
    for start in range(0, B, chunk):
        idx = rng.permuted(np.broadcast_to(rows, (min(chunk, B - start), n)), axis=1)
        if gather:
            idx = np.ascontiguousarray(idx.T) + (rows * n)[:, None]
        idx.flags.writeable = False
        if keep:
            kept.append(idx)
        yield idx
    if keep:
        _PERMUTATIONS.clear()
        _PERMUTATIONS[key] = kept


def bootstrap_lcb(teacher, log_probs, *, delta: float = DEFAULT_DELTA, resamples: int = 999, eps: float | None = None,
                  seed: int = 0) -> float:
    """The percentile bootstrap's one-sided (1 - delta) lower bound of the plug-in margin of h_eps
    (rows resampled with replacement; the margin recomputed with the resample's own marginal).
    For comparison only: it is asymptotic and carries no finite-sample guarantee."""
    T, L, delta = _check_inputs(teacher, log_probs, delta)
    n, K = T.shape
    eps = mixing_weight(n, DEFAULT_DELTA) if eps is None else _check_unit_interval(eps, "eps", "the predictor's mixing weight")
    resamples = _check_count(resamples, "resamples", 1, "bootstrap resamples")
    a = _row_terms(T, _mixed_log_probs(L, eps))
    rng = np.random.default_rng(check_seed(seed))
    stats = np.empty(resamples)
    for b in range(resamples):
        idx = rng.integers(0, n, n)
        tbar = T[idx].mean(axis=0)
        stats[b] = a[idx].mean() - float(tbar[tbar > 0] @ np.log(tbar[tbar > 0]))
    return float(np.quantile(stats, delta))


def verdict(margin: float, float_error: float, lcb: float | None) -> str:
    """Three levels: "certified" (LCB > 0: I(Y; Z) >= LCB nats at 1 - delta), "positive, not
    significant" (the plug-in margin exceeds its rounding bound, the LCB does not exceed 0),
    "not certified"."""
    margin, float_error = real_float(margin, "margin"), check_nonneg_number(float_error, "float_error", allow_inf=True)
    lcb = None if lcb is None else real_float(lcb, "lcb")
    if np.isnan(margin) or (lcb is not None and np.isnan(lcb)):
        raise ValueError(f"margin and lcb must not be NaN, got margin={margin!r}, lcb={lcb!r}")
    if lcb is not None and lcb > 0.0:
        return VERDICTS[0]
    return VERDICTS[1] if margin > float_error else VERDICTS[2]


def holm(p_values, delta: float = DEFAULT_DELTA) -> np.ndarray:
    """Holm's (1979) step-down rejections at family-wise error ``delta``: a boolean mask."""
    p = np.asarray(p_values, dtype=np.float64)
    # (mutmut: another sort than "stable" is equivalent: tied p-values meet a threshold that only
    # grows with the rank, so the order among them does not change the rejections)
    order = np.argsort(p, kind="stable")
    reject = np.zeros(p.size, dtype=bool)
    for rank, j in enumerate(order):
        if p[j] <= delta / (p.size - rank):
            reject[j] = True
        else:
            break
    return reject


# ---------------------------------------------------------------------------------------
# T13 on a finite joint distribution (every term exact)
# ---------------------------------------------------------------------------------------

def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return -float(p @ np.log(p))


def _mutual_information(joint: np.ndarray) -> float:
    """I(A; B) of a joint probability table (A, B) = sum p log p / (p_a p_b)."""
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nz = joint > 0
    # log p - log p_a - log p_b, not log(p / (p_a p_b)): the product p_a p_b underflows below 1e-308
    log_ratio = np.log(joint[nz]) - np.log(np.broadcast_to(pa[:, None], joint.shape)[nz]) \
        - np.log(np.broadcast_to(pb[None, :], joint.shape)[nz])
    return float((joint[nz] * log_ratio).sum())


def information_terms(p_x, teacher, encoder, predictor, prior=None) -> dict:
    """Every term of T13 on finite alphabets: rows x with probabilities ``p_x`` (nx,), teacher rows
    T(x) (nx, K), an encoder channel q(z|x) (nx, nz), a latent-only predictor h(z) (nz, K) and
    optionally a prior p(z) (nz,). Returns G_h, I(Y;Z), I(X;Z), H(Y) and the rate E KL(q || p)."""
    px = check_distributions(p_x, "p_x")[0]                                     # (nx,): validation returns (1, nx)
    T = check_distributions(teacher, "teacher", allow_1d=False)
    Q = check_distributions(encoder, "encoder", allow_1d=False)
    H = check_distributions(predictor, "predictor", allow_1d=False)
    nx, K = T.shape
    if px.shape != (nx,) or Q.shape[0] != nx or H.shape != (Q.shape[1], K):
        raise ValueError(f"shapes do not match: p_x {px.shape}, teacher {T.shape}, encoder {Q.shape}, "
                         f"predictor {H.shape}; need (nx,), (nx, K), (nx, nz), (nz, K)")
    joint_xz = px[:, None] * Q                                                  # p(x, z)
    joint_yz = T.T @ joint_xz                                                   # p(y, z) = sum_x p(x) T_y(x) q(z|x)
    tbar = px @ T
    with np.errstate(divide="ignore"):
        log_h = np.log(H)                                                       # -inf where h = 0
    with np.errstate(invalid="ignore"):                                        # 0 * -inf where p(y,z) = 0: dropped
        cross = np.where(joint_yz.T > 0, joint_yz.T * log_h, 0.0).sum()         # E log h_Y(Z)
    out = {"G_h": float(cross) + _entropy(tbar), "I_YZ": _mutual_information(joint_yz),
           "I_XZ": _mutual_information(joint_xz), "H_Y": _entropy(tbar)}
    if prior is not None:
        pz = check_distributions(prior, "prior")[0]
        if pz.shape != (Q.shape[1],):
            raise ValueError(f"prior has shape {pz.shape}; pass one probability per code value ({Q.shape[1]},)")
        # (mutmut: `Q >= 0` in either test, or 2.0 for the placeholder, is equivalent: entries with
        # Q = 0 are masked to 0 by the outer test, or are 0 * finite there)
        with np.errstate(divide="ignore"):
            ratio = np.where(Q > 0, Q * (np.log(np.where(Q > 0, Q, 1.0)) - np.log(pz)[None]), 0.0)
        out["rate"] = float(px @ ratio.sum(axis=1))
    return out


def _check_t13(p_x, teacher, encoder, predictor, prior=None, rtol=DEFAULT_RTOL):
    t = information_terms(p_x, teacher, encoder, predictor, prior)
    mag = abs(t["G_h"]) + t["H_Y"] if np.isfinite(t["G_h"]) else t["H_Y"]
    parts = [relation("G_h <= I(Y;Z) (Barber-Agakov)", t["G_h"], "<=", t["I_YZ"], rtol, magnitude=mag),
             relation("I(Y;Z) <= I(X;Z) (data processing, Y - X - Z)", t["I_YZ"], "<=", t["I_XZ"], rtol, magnitude=mag),
             relation("I(Y;Z) <= H(Y)", t["I_YZ"], "<=", t["H_Y"], rtol)]
    if "rate" in t:
        parts.append(relation("I(X;Z) <= E_X KL(q(z|X) || p(z)) (rate)", t["I_XZ"], "<=", t["rate"], rtol,
                              magnitude=t["I_XZ"]))
    return tuple(parts)


T13 = Theorem(
    "T13", "Certified information",
    "For a latent-only predictor h fixed before the evaluation rows are seen, "
    "G_h = E[sum_k T_k(X) log h_k(Z)] + H(Tbar) <= I(Y;Z) <= I(X;Z) <= E_X KL(q(z|X) || p(z)), Y ~ T(X).",
    ("Y drawn from T(X) independently of Z given X (Y - X - Z)", "h reads the code Z only, one map for all rows",
     "the rate bound: Z sampled from q(z|X), any prior p(z)"),
    _check_t13)


# ---------------------------------------------------------------------------------------
# Certified active units: the bound restricted to one latent coordinate, Holm over the d units
# ---------------------------------------------------------------------------------------

UNIT_BINS = 10      # quantile bins of one coordinate's fit-split values (the 1-D predictor below)
UNIT_SMOOTHING = 1.0  # alpha of h_b = (sum_{i in b} T_i + alpha / K) / (n_b + alpha): never a zero probability


def _unit_predictor(T_columns: np.ndarray, z_fit: np.ndarray, bins: int):
    """A latent-only predictor of one coordinate, fitted on the fit split: the coordinate cut at
    the fit values' quantiles into ``bins`` bins, h(z) = the smoothed mean teacher row of z's bin.
    (A histogram regression: nonparametric in one dimension, so a unit whose information is not
    monotone in its value, e.g. two clusters on either side of a third, is still seen; a
    logistic probe would miss it.) ``T_columns``: the fit rows' teacher as (K, n_f) in C order
    (the caller transposes once for its d units). Returns (edges, log h per bin)."""
    K = T_columns.shape[0]
    edges = np.unique(np.quantile(z_fit, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    b = np.searchsorted(edges, z_fit, side="right")
    # the bins' sums of teacher rows, one bincount per outcome: the rows added in order, as
    # np.add.at(sums, b, T_fit) adds them (bit for bit), at a fifth of its cost. (mutmut: minlength
    # dropped or smaller, and the counts' dtype None, are equivalent: every edge is <= max z_fit, so
    # the largest fit value lands in the top bin and each bincount has edges.size + 1 entries anyway)
    sums = np.stack([np.bincount(b, weights=T_columns[k], minlength=edges.size + 1) for k in range(K)], axis=1)
    counts = np.bincount(b, minlength=edges.size + 1).astype(np.float64)
    h = (sums + UNIT_SMOOTHING / K) / (counts + UNIT_SMOOTHING)[:, None]
    return edges, np.log(h)


def certified_active_units(teacher_fit, codes_fit, teacher_eval, codes_eval, *, delta: float = DEFAULT_DELTA,
                           bins: int = UNIT_BINS) -> dict:
    """Units whose one-coordinate certificate has LCB > 0, family-wise error <= ``delta`` (Holm).

    ``codes_fit`` (n_f, d) or (n_f, M_f, d) choose each unit's predictor (:func:`_unit_predictor`);
    ``codes_eval`` (n_e, d) or (n_e, M, d) (M draws z ~ q(z|x) per row: the posterior certificate)
    are certified. Unit u's p-value is the smallest level of the grid delta/d, delta/(d-1), ..., delta
    at which :func:`information_bound`'s LCB of that unit (bets sized for ``delta``) is > 0 (1 if
    none): rounded up to the grid, so Holm's step-down on these p-values controls the family-wise
    error at ``delta`` (Holm 1979). Each "LCB > 0" is decided by the betting test at the one mean
    that makes the LCB zero (one pass over the rows instead of a bisection; the same answer except
    within 2^-60 of the bisection's root, checked in proofs/test_t13_information.py).
    Returns {"certified_active_units", "certified_units" (mask), "lcb" (per unit at delta/d), "p_values"}.
    """
    T_f = check_distributions(teacher_fit, "teacher_fit", allow_1d=False)
    T_e = check_distributions(teacher_eval, "teacher_eval", allow_1d=False)
    Zf = as_float_array(codes_fit, "codes_fit", (2, 3))
    Ze = as_float_array(codes_eval, "codes_eval", (2, 3))
    delta = _check_unit_interval(delta, "delta", "the family-wise error rate")
    bins = _check_count(bins, "bins", 1, "quantile bins of each coordinate")
    for name, Z in (("codes_fit", Zf), ("codes_eval", Ze)):
        if not np.isfinite(Z).all():
            raise ValueError(f"{name} contains NaN or infinite values; pass finite codes")
    if Zf.shape[0] != T_f.shape[0] or Ze.shape[0] != T_e.shape[0] or Zf.shape[-1] != Ze.shape[-1]:
        raise ValueError(f"codes_fit {Zf.shape} / codes_eval {Ze.shape} do not match the teacher rows "
                         f"({T_f.shape[0]}, {T_e.shape[0]}) or each other's latent dimension")
    d = Ze.shape[-1]
    if Zf.ndim == 3:                                                  # every fit draw is a fit sample of its row
        T_f = np.repeat(T_f, Zf.shape[1], axis=0)
        Zf = Zf.reshape(-1, d)
    grid = [delta / (d - j) for j in range(d)]                        # delta/d, ..., delta
    p = np.ones(d)
    if T_e.shape[0] < 2:
        raise ValueError("the bound needs at least 2 evaluation rows")
    n_e, K = T_e.shape
    eps = mixing_weight(n_e, DEFAULT_DELTA)                            # information_bound's default (mutmut: the
    # argument dropped is equivalent: it is mixing_weight's default)
    lo, R = math.log(eps / K), math.log(K / eps)                      # a_i in [lo, lo + R] (step 1)
    entropy: dict[float, tuple[float, float, float]] = {}              # step 3 reads T_e only: once per level

    def entropy_at(level: float) -> tuple[float, float, float]:
        if level not in entropy:
            entropy[level] = _entropy_part(T_e, level, TEACHER_MIX)
        return entropy[level]

    def certified_at(level: float) -> np.ndarray:
        # LCB > 0 at ``level`` <=> lo + R L + H - w_H - pen > 0 <=> the betting bound L (step 2, at
        # level / 2) exceeds m* = (w_H + pen - H - lo) / R <=> the betting test rejects "E x <= m*":
        # log K_n(m*) >= ln(2 / level) (K_n decreases in m). One pass over the rows instead of
        # the bisection's 61; it agrees with lcb > 0 except within 2^-60 of the bisection's root.
        # m* > 0 always (-lo = log(K / eps) > log K >= H); for m* >= 1 every factor is <= 1, so the
        # capital is <= 0 and nothing is certified, as L <= 1 <= m* says
        entropy_term, width_entropy, penalty = entropy_at(level)
        m_star = (width_entropy + penalty - entropy_term - lo) / R
        return log_capital(np.full(d, m_star)) >= math.log(2.0 / level)

    A = np.empty((d, n_e))
    T_f_columns = np.ascontiguousarray(T_f.T)
    Zf_units, Ze_units = np.ascontiguousarray(Zf.T), np.ascontiguousarray(np.moveaxis(Ze, -1, 0))   # a unit's values contiguous
    for u in range(d):
        edges, log_h = _unit_predictor(T_f_columns, Zf_units[u], bins)
        # the unit's row terms a_i as information_bound forms them from L = log_h[bin of z] (the
        # mixing is elementwise, so mixing the bins' table first gives the same numbers)
        # (mutmut: np.minimum(log_h, 1.0) is equivalent: a smoothed mean of rows is < 1, so log h < 0)
        Lm = _mixed_log_probs(np.minimum(log_h, 0.0), eps)[np.searchsorted(edges, Ze_units[u], side="right")]
        A[u] = _row_terms(T_e, Lm)                                    # (n_e,)
    # bets sized for delta at every level (bet_delta = delta): the capital is the same at every level,
    # and the LCB increases with the level, so P(p <= level) <= level. One capital for the d units
    log_capital = _BettingCapital((A - lo) / R, delta / 2.0, 0)
    bet_first = _betting_bound(log_capital, grid[0] / 2.0)
    # (mutmut: grid[0], gamma, seed or bet -> None or another value is equivalent: _bound_of_terms reads
    # them only for the parts it is not given, and it is given both the entropy part and the betting
    # bound; dropping either of those recomputes the same value (the betting bound of one row of the
    # batched capital is that row's own: proofs/test_t13_information.py))
    lcb_first = np.array([_bound_of_terms(T_e, A[u], grid[0], eps, TEACHER_MIX, 0, delta / 2.0, entropy_at(grid[0]),
                                          float(bet_first[u]))[0] for u in range(d)])
    at_largest = certified_at(grid[-1])
    open_units = at_largest.copy()                                    # certified at no level: p = 1
    for level in grid:                                                # the smallest level certifying each unit
        if not open_units.any():
            break
        # (mutmut: recomputing certified_at(grid[-1]) instead of at_largest is equivalent: the same value)
        hit = open_units & (at_largest if level == grid[-1] else certified_at(level))
        p[hit] = level
        open_units &= ~hit
    mask = holm(p, delta)
    return {"certified_active_units": int(mask.sum()), "certified_units": mask, "lcb": lcb_first, "p_values": p}
