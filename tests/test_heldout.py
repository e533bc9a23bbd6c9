"""witness_theory.heldout: the API around the held-out certificates (errors, bookkeeping, output).

The mathematics (soundness, completeness, hand computations) is in proofs/test_t2h_heldout.py;
here: every bad input is a ValueError/TypeError that names the argument, the split form equals
the estimators' fit and certify, weights are split and renormalised, results serialise.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import witness_theory as wt
from witness_theory.theorems import LEDGER, get

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n, K, d = 120, 3, 5
    T = rng.dirichlet(np.full(K, 0.5), n)
    W0 = wt.Witness(K, d, 2.0, np.linalg.qr(rng.normal(size=(d, K - 1)))[0])
    X = wt.exact_embedding(T, W0) + 0.05 * rng.normal(size=(n, d))
    w = rng.uniform(0.5, 2.0, n)
    return T, X, w


def test_t2h_is_in_the_ledger():
    assert wt.T2H in LEDGER and get("t2h") is wt.T2H and LEDGER[-1] is wt.T13 and get("t13") is wt.T13
    assert wt.T2H.conditions and "disjoint" in wt.T2H.conditions[0]


ESTIMATORS = {"raw": lambda: wt.RawWitness(wt.Witness(3, 5, 2.0)), "witness": wt.FittedWitness, "probe": wt.Probe}


@pytest.mark.parametrize("method", ["raw", "witness", "probe"])
def test_split_form_equals_fit_and_certify_with_weights(data, method):
    T, X, w = data
    split = wt.heldout_split(len(T), fraction=0.3, seed=2)
    f, e = split.fit, split.eval
    kw = {"witness": wt.Witness(3, 5, 2.0)} if method == "raw" else {}
    a = wt.heldout_certify(T, X, split, method=method, weights=w, **kw)
    b = ESTIMATORS[method]().fit(T[f], X[f], f, weights=w[f]).certify(T[e], X[e], e, weights=w[e])
    assert (a.margin, a.loss, a.teacher_information, a.fit_margin) == (b.margin, b.loss, b.teacher_information,
                                                                       b.fit_margin)
    # each split's weights are renormalised on that split: I_T(eval) is that of the eval rows
    assert a.teacher_information == wt.teacher_information(T[e], w[e])
    assert (a.n_fit, a.n_eval, a.K, a.d, a.method) == (f.size, e.size, 3, 5, method)
    json.dumps(a.as_dict())                                         # serialisable (arrays as lists)
    assert a.summary().startswith(f"{method}: I_T(eval)=")


def test_witness_certificate_is_certify_with_the_fitted_witness(data):
    T, X, _ = data
    split = wt.heldout_split(len(T), seed=1)
    cert = wt.heldout_certify(T, X, split, method="witness", max_iter=10)
    ref = wt.certify(T[split.eval], X[split.eval], cert.predictor.witness_)
    assert (cert.margin, cert.float_error, cert.positive) == (ref.margin, ref.float_error, ref.certified)
    P = cert.parameters["frame"]
    assert P.shape == (5, 2) and cert.parameters["witness_scale"] == cert.predictor.witness_.scale
    assert cert.fit_margin == cert.predictor.fit_margin_


def test_probe_parameters_and_logits(data):
    T, X, _ = data
    probe = wt.Probe().fit(T, X, np.arange(len(T)))
    assert probe.coef_.shape == (3, 5) and probe.intercept_.shape == (3,)
    np.testing.assert_allclose(np.exp(probe.log_probs(X)).sum(axis=1), 1.0, rtol=0, atol=1e-14)
    # K = 2 uses sklearn's binary model; the package stores it as logits (0, f)
    T2 = np.column_stack([T[:, 0], 1 - T[:, 0]])
    p2 = wt.Probe().fit(T2, X, np.arange(len(T)))
    assert p2.coef_.shape == (2, 5) and np.all(p2.coef_[0] == 0) and p2.intercept_[0] == 0


def test_estimators_fit_returns_self_and_records_the_fit_rows(data):
    """scikit-learn's shape: fit returns the estimator, learned attributes end in "_", a refit
    starts afresh, and a certificate keeps the predictor it was computed with."""
    T, X, _ = data
    f, e = np.arange(60), np.arange(60, 120)
    witness = wt.FittedWitness(max_iter=5)
    assert witness.fit(T[:60], X[:60], f) is witness
    assert witness.frame_.shape == (5, 2) and witness.scale_ == witness.witness_.scale
    assert witness.n_fit_ == 60 and np.array_equal(witness.fit_ids_, f) and not witness.fit_ids_.flags.writeable
    cert = witness.certify(T[60:], X[60:], e)
    assert cert.predictor is not witness and cert.fit_margin == witness.fit_margin_
    witness.fit(T[60:], X[60:], e)                                   # refit on other rows
    assert np.array_equal(cert.predictor.fit_ids_, f) and np.array_equal(witness.fit_ids_, e)
    # the raw witness is fitted on no rows until fit records some; then they are refused too
    raw = wt.RawWitness(wt.Witness(3, 5, 2.0))
    assert raw.certify(T[:60], X[:60], f).n_fit == 0
    assert raw.fit(T[60:], X[60:], e).certify(T[:60], X[:60], f).n_fit == 60
    with pytest.raises(ValueError, match=r"share 60 row id\(s\)"):
        raw.certify(T[60:], X[60:], e)


@pytest.mark.parametrize("estimator", [wt.FittedWitness(max_iter=5), wt.Probe(), wt.RawWitness(wt.Witness(3, 5, 2.0))])
def test_posterior_certificate_on_sampled_codes(data, estimator):
    """Codes (n, M, d) are M draws per row: fit on every draw with its row's teacher row, certify
    with each row's term averaged over its draws. Identical draws are the codes themselves: the
    same fitted predictor then has the margin of the codes, computed on the n M draw rows (1e-12:
    two float64 sums of the same terms in another order)."""
    T, X, _ = data
    f, e = np.arange(60), np.arange(60, 120)
    Z_fit, Z_eval = np.repeat(X[:60, None], 2, axis=1), np.repeat(X[60:, None], 3, axis=1)
    estimator.fit(T[:60], Z_fit, f)
    posterior = estimator.certify(T[60:], Z_eval, e, permutations=9)
    on_codes = estimator.certify(T[60:], X[60:], e)
    assert posterior.method == f"{on_codes.method}-posterior" and (posterior.n_fit, posterior.n_eval) == (60, 60)
    assert posterior.bound is not None and posterior.bound.p_value is not None
    np.testing.assert_allclose(posterior.margin, on_codes.margin, rtol=0, atol=1e-12)


def test_warm_start_refits_from_the_previous_frame(data):
    """FittedWitness(warm_start=True): the first fit is the cold fit (bit for bit); a refit starts
    from the previous frame, searches one scale over the grid's range and costs a fraction of a
    cold fit's descent steps (one scale, not five)."""
    T, X, _ = data
    ids = np.arange(120)
    noisy = X + np.random.default_rng(1).normal(size=X.shape)
    cold = wt.FittedWitness(seed=3).fit(T, X, ids)
    warm = wt.FittedWitness(seed=3, warm_start=True).fit(T, X, ids)
    np.testing.assert_array_equal(warm.frame_, cold.frame_)
    assert warm.scale_ == cold.scale_ and warm.fit_margin_ == cold.fit_margin_
    warm.fit(T, noisy, ids)
    fresh = wt.FittedWitness(seed=3).fit(T, noisy, ids)
    assert warm.start_margin_ <= warm.fit_margin_
    # on these codes both descents converge (41 and 40 steps < max_iter) to the same optimum:
    # measured 7e-9 nats apart; 1e-6 allows for other rounding, not for another optimum
    assert abs(warm.fit_margin_ - fresh.fit_margin_) < 1e-6
    with pytest.raises(ValueError, match=r"warm_start: the previous fit's frame has shape \(5, 2\), these rows need "
                                         r"\(4, 2\)"):
        warm.fit(T, X[:, :4], ids)
    with pytest.raises(TypeError, match="warm_start must be True or False"):
        wt.FittedWitness(warm_start="yes").fit(T, X, ids)


class TestErrors:
    def test_overlapping_splits_name_the_rows(self, data):
        T, X, _ = data
        with pytest.raises(ValueError, match=r"share 3 row id\(s\) \[7, 8, 9\] \(3 in all\)"):
            wt.Probe().fit(T[:10], X[:10], np.arange(10)).certify(T[7:20], X[7:20], np.arange(7, 20))

    def test_unfitted_estimator_cannot_certify(self, data):
        T, X, _ = data
        for estimator in (wt.FittedWitness(max_iter=2), wt.Probe()):
            with pytest.raises(wt.NotFittedError, match=r"not fitted yet: call fit\(teacher, codes, ids\)"):
                estimator.certify(T[60:], X[60:], np.arange(60, 120))
            with pytest.raises(ValueError, match="call fit"):
                estimator.log_probs(X)

    def test_raw_witness_is_fitted_on_no_rows(self, data):
        T, X, _ = data
        cert = wt.RawWitness(wt.Witness(3, 5, 2.0)).certify(T, X, np.arange(len(T)))
        assert cert.method == "raw" and cert.margin == wt.certify(T, X, wt.Witness(3, 5, 2.0)).margin

    def test_ids(self, data):
        T, X, _ = data
        with pytest.raises(ValueError, match=r"ids repeats row ids \[3\]"):
            wt.Probe().fit(T[:4], X[:4], np.array([0, 3, 3, 1]))
        probe = wt.Probe().fit(T[:4], X[:4], np.arange(4))
        with pytest.raises(ValueError, match="ids has 3 ids but there are 4 rows"):
            probe.certify(T[4:8], X[4:8], np.arange(4, 7))
        with pytest.raises(ValueError, match="ids must be a 1-D array of integer row ids"):
            probe.certify(T[4:8], X[4:8], np.arange(4, 8) + 0.5)

    def test_method_and_arguments(self, data):
        T, X, _ = data
        split, ids = wt.heldout_split(len(T)), np.arange(60)
        with pytest.raises(ValueError, match="method must be 'raw', 'witness' or 'probe'"):
            wt.heldout_certify(T, X, split, method="lda")
        with pytest.raises(ValueError, match="pass witness=witness_theory.Witness"):
            wt.heldout_certify(T, X, split, method="raw")
        fitted_on_k2 = wt.FittedWitness(max_iter=2).fit(T[:60, :2] / T[:60, :2].sum(1, keepdims=True), X[:60], ids)
        with pytest.raises(ValueError, match="teacher has K = 3 outcomes but this FittedWitness was fitted on K = 2"):
            fitted_on_k2.certify(T[60:], X[60:], np.arange(60, 120))
        with pytest.raises(ValueError, match="codes has 59 rows but teacher has 60"):
            wt.FittedWitness().fit(T[:60], X[:59], ids)
        with pytest.raises(ValueError, match="scales must be a non-empty sequence"):
            wt.FittedWitness(scales=(1.0, -2.0)).fit(T[:60], X[:60], ids)
        with pytest.raises(ValueError, match="C must be a finite number > 0"):
            wt.Probe(C=0).fit(T[:60], X[:60], ids)
        with pytest.raises(ValueError, match=r"d = 1 < K-1 = 2.*use the probe certificate"):
            wt.FittedWitness().fit(T[:60], X[:60, :1], ids)
        with pytest.raises(TypeError, match="split must be a HeldoutSplit"):
            wt.heldout_certify(T, X, (np.arange(60), np.arange(60, 120)))
        with pytest.raises(ValueError, match=r"split was made for n = 10 rows.*heldout_split\(120\)"):
            wt.heldout_certify(T, X, wt.heldout_split(10))
        with pytest.raises(TypeError, match="witness must be a witness_theory.Witness"):
            wt.RawWitness(object()).certify(T, X, np.arange(120))

    def test_split_arguments(self):
        with pytest.raises(ValueError, match=r"fraction .* must lie in \(0, 1\)"):
            wt.heldout_split(10, fraction=0.0)
        with pytest.raises(ValueError, match="n \\(number of rows\\) must be an integer >= 2"):
            wt.heldout_split(1)
        with pytest.raises(ValueError, match="seed must be an integer"):
            wt.heldout_split(10, seed=1.5)
        s = wt.heldout_split(3, fraction=0.01)                       # each split keeps >= 1 row
        assert s.eval.size == 1 and s.fit.size == 2
        with pytest.raises(ValueError):
            s.fit[0] = 5                                             # read-only


def test_one_blas_thread_lists_the_libraries_once_when_nested(monkeypatch):
    """Nested one_blas_thread contexts (the evaluation's context around its four fits) list the
    loaded libraries once: the inner ones change nothing. Inside, every BLAS runs one thread; after
    the outer context the thread counts are what they were (threadpoolctl's own report)."""
    import threadpoolctl

    from witness_theory import heldout

    listed = []
    real = threadpoolctl.threadpool_limits

    def counting(*args, **kwargs):
        listed.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", counting)
    before = [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with heldout.one_blas_thread():
        with heldout.one_blas_thread():
            inside = {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
        rng = np.random.default_rng(0)
        T, X = rng.dirichlet(np.ones(3), 40), rng.standard_normal((40, 4))
        wt.Probe(max_iter=5, tol=1e-4).fit(T, X, np.arange(40))            # a fit inside: no listing either
    assert len(listed) == 1
    assert inside == {1}
    assert [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"] == before
    assert heldout._BLAS_DEPTH == 0


def test_polar_calls_lapack_and_falls_back_to_numpy(capfd):
    """heldout._polar calls LAPACK's dgesdd through scipy (without NumPy's per-call wrapping); it
    must give NumPy's polar factor. SciPy and NumPy may load different OpenBLAS builds, so the
    factors are compared to 1e-13, not bit for bit: both SVDs are backward stable, with errors
    ~ d eps kappa(M) ~ 1e-15 for these well-conditioned M (a frame plus a perturbation below 1/2, as
    the descent's P - step * grad; kappa <= 3). On this session's machine they were bit-identical.
    Where LAPACK fails (NaN in M) NumPy's LinAlgError is raised, as before; an empty M takes NumPy's
    path and prints nothing (LAPACK would print an illegal-argument message)."""
    from witness_theory import heldout

    rng = np.random.default_rng(7)
    for _ in range(200):
        d = int(rng.integers(1, 12))
        k = int(rng.integers(1, d + 1))
        Q = np.linalg.qr(rng.standard_normal((d, k)))[0]
        M = Q + 0.5 / np.sqrt(d * k) * rng.uniform(-1, 1, (d, k))   # ||E||_2 <= ||E||_F <= 1/2
        U, _, Wt = np.linalg.svd(M, full_matrices=False)
        P = heldout._polar(M)
        assert P.shape == (d, k)
        assert np.abs(P - U @ Wt).max() <= 1e-13
        assert np.abs(P.T @ P - np.eye(k)).max() <= 1e-13
    with pytest.raises(np.linalg.LinAlgError):
        heldout._polar(np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 2.0]]))
    assert heldout._polar(np.ones((3, 0))).shape == (3, 0)
    out, err = capfd.readouterr()
    assert "DGESDD" not in out + err
