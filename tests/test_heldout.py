"""witness_theory.heldout: the API around the held-out certificates (errors, bookkeeping, output).

The mathematics (soundness, completeness, hand computations) is in proofs/test_t2h_heldout.py;
here: every bad input is a ValueError/TypeError that names the argument, the split form equals
the explicit form, weights are split and renormalised, results serialise.
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


@pytest.mark.parametrize("method", ["raw", "witness", "probe"])
def test_split_form_equals_explicit_form_with_weights(data, method):
    T, X, w = data
    split = wt.heldout_split(len(T), fraction=0.3, seed=2)
    f, e = split.fit, split.eval
    kw = {"witness": wt.Witness(3, 5, 2.0)} if method == "raw" else {}
    a = wt.heldout_certify(T, X, split, method=method, weights=w, **kw)
    b = wt.certify_heldout(T[f], X[f], T[e], X[e], f, e, method=method, weights_fit=w[f], weights_eval=w[e], **kw)
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
    ref = wt.certify(T[split.eval], X[split.eval], cert.predictor.witness)
    assert (cert.margin, cert.float_error, cert.positive) == (ref.margin, ref.float_error, ref.certified)
    P = cert.parameters["frame"]
    assert P.shape == (5, 2) and cert.parameters["witness_scale"] == cert.predictor.witness.scale
    assert cert.fit_margin == cert.predictor.fit_margin


def test_probe_parameters_and_logits(data):
    T, X, _ = data
    probe = wt.fit_probe(T, X, fit_ids=np.arange(len(T)))
    assert probe.coef.shape == (3, 5) and probe.intercept.shape == (3,)
    np.testing.assert_allclose(np.exp(probe.log_probs(X)).sum(axis=1), 1.0, rtol=0, atol=1e-14)
    # K = 2 uses sklearn's binary model; the package stores it as logits (0, f)
    T2 = np.column_stack([T[:, 0], 1 - T[:, 0]])
    p2 = wt.fit_probe(T2, X)
    assert p2.coef.shape == (2, 5) and np.all(p2.coef[0] == 0) and p2.intercept[0] == 0


class TestErrors:
    def test_overlapping_splits_name_the_rows(self, data):
        T, X, _ = data
        with pytest.raises(ValueError, match=r"share 3 row id\(s\) \[7, 8, 9\] \(3 in all\)"):
            wt.certify_heldout(T[:10], X[:10], T[7:20], X[7:20], np.arange(10), np.arange(7, 20), method="probe")

    def test_predictor_without_fit_ids_cannot_be_evaluated(self, data):
        T, X, _ = data
        fit = wt.fit_witness(T[:60], X[:60], max_iter=2)
        with pytest.raises(ValueError, match="refit it with fit_ids="):
            wt.evaluate_heldout(fit, T[60:], X[60:], np.arange(60, 120))

    def test_raw_witness_is_fitted_on_no_rows(self, data):
        T, X, _ = data
        cert = wt.evaluate_heldout(wt.Witness(3, 5, 2.0), T, X, np.arange(len(T)))
        assert cert.method == "raw" and cert.margin == wt.certify(T, X, wt.Witness(3, 5, 2.0)).margin

    def test_ids(self, data):
        T, X, _ = data
        with pytest.raises(ValueError, match=r"fit_ids repeats row ids \[3\]"):
            wt.certify_heldout(T[:4], X[:4], T[4:8], X[4:8], np.array([0, 3, 3, 1]), np.arange(4, 8))
        with pytest.raises(ValueError, match="eval_ids has 3 ids but there are 4 rows"):
            wt.certify_heldout(T[:4], X[:4], T[4:8], X[4:8], np.arange(4), np.arange(4, 7))
        with pytest.raises(ValueError, match="eval_ids must be a 1-D array of integer row ids"):
            wt.certify_heldout(T[:4], X[:4], T[4:8], X[4:8], np.arange(4), np.arange(4, 8) + 0.5)

    def test_method_and_arguments(self, data):
        T, X, _ = data
        args = (T[:60], X[:60], T[60:], X[60:], np.arange(60), np.arange(60, 120))
        with pytest.raises(ValueError, match="method must be 'raw', 'witness' or 'probe'"):
            wt.certify_heldout(*args, method="lda")
        with pytest.raises(ValueError, match="pass witness=witness_theory.Witness"):
            wt.certify_heldout(*args, method="raw")
        with pytest.raises(ValueError, match="K = 2 outcomes but teacher_eval has K = 3"):
            wt.certify_heldout(T[:60, :2] / T[:60, :2].sum(1, keepdims=True), *args[1:])
        with pytest.raises(ValueError, match="codes_fit has 59 rows but teacher_fit has 60"):
            wt.fit_witness(T[:60], X[:59])
        with pytest.raises(ValueError, match="scales must be a non-empty sequence"):
            wt.fit_witness(T[:60], X[:60], scales=(1.0, -2.0))
        with pytest.raises(ValueError, match="C must be a finite number > 0"):
            wt.fit_probe(T[:60], X[:60], C=0)
        with pytest.raises(ValueError, match=r"d = 1 < K-1 = 2.*use the probe certificate"):
            wt.fit_witness(T[:60], X[:60, :1])
        with pytest.raises(TypeError, match="split must be a HeldoutSplit"):
            wt.heldout_certify(T, X, (np.arange(60), np.arange(60, 120)))
        with pytest.raises(ValueError, match=r"split was made for n = 10 rows.*heldout_split\(120\)"):
            wt.heldout_certify(T, X, wt.heldout_split(10))
        with pytest.raises(TypeError, match="predictor must be a WitnessFit, ProbeFit or Witness"):
            wt.evaluate_heldout(object(), T, X, np.arange(120))

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
