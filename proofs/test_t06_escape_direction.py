"""T6 escape direction: gradient beta A (S - t), derivative -beta^2 kappa R along the teacher-residual
field, stationarity of shared moves at the best constant, escape force, Hessian eigenvalue <= 1/2,
and the one-step guarantee G_T >= R at eps = 2/(beta^2 kappa).

Routes: the ledger ``T6.check`` (at the best constant and at arbitrary collapsed centres);
per-sample gradients from torch autograd in float64; a central finite difference of L_TS along
the field; the Hessian of KL(t||softmax(a)) from torch.func with its largest eigenvalue; the loss
after the step recomputed with torch.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import witness_theory as wt
from witness_theory.theorems import T6

from .strategies import InstanceSpec, assert_close, assert_le, assert_ledger, build_instance, count_example, instances, seeds

EPS = float(np.finfo(np.float64).eps)

torch.set_num_threads(1)


def torch_alignment(T: np.ndarray, codes: np.ndarray, W: wt.Witness):
    """Per-sample KL(T_i||S(mu_i)) and its gradient by autograd (float64)."""
    t = torch.from_numpy(T)
    mu = torch.from_numpy(np.array(codes, dtype=np.float64)).requires_grad_(True)
    log_s = torch.log_softmax(W.scale * mu @ torch.from_numpy(W.A), dim=1)
    kl = (torch.xlogy(t, t) - torch.where(t > 0, t * log_s, torch.zeros_like(t))).sum(dim=1)
    kl.sum().backward()           # rows are independent: row i of the gradient is grad_i
    return kl.detach().numpy(), mu.grad.numpy()


T6_EDGE = [
    InstanceSpec(seed=1, N=128, K=64, extra_d=8, beta=20.0, temperature=1e-3, one_hot_fraction=0.3, full_marginal=True),
    InstanceSpec(seed=2, N=2, K=2, beta=0.05, row_kind="near_degenerate", full_marginal=True),
]


@given(inst=instances(full_support=False, full_marginal=True), seed=seeds, center_scale=st.floats(0.0, 5.0))
@example(inst=build_instance(T6_EDGE[0]), seed=0, center_scale=5.0)
@example(inst=build_instance(T6_EDGE[1]), seed=1, center_scale=0.0)
@example(inst=build_instance(InstanceSpec(seed=0, N=1, K=8, beta=0.05, row_kind="uniform", full_marginal=True)),
         seed=0, center_scale=0.0)    # found by Hypothesis: field at rounding level (R ~ 1e-35)
@example(inst=build_instance(InstanceSpec(seed=0, N=1, K=29, beta=0.05, row_kind="uniform", temperature=0.001,
                                          full_marginal=True)), seed=0, center_scale=0.0)
# thorough run: T_1 = Tbar, so R = 3e-35 is rounding; the strict "derivative < 0" part fired on it
def test_t6_ledger_autograd_and_finite_differences(inst, seed, center_scale):
    T, W, w = inst.T, inst.witness, inst.weights
    b2k = W.scale ** 2 * W.kappa
    assert_ledger(T6.check(T, W, weights=inst.w))                       # at the best constant
    rng = np.random.default_rng(seed)
    center = rng.normal(size=W.d) * center_scale / W.scale
    assert_ledger(T6.check(T, W, center=center, weights=inst.w), "T6 ledger (arbitrary centre)")

    # autograd vs beta A (S - T), at a non-collapsed set of codes
    codes = center + rng.normal(size=(inst.N, W.d)) / W.scale
    kl, grad = torch_alignment(T, codes, W)
    g = wt.alignment_gradient(T, codes, W)
    # gradient entries <= 2 beta max|A|; float64 softmax/matmul error ~ K eps of that
    assert_close("T6 gradient vs torch autograd", g, grad, 1e-12 * inst.K * W.scale)

    # directional derivative along the field d_i = beta A (T_i - q) at the collapsed centre,
    # by central finite differences. h moves every logit by at most 1e-4 (M = max logit change
    # per unit h). Third logit-derivatives of a KL are O(1), so the truncation error is
    # <= h^2 M^3 / 6 ~ 2e-9 M; roundoff is ~ eps (terms of L) / h = 2e-12 M (log K + max|logit|),
    # which also covers fields at rounding level (uniform teachers: R ~ 1e-35). A wrong constant
    # (kappa, beta) changes the derivative by O(b2k R) and is caught wherever b2k R >> 1e-8 M.
    C = np.repeat(center[None], inst.N, 0)
    d = wt.escape_field(T, center, W)
    q = W.probs(center)[0]
    R = float(w @ ((T - q) ** 2).sum(axis=1))
    M = float(np.abs(W.scale * d @ W.A).max())
    if M > 0:
        h = 1e-4 / M
        Lp = float(w @ torch_alignment(T, C + h * d, W)[0])
        Lm = float(w @ torch_alignment(T, C - h * d, W)[0])
        fd = (Lp - Lm) / (2 * h)
        terms = np.log(inst.K) + float(np.abs(W.scale * center @ W.A).max())
        # -b2k R assumes sum_k (T_ik - q_k) = 0; A kills that component, so rows that sum to 1
        # only to rounding (~K eps) shift R by sum_i w_i (1^T (T_i - q))^2 / K (~1e-30).
        off_simplex = b2k * float(w @ ((T - q).sum(axis=1) ** 2)) / inst.K
        assert_close("T6 derivative along d (finite differences)", fd, -b2k * R,
                     M * (1e-8 + 1e-11 * (1 + terms)) + 1e-9 * b2k * R + 2 * off_simplex)

    # the one-step guarantee recomputed with torch, from the best constant
    tbar = inst.tbar
    c_bar = wt.best_constant_code(T, W, inst.w)
    R_bar = float(w @ ((T - tbar) ** 2).sum(axis=1))
    step = wt.escape_step(T, c_bar, W)                                  # eps = 2 / (beta^2 kappa)
    L1 = float(w @ torch_alignment(T, step, W)[0])
    info = wt.teacher_information(T, inst.w)
    assert_le("T6 step guarantee G_T >= R (torch)", R_bar, info - L1, 1e-10 * (1 + info + L1))


@given(K=st.integers(2, 64), seed=seeds, scale=st.one_of(st.just(0.0), st.floats(0.0, 700.0)))
@example(K=2, seed=0, scale=0.0)          # s = (1/2, 1/2): the bound is attained
def test_t6_hessian_eigenvalue_bound(K, seed, scale):
    """The Hessian of KL(t||softmax(a)) in a is diag(s) - s s^T (t-independent); its largest
    eigenvalue is <= 1/2 (torch.func.hessian route + eigvalsh)."""
    count_example()
    rng = np.random.default_rng(seed)
    a = torch.from_numpy(rng.normal(size=K) * scale)
    t = torch.from_numpy(rng.dirichlet(np.full(K, 0.5)))

    def kl(a_):
        ls = torch.log_softmax(a_, 0)
        return (torch.xlogy(t, t) - t * ls).sum()

    H = torch.func.hessian(kl)(a).numpy()
    s = torch.softmax(a, 0).numpy()
    assert_close("T6 Hessian == diag(s) - s s^T", H, np.diag(s) - np.outer(s, s), 1e-13)
    lam = float(np.linalg.eigvalsh(H).max())
    assert_le("T6 Hessian eigenvalue <= 1/2", lam, 0.5, 1e-13)


# ---------------------------------------------------------------------------------------
# Extreme witness scales: the overflow fallbacks of the step and its bound (mutmut: no proof
# drew a beta outside [0.05, 20], so the fallbacks for beta^2 outside float64 went unchecked)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [1e-100, 0.5, 1e150, 1.2e154, 1e160])
@pytest.mark.parametrize("K", [2, 3, 7])
def test_t6_step_and_bound_at_extreme_scales(beta, K):
    """The default step eps = 2 / (beta^2 kappa) against its exact value (mpmath, 200 bits): 4 EPS
    relative (3 roundings), or refused (ValueError naming witness_scale) where it is not a normal
    float64 (beta^2 kappa overflows: the step would be subnormal or 0). The bound L0 - eps beta^2
    kappa R + eps^2 beta^4 kappa^2 R / 4 at explicit steps, against its exact value from the same
    float L0 and R, on the ordinary path and on the fallback taken when beta^2 kappa overflows;
    1e-14 relative to the size of its terms |L0| + R (1 + x + x^2 / 4), x = eps beta^2 kappa (a
    few roundings of each term), or refused (ValueError naming step) where the exact bound is
    beyond float64. At the default step the bound is L0 - R (x = 2, the descent lemma's value)."""
    import mpmath as mp

    mp.mp.prec = 200
    W = wt.Witness(K, K, beta)
    b2k = mp.mpf(beta) ** 2 * mp.mpf(W.kappa)
    rng = np.random.default_rng(K)
    T = rng.dirichlet(np.full(K, 0.7), size=9)
    c = np.zeros(K)                                        # the collapsed centre: uniform q, logits 0
    R = wt.teacher_residual(T, np.full(K, 1.0 / K))
    L0 = wt.alignment_loss(T, np.repeat(c[None], 9, axis=0), W)
    exact = 2 / b2k
    if exact < np.finfo(np.float64).tiny:
        with pytest.raises(ValueError, match=re.escape(f"witness_scale {beta!r} is too large")):
            wt.escape_step_size(W)
    else:
        eps = wt.escape_step_size(W)
        assert abs(mp.mpf(eps) - exact) <= 4 * EPS * exact, (eps, exact)
        assert_close("T6 default step: bound == L0 - R", wt.escape_step_bound(T, c, W), L0 - R, 1e-14 * (abs(L0) + R))
    for step in (1e-300, 1e-250, 1e-200, 0.7):
        x = mp.mpf(step) * b2k
        want = mp.mpf(L0) - x * mp.mpf(R) + x ** 2 * mp.mpf(R) / 4
        if abs(want) > np.finfo(np.float64).max:
            with pytest.raises(ValueError, match="is too large: the bound"):
                wt.escape_step_bound(T, c, W, step=step)
            continue
        got = wt.escape_step_bound(T, c, W, step=step)
        assert abs(mp.mpf(got) - want) <= 1e-14 * (abs(L0) + R * (1 + x + x ** 2 / 4)), (step, got, want)


@pytest.mark.parametrize("beta", [1e-160, 1e-300])
def test_t6_a_step_beyond_float64_is_refused(beta):
    """beta = 1e-160: 2 / (beta^2 kappa) ~ 1e320 is no float64: refused, naming witness_scale."""
    with pytest.raises(ValueError, match=re.escape(f"witness_scale {beta!r} is too small")):
        wt.escape_step_size(wt.Witness(3, 3, beta))


def test_t6_teacher_residual_takes_q_as_a_vector():
    """R = sum_i w_i ||T_i - q||^2 (T6) with q given as (K,) or (1, K), the same number; q of
    3 dimensions or of the wrong length is refused naming q (mutmut: q's shape was not pinned)."""
    T = np.array([[0.2, 0.8], [0.6, 0.4]])
    q = np.array([0.5, 0.5])
    want = 0.5 * ((0.3 ** 2 + 0.3 ** 2) + (0.1 ** 2 + 0.1 ** 2))
    assert_close("T6 R by hand", wt.teacher_residual(T, q), want, 1e-15)
    assert wt.teacher_residual(T, q[None, :]) == wt.teacher_residual(T, q)
    with pytest.raises(ValueError, match="q"):
        wt.teacher_residual(T, q[None, None, :])
    with pytest.raises(ValueError, match="q has 3 entries"):
        wt.teacher_residual(T, np.full(3, 1 / 3))


def test_t6_step_at_the_edge_of_float64s_normal_range():
    """K = 2 (kappa = 2) and beta = 2^511: beta^2 kappa = 2^1023 exactly, so the default step
    2 / (beta^2 kappa) is 2^-1022, float64's smallest normal number, exactly. It is normal, so it
    is returned, not refused (mutmut: `eps < tiny` -> `<=` refused it; nothing drew the edge).
    One ulp of beta higher the step is subnormal and refused."""
    tiny = float(np.finfo(np.float64).tiny)
    assert wt.escape_step_size(wt.Witness(2, 2, 2.0 ** 511)) == tiny
    with pytest.raises(ValueError, match="is too large"):
        wt.escape_step_size(wt.Witness(2, 2, np.nextafter(2.0 ** 511, np.inf)))


@pytest.mark.parametrize("step", [None, 0.7, 1e150, 1e300])
def test_t6_bound_with_no_residual_is_the_loss_for_any_step(step):
    """R = sum_i w_i ||T_i - q||^2 = 0 (every teacher row is the centre's output q = S(c)): the
    escape field is 0, the step moves nothing, and the bound L0 - x R + x^2 R / 4 is L0 exactly for
    every step, even one whose x^2 overflows (mutmut: `R == 0` -> `R == 1` sent R = 0 through the
    formula, where 0 * inf is NaN and the step was refused)."""
    K = 3
    W = wt.Witness(K, K, 0.5)
    c = np.array([[0.3, -0.2, 0.1]])
    q = W.probs(c)
    T = np.repeat(q, 4, axis=0)
    assert wt.teacher_residual(T, q) == 0.0
    L0 = wt.alignment_loss(T, np.repeat(c, 4, axis=0), W)
    assert wt.escape_step_bound(T, c, W, step=step) == L0


@pytest.mark.parametrize("step", [0.0, -0.5])
def test_t6_step_must_be_positive(step):
    """T6 is about a step eps > 0 along the escape field (the descent lemma's bound needs it): a
    zero or negative step is refused naming ``step`` by escape_step and escape_step_bound
    (mutmut: `positive=True` -> False survived: no proof passed such a step)."""
    W = wt.Witness(3, 3, 1.0)
    T = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    c = np.zeros(3)
    for fn in (wt.escape_step, wt.escape_step_bound):
        with pytest.raises(ValueError, match="step"):
            fn(T, c, W, step=step)
