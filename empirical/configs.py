"""Per-data-set training configurations (visible defaults; override any key with key=value).

- ``digits`` (8x8, 1437 train rows): sized so the full claims (4 methods x 5 seeds plus the
  KL stress, 50 runs) finish in under 5 minutes on a 2-core CPU.
- ``fashion-mnist`` (28x28, 60000 train rows): sized for about 30 minutes of claims on CPU
  (few epochs over the full training set).
- ``mnist``, ``cifar10``, ``cifar100``: full-scale settings for a GPU (``device="auto"``);
  CIFAR uses the small conv network (selected by the (3, 32, 32) image shape) and a
  Gaussian decoder with a learned per-pixel scale, which suits natural colour images better
  than the Bernoulli decoder.

``quick=True`` gives the reduced settings used by ``claims --quick`` (CI): few epochs, and for
the large data sets a row limit, so the claims and every bound are still evaluated end to end.
"""
from __future__ import annotations

import dataclasses

from empirical.training.loop import TrainConfig

__all__ = ["CONFIGS", "QUICK", "config_for"]

CONFIGS: dict[str, TrainConfig] = {
    "digits": TrainConfig(dataset="digits", hidden=(256, 128), latent_dim=16, epochs=20, batch_size=128,
                          lr=3e-3, alpha=1.0, prefit_epochs=3),
    "fashion-mnist": TrainConfig(dataset="fashion-mnist", hidden=(256, 128), latent_dim=16, epochs=3,
                                 batch_size=256, lr=2e-3, alpha=1.0, prefit_epochs=1),
    "mnist": TrainConfig(dataset="mnist", hidden=(512, 256), latent_dim=16, epochs=50, batch_size=128,
                         lr=1e-3, alpha=1.0, prefit_epochs=5),
    "cifar10": TrainConfig(dataset="cifar10", hidden=(512,), conv_channels=(32, 64, 128), latent_dim=32,
                           decoder="gaussian-learned", epochs=100, batch_size=128, lr=1e-3, alpha=1.0,
                           prefit_epochs=5),
    "cifar100": TrainConfig(dataset="cifar100", hidden=(512,), conv_channels=(32, 64, 128), latent_dim=32,
                            decoder="gaussian-learned", epochs=100, batch_size=128, lr=1e-3, alpha=1.0,
                            prefit_epochs=5),
}

#: Changes applied on top of CONFIGS for quick (CI) runs.
QUICK: dict[str, dict] = {
    "digits": dict(epochs=8, prefit_epochs=2),
    "fashion-mnist": dict(epochs=2, prefit_epochs=1, limit=3000),
    "mnist": dict(epochs=2, prefit_epochs=1, limit=3000),
    "cifar10": dict(epochs=2, prefit_epochs=1, limit=2000),
    "cifar100": dict(epochs=2, prefit_epochs=1, limit=2000),
}


def config_for(dataset: str, *, quick: bool = False, **changes) -> TrainConfig:
    """The configuration for ``dataset`` (a copy), reduced when ``quick``, with ``changes`` applied.

    A data set without an entry (a user .npy/.npz path) gets the TrainConfig defaults."""
    key = str(dataset).lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(key, key)
    base = CONFIGS.get(key, TrainConfig(dataset=str(dataset)))
    if quick:
        base = dataclasses.replace(base, **QUICK.get(key, dict(epochs=2, prefit_epochs=1)))
    return dataclasses.replace(base, **changes)
