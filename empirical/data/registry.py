"""One entry per data set: its names, loader, teacher grid, training defaults and quick settings.

- ``digits`` (8x8, 1437 train rows): sized so the full claims (4 methods x 5 seeds plus the
  KL stress, 50 runs) finish in under 5 minutes on a 2-core CPU.
- ``fashion-mnist`` (28x28, 60000 train rows): sized for about 30 minutes of claims on CPU
  (few epochs over the full training set).
- ``mnist``, ``cifar10``, ``cifar100``: full-scale settings for a GPU (``train.device=auto``);
  CIFAR uses the small conv network (selected by the (3, 32, 32) image shape) and a Gaussian
  decoder with a learned per-pixel scale, which suits natural colour images better than the
  Bernoulli decoder.

``defaults`` and ``quick`` are dotted overrides of the config tree (``empirical.config``);
``method.*`` keys apply to the methods that have them. ``quick`` gives the reduced settings of
``--quick`` (CI): few epochs, and for the large data sets a row limit, so every claim and bound
is still evaluated end to end. A path to a ``.npy``/``.npz`` array gets the generic entry.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from empirical.config import TeacherConfig

__all__ = ["DatasetEntry", "REGISTRY", "DATASETS", "dataset_entry", "canonical_name", "default_config"]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    description: str
    aliases: tuple[str, ...] = ()
    teacher_grid: TeacherConfig = field(default_factory=TeacherConfig)
    defaults: dict[str, Any] = field(default_factory=dict)   # dotted overrides of the config tree
    quick: dict[str, Any] = field(default_factory=dict)      # dotted overrides for --quick
    registered: bool = True                                  # False: a user array (generic entry)
    loader: str | None = None                                # the reader's kind: digits | mnist-like | cifar |
                                                             # tiny-imagenet (``empirical.data.loaders.LOADERS``)


#: Teacher grids. Fashion-MNIST/MNIST/CIFAR: PCA + GMM fitted on a training subsample, K dense
#: near 14-17 where the default energy budget binds, the held-out I_T measured on up to 10,000
#: training rows the subsample left out (teacher.heldout="auto"; no refits). digits: all 1,437
#: training rows, and it keeps the training-I_T rule (selection="train") so that the recorded
#: digits results (`results/digits`) stay reproducible: there the held-out rule (3-fold CV)
#: picks the same K, PCA dimension and covariance with another GMM seed (test I_T 2.5104
#: instead of 2.5039). Fashion-MNIST's recorded results that ran on data.limit=2000 rows were
#: made with selection="train"; their commands say so (`--set teacher.selection=train`).
_DIGITS_GRID = TeacherConfig(pca_dims=(8, 16), n_components=(6, 8, 10, 12, 14, 15, 16, 17),
                             covariance_types=("full", "diag"), seeds=(0, 1), selection="train")
_MNIST_GRID = TeacherConfig(pca_dims=(16, 32), n_components=(10, 12, 14, 15, 16, 17),
                            covariance_types=("full", "diag"), seeds=(0,), subsample=6_000, cv_folds=2)
#: Fashion-MNIST: on the 24-candidate MNIST grid (pca_dims 16 and 32, K 10-17; the full table is
#: in results/fashion-mnist/fashion-mnist_teacher_search.md,
#: from `bench/bench_teacher.py --skip-digits --full-grid --report-dir results/fashion-mnist`) the best PCA-16
#: candidate within budget (K 14 full, held-out I_T 2.429) was below the chosen PCA-32 one (2.476),
#: and K = 16, 17 were over the energy budget in every view; those 14 fits were ~57% of the
#: search's EM CPU time. The
#: grid keeps PCA 32 and K 10-15 (15 is the budget's edge), and the same teacher is chosen
#: (K = 14, PCA 32, full; identical fit: same subsample, PCA and GMM seed).
_FASHION_GRID = dataclasses.replace(_MNIST_GRID, subsample=10_000, pca_dims=(32,), n_components=(10, 12, 14, 15))
_FASHION_FULL_GRID = dataclasses.replace(_MNIST_GRID, subsample=10_000)   # the grid the recorded table came from
_CIFAR_GRID = TeacherConfig(pca_dims=(32, 64), n_components=(10, 12, 14, 17), covariance_types=("full", "diag"),
                            seeds=(0,), subsample=10_000)

_SMALL_MLP = {"model.hidden": (256, 128), "method.alpha": 1.0}
_GPU_CONV = {"model.hidden": (512,), "model.conv_channels": (32, 64, 128), "model.latent_dim": 32,
             "model.decoder": "gaussian-learned", "train.epochs": 100, "train.batch_size": 128, "train.lr": 1e-3,
             "method.alpha": 1.0, "method.prefit_epochs": 5}
_GPU_QUICK = {"train.epochs": 2, "method.prefit_epochs": 1, "data.limit": 2000}

REGISTRY: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("digits", "scikit-learn's 8x8 digits (bundled; the embedded default)",
                 teacher_grid=_DIGITS_GRID, loader="digits",
                 defaults={**_SMALL_MLP, "train.epochs": 20, "train.batch_size": 128, "train.lr": 3e-3,
                           "method.prefit_epochs": 3},
                 quick={"train.epochs": 8, "method.prefit_epochs": 2}),
    DatasetEntry("fashion-mnist", "Fashion-MNIST, 28x28 (IDX files)", aliases=("fashionmnist", "fashion_mnist"),
                 teacher_grid=_FASHION_GRID, loader="mnist-like",
                 defaults={**_SMALL_MLP, "train.epochs": 3, "train.batch_size": 256, "train.lr": 2e-3,
                           "method.prefit_epochs": 1},
                 quick={"train.epochs": 2, "method.prefit_epochs": 1, "data.limit": 3000}),
    DatasetEntry("mnist", "MNIST, 28x28 (IDX files; full-scale settings for a GPU)",
                 teacher_grid=_MNIST_GRID, loader="mnist-like",
                 defaults={"model.hidden": (512, 256), "train.epochs": 50,
                           "train.batch_size": 128, "train.lr": 1e-3, "method.alpha": 1.0, "method.prefit_epochs": 5},
                 quick={"train.epochs": 2, "method.prefit_epochs": 1, "data.limit": 3000}),
    DatasetEntry("cifar10", "CIFAR-10, 3x32x32 (python pickle layout; GPU settings)", aliases=("cifar-10",),
                 teacher_grid=_CIFAR_GRID, loader="cifar", defaults=_GPU_CONV, quick=_GPU_QUICK),
    DatasetEntry("cifar100", "CIFAR-100, 3x32x32 (python pickle layout; GPU settings)", aliases=("cifar-100",),
                 teacher_grid=_CIFAR_GRID, loader="cifar", defaults=_GPU_CONV,
                 quick=_GPU_QUICK),
    DatasetEntry("tiny-imagenet-32", "Tiny-ImageNet-200 downsampled to 3x32x32 (the conv net of CIFAR; GPU settings)",
                 aliases=("tinyimagenet-32",), teacher_grid=_CIFAR_GRID, loader="tiny-imagenet",
                 defaults=_GPU_CONV, quick=_GPU_QUICK),
    DatasetEntry("tiny-imagenet", "Tiny-ImageNet-200, 3x64x64 (standard layout; a conv net for 64x64 via "
                 "model.conv_channels with 4 stages)", aliases=("tinyimagenet", "tiny-imagenet-200"),
                 teacher_grid=_CIFAR_GRID, loader="tiny-imagenet",
                 defaults={**_GPU_CONV, "model.conv_channels": (32, 64, 128, 256)}, quick=_GPU_QUICK),
)}

#: The registered data sets' names (the registry is the only list of them).
DATASETS: tuple[str, ...] = tuple(REGISTRY)

#: The generic entry of a user array: the config tree's defaults, a 2-epoch quick run.
_USER = DatasetEntry("user-array", "a .npy/.npz array (N, ...) given by path", registered=False,
                     quick={"train.epochs": 2, "method.prefit_epochs": 1})


def canonical_name(name: str) -> str | None:
    """The registry name of ``name`` or an alias (case, ``_`` and ``-`` insensitive); None if unknown."""
    key = str(name).strip().lower().replace("_", "-")
    for entry in REGISTRY.values():
        if key == entry.name or key in {a.replace("_", "-") for a in entry.aliases}:
            return entry.name
    return None


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry of a data set name, the generic entry for a ``.npy``/``.npz`` path."""
    canon = canonical_name(name)
    if canon is not None:
        return REGISTRY[canon]
    if str(name).strip().lower().endswith((".npy", ".npz")):
        return dataclasses.replace(_USER, name=str(name))
    raise ValueError(f"unknown dataset {name!r}; valid names are {', '.join(REGISTRY)} or a path to a .npy/.npz file")


def default_config(dataset_name: str) -> TeacherConfig:
    """The default :class:`TeacherConfig` of a data set: its registry entry's teacher grid
    (``empirical.data.registry``), the generic one for user arrays."""
    canon = canonical_name(dataset_name)
    return REGISTRY[canon].teacher_grid if canon else TeacherConfig()
