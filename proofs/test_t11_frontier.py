"""T11 the optimal margin-energy frontier E_min(L) = min (1/2)E||mu||^2 s.t. L_TS <= L.

Routes: the ledger ``T11.check`` (KKT in code space, monotone, supporting lines = convexity
with slope -lambda, the lambda = 0 and T5 ends, the T7 paths and arbitrary codes on or above
it); a generic constrained optimiser (scipy SLSQP over all N d code entries, finite-difference
free: gradients from torch) on small instances; the envelope slope dE/dL = -lambda by finite
differences; the limits lambda -> 0 and lambda -> inf against T1 (scipy rel_entr) and T5;
sympy for the stationarity condition. A frontier whose multiplier is off by 1% is caught.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import log_softmax, rel_entr, softmax

import witness_theory as wt
import witness_theory.frontier as fr
from witness_theory.theorems import T11, _codes_loss_rounding

from .strategies import (
    InstanceSpec,
    assert_close,
    assert_le,
    assert_ledger,
    build_instance,
    code_kinds,
    codes_for,
    count_example,
    instances,
    report,
    seeds,
)


@given(inst=instances(full_support=False, max_K=6, max_N=8), seed=seeds, kind=code_kinds)
@example(inst=build_instance(InstanceSpec(seed=1, N=12, K=8, extra_d=4, beta=20.0, floor=1e-12,
                                          row_kind="near_degenerate")), seed=0, kind="exact")
@example(inst=build_instance(InstanceSpec(seed=2, N=1, K=2, beta=0.05)), seed=1, kind="constant")
@example(inst=build_instance(InstanceSpec(seed=0, N=1, K=5, beta=0.05, temperature=100.0,
                                          logits=(0.00390625, 0.0, 0.0, 0.0, 0.0))), seed=0, kind="gaussian")
#   ci run: D(lambda) exceeded the T5 energy by 1.2e-9 at lambda = 3.2e6 -- the rounding of L_TS
#   times lambda, which the ledger's weak-duality tolerances did not include
def test_t11_ledger(inst, seed, kind):
    mu = codes_for(inst, seed, kind)
    log_var = np.random.default_rng(seed).normal(size=mu.shape)
    assert_ledger(T11.check(inst.T, inst.witness, inst.w, codes=mu, log_var=log_var))


def _scipy_min_energy(T, w, W, L_target):
    """min (1/2) sum w ||mu_i||^2 s.t. L_TS(mu) <= L over all N d code entries (SLSQP), with
    the loss and its gradient w_i beta A (S_i - T_i) written here with scipy's log_softmax."""
    N, d = T.shape[0], W.d
    neg_h = float(w @ rel_entr(T, 1.0).sum(axis=1))

    last: dict[bytes, tuple[float, np.ndarray]] = {}

    def loss(x):
        # SLSQP asks for the constraint and its Jacobian at the same point: computed once per point
        key = x.tobytes()
        if key not in last:
            log_s = log_softmax(W.scale * x.reshape(N, d) @ W.A, axis=1)
            val = neg_h - float(np.sum(w[:, None] * T * log_s))
            grad = (w[:, None] * W.scale * (np.exp(log_s) - T)) @ W.A.T
            last.clear()
            last[key] = (val, grad.ravel())
        return last[key]

    energy = lambda x: (0.5 * float(np.sum(w[:, None] * x.reshape(N, d) ** 2)),   # noqa: E731
                        (w[:, None] * x.reshape(N, d)).ravel())
    cons = {"type": "ineq", "fun": lambda x: L_target - loss(x)[0], "jac": lambda x: -loss(x)[1]}
    x0 = wt.exact_embedding(T, W).ravel()                 # feasible (L = 0)
    res = minimize(lambda x: energy(x)[0], x0, jac=lambda x: energy(x)[1], constraints=[cons],
                   method="SLSQP", options=dict(ftol=1e-14, maxiter=300))
    # scipy's own KKT residual: the energy gradient g_E must be -nu times the loss gradient g_L
    # (nu >= 0, least squares) at an optimum of this convex problem with an active constraint
    g_e, g_l = energy(res.x)[1], loss(res.x)[1]
    nu = max(0.0, -float(g_e @ g_l) / max(float(g_l @ g_l), 1e-300))
    kkt = float(np.linalg.norm(g_e + nu * g_l)) / max(float(np.linalg.norm(g_e)), 1e-300)
    return res, loss(res.x)[0], kkt


@given(inst=instances(full_support=True, max_K=4, max_N=3, weight_kinds=["none", "dirichlet"]),
       frac=st.floats(0.05, 0.95))
@example(inst=build_instance(InstanceSpec(seed=0, N=3, K=4, extra_d=1, beta=0.5, floor=1e-3)), frac=0.5)
def test_t11_against_scipy_constrained_optimiser(inst, frac):
    count_example()
    T, W, w = inst.T, inst.witness, inst.weights
    tch = wt.Teacher(T, inst.w)
    # I_T + KL(Tbar||u) rounds to -6.9e-17 on a near-uniform teacher (thorough run): it is >= 0
    L0 = max(0.0, tch.information + float(rel_entr(tch.marginal, np.full(inst.K, 1.0 / inst.K)).sum()))
    L = frac * L0
    e_min, lam_star = fr.min_energy_point(T, W, L, inst.w)
    res, L_got, kkt = _scipy_min_energy(T, w, W, L)
    # scipy's point is feasible up to its constraint violation v: E_scipy >= E_min(L + v)
    # >= E_min(L) - lambda* v (E_min is convex with slope -lambda* at L)
    viol = max(0.0, L_got - L)
    assert_le("T11 scipy energy >= E_min (feasible point)", e_min, res.fun, 1e-10 * (1 + e_min) + lam_star * viol)
    # SLSQP (ftol 1e-14) usually reaches the optimum of these small convex problems within ~1e-7
    # relative, but not always: a thorough run met a SLSQP "success" 1.4e-6 relative above
    # E_min on an ill-conditioned teacher (entries 1e-12, beta 0.05, E ~ 118), where the frontier's
    # own point had L - L_target = -6.5e-12 and energy E_min (scipy's point was not optimal). So the
    # equality is asserted where scipy's point is a KKT point (relative stationarity residual
    # <= 1e-7; a KKT point of a convex problem is its global minimum), and otherwise only reported.
    report("T11 scipy KKT residual (gate: > 1 skips the equality, not a failure)", kkt, 1e-7)
    if kkt > 1e-7 or viol > 1e-9 * (1 + L):   # SLSQP's own flag is not used: ~45% of its
        # "failures" (positive directional derivative at ftol 1e-14) are KKT points to 1e-15
        event("T11 scipy equality skipped (not a KKT point)")
        return
    event("T11 scipy equality checked")
    # the frontier is exact to ~1e-13; the KKT residual 1e-7 leaves scipy within ~1e-7 relative
    assert_close("T11 E_min == scipy SLSQP optimum", e_min, res.fun, 1e-6 * (1 + e_min))


@given(inst=instances(full_support=True, max_K=8, max_N=16), x=st.floats(-3.0, 3.0))
def test_t11_slope_is_minus_lambda(inst, x):
    """Envelope theorem: dE_min/dL = -lambda. Central differences at lambda (1 +- 1e-4)."""
    count_example()
    T, W = inst.T, inst.witness
    lam = 10 ** x / (W.scale ** 2 * W.kappa)
    _, L1, E1, _ = fr.frontier_dual(T, W, lam * (1 - 1e-4), inst.w)
    _, L2, E2, _ = fr.frontier_dual(T, W, lam * (1 + 1e-4), inst.w)
    if abs(L2 - L1) < 1e-9 * (1 + L1):      # a flat stretch (one-row teacher at uniform): no slope to test
        return
    slope = (E2 - E1) / (L2 - L1)
    # the chord slope lies between -lambda(1-1e-4) and -lambda(1+1e-4) (convexity); rounding of
    # E and L (~1e-15) over a step ~1e-4 L adds ~1e-10 relative
    assert_close("T11 dE/dL == -lambda", slope / lam, -1.0, 2e-4)


@given(inst=instances(full_support=True, max_K=10, max_N=20))
@example(inst=build_instance(InstanceSpec(seed=5, N=20, K=10, beta=20.0, floor=1e-12, row_kind="near_degenerate")))
def test_t11_ends(inst):
    """lambda = 0: mu = 0, L = I_T + KL(Tbar||u) (T1 via rel_entr), E = 0. lambda -> inf: the
    exact codes (T5): energy -> ((K-1)/(2K beta^2)) E_T and L -> 0."""
    count_example()
    T, W = inst.T, inst.witness
    D0, L0, E0, a0 = fr.frontier_dual(T, W, 0.0, inst.w)
    info = wt.teacher_information(T, inst.w)
    kl_u = float(rel_entr(inst.tbar, np.full(inst.K, 1.0 / inst.K)).sum())
    assert E0 == 0.0 and not a0.any()
    assert_close("T11 L(0) == I_T + KL(Tbar||u)", L0, info + kl_u, 1e-11 * (1 + L0))
    e5 = wt.exact_code_energy(T, W, inst.w)
    # a(c) = clr(T) - delta with delta_k ~ a_k / (c T_k): the relative energy gap is
    # ~K / (c T_min) and the loss ~ (1 + |clr|)^2 K / (c T_min); c = 1e8 / T_min makes both tiny
    t_min = float(T.min())
    c = 1e8 / t_min
    _, Lc, Ec, _ = fr.frontier_dual(T, W, c / (W.scale ** 2 * W.kappa), inst.w)
    clr_max = float(np.abs(wt.clr(T)).max())
    assert_le("T11 E(lambda) <= T5 energy", Ec, e5, 1e-10 * (1 + e5))
    assert_close("T11 E(lambda -> inf) -> T5 energy", Ec, e5, 10 * inst.K / (c * t_min) * (1 + e5))
    assert_le("T11 L(lambda -> inf) -> 0", Lc, 0.0, 10 * (1 + clr_max) ** 2 * inst.K / (c * t_min))


def test_t11_stationarity_symbolic():
    """grad_mu [(1/2)||mu||^2 + lambda KL(t||S(mu))] = mu - lambda beta A (t - S(mu)) for K = 2, 3
    (default frame, d = K - 1): the stationarity condition of T11 in closed form. (K = 3 costs
    ~5 s of simplification; K = 2 runs here, K = 3 under the thorough profile.)"""
    import os

    from .test_symbolic import sym_simplex_vertices
    for K in ((2, 3) if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else (2,)):
        V = sym_simplex_vertices(K)
        mu = sp.Matrix(sp.symbols(f"m0:{K - 1}", real=True))
        beta, lam = sp.symbols("beta lambda", positive=True)
        tf = list(sp.symbols(f"t0:{K - 1}", positive=True))
        t = tf + [1 - sum(tf)]
        logits = beta * (V.T * mu)
        lse = sp.log(sum(sp.exp(x) for x in logits))
        S = [sp.exp(x - lse) for x in logits]
        kl = sum(tk * (sp.log(tk) - (x - lse)) for tk, x in zip(t, logits))
        f = (mu.T * mu)[0] / 2 + lam * kl
        grad = sp.Matrix([sp.diff(f, m) for m in mu])
        claim = mu - lam * beta * V * sp.Matrix([tk - sk for tk, sk in zip(t, S)])
        diff = sp.simplify(grad - claim)
        assert diff == sp.zeros(K - 1, 1), diff


# ------------------------------------------------------------------ negative control

def test_frontier_off_by_one_percent_in_lambda_is_caught(monkeypatch):
    """WRONG: the solver uses 1.01 lambda while the frontier reports lambda. Caught by the
    ledger's stationarity relation (a Hypothesis search, then a frozen instance)."""
    from .test_negative_controls import falsify
    orig = fr._lam_to_c
    monkeypatch.setattr(fr, "_lam_to_c", lambda lam, W: 1.01 * orig(lam, W))

    def prop(inst):
        res = T11.check(inst.T, inst.witness, inst.w)
        assert res.holds, str(res)

    falsify(instances(full_support=True, max_K=6, max_N=8), prop)
    T = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    bad = T11.check(T, wt.Witness(3, 3, 1.5))
    print(bad)
    assert [p.name.split(":")[0] for p in bad.failures()] == ["stationarity"]
    monkeypatch.setattr(fr, "_lam_to_c", orig)
    assert T11.check(T, wt.Witness(3, 3, 1.5)).holds


@given(inst=instances(full_support=False, max_K=8, max_N=12), seed=seeds, kind=code_kinds)
@example(inst=build_instance(InstanceSpec(seed=1, N=6, K=2, beta=0.05, row_kind="near_degenerate", temperature=0.001,
                                          weight_kind="uniform")), seed=0, kind="constant")   # ci run: E_min
#   differed by 3.5e-15 between weights None and the normalised weights (the test once asked for ==)
def test_t11_model_check_agrees_with_ledger(inst, seed, kind):
    """check_model_on_frontier (what experiments call per model) holds and gives the same E_min
    as min_energy; its energy relation is the ledger's."""
    from witness_theory.theorems import check_model_on_frontier
    mu = codes_for(inst, seed, kind)
    log_var = np.random.default_rng(seed).normal(size=mu.shape)
    res = check_model_on_frontier(inst.T, mu, log_var, inst.witness, inst.w)
    assert_ledger(res, "T11 model check")
    # a computed L_TS rounds to -3e-114 at exact codes (thorough run); the ledger uses max(0, L)
    L = max(0.0, wt.alignment_loss(inst.T, mu, inst.witness, inst.w))
    # same computation; the weights are normalised in a different order (once more inside the
    # model check), so L differs by rounding eps_L and E_min(L) (slope -lambda*) by lambda* eps_L:
    # 6e-6 on E = 16900 at lambda* ~ 1e14 in a thorough run (exact codes, L ~ 0). Beyond that the
    # root-found dual value moves by a few ulps, 1e-12 relative is headroom
    e_min, lam = fr.min_energy_point(inst.T, inst.witness, L, inst.w)
    eps_L = _codes_loss_rounding(inst.K, fr.loss_at_zero(wt.Teacher(inst.T, inst.w)), mu, inst.witness)
    assert_close("T11 model check E_min == min_energy", res.parts[0].rhs, e_min, 1e-12 * (1 + e_min) + 2 * lam * eps_L)


def test_model_relation_can_fail_on_frontier_codes(monkeypatch):
    """The model relation is tight: codes ON the frontier have energy == E_min(L_TS) (to the
    rounding of the dual value), so an E_min 1% too large is caught on them."""
    from witness_theory.theorems import check_model_on_frontier
    T = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])
    W = wt.Witness(3, 4, 1.5)
    mu = fr.frontier_codes(T, W, 0.7)
    good = check_model_on_frontier(T, mu, None, W)
    assert good.holds
    assert_close("T11 frontier codes sit on the frontier", good.parts[0].lhs, good.parts[0].rhs,
                 1e-9 * (1 + good.parts[0].lhs))
    orig = fr.min_energy_point
    monkeypatch.setattr(fr, "min_energy_point", lambda *a, **k: (1.01 * orig(*a, **k)[0], orig(*a, **k)[1]))
    bad = check_model_on_frontier(T, mu, None, W)
    print(bad)
    assert not bad.holds


# ---------------------------------------------------------------------------------------
# The grid's own lower bound and the default grid (mutmut on frontier.py, 2026-12-06: no proof
# reached Frontier.min_energy_bound or min_energy)
# ---------------------------------------------------------------------------------------

@given(inst=instances(full_support=True, max_K=6, max_N=8), frac=st.floats(0.0, 1.5))
@example(inst=build_instance(InstanceSpec(seed=3, N=5, K=4, extra_d=1, beta=2.0, floor=1e-3)), frac=0.3)
@example(inst=build_instance(InstanceSpec(seed=0, N=1, K=6, beta=0.05, temperature=1e-3, floor=1e-12,
                                          logits=(0.0,) * 6)), frac=0.0)   # thorough: L = L_0 = 0, bound 1.5e-9
@example(inst=build_instance(InstanceSpec(seed=90620, N=2, K=3, beta=7.865609273944892, floor=1e-12,
                                          frame_kind="default")), frac=0.0)   # thorough: L = 0, lambda* 1.1e10
def test_t11_grid_bound_is_weak_duality(inst, frac):
    """Frontier.min_energy_bound(L) = max(0, max_j D(lambda_j) - lambda_j L) (recomputed here from
    the frontier's own arrays) is a lower bound on E_min(L) (weak duality: for every lambda,
    E >= D(lambda) - lambda L on every code with L_TS <= L), and min_energy(L) is min_energy_point's
    energy. Tolerance of the weak-duality check: 1e-9 (1 + E_min) + 1e-15 (lambda_max + lambda*) (1 + L_0):
    D carries lambda times the rounding of the computed loss (min_energy_point's docstring), on the
    grid at lambda_max and in E_min at its own lambda*. At the
    grid's own losses the bound is attained: within 1e-6 (1 + E) of the frontier's energy (its
    multiplier is then the optimal one; the Newton solves are exact to ~1e-10 relative)."""
    count_example()
    T, W, w = inst.T, inst.witness, inst.w
    F = fr.margin_energy_frontier(T, W, w)
    L = frac * max(0.0, F.loss_at_zero)      # L_0 rounds to -2e-16 on a uniform teacher
    bound = F.min_energy_bound(L)
    assert bound == max(0.0, float(np.max(F.dual - F.lam * L)))
    e_min, lam_star = fr.min_energy_point(T, W, L, w)
    assert fr.min_energy(T, W, L, w) == e_min
    # both sides carry lambda times the rounding of a computed loss: the grid's D_j at lambda_j, and
    # E_min's own dual value at its lambda* (min_energy_point's docstring), which near L = 0 is huge:
    # E_min has slope -lambda* there, so a loss rounding of ~1e-16 moves it by lambda* 1e-16 (thorough,
    # 2026-12-06: L = 0, lambda* = 1.1e10, E_min 2.1e-6 below the grid's bound; the tolerance had
    # counted the grid's lambda_max = 108 only)
    tol = 1e-9 * (1 + e_min) + 1e-15 * (float(F.lam.max()) + lam_star) * (1 + F.loss_at_zero)
    assert_le("T11 grid bound <= E_min(L) (weak duality)", bound, e_min, tol)
    if L >= F.loss_at_zero:
        # E_min(L) = 0 exactly (the code 0 is feasible: min_energy_point returns 0.0). The grid bound
        # is 0 only in exact arithmetic: each D_j carries lambda_j times the computed loss's rounding,
        # the check above with E_min = 0 (thorough, 2026-12-06: a uniform one-row teacher at beta =
        # 0.05 gave 1.5e-9 from lambda_max = 3.3e6, 0.34 of tol; the test had asserted exactly 0)
        assert e_min == 0.0
    j = int(np.argmin(np.abs(F.loss - L)))
    at = F.min_energy_bound(float(F.loss[j]))
    assert_close("T11 grid bound at a grid loss == its energy", at, float(F.energy[j]), 1e-6 * (1 + F.energy[j]))


def test_default_frontier_lambdas_are_the_documented_grid():
    """c = lambda beta^2 kappa log-spaced over [1e-2, 1e4], 13 points by default (exact: the same
    numpy calls). Scale 3: at 2, beta * 2 = beta ** 2 (mutmut: `scale * 2` in beta^2 kappa survived)."""
    W = wt.Witness(5, 4, 3.0)
    b2k = W.scale ** 2 * W.kappa
    np.testing.assert_array_equal(fr.default_frontier_lambdas(W), np.logspace(-2, 4, 13) / b2k)
    np.testing.assert_array_equal(fr.default_frontier_lambdas(W, 5), np.logspace(-2, 4, 5) / b2k)
    T = np.random.default_rng(0).dirichlet(np.ones(5), 6)
    np.testing.assert_array_equal(fr.margin_energy_frontier(T, W).lam, np.logspace(-2, 4, 13) / b2k)
    given_lams = fr.margin_energy_frontier(T, W, lambdas=[0.0, 3.0, 1.0])
    np.testing.assert_array_equal(given_lams.lam, [0.0, 1.0, 3.0])                    # sorted; 0 is allowed
    assert given_lams.energy[0] == 0.0
    with pytest.raises(ValueError, match="lambdas"):
        fr.margin_energy_frontier(T, W, lambdas=[-1e-3, 1.0])


@given(inst=instances(full_support=False, max_K=6, max_N=8))
def test_frontier_record_is_what_it_documents(inst):
    """Each field of margin_energy_frontier's record against its documented formula, recomputed
    here: loss and energy of each point = frontier_dual's at the same multiplier (cold starts
    there, warm starts in the grid: both solve the same strictly convex problem, so 1e-9 (1 + |.|)
    relative); dual == E + lambda L exactly; the KKT residual = max |mu + lambda grad KL| /
    (1 + max |mu|) from the returned point's codes (1e-12 absolute: the same float operations on
    codes equal to 1e-9); loss_at_zero = I_T + KL(Tbar || u); exact_energy = the T5 energy with
    full support, None without. A one-point grid; min_energy at an infinite loss (0), at a loss
    just below 0 (refused, naming rounding) and at a negative one (refused, not as rounding)."""
    count_example()
    T, W, w = inst.T, inst.witness, inst.w
    lams = fr.default_frontier_lambdas(W, 4)
    F = fr.margin_energy_frontier(T, W, w, lambdas=lams)
    np.testing.assert_array_equal(F.dual, F.energy + F.lam * F.loss)
    tch = wt.Teacher(T, w)
    kl_u = float(rel_entr(tch.marginal, np.full(inst.K, 1.0 / inst.K)).sum())
    assert_close("T11 loss_at_zero == I_T + KL(Tbar||u)", F.loss_at_zero, tch.information + kl_u, 1e-11 * (1 + F.loss_at_zero))
    if np.all(T > 0):
        e5 = wt.exact_code_energy(T, W, w)     # the frontier passes the weights it normalised: last bits
        assert_close("T11 exact_energy == T5 energy", F.exact_energy, e5, 1e-12 * (1 + e5))
    else:
        assert F.exact_energy is None
    for j, lam in enumerate(lams):
        _, L, E, a = fr.frontier_dual(T, W, float(lam), w)
        assert_close("T11 grid loss == frontier_dual's", F.loss[j], L, 1e-9 * (1 + L))
        assert_close("T11 grid energy == frontier_dual's", F.energy[j], E, 1e-9 * (1 + E))
        mu = a @ W.A.T / (W.scale * W.kappa)
        kkt = float(np.abs(mu + lam * wt.alignment_gradient(T, mu, W)).max() / (1.0 + np.abs(mu).max()))
        assert_close("T11 KKT residual == its formula", F.kkt_residual[j], kkt, 1e-9 * (1 + kkt) + 1e-12)
    one = fr.margin_energy_frontier(T, W, w, lambdas=[float(lams[1])])
    assert one.lam.shape == (1,)
    assert_close("T11 one-point grid == that point", one.energy[0], F.energy[1], 1e-9 * (1 + F.energy[1]))
    assert fr.min_energy(T, W, np.inf, w) == 0.0
    with pytest.raises(ValueError, match="just below 0 is rounding"):     # what a computed KL rounds to
        fr.min_energy(T, W, -1e-12, w)
    with pytest.raises(ValueError, match="loss") as err:                   # a negative loss, not rounding
        fr.min_energy(T, W, -1e-6, w)
    assert "rounding" not in str(err.value)


# ---------------------------------------------------------------------------------------
# frontier_logits: its returned residual, its Newton speed, an uncentred start
# (mutmut on frontier.py, 2026-12-06: the residual and the Sherman-Morrison step were unchecked)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("K", [3, 16, 64])
@pytest.mark.parametrize("c", [1.0, 1e4, 1e8, 1e12])
def test_frontier_logits_newton_residual_and_start(K, c):
    """The second value is max_ik |a_ik / c - (T_ik - S_ik)| of the returned logits (recomputed
    with scipy's softmax; 1e-15 absolute: probabilities summed in another order). Damped Newton
    with the exact (Sherman-Morrison) Hessian solve converges quadratically: within 30 iterations
    the residual is at rounding level, <= 1e-13, up to c = 1e12 on rows with entries down to 1e-9
    (measured: <= 2.4e-16 after 20 iterations; a step with a wrong Hessian solve is a damped
    gradient method and is still ~1e-3 away after 30). A start shifted along 1 and scaled per row
    gives the same centred logits (the objective is strictly convex; 1e-9 (1 + max|a|))."""
    rng = np.random.default_rng(K)
    T = np.maximum(rng.dirichlet(np.full(K, 0.3), 20), 1e-9)
    T /= T.sum(axis=1, keepdims=True)
    a, r = fr.frontier_logits(T, c, max_iter=30)
    assert abs(r - float(np.abs(a / c - (T - softmax(a, axis=1))).max())) <= 1e-15
    assert r <= 1e-13
    start = 3.0 * a + rng.normal(size=(20, 1)) * 50.0                  # uncentred, off the solution
    b, r2 = fr.frontier_logits(T, c, start=start)
    assert r2 <= 1e-13
    # centred to the rounding of subtracting the start's row means (size max|start|)
    assert np.abs(b.mean(axis=1)).max() <= K * np.finfo(float).eps * (1 + np.abs(start).max())
    assert_close("T11 logits from a shifted start == from zero", float(np.abs(b - a).max()), 0.0,
                 1e-9 * (1 + float(np.abs(a).max())))


@given(seed=seeds, K=st.integers(2, 8), N=st.integers(1, 6), c=st.sampled_from([1e-2, 1.0, 1e2, 1e4]),
       size=st.floats(0.01, 1.0))
@example(seed=0, K=3, N=2, c=1e2, size=0.5)
def test_frontier_logits_one_step_is_the_newton_step(seed, K, N, c, size):
    """One iteration from a centred start a0 moves each row along the Newton direction
    H^{-1} g, H = I/c + diag(S) - S S^T and g = a0/c + S - T, solved here densely
    (np.linalg.solve), by a step t in {1, 1/2, 1/4, ...} (the Armijo halving). The code solves with
    Sherman-Morrison; a wrong rank-one term (mutmut: the denominator summed over every row, S * (1 + c
    S), sMg * denom) still converges within 30 iterations (the property above cannot see it) but
    points 2-3% off this direction. Tolerance: |a0 - a1 - t d| <= 1e-10 (1 + c) |d| (measured <= 2e-14
    (1 + c) on 300 draws; H's condition number is <= 1 + c), t a power of 2 to 1e-9."""
    rng = np.random.default_rng(seed)
    T = np.maximum(rng.dirichlet(np.full(K, 0.5), N), 1e-12)
    T /= T.sum(axis=1, keepdims=True)
    a_star, _ = fr.frontier_logits(T, c)
    noise = rng.normal(size=(N, K))
    a0 = a_star + size * (noise - noise.mean(axis=1, keepdims=True))   # centred: the code centres starts
    a1, _ = fr.frontier_logits(T, c, start=a0, max_iter=1)
    S = softmax(a0, axis=1)
    g = a0 / c + S - T
    for i in range(N):
        d = np.linalg.solve(np.eye(K) / c + np.diag(S[i]) - np.outer(S[i], S[i]), g[i])
        if np.abs(d).max() <= 4 * np.finfo(float).eps * (1 + np.abs(a0).max()):
            continue                                                    # the code's stopping rule
        step = a0[i] - a1[i]
        t = float(step @ d / (d @ d))
        assert_le("T11 Newton step along H^-1 g", float(np.linalg.norm(step - t * d)), 0.0,
                  1e-10 * (1 + c) * float(np.linalg.norm(d)))
        assert t > 0 and abs(np.log2(t) - round(np.log2(t))) <= 1e-9, f"row {i}: step {t!r} is not a halving of 1"


@given(seed=seeds, K=st.integers(2, 8), N=st.integers(1, 6), c=st.sampled_from([1.0, 1e2, 1e4, 1e8]),
       scale=st.sampled_from([30.0, 1e3, 1e200]))
@example(seed=0, K=4, N=3, c=1e8, scale=1e3)        # the per-row backtracking
@example(seed=26, K=3, N=6, c=1e8, scale=1e3)       # 200 steps are not enough from this start (~1,000 are)
@example(seed=1, K=3, N=3, c=1e2, scale=1e200)      # f(start) overflows on all rows but the first
def test_frontier_logits_from_far_starts(seed, K, N, c, scale):
    """From starts far from the solution. Entries ~30-1000 make the full Newton step overshoot, so
    rows backtrack one by one (the path the warm starts of a grid rarely take): the returned
    residual is the true one (1e-15 absolute, as above); with enough steps (5,000) the solve reaches
    the unique minimiser; and the frontier's warm solve, which re-solves from zero where the
    default 200 steps did not converge, returns it at the default (found by this property: seed 26
    stops 2e3 away with residual 0.56, and the frontier's dual values would then be too large).
    Entries ~1e200 make f(start) overflow; those rows start from 0 and converge within the default
    steps. (mutmut: the per-row backtracking's loop exit, `return` for `break`, and the overflow
    branch survived: no proof reached them.) Tolerance: the logits within 1e-9 (1 + max|a|) of the
    solve from 0 (as the shifted-start property above), residual <= 1e-12 (measured <= 1e-15)."""
    rng = np.random.default_rng(seed)
    T = np.maximum(rng.dirichlet(np.full(K, 0.5), N), 1e-12)
    T /= T.sum(axis=1, keepdims=True)
    a_star, _ = fr.frontier_logits(T, c)
    tol = 1e-9 * (1 + float(np.abs(a_star).max()))
    start = rng.normal(size=(N, K)) * scale
    if scale > 1e100:
        start[0] = a_star[0]                                            # one row near its solution
        b, r = fr.frontier_logits(T, c, start=start)
        assert_close("T11 logits from an overflowing start == from zero", b, a_star, tol)
        assert_le("T11 residual from an overflowing start", r, 0.0, 1e-12)
        return
    b, r = fr.frontier_logits(T, c, start=start)
    assert abs(r - float(np.abs(b / c - (T - softmax(b, axis=1))).max())) <= 1e-15 * (1 + r)
    b, r = fr.frontier_logits(T, c, start=start, max_iter=5000)
    assert_close("T11 logits from a far start == from zero", b, a_star, tol)
    assert_le("T11 residual from a far start", r, 0.0, 1e-12)
    assert_close("T11 warm solve from a far start == from zero", fr._warm_solve(T, c, start), a_star, tol)


def test_frontier_logits_stops_where_no_row_can_step():
    """Where no row can take a step in 59 halvings (the Armijo test fails at every step size: a
    stall, which in floats happens only at rounding level and which no drawn instance reaches), the
    solve stops at once and returns the point it has, centred, with its true stationarity residual,
    so that the caller (the frontier's warm solve) sees that it did not converge. The stall is made
    here by an objective that reports every trial point as inf (unittest.mock).
    (mutmut: `return` for that `break` survived: the function returned None.) Checked: a tuple
    (logits, residual); the logits the centred start (exactly: no step taken); the residual its
    formula at that point (1e-15 absolute); one iteration's objective evaluations (1 + 1 + 59), not
    max_iter iterations of them."""
    from unittest import mock
    rng = np.random.default_rng(4)
    T = rng.dirichlet(np.ones(4), 3)
    start = rng.normal(size=(3, 4)) * 5.0
    true_objective = fr._objective
    calls = []

    def worse_after_the_first(a, T_, c):
        calls.append(len(a))
        return true_objective(a, T_, c) + (np.inf if len(calls) > 1 else 0.0)

    with mock.patch.object(fr, "_objective", side_effect=worse_after_the_first):
        out = fr.frontier_logits(T, 10.0, start=start)
    assert isinstance(out, tuple) and len(out) == 2
    a, r = out
    np.testing.assert_array_equal(a, start - start.mean(axis=1, keepdims=True))
    assert abs(r - float(np.abs(a / 10.0 - (T - softmax(a, axis=1))).max())) <= 1e-15
    assert r > 1e-3 and len(calls) == 61


def test_multipliers_zero_and_one():
    """lambda = 0 gives the zero codes even where beta^2 kappa overflows (0 * inf would be NaN), and
    lambda = 1 is an ordinary multiplier: c = beta^2 kappa, its codes within 1e-9 of those at the next
    float above 1 (mutmut: `lam == 1` for `lam == 0` in the multiplier's conversion survived)."""
    T = np.random.default_rng(3).dirichlet(np.ones(4), 5)
    assert not fr.frontier_codes(T, wt.Witness(4, 3, 1e200), 0.0).any()
    W = wt.Witness(4, 3, 1.5)
    assert fr._lam_to_c(1.0, W) == W.scale ** 2 * W.kappa
    one, above = fr.frontier_codes(T, W, 1.0), fr.frontier_codes(T, W, np.nextafter(1.0, 2.0))
    assert np.abs(one).max() > 0.1
    assert_close("T11 codes at lambda = 1 == just above", one, above, 1e-9)


def test_frontier_logits_ends():
    """c = 0: a = 0 and residual 0; c = inf: the exact logits clr(T) and residual 0."""
    T = np.random.default_rng(1).dirichlet(np.ones(4), 5)
    a, r = fr.frontier_logits(T, 0.0)
    assert r == 0.0 and not a.any() and a.shape == T.shape
    a, r = fr.frontier_logits(T, np.inf)
    assert r == 0.0
    np.testing.assert_array_equal(a, wt.clr(T))


@given(inst=instances(full_support=True, max_K=6, max_N=8), frac=st.floats(0.02, 0.98))
def test_min_energy_point_returns_the_root_multiplier(inst, frac):
    """min_energy_point(L) = (E_min, lambda*) with lambda* the multiplier whose frontier point has
    loss L: frontier_dual(lambda*) gives loss L (relative 1e-6: brentq's xtol 1e-8 on log lambda
    moves the loss by ~1e-8 of its slope) and energy E_min (1e-6 (1 + E)); at L >= L_0, (0, 0)."""
    count_example()
    T, W, w = inst.T, inst.witness, inst.w
    L0 = max(0.0, fr.loss_at_zero(wt.Teacher(T, w)))     # rounds to -2e-16 on a uniform teacher
    # above L_0 the code 0 is feasible: (0, 0). (At L_0 itself the function's own L_0, computed from the
    # rows it renormalised, may differ in the last bits: there only E = 0 is asserted.)
    assert fr.min_energy_point(T, W, L0 * (1 + 1e-9) + 1e-12, w) == (0.0, 0.0)
    assert fr.min_energy_point(T, W, 2 * L0 + 1, w) == (0.0, 0.0)
    assert fr.min_energy_point(T, W, L0, w)[0] <= 1e-9 * (1 + L0)
    L = frac * L0
    e, lam = fr.min_energy_point(T, W, L, w)
    _, Lc, Ec, _ = fr.frontier_dual(T, W, lam, w)
    if Lc > L + 1e-6 * (1 + L):   # below what the largest multiplier reaches: min_energy_point clips there
        event("T11 root beyond the bracket")
        return
    assert_close("T11 loss at lambda* == L", Lc, L, 1e-6 * (1 + L))
    assert_close("T11 energy at lambda* == E_min", Ec, e, 1e-6 * (1 + e))


@given(inst=instances(full_support=True, max_K=6, max_N=8), frac=st.floats(0.02, 0.98))
@example(inst=build_instance(InstanceSpec(seed=2, N=4, K=3, beta=0.5)), frac=0.3)
def test_min_energy_point_fallback_maximises_the_dual(inst, frac):
    """Where brentq loses its bracket (the loss at an end re-solved to the other side of L: found
    by the thorough profile at L = 2.2e-16), min_energy_point maximises the concave dual
    D(lambda) - lambda L itself: a grid of log lambda, then a bounded search between the best
    point's neighbours, the ends' bounds among the candidates. That path is taken so rarely that
    no profile of the proofs reached it (mutmut: 30 of its mutants survived: the dual's sign, the
    grid, the bracket's indices, the candidates' formulas, the floor). Here brentq is made to fail
    (unittest.mock), and the fallback must give what the root gives: the same E_min within 1e-6
    (1 + E) and a multiplier whose frontier loss is L within 1e-6 (1 + L) (the tolerances of the
    root property above; the dual is flat at its maximum, so its value is found to ~1e-16 relative
    but lambda only to ~1e-8 in log)."""
    from unittest import mock
    count_example()
    T, W, w = inst.T, inst.witness, inst.w
    L = frac * max(0.0, fr.loss_at_zero(wt.Teacher(T, w)))
    e_root, lam_root = fr.min_energy_point(T, W, L, w)
    _, Lc, _, _ = fr.frontier_dual(T, W, lam_root, w)
    assume(Lc <= L + 1e-6 * (1 + L) and lam_root > 0)   # the root inside the bracket: brentq was called
    with mock.patch.object(fr, "brentq", side_effect=ValueError("f(a) and f(b) must have different signs")):
        e_fb, lam_fb = fr.min_energy_point(T, W, L, w)
    assert_close("T11 fallback E_min == root E_min", e_fb, e_root, 1e-6 * (1 + e_root))
    _, Lf, _, _ = fr.frontier_dual(T, W, lam_fb, w)
    assert_close("T11 loss at the fallback's lambda == L", Lf, L, 1e-6 * (1 + L))


@given(seed=seeds, K=st.integers(2, 6), N=st.integers(1, 4), log_eps=st.floats(-9.0, -2.0),
       log_beta=st.floats(-2.0, 0.5), frac=st.floats(0.0, 1.0))
@example(seed=1, K=3, N=1, log_eps=-8.13, log_beta=-1.04, frac=0.0)
def test_min_energy_on_near_uniform_teachers_is_at_most_the_t5_energy(seed, K, N, log_eps, log_beta, frac):
    """Soundness at the bracket's upper end. E_min(L) <= E_min(0) = the T5 energy for every L >= 0
    (E_min is nonincreasing; the exact codes have loss 0), and min_energy_point returns a lower
    bound on E_min(L), so it can never exceed the T5 energy. On a teacher whose rows lie within
    ~1e-9..1e-2 of uniform, the T5 energy is ~1e-19..1e-4, while the dual at the largest multiplier
    (~1e12 / (beta^2 kappa)) carries that multiplier times the computed loss's absolute rounding
    (~1e-16): measured, the unclipped bound at L = 0 was 0.018 where the T5 energy is 2.8e-15
    (K = 3, beta = 0.09), an unsound "lower bound" 6e12 times too large. min_energy_point clips to
    the T5 energy, and this property is what pins the clip (mutmut: `e_cap = inf` and `T.min() > 1`
    survived, read as a guard at rounding level: no proof drew a near-uniform teacher). Tolerance
    1e-9 relative to the T5 energy (its own rounding is ~1e-15 relative). No lower side: at L = 0
    the root lies at lambda = inf, beyond the bracket, and the bound at the largest multiplier is
    measured 0..100% below the T5 energy on these teachers (sound, and at energies ~1e-16 where
    L_0 itself is rounding)."""
    count_example()
    rng = np.random.default_rng(seed)
    T = np.abs(np.full((N, K), 1.0 / K) + 10 ** log_eps * rng.standard_normal((N, K)) / K)
    T /= T.sum(axis=1, keepdims=True)
    W = wt.Witness(K, scale=10 ** log_beta)
    e5 = wt.exact_code_energy(T, W)
    L = frac * max(0.0, fr.loss_at_zero(wt.Teacher(T)))
    for loss in (0.0, L):
        assert_le("T11 E_min(L) <= T5 energy (near-uniform teacher)", fr.min_energy_point(T, W, loss)[0], e5, 1e-9 * e5)
