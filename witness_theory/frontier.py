"""T11: the optimal margin-energy frontier (ours; beyond the source papers).

    E_min(L) = min over codes of (1/2) sum_i w_i ||mu_i||^2   subject to   L_TS(mu) <= L.

Derivation (docs/theory.md, T11). Only P^T mu reaches the witness (T4), so an optimal code
lies in the witness subspace and is determined by its centred logits a_i = beta A^T mu_i:
mu_i = A a_i / (beta kappa) and (1/2)||mu_i||^2 = ||a_i||^2 / (2 beta^2 kappa) (T3). In the
logits the problem is convex: KL(t || softmax(a)) = sum t log t - t.a + logsumexp(a) is convex
and the energy is a positive quadratic. Slater's condition holds for L > 0 (the exact codes
of a full-support teacher have L_TS = 0 < L), so strong duality holds and the Lagrangian
separates over rows:

    min_a ||a||^2 / (2 beta^2 kappa) + lambda KL(T_i || S(a)),

strongly convex, with the unique minimiser a_i(lambda) solving the stationarity condition

    a = c (T_i - softmax(a)),   c = lambda beta^2 kappa      (equivalently mu = lambda beta A (T_i - S(mu))).

One multiplier lambda >= 0 traces the curve: lambda = 0 gives a = 0 (mu = 0), L = L_0 =
I_T + KL(Tbar || uniform) (T1 with q uniform), E = 0; lambda -> inf gives a -> clr(T_i), L -> 0,
E -> ((K-1)/(2 K beta^2)) E_T (T5). Along it E_min is convex and nonincreasing with slope
dE_min/dL = -lambda (envelope theorem), and for every lambda and EVERY code mu (weak duality)

    (1/2) E||mu||^2 + lambda L_TS(mu) >= D(lambda) = E(a(lambda)) + lambda L(a(lambda)),

so E_min(L) = max_lambda D(lambda) - lambda L, and any lambda gives a lower bound on E_min(L).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from . import core
from .validation import (
    as_float_array,
    check_distributions,
    check_integer,
    check_nonneg_number,
    check_teacher,
    check_weights,
    real_float,
)

__all__ = ["frontier_logits", "frontier_codes", "Frontier", "margin_energy_frontier", "frontier_dual",
           "min_energy", "min_energy_point", "default_frontier_lambdas"]

_EPS = np.finfo(np.float64).eps
# the ufuncs' reduce methods, called directly: the floats of .sum, .max and .all (which call them), without
# those methods' Python wrappers, ~1 us a call; the Newton solves below make ~10^6 such calls a proof
# run, on a few rows each, where that was ~10% of their time
_sum_rows, _max_of, _all_of = np.add.reduce, np.maximum.reduce, np.logical_and.reduce


def _lse(a: np.ndarray) -> np.ndarray:
    top = _max_of(a, axis=1)
    return top + np.log(_sum_rows(np.exp(a - top[:, None]), axis=1))


def _objective(a: np.ndarray, T: np.ndarray, c: float) -> np.ndarray:
    """Per row ||a||^2/(2c) + logsumexp(a) - T.a: the Lagrangian divided by lambda, less sum T log T."""
    return np.einsum("ik,ik->i", a, a) / (2 * c) + _lse(a) - np.einsum("ik,ik->i", T, a)


_DEFAULT_NEWTON_STEPS = 200


def frontier_logits(teacher, c: float, start=None, max_iter: int = _DEFAULT_NEWTON_STEPS) -> tuple[np.ndarray, float]:
    """Solve a_i = c (T_i - softmax(a_i)) for every row: (N, K) centred logits and the largest
    stationarity residual max_ik |a_ik / c - (T_ik - S_ik)|.

    Damped Newton on the strongly convex f(a) = ||a||^2/(2c) + logsumexp(a) - T.a, vectorised
    over rows. Hand-written because scipy's minimisers solve one problem at a time (N calls
    on 70,000 rows); the Hessian I/c + diag(S) - S S^T is diagonal plus rank one, so each
    Newton step is an O(K) Sherman-Morrison solve, with
    1 - S^T (diag(S) + I/c)^{-1} S = sum_k S_k / (1 + c S_k) (no cancellation). A backtracking
    (Armijo) line search makes it converge from any start, but not always within ``max_iter``:
    from a start far from the solution (entries ~1e3 at c = 1e8) the damped phase took ~1,000
    steps (proofs/test_t11_frontier.py). The returned residual says whether it converged; the
    frontier functions below re-solve from zero where a warm start did not (:func:`_warm_solve`).
    c = 0 gives a = 0; c = inf the exact logits clr(T_i) (full support needed).
    """
    T, _ = check_teacher(teacher)   # per row: a Teacher's weights play no part
    c = _nonneg(c, "c", allow_inf=True)    # c = inf: the exact logits
    a0 = _check_start(start, T)
    max_iter = check_integer(max_iter, "max_iter", 0)
    if c == 0:
        return np.zeros_like(T), 0.0
    if np.isinf(c):
        a = core.clr(check_distributions(T, "teacher", full_support=True))
        return np.atleast_2d(a), 0.0
    return _newton(T, c, a0, max_iter)


def _newton(T: np.ndarray, c: float, a0: np.ndarray | None, max_iter: int) -> tuple[np.ndarray, float]:
    """:func:`frontier_logits` on validated input, 0 < c < inf (min_energy_point's ~30 solves per
    call skip the validation of what they already validated)."""
    K = T.shape[1]
    a = np.zeros_like(T) if a0 is None else a0.copy()
    # (the row sum over K is NumPy's mean, sum then divide by the count: the same floats, without
    # mean's Python wrapper; the small solves of T11's root search run this ~10^5 times a proof run)
    a -= a.sum(axis=1, keepdims=True) / K                              # the solution is centred
    with np.errstate(over="ignore", invalid="ignore"):
        f = _objective(a, T, c)
    # a start so far out that f overflows (||a||^2 / 2c = inf) gives the line search nothing to
    # compare against: those rows start from 0 instead (the minimiser is unique; any start is a hint)
    far = ~np.isfinite(f)
    if far.any():
        a[far] = 0.0
        f[far] = _objective(a[far], T[far], c)
    log_K = np.log(K)
    for _ in range(max_iter):
        # every row of a here has a finite objective f, so |a| < ~1e154: core.log_softmax's floats
        # without its overflow check
        ls = core.log_softmax_finite_in_place(a.copy())
        S = np.exp(ls)
        g = a / c + S - T                                              # gradient of f
        one_cs = 1.0 + c * S
        m_inv = c / one_cs                                             # diag(M)^{-1}
        Mg, Ms = m_inv * g, m_inv * S                                  # M^{-1} g, M^{-1} S; M = diag(S) + I/c
        denom = _sum_rows(S / one_cs, axis=1, keepdims=True)           # 1 - S^T M^{-1} S
        # S^T M^{-1} g = sum_k g_k c S_k / (1 + c S_k) = 1^T g - sum_k g_k / (1 + c S_k), and
        # 1^T g = 0 (a is centred, S and T sum to 1): the second form does not amplify the
        # rounding of 1^T g by 1 / denom ~ c / K
        sMg = -_sum_rows(g / one_cs, axis=1, keepdims=True)
        delta = Mg + Ms * (sMg / denom)                                # H^{-1} g (Sherman-Morrison)
        # the solution is centred (1^T a = c (1^T T - 1^T S) = 0); along 1 the curvature is only
        # 1/c, so rounding in 1^T (S - T) would drive a along 1 by ~c eps: keep the step centred
        # (an equivalent mutant when removed: sMg's form centres delta to rounding already; results/proofs/mutation.md)
        delta -= _sum_rows(delta, axis=1, keepdims=True) / K           # (the mean, as above)
        abs_a = np.abs(a)
        if _max_of(np.abs(delta), axis=None) <= 4 * _EPS * (1.0 + _max_of(abs_a, axis=None)):
            break
        gd = np.einsum("ik,ik->i", g, delta)
        allowance = 16 * _EPS * (1.0 + np.abs(f) + _max_of(abs_a, axis=1) + log_K)
        # Armijo, with a rounding allowance: f = ||a||^2/2c + lse(a) - T.a cancels terms of
        # size ~max|a| + log K, so it is only known to ~that many ulps near the optimum. The
        # full step first, on every row at once (the same floats as step 1.0 below): near the
        # optimum, and from the warm starts of a grid or a root search, every row takes it, and
        # the per-row bookkeeping of the backtracking cost more than the Newton step itself
        trial = a - delta
        ft = _objective(trial, T, c)
        ok = ft <= f - 1e-4 * gd + allowance
        if _all_of(ok, axis=None):
            a, f = trial, ft
            continue
        new_a, new_f = a.copy(), f.copy()
        new_a[ok], new_f[ok] = trial[ok], ft[ok]
        todo = ~ok
        step = np.where(todo, 0.5, 1.0)
        for _ls in range(59):
            idx = np.flatnonzero(todo)
            if idx.size == 0:
                break
            trial = a[idx] - step[idx, None] * delta[idx]
            ft = _objective(trial, T[idx], c)
            ok = ft <= f[idx] - 1e-4 * step[idx] * gd[idx] + allowance[idx]
            new_a[idx[ok]], new_f[idx[ok]] = trial[ok], ft[ok]
            todo[idx[ok]] = False
            step[idx[~ok]] *= 0.5
        if todo.all():       # no row took a step: every later iteration would repeat this one
            break
        a, f = new_a, new_f
    S = np.exp(core.log_softmax_finite_in_place(a.copy()))            # core.log_softmax, as above
    return a, float(_max_of(np.abs(a / c - (T - S)), axis=None))


# A real number >= 0 (found by probing with bad input); shared with collapse_metrics
_nonneg = check_nonneg_number


# the stationarity residual of a converged solve: <= 2.4e-16 measured up to c = 1e12 from zero,
# <= 1e-13 asserted (proofs/test_t11_frontier.py); far above rounding, far below an unconverged one
_CONVERGED = 1e-10


def _warm_solve(teacher, c: float, start) -> np.ndarray:
    """:func:`frontier_logits` from a warm start; where that start did not converge within the
    default steps (residual > ``_CONVERGED``), solved again from zero, keeping per row the point
    of lower objective (the minimiser is unique and f strictly convex, so the lower f is the
    nearer point). The frontier's dual values are minima of the Lagrangian: an unconverged solve
    would make them, and T11's bound E_min(L) >= D(lambda) - lambda L, too large."""
    T, _ = check_teacher(teacher)
    return _warm_newton(T, _nonneg(c, "c", allow_inf=True), _check_start(start, T))


def _warm_newton(T: np.ndarray, c: float, a0: np.ndarray | None) -> np.ndarray:
    """:func:`_warm_solve` on validated input."""
    if c == 0 or np.isinf(c):
        return frontier_logits(T, c)[0]
    a, r = _newton(T, c, a0, _DEFAULT_NEWTON_STEPS)
    if a0 is None or not r > _CONVERGED:
        return a
    b, _ = _newton(T, c, None, _DEFAULT_NEWTON_STEPS)
    with np.errstate(over="ignore", invalid="ignore"):
        keep = ~(_objective(b, T, c) < _objective(a, T, c))
    return np.where(keep[:, None], a, b)


def _check_start(start, T: np.ndarray, name: str = "start") -> np.ndarray | None:
    """A warm start for the logits: None or finite reals of the teacher's shape (N, K); a 1-D
    start of length K is one row (as a 1-D teacher is)."""
    if start is None:
        return None
    a = as_float_array(start, name, (1, 2))
    if a.ndim == 1:
        a = a[None, :]
    if a.shape != T.shape:
        raise ValueError(f"{name} has shape {a.shape} but the teacher has shape {T.shape}; "
                         f"pass one row of K = {T.shape[1]} logits per teacher row (or start=None)")
    return a


def _beta2_kappa(witness) -> float:
    """beta^2 kappa in float64 (a Python float ** 2 raises OverflowError for witness_scale 1e300)."""
    core.check_witness(witness)
    with np.errstate(over="ignore", under="ignore"):
        return float(np.float64(witness.scale) ** 2 * witness.kappa)


def _lam_to_c(lam: float, witness: core.Witness) -> float:
    core.check_witness(witness)
    lam = _nonneg(lam, "lam")
    if lam == 0:             # c = 0 even where beta^2 kappa overflows (0 * inf would be NaN)
        return 0.0
    with np.errstate(over="ignore", under="ignore"):
        return float(lam * np.float64(witness.scale) ** 2 * witness.kappa)


def frontier_codes(teacher, witness: core.Witness, lam: float, start=None) -> np.ndarray:
    """The optimal codes mu_i(lambda) = A a_i / (beta kappa) (N, d) for multiplier ``lam``."""
    core.check_witness(witness)
    core.check_K_match(check_teacher(teacher)[0], witness)
    # the teacher as given (not the renormalised copy: renormalising twice moves the last bit)
    a = _warm_solve(teacher, _lam_to_c(lam, witness), start)
    return a @ witness.A.T / (witness.scale * witness.kappa)


@dataclass(frozen=True)
class Frontier:
    """Points of the T11 frontier: for each multiplier lambda, the loss L = L_TS and the energy
    E = (1/2) E||mu||^2 of the optimal codes, the dual value D = E + lambda L and the largest
    stationarity residual max_i |mu_i + lambda grad KL(T_i||S(mu_i))| / (1 + max |mu|), computed
    from the codes and the reported lambda with core.alignment_gradient.
    ``loss_at_zero`` = I_T + KL(Tbar||uniform) (lambda = 0, E = 0);
    ``exact_energy`` = the T5 energy (lambda = inf, L = 0), None without full support."""
    lam: np.ndarray
    loss: np.ndarray
    energy: np.ndarray
    dual: np.ndarray
    kkt_residual: np.ndarray
    loss_at_zero: float
    exact_energy: float | None

    def min_energy_bound(self, loss: float) -> float:
        """max_j D(lambda_j) - lambda_j L (and 0): a lower bound on E_min(L) from the grid alone."""
        return float(max(0.0, np.max(self.dual - self.lam * float(loss))))


def default_frontier_lambdas(witness: core.Witness, n: int = 13) -> np.ndarray:
    """lambda with c = lambda beta^2 kappa log-spaced in [1e-2, 1e4] (covers L from ~L_0 to ~0)."""
    b2k = _beta2_kappa(witness)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 10 ** 6:
        raise ValueError(f"n (number of multipliers) must be an integer in [1, 10**6], got {n!r:.60}")
    _check_b2k_range(b2k, witness, 1e4)
    with np.errstate(over="ignore", divide="ignore"):
        return np.logspace(-2, 4, int(n)) / b2k


def _check_b2k_range(b2k: float, witness: core.Witness, c_max: float) -> None:
    """The multipliers lambda = c / (beta^2 kappa) for c up to ``c_max`` must be finite: a
    witness_scale so small that beta^2 kappa underflows (or nearly) gives lambda = inf, which
    no Newton solve takes (lambda beta^2 kappa = inf * 0 is NaN)."""
    with np.errstate(over="ignore", divide="ignore"):
        lam_max = np.float64(c_max) / b2k
    if not lam_max < np.inf:
        raise ValueError(f"witness_scale = {witness.scale!r} is too small for the frontier: beta^2 kappa = {b2k!r} "
                         f"makes the multipliers lambda = c / (beta^2 kappa) (c up to {c_max:g}) overflow float64; "
                         "use a witness_scale >= 1e-140")


def loss_rounding(K: int, loss_at_zero: float, logit_range: float = 0.0) -> float:
    """Absolute rounding of a computed L_TS near the frontier: K-term sums of T (log T - log S)
    whose terms are bounded by ~2 (log K + 1) + L_0 nats plus the spread of the logits that the
    log-softmax subtracts (``logit_range``), 64 K ulps of that. A multiplier lambda (up to
    ~1e4 / (beta^2 kappa) on the grid, 1e12 / (beta^2 kappa) in E_min's root search) multiplies it
    in every weak-duality relation and in E_min(L), whose slope is -lambda (the ci profile found
    D(lambda) above the T5 energy by 1.2e-9 at lambda = 3.2e6 on a near-uniform teacher, and the
    thorough one a model's energy 6e-9 relative below E_min(L_TS) at lambda* = 5.2e12, L_TS =
    4.2e-10: both this rounding, not violations). Below it, :func:`min_energy_point` does not
    search for the root of the computed loss (its sign there is rounding) but maximises the dual."""
    return 64 * K * np.finfo(float).eps * (2 * np.log(K) + 2 + loss_at_zero + logit_range)


def loss_at_zero(teacher: core.Teacher) -> float:
    """L_TS of the code mu = 0 (uniform witness output): I_T + KL(Tbar || uniform), T1's
    decomposition of sum_i w_i KL(T_i || u) -- the lambda = 0 end of the T11 frontier."""
    K = teacher.K
    return teacher.information + float(core.kl_rows(teacher.marginal, np.full(K, -np.log(K)))[0])


def margin_energy_frontier(teacher, witness: core.Witness, weights=None, lambdas=None) -> Frontier:
    """E_min along a grid of multipliers (increasing, warm-started). L and E of each point are
    evaluated on the optimal CODES with core.alignment_loss and core.code_energy (the kernel
    of certify), not from the logits."""
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    core.check_K_match(T, witness)
    lams = default_frontier_lambdas(witness) if lambdas is None else np.sort(as_float_array(lambdas, "lambdas", (0, 1)).ravel())
    if (lams < 0).any():
        raise ValueError("lambdas must be >= 0")
    if lams.size == 0:
        raise ValueError("lambdas is empty; pass at least one multiplier (or lambdas=None for the default grid)")
    tch = core.Teacher(T, w)
    loss0 = loss_at_zero(tch)
    full = bool(np.all(T > 0))
    exact_e = core.exact_code_energy(T, witness, w) if full else None
    losses, energies, kkts = [], [], []
    a = None
    w_energy = _energy_weights(w)
    for lam in lams:
        _, L_j, E_j, a, mu = _dual_at(tch, witness, lam, a, w_energy)  # core.alignment_loss, core.code_energy
        losses.append(L_j)
        energies.append(E_j)
        # KKT in code space, from the reported lambda and the codes alone (not the solver's c):
        # grad of (1/2)||mu||^2 + lambda KL(T_i||S(mu)) = mu + lambda beta A (S - T_i) = 0
        kkt = mu + lam * core.alignment_gradient(T, mu, witness)
        kkts.append(float(np.abs(kkt).max() / (1.0 + np.abs(mu).max())))
    L, E = np.array(losses), np.array(energies)
    return Frontier(lam=lams, loss=L, energy=E, dual=E + lams * L, kkt_residual=np.array(kkts),
                    loss_at_zero=loss0, exact_energy=exact_e)


def frontier_dual(teacher, witness: core.Witness, lam: float, weights=None, start=None) -> tuple[float, float, float, np.ndarray]:
    """(D(lambda), L, E, logits) at one multiplier: D = E + lambda L = min over codes of the Lagrangian."""
    core.check_witness(witness)
    lam = _nonneg(lam, "lam")
    T, w = check_teacher(teacher, weights)
    core.check_K_match(T, witness)
    # a Teacher is used as it is; an array is made into one here, as alignment_loss would
    tch = teacher if isinstance(teacher, core.Teacher) else core.Teacher(T, w)
    return _dual_at(tch, witness, lam, _check_start(start, T), _energy_weights(w))[:4]


def _energy_weights(w: np.ndarray) -> np.ndarray:
    """The weights core.code_energy(mu, w) applies: w normalised once more (moves the last ulp)."""
    return check_weights(w, w.shape[0])


def _dual_at(tch: core.Teacher, witness: core.Witness, lam: float, a0: np.ndarray | None,
             w_energy: np.ndarray) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """:func:`frontier_dual` on a validated Teacher, witness, multiplier and start, ``w_energy`` from
    :func:`_energy_weights`. L and E come from one pass of the certificate's kernel over the optimal
    codes, the floats of core.alignment_loss and core.code_energy (the kernel's ||mu_i||^2 are
    code_energy's): min_energy_point's ~30 solves per call validate nothing twice. Returns
    (D, L, E, logits, codes)."""
    a = _warm_newton(tch.T, _lam_to_c(lam, witness), a0)
    mu = a @ witness.A.T / (witness.scale * witness.kappa)
    loss_rows, code_sq = core.row_losses_and_code_sq(tch, mu, witness)    # the kernel under both
    L = core.wsum(tch.w, loss_rows)                                    # core.alignment_loss
    E = core.energy_of_sq_norms(mu, w_energy, code_sq)                 # core.code_energy
    return E + lam * L, L, E, a, mu


def min_energy(teacher, witness: core.Witness, loss: float, weights=None) -> float:
    """E_min(L) (T11); see :func:`min_energy_point`, which also returns the multiplier."""
    return min_energy_point(teacher, witness, loss, weights)[0]


def min_energy_point(teacher, witness: core.Witness, loss: float, weights=None) -> tuple[float, float]:
    """E_min(L), the least mean energy (1/2) E||mu||^2 of any code with L_TS <= ``loss`` (T11).

    Returned as the dual value D(lambda*) - lambda* L at the lambda* where the frontier's loss
    equals L (brentq on log lambda, warm-started Newton solves). By weak duality this is a lower
    bound on E_min(L) for ANY lambda* in exact arithmetic, so an inexact root never makes it too
    large; at the root it equals E_min(L). 0 when L >= L_0 (the code mu = 0 is feasible).
    Returns (E_min, lambda*).

    Rounding: D(lambda) = E + lambda L_c carries lambda times the absolute rounding error of the
    computed loss (~1e-16 per term), which at lambda ~ 1e12 / (beta^2 kappa) is not small (a
    uniform one-row teacher at beta = 0.05 gave 2.2e-9 where E_min is 0; a teacher within 1e-8 of
    uniform at beta = 0.09 gave 0.018 at L = 0 where the T5 energy is 2.8e-15). The result is
    therefore clipped to at most the T5 exact-code energy, E_min(0) >= E_min(L) for every
    L >= 0 (the exact codes have loss 0), and, where L is below the loss that the largest
    multiplier reaches, to at least that point's energy (E_min is nonincreasing in L).

    Where L lies below the computed loss's rounding (:func:`loss_rounding`, ~1e-13 for K = 2), the
    sign of L(lambda) - L is rounding over a wide range of lambda and a root search can stop anywhere
    in it; there, and where brentq loses its bracket, the concave dual D(lambda) - lambda L is
    maximised directly (a grid of log lambda, then a bounded scalar search): its maximum is E_min(L)
    whatever the loss's sign, up to lambda* times the loss's rounding.

    Root tolerance: D(lambda) - lambda L is concave in lambda with its maximum at the root, so a
    relative error delta in lambda* costs only O(delta^2) in the bound; xtol 1e-8 on log lambda
    leaves ~1e-16 relative.
    """
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    core.check_K_match(T, witness)
    try:
        L = _nonneg(loss, "loss", allow_inf=True)
    except ValueError:
        if -1e-9 < real_float(loss, "loss") < 0:   # what a computed L_TS (a KL) rounds to at exact codes
            raise ValueError(f"loss must be a number >= 0, got {loss!r}: a computed L_TS just below 0 is "
                             "rounding (the KL is >= 0); pass max(0.0, loss)") from None
        raise
    tch = core.Teacher(T, w)
    loss0 = loss_at_zero(tch)
    if L >= loss0:
        return 0.0, 0.0
    b2k = _beta2_kappa(witness)
    _check_b2k_range(b2k, witness, 1e12)
    # E_min(L) <= E_min(0) = the T5 energy (the exact codes, loss 0); inf without full support
    e_cap = core.exact_code_energy(T, witness, w) if T.min() > 0 else np.inf
    cache: dict[str, np.ndarray | None] = {"a": None}
    w_energy = _energy_weights(tch.w)

    def solve(log_c):
        lam = np.exp(log_c) / b2k
        D, Lc, Ec, a, _ = _dual_at(tch, witness, lam, cache["a"], w_energy)
        cache["a"] = a
        return D, Lc, Ec, lam

    def clipped(bound: float, floor: float, lam: float) -> tuple[float, float]:
        return float(min(e_cap, max(floor, bound))), float(lam)

    lo, hi = np.log(1e-8), np.log(1e12)
    D_hi, L_hi, E_hi, lam_hi = solve(hi)
    if L_hi >= L:            # L below what c = 1e12 reaches: the bound at the largest multiplier,
        # which is at least E_hi = E_min(L_hi) (nonincreasing) up to the Newton solve's accuracy
        return clipped(D_hi - lam_hi * L, max(0.0, E_hi), lam_hi)
    D_lo, L_lo, _, lam_lo = solve(lo)
    if L_lo <= L:
        return clipped(D_lo - lam_lo * L, 0.0, lam_lo)

    def maximise_dual() -> tuple[float, float]:
        # D(lambda) - lambda L is concave in lambda with maximum E_min(L) (strong duality) and a lower
        # bound at every lambda (weak duality). A grid of log lambda a factor 10 apart, then a bounded
        # scalar search between the best point's neighbours; the ends' bounds are candidates too.
        from scipy.optimize import minimize_scalar

        def dual(x: float) -> float:
            D_x, _, _, lam_x = solve(x)
            return float(D_x - lam_x * L)

        grid = np.linspace(lo, hi, 21)
        values = [dual(x) for x in grid]
        j = int(np.argmax(values))
        res = minimize_scalar(lambda x: -dual(x), bounds=(grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]),
                              method="bounded", options={"xatol": 1e-8})
        candidates = [(D_hi - lam_hi * L, lam_hi), (D_lo - lam_lo * L, lam_lo), (values[j], np.exp(grid[j]) / b2k),
                      (-float(res.fun), np.exp(res.x) / b2k)]
        bound, lam_best = max(candidates)
        return clipped(bound, 0.0, lam_best)

    # L within the computed loss's rounding (loss_rounding): there the computed L(lambda) is rounding
    # noise over a wide range of lambda, and brentq stops at any of its sign changes. Thorough profile,
    # 2026-12-07: K = 2, t = 0.6004, beta = 0.5, L = 2.1e-16 gave its "root" at lambda = 2.6e10 where
    # lambda* = 4.1e7, and a bound 6.6e-5 relative low (sound, but 20 times the property's tolerance;
    # proofs/test_mutants.py). The dual's maximum does not depend on the loss's sign: 1.2e-7 relative
    # on that draw, within the tolerance lambda* x the loss's rounding.
    if L < loss_rounding(tch.K, loss0):
        return maximise_dual()
    try:
        root = brentq(lambda x: solve(x)[1] - L, lo, hi, xtol=1e-8, rtol=1e-10)
    except ValueError:
        # brentq solves the ends again, warm-started from elsewhere: where L is within rounding of
        # an end's loss (L = 0 against L(1e12 / beta^2 kappa) ~ 1e-17, say) the re-solved loss can
        # land on the other side of L, and the bracket is lost. Weak duality still holds at any
        # lambda, but the ends' bounds alone are not enough: at lambda ~ 1e12 / (beta^2 kappa) the bound carries
        # lambda times the loss's rounding (thorough profile: t = 0.603, beta = 0.5, L = 2.2e-16
        # gave 2.2e-4 too low from the upper end, lambda* being 4e7). So maximise the dual itself.
        return maximise_dual()
    D, _, _, lam = solve(root)
    return clipped(D - lam * L, 0.0, lam)
