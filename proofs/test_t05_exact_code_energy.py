"""T5 energy of the exact code: (1/2)||mu*(p)||^2 = ((K-1)/(2K beta^2))||clr(p)||^2; zero alignment
error costs at least that energy, and the Gaussian KL at least that energy.

Routes: the ledger ``T5.check`` (with codes mu*(T_i) + a component orthogonal to the frame, which
still have zero alignment error, and random log-variances); the energy recomputed from a clr
computed here with numpy and from the lstsq min-norm codes; the Gaussian KL with torch.distributions.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence

import witness_theory as wt
from witness_theory.theorems import T5

from .strategies import InstanceSpec, assert_close, assert_le, assert_ledger, build_instance, instances, seeds

torch.set_num_threads(1)
EPS = float(np.finfo(np.float64).eps)


@given(inst=instances(full_support=True), seed=seeds, ortho_scale=st.floats(0.0, 10.0))
@example(inst=build_instance(InstanceSpec(seed=1, N=128, K=64, extra_d=8, beta=0.05, floor=1e-12, temperature=1e-3)),
         seed=0, ortho_scale=10.0)
def test_t5_ledger_and_energy_routes(inst, seed, ortho_scale):
    T, W, w = inst.T, inst.witness, inst.weights
    rng = np.random.default_rng(seed)
    mu_star = wt.exact_embedding(T, W)
    ortho = rng.normal(size=mu_star.shape)
    ortho -= (ortho @ W.P) @ W.P.T
    codes = mu_star + ortho_scale / W.scale * ortho          # zero alignment error, more energy
    log_var = rng.normal(size=codes.shape) * rng.uniform(0, 3)
    assert_ledger(T5.check(T, W, inst.w, codes=codes, log_var=log_var))
    assert_ledger(T5.check(T, W, inst.w), "T5 ledger (no codes)")

    # Direct: clr with numpy, the energy formula written out here.
    log_t = np.log(T)
    clr_t = log_t - log_t.mean(axis=1, keepdims=True)
    E_T = float(w @ (clr_t ** 2).sum(axis=1))
    formula = (inst.K - 1) / (2 * inst.K * W.scale ** 2) * E_T
    energy = float(0.5 * w @ (mu_star ** 2).sum(axis=1))
    # relative rounding of sums of K squares of |clr| <= ~700: 1e-12 relative
    assert_close("T5 exact-code energy formula", energy, formula, 1e-12 * (1 + formula))
    assert_close("T5 exact_code_energy()", wt.exact_code_energy(T, W, inst.w), formula, 1e-12 * (1 + formula))
    assert_close("T5 logodds_energy()", wt.logodds_energy(T, inst.w), E_T, 1e-12 * (1 + E_T))
    # zero-alignment codes cost at least the exact energy; Gaussian KL (torch) at least that
    assert_le("T5 zero-error codes energy >= exact", formula, float(0.5 * w @ (codes ** 2).sum(axis=1)),
              1e-12 * (1 + formula))
    kl = kl_divergence(Normal(torch.from_numpy(codes), torch.from_numpy(np.exp(0.5 * log_var))),
                       Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))).sum(-1).numpy()
    mean_kl = float(w @ kl)
    assert_le("T5 mean KL >= exact energy", formula, mean_kl, 1e-12 * (1 + mean_kl))


def test_t5_code_energy_of_one_row_no_features_and_bad_shapes():
    """code_energy (1/2) sum_i w_i ||mu_i||^2: a 1-D code is one row; codes with no latent
    dimensions have energy 0; codes with no rows and 3-D codes are refused naming codes (mutmut:
    these shapes were not pinned)."""
    mu = np.array([3.0, -4.0])
    assert wt.code_energy(mu) == 12.5
    assert wt.code_energy(mu[None, :]) == 12.5
    assert wt.code_energy(mu, weights=[1.0]) == 12.5     # one row, so one weight (not d of them)
    assert wt.code_energy(np.zeros((3, 0))) == 0.0
    with pytest.raises(ValueError, match="codes has no rows"):
        wt.code_energy(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="codes"):
        wt.code_energy(np.zeros((2, 2, 2)))


# ---------------------------------------------------------------------------------------
# Extreme witness scales (mutmut: exact_code_energy's fallback for beta^2 outside float64,
# energy / beta / beta, was reached by no proof; the T6 extreme-scale proof covers the step only)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [1e-200, 1e-160, 1e-155, 1e-154, 0.5, 1e150, 1e155, 1e160, 1e200])
@pytest.mark.parametrize("K", [2, 3, 7])
def test_t5_energy_at_extreme_scales(beta, K):
    """((K-1)/(2 K beta^2)) E_T against its exact value (mpmath, 200 bits) from the same float
    E_T, on both paths: beta^2 a normal float64, or beta^2 under/overflowed (beta below ~1e-154 or
    above ~1e154), where the energy is divided by beta twice. The tolerance is 4 EPS relative (at
    most four roundings: the constant, the product and two divisions, or the square and its
    division) plus two subnormal spacings 2^-1074 (beta = 1e160: the exact value ~1e-320 is
    subnormal; each of the last two roundings is then off by up to half a spacing). Where the exact
    value exceeds float64's largest, +inf is the correctly rounded value (the docstring's promise;
    beta = 1e-160 gives ~1e320)."""
    import mpmath as mp

    mp.mp.prec = 200
    W = wt.Witness(K, K, beta)
    T = np.random.default_rng(K).dirichlet(np.full(K, 0.7), size=9)
    E_T = wt.logodds_energy(T)
    exact = mp.mpf(K - 1) / (2 * K * mp.mpf(beta) ** 2) * mp.mpf(E_T)
    got = wt.exact_code_energy(T, W)
    if exact > mp.mpf(np.finfo(np.float64).max) * (1 + EPS):     # beyond float64 after rounding
        assert got == np.inf, (beta, K, got, exact)
    else:
        assert abs(mp.mpf(got) - exact) <= 4 * EPS * exact + 2 * mp.mpf(2) ** -1074, (beta, K, got, exact)
    if 1e-150 < beta < 1e150:                              # the ordinary path agrees with the written formula
        assert_close("T5 exact_code_energy() at normal beta", got, (K - 1) / (2 * K * beta ** 2) * E_T, 4 * EPS * got)
