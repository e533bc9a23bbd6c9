"""The method plug-in interface: what the training loop calls, and nothing else.

A method is a small class with

- ``name``, ``summary`` (one line) and ``source`` (the paper, or "ours") class attributes;
- ``Config``: its own dataclass of settings (visible, commented defaults), the ``method``
  section of the config tree (``--set method.alpha=2``);
- hooks the loop calls (all but :meth:`loss` have a do-nothing default):

  ``extra_epochs()``            epochs the method adds before the ELBO epochs (e.g. prefit)
  ``start_epoch(epoch, run)``   per-epoch set-up (schedules)
  ``loss(model, batch, epoch, run)``  the loss terms of a batch: a dict of scalar tensors with
                                ``total`` (what is minimised), ``rec``, ``kl`` and ``align``
                                (the witness's L_TS, detached when it is not part of the loss)
  ``before_step(model, batch, epoch, run)``  extra optimisation before the batch's step (inner loops)
  ``after_backward(model, epoch, run)``      edit gradients before the optimiser step
  ``end_epoch(epoch, record, run)``          update its own state from the epoch's record;
                                returns extra fields for the record (alpha_eff, phase, ...)
  ``state_dict()`` / ``load_state_dict(state)``  what it checkpoints (plain python values)

The :class:`Run` handed to the hooks gives what a method may read or use: the torch witness
head, the training teacher information, the optimizer, a batch sampler and the evaluator.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from empirical.models.vae import VAE, gaussian_kl_terms

__all__ = ["Method", "MethodConfig", "Batch", "Run", "elbo_terms", "public_terms"]


@dataclass
class MethodConfig:
    """Base of every method's config (no fields: each method declares its own)."""


@dataclass
class Batch:
    x: torch.Tensor                 # (B, ...) inputs
    teacher: torch.Tensor           # (B, K) teacher rows T_i (float32)
    exact_codes: torch.Tensor       # (B, d) the exact codes mu*(T_i) (prefit targets)
    index: torch.Tensor             # (B,) row indices into the training split


@dataclass
class Run:
    """What the loop shares with the method hooks of one run."""
    head: Any                                   # empirical.models.witness_head.TorchWitness
    kl_weight: float                            # train.kl_weight
    teacher_information_train: float            # I_T on the training split (float64)
    optimizer: torch.optim.Optimizer
    n_batches: int                              # batches per epoch
    sample_batch: Callable[[], Batch]           # a random training batch (methods' inner loops)
    evaluate: Callable[..., dict]               # evaluate(split=..., full_mi=...) -> metrics of the model
    device: torch.device
    model: Any = None                           # the model being trained
    heldout_x: Any = None                       # inputs of the run's evaluation split (held-out scores)


def elbo_terms(model: VAE, batch: Batch, head, *, align_in_loss: bool) -> dict[str, torch.Tensor]:
    """Forward pass and the ELBO terms of a batch (per-sample means, nats).

    rec = -log p(x|z) summed over pixels, one z ~ q(z|x) (Kingma & Welling 2014, eq. 10);
    kl_dims = KL(q(z|x) || N(0, I)) per latent dimension, (B, d); kl = sum_j kl_dims (mean over
    the batch); align = L_TS = mean_i KL(T_i || S(mu_i)) (THEORY.md definitions), through the
    encoder mean when ``align_in_loss`` and detached (measured only) otherwise.
    """
    out, mu, log_var = model(batch.x)
    kl_dims = gaussian_kl_terms(mu, log_var)
    return {"rec": model.reconstruction_nll(batch.x, out).mean(), "kl": kl_dims.sum(1).mean(),
            "align": head.alignment_loss(mu if align_in_loss else mu.detach(), batch.teacher),
            "_mu": mu, "_log_var": log_var, "_kl_dims": kl_dims}


def public_terms(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The loss terms the loop logs and sums: everything but the private ``_``-prefixed tensors."""
    return {k: v for k, v in terms.items() if not k.startswith("_")}


class Method:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    source: ClassVar[str] = ""
    label: ClassVar[str] = ""          # shown next to the name in every table (e.g. "reconstruction of ...")
    Config: ClassVar[type] = MethodConfig

    def __init__(self, config: Any, kl_weight: float) -> None:
        self.config = config
        self.kl_weight = float(kl_weight)

    @classmethod
    def validate(cls, config: Any) -> None:
        """Raise ValueError naming ``method.<key>`` for an invalid setting (default: numbers >= 0)."""
        for f in dataclasses.fields(config):
            v = getattr(config, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not v >= 0:
                raise ValueError(f"method.{f.name} must be >= 0, got {v}")

    # hooks -------------------------------------------------------------------------------
    def extra_epochs(self) -> int:
        return 0

    def phase(self, epoch: int) -> str:
        return "elbo"

    def start_epoch(self, epoch: int, run: Run) -> None:
        pass

    def loss(self, model: VAE, batch: Batch, epoch: int, run: Run) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def before_step(self, model: VAE, batch: Batch, epoch: int, run: Run) -> None:
        pass

    def after_backward(self, model: VAE, epoch: int, run: Run) -> None:
        pass

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        return {}

    def state_dict(self) -> dict:
        """What a resumed run needs (saved in the checkpoint): Python numbers, strings, lists, tuples,
        dicts, tensors and numeric NumPy arrays only; checkpoints load with torch's restricted
        unpickler (weights_only), which refuses any other object."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
