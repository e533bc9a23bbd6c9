"""Training loop, resume, loss terms, metrics and the bounds asserted on trained models.

Tiny configs on digits (400 rows, 1-layer MLP of width 32) keep this file under a minute on
2 cores. One teacher is fitted per module (cached in a temporary directory).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import witness_theory as wt
from empirical import io as eio
from empirical.cli import main
from empirical.configure import apply_overrides, config_from_dict, config_to_dict, replace, resolve, valid_keys
from empirical.methods import Batch, Run, get_method, method_names
from empirical.models.vae import gaussian_kl_terms
from empirical.training.checkpoints import load_checkpoint
from empirical.training.evaluation import encode_checkpoint, evaluate
from empirical.training.experiment import build_model, prepare
from empirical.training.loop import make_method, train
from empirical.training.metrics import active_units, gaussian_log_density, ledger_checks, mutual_information, report_violations

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("teachers")
    config = resolve("digits", "vanilla", overrides={
        "data.limit": 400, "model.hidden": (32,), "train.epochs": 3, "train.batch_size": 64,
        "train.device": "cpu", "teacher.cache": str(cache)})
    return config, prepare(config)


def _cfg(tiny, tmp_path, method="vanilla", **kw):
    """The tiny config with ``method`` (prefit methods: 1 prefit epoch) and ``section__key`` changes."""
    config = replace(tiny[0], method_name=method, out_dir=str(tmp_path / "run"))
    if hasattr(config.method, "prefit_epochs"):
        config = replace(config, method__prefit_epochs=1)
    return replace(config, **kw) if kw else config


# ---------------------------------------------------------------------------------------
# Config tree and overrides
# ---------------------------------------------------------------------------------------

def test_overrides_parse_types_and_reject_unknown_keys():
    c = resolve("digits", "rst", overrides=["train.kl_weight=4", "model.hidden=64,32", "data.limit=none",
                                            "train.epochs=3", "data.root=/x", "train.lr=1e-3", "method.alpha=2",
                                            "teacher.whiten=true", "teacher.covariance_types=full,diag",
                                            "out_dir=/tmp/run"])
    assert (c.train.kl_weight, c.model.hidden, c.data.limit, c.train.epochs, c.data.root, c.train.lr,
            c.method.alpha, c.teacher.whiten, c.teacher.covariance_types, c.out_dir) == \
        (4.0, (64, 32), None, 3, "/x", 1e-3, 2.0, True, ("full", "diag"), "/tmp/run")
    assert type(c.train.kl_weight) is float and type(c.train.epochs) is int and type(c.method.alpha) is float
    assert c.method_name == "rst" and c.data.name == "digits"
    # the data set's registry defaults are applied before the overrides (digits: lr 3e-3, 20 epochs)
    d = resolve("digits", "rst-prefit")
    assert (d.train.lr, d.train.epochs, d.method.prefit_epochs, d.model.hidden) == (3e-3, 20, 3, (256, 128))
    q = resolve("digits", "rst-prefit", quick=True)
    assert (q.train.epochs, q.method.prefit_epochs) == (8, 2)
    # apply_overrides on a built tree: a copy, strings or typed values
    e = apply_overrides(c, ["train.epochs=5", "witness.scale=2"])
    assert (e.train.epochs, e.witness.scale, c.train.epochs, c.witness.scale) == (5, 2.0, 3, 4.0)
    assert apply_overrides(c, {"train.seed": 9, "model.latent_dim": 8}).train.seed == 9
    # unknown keys fail with the list of valid keys (the method's own keys included)
    keys = valid_keys(c)
    assert {"out_dir", "data.limit", "train.epochs", "method.alpha", "teacher.pca_dims"} <= set(keys)
    assert "teacher.witness_scale" not in keys and "method.alpha" not in valid_keys(resolve("digits", "vanilla"))
    with pytest.raises(ValueError, match=r"--set train\.beta: unknown key; valid keys: out_dir, data\.name, "
                                         r"data\.root") as info:
        apply_overrides(c, ["train.beta=2"])
    assert all(k in str(info.value) for k in keys)
    # vanilla has no alpha: the key is kept for a grid that switches to a method that has one
    v = resolve("digits", "vanilla", overrides=["method.alpha=0.25"])
    assert v.method == get_method("vanilla").Config() and replace(v, method_name="rst").method.alpha == 0.25
    with pytest.raises(ValueError, match=r"--set method\.alphx: unknown key; valid keys.*method keys of other methods: "
                                         r"alpha, alpha_T"):
        resolve("digits", "vanilla", overrides=["method.alphx=1"])   # no method has it
    with pytest.raises(ValueError, match=r"--set bogus\.x: unknown key"):
        apply_overrides(c, {"bogus.x": 1})
    with pytest.raises(ValueError, match="take.* from witness.scale"):
        apply_overrides(c, ["teacher.witness_scale=2"])
    with pytest.raises(ValueError, match="expected int"):
        apply_overrides(c, ["train.epochs=many"])
    with pytest.raises(ValueError, match="expected bool"):
        apply_overrides(c, ["teacher.whiten=maybe"])
    with pytest.raises(ValueError, match="expects SECTION.KEY=VALUE"):
        apply_overrides(c, ["train.epochs"])
    with pytest.raises(ValueError, match="unknown method 'aligned'; valid methods: vanilla"):
        resolve("digits", "aligned")
    with pytest.raises(ValueError, match="model.decoder must be one of"):
        apply_overrides(c, ["model.decoder=poisson"])
    with pytest.raises(ValueError, match="train.epochs must be >= 1"):
        apply_overrides(c, ["train.epochs=0"])
    with pytest.raises(ValueError, match="method.alpha must be >= 0"):
        apply_overrides(c, ["method.alpha=-1"])
    # replace: sections by ``section__key``; a new method keeps the keys both methods share
    r = replace(c, method_name="rst-prefit", train__seed=3)
    assert r.method_name == "rst-prefit" and r.method.alpha == 2.0 and r.train.seed == 3 and c.train.seed == 0
    assert type(r.method) is get_method("rst-prefit").Config
    # the JSON round trip every run writes
    back = config_from_dict(json.loads(json.dumps(config_to_dict(r))))
    assert back == r
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict({**config_to_dict(r), "train": {**config_to_dict(r)["train"], "beta": 1}})


def test_config_command_set_and_unknown_key(capsys):
    assert main(["config", "--method", "rst", "--set", "train.epochs=5", "model.hidden=64,32",
                 "--set", "method.alpha=2"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert tree["method_name"] == "rst" and tree["train"]["epochs"] == 5
    assert tree["model"]["hidden"] == [64, 32] and tree["method"]["alpha"] == 2.0
    assert main(["config", "--set", "train.bogus=1"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --set train.bogus: unknown key; valid keys: out_dir")
    assert captured.out == ""
    # the same through the module entry point (its exit status, no traceback)
    proc = subprocess.run([sys.executable, "-m", "empirical", "config", "--set", "train.bogus=1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "unknown key; valid keys" in proc.stderr
    assert main(["config", "--keys", "--method", "rst"]) == 0
    assert "method.alpha" in capsys.readouterr().out.split()


# ---------------------------------------------------------------------------------------
# Loss terms: the methods differ only here (each total checked against its formula by hand)
# ---------------------------------------------------------------------------------------

KL_WEIGHT, ALPHA, N_BATCHES = 2.0, 3.0, 5
BUILTIN_METHODS = ("vanilla", "rst", "rst-prefit", "rst-alpha-prefit", "kl-anneal", "free-bits", "aggressive",
                   "lr-vae", "hct")


def _small_batch(exp, n=8):
    idx = torch.arange(n)
    return Batch(exp.x_train[idx], exp.T_train[idx], exp.exact_codes_train[idx], idx)


def _method_and_run(tiny, name, **method_kw):
    config, exp = tiny
    c = replace(config, method_name=name, train__kl_weight=KL_WEIGHT)
    if hasattr(c.method, "alpha"):
        c = replace(c, method__alpha=ALPHA)
    if method_kw:
        c = replace(c, **{f"method__{k}": v for k, v in method_kw.items()})
    torch.manual_seed(0)
    model = build_model(c, exp.dataset.image_shape)
    batch = _small_batch(exp)
    run = Run(head=exp.head, kl_weight=KL_WEIGHT, teacher_information_train=exp.teacher_information_train,
              optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), n_batches=N_BATCHES,
              sample_batch=lambda: batch, evaluate=lambda **kw: pytest.fail("loss must not evaluate"),
              device=torch.device("cpu"))
    method = get_method(name)(c.method, c.train.kl_weight)
    assert type(method) is type(make_method(c)) and method.kl_weight == KL_WEIGHT
    return c, exp, model, batch, run, method


def _hand_terms(model, batch, head, seed):
    """rec, kl, align and the per-dimension KL of one forward pass with torch seed ``seed``."""
    torch.manual_seed(seed)
    out, mu, log_var = model(batch.x)
    kl_dims = gaussian_kl_terms(mu, log_var)
    return {"rec": model.reconstruction_nll(batch.x, out).mean(), "kl": kl_dims.sum(1).mean(),
            "align": head.alignment_loss(mu, batch.teacher), "mu": mu, "kl_dims": kl_dims}


def _loss(method, model, batch, epoch, run, seed):
    torch.manual_seed(seed)
    return method.loss(model, batch, epoch, run)


def _check_terms(t, hand):
    """The method's rec / kl / align are the ELBO terms of the same forward pass (same z draw)."""
    for k in ("rec", "kl", "align"):
        assert torch.allclose(t[k], hand[k], rtol=1e-6, atol=0), (k, t[k], hand[k])
    assert all(float(hand[k].detach()) > 0 for k in ("rec", "kl", "align"))


def test_every_registered_builtin_method_has_a_loss_test():
    builtin = {n for n in method_names() if get_method(n).__module__.startswith("empirical.")}
    assert builtin == set(BUILTIN_METHODS)


@pytest.mark.parametrize("name", ["vanilla", "rst", "rst-prefit", "rst-alpha-prefit"])
def test_loss_terms_witness_methods(tiny, name):
    c, exp, model, batch, run, method = _method_and_run(tiny, name)
    prefit = getattr(c.method, "prefit_epochs", 0)
    assert method.extra_epochs() == prefit
    t = _loss(method, model, batch, prefit, run, seed=1)          # the first ELBO epoch
    hand = _hand_terms(model, batch, exp.head, seed=1)
    _check_terms(t, hand)
    alpha_eff = {"vanilla": 0.0, "rst": ALPHA, "rst-prefit": ALPHA, "rst-alpha-prefit": ALPHA * KL_WEIGHT}[name]
    assert (method.alignment_weight() if name != "vanilla" else 0.0) == alpha_eff
    want = hand["rec"] + KL_WEIGHT * hand["kl"] + alpha_eff * hand["align"]
    assert torch.allclose(t["total"], want, rtol=1e-6, atol=0)
    assert "prefit" not in t
    assert t["align"].requires_grad == (name != "vanilla")   # vanilla: the witness only measures
    if prefit:
        assert method.phase(prefit - 1) == "prefit" and method.phase(prefit) == "elbo"
        p = _loss(method, model, batch, 0, run, seed=1)
        mu, _ = model.encode(batch.x)
        want_p = 0.5 * (mu - batch.exact_codes).pow(2).sum(1).mean()   # (1/2)||mu - mu*(T_i)||^2
        assert torch.allclose(p["prefit"], want_p, rtol=1e-6, atol=0) and float(want_p.detach()) > 0
        assert torch.equal(p["total"], p["prefit"])
        _check_terms(p, hand)                                        # measured, not in the loss
        assert not p["align"].requires_grad
        p["total"].backward()                                        # only the encoder mean is trained
        assert all(q.grad is None for q in model.decoder.parameters())
        assert model.mean_layer.weight.grad is not None and model.encoder.log_var_layer.weight.grad is None


def test_alpha_rule_of_rst_alpha_prefit(tiny):
    """alpha_eff = alpha * max(1, kl_weight) * boost; the boost doubles after a low-margin ELBO
    epoch (running margin < alpha_margin_floor * I_T(train)) up to alpha_boost_max."""
    cls = get_method("rst-alpha-prefit")
    m = cls(cls.Config(alpha=3.0), 0.5)
    m.boost = 4.0
    assert m.alignment_weight() == 12.0                              # max(1, 0.5) = 1
    assert cls(cls.Config(alpha=3.0), 2.0).alignment_weight() == 6.0
    c, exp, model, batch, run, method = _method_and_run(tiny, "rst-alpha-prefit", prefit_epochs=1,
                                                        alpha_boost_max=8.0)
    i_t = run.teacher_information_train
    low, high = {"running_margin": 0.49 * i_t}, {"running_margin": 0.51 * i_t}
    assert method.end_epoch(0, low, run) == {"phase": "prefit", "alpha_eff": 0.0} and method.boost == 1.0
    assert method.end_epoch(1, high, run)["alpha_eff"] == 6.0 and method.boost == 1.0
    method.end_epoch(1, low, run)
    assert method.boost == 2.0 and method.alignment_weight() == 12.0
    method.end_epoch(2, low, run), method.end_epoch(3, low, run)
    assert method.boost == 8.0                                       # capped at alpha_boost_max
    t = _loss(method, model, batch, 1, run, seed=2)
    hand = _hand_terms(model, batch, exp.head, seed=2)
    assert torch.allclose(t["total"], hand["rec"] + KL_WEIGHT * hand["kl"] + 48.0 * hand["align"], rtol=1e-6)
    assert method.state_dict() == {"boost": 8.0}


def test_loss_terms_kl_anneal(tiny):
    """w_t = min(target, kl_start + t (target - kl_start) / (warm_up * n_batches)), t counted from 1."""
    c, exp, model, batch, run, method = _method_and_run(tiny, "kl-anneal", kl_start=0.1, warm_up=2)
    seen = []
    for step in range(1, 2 * N_BATCHES + 3):
        t = _loss(method, model, batch, 0, run, seed=step)
        hand = _hand_terms(model, batch, exp.head, seed=step)
        _check_terms(t, hand)
        w = min(KL_WEIGHT, 0.1 + step * (KL_WEIGHT - 0.1) / (2 * N_BATCHES))
        assert torch.allclose(t["total"], hand["rec"] + w * hand["kl"], rtol=1e-6, atol=0), step
        assert not t["align"].requires_grad
        seen.append(w)
    assert seen[0] == pytest.approx(0.29) and seen[-1] == KL_WEIGHT and seen[2 * N_BATCHES - 2] < KL_WEIGHT
    assert method.state_dict() == {"steps": 2 * N_BATCHES + 2}
    assert method.end_epoch(0, {}, run)["kl_weight_eff"] == KL_WEIGHT
    # warm_up 0: the target weight from the first step
    _, _, model0, _, _, flat = _method_and_run(tiny, "kl-anneal", kl_start=0.1, warm_up=0)
    t = _loss(flat, model0, batch, 0, run, seed=1)
    hand = _hand_terms(model0, batch, exp.head, seed=1)
    assert torch.allclose(t["total"], hand["rec"] + KL_WEIGHT * hand["kl"], rtol=1e-6, atol=0)


def test_loss_terms_free_bits(tiny):
    """KL replaced by sum_j max(target_kl, KL_j), KL_j the batch mean of dimension j's KL."""
    _, exp, model, batch, _, _ = _method_and_run(tiny, "free-bits")
    with torch.no_grad():
        mu, log_var = model.encode(batch.x)
        kl_j = gaussian_kl_terms(mu, log_var).mean(0)                # (d,)
    target = float(kl_j.median())                                    # some dimensions below, some above
    assert (kl_j < target).any() and (kl_j > target).any()
    c, exp, model, batch, run, method = _method_and_run(tiny, "free-bits", target_kl=target)
    t = _loss(method, model, batch, 0, run, seed=1)
    hand = _hand_terms(model, batch, exp.head, seed=1)
    _check_terms(t, hand)
    free = sum(max(target, float(k)) for k in kl_j)
    assert float(t["kl_free_bits"].detach()) == pytest.approx(free, rel=1e-6)
    assert free > float(hand["kl"].detach())                                  # the floor binds
    assert float(t["total"].detach()) == pytest.approx(float(hand["rec"].detach()) + KL_WEIGHT * free, rel=1e-6)


def test_loss_terms_and_gradients_aggressive(tiny):
    """rec + kl_weight KL; after_backward clips the whole gradient norm to clip_grad and, while
    aggressive, drops the encoder's gradients (the decoder-only step of He et al.)."""
    clip = 0.01
    for aggressive in (True, False):
        c, exp, model, batch, run, method = _method_and_run(tiny, "aggressive", clip_grad=clip)
        method.aggressive = aggressive
        t = _loss(method, model, batch, 0, run, seed=1)
        hand = _hand_terms(model, batch, exp.head, seed=1)
        _check_terms(t, hand)
        assert torch.allclose(t["total"], hand["rec"] + KL_WEIGHT * hand["kl"], rtol=1e-6, atol=0)
        t["total"].backward()
        params = list(model.parameters())
        raw = [p.grad.detach().clone() for p in params]
        norm = float(torch.sqrt(sum(g.double().pow(2).sum() for g in raw)))
        assert norm > 10 * clip                                      # clipping binds
        method.after_backward(model, 0, run)
        encoder = {id(p) for p in model.encoder.parameters()}
        for p, g in zip(params, raw):
            if aggressive and id(p) in encoder:
                assert p.grad is None
            else:
                assert torch.allclose(p.grad, g * (clip / (norm + 1e-6)), rtol=1e-5, atol=1e-12)
        kept = float(torch.sqrt(sum(p.grad.double().pow(2).sum() for p in params if p.grad is not None)))
        assert kept < clip if aggressive else kept == pytest.approx(clip, rel=1e-4)


def test_loss_terms_lr_vae(tiny):
    """rec + kl_weight KL + alpha(t) E_{z~N(0,I)} ||mu_enc(E[x|z]) - z||^2 with
    alpha(t) = alpha_T min(1, t / (warm_up n_batches)), t counted from 1; z drawn after the ELBO's z."""
    c, exp, model, batch, run, method = _method_and_run(tiny, "lr-vae", alpha_T=0.4, warm_up=2)
    d = c.model.latent_dim
    for step in range(1, 2 * N_BATCHES + 3):
        t = _loss(method, model, batch, 0, run, seed=step)
        hand = _hand_terms(model, batch, exp.head, seed=step)      # consumes the ELBO's eps draw ...
        z = torch.randn(batch.x.shape[0], d)                         # ... then the prior samples
        mu_hat, _ = model.encode(torch.sigmoid(model.decode(z)))     # Bernoulli decoder: E[x|z] = sigmoid(logits)
        latent = (mu_hat - z).pow(2).sum(1).mean()
        _check_terms(t, hand)
        assert torch.allclose(t["latent_rec"], latent, rtol=1e-6, atol=0) and float(latent.detach()) > 0
        a = 0.4 * min(1.0, step / (2 * N_BATCHES))
        assert torch.allclose(t["total"], hand["rec"] + KL_WEIGHT * hand["kl"] + a * latent, rtol=1e-6, atol=0)
    assert a == 0.4 and method.state_dict() == {"steps": 2 * N_BATCHES + 2}
    # prior_samples sets the number of z; gradient= decides which network the latent term trains
    for gradient, enc_grad, dec_grad in (("both", True, True), ("encoder", True, False), ("decoder", False, True)):
        _, _, model, batch, run, method = _method_and_run(tiny, "lr-vae", prior_samples=3, gradient=gradient)
        torch.manual_seed(5)
        latent = method.latent_reconstruction(model, 3, torch.device("cpu"))
        torch.manual_seed(5)
        z = torch.randn(3, d)
        want = (model.encode(torch.sigmoid(model.decode(z)))[0] - z).pow(2).sum(1).mean()
        assert torch.allclose(latent, want, rtol=1e-6, atol=0)
        latent.backward()
        assert (model.mean_layer.weight.grad is not None) == enc_grad, gradient
        assert (model.decoder.out.weight.grad is not None) == dec_grad, gradient
    with pytest.raises(ValueError, match="method.gradient must be both, encoder or decoder"):
        replace(tiny[0], method_name="lr-vae", method__gradient="sideways")


def test_loss_terms_hct(tiny):
    """rec + kl_weight KL_mc(q(z|x) || GMM prior), the prior cycling over the surviving candidates
    batch by batch; KL_mc recomputed here with torch.distributions from the same draws."""
    from torch.distributions import Normal

    from empirical.methods.rivals import candidate_priors

    c, exp, model, batch, run, method = _method_and_run(tiny, "hct", n_components=(2, 4), seeds_per_K=1,
                                                        mc_samples=3, radius=1.5)
    d = c.model.latent_dim
    priors = candidate_priors(d, (2, 4), 1, 1.5, 0.0)
    assert [p.means.shape for p in priors] == [(2, d), (4, d)]
    assert method.extra_epochs() == 1 and method.phase(0) == "consensus" and method.phase(1) == "elbo"
    for step in range(3):
        t = _loss(method, model, batch, 0, run, seed=10 + step)
        hand = _hand_terms(model, batch, exp.head, seed=10 + step)
        eps = torch.randn(3, batch.x.shape[0], d)                    # the MC draws come after the ELBO's
        mu, log_var = model.encode(batch.x)
        z = mu + torch.exp(0.5 * log_var) * eps
        log_q = Normal(mu, torch.exp(0.5 * log_var)).log_prob(z).sum(-1)           # (S, B)
        prior = priors[step % 2]
        comps = torch.stack([Normal(m, 1.0).log_prob(z).sum(-1) for m in prior.means], -1)  # (S, B, K)
        log_p = torch.logsumexp(comps + torch.log(torch.full((len(prior.means),), 1.0 / len(prior.means))), -1)
        kl_mc = (log_q - log_p).mean(0).mean()
        _check_terms(t, hand)
        assert torch.allclose(t["kl_prior"], kl_mc, rtol=1e-5, atol=1e-5)
        assert torch.allclose(t["total"], hand["rec"] + KL_WEIGHT * kl_mc, rtol=1e-5, atol=1e-5)
    assert method.state_dict()["batch_counter"] == 3

def test_exact_codes_are_the_reference_embedding(tiny):
    config, exp = tiny
    ref = wt.exact_embedding(exp.teacher_np("train"), exp.witness)
    np.testing.assert_allclose(exp.exact_codes_train.double().numpy(), ref, rtol=1e-6, atol=1e-6)  # float32 copy


# ---------------------------------------------------------------------------------------
# A run: files, bounds, resume, init_from, callback
# ---------------------------------------------------------------------------------------

def _strip(history):
    return json.dumps(eio.to_jsonable([{k: v for k, v in h.items() if k != "epoch_seconds"} for h in history]))


@pytest.mark.parametrize("checkpoint_seconds", [0.0, 1e9])
def test_resume_after_kill_gives_identical_numbers(tiny, tmp_path, checkpoint_seconds):
    """Train 4 epochs straight; or kill in epoch 3 and resume: same numbers, bit for bit.

    Exact equality (not 1e-6) is expected: the checkpoint restores model, optimiser, schedule
    and every RNG (torch, numpy, python, shuffle), CPU kernels are deterministic, and
    evaluation draws from its own fixed-seed generator. A difference means state was lost.
    ``train.checkpoint_seconds`` 0: the kill finds the checkpoint of epoch 2 and resumes from it;
    1e9: no checkpoint before the last epoch, so the killed run has none and starts again (the
    metrics.jsonl lines of the epochs it had are rewritten, not duplicated).
    """
    config, exp = tiny
    base = _cfg(tiny, tmp_path, "rst-alpha-prefit", train__epochs=3, train__kl_weight=4.0,
                train__checkpoint_seconds=checkpoint_seconds,
                method__alpha_margin_floor=0.99)  # floor near I_T: the boost state changes and must resume
    assert base.method.prefit_epochs == 1
    straight = train(replace(base, out_dir=str(tmp_path / "a")), experiment=exp, progress=False)
    n_batches = math.ceil(exp.x_train.shape[0] / base.train.batch_size)

    class Kill(Exception):
        pass

    def kill(step, model, losses):
        if step == 2 * n_batches + 1:  # in the middle of epoch 3
            raise Kill

    killed_cfg = replace(base, out_dir=str(tmp_path / "b"))
    with pytest.raises(Kill):
        train(killed_cfg, experiment=exp, step_callback=kill, progress=False)
    assert len(eio.read_jsonl(tmp_path / "b" / "metrics.jsonl")) == 2
    ckpt = tmp_path / "b" / "checkpoint.pt"
    if checkpoint_seconds == 0:
        assert load_checkpoint(ckpt, "cpu")["epoch"] == 2
    else:
        assert not ckpt.exists()
    resumed = train(killed_cfg, experiment=exp, progress=False)
    assert load_checkpoint(ckpt, "cpu")["epoch"] == 4   # always written after the last epoch
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

    result = train(_cfg(tiny, tmp_path, "rst"), experiment=exp, step_callback=callback, progress=False)
    out = result.out_dir
    for name in ("config.json", "versions.json", "metrics.jsonl", "summary.json", "checkpoint.pt"):
        assert (out / name).exists(), name
    assert config_from_dict(json.loads((out / "config.json").read_text())) == result.config  # the resolved tree
    assert [s for s, _, _ in seen] == list(range(len(seen))) and all(g for _, g, _ in seen)
    assert len(eio.read_jsonl(out / "metrics.jsonl")) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bound_violations"] == [] and result.bound_violations == []
    # issue 24: the teacher file the run used, by absolute path, in the summary and the checkpoint
    from empirical.training.checkpoints import load_checkpoint
    used = str(exp.teacher_result.path.resolve())
    assert summary["teacher"] == used and Path(used).is_absolute() and Path(used).exists()
    assert load_checkpoint(out / "checkpoint.pt", "cpu")["teacher_path"] == used
    f = result.final
    # T8 carries the active-unit lower bound (the vacuous 0 <= AU <= d is gone); the final evaluation adds T11
    assert all(f["checks"].values()) and set(f["checks"]) == {"T2", "T8", "T5", "T10", "T11"}
    assert all(set(h["eval"]["checks"]) == {"T2", "T8", "T5", "T10"} for h in result.history if "eval" in h)
    # the MI spread (MI_SPREAD_REPEATS more draws) belongs to the final evaluation only
    assert f["mi_spread"]["repeats"] == 5 and not any("mi_spread" in h["eval"] for h in result.history if "eval" in h)
    assert f["G_T"] <= f["I_T"] and f["G_T"] <= f["size_bound"] + 1e-12
    assert f["kl"] >= f["energy"] >= f["energy_subspace"] >= 0
    assert 0 <= f["active_units"] <= config.model.latent_dim and f["active_fraction"] == f["active_units"] / 16
    assert len(f["kl_per_dim"]) == 16 and abs(sum(f["kl_per_dim"]) - f["kl"]) < 1e-9 * (1 + f["kl"])
    # the reported certificate is exactly witness_theory.certify on the float64 means
    enc = encode_checkpoint(out / "checkpoint.pt", experiment=exp)
    cert = wt.certify(enc["teacher"], enc["codes"], exp.witness)
    assert cert.margin == f["G_T"] and cert.alignment_loss == f["L_TS"]
    assert enc["codes"].dtype == np.float64 and enc["frame"].shape == (16, exp.witness.K - 1)
    assert enc["witness_scale"] == 4.0 and enc["config"].method_name == "rst"


def test_init_from_starts_a_new_run(tiny, tmp_path):
    config, exp = tiny
    first = train(_cfg(tiny, tmp_path, "vanilla", train__epochs=1), experiment=exp, progress=False)
    second = train(replace(config, method_name="rst", train__epochs=1, out_dir=str(tmp_path / "second")),
                   experiment=exp, init_from=first.out_dir / "checkpoint.pt", progress=False)
    assert [h["epoch"] for h in second.history] == [1]  # epoch counter reset
    # a different config in an existing run directory is refused, not silently mixed
    with pytest.raises(ValueError, match="different config"):
        train(_cfg(tiny, tmp_path, "rst", train__epochs=1), experiment=exp, progress=False)


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
    checks = ledger_checks(T, mu, lv, wt.Witness(5, d=6, scale=4.0), frontier=True)
    assert [c.theorem for c in checks] == ["T2", "T8", "T5", "T10", "T11"]
    assert all(c.holds for c in checks), [str(c) for c in checks if not c.holds]


# ---------------------------------------------------------------------------------------
# Devices and the real Fashion-MNIST smoke test
# ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_run(tiny, tmp_path):
    result = train(_cfg(tiny, tmp_path, "rst", train__device="cuda", train__epochs=1), progress=False)
    assert result.bound_violations == []


def test_device_cuda_without_cuda_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="use --device cpu"):
        prepare(resolve("digits", overrides={"train.device": "cuda"}))


def test_fashion_mnist_smoke(tmp_path, missing_resource):
    from empirical.data.loaders import load_dataset
    try:
        load_dataset("fashion-mnist", limit=1)
    except FileNotFoundError as exc:
        missing_resource(f"Fashion-MNIST not installed: {exc}")
    config = resolve("fashion-mnist", "rst", overrides={
        "train.epochs": 1, "data.limit": 1000, "model.hidden": (64,), "train.device": "cpu",
        "teacher.cache": str(tmp_path / "teachers"), "out_dir": str(tmp_path / "run")})
    result = train(config, progress=False)
    assert result.final["n"] == 1000 and result.bound_violations == []
    assert np.isfinite(result.final["G_T"]) and np.isfinite(result.final["rec"])


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian", "gaussian-learned"])
def test_conv_vae_for_colour_images(decoder):
    """(3, 32, 32) inputs get the conv network; every decoder gives a finite per-sample NLL."""
    config = resolve("cifar10", overrides={"model.hidden": (64,), "model.conv_channels": (8, 16, 16),
                                           "model.latent_dim": 12, "model.decoder": decoder})
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
        # model.decoder_variance = s2: -log N(x; xhat, s2 I) = ||x - xhat||^2 / (2 s2) + (D/2) log(2 pi s2)
        narrow = build_model(replace(config, model__decoder_variance=0.25), (3, 32, 32))
        want = 2.0 * (x - out).pow(2).sum(1) + 0.5 * x.shape[1] * math.log(2 * math.pi * 0.25)
        assert torch.allclose(narrow.reconstruction_nll(x, out), want)
    assert (model.log_scale is not None) == (decoder == "gaussian-learned")


def test_resume_judges_a_run_on_the_keys_its_config_has():
    """A key added to the package after a run was written (absent from its saved config) does not
    block resuming it; a key the saved config has and that differs does."""
    from empirical.configure import config_to_dict
    from empirical.training.loop import _config_diff

    c = resolve("digits", "rst")
    saved = config_to_dict(c)
    del saved["teacher"]["selection"]                     # written before teacher.selection existed
    assert _config_diff(saved, c) == {}
    saved["method"]["alpha"] = 2.0
    assert _config_diff(saved, c) == {"method.alpha": (2.0, 1.0)}


# ---------------------------------------------------------------------------------------
# Optimiser settings (train.optimizer, train.weight_decay, train.grad_clip; issue 23's presets)
# ---------------------------------------------------------------------------------------

def test_optimizer_settings_reach_the_optimiser_and_the_step(tiny, tmp_path):
    from empirical.training.loop import make_optimizer
    config = _cfg(tiny, tmp_path, train__optimizer="rmsprop", train__weight_decay=1e-3, train__grad_clip=0.5,
                  train__epochs=1, train__momentum=0.5)
    model = build_model(config, tiny[1].dataset.image_shape)
    opt = make_optimizer(model, config.train)
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["weight_decay"] == 1e-3 and opt.defaults["momentum"] == 0.5
    assert opt.defaults["lr"] == config.train.lr
    norms = []

    def grad_norm(step, model, losses):   # called after clipping, before the step
        norms.append(float(torch.linalg.vector_norm(torch.stack(
            [p.grad.norm() for p in model.parameters() if p.grad is not None]))))

    train(config, experiment=tiny[1], step_callback=grad_norm, progress=False, resume=False)
    assert norms and max(norms) <= 0.5 * (1 + 1e-6)        # clip_grad_norm_ scales to at most the bound
    unclipped = []
    train(_cfg(tiny, tmp_path / "b", train__epochs=1), experiment=tiny[1], progress=False, resume=False,
          step_callback=lambda s, m, losses: unclipped.append(float(torch.linalg.vector_norm(torch.stack(
              [p.grad.norm() for p in m.parameters() if p.grad is not None])))))
    assert max(unclipped) > 0.5                              # so the bound above was a clip, not a coincidence
    assert isinstance(make_optimizer(model, _cfg(tiny, tmp_path).train), torch.optim.Adam)


@pytest.mark.parametrize("item, message", [("train.optimizer=sgd", "train.optimizer must be one of adam, rmsprop"),
                                           ("train.weight_decay=-1", "train.weight_decay must be >= 0"),
                                           ("train.grad_clip=0", "train.grad_clip must be > 0 or none"),
                                           ("train.momentum=0.5", "train.momentum .* needs train.optimizer=rmsprop")])
def test_optimizer_settings_are_checked(item, message):
    with pytest.raises(ValueError, match=message):
        resolve("digits", overrides=[item])
