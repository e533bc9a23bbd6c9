"""The theorem ledger: T1..T12 of ``docs/theory.md`` as executable checks, and ``LEDGER``
(with T2H from :mod:`.heldout` and T13 from :mod:`.information`).

Each :class:`Theorem` has an id, a one-line statement, the conditions it needs and a
``check(...)`` that evaluates every relation the theorem states on the given instance and
returns a :class:`CheckResult`: both sides, the residual, the tolerance used and whether it
holds. ``proofs/`` (Hypothesis, sympy) and ``empirical/`` (trained models) call these same
checks: statement -> proof test -> experiment assertion.

Residuals and tolerances: :mod:`witness_theory.ledger` (relative 1e-9 by default, and why).
"""
from __future__ import annotations

import numpy as np

from . import collapse_metrics as _cm
from . import core
from . import frontier as _frontier
from . import heldout as _heldout  # T2H: heldout (and information) build on .ledger, never on this module
from . import information as _information  # T13
from . import linear_vae as _lvae
from .ledger import (  # noqa: F401  (re-exported: the ledger's machinery, imported from here by callers)
    DEFAULT_RTOL,
    CheckResult,
    Relation,
    Theorem,
    TheoremViolation,
    assert_holds,
    relation,
)
from .validation import as_float_array, check_codes, check_distributions, check_teacher, raise_too_large

__all__ = ["LEDGER", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "T2H", "T13",
           "CheckResult", "Relation", "Theorem", "TheoremViolation", "assert_holds", "check_all"]


def _maxabs(a) -> float:
    return float(np.max(np.abs(a))) if np.size(a) else 0.0


# ---------------------------------------------------------------------------------------
# T1 constant baseline
# ---------------------------------------------------------------------------------------

def _check_t1(teacher, q=None, weights=None, rtol=DEFAULT_RTOL):
    T, w = check_teacher(teacher, weights)
    K = T.shape[1]
    q = np.full(K, 1.0 / K) if q is None else check_distributions(q, "q")[0]
    if q.shape[0] != K:
        raise ValueError(f"q has {q.shape[0]} entries but the teacher has K = {K}")
    tbar = core.marginal(T, w)
    # supp(Tbar) from the rows themselves: w_i T_ik can underflow to 0 although Tbar_k > 0
    support = (T[w > 0] > 0).any(axis=0)
    if ((q <= 0) & support).any():
        raise ValueError("q must be > 0 wherever the teacher marginal is > 0 (T1 condition)")
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    info = core.teacher_information(T, w)
    lhs = core.wsum(w, core.kl_rows(T, log_q))
    kl_bar = float(core.kl_rows(tbar, log_q)[0])
    h_w = float(core.entropy(w)[0]) if w.shape[0] >= 2 else 0.0
    return (
        relation("sum_i w_i KL(T_i||q) == I_T + KL(Tbar||q)", lhs, "==", info + kl_bar, rtol),
        relation("baseline at q >= I_T (Tbar is the best constant)", lhs, ">=", info, rtol),
        relation("I_T >= 0", info, ">=", 0.0, rtol),
        relation("I_T <= log K", info, "<=", np.log(K), rtol),
        relation("I_T <= H(w)", info, "<=", h_w, rtol),
    )


# ---------------------------------------------------------------------------------------
# T2 certificate soundness
# ---------------------------------------------------------------------------------------

def _check_t2(teacher, codes, witness, weights=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    mu = check_codes(codes, witness.d, T.shape[0])
    info = core.teacher_information(T, w)
    loss = core.alignment_loss(T, mu, witness, w)
    mbar = core.weighted_mean(w, mu)
    const_loss = core.alignment_loss(T, np.repeat(mbar[None], T.shape[0], 0), witness, w)
    parts = [
        relation("G_T <= I_T", info - loss, "<=", info, rtol),
        relation("constant code at the mean code: L_TS >= I_T", const_loss, ">=", info, rtol),
    ]
    if np.all(mu == mu[0]):
        parts.append(relation("codes are constant: L_TS >= I_T (G_T <= 0)", loss, ">=", info, rtol))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T3 simplex geometry
# ---------------------------------------------------------------------------------------

def _default_probe_codes(witness, n=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, witness.d))


def _check_t3(witness, codes=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    K, V, A, P, kap, beta = witness.K, witness.V, witness.A, witness.P, witness.kappa, witness.scale
    mu = _default_probe_codes(witness) if codes is None else check_codes(codes, witness.d)
    C = np.eye(K) - np.ones((K, K)) / K
    logits = witness.logits(mu)
    mag = 1.0 + kap
    return (
        relation("max |V^T V - kappa (I - 11^T/K)|", _maxabs(V.T @ V - kap * C), "==", 0.0, rtol, mag),
        relation("max |V V^T - kappa I|", _maxabs(V @ V.T - kap * np.eye(K - 1)), "==", 0.0, rtol, mag),
        relation("max | ||v_k|| - 1 |", _maxabs(np.linalg.norm(V, axis=0) - 1), "==", 0.0, rtol, mag),
        relation("max |sum_k v_k|", _maxabs(V.sum(axis=1)), "==", 0.0, rtol, mag),
        relation("max |A^T A - kappa (I - 11^T/K)|", _maxabs(A.T @ A - kap * C), "==", 0.0, rtol, mag),
        relation("max |A A^T - kappa P P^T|", _maxabs(A @ A.T - kap * P @ P.T), "==", 0.0, rtol, mag),
        relation("max |1^T A^T mu| (centred logits)", _maxabs(logits.sum(axis=1)), "==", 0.0, rtol,
                 _maxabs(logits) * K),
        relation("max |clr(S(mu)) - beta A^T mu|",
                 _maxabs(core.clr_from_log(witness.log_probs(mu)) - beta * mu @ A), "==", 0.0, rtol,
                 _maxabs(logits) * K),
    )


# ---------------------------------------------------------------------------------------
# T4 closed-form inverse
# ---------------------------------------------------------------------------------------

def _check_t4(p, witness, codes=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    Pm = check_distributions(p, "p", full_support=True)
    mu_star = core.exact_code(Pm, witness)                        # (N, d)
    log_p = np.log(Pm)
    mag = _maxabs(core.clr_from_log(log_p)) * witness.K
    proj = witness.P @ (witness.P.T @ mu_star.T)                  # (d, N)
    rng = np.random.default_rng(1)
    ortho = rng.normal(size=mu_star.shape)
    ortho = ortho - (witness.P @ (witness.P.T @ ortho.T)).T       # orthogonal to the frame
    ortho *= 1.0 + np.abs(mu_star).max()
    # "only if": any code mu has P^T mu = P^T mu*(S(mu)).
    mu = _default_probe_codes(witness) if codes is None else check_codes(codes, witness.d)
    back = core.exact_code(witness.probs(mu), witness) if np.all(witness.probs(mu) > 0) else None
    parts = [
        relation("max |log S(mu*(p)) - log p|", _maxabs(witness.log_probs(mu_star) - log_p), "==", 0.0, rtol, mag),
        relation("max |mu*(p) - P P^T mu*(p)| (code lies in the witness subspace)",
                 _maxabs(mu_star - proj.T), "==", 0.0, rtol, _maxabs(mu_star)),
        relation("max |log S(mu* + orthogonal) - log p| (orthogonal directions invisible)",
                 _maxabs(witness.log_probs(mu_star + ortho) - log_p), "==", 0.0, rtol,
                 mag + witness.scale * _maxabs(ortho) * witness.K),
    ]
    if back is not None:
        parts.append(relation("max |P^T mu - P^T mu*(S(mu))| (uniqueness in the subspace)",
                              _maxabs((mu - back) @ witness.P), "==", 0.0, rtol,
                              _maxabs(mu) * witness.K))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T5 energy of the exact code
# ---------------------------------------------------------------------------------------

def _check_t5(teacher, witness, weights=None, codes=None, log_var=None, rtol=DEFAULT_RTOL):
    T, w = check_teacher(teacher, weights, full_support=True)
    core.check_witness(witness)
    K, beta = witness.K, witness.scale
    mu_star = core.exact_embedding(T, witness)
    # T5 per row, multiplied through by beta^2 so that neither side divides by beta^2 (which
    # underflows to 0 for a valid scale ~1e-200) nor squares codes of size 1/beta (which overflow):
    # (beta^2/2)||mu*(T_i)||^2 == ((K-1)/(2K))||clr(T_i)||^2
    row_energy = 0.5 * ((beta * mu_star) ** 2).sum(axis=1)
    row_formula = (K - 1) / (2 * K) * (core.clr_from_log(np.log(T)) ** 2).sum(axis=1)
    exact_e = core.exact_code_energy(T, witness, w)
    parts = [
        relation("max_i |(beta^2/2)||mu*(T_i)||^2 - ((K-1)/(2K))||clr(T_i)||^2|",
                 _maxabs(row_energy - row_formula), "==", 0.0, rtol, _maxabs(row_formula)),
    ]
    if np.isfinite(exact_e) and np.isfinite(core.row_sq_norms(mu_star)).all():
        parts.append(relation("(1/2) sum w ||mu*(T_i)||^2 == ((K-1)/(2K beta^2)) E_T",
                              core.code_energy(mu_star, w), "==", exact_e, rtol))
    else:   # a tiny witness_scale: the energies exceed float64 (inf == inf proves nothing); times beta^2
        parts.append(relation("(beta^2/2) sum w ||mu*(T_i)||^2 == ((K-1)/(2K)) E_T",
                              core.code_energy(beta * mu_star, w), "==",
                              (K - 1) / (2 * K) * core.logodds_energy(T, w), rtol))
    if codes is not None:
        mu = check_codes(codes, witness.d, T.shape[0])
        s = witness.probs(mu)
        e = core.code_energy(mu, w)
        e_sub = core.subspace_energy(mu, witness, w)
        parts.append(relation("(1/2)E||mu||^2 >= (1/2)E||P^T mu||^2", e, ">=", e_sub, rtol))
        if np.all(s > 0):
            parts.append(relation("(1/2)E||P^T mu||^2 == exact-code energy of the witness's own output",
                                  e_sub, "==", core.code_energy(core.exact_code(s, witness), w), rtol))
        loss = core.alignment_loss(T, mu, witness, w)
        if loss <= rtol:
            parts.append(relation("zero alignment error: (1/2)E||mu||^2 >= exact-code energy", e, ">=", exact_e, rtol))
        if log_var is not None:
            kl = core.wsum(w, core.gaussian_kl(mu, _codes_log_var(log_var, mu)))
            parts.append(relation("mean KL(q(z|x)||N(0,I)) >= (1/2)E||mu||^2", kl, ">=", e, rtol))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T6 escape direction
# ---------------------------------------------------------------------------------------

def _check_t6(teacher, witness, center=None, weights=None, step=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float64(witness.scale) ** 4):   # T6's step bound uses beta^4 (Python's ** would raise OverflowError)
            raise ValueError(f"witness_scale {witness.scale:.3g} is too large for T6: its step bound uses beta^4, which "
                             "overflows float64; use a smaller witness scale")
    T, w = check_teacher(teacher, weights)
    at_best = center is None
    c = core.best_constant_code(T, witness, w) if at_best else check_codes(center, witness.d, 1, "center")[0]
    N = T.shape[0]
    C = np.repeat(c[None], N, 0)
    q = witness.probs(c)[0]
    b2k = witness.scale ** 2 * witness.kappa
    R = core.teacher_residual(T, q, w)
    grads = core.alignment_gradient(T, C, witness)               # (N, d)
    field_ = core.escape_field(T, c, witness)                    # (N, d)
    deriv = core.wsum(w, (grads * field_).sum(axis=1))
    eps = core.check_step(step, witness)   # a finite real number > 0 (text, bools, NaN, <= 0 refused)
    L0 = core.alignment_loss(T, C, witness, w)
    L1 = core.alignment_loss(T, C + eps * field_, witness, w)
    bound = core.escape_step_bound(T, c, witness, eps, w)
    mag = b2k * (1 + R) + _maxabs(grads) ** 2 * witness.d
    parts = [
        relation("directional derivative of L_TS along d == -beta^2 kappa R", deriv, "==", -b2k * R, rtol, mag),
        relation("L_TS(c + eps d) <= L_TS(c) - eps b2k R + eps^2 b2k^2 R / 4", L1, "<=", bound, rtol, abs(L0)),
    ]
    # Strictly negative unless every T_i = q. Each entry of T_i - q carries ~eps absolute
    # rounding, so an R below K (16 eps)^2 is rounding, not a nonconstant teacher (the
    # thorough profile found R = 3e-35 for N = 1, T_1 = Tbar, with a computed derivative of 0).
    if R > witness.K * (16 * np.finfo(float).eps) ** 2:
        parts.append(relation("directional derivative < 0 (teacher not constant at q)", deriv, "<", 0.0))
    if at_best:
        info = core.teacher_information(T, w)
        tbar = core.marginal(T, w)
        force = core.escape_force(T, C, witness, w)
        R_bar = core.teacher_residual(T, tbar, w)
        parts += [
            relation("max |sum_i w_i grad_i| at the best constant", _maxabs(core.weighted_mean(w, grads)), "==", 0.0, rtol,
                     _maxabs(grads) * N),
            relation("escape force == beta^2 kappa sum w ||T_i - Tbar||^2", force, "==", b2k * R_bar, rtol),
        ]
        if step is None:
            parts.append(relation("after the step 2/(beta^2 kappa): G_T >= R", info - L1, ">=", R, rtol, abs(L0)))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T7 margin-energy path
# ---------------------------------------------------------------------------------------

def _check_t7(teacher, witness, weights=None, s=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights, full_support=True)
    s = np.linspace(0.0, 1.0, 11) if s is None else np.unique(np.concatenate([[0.0, 1.0], as_float_array(s, "s", 1)]))
    info = core.teacher_information(T, w)
    tbar = core.marginal(T, w)
    K = T.shape[1]
    parts = []
    for mode in ("scaled", "interpolate"):
        path = core.margin_energy_path(T, witness, w, s, mode=mode)
        G, E, L = path.margin, path.energy, path.alignment_loss
        mag = float(np.abs(L).max() + np.abs(E).max())
        dG = np.diff(G)
        parts.append(relation(f"{mode}: min increment of G(s) >= 0 (nondecreasing)", dG.min(), ">=", 0.0, rtol, mag))
        # concavity on any grid, without dividing by (possibly tiny) spacings: each interior
        # point lies on or above the chord of its neighbours, G(s1) >= l G(s0) + (1-l) G(s2)
        if len(s) > 2:
            lam = (s[2:] - s[1:-1]) / (s[2:] - s[:-2])
            chord_gap = (lam * G[:-2] + (1 - lam) * G[2:] - G[1:-1]).max()
        else:
            chord_gap = 0.0
        parts.append(relation(f"{mode}: max chord excess <= 0 (G concave)", chord_gap, "<=", 0.0, rtol, mag))
        parts.append(relation(f"{mode}: G(1) == I_T", G[-1], "==", info, rtol, mag))
        parts.append(relation(f"{mode}: energy(s) == s^2 energy(1)", _maxabs(E - s ** 2 * E[-1]), "==", 0.0, rtol, mag))
        if mode == "scaled":
            kl_unif = float(core.kl_rows(tbar, np.full(K, -np.log(K)))[0])
            parts.append(relation("scaled: G(0) == -KL(Tbar||uniform)", G[0], "==", -kl_unif, rtol, mag))
            parts.append(relation("scaled: energy(1) == exact-code energy", E[-1], "==",
                                  core.exact_code_energy(T, witness, w), rtol))
        else:
            parts.append(relation("interpolate: G(0) == 0", G[0], "==", 0.0, rtol, mag))
            parts.append(relation("interpolate: min_s G(s) - s I_T >= 0", (G - s * info).min(), ">=", 0.0, rtol, mag))
            si = s[len(s) // 2]
            mu_s = (1 - si) * core.best_constant_code(T, witness, w) + si * core.exact_embedding(T, witness)
            geo = core.log_softmax((1 - si) * np.log(tbar) + si * np.log(T))
            parts.append(relation(f"interpolate: max |log S(mu(s)) - log softmax((1-s) log Tbar + s log T)| at s={si:g}",
                                  _maxabs(witness.log_probs(mu_s) - geo), "==", 0.0, rtol,
                                  _maxabs(np.log(T)) * K))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T8 size bound
# ---------------------------------------------------------------------------------------

def _check_t8(teacher, codes, witness, weights=None, rtol=DEFAULT_RTOL):
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    mu = check_codes(codes, witness.d, T.shape[0])
    G = core.certificate_margin(T, mu, witness, w)
    b1, b2 = core.size_bound(mu, witness, w)
    z = witness.subspace_coordinates(mu)
    tr = core.wsum(w, ((z - core.weighted_mean(w, z)) ** 2).sum(axis=1))
    parts = [
        relation("G_T <= beta sqrt(2 kappa) E||P^T(mu - mbar)||", G, "<=", b1, rtol),
        relation("E||P^T(mu - mbar)|| bound <= sqrt(tr Cov) bound", b1, "<=", b2, rtol),
    ]
    if G > 0:
        parts.append(relation("tr Cov_w(P^T mu) >= (G_T/beta)^2 / (2 kappa)", tr, ">=",
                              core.certified_spread(G, witness), rtol))
        parts.append(relation("max per-coordinate variance >= certified spread / (K-1)",
                              float(core.weighted_mean(w, (z - core.weighted_mean(w, z)) ** 2).max()), ">=",
                              core.certified_spread(G, witness) / (witness.K - 1), rtol))
        if T.shape[0] >= 2:
            # active units: s_G <= tr Cov_w(P^T mu) <= sum_u Var(mu_u) < AU V_max + (d - AU) delta
            # (collapse_metrics.active_units_lower_bound); the unbiased variance of uniform
            # weights dominates the 1/N one, other weights use the weighted variance
            uniform = bool(np.all(w == w[0]))
            au, var = _cm.active_units(mu, weights=None if uniform else w)
            if not np.isfinite(var).all():   # else active_units_lower_bound names its unit_variances
                raise_too_large(mu, "codes", "the per-unit variance Var(mu_u)")
            parts.append(relation("active units (Var >= 0.01) >= ceil((s_G - d delta) / (V_max - delta))",
                                  au, ">=", _cm.active_units_lower_bound(G, witness, var), rtol))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T9 view gap
# ---------------------------------------------------------------------------------------

def _check_t9(teacher, groups, weights=None, witness=None, codes=None, rtol=DEFAULT_RTOL):
    T, w = check_teacher(teacher, weights)
    info = core.teacher_information(T, w)
    gamma = core.view_gap(T, groups, w)
    view_info = core.view_information(T, groups, w)
    parts = [
        relation("Gamma >= 0", gamma, ">=", 0.0, rtol),
        relation("I_T == Gamma + I(X';K)", info, "==", gamma + view_info, rtol),
        relation("largest certifiable margin I(X';K) <= I_T", view_info, "<=", info, rtol),
    ]
    if codes is not None:
        if witness is None:
            raise ValueError("pass the witness together with codes")
        core.check_witness(witness)
        mu = check_codes(codes, witness.d, T.shape[0])
        _, inv = core.group_indices(groups, T.shape[0])   # any hashable labels (None, mixed types)
        # an encoder that sees only the view is constant within each view class
        mass = np.bincount(inv, weights=w)
        weighted = np.where(mass[inv] > 0, w, 1.0)   # a class of weight 0: plain mean (it contributes 0)
        means = np.zeros((inv.max() + 1, mu.shape[1]))
        np.add.at(means, inv, weighted[:, None] * mu)
        means /= np.bincount(inv, weights=weighted)[:, None]
        loss = core.alignment_loss(T, means[inv], witness, w)
        parts.append(relation("view-only codes: L_TS >= Gamma", loss, ">=", gamma, rtol))
    return tuple(parts)


# ---------------------------------------------------------------------------------------
# T10 Gaussian KL
# ---------------------------------------------------------------------------------------

def _codes_log_var(log_var, mu: np.ndarray) -> np.ndarray:
    """``log_var`` checked against ``codes`` (the argument of T5, T11 and check_all; gaussian_kl
    would name its own ``mu``)."""
    lv = np.atleast_2d(as_float_array(log_var, "log_var", (1, 2)))
    if lv.shape != mu.shape:
        raise ValueError(f"log_var has shape {lv.shape} but codes has shape {mu.shape}; pass one log-variance per code entry")
    return lv


def _check_t10(mu, log_var, rtol=DEFAULT_RTOL):
    m = as_float_array(mu, "mu", (1, 2))
    lv = as_float_array(log_var, "log_var", (1, 2))
    m, lv = np.atleast_2d(m), np.atleast_2d(lv)
    if m.shape != lv.shape:
        raise ValueError(f"log_var has shape {lv.shape} but mu has shape {m.shape}")
    with np.errstate(over="ignore"):
        kl = core.gaussian_kl(m, lv)
        energy = 0.5 * (m ** 2).sum(axis=1)
    # Rows whose energy overflows float64 (|mu| ~ 1e155 and beyond) cannot be compared by
    # subtraction (inf - inf): there KL >= energy = inf says KL must be inf too.
    big = np.isinf(energy)
    unit = np.all(lv == 0, axis=1)
    parts = []
    if (~big).any():
        gap = kl[~big] - energy[~big]
        parts.append(relation("min_i KL_i - (1/2)||mu_i||^2 >= 0", gap.min(), ">=", 0.0, rtol,
                              float(np.abs(kl[~big]).max())))
        unit_f = unit[~big]
        if unit_f.any():
            parts.append(relation("sigma = 1: max |KL - (1/2)||mu||^2|", _maxabs(gap[unit_f]), "==", 0.0, rtol,
                                  float(np.abs(kl[~big][unit_f]).max())))
    if big.any():
        parts.append(relation("rows with (1/2)||mu_i||^2 = inf (float64 overflow): min KL_i >= inf",
                              kl[big].min(), ">=", np.inf))
    # Strictness for sigma != 1, on the sigma part alone, (1/2) sum_j (sigma_j^2 - 1 - log sigma_j^2):
    # subtracting the energy from the KL would round a gap of 1e-17 away. Rows whose log
    # variances are all below 1e-150 in size have a gap (~lv^2/4) below float64's range and
    # are left out of the strict part (they are still in the >= part above).
    lv_small = np.abs(lv) < 1e-5
    series = lv ** 2 / 2 + lv ** 3 / 6 + lv ** 4 / 24            # expm1(x) - x near 0, no cancellation
    sigma_gap = 0.5 * np.where(lv_small, series, np.expm1(np.where(lv_small, 0.0, lv)) - lv).sum(axis=1)
    strict = ~unit & (np.abs(lv).max(axis=1) >= 1e-150)
    if strict.any():
        parts.append(relation("sigma != 1: min (1/2) sum (sigma^2 - 1 - log sigma^2) > 0",
                              sigma_gap[strict].min(), ">", 0.0))
    return tuple(parts)



# ---------------------------------------------------------------------------------------
# T11 optimal margin-energy frontier
# ---------------------------------------------------------------------------------------

def _duality_gap(lam, D, L, E, eps_L=0.0) -> float:
    """min over (j, k) of (E_k + lambda_j L_k - D_j + lambda_j eps_L) / (1 + |E_k| + lambda_j |L_k| + |D_j|):
    weak duality says every entry is >= 0 (D_j = min over codes of E + lambda_j L). ``eps_L`` is
    the absolute rounding of a computed L_TS, which lambda_j multiplies."""
    lam, D = np.asarray(lam)[:, None], np.asarray(D)[:, None]
    L, E = np.asarray(L)[None, :], np.asarray(E)[None, :]
    return float(((E + lam * L - D + lam * eps_L) / (1 + np.abs(E) + lam * np.abs(L) + np.abs(D))).min())


def _codes_loss_rounding(K: int, loss_at_zero: float, codes: np.ndarray, witness) -> float:
    """``frontier.loss_rounding`` of the L_TS of given codes: their logits' spread is <= 2 beta max_i
    ||mu_i|| (the simplex vertices are unit vectors)."""
    with np.errstate(over="ignore"):
        spread = 2.0 * witness.scale * float(np.sqrt(core.row_sq_norms(codes).max())) if len(codes) else 0.0
    return _frontier.loss_rounding(K, loss_at_zero, spread)


def _model_parts(T, mu, log_var, witness, w, rtol, loss_at_zero: float) -> list:
    """T11 on one set of codes: mean KL(q(z|x)||p(z)) >= (1/2)E||mu||^2 >= E_min(L_TS(mu)).

    E_min has slope -lambda* at L_TS, so the rounding eps of the computed L_TS
    (``_codes_loss_rounding``) moves E_min(L_TS) by lambda* eps: that is the relation's absolute
    tolerance. A computed L_TS that is negative by rounding (-3e-114 at exact codes) is E_min(0)."""
    L_m = max(0.0, core.alignment_loss(T, mu, witness, w))
    E_m = core.code_energy(mu, w)
    e_min, lam = _frontier.min_energy_point(T, witness, L_m, w)
    atol = lam * _codes_loss_rounding(T.shape[1], loss_at_zero, mu, witness)
    parts = [relation(f"codes: (1/2)E||mu||^2 >= E_min(L_TS = {L_m:.6g}) (lambda* = {lam:.3g}, "
                      f"excess {E_m - e_min:.6g}, tolerance includes lambda* x rounding of L_TS)",
                      E_m, ">=", e_min, rtol, atol=atol if np.isfinite(atol) else 0.0)]
    if log_var is not None:
        kl = core.wsum(w, core.gaussian_kl(mu, _codes_log_var(log_var, mu)))
        parts.append(relation("codes: mean KL(q(z|x)||N(0,I)) >= (1/2)E||mu||^2", kl, ">=", E_m, rtol))
    return parts


def _check_t11(teacher, witness, weights=None, codes=None, log_var=None, lambdas=None, rtol=DEFAULT_RTOL,
               teacher_parts=None):
    """The frontier on a grid of multipliers, the T7 paths against it and, with ``codes``
    (and ``log_var``), a model: mean KL >= (1/2)E||mu||^2 >= E_min(L_TS(mu)).

    Tolerances: the stationarity residual max |mu + lambda beta A (S - T)| / (1 + max |mu|) is
    held to rtol (Newton stops at a few ulps; the gradient carries ~lambda beta ulps; a
    multiplier off by 1% leaves ~1e-2 |mu|). Weak-duality relations E + lambda L >= D(lambda) are sums of
    nonnegative terms of size |E| + lambda |L|, held to rtol relative to that.
    """
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    # ``teacher_parts``: t11_teacher_parts(teacher, witness, weights, lambdas, rtol) computed earlier
    parts, loss_at_zero = _t11_teacher_parts(T, witness, w, lambdas, rtol) if teacher_parts is None else teacher_parts
    if codes is not None:
        mu = check_codes(codes, witness.d, T.shape[0])
        parts = parts + tuple(_model_parts(T, mu, log_var, witness, w, rtol, loss_at_zero))
    return parts


def t11_teacher_parts(teacher, witness, weights=None, lambdas=None, rtol=DEFAULT_RTOL):
    """The teacher-only half of T11 (the frontier grid, its duality and the T7 paths): it does not
    depend on the model, so a caller that checks many models against one teacher (the experiments'
    final evaluations) computes it once and passes it as ``T11.check(..., teacher_parts=...)``.
    Returns (relations, loss at lambda = 0)."""
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    return _t11_teacher_parts(T, witness, w, lambdas, rtol)


def _t11_teacher_parts(T, witness, w, lambdas, rtol):
    F = _frontier.margin_energy_frontier(T, witness, w, lambdas)
    lam, L, E, D = F.lam, F.loss, F.energy, F.dual
    parts = [relation("stationarity: max |mu_i - lambda beta A (T_i - S(mu_i))| / (1 + max|mu|) over the grid", float(F.kkt_residual.max()),
                      "==", 0.0, rtol)]
    if len(lam) > 1:
        parts.append(relation("L(lambda) nonincreasing: max increment <= 0", float(np.diff(L).max()), "<=", 0.0,
                              rtol, float(np.abs(L).max())))
        parts.append(relation("E(lambda) nondecreasing: min increment >= 0", float(np.diff(E).min()), ">=", 0.0,
                              rtol, float(np.abs(E).max())))
    # supporting lines: E_k + lambda_j L_k >= D(lambda_j) for every pair (j, k) -- weak duality;
    # it makes E_min convex with slope -lambda_j at L_j. The end (L_0, 0) is a point too. Each
    # pair's gap is divided by the size of its terms, 1 + E_k + lambda_j L_k + D_j.
    Lk = np.concatenate([L, [F.loss_at_zero]])
    Ek = np.concatenate([E, [0.0]])
    eps_L = _frontier.loss_rounding(T.shape[1], F.loss_at_zero)
    parts.append(relation("supporting lines: min_jk (E_k + lambda_j L_k - D_j) / size >= 0 (convex, slope -lambda)",
                          _duality_gap(lam, D, Lk, Ek, eps_L), ">=", 0.0, rtol))
    parts.append(relation("lambda = 0 end: L_0 == I_T + KL(Tbar||uniform) >= every frontier loss",
                          float(L.max()), "<=", F.loss_at_zero, rtol))
    if F.exact_energy is not None:
        # the exact codes (L = 0, T5 energy) are feasible for every L: E_min <= T5 energy and
        # D(lambda) <= T5 energy + lambda * 0
        parts.append(relation("E_min(L) <= T5 exact-code energy", float(E.max()), "<=", F.exact_energy, rtol))
        parts.append(relation("D(lambda) - lambda eps_L <= T5 exact-code energy (weak duality at the exact codes)",
                              float((D - lam * eps_L).max()), "<=", F.exact_energy, rtol))
        for mode in ("scaled", "interpolate"):
            path = core.margin_energy_path(T, witness, w, mode=mode)
            codes_star = core.exact_embedding(T, witness)
            base = core.best_constant_code(T, witness, w) if mode == "interpolate" else np.zeros(witness.d)
            e_tot = np.array([core.code_energy((1 - s) * base + s * codes_star, w) for s in path.s])
            # every path point lies on or above the frontier: E(s) + lambda_j L(s) >= D_j for all j
            parts.append(relation(f"T7 {mode} path on or above the frontier: min (E(s) + lambda_j L(s) - D_j) / size >= 0",
                                  _duality_gap(lam, D, path.alignment_loss, e_tot, eps_L), ">=", 0.0, rtol))
    return tuple(parts), F.loss_at_zero


def check_model_on_frontier(teacher, codes, log_var, witness, weights=None, rtol=DEFAULT_RTOL) -> CheckResult:
    """T11 on one trained model, without the frontier grid: mean KL(q(z|x)||p(z)) >= (1/2)E||mu||^2
    >= E_min(L_TS(mu)), plus the model's energy above the frontier at its own L_TS
    (``excess`` = energy - E_min, in the relation's name) -- the relation to assert on every
    trained model. ``log_var`` may be None (then only the energy relation)."""
    core.check_witness(witness)
    T, w = check_teacher(teacher, weights)
    mu = check_codes(codes, witness.d, T.shape[0])
    loss0 = _frontier.loss_at_zero(core.Teacher(T, w))
    return CheckResult("T11", tuple(_model_parts(T, mu, log_var, witness, w, rtol, loss0)))


# ---------------------------------------------------------------------------------------
# T12 linear-VAE collapse threshold
# ---------------------------------------------------------------------------------------

def _probe_linear_vae_params(D, d, seed=0):
    rng = np.random.default_rng(seed)
    return dict(W=rng.normal(size=(D, d)), b=rng.normal(size=D), V=rng.normal(size=(d, D)) * 0.5,
                e=rng.normal(size=d), log_s2=rng.normal(size=d) * 0.5)


def _check_t12(data_cov, sigma2, kl_weight, d, data_mean=None, params=None, rtol=DEFAULT_RTOL):
    """Closed-form optimum of the linear VAE against its exact ELBO. ``params`` (a dict with W, b,
    V, e, log_s2, e.g. a trained linear VAE) adds ELBO(params) <= the closed-form optimum."""
    C = as_float_array(data_cov, "data_cov", 2)
    D = C.shape[0]
    m = np.zeros(D) if data_mean is None else as_float_array(data_mean, "data_mean", 1)
    opt = _lvae.linear_vae_optimum(C, sigma2, kl_weight, d, m)
    elbo = lambda p, s2=sigma2, kw=kl_weight: _lvae.linear_vae_elbo(p["W"], p["b"], p["V"], p["e"], p["log_s2"],  # noqa: E731
                                                                    m, C, s2, kw)
    at_opt = elbo(dict(W=opt.W, b=opt.b, V=opt.V, e=opt.e, log_s2=opt.log_s2))
    mag = abs(opt.elbo) + float(np.abs(opt.eigenvalues).sum()) / (kl_weight * sigma2)
    parts = [relation("ELBO at W = U(Lambda - b sigma^2)_+^(1/2) == closed-form optimum", at_opt, "==", opt.elbo, rtol, mag)]
    probe = _probe_linear_vae_params(D, d)
    const = 0.5 * kl_weight * D * np.log(2 * np.pi * kl_weight * sigma2) - 0.5 * D * np.log(2 * np.pi * sigma2)
    lhs = elbo(probe)
    parts.append(relation("ELBO_b(theta; sigma^2) == b ELBO_1(theta; b sigma^2) + const (probe theta)",
                          lhs, "==", kl_weight * elbo(probe, kl_weight * sigma2, 1.0) + const, rtol, abs(lhs) + mag))
    parts.append(relation("probe ELBO <= optimum", lhs, "<=", opt.elbo, rtol, abs(lhs) + mag))
    collapsed = dict(W=np.zeros((D, d)), b=m, V=np.zeros((d, D)), e=np.zeros(d), log_s2=np.zeros(d))
    e0 = elbo(collapsed)
    rel = "==" if not opt.active.any() else "<="
    parts.append(relation(f"collapsed (W = 0, q = prior) ELBO {rel} optimum", e0, rel, opt.elbo, rtol, abs(e0) + mag))
    # at the optimum: Var_x of an active mean = 1 - b sigma^2 / lambda_j, its variance b sigma^2 / lambda_j
    lam_d = opt.eigenvalues[:d]
    var_mean = np.einsum("jk,kl,jl->j", opt.V, C, opt.V)
    want_var = np.where(opt.active, 1 - kl_weight * sigma2 / np.where(opt.active, lam_d, 1.0), 0.0)
    want_s2 = np.where(opt.active, kl_weight * sigma2 / np.where(opt.active, lam_d, 1.0), 1.0)
    parts.append(relation("max |Var_x(mu_j) - (1 - b sigma^2/lambda_j)_+|", _maxabs(var_mean - want_var), "==", 0.0, rtol, 1.0))
    parts.append(relation("max |s_j^2 - min(1, b sigma^2/lambda_j)|", _maxabs(np.exp(opt.log_s2) - want_s2), "==", 0.0, rtol, 1.0))
    if params is not None:
        missing = {"W", "b", "V", "e", "log_s2"} - set(params) if isinstance(params, dict) else None
        if missing is None or missing:
            raise ValueError(f"params must be a dict with keys W, b, V, e, log_s2 (a linear VAE's parameters), "
                             f"got {type(params).__name__}" + (f" without {sorted(missing)}" if missing else ""))
        e_p = elbo(params)
        parts.append(relation("given parameters: ELBO <= closed-form optimum", e_p, "<=", opt.elbo, rtol, abs(e_p) + mag))
    return tuple(parts)

T1 = Theorem("T1", "Constant baseline equals teacher information",
             "sum_i w_i KL(T_i||q) = I_T + KL(Tbar||q); the best constant is Tbar, with loss I_T; 0 <= I_T <= min(log K, H(w)).",
             ("q_k > 0 wherever Tbar_k > 0", "one-hot and zero teacher entries allowed"), _check_t1)
T2 = Theorem("T2", "Certificate soundness",
             "If the encoder mean is constant on the data, L_TS >= I_T; so G_T > 0 proves it is not; G_T <= I_T always.",
             ("any teacher rows", "any codes"), _check_t2)
T3 = Theorem("T3", "Simplex geometry",
             "V^T V = kappa(I - 11^T/K), V V^T = kappa I, A^T A = kappa(I - 11^T/K), A A^T = kappa P P^T; logits centred; clr(S(mu)) = beta A^T mu.",
             ("P has orthonormal columns", "d >= K-1"), _check_t3)
T4 = Theorem("T4", "Closed-form inverse",
             "S(mu*(p)) = p; S(mu) = p iff P^T mu = P^T mu*(p); mu*(p) is the minimum-norm code.",
             ("p has full support",), _check_t4)
T5 = Theorem("T5", "Energy of the exact code",
             "(1/2)||mu*(p)||^2 = ((K-1)/(2K beta^2))||clr(p)||^2; zero alignment error costs at least ((K-1)/(2K beta^2)) E_T nats of mean KL.",
             ("teacher has full support",), _check_t5)
T6 = Theorem("T6", "Escape direction",
             "On the collapsed manifold the teacher-residual field is a descent direction with derivative -beta^2 kappa R; one step 2/(beta^2 kappa) from the best constant gives G_T >= R.",
             ("codes constant (collapsed)", "best-constant parts need a full-support Tbar"), _check_t6)
T7 = Theorem("T7", "Margin-energy path",
             "Along scaled and interpolated exact codes, G(s) is concave and nondecreasing from G(0) to I_T while the energy grows as s^2; interpolated G(s) >= s I_T.",
             ("teacher has full support",), _check_t7)
T8 = Theorem("T8", "Quantitative non-collapse (size bound)",
             "G_T <= beta sqrt(2 kappa) E||P^T(mu - mbar)|| <= beta sqrt(2 kappa) sqrt(tr Cov_w(P^T mu)); "
             "a margin G_T > 0 certifies tr Cov_w(P^T mu) >= s_G = (G_T/beta)^2/(2 kappa) and at least "
             "ceil((s_G - d delta)/(V_max - delta)) active units (Var >= delta = 0.01).",
             ("any codes",), _check_t8)
T9 = Theorem("T9", "View gap",
             "An encoder that sees only the view x' = g(x) has L_TS >= Gamma = sum_i w_i KL(T_i||Tbar_g(i)); the largest certifiable margin is I_T - Gamma.",
             ("discrete view labels (continuous views: view_gap_estimate)",), _check_t9)
T10 = Theorem("T10", "Gaussian KL and energy",
              "KL(N(mu, diag sigma^2)||N(0, I)) >= (1/2)||mu||^2, equality iff sigma = 1.",
              ("any mu, any sigma > 0",), _check_t10)

T11 = Theorem("T11", "Optimal margin-energy frontier",
              "E_min(L) = min (1/2)E||mu||^2 s.t. L_TS <= L is convex and nonincreasing from E_min(L_0) = 0, "
              "L_0 = I_T + KL(Tbar||uniform), to E_min(0) = ((K-1)/(2K beta^2)) E_T; its optimal codes solve "
              "mu_i = lambda beta A (T_i - S(mu_i)) with slope dE_min/dL = -lambda; every code (the T7 paths, "
              "trained models) has mean KL >= (1/2)E||mu||^2 >= E_min(L_TS).",
              ("any teacher rows (the L -> 0 end and the T7 paths need full support)", "any codes and log variances"),
              _check_t11)

T12 = Theorem("T12", "Linear-VAE collapse threshold (Lucas et al. 2019, with a KL weight)",
              "For a linear Gaussian VAE (decoder N(Wz + b, sigma^2 I), fixed sigma^2, linear encoder mean, diagonal "
              "encoder variance) with KL weight b, ELBO_b = b ELBO_1(decoder variance b sigma^2) + const, so at the global "
              "optimum W = U_d (Lambda_d - b sigma^2)_+^(1/2) R and latent j (of the d largest eigenvalues of the data "
              "covariance) is active iff lambda_j > b sigma^2; max ELBO_1(s'^2) = -(D/2) log 2pi - (1/2)[sum_active "
              "(log lambda + 1) + sum_inactive (log s'^2 + lambda/s'^2)].",
              ("data enter through their mean and (1/N) covariance", "sigma^2 fixed, kl_weight > 0", "d <= D"),
              _check_t12)

LEDGER: tuple[Theorem, ...] = (T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12)


def get(theorem_id: str) -> Theorem:
    for t in LEDGER:
        if t.id == theorem_id.upper():
            return t
    raise ValueError(f"unknown theorem {theorem_id!r}; the ledger has {', '.join(t.id for t in LEDGER)}")


def check_all(teacher, witness, weights=None, codes=None, log_var=None, groups=None) -> list[CheckResult]:
    """Run every check that applies to a teacher (and optionally encoder means, their log
    variances and a discrete view). Without codes, T2 runs on the collapsed code mu*(Tbar)
    and T8 on the exact codes, as controls."""
    T, w = check_teacher(teacher, weights)
    core.check_witness(witness)
    full = bool(np.all(T > 0))
    tbar_full = bool(np.all(core.marginal(T, w) > 0))
    out = [T1.check(T, weights=w), T3.check(witness)]
    if codes is not None:
        out += [T2.check(T, codes, witness, w), T8.check(T, codes, witness, w)]
    elif tbar_full:
        c = core.best_constant_code(T, witness, w)
        out.append(T2.check(T, np.repeat(c[None], T.shape[0], 0), witness, w))
    if full:
        out += [T4.check(T, witness), T5.check(T, witness, w, codes=codes, log_var=log_var),
                T7.check(T, witness, w)]
        if codes is None:
            out.append(T8.check(T, core.exact_embedding(T, witness), witness, w))
    if tbar_full:
        out.append(T6.check(T, witness, weights=w))
    if groups is not None:
        out.append(T9.check(T, groups, w, witness=witness, codes=codes))
    if log_var is not None and codes is not None:
        out.append(T10.check(codes, log_var))
    return sorted(out, key=lambda r: int(r.theorem[1:]))


# ---------------------------------------------------------------------------------------
# Extensions of the ledger, defined in their own modules below this one
# ---------------------------------------------------------------------------------------

T2H: Theorem = _heldout.T2H      # the held-out certificate (T2 for a predictor fitted on a disjoint split)
T13: Theorem = _information.T13  # certified information (the held-out margin as a lower bound on I(Y; Z))

LEDGER = LEDGER + (T2H, T13)
