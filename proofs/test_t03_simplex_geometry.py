"""T3 simplex geometry: V^T V = kappa(I - 11^T/K), V V^T = kappa I, A^T A, A A^T, centred logits,
clr(S(mu)) = beta A^T mu.

Routes: the ledger ``T3.check`` (random orthonormal frames from QR of a Gaussian, codes whose
logits reach several hundred); pairwise vertex inner products -1/(K-1) directly; the vertices
against ``scipy.linalg.helmert``; clr of the witness output recomputed with torch float64.
The exact (sympy) version for K = 2..8 is in test_symbolic.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.linalg import helmert

import witness_theory as wt
from witness_theory.theorems import T3

from .strategies import InstanceSpec, assert_close, assert_ledger, build_instance, instances, seeds

torch.set_num_threads(1)


@given(inst=instances(full_support=False), seed=seeds, code_scale=st.floats(0.0, 50.0))
@example(inst=build_instance(InstanceSpec(seed=1, N=1, K=64, extra_d=8, beta=20.0)), seed=0, code_scale=50.0)
@example(inst=build_instance(InstanceSpec(seed=2, N=1, K=2, beta=0.05, frame_kind="default")), seed=1, code_scale=0.0)
def test_t3_ledger_and_direct_geometry(inst, seed, code_scale):
    W, K = inst.witness, inst.K
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(8, W.d)) * code_scale / W.scale     # logits up to ~ code_scale * sqrt(kappa)
    assert_ledger(T3.check(W, mu))

    V = W.V
    # the public A = P V (witness_matrix) is the witness's own A: the same product, bit for bit;
    # with no frame, P is the first K-1 coordinates of R^d (default_frame)
    np.testing.assert_array_equal(wt.witness_matrix(K, W.d, W.P), W.A)
    np.testing.assert_array_equal(wt.witness_matrix(K, W.d), np.eye(W.d, K - 1) @ V)
    # Direct: unit columns, pairwise <v_j, v_k> = -1/(K-1); entries are O(1), sums of K-1
    # products: 1e-13 absolute is ~1e3 unit roundoffs of headroom.
    G = V.T @ V
    off = G[~np.eye(K, dtype=bool)]
    assert_close("T3 unit vertices", np.diag(G), np.ones(K), 1e-13)
    if K > 1 and off.size:
        assert_close("T3 <v_j,v_k> = -1/(K-1)", off, np.full(off.size, -1.0 / (K - 1)), 1e-13)
    # scipy's Helmert matrix (rows orthonormal, orthogonal to 1): V = sqrt(K/(K-1)) H up to row signs
    H = helmert(K)
    signs = np.sign((V * H).sum(axis=1))[:, None]
    assert_close("T3 V vs scipy helmert", V, signs * np.sqrt(K / (K - 1)) * H, 1e-13)
    # frame orthonormal, A = P V
    assert_close("T3 A == P V", W.A, W.P @ V, 1e-13)

    # clr(S(mu)) recomputed with torch: log_softmax minus its mean equals beta A^T mu exactly
    # in exact arithmetic; float64 error ~ eps * |logits| * K.
    logits = W.scale * mu @ W.A
    log_s = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    clr_s = log_s - log_s.mean(axis=1, keepdims=True)
    assert_close("T3 clr(S(mu)) == beta A^T mu (torch)", clr_s, logits, 1e-13 * K * (1 + np.abs(logits).max()))
    assert_close("T3 witness logits centred", logits.sum(axis=1), 0.0, 1e-13 * K * (1 + np.abs(logits).max()))


def test_t3_clr_of_one_row_is_that_row_of_the_batch():
    """clr of a 1-D distribution is 1-D and equals the batch form's row (mutmut: no proof passed
    one row)."""
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=3)
    batch = wt.clr(p)
    for i in range(3):
        one = wt.clr(p[i])
        assert one.shape == (5,)
        np.testing.assert_array_equal(one, batch[i])


def test_t3_clr_from_log_beyond_float64_sums():
    """clr_from_log on log-values whose row sum overflows float64 (entries near -1.7e308): the
    row mean is then taken as max|lp| * mean(lp / max|lp|); against mpmath's exact mean, per row,
    on a 2-D batch whose rows have different scales (one all-zero row, one row with max|lp| < 1,
    one of entries ~1e-10) and on one 1-D row (mutmut: the overflow path and the axis of each
    reduction were unreached). Tolerance: 4 ulps of the row's own largest |entry| (one scaled mean,
    one product, one difference); scaling a small row by the batch's largest entry instead makes
    it subnormal and fails this."""
    import mpmath as mp
    mp.mp.dps = 60
    lp = np.array([[-1.7e308, -1.6e308, 0.0],
                   [0.5, -0.25, 0.0],
                   [0.0, 0.0, 0.0],
                   [1e-10, -2e-10, 3e-10],
                   [-3.0, 1e300, 7.0]])

    def exact(row):
        m = mp.fsum(mp.mpf(x) for x in row) / len(row)
        return np.array([float(mp.mpf(x) - m) for x in row])

    got = wt.clr_from_log(lp)
    assert got.shape == lp.shape
    for i, row in enumerate(lp):
        assert_close(f"clr_from_log row {i} vs mpmath", got[i], exact(row), 4 * np.spacing(np.abs(row).max()))
    one = wt.clr_from_log(lp[0])
    assert one.shape == (3,)
    assert_close("clr_from_log of one row", one, exact(lp[0]), 4 * np.spacing(1.7e308))
    assert_close("clr_from_log of a moderate row", wt.clr_from_log(lp[1]), exact(lp[1]), 4 * np.spacing(1.0))
    np.testing.assert_array_equal(wt.clr_from_log(np.zeros((1, 1))), np.zeros((1, 1)))      # K = 1: clr is 0
    assert wt.clr_from_log(np.zeros((0, 3))).shape == (0, 3)                                  # no rows: no rows
    with pytest.raises(ValueError, match="log_p"):
        wt.clr_from_log(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="log_p has no entries"):
        wt.clr_from_log(np.zeros((2, 0)))


@pytest.mark.parametrize("K", [2, 3, 7])
def test_t3_witness_defaults_and_copied_geometry(K):
    """Witness(K) without d or frame is the (K-1)-dimensional witness on the closed-form frame
    (default_frame(K-1, K)), and writing into its A, P or V does not change it: they are copies
    (mutmut: the default d = K-1 -> K+1, K-2 or None survived: every proof passed d. The internal
    arrays' `writeable = False` -> True is equivalent for the public API, which hands out copies)."""
    W = wt.Witness(K)
    assert W.d == K - 1
    np.testing.assert_array_equal(W.P, wt.default_frame(K - 1, K))
    np.testing.assert_array_equal(W.A, wt.witness_matrix(K))
    for name in ("A", "P", "V"):
        before = getattr(W, name)
        getattr(W, name)[0, 0] += 1.0
        np.testing.assert_array_equal(getattr(W, name), before)
