"""Held-out certificates: a latent-only predictor fitted on one split, certified on another (T2H).

The raw certificate (:func:`witness_theory.certify`) uses a fixed witness, by default on the
first K-1 latent coordinates. For a model that was not trained with that witness a negative
raw margin says little. T2 holds for *any* latent-only predictor h that does not depend on the
evaluation data (``docs/theory.md``, theorem T2H), so we may choose h on a fit split
and certify on a disjoint evaluation split:

- **fitted witness** (:func:`fit_witness`): the simplex witness S(mu) = softmax(beta A^T mu),
  A = P V, with its frame P (d, K-1) and scale beta fitted on the fit split: orthogonal
  Procrustes initialisation, then descent of L_TS over the Stiefel manifold, then a 1-D search
  over beta;
- **probe** (:func:`fit_probe`): a multinomial logistic regression h(mu) = softmax(W mu + b)
  fitted with the teacher rows as soft targets (scikit-learn).

:func:`heldout_certify` (split form) and :func:`certify_heldout` (explicit form) fit on the fit
rows and certify on the evaluation rows; :func:`evaluate_heldout` certifies an already fitted
predictor. Every evaluation refuses rows that the predictor was fitted on, naming them.

Shapes: teacher rows (N, K), codes (N, d), weights (N,), row ids (N,) integers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from . import core
from ._validation import (
    as_float_array,
    check_code_norms,
    check_codes,
    check_distributions,
    check_finite_number,
    check_seed,
    check_teacher,
    check_weights,
    is_teacher_object,
    real_float,
)
from .information import DEFAULT_DELTA, InformationBound, information_bound
from .information import verdict as information_verdict
from .ledger import DEFAULT_RTOL, Theorem, relation

__all__ = [
    "HeldoutSplit", "heldout_split", "WitnessFit", "fit_witness", "ProbeFit", "fit_probe",
    "HeldoutCertificate", "evaluate_heldout", "certify_heldout", "heldout_certify", "certify_samples", "T2H",
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


# ---------------------------------------------------------------------------------------
# Splits and row ids
# ---------------------------------------------------------------------------------------

def _readonly(a: np.ndarray) -> np.ndarray:
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
    seed = _check_seed(seed)
    n_eval = min(max(int(round(f * n)), 1), int(n) - 1)
    perm = np.random.default_rng(int(seed)).permutation(int(n))
    return HeldoutSplit(fit=_readonly(np.sort(perm[n_eval:])), eval=_readonly(np.sort(perm[:n_eval])),
                        n=int(n), fraction=f, seed=int(seed))


MAX_ROWS = 2 ** 40   # 8 TiB of int64 row ids: any larger n is a mistyped size, not a data set


_check_seed = check_seed   # (kept under its old name for the callers in this module)


def _check_max_iter(max_iter, low: int) -> int:
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, (int, np.integer)) \
            or not low <= max_iter < 2 ** 31:
        raise ValueError(f"max_iter must be an integer in [{low}, 2**31), got {max_iter!r:.60}")
    return int(max_iter)


_ROLES = re.compile(r"^(teacher|codes|weights)(?!\w)")


def _renamed(exc: Exception, names: dict) -> Exception:
    """``exc`` (ValueError/TypeError from core) with its leading argument name (teacher, codes,
    weights) replaced by the caller's argument name, e.g. codes -> codes_eval."""
    msg = str(exc)
    m = _ROLES.match(msg)
    if m and m.group(1) in names:
        msg = names[m.group(1)] + msg[m.end():]
    for old, new in names.items():   # the other argument names core mentions, as whole words
        if old not in ("teacher", "codes", "weights"):
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


def _refuse_overlap(fit_ids: np.ndarray, eval_ids: np.ndarray, what: str) -> None:
    common = np.intersect1d(fit_ids, eval_ids)
    if common.size:
        raise ValueError(
            f"{what}: fit_ids and eval_ids share {common.size} row id(s) {_few(common)}; the held-out "
            "certificate (T2H) needs a predictor chosen without the evaluation rows: make the splits "
            "disjoint, e.g. with heldout_split(n)")


# ---------------------------------------------------------------------------------------
# Margin of a predictor given by its log-probabilities, with a floating-point error bound
# ---------------------------------------------------------------------------------------

def _margin_from_log_probs(T: np.ndarray, w: np.ndarray, log_h: np.ndarray, logit_error: float = 0.0):
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

class WitnessFit(NamedTuple):
    """A witness fitted on rows ``fit_ids`` (None: rows not named, then it cannot be evaluated
    with :func:`evaluate_heldout`). ``start_margin`` is the best fit margin of the Procrustes
    frame alone over the scale grid (at ``start_scale``); ``fit_margin >= start_margin``."""
    witness: core.Witness
    fit_margin: float
    start_margin: float
    start_scale: float
    iterations: int
    fit_ids: np.ndarray | None

    def log_probs(self, codes) -> np.ndarray:
        return self.witness.log_probs(codes)

    @property
    def parameters(self) -> dict:
        return {"frame": self.witness.P.copy(), "witness_scale": self.witness.scale}


def _frame_loss(X, T, w, neg_h, P, V, beta):
    """L_TS(P, beta) = sum_i w_i KL(T_i || softmax(beta V^T P^T x_i)) and the pieces for gradients."""
    logits = beta * ((X @ P) @ V)                           # (n, K)
    log_s = core.log_softmax(logits)
    loss = core.wsum(w, neg_h - core.cross_rows(T, log_s))
    return loss, log_s, logits


def _polar(M: np.ndarray) -> np.ndarray:
    """Polar retraction onto the Stiefel manifold: the orthonormal factor U W^T of M = U S W^T
    (Absil, Mahony & Sepulchre 2008, Example 4.1.3), the closest frame to M in Frobenius norm."""
    U, _, Wt = np.linalg.svd(M, full_matrices=False)
    return U @ Wt


def _procrustes_frame(X, T, w, seed: int) -> np.ndarray:
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
    Z = core.exact_embedding(Tf, core.Witness(K, K - 1, 1.0))        # (n, K-1): z*_i at beta = 1
    sw = np.sqrt(w)[:, None]
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
    Q, Rq = np.linalg.qr(G)
    Q *= np.where(np.diag(Rq) < 0, -1.0, 1.0)
    return _polar(U_r @ W_r.T + Q @ W_null.T)                         # still maximises tr(P^T M)


def _stiefel_descent(X, T, w, neg_h, P, V, beta, max_iter: int, gtol: float):
    """Riemannian gradient descent of L_TS over frames P with the polar retraction and Armijo
    backtracking (Absil et al. 2008, Alg. 1). Every accepted step lowers L_TS, so the result is
    never worse than the start. Euclidean gradient: dL/dP = beta X^T [w (S - T)] V^T (d, K-1);
    Riemannian gradient on the Stiefel manifold (embedded metric): G - P sym(P^T G)."""
    kappa = T.shape[1] / (T.shape[1] - 1)
    loss, log_s, _ = _frame_loss(X, T, w, neg_h, P, V, beta)
    # Lipschitz bound of the gradient: Hessian of KL(t || softmax(a)) <= 1/2 in a (T6), and
    # ||d logits|| <= beta sqrt(kappa) ||x|| ||dP||: step 1/L with L = beta^2 kappa lambda_max(X^T W X)/2
    lam = float(np.linalg.eigvalsh((X * w[:, None]).T @ X)[-1]) if X.size else 0.0
    with np.errstate(over="ignore", under="ignore", divide="ignore"):   # beta 1e300: no Python OverflowError
        step = float(2.0 / (np.float64(beta) ** 2 * kappa * lam)) if lam > 0 else 1.0
    if not np.isfinite(step):   # beta^2 underflowed to 0: an infinite step would make the frame inf
        step = 1.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 -- `it` is returned: the number of steps taken
        R = w[:, None] * (np.exp(log_s) - T)                          # (n, K): w_i (S_i - T_i)
        G = beta * X.T @ (R @ V.T)                                    # (d, K-1) Euclidean gradient
        sym = P.T @ G
        rgrad = G - P @ (0.5 * (sym + sym.T))                         # (d, K-1) Riemannian gradient
        g2 = float((rgrad ** 2).sum())
        if g2 <= gtol ** 2:
            break
        accepted = False
        for _ in range(40):
            P_new = _polar(P - step * rgrad)
            loss_new, log_s_new, _ = _frame_loss(X, T, w, neg_h, P_new, V, beta)
            if loss_new <= loss - 1e-4 * step * g2:                   # Armijo sufficient decrease
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        P, loss, log_s = P_new, loss_new, log_s_new
        step *= 2.0                                                   # try a longer step next time
    return P, loss, it


def fit_witness(teacher_fit, codes_fit, *, weights=None, scales=DEFAULT_SCALES, seed: int = 0,
                max_iter: int = 100, refine_scale: bool = True, fit_ids=None) -> WitnessFit:
    """Fit the witness frame P (d, K-1) and scale beta on the fit split only.

    1. Procrustes start: the frame that best rotates the centred fit codes onto the centred
       exact codes mu*(T_i) (see ``_procrustes_frame``; the same frame for every beta).
    2. For each beta in ``scales``: Riemannian descent of the fit-split L_TS over the Stiefel
       manifold from the Procrustes frame (``max_iter`` steps at most, monotone).
    3. The (P, beta) with the best fit margin; with ``refine_scale``, a bounded 1-D search of
       log beta (scipy ``minimize_scalar``, method "bounded") between the neighbouring grid
       scales with P fixed, kept only if it lowers L_TS.

    Deterministic for a seed (the seed only matters when the Procrustes problem is degenerate).
    Needs d >= K-1. Returns a :class:`WitnessFit`; ``fit_ids`` (the data-set ids of the fit rows)
    lets :func:`evaluate_heldout` refuse evaluation rows that the witness was fitted on.
    """
    T = check_distributions(teacher_fit, "teacher_fit", allow_1d=False)
    n, K = T.shape
    X = as_float_array(codes_fit, "codes_fit", 2)
    if X.shape[0] != n:
        raise ValueError(f"codes_fit has {X.shape[0]} rows but teacher_fit has {n}; pass one code per fit row")
    check_code_norms(X, "codes_fit")   # sklearn returns an all-zero probe on such codes, silently
    d = X.shape[1]
    if d < K - 1:
        raise ValueError(f"codes_fit has latent dimension d = {d} < K-1 = {K - 1}: a witness frame needs "
                         "d >= K-1 orthonormal directions; use the probe certificate (fit_probe) or fewer outcomes")
    w = check_weights(weights, n, "weights")
    ids = None if fit_ids is None else _readonly(_check_ids(fit_ids, n, "fit_ids"))
    grid = tuple(_check_scale_grid(scales))
    max_iter = _check_max_iter(max_iter, 0)
    seed = _check_seed(seed)
    if not isinstance(refine_scale, (bool, np.bool_)):
        raise TypeError(f"refine_scale must be True or False, got {refine_scale!r:.60}")
    try:
        return _fit_witness(X, T, w, teacher_fit, weights, grid, seed, max_iter, refine_scale, ids, n, K, d)
    except np.linalg.LinAlgError:   # an SVD of overflowing products (codes near 1e308): found by the fuzz
        raise ValueError(f"codes_fit are too large to fit a witness on (largest |entry| {np.abs(X).max():.3g}): "
                         "the Procrustes/descent SVD failed on values that overflow float64; scale the codes down") from None


def _fit_witness(X, T, w, teacher_fit, weights, grid, seed, max_iter, refine_scale, ids, n, K, d) -> WitnessFit:
    V = core.simplex_vertices(K)
    neg_h = core.neg_entropy_rows(T)
    info = core.teacher_information(T, w)
    P0 = _procrustes_frame(X, T, w, int(seed))
    # gtol: stop when the Riemannian gradient is at rounding level of the loss's gradient
    gtol = 1e-10 * (1.0 + info)
    best: tuple[np.ndarray, float, float, int] | None = None
    start_loss, start_scale = np.inf, grid[0]
    for beta in grid:
        loss0 = _frame_loss(X, T, w, neg_h, P0, V, beta)[0]
        if loss0 < start_loss:
            start_loss, start_scale = loss0, beta
        P, loss, it = _stiefel_descent(X, T, w, neg_h, P0, V, beta, int(max_iter), gtol)
        if best is None or loss < best[1]:
            best = (P, loss, beta, it)
    assert best is not None   # the scale grid is never empty (_check_scale_grid)
    P, loss, beta, iterations = best
    if refine_scale and len(grid) > 1:
        from scipy.optimize import minimize_scalar
        j = grid.index(beta)
        lo, hi = np.log(grid[max(j - 1, 0)]), np.log(grid[min(j + 1, len(grid) - 1)])
        res = minimize_scalar(lambda s: _frame_loss(X, T, w, neg_h, P, V, float(np.exp(s)))[0],
                              bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
        if res.fun < loss:
            loss, beta = float(res.fun), float(np.exp(res.x))
    if not (np.isfinite(P).all() and np.isfinite(loss)):
        raise ValueError(f"codes_fit are too large to fit a witness on (largest |entry| {np.abs(X).max():.3g}): "
                         "the descent overflowed float64; scale the codes down")
    try:
        witness = core.Witness(K, d, beta, P)
        fit_margin = core.certificate_margin(teacher_fit, X, witness, weights)  # the reference, on the caller's rows
    except (ValueError, TypeError) as exc:
        raise _renamed(exc, {"teacher": "teacher_fit", "codes": "codes_fit"}) from None
    start_margin = info - start_loss
    return WitnessFit(witness, float(fit_margin), float(start_margin), float(start_scale), int(iterations), ids)


def _check_scale_grid(scales) -> list[float]:
    arr = np.atleast_1d(as_float_array(scales, "scales", (0, 1)))   # text, complex, objects: named errors
    if arr.size == 0 or np.any(arr <= 0):
        raise ValueError(f"scales must be a non-empty sequence of finite witness scales > 0, got {scales!r}")
    return sorted(set(float(s) for s in arr))


# ---------------------------------------------------------------------------------------
# Probe: multinomial logistic regression with soft targets
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeFit:
    """h(mu) = softmax(coef mu + intercept), coef (K, d), intercept (K,), fitted on ``fit_ids``."""
    coef: np.ndarray
    intercept: np.ndarray
    C: float
    fit_margin: float
    fit_loss: float
    fit_ids: np.ndarray | None = field(default=None)

    def logits(self, codes) -> np.ndarray:
        mu = check_codes(codes, self.coef.shape[1])
        return mu @ self.coef.T + self.intercept                      # (N, K)

    def log_probs(self, codes) -> np.ndarray:
        return core.log_softmax(self.logits(codes))

    def logit_error(self, codes) -> float:
        """Bound on the rounding error of ``logits``: (d + 2) unit roundoffs times
        max_i sum_j |mu_ij coef_kj| + |b_k| (Higham 2002, eq. 3.5 for inner products)."""
        mu = check_codes(codes, self.coef.shape[1])
        if mu.size == 0:
            return 0.0
        size = np.abs(mu) @ np.abs(self.coef).T + np.abs(self.intercept)
        return float((self.coef.shape[1] + 2) * EPS * size.max())

    @property
    def parameters(self) -> dict:
        return {"coef": self.coef.copy(), "intercept": self.intercept.copy(), "C": self.C}


def fit_probe(teacher_fit, codes_fit, *, weights=None, C: float = 1.0, max_iter: int = 1000,
              tol: float = 1e-10, seed: int = 0, fit_ids=None) -> ProbeFit:
    """Multinomial logistic regression of the teacher rows on the codes, with soft targets.

    scikit-learn's LogisticRegression takes hard labels only. Soft targets come exactly from
    repetition: each fit row i appears K times, with label k and sample weight n w_i T_ik. Its
    weighted log-loss is then sum_i n w_i sum_k T_ik (-log h_k(mu_i)) = n sum_i w_i CE(T_i, h(mu_i))
    = n sum_i w_i [KL(T_i || h(mu_i)) + H(T_i)], so the fit minimises the KL loss L_h on the fit
    split plus sklearn's L2 penalty ||W||^2 / (2 C) (the weights sum to n, so C means what it
    means for n unweighted rows). Every label appears, so sklearn sees all K classes even when a
    class has zero teacher mass. lbfgs is deterministic; ``seed`` is passed as random_state.
    ``tol`` (lbfgs gradient tolerance, default 1e-10 so that the fit is converged well below the
    size of any margin worth reporting) and ``max_iter`` only change which h is chosen: the
    certificate is sound for any h chosen on the fit split (T2H).
    """
    from sklearn.linear_model import LogisticRegression

    T = check_distributions(teacher_fit, "teacher_fit", allow_1d=False)
    n, K = T.shape
    X = as_float_array(codes_fit, "codes_fit", 2)
    if X.shape[0] != n:
        raise ValueError(f"codes_fit has {X.shape[0]} rows but teacher_fit has {n}; pass one code per fit row")
    check_code_norms(X, "codes_fit")   # sklearn returns an all-zero probe on such codes, silently
    w = check_weights(weights, n, "weights")
    ids = None if fit_ids is None else _readonly(_check_ids(fit_ids, n, "fit_ids"))
    C = _positive(C, "C")
    tol = _positive(tol, "tol")
    max_iter = _check_max_iter(max_iter, 1)
    seed = _check_seed(seed)
    Xr = np.repeat(X, K, axis=0)                                      # (n K, d): row i, K times
    yr = np.tile(np.arange(K), n)                                     # labels 0..K-1 for each row
    sw = (n * w[:, None] * T).ravel()                                 # (n K,) sample weights n w_i T_ik
    model = LogisticRegression(C=C, max_iter=max_iter, tol=tol, random_state=seed)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        model.fit(Xr, yr, sample_weight=sw)
    if not (np.isfinite(model.coef_).all() and np.isfinite(model.intercept_).all()):
        raise ValueError(f"codes_fit are too large to fit a probe on (largest |entry| {np.abs(X).max():.3g}): "
                         "the logistic regression overflowed float64; scale the codes down")
    if K == 2:   # binary sklearn: p_1 = sigmoid(f), f = coef mu + b, i.e. softmax of logits (0, f)
        coef = np.vstack([np.zeros((1, X.shape[1])), model.coef_])
        intercept = np.concatenate([[0.0], model.intercept_])
    else:
        coef, intercept = model.coef_.copy(), model.intercept_.copy()
    probe = ProbeFit(coef=coef, intercept=intercept, C=float(C), fit_margin=np.nan, fit_loss=np.nan, fit_ids=ids)
    try:
        log_h = probe.log_probs(X)
    except ValueError as exc:
        raise _renamed(exc, {"codes": "codes_fit"}) from None
    info, loss, margin, _ = _margin_from_log_probs(T, w, log_h)
    return ProbeFit(coef=coef, intercept=intercept, C=float(C), fit_margin=float(margin), fit_loss=float(loss),
                    fit_ids=ids)


def _positive(x, name: str) -> float:
    """A finite number > 0; text, bools, lists and complex are a TypeError naming ``name``."""
    return check_finite_number(x, name, positive=True)


# ---------------------------------------------------------------------------------------
# Held-out certificate
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldoutCertificate:
    """A certificate of the evaluation split for a predictor chosen on the fit split (T2H).

    ``teacher_information``, ``loss`` (E_eval KL(T_i || h(mu_i))) and ``margin`` are over the
    evaluation rows; ``certified`` iff margin > ``float_error`` (an a-priori rounding bound, as
    in :func:`witness_theory.certify`). ``fit_*`` are the same quantities on the fit rows
    (they are what chose h and prove nothing about the evaluation rows); they are None where
    they are unknown (:func:`evaluate_heldout` without ``fit_summary``), never NaN.
    ``parameters`` holds the
    fitted predictor (frame and scale for witnesses; coef, intercept and C for the probe).
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


class _RawWitness:
    """A fixed witness wrapped as a 'fitted' predictor (it was fitted on no rows)."""
    fit_ids = np.empty(0, dtype=np.int64)

    def __init__(self, witness: core.Witness) -> None:
        self.witness = witness

    def log_probs(self, codes):
        return self.witness.log_probs(codes)

    @property
    def parameters(self) -> dict:
        return {"frame": self.witness.P.copy(), "witness_scale": self.witness.scale}


def _method_of(predictor) -> str:
    if isinstance(predictor, WitnessFit):
        return "witness"
    if isinstance(predictor, ProbeFit):
        return "probe"
    if isinstance(predictor, (_RawWitness, core.Witness)):
        return "raw"
    raise TypeError(f"predictor must be a WitnessFit, ProbeFit or Witness, got {type(predictor).__name__}")


def _evaluate(predictor, teacher, codes, weights):
    """(I_T, L_h, G_h, float_error) of a predictor on the caller's rows (validated here, once:
    validation renormalises rows and weights, and doing it twice could move the last bit)."""
    wit = predictor if isinstance(predictor, core.Witness) else getattr(predictor, "witness", None)
    if wit is not None:
        cert = core.certify(teacher, codes, wit, weights)   # the reference: bit-identical to certify
        return cert.teacher_information, cert.alignment_loss, cert.margin, cert.float_error
    T = check_distributions(teacher, "teacher", allow_1d=False)
    w = check_weights(weights, T.shape[0])
    X = check_codes(codes, predictor.coef.shape[1], T.shape[0])
    return _margin_from_log_probs(T, w, predictor.log_probs(X), predictor.logit_error(X))


def evaluate_heldout(predictor, teacher_eval, codes_eval, eval_ids, *, weights_eval=None,
                     fit_summary: tuple[float, float, float, int] | None = None, delta: float = DEFAULT_DELTA,
                     permutations: int = 0, seed: int = 0) -> HeldoutCertificate:
    """Certify an already fitted predictor on evaluation rows ``eval_ids`` (T2H, T13).

    With uniformly weighted evaluation rows (``weights_eval`` None) the certificate carries the
    (1 - ``delta``) lower confidence bound on I(Y; Z) of :func:`witness_theory.information_bound`
    (rows taken as an i.i.d. sample) and, with ``permutations`` > 0, the permutation p-value; its
    verdict is then one of three levels. Weighted rows get no bound (the bound is for a sample),
    so they are never "certified" at a confidence level.

    Refuses (ValueError naming the rows) evaluation rows that the predictor was fitted on, and
    a fitted predictor whose fit rows are unknown (fit it with ``fit_ids=``). A plain
    :class:`witness_theory.Witness` is a fixed predictor (fitted on no rows): the raw certificate.
    """
    if isinstance(predictor, core.Witness):
        predictor = _RawWitness(predictor)
    method = _method_of(predictor)
    if not 0.0 < check_finite_number(delta, "delta") < 1.0:
        raise ValueError(f"delta (the error rate of the bound) must lie in (0, 1), got {delta!r}")
    if isinstance(permutations, (bool, np.bool_)) or not isinstance(permutations, (int, np.integer)) \
            or not 0 <= permutations < 2 ** 31:
        raise ValueError(f"permutations must be an integer >= 0 (0: no exact test), got {permutations!r:.60}")
    seed = _check_seed(seed)
    T = check_distributions(teacher_eval, "teacher_eval", allow_1d=False)
    n_eval = T.shape[0]
    ids = _check_ids(eval_ids, n_eval, "eval_ids")
    if predictor.fit_ids is None:
        raise ValueError("the predictor was fitted without fit_ids, so its evaluation rows cannot be checked "
                         "disjoint from its fit rows; refit it with fit_ids= (the data-set ids of the fit rows)")
    _refuse_overlap(np.asarray(predictor.fit_ids), ids, "evaluation rows were used to fit the predictor")
    check_weights(weights_eval, n_eval, "weights_eval")
    X = as_float_array(codes_eval, "codes_eval", 2)
    summary: tuple[float | None, float | None, float | None, int] | None = None
    if fit_summary is not None:
        summary = _check_fit_summary(fit_summary)
    try:
        info, loss, margin, float_error = _evaluate(predictor, teacher_eval, X, weights_eval)
    except (ValueError, TypeError) as exc:   # core names teacher/codes/weights: say which of ours
        raise _renamed(exc, {"teacher": "teacher_eval", "codes": "codes_eval", "weights": "weights_eval"}) from None
    def known(v) -> float | None:   # a fit-split number that was not given is None ("unknown")
        return None if v is None or not np.isfinite(v) else float(v)

    if summary is None:
        summary = (None, None, getattr(predictor, "fit_margin", None), len(predictor.fit_ids))
    K = T.shape[1]
    bound = None
    if weights_eval is None and n_eval >= 2:
        log_h = predictor.log_probs(check_codes(X, X.shape[1], n_eval))
        bound = information_bound(T, log_h, delta=delta, permutations=permutations, seed=seed)
    return HeldoutCertificate(
        method=method, teacher_information=float(info), loss=float(loss), margin=float(margin),
        float_error=float(float_error), certified=bound is not None and bound.lcb > 0.0, bound=bound,
        fit_teacher_information=known(summary[0]), fit_loss=known(summary[1]),
        fit_margin=known(summary[2]), n_fit=int(summary[3]), n_eval=n_eval, K=K, d=X.shape[1],
        parameters=predictor.parameters, predictor=predictor)


def _check_fit_summary(fit_summary) -> tuple[float, float, float, int]:
    """(I_T(fit), L(fit), G(fit), n_fit): three numbers (not NaN) and a row count >= 0."""
    if isinstance(fit_summary, (str, bytes, dict)) or not hasattr(fit_summary, "__len__") or len(fit_summary) != 4:
        raise TypeError(f"fit_summary must be a tuple (I_T fit, loss fit, margin fit, n_fit), got {fit_summary!r:.80}")
    out = []
    for label, v in zip(("I_T fit", "loss fit", "margin fit"), fit_summary[:3]):
        f = real_float(v, f"fit_summary {label}")
        if np.isnan(f):
            raise ValueError(f"fit_summary {label} is NaN; pass the fit-split numbers or fit_summary=None")
        out.append(f)
    n_fit = fit_summary[3]
    if isinstance(n_fit, (bool, np.bool_)) or not isinstance(n_fit, (int, np.integer)) or n_fit < 0:
        raise ValueError(f"fit_summary n_fit must be an integer >= 0, got {n_fit!r:.60}")
    return out[0], out[1], out[2], int(n_fit)


def certify_heldout(teacher_fit, codes_fit, teacher_eval, codes_eval, fit_ids, eval_ids, *,
                    method: Literal["raw", "witness", "probe"] = "witness", witness: core.Witness | None = None,
                    weights_fit=None, weights_eval=None, **fit_kwargs) -> HeldoutCertificate:
    """Explicit form: fit a predictor on (teacher_fit, codes_fit) and certify (teacher_eval, codes_eval).

    ``fit_ids``/``eval_ids`` are the data-set ids of the rows; overlapping ids are refused with a
    ValueError naming them (first few). ``method``: "witness" (:func:`fit_witness`), "probe"
    (:func:`fit_probe`) or "raw" (the fixed ``witness``, required then; its fit-split numbers are
    reported but nothing is fitted). ``fit_kwargs`` go to the fitting function.
    """
    bound_options = {k: fit_kwargs.pop(k) for k in ("delta", "permutations") if k in fit_kwargs}
    T_fit = check_distributions(teacher_fit, "teacher_fit", allow_1d=False)
    f_ids = _check_ids(fit_ids, T_fit.shape[0], "fit_ids")
    T_eval = check_distributions(teacher_eval, "teacher_eval", allow_1d=False)
    e_ids = _check_ids(eval_ids, T_eval.shape[0], "eval_ids")
    _refuse_overlap(f_ids, e_ids, "overlapping splits")
    if T_fit.shape[1] != T_eval.shape[1]:
        raise ValueError(f"teacher_fit has K = {T_fit.shape[1]} outcomes but teacher_eval has K = {T_eval.shape[1]}")
    X_fit = as_float_array(codes_fit, "codes_fit", 2)
    # finite codes whose ||mu_i||^2 overflows give an inf float-error bound (a verdict resting on
    # inf): refused on both splits before anything is fitted
    check_code_norms(X_fit, "codes_fit")
    X_eval = as_float_array(codes_eval, "codes_eval", (1, 2))
    check_code_norms(X_eval if X_eval.ndim == 2 else X_eval[None, :], "codes_eval")
    check_weights(weights_fit, T_fit.shape[0], "weights_fit")   # before fitting: named here, not 'weights'
    if witness is not None and not isinstance(witness, core.Witness):
        raise TypeError(f"witness must be a witness_theory.Witness or None, got {type(witness).__name__}")
    # the callers' rows go on as given (validation renormalises rows that sum to 1 within the
    # tolerance; doing it twice could move the last bit), so this equals the direct calls exactly
    if method == "witness":
        predictor: WitnessFit | ProbeFit | _RawWitness = fit_witness(teacher_fit, X_fit, weights=weights_fit,
                                                                     fit_ids=f_ids, **fit_kwargs)
    elif method == "probe":
        predictor = fit_probe(teacher_fit, X_fit, weights=weights_fit, fit_ids=f_ids, **fit_kwargs)
    elif method == "raw":
        if not isinstance(witness, core.Witness):
            raise ValueError("method='raw' certifies a fixed witness: pass witness=witness_theory.Witness(K, d, scale)")
        if fit_kwargs:
            raise ValueError(f"method='raw' fits nothing; unexpected arguments {sorted(fit_kwargs)}")
        predictor = _RawWitness(witness)
    else:
        raise ValueError(f"method must be 'raw', 'witness' or 'probe', got {method!r}")
    check_weights(weights_fit, T_fit.shape[0], "weights_fit")
    try:
        fit_info, fit_loss, fit_margin, _ = _evaluate(predictor, teacher_fit, X_fit, weights_fit)
    except (ValueError, TypeError) as exc:   # core names teacher/codes/weights: say which of ours
        raise _renamed(exc, {"teacher": "teacher_fit", "codes": "codes_fit", "weights": "weights_fit"}) from None
    return evaluate_heldout(predictor, teacher_eval, codes_eval, e_ids, weights_eval=weights_eval,
                            fit_summary=(fit_info, fit_loss, fit_margin, T_fit.shape[0]),
                            seed=int(fit_kwargs.get("seed", 0)), **bound_options)


def heldout_certify(teacher, codes, split: HeldoutSplit, *, method: Literal["raw", "witness", "probe"] = "witness",
                    weights=None, witness: core.Witness | None = None, **fit_kwargs) -> HeldoutCertificate:
    """Split form: rows ``split.fit`` choose the predictor, rows ``split.eval`` are certified.

    ``teacher`` (N, K), ``codes`` (N, d), ``weights`` (N,) cover all rows; each split's weights
    are renormalised on that split. See :func:`certify_heldout` for ``method``.
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
    f, e = split.fit, split.eval
    T = np.asarray(teacher, dtype=np.float64)   # the caller's rows as given (validated above): equals the explicit form
    try:
        return certify_heldout(T[f], X[f], T[e], X[e], f, e, method=method, witness=witness,
                               weights_fit=None if w is None else w[f], weights_eval=None if w is None else w[e],
                               **fit_kwargs)
    except (ValueError, TypeError) as exc:   # name our arguments, not certify_heldout's
        raise _renamed(exc, _SPLIT_NAMES) from None


_SPLIT_NAMES = {"teacher_fit": "teacher (fit rows)", "teacher_eval": "teacher (evaluation rows)",
                "codes_fit": "codes (fit rows)", "codes_eval": "codes (evaluation rows)",
                "weights_fit": "weights (fit rows)", "weights_eval": "weights (evaluation rows)",
                "fit_ids": "split.fit", "eval_ids": "split.eval"}


# ---------------------------------------------------------------------------------------
# T2H: the held-out certificate (an extension of T2)
# ---------------------------------------------------------------------------------------

def _check_t2h(teacher_eval, codes_eval, predictor, weights=None, eval_ids=None, rtol=DEFAULT_RTOL):
    """Relations of T2H for a latent-only predictor (anything with ``log_probs(codes)``) on an
    evaluation split: the constant code at the weighted mean code loses >= I_T(eval) (and the
    excess is KL(Tbar || h(c)), T1); codes that are all equal give G_h <= 0; G_h <= I_T(eval);
    and, when both are known, the fit rows and eval rows are disjoint (the theorem's condition)."""
    if isinstance(predictor, core.Witness):
        predictor = _RawWitness(predictor)
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
    fit_ids = getattr(predictor, "fit_ids", None)
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


# ---------------------------------------------------------------------------------------
# The posterior certificate: the same predictors on sampled codes z ~ q(z|x)
# ---------------------------------------------------------------------------------------

def certify_samples(teacher_fit, samples_fit, teacher_eval, samples_eval, fit_ids, eval_ids, *,
                    method: Literal["witness", "probe"] = "witness", delta: float = DEFAULT_DELTA,
                    permutations: int = 0, **fit_kwargs) -> HeldoutCertificate:
    """The held-out certificate of sampled codes (the posterior certificate, T13 with Z ~ q(z|x)).

    ``samples_fit`` (n_f, M_f, d) and ``samples_eval`` (n_e, M, d): M draws z ~ q(z|x) per row
    (a 2-D array is one draw per row). The predictor is fitted on the fit draws only (each draw a
    fit sample with its row's teacher row); the evaluation margin and the bound average each
    evaluation row's term over its M draws, so the bound is on I(Y; Z) for a single draw Z, the
    information that reaches the decoder. Disjoint ``fit_ids``/``eval_ids`` are required.
    """
    T_fit = check_distributions(teacher_fit, "teacher_fit", allow_1d=False)
    T_eval = check_distributions(teacher_eval, "teacher_eval", allow_1d=False)
    f_ids = _check_ids(fit_ids, T_fit.shape[0], "fit_ids")
    e_ids = _check_ids(eval_ids, T_eval.shape[0], "eval_ids")
    _refuse_overlap(f_ids, e_ids, "overlapping splits")
    Zf = as_float_array(samples_fit, "samples_fit", (2, 3))
    Ze = as_float_array(samples_eval, "samples_eval", (2, 3))
    Zf = Zf[:, None] if Zf.ndim == 2 else Zf
    Ze = Ze[:, None] if Ze.ndim == 2 else Ze
    if Zf.shape[0] != T_fit.shape[0] or Ze.shape[0] != T_eval.shape[0] or Zf.shape[2] != Ze.shape[2]:
        raise ValueError(f"samples_fit {Zf.shape} / samples_eval {Ze.shape} do not match the teacher rows "
                         f"({T_fit.shape[0]}, {T_eval.shape[0]}) or each other's latent dimension")
    (n_f, m_f, d), (n_e, m_e, _) = Zf.shape, Ze.shape
    K = T_fit.shape[1]
    T_rep = np.repeat(T_fit, m_f, axis=0)
    flat_fit = Zf.reshape(-1, d)
    if method == "witness":
        predictor: WitnessFit | ProbeFit = fit_witness(T_rep, flat_fit, **fit_kwargs)
    elif method == "probe":
        predictor = fit_probe(T_rep, flat_fit, **fit_kwargs)
    else:
        raise ValueError(f"method must be 'witness' or 'probe', got {method!r}")
    fit_info, fit_loss, fit_margin, _ = _evaluate(predictor, T_rep, flat_fit, None)
    flat_eval = Ze.reshape(-1, d)
    T_eval_rep = np.repeat(T_eval, m_e, axis=0)
    info, loss, margin, float_error = _evaluate(predictor, T_eval_rep, flat_eval, None)
    log_h = predictor.log_probs(flat_eval).reshape(n_e, m_e, K)
    bound = information_bound(T_eval, log_h, delta=delta, permutations=permutations,
                              seed=int(fit_kwargs.get("seed", 0)))
    return HeldoutCertificate(
        method=f"{_method_of(predictor)}-posterior", teacher_information=float(info), loss=float(loss),
        margin=float(margin), float_error=float(float_error), certified=bound.lcb > 0.0,
        fit_teacher_information=float(fit_info), fit_loss=float(fit_loss), fit_margin=float(fit_margin),
        n_fit=n_f, n_eval=n_e, K=K, d=d, parameters=predictor.parameters, predictor=predictor, bound=bound)
