"""T8 quantitative non-collapse: G_T <= beta sqrt(2 kappa) E||P^T(mu - mbar)|| <= beta sqrt(2 kappa) sqrt(tr Cov).

Routes: the ledger ``T8.check`` over Gaussian, constant, near-exact and jittered codes; the
bound recomputed here with numpy (weighted centring, norms); G_T recomputed with torch;
the certified spread inverted back to a margin.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given
from scipy.special import rel_entr

import witness_theory as wt
from witness_theory.theorems import T8

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
@example(inst=build_instance(InstanceSpec(seed=1, N=128, K=64, extra_d=8, beta=20.0, floor=1e-12)), seed=0, kind="exact")
@example(inst=build_instance(InstanceSpec(seed=2, N=1, K=2, beta=0.05)), seed=0, kind="constant")
def test_t8_ledger_and_direct_bound(inst, seed, kind):
    T, W, w = inst.T, inst.witness, inst.weights
    mu = codes_for(inst, seed, kind)
    assert_ledger(T8.check(T, mu, W, inst.w))

    z = mu @ W.P
    zc = z - w @ z
    c = W.scale * math.sqrt(2 * W.kappa)
    b1 = c * float(w @ np.linalg.norm(zc, axis=1))
    b2 = c * math.sqrt(float(w @ (zc ** 2).sum(axis=1)))
    got1, got2 = wt.size_bound(mu, W, inst.w)
    assert_close("T8 bound (mean norm) recomputed", got1, b1, 1e-12 * (1 + b1))
    assert_close("T8 bound (trace) recomputed", got2, b2, 1e-12 * (1 + b2))
    log_s = torch.log_softmax(torch.from_numpy(W.scale * mu @ W.A), dim=1).numpy()
    loss = float(w @ (rel_entr(T, 1.0) - np.where(T > 0, T * log_s, 0.0)).sum(axis=1))
    G = wt.teacher_information(T, inst.w) - loss
    mag = 1.0 + float(np.abs(log_s).max())
    assert_close("T8 G_T recomputed (torch)", wt.certificate_margin(T, mu, W, inst.w), G, 1e-10 * mag)
    assert_le("T8 G_T <= bound", G, b1, 1e-10 * mag)
    assert_le("T8 mean-norm bound <= trace bound", b1, b2, 1e-12 * (1 + b2))
    if G > 0:
        spread = wt.certified_spread(G, W)
        assert_close("T8 certified spread inverts", W.scale * math.sqrt(2 * W.kappa * spread), G, 1e-12 * (1 + G))


@pytest.mark.parametrize("n", [4096, 4097, 2 * 4096 + 123])
def test_t8_blocked_sums_beyond_one_block(n):
    """The row blocks of the kernel (512 rows) and of the size bound and weighted mean (4,096
    rows): the proofs above draw N <= 128, so only here do the loops run over several blocks
    (mutmut: the block loops' mutants survived, in certify's kernel and in size_bound). Against one-shot
    float64 numpy on all rows: the weighted mean to 1e-13 of sum |w x| (pairwise sums, O(log N) ulps, against math.fsum of the
    same products), the two size bounds and the alignment loss to 1e-12 relative (sums of N
    positive terms in another order)."""
    rng = np.random.default_rng(n)
    K, d = 4, 6
    T = rng.dirichlet(np.full(K, 0.6), size=n)
    w = rng.uniform(0.2, 1.0, n)
    w /= w.sum()
    W = wt.Witness(K, d, 2.0, np.linalg.qr(rng.normal(size=(d, K - 1)))[0])
    mu = rng.normal(size=(n, d))
    from witness_theory.core import weighted_mean
    got = weighted_mean(w, mu)
    exact = np.array([math.fsum(w * mu[:, j]) for j in range(d)])
    assert_close("weighted mean over blocks == fsum", got, exact, 1e-13 * float(np.abs(w[:, None] * mu).sum(axis=0).max()))
    cert = wt.certify(T, mu, W, w)
    z = mu @ W.P
    centred = z - w @ z
    c = W.scale * math.sqrt(2 * W.kappa)
    direct = (c * float(w @ np.linalg.norm(centred, axis=1)), c * math.sqrt(float(w @ (centred ** 2).sum(axis=1))))
    assert_close("T8 size bounds over blocks", np.array([cert.size_bound, cert.size_bound_trace]), np.array(direct),
                 1e-12 * max(direct))
    # size_bound itself (the blocked loop of _size_bound_from_coordinates; certify has its own kernel)
    assert_close("T8 size_bound() over blocks", np.array(wt.size_bound(mu, W, w)), np.array(direct),
                 1e-12 * max(direct))
    logits = W.scale * (mu @ W.A)
    log_s = logits - logits.max(axis=1, keepdims=True)
    log_s -= np.log(np.exp(log_s).sum(axis=1, keepdims=True))
    loss = float(w @ (rel_entr(T, np.exp(log_s)).sum(axis=1)))
    assert_close("L_TS over kernel blocks", cert.alignment_loss, loss, 1e-12 * (1 + loss))
    assert (cert.n, cert.K, cert.d, cert.witness_scale) == (n, K, d, 2.0)   # the record names its instance
