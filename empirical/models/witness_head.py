"""The fixed simplex witness as a torch module, for use inside training losses.

``TorchWitness`` mirrors :class:`witness_theory.Witness` (the float64 NumPy reference): the
witness matrix A = P V (d, K) is copied from the reference and stored as a *buffer*
(``register_buffer``), so it moves with ``.to(device)`` and is saved in ``state_dict`` but is
never a parameter and never trained (THEORY.md: "The witness is fixed: never trained").

Formulas (THEORY.md; tested against the reference in ``tests/test_witness_head.py``):

- log S(mu) = log_softmax(witness_scale * mu @ A)                      (N, K)
- L_TS     = mean_i KL(T_i || S(mu_i))   (KL, not cross-entropy)        scalar

Naming: ``witness_scale`` is beta of THEORY.md; the weight of the KL term of the VAE is
``kl_weight`` elsewhere. Neither is ever called "beta" in code.
"""
from __future__ import annotations

import torch
from torch import nn

import witness_theory as wt

__all__ = ["TorchWitness"]


class TorchWitness(nn.Module):
    """Torch twin of :class:`witness_theory.Witness`; the witness sees only the latent mean."""

    A: torch.Tensor       # buffers registered in __init__ (declared for the type checker)
    frame: torch.Tensor

    def __init__(self, witness: wt.Witness, dtype: torch.dtype = torch.float32):
        super().__init__()
        if not isinstance(witness, wt.Witness):
            raise ValueError(f"witness must be a witness_theory.Witness, got {type(witness).__name__}")
        self.K = witness.K
        self.d = witness.d
        self.witness_scale = float(witness.scale)
        self.register_buffer("A", torch.as_tensor(witness.A, dtype=dtype))      # (d, K)
        self.register_buffer("frame", torch.as_tensor(witness.P, dtype=dtype))  # (d, K-1)

    def extra_repr(self) -> str:
        return f"K={self.K}, d={self.d}, witness_scale={self.witness_scale}"

    def logits(self, mu: torch.Tensor) -> torch.Tensor:
        """witness_scale * mu @ A: (N, K), centred in each row (T3)."""
        if mu.ndim != 2 or mu.shape[1] != self.d:
            raise ValueError(f"mu must have shape (N, {self.d}), got {tuple(mu.shape)}")
        return self.witness_scale * (mu @ self.A.to(mu.dtype))

    def log_probs(self, mu: torch.Tensor) -> torch.Tensor:
        """log S(mu) = log_softmax(witness_scale * mu @ A): (N, K)."""
        return torch.log_softmax(self.logits(mu), dim=1)

    def kl_rows(self, mu: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
        """KL(T_i || S(mu_i)) per row: (N,). xlogy makes 0 log 0 = 0 for zero teacher entries."""
        if T.shape != (mu.shape[0], self.K):
            raise ValueError(f"teacher batch must have shape ({mu.shape[0]}, {self.K}), got {tuple(T.shape)}")
        T = T.to(mu.dtype)
        # KL(T || S) = sum_k T_k log T_k - T_k log S_k
        return (torch.xlogy(T, T) - T * self.log_probs(mu)).sum(dim=1)

    def alignment_loss(self, mu: torch.Tensor, T: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """L_TS on a batch: the (weighted) mean of KL(T_i || S(mu_i)), in nats per sample."""
        kl = self.kl_rows(mu, T)
        if weights is None:
            return kl.mean()
        w = weights.to(kl.dtype)
        return (w * kl).sum() / w.sum()
