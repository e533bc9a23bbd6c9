"""The exact functions of the witness theory (``docs/theory.md``), float64, one place each.

Conventions (ours, stated here once):

- KL, not cross-entropy, for the alignment loss L_TS (cross-entropy would shift every value
  by sum_i w_i H(T_i)). All quantities are in nats over one weighted data set.
- Energies are (1/2)||mu||^2, the mean part of KL(N(mu, diag s^2) || N(0, I)).
- Everything that touches a logarithm is computed in log space (``log_softmax``, ``xlogy``),
  so probabilities down to 1e-300 and log-odds of several hundred stay finite.
- Shapes: a teacher ``T`` is (N, K); codes (encoder means) are (N, d); weights (N,) are
  normalised to sum 1 (uniform when omitted).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import xlogy

from .defaults import WITNESS_SCALE
from .validation import (
    FRAME_ATOL,
    as_float_array,
    check_all_finite,
    check_code_norms,
    check_codes,
    check_distributions,
    check_finite_number,
    check_log_probs,
    check_matrix_size,
    check_scale,
    check_teacher,
    check_weights,
    raise_too_large,
    teacher_and_row_sums,
)

__all__ = [
    "simplex_vertices", "default_frame", "witness_matrix", "Witness",
    "clr", "clr_from_log", "kl_rows", "teacher_marginal", "teacher_information",
    "alignment_loss", "certificate_margin", "Certificate", "certify", "Teacher", "teacher_residual",
    "exact_code", "exact_embedding", "best_constant_code", "logodds_energy", "code_energy",
    "subspace_energy", "exact_code_energy", "alignment_gradient", "escape_field",
    "escape_force", "escape_step_size", "escape_step", "escape_step_bound",
    "MarginEnergyPath", "margin_energy_path", "size_bound", "certified_spread",
    "view_gap", "view_information", "view_gap_estimate", "gaussian_kl", "entropy",
]

EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------------------
# Geometry: simplex vertices, frame, witness matrix (T3)
# ---------------------------------------------------------------------------------------

def simplex_vertices(K: int) -> np.ndarray:
    """Vertices of the regular simplex centred at 0 in R^{K-1}: V of shape (K-1, K).

    Columns have unit norm, sum to zero and have pairwise inner product -1/(K-1) (T3).
    Built from the Helmert basis H of the sum-zero subspace (rows orthonormal, H 1 = 0):
    V = sqrt(K/(K-1)) H, so V^T V = kappa (I - 11^T/K). The Helmert basis is closed-form, so
    the vertices are the same on every machine (an SVD/QR basis could flip signs).
    """
    K = _check_K(K)
    H = np.zeros((K - 1, K))
    # (mutmut: `range(K)` is equivalent: j = 0 writes row -1, the last, which j = K-1 overwrites)
    for j in range(1, K):  # row j-1: 1/sqrt(j(j+1)) on the first j entries, -j/sqrt(j(j+1)) next
        H[j - 1, :j] = 1.0 / np.sqrt(j * (j + 1))
        H[j - 1, j] = -j / np.sqrt(j * (j + 1))
    return np.sqrt(K / (K - 1)) * H


def default_frame(d: int, K: int) -> np.ndarray:
    """The default witness frame P (d, K-1): the first K-1 latent coordinates."""
    K = _check_K(K)
    d = _check_d(d, K)
    return np.eye(d, K - 1)


def witness_matrix(K: int, d: int | None = None, frame=None) -> np.ndarray:
    """A = P V (d, K); ``frame`` P must have orthonormal columns (default: first K-1 coords)."""
    return _resolve_frame(K, d, frame) @ simplex_vertices(K)


def _check_K(K) -> int:
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)):
        raise ValueError(f"K (number of teacher outcomes) must be an integer >= 2, got {K!r}")
    if K < 2:
        raise ValueError(f"K (number of teacher outcomes) must be >= 2, got {K}")
    check_matrix_size(f"the simplex vertices for K = {K} (number of teacher outcomes)", int(K) - 1, int(K))
    return int(K)


def _check_d(d, K: int) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise ValueError(f"d (latent dimension) must be an integer, got {d!r}")
    if d < K - 1:
        raise ValueError(f"d (latent dimension) = {d} is smaller than K-1 = {K - 1}; "
                         "the witness needs d >= K-1: use a larger latent space or fewer outcomes")
    check_matrix_size(f"the witness matrix A for d = {d} (latent dimension) and K = {K}", int(d), K)
    return int(d)


def _resolve_frame(K: int, d: int | None, frame) -> np.ndarray:
    K = _check_K(K)
    if frame is None:
        if d is None:
            d = K - 1
        return default_frame(d, K)
    if d is not None:
        d = _check_d(d, K)          # an integer even when the frame fixes it (3 + 0j is not one)
    P = as_float_array(frame, "frame", 2)
    if d is not None and P.shape[0] != d:
        raise ValueError(f"frame has {P.shape[0]} rows but d = {d}; the frame must be (d, K-1)")
    if P.shape[1] != K - 1:
        raise ValueError(f"frame has {P.shape[1]} columns but K-1 = {K - 1}; the frame must be (d, K-1)")
    _check_d(P.shape[0], K)
    err = np.abs(P.T @ P - np.eye(K - 1)).max()
    # (mutmut: `>=` is equivalent but at err == FRAME_ATOL exactly)
    if err > FRAME_ATOL:
        raise ValueError(f"frame columns are not orthonormal (max |P^T P - I| = {err:.3g} > {FRAME_ATOL}); "
                         "orthonormalise it, e.g. np.linalg.qr(frame)[0]")
    return P


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, x - max - log sum exp(x - max) (max-shifted: never overflows).

    Written here rather than taken from scipy.special.log_softmax because scipy's makes
    several full-size temporaries; this version works in place on one copy and is ~3x
    faster on (70000, 100) certificate evaluations (bench/bench_certify.py).
    """
    # (mutmut: without copy=True, equivalent: np.array copies by default)
    return log_softmax_in_place(np.array(logits, dtype=np.float64, copy=True))


def log_softmax_in_place(out: np.ndarray) -> np.ndarray:
    """:func:`log_softmax` of a float64 (N, K) array the caller owns, overwriting it (no copy: the
    fitted witness's descent evaluates it a few hundred times per fit on fresh logits)."""
    row_max = row_max_of(out)[:, None]
    # +inf or NaN anywhere in a row shows in its max (O(N) to check, not O(NK)); a -inf entry
    # beside a finite max is harmless (probability 0). inf - inf would make the row NaN.
    if not np.isfinite(row_max).all():
        raise ValueError(
            "codes are too large: the witness logits witness_scale * A^T mu overflow float64 "
            f"(largest finite |logit| is {np.finfo(np.float64).max:.3g}); scale the codes or witness_scale down")
    with np.errstate(over="ignore"):   # a gap beyond 1.8e308 rounds to -inf: probability 0, as it should
        out -= row_max
    return _log_normalise_in_place(out)


def log_softmax_finite_in_place(out: np.ndarray) -> np.ndarray:
    """:func:`log_softmax_in_place` of logits the caller knows to be finite with |entries| far below
    float64's overflow (the T11 Newton iterates, whose objective is finite; the fitted witness's
    descent where beta max|x_i| < 1e300): the same floats, without the overflow check and the
    errstate context, which were a tenth of a call on the few-row arrays those loops pass ~10^5 times."""
    out -= row_max_of(out)[:, None]
    return _log_normalise_in_place(out)


def _log_normalise_in_place(out: np.ndarray) -> np.ndarray:
    """log-softmax of (N, K) logits already shifted so that each row's max is 0."""
    # sum_k exp by a BLAS gemv with a ones vector: 2-5x cheaper than .sum(axis=1) on rows of
    # K <= 100 (bench/bench_certify.py); the same K-term sum, error <= K ulps either way
    lse = np.log(np.exp(out) @ _ones(out.shape[1]))
    out -= lse[:, None]
    return out


@functools.cache
def _ones(K: int) -> np.ndarray:
    """A read-only vector of K ones, made once per K (the descent's losses call log_softmax_in_place
    ~10^5 times a proof run, and a fresh np.ones was ~3% of each call)."""
    ones = np.ones(K)
    ones.flags.writeable = False
    return ones


def row_max_of(X: np.ndarray) -> np.ndarray:
    """max_k X_ik per row (N,), exactly ``X.max(axis=1)`` (max does not round; NaN propagates).

    NumPy reduces a short contiguous row one at a time; the transposed copy is reduced along
    its first axis, vectorised across rows: 4.5x faster for K = 15 and 1.1x for K = 100 on
    (512..1000, K) blocks (the fitted witness's descent, the certificate kernel's blocks)."""
    return np.ascontiguousarray(X.T).max(axis=0)


class Witness:
    """The fixed simplex witness S(mu) = softmax(scale * A^T mu) on the encoder mean.

    ``scale`` is beta in THEORY.md (kept apart from the KL weight of a beta-VAE). The
    witness is never trained: A is fixed by K, d and the frame. It is immutable: every
    attribute is validated once here and cannot be reassigned (build a new Witness instead);
    ``P``, ``V`` and ``A`` return copies, so the matrices the methods use cannot be edited.
    """

    __slots__ = ("K", "_A", "_P", "_V", "d", "kappa", "scale")
    # the slots' types (set once in __init__ through object.__setattr__; the instance is immutable)
    K: int
    d: int
    scale: float
    kappa: float
    _A: np.ndarray
    _P: np.ndarray
    _V: np.ndarray

    def __init__(self, K: int, d: int | None = None, scale: float = WITNESS_SCALE, frame=None):
        K = _check_K(K)
        P = _resolve_frame(K, d, frame).copy()            # (d, K-1)
        scale = check_scale(scale, "witness_scale")
        V = simplex_vertices(K)                           # (K-1, K)
        A = P @ V                                         # (d, K)
        for arr in (P, V, A):
            # (mutmut: True is equivalent for the public API: A, P and V hand out copies)
            arr.flags.writeable = False
        for name, value in (("K", K), ("d", P.shape[0]), ("scale", scale), ("kappa", K / (K - 1)),
                            ("_P", P), ("_V", V), ("_A", A)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"Witness is immutable: cannot set {name!r}; build a new one, "
                             "e.g. Witness(K, d, scale=..., frame=...)")

    def __delattr__(self, name):
        raise AttributeError(f"Witness is immutable: cannot delete {name!r}")

    def __reduce__(self):
        return (Witness, (self.K, self.d, self.scale, self._P))

    def __repr__(self) -> str:
        return f"Witness(K={self.K}, d={self.d}, scale={self.scale})"

    P = property(lambda self: self._P.copy(), doc="The frame (d, K-1) with orthonormal columns (a copy).")
    V = property(lambda self: self._V.copy(), doc="The simplex vertices (K-1, K) (a copy).")
    A = property(lambda self: self._A.copy(), doc="A = P V (d, K) (a copy).")

    def logits(self, codes) -> np.ndarray:
        """scale * A^T mu for each code: (N, K). Always centred (T3)."""
        mu = check_codes(codes, self.d)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.scale * (mu @ self._A)
        if not np.isfinite(out).all():
            raise ValueError(
                f"codes are too large: witness_scale * A^T mu overflows float64 (largest |code| entry "
                f"{np.abs(mu).max():.3g}, witness_scale {self.scale:.3g}); scale the codes or witness_scale down")
        return out

    def log_probs(self, codes) -> np.ndarray:
        """log S(mu): (N, K), computed with log_softmax so it never overflows."""
        return log_softmax(self.logits(codes))

    def probs(self, codes) -> np.ndarray:
        return np.exp(self.log_probs(codes))

    def subspace_coordinates(self, codes) -> np.ndarray:
        """P^T mu: (N, K-1), the only part of the code the witness sees (T4)."""
        mu = check_codes(codes, self.d)
        with np.errstate(over="ignore", invalid="ignore"):
            z = mu @ self._P
        if not np.isfinite(z).all():
            raise ValueError(f"codes are too large: P^T mu overflows float64 (largest |code| entry "
                             f"{np.abs(mu).max():.3g}); scale the codes down")
        return z


def check_witness(witness, name: str = "witness") -> Witness:
    if not isinstance(witness, Witness):
        raise TypeError(f"{name} must be a witness_theory.Witness, got {type(witness).__name__}; "
                        "build one with Witness(K, d, scale)")
    return witness


# ---------------------------------------------------------------------------------------
# Log-odds, KL, teacher information, alignment loss, margin (T1, T2)
# ---------------------------------------------------------------------------------------

def clr_from_log(log_p) -> np.ndarray:
    """Centred log-odds from log-probabilities: log p - mean_k log p_k."""
    lp = as_float_array(log_p, "log_p", (1, 2))
    if lp.shape[-1] == 0:
        raise ValueError(f"log_p has no entries per row (shape {lp.shape})")
    with np.errstate(over="ignore"):
        mean = lp.mean(axis=-1, keepdims=True)
    if not np.isfinite(mean).all():   # entries near 1e308 overflow the sum: average lp / max|lp|
        big = np.abs(lp).max(axis=-1, keepdims=True)
        # (mutmut: the 1.0 for an all-zero row may be any nonzero number, equivalent: 0 / c = 0)
        mean = big * (lp / np.where(big > 0, big, 1.0)).mean(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        return lp - mean


def clr(p) -> np.ndarray:
    """Centred log-odds clr(p) = log p - mean_k(log p_k) of full-support rows; sums to 0."""
    P = check_distributions(p, "p", full_support=True)
    out = clr_from_log(np.log(P))
    return out[0] if np.ndim(p) == 1 else out   # p is a valid array here


def entropy(p) -> np.ndarray:
    """Shannon entropy in nats of each row (zeros allowed)."""
    P = check_distributions(p, "p")
    return -xlogy(P, P).sum(axis=1)


def weighted_mean(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """sum_i w_i X_i over the data axis with pairwise summation (error O(log N) ulps).

    A BLAS ``w @ X`` accumulates O(N) ulps: over 60,000 rows that is ~1e-13, enough to show a
    positive G_T for a constant code (whose true margin is <= 0). Summing a contiguous axis
    makes NumPy use pairwise summation.
    """
    # (mutmut: `<` for `<=`, or X.shape[1] for X.shape[0], only moves where the blocks start:
    # the same pairwise sum in another order, within the same O(log N) ulps; equivalent up to
    # rounding, which the proofs' tolerances cannot and should not tell apart)
    if X.shape[0] <= _CHUNK_ROWS:
        return np.ascontiguousarray((w[:, None] * X).T).sum(axis=1)
    # blockwise: pairwise within blocks, then pairwise over the block sums (still O(log N) ulps)
    blocks = [np.ascontiguousarray((w[a:a + _CHUNK_ROWS, None] * X[a:a + _CHUNK_ROWS]).T).sum(axis=1)
              for a in range(0, X.shape[0], _CHUNK_ROWS)]
    return np.ascontiguousarray(np.array(blocks).T).sum(axis=1)


_CHUNK_ROWS = 4096  # rows per block: (4096, K) temporaries stay in cache and are reused


def wsum(w: np.ndarray, x: np.ndarray) -> float:
    """sum_i w_i x_i, pairwise (1-D np.sum), not a BLAS dot. Rows of weight 0 are not in the
    data set and contribute exactly 0, even where their term is infinite (0 * inf)."""
    if w.size and np.minimum.reduce(w, axis=None) > 0:
        # every row in the data set (the usual case; a NaN weight fails the test): np.sum of w * x itself,
        # without the masked copy or the errstate context, ~60% of a call on the fitted witness's
        # ~10-row descent losses (np.sum is np.add.reduce over axis None: the same floats)
        return float(np.add.reduce(w * x, axis=None))
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.where(w > 0, w * x, 0.0)))


def marginal(T: np.ndarray, w: np.ndarray) -> np.ndarray:
    # sum_i w_i T_i by BLAS products on 256-row blocks, then a pairwise sum over the blocks
    # (_weighted_mean_rows: <= ~256 + log2 N ulps, against log2 N for weighted_mean's weighted
    # transposed copy, which cost 0.8 of a log pass on 70,000 x 100; bench/bench_certify.py).
    # The loss is second order where it matters: I_T = min_q sum_i w_i KL(T_i || q) is attained
    # at q = Tbar, so a Tbar off by delta moves the computed I_T by O(delta^2) (T1)
    tbar = _weighted_mean_rows(w, T)
    return tbar / tbar.sum()  # sums to 1 to the last ulp, as Tbar does mathematically


def cross_rows(P: np.ndarray, LQ: np.ndarray) -> np.ndarray:
    """sum_k p_ik log q_ik per row with 0 log 0 = 0; -inf where p_ik > 0 = q_ik."""
    if LQ.ndim == 2:
        # a non-finite log q makes its row's product, and so the row's sum, non-finite (p * inf is inf
        # or NaN for p >= 0, NaN propagates): finite sums mean a finite LQ, checked on N sums instead
        # of N K entries. Otherwise (or where a finite sum overflowed) the entries decide, as below.
        # (einsum raises no floating-point warning for 0 * -inf; the 1-D matmul does, so it is not tried)
        out = np.einsum("ik,ik->i", P, LQ)
        if np.isfinite(out).all():
            return out
    finite = np.isfinite(LQ)
    if finite.all():
        return P @ LQ
    # (mutmut: another fill than 0.0 is equivalent: a -inf entry with P > 0 makes the row -inf below,
    # and one with P = 0 is multiplied by 0)
    LQf = np.where(finite, LQ, 0.0)
    out = np.einsum("ik,ik->i", P, LQf) if LQ.ndim == 2 else P @ LQf
    hit = ((P > 0) & ~finite).any(axis=1)
    return np.where(hit, -np.inf, out)


def neg_entropy_rows(P: np.ndarray) -> np.ndarray:
    """sum_k P_ik log P_ik per row, 0 log 0 = 0. With full support (every entry > 0, the package's
    floored teachers) one log pass and a row dot (``_row_dots``): 1.5x a log pass against 2.5x
    for scipy's ``xlogy`` (bench/bench_certify.py, 70,000 x 100); both are K-term sums with error
    <= K ulps of sum |P log P|. ``xlogy`` on the rows where an entry is 0 (its log is -inf); the
    full-support test is that row's NaN, not a separate pass over P."""
    with np.errstate(divide="ignore"):
        out = _row_dots(P, np.log(P))    # an entry 0 gives 0 * log 0 = 0 * -inf = NaN in its row only
    lost = np.isnan(out)                 # P is validated finite and >= 0: NaN means a zero entry
    if lost.any():
        out[lost] = xlogy(P[lost], P[lost]).sum(axis=1)
    return out


def kl_rows(p, log_q) -> np.ndarray:
    """KL(p_i || q_i) per row from p (N, K) and log q (N, K) or (K,); 0 log 0 = 0.

    Taking log q keeps witness probabilities that underflow (logits of several hundred)
    finite. Where p_ik = 0 the term is 0 whatever q_ik is; where p_ik > 0 = q_ik, KL = inf.
    """
    P = check_distributions(p, "p")
    LQ = check_log_probs(log_q, "log_q")
    if LQ.shape not in (P.shape, P.shape[1:]):
        raise ValueError(f"log_q has shape {LQ.shape} but p has shape {P.shape}; "
                         f"pass log_q of shape {P.shape} (one row per row of p) or {P.shape[1:]} (one q for all)")
    return neg_entropy_rows(P) - cross_rows(P, LQ)


def teacher_marginal(teacher, weights=None) -> np.ndarray:
    """Tbar = sum_i w_i T_i (K,), the best constant predictor (T1)."""
    T, w = check_teacher(teacher, weights)
    return marginal(T, w)


def log_marginal(T: np.ndarray, w: np.ndarray, tbar: np.ndarray | None = None) -> np.ndarray:
    """log Tbar; -inf only where no weighted row puts mass (then every p log q term is 0).

    A column can underflow to Tbar_k = 0 although some w_i T_ik > 0 mathematically (subnormal
    entries times small weights); such columns are recomputed in log space with logsumexp.
    """
    tbar = marginal(T, w) if tbar is None else tbar    # ``tbar``: marginal(T, w) already computed
    with np.errstate(divide="ignore"):
        log_tbar = np.log(tbar)
    if not (tbar == 0).any():                           # the common case: no column to recover (no pass over T)
        return log_tbar
    # (mutmut, read as equivalent: `w >= 0` (a zero-weight row adds log 0 = -inf to the
    # log-sum-exp); `(tbar != 0).any()` above, `|` or `axis=None` or `T >= 0` in `lost`
    # (they recover more columns, each to the same value up to rounding, or a column with
    # no support to -inf); `+ log_total` (log_total = log sum_k Tbar_k is 0 up to rounding)
    # and recomputing a given tbar, up to rounding)
    live = w > 0
    lost = (tbar == 0) & (T[live] > 0).any(axis=0)
    if lost.any():
        from scipy.special import logsumexp
        Tl = T[live][:, lost]
        with np.errstate(divide="ignore"):
            log_terms = np.log(w[live])[:, None] + np.log(Tl)                  # (N_live, #lost)
        log_total = np.log(_weighted_mean_rows(w, T).sum())                 # the normaliser of marginal
        log_tbar[lost] = logsumexp(log_terms, axis=0) - log_total
    return log_tbar


def _row_dots(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """<X_i, Y_i> per row, one pass and no (N, d) temporary. ``np.vecdot`` (NumPy >= 2.0) where
    it exists: ~25% faster than ``einsum("ij,ij->i")`` on (512, 100) blocks (bench/bench_certify.py);
    both are K-term sums with error <= K ulps of sum |X_ik Y_ik|. Silent on overflow, as einsum is:
    callers check the result (an inf row sum of squares is how huge codes are found)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _VECDOT(X, Y)


_VECDOT = getattr(np, "vecdot", None) or (lambda X, Y: np.einsum("ij,ij->i", X, Y))


def row_sq_norms(X: np.ndarray) -> np.ndarray:
    """||X_i||^2 per row (one pass, no (N, d) temporary)."""
    return _row_dots(X, X)


class Teacher:
    """A validated weighted teacher with everything that does not depend on the codes
    precomputed once: Tbar, log Tbar, sum_k T_ik log T_ik, the rows of I_T and I_T itself.

    Certifying a new set of codes against a ``Teacher`` (``certify(teacher, codes, witness)``
    or ``teacher.certify(codes, witness)``) then only evaluates the witness. Every function
    that takes ``teacher`` accepts a ``Teacher`` in place of the (N, K) array (pass no
    ``weights`` then: they are part of the object; ``validation.check_teacher`` is the one entry
    point). The few that take no weights but sum over rows (information_bound, permutation_pvalue,
    bootstrap_lcb) refuse a Teacher with non-uniform weights rather than drop them.
    """

    _witness_teacher = True   # how validation.check_teacher recognises a Teacher (it cannot import core)

    def __init__(self, teacher, weights=None):
        T, w, sums = teacher_and_row_sums(teacher, weights)
        self.T, self.w = T, w                                          # (N, K), (N,) summing to 1
        self.n, self.K = T.shape
        self.marginal = marginal(T, w)                                # (K,) Tbar
        # (mutmut: passing None is equivalent: log_marginal then recomputes the same marginal)
        self.log_marginal = log_marginal(T, w, self.marginal)         # (K,) log Tbar
        self.neg_entropy_rows = neg_entropy_rows(T)                   # (N,) sum_k T log T
        # (N,) sum_k T_ik (1 up to rounding): the validation's own sums where T is the array it summed
        self.row_sums = T.sum(axis=1) if sums is None else sums
        cross_bar = cross_rows(T, self.log_marginal)                  # (N,) sum_k T log Tbar
        # KL(T_i || Tbar) per row (T1); I_T is their weighted sum (no cancellation of entropies)
        self.information_rows = self.neg_entropy_rows - cross_bar
        self.information = wsum(w, self.information_rows)
        # every log is <= 0: sum_k T (|log T| + |log Tbar|), the teacher's share of the size of
        # what the margin sums (used by the floating-point error bound of certify)
        self.magnitude_rows = -self.neg_entropy_rows - cross_bar

    def __repr__(self) -> str:
        return f"Teacher(N={self.n}, K={self.K}, I_T={self.information:.6g})"

    def certify(self, codes, witness: Witness) -> Certificate:
        return certify(self, codes, witness)


def _as_teacher(teacher, weights=None) -> Teacher:
    if isinstance(teacher, Teacher):
        if weights is not None:
            raise ValueError("weights are part of a Teacher object; pass weights=None with a Teacher")
        return teacher
    return Teacher(teacher, weights)


@dataclass(frozen=True)
class _WitnessRows:
    """Per-row results of the witness kernel (all (N,))."""
    loss: np.ndarray        # KL(T_i || S(mu_i))
    magnitude: np.ndarray   # sum_k T_ik (|log T_ik| + |log S_ik| + |log Tbar_k|)
    force: np.ndarray       # ||grad_mu KL(T_i || S(mu_i))||^2
    code_sq: np.ndarray     # ||mu_i||^2
    mean_subspace_sq: float  # ||P^T mbar||^2, mbar = sum_i w_i mu_i
    spread_sq: np.ndarray   # ||P^T (mu_i - mbar)||^2


def _weighted_mean_rows(w: np.ndarray, X: np.ndarray, block: int = 256) -> np.ndarray:
    """sum_i w_i X_i (d,) for a wide (N, d) matrix, one pass: BLAS products on blocks of
    ``block`` rows (error <= ~block ulps), then a pairwise sum over the block sums (O(log N)).

    :func:`weighted_mean` transposes a weighted copy to get NumPy's pairwise sum, which costs
    more than the whole witness evaluation on 70,000 x 107 codes; this bound is as good in
    practice (256 + log2 N ulps against log2 N) at a fraction of the time.
    """
    # (mutmut, read as equivalent up to rounding: another block size; `reshape(-2, ...)`, which
    # NumPy reads as -1; `full <= n`, which adds an empty block's zero sum; concatenate's default axis 0)
    n, d = X.shape
    full = (n // block) * block
    parts = []
    if full:
        wb = w[:full].reshape(-1, 1, block)                             # (nb, 1, block)
        parts.append(np.matmul(wb, X[:full].reshape(-1, block, d))[:, 0, :])   # (nb, d)
    if full < n:
        parts.append((w[full:] @ X[full:])[None, :])
    sums = np.concatenate(parts, axis=0)                               # (nb, d)
    return np.ascontiguousarray(sums.T).sum(axis=1)                    # pairwise over the blocks


def _witness_rows(teacher: Teacher, codes, witness: Witness, loss_only: bool = False) -> _WitnessRows:
    """THE witness kernel: every per-row quantity of the certificate from ONE product A^T mu.

    certify, alignment_loss and escape_force all call this function. Rows are processed in
    blocks of ``_KERNEL_ROWS`` with reused buffers (fresh (N, K) temporaries cost more than
    the arithmetic). With l_i = beta A^T mu_i (the logits, centred by T3):

    - log S(mu_i) = l_i - max - log sum exp(l_i - max)          (log-softmax, max-shifted)
    - KL(T_i || S(mu_i)) = sum_k T log T - sum_k T log S        (T log T precomputed)
    - ||grad_i||^2 = ||beta A (S - T_i)||^2 = beta^2 kappa ||S - T_i||^2, since
      A^T A = kappa (I - 11^T/K) (T3) and 1^T (S - T_i) = 0 (both rows sum to 1)
    - ||P^T (mu_i - mbar)||^2 = ||l_i - beta A^T mbar||^2 / (beta^2 kappa)   (A A^T = kappa P P^T, T3)
    so no second product with P or V is needed. The subspace energy needs no row pass:
    sum_i w_i ||P^T mu_i||^2 = sum_i w_i ||P^T (mu_i - mbar)||^2 + ||P^T mbar||^2 (certify).

    ``loss_only=True`` (alignment_loss, the T11 frontier's solves): only ``loss`` and ``code_sq``, the
    same floats and the same errors, and the other fields empty: the rest of the pass was half of
    the kernel's time on the frontier's few-row teachers (fixed costs, not arithmetic).
    """
    check_witness(witness)
    mu = check_codes(codes, witness.d, teacher.n, check_finite=False)
    if loss_only:
        return _witness_losses(teacher, mu, witness)
    with np.errstate(invalid="ignore"):   # 0 * inf in the product: NaN, refused just below (no warning first)
        mbar = _weighted_mean_rows(teacher.w, mu)                                     # (d,)
    # a NaN or inf code shows in the weighted mean (w NaN = NaN, w inf = inf or NaN): the error
    # comes before any other; huge finite codes whose sum overflows pass on (the fallbacks below)
    # (mutmut: negating this test, or the per-block one below, is equivalent: either check alone
    # sees every NaN or inf code, since a non-finite code makes mbar non-finite, 0 * inf included)
    if not np.isfinite(mbar).all():
        check_all_finite(mu, "codes")
    check_K_match(teacher.T, witness)
    T, n, K = teacher.T, teacher.n, teacher.K
    beta, kappa = witness.scale, witness.kappa
    loss, mag, force, spread_sq, code_sq = (np.empty(n) for _ in range(5))
    with np.errstate(over="ignore", invalid="ignore"):   # huge codes: handled by the fallbacks below
        lbar = beta * (mbar @ witness.A)                                              # (K,) beta A^T mbar
    B = min(_KERNEL_ROWS, n)
    A = witness._A                                                    # the witness's own A: no copy per block
    # two reused (B, K) buffers, updated in place (bench/bench_certify.py: a third buffer for
    # the shifted logits made the kernel ~10% slower, its block no longer staying in cache)
    logits, expd = np.empty((B, K)), np.empty((B, K))
    # (mutmut, read as equivalent: the loop without its step (every block recomputed, only slower);
    # spread_sq set to NaN (the fallback path then recomputes the spread from P^T mu); lse divided
    # by the row sums (sum_k T_ik = 1 up to rounding); cross_rows also for finite rows (the same
    # value up to rounding). The cross_rows call itself is taken only when two logits of a row
    # differ by more than float64's largest number: proofs/test_certify_kernel.py draws such a row)
    for a in range(0, n, B):
        b = min(a + B, n)
        m = b - a
        l, e, Tc, mub = logits[:m], expd[:m], T[a:b], mu[a:b]  # noqa: E741 -- l: the logits block
        # ||mu_i||^2 in the block the product reads anyway (one pass over the codes less); it is
        # finite only if every entry of mu_i is (NaN^2 = NaN, inf^2 = inf, and a sum of squares
        # cannot cancel an infinity), so it also proves the block finite
        code_sq[a:b] = row_sq_norms(mub)
        if not np.isfinite(code_sq[a:b]).all():
            check_all_finite(mu, "codes")   # NaN or inf: the error; huge finite codes pass on
        with np.errstate(over="ignore", invalid="ignore"):
            np.matmul(mub, A, out=l)                             # A^T mu, then times beta: the
            l *= beta  # noqa: E741                                    # rounding of Witness.logits
            top = row_max_of(l)[:, None]
            np.subtract(l, lbar, out=e)
            spread_sq[a:b] = row_sq_norms(e)
        # an overflowing logit (+-inf, or NaN from inf - inf) shows in the spread (O(m) to check);
        # only then are the logits themselves checked (a huge finite spread alone is no error)
        # (mutmut: `or` for the first `and` survives: it changes only which error overflowing logits
        # get, since a -inf logit where T > 0 makes L_TS infinite and certify refuses it as too large)
        if not (np.isfinite(top).all() and (np.isfinite(spread_sq[a:b]).all() or np.isfinite(l).all())):
            _raise_logit_overflow(mu, beta)
        cross_s, total = _block_cross(l, top, e, Tc, teacher.row_sums[a:b])
        loss[a:b] = teacher.neg_entropy_rows[a:b] - cross_s
        mag[a:b] = teacher.magnitude_rows[a:b] - cross_s
        e *= (1.0 / total)[:, None]                                    # S (a multiply: ~30% cheaper than e / total)
        e -= Tc                                                        # r = S - T_i
        force[a:b] = row_sq_norms(e)
    with np.errstate(over="ignore", under="ignore"):
        b2k = float(np.float64(beta) ** 2 * kappa)                   # a Python float ** 2 raises OverflowError
    with np.errstate(over="ignore", invalid="ignore"):
        lbar_sq = float(lbar @ lbar)
    if _NORMAL_MIN <= b2k < np.inf and np.isfinite(lbar_sq) and np.isfinite(spread_sq).all():
        # the ordinary path (any witness_scale in ~[1e-150, 1e150] and codes that do not overflow)
        return _WitnessRows(loss=loss, magnitude=mag, force=b2k * force, code_sq=code_sq,
                            mean_subspace_sq=lbar_sq / b2k, spread_sq=spread_sq / b2k)
    # beta^2 under/overflows or the logit-space spread overflows: compute beta^2 kappa ||r||^2 as
    # (beta sqrt(kappa ||r||^2))^2 and the subspace quantities from P^T mu directly (scaled by
    # max |mu| so that mu - mbar cannot overflow), never 0/0, inf/inf or 0 * inf
    # (mutmut, read as equivalent: any positive s below, e.g. 1.0 always or 2.0 for zero codes: the
    # codes passed check_code_norms, so mu - mbar cannot overflow, and zero codes give z = 0 for any s)
    with np.errstate(over="ignore", under="ignore"):
        force_b = np.square(beta * np.sqrt(kappa * force))
        big = float(np.abs(mu).max())
        s = big if big > 0 else 1.0
        P = witness._P
        z = (mu / s - mbar / s) @ P                                    # (N, K-1): P^T (mu - mbar) / s
        spread = row_sq_norms(z) * s * s
        zbar = (mbar / s) @ P
        mean_sq = float(zbar @ zbar) * s * s
    return _WitnessRows(loss=loss, magnitude=mag, force=force_b, code_sq=code_sq,
                        mean_subspace_sq=mean_sq, spread_sq=spread)


def _block_cross(logits: np.ndarray, top: np.ndarray, e: np.ndarray, Tc: np.ndarray,
                 row_sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's sum_k T_ik log S_ik for a block of ``logits`` (m, K) with row maxima ``top`` (m, 1),
    and sum_k exp(logits_k - top) (m,). ``logits`` is max-shifted in place and ``e`` (m, K) receives
    exp(logits - top) (the full kernel turns it into S - T_i next). Shared by the full kernel and the
    loss-only pass, so both compute L_TS by the same operations."""
    with np.errstate(over="ignore"):   # a gap beyond 1.8e308 rounds to -inf: probability 0
        logits -= top
    np.exp(logits, out=e)
    total = e @ _ones(logits.shape[1])                                 # sum_k exp (a BLAS gemv: 2x a reduce)
    lse = np.log(total)                                                # (m,) in [0, log K]
    # sum_k T log S = sum_k T (l - top) - lse sum_k T, without the (m, K) pass that forms log S:
    # every l - top <= 0 and lse >= 0, so |log S_k| = |l_k - top| + lse term by term and the
    # two parts' absolute sizes add up to sum_k T |log S| (the magnitude the error bound uses)
    with np.errstate(invalid="ignore"):
        cross_s = _row_dots(Tc, logits) - lse * row_sums
    if not np.isfinite(cross_s).all():                                 # log S = -inf: 0 log 0 = 0 (h13a)
        cross_s = cross_rows(Tc, logits - lse[:, None])
    return cross_s, total


def _witness_losses(teacher: Teacher, mu: np.ndarray, witness: Witness) -> _WitnessRows:
    """:func:`_witness_rows` with ``loss_only=True`` on checked-shape codes: the loss of each row by
    the kernel's operations (one block: the frontier's and most callers' teachers have N <= 512 rows;
    more rows are taken in the kernel's blocks), ||mu_i||^2, and nothing else."""
    n = teacher.n
    if n > _KERNEL_ROWS:
        full = _witness_rows(teacher, mu, witness)
        return _WitnessRows(loss=full.loss, magnitude=_EMPTY, force=_EMPTY, code_sq=full.code_sq,
                            mean_subspace_sq=0.0, spread_sq=_EMPTY)
    # the errors in the full kernel's order: a NaN or inf code (its squared norm is not finite; huge
    # finite codes whose squares overflow pass on, as there), then the witness's K, then overflowing logits
    code_sq = row_sq_norms(mu)
    if not np.isfinite(code_sq).all():
        check_all_finite(mu, "codes")
    check_K_match(teacher.T, witness)
    beta = witness.scale
    with np.errstate(over="ignore", invalid="ignore"):
        ls = mu @ witness._A                                               # A^T mu, then times beta (the kernel's order)
        ls *= beta
    # the kernel raises where its logits are not all finite (a non-finite logit makes the row max or the
    # spread ||l - lbar||^2 non-finite, and its test then checks the logits): the same test, directly
    if not np.isfinite(ls).all():
        _raise_logit_overflow(mu, beta)
    cross_s, _ = _block_cross(ls, row_max_of(ls)[:, None], np.empty_like(ls), teacher.T, teacher.row_sums)
    return _WitnessRows(loss=teacher.neg_entropy_rows - cross_s, magnitude=_EMPTY, force=_EMPTY, code_sq=code_sq,
                        mean_subspace_sq=0.0, spread_sq=_EMPTY)


def row_losses_and_code_sq(teacher: Teacher, codes, witness: Witness) -> tuple[np.ndarray, np.ndarray]:
    """(KL(T_i || S(mu_i)), ||mu_i||^2) per row, by the kernel under :func:`alignment_loss` (loss_only): the
    T11 frontier takes L_TS = wsum(w, first) and code_energy's sum from one pass over its optimal codes."""
    rows = _witness_rows(teacher, codes, witness, loss_only=True)
    return rows.loss, rows.code_sq


_EMPTY = np.empty(0)
_EMPTY.flags.writeable = False


def _raise_logit_overflow(mu: np.ndarray, beta: float):
    """The error of :meth:`Witness.logits` for logits that overflow float64 (names ``codes``)."""
    raise ValueError(
        f"codes are too large: witness_scale * A^T mu overflows float64 (largest |code| entry "
        f"{np.abs(mu).max():.3g}, witness_scale {beta:.3g}); scale the codes or witness_scale down")


_NORMAL_MIN = float(np.finfo(np.float64).tiny)
_KERNEL_ROWS = 512  # rows per kernel block: two (512, K) buffers and the (512, K) teacher block stay in L2 for K <= 100


def teacher_information(teacher, weights=None) -> float:
    """I_T = sum_i w_i KL(T_i || Tbar) = H(Tbar) - sum_i w_i H(T_i) (T1).

    Computed as the weighted KL sum (no cancellation between two large entropies), by
    :class:`Teacher` (the same precomputation certify uses).
    """
    return _as_teacher(teacher, weights).information


def teacher_residual(teacher, q, weights=None) -> float:
    """R = sum_i w_i ||T_i - q||^2 (T6): the teacher residual around a constant prediction q (K,).

    The one place R is computed: row norms by einsum, the weighted sum pairwise (a BLAS
    ``w @ x`` accumulates O(N) ulps; see :func:`weighted_mean`).
    """
    tch = _as_teacher(teacher, weights)
    # (mutmut: reshape(-2) is equivalent: NumPy reads any negative size as -1)
    qv = as_float_array(q, "q", (1, 2)).reshape(-1)
    if qv.shape[0] != tch.K:
        raise ValueError(f"q has {qv.shape[0]} entries but the teacher has K = {tch.K}")
    diff = tch.T - qv                                                  # (N, K)
    return wsum(tch.w, row_sq_norms(diff))


def alignment_loss(teacher, codes, witness: Witness, weights=None) -> float:
    """L_TS = sum_i w_i KL(T_i || S(mu_i)) (KL, not cross-entropy); the kernel of :func:`certify`."""
    check_witness(witness)
    tch = _as_teacher(teacher, weights)
    return wsum(tch.w, _witness_rows(tch, codes, witness, loss_only=True).loss)


def certificate_margin(teacher, codes, witness: Witness, weights=None) -> float:
    """G_T = I_T - L_TS. G_T > 0 proves the encoder mean is not constant on the data (T2)."""
    return teacher_information(teacher, weights) - alignment_loss(teacher, codes, witness, weights)


def check_K_match(T: np.ndarray, witness: Witness, name: str = "teacher") -> None:
    if T.shape[1] != witness.K:
        raise ValueError(f"{name} has K = {T.shape[1]} outcomes but the witness was built for K = {witness.K} "
                         f"({name} shape {T.shape}, {witness!r}); build the witness with Witness({T.shape[1]}, d, scale)")


@dataclass(frozen=True)
class Certificate:
    """Result of :func:`certify` on one weighted data set (exact for that empirical set).

    ``float_error`` is an a-priori bound on the floating-point error of G_T (standard
    summation analysis): (K + log2 N + 8) unit roundoffs times the sum of absolute terms,
    plus the rounding of the logits, 2 (d + 2) u beta sum_i w_i ||mu_i|| (each logit
    beta <A_k, mu_i> is a d-term dot product with error <= (d + 2) u beta ||mu_i|| ||A_k||,
    ||A_k|| = 1, and a logit error delta moves KL(T_i||S) by at most 2 max|delta|). The
    verdict is "certified" only when G_T exceeds it. A negative margin means "not certified",
    never "collapsed".
    """
    teacher_information: float
    alignment_loss: float
    margin: float
    float_error: float
    certified: bool
    size_bound: float          # T8: beta sqrt(2 kappa) sum_i w_i ||P^T (mu_i - mbar)||
    size_bound_trace: float    # T8: beta sqrt(2 kappa) sqrt(tr Cov_w(P^T mu))
    escape_force: float        # sum_i w_i ||grad_mu KL(T_i || S(mu_i))||^2 (T6)
    code_energy: float         # (1/2) sum_i w_i ||mu_i||^2
    subspace_energy: float     # (1/2) sum_i w_i ||P^T mu_i||^2
    n: int
    K: int
    d: int
    witness_scale: float

    @property
    def verdict(self) -> str:
        return "certified" if self.certified else "not certified"

    @property
    def size_bound_slack(self) -> float:
        return self.size_bound - self.margin

    def as_dict(self) -> dict:
        from dataclasses import asdict
        out = asdict(self)
        out["verdict"] = self.verdict
        out["size_bound_slack"] = self.size_bound_slack
        return out


def certify_error_bound(magnitude: float, n: int, K: int, d: int, beta: float, mean_code_norm: float) -> float:
    """The floating-point error bound of G_T used by :func:`certify` (see :class:`Certificate`):
    (K + log2 N + 8) u (magnitude + 1) + 2 (d + 2) u beta E||mu||, u = float64 epsilon."""
    return float((K + np.log2(n) + 8) * EPS * (magnitude + 1.0) + 2 * (d + 2) * EPS * beta * mean_code_norm)


def certify(teacher, codes, witness: Witness, weights=None) -> Certificate:
    """Every certificate quantity for encoder means ``codes`` (N, d) against ``teacher``.

    ``teacher`` is an (N, K) array (with optional ``weights``) or a precomputed
    :class:`Teacher` (then only the witness is evaluated). All per-row quantities come from
    the one kernel :func:`_witness_rows` that alignment_loss and escape_force also use; the
    per-row results are combined with pairwise sums.
    """
    check_witness(witness)
    tch = _as_teacher(teacher, weights)
    rows = _witness_rows(tch, codes, witness)
    w, n, K = tch.w, tch.n, tch.K
    # finite codes whose ||mu_i||^2 overflows make the energies and the float-error bound inf:
    # the verdict "not certified" would then rest on inf, so such codes are refused
    check_code_norms(np.asarray(codes, dtype=np.float64), "codes", rows.code_sq)
    info, loss = tch.information, wsum(w, rows.loss)
    margin = info - loss
    float_error = certify_error_bound(wsum(w, rows.magnitude), n, K, witness.d, witness.scale,
                                      wsum(w, np.sqrt(rows.code_sq)))
    # (mutmut: `or` for `and` is equivalent: the code norms were checked finite above, so the
    # float-error bound is infinite only when the magnitude of the terms is, and then so is L_TS)
    if not (np.isfinite(margin) and np.isfinite(float_error)):
        raise_too_large(np.asarray(codes, dtype=np.float64), "codes",
                        f"G_T or its float-error bound at witness_scale {witness.scale:.3g}")
    c = witness.scale * np.sqrt(2 * witness.kappa)     # T8: G_T <= c E||P^T(mu - mbar)|| <= c sqrt(tr Cov)
    return Certificate(
        teacher_information=info, alignment_loss=loss, margin=margin,
        float_error=float_error, certified=bool(margin > float_error),
        size_bound=float(c * wsum(w, np.sqrt(rows.spread_sq))),
        size_bound_trace=float(c * np.sqrt(wsum(w, rows.spread_sq))),
        escape_force=wsum(w, rows.force),
        code_energy=0.5 * wsum(w, rows.code_sq),
        # E||P^T mu||^2 = E||P^T (mu - mbar)||^2 + ||P^T mbar||^2 (mbar is the weighted mean)
        subspace_energy=0.5 * (wsum(w, rows.spread_sq) + rows.mean_subspace_sq),
        n=n, K=K, d=witness.d, witness_scale=witness.scale,
    )


# ---------------------------------------------------------------------------------------
# Exact code, energies (T4, T5)
# ---------------------------------------------------------------------------------------

def exact_code(p, witness: Witness) -> np.ndarray:
    """mu*(p) = ((K-1)/(K beta)) A clr(p): the minimum-norm code with S(mu*(p)) = p (T4).

    ``p`` is one full-support row (K,) -> (d,), or rows (N, K) -> (N, d).
    """
    check_witness(witness)
    P = check_distributions(p, "p", full_support=True)
    check_K_match(P, witness, "p")
    codes = ((witness.K - 1) / (witness.K * witness.scale)) * (clr_from_log(np.log(P)) @ witness.A.T)
    return codes[0] if np.ndim(p) == 1 else codes   # p is a valid array here


def exact_embedding(teacher, witness: Witness) -> np.ndarray:
    """The embedding of a teacher: the (N, d) matrix of rows mu*(T_i) (T4)."""
    check_witness(witness)
    T, _ = check_teacher(teacher, full_support=True)   # per row: a Teacher's weights play no part
    check_K_match(T, witness)
    return exact_code(T, witness)


def best_constant_code(teacher, witness: Witness, weights=None) -> np.ndarray:
    """mubar = mu*(Tbar) (d,): the constant code whose witness output is the teacher marginal."""
    check_witness(witness)
    T, w = check_teacher(teacher, weights)
    check_K_match(T, witness)
    tbar = marginal(T, w)
    return exact_code(check_distributions(tbar, "teacher marginal", full_support=True)[0], witness)


def logodds_energy(teacher, weights=None) -> float:
    """E_T = sum_i w_i ||clr(T_i)||^2 (needs full support)."""
    T, w = check_teacher(teacher, weights, full_support=True)
    return wsum(w, (clr_from_log(np.log(T)) ** 2).sum(axis=1))


def code_energy(codes, weights=None) -> float:
    """Mean latent energy (1/2) sum_i w_i ||mu_i||^2."""
    mu = as_float_array(codes, "codes", (1, 2))
    mu = mu[None, :] if mu.ndim == 1 else mu
    if mu.shape[0] == 0:
        raise ValueError(f"codes has no rows (shape {mu.shape}); pass at least one code")
    return energy_of_sq_norms(mu, check_weights(weights, mu.shape[0]), row_sq_norms(mu))


def energy_of_sq_norms(mu: np.ndarray, w: np.ndarray, sq: np.ndarray) -> float:
    """:func:`code_energy` of validated (N, d) codes from their squared norms ``sq`` = row_sq_norms(mu)
    (the witness kernel's ``code_sq``: the frontier's solves take L and E from one kernel pass)."""
    check_code_norms(mu, "codes", sq)        # an inf energy from finite codes: refused, not returned
    energy = 0.5 * wsum(w, sq)
    if not np.isfinite(energy):
        raise_too_large(mu, "codes", "the energy (1/2) sum_i w_i ||mu_i||^2")
    return energy


def subspace_energy(codes, witness: Witness, weights=None) -> float:
    """(1/2) sum_i w_i ||P^T mu_i||^2: the energy inside the protected witness subspace."""
    check_witness(witness)
    return code_energy(witness.subspace_coordinates(codes), weights)


def exact_code_energy(teacher, witness: Witness, weights=None) -> float:
    """(1/2) sum_i w_i ||mu*(T_i)||^2 = ((K-1)/(2 K beta^2)) E_T (T5): the least mean energy
    of any code with zero alignment error.

    For a tiny witness_scale the energy can exceed float64's range: it is then +inf (the
    correctly rounded value), never a ZeroDivisionError from beta^2 underflowing to 0."""
    check_witness(witness)
    T, w = check_teacher(teacher, weights, full_support=True)
    check_K_match(T, witness)
    K = T.shape[1]
    energy = logodds_energy(T, w)
    with np.errstate(over="ignore", under="ignore"):
        beta2 = float(np.float64(witness.scale) ** 2)   # a Python float ** 2 raises OverflowError
    # (mutmut: `1 < beta2` is equivalent up to rounding: the fallback below evaluates the same value)
    if 0 < beta2 < np.inf:
        return (K - 1) / (2 * K * beta2) * energy
    with np.errstate(over="ignore"):   # beta^2 under/overflowed: divide by beta twice instead
        return float(np.float64((K - 1) / (2 * K)) * energy / witness.scale / witness.scale)


# ---------------------------------------------------------------------------------------
# Gradients, escape field and step (T6)
# ---------------------------------------------------------------------------------------

def alignment_gradient(teacher, codes, witness: Witness) -> np.ndarray:
    """Per-sample grad_mu KL(T_i || S(mu_i)) = beta A (S(mu_i) - T_i): (N, d)."""
    check_witness(witness)
    T, _ = check_teacher(teacher)   # per row: a Teacher's weights play no part
    mu = check_codes(codes, witness.d, T.shape[0])
    check_K_match(T, witness)
    return witness.scale * (witness.probs(mu) - T) @ witness.A.T


def escape_field(teacher, center, witness: Witness) -> np.ndarray:
    """Teacher-residual field d_i = beta A (T_i - q), q = S(center): (N, d) (T6)."""
    check_witness(witness)
    T, _ = check_teacher(teacher)   # per row: a Teacher's weights play no part
    check_K_match(T, witness)
    c = check_codes(center, witness.d, 1, name="center")
    q = _center_probs(c, witness)  # (1, K)
    return witness.scale * (T - q) @ witness.A.T


def _center_probs(c: np.ndarray, witness: Witness) -> np.ndarray:
    """S(center), with an overflow reported against ``center`` (the caller's argument)."""
    try:
        return witness.probs(c)
    except ValueError as exc:
        raise ValueError(str(exc).replace("codes are too large", "center is too large", 1)) from None


def escape_force(teacher, codes, witness: Witness, weights=None) -> float:
    """sum_i w_i ||grad_i||^2, the escape force; at the best constant it equals
    beta^2 kappa sum_i w_i ||T_i - Tbar||^2 (T6). Evaluated by the kernel of :func:`certify`."""
    check_witness(witness)
    tch = _as_teacher(teacher, weights)
    return wsum(tch.w, _witness_rows(tch, codes, witness).force)


def escape_step_size(witness: Witness) -> float:
    """eps = 2 / (beta^2 kappa): the step that guarantees L_TS drops by at least R (T6).

    Raises ValueError when the step is outside float64's normal range: above it (witness_scale
    below ~1e-154) an infinite step would turn every later code into inf or NaN; below it
    (witness_scale above ~1e154, where beta^2 kappa overflows) the step is subnormal or 0, so
    it carries fewer than 52 bits and the descent lemma's value L0 - R no longer holds to
    rounding (a proof measured 2e-11 at beta = 3e154; once, the step came out 0 because
    beta^2 kappa overflowed)."""
    check_witness(witness)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        b2k = np.float64(witness.scale) ** 2 * witness.kappa    # a Python float ** 2 raises OverflowError
        eps = float(np.float64(2.0) / b2k)
    if not np.isfinite(eps):
        raise ValueError(f"witness_scale {witness.scale!r} is too small: the escape step 2/(beta^2 kappa) "
                         "overflows float64; use a witness_scale above 1e-150")
    # (mutmut: np.finfo(None) is equivalent: NumPy reads None as float64)
    if eps < np.finfo(np.float64).tiny:
        raise ValueError(f"witness_scale {witness.scale!r} is too large: the escape step 2/(beta^2 kappa) is below "
                         "float64's normal range (it loses precision or underflows to 0); use a witness_scale below 1e150")
    return eps


def check_step(step, witness) -> float:
    return escape_step_size(witness) if step is None else check_finite_number(step, "step", positive=True)


def escape_step(teacher, center, witness: Witness, step: float | None = None) -> np.ndarray:
    """Codes c + eps d_i after one explicit step along the escape field: (N, d)."""
    check_witness(witness)
    eps = check_step(step, witness)
    c = check_codes(center, witness.d, 1, name="center")
    with np.errstate(over="ignore", invalid="ignore"):
        out = c + eps * escape_field(teacher, c, witness)
    if not np.isfinite(out).all():
        raise ValueError(f"step {eps!r} is too large: the codes c + step * d overflow float64; use a smaller step")
    return out


def escape_step_bound(teacher, center, witness: Witness, step: float | None = None,
                      weights=None) -> float:
    """Upper bound L_TS(c) - eps beta^2 kappa R + eps^2 beta^4 kappa^2 R / 4 on L_TS(c + eps d)
    (Hessian of KL(t || softmax(a)) has largest eigenvalue <= 1/2), R = sum w ||T_i - q||^2.

    When that overflows (a huge step), it is evaluated as L_TS(c) + R x (x/4 - 1) with
    x = eps beta^2 kappa; if that too exceeds float64 the step is refused (ValueError naming
    ``step``): an inf bound would make T6's check "hold" on an overflow, not on the theorem."""
    check_witness(witness)
    T, w = check_teacher(teacher, weights)
    check_K_match(T, witness)
    c = check_codes(center, witness.d, 1, name="center")
    eps = check_step(step, witness)
    R = teacher_residual(T, _center_probs(c, witness), w)
    L0 = alignment_loss(T, np.repeat(c, T.shape[0], axis=0), witness, w)
    if R == 0:
        return L0
    with np.errstate(over="ignore", invalid="ignore"):
        b2k = np.float64(witness.scale) ** 2 * witness.kappa
        # (mutmut: a NaN here, e.g. b2k or eps replaced by np.float64(None), is equivalent up to
        # rounding: the fallback below evaluates the same bound, L0 + R x (x/4 - 1))
        bound = L0 - eps * b2k * R + np.float64(eps) ** 2 * b2k ** 2 * R / 4
        if np.isfinite(bound):
            return float(bound)
        x = np.float64(eps) * witness.scale * witness.scale * witness.kappa
        bound = L0 + R * (x * (x / 4 - 1))   # x (x/4 - 1) >= -1: never -inf or NaN
    if not np.isfinite(bound):
        try:
            hint = f", e.g. the default escape_step_size(witness) = {escape_step_size(witness):.3g}"
        except ValueError:   # this witness_scale has no normal default step either
            hint = ""
        raise ValueError(f"step {eps!r} is too large: the bound L_TS(c) - eps beta^2 kappa R + eps^2 beta^4 kappa^2 R / 4 "
                         f"overflows float64 (witness_scale {witness.scale:.3g}); use a smaller step{hint}")
    return float(bound)


# ---------------------------------------------------------------------------------------
# Margin-energy path (T7)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MarginEnergyPath:
    """G(s) and the latent energy along a T7 path; ``energy`` is the mean energy
    (1/2) E||mu(s)||^2 for mode "scaled" and the excess (1/2) E||mu(s) - mubar||^2 for
    mode "interpolate"."""
    mode: str
    s: np.ndarray
    margin: np.ndarray
    alignment_loss: np.ndarray
    energy: np.ndarray
    teacher_information: float


def margin_energy_path(teacher, witness: Witness, weights=None, s=None,
                       mode: Literal["scaled", "interpolate"] = "scaled") -> MarginEnergyPath:
    """Margin and energy along mu_i(s) = s mu*(T_i) ("scaled") or
    (1-s) mu*(Tbar) + s mu*(T_i) ("interpolate"), s in [0, 1] (T7)."""
    check_witness(witness)
    T, w = check_teacher(teacher, weights, full_support=True)
    if not isinstance(mode, str) or mode not in ("scaled", "interpolate"):
        raise ValueError(f"mode must be 'scaled' or 'interpolate', got {mode!r}")
    s = np.linspace(0.0, 1.0, 21) if s is None else as_float_array(s, "s", 1)
    if s.size == 0:
        raise ValueError("s is empty; pass at least one path parameter in [0, 1]")
    if (s < 0).any() or (s > 1).any():
        raise ValueError("s must lie in [0, 1]")
    codes = exact_embedding(T, witness)
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.einsum("ij,ij->i", codes, codes)
    if not np.isfinite(sq).all():   # the codes are ~1/witness_scale: the user's argument is the scale
        raise ValueError(f"witness_scale {witness.scale:.3g} is too small for this teacher: the exact codes "
                         f"mu*(T_i) = ((K-1)/(K witness_scale)) V clr(T_i) reach |entry| {np.abs(codes).max():.3g} "
                         "and their energy overflows float64; use a larger witness_scale")
    base = best_constant_code(T, witness, w) if mode == "interpolate" else np.zeros(witness.d)
    tch = Teacher(T, w)                 # built once, not by each of the path's alignment_loss calls
    info = tch.information
    loss_list: list[float] = []
    energies: list[float] = []
    for si in s:
        mu = (1 - si) * base + si * codes
        loss_list.append(alignment_loss(tch, mu, witness))
        # (mutmut: always `mu - base` is equivalent: base is the zero code on the scaled path)
        energies.append(code_energy(mu - base, w) if mode == "interpolate" else code_energy(mu, w))
    losses = np.array(loss_list)
    return MarginEnergyPath(mode=mode, s=s, margin=info - losses, alignment_loss=losses,
                            energy=np.array(energies), teacher_information=info)


# ---------------------------------------------------------------------------------------
# Size bound (T8), view gap (T9), Gaussian KL (T10)
# ---------------------------------------------------------------------------------------

def size_bound(codes, witness: Witness, weights=None) -> tuple[float, float]:
    """T8: (beta sqrt(2 kappa) sum_i w_i ||P^T(mu_i - mbar)||, beta sqrt(2 kappa) sqrt(tr Cov_w(P^T mu))).

    Both upper-bound G_T for any encoder means; the second is the looser one.
    """
    check_witness(witness)
    z = witness.subspace_coordinates(codes)  # (N, K-1)
    return _size_bound_from_coordinates(z, witness, check_weights(weights, z.shape[0]))


def _size_bound_from_coordinates(z: np.ndarray, witness: Witness, w: np.ndarray) -> tuple[float, float]:
    mbar = weighted_mean(w, z)
    sq = np.empty(z.shape[0])                           # ||P^T (mu_i - mbar)||^2, in blocks of rows
    # (mutmut: `range(0, N)` without the step is equivalent in output, only slower: every block
    # rewrites its rows with the same values)
    for a in range(0, z.shape[0], _CHUNK_ROWS):
        centred = z[a:a + _CHUNK_ROWS] - mbar
        sq[a:a + _CHUNK_ROWS] = np.einsum("ij,ij->i", centred, centred)
    c = witness.scale * np.sqrt(2 * witness.kappa)
    with np.errstate(over="ignore", invalid="ignore"):
        bounds = float(c * wsum(w, np.sqrt(sq))), float(c * np.sqrt(wsum(w, sq)))
    if not np.isfinite(bounds).all():   # an inf bound on G_T bounds nothing: refuse it
        raise_too_large(z, "codes", f"the size bound beta sqrt(2 kappa) E||P^T(mu - mbar)|| at witness_scale "
                                    f"{witness.scale:.3g}")
    return bounds


def certified_spread(margin: float, witness: Witness) -> float:
    """Lower bound (G_T / beta)^2 / (2 kappa) on tr Cov_w(P^T mu) certified by a margin G_T > 0
    (T8); 0 when the margin is not positive. +inf (the correctly rounded value) when the
    bound exceeds float64's range (a tiny witness_scale)."""
    check_witness(witness)
    # (mutmut: `<` for `<=` below is equivalent: at margin 0 the formula gives 0.0 too)
    margin = check_finite_number(margin, "margin")
    if margin <= 0:
        return 0.0
    with np.errstate(over="ignore"):
        return float((np.float64(margin) / witness.scale) ** 2 / (2 * witness.kappa))


def group_indices(groups, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer class ids 0..G-1 for any hashable labels (None, strings, tuples, numbers).

    Numeric and text arrays go through np.unique; object arrays (mixed types, None) are mapped
    in order of first appearance, since np.unique cannot sort None against other labels. A list
    of text mixed with numbers is taken as objects, not as the text array NumPy makes of it: the
    labels "3" and 3 are two classes."""
    if groups is None or isinstance(groups, (str, bytes)):
        raise ValueError(f"groups must be a 1-D array with one view label per data point ({n}), got {groups!r:.40}")
    try:
        g = np.asarray(groups)
    except (TypeError, ValueError):   # ragged labels, e.g. tuples of different lengths
        g = None
    # one object label per element where np.asarray misreads a list of labels: ragged ones (g is
    # None); tuples of equal length (a 2-D array; nested lists stay 2-D: refused below as not
    # 1-D); text mixed with numbers or bytes (["a", 3] is the text array ["a", "3"], which gave
    # back "3" for the label 3 and put "3" and 3 in one class: thorough profile, 2026-12-06)
    if g is None or (not isinstance(groups, np.ndarray) and (
            (g.ndim > 1 and all(isinstance(x, tuple) for x in groups))
            or (g.dtype.kind in "US" and not all(isinstance(x, str if g.dtype.kind == "U" else bytes) for x in groups)))):
        # (mutmut: `hasattr(...) or True` is equivalent on every input we could build: np.asarray
        # raises only on sequences, which have __len__; an iterator becomes a 0-d array, refused below)
        g = _object_vector(list(groups)) if hasattr(groups, "__len__") else np.asarray(None)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"groups must be a 1-D array with one view label per data point ({n}), got shape {g.shape}")
    if g.dtype.kind == "f" and np.isnan(g).any() or (g.dtype.kind == "c" and np.isnan(g).any()):
        raise ValueError(f"groups has NaN labels (first at row {int(np.argmax(np.isnan(g)))}); give every data point a label")
    if g.dtype.kind != "O":
        return np.unique(g, return_inverse=True)
    ids: dict = {}
    inverse = np.empty(n, dtype=np.intp)
    for i, label in enumerate(g):
        if isinstance(label, (float, np.floating)) and np.isnan(label):
            raise ValueError(f"groups has a NaN label at row {i}; give every data point a label")
        try:
            inverse[i] = ids.setdefault(label, len(ids))
        except TypeError:
            raise TypeError(f"groups label at row {i} is {type(label).__name__}, which is not hashable; "
                            "use numbers, strings, tuples or None as labels") from None
    return _object_vector(list(ids)), inverse


def _object_vector(items: list) -> np.ndarray:
    """A 1-D object array holding ``items`` as they are, set one by one: np.array (or a slice
    assignment) would turn equal-length tuples into a 2-D array of their entries."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _group_means(T: np.ndarray, w: np.ndarray, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class masses (G,) and teacher averages within each view class (G, K).

    A class whose rows all have weight 0 is not in the data set: it gets mass 0 and, so that
    its mean is a valid distribution, the unweighted mean of its rows (it contributes 0).
    """
    n_groups = inv.max() + 1
    # (mutmut: without minlength, equivalent: inv holds every id 0..G-1, so bincount has G entries)
    mass = np.bincount(inv, weights=w, minlength=n_groups)                       # (G,)
    sums = np.zeros((n_groups, T.shape[1]))
    np.add.at(sums, inv, w[:, None] * T)
    empty = mass <= 0
    if empty.any():
        plain = np.zeros_like(sums)
        np.add.at(plain, inv, T)
        sums[empty] = plain[empty]
    return mass, sums / sums.sum(axis=1, keepdims=True)                          # (G,), (G, K)


def view_gap(teacher, groups, weights=None) -> float:
    """Gamma = sum_i w_i KL(T_i || Tbar_{g(i)}) for a discrete view with labels ``groups`` (T9):
    the least alignment loss of any latent-only predictor whose encoder sees only the view."""
    T, w = check_teacher(teacher, weights)
    _, inv = group_indices(groups, T.shape[0])
    mass, tbar_g = _group_means(T, w, inv)
    with np.errstate(divide="ignore"):
        log_tbar_g = np.log(tbar_g)
    # classes where a mean entry underflowed to 0 although a weighted row has mass there:
    # recompute those classes' log means in log space (as log_marginal does for Tbar)
    # (mutmut: selecting more classes here -- `|` for `&`, `>=` for `>`, `!=` for `==`, any over
    # all classes -- is equivalent up to rounding: the log-space mean of a class whose mean did
    # not underflow is the same number to a few ulps; `mass >= 0` is equivalent: a class with
    # support has a row of weight > 0, so mass > 0)
    support = np.zeros_like(tbar_g, dtype=bool)
    np.logical_or.at(support, inv, (T > 0) & (w > 0)[:, None])
    for g in np.flatnonzero(((tbar_g == 0) & support).any(axis=1) & (mass > 0)):
        rows = inv == g
        log_tbar_g[g] = log_marginal(T[rows], w[rows] / w[rows].sum())
    return wsum(w, kl_rows(T, log_tbar_g[inv]))


def view_information(teacher, groups, weights=None) -> float:
    """I(X'; K) = sum_g w_g KL(Tbar_g || Tbar) = I_T - Gamma: the largest certifiable margin
    when the encoder sees only the view (T9). Computed from the class means, independently of
    :func:`view_gap`."""
    T, w = check_teacher(teacher, weights)
    _, inv = group_indices(groups, T.shape[0])
    mass, tbar_g = _group_means(T, w, inv)
    return wsum(mass, kl_rows(tbar_g, log_marginal(T, w)))


def view_gap_estimate(teacher, view_features, weights=None, n_clusters: int = 32,
                      seed: int = 0) -> float:
    """Estimate of the view gap for a continuous view x' (T9), our documented method.

    On an empirical data set with distinct continuous views every point is its own view
    class, so the exact gap is 0 and says nothing. We quantise the view with k-means
    (``n_clusters`` cells, scikit-learn, fixed ``seed``) and return the exact discrete gap of
    the quantised view. Quantising coarsens the view, and coarsening can only increase the
    gap, so the estimate is conservative: the certifiable margin I_T - estimate is a lower
    bound on what the quantised view allows.
    """
    from sklearn.cluster import KMeans

    X = as_float_array(view_features, "view_features", 2)
    T, w = check_teacher(teacher, weights)
    if X.shape[0] != T.shape[0]:
        raise ValueError(f"view_features has {X.shape[0]} rows but the teacher has {T.shape[0]}")
    if isinstance(n_clusters, (bool, np.bool_)) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise ValueError(f"n_clusters must be an integer >= 1, got {n_clusters!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    # (mutmut: the `X.shape[0] == 0` test is equivalent to absent: a teacher has >= 1 row, and the
    # row count was compared with the teacher's above)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"view_features is empty (shape {X.shape}); pass one feature row per data point")
    k = min(int(n_clusters), X.shape[0])
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(X)
    return view_gap(T, labels, w)


def gaussian_kl(mu, log_var=None) -> np.ndarray:
    """KL(N(mu, diag sigma^2) || N(0, I)) per row = (1/2) sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)
    (Kingma & Welling 2014, App. B). ``log_var`` = log sigma^2 (default 0, i.e. sigma = 1)."""
    m = as_float_array(mu, "mu", (1, 2))
    # (mutmut: dropping log_var's (1, 2) dimension check is equivalent: the shape check below then
    # refuses any other log_var, with an error that also names log_var)
    lv = np.zeros_like(m) if log_var is None else as_float_array(log_var, "log_var", (1, 2))
    if lv.shape != m.shape:
        raise ValueError(f"log_var has shape {lv.shape} but mu has shape {m.shape}")
    # expm1(lv) - lv = sigma^2 - 1 - log sigma^2 without cancellation near sigma = 1; a KL
    # beyond float64's range (|mu| ~ 1e155 and up, log_var above ~709) is refused, not returned
    # as inf: T10's checks would compare an inf
    with np.errstate(over="ignore", invalid="ignore"):
        sq = m ** 2
        var_terms = np.expm1(lv) - lv
        kl = 0.5 * (sq + var_terms).sum(axis=-1)
    if not np.isfinite(kl).all():
        if not np.isfinite(sq.sum(axis=-1)).all():
            raise_too_large(m, "mu", "the KL term (1/2) sum mu_j^2")
        raise ValueError(f"log_var is too large: sigma^2 = exp(log_var) overflows float64 (largest log_var "
                         f"{float(lv.max()):.3g}); pass log-variances below 700")
    return kl
