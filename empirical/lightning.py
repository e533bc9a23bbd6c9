"""A PyTorch Lightning callback that certifies the encoder means every epoch (optional extra).

    pip install "witness-theory[lightning]"

Usage::

    from empirical.lightning import CertificateCallback

    class LitVAE(lightning.LightningModule):
        def validation_step(self, batch, batch_idx):
            x = batch                                  # or (index, x): then also return "index"
            recon, mu, log_var = self(x)
            ...
            return {"loss": loss, "mu": mu}            # the callback reads outputs["mu"]

    callback = CertificateCallback(teacher_val, latent_dim=d)   # d: your encoder's latent size
    trainer = lightning.Trainer(max_epochs=10, callbacks=[callback])
    trainer.fit(model, train_loader, val_loader)       # val_loader: shuffle=False, every row once
    callback.history[-1].summary()

The callback is a thin shell around :class:`empirical.monitor.CertificateMonitor` (so its
numbers are those of :func:`witness_theory.certify` on the same codes, bit for bit): it resets
the monitor when an epoch of the chosen stage starts, records ``outputs[codes_key]`` after every
batch (with ``outputs[index_key]`` as data-set indices when the step returns them, else in
order: the loader must then be an ordered pass, ``shuffle=False``), and certifies at epoch end.
Results are appended to ``history`` and logged as ``<prefix>G_T``, ``<prefix>I_T``,
``<prefix>L_TS`` and ``<prefix>certified``. With ``heldout=`` (a
:func:`witness_theory.heldout_split` of the rows) it also reports the held-out certificates
(raw, fitted witness, probe; theorem T2H) in ``heldout_history`` and logs their margins.

Lightning is imported lazily: importing this module without it works, and using the callback
raises an ImportError that names the extra to install. The sanity-check validation run that
Lightning does before training sees only a few batches, so the callback skips it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from witness_theory.defaults import WITNESS_SCALE

from .monitor import CertificateMonitor

__all__ = ["CertificateCallback", "require_lightning"]  # noqa: F822 -- built lazily by __getattr__

_INSTALL = 'pip install "witness-theory[lightning]"  (or: pip install lightning)'


def require_lightning():
    """Return the ``lightning.pytorch`` module (or the older ``pytorch_lightning``), or raise an
    ImportError that says which extra to install."""
    try:
        import lightning.pytorch as pl
        return pl
    except ImportError:
        pass
    try:
        import pytorch_lightning as pl_legacy
        return pl_legacy
    except ImportError:
        raise ImportError(f"empirical.lightning needs PyTorch Lightning, which is not installed; {_INSTALL}") from None


_CLASS = None


def _build_class():
    pl = require_lightning()
    if TYPE_CHECKING:  # the checker sees lightning's Callback; at run time it is the installed one's
        from lightning.pytorch import Callback
    else:
        Callback = pl.Callback

    class CertificateCallback(Callback):
        """Certify the encoder means of every epoch of one stage ("validate" or "train").

        Parameters are those of :class:`empirical.monitor.CertificateMonitor` (``teacher`` holds
        one row per row of that stage's data set), plus ``stage``, ``codes_key`` and
        ``index_key`` (keys of the dict the step returns), ``heldout`` (a HeldoutSplit for
        the held-out certificates, default None), ``heldout_kwargs`` (passed to
        :meth:`CertificateMonitor.compute_heldout`), ``log`` and ``prefix`` (metric names).
        """

        def __init__(self, teacher, witness_scale: float = WITNESS_SCALE, latent_dim: int | None = None, frame=None,
                     weights=None, *, witness=None, stage: str = "validate", codes_key: str = "mu",
                     index_key: str = "index", heldout=None, heldout_kwargs: dict | None = None,
                     log: bool = True, prefix: str = "certificate/"):
            super().__init__()
            if stage not in ("validate", "train"):
                raise ValueError(f"stage must be 'validate' or 'train', got {stage!r}")
            self.monitor = CertificateMonitor(teacher, witness_scale, latent_dim, frame, weights, witness=witness)
            self.stage, self.codes_key, self.index_key = stage, codes_key, index_key
            self.heldout, self.heldout_kwargs = heldout, dict(heldout_kwargs or {})
            self.log_metrics, self.prefix = bool(log), prefix
            self.history: list = []          # MonitorResult per certified epoch
            self.heldout_history: list = []  # HeldoutMonitorResult per certified epoch (with heldout=)
            self._active = False

        # --- shared logic --------------------------------------------------------------
        def _start(self, trainer) -> None:
            self._active = not getattr(trainer, "sanity_checking", False)
            if self._active:
                self.monitor.reset()

        def _record(self, outputs: Any, dataloader_idx: int = 0) -> None:
            if not self._active or dataloader_idx != 0:
                return
            if not isinstance(outputs, dict) or self.codes_key not in outputs:
                raise ValueError(
                    f"CertificateCallback needs the {self.stage} step to return a dict with the encoder means "
                    f"under {self.codes_key!r} (e.g. return {{'loss': loss, {self.codes_key!r}: mu}}), got "
                    f"{type(outputs).__name__}{' with keys ' + str(sorted(outputs)) if isinstance(outputs, dict) else ''}")
            mu = outputs[self.codes_key]
            index = outputs.get(self.index_key)
            if index is None:
                self.monitor.update(mu)          # an ordered pass: codes appended in order
            else:
                self.monitor.update(index, mu)

        def _finish(self, trainer, pl_module) -> None:
            if not self._active:
                return
            self._active = False
            result = self.monitor.compute()
            self.history.append(result)
            metrics = {"G_T": result.G_T, "I_T": result.I_T, "L_TS": result.L_TS,
                       "certified": float(result.certified)}
            if self.heldout is not None:
                held = self.monitor.compute_heldout(self.heldout, **self.heldout_kwargs)
                self.heldout_history.append(held)
                for name, cert in held.items():
                    metrics[f"heldout_{name}_G"] = cert.margin
                    metrics[f"heldout_{name}_certified"] = float(cert.certified)   # LCB > 0 at 1 - delta (T13)
                    if cert.lcb is not None:
                        metrics[f"heldout_{name}_lcb"] = cert.lcb
            if self.log_metrics:
                for key, value in metrics.items():
                    pl_module.log(self.prefix + key, float(value), on_step=False, on_epoch=True)

        # --- Lightning hooks -------------------------------------------------------------
        def on_validation_epoch_start(self, trainer, pl_module):
            if self.stage == "validate":
                self._start(trainer)

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            if self.stage == "validate":
                self._record(outputs, dataloader_idx)

        def on_validation_epoch_end(self, trainer, pl_module):
            if self.stage == "validate":
                self._finish(trainer, pl_module)

        def on_train_epoch_start(self, trainer, pl_module):
            if self.stage == "train":
                self._start(trainer)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if self.stage == "train":
                self._record(outputs)

        def on_train_epoch_end(self, trainer, pl_module):
            if self.stage == "train":
                self._finish(trainer, pl_module)

    CertificateCallback.__module__ = __name__
    return CertificateCallback


def __getattr__(name: str):
    """``CertificateCallback`` is built on first use, so that this module imports without Lightning."""
    global _CLASS
    if name == "CertificateCallback":
        if _CLASS is None:
            _CLASS = _build_class()
        return _CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
