"""certify itself under proof: the number every experiment reports is the code the proofs check.

``witness_theory.certify`` and the scalar functions (teacher_information, alignment_loss,
escape_force) share one kernel (``core._witness_rows``) and one precomputed ``Teacher``.
Routes compared here, on ``certify``'s own output:

- I_T as H(Tbar) - sum_i w_i H(T_i) with ``scipy.stats.entropy``;
- L_TS with a torch float64 log-softmax and ``scipy.special.rel_entr``;
- the escape force with torch autograd (the per-sample gradient of KL(T_i || S(mu_i)));
- energies and both T8 size bounds with plain NumPy in the frame P (not through the logits);
- G_T at 40 digits with mpmath from the same float64 inputs: |G_float - G_exact| <= float_error,
  the a-priori error bound that decides the verdict;
- constant codes (a random one and the best constant mu*(Tbar), margin exactly <= 0) are never
  "certified", for N up to 10^6 rows and near-degenerate teachers.

A negative control (a verdict without the error bound) must be caught.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from scipy.special import rel_entr
from scipy.stats import entropy

import witness_theory as wt

from .strategies import (
    InstanceSpec,
    assert_close,
    assert_le,
    build_instance,
    code_kinds,
    codes_for,
    count_example,
    instances,
    report,
    seeds,
    simplex_rows,
    weight_vector,
)

torch.set_num_threads(1)


@given(inst=instances(full_support=False), seed=seeds, kind=code_kinds)
@example(inst=build_instance(InstanceSpec(seed=1, N=128, K=64, extra_d=8, beta=20.0, one_hot_fraction=0.3)),
         seed=0, kind="gaussian")
@example(inst=build_instance(InstanceSpec(seed=2, N=1, K=2, beta=0.05)), seed=1, kind="constant")
def test_certify_against_independent_routes(inst, seed, kind):
    T, W, w = inst.T, inst.witness, inst.weights
    mu = codes_for(inst, seed, kind)
    cert = wt.certify(T, mu, W, inst.w)

    # the scalar functions ARE the kernel: bit-for-bit equal, and so is a precomputed Teacher
    tch = wt.Teacher(T, inst.w)
    assert wt.certify(tch, mu, W) == cert
    assert tch.certify(mu, W) == cert                  # the method is the same call (mutmut: it had no proof)
    # the record a table stores is the certificate itself: every field, the verdict and the slack
    record = cert.as_dict()
    for f in dataclasses.fields(cert):
        np.testing.assert_equal(record[f.name], getattr(cert, f.name), err_msg=f.name)
    assert record["verdict"] == cert.verdict
    np.testing.assert_equal(record["size_bound_slack"], cert.size_bound_slack)
    assert wt.teacher_information(T, inst.w) == cert.teacher_information
    assert wt.alignment_loss(T, mu, W, inst.w) == cert.alignment_loss
    assert wt.escape_force(T, mu, W, inst.w) == cert.escape_force
    assert cert.margin == cert.teacher_information - cert.alignment_loss

    # I_T = H(Tbar) - E H(T_i) (scipy): two entropies that may cancel, tolerance from their size
    h_bar, h_rows = float(entropy(inst.tbar)), float(w @ entropy(T, axis=1))
    assert_close("certify I_T == H(Tbar) - E H(T_i)", cert.teacher_information, h_bar - h_rows,
                 1e-10 * (1 + h_bar + h_rows))

    # L_TS and the escape force with torch float64 autograd: KL(T_i||S(mu_i)) per row, summed
    mu_t = torch.from_numpy(mu.copy()).requires_grad_(True)
    log_s = torch.log_softmax(W.scale * mu_t @ torch.from_numpy(W.A), dim=1)
    T_t = torch.from_numpy(T)
    kl_rows = torch.from_numpy(rel_entr(T, 1.0).sum(axis=1)) - (torch.where(T_t > 0, T_t * log_s, 0.0)).sum(1)
    kl_rows.sum().backward()
    grads = mu_t.grad.numpy()                                          # row i: grad of KL_i wrt mu_i
    loss = float(w @ kl_rows.detach().numpy())
    mag = 1.0 + float(np.abs(log_s.detach().numpy()).max())
    # sums of T log(T/S) with |log S| <= mag: 1e-10 relative is ~1e3 times the rounding
    assert_close("certify L_TS == torch", cert.alignment_loss, loss, 1e-10 * mag)
    force = float(w @ (grads ** 2).sum(axis=1))
    b2k = W.scale ** 2 * W.kappa
    # gradients are beta A (S - T) with entries <= 2 beta: rounding ~1e-15 relative to b2k
    assert_close("certify escape force == torch autograd", cert.escape_force, force, 1e-10 * (1 + b2k + force))

    # energies and the T8 bounds in the frame P, not through the logits
    z = mu @ W.P
    zc = z - w @ z
    c = W.scale * math.sqrt(2 * W.kappa)
    e = 0.5 * float(w @ (mu ** 2).sum(axis=1))
    e_sub = 0.5 * float(w @ (z ** 2).sum(axis=1))
    assert_close("certify code energy", cert.code_energy, e, 1e-12 * (1 + e))
    # the kernel gets P^T mu from the logits (||A^T x||^2 = kappa ||P^T x||^2, T3): each logit
    # carries ~d ulps of beta |mu|, so the tolerance scales with the code size, not the spread
    scale = 1.0 + float(np.abs(mu).max()) ** 2 * W.d
    assert_close("certify subspace energy", cert.subspace_energy, e_sub, 1e-12 * scale)
    b1 = c * float(w @ np.linalg.norm(zc, axis=1))
    b2 = c * math.sqrt(float(w @ (zc ** 2).sum(axis=1)))
    # a spread computed from rounded logits: absolute error ~ c sqrt(K) d ulps of the logits
    tol_b = 1e-12 * (1 + b2) + c * 1e-13 * W.d * (1 + float(np.abs(mu).max()))
    assert_close("certify size bound (mean norm)", cert.size_bound, b1, tol_b)
    assert_close("certify size bound (trace)", cert.size_bound_trace, b2, tol_b)
    assert_le("certify G_T <= size bound (T8)", cert.margin, cert.size_bound, 1e-10 * mag + cert.float_error)


def _mp_margin(T, w, mu, A, beta) -> mp.mpf:
    """G_T = sum_i w_i KL(T_i||Tbar) - sum_i w_i KL(T_i||S(mu_i)) at 40 digits from the float inputs."""
    N, K = T.shape
    tbar = [mp.fsum(mp.mpf(w[i]) * mp.mpf(T[i, k]) for i in range(N)) for k in range(K)]
    G = mp.mpf(0)
    for i in range(N):
        if w[i] == 0:
            continue
        logits = [mp.mpf(beta) * mp.fsum(mp.mpf(mu[i, j]) * mp.mpf(A[j, k]) for j in range(A.shape[0]))
                  for k in range(K)]
        lse = mp.log(mp.fsum(mp.exp(x) for x in logits))
        # KL(T||Tbar) - KL(T||S) = sum_k T (log S - log Tbar)
        G += mp.mpf(w[i]) * mp.fsum(mp.mpf(T[i, k]) * (logits[k] - lse - mp.log(tbar[k]))
                                    for k in range(K) if T[i, k] > 0)
    return G


@given(inst=instances(full_support=False, max_K=5, max_N=6), seed=seeds, kind=code_kinds)
@example(inst=build_instance(InstanceSpec(seed=3, N=6, K=5, extra_d=3, beta=20.0, row_kind="near_degenerate",
                                          floor=1e-12)), seed=0, kind="constant")
def test_certify_float_error_bounds_the_margin_error(inst, seed, kind):
    """The verdict's error bound: |G_T(float64) - G_T(exact)| <= float_error, G_T(exact) from
    mpmath at 40 digits on the same (normalised) float64 teacher, weights, codes and witness."""
    mp.mp.dps = 40
    mu = codes_for(inst, seed, kind)
    tch = wt.Teacher(inst.T, inst.w)
    cert = wt.certify(tch, mu, inst.witness)
    exact = _mp_margin(tch.T, tch.w, mu, inst.witness.A, inst.witness.scale)
    err = abs(cert.margin - float(exact))
    report("certify |G float - G exact| / float_error", err, cert.float_error)
    assert err <= cert.float_error, f"float error {err:.3g} exceeds the bound {cert.float_error:.3g}"
    if exact <= 0:
        assert not cert.certified


@st.composite
def big_constant_cases(draw):
    """N log-uniform in [1, 2 10^5 / K] (keeps the ci profile's 200 examples at ~5 s; N = 10^6 is
    in the frozen examples), near-degenerate and confident teachers, any weights, constant codes
    (random or the best constant)."""
    K = draw(st.integers(2, 8), label="K")
    log_n = draw(st.floats(0.0, math.log10(2e5 / K)), label="log10 N")
    N = max(1, int(10 ** log_n))
    seed = draw(seeds, label="seed")
    kind = draw(st.sampled_from(["near_degenerate", "softmax", "near_uniform"]), label="row_kind")
    temperature = draw(st.sampled_from([1e-3, 0.1, 1.0]), label="temperature")
    floor = draw(st.sampled_from([0.0, 1e-300, 1e-12]), label="floor")
    weight_kind = draw(st.sampled_from(["none", "dirichlet", "spiky", "some_zero"]), label="weight_kind")
    beta = draw(st.sampled_from([0.05, 1.0, 4.0, 20.0]), label="beta")
    code = draw(st.sampled_from(["best", "random"]), label="code")
    return K, N, seed, kind, temperature, floor, weight_kind, beta, code


def _constant_case(K, N, seed, kind, temperature, floor, weight_kind, beta, code):
    rng = np.random.default_rng(seed)
    T = simplex_rows(rng, N, K, kind, temperature, floor, 0.0)
    w = weight_vector(rng, N, weight_kind)
    W = wt.Witness(K, K - 1 + int(rng.integers(0, 4)), beta)
    tch = wt.Teacher(T, w)
    if code == "best" and np.all(tch.marginal > 0):
        c = wt.exact_code(tch.marginal, W)
    else:
        c = rng.normal(size=W.d) / beta
    return tch, np.broadcast_to(c, (N, W.d)), W


@given(case=big_constant_cases())
@example(case=(3, 1_000_000, 0, "near_degenerate", 1.0, 1e-12, "none", 20.0, "best"))
@example(case=(2, 1_000_000, 1, "softmax", 0.1, 0.0, "dirichlet", 0.05, "best"))
def test_constant_codes_never_certified(case):
    count_example()
    tch, codes, W = _constant_case(*case)
    cert = wt.certify(tch, codes, W)
    # the true margin of a constant code is -KL(Tbar||S(c)) <= 0 (T2): the verdict must say so
    report("certify constant code: margin / float_error", max(cert.margin, 0.0), cert.float_error)
    assert not cert.certified, f"constant code certified: margin {cert.margin:.3g} > bound {cert.float_error:.3g}"


# ------------------------------------------------------------------ negative control

def test_verdict_without_error_bound_is_caught():
    """WRONG: certified = margin > 0 (no floating-point error bound). The best constant code's
    margin is rounding noise around 0, so the search finds a constant code "certified"."""
    found = []

    @settings(phases=[Phase.generate], database=None, report_multiple_bugs=False)
    @given(case=big_constant_cases())
    def run(case):
        count_example()
        tch, codes, W = _constant_case(*case)
        cert = wt.certify(tch, codes, W)
        if cert.margin > 0:                                           # the wrong verdict
            found.append((case, cert.margin, cert.float_error))
            raise AssertionError("constant code certified without an error bound")

    with pytest.raises(AssertionError):
        run()
    assert found
    case, margin, bound = found[-1]
    print(f"caught on {case}: margin {margin:.3g} > 0, while the bound is {bound:.3g}")
    assert margin <= bound     # the right verdict (margin > float_error) rejects the same case


def test_overflowing_logits_are_refused_as_codes_too_large():
    """Logits beyond float64 are refused with the one message the user can act on ("codes are
    too large"), from the witness's logits, from log_softmax and from certify; log_softmax of
    integer logits equals that of the same floats (mutmut: the messages and the float64 copy were
    not pinned)."""
    W = wt.Witness(3, 2, 1.0)
    huge = np.array([[1e308, -1e308]])
    with pytest.raises(ValueError, match="codes are too large"):
        W.logits(np.array([[1.7e308, 1.7e308]]))         # A^T mu overflows although mu is finite
    with pytest.raises(ValueError, match="codes are too large"):
        wt.core.log_softmax(np.array([[np.inf, 0.0]]))
    with pytest.raises(ValueError, match="codes are too large"):
        wt.certify(np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]), np.vstack([huge, -huge]) * 1.5, W)
    ints = np.array([[3, 1, 0], [0, 0, 7]])
    np.testing.assert_array_equal(wt.core.log_softmax(ints), wt.core.log_softmax(ints.astype(np.float64)))


def test_kernel_refuses_non_finite_codes_and_a_row_count_not_the_teachers():
    """The kernel's input contract, through each of its three callers: a NaN or infinite code, on a
    row of positive weight or of weight 0 (0 * NaN and 0 * inf are NaN, so the weighted mean shows
    both), and codes with a row count other than the teacher's are refused with a ValueError naming
    ``codes``, with no RuntimeWarning before it (mutmut: the kernel's finite check and row count were
    reached only with valid codes)."""
    W = wt.Witness(3, 2, 1.0)
    T = np.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    teachers = (T, wt.Teacher(T, weights=np.array([0.5, 0.0, 0.25, 0.25])))
    for bad, what in ((np.nan, "codes contains NaN"), (np.inf, "codes contains infinite values")):
        codes = np.zeros((4, 2))
        codes[1, 0] = bad
        for teacher in teachers:
            for fn in (wt.certify, wt.alignment_loss, wt.escape_force):
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)
                    with pytest.raises(ValueError, match=f"^{what}"):
                        fn(teacher, codes, W)
    for fn in (wt.certify, wt.alignment_loss, wt.escape_force):
        with pytest.raises(ValueError, match="^codes has 5 rows but the teacher has 4"):
            fn(T, np.zeros((5, 2)), W)


def test_kernel_row_whose_logit_gap_overflows():
    """A row whose logits are finite but two of them differ by more than float64's largest number:
    codes (0, 1.6e308) on the default K = 3 frame give the logits (0.8e308, 0.8e308, -1.6e308)
    exactly (the frame's second row is (1/2, 1/2, -1)), so the max-shifted logits are (0, 0, -inf):
    S = (1/2, 1/2, 0), and the kernel takes its `cross_rows` branch (0 log 0 = 0, -inf where T > 0
    = S). L_TS against scipy's rel_entr of T and (1/2, 1/2, 0), 1e-15 absolute (a sum of two terms
    of size ~1 and log 2, each correctly rounded to ~1e-16); one row with mass on the third class:
    inf; the mean over rows with weights. (mutmut: the six mutants of that `cross_rows` call
    survived, among them `ls + lse` for `ls - lse`: no proof drew such codes.)"""
    W = wt.Witness(3, 2, 1.0)
    mu = np.array([[0.0, 1.6e308]] * 3)
    np.testing.assert_array_equal(W.A[1], [0.5, 0.5, -1.0])
    T = np.array([[0.3, 0.7, 0.0], [0.5, 0.5, 0.0], [0.9, 0.1, 0.0]])
    S = np.array([0.5, 0.5, 0.0])
    want = rel_entr(T, S).sum(axis=1)
    for i in range(3):
        assert_close("L_TS of a row with an infinite logit gap", wt.alignment_loss(T[i:i + 1], mu[i:i + 1], W), want[i], 1e-15)
    w = np.array([0.2, 0.3, 0.5])
    assert_close("weighted L_TS, infinite logit gaps", wt.alignment_loss(T, mu, W, w), float(w @ want), 1e-15)
    assert wt.alignment_loss(np.array([[0.3, 0.6, 0.1]]), mu[:1], W) == np.inf


@pytest.mark.parametrize("case", ["beta2_underflows", "logit_spread_overflows", "beta2_overflows_zero_codes"])
def test_kernel_fallback_path_against_plain_numpy(case):
    """The kernel's second path, taken when beta^2 kappa is not a normal float64 (witness_scale
    below ~1e-154 or above ~1e154) or when the logit-space spread ||l_i - lbar||^2 overflows
    (beta 1e10 times codes 1e150): the force as (beta sqrt(kappa ||S - T||^2))^2 and the subspace
    quantities from P^T mu directly, scaled by max |mu|. Against plain NumPy in the frame P (no
    logits) and mpmath for beta^2 kappa ||S - T||^2: 1e-12 relative for the sizes and energies
    (sums of N terms in another order, a scaling by s that is not a power of 2), and for the
    force 1e-12 relative plus 2N + 2 subnormal spacings 2^-1074 (beta = 1e-160: each row's force
    ~1e-321 is subnormal, so its square, its weighting and each of the N additions round to an
    absolute half spacing, not a relative one; measured 5 spacings at N = 40). Zero codes at beta 1e155
    with a uniform teacher: every quantity is exactly 0
    (S = T, so the force is 0; the scale s falls back to 1, not 0/0). mutmut: no proof reached
    this path (the force's and the scaling's mutants survived)."""
    rng = np.random.default_rng(7)
    N, K, d = 40, 4, 5
    P = np.linalg.qr(rng.normal(size=(d, K - 1)))[0]
    if case == "beta2_overflows_zero_codes":
        beta, mu, T = 1e155, np.zeros((N, d)), np.full((N, K), 1.0 / K)
    else:
        beta, scale = (1e-160, 3.0) if case == "beta2_underflows" else (1e10, 1e150)
        mu = rng.normal(size=(N, d)) * scale
        T = rng.dirichlet(np.full(K, 0.8), size=N)
    w = rng.dirichlet(np.full(N, 2.0))
    W = wt.Witness(K, d, beta, P)
    cert = wt.certify(T, mu, W, w)
    wv = wt.Teacher(T, w).w                                             # the weights certify uses
    z = (mu - wv @ mu) @ P                                              # P^T (mu_i - mbar), no logits
    c = beta * math.sqrt(2 * W.kappa)
    norms = np.sqrt((z ** 2).sum(axis=1))
    want = {"size_bound": c * float(wv @ norms), "size_bound_trace": c * math.sqrt(float(wv @ norms ** 2)),
            "subspace_energy": 0.5 * float(wv @ ((mu @ P) ** 2).sum(axis=1))}
    for name, value in want.items():
        assert_close(f"kernel fallback: {name}", getattr(cert, name), value, 1e-12 * abs(value))
    mp.mp.prec = 200
    S = W.probs(mu)
    force = mp.mpf(beta) ** 2 * mp.mpf(W.kappa) * mp.fsum(mp.mpf(float(wi)) * mp.fsum(mp.mpf(float(x)) ** 2 for x in row)
                                                          for wi, row in zip(wv, S - T))
    tol = mp.mpf(1e-12) * abs(force) + (2 * N + 2) * mp.mpf(2) ** -1074
    assert abs(mp.mpf(cert.escape_force) - force) <= tol, (case, cert.escape_force, force)
    if case == "beta2_overflows_zero_codes":
        assert (cert.size_bound, cert.size_bound_trace, cert.subspace_energy, cert.escape_force) == (0.0, 0.0, 0.0, 0.0)
