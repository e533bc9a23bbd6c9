"""T2H held-out certificate: a latent-only predictor fitted on a fit split, certified on a disjoint split.

Routes: the ledger ``T2H.check``; the certificate of constant evaluation codes against
T1 (L_h - I_T = KL(Tbar || h(c)) >= 0, whatever was fitted); exact codes recovered by the
fitted witness (Procrustes recovers the generating frame) and by the probe (the true
conditional is inside the logistic model); the Procrustes start against the closed-form SVD
solution; hand computations for K = 2 of all three certificates (raw, fitted witness, probe);
and a negative control (a probe fitted on the evaluation rows certifies teacher-independent
noise codes; the overlap refusal is what stops it).

Sizes are small (N <= 32, K <= 5, d <= K + 7, at most 6 descent steps per scale) so that the whole file
runs in seconds under the ``ci`` profile: every fit is a few milliseconds.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, target
from hypothesis import strategies as st

import witness_theory as wt
from witness_theory import heldout
from witness_theory.heldout import T2H
from witness_theory.validation import check_weights

from .strategies import InstanceSpec, assert_close, assert_le, assert_ledger, build_instance, codes_for, fin, instances, seeds

SMALL = dict(min_K=2, max_K=5, min_N=4, max_N=32,
             weight_kinds=["dirichlet", "uniform", "none", "spiky"])   # each split keeps positive mass
# three grid scales and 6 descent steps per scale keep a fit at a few milliseconds; the
# properties hold for any grid and any number of steps (the start is Procrustes, steps are monotone)
GRID = (0.5, 2.0, 8.0)
FAST = dict(max_iter=6, scales=GRID)
PROBE_FAST = dict(max_iter=30, tol=1e-6)   # any fitted probe will do for soundness and refusal
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """One BLAS thread: the fits here are tiny, and on a loaded 2-core machine OpenBLAS threads
    made each lbfgs step of the probe 5x slower (13 ms -> 71 ms per fit, measured)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        yield


def _split(inst, seed, fraction):
    return wt.heldout_split(inst.N, fraction=fraction, seed=seed)


def _fit(method, T, X, w, ids, seed, cheap=False):
    """A fitted predictor; ``cheap``: Procrustes start only / 5 lbfgs steps (refusal does not
    depend on what was fitted, only on the rows it was fitted on)."""
    if method == "witness":
        kw = dict(max_iter=0, scales=GRID, refine_scale=False) if cheap else FAST
        return wt.FittedWitness(seed=seed, **kw).fit(T, X, ids, weights=w)
    return wt.Probe(seed=seed, **(dict(max_iter=5, tol=1e-4) if cheap else PROBE_FAST)).fit(T, X, ids, weights=w)


fractions = st.sampled_from([0.2, 0.5, 0.8])
methods = st.sampled_from(["witness", "probe"])
fit_code_kinds = st.sampled_from(["gaussian", "constant", "exact", "jitter"])


# ---------------------------------------------------------------------------------------
# Soundness: constant evaluation codes are never certified, whatever was fitted
# ---------------------------------------------------------------------------------------

@given(inst=instances(full_support=False, **SMALL), seed=seeds, fraction=fractions, method=methods,
       fit_kind=fit_code_kinds)
@example(inst=build_instance(InstanceSpec(seed=3, N=6, K=2, beta=20.0, row_kind="near_degenerate")),
         seed=0, fraction=0.5, method="probe", fit_kind="gaussian")
def test_t2h_constant_eval_codes_never_certified(inst, seed, fraction, method, fit_kind):
    split = _split(inst, seed, fraction)
    w = inst.weights
    assume(w[split.fit].sum() > 0 and w[split.eval].sum() > 0)
    X_fit = codes_for(inst, seed, fit_kind)[split.fit]                 # anything at all on the fit split
    predictor = _fit(method, inst.T[split.fit], X_fit, w[split.fit], split.fit, seed % 7)
    c = np.random.default_rng(seed).normal(size=(1, inst.d)) * 3.0 / inst.beta
    X_eval = np.repeat(c, split.eval.size, axis=0)                    # constant evaluation codes
    T_eval, w_eval = inst.T[split.eval], w[split.eval]
    assert_ledger(T2H.check(T_eval, X_eval, predictor, w_eval, eval_ids=split.eval))
    cert = predictor.certify(T_eval, X_eval, split.eval, weights=w_eval)
    assert not cert.positive, f"constant codes certified: {cert.summary()}"
    # independent route (T1 with q = h(c)): L_h - I_T == KL(Tbar_eval || h(c)) >= 0, recomputed
    # from the fitted parameters with plain numpy (no package log-softmax)
    if method == "witness":
        logits = predictor.scale_ * (c @ predictor.frame_ @ predictor.witness_.V)[0]
    else:
        logits = (c @ predictor.coef_.T + predictor.intercept_)[0]
    log_q = logits - logits.max() - math.log(np.exp(logits - logits.max()).sum())
    tbar = (w_eval / w_eval.sum()) @ T_eval
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_bar = float(np.sum(np.where(tbar > 0, tbar * (np.log(tbar) - log_q), 0.0)))
    mag = 1.0 + float(np.abs(log_q).max()) + cert.teacher_information
    # 1e-10 relative: both sides are float64 sums of O(N K) terms of size <= mag (rounding ~1e-14)
    assert_close("T2H L_h(const) - I_T == KL(Tbar||h(c))", cert.loss - cert.teacher_information, kl_bar,
                 1e-10 * mag)
    assert_le("T2H constant eval codes: G_h <= float error", cert.margin, cert.float_error, 0.0)


# ---------------------------------------------------------------------------------------
# Completeness on exact codes: the fitted witness and the probe certify them
# ---------------------------------------------------------------------------------------

def _rank_ok(T, w, k1):
    """The weighted centred clr rows of the fit teacher span R^{K-1} (Procrustes is then unique)
    with a margin over rounding that leaves the computed frame within 1e-7 of the exact one.

    Perturbation bound (R.-C. Li, SIAM J. Matrix Anal. Appl. 16(1), 1995, for real M: the polar
    factor of a full-rank M moves by <= 2 ||dM||_F / (sigma_n(M) + sigma_n-1(M)), at most
    2 ||dM||_F / sigma_n(M); Higham, Functions of Matrices, 2008, ch. 8 surveys it): the
    cross-covariance M = sum_i w_i x_i z_i^T carries rounding ||dM|| <~ n u (1 + max|z|)^2 (unit
    roundoff u = 2^-53, codes and targets of size |z|), and sigma_min(M) ~ sigma_min(Zc)^2 in
    the same units. A relative rank test alone let through a thorough-run instance whose two
    nearly equal fit rows gave sigma(Zc) = (5.8e-15, 1.2e-18): both rounding noise, the frame
    then off by 1.6e-3."""
    Z = wt.clr(T) @ wt.simplex_vertices(T.shape[1]).T                  # (n, K-1)
    Zc = np.sqrt(w)[:, None] * (Z - (w / w.sum()) @ Z)
    sv = np.linalg.svd(Zc, compute_uv=False)
    if sv.size != k1 or not sv[-1] > 1e-6 * sv[0]:
        return False
    frame_error = 2 * Z.shape[0] * 2.0 ** -53 * (1 + float(np.abs(Z).max())) ** 2 / sv[-1] ** 2
    return frame_error <= 1e-7


@given(inst=instances(full_support=True, **{**SMALL, "min_N": 12}), seed=seeds, fraction=fractions,
       beta=st.sampled_from(GRID))
def test_t2h_fitted_witness_certifies_exact_codes(inst, seed, fraction, beta):
    """Codes mu*(T_i) of a witness with any frame P0 and a scale beta in the grid are certified:
    the Procrustes frame is P0 (M = P0 Zc^T W Zc, whose polar factor is P0, when the centred fit
    log-odds span R^{K-1}), so L_TS(eval) = 0 up to rounding and G(eval) = I_T(eval)."""
    split = _split(inst, seed, fraction)
    w = inst.weights
    W0 = wt.Witness(inst.K, inst.d, beta, inst.witness.P)
    X = wt.exact_embedding(inst.T, W0)
    assume(_rank_ok(inst.T[split.fit], w[split.fit], inst.K - 1))
    info_eval = wt.teacher_information(inst.T[split.eval], w[split.eval])
    cert = wt.FittedWitness(**FAST).fit(inst.T[split.fit], X[split.fit], split.fit, weights=w[split.fit]).certify(
        inst.T[split.eval], X[split.eval], split.eval, weights=w[split.eval])
    # exact codes: L_TS is rounding of log S - log T (a few ulps of |log T| per entry, T2 proof
    # uses 1e-10 of that); the Procrustes frame is P0 to ~1e-12 for well-ranked targets, which
    # moves logits by ~1e-12 |logit|: 1e-8 relative to (1 + max |log T|) covers both
    mag = 1.0 + float(np.abs(np.log(inst.T)).max())
    assert_close("T2H fitted witness on exact codes: G(eval) == I_T(eval)", cert.margin, info_eval, 1e-8 * mag)
    if info_eval > 1e-8 * mag + cert.float_error:
        assert cert.positive
    P = cert.parameters["frame"]
    assert_close("T2H fitted frame == generating frame (Procrustes)", P, inst.witness.P, 1e-6)


@pytest.mark.parametrize("seed,K,extra_d,beta,fraction", [
    (0, 2, 0, 1.0, 0.25), (1, 2, 3, 2.0, 0.5), (2, 3, 0, 1.0, 0.5), (3, 3, 2, 2.0, 0.25),
    (4, 4, 0, 2.0, 0.5), (5, 4, 3, 1.0, 0.25), (6, 3, 1, 1.0, 0.25), (7, 4, 1, 2.0, 0.5),
])
def test_t2h_probe_certifies_exact_codes_when_well_conditioned(seed, K, extra_d, beta, fraction):
    """The probe certifies exact codes under a stated condition: the true conditional
    softmax(beta A^T mu) is a multinomial logistic model (coef beta A^T, intercept 0), so it is
    inside the probe's model class. We test it on eight fixed well-conditioned cases only (a
    Hypothesis search would mostly time sklearn): N = 80 rows,
    softmax rows at temperature 1 (|log-odds| of a few nats), weak L2 penalty (C = 1e4), and
    I_T(eval) >= 0.05. Then the fitted probe loses <= half of I_T(eval) on the evaluation split.
    It is not claimed for tiny or near-degenerate fit splits, where the penalty and lbfgs
    tolerance dominate."""
    inst = build_instance(InstanceSpec(seed=seed, N=80, K=K, extra_d=extra_d, beta=beta, weight_kind="uniform"))
    split = wt.heldout_split(inst.N, fraction=fraction, seed=seed % 1000)
    X = wt.exact_embedding(inst.T, inst.witness)
    info_eval = wt.teacher_information(inst.T[split.eval])
    assert info_eval >= 0.05                                         # the stated condition holds here
    cert = wt.Probe(C=1e4).fit(inst.T[split.fit], X[split.fit], split.fit).certify(
        inst.T[split.eval], X[split.eval], split.eval)
    assert_le("T2H probe on exact codes: L(eval) <= I_T(eval)/2", cert.loss, 0.5 * info_eval, 0.0)
    assert cert.positive


# ---------------------------------------------------------------------------------------
# Refusal: a predictor is never evaluated on its own fit rows
# ---------------------------------------------------------------------------------------

@given(inst=instances(full_support=False, **SMALL), seed=seeds, method=methods, n_shared=st.integers(1, 4))
def test_t2h_predictor_fitted_on_eval_rows_is_refused(inst, seed, method, n_shared):
    split = _split(inst, seed, 0.5)
    rng = np.random.default_rng(seed)
    shared = np.sort(rng.choice(split.fit, size=min(n_shared, split.fit.size), replace=False))
    eval_ids = np.concatenate([split.eval, shared])                  # some fit rows come back
    X = codes_for(inst, seed, "gaussian")
    w = inst.weights
    assume(w[split.fit].sum() > 0 and w[eval_ids].sum() > 0)
    predictor = _fit(method, inst.T[split.fit], X[split.fit], w[split.fit], split.fit, 0, cheap=True)
    first = ", ".join(str(i) for i in shared[:10])
    with pytest.raises(ValueError, match=rf"share {shared.size} row id\(s\) \[{first}"):
        predictor.certify(inst.T[eval_ids], X[eval_ids], eval_ids, weights=w[eval_ids])
    overlapping = wt.HeldoutSplit(fit=split.fit, eval=eval_ids, n=inst.N, fraction=0.5, seed=seed)
    with pytest.raises(ValueError, match=rf"share {shared.size} row id\(s\) \[{first}"):
        wt.heldout_certify(inst.T, X, overlapping, method=method, weights=w)
    # the ledger states the condition too: the disjointness relation fails
    assert not T2H.check(inst.T[eval_ids], X[eval_ids], predictor, w[eval_ids], eval_ids=eval_ids).holds


# ---------------------------------------------------------------------------------------
# FittedWitness.fit: deterministic, orthonormal frame, monotone improvement over the Procrustes start
# ---------------------------------------------------------------------------------------

@given(inst=instances(full_support=False, **SMALL), seed=seeds, kind=fit_code_kinds)
def test_fit_witness_deterministic_orthonormal_and_monotone(inst, seed, kind):
    X = codes_for(inst, seed, kind)
    ids = np.arange(inst.N)
    a = wt.FittedWitness(seed=seed % 100, **FAST).fit(inst.T, X, ids, weights=inst.w)
    b = wt.FittedWitness(seed=seed % 100, **FAST).fit(inst.T, X, ids, weights=inst.w)
    np.testing.assert_array_equal(a.frame_, b.frame_)
    assert a.scale_ == b.scale_ and a.fit_margin_ == b.fit_margin_
    P = a.frame_
    # P^T P = I: the polar retraction's SVD is backward stable, so ~d * 1e-16; 1e-12 is headroom
    assert_close("fit_witness frame orthonormal: P^T P == I", P.T @ P, np.eye(inst.K - 1), 1e-12)
    # every accepted step lowers L_TS (Armijo) and the scale search keeps the better value:
    # the fit margin is >= the best Procrustes-only margin over the grid, up to the rounding of
    # two evaluations of the same sum (1e-12 relative to the loss magnitude)
    mag = 1.0 + abs(a.start_margin_) + wt.teacher_information(inst.T, inst.w)
    assert_le("fit_witness monotone: start margin <= fit margin", a.start_margin_, a.fit_margin_, 1e-12 * mag)
    assert a.start_scale_ in GRID
    # warm start (the posterior certificate's refit): from a's frame on other codes of the same rows,
    # the same promises; its start is a's frame at the scale searched over [min GRID, max GRID]
    X2 = X + np.random.default_rng(seed).normal(size=X.shape) * (1.0 + float(np.abs(X).max()))
    warm = wt.FittedWitness(seed=seed % 100, warm_start=True, **FAST)
    warm.fit(inst.T, X, ids, weights=inst.w)
    np.testing.assert_array_equal(warm.frame_, a.frame_)               # a first fit is a cold fit
    warm.fit(inst.T, X2, ids, weights=inst.w)
    assert min(GRID) <= warm.start_scale_ <= max(GRID)
    start = wt.certify(inst.T, X2, wt.Witness(inst.K, inst.d, warm.start_scale_, a.frame_), inst.w).margin
    mag2 = 1.0 + abs(start) + wt.teacher_information(inst.T, inst.w)
    assert_close("warm start: start margin == the previous frame's margin", warm.start_margin_, start, 1e-12 * mag2)
    assert_close("warm fit frame orthonormal", warm.frame_.T @ warm.frame_, np.eye(inst.K - 1), 1e-12)
    assert_le("warm fit monotone: start margin <= fit margin", warm.start_margin_, warm.fit_margin_, 1e-12 * mag2)


# The optimum is unique only when M has full column rank K-1, which needs N - 1 >= K - 1 rows
# (centring costs one) and teacher rows that vary: uniform rows give M = 0. Drawing such
# instances directly (N >= 8 > K, softmax rows) instead of rejecting them keeps the assume()
# below for the rare ill-conditioned draw; with the full instance mix 93% of draws were
# rejected and the test took 30 s under ci.
PROCRUSTES = dict(SMALL, min_N=8, row_kinds=["softmax"])


@given(inst=instances(full_support=True, **PROCRUSTES), seed=seeds)
def test_procrustes_start_matches_closed_form(inst, seed):
    """Independent route for the start: the Stiefel Procrustes optimum U W^T, M = U S W^T,
    M = Xc^T W Zc (Schoenemann 1966), against the scipy route with zero-padded targets."""
    X = codes_for(inst, seed, "gaussian")
    w = inst.weights
    P = heldout.procrustes_frame(X, inst.T, w, 0)
    Z = wt.clr(inst.T) @ wt.simplex_vertices(inst.K).T                # ((K-1)/K) V clr up to the scale
    M = (X - w @ X).T @ (w[:, None] * (Z - w @ Z))
    U, s, Wt = np.linalg.svd(M, full_matrices=False)
    assume(s[-1] > 1e-6 * s[0])                                      # unique optimum
    # the optimum is unique, and differences come from rounding in two SVDs of a matrix with
    # condition number <= 1e6: 1e-6 is the float64 sensitivity bound (1e-16 * 1e6 * 10 headroom)
    assert_close("Procrustes frame == U W^T", P, U @ Wt, 1e-6)


@given(K=st.integers(2, 5), extra_d=st.integers(0, 3), rank=st.integers(0, 3), n=st.integers(6, 20), seed=seeds)
@example(K=4, extra_d=1, rank=1, n=10, seed=0)
@example(K=3, extra_d=0, rank=0, n=6, seed=1)
def test_procrustes_start_when_the_optimum_is_not_unique(K, extra_d, rank, n, seed):
    """When M = Xc^T W Zc has rank r < K-1 (codes that vary in r directions only) the Procrustes
    optimum is a set: every frame P with tr(P^T M) = ||M||_* (the nuclear norm, the largest value
    of tr(P^T M) over frames, von Neumann's trace inequality). The documented completion must land
    in it: P^T P = I to 1e-13 (a polar factor), tr(P^T M) = ||M||_* to 1e-12 (1 + ||M||_*)
    (rounding of two SVDs of a (d, K-1) matrix), and the same frame for the same seed. The
    completion's directions P w, w in the null space of M, are orthogonal to the used directions
    U_r: a Gaussian completion not projected off U_r, or not orthonormalised, loses optimality
    after the polar step (mutmut: the rank-deficient branch was reached by no proof)."""
    rank = min(rank, K - 2)                                              # rank-deficient: r <= K-2
    d = K - 1 + extra_d
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(K, 0.8), size=n)
    w = rng.dirichlet(np.full(n, 2.0))
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :rank]          # codes vary along r directions
    X = rng.normal(size=(n, rank)) @ basis.T + rng.normal(size=d)       # plus a constant offset
    P = heldout.procrustes_frame(X, T, w, seed)
    Z = wt.clr(T) @ wt.simplex_vertices(K).T                            # z* up to a positive scale
    M = (X - w @ X).T @ (w[:, None] * (Z - w @ Z))
    sv = np.linalg.svd(M, compute_uv=False)
    nuclear = float(sv.sum())
    assert int((sv > 1e-9 * (1 + sv[0])).sum()) <= rank                # the instance is rank-deficient
    assert_close("Procrustes frame orthonormal", P.T @ P, np.eye(K - 1), 1e-13)
    assert_close("Procrustes optimum: tr(P^T M) == ||M||_*", float(np.trace(P.T @ M)), nuclear, 1e-12 * (1 + nuclear))
    np.testing.assert_array_equal(heldout.procrustes_frame(X, T, w, seed), P)   # deterministic for a seed
    U, s, Wt = np.linalg.svd(M)
    r = int((s > 1e-9 * (1 + s[0])).sum())
    if r < K - 1:
        completion = P @ Wt[r:].T                                       # (d, K-1-r): P on M's null space
        assert_close("completion orthonormal", completion.T @ completion, np.eye(K - 1 - r), 1e-12)
        assert_close("completion orthogonal to the used directions", U[:, :r].T @ completion,
                     np.zeros((r, K - 1 - r)), 1e-12)


@given(inst=instances(full_support=True, **SMALL), seed=seeds, kind=st.sampled_from(["gaussian", "exact", "zero"]),
       grid=st.lists(st.sampled_from([0.1, 0.5, 2.0, 8.0, 30.0]), min_size=1, max_size=4, unique=True),
       refine=st.booleans())
@example(inst=build_instance(InstanceSpec(seed=3, N=20, K=3, extra_d=1, beta=1.0)), seed=0, kind="exact",
         grid=[0.1, 0.5], refine=True)                 # the best grid scale at the grid's end
@example(inst=build_instance(InstanceSpec(seed=4, N=12, K=3, beta=1.0)), seed=0, kind="zero",
         grid=[0.5, 2.0, 8.0], refine=True)            # every loss ties: the first scale, no refinement
def test_fitted_witness_is_the_best_descent_then_the_best_scale_in_its_bracket(inst, seed, kind, grid, refine):
    """What FittedWitness.fit promises, written out with the module's own steps (contract): the
    descent from the Procrustes frame at each grid scale; the frame of the lowest loss (the first
    on ties) is returned bit for bit; the start scale is the grid scale whose loss at the
    Procrustes frame is lowest. With refine_scale the scale is then the minimiser of L(P, beta)
    over log beta between the best grid scale's neighbours (one end at the grid's ends), and stays
    in that bracket. The loss along beta is convex in beta (a log-sum-exp minus a linear term), so
    unimodal in log beta, and a local minimum in the bracket is its minimum: checked as L(P, beta)
    <= L(P, beta e^(+-h)), h = 1e-3, for the probes inside the bracket. Brent stops within xatol
    = 1e-6 of the minimiser s*, so L(s* +- h) - L(s) >= L'' (h^2/2 - 1e-6 h) > 0 up to rounding:
    tolerance 1e-12 (1 + L). Without refine_scale the scale is the grid's.
    Zero codes make every loss equal (logits 0 at every scale): the first grid scale is kept, since
    a refinement moves the scale only when it lowers the loss strictly.
    (mutmut: the bracket's neighbours, the comparisons `<` / `<=` choosing the best, and the
    refinement's acceptance survived: no proof compared the fit's choice with this recipe.)"""
    grid = sorted(grid)
    X = np.zeros((inst.N, inst.d)) if kind == "zero" else codes_for(inst, seed, kind)   # d >= K-1 always
    T, K = inst.T, inst.K
    w = check_weights(inst.weights, inst.N)              # normalised as fit normalises them
    fit = wt.FittedWitness(seed=seed % 100, max_iter=6, scales=grid, refine_scale=refine).fit(T, X, np.arange(inst.N),
                                                                                                weights=inst.weights)
    V, neg_h = wt.simplex_vertices(K), wt.core.neg_entropy_rows(T)
    info = wt.teacher_information(T, w)
    P0 = heldout.procrustes_frame(X, T, w, seed % 100)
    start = [heldout._frame_loss(X, T, w, neg_h, P0, V, b)[0] for b in grid]
    runs = [heldout.stiefel_descent(X, T, w, neg_h, P0, V, b, 6, 1e-10 * (1 + info)) for b in grid]
    j = int(np.argmin([r[1] for r in runs]))             # argmin: the first of equal losses
    assert fit.start_scale_ == grid[int(np.argmin(start))]
    np.testing.assert_array_equal(fit.frame_, runs[j][0])
    P = runs[j][0]

    def loss(b):
        return heldout._frame_loss(X, T, w, neg_h, P, V, b)[0]

    if not refine or len(grid) == 1:
        assert fit.scale_ == grid[j]
        return
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    assert lo * (1 - 1e-12) <= fit.scale_ <= hi * (1 + 1e-12), (lo, fit.scale_, hi)
    if kind == "zero":
        assert (j, fit.scale_) == (0, grid[0])
    got = loss(fit.scale_)
    assert_le("refined scale: no worse than the best grid scale", got, runs[j][1], 1e-12 * (1 + got))
    h = 1e-3                                              # log-scale probe, inside the bracket only
    for b in (fit.scale_ * np.exp(-h), fit.scale_ * np.exp(h)):
        if lo <= b <= hi:
            assert_le("refined scale: a 1-D minimum in its bracket", got, loss(b), 1e-12 * (1 + got))


def test_fit_witness_refuses_d_below_k_minus_1():
    T = np.full((5, 4), 0.25)
    with pytest.raises(ValueError, match=r"d = 2 < K-1 = 3"):
        wt.FittedWitness().fit(T, np.zeros((5, 2)), np.arange(5))


# ---------------------------------------------------------------------------------------
# Hand computations, K = 2: raw, fitted witness, probe
# ---------------------------------------------------------------------------------------
# K = 2: V = [[1, -1]] (unit columns summing to 0), so S(mu) = (sigma(2 beta p.mu), sigma(-2 beta p.mu))
# for a frame p (unit vector). Teacher rows (0.8, 0.2) and (0.2, 0.8), equal weights:
# Tbar = (1/2, 1/2), I_T = log 2 - H(0.8) = log 2 + 0.8 log 0.8 + 0.2 log 0.2.

def _sigma(x):
    return 1.0 / (1.0 + math.exp(-x))


I_HAND = math.log(2) + 0.8 * math.log(0.8) + 0.2 * math.log(0.2)   # 0.19274475702175742
T_HAND = np.array([[0.8, 0.2], [0.2, 0.8]])


def _kl2(t, s):
    return t * math.log(t / s) + (1 - t) * math.log((1 - t) / (1 - s))


def test_hand_raw_certificate_k2():
    # default frame p = e_1, beta = 1: codes (x, y) -> S_0 = sigma(2 x)
    W = wt.Witness(2, 2, 1.0)
    X = np.array([[0.25, 7.0], [-0.25, -7.0]])                       # y is invisible to the raw witness
    loss = 0.5 * (_kl2(0.8, _sigma(0.5)) + _kl2(0.2, _sigma(-0.5)))   # = 0.07366860...
    cert = wt.certify(T_HAND, X, W)
    assert cert.teacher_information == pytest.approx(I_HAND, abs=1e-15)
    assert cert.alignment_loss == pytest.approx(loss, abs=1e-15)
    assert cert.margin == pytest.approx(I_HAND - loss, abs=1e-15) and cert.certified
    # at x = log 2: sigma(2 log 2) = 4/5, so S = T and G = I_T exactly
    cert = wt.certify(T_HAND, np.array([[math.log(2), 0.0], [-math.log(2), 0.0]]), W)
    assert cert.margin == pytest.approx(I_HAND, abs=1e-15)
    # constant code x = 0: S = (1/2, 1/2) = Tbar, L = I_T, G = 0, not certified
    assert not wt.certify(T_HAND, np.zeros((2, 2)), W).certified


def test_hand_fitted_witness_k2():
    """Fit codes (+-1, +1) for (0.8, 0.2) and (+-1, -1) for (0.2, 0.8): the teacher signal is in
    the second coordinate, the first is noise balanced against the teacher. Procrustes onto the
    1-D targets z*_i = log(T_i0/T_i1) / (2 beta) gives p = e_2 (the cross-covariance with x is 0,
    with y is 4 log 2 / beta). The loss is 0 iff p.x_i = log(2)/beta for every fit row, i.e.
    p = e_2 and beta = log 2 = 0.6931 (between the grid scales 0.5 and 1): found by the bounded
    scale search (xatol 1e-6 in log beta). By symmetry the frame gradient at p = e_2 is 0 for every
    beta, so the descent keeps p = e_2. Evaluation codes (5, 1) and (-3, -1): the first
    coordinate is invisible to p = e_2, S = T, so G(eval) = I_T."""
    T_fit = T_HAND[[0, 0, 1, 1]]
    X_fit = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    fit = wt.FittedWitness().fit(T_fit, X_fit, np.arange(4))
    np.testing.assert_allclose(fit.frame_[:, 0], [0.0, 1.0], atol=1e-12)
    # |beta - log 2| <= xatol-scale relative error; the loss is flat (quadratic) near the optimum
    assert fit.scale_ == pytest.approx(math.log(2), rel=1e-5)
    assert fit.fit_margin_ == pytest.approx(I_HAND, abs=1e-9)      # loss ~ (1e-5)^2 at worst
    X_eval = np.array([[5.0, 1.0], [-3.0, -1.0]])
    cert = fit.certify(T_HAND, X_eval, np.array([4, 5]))
    assert cert.teacher_information == pytest.approx(I_HAND, abs=1e-15)
    assert cert.margin == pytest.approx(I_HAND, abs=1e-9) and cert.positive
    # the raw witness (p = e_1, beta = 1) on the same evaluation codes, by hand: S_0 = sigma(10), sigma(-6)
    raw = 0.5 * (_kl2(0.8, _sigma(10.0)) + _kl2(0.2, _sigma(-6.0)))
    raw_cert = wt.RawWitness(wt.Witness(2, 2, 1.0)).certify(T_HAND, X_eval, np.array([4, 5]))
    assert raw_cert.loss == pytest.approx(raw, rel=1e-12)
    assert raw_cert.margin == pytest.approx(I_HAND - raw, rel=1e-12) and not raw_cert.positive


def test_hand_probe_k2():
    """Fit codes +1 -> (0.8, 0.2), -1 -> (0.2, 0.8); logits (0, a mu + b). The soft-target optimum
    has sigma(a + b) = 0.2 and sigma(-a + b) = 0.8: a = -log 4, b = 0. Evaluation codes +2, -2
    with teacher rows (16/17, 1/17), (1/17, 16/17) = the probe's own outputs sigma(2 log 4) = 16/17,
    so L(eval) = 0 and G(eval) = I_T(eval) = log 2 - H(16/17). C = 1e8 makes the L2 penalty's
    bias ~1e-8 and lbfgs stops at tol 1e-10: 1e-6 absolute covers both."""
    X_fit = np.array([[1.0], [-1.0]])
    probe = wt.Probe(C=1e8).fit(T_HAND, X_fit, np.array([0, 1]))
    np.testing.assert_allclose(probe.coef_[1] - probe.coef_[0], [-math.log(4)], atol=1e-6)
    np.testing.assert_allclose(probe.intercept_[1] - probe.intercept_[0], 0.0, atol=1e-6)
    assert probe.fit_margin_ == pytest.approx(I_HAND, abs=1e-6)
    p = 16 / 17
    T_eval = np.array([[p, 1 - p], [1 - p, p]])
    info = math.log(2) + p * math.log(p) + (1 - p) * math.log(1 - p)   # 0.4709...
    cert = probe.certify(T_eval, np.array([[2.0], [-2.0]]), np.array([5, 6]))
    assert cert.teacher_information == pytest.approx(info, abs=1e-15)
    assert cert.loss == pytest.approx(0.0, abs=1e-6) and cert.margin == pytest.approx(info, abs=1e-6)
    assert cert.positive


# ---------------------------------------------------------------------------------------
# Negative controls: what the conditions are for
# ---------------------------------------------------------------------------------------

def test_negative_control_probe_fitted_on_eval_rows_certifies_noise():
    """Codes that carry no teacher information (Gaussian noise drawn independently of T, d > N)
    are 'certified' by a probe fitted and evaluated on the same rows: it memorises the rows
    (in-sample margin ~ I_T). Held out, the same probe class is not certified, and the
    in-sample evaluation is refused. (T2 itself is not violated in-sample: the codes are not
    constant. The split is what makes a positive margin mean the code carries teacher
    information that generalises beyond the rows h was chosen on.)"""
    rng = np.random.default_rng(0)
    n, K, d = 30, 3, 40
    T = rng.dirichlet(np.full(K, 0.3), n)
    X = rng.normal(size=(n, d))                                       # teacher-independent
    ids = np.arange(n)
    in_sample = wt.Probe(C=1e3, max_iter=200).fit(T, X, ids)
    assert in_sample.fit_margin_ > 0.9 * wt.teacher_information(T)    # the in-sample 'certificate'
    split = wt.heldout_split(n, fraction=0.5, seed=0)
    held = wt.heldout_certify(T, X, split, method="probe", C=1e3, max_iter=200)
    assert not held.positive and held.margin < 0
    first = ", ".join(str(i) for i in split.eval[:3])
    with pytest.raises(ValueError, match=rf"share 15 row id\(s\) \[{first}"):
        in_sample.certify(T[split.eval], X[split.eval], split.eval)


def test_negative_control_cross_entropy_margin_certifies_a_constant_code():
    """A deliberately wrong margin, H(Tbar) - L_TS (cross-entropy of the best constant instead of
    I_T), is positive for the best constant code, so the soundness property above (constant
    codes never certified) would catch it; the KL margin of the same code is 0."""
    inst = build_instance(InstanceSpec(seed=5, N=30, K=4, beta=2.0, floor=1e-3))
    split = wt.heldout_split(inst.N, seed=1)
    fit = wt.FittedWitness(**FAST).fit(inst.T[split.fit], codes_for(inst, 1, "gaussian")[split.fit], split.fit)
    T_eval = inst.T[split.eval]
    q_log = np.log(T_eval.mean(axis=0))
    c = wt.exact_code(T_eval.mean(axis=0), fit.witness_)              # h(c) = Tbar_eval
    X_eval = np.repeat(c[None], split.eval.size, 0)
    cert = fit.certify(T_eval, X_eval, split.eval)
    wrong_margin = -float(T_eval.mean(axis=0) @ q_log) - cert.loss
    assert wrong_margin > 0.1 and abs(cert.margin) < 1e-12 and not cert.positive


def test_split_is_deterministic_sorted_disjoint_and_covering():
    a, b = wt.heldout_split(101, fraction=0.3, seed=7), wt.heldout_split(101, fraction=0.3, seed=7)
    np.testing.assert_array_equal(a.fit, b.fit)
    np.testing.assert_array_equal(a.eval, b.eval)
    assert a.eval.size == 30 and np.intersect1d(a.fit, a.eval).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([a.fit, a.eval])), np.arange(101))
    assert np.all(np.diff(a.fit) > 0) and np.all(np.diff(a.eval) > 0)
    assert not np.array_equal(a.eval, wt.heldout_split(101, fraction=0.3, seed=8).eval)
    with pytest.raises(ValueError, match="fraction"):
        wt.heldout_split(10, fraction=1.0)
    with pytest.raises(ValueError, match="n"):
        wt.heldout_split(1)


def _kl_rows_reference(T, log_h):
    """KL(T_i || h) per row from log h, written plainly (0 log 0 = 0): (n,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(T > 0, T * (np.log(np.where(T > 0, T, 1.0)) - log_h), 0.0).sum(axis=-1)


@given(seed=seeds, K=st.integers(2, 5), extra_d=st.integers(0, 3), n=st.integers(4, 30), M=st.integers(1, 4),
       method=methods, signal=st.sampled_from([0.0, 1.0, 5.0]))
@example(seed=0, K=3, extra_d=1, n=400, M=2, method="probe", signal=10.0)        # certified at 95% (LCB 0.25)
def test_posterior_certificate_averages_each_rows_draws(seed, K, extra_d, n, M, method, signal):
    """The posterior certificate (T13 with Z ~ q(z|x)): on codes (n, M, d) the margin is
    I_T - (1/(n M)) sum_i sum_m KL(T_i || h(z_im)) (each draw a row of the row's teacher, the rows
    weighted uniformly: the term of I(Y; Z) for one draw Z), recomputed here from the predictor's
    log-probabilities with plainly written sums (1e-12 relative: sums of <= 120 terms of O(10));
    the bound is ``information_bound`` of the (n, M, K) log-probabilities, exactly; the record
    says what was certified ("<method>-posterior", n_eval = n rows, not n M draws) and what chose h
    (the fit-split numbers of the estimator, n_fit), and ``certified`` is LCB > 0. Draws are refused
    with weights, and M = 0 draws are refused."""
    rng = np.random.default_rng(seed)
    d = K - 1 + extra_d
    T_f, T_e = rng.dirichlet(np.full(K, 0.5), 40), rng.dirichlet(np.full(K, 0.5), n)
    basis = rng.standard_normal((K, d))
    X_f = signal * T_f @ basis + rng.standard_normal((40, d))
    Z = signal * (T_e @ basis)[:, None, :] + rng.standard_normal((n, M, d))
    f_ids, e_ids = np.arange(40), 40 + np.arange(n)
    est = wt.FittedWitness(seed=seed, **FAST) if method == "witness" else wt.Probe(seed=seed, **PROBE_FAST)
    est.fit(T_f, X_f, f_ids)
    cert = est.certify(T_e, Z, e_ids, delta=0.05)
    log_h = est.log_probs(Z.reshape(-1, d)).reshape(n, M, K)
    tbar = T_e.mean(axis=0)
    info = float(np.mean(_kl_rows_reference(T_e, np.log(tbar))))
    loss = float(np.mean(_kl_rows_reference(T_e[:, None, :], log_h)))
    tol = 1e-12 * (1.0 + info + loss)
    assert_close("T2H posterior I_T", cert.teacher_information, info, tol)
    assert_close("T2H posterior loss", cert.loss, loss, tol)
    assert_close("T2H posterior margin", cert.margin, info - loss, tol)
    bound = wt.information_bound(T_e, log_h, delta=0.05, seed=est.seed)
    assert cert.bound.as_dict() == bound.as_dict()
    assert cert.bound.draws == M and cert.lcb == bound.lcb
    assert cert.certified == (bound.lcb > 0.0)
    assert cert.method == f"{est.method}-posterior"
    assert (cert.n_eval, cert.K, cert.d, cert.n_fit) == (n, K, d, 40)
    assert (cert.fit_teacher_information, cert.fit_loss, cert.fit_margin) == (
        est.fit_teacher_information_, est.fit_loss_, est.fit_margin_)
    np.testing.assert_array_equal(cert.predictor.log_probs(Z[:, 0]), est.log_probs(Z[:, 0]))
    # the same on the first draw as (n, d) codes: the mean certificate's bound, with the exact test
    # passed on; weighted rows and a single row get no bound (it is for an i.i.d. sample)
    mean = est.certify(T_e, Z[:, 0], e_ids, delta=0.1, permutations=19)          # not the default delta
    want = wt.information_bound(T_e, est.log_probs(Z[:, 0]), delta=0.1, permutations=19, seed=est.seed)
    assert mean.bound.as_dict() == want.as_dict() and mean.certified == (want.lcb > 0.0)
    assert est.certify(T_e, Z, e_ids, permutations=19).bound.n_permutations == 19
    # the posterior path passes delta on too (mutmut: dropping it survived: 0.05 is the default)
    assert est.certify(T_e, Z, e_ids, delta=0.2).bound.as_dict() == \
        wt.information_bound(T_e, log_h, delta=0.2, seed=est.seed).as_dict()
    assert est.certify(T_e, Z[:, 0], e_ids, weights=np.full(n, 1.0 / n)).bound is None
    assert est.certify(T_e[:1], Z[:1, 0], e_ids[:1]).bound is None
    with pytest.raises(ValueError, match="weights"):
        est.certify(T_e, Z, e_ids, weights=np.full(n, 1.0 / n))
    with pytest.raises(ValueError, match="draw"):
        est.certify(T_e, Z[:, :0], e_ids)
    target(float(cert.certified), label="posterior certified")
    # fitted on draws (n, M_f, d): each draw a fit row with its row's teacher row, the same fit as on
    # the flattened rows (exactly), while the record counts rows, not draws
    Z_f = signal * (T_f @ basis)[:, None, :] + rng.standard_normal((40, 2, d))
    make = (lambda: wt.FittedWitness(seed=seed, **FAST)) if method == "witness" else (lambda: wt.Probe(seed=seed, **PROBE_FAST))
    on_draws = make().fit(T_f, Z_f, f_ids)
    on_rows = make().fit(np.repeat(T_f, 2, axis=0), Z_f.reshape(-1, d), np.arange(80))
    np.testing.assert_array_equal(on_draws.log_probs(Z[:, 0]), on_rows.log_probs(Z[:, 0]))
    assert (on_draws.n_fit_, on_rows.n_fit_) == (40, 80) and on_draws.fit_margin_ == on_rows.fit_margin_


@given(inst=instances(full_support=False, **SMALL), seed=seeds, method=methods, fraction=fractions)
def test_split_form_is_fit_then_certify_with_the_splits_weights(inst, seed, method, fraction):
    """``heldout_certify(T, X, split, weights=w)`` fits on the fit split with its weights and
    certifies the evaluation split with its weights, and passes ``permutations`` on: the same
    certificate as doing the two steps by hand (exactly: the same calls on the same rows). The raw
    witness's certificate of the weighted evaluation rows is ``certify`` of those rows, exactly."""
    sp = _split(inst, seed, fraction)
    X = codes_for(inst, seed, "gaussian")
    w = inst.weights
    assume(w[sp.fit].sum() > 0 and w[sp.eval].sum() > 0)
    kw = FAST if method == "witness" else PROBE_FAST
    got = wt.heldout_certify(inst.T, X, sp, method=method, weights=w, seed=seed, **kw)
    est = (wt.FittedWitness if method == "witness" else wt.Probe)(seed=seed, **kw)
    est.fit(inst.T[sp.fit], X[sp.fit], sp.fit, weights=w[sp.fit])
    want = est.certify(inst.T[sp.eval], X[sp.eval], sp.eval, weights=w[sp.eval])
    assert (got.margin, got.loss, got.teacher_information, got.fit_margin) == (
        want.margin, want.loss, want.teacher_information, want.fit_margin)
    # the record's fields (mutmut: the method, n_eval, K and d passed to the record as None survived)
    assert (got.method, got.n_fit, got.n_eval, got.K, got.d) == (method, sp.fit.size, sp.eval.size, inst.K, inst.d)
    raw = wt.heldout_certify(inst.T, X, sp, method="raw", witness=inst.witness, weights=w)
    ref = wt.certify(inst.T[sp.eval], X[sp.eval], inst.witness, w[sp.eval])      # the raw witness, fitted on nothing
    assert (raw.margin, raw.loss, raw.float_error) == (ref.margin, ref.alignment_loss, ref.float_error)
    if sp.eval.size >= 2:                                             # uniform rows: the bound and the exact test
        got = wt.heldout_certify(inst.T, X, sp, method=method, seed=seed, permutations=19, delta=0.2, **kw)
        assert got.bound is not None and got.bound.n_permutations == 19 and got.bound.p_value is not None
        # delta is passed on (mutmut: dropping it survived, every proof certifying at the default 0.05)
        est = (wt.FittedWitness if method == "witness" else wt.Probe)(seed=seed, **kw)
        est.fit(inst.T[sp.fit], X[sp.fit], sp.fit)
        want = est.certify(inst.T[sp.eval], X[sp.eval], sp.eval, delta=0.2, permutations=19)
        assert (got.bound.delta, got.bound.lcb, got.bound.p_value) == (0.2, want.bound.lcb, want.bound.p_value)
        # the defaults: delta 0.05 and no exact test (mutmut: a default of 1 permutation survived)
        plain = wt.heldout_certify(inst.T, X, sp, method=method, seed=seed, **kw)
        assert (plain.bound.delta, plain.bound.n_permutations, plain.bound.p_value) == (0.05, 0, None)


@given(inst=instances(full_support=False, **SMALL), seed=seeds, fraction=fractions,
       method=st.sampled_from(["witness", "probe", "raw"]), code_kind=fit_code_kinds,
       rtol=st.sampled_from([1e-9, 1e-6]), with_ids=st.booleans())
@example(inst=build_instance(InstanceSpec(seed=5, N=8, K=3, beta=2.0)), seed=1, fraction=0.5, method="raw",
         code_kind="constant", rtol=1e-6, with_ids=False)
@example(inst=build_instance(InstanceSpec(seed=0, N=15, K=4, beta=0.05, temperature=0.001, weight_kind="dirichlet",
                                          frame_kind="random")),
         seed=0, fraction=0.2, method="witness", code_kind="gaussian", rtol=1e-9, with_ids=False)   # subnormal T_ik
def test_t2h_ledger_is_its_documented_relations(inst, seed, fraction, method, code_kind, rtol, with_ids):
    """``T2H.check`` on any evaluation codes and any predictor (fitted or a plain Witness) holds, and
    its relations are the documented ones, each recomputed here with plain numpy: the constant code
    at the weighted mean code loses >= I_T(eval); its excess is KL(Tbar_eval || h(c)) (T1); G_h <=
    I_T(eval); for codes that are all equal, L_h >= I_T(eval); with eval ids and a fitted predictor,
    no shared rows (tolerance exactly 0). Each tolerance is rtol (1 + |lhs| + |rhs| + magnitude),
    the caller's rtol (mutmut: a dropped rtol or magnitude, the constant-code branch and the
    disjointness relation survived: the only other proof of the ledger gives constant codes and
    the default rtol). Tolerance of the recomputation: 1e-10 relative to the sizes (float64 sums of
    <= 32 K terms of size <= mag; rounding ~1e-14 of that)."""
    split = _split(inst, seed, fraction)
    w = inst.weights
    assume(w[split.fit].sum() > 0 and w[split.eval].sum() > 0)
    X = codes_for(inst, seed, code_kind)
    if method == "raw":
        predictor = inst.witness                                       # a Witness is taken as RawWitness
    else:
        predictor = _fit(method, inst.T[split.fit], X[split.fit], w[split.fit], split.fit, seed % 7, cheap=True)
    T_e, X_e, w_e = inst.T[split.eval], X[split.eval], w[split.eval]
    ids = split.eval if with_ids else None
    res = T2H.check(T_e, X_e, predictor, w_e, eval_ids=ids, rtol=rtol)
    assert res.holds, f"\n{res}"
    # plain numpy: weighted sums over rows of positive weight, KL with 0 log 0 = 0
    p = w_e / w_e.sum()
    live = p > 0

    from scipy.special import log_softmax, logsumexp
    kl = _kl_rows_reference

    def log_h(codes):                                                  # the predictor's log h, written out
        if method == "probe":
            return log_softmax(codes @ predictor.coef_.T + predictor.intercept_, axis=-1)
        W = inst.witness if method == "raw" else predictor.witness_
        return log_softmax(W.scale * (codes @ W.A), axis=-1)

    tbar = p[live] @ T_e[live]
    # log Tbar_k = logsumexp_i (log p_i + log T_ik) (scipy): p_i T_ik underflows to 0 for a subnormal
    # T_ik (4.9e-324 at temperature 1e-3), and log(p @ T) would then be -inf where T_ik > 0, making
    # the recomputed I_T inf (found by the ci profile on 12-07: the package's I_T, 0.23, is right)
    with np.errstate(divide="ignore"):                                # log 0 = -inf where Tbar_k = 0 (no T_ik > 0)
        log_tbar = logsumexp(np.log(p[live])[:, None] + np.log(T_e[live]), axis=0)
        info = float(p[live] @ kl(T_e[live], log_tbar[None]))
    loss = float(p[live] @ kl(T_e[live], log_h(X_e[live])))
    lhc = log_h((p[live] @ X_e[live])[None])[0]
    const_loss = float(p[live] @ kl(T_e[live], lhc[None]))
    kl_bar = float(kl(tbar, lhc))
    constant = bool(np.all(X_e == X_e[0]))
    disjoint = with_ids                                                # RawWitness: fitted on no rows (fit_ids_ empty)
    names = ["constant code at the mean code", "constant code: L_h(eval) - I_T(eval)", "G_h(eval) <= I_T(eval)"]
    want = [(const_loss, info, 0.0), (const_loss - info, kl_bar, info + abs(const_loss)), (info - loss, info, 0.0)]
    if constant:
        names.append("codes are constant")
        want.append((loss, info, 0.0))
    if disjoint:
        names.append("rows shared by the fit and evaluation splits")
        want.append((0.0, 0.0, None))
    assert [p_.name[:len(n_)] for p_, n_ in zip(res.parts, names)] == names and len(res.parts) == len(names), \
        f"the ledger's relations are not the documented ones:\n{res}"

    mag = 1.0 + fin(info) + fin(const_loss) + fin(loss) + fin(float(np.abs(lhc).max()))
    for part, (lhs, rhs, magnitude) in zip(res.parts, want):
        for got, exp in ((part.lhs, lhs), (part.rhs, rhs)):
            if np.isfinite(exp):
                assert_close(f"T2H ledger {part.name[:30]}", got, exp, 1e-10 * mag)
            else:
                assert got == exp, f"{part.name}: {got!r}, recomputed {exp!r}"
        tol = 0.0 if magnitude is None else rtol * (1.0 + fin(part.lhs) + fin(part.rhs) + fin(magnitude))
        assert part.tolerance == pytest.approx(tol, rel=1e-12, abs=0.0), f"{part.name}: tolerance {part.tolerance!r}"


@pytest.mark.parametrize("method", ["witness", "probe"])
def test_fit_ids_are_read_only_and_a_failed_refit_forgets_the_fit(method):
    """T2H's guarantee rests on the refusal of rows the predictor was fitted on, so the recorded
    fit ids cannot be edited in place (a writable fit_ids_ would let the overlap check be emptied),
    and a refit that fails leaves the estimator unfitted, not holding the previous fit's ids with
    a predictor it no longer describes (mutmut: `write=False` -> True and `_reset` deleting nothing
    survived: no proof edited fit_ids_ or refitted after an error)."""
    rng = np.random.default_rng(0)
    T = rng.dirichlet(np.full(3, 0.7), size=12)
    X = rng.normal(size=(12, 3))
    est = _fit(method, T, X, None, np.arange(12), 0, cheap=True)
    assert est.fit_ids_.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        est.fit_ids_[0] = 99
    with pytest.raises(ValueError):
        est.fit(T, np.full((12, 3), np.nan), np.arange(12))          # NaN codes: refused
    assert not hasattr(est, "fit_ids_")
    with pytest.raises(heldout.NotFittedError):
        est.certify(T, X, 100 + np.arange(12))


# ---------------------------------------------------------------------------------------
# The heldout.py survivors of the 2026-12-07 mutmut run (results/proofs/mutation.md)
# ---------------------------------------------------------------------------------------

def _weighted_rows(seed=3, n=24, K=4, d=5, code_scale=1.0):
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.full(K, 0.7), n)
    X = (np.eye(K)[T.argmax(axis=1)] @ rng.normal(size=(K, d)) + 0.5 * rng.normal(size=(n, d))) * code_scale
    w = rng.dirichlet(np.full(n, 2.0))
    return T, X, w


def test_fit_numbers_are_the_weighted_margin_on_the_fit_rows():
    """fit_teacher_information_, fit_loss_ and fit_margin_ of each estimator are its predictor's numbers
    on the fit rows WITH the caller's weights: the raw and fitted witness's equal certify's (the
    reference: the same function, bit-identical), the probe's margin_from_log_probs' of its own log h
    and logit error at the validated weights (the same operations, 1e-15 relative). (mutmut: the probe
    and the raw witness computing them without the weights survived: no proof fitted those two with
    weights and read the numbers.)"""
    T, X, w = _weighted_rows()
    ids = np.arange(len(T))
    W = wt.Witness(4, 5, 1.5)
    for est, predictor in ((wt.RawWitness(W), W), (wt.FittedWitness(**FAST), None)):
        est.fit(T, X, ids, weights=w)
        cert = wt.certify(T, X, predictor if predictor is not None else est.witness_, w)
        assert (est.fit_teacher_information_, est.fit_loss_, est.fit_margin_) == \
            (cert.teacher_information, cert.alignment_loss, cert.margin)
    p = wt.Probe(**PROBE_FAST).fit(T, X, ids, weights=w)
    want = heldout.margin_from_log_probs(T, check_weights(w, len(T)), p.log_probs(X), p.logit_error(X))
    got = (p.fit_teacher_information_, p.fit_loss_, p.fit_margin_)
    for name, g, v in zip(("I_T", "L_h", "G_h"), got, want):
        assert_close(f"probe fit {name} == the weighted margin", g, v, 1e-15 * (1 + abs(v)))
    # the unweighted numbers differ from the weighted ones on these rows: the check can fail
    assert abs(heldout.margin_from_log_probs(T, np.full(len(T), 1 / len(T)), p.log_probs(X))[2] - p.fit_margin_) > 1e-3


def test_probe_float_error_carries_its_logit_error():
    """The probe's certificate float error is margin_from_log_probs' with the probe's own logit error
    (a bound on the rounding of coef_ mu + b: (d + 2) u max_i sum_j |mu_ij coef_kj| + |b_k|), on codes
    large enough (x50) that the logit term is a visible part of it (here ~40%); logit_error of one code of one entry is that
    formula (not 0); of codes with no entries (d = 0: the logits are the intercepts, exact), 0.
    (mutmut: the certificate without the logit error, and
    `mu.size == 1` for `mu.size == 0`, survived.) Tolerance 1e-15 relative: the same operations."""
    T, X, _ = _weighted_rows(code_scale=50.0)
    fit_ids, eval_ids = np.arange(12), np.arange(12, 24)
    p = wt.Probe(**PROBE_FAST).fit(T[fit_ids], X[fit_ids], fit_ids)
    cert = p.certify(T[eval_ids], X[eval_ids], eval_ids)
    Te = T[eval_ids] / T[eval_ids].sum(axis=1, keepdims=True)
    e = p.logit_error(X[eval_ids])
    want = heldout.margin_from_log_probs(Te, np.full(12, 1 / 12), p.log_probs(X[eval_ids]), e)[3]
    assert 2 * e > 0.1 * want                                        # the logit term: a visible part of the bound
    assert_close("probe certificate float error", cert.float_error, want, 1e-15 * want)
    one = wt.Probe(**PROBE_FAST).fit(T[:, :2] / T[:, :2].sum(axis=1, keepdims=True), X[:, :1], np.arange(24))
    x = np.array([[3.0]])
    size = np.abs(x) @ np.abs(one.coef_).T + np.abs(one.intercept_)
    assert one.logit_error(x) == (1 + 2) * np.finfo(float).eps * float(size.max()) > 0
    # codes with no entries (d = 0, an intercept-only probe): the logits are the intercepts, exact
    none = wt.Probe(**PROBE_FAST).fit(T, np.empty((24, 0)), np.arange(24))
    assert none.logit_error(np.empty((2, 0))) == 0.0


def test_t2h_ledger_of_a_predictor_that_has_only_log_probs():
    """T2H's ledger takes any latent-only predictor: anything with log_probs(codes), such as a
    user's own model, which has no fit_ids_ (then the disjointness relation is not checked). Its
    ledger equals that of the raw witness it wraps, less that relation. (mutmut: the lookup
    `getattr(predictor, "fit_ids_")` without its default survived: every proof passed the package's
    estimators, which all have fit_ids_.)"""
    T, X, w = _weighted_rows()
    W = wt.Witness(4, 5, 1.5)

    class OnlyLogProbs:
        def log_probs(self, codes):
            return W.log_probs(codes)

    own = T2H.check(T, X, OnlyLogProbs(), w)
    raw = T2H.check(T, X, W, w)
    assert own.holds and [r.name for r in own.parts] == [r.name for r in raw.parts]
    assert [(r.lhs, r.rhs) for r in own.parts] == [(r.lhs, r.rhs) for r in raw.parts]


def test_estimator_defaults_are_the_documented_ones():
    """A default-constructed estimator fits and certifies exactly as one given the documented
    defaults: FittedWitness(scales=(0.5, 1, 2, 4, 8), seed=0, max_iter=100, refine_scale=True,
    warm_start=False), Probe(C=1, max_iter=1000, tol=1e-10, seed=0), RawWitness(witness, seed=0).
    The instance makes each default matter: codes of rank 1 with K = 4 make the Procrustes start's
    completion depend on the seed; a refit on other codes starts from Procrustes only without a warm
    start; on a second instance 100 descent steps do not reach gtol; the probe's C moves its coefficients; the seed
    decides the permutation test's p-value (199 permutations). (mutmut: the defaults' mutants
    survived; mutmut keeps a function's signature, so only behaviour can tell them apart.)"""
    rng = np.random.default_rng(5)
    n, K, d = 40, 4, 5
    T = rng.dirichlet(np.full(K, 0.7), n)
    X = np.outer(T @ np.arange(K) + 0.3 * rng.normal(size=n), rng.normal(size=d))     # rank 1
    X2 = X + rng.normal(size=X.shape)
    fit_ids, eval_ids = np.arange(28), np.arange(28, 40)
    pairs = ((wt.FittedWitness(), wt.FittedWitness(scales=(0.5, 1.0, 2.0, 4.0, 8.0), seed=0, max_iter=100,
                                                   refine_scale=True, warm_start=False)),
             (wt.Probe(), wt.Probe(C=1.0, max_iter=1000, tol=1e-10, seed=0)),
             (wt.RawWitness(wt.Witness(K, d, 2.0)), wt.RawWitness(wt.Witness(K, d, 2.0), seed=0)))
    for default, explicit in pairs:
        for est in (default, explicit):
            est.fit(T[fit_ids], X[fit_ids], fit_ids)
            est.fit(T[fit_ids], X2[fit_ids], fit_ids)                  # a refit: warm start or not
        c1, c2 = (est.certify(T[eval_ids], X2[eval_ids], eval_ids, permutations=199)
                  for est in (default, explicit))
        assert c1.as_dict()["parameters"].keys() == c2.as_dict()["parameters"].keys()
        for key, value in c1.parameters.items():
            np.testing.assert_array_equal(value, c2.parameters[key])
        assert (c1.margin, c1.bound.lcb, c1.bound.p_value) == (c2.margin, c2.bound.lcb, c2.bound.p_value)
    # each setting matters on these instances, so the comparisons can fail
    fw = lambda **kw: wt.FittedWitness(**kw).fit(T[fit_ids], X[fit_ids], fit_ids).frame_   # noqa: E731
    assert not np.array_equal(fw(seed=0), fw(seed=1))
    rng = np.random.default_rng(4)
    T3 = rng.dirichlet(np.full(K, 0.7), n)
    X3 = rng.normal(size=(n, d)) * 2 + np.eye(K)[T3.argmax(axis=1)] @ rng.normal(size=(K, d))
    long = [wt.FittedWitness(**kw).fit(T3, X3, np.arange(n)) for kw in ({}, {"max_iter": 100}, {"max_iter": 101})]
    np.testing.assert_array_equal(long[0].frame_, long[1].frame_)
    assert long[0].n_iter_ == 100 and not np.array_equal(long[1].frame_, long[2].frame_)
    cold = wt.FittedWitness().fit(T[fit_ids], X2[fit_ids], fit_ids)
    refit = wt.FittedWitness().fit(T[fit_ids], X[fit_ids], fit_ids).fit(T[fit_ids], X2[fit_ids], fit_ids)
    np.testing.assert_array_equal(refit.frame_, cold.frame_)          # without warm_start a refit is a fresh fit
    warm = wt.FittedWitness(warm_start=True).fit(T[fit_ids], X[fit_ids], fit_ids).fit(T[fit_ids], X2[fit_ids], fit_ids)
    assert not np.array_equal(cold.frame_, warm.frame_)
    assert not np.array_equal(wt.Probe(C=1.0).fit(T[fit_ids], X[fit_ids], fit_ids).coef_,
                              wt.Probe(C=2.0).fit(T[fit_ids], X[fit_ids], fit_ids).coef_)
    raw = [wt.RawWitness(wt.Witness(K, d, 2.0), seed=s).fit(T[fit_ids], X[fit_ids], fit_ids)
           .certify(T[eval_ids], X2[eval_ids], eval_ids, permutations=199).bound.p_value for s in (0, 1)]
    assert raw[0] != raw[1]
    # the split form passes its settings on to the raw witness too (mutmut: `RawWitness(witness)`
    # without them survived): seed 1 there is RawWitness(seed=1)'s p-value, not seed 0's
    split = heldout.HeldoutSplit(fit=fit_ids, eval=eval_ids, n=n, fraction=0.3, seed=0)
    got = wt.heldout_certify(T, X2, split, method="raw", witness=wt.Witness(K, d, 2.0), seed=1, permutations=199)
    assert got.bound.p_value == raw[1]


def test_fit_with_no_descent_steps_and_warm_starts_on_short_grids():
    """max_iter = 0: the Procrustes start is the fit and n_iter_ is 0 (mutmut: `it = 1` survived).
    A warm start on a one-scale grid starts at that scale exactly, from the previous frame; on a
    two-scale grid it searches the scale between the two (bounded Brent, which returns an interior
    point), so the start scale is neither grid point (mutmut: the one-scale branch's `None`,
    `len(grid) != 1` and `== 2` survived: no proof warm-started on a short grid)."""
    T, X, w = _weighted_rows()
    ids = np.arange(len(T))
    X2 = X + np.random.default_rng(9).normal(size=X.shape)
    zero = wt.FittedWitness(max_iter=0, scales=(2.0,), refine_scale=False).fit(T, X, ids, weights=w)
    assert zero.n_iter_ == 0
    np.testing.assert_array_equal(zero.frame_, heldout.procrustes_frame(X, T, check_weights(w, len(T)), 0))
    one = wt.FittedWitness(scales=(2.0,), warm_start=True, **{"max_iter": 6}).fit(T, X, ids, weights=w)
    previous = one.frame_.copy()
    one.fit(T, X2, ids, weights=w)
    assert one.start_scale_ == 2.0
    assert one.start_margin_ == wt.certify(T, X2, wt.Witness(4, 5, 2.0, previous), w).margin
    two = wt.FittedWitness(scales=(1.0, 4.0), warm_start=True, max_iter=6).fit(T, X, ids, weights=w)
    two.fit(T, X2, ids, weights=w)
    assert 1.0 < two.start_scale_ < 4.0
