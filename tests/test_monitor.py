"""CertificateMonitor: bit-for-bit agreement with witness_theory.certify, and every input error.

Equality here is exact (``==`` on floats), not approximate: the monitor widens float32 codes to
float64 (exact) and calls the same ``certify``, so any difference at all would mean it changed
the codes (wrong row order, a lost batch, a float32 round trip) and must fail.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import witness_theory as wt
from empirical.monitor import CertificateMonitor, MonitorResult

torch.set_num_threads(1)


def _teacher(rng, n, K, zeros=False):
    T = rng.dirichlet(np.full(K, 0.3), size=n)
    if zeros:  # one-hot rows and exact zeros are allowed for the certificate (T1)
        T[: n // 4] = np.eye(K)[rng.integers(0, K, n // 4)]
    return T


def _feed(monitor, codes_t, batch, rng):
    order = rng.permutation(codes_t.shape[0])
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        monitor.update(torch.from_numpy(idx), codes_t[idx])


def _assert_same_certificate(a: wt.Certificate, b: wt.Certificate):
    for f in dataclasses.fields(wt.Certificate):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        assert va == vb, f"{f.name}: monitor {va!r} != certify {vb!r}"


@pytest.mark.parametrize("seed,n,K,d,batch,zeros", [
    (0, 257, 10, 16, 32, False),
    (1, 100, 2, 1, 7, True),
    (2, 1000, 5, 12, 128, True),
])
def test_compute_equals_certify_bit_for_bit(seed, n, K, d, batch, zeros):
    rng = np.random.default_rng(seed)
    T = _teacher(rng, n, K, zeros)
    codes32 = torch.from_numpy(rng.normal(scale=0.7, size=(n, d))).float()  # a float32 model output
    monitor = CertificateMonitor(T, witness_scale=3.0, latent_dim=d)
    _feed(monitor, codes32, batch, rng)
    result = monitor.compute()
    witness = wt.Witness(K, d, scale=3.0)
    reference = wt.certify(T, codes32.double().numpy(), witness)
    _assert_same_certificate(result.certificate, reference)
    assert result.G_T == reference.margin and result.I_T == reference.teacher_information
    assert result.L_TS == reference.alignment_loss and result.escape_force == reference.escape_force
    assert result.t8_bound == reference.size_bound and result.verdict == reference.verdict
    assert result.certified_spread == wt.certified_spread(reference.margin, witness)
    np.testing.assert_array_equal(monitor.codes(), codes32.double().numpy())


def test_weights_frame_and_from_witness():
    rng = np.random.default_rng(3)
    n, K, d = 300, 4, 6
    T = _teacher(rng, n, K)
    w = rng.uniform(0.1, 2.0, size=n)
    frame = np.linalg.qr(rng.normal(size=(d, K - 1)))[0]
    codes = torch.from_numpy(rng.normal(size=(n, d)))  # float64 input is kept as is
    witness = wt.Witness(K, d, scale=2.5, frame=frame)
    reference = wt.certify(T, codes.numpy(), witness, w)
    for monitor in (CertificateMonitor(T, 2.5, d, frame=frame, weights=w),
                    CertificateMonitor.from_witness(T, witness, weights=w)):
        _feed(monitor, codes, 50, rng)
        _assert_same_certificate(monitor.compute().certificate, reference)


def test_reset_and_epochs_are_independent():
    rng = np.random.default_rng(4)
    T = _teacher(rng, 64, 3)
    monitor = CertificateMonitor(T, 4.0, 5)
    first = torch.from_numpy(rng.normal(size=(64, 5)))
    second = torch.from_numpy(rng.normal(size=(64, 5)))
    _feed(monitor, first, 10, rng)
    r0 = monitor.compute()
    monitor.reset()
    with pytest.raises(ValueError, match="64 of 64 data-set indices have no code"):
        monitor.compute()
    _feed(monitor, second, 9, rng)
    r1 = monitor.compute()
    assert (r0.step, r1.step) == (0, 1)
    _assert_same_certificate(r1.certificate, wt.certify(T, second.numpy(), monitor.witness))
    assert r0.G_T != r1.G_T


def test_stored_codes_are_detached_copies():
    rng = np.random.default_rng(5)
    T = _teacher(rng, 8, 3)
    monitor = CertificateMonitor(T, 4.0, 2)
    mu = torch.from_numpy(rng.normal(size=(8, 2))).requires_grad_(True)
    out = mu * 1.0  # a non-leaf with a graph, as in training
    monitor.update(torch.arange(8), out)
    before = monitor.codes()
    with torch.no_grad():
        mu.add_(100.0)  # changing the tensor afterwards must not change what was recorded
    np.testing.assert_array_equal(monitor.codes(), before)
    assert before.dtype == np.float64


def test_negative_and_positive_controls():
    """A constant encoder is never certified (T2); the exact teacher code reaches G_T = I_T (T4)."""
    rng = np.random.default_rng(6)
    n, K, d = 200, 5, 8
    T = _teacher(rng, n, K)
    witness = wt.Witness(K, d, scale=4.0)
    monitor = CertificateMonitor.from_witness(T, witness)
    constant = np.repeat(rng.normal(size=(1, d)), n, axis=0)
    monitor.update(np.arange(n), constant)
    r = monitor.compute()
    assert r.G_T <= 0 and not r.certified and r.certified_spread == 0.0
    monitor.reset()
    monitor.update(np.arange(n), wt.exact_embedding(T, witness))
    r = monitor.compute()
    # exact code: L_TS is 0 up to float64 rounding of log-softmax (a few ulps of |log T|)
    assert r.certified and abs(r.G_T - r.I_T) < 1e-12 * (1 + np.abs(np.log(T)).max())
    assert r.G_T <= r.t8_bound  # T8
    assert isinstance(r, MonitorResult) and r.as_dict()["verdict"] == "certified"


class TestErrors:
    @pytest.fixture
    def monitor(self):
        T = _teacher(np.random.default_rng(7), 20, 3)
        return CertificateMonitor(T, 4.0, 4)

    def test_duplicate_within_batch_names_index(self, monitor):
        with pytest.raises(ValueError, match=r"within one batch: \[3\]"):
            monitor.update(torch.tensor([1, 3, 3]), torch.zeros(3, 4))

    def test_duplicate_across_batches_names_index(self, monitor):
        monitor.update(torch.tensor([0, 5]), torch.zeros(2, 4))
        with pytest.raises(ValueError, match=r"already recorded since the last reset\(\): \[5\]"):
            monitor.update(torch.tensor([5, 6]), torch.zeros(2, 4))
        # the failed batch recorded nothing: 6 is still free
        monitor.update(torch.tensor([6]), torch.zeros(1, 4))

    def test_missing_names_indices(self, monitor):
        monitor.update(torch.arange(18), torch.zeros(18, 4))
        with pytest.raises(ValueError, match=r"2 of 20 data-set indices have no code.*\[18, 19\]"):
            monitor.compute()
        with pytest.raises(ValueError, match="have no code"):
            monitor.codes()

    def test_wrong_latent_dim(self, monitor):
        with pytest.raises(ValueError, match=r"shape \(B, 4\).*got \(2, 5\)"):
            monitor.update(torch.tensor([0, 1]), torch.zeros(2, 5))
        with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
            monitor.update(torch.tensor([0, 1]), torch.zeros(8))

    def test_nan_and_inf_name_the_rows(self, monitor):
        mu = torch.zeros(3, 4)
        mu[1, 2] = float("nan")
        with pytest.raises(ValueError, match=r"NaN or inf for data-set indices \[8\]"):
            monitor.update(torch.tensor([7, 8, 9]), mu)
        mu[1, 2] = float("inf")
        with pytest.raises(ValueError, match=r"\[8\]"):
            monitor.update(torch.tensor([7, 8, 9]), mu)
        assert monitor.n_seen == 0

    def test_index_problems(self, monitor):
        with pytest.raises(ValueError, match=r"out of range 0..19.*\[20\]"):
            monitor.update(torch.tensor([0, 20]), torch.zeros(2, 4))
        with pytest.raises(ValueError, match=r"out of range.*\[-1\]"):
            monitor.update(np.array([-1]), np.zeros((1, 4)))
        with pytest.raises(ValueError, match="integer data-set indices"):
            monitor.update(torch.tensor([0.0, 1.0]), torch.zeros(2, 4))
        with pytest.raises(ValueError, match="index has 3 entries but mu has 2 rows"):
            monitor.update(torch.tensor([0, 1, 2]), torch.zeros(2, 4))
        with pytest.raises(ValueError, match="1-D"):
            monitor.update(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 4))

    def test_constructor_errors(self):
        T = _teacher(np.random.default_rng(8), 10, 3)
        with pytest.raises(ValueError, match="latent dimension"):
            CertificateMonitor(T, 4.0, 1)  # d < K-1
        with pytest.raises(ValueError, match="witness_scale"):
            CertificateMonitor(T, -1.0, 4)
        with pytest.raises(ValueError, match="sums to"):
            CertificateMonitor(T * 2, 4.0, 4)
        with pytest.raises(ValueError, match="K = 4"):
            CertificateMonitor.from_witness(T, wt.Witness(4, 4))
        with pytest.raises(ValueError, match="latent_dim = 5 but the witness has d = 4"):
            CertificateMonitor(T, latent_dim=5, witness=wt.Witness(3, 4))
        with pytest.raises(ValueError, match="weights has length 3"):
            CertificateMonitor(T, 4.0, 4, weights=np.ones(3))


# ---------------------------------------------------------------------------------------
# Ordered passes (no indices), codes kept on the device, held-out certificates (issue 10)
# ---------------------------------------------------------------------------------------

def test_ordered_pass_without_indices_equals_certify_bit_for_bit():
    rng = np.random.default_rng(9)
    n, K, d = 203, 4, 6
    T = _teacher(rng, n, K)
    codes32 = torch.from_numpy(rng.normal(size=(n, d))).float()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(codes32), batch_size=50)  # no index
    monitor = CertificateMonitor(T, 2.0, d)
    for (mu,) in loader:
        monitor.update(mu)
    _assert_same_certificate(monitor.compute().certificate, wt.certify(T, codes32.double().numpy(), monitor.witness))
    monitor.reset()
    for (mu,) in loader:
        monitor.append(mu)                                   # the same, under its own name
    np.testing.assert_array_equal(monitor.codes(), codes32.double().numpy())


def test_ordered_pass_errors():
    T = _teacher(np.random.default_rng(10), 10, 3)
    monitor = CertificateMonitor(T, 4.0, 2)
    monitor.update(torch.zeros(8, 2))
    with pytest.raises(ValueError, match=r"8 \+ 3 codes exceed the teacher's N = 10 rows"):
        monitor.update(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="do not mix"):
        monitor.update(torch.tensor([8, 9]), torch.zeros(2, 2))
    monitor.update(torch.zeros(2, 2))
    assert monitor.n_seen == 10
    monitor.reset()                                          # a new epoch may use the other form
    monitor.update(torch.arange(10), torch.zeros(10, 2))


@pytest.mark.parametrize("ordered", [False, True])
def test_device_path_keeps_codes_until_compute_bit_for_bit(ordered):
    """The accelerator path (codes kept on their device, one host copy in compute()), run on
    the CPU with the test switch: same certificate to the last bit as certify()."""
    rng = np.random.default_rng(11)
    n, K, d = 300, 5, 7
    T = _teacher(rng, n, K, zeros=True)
    codes32 = torch.from_numpy(rng.normal(size=(n, d))).float()
    monitor = CertificateMonitor(T, 3.0, d)
    monitor._defer_cpu = True
    if ordered:
        for start in range(0, n, 64):
            monitor.update(codes32[start:start + 64])
    else:
        _feed(monitor, codes32, 64, rng)
    assert len(monitor._pending) == 5                        # nothing was copied yet
    reference = wt.certify(T, codes32.double().numpy(), monitor.witness)
    _assert_same_certificate(monitor.compute().certificate, reference)
    assert not monitor._pending


def test_device_path_copies_detach_and_names_nan_rows_at_compute():
    rng = np.random.default_rng(12)
    T = _teacher(rng, 6, 3)
    monitor = CertificateMonitor(T, 4.0, 2)
    monitor._defer_cpu = True
    mu = torch.from_numpy(rng.normal(size=(6, 2))).requires_grad_(True)
    before = mu.detach().numpy().copy()
    monitor.update(torch.arange(6), mu * 1.0)
    with torch.no_grad():
        mu.add_(100.0)                                       # a later in-place change is not recorded
    np.testing.assert_array_equal(monitor.codes(), before)
    monitor.reset()
    bad = torch.zeros(6, 2)
    bad[4, 1] = float("nan")
    monitor.update(torch.tensor([5, 4, 3, 2, 1, 0]), bad)   # a device cannot be checked without a sync ...
    with pytest.raises(ValueError, match=r"NaN or inf for data-set indices \[1\]"):
        monitor.compute()                                    # ... so compute() names the row
    with pytest.raises(ValueError, match="6 of 6 data-set indices have no code"):
        monitor.compute()                                    # and the failed transfer recorded nothing


def test_compute_heldout_equals_the_estimators():
    rng = np.random.default_rng(13)
    n, K, d = 240, 3, 5
    T = _teacher(rng, n, K)
    W0 = wt.Witness(K, d, 2.0, np.linalg.qr(rng.normal(size=(d, K - 1)))[0])
    codes = wt.exact_embedding(np.clip(T, 1e-6, None) / np.clip(T, 1e-6, None).sum(1, keepdims=True), W0)
    monitor = CertificateMonitor(T, 4.0, d)
    monitor.update(np.arange(n), codes)
    split = wt.heldout_split(n, fraction=0.25, seed=3)
    result = monitor.compute_heldout(split, witness_kwargs={"max_iter": 20})
    f, e = split.fit, split.eval
    for method, estimator in (("raw", wt.RawWitness(monitor.witness)), ("witness", wt.FittedWitness(max_iter=20)),
                              ("probe", wt.Probe())):
        ref = estimator.fit(T[f], codes[f], f).certify(T[e], codes[e], e)
        got = getattr(result, method)
        assert (got.margin, got.teacher_information, got.loss, got.positive, got.lcb, got.verdict) == \
            (ref.margin, ref.teacher_information, ref.loss, ref.positive, ref.lcb, ref.verdict)
    assert result.witness.positive and result.probe.positive and not result.raw.positive
    assert set(result.as_dict()) == {"step", "raw", "witness", "probe"} and "probe: G(eval)=" in result.summary()
    assert "LCB" in result.summary() and result.probe.lcb is not None and result.probe.lcb < result.probe.margin
    same = monitor.compute_heldout(fit_ids=f, eval_ids=e, methods=("raw",))
    assert same.raw.margin == result.raw.margin and same.witness is None
    with pytest.raises(ValueError, match=r"share 2 row id\(s\) \[{}, {}\]".format(*sorted(e[:2]))):
        monitor.compute_heldout(fit_ids=np.concatenate([f, e[:2]]), eval_ids=e)


def test_compute_heldout_with_a_separate_fit_pass():
    rng = np.random.default_rng(14)
    K, d = 3, 4
    T_train, T_test = _teacher(rng, 150, K), _teacher(rng, 60, K)
    X_train, X_test = rng.normal(size=(150, d)), rng.normal(size=(60, d))
    train, test = CertificateMonitor(T_train, 4.0, d), CertificateMonitor(T_test, 4.0, d)
    train.update(np.arange(150), X_train)
    test.update(np.arange(60), X_test)
    result = test.compute_heldout(fit_monitor=train, methods=("witness", "probe"))
    fit = wt.Probe().fit(T_train, X_train, np.arange(150))
    ref = fit.certify(T_test, X_test, 150 + np.arange(60))
    assert result.probe.margin == ref.margin and result.probe.fit_margin == fit.fit_margin_
    assert result.probe.n_fit == 150 and result.probe.n_eval == 60
    with pytest.raises(ValueError, match="fit_monitor is this monitor"):
        test.compute_heldout(fit_monitor=test)
    with pytest.raises(ValueError, match="needs the rows to fit on"):
        test.compute_heldout()


def test_compute_heldout_constant_codes_are_not_certified_and_carry_a_pvalue():
    """T13 through the monitor: codes that carry no teacher information get no certificate at
    1 - delta, and the permutation p-value is reported (and not small)."""
    rng = np.random.default_rng(5)
    n, K, d = 300, 3, 4
    T = _teacher(rng, n, K)
    monitor = CertificateMonitor(T, 4.0, d)
    monitor.update(np.arange(n), np.tile(rng.normal(size=d), (n, 1)) + 1e-3 * rng.normal(size=(n, d)))
    result = monitor.compute_heldout(wt.heldout_split(n, fraction=0.5, seed=1), methods=("witness", "probe"),
                                     permutations=199)
    for _, cert in result.items():
        assert not cert.certified and cert.verdict != "certified" and cert.lcb < 0
        assert cert.bound.p_value is not None and 1 / 200 <= cert.bound.p_value <= 1
