"""Held-out certificates: a latent-only predictor fitted on one split, certified on another (T2H).

The raw certificate (:func:`witness_theory.certify`) uses a fixed witness, by default on the
first K-1 latent coordinates. For a model that was not trained with that witness a negative
raw margin says little. T2 holds for *any* latent-only predictor h that does not depend on the
evaluation data (``docs/theory.md``, theorem T2H), so we may choose h on a fit split
and certify on a disjoint evaluation split. Three predictors, each an estimator shaped like
scikit-learn's (settings in the constructor, checked by ``fit``; ``fit`` returns the estimator;
what it learned in attributes ending in ``_``):

- :class:`FittedWitness`: the simplex witness S(mu) = softmax(beta A^T mu), A = P V, with its
  frame P (d, K-1) and scale beta fitted on the fit split: orthogonal Procrustes
  initialisation, then descent of L_TS over the Stiefel manifold, then a 1-D search over beta;
- :class:`Probe`: a multinomial logistic regression h(mu) = softmax(W mu + b) fitted with the
  teacher rows as soft targets (scikit-learn's objective and optimiser);
- :class:`RawWitness`: a fixed :class:`witness_theory.Witness`, fitted on no rows.

``estimator.fit(teacher, codes, ids)`` chooses h on rows ``ids``; ``estimator.certify(teacher,
codes, ids)`` returns the one result type, :class:`HeldoutCertificate` (margin, T13 lower
confidence bound, verdict), and refuses rows the estimator was fitted on, naming them. Codes of
shape (n, M, d) are M draws z ~ q(z|x) per row: the posterior certificate (see ``certify``).
:func:`heldout_certify` fits and certifies the two parts of a :class:`HeldoutSplit` in one call.
The fitting's building blocks (:func:`procrustes_frame`, :func:`stiefel_descent`,
:func:`margin_from_log_probs`) are public here, not re-exported: the proofs test them directly.

Shapes: teacher rows (N, K), codes (N, d) or samples (N, M, d), weights (N,), row ids (N,) integers.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.linalg.lapack import dgesdd as _dgesdd

from . import core
from .information import DEFAULT_DELTA, InformationBound, information_bound
from .information import verdict as information_verdict
from .ledger import DEFAULT_RTOL, Theorem, relation
from .validation import (
    as_float_array,
    check_code_norms,
    check_codes,
    check_distributions,
    check_finite_number,
    check_seed,
    check_teacher,
    check_weights,
    is_teacher_object,
)

__all__ = [
    "HeldoutSplit", "heldout_split", "FittedWitness", "Probe", "RawWitness", "NotFittedError",
    "HeldoutCertificate", "heldout_certify", "T2H",
]

EPS = np.finfo(np.float64).eps
DEFAULT_SCALES = (0.5, 1.0, 2.0, 4.0, 8.0)
# The Procrustes targets are exact codes mu*(T_i), which need full support (T4). A teacher with
# exact zeros (raw GMM responsibilities underflow to 0) gets targets (only the targets: margins
# use the teacher as given) from (1 - f) T + f/K with f = 1e-6: that bounds |clr| by
# log(K/f) ~ 16 for K = 10 and moves no row by more than 1e-6 in total variation. A teacher with
# full support (the package's teachers are floored) is used as it is, so exact codes are
# recovered exactly.
PROCRUSTES_TARGET_FLOOR = 1e-6


_BLAS_DEPTH = 0   # how many one_blas_thread contexts this process is inside (the limit is process-wide)


@contextlib.contextmanager
def one_blas_thread():
    """A context with every loaded BLAS at one thread, for the fits' loops of small products.

    A fit makes thousands of products of (n, d) and (d, K) matrices; with more than one BLAS
    thread each product wakes and synchronises the other threads, which on a busy 2-core machine
    made a digits probe fit 5-10x slower (0.10-0.25 s against 0.015-0.025 s, measured 2026-12-06;
    the fitted witness and the probe came out bit-identical with one thread and two on those
    rows). The sweep's workers already run with one BLAS thread each. scikit-learn's KMeans
    limits BLAS the same way (``threadpool_limits(1, "blas")`` around its loops). scipy's BLAS is
    loaded first (the fits import scipy.optimize and scipy.linalg lazily), so the limit sees it.
    Listing the libraries reads /proc/self/maps: 1-3 ms with torch loaded, against 10-300 ms for
    a fit. Inside another such context nothing is listed again (the limit is already in place), so
    a caller that runs several fits enters it once around them all (the held-out evaluation's four
    fits). A fit in another thread of the same process while the outer context closes runs on with
    the restored thread count: slower, with the same results."""
    global _BLAS_DEPTH
    if _BLAS_DEPTH:
        yield
        return
    import scipy.linalg  # noqa: F401 -- load scipy's BLAS before threadpoolctl lists the libraries
    import scipy.optimize  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        _BLAS_DEPTH += 1
        try:
            yield
        finally:
            _BLAS_DEPTH -= 1


# ---------------------------------------------------------------------------------------
# Splits and row ids
# ---------------------------------------------------------------------------------------

def _readonly(a: np.ndarray) -> np.ndarray:
    # (mutmut: dropping dtype=np.int64 is equivalent: the ids were validated as int64 already)
    a = np.array(a, dtype=np.int64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class HeldoutSplit:
    """Sorted, disjoint integer row ids: ``fit`` (predictor chosen here) and ``eval`` (certified here)."""
    fit: np.ndarray
    eval: np.ndarray
    n: int
    fraction: float
    seed: int

    def __repr__(self) -> str:
        return (f"HeldoutSplit(n={self.n}, n_fit={self.fit.size}, n_eval={self.eval.size}, "
                f"fraction={self.fraction}, seed={self.seed})")


def heldout_split(n: int, *, fraction: float = 0.2, seed: int = 0) -> HeldoutSplit:
    """Split rows 0..n-1 at random into a fit split and an evaluation split of round(fraction n) rows.

    Deterministic for a seed (``numpy.random.default_rng(seed).permutation``); both index
    arrays are sorted, disjoint, read-only, and together cover 0..n-1. Each split gets >= 1 row.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n (number of rows) must be an integer >= 2 so that both splits get a row, got {n!r}")
    if n > MAX_ROWS:   # not a row count: its index arrays would not fit in memory (found by the fuzz)
        raise ValueError(f"n (number of rows) = {n} is over {MAX_ROWS:,}; a split of that many rows cannot be stored")
    f = check_finite_number(fraction, "fraction")          # text, lists, bools: TypeError naming fraction
    if not 0.0 < f < 1.0:
        raise ValueError(f"fraction (share of rows held out for evaluation) must lie in (0, 1), got {fraction!r}")
    seed = check_seed(seed)
    n_eval = min(max(int(round(f * n)), 1), int(n) - 1)
    perm = np.random.default_rng(int(seed)).permutation(int(n))
    return HeldoutSplit(fit=_readonly(np.sort(perm[n_eval:])), eval=_readonly(np.sort(perm[:n_eval])),
                        n=int(n), fraction=f, seed=int(seed))


MAX_ROWS = 2 ** 40   # 8 TiB of int64 row ids: any larger n is a mistyped size, not a data set


def _check_max_iter(max_iter, low: int) -> int:
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, (int, np.integer)) \
            or not low <= max_iter < 2 ** 31:
        raise ValueError(f"max_iter must be an integer in [{low}, 2**31), got {max_iter!r:.60}")
    return int(max_iter)


def _warm_frame(estimator) -> np.ndarray | None:
    """The fitted frame a warm start begins from (scikit-learn's ``warm_start``: reuse the
    previous fit), or None: ``warm_start`` False or nothing fitted yet."""
    if not isinstance(estimator.warm_start, (bool, np.bool_)):
        raise TypeError(f"warm_start must be True or False, got {estimator.warm_start!r:.60}")
    frame = getattr(estimator, "frame_", None) if estimator.warm_start else None
    # (mutmut: `dtype=None` or no dtype is equivalent: a fitted frame_ is float64 already)
    return None if frame is None else np.array(frame, dtype=np.float64)


_ROLES = re.compile(r"^(teacher|codes|weights|ids)(?!\w)")


def _renamed(exc: Exception, names: dict) -> Exception:
    """``exc`` (ValueError/TypeError) with its leading argument name (teacher, codes, weights,
    ids) replaced by the caller's name for it, e.g. codes -> codes_eval."""
    msg = str(exc)
    m = _ROLES.match(msg)
    if m and m.group(1) in names:
        msg = names[m.group(1)] + msg[m.end():]
    for old, new in names.items():   # the other argument names core mentions, as whole words
        if old not in ("teacher", "codes", "weights", "ids"):
            msg = re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, msg)
    return type(exc)(msg)


def _few(values, k: int = 10) -> str:
    values = np.asarray(values).ravel().tolist()
    head = ", ".join(str(v) for v in values[:k])
    return f"[{head}{', ...' if len(values) > k else ''}] ({len(values)} in all)"


def _check_ids(ids, n_rows: int, name: str) -> np.ndarray:
    try:
        idx = np.asarray(ids)
    except (TypeError, ValueError):   # ragged nested lists (found by the fuzz)
        raise ValueError(f"{name} must be a 1-D array of integer row ids, got {ids!r:.60}") from None
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D array of integer row ids, got dtype {idx.dtype} shape {idx.shape}")
    if idx.shape[0] != n_rows:
        raise ValueError(f"{name} has {idx.shape[0]} ids but there are {n_rows} rows; pass one row id per row")
    idx = idx.astype(np.int64)
    s = np.sort(idx)
    dup = s[1:] == s[:-1]
    if dup.any():
        raise ValueError(f"{name} repeats row ids {_few(np.unique(s[1:][dup]))}; each data row may appear once")
    return idx

def _refuse_overlap(ids: np.ndarray, other_ids: np.ndarray, name: str, other_name: str) -> None:
    """A ValueError naming the row ids in both ``ids`` and ``other_ids`` (T2H's condition)."""
    common = np.intersect1d(ids, other_ids)
    if common.size:
        raise ValueError(
            f"{name} and {other_name} share {common.size} row id(s) {_few(common)}; the held-out "
            "certificate (T2H) needs a predictor chosen without the evaluation rows: make the splits "
            "disjoint, e.g. with heldout_split(n)")


def _fit_rows(teacher, codes, ids, weights):
    """The fit rows as the fitting code takes them: (T, X, teacher_rows, weights, ids, n_rows).

    Codes (n, d): ``T`` is the validated teacher and ``teacher_rows`` the caller's rows as given
    (the fit-split numbers are computed from them, as :func:`witness_theory.certify` would).
    Samples (n, M, d): each of the n M draws is a fit row with its row's (validated) teacher row,
    uniformly weighted. ``ids`` are the n rows' ids, read-only.
    """
    T = check_distributions(teacher, "teacher", allow_1d=False)
    n = T.shape[0]
    X = as_float_array(codes, "codes", (2, 3))
    if X.shape[0] != n:
        raise ValueError(f"codes has {X.shape[0]} rows but teacher has {n}; pass one code per fit row")
    idx = _readonly(_check_ids(ids, n, "ids"))
    if X.ndim == 3:
        _check_samples(X, weights)
        teacher = np.repeat(T, X.shape[1], axis=0)                     # (n M, K): row i's teacher row per draw
        X = X.reshape(-1, X.shape[2])                                  # (n M, d)
        T = check_distributions(teacher, "teacher", allow_1d=False)
    return T, X, teacher, weights, idx, n


def _check_samples(Z: np.ndarray, weights) -> None:
    """Sampled codes (n, M, d): at least one draw per row, and uniformly weighted rows."""
    if Z.shape[1] == 0:
        raise ValueError(f"codes of shape {Z.shape} are M = 0 draws per row; pass (n, M, d) with M >= 1 "
                         "draws z ~ q(z|x) per row, or (n, d) codes")
    if weights is not None:
        raise ValueError("weights must be None with sampled codes (n, M, d): the posterior certificate is for "
                         "uniformly weighted rows (an i.i.d. sample)")


# ---------------------------------------------------------------------------------------
# Margin of a predictor given by its log-probabilities, with a floating-point error bound
# ---------------------------------------------------------------------------------------

def margin_from_log_probs(T: np.ndarray, w: np.ndarray, log_h: np.ndarray, logit_error: float = 0.0):
    """(I_T, L_h, G_h, float_error) for sum_i w_i KL(T_i || h_i) given log h (N, K).

    ``float_error`` follows :func:`witness_theory.certify`: (K + log2 N + 8) unit roundoffs times
    the sum of absolute terms, plus ``logit_error`` (a bound on the rounding of the logits that
    produced log h; a change of every logit by <= e changes each KL by <= 2 e).
    """
    n, K = T.shape
    log_tbar = core.log_marginal(T, w)
    neg_h = core.neg_entropy_rows(T)                       # sum_k T log T
    cross_bar = core.cross_rows(T, log_tbar)               # sum_k T log Tbar
    cross_h = core.cross_rows(T, log_h)                    # sum_k T log h
    info = core.wsum(w, neg_h - cross_bar)                 # I_T = sum w KL(T_i || Tbar)
    loss = core.wsum(w, neg_h - cross_h)                   # L_h = sum w KL(T_i || h_i)
    mag = core.wsum(w, -neg_h - cross_h - cross_bar)       # every log <= 0: sum of |terms|
    float_error = (K + np.log2(max(n, 1)) + 8) * EPS * (mag + 1.0) + 2.0 * logit_error
    return info, loss, info - loss, float(float_error)


# ---------------------------------------------------------------------------------------
# Fitted witness: Procrustes start, Stiefel descent, 1-D scale search
# ---------------------------------------------------------------------------------------

def _frame_loss(X, T, w, neg_h, P, V, beta, bounded: bool = False):
    """(L_TS(P, beta), log S): L_TS = sum_i w_i KL(T_i || softmax(beta V^T P^T x_i)), and the
    (n, K) log-softmax the gradient needs. ``bounded``: the caller knows every |logit| is far below
    float64's overflow (:func:`_logits_bounded`), so core.log_softmax_in_place's overflow check and
    cross_rows' -inf handling are skipped: the same floats, the descent's ~10^2 losses per fit cheaper."""
    logits = beta * (X @ (P @ V))                           # (n, K): one (n, d) product, as Witness.logits (A = P V)
    if not bounded:
        log_s = core.log_softmax_in_place(logits)          # a fresh array: no copy
        return core.wsum(w, neg_h - core.cross_rows(T, log_s)), log_s
    log_s = core.log_softmax_finite_in_place(logits)      # |logit| <= 1e300: no overflow, finite log S
    return core.wsum(w, neg_h - np.einsum("ik,ik->i", T, log_s)), log_s      # cross_rows of finite log S


def _logits_bounded(X, beta) -> bool:
    """Whether every logit beta v_k^T P^T x_i of any frame P is below 1e300 in size: |v_k| = 1 (T3) and
    P is orthonormal, so |logit| <= beta max_i |x_i| (to rounding); then a logit's difference to its
    row's max cannot overflow and log S is finite (what :func:`_frame_loss`'s ``bounded`` needs)."""
    with np.errstate(over="ignore", invalid="ignore"):
        size = float(np.float64(beta) * np.sqrt(core.row_sq_norms(X).max())) if X.size else 0.0
    return size < 1e300


def _polar(M: np.ndarray) -> np.ndarray:
    """Polar retraction onto the Stiefel manifold: the orthonormal factor U W^T of M = U S W^T
    (Absil, Mahony & Sepulchre 2008, Example 4.1.3), the closest frame to M in Frobenius norm."""
    # LAPACK's dgesdd called directly: the routine np.linalg.svd calls, the same floats (2,000 random
    # frames of d <= 11 compared bit for bit, 2026-12-07), without NumPy's ~5 us of wrapping per call,
    # which was ~10% of a descent step at K = 4 (the descent retracts once per trial step). Where
    # LAPACK reports a failure (info != 0: no convergence, or NaN in M) np.linalg.svd decides and
    # raises its LinAlgError as before; so does an empty M (LAPACK would print an illegal-argument
    # message). bench/bench_polar.py: 4.3 against 10.1 us per call, 0.92x per descent step.
    if M.size:
        U, _, Wt, info = _dgesdd(M, full_matrices=0)
        if info == 0:
            return U @ Wt
    U, _, Wt = np.linalg.svd(M, full_matrices=False)       # (mutmut: None is equivalent: falsy)
    return U @ Wt


def procrustes_frame(X, T, w, seed: int) -> np.ndarray:
    """argmin_P sum_i w_i ||P^T (x_i - xbar) - (z*_i - zbar*)||^2 over frames P (d, K-1), z*_i =
    P^T mu*(T_i) = ((K-1)/(K beta)) V clr(T_i) (T4: the same in every frame, so we work in the
    frame's (K-1)-dim coordinates). A positive rescaling of the target does not move the
    argmin, so the frame does not depend on beta. Solved by scipy.linalg.orthogonal_procrustes
    on the target padded with d-(K-1) zero columns: for orthogonal R (d, d),
    ||A R - [B 0]||^2 = const - 2 tr(R[:, :K-1]^T A^T B), so R[:, :K-1] is the Stiefel optimum.
    When A^T B has rank r < K-1 the optimum is not unique; the missing directions are then
    completed from a Gaussian drawn with ``seed`` (deterministic for a seed)."""
    from scipy.linalg import orthogonal_procrustes

    n, d = X.shape
    K = T.shape[1]
    f = PROCRUSTES_TARGET_FLOOR
    Tf = T if np.all(T > 0) else (1.0 - f) * T + f / K
    # (mutmut: d None (the default is K - 1), and another scale than 1 (the target scaled by a
    # positive constant: the same maximiser, see the docstring) are equivalent)
    Z = core.exact_embedding(Tf, core.Witness(K, K - 1, 1.0))        # (n, K-1): z*_i at beta = 1
    sw = np.sqrt(w)[:, None]
    # (mutmut: `X + mean` or `Z + mean` is equivalent: M = A^T B needs one factor centred, since
    # sum_i w_i c (z_i - zbar)^T = 0 for any constant c. Both rank branches return a maximiser of
    # tr(P^T M), unique when the rank is K-1, but only the completion uses the seed: `rank != K-1` and a
    # zero threshold are killed (proofs/test_t2h_heldout.py: rank-1 codes, seeds 0 and 1 differ). The
    # branch taken at exactly rank K-2 (`K-2`) or never (`K+1`), the threshold's `>=` and `/ sv[0]`, the
    # guards' `or`/`and`, rank 1 for M = 0 (every frame maximises) and `compute_uv=None` are
    # equivalent for what is promised: a maximiser, deterministic for a seed)
    A = sw * (X - core.weighted_mean(w, X))                          # (n, d) weighted, centred
    B = sw * (Z - core.weighted_mean(w, Z))                          # (n, K-1)
    M = A.T @ B                                                       # (d, K-1)
    sv = np.linalg.svd(M, compute_uv=False)
    rank = int((sv > max(d, K) * EPS * (sv[0] if sv.size else 0.0)).sum()) if sv.size and sv[0] > 0 else 0
    if rank == K - 1:
        R, _ = orthogonal_procrustes(A, np.hstack([B, np.zeros((n, d - (K - 1)))]))
        return _polar(R[:, :K - 1])        # R is orthogonal to rounding; polar makes P^T P = I to ~1e-15
    U, _, Wt = np.linalg.svd(M)
    U_r, W_r = U[:, :rank], Wt[:rank].T                               # (d, r), (K-1, r)
    W_null = Wt[rank:].T                                              # (K-1, K-1-r)
    G = np.random.default_rng(seed).standard_normal((d, K - 1 - rank))
    G -= U_r @ (U_r.T @ G)                                            # orthogonal to the used directions
    # (mutmut: replacing the QR by G itself, dropping its sign fix, or negating the completion
    # below are equivalent for what is promised: any completion orthogonal to U_r gives a
    # maximiser after the polar step, deterministic for a seed; the proof
    # test_procrustes_start_when_the_optimum_is_not_unique checks the optimum, not which one)
    Q, Rq = np.linalg.qr(G)
    Q *= np.where(np.diag(Rq) < 0, -1.0, 1.0)
    return _polar(U_r @ W_r.T + Q @ W_null.T)                         # still maximises tr(P^T M)


def stiefel_descent(X, T, w, neg_h, P, V, beta, max_iter: int, gtol: float, *,
                    lam_max: float | None = None, at_start: tuple | None = None):
    """Riemannian gradient descent of L_TS over frames P with the polar retraction and Armijo
    backtracking (Absil et al. 2008, Alg. 1). Every accepted step lowers L_TS, so the result is
    never worse than the start. Euclidean gradient: dL/dP = beta X^T [w (S - T)] V^T (d, K-1);
    Riemannian gradient on the Stiefel manifold (embedded metric): G - P sym(P^T G).
    ``lam_max`` (:func:`_x_lambda_max`) and ``at_start`` (``_frame_loss`` at P and beta), where the
    caller has them: the fit's scale grid descends from one frame with the same rows at every scale."""
    kappa = T.shape[1] / (T.shape[1] - 1)
    bounded = _logits_bounded(X, beta)
    loss, log_s = _frame_loss(X, T, w, neg_h, P, V, beta, bounded) if at_start is None else at_start
    # Lipschitz bound of the gradient: Hessian of KL(t || softmax(a)) <= 1/2 in a (T6), and
    # ||d logits|| <= beta sqrt(kappa) ||x|| ||dP||: step 1/L with L = beta^2 kappa lambda_max(X^T W X)/2
    lam = _x_lambda_max(X, w) if lam_max is None else lam_max
    with np.errstate(over="ignore", under="ignore", divide="ignore"):   # beta 1e300: no Python OverflowError
        step = float(2.0 / (np.float64(beta) ** 2 * kappa * lam)) if lam > 0 else 1.0
    if not np.isfinite(step):   # beta^2 underflowed to 0: an infinite step would make the frame inf
        step = 1.0
    # (mutmut, read as equivalent: the guards above (`X.size or True`, `lam >= 0`, the fallback
    # steps 2.0 or None): where lam = 0 the gradient beta X^T [w (S - T)] V^T is 0, and where beta^2
    # underflows (beta < 1e-154) it is below gtol for codes below ~1e140, so g2 <= gtol^2 stops the
    # loop before any step is taken (codes of 1e140..1e154 with such a beta: not read). Changing where
    # the descent goes, not whether it descends: the stop `<` for `<=` and gtol ** 3, the Armijo
    # test's `<`, the doubling `step = 2.0` or `*= 3.0`, 41 halvings, `accepted = None` (falsy).
    # The first step, the Armijo sign and the fallback when no trial lowers the loss are proved:
    # proofs/test_mutants.py)
    it = 0
    w_col, XT, VT = w[:, None], X.T, V.T
    for it in range(1, max_iter + 1):  # noqa: B007 -- `it` is returned: the number of steps taken
        R = w_col * (np.exp(log_s) - T)                               # (n, K): w_i (S_i - T_i)
        G = beta * XT @ (R @ VT)                                      # (d, K-1) Euclidean gradient
        sym = P.T @ G
        rgrad = G - P @ (0.5 * (sym + sym.T))                         # (d, K-1) Riemannian gradient
        g2 = float((rgrad ** 2).sum())
        if g2 <= gtol ** 2:
            break
        accepted = False
        for _ in range(40):
            P_new = _polar(P - step * rgrad)
            loss_new, log_s_new = _frame_loss(X, T, w, neg_h, P_new, V, beta, bounded)
            if loss_new <= loss - 1e-4 * step * g2:                   # Armijo sufficient decrease
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        P, loss, log_s = P_new, loss_new, log_s_new
        step *= 2.0                                                   # try a longer step next time
    return P, loss, it


def _x_lambda_max(X, w) -> float:
    """lambda_max(X^T W X), the rows' part of the descent's Lipschitz bound (0 for no rows or columns)."""
    return float(np.linalg.eigvalsh((X * w[:, None]).T @ X)[-1]) if X.size else 0.0


def _fit_witness(X, T, w, grid, seed, max_iter, refine_scale, K, d,
                 start: np.ndarray | None = None) -> tuple[core.Witness, float, float, int]:
    """(witness, start margin, start scale, descent steps) of :meth:`FittedWitness.fit` on validated
    rows; ``start`` (d, K-1): a warm start's frame (the Procrustes frame and the scale grid otherwise)."""
    from scipy.optimize import minimize_scalar

    V = core.simplex_vertices(K)
    neg_h = core.neg_entropy_rows(T)
    info = core.teacher_information(T, w)

    def loss_at(P: np.ndarray, log_beta: float) -> float:
        return _frame_loss(X, T, w, neg_h, P, V, float(np.exp(log_beta)))[0]

    lo_all, hi_all = np.log(grid[0]), np.log(grid[-1])
    if start is None:
        P0, candidates = procrustes_frame(X, T, w, int(seed)), grid
    elif len(grid) == 1:
        P0, candidates = start, grid
    else:   # warm start: the scale that best fits the start frame, over the grid's range (one 1-D search)
        P0 = start
        res = minimize_scalar(lambda s: loss_at(P0, s), bounds=(lo_all, hi_all), method="bounded",
                              options={"xatol": 1e-3})
        candidates = (float(np.exp(res.x)),)
    # gtol: stop when the Riemannian gradient is at rounding level of the loss's gradient
    # (mutmut: its mutants (`/`, `1 - info`, `2 + info`; only gtol^2 is used), the searches' xatol
    # (options dropped: scipy's 1e-5; 1.001) and `method` dropped (bounds imply "bounded") change
    # where the fit stops, not what it promises (monotone, orthonormal, stationary to gtol): the
    # fit's optimiser settings, outside the theorems' formulas)
    gtol = 1e-10 * (1.0 + info)
    best: tuple[np.ndarray, float, float, int] | None = None
    start_loss, start_scale = np.inf, candidates[0]
    lam_max = _x_lambda_max(X, w)
    for beta in candidates:
        at_start = _frame_loss(X, T, w, neg_h, P0, V, beta)
        loss0 = at_start[0]
        if loss0 < start_loss:
            start_loss, start_scale = loss0, beta
        P, loss, it = stiefel_descent(X, T, w, neg_h, P0, V, beta, int(max_iter), gtol, lam_max=lam_max,
                                      at_start=at_start)
        if best is None or loss < best[1]:
            best = (P, loss, beta, it)
    assert best is not None   # the scale grid is never empty (_check_scale_grid)
    P, loss, beta, iterations = best
    if refine_scale and len(grid) > 1:   # (mutmut: `>= 1` is equivalent: a bracket [b, b] returns b)
        # (mutmut: a wider bracket, j-2 or j+2, survives the proofs: L(P, beta) is convex in beta, so
        # it moves the scale only where the descent's frame P_j has its 1-D optimum beyond a
        # neighbouring grid scale; without descent steps that cannot happen, and no draw did it)
        if start is None:   # between the neighbouring grid scales
            j = grid.index(beta)
            lo, hi = np.log(grid[max(j - 1, 0)]), np.log(grid[min(j + 1, len(grid) - 1)])
        else:               # the warm start's scale came from a search over the whole range
            lo, hi = lo_all, hi_all
        res = minimize_scalar(lambda s: loss_at(P, s), bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
        if res.fun < loss:
            loss, beta = float(res.fun), float(np.exp(res.x))
    if not (np.isfinite(P).all() and np.isfinite(loss)):
        raise ValueError(f"codes are too large to fit a witness on (largest |entry| {np.abs(X).max():.3g}): "
                         "the descent overflowed float64; scale the codes down")
    start_margin = info - start_loss
    # (mutmut: d None is equivalent: Witness takes d from the frame P (d, K-1))
    return core.Witness(K, d, beta, P), float(start_margin), float(start_scale), int(iterations)


def _check_scale_grid(scales) -> list[float]:
    arr = np.atleast_1d(as_float_array(scales, "scales", (0, 1)))   # text, complex, objects: named errors
    if arr.size == 0 or np.any(arr <= 0):
        raise ValueError(f"scales must be a non-empty sequence of finite witness scales > 0, got {scales!r}")
    return sorted(set(float(s) for s in arr))


# ---------------------------------------------------------------------------------------
# Held-out certificate
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldoutCertificate:
    """A certificate of the evaluation split for a predictor chosen on the fit split (T2H).

    Built by ``certify`` of :class:`FittedWitness`, :class:`Probe` and :class:`RawWitness`.
    ``teacher_information``, ``loss`` (E_eval KL(T_i || h(mu_i))) and ``margin`` are over the
    evaluation rows; ``positive`` iff margin > ``float_error`` (an a-priori rounding bound, as
    in :func:`witness_theory.certify`); ``certified`` iff the T13 lower confidence bound
    ``lcb`` of ``bound`` is > 0. ``fit_*`` are the same quantities on the fit rows (they are
    what chose h and prove nothing about the evaluation rows); they are None where they are
    unknown (a :class:`RawWitness` certified without ``fit``), never NaN. ``parameters`` holds
    the fitted predictor (frame and scale for witnesses; coef, intercept and C for the probe);
    ``predictor`` is (a copy of) the fitted estimator.
    """
    method: str
    teacher_information: float
    loss: float
    margin: float
    float_error: float
    certified: bool
    fit_teacher_information: float | None
    fit_loss: float | None
    fit_margin: float | None
    n_fit: int
    n_eval: int
    K: int
    d: int
    parameters: dict = field(repr=False)
    predictor: object = field(repr=False, default=None)
    bound: InformationBound | None = field(default=None)

    @property
    def positive(self) -> bool:
        """The plug-in margin exceeds its rounding bound (T2H on the evaluation rows; no error rate)."""
        return bool(self.margin > self.float_error)

    @property
    def lcb(self) -> float | None:
        """The (1 - delta) lower confidence bound on I(Y; Z) in nats (T13), None without a bound."""
        return None if self.bound is None else self.bound.lcb

    @property
    def verdict(self) -> str:
        """"certified" (LCB > 0: I(Y; Z) >= LCB nats at 1 - delta), "positive, not significant"
        (margin above its rounding bound, LCB <= 0 or no bound), or "not certified"."""
        return information_verdict(self.margin, self.float_error, self.lcb)

    def as_dict(self) -> dict:
        params = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.parameters.items()}
        return {"method": self.method, "I_T_eval": self.teacher_information, "loss_eval": self.loss,
                "margin_eval": self.margin, "float_error": self.float_error, "certified": self.certified,
                "verdict": self.verdict, "I_T_fit": self.fit_teacher_information, "loss_fit": self.fit_loss,
                "margin_fit": self.fit_margin, "n_fit": self.n_fit, "n_eval": self.n_eval, "K": self.K,
                "d": self.d, "positive": self.positive, "lcb": self.lcb,
                "bound": None if self.bound is None else self.bound.as_dict(), "parameters": params}

    def summary(self) -> str:
        return (f"{self.method}: I_T(eval)={self.teacher_information:.4f} L(eval)={self.loss:.4f} "
                f"G(eval)={self.margin:+.4f}, LCB {'n/a' if self.lcb is None else format(self.lcb, '+.4f')} "
                f"at {1 - (self.bound.delta if self.bound else DEFAULT_DELTA):.0%} ({self.verdict}); fit margin "
                f"{'unknown' if self.fit_margin is None else format(self.fit_margin, '+.4f')}, "
                f"n_fit={self.n_fit}, n_eval={self.n_eval}")


# ---------------------------------------------------------------------------------------
# The estimators: fit on the fit rows, certify the evaluation rows
# ---------------------------------------------------------------------------------------

class NotFittedError(ValueError, AttributeError):
    """``certify``, ``log_probs`` or ``logits`` of an estimator before ``fit`` (scikit-learn's
    ``NotFittedError`` has the same two bases)."""


class HeldoutEstimator:
    """What the held-out estimators share: ``certify`` (T2H, T13) and the fit-split record.

    A subclass sets ``method`` and implements ``fit``, ``log_probs``, ``_margin`` (I_T, L_h, G_h,
    float_error of its predictor on given rows) and ``_parameters``. Use :class:`FittedWitness`,
    :class:`Probe` or :class:`RawWitness`.
    """
    method = ""
    seed: int
    # the fit-split record, set by fit (attributes ending in "_", as scikit-learn's)
    fit_ids_: np.ndarray
    n_fit_: int
    fit_teacher_information_: float | None
    fit_loss_: float | None
    fit_margin_: float | None

    def fit(self, teacher, codes, ids, *, weights=None) -> HeldoutEstimator:
        raise NotImplementedError

    def log_probs(self, codes) -> np.ndarray:
        raise NotImplementedError

    def _margin(self, teacher, codes, weights) -> tuple[float, float, float, float]:
        raise NotImplementedError

    def _parameters(self) -> dict:
        raise NotImplementedError

    def _shape(self) -> tuple[int, int] | None:
        """(K, d) the predictor was fitted for; None where the predictor itself checks them."""
        return None

    def _require_fit(self, attribute: str = "fit_ids_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(teacher, codes, ids) "
                                 "on the fit rows first")

    def _reset(self) -> None:
        """Forget a previous fit (a fit that fails leaves the estimator unfitted, not half-fitted)."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_")]:
            delattr(self, name)

    def _record_fit(self, ids: np.ndarray, n_rows: int, summary) -> None:
        self.fit_ids_ = ids
        self.n_fit_ = int(n_rows)
        info, loss, margin = summary[:3]
        self.fit_teacher_information_, self.fit_loss_, self.fit_margin_ = float(info), float(loss), float(margin)

    def certify(self, teacher, codes, ids, *, weights=None, delta: float = DEFAULT_DELTA,
                permutations: int = 0) -> HeldoutCertificate:
        """The held-out certificate of rows ``ids`` (T2H) with its (1 - ``delta``) lower confidence
        bound on I(Y; Z) (T13).

        ``teacher`` (n, K), ``codes`` (n, d), ``weights`` (n,) or None; ``ids`` (n,) are the
        data-set ids of these rows, and rows this estimator was fitted on are refused (ValueError
        naming them). With uniformly weighted rows (``weights`` None, n >= 2) the certificate
        carries the bound of :func:`witness_theory.information_bound` (rows taken as an i.i.d.
        sample) and, with ``permutations`` > 0, the permutation p-value (both seeded with the
        estimator's ``seed``); its verdict is then one of three levels. Weighted rows get no bound
        (the bound is for a sample), so they are never "certified" at a confidence level.

        The posterior certificate: ``codes`` (n, M, d) are M draws z ~ q(z|x) per row (``weights``
        None). The margin and the bound average each row's term over its M draws, so the bound is
        on I(Y; Z) for a single draw Z, the information that reaches the decoder; the method reads
        "<method>-posterior". The estimator may have been fitted on codes or on draws.
        """
        self._require_fit()
        if not 0.0 < check_finite_number(delta, "delta") < 1.0:
            raise ValueError(f"delta (the error rate of the bound) must lie in (0, 1), got {delta!r}")
        if isinstance(permutations, (bool, np.bool_)) or not isinstance(permutations, (int, np.integer)) \
                or not 0 <= permutations < 2 ** 31:
            raise ValueError(f"permutations must be an integer >= 0 (0: no exact test), got {permutations!r:.60}")
        seed = check_seed(self.seed)
        T = check_distributions(teacher, "teacher", allow_1d=False)
        n_eval = T.shape[0]
        idx = _check_ids(ids, n_eval, "ids")
        _refuse_overlap(idx, np.asarray(self.fit_ids_), "ids", "the rows this estimator was fitted on (fit_ids_)")
        check_weights(weights, n_eval, "weights")
        X = as_float_array(codes, "codes", (2, 3))
        shape = self._shape()
        if shape is not None and T.shape[1] != shape[0]:
            raise ValueError(f"teacher has K = {T.shape[1]} outcomes but this {type(self).__name__} was fitted on "
                             f"K = {shape[0]}; certify rows of the fit rows' outcomes")
        if shape is not None and X.shape[-1] != shape[1]:
            raise ValueError(f"codes has latent dimension d = {X.shape[-1]} but this {type(self).__name__} was "
                             f"fitted on d = {shape[1]}")
        if X.ndim == 3:
            return self._certify_samples(T, X, weights, delta, permutations, seed)
        info, loss, margin, float_error = self._margin(teacher, X, weights)
        bound = None
        if weights is None and n_eval >= 2:
            log_h = self.log_probs(check_codes(X, X.shape[1], n_eval))
            bound = information_bound(T, log_h, delta=delta, permutations=permutations, seed=seed)
        return self._certificate(self.method, (info, loss, margin, float_error), bound, n_eval, T.shape[1], X.shape[1])

    def _certify_samples(self, T, Z, weights, delta, permutations, seed) -> HeldoutCertificate:
        """The posterior certificate (T13 with Z ~ q(z|x)) of validated rows T (n, K), draws Z (n, M, d)."""
        _check_samples(Z, weights)
        (n_e, m_e, d), K = Z.shape, T.shape[1]
        if n_e != T.shape[0]:
            raise ValueError(f"codes has {n_e} rows of draws but teacher has {T.shape[0]}; pass (n, M, d) draws")
        flat = Z.reshape(-1, d)                                                      # (n M, d)
        # each draw a row, uniformly weighted: with M draws per row that is each row's mean over its
        # draws, averaged over the rows (the term of I(Y; Z) for a single draw Z, T13)
        margin = self._margin(np.repeat(T, m_e, axis=0), flat, None)
        log_h = self.log_probs(flat).reshape(n_e, m_e, K)                            # (n, M, K)
        bound = information_bound(T, log_h, delta=delta, permutations=permutations, seed=seed)
        return self._certificate(f"{self.method}-posterior", margin, bound, n_e, K, d)

    def _certificate(self, method: str, margin, bound: InformationBound | None, n_eval: int, K: int,
                     d: int) -> HeldoutCertificate:
        def known(v) -> float | None:   # a fit-split number that is not known is None ("unknown")
            return None if v is None or not np.isfinite(v) else float(v)

        info, loss, g, float_error = margin
        return HeldoutCertificate(
            method=method, teacher_information=float(info), loss=float(loss), margin=float(g),
            float_error=float(float_error), certified=bound is not None and bound.certified, bound=bound,
            fit_teacher_information=known(self.fit_teacher_information_), fit_loss=known(self.fit_loss_),
            fit_margin=known(self.fit_margin_), n_fit=int(self.n_fit_), n_eval=n_eval, K=K, d=d,
            parameters=self._parameters(), predictor=copy.copy(self))


def _witness_margin(witness: core.Witness, teacher, codes, weights) -> tuple[float, float, float, float]:
    """(I_T, L_TS, G_T, float_error) of a witness on the caller's rows (validated here, once:
    validation renormalises rows and weights, and doing it twice could move the last bit)."""
    cert = core.certify(teacher, codes, witness, weights)   # the reference: bit-identical to certify
    return cert.teacher_information, cert.alignment_loss, cert.margin, cert.float_error


class FittedWitness(HeldoutEstimator):
    """The simplex witness with its frame P (d, K-1) and scale beta fitted on the fit rows (T2H).

    ``fit`` uses the fit rows only:

    1. Procrustes start: the frame that best rotates the centred fit codes onto the centred
       exact codes mu*(T_i) (see :func:`procrustes_frame`; the same frame for every beta).
    2. For each beta in ``scales``: Riemannian descent of the fit-split L_TS over the Stiefel
       manifold from the Procrustes frame (``max_iter`` steps at most, monotone).
    3. The (P, beta) with the best fit margin; with ``refine_scale``, a bounded 1-D search of
       log beta (scipy ``minimize_scalar``, method "bounded") between the neighbouring grid
       scales with P fixed, kept only if it lowers L_TS.

    With ``warm_start`` (scikit-learn's meaning: a ``fit`` of an estimator already fitted starts
    from its previous solution), step 1 takes the previous fit's frame instead, and the grid of
    step 2 becomes one scale: the bounded 1-D search of log beta over [min(scales), max(scales)]
    that best fits that frame; step 3 then searches the same range. The posterior certificate
    uses this (empirical.training.evaluation): fitted first on the fit split's mean codes, then
    refitted on its sampled codes from there, at about a tenth of the cost of a fresh fit. It
    changes only which h is chosen on the fit split, so the certificate stays sound (T2H, T13).

    Deterministic for a ``seed`` (it only matters when the Procrustes problem is degenerate; it
    also seeds ``certify``'s bound). Needs d >= K-1. Fitted attributes: ``witness_`` (a
    :class:`witness_theory.Witness`), ``frame_`` (d, K-1), ``scale_``; ``start_margin_``, the best
    fit margin of the Procrustes frame alone over the grid (at ``start_scale_``), with
    ``fit_margin_ >= start_margin_``; ``n_iter_``, the descent steps at the chosen scale; and the
    fit-split record ``fit_ids_``, ``n_fit_``, ``fit_teacher_information_``, ``fit_loss_``,
    ``fit_margin_`` (what chose h; they prove nothing about other rows).
    """
    method = "witness"
    witness_: core.Witness

    def __init__(self, *, scales=DEFAULT_SCALES, seed: int = 0, max_iter: int = 100,
                 refine_scale: bool = True, warm_start: bool = False) -> None:
        self.scales = scales
        self.seed = seed
        self.max_iter = max_iter
        self.refine_scale = refine_scale
        self.warm_start = warm_start

    def fit(self, teacher, codes, ids, *, weights=None) -> FittedWitness:
        """Fit the frame and scale on rows ``ids``: ``teacher`` (n, K), ``codes`` (n, d),
        ``weights`` (n,) or None. ``codes`` (n, M, d) are M draws z ~ q(z|x) per row: each draw is
        then a fit row with its row's teacher row (``weights`` None). Returns the estimator."""
        previous = _warm_frame(self)
        self._reset()
        T, X, teacher_rows, weights, idx, n_rows = _fit_rows(teacher, codes, ids, weights)
        n, K = T.shape
        check_code_norms(X, "codes")   # an inf float-error bound would rest the fit numbers on inf
        d = X.shape[1]
        if d < K - 1:
            raise ValueError(f"codes has latent dimension d = {d} < K-1 = {K - 1}: a witness frame needs "
                             "d >= K-1 orthonormal directions; use the probe certificate (Probe) or fewer outcomes")
        if previous is not None and previous.shape != (d, K - 1):
            raise ValueError(f"warm_start: the previous fit's frame has shape {previous.shape}, these rows need "
                             f"{(d, K - 1)}; fit anew (warm_start=False) when the latent dimension or K changes")
        w = check_weights(weights, n, "weights")
        grid = tuple(_check_scale_grid(self.scales))
        max_iter = _check_max_iter(self.max_iter, 0)
        seed = check_seed(self.seed)
        if not isinstance(self.refine_scale, (bool, np.bool_)):
            raise TypeError(f"refine_scale must be True or False, got {self.refine_scale!r:.60}")
        try:
            with one_blas_thread():
                witness, start_margin, start_scale, n_iter = _fit_witness(X, T, w, grid, seed, max_iter,
                                                                          self.refine_scale, K, d, previous)
        except np.linalg.LinAlgError:   # an SVD of overflowing products (codes near 1e308): found by the fuzz
            raise ValueError(f"codes are too large to fit a witness on (largest |entry| {np.abs(X).max():.3g}): "
                             "the Procrustes/descent SVD failed on values that overflow float64; scale the codes down") from None
        summary = _witness_margin(witness, teacher_rows, X, weights)   # the reference, on the caller's rows
        self.witness_, self.frame_, self.scale_ = witness, witness.P, witness.scale
        self.start_margin_, self.start_scale_, self.n_iter_ = start_margin, start_scale, n_iter
        self._record_fit(idx, n_rows, summary)
        return self

    def log_probs(self, codes) -> np.ndarray:
        """log S(mu) of the fitted witness: (N, K)."""
        self._require_fit("witness_")
        return self.witness_.log_probs(codes)

    def _shape(self) -> tuple[int, int]:
        return self.witness_.K, self.witness_.d

    def _margin(self, teacher, codes, weights) -> tuple[float, float, float, float]:
        return _witness_margin(self.witness_, teacher, codes, weights)

    def _parameters(self) -> dict:
        return {"frame": self.witness_.P.copy(), "witness_scale": self.witness_.scale}


# ---------------------------------------------------------------------------------------
# Probe: multinomial logistic regression with soft targets
# ---------------------------------------------------------------------------------------

class Probe(HeldoutEstimator):
    """Multinomial logistic regression h(mu) = softmax(coef_ mu + intercept_) of the teacher rows
    on the codes, with soft targets, fitted on the fit rows (T2H).

    The objective is scikit-learn's LogisticRegression (lbfgs, L2) with the teacher rows as soft
    labels, written out because scikit-learn takes hard labels only (its soft form needs each row
    repeated K times with sample weights n w_i T_ik, K times the rows and the work):

        F(W, b) = sum_i w_i [ (sum_k T_ik) logsumexp(W mu_i + b) - sum_k T_ik (W mu_i + b)_k ]
                  + ||W||^2 / (2 C n)

    = sum_i w_i CE(T_i, h(mu_i)) + ||W||^2 / (2 C n) = L_h + sum_i w_i H(T_i) + penalty: the fit
    minimises the KL loss L_h on the fit split plus scikit-learn's L2 penalty (scikit-learn
    divides its weighted log-loss and its penalty ||W||^2 / (2 C) by sum(sample weights) = n,
    so C means what it means for n unweighted rows; the intercept is not penalised). For K = 2
    the model is scikit-learn's binary one: logits (0, f), only f's row free. F is minimised by
    scipy's L-BFGS-B with scikit-learn's options (start 0, maxls 50, gtol ``tol``, ftol 64 EPS),
    so the fit is deterministic; ``proofs/test_mutants.py`` checks the returned point is
    stationary for F and the same as scikit-learn's on the replicated rows. ``seed`` seeds
    ``certify``'s bound. ``tol`` (default 1e-10, so that the fit is converged well below the size
    of any margin worth reporting) and ``max_iter`` only change which h is chosen: the
    certificate is sound for any h chosen on the fit split (T2H).

    Fitted attributes: ``coef_`` (K, d), ``intercept_`` (K,) (for K = 2 sklearn's binary model,
    stored as the logits (0, f)), and the fit-split record ``fit_ids_``, ``n_fit_``,
    ``fit_teacher_information_``, ``fit_loss_``, ``fit_margin_``.
    """
    method = "probe"
    coef_: np.ndarray
    intercept_: np.ndarray

    def __init__(self, *, C: float = 1.0, max_iter: int = 1000, tol: float = 1e-10, seed: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def fit(self, teacher, codes, ids, *, weights=None) -> Probe:
        """Fit the probe on rows ``ids``: ``teacher`` (n, K), ``codes`` (n, d), ``weights`` (n,) or
        None. ``codes`` (n, M, d) are M draws z ~ q(z|x) per row: each draw is then a fit row with
        its row's teacher row (``weights`` None). Returns the estimator."""
        self._reset()
        T, X, teacher_rows, weights, idx, n_rows = _fit_rows(teacher, codes, ids, weights)
        n, K = T.shape
        check_code_norms(X, "codes")   # a fit on such codes overflows float64
        w = check_weights(weights, n, "weights")
        C = _positive(self.C, "C")
        tol = _positive(self.tol, "tol")
        max_iter = _check_max_iter(self.max_iter, 1)
        check_seed(self.seed)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), one_blas_thread():
            self.coef_, self.intercept_ = soft_logistic_regression(X, T, w, C=C, max_iter=max_iter, tol=tol)
        if not (np.isfinite(self.coef_).all() and np.isfinite(self.intercept_).all()):
            self._reset()
            raise ValueError(f"codes are too large to fit a probe on (largest |entry| {np.abs(X).max():.3g}): "
                             "the logistic regression overflowed float64; scale the codes down")
        try:
            summary = self._margin(teacher_rows, X, weights)
        except Exception:
            self._reset()
            raise
        self._record_fit(idx, n_rows, summary)
        return self

    def logits(self, codes) -> np.ndarray:
        """coef_ mu + intercept_ for each code: (N, K)."""
        self._require_fit("coef_")
        mu = check_codes(codes, self.coef_.shape[1])
        return mu @ self.coef_.T + self.intercept_                    # (N, K)

    def log_probs(self, codes) -> np.ndarray:
        """log h(mu) = log_softmax(logits): (N, K)."""
        return core.log_softmax(self.logits(codes))

    def logit_error(self, codes) -> float:
        """Bound on the rounding error of ``logits``: (d + 2) unit roundoffs times
        max_i sum_j |mu_ij coef_kj| + |b_k| (Higham 2002, eq. 3.5 for inner products)."""
        self._require_fit("coef_")
        mu = check_codes(codes, self.coef_.shape[1])
        if mu.size == 0:
            return 0.0
        size = np.abs(mu) @ np.abs(self.coef_).T + np.abs(self.intercept_)
        return float((self.coef_.shape[1] + 2) * EPS * size.max())

    def _shape(self) -> tuple[int, int]:
        return self.coef_.shape[0], self.coef_.shape[1]

    def _margin(self, teacher, codes, weights) -> tuple[float, float, float, float]:
        """(I_T, L_h, G_h, float_error) on the caller's rows (validated here, once)."""
        T = check_distributions(teacher, "teacher", allow_1d=False)
        w = check_weights(weights, T.shape[0])
        X = check_codes(codes, self.coef_.shape[1], T.shape[0])
        return margin_from_log_probs(T, w, self.log_probs(X), self.logit_error(X))

    def _parameters(self) -> dict:
        return {"coef": self.coef_.copy(), "intercept": self.intercept_.copy(), "C": float(self.C)}


def probe_objective(theta: np.ndarray, Xb: np.ndarray, mass: np.ndarray, wT: np.ndarray, reg: float,
                    free: int) -> tuple[float, np.ndarray]:
    """:class:`Probe`'s objective F and its gradient at the flat parameters ``theta`` (free rows of
    (coef | intercept)): F = sum_i mass_i logsumexp(Z_i) - sum_ik wT_ik Z_ik + (reg/2) ||coef||^2,
    Z = Xb theta^T, with Xb the codes and a column of ones, mass_i = w_i sum_k T_ik, wT = w T.
    With ``free`` = 1 (K = 2) the logits are (0, f). Each row's log-sum-exp is shifted by its own
    largest logit, so a row whose logits lie far below another row's does not underflow."""
    n = Xb.shape[0]
    d = Xb.shape[1] - 1
    K = wT.shape[1]
    Wb = theta.reshape(free, d + 1)
    Z = Xb @ Wb.T                                           # (n, free) logits
    if free == 1:
        Z = np.hstack([np.zeros((n, 1)), Z])                # binary: logits (0, f)
    Z_max = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - Z_max)
    S = E.sum(axis=1, keepdims=True)
    lse = (np.log(S) + Z_max)[:, 0]                         # logsumexp of each row
    W = Wb[:, :d]
    value = mass @ lse - np.sum(wT * Z) + 0.5 * reg * np.sum(W * W)   # F(W, b), Probe's docstring
    G = mass[:, None] * (E / S) - wT                        # dF/dZ = w_i (sum_k T_ik softmax(Z_i) - T_i)
    grad = G[:, K - free:].T @ Xb                           # (free, d + 1)
    grad[:, :d] += reg * W
    return float(value), grad.ravel()


def soft_logistic_regression(X: np.ndarray, T: np.ndarray, w: np.ndarray, *, C: float, max_iter: int,
                             tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(coef (K, d), intercept (K,)) minimising :class:`Probe`'s objective F on codes ``X`` (n, d),
    soft targets ``T`` (n, K) and weights ``w`` (n,) summing to 1.

    Written here because scikit-learn's LogisticRegression takes hard labels only (see Probe);
    the optimiser is scipy's L-BFGS-B with the options scikit-learn's lbfgs solver passes
    (sklearn/linear_model/_logistic.py, 1.9): x0 = 0, maxls 50, gtol = tol, ftol = 64 EPS.
    """
    from scipy.optimize import minimize  # scipy.optimize loads in ~0.2 s: only when a probe is fitted

    n, d = X.shape
    K = T.shape[1]
    free = 1 if K == 2 else K                                  # K = 2: logits (0, f), f's row free
    Xb = np.hstack([X, np.ones((n, 1))])                        # (n, d + 1): the intercept's column
    mass = w * T.sum(axis=1)                                    # w_i sum_k T_ik (rows sum to 1 within rounding)
    wT = w[:, None] * T                                         # (n, K)
    reg = 1.0 / (C * n)                                         # sklearn: l2_reg_strength = 1 / (C sum(sw)), sum(sw) = n

    # (mutmut, read as equivalent up to the optimiser's tolerance: another method (scipy's BFGS, or
    # "l-bfgs-b", which scipy lowercases anyway), a misspelt option (ignored with a warning), maxls
    # 51 or ftol 65 EPS: each stops at the same strictly convex objective's minimiser; and mass
    # w / sum_k T_ik, equal to w T.sum(1) on rows that sum to 1)
    result = minimize(probe_objective, np.zeros(free * (d + 1)), args=(Xb, mass, wT, reg, free), jac=True,
                      method="L-BFGS-B",
                      options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * EPS})
    Wb = result.x.reshape(free, d + 1)
    if free == 1:
        Wb = np.vstack([np.zeros((1, d + 1)), Wb])
    return Wb[:, :d].copy(), Wb[:, d].copy()


def _positive(x, name: str) -> float:
    """A finite number > 0; text, bools, lists and complex are a TypeError naming ``name``."""
    return check_finite_number(x, name, positive=True)


# ---------------------------------------------------------------------------------------
# Raw witness: fixed, fitted on no rows
# ---------------------------------------------------------------------------------------

class RawWitness(HeldoutEstimator):
    """A fixed :class:`witness_theory.Witness` as a held-out estimator: the raw certificate.

    Nothing is chosen on data, so it is fitted on no rows: ``certify`` works without ``fit``
    (``n_fit`` 0, the fit-split numbers None). ``fit(teacher, codes, ids)`` fits nothing; it
    records the fit rows (then refused by ``certify`` like any fit rows) and the witness's
    fit-split numbers, to report it beside the fitted predictors. ``seed`` seeds ``certify``'s bound.
    """
    method = "raw"
    # fitted on no rows until fit records some (class attributes; fit sets the instance's own)
    fit_ids_ = _readonly(np.empty(0, dtype=np.int64))
    n_fit_ = 0
    fit_teacher_information_ = None
    fit_loss_ = None
    fit_margin_ = None

    def __init__(self, witness: core.Witness, *, seed: int = 0) -> None:
        self.witness = witness
        self.seed = seed

    def fit(self, teacher, codes, ids, *, weights=None) -> RawWitness:
        """Record rows ``ids`` as the fit rows and the witness's numbers on them (nothing is fitted)."""
        self._reset()
        witness = core.check_witness(self.witness)
        check_seed(self.seed)   # used by certify: checked here like any estimator's settings
        _, X, teacher_rows, weights, idx, n_rows = _fit_rows(teacher, codes, ids, weights)
        check_code_norms(X, "codes")
        summary = _witness_margin(witness, teacher_rows, X, weights)
        self._record_fit(idx, n_rows, summary)
        return self

    def log_probs(self, codes) -> np.ndarray:
        """log S(mu) of the fixed witness: (N, K)."""
        return core.check_witness(self.witness).log_probs(codes)

    def _require_fit(self, attribute: str = "fit_ids_") -> None:
        core.check_witness(self.witness)   # always fitted (on no rows at least)

    def _margin(self, teacher, codes, weights) -> tuple[float, float, float, float]:
        return _witness_margin(self.witness, teacher, codes, weights)

    def _parameters(self) -> dict:
        return {"frame": self.witness.P.copy(), "witness_scale": self.witness.scale}


# ---------------------------------------------------------------------------------------
# Fit and certify a split in one call
# ---------------------------------------------------------------------------------------

_SETTINGS: dict[str, type[FittedWitness] | type[Probe]] = {"witness": FittedWitness, "probe": Probe}


def _estimator(method, witness, settings: dict) -> HeldoutEstimator:
    """The estimator ``method`` names, built with ``settings`` (its constructor's keywords)."""
    if witness is not None and not isinstance(witness, core.Witness):
        raise TypeError(f"witness must be a witness_theory.Witness or None, got {type(witness).__name__}")
    if not isinstance(method, str) or method not in ("raw", "witness", "probe"):
        raise ValueError(f"method must be 'raw', 'witness' or 'probe', got {method!r:.60}")
    if method == "raw":
        if witness is None:
            raise ValueError("method='raw' certifies a fixed witness: pass witness=witness_theory.Witness(K, d, scale)")
        unexpected = sorted(set(settings) - {"seed"})
        if unexpected:
            raise ValueError(f"method='raw' fits nothing; unexpected arguments {unexpected}")
        return RawWitness(witness, **settings)
    cls = _SETTINGS[method]
    known = [p for p in inspect.signature(cls).parameters]
    unexpected = sorted(set(settings) - set(known))
    if unexpected:
        raise TypeError(f"method={method!r} ({cls.__name__}) takes the settings {known}; unexpected {unexpected}")
    return cls(**settings)


def heldout_certify(teacher, codes, split: HeldoutSplit, *, method: Literal["raw", "witness", "probe"] = "witness",
                    weights=None, witness: core.Witness | None = None, delta: float = DEFAULT_DELTA,
                    permutations: int = 0, **settings) -> HeldoutCertificate:
    """Rows ``split.fit`` choose the predictor, rows ``split.eval`` are certified (T2H, T13).

    A thin wrapper over the estimators: ``method`` "witness" (:class:`FittedWitness`), "probe"
    (:class:`Probe`) or "raw" (:class:`RawWitness` of ``witness``, required then), built with
    ``settings`` (e.g. ``max_iter=20, seed=1``), then ``fit(teacher[f], codes[f], f,
    weights=weights[f]).certify(teacher[e], codes[e], e, weights=weights[e], delta=delta,
    permutations=permutations)`` with f, e = split.fit, split.eval. ``teacher`` (N, K) or a
    :class:`witness_theory.Teacher`, ``codes`` (N, d), ``weights`` (N,) cover all rows; each
    split's weights are renormalised on that split.
    """
    if is_teacher_object(teacher):   # a precomputed Teacher: its rows and weights (split below)
        teacher, weights = check_teacher(teacher, weights)
    T = check_distributions(teacher, "teacher", allow_1d=False)
    X = as_float_array(codes, "codes", 2)
    if X.shape[0] != T.shape[0]:
        raise ValueError(f"codes has {X.shape[0]} rows but the teacher has {T.shape[0]}; pass one code per row")
    if not isinstance(split, HeldoutSplit):
        raise TypeError(f"split must be a HeldoutSplit (from heldout_split(n)), got {type(split).__name__}")
    if split.n != T.shape[0]:
        raise ValueError(f"split was made for n = {split.n} rows but the teacher has {T.shape[0]}; "
                         f"use heldout_split({T.shape[0]})")
    for part in ("fit", "eval"):   # a HeldoutSplit built by hand: ids must index the rows
        ids = np.asarray(getattr(split, part))
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and not 0 <= ids.min() <= ids.max() < T.shape[0]):
            raise ValueError(f"split.{part} must be a 1-D array of integer row ids in [0, {T.shape[0]}); "
                             f"use heldout_split({T.shape[0]})")
    w = None if weights is None else as_float_array(weights, "weights", 1)
    if w is not None and w.shape[0] != T.shape[0]:
        raise ValueError(f"weights has length {w.shape[0]} but there are {T.shape[0]} rows")
    if w is not None:
        check_weights(w, T.shape[0], "weights")
    estimator = _estimator(method, witness, settings)
    f, e = split.fit, split.eval
    _refuse_overlap(f, e, "split.fit", "split.eval")
    T = np.asarray(teacher, dtype=np.float64)   # the caller's rows as given (validated above)
    try:
        estimator.fit(T[f], X[f], f, weights=None if w is None else w[f])
    except (ValueError, TypeError) as exc:   # name our arguments, not fit's
        raise _renamed(exc, {"teacher": "teacher (fit rows)", "codes": "codes (fit rows)",
                             "weights": "weights (fit rows)", "ids": "split.fit"}) from None
    try:
        return estimator.certify(T[e], X[e], e, weights=None if w is None else w[e], delta=delta,
                                 permutations=permutations)
    except (ValueError, TypeError) as exc:   # name our arguments, not certify's
        raise _renamed(exc, {"teacher": "teacher (evaluation rows)", "codes": "codes (evaluation rows)",
                             "weights": "weights (evaluation rows)", "ids": "split.eval"}) from None


# ---------------------------------------------------------------------------------------
# T2H: the held-out certificate (an extension of T2)
# ---------------------------------------------------------------------------------------

def _check_t2h(teacher_eval, codes_eval, predictor, weights=None, eval_ids=None, rtol=DEFAULT_RTOL):
    """Relations of T2H for a latent-only predictor (anything with ``log_probs(codes)``) on an
    evaluation split: the constant code at the weighted mean code loses >= I_T(eval) (and the
    excess is KL(Tbar || h(c)), T1); codes that are all equal give G_h <= 0; G_h <= I_T(eval);
    and, when both are known, the fit rows and eval rows are disjoint (the theorem's condition)."""
    if isinstance(predictor, core.Witness):
        predictor = RawWitness(predictor)
    T = check_distributions(teacher_eval, "teacher_eval", allow_1d=False)
    w = check_weights(weights, T.shape[0])
    X = as_float_array(codes_eval, "codes_eval", 2)
    if X.shape[0] != T.shape[0]:
        raise ValueError(f"codes_eval has {X.shape[0]} rows but teacher_eval has {T.shape[0]}")
    if eval_ids is not None:   # the disjointness relation below is only as good as these ids
        eval_ids = _check_ids(eval_ids, T.shape[0], "eval_ids")
    info = core.teacher_information(T, w)
    try:
        log_h = predictor.log_probs(X)
    except (ValueError, TypeError) as exc:   # the predictor names 'codes': the argument here is codes_eval
        raise _renamed(exc, {"codes": "codes_eval"}) from None
    if np.shape(log_h)[1:] != T.shape[1:]:   # kl_rows would name its internal log_q/p
        raise ValueError(f"predictor gives {np.shape(log_h)[1]} outcomes but teacher_eval has K = {T.shape[1]}; "
                         f"use a predictor built for K = {T.shape[1]} (e.g. Witness({T.shape[1]}, d, scale))")
    loss = core.wsum(w, core.kl_rows(T, log_h))
    mbar = core.weighted_mean(w, X)
    log_hc = predictor.log_probs(mbar[None])[0]                       # (K,) h at the constant code
    const_loss = core.wsum(w, core.kl_rows(T, log_hc))
    kl_bar = float(core.kl_rows(core.marginal(T, w), log_hc)[0])
    parts = [
        relation("constant code at the mean code: L_h(eval) >= I_T(eval)", const_loss, ">=", info, rtol),
        relation("constant code: L_h(eval) - I_T(eval) == KL(Tbar_eval || h(c)) (T1)", const_loss - info, "==",
                 kl_bar, rtol, magnitude=info + abs(const_loss)),
        relation("G_h(eval) <= I_T(eval)", info - loss, "<=", info, rtol),
    ]
    if np.all(X == X[0]):
        parts.append(relation("codes are constant: L_h(eval) >= I_T(eval) (G_h <= 0)", loss, ">=", info, rtol))
    fit_ids = getattr(predictor, "fit_ids_", None)
    if eval_ids is not None and fit_ids is not None:
        common = np.intersect1d(np.asarray(fit_ids), np.asarray(eval_ids))
        parts.append(relation("rows shared by the fit and evaluation splits == 0", common.size, "==", 0.0, 0.0))
    return tuple(parts)


T2H = Theorem(
    "T2H", "Held-out certificate",
    "If a latent-only predictor h is chosen using only a fit split, constant codes give "
    "E_eval KL(T_i||h(mu)) >= I_T(eval) on a disjoint evaluation split, so a margin "
    "I_T(eval) - L_h(eval) > 0 certifies that the encoder mean is not constant on the evaluation split.",
    ("fit and evaluation splits disjoint", "h depends on the fit split only, and on the codes only through mu"),
    _check_t2h)
