"""Training loop, resume, loss terms, metrics and the bounds asserted on trained models.

Tiny configs on digits (400 rows, 1-layer MLP of width 32) keep this file under a minute on
2 cores. One teacher is fitted per module (cached in a temporary directory).
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import witness_theory as wt
from empirical import io as eio
from empirical.training.metrics import active_units, gaussian_log_density, ledger_checks, mutual_information, report_violations
from empirical.training.loop import (METHODS, TrainConfig, alignment_weight, apply_overrides, build_model, encode_checkpoint,
                             evaluate, loss_terms, prepare, train)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("teachers")
    config = TrainConfig(dataset="digits", limit=400, hidden=(32,), epochs=3, batch_size=64, prefit_epochs=1,
                         device="cpu", teacher_cache=str(cache))
    return config, prepare(config)


def _cfg(tiny, tmp_path, **kw):
    return dataclasses.replace(tiny[0], out_dir=str(tmp_path / "run"), **kw)


# ---------------------------------------------------------------------------------------
# Config overrides
# ---------------------------------------------------------------------------------------

def test_overrides_parse_types_and_reject_unknown_keys():
    c = apply_overrides(TrainConfig(), ["kl_weight=4", "hidden=64,32", "limit=none", "epochs=3", "method=rst",
                                        "data_root=/x", "lr=1e-3"])
    assert (c.kl_weight, c.hidden, c.limit, c.epochs, c.method, c.data_root, c.lr) == \
        (4.0, (64, 32), None, 3, "rst", "/x", 1e-3)
    with pytest.raises(ValueError, match="--set beta: not a field of TrainConfig; valid keys: dataset, method"):
        apply_overrides(TrainConfig(), ["beta=2"])
    with pytest.raises(ValueError, match="expected int"):
        apply_overrides(TrainConfig(), ["epochs=many"])
    with pytest.raises(ValueError, match="expects KEY=VALUE"):
        apply_overrides(TrainConfig(), ["epochs"])
    with pytest.raises(ValueError, match="method must be one of"):
        apply_overrides(TrainConfig(), ["method=aligned"])


# ---------------------------------------------------------------------------------------
# Loss terms: the methods differ only here
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_loss_terms_per_method(tiny, method):
    config, exp = tiny
    config = dataclasses.replace(config, method=method, kl_weight=2.0, alpha=3.0)
    torch.manual_seed(0)
    model = build_model(config, exp.dataset.image_shape)
    x, T, codes = exp.x_train[:50], exp.T_train[:50], exp.exact_codes_train[:50]
    torch.manual_seed(1)
    t = loss_terms(model, x, T, exp.head, config, epoch=config.prefit_epochs, target_codes=codes)
    alpha_eff = alignment_weight(config)
    assert alpha_eff == {"vanilla": 0.0, "rst": 3.0, "rst-prefit": 3.0, "rst-alpha-prefit": 6.0}[method]
    want = t["rec"] + 2.0 * t["kl"] + alpha_eff * t["align"]
    assert torch.allclose(t["total"], want, rtol=1e-6)
    assert t["align"].requires_grad == (method != "vanilla")   # vanilla: the witness only measures
    if method.endswith("prefit"):
        p = loss_terms(model, x, T, exp.head, config, epoch=0, target_codes=codes)
        mu, _ = model.encode(x)
        assert torch.allclose(p["total"], 0.5 * (mu - codes).pow(2).sum(1).mean(), rtol=1e-6)
        with pytest.raises(ValueError, match="target_codes"):
            loss_terms(model, x, T, exp.head, config, epoch=0)
    # alpha rule of rst-alpha-prefit: alpha * max(1, kl_weight) * boost
    assert alignment_weight(dataclasses.replace(config, method="rst-alpha-prefit", kl_weight=0.5), 4.0) == 12.0


def test_exact_codes_are_the_reference_embedding(tiny):
    config, exp = tiny
    ref = wt.exact_embedding(exp.teacher_np("train"), exp.witness)
    np.testing.assert_allclose(exp.exact_codes_train.double().numpy(), ref, rtol=1e-6, atol=1e-6)  # float32 copy


# ---------------------------------------------------------------------------------------
# A run: files, bounds, resume, init_from, callback
# ---------------------------------------------------------------------------------------

def _strip(history):
    return json.dumps(eio.to_jsonable([{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]))


def test_resume_after_kill_gives_identical_numbers(tiny, tmp_path):
    """Train 4 epochs straight; or kill in epoch 3 and resume: same numbers, bit for bit.

    Exact equality (not 1e-6) is expected: the checkpoint restores model, optimiser, schedule
    and every RNG (torch, numpy, python, shuffle), CPU kernels are deterministic, and
    evaluation draws from its own fixed-seed generator. A difference means state was lost.
    """
    config, exp = tiny
    base = dataclasses.replace(config, method="rst-alpha-prefit", epochs=3, prefit_epochs=1, kl_weight=4.0,
                               alpha_margin_floor=0.99)  # floor near I_T: the boost state changes and must resume
    straight = train(dataclasses.replace(base, out_dir=str(tmp_path / "a")), experiment=exp, progress=False)
    n_batches = math.ceil(exp.x_train.shape[0] / base.batch_size)

    class Kill(Exception):
        pass

    def kill(step, model, losses):
        if step == 2 * n_batches + 1:  # in the middle of epoch 3
            raise Kill

    killed_cfg = dataclasses.replace(base, out_dir=str(tmp_path / "b"))
    with pytest.raises(Kill):
        train(killed_cfg, experiment=exp, step_callback=kill, progress=False)
    assert len(eio.read_jsonl(tmp_path / "b" / "metrics.jsonl")) == 2
    resumed = train(killed_cfg, experiment=exp, progress=False)
    assert straight.history[-1]["alpha_eff"] > straight.history[1]["alpha_eff"]  # the boost did change
    assert json.dumps(eio.to_jsonable(straight.final)) == json.dumps(eio.to_jsonable(resumed.final))
    assert _strip(straight.history) == _strip(resumed.history)
    assert len(eio.read_jsonl(tmp_path / "b" / "metrics.jsonl")) == 4
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_run_writes_files_and_satisfies_bounds(tiny, tmp_path):
    config, exp = tiny
    seen = []

    def callback(step, model, losses):  # after backward, before the optimiser step: grads exist
        seen.append((step, model.mean_layer.weight.grad is not None, float(losses["total"].detach())))

    result = train(_cfg(tiny, tmp_path, method="rst"), experiment=exp, step_callback=callback, progress=False)
    out = result.out_dir
    for name in ("config.json", "versions.json", "metrics.jsonl", "summary.json", "checkpoint.pt"):
        assert (out / name).exists(), name
    assert [s for s, _, _ in seen] == list(range(len(seen))) and all(g for _, g, _ in seen)
    assert len(eio.read_jsonl(out / "metrics.jsonl")) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bound_violations"] == [] and result.bound_violations == []
    f = result.final
    assert all(f["checks"].values()) and set(f["checks"]) == {"T2", "T8", "T5", "T10", "AU"}
    assert f["G_T"] <= f["I_T"] and f["G_T"] <= f["size_bound"] + 1e-12
    assert f["kl"] >= f["energy"] >= f["energy_subspace"] >= 0
    assert 0 <= f["active_units"] <= config.latent_dim and f["active_fraction"] == f["active_units"] / 16
    assert len(f["kl_per_dim"]) == 16 and abs(sum(f["kl_per_dim"]) - f["kl"]) < 1e-9 * (1 + f["kl"])
    # the reported certificate is exactly witness_theory.certify on the float64 means
    enc = encode_checkpoint(out / "checkpoint.pt", experiment=exp)
    cert = wt.certify(enc["teacher"], enc["codes"], exp.witness)
    assert cert.margin == f["G_T"] and cert.alignment_loss == f["L_TS"]
    assert enc["codes"].dtype == np.float64 and enc["frame"].shape == (16, exp.witness.K - 1)
    assert enc["witness_scale"] == 4.0 and enc["config"].method == "rst"


def test_init_from_starts_a_new_run(tiny, tmp_path):
    config, exp = tiny
    first = train(_cfg(tiny, tmp_path, method="vanilla", epochs=1), experiment=exp, progress=False)
    second = train(dataclasses.replace(config, method="rst", epochs=1, out_dir=str(tmp_path / "second")),
                   experiment=exp, init_from=first.out_dir / "checkpoint.pt", progress=False)
    assert [h["epoch"] for h in second.history] == [1]  # epoch counter reset
    # a different config in an existing run directory is refused, not silently mixed
    with pytest.raises(ValueError, match="different config"):
        train(_cfg(tiny, tmp_path, method="rst", epochs=1), experiment=exp, progress=False)


def test_collapsed_encoder_is_not_certified_and_has_no_active_units(tiny):
    """Negative control: mean_layer zero weight, bias = best constant code -> G_T <= 0 (T2), AU = 0."""
    config, exp = tiny
    model = build_model(config, exp.dataset.image_shape)
    with torch.no_grad():
        model.mean_layer.weight.zero_()
        model.mean_layer.bias.copy_(torch.as_tensor(wt.best_constant_code(exp.teacher_np("test"), exp.witness)))
    m = evaluate(model, exp, "test")
    assert m["active_units"] == 0 and not m["certified"]
    assert m["G_T"] <= 1e-6  # float32 bias: the code is the best constant up to ~1e-7
    assert m["bound_violations"] == []


def test_a_violated_bound_is_reported_loudly(capsys):
    bad = wt.theorems.CheckResult("AU", (wt.theorems.relation("active units <= d", 20, "<=", 16),))
    out = report_violations([bad], "unit test")
    assert out and out[0]["theorem"] == "AU" and out[0]["lhs"] == 20
    assert "BOUND VIOLATED unit test" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Metrics: sanity bands and negative controls
# ---------------------------------------------------------------------------------------

def test_active_units_identity_and_constant():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    assert active_units(x)[0] == 6                  # identity encoder: every unit active
    assert active_units(np.ones((500, 6)))[0] == 0  # constant encoder: none
    v = np.zeros((3, 2))
    v[:, 0] = [0.0, 0.1, 0.2]                       # unbiased variance exactly 0.01: active (>=)
    assert active_units(v)[0] == 1


def test_gaussian_log_density_matches_scipy():
    from scipy.stats import multivariate_normal
    rng = np.random.default_rng(1)
    z, mu, lv = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    got = gaussian_log_density(torch.tensor(z), torch.tensor(mu), torch.tensor(lv)).numpy()
    want = np.array([[multivariate_normal(mu[j], np.diag(np.exp(lv[j]))).logpdf(z[i]) for j in range(4)]
                     for i in range(5)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_mutual_information_bands():
    rng = np.random.default_rng(2)
    n, d = 2000, 4
    # identical posteriors: I_q = 0; one-sample Monte Carlo noise sd ~ sqrt(d/2/n) = 0.03, so 0.15 is 5 sd
    same = mutual_information(np.zeros((n, d)), np.zeros((n, d)), batch_size=100)
    assert abs(same["mi_full"]) < 0.15 and abs(same["mi_minibatch"]) < 0.15
    # far-apart, sharp posteriors: I_q reaches its ceiling log M (M = mixture size), up to the same
    # one-sample noise (sd 0.03; 0.15 = 5 sd); log 2000 - log 100 = 3.0 separates the two variants
    far = mutual_information(rng.normal(scale=100.0, size=(n, d)), np.full((n, d), -6.0), batch_size=100)
    assert abs(far["mi_full"] - np.log(n)) < 0.15 and abs(far["mi_minibatch"] - np.log(100)) < 0.15
    assert far["mi_batch_size"] == 100 and far["mi_full_size"] == n


def test_ledger_checks_pass_on_random_codes():
    rng = np.random.default_rng(3)
    T = rng.dirichlet(np.ones(5), size=200)
    mu, lv = rng.normal(size=(200, 6)), rng.normal(scale=0.5, size=(200, 6))
    checks = ledger_checks(T, mu, lv, wt.Witness(5, d=6, scale=4.0), active_units(mu)[0])
    assert all(c.holds for c in checks), [str(c) for c in checks if not c.holds]


# ---------------------------------------------------------------------------------------
# Devices and the real Fashion-MNIST smoke test
# ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_run(tiny, tmp_path):
    config, _ = tiny
    result = train(_cfg(tiny, tmp_path, device="cuda", method="rst", epochs=1), progress=False)
    assert result.bound_violations == []


def test_device_cuda_without_cuda_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="use --device cpu"):
        prepare(TrainConfig(device="cuda"))


def test_fashion_mnist_smoke(tmp_path, missing_resource):
    from empirical.configs import config_for
    from empirical.data.loaders import load_dataset
    try:
        load_dataset("fashion-mnist", limit=1)
    except FileNotFoundError as exc:
        missing_resource(f"Fashion-MNIST not installed: {exc}")
    config = config_for("fashion-mnist", method="rst", epochs=1, prefit_epochs=0, limit=1000, hidden=(64,),
                        device="cpu", teacher_cache=str(tmp_path / "teachers"), out_dir=str(tmp_path / "run"))
    result = train(config, progress=False)
    assert result.final["n"] == 1000 and result.bound_violations == []
    assert np.isfinite(result.final["G_T"]) and np.isfinite(result.final["rec"])


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian", "gaussian-learned"])
def test_conv_vae_for_colour_images(decoder):
    """(3, 32, 32) inputs get the conv network; every decoder gives a finite per-sample NLL."""
    config = TrainConfig(dataset="cifar10", hidden=(64,), conv_channels=(8, 16, 16), latent_dim=12, decoder=decoder)
    model = build_model(config, (3, 32, 32))
    assert model.conv and isinstance(model.mean_layer, torch.nn.Linear) and model.mean_layer.out_features == 12
    x = torch.rand(5, 3 * 32 * 32)
    out, mu, log_var = model(x)
    nll = model.reconstruction_nll(x, out)
    assert out.shape == x.shape and mu.shape == log_var.shape == (5, 12) and nll.shape == (5,)
    assert torch.isfinite(nll).all()
    if decoder == "gaussian":  # fixed unit variance: -log N(x; xhat, I) by hand
        want = 0.5 * (x - out).pow(2).sum(1) + 0.5 * x.shape[1] * math.log(2 * math.pi)
        assert torch.allclose(nll, want)
    assert (model.log_scale is not None) == (decoder == "gaussian-learned")
