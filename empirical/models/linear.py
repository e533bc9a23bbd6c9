"""The linear Gaussian VAE of the T12 analysis (Lucas et al. 2019, "Don't Blame the ELBO!"):
encoder mean mu(x) = V x + c, a data-independent diagonal encoder variance, decoder mean
W z + b, Gaussian likelihood of fixed variance sigma^2 (``decoder="gaussian"``).

It has the interface of ``empirical.models.vae.VAE`` (encode, decode, reparameterize, forward,
reconstruction_nll, decode_mean, mean_layer, encoder, decoder), so every method and the one
training loop train it unchanged (``--set model.kind=linear model.decoder=gaussian``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["LinearVAE"]


class _LinearEncoder(nn.Module):
    def __init__(self, input_dim: int, latent_dim: int):
        super().__init__()
        self.mean_layer = nn.Linear(input_dim, latent_dim)              # mu(x) = V x + c
        self.log_var = nn.Parameter(torch.zeros(latent_dim))           # log s^2, one per latent dim

    def forward(self, x):
        mu = self.mean_layer(x.flatten(1))
        return mu, self.log_var.expand_as(mu)


class LinearVAE(nn.Module):
    conv = False

    def __init__(self, input_shape: tuple, latent_dim: int, decoder: str = "gaussian", decoder_variance: float = 1.0):
        super().__init__()
        if decoder != "gaussian":
            raise ValueError(f"model.kind=linear needs model.decoder=gaussian (fixed variance), got {decoder!r}")
        if not decoder_variance > 0:
            raise ValueError(f"decoder_variance must be > 0, got {decoder_variance}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_dim = math.prod(self.input_shape)
        self.latent_dim = int(latent_dim)
        self.decoder_kind = decoder
        self.decoder_variance = float(decoder_variance)
        self.encoder = _LinearEncoder(self.input_dim, self.latent_dim)
        self.decoder = nn.Linear(self.latent_dim, self.input_dim)      # E[x | z] = W z + b

    @property
    def mean_layer(self) -> nn.Linear:
        return self.encoder.mean_layer

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    decode_mean = decode

    @staticmethod
    def reparameterize(mu, log_var, generator: torch.Generator | None = None):
        # z = mu + sigma * eps (Kingma & Welling 2014, eq. 10)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * log_var) * eps

    def forward(self, x, generator: torch.Generator | None = None):
        mu, log_var = self.encode(x)
        return self.decode(self.reparameterize(mu, log_var, generator)), mu, log_var

    def reconstruction_nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        # -log N(x; xhat, s2 I) = ||x - xhat||^2 / (2 s2) + (D/2) log(2 pi s2)
        x, s2 = x.flatten(1), self.decoder_variance
        return (x - out).pow(2).sum(1) / (2 * s2) + 0.5 * x.shape[1] * math.log(2 * math.pi * s2)
