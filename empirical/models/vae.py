"""VAE networks: Gaussian encoder q(z|x) = N(mu(x), diag exp(log_var(x))), prior N(0, I).

- 8x8 and 28x28 inputs (and any flat input): MLP encoder/decoder (Kingma & Welling 2014).
- 3x32x32 colour inputs: a small conv encoder / transposed-conv decoder (3 stride-2 stages).

Decoders (``decoder=``):

- ``"bernoulli"`` (default): p(x|z) = prod_j Bern(x_j; sigmoid(logit_j)). The pixels are in
  [0, 1] but not binary; we use the continuous-target binary cross-entropy, as
  pytorch/examples vae/main.py does. Its value is not a normalised log-likelihood for
  non-binary x (it does not reach 0), which is harmless for comparing methods.
- ``"gaussian"``: N(x; xhat, sigma^2 I) with a fixed variance ``decoder_variance`` (default 1):
  -log p = ||x - xhat||^2 / (2 sigma^2) + (D/2) log(2 pi sigma^2) (the linear-VAE analysis of
  Lucas et al. 2019 and the T12 threshold are stated for this decoder).
- ``"gaussian-learned"``: N(x; xhat, diag exp(log_scale)^2) with one learned log standard
  deviation per pixel (a parameter of the decoder, shared over data points).

The VAE exposes ``encode(x) -> (mu, log_var)``, ``decode(z)`` (decoder output: logits for
Bernoulli, the mean for Gaussian) and ``mean_layer``: the final ``nn.Linear`` that outputs mu,
so a caller can initialise the encoder collapsed (zero weight, bias = a given code).
"""
from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from empirical.config import DECODERS

__all__ = ["VAE", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "DECODERS", "gaussian_kl_terms"]


def gaussian_kl_terms(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Per-dimension KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2): (B, d).

    Torch twin of ``witness_theory.gaussian_kl`` (which sums over d); tested against it.
    expm1(lv) - lv = s^2 - 1 - log s^2 without cancellation near s = 1.
    """
    return 0.5 * (mu.pow(2) + torch.expm1(log_var) - log_var)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, input_dim: int, hidden: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.body = _mlp([input_dim, *hidden])
        self.mean_layer = nn.Linear(hidden[-1], latent_dim)
        self.log_var_layer = nn.Linear(hidden[-1], latent_dim)

    def forward(self, x):
        h = self.body(x.flatten(1))
        return self.mean_layer(h), self.log_var_layer(h)


class MLPDecoder(nn.Module):
    def __init__(self, latent_dim: int, hidden: tuple[int, ...], output_dim: int):
        super().__init__()
        self.body = _mlp([latent_dim, *reversed(hidden)])
        self.out = nn.Linear(hidden[0], output_dim)

    def forward(self, z):
        return self.out(self.body(z))


class ConvEncoder(nn.Module):
    """3x32x32 -> 32x16x16 -> 64x8x8 -> 128x4x4 -> hidden -> (mu, log_var)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], hidden: int, latent_dim: int, size: int = 32):
        super().__init__()
        layers, c = [], in_channels
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 4, stride=2, padding=1), nn.ReLU()]
            c = ch
        self.conv = nn.Sequential(*layers)
        self.feature_shape = (c, size >> len(channels), size >> len(channels))
        self.fc = nn.Sequential(nn.Linear(math.prod(self.feature_shape), hidden), nn.ReLU())
        self.mean_layer = nn.Linear(hidden, latent_dim)
        self.log_var_layer = nn.Linear(hidden, latent_dim)

    def forward(self, x):
        h = self.fc(self.conv(x).flatten(1))
        return self.mean_layer(h), self.log_var_layer(h)


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int, channels: tuple[int, ...], hidden: int, out_channels: int,
                 feature_shape: tuple[int, int, int]):
        super().__init__()
        self.feature_shape = feature_shape
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                nn.Linear(hidden, math.prod(feature_shape)), nn.ReLU())
        layers, chans = [], list(reversed(channels))
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(chans[-1], out_channels, 4, stride=2, padding=1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, *self.feature_shape)).flatten(1)


class VAE(nn.Module):
    """Gaussian-encoder VAE on flattened inputs (the conv variant reshapes internally)."""

    def __init__(self, input_shape: tuple, latent_dim: int, hidden: tuple[int, ...] = (256, 256),
                 decoder: str = "bernoulli", conv_channels: tuple[int, ...] = (32, 64, 128),
                 decoder_variance: float = 1.0):
        super().__init__()
        if not decoder_variance > 0:
            raise ValueError(f"decoder_variance must be > 0, got {decoder_variance}")
        self.decoder_variance = float(decoder_variance)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_dim = math.prod(self.input_shape) if self.input_shape else 0
        self.latent_dim = int(latent_dim)
        self.decoder_kind = decoder
        self.conv = len(self.input_shape) == 3
        if self.conv:
            c, h, w = self.input_shape
            if h != w or h % (1 << len(conv_channels)):
                raise ValueError(f"conv VAE needs square images with side divisible by {1 << len(conv_channels)}, "
                                 f"got {input_shape}")
            conv_encoder = ConvEncoder(c, tuple(conv_channels), hidden[0], latent_dim, size=h)
            self.encoder: nn.Module = conv_encoder
            self.decoder: nn.Module = ConvDecoder(latent_dim, tuple(conv_channels), hidden[0], c,
                                                  conv_encoder.feature_shape)
        else:
            if self.input_dim < 1:
                raise ValueError(f"input_shape must describe at least one feature, got {input_shape}")
            self.encoder = MLPEncoder(self.input_dim, tuple(hidden), latent_dim)
            self.decoder = MLPDecoder(latent_dim, tuple(hidden), self.input_dim)
        # One learned log standard deviation per pixel (only used by "gaussian-learned").
        self.log_scale = nn.Parameter(torch.zeros(self.input_dim)) if decoder == "gaussian-learned" else None

    @property
    def mean_layer(self) -> nn.Linear:
        """The final nn.Linear that outputs mu (zero its weight and set its bias to collapse)."""
        # every encoder (MLPEncoder, ConvEncoder, LinearVAE's) sets mean_layer to an nn.Linear
        return cast(nn.Linear, self.encoder.mean_layer)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conv:
            x = x.view(-1, *self.input_shape)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu, log_var, generator: torch.Generator | None = None):
        # z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014, eq. 10)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * log_var) * eps

    def forward(self, x, generator: torch.Generator | None = None):
        mu, log_var = self.encode(x)
        z = self.reparameterize(mu, log_var, generator)
        return self.decode(z), mu, log_var

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z] in data space: sigmoid of the logits (Bernoulli) or the Gaussian mean."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.decoder_kind == "bernoulli" else out

    def reconstruction_nll(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per sample, summed over pixels: (B,)."""
        x = x.flatten(1)
        if self.decoder_kind == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        if self.decoder_kind == "gaussian":
            # -log N(x; xhat, s2 I) = ||x - xhat||^2 / (2 s2) + (D/2) log(2 pi s2)
            s2 = self.decoder_variance
            return (x - out).pow(2).sum(1) / (2 * s2) + 0.5 * x.shape[1] * math.log(2 * math.pi * s2)
        # -log N(x; xhat, s^2) = 0.5 ((x - xhat)/s)^2 + log s + 0.5 log 2 pi, per pixel
        s = self.log_scale
        if s is None:
            raise ValueError(f"decoder {self.decoder_kind!r} has no learned log scale")
        return (0.5 * ((x - out) * torch.exp(-s)).pow(2) + s + 0.5 * math.log(2 * math.pi)).sum(1)
