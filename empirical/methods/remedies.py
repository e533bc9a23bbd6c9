"""The standard collapse remedies, as the papers that introduced them define them.

- ``kl-anneal`` (Bowman et al. 2016, arXiv:1511.06349; the linear schedule of He et al. 2019's code)
- ``free-bits`` (Kingma et al. 2016, arXiv:1606.04934, section "free bits")
- ``aggressive`` (He et al. 2019, arXiv:1901.05534, Algorithm 1 and github.com/jxhe/vae-lagging-encoder)

The witness is attached to every one for measurement only (its L_TS is logged from the detached
encoder mean; no gradient flows through it): these are the methods the certificate judges.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from empirical.methods.base import Batch, Method, MethodConfig, Run, elbo_terms, public_terms
from empirical.methods.registry import register

__all__ = ["KLAnneal", "FreeBits", "Aggressive"]


@register
class KLAnneal(Method):
    name = "kl-anneal"
    summary = "KL weight rises linearly per step from kl_start to train.kl_weight over warm_up epochs"
    source = ("Bowman et al. 2016 (arXiv:1511.06349); linear per-step schedule and defaults of "
              "He et al. 2019's code (jxhe/vae-lagging-encoder, image.py: kl_start 0.1, warm_up 10 in the README runs)")

    @dataclass
    class Config(MethodConfig):
        kl_start: float = 0.1       # KL weight at the first step
        warm_up: int = 10           # epochs over which the weight reaches train.kl_weight

    def __init__(self, config, kl_weight: float) -> None:
        super().__init__(config, kl_weight)
        self.steps = 0

    def current_weight(self, n_batches: int) -> float:
        # w_t = min(target, kl_start + t (target - kl_start) / (warm_up * batches per epoch))  (He et al. image.py)
        if self.config.warm_up == 0:
            return self.kl_weight
        rate = (self.kl_weight - self.config.kl_start) / (self.config.warm_up * n_batches)
        return min(self.kl_weight, self.config.kl_start + rate * self.steps)

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        self.steps += 1                        # He et al. increment before the step's loss
        w = self.current_weight(run.n_batches)
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        t["total"] = t["rec"] + w * t["kl"]
        return public_terms(t)

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        return {"phase": "elbo", "alpha_eff": 0.0, "kl_weight_eff": self.current_weight(run.n_batches)}

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])

    @classmethod
    def validate(cls, config) -> None:
        super().validate(config)
        if isinstance(config.warm_up, bool) or int(config.warm_up) != config.warm_up:
            raise ValueError(f"method.warm_up must be an integer number of epochs, got {config.warm_up!r}")


@register
class FreeBits(Method):
    name = "free-bits"
    summary = "KL replaced by sum_j max(target_kl, KL_j), KL_j the batch mean of latent dimension j"
    source = "Kingma et al. 2016 (arXiv:1606.04934), free bits with one group per latent dimension"

    @dataclass
    class Config(MethodConfig):
        target_kl: float = 0.25     # lambda, nats per latent dimension (Kingma et al. tune it per data set;
                                    # 0.25 is our default, in the range they report)

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        kl_j = t["_kl_dims"].mean(0)                                   # (d,) KL_j averaged over the batch
        t["kl_free_bits"] = torch.clamp(kl_j, min=self.config.target_kl).sum()   # sum_j max(lambda, KL_j)
        t["total"] = t["rec"] + self.kl_weight * t["kl_free_bits"]
        return public_terms(t)

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        return {"phase": "elbo", "alpha_eff": 0.0}


def _encoder_parameters(model) -> list[torch.nn.Parameter]:
    return list(model.encoder.parameters())


@register
class Aggressive(Method):
    name = "aggressive"
    summary = ("lagging-inference-network training: encoder-only inner updates before each decoder update "
               "while the inner loss improves, until held-out MI stops improving")
    source = ("He et al. 2019 (arXiv:1901.05534), Algorithm 1; inner-loop and stopping rule of "
              "jxhe/vae-lagging-encoder image.py")

    @dataclass
    class Config(MethodConfig):
        max_inner_steps: int = 100  # image.py: while sub_iter < 100
        check_every: int = 10       # image.py: compare the mean inner loss every 10 sub-iterations
        patience: int = 5           # image.py: stop aggressive training after 5 epochs without a new best MI
        clip_grad: float = 5.0      # image.py: clip_grad_norm_(vae.parameters(), 5.0) on every update

    def __init__(self, config, kl_weight: float) -> None:
        super().__init__(config, kl_weight)
        self.aggressive = True
        self.best_mi = 0.0          # image.py: best_mi = 0
        self.not_improved = 0
        self.inner_steps_last_epoch = 0

    def start_epoch(self, epoch: int, run: Run) -> None:
        self.inner_steps_last_epoch = 0

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        t["total"] = t["rec"] + self.kl_weight * t["kl"]
        return public_terms(t)

    def before_step(self, model, batch: Batch, epoch: int, run: Run) -> None:
        """He et al.'s inner loop: encoder-only steps on fresh random batches (the first is the
        current batch) while the mean loss over each block of ``check_every`` steps decreases."""
        if not self.aggressive:
            return
        encoder = set(map(id, _encoder_parameters(model)))
        inner_batch, previous, block_sum, block_n, sub_iter = batch, 1e4, 0.0, 0, 1
        while sub_iter < self.config.max_inner_steps:
            run.optimizer.zero_grad(set_to_none=True)
            terms = self.loss(model, inner_batch, epoch, run)
            block_sum += float(terms["total"].detach()) * inner_batch.x.shape[0]
            block_n += inner_batch.x.shape[0]
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.clip_grad)
            for p in model.parameters():       # encoder-only update: Adam skips parameters without a gradient
                if id(p) not in encoder:
                    p.grad = None
            run.optimizer.step()
            self.inner_steps_last_epoch += 1
            inner_batch = run.sample_batch()
            if sub_iter % self.config.check_every == 0:
                current = block_sum / block_n
                if previous - current < 0:      # image.py: stop when the block's mean loss went up
                    break
                previous, block_sum, block_n = current, 0.0, 0
            sub_iter += 1
        run.optimizer.zero_grad(set_to_none=True)

    def after_backward(self, model, epoch: int, run: Run) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.clip_grad)
        if self.aggressive:                    # image.py: `if not aggressive_flag: enc_optimizer.step()`
            for p in _encoder_parameters(model):
                p.grad = None

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        fields = {"phase": "aggressive" if self.aggressive else "elbo", "alpha_eff": 0.0,
                  "inner_steps": self.inner_steps_last_epoch}
        if self.aggressive:
            # held-out MI (He et al.: the validation split; ours: the run's evaluation split, whole-split estimator)
            mi = float(run.evaluate(full_mi=True)["mi_full"])
            fields["heldout_mi"] = mi
            if mi - self.best_mi < 0:
                self.not_improved += 1
                if self.not_improved == self.config.patience:
                    self.aggressive = False
            else:
                self.best_mi = mi
        return fields

    def state_dict(self) -> dict:
        return {"aggressive": self.aggressive, "best_mi": self.best_mi, "not_improved": self.not_improved}

    def load_state_dict(self, state: dict) -> None:
        self.aggressive, self.best_mi = bool(state["aggressive"]), float(state["best_mi"])
        self.not_improved = int(state["not_improved"])
