"""T4 closed-form inverse: S(mu*(p)) = p; S(mu) = p iff P^T mu = P^T mu*(p); mu*(p) is the min-norm code.

Routes: the ledger ``T4.check``; mu*(p) against the minimum-norm least-squares solution of
beta A^T mu = clr(p) (``numpy.linalg.lstsq``: an SVD route, independent of the closed form);
S(mu*(p)) recomputed with torch float64; uniqueness from random codes; minimum norm against
codes with orthogonal components; mpmath (50 digits) for clr and exact_code with entries down
to 1e-300 (log-odds ~ 690).
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import witness_theory as wt
from witness_theory.theorems import T4

from .strategies import InstanceSpec, assert_close, assert_le, assert_ledger, build_instance, count_example, instances, seeds

torch.set_num_threads(1)


@given(inst=instances(full_support=True), seed=seeds)
@example(inst=build_instance(InstanceSpec(seed=1, N=128, K=64, extra_d=8, beta=0.05, floor=1e-12,
                                          temperature=1e-3)), seed=0)
@example(inst=build_instance(InstanceSpec(seed=2, N=3, K=2, beta=20.0, floor=1e-12, row_kind="near_degenerate")), seed=1)
def test_t4_ledger_lstsq_and_uniqueness(inst, seed):
    T, W = inst.T, inst.witness
    rng = np.random.default_rng(seed)
    probe = rng.normal(size=(4, W.d)) * rng.uniform(0.1, 5.0) / W.scale
    assert_ledger(T4.check(T, W, probe))

    mu_star = wt.exact_code(T, W)                                   # (N, d)
    clr_t = np.log(T) - np.log(T).mean(axis=1, keepdims=True)
    # SVD route: min-norm solution of (beta A^T) mu = clr(p). A^T has singular values sqrt(kappa)
    # (condition number 1 on its range), so lstsq is accurate to ~eps * |clr| * K.
    lst = np.linalg.lstsq(W.scale * W.A.T, clr_t.T, rcond=None)[0].T
    mag = float(np.abs(clr_t).max()) / W.scale
    assert_close("T4 mu* == lstsq min-norm solution", mu_star, lst, 1e-12 * inst.K * (1 + mag))

    # S(mu*(p)) = p via torch, compared in log space (entries down to 1e-12)
    log_s = torch.log_softmax(torch.from_numpy(W.scale * mu_star @ W.A), dim=1).numpy()
    assert_close("T4 log S(mu*(p)) == log p (torch)", log_s, np.log(T),
                 1e-12 * inst.K * (1 + float(np.abs(np.log(T)).max())))

    # Uniqueness: any code mu with full-support S(mu) has P^T mu = P^T mu*(S(mu)).
    s = W.probs(probe)
    back = wt.exact_code(s, W)
    assert_close("T4 P^T mu == P^T mu*(S(mu))", probe @ W.P, back @ W.P,
                 1e-12 * inst.K * (1 + float(np.abs(probe).max()) * math.sqrt(W.d)))

    # Minimum norm: adding a component orthogonal to the frame keeps S and increases the norm.
    ortho = rng.normal(size=mu_star.shape)
    ortho -= (ortho @ W.P) @ W.P.T
    moved = mu_star + ortho
    assert_close("T4 orthogonal moves are invisible", W.log_probs(moved), np.log(T),
                 1e-12 * inst.K * (1 + float(np.abs(np.log(T)).max()) + float(np.abs(ortho).max()) * W.scale))
    assert_le("T4 mu* is min-norm", float((mu_star ** 2).sum()), float((moved ** 2).sum()),
              1e-12 * (1 + float((mu_star ** 2).sum())))


@st.composite
def extreme_full_rows(draw, max_K=6):
    """One full-support row with entries 10^e, e in [-300, -1], the largest absorbing the rest."""
    K = draw(st.integers(2, max_K))
    exps = draw(st.lists(st.floats(-300, -1), min_size=K - 1, max_size=K - 1))
    small = [10.0 ** e for e in exps]
    j = draw(st.integers(0, K - 1))
    row = small[:j] + [1.0 - math.fsum(small)] + small[j:]
    return np.array(row)


@given(p=extreme_full_rows(), beta=st.floats(0.05, 20.0), seed=seeds)
@example(p=np.array([1e-300, 1.0]), beta=1.0, seed=0)
def test_clr_and_exact_code_extremes_match_mpmath(p, beta, seed):
    count_example()
    mp.mp.dps = 50
    K = p.size
    rng = np.random.default_rng(seed)
    frame = np.linalg.qr(rng.normal(size=(K + 1, K - 1)))[0]
    W = wt.Witness(K, K + 1, beta, frame)
    logs = [mp.log(mp.mpf(x)) for x in p]
    mean = mp.fsum(logs) / K
    clr_mp = [float(x - mean) for x in logs]
    clr_f = wt.clr(p)
    # |log p| <= 691; float64 log is correctly rounded to ~1 ulp: 1e-13 absolute is ~1e3 ulps of 691
    assert_close("mpmath clr", clr_f, clr_mp, 1e-12 * (1 + 691))
    c = mp.mpf(K - 1) / (mp.mpf(K) * mp.mpf(beta))
    mu_mp = [float(c * mp.fsum(mp.mpf(W.A[j, k]) * (logs[k] - mean) for k in range(K))) for j in range(W.d)]
    mu_f = wt.exact_code(p, W)
    assert_close("mpmath exact_code", mu_f, mu_mp, 1e-12 * K * (1 + 691 / beta))
    # and the witness maps it back to p (log space)
    assert_close("mpmath S(mu*(p)) == p (log)", W.log_probs(mu_f)[0], [float(x) for x in logs], 1e-12 * K * (1 + 691))


def test_t4_has_no_code_for_a_row_with_a_zero_entry():
    """T4's domain is full-support rows: S(mu) > 0 for every finite code, so no code maps to a p with
    p_k = 0 and exact_code must refuse such a p (and exact_embedding such a teacher row), naming the
    argument the caller passed and full support (mutmut: without the check, clr_from_log's error about
    an infinite ``log_p`` came instead: an argument the caller never passed, and no fix)."""
    W = wt.Witness(3, 2, 1.0)
    for p in (np.array([0.5, 0.5, 0.0]), np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])):
        with pytest.raises(ValueError, match="^p row .* full support"):
            wt.exact_code(p, W)
    with pytest.raises(ValueError, match="^teacher row 1 .* full support"):   # named as the caller's argument
        wt.exact_embedding(np.array([[0.2, 0.3, 0.5], [0.0, 0.4, 0.6]]), W)
    with pytest.raises(ValueError, match="^p has K = 4 outcomes"):              # and a p of another K
        wt.exact_code(np.full(4, 0.25), W)
