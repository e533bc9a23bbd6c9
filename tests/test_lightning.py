"""The Lightning callback (empirical/lightning.py): its certificate is witness_theory.certify on
the same codes, to the last bit; it works with indexed and ordered validation passes; a missing
Lightning gives an ImportError that names the extra.

Needs the optional extra (``pip install "witness-theory[lightning]"``); without it the
training tests skip and say so, and only the ImportError test runs.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import witness_theory as wt

torch.set_num_threads(1)

LATENT_DIM, K = 8, 5


def _digits_teacher():
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    X = load_digits().data.astype(np.float32)[:600] / 16.0                    # (600, 64)
    view = PCA(n_components=8, random_state=0).fit_transform(X)
    T = GaussianMixture(K, random_state=0).fit(view).predict_proba(view)
    return X, 0.99 * T + 0.01 / K                                              # floored: full support


def _lit_vae(pl, with_index: bool):
    class LitVAE(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(64, 64), nn.ReLU())
            self.mean, self.log_var = nn.Linear(64, LATENT_DIM), nn.Linear(64, LATENT_DIM)
            self.decoder = nn.Sequential(nn.Linear(LATENT_DIM, 64), nn.ReLU(), nn.Linear(64, 64))

        def encode(self, x):
            h = self.body(x)
            return self.mean(h), self.log_var(h)

        def _step(self, batch):
            index, x = batch if with_index else (None, batch[0])
            mu, log_var = self.encode(x)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
            rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="sum") / len(x)
            kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum() / len(x)   # KL(q(z|x) || N(0, I))
            out = {"loss": rec + kl, "mu": mu}
            if index is not None:
                out["index"] = index
            return out

        def training_step(self, batch, batch_idx):
            return self._step(batch)

        def validation_step(self, batch, batch_idx):
            return self._step(batch)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return LitVAE()


def _loaders(X, with_index, val_shuffle=False):
    x = torch.from_numpy(X)
    data = (torch.utils.data.TensorDataset(torch.arange(len(X)), x) if with_index
            else torch.utils.data.TensorDataset(x))
    train = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    val = torch.utils.data.DataLoader(data, batch_size=100, shuffle=val_shuffle)
    return train, val


def _trainer(pl, callback, epochs=2):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, callbacks=[callback], logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=2, deterministic=True)


@pytest.mark.parametrize("with_index,val_shuffle", [(True, True), (False, False)])
def test_callback_certificate_equals_certify_on_the_same_codes(with_index, val_shuffle):
    pytest.importorskip("lightning", reason='the lightning extra is not installed: pip install "witness-theory[lightning]"')
    from empirical.lightning import CertificateCallback, require_lightning
    pl = require_lightning()
    pl.seed_everything(0, workers=True)
    X, T = _digits_teacher()
    model = _lit_vae(pl, with_index)
    train, val = _loaders(X, with_index, val_shuffle)
    callback = CertificateCallback(T, witness_scale=4.0, latent_dim=LATENT_DIM,
                                   heldout=wt.heldout_split(len(X), seed=0),
                                   heldout_kwargs={"witness_kwargs": {"max_iter": 10}})
    trainer = _trainer(pl, callback)
    trainer.fit(model, train, val)

    # one certificate per epoch (the 2-batch sanity check is skipped), logged under the prefix
    assert len(callback.history) == 2 and len(callback.heldout_history) == 2
    assert trainer.callback_metrics["certificate/G_T"].item() == pytest.approx(callback.history[-1].G_T, rel=1e-6)
    assert "certificate/heldout_probe_G" in trainer.callback_metrics
    assert trainer.callback_metrics["certificate/heldout_probe_lcb"].item() == pytest.approx(
        callback.heldout_history[-1].probe.lcb, rel=1e-6, abs=1e-6)   # logged as float32

    # the callback's certificate is certify() on the codes it holds, exactly (== on every field)
    reference = wt.certify(T, callback.monitor.codes(), wt.Witness(K, LATENT_DIM, 4.0))
    assert callback.history[-1].certificate == reference
    # and those codes are the final model's means. Recomputed in the ordered batches of 100: in
    # the ordered pass these are the same batches, so the same floats; with a shuffled indexed
    # pass the batches differ, and float32 matmul rounding may differ by a few ulps (|mu| < ~10:
    # 1e-5 absolute)
    model.eval()
    with torch.no_grad():
        mu = torch.cat([model.encode(x)[0] for x in torch.from_numpy(X).split(100)]).double().numpy()
    if val_shuffle:
        np.testing.assert_allclose(callback.monitor.codes(), mu, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(callback.monitor.codes(), mu)
    mu = callback.monitor.codes()
    held = callback.heldout_history[-1]
    split = wt.heldout_split(len(X), seed=0)
    ref_probe = wt.Probe().fit(T[split.fit], mu[split.fit], split.fit).certify(T[split.eval], mu[split.eval],
                                                                              split.eval)
    assert held.probe.margin == ref_probe.margin


def test_callback_on_the_training_stage_and_its_errors():
    pytest.importorskip("lightning", reason='the lightning extra is not installed: pip install "witness-theory[lightning]"')
    from empirical.lightning import CertificateCallback, require_lightning
    pl = require_lightning()
    pl.seed_everything(1, workers=True)
    X, T = _digits_teacher()
    train, val = _loaders(X, True)
    callback = CertificateCallback(T, 4.0, LATENT_DIM, stage="train")
    _trainer(pl, callback, epochs=1).fit(_lit_vae(pl, True), train, val)
    assert len(callback.history) == 1 and callback.monitor.n_seen == len(X)
    with pytest.raises(ValueError, match="stage must be"):
        CertificateCallback(T, 4.0, LATENT_DIM, stage="test")
    bad = CertificateCallback(T, 4.0, LATENT_DIM, codes_key="z")
    with pytest.raises(ValueError, match=r"under 'z'.*keys \['index', 'loss', 'mu'\]"):
        _trainer(pl, bad, epochs=1).fit(_lit_vae(pl, True), train, val)


def test_missing_lightning_names_the_extra(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)          # makes "import name" raise ImportError
    import empirical.lightning as mod
    mod = importlib.reload(mod)                               # the module itself imports fine
    with pytest.raises(ImportError, match=r'pip install "witness-theory\[lightning\]"'):
        mod.CertificateCallback  # noqa: B018 -- the attribute access itself must raise
    monkeypatch.undo()
    importlib.reload(mod)
