"""Negative controls: deliberately wrong variants of four formulas, each CAUGHT by the property
or ledger check that guards the right one. These show the proofs can fail.

Every control has three parts:
1. the wrong variant, as a small local function;
2. a Hypothesis search (the same instance strategy as the real property, no shrinking) that
   must find a falsifying instance -- ``pytest.raises(AssertionError)`` around the property run --
   and the instance found is printed;
3. a frozen concrete counterexample on which the ledger check itself (with the wrong formula
   monkeypatched into ``witness_theory.core``) reports a violation, while the right formula holds.

Residual labels start with "NEG" so the bench reports them apart from the real residuals.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings

import witness_theory as wt
import witness_theory.core as core
from witness_theory.theorems import T1, T2, T4, T6, T8

from .strategies import InstanceSpec, assert_close, assert_le, build_instance, codes_for, count_example, instances, seeds

NO_SHRINK = settings(phases=[Phase.explicit, Phase.generate, Phase.target], database=None,
                     report_multiple_bugs=False)


def falsify(strategy, prop):
    """Run ``prop`` as a Hypothesis property over ``strategy``; assert it FAILS and return the
    falsifying value (so the control fails if the wrong variant slips through)."""
    found = []

    @NO_SHRINK
    @given(strategy)
    def run(x):
        count_example()
        try:
            prop(x)
        except AssertionError:
            found.append(x)
            raise

    with pytest.raises(AssertionError):
        run()
    assert found, "the property never failed on the wrong variant"
    print("caught on:", found[-1])
    return found[-1]


# ---------------------------------------------------------------- 1. cross-entropy for KL (T1)

def cross_entropy_rows(p, log_q):
    """WRONG: cross-entropy -sum p log q in place of KL(p||q) (shifts each row by H(p))."""
    P = np.atleast_2d(np.asarray(p, dtype=float))
    LQ = np.broadcast_to(np.asarray(log_q, dtype=float), P.shape)
    with np.errstate(invalid="ignore"):   # 0 * -inf where q_k = 0 and p_k = 0: term is 0
        return -np.where(P > 0, P * LQ, 0.0).sum(axis=1)


def t1_identity(inst, divergence):
    """The T1 identity sum_i w_i D(T_i||q) == I_T + D(Tbar||q), I_T = sum_i w_i D(T_i||Tbar),
    with the tolerance of test_t1 (1e-10 relative to the size of the terms)."""
    T, w = inst.T, inst.weights
    q = np.full(inst.K, 1.0 / inst.K)
    with np.errstate(divide="ignore"):
        log_tbar = np.log(inst.tbar)
    info = float(w @ divergence(T, log_tbar))
    lhs = float(w @ divergence(T, np.log(q)))
    rhs = info + float(divergence(inst.tbar[None], np.log(q))[0])
    assert_close("NEG T1 identity", lhs, rhs, 1e-10 * (1 + abs(lhs) + abs(rhs)))


def test_right_kl_passes_t1_identity():
    t1_identity(build_instance(InstanceSpec(seed=3, N=6, K=3)), wt.kl_rows)


def test_cross_entropy_is_caught_by_t1(monkeypatch):
    falsify(instances(full_support=False), lambda inst: t1_identity(inst, cross_entropy_rows))
    # the ledger check catches it too: with CE inside the package the identity is off by H(Tbar)
    T = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    assert T1.check(T).holds
    monkeypatch.setattr(core, "kl_rows", cross_entropy_rows)
    bad = T1.check(T)
    print(bad)
    assert not bad.holds
    assert not bad.parts[0].holds               # the identity itself


# ------------------------------------------------------ 2. exact code without (K-1)/K (T4)

def exact_code_missing_factor(p, witness):
    """WRONG: mu = (1/beta) A clr(p) -- the (K-1)/K factor dropped."""
    P = np.atleast_2d(np.asarray(p, dtype=float))
    codes = (1.0 / witness.scale) * (core.clr_from_log(np.log(P)) @ witness.A.T)
    return codes[0] if np.ndim(p) == 1 else codes


def t4_inverse(inst, exact_code):
    """S(mu*(p)) == p in log space, the tolerance of test_t4."""
    T, W = inst.T, inst.witness
    log_s = W.log_probs(exact_code(T, W))
    assert_close("NEG T4 S(mu*(p)) == p", log_s, np.log(T), 1e-12 * inst.K * (1 + float(np.abs(np.log(T)).max())))


def test_missing_factor_is_caught_by_t4(monkeypatch):
    falsify(instances(full_support=True), lambda inst: t4_inverse(inst, exact_code_missing_factor))
    p = np.array([[0.7, 0.2, 0.1]])
    W = wt.Witness(3, 4, 2.0, np.linalg.qr(np.random.default_rng(0).normal(size=(4, 2)))[0])
    assert T4.check(p, W).holds
    monkeypatch.setattr(core, "exact_code", exact_code_missing_factor)
    bad = T4.check(p, W)
    print(bad)
    assert not bad.holds


# ------------------------------------------------- 3. escape step one third too long (T6)

def step_size_too_long(witness):
    """WRONG: eps = (4/3) * 2 / (beta^2 kappa), one third past the guaranteed step."""
    return (4.0 / 3.0) * 2.0 / (witness.scale ** 2 * witness.kappa)


def t6_step_guarantee(inst, step_size):
    """After one step of size step_size from the best constant, G_T >= R (test_t6's tolerance)."""
    T, W, w = inst.T, inst.witness, inst.weights
    c = wt.best_constant_code(T, W, inst.w)
    moved = wt.escape_step(T, c, W, step=step_size(W))
    info = wt.teacher_information(T, inst.w)
    L1 = wt.alignment_loss(T, moved, W, inst.w)
    R = float(w @ ((T - inst.tbar) ** 2).sum(axis=1))
    assert_le("NEG T6 step guarantee G_T >= R", R, info - L1, 1e-10 * (1 + info + L1))


# The longer step is not always bad: the Hessian bound 1/2 is attained only where S puts 1/2
# on two outcomes, so counterexamples live near K = 2, Tbar = (1/2, 1/2), small residuals, where
# G_T -> (8/9) R. The search draws K = 2 teachers (any rows, any weights, any scale).
T6_WRONG_SEARCH = instances(full_support=False, max_K=2, full_marginal=True)


def test_long_escape_step_is_caught_by_t6(monkeypatch):
    falsify(T6_WRONG_SEARCH, lambda inst: t6_step_guarantee(inst, step_size_too_long))
    # frozen counterexample: two rows (1/2 +- 0.01): G_T = 0.889 R < R with the long step
    T = np.array([[0.51, 0.49], [0.49, 0.51]])
    W = wt.Witness(2, 1, 1.0)
    assert T6.check(T, W).holds
    monkeypatch.setattr(core, "escape_step_size", step_size_too_long)
    bad = T6.check(T, W)
    print(bad)
    assert not bad.holds
    assert [p.name for p in bad.failures()] == ["after the step 2/(beta^2 kappa): G_T >= R"]


def test_long_escape_step_still_satisfies_the_quadratic_bound():
    """The quadratic upper bound holds for every eps (it is the guarantee's premise), so the
    guarantee -- not the bound -- is what catches the longer step. Checked on the same instance."""
    T = np.array([[0.51, 0.49], [0.49, 0.51]])
    W = wt.Witness(2, 1, 1.0)
    res = T6.check(T, W, center=np.zeros(1), step=step_size_too_long(W))
    assert res.holds, str(res)


# ------------------------------------------ 4. margin against uniform instead of Tbar (T2)

def margin_vs_uniform(teacher, codes, witness, weights=None):
    """WRONG: G = sum_i w_i KL(T_i||uniform) - L_TS (reference distribution uniform, not Tbar)."""
    T = np.atleast_2d(teacher)
    w = np.full(T.shape[0], 1.0 / T.shape[0]) if weights is None else weights / np.sum(weights)
    info_u = float(w @ wt.kl_rows(T, np.full(T.shape[1], -np.log(T.shape[1]))))
    return info_u - wt.alignment_loss(T, codes, witness, weights)


def t2_constant_codes_not_certified(args, margin):
    """T2 soundness: a constant code -- a random one, and the best constant mu*(Tbar) -- has
    margin <= 0 (the property of test_t2, same tolerance)."""
    inst, seed = args
    candidates = [codes_for(inst, seed, "constant")]
    if np.all(inst.tbar > 0):
        candidates.append(np.repeat(wt.best_constant_code(inst.T, inst.witness, inst.w)[None], inst.N, 0))
    for codes in candidates:
        G = margin(inst.T, codes, inst.witness, inst.w)
        assert_le("NEG T2 constant code: G_T <= 0", G, 0.0, 1e-10 * (1 + abs(G)))


def test_uniform_reference_margin_is_caught_by_t2(monkeypatch):
    from hypothesis import strategies as st
    falsify(st.tuples(instances(full_support=False), seeds),
            lambda a: t2_constant_codes_not_certified(a, margin_vs_uniform))
    # frozen counterexample: the best constant code mu*(Tbar) gets margin KL(Tbar||u) > 0
    T = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])
    W = wt.Witness(3, 2, 1.5)
    c = np.repeat(wt.best_constant_code(T, W)[None], 2, axis=0)
    assert wt.certificate_margin(T, c, W) <= 1e-12
    assert margin_vs_uniform(T, c, W) > 0.1
    assert T2.check(T, c, W).holds and T8.check(T, c, W).holds
    # the ledger: with I_T computed against uniform, "constant codes: L_TS >= I_T" fails (T2) and
    # so does the size bound G_T <= 0 for constant codes (T8)
    monkeypatch.setattr(core, "teacher_information",
                        lambda teacher, weights=None: margin_vs_uniform(teacher, c, W, weights)
                        + core.alignment_loss(teacher, c, W, weights))
    bad2, bad8 = T2.check(T, c, W), T8.check(T, c, W)
    print(bad2, bad8, sep="\n")
    assert not bad2.holds and not bad8.holds
