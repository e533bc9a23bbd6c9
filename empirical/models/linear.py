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

from empirical.models.vae import VAE

__all__ = ["LinearVAE"]


class _LinearEncoder(nn.Module):
    def __init__(self, input_dim: int, latent_dim: int):
        super().__init__()
        self.mean_layer = nn.Linear(input_dim, latent_dim)              # mu(x) = V x + c
        self.log_var = nn.Parameter(torch.zeros(latent_dim))           # log s^2, one per latent dim

    def forward(self, x):
        mu = self.mean_layer(x.flatten(1))
        return mu, self.log_var.expand_as(mu)


class LinearVAE(VAE):
    """Shares the VAE's reparameterisation, forward pass, decoder mean and Gaussian likelihood;
    only the networks differ (both linear)."""

    def __init__(self, input_shape: tuple, latent_dim: int, decoder: str = "gaussian", decoder_variance: float = 1.0):
        nn.Module.__init__(self)     # not VAE.__init__: no MLP or conv networks are built
        if decoder != "gaussian":
            raise ValueError(f"model.kind=linear needs model.decoder=gaussian (fixed variance), got {decoder!r}")
        if not decoder_variance > 0:
            raise ValueError(f"decoder_variance must be > 0, got {decoder_variance}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_dim = math.prod(self.input_shape)
        self.latent_dim = int(latent_dim)
        self.decoder_kind = decoder
        self.decoder_variance = float(decoder_variance)
        self.conv = False
        self.log_scale = None
        self.encoder = _LinearEncoder(self.input_dim, self.latent_dim)
        self.decoder = nn.Linear(self.latent_dim, self.input_dim)      # E[x | z] = W z + b
