"""T10 Gaussian KL: KL(N(mu, diag sigma^2)||N(0, I)) >= (1/2)||mu||^2 with equality iff sigma = 1.

Routes: the ledger ``T10.check``; ``torch.distributions.kl_divergence`` of Normals in float64;
the per-coordinate gap sigma^2 - 1 - log sigma^2 recomputed with mpmath (no cancellation).
"""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.distributions import Normal, kl_divergence

import witness_theory as wt
from witness_theory.theorems import T10

from .strategies import assert_close, assert_ledger, seeds

torch.set_num_threads(1)


@st.composite
def gaussians(draw):
    """(mu, log_var) of shape (N, d): small ones element by element, big ones from a seed;
    some rows have log_var exactly 0 (sigma = 1), log-variances reach +-30."""
    N = draw(st.integers(1, 128))
    d = draw(st.integers(1, 72))
    if N * d <= 32:
        mu = draw(hnp.arrays(np.float64, (N, d), elements=st.floats(-1e3, 1e3)))
        lv = draw(hnp.arrays(np.float64, (N, d), elements=st.floats(-30, 30)))
    else:
        rng = np.random.default_rng(draw(seeds))
        mu = rng.normal(size=(N, d)) * draw(st.floats(0, 100))
        lv = rng.normal(size=(N, d)) * draw(st.floats(0, 10))
    unit = np.array(draw(st.lists(st.booleans(), min_size=N, max_size=N)))
    lv[unit] = 0.0
    # tiny nonzero log-variances (gap ~ lv^2 / 4, below the rounding of the KL) are kept on
    # purpose: the strict part once failed there (test_t10_ledger_strict_gap_near_sigma_one)
    small = np.array(draw(st.lists(st.booleans(), min_size=N, max_size=N)))
    lv[small & ~unit, 0] = draw(st.sampled_from([1e-8, -1e-12, 1e-100, 3e-200]))
    return mu, lv


@given(g=gaussians())
@example(g=(np.zeros((1, 1)), np.zeros((1, 1))))
@example(g=(np.ones((2, 3)), np.array([[0.0, 0.0, 0.0], [1e-3, 0.0, 0.0]])))
def test_t10_ledger_and_torch(g):
    mu, lv = g
    assert_ledger(T10.check(mu, lv))
    kl = wt.gaussian_kl(mu, lv)
    ref = kl_divergence(Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * lv))),
                        Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))).sum(-1).numpy()
    # torch evaluates var - 1 - log var with cancellation near sigma = 1 (absolute error ~ eps
    # per coordinate) and exp(lv) up to e^30: 1e-12 relative to the sum of term magnitudes.
    mag = (mu ** 2 + np.exp(lv) + 1 + np.abs(lv)).sum(axis=1)
    assert_close("T10 gaussian_kl vs torch", kl, ref, 1e-12 * float(mag.max()))


@given(lv=st.floats(-30, 30), mu=st.floats(-1e3, 1e3))
@example(lv=1e-12, mu=0.0)
@example(lv=2.1470147623616507e-34, mu=0.0)
def test_t10_gap_matches_mpmath(lv, mu):
    mp.mp.dps = 50
    got = float(wt.gaussian_kl(np.array([mu]), np.array([lv])))
    x = mp.mpf(lv)
    exact = mp.mpf(0.5) * (mp.mpf(mu) ** 2 + mp.exp(x) - 1 - x)
    # expm1(lv) - lv is accurate to a few ulps of its terms even for lv ~ 1e-12 (gap ~ 5e-25)
    assert_close("T10 gaussian_kl vs mpmath", got, float(exact), 1e-15 * float(1 + mp.mpf(mu) ** 2 + mp.exp(x) + abs(x)))
    assert_ledger(T10.check(np.array([[mu]]), np.array([[lv]])), "T10 ledger (scalar)")


def test_t10_ledger_strict_gap_near_sigma_one():
    mu = np.ones((2, 3))
    lv = np.array([[0.0, 0.0, 0.0], [1e-8, 0.0, 0.0]])
    assert T10.check(mu, lv).holds


def test_t10_default_log_var_and_one_row():
    """log_var defaults to 0 (sigma = 1): the KL is then (1/2) ||mu||^2 exactly as with zeros
    passed; a 1-D mu is one row (mutmut: no proof called gaussian_kl without log_var or on one row)."""
    mu = np.random.default_rng(3).normal(size=(5, 4))
    np.testing.assert_array_equal(wt.gaussian_kl(mu), wt.gaussian_kl(mu, np.zeros_like(mu)))
    np.testing.assert_array_equal(wt.gaussian_kl(mu), 0.5 * (mu ** 2).sum(axis=1))
    lv = np.random.default_rng(4).normal(size=(5, 4))
    one = wt.gaussian_kl(mu[0], lv[0])
    assert np.ndim(one) == 0 and one == wt.gaussian_kl(mu[:1], lv[:1])[0]


def test_t10_a_kl_beyond_float64_is_refused_naming_its_cause():
    """A KL beyond float64's range is refused, and the error names what overflowed: ``mu`` when
    a row's sum of mu_j^2 overflows, ``log_var`` otherwise. Rows are checked one by one: here no
    row's sum of squares overflows although the sum over all rows, or down a column, would, and
    the third row's log-variance of 800 is the cause (mutmut: which of the two errors was raised
    was not pinned, nor the axis of the row sums). Also for one 1-D row, and a 3-D mu is refused."""
    mu = np.array([[1e154, 0.0], [1e154, 0.0], [0.0, 0.0]])
    lv = np.array([[0.0, 0.0], [0.0, 0.0], [800.0, 0.0]])
    with pytest.raises(ValueError, match="log_var is too large"):
        wt.gaussian_kl(mu, lv)
    with pytest.raises(ValueError, match="log_var is too large"):
        wt.gaussian_kl(np.array([1.0, 2.0]), np.array([0.0, 800.0]))
    with pytest.raises(ValueError, match="mu"):
        wt.gaussian_kl(np.array([[1e154, 1.5e154]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="mu"):
        wt.gaussian_kl(np.array([1e200]))
    with pytest.raises(ValueError, match="mu"):
        wt.gaussian_kl(np.zeros((2, 2, 2)))
    ok = wt.gaussian_kl(mu[:2], lv[:2])                  # each row alone is finite: 5e307
    np.testing.assert_array_equal(ok, [5e307, 5e307])
