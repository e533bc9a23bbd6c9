"""TorchWitness against the float64 NumPy reference (witness_theory): values and gradients.

Tolerances (why these sizes):
- float64: 1e-12 relative to the size of the quantity (plus 1e-12 absolute). Both sides are the
  same float64 formula evaluated in a different order (torch vs NumPy/scipy log_softmax), so
  they differ by a few unit roundoffs (~1e-16) times the logit scale; 1e-12 leaves ~1e3
  headroom for witness_scale * |mu| up to ~40 while any wrong constant or CE-for-KL is O(1e-2).
- float32: 2e-5 relative (plus 2e-5 absolute): float32 unit roundoff is 6e-8; log_softmax over
  K <= 12 logits of size <= 40 accumulates a few hundred roundoffs relative to the logits.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import witness_theory as wt
from empirical.models.vae import gaussian_kl_terms
from empirical.models.witness_head import TorchWitness

torch.set_num_threads(1)

TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def _instance(seed: int, K: int, extra_d: int, scale: float, n: int = 40, code_scale: float = 1.5, zeros=False):
    rng = np.random.default_rng(seed)
    d = K - 1 + extra_d
    T = rng.dirichlet(np.full(K, 0.5), size=n)
    if zeros:  # one-hot rows are valid teachers for L_TS (0 log 0 = 0)
        T[: n // 4] = np.eye(K)[rng.integers(0, K, n // 4)]
    mu = rng.normal(scale=code_scale, size=(n, d))
    return T, mu, wt.Witness(K, d=d, scale=scale)


def _close(got: torch.Tensor, want: np.ndarray, dtype) -> None:
    got = got.detach().double().numpy()
    tol = TOL[dtype]
    err = np.abs(got - want)
    bound = tol * (1.0 + np.abs(want).max())
    assert err.max() <= bound, f"max error {err.max():.3g} > {bound:.3g} ({dtype})"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), K=st.integers(2, 12), extra_d=st.integers(0, 6),
       scale=st.floats(0.2, 8.0), code_scale=st.sampled_from([0.01, 1.0, 5.0]), zeros=st.booleans())
@example(seed=0, K=2, extra_d=0, scale=8.0, code_scale=5.0, zeros=True)  # sharp witness, one-hot rows
def test_values_and_gradients_match_reference(dtype, seed, K, extra_d, scale, code_scale, zeros):
    T, mu, witness = _instance(seed, K, extra_d, scale, code_scale=code_scale, zeros=zeros)
    head = TorchWitness(witness, dtype=dtype)
    mu_t = torch.tensor(mu, dtype=dtype, requires_grad=True)
    T_t = torch.tensor(T, dtype=dtype)

    _close(head.log_probs(mu_t), witness.log_probs(mu), dtype)
    loss = head.alignment_loss(mu_t, T_t)
    _close(loss, np.array(wt.alignment_loss(T, mu, witness)), dtype)
    # d/dmu_i of mean_i KL(T_i || S(mu_i)) = (1/N) beta A (S(mu_i) - T_i)
    (grad,) = torch.autograd.grad(loss, mu_t)
    _close(grad * mu.shape[0], wt.alignment_gradient(T, mu, witness), dtype)


def test_weighted_loss_matches_reference():
    T, mu, witness = _instance(3, 6, 2, 4.0)
    w = np.random.default_rng(3).uniform(0.1, 2.0, size=T.shape[0])
    head = TorchWitness(witness, dtype=torch.float64)
    got = head.alignment_loss(torch.tensor(mu), torch.tensor(T), torch.tensor(w))
    want = wt.alignment_loss(T, mu, witness, weights=w)
    assert abs(float(got) - want) <= 1e-12 * (1 + abs(want))


def test_kl_not_cross_entropy():
    """Negative control: cross-entropy differs from KL by sum_i w_i H(T_i), far above tolerance."""
    T, mu, witness = _instance(4, 5, 0, 4.0)
    head = TorchWitness(witness, dtype=torch.float64)
    ce = float(-(torch.tensor(T) * head.log_probs(torch.tensor(mu))).sum(1).mean())
    kl = float(head.alignment_loss(torch.tensor(mu), torch.tensor(T)))
    assert abs(kl - wt.alignment_loss(T, mu, witness)) <= 1e-12 * (1 + abs(kl))
    assert abs(ce - wt.alignment_loss(T, mu, witness)) > 1e-3   # the CE mistake would be caught


def test_witness_is_fixed_buffers_not_parameters():
    witness = wt.Witness(5, d=8, scale=4.0)
    head = TorchWitness(witness)
    assert list(head.parameters()) == []
    assert set(head.state_dict()) == {"A", "frame"}
    assert head.witness_scale == 4.0
    np.testing.assert_array_equal(head.A.double().numpy(), witness.A.astype(np.float32).astype(np.float64))
    # one optimiser step on an encoder leaves the witness untouched
    enc = torch.nn.Linear(3, 8)
    opt = torch.optim.SGD(list(enc.parameters()) + list(head.parameters()), lr=1.0)
    A0 = head.A.clone()
    T = torch.softmax(torch.randn(4, 5), 1)
    head.alignment_loss(enc(torch.randn(4, 3)), T).backward()
    opt.step()
    assert torch.equal(head.A, A0)


def test_bad_shapes_raise():
    head = TorchWitness(wt.Witness(4, d=5, scale=1.0))
    with pytest.raises(ValueError, match="mu must have shape"):
        head.log_probs(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="teacher batch"):
        head.alignment_loss(torch.zeros(3, 5), torch.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="witness_theory.Witness"):
        TorchWitness("not a witness")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gaussian_kl_terms_match_reference(dtype):
    rng = np.random.default_rng(5)
    mu, lv = rng.normal(size=(30, 7)), rng.normal(scale=2.0, size=(30, 7))
    lv[0] = 0.0  # sigma = 1 exactly: KL = (1/2)||mu||^2 (T10 equality case)
    got = gaussian_kl_terms(torch.tensor(mu, dtype=dtype), torch.tensor(lv, dtype=dtype)).sum(1)
    _close(got, wt.gaussian_kl(mu, lv), dtype)
