"""The witness methods (ours; the witness papers name them without defining them) and vanilla.

Losses are per-sample means, summed over pixels / latent dims, so ``alpha`` means the same
thing on every data set. L_TS = mean_i KL(T_i || S(mu_i)) with S(mu) = softmax(beta A^T mu)
(THEORY.md / docs/theory.md, definitions; arXiv:2605.18224).
"""
from __future__ import annotations

from dataclasses import dataclass

from empirical.methods.base import Batch, Method, MethodConfig, Run, elbo_terms, public_terms
from empirical.methods.registry import register

__all__ = ["Vanilla", "Rst", "RstPrefit", "RstAlphaPrefit"]


@register
class Vanilla(Method):
    name = "vanilla"
    summary = ("rec + kl_weight * KL; the witness only measures. beta-VAE (Higgins et al. 2017) is this "
               "method with train.kl_weight = beta")
    source = "Kingma & Welling 2014 (arXiv:1312.6114); beta-VAE: Higgins et al. 2017 (ICLR)"

    @dataclass
    class Config(MethodConfig):
        pass

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        t["total"] = t["rec"] + self.kl_weight * t["kl"]       # negative ELBO with KL weight (beta-VAE)
        return public_terms(t)

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        return {"phase": "elbo", "alpha_eff": 0.0}


@register
class Rst(Method):
    name = "rst"
    summary = "rec + kl_weight * KL + alpha * L_TS: the fixed simplex witness on the encoder mean"
    source = "ours (witness alignment; arXiv:2605.18224, arXiv:2605.05813)"

    @dataclass
    class Config(MethodConfig):
        alpha: float = 1.0          # weight of the alignment loss L_TS

    def alignment_weight(self) -> float:
        return self.config.alpha

    def elbo_loss(self, model, batch: Batch, run: Run) -> dict:
        alpha_eff = self.alignment_weight()
        t = elbo_terms(model, batch, run.head, align_in_loss=alpha_eff != 0.0)
        if alpha_eff == 0.0:   # the witness only measures
            t["total"] = t["rec"] + self.kl_weight * t["kl"]
        else:                  # rec + kl_weight KL + alpha L_TS (ours)
            t["total"] = t["rec"] + self.kl_weight * t["kl"] + alpha_eff * t["align"]
        return public_terms(t)

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        return self.elbo_loss(model, batch, run)

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        return {"phase": "elbo", "alpha_eff": self.alignment_weight()}


@register
class RstPrefit(Rst):
    name = "rst-prefit"
    summary = ("first regress the encoder mean onto the exact codes mu*(T_i) (prefit_epochs, added on "
               "top of train.epochs), then train as rst")
    source = "ours (exact code mu*(p), T4)"

    @dataclass
    class Config(MethodConfig):
        alpha: float = 1.0          # weight of L_TS in the ELBO epochs
        prefit_epochs: int = 5      # epochs of (1/2)||mu - mu*(T_i)||^2 before the ELBO epochs

    def extra_epochs(self) -> int:
        return self.config.prefit_epochs

    def phase(self, epoch: int) -> str:
        return "prefit" if epoch < self.config.prefit_epochs else "elbo"

    def loss(self, model, batch: Batch, epoch: int, run: Run) -> dict:
        if self.phase(epoch) == "elbo":
            return self.elbo_loss(model, batch, run)
        t = elbo_terms(model, batch, run.head, align_in_loss=False)
        # prefit: (1/2)||mu - mu*(T_i)||^2, the exact code of T4 as the regression target (ours)
        t["prefit"] = 0.5 * (t["_mu"] - batch.exact_codes).pow(2).sum(1).mean()
        t["total"] = t["prefit"]
        return public_terms(t)

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        phase = self.phase(epoch)
        return {"phase": phase, "alpha_eff": self.alignment_weight() if phase == "elbo" else 0.0}


@register
class RstAlphaPrefit(RstPrefit):
    name = "rst-alpha-prefit"
    summary = ("prefit, then rst with alpha * max(1, kl_weight) * boost; boost doubles (to 16x) after an "
               "epoch whose running training margin fell below alpha_margin_floor * I_T")
    source = "ours"

    @dataclass
    class Config(MethodConfig):
        alpha: float = 1.0
        prefit_epochs: int = 5
        alpha_margin_floor: float = 0.5   # boost when the running margin < floor * I_T(train)
        alpha_boost_factor: float = 2.0   # boost multiplier per low-margin epoch
        alpha_boost_max: float = 16.0     # cap of the boost

    def __init__(self, config, kl_weight: float) -> None:
        super().__init__(config, kl_weight)
        self.boost = 1.0

    def alignment_weight(self) -> float:
        # alpha_eff = alpha max(1, kl_weight) boost: keeps alignment : KL pressure fixed under KL stress (T5)
        return self.config.alpha * max(1.0, self.kl_weight) * self.boost

    def end_epoch(self, epoch: int, record: dict, run: Run) -> dict:
        fields = super().end_epoch(epoch, record, run)
        if fields["phase"] == "elbo" and \
                record["running_margin"] < self.config.alpha_margin_floor * run.teacher_information_train:
            self.boost = min(self.boost * self.config.alpha_boost_factor, self.config.alpha_boost_max)
        return fields

    def state_dict(self) -> dict:
        return {"boost": self.boost}

    def load_state_dict(self, state: dict) -> None:
        self.boost = float(state["boost"])

    @classmethod
    def validate(cls, config) -> None:
        super().validate(config)
        if not (config.alpha_boost_factor > 0 and config.alpha_boost_max > 0):
            raise ValueError("method.alpha_boost_factor and method.alpha_boost_max must be > 0")
