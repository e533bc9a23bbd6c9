"""T2 certificate soundness: constant codes have L_TS >= I_T; G_T <= I_T with equality iff S(mu_i) = T_i.

Routes: the ledger ``T2.check``; for a constant code c, L_TS(c) - I_T = KL(Tbar||S(c)) recomputed
with scipy (``rel_entr`` and a torch float64 softmax for S(c)); any latent-only predictor h(z)
(a distribution not depending on x) loses at least I_T; exact codes reach G_T = I_T.
"""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import example, given
from scipy.special import rel_entr

import witness_theory as wt
from witness_theory.theorems import T2

from .strategies import (
    InstanceSpec,
    assert_close,
    assert_le,
    assert_ledger,
    build_instance,
    code_kinds,
    codes_for,
    instances,
    seeds,
)

torch.set_num_threads(1)


@given(inst=instances(full_support=False), seed=seeds, kind=code_kinds)
@example(inst=build_instance(InstanceSpec(seed=1, N=128, K=64, beta=20.0, one_hot_fraction=0.3)), seed=0, kind="constant")
@example(inst=build_instance(InstanceSpec(seed=2, N=1, K=2, beta=0.05)), seed=1, kind="gaussian")
def test_t2_ledger_and_constant_code_gap(inst, seed, kind):
    T, w = inst.T, inst.weights
    codes = codes_for(inst, seed, kind)
    assert_ledger(T2.check(T, codes, inst.witness, inst.w))

    # Independent route: for the constant code c (the first code), S(c) via torch float64,
    # L_TS(c) - I_T == KL(Tbar || S(c)) (T1 with q = S(c)) >= 0. Terms are <= |log S| ~
    # beta |A^T c| + log K; 1e-10 relative to that magnitude is rounding headroom.
    c = codes[:1]
    logits = torch.from_numpy(inst.beta * c @ inst.witness.A)
    s = torch.softmax(logits, dim=1).numpy()[0]
    log_s = torch.log_softmax(logits, dim=1).numpy()[0]
    const_loss = wt.alignment_loss(T, np.repeat(c, inst.N, 0), inst.witness, inst.w)
    info = wt.teacher_information(T, inst.w)
    kl_bar = float(rel_entr(inst.tbar, s).sum())
    mag = 1.0 + float(np.abs(log_s).max()) + info
    assert_close("T2 L_TS(const) - I_T == KL(Tbar||S(c))", const_loss - info, kl_bar, 1e-10 * mag)
    assert_le("T2 constant code: G_T <= 0", wt.certificate_margin(T, np.repeat(c, inst.N, 0), inst.witness, inst.w),
              0.0, 1e-10 * mag)

    # The best constant code mu*(Tbar) (when Tbar > 0): margin exactly 0 up to rounding.
    if np.all(inst.tbar > 0):
        cbar = np.repeat(wt.best_constant_code(T, inst.witness, inst.w)[None], inst.N, 0)
        assert_le("T2 best constant code: G_T <= 0", wt.certificate_margin(T, cbar, inst.witness, inst.w),
                  0.0, 1e-10 * (1 + info + float(np.abs(np.log(inst.tbar)).max())))

    # Any latent-only predictor h(z): E_x E_z KL(T||h(z)) = E_z [sum_i w_i KL(T_i||h(z))] >= I_T.
    rng = np.random.default_rng(seed)
    for _ in range(3):
        h = rng.dirichlet(np.full(inst.K, 0.5)) + 1e-12
        h /= h.sum()
        loss_h = float(w @ wt.kl_rows(T, np.log(h)))
        assert_le("T2 latent-only predictor loses >= I_T", info, loss_h, 1e-10 * (1 + loss_h))


@given(inst=instances(full_support=True))
def test_t2_equality_iff_exact(inst):
    """Exact codes give S(mu_i) = T_i, so G_T = I_T (the equality case)."""
    T = inst.T
    codes = wt.exact_embedding(T, inst.witness)
    assert_ledger(T2.check(T, codes, inst.witness, inst.w), "T2 ledger (exact codes)")
    info = wt.teacher_information(T, inst.w)
    # L_TS of exact codes is a sum of rounding errors of log S - log T (~1e-13 * |log T|)
    mag = 1.0 + float(np.abs(np.log(T)).max())
    assert_close("T2 G_T == I_T at exact codes", wt.certificate_margin(T, codes, inst.witness, inst.w), info,
                 1e-10 * mag)
